//! Configuration: the TOML file of docs/configuration.md read into the typed `Settings`
//! everything else is built from. Secrets are `SecretString`s, so they never reach a log line
//! or `Debug` output.
//!
//! Here: the settings types, `Settings::load`/`parse`, and the errors (`ConfigError` for
//! callers, `Refusal` inside). `parse` runs the steps in order: TOML syntax, `${VAR}`
//! expansion (`expand`), the file's shapes and unknown keys (`raw`), every other check
//! (`build`); `locate` turns each problem's key or offset into `path:line:col`.

mod build;
mod expand;
mod locate;
pub mod print;
mod raw;
pub mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::actions::ActionFamily;
pub use crate::domain::platform::{ProviderKind, SourceKind};
pub use build::{redact_url, MAX_BODY_LIMIT};
pub use expand::{expand_vars, ExpandError};
use raw::RawConfig;

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

/// A problem found after the file is read: the dotted key it is about
/// (`sources.jelou.secret`, or `sources.jelou` for the table) and the whole message, which
/// starts with that key. `Settings::parse` places it at the key's line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
struct Refusal {
    key: String,
    message: String,
}

impl Refusal {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Refusal {
        let (key, message) = (key.into(), message.into());
        debug_assert!(
            message.starts_with(&key),
            "a refusal's message starts with its key: {key:?}, {message:?}"
        );
        Refusal { key, message }
    }
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
        // A problem found after parsing is at the key it is about.
        let refused =
            |refusal: Refusal| at(locate::key_offset(text, &refusal.key), refusal.message);
        let mut value: toml::Value = toml::from_str(text)
            .map_err(|e| at(e.span().map(|s| s.start), one_line(e.message())))?;
        expand::expand_value(&mut value, env, "").map_err(refused)?;
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
        build::build(raw, path, &base_dir).map_err(refused)
    }

    /// A problem found after loading (a TLS file that does not read, say) as
    /// `path:line:col: message`, placed at `key` (`server.tls_key`); without a key, or one
    /// that is not written, at line 1, column 1.
    pub fn locate_problem(&self, key: Option<&str>, message: &str) -> String {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let (line, column) = key
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
