//! One attempt at one delivery: name the user at the provider (looking a UChat subscriber
//! up by phone when needed), send the request, read the answer. Shared by `serve`'s
//! executor and `replay --send`, so both carry actions out the same way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use super::limits::RateLimits;
use crate::config::{DeliverySettings, ProviderSettings};
use crate::domain::actions::DecidedAction;
use crate::domain::event::now_millis;
use crate::providers::{self, AnswerClass, LookupResult, RequestSpec, UserRef};
use crate::store::{excerpt, Attempt, DeadReason, Store};

/// A provider with its HTTP client (one connection pool each).
pub struct ProviderClient {
    pub settings: ProviderSettings,
    http: reqwest::Client,
    authorization: String,
    limits: RateLimits,
}

impl ProviderClient {
    /// Keep this provider's rate limits in `store` when several instances share it.
    pub fn share_limits_through(&mut self, store: Store) {
        self.limits.share_through(store);
    }

    /// # Errors
    /// When the TLS back end cannot be set up.
    pub fn new(settings: ProviderSettings, delivery: &DeliverySettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(delivery.timeout_ms))
            .connect_timeout(Duration::from_millis(delivery.timeout_ms.min(5_000)))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(delivery.max_in_flight)
            .build()?;
        Ok(ProviderClient {
            authorization: providers::authorization(&settings),
            limits: RateLimits::for_provider(
                &settings,
                Duration::from_millis(delivery.backoff_max_ms),
            ),
            settings,
            http,
        })
    }
}

/// Where looked-up UChat subscribers are remembered: the store in `serve`, a map in
/// `replay --send`.
pub enum Identities<'a> {
    Store(&'a Store),
    Memory(&'a Mutex<HashMap<(String, String), String>>),
}

impl Identities<'_> {
    async fn get(&self, provider: &str, phone: &str) -> Option<String> {
        match self {
            Identities::Store(store) => store.identity(provider, phone).await.ok().flatten(),
            Identities::Memory(map) => map
                .lock()
                .expect("identity map")
                .get(&(provider.to_string(), phone.to_string()))
                .cloned(),
        }
    }

    async fn set(&self, provider: &str, phone: &str, user_ns: Option<String>) {
        match self {
            Identities::Store(store) => {
                if let Err(e) = store.set_identity(provider, phone, user_ns).await {
                    tracing::warn!("could not remember a looked-up subscriber: {e}");
                }
            }
            Identities::Memory(map) => {
                let key = (provider.to_string(), phone.to_string());
                let mut map = map.lock().expect("identity map");
                match user_ns {
                    Some(ns) => map.insert(key, ns),
                    None => map.remove(&key),
                };
            }
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The request sent (or that would have been sent); `None` if the user was never named.
    pub request: Option<RequestSpec>,
    /// What the provider answered; `None` when nothing was sent.
    pub attempt: Option<Attempt>,
    pub result: AttemptResult,
    /// The provider's `Retry-After`, if it gave one.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Success,
    Retry,
    Dead(DeadReason),
}

struct Answer {
    status: Option<u16>,
    body: Vec<u8>,
    error: Option<String>,
    retry_after: Option<Duration>,
}

impl Answer {
    fn attempt(&self) -> Attempt {
        Attempt {
            at: now_millis(),
            status: self.status,
            response_excerpt: match &self.error {
                Some(e) => e.clone(),
                None => excerpt(&self.body),
            },
        }
    }

    fn verdict(&self, provider: &ProviderSettings) -> AnswerClass {
        match self.status {
            Some(status) => providers::classify(provider.kind, status, &self.body),
            None => AnswerClass::Retry,
        }
    }
}

async fn send(client: &ProviderClient, request: &RequestSpec) -> Answer {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut builder = client
        .http
        .request(method, &request.url)
        .header(AUTHORIZATION, &client.authorization)
        .header(ACCEPT, "application/json");
    if !request.body.is_null() {
        builder = builder
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&request.body).unwrap_or_default());
    }
    client.limits.acquire(&request.method, &request.url).await;
    let started = std::time::Instant::now();
    let answer = match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers());
            let exhausted = response
                .headers()
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == "0");
            if exhausted {
                client
                    .limits
                    .pause(
                        &request.method,
                        &request.url,
                        retry_after.unwrap_or(Duration::from_secs(1)),
                    )
                    .await;
            }
            match response.bytes().await {
                Ok(body) => Answer {
                    status: Some(status),
                    body: body.to_vec(),
                    error: None,
                    retry_after,
                },
                Err(e) => Answer {
                    status: Some(status),
                    body: Vec::new(),
                    error: Some(format!("the answer could not be read: {e}")),
                    retry_after,
                },
            }
        }
        Err(e) => Answer {
            status: None,
            body: Vec::new(),
            error: Some(describe_send_error(&e)),
            retry_after: None,
        },
    };
    tracing::debug!(
        provider = %client.settings.name,
        method = %request.method,
        url = %request.url,
        status = ?answer.status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "provider answered"
    );
    answer
}

fn describe_send_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out waiting for the provider".into()
    } else if e.is_connect() {
        "could not connect to the provider".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

/// `Retry-After` as seconds (fractions allowed) or an HTTP date. Callers cap it at
/// `backoff_max_ms`; a value too large for a `Duration` reads as the largest one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Carry out one attempt of `action` at `client`'s provider.
pub async fn attempt(
    client: &ProviderClient,
    action: &DecidedAction,
    identities: &Identities<'_>,
) -> AttemptReport {
    let provider = &client.settings;
    let mut looked_up = None;
    let user = match &action.target.user {
        UserRef::Known { value } => value.clone(),
        UserRef::Unknown => {
            return AttemptReport {
                request: None,
                attempt: None,
                result: AttemptResult::Dead(DeadReason::UserUnknown),
                retry_after: None,
            }
        }
        UserRef::LookupPhone { digits } => match identities.get(&provider.name, digits).await {
            Some(ns) => {
                looked_up = Some(digits.clone());
                ns
            }
            None => {
                let lookup = providers::lookup_request(provider, digits);
                let answer = send(client, &lookup).await;
                let verdict = answer.verdict(provider);
                let result = match verdict {
                    AnswerClass::Success => match providers::read_lookup(&answer.body) {
                        LookupResult::Found(ns) => {
                            identities
                                .set(&provider.name, digits, Some(ns.clone()))
                                .await;
                            looked_up = Some(digits.clone());
                            Ok(ns)
                        }
                        LookupResult::NotFound => Err(AttemptResult::Dead(DeadReason::UserUnknown)),
                        LookupResult::Ambiguous => {
                            Err(AttemptResult::Dead(DeadReason::UserAmbiguous))
                        }
                    },
                    AnswerClass::Retry => Err(AttemptResult::Retry),
                    AnswerClass::Final => Err(AttemptResult::Dead(DeadReason::FinalStatus)),
                };
                match result {
                    Ok(ns) => ns,
                    Err(result) => {
                        return AttemptReport {
                            request: Some(lookup),
                            attempt: Some(answer.attempt()),
                            result,
                            retry_after: answer.retry_after,
                        }
                    }
                }
            }
        },
    };
    let request = providers::request(provider, &action.as_action(), &action.target, &user);
    let answer = send(client, &request).await;
    if answer.status == Some(400) {
        if let Some(digits) = &looked_up {
            // The remembered subscriber may be stale: look it up afresh next time.
            identities.set(&provider.name, digits, None).await;
        }
    }
    let result = match answer.verdict(provider) {
        AnswerClass::Success => AttemptResult::Success,
        AnswerClass::Retry => AttemptResult::Retry,
        AnswerClass::Final => AttemptResult::Dead(DeadReason::FinalStatus),
    };
    AttemptReport {
        attempt: Some(answer.attempt()),
        request: Some(request),
        result,
        retry_after: answer.retry_after,
    }
}

/// The delay before try `n + 1` (contract §2): min(max, base · 2^(n−1)), times a random
/// 50–100 %, and never less than the provider's `Retry-After` (itself capped by the max).
pub fn backoff(
    delivery: &DeliverySettings,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    use rand::Rng;
    let exponent = attempts.saturating_sub(1).min(40);
    let raw = delivery
        .backoff_base_ms
        .saturating_mul(1u64 << exponent)
        .min(delivery.backoff_max_ms);
    let jittered = (raw as f64 * rand::rng().random_range(0.5..=1.0)) as u64;
    let floor = retry_after
        .map(|d| {
            u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .min(delivery.backoff_max_ms)
        })
        .unwrap_or(0);
    Duration::from_millis(jittered.max(floor))
}
