//! Jelou (api.jelou.ai): user state and messages (text, contacts, call button).
//! Auth is HTTP Basic with the client id and secret; the user is named by `userId`
//! (the phone's digits off-platform) and every message goes through a bot.

use serde_json::{json, Map, Value};

use super::{phone_digits, spec, url, ActionError, RequestSpec, Target, UserRef};
use crate::config::ProviderSettings;
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;

pub(super) fn supports(action: ActionKind) -> bool {
    matches!(
        action,
        ActionKind::SetUserState
            | ActionKind::SendText
            | ActionKind::SendContacts
            | ActionKind::SendCallButton
            | ActionKind::SendMessage
    )
}

/// Keys `send_message` adds itself; a rule's map may not set them.
const ADDED_KEYS: &[&str] = &["userId"];

pub(super) fn validate(provider: &ProviderSettings, action: &Action) -> Result<(), ActionError> {
    match action.action {
        ActionKind::SendMessage => super::check_message(provider, action, ADDED_KEYS),
        _ => Ok(()),
    }
}

pub(super) fn target(
    provider: &ProviderSettings,
    native: bool,
    event: &Event,
) -> Result<Target, ActionError> {
    let user = native
        .then(|| event.user.id.clone())
        .flatten()
        .or_else(|| phone_digits(event))
        .map_or(UserRef::Unknown, |value| UserRef::Known { value });
    let bot_id = native
        .then(|| event.bot_id.clone())
        .flatten()
        .or_else(|| provider.bot_id.clone())
        .ok_or_else(|| ActionError::NoBotId {
            provider: provider.name.clone(),
        })?;
    Ok(Target {
        user,
        bot_id: Some(bot_id),
    })
}

pub(super) fn request(
    provider: &ProviderSettings,
    action: &Action,
    target: &Target,
    user: &str,
) -> Option<RequestSpec> {
    let bot_id = target.bot_id.as_deref().unwrap_or_default();
    let p = &action.params;
    let messages = url(
        provider,
        &format!(
            "/v1/bots/{}/messages",
            super::aelyst::encode_segment(bot_id)
        ),
    );
    Some(match action.action {
        ActionKind::SetUserState => {
            let mut body = Map::new();
            body.insert("botId".into(), json!(bot_id));
            body.insert("userId".into(), json!(user));
            body.insert(
                "state".into(),
                p.get("state").cloned().unwrap_or(Value::Null),
            );
            if let Some(ttl) = p.get("ttl") {
                body.insert("ttl".into(), ttl.clone());
            }
            spec(
                "POST",
                url(provider, "/v1/users/state"),
                Value::Object(body),
            )
        }
        ActionKind::SendText => spec(
            "POST",
            messages,
            json!({"type": "text", "userId": user, "text": p.get("text")}),
        ),
        ActionKind::SendContacts => spec(
            "POST",
            messages,
            json!({"type": "contacts", "userId": user, "contacts": p.get("contacts")}),
        ),
        ActionKind::SendCallButton => {
            let mut body = Map::new();
            body.insert("type".into(), json!("voice_call"));
            body.insert("userId".into(), json!(user));
            if let Some(header) = p.get("header") {
                body.insert("header".into(), header.clone());
            }
            body.insert("text".into(), p.get("text").cloned().unwrap_or(Value::Null));
            body.insert(
                "parameters".into(),
                json!({"display_text": p.get("display_text")}),
            );
            spec("POST", messages, Value::Object(body))
        }
        ActionKind::SendMessage => {
            // The rule's map in Jelou's shape, with `userId` added (docs/providers.md).
            let mut body = Map::new();
            if let Some(Value::Object(message)) = p.get("message") {
                for (k, v) in message {
                    body.insert(k.clone(), v.clone());
                }
            }
            body.insert("userId".into(), json!(user));
            spec("POST", messages, Value::Object(body))
        }
        // Not this platform's: the caller reports it (never a panic on stored data).
        _ => return None,
    })
}

/// Jelou answers some failures with a 2xx and `"success": false`.
pub(super) fn reports_failure(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("success").and_then(Value::as_bool))
        == Some(false)
}
