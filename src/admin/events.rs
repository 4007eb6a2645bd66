//! `GET /admin/events`, `GET /admin/events/{id}`, `POST /admin/events/{id}/replay`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::domain::status::EventStatus;
use crate::http::{AppState, Rejection};
use crate::store::EventFilter;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    user: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    source: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A time as unix milliseconds or RFC 3339.
fn parse_time(name: &str, value: &str) -> Result<i64, Rejection> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{name}={value} is neither unix milliseconds nor an RFC 3339 time like 2026-11-22T10:00:00Z"),
            )
        })
}

pub async fn list(
    query: Result<web::Query<ListQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let query = query
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))?
        .into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "cursor must be a next_cursor value",
                )
            })
        })
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<EventStatus>().map_err(|e| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("status={e}"),
                )
            })
        })
        .transpose()?;
    let filter = EventFilter {
        user: query.user.filter(|u| !u.is_empty()),
        kind: query.kind.filter(|k| !k.is_empty()),
        status,
        source: query.source.filter(|s| !s.is_empty()),
        since: query
            .since
            .as_deref()
            .map(|v| parse_time("since", v))
            .transpose()?,
        until: query
            .until
            .as_deref()
            .map(|v| parse_time("until", v))
            .transpose()?,
        // One more than asked, to know whether there is a next page.
        limit: limit + 1,
        cursor,
    };
    let mut events = state
        .store
        .list_events(filter)
        .await
        .map_err(Rejection::store)?;
    let next_cursor = (events.len() > limit).then(|| {
        events.truncate(limit);
        events.last().map(|e| e.seq.to_string())
    });
    Ok(HttpResponse::Ok().json(json!({"events": events, "next_cursor": next_cursor.flatten()})))
}

fn event_not_found(event_id: &str) -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        "unknown_event",
        format!("no event {event_id} is stored (it may have been purged by retention)"),
    )
}

pub async fn trace(
    event_id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let trace = state
        .store
        .event_trace(&event_id)
        .await
        .map_err(Rejection::store)?
        .ok_or_else(|| event_not_found(&event_id))?;
    Ok(HttpResponse::Ok().json(trace))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayQuery {
    #[serde(default)]
    dry_run: bool,
}

pub async fn replay(
    event_id: web::Path<String>,
    query: Result<web::Query<ReplayQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let dry_run = query
        .map_err(|e| Rejection::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))?
        .dry_run;
    let stored = state
        .store
        .stored_event(&event_id)
        .await
        .map_err(Rejection::store)?
        .ok_or_else(|| event_not_found(&event_id))?;
    let verdict = state
        .runner
        .evaluate(&state.store, std::sync::Arc::new(stored.event.clone()))
        .await
        .map_err(Rejection::store)?;
    if dry_run {
        let actions = crate::dryrun::describe(&state.settings, &stored.event, &verdict);
        return Ok(HttpResponse::Ok().json(json!({"dry_run": true, "actions": actions})));
    }
    let run_id = format!("run_{}", ulid::Ulid::new());
    tracing::info!(event_id = %stored.event.event_id, run_id = %run_id, actions = verdict.actions().count(), "operator replay");
    let decision = crate::worker::decision(stored.seq, &stored.event, run_id.clone(), verdict);
    state
        .store
        .decide(decision)
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Accepted().json(json!({"run_id": run_id})))
}
