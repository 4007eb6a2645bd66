//! The executor: claims due deliveries from the store, provider by provider up to each
//! one's `max_in_flight`, carries each out (`attempt`), and records the outcome: done, a
//! retry at a due time, or a dead letter. Per-user order comes from the claim itself: a
//! delivery is claimable only when nothing earlier of its key is still open.

pub mod attempt;
pub mod gate;
pub mod limits;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::config::{DeliverySettings, Settings};
use crate::domain::event::now_millis;
use crate::domain::status::DeadReason;
use crate::metrics::activity::Outcome;
use crate::metrics::Metrics;
use crate::store::{AttemptOutcome, EventId, Next, Store};
use attempt::{AttemptResult, Identities, ProviderClient};
use gate::{Admit, Attempted, Gate, Gates, State};

/// Apply operators' pauses from the store (shared by every instance) to the gates.
async fn read_pauses(store: &Store, gates: &Gates, metrics: &Metrics) {
    match store.paused_providers().await {
        Ok(paused) => {
            for (name, gate) in gates.iter() {
                gate.set_operator_paused(paused.contains(name));
                metrics
                    .provider_state
                    .with_label_values(&[name])
                    .set(state_number(gate.state()));
            }
        }
        Err(e) => tracing::warn!("could not read which providers are paused: {e}"),
    }
}

/// `switchboard_provider_state`'s value for a state.
pub fn state_number(state: State) -> i64 {
    match state {
        State::Active => 0,
        State::Paused => 1,
        State::Open => 2,
    }
}

/// How often the executor looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);

/// How often an outcome that could not be recorded is tried again, and the first wait.
const OUTCOME_TRIES: u32 = 6;
const OUTCOME_RETRY_FIRST: Duration = Duration::from_millis(100);

struct Lane {
    client: ProviderClient,
    /// One permit per request in flight (`max_in_flight`). A permit is returned when its
    /// request is over (before the outcome is written), or when its task ends however it
    /// ends (a panic included), so a slot can never leak.
    slots: Arc<Semaphore>,
    /// One permit per delivery between its claim and its recorded outcome: twice
    /// `max_in_flight`, so outcomes waiting for the store cannot pile up without bound
    /// (each is a sent request not yet written down).
    open: Arc<Semaphore>,
}

/// Build one client per configured provider.
///
/// # Errors
/// When an HTTP client cannot be built.
pub fn clients(settings: &Settings) -> anyhow::Result<HashMap<String, ProviderClient>> {
    settings
        .providers
        .values()
        .map(|p| {
            Ok((
                p.name.clone(),
                ProviderClient::new(p.clone(), &settings.delivery)?,
            ))
        })
        .collect()
}

/// How often operators' pauses are read from the store (they may come from another
/// instance); a pause through this instance's API applies at once.
const PAUSES_EVERY: Duration = Duration::from_secs(1);

/// Run until `shutdown` turns true; then wait (up to `grace`) for requests in flight.
pub async fn run(
    store: Store,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    gates: Gates,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> anyhow::Result<()> {
    let lanes: Arc<HashMap<String, Arc<Lane>>> = Arc::new(
        clients(&settings)?
            .into_iter()
            .map(|(name, mut client)| {
                client.share_limits_through(store.clone());
                (
                    name,
                    Arc::new(Lane {
                        client,
                        slots: Arc::new(Semaphore::new(settings.delivery.max_in_flight)),
                        open: Arc::new(Semaphore::new(settings.delivery.max_in_flight * 2)),
                    }),
                )
            })
            .collect(),
    );
    let delivery = settings.delivery.clone();
    let lease_ms = (delivery.timeout_ms as i64) * 2 + 30_000;
    let claim_batch = (delivery.max_in_flight / 4).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut pauses_read: Option<tokio::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if pauses_read.is_none_or(|at| at.elapsed() >= PAUSES_EVERY) {
            read_pauses(&store, &gates, &metrics).await;
            pauses_read = Some(tokio::time::Instant::now());
        }
        for (name, lane) in lanes.iter() {
            let free = lane
                .slots
                .available_permits()
                .min(lane.open.available_permits());
            // Claim in batches: wait for a quarter of the slots to be free, unless all are
            // (each claim is a write; one per finished delivery would double them).
            if free == 0 || (free < claim_batch && free < delivery.max_in_flight) {
                continue;
            }
            let gate = gates.get(name).cloned();
            let admitted = gate.as_ref().map_or(Admit::All, |g| g.admit());
            let want = match admitted {
                Admit::All => free,
                Admit::Probe => 1,
                Admit::None => continue,
            };
            // A probe that finds nothing to send (or cannot start) lets the next one go;
            // otherwise the breaker would wait for an answer that never comes.
            let probe_unused = || {
                if let (Admit::Probe, Some(gate)) = (admitted, &gate) {
                    gate.probe_unused();
                }
            };
            let (Ok(mut permits), Ok(mut open)) = (
                lane.slots.clone().try_acquire_many_owned(want as u32),
                lane.open.clone().try_acquire_many_owned(want as u32),
            ) else {
                probe_unused();
                continue;
            };
            let claimed = match store.claim_deliveries(name, want, lease_ms).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(provider = %name, "could not claim deliveries: {e}");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                probe_unused();
            }
            for delivery_row in claimed {
                let (Some(permit), Some(open_permit)) = (permits.split(1), open.split(1)) else {
                    break;
                };
                let (store, lane, settings, metrics, gate) = (
                    store.clone(),
                    lane.clone(),
                    delivery.clone(),
                    metrics.clone(),
                    gate.clone(),
                );
                tasks.spawn(async move {
                    carry_out(
                        &store,
                        &lane.client,
                        &settings,
                        &metrics,
                        gate.as_deref(),
                        delivery_row,
                        permit,
                    )
                    .await;
                    drop(open_permit);
                    store.deliveries_ready.notify_one();
                });
            }
            // Permits not used by this claim go back now.
            drop((permits, open));
        }
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                if e.is_panic() {
                    tracing::error!("a delivery task panicked; its delivery returns to the queue when its lease ends: {e}");
                }
            }
        }
        tokio::select! {
            // New or unblocked deliveries.
            _ = store.deliveries_ready.notified() => {}
            // Retries that became due.
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Finish what is in flight; what does not finish in time stays leased and is sent
    // again after a restart (at least once).
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    Ok(())
}

/// One attempt at one delivery, in a span naming the event and the delivery, so every log
/// line below (the provider's answer included) carries the event id. The outcome lines also
/// name it as a field of their own, for log queries.
#[tracing::instrument(name = "delivery", skip_all, fields(event_id = %claimed.event_id, delivery = claimed.id.get()))]
async fn carry_out(
    store: &Store,
    client: &ProviderClient,
    delivery: &DeliverySettings,
    metrics: &Metrics,
    gate: Option<&Gate>,
    claimed: crate::store::ClaimedDelivery,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let action = &claimed.action;
    let started = std::time::Instant::now();
    let report = attempt::attempt(client, action, &Identities::Store(store)).await;
    // The request is over: its slot is free for the next one while the outcome is written
    // (`max_in_flight` counts requests to the provider; holding the slot through the store's
    // commit would tie the provider's pace to the writer's).
    drop(permit);
    store.deliveries_ready.notify_one();
    if let Some(gate) = gate {
        let attempted = match (&report.attempt, report.result) {
            (None, _) => Attempted::NotSent,
            (Some(attempt), AttemptResult::Retry) => Attempted::Failed(format!(
                "{}: {}",
                attempt
                    .status
                    .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                attempt
                    .response_excerpt
                    .chars()
                    .take(300)
                    .collect::<String>()
            )),
            (Some(_), _) => Attempted::Answered,
        };
        if gate.report(attempted) {
            metrics
                .breaker_opened
                .with_label_values(&[&action.provider])
                .inc();
            tracing::warn!(provider = %action.provider, "circuit breaker open: retryable failures in a row; its deliveries wait for the cooldown");
        }
        metrics
            .provider_state
            .with_label_values(&[&action.provider])
            .set(state_number(gate.state()));
    }
    let took = report.attempt.is_some().then(|| started.elapsed());
    if let Some(took) = took {
        metrics
            .provider_request_seconds
            .with_label_values(&[&action.provider])
            .observe(took.as_secs_f64());
    }
    let attempts = claimed.attempts + u32::from(report.attempt.is_some());
    let next = match report.result {
        AttemptResult::Success => Next::Done,
        AttemptResult::Dead(reason) => Next::Dead { reason },
        // The last attempt's failure names the reason when no answer came (docs/providers.md).
        // A provider's own `max_attempts` overrides `[delivery]`'s.
        AttemptResult::Retry
            if attempts
                >= client
                    .settings
                    .max_attempts
                    .unwrap_or(delivery.max_attempts) =>
        {
            Next::Dead {
                reason: report.failure.map_or(
                    DeadReason::AttemptsExhausted,
                    attempt::SendFailure::dead_reason,
                ),
            }
        }
        AttemptResult::Retry => {
            let status = report.attempt.as_ref().and_then(|a| a.status);
            let floor = report
                .retry_after
                .max(attempt::status_floor(client.settings.kind, status));
            let wait = attempt::backoff(delivery, attempts, floor);
            Next::Retry {
                next_at: now_millis().saturating_add(limits::millis(wait)),
            }
        }
    };
    let outcome = match &next {
        Next::Done => "success",
        Next::Retry { .. } => "retry",
        Next::Dead { .. } => "dead",
    };
    metrics
        .deliveries
        .with_label_values(&[&action.provider, action.action.as_str(), outcome])
        .inc();
    metrics.activity.delivery(
        now_millis(),
        &action.provider,
        match &next {
            Next::Done => Outcome::Delivered,
            Next::Retry { .. } => Outcome::Retried,
            Next::Dead { .. } => Outcome::Dead,
        },
        took,
    );
    let status = report
        .attempt
        .as_ref()
        .and_then(|a| a.status)
        .map_or_else(|| "none".to_string(), |s| s.to_string());
    let answer = report
        .attempt
        .as_ref()
        .map(|a| a.response_excerpt.chars().take(200).collect::<String>())
        .unwrap_or_default();
    match &next {
        Next::Done => tracing::info!(
            event_id = %claimed.event_id, rule = %action.rule, provider = %action.provider,
            action = action.action.as_str(), status = %status, "delivered"
        ),
        Next::Retry { next_at } => tracing::warn!(
            event_id = %claimed.event_id, provider = %action.provider, action = action.action.as_str(),
            status = %status, attempt = attempts, retry_in_ms = next_at - now_millis(), answer = %answer,
            "delivery failed; will retry"
        ),
        Next::Dead { reason } => tracing::error!(
            event_id = %claimed.event_id, provider = %action.provider, action = action.action.as_str(),
            status = %status, attempt = attempts, reason = reason.as_str(), answer = %answer,
            "delivery failed for good; dead-lettered"
        ),
    }
    let outcome = AttemptOutcome {
        delivery_id: claimed.id,
        request: report.request,
        attempt: report.attempt,
        next,
    };
    record_outcome(store, metrics, &claimed.event_id, &action.provider, outcome).await;
}

/// Record an outcome, trying again a few times over a few seconds. If it still cannot be
/// written, the delivery stays in flight until its lease ends and is then sent again (at
/// least once): it never blocks its user's later deliveries for good.
async fn record_outcome(
    store: &Store,
    metrics: &Metrics,
    event_id: &EventId,
    provider: &str,
    outcome: AttemptOutcome,
) {
    let mut wait = OUTCOME_RETRY_FIRST;
    for tries in 1..=OUTCOME_TRIES {
        let written = store.finish_attempt(outcome.clone()).await;
        if written.is_err() {
            metrics
                .outcome_write_failures
                .with_label_values(&[provider])
                .inc();
        }
        match written {
            Ok(()) => return,
            Err(e) if tries < OUTCOME_TRIES => {
                tracing::warn!(%event_id, delivery = outcome.delivery_id.get(), "could not record a delivery's outcome (try {tries} of {OUTCOME_TRIES}); trying again: {e}");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => tracing::error!(
                %event_id, delivery = outcome.delivery_id.get(),
                "could not record a delivery's outcome; it will be sent again when its lease ends: {e}"
            ),
        }
    }
}
