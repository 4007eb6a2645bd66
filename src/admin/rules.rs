//! `GET /admin/rules` (each file's state) and `POST /admin/try` (the console's try-it
//! panel: the current rules on a pasted payload, as a dry run).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::events::ActionLine;
use crate::domain::decision::RuleRun;
use crate::domain::event::Event;
use crate::fixture::Fixture;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::rules::FileState;

/// The answer of `GET /admin/rules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rules {
    /// Each `*.rhai` file of the rules folder, in the order they run.
    rules: Vec<FileState>,
}

/// `GET /admin/rules`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_rules",
    responses((status = 200, description = "Each rule file's state", body = Rules))
)]
#[get("/rules")]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    Ok(HttpResponse::Ok().json(Rules {
        rules: state.runner.book.states(),
    }))
}

/// The try-it request: a fixture's fields (contract §6.3).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "source": "jelou",
    "body": {"object": "message_event", "event_type": "message", "contact": {"id": "573001112233"},
             "value": {"id": "wamid.1", "type": "text", "content": {"body": "hola"}}}
}))]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    /// A configured source's name.
    source: String,
    /// The webhook's JSON payload, as the platform posts it.
    body: Value,
    /// Request headers the decoder may read.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// When it was received, unix milliseconds (default: now).
    received_at: Option<i64>,
}

/// The answer of `POST /admin/try`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tried {
    /// The canonical event the payload decodes to.
    event: Event,
    /// Each rule's actions or error.
    rules: Vec<RuleRun>,
    /// The actions as `switchboard replay` prints them.
    #[schema(value_type = Vec<ActionLine>)]
    actions: Vec<Value>,
}

/// `POST /admin/try`: the loaded rules on a pasted payload, as a dry run.
#[utoipa::path(
    tag = "admin",
    operation_id = "try_rules",
    request_body(content = TryRequest, description = "A fixture's fields"),
    responses(
        (status = 200, description = "What the loaded rules decide for this payload; nothing is saved or sent", body = Tried),
        (status = 400, description = "`invalid_json` (the body is not a try-it request) or `invalid_payload` (unknown source, or a payload the source's decoder refuses)", body = ErrorBody),
        (status = 503, description = "`store_unavailable` (the rules' memory could not be read)", body = ErrorBody),
    )
)]
#[post("/try")]
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
        rule_errors: Vec::new(),
    };
    let event = fixture
        .to_event(&state.settings)
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    let verdict = state
        .runner
        .evaluate(&state.store, std::sync::Arc::new(event.clone()))
        .await
        .map_err(Rejection::store)?;
    let actions = crate::dryrun::describe(&state.settings, &event, &verdict);
    Ok(HttpResponse::Ok().json(Tried {
        event,
        rules: verdict.runs,
        actions,
    }))
}
