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
    /// How the request failed when no answer came.
    pub failure: Option<SendFailure>,
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
    /// How the request failed when no answer came.
    failure: Option<SendFailure>,
    retry_after: Option<Duration>,
    /// How long the request took (until its answer was read, or it failed).
    duration_ms: i64,
}

/// How much of an answer is read (docs/providers.md); the rest is left unread.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a request got no answer, told apart for logs and dead-letter reasons (docs/providers.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// The host name did not resolve.
    Dns,
    /// Nothing listens there: the connection was refused.
    Refused,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No answer within `timeout_ms`.
    Timeout,
    /// Anything else (connection reset, a broken answer...).
    Other,
}

impl SendFailure {
    /// The dead-letter reason when the last attempt failed this way.
    pub fn dead_reason(self) -> DeadReason {
        match self {
            SendFailure::Dns => DeadReason::Dns,
            SendFailure::Refused => DeadReason::Refused,
            SendFailure::Tls => DeadReason::Tls,
            SendFailure::Timeout => DeadReason::Timeout,
            SendFailure::Other => DeadReason::AttemptsExhausted,
        }
    }
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
            duration_ms: Some(self.duration_ms),
        }
    }

    fn verdict(&self, provider: &ProviderSettings) -> AnswerClass {
        match self.status {
            Some(status) => providers::classify_for(provider, status, &self.body),
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
    let mut answer = match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers());
            let exhausted = response
                .headers()
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == "0");
            // The provider's own rate for this method and path replaces the built-in one.
            if let Some(limit) = response
                .headers()
                .get("x-ratelimit-limit")
                .and_then(|v| v.to_str().ok())
                .and_then(super::limits::parse_limit)
            {
                client
                    .limits
                    .learn(&request.method, &request.url, limit)
                    .await;
            }
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
            match read_capped(response).await {
                Ok(body) => Answer {
                    status: Some(status),
                    body,
                    error: None,
                    failure: None,
                    retry_after,
                    duration_ms: 0,
                },
                Err(e) => Answer {
                    status: Some(status),
                    body: Vec::new(),
                    error: Some(format!("the answer could not be read: {e}")),
                    failure: Some(SendFailure::Other),
                    retry_after,
                    duration_ms: 0,
                },
            }
        }
        Err(e) => {
            let (failure, text) = describe_send_error(&e);
            Answer {
                status: None,
                body: Vec::new(),
                error: Some(text),
                failure: Some(failure),
                retry_after: None,
                duration_ms: 0,
            }
        }
    };
    answer.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    tracing::debug!(
        provider = %client.settings.name,
        method = %request.method,
        url = %request.url,
        status = ?answer.status,
        elapsed_ms = answer.duration_ms,
        "provider answered"
    );
    answer
}

/// The answer's body, up to `MAX_ANSWER_BYTES`; the rest is not read (the connection is
/// then dropped rather than reused).
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

/// What kind of failure a request met, and a sentence for the attempt's excerpt and logs
/// that starts with the kind (`dns:`, `refused:`, `tls:`, `timeout:`).
fn describe_send_error(e: &reqwest::Error) -> (SendFailure, String) {
    let mut chain = vec![e.to_string()];
    let mut io_kinds = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kinds.push(io.kind());
        }
        source = s.source();
    }
    let detail = chain.join(": ");
    let lower = detail.to_lowercase();
    let failure = classify_failure(e.is_timeout(), &io_kinds, &lower);
    let summary = match failure {
        SendFailure::Dns => "dns: the provider's host name did not resolve",
        SendFailure::Refused => "refused: the provider refused the connection",
        SendFailure::Tls => "tls: the TLS handshake with the provider failed",
        SendFailure::Timeout => "timeout: no answer from the provider in time",
        SendFailure::Other => "error: the request failed",
    };
    (failure, format!("{summary} ({detail})"))
}

fn classify_failure(timed_out: bool, io_kinds: &[std::io::ErrorKind], lower: &str) -> SendFailure {
    use std::io::ErrorKind;
    if timed_out || io_kinds.contains(&ErrorKind::TimedOut) {
        SendFailure::Timeout
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("no address associated")
    {
        SendFailure::Dns
    } else if io_kinds.contains(&ErrorKind::ConnectionRefused)
        || lower.contains("connection refused")
    {
        SendFailure::Refused
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("corrupt message")
    {
        SendFailure::Tls
    } else {
        SendFailure::Other
    }
}

/// The least wait an answer asks for by its status alone: Aelyst's `449` ("try again in a
/// few minutes") waits at least 60 s (docs/providers.md); `backoff` caps it at `backoff_max_ms`.
pub fn status_floor(kind: crate::config::ProviderKind, status: Option<u16>) -> Option<Duration> {
    (kind == crate::config::ProviderKind::Aelyst && status == Some(449))
        .then_some(Duration::from_secs(60))
}

/// `Retry-After` as seconds (fractions allowed) or an HTTP date. Callers cap it at
/// `backoff_max_ms`; a value too large for a `Duration` reads as the largest one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if let Ok(seconds) = value.parse::<f64>() {
        // A number (`inf` and `NaN` are words, not seconds), and not a negative one.
        if !numeric || seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        // Too large for a Duration (`1e400` reads as infinity): the largest; callers cap it.
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
        UserRef::NotNeeded => String::new(),
        UserRef::Unknown => {
            return AttemptReport {
                request: None,
                attempt: None,
                result: AttemptResult::Dead(DeadReason::UserUnknown),
                retry_after: None,
                failure: None,
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
                    AnswerClass::WindowClosed => Err(AttemptResult::Dead(DeadReason::WindowClosed)),
                };
                match result {
                    Ok(ns) => ns,
                    Err(result) => {
                        return AttemptReport {
                            request: Some(lookup),
                            attempt: Some(answer.attempt()),
                            result,
                            retry_after: answer.retry_after,
                            failure: answer.failure,
                        }
                    }
                }
            }
        },
    };
    let request = match providers::request(provider, &action.as_action(), &action.target, &user) {
        Ok(request) => request,
        Err(unsupported) => {
            tracing::error!("{unsupported}; the delivery is dead-lettered unsent");
            return AttemptReport {
                request: None,
                attempt: None,
                result: AttemptResult::Dead(DeadReason::Unsupported),
                retry_after: None,
                failure: None,
            };
        }
    };
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
        AnswerClass::WindowClosed => AttemptResult::Dead(DeadReason::WindowClosed),
    };
    AttemptReport {
        attempt: Some(answer.attempt()),
        request: Some(request),
        result,
        retry_after: answer.retry_after,
        failure: answer.failure,
    }
}

/// The delay before try `n + 1` (docs/configuration.md): min(max, base · 2^(n−1)), times a random
/// 50–100 %, and never less than the provider's `Retry-After` (itself capped by the max).
pub fn backoff(
    delivery: &DeliverySettings,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    use rand::Rng;
    // base · 2^(n−1), saturating: past 2^63 the product is as large as it gets anyway.
    let exponent = attempts.saturating_sub(1).min(63);
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

#[cfg(test)]
#[path = "attempt_tests.rs"]
mod tests;
