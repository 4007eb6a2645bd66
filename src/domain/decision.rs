//! What the rules decided for one event: each rule's actions or error, the memory the rules
//! wrote, and the order key its deliveries go out under. The store keeps it in one
//! transaction; the worker and the admin replay produce it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::DecidedAction;
use super::ids::RunId;

/// One rule's part in an event, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRun {
    pub rule: String,
    pub actions: Vec<DecidedAction>,
    pub error: Option<String>,
}

/// What the rules decided for one event: stored in one transaction with its deliveries
/// and the memory the rules wrote.
#[derive(Debug, Clone)]
pub struct Decision {
    pub event_seq: i64,
    /// `RunId::FIRST` for the event's first run, `run_<ULID>` for an operator's replay.
    pub run_id: RunId,
    /// Deliveries of one key go out one at a time, in order (docs/guarantees.md).
    pub order_key: String,
    pub runs: Vec<RuleRun>,
    pub memory: Vec<MemoryWrite>,
    /// The user's memory as the rules were given it, when it was read (first run only).
    pub memory_seen: Option<serde_json::Map<String, Value>>,
    /// The shadow rules' runs (first run only): recorded, never carried out.
    pub shadow: Vec<ShadowRun>,
}

/// One shadow rule's part in an event (docs/rule-api.md), and whether its actions are not all
/// among the live ones.
#[derive(Debug, Clone)]
pub struct ShadowRun {
    pub run: RuleRun,
    pub differs: bool,
}

impl ShadowRun {
    /// A shadow rule's run compared with the live actions of the same event: it differs when
    /// one of its actions (action, provider, params) is not among them.
    pub fn compared(run: RuleRun, live: &[&DecidedAction]) -> ShadowRun {
        let differs = run.actions.iter().any(|a| {
            !live
                .iter()
                .any(|l| l.action == a.action && l.provider == a.provider && l.params == a.params)
        });
        ShadowRun { run, differs }
    }
}

/// One `memory_set` of a rule that completed.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryWrite {
    pub source: String,
    pub user_id: String,
    pub key: String,
    /// `None` deletes the key.
    pub value: Option<Value>,
    /// Unix ms after which the value is gone.
    pub expires_at: Option<i64>,
}
