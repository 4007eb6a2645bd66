//! The canonical event (docs/rule-api.md): what every decoder produces and every rule reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::EventId;
use super::platform::SourceKind;

/// One accepted inbound webhook, in the platform-neutral shape rules see as `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Dedupe key: the platform's event or message id, else hex SHA-256 of the body.
    pub id: String,
    /// Switchboard's own id, `evt_` + a ULID.
    #[schema(value_type = String)]
    pub event_id: EventId,
    pub source: String,
    /// The source's kind: `jelou`, `aelyst`, `uchat`, `generic` or `whatsapp`.
    pub provider: SourceKind,
    pub kind: EventKind,
    pub user: User,
    pub bot_id: Option<String>,
    pub conversation_id: Option<String>,
    pub message: Option<Message>,
    pub text: String,
    pub tags: Vec<String>,
    pub raw: Value,
    /// Unix milliseconds.
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.sent")]
    MessageSent,
    #[serde(rename = "conversation.opened")]
    ConversationOpened,
    #[serde(rename = "conversation.closed")]
    ConversationClosed,
    #[serde(rename = "contact.updated")]
    ContactUpdated,
    /// A delivery or read receipt for a message (docs/providers.md).
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "other")]
    Other,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message.received",
            EventKind::MessageSent => "message.sent",
            EventKind::ConversationOpened => "conversation.opened",
            EventKind::ConversationClosed => "conversation.closed",
            EventKind::ContactUpdated => "contact.updated",
            EventKind::MessageStatus => "message.status",
            EventKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "message.received" => EventKind::MessageReceived,
            "message.sent" => EventKind::MessageSent,
            "conversation.opened" => EventKind::ConversationOpened,
            "conversation.closed" => EventKind::ConversationClosed,
            "contact.updated" => EventKind::ContactUpdated,
            "message.status" => EventKind::MessageStatus,
            "other" => EventKind::Other,
            _ => return None,
        })
    }
}

/// Who the event is about. Every field is optional: platforms name users differently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: Option<String>,
    /// E.164 with a leading `+`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// UChat's subscriber namespace.
    pub ns: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<String>,
    /// For `message.status` events: `sent`, `delivered`, `read`, `failed`, or the
    /// platform's own word. Events stored before this field existed read back as `None`.
    #[serde(default)]
    pub status: Option<String>,
}

/// For tests: a Jelou text message `m<n>` (`evt_<n>`) from user `user`.
#[cfg(test)]
impl Event {
    pub(crate) fn text_message(n: usize, user: &str, text: &str) -> Event {
        Event {
            id: format!("m{n}"),
            event_id: EventId::unchecked(format!("evt_{n}")),
            source: "jelou".into(),
            provider: SourceKind::Jelou,
            kind: EventKind::MessageReceived,
            user: User {
                id: Some(user.into()),
                phone: None,
                email: None,
                name: None,
                ns: None,
            },
            bot_id: None,
            conversation_id: None,
            message: None,
            text: text.into(),
            tags: Vec::new(),
            raw: Value::Null,
            received_at: 1_763_770_000_000,
        }
    }
}

impl Event {
    /// The ordering key of docs/guarantees.md: events with the same key are handled one at a time.
    /// `None` when the event names no user.
    pub fn user_key(&self) -> Option<String> {
        let u = &self.user;
        let who =
            u.id.as_ref()
                .map(|v| format!("id:{v}"))
                .or_else(|| u.phone.as_ref().map(|v| format!("phone:{v}")))
                .or_else(|| u.email.as_ref().map(|v| format!("email:{v}")))
                .or_else(|| u.ns.as_ref().map(|v| format!("ns:{v}")))?;
        Some(format!("{}\u{1f}{who}", self.source))
    }

    /// The key that orders this event's work: its user key, or, for an event that names no
    /// user, a key of its own (its actions still go out in order; it waits for no one).
    pub fn order_key(&self) -> String {
        self.user_key()
            .unwrap_or_else(|| format!("event:{}", self.event_id))
    }

    /// The digits of the user's phone, if any.
    pub fn phone_digits(&self) -> Option<String> {
        self.user
            .phone
            .as_deref()
            .map(digits)
            .filter(|d| !d.is_empty())
    }
}

/// Only the ASCII digits of a string.
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A phone number as E.164 with `+`, when it looks like one (8 to 15 digits).
pub fn normalize_phone(s: &str) -> Option<String> {
    let d = digits(s);
    (8..=15).contains(&d.len()).then(|| format!("+{d}"))
}

/// A phone in E.164 (docs/providers.md): `+` and 8–15 digits, country code first. Spaces, dots,
/// dashes and brackets are removed; anything else (a letter, a second `+`) means the phone
/// cannot be written so, and `None` is returned.
pub fn e164(phone: &str) -> Option<String> {
    let kept: String = phone
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    (digits.chars().all(|c| c.is_ascii_digit()) && (8..=15).contains(&digits.len()))
        .then(|| format!("+{digits}"))
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod e164_tests {
    use super::e164;

    #[test]
    fn phones_are_written_in_e164_or_refused() {
        let cases = [
            ("+1 (555) 010-0000", Some("+15550100000")),
            ("573001234567", Some("+573001234567")),
            ("+57 300.123.4567", Some("+573001234567")),
            ("  +44 20 7946 0958 ", Some("+442079460958")),
            ("+1234567", None),
            ("1234567890123456", None),
            ("+57 300 CALL NOW", None),
            ("++573001234567", None),
            ("57+3001234567", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(e164(raw).as_deref(), expected, "{raw:?}");
        }
    }
}
