//! The PostgreSQL store, for running several `serve` processes on one database. Same rows
//! and meanings as the SQLite store, plus leases: a rule worker claims the oldest waiting
//! event of a user key, and the executor claims due deliveries, each with
//! `FOR UPDATE SKIP LOCKED` and a lease that another instance takes over once it expires.
//! Inserts are group-committed by one task (an `UNNEST` insert per batch); everything else
//! runs on a connection pool, one short transaction each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use super::{
    Attempt, AttemptOutcome, ClaimedDelivery, DeadLetter, Decision, DeliveryTrace, EventFilter,
    EventSummary, EventTrace, Inserted, Next, PendingEvent, Redrive, RuleRun, StoreError,
};
use crate::actions::{ActionKind, DecidedAction};
use crate::event::{digits, now_millis, Event};

const SCHEMA: &str = include_str!("schema.sql");
/// Serialises schema set-up between instances starting together.
const MIGRATION_LOCK: i64 = 0x5357_4954_4348; // "SWITCH"
const MAX_BATCH: usize = 1000;
const PURGE_BATCH: i64 = 500;

struct InsertJob {
    event: Event,
    json: String,
    reply: oneshot::Sender<Result<Inserted, StoreError>>,
}

pub struct PostgresStore {
    pool: Pool,
    inserts: std::sync::Mutex<Option<mpsc::UnboundedSender<InsertJob>>>,
    closed: AtomicBool,
    /// This process's name on the leases it takes.
    instance: String,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl PostgresStore {
    /// Connect, apply the schema (once, under an advisory lock), start the insert task.
    ///
    /// # Errors
    /// When the URL is not a PostgreSQL URL or the database cannot be reached.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .with_context(|| "storage.url is not a valid postgres:// URL".to_string())?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("Failed to build the PostgreSQL pool")?;
        {
            let mut client = pool.get().await.map_err(|e| {
                StoreError::Unexpected(anyhow::anyhow!("cannot reach PostgreSQL: {e}"))
            })?;
            let tx = client
                .transaction()
                .await
                .context("Failed to start the schema set-up")?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .context("Failed to lock the schema set-up")?;
            tx.batch_execute(SCHEMA)
                .await
                .context("Failed to apply the PostgreSQL schema")?;
            tx.commit()
                .await
                .context("Failed to apply the PostgreSQL schema")?;
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(insert_loop(pool.clone(), receiver));
        Ok(PostgresStore {
            pool,
            inserts: std::sync::Mutex::new(Some(sender)),
            closed: AtomicBool::new(false),
            instance: format!("{}-{}", std::process::id(), ulid::Ulid::new()),
        })
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.inserts.lock().expect("insert sender").take();
    }

    pub fn is_available(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if !self.is_available() {
            return Err(StoreError::Unavailable("the store is shut down".into()));
        }
        self.pool.get().await.map_err(unavailable)
    }

    pub async fn ping(&self) -> bool {
        match self.client().await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    pub async fn insert_event(&self, event: Event) -> Result<Inserted, StoreError> {
        let json = serde_json::to_string(&event).context("Failed to serialise the event")?;
        let (reply, answer) = oneshot::channel();
        {
            let inserts = self.inserts.lock().expect("insert sender");
            let sender = inserts
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("the store is shut down".into()))?;
            sender
                .send(InsertJob { event, json, reply })
                .map_err(|_| StoreError::Unavailable("the insert task has stopped".into()))?;
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the insert task has stopped".into()))?
    }

    pub async fn claim_events(
        &self,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let client = self.client().await?;
        let now = now_millis();
        // One statement: pick each key's oldest waiting event that nobody holds, lock it
        // (skipping rows another instance is claiming right now), and lease it.
        let rows = client
            .query(
                "WITH heads AS (SELECT DISTINCT ON (order_key) seq FROM events \
                                WHERE status = 'received' ORDER BY order_key, seq), \
                      picked AS (SELECT e.seq FROM events e JOIN heads h ON h.seq = e.seq \
                                 WHERE e.lease_until IS NULL OR e.lease_until < $1 \
                                 ORDER BY e.seq LIMIT $2 FOR UPDATE OF e SKIP LOCKED) \
                 UPDATE events e SET lease_owner = $3, lease_until = $4 FROM picked \
                 WHERE e.seq = picked.seq RETURNING e.seq, e.event",
                &[&now, &(limit as i64), &self.instance, &(now + lease_ms)],
            )
            .await
            .map_err(unavailable)?;
        let mut pending = rows
            .iter()
            .map(|row| {
                Ok(PendingEvent {
                    seq: row.get(0),
                    event: serde_json::from_str(row.get::<_, &str>(1))
                        .context("Failed to read a stored event")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING comes in no particular order; acceptance order matters.
        pending.sort_by_key(|p| p.seq);
        Ok(pending)
    }

    pub async fn decide(&self, decision: Decision) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let now = now_millis();
        let Some(row) = tx
            .query_opt(
                "SELECT status, rule_errors FROM events WHERE seq = $1 FOR UPDATE",
                &[&decision.event_seq],
            )
            .await
            .map_err(unavailable)?
        else {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "event #{} is not in the store",
                decision.event_seq
            )));
        };
        let (status, earlier_errors): (String, i32) = (row.get(0), row.get(1));
        let first_run = decision.run_id.is_empty();
        if first_run && status != "received" {
            // Another instance (or an earlier try of ours) decided it already.
            return Ok(());
        }
        let (run_stmt, delivery_stmt, memory_put, memory_delete) = tokio::try_join!(
            tx.prepare_cached(
                "INSERT INTO rule_runs (event_seq, run_id, position, rule, actions, error) VALUES ($1, $2, $3, $4, $5, $6)",
            ),
            tx.prepare_cached(
                "INSERT INTO deliveries (event_seq, run_id, seq, order_key, rule, action, provider, params, \
                 target, status, next_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10)",
            ),
            tx.prepare_cached(
                "INSERT INTO memory (source, user_id, key, value, expires_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (source, user_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            ),
            tx.prepare_cached("DELETE FROM memory WHERE source = $1 AND user_id = $2 AND key = $3"),
        )
        .map_err(unavailable)?;
        // Everything serialised first, then every statement sent as one pipeline.
        let mut runs = Vec::new();
        let mut rows = Vec::new();
        for (position, run) in decision.runs.iter().enumerate() {
            runs.push((
                position as i32,
                run,
                serde_json::to_string(&run.actions).context("actions")?,
            ));
            for action in &run.actions {
                rows.push((
                    action,
                    action.seq as i32,
                    action.action.as_str(),
                    serde_json::to_string(&action.params).context("params")?,
                    serde_json::to_string(&action.target).context("target")?,
                ));
            }
        }
        let memory_values = decision
            .memory
            .iter()
            .map(|w| w.value.as_ref().map(serde_json::to_string).transpose())
            .collect::<Result<Vec<_>, _>>()
            .context("memory")?;
        let errors = decision.runs.iter().filter(|r| r.error.is_some()).count() as i32;
        let deliveries = rows.len();
        let mut writes = Vec::new();
        for (position, run, actions) in &runs {
            let params: Vec<&(dyn ToSql + Sync)> = vec![
                &decision.event_seq,
                &decision.run_id,
                position,
                &run.rule,
                actions,
                &run.error,
            ];
            writes.push(tx.execute_raw(&run_stmt, params));
        }
        for (action, seq, name, params, target) in &rows {
            let values: Vec<&(dyn ToSql + Sync)> = vec![
                &decision.event_seq,
                &decision.run_id,
                seq,
                &decision.order_key,
                &action.rule,
                name,
                &action.provider,
                params,
                target,
                &now,
            ];
            writes.push(tx.execute_raw(&delivery_stmt, values));
        }
        for (write, value) in decision.memory.iter().zip(&memory_values) {
            let (statement, values): (_, Vec<&(dyn ToSql + Sync)>) = match value {
                Some(value) => (
                    &memory_put,
                    vec![
                        &write.source,
                        &write.user_id,
                        &write.key,
                        value,
                        &write.expires_at,
                    ],
                ),
                None => (
                    &memory_delete,
                    vec![&write.source, &write.user_id, &write.key],
                ),
            };
            writes.push(tx.execute_raw(statement, values));
        }
        futures_util::future::try_join_all(writes)
            .await
            .map_err(unavailable)?;
        let rule_errors = if first_run {
            errors
        } else {
            earlier_errors + errors
        };
        if deliveries > 0 {
            tx.execute(
                "UPDATE events SET status = 'processing', rule_errors = $1, finished_at = NULL, lease_until = NULL WHERE seq = $2",
                &[&rule_errors, &decision.event_seq],
            )
            .await
            .map_err(unavailable)?;
        } else if first_run {
            let status = if errors == 0 { "done" } else { "failed" };
            tx.execute(
                "UPDATE events SET status = $1, rule_errors = $2, finished_at = $3, lease_until = NULL WHERE seq = $4",
                &[&status, &rule_errors, &now, &decision.event_seq],
            )
            .await
            .map_err(unavailable)?;
        } else if errors > 0 {
            tx.execute(
                "UPDATE events SET rule_errors = $1 WHERE seq = $2",
                &[&rule_errors, &decision.event_seq],
            )
            .await
            .map_err(unavailable)?;
            tx.execute(super::SETTLE_EVENT, &[&decision.event_seq, &now])
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    pub async fn claim_deliveries(
        &self,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let client = self.client().await?;
        let now = now_millis();
        // Pending and due, or in flight at an instance whose lease ran out (it crashed);
        // claimable only when nothing earlier of the same key is open, in any instance.
        let rows = client
            .query(
                "WITH picked AS (SELECT d.id FROM deliveries d \
                     WHERE d.provider = $1 \
                       AND ((d.status = 'pending' AND d.next_at <= $2) \
                            OR (d.status = 'in_flight' AND d.lease_until < $2)) \
                       AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.order_key = d.order_key \
                                       AND x.id < d.id AND x.status IN ('pending', 'in_flight')) \
                     ORDER BY d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED) \
                 UPDATE deliveries d SET status = 'in_flight', lease_owner = $4, lease_until = $5, updated_at = $2 \
                 FROM picked, events e WHERE d.id = picked.id AND e.seq = d.event_seq \
                 RETURNING d.id, e.event_id, d.seq, d.rule, d.action, d.provider, d.params, d.target, d.attempts",
                &[&provider, &now, &(limit as i64), &self.instance, &(now + lease_ms)],
            )
            .await
            .map_err(unavailable)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.get(0);
            let action: &str = row.get(4);
            let kind = ActionKind::parse(action)
                .with_context(|| format!("delivery {id} has an unknown action {action}"))?;
            claimed.push(ClaimedDelivery {
                id,
                event_id: row.get(1),
                action: DecidedAction {
                    rule: row.get(3),
                    seq: row.get::<_, i32>(2) as usize,
                    action: kind,
                    provider: row.get(5),
                    params: serde_json::from_str(row.get::<_, &str>(6)).context("params")?,
                    target: serde_json::from_str(row.get::<_, &str>(7)).context("target")?,
                },
                attempts: row.get::<_, i32>(8) as u32,
            });
        }
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    pub async fn finish_attempt(&self, outcome: AttemptOutcome) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let now = now_millis();
        let (status, next_at, reason) = match &outcome.next {
            Next::Done => ("done", now, None),
            Next::Retry { next_at } => ("pending", *next_at, None),
            Next::Dead { reason } => ("dead", now, Some(reason.as_str())),
        };
        let request = outcome
            .request
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .context("request")?;
        let has_attempt = outcome.attempt.is_some();
        let (add_attempt, update, add_dead, settle) = tokio::try_join!(
            tx.prepare_cached(
                "INSERT INTO attempts (delivery_id, n, at, status, response_excerpt) \
                 VALUES ($1, (SELECT coalesce(max(n), 0) + 1 FROM attempts WHERE delivery_id = $1), $2, $3, $4)",
            ),
            tx.prepare_cached(
                "UPDATE deliveries SET status = $1, attempts = attempts + $2, next_at = $3, \
                 lease_until = NULL, lease_owner = NULL, request = coalesce($4, request), \
                 last_status = CASE WHEN $5 THEN $6 ELSE last_status END, \
                 last_response = CASE WHEN $5 THEN $7 ELSE last_response END, \
                 reason = $8, updated_at = $9 WHERE id = $10",
            ),
            tx.prepare_cached(
                "INSERT INTO dead_letters (delivery_id, reason, last_status, last_response, created_at) \
                 SELECT id, $2, last_status, last_response, $3 FROM deliveries WHERE id = $1",
            ),
            tx.prepare_cached(super::SETTLE_EVENT_OF_DELIVERY),
        )
        .map_err(unavailable)?;
        // One pipeline: each statement is sent without waiting for the one before, and the
        // server runs them in order.
        let attempt_status = outcome
            .attempt
            .as_ref()
            .and_then(|a| a.status)
            .map(i32::from);
        let attempt_excerpt = outcome
            .attempt
            .as_ref()
            .map(|a| a.response_excerpt.as_str());
        let increment = i32::from(has_attempt);
        let insert_attempt = async {
            match &outcome.attempt {
                Some(a) => tx
                    .execute(
                        &add_attempt,
                        &[
                            &outcome.delivery_id,
                            &a.at,
                            &attempt_status,
                            &a.response_excerpt,
                        ],
                    )
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let update_params: [&(dyn ToSql + Sync); 10] = [
            &status,
            &increment,
            &next_at,
            &request,
            &has_attempt,
            &attempt_status,
            &attempt_excerpt,
            &reason,
            &now,
            &outcome.delivery_id,
        ];
        let update_delivery = tx.execute(&update, &update_params);
        let dead_letter = async {
            match reason {
                Some(reason) => tx
                    .execute(&add_dead, &[&outcome.delivery_id, &reason, &now])
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let settle_event = async {
            if status == "pending" {
                Ok(())
            } else {
                tx.execute(&settle, &[&outcome.delivery_id, &now])
                    .await
                    .map(|_| ())
            }
        };
        tokio::try_join!(insert_attempt, update_delivery, dead_letter, settle_event)
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    pub async fn set_identity(
        &self,
        provider: &str,
        phone: &str,
        user_ns: Option<String>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        match user_ns {
            Some(ns) => client
                .execute(
                    "INSERT INTO identities (provider, phone, user_ns) VALUES ($1, $2, $3) \
                     ON CONFLICT (provider, phone) DO UPDATE SET user_ns = excluded.user_ns",
                    &[&provider, &phone, &ns],
                )
                .await
                .map_err(unavailable)?,
            None => client
                .execute(
                    "DELETE FROM identities WHERE provider = $1 AND phone = $2",
                    &[&provider, &phone],
                )
                .await
                .map_err(unavailable)?,
        };
        Ok(())
    }

    pub async fn identity(
        &self,
        provider: &str,
        phone: &str,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT user_ns FROM identities WHERE provider = $1 AND phone = $2",
                &[&provider, &phone],
            )
            .await
            .map_err(unavailable)?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn redrive(&self, id: i64) -> Result<Redrive, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let now = now_millis();
        let Some(row) = tx
            .query_opt(
                "SELECT delivery_id, redriven_at FROM dead_letters WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(unavailable)?
        else {
            return Ok(Redrive::NotFound);
        };
        let (delivery_id, redriven_at): (i64, Option<i64>) = (row.get(0), row.get(1));
        if redriven_at.is_some() {
            return Ok(Redrive::AlreadyRedriven);
        }
        tx.execute(
            "UPDATE dead_letters SET redriven_at = $1 WHERE id = $2",
            &[&now, &id],
        )
        .await
        .map_err(unavailable)?;
        tx.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = $1, reason = NULL, \
             order_key = 'redrive:' || id, updated_at = $1 WHERE id = $2",
            &[&now, &delivery_id],
        )
        .await
        .map_err(unavailable)?;
        tx.execute(
            "UPDATE events SET status = 'processing', finished_at = NULL \
             WHERE seq = (SELECT event_seq FROM deliveries WHERE id = $1)",
            &[&delivery_id],
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Redrive::Done)
    }

    pub async fn purge_finished(&self, before: i64) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let seqs: Vec<i64> = tx
            .query(
                "SELECT e.seq FROM events e \
                 WHERE e.finished_at IS NOT NULL AND e.finished_at < $1 \
                   AND e.status IN ('done', 'failed', 'partial') \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq \
                                   AND d.status IN ('pending', 'in_flight')) \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN dead_letters l ON l.delivery_id = d.id \
                                   WHERE d.event_seq = e.seq AND l.redriven_at IS NULL) \
                 LIMIT $2 FOR UPDATE OF e SKIP LOCKED",
                &[&before, &PURGE_BATCH],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for statement in [
            "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ANY($1))",
            "DELETE FROM dead_letters WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ANY($1))",
            "DELETE FROM deliveries WHERE event_seq = ANY($1)",
            "DELETE FROM rule_runs WHERE event_seq = ANY($1)",
            "DELETE FROM events WHERE seq = ANY($1)",
        ] {
            tx.execute(statement, &[&seqs]).await.map_err(unavailable)?;
        }
        tx.execute(
            "DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= $1",
            &[&now_millis()],
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(seqs.len())
    }

    pub async fn event_trace(&self, event_id: &str) -> Result<Option<EventTrace>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT seq, status, event FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        let event: Event = serde_json::from_str(row.get::<_, &str>(2)).context("event")?;
        let mut rules = Vec::new();
        for r in client
            .query(
                "SELECT rule, actions, error FROM rule_runs WHERE event_seq = $1 AND run_id = '' ORDER BY position",
                &[&seq],
            )
            .await
            .map_err(unavailable)?
        {
            rules.push(RuleRun {
                rule: r.get(0),
                actions: serde_json::from_str(r.get::<_, &str>(1)).context("actions")?,
                error: r.get(2),
            });
        }
        let mut deliveries = Vec::new();
        for d in client
            .query(
                "SELECT id, run_id, seq, rule, action, provider, params, request, status, reason \
                 FROM deliveries WHERE event_seq = $1 ORDER BY id",
                &[&seq],
            )
            .await
            .map_err(unavailable)?
        {
            let id: i64 = d.get(0);
            deliveries.push(DeliveryTrace {
                id,
                run_id: d.get(1),
                seq: i64::from(d.get::<_, i32>(2)),
                rule: d.get(3),
                action: d.get(4),
                provider: d.get(5),
                params: serde_json::from_str(d.get::<_, &str>(6)).context("params")?,
                request: d
                    .get::<_, Option<&str>>(7)
                    .map(serde_json::from_str)
                    .transpose()
                    .context("request")?,
                status: d.get(8),
                reason: d.get(9),
                attempts: attempts(&client, id).await?,
            });
        }
        Ok(Some(EventTrace {
            event,
            status: row.get(1),
            rules,
            deliveries,
        }))
    }

    pub async fn stored_event(&self, event_id: &str) -> Result<Option<PendingEvent>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT seq, event FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(unavailable)?;
        row.map(|r| {
            Ok(PendingEvent {
                seq: r.get(0),
                event: serde_json::from_str(r.get::<_, &str>(1)).context("event")?,
            })
        })
        .transpose()
    }

    pub async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError> {
        let client = self.client().await?;
        let mut sql = String::from(
            "SELECT seq, event_id, source, kind, received_at, status, event FROM events WHERE true",
        );
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, value: Box<dyn ToSql + Sync + Send>| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(user) = &filter.user {
            let phone = digits(user);
            arg(&mut sql, " AND (user_id = ?", Box::new(user.clone()));
            arg(&mut sql, " OR user_email = ?", Box::new(user.clone()));
            arg(&mut sql, " OR user_ns = ?", Box::new(user.clone()));
            arg(
                &mut sql,
                " OR user_phone = ?)",
                Box::new(if phone.is_empty() {
                    "\u{1}".to_string()
                } else {
                    phone
                }),
            );
        }
        if let Some(kind) = &filter.kind {
            arg(&mut sql, " AND kind = ?", Box::new(kind.clone()));
        }
        if let Some(status) = &filter.status {
            arg(&mut sql, " AND status = ?", Box::new(status.clone()));
        }
        if let Some(source) = &filter.source {
            arg(&mut sql, " AND source = ?", Box::new(source.clone()));
        }
        if let Some(since) = filter.since {
            arg(&mut sql, " AND received_at >= ?", Box::new(since));
        }
        if let Some(until) = filter.until {
            arg(&mut sql, " AND received_at < ?", Box::new(until));
        }
        if let Some(cursor) = filter.cursor {
            arg(&mut sql, " AND seq < ?", Box::new(cursor));
        }
        arg(
            &mut sql,
            " ORDER BY seq DESC LIMIT ?",
            Box::new(filter.limit as i64),
        );
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&sql, &params).await.map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let event: Event = serde_json::from_str(r.get::<_, &str>(6)).context("event")?;
                Ok(EventSummary {
                    seq: r.get(0),
                    event_id: r.get(1),
                    source: r.get(2),
                    kind: r.get(3),
                    received_at: r.get(4),
                    status: r.get(5),
                    user: event.user,
                })
            })
            .collect()
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT l.id, e.event_id, d.action, d.provider, d.params, d.request, l.last_status, \
                        l.last_response, l.reason, l.created_at, d.id \
                 FROM dead_letters l JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.seq = d.event_seq \
                 WHERE l.redriven_at IS NULL ORDER BY l.id DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(DeadLetter {
                id: r.get(0),
                event_id: r.get(1),
                action: r.get(2),
                provider: r.get(3),
                params: serde_json::from_str(r.get::<_, &str>(4)).context("params")?,
                request: r
                    .get::<_, Option<&str>>(5)
                    .map(serde_json::from_str)
                    .transpose()
                    .context("request")?,
                last_status: r.get::<_, Option<i32>>(6).map(|s| s as u16),
                last_response: r.get(7),
                reason: r.get(8),
                created_at: r.get(9),
                attempts: attempts(&client, r.get(10)).await?,
            });
        }
        Ok(out)
    }

    pub async fn memory_of(
        &self,
        source: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Map<String, Value>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, value FROM memory WHERE source = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > $3)",
                &[&source, &user_id, &now],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get::<_, String>(0),
                    serde_json::from_str(r.get::<_, &str>(1)).context("memory")?,
                ))
            })
            .collect()
    }

    pub async fn queue_depth(&self) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM events WHERE status = 'received'), \
                        (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight'))",
                &[],
            )
            .await
            .map_err(unavailable)?;
        Ok((row.get(0), row.get(1)))
    }

    /// The shared slot for one request under `key`: at most one per `period_ms`.
    pub async fn rate_slot(&self, key: &str, period_ms: i64) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO rate_slots (key, next_at) VALUES ($1, $2 + $3) \
                 ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(rate_slots.next_at, $2) + $3 \
                 RETURNING next_at - $3",
                &[&key, &now_millis(), &period_ms],
            )
            .await
            .map_err(unavailable)?;
        Ok(row.get(0))
    }

    pub async fn pause_rate(&self, key: &str, until: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rate_slots (key, next_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(rate_slots.next_at, $2)",
                &[&key, &until],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

async fn attempts(
    client: &deadpool_postgres::Object,
    delivery_id: i64,
) -> Result<Vec<Attempt>, StoreError> {
    let rows = client
        .query(
            "SELECT at, status, response_excerpt FROM attempts WHERE delivery_id = $1 ORDER BY n",
            &[&delivery_id],
        )
        .await
        .map_err(unavailable)?;
    Ok(rows
        .iter()
        .map(|r| Attempt {
            at: r.get(0),
            status: r.get::<_, Option<i32>>(1).map(|s| s as u16),
            response_excerpt: r.get(2),
        })
        .collect())
}

/// Group commit for inserts: every event waiting is inserted with one statement.
async fn insert_loop(pool: Pool, mut jobs: mpsc::UnboundedReceiver<InsertJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match insert_batch(&pool, &batch).await {
            Ok(answers) => {
                for (job, answer) in batch.into_iter().zip(answers) {
                    let _ = job.reply.send(Ok(answer));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(reason.clone())));
                }
            }
        }
    }
}

async fn insert_batch(pool: &Pool, batch: &[InsertJob]) -> anyhow::Result<Vec<Inserted>> {
    let client = pool
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL: {e}"))?;
    let column = |f: &dyn Fn(&InsertJob) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
    let event_ids = column(&|j| Some(j.event.event_id.clone()));
    let sources = column(&|j| Some(j.event.source.clone()));
    let dedupe = column(&|j| Some(j.event.id.clone()));
    let user_keys = column(&|j| j.event.user_key());
    let order_keys = column(&|j| Some(j.event.order_key()));
    let user_ids = column(&|j| j.event.user.id.clone());
    let phones = column(&|j| j.event.phone_digits());
    let emails = column(&|j| j.event.user.email.clone());
    let nss = column(&|j| j.event.user.ns.clone());
    let kinds = column(&|j| Some(j.event.kind.as_str().to_string()));
    let received: Vec<i64> = batch.iter().map(|j| j.event.received_at).collect();
    let jsons = column(&|j| Some(j.json.clone()));
    let inserted = client
        .query(
            "INSERT INTO events (event_id, source, dedupe_id, user_key, order_key, user_id, user_phone, user_email, \
             user_ns, kind, received_at, status, event) \
             SELECT e, s, d, uk, ok, ui, up, ue, un, k, r, 'received', j \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[]) \
                  AS t(e, s, d, uk, ok, ui, up, ue, un, k, r, j) \
             ON CONFLICT (source, dedupe_id) DO NOTHING RETURNING event_id",
            &[&event_ids, &sources, &dedupe, &user_keys, &order_keys, &user_ids, &phones, &emails, &nss, &kinds, &received, &jsons],
        )
        .await
        .context("Failed to insert events")?;
    let fresh: std::collections::HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        if fresh.contains(&job.event.event_id) {
            answers.push(Inserted {
                event_id: job.event.event_id.clone(),
                duplicate: false,
            });
        } else {
            let row = client
                .query_one(
                    "SELECT event_id FROM events WHERE source = $1 AND dedupe_id = $2",
                    &[&job.event.source, &job.event.id],
                )
                .await
                .context("Failed to find the first copy of a duplicate")?;
            answers.push(Inserted {
                event_id: row.get(0),
                duplicate: true,
            });
        }
    }
    Ok(answers)
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}
