//! `GET /console` and `GET /console/assets/{file}`: the web console, an HTML page, its style
//! sheet and its JavaScript modules (plain ES modules, no build step), all compiled into the
//! binary (no external assets, no CDN). It asks for the admin token and talks to `/admin/*`
//! with it. A strict `Content-Security-Policy` (no inline script or style) covers every
//! file, and the page may not be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};

use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};

const PAGE: &str = include_str!("console/index.html");

/// The files under `/console/assets/`: name, content type, text.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    ),
    ("app.js", JS, include_str!("console/app.js")),
    ("api.js", JS, include_str!("console/api.js")),
    ("dom.js", JS, include_str!("console/dom.js")),
    ("parts.js", JS, include_str!("console/parts.js")),
    ("reasons.js", JS, include_str!("console/reasons.js")),
    ("providers.js", JS, include_str!("console/providers.js")),
    ("deadletters.js", JS, include_str!("console/deadletters.js")),
    ("overview.js", JS, include_str!("console/overview.js")),
    ("lists.js", JS, include_str!("console/lists.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The console's `Content-Security-Policy` (docs/http-api.md): scripts and styles only from
/// the console's own files, no `'unsafe-inline'`, no framing, calls only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[utoipa::path(
    tag = "console",
    operation_id = "console",
    responses(
        (status = 200, description = "The console page (HTML, no external assets); it asks for the admin token", content_type = "text/html",
            headers(
                ("Content-Security-Policy" = String, description = "No `'unsafe-inline'`; includes `frame-ancestors 'none'`"),
                ("X-Frame-Options" = String, description = "`DENY`"),
            )),
        (status = 404, description = "`not_found`: the console is off (`admin_token` is empty)", body = ErrorBody),
    )
)]
#[get("/console")]
pub async fn page(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    console_on(&state)?;
    Ok(respond("text/html; charset=utf-8", PAGE))
}

#[utoipa::path(
    tag = "console",
    operation_id = "console_asset",
    params(("file" = String, Path, description = "`console.css` or one of the JavaScript modules (`app.js`, `api.js`, `dom.js`, `parts.js`, `reasons.js`, `providers.js`, `deadletters.js`, `overview.js`, `lists.js`)")),
    responses(
        (status = 200, description = "A style sheet (`text/css`) or JavaScript module (`text/javascript`) of the console", content_type = "text/plain"),
        (status = 404, description = "`not_found`: no such file, or the console is off", body = ErrorBody),
    )
)]
#[get("/console/assets/{file}")]
pub async fn asset(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    console_on(&state)?;
    let file = file.into_inner();
    let Some((_, content_type, text)) = ASSETS.iter().find(|(name, ..)| *name == file) else {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the console has no file {file:?}"),
        ));
    };
    Ok(respond(content_type, text))
}

/// 404 when `admin_token` is empty: the console is off.
fn console_on(state: &AppState) -> Result<(), Rejection> {
    if state.settings.admin_enabled() {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the console is off: set [server] admin_token to turn it on",
        ))
    }
}

/// One of the console's files, with the headers every one of them carries.
fn respond(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}
