//! What the admin routes' query parameters share (docs/http-api.md): reading them at all
//! ([`Params`]: an unknown parameter is refused), text where empty means absent, values of a
//! known set, times (`since`, `until`) as RFC 3339 or unix milliseconds, page sizes, cursors
//! and cutting a page ([`Page`]), each with a `400 invalid_query` sentence when it cannot be
//! read. A handler declares its parameters as a struct and reads each with these.

use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{FutureExt as _, Map};
use serde::de::DeserializeOwned;

use crate::http::Rejection;

pub fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// A route's query parameters read into `T` (a struct with `#[serde(deny_unknown_fields)]`):
/// a parameter it does not name, or a value of the wrong kind, is `400 invalid_query` with
/// the reader's sentence (`Query deserialize error: unknown field ...`).
#[derive(Debug)]
pub struct Params<T>(pub T);

type QueryRead<T> = Result<web::Query<T>, actix_web::Error>;

impl<T: DeserializeOwned> Params<T> {
    fn from_query(read: QueryRead<T>) -> Result<Params<T>, Rejection> {
        read.map(|query| Params(query.into_inner()))
            .map_err(|e| invalid(e.to_string()))
    }
}

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = Rejection;
    type Future = Map<
        <web::Query<T> as FromRequest>::Future,
        fn(QueryRead<T>) -> Result<Params<T>, Rejection>,
    >;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        web::Query::<T>::from_request(request, payload)
            .map(Params::from_query as fn(QueryRead<T>) -> Result<Params<T>, Rejection>)
    }
}

/// A text parameter; empty counts as absent.
pub fn text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A parameter that must read as a `T` (empty counts as absent); `refused` words the
/// sentence from the value and why it was refused.
pub fn parsed<T: FromStr>(
    value: Option<&str>,
    refused: impl FnOnce(&str, T::Err) -> String,
) -> Result<Option<T>, Rejection> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| invalid(refused(v, e))),
    }
}

/// A parameter with a few known values (empty counts as absent): what the one given stands
/// for; `refused` words the sentence for any other.
pub fn one_of<V: Copy>(
    value: Option<&str>,
    known: &[(&str, V)],
    refused: impl FnOnce(&str) -> String,
) -> Result<Option<V>, Rejection> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => known
            .iter()
            .find(|(name, _)| *name == v)
            .map(|(_, meaning)| Some(*meaning))
            .ok_or_else(|| invalid(refused(v))),
    }
}

/// A time as unix milliseconds (digits only) or RFC 3339 (`2026-11-22T10:00:00Z`, with any
/// offset); `name` is the parameter, for the sentence.
pub fn parse_time(name: &str, value: &str) -> Result<i64, Rejection> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<i64>()
            .map_err(|_| invalid(format!("{name}={value} is too large for unix milliseconds")));
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            invalid(format!(
                "{name}={value} is neither unix milliseconds nor an RFC 3339 time like 2026-11-22T10:00:00Z"
            ))
        })
}

/// An optional time parameter (empty counts as absent).
pub fn time(name: &str, value: Option<&str>) -> Result<Option<i64>, Rejection> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| parse_time(name, v))
        .transpose()
}

/// A list's time window: its `since` (inclusive) and `until` (exclusive) parameters.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), Rejection> {
    Ok((time("since", since)?, time("until", until)?))
}

/// A page size within `1..=max`, `default` when absent; outside is refused.
pub fn limit(value: Option<&str>, default: usize, max: usize) -> Result<usize, Rejection> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "limit={value} must be a whole number from 1 to {max}"
        ))),
    }
}

/// One page of a list: at most `limit` rows, after the position `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub cursor: Option<i64>,
}

impl Page {
    /// A page of `limit` rows (checked by the caller) after the `cursor` parameter.
    pub fn new(limit: usize, cursor: Option<&str>) -> Result<Page, Rejection> {
        Ok(Page {
            limit,
            cursor: self::cursor(cursor)?,
        })
    }

    /// How many rows to read: one more than the page shows, to know whether there is a
    /// next page.
    pub fn rows_to_read(&self) -> usize {
        self.limit + 1
    }

    /// The rows read (`rows_to_read` at most) as the page shows them, and its
    /// `next_cursor`: the position of its last row when more follow, else `None`.
    pub fn cut<T>(
        &self,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> i64,
    ) -> (Vec<T>, Option<String>) {
        if rows.len() <= self.limit {
            return (rows, None);
        }
        rows.truncate(self.limit);
        let next = rows.last().map(|row| position(row).to_string());
        (rows, next)
    }
}

/// A `next_cursor` from an earlier page.
pub fn cursor(value: Option<&str>) -> Result<Option<i64>, Rejection> {
    value
        .filter(|v| !v.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| invalid("cursor must be a next_cursor value from an earlier page"))
        })
        .transpose()
}

/// An optional whole number (an HTTP status, ...).
pub fn status(name: &str, value: Option<&str>) -> Result<Option<u16>, Rejection> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| match v.parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "{name}={v} is not an HTTP status (100 to 599)"
            ))),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_unix_milliseconds() {
        assert_eq!(
            parse_time("since", "1764000000000").unwrap(),
            1_764_000_000_000
        );
        assert_eq!(parse_time("since", "0").unwrap(), 0);
        assert_eq!(
            parse_time("since", "2026-11-22T10:00:00Z").unwrap(),
            1_795_341_600_000
        );
        assert_eq!(
            parse_time("since", "2026-11-22T11:00:00+01:00").unwrap(),
            1_795_341_600_000
        );
        assert_eq!(
            parse_time("until", "2026-11-22T10:00:00.250Z").unwrap(),
            1_795_341_600_250
        );
    }

    #[test]
    fn a_bad_time_is_refused_with_a_sentence_naming_it() {
        for bad in [
            "yesterday",
            "-5",
            "2026-11-22",
            "2026-11-22 10:00:00",
            "1.5",
            "",
            "99999999999999999999999",
        ] {
            let e = parse_time("since", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_query", "{bad}");
            assert!(
                e.message().starts_with(&format!("since={bad}")),
                "{}",
                e.message()
            );
        }
    }

    #[test]
    fn a_page_shows_at_most_its_limit_and_points_past_its_last_row_when_more_follow() {
        let page = Page {
            limit: 2,
            cursor: None,
        };
        assert_eq!(page.rows_to_read(), 3);
        assert_eq!(
            page.cut(vec![9, 8, 7], |n| *n),
            (vec![9, 8], Some("8".into()))
        );
        assert_eq!(page.cut(vec![9, 8], |n| *n), (vec![9, 8], None));
        assert_eq!(page.cut(Vec::<i64>::new(), |n| *n), (vec![], None));
    }

    #[test]
    fn empty_parameters_are_absent_and_others_are_read_or_refused_with_their_sentence() {
        assert_eq!(text(Some(String::new())), None);
        assert_eq!(text(Some("a".into())), Some("a".into()));
        assert_eq!(parsed::<u8>(Some(""), |_, _| unreachable!()).unwrap(), None);
        assert_eq!(
            parsed::<u8>(Some("7"), |_, _| unreachable!()).unwrap(),
            Some(7)
        );
        let e = parsed::<u8>(Some("x"), |v, e| format!("n={v}: {e}")).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            ("invalid_query", "n=x: invalid digit found in string")
        );
        let known = [("true", true), ("false", false)];
        assert_eq!(one_of(None, &known, |_| unreachable!()).unwrap(), None);
        assert_eq!(
            one_of(Some("false"), &known, |_| unreachable!()).unwrap(),
            Some(false)
        );
        let e = one_of(Some("yes"), &known, |v| format!("b={v} is not known")).unwrap_err();
        assert_eq!(e.message(), "b=yes is not known");
    }

    #[test]
    fn limits_outside_their_range_are_refused() {
        assert_eq!(limit(None, 50, 500).unwrap(), 50);
        assert_eq!(limit(Some("1"), 50, 500).unwrap(), 1);
        assert_eq!(limit(Some("500"), 50, 500).unwrap(), 500);
        for bad in ["0", "501", "-1", "ten"] {
            assert!(
                limit(Some(bad), 50, 500)
                    .unwrap_err()
                    .message()
                    .contains("1 to 500"),
                "{bad}"
            );
        }
    }
}
