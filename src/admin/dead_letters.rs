//! `GET /admin/dead-letters` and `POST /admin/dead-letters/{id}/redrive`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::{DeadLetter, Redrive};

const LIMIT: usize = 500;

/// The answer of `GET /admin/dead-letters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetters {
    /// Newest first, at most 500.
    dead_letters: Vec<DeadLetter>,
}

/// The answer of a redrive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redriven {
    /// The dead letter's id.
    id: i64,
    /// Always `pending`: the delivery waits for its next attempt.
    #[schema(example = "pending")]
    status: &'static str,
}

/// `GET /admin/dead-letters`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_dead_letters",
    responses(
        (status = 200, description = "Deliveries that failed for good", body = DeadLetters),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/dead-letters")]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    let dead = state
        .store
        .dead_letters(LIMIT)
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Ok().json(DeadLetters { dead_letters: dead }))
}

/// `POST /admin/dead-letters/{id}/redrive`.
#[utoipa::path(
    tag = "admin",
    operation_id = "redrive_dead_letter",
    params(("id" = String, Path, description = "The dead letter's `id`")),
    responses(
        (status = 202, description = "The delivery's attempts restart", body = Redriven),
        (status = 404, description = "`unknown_dead_letter`", body = ErrorBody),
        (status = 409, description = "`already_redriven`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/dead-letters/{id}/redrive")]
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
                Ok(HttpResponse::Accepted().json(Redriven {
                    id: number,
                    status: "pending",
                }))
            }
            Redrive::NotFound => Err(not_found()),
            Redrive::AlreadyRedriven => Err(Rejection::new(
                StatusCode::CONFLICT,
                "already_redriven",
                format!("dead letter {number} was already redriven; if it failed again it is listed under a new id"),
            )),
        }
}
