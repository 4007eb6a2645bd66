//! `switchboard post`: sign each fixture's body with its source's secret (or token) and
//! POST it to a running server; print each answer.

use std::path::PathBuf;

use reqwest::header::{
    HeaderName, HeaderValue, InvalidHeaderName, InvalidHeaderValue, CONTENT_TYPE,
};
use secrecy::ExposeSecret;

use super::output::outln;
use super::{runtime, Exit};
use crate::config::secrets::SecretError;
use crate::config::{Settings, SourceCredential, SourceKind};
use crate::fixture::{self, Fixture, FixtureError};
use crate::inbound::verify::{sign_aelyst, sign_jelou, sign_standard, sign_whatsapp};

pub fn run(settings: Settings, url: Option<&str>, paths: &[PathBuf]) -> Exit {
    let base = url
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{}", settings.server.listen));
    let files = match fixture::collect(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Problem;
        }
    };
    let client = reqwest::Client::new();
    let rt = runtime();
    let mut exit = Exit::Success;
    for file in files {
        let result = Fixture::load(&file)
            .map_err(PostError::from)
            .and_then(|fixture| {
                let request = signed_request(&settings, &client, &base, &fixture)?;
                rt.block_on(async {
                    let response =
                        request
                            .send()
                            .await
                            .map_err(|source| PostError::Unreachable {
                                base: base.clone(),
                                source,
                            })?;
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    Ok((status, body))
                })
            });
        match result {
            Ok((status, body)) => {
                outln!("{} {} {}", file.display(), status.as_u16(), body.trim());
                if !status.is_success() {
                    exit = Exit::Problem;
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                exit = Exit::Problem;
            }
        }
    }
    exit
}

/// Why one fixture was not posted, or got no answer; printed after the fixture's path.
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error("source \"{0}\" is not configured")]
    UnknownSource(String),
    #[error("header {name}: {source}")]
    HeaderName {
        name: String,
        source: InvalidHeaderName,
    },
    #[error("header {name}: {source}")]
    HeaderValue {
        name: HeaderName,
        source: InvalidHeaderValue,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("could not reach {base}: {source} (is `switchboard serve` running?)")]
    Unreachable {
        base: String,
        source: reqwest::Error,
    },
}

fn signed_request(
    settings: &Settings,
    client: &reqwest::Client,
    base: &str,
    fixture: &Fixture,
) -> Result<reqwest::RequestBuilder, PostError> {
    let source = settings
        .source(&fixture.source)
        .ok_or_else(|| PostError::UnknownSource(fixture.source.clone()))?;
    let body = fixture.body_bytes();
    let mut request = client
        .post(format!("{base}/webhooks/{}", fixture.source))
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in &fixture.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|source| PostError::HeaderName {
                name: name.clone(),
                source,
            })?;
        let value = HeaderValue::from_str(value).map_err(|source| PostError::HeaderValue {
            name: name.clone(),
            source,
        })?;
        request = request.header(name, value);
    }
    request = match &source.credential {
        SourceCredential::Token(token) => request.header("X-Webhook-Token", token.expose_secret()),
        SourceCredential::Secrets(secrets) => {
            let secret = secrets[0].expose_secret();
            match source.kind {
                SourceKind::Jelou => request.header("X-Jelou-Signature", sign_jelou(secret, &body)),
                SourceKind::Whatsapp => {
                    request.header("X-Hub-Signature-256", sign_whatsapp(secret, &body))
                }
                SourceKind::Aelyst | SourceKind::Uchat => {
                    request.header("X-Webhook-Signature", sign_aelyst(secret, &body))
                }
                SourceKind::Generic => {
                    let id = fixture
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("webhook-id"))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| format!("msg_{}", ulid::Ulid::new()));
                    let timestamp = crate::domain::event::now_millis() / 1000;
                    let signature = sign_standard(secret, &id, timestamp, &body)?;
                    request
                        .header("webhook-id", id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header("webhook-signature", signature)
                }
            }
        }
    };
    Ok(request.body(body))
}
