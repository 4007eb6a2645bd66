//! The embedded SQLite store. One writer thread owns the write connection and commits in
//! groups: every job waiting when a transaction starts shares it, so a burst of webhooks
//! pays for one commit, not one each, and each caller is answered only after the commit.
//! Reads use their own connections (WAL lets them run beside the writer).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{oneshot, Notify};

use super::{
    Attempt, AttemptOutcome, ClaimedDelivery, Decision, DeliveryTrace, EventTrace, Inserted, Next,
    PendingEvent, RuleRun, StoreError,
};
use crate::actions::{ActionKind, DecidedAction};
use crate::config::Synchronous;
use crate::event::{now_millis, Event};

const SCHEMA: &str = include_str!("schema.sql");
/// The most jobs one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 1024;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;
/// Runs after the batch's commit (`Ok`) or its failure (`Err` with the reason).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

enum Job {
    Insert {
        event: Box<Event>,
        json: String,
        user_key: Option<String>,
        reply: Reply<Inserted>,
    },
    Decide {
        decision: Decision,
        reply: Reply<()>,
    },
    Claim {
        provider: String,
        limit: usize,
        lease_ms: i64,
        reply: Reply<Vec<ClaimedDelivery>>,
    },
    Finish {
        outcome: AttemptOutcome,
        reply: Reply<()>,
    },
    Identity {
        provider: String,
        phone: String,
        user_ns: Option<String>,
        reply: Reply<()>,
    },
}

pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Wakes the rule workers: new events were committed.
    pub events_ready: Notify,
    /// Wakes the executor: deliveries became due or unblocked.
    pub deliveries_ready: Notify,
    /// Held for the life of the store: one `serve` per SQLite file.
    _lock: File,
}

impl SqliteStore {
    /// Open (or create) the database, take the process lock, apply the schema, return
    /// in-flight deliveries left by a crash to `pending`, and start the writer.
    ///
    /// # Errors
    /// `Locked` naming the pid that holds the file; `Unexpected` for I/O and SQLite errors.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create the folder {}", dir.display()))?;
        }
        let lock = take_lock(path)?;
        let conn = connect(path, synchronous)?;
        conn.execute_batch(SCHEMA)
            .context("Failed to apply the database schema")?;
        conn.execute(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'in_flight'",
            [],
        )
        .context("Failed to release in-flight deliveries")?;

        let (sender, receiver) = mpsc::channel();
        let store = SqliteStore {
            jobs: Mutex::new(Some(sender)),
            writer: Mutex::new(None),
            closed: AtomicBool::new(false),
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            events_ready: Notify::new(),
            deliveries_ready: Notify::new(),
            _lock: lock,
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, receiver))
            .context("Failed to start the store writer thread")?;
        *store.writer.lock().expect("writer handle") = Some(handle);
        Ok(store)
    }

    /// Stop taking writes: jobs already queued are committed, later ones answer
    /// `Unavailable`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.jobs.lock().expect("jobs sender").take();
        if let Some(handle) = self.writer.lock().expect("writer handle").take() {
            let _ = handle.join();
        }
    }

    pub fn is_available(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
    }

    async fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let jobs = self.jobs.lock().expect("jobs sender");
            let sender = jobs
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("the store is shut down".into()))?;
            sender
                .send(make(reply))
                .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?;
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store writer has stopped".into()))?
    }

    /// Store an accepted event, or find the first one with the same (source, event.id).
    ///
    /// # Errors
    /// `Unavailable` when the event could not be committed.
    pub async fn insert_event(&self, event: Event) -> Result<Inserted, StoreError> {
        let json = serde_json::to_string(&event).context("Failed to serialise the event")?;
        let user_key = event.user_key();
        let result = self
            .submit(|reply| Job::Insert {
                event: Box::new(event),
                json,
                user_key,
                reply,
            })
            .await;
        if matches!(&result, Ok(inserted) if !inserted.duplicate) {
            self.events_ready.notify_one();
        }
        result
    }

    /// Store what the rules decided for an event, and its deliveries, in one transaction.
    pub async fn decide(&self, decision: Decision) -> Result<(), StoreError> {
        let has_actions = decision.runs.iter().any(|r| !r.actions.is_empty());
        self.submit(|reply| Job::Decide { decision, reply }).await?;
        if has_actions {
            self.deliveries_ready.notify_one();
        }
        Ok(())
    }

    /// Claim up to `limit` due deliveries of one provider whose key has nothing earlier open.
    pub async fn claim_deliveries(
        &self,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let provider = provider.to_string();
        self.submit(|reply| Job::Claim {
            provider,
            limit,
            lease_ms,
            reply,
        })
        .await
    }

    /// Record an attempt and what follows it.
    pub async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<(), StoreError> {
        self.submit(|reply| Job::Finish { outcome, reply }).await?;
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
        let (provider, phone) = (provider.to_string(), phone.to_string());
        self.submit(|reply| Job::Identity {
            provider,
            phone,
            user_ns,
            reply,
        })
        .await
    }

    /// Run a read on a pooled read connection, off the async workers.
    async fn read<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match store.readers.lock().expect("reader pool").pop() {
                Some(conn) => conn,
                None => connect(&store.path, Synchronous::Normal)?,
            };
            let result = f(&conn);
            store.readers.lock().expect("reader pool").push(conn);
            result.map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("read task failed: {e}")))?
    }

    /// The oldest events whose rules have not run, in acceptance order.
    pub async fn pending_events(
        self: &std::sync::Arc<Self>,
        limit: usize,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, event FROM events WHERE status = 'received' ORDER BY seq LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, json) = row?;
                let event: Event = serde_json::from_str(&json)
                    .with_context(|| format!("Failed to read stored event #{seq}"))?;
                out.push(PendingEvent { seq, event });
            }
            Ok(out)
        })
        .await
    }

    /// The remembered UChat subscriber of a phone.
    pub async fn identity(
        self: &std::sync::Arc<Self>,
        provider: &str,
        phone: &str,
    ) -> Result<Option<String>, StoreError> {
        let (provider, phone) = (provider.to_string(), phone.to_string());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT user_ns FROM identities WHERE provider = ?1 AND phone = ?2",
                )?
                .query_row(params![provider, phone], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    /// Everything that happened to one event.
    pub async fn event_trace(
        self: &std::sync::Arc<Self>,
        event_id: &str,
    ) -> Result<Option<EventTrace>, StoreError> {
        let event_id = event_id.to_string();
        self.read(move |conn| trace(conn, &event_id)).await
    }

    /// How many events and deliveries are not finished yet.
    pub async fn queue_depth(self: &std::sync::Arc<Self>) -> Result<(i64, i64), StoreError> {
        self.read(|conn| {
            let events = conn.query_row(
                "SELECT count(*) FROM events WHERE status = 'received'",
                [],
                |r| r.get(0),
            )?;
            let deliveries = conn.query_row(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight')",
                [],
                |r| r.get(0),
            )?;
            Ok((events, deliveries))
        })
        .await
    }

    /// Whether the database answers a query.
    pub async fn ping(self: &std::sync::Arc<Self>) -> bool {
        self.is_available()
            && self
                .read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                .await
                .is_ok()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn take_lock(path: &Path) -> Result<File, StoreError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("Failed to open the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).context("Failed to write the lock file")?;
            file.rewind().context("Failed to write the lock file")?;
            write!(file, "{}", std::process::id()).context("Failed to write the lock file")?;
            file.flush().context("Failed to write the lock file")?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(StoreError::Locked(if pid.is_empty() {
                "unknown".into()
            } else {
                pid.to_string()
            }))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unexpected(
            anyhow::Error::new(e).context(format!("Failed to lock {}", lock_path.display())),
        )),
    }
}

fn connect(path: &Path, synchronous: Synchronous) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("Failed to open the SQLite database {}", path.display()))?;
    let sync = match synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 5000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;"
    ))
    .context("Failed to configure the SQLite connection")?;
    Ok(conn)
}

fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch);
    }
}

fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let began = conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = began {
        let reason = format!("could not start a transaction: {e}");
        for job in batch {
            apply_failed(job, &reason);
        }
        return;
    }
    let now = now_millis();
    for job in batch {
        completions.push(apply(conn, job, now));
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        format!("could not commit: {e}")
    });
    for complete in completions {
        complete(committed.clone());
    }
}

fn apply_failed(job: Job, reason: &str) {
    fn err<T>(reason: &str) -> Result<T, StoreError> {
        Err(StoreError::Unavailable(reason.to_string()))
    }
    // A caller that stopped waiting needs no answer.
    match job {
        Job::Insert { reply, .. } => drop(reply.send(err(reason))),
        Job::Decide { reply, .. } | Job::Finish { reply, .. } | Job::Identity { reply, .. } => {
            drop(reply.send(err(reason)))
        }
        Job::Claim { reply, .. } => drop(reply.send(err(reason))),
    }
}

/// Run one job inside the open transaction, in a savepoint so that its failure undoes only
/// its own writes; answer after the commit.
fn apply(conn: &mut Connection, job: Job, now: i64) -> Completion {
    fn finish<T: Send + 'static>(reply: Reply<T>, result: anyhow::Result<T>) -> Completion {
        Box::new(move |committed| {
            let answer = match (result, committed) {
                (Ok(value), Ok(())) => Ok(value),
                (Err(e), _) => Err(StoreError::Unexpected(e)),
                (Ok(_), Err(reason)) => Err(StoreError::Unavailable(reason)),
            };
            let _ = reply.send(answer);
        })
    }
    fn in_savepoint<T>(
        conn: &mut Connection,
        f: impl FnOnce(&Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        // Dropping the savepoint without `commit` rolls back only this job's writes.
        let savepoint = conn.savepoint()?;
        let value = f(&savepoint)?;
        savepoint.commit()?;
        Ok(value)
    }
    match job {
        Job::Insert {
            event,
            json,
            user_key,
            reply,
        } => finish(reply, insert(conn, &event, &json, user_key.as_deref())),
        Job::Decide { decision, reply } => {
            finish(reply, in_savepoint(conn, |tx| decide(tx, &decision, now)))
        }
        Job::Claim {
            provider,
            limit,
            lease_ms,
            reply,
        } => finish(
            reply,
            in_savepoint(conn, |tx| claim(tx, &provider, limit, now, lease_ms)),
        ),
        Job::Finish { outcome, reply } => finish(
            reply,
            in_savepoint(conn, |tx| finish_attempt(tx, &outcome, now)),
        ),
        Job::Identity {
            provider,
            phone,
            user_ns,
            reply,
        } => finish(
            reply,
            (|| {
                match user_ns {
                    Some(ns) => conn.prepare_cached(
                        "INSERT INTO identities (provider, phone, user_ns) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (provider, phone) DO UPDATE SET user_ns = excluded.user_ns",
                    )?
                    .execute(params![provider, phone, ns])?,
                    None => conn
                        .prepare_cached("DELETE FROM identities WHERE provider = ?1 AND phone = ?2")?
                        .execute(params![provider, phone])?,
                };
                Ok(())
            })(),
        ),
    }
}

fn insert(
    conn: &Connection,
    event: &Event,
    json: &str,
    user_key: Option<&str>,
) -> anyhow::Result<Inserted> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO events (event_id, source, dedupe_id, user_key, kind, received_at, status, event) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'received', ?7) ON CONFLICT (source, dedupe_id) DO NOTHING",
        )?
        .execute(params![
            event.event_id,
            event.source,
            event.id,
            user_key,
            event.kind.as_str(),
            event.received_at,
            json
        ])?;
    if changed == 1 {
        return Ok(Inserted {
            event_id: event.event_id.clone(),
            duplicate: false,
        });
    }
    let first: String = conn
        .prepare_cached("SELECT event_id FROM events WHERE source = ?1 AND dedupe_id = ?2")?
        .query_row(params![event.source, event.id], |row| row.get(0))?;
    Ok(Inserted {
        event_id: first,
        duplicate: true,
    })
}

fn decide(conn: &Connection, decision: &Decision, now: i64) -> anyhow::Result<()> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM events WHERE seq = ?1")?
        .query_row([decision.event_seq], |row| row.get(0))
        .optional()?;
    if status.as_deref() != Some("received") {
        // Already decided (a replayed claim): deciding twice would send twice.
        return Ok(());
    }
    let mut run_stmt = conn.prepare_cached(
        "INSERT INTO rule_runs (event_seq, position, rule, actions, error) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut delivery_stmt = conn.prepare_cached(
        "INSERT INTO deliveries (event_seq, seq, order_key, rule, action, provider, params, target, \
         status, next_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9)",
    )?;
    let mut errors = 0;
    let mut deliveries = 0;
    for (position, run) in decision.runs.iter().enumerate() {
        errors += usize::from(run.error.is_some());
        run_stmt.execute(params![
            decision.event_seq,
            position as i64,
            run.rule,
            serde_json::to_string(&run.actions)?,
            run.error
        ])?;
        for action in &run.actions {
            deliveries += 1;
            delivery_stmt.execute(params![
                decision.event_seq,
                action.seq as i64,
                decision.order_key,
                action.rule,
                action.action.as_str(),
                action.provider,
                serde_json::to_string(&action.params)?,
                serde_json::to_string(&action.target)?,
                now
            ])?;
        }
    }
    let (status, finished) = match (deliveries, errors) {
        (0, 0) => ("done", Some(now)),
        (0, _) => ("failed", Some(now)),
        _ => ("processing", None),
    };
    conn.prepare_cached(
        "UPDATE events SET status = ?1, rule_errors = ?2, finished_at = ?3 WHERE seq = ?4",
    )?
    .execute(params![status, errors as i64, finished, decision.event_seq])?;
    Ok(())
}

fn claim(
    conn: &Connection,
    provider: &str,
    limit: usize,
    now: i64,
    lease_ms: i64,
) -> anyhow::Result<Vec<ClaimedDelivery>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, e.event_id, d.seq, d.rule, d.action, d.provider, d.params, d.target, d.attempts \
         FROM deliveries d JOIN events e ON e.seq = d.event_seq \
         WHERE d.provider = ?1 AND d.status = 'pending' AND d.next_at <= ?2 \
           AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.order_key = d.order_key \
                           AND x.id < d.id AND x.status IN ('pending', 'in_flight')) \
         ORDER BY d.id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![provider, now, limit as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, String>(6)?,
            row.get::<_, String>(7)?,
            row.get::<_, u32>(8)?,
        ))
    })?;
    let mut claimed = Vec::new();
    for row in rows {
        let (id, event_id, seq, rule, action, provider, params_json, target, attempts) = row?;
        let action = ActionKind::parse(&action)
            .with_context(|| format!("delivery {id} has an unknown action {action}"))?;
        claimed.push(ClaimedDelivery {
            id,
            event_id,
            action: DecidedAction {
                rule,
                seq: seq as usize,
                action,
                provider,
                params: serde_json::from_str(&params_json)?,
                target: serde_json::from_str(&target)?,
            },
            attempts,
        });
    }
    let mut lease = conn.prepare_cached(
        "UPDATE deliveries SET status = 'in_flight', lease_until = ?1, updated_at = ?2 WHERE id = ?3",
    )?;
    for d in &claimed {
        lease.execute(params![now + lease_ms, now, d.id])?;
    }
    Ok(claimed)
}

fn finish_attempt(conn: &Connection, outcome: &AttemptOutcome, now: i64) -> anyhow::Result<()> {
    let (event_seq, attempts): (i64, i64) = conn
        .prepare_cached("SELECT event_seq, attempts FROM deliveries WHERE id = ?1")?
        .query_row([outcome.delivery_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut attempts_after = attempts;
    if let Some(attempt) = &outcome.attempt {
        attempts_after += 1;
        conn.prepare_cached(
            "INSERT INTO attempts (delivery_id, n, at, status, response_excerpt) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            outcome.delivery_id,
            attempts_after,
            attempt.at,
            attempt.status,
            attempt.response_excerpt
        ])?;
    }
    let (status, next_at, reason) = match &outcome.next {
        Next::Done => ("done", now, None),
        Next::Retry { next_at } => ("pending", *next_at, None),
        Next::Dead { reason } => ("dead", now, Some(reason.as_str())),
    };
    let request = outcome
        .request
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    conn.prepare_cached(
        "UPDATE deliveries SET status = ?1, attempts = ?2, next_at = ?3, lease_until = NULL, \
         request = COALESCE(?4, request), \
         last_status = CASE WHEN ?5 THEN ?6 ELSE last_status END, \
         last_response = CASE WHEN ?5 THEN ?7 ELSE last_response END, \
         reason = ?8, updated_at = ?9 WHERE id = ?10",
    )?
    .execute(params![
        status,
        attempts_after,
        next_at,
        request,
        outcome.attempt.is_some(),
        outcome.attempt.as_ref().and_then(|a| a.status),
        outcome
            .attempt
            .as_ref()
            .map(|a| a.response_excerpt.as_str()),
        reason,
        now,
        outcome.delivery_id
    ])?;
    if status != "pending" {
        settle_event(conn, event_seq, now)?;
    }
    Ok(())
}

/// When an event's last delivery is finished, give the event its final status.
fn settle_event(conn: &Connection, event_seq: i64, now: i64) -> anyhow::Result<()> {
    let (open, done, dead): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT coalesce(sum(status IN ('pending', 'in_flight')), 0), \
                    coalesce(sum(status = 'done'), 0), coalesce(sum(status = 'dead'), 0) \
             FROM deliveries WHERE event_seq = ?1",
        )?
        .query_row([event_seq], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    if open > 0 {
        return Ok(());
    }
    let rule_errors: i64 = conn
        .prepare_cached("SELECT rule_errors FROM events WHERE seq = ?1")?
        .query_row([event_seq], |row| row.get(0))?;
    let failures = dead + rule_errors;
    let status = if failures == 0 {
        "done"
    } else if done == 0 {
        "failed"
    } else {
        "partial"
    };
    conn.prepare_cached("UPDATE events SET status = ?1, finished_at = ?2 WHERE seq = ?3")?
        .execute(params![status, now, event_seq])?;
    Ok(())
}

fn trace(conn: &Connection, event_id: &str) -> anyhow::Result<Option<EventTrace>> {
    let Some((seq, status, json)) = conn
        .prepare_cached("SELECT seq, status, event FROM events WHERE event_id = ?1")?
        .query_row([event_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let event: Event = serde_json::from_str(&json)?;
    let mut rules = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT rule, actions, error FROM rule_runs WHERE event_seq = ?1 ORDER BY position",
    )?;
    for row in stmt.query_map([seq], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (rule, actions, error) = row?;
        rules.push(RuleRun {
            rule,
            actions: serde_json::from_str(&actions)?,
            error,
        });
    }
    let mut deliveries = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, seq, rule, action, provider, params, request, status, reason \
         FROM deliveries WHERE event_seq = ?1 ORDER BY seq",
    )?;
    let mut attempts_stmt = conn.prepare_cached(
        "SELECT at, status, response_excerpt FROM attempts WHERE delivery_id = ?1 ORDER BY n",
    )?;
    for row in stmt.query_map([seq], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, Option<String>>(6)?,
            row.get::<_, String>(7)?,
            row.get::<_, Option<String>>(8)?,
        ))
    })? {
        let (id, dseq, rule, action, provider, params_json, request, status, reason) = row?;
        let attempts = attempts_stmt
            .query_map([id], |row| {
                Ok(Attempt {
                    at: row.get(0)?,
                    status: row.get(1)?,
                    response_excerpt: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        deliveries.push(DeliveryTrace {
            id,
            seq: dseq,
            rule,
            action,
            provider,
            params: serde_json::from_str(&params_json)?,
            request: request.map(|r| serde_json::from_str(&r)).transpose()?,
            status,
            reason,
            attempts,
        });
    }
    Ok(Some(EventTrace {
        event,
        status,
        rules,
        deliveries,
    }))
}
