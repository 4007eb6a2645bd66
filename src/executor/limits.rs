//! Request rate limits (contract §7): at most N requests in any sliding one-second window,
//! per (method, path) for Aelyst (N = 5, its published limit) and per provider for the
//! others (no limit unless `rate_per_second` is set). A `governor` limiter with a burst of
//! one spaces requests at least 1/N s apart, which keeps every one-second window at N or
//! fewer (a bigger burst would not). An answer with `X-RateLimit-Remaining: 0` pauses that
//! key until its `Retry-After`, or one second.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{ProviderKind, ProviderSettings};

/// Aelyst's published limit: 5 requests per second per method and path.
pub const AELYST_PER_SECOND: u32 = 5;

pub struct RateLimits {
    per_path: bool,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    paused: Mutex<HashMap<String, Instant>>,
}

impl RateLimits {
    pub fn for_provider(provider: &ProviderSettings) -> RateLimits {
        let per_path = provider.kind == ProviderKind::Aelyst;
        let rate = provider
            .rate_per_second
            .or((provider.kind == ProviderKind::Aelyst).then_some(AELYST_PER_SECOND));
        let limiter = rate.and_then(NonZeroU32::new).map(|rate| {
            // A millisecond of margin so that a window closed at both ends still holds N.
            let period = Duration::from_secs(1) / rate.get() + Duration::from_millis(1);
            let quota = Quota::with_period(period)
                .expect("a positive period")
                .allow_burst(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(quota)
        });
        RateLimits {
            per_path,
            limiter,
            paused: Mutex::new(HashMap::new()),
        }
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
        if let Some(limiter) = &self.limiter {
            limiter.until_key_ready(&key).await;
        }
    }

    /// The provider said this key has no requests left: hold it for `wait`.
    pub fn pause(&self, method: &str, url: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused.lock().expect("pauses");
        paused.retain(|_, at| *at > Instant::now());
        let entry = paused.entry(self.key(method, url)).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}
