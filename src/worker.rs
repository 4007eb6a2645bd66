//! Rule workers: take a batch of accepted events in acceptance order, run the rules on each
//! (on the blocking pool, the batch's user keys split over the cores), and store every
//! decision of the batch together (one transaction where the store allows). Events of one
//! user key run one after the other, in order, each seeing the memory its predecessors
//! wrote; different keys run side by side.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::actions::DecidedAction;
use crate::domain::event::{now_millis, Event};
use crate::metrics::Metrics;
use crate::rules::{RuleBook, RuleEnv, RuleSet, Verdict};
use crate::store::{Decision, PendingEvent, RunId, ShadowRun, Store};

/// Events taken per round.
const BATCH: usize = 512;
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
        let verdict = self
            .evaluate_with(store, event, self.book.current())
            .await?;
        self.observe(&verdict.0, verdict.1);
        Ok(verdict.0)
    }

    /// Run `rules` (drafts, or the current ones) on one event with the user's stored
    /// memory; nothing is counted in the metrics. The verdict and how long it took.
    pub async fn evaluate_with(
        &self,
        store: &Store,
        event: Arc<Event>,
        rules: Arc<RuleSet>,
    ) -> anyhow::Result<(Verdict, Duration)> {
        let (engine, env) = (self.book.engine().clone(), self.env.clone());
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
        Ok((verdict, started.elapsed()))
    }

    /// Count the actions shadow rules would have taken (`switchboard_shadow_actions_total`).
    fn observe_shadow(&self, shadow: &[ShadowRun]) {
        if let Some(metrics) = &self.metrics {
            for run in shadow {
                metrics
                    .shadow_actions
                    .with_label_values(&[&run.run.rule])
                    .inc_by(run.run.actions.len() as u64);
            }
        }
    }

    /// Count a rule run's time and outcomes.
    fn observe(&self, verdict: &Verdict, elapsed: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.rule_seconds.observe(elapsed.as_secs_f64());
            let errors = verdict.runs.iter().filter(|r| r.error.is_some()).count();
            metrics.activity.rule_errors(now_millis(), errors as u64);
            for run in &verdict.runs {
                let outcome = if run.error.is_some() { "error" } else { "ok" };
                metrics
                    .rule_runs
                    .with_label_values(&[&run.rule, outcome])
                    .inc();
            }
        }
    }
}

/// A verdict as a decision to store for the event at position `seq`.
pub fn decision(seq: i64, event: &Event, run_id: RunId, verdict: Verdict) -> Decision {
    Decision {
        event_seq: seq,
        run_id,
        order_key: event.order_key(),
        runs: verdict.runs,
        memory: verdict.memory,
        memory_seen: verdict.memory_seen,
        shadow: Vec::new(),
    }
}

/// Run the shadow rules (`rules/shadow/`) on an event after the live ones (docs/rule-api.md):
/// with the memory the live rules were given, their writes discarded, their actions
/// compared with the live ones and never carried out.
pub fn shadow_runs(
    shadow: &RuleSet,
    engine: &rhai::Engine,
    env: &Arc<RuleEnv>,
    event: &Arc<Event>,
    memory: serde_json::Map<String, serde_json::Value>,
    live: &Verdict,
) -> Vec<ShadowRun> {
    if shadow.is_empty() {
        return Vec::new();
    }
    let verdict = shadow.run(engine, env, event, memory);
    let live: Vec<&DecidedAction> = live.actions().collect();
    verdict
        .runs
        .into_iter()
        .map(|run| ShadowRun::compared(run, &live))
        .collect()
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
        if let Err(e) = decide_batch(&store, &runner, pending).await {
            // Left `received`: the next round tries again, still in order.
            tracing::error!("could not decide a batch of events: {e:#}");
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One key's events of a batch, in order, and the memory they start from.
type KeyWork = (
    Vec<PendingEvent>,
    serde_json::Map<String, serde_json::Value>,
);

/// One event's verdict, as the batch computes it.
struct Decided {
    seq: i64,
    event: Arc<Event>,
    verdict: Verdict,
    shadow: Vec<ShadowRun>,
    elapsed: Duration,
}

/// Run the rules on a batch and store every decision together.
async fn decide_batch(
    store: &Store,
    runner: &RuleRunner,
    pending: Vec<PendingEvent>,
) -> anyhow::Result<()> {
    let (engine, rules, shadow, env) = (
        runner.book.engine().clone(),
        runner.book.current(),
        runner.book.shadow(),
        runner.env.clone(),
    );
    let groups = group_by_key(pending);
    // Each key's memory, read once for the whole batch (only when some rule can ask).
    let mut memories = Vec::with_capacity(groups.len());
    for group in &groups {
        let user = group.first().and_then(|p| {
            p.event
                .user
                .id
                .clone()
                .map(|id| (p.event.source.clone(), id))
        });
        memories.push(match user {
            Some((source, id)) if rules.uses_memory() || shadow.uses_memory() => {
                store.memory_of(&source, &id, now_millis()).await?
            }
            _ => serde_json::Map::new(),
        });
    }
    // Split the keys over the cores; a key's events stay together, in order.
    let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut work: Vec<Vec<KeyWork>> = (0..lanes).map(|_| Vec::new()).collect();
    for (n, item) in groups.into_iter().zip(memories).enumerate() {
        work[n % lanes].push(item);
    }
    let evaluations = work.into_iter().filter(|w| !w.is_empty()).map(|lane| {
        let (engine, rules, shadow, env) =
            (engine.clone(), rules.clone(), shadow.clone(), env.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for (group, mut memory) in lane {
                for PendingEvent { seq, event } in group {
                    let started = std::time::Instant::now();
                    let event = Arc::new(event);
                    // Every log line of the rules (a failing rule's above all) names the event.
                    let span = tracing::info_span!("rules", event_id = %event.event_id);
                    let (verdict, shadow) = span.in_scope(|| {
                        let verdict = rules.run(&engine, &env, &event, memory.clone());
                        let shadow = if shadow.is_empty() {
                            Vec::new()
                        } else {
                            shadow_runs(&shadow, &engine, &env, &event, memory.clone(), &verdict)
                        };
                        (verdict, shadow)
                    });
                    // The next event of this key sees what this one remembered.
                    for write in &verdict.memory {
                        match &write.value {
                            Some(value) if write.expires_at.is_none_or(|at| at > now_millis()) => {
                                memory.insert(write.key.clone(), value.clone());
                            }
                            _ => {
                                memory.remove(&write.key);
                            }
                        }
                    }
                    out.push(Decided {
                        seq,
                        event,
                        verdict,
                        shadow,
                        elapsed: started.elapsed(),
                    });
                }
            }
            out
        })
    });
    let mut decided: Vec<Decided> = futures_util::future::try_join_all(evaluations)
        .await?
        .into_iter()
        .flatten()
        .collect();
    decided.sort_by_key(|d| d.seq);
    let mut decisions = Vec::with_capacity(decided.len());
    let mut summaries = Vec::with_capacity(decided.len());
    for d in decided {
        runner.observe(&d.verdict, d.elapsed);
        runner.observe_shadow(&d.shadow);
        let actions = d.verdict.actions().count();
        let errors = d.verdict.runs.iter().filter(|r| r.error.is_some()).count();
        let mut decided = decision(d.seq, &d.event, RunId::FIRST, d.verdict);
        decided.shadow = d.shadow;
        decisions.push(decided);
        summaries.push((d.event, actions, errors));
    }
    let results = store.decide_many(decisions).await?;
    for ((event, actions, rule_errors), result) in summaries.into_iter().zip(results) {
        match result {
            Ok(()) => tracing::info!(
                event_id = %event.event_id,
                source = %event.source,
                kind = event.kind.as_str(),
                actions,
                rule_errors,
                "rules decided"
            ),
            Err(e) => tracing::error!(
                event_id = %event.event_id,
                "could not store the rules' decision; it will be decided again: {e}"
            ),
        }
    }
    Ok(())
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

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
