//! UChat's live-chat webhook: `meta` (the subscriber's `user_ns`) and `message`.

use serde_json::{Map, Value};

use super::{first_text, text_at, Decoded};
use crate::domain::event::{EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    let direction = o
        .get("message")
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str);
    let kind = match direction {
        Some("in") => EventKind::MessageReceived,
        Some("out") => EventKind::MessageSent,
        _ => EventKind::Other,
    };
    let id = first_text(o, &["message/_id", "message/mid"]);
    let text = text_at(o, "message/text").or_else(|| {
        o.get("message")
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let message = o.get("message").filter(|m| m.is_object()).map(|_| Message {
        id: id.clone(),
        kind: text_at(o, "message/msg_type"),
        text: text.clone(),
    });
    Decoded {
        id,
        kind: Some(kind),
        user: User {
            id: text_at(o, "message/sender_id"),
            ns: text_at(o, "meta/user_ns"),
            ..User::default()
        },
        message,
        text,
        ..Decoded::default()
    }
}
