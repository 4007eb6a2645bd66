//! Contract §5.3: saving a rule applies to later events within 2 s, whatever way the editor
//! saves; a broken save changes nothing, shows in /admin/rules and keeps /readyz at 200.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Post events until one produces a delivery with `text`, or fail after `within`.
async fn wait_for_text(app: &TestApp, text: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let event_id = accepted_event_id(
            app.post_jelou(&jelou_message(
                &format!("{text}-{n}-{}", ulid::Ulid::new()),
                "hi",
            ))
            .await,
        )
        .await;
        let trace = app.wait_finished(&event_id).await;
        if trace.deliveries.iter().any(|d| d.params["text"] == text) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "\"{text}\" did not apply within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    wait_for_text(&app, "v1", Duration::from_secs(2)).await;
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"v2\");").unwrap();
    wait_for_text(&app, "v2", Duration::from_secs(2)).await;
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
    wait_for_text(&app, "renamed", Duration::from_secs(2)).await;
    // Truncate, then write in pieces (nano, echo >): the half-written state never sticks.
    {
        use std::io::Write;
        let mut file = std::fs::File::create(app.rules_dir().join("10-r.rhai")).unwrap();
        file.write_all(b"send_text(").unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        file.write_all(b"\"rewritten\");").unwrap();
    }
    wait_for_text(&app, "rewritten", Duration::from_secs(2)).await;
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
    // Give the watcher time to see and reject the save.
    let deadline = Instant::now() + Duration::from_secs(2);
    let rules = loop {
        let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
        if rules["rules"][0]["error"].is_string() || Instant::now() > deadline {
            break rules;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let broken = &rules["rules"][0];
    assert_eq!(broken["file"], "10-r.rhai");
    assert_eq!(broken["active"], true, "the previous version still runs");
    assert!(
        broken["error"].as_str().unwrap().contains("10-r.rhai:1:"),
        "{broken}"
    );
    let new = &rules["rules"][1];
    assert_eq!(
        (new["file"].clone(), new["active"].clone()),
        (json!("20-new.rhai"), json!(false))
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
    wait_for_text(&app, "new", Duration::from_secs(2)).await;
    app.stop().await;
}

#[tokio::test]
async fn emptying_the_folder_is_a_valid_empty_rule_set() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"x\");")]).await;
    ok_everywhere(&app).await;
    std::fs::remove_file(app.rules_dir().join("10-r.rhai")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let rules: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
        if rules["rules"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{rules}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("empty", "hi")).await).await;
    assert!(app.wait_finished(&event_id).await.deliveries.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_reload_does_not_set_off_another_reload() {
    let app = spawn_app(&[("10-r.rhai", "send_text(\"v1\");")]).await;
    ok_everywhere(&app).await;
    std::fs::write(app.rules_dir().join("10-r.rhai"), "send_text(\"v2\");").unwrap();
    wait_for_text(&app, "v2", Duration::from_secs(2)).await;
    let loaded = |rules: &Value| rules["rules"][0]["loaded_at"].as_i64().unwrap();
    let first: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    // Reading the rules during a reload must not count as a change: the set stays put.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let later: Value = app.admin_get("/admin/rules").await.json().await.unwrap();
    assert_eq!(
        loaded(&first),
        loaded(&later),
        "the rules were reloaded again with no change"
    );
    app.stop().await;
}
