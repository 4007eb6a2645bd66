//! Actions (docs/rule-api.md): the closed set of things a rule can decide, with their params.
//! An action says *what* to do; which request carries it out is the provider's business
//! (`providers`), and who the user is there is decided per provider (`providers::identity`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The action kinds, as named in rule output, fixtures and the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    SetUserState,
    SendText,
    SendContacts,
    SendCallButton,
    AddTag,
    RemoveTag,
    AddLabel,
    RemoveLabel,
    SetConversationStatus,
    /// `provider(name).request(method, path, body)`: any endpoint of that provider (docs/rule-api.md).
    ProviderRequest,
    /// UChat: set a custom field by its name.
    SetField,
    /// UChat: start a sub-flow.
    SendFlow,
    /// A message map in the platform's own shape (Jelou, WhatsApp).
    SendMessage,
}

/// The `[routing]` keys: which family an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionFamily {
    Tag,
    Label,
    Conversation,
    State,
    Message,
}

impl ActionFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionFamily::Tag => "tag",
            ActionFamily::Label => "label",
            ActionFamily::Conversation => "conversation",
            ActionFamily::State => "state",
            ActionFamily::Message => "message",
        }
    }
}

impl ActionKind {
    pub const ALL: [ActionKind; 13] = [
        ActionKind::SetUserState,
        ActionKind::SendText,
        ActionKind::SendContacts,
        ActionKind::SendCallButton,
        ActionKind::AddTag,
        ActionKind::RemoveTag,
        ActionKind::AddLabel,
        ActionKind::RemoveLabel,
        ActionKind::SetConversationStatus,
        ActionKind::ProviderRequest,
        ActionKind::SetField,
        ActionKind::SendFlow,
        ActionKind::SendMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::SetUserState => "set_user_state",
            ActionKind::SendText => "send_text",
            ActionKind::SendContacts => "send_contacts",
            ActionKind::SendCallButton => "send_call_button",
            ActionKind::AddTag => "add_tag",
            ActionKind::RemoveTag => "remove_tag",
            ActionKind::AddLabel => "add_label",
            ActionKind::RemoveLabel => "remove_label",
            ActionKind::SetConversationStatus => "set_conversation_status",
            ActionKind::ProviderRequest => "provider_request",
            ActionKind::SetField => "set_field",
            ActionKind::SendFlow => "send_flow",
            ActionKind::SendMessage => "send_message",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The `[routing]` key that routes this action; `None` for `provider_request`, which
    /// goes only to the provider the rule named (docs/providers.md).
    pub fn family(self) -> Option<ActionFamily> {
        Some(match self {
            ActionKind::SetUserState => ActionFamily::State,
            ActionKind::SendText
            | ActionKind::SendContacts
            | ActionKind::SendCallButton
            | ActionKind::SendMessage => ActionFamily::Message,
            ActionKind::AddTag | ActionKind::RemoveTag => ActionFamily::Tag,
            // "As add_tag" (docs/providers.md): routed by `[routing] tag`.
            ActionKind::SetField | ActionKind::SendFlow => ActionFamily::Tag,
            ActionKind::AddLabel | ActionKind::RemoveLabel => ActionFamily::Label,
            ActionKind::SetConversationStatus => ActionFamily::Conversation,
            ActionKind::ProviderRequest => return None,
        })
    }
}

/// One decided action: its kind and its params (absent optional keys omitted, never null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub action: ActionKind,
    pub params: Map<String, Value>,
}

impl Action {
    pub fn new(
        action: ActionKind,
        params: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Self {
        Action {
            action,
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    pub fn str_param(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
}

/// An action with the provider it goes to and who the user is there: what a rule records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecidedAction {
    /// The rule file that decided it.
    pub rule: String,
    /// 0-based position in the event, across all rules.
    pub seq: usize,
    pub action: ActionKind,
    pub provider: String,
    pub params: Map<String, Value>,
    /// Who the user is at that provider (docs/providers.md).
    pub target: super::target::Target,
}

impl DecidedAction {
    pub fn as_action(&self) -> Action {
        Action {
            action: self.action,
            params: self.params.clone(),
        }
    }
}
