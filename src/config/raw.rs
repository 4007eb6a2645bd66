//! The config file as written: the shapes serde reads `switchboard.toml` into, before any
//! check. Unknown keys are refused here (`deny_unknown_fields`); defaults of whole tables are
//! filled in here; everything else (what a value may be, which keys go together) is
//! `build`'s.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use super::{
    DeliverySettings, LoggingSettings, ProviderKind, ServerSettings, SourceKind, Synchronous,
};

/// The whole file; a table that is not written gets its defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: ServerSettings,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) rules: RawRules,
    #[serde(default)]
    pub(super) delivery: DeliverySettings,
    #[serde(default)]
    pub(super) providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub(super) sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub(super) routing: RawRouting,
    #[serde(default)]
    pub(super) logging: LoggingSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStorage {
    pub(super) url: String,
    pub(super) retention_days: u32,
    pub(super) synchronous: Synchronous,
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
pub(super) struct RawRules {
    pub(super) dir: String,
}

impl Default for RawRules {
    fn default() -> Self {
        Self {
            dir: "rules".into(),
        }
    }
}

/// One `[providers.NAME]`: which keys its kind needs or refuses is checked in `build`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub(super) kind: ProviderKind,
    pub(super) base_url: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) token: Option<SecretString>,
    pub(super) bot_id: Option<String>,
    pub(super) pause_minutes: Option<u64>,
    pub(super) rate_per_second: Option<u32>,
    pub(super) breaker_failures: Option<u32>,
    pub(super) breaker_cooldown_ms: Option<u64>,
    pub(super) retry_on: Option<Vec<u16>>,
    pub(super) max_attempts: Option<u32>,
    pub(super) phone_number_id: Option<String>,
    pub(super) call_phone: Option<String>,
}

/// A source's `secret`: one, or a list (rotation).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(SecretString),
    Many(Vec<SecretString>),
}

/// One `[sources.NAME]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) kind: SourceKind,
    pub(super) secret: Option<OneOrMany>,
    pub(super) token: Option<SecretString>,
    pub(super) provider: Option<String>,
    pub(super) ack_status: Option<u16>,
    pub(super) verify_token: Option<SecretString>,
}

/// `[routing]`: a provider name per action family.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    pub(super) tag: Option<String>,
    pub(super) label: Option<String>,
    pub(super) conversation: Option<String>,
    pub(super) state: Option<String>,
    pub(super) message: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::parse("[server]\nlisten_port = 3\n", Path::new("x.toml"), &|_| {
            None
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("listen_port"), "{err}");
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
