//! `GET /admin/shadow` (docs/rule-api.md): what each shadow rule (`rules/shadow/*.rhai`) would
//! have done over a window: events it ran on, actions it would have taken, and events where
//! its actions are not a subset of the live ones. Loaded shadow rules that have not run in
//! the window are listed with zeros.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::Params;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::ShadowSummary;

/// The parameters of `GET /admin/shadow`; any other is `400 invalid_query`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// RFC 3339, unix milliseconds, or a duration before now such as `1h` (default 24 h).
    since: Option<String>,
}

/// The answer of `GET /admin/shadow`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowList {
    /// By file name.
    rules: Vec<ShadowSummary>,
}

/// `GET /admin/shadow`.
#[utoipa::path(
    tag = "admin",
    operation_id = "shadow_rules",
    params(ShadowQuery),
    responses(
        (status = 200, description = "Each shadow rule's results over the window", body = ShadowList),
        (status = 400, description = "`invalid_query`: an unknown parameter or a bad time", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/shadow")]
pub async fn list(
    params: Params<ShadowQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let query = params.0;
    let now = crate::domain::event::now_millis();
    let since = match query.since.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => crate::backtest::parse_when("since", text, now)
            .map_err(|e| super::query::invalid(e.to_string()))?,
        None => now - 24 * 3600 * 1000,
    };
    let mut rules = state
        .store
        .shadow_summary(since)
        .await
        .map_err(Rejection::store)?;
    for name in state.runner.book.shadow().names() {
        if !rules.iter().any(|r| r.file == name) {
            rules.push(ShadowSummary {
                file: name.to_string(),
                events: 0,
                actions: 0,
                differs_from_live: 0,
            });
        }
    }
    rules.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(HttpResponse::Ok().json(ShadowList { rules }))
}
