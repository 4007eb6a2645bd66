//! Provider tables (docs/providers.md, docs/guarantees.md): per platform, each action with representative params
//! and the exact request that carries it out; who the user is (native or not) and how
//! identifiers are encoded; the UChat lookup; platform limits; how answers are classified.

use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::config::Settings;
use crate::domain::event::{EventKind, User};
use crate::domain::platform::SourceKind;

/// Three providers at their default base URLs, a second Jelou without a bot id, and a
/// source of each kind (plus a generic one) pointing at them.
const CONFIG: &str = r#"
[providers.jelou]
kind = "jelou"
client_id = "cid"
client_secret = "csecret"
bot_id = "bot-cfg"

[providers.jelou_nobot]
kind = "jelou"
client_id = "cid"
client_secret = "csecret"

[providers.uchat]
kind = "uchat"
token = "utoken"
pause_minutes = 90

[providers.aelyst]
kind = "aelyst"
token = "atoken"

[providers.whatsapp]
kind = "whatsapp"
phone_number_id = "106540352242922"
token = "wtoken"
call_phone = "+57 (300) 123-4567"

[providers.wa_nocall]
kind = "whatsapp"
base_url = "https://graph.test/v21.0/"
phone_number_id = "1"
token = "t"

[providers.slashed]
kind = "uchat"
base_url = "https://example.test/api/"
token = "t"

[sources.jelou]
kind = "jelou"
secret = "s"
provider = "jelou"

[sources.uchat]
kind = "uchat"
token = "t"
provider = "uchat"

[sources.aelyst]
kind = "aelyst"
secret = "s"

[sources.crm]
kind = "generic"
token = "t"
provider = "jelou"
"#;

fn settings() -> Settings {
    Settings::parse(CONFIG, Path::new("t.toml"), &|_| None).expect("the test config parses")
}

fn provider(name: &str) -> ProviderSettings {
    settings().providers[name].clone()
}

fn source(name: &str) -> SourceSettings {
    settings().sources[name].clone()
}

fn action(kind: ActionKind, params: Value) -> Action {
    Action {
        action: kind,
        params: params.as_object().cloned().unwrap_or_default(),
    }
}

fn event(user: User, bot_id: Option<&str>) -> Event {
    Event {
        id: "m1".into(),
        event_id: crate::domain::ids::EventId::unchecked("evt_1".into()),
        source: "src".into(),
        provider: SourceKind::Generic,
        kind: EventKind::MessageReceived,
        user,
        bot_id: bot_id.map(str::to_string),
        conversation_id: None,
        message: None,
        text: String::new(),
        tags: Vec::new(),
        raw: Value::Null,
        received_at: 0,
    }
}

fn user(id: Option<&str>, phone: Option<&str>, email: Option<&str>, ns: Option<&str>) -> User {
    User {
        id: id.map(str::to_string),
        phone: phone.map(str::to_string),
        email: email.map(str::to_string),
        name: None,
        ns: ns.map(str::to_string),
    }
}

fn known(value: &str) -> UserRef {
    UserRef::Known {
        value: value.into(),
    }
}

fn expect(method: &str, url: &str, body: Value) -> RequestSpec {
    RequestSpec {
        method: method.into(),
        url: url.into(),
        body,
    }
}

/// Checks one platform's table: each row's request, named by its label when it differs.
fn check_requests(
    provider_name: &str,
    target: &Target,
    user: &str,
    rows: Vec<(&str, Action, RequestSpec)>,
) {
    let provider = provider(provider_name);
    for (label, action, expected) in rows {
        let got = request(&provider, &action, target, user);
        assert_eq!(got, Ok(expected), "{provider_name}: {label}");
    }
}

/// Checks that every action outside a platform's column is refused as `Unsupported`.
fn check_unsupported(provider_name: &str, kinds: &[ActionKind]) {
    let provider = provider(provider_name);
    let target = Target {
        user: known("u"),
        bot_id: Some("b".into()),
    };
    for &kind in kinds {
        let got = request(&provider, &action(kind, json!({"name": "x"})), &target, "u");
        assert_eq!(
            got,
            Err(Unsupported {
                provider: provider_name.into(),
                kind: provider.kind,
                action: kind,
            }),
            "{provider_name}: {} must be unsupported",
            kind.as_str()
        );
    }
}

// ---- which actions each platform carries out ---------------------------------------------

#[test]
fn supports_matches_the_documented_table_and_request_agrees_with_supports() {
    use ActionKind::*;
    // docs/providers.md: the cells that are not "—". Every platform takes a
    // provider_request.
    let table: [(ProviderKind, &[ActionKind]); 4] = [
        (
            ProviderKind::Jelou,
            &[
                SetUserState,
                SendText,
                SendContacts,
                SendCallButton,
                SendMessage,
                ProviderRequest,
            ],
        ),
        (
            ProviderKind::Uchat,
            &[
                SetUserState,
                SendText,
                AddTag,
                RemoveTag,
                AddLabel,
                RemoveLabel,
                SetConversationStatus,
                SetField,
                SendFlow,
                ProviderRequest,
            ],
        ),
        (
            ProviderKind::Aelyst,
            &[
                SendText,
                AddTag,
                RemoveTag,
                SetConversationStatus,
                ProviderRequest,
            ],
        ),
        (
            ProviderKind::Whatsapp,
            &[
                SendText,
                SendContacts,
                SendCallButton,
                SendMessage,
                ProviderRequest,
            ],
        ),
    ];
    let settings = settings();
    for (kind, supported) in table {
        let provider = settings
            .providers
            .values()
            .find(|p| p.kind == kind)
            .expect("a provider of each kind");
        let target = Target {
            user: known("u"),
            bot_id: Some("b".into()),
        };
        for action_kind in ActionKind::ALL {
            let expected = supported.contains(&action_kind);
            assert_eq!(
                supports(kind, action_kind),
                expected,
                "supports({}, {})",
                kind.as_str(),
                action_kind.as_str()
            );
            let params = if action_kind == ProviderRequest {
                json!({"method": "GET", "path": "/x"})
            } else {
                json!({})
            };
            let built = request(provider, &action(action_kind, params), &target, "u");
            assert_eq!(
                built.is_ok(),
                expected,
                "request({}, {}) disagrees with supports",
                kind.as_str(),
                action_kind.as_str()
            );
        }
    }
}

// ---- requests ---------------------------------------------------------------------------

#[test]
fn jelou_requests_match_the_documented_requests() {
    let target = Target {
        user: known("573001112233"),
        bot_id: Some("bot-1".into()),
    };
    let messages = "https://api.jelou.ai/v1/bots/bot-1/messages";
    let contacts = json!([{"name": {"formatted_name": "Ana", "first_name": "Ana"},
        "phones": [{"phone": "+573001112233", "type": "Mobile", "wa_id": "573001112233"}]}]);
    let rows = vec![
        (
            "set_user_state manual with ttl",
            action(
                ActionKind::SetUserState,
                json!({"state": "manual", "ttl": 3600}),
            ),
            expect(
                "POST",
                "https://api.jelou.ai/v1/users/state",
                json!({"botId": "bot-1", "userId": "573001112233", "state": "manual", "ttl": 3600}),
            ),
        ),
        (
            "set_user_state auto without ttl omits ttl",
            action(ActionKind::SetUserState, json!({"state": "auto"})),
            expect(
                "POST",
                "https://api.jelou.ai/v1/users/state",
                json!({"botId": "bot-1", "userId": "573001112233", "state": "auto"}),
            ),
        ),
        (
            "send_text",
            action(ActionKind::SendText, json!({"text": "hola"})),
            expect(
                "POST",
                messages,
                json!({"type": "text", "userId": "573001112233", "text": "hola"}),
            ),
        ),
        (
            "send_contacts",
            action(ActionKind::SendContacts, json!({"contacts": contacts})),
            expect(
                "POST",
                messages,
                json!({"type": "contacts", "userId": "573001112233", "contacts": contacts}),
            ),
        ),
        (
            "send_call_button with header",
            action(
                ActionKind::SendCallButton,
                json!({"header": "Soporte", "text": "Llámanos", "display_text": "Llamar"}),
            ),
            expect(
                "POST",
                messages,
                json!({"type": "voice_call", "userId": "573001112233", "header": "Soporte",
                    "text": "Llámanos", "parameters": {"display_text": "Llamar"}}),
            ),
        ),
        (
            "send_call_button without header omits header",
            action(
                ActionKind::SendCallButton,
                json!({"text": "Llámanos", "display_text": "Llamar"}),
            ),
            expect(
                "POST",
                messages,
                json!({"type": "voice_call", "userId": "573001112233", "text": "Llámanos",
                    "parameters": {"display_text": "Llamar"}}),
            ),
        ),
    ];
    check_requests("jelou", &target, "573001112233", rows);
}

#[test]
fn jelou_bot_id_is_one_encoded_path_segment() {
    let target = Target {
        user: known("5730"),
        bot_id: Some("bot 1/../x?y".into()),
    };
    let got = request(
        &provider("jelou"),
        &action(ActionKind::SendText, json!({"text": "t"})),
        &target,
        "5730",
    )
    .unwrap();
    assert_eq!(
        got.url,
        "https://api.jelou.ai/v1/bots/bot%201%2F..%2Fx%3Fy/messages"
    );
}

#[test]
fn jelou_refuses_actions_outside_its_column() {
    use ActionKind::*;
    check_unsupported(
        "jelou",
        &[
            AddTag,
            RemoveTag,
            AddLabel,
            RemoveLabel,
            SetConversationStatus,
        ],
    );
}

#[test]
fn uchat_requests_match_the_documented_requests() {
    let target = Target {
        user: known("ns-1"),
        bot_id: None,
    };
    let base = "https://www.uchat.com.au/api";
    let pause = |ttl: Option<u64>, minutes: u64| {
        let params = match ttl {
            Some(ttl) => json!({"state": "manual", "ttl": ttl}),
            None => json!({"state": "manual"}),
        };
        (
            action(ActionKind::SetUserState, params),
            expect(
                "POST",
                &format!("{base}/subscriber/pause-bot"),
                json!({"user_ns": "ns-1", "minutes": minutes}),
            ),
        )
    };
    let mut rows = Vec::new();
    for (label, ttl, minutes) in [
        ("manual ttl 3600 is 60 minutes", Some(3600), 60),
        ("manual ttl 61 rounds up to 2 minutes", Some(61), 2),
        ("manual ttl 60 is 1 minute", Some(60), 1),
        ("manual ttl 1 is at least 1 minute", Some(1), 1),
        ("manual ttl 0 is at least 1 minute", Some(0), 1),
        ("manual without ttl uses pause_minutes", None, 90),
    ] {
        let (a, r) = pause(ttl, minutes);
        rows.push((label, a, r));
    }
    rows.extend([
        (
            "auto resumes the bot",
            action(ActionKind::SetUserState, json!({"state": "auto"})),
            expect(
                "POST",
                &format!("{base}/subscriber/resume-bot"),
                json!({"user_ns": "ns-1"}),
            ),
        ),
        (
            "auto with a ttl still resumes the bot",
            action(
                ActionKind::SetUserState,
                json!({"state": "auto", "ttl": 60}),
            ),
            expect(
                "POST",
                &format!("{base}/subscriber/resume-bot"),
                json!({"user_ns": "ns-1"}),
            ),
        ),
        (
            "send_text",
            action(ActionKind::SendText, json!({"text": "hola"})),
            expect(
                "POST",
                &format!("{base}/subscriber/send-text"),
                json!({"user_ns": "ns-1", "content": "hola"}),
            ),
        ),
        (
            "add_tag",
            action(ActionKind::AddTag, json!({"name": "vip"})),
            expect(
                "POST",
                &format!("{base}/subscriber/add-tag-by-name"),
                json!({"user_ns": "ns-1", "tag_name": "vip"}),
            ),
        ),
        (
            "remove_tag",
            action(ActionKind::RemoveTag, json!({"name": "vip"})),
            expect(
                "DELETE",
                &format!("{base}/subscriber/remove-tag-by-name"),
                json!({"user_ns": "ns-1", "tag_name": "vip"}),
            ),
        ),
        (
            "add_label",
            action(ActionKind::AddLabel, json!({"name": "lead"})),
            expect(
                "POST",
                &format!("{base}/subscriber/add-labels-by-name"),
                json!({"user_ns": "ns-1", "data": [{"label_name": "lead"}]}),
            ),
        ),
        (
            "remove_label",
            action(ActionKind::RemoveLabel, json!({"name": "lead"})),
            expect(
                "DELETE",
                &format!("{base}/subscriber/remove-labels-by-name"),
                json!({"user_ns": "ns-1", "data": [{"label_name": "lead"}]}),
            ),
        ),
        (
            "close is done, category and summary dropped",
            action(
                ActionKind::SetConversationStatus,
                json!({"status": "close", "category": "sales", "summary": "bought"}),
            ),
            expect(
                "POST",
                &format!("{base}/subscriber/move-chat-to"),
                json!({"user_ns": "ns-1", "status": "done"}),
            ),
        ),
        (
            "open is open",
            action(ActionKind::SetConversationStatus, json!({"status": "open"})),
            expect(
                "POST",
                &format!("{base}/subscriber/move-chat-to"),
                json!({"user_ns": "ns-1", "status": "open"}),
            ),
        ),
    ]);
    check_requests("uchat", &target, "ns-1", rows);
}

#[test]
fn uchat_refuses_actions_outside_its_column() {
    check_unsupported(
        "uchat",
        &[ActionKind::SendContacts, ActionKind::SendCallButton],
    );
}

#[test]
fn aelyst_requests_match_the_documented_requests() {
    let base = "https://api.aelyst.ai/v1";
    let target = Target {
        user: known("phone:+573001112233"),
        bot_id: None,
    };
    let contact = format!("{base}/contact/phone:+573001112233");
    let rows = vec![
        (
            "send_text",
            action(ActionKind::SendText, json!({"text": "hola"})),
            expect(
                "POST",
                &format!("{contact}/message"),
                json!({"message": {"type": "text", "text": "hola"}}),
            ),
        ),
        (
            "add_tag",
            action(ActionKind::AddTag, json!({"name": "vip"})),
            expect("POST", &format!("{contact}/tag"), json!(["vip"])),
        ),
        (
            "remove_tag",
            action(ActionKind::RemoveTag, json!({"name": "vip"})),
            expect("DELETE", &format!("{contact}/tag"), json!(["vip"])),
        ),
        (
            "close with category and summary",
            action(
                ActionKind::SetConversationStatus,
                json!({"status": "close", "category": "sales", "summary": "bought"}),
            ),
            expect(
                "POST",
                &format!("{contact}/conversation/status"),
                json!({"status": "close", "category": "sales", "summary": "bought"}),
            ),
        ),
        (
            "open without category or summary omits them",
            action(ActionKind::SetConversationStatus, json!({"status": "open"})),
            expect(
                "POST",
                &format!("{contact}/conversation/status"),
                json!({"status": "open"}),
            ),
        ),
    ];
    check_requests("aelyst", &target, "phone:+573001112233", rows);
}

#[test]
fn aelyst_identifier_segment_keeps_colon_plus_at_and_encodes_the_rest() {
    let base = "https://api.aelyst.ai/v1/contact/";
    for (identifier, segment) in [
        ("id:42", "id:42"),
        ("phone:+573001112233", "phone:+573001112233"),
        ("email:ana.b+c@x.co", "email:ana.b+c@x.co"),
        ("email:a_b~c-d@x.co", "email:a_b~c-d@x.co"),
        ("email:a b@x.co", "email:a%20b@x.co"),
        ("id:a/b", "id:a%2Fb"),
        ("id:../x", "id:..%2Fx"),
        ("id:q?x=1#f", "id:q%3Fx%3D1%23f"),
        ("id:50%", "id:50%25"),
        ("email:josé@x.co", "email:jos%C3%A9@x.co"),
    ] {
        let target = Target {
            user: known(identifier),
            bot_id: None,
        };
        let got = request(
            &provider("aelyst"),
            &action(ActionKind::AddTag, json!({"name": "t"})),
            &target,
            identifier,
        )
        .unwrap();
        assert_eq!(got.url, format!("{base}{segment}/tag"), "{identifier}");
    }
}

#[test]
fn aelyst_refuses_actions_outside_its_column() {
    use ActionKind::*;
    check_unsupported(
        "aelyst",
        &[
            SetUserState,
            SendContacts,
            SendCallButton,
            AddLabel,
            RemoveLabel,
        ],
    );
}

#[test]
fn paths_join_base_url_with_exactly_one_slash() {
    let target = Target {
        user: known("ns"),
        bot_id: None,
    };
    let got = request(
        &provider("slashed"),
        &action(ActionKind::SendText, json!({"text": "t"})),
        &target,
        "ns",
    )
    .unwrap();
    assert_eq!(got.url, "https://example.test/api/subscriber/send-text");
}

#[test]
fn unsupported_error_names_provider_kind_and_action() {
    let err = request(
        &provider("aelyst"),
        &action(ActionKind::AddLabel, json!({"name": "x"})),
        &Target {
            user: known("id:1"),
            bot_id: None,
        },
        "id:1",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider \"aelyst\" (aelyst) cannot carry out add_label"
    );
}

// ---- who the user is ----------------------------------------------------------------------

#[test]
fn native_means_same_kind_and_this_provider() {
    let s = settings();
    for (source, provider, native) in [
        ("jelou", "jelou", true),
        ("jelou", "jelou_nobot", false),
        ("uchat", "uchat", true),
        ("aelyst", "aelyst", true),
        ("jelou", "uchat", false),
        ("uchat", "aelyst", false),
        // A generic source is never native, even to its own provider.
        ("crm", "jelou", false),
    ] {
        assert_eq!(
            is_native(&s.providers[provider], &s.sources[source]),
            native,
            "source {source} at provider {provider}"
        );
    }
}

/// (label, source, provider, user, event bot id, expected target or a rule error)
type JelouTargetRow = (
    &'static str,
    &'static str,
    &'static str,
    User,
    Option<&'static str>,
    Result<Target, ()>,
);

#[test]
fn jelou_target_user_and_bot_follow_the_docs() {
    let full = user(Some("u-1"), Some("+57 300 111 2233"), None, None);
    let phone_only = user(None, Some("+57 (300) 111-2233"), None, None);
    let id_only = user(Some("u-1"), None, None, None);
    let rows: Vec<JelouTargetRow> = vec![
        (
            "native: user id and event bot",
            "jelou",
            "jelou",
            full.clone(),
            Some("bot-evt"),
            Ok(Target {
                user: known("u-1"),
                bot_id: Some("bot-evt".into()),
            }),
        ),
        (
            "native without event bot: provider's bot",
            "jelou",
            "jelou",
            full.clone(),
            None,
            Ok(Target {
                user: known("u-1"),
                bot_id: Some("bot-cfg".into()),
            }),
        ),
        (
            "native without user id: phone digits",
            "jelou",
            "jelou",
            phone_only.clone(),
            Some("bot-evt"),
            Ok(Target {
                user: known("573001112233"),
                bot_id: Some("bot-evt".into()),
            }),
        ),
        (
            "not native: phone digits and provider's bot, event's ignored",
            "crm",
            "jelou",
            full.clone(),
            Some("bot-evt"),
            Ok(Target {
                user: known("573001112233"),
                bot_id: Some("bot-cfg".into()),
            }),
        ),
        (
            "not native without phone: unknown user",
            "crm",
            "jelou",
            id_only.clone(),
            None,
            Ok(Target {
                user: UserRef::Unknown,
                bot_id: Some("bot-cfg".into()),
            }),
        ),
        (
            "not native and no bot anywhere: rule error",
            "jelou",
            "jelou_nobot",
            full.clone(),
            Some("bot-evt"),
            Err(()),
        ),
    ];
    let s = settings();
    for (label, src, prov, user, bot, expected) in rows {
        let got = target(
            &s.providers[prov],
            &s.sources[src],
            &event(user, bot),
            ActionKind::SendText,
        );
        match expected {
            Ok(t) => assert_eq!(got, Ok(t), "{label}"),
            Err(()) => {
                let err = got.expect_err(label).to_string();
                assert!(
                    err.contains("jelou_nobot") && err.contains("bot_id"),
                    "{label}: {err}"
                );
            }
        }
    }
}

#[test]
fn uchat_target_is_native_ns_else_a_phone_lookup_else_unknown() {
    let rows = [
        (
            "native ns",
            "uchat",
            user(None, Some("+573001112233"), None, Some("ns-1")),
            known("ns-1"),
        ),
        (
            "native without ns: lookup by phone",
            "uchat",
            user(None, Some("+57 300 111 2233"), None, None),
            UserRef::LookupPhone {
                digits: "573001112233".into(),
            },
        ),
        (
            "not native: ns ignored, lookup by phone",
            "jelou",
            user(Some("u"), Some("+573001112233"), None, Some("ns-1")),
            UserRef::LookupPhone {
                digits: "573001112233".into(),
            },
        ),
        (
            "not native without phone: unknown",
            "jelou",
            user(Some("u"), None, Some("a@b.co"), Some("ns-1")),
            UserRef::Unknown,
        ),
        (
            "a phone with no digits is no phone",
            "jelou",
            user(None, Some("n/a"), None, None),
            UserRef::Unknown,
        ),
    ];
    let s = settings();
    for (label, src, user, expected) in rows {
        let got = target(
            &s.providers["uchat"],
            &s.sources[src],
            &event(user, None),
            ActionKind::AddTag,
        );
        assert_eq!(
            got,
            Ok(Target {
                user: expected,
                bot_id: None
            }),
            "{label}"
        );
    }
}

#[test]
fn aelyst_identifier_is_native_id_else_phone_else_email() {
    let rows = [
        (
            "native id",
            "aelyst",
            user(Some("42"), Some("+573001112233"), Some("a@b.co"), None),
            known("id:42"),
        ),
        (
            "native without id: phone",
            "aelyst",
            user(None, Some("+57 300 111 2233"), Some("a@b.co"), None),
            known("phone:+573001112233"),
        ),
        (
            "not native: id ignored, phone",
            "crm",
            user(Some("42"), Some("+573001112233"), Some("a@b.co"), None),
            known("phone:+573001112233"),
        ),
        (
            "not native without phone: email",
            "crm",
            user(Some("42"), None, Some("a@b.co"), None),
            known("email:a@b.co"),
        ),
        (
            "nothing usable: unknown",
            "crm",
            user(Some("42"), None, None, Some("ns")),
            UserRef::Unknown,
        ),
    ];
    let s = settings();
    for (label, src, user, expected) in rows {
        let got = target(
            &s.providers["aelyst"],
            &s.sources[src],
            &event(user, None),
            ActionKind::AddTag,
        );
        assert_eq!(
            got,
            Ok(Target {
                user: expected,
                bot_id: None
            }),
            "{label}"
        );
    }
}

// ---- UChat lookup -------------------------------------------------------------------------

#[test]
fn uchat_lookup_request_is_a_get_by_encoded_phone_limited_to_two() {
    assert_eq!(
        lookup_request(&provider("uchat"), "573001112233"),
        expect(
            "GET",
            "https://www.uchat.com.au/api/subscribers?phone=%2B573001112233&limit=2",
            Value::Null
        )
    );
    assert_eq!(
        lookup_placeholder(&provider("uchat"), "573001112233"),
        "<lookup uchat phone=+573001112233>"
    );
}

#[test]
fn uchat_lookup_answer_is_used_only_when_exactly_one_subscriber_matches() {
    for (label, body, expected) in [
        (
            "one",
            r#"{"data":[{"user_ns":"ns-1","name":"Ana"}]}"#,
            LookupResult::Found("ns-1".into()),
        ),
        ("none", r#"{"data":[]}"#, LookupResult::NotFound),
        (
            "two",
            r#"{"data":[{"user_ns":"ns-1"},{"user_ns":"ns-2"}]}"#,
            LookupResult::Ambiguous,
        ),
        ("no data key", r#"{"status":"ok"}"#, LookupResult::NotFound),
        ("data not a list", r#"{"data":{}}"#, LookupResult::NotFound),
        ("not JSON", "<html>", LookupResult::NotFound),
        ("empty body", "", LookupResult::NotFound),
    ] {
        assert_eq!(read_lookup(body.as_bytes()), expected, "{label}");
    }
}

#[test]
fn uchat_lookup_with_two_subscribers_is_ambiguous_even_if_one_lacks_user_ns() {
    let body = br#"{"data":[{"user_ns":"ns-1"},{"name":"no ns"}]}"#;
    assert_eq!(read_lookup(body), LookupResult::Ambiguous);
}

// ---- platform limits ----------------------------------------------------------------------

#[test]
fn aelyst_category_and_summary_limits_count_characters() {
    let rows = [
        ("category at 128", "category", "a".repeat(128), true),
        ("category at 129", "category", "a".repeat(129), false),
        (
            "category of 128 two-byte chars",
            "category",
            "é".repeat(128),
            true,
        ),
        ("summary at 512", "summary", "s".repeat(512), true),
        ("summary at 513", "summary", "s".repeat(513), false),
        ("summary of 512 emoji", "summary", "👍".repeat(512), true),
    ];
    for (label, key, value, ok) in rows {
        let a = action(
            ActionKind::SetConversationStatus,
            json!({"status": "close", key: value}),
        );
        let got = validate(&provider("aelyst"), &a);
        if ok {
            assert_eq!(got, Ok(()), "{label}");
        } else {
            let err = got.expect_err(label).to_string();
            let limit = if key == "category" { "128" } else { "512" };
            assert!(err.contains(limit) && err.contains(key), "{label}: {err}");
        }
    }
}

#[test]
fn jelou_and_uchat_have_no_length_limits() {
    let a = action(
        ActionKind::SetConversationStatus,
        json!({"status": "close", "category": "c".repeat(1000), "summary": "s".repeat(5000)}),
    );
    assert_eq!(validate(&provider("jelou"), &a), Ok(()));
    assert_eq!(validate(&provider("uchat"), &a), Ok(()));
}

#[test]
fn rule_errors_keep_their_exact_sentences() {
    let over = action(
        ActionKind::SetConversationStatus,
        json!({"status": "close", "category": "c".repeat(130)}),
    );
    assert_eq!(
        validate(&provider("aelyst"), &over)
            .unwrap_err()
            .to_string(),
        "aelyst allows at most 128 characters in a conversation category; this one has 130"
    );
    let no_bot = target(
        &provider("jelou_nobot"),
        &source("crm"),
        &event(user(Some("u"), Some("+573001112233"), None, None), None),
        ActionKind::SendText,
    )
    .unwrap_err();
    assert_eq!(
        no_bot.to_string(),
        "provider \"jelou_nobot\" needs a bot id: the event names none and the provider has no `bot_id` configured"
    );
    assert_eq!(
        no_bot,
        ActionError::NoBotId {
            provider: "jelou_nobot".into()
        }
    );
}

#[test]
fn send_message_maps_need_a_type_and_leave_the_added_keys_alone() {
    let rows = [
        ("jelou", json!({"type": "image", "mediaUrl": "https://x.test/a.png"}), Ok(())),
        (
            "jelou",
            json!({"type": "text", "userId": "someone-else"}),
            Err("send_message: `userId` is added by Switchboard for provider \"jelou\"; leave it out of the message"),
        ),
        (
            "jelou",
            json!({"text": "no type"}),
            Err("send_message: the message for provider \"jelou\" needs a `type` (text), e.g. #{type: \"image\", ...}"),
        ),
        ("whatsapp", json!({"type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": "👍"}}), Ok(())),
        (
            "whatsapp",
            json!({"type": "text", "to": "1555"}),
            Err("send_message: `to` is added by Switchboard for provider \"whatsapp\"; leave it out of the message"),
        ),
        (
            "whatsapp",
            json!({"type": "text", "messaging_product": "sms"}),
            Err("send_message: `messaging_product` is added by Switchboard for provider \"whatsapp\"; leave it out of the message"),
        ),
        (
            "whatsapp",
            json!({"type": ""}),
            Err("send_message: the message for provider \"whatsapp\" needs a `type` (text), e.g. #{type: \"image\", ...}"),
        ),
    ];
    for (name, message, expected) in rows {
        let got = validate(
            &provider(name),
            &action(ActionKind::SendMessage, json!({"message": message})),
        )
        .map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "{name} {message}");
    }
}

#[test]
fn a_whatsapp_call_button_needs_call_phone() {
    let button = action(
        ActionKind::SendCallButton,
        json!({"text": "t", "display_text": "Call"}),
    );
    assert_eq!(validate(&provider("whatsapp"), &button), Ok(()));
    assert_eq!(
        validate(&provider("wa_nocall"), &button).unwrap_err().to_string(),
        "provider \"wa_nocall\" needs `call_phone` (the number a call button dials, e.g. \"+573001234567\") to send a call button"
    );
}

#[test]
fn provider_requests_are_checked_against_the_base_url() {
    let rows = [
        ("uchat", "GET", "/subscriber/get-info?user_ns=f1", Ok(())),
        ("uchat", "post", "/flow/create-tag", Ok(())),
        ("uchat", "GET", "/../admin", Err("request: path \"/../admin\" has a `.` or `..` segment (also when percent-encoded); it could leave the provider's base_url")),
        ("uchat", "GET", "/%2E%2e/admin", Err("request: path \"/%2E%2e/admin\" has a `.` or `..` segment (also when percent-encoded); it could leave the provider's base_url")),
        ("uchat", "GET", "https://evil.test/x", Err("request: path \"https://evil.test/x\" must start with / (it is joined to the provider's base_url)")),
        ("uchat", "GET", "//evil.test/x", Err("request: path \"//evil.test/x\" names a scheme or a host; only a path below the provider's base_url is allowed")),
        ("uchat", "TRACE", "/x", Err("request: method \"TRACE\" is not one of GET, POST, PUT, PATCH, DELETE")),
    ];
    for (name, method, path, expected) in rows {
        let a = action(
            ActionKind::ProviderRequest,
            json!({"method": method, "path": path}),
        );
        let got = validate(&provider(name), &a).map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "{method} {path}");
        // Nothing stored with such a path is ever sent either.
        let built = request(
            &provider(name),
            &a,
            &Target {
                user: UserRef::NotNeeded,
                bot_id: None,
            },
            "",
        );
        assert_eq!(built.is_ok(), expected.is_ok(), "{method} {path}");
    }
}

#[test]
fn provider_requests_go_to_the_base_url_with_the_rules_method_and_body() {
    let not_needed = Target {
        user: UserRef::NotNeeded,
        bot_id: None,
    };
    let rows = [
        (
            "uchat",
            json!({"method": "GET", "path": "/subscriber/get-info?user_ns=f1"}),
            expect(
                "GET",
                "https://www.uchat.com.au/api/subscriber/get-info?user_ns=f1",
                Value::Null,
            ),
        ),
        (
            "aelyst",
            json!({"method": "POST", "path": "/contact/phone:+573001112233/comment", "body": {"text": "hi"}}),
            expect(
                "POST",
                "https://api.aelyst.ai/v1/contact/phone:+573001112233/comment",
                json!({"text": "hi"}),
            ),
        ),
        (
            "jelou",
            json!({"method": "PATCH", "path": "/v1/x", "body": [1, 2]}),
            expect("PATCH", "https://api.jelou.ai/v1/x", json!([1, 2])),
        ),
        (
            "whatsapp",
            json!({"method": "DELETE", "path": "/media/123"}),
            expect(
                "DELETE",
                "https://graph.facebook.com/v21.0/media/123",
                Value::Null,
            ),
        ),
    ];
    for (name, params, expected) in rows {
        let got = request(
            &provider(name),
            &action(ActionKind::ProviderRequest, params),
            &not_needed,
            "",
        );
        assert_eq!(got, Ok(expected), "{name}");
    }
    // The user is never filled in.
    let t = target(
        &provider("uchat"),
        &source("uchat"),
        &event(
            user(Some("u"), Some("+573001112233"), None, Some("ns1")),
            None,
        ),
        ActionKind::ProviderRequest,
    );
    assert_eq!(t, Ok(not_needed));
}

#[test]
fn uchat_fields_and_flows_match_its_openapi() {
    let target = Target {
        user: known("f1u2"),
        bot_id: None,
    };
    check_requests(
        "uchat",
        &target,
        "f1u2",
        vec![
            (
                "set_field: PUT set-user-field-by-name, value a string",
                action(
                    ActionKind::SetField,
                    json!({"name": "handoff_from", "value": "42"}),
                ),
                expect(
                    "PUT",
                    "https://www.uchat.com.au/api/subscriber/set-user-field-by-name",
                    json!({"user_ns": "f1u2", "field_name": "handoff_from", "value": "42"}),
                ),
            ),
            (
                "send_flow: POST send-sub-flow",
                action(ActionKind::SendFlow, json!({"flow_ns": "f123s456"})),
                expect(
                    "POST",
                    "https://www.uchat.com.au/api/subscriber/send-sub-flow",
                    json!({"user_ns": "f1u2", "sub_flow_ns": "f123s456"}),
                ),
            ),
        ],
    );
}

#[test]
fn jelou_send_message_is_the_rules_map_with_user_id_added() {
    let target = Target {
        user: known("573001112233"),
        bot_id: Some("bot-1".into()),
    };
    check_requests(
        "jelou",
        &target,
        "573001112233",
        vec![(
            "quick replies",
            action(
                ActionKind::SendMessage,
                json!({"message": {"type": "quick_reply", "text": "Pick", "quick_replies": [{"title": "Yes"}]}}),
            ),
            expect(
                "POST",
                "https://api.jelou.ai/v1/bots/bot-1/messages",
                json!({"type": "quick_reply", "text": "Pick", "quick_replies": [{"title": "Yes"}], "userId": "573001112233"}),
            ),
        )],
    );
}

#[test]
fn whatsapp_requests_match_the_graph_messages_api() {
    let target = Target {
        user: known("573001112233"),
        bot_id: None,
    };
    let messages = "https://graph.facebook.com/v21.0/106540352242922/messages";
    let contacts = json!([{"name": {"formatted_name": "Ana", "first_name": "Ana"},
        "phones": [{"phone": "+573009998877", "type": "Mobile", "wa_id": "573009998877"}]}]);
    check_requests(
        "whatsapp",
        &target,
        "573001112233",
        vec![
            (
                "send_text",
                action(ActionKind::SendText, json!({"text": "hola"})),
                expect(
                    "POST",
                    messages,
                    json!({"messaging_product": "whatsapp", "to": "573001112233", "type": "text", "text": {"body": "hola"}}),
                ),
            ),
            (
                "send_contacts",
                action(ActionKind::SendContacts, json!({"contacts": contacts})),
                expect(
                    "POST",
                    messages,
                    json!({"messaging_product": "whatsapp", "to": "573001112233", "type": "contacts", "contacts": contacts}),
                ),
            ),
            (
                "send_call_button with a header",
                action(
                    ActionKind::SendCallButton,
                    json!({"header": "Talk to us", "text": "Tap to call", "display_text": "Call"}),
                ),
                expect(
                    "POST",
                    messages,
                    json!({"messaging_product": "whatsapp", "to": "573001112233", "type": "interactive",
                        "interactive": {"type": "cta_url",
                            "header": {"type": "text", "text": "Talk to us"},
                            "body": {"text": "Tap to call"},
                            "action": {"name": "cta_url", "parameters": {"display_text": "Call", "url": "tel:+573001234567"}}}}),
                ),
            ),
            (
                "send_call_button without a header has none",
                action(
                    ActionKind::SendCallButton,
                    json!({"text": "Tap to call", "display_text": "Call"}),
                ),
                expect(
                    "POST",
                    messages,
                    json!({"messaging_product": "whatsapp", "to": "573001112233", "type": "interactive",
                        "interactive": {"type": "cta_url",
                            "body": {"text": "Tap to call"},
                            "action": {"name": "cta_url", "parameters": {"display_text": "Call", "url": "tel:+573001234567"}}}}),
                ),
            ),
            (
                "send_message: the map with messaging_product and to added",
                action(
                    ActionKind::SendMessage,
                    json!({"message": {"type": "interactive", "interactive": {"type": "button", "body": {"text": "Menu"}}}}),
                ),
                expect(
                    "POST",
                    messages,
                    json!({"messaging_product": "whatsapp", "to": "573001112233", "type": "interactive",
                        "interactive": {"type": "button", "body": {"text": "Menu"}}}),
                ),
            ),
        ],
    );
    // A base URL with a trailing slash still joins with one.
    let got = request(
        &provider("wa_nocall"),
        &action(ActionKind::SendText, json!({"text": "x"})),
        &target,
        "573001112233",
    )
    .unwrap();
    assert_eq!(got.url, "https://graph.test/v21.0/1/messages");
}

#[test]
fn whatsapp_names_the_user_by_phone_digits_or_no_one() {
    let p = provider("whatsapp");
    let rows = [
        (
            user(Some("u1"), Some("+57 300 111 2233"), None, None),
            known("573001112233"),
        ),
        (
            user(Some("u1"), None, Some("a@b.co"), Some("ns")),
            UserRef::Unknown,
        ),
    ];
    for (u, expected) in rows {
        let got = target(&p, &source("jelou"), &event(u, None), ActionKind::SendText).unwrap();
        assert_eq!(got.user, expected);
    }
}

// ---- answers ------------------------------------------------------------------------------

#[test]
fn classify_follows_the_documented_retry_policy() {
    use AnswerClass::*;
    use ProviderKind::*;
    let all = [Jelou, Uchat, Aelyst, Whatsapp];
    let mut rows: Vec<(ProviderKind, u16, &str, AnswerClass)> = Vec::new();
    for kind in all {
        rows.extend([
            (kind, 200, "{}", Success),
            (kind, 200, "", Success),
            (kind, 201, r#"{"id":1}"#, Success),
            (kind, 204, "", Success),
            (kind, 299, "", Success),
            (kind, 408, "", Retry),
            (kind, 429, "", Retry),
            (kind, 500, "", Retry),
            (kind, 502, "", Retry),
            (kind, 503, "", Retry),
            (kind, 599, "", Retry),
            (kind, 400, "", Final),
            (kind, 401, "", Final),
            (kind, 403, "", Final),
            (kind, 404, "", Final),
            (kind, 409, "", Final),
            (kind, 422, "", Final),
            (kind, 499, "", Final),
        ]);
    }
    rows.extend([
        // Jelou's 2xx with "success": false is final; only Jelou reads the body.
        (Jelou, 200, r#"{"success":false,"error":"x"}"#, Final),
        (Jelou, 202, r#"{"success":false}"#, Final),
        (Jelou, 200, r#"{"success":true}"#, Success),
        (Jelou, 200, r#"{"success":"false"}"#, Success),
        (Jelou, 200, "not json", Success),
        (Uchat, 200, r#"{"success":false}"#, Success),
        (Aelyst, 200, r#"{"success":false}"#, Success),
        // A failure status stays what its status says, whatever the body.
        (Jelou, 500, r#"{"success":false}"#, Retry),
        // 449 is Aelyst's "retry with" status only.
        (Aelyst, 449, "", Retry),
        (Jelou, 449, "", Final),
        (Uchat, 449, "", Final),
        // WhatsApp (docs/providers.md): Graph error 130429 is retried whatever the status
        // (Meta answers it with 400), 131047 is final as window_closed; other codes
        // follow the status.
        (Whatsapp, 400, r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}"#, Retry),
        (Whatsapp, 400, r#"{"error":{"message":"Re-engagement message","code":131047,"error_data":{"details":"More than 24 hours"}}}"#, WindowClosed),
        (Whatsapp, 400, r#"{"error":{"code":100,"message":"Invalid parameter"}}"#, Final),
        (Whatsapp, 500, r#"{"error":{"code":131047}}"#, WindowClosed),
        (Whatsapp, 503, r#"{"error":{"code":2}}"#, Retry),
        (Whatsapp, 200, r#"{"error":{"code":131047}}"#, Success),
        (Jelou, 400, r#"{"error":{"code":130429}}"#, Final),
        (Uchat, 400, r#"{"error":{"code":131047}}"#, Final),
    ]);
    for (kind, status, body, expected) in rows {
        assert_eq!(
            classify(kind, status, body.as_bytes()),
            expected,
            "{} {status} {body:?}",
            kind.as_str()
        );
    }
}

#[test]
fn authorization_is_basic_for_jelou_and_bearer_for_the_others() {
    // base64("cid:csecret")
    assert_eq!(authorization(&provider("jelou")), "Basic Y2lkOmNzZWNyZXQ=");
    assert_eq!(authorization(&provider("uchat")), "Bearer utoken");
    assert_eq!(authorization(&provider("aelyst")), "Bearer atoken");
    assert_eq!(authorization(&provider("whatsapp")), "Bearer wtoken");
}

#[test]
fn source_helper_reads_the_test_config() {
    // Guards the fixture itself: the sources above point where the tables assume.
    assert_eq!(source("jelou").provider.as_deref(), Some("jelou"));
    assert_eq!(source("aelyst").provider.as_deref(), Some("aelyst"));
    assert_eq!(source("crm").kind, SourceKind::Generic);
}

#[test]
fn a_providers_retry_on_list_replaces_the_default_retryable_statuses() {
    let text = "[providers.a]\nkind = \"aelyst\"\ntoken = \"t\"\nretry_on = [404, 503]\n\
                [providers.d]\nkind = \"aelyst\"\ntoken = \"t\"\n";
    let settings = Settings::parse(text, Path::new("t.toml"), &|_| None).expect("config");
    let (listed, default) = (&settings.providers["a"], &settings.providers["d"]);
    let cases = [
        (404, AnswerClass::Retry, AnswerClass::Final),
        (503, AnswerClass::Retry, AnswerClass::Retry),
        (500, AnswerClass::Final, AnswerClass::Retry),
        (449, AnswerClass::Final, AnswerClass::Retry),
        (429, AnswerClass::Final, AnswerClass::Retry),
        (200, AnswerClass::Success, AnswerClass::Success),
    ];
    for (status, with_list, without) in cases {
        assert_eq!(
            classify_for(listed, status, b""),
            with_list,
            "{status} with retry_on"
        );
        assert_eq!(
            classify_for(default, status, b""),
            without,
            "{status} by default"
        );
    }
}
