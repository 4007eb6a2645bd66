//! Providers (docs/providers.md): for each platform, which actions it can carry out, the HTTP
//! request for an action (pure, no network), who the user is there, and how to read its
//! answer. One file per platform; this file dispatches on the provider's kind.
//! `provider_request` (a request the rule wrote itself) is the same for every platform.

mod aelyst;
mod jelou;
pub mod provider_request;
mod uchat;
mod whatsapp;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::{ProviderAuth, ProviderKind, ProviderSettings, SourceSettings};
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;
pub use crate::domain::target::{RequestSpec, Target, UserRef};

/// How a provider's answer counts (docs/guarantees.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerClass {
    Success,
    /// Worth another try later.
    Retry,
    /// Will not get better by trying again.
    Final,
    /// Final, because WhatsApp's 24-hour customer-service window is closed (Graph error
    /// 131047): dead-lettered as `window_closed`.
    WindowClosed,
}

/// An action a provider cannot take as the rule gave it: a rule error, worded for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("provider \"{provider}\" needs a bot id: the event names none and the provider has no `bot_id` configured")]
    NoBotId { provider: String },
    #[error(
        "aelyst allows at most {limit} characters in a conversation {key}; this one has {length}"
    )]
    OverLimit {
        limit: usize,
        key: &'static str,
        length: usize,
    },
    #[error("provider \"{provider}\" needs `call_phone` (the number a call button dials, e.g. \"+573001234567\") to send a call button")]
    NoCallPhone { provider: String },
    #[error("send_message: the message for provider \"{provider}\" needs a `type` (text), e.g. #{{type: \"image\", ...}}")]
    MessageWithoutType { provider: String },
    #[error("send_message: `{key}` is added by Switchboard for provider \"{provider}\"; leave it out of the message")]
    MessageSetsAddedKey { provider: String, key: String },
    #[error(transparent)]
    Request(#[from] provider_request::RequestError),
}

/// Whether a provider of this kind can carry out this action (the table of docs/providers.md).
pub fn supports(kind: ProviderKind, action: ActionKind) -> bool {
    // Every platform takes a request the rule wrote itself (docs/providers.md).
    action == ActionKind::ProviderRequest
        || match kind {
            ProviderKind::Jelou => jelou::supports(action),
            ProviderKind::Uchat => uchat::supports(action),
            ProviderKind::Aelyst => aelyst::supports(action),
            ProviderKind::Whatsapp => whatsapp::supports(action),
        }
}

/// Checks what the platform documents about an action's values (Aelyst's limits, a
/// `send_message` map's keys), and a `provider_request`'s method and path.
///
/// # Errors
/// A sentence naming what is wrong, which becomes a rule error.
pub fn validate(provider: &ProviderSettings, action: &Action) -> Result<(), ActionError> {
    if action.action == ActionKind::ProviderRequest {
        return check_provider_request(provider, action);
    }
    match provider.kind {
        ProviderKind::Aelyst => aelyst::validate(action),
        ProviderKind::Jelou => jelou::validate(provider, action),
        ProviderKind::Whatsapp => whatsapp::validate(provider, action),
        ProviderKind::Uchat => Ok(()),
    }
}

/// A `provider_request`'s method and path are plain, and the joined URL stays below the
/// provider's `base_url`.
fn check_provider_request(provider: &ProviderSettings, action: &Action) -> Result<(), ActionError> {
    provider_request::method(action.str_param("method").unwrap_or_default())?;
    let path = action.str_param("path").unwrap_or_default();
    provider_request::path(path)?;
    provider_request::stays_below(&provider.base_url, &url(provider, path), path)?;
    Ok(())
}

/// A `send_message` map has a `type` and leaves the keys Switchboard adds to it.
fn check_message(
    provider: &ProviderSettings,
    action: &Action,
    added: &[&str],
) -> Result<(), ActionError> {
    let message = action.params.get("message").and_then(Value::as_object);
    if let Some(key) = message
        .into_iter()
        .flat_map(|m| m.keys())
        .find(|k| added.contains(&k.as_str()))
    {
        return Err(ActionError::MessageSetsAddedKey {
            provider: provider.name.clone(),
            key: key.clone(),
        });
    }
    let typed = message
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if typed {
        Ok(())
    } else {
        Err(ActionError::MessageWithoutType {
            provider: provider.name.clone(),
        })
    }
}

/// Whether the event came from this provider's own account (docs/providers.md "native").
pub fn is_native(provider: &ProviderSettings, source: &SourceSettings) -> bool {
    source.kind.provider_kind() == Some(provider.kind)
        && source.provider.as_deref() == Some(provider.name.as_str())
}

/// Who the user of `event` is at `provider`, for an action of `kind` (a
/// `provider_request` names no user: the rule wrote the whole request).
///
/// # Errors
/// A rule error when the provider needs something no one gave (a Jelou bot id).
pub fn target(
    provider: &ProviderSettings,
    source: &SourceSettings,
    event: &Event,
    kind: ActionKind,
) -> Result<Target, ActionError> {
    if kind == ActionKind::ProviderRequest {
        return Ok(Target {
            user: UserRef::NotNeeded,
            bot_id: None,
        });
    }
    let native = is_native(provider, source);
    match provider.kind {
        ProviderKind::Jelou => jelou::target(provider, native, event),
        ProviderKind::Uchat => Ok(uchat::target(native, event)),
        ProviderKind::Aelyst => Ok(aelyst::target(native, event)),
        ProviderKind::Whatsapp => Ok(whatsapp::target(native, event)),
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
    let built = if action.action == ActionKind::ProviderRequest {
        // Checked when the rule ran; checked again so that nothing stored can send a path
        // that leaves the base URL.
        check_provider_request(provider, action)
            .ok()
            .map(|()| provider_request_spec(provider, action))
    } else {
        match provider.kind {
            ProviderKind::Jelou => jelou::request(provider, action, target, user),
            ProviderKind::Uchat => uchat::request(provider, action, user),
            ProviderKind::Aelyst => aelyst::request(provider, action, user),
            ProviderKind::Whatsapp => whatsapp::request(provider, action, user),
        }
    };
    built.ok_or(Unsupported {
        provider: provider.name.clone(),
        kind: provider.kind,
        action: action.action,
    })
}

/// The request a rule wrote: its method and path joined to `base_url`, its body as given.
fn provider_request_spec(provider: &ProviderSettings, action: &Action) -> RequestSpec {
    let method = provider_request::method(action.str_param("method").unwrap_or_default())
        .unwrap_or_else(|_| "POST".into());
    spec(
        &method,
        url(provider, action.str_param("path").unwrap_or("/")),
        action.params.get("body").cloned().unwrap_or(Value::Null),
    )
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
/// which error statuses are retried instead of the default retry policy's (docs/guarantees.md). A
/// WhatsApp Graph error code in the body (130429, 131047) counts before the status.
pub fn classify_for(provider: &ProviderSettings, status: u16, body: &[u8]) -> AnswerClass {
    if provider.kind == ProviderKind::Whatsapp {
        if let Some(class) = whatsapp::classify(status, body) {
            return class;
        }
    }
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
    if kind == ProviderKind::Whatsapp {
        if let Some(class) = whatsapp::classify(status, body) {
            return class;
        }
    }
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
