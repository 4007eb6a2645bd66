//! WhatsApp Cloud API (Meta) webhooks (docs/providers.md). One POST may carry many items:
//! `split` cuts it into one body per `messages[]` or `statuses[]` item, each in the same
//! `entry` / `changes` / `value` envelope (metadata, contacts) with only that item, and
//! `decode` reads one such body. So an event's `raw` is its own item in its envelope, and
//! posting that `raw` again gives the same single event.

use serde_json::{Map, Value};

use super::{first_text, text_at, Decoded};
use crate::domain::event::{normalize_phone, EventKind, Message, User};

/// The items of a POST, in payload order, each as a body of its own. Empty when the POST
/// has no message and no status (it is then one event of kind `other`).
pub(super) fn split(o: &Map<String, Value>) -> Vec<Value> {
    let mut items = Vec::new();
    for entry in array(o.get("entry")) {
        for change in array(entry.get("changes")) {
            let Some(value) = change.get("value").and_then(Value::as_object) else {
                continue;
            };
            for list in ["messages", "statuses"] {
                for item in array(value.get(list)) {
                    let mut one = value.clone();
                    one.remove("messages");
                    one.remove("statuses");
                    one.insert(list.to_string(), Value::Array(vec![item.clone()]));
                    let mut change = change.as_object().cloned().unwrap_or_default();
                    change.insert("value".into(), Value::Object(one));
                    let mut entry = entry.as_object().cloned().unwrap_or_default();
                    entry.insert("changes".into(), Value::Array(vec![Value::Object(change)]));
                    let mut body = o.clone();
                    body.insert("entry".into(), Value::Array(vec![Value::Object(entry)]));
                    items.push(Value::Object(body));
                }
            }
        }
    }
    items
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// One body of `split` (or a POST with no item, which decodes as `other`).
pub(super) fn decode(o: &Map<String, Value>) -> Decoded {
    let value = array(o.get("entry"))
        .first()
        .and_then(|e| array(e.get("changes")).first())
        .and_then(|c| c.get("value"))
        .and_then(Value::as_object);
    let Some(value) = value else {
        return Decoded::default();
    };
    if let Some(message) = array(value.get("messages"))
        .first()
        .and_then(Value::as_object)
    {
        message_event(value, message)
    } else if let Some(status) = array(value.get("statuses"))
        .first()
        .and_then(Value::as_object)
    {
        status_event(value, status)
    } else {
        Decoded::default()
    }
}

fn message_event(value: &Map<String, Value>, m: &Map<String, Value>) -> Decoded {
    let from = text_at(m, "from");
    let kind = text_at(m, "type");
    // The text, the tapped button or list row, or a media item's caption.
    let mut paths = vec![
        "text/body".to_string(),
        "button/text".to_string(),
        "interactive/button_reply/title".to_string(),
        "interactive/list_reply/title".to_string(),
    ];
    if let Some(kind) = &kind {
        paths.push(format!("{kind}/caption"));
    }
    let text = paths.iter().find_map(|p| text_at(m, p));
    let id = text_at(m, "id");
    Decoded {
        id: id.clone(),
        kind: Some(EventKind::MessageReceived),
        user: user(value, from),
        bot_id: text_at(value, "metadata/phone_number_id"),
        message: Some(Message {
            id,
            kind,
            text: text.clone(),
            status: None,
        }),
        text,
        ..Decoded::default()
    }
}

fn status_event(value: &Map<String, Value>, s: &Map<String, Value>) -> Decoded {
    let message_id = text_at(s, "id");
    let status = text_at(s, "status");
    Decoded {
        // Each receipt is its own event, never a duplicate of the message (docs/providers.md).
        id: message_id
            .as_ref()
            .map(|id| format!("{id}:{}", status.as_deref().unwrap_or("unknown"))),
        kind: Some(EventKind::MessageStatus),
        user: user(value, text_at(s, "recipient_id")),
        bot_id: text_at(value, "metadata/phone_number_id"),
        conversation_id: text_at(s, "conversation/id"),
        message: Some(Message {
            id: message_id,
            status,
            ..Message::default()
        }),
        ..Decoded::default()
    }
}

/// The WhatsApp user: `wa_id` digits as id and phone, the name from the `contacts` entry
/// with the same `wa_id`.
fn user(value: &Map<String, Value>, wa_id: Option<String>) -> User {
    let name = wa_id.as_deref().and_then(|wa_id| {
        array(value.get("contacts"))
            .iter()
            .filter_map(Value::as_object)
            .find(|c| text_at(c, "wa_id").as_deref() == Some(wa_id))
            .and_then(|c| first_text(c, &["profile/name"]))
    });
    User {
        phone: wa_id
            .as_deref()
            .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
            .and_then(normalize_phone),
        id: wa_id,
        name,
        ..User::default()
    }
}
