//! Delivery outcomes on PostgreSQL, group-committed: one task writes every outcome waiting
//! in one transaction (one commit, one WAL flush), locking the order keys it touches in the
//! same order as decisions do.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) struct OutcomeJob {
    pub(super) outcome: AttemptOutcome,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

/// How many outcome transactions may be in flight at once: while one commits, the next
/// batch is already being written on another connection.
pub(super) const OUTCOME_WRITERS: usize = 2;

/// Group commit for outcomes: every outcome waiting is written in one transaction. Several
/// of these loops share the queue ([`OUTCOME_WRITERS`]); each takes what waits, then writes it.
pub(super) async fn outcome_loop(
    pool: Pool,
    jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<OutcomeJob>>>,
) {
    loop {
        let batch = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let outcomes: Vec<&AttemptOutcome> = batch.iter().map(|j| &j.outcome).collect();
        let result = async {
            let mut client = pool.get().await.map_err(unavailable)?;
            let tx = client.transaction().await.map_err(pg_error)?;
            record_outcomes(&tx, &outcomes, now_millis()).await?;
            tx.commit().await.map_err(pg_error)
        }
        .await;
        for job in batch {
            let _ = job.reply.send(match &result {
                Ok(()) => Ok(()),
                Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e.clone())),
                Err(e) => Err(StoreError::Unexpected(anyhow::anyhow!("{e}"))),
            });
        }
    }
}

/// Write outcomes inside `tx`, every statement sent as one pipeline (the server runs them
/// in order). The order keys of the deliveries that close are locked first, in one sorted
/// statement, so that decisions and outcomes elsewhere never deadlock on them.
async fn record_outcomes(
    tx: &deadpool_postgres::Transaction<'_>,
    outcomes: &[&AttemptOutcome],
    now: i64,
) -> Result<(), StoreError> {
    let closing: Vec<DeliveryId> = outcomes
        .iter()
        .filter(|o| !matches!(o.next, crate::store::Next::Retry { .. }))
        .map(|o| o.delivery_id)
        .collect();
    let (add_attempt, update, add_dead, promote, settle) = tokio::try_join!(
        tx.prepare_cached(transitions::ADD_ATTEMPT),
        tx.prepare_cached(transitions::RECORD_OUTCOME),
        tx.prepare_cached(transitions::ADD_DEAD_LETTER),
        tx.prepare_cached(transitions::PROMOTE_NEXT_HEAD_OF_DELIVERY),
        tx.prepare_cached(transitions::SETTLE_EVENT_OF_DELIVERY),
    )
    .map_err(pg_error)?;
    if !closing.is_empty() {
        tx.query(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(order_key) AS h \
             FROM deliveries WHERE id = ANY($1)) AS keys ORDER BY h",
            &[&closing],
        )
        .await
        .map_err(pg_error)?;
    }
    struct Row<'a> {
        outcome: &'a AttemptOutcome,
        status: DeliveryStatus,
        next_at: i64,
        reason: Option<DeadReason>,
        request: Option<String>,
        attempt_status: Option<i32>,
        increment: i32,
        has_attempt: bool,
        excerpt: Option<&'a str>,
    }
    let rows = outcomes
        .iter()
        .map(|outcome| {
            let (status, next_at, reason) = outcome_columns(&outcome.next, now);
            Ok(Row {
                outcome,
                status,
                next_at,
                reason,
                request: outcome
                    .request
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .context("request")?,
                attempt_status: outcome
                    .attempt
                    .as_ref()
                    .and_then(|a| a.status)
                    .map(i32::from),
                increment: i32::from(outcome.attempt.is_some()),
                has_attempt: outcome.attempt.is_some(),
                excerpt: outcome
                    .attempt
                    .as_ref()
                    .map(|a| a.response_excerpt.as_str()),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut writes = Vec::new();
    for row in &rows {
        let id = &row.outcome.delivery_id;
        if let Some(a) = &row.outcome.attempt {
            let params: Vec<&(dyn ToSql + Sync)> = vec![
                id,
                &a.at,
                &row.attempt_status,
                &a.response_excerpt,
                &a.duration_ms,
            ];
            writes.push(tx.execute_raw(&add_attempt, params));
        }
        let params: Vec<&(dyn ToSql + Sync)> = vec![
            &row.status,
            &row.increment,
            &row.next_at,
            &row.request,
            &row.has_attempt,
            &row.attempt_status,
            &row.excerpt,
            &row.reason,
            &now,
            id,
        ];
        writes.push(tx.execute_raw(&update, params));
        if let Some(reason) = &row.reason {
            let params: Vec<&(dyn ToSql + Sync)> = vec![id, reason, &now];
            writes.push(tx.execute_raw(&add_dead, params));
        }
        if row.status != DeliveryStatus::Pending {
            let params: Vec<&(dyn ToSql + Sync)> = vec![id];
            writes.push(tx.execute_raw(&promote, params));
            let params: Vec<&(dyn ToSql + Sync)> = vec![id, &now];
            writes.push(tx.execute_raw(&settle, params));
        }
    }
    futures_util::future::try_join_all(writes)
        .await
        .map_err(pg_error)?;
    Ok(())
}
