//! `GET /openapi.json` (docs/http-api.md) kept true: the routes the app registers and the
//! operations the document describes are the same set, both read from the running code.
//!
//! How: (1) the registered path patterns are read from actix's own resource map of
//! `startup::app()` — the app `serve` runs, built by the same function — by a default
//! service that sees every pattern actix holds and asks actix which full pattern each
//! combination reaches (so a route added with a bare `.route(...)`, outside utoipa-actix-web,
//! is found too); (2) every (method, pattern) of those patterns and of the document is sent
//! to a live app with the admin token, and a (method, path) counts as served unless it gets
//! the default `404 no route for ...`; (3) the served set must equal the described set. So a
//! route served but not described fails, and so does a described operation that nothing
//! serves (wrong path or method). Limit: a `HEAD` answer has no body, so a `HEAD` route
//! that answers 404 would not be seen; none is registered.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{test as actix_test, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN_TOKEN};

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// Nested scopes this deep are found (the app has one level: `/admin`).
const MAX_DEPTH: usize = 3;

/// A concrete path for a pattern: every `{name}` segment becomes `x`.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('x');
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// The default service of the inspected app: answers with every full pattern registered,
/// and the pattern parts it could not place (nested deeper than `MAX_DEPTH`, or a pattern
/// this test cannot read).
async fn report_patterns(request: HttpRequest) -> HttpResponse {
    let map = request.resource_map();
    let debug = format!("{map:?}");
    let mut problems = Vec::new();
    if debug.contains("List([") {
        problems.push("a resource with several patterns: teach this test to read it".to_string());
    }
    // Every pattern actix holds (scopes' prefixes and resources), in its Debug output.
    let mut parts = BTreeSet::new();
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Single(\"") {
        rest = &rest[at + "Single(\"".len()..];
        let end = rest.find("\")").expect("a closed pattern string");
        parts.insert(rest[..end].to_string());
        rest = &rest[end..];
    }
    for part in &parts {
        if part.contains('\\') || part.contains(':') || part.contains('*') {
            problems.push(format!(
                "pattern {part:?} has escapes, a regex or a tail: teach this test to read it"
            ));
        }
    }
    // Which full pattern each combination of parts reaches, asked of actix itself.
    let parts: Vec<String> = parts.into_iter().collect();
    let mut registered = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut combinations: Vec<Vec<usize>> = (0..parts.len()).map(|i| vec![i]).collect();
    for _ in 1..MAX_DEPTH {
        let longer: Vec<Vec<usize>> = combinations
            .iter()
            .filter(|c| c.len() == combinations.last().map_or(0, Vec::len))
            .flat_map(|c| {
                (0..parts.len()).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
        combinations.extend(longer);
    }
    for combination in combinations {
        let pattern: String = combination.iter().map(|&i| parts[i].as_str()).collect();
        if pattern.is_empty() {
            continue;
        }
        if map.match_pattern(&concrete(&pattern)).as_deref() == Some(pattern.as_str()) {
            registered.insert(pattern);
            used.extend(combination);
        }
    }
    for (i, part) in parts.iter().enumerate() {
        if !part.is_empty() && !used.contains(&i) {
            problems.push(format!(
                "registered pattern part {part:?} is reached by no combination"
            ));
        }
    }
    HttpResponse::Ok().json(json!({"registered": registered, "problems": problems}))
}

/// The full path pattern of every resource `startup::app()` registers.
async fn registered_patterns() -> BTreeSet<String> {
    let app = actix_test::init_service(
        switchboard::startup::app().default_service(web::to(report_patterns)),
    )
    .await;
    let request = actix_test::TestRequest::get()
        .uri("/no/route/here/for/this/test")
        .to_request();
    let answer: Value = actix_test::call_and_read_body_json(&app, request).await;
    assert_eq!(answer["problems"], json!([]), "{answer:#}");
    serde_json::from_value(answer["registered"].clone()).unwrap()
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    response.json().await.unwrap()
}

/// Every (METHOD, path) of the document, with its operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                found.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    found
}

/// Whether the app answers `method path` with anything but the default 404 of an unknown
/// route.
async fn served(app: &TestApp, method: &str, path: &str) -> bool {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = app
        .client
        .request(method.clone(), format!("{}{path}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request reaches the app");
    if response.status().as_u16() != 404 {
        return true;
    }
    if method == reqwest::Method::HEAD {
        return false;
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    !body["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("no route for "))
}

#[tokio::test]
async fn every_route_the_app_serves_is_described_and_every_described_operation_is_served() {
    let app = spawn_app(&[]).await;
    let doc = document(&app).await;
    let described: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let registered = registered_patterns().await;
    assert!(
        registered.contains("/admin/events") && registered.contains("/webhooks/{source}"),
        "the resource map was not read: {registered:?}"
    );

    let mut patterns = registered.clone();
    patterns.extend(described.iter().map(|(_, path)| path.clone()));
    let mut served_operations = BTreeSet::new();
    for pattern in &patterns {
        for method in METHODS {
            if served(&app, method, &concrete(pattern)).await {
                served_operations.insert((method.to_string(), pattern.clone()));
            }
        }
    }
    let undescribed: Vec<_> = served_operations.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served_operations).collect();
    assert!(
        undescribed.is_empty() && unserved.is_empty(),
        "served but not in /openapi.json: {undescribed:?}\nin /openapi.json but not served: {unserved:?}"
    );
    let unregistered: Vec<_> = described
        .iter()
        .filter(|(_, path)| !registered.contains(path))
        .collect();
    assert!(
        unregistered.is_empty(),
        "described under a path that is not the registered pattern: {unregistered:?}"
    );
    // The routes of docs/http-api.md that exist today, so the sets above are not
    // both empty by mistake.
    for (method, path) in [
        ("POST", "/webhooks/{source}"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/console"),
        ("GET", "/console/assets/{file}"),
        ("GET", "/admin/events"),
        ("GET", "/admin/events/{event_id}"),
        ("POST", "/admin/events/{event_id}/replay"),
        ("GET", "/admin/dead-letters"),
        ("POST", "/admin/dead-letters/{id}/redrive"),
        ("POST", "/admin/dead-letters/redrive"),
        ("POST", "/admin/dead-letters/discard"),
        ("GET", "/admin/rejections"),
        ("GET", "/admin/stats"),
        ("GET", "/admin/rules"),
        ("POST", "/admin/try"),
        ("POST", "/admin/backtest"),
        ("GET", "/admin/shadow"),
    ] {
        assert!(
            described.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not described"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_answers_errors_and_admin_security() {
    let app = spawn_app(&[]).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let scheme = &doc["components"]["securitySchemes"]["admin_token"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let error_ref = json!({"$ref": "#/components/schemas/ErrorBody"});
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    for ((method, path), operation) in operations(&doc) {
        let what = format!("{method} {path}");
        let responses = operation["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{what} has no responses");
        for (status, response) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok(),
                "{what}: status {status}"
            );
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{what} {status} has no description"
            );
            // Every error answer is the one shared error body.
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"], error_ref,
                    "{what} {status}"
                );
            }
        }
        let security = &operation["security"];
        if path.starts_with("/admin/") {
            assert_eq!(security, &json!([{"admin_token": []}]), "{what}");
            assert!(responses.contains_key("401"), "{what} has no 401");
        } else {
            assert!(
                security.is_null(),
                "{what} is not an admin route: {security}"
            );
        }
    }

    // Every reference names a component that exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {target}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference {target}"
        );
    }

    // The webhook's answers, as docs/http-api.md list them.
    let webhook = &doc["paths"]["/webhooks/{source}"]["post"];
    let statuses: BTreeSet<&str> = webhook["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["200", "201", "202", "400", "401", "404", "408", "413", "503"])
    );
    let headers: BTreeSet<&str> = webhook["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for header in [
        "X-Jelou-Signature",
        "X-Webhook-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Webhook-Token",
        "X-Hub-Signature-256",
    ] {
        assert!(headers.contains(header), "{header} is not described");
    }
    // A 2xx is one event's `Ack` or a whatsapp POST's `BatchAck` (docs/providers.md).
    let answer = &webhook["responses"]["202"]["content"]["application/json"]["schema"];
    assert_eq!(
        answer,
        &json!({"$ref": "#/components/schemas/WebhookAnswer"}),
        "{answer}"
    );
    let one_of = doc["components"]["schemas"]["WebhookAnswer"]["oneOf"].to_string();
    assert!(
        one_of.contains("/Ack\"") && one_of.contains("/BatchAck\""),
        "{one_of}"
    );
    let batch = &doc["components"]["schemas"]["BatchAck"];
    assert_eq!(
        batch["required"],
        json!(["event_ids", "duplicates"]),
        "{batch}"
    );
    // Meta's subscription handshake.
    let verify = &doc["paths"]["/webhooks/{source}"]["get"];
    let statuses: BTreeSet<&str> = verify["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("GET /webhooks/{{source}} is not described"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(statuses, BTreeSet::from(["200", "403", "404"]));
    assert!(
        verify["responses"]["200"]["content"]["text/plain"].is_object(),
        "{verify}"
    );
    let queries: BTreeSet<&str> = verify["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        queries,
        BTreeSet::from(["hub.mode", "hub.verify_token", "hub.challenge"])
    );
    app.stop().await;
}
