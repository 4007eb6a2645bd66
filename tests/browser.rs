//! Browser tests of the web console (`GET /console`): a headless Chromium driven through
//! chromedriver (fantoccini) against the real `Application` on port 0, with a wiremock
//! server per provider.
//!
//! They need Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`). Without them the tests print a note and pass, unless `CI` is
//! set, where they fail. Each test saves PNGs of its views under `target/screenshots/`
//! (`SWITCHBOARD_SCREENSHOTS=<dir>` elsewhere).
//! See tests/browser/README.md.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use switchboard::config::Settings;
use switchboard::inbound::verify::sign_jelou;
use switchboard::startup::Application;
use tempfile::TempDir;
use tokio::sync::watch;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::config::{Config, JELOU_SECRET};
use common::process::{port_after, ChildGuard};
use common::wait::{wait_until_async, Lazy, TIMEOUT};

/// Debian's `chromium-driver` and `chromium`; `CHROMEDRIVER` and `CHROMIUM` override them.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ADMIN_TOKEN: &str = "console-test-token";

// ---------------------------------------------------------------------------------------
// The application under test
// ---------------------------------------------------------------------------------------

struct TestApp {
    address: String,
    client: reqwest::Client,
    jelou: MockServer,
    _uchat: MockServer,
    _aelyst: MockServer,
    dir: TempDir,
    stop: watch::Sender<bool>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

async fn spawn_app(rules: &[(&str, &str)]) -> TestApp {
    let (jelou, uchat, aelyst) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    for (name, script) in rules {
        let path = dir.path().join("rules").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, script).unwrap();
    }
    let config_path = Config::new()
        .admin_token(ADMIN_TOKEN)
        .jelou(&jelou.uri())
        .uchat(&uchat.uri())
        .aelyst(&aelyst.uri())
        .sources(&["jelou"])
        .write(dir.path(), "switchboard.toml");
    let settings = Settings::load(&config_path).expect("test config loads");
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stopper();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        jelou,
        _uchat: uchat,
        _aelyst: aelyst,
        dir,
        stop,
        running: Some(running),
    }
}

impl TestApp {
    fn rules_dir(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// POST a Jelou webhook signed like Jelou does; the new `event_id`.
    async fn post_jelou(&self, body: &Value) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        let response = self
            .client
            .post(format!("{}/webhooks/jelou", self.address))
            .header("Content-Type", "application/json")
            .header("X-Jelou-Signature", sign_jelou(JELOU_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("the webhook reaches the app");
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert!(status.is_success(), "webhook refused: {status} {answer}");
        answer["event_id"].as_str().unwrap().to_string()
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request reaches the app")
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }
}

/// Every call to the Jelou mock answers 200.
async fn jelou_ok(app: &TestApp) {
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "id": "msg-1"})),
        )
        .mount(&app.jelou)
        .await;
}

/// Jelou answers `400 {"error": "bad user"}` to the first `refusals` requests (a final
/// failure: each becomes a dead letter), then `200` (a redrive succeeds).
async fn jelou_refuses_then_accepts(app: &TestApp, refusals: u64) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad user"})))
        .up_to_n_times(refusals)
        .mount(&app.jelou)
        .await;
    jelou_ok(app).await;
}

/// A Jelou external-support message from WhatsApp user `573001112233`.
fn jelou_message(id: &str, text: &str) -> Value {
    json!({
        "object": "message_event", "event_type": "message", "timestamp": 1763770000000_i64,
        "project_id": "p1", "room_id": "r1",
        "contact": {"id": "573001112233", "name": "Ana Soto"},
        "conversation": {"id": "conv-1"}, "bot": {"id": "bot-from-event"},
        "value": {"id": id, "type": "text", "content": {"body": text}}
    })
}

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/// A fantoccini session on a headless Chromium. Dropping it ends chromedriver and Chromium
/// (chromedriver runs in a process group of its own, which goes whole).
struct Browser {
    client: Client,
    _driver: ChildGuard,
    _profile: TempDir,
    base: String,
}

/// Start chromedriver and a headless Chromium, or `None` (after saying why) when they are
/// not installed and `CI` is not set.
async fn browser(app: &TestApp) -> Option<Browser> {
    let tool =
        |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_string());
    let (chromedriver, chromium) = (
        tool("CHROMEDRIVER", CHROMEDRIVER),
        tool("CHROMIUM", CHROMIUM),
    );
    for (path, what, package) in [
        (&chromedriver, "chromedriver", "chromium-driver"),
        (&chromium, "chromium", "chromium"),
    ] {
        if !Path::new(path).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{path} is missing: install {package} (apt-get install -y chromium chromium-driver) to run the browser tests"
            );
            // Straight to stderr, past the test harness's capture, and once per run.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping browser tests: {what} not found at {path} (apt-get install -y chromium chromium-driver)"
                );
            });
            return None;
        }
    }
    // Port 0: chromedriver binds a free port itself and says which on stdout.
    let logs = tempfile::tempdir().expect("a folder for chromedriver's output");
    let mut command = Command::new(&chromedriver);
    command.arg("--port=0");
    let driver = ChildGuard::spawn_group("chromedriver", command, logs.path());
    let port = wait_until_async(
        || {
            let said = driver.stdout();
            std::future::ready(port_after(&said, "started successfully on port "))
        },
        "chromedriver to say its port",
        TIMEOUT,
    )
    .await;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("chromedriver to be ready", || {
        let (http, url) = (&http, &url);
        async move {
            let status: Value = http
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            status["value"]["ready"].as_bool().filter(|ready| *ready)
        }
    })
    .await;
    let profile = logs;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&url)
        .await
        .expect("a headless Chromium session");
    Some(Browser {
        client,
        _driver: driver,
        _profile: profile,
        base: app.address.clone(),
    })
}

/// Poll `probe` until it gives `Some`, for at most the toolkit's generous [`TIMEOUT`].
async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_until_async(probe, what, TIMEOUT).await
}

fn css(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

impl Browser {
    async fn open_console(&self) {
        self.client
            .goto(&format!("{}/console", self.base))
            .await
            .expect("the console loads");
    }

    /// The text of each visible element matching `selector`, read in one go in the page.
    async fn texts(&self, selector: &str) -> Vec<String> {
        let found = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0]))
                    .filter(e => e.getClientRects().length > 0)
                    .map(e => e.innerText);",
                vec![json!(selector)],
            )
            .await
            .unwrap_or(Value::Null);
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|t| t.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn wait_visible(&self, selector: &str) {
        eventually(&format!("{selector} to show"), || async {
            (!self.texts(selector).await.is_empty()).then_some(())
        })
        .await;
    }

    async fn wait_gone(&self, selector: &str) {
        eventually(&format!("{selector} to go away"), || async {
            self.texts(selector).await.is_empty().then_some(())
        })
        .await;
    }

    /// Wait until a visible element matching `selector` contains `needle`; its whole text.
    async fn wait_text(&self, selector: &str, needle: &str) -> String {
        let shown = std::sync::Mutex::new(Vec::new());
        wait_until_async(
            || async {
                let texts = self.texts(selector).await;
                let hit = texts.iter().find(|t| t.contains(needle)).cloned();
                *shown.lock().unwrap() = texts;
                hit
            },
            Lazy(|| {
                format!(
                    "{selector} to contain {needle:?}; it shows {:?}",
                    shown.lock().unwrap()
                )
            }),
            TIMEOUT,
        )
        .await
    }

    /// Click the first element matching `selector`, waiting for it to be there and clickable.
    async fn click(&self, selector: &str) {
        eventually(&format!("{selector} to be clickable"), || async {
            let element = self.client.find(Locator::Css(selector)).await.ok()?;
            element.click().await.ok()
        })
        .await;
    }

    /// Replace the value of a field with `text`, typed as keys.
    async fn type_into(&self, selector: &str, text: &str) {
        let element = eventually(&format!("{selector} to type into"), || async {
            self.client.find(Locator::Css(selector)).await.ok()
        })
        .await;
        element.clear().await.expect("the field clears");
        element.send_keys(text).await.expect("the field takes keys");
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("the script runs")
    }

    async fn log_in(&self) {
        self.open_console().await;
        self.type_into(&css("login-token"), ADMIN_TOKEN).await;
        self.click(&css("login-submit")).await;
        self.wait_visible(&css("view-events")).await;
    }

    /// Save what the page looks like as `target/screenshots/<name>.png` (CI keeps them as
    /// artifacts), or under `SWITCHBOARD_SCREENSHOTS=<dir>` when set.
    async fn screenshot(&self, name: &str) {
        let dir = std::env::var_os("SWITCHBOARD_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"));
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// The page reports its own bugs (uncaught errors) in a banner; there must be none.
    async fn assert_no_bugs(&self) {
        let bugs = self
            .js("const e = document.querySelector('[data-testid=\"global-error\"]'); return e ? e.textContent : null")
            .await;
        assert_eq!(bugs, json!(""), "the console hit a bug");
    }

    async fn close(self) {
        self.assert_no_bugs().await;
        let Browser { client, .. } = self;
        let _ = client.close().await;
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn log_in_see_a_new_event_arrive_and_read_its_trace() {
    let app = spawn_app(&[("10-hello.rhai", r#"send_text("hello " + event.text);"#)]).await;
    jelou_ok(&app).await;
    let Some(browser) = browser(&app).await else {
        return;
    };

    // A wrong token is refused on the login form.
    browser.open_console().await;
    browser.wait_visible(&css("login-form")).await;
    browser
        .type_into(&css("login-token"), "not-the-token")
        .await;
    browser.click(&css("login-submit")).await;
    browser.wait_text(&css("login-error"), "refused").await;
    assert!(browser.texts(&css("app")).await.is_empty());

    browser.type_into(&css("login-token"), ADMIN_TOKEN).await;
    browser.click(&css("login-submit")).await;
    browser.wait_visible(&css("events-empty")).await;
    assert_eq!(
        browser
            .js("return sessionStorage.length > 0 && localStorage.length === 0")
            .await,
        json!(true),
        "the token is kept for the tab only"
    );

    // An event posted while the page is open shows up without a reload.
    browser
        .js("window.__sameDocument = true; return null")
        .await;
    let event_id = app.post_jelou(&jelou_message("console-1", "hola")).await;
    let row = format!("[data-testid=\"event-row\"][data-event-id=\"{event_id}\"]");
    let text = browser.wait_text(&row, "jelou").await;
    assert!(text.contains("message.received"), "{text}");
    assert!(text.contains("Ana Soto"), "{text}");
    assert_eq!(
        browser.js("return window.__sameDocument === true").await,
        json!(true),
        "the list refreshed itself, the page did not reload"
    );
    browser
        .wait_text(&format!("{row}[data-status=\"done\"]"), "done")
        .await;
    browser.screenshot("events").await;

    // Its trace: what was received, the rule's action, the delivery and its attempt.
    browser
        .click(&format!("{row} [data-testid=\"event-open\"]"))
        .await;
    browser.wait_text(&css("trace-event-id"), &event_id).await;
    let received = browser.wait_text(&css("trace-received"), "jelou").await;
    assert!(
        received.contains("message.received") && received.contains("hola"),
        "{received}"
    );
    let rule = browser.wait_text(&css("trace-rule"), "10-hello.rhai").await;
    assert!(
        rule.contains("send_text") && rule.contains("hello hola"),
        "{rule}"
    );
    browser.wait_text(&css("trace-status"), "done").await;
    browser.wait_text(&css("delivery-status"), "done").await;
    let attempt = browser.wait_text(&css("delivery-attempt"), "200").await;
    assert!(
        attempt.contains("success"),
        "the response excerpt: {attempt}"
    );
    let request = browser.wait_text(&css("delivery-request"), "POST").await;
    assert!(
        request.contains("/v1/bots/bot-from-event/messages"),
        "{request}"
    );
    // The payload is there, folded.
    browser
        .click(&format!("{} summary", css("trace-payload")))
        .await;
    browser.wait_text(&css("trace-payload"), "console-1").await;
    browser.screenshot("trace").await;

    // The dry run shows what a replay would do, and sends nothing.
    browser.click(&css("replay-dry-run")).await;
    browser.wait_text(&css("dry-run-result"), "send_text").await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 1);

    browser.assert_no_bugs().await;
    // Log out: back to the login form, the token forgotten.
    browser.click(&css("logout")).await;
    browser.wait_visible(&css("login-form")).await;
    assert_eq!(browser.js("return sessionStorage.length").await, json!(0));

    // A token the server refuses later (401) sends the page back to the login form.
    browser
        .js("sessionStorage.setItem('switchboard.console.token', 'stale'); location.reload(); return null")
        .await;
    browser.wait_text(&css("login-message"), "401").await;
    assert!(browser.texts(&css("app")).await.is_empty());

    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn redriving_a_dead_letter_marks_it_redriven_and_the_event_is_done() {
    let app = spawn_app(&[("10-text.rhai", r#"send_text("hi");"#)]).await;
    jelou_refuses_then_accepts(&app, 1).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let event_id = app.post_jelou(&jelou_message("console-dead", "hi")).await;
    eventually("the event to fail", || async {
        let trace = app.admin_get(&format!("/admin/events/{event_id}")).await;
        (trace["status"] == "failed").then_some(())
    })
    .await;

    browser.log_in().await;
    browser.click(&css("tab-dead-letters")).await;
    let card = format!("[data-testid=\"dead-letter\"][data-event-id=\"{event_id}\"]");
    let text = browser.wait_text(&card, "send_text").await;
    assert!(text.contains("final_status"), "the reason: {text}");
    assert!(
        text.contains("retrying cannot change"),
        "the reason in words: {text}"
    );
    assert!(text.contains("400"), "the last status: {text}");
    browser
        .wait_text(&css("dead-letters-total"), "1 dead letter")
        .await;
    browser
        .click(&format!(
            "{card} [data-testid=\"dead-letter-details-toggle\"]"
        ))
        .await;
    let details = browser
        .wait_text(&css("dead-letter-details"), "bad user")
        .await;
    assert!(
        details.contains("/v1/bots/bot-from-event/messages"),
        "the request: {details}"
    );
    browser.screenshot("dead-letters").await;

    browser
        .click(&format!("{card} [data-testid=\"dead-letter-redrive\"]"))
        .await;
    browser
        .wait_text(&format!("{card}[data-state=\"redriven\"]"), "redriven")
        .await;
    browser
        .wait_text(&css("dead-letters-note"), "redriven")
        .await;
    assert!(browser.texts(&css("dead-letter-redrive")).await.is_empty());

    // The event is done now: its row in the list says so, and its trace shows both attempts.
    browser.click(&css("tab-events")).await;
    let row = format!("[data-testid=\"event-row\"][data-event-id=\"{event_id}\"]");
    browser
        .wait_text(&format!("{row}[data-status=\"done\"]"), "done")
        .await;
    browser
        .click(&format!("{row} [data-testid=\"event-open\"]"))
        .await;
    browser.wait_text(&css("trace-status"), "done").await;
    browser.wait_text(&css("delivery-attempt"), "400").await;
    browser.wait_text(&css("delivery-attempt"), "200").await;
    assert_eq!(browser.texts(&css("delivery-attempt")).await.len(), 2);
    browser.screenshot("trace-after-redrive").await;

    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_try_it_panel_shows_the_actions_their_requests_and_rule_errors() {
    let app = spawn_app(&[
        ("10-text.rhai", r#"send_text("echo: " + event.text);"#),
        ("20-bad.rhai", r#"throw "nope";"#),
    ])
    .await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    browser.log_in().await;
    browser.click(&css("tab-try")).await;
    browser.wait_visible(&css("try-form")).await;
    browser.type_into(&css("try-source"), "jelou").await;

    browser.type_into(&css("try-payload"), "{not json").await;
    browser.click(&css("try-run")).await;
    browser.wait_text(&css("try-error"), "not valid JSON").await;

    let payload = serde_json::to_string_pretty(&jelou_message("try-1", "precio")).unwrap();
    browser.type_into(&css("try-payload"), &payload).await;
    browser.click(&css("try-run")).await;
    browser.wait_text(&css("action-name"), "send_text").await;
    let request = browser.wait_text(&css("action-request"), "POST").await;
    assert!(
        request.contains("/v1/bots/bot-from-event/messages"),
        "{request}"
    );
    assert!(
        request.contains("echo: precio"),
        "the request body: {request}"
    );
    let url = browser.texts(&css("action-request-url")).await;
    assert!(url[0].starts_with(&app.jelou.uri()), "{url:?}");
    browser
        .wait_text(&css("try-rule-error"), "20-bad.rhai:1:1: nope")
        .await;
    assert!(browser.texts(&css("try-error")).await.is_empty());
    browser.screenshot("try-it").await;

    // An unknown source is the server's 400, shown as such.
    browser.type_into(&css("try-source"), "nowhere").await;
    browser.click(&css("try-run")).await;
    browser.wait_text(&css("try-error"), "400").await;

    assert!(
        app.jelou.received_requests().await.unwrap().is_empty(),
        "try-it sends nothing"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_rules_tab_shows_each_file_and_a_broken_save() {
    let app = spawn_app(&[
        ("10-a.rhai", r#"send_text("a");"#),
        ("20-b.rhai", "let x = 1;"),
    ])
    .await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    browser.log_in().await;
    browser.click(&css("tab-rules")).await;
    let file = |name: &str| format!("[data-testid=\"rule-file\"][data-file=\"{name}\"]");
    browser.wait_text(&file("10-a.rhai"), "active").await;
    browser.wait_text(&file("20-b.rhai"), "active").await;
    assert!(browser.texts(&css("rule-error-text")).await.is_empty());

    // A broken save: the server reloads by itself, the page refreshes by itself.
    std::fs::write(app.rules_dir().join("10-a.rhai"), "send_text(\"oops\";\n").unwrap();
    std::fs::write(app.rules_dir().join("30-c.rhai"), r#"send_text("c");"#).unwrap();
    let error = browser
        .wait_text(
            &format!("{} {}", file("10-a.rhai"), css("rule-error-text")),
            "10-a.rhai:1:",
        )
        .await;
    assert!(!error.trim().is_empty());
    let broken = browser.texts(&file("10-a.rhai")).await.join(" ");
    assert!(
        broken.contains("active") && !broken.contains("inactive"),
        "the previous version still runs: {broken}"
    );
    browser.wait_text(&file("30-c.rhai"), "inactive").await;
    // The banner says the files on disk are not what runs, and which set runs.
    let banner = browser
        .wait_text(&css("rules-banner"), "rules on disk are not running: ")
        .await;
    assert!(
        banner.contains("10-a.rhai:1:") && banner.contains("running the set loaded at"),
        "{banner}"
    );
    browser
        .wait_text(
            &format!("{} {}", file("10-a.rhai"), css("rule-disk-differs")),
            "broken",
        )
        .await;
    browser.screenshot("rules").await;

    browser.close().await;
    app.stop().await;
}

/// A Jelou message from user `57300<n>` (one user each, so their deliveries run side by side).
fn jelou_message_from(n: usize, text: &str) -> Value {
    let mut body = jelou_message(&format!("bulk-{n}"), text);
    body["contact"]["id"] = json!(format!("57300{n:07}"));
    body
}

#[tokio::test]
async fn a_provider_paused_from_the_console_attempts_nothing_until_resumed() {
    let app = spawn_app(&[("10-text.rhai", r#"send_text("hi");"#)]).await;
    jelou_ok(&app).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    browser.log_in().await;
    browser.click(&css("tab-providers")).await;
    let jelou = "[data-testid=\"provider\"][data-name=\"jelou\"]";
    browser.wait_text(jelou, "active").await;
    browser
        .click(&format!("{jelou} [data-testid=\"provider-pause\"]"))
        .await;
    browser
        .wait_text(&format!("{jelou}[data-state=\"paused\"]"), "operator")
        .await;
    browser.wait_text(&css("providers-result"), "paused").await;
    let entry = app.admin_get("/admin/providers").await;
    let state = entry["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "jelou")
        .unwrap()["state"]
        .clone();
    assert_eq!(state, json!("paused"));

    // While paused the event's delivery waits: the page counts it, nothing reaches Jelou.
    let event_id = app.post_jelou(&jelou_message("paused-1", "hi")).await;
    browser
        .wait_text(&format!("{jelou} [data-testid=\"provider-waiting\"]"), "1")
        .await;
    browser.screenshot("providers-paused").await;
    let trace = app.admin_get(&format!("/admin/events/{event_id}")).await;
    let delivery = &trace["deliveries"][0];
    assert_eq!(
        delivery["attempts"],
        json!([]),
        "attempted while paused: {trace}"
    );
    assert_ne!(delivery["status"], json!("dead"), "{trace}");
    assert!(app.jelou.received_requests().await.unwrap().is_empty());

    browser
        .click(&format!("{jelou} [data-testid=\"provider-resume\"]"))
        .await;
    browser
        .wait_text(&format!("{jelou}[data-state=\"active\"]"), "active")
        .await;
    eventually("the waiting delivery to go out after resume", || async {
        let trace = app.admin_get(&format!("/admin/events/{event_id}")).await;
        (trace["status"] == "done").then_some(())
    })
    .await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 1);
    browser
        .wait_text(&format!("{jelou} [data-testid=\"provider-waiting\"]"), "0")
        .await;
    browser.screenshot("providers").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_thousand_dead_letters_are_redriven_in_bulk_from_the_console_and_all_delivered() {
    const LETTERS: usize = 1_000;
    let app = spawn_app(&[("10-text.rhai", r#"send_text("hi");"#)]).await;
    jelou_refuses_then_accepts(&app, LETTERS as u64).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    for n in 0..LETTERS {
        app.post_jelou(&jelou_message_from(n, "hi")).await;
    }
    eventually("a dead letter for every event", || async {
        let page = app.admin_get("/admin/dead-letters?limit=1").await;
        (page["total"] == json!(LETTERS)).then_some(())
    })
    .await;

    browser.log_in().await;
    browser.click(&css("tab-dead-letters")).await;
    browser
        .wait_text(&css("dead-letters-total"), "1,000 dead letters match")
        .await;
    assert_eq!(browser.texts(&css("dead-letter")).await.len(), 50);
    browser.wait_text(&css("dl-page"), "showing 1–50").await;
    // The next page, and back.
    browser.click(&css("dl-older")).await;
    browser.wait_text(&css("dl-page"), "showing 51–100").await;
    browser.click(&css("dl-newer")).await;
    browser.wait_text(&css("dl-page"), "showing 1–50").await;

    browser.click(&css("dl-select-page")).await;
    browser.wait_text(&css("dl-selected"), "50 selected").await;
    browser.click(&css("dl-select-all")).await;
    browser
        .wait_text(&css("dl-selected"), "All 1,000 matching")
        .await;
    browser.click(&css("dl-bulk-redrive")).await;
    let ask = browser
        .wait_text(&css("dl-confirm-text"), "Redrive all 1,000 dead letters")
        .await;
    assert!(ask.contains("user_unknown"), "{ask}");
    browser.screenshot("dead-letters-bulk-confirm").await;
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        LETTERS,
        "nothing is redriven before the confirmation"
    );
    browser.click(&css("dl-confirm-yes")).await;
    browser.wait_gone(&css("dl-confirm")).await;
    browser
        .wait_text(&css("dead-letters-note"), "1,000 dead letters redriven")
        .await;

    eventually("every redriven delivery to be delivered", || async {
        let done = app.admin_get("/admin/events?status=done&limit=1").await;
        (done["total"] == json!(LETTERS)).then_some(())
    })
    .await;
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        2 * LETTERS
    );
    browser.wait_text(&css("dead-letter"), "redriven").await;
    assert!(browser.texts(&css("dead-letter-redrive")).await.is_empty());
    browser.screenshot("dead-letters-after-bulk").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn search_keeps_its_view_in_the_url_and_new_events_wait_behind_a_banner() {
    let app = spawn_app(&[("10-text.rhai", r#"send_text("hi");"#)]).await;
    jelou_ok(&app).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let priced = app
        .post_jelou(&jelou_message_from(1, "cuanto cuesta el plan premium"))
        .await;
    let greeting = app
        .post_jelou(&jelou_message_from(2, "hola buenos dias"))
        .await;
    let row = |id: &str| format!("[data-testid=\"event-row\"][data-event-id=\"{id}\"]");
    browser.log_in().await;
    browser.wait_visible(&row(&priced)).await;
    browser.wait_visible(&row(&greeting)).await;

    // "/" focuses the search box.
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("/").await.unwrap();
    eventually("the search box to take the focus", || async {
        (browser.js("return document.activeElement.id").await == json!("f-q")).then_some(())
    })
    .await;
    browser.type_into(&css("events-search"), "premium").await;
    browser.click(&css("filters-apply")).await;
    browser.wait_gone(&row(&greeting)).await;
    browser.wait_visible(&row(&priced)).await;
    browser
        .wait_text(&css("events-count"), "1 shown of 1 matching")
        .await;
    let hash = browser.js("return location.hash").await;
    assert!(
        hash.as_str().unwrap().contains("q=premium"),
        "the search is in the URL: {hash}"
    );

    // A reload (or the link sent to a colleague) shows the same view.
    browser.js("location.reload(); return null").await;
    browser.wait_visible(&row(&priced)).await;
    assert!(browser.texts(&row(&greeting)).await.is_empty());
    assert_eq!(
        browser
            .js("return document.getElementById('f-q').value")
            .await,
        json!("premium")
    );

    // A new matching event does not move the rows: a banner counts it until asked for.
    let newer = app
        .post_jelou(&jelou_message_from(3, "y el plan premium anual"))
        .await;
    browser.wait_text(&css("events-new"), "1 new event").await;
    assert!(browser.texts(&row(&newer)).await.is_empty());
    browser.screenshot("events-search").await;
    browser.click(&css("events-new")).await;
    browser.wait_visible(&row(&newer)).await;
    browser.wait_gone(&css("events-new")).await;

    // Escape closes the trace.
    browser
        .click(&format!("{} [data-testid=\"event-open\"]", row(&priced)))
        .await;
    browser.wait_text(&css("trace-event-id"), &priced).await;
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("\u{E00C}").await.unwrap();
    browser.wait_gone(&css("trace")).await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_draft_rule_with_a_syntax_error_is_shown_at_its_line_and_a_good_one_runs_and_backtests() {
    let app = spawn_app(&[("10-text.rhai", r#"send_text("echo: " + event.text);"#)]).await;
    jelou_ok(&app).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let earlier = app.post_jelou(&jelou_message("draft-1", "precio")).await;
    eventually("the earlier event to be done", || async {
        let trace = app.admin_get(&format!("/admin/events/{earlier}")).await;
        (trace["status"] == "done").then_some(())
    })
    .await;
    browser.log_in().await;
    browser.click(&css("tab-try")).await;
    browser.type_into(&css("try-source"), "jelou").await;
    let payload = serde_json::to_string(&jelou_message("draft-2", "precio")).unwrap();
    browser.type_into(&css("try-payload"), &payload).await;
    browser
        .click(&format!("{} summary", css("try-draft-box")))
        .await;
    browser
        .type_into(
            &css("try-draft"),
            "let greeting = \"hola\";\nsend_text(greeting;\n",
        )
        .await;
    browser.click(&css("try-run")).await;
    let error = browser.wait_text(&css("try-draft-error"), "line 2").await;
    assert!(error.contains("50-draft.rhai"), "{error}");
    assert_eq!(browser.texts(&css("try-draft-bad-line")).await, vec!["2"]);
    browser.screenshot("try-draft-error").await;

    browser
        .type_into(
            &css("try-draft"),
            "send_text(\"draft says \" + event.text);\n",
        )
        .await;
    browser.click(&css("try-run")).await;
    browser
        .wait_text(&css("action-request"), "draft says precio")
        .await;
    browser.wait_gone(&css("try-draft-error")).await;
    assert!(browser.texts(&css("try-draft-bad-line")).await.is_empty());

    // Invalid JSON clears the old result and says what is wrong.
    browser.type_into(&css("try-payload"), "{\"oops\": ").await;
    browser.click(&css("try-run")).await;
    browser.wait_text(&css("try-error"), "not valid JSON").await;
    assert!(browser.texts(&css("action-request")).await.is_empty());

    // The draft over the last 24 h: the earlier event would get another text.
    browser.click(&css("try-backtest")).await;
    let summary = browser
        .wait_text(&css("try-backtest-summary"), "1 event in the last 24 h")
        .await;
    assert!(
        summary.contains("1 would get different actions"),
        "{summary}"
    );
    browser
        .wait_text(&css("try-backtest-changed"), &earlier)
        .await;
    browser.screenshot("try-draft-backtest").await;
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        1,
        "try and backtest send nothing"
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_overview_rejections_and_shadow_pages_show_what_happened() {
    let app = spawn_app(&[
        ("10-text.rhai", r#"send_text("hi");"#),
        (
            "shadow/20-new.rhai",
            r#"send_text("shadow hi"); add_tag("vip");"#,
        ),
    ])
    .await;
    jelou_ok(&app).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let event_id = app.post_jelou(&jelou_message("overview-1", "hola")).await;
    eventually("the event to be done", || async {
        let trace = app.admin_get(&format!("/admin/events/{event_id}")).await;
        (trace["status"] == "done").then_some(())
    })
    .await;
    // A webhook with a bad signature is refused.
    let refused = app
        .client
        .post(format!("{}/webhooks/jelou", app.address))
        .header("Content-Type", "application/json")
        .header("X-Jelou-Signature", "forged")
        .body(serde_json::to_vec(&jelou_message("forged-1", "x")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    browser.log_in().await;
    browser.click(&css("tab-overview")).await;
    let all = browser
        .wait_text(
            &format!("{} {}", css("overview-all"), css("chart-received")),
            "Received",
        )
        .await;
    assert!(all.contains("Received 1"), "{all}");
    browser
        .wait_text(
            &format!(
                "[data-testid=\"overview-provider\"][data-name=\"jelou\"] {}",
                css("chart-delivered")
            ),
            "Delivered 1",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('[data-testid=\"overview-all\"] svg rect').length > 0")
            .await,
        json!(true),
        "the chart is drawn"
    );
    browser.screenshot("overview").await;

    browser.click(&css("tab-rejections")).await;
    let rejection = browser.wait_text(&css("rejection"), "401").await;
    assert!(rejection.contains("jelou"), "{rejection}");
    browser.screenshot("rejections").await;

    browser.click(&css("tab-shadow")).await;
    let shadow = "[data-testid=\"shadow-rule\"][data-file=\"20-new.rhai\"]";
    browser
        .wait_text(&format!("{shadow} {}", css("shadow-events")), "1")
        .await;
    browser
        .wait_text(&format!("{shadow} {}", css("shadow-actions")), "2")
        .await;
    browser
        .wait_text(&format!("{shadow} {}", css("shadow-differs")), "1")
        .await;
    browser.screenshot("shadow").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn every_page_fits_a_390_px_phone_without_sideways_scrolling() {
    let app = spawn_app(&[("10-text.rhai", r#"send_text("hi");"#)]).await;
    jelou_refuses_then_accepts(&app, 1).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let event_id = app
        .post_jelou(&jelou_message(
            "phone-1",
            "un mensaje bastante largo para ver si cabe en la pantalla",
        ))
        .await;
    eventually("the dead letter", || async {
        let page = app.admin_get("/admin/dead-letters").await;
        (page["total"] == json!(1)).then_some(())
    })
    .await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.log_in().await;
    let views = [
        "overview",
        "events",
        "providers",
        "dead-letters",
        "rejections",
        "rules",
        "shadow",
        "try",
    ];
    for view in views {
        browser
            .js(&format!("location.hash = '#/{view}'; return null"))
            .await;
        browser.wait_visible(&css(&format!("view-{view}"))).await;
        if view == "events" {
            browser
                .click(&format!(
                    "[data-event-id=\"{event_id}\"] [data-testid=\"event-open\"]"
                ))
                .await;
            browser.wait_text(&css("trace-event-id"), &event_id).await;
        }
        // Wait for the view's data to be drawn, then measure.
        let drawn = match view {
            "overview" => "overview-all",
            "providers" => "provider",
            "dead-letters" => "dead-letter",
            "rules" => "rule-file",
            _ => "",
        };
        if !drawn.is_empty() {
            browser.wait_visible(&css(drawn)).await;
        }
        let wide = eventually(&format!("{view} to be drawn"), || async {
            let overflow = browser
                .js("const w = document.documentElement.clientWidth;
                     const inner = Array.from(document.querySelectorAll('.table-wrap'))
                       .filter(e => e.getClientRects().length && e.scrollWidth > e.clientWidth + 1)
                       .map(e => 'a table scrolls inside ' + (e.closest('section') || {}).id);
                     if (inner.length) return inner;
                     if (document.documentElement.scrollWidth <= w) return [];
                     return Array.from(document.querySelectorAll('body *'))
                       .filter(e => e.getBoundingClientRect().right > w + 1 && e.getClientRects().length)
                       .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + e.getAttribute('data-testid'));")
                .await;
            Some(overflow)
        })
        .await;
        browser.screenshot(&format!("phone-{view}")).await;
        assert_eq!(
            wide,
            json!([]),
            "{view} scrolls sideways at 390 px; too wide: {wide}"
        );
    }
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_dead_delivery_is_explained_and_redriven_from_its_trace() {
    let app = spawn_app(&[
        ("10-text.rhai", r#"send_text("hi");"#),
        ("20-quiet.rhai", "let nothing = 1;"),
    ])
    .await;
    jelou_refuses_then_accepts(&app, 1).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let event_id = app.post_jelou(&jelou_message("trace-dead", "hi")).await;
    eventually("the event to fail", || async {
        let trace = app.admin_get(&format!("/admin/events/{event_id}")).await;
        (trace["status"] == "failed").then_some(())
    })
    .await;
    browser.log_in().await;
    // Its row says what happened: the text, one action, and why it failed, in red.
    let row = format!("[data-testid=\"event-row\"][data-event-id=\"{event_id}\"]");
    browser.wait_visible(&row).await;
    assert_eq!(
        browser
            .texts(&format!("{row} [data-testid=\"event-text\"]"))
            .await,
        vec!["hi".to_string()]
    );
    assert_eq!(
        browser
            .texts(&format!("{row} [data-testid=\"event-actions\"]"))
            .await,
        vec!["1 action".to_string()]
    );
    assert_eq!(
        browser
            .texts(&format!("{row} [data-testid=\"event-error\"]"))
            .await,
        vec!["dead letter: final_status (HTTP 400)".to_string()]
    );
    assert_eq!(
        browser
            .js(&format!(
                "return getComputedStyle(document.querySelector('{row} [data-testid=\"event-error\"]')).color"
            ))
            .await,
        json!("rgb(179, 38, 30)"),
        "the error is red (--bad)"
    );
    browser
        .js(&format!(
            "location.hash = '#/events/{event_id}'; return null"
        ))
        .await;
    browser.wait_text(&css("trace-status"), "failed").await;
    // Each attempt says how long it took.
    browser.wait_text(&css("attempt-duration"), " ms").await;
    browser
        .wait_text(&css("delivery-reason-words"), "retrying cannot change")
        .await;
    // The rule that decided nothing is folded away; the one that acted is shown.
    browser
        .wait_text(&css("trace-quiet-rules"), "1 rule ran with no actions")
        .await;
    // (A folded card has no text to read.)
    let shown: Vec<String> = browser
        .texts(&css("trace-rule"))
        .await
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].contains("10-text.rhai"), "{shown:?}");
    browser.screenshot("trace-dead").await;

    let letter = app.admin_get("/admin/dead-letters").await["dead_letters"][0]["id"].clone();
    browser.click(&css("delivery-redrive")).await;
    // Redriven by the letter the trace names, without looking it up.
    browser
        .wait_text(
            &css("replay-result"),
            &format!("Dead letter #{letter} redriven"),
        )
        .await;
    browser.wait_text(&css("trace-status"), "done").await;
    browser.wait_text(&css("delivery-attempt"), "200").await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 2);
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn five_thousand_events_are_counted_paged_and_searched() {
    use futures_util::{stream, StreamExt};
    const EVENTS: usize = 5_000;
    let app = spawn_app(&[]).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let needle = 4_321;
    stream::iter(0..EVENTS)
        .for_each_concurrent(16, |n| {
            let app = &app;
            async move {
                let text = if n == needle {
                    "quiero una zanahoria".to_string()
                } else {
                    format!("mensaje numero {n}")
                };
                app.post_jelou(&jelou_message_from(n, &text)).await;
            }
        })
        .await;
    browser.log_in().await;
    browser
        .wait_text(&css("events-count"), "50 shown of 5,000 matching")
        .await;
    assert_eq!(browser.texts(&css("event-row")).await.len(), 50);
    browser.click(&css("events-older")).await;
    browser
        .wait_text(&css("events-count"), "100 shown of 5,000 matching")
        .await;
    browser.screenshot("events-5000").await;

    browser.type_into(&css("events-search"), "zanahoria").await;
    browser.click(&css("filters-apply")).await;
    browser
        .wait_text(&css("events-count"), "1 shown of 1 matching")
        .await;
    let row = browser.wait_text(&css("event-row"), "jelou").await;
    assert!(row.contains(&format!("57300{needle:07}")), "{row}");
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_first_event_is_a_few_tab_presses_from_the_start_and_escape_closes_its_trace() {
    let app = spawn_app(&[]).await;
    let Some(browser) = browser(&app).await else {
        return;
    };
    let first = app.post_jelou(&jelou_message("keys-1", "hola")).await;
    browser.log_in().await;
    let row = format!("[data-testid=\"event-row\"][data-event-id=\"{first}\"]");
    browser.wait_visible(&row).await;
    // From the page's start (a reload: nothing has the focus).
    browser.js("location.reload(); return null").await;
    browser.wait_visible(&row).await;
    let active = || async {
        browser
            .js(&format!(
                "const a = document.activeElement; \
                 return a.closest('{row}') ? 'first-row' : (a.dataset.testid || a.tagName)"
            ))
            .await
    };
    let (mut tabs, mut reached) = (0, false);
    while tabs < 5 && !reached {
        let focused = browser.client.active_element().await.unwrap();
        focused.send_keys("\u{E004}").await.unwrap(); // Tab
        tabs += 1;
        let now = active().await;
        if tabs == 1 {
            assert_eq!(
                now,
                json!("skip-link"),
                "the first Tab stop skips to the content"
            );
            // Enter follows it (not a Tab press).
            let link = browser.client.active_element().await.unwrap();
            link.send_keys("\u{E007}").await.unwrap();
        }
        reached = active().await == json!("first-row");
    }
    assert!(
        reached,
        "the first event row within 5 Tab presses (at {tabs})"
    );
    eprintln!("the first event row took {tabs} Tab presses");
    // Enter opens its trace; Escape closes it.
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    browser.wait_text(&css("trace-event-id"), &first).await;
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys("\u{E00C}").await.unwrap();
    browser.wait_gone(&css("trace")).await;
    browser.assert_no_bugs().await;
    browser.close().await;
    app.stop().await;
}
