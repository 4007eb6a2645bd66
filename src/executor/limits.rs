//! Request rate limits (docs/guarantees.md): at most N requests in any sliding one-second window,
//! per (method, path) for Aelyst (N = 5, its published limit) and per provider for the
//! others (no limit unless `rate_per_second` is set). A `governor` limiter with a burst of
//! one spaces requests at least 1/N s apart, which keeps every one-second window at N or
//! fewer (a bigger burst would not). An answer with `X-RateLimit-Remaining: 0` pauses that
//! key until its `Retry-After`, or one second, never longer than `backoff_max_ms`: a
//! provider's answer can slow us down but cannot stop us.
//!
//! An answer's `X-RateLimit-Limit: N` (docs/providers.md) replaces the built-in rate for that
//! method and path from then on: requests to it are spaced 1/N s apart (plus the margin),
//! on tokio's clock, or through the shared slots with PostgreSQL. An operator's
//! `rate_per_second` stays a ceiling the header cannot raise.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{ProviderKind, ProviderSettings};
use crate::domain::event::now_millis;
use crate::store::Store;

/// Aelyst's published limit: 5 requests per second per method and path.
pub const AELYST_PER_SECOND: u32 = 5;

pub struct RateLimits {
    provider: String,
    per_path: bool,
    /// The spacing between requests of one key, when limited.
    period: Option<Duration>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    paused: Mutex<HashMap<String, Instant>>,
    /// The longest pause an answer can ask for (`backoff_max_ms`).
    max_pause: Duration,
    /// With PostgreSQL, the slots live in the database so that the limit holds across
    /// every instance together; the in-process limiter is then only the fallback when the
    /// database cannot be asked.
    shared: Option<Store>,
    /// Rates learned from `X-RateLimit-Limit`, per `method path`.
    learned: Mutex<HashMap<String, Learned>>,
    /// The operator's `rate_per_second`, a ceiling for learned rates.
    ceiling: Option<u32>,
}

/// A rate an answer announced for one method and path, and when its next request may go.
#[derive(Debug, Clone, Copy)]
struct Learned {
    per_second: u32,
    period: Duration,
    next: tokio::time::Instant,
}

/// The largest `X-RateLimit-Limit` taken as given; above it a request every 100 µs is
/// no limit worth keeping.
const MAX_LEARNED: u32 = 10_000;

/// The spacing that keeps every one-second window at `rate` requests or fewer.
fn spacing(rate: u32) -> Duration {
    Duration::from_secs(1) / rate + Duration::from_millis(10)
}

/// `X-RateLimit-Limit` as a rate per second: a whole number from 1 to 10,000; anything
/// else (0, a fraction, a word) says nothing.
pub fn parse_limit(value: &str) -> Option<u32> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LEARNED).contains(n))
}

impl RateLimits {
    pub fn for_provider(provider: &ProviderSettings, max_pause: Duration) -> RateLimits {
        let per_path = provider.kind == ProviderKind::Aelyst;
        let rate = provider
            .rate_per_second
            .or((provider.kind == ProviderKind::Aelyst).then_some(AELYST_PER_SECOND));
        // Ten milliseconds of margin: requests spaced exactly 1/N s apart can still arrive
        // closer together (one delayed on the way more than the next), and it is arrivals a
        // provider counts. It also keeps a window closed at both ends at N.
        let period = rate
            .and_then(NonZeroU32::new)
            .map(|rate| spacing(rate.get()));
        let limiter = period.map(|period| {
            let quota = Quota::with_period(period)
                .expect("a positive period")
                .allow_burst(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(quota)
        });
        RateLimits {
            provider: provider.name.clone(),
            per_path,
            period,
            limiter,
            paused: Mutex::new(HashMap::new()),
            max_pause,
            shared: None,
            learned: Mutex::new(HashMap::new()),
            ceiling: provider.rate_per_second,
        }
    }

    /// The key a learned rate is kept under: always the method and path.
    fn path_key(method: &str, url: &str) -> String {
        let path = url.split('?').next().unwrap_or(url);
        format!("{method} {path}")
    }

    /// An answer to `method url` said `X-RateLimit-Limit: per_second`: from now on that
    /// method and path go at that rate (at most the operator's `rate_per_second`). With
    /// PostgreSQL and a per-path provider (Aelyst) the rate is written to the path's shared
    /// slot, so every instance keeps it from its next request on.
    pub async fn learn(&self, method: &str, url: &str, per_second: u32) {
        let rate = self
            .ceiling
            .map_or(per_second, |c| c.min(per_second))
            .max(1);
        let key = Self::path_key(method, url);
        let changed = {
            let mut learned = self.learned.lock().expect("learned rates");
            match learned.get_mut(&key) {
                Some(known) if known.per_second == rate => false,
                Some(known) => {
                    known.per_second = rate;
                    known.period = spacing(rate);
                    true
                }
                None => {
                    if learned.len() >= 10_000 {
                        // A bound on memory: paths with user ids in them are many.
                        learned.clear();
                    }
                    tracing::debug!(provider = %self.provider, %key, rate, "rate learned from X-RateLimit-Limit");
                    learned.insert(
                        key.clone(),
                        Learned {
                            per_second: rate,
                            period: spacing(rate),
                            next: tokio::time::Instant::now(),
                        },
                    );
                    true
                }
            }
        };
        if let (true, true, Some(store)) = (changed, self.per_path, &self.shared) {
            if let Err(e) = store
                .share_rate(&self.shared_key(&key), millis(spacing(rate)))
                .await
            {
                tracing::warn!(provider = %self.provider, "could not share a learned rate: {e}");
            }
        }
    }

    /// The rate learned for `method url`, if any.
    pub fn learned_rate(&self, method: &str, url: &str) -> Option<u32> {
        self.learned
            .lock()
            .expect("learned rates")
            .get(&Self::path_key(method, url))
            .map(|l| l.per_second)
    }

    /// Wait for a learned rate's next slot, if the path has one: `true` when it did (the
    /// built-in per-path rate is then replaced).
    async fn acquire_learned(&self, method: &str, url: &str) -> bool {
        let key = Self::path_key(method, url);
        let slot = {
            let mut learned = self.learned.lock().expect("learned rates");
            let Some(known) = learned.get_mut(&key) else {
                return false;
            };
            if self.shared.is_some() {
                Err(known.period)
            } else {
                let now = tokio::time::Instant::now();
                let slot = known.next.max(now);
                known.next = slot + known.period;
                Ok(slot)
            }
        };
        match slot {
            Ok(at) => tokio::time::sleep_until(at).await,
            Err(period) => {
                let store = self.shared.as_ref().expect("checked above");
                // Aelyst's built-in key is already the method and path: one shared row, so a
                // shared pause of that path holds learned requests too.
                let shared_key = if self.per_path {
                    self.shared_key(&key)
                } else {
                    self.shared_key(&format!("learned {key}"))
                };
                match store.rate_slot(&shared_key, millis(period)).await {
                    Ok(Some(slot)) => {
                        let wait = slot - now_millis();
                        if wait >= 0 {
                            tokio::time::sleep(Duration::from_millis(wait as u64 + 1)).await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(provider = %self.provider, "shared rate limit unavailable for a learned rate: {e}");
                        // Locally, then.
                        let at = {
                            let mut learned = self.learned.lock().expect("learned rates");
                            learned.get_mut(&key).map(|known| {
                                let slot = known.next.max(tokio::time::Instant::now());
                                known.next = slot + known.period;
                                slot
                            })
                        };
                        if let Some(at) = at {
                            tokio::time::sleep_until(at).await;
                        }
                    }
                }
            }
        }
        true
    }

    /// Keep the limits in a store that several instances share (used when it is one).
    pub fn share_through(&mut self, store: Store) {
        if store.is_shared() {
            self.shared = Some(store);
        }
    }

    fn shared_key(&self, key: &str) -> String {
        format!("{}\u{1f}{key}", self.provider)
    }

    fn key(&self, method: &str, url: &str) -> String {
        if self.per_path {
            let path = url.split('?').next().unwrap_or(url);
            format!("{method} {path}")
        } else {
            String::new()
        }
    }

    /// Wait until a request to `method url` may go out.
    pub async fn acquire(&self, method: &str, url: &str) {
        let key = self.key(method, url);
        let paused_until = self.paused.lock().expect("pauses").get(&key).copied();
        if let Some(until) = paused_until {
            tokio::time::sleep_until(until.into()).await;
        }
        // A learned rate replaces the built-in one for its path; a provider-wide limit (a
        // non-Aelyst `rate_per_second`) still applies on top of it.
        if self.acquire_learned(method, url).await && self.per_path {
            return;
        }
        if let (Some(store), Some(period)) = (&self.shared, self.period) {
            match store
                .rate_slot(&self.shared_key(&key), period.as_millis() as i64)
                .await
            {
                Ok(Some(slot)) => {
                    // Clock readings are whole milliseconds: wait one more, so a request
                    // never goes out before its slot (which would let N + 1 into a second).
                    let wait = slot - now_millis();
                    if wait >= 0 {
                        tokio::time::sleep(Duration::from_millis(wait as u64 + 1)).await;
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(provider = %self.provider, "shared rate limit unavailable, limiting locally: {e}")
                }
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_key_ready(&key).await;
        }
    }

    /// The provider said this key has no requests left: hold it for `wait`, here and (with
    /// a shared store) in every instance.
    pub async fn pause(&self, method: &str, url: &str, wait: Duration) {
        let wait = wait.min(self.max_pause);
        if wait < Duration::from_secs(1) {
            tracing::debug!(provider = %self.provider, wait_ms = wait.as_millis() as u64, "provider asked for a pause");
        } else {
            tracing::warn!(provider = %self.provider, key = %self.key(method, url), wait_ms = wait.as_millis() as u64,
                "provider has no requests left (X-RateLimit-Remaining: 0): pausing");
        }
        // Shared only where requests already consult the shared slots (limited providers).
        if let (Some(store), Some(_)) = (&self.shared, self.period) {
            let key = self.shared_key(&self.key(method, url));
            if let Err(e) = store
                .pause_rate(&key, now_millis().saturating_add(millis(wait)))
                .await
            {
                tracing::warn!(provider = %self.provider, "could not share a rate-limit pause: {e}");
            }
        }
        let now = Instant::now();
        // `wait` is capped above; the checked sum keeps even a far-off deadline from panicking.
        let until = now.checked_add(wait).unwrap_or(now);
        let mut paused = self.paused.lock().expect("pauses");
        paused.retain(|_, at| *at > Instant::now());
        let entry = paused.entry(self.key(method, url)).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
