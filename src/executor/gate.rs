//! Whether a provider's deliveries may go out now (docs/guarantees.md): an operator's pause, and
//! the circuit breaker. After `breaker_failures` retryable failures in a row (no answer, a
//! timeout, 408, 429, 5xx) the breaker is `open` for `breaker_cooldown_ms`; then one
//! delivery is let through as a probe (the state stays `open` until it is answered): an
//! answer that is not a retryable failure closes it, a failure starts another cooldown.
//! While paused or open nothing of that provider is claimed, so no attempt is counted and
//! nothing is dead-lettered; the deliveries wait, in per-user order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::config::Settings;

/// What the executor may claim for a provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// As many as its free slots allow.
    All,
    /// One delivery, the breaker's probe.
    Probe,
    /// Nothing: paused, or the breaker is open.
    None,
}

/// How an attempt went, for the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempted {
    /// The provider answered, and not with a retryable failure (success or a final status).
    Answered,
    /// A retryable failure: no answer, a timeout, 408, 429, 5xx.
    Failed(String),
    /// No request went out (the user could not be named, ...).
    NotSent,
}

/// A provider's state as the admin API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    Paused,
    Open,
}

/// Who paused a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PausedBy {
    Operator,
    Breaker,
}

/// One provider's gate, shared by the executor (which asks and reports) and the admin API.
#[derive(Debug)]
pub struct Gate {
    failures_to_open: u32,
    cooldown: Duration,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    operator_paused: bool,
    /// Retryable failures in a row.
    failures: u32,
    /// While the breaker is open: when the next probe may go.
    open_until: Option<Instant>,
    /// A probe is out (the breaker stays open until it is answered).
    probing: bool,
    last_error: Option<String>,
}

/// What `GET /admin/providers` shows of a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateView {
    pub state: State,
    pub paused_by: Option<PausedBy>,
    pub last_error: Option<String>,
}

impl Gate {
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Gate {
        Gate {
            failures_to_open: failures_to_open.max(1),
            cooldown,
            state: Mutex::new(GateState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // The state stays consistent whatever panicked while holding it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What may be claimed now; a `Probe` answer marks the probe as out.
    pub fn admit(&self) -> Admit {
        let mut s = self.lock();
        if s.operator_paused {
            return Admit::None;
        }
        match s.open_until {
            None => Admit::All,
            Some(_) if s.probing => Admit::None,
            Some(until) if Instant::now() < until => Admit::None,
            Some(_) => {
                s.probing = true;
                Admit::Probe
            }
        }
    }

    /// A probe was admitted but nothing was there to send: let the next one go.
    pub fn probe_unused(&self) {
        self.lock().probing = false;
    }

    /// Report how an attempt went. Returns `true` when this report opened the breaker.
    pub fn report(&self, attempted: Attempted) -> bool {
        let mut s = self.lock();
        match attempted {
            Attempted::Answered => {
                s.failures = 0;
                s.open_until = None;
                s.probing = false;
                false
            }
            Attempted::NotSent => {
                s.probing = false;
                false
            }
            Attempted::Failed(error) => {
                s.failures = s.failures.saturating_add(1);
                s.last_error = Some(error);
                let was_open = s.open_until.is_some();
                if s.probing || s.failures >= self.failures_to_open {
                    s.open_until = Some(Instant::now() + self.cooldown);
                    s.probing = false;
                }
                !was_open && s.open_until.is_some()
            }
        }
    }

    pub fn set_operator_paused(&self, paused: bool) {
        self.lock().operator_paused = paused;
    }

    /// The state alone (no copy of the last error): for the metric, after every attempt.
    pub fn state(&self) -> State {
        let s = self.lock();
        if s.operator_paused {
            State::Paused
        } else if s.open_until.is_some() {
            State::Open
        } else {
            State::Active
        }
    }

    pub fn view(&self) -> GateView {
        let state = self.state();
        let paused_by = match state {
            State::Paused => Some(PausedBy::Operator),
            State::Open => Some(PausedBy::Breaker),
            State::Active => None,
        };
        GateView {
            state,
            paused_by,
            last_error: self.lock().last_error.clone(),
        }
    }
}

/// Every provider's gate, by name. Built once at start, so gates outlive a restarted
/// executor and the admin API sees the same ones.
pub type Gates = Arc<HashMap<String, Arc<Gate>>>;

/// A gate for each configured provider, with its breaker settings.
pub fn gates(settings: &Settings) -> Gates {
    Arc::new(
        settings
            .providers
            .values()
            .map(|p| {
                (
                    p.name.clone(),
                    Arc::new(Gate::new(
                        p.breaker_failures,
                        Duration::from_millis(p.breaker_cooldown_ms),
                    )),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Attempted {
        Attempted::Failed("503".into())
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_n_failures_in_a_row_and_a_probe_closes_it() {
        let gate = Gate::new(3, Duration::from_secs(30));
        assert!(!gate.report(failed()));
        assert!(!gate.report(failed()));
        assert_eq!(gate.admit(), Admit::All, "two failures: still active");
        assert!(gate.report(failed()), "the third opens it");
        assert_eq!(gate.view().state, State::Open);
        assert_eq!(gate.view().paused_by, Some(PausedBy::Breaker));
        assert_eq!(gate.admit(), Admit::None, "open: nothing goes out");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(gate.admit(), Admit::None, "still cooling down");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(gate.admit(), Admit::Probe, "after the cooldown: one probe");
        assert_eq!(gate.admit(), Admit::None, "only one probe at a time");
        assert_eq!(
            gate.view().state,
            State::Open,
            "open until the probe is answered"
        );
        gate.report(Attempted::Answered);
        assert_eq!(gate.view().state, State::Active);
        assert_eq!(gate.admit(), Admit::All);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_starts_another_cooldown() {
        let gate = Gate::new(1, Duration::from_secs(10));
        gate.report(failed());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(gate.admit(), Admit::Probe);
        gate.report(failed());
        assert_eq!(gate.admit(), Admit::None);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(gate.admit(), Admit::Probe);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_resets_the_count_and_an_unsent_probe_lets_the_next_one_go() {
        let gate = Gate::new(2, Duration::from_secs(5));
        gate.report(failed());
        gate.report(Attempted::Answered);
        gate.report(failed());
        assert_eq!(
            gate.admit(),
            Admit::All,
            "the count restarted after the answer"
        );
        gate.report(failed());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(gate.admit(), Admit::Probe);
        gate.report(Attempted::NotSent);
        assert_eq!(
            gate.admit(),
            Admit::Probe,
            "no request went out: probe again"
        );
    }

    #[test]
    fn an_operator_pause_wins_over_everything_and_resume_restores() {
        let gate = Gate::new(20, Duration::from_secs(30));
        gate.set_operator_paused(true);
        assert_eq!(gate.admit(), Admit::None);
        assert_eq!(
            gate.view(),
            GateView {
                state: State::Paused,
                paused_by: Some(PausedBy::Operator),
                last_error: None
            }
        );
        gate.set_operator_paused(false);
        assert_eq!(gate.admit(), Admit::All);
    }
}
