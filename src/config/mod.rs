//! Configuration: the TOML file of docs/configuration.md, `${VAR}` expansion, validation, and the
//! typed `Settings` everything else is built from. Secrets are `SecretString`s, so they never
//! reach a log line or `Debug` output.

mod locate;
pub mod print;
pub mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::actions::ActionFamily;
pub use crate::domain::platform::{ProviderKind, SourceKind};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Every problem in the file has a place: `path:line:col: message`.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file's path, for messages.
    pub file: PathBuf,
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub rules: RulesSettings,
    pub delivery: DeliverySettings,
    pub providers: BTreeMap<String, ProviderSettings>,
    pub sources: BTreeMap<String, SourceSettings>,
    pub routing: BTreeMap<ActionFamily, String>,
    pub logging: LoggingSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    pub max_body_bytes: usize,
    /// A body not complete this long after its headers gets `408 body_timeout`.
    pub body_timeout_ms: u64,
    pub admin_token: SecretString,
    /// PEM certificate chain: with `tls_key`, `serve` answers HTTPS only (docs/configuration.md).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`; both files are read again on SIGHUP.
    pub tls_key: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1_048_576,
            body_timeout_ms: 10_000,
            admin_token: SecretString::from(String::new()),
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub url: StorageUrl,
    pub retention_days: u32,
    /// `normal` (default) survives a killed process; `full` also survives power loss.
    pub synchronous: Synchronous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone)]
pub struct RulesSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub timeout_ms: u64,
    pub max_in_flight: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_base_ms: 1000,
            backoff_max_ms: 3_600_000,
            timeout_ms: 10_000,
            max_in_flight: 8,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing `/`.
    pub base_url: String,
    pub auth: ProviderAuth,
    /// Jelou: the bot to use when the event does not name one (docs/providers.md).
    pub bot_id: Option<String>,
    /// UChat: minutes for `set_manual()` without a ttl.
    pub pause_minutes: u64,
    pub rate_per_second: Option<u32>,
    /// Retryable failures in a row that open the circuit breaker (docs/guarantees.md).
    pub breaker_failures: u32,
    /// How long the breaker stays open before one delivery is let through.
    pub breaker_cooldown_ms: u64,
    /// Statuses retried instead of the default retry policy (docs/guarantees.md); `None`: the defaults.
    pub retry_on: Option<Vec<u16>>,
    /// Tries per action at this provider, instead of `[delivery] max_attempts`.
    pub max_attempts: Option<u32>,
    /// WhatsApp: the business phone number's id in the Graph API (`/{id}/messages`).
    pub phone_number_id: Option<String>,
    /// WhatsApp: the number a call button dials (`tel:` URL), in E.164.
    pub call_phone: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ProviderAuth {
    Basic {
        client_id: String,
        client_secret: SecretString,
    },
    Bearer(SecretString),
}

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub name: String,
    pub kind: SourceKind,
    pub credential: SourceCredential,
    /// The default target of this source's actions.
    pub provider: Option<String>,
    pub ack_status: u16,
    /// WhatsApp sources only: the token Meta's `hub.verify_token` must match.
    pub verify_token: Option<SecretString>,
}

/// How a source proves a request is its own.
#[derive(Debug, Clone)]
pub enum SourceCredential {
    /// HMAC secrets; several only for rotation (generic sources).
    Secrets(Vec<SecretString>),
    Token(SecretString),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    /// `text` (default) or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

// ---- the file as written -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerSettings,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    delivery: DeliverySettings,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    logging: LoggingSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    url: String,
    retention_days: u32,
    synchronous: Synchronous,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            url: "sqlite://data/switchboard.db".into(),
            retention_days: 30,
            synchronous: Synchronous::Normal,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRules {
    dir: String,
}

impl Default for RawRules {
    fn default() -> Self {
        Self {
            dir: "rules".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: ProviderKind,
    base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    token: Option<SecretString>,
    bot_id: Option<String>,
    pause_minutes: Option<u64>,
    rate_per_second: Option<u32>,
    breaker_failures: Option<u32>,
    breaker_cooldown_ms: Option<u64>,
    retry_on: Option<Vec<u16>>,
    max_attempts: Option<u32>,
    phone_number_id: Option<String>,
    call_phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(SecretString),
    Many(Vec<SecretString>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: SourceKind,
    secret: Option<OneOrMany>,
    token: Option<SecretString>,
    provider: Option<String>,
    ack_status: Option<u16>,
    verify_token: Option<SecretString>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    tag: Option<String>,
    label: Option<String>,
    conversation: Option<String>,
    state: Option<String>,
    message: Option<String>,
}

impl Settings {
    /// Read, expand and validate the config file.
    ///
    /// # Errors
    /// A message naming the file and what is wrong: unreadable file, TOML syntax, an unknown
    /// key, a missing environment variable, an inconsistent value.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parse config text; `env` answers environment look-ups (injectable for tests).
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let at = |offset: Option<usize>, message: String| {
            let (line, column) = offset.map_or((1, 1), |o| locate::line_col(text, o));
            ConfigError::Invalid {
                path: path.display().to_string(),
                line,
                column,
                message,
            }
        };
        // A problem found after parsing starts with the key it is about.
        let keyed = |message: String| {
            let offset = locate::leading_key(&message).and_then(|k| locate::key_offset(text, k));
            at(offset, message)
        };
        let mut value: toml::Value = toml::from_str(text)
            .map_err(|e| at(e.span().map(|s| s.start), one_line(e.message())))?;
        expand_value(&mut value, env, "").map_err(keyed)?;
        let raw: RawConfig = match value.try_into() {
            Ok(raw) => raw,
            Err(expanded) => {
                let expanded: toml::de::Error = expanded;
                // The same document read from the text gives the place (expansion changes
                // only what strings hold, not types or keys).
                return Err(match toml::from_str::<RawConfig>(text) {
                    Err(e) => at(e.span().map(|s| s.start), one_line(e.message())),
                    Ok(_) => at(None, one_line(expanded.message())),
                });
            }
        };
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        build(raw, path, &base_dir).map_err(keyed)
    }

    /// A problem found after loading (a TLS file that does not read, say) as
    /// `path:line:col: message`, placed at the key the message starts with.
    pub fn locate_problem(&self, message: &str) -> String {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let (line, column) = locate::leading_key(message)
            .and_then(|k| locate::key_offset(&text, k))
            .map_or((1, 1), |o| locate::line_col(&text, o));
        format!("{}:{line}:{column}: {message}", self.file.display())
    }

    pub fn source(&self, name: &str) -> Option<&SourceSettings> {
        self.sources.get(name)
    }

    pub fn admin_enabled(&self) -> bool {
        !self.server.admin_token.expose_secret().is_empty()
    }
}

fn build(raw: RawConfig, path: &Path, base_dir: &Path) -> Result<Settings, String> {
    check_server(&raw.server)?;
    check_delivery(&raw.delivery)?;
    if raw.storage.retention_days == 0 {
        return Err("storage.retention_days must be at least 1".into());
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
                return Err(format!(
                    "sources.{name}: has both `secret` and `token`; keep one"
                ))
            }
            (None, None) => {
                return Err(format!(
                    "sources.{name}: needs `secret` (signed webhooks) or `token` (a shared token header)"
                ))
            }
            (Some(OneOrMany::One(secret)), None) => SourceCredential::Secrets(vec![secret]),
            (Some(OneOrMany::Many(list)), None) => {
                if list.is_empty() {
                    return Err(format!("sources.{name}.secret: the list is empty"));
                }
                SourceCredential::Secrets(list)
            }
            (None, Some(token)) => SourceCredential::Token(token),
        };
        if let SourceCredential::Secrets(list) = &credential {
            if list.iter().any(|s| s.expose_secret().is_empty()) {
                return Err(format!("sources.{name}.secret: is empty"));
            }
            if s.kind == SourceKind::Generic {
                for secret in list {
                    secrets::standard_webhooks_key(secret.expose_secret())
                        .map_err(|e| format!("sources.{name}.secret: {e}"))?;
                }
            }
        }
        if let SourceCredential::Token(t) = &credential {
            if t.expose_secret().is_empty() {
                return Err(format!("sources.{name}.token: is empty"));
            }
        }
        let provider = match s.provider {
            Some(p) => {
                if !providers.contains_key(&p) {
                    return Err(format!(
                        "sources.{name}.provider: unknown provider \"{p}\" (configured: {})",
                        list_names(&providers)
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
            return Err(format!(
                "sources.{name}.ack_status: {ack_status} is not one of 200, 201, 202"
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
                return Err(format!(
                    "routing.{}: unknown provider \"{target}\" (configured: {})",
                    family.as_str(),
                    list_names(&providers)
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
fn whatsapp_keys(name: &str, s: &RawSource) -> Result<Option<SecretString>, String> {
    if s.kind != SourceKind::Whatsapp {
        return match s.verify_token {
            Some(_) => Err(format!(
                "sources.{name}.verify_token: only whatsapp sources take verify_token (this one is {})",
                s.kind.as_str()
            )),
            None => Ok(None),
        };
    }
    if s.token.is_some() {
        return Err(format!(
            "sources.{name}.token: a whatsapp source is verified by X-Hub-Signature-256; \
             set `secret` to the Meta app secret instead of `token`"
        ));
    }
    if s.secret.is_none() {
        return Err(format!(
            "sources.{name}: a whatsapp source needs `secret` (the Meta app secret that signs X-Hub-Signature-256)"
        ));
    }
    match &s.verify_token {
        None => Err(format!(
            "sources.{name}: a whatsapp source needs `verify_token` (the token Meta sends as hub.verify_token)"
        )),
        Some(t) if t.expose_secret().is_empty() => {
            Err(format!("sources.{name}.verify_token: is empty"))
        }
        Some(t) => Ok(Some(t.clone())),
    }
}

/// The largest `max_body_bytes` accepted (docs/configuration.md).
pub const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

fn check_server(server: &ServerSettings) -> Result<(), String> {
    if server.max_body_bytes == 0 {
        return Err("server.max_body_bytes must be greater than 0".into());
    }
    if server.max_body_bytes > MAX_BODY_LIMIT {
        return Err(format!(
            "server.max_body_bytes: {} is over the limit of {MAX_BODY_LIMIT} (16 MiB)",
            server.max_body_bytes
        ));
    }
    if server.body_timeout_ms == 0 {
        return Err("server.body_timeout_ms must be at least 1".into());
    }
    match (&server.tls_cert, &server.tls_key) {
        (Some(_), None) => {
            return Err(
                "server.tls_cert: is set without server.tls_key; set both or neither".into(),
            )
        }
        (None, Some(_)) => {
            return Err(
                "server.tls_key: is set without server.tls_cert; set both or neither".into(),
            )
        }
        (Some(cert), Some(key)) => {
            for (k, p) in [("tls_cert", cert), ("tls_key", key)] {
                if p.as_os_str().is_empty() {
                    return Err(format!("server.{k}: is empty; give a PEM file path"));
                }
            }
        }
        (None, None) => {}
    }
    if !listen_is_valid(&server.listen) {
        return Err(format!(
            "server.listen: \"{}\" is not an address like 127.0.0.1:8080, [::1]:8080 or localhost:8080",
            server.listen
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

fn check_delivery(delivery: &DeliverySettings) -> Result<(), String> {
    for (key, value) in [
        ("max_attempts", u64::from(delivery.max_attempts)),
        ("max_in_flight", delivery.max_in_flight as u64),
        ("timeout_ms", delivery.timeout_ms),
        ("backoff_base_ms", delivery.backoff_base_ms),
        ("backoff_max_ms", delivery.backoff_max_ms),
    ] {
        if value == 0 {
            return Err(format!("delivery.{key} must be at least 1"));
        }
    }
    if delivery.backoff_base_ms > delivery.backoff_max_ms {
        return Err(format!(
            "delivery.backoff_base_ms: {} is more than backoff_max_ms ({})",
            delivery.backoff_base_ms, delivery.backoff_max_ms
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

fn build_provider(name: &str, p: RawProvider) -> Result<ProviderSettings, String> {
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
        return Err(format!(
            "providers.{name}.base_url: \"{base_url}\" must start with http:// or https://"
        ));
    }
    let auth = match p.kind {
        ProviderKind::Jelou => {
            if p.token.is_some() {
                return Err(format!(
                    "providers.{name}: a jelou provider uses client_id and client_secret, not token"
                ));
            }
            match (p.client_id, p.client_secret) {
                (Some(client_id), Some(client_secret)) => ProviderAuth::Basic {
                    client_id,
                    client_secret,
                },
                _ => {
                    return Err(format!(
                        "providers.{name}: a jelou provider needs client_id and client_secret"
                    ))
                }
            }
        }
        ProviderKind::Uchat | ProviderKind::Aelyst | ProviderKind::Whatsapp => {
            if p.client_id.is_some() || p.client_secret.is_some() {
                return Err(format!(
                    "providers.{name}: a {} provider uses token, not client_id/client_secret",
                    p.kind.as_str()
                ));
            }
            match p.token {
                Some(token) => ProviderAuth::Bearer(token),
                None => {
                    return Err(format!(
                        "providers.{name}: a {} provider needs token",
                        p.kind.as_str()
                    ))
                }
            }
        }
    };
    if p.bot_id.is_some() && p.kind != ProviderKind::Jelou {
        return Err(format!(
            "providers.{name}.bot_id: only jelou providers have a bot_id"
        ));
    }
    if p.kind == ProviderKind::Whatsapp {
        match p.phone_number_id.as_deref().map(str::trim) {
            None => {
                return Err(format!(
                    "providers.{name}: a whatsapp provider needs phone_number_id (the business number's id in Meta's WhatsApp Manager)"
                ))
            }
            Some(id) if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) => {
                return Err(format!(
                    "providers.{name}.phone_number_id: \"{id}\" is not a phone number id (digits only, e.g. \"106540352242922\")"
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
                return Err(format!(
                    "providers.{name}.{key}: only whatsapp providers have {key}"
                ));
            }
        }
    }
    let call_phone = match &p.call_phone {
        Some(raw) => Some(crate::domain::event::e164(raw).ok_or_else(|| {
            format!(
                "providers.{name}.call_phone: \"{raw}\" is not a phone number in E.164 (a + and 8 to 15 digits, e.g. \"+573001234567\")"
            )
        })?),
        None => None,
    };
    if p.pause_minutes.is_some() && p.kind != ProviderKind::Uchat {
        return Err(format!(
            "providers.{name}.pause_minutes: only uchat providers have pause_minutes"
        ));
    }
    if p.max_attempts == Some(0) {
        return Err(format!("providers.{name}.max_attempts: must be at least 1"));
    }
    if let Some(bad) = p
        .retry_on
        .iter()
        .flatten()
        .find(|s| !(100..=599).contains(*s) || (200..300).contains(*s))
    {
        return Err(format!(
            "providers.{name}.retry_on: {bad} is not an HTTP error status (100-599, not 2xx)"
        ));
    }
    if p.breaker_failures == Some(0) {
        return Err(format!(
            "providers.{name}.breaker_failures: must be at least 1"
        ));
    }
    if p.breaker_cooldown_ms == Some(0) {
        return Err(format!(
            "providers.{name}.breaker_cooldown_ms: must be at least 1"
        ));
    }
    if p.rate_per_second == Some(0) {
        return Err(format!(
            "providers.{name}.rate_per_second: must be at least 1"
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

fn parse_storage_url(url: &str, base_dir: &Path) -> Result<StorageUrl, String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err("storage.url: sqlite:// needs a file path".into());
        }
        Ok(StorageUrl::Sqlite(resolve(base_dir, path)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(StorageUrl::Postgres(url.to_string()))
    } else {
        Err(format!(
            "storage.url: \"{}\" is neither sqlite://PATH nor postgres://...",
            redact_url(url)
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

/// A TOML parser message on one line: what was found; what was expected.
fn one_line(message: &str) -> String {
    message
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Expand `${VAR}` in every string; an error names the key (`key: message`).
fn expand_value(
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
) -> Result<(), String> {
    match value {
        toml::Value::String(s) => {
            *s = expand_vars(s, env).map_err(|e| format!("{key}: {e}"))?;
            Ok(())
        }
        toml::Value::Array(items) => items.iter_mut().try_for_each(|v| expand_value(v, env, key)),
        toml::Value::Table(table) => table.iter_mut().try_for_each(|(name, v)| {
            let inner = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}.{name}")
            };
            expand_value(v, env, &inner)
        }),
        _ => Ok(()),
    }
}

/// Why `${...}` could not be expanded. The messages never repeat the value around the
/// reference: it may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("an unterminated \"${{\" (write $${{ for a literal ${{)")]
    Unterminated,
    #[error("\"${{{0}}}\" is not a valid variable reference")]
    InvalidName(String),
    #[error("environment variable {0} is not set (referenced as ${{{0}}}); set it, or write ${{{0}:-default}}")]
    Unset(String),
}

/// Replace `${VAR}` and `${VAR:-default}` in a string; `$${` stands for a literal `${`.
///
/// # Errors
/// Names the variable when `${VAR}` has no default and the variable is unset, and describes
/// an unterminated `${`.
pub fn expand_vars(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = body.find('}').ok_or(ExpandError::Unterminated)?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ExpandError::InvalidName(expr.to_string()));
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    /// The error `Settings::parse` gives for `text` in `x.toml`.
    fn error_of(text: &str) -> String {
        Settings::parse(text, Path::new("x.toml"), &env)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn absurd_values_are_refused_at_their_line_and_column() {
        let source = "[sources.a]\nkind = \"jelou\"\n";
        let cases = [
            ("[delivery]\ntimeout_ms = 0\n", "x.toml:2:1: delivery.timeout_ms must be at least 1"),
            ("[delivery]\nbackoff_base_ms = 0\n", "x.toml:2:1: delivery.backoff_base_ms must be at least 1"),
            ("[delivery]\nmax_attempts = 0\n", "x.toml:2:1: delivery.max_attempts must be at least 1"),
            ("[delivery]\nmax_in_flight = 0\n", "x.toml:2:1: delivery.max_in_flight must be at least 1"),
            ("\n[delivery]\nbackoff_base_ms = 5000\nbackoff_max_ms = 1000\n", "x.toml:3:1: delivery.backoff_base_ms: 5000 is more than backoff_max_ms (1000)"),
            ("[storage]\nretention_days = 0\n", "x.toml:2:1: storage.retention_days must be at least 1"),
            ("[server]\nlisten = \"8080\"\n", "x.toml:2:1: server.listen: \"8080\" is not an address like 127.0.0.1:8080, [::1]:8080 or localhost:8080"),
            ("[server]\nlisten = \"localhost:99999\"\n", "x.toml:2:1: server.listen"),
            ("[server]\nmax_body_bytes = 1000000000000000\n", "x.toml:2:1: server.max_body_bytes: 1000000000000000 is over the limit"),
            ("[server]\nbody_timeout_ms = 0\n", "x.toml:2:1: server.body_timeout_ms must be at least 1"),
            (&format!("{source}token = \"t\"\nack_status = 204\n"), "x.toml:4:1: sources.a.ack_status: 204 is not one of 200, 201, 202"),
            (&format!("{source}secret = \"\"\n"), "x.toml:3:1: sources.a.secret: is empty"),
            (&format!("{source}token = \"\"\n"), "x.toml:3:1: sources.a.token: is empty"),
            ("[sources.g]\nkind = \"generic\"\nsecret = \"whsec_\"\n", "x.toml:3:1: sources.g.secret: this Standard Webhooks secret has an empty key"),
            ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nretry_on = [200]\n", "x.toml:4:1: providers.u.retry_on: 200 is not an HTTP error status"),
            ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nmax_attempts = 0\n", "x.toml:4:1: providers.u.max_attempts: must be at least 1"),
            ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nbreaker_failures = 0\n", "x.toml:4:1: providers.u.breaker_failures: must be at least 1"),
            ("\n[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\n", "x.toml:2:12: providers.wa: a whatsapp provider needs phone_number_id"),
            ("[providers.wa]\nkind = \"whatsapp\"\nphone_number_id = \"1065\"\n", "x.toml:1:12: providers.wa: a whatsapp provider needs token"),
            ("[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \"+1 555\"\n", "x.toml:4:1: providers.wa.phone_number_id: \"+1 555\" is not a phone number id"),
            ("[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \"1\"\ncall_phone = \"call us\"\n", "x.toml:5:1: providers.wa.call_phone: \"call us\" is not a phone number in E.164"),
            ("[providers.wa]\nkind = \"whatsapp\"\nclient_id = \"i\"\nclient_secret = \"s\"\n", "x.toml:1:12: providers.wa: a whatsapp provider uses token, not client_id/client_secret"),
            ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\nphone_number_id = \"1\"\n", "x.toml:4:1: providers.u.phone_number_id: only whatsapp providers have phone_number_id"),
            ("[providers.u]\nkind = \"uchat\"\ntoken = \"t\"\ncall_phone = \"+573001234567\"\n", "x.toml:4:1: providers.u.call_phone: only whatsapp providers have call_phone"),
            ("\n\n[server]\nlisten_port = 3\n", "x.toml:4:1: unknown field `listen_port`"),
            ("[server]\nmax_body_bytes = \"big\"\n", "x.toml:2:18: invalid type: string \"big\""),
            ("[server]\nlisten = \"${NOT_SET}\"\n", "x.toml:2:1: server.listen: "),
            ("[server\nlisten = 1\n", "x.toml:1:8: invalid table header; expected `.`, `]`"),
            ("[server]\nlisten = \n", "x.toml:2:10: invalid string; expected `\"`, `'`"),
        ];
        for (text, expected) in cases {
            let error = error_of(text);
            assert!(
                error.starts_with(expected),
                "{text:?}\n got: {error}\nwant: {expected}"
            );
        }
        for accepted in [
            "[server]\nlisten = \"localhost:8080\"\n",
            "[server]\nlisten = \"[::1]:8080\"\n",
            "[server]\nlisten = \"0.0.0.0:0\"\n",
        ] {
            assert_eq!(error_of(accepted), "accepted", "{accepted}");
        }
    }

    #[test]
    fn whatsapp_sources_need_an_app_secret_and_a_verify_token_at_their_place() {
        let wa = "[sources.w]\nkind = \"whatsapp\"\n";
        let cases = [
            (
                format!("{wa}secret = \"s\"\n"),
                "x.toml:1:10: sources.w: a whatsapp source needs `verify_token`",
            ),
            (
                format!("{wa}verify_token = \"v\"\n"),
                "x.toml:1:10: sources.w: a whatsapp source needs `secret`",
            ),
            (
                format!("{wa}secret = \"s\"\nverify_token = \"\"\n"),
                "x.toml:4:1: sources.w.verify_token: is empty",
            ),
            (
                format!("{wa}secret = \"\"\nverify_token = \"v\"\n"),
                "x.toml:3:1: sources.w.secret: is empty",
            ),
            (
                format!("{wa}token = \"t\"\nverify_token = \"v\"\n"),
                "x.toml:3:1: sources.w.token: a whatsapp source is verified by X-Hub-Signature-256",
            ),
            (
                "[sources.j]\nkind = \"jelou\"\nsecret = \"s\"\nverify_token = \"v\"\n".to_string(),
                "x.toml:4:1: sources.j.verify_token: only whatsapp sources take verify_token",
            ),
        ];
        for (text, expected) in &cases {
            let error = error_of(text);
            assert!(
                error.starts_with(expected),
                "{text:?}\n got: {error}\nwant: {expected}"
            );
        }
        let env = |_: &str| None;
        let settings = Settings::parse(
            &format!("{wa}secret = \"app-secret\"\nverify_token = \"vt\"\n"),
            Path::new("x.toml"),
            &env,
        )
        .unwrap();
        let w = &settings.sources["w"];
        assert_eq!(w.kind, SourceKind::Whatsapp);
        assert_eq!(
            w.verify_token
                .as_ref()
                .map(|t| t.expose_secret().to_string())
                .as_deref(),
            Some("vt")
        );
        assert!(
            !format!("{settings:?}").contains("vt\""),
            "the verify token is a secret"
        );
    }

    #[test]
    fn a_storage_url_password_never_appears_in_a_message() {
        let error = error_of("[storage]\nurl = \"mysql://admin:hunter2@db/x?password=hunter3\"\n");
        assert!(!error.contains("hunter"), "{error}");
        assert!(
            error.contains("mysql://admin:<redacted>@db/x?password=<redacted>"),
            "{error}"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p&x=1"),
            "postgres://h/db?user=u&password=<redacted>&x=1"
        );
    }

    #[test]
    fn variables_expand_with_defaults_and_escapes() {
        assert_eq!(expand_vars("a${SET}b", &env).unwrap(), "avalueb");
        assert_eq!(expand_vars("${UNSET:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_vars("${EMPTY:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_vars("${UNSET:-}", &env).unwrap(), "");
        assert_eq!(expand_vars("$${SET}", &env).unwrap(), "${SET}");
        assert_eq!(expand_vars("cost $5", &env).unwrap(), "cost $5");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = expand_vars("${JELOU_CLIENT_ID}", &env).unwrap_err();
        assert_eq!(err, ExpandError::Unset("JELOU_CLIENT_ID".into()));
        assert!(err.to_string().contains("JELOU_CLIENT_ID"), "{err}");
    }

    #[test]
    fn an_expansion_error_never_repeats_the_value_it_is_in() {
        for (input, expected) in [
            ("topsecret${UNCLOSED", ExpandError::Unterminated),
            (
                "topsecret${bad name}",
                ExpandError::InvalidName("bad name".into()),
            ),
        ] {
            let err = expand_vars(input, &env).unwrap_err();
            assert_eq!(err, expected);
            assert!(!err.to_string().contains("topsecret"), "{err}");
        }
    }

    #[test]
    fn a_whatsapp_provider_defaults_to_the_graph_api_and_keeps_its_number_id() {
        let text = "[providers.wa]\nkind = \"whatsapp\"\ntoken = \"t\"\nphone_number_id = \" 106540352242922 \"\ncall_phone = \"+57 (300) 123-4567\"\n";
        let settings = Settings::parse(text, Path::new("x.toml"), &|_| None).unwrap();
        let wa = &settings.providers["wa"];
        assert_eq!(wa.kind, ProviderKind::Whatsapp);
        assert_eq!(wa.base_url, "https://graph.facebook.com/v21.0");
        assert_eq!(wa.phone_number_id.as_deref(), Some("106540352242922"));
        assert_eq!(wa.call_phone.as_deref(), Some("+573001234567"));
        assert!(matches!(wa.auth, ProviderAuth::Bearer(_)));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::parse("[server]\nlisten_port = 3\n", Path::new("x.toml"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_port"), "{err}");
    }

    #[test]
    fn a_source_with_secret_and_token_is_rejected() {
        let text = "[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\ntoken = \"t\"\n";
        let err = Settings::parse(text, Path::new("x.toml"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("both"), "{err}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let text = "[server]\nadmin_token = \"topsecret-admin\"\n[providers.u]\nkind = \"uchat\"\ntoken = \"topsecret-token\"\n[sources.a]\nkind = \"uchat\"\ntoken = \"topsecret-source\"\n";
        let settings = Settings::parse(text, Path::new("x.toml"), &env).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
    }

    #[test]
    fn routing_or_a_source_naming_an_unknown_provider_is_rejected_with_its_name() {
        let provider =
            "[providers.j]\nkind = \"jelou\"\nclient_id = \"i\"\nclient_secret = \"s\"\n";
        let routing = format!("{provider}[routing]\ntag = \"nowhere\"\n");
        let err = Settings::parse(&routing, Path::new("x.toml"), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("routing.tag") && err.contains("\"nowhere\""),
            "{err}"
        );
        let source = format!(
            "{provider}[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\nprovider = \"elsewhere\"\n"
        );
        let err = Settings::parse(&source, Path::new("x.toml"), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sources.a.provider") && err.contains("\"elsewhere\""),
            "{err}"
        );
    }

    #[test]
    fn a_source_defaults_to_the_one_provider_of_its_kind() {
        let text = "[providers.j]\nkind = \"jelou\"\nclient_id = \"i\"\nclient_secret = \"s\"\n[sources.a]\nkind = \"jelou\"\nsecret = \"s\"\n";
        let settings = Settings::parse(text, Path::new("x.toml"), &env).unwrap();
        assert_eq!(settings.sources["a"].provider.as_deref(), Some("j"));
    }

    /// Every key the parser accepts, per table, read from the parser itself: an unknown key
    /// makes serde list the known ones ("expected one of `a`, `b`").
    fn keys_accepted_in(table_header: &str, required: &str) -> Vec<String> {
        let text = format!("{table_header}\n{required}zz_not_a_key = 1\n");
        let error = match toml::from_str::<RawConfig>(&text) {
            Ok(_) => panic!("{table_header}: an unknown key was accepted"),
            Err(e) => e.message().to_string(),
        };
        let listed = error
            .split_once("expected")
            .unwrap_or_else(|| panic!("{table_header}: no key list in {error:?}"))
            .1;
        listed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// `docs/configuration.md` documents every key each table takes, in that table's
    /// section (`## \`[table]\``), as `` `key` ``; a key added to the parser and not to the
    /// reference fails here.
    #[test]
    fn the_configuration_reference_documents_every_key_the_parser_accepts() {
        let doc = include_str!("../../docs/configuration.md");
        let section = |title: &str| -> &str {
            let start = doc
                .find(&format!("\n## `{title}`"))
                .unwrap_or_else(|| panic!("docs/configuration.md has no section ## `{title}`"));
            let rest = &doc[start + 1..];
            let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
            &rest[..end]
        };
        let tables = [
            ("", "", "top level"),
            ("[server]", "", "[server]"),
            ("[storage]", "", "[storage]"),
            ("[rules]", "", "[rules]"),
            ("[delivery]", "", "[delivery]"),
            ("[providers.p]", "kind = \"uchat\"\n", "[providers.NAME]"),
            ("[sources.s]", "kind = \"generic\"\n", "[sources.NAME]"),
            ("[routing]", "", "[routing]"),
            ("[logging]", "", "[logging]"),
        ];
        let mut missing = Vec::new();
        for (header, required, title) in tables {
            let keys = keys_accepted_in(header, required);
            assert!(!keys.is_empty(), "{title}: no keys read");
            for key in keys {
                let documented = if title == "top level" {
                    doc.contains(&format!("## `[{key}]`"))
                        || doc.contains(&format!("## `[{key}.NAME]`"))
                } else {
                    section(title).contains(&format!("`{key}`"))
                };
                if !documented {
                    missing.push(format!("{title} {key}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys the parser accepts but docs/configuration.md does not document: {missing:?}"
        );
    }
}
