//! docs/commands.md `switchboard backtest` and docs/http-api.md `POST /admin/backtest`: a rules folder run
//! over the stored events of a window, compared with what was decided at the time, beside
//! the running server (on either store), with the memory each event saw.

use serde_json::{json, Value};
use switchboard::config::Settings;
use switchboard::dryrun::action_line;
use switchboard::store::EventTrace;

use crate::common::process;
use crate::helpers::*;

/// Counts this user's messages; from the second one on, says "again".
const COUNT: &str = "let n = memory_get(\"n\") ?? 0;\nmemory_set(\"n\", n + 1);\nif n >= 1 { send_text(\"again\"); }\n";
const VIP: &str = "if event.text.contains(\"vip\") { send_text(\"hello vip\"); }\n";
const BYE: &str = "if event.text.contains(\"two\") { send_text(\"bye\"); }\n";
const ERR: &str = "if event.text == \"plain\" { let x = event.user.email.len(); }\n";

/// `switchboard backtest ARGS` run in the app's folder, beside the running app: (exit
/// code, stdout).
fn backtest(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["backtest", "--config", "switchboard.toml"];
    all.extend_from_slice(args);
    let output = process::wait_exit(
        process::switchboard(app.dir(), &all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code() == Some(0),
        "backtest {args:?} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), stdout)
}

/// The recorded action of `trace` with this text, as its 6.3 line without `event_id`.
fn recorded_line(app: &TestApp, trace: &EventTrace, text: &str) -> Value {
    let settings = Settings::load(&app.dir().join("switchboard.toml")).unwrap();
    let event = trace.event.as_ref().unwrap();
    let action = trace
        .rules
        .iter()
        .flat_map(|r| r.actions.iter())
        .find(|a| a.params["text"] == text)
        .unwrap_or_else(|| panic!("no recorded {text:?} in {trace:?}"));
    let mut line = action_line(&settings, event, action);
    line.as_object_mut().unwrap().remove("event_id");
    line
}

#[tokio::test]
async fn backtest_shows_exactly_the_changed_actions_and_rule_errors_of_stored_events() {
    let app = spawn_app(&[("10-count.rhai", COUNT), ("20-vip.rhai", VIP)]).await;
    app.providers_accept_everything().await;
    let mut ids = Vec::new();
    let mut traces = Vec::new();
    for (n, text) in ["vip one", "plain", "vip two"].iter().enumerate() {
        let id = accepted_event_id(
            app.post_jelou(&jelou_message(&format!("bt-{n}"), text))
                .await,
        )
        .await;
        traces.push(app.wait_finished(&id).await);
        ids.push(id);
    }
    // What was decided, with the memory each event was given.
    assert_eq!(
        traces[1].memory,
        Some(serde_json::from_value(json!({"n": 1})).unwrap())
    );

    // The same rules: nothing changed, even from a window that starts after the first event
    // (the memory the others saw comes from the store, not from replaying the window).
    let (_, out) = backtest(&app, &["--since", "1h"]);
    assert_eq!(out, "3 events, 0 changed, 0 rule errors\n");
    let second = traces[1].event.as_ref().unwrap().received_at.to_string();
    let (_, out) = backtest(&app, &["--since", &second]);
    assert_eq!(out, "2 events, 0 changed, 0 rule errors\n");

    // Changed rules in another folder; the server keeps running its own.
    let changed = app.dir().join("changed");
    std::fs::create_dir_all(changed.join("shadow")).unwrap();
    std::fs::write(changed.join("10-count.rhai"), COUNT).unwrap();
    std::fs::write(changed.join("20-vip.rhai"), BYE).unwrap();
    std::fs::write(changed.join("30-err.rhai"), ERR).unwrap();
    // Shadow rules are not backtested.
    std::fs::write(
        changed.join("shadow/90-never.rhai"),
        "send_text(\"shadow\");",
    )
    .unwrap();
    let drafts = json!({"10-count.rhai": COUNT, "20-vip.rhai": BYE});
    let tried: Value = app
        .admin_post("/admin/try", Some(&json!({"source": "jelou", "body": jelou_message("bt-try", "vip two"), "rules": drafts})))
        .await
        .json()
        .await
        .unwrap();
    let mut bye = tried["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["params"]["text"] == "bye")
        .unwrap()
        .clone();
    bye.as_object_mut().unwrap().remove("event_id");
    let vip_then = |n: usize| recorded_line(&app, &traces[n], "hello vip");
    let column = ERR.find("len(").unwrap() + 1;
    let expected = format!(
        "CHANGED {} -{}\nERROR {} changed/30-err.rhai:1:{column}: len() was called on a value that is empty (()): check that event.user.email is set before using it\nCHANGED {} +{} -{}\n3 events, 2 changed, 1 rule errors\n",
        ids[0], vip_then(0), ids[1], ids[2], bye, vip_then(2)
    );
    let (_, out) = backtest(&app, &["--rules", "changed", "--since", "1h"]);
    assert_eq!(out, expected);

    // --json, --source, --limit.
    let (_, out) = backtest(&app, &["--rules", "changed", "--since", "1h", "--json"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[3], "3 events, 2 changed, 1 rule errors");
    let entries: Vec<Value> = lines[..3]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries[0],
        json!({"event_id": ids[0], "added": [], "removed": [vip_then(0)], "errors": []})
    );
    assert_eq!(
        entries[2],
        json!({"event_id": ids[2], "added": [bye], "removed": [vip_then(2)], "errors": []})
    );
    assert_eq!(entries[1]["added"], json!([]));
    let (_, out) = backtest(
        &app,
        &["--rules", "changed", "--since", "1h", "--limit", "1"],
    );
    assert_eq!(
        out.lines().last(),
        Some("1 events, 1 changed, 0 rule errors"),
        "{out}"
    );
    let (_, out) = backtest(
        &app,
        &["--rules", "changed", "--since", "1h", "--source", "aelyst"],
    );
    assert_eq!(out, "0 events, 0 changed, 0 rule errors\n");
    // A window before the events holds none.
    let (_, out) = backtest(
        &app,
        &["--rules", "changed", "--since", "3h", "--until", "2h"],
    );
    assert_eq!(out, "0 events, 0 changed, 0 rule errors\n");

    // The admin route, with the changed rules as drafts: the same answer.
    let drafts = json!({"10-count.rhai": COUNT, "20-vip.rhai": BYE, "30-err.rhai": ERR});
    let response = app
        .admin_post(
            "/admin/backtest",
            Some(&json!({"rules": drafts, "since": "1h"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["events"], 3, "{answer}");
    assert_eq!(answer["rule_errors"], 1, "{answer}");
    let changed = answer["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 3, "{answer}");
    assert_eq!(changed[0], entries[0]);
    assert_eq!(changed[2], entries[2]);
    assert_eq!(
        changed[1]["errors"],
        json!([format!("30-err.rhai:1:{column}: len() was called on a value that is empty (()): check that event.user.email is set before using it")])
    );
    // Without drafts: the loaded rules, nothing changed.
    let answer: Value = app
        .admin_post(
            "/admin/backtest",
            Some(&json!({"since": "1h", "source": "jelou"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"events": 3, "changed": [], "rule_errors": 0})
    );
    app.stop().await;
}

#[tokio::test]
async fn backtest_refuses_bad_windows_drafts_and_rules_folders_with_a_sentence() {
    let app = spawn_app(&[("10-a.rhai", "send_text(\"a\");")]).await;
    for (body, status, code) in [
        (json!({"since": "yesterday"}), 400, "invalid_query"),
        (json!({"since": "1h", "until": "2h"}), 400, "invalid_query"),
        (json!({"source": "nowhere"}), 400, "invalid_query"),
        (
            json!({"rules": {"10-a.rhai": "send_text('ab');"}}),
            422,
            "rule_compile",
        ),
        (json!({"rules": {"a.txt": "x"}}), 400, "invalid_rules"),
        (json!({"sinse": "1h"}), 400, "invalid_json"),
    ] {
        let response = app.admin_post("/admin/backtest", Some(&body)).await;
        assert_eq!(response.status(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], code, "{body}: {answer}");
        assert!(!answer["message"].as_str().unwrap().is_empty(), "{answer}");
    }

    let run = |args: &[&str]| {
        let mut all = vec!["backtest", "--config", "switchboard.toml"];
        all.extend_from_slice(args);
        process::switchboard(app.dir(), &all).output().unwrap()
    };
    std::fs::create_dir_all(app.dir().join("broken")).unwrap();
    std::fs::write(app.dir().join("broken/10-b.rhai"), "send_text(\"a\";").unwrap();
    let out = run(&["--rules", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken/10-b.rhai:1:14: ") && stderr.contains("cannot be backtested"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = run(&["--rules", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the rules folder"));
    let out = run(&["--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
    app.stop().await;
}
