//! docs/rule-api.md: rules run in file-name order, each isolated: a rule that throws or runs
//! past a limit contributes no actions and an error with file, line and column, and the
//! other rules still run; `stop()` keeps the current rule's actions and skips the rest.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_throwing_rule_and_an_endless_loop_do_not_stop_the_other_rules() {
    let app = spawn_app(&[
        ("10-ok.rhai", "send_text(\"first\");"),
        (
            "20-throws.rhai",
            "send_text(\"never\");\nlet x = 1;\nthrow \"boom\";",
        ),
        ("30-loops.rhai", "send_text(\"never either\");\nloop { }"),
        ("40-ok.rhai", "send_text(\"last\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("iso", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(
        trace.status, "partial",
        "two actions done, two rules failed"
    );
    let texts: Vec<_> = trace
        .deliveries
        .iter()
        .map(|d| d.params["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("first"), json!("last")]);
    let errors: Vec<_> = trace.rules.iter().map(|r| r.error.clone()).collect();
    assert_eq!(errors[0], None);
    let thrown = errors[1].as_deref().unwrap();
    assert!(thrown.ends_with("20-throws.rhai:3:1: boom"), "{thrown}");
    let looped = errors[2].as_deref().unwrap();
    assert!(
        looped.contains("30-loops.rhai:2:") && looped.contains("operations"),
        "{looped}"
    );
    assert_eq!(errors[3], None);
    app.stop().await;
}

#[tokio::test]
async fn stop_keeps_the_current_rules_actions_and_skips_later_rules() {
    let app = spawn_app(&[
        (
            "10-stops.rhai",
            "send_text(\"kept\");\nstop();\nsend_text(\"not reached\");",
        ),
        ("20-skipped.rhai", "send_text(\"skipped\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("stop", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.status, "done");
    assert_eq!(trace.rules.len(), 1, "{:?}", trace.rules);
    assert_eq!(trace.deliveries.len(), 1);
    assert_eq!(trace.deliveries[0].params["text"], "kept");
    app.stop().await;
}

#[tokio::test]
async fn an_action_the_chosen_provider_cannot_carry_out_is_a_rule_error() {
    let app = spawn_app(&[
        (
            "10-bad.rhai",
            "send_text(\"dropped\");\nprovider(\"uchat\").send_call_button(\"a\", \"b\");",
        ),
        ("20-unknown.rhai", "provider(\"nowhere\").send_text(\"x\");"),
        ("30-ok.rhai", "send_text(\"ok\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("cannot", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let bad = trace.rules[0].error.as_deref().unwrap();
    assert!(
        bad.contains("10-bad.rhai:2:") && bad.contains("cannot carry out send_call_button"),
        "{bad}"
    );
    let unknown = trace.rules[1].error.as_deref().unwrap();
    assert!(
        unknown.contains("\"nowhere\" is not configured"),
        "{unknown}"
    );
    assert_eq!(trace.deliveries.len(), 1);
    assert_eq!(trace.deliveries[0].params["text"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn rules_see_the_canonical_event() {
    let app = spawn_app(&[(
        "r.rhai",
        r#"
        if event.kind == "message.received" && event.source == "jelou" && event.provider == "jelou"
            && event.user.phone == "+573001112233" && event.user.email == () && event.text == "ping"
            && event.raw.project_id == "p1" && event.event_id.starts_with("evt_") && event.tags == [] {
            send_text("pong " + event.user.name);
        }
        "#,
    )])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("fields", "ping")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries.len(), 1, "{:#?}", trace.rules);
    assert_eq!(trace.deliveries[0].params["text"], "pong Ana Soto");
    app.stop().await;
}

#[tokio::test]
async fn a_value_over_aelysts_limit_is_a_rule_error_naming_the_limit() {
    let app = spawn_app(&[(
        "r.rhai",
        "let c = \"x\";\nc.pad(129, 'x');\nclose_conversation(c, \"s\");",
    )])
    .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("limit", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let error = trace.rules[0].error.as_deref().unwrap();
    assert!(error.contains("at most 128 characters"), "{error}");
    assert!(trace.deliveries.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_bare_event_is_the_whole_event_not_a_compile_time_placeholder() {
    let app = spawn_app(&[(
        "r.rhai",
        "let e = event;\nif type_of(e) == \"map\" { send_text(e.text); }",
    )])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("bare", "whole")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries.len(), 1, "{:#?}", trace.rules);
    assert_eq!(trace.deliveries[0].params["text"], "whole");
    app.stop().await;
}

const COUNTING_RULE: &str = r#"
let n = (memory_get("messages") ?? 0) + 1;
memory_set("messages", n);
if n == 3 { send_text("third message from " + event.user.id); }
"#;

#[tokio::test]
async fn memory_is_kept_per_user_across_events_and_restarts() {
    let app = spawn_app(&[("count.rhai", COUNTING_RULE)]).await;
    app.providers_accept_everything().await;
    let mut other_user = jelou_message("other-1", "hi");
    other_user["contact"]["id"] = json!("573009999999");
    for id in ["c-1", "c-2"] {
        let event_id = accepted_event_id(app.post_jelou(&jelou_message(id, "hi")).await).await;
        app.wait_finished(&event_id).await;
    }
    let other = accepted_event_id(app.post_jelou(&other_user).await).await;
    assert!(
        app.wait_finished(&other).await.deliveries.is_empty(),
        "another user has a count of their own"
    );
    let app = app.restart().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("c-3", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries.len(), 1, "{:#?}", trace.rules);
    assert_eq!(
        trace.deliveries[0].params["text"],
        "third message from 573001112233"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rule_that_fails_leaves_no_memory_behind() {
    let app = spawn_app(&[
        (
            "10-fails.rhai",
            "memory_set(\"flag\", true);\nthrow \"after writing\";",
        ),
        (
            "20-reads.rhai",
            "if memory_get(\"flag\") == () { send_text(\"no flag\"); }",
        ),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("mem-fail", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries.len(), 1, "{:#?}", trace.rules);
    assert_eq!(trace.deliveries[0].params["text"], "no flag");
    app.stop().await;
}

#[tokio::test]
async fn memory_values_keep_their_json_types() {
    let app = spawn_app(&[(
        "r.rhai",
        r#"
        let seen = memory_get("profile");
        if seen == () {
            memory_set("profile", #{visits: 1, tags: ["a", "b"], vip: true, score: 1.5, name: "Ana"});
        } else if type_of(seen.visits) == "i64" && seen.tags[1] == "b" && seen.vip && seen.score == 1.5 {
            send_text("typed");
        }
        "#,
    )])
    .await;
    app.providers_accept_everything().await;
    for id in ["t-1", "t-2"] {
        let event_id = accepted_event_id(app.post_jelou(&jelou_message(id, "hi")).await).await;
        app.wait_finished(&event_id).await;
    }
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("t-3", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries.len(), 1, "{:#?}", trace.rules);
    app.stop().await;
}

#[tokio::test]
async fn within_hours_uses_the_events_received_time_and_reports_bad_zones() {
    let app = spawn_app(&[
        (
            "10-always.rhai",
            "if within_hours(\"mon-sun 00:00-24:00\", \"America/Bogota\") { send_text(\"open\"); }",
        ),
        (
            "20-bad.rhai",
            "within_hours(\"mon-fri 09:00-18:00\", \"Nowhere/Land\");",
        ),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("hours", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    assert_eq!(trace.deliveries[0].params["text"], "open");
    let error = trace.rules[1].error.as_deref().unwrap();
    assert!(
        error.contains("20-bad.rhai:1:") && error.contains("Nowhere/Land"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn hostile_scripts_stop_at_their_limits_and_leave_other_rules_and_events_alone() {
    let app = spawn_app(&[
        ("10-loop.rhai", "loop { }"),
        ("20-recursion.rhai", "fn dive(n) { dive(n + 1) }\ndive(0);"),
        ("30-string.rhai", "let s = \"x\";\nloop { s += s; }"),
        ("40-array.rhai", "let a = [];\na.pad(20000, 1);"),
        ("50-map.rhai", "let m = #{};\nfor i in 0..2000 { m[`k${i}`] = i; }\nlet copy = m;\nsend_text(\"map \" + copy.len());"),
        ("60-slow.rhai", "let s = \"x\";\ns.pad(60000, 'x');\nloop { let t = s + \"y\"; }"),
        ("90-ok.rhai", "send_text(\"still here\");"),
    ])
    .await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("hostile-1", "hi")).await).await;
    let trace = app.wait_finished(&event_id).await;
    let errors: Vec<String> = trace
        .rules
        .iter()
        .map(|r| r.error.clone().unwrap_or_default())
        .collect();
    let expect = [
        ("10-loop.rhai:1:", "limit of 1000000 operations"),
        ("20-recursion.rhai:2:1", "more than 32 levels deep"),
        ("30-string.rhai:2:", "limit of 65536 bytes"),
        ("40-array.rhai:2:", "limit of 10000 items"),
        ("50-map.rhai:", "limit of 1000 keys"),
        ("60-slow.rhai:3:", "limit of 1000 ms"),
    ];
    for (error, (place, limit)) in errors.iter().zip(expect) {
        assert!(
            error.contains(place) && error.contains(limit),
            "expected {place} … {limit}, got {error}"
        );
    }
    assert_eq!(errors[6], "", "the last rule ran normally");
    let texts: Vec<_> = trace
        .deliveries
        .iter()
        .map(|d| d.params["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("still here")]);
    // The next event is handled as usual.
    let next = accepted_event_id(app.post_jelou(&jelou_message("hostile-2", "hi")).await).await;
    assert_eq!(app.wait_finished(&next).await.deliveries.len(), 1);
    app.stop().await;
}
