//! The durable store: events, rule runs, deliveries and their attempts, per-user memory,
//! looked-up identities. Every piece of work is a row with a state and a due time, so a
//! restart resumes where a crash left off. `Backend` is the one interface both back ends
//! (`sqlite`, embedded; `postgres`, for several instances) implement, `transitions` the
//! state changes they share, `migrations/` their versioned schemas, `sql_types` how the
//! domain's states and ids (`EventId`, `RunId`, `DeliveryId`, `DeadLetterId`) become SQL
//! values for both; `Storage` and the types here are what the rest of the program sees.

mod filters;
mod postgres;
pub mod retention;
mod sql_types;
mod sqlite;
mod transitions;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::config::{StorageSettings, StorageUrl};
use crate::domain::actions::{ActionKind, DecidedAction};
pub use crate::domain::decision::{Decision, MemoryWrite, RuleRun, ShadowRun};
use crate::domain::event::Event;
pub use crate::domain::ids::{DeadLetterId, DeliveryId, EventId, RunId};
pub use crate::domain::status::DeadReason;
use crate::domain::target::RequestSpec;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

/// Why one decision of a batch (`Storage::decide_many`) was not stored: the event stays
/// waiting and is decided again.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// An earlier decision of the same order key failed: this one waits with it, so that
    /// the key's events are still decided in order.
    #[error("an earlier event of the same user could not be stored")]
    EarlierOfKeyFailed,
    /// Its writes failed and were undone (SQLite: its savepoint), with every cause.
    #[error("{0:#}")]
    Writes(anyhow::Error),
    /// Its own transaction failed (PostgreSQL, once the batch's failed together).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Decisions stored one by one, in acceptance order (`Storage::decide_many` once a batch
/// cannot be stored together), by both back ends: a decision that fails holds back the later
/// decisions of its order key, so the key's events are still decided in order.
#[derive(Default)]
pub(crate) struct OneByOne {
    failed_keys: std::collections::HashSet<String>,
}

impl OneByOne {
    /// Whether an earlier decision of `decision`'s key failed (it must then wait too).
    pub(crate) fn held_back(&self, decision: &Decision) -> bool {
        self.failed_keys.contains(&decision.order_key)
    }

    /// Note the result of storing a decision of `order_key`, and give it back.
    pub(crate) fn settle(
        &mut self,
        order_key: &str,
        result: Result<(), DecisionError>,
    ) -> Result<(), DecisionError> {
        if result.is_err() {
            self.failed_keys.insert(order_key.to_string());
        }
        result
    }
}

/// The answer to an insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The stored event's id: the new one, or the first one's for a duplicate.
    pub event_id: EventId,
    pub duplicate: bool,
}

/// An accepted event waiting for its rules.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event: Event,
}

/// The admin API's event filter (docs/http-api.md).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Matches `user.id`, the phone (with or without `+`), email or ns.
    pub user: Option<String>,
    pub kind: Option<String>,
    pub status: Option<crate::domain::status::EventStatus>,
    pub source: Option<String>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    /// Words that must all appear in the event's text or raw payload (`search_terms`).
    pub words: Vec<String>,
    /// An event with a delivery to this provider.
    pub provider: Option<String>,
    /// An event with a delivery of this action.
    pub action: Option<String>,
    /// An event on which this rule file decided an action or raised an error.
    pub rule: Option<String>,
    /// `true`: events with a rule error; `false`: events without.
    pub rule_error: Option<bool>,
    /// An event with a delivery attempt answered with this HTTP status.
    pub http_status: Option<u16>,
    pub limit: usize,
    /// Continue after this position (from `next_cursor`).
    pub cursor: Option<i64>,
}

impl EventFilter {
    /// Whether words are the only condition (the count then reads only the word index).
    pub(crate) fn only_words(&self) -> bool {
        let EventFilter {
            user,
            kind,
            status,
            source,
            since,
            until,
            words: _,
            provider,
            action,
            rule,
            rule_error,
            http_status,
            limit: _,
            cursor: _,
        } = self;
        user.is_none()
            && kind.is_none()
            && status.is_none()
            && source.is_none()
            && since.is_none()
            && until.is_none()
            && provider.is_none()
            && action.is_none()
            && rule.is_none()
            && rule_error.is_none()
            && http_status.is_none()
    }
}

/// One page of events and how many match in all (counted up to `TOTAL_CAP`).
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<EventSummary>,
    /// How many match, at most `TOTAL_CAP`.
    pub total: i64,
    /// `false` when more than `TOTAL_CAP` match (`total` is then `TOTAL_CAP`).
    pub total_exact: bool,
}

/// The events list counts at most this many matches: counting a million takes seconds
/// (PostgreSQL), counting ten thousand a few milliseconds.
pub const TOTAL_CAP: i64 = 10_000;

/// A count made with `LIMIT TOTAL_CAP + 1` as (`total`, `total_exact`).
pub(crate) fn capped_total(counted: i64) -> (i64, bool) {
    (counted.min(TOTAL_CAP), counted <= TOTAL_CAP)
}

/// Which dead letters (docs/http-api.md): every field set must match.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    pub provider: Option<String>,
    pub action: Option<String>,
    /// A dead-letter reason such as `attempts_exhausted` or `user_unknown`.
    pub reason: Option<String>,
    pub last_status: Option<u16>,
    /// Dead-lettered at or after (unix ms).
    #[serde(skip)]
    pub since: Option<i64>,
    /// Dead-lettered before (unix ms).
    #[serde(skip)]
    pub until: Option<i64>,
}

/// A page request of `GET /admin/dead-letters`.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    pub filter: DeadLetterFilter,
    /// List discarded letters too.
    pub include_discarded: bool,
    pub limit: usize,
    /// Continue after this letter id (from `next_cursor`).
    pub cursor: Option<i64>,
}

/// One page of dead letters, newest first, and how many match in all.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterPage {
    pub letters: Vec<DeadLetter>,
    pub total: i64,
}

/// The letters a bulk redrive or discard acts on.
#[derive(Debug, Clone)]
pub enum Selection {
    Ids(Vec<DeadLetterId>),
    Filter(DeadLetterFilter),
}

/// What a bulk redrive came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkRedrive {
    pub redriven: usize,
    /// `user_unknown` letters selected by a filter that did not ask for that reason: left
    /// as they are (they fail again unless the user became known; see docs/design.md).
    pub skipped_user_unknown: usize,
}

/// The words an event is found by (`GET /admin/events?q=`): those of its text and of the
/// string and number values of its raw payload, lowercased, separated by spaces, at most
/// `SEARCH_WORDS_BYTES` of them. Both back ends index exactly this text.
pub(crate) fn search_words(event: &Event) -> String {
    fn walk(value: &Value, out: &mut String) {
        if out.len() >= SEARCH_WORDS_BYTES {
            return;
        }
        match value {
            Value::String(s) => push_words(s, out),
            Value::Number(n) => push_words(&n.to_string(), out),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            Value::Bool(_) | Value::Null => {}
        }
    }
    let mut out = String::new();
    push_words(&event.text, &mut out);
    walk(&event.raw, &mut out);
    out
}

/// At most this many bytes of an event's words are indexed (PostgreSQL's `tsvector` holds
/// at most 1 MiB; a 16 MiB payload's tail is not searchable).
pub(crate) const SEARCH_WORDS_BYTES: usize = 256 * 1024;

fn push_words(text: &str, out: &mut String) {
    for word in search_terms(text) {
        if out.len() + word.len() + 1 > SEARCH_WORDS_BYTES {
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
}

/// The words of a text as search compares them: runs of letters and digits, lowercased.
/// `GET /admin/events?q=` splits its query the same way.
pub fn search_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// One line of the events list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventSummary {
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub source: String,
    pub kind: String,
    pub user: crate::domain::event::User,
    pub received_at: i64,
    pub status: String,
    /// Why an event failed without its rules running (`unreadable`); null otherwise.
    pub reason: Option<String>,
    /// The event's text, its first 200 characters; null when it has none (or cannot be read).
    pub text: Option<String>,
    /// How many actions the rules decided for it, over every run (replays included).
    pub actions: i64,
    /// Null, or what went wrong first: the first rule error, else why the first dead
    /// delivery died (`dead letter: final_status (HTTP 400)`), else the event's `reason`.
    pub error: Option<String>,
    #[serde(skip)]
    pub seq: i64,
}

/// At most this many characters of an event's text are shown in the events list.
pub const SUMMARY_TEXT_CHARS: usize = 200;

/// A delivery that failed for good (docs/guarantees.md, docs/http-api.md).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    #[schema(value_type = i64)]
    pub id: DeadLetterId,
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub action: String,
    pub provider: String,
    pub params: Value,
    pub request: Option<Value>,
    pub attempts: Vec<Attempt>,
    pub last_status: Option<u16>,
    pub last_response: Option<String>,
    pub reason: String,
    pub created_at: i64,
    /// When it was redriven (its delivery restarted); null if not.
    pub redriven_at: Option<i64>,
    /// When an operator discarded it; null if not.
    pub discarded_at: Option<i64>,
    /// The delivery it records (a redriven delivery keeps its id).
    #[schema(value_type = i64)]
    pub delivery_id: DeliveryId,
}

/// A claimed delivery's stored columns read back (action name, params JSON, target JSON).
/// An error means the row cannot be carried out: it is dead-lettered `unreadable` by
/// `unreadable_outcome`, never a stop for the rows claimed with it.
pub(crate) fn read_delivery(
    action: &str,
    params: &str,
    target: &str,
) -> anyhow::Result<(
    ActionKind,
    Map<String, Value>,
    crate::domain::target::Target,
)> {
    use anyhow::Context as _;
    let kind = ActionKind::parse(action).with_context(|| format!("unknown action {action}"))?;
    Ok((
        kind,
        serde_json::from_str(params).context("params")?,
        serde_json::from_str(target).context("target")?,
    ))
}

/// A stored JSON column as shown to operators (traces, dead letters): the value, or, when
/// it cannot be read, its text as a string, so one damaged row never fails a page.
pub(crate) fn shown_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The outcome that closes a delivery whose row cannot be read: dead, nothing sent.
pub(crate) fn unreadable_outcome(delivery_id: DeliveryId) -> AttemptOutcome {
    AttemptOutcome {
        delivery_id,
        request: None,
        attempt: None,
        next: Next::Dead {
            reason: DeadReason::Unreadable,
        },
    }
}

/// A provider's open deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenCounts {
    /// Not finished and not in flight (queued behind the user's earlier delivery included).
    pub waiting: i64,
    pub in_flight: i64,
}

/// Open deliveries per provider name.
pub type ProviderCounts = std::collections::HashMap<String, OpenCounts>;

/// What a redrive came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redrive {
    Done,
    NotFound,
    AlreadyRedriven,
    /// An operator discarded it: it is kept for the record and never redriven.
    Discarded,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub action: DecidedAction,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// One attempt's result, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: i64,
    pub status: Option<u16>,
    pub response_excerpt: String,
    /// How long the request took, in milliseconds (until the answer was read or the
    /// request failed); null for attempts recorded before this was kept.
    #[serde(default)]
    pub duration_ms: Option<i64>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Done,
    Retry { next_at: i64 },
    Dead { reason: DeadReason },
}

/// The record of one attempt and what follows.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub delivery_id: DeliveryId,
    pub request: Option<RequestSpec>,
    /// `None` when no request was sent (the user could not be named).
    pub attempt: Option<Attempt>,
    pub next: Next,
}

/// A stored event with everything that happened to it (the trace of docs/http-api.md).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventTrace {
    /// `None` when the stored event cannot be read back (`reason` is then `unreadable`).
    pub event: Option<Event>,
    pub status: String,
    /// Why the event failed without its rules running (`unreadable`); null otherwise.
    pub reason: Option<String>,
    pub rules: Vec<RuleRun>,
    /// What each shadow rule (`rules/shadow/`) would have done: recorded, never carried out.
    pub shadow: Vec<RuleRun>,
    /// The user's memory as the rules were given it (`null` when it was not recorded: no rule
    /// used memory, the event names no user, or it was decided before this was kept).
    #[schema(value_type = Option<Object>)]
    pub memory: Option<Map<String, Value>>,
    pub deliveries: Vec<DeliveryTrace>,
}

/// Which decided events a backtest reads: received in `[since, until)`, optionally of one
/// source, after position `after`, at most `limit`.
#[derive(Debug, Clone)]
pub struct DecidedWindow {
    pub since: i64,
    pub until: i64,
    pub source: Option<String>,
    pub after: i64,
    pub limit: usize,
}

/// A decided event as a backtest reads it: the event, what its rules decided at the time
/// (first run), and the memory they were given, if recorded.
#[derive(Debug, Clone)]
pub struct DecidedEvent {
    pub seq: i64,
    pub event: Event,
    pub runs: Vec<RuleRun>,
    pub memory_seen: Option<Map<String, Value>>,
}

/// One shadow rule over a window (`GET /admin/shadow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShadowSummary {
    /// The shadow rule's file name.
    pub file: String,
    /// Events it ran on.
    pub events: i64,
    /// Actions it would have taken.
    pub actions: i64,
    /// Events where its actions are not a subset of the live ones.
    pub differs_from_live: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryTrace {
    #[schema(value_type = i64)]
    pub id: DeliveryId,
    #[schema(value_type = String)]
    pub run_id: RunId,
    pub seq: i64,
    pub rule: String,
    pub action: String,
    pub provider: String,
    pub params: Value,
    pub request: Option<Value>,
    pub status: String,
    pub reason: Option<String>,
    /// The dead letter this delivery was last redriven from (its earlier attempts are
    /// listed with it); null if it never was.
    #[schema(value_type = Option<i64>)]
    pub redrive_of: Option<DeadLetterId>,
    /// A dead delivery's dead letter (the open one, else the latest): what
    /// `POST /admin/dead-letters/{id}/redrive` takes. Null while the delivery is not dead.
    #[schema(value_type = Option<i64>)]
    pub dead_letter_id: Option<DeadLetterId>,
    pub attempts: Vec<Attempt>,
}

/// What a back end does: the one store interface. SQLite (`sqlite/`) and PostgreSQL
/// (`postgres/`) implement every method, with the state transitions they share written once
/// in `transitions`; `Storage` dispatches to the configured one.
pub(crate) trait Backend: Send + Sync + Sized {
    /// Stop taking writes (and, for SQLite, release the file for another process).
    fn close(&self);
    fn is_available(&self) -> bool;
    /// Why the store cannot take writes now, if it cannot.
    fn write_problem(&self) -> Option<String>;
    /// Whether the database answers a query (`write_problem` says whether it can write).
    async fn ping(self: &Arc<Self>) -> bool;
    /// Store an accepted event, or find the first one with the same (source, event.id).
    async fn insert_event(self: &Arc<Self>, event: Event) -> Result<Inserted, StoreError>;

    async fn insert_events(
        self: &Arc<Self>,
        events: Vec<Event>,
    ) -> Result<Vec<Inserted>, StoreError>;
    /// Events whose rules have not run, in acceptance order, for this process; an event
    /// that cannot be read back is marked `failed` (`unreadable`) instead.
    async fn claim_events(
        self: &Arc<Self>,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<PendingEvent>, StoreError>;
    /// Store what the rules decided for an event, its deliveries and memory writes.
    async fn decide(self: &Arc<Self>, decision: Decision) -> Result<(), StoreError>;
    /// Store a batch's decisions (acceptance order) together; one result per decision.
    async fn decide_many(
        self: &Arc<Self>,
        decisions: Vec<Decision>,
    ) -> Result<Vec<Result<(), DecisionError>>, StoreError>;
    /// Claim up to `limit` due deliveries of one provider, each its key's head.
    async fn claim_deliveries(
        self: &Arc<Self>,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Record an attempt and what follows it.
    async fn finish_attempt(self: &Arc<Self>, outcome: AttemptOutcome) -> Result<(), StoreError>;
    /// Remember (`Some`) or forget (`None`) the UChat subscriber of a phone.
    async fn set_identity(
        self: &Arc<Self>,
        provider: &str,
        phone: &str,
        user_ns: Option<String>,
    ) -> Result<(), StoreError>;
    /// The remembered UChat subscriber of a phone.
    async fn identity(
        self: &Arc<Self>,
        provider: &str,
        phone: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Pause (`true`) or resume a provider for every instance.
    async fn set_paused(self: &Arc<Self>, provider: &str, paused: bool) -> Result<(), StoreError>;
    /// The providers an operator paused.
    async fn paused_providers(self: &Arc<Self>) -> Result<Vec<String>, StoreError>;
    /// Open deliveries per provider.
    async fn provider_counts(self: &Arc<Self>) -> Result<ProviderCounts, StoreError>;
    /// Send a dead letter's delivery again, from its first attempt, out of order.
    async fn redrive(self: &Arc<Self>, id: DeadLetterId) -> Result<Redrive, StoreError>;
    /// Delete finished events that finished before `before` (unix ms), one batch.
    async fn purge_finished(self: &Arc<Self>, before: i64) -> Result<usize, StoreError>;
    /// Everything that happened to one event.
    async fn event_trace(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<EventTrace>, StoreError>;
    /// The stored event and its position, for a replay.
    async fn stored_event(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<PendingEvent>, StoreError>;
    /// Events, newest accepted first, filtered and paged, and how many match.
    async fn list_events(self: &Arc<Self>, filter: EventFilter) -> Result<EventPage, StoreError>;
    /// Dead letters, newest first, filtered and paged, and how many match.
    async fn dead_letters(
        self: &Arc<Self>,
        query: DeadLetterQuery,
    ) -> Result<DeadLetterPage, StoreError>;
    /// Redrive every selected letter not yet redriven or discarded, in one transaction.
    async fn redrive_many(
        self: &Arc<Self>,
        selection: Selection,
    ) -> Result<BulkRedrive, StoreError>;
    /// Discard every selected letter not yet redriven or discarded; how many were.
    async fn discard_many(self: &Arc<Self>, selection: Selection) -> Result<usize, StoreError>;
    /// Every unexpired value a user's rules remembered.
    async fn memory_of(
        self: &Arc<Self>,
        source: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Map<String, Value>, StoreError>;
    /// How many events and deliveries are not finished yet.
    async fn queue_depth(self: &Arc<Self>) -> Result<(i64, i64), StoreError>;
    /// Decided events of a window, in acceptance order, with their first run (backtest).
    async fn decided_events(
        self: &Arc<Self>,
        window: DecidedWindow,
    ) -> Result<Vec<DecidedEvent>, StoreError>;
    /// Each shadow rule's runs on events received since `since` (unix ms).
    async fn shadow_summary(self: &Arc<Self>, since: i64)
        -> Result<Vec<ShadowSummary>, StoreError>;
    /// A shared rate-limit slot: the unix ms at which a request under `key` may go out;
    /// `None` when limits are kept in this process (one instance).
    async fn rate_slot(
        self: &Arc<Self>,
        key: &str,
        period_ms: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Hold a shared rate-limit key until `until` (unix ms), for every instance.
    async fn pause_rate(self: &Arc<Self>, key: &str, until: i64) -> Result<(), StoreError>;
    /// From now on, every instance spaces requests under `key` `period_ms` apart (a rate
    /// a provider announced), whatever spacing it asks for.
    async fn share_rate(self: &Arc<Self>, key: &str, period_ms: i64) -> Result<(), StoreError>;
}

/// The store the program uses.
pub type Store = Arc<Storage>;

/// The configured back end behind one interface, and the wake-ups of the local workers.
pub struct Storage {
    backend: Configured,
    /// Wakes the rule workers: new events were committed.
    pub events_ready: Notify,
    /// Wakes the executor: deliveries became due or unblocked.
    pub deliveries_ready: Notify,
}

/// The configured back end.
enum Configured {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

/// Open the configured store, creating it and its schema as needed.
///
/// # Errors
/// `Locked` when another `serve` holds the SQLite file; `Unexpected` when it cannot be
/// opened, created or reached.
pub async fn open(settings: &StorageSettings) -> Result<Store, StoreError> {
    let backend = match &settings.url {
        StorageUrl::Sqlite(path) => {
            Configured::Sqlite(Arc::new(SqliteStore::open(path, settings.synchronous)?))
        }
        StorageUrl::Postgres(url) => {
            Configured::Postgres(Arc::new(PostgresStore::open(url).await?))
        }
    };
    Ok(Arc::new(Storage::new(backend)))
}

/// Open the configured store only to read it, beside a running `serve` (`switchboard fixture`).
///
/// # Errors
/// As `open`.
pub async fn open_for_reading(settings: &StorageSettings) -> Result<Store, StoreError> {
    let backend = match &settings.url {
        StorageUrl::Sqlite(path) => {
            Configured::Sqlite(Arc::new(SqliteStore::open_read_only(path)?))
        }
        StorageUrl::Postgres(url) => {
            Configured::Postgres(Arc::new(PostgresStore::open(url).await?))
        }
    };
    Ok(Arc::new(Storage::new(backend)))
}

/// Calls the same method on whichever back end is configured.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.backend {
            Configured::Sqlite($store) => $call,
            Configured::Postgres($store) => $call,
        }
    };
}

impl Storage {
    fn new(backend: Configured) -> Storage {
        Storage {
            backend,
            events_ready: Notify::new(),
            deliveries_ready: Notify::new(),
        }
    }

    /// Whether several `serve` processes may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Configured::Postgres(_))
    }

    /// Stop taking writes (and, for SQLite, release the file for another process).
    pub fn close(&self) {
        delegate!(self, s => s.close())
    }

    pub fn is_available(&self) -> bool {
        delegate!(self, s => s.is_available())
    }

    /// Why the store cannot take writes now (SQLite: its file was removed or replaced, the
    /// writer stopped, the last commit failed), if it cannot.
    pub fn write_problem(&self) -> Option<String> {
        delegate!(self, s => s.write_problem())
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> bool {
        delegate!(self, s => s.ping().await)
    }

    /// Store an accepted event, or find the first one with the same (source, event.id).
    ///
    /// # Errors
    /// `Unavailable` when the event could not be committed.
    pub async fn insert_event(&self, event: Event) -> Result<Inserted, StoreError> {
        let result = delegate!(self, s => s.insert_event(event).await);
        if matches!(&result, Ok(inserted) if !inserted.duplicate) {
            self.events_ready.notify_one();
        }
        result
    }

    /// Store the events of one request (a WhatsApp batch) in one transaction, in order: an
    /// answer per event, as [`Storage::insert_event`]'s. All are on disk when it returns
    /// `Ok`; with an error, none is.
    ///
    /// # Errors
    /// `Unavailable` when the events could not be committed.
    pub async fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Inserted>, StoreError> {
        let result = delegate!(self, s => s.insert_events(events).await);
        if matches!(&result, Ok(inserted) if inserted.iter().any(|i| !i.duplicate)) {
            self.events_ready.notify_one();
        }
        result
    }

    /// Events whose rules have not run, in acceptance order, claimed for this process.
    /// With PostgreSQL each is leased (other instances skip it) and only the oldest waiting
    /// event of each user key is returned, so a key's events are decided one at a time.
    pub async fn claim_events(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        delegate!(self, s => s.claim_events(limit, lease_ms).await)
    }

    /// Store what the rules decided for an event, its deliveries and memory writes, in one
    /// transaction.
    pub async fn decide(&self, decision: Decision) -> Result<(), StoreError> {
        let has_actions = decision.runs.iter().any(|r| !r.actions.is_empty());
        delegate!(self, s => s.decide(decision).await)?;
        if has_actions {
            self.deliveries_ready.notify_one();
        }
        Ok(())
    }

    /// Store the decisions of a batch of events (in acceptance order) together: one
    /// transaction where possible. One result per decision; a failed one (and the later
    /// ones of its key) stay waiting and are decided again.
    ///
    /// # Errors
    /// When the store cannot take the batch at all.
    pub async fn decide_many(
        &self,
        decisions: Vec<Decision>,
    ) -> Result<Vec<Result<(), DecisionError>>, StoreError> {
        let has_actions = decisions
            .iter()
            .any(|d| d.runs.iter().any(|r| !r.actions.is_empty()));
        let results = delegate!(self, s => s.decide_many(decisions).await)?;
        if has_actions {
            self.deliveries_ready.notify_one();
        }
        Ok(results)
    }

    /// Claim up to `limit` due deliveries of one provider whose key has nothing earlier open.
    pub async fn claim_deliveries(
        &self,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        delegate!(self, s => s.claim_deliveries(provider, limit, lease_ms).await)
    }

    /// Record an attempt and what follows it.
    pub async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<(), StoreError> {
        delegate!(self, s => s.finish_attempt(outcome).await)?;
        self.deliveries_ready.notify_one();
        Ok(())
    }

    /// Remember (`Some`) or forget (`None`) the UChat subscriber of a phone.
    pub async fn set_identity(
        &self,
        provider: &str,
        phone: &str,
        user_ns: Option<String>,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.set_identity(provider, phone, user_ns).await)
    }

    /// The remembered UChat subscriber of a phone.
    pub async fn identity(
        &self,
        provider: &str,
        phone: &str,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.identity(provider, phone).await)
    }

    /// Pause (`true`) or resume a provider, for every instance sharing this store.
    pub async fn set_paused(&self, provider: &str, paused: bool) -> Result<(), StoreError> {
        delegate!(self, s => s.set_paused(provider, paused).await)?;
        if !paused {
            self.deliveries_ready.notify_one();
        }
        Ok(())
    }

    /// The providers an operator paused.
    pub async fn paused_providers(&self) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.paused_providers().await)
    }

    /// Open deliveries per provider (providers with none are absent).
    pub async fn provider_counts(&self) -> Result<ProviderCounts, StoreError> {
        delegate!(self, s => s.provider_counts().await)
    }

    /// Send a dead letter's delivery again, from its first attempt, out of order.
    pub async fn redrive(&self, id: DeadLetterId) -> Result<Redrive, StoreError> {
        let result = delegate!(self, s => s.redrive(id).await)?;
        if result == Redrive::Done {
            self.deliveries_ready.notify_one();
        }
        Ok(result)
    }

    /// Delete finished events that finished before `before` (unix ms), one batch.
    pub async fn purge_finished(&self, before: i64) -> Result<usize, StoreError> {
        delegate!(self, s => s.purge_finished(before).await)
    }

    /// Everything that happened to one event.
    pub async fn event_trace(&self, event_id: &EventId) -> Result<Option<EventTrace>, StoreError> {
        delegate!(self, s => s.event_trace(event_id).await)
    }

    /// The stored event and its position, for a replay.
    pub async fn stored_event(
        &self,
        event_id: &EventId,
    ) -> Result<Option<PendingEvent>, StoreError> {
        delegate!(self, s => s.stored_event(event_id).await)
    }

    /// Events, newest accepted first, filtered and paged, and how many match.
    pub async fn list_events(&self, filter: EventFilter) -> Result<EventPage, StoreError> {
        delegate!(self, s => s.list_events(filter).await)
    }

    /// Dead letters, newest first, filtered and paged, and how many match.
    pub async fn dead_letters(&self, query: DeadLetterQuery) -> Result<DeadLetterPage, StoreError> {
        delegate!(self, s => s.dead_letters(query).await)
    }

    /// Redrive the selected letters (those not yet redriven or discarded) together.
    pub async fn redrive_many(&self, selection: Selection) -> Result<BulkRedrive, StoreError> {
        let result = delegate!(self, s => s.redrive_many(selection).await)?;
        if result.redriven > 0 {
            self.deliveries_ready.notify_one();
        }
        Ok(result)
    }

    /// Discard the selected letters (those not yet redriven or discarded).
    pub async fn discard_many(&self, selection: Selection) -> Result<usize, StoreError> {
        delegate!(self, s => s.discard_many(selection).await)
    }

    /// Every unexpired value a user's rules remembered.
    pub async fn memory_of(
        &self,
        source: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Map<String, Value>, StoreError> {
        delegate!(self, s => s.memory_of(source, user_id, now).await)
    }

    /// How many events and deliveries are not finished yet.
    pub async fn queue_depth(&self) -> Result<(i64, i64), StoreError> {
        delegate!(self, s => s.queue_depth().await)
    }

    /// Decided events of a window, in acceptance order, each with what its rules decided the
    /// first time and the memory they were given (backtest). Read-only.
    pub async fn decided_events(
        &self,
        window: DecidedWindow,
    ) -> Result<Vec<DecidedEvent>, StoreError> {
        delegate!(self, s => s.decided_events(window).await)
    }

    /// Each shadow rule's runs on events received since `since` (unix ms), by file name.
    pub async fn shadow_summary(&self, since: i64) -> Result<Vec<ShadowSummary>, StoreError> {
        delegate!(self, s => s.shadow_summary(since).await)
    }

    /// A shared rate-limit slot (PostgreSQL): the unix ms at which a request under `key`
    /// may go out, at most one per `period_ms` across every instance; `None` when the limit
    /// is kept in this process (SQLite, one instance).
    pub async fn rate_slot(&self, key: &str, period_ms: i64) -> Result<Option<i64>, StoreError> {
        delegate!(self, s => s.rate_slot(key, period_ms).await)
    }

    /// From now on, every instance spaces requests under `key` `period_ms` apart
    /// (PostgreSQL); nothing to share with SQLite.
    pub async fn share_rate(&self, key: &str, period_ms: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.share_rate(key, period_ms).await)
    }

    /// Hold a shared rate-limit key until `until` (unix ms), for every instance.
    pub async fn pause_rate(&self, key: &str, until: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.pause_rate(key, until).await)
    }
}

/// The user and text shown in the events list: from the stored event, or, when it cannot be
/// read, the user from the row's own columns (`user_id`, `user_phone` digits, `user_email`,
/// `user_ns`) and no text. The text is cut to `SUMMARY_TEXT_CHARS`; empty shows as null.
pub(crate) fn summary_user(
    json: Option<&str>,
    columns: [Option<String>; 4],
) -> (crate::domain::event::User, Option<String>) {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        user: Option<crate::domain::event::User>,
        #[serde(default)]
        text: Option<String>,
    }
    let only = json.and_then(|j| serde_json::from_str::<Only>(j).ok());
    let (user, text) = only.map_or((None, None), |o| (o.user, o.text));
    let text = text
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(SUMMARY_TEXT_CHARS).collect());
    let user = user.unwrap_or_else(|| {
        let [id, phone, email, ns] = columns;
        crate::domain::event::User {
            id,
            phone: phone.map(|digits| format!("+{digits}")),
            email,
            name: None,
            ns,
        }
    });
    (user, text)
}

/// The `error` of an events-list row: the first rule error, else the first dead delivery's
/// (already worded by `filters::event_page`), else the event's own reason.
pub(crate) fn summary_error(
    rule_error: Option<String>,
    dead_delivery: Option<String>,
    reason: Option<&String>,
) -> Option<String> {
    rule_error.or(dead_delivery).or_else(|| reason.cloned())
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
