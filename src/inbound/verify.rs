//! Verification (docs/http-api.md): the trust boundary. Raw body bytes and headers go in; a
//! `Verified` body comes out only when the source's scheme accepts them. Nothing past this
//! module takes an unverified body. Also the signing side, which `switchboard post` uses.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::secrets::standard_webhooks_key;
use crate::config::{SourceCredential, SourceKind, SourceSettings};

type HmacSha256 = Hmac<Sha256>;

/// Standard Webhooks' tolerance for the `webhook-timestamp`, either way.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// A body whose signature or token checked out. Only `verify` makes one.
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
}

impl Verified {
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// For `replay` and `test`, which run fixtures without signatures (docs/commands.md).
    pub(crate) fn trusted_fixture(body: Bytes) -> Verified {
        Verified { body }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the request carries no {0}")]
    Missing(&'static str),
    /// A signature (named by its header) that no configured secret produces, a token that is
    /// not the configured one, or a header that cannot be what it should be.
    #[error("{0}")]
    Bad(&'static str),
    #[error("webhook-timestamp is more than 300 seconds away from this server's clock")]
    Stale,
}

/// Check a request against its source's scheme.
///
/// # Errors
/// `Missing` when the headers the scheme needs are absent, `Bad` when they do not match,
/// `Stale` for a Standard Webhooks timestamp outside the tolerance.
pub fn verify<'h>(
    source: &SourceSettings,
    header: impl Fn(&str) -> Option<&'h str>,
    body: Bytes,
    now_secs: i64,
) -> Result<Verified, VerifyError> {
    match &source.credential {
        SourceCredential::Token(token) => verify_token(token, &header)?,
        SourceCredential::Secrets(secrets) => match source.kind {
            SourceKind::Jelou => verify_sha256_hex(
                secrets,
                header("x-jelou-signature"),
                (
                    "the X-Jelou-Signature does not match this source's secret",
                    "X-Jelou-Signature header",
                ),
                &body,
            )?,
            SourceKind::Aelyst | SourceKind::Uchat => {
                let value = present(header("x-webhook-signature"))
                    .ok_or(VerifyError::Missing("X-Webhook-Signature header"))?;
                let bad =
                    VerifyError::Bad("the X-Webhook-Signature does not match this source's secret");
                let expected = BASE64.decode(value.trim()).map_err(|_| bad)?;
                if !secrets
                    .iter()
                    .any(|s| hmac_matches(s.expose_secret().as_bytes(), &[&body], &expected))
                {
                    return Err(bad);
                }
            }
            SourceKind::Generic => verify_standard(secrets, &header, &body, now_secs)?,
            // Meta: `sha256=` + hex HMAC-SHA256(app secret, raw body), as Jelou.
            SourceKind::Whatsapp => verify_sha256_hex(
                secrets,
                header("x-hub-signature-256"),
                (
                    "the X-Hub-Signature-256 does not match this source's secret",
                    "X-Hub-Signature-256 header",
                ),
                &body,
            )?,
        },
    }
    Ok(Verified { body })
}

fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

fn verify_token<'h>(
    token: &SecretString,
    header: &impl Fn(&str) -> Option<&'h str>,
) -> Result<(), VerifyError> {
    let offered = present(header("x-webhook-token"))
        .map(str::trim)
        .or_else(|| present(header("authorization")).and_then(crate::http::auth::bearer_token))
        .ok_or(VerifyError::Missing(
            "X-Webhook-Token or Authorization: Bearer header",
        ))?;
    if bool::from(offered.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        Ok(())
    } else {
        Err(VerifyError::Bad(
            "the webhook token does not match this source's token",
        ))
    }
}

fn verify_standard<'h>(
    secrets: &[SecretString],
    header: &impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let missing =
        VerifyError::Missing("webhook-id, webhook-timestamp and webhook-signature headers");
    let id = present(header("webhook-id")).ok_or(missing)?;
    let timestamp = present(header("webhook-timestamp")).ok_or(missing)?;
    let signatures = present(header("webhook-signature")).ok_or(missing)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Bad("webhook-timestamp is not a whole number of seconds"))?;
    // abs_diff: no overflow for a timestamp at either end of i64 (found by fuzzing).
    if now_secs.abs_diff(ts) > TIMESTAMP_TOLERANCE_SECS.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let prefix = format!("{id}.{ts}.");
    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .collect();
    for secret in secrets {
        let Ok(key) = standard_webhooks_key(secret.expose_secret()) else {
            continue;
        };
        if candidates
            .iter()
            .any(|sig| hmac_matches(&key, &[prefix.as_bytes(), body], sig))
        {
            return Ok(());
        }
    }
    Err(VerifyError::Bad(
        "the webhook-signature does not match this source's secret",
    ))
}

/// Constant-time comparison of HMAC-SHA256(key, parts…) with `expected`.
/// A `sha256=<hex HMAC-SHA256 of the body>` header (Jelou, WhatsApp) made with any of
/// `secrets`; `names` = (the sentence for a bad signature, the header as a missing one is named).
fn verify_sha256_hex(
    secrets: &[SecretString],
    value: Option<&str>,
    names: (&'static str, &'static str),
    body: &Bytes,
) -> Result<(), VerifyError> {
    let value = present(value).ok_or(VerifyError::Missing(names.1))?;
    let bad = VerifyError::Bad(names.0);
    let hex_part = value.trim().strip_prefix("sha256=").ok_or(bad)?;
    let expected = hex::decode(hex_part).map_err(|_| bad)?;
    if secrets
        .iter()
        .any(|s| hmac_matches(s.expose_secret().as_bytes(), &[body], &expected))
    {
        Ok(())
    } else {
        Err(bad)
    }
}

fn hmac_matches(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected).is_ok()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `X-Jelou-Signature` for a body.
pub fn sign_jelou(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])))
}

/// `X-Hub-Signature-256` (WhatsApp Cloud API) for a body: the same scheme as Jelou's.
pub fn sign_whatsapp(app_secret: &str, body: &[u8]) -> String {
    sign_jelou(app_secret, body)
}

/// `X-Webhook-Signature` (Aelyst) for a body.
pub fn sign_aelyst(secret: &str, body: &[u8]) -> String {
    BASE64.encode(hmac(secret.as_bytes(), &[body]))
}

/// `webhook-signature` (Standard Webhooks v1) for a message.
///
/// # Errors
/// When the secret is not a Standard Webhooks secret.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, crate::config::secrets::SecretError> {
    let key = standard_webhooks_key(secret)?;
    let prefix = format!("{id}.{timestamp}.");
    Ok(format!(
        "v1,{}",
        BASE64.encode(hmac(&key, &[prefix.as_bytes(), body]))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: SourceKind, credential: SourceCredential) -> SourceSettings {
        SourceSettings {
            name: "s".into(),
            kind,
            credential,
            provider: None,
            ack_status: 202,
            verify_token: None,
        }
    }

    fn secrets(list: &[&str]) -> SourceCredential {
        SourceCredential::Secrets(
            list.iter()
                .map(|s| SecretString::from(s.to_string()))
                .collect(),
        )
    }

    fn run(
        src: &SourceSettings,
        headers: &[(&str, &str)],
        body: &'static [u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        verify(src, lookup, Bytes::from_static(body), now).map(|_| ())
    }

    #[test]
    fn jelou_signature_is_hex_hmac_with_prefix() {
        let src = source(SourceKind::Jelou, secrets(&["k"]));
        let sig = sign_jelou("k", b"{}");
        assert_eq!(run(&src, &[("X-Jelou-Signature", &sig)], b"{}", 0), Ok(()));
        assert!(matches!(
            run(&src, &[("X-Jelou-Signature", &sig)], b"{ }", 0),
            Err(VerifyError::Bad(_))
        ));
        assert!(matches!(
            run(&src, &[("X-Jelou-Signature", "deadbeef")], b"{}", 0),
            Err(VerifyError::Bad(_))
        ));
        assert!(matches!(
            run(&src, &[], b"{}", 0),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn whatsapp_signature_is_x_hub_signature_256_over_the_raw_body() {
        let src = source(SourceKind::Whatsapp, secrets(&["app-secret"]));
        let body: &'static [u8] = b"{\"object\":\"whatsapp_business_account\",\"entry\":[]}";
        let sig = sign_whatsapp("app-secret", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        assert_eq!(run(&src, &[("X-Hub-Signature-256", &sig)], body, 0), Ok(()));
        // Another secret, another body, a signature without its prefix, another header.
        let other = sign_whatsapp("other", body);
        let bare = sig.trim_start_matches("sha256=").to_string();
        for headers in [
            vec![("X-Hub-Signature-256", other.as_str())],
            vec![("X-Hub-Signature-256", bare.as_str())],
            vec![("X-Hub-Signature-256", "sha256=zz")],
        ] {
            assert_eq!(
                run(&src, &headers, body, 0),
                Err(VerifyError::Bad(
                    "the X-Hub-Signature-256 does not match this source's secret"
                )),
                "{headers:?}"
            );
        }
        assert_eq!(
            run(&src, &[("X-Hub-Signature-256", &sig)], b"{}", 0),
            Err(VerifyError::Bad(
                "the X-Hub-Signature-256 does not match this source's secret"
            ))
        );
        assert_eq!(
            run(&src, &[("X-Jelou-Signature", &sig)], body, 0),
            Err(VerifyError::Missing("X-Hub-Signature-256 header"))
        );
    }

    #[test]
    fn aelyst_signature_is_base64_hmac() {
        let src = source(SourceKind::Aelyst, secrets(&["k"]));
        let sig = sign_aelyst("k", b"{\"a\":1}");
        assert_eq!(
            run(&src, &[("x-webhook-signature", &sig)], b"{\"a\":1}", 0),
            Ok(())
        );
        let other = sign_aelyst("other", b"{\"a\":1}");
        assert!(matches!(
            run(&src, &[("x-webhook-signature", &other)], b"{\"a\":1}", 0),
            Err(VerifyError::Bad(_))
        ));
    }

    #[test]
    fn standard_webhooks_accepts_any_matching_signature_and_rotated_secrets() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_c2Vjb25kLXNlY3JldC1rZXktMDEyMzQ1Njc4OQ==";
        let src = source(SourceKind::Generic, secrets(&[old, new]));
        let sig = sign_standard(new, "msg_1", 1000, b"{}").unwrap();
        let header = format!("v1a,ignored v2,zzz {sig}");
        let h = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1000"),
            ("webhook-signature", header.as_str()),
        ];
        assert_eq!(run(&src, &h, b"{}", 1000 + 299), Ok(()));
        assert_eq!(run(&src, &h, b"{}", 1000 - 300), Ok(()));
        assert_eq!(run(&src, &h, b"{}", 1000 + 301), Err(VerifyError::Stale));
        assert_eq!(run(&src, &h, b"{}", 1000 - 301), Err(VerifyError::Stale));
        assert!(matches!(
            run(&src, &h, b"{\"x\":1}", 1000),
            Err(VerifyError::Bad(_))
        ));
        assert!(matches!(
            run(&src, &h[..2], b"{}", 1000),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn standard_webhooks_reference_vector_verifies() {
        // The example from the Standard Webhooks specification's reference libraries.
        let src = source(
            SourceKind::Generic,
            secrets(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
        );
        let h = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ];
        assert_eq!(run(&src, &h, b"{\"test\": 2432232314}", 1614265330), Ok(()));
    }

    #[test]
    fn a_token_source_accepts_either_header() {
        let src = source(
            SourceKind::Uchat,
            SourceCredential::Token(SecretString::from("t0k".to_string())),
        );
        assert_eq!(run(&src, &[("X-Webhook-Token", "t0k")], b"{}", 0), Ok(()));
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let value = format!("{scheme} t0k");
            assert_eq!(
                run(&src, &[("Authorization", value.as_str())], b"{}", 0),
                Ok(()),
                "{scheme}"
            );
        }
        assert!(matches!(
            run(&src, &[("X-Webhook-Token", "nope")], b"{}", 0),
            Err(VerifyError::Bad(_))
        ));
        assert!(matches!(
            run(&src, &[], b"{}", 0),
            Err(VerifyError::Missing(_))
        ));
    }
}
