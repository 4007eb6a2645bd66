//! UChat's live-chat webhook: `meta` (the subscriber's `user_ns`) and `message`
//! (docs/providers.md: the subscriber is the user in both directions).

use serde_json::{Map, Value};

use super::{first_text, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    let message = o.get("message").and_then(Value::as_object);
    let direction = message.and_then(|m| m.get("type")).and_then(Value::as_str);
    let kind = match direction {
        Some("in") => EventKind::MessageReceived,
        Some("out") => EventKind::MessageSent,
        _ => EventKind::Other,
    };
    let id = first_text(o, &["message/_id", "message/mid"]);
    let text = text_at(o, "message/text").or_else(|| message.and_then(content_text));
    let inbound = direction == Some("in");
    let sender = text_at(o, "message/sender_id");
    let ns = text_at(o, "meta/user_ns");
    Decoded {
        id: id.clone(),
        kind: Some(kind),
        user: User {
            // The subscriber, never the agent who wrote an `out` message. Without a
            // `user_ns`, an inbound message's sender is the subscriber.
            id: ns.clone().or_else(|| sender.clone().filter(|_| inbound)),
            // A WhatsApp subscriber's `sender_id` is the phone's digits.
            phone: sender
                .as_deref()
                .filter(|s| inbound && s.chars().all(|c| c.is_ascii_digit()))
                .and_then(normalize_phone),
            ns,
            ..User::default()
        },
        message: message.map(|_| Message {
            id,
            kind: text_at(o, "message/msg_type"),
            text: text.clone(),
            status: None,
        }),
        text,
        ..Decoded::default()
    }
}

/// `content` as text: a string that is not a link (a media message's `content` is its
/// URL), or an object's `text`.
fn content_text(message: &Map<String, Value>) -> Option<String> {
    match message.get("content")? {
        Value::String(s) if !s.trim().is_empty() && !is_link(s) => Some(s.clone()),
        Value::Object(content) => content
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        _ => None,
    }
}

/// A whole string that is one http(s) URL.
fn is_link(s: &str) -> bool {
    let s = s.trim();
    !s.contains(char::is_whitespace)
        && url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}
