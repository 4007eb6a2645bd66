//! Search benchmark (docs/http-api.md, issue 10): stores EVENTS events (default 1,000,000)
//! straight through the store API (not over HTTP, so it takes minutes, not hours), marks
//! them done, starts the application on that store, and times `GET /admin/events?q=<word>`
//! for a rare word (in 10 events), a medium one (1%) and a common one (every event): p50
//! and p99 over QUERIES queries each (default 50), and the same with `limit=50` paging to
//! the second page.
//!
//! Run: `cargo run --release --example search -- [EVENTS] [QUERIES]`; `STORAGE_URL` picks
//! the store (default `sqlite://data/search-bench.db`; a PostgreSQL URL works too). A store
//! that already holds EVENTS events is reused as it is.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::config::{Settings, StorageSettings, StorageUrl, Synchronous};
use switchboard::domain::event::Event;

const TOKEN: &str = "search-bench-token";
const RARE: &str = "zanzibar";
const MEDIUM: &str = "marmalade";
const COMMON: &str = "hello";

/// Some words to fill texts with.
const WORDS: &[&str] = &[
    "order", "price", "delivery", "thanks", "please", "tomorrow", "address", "payment", "invoice",
    "question", "agent", "refund", "status", "product", "size", "colour", "store", "open",
    "closed", "help", "urgent", "shipping", "account", "password", "promo", "discount",
];

fn event(i: usize, now: i64) -> Event {
    let mut text = format!(
        "{COMMON} {} {}",
        WORDS[i % WORDS.len()],
        WORDS[(i / 7) % WORDS.len()]
    );
    if i.is_multiple_of(100) {
        text.push_str(&format!(" {MEDIUM}"));
    }
    if i % 100_000 == 7 {
        text.push_str(&format!(" {RARE}"));
    }
    text.push_str(&format!(" ref{i}"));
    let user = format!("57300{:07}", i % 50_000);
    serde_json::from_value(json!({
        "id": format!("bench-{i}"),
        "event_id": format!("evt_bench{i:010}"),
        "source": "jelou",
        "provider": "jelou",
        "kind": "message.received",
        "user": {"id": user, "phone": format!("+{user}"), "name": "Ana Soto"},
        "bot_id": "bot-1",
        "conversation_id": format!("conv-{}", i % 50_000),
        "message": {"id": format!("wamid.{i}"), "type": "text", "text": text},
        "text": text,
        "tags": [],
        "raw": {
            "object": "message_event", "event_type": "message", "project_id": "p1",
            "contact": {"id": user, "name": "Ana Soto"},
            "value": {"id": format!("wamid.{i}"), "type": "text", "content": {"body": text}}
        },
        "received_at": now - 1_000_000 + i as i64 % 1_000_000,
    }))
    .expect("a valid event")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn count_events(url: &StorageUrl) -> anyhow::Result<i64> {
    Ok(match url {
        StorageUrl::Sqlite(path) if !path.exists() => 0,
        StorageUrl::Sqlite(path) => rusqlite::Connection::open(path)?
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap_or(0),
        StorageUrl::Postgres(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
                .query_one("SELECT count(*) FROM events", &[])
                .await
                .map(|r| r.get(0))
                .unwrap_or(0)
        }
    })
}

/// Mark every event done, so the application's rule worker has nothing to do while timed.
async fn mark_done(url: &StorageUrl) -> anyhow::Result<()> {
    let sql =
        "UPDATE events SET status = 'done', finished_at = received_at WHERE status = 'received'";
    match url {
        StorageUrl::Sqlite(path) => {
            rusqlite::Connection::open(path)?.execute(sql, [])?;
        }
        StorageUrl::Postgres(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.execute(sql, &[]).await?;
            client.execute("VACUUM ANALYZE events", &[]).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let queries: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let storage =
        std::env::var("STORAGE_URL").unwrap_or_else(|_| "sqlite://data/search-bench.db".into());
    let url = if let Some(path) = storage.strip_prefix("sqlite://") {
        // Absolute: the application resolves a relative path from its config's folder.
        let path = std::env::current_dir()?.join(path);
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        StorageUrl::Sqlite(path)
    } else {
        StorageUrl::Postgres(storage.clone())
    };
    let settings = StorageSettings {
        url: url.clone(),
        retention_days: 3650,
        synchronous: Synchronous::Normal,
    };

    let stored = count_events(&url).await?;
    if stored < events as i64 {
        let store = switchboard::store::open(&settings).await?;
        let started = Instant::now();
        let now = switchboard::domain::event::now_millis();
        let from = stored as usize;
        let mut done = 0usize;
        let mut inserts = futures_util::stream::iter(from..events)
            .map(|i| {
                let store = store.clone();
                async move { store.insert_event(event(i, now)).await }
            })
            .buffer_unordered(2048);
        while let Some(result) = inserts.next().await {
            result?;
            done += 1;
            if done.is_multiple_of(100_000) {
                println!(
                    "stored {} events ({:.0}/s)",
                    from + done,
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        drop(inserts);
        println!(
            "stored {done} events in {:.1} s ({:.0}/s)",
            started.elapsed().as_secs_f64(),
            done as f64 / started.elapsed().as_secs_f64()
        );
        store.close();
        drop(store);
    }
    mark_done(&url).await?;

    // The application on that store: the shipped config, its secrets' development defaults.
    let storage = match &url {
        StorageUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        StorageUrl::Postgres(url) => url.clone(),
    };
    std::env::set_var("SWITCHBOARD_STORAGE_URL", &storage);
    std::env::set_var("SWITCHBOARD_ADMIN_TOKEN", TOKEN);
    std::env::set_var("SWITCHBOARD_LISTEN", "127.0.0.1:0");
    let config = std::env::temp_dir().join(format!("search-bench-{}.toml", std::process::id()));
    let shipped = std::fs::read_to_string("switchboard.toml")?;
    std::fs::write(
        &config,
        shipped.replace(
            "dir = \"rules\"",
            &format!(
                "dir = \"{}\"",
                std::env::temp_dir().join("search-bench-rules").display()
            ),
        ),
    )?;
    std::fs::create_dir_all(std::env::temp_dir().join("search-bench-rules"))?;
    let app = switchboard::startup::Application::build(Settings::load(&config)?).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stopper();
    let running = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    println!("{events} events, {queries} queries each, {storage}");
    println!(
        "{:<34} {:>8} {:>9} {:>9}",
        "query", "total", "p50 ms", "p99 ms"
    );
    for (label, query) in [
        ("rare word (10 events)", format!("q={RARE}")),
        ("medium word (1%)", format!("q={MEDIUM}")),
        ("common word (every event)", format!("q={COMMON}")),
        ("two words", format!("q={MEDIUM}%20{}", WORDS[0])),
        (
            "common word, second page",
            format!("q={COMMON}&cursor={}", events / 2),
        ),
        ("no q (all events)", String::new()),
    ] {
        let mut times = Vec::with_capacity(queries);
        let mut total = Value::Null;
        for _ in 0..queries {
            let started = Instant::now();
            let answer: Value = client
                .get(format!("{base}/admin/events?limit=50&{query}"))
                .bearer_auth(TOKEN)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            times.push(started.elapsed());
            total = answer["total"].clone();
        }
        times.sort();
        println!(
            "{label:<34} {total:>8} {:>9.1} {:>9.1}",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        );
    }
    let _ = stop.send(true);
    let _ = running.await;
    Ok(())
}
