//! `GET /admin/dead-letters` and `POST /admin/dead-letters/{id}/redrive`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::{AppState, Rejection};
use crate::store::Redrive;

const LIMIT: usize = 500;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    let dead = state
        .store
        .dead_letters(LIMIT)
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Ok().json(json!({"dead_letters": dead})))
}

pub async fn redrive(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let not_found = || {
        Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_dead_letter",
            format!("no dead letter {id}"),
        )
    };
    let number: i64 = id.parse().map_err(|_| not_found())?;
    match state.store.redrive(number).await.map_err(Rejection::store)? {
            Redrive::Done => {
                tracing::info!(dead_letter = number, "dead letter redriven");
                Ok(HttpResponse::Accepted().json(json!({"id": number, "status": "pending"})))
            }
            Redrive::NotFound => Err(not_found()),
            Redrive::AlreadyRedriven => Err(Rejection::new(
                StatusCode::CONFLICT,
                "already_redriven",
                format!("dead letter {number} was already redriven; if it failed again it is listed under a new id"),
            )),
        }
}
