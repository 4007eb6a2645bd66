//! The shipped alerts and dashboard (`deploy/`) against a real scrape: every metric they
//! name is exported by a running app, and Prometheus' own `promtool` accepts the scrape
//! (`check metrics`) and the rules (`check rules`). Without promtool (Debian package
//! `prometheus`) those two checks are skipped with a notice; the names are checked always.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Every `switchboard_*` name in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("switchboard_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "NOTICE: promtool not found; `promtool check metrics` and `check rules` skipped \
             (apt-get install prometheus)"
        );
    }
    found.then_some("promtool")
}

#[tokio::test]
async fn the_shipped_alerts_and_dashboard_use_only_exported_metrics_and_promtool_accepts_them() {
    let app = spawn_app(&[(
        "r.rhai",
        "if event.text == \"boom\" { throw \"boom\"; } send_text(\"hi\");",
    )])
    .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    let sent = accepted_event_id(app.post_jelou(&jelou_message("m-ok", "hi")).await).await;
    let boom = accepted_event_id(app.post_jelou(&jelou_message("m-boom", "boom")).await).await;
    app.wait_finished(&sent).await;
    app.wait_finished(&boom).await;
    let scrape = app.get("/metrics").await.text().await.unwrap();
    let exported: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    assert!(exported.contains("switchboard_ready"), "{scrape}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(root.join("deploy/grafana/switchboard.json")).unwrap();
    let dashboard_json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(!dashboard_json["panels"].as_array().unwrap().is_empty());
    for (file, text) in [("alerts.yml", &alerts), ("switchboard.json", &dashboard)] {
        let used = metric_names(text);
        assert!(!used.is_empty(), "{file} names no metric");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the app does not export: {missing:?}"
        );
    }
    for needed in [
        "switchboard_provider_state",
        "switchboard_deliveries_total",
        "switchboard_rule_runs_total",
        "switchboard_queue_depth",
        "switchboard_ready",
    ] {
        assert!(
            metric_names(&alerts).contains(needed),
            "alerts.yml should use {needed}"
        );
    }

    if let Some(promtool) = promtool() {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(scrape.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .arg(root.join("deploy/prometheus/alerts.yml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    app.stop().await;
}
