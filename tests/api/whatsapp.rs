//! WhatsApp Cloud API as a source (docs/providers.md), over real HTTP against the real app and
//! store: Meta's `hub.challenge` handshake, `X-Hub-Signature-256`, one event per message or
//! status item of a POST with the answer `{event_ids, duplicates}`, dedupe per message id
//! (statuses per `<id>:<status>`). The payloads are the shipped fixtures, built from Meta's
//! published webhook examples (see docs/providers.md).

use serde_json::{json, Value};
use switchboard::domain::event::EventKind;
use switchboard::inbound::verify::sign_whatsapp;

use crate::helpers::{spawn_app_with, Options, TestApp};

const APP_SECRET: &str = "whatsapp-app-secret";
const VERIFY_TOKEN: &str = "whatsapp-verify-token";

const SOURCE: &str = "[sources.whatsapp]\nkind = \"whatsapp\"\n\
                      secret = \"whatsapp-app-secret\"\nverify_token = \"whatsapp-verify-token\"\n";

/// A rule that answers every customer message, so each event's actions show its order.
const ECHO: &str = "if event.kind == \"message.received\" { provider(\"jelou\").send_text(\"got: \" + event.text); }\n\
                    if event.kind == \"message.status\" { log(\"status \" + event.message.status); }\n";

async fn spawn() -> TestApp {
    let app = spawn_app_with(Options {
        rules: &[("10-echo.rhai", ECHO)],
        extra_config: SOURCE,
        ..Options::default()
    })
    .await;
    app.providers_accept_everything().await;
    app
}

/// The body of a shipped fixture.
fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Value>(&text).unwrap()["body"].clone()
}

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = sign_whatsapp(APP_SECRET, &bytes);
    let response = app
        .post_raw("whatsapp", bytes, &[("X-Hub-Signature-256", &signature)])
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn ids(answer: &Value, key: &str) -> Vec<String> {
    answer[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {answer}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn verification(app: &TestApp, source: &str, query: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/webhooks/{source}?{query}", app.address))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = spawn().await;
    let ok = verification(
        &app,
        "whatsapp",
        &format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");

    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=whatsapp-verify-token&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=whatsapp-verify-token",
        "",
    ] {
        let refused = verification(&app, "whatsapp", query).await;
        assert_eq!(refused.status(), 403, "{query}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "verification_failed", "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains("hub."), "{body}");
    }
    // Another kind of source keeps its old answer; an unknown one is named.
    let jelou = verification(
        &app,
        "jelou",
        "hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
    )
    .await;
    assert_eq!(jelou.status(), 404);
    let body: Value = jelou.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    let unknown = verification(&app, "nope", "hub.challenge=1").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"],
        "unknown_source"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_without_a_valid_x_hub_signature_256_is_401_and_stores_nothing() {
    let app = spawn().await;
    let body = serde_json::to_vec(&fixture("whatsapp-text-agent-request-hands-off")).unwrap();
    let missing = app.post_raw("whatsapp", body.clone(), &[]).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "missing_signature"
    );
    for signature in [
        sign_whatsapp("another-secret", &body),
        sign_whatsapp(APP_SECRET, b"{}"),
        sign_whatsapp(APP_SECRET, &body).replace("sha256=", ""),
    ] {
        let bad = app
            .post_raw(
                "whatsapp",
                body.clone(),
                &[("X-Hub-Signature-256", &signature)],
            )
            .await;
        assert_eq!(bad.status(), 401, "{signature}");
        assert_eq!(bad.json::<Value>().await.unwrap()["error"], "bad_signature");
    }
    let events = app.admin_get("/admin/events?source=whatsapp").await;
    let events: Value = events.json().await.unwrap();
    assert_eq!(events["events"], json!([]), "{events}");
    app.stop().await;
}

#[tokio::test]
async fn a_batch_of_three_messages_gets_three_ids_in_order_and_a_repost_is_all_duplicates() {
    let app = spawn().await;
    let body = fixture("whatsapp-batch-three-messages-after-hours");
    let (status, answer) = post(&app, &body).await;
    assert_eq!(status, 202, "{answer}");
    let first = ids(&answer, "event_ids");
    assert_eq!(first.len(), 3, "{answer}");
    assert!(first.iter().all(|id| id.starts_with("evt_")), "{answer}");
    assert_eq!(ids(&answer, "duplicates"), Vec::<String>::new());

    // Payload order: each event is the message at its place, and its actions follow it.
    let expected = [
        (
            "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzRDAwMDAwMDAwMDAwMDAwMDAwMQA=",
            "Hello",
            "16505551234",
        ),
        (
            "wamid.HBgLNjAxNzM1MjYyMzMVAgASGBQzQUI0NkE4NjM1QTU2NjVGOURGQgA=",
            "I need an agent please",
            "60173526233",
        ),
        (
            "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzRDAwMDAwMDAwMDAwMDAwMDAwMgA=",
            "Thanks!",
            "16505551234",
        ),
    ];
    for (event_id, (message_id, text, from)) in first.iter().zip(expected) {
        let trace = app.wait_finished(event_id).await;
        let event = trace.event.unwrap();
        assert_eq!(event.id, message_id);
        assert_eq!(event.kind, EventKind::MessageReceived);
        assert_eq!(event.text, text);
        assert_eq!(
            event.user.phone.as_deref(),
            Some(format!("+{from}").as_str())
        );
        assert_eq!(event.provider.as_str(), "whatsapp");
        assert_eq!(trace.deliveries.len(), 1, "{event_id}");
        assert_eq!(trace.deliveries[0].status, "done");
    }

    // The same POST again (Meta retries): the same ids, every one a duplicate.
    let (status, again) = post(&app, &body).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(ids(&again, "event_ids"), first);
    assert_eq!(ids(&again, "duplicates"), first);
    app.stop().await;
}

#[tokio::test]
async fn statuses_become_message_status_events_that_the_message_rules_ignore() {
    let app = spawn().await;
    let (status, answer) = post(
        &app,
        &fixture("whatsapp-statuses-sent-delivered-read-failed-do-nothing"),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let event_ids = ids(&answer, "event_ids");
    assert_eq!(event_ids.len(), 4, "{answer}");
    for (event_id, word) in event_ids
        .iter()
        .zip(["sent", "delivered", "read", "failed"])
    {
        let trace = app.wait_finished(event_id).await;
        let event = trace.event.unwrap();
        assert_eq!(event.kind, EventKind::MessageStatus);
        assert_eq!(
            event.id,
            format!("wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=:{word}")
        );
        assert_eq!(event.message.unwrap().status.as_deref(), Some(word));
        assert_eq!(event.user.id.as_deref(), Some("5516992318222"));
        assert!(
            trace.deliveries.is_empty(),
            "{event_id}: {:?}",
            trace.deliveries
        );
        assert!(
            trace.rules.iter().all(|r| r.error.is_none()),
            "{:?}",
            trace.rules
        );
    }
    // The admin API shows the kind and the status.
    let shown: Value = app
        .admin_get(&format!("/admin/events/{}", event_ids[2]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["event"]["kind"], "message.status", "{shown}");
    assert_eq!(shown["event"]["message"]["status"], "read", "{shown}");
    app.stop().await;
}

#[tokio::test]
async fn a_mixed_batch_lists_new_and_duplicate_items_in_payload_order() {
    let app = spawn().await;
    let text = fixture("whatsapp-text-agent-request-hands-off");
    let (_, alone) = post(&app, &text).await;
    let known = ids(&alone, "event_ids");
    assert_eq!(known.len(), 1, "{alone}");

    // One POST: the known message, a new button reply, the same button reply again, and a
    // read receipt of the known message (its own event, never a duplicate of the message).
    let message = text["entry"][0]["changes"][0]["value"]["messages"][0].clone();
    let button = fixture("whatsapp-template-button-back-to-bot")["entry"][0]["changes"][0]["value"]
        ["messages"][0]
        .clone();
    let mut mixed = text.clone();
    let value = &mut mixed["entry"][0]["changes"][0]["value"];
    value["messages"] = json!([message, button, button]);
    let receipt = json!({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",
        "value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "statuses":[{"id": message["id"], "status":"read","timestamp":"1749416500","recipient_id":"16505551234"}]}}]}]});
    mixed["entry"]
        .as_array_mut()
        .unwrap()
        .push(receipt["entry"][0].clone());

    let (status, answer) = post(&app, &mixed).await;
    assert_eq!(status, 202, "{answer}");
    let got = ids(&answer, "event_ids");
    assert_eq!(got.len(), 4, "{answer}");
    assert_eq!(got[0], known[0], "the known message keeps its first id");
    assert_eq!(got[1], got[2], "a repeated item gives the first one's id");
    assert!(
        !known.contains(&got[1]) && !known.contains(&got[3]) && got[1] != got[3],
        "{answer}"
    );
    assert_eq!(
        ids(&answer, "duplicates"),
        vec![got[0].clone(), got[2].clone()]
    );

    let button_event = app.wait_finished(&got[1]).await.event.unwrap();
    assert_eq!(button_event.text, "Back to bot");
    let receipt_event = app.wait_finished(&got[3]).await.event.unwrap();
    assert_eq!(receipt_event.kind, EventKind::MessageStatus);
    assert_eq!(
        receipt_event.id,
        format!("{}:read", message["id"].as_str().unwrap())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_with_neither_messages_nor_statuses_is_one_other_event() {
    let app = spawn().await;
    let body = json!({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[
        {"field":"account_update","value":{"phone_number":"15550783881","event":"VERIFIED_ACCOUNT"}}]}]});
    let (status, answer) = post(&app, &body).await;
    assert_eq!(status, 202, "{answer}");
    let event_ids = ids(&answer, "event_ids");
    assert_eq!(event_ids.len(), 1, "{answer}");
    let event = app.wait_finished(&event_ids[0]).await.event.unwrap();
    assert_eq!(event.kind, EventKind::Other);
    assert_eq!(event.raw, body);
    app.stop().await;
}
