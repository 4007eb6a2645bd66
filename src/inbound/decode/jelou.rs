//! Jelou's webhook families: the external-support `message_event`, delivery and read
//! receipts (`value` with a `status`, docs/providers.md), the `conversation.start` /
//! `conversation.close` events, and the manual-mode bubble message.

use serde_json::{Map, Value};

use super::{first_text, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    let value = o.get("value").and_then(Value::as_object);
    if o.get("object").and_then(Value::as_str) == Some("message_event") {
        message_event(o)
    } else if let Some(value) = value {
        // docs/providers.md: `value` is a message only when it says so; a receipt is a status.
        if is_receipt(o, value) {
            receipt(o, value)
        } else if describes_message(value) {
            message_event(o)
        } else {
            Decoded {
                id: text_at(o, "value/id"),
                ..Decoded::default()
            }
        }
    } else if let Some(event) = o.get("event").and_then(Value::as_str) {
        conversation_event(o, event)
    } else if o.contains_key("messageId") && o.contains_key("bubble") {
        manual_mode_message(o)
    } else {
        Decoded {
            id: first_text(o, &["id", "messageId"]),
            ..Decoded::default()
        }
    }
}

/// `value.content` is there, or `value.type` names a kind of message.
fn describes_message(value: &Map<String, Value>) -> bool {
    value.get("content").is_some_and(|c| !c.is_null())
        || value
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty() && t != "status")
}

/// A delivery or read receipt: `"type": "status"` at the top or in `value`, or a `value`
/// that carries a `status` and no message content.
fn is_receipt(o: &Map<String, Value>, value: &Map<String, Value>) -> bool {
    o.get("type").and_then(Value::as_str) == Some("status")
        || value.get("type").and_then(Value::as_str) == Some("status")
        || (value.get("status").is_some_and(Value::is_string)
            && value.get("content").is_none_or(Value::is_null))
}

fn receipt(o: &Map<String, Value>, value: &Map<String, Value>) -> Decoded {
    let message_id = text_at(o, "value/id");
    let status = value.get("status").and_then(super::as_text);
    let user_id = first_text(
        o,
        &["contact/id", "userId", "value/recipient_id", "value/userId"],
    );
    Decoded {
        id: message_id
            .as_ref()
            .map(|id| format!("{id}:{}", status.as_deref().unwrap_or("unknown"))),
        kind: Some(EventKind::MessageStatus),
        user: User {
            phone: user_id.as_deref().and_then(phone_from_id),
            id: user_id,
            name: first_text(o, &["contact/name", "names"]),
            ..User::default()
        },
        bot_id: first_text(o, &["bot/id", "botId"]),
        conversation_id: text_at(o, "conversation/id"),
        message: Some(Message {
            id: message_id,
            status,
            ..Message::default()
        }),
        ..Decoded::default()
    }
}

fn message_event(o: &Map<String, Value>) -> Decoded {
    let user_id = text_at(o, "contact/id");
    // The text, else an image's or document's caption (docs/providers.md).
    let text = first_text(
        o,
        &[
            "value/content/body",
            "value/caption",
            "value/content/caption",
        ],
    );
    Decoded {
        id: text_at(o, "value/id"),
        kind: Some(EventKind::MessageReceived),
        user: User {
            phone: user_id.as_deref().and_then(phone_from_id),
            id: user_id,
            name: text_at(o, "contact/name"),
            ..User::default()
        },
        bot_id: text_at(o, "bot/id"),
        conversation_id: text_at(o, "conversation/id"),
        message: Some(Message {
            id: text_at(o, "value/id"),
            kind: text_at(o, "value/type"),
            text: text.clone(),
            status: None,
        }),
        text,
        tags: Vec::new(),
    }
}

fn conversation_event(o: &Map<String, Value>, event: &str) -> Decoded {
    let kind = match event {
        "conversation.start" => EventKind::ConversationOpened,
        "conversation.close" => EventKind::ConversationClosed,
        _ => EventKind::Other,
    };
    let user_id = first_text(o, &["contact/id", "userId", "user/id"]);
    Decoded {
        id: first_text(o, &["id", "eventId", "event_id"]),
        kind: Some(kind),
        user: User {
            phone: user_id.as_deref().and_then(phone_from_id),
            id: user_id,
            name: first_text(o, &["contact/name", "names", "user/name"]),
            ..User::default()
        },
        bot_id: first_text(o, &["bot/id", "botId"]),
        conversation_id: first_text(o, &["conversation/id", "conversationId", "room_id"]),
        ..Decoded::default()
    }
}

fn manual_mode_message(o: &Map<String, Value>) -> Decoded {
    let from_user = o.get("owner").and_then(Value::as_str) == Some("user");
    let user_id = text_at(o, "userId");
    let text = text_at(o, "bubble/text");
    Decoded {
        id: text_at(o, "messageId"),
        kind: Some(if from_user {
            EventKind::MessageReceived
        } else {
            EventKind::MessageSent
        }),
        user: User {
            phone: user_id.as_deref().and_then(phone_from_id),
            id: user_id,
            name: text_at(o, "names"),
            ..User::default()
        },
        bot_id: text_at(o, "botId"),
        message: Some(Message {
            id: text_at(o, "messageId"),
            kind: text_at(o, "bubble/type"),
            text: text.clone(),
            status: None,
        }),
        text,
        ..Decoded::default()
    }
}

/// Jelou names WhatsApp users by their phone's digits, with or without a leading `+`
/// (docs/providers.md): 8–15 digits and nothing else.
fn phone_from_id(id: &str) -> Option<String> {
    let digits = id.strip_prefix('+').unwrap_or(id);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| normalize_phone(digits))
        .flatten()
}
