//! What the last day looked like, kept in this process for the operator API (docs/http-api.md): per-minute counts and attempt latencies (`GET /admin/stats`), overall and per
//! provider, and the last 1,000 refused webhooks (`GET /admin/rejections`). Both are
//! bounded (24 hours of minutes, 1,000 rejections) and cost a short lock per record, so a
//! flood of bad requests neither slows ingest nor grows memory. They start empty when the
//! process starts and are this instance's own (docs/design.md); Prometheus keeps the long
//! history.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Minutes kept: the longest `window` is a day.
pub const MAX_MINUTES: usize = 24 * 60;
/// Refused webhooks kept.
pub const MAX_REJECTIONS: usize = 1000;
const MINUTE_MS: i64 = 60_000;

/// Latency classes: class `i` holds durations up to 2^(i/4) ms (steps of about 19%),
/// from 1 ms to 2^22 ms (70 minutes); longer ones fall in the last.
const CLASSES: usize = 89;

fn class_of(ms: f64) -> usize {
    if ms <= 1.0 {
        return 0;
    }
    ((ms.log2() * 4.0).ceil() as usize).min(CLASSES - 1)
}

fn class_bound_ms(class: usize) -> f64 {
    2f64.powf(class as f64 / 4.0)
}

/// One minute's counts.
#[derive(Debug, Clone)]
struct Minute {
    /// Unix ms of its first millisecond.
    start: i64,
    received: u64,
    rejected: u64,
    rule_errors: u64,
    delivered: u64,
    retried: u64,
    dead: u64,
    latency: [u32; CLASSES],
}

impl Minute {
    fn new(start: i64) -> Minute {
        Minute {
            start,
            received: 0,
            rejected: 0,
            rule_errors: 0,
            delivered: 0,
            retried: 0,
            dead: 0,
            latency: [0; CLASSES],
        }
    }

    /// The smallest class bound under which a share `p` of the samples fall.
    fn percentile(&self, p: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (class, &count) in self.latency.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                return Some(class_bound_ms(class).round() as u64);
            }
        }
        None
    }

    fn bucket(&self) -> Bucket {
        Bucket {
            minute: self.start,
            received: self.received,
            rejected: self.rejected,
            rule_errors: self.rule_errors,
            delivered: self.delivered,
            retried: self.retried,
            dead: self.dead,
            p50_ms: self.percentile(0.5),
            p99_ms: self.percentile(0.99),
        }
    }
}

/// One minute as `GET /admin/stats` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Unix ms of the minute's start (UTC).
    pub minute: i64,
    /// Webhooks accepted (duplicates included).
    pub received: u64,
    /// Webhooks refused (any 4xx or 5xx answer of `POST /webhooks/*`).
    pub rejected: u64,
    /// Rule runs that raised an error.
    pub rule_errors: u64,
    /// Delivery attempts that succeeded.
    pub delivered: u64,
    /// Delivery attempts that failed and will be tried again.
    pub retried: u64,
    /// Deliveries dead-lettered.
    pub dead: u64,
    /// Median duration of the provider requests made in this minute (ms); null without any.
    pub p50_ms: Option<u64>,
    /// 99th percentile of the same (ms); null without any.
    pub p99_ms: Option<u64>,
}

/// A series of minutes, oldest first.
#[derive(Debug, Default)]
struct Series(VecDeque<Minute>);

impl Series {
    fn at(&mut self, now: i64) -> &mut Minute {
        let start = now - now.rem_euclid(MINUTE_MS);
        if self.0.back().is_none_or(|m| m.start < start) {
            self.0.push_back(Minute::new(start));
            while self.0.len() > MAX_MINUTES {
                self.0.pop_front();
            }
        }
        // A clock that stepped back counts in the newest minute.
        self.0.back_mut().expect("a minute was just added")
    }

    /// Every minute of the window ending with `now`'s, oldest first, zeros where nothing
    /// happened.
    fn buckets(&self, now: i64, minutes: usize) -> Vec<Bucket> {
        let last = now - now.rem_euclid(MINUTE_MS);
        let first = last - (minutes as i64 - 1) * MINUTE_MS;
        let mut kept = self.0.iter().filter(|m| m.start >= first).peekable();
        (0..minutes as i64)
            .map(|i| {
                let start = first + i * MINUTE_MS;
                match kept.peek() {
                    Some(m) if m.start == start => kept.next().expect("peeked").bucket(),
                    _ => Minute::new(start).bucket(),
                }
            })
            .collect()
    }
}

/// One refused webhook.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// Unix ms.
    pub at: i64,
    /// The source named in the path (as sent, at most 200 characters).
    pub source: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, e.g. `bad_signature`, `payload_too_large`, `unknown_source`.
    pub error: String,
    /// The sentence answered with it.
    pub message: String,
    /// The client's address (the TCP peer; a proxy's own address behind a proxy).
    pub remote_addr: Option<String>,
}

/// How a delivery attempt ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retried,
    Dead,
}

#[derive(Debug, Default)]
struct Counts {
    all: Series,
    providers: BTreeMap<String, Series>,
}

/// The process's recent activity.
#[derive(Debug, Default)]
pub struct Activity {
    counts: Mutex<Counts>,
    rejections: Mutex<VecDeque<Rejected>>,
}

impl Activity {
    fn count(&self, now: i64, provider: Option<&str>, f: impl Fn(&mut Minute)) {
        let mut counts = self.counts.lock().expect("activity counts");
        f(counts.all.at(now));
        if let Some(name) = provider {
            if !counts.providers.contains_key(name) {
                counts.providers.insert(name.to_string(), Series::default());
            }
            f(counts.providers.get_mut(name).expect("inserted").at(now));
        }
    }

    /// A webhook accepted (or a duplicate) at `now` (unix ms).
    pub fn received(&self, now: i64) {
        self.count(now, None, |m| m.received += 1);
    }

    /// A webhook refused.
    pub fn rejected(&self, rejected: Rejected) {
        self.count(rejected.at, None, |m| m.rejected += 1);
        let mut log = self.rejections.lock().expect("rejections");
        if log.len() == MAX_REJECTIONS {
            log.pop_front();
        }
        log.push_back(rejected);
    }

    /// Rule runs that erred.
    pub fn rule_errors(&self, now: i64, errors: u64) {
        if errors > 0 {
            self.count(now, None, |m| m.rule_errors += errors);
        }
    }

    /// A delivery attempt's end, with its request's duration when one was sent.
    pub fn delivery(&self, now: i64, provider: &str, outcome: Outcome, took: Option<Duration>) {
        let class = took.map(|d| class_of(d.as_secs_f64() * 1000.0));
        self.count(now, Some(provider), |m| {
            match outcome {
                Outcome::Delivered => m.delivered += 1,
                Outcome::Retried => m.retried += 1,
                Outcome::Dead => m.dead += 1,
            }
            if let Some(class) = class {
                m.latency[class] += 1;
            }
        });
    }

    /// The last `minutes` minutes to `now`, overall and for each provider in `providers`
    /// (and any other that had deliveries).
    pub fn stats<'a>(
        &self,
        now: i64,
        minutes: usize,
        providers: impl Iterator<Item = &'a String>,
    ) -> (Vec<Bucket>, BTreeMap<String, Vec<Bucket>>) {
        let counts = self.counts.lock().expect("activity counts");
        let empty = Series::default();
        let mut per: BTreeMap<String, Vec<Bucket>> = providers
            .map(|name| {
                let series = counts.providers.get(name).unwrap_or(&empty);
                (name.clone(), series.buckets(now, minutes))
            })
            .collect();
        for (name, series) in &counts.providers {
            if !per.contains_key(name) {
                per.insert(name.clone(), series.buckets(now, minutes));
            }
        }
        (counts.all.buckets(now, minutes), per)
    }

    /// The newest `limit` refused webhooks, newest first.
    pub fn rejections(&self, limit: usize) -> Vec<Rejected> {
        let log = self.rejections.lock().expect("rejections");
        log.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_341_600_000; // a minute's start

    #[test]
    fn counts_land_in_their_minute_and_empty_minutes_are_zeros() {
        let a = Activity::default();
        a.received(T + 1_000);
        a.received(T + 59_999);
        a.delivery(
            T + 5,
            "jelou",
            Outcome::Delivered,
            Some(Duration::from_millis(10)),
        );
        a.delivery(T + 6, "jelou", Outcome::Retried, None);
        a.received(T + 2 * MINUTE_MS);
        a.rule_errors(T + 2 * MINUTE_MS, 3);
        // A clock that stepped back counts in the newest minute.
        a.received(T + 10);
        let (all, per) = a.stats(T + 2 * MINUTE_MS + 5, 3, [String::from("aelyst")].iter());
        assert_eq!(
            all.iter().map(|b| b.minute).collect::<Vec<_>>(),
            vec![T, T + MINUTE_MS, T + 2 * MINUTE_MS]
        );
        assert_eq!(
            all.iter().map(|b| b.received).collect::<Vec<_>>(),
            vec![2, 0, 2]
        );
        assert_eq!(all[2].rule_errors, 3);
        assert_eq!((all[0].delivered, all[0].retried), (1, 1));
        assert_eq!(per["jelou"][0].delivered, 1);
        assert_eq!(per["aelyst"].len(), 3);
        assert!(per["aelyst"]
            .iter()
            .all(|b| b.delivered == 0 && b.p50_ms.is_none()));
    }

    #[test]
    fn percentiles_are_the_bound_of_the_class_that_reaches_them() {
        let a = Activity::default();
        for ms in 1..=100 {
            a.delivery(T, "p", Outcome::Delivered, Some(Duration::from_millis(ms)));
        }
        let (all, _) = a.stats(T, 1, std::iter::empty());
        let (p50, p99) = (all[0].p50_ms.unwrap(), all[0].p99_ms.unwrap());
        // Classes are about 19% wide: the estimate is at most that far above the truth.
        assert!((50..=60).contains(&p50), "{p50}");
        assert!((99..=118).contains(&p99), "{p99}");
    }

    #[test]
    fn only_the_last_thousand_rejections_are_kept_newest_first() {
        let a = Activity::default();
        for i in 0..1500 {
            a.rejected(Rejected {
                at: T + i,
                source: "s".into(),
                status: 401,
                error: "bad_signature".into(),
                message: String::new(),
                remote_addr: None,
            });
        }
        let all = a.rejections(usize::MAX);
        assert_eq!(all.len(), MAX_REJECTIONS);
        assert_eq!(all[0].at, T + 1499);
        assert_eq!(all[999].at, T + 500);
        let (buckets, _) = a.stats(T, 1, std::iter::empty());
        assert_eq!(buckets[0].rejected, 1500);
    }

    #[test]
    fn a_day_of_minutes_at_most_is_kept() {
        let a = Activity::default();
        for i in 0..(MAX_MINUTES as i64 + 10) {
            a.received(T + i * MINUTE_MS);
        }
        assert_eq!(a.counts.lock().unwrap().all.0.len(), MAX_MINUTES);
    }
}
