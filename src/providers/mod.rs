//! Providers (contract §6.2): for each platform, which actions it can carry out, the HTTP
//! request for an action (pure, no network), who the user is there, and how to read its
//! answer. One file per platform; this file dispatches on the provider's kind.

mod aelyst;
mod jelou;
mod uchat;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::{ProviderAuth, ProviderKind, ProviderSettings, SourceSettings};
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;
pub use crate::domain::target::{RequestSpec, Target, UserRef};

/// How a provider's answer counts (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerClass {
    Success,
    /// Worth another try later.
    Retry,
    /// Will not get better by trying again.
    Final,
}

/// Whether a provider of this kind can carry out this action (the table of contract §6.2).
pub fn supports(kind: ProviderKind, action: ActionKind) -> bool {
    match kind {
        ProviderKind::Jelou => jelou::supports(action),
        ProviderKind::Uchat => uchat::supports(action),
        ProviderKind::Aelyst => aelyst::supports(action),
    }
}

/// Checks a platform's documented limits on an action's values.
///
/// # Errors
/// A sentence naming the limit, which becomes a rule error.
pub fn validate(kind: ProviderKind, action: &Action) -> Result<(), String> {
    match kind {
        ProviderKind::Aelyst => aelyst::validate(action),
        ProviderKind::Jelou | ProviderKind::Uchat => Ok(()),
    }
}

/// Whether the event came from this provider's own account (contract §6.2 "native").
pub fn is_native(provider: &ProviderSettings, source: &SourceSettings) -> bool {
    source.kind.provider_kind() == Some(provider.kind)
        && source.provider.as_deref() == Some(provider.name.as_str())
}

/// Who the user of `event` is at `provider`.
///
/// # Errors
/// A rule error when the provider needs something no one gave (a Jelou bot id).
pub fn target(
    provider: &ProviderSettings,
    source: &SourceSettings,
    event: &Event,
) -> Result<Target, String> {
    let native = is_native(provider, source);
    match provider.kind {
        ProviderKind::Jelou => jelou::target(provider, native, event),
        ProviderKind::Uchat => Ok(uchat::target(native, event)),
        ProviderKind::Aelyst => Ok(aelyst::target(native, event)),
    }
}

/// The request that carries out `action` for `user` (the resolved `UserRef` value).
///
/// # Errors
/// `Unsupported` when this provider's platform cannot carry the action out (a stored
/// delivery whose provider changed kind since the rule decided).
pub fn request(
    provider: &ProviderSettings,
    action: &Action,
    target: &Target,
    user: &str,
) -> Result<RequestSpec, Unsupported> {
    match provider.kind {
        ProviderKind::Jelou => jelou::request(provider, action, target, user),
        ProviderKind::Uchat => uchat::request(provider, action, user),
        ProviderKind::Aelyst => aelyst::request(provider, action, user),
    }
    .ok_or(Unsupported {
        provider: provider.name.clone(),
        kind: provider.kind,
        action: action.action,
    })
}

/// A provider asked for an action its platform cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider \"{provider}\" ({}) cannot carry out {}", kind.as_str(), action.as_str())]
pub struct Unsupported {
    pub provider: String,
    pub kind: ProviderKind,
    pub action: ActionKind,
}

/// The request that finds a UChat subscriber by phone.
pub fn lookup_request(provider: &ProviderSettings, digits: &str) -> RequestSpec {
    uchat::lookup_request(provider, digits)
}

/// What a lookup answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    Found(String),
    NotFound,
    Ambiguous,
}

pub fn read_lookup(body: &[u8]) -> LookupResult {
    uchat::read_lookup(body)
}

/// The placeholder `replay` prints for a value that a delivery would look up.
pub fn lookup_placeholder(provider: &ProviderSettings, digits: &str) -> String {
    format!("<lookup {} phone=+{digits}>", provider.kind.as_str())
}

/// How to read an answer from this provider: its `retry_on` list, when configured, says
/// which error statuses are retried instead of section 7's defaults (contract 9.5).
pub fn classify_for(provider: &ProviderSettings, status: u16, body: &[u8]) -> AnswerClass {
    match &provider.retry_on {
        Some(retry_on) if !(200..300).contains(&status) => {
            if retry_on.contains(&status) {
                AnswerClass::Retry
            } else {
                AnswerClass::Final
            }
        }
        _ => classify(provider.kind, status, body),
    }
}

/// How to read an answer of `status` with `body` from a provider of this kind.
pub fn classify(kind: ProviderKind, status: u16, body: &[u8]) -> AnswerClass {
    match status {
        200..=299 => {
            if kind == ProviderKind::Jelou && jelou::reports_failure(body) {
                AnswerClass::Final
            } else {
                AnswerClass::Success
            }
        }
        408 | 429 | 500..=599 => AnswerClass::Retry,
        449 if kind == ProviderKind::Aelyst => AnswerClass::Retry,
        _ => AnswerClass::Final,
    }
}

/// The `Authorization` header value for a provider.
pub fn authorization(provider: &ProviderSettings) -> String {
    match &provider.auth {
        ProviderAuth::Basic {
            client_id,
            client_secret,
        } => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{client_id}:{}", client_secret.expose_secret()))
        ),
        ProviderAuth::Bearer(token) => format!("Bearer {}", token.expose_secret()),
    }
}

/// `base_url` + `path` with exactly one `/` between them.
fn url(provider: &ProviderSettings, path: &str) -> String {
    format!(
        "{}/{}",
        provider.base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn spec(method: &str, url: String, body: Value) -> RequestSpec {
    RequestSpec {
        method: method.to_string(),
        url,
        body,
    }
}

/// The user's phone as digits, when the event carries one.
fn phone_digits(event: &Event) -> Option<String> {
    event.phone_digits()
}

#[cfg(test)]
mod tests;
