//! docs/providers.md, carried out for real: the new actions (`set_field`, `send_flow`,
//! `send_message`, `provider(...).request`) and the WhatsApp Cloud API provider, each against
//! a wiremock mock that accepts only the documented request shape (method, path, auth header,
//! body); Graph's error codes (130429 retried, 131047 dead-lettered `window_closed`); and
//! `X-RateLimit-Limit` slowing later requests to that path.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

const WA_NUMBER_ID: &str = "106540352242922";
const WA_TOKEN: &str = "wa-test-token";
/// The Jelou test message's user, as WhatsApp's `to`.
const TO: &str = "573001112233";

fn whatsapp_provider(base_url: &str) -> String {
    format!(
        "[providers.wa]\nkind = \"whatsapp\"\nbase_url = \"{base_url}\"\nphone_number_id = \"{WA_NUMBER_ID}\"\ntoken = \"{WA_TOKEN}\"\ncall_phone = \"+57 300 123 4567\"\n"
    )
}

/// What Graph answers to an accepted message.
fn graph_accepted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": TO, "wa_id": TO}],
        "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI"}]
    }))
}

/// A mock that takes exactly one `POST /{phone_number_id}/messages` with this body and the
/// Bearer token.
async fn expect_graph_message(server: &MockServer, name: &str, body: Value) {
    Mock::given(method("POST"))
        .and(path(format!("/{WA_NUMBER_ID}/messages")))
        .and(header(
            "authorization",
            format!("Bearer {WA_TOKEN}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .and(body_json(body))
        .respond_with(graph_accepted())
        .expect(1)
        .named(name)
        .mount(server)
        .await;
}

#[tokio::test]
async fn whatsapp_text_contacts_call_button_and_messages_reach_the_graph_api_in_its_shape() {
    let wa = MockServer::start().await;
    let extra = whatsapp_provider(&wa.uri());
    let app = spawn_app_with(Options {
        rules: &[(
            "r.rhai",
            r#"
            let wa = provider("wa");
            wa.send_text("hola");
            wa.send_contact_card(#{name: "Ana Soto", phone: "+57 300 999 8877"});
            wa.send_call_button("Talk to us", "Tap to call an advisor", "Call");
            wa.send_message(#{type: "reaction", reaction: #{message_id: "wamid.1", emoji: "👍"}});
            "#,
        )],
        extra_config: &extra,
        ..Options::default()
    })
    .await;
    let envelope = |rest: Value| {
        let mut body = json!({"messaging_product": "whatsapp", "to": TO});
        body.as_object_mut()
            .unwrap()
            .extend(rest.as_object().unwrap().clone());
        body
    };
    expect_graph_message(
        &wa,
        "text",
        envelope(json!({"type": "text", "text": {"body": "hola"}})),
    )
    .await;
    expect_graph_message(
        &wa,
        "contacts",
        envelope(json!({"type": "contacts", "contacts": [{
            "name": {"formatted_name": "Ana Soto", "first_name": "Ana Soto"},
            "phones": [{"phone": "+573009998877", "type": "Mobile", "wa_id": "573009998877"}]
        }]})),
    )
    .await;
    expect_graph_message(
        &wa,
        "cta_url call button",
        envelope(json!({"type": "interactive", "interactive": {
            "type": "cta_url",
            "header": {"type": "text", "text": "Talk to us"},
            "body": {"text": "Tap to call an advisor"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Call", "url": "tel:+573001234567"}}
        }})),
    )
    .await;
    expect_graph_message(
        &wa,
        "send_message",
        envelope(json!({"type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": "👍"}})),
    )
    .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("wa1", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let statuses: Vec<&str> = trace.deliveries.iter().map(|d| d.status.as_str()).collect();
    assert_eq!(statuses, ["done"; 4], "{trace:#?}");
    wa.verify().await;
    app.stop().await;
}

/// Answers with the first template once, then with Graph's success.
#[derive(Clone)]
struct OnceThenOk {
    first: ResponseTemplate,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl wiremock::Respond for OnceThenOk {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            self.first.clone()
        } else {
            graph_accepted()
        }
    }
}

#[tokio::test]
async fn whatsapp_throughput_errors_are_retried_and_a_closed_window_is_a_window_closed_dead_letter()
{
    let graph_error = |code: i64, message: &str| {
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
    };
    // (label, first answer, delivery status, dead-letter reason, requests made)
    let rows = [
        (
            "130429 with HTTP 400",
            ResponseTemplate::new(400)
                .set_body_json(graph_error(130_429, "(#130429) Rate limit hit")),
            "done",
            None,
            2,
        ),
        ("HTTP 429", ResponseTemplate::new(429), "done", None, 2),
        (
            "131047",
            ResponseTemplate::new(400).set_body_json(graph_error(
                131_047,
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            )),
            "dead",
            Some("window_closed"),
            1,
        ),
        (
            "another Graph error is final",
            ResponseTemplate::new(400).set_body_json(graph_error(100, "Invalid parameter")),
            "dead",
            Some("final_status"),
            1,
        ),
    ];
    for (label, first, status, reason, requests) in rows {
        let wa = MockServer::start().await;
        let extra = whatsapp_provider(&wa.uri());
        let app = spawn_app_with(Options {
            rules: &[("r.rhai", "provider(\"wa\").send_text(\"hola\");")],
            extra_config: &extra,
            ..Options::default()
        })
        .await;
        let responder = OnceThenOk {
            first,
            seen: Arc::default(),
        };
        Mock::given(any())
            .respond_with(responder.clone())
            .mount(&wa)
            .await;
        let event_id = accepted_event_id(app.post_jelou(&jelou_message("wa2", "hi")).await).await;
        let trace = app.wait_finished(&event_id).await;
        let delivery = &trace.deliveries[0];
        assert_eq!(
            (delivery.status.as_str(), delivery.reason.as_deref()),
            (status, reason),
            "{label}: {trace:#?}"
        );
        assert_eq!(responder.seen.lock().unwrap().len(), requests, "{label}");
        if reason == Some("window_closed") {
            let letters: Value = app
                .admin_get("/admin/dead-letters?reason=window_closed")
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(
                letters["dead_letters"][0]["reason"], "window_closed",
                "{letters}"
            );
            assert_eq!(letters["dead_letters"][0]["last_status"], 400, "{letters}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn uchat_fields_and_flows_and_jelou_messages_send_their_documented_requests() {
    let app = spawn_app(&[(
        "r.rhai",
        r#"
        set_field("handoff_from", "jelou");
        set_field("visits", 3);
        send_flow("f123s456");
        send_message(#{type: "quick_reply", text: "Pick one", quick_replies: [#{title: "Yes"}, #{title: "No"}]});
        "#,
    )])
    .await;
    Mock::given(method("GET"))
        .and(path("/subscribers"))
        .and(query_param("phone", "+573001112233"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"user_ns": "f1u2"}]})),
        )
        .mount(&app.uchat)
        .await;
    for (name, value) in [("handoff_from", "jelou"), ("visits", "3")] {
        Mock::given(method("PUT"))
            .and(path("/subscriber/set-user-field-by-name"))
            .and(body_json(
                json!({"user_ns": "f1u2", "field_name": name, "value": value}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
            .expect(1)
            .named(name)
            .mount(&app.uchat)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/subscriber/send-sub-flow"))
        .and(body_json(
            json!({"user_ns": "f1u2", "sub_flow_ns": "f123s456"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .expect(1)
        .named("send-sub-flow")
        .mount(&app.uchat)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/bots/bot-from-event/messages"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "type": "quick_reply", "text": "Pick one",
            "quick_replies": [{"title": "Yes"}, {"title": "No"}],
            "userId": "573001112233"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .named("jelou send_message")
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("fs1", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let statuses: Vec<&str> = trace.deliveries.iter().map(|d| d.status.as_str()).collect();
    assert_eq!(statuses, ["done"; 4], "{trace:#?}");
    app.uchat.verify().await;
    app.jelou.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn a_provider_request_goes_to_that_provider_with_its_credentials_and_is_retried() {
    let app = spawn_app(&[(
        "r.rhai",
        r#"
        provider("uchat").request("GET", "/subscriber/get-info?user_ns=f1u2", ());
        provider("aelyst").request("post", "/contact/id:4242/comment", #{text: "from a rule"});
        "#,
    )])
    .await;
    // The user is not filled in: no subscriber lookup.
    Mock::given(path("/subscribers"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.uchat)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriber/get-info"))
        .and(query_param("user_ns", "f1u2"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&app.uchat)
        .await;
    Mock::given(method("GET"))
        .and(path("/subscriber/get-info"))
        .and(header("authorization", "Bearer uchat-api-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"user_ns": "f1u2"}})),
        )
        .with_priority(2)
        .expect(1)
        .named("uchat get-info after the 503")
        .mount(&app.uchat)
        .await;
    Mock::given(method("POST"))
        .and(path("/contact/id:4242/comment"))
        .and(header("authorization", "Bearer aelyst-api-token"))
        .and(body_json(json!({"text": "from a rule"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"contactId": 4242})))
        .expect(1)
        .named("aelyst comment")
        .mount(&app.aelyst)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("pr1", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let summary: Vec<(&str, &str, usize)> = trace
        .deliveries
        .iter()
        .map(|d| (d.action.as_str(), d.status.as_str(), d.attempts.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("provider_request", "done", 2),
            ("provider_request", "done", 1)
        ],
        "{trace:#?}"
    );
    // Traced like every other action: the request as sent.
    assert_eq!(
        trace.deliveries[1].request.as_ref().unwrap()["url"],
        format!("{}/contact/id:4242/comment", app.aelyst.uri())
    );
    app.uchat.verify().await;
    app.aelyst.verify().await;
    app.stop().await;
}

#[tokio::test]
async fn x_ratelimit_limit_spaces_later_requests_to_that_path() {
    let app = spawn_app(&[("r.rhai", "for i in 0..4 { send_text(`m${i}`); }")]).await;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorder = seen.clone();
    Mock::given(any())
        .respond_with(move |_: &Request| {
            recorder.lock().unwrap().push(Instant::now());
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "2")
                .set_body_json(json!({"success": true}))
        })
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("rl1", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    let times = seen.lock().unwrap().clone();
    assert_eq!(times.len(), 4);
    // Learned from the first answer: 2 per second from then on, so the second, third and
    // fourth requests span at least two periods of 1/2 s (Jelou has no limit of its own).
    let span = times[3] - times[1];
    assert!(
        span >= Duration::from_millis(1_000),
        "requests 2-4 within {span:?}"
    );
}
