//! Rule workers: take accepted events in acceptance order, run the rules on each (off the
//! async threads), and store the decision with its deliveries in one transaction. Events of
//! one user key are handled one at a time, in order; different keys run side by side.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use crate::event::{now_millis, Event};
use crate::metrics::Metrics;
use crate::rules::{RuleBook, RuleEnv, Verdict};
use crate::store::{Decision, PendingEvent, Store, FIRST_RUN};

/// Events taken per round.
const BATCH: usize = 512;
/// Keys worked on at once: rules are short CPU work on the blocking pool, and an event's
/// decision waits for a group commit that the keys in flight share. 32 measured no better
/// than 8 in `examples/e2e.rs` (the store writer is the busiest thread either way).
const PARALLEL_KEYS: usize = 8;
const POLL: Duration = Duration::from_millis(500);
/// How long a claimed event is this instance's (PostgreSQL): long enough for its rules
/// (1 s each at most) and the store round trips; after a crash another instance takes it.
const LEASE_MS: i64 = 60_000;

#[derive(Clone)]
pub struct RuleRunner {
    pub book: Arc<RuleBook>,
    pub env: Arc<RuleEnv>,
    /// Where rule timings and outcomes are counted (`None` outside `serve`).
    pub metrics: Option<Arc<Metrics>>,
}

impl RuleRunner {
    /// Run the current rules on one event, with the user's stored memory, on the blocking
    /// pool.
    pub async fn evaluate(&self, store: &Store, event: Arc<Event>) -> anyhow::Result<Verdict> {
        let (engine, rules, env) = (
            self.book.engine().clone(),
            self.book.current(),
            self.env.clone(),
        );
        let started = std::time::Instant::now();
        // Only read what some rule can ask for.
        let memory = match &event.user.id {
            Some(user_id) if rules.uses_memory() => {
                store
                    .memory_of(&event.source, user_id, now_millis())
                    .await?
            }
            _ => serde_json::Map::new(),
        };
        let verdict = if rules.is_empty() {
            // Nothing to run: no hop to the blocking pool.
            rules.run(&engine, &env, &event, memory)
        } else {
            tokio::task::spawn_blocking(move || rules.run(&engine, &env, &event, memory)).await?
        };
        if let Some(metrics) = &self.metrics {
            metrics
                .rule_seconds
                .observe(started.elapsed().as_secs_f64());
            for run in &verdict.runs {
                let outcome = if run.error.is_some() { "error" } else { "ok" };
                metrics
                    .rule_runs
                    .with_label_values(&[&run.rule, outcome])
                    .inc();
            }
        }
        Ok(verdict)
    }

    /// The first run of the rules on an accepted event, as a decision to store.
    pub async fn decide(
        &self,
        store: &Store,
        seq: i64,
        event: Arc<Event>,
    ) -> anyhow::Result<Decision> {
        let verdict = self.evaluate(store, event.clone()).await?;
        tracing::info!(
            event_id = %event.event_id,
            source = %event.source,
            kind = event.kind.as_str(),
            actions = verdict.actions().count(),
            rule_errors = verdict.runs.iter().filter(|r| r.error.is_some()).count(),
            "rules decided"
        );
        Ok(decision(seq, &event, FIRST_RUN.to_string(), verdict))
    }
}

/// A verdict as a decision to store for the event at position `seq`.
pub fn decision(seq: i64, event: &Event, run_id: String, verdict: Verdict) -> Decision {
    Decision {
        event_seq: seq,
        run_id,
        order_key: event.order_key(),
        runs: verdict.runs,
        memory: verdict.memory,
    }
}

pub async fn run(store: Store, runner: RuleRunner, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let pending = match store.claim_events(BATCH, LEASE_MS).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!("could not read pending events: {e}");
                Vec::new()
            }
        };
        if pending.is_empty() {
            tokio::select! {
                _ = store.events_ready.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let groups = group_by_key(pending);
        futures_util::stream::iter(groups)
            .for_each_concurrent(PARALLEL_KEYS, |group| {
                let (store, runner) = (store.clone(), runner.clone());
                async move {
                    for PendingEvent { seq, event } in group {
                        let event = Arc::new(event);
                        let stored = match runner.decide(&store, seq, event.clone()).await {
                            Ok(decision) => store.decide(decision).await.map_err(anyhow::Error::from),
                            Err(e) => Err(e),
                        };
                        if let Err(e) = stored {
                            // Left `received`: the next round tries again, still in order.
                            tracing::error!(event_id = %event.event_id, "could not store the rules' decision: {e:#}");
                            tokio::time::sleep(POLL).await;
                            break;
                        }
                    }
                }
            })
            .await;
    }
}

/// Split events into per-key queues, keeping acceptance order within and across keys.
fn group_by_key(pending: Vec<PendingEvent>) -> Vec<Vec<PendingEvent>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<PendingEvent>> = Vec::new();
    for event in pending {
        match event.event.user_key() {
            Some(key) => match index.get(&key) {
                Some(&i) => groups[i].push(event),
                None => {
                    index.insert(key, groups.len());
                    groups.push(vec![event]);
                }
            },
            None => groups.push(vec![event]),
        }
    }
    groups
}
