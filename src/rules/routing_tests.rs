//! Where an action goes (docs/providers.md): the provider a rule names, else the source's own
//! provider if it can, else the `[routing]` entry for the action's family, else no route;
//! with the `RouteError` for each way that fails.

use std::path::Path;

use super::*;

/// One provider of each kind; `[routing]` sends tags and labels to UChat, conversations to
/// Aelyst, state and messages to Jelou. Sources: one native to each provider, a generic one
/// with a provider and one with none.
const CONFIG: &str = r#"
[providers.j]
kind = "jelou"
client_id = "i"
client_secret = "s"
bot_id = "b"

[providers.u]
kind = "uchat"
token = "t"

[providers.a]
kind = "aelyst"
token = "t"

[sources.jel]
kind = "jelou"
secret = "s"

[sources.uch]
kind = "uchat"
token = "t"

[sources.ael]
kind = "aelyst"
secret = "s"

[sources.crm]
kind = "generic"
token = "t"
provider = "a"

[sources.bare]
kind = "generic"
token = "t"
"#;

const ROUTING: &str = r#"
[routing]
tag = "u"
conversation = "a"
state = "j"
message = "j"
"#;

fn settings(routing: &str) -> Settings {
    Settings::parse(&format!("{CONFIG}{routing}"), Path::new("t.toml"), &|_| {
        None
    })
    .expect("the test config parses")
}

fn incapable(provider: &str, kind: &'static str, action: ActionKind) -> RouteError {
    RouteError::Incapable {
        provider: provider.into(),
        kind,
        action: action.as_str(),
    }
}

fn no_route(source: &str, action: ActionKind) -> RouteError {
    RouteError::NoRoute {
        source_name: source.into(),
        action: action.as_str(),
        family: action.family().expect("a routed action").as_str(),
    }
}

/// (label, source, provider named by the rule, action, expected route)
type RouteRow = (
    &'static str,
    &'static str,
    Option<&'static str>,
    ActionKind,
    Result<String, RouteError>,
);

#[test]
fn route_tries_explicit_then_own_then_routing() {
    use ActionKind::*;
    let ok = |name: &str| Ok(name.to_string());
    let rows: Vec<RouteRow> = vec![
        // Named with provider(...): that one or an error, never a fallback.
        ("explicit capable", "jel", Some("u"), AddTag, ok("u")),
        (
            "explicit other than own",
            "uch",
            Some("a"),
            SendText,
            ok("a"),
        ),
        (
            "explicit incapable",
            "jel",
            Some("j"),
            AddTag,
            Err(incapable("j", "jelou", AddTag)),
        ),
        (
            "explicit incapable though routing could",
            "jel",
            Some("a"),
            AddLabel,
            Err(incapable("a", "aelyst", AddLabel)),
        ),
        (
            "explicit unknown",
            "jel",
            Some("nowhere"),
            SendText,
            Err(RouteError::UnknownProvider("nowhere".into())),
        ),
        // The source's own provider when it can.
        ("own jelou", "jel", None, SendCallButton, ok("j")),
        ("own uchat", "uch", None, AddLabel, ok("u")),
        ("own aelyst", "ael", None, AddTag, ok("a")),
        ("generic source's provider", "crm", None, SendText, ok("a")),
        ("own beats routing", "uch", None, SendText, ok("u")),
        // Else [routing] for the action's family.
        ("own cannot: routed tag", "jel", None, AddTag, ok("u")),
        (
            "own cannot: routed conversation",
            "jel",
            None,
            SetConversationStatus,
            ok("a"),
        ),
        (
            "own cannot: routed state",
            "ael",
            None,
            SetUserState,
            ok("j"),
        ),
        (
            "own cannot: routed message",
            "ael",
            None,
            SendContacts,
            ok("j"),
        ),
        ("no own provider: routed", "bare", None, SendText, ok("j")),
        // docs/providers.md: set_field and send_flow as add_tag, send_message as send_text.
        ("set_field routed as a tag", "jel", None, SetField, ok("u")),
        ("send_flow own uchat", "uch", None, SendFlow, ok("u")),
        ("send_message own jelou", "jel", None, SendMessage, ok("j")),
        (
            "send_message routed as a message",
            "ael",
            None,
            SendMessage,
            ok("j"),
        ),
        (
            "send_flow explicit jelou",
            "jel",
            Some("j"),
            SendFlow,
            Err(incapable("j", "jelou", SendFlow)),
        ),
        // provider_request goes only where the rule says.
        (
            "provider_request explicit",
            "jel",
            Some("a"),
            ProviderRequest,
            ok("a"),
        ),
        (
            "provider_request never routed",
            "jel",
            None,
            ProviderRequest,
            Err(RouteError::NeedsProvider {
                action: "provider_request",
            }),
        ),
        // Else no route.
        (
            "no label entry",
            "jel",
            None,
            AddLabel,
            Err(no_route("jel", AddLabel)),
        ),
        (
            "no own, no entry",
            "bare",
            None,
            RemoveLabel,
            Err(no_route("bare", RemoveLabel)),
        ),
    ];
    let settings = settings(ROUTING);
    let routes = Routes::of(&settings);
    for (label, source, explicit, kind, expected) in rows {
        let got = routes.route(&settings.sources[source], explicit, kind);
        assert_eq!(got, expected, "{label}");
    }
}

#[test]
fn a_routing_entry_that_cannot_carry_the_action_is_an_error_not_a_skip() {
    use ActionKind::*;
    // Config accepts any configured provider in [routing]; capability is checked per action.
    let settings = settings("[routing]\nlabel = \"a\"\nmessage = \"u\"\n");
    let routes = Routes::of(&settings);
    let routed_incapable =
        |family: &'static str, routed: &str, kind: &'static str, action: ActionKind| {
            Err(RouteError::RoutedIncapable {
                family,
                routed: routed.into(),
                kind,
                action: action.as_str(),
            })
        };
    let rows: Vec<(&str, &str, ActionKind, Result<String, RouteError>)> = vec![
        (
            "label to aelyst",
            "jel",
            AddLabel,
            routed_incapable("label", "a", "aelyst", AddLabel),
        ),
        (
            "contacts to uchat",
            "ael",
            SendContacts,
            routed_incapable("message", "u", "uchat", SendContacts),
        ),
        (
            "own provider before an incapable-free entry",
            "ael",
            SendText,
            Ok("a".into()),
        ),
        (
            "routed text where own cannot",
            "bare",
            SendText,
            Ok("u".into()),
        ),
        ("own provider first", "uch", AddLabel, Ok("u".into())),
    ];
    for (label, source, kind, expected) in rows {
        assert_eq!(
            routes.route(&settings.sources[source], None, kind),
            expected,
            "{label}"
        );
    }
}

#[test]
fn a_routing_entry_naming_an_unconfigured_provider_is_unknown() {
    // Settings refuse this; a hand-built table (a provider removed on reload) can hold it.
    let settings = settings("");
    let routing = BTreeMap::from([(ActionFamily::Tag, "ghost".to_string())]);
    let routes = Routes {
        providers: &settings.providers,
        routing: &routing,
    };
    assert_eq!(
        routes.route(&settings.sources["jel"], None, ActionKind::AddTag),
        Err(RouteError::UnknownProvider("ghost".into()))
    );
    assert_eq!(
        routes.routed(ActionKind::RemoveTag),
        Err(RouteError::UnknownProvider("ghost".into()))
    );
}

#[test]
fn capable_own_and_routed_answer_separately() {
    use ActionKind::*;
    let settings = settings(ROUTING);
    let routes = Routes::of(&settings);
    assert_eq!(routes.capable("u", AddLabel), Ok(()));
    assert_eq!(
        routes.capable("a", AddLabel),
        Err(incapable("a", "aelyst", AddLabel))
    );
    assert_eq!(
        routes.capable("x", AddLabel),
        Err(RouteError::UnknownProvider("x".into()))
    );
    assert_eq!(routes.own(&settings.sources["jel"], SendText), Some("j"));
    assert_eq!(routes.own(&settings.sources["jel"], AddTag), None);
    assert_eq!(routes.own(&settings.sources["bare"], SendText), None);
    assert_eq!(routes.routed(RemoveTag), Ok(Some("u".into())));
    assert_eq!(routes.routed(RemoveLabel), Ok(None));
}

#[test]
fn route_errors_read_as_the_docs_word_them() {
    let settings = settings(ROUTING);
    let routes = Routes::of(&settings);
    let message = |source: &str, explicit: Option<&str>, kind| {
        routes
            .route(&settings.sources[source], explicit, kind)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        message("jel", Some("nowhere"), ActionKind::SendText),
        "provider \"nowhere\" is not configured"
    );
    assert_eq!(
        message("jel", Some("j"), ActionKind::AddTag),
        "provider \"j\" (jelou) cannot carry out add_tag"
    );
    assert_eq!(
        message("jel", None, ActionKind::AddLabel),
        "no provider can carry out add_label for source \"jel\": its provider cannot, and [routing] has no `label` entry"
    );
}
