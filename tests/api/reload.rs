//! docs/rule-api.md: saving a rule applies to later events within 2 s, whatever way the editor
//! saves; a broken save changes nothing, shows in /admin/rules and keeps /readyz at 200.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use crate::common::wait::{wait_until_async, TIMEOUT};
use crate::helpers::*;

/// Post events until one produces a delivery with `text` (failing only after the generous
/// [`TIMEOUT`]: how soon a save applies is for a benchmark to measure, not a test).
async fn wait_for_text(app: &TestApp, text: &str) {
    let mut n = 0;
    wait_until_async(
        || {
            n += 1;
            let id = format!("{text}-{n}-{}", ulid::Ulid::new());
            async move {
                let event_id =
                    accepted_event_id(app.post_jelou(&jelou_message(&id, "hi")).await).await;
                let trace = app.wait_finished(&event_id).await;
                trace.deliveries.iter().any(|d| d.params["text"] == text)
            }
        },
        format!("\"{text}\" to apply to a new event"),
        TIMEOUT,
    )
    .await;
}

async fn ok_everywhere(app: &TestApp) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
}

#[tokio::test]
async fn a_saved_rule_applies_to_later_events_within_two_seconds() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"v1\");")]).await;
    ok_everywhere(&app).await;
    // The documented "within 2 s" (docs/rule-api.md) is not timed here (a busy machine would fail it at random);
    // the test shows the save applies to later events at all.
    wait_for_text(&app, "v1").await;
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"v2\");").unwrap();
    wait_for_text(&app, "v2").await;
    app.stop().await;
}

#[tokio::test]
async fn a_rename_into_place_save_and_a_truncate_then_write_save_both_apply() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"v1\");")]).await;
    ok_everywhere(&app).await;
    // Rename into place (vim, most IDEs): write a temporary file, rename it over the rule.
    let temp = app.rules_dir().join(".10-r.rhai.swp");
    std::fs::write(&temp, "send_text(\"renamed\");").unwrap();
    std::fs::rename(&temp, app.rules_dir().join("10-r.rhai")).unwrap();
    wait_for_text(&app, "renamed").await;
    // Truncate, then write in pieces (nano, echo >): the half-written state never sticks.
    {
        use std::io::Write;
        let mut file = std::fs::File::create(app.rules_dir().join("10-r.rhai")).unwrap();
        file.write_all(b"send_text(").unwrap();
        file.flush().unwrap();
        // Part of the scenario: the half-written file stays on disk for a moment, as with
        // an editor writing in pieces.
        std::thread::sleep(Duration::from_millis(50));
        file.write_all(b"\"rewritten\");").unwrap();
    }
    wait_for_text(&app, "rewritten").await;
    let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    assert_eq!(rules["rules"][0]["error"], Value::Null, "{rules}");
    app.stop().await;
}

#[tokio::test]
async fn a_broken_save_keeps_the_previous_rules_and_shows_the_error() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"good\");")]).await;
    ok_everywhere(&app).await;
    std::fs::write(app.rules_dir().join("20-new.rhai"), "send_text(\"new\");").unwrap();
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"oops\";\n").unwrap();
    // Wait for the watcher to see and reject the save.
    let rules = wait_until_async(
        || async {
            let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
            rules["rules"][0]["error"].is_string().then_some(rules)
        },
        "the broken save to show in /admin/rules",
        TIMEOUT,
    )
    .await;
    let broken = &rules["rules"][0];
    assert_eq!(broken["file"], "10-r.rhai");
    assert_eq!(broken["active"], true, "the previous version still runs");
    assert!(
        broken["error"].as_str().unwrap().contains("10-r.rhai:1:"),
        "{broken}"
    );
    assert_eq!(
        broken["disk_differs"], true,
        "the file on disk is not what runs"
    );
    let new = &rules["rules"][1];
    assert_eq!(
        (
            new["file"].clone(),
            new["active"].clone(),
            new["disk_differs"].clone()
        ),
        (json!("20-new.rhai"), json!(false), json!(true))
    );
    // The last reload failed, and says where; the count of failures is a metric.
    assert_eq!(rules["reload"]["ok"], false, "{rules}");
    assert!(
        rules["reload"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("10-r.rhai:1:"),
        "{rules}"
    );
    assert!(
        app.metric("switchboard_rules_reload_failures_total", "")
            .await
            >= 1.0
    );
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    let event_id =
        accepted_event_id(app.post_jelou(&jelou_message("after-broken", "hi")).await).await;
    let texts: Vec<Value> = app
        .wait_finished(&event_id)
        .await
        .deliveries
        .iter()
        .map(|d| d.params["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![json!("good")],
        "the whole set is swapped or nothing is"
    );
    // Fixing the file brings in both changes at once.
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"fixed\");").unwrap();
    wait_for_text(&app, "new").await;
    let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    assert_eq!(rules["reload"]["ok"], true, "{rules}");
    for file in rules["rules"].as_array().unwrap() {
        assert_eq!(file["disk_differs"], false, "{file}");
    }
    app.stop().await;
}

#[tokio::test]
async fn emptying_the_folder_is_a_valid_empty_rule_set() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"x\");")]).await;
    ok_everywhere(&app).await;
    std::fs::remove_file(app.rules_dir().join("10-r.rhai")).unwrap();
    app.wait_until("/admin/rules to list no rule", || async {
        let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
        rules["rules"].as_array().unwrap().is_empty()
    })
    .await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("empty", "hi")).await).await;
    assert!(app.wait_finished(&event_id).await.deliveries.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_reload_does_not_set_off_another_reload() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"v1\");")]).await;
    ok_everywhere(&app).await;
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"v2\");").unwrap();
    wait_for_text(&app, "v2").await;
    let loaded = |rules: &Value| rules["rules"][0]["loaded_at"].as_i64().unwrap();
    let first: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    // Reading the rules during a reload must not count as a change: the set stays put.
    // This sleep is the subject of the test, not a stand-in: a reload that set off another
    // would do so after the watcher's 300 ms debounce, and every reload would set off the
    // next, so no later sign (a marker save would fold into that debounce) can show that
    // none is coming; waiting out several debounce windows can.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let later: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    assert_eq!(
        loaded(&first),
        loaded(&later),
        "the rules were reloaded again with no change"
    );
    app.stop().await;
}
