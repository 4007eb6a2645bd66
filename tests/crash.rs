//! Contract §7 under fire: the built binary under concurrent load is killed with SIGKILL and
//! restarted; every event answered 202 is carried out, and only requests that were in flight
//! at the kill may repeat. A SIGTERM stops it cleanly (exit 0) with nothing repeated.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "crash-secret";
const MAX_IN_FLIGHT: usize = 4;

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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16, provider: &str) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/send.rhai"), "send_text(event.text);").unwrap();
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[storage]
url = "sqlite://data/crash.db"
[delivery]
max_attempts = 10
backoff_base_ms = 50
backoff_max_ms = 500
timeout_ms = 5000
max_in_flight = {MAX_IN_FLIGHT}
[providers.jelou]
kind = "jelou"
base_url = "{provider}"
client_id = "i"
client_secret = "s"
bot_id = "b"
[sources.jelou]
kind = "jelou"
secret = "{SECRET}"
"#
        ),
    )
    .unwrap();
}

fn start(dir: &Path) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    Server(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--config", "switchboard.toml"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve starts"),
    )
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "serve did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        .header("X-Jelou-Signature", sign_jelou(SECRET, &body))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

async fn wait_delivered(counter: &Counter, accepted: &HashSet<String>, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<String> = {
            let seen = counter.0.lock().unwrap();
            accepted
                .iter()
                .filter(|id| !seen.contains_key(*id))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} accepted event(s) never reached the provider, e.g. {:?}\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let port = free_port();
    write_config(dir.path(), port, &provider.uri());
    let mut server = start(dir.path());
    wait_ready(port).await;

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
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
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

    let _restarted = start(dir.path());
    wait_ready(port).await;
    wait_delivered(&counter, &accepted, dir.path()).await;
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
    let port = free_port();
    write_config(dir.path(), port, &provider.uri());
    let mut server = start(dir.path());
    wait_ready(port).await;
    let client = reqwest::Client::new();
    let mut accepted = HashSet::new();
    for n in 0..40 {
        let id = format!("t-{n}");
        assert_eq!(post(&client, port, &id, n).await, Some(202));
        accepted.insert(id);
    }
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopped"), "{log}");
    let _restarted = start(dir.path());
    wait_ready(port).await;
    wait_delivered(&counter, &accepted, dir.path()).await;
    let seen = counter.0.lock().unwrap().clone();
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "a clean stop repeated {repeated:?}");
}
