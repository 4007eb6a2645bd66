//! Dry runs, shared by `switchboard replay`, `test` and the admin API (replay `?dry_run`,
//! try-it): each decided action as one JSON line (docs/commands.md) with the request it would
//! send, looked-up values shown as placeholders. Nothing is sent and nothing is written.

use serde_json::{json, Value};

use crate::config::{ProviderSettings, Settings};
use crate::domain::actions::DecidedAction;
use crate::domain::event::Event;
use crate::domain::target::UserRef;
use crate::providers;
use crate::rules::Verdict;

/// The actions of a verdict as `replay` prints them, requests included.
pub fn describe(settings: &Settings, event: &Event, verdict: &Verdict) -> Vec<Value> {
    verdict
        .actions()
        .map(|action| action_line(settings, event, action))
        .collect()
}

/// One action as `replay` prints it (docs/commands.md), with its dry-run request.
pub fn action_line(settings: &Settings, event: &Event, action: &DecidedAction) -> Value {
    json!({
        "event_id": event.event_id,
        "source": event.source,
        "rule": action.rule,
        "seq": action.seq,
        "action": action.action.as_str(),
        "provider": action.provider,
        "params": action.params,
        "request": dry_request(&settings.providers[&action.provider], action),
    })
}

/// The request as a dry run shows it: looked-up values as placeholders; a
/// `{"dead_letter": reason}` note when nothing names the user at that provider or the
/// provider cannot carry the action out.
pub fn dry_request(provider: &ProviderSettings, action: &DecidedAction) -> Value {
    let user = match &action.target.user {
        UserRef::Known { value } => value.clone(),
        UserRef::NotNeeded => String::new(),
        UserRef::LookupPhone { digits } => providers::lookup_placeholder(provider, digits),
        UserRef::Unknown => return json!({"dead_letter": "user_unknown"}),
    };
    match providers::request(provider, &action.as_action(), &action.target, &user) {
        Ok(request) => json!(request),
        Err(unsupported) => {
            json!({"dead_letter": "unsupported", "message": unsupported.to_string()})
        }
    }
}
