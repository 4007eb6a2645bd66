//! The durable store: events, rule runs, deliveries and their attempts, per-user memory,
//! looked-up identities. Every piece of work is a row with a state and a due time, so a
//! restart resumes where a crash left off. `sqlite` is the embedded back end; the types
//! here are what the rest of the program sees.

pub mod retention;
mod sqlite;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::DecidedAction;
use crate::config::{StorageSettings, StorageUrl};
use crate::event::Event;
use crate::providers::RequestSpec;

pub use sqlite::{read_trace, SqliteStore};

/// The first run of an event's rules (replays get `run_<ULID>`).
pub const FIRST_RUN: &str = "";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take writes now (shut down, locked by another writer, disk trouble).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("store locked by pid {0}")]
    Locked(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The answer to an insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The stored event's id: the new one, or the first one's for a duplicate.
    pub event_id: String,
    pub duplicate: bool,
}

/// An accepted event waiting for its rules.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event: Event,
}

/// One rule's part in an event, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The admin API's event filter (contract §8).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Matches `user.id`, the phone (with or without `+`), email or ns.
    pub user: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    pub limit: usize,
    /// Continue after this position (from `next_cursor`).
    pub cursor: Option<i64>,
}

/// One line of the events list.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub source: String,
    pub kind: String,
    pub user: crate::event::User,
    pub received_at: i64,
    pub status: String,
    #[serde(skip)]
    pub seq: i64,
}

/// A delivery that failed for good (contract §7, §8).
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub event_id: String,
    pub action: String,
    pub provider: String,
    pub params: Value,
    pub request: Option<Value>,
    pub attempts: Vec<Attempt>,
    pub last_status: Option<u16>,
    pub last_response: Option<String>,
    pub reason: String,
    pub created_at: i64,
}

/// What a redrive came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redrive {
    Done,
    NotFound,
    AlreadyRedriven,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub event_id: String,
    pub action: DecidedAction,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// One attempt's result, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: i64,
    pub status: Option<u16>,
    pub response_excerpt: String,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Done,
    Retry { next_at: i64 },
    Dead { reason: DeadReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    FinalStatus,
    AttemptsExhausted,
    UserUnknown,
    UserAmbiguous,
}

impl DeadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::FinalStatus => "final_status",
            DeadReason::AttemptsExhausted => "attempts_exhausted",
            DeadReason::UserUnknown => "user_unknown",
            DeadReason::UserAmbiguous => "user_ambiguous",
        }
    }
}

/// The record of one attempt and what follows.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub delivery_id: i64,
    pub request: Option<RequestSpec>,
    /// `None` when no request was sent (the user could not be named).
    pub attempt: Option<Attempt>,
    pub next: Next,
}

/// A stored event with everything that happened to it (the trace of contract §8).
#[derive(Debug, Clone, Serialize)]
pub struct EventTrace {
    pub event: Event,
    pub status: String,
    pub rules: Vec<RuleRun>,
    pub deliveries: Vec<DeliveryTrace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryTrace {
    pub id: i64,
    pub run_id: String,
    pub seq: i64,
    pub rule: String,
    pub action: String,
    pub provider: String,
    pub params: Value,
    pub request: Option<Value>,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// The store the program uses.
pub type Store = std::sync::Arc<SqliteStore>;

/// Open the configured store, creating it and its schema as needed.
///
/// # Errors
/// `Locked` when another `serve` holds the SQLite file; `Unexpected` when it cannot be
/// opened or created.
pub fn open(settings: &StorageSettings) -> Result<Store, StoreError> {
    match &settings.url {
        StorageUrl::Sqlite(path) => Ok(std::sync::Arc::new(SqliteStore::open(
            path,
            settings.synchronous,
        )?)),
        StorageUrl::Postgres(_) => Err(StoreError::Unexpected(anyhow::anyhow!(
            "PostgreSQL storage is not available in this build yet; use sqlite://PATH"
        ))),
    }
}

/// At most this many characters of a provider's answer are kept with an attempt.
pub const RESPONSE_EXCERPT_CHARS: usize = 2048;

pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(RESPONSE_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
