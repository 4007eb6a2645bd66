//! The operator surface (contract §8): `/admin/*` behind `Authorization: Bearer
//! <admin_token>` (401 without it; 404 for everything when the token is empty). One file
//! per resource: events (list, trace, replay), dead letters (list, redrive), rules (state,
//! and the try-it dry run).

mod console;
mod dead_letters;
mod events;
mod rules;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::http::auth::admin_only;

pub fn routes(config: &mut web::ServiceConfig) {
    // Every route in this scope, and any path under /admin that matches none, goes through
    // the token check first: a new route cannot be left open by mistake.
    config
        .service(
            web::scope("/admin")
                .wrap(from_fn(admin_only))
                .route("/events", web::get().to(events::list))
                .route("/events/{event_id}", web::get().to(events::trace))
                .route("/events/{event_id}/replay", web::post().to(events::replay))
                .route("/dead-letters", web::get().to(dead_letters::list))
                .route(
                    "/dead-letters/{id}/redrive",
                    web::post().to(dead_letters::redrive),
                )
                .route("/rules", web::get().to(rules::list))
                .route("/try", web::post().to(rules::try_it))
                .default_service(web::to(crate::http::health::not_found)),
        )
        // The page holds no data; it asks for the token and sends it with each call.
        .route("/console", web::get().to(console::page));
}
