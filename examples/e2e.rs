//! End-to-end benchmark: signed webhooks posted to a running `switchboard serve` → rules →
//! provider calls to a local sink. Reports events/s (from the first post to the last
//! provider call) and the latency from each `202` to its provider call.
//!
//! Run: `cargo build --release && cargo run --release --example e2e -- [EVENTS] [CONNECTIONS]`
//! (defaults 30000 and 64). `USERS` spreads the events over that many users (default
//! 5000). `STORAGE_URL` picks the store (default: SQLite in a temp dir);
//! `RATE=N` paces the posts at N per second (to see latency below saturation; unset, it posts
//! as fast as it can, which measures throughput). `MAX_IN_FLIGHT` sets the provider's
//! `max_in_flight` (default 64). On Linux it also prints `serve`'s CPU per event by thread
//! (the store's writer, the runtime's workers, the HTTP workers), read from `/proc`, and
//! the CPU this process (load generator and sink) took meanwhile. It starts after a `sync`, so
//! an earlier run's write-back to disk is not charged to it.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/disk.rs"]
mod disk;
#[path = "common/env.rs"]
mod env;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;

const SECRET: &str = "bench-secret";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn sink(body: web::Bytes, arrivals: web::Data<Arrivals>) -> HttpResponse {
    let now = Instant::now();
    if let Ok(value) = serde_json::from_slice::<Value>(&body) {
        if let Some(text) = value["text"].as_str() {
            arrivals.lock().unwrap().insert(text.to_string(), now);
        }
    }
    HttpResponse::Ok().json(json!({"success": true}))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30_000);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let users: usize = env::number("USERS", 5000);
    let max_in_flight: usize = env::number("MAX_IN_FLIGHT", 64);
    let storage = std::env::var("STORAGE_URL").unwrap_or_else(|_| "sqlite://data/e2e.db".into());
    let binary = env::switchboard_binary()?;

    disk::settle();
    // The sink: its own thread and runtime, so the load generator does not slow it down.
    let arrivals: Arrivals = Arc::default();
    let sink_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let sink_port = sink_listener.local_addr()?.port();
    let sink_arrivals = arrivals.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(sink_arrivals.clone()))
                    .default_service(web::to(sink))
            })
            .workers(1)
            .listen(sink_listener)
            .expect("sink listens")
            .run()
            .await
        })
    });

    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("rules"))?;
    std::fs::write(dir.path().join("rules/send.rhai"), "send_text(event.text);")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"{storage}\"\n\
             [delivery]\nmax_in_flight = {max_in_flight}\ntimeout_ms = 10000\n\
             [providers.jelou]\nkind = \"jelou\"\nbase_url = \"http://127.0.0.1:{sink_port}\"\n\
             client_id = \"i\"\nclient_secret = \"s\"\nbot_id = \"b\"\n\
             [sources.jelou]\nkind = \"jelou\"\nsecret = \"{SECRET}\"\n"
        ),
    )?;
    let mut server = std::process::Command::new(&binary)
        .args(["serve", "--config", "switchboard.toml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {} ({e})", binary.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
        let url = format!("http://127.0.0.1:{port}");
        let ready_by = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{url}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
            anyhow::ensure!(Instant::now() < ready_by, "serve did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Pre-sign every request so that signing is not measured.
        let run = ulid::Ulid::new();
        let requests: Vec<(String, Vec<u8>, String)> = (0..events)
            .map(|n| {
                let id = format!("{run}-{n}");
                let body = serde_json::to_vec(&json!({
                    "object": "message_event", "contact": {"id": format!("57300{:07}", n % users)},
                    "bot": {"id": "b"}, "value": {"id": id, "type": "text", "content": {"body": id}}
                }))
                .unwrap();
                let signature = sign_jelou(SECRET, &body);
                (id, body, signature)
            })
            .collect();
        let acks: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let rate: Option<f64> = std::env::var("RATE").ok().and_then(|r| r.parse().ok());
        let own_cpu_before = own_cpu();
        let started = Instant::now();
        futures_util::stream::iter(requests.into_iter().enumerate())
            .for_each_concurrent(connections, |(n, (id, body, signature))| {
                let (client, acks, url) = (client.clone(), acks.clone(), url.clone());
                async move {
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64(n as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let response = client
                        .post(format!("{url}/webhooks/jelou"))
                        .header("X-Jelou-Signature", signature)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status(), 202);
                    acks.lock().unwrap().insert(id, Instant::now());
                }
            })
            .await;
        let posted = started.elapsed();
        let done_by = Instant::now() + Duration::from_secs(300);
        while arrivals.lock().unwrap().len() < events {
            anyhow::ensure!(Instant::now() < done_by, "only {} of {events} delivered", arrivals.lock().unwrap().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let arrivals = arrivals.lock().unwrap().clone();
        let acks = acks.lock().unwrap().clone();
        let last = arrivals.values().max().copied().unwrap();
        let total = last - started;
        let mut latencies: Vec<Duration> = acks
            .iter()
            .map(|(id, ack)| arrivals[id].saturating_duration_since(*ack))
            .collect();
        latencies.sort();
        println!(
            "e2e ({storage}{}): {events} events over {users} users, 1 action each, {connections} connections: \
             {:.0} events/s end to end (posting alone {:.0}/s); 202 → provider call p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            rate.map(|r| format!(", paced at {r}/s")).unwrap_or_default(),
            events as f64 / total.as_secs_f64(),
            events as f64 / posted.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.last().unwrap().as_secs_f64() * 1000.0,
        );
        anyhow::Ok(own_cpu_before)
    });
    if let Ok(own_cpu_before) = result {
        // CPU per event by thread (Linux): which stage the cores went to, whatever else the
        // machine was doing.
        if let Some(cpu) = cpu::by_thread(server.id()) {
            let total: f64 = cpu.iter().map(|(_, s)| s).sum();
            let per_event = |seconds: f64| seconds * 1e6 / events as f64;
            let parts: Vec<String> = cpu
                .iter()
                .map(|(name, s)| format!("{name} {:.0}", per_event(*s)))
                .collect();
            println!(
                "serve's CPU per event: {:.0} µs ({})",
                per_event(total),
                parts.join(", ")
            );
            // This process (load generator and sink) shares the same cores: what it takes
            // is what serve could not have.
            if let (Some(before), Some(after)) = (own_cpu_before, own_cpu()) {
                let own = after - before;
                println!(
                    "the load generator and sink's CPU per event: {:.0} µs (the 2 cores give {:.0} µs per event at 8,000/s)",
                    per_event(own),
                    2e6 / 8000.0
                );
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    result.map(|_| ())
}

/// CPU seconds this process (load generator and sink) has used so far.
fn own_cpu() -> Option<f64> {
    cpu::by_thread(std::process::id()).map(|threads| threads.iter().map(|(_, s)| s).sum())
}
