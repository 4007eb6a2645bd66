//! `GET /admin/rejections` (docs/http-api.md): the last refused webhooks, newest first, from
//! this process's bounded log (`metrics::activity`).

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::{self, Params};
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::metrics::activity::{Rejected, MAX_REJECTIONS};

/// The parameters of `GET /admin/rejections`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RejectionsQuery {
    /// How many, 1–1000; default 1000; outside is `400`.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The answer of `GET /admin/rejections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejections {
    /// Newest first: every 4xx and 5xx answer of `POST /webhooks/*` since this process
    /// started, the last 1,000 at most.
    rejections: Vec<Rejected>,
}

/// `GET /admin/rejections`.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_rejections",
    params(RejectionsQuery),
    responses(
        (status = 200, description = "The last refused webhooks, newest first", body = Rejections),
        (status = 400, description = "`invalid_query`: an unknown parameter or a bad limit", body = ErrorBody),
    )
)]
#[get("/rejections")]
pub async fn list(
    params: Params<RejectionsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let params = params.0;
    let limit = query::limit(params.limit.as_deref(), MAX_REJECTIONS, MAX_REJECTIONS)?;
    Ok(HttpResponse::Ok().json(Rejections {
        rejections: state.metrics.activity.rejections(limit),
    }))
}
