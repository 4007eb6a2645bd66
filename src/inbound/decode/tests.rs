//! Decoder cases: one per platform format, and the fall-backs.

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::{decode, DecodeError};
use crate::config::{SourceCredential, SourceKind, SourceSettings};
use crate::domain::event::{Event, EventKind};
use crate::inbound::verify::Verified;

fn source(kind: SourceKind) -> SourceSettings {
    SourceSettings {
        name: "src".into(),
        kind,
        credential: SourceCredential::Token(SecretString::from("t".to_string())),
        provider: None,
        ack_status: 202,
    }
}

fn run(kind: SourceKind, body: &Value, headers: &[(&str, &str)]) -> Event {
    let bytes = Verified::trusted_fixture(Bytes::from(serde_json::to_vec(body).unwrap()));
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    decode(&source(kind), header, &bytes, "evt_1".into(), 1000).unwrap()
}

#[test]
fn jelou_message_event_becomes_message_received_with_phone_from_contact_id() {
    let body = json!({"object":"message_event","event_type":"message","timestamp":1,"project_id":"p",
        "room_id":"r","contact":{"id":"573001112233","name":"Ana"},"conversation":{"id":"c1"},
        "bot":{"id":"b1"},"value":{"id":"m1","type":"text","content":{"body":"hola"}}});
    let e = run(SourceKind::Jelou, &body, &[]);
    assert_eq!(e.id, "m1");
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.user.id.as_deref(), Some("573001112233"));
    assert_eq!(e.user.phone.as_deref(), Some("+573001112233"));
    assert_eq!(e.user.name.as_deref(), Some("Ana"));
    assert_eq!(e.bot_id.as_deref(), Some("b1"));
    assert_eq!(e.conversation_id.as_deref(), Some("c1"));
    assert_eq!(e.text, "hola");
    assert_eq!(e.message.unwrap().kind.as_deref(), Some("text"));
    assert_eq!(e.raw, body);
}

#[test]
fn jelou_contact_ids_that_are_not_phones_give_no_phone() {
    let body = json!({"object":"message_event","contact":{"id":"web-user-1"},"value":{"id":"m"}});
    assert_eq!(run(SourceKind::Jelou, &body, &[]).user.phone, None);
    let body = json!({"object":"message_event","contact":{"id":"1234567"},"value":{"id":"m"}});
    assert_eq!(run(SourceKind::Jelou, &body, &[]).user.phone, None);
}

#[test]
fn jelou_conversation_events_become_opened_and_closed() {
    let start = run(
        SourceKind::Jelou,
        &json!({"event":"conversation.start","contact":{"id":"1"}}),
        &[],
    );
    assert_eq!(start.kind, EventKind::ConversationOpened);
    let close = run(
        SourceKind::Jelou,
        &json!({"event":"conversation.close"}),
        &[],
    );
    assert_eq!(close.kind, EventKind::ConversationClosed);
}

#[test]
fn jelou_manual_mode_message_depends_on_owner() {
    let body = json!({"messageId":"mm1","bubble":{"type":"text","text":"hi"},"names":"Ana",
        "userId":"573001112233","botId":"b","received":1,"status":"created","owner":"user"});
    let e = run(SourceKind::Jelou, &body, &[]);
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.id, "mm1");
    assert_eq!(e.user.id.as_deref(), Some("573001112233"));
    assert_eq!(e.user.name.as_deref(), Some("Ana"));
    assert_eq!(e.bot_id.as_deref(), Some("b"));
    assert_eq!(e.text, "hi");
    let mut sent = body.clone();
    sent["owner"] = json!("operator");
    assert_eq!(
        run(SourceKind::Jelou, &sent, &[]).kind,
        EventKind::MessageSent
    );
}

#[test]
fn aelyst_event_maps_contact_and_turns_numeric_ids_into_strings() {
    let body = json!({"event_id":"ev1","event_type":"message.received",
        "contact":{"id":42,"firstName":"Ana","lastName":"Soto","phone":"+57 300 111 2233","email":"a@x.co","tags":["vip","lead"]},
        "message":{"messageId":7,"traffic":"incoming","message":{"type":"text","text":"hola"}}});
    let e = run(SourceKind::Aelyst, &body, &[]);
    assert_eq!(e.id, "ev1");
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.user.id.as_deref(), Some("42"));
    assert_eq!(e.user.name.as_deref(), Some("Ana Soto"));
    assert_eq!(e.user.phone.as_deref(), Some("+573001112233"));
    assert_eq!(e.user.email.as_deref(), Some("a@x.co"));
    assert_eq!(e.tags, vec!["vip", "lead"]);
    assert_eq!(e.text, "hola");
    assert_eq!(e.message.unwrap().id.as_deref(), Some("7"));
}

#[test]
fn aelyst_contact_events_become_contact_updated() {
    let body = json!({"event_id":"e","event_type":"contact.tag.updated","contact":{"id":1}});
    assert_eq!(
        run(SourceKind::Aelyst, &body, &[]).kind,
        EventKind::ContactUpdated
    );
    let body = json!({"event_id":"e2","event_type":"conversation.closed","contact":{"id":1}});
    assert_eq!(
        run(SourceKind::Aelyst, &body, &[]).kind,
        EventKind::ConversationClosed
    );
}

#[test]
fn uchat_live_chat_message_uses_user_ns_and_direction() {
    let body = json!({"meta":{"user_ns":"f1u2","agent_id":0,"flow_ns":"f1","team_id":3},
        "message":{"_id":"u1","mid":"mid1","type":"in","msg_type":"text","sender_id":"s9","text":"hey"}});
    let e = run(SourceKind::Uchat, &body, &[]);
    assert_eq!(e.id, "u1");
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.user.ns.as_deref(), Some("f1u2"));
    assert_eq!(e.user.id.as_deref(), Some("s9"));
    assert_eq!(e.text, "hey");
    let out = json!({"meta":{"user_ns":"f"},"message":{"mid":"m2","type":"out","content":"bye"}});
    let e = run(SourceKind::Uchat, &out, &[]);
    assert_eq!(
        (e.id.as_str(), e.kind, e.text.as_str()),
        ("m2", EventKind::MessageSent, "bye")
    );
}

#[test]
fn generic_event_takes_its_id_from_the_webhook_id_header() {
    let body = json!({"id":"body-id","kind":"message.received","user":{"id":"u1","phone":"573001112233","email":"a@b.c"},
        "bot_id":"b","conversation_id":"c","message":{"id":"m","type":"text","text":"hi"},"tags":["a"]});
    let e = run(SourceKind::Generic, &body, &[("webhook-id", "msg_123")]);
    assert_eq!(e.id, "msg_123");
    assert_eq!(e.kind, EventKind::MessageReceived);
    assert_eq!(e.user.phone.as_deref(), Some("+573001112233"));
    assert_eq!(e.text, "hi");
    assert_eq!(e.tags, vec!["a"]);
}

#[test]
fn an_unknown_shape_is_kept_as_other_with_a_body_hash_id() {
    let body = json!({"hello":"world"});
    let e = run(SourceKind::Jelou, &body, &[]);
    assert_eq!(e.kind, EventKind::Other);
    assert_eq!(e.id.len(), 64);
    assert_eq!(e.raw, body);
    assert_eq!(e.text, "");
}

#[test]
fn invalid_json_reports_line_and_column_and_non_objects_are_refused() {
    let src = source(SourceKind::Jelou);
    let bad = Verified::trusted_fixture(Bytes::from_static(b"{\n  \"a\": }"));
    match decode(&src, |_| None, &bad, "e".into(), 0) {
        Err(DecodeError::InvalidJson { line, column, .. }) => assert_eq!((line, column), (2, 8)),
        other => panic!("expected invalid JSON, got {other:?}"),
    }
    let array = Verified::trusted_fixture(Bytes::from_static(b"[1,2]"));
    assert_eq!(
        decode(&src, |_| None, &array, "e".into(), 0).unwrap_err(),
        DecodeError::NotAnObject
    );
}

#[test]
fn nesting_depth_is_counted_outside_strings_only() {
    use super::nested_deeper_than;
    let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let cases: Vec<(String, usize, bool)> = vec![
        (nest(64), 64, false),
        (nest(65), 64, true),
        (nest(100), 64, true),
        (nest(1000), 64, true),
        (
            r#"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#.to_string(),
            2,
            false,
        ),
        (r#"{"a":"\"[[[["}"#.to_string(), 1, false),
        (r#"{"a":{"b":{"c":1}}}"#.to_string(), 2, true),
        (r#"{"a":{"b":{"c":1}}}"#.to_string(), 3, false),
    ];
    for (body, max, deeper) in cases {
        assert_eq!(
            nested_deeper_than(body.as_bytes(), max),
            deeper,
            "{body} at {max}"
        );
    }
}

#[test]
fn a_byte_order_mark_before_the_json_is_ignored() {
    let src = source(SourceKind::Jelou);
    let body = Verified::trusted_fixture(Bytes::from_static(
        b"\xEF\xBB\xBF{\"id\":\"m1\",\"type\":\"message\"}",
    ));
    let event = decode(&src, |_| None, &body, "e".into(), 0).unwrap();
    assert_eq!(event.raw["id"], "m1");
}

#[test]
fn integers_past_u64_are_kept_exactly() {
    let src = source(SourceKind::Aelyst);
    let body = Verified::trusted_fixture(Bytes::from_static(
        b"{\"event_id\":123456789012345678901234567890,\"event_type\":\"contact.updated\",\"contact\":{\"id\":18446744073709551616}}",
    ));
    let event = decode(&src, |_| None, &body, "e".into(), 0).unwrap();
    assert_eq!(event.id, "123456789012345678901234567890");
    assert_eq!(event.user.id.as_deref(), Some("18446744073709551616"));
    let stored = serde_json::to_string(&event.raw).unwrap();
    assert!(
        stored.contains("123456789012345678901234567890"),
        "{stored}"
    );
}
