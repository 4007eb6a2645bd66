//! `GET /admin/rules` (each file's state) and `POST /admin/try` (the console's try-it
//! panel: the current rules on a pasted payload, as a dry run).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::fixture::Fixture;
use crate::http::{AppState, Rejection};

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    Ok(HttpResponse::Ok().json(json!({"rules": state.runner.book.states()})))
}

/// The try-it request: a fixture's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    source: String,
    body: Value,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    received_at: Option<i64>,
}

pub async fn try_it(
    payload: Result<web::Json<TryRequest>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let payload = payload
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
        .into_inner();
    let fixture = Fixture {
        source: payload.source,
        body: payload.body,
        headers: payload.headers,
        received_at: payload.received_at,
        memory: Default::default(),
        expect: None,
    };
    let event = fixture
        .to_event(&state.settings)
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    let verdict = state
        .runner
        .evaluate(&state.store, std::sync::Arc::new(event.clone()))
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Ok().json(json!({
        "event": event,
        "rules": verdict.runs,
        "actions": crate::dryrun::describe(&state.settings, &event, &verdict),
    })))
}
