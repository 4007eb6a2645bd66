//! Jelou's three webhook families: the external-support `message_event`, the
//! `conversation.start` / `conversation.close` events, and the manual-mode bubble message.

use serde_json::{Map, Value};

use super::{first_text, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    if o.get("object").and_then(Value::as_str) == Some("message_event") || o.contains_key("value") {
        message_event(o)
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

fn message_event(o: &Map<String, Value>) -> Decoded {
    let user_id = text_at(o, "contact/id");
    let text = text_at(o, "value/content/body");
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
        }),
        text,
        ..Decoded::default()
    }
}

/// Jelou names WhatsApp users by their phone's digits.
fn phone_from_id(id: &str) -> Option<String> {
    id.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| normalize_phone(id))
        .flatten()
}
