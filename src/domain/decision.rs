//! What the rules decided for one event: each rule's actions or error, the memory the rules
//! wrote, and the order key its deliveries go out under. The store keeps it in one
//! transaction; the worker and the admin replay produce it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::DecidedAction;

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
    /// `""` for the event's first run, `run_<ULID>` for an operator's replay.
    pub run_id: String,
    /// Deliveries of one key go out one at a time, in order (contract §7).
    pub order_key: String,
    pub runs: Vec<RuleRun>,
    pub memory: Vec<MemoryWrite>,
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
