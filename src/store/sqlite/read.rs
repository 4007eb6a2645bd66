//! The store's queries: pending events, traces, the admin lists, memory and identities.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::domain::event::Event;
use crate::store::filters::{self, Arg, Sql, WordSearch};
use crate::store::transitions;
use crate::store::{
    Attempt, DeadLetter, DeadLetterId, DeadLetterPage, DeadLetterQuery, DecidedEvent,
    DecidedWindow, DeliveryId, DeliveryTrace, EventFilter, EventId, EventPage, EventSummary,
    EventTrace, OpenCounts, PendingEvent, ProviderCounts, RuleRun, RunId, Selection, ShadowSummary,
};

/// An event that could not be read back: its `seq`, `event_id` and why.
pub(super) type Unreadable = (i64, EventId, String);

/// The oldest events waiting for their rules, and those among them that cannot be read
/// (each row on its own: one bad row never fails the others).
pub(super) fn pending_events(
    conn: &Connection,
    limit: usize,
) -> anyhow::Result<(Vec<PendingEvent>, Vec<Unreadable>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, event FROM events WHERE status = 'received' ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, EventId>(1)?,
            row.get::<_, String>(2),
        ))
    })?;
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for row in rows {
        let (seq, event_id, json) = row?;
        match json
            .map_err(anyhow::Error::from)
            .and_then(|json| Ok(serde_json::from_str::<Event>(&json)?))
        {
            Ok(event) => good.push(PendingEvent { seq, event }),
            Err(e) => bad.push((seq, event_id, e.to_string())),
        }
    }
    Ok((good, bad))
}

pub(super) fn stored_event(
    conn: &Connection,
    event_id: &EventId,
) -> anyhow::Result<Option<PendingEvent>> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, event FROM events WHERE event_id = ?1")?
        .query_row([event_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    row.map(|(seq, json)| {
        Ok(PendingEvent {
            seq,
            event: serde_json::from_str(&json)?,
        })
    })
    .transpose()
}

pub(super) fn paused_providers(conn: &Connection) -> anyhow::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(transitions::PAUSED_PROVIDERS)?;
    let names = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

pub(super) fn provider_counts(conn: &Connection) -> anyhow::Result<ProviderCounts> {
    let mut statement = conn.prepare_cached(transitions::PROVIDER_COUNTS)?;
    let counts = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                OpenCounts {
                    waiting: row.get(1)?,
                    in_flight: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

pub(super) fn identity(
    conn: &Connection,
    provider: &str,
    phone: &str,
) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT user_ns FROM identities WHERE provider = ?1 AND phone = ?2")?
        .query_row(params![provider, phone], |row| row.get(0))
        .optional()?)
}

pub(super) fn memory_of(
    conn: &Connection,
    source: &str,
    user_id: &str,
    now: i64,
) -> anyhow::Result<Map<String, Value>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value FROM memory WHERE source = ?1 AND user_id = ?2 \
         AND (expires_at IS NULL OR expires_at > ?3)",
    )?;
    let rows = stmt.query_map(params![source, user_id, now], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut out = Map::new();
    for row in rows {
        let (key, value) = row?;
        out.insert(key, serde_json::from_str(&value)?);
    }
    Ok(out)
}

pub(super) fn queue_depth(conn: &Connection) -> anyhow::Result<(i64, i64)> {
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
}

/// The FTS5 query for words that must all appear (each quoted: no operator reaches FTS5).
fn fts_query(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn sql_args(args: Vec<Arg>) -> impl Iterator<Item = SqlValue> {
    args.into_iter().map(|a| match a {
        Arg::Text(t) => SqlValue::Text(t),
        Arg::Int(i) => SqlValue::Integer(i),
        Arg::LetterIds(ids) => SqlValue::Text(serde_json::to_string(&ids).unwrap_or_default()),
    })
}

pub(super) fn list_events(conn: &Connection, filter: &EventFilter) -> anyhow::Result<EventPage> {
    let searching = !filter.words.is_empty();
    let search = || {
        searching.then(|| WordSearch {
            condition: "events_search MATCH ?",
            query: fts_query(&filter.words),
        })
    };
    // With words, the FTS5 index leads (newest first by its rowid, which is `seq`), so a
    // page reads only as many matches as it shows.
    let (from, seq_column) = if searching {
        (
            " FROM events_search JOIN events e ON e.seq = events_search.rowid WHERE true",
            "events_search.rowid",
        )
    } else {
        (" FROM events e WHERE true", "e.seq")
    };
    let mut page = Sql::new(&format!("{}{from}", filters::EVENT_COLUMNS));
    filters::event_conditions(&mut page, filter, search(), seq_column, true);
    page.push(
        &format!(" ORDER BY {seq_column} DESC LIMIT ?"),
        [Arg::Int(filter.limit as i64)],
    );
    let counted: i64 = if searching && filter.only_words() {
        // Only the index: no row of `events` is read to count.
        conn.prepare_cached(&filters::capped_count(
            "SELECT 1 FROM events_search WHERE events_search MATCH ?1",
        ))?
        .query_row([fts_query(&filter.words)], |r| r.get(0))?
    } else {
        let mut count = Sql::new(&format!("SELECT 1{from}"));
        filters::event_conditions(&mut count, filter, search(), seq_column, false);
        conn.prepare_cached(&filters::capped_count(&count.text))?
            .query_row(params_from_iter(sql_args(count.args)), |r| r.get(0))?
    };
    let (total, total_exact) = crate::store::capped_total(counted);
    let mut stmt = conn.prepare_cached(&filters::event_page(&page.text))?;
    let rows = stmt.query_map(params_from_iter(sql_args(page.args)), |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, EventId>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, String>(6).ok(),
            row.get::<_, Option<String>>(7)?,
            [
                row.get::<_, Option<String>>(8)?,
                row.get::<_, Option<String>>(9)?,
                row.get::<_, Option<String>>(10)?,
                row.get::<_, Option<String>>(11)?,
            ],
            (
                row.get::<_, i64>(12)?,
                row.get::<_, Option<String>>(13)?,
                row.get::<_, Option<String>>(14)?,
            ),
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, event_id, source, kind, received_at, status, json, reason, columns, outcome) =
            row?;
        let (user, text) = crate::store::summary_user(json.as_deref(), columns);
        let (actions, rule_error, dead) = outcome;
        events.push(EventSummary {
            event_id,
            source,
            kind,
            user,
            received_at,
            status,
            error: crate::store::summary_error(rule_error, dead, reason.as_ref()),
            reason,
            text,
            actions,
            seq,
        });
    }
    Ok(EventPage {
        events,
        total,
        total_exact,
    })
}

/// The attempts of many deliveries in one query, by delivery id.
fn attempts_for(
    conn: &Connection,
    ids: impl Iterator<Item = DeliveryId>,
) -> anyhow::Result<std::collections::HashMap<DeliveryId, Vec<Attempt>>> {
    let ids: Vec<DeliveryId> = ids.collect();
    let mut out: std::collections::HashMap<DeliveryId, Vec<Attempt>> =
        std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT delivery_id, at, status, response_excerpt, duration_ms FROM attempts \
         WHERE delivery_id IN ({marks}) ORDER BY delivery_id, n"
    ))?;
    let rows = stmt.query_map(params_from_iter(ids), |row| {
        Ok((
            row.get::<_, DeliveryId>(0)?,
            Attempt {
                at: row.get(1)?,
                status: row.get(2)?,
                response_excerpt: row.get(3)?,
                duration_ms: row.get(4)?,
            },
        ))
    })?;
    for row in rows {
        let (id, attempt) = row?;
        out.entry(id).or_default().push(attempt);
    }
    Ok(out)
}

/// The selection's conditions (after `DEAD_LETTERS_FROM`).
pub(super) fn selection_sql(base: &str, selection: &Selection) -> Sql {
    let mut sql = Sql::new(base);
    match selection {
        Selection::Ids(ids) => sql.push(
            " AND l.id IN (SELECT value FROM json_each(?))",
            [Arg::LetterIds(ids.clone())],
        ),
        Selection::Filter(filter) => filters::dead_letter_conditions(&mut sql, filter),
    }
    sql
}

pub(super) fn dead_letters(
    conn: &Connection,
    query: &DeadLetterQuery,
) -> anyhow::Result<DeadLetterPage> {
    let mut conditions = Sql::new(filters::DEAD_LETTERS_FROM);
    filters::dead_letter_conditions(&mut conditions, &query.filter);
    if !query.include_discarded {
        conditions.raw(" AND l.discarded_at IS NULL");
    }
    let mut count = Sql::new("SELECT count(*)");
    count.raw(&conditions.text);
    let total: i64 = conn
        .prepare_cached(&count.text)?
        .query_row(params_from_iter(sql_args(conditions.args.clone())), |r| {
            r.get(0)
        })?;
    let mut page = Sql::new(filters::DEAD_LETTER_COLUMNS);
    page.raw(&conditions.text);
    page.args = conditions.args;
    if let Some(cursor) = query.cursor {
        page.push(" AND l.id < ?", [Arg::Int(cursor)]);
    }
    page.push(
        " ORDER BY l.id DESC LIMIT ?",
        [Arg::Int(query.limit as i64)],
    );
    let mut stmt = conn.prepare_cached(&page.text)?;
    let rows = stmt.query_map(params_from_iter(sql_args(page.args)), |row| {
        Ok(DeadLetter {
            id: row.get(0)?,
            event_id: row.get(1)?,
            action: row.get(2)?,
            provider: row.get(3)?,
            params: crate::store::shown_json(&row.get::<_, String>(4)?),
            request: row
                .get::<_, Option<String>>(5)?
                .as_deref()
                .map(crate::store::shown_json),
            attempts: Vec::new(),
            last_status: row.get(6)?,
            last_response: row.get(7)?,
            reason: row.get(8)?,
            created_at: row.get(9)?,
            delivery_id: row.get(10)?,
            redriven_at: row.get(11)?,
            discarded_at: row.get(12)?,
        })
    })?;
    let mut letters = rows.collect::<Result<Vec<_>, _>>()?;
    // Every letter's attempts in one query, not one per letter.
    let mut attempts_of = attempts_for(conn, letters.iter().map(|l| l.delivery_id))?;
    for letter in &mut letters {
        letter.attempts = attempts_of.remove(&letter.delivery_id).unwrap_or_default();
    }
    Ok(DeadLetterPage { letters, total })
}

pub(super) fn trace(conn: &Connection, event_id: &EventId) -> anyhow::Result<Option<EventTrace>> {
    let Some((seq, status, json, reason, memory_seen)) = conn
        .prepare_cached(
            "SELECT seq, status, event, reason, memory_seen FROM events WHERE event_id = ?1",
        )?
        .query_row([event_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2).ok(),
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4).ok().flatten(),
            ))
        })
        .optional()?
    else {
        return Ok(None);
    };
    // An unreadable event still has a trace: its status and reason say what happened.
    let event: Option<Event> = json.and_then(|json| serde_json::from_str(&json).ok());
    let rules = rule_runs(
        conn,
        "SELECT rule, actions, error FROM rule_runs WHERE event_seq = ?1 AND run_id = '' ORDER BY position",
        seq,
    )?;
    let mut deliveries = Vec::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT d.id, d.run_id, d.seq, d.rule, d.action, d.provider, d.params, d.request, \
                d.status, d.reason, \
                (SELECT max(l.id) FROM dead_letters l \
                  WHERE l.delivery_id = d.id AND l.redriven_at IS NOT NULL), {} \
         FROM deliveries d WHERE d.event_seq = ?1 ORDER BY d.id",
        transitions::DEAD_LETTER_OF_DELIVERY
    ))?;
    let rows = stmt
        .query_map([seq], |row| {
            Ok((
                row.get::<_, DeliveryId>(0)?,
                row.get::<_, RunId>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, Option<String>>(9)?,
                row.get::<_, Option<DeadLetterId>>(10)?,
                row.get::<_, Option<DeadLetterId>>(11)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut attempts_of = attempts_for(conn, rows.iter().map(|r| r.0))?;
    for (
        id,
        run_id,
        dseq,
        rule,
        action,
        provider,
        params_json,
        request,
        status,
        reason,
        redrive_of,
        dead_letter_id,
    ) in rows
    {
        deliveries.push(DeliveryTrace {
            id,
            run_id,
            seq: dseq,
            rule,
            action,
            provider,
            params: crate::store::shown_json(&params_json),
            request: request.as_deref().map(crate::store::shown_json),
            status,
            reason,
            redrive_of,
            dead_letter_id,
            attempts: attempts_of.remove(&id).unwrap_or_default(),
        });
    }
    let shadow = rule_runs(
        conn,
        "SELECT rule, actions, error FROM shadow_runs WHERE event_seq = ?1 ORDER BY position",
        seq,
    )?;
    Ok(Some(EventTrace {
        event,
        status,
        reason,
        rules,
        shadow,
        memory: memory_seen.and_then(|m| serde_json::from_str(&m).ok()),
        deliveries,
    }))
}

/// Decided events of a window in acceptance order, with their first run (backtest).
pub(super) fn decided_events(
    conn: &Connection,
    window: &DecidedWindow,
) -> anyhow::Result<Vec<DecidedEvent>> {
    // Pages walk the primary key from `after` (`+received_at` keeps SQLite off the time
    // index, which would sort the whole window for every page); the first page starts at the
    // window's first event, found on the time index.
    let mut after = window.after;
    if after == 0 {
        after = conn
            .prepare_cached("SELECT min(seq) FROM events WHERE received_at >= ?1")?
            .query_row([window.since], |row| row.get::<_, Option<i64>>(0))?
            .map_or(i64::MAX, |first| first - 1);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event, memory_seen FROM events \
         WHERE +received_at >= ?1 AND +received_at < ?2 AND seq > ?3 \
           AND (?4 IS NULL OR source = ?4) AND status <> 'received' AND reason IS NULL \
         ORDER BY seq LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            rusqlite::params![
                window.since,
                window.until,
                after,
                window.source,
                window.limit as i64
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
        return Ok(Vec::new());
    };
    let mut runs: std::collections::HashMap<i64, Vec<RuleRun>> = std::collections::HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT event_seq, rule, actions, error FROM rule_runs \
         WHERE event_seq BETWEEN ?1 AND ?2 AND run_id = '' ORDER BY event_seq, position",
    )?;
    for row in stmt.query_map([first, last], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })? {
        let (seq, rule, actions, error) = row?;
        runs.entry(seq).or_default().push(RuleRun {
            rule,
            actions: serde_json::from_str(&actions).unwrap_or_default(),
            error,
        });
    }
    let mut out = Vec::with_capacity(rows.len());
    for (seq, event, memory_seen) in rows {
        // An event that cannot be read back is left out (it never ran rules either).
        let Ok(event) = serde_json::from_str(&event) else {
            continue;
        };
        out.push(DecidedEvent {
            seq,
            event,
            runs: runs.remove(&seq).unwrap_or_default(),
            memory_seen: memory_seen.and_then(|m| serde_json::from_str(&m).ok()),
        });
    }
    Ok(out)
}

/// Each shadow rule's runs since `since`.
pub(super) fn shadow_summary(conn: &Connection, since: i64) -> anyhow::Result<Vec<ShadowSummary>> {
    let mut stmt = conn.prepare_cached(SHADOW_SUMMARY_SQL)?;
    let rows = stmt
        .query_map(rusqlite::named_params! {"$1": since}, |row| {
            Ok(ShadowSummary {
                file: row.get(0)?,
                events: row.get(1)?,
                actions: row.get(2)?,
                differs_from_live: row.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

const SHADOW_SUMMARY_SQL: &str = transitions::SHADOW_SUMMARY;

/// An event's rule runs (`sql` selects rule, actions, error for `?1` = the event's seq).
/// Unreadable actions show as none; the deliveries still list them.
fn rule_runs(conn: &Connection, sql: &str, seq: i64) -> anyhow::Result<Vec<RuleRun>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([seq], |row| {
        Ok(RuleRun {
            rule: row.get(0)?,
            actions: serde_json::from_str(&row.get::<_, String>(1)?).unwrap_or_default(),
            error: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
