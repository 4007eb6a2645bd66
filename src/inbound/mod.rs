//! Inbound HTTP (docs/http-api.md, docs/providers.md): `POST /webhooks/{source}`. The checks run in the
//! documented order (docs/http-api.md): unknown source (404), size (413; memory is taken as bytes arrive, and a
//! body late by `body_timeout_ms` gets 408), signature (401), JSON (400), store (503); the
//! `202` goes out only after the event's transaction committed. A WhatsApp POST may carry
//! many items: all its events are stored in one transaction before the answer lists them.
//! `GET /webhooks/{source}` is Meta's subscription handshake (`hub.challenge`).

pub mod decode;
pub mod verify;

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::json;

use crate::config::SourceKind;
use crate::domain::event::now_millis;
use crate::domain::ids::EventId;
use crate::http::{AppState, Rejection};
use crate::store::{Inserted, StoreError};
use crate::telemetry::Escaped;
use decode::DecodeError;
use verify::VerifyError;

/// What a body buffer starts with; it grows as bytes arrive.
const INITIAL_BODY_BUFFER: usize = 8 * 1024;

fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/{source}`.
pub async fn receive_webhook(
    request: HttpRequest,
    source: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let source_name = source.into_inner();
    let result = accept(&request, &source_name, payload, &state).await;
    state
        .metrics
        .ingest_seconds
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok((status, kind, inserted)) => {
            for one in &inserted {
                state.metrics.activity.received(now_millis());
                state.metrics.received(
                    &source_name,
                    if one.duplicate {
                        "duplicate"
                    } else {
                        "accepted"
                    },
                );
            }
            HttpResponse::build(status).json(answer(kind, &inserted))
        }
        Err(rejection) => {
            let label = if rejection.code() == "unknown_source" {
                "(unknown)"
            } else {
                source_name.as_str()
            };
            state.metrics.received(label, rejection.code());
            state
                .metrics
                .activity
                .rejected(crate::metrics::activity::Rejected {
                    at: now_millis(),
                    source: source_name.chars().take(200).collect(),
                    status: rejection.status_code().as_u16(),
                    error: rejection.code().to_string(),
                    message: rejection.message().to_string(),
                    remote_addr: request.peer_addr().map(|a| a.ip().to_string()),
                });
            tracing::info!(source = %Escaped(&source_name), error = rejection.code(), "webhook rejected: {}", rejection.message());
            rejection.error_response()
        }
    }
}

/// The 2xx body: `{event_id, duplicate}` (docs/http-api.md), or for a WhatsApp POST
/// `{event_ids, duplicates}` (docs/providers.md): every item's id in payload order (a
/// duplicate's is the first one's), and the subset that were duplicates.
fn answer(kind: SourceKind, inserted: &[Inserted]) -> serde_json::Value {
    if kind == SourceKind::Whatsapp {
        let ids: Vec<&str> = inserted.iter().map(|i| i.event_id.as_str()).collect();
        let duplicates: Vec<&str> = inserted
            .iter()
            .filter(|i| i.duplicate)
            .map(|i| i.event_id.as_str())
            .collect();
        return json!({"event_ids": ids, "duplicates": duplicates});
    }
    match inserted.first() {
        Some(one) => json!({"event_id": one.event_id, "duplicate": one.duplicate}),
        None => json!({"event_id": null, "duplicate": false}),
    }
}

async fn accept(
    request: &HttpRequest,
    source_name: &str,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<(StatusCode, SourceKind, Vec<Inserted>), Rejection> {
    let settings = &state.settings;
    // The body was not read: the client must not reuse this connection.
    let source = settings.source(source_name).ok_or_else(|| {
        Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source named \"{}\" is configured", Escaped(source_name)),
        )
        .closing()
    })?;

    let limit = settings.server.max_body_bytes;
    let too_large = || {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than this server's limit of {limit} bytes"),
        )
        .closing()
    };
    let declared =
        header_value(request.headers(), "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    // Memory is taken as bytes arrive, never reserved from what Content-Length promises.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(INITIAL_BODY_BUFFER));
    let body_timeout = Duration::from_millis(settings.server.body_timeout_ms);
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("the body could not be read: {e}"),
                )
                .closing()
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(body_timeout, read)
        .await
        .map_err(|_| {
            Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {} ms of the headers",
                    body_timeout.as_millis()
                ),
            )
            .closing()
        })??;

    let headers = request.headers();
    let now = now_millis();
    let verified = verify::verify(
        source,
        |name| header_value(headers, name),
        body.freeze(),
        now / 1000,
    )
    .map_err(|e| match e {
        VerifyError::Missing(_) => {
            Rejection::new(StatusCode::UNAUTHORIZED, "missing_signature", e.to_string())
        }
        VerifyError::Bad(_) => {
            Rejection::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
        }
        VerifyError::Stale => {
            Rejection::new(StatusCode::UNAUTHORIZED, "stale_timestamp", e.to_string())
        }
    })?;

    let mut first_id = true;
    let events = decode::decode_all(
        source,
        |name| header_value(headers, name),
        &verified,
        || {
            let event_id = EventId::new();
            if std::mem::take(&mut first_id) {
                // The request's span (tracing-actix-web) gains the (first) event id.
                tracing::Span::current().record("event_id", tracing::field::display(&event_id));
            }
            event_id
        },
        now,
    )
    .map_err(|e| match e {
        DecodeError::InvalidJson { .. } => {
            Rejection::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string())
        }
        DecodeError::NotAnObject => {
            Rejection::new(StatusCode::BAD_REQUEST, "not_an_object", e.to_string())
        }
        DecodeError::TooDeep => Rejection::new(StatusCode::BAD_REQUEST, "too_deep", e.to_string()),
    })?;

    let inserted = match <[_; 1]>::try_from(events) {
        Ok([event]) => state.store.insert_event(event).await.map(|one| vec![one]),
        Err(events) => state.store.insert_events(events).await,
    };
    let inserted = inserted.map_err(|e| {
        tracing::error!(source = %Escaped(source_name), "could not store an event: {e}");
        let message = match e {
            StoreError::Unavailable(_) | StoreError::Locked(_) => {
                "the event could not be stored; nothing was accepted, try again shortly".to_string()
            }
            StoreError::Unexpected(_) => {
                "the event could not be stored because of an internal error; nothing was accepted"
                    .to_string()
            }
        };
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
    })?;
    let status = StatusCode::from_u16(source.ack_status).unwrap_or(StatusCode::ACCEPTED);
    for one in &inserted {
        tracing::debug!(event_id = %one.event_id, source = %Escaped(source_name), duplicate = one.duplicate, "webhook accepted");
    }
    Ok((status, source.kind, inserted))
}

/// `GET /webhooks/{source}`: Meta's subscription handshake for a whatsapp source
/// (docs/providers.md). `hub.mode=subscribe` with the source's `verify_token` (compared in
/// constant time) answers `hub.challenge` as `text/plain`; anything else is `403`. An
/// unknown source is `404 unknown_source`; a source of another kind has no GET route and
/// answers as before (the JSON `404 no route for ...`).
pub async fn verify_subscription(
    request: HttpRequest,
    source: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let source_name = source.into_inner();
    let Some(source) = state.settings.source(&source_name) else {
        return Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "no source named \"{}\" is configured",
                Escaped(&source_name)
            ),
        )
        .error_response();
    };
    let Some(expected) = source
        .verify_token
        .as_ref()
        .filter(|_| source.kind == SourceKind::Whatsapp)
    else {
        return crate::http::health::not_found(request).await;
    };
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    use secrecy::ExposeSecret as _;
    use subtle::ConstantTimeEq as _;
    let token_matches = token
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.expose_secret().as_bytes())));
    let refusal = if mode.as_deref() != Some("subscribe") {
        Some("hub.mode is not \"subscribe\"")
    } else if !token_matches {
        Some("hub.verify_token does not match this source's verify_token")
    } else if challenge.as_deref().is_none_or(str::is_empty) {
        Some("hub.challenge is missing")
    } else {
        None
    };
    if let Some(message) = refusal {
        state.metrics.received(&source_name, "verification_failed");
        tracing::info!(source = %Escaped(&source_name), "webhook verification refused: {message}");
        return Rejection::new(StatusCode::FORBIDDEN, "verification_failed", message)
            .error_response();
    }
    tracing::info!(source = %Escaped(&source_name), "webhook subscription verified");
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(challenge.unwrap_or_default())
}
