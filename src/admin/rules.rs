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
use crate::rules::{FileState, ReloadState};

/// The answer of `GET /admin/rules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rules {
    /// Each `*.rhai` file of the rules folder, in the order they run; then the shadow rules
    /// (`shadow/*.rhai`, docs/rule-api.md), named `shadow/<file>`.
    rules: Vec<FileState>,
    /// The last reload attempt: when a save broke a file, `ok` is false and `error` says
    /// where, while the set loaded before keeps running.
    reload: ReloadState,
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
        reload: state.runner.book.last_reload(),
    }))
}

/// The try-it request: a fixture's fields (docs/commands.md).
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
    /// Draft rules to run instead of the loaded ones, by file name (`"10-x.rhai": "text"`);
    /// nothing is saved.
    #[serde(default)]
    rules: Option<BTreeMap<String, String>>,
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

/// `POST /admin/try`: the loaded rules, or drafts sent with the request, on a pasted
/// payload, as a dry run (nothing saved, nothing sent).
#[utoipa::path(
    tag = "admin",
    operation_id = "try_rules",
    request_body(content = TryRequest, description = "A fixture's fields"),
    responses(
        (status = 200, description = "What the loaded rules decide for this payload; nothing is saved or sent", body = Tried),
        (status = 400, description = "`invalid_json` (the body is not a try-it request) or `invalid_payload` (unknown source, or a payload the source's decoder refuses), `invalid_rules` (a draft's name is not `<name>.rhai`)", body = ErrorBody),
        (status = 422, description = "`rule_compile`: a draft does not compile; the message is `<name>.rhai:line:col: ...`", body = ErrorBody),
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
    let drafts = match &payload.rules {
        Some(drafts) => Some(compile_drafts(&state, drafts)?),
        None => None,
    };
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
    let event_arc = std::sync::Arc::new(event.clone());
    let verdict = match drafts {
        Some(drafts) => {
            state
                .runner
                .evaluate_with(&state.store, event_arc, drafts)
                .await
                .map_err(Rejection::store)?
                .0
        }
        None => state
            .runner
            .evaluate(&state.store, event_arc)
            .await
            .map_err(Rejection::store)?,
    };
    let actions = crate::dryrun::describe(&state.settings, &event, &verdict);
    Ok(HttpResponse::Ok().json(Tried {
        event,
        rules: verdict.runs,
        actions,
    }))
}

/// Compile the drafts of a try-it request.
pub(super) fn compile_drafts(
    state: &AppState,
    drafts: &BTreeMap<String, String>,
) -> Result<std::sync::Arc<crate::rules::RuleSet>, Rejection> {
    if let Some(bad) = drafts.keys().find(|name| {
        !name.ends_with(".rhai") || name.contains(['/', '\\']) || name.len() <= ".rhai".len()
    }) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_rules",
            format!("a draft rule's name is a file name ending in .rhai, like \"10-greeting.rhai\"; {bad:?} is not"),
        ));
    }
    crate::rules::compile_sources(state.runner.book.engine(), drafts)
        .map(std::sync::Arc::new)
        .map_err(|problems| {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Rejection::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule_compile",
                text.join("\n"),
            )
        })
}
