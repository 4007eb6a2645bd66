//! The generic format: the canonical event itself, for systems without a decoder of their
//! own (and UChat "External Request" blocks). The dedupe id is the `webhook-id` header.

use serde_json::{Map, Value};

use super::{as_text, string_list, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>, webhook_id: Option<&str>) -> Decoded {
    let user = User {
        id: text_at(o, "user/id"),
        phone: text_at(o, "user/phone").and_then(|p| normalize_phone(&p)),
        email: text_at(o, "user/email"),
        name: text_at(o, "user/name"),
        ns: text_at(o, "user/ns"),
    };
    let message = o.get("message").filter(|m| m.is_object()).map(|_| Message {
        id: text_at(o, "message/id"),
        kind: text_at(o, "message/type"),
        text: text_at(o, "message/text"),
        status: text_at(o, "message/status"),
    });
    Decoded {
        id: webhook_id
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| o.get("id").and_then(as_text)),
        kind: Some(
            o.get("kind")
                .and_then(Value::as_str)
                .and_then(EventKind::parse)
                .unwrap_or(EventKind::Other),
        ),
        user,
        bot_id: text_at(o, "bot_id"),
        conversation_id: text_at(o, "conversation_id"),
        text: message
            .as_ref()
            .and_then(|m| m.text.clone())
            .or_else(|| text_at(o, "text")),
        message,
        tags: string_list(o.get("tags")),
    }
}
