//! From the file as written to `Settings`: every check of docs/configuration.md (what a
//! value may be, which keys go together, which provider a source or `[routing]` names), the
//! defaults that depend on other keys (a provider's `base_url`, a source's `provider`), and
//! paths resolved against the config file's folder. A problem is a `Refusal` at the dotted
//! key it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::raw::{OneOrMany, RawConfig, RawProvider, RawSource};
use super::{
    secrets, DeliverySettings, ProviderAuth, ProviderKind, ProviderSettings, Refusal,
    RulesSettings, ServerSettings, Settings, SourceCredential, SourceKind, SourceSettings,
    StorageSettings, StorageUrl,
};
use crate::domain::actions::ActionFamily;

/// The settings the file describes, or the first thing wrong in it.
pub(super) fn build(raw: RawConfig, path: &Path, base_dir: &Path) -> Result<Settings, Refusal> {
    check_server(&raw.server)?;
    check_delivery(&raw.delivery)?;
    if raw.storage.retention_days == 0 {
        return Err(Refusal::new(
            "storage.retention_days",
            "storage.retention_days must be at least 1",
        ));
    }
    let storage_url = parse_storage_url(&raw.storage.url, base_dir)?;

    let mut providers = BTreeMap::new();
    for (name, p) in raw.providers {
        providers.insert(name.clone(), build_provider(&name, p)?);
    }

    let mut sources = BTreeMap::new();
    for (name, s) in raw.sources {
        let verify_token = whatsapp_keys(&name, &s)?;
        let credential = match (s.secret, s.token) {
            (Some(_), Some(_)) => {
                return Err(Refusal::new(
                    format!("sources.{name}"),
                    format!("sources.{name}: has both `secret` and `token`; keep one"),
                ))
            }
            (None, None) => {
                return Err(Refusal::new(
                    format!("sources.{name}"),
                    format!(
                        "sources.{name}: needs `secret` (signed webhooks) or `token` (a shared token header)"
                    ),
                ))
            }
            (Some(OneOrMany::One(secret)), None) => SourceCredential::Secrets(vec![secret]),
            (Some(OneOrMany::Many(list)), None) => {
                if list.is_empty() {
                    return Err(Refusal::new(
                        format!("sources.{name}.secret"),
                        format!("sources.{name}.secret: the list is empty"),
                    ));
                }
                SourceCredential::Secrets(list)
            }
            (None, Some(token)) => SourceCredential::Token(token),
        };
        if let SourceCredential::Secrets(list) = &credential {
            if list.iter().any(|s| s.expose_secret().is_empty()) {
                return Err(Refusal::new(
                    format!("sources.{name}.secret"),
                    format!("sources.{name}.secret: is empty"),
                ));
            }
            if s.kind == SourceKind::Generic {
                for secret in list {
                    secrets::standard_webhooks_key(secret.expose_secret()).map_err(|e| {
                        Refusal::new(
                            format!("sources.{name}.secret"),
                            format!("sources.{name}.secret: {e}"),
                        )
                    })?;
                }
            }
        }
        if let SourceCredential::Token(t) = &credential {
            if t.expose_secret().is_empty() {
                return Err(Refusal::new(
                    format!("sources.{name}.token"),
                    format!("sources.{name}.token: is empty"),
                ));
            }
        }
        let provider = match s.provider {
            Some(p) => {
                if !providers.contains_key(&p) {
                    return Err(Refusal::new(
                        format!("sources.{name}.provider"),
                        format!(
                            "sources.{name}.provider: unknown provider \"{p}\" (configured: {})",
                            list_names(&providers)
                        ),
                    ));
                }
                Some(p)
            }
            None => s.kind.provider_kind().and_then(|kind| {
                let mut same = providers
                    .values()
                    .filter(|p: &&ProviderSettings| p.kind == kind);
                match (same.next(), same.next()) {
                    (Some(only), None) => Some(only.name.clone()),
                    _ => None,
                }
            }),
        };
        let ack_status = s.ack_status.unwrap_or(202);
        if ![200, 201, 202].contains(&ack_status) {
            return Err(Refusal::new(
                format!("sources.{name}.ack_status"),
                format!("sources.{name}.ack_status: {ack_status} is not one of 200, 201, 202"),
            ));
        }
        sources.insert(
            name.clone(),
            SourceSettings {
                name,
                kind: s.kind,
                credential,
                provider,
                ack_status,
                verify_token,
            },
        );
    }

    let mut routing = BTreeMap::new();
    for (family, target) in [
        (ActionFamily::Tag, raw.routing.tag),
        (ActionFamily::Label, raw.routing.label),
        (ActionFamily::Conversation, raw.routing.conversation),
        (ActionFamily::State, raw.routing.state),
        (ActionFamily::Message, raw.routing.message),
    ] {
        if let Some(target) = target {
            if !providers.contains_key(&target) {
                let key = format!("routing.{}", family.as_str());
                return Err(Refusal::new(
                    &key,
                    format!(
                        "{key}: unknown provider \"{target}\" (configured: {})",
                        list_names(&providers)
                    ),
                ));
            }
            routing.insert(family, target);
        }
    }

    let mut server = raw.server;
    server.tls_cert = server
        .tls_cert
        .map(|p| resolve(base_dir, &p.to_string_lossy()));
    server.tls_key = server
        .tls_key
        .map(|p| resolve(base_dir, &p.to_string_lossy()));

    Ok(Settings {
        file: path.to_path_buf(),
        server,
        storage: StorageSettings {
            url: storage_url,
            retention_days: raw.storage.retention_days,
            synchronous: raw.storage.synchronous,
        },
        rules: RulesSettings {
            dir: resolve(base_dir, &raw.rules.dir),
        },
        delivery: raw.delivery,
        providers,
        sources,
        routing,
        logging: raw.logging,
    })
}

/// The keys only a whatsapp source has (docs/providers.md): `secret` (the app secret, which
/// signs `X-Hub-Signature-256`) and a non-empty `verify_token`; no `token`. Other kinds
/// take no `verify_token`.
fn whatsapp_keys(name: &str, s: &RawSource) -> Result<Option<SecretString>, Refusal> {
    if s.kind != SourceKind::Whatsapp {
        return match s.verify_token {
            Some(_) => Err(Refusal::new(
                format!("sources.{name}.verify_token"),
                format!(
                    "sources.{name}.verify_token: only whatsapp sources take verify_token (this one is {})",
                    s.kind.as_str()
                ),
            )),
            None => Ok(None),
        };
    }
    if s.token.is_some() {
        return Err(Refusal::new(
            format!("sources.{name}.token"),
            format!(
                "sources.{name}.token: a whatsapp source is verified by X-Hub-Signature-256; \
                 set `secret` to the Meta app secret instead of `token`"
            ),
        ));
    }
    if s.secret.is_none() {
        return Err(Refusal::new(
            format!("sources.{name}"),
            format!(
                "sources.{name}: a whatsapp source needs `secret` (the Meta app secret that signs X-Hub-Signature-256)"
            ),
        ));
    }
    match &s.verify_token {
        None => Err(Refusal::new(
            format!("sources.{name}"),
            format!(
                "sources.{name}: a whatsapp source needs `verify_token` (the token Meta sends as hub.verify_token)"
            ),
        )),
        Some(t) if t.expose_secret().is_empty() => Err(Refusal::new(
            format!("sources.{name}.verify_token"),
            format!("sources.{name}.verify_token: is empty"),
        )),
        Some(t) => Ok(Some(t.clone())),
    }
}

/// The largest `max_body_bytes` accepted (docs/configuration.md).
pub const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

fn check_server(server: &ServerSettings) -> Result<(), Refusal> {
    if server.max_body_bytes == 0 {
        return Err(Refusal::new(
            "server.max_body_bytes",
            "server.max_body_bytes must be greater than 0",
        ));
    }
    if server.max_body_bytes > MAX_BODY_LIMIT {
        return Err(Refusal::new(
            "server.max_body_bytes",
            format!(
                "server.max_body_bytes: {} is over the limit of {MAX_BODY_LIMIT} (16 MiB)",
                server.max_body_bytes
            ),
        ));
    }
    if server.body_timeout_ms == 0 {
        return Err(Refusal::new(
            "server.body_timeout_ms",
            "server.body_timeout_ms must be at least 1",
        ));
    }
    match (&server.tls_cert, &server.tls_key) {
        (Some(_), None) => {
            return Err(Refusal::new(
                "server.tls_cert",
                "server.tls_cert: is set without server.tls_key; set both or neither",
            ))
        }
        (None, Some(_)) => {
            return Err(Refusal::new(
                "server.tls_key",
                "server.tls_key: is set without server.tls_cert; set both or neither",
            ))
        }
        (Some(cert), Some(key)) => {
            for (k, p) in [("tls_cert", cert), ("tls_key", key)] {
                if p.as_os_str().is_empty() {
                    return Err(Refusal::new(
                        format!("server.{k}"),
                        format!("server.{k}: is empty; give a PEM file path"),
                    ));
                }
            }
        }
        (None, None) => {}
    }
    if !listen_is_valid(&server.listen) {
        return Err(Refusal::new(
            "server.listen",
            format!(
                "server.listen: \"{}\" is not an address like 127.0.0.1:8080, [::1]:8080 or localhost:8080",
                server.listen
            ),
        ));
    }
    Ok(())
}

/// `IP:port`, `[IPv6]:port` or `hostname:port`.
fn listen_is_valid(listen: &str) -> bool {
    if listen.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = listen.rsplit_once(':') else {
        return false;
    };
    port.parse::<u16>().is_ok()
        && !host.is_empty()
        && host.parse::<std::net::IpAddr>().is_err()
        && host.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn check_delivery(delivery: &DeliverySettings) -> Result<(), Refusal> {
    for (key, value) in [
        ("max_attempts", u64::from(delivery.max_attempts)),
        ("max_in_flight", delivery.max_in_flight as u64),
        ("timeout_ms", delivery.timeout_ms),
        ("backoff_base_ms", delivery.backoff_base_ms),
        ("backoff_max_ms", delivery.backoff_max_ms),
    ] {
        if value == 0 {
            return Err(Refusal::new(
                format!("delivery.{key}"),
                format!("delivery.{key} must be at least 1"),
            ));
        }
    }
    if delivery.backoff_base_ms > delivery.backoff_max_ms {
        return Err(Refusal::new(
            "delivery.backoff_base_ms",
            format!(
                "delivery.backoff_base_ms: {} is more than backoff_max_ms ({})",
                delivery.backoff_base_ms, delivery.backoff_max_ms
            ),
        ));
    }
    Ok(())
}

fn list_names<V>(map: &BTreeMap<String, V>) -> String {
    if map.is_empty() {
        "none".into()
    } else {
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn build_provider(name: &str, p: RawProvider) -> Result<ProviderSettings, Refusal> {
    let at = format!("providers.{name}");
    let base_url = p
        .base_url
        .unwrap_or_else(|| {
            match p.kind {
                ProviderKind::Jelou => "https://api.jelou.ai",
                ProviderKind::Uchat => "https://www.uchat.com.au/api",
                ProviderKind::Aelyst => "https://api.aelyst.ai/v1",
                ProviderKind::Whatsapp => "https://graph.facebook.com/v21.0",
            }
            .to_string()
        })
        .trim_end_matches('/')
        .to_string();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Refusal::new(
            format!("{at}.base_url"),
            format!("{at}.base_url: \"{base_url}\" must start with http:// or https://"),
        ));
    }
    let auth = match p.kind {
        ProviderKind::Jelou => {
            if p.token.is_some() {
                return Err(Refusal::new(
                    &at,
                    format!("{at}: a jelou provider uses client_id and client_secret, not token"),
                ));
            }
            match (p.client_id, p.client_secret) {
                (Some(client_id), Some(client_secret)) => ProviderAuth::Basic {
                    client_id,
                    client_secret,
                },
                _ => {
                    return Err(Refusal::new(
                        &at,
                        format!("{at}: a jelou provider needs client_id and client_secret"),
                    ))
                }
            }
        }
        ProviderKind::Uchat | ProviderKind::Aelyst | ProviderKind::Whatsapp => {
            if p.client_id.is_some() || p.client_secret.is_some() {
                return Err(Refusal::new(
                    &at,
                    format!(
                        "{at}: a {} provider uses token, not client_id/client_secret",
                        p.kind.as_str()
                    ),
                ));
            }
            match p.token {
                Some(token) => ProviderAuth::Bearer(token),
                None => {
                    return Err(Refusal::new(
                        &at,
                        format!("{at}: a {} provider needs token", p.kind.as_str()),
                    ))
                }
            }
        }
    };
    if p.bot_id.is_some() && p.kind != ProviderKind::Jelou {
        return Err(Refusal::new(
            format!("{at}.bot_id"),
            format!("{at}.bot_id: only jelou providers have a bot_id"),
        ));
    }
    if p.kind == ProviderKind::Whatsapp {
        match p.phone_number_id.as_deref().map(str::trim) {
            None => {
                return Err(Refusal::new(
                    &at,
                    format!(
                        "{at}: a whatsapp provider needs phone_number_id (the business number's id in Meta's WhatsApp Manager)"
                    ),
                ))
            }
            Some(id) if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) => {
                return Err(Refusal::new(
                    format!("{at}.phone_number_id"),
                    format!(
                        "{at}.phone_number_id: \"{id}\" is not a phone number id (digits only, e.g. \"106540352242922\")"
                    ),
                ))
            }
            Some(_) => {}
        }
    } else {
        for (key, set) in [
            ("phone_number_id", p.phone_number_id.is_some()),
            ("call_phone", p.call_phone.is_some()),
        ] {
            if set {
                return Err(Refusal::new(
                    format!("{at}.{key}"),
                    format!("{at}.{key}: only whatsapp providers have {key}"),
                ));
            }
        }
    }
    let call_phone = match &p.call_phone {
        Some(raw) => Some(crate::domain::event::e164(raw).ok_or_else(|| {
            Refusal::new(
                format!("{at}.call_phone"),
                format!(
                    "{at}.call_phone: \"{raw}\" is not a phone number in E.164 (a + and 8 to 15 digits, e.g. \"+573001234567\")"
                ),
            )
        })?),
        None => None,
    };
    if p.pause_minutes.is_some() && p.kind != ProviderKind::Uchat {
        return Err(Refusal::new(
            format!("{at}.pause_minutes"),
            format!("{at}.pause_minutes: only uchat providers have pause_minutes"),
        ));
    }
    if p.max_attempts == Some(0) {
        return Err(Refusal::new(
            format!("{at}.max_attempts"),
            format!("{at}.max_attempts: must be at least 1"),
        ));
    }
    if let Some(bad) = p
        .retry_on
        .iter()
        .flatten()
        .find(|s| !(100..=599).contains(*s) || (200..300).contains(*s))
    {
        return Err(Refusal::new(
            format!("{at}.retry_on"),
            format!("{at}.retry_on: {bad} is not an HTTP error status (100-599, not 2xx)"),
        ));
    }
    if p.breaker_failures == Some(0) {
        return Err(Refusal::new(
            format!("{at}.breaker_failures"),
            format!("{at}.breaker_failures: must be at least 1"),
        ));
    }
    if p.breaker_cooldown_ms == Some(0) {
        return Err(Refusal::new(
            format!("{at}.breaker_cooldown_ms"),
            format!("{at}.breaker_cooldown_ms: must be at least 1"),
        ));
    }
    if p.rate_per_second == Some(0) {
        return Err(Refusal::new(
            format!("{at}.rate_per_second"),
            format!("{at}.rate_per_second: must be at least 1"),
        ));
    }
    Ok(ProviderSettings {
        name: name.to_string(),
        kind: p.kind,
        base_url,
        auth,
        bot_id: p.bot_id.filter(|b| !b.is_empty()),
        pause_minutes: p.pause_minutes.unwrap_or(1440).max(1),
        rate_per_second: p.rate_per_second,
        breaker_failures: p.breaker_failures.unwrap_or(20),
        breaker_cooldown_ms: p.breaker_cooldown_ms.unwrap_or(30_000),
        retry_on: p.retry_on,
        max_attempts: p.max_attempts,
        phone_number_id: p.phone_number_id.map(|id| id.trim().to_string()),
        call_phone,
    })
}

fn parse_storage_url(url: &str, base_dir: &Path) -> Result<StorageUrl, Refusal> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(Refusal::new(
                "storage.url",
                "storage.url: sqlite:// needs a file path",
            ));
        }
        Ok(StorageUrl::Sqlite(resolve(base_dir, path)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(StorageUrl::Postgres(url.to_string()))
    } else {
        Err(Refusal::new(
            "storage.url",
            format!(
                "storage.url: \"{}\" is neither sqlite://PATH nor postgres://...",
                redact_url(url)
            ),
        ))
    }
}

/// A URL with its password (`scheme://user:password@host`) shown as `<redacted>`, for
/// every message that names a storage URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_string(),
    }
    .split('&')
    .map(|part| match part.split_once("password=") {
        Some((before, _)) if before.is_empty() || before.ends_with('?') => {
            format!("{before}password=<redacted>")
        }
        _ => part.to_string(),
    })
    .collect::<Vec<_>>()
    .join("&")
}

fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || base_dir == Path::new(".") {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
