//! Retry timing (docs/configuration.md, docs/guarantees.md, docs/providers.md): the bounds of `backoff` over its jitter, the
//! `Retry-After` floor and its cap, and how `retry_after` reads the header (seconds,
//! fractions, HTTP dates, nonsense); plus how a failed send is told apart (`dns`, `refused`,
//! `tls`, `timeout`).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use super::*;

/// Enough draws that a jitter outside 50–100 % or a constant one would show.
const DRAWS: usize = 2_000;

fn delivery(base: u64, max: u64) -> DeliverySettings {
    DeliverySettings {
        backoff_base_ms: base,
        backoff_max_ms: max,
        ..DeliverySettings::default()
    }
}

/// The smallest and largest `backoff` over many draws, in milliseconds.
fn range(d: &DeliverySettings, attempts: u32, retry_after: Option<Duration>) -> (u128, u128) {
    let draws: Vec<u128> = (0..DRAWS)
        .map(|_| backoff(d, attempts, retry_after).as_millis())
        .collect();
    (
        *draws.iter().min().expect("draws"),
        *draws.iter().max().expect("draws"),
    )
}

#[test]
fn backoff_stays_within_half_to_all_of_the_capped_exponential() {
    let hour = 3_600_000;
    // (base, max, attempts, min(max, base·2^(n−1)))
    let rows: [(u64, u64, u32, u64); 10] = [
        (1_000, hour, 1, 1_000),
        (1_000, hour, 2, 2_000),
        (1_000, hour, 3, 4_000),
        (1_000, hour, 10, 512_000),
        (1_000, hour, 12, 2_048_000),
        (1_000, hour, 13, hour),
        (1_000, hour, 64, hour),
        (1_000, hour, u32::MAX, hour),
        (u64::MAX, u64::MAX, u32::MAX, u64::MAX),
        (7, 1_000, 5, 112),
    ];
    for (base, max, attempts, raw) in rows {
        let (lo, hi) = range(&delivery(base, max), attempts, None);
        let raw = u128::from(raw);
        let label = format!("base {base}, max {max}, attempt {attempts}");
        assert!(lo >= raw / 2, "{label}: {lo} ms is under half of {raw}");
        assert!(hi <= raw, "{label}: {hi} ms is over {raw}");
        assert!(hi <= u128::from(max), "{label}: {hi} ms is over the max");
        // The jitter really spreads (a constant would pass the bounds above).
        if raw >= 100 {
            assert!(
                lo < raw * 6 / 10 && hi > raw * 9 / 10,
                "{label}: {lo}..={hi} ms does not spread over 50–100 % of {raw}"
            );
        }
    }
}

#[test]
fn backoff_treats_attempt_zero_like_the_first_without_underflow() {
    let (lo, hi) = range(&delivery(1_000, 3_600_000), 0, None);
    assert!((500..=1_000).contains(&lo) && (500..=1_000).contains(&hi));
}

#[test]
fn backoff_keeps_doubling_up_to_the_max_past_forty_attempts() {
    let (lo, _) = range(&delivery(1, u64::MAX), 64, None);
    // min(u64::MAX, 2^63), times at least 50 %.
    assert!(lo >= 1u128 << 62, "{lo}");
}

#[test]
fn backoff_never_goes_below_a_capped_retry_after() {
    let hour: u128 = 3_600_000;
    // (label, attempts, Retry-After, expected min, expected max) with base 1 s, max 1 h.
    let rows: [(&str, u32, Option<Duration>, u128, u128); 8] = [
        ("no header", 1, None, 500, 1_000),
        ("zero", 1, Some(Duration::ZERO), 500, 1_000),
        (
            "over the jitter: exactly it",
            1,
            Some(Duration::from_secs(5)),
            5_000,
            5_000,
        ),
        (
            "inside the jitter: a floor",
            2,
            Some(Duration::from_millis(1_500)),
            1_500,
            2_000,
        ),
        (
            "under the jitter: no effect",
            3,
            Some(Duration::from_millis(100)),
            2_000,
            4_000,
        ),
        (
            "over the max: the max",
            1,
            Some(Duration::from_secs(36_000)),
            hour,
            hour,
        ),
        (
            "Duration::MAX: the max, no overflow",
            1,
            Some(Duration::MAX),
            hour,
            hour,
        ),
        (
            "late attempt, huge header: the max",
            u32::MAX,
            Some(Duration::MAX),
            hour,
            hour,
        ),
    ];
    for (label, attempts, retry_after, want_lo, want_hi) in rows {
        let (lo, hi) = range(&delivery(1_000, 3_600_000), attempts, retry_after);
        assert!(
            lo >= want_lo && hi <= want_hi,
            "{label}: {lo}..={hi} ms, expected within {want_lo}..={want_hi}"
        );
    }
}

fn header(value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_bytes(value).expect("a valid header value"),
    );
    headers
}

#[test]
fn retry_after_reads_seconds_and_fractions() {
    for (value, expected) in [
        ("0", Duration::ZERO),
        ("1", Duration::from_secs(1)),
        ("120", Duration::from_secs(120)),
        (" 7 ", Duration::from_secs(7)),
        ("1.5", Duration::from_millis(1_500)),
        ("0.25", Duration::from_millis(250)),
        ("0.001", Duration::from_millis(1)),
        ("1e9", Duration::from_secs(1_000_000_000)),
    ] {
        assert_eq!(
            retry_after(&header(value.as_bytes())),
            Some(expected),
            "{value:?}"
        );
    }
}

#[test]
fn retry_after_too_large_for_a_duration_reads_as_the_largest() {
    // u64::MAX as text is 2^64 as a float: past the largest Duration.
    let text = u64::MAX.to_string();
    assert_eq!(
        retry_after(&header(text.as_bytes())),
        Some(Duration::MAX),
        "{text}"
    );
    assert_eq!(retry_after(&header(b"1e300")), Some(Duration::MAX));
}

#[test]
fn retry_after_beyond_float_range_reads_as_the_largest() {
    assert_eq!(retry_after(&header(b"1e400")), Some(Duration::MAX));
}

#[test]
fn retry_after_ignores_negative_not_finite_garbage_and_missing() {
    for value in [
        "-1",
        "-0.5",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "soon",
        "",
        "12abc",
        "0x10",
        "1,5",
        "tomorrow",
        "Mon, 99 Foo 2024",
    ] {
        assert_eq!(retry_after(&header(value.as_bytes())), None, "{value:?}");
    }
    // Not text at all.
    assert_eq!(retry_after(&header(b"\xff\xfe")), None, "non-UTF-8 bytes");
    assert_eq!(retry_after(&HeaderMap::new()), None, "no header");
}

#[test]
fn retry_after_http_date_in_the_past_is_zero() {
    for value in [
        // IMF-fixdate, RFC 850 and asctime, as RFC 9110 accepts.
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(
            retry_after(&header(value.as_bytes())),
            Some(Duration::ZERO),
            "{value:?}"
        );
    }
}

#[test]
fn retry_after_http_date_in_the_future_is_the_time_until_it() {
    let when = SystemTime::now() + Duration::from_secs(3_600);
    let value = httpdate::fmt_http_date(when);
    let got = retry_after(&header(value.as_bytes())).expect("a date");
    // Whole seconds in the header, and some time passes while the test runs.
    assert!(
        got > Duration::from_secs(3_590) && got <= Duration::from_secs(3_600),
        "{value}: {got:?}"
    );
}

#[test]
fn send_failures_are_told_apart_by_kind_then_text() {
    use std::io::ErrorKind;
    let rows: [(&str, bool, &[ErrorKind], &str, SendFailure); 10] = [
        (
            "client timeout",
            true,
            &[],
            "operation timed out",
            SendFailure::Timeout,
        ),
        (
            "io timeout",
            false,
            &[ErrorKind::TimedOut],
            "",
            SendFailure::Timeout,
        ),
        (
            "dns error",
            false,
            &[],
            "dns error: failed to lookup address information",
            SendFailure::Dns,
        ),
        (
            "unknown name",
            false,
            &[],
            "name or service not known",
            SendFailure::Dns,
        ),
        (
            "refused by kind",
            false,
            &[ErrorKind::ConnectionRefused],
            "",
            SendFailure::Refused,
        ),
        (
            "refused by text",
            false,
            &[],
            "tcp connect error: connection refused",
            SendFailure::Refused,
        ),
        (
            "certificate",
            false,
            &[],
            "invalid peer certificate: unknownissuer",
            SendFailure::Tls,
        ),
        (
            "handshake",
            false,
            &[],
            "received corrupt message",
            SendFailure::Tls,
        ),
        (
            "reset",
            false,
            &[ErrorKind::ConnectionReset],
            "connection reset by peer",
            SendFailure::Other,
        ),
        // A timeout wins over whatever the text says.
        (
            "timeout over dns text",
            true,
            &[],
            "dns error",
            SendFailure::Timeout,
        ),
    ];
    for (label, timed_out, kinds, text, expected) in rows {
        assert_eq!(
            classify_failure(timed_out, kinds, text),
            expected,
            "{label}"
        );
    }
}

#[test]
fn send_failures_map_to_their_dead_letter_reasons() {
    for (failure, reason) in [
        (SendFailure::Dns, DeadReason::Dns),
        (SendFailure::Refused, DeadReason::Refused),
        (SendFailure::Tls, DeadReason::Tls),
        (SendFailure::Timeout, DeadReason::Timeout),
        (SendFailure::Other, DeadReason::AttemptsExhausted),
    ] {
        assert_eq!(failure.dead_reason(), reason, "{failure:?}");
    }
}

#[test]
fn an_aelyst_449_waits_at_least_a_minute_capped_by_the_max() {
    use crate::config::ProviderKind;
    let cases = [
        (
            ProviderKind::Aelyst,
            Some(449),
            Some(Duration::from_secs(60)),
        ),
        (ProviderKind::Aelyst, Some(429), None),
        (ProviderKind::Aelyst, None, None),
        (ProviderKind::Jelou, Some(449), None),
        (ProviderKind::Uchat, Some(449), None),
    ];
    for (kind, status, floor) in cases {
        assert_eq!(status_floor(kind, status), floor, "{kind:?} {status:?}");
    }
    let floor = status_floor(ProviderKind::Aelyst, Some(449));
    let (low, _) = range(&delivery(200, 3_600_000), 1, floor);
    assert!(low >= 60_000, "a 449 waits a minute at least: {low} ms");
    let (_, high) = range(&delivery(200, 5_000), 1, floor);
    assert!(high <= 5_000, "but never past backoff_max_ms: {high} ms");
}
