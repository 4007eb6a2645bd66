//! `GET /console`: the web console, one HTML page compiled into the binary (no external
//! assets, no CDN). It asks for the admin token and talks to `/admin/*` with it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::http::{AppState, Rejection};

const PAGE: &str = include_str!("console/index.html");

pub async fn page(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    if !state.settings.admin_enabled() {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the console is off: set [server] admin_token to turn it on",
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
        ))
        .body(PAGE))
}
