//! docs/guarantees.md: pausing a provider (operator) and its circuit breaker. While paused or
//! open nothing of that provider is attempted and nothing is dead-lettered; resuming sends
//! the waiting deliveries in per-user order.

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Jelou gets the user's texts; the text `other` goes to Aelyst instead (a way to see the
/// executor run while Jelou is held).
const RULE: &str = r#"
if event.text == "other" {
    provider("aelyst").send_text("other");
} else {
    send_text(event.text);
}
"#;

async fn provider_entry(app: &TestApp, name: &str) -> Value {
    let list: Value = app
        .admin_get("/admin/providers")
        .await
        .json()
        .await
        .unwrap();
    list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

/// Jelou answers 503 `failures` times, then 200 to everything.
async fn jelou_fails_then_recovers(app: &TestApp, failures: u64) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(failures)
        .with_priority(1)
        .mount(&app.jelou)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .with_priority(2)
        .mount(&app.jelou)
        .await;
}

/// Post the `other` event (from another user, so that it does not queue behind the first
/// user's held deliveries) and wait until Aelyst has it: the executor has run since.
async fn executor_ran(app: &TestApp, id: &str) {
    let mut other = jelou_message(id, "other");
    other["contact"]["id"] = json!("573009998877");
    let event = accepted_event_id(app.post_jelou(&other).await).await;
    let trace = app.wait_finished(&event).await;
    assert_eq!(trace.deliveries[0].status, "done");
}

#[tokio::test]
async fn a_paused_provider_is_not_attempted_and_resume_sends_its_deliveries_in_order() {
    let app = spawn_app(&[("r.rhai", RULE)]).await;
    app.providers_accept_everything().await;
    let paused = app.admin_post("/admin/providers/jelou/pause", None).await;
    assert_eq!(paused.status().as_u16(), 200);
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["paused_by"], "operator");
    let mut ids = Vec::new();
    for (n, text) in ["first", "second", "third"].iter().enumerate() {
        ids.push(
            accepted_event_id(app.post_jelou(&jelou_message(&format!("p{n}"), text)).await).await,
        );
    }
    app.wait_until("three jelou deliveries waiting", || async {
        provider_entry(&app, "jelou").await["waiting"] == 3
    })
    .await;
    executor_ran(&app, "p-other-1").await;
    assert!(
        app.jelou.received_requests().await.unwrap().is_empty(),
        "nothing is sent to a paused provider"
    );
    let entry = provider_entry(&app, "jelou").await;
    assert_eq!(
        (entry["state"].clone(), entry["in_flight"].clone()),
        (json!("paused"), json!(0))
    );

    let resumed: Value = app
        .admin_post("/admin/providers/jelou/resume", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["state"], "active");
    assert_eq!(resumed["paused_by"], Value::Null);
    for id in &ids {
        let trace = app.wait_finished(id).await;
        assert_eq!(
            trace.deliveries[0].attempts.len(),
            1,
            "no attempt was counted while paused"
        );
    }
    let texts: Vec<Value> = app
        .jelou
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["text"].clone())
        .collect();
    assert_eq!(texts, [json!("first"), json!("second"), json!("third")]);
    app.stop().await;
}

#[tokio::test]
async fn pausing_an_unknown_provider_is_404_and_the_list_names_every_provider() {
    let app = spawn_app(&[]).await;
    let unknown = app.admin_post("/admin/providers/nowhere/pause", None).await;
    assert_eq!(unknown.status().as_u16(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "unknown_provider");
    let list: Value = app
        .admin_get("/admin/providers")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aelyst", "jelou", "uchat"]);
    for p in list["providers"].as_array().unwrap() {
        assert_eq!(p["state"], "active", "{p}");
        assert_eq!(p["waiting"], 0, "{p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_breaker_opens_after_failures_in_a_row_holds_the_provider_then_a_probe_closes_it() {
    let app = spawn_app_with(Options {
        rules: &[("r.rhai", RULE)],
        delivery: Some(
            "max_attempts = 10\nbackoff_base_ms = 20\nbackoff_max_ms = 40\ntimeout_ms = 2000\nmax_in_flight = 4",
        ),
        jelou_extra: "breaker_failures = 3\nbreaker_cooldown_ms = 1500",
        ..Options::default()
    })
    .await;
    // Three failures, then the provider is back.
    jelou_fails_then_recovers(&app, 3).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.aelyst)
        .await;
    let event = accepted_event_id(app.post_jelou(&jelou_message("b1", "hello")).await).await;
    let trace = app.wait_finished(&event).await;
    let delivery = &trace.deliveries[0];
    assert_eq!(delivery.status, "done");
    assert_eq!(delivery.attempts.len(), 4, "three failures and the probe");
    // Without the breaker the fourth try would follow the third after 10–40 ms of backoff;
    // the open breaker held it for the cooldown.
    let held = delivery.attempts[3].at - delivery.attempts[2].at;
    assert!(
        held >= 1500,
        "the probe went {held} ms after the third failure"
    );
    assert_eq!(
        app.metric("switchboard_breaker_opened_total", "provider=\"jelou\"")
            .await,
        1.0
    );
    let entry = provider_entry(&app, "jelou").await;
    assert_eq!(
        entry["state"], "active",
        "the probe's success closed it: {entry}"
    );
    assert!(
        entry["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{entry}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_probe_that_finds_nothing_due_does_not_leave_the_breaker_stuck_open() {
    // One request at a time, and retries due well after the cooldown: the first probes
    // find nothing due. The breaker must keep probing until the retry is due, then close.
    let app = spawn_app_with(Options {
        rules: &[("r.rhai", RULE)],
        delivery: Some(
            "max_attempts = 10\nbackoff_base_ms = 1500\nbackoff_max_ms = 1500\ntimeout_ms = 2000\nmax_in_flight = 1",
        ),
        jelou_extra: "breaker_failures = 1\nbreaker_cooldown_ms = 100",
        ..Options::default()
    })
    .await;
    jelou_fails_then_recovers(&app, 1).await;
    let event = accepted_event_id(app.post_jelou(&jelou_message("stuck-1", "hello")).await).await;
    let trace = app.wait_finished(&event).await;
    assert_eq!(trace.deliveries[0].status, "done");
    assert_eq!(trace.deliveries[0].attempts.len(), 2);
    assert_eq!(provider_entry(&app, "jelou").await["state"], "active");
    app.stop().await;
}
