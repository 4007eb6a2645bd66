//! `switchboard check`'s rule analysis (docs/rule-api.md), without running anything: syntax
//! errors; calls to unknown functions; argument counts no signature accepts; a literal
//! `provider("x")` that is not configured; an action the provider it would go to cannot
//! carry out (a literal `provider(...)`, or `[routing]`, or — when no configured source's
//! own provider could — every route). Actions whose provider depends on the event at run
//! time are not reported.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Dynamic, Engine, Expr, ImmutableString, Position, Stmt, AST};

use super::routing::Routes;
use super::ruleset::{compile_file, list_rule_files, Problem};
use crate::config::Settings;
use crate::domain::actions::ActionKind;
use crate::providers;

/// Rhai's built-in functions that are not registered anywhere (any number of arguments).
const BUILT_INS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "eval",
];

/// Every function an engine knows, by name, with the argument counts it accepts.
pub(super) fn known_functions(engine: &Engine) -> BTreeMap<String, BTreeSet<usize>> {
    let mut known: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let handle = TypeId::of::<super::api::ProviderHandle>();
    for (name, arity) in engine.collect_fn_metadata(
        None,
        // The `provider(...)` handle's methods mirror the plain functions; leave them out
        // so that `add_tag("a", "b")` is not taken for a method call with a handle.
        |info| {
            (info.metadata.param_types.first() != Some(&handle))
                .then(|| (info.metadata.name.to_string(), info.metadata.num_params))
        },
        true,
    ) {
        known.entry(name).or_default().insert(arity);
    }
    known
}

/// The parameter types of every overload of every function, by name and arity (the
/// provider handle's methods left out, as above).
type Signatures = BTreeMap<(String, usize), Vec<Vec<TypeId>>>;

fn signatures(engine: &Engine) -> Signatures {
    let handle = TypeId::of::<super::api::ProviderHandle>();
    let mut all: Signatures = BTreeMap::new();
    for (name, types) in engine.collect_fn_metadata(
        None,
        |info| {
            (info.metadata.param_types.first() != Some(&handle)).then(|| {
                (
                    info.metadata.name.to_string(),
                    info.metadata.param_types.to_vec(),
                )
            })
        },
        true,
    ) {
        all.entry((name, types.len())).or_default().push(types);
    }
    all
}

/// The type of a literal argument, and how to say it to a person.
fn literal_type(expr: &Expr) -> Option<(TypeId, &'static str)> {
    Some(match expr {
        Expr::StringConstant(..) | Expr::InterpolatedString(..) => {
            (TypeId::of::<ImmutableString>(), "text")
        }
        Expr::IntegerConstant(..) => (TypeId::of::<rhai::INT>(), "a whole number"),
        Expr::FloatConstant(..) => (TypeId::of::<rhai::FLOAT>(), "a decimal number"),
        Expr::BoolConstant(..) => (TypeId::of::<bool>(), "true or false"),
        Expr::CharConstant(..) => (TypeId::of::<char>(), "a character"),
        Expr::Array(..) => (TypeId::of::<rhai::Array>(), "a list"),
        Expr::Map(..) => (TypeId::of::<rhai::Map>(), "a map"),
        _ => return None,
    })
}

/// A literal argument of a type no overload of the function takes (`add_tag(42)`).
fn literal_type_problem(signatures: &Signatures, name: &str, args: &[Expr]) -> Option<String> {
    let overloads = signatures.get(&(name.to_string(), args.len()))?;
    let dynamic = TypeId::of::<Dynamic>();
    let accepts = |types: &[TypeId]| {
        args.iter().zip(types).all(|(arg, want)| {
            literal_type(arg).is_none_or(|(got, _)| *want == dynamic || *want == got)
        })
    };
    if overloads.iter().any(|types| accepts(types)) {
        return None;
    }
    // Name the first literal that no overload takes at its place.
    let (n, shown) = args.iter().enumerate().find_map(|(n, arg)| {
        let (got, shown) = literal_type(arg)?;
        overloads
            .iter()
            .all(|types| types[n] != dynamic && types[n] != got)
            .then_some((n, shown))
    })?;
    let wanted: BTreeSet<&str> = overloads
        .iter()
        .filter_map(|types| type_word(types[n]))
        .collect();
    Some(format!(
        "{name}(): argument {} is {shown}, but {name} takes {} there",
        n + 1,
        wanted.into_iter().collect::<Vec<_>>().join(" or ")
    ))
}

fn type_word(id: TypeId) -> Option<&'static str> {
    Some(if id == TypeId::of::<ImmutableString>() {
        "text"
    } else if id == TypeId::of::<rhai::INT>() {
        "a whole number"
    } else if id == TypeId::of::<rhai::FLOAT>() {
        "a decimal number"
    } else if id == TypeId::of::<bool>() {
        "true or false"
    } else if id == TypeId::of::<rhai::Array>() {
        "a list"
    } else if id == TypeId::of::<rhai::Map>() {
        "a map"
    } else {
        return None;
    })
}

/// The action a rule-API function records, by its name.
fn action_of(name: &str) -> Option<ActionKind> {
    Some(match name {
        "set_manual" | "set_auto" => ActionKind::SetUserState,
        "send_text" => ActionKind::SendText,
        "send_contact_card" | "send_contacts" => ActionKind::SendContacts,
        "send_call_button" => ActionKind::SendCallButton,
        "add_tag" => ActionKind::AddTag,
        "remove_tag" => ActionKind::RemoveTag,
        "add_label" => ActionKind::AddLabel,
        "remove_label" => ActionKind::RemoveLabel,
        "close_conversation" | "open_conversation" => ActionKind::SetConversationStatus,
        "set_field" => ActionKind::SetField,
        "send_flow" => ActionKind::SendFlow,
        "send_message" => ActionKind::SendMessage,
        // Only as a method of `provider(...)`.
        "request" => ActionKind::ProviderRequest,
        _ => return None,
    })
}

/// Check every rule file in the configured folder and its `shadow/`; every problem of every
/// file.
pub fn check_rules(engine: &Engine, settings: &Settings) -> Vec<Problem> {
    let dir = &settings.rules.dir;
    let files = match list_rule_files(dir) {
        Ok(files) => files,
        Err(e) => {
            return vec![Problem {
                path: dir.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read the rules folder: {e}"),
            }]
        }
    };
    // Shadow rules (docs/rule-api.md) are rules too: `serve` refuses to start on a broken one.
    let shadow = dir.join("shadow");
    let shadow_files = if shadow.is_dir() {
        list_rule_files(&shadow).unwrap_or_default()
    } else {
        Vec::new()
    };
    let known = known_functions(engine);
    let signatures = signatures(engine);
    let mut problems = Vec::new();
    for file in files.into_iter().chain(shadow_files) {
        match compile_file(engine, &file) {
            Err(problem) => problems.push(problem),
            Ok(ast) => problems.extend(check_ast(
                &file.display().to_string(),
                &ast,
                &known,
                &signatures,
                settings,
            )),
        }
    }
    problems
}

fn check_ast(
    path: &str,
    ast: &AST,
    known: &BTreeMap<String, BTreeSet<usize>>,
    signatures: &Signatures,
    settings: &Settings,
) -> Vec<Problem> {
    let mut known = known.clone();
    for f in ast.iter_functions() {
        known
            .entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
    }
    let mut problems = Vec::new();
    let mut report = |pos: Position, message: String| {
        problems.push(Problem {
            path: path.to_string(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
        });
    };
    ast.walk(&mut |nodes: &[ASTNode]| {
        // A call on its own is a statement; inside an expression it is an expression.
        let call = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) | Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => {
                Some((call, pos))
            }
            _ => None,
        };
        match nodes.last() {
            _ if call.is_some() => {
                let (call, pos) = call.expect("matched above");
                if !call.is_operator_call() && !call.is_qualified() {
                    let name = call.name.as_str();
                    if name == "request" && !known.contains_key("request") {
                        report(
                            *pos,
                            "request() goes to one provider only: call it on a provider, e.g. provider(\"uchat\").request(\"GET\", \"/subscriber/get-info?user_ns=...\", ())".into(),
                        );
                    } else if let Some(message) = arity_problem(&known, name, call.args.len(), false) {
                        report(*pos, message);
                    } else if let Some(message) = literal_type_problem(signatures, name, &call.args) {
                        report(*pos, message);
                    } else if name == "provider" {
                        if let Some(Expr::StringConstant(provider, _)) = call.args.first() {
                            if !settings.providers.contains_key(provider.as_str()) {
                                report(
                                    *pos,
                                    format!(
                                        "provider(\"{provider}\"): no provider \"{provider}\" is configured (configured: {})",
                                        settings.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                                    ),
                                );
                            }
                        }
                    } else if let Some(kind) = action_of(name) {
                        if let Some(message) = route_problem(settings, kind, name) {
                            report(*pos, message);
                        }
                    }
                }
            }
            Some(ASTNode::Expr(Expr::Dot(dot, _, _))) => {
                if let Some((message, pos)) = event_field_problem(&dot.lhs, &dot.rhs) {
                    report(pos, message);
                }
                if let Expr::MethodCall(method, pos) = &dot.rhs {
                    let name = method.name.as_str();
                    // A provider handle's action methods take what the plain function takes.
                    let problem = if name == "request" {
                        request_problem(&method.args, literal_provider(&dot.lhs).and_then(|p| settings.providers.get(p)))
                    } else if action_of(name).is_some() {
                        arity_problem(&known, name, method.args.len(), false)
                            .or_else(|| literal_type_problem(signatures, name, &method.args))
                    } else {
                        arity_problem(&known, name, method.args.len() + 1, true)
                    };
                    if let Some(message) = problem {
                        report(*pos, message);
                    } else if let (Some(kind), Some(provider)) = (action_of(name), literal_provider(&dot.lhs)) {
                        if let Some(p) = settings.providers.get(provider) {
                            if !providers::supports(p.kind, kind) {
                                report(
                                    *pos,
                                    format!(
                                        "provider(\"{provider}\").{name}(): {} providers cannot carry out {}",
                                        p.kind.as_str(),
                                        kind.as_str()
                                    ),
                                );
                            } else if kind == ActionKind::SendCallButton
                                && p.kind == crate::config::ProviderKind::Whatsapp
                                && p.call_phone.is_none()
                            {
                                report(
                                    *pos,
                                    format!(
                                        "provider(\"{provider}\").{name}(): provider \"{provider}\" has no `call_phone` in switchboard.toml, the number a WhatsApp call button dials"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    problems
}

/// The fields of `event` (docs/rule-api.md), and of its parts; `raw` holds anything.
const EVENT_FIELDS: &[&str] = &[
    "id",
    "event_id",
    "source",
    "provider",
    "kind",
    "user",
    "bot_id",
    "conversation_id",
    "message",
    "text",
    "tags",
    "raw",
    "received_at",
];
const USER_FIELDS: &[&str] = &["id", "phone", "email", "name", "ns"];
const MESSAGE_FIELDS: &[&str] = &["id", "type", "text", "status"];

/// A read of a field docs/rule-api.md does not define (`event.txt`, `event.user.nmae`): the
/// message, with the nearest defined name, and where. Reads under `event.raw` are free.
fn event_field_problem(lhs: &Expr, rhs: &Expr) -> Option<(String, Position)> {
    let Expr::Variable(variable, _, _) = lhs else {
        return None;
    };
    if variable.1.as_str() != "event" {
        return None;
    }
    // `a.b.c` nests to the right: the properties read, in order, until a method call.
    let mut path: Vec<(&str, Position)> = Vec::new();
    let mut next = Some(rhs);
    while let Some(expr) = next {
        next = None;
        match expr {
            Expr::Property(property, pos) => path.push((property.2.as_str(), *pos)),
            Expr::Dot(inner, _, _) | Expr::Index(inner, _, _) => {
                if let Expr::Property(property, pos) = &inner.lhs {
                    path.push((property.2.as_str(), *pos));
                    if matches!(expr, Expr::Dot(..)) {
                        next = Some(&inner.rhs);
                    }
                }
            }
            _ => {}
        }
    }
    let mut allowed = EVENT_FIELDS;
    let mut shown = String::from("event");
    for (name, pos) in path {
        if !allowed.contains(&name) {
            let suggestion = allowed
                .iter()
                .map(|k| (strsim::levenshtein(k, name), *k))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, k)| format!("; did you mean {shown}.{k}?"))
                .unwrap_or_else(|| format!(" (it has: {})", allowed.join(", ")));
            return Some((
                format!("{shown}.{name} is not a field of the event{suggestion}"),
                pos,
            ));
        }
        shown = format!("{shown}.{name}");
        allowed = match name {
            "user" if shown == "event.user" => USER_FIELDS,
            "message" if shown == "event.message" => MESSAGE_FIELDS,
            // `raw` is the payload as the platform sent it; anything below is fine, and so
            // is anything below a plain value (a method call on text, say).
            _ => return None,
        };
    }
    None
}

/// `provider(...).request(method, path, body)`: three arguments; a literal method must be a
/// plain HTTP verb and a literal path a plain path below the provider's `base_url` (when the
/// provider is named literally), as the rule would find out when it runs.
fn request_problem(
    args: &[Expr],
    provider: Option<&crate::config::ProviderSettings>,
) -> Option<String> {
    use providers::provider_request;
    if args.len() != 3 {
        return Some(format!(
            "request() takes 3 argument(s) (method, path, body), not {}",
            args.len()
        ));
    }
    for (n, arg) in args.iter().take(2).enumerate() {
        if let Some((_, shown)) = literal_type(arg) {
            if !matches!(arg, Expr::StringConstant(..) | Expr::InterpolatedString(..)) {
                return Some(format!(
                    "request(): argument {} is {shown}, but request takes text there",
                    n + 1
                ));
            }
        }
    }
    if let Expr::StringConstant(method, _) = &args[0] {
        if let Err(e) = provider_request::method(method) {
            return Some(e.to_string());
        }
    }
    if let Expr::StringConstant(path, _) = &args[1] {
        if let Err(e) = provider_request::path(path) {
            return Some(e.to_string());
        }
        if let Some(p) = provider {
            let joined = format!(
                "{}/{}",
                p.base_url.trim_end_matches('/'),
                path.trim_start_matches('/')
            );
            if let Err(e) = provider_request::stays_below(&p.base_url, &joined, path) {
                return Some(e.to_string());
            }
        }
    }
    None
}

/// `provider("x")` with a literal name: the name.
fn literal_provider(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::FnCall(call, _) if call.name.as_str() == "provider" => match call.args.first() {
            Some(Expr::StringConstant(name, _)) => Some(name.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn arity_problem(
    known: &BTreeMap<String, BTreeSet<usize>>,
    name: &str,
    arity: usize,
    method: bool,
) -> Option<String> {
    if BUILT_INS.contains(&name) {
        return None;
    }
    let shown = |n: usize| if method { n.saturating_sub(1) } else { n };
    match known.get(name) {
        None => {
            let suggestion = known
                .keys()
                .filter(|k| k.chars().next().is_some_and(char::is_alphabetic))
                .map(|k| (strsim::levenshtein(k, name), k))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, k)| format!("; did you mean {k}?"))
                .unwrap_or_default();
            Some(format!("unknown function {name}(){suggestion}"))
        }
        Some(arities) if !arities.contains(&arity) => {
            let accepted: Vec<String> = arities.iter().map(|n| shown(*n).to_string()).collect();
            Some(format!(
                "{name}() takes {} argument(s), not {}",
                accepted.join(" or "),
                shown(arity)
            ))
        }
        Some(_) => None,
    }
}

/// Where a bare action would go cannot carry it out: `[routing]` names an incapable
/// provider, or no configured source's event could be carried out at all.
fn route_problem(settings: &Settings, kind: ActionKind, name: &str) -> Option<String> {
    let family = kind.family()?;
    let routes = Routes::of(settings);
    match routes.routed(kind) {
        Err(e) => return Some(format!("{name}(): {e}")),
        Ok(Some(_)) => return None,
        Ok(None) => {}
    }
    if settings.sources.is_empty() {
        return None;
    }
    let any_source_can = settings
        .sources
        .values()
        .any(|source| routes.own(source, kind).is_some());
    (!any_source_can).then(|| {
        format!(
            "{name}(): no source's provider can carry out {}, and [routing] has no `{}` entry",
            kind.as_str(),
            family.as_str()
        )
    })
}
