//! The `switchboard.toml` the tests write: one template (a server on port 0, a SQLite
//! store, three providers, four sources, routing for every action) with setters for the
//! parts tests vary. `Config::new().admin_token("t").render()` is the whole file.

use std::path::{Path, PathBuf};

/// A base URL where nothing answers (the discard port): for providers a test must not reach.
pub const NOWHERE: &str = "http://127.0.0.1:9";

pub const JELOU_SECRET: &str = "jelou-signing-secret";
pub const AELYST_SECRET: &str = "aelyst-signing-key";
pub const UCHAT_TOKEN: &str = "uchat-webhook-token";
/// The generic `crm` source's current secret (a second, older one is also accepted).
pub const CRM_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const JELOU_CLIENT_ID: &str = "jelou-client";
pub const JELOU_CLIENT_SECRET: &str = "jelou-client-secret";

/// The `[delivery]` table unless a test sets its own: quick retries, three attempts.
pub const DELIVERY: &str =
    "max_attempts = 3\nbackoff_base_ms = 50\nbackoff_max_ms = 200\ntimeout_ms = 2000\nmax_in_flight = 4";

/// The sources a config can hold, by name.
pub const ALL_SOURCES: &[&str] = &["jelou", "aelyst", "uchat", "crm"];

/// The `[routing]` entries unless a test sets its own.
pub const ROUTING: &[(&str, &str)] = &[
    ("tag", "uchat"),
    ("label", "uchat"),
    ("conversation", "aelyst"),
    ("state", "jelou"),
    ("message", "jelou"),
];

#[derive(Clone, Debug)]
pub struct Config {
    listen: String,
    max_body_bytes: Option<usize>,
    admin_token: Option<String>,
    body_timeout_ms: Option<u64>,
    tls: Option<(String, String)>,
    storage_url: String,
    delivery: Option<String>,
    jelou: String,
    uchat: String,
    aelyst: String,
    jelou_client: (String, String),
    jelou_extra: String,
    sources: Vec<String>,
    routing: Vec<(String, String)>,
    extra: String,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// The template: port 0, `sqlite://data/switchboard.db`, `rules/`, [`DELIVERY`],
    /// providers at [`NOWHERE`], every source, [`ROUTING`]; no admin token.
    pub fn new() -> Config {
        Config {
            listen: "127.0.0.1:0".into(),
            max_body_bytes: None,
            admin_token: None,
            body_timeout_ms: None,
            tls: None,
            storage_url: "sqlite://data/switchboard.db".into(),
            delivery: Some(DELIVERY.into()),
            jelou: NOWHERE.into(),
            uchat: NOWHERE.into(),
            aelyst: NOWHERE.into(),
            jelou_client: (JELOU_CLIENT_ID.into(), JELOU_CLIENT_SECRET.into()),
            jelou_extra: String::new(),
            sources: ALL_SOURCES.iter().map(|s| s.to_string()).collect(),
            routing: ROUTING
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra: String::new(),
        }
    }

    /// `[server] listen` (default `127.0.0.1:0`: the kernel picks a free port).
    pub fn listen(mut self, address: &str) -> Config {
        self.listen = address.into();
        self
    }

    pub fn max_body_bytes(mut self, bytes: usize) -> Config {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// `[server] admin_token` (`""` turns the admin API off).
    pub fn body_timeout_ms(mut self, ms: u64) -> Config {
        self.body_timeout_ms = Some(ms);
        self
    }

    pub fn admin_token(mut self, token: &str) -> Config {
        self.admin_token = Some(token.into());
        self
    }

    /// `[storage] url`.
    pub fn storage(mut self, url: &str) -> Config {
        self.storage_url = url.into();
        self
    }

    /// The body of the `[delivery]` table; `None` leaves the table out (built-in defaults).
    pub fn delivery(mut self, table: Option<&str>) -> Config {
        self.delivery = table.map(str::to_string);
        self
    }

    /// The providers' base URLs (a mock server's `uri()`).
    pub fn jelou(mut self, base_url: &str) -> Config {
        self.jelou = base_url.into();
        self
    }

    pub fn uchat(mut self, base_url: &str) -> Config {
        self.uchat = base_url.into();
        self
    }

    pub fn aelyst(mut self, base_url: &str) -> Config {
        self.aelyst = base_url.into();
        self
    }

    /// The Jelou provider's Basic credentials.
    pub fn jelou_client(mut self, id: &str, secret: &str) -> Config {
        self.jelou_client = (id.into(), secret.into());
        self
    }

    /// Extra keys for the `[providers.jelou]` table (e.g. `rate_per_second = 2`).
    pub fn jelou_extra(mut self, keys: &str) -> Config {
        self.jelou_extra = keys.into();
        self
    }

    /// Which of [`ALL_SOURCES`] the config holds.
    pub fn sources(mut self, names: &[&str]) -> Config {
        for name in names {
            assert!(ALL_SOURCES.contains(name), "no source template {name:?}");
        }
        self.sources = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The `[routing]` entries, as (action kind, provider).
    pub fn routing(mut self, entries: &[(&str, &str)]) -> Config {
        self.routing = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    /// `[server] tls_cert` and `tls_key`: serve HTTPS with these PEM files.
    pub fn tls(mut self, cert: &str, key: &str) -> Config {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// TOML appended at the end (whole tables, e.g. `[logging]`).
    pub fn extra(mut self, toml: &str) -> Config {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// The whole file.
    pub fn render(&self) -> String {
        let mut out = format!("[server]\nlisten = \"{}\"\n", self.listen);
        if let Some(bytes) = self.max_body_bytes {
            out += &format!("max_body_bytes = {bytes}\n");
        }
        if let Some(token) = &self.admin_token {
            out += &format!("admin_token = \"{token}\"\n");
        }
        if let Some(ms) = self.body_timeout_ms {
            out += &format!("body_timeout_ms = {ms}\n");
        }
        if let Some((cert, key)) = &self.tls {
            out += &format!("tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n");
        }
        out += &format!(
            "\n[storage]\nurl = \"{}\"\n\n[rules]\ndir = \"rules\"\n",
            self.storage_url
        );
        if let Some(delivery) = &self.delivery {
            out += &format!("\n[delivery]\n{delivery}\n");
        }
        let (client_id, client_secret) = &self.jelou_client;
        out += &format!(
            r#"
[providers.jelou]
kind = "jelou"
base_url = "{jelou}"
client_id = "{client_id}"
client_secret = "{client_secret}"
bot_id = "bot-default"
{jelou_extra}
[providers.uchat]
kind = "uchat"
base_url = "{uchat}"
token = "uchat-api-token"
pause_minutes = 90

[providers.aelyst]
kind = "aelyst"
base_url = "{aelyst}"
token = "aelyst-api-token"
"#,
            jelou = self.jelou,
            uchat = self.uchat,
            aelyst = self.aelyst,
            jelou_extra = if self.jelou_extra.is_empty() {
                String::new()
            } else {
                format!("{}\n", self.jelou_extra)
            },
        );
        for source in &self.sources {
            out += &match source.as_str() {
                "jelou" => {
                    format!("\n[sources.jelou]\nkind = \"jelou\"\nsecret = \"{JELOU_SECRET}\"\n")
                }
                "aelyst" => format!(
                    "\n[sources.aelyst]\nkind = \"aelyst\"\nsecret = \"{AELYST_SECRET}\"\n"
                ),
                "uchat" => {
                    format!("\n[sources.uchat]\nkind = \"uchat\"\ntoken = \"{UCHAT_TOKEN}\"\n")
                }
                "crm" => format!(
                    "\n[sources.crm]\nkind = \"generic\"\n\
                     secret = [\"whsec_c2Vjb25kLXNlY3JldC1rZXktMDEyMzQ1Njc4OQ==\", \"{CRM_SECRET}\"]\n\
                     provider = \"jelou\"\n"
                ),
                other => unreachable!("source {other}"),
            };
        }
        out += "\n[routing]\n";
        for (kind, provider) in &self.routing {
            out += &format!("{kind} = \"{provider}\"\n");
        }
        if !self.extra.is_empty() {
            out += &format!("\n{}", self.extra);
        }
        out
    }

    /// Write the file as `dir/name` (creating `dir/rules` too); its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, self.render()).unwrap();
        path
    }
}
