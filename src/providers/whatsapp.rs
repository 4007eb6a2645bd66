//! WhatsApp Cloud API (Meta's Graph API, docs/providers.md): text, contacts, a call button (an
//! interactive `cta_url` message with a `tel:` URL) and messages in Graph's own shape, all
//! as `POST /{phone_number_id}/messages` with `messaging_product: "whatsapp"` and `to` = the
//! user's phone digits. Auth is a Bearer token. Graph errors come as
//! `{"error": {"code": N, ...}}`: 130429 (throughput reached) is retried whatever the
//! HTTP status, 131047 (the 24-hour window is closed) is final as `window_closed`.

use serde_json::{json, Map, Value};

use super::{phone_digits, spec, url, ActionError, AnswerClass, RequestSpec, Target, UserRef};
use crate::config::ProviderSettings;
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;

/// Graph error code: "Cloud API message throughput has been reached".
pub const THROUGHPUT_REACHED: i64 = 130_429;
/// Graph error code: "Re-engagement message" (more than 24 h since the user last wrote).
pub const REENGAGEMENT_REQUIRED: i64 = 131_047;

/// Keys `send_message` adds itself; a rule's map may not set them.
const ADDED_KEYS: &[&str] = &["messaging_product", "to"];

pub(super) fn supports(action: ActionKind) -> bool {
    matches!(
        action,
        ActionKind::SendText
            | ActionKind::SendContacts
            | ActionKind::SendCallButton
            | ActionKind::SendMessage
            | ActionKind::ProviderRequest
    )
}

pub(super) fn validate(provider: &ProviderSettings, action: &Action) -> Result<(), ActionError> {
    match action.action {
        ActionKind::SendCallButton if provider.call_phone.is_none() => {
            Err(ActionError::NoCallPhone {
                provider: provider.name.clone(),
            })
        }
        ActionKind::SendMessage => super::check_message(provider, action, ADDED_KEYS),
        _ => Ok(()),
    }
}

/// The user is named by phone digits; a native event's `user.id` is its `from` (digits too).
pub(super) fn target(native: bool, event: &Event) -> Target {
    let to = phone_digits(event).or_else(|| native.then(|| event.user.id.clone()).flatten());
    Target {
        user: to.map_or(UserRef::Unknown, |value| UserRef::Known { value }),
        bot_id: None,
    }
}

pub(super) fn request(
    provider: &ProviderSettings,
    action: &Action,
    to: &str,
) -> Option<RequestSpec> {
    let p = &action.params;
    let phone_number_id = provider.phone_number_id.as_deref().unwrap_or_default();
    let messages = url(
        provider,
        &format!(
            "/{}/messages",
            super::aelyst::encode_segment(phone_number_id)
        ),
    );
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("to".into(), json!(to));
    match action.action {
        ActionKind::SendText => {
            body.insert("type".into(), json!("text"));
            body.insert("text".into(), json!({"body": p.get("text")}));
        }
        ActionKind::SendContacts => {
            body.insert("type".into(), json!("contacts"));
            body.insert(
                "contacts".into(),
                p.get("contacts").cloned().unwrap_or(json!([])),
            );
        }
        ActionKind::SendCallButton => {
            let call = provider.call_phone.as_deref().unwrap_or_default();
            let mut interactive = Map::new();
            interactive.insert("type".into(), json!("cta_url"));
            if let Some(header) = p.get("header") {
                interactive.insert("header".into(), json!({"type": "text", "text": header}));
            }
            interactive.insert("body".into(), json!({"text": p.get("text")}));
            interactive.insert(
                "action".into(),
                json!({"name": "cta_url", "parameters": {
                    "display_text": p.get("display_text"),
                    "url": format!("tel:{call}"),
                }}),
            );
            body.insert("type".into(), json!("interactive"));
            body.insert("interactive".into(), Value::Object(interactive));
        }
        ActionKind::SendMessage => {
            // The rule's map in Graph's shape; `messaging_product` and `to` come first.
            if let Some(Value::Object(message)) = p.get("message") {
                for (k, v) in message {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        // Not this platform's: the caller reports it (never a panic on stored data).
        _ => return None,
    }
    Some(spec("POST", messages, Value::Object(body)))
}

/// The Graph error code in an answer body, if there is one.
fn graph_error_code(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("error")?
        .get("code")?
        .as_i64()
}

/// How a Graph answer counts, before the HTTP status rules of docs/guarantees.md: `None` when the
/// body says nothing special.
pub(super) fn classify(status: u16, body: &[u8]) -> Option<AnswerClass> {
    if (200..300).contains(&status) {
        return None;
    }
    match graph_error_code(body) {
        Some(THROUGHPUT_REACHED) => Some(AnswerClass::Retry),
        Some(REENGAGEMENT_REQUIRED) => Some(AnswerClass::WindowClosed),
        _ => None,
    }
}
