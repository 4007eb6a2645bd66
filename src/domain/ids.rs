//! Switchboard's ids, each a type of its own, so that one kind of id cannot be passed where
//! another is expected: [`EventId`] (an accepted event, `evt_` + a ULID), [`RunId`] (one run
//! of an event's rules: the first, or an operator's replay), [`DeliveryId`] (one action being
//! carried out) and [`DeadLetterId`] (one failure of a delivery kept for operators).
//!
//! Each is shown exactly as before it had a type: serde sees the inner text or number
//! (`#[serde(transparent)]`), `Display` prints it, and the store keeps it in the same column
//! as the same SQL value (`store::sql_types` maps them for both back ends). An id read back
//! from the store or from stored JSON is taken as it is: the store is the authority on what
//! it holds. An id typed by a person (an admin path, a command's argument) is read with
//! `FromStr`, which refuses text that no id Switchboard makes can look like.
//!
//! ```
//! use switchboard::domain::ids::EventId;
//! fn trace(_: &EventId) {}
//! trace(&"evt_01JD3X5N8Q2V7W4K6M9P0R1S2T".parse().unwrap());
//! ```
//!
//! One kind of id where another is expected does not compile:
//!
//! ```compile_fail,E0308
//! use switchboard::domain::ids::{DeliveryId, EventId};
//! fn trace(_: &EventId) {}
//! trace(&DeliveryId::from(7));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An id given from outside that is not of its kind: no row can have it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {what}")]
pub struct MalformedId {
    /// What was expected, e.g. "an event id".
    pub what: &'static str,
    pub text: String,
}

/// Switchboard's own id of an accepted event: `evt_` + a ULID (`evt_01JD3X5N8Q2V7W4K6M9P0R1S2T`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// What every event id starts with.
    pub const PREFIX: &'static str = "evt_";
    /// The longest id `FromStr` takes (one that `new` makes has 30 characters).
    const MAX_LEN: usize = 64;

    /// A fresh id for an event being accepted: `evt_` + a new ULID.
    #[allow(clippy::new_without_default)] // every id is new: there is no default one
    pub fn new() -> EventId {
        EventId(format!("{}{}", Self::PREFIX, ulid::Ulid::new()))
    }

    /// An id taken as it is, unchecked: as the store holds it (a column, stored JSON), or
    /// as a test makes it.
    pub fn unchecked(text: String) -> EventId {
        EventId(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An event id typed by a person: `evt_` and then letters, digits or `_` (at most 64
/// characters in all). Anything else names no stored event.
impl FromStr for EventId {
    type Err = MalformedId;

    fn from_str(text: &str) -> Result<EventId, MalformedId> {
        let well_formed = text.len() <= Self::MAX_LEN
            && text.strip_prefix(Self::PREFIX).is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if well_formed {
            Ok(EventId(text.to_string()))
        } else {
            Err(MalformedId {
                what: "an event id",
                text: text.to_string(),
            })
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for EventId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EventId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One run of an event's rules: `""` for the first (when the event was accepted),
/// `run_` + a ULID for each replay an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// The event's first run.
    pub const FIRST: RunId = RunId(String::new());

    /// A fresh id for an operator's replay: `run_` + a new ULID.
    #[allow(clippy::new_without_default)] // `FIRST` is the one fixed run id
    pub fn new() -> RunId {
        RunId(format!("run_{}", ulid::Ulid::new()))
    }

    /// A run id taken as it is, unchecked (as the store holds it).
    pub fn unchecked(text: String) -> RunId {
        RunId(text)
    }

    /// Whether this is the event's first run (not a replay).
    pub fn is_first(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares an id the store numbers (a row's integer primary key).
macro_rules! numbered_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The number, as stored.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        /// A number as the store gave it.
        impl From<i64> for $name {
            fn from(n: i64) -> $name {
                $name(n)
            }
        }

        /// A whole number, as Rust reads an `i64` (`-5` and `+5` included).
        impl FromStr for $name {
            type Err = MalformedId;

            fn from_str(text: &str) -> Result<$name, MalformedId> {
                text.parse().map($name).map_err(|_| MalformedId {
                    what: $what,
                    text: text.to_string(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

numbered_id!(
    /// One decided action being carried out against a provider (a row of `deliveries`); a
    /// redriven delivery keeps its id.
    DeliveryId,
    "a delivery id"
);

numbered_id!(
    /// A delivery's failure kept for operators (a row of `dead_letters`): the `id` of
    /// `GET /admin/dead-letters` and of `POST /admin/dead-letters/{id}/redrive`.
    DeadLetterId,
    "a dead letter id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_event_id_is_evt_and_a_ulid_and_reads_back_as_itself() {
        let id = EventId::new();
        assert!(id.as_str().starts_with("evt_"), "{id}");
        assert_eq!(id.as_str().len(), 30, "{id}");
        assert!(id.as_str()[4..].parse::<ulid::Ulid>().is_ok(), "{id}");
        assert_eq!(id.to_string().parse::<EventId>().unwrap(), id);
        assert_ne!(EventId::new(), id);
    }

    #[test]
    fn an_event_id_typed_by_a_person_must_look_like_one() {
        for good in [
            "evt_01JD3X5N8Q2V7W4K6M9P0R1S2T",
            "evt_poison",
            "evt_1",
            "evt_a_b",
        ] {
            assert_eq!(good.parse::<EventId>().unwrap().as_str(), good);
        }
        let too_long = format!("evt_{}", "A".repeat(61));
        for bad in [
            "", "evt_", "evt", "EVT_1", "1", "run_1", "evt_a b", "evt_a/b", "evt_é", &too_long,
        ] {
            let e = bad.parse::<EventId>().unwrap_err();
            assert_eq!(e.to_string(), format!("{bad:?} is not an event id"));
        }
    }

    #[test]
    fn numbered_ids_read_as_whole_numbers() {
        assert_eq!("42".parse::<DeadLetterId>().unwrap().get(), 42);
        assert_eq!("-5".parse::<DeadLetterId>().unwrap().get(), -5);
        assert_eq!("+5".parse::<DeliveryId>().unwrap().get(), 5);
        for bad in ["", "x", "1.5", "99999999999999999999"] {
            assert_eq!(
                bad.parse::<DeadLetterId>().unwrap_err().to_string(),
                format!("{bad:?} is not a dead letter id")
            );
        }
    }

    #[test]
    fn ids_are_shown_in_json_and_text_exactly_as_their_inner_value() {
        let json = serde_json::json!({
            "event": EventId::unchecked("evt_x".into()),
            "first": RunId::FIRST,
            "delivery": DeliveryId::from(7),
            "letter": DeadLetterId::from(9),
        });
        assert_eq!(
            json.to_string(),
            r#"{"event":"evt_x","first":"","delivery":7,"letter":9}"#
        );
        let back: DeliveryId = serde_json::from_str("7").unwrap();
        assert_eq!(back, DeliveryId::from(7));
        let back: EventId = serde_json::from_str(r#""anything""#).unwrap();
        assert_eq!(back, "anything");
        assert_eq!(DeadLetterId::from(9).to_string(), "9");
        assert_eq!(RunId::FIRST.to_string(), "");
        assert!(RunId::FIRST.is_first());
        let replay = RunId::new();
        assert!(
            !replay.is_first() && replay.as_str().starts_with("run_"),
            "{replay}"
        );
    }
}
