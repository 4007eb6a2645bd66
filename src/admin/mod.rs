//! The operator surface (contract §8): `/admin/*` behind `Authorization: Bearer
//! <admin_token>` (401 without it; 404 for everything when the token is empty). One file
//! per resource: events (list, trace, replay), dead letters (list, redrive), rules (state,
//! and the try-it dry run).

mod console;
mod dead_letters;
mod events;
mod rules;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::inbound::Rejection;
use crate::startup::AppState;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/admin/events", web::get().to(events::list))
        .route("/admin/events/{event_id}", web::get().to(events::trace))
        .route(
            "/admin/events/{event_id}/replay",
            web::post().to(events::replay),
        )
        .route("/admin/dead-letters", web::get().to(dead_letters::list))
        .route(
            "/admin/dead-letters/{id}/redrive",
            web::post().to(dead_letters::redrive),
        )
        .route("/admin/rules", web::get().to(rules::list))
        .route("/admin/try", web::post().to(rules::try_it))
        .route("/console", web::get().to(console::page));
}

/// Let the request through only with the admin token.
///
/// # Errors
/// `404 not_found` when the admin surface is off, `401 unauthorized` without the token.
pub fn authorize(request: &HttpRequest, state: &AppState) -> Result<(), Rejection> {
    if !state.settings.admin_enabled() {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin API is off: set [server] admin_token to turn it on",
        ));
    }
    let offered = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let expected = state.settings.server.admin_token.expose_secret();
    if bool::from(offered.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        ))
    }
}

fn internal(e: impl std::fmt::Display) -> Rejection {
    tracing::error!("admin request failed: {e}");
    Rejection::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        format!("the store could not answer: {e}"),
    )
}
