//! Accepted events on PostgreSQL, group-committed: one task inserts every event waiting
//! (one request's, or a WhatsApp batch's, together) with one `INSERT … SELECT FROM UNNEST`
//! and answers each request with its events' ids and whether each was a duplicate.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The events of one request (one, or a WhatsApp batch), inserted in the same statement.
pub(super) struct InsertJob {
    /// Each event with its JSON and the words it is found by (`store::search_words`),
    /// derived on the caller's task.
    pub(super) rows: Vec<(Event, String, String)>,
    pub(super) reply: oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
}

/// Group commit for inserts: every event waiting is inserted with one statement.
pub(super) async fn insert_loop(pool: Pool, mut jobs: mpsc::UnboundedReceiver<InsertJob>) {
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
                let mut answers = answers.into_iter();
                for job in batch {
                    let mine: Vec<Inserted> = answers.by_ref().take(job.rows.len()).collect();
                    let _ = job.reply.send(Ok(mine));
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
    // Every event of every job, in order: one statement, one commit for all of them.
    let rows: Vec<&(Event, String, String)> = batch.iter().flat_map(|j| j.rows.iter()).collect();
    let column = |f: &dyn Fn(&Event, &str, &str) -> Option<String>| {
        rows.iter().map(|(e, j, w)| f(e, j, w)).collect::<Vec<_>>()
    };
    let event_ids: Vec<&EventId> = rows.iter().map(|(e, _, _)| &e.event_id).collect();
    let sources = column(&|e, _, _| Some(e.source.clone()));
    let dedupe = column(&|e, _, _| Some(e.id.clone()));
    let user_keys = column(&|e, _, _| e.user_key());
    let order_keys = column(&|e, _, _| Some(e.order_key()));
    let user_ids = column(&|e, _, _| e.user.id.clone());
    let phones = column(&|e, _, _| e.phone_digits());
    let emails = column(&|e, _, _| e.user.email.clone());
    let nss = column(&|e, _, _| e.user.ns.clone());
    let kinds = column(&|e, _, _| Some(e.kind.as_str().to_string()));
    let received: Vec<i64> = rows.iter().map(|(e, _, _)| e.received_at).collect();
    let jsons = column(&|_, j, _| Some(j.to_string()));
    let words = column(&|_, _, w| Some(w.to_string()));
    // The words' tsvector is written by the same statement: searchable once the 202 is sent.
    let inserted = client
        .query(
            "INSERT INTO events (event_id, source, dedupe_id, user_key, order_key, user_id, user_phone, user_email, \
             user_ns, kind, received_at, status, event, search) \
             SELECT e, s, d, uk, ok, ui, up, ue, un, k, r, 'received', j, to_tsvector('simple', w) \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[]) \
                  AS t(e, s, d, uk, ok, ui, up, ue, un, k, r, j, w) \
             ON CONFLICT (source, dedupe_id) DO NOTHING RETURNING event_id",
            &[&event_ids, &sources, &dedupe, &user_keys, &order_keys, &user_ids, &phones, &emails, &nss, &kinds, &received, &jsons, &words],
        )
        .await
        .context("Failed to insert events")?;
    let fresh: std::collections::HashSet<EventId> = inserted.iter().map(|r| r.get(0)).collect();
    let mut answers = Vec::with_capacity(rows.len());
    for (event, _, _) in rows {
        if fresh.contains(&event.event_id) {
            answers.push(Inserted {
                event_id: event.event_id.clone(),
                duplicate: false,
            });
        } else {
            let row = client
                .query_one(
                    "SELECT event_id FROM events WHERE source = $1 AND dedupe_id = $2",
                    &[&event.source, &event.id],
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
