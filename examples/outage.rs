//! The outage drill: how Switchboard holds up when its provider is down, and how fast it
//! catches up when the provider is back.
//!
//! Two runs on fresh stores, each posting EVENTS signed webhooks from USERS users at full
//! speed (one `send_text` action each) to `switchboard serve`:
//! 1. **provider up** (the baseline): ingest rate and p99, and the end-to-end rate from an
//!    empty queue (first post to last provider call);
//! 2. **provider down** (the sink answers 503): ingest rate and p99 against the baseline,
//!    peak WAL size (SQLite) and peak RSS of the server; then the sink answers 200 again and
//!    the drill reports the drain rate (deliveries per second from the moment the provider
//!    is back until the last one arrives), the same from the first delivery on (the wait
//!    before it, for the breaker's probe and the retries' due times, is reported apart, so a
//!    small backlog is not charged for it), and whether anything arrived twice.
//!
//! Run: `cargo build --release --bins --examples && target/release/examples/outage [EVENTS] [USERS]`
//! (defaults 100000 and 10000). Environment: `CONNECTIONS` (64), `STORAGE_URL` (default
//! SQLite in a temp dir; a `postgres://` URL is emptied first), `INSTANCES` (1; with
//! PostgreSQL, 2 runs two `serve` processes on the one database and posts to both),
//! `ONLY=down` skips the baseline run, `SWITCHBOARD_BIN` (target/release/switchboard). Each
//! run starts after a `sync`, so an earlier run's write-back to disk is not charged to it.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

#[path = "common/disk.rs"]
mod disk;
#[path = "common/env.rs"]
mod env;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;

const SECRET: &str = "bench-secret";

#[derive(Default)]
struct Sink {
    up: AtomicBool,
    refused: AtomicU64,
    delivered: Mutex<HashSet<String>>,
    duplicates: AtomicU64,
    /// The first delivery that arrived while the sink was up.
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
}

async fn sink(body: web::Bytes, state: web::Data<Arc<Sink>>) -> HttpResponse {
    if !state.up.load(Ordering::SeqCst) {
        state.refused.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::ServiceUnavailable().finish();
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&body) {
        if let Some(text) = value["text"].as_str() {
            if !state.delivered.lock().unwrap().insert(text.to_string()) {
                state.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            let now = Instant::now();
            state.first.lock().unwrap().get_or_insert(now);
            *state.last.lock().unwrap() = Some(now);
        }
    }
    HttpResponse::Ok().json(json!({"success": true}))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak RSS (VmHWM) of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Run {
    ingest_per_s: f64,
    p99_ms: f64,
    p50_ms: f64,
    end_to_end_per_s: Option<f64>,
    drain_per_s: Option<f64>,
    /// The drain once deliveries flow: from the first delivery after the provider is back
    /// (the wait before it, for the breaker's probe and the retries' due times, is
    /// `first_after`) to the last.
    flowing_per_s: Option<f64>,
    first_after: Option<Duration>,
    peak_wal_mib: f64,
    peak_rss_mib: Vec<f64>,
    duplicates: u64,
}

fn reset_postgres(url: &str, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .await?;
        anyhow::Ok(())
    })
}

#[allow(clippy::too_many_lines)]
fn run(
    down: bool,
    events: usize,
    users: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Run> {
    let connections: usize = env::number("CONNECTIONS", 64);
    let instances: usize = env::number("INSTANCES", 1);
    let binary = env::switchboard_binary()?;
    let storage = std::env::var("STORAGE_URL").unwrap_or_else(|_| "sqlite://data/drill.db".into());
    if storage.starts_with("postgres") {
        reset_postgres(&storage, runtime)?;
    }

    disk::settle();
    let state = Arc::new(Sink::default());
    state.up.store(!down, Ordering::SeqCst);
    let sink_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let sink_port = sink_listener.local_addr()?.port();
    let sink_state = state.clone();
    let (sink_handle_tx, sink_handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(sink_state.clone()))
                    .default_service(web::to(sink))
            })
            .workers(1)
            .listen(sink_listener)
            .expect("sink listens")
            .run();
            let _ = sink_handle_tx.send(server.handle());
            server.await
        })
    });
    let sink_handle = sink_handle_rx.recv()?;

    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("rules"))?;
    std::fs::write(dir.path().join("rules/send.rhai"), "send_text(event.text);")?;
    let mut servers = Vec::new();
    for n in 0..instances {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = format!("switchboard-{n}.toml");
        // Retries come back within 2 s, and the circuit breaker probes every 2 s, so a
        // recovered provider is found quickly; nothing is dead-lettered during the drill.
        std::fs::write(
            dir.path().join(&config),
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"{storage}\"\n\
                 [delivery]\nmax_in_flight = 64\ntimeout_ms = 10000\nmax_attempts = 1000\n\
                 backoff_base_ms = 500\nbackoff_max_ms = 2000\n\
                 [providers.jelou]\nkind = \"jelou\"\nbase_url = \"http://127.0.0.1:{sink_port}\"\n\
                 client_id = \"i\"\nclient_secret = \"s\"\nbot_id = \"b\"\n\
                 breaker_cooldown_ms = 2000\n\
                 [sources.jelou]\nkind = \"jelou\"\nsecret = \"{SECRET}\"\n"
            ),
        )?;
        let child = Command::new(&binary)
            .args(["serve", "--config", &config])
            .current_dir(dir.path())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {} ({e})", binary.display()))?;
        servers.push(Server { child, port });
    }
    let wal = dir.path().join("data/drill.db-wal");
    let peak_wal = Arc::new(AtomicU64::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    {
        let (peak_wal, watching, wal) = (peak_wal.clone(), watching.clone(), wal.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::SeqCst) {
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                peak_wal.fetch_max(size, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let result = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        for port in &ports {
            let url = format!("http://127.0.0.1:{port}/readyz");
            let ready_by = Instant::now() + Duration::from_secs(30);
            while client
                .get(&url)
                .send()
                .await
                .map(|r| r.status() != 200)
                .unwrap_or(true)
            {
                anyhow::ensure!(Instant::now() < ready_by, "serve did not become ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Pre-signed, so that signing is not measured.
        let tag = ulid::Ulid::new();
        let requests: Vec<(Vec<u8>, String)> = (0..events)
            .map(|n| {
                let id = format!("{tag}-{n}");
                let body = serde_json::to_vec(&json!({
                    "object": "message_event", "contact": {"id": format!("57300{:07}", n % users)},
                    "bot": {"id": "b"}, "value": {"id": id, "type": "text", "content": {"body": id}}
                }))
                .unwrap();
                let signature = sign_jelou(SECRET, &body);
                (body, signature)
            })
            .collect();
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(events)));
        let started = Instant::now();
        futures_util::stream::iter(requests.into_iter().enumerate())
            .for_each_concurrent(connections, |(n, (body, signature))| {
                let (client, latencies) = (client.clone(), latencies.clone());
                let port = ports[n % ports.len()];
                async move {
                    let sent = Instant::now();
                    let response = client
                        .post(format!("http://127.0.0.1:{port}/webhooks/jelou"))
                        .header("X-Jelou-Signature", signature)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status(), 202);
                    latencies.lock().unwrap().push(sent.elapsed());
                }
            })
            .await;
        let posted = started.elapsed();
        let mut latencies = latencies.lock().unwrap().clone();
        latencies.sort();

        // Wait for every event to be decided (rules ran during the outage too), then bring
        // the provider back.
        let drain_started = if down {
            let metrics = format!("http://127.0.0.1:{}/metrics", ports[0]);
            let decided_by = Instant::now() + Duration::from_secs(900);
            loop {
                let text = client.get(&metrics).send().await?.text().await?;
                let depth: f64 = text
                    .lines()
                    .find(|l| l.starts_with("switchboard_queue_depth "))
                    .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                    .unwrap_or(0.0);
                // Decided: no event waits for its rules; every delivery is still open.
                if depth as usize == events {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < decided_by,
                    "rules did not catch up (queue {depth})"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            state.up.store(true, Ordering::SeqCst);
            Some(Instant::now())
        } else {
            None
        };
        let done_by = Instant::now() + Duration::from_secs(1800);
        while state.delivered.lock().unwrap().len() < events {
            anyhow::ensure!(
                Instant::now() < done_by,
                "only {} of {events} delivered",
                state.delivered.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let last = state.last.lock().unwrap().expect("deliveries arrived");
        anyhow::Ok(Run {
            ingest_per_s: events as f64 / posted.as_secs_f64(),
            p50_ms: percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            p99_ms: percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            end_to_end_per_s: (!down).then(|| events as f64 / (last - started).as_secs_f64()),
            drain_per_s: drain_started.map(|t| events as f64 / (last - t).as_secs_f64()),
            flowing_per_s: drain_started.map(|_| {
                let first = state.first.lock().unwrap().expect("deliveries arrived");
                events as f64 / (last - first).as_secs_f64()
            }),
            first_after: drain_started.map(|t| {
                state
                    .first
                    .lock()
                    .unwrap()
                    .expect("deliveries arrived")
                    .saturating_duration_since(t)
            }),
            peak_wal_mib: 0.0,
            peak_rss_mib: Vec::new(),
            duplicates: state.duplicates.load(Ordering::SeqCst),
        })
    });
    watching.store(false, Ordering::SeqCst);
    let mut result = result?;
    result.peak_wal_mib = peak_wal.load(Ordering::SeqCst) as f64 / 1_048_576.0;
    result.peak_rss_mib = servers.iter().map(|s| peak_rss_mib(s.child.id())).collect();
    drop(servers);
    runtime.block_on(sink_handle.stop(false));
    Ok(result)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let users: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let storage = std::env::var("STORAGE_URL").unwrap_or_else(|_| "SQLite".into());
    let store = if storage.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let instances = std::env::var("INSTANCES").unwrap_or_else(|_| "1".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!("outage drill: {events} events over {users} users, {store}, {instances} instance(s)");
    let up = if std::env::var("ONLY").is_ok_and(|o| o == "down") {
        None
    } else {
        let up = run(false, events, users, &runtime)?;
        println!(
            "provider up:   ingest {:.0}/s, p50 {:.1} ms, p99 {:.1} ms; end to end from an empty queue {:.0} events/s; peak RSS {:?} MiB",
            up.ingest_per_s,
            up.p50_ms,
            up.p99_ms,
            up.end_to_end_per_s.unwrap_or_default(),
            up.peak_rss_mib.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        Some(up)
    };
    let down = run(true, events, users, &runtime)?;
    println!(
        "provider down: ingest {:.0}/s{}, p50 {:.1} ms, p99 {:.1} ms; peak WAL {:.0} MiB; peak RSS {:?} MiB",
        down.ingest_per_s,
        up.as_ref()
            .map(|u| format!(" ({:.2} of provider up)", down.ingest_per_s / u.ingest_per_s))
            .unwrap_or_default(),
        down.p50_ms,
        down.p99_ms,
        down.peak_wal_mib,
        down.peak_rss_mib.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    println!(
        "provider back: drained {events} deliveries at {:.0}/s; the first arrived {:.1} s after \
         the provider was back, then {:.0}/s; {} delivered twice",
        down.drain_per_s.unwrap_or_default(),
        down.first_after.unwrap_or_default().as_secs_f64(),
        down.flowing_per_s.unwrap_or_default(),
        down.duplicates + up.as_ref().map_or(0, |u| u.duplicates)
    );
    Ok(())
}
