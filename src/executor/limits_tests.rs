//! Request rate limits (docs/guarantees.md, docs/providers.md): which key a request counts against (method and
//! path for Aelyst, the whole provider otherwise), the spacing each rate gives, how long the
//! nth request of a window waits, and the pause after `X-RateLimit-Remaining: 0` (capped by
//! `backoff_max_ms`, and over when its time is up).
//!
//! Pauses are timed on tokio's paused clock. The spacing between requests is `governor`'s,
//! which keeps its own clock (quanta) and timer (futures-timer) that `tokio::time::pause`
//! does not control, so those tests measure real time with small rates.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::Settings;

const CONFIG: &str = r#"
[providers.aelyst]
kind = "aelyst"
token = "t"

[providers.aelyst_slow]
kind = "aelyst"
token = "t"
rate_per_second = 2

[providers.jelou]
kind = "jelou"
client_id = "i"
client_secret = "s"

[providers.jelou_limited]
kind = "jelou"
client_id = "i"
client_secret = "s"
rate_per_second = 20

[providers.uchat_one]
kind = "uchat"
token = "t"
rate_per_second = 1
"#;

fn limits(name: &str, max_pause: Duration) -> RateLimits {
    let settings = Settings::parse(CONFIG, Path::new("t.toml"), &|_| None).expect("config");
    RateLimits::for_provider(&settings.providers[name], max_pause)
}

const HOUR: Duration = Duration::from_secs(3_600);
const MESSAGE: &str = "https://api.aelyst.ai/v1/contact/id:1/message";
const TAG: &str = "https://api.aelyst.ai/v1/contact/id:1/tag";

#[test]
fn aelyst_counts_per_method_and_path_others_per_provider() {
    let aelyst = limits("aelyst", HOUR);
    let jelou = limits("jelou_limited", HOUR);
    for (label, l, method, url, key) in [
        (
            "aelyst path",
            &aelyst,
            "POST",
            MESSAGE,
            format!("POST {MESSAGE}"),
        ),
        (
            "aelyst query dropped",
            &aelyst,
            "POST",
            &format!("{MESSAGE}?x=1") as &str,
            format!("POST {MESSAGE}"),
        ),
        (
            "aelyst method counts",
            &aelyst,
            "DELETE",
            TAG,
            format!("DELETE {TAG}"),
        ),
        (
            "jelou one key",
            &jelou,
            "POST",
            "https://api.jelou.ai/v1/users/state",
            String::new(),
        ),
        (
            "jelou other path, same key",
            &jelou,
            "GET",
            "https://api.jelou.ai/v1/x?y",
            String::new(),
        ),
    ] {
        assert_eq!(l.key(method, url), key, "{label}");
    }
}

#[test]
fn spacing_is_one_over_the_rate_plus_ten_milliseconds() {
    for (name, period) in [
        // Aelyst's published 5 per second, unless rate_per_second says otherwise.
        ("aelyst", Some(210)),
        ("aelyst_slow", Some(510)),
        ("jelou_limited", Some(60)),
        ("uchat_one", Some(1_010)),
        // No limit unless rate_per_second is set.
        ("jelou", None),
    ] {
        assert_eq!(
            limits(name, HOUR).period,
            period.map(Duration::from_millis),
            "{name}"
        );
    }
}

/// When each request may go out, in real time from the first call.
async fn schedule(l: &RateLimits, requests: &[(&str, &str)]) -> Vec<Duration> {
    let start = Instant::now();
    let mut at = Vec::new();
    for (method, url) in requests {
        l.acquire(method, url).await;
        at.push(start.elapsed());
    }
    at
}

#[tokio::test]
async fn aelyst_nth_request_on_one_path_waits_n_minus_one_periods_and_six_span_over_a_second() {
    let l = limits("aelyst", HOUR);
    let at = schedule(&l, &[("POST", MESSAGE); 6]).await;
    for (n, t) in at.iter().enumerate() {
        let due = Duration::from_millis(210) * n as u32;
        // Never early (1 ms for clock granularity). How late depends on the machine's
        // load, so no upper bound is asserted (timing belongs in benchmarks).
        assert!(
            *t + Duration::from_millis(1) >= due,
            "request {}: at {t:?}, due {due:?}",
            n + 1
        );
    }
    // No one-second window holds six.
    assert!(at[5] - at[0] > Duration::from_secs(1), "{at:?}");
}

#[tokio::test]
async fn a_limited_provider_spaces_requests_across_all_its_paths() {
    let l = limits("jelou_limited", HOUR);
    let at = schedule(
        &l,
        &[
            ("POST", "https://api.jelou.ai/v1/users/state"),
            ("POST", "https://api.jelou.ai/v1/bots/b/messages"),
            ("GET", "https://api.jelou.ai/v1/other"),
        ],
    )
    .await;
    assert!(
        at[1] + Duration::from_millis(1) >= Duration::from_millis(60),
        "{at:?}"
    );
    assert!(
        at[2] + Duration::from_millis(1) >= Duration::from_millis(120),
        "{at:?}"
    );
}

/// How long, on tokio's clock, `acquire` takes.
async fn wait_of(l: &RateLimits, method: &str, url: &str) -> Duration {
    let start = tokio::time::Instant::now();
    l.acquire(method, url).await;
    start.elapsed()
}

/// `got` is at least `want` (the pause is set from the real clock, the wait is measured on
/// the paused one, so it also holds the real time the test took before pausing, which is
/// not bounded here) and far below `ceiling`.
fn about(got: Duration, want: Duration, ceiling: Duration) -> bool {
    got >= want && got < ceiling
}

/// Runs `f` on a fresh runtime whose clock starts paused. A pause is kept as a
/// `std::time::Instant` and slept on tokio's clock, so once a test has advanced the paused
/// clock the two no longer agree: each table row gets its own runtime.
fn on_paused_clock<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(f)
}

#[test]
fn a_pause_holds_its_key_for_the_wait_asked() {
    let url = "https://api.jelou.ai/v1/users/state";
    for wait in [
        Duration::from_millis(1),
        Duration::from_secs(1),
        Duration::from_millis(2_500),
        Duration::from_secs(30),
    ] {
        let got = on_paused_clock(async {
            let l = limits("jelou", HOUR);
            l.pause("POST", url, wait).await;
            wait_of(&l, "POST", url).await
        });
        assert!(about(got, wait, HOUR), "pause {wait:?}: waited {got:?}");
    }
}

#[test]
fn a_pause_is_capped_by_backoff_max() {
    let max = Duration::from_secs(5);
    let url = "https://api.jelou.ai/v1/users/state";
    for asked in [
        Duration::from_secs(6),
        HOUR,
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ] {
        let got = on_paused_clock(async {
            let l = limits("jelou", max);
            l.pause("POST", url, asked).await;
            wait_of(&l, "POST", url).await
        });
        // Capped: the wait is the cap, not the hour (or more) that was asked for.
        assert!(
            about(got, max, Duration::from_secs(60)),
            "asked {asked:?}: waited {got:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_pause_ends_once_its_time_has_passed() {
    let l = limits("jelou", HOUR);
    let url = "https://api.jelou.ai/v1/users/state";
    l.pause("POST", url, Duration::from_secs(1)).await;
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(wait_of(&l, "POST", url).await, Duration::ZERO);
    // And a zero pause holds nothing.
    l.pause("POST", url, Duration::ZERO).await;
    assert_eq!(wait_of(&l, "POST", url).await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_later_shorter_pause_does_not_shorten_a_longer_one() {
    let l = limits("jelou", HOUR);
    let url = "https://api.jelou.ai/v1/users/state";
    l.pause("POST", url, Duration::from_secs(10)).await;
    l.pause("POST", url, Duration::from_secs(1)).await;
    let got = wait_of(&l, "POST", url).await;
    assert!(
        about(got, Duration::from_secs(10), Duration::from_secs(60)),
        "waited {got:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_aelyst_pause_holds_only_its_method_and_path() {
    let l = limits("aelyst", HOUR);
    l.pause("POST", MESSAGE, Duration::from_secs(3)).await;
    for (label, method, url) in [
        ("other path", "POST", TAG),
        ("other method", "DELETE", MESSAGE),
    ] {
        assert_eq!(wait_of(&l, method, url).await, Duration::ZERO, "{label}");
    }
    let got = wait_of(&l, "POST", &format!("{MESSAGE}?page=2")).await;
    assert!(
        about(got, Duration::from_secs(3), Duration::from_secs(60)),
        "same path: waited {got:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn another_providers_pause_holds_every_path() {
    let l = limits("jelou", HOUR);
    l.pause(
        "POST",
        "https://api.jelou.ai/v1/users/state",
        Duration::from_secs(3),
    )
    .await;
    let got = wait_of(&l, "GET", "https://api.jelou.ai/v1/bots/b/messages").await;
    assert!(
        about(got, Duration::from_secs(3), Duration::from_secs(60)),
        "waited {got:?}"
    );
}

#[test]
fn millis_saturates() {
    assert_eq!(millis(Duration::from_millis(1_500)), 1_500);
    assert_eq!(millis(Duration::MAX), i64::MAX);
}

// ---- X-RateLimit-Limit (docs/providers.md) --------------------------------------------------

#[test]
fn x_ratelimit_limit_reads_as_a_whole_rate_per_second() {
    for (header, rate) in [
        ("10", Some(10)),
        (" 5 ", Some(5)),
        ("1", Some(1)),
        ("10000", Some(10_000)),
        ("10001", None),
        ("0", None),
        ("-1", None),
        ("1.5", None),
        ("ten", None),
        ("", None),
    ] {
        assert_eq!(parse_limit(header), rate, "{header:?}");
    }
}

/// When each of `n` requests to `method url` may go, on tokio's (paused) clock.
async fn paused_schedule(l: &RateLimits, method: &str, url: &str, n: usize) -> Vec<Duration> {
    let start = tokio::time::Instant::now();
    let mut at = Vec::new();
    for _ in 0..n {
        l.acquire(method, url).await;
        at.push(start.elapsed());
    }
    at
}

#[test]
fn a_learned_limit_replaces_the_built_in_rate_for_its_method_and_path() {
    let ms = Duration::from_millis;
    // (provider, X-RateLimit-Limit, spacing of the requests that follow)
    for (name, header, spacing) in [
        // Aelyst's built-in 5 per second (210 ms) replaced, slower or faster.
        ("aelyst", 2, ms(510)),
        ("aelyst", 10, ms(110)),
        // A provider with no built-in limit gets one for that path.
        ("jelou", 4, ms(260)),
        // An operator's rate_per_second is a ceiling the header cannot raise.
        ("aelyst_slow", 10, ms(510)),
        ("aelyst_slow", 1, ms(1_010)),
    ] {
        let at = on_paused_clock(async {
            let l = limits(name, HOUR);
            l.learn("POST", MESSAGE, header).await;
            paused_schedule(&l, "POST", &format!("{MESSAGE}?q=1"), 4).await
        });
        let expected: Vec<Duration> = (0..4).map(|n| spacing * n).collect();
        assert_eq!(at, expected, "{name} told {header}/s");
    }
}

#[test]
fn a_learned_limit_holds_only_its_method_and_path() {
    for (label, method, url) in [
        ("other method", "DELETE", MESSAGE),
        ("other path", "POST", TAG),
    ] {
        let at = on_paused_clock(async {
            let l = limits("jelou", HOUR);
            l.learn("POST", MESSAGE, 1).await;
            l.acquire("POST", MESSAGE).await;
            paused_schedule(&l, method, url, 3).await
        });
        assert_eq!(at, vec![Duration::ZERO; 3], "{label}");
    }
}

#[test]
fn a_newer_limit_replaces_the_one_learned_before() {
    let (first, rate) = on_paused_clock(async {
        let l = limits("jelou", HOUR);
        l.learn("POST", MESSAGE, 1).await;
        let first = paused_schedule(&l, "POST", MESSAGE, 2).await;
        l.learn("POST", MESSAGE, 100).await;
        (first, l.learned_rate("POST", MESSAGE))
    });
    assert_eq!(first, vec![Duration::ZERO, Duration::from_millis(1_010)]);
    assert_eq!(rate, Some(100));
}
