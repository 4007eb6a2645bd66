//! docs/http-api.md: what operators use on a bad day — dead letters filtered, counted and paged
//! to the last one, bulk redrive and discard, event search and the added filters, the
//! rejections log, per-minute stats, and `since`/`until` as RFC 3339 or unix milliseconds.

use std::collections::HashSet;

use serde_json::{json, Value};
use wiremock::matchers::{any, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Jelou events get `send_text` (to Jelou), UChat events an Aelyst tag, which dead-letters
/// `user_unknown` at once (a UChat user has no Aelyst name).
const RULES: &[(&str, &str)] = &[(
    "r.rhai",
    "if event.source == \"uchat\" { provider(\"aelyst\").add_tag(\"vip\"); } else { send_text(\"hi\"); }",
)];

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Post `n` Jelou messages `<prefix>-<i>` and wait until each finished; their event ids.
async fn finished_jelou_events(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = jelou_message(&format!("{prefix}-{i}"), &format!("message {prefix} {i}"));
        ids.push(accepted_event_id(app.post_jelou(&body).await).await);
    }
    for id in &ids {
        app.wait_finished(id).await;
    }
    ids
}

async fn dead_letter_page(app: &TestApp, query: &str) -> Value {
    let (status, body) =
        json_of(app.admin_get(&format!("/admin/dead-letters?{query}")).await).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test]
async fn dead_letters_are_filtered_counted_and_paged_to_the_last_one() {
    let app = spawn_app(RULES).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no"})))
        .mount(&app.jelou)
        .await;
    let jelou = finished_jelou_events(&app, "dl", 7).await;
    let mut unknown = Vec::new();
    for i in 0..3 {
        let id = accepted_event_id(
            app.post_uchat(&uchat_message(&format!("uc-{i}"), "x"))
                .await,
        )
        .await;
        app.wait_finished(&id).await;
        unknown.push(id);
    }

    // Every page of 3, newest first, reaches all 10 exactly once.
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".into(),
        };
        let page = dead_letter_page(&app, &query).await;
        assert_eq!(page["total"], 10, "total counts every match on every page");
        pages += 1;
        seen.extend(
            page["dead_letters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 10);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seen:?}"
    );

    let first = dead_letter_page(&app, "").await;
    let letter = &first["dead_letters"][0];
    for field in [
        "created_at",
        "redriven_at",
        "discarded_at",
        "attempts",
        "request",
        "last_response",
    ] {
        assert!(letter.get(field).is_some(), "{field} in {letter}");
    }
    assert!(letter["redriven_at"].is_null());

    let count = |query: &'static str| {
        let app = &app;
        async move {
            dead_letter_page(app, query).await["total"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(count("provider=jelou").await, 7);
    assert_eq!(count("provider=aelyst&reason=user_unknown").await, 3);
    assert_eq!(count("action=send_text&last_status=400").await, 7);
    assert_eq!(count("reason=final_status&provider=aelyst").await, 0);
    assert_eq!(
        count("since=2000-01-01T00:00:00Z&until=4102444800000").await,
        10
    );
    assert_eq!(count("since=4102444800000").await, 0);
    let page = dead_letter_page(&app, "provider=jelou&limit=500").await;
    let events: HashSet<&str> = page["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(events, jelou.iter().map(String::as_str).collect());

    for bad in [
        "limit=0",
        "limit=501",
        "since=yesterday",
        "until=2026-13-01",
        "reason=tired",
        "include=everything",
        "last_status=abc",
        "colour=red",
        "cursor=x",
    ] {
        let (status, body) =
            json_of(app.admin_get(&format!("/admin/dead-letters?{bad}")).await).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_query", "{bad}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let (_, body) = json_of(app.admin_get("/admin/dead-letters?since=yesterday").await).await;
    assert!(
        body["message"].as_str().unwrap().contains("RFC 3339"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_redrive_restarts_each_open_letter_once_and_discard_keeps_them_for_the_record() {
    let app = spawn_app(RULES).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no"})))
        .up_to_n_times(5)
        .mount(&app.jelou)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    let events = finished_jelou_events(&app, "bulk", 5).await;
    let unknown = accepted_event_id(app.post_uchat(&uchat_message("uc-bulk", "x")).await).await;
    app.wait_finished(&unknown).await;
    let page = dead_letter_page(&app, "provider=jelou").await;
    assert_eq!(page["total"], 5);
    let discarded = page["dead_letters"][0]["id"].as_i64().unwrap();

    let (status, body) = json_of(
        app.admin_post(
            "/admin/dead-letters/discard",
            Some(&json!({"ids": [discarded]})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["discarded"].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    assert_eq!(
        dead_letter_page(&app, "provider=jelou").await["total"],
        4,
        "discarded ones are left out"
    );
    let with = dead_letter_page(&app, "provider=jelou&include=discarded").await;
    assert_eq!(with["total"], 5, "kept for the record");
    assert!(
        with["dead_letters"][0]["discarded_at"].is_i64(),
        "{}",
        with["dead_letters"][0]
    );

    // By filter: the four open Jelou letters; the user_unknown one is skipped and counted.
    let (status, body) = json_of(
        app.admin_post("/admin/dead-letters/redrive", Some(&json!({"filter": {}})))
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["redriven"], 4, "{body}");
    assert_eq!(body["skipped_user_unknown"], 1, "{body}");
    let (_, again) = json_of(
        app.admin_post("/admin/dead-letters/redrive", Some(&json!({"filter": {}})))
            .await,
    )
    .await;
    assert_eq!(
        again["redriven"], 0,
        "a second identical call redrives none: {again}"
    );
    let (_, none) = json_of(
        app.admin_post(
            "/admin/dead-letters/discard",
            Some(&json!({"ids": [discarded]})),
        )
        .await,
    )
    .await;
    assert_eq!(none["discarded"], 0, "already discarded");

    let mut done = 0;
    for id in &events {
        let trace = app.wait_finished(id).await;
        if trace.status == "done" {
            done += 1;
            let delivery = &trace.deliveries[0];
            assert!(
                delivery.redrive_of.is_some(),
                "the trace links the old letter: {delivery:?}"
            );
            assert_eq!(delivery.attempts.len(), 2, "the earlier attempt is kept");
        }
    }
    assert_eq!(
        done, 4,
        "every redriven delivery succeeded; the discarded one stays failed"
    );
    let listed = dead_letter_page(&app, "provider=jelou").await;
    let redriven = listed["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["redriven_at"].is_i64())
        .count();
    assert_eq!(redriven, 4, "redriven letters stay listed with redriven_at");

    // Named by filter reason, user_unknown letters are redriven.
    let (_, body) = json_of(
        app.admin_post(
            "/admin/dead-letters/redrive",
            Some(&json!({"filter": {"reason": "user_unknown"}})),
        )
        .await,
    )
    .await;
    assert_eq!(body["redriven"], 1, "{body}");

    for bad in [
        json!({}),
        json!({"ids": [1], "filter": {}}),
        json!({"ids": "all"}),
        json!({"filter": {"since": "soon"}}),
        json!({"filter": {"colour": "red"}}),
    ] {
        let (status, body) = json_of(
            app.admin_post("/admin/dead-letters/redrive", Some(&bad))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            !body["message"].as_str().unwrap_or_default().is_empty(),
            "{body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_thousand_dead_letters_are_redriven_in_one_call_and_all_delivered() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(1000)
        .mount(&app.jelou)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    for i in 0..1000 {
        // Each its own user: no user waits for another.
        let mut body = jelou_message(&format!("k-{i}"), "hi");
        body["contact"]["id"] = json!(format!("5730011{i:05}"));
        assert!(app.post_jelou(&body).await.status().is_success());
    }
    app.wait_until("1000 dead letters", || async {
        dead_letter_page(&app, "limit=1").await["total"] == 1000
    })
    .await;
    let (status, body) = json_of(
        app.admin_post(
            "/admin/dead-letters/redrive",
            Some(&json!({"filter": {"provider": "jelou"}})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["redriven"].as_i64()),
        (202, Some(1000)),
        "{body}"
    );
    app.wait_until("every redriven delivery to succeed", || async {
        let (_, page) = json_of(app.admin_get("/admin/events?status=done&limit=1").await).await;
        page["total"] == 1000
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn search_finds_events_by_the_words_of_their_text_and_payload_at_once() {
    let app = spawn_app(&[(
        "r.rhai",
        "if event.text.contains(\"parrot\") { send_text(\"hi\"); }",
    )])
    .await;
    Mock::given(path("/v1/bots/bot-from-event/messages"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.jelou)
        .await;
    let parrot = accepted_event_id(
        app.post_jelou(&jelou_message("s-1", "The blue parrot sings"))
            .await,
    )
    .await;
    // Searchable as soon as the 202 came back: no wait.
    let (_, found) = json_of(app.admin_get("/admin/events?q=parrot").await).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["events"][0]["event_id"], parrot.as_str());

    let mut fox = jelou_message("s-2", "a red fox");
    fox["project_id"] = json!("zebra-project");
    let fox = accepted_event_id(app.post_jelou(&fox).await).await;
    let other = accepted_event_id(app.post_aelyst(&aelyst_message("s-3", "blue sky")).await).await;
    app.wait_finished(&parrot).await;
    app.wait_finished(&fox).await;
    app.wait_finished(&other).await;

    let ids = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, expected) in [
        ("q=PARROT", vec![parrot.clone()]),
        ("q=zebra", vec![fox.clone()]),
        ("q=blue", vec![other.clone(), parrot.clone()]),
        ("q=blue%20parrot", vec![parrot.clone()]),
        ("q=blue%20fox", vec![]),
        ("q=blue&source=aelyst", vec![other.clone()]),
        ("q=blue&limit=1", vec![other.clone()]),
        ("provider=jelou", vec![parrot.clone()]),
        ("action=send_text&q=blue", vec![parrot.clone()]),
        ("rule=r.rhai", vec![parrot.clone()]),
        ("http_status=503", vec![parrot.clone()]),
        ("rule_error=true", vec![]),
        ("rule_error=false&q=fox", vec![fox.clone()]),
        ("since=0&until=4102444800000&q=sky", vec![other.clone()]),
    ] {
        let (status, page) = json_of(app.admin_get(&format!("/admin/events?{query}")).await).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    let (_, page) = json_of(app.admin_get("/admin/events?q=blue&limit=1").await).await;
    assert_eq!(page["total"], 2, "total counts beyond the page");
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, next) = json_of(
        app.admin_get(&format!("/admin/events?q=blue&limit=1&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(ids(&next), vec![parrot.clone()]);
    assert!(next["next_cursor"].is_null());
    let (_, all) = json_of(app.admin_get("/admin/events").await).await;
    assert_eq!(all["total"], 3);

    for bad in [
        "q=%21%21%21",
        "rule_error=maybe",
        "http_status=99",
        "since=tomorrow",
    ] {
        let (status, body) = json_of(app.admin_get(&format!("/admin/events?{bad}")).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_query")),
            "{bad}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn refused_webhooks_are_listed_newest_first_with_what_was_answered() {
    let app = spawn_app(&[]).await;
    let bad = app
        .post_raw("jelou", "{}", &[("X-Jelou-Signature", "sha256=00")])
        .await;
    assert_eq!(bad.status().as_u16(), 401);
    assert_eq!(
        app.post_raw("nowhere", "{}", &[]).await.status().as_u16(),
        404
    );
    accepted_event_id(app.post_jelou(&jelou_message("fine", "hi")).await).await;

    let (status, body) = json_of(app.admin_get("/admin/rejections").await).await;
    assert_eq!(status, 200);
    let list = body["rejections"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{body}");
    assert_eq!(list[0]["source"], "nowhere");
    assert_eq!(list[0]["status"], 404);
    assert_eq!(list[0]["error"], "unknown_source");
    assert_eq!(list[1]["source"], "jelou");
    assert_eq!(list[1]["status"], 401);
    assert_eq!(list[1]["remote_addr"], "127.0.0.1");
    assert!(list[0]["at"].as_i64().unwrap() >= list[1]["at"].as_i64().unwrap());
    let (_, one) = json_of(app.admin_get("/admin/rejections?limit=1").await).await;
    assert_eq!(one["rejections"].as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=1001", "since=x&limit=1"] {
        assert_eq!(
            app.admin_get(&format!("/admin/rejections?{bad}"))
                .await
                .status()
                .as_u16(),
            400,
            "{bad}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn stats_count_each_minute_overall_and_per_provider() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    app.providers_accept_everything().await;
    let events = finished_jelou_events(&app, "st", 3).await;
    assert_eq!(events.len(), 3);
    app.post_raw("jelou", "{}", &[("X-Jelou-Signature", "sha256=00")])
        .await;

    let (status, body) = json_of(app.admin_get("/admin/stats?window=5m").await).await;
    assert_eq!(status, 200, "{body}");
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 5);
    let minutes: Vec<i64> = buckets
        .iter()
        .map(|b| b["minute"].as_i64().unwrap())
        .collect();
    assert!(
        minutes.windows(2).all(|w| w[1] - w[0] == 60_000),
        "{minutes:?}"
    );
    let sum = |name: &str, buckets: &[Value]| {
        buckets
            .iter()
            .map(|b| b[name].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("received", buckets), 3);
    assert_eq!(sum("rejected", buckets), 1);
    assert_eq!(sum("delivered", buckets), 3);
    let jelou = body["providers"]["jelou"].as_array().unwrap();
    assert_eq!(sum("delivered", jelou), 3);
    assert!(
        jelou
            .iter()
            .any(|b| b["p50_ms"].is_u64() && b["p99_ms"].is_u64()),
        "{jelou:?}"
    );
    assert_eq!(
        sum("delivered", body["providers"]["aelyst"].as_array().unwrap()),
        0,
        "every configured provider is shown"
    );
    let (_, hour) = json_of(app.admin_get("/admin/stats").await).await;
    assert_eq!(
        hour["buckets"].as_array().unwrap().len(),
        60,
        "the default window is 1h"
    );
    for bad in [
        "window=25h",
        "window=0m",
        "window=1d",
        "window=soon",
        "colour=red",
    ] {
        let (status, body) = json_of(app.admin_get(&format!("/admin/stats?{bad}")).await).await;
        assert_eq!(status, 400, "{bad}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    app.stop().await;
}

#[tokio::test]
async fn each_event_row_shows_its_text_its_action_count_and_what_went_wrong_first() {
    let app = spawn_app(&[(
        "r.rhai",
        "if event.text.contains(\"boom\") { throw \"it went boom\"; } \
         if event.text.contains(\"send\") { send_text(\"one\"); send_text(\"two\"); }",
    )])
    .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no"})))
        .mount(&app.jelou)
        .await;
    let long = "x".repeat(300);
    let mut ids = Vec::new();
    for (i, text) in ["please send", "boom", "just hello", long.as_str()]
        .into_iter()
        .enumerate()
    {
        let body = jelou_message(&format!("row-{i}"), text);
        ids.push(accepted_event_id(app.post_jelou(&body).await).await);
    }
    for id in &ids {
        app.wait_finished(id).await;
    }
    let (status, page) = json_of(app.admin_get("/admin/events").await).await;
    assert_eq!(status, 200, "{page}");
    let row = |id: &str| -> Value {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed in {page}"))
    };
    let sent = row(&ids[0]);
    assert_eq!(sent["text"], "please send");
    assert_eq!(sent["actions"], 2);
    assert_eq!(sent["error"], "dead letter: final_status (HTTP 400)");
    let boom = row(&ids[1]);
    assert_eq!(boom["actions"], 0);
    assert!(
        boom["error"].as_str().unwrap().contains("it went boom"),
        "{boom}"
    );
    let hello = row(&ids[2]);
    assert_eq!(
        (&hello["text"], &hello["actions"], &hello["error"]),
        (&json!("just hello"), &json!(0), &Value::Null)
    );
    assert_eq!(
        row(&ids[3])["text"].as_str().unwrap().chars().count(),
        200,
        "the first 200 characters"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_search_matching_more_than_ten_thousand_events_counts_ten_thousand_and_says_so() {
    let app = spawn_app(&[]).await;
    // 10,001 done events with the word "plentiful", planted straight in the store (without
    // a finish time, so that retention, which purges events finished long ago, keeps them).
    if crate::POSTGRES {
        app.sql(
            "INSERT INTO events (event_id, source, dedupe_id, order_key, kind, received_at, \
             status, event, search) \
             SELECT 'evt_many' || i, 'jelou', 'many-' || i, 'many-' || i, 'other', 1000 + i, \
             'done', '{\"text\": \"plentiful\"}', to_tsvector('simple', 'plentiful') \
             FROM generate_series(1, 10001) AS i",
        )
        .await;
    } else {
        app.sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) \
             INSERT INTO events (event_id, source, dedupe_id, kind, received_at, status, event) \
             SELECT 'evt_many' || i, 'jelou', 'many-' || i, 'other', 1000 + i, \
             'done', '{\"text\": \"plentiful\"}' FROM n; \
             INSERT INTO events_search (rowid, words) \
             SELECT seq, 'plentiful' FROM events WHERE dedupe_id LIKE 'many-%'",
        )
        .await;
    }
    for query in ["q=plentiful", "q=plentiful&kind=other", "kind=other"] {
        let (status, page) = json_of(
            app.admin_get(&format!("/admin/events?limit=5&{query}"))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(
            (&page["total"], &page["total_exact"]),
            (&json!(10_000), &json!(false)),
            "{query}"
        );
        assert_eq!(page["events"].as_array().unwrap().len(), 5, "{query}");
        assert_eq!(page["events"][0]["text"], "plentiful", "{query}");
    }
    app.sql("DELETE FROM events WHERE dedupe_id = 'many-1'")
        .await;
    let (_, page) = json_of(app.admin_get("/admin/events?limit=5&kind=other").await).await;
    assert_eq!(
        (&page["total"], &page["total_exact"]),
        (&json!(10_000), &json!(true)),
        "exactly 10,000 is exact"
    );
    app.stop().await;
}

/// The first delivery of an event's trace.
async fn first_delivery(app: &TestApp, event_id: &str) -> Value {
    let (status, trace) = json_of(app.admin_get(&format!("/admin/events/{event_id}")).await).await;
    assert_eq!(status, 200, "{trace}");
    trace["deliveries"][0].clone()
}

#[tokio::test]
async fn a_trace_times_each_attempt_and_names_the_dead_letter_to_redrive() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no"})))
        .mount(&app.jelou)
        .await;
    let id = accepted_event_id(app.post_jelou(&jelou_message("tr-1", "hello")).await).await;
    app.wait_finished(&id).await;
    let dead = first_delivery(&app, &id).await;
    assert_eq!(dead["status"], "dead", "{dead}");
    assert!(
        dead["attempts"][0]["duration_ms"]
            .as_i64()
            .is_some_and(|ms| ms >= 0),
        "{dead}"
    );
    let letters = dead_letter_page(&app, "").await;
    let letter = letters["dead_letters"][0]["id"].as_i64().unwrap();
    assert_eq!(dead["dead_letter_id"], letter, "{dead}");

    // Redriven by that id, it dies again: the trace names the new letter.
    let (status, body) = json_of(
        app.admin_post(&format!("/admin/dead-letters/{letter}/redrive"), None)
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    app.wait_until("the redriven delivery to die again", || async {
        dead_letter_page(&app, "").await["total"] == 2
    })
    .await;
    app.wait_finished(&id).await;
    let again = first_delivery(&app, &id).await;
    let newest = dead_letter_page(&app, "").await["dead_letters"][0]["id"]
        .as_i64()
        .unwrap();
    assert_ne!(newest, letter);
    assert_eq!(again["dead_letter_id"], newest, "{again}");
    assert_eq!(again["redrive_of"], letter, "{again}");

    // An attempt stored before durations were kept shows null.
    app.sql("UPDATE attempts SET duration_ms = NULL").await;
    let old = first_delivery(&app, &id).await;
    assert!(old["attempts"][0]["duration_ms"].is_null(), "{old}");
    app.stop().await;
}

#[tokio::test]
async fn a_discarded_dead_letter_cannot_be_redriven() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no"})))
        .mount(&app.jelou)
        .await;
    finished_jelou_events(&app, "disc", 1).await;
    let letter = dead_letter_page(&app, "").await["dead_letters"][0]["id"]
        .as_i64()
        .unwrap();
    let (status, body) = json_of(
        app.admin_post(
            "/admin/dead-letters/discard",
            Some(&json!({"ids": [letter]})),
        )
        .await,
    )
    .await;
    assert_eq!((status, &body["discarded"]), (200, &json!(1)), "{body}");
    let (status, body) = json_of(
        app.admin_post(&format!("/admin/dead-letters/{letter}/redrive"), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("discarded")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("dead letter {letter} was discarded; ")),
        "{body}"
    );
    let kept = dead_letter_page(&app, "include=discarded").await;
    assert!(kept["dead_letters"][0]["redriven_at"].is_null(), "{kept}");
    app.stop().await;
}
