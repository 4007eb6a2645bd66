//! `GET /admin/events`, `GET /admin/events/{id}`, `POST /admin/events/{id}/replay`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
// `IntoParams` is not imported: utoipa's expansion names it in full.
use utoipa::ToSchema;

use crate::domain::status::EventStatus;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::{EventFilter, EventSummary, EventTrace};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// The filters of `GET /admin/events`; any other parameter is `400 invalid_query`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Matches `user.id`, the phone (with or without `+`), the email or the ns.
    user: Option<String>,
    /// The event kind, e.g. `message.received`.
    kind: Option<String>,
    /// `received`, `processing`, `done`, `failed` or `partial`; anything else is `400`.
    #[param(inline, value_type = Option<EventStatus>)]
    status: Option<String>,
    /// A source's name.
    source: Option<String>,
    /// Accepted at or after: RFC 3339 or unix milliseconds.
    since: Option<String>,
    /// Accepted before: RFC 3339 or unix milliseconds.
    until: Option<String>,
    /// Page size, 1–500 (values outside are clamped); default 50.
    limit: Option<usize>,
    /// A `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The answer of `GET /admin/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Newest accepted first.
    events: Vec<EventSummary>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
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

/// `GET /admin/events`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_events",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of events, newest accepted first", body = EventList),
        (status = 400, description = "`invalid_query`: an unknown parameter, a bad time, status or cursor", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/events")]
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
    Ok(HttpResponse::Ok().json(EventList {
        events,
        next_cursor: next_cursor.flatten(),
    }))
}

fn event_not_found(event_id: &str) -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        "unknown_event",
        format!("no event {event_id} is stored (it may have been purged by retention)"),
    )
}

/// `GET /admin/events/{event_id}`.
#[utoipa::path(
    tag = "admin",
    operation_id = "event_trace",
    params(("event_id" = String, Path, description = "The event's `evt_` id")),
    responses(
        (status = 200, description = "The stored event (with `raw`), what each rule decided and every delivery with its attempts", body = EventTrace),
        (status = 404, description = "`unknown_event`: no such event is stored (it may have been purged)", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/events/{event_id}")]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Only return the actions the current rules decide; carry nothing out.
    #[serde(default)]
    dry_run: bool,
}

/// The answer of a dry-run replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// Always `true`.
    dry_run: bool,
    /// The actions, as `switchboard replay` prints them.
    #[schema(value_type = Vec<ActionLine>)]
    actions: Vec<Value>,
}

/// One decided action as `switchboard replay` prints it (contract §6.3), with the request it
/// would send (looked-up values as placeholders). Built by `dryrun::action_line`.
#[derive(ToSchema)]
#[allow(dead_code)] // a description of the JSON `dryrun::action_line` builds
pub struct ActionLine {
    event_id: String,
    source: String,
    /// The rule file that decided it.
    rule: String,
    /// 0-based position in the event, across all rules.
    seq: u64,
    action: String,
    provider: String,
    params: Object,
    /// The request it would send (`{method, url, body}`), or `{"dead_letter": "user_unknown"}`.
    request: Object,
}

/// A JSON object.
type Object = serde_json::Map<String, Value>;

/// The answer of a replay that runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayRun {
    /// `run_` + a ULID: the deliveries of this replay carry it in the trace.
    run_id: String,
}

/// `POST /admin/events/{event_id}/replay`.
#[utoipa::path(
    tag = "admin",
    operation_id = "replay_event",
    params(("event_id" = String, Path, description = "The event's `evt_` id"), ReplayQuery),
    responses(
        (status = 200, description = "`dry_run=true`: the actions the current rules decide; nothing is carried out", body = DryRun),
        (status = 202, description = "The current rules ran on the stored event; their actions are being carried out", body = ReplayRun),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`unknown_event`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/events/{event_id}/replay")]
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
        return Ok(HttpResponse::Ok().json(DryRun {
            dry_run: true,
            actions,
        }));
    }
    let run_id = format!("run_{}", ulid::Ulid::new());
    tracing::info!(event_id = %stored.event.event_id, run_id = %run_id, actions = verdict.actions().count(), "operator replay");
    let decision = crate::worker::decision(stored.seq, &stored.event, run_id.clone(), verdict);
    state
        .store
        .decide(decision)
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Accepted().json(ReplayRun { run_id }))
}
