//! The bad day, at test scale: a provider outage and its recovery, a poison event, a lost
//! outcome write, a dead background task, the database file removed under the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// A provider that answers 503 while down and 200 while up, recording every request it
/// accepted: (user, text).
#[derive(Clone, Default)]
struct Flaky {
    up: Arc<AtomicBool>,
    delivered: Arc<Mutex<Vec<(String, String)>>>,
}

impl Respond for Flaky {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !self.up.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.delivered.lock().unwrap().push((
            body["userId"].as_str().unwrap_or_default().to_string(),
            body["text"].as_str().unwrap_or_default().to_string(),
        ));
        ResponseTemplate::new(200).set_body_json(json!({"success": true}))
    }
}

fn from_user(user: &str, id: &str, text: &str) -> Value {
    let mut body = jelou_message(id, text);
    body["contact"]["id"] = json!(user);
    body
}

#[tokio::test]
async fn an_outage_then_recovery_delivers_every_event_once_in_per_user_order() {
    const USERS: usize = 100;
    const EVENTS: usize = 2_000;
    let app = spawn_app_with(Options {
        rules: &[("send.rhai", "send_text(event.text);")],
        delivery: Some(
            "max_attempts = 100000\nbackoff_base_ms = 20\nbackoff_max_ms = 100\ntimeout_ms = 2000\nmax_in_flight = 16",
        ),
        ..Options::default()
    })
    .await;
    let provider = Flaky::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(provider.clone())
        .mount(&app.jelou)
        .await;

    // The provider is down while every event is posted, 16 at a time.
    let app = Arc::new(app);
    let mut posted: HashMap<String, Vec<String>> = HashMap::new();
    let bodies: Vec<(String, String, Value)> = (0..EVENTS)
        .map(|n| {
            let user = format!("57300{:05}", n % USERS);
            let text = format!("{user}-{n:05}");
            (
                user.clone(),
                text.clone(),
                from_user(&user, &format!("m-{n}"), &text),
            )
        })
        .collect();
    for chunk in bodies.chunks(16) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|(_, _, body)| app.post_jelou(body)))
                .await;
        for answer in answers {
            assert_eq!(answer.status(), 202);
        }
        for (user, text, _) in chunk {
            posted.entry(user.clone()).or_default().push(text.clone());
        }
    }
    app.wait_until(
        "the rules decided every event during the outage",
        || async { app.store.queue_depth().await.unwrap().0 == 0 },
    )
    .await;

    // Back up: everything drains.
    provider.up.store(true, Ordering::SeqCst);
    app.wait_until("every delivery finished", || async {
        app.store.queue_depth().await.unwrap() == (0, 0)
    })
    .await;
    let delivered = provider.delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), EVENTS, "each event delivered exactly once");
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for (user, text) in delivered {
        seen.entry(user).or_default().push(text);
    }
    assert_eq!(seen, posted, "per user, in the order accepted");

    if !crate::POSTGRES {
        // Idle again: the WAL is checkpointed and truncated.
        let wal = app.dir().join("data/switchboard.db-wal");
        app.wait_until("the WAL is truncated once idle", || async {
            std::fs::metadata(&wal).map_or(true, |m| m.len() == 0)
        })
        .await;
    }
    Arc::into_inner(app).unwrap().stop().await;
}

#[tokio::test]
async fn bodies_nested_too_deep_are_refused_before_anything_is_stored() {
    let app = spawn_app(&[("send.rhai", "send_text(\"x\");")]).await;
    app.providers_accept_everything().await;
    for depth in [100, 127, 128, 1_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let mut body = jelou_message(&format!("deep-{depth}"), "hi");
        body["value"]["extra"] = serde_json::from_str(&nested).unwrap_or(Value::Null);
        let bytes = if depth >= 128 {
            // serde_json cannot build it; splice the text in.
            serde_json::to_string(&jelou_message(&format!("deep-{depth}"), "hi"))
                .unwrap()
                .replacen(
                    "{\"object\"",
                    &format!("{{\"extra\":{nested},\"object\""),
                    1,
                )
        } else {
            serde_json::to_string(&body).unwrap()
        };
        let signature = switchboard::inbound::verify::sign_jelou(JELOU_SECRET, bytes.as_bytes());
        let answer = app
            .post_raw("jelou", bytes, &[("X-Jelou-Signature", &signature)])
            .await;
        assert_eq!(answer.status(), 400, "depth {depth}");
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["error"], "too_deep", "depth {depth}: {answer}");
    }
    let listed: Value = app.admin_get("/admin/events").await.json().await.unwrap();
    assert_eq!(listed["events"], json!([]), "nothing was stored");

    // Deep but within the limit: accepted and handled.
    let mut body = jelou_message("deep-60", "hi");
    body["value"]["extra"] =
        serde_json::from_str(&format!("{}1{}", "[".repeat(60), "]".repeat(60))).unwrap();
    let event_id = accepted_event_id(app.post_jelou(&body).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_stored_event_is_failed_and_never_stops_the_others() {
    let app = spawn_app(&[("send.rhai", "send_text(event.text);")]).await;
    app.providers_accept_everything().await;
    // A row as an older version could have stored it: JSON too deep to read back.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let now = 1_700_000_000_000_i64;
    app.sql(&format!(
        "INSERT INTO events (event_id, source, dedupe_id, user_key, order_key, user_id, kind, \
         received_at, status, event) VALUES ('evt_poison', 'jelou', 'poison', \
         'jelou\u{1f}id:573001112233', 'jelou\u{1f}id:573001112233', '573001112233', \
         'message.received', {now}, 'received', '{{\"raw\": {deep}}}')"
    ))
    .await;
    // Events after it, the same user's among them, go through.
    let mut later = Vec::new();
    for n in 0..5 {
        later.push(
            accepted_event_id(
                app.post_jelou(&jelou_message(&format!("after-{n}"), "hi"))
                    .await,
            )
            .await,
        );
    }
    for event_id in &later {
        assert_eq!(app.wait_finished(event_id).await.status, "done");
    }
    let poison = app.wait_finished("evt_poison").await;
    assert_eq!(poison.status, "failed");
    assert_eq!(poison.reason.as_deref(), Some("unreadable"));
    assert!(poison.event.is_none());
    // The admin API shows it, with its reason, and lists the page holding it.
    let trace: Value = app
        .admin_get("/admin/events/evt_poison")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trace["reason"], "unreadable", "{trace}");
    let listed: Value = app.admin_get("/admin/events").await.json().await.unwrap();
    let row = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == "evt_poison")
        .cloned()
        .expect("the poison event is listed");
    assert_eq!(row["status"], "failed");
    assert_eq!(row["reason"], "unreadable");
    assert_eq!(row["user"]["id"], "573001112233");
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_stored_delivery_is_dead_lettered_and_never_stops_the_others() {
    let app = spawn_app_with(Options {
        rules: &[("send.rhai", "send_text(event.text);")],
        delivery: Some(
            "max_attempts = 100000\nbackoff_base_ms = 20\nbackoff_max_ms = 100\ntimeout_ms = 2000\nmax_in_flight = 4",
        ),
        ..Options::default()
    })
    .await;
    let provider = Flaky::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(provider.clone())
        .mount(&app.jelou)
        .await;
    // Decided while the provider is down, then damaged where it waits.
    let bad = accepted_event_id(
        app.post_jelou(&from_user("573000000001", "bad-1", "bad"))
            .await,
    )
    .await;
    app.wait_until("the bad event's delivery is waiting", || async {
        app.store.queue_depth().await.unwrap() == (0, 1)
    })
    .await;
    app.sql("UPDATE deliveries SET params = 'not json'").await;
    let good = accepted_event_id(
        app.post_jelou(&from_user("573000000002", "good-1", "good"))
            .await,
    )
    .await;
    provider.up.store(true, Ordering::SeqCst);

    assert_eq!(app.wait_finished(&good).await.status, "done");
    let trace = app.wait_finished(&bad).await;
    assert_eq!(trace.status, "failed");
    assert_eq!(trace.deliveries[0].reason.as_deref(), Some("unreadable"));
    let delivered = provider.delivered.lock().unwrap().clone();
    assert_eq!(
        delivered,
        vec![("573000000002".to_string(), "good".to_string())]
    );
    let letters: Value = app
        .admin_get("/admin/dead-letters")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        letters["dead_letters"][0]["reason"], "unreadable",
        "{letters}"
    );
    app.stop().await;
}

/// A trigger that makes recording a delivery as `done` fail, as a full disk or a lost
/// connection would.
fn failing_outcome_trigger() -> &'static str {
    if crate::POSTGRES {
        "CREATE FUNCTION fail_outcome() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER fail_outcome BEFORE UPDATE ON deliveries FOR EACH ROW \
         WHEN (NEW.status = 'done') EXECUTE FUNCTION fail_outcome();"
    } else {
        "CREATE TRIGGER fail_outcome BEFORE UPDATE OF status ON deliveries \
         WHEN NEW.status = 'done' BEGIN SELECT RAISE(ABORT, 'injected'); END;"
    }
}

#[tokio::test]
async fn an_outcome_write_that_fails_is_tried_again_and_nothing_is_sent_twice() {
    let app = spawn_app(&[("send.rhai", "send_text(event.text);")]).await;
    app.providers_accept_everything().await;
    app.sql(failing_outcome_trigger()).await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("w-1", "hi")).await).await;
    app.wait_until("an outcome write failed", || async {
        app.metric("switchboard_outcome_write_failures_total", "jelou")
            .await
            >= 1.0
    })
    .await;
    app.sql(drop_trigger()).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_whose_outcome_was_lost_is_taken_back_by_its_lease() {
    let app = spawn_app(&[("send.rhai", "send_text(event.text);")]).await;
    app.providers_accept_everything().await;
    app.sql(failing_outcome_trigger()).await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("w-2", "hi")).await).await;
    // Every try failed: the delivery is left in flight.
    app.wait_until("the outcome write was given up", || async {
        app.metric("switchboard_outcome_write_failures_total", "jelou")
            .await
            >= 6.0
    })
    .await;
    // Its lease runs out (made to run out now) and the outcome can be written again.
    app.sql(&format!(
        "{}; UPDATE deliveries SET lease_until = 0 WHERE status = 'in_flight'",
        drop_trigger()
    ))
    .await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    // At least once: the first request's outcome was lost, so it went out again.
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn deliveries_whose_outcomes_cannot_be_written_stop_at_twice_max_in_flight() {
    // max_in_flight = 2: two requests at a time, and at most four deliveries between their
    // claim and their written outcome. Without that bound, each answer frees a slot and the
    // next delivery goes out while the earlier outcomes still wait for the store.
    let app = spawn_app_with(Options {
        rules: &[("send.rhai", "send_text(event.text);")],
        delivery: Some(
            "max_attempts = 3\nbackoff_base_ms = 50\nbackoff_max_ms = 200\ntimeout_ms = 5000\nmax_in_flight = 2",
        ),
        ..Options::default()
    })
    .await;
    app.providers_accept_everything().await;
    app.sql(failing_outcome_trigger()).await;
    let mut event_ids = Vec::new();
    for n in 0..12 {
        let mut body = jelou_message(&format!("bound-{n}"), "hi");
        body["contact"]["id"] = json!(format!("57300{n:07}")); // twelve users, no order between them
        event_ids.push(accepted_event_id(app.post_jelou(&body).await).await);
    }
    // Three failed writes for each of four deliveries: the executor has had every chance to
    // send more (each answer woke it).
    app.wait_until(
        "four deliveries failed to record their outcome three times",
        || async {
            app.metric("switchboard_outcome_write_failures_total", "jelou")
                .await
                >= 12.0
        },
    )
    .await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 4);
    app.sql(drop_trigger()).await;
    for event_id in &event_ids {
        assert_eq!(app.wait_finished(event_id).await.status, "done");
    }
    app.stop().await;
}

fn drop_trigger() -> &'static str {
    if crate::POSTGRES {
        "DROP TRIGGER fail_outcome ON deliveries"
    } else {
        "DROP TRIGGER fail_outcome"
    }
}

#[tokio::test]
async fn a_background_task_that_dies_is_restarted_and_readyz_says_so_meanwhile() {
    let app = spawn_app(&[("send.rhai", "send_text(event.text);")]).await;
    app.providers_accept_everything().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert!(app.tasks.kill("rules"));
    app.wait_until(
        "readyz answers 503 while the rule worker is down",
        || async { app.get("/readyz").await.status() == 503 },
    )
    .await;
    app.wait_until("the rule worker is restarted", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(
        app.metric("switchboard_task_restarts_total", "task=\"rules\"")
            .await,
        1.0
    );
    let event_id =
        accepted_event_id(app.post_jelou(&jelou_message("after-restart", "hi")).await).await;
    assert_eq!(app.wait_finished(&event_id).await.status, "done");
    app.stop().await;
}

#[tokio::test]
async fn the_database_file_removed_under_serve_turns_readyz_and_webhooks_to_503() {
    if crate::POSTGRES {
        return; // a file of its own is SQLite's
    }
    let app = spawn_app(&[("send.rhai", "send_text(event.text);")]).await;
    app.providers_accept_everything().await;
    let event_id = accepted_event_id(app.post_jelou(&jelou_message("before", "hi")).await).await;
    app.wait_finished(&event_id).await;
    for file in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        let _ = std::fs::remove_file(app.dir().join("data").join(file));
    }
    let answer = app.post_jelou(&jelou_message("after", "hi")).await;
    assert_eq!(answer.status(), 503);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["error"], "store_unavailable");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(
        ready["message"].as_str().unwrap().contains("removed"),
        "{ready}"
    );
    app.stop().await;
}
