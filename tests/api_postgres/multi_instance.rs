//! docs/guarantees.md with a PostgreSQL store: any number of `serve` processes share the work. An
//! event id seen by any instance is a duplicate for all, no event is processed twice,
//! per-user order holds across instances, and a crashed instance's leases are taken over.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::inbound::verify::sign_jelou;
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

use switchboard::domain::event::now_millis;

use crate::helpers::*;

async fn post_to(client: &reqwest::Client, address: &str, body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = client
        .post(format!("{address}/webhooks/jelou"))
        .header("X-Jelou-Signature", sign_jelou(JELOU_SECRET, &bytes))
        .header("Content-Type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

fn from_user(user: usize, n: usize) -> Value {
    let mut body = jelou_message(&format!("multi-{user}-{n}"), &format!("{user}:{n}"));
    body["contact"]["id"] = json!(format!("5730055500{user:02}"));
    body
}

async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_duplicates_process_each_event_once_and_keep_each_users_order() {
    let app = spawn_app(&[("r.rhai", "send_text(event.text);")]).await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true}))
                .set_delay(Duration::from_millis(5)),
        )
        .mount(&app.jelou)
        .await;
    let (second, second_store, second_stop) = app.second_instance().await;
    let client = reqwest::Client::new();

    // Seen by one, a duplicate for the other.
    let first = post_to(&client, &app.address, &from_user(99, 0)).await;
    let again = post_to(&client, &second, &from_user(99, 0)).await;
    assert_eq!(
        again,
        json!({"event_id": first["event_id"], "duplicate": true})
    );

    // Eight users, five messages each, alternating between the instances.
    let mut ids = Vec::new();
    for n in 0..5 {
        for user in 0..8 {
            let address = if (user + n) % 2 == 0 {
                &app.address
            } else {
                &second
            };
            let answer = post_to(&client, address, &from_user(user, n)).await;
            ids.push(answer["event_id"].as_str().unwrap().to_string());
        }
    }
    for id in &ids {
        assert_eq!(app.wait_finished(id).await.status, "done");
    }
    let texts: Vec<String> = app
        .jelou
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut counts = std::collections::HashMap::new();
    for text in &texts {
        *counts.entry(text.clone()).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "something was sent twice: {counts:?}"
    );
    assert_eq!(counts.len(), 41);
    for user in 0..8 {
        let order: Vec<&String> = texts
            .iter()
            .filter(|t| t.starts_with(&format!("{user}:")))
            .collect();
        let expected: Vec<String> = (0..5).map(|n| format!("{user}:{n}")).collect();
        assert_eq!(
            order,
            expected.iter().collect::<Vec<_>>(),
            "user {user}'s messages out of order"
        );
    }
    // Both instances did some of the work.
    let (events, deliveries) = second_store.queue_depth().await.unwrap();
    assert_eq!((events, deliveries), (0, 0));
    let _ = second_stop.send(true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instances_leases_are_taken_over_when_they_expire() {
    let app = spawn_app(&[("r.rhai", "send_text(event.text);")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    let url = app.storage_url();
    // Another instance "claimed" an event and a delivery, then died: its leases stay
    // behind. Stop this instance so it cannot pick the rows up first.
    let event = accepted_event_id(
        app.post_jelou(&jelou_message("lease-1", "after the crash"))
            .await,
    )
    .await;
    let app = app.restart().await;
    app.wait_finished(&event).await;
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 1);
    let lease_until = now_millis() + 1500;
    sql(
        &url,
        &format!(
            "UPDATE deliveries SET status = 'in_flight', head = 1, lease_owner = 'dead-instance', \
             lease_until = {lease_until}; \
             UPDATE events SET status = 'processing', finished_at = NULL"
        ),
    )
    .await;
    // Until the lease expires nothing happens; then the delivery is sent again (at least
    // once: the dead instance may or may not have sent it) and the event finishes. The
    // attempt's own time shows the live lease was respected (no waiting on a clock here).
    let trace = app.wait_finished(&event).await;
    assert_eq!(trace.status, "done");
    assert_eq!(app.jelou.received_requests().await.unwrap().len(), 2);
    let resent = trace.deliveries[0].attempts.last().unwrap().at;
    assert!(
        resent >= lease_until,
        "a live lease was not respected: sent again at {resent}, the lease ran until {lease_until}"
    );

    // The same for an event whose rules never ran: a stale claim is taken over.
    let stuck = accepted_event_id(app.post_jelou(&jelou_message("lease-2", "stuck")).await).await;
    app.wait_finished(&stuck).await;
    let lease_until = now_millis() + 1500;
    sql(
        &url,
        &format!(
            "DELETE FROM deliveries WHERE event_seq = (SELECT seq FROM events WHERE event_id = '{stuck}'); \
             DELETE FROM rule_runs WHERE event_seq = (SELECT seq FROM events WHERE event_id = '{stuck}'); \
             UPDATE events SET status = 'received', finished_at = NULL, lease_owner = 'dead-instance', \
             lease_until = {lease_until} WHERE event_id = '{stuck}'"
        ),
    )
    .await;
    let trace = app.wait_finished(&stuck).await;
    assert_eq!(trace.deliveries.len(), 1);
    // Its rules ran again only once the stale claim had expired.
    let sent = trace.deliveries[0].attempts[0].at;
    assert!(
        sent >= lease_until,
        "the claim was taken over at {sent}, before it expired at {lease_until}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_aelyst_announces_holds_for_every_instance_together() {
    // One Aelyst path for every event: a request the rule writes itself.
    let app = spawn_app(&[(
        "r.rhai",
        "provider(\"aelyst\").request(\"POST\", \"/contact/id:1/tag\", [event.text]);",
    )])
    .await;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>> = Default::default();
    let recorder = seen.clone();
    Mock::given(any())
        .respond_with(move |_: &wiremock::Request| {
            recorder.lock().unwrap().push(std::time::Instant::now());
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "2")
                .set_body_json(json!({"contactId": 1}))
        })
        .mount(&app.aelyst)
        .await;
    let (second, _second_store, second_stop) = app.second_instance().await;
    let client = reqwest::Client::new();
    // The first answer announces 2 per second; whichever instance reads it shares it.
    let first = post_to(&client, &app.address, &from_user(50, 0)).await;
    assert_eq!(
        app.wait_finished(first["event_id"].as_str().unwrap())
            .await
            .status,
        "done"
    );
    let mut ids = Vec::new();
    for user in 0..8 {
        let address = if user % 2 == 0 { &app.address } else { &second };
        let answer = post_to(&client, address, &from_user(user, 1)).await;
        ids.push(answer["event_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        assert_eq!(app.wait_finished(id).await.status, "done");
    }
    let times = seen.lock().unwrap().clone();
    assert_eq!(times.len(), 9);
    // 2 per second for both instances together: no three requests within one second (the
    // built-in 5 per second would put three in 420 ms).
    for window in times[1..].windows(3) {
        let span = window[2] - window[0];
        assert!(
            span >= Duration::from_millis(1_000),
            "three requests within {span:?}: {times:?}"
        );
    }
    let _ = second_stop.send(true);
    app.stop().await;
}
