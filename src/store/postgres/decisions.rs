//! Storing what the rules decided on PostgreSQL: the order keys locked in one sorted
//! statement, then every rule run, delivery, memory write and status of a batch of
//! decisions written as one pipeline inside the caller's transaction.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Lock, in one sorted statement, every order key the decisions add deliveries to. Outcomes
/// lock theirs in the same (hash) order, so the two never deadlock, and neither misses the
/// other's change to a key's head.
pub(super) async fn lock_keys(
    tx: &deadpool_postgres::Transaction<'_>,
    decisions: &[Decision],
) -> Result<(), StoreError> {
    let keys: Vec<&str> = decisions
        .iter()
        .filter(|d| d.runs.iter().any(|r| !r.actions.is_empty()))
        .map(|d| d.order_key.as_str())
        .collect();
    if !keys.is_empty() {
        tx.query(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(k) AS h \
             FROM unnest($1::text[]) AS k) AS keys ORDER BY h",
            &[&keys],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(())
}

/// Store decisions inside `tx` (their keys locked), as one pipeline: the events are locked
/// and read in one statement (a first run whose event was decided meanwhile elsewhere is
/// skipped), then every rule run, delivery, memory write and status goes out without
/// waiting for the one before. A delivery heads its key when it is its decision's first
/// and nothing of the key is open, which the insert itself asks, after the earlier
/// decisions' inserts.
pub(super) async fn decisions_in(
    tx: &deadpool_postgres::Transaction<'_>,
    decisions: &[Decision],
    now: i64,
) -> Result<(), StoreError> {
    let seqs: Vec<i64> = decisions.iter().map(|d| d.event_seq).collect();
    let stored: std::collections::HashMap<i64, (EventStatus, i32)> = tx
        .query(
            "SELECT seq, status, rule_errors FROM events WHERE seq = ANY($1) ORDER BY seq FOR UPDATE",
            &[&seqs],
        )
        .await
        .map_err(pg_error)?
        .iter()
        // A status that is not one (a damaged row) fails this batch, which is then stored
        // one decision at a time; it never panics.
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(pg_error)?;
    let (shadow_stmt, seen_stmt) = tokio::try_join!(
        tx.prepare_cached(transitions::INSERT_SHADOW_RUN),
        tx.prepare_cached(transitions::SET_MEMORY_SEEN),
    )
    .map_err(pg_error)?;
    let (run_stmt, delivery_stmt, memory_put, memory_delete, status_stmt, errors_stmt, settle) =
        tokio::try_join!(
            tx.prepare_cached(transitions::INSERT_RULE_RUN),
            tx.prepare_cached(transitions::INSERT_DELIVERY),
            tx.prepare_cached(transitions::PUT_MEMORY),
            tx.prepare_cached(transitions::DELETE_MEMORY),
            tx.prepare_cached(transitions::SET_DECIDED),
            tx.prepare_cached(transitions::SET_RULE_ERRORS),
            tx.prepare_cached(transitions::SETTLE_EVENT),
        )
        .map_err(pg_error)?;
    // Everything serialised first (the pipeline borrows it), then sent.
    struct Prepared<'a> {
        decision: &'a Decision,
        runs: Vec<(i32, &'a RuleRun, String)>,
        deliveries: Vec<(&'a DecidedAction, i32, &'static str, String, String, bool)>,
        memory: Vec<Option<String>>,
        event: EventAfterDecision,
        memory_seen: Option<String>,
        shadow: Vec<(i32, &'a RuleRun, String, i32, i32)>,
    }
    let mut prepared = Vec::with_capacity(decisions.len());
    for decision in decisions {
        let Some((status, earlier_errors)) = stored.get(&decision.event_seq) else {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "event #{} is not in the store",
                decision.event_seq
            )));
        };
        let first_run = decision.run_id.is_first();
        if first_run && *status != EventStatus::Received {
            // Another instance (or an earlier try of ours) decided it already.
            continue;
        }
        let mut runs = Vec::new();
        let mut deliveries = Vec::new();
        for (position, run) in decision.runs.iter().enumerate() {
            runs.push((
                position as i32,
                run,
                serde_json::to_string(&run.actions).context("actions")?,
            ));
            for action in &run.actions {
                let first = deliveries.is_empty();
                deliveries.push((
                    action,
                    action.seq as i32,
                    action.action.as_str(),
                    serde_json::to_string(&action.params).context("params")?,
                    serde_json::to_string(&action.target).context("target")?,
                    first,
                ));
            }
        }
        let memory = decision
            .memory
            .iter()
            .map(|w| w.value.as_ref().map(serde_json::to_string).transpose())
            .collect::<Result<Vec<_>, _>>()
            .context("memory")?;
        let errors = decision.runs.iter().filter(|r| r.error.is_some()).count();
        let event = transitions::event_after_decision(
            first_run,
            deliveries.len(),
            errors,
            i64::from(*earlier_errors),
            now,
        );
        let memory_seen = if first_run {
            decision
                .memory_seen
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .context("memory seen")?
        } else {
            None
        };
        let mut shadow = Vec::new();
        if first_run {
            for (position, run) in decision.shadow.iter().enumerate() {
                shadow.push((
                    position as i32,
                    &run.run,
                    serde_json::to_string(&run.run.actions).context("shadow actions")?,
                    run.run.actions.len() as i32,
                    i32::from(run.differs),
                ));
            }
        }
        prepared.push(Prepared {
            decision,
            runs,
            deliveries,
            memory,
            event,
            memory_seen,
            shadow,
        });
    }
    let mut writes = Vec::new();
    for p in &prepared {
        let d = p.decision;
        for (position, run, actions) in &p.runs {
            let values: Vec<&(dyn ToSql + Sync)> = vec![
                &d.event_seq,
                &d.run_id,
                position,
                &run.rule,
                actions,
                &run.error,
            ];
            writes.push(tx.execute_raw(&run_stmt, values));
        }
        for (action, seq, name, params, target, first) in &p.deliveries {
            let values: Vec<&(dyn ToSql + Sync)> = vec![
                &d.event_seq,
                &d.run_id,
                seq,
                &d.order_key,
                &action.rule,
                name,
                &action.provider,
                params,
                target,
                &now,
                first,
            ];
            writes.push(tx.execute_raw(&delivery_stmt, values));
        }
        if let Some(seen) = &p.memory_seen {
            let values: Vec<&(dyn ToSql + Sync)> = vec![seen, &d.event_seq];
            writes.push(tx.execute_raw(&seen_stmt, values));
        }
        for (position, run, actions, count, differs) in &p.shadow {
            let values: Vec<&(dyn ToSql + Sync)> = vec![
                &d.event_seq,
                position,
                &run.rule,
                actions,
                count,
                &run.error,
                differs,
            ];
            writes.push(tx.execute_raw(&shadow_stmt, values));
        }
        for (write, value) in d.memory.iter().zip(&p.memory) {
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
        match &p.event {
            EventAfterDecision::Decided {
                status,
                rule_errors,
                finished_at,
            } => {
                let values: Vec<&(dyn ToSql + Sync)> =
                    vec![status, rule_errors, finished_at, &d.event_seq];
                writes.push(tx.execute_raw(&status_stmt, values));
            }
            EventAfterDecision::MoreErrors { rule_errors } => {
                let values: Vec<&(dyn ToSql + Sync)> = vec![rule_errors, &d.event_seq];
                writes.push(tx.execute_raw(&errors_stmt, values));
                let values: Vec<&(dyn ToSql + Sync)> = vec![&d.event_seq, &now];
                writes.push(tx.execute_raw(&settle, values));
            }
            EventAfterDecision::Unchanged => {}
        }
    }
    futures_util::future::try_join_all(writes)
        .await
        .map_err(pg_error)?;
    Ok(())
}
