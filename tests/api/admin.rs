//! docs/http-api.md: the admin API behind its token — events (list, filters, paging, trace,
//! replay), dead letters (list, redrive), rules state, and the try-it dry run.

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn admin_routes_need_the_token_and_are_off_without_one() {
    let app = spawn_app(&[]).await;
    for path in [
        "/admin/events",
        "/admin/dead-letters",
        "/admin/rules",
        "/admin/events/evt_x",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        let wrong = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path}");
        assert_eq!(
            app.admin_get(path).await.status().as_u16(),
            if path.ends_with("evt_x") { 404 } else { 200 }
        );
    }
    app.stop().await;
    let off = spawn_app_with(Options {
        admin_token: Some(""),
        ..Options::default()
    })
    .await;
    assert_eq!(off.admin_get("/admin/events").await.status().as_u16(), 404);
    assert_eq!(off.get("/admin/rules").await.status().as_u16(), 404);
    off.stop().await;
}

#[tokio::test]
async fn every_admin_path_and_method_goes_through_the_token_check_first() {
    // The check is middleware on the whole /admin scope: routes that exist, with either
    // method, and paths that match no route all answer 401 without the token.
    let app = spawn_app(&[]).await;
    for (method, path) in [
        ("GET", "/admin/events"),
        ("POST", "/admin/events/evt_x/replay"),
        ("POST", "/admin/dead-letters/1/redrive"),
        ("POST", "/admin/try"),
        ("DELETE", "/admin/rules"),
        ("GET", "/admin/no-such-route"),
        ("POST", "/admin"),
        ("GET", "/admin/events?token=ADMIN"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
    }
    // With the token, an unknown admin path is a JSON 404 (not an open door).
    let unknown = app.admin_get("/admin/no-such-route").await;
    assert_eq!(unknown.status().as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_matches_in_any_case() {
    let app = spawn_app(&[]).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .client
            .get(format!("{}/admin/rules", app.address))
            .header("authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
    app.stop().await;
}

#[tokio::test]
async fn events_are_listed_newest_first_with_filters_and_paging() {
    let app = spawn_app(&[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            accepted_event_id(
                app.post_jelou(&jelou_message(&format!("list-{i}"), "hi"))
                    .await,
            )
            .await,
        );
    }
    let aelyst = accepted_event_id(app.post_aelyst(&aelyst_message("list-ae", "hi")).await).await;
    let uchat = accepted_event_id(app.post_uchat(&uchat_message("list-uc", "hi")).await).await;

    let all: Value = app.admin_get("/admin/events").await.json().await.unwrap();
    let listed: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed[0], uchat, "newest first");
    assert_eq!(listed.len(), 7);
    let first = &all["events"][6];
    assert_eq!(first["source"], "jelou");
    assert_eq!(first["kind"], "message.received");
    assert_eq!(first["user"]["phone"], "+573001112233");
    assert!(first["received_at"].is_i64() && first["status"].is_string());

    let by = |query: &str| {
        let app = &app;
        let query = query.to_string();
        async move {
            let body: Value = app
                .admin_get(&format!("/admin/events?{query}"))
                .await
                .json()
                .await
                .unwrap();
            body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by("source=aelyst").await, vec![aelyst.clone()]);
    assert_eq!(by("user=ana@example.com").await, vec![aelyst.clone()]);
    assert_eq!(by("user=f123u456").await, vec![uchat.clone()]);
    assert_eq!(
        by("user=573001112233").await.len(),
        6,
        "phone without +: jelou and aelyst events"
    );
    assert_eq!(by("user=%2B573001112233").await.len(), 6, "phone with +");
    assert_eq!(by("kind=other").await.len(), 0);
    assert_eq!(by("until=0").await.len(), 0);
    assert_eq!(by("since=2000-01-01T00:00:00Z").await.len(), 7);

    let page: Value = app
        .admin_get("/admin/events?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .admin_get(&format!("/admin/events?limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let next_ids: Vec<&str> = next["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        next_ids,
        vec![ids[3].as_str(), ids[2].as_str(), ids[1].as_str()]
    );
    let last: Value = app
        .admin_get(&format!(
            "/admin/events?limit=3&cursor={}",
            next["next_cursor"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["events"].as_array().unwrap().len(), 1);
    assert_eq!(last["next_cursor"], Value::Null);

    let bad = app.admin_get("/admin/events?status=weird").await;
    assert_eq!(bad.status().as_u16(), 400);
    app.stop().await;
}

#[tokio::test]
async fn an_events_trace_shows_payload_rules_and_every_attempt() {
    let app = spawn_app(&[
        ("10-ok.rhai", "send_text(\"hi\");"),
        ("20-bad.rhai", "throw \"nope\";"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("trace-1", "hola")).await).await;
    app.wait_finished(&event_id).await;
    let trace: Value = app
        .admin_get(&format!("/admin/events/{event_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trace["event"]["event_id"], event_id.as_str());
    assert_eq!(trace["event"]["raw"]["value"]["content"]["body"], "hola");
    assert_eq!(trace["rules"][0]["rule"], "10-ok.rhai");
    assert_eq!(trace["rules"][0]["actions"][0]["action"], "send_text");
    assert!(trace["rules"][1]["error"]
        .as_str()
        .unwrap()
        .contains("20-bad.rhai:1:1: nope"));
    let delivery = &trace["deliveries"][0];
    assert_eq!(delivery["action"], "send_text");
    assert_eq!(delivery["provider"], "jelou");
    assert_eq!(delivery["status"], "done");
    assert_eq!(delivery["request"]["method"], "POST");
    assert_eq!(delivery["attempts"][0]["status"], 200);
    assert!(delivery["attempts"][0]["at"].is_i64());
    assert!(delivery["attempts"][0]["response_excerpt"]
        .as_str()
        .unwrap()
        .contains("success"));
    assert_eq!(
        app.admin_get("/admin/events/evt_nope")
            .await
            .status()
            .as_u16(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn replaying_an_event_runs_the_current_rules_and_a_dry_run_only_shows_them() {
    let app = spawn_app(&[("10-text.rhai", "send_text(\"again\");")]).await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("replay-1", "hi")).await).await;
    app.wait_finished(&event_id).await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 1);

    let dry: Value = app
        .admin_post(
            &format!("/admin/events/{event_id}/replay?dry_run=true"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dry["actions"][0]["action"], "send_text");
    assert!(dry["actions"][0]["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/bots/bot-from-event/messages"));
    // Nothing was sent yet; whether the dry run queued anything shows below: the real
    // replay's delivery goes out after anything queued before it for the same user.
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        1,
        "a dry run sends nothing"
    );

    let response = app
        .admin_post(&format!("/admin/events/{event_id}/replay"), None)
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let run: Value = response.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    assert!(run_id.starts_with("run_"));
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(
        trace.deliveries.len(),
        2,
        "the first run and the real replay; a dry run stores no delivery"
    );
    assert_eq!(trace.deliveries[1].run_id.as_str(), run_id);
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        2,
        "the first run and the real replay; a dry run sends nothing"
    );
    assert_eq!(
        app.admin_post("/admin/events/evt_missing/replay", None)
            .await
            .status()
            .as_u16(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dead_letter_is_listed_with_its_attempts_and_can_be_redriven_once() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad user"})))
        .up_to_n_times(1)
        .mount(&app.jelou)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("dead-1", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "failed");

    let list: Value = app
        .admin_get("/admin/dead-letters")
        .await
        .json()
        .await
        .unwrap();
    let dead = &list["dead_letters"][0];
    assert_eq!(dead["event_id"], event_id.as_str());
    assert_eq!(dead["action"], "send_text");
    assert_eq!(dead["provider"], "jelou");
    assert_eq!(dead["reason"], "final_status");
    assert_eq!(dead["last_status"], 400);
    assert!(dead["last_response"].as_str().unwrap().contains("bad user"));
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(dead["request"]["method"], "POST");
    let id = dead["id"].as_i64().unwrap();

    let redrive = app
        .admin_post(&format!("/admin/dead-letters/{id}/redrive"), None)
        .await;
    assert_eq!(redrive.status().as_u16(), 202);
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.status, "done");
    assert_eq!(
        trace.deliveries[0].attempts.len(),
        2,
        "the earlier attempt is kept"
    );
    let list: Value = app
        .admin_get("/admin/dead-letters")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "a redriven letter stays listed");
    assert!(list["dead_letters"][0]["redriven_at"].is_i64(), "{list}");
    assert_eq!(trace.deliveries[0].redrive_of.map(|l| l.get()), Some(id));
    assert_eq!(
        app.admin_post(&format!("/admin/dead-letters/{id}/redrive"), None)
            .await
            .status()
            .as_u16(),
        409
    );
    assert_eq!(
        app.admin_post("/admin/dead-letters/99999/redrive", None)
            .await
            .status()
            .as_u16(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn the_rules_state_lists_every_file() {
    let app = spawn_app(&[("10-a.rhai", "1;"), ("20-b.rhai", "2;")]).await;
    let body: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    let rules = body["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["file"], "10-a.rhai");
    assert_eq!(rules[0]["active"], true);
    assert_eq!(rules[0]["error"], Value::Null);
    assert!(rules[1]["loaded_at"].is_i64());
    app.stop().await;
}

#[tokio::test]
async fn try_it_runs_the_current_rules_on_a_pasted_payload_without_sending() {
    let app = spawn_app(&[("r.rhai", "if event.text == \"agent\" { set_manual(600); }")]).await;
    let answer = app
        .admin_post(
            "/admin/try",
            Some(&json!({"source": "jelou", "body": jelou_message("try-1", "agent")})),
        )
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["actions"][0]["action"], "set_user_state");
    assert_eq!(body["actions"][0]["request"]["body"]["ttl"], 600);
    assert_eq!(body["event"]["text"], "agent");
    let bad = app
        .admin_post(
            "/admin/try",
            Some(&json!({"source": "nowhere", "body": {}})),
        )
        .await;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(app.jelou.received_requests().await.unwrap().is_empty());
    let listed: Value = app.admin_get("/admin/events").await.json().await.unwrap();
    assert!(
        listed["events"].as_array().unwrap().is_empty(),
        "try-it stores nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn try_it_runs_draft_rules_instead_of_the_loaded_ones_and_names_a_drafts_syntax_error() {
    let app = spawn_app(&[("r.rhai", "add_tag(\"loaded\");")]).await;
    let try_with = |rules: Value| json!({"source": "jelou", "body": jelou_message("draft-1", "hola"), "rules": rules});
    let answer = app
        .admin_post(
            "/admin/try",
            Some(&try_with(json!({
                "20-second.rhai": "add_tag(\"second\");",
                "10-first.rhai": "add_tag(\"first \" + event.text);",
            }))),
        )
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    let tags: Vec<&Value> = body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["params"]["name"])
        .collect();
    assert_eq!(
        tags,
        [&json!("first hola"), &json!("second")],
        "drafts only, in name order: {body}"
    );
    assert_eq!(body["rules"][0]["rule"], "10-first.rhai");

    let broken = app
        .admin_post(
            "/admin/try",
            Some(&try_with(
                json!({"10-broken.rhai": "add_tag(\"x\");\nif {"}),
            )),
        )
        .await;
    assert_eq!(broken.status().as_u16(), 422);
    let error: Value = broken.json().await.unwrap();
    assert_eq!(error["error"], "rule_compile");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("10-broken.rhai:2:"),
        "{error}"
    );
    // A contact phone that cannot be written in E.164 is a rule error naming it.
    let bad_phone: Value = app
        .admin_post(
            "/admin/try",
            Some(&try_with(
                json!({"10-card.rhai": "send_contact_card(#{name: \"Ana\", phone: \"call 12\"});"}),
            )),
        )
        .await
        .json()
        .await
        .unwrap();
    let error = bad_phone["rules"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("\"call 12\"") && error.contains("E.164"),
        "{bad_phone}"
    );
    assert_eq!(bad_phone["actions"], json!([]));
    let badly_named = app
        .admin_post(
            "/admin/try",
            Some(&try_with(json!({"../x.rhai": "add_tag(\"x\");"}))),
        )
        .await;
    assert_eq!(badly_named.status().as_u16(), 400);

    // The loaded rules are untouched, and nothing was sent.
    let loaded: Value = app
        .admin_post(
            "/admin/try",
            Some(&json!({"source": "jelou", "body": jelou_message("draft-2", "hola")})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(loaded["actions"][0]["params"]["name"], "loaded");
    assert!(app.jelou.received_requests().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn retention_purges_finished_events_but_keeps_dead_letters_and_unfinished_work() {
    let app = spawn_app_with(Options {
        rules: &[("r.rhai", "send_text(event.text);")],
        delivery: Some("max_attempts = 5\nbackoff_base_ms = 60000\nbackoff_max_ms = 60000\ntimeout_ms = 2000\nmax_in_flight = 4"),
        ..Options::default()
    })
    .await;
    Mock::given(wiremock::matchers::body_partial_json(json!({"text": "ok"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    Mock::given(wiremock::matchers::body_partial_json(
        json!({"text": "dead"}),
    ))
    .respond_with(ResponseTemplate::new(404))
    .mount(&app.jelou)
    .await;
    Mock::given(wiremock::matchers::body_partial_json(
        json!({"text": "later"}),
    ))
    .respond_with(ResponseTemplate::new(503))
    .mount(&app.jelou)
    .await;
    let mut ids = Vec::new();
    for (i, text) in ["ok", "dead", "later"].iter().enumerate() {
        let mut body = jelou_message(&format!("ret-{i}"), text);
        body["contact"]["id"] = json!(format!("5730011122{i:02}"));
        ids.push(accepted_event_id(app.post_jelou(&body).await).await);
    }
    app.wait_finished(&ids[0]).await;
    app.wait_finished(&ids[1]).await;
    // The third waits a minute for its retry after its first attempt: still unfinished.
    app.wait_until("the third event's first attempt failed", || async {
        let trace = app
            .store
            .event_trace(&ids[2].parse().unwrap())
            .await
            .unwrap();
        trace.is_some_and(|t| t.deliveries.iter().any(|d| !d.attempts.is_empty()))
    })
    .await;
    let purged = switchboard::store::retention::purge_expired(&app.store, 0)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert!(
        app.store
            .event_trace(&ids[0].parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "the finished event is gone"
    );
    assert!(
        app.store
            .event_trace(&ids[1].parse().unwrap())
            .await
            .unwrap()
            .is_some(),
        "its dead letter keeps it"
    );
    assert!(
        app.store
            .event_trace(&ids[2].parse().unwrap())
            .await
            .unwrap()
            .is_some(),
        "unfinished work is kept"
    );
    assert_eq!(
        switchboard::store::retention::purge_expired(&app.store, 30)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_rule_runs_and_deliveries_and_time_them() {
    let app = spawn_app(&[
        ("10-ok.rhai", "send_text(\"hi\");"),
        ("20-bad.rhai", "throw \"x\";"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("metrics-2", "hi")).await).await;
    app.wait_finished(&event_id).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for needle in [
        "switchboard_rule_runs_total{outcome=\"ok\",rule=\"10-ok.rhai\"} 1",
        "switchboard_rule_runs_total{outcome=\"error\",rule=\"20-bad.rhai\"} 1",
        "switchboard_deliveries_total{action=\"send_text\",outcome=\"success\",provider=\"jelou\"} 1",
        "switchboard_provider_request_seconds_count{provider=\"jelou\"} 1",
        "switchboard_rule_seconds_count 1",
        "switchboard_ingest_seconds_count 1",
        "switchboard_queue_depth 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_id_in_an_admin_path_that_is_not_an_id_is_answered_as_an_unknown_one() {
    let app = spawn_app(&[]).await;
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    // A well-formed id nobody has, and texts no event id looks like: the same 404 sentence.
    for (path, id) in [
        (
            "evt_01NOTTHERE000000000000000",
            "evt_01NOTTHERE000000000000000",
        ),
        ("nope", "nope"),
        ("evt_", "evt_"),
        ("EVT_1", "EVT_1"),
        ("evt_a%20b", "evt_a b"),
        (
            "run_01JD3X5N8Q2V7W4K6M9P0R1S2T",
            "run_01JD3X5N8Q2V7W4K6M9P0R1S2T",
        ),
    ] {
        let unknown = json!({
            "error": "unknown_event",
            "message": format!("no event {id} is stored (it may have been purged by retention)"),
        });
        let got = answer(app.admin_get(&format!("/admin/events/{path}")).await).await;
        assert_eq!(got, (404, unknown.clone()), "{path}");
        let got = answer(
            app.admin_post(&format!("/admin/events/{path}/replay"), None)
                .await,
        )
        .await;
        assert_eq!(got, (404, unknown.clone()), "{path}");
        // The query is read first: a bad one is a 400 whatever the id.
        let (status, body) = answer(
            app.admin_post(&format!("/admin/events/{path}/replay?dry_run=maybe"), None)
                .await,
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_query")),
            "{path}"
        );
    }
    for (path, id) in [
        ("99999", "99999"),
        ("-5", "-5"),
        ("abc", "abc"),
        ("1.5", "1.5"),
    ] {
        let got = answer(
            app.admin_post(&format!("/admin/dead-letters/{path}/redrive"), None)
                .await,
        )
        .await;
        let unknown =
            json!({"error": "unknown_dead_letter", "message": format!("no dead letter {id}")});
        assert_eq!(got, (404, unknown), "{path}");
    }
    app.stop().await;
}
