//! The health routes (docs/http-api.md): `/healthz` (the process runs), `/readyz` (the
//! store can write and every background task runs), and the JSON 404 for any other path.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::error::ErrorBody;
use super::{AppState, Rejection};

/// The answer of `GET /healthz`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description of the JSON the handler writes
pub struct Live {
    #[schema(example = "ok")]
    status: String,
}

/// The answer of `GET /readyz` when ready.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description of the JSON the handler writes
pub struct Ready {
    #[schema(example = "ready")]
    status: String,
    /// How many rule files run.
    rules: u64,
}

/// `GET /healthz`: the process runs.
#[utoipa::path(
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process runs", body = Live))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store can write and answers, and every background task runs.
#[utoipa::path(
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "The store answers and can write, a rule set is loaded, every background task runs", body = Ready),
        (status = 503, description = "`store_unavailable` (the store cannot write or does not answer) or `not_ready` (a background task stopped and is restarting)", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before asking again"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = readiness(&state).await;
    state.metrics.ready.set(i64::from(ready.is_ok()));
    match ready {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "ready", "rules": state.runner.book.current().len()})),
        Err(rejection) => rejection.error_response(),
    }
}

/// Whether the app is ready (`/readyz`; also the `switchboard_ready` gauge at each scrape of
/// `/metrics`), or why not.
pub async fn readiness(state: &AppState) -> Result<(), Rejection> {
    if let Some(problem) = state.store.write_problem() {
        return Err(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            problem,
        ));
    }
    if !state.store.ping().await {
        return Err(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store does not answer",
        ));
    }
    let stopped = state.tasks.stopped();
    if !stopped.is_empty() {
        return Err(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "background task(s) not running: {} (restarting)",
                stopped.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Any other path: JSON 404 instead of an empty body.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    Rejection::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.path()),
    )
    .error_response()
}
