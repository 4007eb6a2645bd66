//! Decoding (docs/rule-api.md): a verified body becomes the canonical `Event`. One file per
//! platform format; a valid JSON object of a shape we do not know still becomes an event of
//! kind `other`, because a signed delivery is never dropped.

mod aelyst;
mod generic;
mod jelou;
mod uchat;
mod whatsapp;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::verify::Verified;
use crate::config::{SourceKind, SourceSettings};
use crate::domain::event::{Event, EventKind, Message, User};
use crate::domain::ids::EventId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not valid JSON: {message} at line {line}, column {column}")]
    InvalidJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the body is valid JSON but not an object; webhooks must send a JSON object")]
    NotAnObject,
    #[error("the JSON is nested more than {MAX_DEPTH} levels deep (arrays and objects); no platform sends that")]
    TooDeep,
}

/// The deepest nesting of arrays and objects accepted (`400 too_deep` beyond, docs/http-api.md).
/// Well below serde_json's own limit of 128, so every accepted body can be stored inside
/// the canonical event and read back.
pub const MAX_DEPTH: usize = 64;

/// Whether `body` nests arrays and objects more than `max` levels deep. A byte scan that
/// skips strings; it runs before parsing, so a hostile body costs one pass and no recursion.
pub fn nested_deeper_than(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// What a platform decoder extracts; the rest of `Event` is filled in by `decode`.
#[derive(Debug, Default)]
struct Decoded {
    id: Option<String>,
    kind: Option<EventKind>,
    user: User,
    bot_id: Option<String>,
    conversation_id: Option<String>,
    message: Option<Message>,
    text: Option<String>,
    tags: Vec<String>,
}

/// Parse and decode a verified body into the canonical event: the first of
/// [`decode_all`]'s events (the only one, but for a WhatsApp POST with several items).
///
/// # Errors
/// As [`decode_all`].
pub fn decode<'h>(
    source: &SourceSettings,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &Verified,
    event_id: EventId,
    received_at: i64,
) -> Result<Event, DecodeError> {
    let mut event_id = Some(event_id);
    let mut events = decode_all(
        source,
        header,
        body,
        || event_id.take().unwrap_or_else(EventId::new),
        received_at,
    )?;
    Ok(events.swap_remove(0))
}

/// Parse and decode a verified body into its canonical events, in payload order: one for
/// every format but WhatsApp's, whose POST gives one per message or status item (one
/// `other` event when it has neither). `event_id` names each event as it is made.
///
/// # Errors
/// `InvalidJson` with the line and column of the problem, `NotAnObject` for other JSON,
/// `TooDeep` for JSON nested deeper than [`MAX_DEPTH`].
pub fn decode_all<'h>(
    source: &SourceSettings,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &Verified,
    mut event_id: impl FnMut() -> EventId,
    received_at: i64,
) -> Result<Vec<Event>, DecodeError> {
    // A UTF-8 byte-order mark before the JSON is ignored (docs/http-api.md).
    let json = body
        .body()
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body.body());
    if nested_deeper_than(json, MAX_DEPTH) {
        return Err(DecodeError::TooDeep);
    }
    let raw: Value = serde_json::from_slice(json).map_err(|e| DecodeError::InvalidJson {
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Object(object) = &raw else {
        return Err(DecodeError::NotAnObject);
    };
    let one = |decoded: Decoded, raw: Value, hashed: &[u8], event_id: EventId| {
        let text = decoded
            .text
            .or_else(|| decoded.message.as_ref().and_then(|m| m.text.clone()))
            .unwrap_or_default();
        Event {
            id: decoded
                .id
                .unwrap_or_else(|| hex::encode(Sha256::digest(hashed))),
            event_id,
            source: source.name.clone(),
            provider: source.kind,
            kind: decoded.kind.unwrap_or(EventKind::Other),
            user: decoded.user,
            bot_id: decoded.bot_id,
            conversation_id: decoded.conversation_id,
            message: decoded.message,
            text,
            tags: decoded.tags,
            raw,
            received_at,
        }
    };
    let decoded = match source.kind {
        SourceKind::Jelou => jelou::decode(object),
        SourceKind::Aelyst => aelyst::decode(object),
        SourceKind::Uchat => uchat::decode(object),
        SourceKind::Generic => generic::decode(object, header("webhook-id")),
        SourceKind::Whatsapp => {
            let items = whatsapp::split(object);
            if !items.is_empty() {
                return Ok(items
                    .into_iter()
                    .map(|item| {
                        let decoded = item.as_object().map(whatsapp::decode).unwrap_or_default();
                        let bytes = serde_json::to_vec(&item).unwrap_or_default();
                        one(decoded, item, &bytes, event_id())
                    })
                    .collect());
            }
            whatsapp::decode(object)
        }
    };
    Ok(vec![one(decoded, raw.clone(), body.body(), event_id())])
}

/// A value at a `/`-separated path, as a non-empty string; numbers become strings.
fn text_at(object: &Map<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('/');
    let mut value = object.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    as_text(value)
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first_text(object: &Map<String, Value>, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| text_at(object, p))
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|t| as_text(t).or_else(|| t.get("name").and_then(as_text)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
