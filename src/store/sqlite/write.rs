//! The writer thread: takes every job waiting, runs them in one transaction, and answers
//! each caller after the commit. Should a job fail, the batch runs again with each job in a
//! savepoint of its own, so that one failure undoes only its own writes.

use std::sync::{mpsc, Arc};

use rusqlite::{named_params, params, Connection, OptionalExtension};

use super::health::WriterHealth;
use super::{Job, Reply};
use crate::domain::actions::DecidedAction;
use crate::domain::event::{now_millis, Event};
use crate::domain::status::{DeliveryStatus, EventStatus};
use crate::store::filters;
use crate::store::transitions::{self, outcome_columns, EventAfterDecision};
use crate::store::{
    AttemptOutcome, BulkRedrive, ClaimedDelivery, DeadLetterId, Decision, DecisionError,
    DeliveryId, EventId, Inserted, Redrive, Selection, StoreError,
};

thread_local! {
    /// The writer thread's (one per store) last look for expired leases.
    static LEASES: transitions::LeaseClock = transitions::LeaseClock::new();
}

/// How long the writer waits for more jobs to join a batch.
const LINGER: std::time::Duration = std::time::Duration::from_micros(200);
/// Batches smaller than this wait `LINGER` for company; larger ones go at once (a busy
/// writer must not idle).
const SMALL_BATCH: usize = 8;
/// The most jobs one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 1024;
/// The most events one purge job deletes, so a purge never holds the writer for long.
const PURGE_BATCH: i64 = 500;

/// Why a batch's `COMMIT` failed: each of its jobs is answered `Unavailable` with it, and
/// the store names it (`WriterHealth::problem`) until a later commit works.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not commit: {0}")]
pub(super) struct CommitFailed(Arc<rusqlite::Error>);

pub(super) fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>, health: &WriterHealth) {
    /// Marks the writer stopped however the loop ends (a panic included), so `/readyz`
    /// and every later write say so.
    struct Stopped<'a>(&'a WriterHealth);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            self.0.writer_stopped();
        }
    }
    let _stopped = Stopped(health);
    let mut last_restart = 0;
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        let mut batch = vec![first];
        // Take what is waiting; a small batch also waits `LINGER` for more: every commit
        // rewrites the pages it touched (each index's newest leaf, ...), so a few large
        // commits write far less WAL than many small ones.
        let until = std::time::Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) if batch.len() >= SMALL_BATCH => break,
                Err(mpsc::TryRecvError::Empty) => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    match jobs.recv_timeout(left) {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
            }
        }
        run_batch(&mut conn, batch, health);
        // A restarting checkpoint makes waiting callers wait longer: run it when nobody is
        // waiting, or when the WAL has grown so far that it must run anyway.
        next = jobs.try_recv().ok();
        super::health::restart_if_large(&conn, health, &mut last_restart, next.is_none());
    }
}

fn run_batch(conn: &mut Connection, mut batch: Vec<Job>, health: &WriterHealth) {
    // A removed or replaced file would take these commits somewhere nobody reads: refuse.
    if let Some(problem) = health.file_problem() {
        for job in batch {
            fail(job, &problem);
        }
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let reason = format!("could not start a transaction: {e}");
        for job in batch {
            fail(job, &reason);
        }
        return;
    }
    let now = now_millis();
    let changes_before = conn.total_changes();
    // Every job straight in the transaction: a savepoint per job copies each page it
    // touches into a sub-journal first, which cost the writer about a quarter of its time.
    // Jobs almost never fail; when one does, its partial writes must not be committed, so
    // the whole batch is rolled back and run again with each job in a savepoint of its own.
    // At the first failure the rest need not run: the batch runs again anyway.
    let all_ok = batch
        .iter_mut()
        .all(|job| apply(conn, job, now, Isolation::Shared));
    if !all_ok {
        if let Err(e) = begin_again(conn) {
            let reason = format!("could not start a transaction again: {e}");
            for job in batch {
                fail(job, &reason);
            }
            return;
        }
        for job in &mut batch {
            apply(conn, job, now, Isolation::OwnSavepoint);
        }
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        CommitFailed(Arc::new(e))
    });
    health.committed(&committed, conn.total_changes() != changes_before);
    for job in batch {
        with_reply!(job, reply => reply.answer(committed.clone()));
    }
}

/// Undo the transaction's writes and start another (SQLite may already have rolled back
/// after some errors, so the rollback's own error does not matter).
fn begin_again(conn: &Connection) -> rusqlite::Result<()> {
    let _ = conn.execute_batch("ROLLBACK");
    conn.execute_batch("BEGIN IMMEDIATE")
}

/// Run `$body` with `$reply` bound to the job's reply, whatever its kind.
macro_rules! with_reply {
    ($job:expr, $reply:ident => $body:expr) => {
        match $job {
            Job::Insert { reply: $reply, .. } => $body,
            Job::InsertMany { reply: $reply, .. } => $body,
            Job::DecideMany { reply: $reply, .. } => $body,
            Job::Decide { reply: $reply, .. }
            | Job::Finish { reply: $reply, .. }
            | Job::Identity { reply: $reply, .. }
            | Job::Unreadable { reply: $reply, .. }
            | Job::Pause { reply: $reply, .. } => $body,
            Job::Claim { reply: $reply, .. } => $body,
            Job::Redrive { reply: $reply, .. } => $body,
            Job::Purge { reply: $reply, .. } | Job::DiscardMany { reply: $reply, .. } => $body,
            Job::RedriveMany { reply: $reply, .. } => $body,
        }
    };
}
use with_reply;

fn fail(job: Job, reason: &str) {
    with_reply!(job, reply => reply.fail(reason));
}

impl<T> Reply<T> {
    /// Keep what the job produced; whether it worked.
    fn keep(&mut self, result: anyhow::Result<T>) -> bool {
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    /// Answer the caller once the batch's commit is known. (A caller that stopped waiting
    /// needs no answer.)
    fn answer(self, committed: Result<(), CommitFailed>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(StoreError::Unexpected(e)),
            (Some(Ok(_)), Err(failed)) => Err(StoreError::Unavailable(failed.to_string())),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, _) => Err(StoreError::Unavailable(
                "the store's writer did not run this job".into(),
            )),
        };
        let _ = self.sender.send(answer);
    }

    fn fail(self, reason: &str) {
        let _ = self
            .sender
            .send(Err(StoreError::Unavailable(reason.to_string())));
    }
}

/// How a job's writes are kept apart from the rest of its batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Straight in the batch's transaction (the first try).
    Shared,
    /// In a savepoint of its own, so a failure undoes only its own writes (the batch's
    /// second run, after a job failed). A batch of decisions gives each decision its own.
    OwnSavepoint,
}

/// Run `f` in a savepoint: dropping it without `commit` rolls back only this job's writes.
/// The savepoint statements are prepared once (rusqlite's `savepoint()` parses them anew
/// every time).
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Err(e) => {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Err(e)
        }
    }
}

/// Run `f` as `isolation` says.
fn isolated<T>(
    conn: &Connection,
    isolation: Isolation,
    f: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match isolation {
        Isolation::Shared => f(conn),
        Isolation::OwnSavepoint => in_savepoint(conn, f),
    }
}

/// Run one job and keep its result in its reply; whether it worked.
fn apply(conn: &Connection, job: &mut Job, now: i64, isolation: Isolation) -> bool {
    match job {
        Job::Insert {
            event,
            json,
            user_key,
            order_key,
            phone,
            words,
            reply,
        } => reply.keep(isolated(conn, isolation, |tx| {
            insert(
                tx,
                event,
                json,
                (user_key.as_deref(), order_key, phone.as_deref()),
                words,
            )
        })),
        Job::InsertMany { rows, reply } => reply.keep(isolated(conn, isolation, |tx| {
            rows.iter()
                .map(|r| {
                    insert(
                        tx,
                        &r.event,
                        &r.json,
                        (r.user_key.as_deref(), &r.order_key, r.phone.as_deref()),
                        &r.words,
                    )
                })
                .collect()
        })),
        Job::Unreadable { seq, reply } => reply.keep(isolated(conn, isolation, |tx| {
            mark_unreadable(tx, *seq, now)
        })),
        Job::DecideMany { decisions, reply } => {
            reply.keep(decide_many(conn, decisions, now, isolation))
        }
        Job::Decide { decision, reply } => {
            reply.keep(isolated(conn, isolation, |tx| decide(tx, decision, now)))
        }
        Job::Claim {
            provider,
            limit,
            lease_ms,
            reply,
        } => reply.keep(isolated(conn, isolation, |tx| {
            claim(tx, provider, *limit, now, *lease_ms)
        })),
        Job::Finish { outcome, reply } => reply.keep(isolated(conn, isolation, |tx| {
            finish_attempt(tx, outcome, now)
        })),
        Job::Identity {
            provider,
            phone,
            user_ns,
            reply,
        } => reply.keep(isolated(conn, isolation, |tx| {
            identity(tx, provider, phone, user_ns.as_deref())
        })),
        Job::Redrive { id, reply } => {
            reply.keep(isolated(conn, isolation, |tx| redrive(tx, *id, now)))
        }
        Job::Purge { before, reply } => {
            reply.keep(isolated(conn, isolation, |tx| purge(tx, *before, now)))
        }
        Job::RedriveMany { selection, reply } => reply.keep(isolated(conn, isolation, |tx| {
            redrive_many(tx, selection, now)
        })),
        Job::DiscardMany { selection, reply } => reply.keep(isolated(conn, isolation, |tx| {
            discard_many(tx, selection, now)
        })),
        Job::Pause {
            provider,
            paused,
            reply,
        } => reply.keep(isolated(conn, isolation, |tx| {
            pause(tx, provider, *paused, now)
        })),
    }
}

/// A batch of decisions in acceptance order. Shared: one failure fails the job (the batch
/// then runs again). Each in its own savepoint: a failed decision is undone alone and holds
/// back the later decisions of its key, which stay waiting.
fn decide_many(
    conn: &Connection,
    decisions: &[Decision],
    now: i64,
    isolation: Isolation,
) -> anyhow::Result<Vec<Result<(), DecisionError>>> {
    let mut one_by_one = crate::store::OneByOne::default();
    let mut results = Vec::with_capacity(decisions.len());
    for decision in decisions {
        if one_by_one.held_back(decision) {
            results.push(Err(DecisionError::EarlierOfKeyFailed));
            continue;
        }
        let decided = match isolation {
            Isolation::Shared => {
                decide(conn, decision, now)?;
                Ok(())
            }
            Isolation::OwnSavepoint => {
                in_savepoint(conn, |tx| decide(tx, decision, now)).map_err(DecisionError::Writes)
            }
        };
        results.push(one_by_one.settle(&decision.order_key, decided));
    }
    Ok(results)
}

/// The event's row and its words; `user_key`, `order_key`, `phone` and `words` come
/// derived from the caller (the writer thread is the one to spare).
fn insert(
    conn: &Connection,
    event: &Event,
    json: &str,
    (user_key, order_key, phone): (Option<&str>, &str, Option<&str>),
    words: &str,
) -> anyhow::Result<Inserted> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO events (event_id, source, dedupe_id, user_key, user_id, user_phone, user_email, \
             user_ns, kind, received_at, status, event, order_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11, ?12) \
             ON CONFLICT (source, dedupe_id) DO NOTHING",
        )?
        .execute(params![
            event.event_id,
            event.source,
            event.id,
            user_key,
            event.user.id,
            phone,
            event.user.email,
            event.user.ns,
            event.kind.as_str(),
            event.received_at,
            json,
            order_key
        ])?;
    if changed == 1 {
        // Same transaction: searchable once the 202 is sent.
        conn.prepare_cached("INSERT INTO events_search (rowid, words) VALUES (?1, ?2)")?
            .execute(params![conn.last_insert_rowid(), words])?;
        return Ok(Inserted {
            event_id: event.event_id.clone(),
            duplicate: false,
        });
    }
    let first: EventId = conn
        .prepare_cached("SELECT event_id FROM events WHERE source = ?1 AND dedupe_id = ?2")?
        .query_row(params![event.source, event.id], |row| row.get(0))?;
    Ok(Inserted {
        event_id: first,
        duplicate: true,
    })
}

fn decide(conn: &Connection, decision: &Decision, now: i64) -> anyhow::Result<()> {
    let Some((status, earlier_errors)) = conn
        .prepare_cached("SELECT status, rule_errors FROM events WHERE seq = ?1")?
        .query_row([decision.event_seq], |row| {
            Ok((row.get::<_, EventStatus>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        anyhow::bail!("event #{} is not in the store", decision.event_seq);
    };
    let first_run = decision.run_id.is_first();
    if first_run && status != EventStatus::Received {
        // Already decided (a second worker, or a restart after the commit): deciding
        // twice would send twice.
        return Ok(());
    }
    let mut run_stmt = conn.prepare_cached(transitions::INSERT_RULE_RUN)?;
    let mut delivery_stmt = conn.prepare_cached(transitions::INSERT_DELIVERY)?;
    let mut errors = 0;
    let mut deliveries = 0;
    for (position, run) in decision.runs.iter().enumerate() {
        errors += usize::from(run.error.is_some());
        run_stmt.execute(named_params! {
            "$1": decision.event_seq,
            "$2": decision.run_id,
            "$3": position as i64,
            "$4": run.rule,
            "$5": serde_json::to_string(&run.actions)?,
            "$6": run.error,
        })?;
        for action in &run.actions {
            deliveries += 1;
            delivery_stmt.execute(named_params! {
                "$1": decision.event_seq,
                "$2": decision.run_id,
                "$3": action.seq as i64,
                "$4": decision.order_key,
                "$5": action.rule,
                "$6": action.action.as_str(),
                "$7": action.provider,
                "$8": serde_json::to_string(&action.params)?,
                "$9": serde_json::to_string(&action.target)?,
                "$10": now,
                "$11": deliveries == 1,
            })?;
        }
    }
    if first_run {
        if let Some(seen) = &decision.memory_seen {
            conn.prepare_cached(transitions::SET_MEMORY_SEEN)?
                .execute(named_params! {
                    "$1": serde_json::to_string(seen)?, "$2": decision.event_seq,
                })?;
        }
        let mut shadow_stmt = conn.prepare_cached(transitions::INSERT_SHADOW_RUN)?;
        for (position, shadow) in decision.shadow.iter().enumerate() {
            shadow_stmt.execute(named_params! {
                "$1": decision.event_seq,
                "$2": position as i64,
                "$3": shadow.run.rule,
                "$4": serde_json::to_string(&shadow.run.actions)?,
                "$5": shadow.run.actions.len() as i64,
                "$6": shadow.run.error,
                "$7": i64::from(shadow.differs),
            })?;
        }
    }
    for write in &decision.memory {
        match &write.value {
            Some(value) => {
                conn.prepare_cached(transitions::PUT_MEMORY)?
                    .execute(named_params! {
                        "$1": write.source,
                        "$2": write.user_id,
                        "$3": write.key,
                        "$4": serde_json::to_string(value)?,
                        "$5": write.expires_at,
                    })?
            }
            None => conn.prepare_cached(transitions::DELETE_MEMORY)?.execute(
                named_params! {"$1": write.source, "$2": write.user_id, "$3": write.key},
            )?,
        };
    }
    match transitions::event_after_decision(first_run, deliveries, errors, earlier_errors, now) {
        EventAfterDecision::Decided {
            status,
            rule_errors,
            finished_at,
        } => {
            conn.prepare_cached(transitions::SET_DECIDED)?
                .execute(named_params! {
                    "$1": status, "$2": rule_errors, "$3": finished_at, "$4": decision.event_seq,
                })?;
        }
        EventAfterDecision::MoreErrors { rule_errors } => {
            conn.prepare_cached(transitions::SET_RULE_ERRORS)?
                .execute(named_params! {"$1": rule_errors, "$2": decision.event_seq})?;
            settle_event(conn, decision.event_seq, now)?;
        }
        EventAfterDecision::Unchanged => {}
    }
    Ok(())
}

fn claim(
    conn: &Connection,
    provider: &str,
    limit: usize,
    now: i64,
    lease_ms: i64,
) -> anyhow::Result<Vec<ClaimedDelivery>> {
    // Work left in flight by a lost outcome write goes back to its queue first (looked
    // for at most once a second: leases are tens of seconds long).
    if LEASES.with(|clock| clock.due(now)) {
        conn.prepare_cached(transitions::RELEASE_EXPIRED_LEASES)?
            .execute(named_params! {"$1": now})?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, e.event_id, d.seq, d.rule, d.action, d.provider, d.params, d.target, d.attempts \
         FROM deliveries d JOIN events e ON e.seq = d.event_seq \
         WHERE d.provider = ?1 AND d.head = 1 AND d.status = 'pending' AND d.next_at <= ?2 \
         ORDER BY d.next_at, d.id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![provider, now, limit as i64], |row| {
            Ok((
                row.get::<_, DeliveryId>(0)?,
                row.get::<_, EventId>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, u32>(8)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lease = conn.prepare_cached(
        "UPDATE deliveries SET status = 'in_flight', lease_until = ?1, updated_at = ?2 WHERE id = ?3",
    )?;
    let mut claimed = Vec::with_capacity(rows.len());
    for (id, event_id, seq, rule, action, provider, params_json, target, attempts) in rows {
        match crate::store::read_delivery(&action, &params_json, &target) {
            Ok((action, params, target)) => {
                lease.execute(params![now + lease_ms, now, id])?;
                claimed.push(ClaimedDelivery {
                    id,
                    event_id,
                    action: DecidedAction {
                        rule,
                        seq: seq as usize,
                        action,
                        provider,
                        params,
                        target,
                    },
                    attempts,
                });
            }
            // A row that cannot be read is dead, not a stop for everything behind it.
            Err(e) => {
                tracing::error!(%event_id, delivery = id.get(), "a stored delivery cannot be read back; dead-lettered: {e:#}");
                finish_attempt(conn, &crate::store::unreadable_outcome(id), now)?;
            }
        }
    }
    Ok(claimed)
}

fn finish_attempt(conn: &Connection, outcome: &AttemptOutcome, now: i64) -> anyhow::Result<()> {
    if let Some(attempt) = &outcome.attempt {
        conn.prepare_cached(transitions::ADD_ATTEMPT)?
            .execute(named_params! {
                "$1": outcome.delivery_id,
                "$2": attempt.at,
                "$3": attempt.status,
                "$4": attempt.response_excerpt,
                "$5": attempt.duration_ms,
            })?;
    }
    let (status, next_at, reason) = outcome_columns(&outcome.next, now);
    let request = outcome
        .request
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let order_key: String = conn
        .prepare_cached(transitions::RECORD_OUTCOME)?
        .query_row(
            named_params! {
                "$1": status,
                "$2": i64::from(outcome.attempt.is_some()),
                "$3": next_at,
                "$4": request,
                "$5": outcome.attempt.is_some(),
                "$6": outcome.attempt.as_ref().and_then(|a| a.status),
                "$7": outcome.attempt.as_ref().map(|a| a.response_excerpt.as_str()),
                "$8": reason,
                "$9": now,
                "$10": outcome.delivery_id,
            },
            |row| row.get(0),
        )?;
    if let Some(reason) = reason {
        conn.prepare_cached(transitions::ADD_DEAD_LETTER)?
            .execute(named_params! {"$1": outcome.delivery_id, "$2": reason, "$3": now})?;
    }
    if status != DeliveryStatus::Pending {
        conn.prepare_cached(transitions::PROMOTE_NEXT_HEAD)?
            .execute(named_params! {"$1": order_key})?;
        conn.prepare_cached(transitions::SETTLE_EVENT_OF_DELIVERY)?
            .execute(named_params! {"$1": outcome.delivery_id, "$2": now})?;
    }
    Ok(())
}

fn mark_unreadable(conn: &Connection, seq: i64, now: i64) -> anyhow::Result<()> {
    conn.prepare_cached(transitions::MARK_UNREADABLE)?
        .execute(named_params! {"$1": seq, "$2": now})?;
    Ok(())
}

/// When an event's last delivery is finished, give the event its final status.
fn settle_event(conn: &Connection, event_seq: i64, now: i64) -> anyhow::Result<()> {
    // Bound by name: SQLite numbers `$N` parameters in order of appearance, not by N.
    conn.prepare_cached(transitions::SETTLE_EVENT)?
        .execute(named_params! {"$1": event_seq, "$2": now})?;
    Ok(())
}

fn identity(
    conn: &Connection,
    provider: &str,
    phone: &str,
    user_ns: Option<&str>,
) -> anyhow::Result<()> {
    match user_ns {
        Some(ns) => conn
            .prepare_cached(
                "INSERT INTO identities (provider, phone, user_ns) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (provider, phone) DO UPDATE SET user_ns = excluded.user_ns",
            )?
            .execute(params![provider, phone, ns])?,
        None => conn
            .prepare_cached("DELETE FROM identities WHERE provider = ?1 AND phone = ?2")?
            .execute(params![provider, phone])?,
    };
    Ok(())
}

fn redrive(conn: &Connection, id: DeadLetterId, now: i64) -> anyhow::Result<Redrive> {
    let Some((delivery_id, redriven_at, discarded_at)) = conn
        .prepare_cached(
            "SELECT delivery_id, redriven_at, discarded_at FROM dead_letters WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, DeliveryId>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()?
    else {
        return Ok(Redrive::NotFound);
    };
    if redriven_at.is_some() {
        return Ok(Redrive::AlreadyRedriven);
    }
    if discarded_at.is_some() {
        return Ok(Redrive::Discarded);
    }
    conn.prepare_cached("UPDATE dead_letters SET redriven_at = ?1 WHERE id = ?2")?
        .execute(params![now, id])?;
    // A key of its own: a redriven delivery neither waits for nor holds up its user's
    // other deliveries (docs/guarantees.md: it is sent out of order).
    conn.prepare_cached(transitions::REDRIVE_DELIVERY)?
        .execute(named_params! {"$1": now, "$2": delivery_id})?;
    conn.prepare_cached(
        "UPDATE events SET status = 'processing', finished_at = NULL \
         WHERE seq = (SELECT event_seq FROM deliveries WHERE id = ?1)",
    )?
    .execute([delivery_id])?;
    Ok(Redrive::Done)
}

fn purge(conn: &Connection, before: i64, now: i64) -> anyhow::Result<usize> {
    let seqs: Vec<i64> = conn
        .prepare_cached(
            "SELECT e.seq FROM events e \
             WHERE e.finished_at IS NOT NULL AND e.finished_at < ?1 \
               AND e.status IN ('done', 'failed', 'partial') \
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq \
                               AND d.status IN ('pending', 'in_flight')) \
               AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN dead_letters l ON l.delivery_id = d.id \
                               WHERE d.event_seq = e.seq AND l.redriven_at IS NULL \
                                 AND l.discarded_at IS NULL) \
             LIMIT ?2",
        )?
        .query_map(params![before, PURGE_BATCH], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for seq in &seqs {
        conn.prepare_cached(
            "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ?1)",
        )?
        .execute([seq])?;
        conn.prepare_cached(
            "DELETE FROM dead_letters WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ?1)",
        )?
        .execute([seq])?;
        conn.prepare_cached("DELETE FROM deliveries WHERE event_seq = ?1")?
            .execute([seq])?;
        conn.prepare_cached("DELETE FROM rule_runs WHERE event_seq = ?1")?
            .execute([seq])?;
        conn.prepare_cached("DELETE FROM shadow_runs WHERE event_seq = ?1")?
            .execute([seq])?;
        conn.prepare_cached("DELETE FROM events_search WHERE rowid = ?1")?
            .execute([seq])?;
        conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?
            .execute([seq])?;
    }
    conn.prepare_cached("DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= ?1")?
        .execute([now])?;
    Ok(seqs.len())
}

/// Pause (a row) or resume (no row) a provider.
fn pause(conn: &Connection, provider: &str, paused: bool, now: i64) -> anyhow::Result<()> {
    if paused {
        conn.prepare_cached(transitions::PAUSE_PROVIDER)?
            .execute(named_params! {"$1": provider, "$2": now})?;
    } else {
        conn.prepare_cached(transitions::RESUME_PROVIDER)?
            .execute(named_params! {"$1": provider})?;
    }
    Ok(())
}

/// The open letters (neither redriven nor discarded) a selection names: id, delivery, reason.
fn open_letters(
    conn: &Connection,
    selection: &Selection,
) -> anyhow::Result<Vec<transitions::OpenLetter>> {
    let mut sql = super::read::selection_sql(
        &format!(
            "SELECT l.id, l.delivery_id, l.reason{}",
            filters::DEAD_LETTERS_FROM
        ),
        selection,
    );
    sql.raw(filters::OPEN_LETTER);
    let mut stmt = conn.prepare(&sql.text)?;
    let rows = stmt
        .query_map(
            rusqlite::params_from_iter(super::read::sql_args(sql.args)),
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Redrive the selected open letters with a few set-wide statements: each delivery restarts
/// on a key of its own (`redrive:<id>`, as a single redrive), its event is open again.
fn redrive_many(conn: &Connection, selection: &Selection, now: i64) -> anyhow::Result<BulkRedrive> {
    let (letters, skipped) = transitions::redrivable(open_letters(conn, selection)?, selection);
    if letters.is_empty() {
        return Ok(BulkRedrive {
            redriven: 0,
            skipped_user_unknown: skipped,
        });
    }
    let letter_ids = serde_json::to_string(&letters.iter().map(|l| l.0).collect::<Vec<_>>())?;
    let delivery_ids = serde_json::to_string(&letters.iter().map(|l| l.1).collect::<Vec<_>>())?;
    conn.execute(
        "UPDATE dead_letters SET redriven_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
        params![now, letter_ids],
    )?;
    conn.execute(
        &transitions::redrive_deliveries_sql("IN (SELECT value FROM json_each($2))"),
        named_params! {"$1": now, "$2": delivery_ids},
    )?;
    conn.execute(
        "UPDATE events SET status = 'processing', finished_at = NULL WHERE seq IN \
         (SELECT event_seq FROM deliveries WHERE id IN (SELECT value FROM json_each(?1)))",
        [&delivery_ids],
    )?;
    Ok(BulkRedrive {
        redriven: letters.len(),
        skipped_user_unknown: skipped,
    })
}

/// Mark the selected open letters discarded (kept for the record, never redriven).
fn discard_many(conn: &Connection, selection: &Selection, now: i64) -> anyhow::Result<usize> {
    let ids: Vec<DeadLetterId> = open_letters(conn, selection)?
        .into_iter()
        .map(|l| l.0)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(conn.execute(
        "UPDATE dead_letters SET discarded_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
        params![now, serde_json::to_string(&ids)?],
    )?)
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
