//! The functions rules call (docs/rule-api.md). Action functions append to the running rule's
//! buffer; the buffer becomes the rule's actions only if the rule completes. The running
//! rule's context lives in a thread-local: a rule runs start to finish on one thread, and
//! Rhai's native functions have no other per-run slot that reaches them.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map as RhaiMap, Position};
use serde_json::{json, Map, Value};

use super::routing::{RouteError, Routes};
use super::ruleset::RuleEnv;
use crate::domain::actions::{Action, ActionKind, DecidedAction};
use crate::domain::decision::MemoryWrite;
use crate::domain::event::{digits, Event};
use crate::providers;

type RhaiResult = Result<(), Box<EvalAltResult>>;

/// What one rule run can see and has recorded so far.
pub(super) struct RunContext {
    pub env: Arc<RuleEnv>,
    pub event: Arc<Event>,
    pub rule: String,
    pub actions: Vec<DecidedAction>,
    pub memory: Memory,
    pub stopped: bool,
    pub deadline: Instant,
    pub timed_out: bool,
}

/// The user's memory during one event: what earlier events and earlier rules of this event
/// stored, plus this rule's writes, which count only if the rule completes.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// `(source, user id)`; `None` when the event names no user.
    pub owner: Option<(String, String)>,
    pub values: Map<String, Value>,
    /// Writes of rules that completed, in order.
    pub kept: Vec<MemoryWrite>,
    /// The running rule's writes.
    pub pending: Vec<MemoryWrite>,
}

impl Memory {
    fn get(&self, key: &str) -> Option<&Value> {
        match self.pending.iter().rev().find(|w| w.key == key) {
            Some(write) => write.value.as_ref(),
            None => self.values.get(key),
        }
    }

    /// The running rule completed: its writes count.
    pub fn keep(&mut self) {
        for write in self.pending.drain(..) {
            match &write.value {
                Some(v) => self.values.insert(write.key.clone(), v.clone()),
                None => self.values.remove(&write.key),
            };
            self.kept.push(write);
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
}

/// Install a rule's context for the duration of `f` and hand it back afterwards.
pub(super) fn with_context<T>(context: RunContext, f: impl FnOnce() -> T) -> (T, RunContext) {
    CONTEXT.with(|c| *c.borrow_mut() = Some(context));
    let value = f();
    let context = CONTEXT
        .with(|c| c.borrow_mut().take())
        .expect("the rule context is installed while the rule runs");
    (value, context)
}

fn with_running<T>(f: impl FnOnce(&mut RunContext) -> T) -> Option<T> {
    CONTEXT.with(|c| c.borrow_mut().as_mut().map(f))
}

pub(super) fn past_deadline() -> bool {
    with_running(|ctx| {
        if Instant::now() >= ctx.deadline {
            ctx.timed_out = true;
        }
        ctx.timed_out
    })
    .unwrap_or(false)
}

pub(super) fn log_line(text: &str) {
    let logged = with_running(|ctx| {
        tracing::info!(event_id = %ctx.event.event_id, rule = %ctx.rule, "rule log: {text}");
    });
    if logged.is_none() {
        tracing::info!("rule log: {text}");
    }
}

fn error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

/// The error `stop()` raises to end the rule at once; the runner knows it by the flag.
pub(super) const STOP_MARKER: &str = "__switchboard_stop__";

/// Record one action aimed at `explicit` (a `provider(...)` handle) or the default route.
fn record(explicit: Option<&str>, action: Action) -> RhaiResult {
    with_running(|ctx| {
        let (provider, target) =
            choose(ctx, explicit, &action).map_err(|e| error(e.to_string()))?;
        ctx.actions.push(DecidedAction {
            rule: ctx.rule.clone(),
            seq: 0,
            action: action.action,
            provider,
            params: action.params,
            target,
        });
        Ok(())
    })
    .unwrap_or_else(|| Err(error("actions can only be recorded while a rule runs")))
}

/// Why an action a rule took cannot be recorded: the rule error's words.
#[derive(Debug, thiserror::Error)]
enum Unrecordable {
    #[error("source \"{0}\" is not configured")]
    UnknownSource(String),
    /// No provider to go to (docs/providers.md).
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The provider chosen cannot take the action as given, or cannot tell who the user is.
    #[error(transparent)]
    Action(#[from] providers::ActionError),
}

/// docs/providers.md: the named provider; else the source's provider if it can; else
/// `[routing]`; else a rule error. Then the platform's limits and who the user is there.
fn choose(
    ctx: &RunContext,
    explicit: Option<&str>,
    action: &Action,
) -> Result<(String, providers::Target), Unrecordable> {
    let env = &ctx.env;
    let source = env
        .sources
        .get(&ctx.event.source)
        .ok_or_else(|| Unrecordable::UnknownSource(ctx.event.source.clone()))?;
    let routes = Routes {
        providers: &env.providers,
        routing: &env.routing,
    };
    let name = routes.route(source, explicit, action.action)?;
    let provider = &env.providers[&name];
    providers::validate(provider, action)?;
    let target = providers::target(provider, source, &ctx.event, action.action)?;
    Ok((name, target))
}

/// A `provider("name")` handle: the action functions as methods, aimed at that provider.
#[derive(Debug, Clone)]
pub struct ProviderHandle {
    name: ImmutableString,
}

fn set_state(state: &str, ttl: Option<i64>) -> Result<Action, Box<EvalAltResult>> {
    let mut params = vec![("state", json!(state))];
    if let Some(ttl) = ttl {
        if ttl <= 0 {
            return Err(error(format!(
                "set_manual(ttl): ttl must be a positive number of seconds, got {ttl}"
            )));
        }
        params.push(("ttl", json!(ttl)));
    }
    Ok(Action::new(ActionKind::SetUserState, params))
}

fn call_button(header: Option<&str>, text: &str, display_text: &str) -> Action {
    let mut params = Vec::new();
    if let Some(header) = header {
        params.push(("header", json!(header)));
    }
    params.push(("text", json!(text)));
    params.push(("display_text", json!(display_text)));
    Action::new(ActionKind::SendCallButton, params)
}

fn close(category: Option<&str>, summary: Option<&str>) -> Action {
    let mut params = vec![("status", json!("close"))];
    if let Some(c) = category {
        params.push(("category", json!(c)));
    }
    if let Some(s) = summary {
        params.push(("summary", json!(s)));
    }
    Action::new(ActionKind::SetConversationStatus, params)
}

fn named(kind: ActionKind, name: &str) -> Result<Action, Box<EvalAltResult>> {
    if name.trim().is_empty() {
        return Err(error(format!("{}: the name is empty", kind.as_str())));
    }
    Ok(Action::new(kind, [("name", json!(name))]))
}

fn to_json(value: &Dynamic, what: &str) -> Result<Value, Box<EvalAltResult>> {
    rhai::serde::from_dynamic::<Value>(value)
        .map_err(|e| error(format!("{what}: cannot be turned into JSON: {e}")))
}

/// `send_contact_card(contact)`: a friendly map becomes one Jelou contact (docs/rule-api.md).
fn contact_card(contact: RhaiMap) -> Result<Action, Box<EvalAltResult>> {
    let mut card = Map::new();
    for (key, value) in contact {
        let text = || {
            value
                .clone()
                .into_immutable_string()
                .map(|s| s.to_string())
                .map_err(|t| {
                    error(format!(
                        "send_contact_card: `{key}` must be a string, not {t}"
                    ))
                })
        };
        match key.as_str() {
            "name" => {
                if value.is_map() {
                    let name = to_json(&value, "send_contact_card: name")?;
                    let allowed = ["formatted_name", "first_name", "last_name"];
                    if let Some(bad) = name
                        .as_object()
                        .and_then(|m| m.keys().find(|k| !allowed.contains(&k.as_str())))
                    {
                        return Err(error(format!(
                            "send_contact_card: name has an unknown key `{bad}` (allowed: formatted_name, first_name, last_name)"
                        )));
                    }
                    card.insert("name".into(), name);
                } else {
                    let s = text()?;
                    card.insert("name".into(), json!({"formatted_name": s, "first_name": s}));
                }
            }
            "phone" => {
                let raw = text()?;
                let phone = crate::domain::event::e164(&raw).ok_or_else(|| {
                    error(format!(
                        "send_contact_card: phone {raw:?} cannot be written in E.164 (a + and 8 to 15 digits, country code first, e.g. \"+573001234567\")"
                    ))
                })?;
                card.insert(
                    "phones".into(),
                    json!([{"phone": phone, "type": "Mobile", "wa_id": digits(&phone)}]),
                );
            }
            "email" => {
                card.insert("emails".into(), json!([{"email": text()?, "type": "Work"}]));
            }
            "company" => {
                card.insert("org".into(), json!({"company": text()?}));
            }
            "address" => {
                card.insert("addresses".into(), json!([{"street": text()?}]));
            }
            other => {
                return Err(error(format!(
                    "send_contact_card: unknown key `{other}` (allowed: name, phone, email, company, address)"
                )))
            }
        }
    }
    Ok(Action::new(
        ActionKind::SendContacts,
        [("contacts", json!([card]))],
    ))
}

fn contacts(list: Array) -> Result<Action, Box<EvalAltResult>> {
    let mut value = to_json(&Dynamic::from_array(list), "send_contacts")?;
    // Every `phones[].phone` in E.164 (docs/providers.md); a phone that cannot be is an error.
    for contact in value.as_array_mut().into_iter().flatten() {
        let phones = contact.get_mut("phones").and_then(Value::as_array_mut);
        for phone in phones.into_iter().flatten() {
            let Some(raw) = phone
                .get("phone")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            let e164 = crate::domain::event::e164(&raw).ok_or_else(|| {
                error(format!(
                    "send_contacts: phone {raw:?} cannot be written in E.164 (a + and 8 to 15 digits, country code first, e.g. \"+573001234567\")"
                ))
            })?;
            phone["phone"] = json!(e164);
        }
    }
    Ok(Action::new(ActionKind::SendContacts, [("contacts", value)]))
}

/// Registers one action function both as a global function and as a method of
/// `ProviderHandle`, so `add_tag("x")` and `provider("uchat").add_tag("x")` share a body.
macro_rules! action_fn {
    ($engine:ident, $name:literal, ($($arg:ident : $ty:ty),*) => $build:expr) => {
        $engine.register_fn($name, |$($arg: $ty),*| -> RhaiResult { record(None, $build?) });
        $engine.register_fn($name, |handle: &mut ProviderHandle, $($arg: $ty),*| -> RhaiResult {
            record(Some(handle.name.as_str()), $build?)
        });
    };
}

/// `memory_set(key, value[, ttl])`: `()` deletes; any JSON-representable value is kept.
fn memory_set(key: &str, value: Dynamic, ttl: Option<i64>) -> RhaiResult {
    if key.is_empty() {
        return Err(error("memory_set: the key is empty"));
    }
    let value = if value.is_unit() {
        None
    } else {
        Some(to_json(&value, "memory_set: the value")?)
    };
    with_running(|ctx| {
        let (source, user_id) = ctx.memory.owner.clone().ok_or_else(|| {
            error("memory_set: this event names no user (event.user.id is empty), so there is nowhere to remember")
        })?;
        // A ttl too large to add to the clock never expires; one too far below zero has
        // expired already (found by fuzzing: unchecked, this overflowed).
        let expires_at = ttl.and_then(|t| {
            match t
                .checked_mul(1000)
                .and_then(|ms| ctx.event.received_at.checked_add(ms))
            {
                Some(at) => Some(at),
                None if t > 0 => None,
                None => Some(i64::MIN),
            }
        });
        ctx.memory.pending.push(MemoryWrite {
            source,
            user_id,
            key: key.to_string(),
            value,
            expires_at,
        });
        Ok(())
    })
    .unwrap_or_else(|| Err(error("memory can only be used while a rule runs")))
}

/// `set_field(name, value)`: UChat stores field values as strings (its OpenAPI), so text
/// stays text and numbers and true/false are written out; anything else is a rule error.
fn set_field(name: &str, value: Dynamic) -> Result<Action, Box<EvalAltResult>> {
    if name.trim().is_empty() {
        return Err(error("set_field: the field name is empty"));
    }
    let text = if value.is_string() || value.is_int() || value.is_float() || value.is_bool() {
        value.to_string()
    } else {
        return Err(error(format!(
            "set_field({name:?}, ...): the value must be text, a number or true/false, not {}",
            value.type_name()
        )));
    };
    Ok(Action::new(
        ActionKind::SetField,
        [("name", json!(name)), ("value", json!(text))],
    ))
}

fn send_flow(flow_ns: &str) -> Result<Action, Box<EvalAltResult>> {
    if flow_ns.trim().is_empty() {
        return Err(error("send_flow: the flow id (flow_ns) is empty"));
    }
    Ok(Action::new(
        ActionKind::SendFlow,
        [("flow_ns", json!(flow_ns))],
    ))
}

/// `send_message(map)`: a message in the platform's own shape; the provider adds who the
/// user is (and checks the map's keys when the rule records it).
fn send_message(message: RhaiMap) -> Result<Action, Box<EvalAltResult>> {
    let value = to_json(&Dynamic::from_map(message), "send_message")?;
    Ok(Action::new(ActionKind::SendMessage, [("message", value)]))
}

/// `provider(name).request(method, path, body)`: method and path are checked here (and
/// again against the provider's base URL when the action is recorded); `()` sends no body.
fn provider_request(method: &str, path: &str, body: Dynamic) -> Result<Action, Box<EvalAltResult>> {
    let method = providers::provider_request::method(method).map_err(|e| error(e.to_string()))?;
    providers::provider_request::path(path).map_err(|e| error(e.to_string()))?;
    let mut params = vec![("method", json!(method)), ("path", json!(path))];
    if !body.is_unit() {
        params.push(("body", to_json(&body, "request: the body")?));
    }
    Ok(Action::new(ActionKind::ProviderRequest, params))
}

fn ok(action: Action) -> Result<Action, Box<EvalAltResult>> {
    Ok(action)
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ProviderHandle>("Provider");
    engine.register_fn("provider", |name: ImmutableString| ProviderHandle { name });

    action_fn!(engine, "set_manual", () => set_state("manual", None));
    action_fn!(engine, "set_manual", (ttl: i64) => set_state(
        "manual",
        Some(ttl)
    ));
    action_fn!(engine, "set_auto", () => set_state("auto", None));
    action_fn!(engine, "send_text", (text: &str) => ok(Action::new(
        ActionKind::SendText,
        [("text", json!(text))]
    )));
    action_fn!(engine, "send_contact_card", (contact: RhaiMap) => contact_card(contact)
    );
    action_fn!(engine, "send_contacts", (list: Array) => contacts(list));
    action_fn!(engine, "send_call_button", (text: &str, display_text: &str) => ok(call_button(None, text, display_text))
    );
    action_fn!(engine, "send_call_button", (header: &str, text: &str, display_text: &str) => ok(call_button(
            Some(header),
            text,
            display_text
        ))
    );
    action_fn!(engine, "add_tag", (name: &str) => named(
        ActionKind::AddTag,
        name
    ));
    action_fn!(engine, "remove_tag", (name: &str) => named(
        ActionKind::RemoveTag,
        name
    ));
    action_fn!(engine, "add_label", (name: &str) => named(
        ActionKind::AddLabel,
        name
    ));
    action_fn!(engine, "remove_label", (name: &str) => named(
        ActionKind::RemoveLabel,
        name
    ));
    action_fn!(engine, "close_conversation", () => ok(close(None, None)));
    action_fn!(engine, "close_conversation", (category: &str, summary: &str) => ok(close(Some(category), Some(summary)))
    );
    action_fn!(engine, "open_conversation", () => ok(Action::new(
        ActionKind::SetConversationStatus,
        [("status", json!("open"))]
    )));

    action_fn!(engine, "set_field", (name: &str, value: Dynamic) => set_field(name, value));
    action_fn!(engine, "send_flow", (flow_ns: &str) => send_flow(flow_ns));
    action_fn!(engine, "send_message", (message: RhaiMap) => send_message(message));
    // Only as a method: a request goes to the provider the rule names, never routed.
    engine.register_fn(
        "request",
        |handle: &mut ProviderHandle, method: &str, path: &str, body: Dynamic| -> RhaiResult {
            record(
                Some(handle.name.as_str()),
                provider_request(method, path, body)?,
            )
        },
    );

    engine.register_fn(
        "memory_get",
        |key: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            with_running(|ctx| match ctx.memory.get(key) {
                Some(value) => Ok(super::convert::to_dynamic(value)),
                None => Ok(Dynamic::UNIT),
            })
            .unwrap_or(Ok(Dynamic::UNIT))
        },
    );
    engine.register_fn("memory_set", |key: &str, value: Dynamic| {
        memory_set(key, value, None)
    });
    engine.register_fn("memory_set", |key: &str, value: Dynamic, ttl: i64| {
        if ttl <= 0 {
            return Err(error(format!(
                "memory_set: ttl must be a positive number of seconds, got {ttl}"
            )));
        }
        memory_set(key, value, Some(ttl))
    });
    engine.register_fn(
        "within_hours",
        |schedule: &str, timezone: &str| -> Result<bool, Box<EvalAltResult>> {
            let at = with_running(|ctx| ctx.event.received_at)
                .unwrap_or_else(crate::domain::event::now_millis);
            super::hours::within_hours(schedule, timezone, at)
                .map_err(|e| error(format!("within_hours: {e}")))
        },
    );

    engine.register_fn("log", |message: Dynamic| {
        let text = message.to_string();
        log_line(&text);
    });
    engine.register_fn("stop", || -> RhaiResult {
        with_running(|ctx| ctx.stopped = true);
        Err(error(STOP_MARKER))
    });
}
