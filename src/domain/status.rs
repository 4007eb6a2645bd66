//! The states work moves through, named once: an event's status, a delivery's status and
//! why a delivery died. The SQL columns hold `as_str()`; `parse` reads them back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a status enum with its stored name per variant: `as_str`, `ALL`, `FromStr`,
/// `Display` and serde all use the same names.
macro_rules! named_states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name stored in SQL and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState {
                        what: stringify!($name),
                        text: text.to_string(),
                        known: &[$($text,)+],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A stored or requested state name that is not one of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not one of {}", known.join(", "))]
pub struct UnknownState {
    pub what: &'static str,
    pub text: String,
    pub known: &'static [&'static str],
}

named_states! {
    /// Where an event is (docs/http-api.md): accepted, its rules decided and deliveries open,
    /// or finished.
    EventStatus {
        /// Accepted, waiting for its rules.
        Received = "received",
        /// Decided; some deliveries are open.
        Processing = "processing",
        /// Every delivery succeeded and no rule erred.
        Done = "done",
        /// Something failed and nothing succeeded (or it could not be read back).
        Failed = "failed",
        /// Some deliveries succeeded, something failed.
        Partial = "partial",
    }
}

named_states! {
    /// Where a delivery is (docs/guarantees.md).
    DeliveryStatus {
        /// Waiting for its turn or its next try.
        Pending = "pending",
        /// Claimed by an executor under a lease.
        InFlight = "in_flight",
        /// The provider accepted it.
        Done = "done",
        /// Failed for good: a dead letter.
        Dead = "dead",
    }
}

/// Why a delivery failed for good (docs/guarantees.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    FinalStatus,
    AttemptsExhausted,
    UserUnknown,
    UserAmbiguous,
    /// The stored delivery could not be read back (it is never sent).
    Unreadable,
    /// The last attempt failed because the provider's host name did not resolve.
    Dns,
    /// The last attempt's connection was refused.
    Refused,
    /// The last attempt failed in the TLS handshake (certificate, protocol).
    Tls,
    /// The last attempt got no answer within `timeout_ms`.
    Timeout,
    /// The delivery's provider cannot carry the action out (its kind changed in the config
    /// since the rule decided); nothing was sent.
    Unsupported,
    /// WhatsApp refused the message because the user's 24-hour customer-service window is
    /// closed (Graph error 131047): only an approved template can reach them now.
    WindowClosed,
}

impl DeadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::FinalStatus => "final_status",
            DeadReason::AttemptsExhausted => "attempts_exhausted",
            DeadReason::UserUnknown => "user_unknown",
            DeadReason::UserAmbiguous => "user_ambiguous",
            DeadReason::Unreadable => "unreadable",
            DeadReason::Dns => "dns",
            DeadReason::Refused => "refused",
            DeadReason::Tls => "tls",
            DeadReason::Timeout => "timeout",
            DeadReason::Unsupported => "unsupported",
            DeadReason::WindowClosed => "window_closed",
        }
    }
}

impl FromStr for DeadReason {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, UnknownState> {
        DeadReason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| UnknownState {
                what: "DeadReason",
                text: text.to_string(),
                known: &[
                    "final_status",
                    "attempts_exhausted",
                    "user_unknown",
                    "user_ambiguous",
                    "unreadable",
                    "dns",
                    "refused",
                    "tls",
                    "timeout",
                    "unsupported",
                    "window_closed",
                ],
            })
    }
}

impl DeadReason {
    pub const ALL: &'static [DeadReason] = &[
        DeadReason::FinalStatus,
        DeadReason::AttemptsExhausted,
        DeadReason::UserUnknown,
        DeadReason::UserAmbiguous,
        DeadReason::Unreadable,
        DeadReason::Dns,
        DeadReason::Refused,
        DeadReason::Tls,
        DeadReason::Timeout,
        DeadReason::Unsupported,
        DeadReason::WindowClosed,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_stored_name() {
        for s in EventStatus::ALL {
            assert_eq!(s.as_str().parse::<EventStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for r in DeadReason::ALL {
            assert_eq!(r.as_str().parse::<DeadReason>(), Ok(*r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        let unknown = "pendng".parse::<DeliveryStatus>().unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "\"pendng\" is not one of pending, in_flight, done, dead"
        );
    }

    /// Every quoted word in the store's SQL (Rust and migrations) is a state or reason
    /// named here: a typo in a status literal fails this test, not a query at run time.
    #[test]
    fn every_status_literal_in_the_stores_sql_is_a_known_state() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
                    files.push(path);
                }
            }
        }
        let mut seen = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices('\'') {
                let rest = &text[i + 1..];
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if word.is_empty() || !rest[word.len()..].starts_with('\'') {
                    continue;
                }
                // SQL words that are not states: PostgreSQL's text-search configuration
                // and the JSON keys and value types the search index's migration (V4) reads.
                if ["simple", "raw", "text", "integer", "real", "null"].contains(&word.as_str()) {
                    continue;
                }
                seen += 1;
                let known = word.parse::<EventStatus>().is_ok()
                    || word.parse::<DeliveryStatus>().is_ok()
                    || word.parse::<DeadReason>().is_ok();
                assert!(known, "{}: '{word}' is not a known state", file.display());
            }
        }
        assert!(seen > 20, "the store's status literals were found ({seen})");
    }
}
