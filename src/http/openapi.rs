//! The OpenAPI 3.1 document served at `GET /openapi.json` (docs/http-api.md). The paths come
//! from the handlers' `#[utoipa::path]` attributes, collected by utoipa-actix-web as
//! `startup::routes` registers them: registering a route and describing it are one call,
//! so a route cannot be served undescribed (`tests/api/openapi.rs` checks both ways).
//! Here lives what no handler carries: the document's info and tags, the admin bearer
//! scheme (put on every `/admin` operation by [`finish`], as the token middleware covers
//! the whole scope), the descriptions of `POST /webhooks/{source}` and `GET
//! /webhooks/{source}` (their handlers are `inbound::receive_webhook` and
//! `inbound::verify_subscription`, registered from these descriptions by [`webhook`] and
//! [`webhook_verification`]), and the route that serves the document.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{get, guard, web, FromRequest, Handler, HttpResponse, Responder};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa_actix_web::OpenApiFactory;

use super::error::ErrorBody;

/// The name of the admin token's security scheme.
pub const ADMIN_SCHEME: &str = "admin_token";

/// The parts of the document no handler carries; the paths are added as routes register.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "A webhook gateway: signed chat-platform webhooks in (`/webhooks/{source}`), \
                       Rhai rules in the middle, provider API calls out; the operator API under \
                       `/admin` (bearer admin token) and the health routes.",
    ),
    components(schemas(ErrorBody, Ack, BatchAck, WebhookAnswer)),
    modifiers(&AdminScheme),
    tags(
        (name = "inbound", description = "Webhooks from the platforms (docs/http-api.md)"),
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "admin", description = "The operator API (docs/http-api.md): `Authorization: Bearer <admin_token>`; \
                                        every route answers 404 when `admin_token` is empty"),
        (name = "console", description = "The web console"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct AdminScheme;

impl utoipa::Modify for AdminScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("`[server] admin_token`".into());
        components.add_security_scheme(ADMIN_SCHEME, SecurityScheme::Http(scheme));
    }
}

/// What the admin scope's middleware adds to every `/admin` operation, written once here as
/// the middleware is (`http::auth`): the bearer requirement, `401 unauthorized` and the `404`
/// of an empty `admin_token`.
#[must_use]
pub fn finish(mut openapi: OpenApi) -> OpenApi {
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/admin/") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            protect(operation);
        }
    }
    openapi
}

fn protect(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new(
        ADMIN_SCHEME,
        Vec::<String>::new(),
    )]);
    let responses = &mut operation.responses.responses;
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    responses.entry("401".into()).or_insert_with(|| {
        error("`unauthorized`: no `Authorization: Bearer <admin_token>`, or another token").into()
    });
    const OFF: &str = "`not_found`: the admin API is off (`admin_token` is empty)";
    match responses.get_mut("404") {
        Some(utoipa::openapi::RefOr::T(response)) => {
            response.description = format!("{}; or {OFF}", response.description);
        }
        Some(utoipa::openapi::RefOr::Ref(_)) => {}
        None => {
            responses.insert("404".into(), error(OFF).into());
        }
    }
}

/// The answer to an accepted webhook (docs/http-api.md). Described here; the handler builds it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description of the JSON `inbound::receive_webhook` writes
pub struct Ack {
    /// Switchboard's id of the event (`evt_` + a ULID); for a duplicate, the first one's.
    #[schema(example = "evt_01JD3X5N8Q2V7W4K6M9P0R1S2T")]
    event_id: String,
    /// Whether this event (same source and platform event id) was accepted before; nothing
    /// runs twice.
    duplicate: bool,
}

/// The answer to an accepted WhatsApp POST (docs/providers.md): one id per message or status
/// item. Described here; the handler builds it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description of the JSON `inbound::receive_webhook` writes
pub struct BatchAck {
    /// Every item's `evt_` id, in payload order; a duplicate item gives the first one's id.
    #[schema(example = json!(["evt_01JD3X5N8Q2V7W4K6M9P0R1S2T", "evt_01JD3X5N8Q2V7W4K6M9P0R1S2V"]))]
    event_ids: Vec<String>,
    /// The ids of `event_ids` that were duplicates (accepted before; nothing runs twice).
    #[schema(example = json!([]))]
    duplicates: Vec<String>,
}

/// What a `2xx` to `POST /webhooks/{source}` holds: [`Ack`] for one event, [`BatchAck`]
/// for a whatsapp source.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description of the JSON `inbound::receive_webhook` writes
#[serde(untagged)]
pub enum WebhookAnswer {
    Ack(Ack),
    BatchAck(BatchAck),
}

/// The description of `POST /webhooks/{source}`; the handler is `inbound::receive_webhook`,
/// registered from this description by [`webhook`].
#[utoipa::path(
    post,
    path = "/webhooks/{source}",
    tag = "inbound",
    operation_id = "receive_webhook",
    description = "Accept one webhook from a platform. Checks run in this order: unknown source (404), \
                   size (413, from `Content-Length` before reading or while reading), body time (408), \
                   signature or token (401), JSON (400), store (503). The 2xx is sent only after the event \
                   is durably stored. The signature is verified over the raw body bytes, by the source's kind: \
                   jelou `X-Jelou-Signature`; aelyst `X-Webhook-Signature`; generic (Standard Webhooks v1) \
                   `webhook-id`, `webhook-timestamp`, `webhook-signature`; whatsapp `X-Hub-Signature-256`; \
                   a source with a `token` takes `X-Webhook-Token: <token>` or `Authorization: Bearer <token>`. \
                   The answer is `{event_id, duplicate}`; a whatsapp source's POST becomes one event per \
                   `messages[]` or `statuses[]` item (one `other` event when it has neither), all stored before \
                   the answer `{event_ids, duplicates}`.",
    params(
        ("source" = String, Path, description = "A configured source's name (`[sources.<name>]`)", example = "jelou"),
        ("X-Jelou-Signature" = Option<String>, Header,
            description = "jelou sources: `sha256=` + lowercase hex HMAC-SHA256(secret, raw body)"),
        ("X-Webhook-Signature" = Option<String>, Header,
            description = "aelyst sources: base64 HMAC-SHA256(secret, raw body)"),
        ("webhook-id" = Option<String>, Header, description = "generic sources (Standard Webhooks): the message id"),
        ("webhook-timestamp" = Option<String>, Header,
            description = "generic sources: unix seconds; more than 300 s from now either way is `stale_timestamp`"),
        ("webhook-signature" = Option<String>, Header,
            description = "generic sources: space-separated `v1,<base64 HMAC-SHA256(key, \"{id}.{timestamp}.{body}\")>` entries, any one matching; key = the base64-decoded part after `whsec_`"),
        ("X-Webhook-Token" = Option<String>, Header,
            description = "sources with a `token` (UChat): the token (or `Authorization: Bearer <token>`)"),
        ("X-Hub-Signature-256" = Option<String>, Header,
            description = "whatsapp sources: `sha256=` + lowercase hex HMAC-SHA256(app secret, raw body)"),
    ),
    request_body(
        content = Object,
        content_type = "application/json",
        description = "The platform's JSON payload, a JSON object (a UTF-8 byte-order mark before it is ignored); at most `max_body_bytes`, nested at most 64 levels",
    ),
    responses(
        (status = 200, description = "Accepted and stored (a source with `ack_status = 200`)", body = WebhookAnswer),
        (status = 201, description = "Accepted and stored (a source with `ack_status = 201`)", body = WebhookAnswer),
        (status = 202, description = "Accepted and stored (the default `ack_status`); a whatsapp source answers `BatchAck`", body = WebhookAnswer),
        (status = 400, description = "`invalid_json` (message names line and column), `not_an_object`, `too_deep` (nested deeper than 64 levels), `invalid_body` (the body could not be read)", body = ErrorBody),
        (status = 401, description = "`missing_signature`, `bad_signature` or `stale_timestamp`", body = ErrorBody),
        (status = 404, description = "`unknown_source`: no source of that name is configured", body = ErrorBody),
        (status = 408, description = "`body_timeout`: the body was not complete within `body_timeout_ms`; the connection is closed", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over `max_body_bytes`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: the event could not be stored; nothing was accepted", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again"))),
    )
)]
#[allow(dead_code)] // describes the route; `inbound::receive_webhook` answers it
async fn receive_webhook() {}

/// `POST /webhooks/{source}` served by `handler`, registered from its description.
pub fn webhook<F, Args>(handler: F) -> Described<__path_receive_webhook>
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    described(__path_receive_webhook, handler)
}

/// The description of `GET /webhooks/{source}`; the handler is
/// `inbound::verify_subscription`, registered from this description by
/// [`webhook_verification`].
#[utoipa::path(
    get,
    path = "/webhooks/{source}",
    tag = "inbound",
    operation_id = "verify_webhook",
    description = "Meta's webhook subscription handshake, for a whatsapp source: with `hub.mode=subscribe` and \
                   `hub.verify_token` equal to the source's `verify_token`, the answer is `hub.challenge` as \
                   `text/plain`. A source of another kind has no GET route (the JSON `404 no route for ...`).",
    params(
        ("source" = String, Path, description = "A configured whatsapp source's name", example = "whatsapp"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The source's `verify_token`"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed as the body when the token matches"),
    ),
    responses(
        (status = 200, description = "The token matches: the body is `hub.challenge`", content_type = "text/plain", body = String),
        (status = 403, description = "`verification_failed`: `hub.mode` is not `subscribe`, the token does not match, or `hub.challenge` is missing", body = ErrorBody),
        (status = 404, description = "`unknown_source`: no source of that name; or `not_found`: the source is not a whatsapp source", body = ErrorBody),
    )
)]
#[allow(dead_code)] // describes the route; `inbound::verify_subscription` answers it
async fn verify_webhook() {}

/// `GET /webhooks/{source}` served by `handler`, registered from its description.
pub fn webhook_verification<F, Args>(handler: F) -> Described<__path_verify_webhook>
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    described(__path_verify_webhook, handler)
}

/// A handler registered at the path and methods of a description `D` (a `#[utoipa::path]`
/// with an explicit method and path), for handlers whose file carries no description. Like
/// actix's `#[post(...)]`, the methods guard the resource, so another method on the same
/// path can still be registered beside it.
pub struct Described<D> {
    doc: D,
    resource: actix_web::Resource,
}

pub fn described<D, F, Args>(doc: D, handler: F) -> Described<D>
where
    D: utoipa::Path,
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let methods: Vec<Method> = D::methods().into_iter().map(method).collect();
    let resource = web::resource(D::path())
        .guard(guard::fn_guard(move |context| {
            methods.contains(&context.head().method)
        }))
        .to(handler);
    Described { doc, resource }
}

fn method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl<D> HttpServiceFactory for Described<D> {
    fn register(self, config: &mut AppService) {
        self.resource.register(config);
    }
}

impl<D: OpenApiFactory> OpenApiFactory for Described<D> {
    fn paths(&self) -> utoipa::openapi::path::Paths {
        self.doc.paths()
    }

    fn schemas(
        &self,
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        self.doc.schemas(schemas);
    }
}

/// The document as served, rendered once at start.
#[derive(Debug)]
pub struct Document(pub bytes::Bytes);

impl Document {
    /// # Panics
    /// Never: an `OpenApi` always serialises.
    pub fn render(openapi: &OpenApi) -> Document {
        Document(
            openapi
                .to_pretty_json()
                .expect("the OpenAPI document serialises")
                .into(),
        )
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    tag = "meta",
    operation_id = "openapi",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object),
    )
)]
#[get("/openapi.json")]
pub async fn document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}
