//! The PostgreSQL store, for running several `serve` processes on one database. Same rows
//! and meanings as the SQLite store, plus leases: a rule worker claims the oldest waiting
//! event of a user key, and the executor claims due deliveries, each with
//! `FOR UPDATE SKIP LOCKED` and a lease that another instance takes over once it expires.
//! Inserts are group-committed by one task (an `UNNEST` insert per batch); everything else
//! runs on a connection pool, one short transaction each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::transitions::{self, outcome_columns, EventAfterDecision};
use super::{
    filters, Attempt, AttemptOutcome, Backend, BulkRedrive, ClaimedDelivery, DeadLetter,
    DeadLetterId, DeadLetterPage, DeadLetterQuery, DecidedEvent, DecidedWindow, Decision,
    DecisionError, DeliveryId, DeliveryTrace, EventFilter, EventId, EventPage, EventSummary,
    EventTrace, Inserted, OpenCounts, PendingEvent, ProviderCounts, Redrive, RuleRun, Selection,
    ShadowSummary, StoreError,
};
use crate::domain::actions::DecidedAction;
use crate::domain::event::{now_millis, Event};
use crate::domain::status::{DeadReason, DeliveryStatus, EventStatus};

mod decisions;
mod ingest;
mod outcomes;
mod read;
mod tls;

use decisions::{decisions_in, lock_keys};
use ingest::{insert_loop, InsertJob};
use outcomes::{outcome_loop, OutcomeJob};
use read::{attempts_for, count_built, open_letters, query_built, rule_runs};

mod embedded {
    refinery::embed_migrations!("src/store/migrations/postgres");
}

/// Serialises schema set-up between instances starting together.
const MIGRATION_LOCK: i64 = 0x5357_4954_4348; // "SWITCH"
const MAX_BATCH: usize = 1000;
const PURGE_BATCH: i64 = 500;
/// A search with at most this many matches reads them from its index first (see
/// `list_events`; measured with `examples/search.rs`).
const RARE_MATCHES: i64 = 5_000;

pub struct PostgresStore {
    pool: Pool,
    inserts: std::sync::Mutex<Option<mpsc::UnboundedSender<InsertJob>>>,
    outcomes: std::sync::Mutex<Option<mpsc::UnboundedSender<OutcomeJob>>>,
    closed: AtomicBool,
    /// This process's name on the leases it takes.
    instance: String,
    /// When this instance last looked for expired leases.
    leases: transitions::LeaseClock,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A database error as the store reports it: `Unavailable` when the database could not be
/// reached or could not take the work now (connection lost, shutting down, out of
/// resources, a conflict worth retrying), `Unexpected` for everything else (a bug, a schema
/// that does not match).
fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let transient = e.is_closed()
        || e.code().is_none_or(|code| {
            let code = code.code();
            ["08", "53", "57", "40"]
                .iter()
                .any(|class| code.starts_with(class))
        });
    if transient {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Unexpected(anyhow::Error::new(e).context("PostgreSQL refused a statement"))
    }
}

/// Apply the versioned migrations, one instance at a time (a session advisory lock).
async fn migrate(url: &str, tls: MakeRustlsConnect) -> Result<(), StoreError> {
    let (mut client, connection) = tokio_postgres::connect(url, tls).await.map_err(|e| {
        // With every cause: a TLS refusal says why ("invalid peer certificate: ...").
        let mut message = format!("cannot reach PostgreSQL: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        StoreError::Unexpected(anyhow::anyhow!(message))
    })?;
    let connection = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("Failed to lock the schema set-up")?;
    let migrated = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("Failed to migrate the schema: {e}")));
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = connection.await;
    migrated.map(|_| ())
}

impl PostgresStore {
    /// Connect, apply the schema (once, under an advisory lock), start the insert task.
    ///
    /// # Errors
    /// When the URL is not a PostgreSQL URL or the database cannot be reached.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let connection = tls::parse(url).map_err(|e| StoreError::Unexpected(e.into()))?;
        let connector = connection
            .connector()
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        let config: tokio_postgres::Config = connection
            .url
            .parse()
            .with_context(|| "storage.url is not a valid postgres:// URL".to_string())?;
        let manager = Manager::from_config(
            config,
            connector.clone(),
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
        migrate(&connection.url, connector).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(insert_loop(pool.clone(), receiver));
        let (outcome_sender, outcome_receiver) = mpsc::unbounded_channel();
        let outcome_receiver = Arc::new(tokio::sync::Mutex::new(outcome_receiver));
        for _ in 0..outcomes::OUTCOME_WRITERS {
            tokio::spawn(outcome_loop(pool.clone(), outcome_receiver.clone()));
        }
        Ok(PostgresStore {
            pool,
            inserts: std::sync::Mutex::new(Some(sender)),
            outcomes: std::sync::Mutex::new(Some(outcome_sender)),
            closed: AtomicBool::new(false),
            instance: format!("{}-{}", std::process::id(), ulid::Ulid::new()),
            leases: transitions::LeaseClock::new(),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if !self.is_available() {
            return Err(StoreError::Unavailable("the store is shut down".into()));
        }
        self.pool.get().await.map_err(unavailable)
    }
}

impl Backend for PostgresStore {
    fn write_problem(&self) -> Option<String> {
        (!self.is_available()).then(|| "the store is shut down".into())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.inserts.lock().expect("insert sender").take();
        self.outcomes.lock().expect("outcome sender").take();
    }

    fn is_available(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
    }

    async fn ping(self: &Arc<Self>) -> bool {
        match self.client().await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    async fn insert_event(self: &Arc<Self>, event: Event) -> Result<Inserted, StoreError> {
        let mut inserted = self.insert_events(vec![event]).await?;
        inserted
            .pop()
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("an insert gave no answer")))
    }

    async fn insert_events(
        self: &Arc<Self>,
        events: Vec<Event>,
    ) -> Result<Vec<Inserted>, StoreError> {
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let json = serde_json::to_string(&event).context("Failed to serialise the event")?;
            let words = super::search_words(&event);
            rows.push((event, json, words));
        }
        let (reply, answer) = oneshot::channel();
        {
            let inserts = self.inserts.lock().expect("insert sender");
            let sender = inserts
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("the store is shut down".into()))?;
            sender
                .send(InsertJob { rows, reply })
                .map_err(|_| StoreError::Unavailable("the insert task has stopped".into()))?;
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the insert task has stopped".into()))?
    }

    async fn claim_events(
        self: &Arc<Self>,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let client = self.client().await?;
        let now = now_millis();
        // One statement. Take the oldest waiting events nobody holds (by the partial index on
        // `seq`, skipping rows another instance is claiming right now), keep those with no
        // earlier waiting event of their key outside this batch (an index probe each), and
        // lease them. Its cost is the batch, not the backlog.
        let claim = client
            .prepare_cached(
                "WITH candidates AS (SELECT seq, order_key FROM events \
                                     WHERE status = 'received' AND (lease_until IS NULL OR lease_until < $1) \
                                     ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED), \
                      picked AS (SELECT c.seq FROM candidates c WHERE NOT EXISTS \
                                 (SELECT 1 FROM events x WHERE x.order_key = c.order_key \
                                  AND x.status = 'received' AND x.seq < c.seq \
                                  AND x.seq NOT IN (SELECT seq FROM candidates))) \
                 UPDATE events e SET lease_owner = $3, lease_until = $4 FROM picked \
                 WHERE e.seq = picked.seq RETURNING e.seq, e.event_id, e.event",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &claim,
                &[&now, &(limit as i64), &self.instance, &(now + lease_ms)],
            )
            .await
            .map_err(pg_error)?;
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.get(0);
            match serde_json::from_str::<Event>(row.get::<_, &str>(2)) {
                Ok(event) => pending.push(PendingEvent { seq, event }),
                Err(e) => {
                    let event_id: &str = row.get(1);
                    tracing::error!(%event_id, "a stored event cannot be read back; marked failed (unreadable): {e}");
                    client
                        .execute(transitions::MARK_UNREADABLE, &[&seq, &now])
                        .await
                        .map_err(pg_error)?;
                }
            }
        }
        // RETURNING comes in no particular order; acceptance order matters.
        pending.sort_by_key(|p| p.seq);
        Ok(pending)
    }

    async fn decide(self: &Arc<Self>, decision: Decision) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let decisions = [decision];
        lock_keys(&tx, &decisions).await?;
        decisions_in(&tx, &decisions, now_millis()).await?;
        tx.commit().await.map_err(pg_error)
    }

    /// Store many decisions (acceptance order) in one transaction; if that fails, one by
    /// one, skipping the later decisions of a key whose decision failed (they stay waiting,
    /// still in order). One result per decision.
    async fn decide_many(
        self: &Arc<Self>,
        decisions: Vec<Decision>,
    ) -> Result<Vec<Result<(), DecisionError>>, StoreError> {
        let together = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_error)?;
            let now = now_millis();
            lock_keys(&tx, &decisions).await?;
            decisions_in(&tx, &decisions, now).await?;
            tx.commit().await.map_err(pg_error)
        };
        match together.await {
            Ok(()) => return Ok(decisions.iter().map(|_| Ok(())).collect()),
            Err(e) => tracing::warn!(
                "a batch of decisions could not be stored together; storing them one by one: {e}"
            ),
        }
        let mut one_by_one = crate::store::OneByOne::default();
        let mut results = Vec::with_capacity(decisions.len());
        for decision in decisions {
            if one_by_one.held_back(&decision) {
                results.push(Err(DecisionError::EarlierOfKeyFailed));
                continue;
            }
            let key = decision.order_key.clone();
            let stored = self.decide(decision).await.map_err(DecisionError::Store);
            results.push(one_by_one.settle(&key, stored));
        }
        Ok(results)
    }

    async fn claim_deliveries(
        self: &Arc<Self>,
        provider: &str,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let client = self.client().await?;
        let now = now_millis();
        // Work in flight at an instance whose lease ran out (it crashed, or lost an outcome
        // write) goes back to its queue; then the due heads of this provider, by the
        // partial index `deliveries_ready`, skipping rows another instance is claiming.
        if self.leases.due(now) {
            client
                .execute(transitions::RELEASE_EXPIRED_LEASES, &[&now])
                .await
                .map_err(pg_error)?;
        }
        let claim = client
            .prepare_cached(
                "WITH picked AS (SELECT d.id FROM deliveries d \
                     WHERE d.provider = $1 AND d.head = 1 AND d.status = 'pending' AND d.next_at <= $2 \
                     ORDER BY d.next_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED) \
                 UPDATE deliveries d SET status = 'in_flight', lease_owner = $4, lease_until = $5, updated_at = $2 \
                 FROM picked, events e WHERE d.id = picked.id AND e.seq = d.event_seq \
                 RETURNING d.id, e.event_id, d.seq, d.rule, d.action, d.provider, d.params, d.target, d.attempts",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &claim,
                &[
                    &provider,
                    &now,
                    &(limit as i64),
                    &self.instance,
                    &(now + lease_ms),
                ],
            )
            .await
            .map_err(pg_error)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: DeliveryId = row.get(0);
            let event_id: EventId = row.get(1);
            match super::read_delivery(row.get(4), row.get(6), row.get(7)) {
                Ok((action, params, target)) => claimed.push(ClaimedDelivery {
                    id,
                    event_id,
                    action: DecidedAction {
                        rule: row.get(3),
                        seq: row.get::<_, i32>(2) as usize,
                        action,
                        provider: row.get(5),
                        params,
                        target,
                    },
                    attempts: row.get::<_, i32>(8) as u32,
                }),
                // A row that cannot be read is dead, not a stop for the rows claimed with it.
                Err(e) => {
                    tracing::error!(%event_id, delivery = id.get(), "a stored delivery cannot be read back; dead-lettered: {e:#}");
                    self.finish_attempt(super::unreadable_outcome(id)).await?;
                }
            }
        }
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    /// Record an attempt and what follows. Outcomes are group-committed: the outcome task
    /// writes every outcome waiting in one transaction (one commit, one WAL flush).
    async fn finish_attempt(self: &Arc<Self>, outcome: AttemptOutcome) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let outcomes = self.outcomes.lock().expect("outcome sender");
            let sender = outcomes
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("the store is shut down".into()))?;
            sender
                .send(OutcomeJob { outcome, reply })
                .map_err(|_| StoreError::Unavailable("the outcome task has stopped".into()))?;
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the outcome task has stopped".into()))?
    }

    async fn set_paused(self: &Arc<Self>, provider: &str, paused: bool) -> Result<(), StoreError> {
        let client = self.client().await?;
        if paused {
            client
                .execute(transitions::PAUSE_PROVIDER, &[&provider, &now_millis()])
                .await
                .map_err(pg_error)?;
        } else {
            client
                .execute(transitions::RESUME_PROVIDER, &[&provider])
                .await
                .map_err(pg_error)?;
        }
        Ok(())
    }

    async fn paused_providers(self: &Arc<Self>) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(transitions::PAUSED_PROVIDERS, &[])
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(pg_error)
    }

    async fn provider_counts(self: &Arc<Self>) -> Result<ProviderCounts, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(transitions::PROVIDER_COUNTS, &[])
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    OpenCounts {
                        waiting: r.try_get(1)?,
                        in_flight: r.try_get(2)?,
                    },
                ))
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(pg_error)
    }

    async fn set_identity(
        self: &Arc<Self>,
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
                .map_err(pg_error)?,
            None => client
                .execute(
                    "DELETE FROM identities WHERE provider = $1 AND phone = $2",
                    &[&provider, &phone],
                )
                .await
                .map_err(pg_error)?,
        };
        Ok(())
    }

    async fn identity(
        self: &Arc<Self>,
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
            .map_err(pg_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn redrive(self: &Arc<Self>, id: DeadLetterId) -> Result<Redrive, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let now = now_millis();
        let Some(row) = tx
            .query_opt(
                "SELECT delivery_id, redriven_at, discarded_at FROM dead_letters \
                 WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(pg_error)?
        else {
            return Ok(Redrive::NotFound);
        };
        let (delivery_id, redriven_at, discarded_at): (DeliveryId, Option<i64>, Option<i64>) =
            (row.get(0), row.get(1), row.get(2));
        if redriven_at.is_some() {
            return Ok(Redrive::AlreadyRedriven);
        }
        if discarded_at.is_some() {
            return Ok(Redrive::Discarded);
        }
        tx.execute(
            "UPDATE dead_letters SET redriven_at = $1 WHERE id = $2",
            &[&now, &id],
        )
        .await
        .map_err(pg_error)?;
        tx.execute(transitions::REDRIVE_DELIVERY, &[&now, &delivery_id])
            .await
            .map_err(pg_error)?;
        tx.execute(
            "UPDATE events SET status = 'processing', finished_at = NULL \
             WHERE seq = (SELECT event_seq FROM deliveries WHERE id = $1)",
            &[&delivery_id],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Redrive::Done)
    }

    async fn purge_finished(self: &Arc<Self>, before: i64) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let seqs: Vec<i64> = tx
            .query(
                "SELECT e.seq FROM events e \
                 WHERE e.finished_at IS NOT NULL AND e.finished_at < $1 \
                   AND e.status IN ('done', 'failed', 'partial') \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq \
                                   AND d.status IN ('pending', 'in_flight')) \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN dead_letters l ON l.delivery_id = d.id \
                                   WHERE d.event_seq = e.seq AND l.redriven_at IS NULL \
                                     AND l.discarded_at IS NULL) \
                 LIMIT $2 FOR UPDATE OF e SKIP LOCKED",
                &[&before, &PURGE_BATCH],
            )
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for statement in [
            "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ANY($1))",
            "DELETE FROM dead_letters WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ANY($1))",
            "DELETE FROM deliveries WHERE event_seq = ANY($1)",
            "DELETE FROM rule_runs WHERE event_seq = ANY($1)",
            "DELETE FROM shadow_runs WHERE event_seq = ANY($1)",
            "DELETE FROM events WHERE seq = ANY($1)",
        ] {
            tx.execute(statement, &[&seqs]).await.map_err(pg_error)?;
        }
        tx.execute(
            "DELETE FROM memory WHERE expires_at IS NOT NULL AND expires_at <= $1",
            &[&now_millis()],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(seqs.len())
    }

    async fn event_trace(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<EventTrace>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT seq, status, event, reason, memory_seen FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(pg_error)?
        else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        // An unreadable event still has a trace: its status and reason say what happened.
        let event: Option<Event> = serde_json::from_str(row.get::<_, &str>(2)).ok();
        let rules = rule_runs(
            &client,
            "SELECT rule, actions, error FROM rule_runs WHERE event_seq = $1 AND run_id = '' ORDER BY position",
            seq,
        )
        .await?;
        let rows = client
            .query(
                &format!(
                    "SELECT d.id, d.run_id, d.seq, d.rule, d.action, d.provider, d.params, \
                            d.request, d.status, d.reason, \
                            (SELECT max(l.id) FROM dead_letters l \
                              WHERE l.delivery_id = d.id AND l.redriven_at IS NOT NULL), {} \
                     FROM deliveries d WHERE d.event_seq = $1 ORDER BY d.id",
                    transitions::DEAD_LETTER_OF_DELIVERY
                ),
                &[&seq],
            )
            .await
            .map_err(pg_error)?;
        // Every delivery's attempts in one query, not one per delivery.
        let ids: Vec<DeliveryId> = rows.iter().map(|d| d.get(0)).collect();
        let mut attempts_of = attempts_for(&client, &ids).await?;
        let mut deliveries = Vec::with_capacity(rows.len());
        for d in &rows {
            let id: DeliveryId = d.get(0);
            deliveries.push(DeliveryTrace {
                redrive_of: d.get(10),
                dead_letter_id: d.get(11),
                id,
                run_id: d.get(1),
                seq: i64::from(d.get::<_, i32>(2)),
                rule: d.get(3),
                action: d.get(4),
                provider: d.get(5),
                params: super::shown_json(d.get(6)),
                request: d.get::<_, Option<&str>>(7).map(super::shown_json),
                status: d.get(8),
                reason: d.get(9),
                attempts: attempts_of.remove(&id).unwrap_or_default(),
            });
        }
        let shadow = rule_runs(
            &client,
            "SELECT rule, actions, error FROM shadow_runs WHERE event_seq = $1 ORDER BY position",
            seq,
        )
        .await?;
        let memory = row
            .get::<_, Option<&str>>(4)
            .and_then(|m| serde_json::from_str(m).ok());
        Ok(Some(EventTrace {
            event,
            status: row.get(1),
            reason: row.get(3),
            rules,
            shadow,
            memory,
            deliveries,
        }))
    }

    async fn decided_events(
        self: &Arc<Self>,
        window: DecidedWindow,
    ) -> Result<Vec<DecidedEvent>, StoreError> {
        let client = self.client().await?;
        let limit = window.limit as i64;
        let rows = client
            .query(
                "SELECT seq, event, memory_seen FROM events \
                 WHERE received_at >= $1 AND received_at < $2 AND seq > $3 \
                   AND ($4::TEXT IS NULL OR source = $4) AND status <> 'received' AND reason IS NULL \
                 ORDER BY seq LIMIT $5",
                &[&window.since, &window.until, &window.after, &window.source, &limit],
            )
            .await
            .map_err(pg_error)?;
        let (Some(first), Some(last)) = (
            rows.first().map(|r| r.get::<_, i64>(0)),
            rows.last().map(|r| r.get::<_, i64>(0)),
        ) else {
            return Ok(Vec::new());
        };
        let mut runs: std::collections::HashMap<i64, Vec<RuleRun>> =
            std::collections::HashMap::new();
        for r in client
            .query(
                "SELECT event_seq, rule, actions, error FROM rule_runs \
                 WHERE event_seq BETWEEN $1 AND $2 AND run_id = '' ORDER BY event_seq, position",
                &[&first, &last],
            )
            .await
            .map_err(pg_error)?
        {
            runs.entry(r.get(0)).or_default().push(RuleRun {
                rule: r.get(1),
                actions: serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default(),
                error: r.get(3),
            });
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.get(0);
            // An event that cannot be read back is left out (it never ran rules either).
            let Ok(event) = serde_json::from_str(r.get::<_, &str>(1)) else {
                continue;
            };
            out.push(DecidedEvent {
                seq,
                event,
                runs: runs.remove(&seq).unwrap_or_default(),
                memory_seen: r
                    .get::<_, Option<&str>>(2)
                    .and_then(|m| serde_json::from_str(m).ok()),
            });
        }
        Ok(out)
    }

    async fn shadow_summary(
        self: &Arc<Self>,
        since: i64,
    ) -> Result<Vec<ShadowSummary>, StoreError> {
        let client = self.client().await?;
        Ok(client
            .query(transitions::SHADOW_SUMMARY, &[&since])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| ShadowSummary {
                file: r.get(0),
                events: r.get(1),
                actions: r.get(2),
                differs_from_live: r.get(3),
            })
            .collect())
    }

    async fn stored_event(
        self: &Arc<Self>,
        event_id: &EventId,
    ) -> Result<Option<PendingEvent>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT seq, event FROM events WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(pg_error)?;
        row.map(|r| {
            Ok(PendingEvent {
                seq: r.get(0),
                event: serde_json::from_str(r.get::<_, &str>(1)).context("event")?,
            })
        })
        .transpose()
    }

    async fn list_events(self: &Arc<Self>, filter: EventFilter) -> Result<EventPage, StoreError> {
        let client = self.client().await?;
        // Each word is letters and digits only (`search_terms`): quoted, it is one lexeme,
        // and no operator reaches the query.
        let tsquery = filter
            .words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" & ");
        let search = |condition: &'static str| {
            (!filter.words.is_empty()).then(|| filters::WordSearch {
                condition,
                query: tsquery.clone(),
            })
        };
        let from = " FROM events e WHERE true";
        let mut count = filters::Sql::new(&format!("SELECT 1{from}"));
        filters::event_conditions(
            &mut count,
            &filter,
            search("e.search @@ to_tsquery('simple', ?)"),
            "e.seq",
            false,
        );
        let counted =
            count_built(&client, &filters::capped_count(&count.text), &count.args).await?;
        let (total, total_exact) = super::capped_total(counted);
        // Few matches: read them from the GIN index first (the planner would otherwise walk
        // the primary key newest first through every event looking for a page of them).
        // Many: walking newest first finds a page at once.
        let condition = if total <= RARE_MATCHES {
            "e.seq = ANY(ARRAY(SELECT seq FROM events WHERE search @@ to_tsquery('simple', ?)))"
        } else {
            "e.search @@ to_tsquery('simple', ?)"
        };
        let mut page = filters::Sql::new(&format!("{}{from}", filters::EVENT_COLUMNS));
        filters::event_conditions(&mut page, &filter, search(condition), "e.seq", true);
        page.push(
            " ORDER BY e.seq DESC LIMIT ?",
            [filters::Arg::Int(filter.limit as i64)],
        );
        let rows = query_built(&client, &filters::event_page(&page.text), &page.args).await?;
        let events = rows
            .iter()
            .map(|r| {
                let (user, text) = super::summary_user(
                    Some(r.get::<_, &str>(6)),
                    [r.get(8), r.get(9), r.get(10), r.get(11)],
                );
                let reason: Option<String> = r.get(7);
                EventSummary {
                    seq: r.get(0),
                    event_id: r.get(1),
                    source: r.get(2),
                    kind: r.get(3),
                    received_at: r.get(4),
                    status: r.get(5),
                    user,
                    text,
                    actions: r.get(12),
                    error: super::summary_error(r.get(13), r.get(14), reason.as_ref()),
                    reason,
                }
            })
            .collect();
        Ok(EventPage {
            events,
            total,
            total_exact,
        })
    }

    async fn dead_letters(
        self: &Arc<Self>,
        query: DeadLetterQuery,
    ) -> Result<DeadLetterPage, StoreError> {
        let client = self.client().await?;
        let mut conditions = filters::Sql::new(filters::DEAD_LETTERS_FROM);
        filters::dead_letter_conditions(&mut conditions, &query.filter);
        if !query.include_discarded {
            conditions.raw(" AND l.discarded_at IS NULL");
        }
        let total = count_built(
            &client,
            &format!("SELECT count(*){}", conditions.text),
            &conditions.args,
        )
        .await?;
        let mut page = filters::Sql::new(filters::DEAD_LETTER_COLUMNS);
        page.raw(&conditions.text);
        page.args = conditions.args;
        if let Some(cursor) = query.cursor {
            page.push(" AND l.id < ?", [filters::Arg::Int(cursor)]);
        }
        page.push(
            " ORDER BY l.id DESC LIMIT ?",
            [filters::Arg::Int(query.limit as i64)],
        );
        let rows = query_built(&client, &page.text, &page.args).await?;
        let ids: Vec<DeliveryId> = rows.iter().map(|r| r.get(10)).collect();
        // Every letter's attempts in one query, not one per letter.
        let mut attempts_of = attempts_for(&client, &ids).await?;
        let letters = rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                event_id: r.get(1),
                action: r.get(2),
                provider: r.get(3),
                params: super::shown_json(r.get(4)),
                request: r.get::<_, Option<&str>>(5).map(super::shown_json),
                last_status: r.get::<_, Option<i32>>(6).map(|s| s as u16),
                last_response: r.get(7),
                reason: r.get(8),
                created_at: r.get(9),
                delivery_id: r.get(10),
                redriven_at: r.get(11),
                discarded_at: r.get(12),
                attempts: attempts_of
                    .remove(&r.get::<_, DeliveryId>(10))
                    .unwrap_or_default(),
            })
            .collect();
        Ok(DeadLetterPage { letters, total })
    }

    /// One transaction: the open letters are locked (`FOR UPDATE OF l`), so two operators
    /// redriving at once redrive each letter once.
    async fn redrive_many(
        self: &Arc<Self>,
        selection: Selection,
    ) -> Result<BulkRedrive, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let now = now_millis();
        let (letters, skipped) =
            transitions::redrivable(open_letters(&tx, &selection).await?, &selection);
        if !letters.is_empty() {
            let letter_ids: Vec<DeadLetterId> = letters.iter().map(|l| l.0).collect();
            let delivery_ids: Vec<DeliveryId> = letters.iter().map(|l| l.1).collect();
            tx.execute(
                "UPDATE dead_letters SET redriven_at = $1 WHERE id = ANY($2)",
                &[&now, &letter_ids],
            )
            .await
            .map_err(pg_error)?;
            tx.execute(
                &transitions::redrive_deliveries_sql("= ANY($2)"),
                &[&now, &delivery_ids],
            )
            .await
            .map_err(pg_error)?;
            tx.execute(
                "UPDATE events SET status = 'processing', finished_at = NULL \
                 WHERE seq IN (SELECT event_seq FROM deliveries WHERE id = ANY($1))",
                &[&delivery_ids],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(BulkRedrive {
            redriven: letters.len(),
            skipped_user_unknown: skipped,
        })
    }

    async fn discard_many(self: &Arc<Self>, selection: Selection) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let ids: Vec<DeadLetterId> = open_letters(&tx, &selection)
            .await?
            .into_iter()
            .map(|l| l.0)
            .collect();
        let changed = tx
            .execute(
                "UPDATE dead_letters SET discarded_at = $1 WHERE id = ANY($2)",
                &[&now_millis(), &ids],
            )
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(changed as usize)
    }

    async fn memory_of(
        self: &Arc<Self>,
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
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get::<_, String>(0),
                    serde_json::from_str(r.get::<_, &str>(1)).context("memory")?,
                ))
            })
            .collect()
    }

    async fn queue_depth(self: &Arc<Self>) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM events WHERE status = 'received'), \
                        (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight'))",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok((row.get(0), row.get(1)))
    }

    /// The shared slot for one request under `key`: at most one per `period_ms`.
    async fn rate_slot(
        self: &Arc<Self>,
        key: &str,
        period_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        // The parameters are typed: untyped, `$2 + $3` is ambiguous to PostgreSQL and the
        // statement was refused (every instance then limited on its own). A rate a
        // provider announced (`period_ms`, written by `share_rate`) replaces the caller's
        // spacing.
        let statement = client
            .prepare_cached(
                "INSERT INTO rate_slots (key, next_at) VALUES ($1, $2::BIGINT + $3::BIGINT) \
                 ON CONFLICT (key) DO UPDATE SET next_at = \
                   GREATEST(rate_slots.next_at, $2::BIGINT) \
                   + COALESCE(rate_slots.period_ms, $3::BIGINT) \
                 RETURNING next_at - COALESCE(period_ms, $3::BIGINT)",
            )
            .await
            .map_err(pg_error)?;
        // Slots are taken a little ahead of the clock, so that the answer is back before
        // the slot: a request that left later than its slot would come closer to the next
        // one than the spacing allows.
        let now = now_millis().saturating_add(RATE_SLOT_LEAD_MS);
        let row = client
            .query_one(&statement, &[&key, &now, &period_ms])
            .await
            .map_err(pg_error)?;
        Ok(Some(row.get(0)))
    }

    async fn share_rate(self: &Arc<Self>, key: &str, period_ms: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rate_slots (key, next_at, period_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET period_ms = $3",
                &[&key, &now_millis(), &period_ms],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn pause_rate(self: &Arc<Self>, key: &str, until: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rate_slots (key, next_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(rate_slots.next_at, $2)",
                &[&key, &until],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }
}

/// How far ahead of the clock a shared rate slot is taken: more than a statement's round
/// trip, so the request can leave at its slot rather than after it.
const RATE_SLOT_LEAD_MS: i64 = 25;

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}
