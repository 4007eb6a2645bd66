//! Store benchmark: the whole life of EVENTS events (default 30,000, over `USERS` users,
//! default 5,000) through the store API alone, with no HTTP, rules or provider in the way:
//! 64 tasks insert them (as webhooks do), a worker takes them 512 at a time and stores one
//! `send_text` decision each (as the rule worker does), and an executor claims deliveries 16
//! at a time and records each one's success (as the executor does), all at once.
//!
//! It reports events/s and, more useful when tuning, the CPU the store's writer thread
//! spent per event: the writer carries every change, so its cost per event bounds what one
//! SQLite store can drain (1 s / that cost), whatever else the machine is doing.
//!
//! Run: `cargo run --release --example store_cycle -- [EVENTS]`; `STORAGE_URL` picks the
//! store (default: SQLite in a temporary folder).
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/env.rs"]
mod env;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::json;
use switchboard::config::{StorageSettings, StorageUrl, Synchronous};
use switchboard::domain::actions::{ActionKind, DecidedAction};
use switchboard::domain::decision::{Decision, RuleRun};
use switchboard::domain::event::{now_millis, Event};
use switchboard::domain::ids::RunId;
use switchboard::domain::target::{Target, UserRef};
use switchboard::store::{Attempt, AttemptOutcome, Next};

fn event(run: &str, i: usize, users: usize) -> Event {
    let user = format!("57300{:07}", i % users);
    let text = format!("{run}-{i}");
    serde_json::from_value(json!({
        "id": text,
        "event_id": format!("evt_{run}{i:010}"),
        "source": "jelou",
        "provider": "jelou",
        "kind": "message.received",
        "user": {"id": user, "phone": format!("+{user}")},
        "bot_id": "b",
        "message": {"id": text, "type": "text", "text": text},
        "text": text,
        "tags": [],
        "raw": {
            "object": "message_event", "contact": {"id": user}, "bot": {"id": "b"},
            "value": {"id": text, "type": "text", "content": {"body": text}}
        },
        "received_at": now_millis(),
    }))
    .expect("a valid event")
}

/// The CPU seconds this process's threads named `name` have used.
fn thread_cpu(name: &str) -> f64 {
    cpu::by_thread(std::process::id())
        .and_then(|cpu| cpu.into_iter().find(|(n, _)| n == name))
        .map_or(f64::NAN, |(_, seconds)| seconds)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30_000);
    let users: usize = env::number("USERS", 5_000);
    let dir = tempfile::tempdir()?;
    let url = match std::env::var("STORAGE_URL") {
        Ok(url) => StorageUrl::Postgres(url),
        Err(_) => StorageUrl::Sqlite(dir.path().join("cycle.db")),
    };
    let store = switchboard::store::open(&StorageSettings {
        url: url.clone(),
        retention_days: 30,
        synchronous: Synchronous::Normal,
    })
    .await?;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let all: Vec<Event> = (0..events).map(|i| event(&run, i, users)).collect();
    let writer_before = thread_cpu("store-writer");
    let started = Instant::now();

    let inserting = {
        let store = store.clone();
        tokio::spawn(async move {
            futures_util::stream::iter(all)
                .for_each_concurrent(64, |e| {
                    let store = store.clone();
                    async move {
                        store.insert_event(e).await.expect("inserted");
                        store.events_ready.notify_one();
                    }
                })
                .await;
        })
    };
    let deciding = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut decided = 0;
            while decided < events {
                let pending = store.claim_events(512, 60_000).await.expect("claimed");
                if pending.is_empty() {
                    tokio::select! {
                        _ = store.events_ready.notified() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                    }
                    continue;
                }
                decided += pending.len();
                let decisions = pending
                    .into_iter()
                    .map(|p| Decision {
                        event_seq: p.seq,
                        run_id: RunId::FIRST,
                        order_key: p.event.order_key(),
                        runs: vec![RuleRun {
                            rule: "send.rhai".into(),
                            actions: vec![DecidedAction {
                                rule: "send.rhai".into(),
                                seq: 0,
                                action: ActionKind::SendText,
                                provider: "jelou".into(),
                                params: json!({"text": p.event.text}).as_object().cloned().unwrap(),
                                target: Target {
                                    user: UserRef::Known {
                                        value: p.event.user.id.clone().unwrap_or_default(),
                                    },
                                    bot_id: Some("b".into()),
                                },
                            }],
                            error: None,
                        }],
                        memory: Vec::new(),
                        memory_seen: None,
                        shadow: Vec::new(),
                    })
                    .collect();
                store.decide_many(decisions).await.expect("decided");
                store.deliveries_ready.notify_one();
            }
        })
    };
    let finished: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let delivering = {
        let (store, finished) = (store.clone(), finished.clone());
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(64));
            while finished.load(std::sync::atomic::Ordering::SeqCst) < events {
                if slots.available_permits() < 16 {
                    store.deliveries_ready.notified().await;
                    continue;
                }
                let claimed = store
                    .claim_deliveries("jelou", 16, 60_000)
                    .await
                    .expect("claimed");
                if claimed.is_empty() {
                    tokio::select! {
                        _ = store.deliveries_ready.notified() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                    }
                    continue;
                }
                for delivery in claimed {
                    let permit = slots.clone().acquire_owned().await.expect("open");
                    let (store, finished) = (store.clone(), finished.clone());
                    tokio::spawn(async move {
                        store
                            .finish_attempt(AttemptOutcome {
                                delivery_id: delivery.id,
                                request: None,
                                attempt: Some(Attempt {
                                    at: now_millis(),
                                    status: Some(200),
                                    response_excerpt: "{\"success\":true}".into(),
                                    duration_ms: Some(1),
                                }),
                                next: Next::Done,
                            })
                            .await
                            .expect("finished");
                        drop(permit);
                        finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        store.deliveries_ready.notify_one();
                    });
                }
            }
        })
    };
    inserting.await?;
    let inserted = started.elapsed();
    deciding.await?;
    delivering.await?;
    let took = started.elapsed();
    let writer = thread_cpu("store-writer") - writer_before;
    let by_status: HashMap<String, i64> = match &url {
        StorageUrl::Sqlite(path) => rusqlite::Connection::open(path)?
            .prepare("SELECT status, count(*) FROM events GROUP BY status")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?,
        StorageUrl::Postgres(_) => HashMap::new(),
    };
    println!(
        "store cycle ({}): {events} events over {users} users, insert + decide + claim + finish: \
         {:.0} events/s (inserting alone {:.0}/s); writer thread {:.1} µs CPU per event \
         (so at most {:.0} events/s on one core); events by status {by_status:?}",
        match &url {
            StorageUrl::Sqlite(_) => "SQLite",
            StorageUrl::Postgres(_) => "PostgreSQL",
        },
        events as f64 / took.as_secs_f64(),
        events as f64 / inserted.as_secs_f64(),
        writer * 1e6 / events as f64,
        events as f64 / writer,
    );
    store.close();
    Ok(())
}
