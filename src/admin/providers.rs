//! `GET /admin/providers`, `POST /admin/providers/{name}/pause` and `/resume` (docs/guarantees.md): each provider's state (active, paused by an operator, or open by its circuit
//! breaker), its waiting and in-flight deliveries, and its last error. A pause is kept in
//! the store, so it holds across restarts and for every instance sharing the store.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::executor::gate::{PausedBy, State};
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::store::ProviderCounts;

/// One provider, as `GET /admin/providers` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderEntry {
    name: String,
    /// `jelou`, `uchat` or `aelyst`.
    kind: &'static str,
    /// `active`, `paused` (by an operator) or `open` (by the circuit breaker).
    #[schema(value_type = String, example = "active")]
    state: State,
    /// `operator`, `breaker` or null.
    #[schema(value_type = Option<String>)]
    paused_by: Option<PausedBy>,
    /// Deliveries not finished and not in flight (those queued behind their user's earlier
    /// delivery included).
    waiting: i64,
    in_flight: i64,
    /// The last retryable failure's text, if any.
    last_error: Option<String>,
}

/// The answer of `GET /admin/providers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Providers {
    providers: Vec<ProviderEntry>,
}

/// One provider's entry, with the open-delivery counts of every provider (read once).
fn entry_with(
    state: &AppState,
    name: &str,
    counts: &ProviderCounts,
) -> Result<ProviderEntry, Rejection> {
    let provider = state.settings.providers.get(name).ok_or_else(|| {
        Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            format!("no provider named \"{name}\" is configured"),
        )
    })?;
    let open = counts.get(name).copied().unwrap_or_default();
    let view = state
        .gates
        .get(name)
        .map(|g| g.view())
        .ok_or_else(|| Rejection::store("the provider has no gate"))?;
    Ok(ProviderEntry {
        name: name.to_string(),
        kind: provider.kind.as_str(),
        state: view.state,
        paused_by: view.paused_by,
        waiting: open.waiting,
        in_flight: open.in_flight,
        last_error: view.last_error,
    })
}

async fn entry(state: &AppState, name: &str) -> Result<ProviderEntry, Rejection> {
    let counts = state
        .store
        .provider_counts()
        .await
        .map_err(Rejection::store)?;
    entry_with(state, name, &counts)
}

/// `GET /admin/providers`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_providers",
    responses(
        (status = 200, description = "Every configured provider, by name", body = Providers),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[get("/providers")]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Rejection> {
    let counts = state
        .store
        .provider_counts()
        .await
        .map_err(Rejection::store)?;
    let providers = state
        .settings
        .providers
        .keys()
        .map(|name| entry_with(&state, name, &counts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Providers { providers }))
}

async fn set_paused(state: &AppState, name: &str, paused: bool) -> Result<HttpResponse, Rejection> {
    // Unknown names are refused before anything is written.
    entry(state, name).await?;
    state
        .store
        .set_paused(name, paused)
        .await
        .map_err(Rejection::store)?;
    if let Some(gate) = state.gates.get(name) {
        gate.set_operator_paused(paused);
    }
    tracing::info!(provider = %name, "provider {} by an operator", if paused { "paused" } else { "resumed" });
    Ok(HttpResponse::Ok().json(entry(state, name).await?))
}

/// `POST /admin/providers/{name}/pause`.
#[utoipa::path(
    tag = "admin",
    operation_id = "pause_provider",
    params(("name" = String, Path, description = "The provider's name in `[providers.<name>]`")),
    responses(
        (status = 200, description = "Paused: its deliveries wait, unattempted, until resumed", body = ProviderEntry),
        (status = 404, description = "`unknown_provider`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/providers/{name}/pause")]
pub async fn pause(
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    set_paused(&state, &name, true).await
}

/// `POST /admin/providers/{name}/resume`.
#[utoipa::path(
    tag = "admin",
    operation_id = "resume_provider",
    params(("name" = String, Path, description = "The provider's name in `[providers.<name>]`")),
    responses(
        (status = 200, description = "Resumed: its waiting deliveries go out in per-user order", body = ProviderEntry),
        (status = 404, description = "`unknown_provider`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    )
)]
#[post("/providers/{name}/resume")]
pub async fn resume(
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    set_paused(&state, &name, false).await
}
