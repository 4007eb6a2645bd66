//! docs/rule-api.md shadow rules: `rules/shadow/*.rhai` run on every event after the live rules
//! (also after a live `stop()`); their actions are recorded in the trace, never sent; their
//! memory writes are discarded; `GET /admin/shadow` sums them up; the metric counts them.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn shadow_actions_are_traced_and_summarised_but_never_reach_the_provider() {
    let app = spawn_app(&[
        (
            "10-live.rhai",
            "let seen = memory_get(\"seen\");\nsend_text(\"live\");\nstop();",
        ),
        (
            "shadow/50-try.rhai",
            "send_text(\"shadow says hi\");\nmemory_set(\"seen\", true);",
        ),
        ("shadow/60-same.rhai", "send_text(\"live\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    let mut traces = Vec::new();
    for n in 0..2 {
        let id = accepted_event_id(
            app.post_jelou(&jelou_message(&format!("sh-{n}"), "hi"))
                .await,
        )
        .await;
        traces.push(app.wait_finished(&id).await);
    }
    for trace in &traces {
        assert_eq!(
            trace.deliveries.len(),
            1,
            "only the live action is carried out: {trace:?}"
        );
        let shadow: Vec<(String, Vec<Value>, Option<String>)> = trace
            .shadow
            .iter()
            .map(|r| {
                (
                    r.rule.clone(),
                    r.actions.iter().map(|a| json!(a.params)).collect(),
                    r.error.clone(),
                )
            })
            .collect();
        assert_eq!(
            shadow,
            vec![
                (
                    "50-try.rhai".to_string(),
                    vec![json!({"text": "shadow says hi"})],
                    None
                ),
                (
                    "60-same.rhai".to_string(),
                    vec![json!({"text": "live"})],
                    None
                ),
            ]
        );
    }
    // The shadow rule's memory_set was discarded: the second event saw no "seen".
    assert_eq!(traces[1].memory, Some(serde_json::Map::new()));
    let sent: Vec<String> = app
        .jelou
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|body| !body.contains("shadow says hi")),
        "a shadow action reached the provider: {sent:?}"
    );

    // The admin trace shows them too.
    let trace: Value = app
        .admin_get(&format!(
            "/admin/events/{}",
            traces[0].event.as_ref().unwrap().event_id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trace["shadow"][0]["rule"], "50-try.rhai");
    assert_eq!(
        trace["shadow"][0]["actions"][0]["params"]["text"],
        "shadow says hi"
    );

    let summary: Value = app
        .admin_get("/admin/shadow?since=1h")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        summary,
        json!({"rules": [
            {"file": "50-try.rhai", "events": 2, "actions": 2, "differs_from_live": 2},
            {"file": "60-same.rhai", "events": 2, "actions": 2, "differs_from_live": 0},
        ]})
    );
    let default_window: Value = app.admin_get("/admin/shadow").await.json().await.unwrap();
    assert_eq!(default_window, summary);
    let later: Value = app
        .admin_get("/admin/shadow?since=2099-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        later["rules"][0],
        json!({"file": "50-try.rhai", "events": 0, "actions": 0, "differs_from_live": 0})
    );
    let bad = app.admin_get("/admin/shadow?since=soon").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        app.metric("switchboard_shadow_actions_total", "rule=\"50-try.rhai\"")
            .await,
        2.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_broken_shadow_file_does_not_stop_the_live_rules_from_reloading() {
    let app = spawn_app(&[
        ("10-live.rhai", "send_text(\"one\");"),
        ("shadow/50-s.rhai", "send_text(\"s\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    std::fs::write(app.rules_dir().join("shadow/50-s.rhai"), "send_text('ss');").unwrap();
    std::fs::write(app.rules_dir().join("10-live.rhai"), "send_text(\"two\");").unwrap();
    app.wait_until(
        "the live rule to reload and the shadow error to show",
        || async {
            let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
            let files = rules["rules"].as_array().cloned().unwrap_or_default();
            let live_ok = files
                .iter()
                .any(|f| f["file"] == "10-live.rhai" && f["disk_differs"] == false);
            let shadow_err = files.iter().any(|f| {
                f["file"] == "shadow/50-s.rhai"
                    && f["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("double quotes"))
            });
            live_ok && shadow_err && rules["reload"]["ok"] == false
        },
    )
    .await;
    let id = accepted_event_id(app.post_jelou(&jelou_message("sh-reload", "hi")).await).await;
    let trace = app.wait_finished(&id).await;
    assert_eq!(trace.deliveries[0].params["text"], "two");
    // The previous shadow set still runs.
    assert_eq!(trace.shadow[0].actions[0].params["text"], "s");
    app.stop().await;
}
