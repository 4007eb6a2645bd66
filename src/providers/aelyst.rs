//! Aelyst (api.aelyst.ai/v1, respond.io-compatible): text, tags, conversation status.
//! Auth is a Bearer token; the user is an `{identifier}` path segment: `id:`, `phone:` or
//! `email:`. Its published limits (category 128, summary 512 characters) are checked when
//! the rule runs.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::{phone_digits, spec, url, ActionError, RequestSpec, Target, UserRef};
use crate::config::ProviderSettings;
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;

/// RFC 3986 path-segment encoding, with `:`, `+` and `@` sent literally (docs/providers.md).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'+')
    .remove(b'@');

const CATEGORY_LIMIT: usize = 128;
const SUMMARY_LIMIT: usize = 512;

pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub(super) fn supports(action: ActionKind) -> bool {
    matches!(
        action,
        ActionKind::SendText
            | ActionKind::AddTag
            | ActionKind::RemoveTag
            | ActionKind::SetConversationStatus
    )
}

pub(super) fn validate(action: &Action) -> Result<(), ActionError> {
    for (key, limit) in [("category", CATEGORY_LIMIT), ("summary", SUMMARY_LIMIT)] {
        if let Some(value) = action.str_param(key) {
            let length = value.chars().count();
            if length > limit {
                return Err(ActionError::OverLimit { limit, key, length });
            }
        }
    }
    Ok(())
}

pub(super) fn target(native: bool, event: &Event) -> Target {
    let identifier = native
        .then(|| event.user.id.as_ref().map(|id| format!("id:{id}")))
        .flatten()
        .or_else(|| phone_digits(event).map(|d| format!("phone:+{d}")))
        .or_else(|| event.user.email.as_ref().map(|e| format!("email:{e}")));
    Target {
        user: identifier.map_or(UserRef::Unknown, |value| UserRef::Known { value }),
        bot_id: None,
    }
}

pub(super) fn request(
    provider: &ProviderSettings,
    action: &Action,
    identifier: &str,
) -> Option<RequestSpec> {
    let contact = format!("/contact/{}", encode_segment(identifier));
    let p = &action.params;
    Some(match action.action {
        ActionKind::SendText => spec(
            "POST",
            url(provider, &format!("{contact}/message")),
            json!({"message": {"type": "text", "text": p.get("text")}}),
        ),
        ActionKind::AddTag => spec(
            "POST",
            url(provider, &format!("{contact}/tag")),
            json!([p.get("name")]),
        ),
        ActionKind::RemoveTag => spec(
            "DELETE",
            url(provider, &format!("{contact}/tag")),
            json!([p.get("name")]),
        ),
        ActionKind::SetConversationStatus => {
            let mut body = Map::new();
            for key in ["status", "category", "summary"] {
                if let Some(v) = p.get(key) {
                    body.insert(key.into(), v.clone());
                }
            }
            spec(
                "POST",
                url(provider, &format!("{contact}/conversation/status")),
                Value::Object(body),
            )
        }
        // Not this platform's: the caller reports it (never a panic on stored data).
        _ => return None,
    })
}
