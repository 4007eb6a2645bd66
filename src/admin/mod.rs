//! The operator surface (docs/http-api.md): `/admin/*` behind `Authorization: Bearer
//! <admin_token>` (401 without it; 404 for everything when the token is empty). One file
//! per resource: events (list, trace, replay), dead letters (list, redrive), providers
//! (state, pause, resume), rules (state, and the try-it dry run), backtest, shadow rules. Each handler carries its OpenAPI description (`#[utoipa::path]`);
//! the bearer requirement, 401 and 404 that the middleware adds are described once, by
//! `http::openapi::finish`.

mod backtest;
mod console;
mod dead_letters;
mod events;
mod providers;
mod query;
mod rejections;
mod rules;
mod shadow;
mod stats;

use actix_web::middleware::from_fn;
use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::http::auth::admin_only;

/// The admin scope and the console, each route registered with its description.
pub fn routes(config: &mut ServiceConfig) {
    // Every route in this scope, and any path under /admin that matches none, goes through
    // the token check first: a new route cannot be left open by mistake.
    config
        .service(
            scope("/admin")
                .wrap(from_fn(admin_only))
                .service(events::list)
                .service(events::trace)
                .service(events::replay)
                .service(dead_letters::list)
                .service(dead_letters::redrive)
                .service(dead_letters::redrive_many)
                .service(dead_letters::discard_many)
                .service(rejections::list)
                .service(stats::show)
                .service(providers::list)
                .service(providers::pause)
                .service(providers::resume)
                .service(rules::list)
                .service(rules::try_it)
                .service(backtest::backtest)
                .service(shadow::list)
                .default_service(web::to(crate::http::health::not_found)),
        )
        // The page holds no data; it asks for the token and sends it with each call.
        .service(console::page)
        .service(console::asset);
}
