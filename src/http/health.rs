//! The health routes (contract §3, 9.2): `/healthz` (the process runs), `/readyz` (the
//! store can write and every background task runs), and the JSON 404 for any other path.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::{AppState, Rejection};

/// `GET /healthz`: the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store can write and answers, and every background task runs.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Some(problem) = state.store.write_problem() {
        return Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            problem,
        )
        .error_response();
    }
    if !state.store.ping().await {
        return Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store does not answer",
        )
        .error_response();
    }
    let stopped = state.tasks.stopped();
    if !stopped.is_empty() {
        return Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "background task(s) not running: {} (restarting)",
                stopped.join(", ")
            ),
        )
        .error_response();
    }
    HttpResponse::Ok().json(json!({"status": "ready", "rules": state.runner.book.current().len()}))
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
