//! `POST /admin/backtest` (docs/http-api.md): `switchboard backtest --json` over the admin API,
//! with the same engine (`crate::backtest`): the loaded rules, or drafts sent with the
//! request, over the stored events of a window; nothing is sent or written.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::backtest::{Backtest, Changed, Window};
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};

/// The body of `POST /admin/backtest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Draft rules to run instead of the loaded ones, by file name; nothing is saved.
    #[serde(default)]
    rules: Option<BTreeMap<String, String>>,
    /// Start of the window: RFC 3339, unix ms, or a duration before now like `6h` (default 24 h ago).
    since: Option<String>,
    /// End of the window (default now).
    until: Option<String>,
    /// Only events of this source.
    source: Option<String>,
}

/// The answer of `POST /admin/backtest`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestAnswer {
    /// Events backtested.
    events: usize,
    /// Events whose actions changed or on which a rule erred, in acceptance order.
    changed: Vec<Changed>,
    /// Rule errors in all.
    rule_errors: usize,
}

/// `POST /admin/backtest`.
#[utoipa::path(
    tag = "admin",
    operation_id = "backtest",
    request_body(content = BacktestRequest, description = "Optional draft rules and the window"),
    responses(
        (status = 200, description = "What the rules would decide differently on the stored events of the window; nothing is sent or written", body = BacktestAnswer),
        (status = 400, description = "`invalid_json` (not a backtest request), `invalid_query` (a bad time, an unknown source), `invalid_rules` (a draft's name is not `<name>.rhai`)", body = ErrorBody),
        (status = 422, description = "`rule_compile`: a draft does not compile; the message is `<name>.rhai:line:col: ...`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/backtest")]
pub async fn backtest(
    request: Result<web::Json<BacktestRequest>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let request = request
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?
        .into_inner();
    let invalid =
        |message: String| Rejection::new(StatusCode::BAD_REQUEST, "invalid_query", message);
    let window = Window::parse(
        request.since.as_deref(),
        request.until.as_deref(),
        request.source,
        None,
    )
    .map_err(|e| invalid(e.to_string()))?;
    if let Some(source) = &window.source {
        if !state.settings.sources.contains_key(source) {
            return Err(invalid(format!("source {source:?} is not configured")));
        }
    }
    let rules = match &request.rules {
        Some(drafts) => super::rules::compile_drafts(&state, drafts)?,
        None => state.runner.book.current(),
    };
    let backtest = Backtest {
        settings: state.settings.clone(),
        engine: state.runner.book.engine().clone(),
        rules,
    };
    let mut changed = Vec::new();
    let totals = backtest
        .run(&state.store, &window, |c| changed.push(c.clone()), |_| {})
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Ok().json(BacktestAnswer {
        events: totals.events,
        changed,
        rule_errors: totals.rule_errors,
    }))
}
