//! `GET /admin/dead-letters` (filtered, counted, paged), `POST /admin/dead-letters/{id}/redrive`,
//! and the bulk `POST /admin/dead-letters/redrive` and `/discard` (docs/http-api.md).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::{self, Params};
use crate::domain::ids::DeadLetterId;
use crate::domain::status::DeadReason;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::{DeadLetter, DeadLetterFilter, DeadLetterQuery, Redrive, Selection};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// The most ids one bulk call may name (a filter selects any number).
const MAX_IDS: usize = 10_000;

/// The filters of `GET /admin/dead-letters`; any other parameter is `400 invalid_query`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A provider's name.
    provider: Option<String>,
    /// An action, e.g. `send_text`.
    action: Option<String>,
    /// A reason, e.g. `attempts_exhausted`, `final_status`, `user_unknown`, `timeout`.
    reason: Option<String>,
    /// The provider's last HTTP status, e.g. `503`.
    #[param(value_type = Option<u16>, minimum = 100, maximum = 599)]
    last_status: Option<String>,
    /// Dead-lettered at or after: RFC 3339 or unix milliseconds.
    since: Option<String>,
    /// Dead-lettered before: RFC 3339 or unix milliseconds.
    until: Option<String>,
    /// `discarded`: list discarded letters too (they are left out otherwise).
    #[param(pattern = "^discarded$")]
    include: Option<String>,
    /// Page size, 1–500; default 50; outside is `400`.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// A `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The answer of `GET /admin/dead-letters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetters {
    /// Newest first; redriven letters included (with `redriven_at`).
    dead_letters: Vec<DeadLetter>,
    /// How many letters match the filters, over every page.
    total: i64,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The answer of a redrive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redriven {
    /// The dead letter's id.
    #[schema(value_type = i64)]
    id: DeadLetterId,
    /// Always `pending`: the delivery waits for its next attempt.
    #[schema(example = "pending")]
    status: &'static str,
}

/// A dead-letter reason (empty counts as absent), as its name.
fn reason(value: Option<String>) -> Result<Option<String>, Rejection> {
    let reason = query::parsed::<DeadReason>(value.as_deref(), |reason, _| {
        format!(
            "reason={reason} is not a dead-letter reason (final_status, attempts_exhausted, \
             user_unknown, user_ambiguous, unreadable, dns, refused, tls, timeout, unsupported, \
              window_closed)"
        )
    })?;
    Ok(reason.map(|r| r.as_str().to_string()))
}

/// `GET /admin/dead-letters`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_dead_letters",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of dead letters, newest first, and how many match", body = DeadLetters),
        (status = 400, description = "`invalid_query`: an unknown parameter, a bad time, reason, status, limit or cursor", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/dead-letters")]
pub async fn list(
    params: Params<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let params = params.0;
    let include_discarded =
        query::one_of(params.include.as_deref(), &[("discarded", ())], |other| {
            format!("include={other} is not known: the only value is include=discarded")
        })?
        .is_some();
    let limit = query::limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let reason = reason(params.reason)?;
    let last_status = query::status("last_status", params.last_status.as_deref())?;
    let (since, until) = query::window(params.since.as_deref(), params.until.as_deref())?;
    let page = query::Page::new(limit, params.cursor.as_deref())?;
    let filter = DeadLetterFilter {
        provider: query::text(params.provider),
        action: query::text(params.action),
        reason,
        last_status,
        since,
        until,
    };
    let found = state
        .store
        .dead_letters(DeadLetterQuery {
            filter,
            include_discarded,
            limit: page.rows_to_read(),
            cursor: page.cursor,
        })
        .await
        .map_err(Rejection::store)?;
    let (dead_letters, next_cursor) = page.cut(found.letters, |l| l.id.get());
    Ok(HttpResponse::Ok().json(DeadLetters {
        dead_letters,
        total: found.total,
        next_cursor,
    }))
}

/// The letters a bulk call acts on: `ids`, or a `filter` (exactly one of the two).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// Dead letter ids (at most 10,000).
    #[schema(value_type = Option<Vec<i64>>)]
    ids: Option<Vec<DeadLetterId>>,
    /// Every letter matching (as `GET /admin/dead-letters`' filters; `since`/`until` are
    /// RFC 3339 or unix milliseconds).
    filter: Option<BulkFilter>,
}

/// The filter of a bulk call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    provider: Option<String>,
    action: Option<String>,
    reason: Option<String>,
    last_status: Option<u16>,
    /// RFC 3339 or unix milliseconds (a JSON number or string).
    #[schema(value_type = Option<String>)]
    since: Option<serde_json::Value>,
    /// RFC 3339 or unix milliseconds (a JSON number or string).
    #[schema(value_type = Option<String>)]
    until: Option<serde_json::Value>,
}

fn bulk_time(name: &str, value: Option<serde_json::Value>) -> Result<Option<i64>, Rejection> {
    let invalid_body = |m: String| Rejection::new(StatusCode::BAD_REQUEST, "invalid_body", m);
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| invalid_body(format!("filter.{name}={n} is not unix milliseconds"))),
        Some(serde_json::Value::String(s)) => {
            query::time(name, Some(&s)).map_err(|e| invalid_body(format!("filter.{}", e.message())))
        }
        Some(other) => Err(invalid_body(format!(
            "filter.{name} must be RFC 3339 text or unix milliseconds, not {other}"
        ))),
    }
}

fn selection(body: Result<web::Json<BulkBody>, actix_web::Error>) -> Result<Selection, Rejection> {
    let invalid_body = |m: String| Rejection::new(StatusCode::BAD_REQUEST, "invalid_body", m);
    let body = body
        .map_err(|e| {
            invalid_body(format!(
                "the body must be {{\"ids\": [...]}} or {{\"filter\": {{...}}}}: {e}"
            ))
        })?
        .into_inner();
    match (body.ids, body.filter) {
        (Some(ids), None) if ids.len() > MAX_IDS => Err(invalid_body(format!(
            "{} ids in one call; at most {MAX_IDS} (or select them with a filter)",
            ids.len()
        ))),
        (Some(ids), None) => Ok(Selection::Ids(ids)),
        (None, Some(f)) => Ok(Selection::Filter(DeadLetterFilter {
            provider: query::text(f.provider),
            action: query::text(f.action),
            reason: reason(f.reason).map_err(|e| invalid_body(format!("filter.{}", e.message())))?,
            last_status: f.last_status,
            since: bulk_time("since", f.since)?,
            until: bulk_time("until", f.until)?,
        })),
        _ => Err(invalid_body(
            "give exactly one of \"ids\" (a list of dead letter ids) or \"filter\" (an object; {} selects every letter)".into(),
        )),
    }
}

/// The answer of a bulk redrive.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRedriven {
    /// Letters whose delivery restarted (already redriven or discarded ones are skipped).
    redriven: usize,
    /// `user_unknown` letters a filter selected without naming that reason: left as they
    /// are (they would fail again unless the user became known). Name them by id, or filter
    /// with `reason: "user_unknown"`, to redrive them anyway.
    skipped_user_unknown: usize,
}

/// The answer of a bulk discard.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkDiscarded {
    /// Letters discarded (already redriven or discarded ones are skipped).
    discarded: usize,
}

/// `POST /admin/dead-letters/redrive`.
#[utoipa::path(
    tag = "admin",
    operation_id = "redrive_dead_letters",
    request_body = BulkBody,
    responses(
        (status = 202, description = "The selected letters' deliveries restart, each out of its user's order (as a single redrive)", body = BulkRedriven),
        (status = 400, description = "`invalid_body`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/dead-letters/redrive")]
pub async fn redrive_many(
    body: Result<web::Json<BulkBody>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let selection = selection(body)?;
    let done = state
        .store
        .redrive_many(selection)
        .await
        .map_err(Rejection::store)?;
    tracing::info!(
        redriven = done.redriven,
        skipped_user_unknown = done.skipped_user_unknown,
        "dead letters redriven in bulk"
    );
    Ok(HttpResponse::Accepted().json(BulkRedriven {
        redriven: done.redriven,
        skipped_user_unknown: done.skipped_user_unknown,
    }))
}

/// `POST /admin/dead-letters/discard`.
#[utoipa::path(
    tag = "admin",
    operation_id = "discard_dead_letters",
    request_body = BulkBody,
    responses(
        (status = 200, description = "The selected letters are discarded: kept for the record (`include=discarded`), never redriven", body = BulkDiscarded),
        (status = 400, description = "`invalid_body`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/dead-letters/discard")]
pub async fn discard_many(
    body: Result<web::Json<BulkBody>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let selection = selection(body)?;
    let discarded = state
        .store
        .discard_many(selection)
        .await
        .map_err(Rejection::store)?;
    tracing::info!(discarded, "dead letters discarded");
    Ok(HttpResponse::Ok().json(BulkDiscarded { discarded }))
}

/// `POST /admin/dead-letters/{id}/redrive`.
#[utoipa::path(
    tag = "admin",
    operation_id = "redrive_dead_letter",
    params(("id" = String, Path, description = "The dead letter's `id`")),
    responses(
        (status = 202, description = "The delivery's attempts restart", body = Redriven),
        (status = 404, description = "`unknown_dead_letter`", body = ErrorBody),
        (status = 409, description = "`already_redriven`, or `discarded`: an operator discarded the letter, which is never redriven", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/dead-letters/{id}/redrive")]
pub async fn redrive(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let not_found = || {
        Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_dead_letter",
            format!("no dead letter {id}"),
        )
    };
    let number: DeadLetterId = id.parse().map_err(|_| not_found())?;
    match state.store.redrive(number).await.map_err(Rejection::store)? {
            Redrive::Done => {
                tracing::info!(dead_letter = number.get(), "dead letter redriven");
                Ok(HttpResponse::Accepted().json(Redriven {
                    id: number,
                    status: "pending",
                }))
            }
            Redrive::NotFound => Err(not_found()),
            Redrive::AlreadyRedriven => Err(Rejection::new(
                StatusCode::CONFLICT,
                "already_redriven",
                format!("dead letter {number} was already redriven; if it failed again it is listed under a new id"),
            )),
            Redrive::Discarded => Err(Rejection::new(
                StatusCode::CONFLICT,
                "discarded",
                format!("dead letter {number} was discarded; a discarded letter is kept for the record and never redriven (replay its event to send its actions again)"),
            )),
        }
}
