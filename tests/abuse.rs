//! Hostile clients and providers against the real binary (issue 9, docs/http-api.md, docs/providers.md):
//! connections that send headers and then nothing, bodies that promise a mebibyte and never
//! come, a provider answering 50 MB. The server's memory is read from /proc while it is
//! under attack; every wait is on a condition, with a generous timeout.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::config::{Config, JELOU_SECRET};
use common::process::Serve;
use common::wait::{wait_until_async, TIMEOUT};

/// Resident memory of a process, in MiB (Linux).
fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

/// Virtual memory of a process, in MiB: what it reserved, touched or not.
fn virtual_mib(pid: u32) -> f64 {
    status_mib(pid, "VmSize:")
}

fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Open sockets of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

async fn serve(dir: &Path, config: Config) -> Serve {
    config.write(dir, "switchboard.toml");
    let mut server = Serve::start_async(dir, "switchboard.toml", "serve").await;
    server.wait_ready_async().await;
    server
}

/// A connection that sends a webhook's headers, promising `length` bytes, and then nothing.
async fn silent_connection(port: u16, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /webhooks/jelou HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Jelou-Signature: sha256=00\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Read what the server sends until it closes the connection.
async fn until_closed(mut stream: TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn post_signed(client: &reqwest::Client, port: u16, body: &Value) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    client
        .post(format!("http://127.0.0.1:{port}/webhooks/jelou"))
        .header("content-type", "application/json")
        .header("x-jelou-signature", sign_jelou(JELOU_SECRET, &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

fn message(id: &str) -> Value {
    json!({"id": id, "type": "message", "value": {"type": "text", "text": "hi"},
           "contact": {"id": "+573001112233"}, "botId": "bot-1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_get_408_and_are_closed_after_the_body_timeout_while_others_are_served()
{
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), Config::new().body_timeout_ms(1000)).await;
    let port = server.port();
    let mut silent = Vec::new();
    for _ in 0..2000 {
        silent.push(silent_connection(port, 100).await);
    }
    // A normal client is served meanwhile.
    let client = reqwest::Client::new();
    let answer = post_signed(&client, port, &message("while-under-attack")).await;
    assert_eq!(answer.status().as_u16(), 202);
    // Every silent connection is answered 408 body_timeout and closed by the server.
    let closing = silent.into_iter().map(|s| tokio::spawn(until_closed(s)));
    let answers = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(closing),
    )
    .await
    .expect("the server closed every silent connection");
    let timed_out = answers
        .iter()
        .filter(|a| {
            let a = a.as_ref().unwrap();
            a.starts_with("HTTP/1.1 408") && a.contains("body_timeout")
        })
        .count();
    assert_eq!(timed_out, 2000, "{}", answers[0].as_ref().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_promised_mebibyte_bodies_that_never_come_take_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), Config::new().body_timeout_ms(3000)).await;
    let (port, pid) = (server.port(), server.id());
    let virtual_before = virtual_mib(pid);
    let mut silent = Vec::new();
    for _ in 0..1000 {
        silent.push(silent_connection(port, 1024 * 1024).await);
    }
    // Every connection is open at the server, then its memory is watched until the body
    // timeout has closed them all.
    wait_until_async(
        || async { open_fds(pid) >= 1000 },
        "the server holds the 1,000 connections",
        TIMEOUT,
    )
    .await;
    let (mut peak, mut peak_virtual): (f64, f64) = (0.0, 0.0);
    wait_until_async(
        || {
            peak = peak.max(rss_mib(pid));
            peak_virtual = peak_virtual.max(virtual_mib(pid));
            let fds = open_fds(pid);
            async move { fds < 500 }
        },
        "the body timeout to close the connections",
        TIMEOUT,
    )
    .await;
    drop(silent);
    assert!(peak > 0.0, "RSS was read");
    assert!(
        peak < 150.0,
        "peak RSS {peak:.0} MiB with 1,000 silent 1 MiB bodies"
    );
    // Nothing is reserved from Content-Length either (1,000 × 1 MiB would be 1,000 MiB).
    let reserved = peak_virtual - virtual_before;
    assert!(reserved < 256.0, "virtual memory grew {reserved:.0} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_provider_answer_is_read_only_in_part_and_memory_stays_small() {
    let provider = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(50 * 1024 * 1024)))
        .mount(&provider)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/r.rhai"), "send_text(\"x\");\n").unwrap();
    let server = serve(
        dir.path(),
        Config::new()
            .jelou(&provider.uri())
            .admin_token("abuse-admin"),
    )
    .await;
    let (port, pid) = (server.port(), server.id());
    let client = reqwest::Client::new();
    let accepted: Value = post_signed(&client, port, &message("huge-answer"))
        .await
        .json()
        .await
        .unwrap();
    let event_id = accepted["event_id"].as_str().unwrap().to_string();
    let mut peak: f64 = 0.0;
    wait_until_async(
        || {
            peak = peak.max(rss_mib(pid));
            let (client, event_id) = (client.clone(), event_id.clone());
            async move {
                let trace: Value = client
                    .get(format!("http://127.0.0.1:{port}/admin/events/{event_id}"))
                    .bearer_auth("abuse-admin")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                trace["deliveries"][0]["status"] == "done"
            }
        },
        "the delivery to finish",
        TIMEOUT,
    )
    .await;
    peak = peak.max(rss_mib(pid));
    assert!(
        peak < 150.0,
        "peak RSS {peak:.0} MiB reading a 50 MB answer"
    );
}
