//! `GET /admin/events`, `GET /admin/events/{id}`, `POST /admin/events/{id}/replay`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
// `IntoParams` is not imported: utoipa's expansion names it in full.
use utoipa::ToSchema;

use super::query::{self, Params};
use crate::domain::ids::{EventId, RunId};
use crate::domain::status::EventStatus;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::{EventFilter, EventSummary, EventTrace};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// The longest `q` (a search is a few words).
const MAX_Q_CHARS: usize = 500;

/// The filters of `GET /admin/events`; any other parameter is `400 invalid_query`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Words that must all appear in the message text or the raw payload (any order, any
    /// case; letters and digits, other characters separate words).
    q: Option<String>,
    /// Matches `user.id`, the phone (with or without `+`), the email or the ns.
    user: Option<String>,
    /// The event kind, e.g. `message.received`.
    kind: Option<String>,
    /// `received`, `processing`, `done`, `failed` or `partial`; anything else is `400`.
    #[param(inline, value_type = Option<EventStatus>)]
    status: Option<String>,
    /// A source's name.
    source: Option<String>,
    /// Events with a delivery to this provider.
    provider: Option<String>,
    /// Events with a delivery of this action, e.g. `send_text`.
    action: Option<String>,
    /// Events on which this rule file (e.g. `10-greeting.rhai`) decided an action or erred.
    rule: Option<String>,
    /// `true`: events with a rule error; `false`: events without.
    #[param(value_type = Option<bool>)]
    rule_error: Option<String>,
    /// Events with a delivery attempt the provider answered with this HTTP status.
    #[param(value_type = Option<u16>, minimum = 100, maximum = 599)]
    http_status: Option<String>,
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
    /// How many events match the filters, over every page, counted up to 10,000.
    total: i64,
    /// `false` when more than 10,000 events match: `total` is then 10,000.
    total_exact: bool,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// `GET /admin/events`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_events",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of events, newest accepted first, and how many match", body = EventList),
        (status = 400, description = "`invalid_query`: an unknown parameter, a bad time, status, rule_error, http_status, q or cursor", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/events")]
pub async fn list(
    params: Params<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let params = params.0;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let status =
        query::parsed::<EventStatus>(params.status.as_deref(), |_, e| format!("status={e}"))?;
    let words = match params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => Vec::new(),
        Some(q) if q.chars().count() > MAX_Q_CHARS => {
            return Err(query::invalid(format!(
                "q is {} characters long; at most {MAX_Q_CHARS}",
                q.chars().count()
            )))
        }
        Some(q) => {
            let words = crate::store::search_terms(q);
            if words.is_empty() {
                return Err(query::invalid(format!(
                    "q={q} has no word to search for (letters or digits)"
                )));
            }
            words
        }
    };
    let rule_error = query::one_of(
        params.rule_error.as_deref(),
        &[("true", true), ("false", false)],
        |other| format!("rule_error={other} must be true or false"),
    )?;
    let (since, until) = query::window(params.since.as_deref(), params.until.as_deref())?;
    let http_status = query::status("http_status", params.http_status.as_deref())?;
    let page = query::Page::new(limit, params.cursor.as_deref())?;
    let filter = EventFilter {
        user: query::text(params.user),
        kind: query::text(params.kind),
        status,
        source: query::text(params.source),
        since,
        until,
        words,
        provider: query::text(params.provider),
        action: query::text(params.action),
        rule: query::text(params.rule),
        rule_error,
        http_status,
        limit: page.rows_to_read(),
        cursor: page.cursor,
    };
    let found = state
        .store
        .list_events(filter)
        .await
        .map_err(Rejection::store)?;
    let (events, next_cursor) = page.cut(found.events, |e| e.seq);
    Ok(HttpResponse::Ok().json(EventList {
        events,
        total: found.total,
        total_exact: found.total_exact,
        next_cursor,
    }))
}

/// The event an admin path names: `None` when the text is not an event id (no event has it).
fn event_id(text: &str) -> Option<EventId> {
    text.parse().ok()
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
    let id = self::event_id(&event_id).ok_or_else(|| event_not_found(&event_id))?;
    let trace = state
        .store
        .event_trace(&id)
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

/// One decided action as `switchboard replay` prints it (docs/commands.md), with the request it
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
    #[schema(value_type = String)]
    run_id: RunId,
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
    params: Params<ReplayQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let dry_run = params.0.dry_run;
    let id = self::event_id(&event_id).ok_or_else(|| event_not_found(&event_id))?;
    let stored = state
        .store
        .stored_event(&id)
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
    let run_id = RunId::new();
    tracing::info!(event_id = %stored.event.event_id, run_id = %run_id, actions = verdict.actions().count(), "operator replay");
    let decision = crate::worker::decision(stored.seq, &stored.event, run_id.clone(), verdict);
    state
        .store
        .decide(decision)
        .await
        .map_err(Rejection::store)?;
    Ok(HttpResponse::Accepted().json(ReplayRun { run_id }))
}
