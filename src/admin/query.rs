//! What the admin routes' query parameters share (docs/http-api.md): times (`since`, `until`)
//! as RFC 3339 or unix milliseconds, page sizes and cursors, each with a `400
//! invalid_query` sentence when it cannot be read.

use actix_web::http::StatusCode;

use crate::http::Rejection;

pub fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, "invalid_query", message)
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
