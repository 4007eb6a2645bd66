//! `spawn_app()`: the real `Application` on port 0 with a wiremock server per provider, a
//! temporary SQLite store and a rules folder of the test's own; a `TestApp` with one method
//! per endpoint and helpers to sign webhooks and wait for an event to finish.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::config::Settings;
use switchboard::inbound::verify::{sign_aelyst, sign_jelou, sign_standard};
use switchboard::startup::Application;
use switchboard::store::{EventTrace, Store};
use tempfile::TempDir;
use tokio::sync::watch;
use wiremock::MockServer;

use crate::common::config::Config;
use crate::common::{self, wait::Lazy, wait::TIMEOUT};

pub use crate::common::config::{AELYST_SECRET, CRM_SECRET, JELOU_SECRET, UCHAT_TOKEN};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// The supervised background tasks (a test may stop one).
    pub tasks: std::sync::Arc<switchboard::supervisor::Tasks>,
    pub jelou: MockServer,
    pub uchat: MockServer,
    pub aelyst: MockServer,
    /// Holds the config, rules and database until the test ends.
    _dir: TempDir,
    stop: watch::Sender<bool>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// What a test may change about the app.
#[derive(Default)]
pub struct Options<'a> {
    /// `(file name, script)` pairs for the rules folder.
    pub rules: &'a [(&'a str, &'a str)],
    /// Extra TOML appended to the generated config.
    pub extra_config: &'a str,
    /// Replaces the generated `[delivery]` table.
    pub delivery: Option<&'a str>,
    pub max_body_bytes: Option<usize>,
    /// Extra keys for the `[providers.jelou]` table.
    pub jelou_extra: &'a str,
    /// The Jelou provider's base URL instead of its mock server's.
    pub jelou_url: Option<&'a str>,
    /// `None`: the default token `ADMIN_TOKEN`; `Some("")` turns the admin API off.
    pub admin_token: Option<&'a str>,
}

pub const ADMIN_TOKEN: &str = "admin-test-token";

pub async fn spawn_app(rules: &[(&str, &str)]) -> TestApp {
    spawn_app_with(Options {
        rules,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options<'_>) -> TestApp {
    let (jelou, uchat, aelyst) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    for (name, script) in options.rules {
        // A name may hold a folder (`shadow/50-x.rhai`).
        let path = dir.path().join("rules").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, script).unwrap();
    }
    let mut config = Config::new()
        .max_body_bytes(options.max_body_bytes.unwrap_or(1_048_576))
        .admin_token(options.admin_token.unwrap_or(ADMIN_TOKEN))
        .delivery(Some(options.delivery.unwrap_or(common::config::DELIVERY)))
        .jelou(options.jelou_url.unwrap_or(&jelou.uri()))
        .uchat(&uchat.uri())
        .aelyst(&aelyst.uri())
        .jelou_extra(options.jelou_extra)
        .extra(options.extra_config);
    if let Some(url) = fresh_postgres_database().await {
        config = config.storage(&url);
    }
    let config_path = config.write(dir.path(), "switchboard.toml");
    let settings = Settings::load(&config_path).expect("test config loads");
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let tasks = app.tasks();
    let stop = app.stopper();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        store,
        tasks,
        jelou,
        uchat,
        aelyst,
        _dir: dir,
        stop,
        running: Some(running),
    }
}

impl TestApp {
    /// Every provider answers 200 with a body each platform reads as success (a UChat
    /// lookup finds one subscriber).
    pub async fn providers_accept_everything(&self) {
        for server in [&self.jelou, &self.uchat, &self.aelyst] {
            wiremock::Mock::given(wiremock::matchers::any())
                .respond_with(
                    wiremock::ResponseTemplate::new(200)
                        .set_body_json(json!({"success": true, "data": [{"user_ns": "n"}]})),
                )
                .mount(server)
                .await;
        }
    }

    pub async fn post_raw(
        &self,
        source: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{source}", self.address))
            .header("Content-Type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().await.expect("request reaches the app")
    }

    /// POST a Jelou webhook signed with the source's secret.
    pub async fn post_jelou(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = sign_jelou(JELOU_SECRET, &bytes);
        self.post_raw("jelou", bytes, &[("X-Jelou-Signature", &signature)])
            .await
    }

    pub async fn post_aelyst(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = sign_aelyst(AELYST_SECRET, &bytes);
        self.post_raw("aelyst", bytes, &[("X-Webhook-Signature", &signature)])
            .await
    }

    pub async fn post_uchat(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.post_raw("uchat", bytes, &[("X-Webhook-Token", UCHAT_TOKEN)])
            .await
    }

    pub async fn post_crm(&self, id: &str, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = sign_standard(CRM_SECRET, id, now, &bytes).unwrap();
        self.post_raw(
            "crm",
            bytes,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", &now.to_string()),
                ("webhook-signature", &signature),
            ],
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request reaches the app")
    }

    pub async fn admin_post(&self, path: &str, body: Option<&Value>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request reaches the app")
    }

    /// The folder holding the config, the rules and (SQLite) the database in `data/`.
    #[allow(dead_code)]
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Run SQL straight on the test's database, beside the application (to plant a bad
    /// row or a failing trigger). Statements separated by `;`, no parameters.
    #[allow(dead_code)]
    pub async fn sql(&self, statements: &str) {
        if crate::POSTGRES {
            let (client, connection) =
                tokio_postgres::connect(&self.storage_url(), tokio_postgres::NoTls)
                    .await
                    .expect("the test database answers");
            tokio::spawn(connection);
            client
                .batch_execute(statements)
                .await
                .expect("test SQL runs");
        } else {
            let path = self._dir.path().join("data/switchboard.db");
            let statements = statements.to_string();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).expect("the test database opens");
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.execute_batch(&statements).expect("test SQL runs");
            })
            .await
            .unwrap();
        }
    }

    /// The value of a counter in `/metrics` (summed over the series whose labels contain
    /// `labels`), 0 when absent.
    #[allow(dead_code)]
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        common::http::metric(&text, name, labels)
    }

    /// Wait (up to [`TIMEOUT`]) until `check` holds; panics with `what` if it never
    /// does.
    #[allow(dead_code)]
    pub async fn wait_until<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        common::wait::wait_until_async(check, what, TIMEOUT).await;
    }

    pub fn rules_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("rules")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the app")
    }

    /// Wait until the event's rules ran and every delivery finished; return its trace.
    pub async fn wait_finished(&self, event_id: &str) -> EventTrace {
        let last = std::sync::Mutex::new(None);
        common::wait::wait_until_async(
            || async {
                let trace = self
                    .store
                    .event_trace(&event_id.parse().unwrap())
                    .await
                    .unwrap();
                let finished = trace
                    .as_ref()
                    .is_some_and(|t| ["done", "failed", "partial"].contains(&t.status.as_str()));
                *last.lock().unwrap() = trace.clone();
                trace.filter(|_| finished)
            },
            Lazy(|| match &*last.lock().unwrap() {
                Some(trace) => format!("event {event_id} to finish: {trace:#?}"),
                None => format!("event {event_id} to be stored"),
            }),
            TIMEOUT,
        )
        .await
    }

    /// Stop the application and start it again on the same config, store and rules, with
    /// the same mock providers.
    pub async fn restart(mut self) -> TestApp {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
        let settings = Settings::load(&self._dir.path().join("switchboard.toml")).unwrap();
        let app = Application::build(settings)
            .await
            .expect("app builds again");
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.store = app.store();
        self.tasks = app.tasks();
        self.stop = app.stopper();
        self.running = Some(tokio::spawn(app.run_until_stopped()));
        self
    }

    /// A second application on the same config (and so the same PostgreSQL database), with
    /// its own port: another instance.
    #[allow(dead_code)] // only the PostgreSQL suite runs several instances
    pub async fn second_instance(&self) -> (String, Store, watch::Sender<bool>) {
        let settings = Settings::load(&self._dir.path().join("switchboard.toml")).unwrap();
        let app = Application::build(settings)
            .await
            .expect("a second instance builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (store, stop) = (app.store(), app.stopper());
        tokio::spawn(app.run_until_stopped());
        (address, store, stop)
    }

    /// The config's storage URL.
    pub fn storage_url(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("switchboard.toml")).unwrap();
        let line = text.lines().find(|l| l.starts_with("url = ")).unwrap();
        line.trim_start_matches("url = ")
            .trim_matches('"')
            .to_string()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
        if crate::POSTGRES {
            drop_postgres_database(&self.storage_url()).await;
        }
    }
}

/// The `event_id` of a 2xx answer.
pub async fn accepted_event_id(response: reqwest::Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "expected 2xx, got {status}: {body}");
    assert_eq!(body["duplicate"], json!(false), "{body}");
    body["event_id"].as_str().unwrap().to_string()
}

/// A Jelou external-support message from WhatsApp user `573001112233`.
pub fn jelou_message(id: &str, text: &str) -> Value {
    json!({
        "object": "message_event", "event_type": "message", "timestamp": 1763770000000_i64,
        "project_id": "p1", "room_id": "r1",
        "contact": {"id": "573001112233", "name": "Ana Soto"},
        "conversation": {"id": "conv-1"}, "bot": {"id": "bot-from-event"},
        "value": {"id": id, "type": "text", "content": {"body": text}}
    })
}

pub fn aelyst_message(id: &str, text: &str) -> Value {
    json!({
        "event_id": id, "event_type": "message.received",
        "contact": {"id": 4242, "firstName": "Ana", "lastName": "Soto", "phone": "+573001112233",
                    "email": "ana@example.com", "tags": ["lead"]},
        "message": {"messageId": 99, "traffic": "incoming", "message": {"type": "text", "text": text}}
    })
}

pub fn uchat_message(id: &str, text: &str) -> Value {
    json!({
        "meta": {"user_ns": "f123u456", "agent_id": 0, "flow_ns": "f123", "team_id": 1},
        "message": {"_id": id, "mid": "m-1", "type": "in", "msg_type": "text", "sender_id": "s-1", "text": text}
    })
}

/// With the PostgreSQL suite: a new, empty database on the test server, as a URL.
pub async fn fresh_postgres_database() -> Option<String> {
    if !crate::POSTGRES {
        return None;
    }
    let base = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL")
        .expect("the PostgreSQL suite needs SWITCHBOARD_TEST_POSTGRES_URL");
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server answers");
    tokio::spawn(connection);
    let name = format!("sb_test_{}", ulid::Ulid::new().to_string().to_lowercase());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database can be created");
    // Same server and credentials, the new database.
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("a postgres:// URL with a database");
    Some(format!("{prefix}/{name}"))
}

/// Remove a test database (connections still open are ended).
async fn drop_postgres_database(url: &str) {
    let base = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap_or_default();
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok((client, connection)) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
