//! `GET /console`: the web console, one HTML page compiled into the binary (no external
//! assets, no CDN). It asks for the admin token and talks to `/admin/*` with it. It may not
//! be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};

use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};

const PAGE: &str = include_str!("console/index.html");

/// The console's `Content-Security-Policy`. The page's one script and one style sheet are
/// inline, hence `'unsafe-inline'` (contract §9.7 asks for a policy without it: still to do).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

#[utoipa::path(
    tag = "console",
    operation_id = "console",
    responses(
        (status = 200, description = "The console page (HTML, no external assets); it asks for the admin token", content_type = "text/html",
            headers(
                ("Content-Security-Policy" = String, description = "Includes `frame-ancestors 'none'`"),
                ("X-Frame-Options" = String, description = "`DENY`"),
            )),
        (status = 404, description = "`not_found`: the console is off (`admin_token` is empty)", body = ErrorBody),
    )
)]
#[get("/console")]
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
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(PAGE))
}
