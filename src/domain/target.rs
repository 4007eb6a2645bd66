//! Where an action goes: who the user is at a provider (decided when the rule runs) and
//! the HTTP request that carries the action out, as stored and shown (never headers).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who the user is at one provider, decided when the rule runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum UserRef {
    /// Known outright: Jelou `userId`, UChat `user_ns`, Aelyst `{identifier}`.
    Known { value: String },
    /// UChat only: the `user_ns` is looked up by phone when the delivery runs.
    LookupPhone { digits: String },
    /// Nothing names the user at this provider: the delivery is dead-lettered `user_unknown`.
    Unknown,
    /// The action names no user (`provider_request`: the rule wrote the whole request).
    NotNeeded,
}

/// The addressee of one action at its provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    pub user: UserRef,
    /// Jelou: the bot that speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
}

/// One HTTP request, as printed by `replay` and stored with a delivery (never headers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}
