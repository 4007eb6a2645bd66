//! docs/providers.md: every action × provider request (path, body, auth), who the user is at
//! each provider, the order of one event's actions, and each delivery's stored outcome.

use serde_json::{json, Value};
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const JELOU_AUTH: &str = "Basic amVsb3UtY2xpZW50OmplbG91LWNsaWVudC1zZWNyZXQ="; // jelou-client:jelou-client-secret

async fn ok_everywhere(server: &MockServer) {
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "status": "ok"})),
        )
        .mount(server)
        .await;
}

/// One request received by a mock, as (method, path+query, JSON body).
async fn received(server: &MockServer) -> Vec<(String, String, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let target = match r.url.query() {
                Some(q) => format!("{}?{q}", r.url.path()),
                None => r.url.path().to_string(),
            };
            (
                r.method.to_string(),
                target,
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Run `script` on a Jelou message from 573001112233 and return what `server` received.
async fn jelou_event_through(
    script: &str,
    pick: fn(&TestApp) -> &MockServer,
) -> (TestApp, Vec<(String, String, Value)>) {
    let app = spawn_app(&[("rule.rhai", script)]).await;
    for server in [&app.jelou, &app.uchat, &app.aelyst] {
        if std::ptr::eq(server, pick(&app)) {
            continue;
        }
        ok_everywhere(server).await;
    }
    // UChat lookups by phone find one subscriber.
    Mock::given(method("GET"))
        .and(path("/subscribers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "ok", "data": [{"user_ns": "ns-looked-up"}]})),
        )
        .mount(&app.uchat)
        .await;
    ok_everywhere(pick(&app)).await;
    let event_id = accepted_event_id(
        app.post_jelou(&jelou_message(&ulid::Ulid::new().to_string(), "hi"))
            .await,
    )
    .await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.status, "done", "{trace:#?}");
    let requests = received(pick(&app))
        .await
        .into_iter()
        .filter(|(_, p, _)| !p.starts_with("/subscribers"))
        .collect();
    (app, requests)
}

#[tokio::test]
async fn jelou_requests_carry_basic_auth_and_the_documented_paths_and_bodies() {
    let native_user = "573001112233";
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "set_manual(3600);",
            "/v1/users/state",
            json!({"botId": "bot-from-event", "userId": native_user, "state": "manual", "ttl": 3600}),
        ),
        (
            "set_manual();",
            "/v1/users/state",
            json!({"botId": "bot-from-event", "userId": native_user, "state": "manual"}),
        ),
        (
            "set_auto();",
            "/v1/users/state",
            json!({"botId": "bot-from-event", "userId": native_user, "state": "auto"}),
        ),
        (
            "send_text(\"hello\");",
            "/v1/bots/bot-from-event/messages",
            json!({"type": "text", "userId": native_user, "text": "hello"}),
        ),
        (
            "send_contact_card(#{name: \"Ana\", phone: \"+57 (300) 123-4567\"});",
            "/v1/bots/bot-from-event/messages",
            json!({"type": "contacts", "userId": native_user, "contacts": [{"name": {"formatted_name": "Ana", "first_name": "Ana"}, "phones": [{"phone": "+573001234567", "type": "Mobile", "wa_id": "573001234567"}]}]}),
        ),
        (
            "send_contacts([#{name: #{formatted_name: \"B\"}}]);",
            "/v1/bots/bot-from-event/messages",
            json!({"type": "contacts", "userId": native_user, "contacts": [{"name": {"formatted_name": "B"}}]}),
        ),
        (
            "send_call_button(\"Call us\", \"Call\");",
            "/v1/bots/bot-from-event/messages",
            json!({"type": "voice_call", "userId": native_user, "text": "Call us", "parameters": {"display_text": "Call"}}),
        ),
        (
            "send_call_button(\"Hi\", \"Call us\", \"Call\");",
            "/v1/bots/bot-from-event/messages",
            json!({"type": "voice_call", "userId": native_user, "header": "Hi", "text": "Call us", "parameters": {"display_text": "Call"}}),
        ),
    ];
    for (script, expected_path, expected_body) in cases {
        let (app, requests) = jelou_event_through(script, |a| &a.jelou).await;
        assert_eq!(
            requests,
            vec![("POST".into(), expected_path.into(), expected_body)],
            "{script}"
        );
        let raw = &app.jelou.received_requests().await.unwrap()[0];
        assert_eq!(
            raw.headers.get("authorization").unwrap(),
            JELOU_AUTH,
            "{script}"
        );
        assert_eq!(raw.headers.get("content-type").unwrap(), "application/json");
        app.stop().await;
    }
}

#[tokio::test]
async fn uchat_requests_use_bearer_auth_and_a_user_ns_looked_up_by_phone() {
    let ns = "ns-looked-up";
    let cases: Vec<(&str, &str, &str, Value)> = vec![
        (
            "provider(\"uchat\").set_manual(3600);",
            "POST",
            "/subscriber/pause-bot",
            json!({"user_ns": ns, "minutes": 60}),
        ),
        (
            "provider(\"uchat\").set_manual(61);",
            "POST",
            "/subscriber/pause-bot",
            json!({"user_ns": ns, "minutes": 2}),
        ),
        (
            "provider(\"uchat\").set_manual();",
            "POST",
            "/subscriber/pause-bot",
            json!({"user_ns": ns, "minutes": 90}),
        ),
        (
            "provider(\"uchat\").set_auto();",
            "POST",
            "/subscriber/resume-bot",
            json!({"user_ns": ns}),
        ),
        (
            "provider(\"uchat\").send_text(\"yo\");",
            "POST",
            "/subscriber/send-text",
            json!({"user_ns": ns, "content": "yo"}),
        ),
        (
            "add_tag(\"vip\");",
            "POST",
            "/subscriber/add-tag-by-name",
            json!({"user_ns": ns, "tag_name": "vip"}),
        ),
        (
            "remove_tag(\"vip\");",
            "DELETE",
            "/subscriber/remove-tag-by-name",
            json!({"user_ns": ns, "tag_name": "vip"}),
        ),
        (
            "add_label(\"billing\");",
            "POST",
            "/subscriber/add-labels-by-name",
            json!({"user_ns": ns, "data": [{"label_name": "billing"}]}),
        ),
        (
            "remove_label(\"billing\");",
            "DELETE",
            "/subscriber/remove-labels-by-name",
            json!({"user_ns": ns, "data": [{"label_name": "billing"}]}),
        ),
        (
            "provider(\"uchat\").close_conversation(\"spam\", \"dropped\");",
            "POST",
            "/subscriber/move-chat-to",
            json!({"user_ns": ns, "status": "done"}),
        ),
        (
            "provider(\"uchat\").open_conversation();",
            "POST",
            "/subscriber/move-chat-to",
            json!({"user_ns": ns, "status": "open"}),
        ),
    ];
    for (script, expected_method, expected_path, expected_body) in cases {
        let (app, requests) = jelou_event_through(script, |a| &a.uchat).await;
        assert_eq!(
            requests,
            vec![(expected_method.into(), expected_path.into(), expected_body)],
            "{script}"
        );
        let all = app.uchat.received_requests().await.unwrap();
        assert_eq!(all[0].url.path(), "/subscribers");
        assert_eq!(all[0].url.query(), Some("phone=%2B573001112233&limit=2"));
        assert!(all
            .iter()
            .all(|r| r.headers.get("authorization").unwrap() == "Bearer uchat-api-token"));
        app.stop().await;
    }
}

#[tokio::test]
async fn aelyst_requests_name_the_contact_by_phone_off_platform_with_literal_colon_and_plus() {
    let contact = "/contact/phone:+573001112233";
    let cases: Vec<(&str, &str, String, Value)> = vec![
        (
            "provider(\"aelyst\").send_text(\"hey\");",
            "POST",
            format!("{contact}/message"),
            json!({"message": {"type": "text", "text": "hey"}}),
        ),
        (
            "provider(\"aelyst\").add_tag(\"vip\");",
            "POST",
            format!("{contact}/tag"),
            json!(["vip"]),
        ),
        (
            "provider(\"aelyst\").remove_tag(\"vip\");",
            "DELETE",
            format!("{contact}/tag"),
            json!(["vip"]),
        ),
        (
            "close_conversation(\"Resolved\", \"All good\");",
            "POST",
            format!("{contact}/conversation/status"),
            json!({"status": "close", "category": "Resolved", "summary": "All good"}),
        ),
        (
            "close_conversation();",
            "POST",
            format!("{contact}/conversation/status"),
            json!({"status": "close"}),
        ),
        (
            "open_conversation();",
            "POST",
            format!("{contact}/conversation/status"),
            json!({"status": "open"}),
        ),
    ];
    for (script, expected_method, expected_path, expected_body) in cases {
        let (app, requests) = jelou_event_through(script, |a| &a.aelyst).await;
        assert_eq!(
            requests,
            vec![(expected_method.into(), expected_path.clone(), expected_body)],
            "{script}"
        );
        let raw = &app.aelyst.received_requests().await.unwrap()[0];
        assert_eq!(
            raw.headers.get("authorization").unwrap(),
            "Bearer aelyst-api-token"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn native_aelyst_events_name_the_contact_by_id() {
    let app = spawn_app(&[("r.rhai", "add_tag(\"vip\");")]).await;
    Mock::given(method("POST"))
        .and(path("/contact/id:4242/tag"))
        .and(body_json(json!(["vip"])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"contactId": 4242})))
        .expect(1)
        .mount(&app.aelyst)
        .await;
    let event_id = accepted_event_id(app.post_aelyst(&aelyst_message("ae-1", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn off_platform_jelou_actions_use_the_phone_digits_and_the_configured_bot() {
    let app = spawn_app(&[("r.rhai", "set_manual(60);")]).await;
    Mock::given(method("POST"))
        .and(path("/v1/users/state"))
        .and(body_json(
            json!({"botId": "bot-default", "userId": "573001112233", "state": "manual", "ttl": 60}),
        ))
        .and(header("authorization", JELOU_AUTH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "manual"})))
        .expect(1)
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_aelyst(&aelyst_message("ae-2", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn native_uchat_events_use_the_events_user_ns_without_a_lookup() {
    let app = spawn_app(&[("r.rhai", "add_tag(\"vip\");")]).await;
    Mock::given(method("POST"))
        .and(path("/subscriber/add-tag-by-name"))
        .and(body_json(json!({"user_ns": "f123u456", "tag_name": "vip"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .expect(1)
        .mount(&app.uchat)
        .await;
    let event_id = accepted_event_id(app.post_uchat(&uchat_message("uc-1", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn a_uchat_subscriber_looked_up_by_phone_is_remembered_for_the_next_event() {
    let app = spawn_app(&[("r.rhai", "add_tag(\"vip\");")]).await;
    Mock::given(method("GET"))
        .and(path("/subscribers"))
        .and(query_param("phone", "+573001112233"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"user_ns": "ns-1"}]})),
        )
        .expect(1)
        .mount(&app.uchat)
        .await;
    Mock::given(method("POST"))
        .and(path("/subscriber/add-tag-by-name"))
        .and(body_json(json!({"user_ns": "ns-1", "tag_name": "vip"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .expect(2)
        .mount(&app.uchat)
        .await;
    for id in ["lk-1", "lk-2"] {
        let event_id = accepted_event_id(app.post_jelou(&jelou_message(id, "hi")).await).await;
        assert_eq!(app.wait_finished(&event_id).await.status, "done");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_lookup_that_finds_nobody_or_several_dead_letters_the_delivery() {
    for (data, reason) in [
        (json!([]), "user_unknown"),
        (
            json!([{"user_ns": "a"}, {"user_ns": "b"}]),
            "user_ambiguous",
        ),
    ] {
        let app = spawn_app(&[("r.rhai", "add_tag(\"vip\");")]).await;
        Mock::given(method("GET"))
            .and(path("/subscribers"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": data})))
            .mount(&app.uchat)
            .await;
        let event_id =
            accepted_event_id(app.post_jelou(&jelou_message("nobody", "hi")).await).await;
        let trace = app.wait_finished(&event_id).await;
        assert_eq!(trace.status, "failed");
        assert_eq!(trace.deliveries[0].status, "dead");
        assert_eq!(trace.deliveries[0].reason.as_deref(), Some(reason));
        assert_eq!(
            app.uchat.received_requests().await.unwrap().len(),
            1,
            "only the lookup"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_user_with_no_name_at_the_provider_is_dead_lettered_user_unknown_without_a_request() {
    // A UChat event names its user by ns only: Aelyst cannot address them.
    let app = spawn_app(&[("r.rhai", "provider(\"aelyst\").add_tag(\"vip\");")]).await;
    let event_id =
        accepted_event_id(app.post_uchat(&uchat_message("uc-unknown", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries[0].reason.as_deref(), Some("user_unknown"));
    assert!(app.aelyst.received_requests().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn one_events_actions_are_carried_out_in_the_order_the_rules_produced_them() {
    let app = spawn_app(&[
        (
            "10-first.rhai",
            "set_manual(60); add_tag(\"a\"); send_text(\"one\");",
        ),
        (
            "20-second.rhai",
            "provider(\"aelyst\").add_tag(\"b\"); send_text(\"two\");",
        ),
    ])
    .await;
    for server in [&app.jelou, &app.uchat, &app.aelyst] {
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"success": true, "data": [{"user_ns": "n"}]}))
                    .set_delay(std::time::Duration::from_millis(30)),
            )
            .mount(server)
            .await;
    }
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("ordered", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.status, "done");
    let mut all = Vec::new();
    for (name, server) in [
        ("jelou", &app.jelou),
        ("uchat", &app.uchat),
        ("aelyst", &app.aelyst),
    ] {
        for r in server.received_requests().await.unwrap() {
            if r.url.path() != "/subscribers" {
                all.push((
                    trace_time(&trace, name, r.url.path()),
                    name,
                    r.url.path().to_string(),
                ));
            }
        }
    }
    all.sort();
    let order: Vec<_> = all
        .iter()
        .map(|(_, name, path)| format!("{name} {path}"))
        .collect();
    assert_eq!(
        order,
        vec![
            "jelou /v1/users/state",
            "uchat /subscriber/add-tag-by-name",
            "jelou /v1/bots/bot-from-event/messages",
            "aelyst /contact/phone:+573001112233/tag",
            "jelou /v1/bots/bot-from-event/messages",
        ]
    );
    app.stop().await;
}

/// When the attempt for a request path at a provider was made (from the stored trace).
fn trace_time(trace: &switchboard::store::EventTrace, provider: &str, path: &str) -> i64 {
    // Two deliveries may share a path; the stored attempts keep their order by time, and
    // the request URL tells them apart only by path, so pick the earliest unused one.
    thread_local! { static USED: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) }; }
    let mut candidates: Vec<i64> = trace
        .deliveries
        .iter()
        .filter(|d| d.provider == provider)
        .filter(|d| {
            d.request
                .as_ref()
                .and_then(|r| r["url"].as_str())
                .is_some_and(|u| u.ends_with(path))
        })
        .map(|d| d.attempts[0].at * 1000 + d.seq)
        .collect();
    candidates.sort();
    USED.with(|used| {
        let mut used = used.borrow_mut();
        let pick = candidates
            .into_iter()
            .find(|c| !used.contains(c))
            .expect("a matching delivery");
        used.push(pick);
        pick
    })
}

#[tokio::test]
async fn each_delivery_stores_its_request_status_and_response_excerpt() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "messageId": "msg_42"})),
        )
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("stored", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let delivery = &trace.deliveries[0];
    assert_eq!(delivery.status, "done");
    assert_eq!(delivery.request.as_ref().unwrap()["method"], "POST");
    assert!(delivery.request.as_ref().unwrap()["url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/bots/bot-from-event/messages"));
    assert_eq!(delivery.attempts.len(), 1);
    assert_eq!(delivery.attempts[0].status, Some(200));
    assert!(delivery.attempts[0].response_excerpt.contains("msg_42"));
    app.stop().await;
}

#[tokio::test]
async fn a_jelou_answer_with_success_false_is_final() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": false, "error": "outside window"})),
        )
        .expect(1)
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("sf", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries[0].reason.as_deref(), Some("final_status"));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_provider_is_retried_and_then_dead_lettered_after_max_attempts() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("retry", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(
        trace.deliveries[0].reason.as_deref(),
        Some("attempts_exhausted")
    );
    assert_eq!(trace.deliveries[0].attempts.len(), 3);
    app.stop().await;
}
