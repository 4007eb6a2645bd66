//! The effective configuration as TOML (`switchboard serve --print-config`): every default
//! filled in, `${VAR}` already expanded, paths as `serve` will use them, and every secret
//! (tokens, HMAC secrets, client secrets, a storage URL's password) shown as `"<redacted>"`.
//! The output is itself a valid config file (with the secrets to fill in again).

use secrecy::ExposeSecret as _;
use toml::{Table, Value};

use super::{
    redact_url, LogFormat, ProviderAuth, Settings, SourceCredential, StorageUrl, Synchronous,
};

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

/// The settings as a TOML document, sections in the order of the configuration reference
/// (`toml`'s `preserve_order` keeps the order they are inserted in).
pub fn effective_toml(settings: &Settings) -> String {
    let mut doc = Table::new();
    doc.insert("server".into(), Value::Table(server(settings)));
    doc.insert("storage".into(), Value::Table(storage(settings)));
    doc.insert("rules".into(), table([("dir", path(&settings.rules.dir))]));
    doc.insert("delivery".into(), Value::Table(delivery(settings)));
    let routing: Table = settings
        .routing
        .iter()
        .map(|(family, provider)| (family.as_str().to_string(), text(provider)))
        .collect();
    doc.insert("routing".into(), Value::Table(routing));
    doc.insert(
        "logging".into(),
        table([(
            "format",
            text(match settings.logging.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }),
        )]),
    );
    let providers: Table = settings
        .providers
        .iter()
        .map(|(name, p)| (name.clone(), Value::Table(provider(p))))
        .collect();
    doc.insert("providers".into(), Value::Table(providers));
    let sources: Table = settings
        .sources
        .iter()
        .map(|(name, s)| (name.clone(), Value::Table(source(s))))
        .collect();
    doc.insert("sources".into(), Value::Table(sources));
    let mut out = format!(
        "# The effective configuration of {} (defaults filled in, secrets redacted).\n",
        settings.file.display()
    );
    out.push_str(&toml::to_string(&doc).unwrap_or_else(|e| format!("# cannot print: {e}\n")));
    out
}

fn server(settings: &Settings) -> Table {
    let s = &settings.server;
    let mut t = table_of([
        ("listen", text(&s.listen)),
        ("max_body_bytes", int(s.max_body_bytes as u64)),
        ("body_timeout_ms", int(s.body_timeout_ms)),
        (
            "admin_token",
            secret(s.admin_token.expose_secret().is_empty()),
        ),
    ]);
    if let Some(cert) = &s.tls_cert {
        t.insert("tls_cert".into(), path(cert));
    }
    if let Some(key) = &s.tls_key {
        t.insert("tls_key".into(), path(key));
    }
    t
}

fn storage(settings: &Settings) -> Table {
    let s = &settings.storage;
    let url = match &s.url {
        StorageUrl::Sqlite(file) => format!("sqlite://{}", file.display()),
        StorageUrl::Postgres(url) => redact_url(url),
    };
    table_of([
        ("url", text(&url)),
        ("retention_days", int(u64::from(s.retention_days))),
        (
            "synchronous",
            text(match s.synchronous {
                Synchronous::Normal => "normal",
                Synchronous::Full => "full",
            }),
        ),
    ])
}

fn delivery(settings: &Settings) -> Table {
    let d = &settings.delivery;
    table_of([
        ("max_attempts", int(u64::from(d.max_attempts))),
        ("backoff_base_ms", int(d.backoff_base_ms)),
        ("backoff_max_ms", int(d.backoff_max_ms)),
        ("timeout_ms", int(d.timeout_ms)),
        ("max_in_flight", int(d.max_in_flight as u64)),
    ])
}

fn provider(p: &super::ProviderSettings) -> Table {
    let mut t = table_of([
        ("kind", text(p.kind.as_str())),
        ("base_url", text(&p.base_url)),
    ]);
    match &p.auth {
        ProviderAuth::Basic { client_id, .. } => {
            t.insert("client_id".into(), text(client_id));
            t.insert("client_secret".into(), text(REDACTED));
        }
        ProviderAuth::Bearer(_) => {
            t.insert("token".into(), text(REDACTED));
        }
    }
    if let Some(bot) = &p.bot_id {
        t.insert("bot_id".into(), text(bot));
    }
    if let Some(id) = &p.phone_number_id {
        t.insert("phone_number_id".into(), text(id));
    }
    if let Some(phone) = &p.call_phone {
        t.insert("call_phone".into(), text(phone));
    }
    if p.kind == super::ProviderKind::Uchat {
        t.insert("pause_minutes".into(), int(p.pause_minutes));
    }
    if let Some(rate) = p.rate_per_second {
        t.insert("rate_per_second".into(), int(u64::from(rate)));
    }
    t.insert(
        "breaker_failures".into(),
        int(u64::from(p.breaker_failures)),
    );
    t.insert("breaker_cooldown_ms".into(), int(p.breaker_cooldown_ms));
    if let Some(statuses) = &p.retry_on {
        t.insert(
            "retry_on".into(),
            Value::Array(statuses.iter().map(|s| int(u64::from(*s))).collect()),
        );
    }
    if let Some(max) = p.max_attempts {
        t.insert("max_attempts".into(), int(u64::from(max)));
    }
    t
}

fn source(s: &super::SourceSettings) -> Table {
    let mut t = table_of([("kind", text(s.kind.as_str()))]);
    match &s.credential {
        SourceCredential::Secrets(list) if list.len() == 1 => {
            t.insert("secret".into(), text(REDACTED));
        }
        SourceCredential::Secrets(list) => {
            t.insert(
                "secret".into(),
                Value::Array(list.iter().map(|_| text(REDACTED)).collect()),
            );
        }
        SourceCredential::Token(_) => {
            t.insert("token".into(), text(REDACTED));
        }
    }
    if s.verify_token.is_some() {
        t.insert("verify_token".into(), text(REDACTED));
    }
    if let Some(provider) = &s.provider {
        t.insert("provider".into(), text(provider));
    }
    t.insert("ack_status".into(), int(u64::from(s.ack_status)));
    t
}

/// An admin token prints as redacted when set, and as the empty string (admin API off) when
/// not, so the output says which.
fn secret(is_empty: bool) -> Value {
    text(if is_empty { "" } else { REDACTED })
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

fn int(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn path(p: &std::path::Path) -> Value {
    text(&p.display().to_string())
}

fn table_of<const N: usize>(entries: [(&str, Value); N]) -> Table {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn table<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Table(table_of(entries))
}
