//! The writer thread: takes every job waiting, runs them in one transaction (each but the
//! plain insert in a savepoint of its own, so one failure undoes only its own writes), and
//! answers each caller after the commit.

use std::sync::mpsc;

use anyhow::Context as _;
use rusqlite::{named_params, params, Connection, OptionalExtension};

use super::{Job, Reply};
use crate::actions::{ActionKind, DecidedAction};
use crate::event::{now_millis, Event};
use crate::store::{
    AttemptOutcome, ClaimedDelivery, Decision, Inserted, Next, Redrive, StoreError,
};

/// The most jobs one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 1024;
/// The most events one purge job deletes, so a purge never holds the writer for long.
const PURGE_BATCH: i64 = 500;

/// Runs after the batch's commit (`Ok`) or its failure (`Err` with the reason).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

pub(super) fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
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
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let reason = format!("could not start a transaction: {e}");
        for job in batch {
            fail(job, &reason);
        }
        return;
    }
    let now = now_millis();
    let completions: Vec<Completion> = batch.into_iter().map(|job| apply(conn, job, now)).collect();
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        format!("could not commit: {e}")
    });
    for complete in completions {
        complete(committed.clone());
    }
}

fn fail(job: Job, reason: &str) {
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
        Job::Redrive { reply, .. } => drop(reply.send(err(reason))),
        Job::Purge { reply, .. } => drop(reply.send(err(reason))),
    }
}

fn answer<T: Send + 'static>(reply: Reply<T>, result: anyhow::Result<T>) -> Completion {
    Box::new(move |committed| {
        let answer = match (result, committed) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) => Err(StoreError::Unexpected(e)),
            (Ok(_), Err(reason)) => Err(StoreError::Unavailable(reason)),
        };
        let _ = reply.send(answer);
    })
}

/// Run `f` in a savepoint: dropping it without `commit` rolls back only this job's writes.
fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let savepoint = conn.savepoint()?;
    let value = f(&savepoint)?;
    savepoint.commit()?;
    Ok(value)
}

fn apply(conn: &mut Connection, job: Job, now: i64) -> Completion {
    match job {
        // One statement, atomic on its own: no savepoint needed on the hot path.
        Job::Insert {
            event,
            json,
            user_key,
            phone,
            reply,
        } => answer(
            reply,
            insert(conn, &event, &json, user_key.as_deref(), phone.as_deref()),
        ),
        Job::Decide { decision, reply } => {
            answer(reply, in_savepoint(conn, |tx| decide(tx, &decision, now)))
        }
        Job::Claim {
            provider,
            limit,
            lease_ms,
            reply,
        } => answer(
            reply,
            in_savepoint(conn, |tx| claim(tx, &provider, limit, now, lease_ms)),
        ),
        Job::Finish { outcome, reply } => answer(
            reply,
            in_savepoint(conn, |tx| finish_attempt(tx, &outcome, now)),
        ),
        Job::Identity {
            provider,
            phone,
            user_ns,
            reply,
        } => answer(reply, identity(conn, &provider, &phone, user_ns.as_deref())),
        Job::Redrive { id, reply } => answer(reply, in_savepoint(conn, |tx| redrive(tx, id, now))),
        Job::Purge { before, reply } => {
            answer(reply, in_savepoint(conn, |tx| purge(tx, before, now)))
        }
    }
}

/// The event's row; `user_key` and `phone` come derived from the caller.
fn insert(
    conn: &Connection,
    event: &Event,
    json: &str,
    user_key: Option<&str>,
    phone: Option<&str>,
) -> anyhow::Result<Inserted> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO events (event_id, source, dedupe_id, user_key, user_id, user_phone, user_email, \
             user_ns, kind, received_at, status, event) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11) \
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
    let Some((status, earlier_errors)) = conn
        .prepare_cached("SELECT status, rule_errors FROM events WHERE seq = ?1")?
        .query_row([decision.event_seq], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?
    else {
        anyhow::bail!("event #{} is not in the store", decision.event_seq);
    };
    let first_run = decision.run_id.is_empty();
    if first_run && status != "received" {
        // Already decided (a second worker, or a restart after the commit): deciding
        // twice would send twice.
        return Ok(());
    }
    let mut run_stmt = conn.prepare_cached(
        "INSERT INTO rule_runs (event_seq, run_id, position, rule, actions, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut delivery_stmt = conn.prepare_cached(
        "INSERT INTO deliveries (event_seq, run_id, seq, order_key, rule, action, provider, params, \
         target, status, next_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10)",
    )?;
    let mut errors = 0;
    let mut deliveries = 0;
    for (position, run) in decision.runs.iter().enumerate() {
        errors += i64::from(run.error.is_some());
        run_stmt.execute(params![
            decision.event_seq,
            decision.run_id,
            position as i64,
            run.rule,
            serde_json::to_string(&run.actions)?,
            run.error
        ])?;
        for action in &run.actions {
            deliveries += 1;
            delivery_stmt.execute(params![
                decision.event_seq,
                decision.run_id,
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
    for write in &decision.memory {
        match &write.value {
            Some(value) => conn
                .prepare_cached(
                    "INSERT INTO memory (source, user_id, key, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (source, user_id, key) DO UPDATE SET value = excluded.value, \
                     expires_at = excluded.expires_at",
                )?
                .execute(params![
                    write.source,
                    write.user_id,
                    write.key,
                    serde_json::to_string(value)?,
                    write.expires_at
                ])?,
            None => conn
                .prepare_cached("DELETE FROM memory WHERE source = ?1 AND user_id = ?2 AND key = ?3")?
                .execute(params![write.source, write.user_id, write.key])?,
        };
    }
    let rule_errors = if first_run {
        errors
    } else {
        earlier_errors + errors
    };
    if deliveries > 0 {
        conn.prepare_cached(
            "UPDATE events SET status = 'processing', rule_errors = ?1, finished_at = NULL WHERE seq = ?2",
        )?
        .execute(params![rule_errors, decision.event_seq])?;
    } else if first_run {
        let status = if errors == 0 { "done" } else { "failed" };
        conn.prepare_cached(
            "UPDATE events SET status = ?1, rule_errors = ?2, finished_at = ?3 WHERE seq = ?4",
        )?
        .execute(params![status, rule_errors, now, decision.event_seq])?;
    } else if errors > 0 {
        conn.prepare_cached("UPDATE events SET rule_errors = ?1 WHERE seq = ?2")?
            .execute(params![rule_errors, decision.event_seq])?;
        settle_event(conn, decision.event_seq, now)?;
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
        // Numbered across redrives, so a redriven delivery keeps its earlier attempts.
        conn.prepare_cached(
            "INSERT INTO attempts (delivery_id, n, at, status, response_excerpt) \
             VALUES (?1, (SELECT coalesce(max(n), 0) + 1 FROM attempts WHERE delivery_id = ?1), ?2, ?3, ?4)",
        )?
        .execute(params![
            outcome.delivery_id,
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
         request = coalesce(?4, request), \
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
    if let Some(reason) = reason {
        conn.prepare_cached(
            "INSERT INTO dead_letters (delivery_id, reason, last_status, last_response, created_at) \
             SELECT id, ?2, last_status, last_response, ?3 FROM deliveries WHERE id = ?1",
        )?
        .execute(params![outcome.delivery_id, reason, now])?;
    }
    if status != "pending" {
        settle_event(conn, event_seq, now)?;
    }
    Ok(())
}

/// When an event's last delivery is finished, give the event its final status.
fn settle_event(conn: &Connection, event_seq: i64, now: i64) -> anyhow::Result<()> {
    // Bound by name: SQLite numbers `$N` parameters in order of appearance, not by N.
    conn.prepare_cached(crate::store::SETTLE_EVENT)?
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

fn redrive(conn: &Connection, id: i64, now: i64) -> anyhow::Result<Redrive> {
    let Some((delivery_id, redriven_at)) = conn
        .prepare_cached("SELECT delivery_id, redriven_at FROM dead_letters WHERE id = ?1")?
        .query_row([id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?
    else {
        return Ok(Redrive::NotFound);
    };
    if redriven_at.is_some() {
        return Ok(Redrive::AlreadyRedriven);
    }
    conn.prepare_cached("UPDATE dead_letters SET redriven_at = ?1 WHERE id = ?2")?
        .execute(params![now, id])?;
    // A key of its own: a redriven delivery neither waits for nor holds up its user's
    // other deliveries (contract §7: it is sent out of order).
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?1, reason = NULL, \
         order_key = 'redrive:' || id, updated_at = ?1 WHERE id = ?2",
    )?
    .execute(params![now, delivery_id])?;
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
                               WHERE d.event_seq = e.seq AND l.redriven_at IS NULL) \
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
        conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?
            .execute([seq])?;
    }
    conn.prepare_cached("DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= ?1")?
        .execute([now])?;
    Ok(seqs.len())
}
