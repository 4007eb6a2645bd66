//! docs/guarantees.md under fire: the built binary under concurrent load is killed with SIGKILL and
//! restarted; every event answered 202 is carried out, and only requests that were in flight
//! at the kill may repeat. A SIGTERM stops it cleanly (exit 0) with nothing repeated.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod common;
use common::config::{Config, JELOU_SECRET};
use common::process::Serve;
use common::wait::{wait_until_async, Lazy, TIMEOUT};

const MAX_IN_FLIGHT: usize = 4;
/// How many accepted events make "under load" (the kill comes once this many are in).
const LOAD: usize = 300;

/// Counts every text the provider receives.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<HashMap<String, usize>>>);

impl Respond for Counter {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if let Some(text) = body["text"].as_str() {
            *self.0.lock().unwrap().entry(text.to_string()).or_default() += 1;
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"success": true}))
            .set_delay(Duration::from_millis(10))
    }
}

/// The test's config: one Jelou provider (the counting mock) and source, a store of its
/// own, retries that come quickly.
fn write_config(dir: &Path, provider: &str) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/send.rhai"), "send_text(event.text);").unwrap();
    Config::new()
        .storage("sqlite://data/crash.db")
        .delivery(Some(&format!(
            "max_attempts = 10\nbackoff_base_ms = 50\nbackoff_max_ms = 500\ntimeout_ms = 5000\nmax_in_flight = {MAX_IN_FLIGHT}"
        )))
        .jelou(provider)
        .sources(&["jelou"])
        .write(dir, "switchboard.toml");
}

/// `switchboard serve` on port 0 (the restart gets a port of its own: nothing needs the old
/// address), ready to take webhooks.
async fn start(dir: &Path, name: &str) -> Serve {
    let mut server = Serve::start_async(dir, "switchboard.toml", name).await;
    server.wait_ready_async().await;
    server
}

/// One signed Jelou message from its own user whose text is `id`.
async fn post(client: &reqwest::Client, port: u16, id: &str, user: usize) -> Option<u16> {
    let body = serde_json::to_vec(&json!({
        "object": "message_event", "contact": {"id": format!("57300{user:07}")},
        "bot": {"id": "b"}, "value": {"id": id, "type": "text", "content": {"body": id}}
    }))
    .unwrap();
    let response = client
        .post(format!("http://127.0.0.1:{port}/webhooks/jelou"))
        .header("X-Jelou-Signature", sign_jelou(JELOU_SECRET, &body))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

async fn wait_delivered(counter: &Counter, accepted: &HashSet<String>) {
    let missing = || -> Vec<String> {
        let seen = counter.0.lock().unwrap();
        accepted
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect()
    };
    wait_until_async(
        || std::future::ready(missing().is_empty()),
        Lazy(|| {
            let missing = missing();
            format!(
                "every accepted event to reach the provider; {} never did, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            )
        }),
        TIMEOUT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_under_load_loses_no_accepted_event_and_repeats_only_what_was_in_flight() {
    let provider = MockServer::start().await;
    let counter = Counter::default();
    Mock::given(any())
        .respond_with(counter.clone())
        .mount(&provider)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &provider.uri());
    let mut server = start(dir.path(), "serve").await;
    let port = server.port();

    // 16 clients post as fast as they can; every 202 is a promise.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..16 {
        let (accepted, stop) = (accepted.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let id = format!("c{c}-{n}");
                match post(&client, port, &id, c * 100_000 + n).await {
                    Some(202) => {
                        accepted.lock().unwrap().insert(id);
                    }
                    Some(status) => panic!("unexpected status {status}"),
                    None => break, // the server is gone
                }
            }
        }));
    }
    // Kill it in the thick of it: once plenty has been accepted (a count, not a clock).
    wait_until_async(
        || std::future::ready(accepted.lock().unwrap().len() >= LOAD),
        format!("{LOAD} events accepted under load"),
        TIMEOUT,
    )
    .await;
    server.kill(); // SIGKILL
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let delivered_before = counter.0.lock().unwrap().len();
    assert!(
        accepted.len() > 100,
        "too little load to mean anything: {}",
        accepted.len()
    );
    assert!(
        delivered_before < accepted.len(),
        "the kill came after everything was delivered; nothing was tested"
    );

    let _restarted = start(dir.path(), "restarted").await;
    wait_delivered(&counter, &accepted).await;
    let seen = counter.0.lock().unwrap().clone();
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.len() <= MAX_IN_FLIGHT,
        "{} deliveries repeated, more than the {MAX_IN_FLIGHT} that can be in flight: {repeated:?}",
        repeated.len()
    );
    eprintln!(
        "kill test: {} accepted, {} delivered before the kill, {} repeated after the restart",
        accepted.len(),
        delivered_before,
        repeated.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_exits_0_and_repeats_nothing() {
    let provider = MockServer::start().await;
    let counter = Counter::default();
    Mock::given(any())
        .respond_with(counter.clone())
        .mount(&provider)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &provider.uri());
    let mut server = start(dir.path(), "serve").await;
    let port = server.port();
    let client = reqwest::Client::new();
    let mut accepted = HashSet::new();
    for n in 0..40 {
        let id = format!("t-{n}");
        assert_eq!(post(&client, port, &id, n).await, Some(202));
        accepted.insert(id);
    }
    server.signal("TERM");
    // However long the stop takes on a busy machine, it must come, and cleanly.
    let status = server.wait_exit_async().await;
    let log = server.stderr();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopped"), "{log}");
    let _restarted = start(dir.path(), "restarted").await;
    wait_delivered(&counter, &accepted).await;
    let seen = counter.0.lock().unwrap().clone();
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "a clean stop repeated {repeated:?}");
}
