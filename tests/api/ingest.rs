//! docs/http-api.md: every row of the inbound answer table, in its order, and the four schemes.

use serde_json::{json, Value};
use switchboard::inbound::verify::{sign_aelyst, sign_jelou, sign_standard};

use crate::helpers::*;

async fn error_code(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_signed_webhook_is_accepted_with_202_and_an_event_id_after_it_is_stored() {
    let app = spawn_app(&[]).await;
    let response = app.post_jelou(&jelou_message("m-1", "hola")).await;
    assert_eq!(response.status().as_u16(), 202);
    let event_id = accepted_event_id(response).await;
    assert!(
        event_id.starts_with("evt_") && event_id.len() == 30,
        "{event_id}"
    );
    // The answer came after the commit: the event is readable at once.
    let trace = app
        .store
        .event_trace(&event_id.parse().unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(trace.event.as_ref().unwrap().id, "m-1");
    assert_eq!(trace.event.as_ref().unwrap().text, "hola");
    app.stop().await;
}

#[tokio::test]
async fn the_same_event_again_is_a_duplicate_with_the_first_event_id_and_runs_once() {
    let app = spawn_app(&[("r.rhai", "send_text(\"hi\");")]).await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&app.jelou)
        .await;
    let first = accepted_event_id(app.post_jelou(&jelou_message("m-dup", "x")).await).await;
    let again = app.post_jelou(&jelou_message("m-dup", "x")).await;
    assert_eq!(again.status().as_u16(), 202);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body, json!({"event_id": first, "duplicate": true}));
    app.wait_finished(&first).await;
    // A later message from the same user goes out after anything the duplicate could have
    // set off: once it is finished, the provider has seen all there is to see.
    let later = accepted_event_id(app.post_jelou(&jelou_message("m-later", "x")).await).await;
    app.wait_finished(&later).await;
    assert_eq!(
        app.jelou.received_requests().await.unwrap().len(),
        2,
        "the first copy and the later message, each once"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_copies_of_one_event_store_it_once() {
    let app = spawn_app(&[]).await;
    let body = jelou_message("m-race", "x");
    let answers = futures_util::future::join_all((0..20).map(|_| app.post_jelou(&body))).await;
    let mut ids = Vec::new();
    let mut fresh = 0;
    for answer in answers {
        assert_eq!(answer.status().as_u16(), 202);
        let body: Value = answer.json().await.unwrap();
        fresh += usize::from(body["duplicate"] == json!(false));
        ids.push(body["event_id"].as_str().unwrap().to_string());
    }
    assert_eq!(fresh, 1, "exactly one copy is new");
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_source_gets_404_even_with_an_oversized_body() {
    let app = spawn_app_with(Options {
        max_body_bytes: Some(10),
        ..Options::default()
    })
    .await;
    let (status, code, message) =
        error_code(app.post_raw("nope", vec![b'x'; 100], &[]).await).await;
    assert_eq!((status, code.as_str()), (404, "unknown_source"));
    assert!(message.contains("nope"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_from_content_length_before_the_signature_check() {
    let app = spawn_app_with(Options {
        max_body_bytes: Some(64),
        ..Options::default()
    })
    .await;
    let (status, code, _) = error_code(app.post_raw("jelou", vec![b' '; 65], &[]).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    // Exactly at the limit is fine (and then fails on the missing signature).
    let (status, code, _) = error_code(app.post_raw("jelou", vec![b' '; 64], &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "missing_signature"));
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_while_reading() {
    let app = spawn_app_with(Options {
        max_body_bytes: Some(1000),
        ..Options::default()
    })
    .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..50).map(|_| Ok(vec![b'x'; 100])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, code, _) = error_code(app.post_raw("jelou", body, &[]).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    app.stop().await;
}

#[tokio::test]
async fn the_connection_still_serves_the_next_request_after_a_401_or_413() {
    let app = spawn_app_with(Options {
        max_body_bytes: Some(200),
        ..Options::default()
    })
    .await;
    // One client, so reqwest reuses (or transparently replaces) its keep-alive connection.
    for _ in 0..3 {
        let big = app.post_raw("jelou", vec![b'x'; 5000], &[]).await;
        assert_eq!(big.status().as_u16(), 413);
        let unsigned = app.post_raw("jelou", b"{}".to_vec(), &[]).await;
        assert_eq!(unsigned.status().as_u16(), 401);
        let ok = app
            .post_jelou(&json!({"value": {"id": ulid::Ulid::new().to_string()}}))
            .await;
        assert_eq!(ok.status().as_u16(), 202);
    }
    app.stop().await;
}

#[tokio::test]
async fn signature_problems_are_401_with_their_own_codes_before_json_errors() {
    let app = spawn_app(&[]).await;
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a [u8], &'a str);
    let cases: Vec<Case> = vec![
        ("jelou", vec![], b"not json", "missing_signature"),
        (
            "jelou",
            vec![("X-Jelou-Signature", "sha256=00ff".into())],
            b"not json",
            "bad_signature",
        ),
        (
            "jelou",
            vec![("X-Jelou-Signature", sign_jelou("wrong", b"{}"))],
            b"{}",
            "bad_signature",
        ),
        ("aelyst", vec![], b"{}", "missing_signature"),
        (
            "aelyst",
            vec![("X-Webhook-Signature", sign_aelyst("wrong", b"{}"))],
            b"{}",
            "bad_signature",
        ),
        ("uchat", vec![], b"{}", "missing_signature"),
        (
            "uchat",
            vec![("X-Webhook-Token", "wrong".into())],
            b"{}",
            "bad_signature",
        ),
        (
            "uchat",
            vec![("Authorization", "Bearer wrong".into())],
            b"{}",
            "bad_signature",
        ),
        (
            "crm",
            vec![("webhook-id", "m".into())],
            b"{}",
            "missing_signature",
        ),
    ];
    for (source, headers, body, expected) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, code, message) =
            error_code(app.post_raw(source, body.to_vec(), &headers).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, expected),
            "{source} {headers:?}: {message}"
        );
        assert!(!message.is_empty());
    }
    app.stop().await;
}

#[tokio::test]
async fn standard_webhooks_timestamps_more_than_300_seconds_away_are_stale() {
    let app = spawn_app(&[]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (offset, expected) in [
        (-400, Some("stale_timestamp")),
        (400, Some("stale_timestamp")),
        (-250, None),
    ] {
        let ts = now + offset;
        let id = format!("msg_{offset}");
        let signature = sign_standard(CRM_SECRET, &id, ts, b"{}").unwrap();
        let response = app
            .post_raw(
                "crm",
                b"{}".to_vec(),
                &[
                    ("webhook-id", &id),
                    ("webhook-timestamp", &ts.to_string()),
                    ("webhook-signature", &signature),
                ],
            )
            .await;
        match expected {
            Some(code) => {
                let (status, got, _) = error_code(response).await;
                assert_eq!((status, got.as_str()), (401, code), "offset {offset}");
            }
            None => assert_eq!(response.status().as_u16(), 202, "offset {offset}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_generic_source_accepts_a_signature_made_with_any_of_its_rotated_secrets() {
    let app = spawn_app(&[]).await;
    let response = app
        .post_crm(
            "msg_rotated",
            &json!({"kind": "message.received", "user": {"id": "u"}}),
        )
        .await;
    let event_id = accepted_event_id(response).await;
    let trace = app
        .store
        .event_trace(&event_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.event.as_ref().unwrap().id, "msg_rotated");
    app.stop().await;
}

#[tokio::test]
async fn a_token_source_accepts_the_token_in_either_header() {
    let app = spawn_app(&[]).await;
    let ok = app
        .post_raw(
            "uchat",
            serde_json::to_vec(&uchat_message("u-1", "x")).unwrap(),
            &[("Authorization", &format!("Bearer {UCHAT_TOKEN}"))],
        )
        .await;
    assert_eq!(ok.status().as_u16(), 202);
    let ok = app.post_uchat(&uchat_message("u-2", "x")).await;
    assert_eq!(ok.status().as_u16(), 202);
    app.stop().await;
}

#[tokio::test]
async fn invalid_json_gets_400_naming_line_and_column() {
    let app = spawn_app(&[]).await;
    let body = b"{\n  \"a\": 1,\n  \"b\": }".to_vec();
    let signature = sign_jelou(JELOU_SECRET, &body);
    let (status, code, message) = error_code(
        app.post_raw("jelou", body, &[("X-Jelou-Signature", &signature)])
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    assert!(
        message.contains("line 3") && message.contains("column 8"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn valid_json_that_is_not_an_object_gets_400_not_an_object() {
    let app = spawn_app(&[]).await;
    let body = b"[1, 2, 3]".to_vec();
    let signature = sign_jelou(JELOU_SECRET, &body);
    let (status, code, _) = error_code(
        app.post_raw("jelou", body, &[("X-Jelou-Signature", &signature)])
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "not_an_object"));
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_payload_shape_is_still_accepted_as_kind_other() {
    let app = spawn_app(&[]).await;
    let event_id = accepted_event_id(app.post_jelou(&json!({"surprise": [1, 2]})).await).await;
    let trace = app
        .store
        .event_trace(&event_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.event.as_ref().unwrap().kind.as_str(), "other");
    assert_eq!(
        trace.event.as_ref().unwrap().raw,
        json!({"surprise": [1, 2]})
    );
    app.stop().await;
}

#[tokio::test]
async fn when_the_store_is_unavailable_webhooks_get_503_with_retry_after_and_readyz_fails() {
    let app = spawn_app(&[]).await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    app.store.close();
    let response = app.post_jelou(&jelou_message("m-503", "x")).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let (_, code, _) = error_code(response).await;
    assert_eq!(code, "store_unavailable");
    assert_eq!(app.get("/readyz").await.status().as_u16(), 503);
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_source_with_ack_status_200_answers_200() {
    let app = spawn_app_with(Options {
        extra_config: "[sources.plain]\nkind = \"uchat\"\ntoken = \"t\"\nack_status = 200\n",
        ..Options::default()
    })
    .await;
    let response = app
        .post_raw("plain", b"{}".to_vec(), &[("X-Webhook-Token", "t")])
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let again = app
        .post_raw("plain", b"{}".to_vec(), &[("X-Webhook-Token", "t")])
        .await;
    assert_eq!(again.status().as_u16(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["duplicate"], json!(true));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_accepted_duplicate_and_rejected_webhooks() {
    let app = spawn_app(&[]).await;
    app.post_jelou(&jelou_message("m-metric", "x")).await;
    app.post_jelou(&jelou_message("m-metric", "x")).await;
    app.post_raw("jelou", b"{}".to_vec(), &[]).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "switchboard_events_received_total{result=\"accepted\",source=\"jelou\"} 1",
        "switchboard_events_received_total{result=\"duplicate\",source=\"jelou\"} 1",
        "switchboard_events_received_total{result=\"missing_signature\",source=\"jelou\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    app.stop().await;
}

/// Sends `first` and then a `GET /healthz` on one raw keep-alive connection; returns
/// everything the server wrote back before closing or going quiet.
async fn two_requests_on_one_connection(address: &str, first: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(first).await.unwrap();
    // A platform pipelining its next request right behind the first.
    let _ = stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            std::time::Duration::from_millis(500),
            stream.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_early_answer_never_lets_unread_body_bytes_be_read_as_the_next_request() {
    let app = spawn_app_with(Options {
        max_body_bytes: Some(100),
        ..Options::default()
    })
    .await;
    let host = app.address.trim_start_matches("http://").to_string();
    // The body looks like a request of its own: if the server parsed it as one, the
    // connection would answer a bogus request.
    let smuggled = "GET /webhooks/smuggled HTTP/1.1\r\nHost: x\r\n\r\n".repeat(5);
    for (path, expected) in [
        ("/webhooks/nope", "404"),
        ("/webhooks/jelou", "413"),
        ("/webhooks/jelou", "401"),
    ] {
        let body = if expected == "401" {
            smuggled[..90].to_string()
        } else {
            smuggled.clone()
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let answer = two_requests_on_one_connection(&app.address, request.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{path}: {answer}"
        );
        assert!(
            !answer.contains("smuggled"),
            "the body was read as a request: {answer}"
        );
        let responses = answer.matches("HTTP/1.1 ").count();
        if responses == 2 {
            assert!(
                answer.contains("\"status\":\"ok\""),
                "the next request was answered properly: {answer}"
            );
        } else {
            assert_eq!(responses, 1, "{answer}");
            assert!(
                answer.to_lowercase().contains("connection: close"),
                "a closed connection is announced: {answer}"
            );
        }
    }
    app.stop().await;
}
