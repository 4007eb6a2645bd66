//! UChat (uchat.com.au/api): pause and resume the bot, text, tags and labels by name, chat
//! status, custom fields by name and sub-flows. Auth is a Bearer token; the user is a
//! `user_ns`, looked up by phone off-platform.

use serde_json::{json, Value};

use super::{phone_digits, spec, url, LookupResult, RequestSpec, Target, UserRef};
use crate::config::ProviderSettings;
use crate::domain::actions::{Action, ActionKind};
use crate::domain::event::Event;

pub(super) fn supports(action: ActionKind) -> bool {
    matches!(
        action,
        ActionKind::SetUserState
            | ActionKind::SendText
            | ActionKind::AddTag
            | ActionKind::RemoveTag
            | ActionKind::AddLabel
            | ActionKind::RemoveLabel
            | ActionKind::SetConversationStatus
            | ActionKind::SetField
            | ActionKind::SendFlow
    )
}

pub(super) fn target(native: bool, event: &Event) -> Target {
    let user = if let Some(ns) = native.then(|| event.user.ns.clone()).flatten() {
        UserRef::Known { value: ns }
    } else if let Some(digits) = phone_digits(event) {
        UserRef::LookupPhone { digits }
    } else {
        UserRef::Unknown
    };
    Target { user, bot_id: None }
}

pub(super) fn request(
    provider: &ProviderSettings,
    action: &Action,
    user_ns: &str,
) -> Option<RequestSpec> {
    let p = &action.params;
    let name = p.get("name").cloned().unwrap_or(Value::Null);
    Some(match action.action {
        ActionKind::SetUserState => {
            if action.str_param("state") == Some("auto") {
                spec(
                    "POST",
                    url(provider, "/subscriber/resume-bot"),
                    json!({"user_ns": user_ns}),
                )
            } else {
                let minutes = match p.get("ttl").and_then(Value::as_u64) {
                    Some(ttl) => ttl.div_ceil(60).max(1),
                    None => provider.pause_minutes,
                };
                spec(
                    "POST",
                    url(provider, "/subscriber/pause-bot"),
                    json!({"user_ns": user_ns, "minutes": minutes}),
                )
            }
        }
        ActionKind::SendText => spec(
            "POST",
            url(provider, "/subscriber/send-text"),
            json!({"user_ns": user_ns, "content": p.get("text")}),
        ),
        ActionKind::AddTag => spec(
            "POST",
            url(provider, "/subscriber/add-tag-by-name"),
            json!({"user_ns": user_ns, "tag_name": name}),
        ),
        ActionKind::RemoveTag => spec(
            "DELETE",
            url(provider, "/subscriber/remove-tag-by-name"),
            json!({"user_ns": user_ns, "tag_name": name}),
        ),
        ActionKind::AddLabel => spec(
            "POST",
            url(provider, "/subscriber/add-labels-by-name"),
            json!({"user_ns": user_ns, "data": [{"label_name": name}]}),
        ),
        ActionKind::RemoveLabel => spec(
            "DELETE",
            url(provider, "/subscriber/remove-labels-by-name"),
            json!({"user_ns": user_ns, "data": [{"label_name": name}]}),
        ),
        ActionKind::SetConversationStatus => {
            let status = if action.str_param("status") == Some("open") {
                "open"
            } else {
                "done"
            };
            spec(
                "POST",
                url(provider, "/subscriber/move-chat-to"),
                json!({"user_ns": user_ns, "status": status}),
            )
        }
        // `value` is a string in UChat's OpenAPI (`flowBotUserSetUserFieldByName`).
        ActionKind::SetField => spec(
            "PUT",
            url(provider, "/subscriber/set-user-field-by-name"),
            json!({"user_ns": user_ns, "field_name": name, "value": p.get("value")}),
        ),
        ActionKind::SendFlow => spec(
            "POST",
            url(provider, "/subscriber/send-sub-flow"),
            json!({"user_ns": user_ns, "sub_flow_ns": p.get("flow_ns")}),
        ),
        // Not this platform's: the caller reports it (never a panic on stored data).
        _ => return None,
    })
}

pub(super) fn lookup_request(provider: &ProviderSettings, digits: &str) -> RequestSpec {
    spec(
        "GET",
        url(provider, &format!("/subscribers?phone=%2B{digits}&limit=2")),
        Value::Null,
    )
}

pub(super) fn read_lookup(body: &[u8]) -> LookupResult {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let matches: &[Value] = value
        .get("data")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    // Used only when exactly one subscriber matches (docs/providers.md), whatever the others
    // carry.
    match matches {
        [] => LookupResult::NotFound,
        [one] => match one.get("user_ns").and_then(Value::as_str) {
            Some(ns) => LookupResult::Found(ns.to_string()),
            None => LookupResult::NotFound,
        },
        _ => LookupResult::Ambiguous,
    }
}
