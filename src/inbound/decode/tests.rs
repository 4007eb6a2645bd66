//! Decoder cases: one per platform format, and the fall-backs.

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::{decode, DecodeError};
use crate::config::{SourceCredential, SourceKind, SourceSettings};
use crate::domain::event::{Event, EventKind};
use crate::domain::ids::EventId;
use crate::inbound::verify::Verified;

fn source(kind: SourceKind) -> SourceSettings {
    SourceSettings {
        name: "src".into(),
        kind,
        credential: SourceCredential::Token(SecretString::from("t".to_string())),
        provider: None,
        ack_status: 202,
        verify_token: None,
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
    decode(
        &source(kind),
        header,
        &bytes,
        EventId::unchecked("evt_1".into()),
        1000,
    )
    .unwrap()
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
    assert_eq!(e.user.id.as_deref(), Some("f1u2"));
    assert_eq!(e.text, "hey");
    let out = json!({"meta":{"user_ns":"f"},"message":{"mid":"m2","type":"out","content":"bye"}});
    let e = run(SourceKind::Uchat, &out, &[]);
    assert_eq!(
        (e.id.as_str(), e.kind, e.text.as_str()),
        ("m2", EventKind::MessageSent, "bye")
    );
}

/// One row of the docs/providers.md UChat table: the payload's `message` (with `meta.user_ns`
/// "f1u2"), then the user id, phone and text expected.
type UchatCase = (
    Value,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

#[test]
fn uchat_decoding_follows_the_documented_mapping() {
    let cases: Vec<(&str, UchatCase)> = vec![
        (
            "an agent's reply is about the subscriber, not the agent",
            (
                json!({"_id":"a","type":"out","sender_id":"77","agent_id":77,"text":"ok"}),
                Some("f1u2"),
                None,
                "ok",
            ),
        ),
        (
            "an inbound WhatsApp sender_id is the phone",
            (
                json!({"_id":"b","type":"in","sender_id":"573001234567","text":"hola"}),
                Some("f1u2"),
                Some("+573001234567"),
                "hola",
            ),
        ),
        (
            "an outbound sender_id is never the user's phone",
            (
                json!({"_id":"c","type":"out","sender_id":"573001234567","text":"hi"}),
                Some("f1u2"),
                None,
                "hi",
            ),
        ),
        (
            "a sender_id that is not 8-15 digits gives no phone",
            (
                json!({"_id":"d","type":"in","sender_id":"1234567","text":"x"}),
                Some("f1u2"),
                None,
                "x",
            ),
        ),
        (
            "a web-chat sender_id gives no phone",
            (
                json!({"_id":"e","type":"in","sender_id":"web_5f3a","text":"x"}),
                Some("f1u2"),
                None,
                "x",
            ),
        ),
        (
            "object content gives its text",
            (
                json!({"_id":"f","type":"in","sender_id":"s","content":{"text":"from an object"}}),
                Some("f1u2"),
                None,
                "from an object",
            ),
        ),
        (
            "a URL as content is not text",
            (
                json!({"_id":"g","type":"in","sender_id":"s","msg_type":"image","content":"https://cdn.uchat.com.au/f/photo.jpg"}),
                Some("f1u2"),
                None,
                "",
            ),
        ),
        (
            "a sentence that contains a URL is text",
            (
                json!({"_id":"h","type":"in","sender_id":"s","content":"see https://x.co please"}),
                Some("f1u2"),
                None,
                "see https://x.co please",
            ),
        ),
    ];
    for (what, (message, id, phone, text)) in cases {
        let body = json!({"meta":{"user_ns":"f1u2","agent_id":77},"message":message});
        let e = run(SourceKind::Uchat, &body, &[]);
        assert_eq!(e.user.id.as_deref(), id, "{what}");
        assert_eq!(e.user.ns.as_deref(), Some("f1u2"), "{what}");
        assert_eq!(e.user.phone.as_deref(), phone, "{what}");
        assert_eq!(e.text, text, "{what}");
    }
}

#[test]
fn jelou_value_payloads_are_messages_only_when_they_describe_one() {
    // (what, body, kind, event.id, message.status, text)
    let cases = [
        (
            "a read receipt",
            json!({"type":"status","value":{"status":"read","id":"wamid.1"}}),
            EventKind::MessageStatus,
            "wamid.1:read",
            Some("read"),
            "",
        ),
        (
            "a delivery receipt without a top-level type",
            json!({"contact":{"id":"573001234567"},"value":{"id":"wamid.2","status":"delivered"}}),
            EventKind::MessageStatus,
            "wamid.2:delivered",
            Some("delivered"),
            "",
        ),
        (
            "a value with a message type and content",
            json!({"contact":{"id":"573001234567"},"value":{"id":"m3","type":"text","content":{"body":"hola"}}}),
            EventKind::MessageReceived,
            "m3",
            None,
            "hola",
        ),
        (
            "an image with a caption in value",
            json!({"object":"message_event","contact":{"id":"1"},"value":{"id":"m4","type":"image","content":{"url":"https://x/y.jpg","mime_type":"image/jpeg"},"caption":"my invoice"}}),
            EventKind::MessageReceived,
            "m4",
            None,
            "my invoice",
        ),
        (
            "a document with a caption in content",
            json!({"object":"message_event","contact":{"id":"1"},"value":{"id":"m5","type":"document","content":{"url":"https://x/y.pdf","mime_type":"application/pdf","caption":"contract","filename":"c.pdf"}}}),
            EventKind::MessageReceived,
            "m5",
            None,
            "contract",
        ),
        (
            "a value that is neither",
            json!({"value":{"id":"m6"}}),
            EventKind::Other,
            "m6",
            None,
            "",
        ),
    ];
    for (what, body, kind, id, status, text) in cases {
        let e = run(SourceKind::Jelou, &body, &[]);
        assert_eq!(e.kind, kind, "{what}");
        assert_eq!(e.id, id, "{what}");
        assert_eq!(
            e.message.as_ref().and_then(|m| m.status.as_deref()),
            status,
            "{what}"
        );
        assert_eq!(e.text, text, "{what}");
    }
    let receipt = run(
        SourceKind::Jelou,
        &json!({"type":"status","contact":{"id":"+573001234567"},"value":{"status":"read","id":"wamid.1"}}),
        &[],
    );
    assert_eq!(receipt.message.unwrap().id.as_deref(), Some("wamid.1"));
    assert_eq!(receipt.user.phone.as_deref(), Some("+573001234567"));
}

#[test]
fn jelou_plus_digit_contact_ids_give_the_phone() {
    for (id, phone) in [
        ("+573001234567", Some("+573001234567")),
        ("573001234567", Some("+573001234567")),
        ("+1234567", None),
        ("+5730012345678901", None),
        ("+57 300 123", None),
        ("++573001234567", None),
        ("+", None),
    ] {
        let body = json!({"object":"message_event","contact":{"id":id},"value":{"id":"m","type":"text","content":{"body":"x"}}});
        let e = run(SourceKind::Jelou, &body, &[]);
        assert_eq!(e.user.phone.as_deref(), phone, "{id}");
        assert_eq!(e.user.id.as_deref(), Some(id));
    }
}

fn whatsapp_envelope(value: Value) -> Value {
    let mut full = json!({"messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}});
    full.as_object_mut()
        .unwrap()
        .extend(value.as_object().unwrap().clone());
    json!({"object":"whatsapp_business_account","entry":[{"id":"102290129340398",
        "changes":[{"value":full,"field":"messages"}]}]})
}

fn run_all(kind: SourceKind, body: &Value) -> Vec<Event> {
    let bytes = Verified::trusted_fixture(Bytes::from(serde_json::to_vec(body).unwrap()));
    let mut n = 0;
    super::decode_all(
        &source(kind),
        |_| None,
        &bytes,
        || {
            n += 1;
            EventId::unchecked(format!("evt_{n}"))
        },
        1000,
    )
    .unwrap()
}

#[test]
fn whatsapp_messages_decode_text_buttons_replies_and_captions() {
    let contacts = json!([{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}]);
    // (what, message item, type, text)
    let cases = [
        (
            "text",
            json!({"from":"16505551234","id":"wamid.T","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}),
            "text",
            "Does it come in another color?",
        ),
        (
            "template quick-reply button",
            json!({"context":{"from":"15550783881","id":"wamid.CTX"},"from":"16505551234","id":"wamid.B","timestamp":"1","type":"button","button":{"payload":"Unsubscribe","text":"Unsubscribe from promos"}}),
            "button",
            "Unsubscribe from promos",
        ),
        (
            "interactive button reply",
            json!({"context":{"from":"15550783881","id":"wamid.CTX"},"from":"16505551234","id":"wamid.IB","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"change-button","title":"Change"}}}),
            "interactive",
            "Change",
        ),
        (
            "interactive list reply",
            json!({"from":"16505551234","id":"wamid.IL","timestamp":"1","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"priority_express","title":"Express Shipping","description":"Next Day to 2 Days"}}}),
            "interactive",
            "Express Shipping",
        ),
        (
            "image with caption",
            json!({"from":"16505551234","id":"wamid.I","timestamp":"1","type":"image","image":{"caption":"Is this the right one?","mime_type":"image/jpeg","sha256":"abc=","id":"1003383421387256"}}),
            "image",
            "Is this the right one?",
        ),
        (
            "document with caption",
            json!({"from":"16505551234","id":"wamid.D","timestamp":"1","type":"document","document":{"caption":"The invoice","filename":"inv.pdf","mime_type":"application/pdf","sha256":"x","id":"2"}}),
            "document",
            "The invoice",
        ),
        (
            "image without caption",
            json!({"from":"16505551234","id":"wamid.N","timestamp":"1","type":"image","image":{"mime_type":"image/jpeg","sha256":"x","id":"3"}}),
            "image",
            "",
        ),
    ];
    for (what, item, kind, text) in cases {
        let body = whatsapp_envelope(json!({"contacts":contacts,"messages":[item.clone()]}));
        let events = run_all(SourceKind::Whatsapp, &body);
        assert_eq!(events.len(), 1, "{what}");
        let e = &events[0];
        assert_eq!(e.kind, EventKind::MessageReceived, "{what}");
        assert_eq!(e.id, item["id"].as_str().unwrap(), "{what}");
        assert_eq!(e.provider, SourceKind::Whatsapp, "{what}");
        assert_eq!(e.user.id.as_deref(), Some("16505551234"), "{what}");
        assert_eq!(e.user.phone.as_deref(), Some("+16505551234"), "{what}");
        assert_eq!(e.user.name.as_deref(), Some("Sheena Nelson"), "{what}");
        assert_eq!(e.bot_id.as_deref(), Some("106540352242922"), "{what}");
        assert_eq!(e.text, text, "{what}");
        let message = e.message.as_ref().unwrap();
        assert_eq!(message.kind.as_deref(), Some(kind), "{what}");
        assert_eq!(message.status, None, "{what}");
        assert_eq!(e.raw, body, "{what}: a one-item body is its own raw");
    }
}

#[test]
fn whatsapp_statuses_are_message_status_events_keyed_by_id_and_status() {
    let statuses: Vec<Value> = ["sent", "delivered", "read", "failed"]
        .iter()
        .map(|s| {
            json!({"id":"wamid.S","status":s,"timestamp":"1750857384","recipient_id":"16315551181",
            "conversation":{"id":"a75d17ad06104c51166f948319b03c6a","origin":{"type":"service"}},
            "pricing":{"billable":true,"pricing_model":"CBP","category":"service"}})
        })
        .collect();
    let events = run_all(
        SourceKind::Whatsapp,
        &whatsapp_envelope(json!({"statuses":statuses})),
    );
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "wamid.S:sent",
            "wamid.S:delivered",
            "wamid.S:read",
            "wamid.S:failed"
        ]
    );
    for (e, status) in events.iter().zip(["sent", "delivered", "read", "failed"]) {
        assert_eq!(e.kind, EventKind::MessageStatus);
        let message = e.message.as_ref().unwrap();
        assert_eq!(message.id.as_deref(), Some("wamid.S"));
        assert_eq!(message.status.as_deref(), Some(status));
        assert_eq!(e.user.id.as_deref(), Some("16315551181"));
        assert_eq!(e.user.phone.as_deref(), Some("+16315551181"));
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("a75d17ad06104c51166f948319b03c6a")
        );
        assert_eq!(e.text, "");
        // Each raw holds only its own status, in the same envelope.
        assert_eq!(
            e.raw["entry"][0]["changes"][0]["value"]["statuses"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            e.raw["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"],
            "106540352242922"
        );
    }
}

#[test]
fn a_whatsapp_batch_gives_one_event_per_item_in_payload_order() {
    let two_users = json!({"contacts":[
            {"profile":{"name":"Ana"},"wa_id":"573001111111"},
            {"profile":{"name":"Bo"},"wa_id":"573002222222"}],
        "messages":[
            {"from":"573001111111","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"one"}},
            {"from":"573002222222","id":"wamid.2","timestamp":"2","type":"text","text":{"body":"two"}}]});
    let mut body = whatsapp_envelope(two_users);
    // A second entry (another change) with a status.
    body["entry"].as_array_mut().unwrap().push(json!({"id":"other-waba","changes":[{"field":"messages",
        "value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"999"},
        "statuses":[{"id":"wamid.0","status":"read","timestamp":"3","recipient_id":"573001111111"}]}}]}));
    let events = run_all(SourceKind::Whatsapp, &body);
    /// (event_id, id, user name, bot id, text)
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let summary: Vec<Row> = events
        .iter()
        .map(|e| {
            (
                e.event_id.as_str(),
                e.id.as_str(),
                e.user.name.as_deref(),
                e.bot_id.as_deref(),
                e.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "evt_1",
                "wamid.1",
                Some("Ana"),
                Some("106540352242922"),
                "one"
            ),
            (
                "evt_2",
                "wamid.2",
                Some("Bo"),
                Some("106540352242922"),
                "two"
            ),
            ("evt_3", "wamid.0:read", None, Some("999"), ""),
        ]
    );
    assert_eq!(events[2].raw["entry"][0]["id"], "other-waba");
    // Decoding one event's raw again gives that event alone.
    let again = run_all(SourceKind::Whatsapp, &events[1].raw);
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id.as_str(), again[0].text.as_str()),
        ("wamid.2", "two")
    );
}

#[test]
fn a_whatsapp_post_without_messages_or_statuses_is_one_other_event() {
    for body in [
        json!({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}),
        json!({"object":"whatsapp_business_account","entry":[]}),
        json!({"hello":"world"}),
    ] {
        let events = run_all(SourceKind::Whatsapp, &body);
        assert_eq!(events.len(), 1, "{body}");
        assert_eq!(events[0].kind, EventKind::Other);
        assert_eq!(events[0].id.len(), 64, "a body hash");
        assert_eq!(events[0].raw, body);
    }
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
    match decode(&src, |_| None, &bad, EventId::unchecked("e".into()), 0) {
        Err(DecodeError::InvalidJson { line, column, .. }) => assert_eq!((line, column), (2, 8)),
        other => panic!("expected invalid JSON, got {other:?}"),
    }
    let array = Verified::trusted_fixture(Bytes::from_static(b"[1,2]"));
    assert_eq!(
        decode(&src, |_| None, &array, EventId::unchecked("e".into()), 0).unwrap_err(),
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
    let event = decode(&src, |_| None, &body, EventId::unchecked("e".into()), 0).unwrap();
    assert_eq!(event.raw["id"], "m1");
}

#[test]
fn integers_past_u64_are_kept_exactly() {
    let src = source(SourceKind::Aelyst);
    let body = Verified::trusted_fixture(Bytes::from_static(
        b"{\"event_id\":123456789012345678901234567890,\"event_type\":\"contact.updated\",\"contact\":{\"id\":18446744073709551616}}",
    ));
    let event = decode(&src, |_| None, &body, EventId::unchecked("e".into()), 0).unwrap();
    assert_eq!(event.id, "123456789012345678901234567890");
    assert_eq!(event.user.id.as_deref(), Some("18446744073709551616"));
    let stored = serde_json::to_string(&event.raw).unwrap();
    assert!(
        stored.contains("123456789012345678901234567890"),
        "{stored}"
    );
}
