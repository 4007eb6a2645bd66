//! Reading for operators on PostgreSQL: filter parameters as SQL values, the open dead
//! letters of a selection, and attempts read for many deliveries in one query.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A built statement (`filters::Sql`'s text, or one made from it) run with its parameters.
pub(super) async fn query_built<C: deadpool_postgres::GenericClient>(
    client: &C,
    text: &str,
    args: &[filters::Arg],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let values: Vec<Box<dyn ToSql + Sync + Send>> = args
        .iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                filters::Arg::Text(t) => Box::new(t.clone()),
                filters::Arg::Int(i) => Box::new(*i),
                filters::Arg::LetterIds(ids) => Box::new(ids.clone()),
            }
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client.query(text, &params).await.map_err(pg_error)
}

/// The one number a built `SELECT count(…)` answers.
pub(super) async fn count_built<C: deadpool_postgres::GenericClient>(
    client: &C,
    text: &str,
    args: &[filters::Arg],
) -> Result<i64, StoreError> {
    let rows = query_built(client, text, args).await?;
    rows.first()
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("a count answered no row: {text}")))
}

/// The open letters (neither redriven nor discarded) a selection names, locked for this
/// transaction: id, delivery, reason.
pub(super) async fn open_letters(
    tx: &deadpool_postgres::Transaction<'_>,
    selection: &Selection,
) -> Result<Vec<transitions::OpenLetter>, StoreError> {
    let mut sql = filters::Sql::new(&format!(
        "SELECT l.id, l.delivery_id, l.reason{}",
        filters::DEAD_LETTERS_FROM
    ));
    match selection {
        Selection::Ids(ids) => {
            sql.push(" AND l.id = ANY(?)", [filters::Arg::LetterIds(ids.clone())]);
        }
        Selection::Filter(filter) => filters::dead_letter_conditions(&mut sql, filter),
    }
    sql.raw(filters::OPEN_LETTER);
    sql.raw(" ORDER BY l.id FOR UPDATE OF l");
    let rows = query_built(tx, &sql.text, &sql.args).await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The attempts of many deliveries in one query, by delivery id.
pub(super) async fn attempts_for(
    client: &deadpool_postgres::Object,
    ids: &[DeliveryId],
) -> Result<std::collections::HashMap<DeliveryId, Vec<Attempt>>, StoreError> {
    let rows = client
        .query(
            "SELECT delivery_id, at, status, response_excerpt, duration_ms FROM attempts \
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, n",
            &[&ids],
        )
        .await
        .map_err(pg_error)?;
    let mut out: std::collections::HashMap<DeliveryId, Vec<Attempt>> =
        std::collections::HashMap::new();
    for r in &rows {
        out.entry(r.get(0)).or_default().push(Attempt {
            at: r.get(1),
            status: r.get::<_, Option<i32>>(2).map(|s| s as u16),
            response_excerpt: r.get(3),
            duration_ms: r.get(4),
        });
    }
    Ok(out)
}

/// An event's rule runs (`sql` selects rule, actions, error for `$1` = the event's seq).
/// Unreadable actions show as none; the deliveries still list them.
pub(super) async fn rule_runs(
    client: &deadpool_postgres::Object,
    sql: &str,
    seq: i64,
) -> Result<Vec<RuleRun>, StoreError> {
    let rows = client.query(sql, &[&seq]).await.map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|r| RuleRun {
            rule: r.get(0),
            actions: serde_json::from_str(r.get::<_, &str>(1)).unwrap_or_default(),
            error: r.get(2),
        })
        .collect())
}
