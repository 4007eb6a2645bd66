//! JSON values as rules see them. Numbers are kept exactly in the store (serde_json's
//! `arbitrary_precision`), so they are turned into Rhai values here rather than through
//! serde: an integer that fits i64 is an `INT`, any other integer a string of its digits (an
//! id past 64 bits stays exact), a fraction a `FLOAT`.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

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

    use super::to_dynamic;

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
