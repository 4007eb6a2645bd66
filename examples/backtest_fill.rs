//! Fills a store for the backtest benchmark (`bench/backtest.sh`): EVENTS Jelou messages
//! from USERS users, stored through the store API (no HTTP: posting 100,000 signed webhooks
//! would measure ingest, not backtest), then decided by the real rule worker with the
//! config's rules, so every event has its recorded first run (and memory, where the rules
//! use it). Deliveries are stored but never sent (no executor runs).
//!
//! Run: `cargo build --release --examples && target/release/examples/backtest_fill CONFIG
//! [EVENTS] [USERS]` (defaults 100000 and 10000); the store is the config's.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use switchboard::config::Settings;
use switchboard::domain::event::now_millis;
use switchboard::domain::status::EventStatus;
use switchboard::fixture::Fixture;
use switchboard::rules::{build_engine, RuleBook, RuleEnv};
use switchboard::store::EventFilter;
use switchboard::worker::RuleRunner;

const TEXTS: &[&str] = &[
    "hola",
    "quiero hablar con un asesor",
    "cuanto cuesta el plan premium",
    "gracias",
    "tengo un problema con mi factura",
    "necesito soporte",
    "no entiendo",
    "buenas tardes, quisiera informacion",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let config = args.next().unwrap_or_else(|| "switchboard.toml".into());
    let events: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let users: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let settings = Settings::load(std::path::Path::new(&config))?;
    let store = switchboard::store::open(&settings.storage).await?;

    let started = Instant::now();
    // Spread over the last 30 minutes, in order.
    let first_at = now_millis() - 30 * 60 * 1000;
    let step = (30 * 60 * 1000 / events.max(1)) as i64;
    let inserted = futures_util::stream::iter(0..events)
        .map(|n| {
            let (store, settings) = (store.clone(), &settings);
            async move {
                let user = 573_000_000_000_u64 + (n % users) as u64;
                let fixture = Fixture {
                    source: "jelou".into(),
                    body: json!({
                        "object": "message_event", "event_type": "message",
                        "timestamp": 1_763_770_000_000_i64, "project_id": "p1",
                        "room_id": format!("room-{user}"),
                        "contact": {"id": user.to_string(), "name": "Bench User"},
                        "conversation": {"id": format!("conv-{user}")},
                        "bot": {"id": "bot-12345"},
                        "value": {"id": format!("wamid.bench.{n}"), "type": "text",
                                  "content": {"body": TEXTS[n % TEXTS.len()]}}
                    }),
                    headers: Default::default(),
                    received_at: Some(first_at + n as i64 * step),
                    memory: Default::default(),
                    expect: None,
                    rule_errors: Vec::new(),
                };
                let event = fixture.to_event(settings)?;
                store.insert_event(event).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(256)
        .fold(0_usize, |done, result| async move {
            result.expect("an event is stored");
            done + 1
        })
        .await;
    println!(
        "stored {inserted} events from {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let engine = Arc::new(build_engine());
    let book = RuleBook::load(engine, &settings.rules.dir)
        .map_err(|p| anyhow::anyhow!("the rules do not compile: {p:?}"))?;
    let runner = RuleRunner {
        book: Arc::new(book),
        env: Arc::new(RuleEnv::from_settings(&settings)),
        metrics: None,
    };
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(switchboard::worker::run(store.clone(), runner, shutdown));
    let started = Instant::now();
    loop {
        let waiting = store
            .list_events(EventFilter {
                status: Some(EventStatus::Received),
                limit: 1,
                ..EventFilter::default()
            })
            .await?;
        if waiting.events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    let _ = worker.await;
    println!(
        "decided them in {:.1} s with the rules of {}",
        started.elapsed().as_secs_f64(),
        settings.rules.dir.display()
    );
    store.close();
    Ok(())
}
