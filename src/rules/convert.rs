//! JSON values as rules see them. Numbers are kept exactly in the store (serde_json's
//! `arbitrary_precision`), so they are turned into Rhai values here rather than through
//! serde: an integer that fits i64 is an `INT`, any other integer a string of its digits (an
//! id past 64 bits stays exact), a fraction a `FLOAT`. The canonical event is built field
//! by field ([`event_to_dynamic`]), in the shape its JSON has, without going through JSON.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

use crate::domain::event::Event;

/// The event as rules see it (`event`): the same map its JSON would give, built straight
/// from its fields (the event is not serialised first; only `raw` is converted).
pub fn event_to_dynamic(event: &Event) -> Dynamic {
    fn text(s: &str) -> Dynamic {
        Dynamic::from(s.to_string())
    }
    fn optional(s: Option<&String>) -> Dynamic {
        s.map_or(Dynamic::UNIT, |s| text(s))
    }
    fn map<const N: usize>(fields: [(&str, Dynamic); N]) -> Dynamic {
        Dynamic::from_map(
            fields
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect::<Map>(),
        )
    }
    let user = &event.user;
    let user = map([
        ("id", optional(user.id.as_ref())),
        ("phone", optional(user.phone.as_ref())),
        ("email", optional(user.email.as_ref())),
        ("name", optional(user.name.as_ref())),
        ("ns", optional(user.ns.as_ref())),
    ]);
    let message = event.message.as_ref().map_or(Dynamic::UNIT, |m| {
        map([
            ("id", optional(m.id.as_ref())),
            ("type", optional(m.kind.as_ref())),
            ("text", optional(m.text.as_ref())),
            ("status", optional(m.status.as_ref())),
        ])
    });
    let tags: Array = event.tags.iter().map(|t| text(t)).collect();
    map([
        ("id", text(&event.id)),
        ("event_id", text(event.event_id.as_str())),
        ("source", text(&event.source)),
        ("provider", text(event.provider.as_str())),
        ("kind", text(event.kind.as_str())),
        ("user", user),
        ("bot_id", optional(event.bot_id.as_ref())),
        ("conversation_id", optional(event.conversation_id.as_ref())),
        ("message", message),
        ("text", text(&event.text)),
        ("tags", Dynamic::from_array(tags)),
        ("raw", to_dynamic(&event.raw)),
        ("received_at", Dynamic::from_int(event.received_at)),
    ])
}

/// A JSON value as a Rhai value.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number(n),
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect::<Array>()),
        Value::Object(object) => Dynamic::from_map(
            object
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect::<Map>(),
        ),
    }
}

fn number(n: &Number) -> Dynamic {
    if let Some(i) = n.as_i64() {
        return Dynamic::from_int(i);
    }
    let text = n.to_string();
    let integer = text.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    match n.as_f64() {
        Some(f) if !integer => Dynamic::from_float(f),
        _ => Dynamic::from(text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{event_to_dynamic, to_dynamic};
    use crate::domain::event::{Event, Message, User};

    #[test]
    fn the_event_reaches_rules_as_its_json_would() {
        let mut event = Event::text_message(7, "u1", "hello");
        event.user = User {
            id: Some("u1".into()),
            phone: Some("+573001234567".into()),
            email: None,
            name: Some("Ana".into()),
            ns: Some("f1u2".into()),
        };
        event.bot_id = Some("b".into());
        event.message = Some(Message {
            id: Some("m7".into()),
            kind: Some("text".into()),
            text: Some("hello".into()),
            status: None,
        });
        event.tags = vec!["vip".into(), "new".into()];
        event.raw =
            serde_json::from_str(r#"{"n": 18446744073709551615, "a": [1.5, null, {"b": true}]}"#)
                .unwrap();
        let through_json = to_dynamic(&serde_json::to_value(&event).unwrap());
        assert_eq!(
            format!("{:?}", event_to_dynamic(&event)),
            format!("{through_json:?}")
        );
        event.message = None;
        let through_json = to_dynamic(&serde_json::to_value(&event).unwrap());
        assert_eq!(
            format!("{:?}", event_to_dynamic(&event)),
            format!("{through_json:?}")
        );
    }

    #[test]
    fn json_numbers_reach_rules_as_ints_floats_or_exact_digits() {
        let value: serde_json::Value = serde_json::from_str(
            r#"{"small": 42, "negative": -7, "fraction": 1.5, "huge": 123456789012345678901234567890, "max_u64": 18446744073709551615}"#,
        )
        .unwrap();
        let map = to_dynamic(&value).cast::<rhai::Map>();
        assert_eq!(map["small"].as_int(), Ok(42));
        assert_eq!(map["negative"].as_int(), Ok(-7));
        assert_eq!(map["fraction"].as_float(), Ok(1.5));
        assert_eq!(
            map["huge"].clone().into_string().unwrap(),
            "123456789012345678901234567890"
        );
        assert_eq!(
            map["max_u64"].clone().into_string().unwrap(),
            "18446744073709551615"
        );
    }

    #[test]
    fn nested_json_keeps_its_shape() {
        let value = json!({"a": [1, "two", null, true, {"b": []}]});
        let map = to_dynamic(&value).cast::<rhai::Map>();
        let a = map["a"].clone().into_array().unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[1].clone().into_string().unwrap(), "two");
        assert!(a[2].is_unit());
        assert_eq!(a[3].as_bool(), Ok(true));
        assert!(a[4].clone().cast::<rhai::Map>()["b"].is_array());
    }
}
