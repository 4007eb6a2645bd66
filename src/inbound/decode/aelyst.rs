//! Aelyst's webhooks (respond.io-compatible): `event_type`, `contact`, `message`,
//! `conversation`.

use serde_json::{Map, Value};

use super::{string_list, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    let kind = match o.get("event_type").and_then(Value::as_str) {
        Some(t) if t.starts_with("contact.") => EventKind::ContactUpdated,
        Some(t) => EventKind::parse(t)
            .filter(|k| *k != EventKind::ContactUpdated)
            .unwrap_or(EventKind::Other),
        None => EventKind::Other,
    };
    let name = [
        text_at(o, "contact/firstName"),
        text_at(o, "contact/lastName"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let message = o.get("message").filter(|m| m.is_object()).map(|_| Message {
        id: text_at(o, "message/messageId"),
        kind: text_at(o, "message/message/type"),
        text: text_at(o, "message/message/text"),
        status: None,
    });
    Decoded {
        id: text_at(o, "event_id"),
        kind: Some(kind),
        user: User {
            id: text_at(o, "contact/id"),
            phone: text_at(o, "contact/phone").and_then(|p| normalize_phone(&p)),
            email: text_at(o, "contact/email"),
            name: (!name.is_empty()).then_some(name),
            ns: None,
        },
        bot_id: None,
        conversation_id: text_at(o, "conversation/id")
            .or_else(|| text_at(o, "conversation/conversationId")),
        text: message.as_ref().and_then(|m| m.text.clone()),
        message,
        tags: string_list(o.get("contact").and_then(|c| c.get("tags"))),
    }
}
