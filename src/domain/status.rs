//! The states work moves through, named once: an event's status, a delivery's status and
//! why a delivery died. The SQL columns hold `as_str()`; `parse` reads them back.

use serde::{Deserialize, Serialize};

/// Why a delivery failed for good (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    FinalStatus,
    AttemptsExhausted,
    UserUnknown,
    UserAmbiguous,
    /// The stored delivery could not be read back (it is never sent).
    Unreadable,
}

impl DeadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::FinalStatus => "final_status",
            DeadReason::AttemptsExhausted => "attempts_exhausted",
            DeadReason::UserUnknown => "user_unknown",
            DeadReason::UserAmbiguous => "user_ambiguous",
            DeadReason::Unreadable => "unreadable",
        }
    }
}
