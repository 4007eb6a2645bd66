//! The admin lists' conditions (docs/http-api.md), written once for both back ends: each filter
//! becomes a SQL condition with numbered `$N` parameters, numbered in order of appearance
//! and each used once, so SQLite binds them by position and PostgreSQL by number. Integer
//! comparisons with 32-bit columns cast the 64-bit parameter (`CAST($N AS BIGINT)`).

use crate::domain::event::digits;
use crate::store::{DeadLetterFilter, DeadLetterId, EventFilter};

/// A parameter of a built condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    /// A set of dead letter ids: PostgreSQL binds it as an array (`= ANY($N)`); SQLite as
    /// a JSON array text (`IN (SELECT value FROM json_each($N))`).
    LetterIds(Vec<DeadLetterId>),
}

/// SQL text and its parameters, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    /// Append `clause`, whose `?` marks (in order) take `args`.
    pub(crate) fn push(&mut self, clause: &str, args: impl IntoIterator<Item = Arg>) {
        let mut args = args.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                let arg = args.next().expect("one argument per mark");
                self.args.push(arg);
                self.text.push_str(&format!("${}", self.args.len()));
            }
            self.text.push_str(part);
        }
    }

    /// Append plain SQL.
    pub(crate) fn raw(&mut self, text: &str) {
        self.text.push_str(text);
    }
}

/// How a back end tests an event's words: `search` is its condition with one `?` for
/// `query` (the words as that back end's full-text query).
pub(crate) struct WordSearch<'a> {
    pub condition: &'a str,
    pub query: String,
}

/// The conditions of an events list (`e` is `events`), each starting with ` AND `; the
/// cursor compares `seq_column` (the back end may order by its search index's key).
pub(crate) fn event_conditions(
    sql: &mut Sql,
    filter: &EventFilter,
    search: Option<WordSearch<'_>>,
    seq_column: &str,
    with_cursor: bool,
) {
    if let Some(search) = search {
        sql.push(
            &format!(" AND {}", search.condition),
            [Arg::Text(search.query)],
        );
    }
    if let Some(user) = &filter.user {
        let phone = digits(user);
        // A query with no digits must match no phone (an empty one would match none
        // anyway; a sentinel keeps the parameter count fixed).
        let phone = if phone.is_empty() {
            "\u{1}".to_string()
        } else {
            phone
        };
        sql.push(
            " AND (e.user_id = ? OR e.user_email = ? OR e.user_ns = ? OR e.user_phone = ?)",
            [
                Arg::Text(user.clone()),
                Arg::Text(user.clone()),
                Arg::Text(user.clone()),
                Arg::Text(phone),
            ],
        );
    }
    let status = filter.status.map(|s| s.as_str().to_string());
    for (column, value) in [
        ("kind", &filter.kind),
        ("status", &status),
        ("source", &filter.source),
    ] {
        if let Some(value) = value {
            sql.push(&format!(" AND e.{column} = ?"), [Arg::Text(value.clone())]);
        }
    }
    if let Some(since) = filter.since {
        sql.push(" AND e.received_at >= ?", [Arg::Int(since)]);
    }
    if let Some(until) = filter.until {
        sql.push(" AND e.received_at < ?", [Arg::Int(until)]);
    }
    for (column, value) in [("provider", &filter.provider), ("action", &filter.action)] {
        if let Some(value) = value {
            sql.push(
                &format!(
                    " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.{column} = ?)"
                ),
                [Arg::Text(value.clone())],
            );
        }
    }
    if let Some(rule) = &filter.rule {
        sql.push(
            " AND EXISTS (SELECT 1 FROM rule_runs r WHERE r.event_seq = e.seq AND r.rule = ? \
             AND (r.actions <> '[]' OR r.error IS NOT NULL))",
            [Arg::Text(rule.clone())],
        );
    }
    match filter.rule_error {
        Some(true) => sql.raw(" AND e.rule_errors > 0"),
        Some(false) => sql.raw(" AND e.rule_errors = 0"),
        None => {}
    }
    if let Some(status) = filter.http_status {
        sql.push(
            " AND EXISTS (SELECT 1 FROM deliveries d JOIN attempts a ON a.delivery_id = d.id \
             WHERE d.event_seq = e.seq AND a.status = CAST(? AS BIGINT))",
            [Arg::Int(i64::from(status))],
        );
    }
    if with_cursor {
        if let Some(cursor) = filter.cursor {
            sql.push(&format!(" AND {seq_column} < ?"), [Arg::Int(cursor)]);
        }
    }
}

/// The columns every events-list row shows (`e` is `events`), then the back end's `FROM`.
pub(crate) const EVENT_COLUMNS: &str = "SELECT e.seq, e.event_id, e.source, e.kind, \
     e.received_at, e.status, e.event, e.reason, e.user_id, e.user_phone, e.user_email, e.user_ns";

/// Count the rows of `select` (`SELECT 1 FROM ... WHERE ...`) up to one more than the
/// events list's cap (`capped_total` reads it).
pub(crate) fn capped_count(select: &str) -> String {
    format!(
        "SELECT count(*) FROM ({select} LIMIT {}) c",
        crate::store::TOTAL_CAP + 1
    )
}

/// A page of events (`page`: `EVENT_COLUMNS` ... `LIMIT`) with what happened to each, newest
/// first: after the 12 columns, the number of actions its rules decided (every run: one
/// delivery each), its first rule error, and the first dead delivery as a sentence
/// (`dead letter: final_status (HTTP 400)`). Worked out for the page's rows only: three
/// indexed lookups per row.
pub(crate) fn event_page(page: &str) -> String {
    format!(
        "SELECT p.*, \
         (SELECT count(*) FROM deliveries d WHERE d.event_seq = p.seq), \
         (SELECT r.error FROM rule_runs r WHERE r.event_seq = p.seq AND r.error IS NOT NULL \
           ORDER BY r.run_id, r.position LIMIT 1), \
         (SELECT 'dead letter: ' || d.reason || coalesce(' (HTTP ' || d.last_status || ')', '') \
            FROM deliveries d WHERE d.event_seq = p.seq AND d.status = 'dead' \
           ORDER BY d.id LIMIT 1) \
         FROM ({page}) p ORDER BY p.seq DESC"
    )
}

/// The dead letters joined to their delivery and event: `l`, `d`, `e`.
pub(crate) const DEAD_LETTERS_FROM: &str = " FROM dead_letters l \
     JOIN deliveries d ON d.id = l.delivery_id JOIN events e ON e.seq = d.event_seq WHERE true";

/// The conditions of a dead-letter selection, each starting with ` AND `.
pub(crate) fn dead_letter_conditions(sql: &mut Sql, filter: &DeadLetterFilter) {
    for (column, value) in [
        ("d.provider", &filter.provider),
        ("d.action", &filter.action),
        ("l.reason", &filter.reason),
    ] {
        if let Some(value) = value {
            sql.push(&format!(" AND {column} = ?"), [Arg::Text(value.clone())]);
        }
    }
    if let Some(status) = filter.last_status {
        sql.push(
            " AND l.last_status = CAST(? AS BIGINT)",
            [Arg::Int(i64::from(status))],
        );
    }
    if let Some(since) = filter.since {
        sql.push(" AND l.created_at >= ?", [Arg::Int(since)]);
    }
    if let Some(until) = filter.until {
        sql.push(" AND l.created_at < ?", [Arg::Int(until)]);
    }
}

/// The letters a bulk action may still change: neither redriven nor discarded.
pub(crate) const OPEN_LETTER: &str = " AND l.redriven_at IS NULL AND l.discarded_at IS NULL";

/// The columns of a dead letter as listed (then `DEAD_LETTERS_FROM`).
pub(crate) const DEAD_LETTER_COLUMNS: &str = "SELECT l.id, e.event_id, d.action, d.provider, \
     d.params, d.request, l.last_status, l.last_response, l.reason, l.created_at, d.id, \
     l.redriven_at, l.discarded_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_numbered_in_order_each_used_once() {
        let filter = EventFilter {
            kind: Some("other".into()),
            since: Some(5),
            provider: Some("jelou".into()),
            http_status: Some(500),
            rule_error: Some(true),
            cursor: Some(9),
            ..EventFilter::default()
        };
        let mut sql = Sql::new("SELECT 1 FROM events e WHERE true");
        event_conditions(
            &mut sql,
            &filter,
            Some(WordSearch {
                condition: "e.search @@ to_tsquery('simple', ?)",
                query: "'word1'".into(),
            }),
            "e.seq",
            true,
        );
        for n in 1..=sql.args.len() {
            assert_eq!(
                sql.text.matches(&format!("${n} ")).count()
                    + sql.text.matches(&format!("${n})")).count()
                    + usize::from(sql.text.ends_with(&format!("${n}"))),
                1,
                "{}",
                sql.text
            );
        }
        assert_eq!(
            sql.args,
            vec![
                Arg::Text("'word1'".into()),
                Arg::Text("other".into()),
                Arg::Int(5),
                Arg::Text("jelou".into()),
                Arg::Int(500),
                Arg::Int(9),
            ]
        );
        assert!(sql.text.contains("e.rule_errors > 0"));
    }

    #[test]
    fn a_dead_letter_filter_names_only_what_is_set() {
        let mut sql = Sql::new("");
        dead_letter_conditions(
            &mut sql,
            &DeadLetterFilter {
                reason: Some("timeout".into()),
                last_status: Some(503),
                ..DeadLetterFilter::default()
            },
        );
        assert_eq!(
            sql.text,
            " AND l.reason = $1 AND l.last_status = CAST($2 AS BIGINT)"
        );
        assert_eq!(sql.args, vec![Arg::Text("timeout".into()), Arg::Int(503)]);
    }
}
