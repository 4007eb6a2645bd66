//! `GET /admin/stats?window=1h` (docs/http-api.md): per-minute counts and provider-request
//! latencies over the window, overall and per provider, from this process's last day
//! (`metrics::activity`).

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query;
use crate::domain::event::now_millis;
use crate::http::error::ErrorBody;
use crate::http::{AppState, Rejection};
use crate::metrics::activity::{Bucket, MAX_MINUTES};

/// The parameters of `GET /admin/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How far back: minutes (`15m`) or hours (`6h`), from 1m to 24h; default `1h`.
    window: Option<String>,
}

/// The answer of `GET /admin/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// One per minute of the window, oldest first, the current minute last.
    buckets: Vec<Bucket>,
    /// The same minutes for each configured provider (and any other that had deliveries):
    /// only `delivered`, `retried`, `dead` and the latencies are counted per provider.
    providers: BTreeMap<String, Vec<Bucket>>,
}

/// A window as minutes: `<n>m` or `<n>h`, 1 minute to 24 hours.
pub fn window_minutes(value: &str) -> Result<usize, Rejection> {
    let bad = || {
        query::invalid(format!(
            "window={value} must be minutes or hours like 15m, 1h or 24h, from 1m to 24h"
        ))
    };
    // By suffix, not by byte position: the value may be any text (`\u{80}`).
    let (number, per_unit) = if let Some(n) = value.strip_suffix('m') {
        (n, 1)
    } else if let Some(n) = value.strip_suffix('h') {
        (n, 60)
    } else {
        return Err(bad());
    };
    let n: usize = number.parse().map_err(|_| bad())?;
    let minutes = n.checked_mul(per_unit).ok_or_else(bad)?;
    if (1..=MAX_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(bad())
    }
}

/// `GET /admin/stats`.
#[utoipa::path(
    tag = "admin",
    operation_id = "stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "Per-minute counts and latencies over the window (this instance, since it started)", body = Stats),
        (status = 400, description = "`invalid_query`: an unknown parameter or a bad window", body = ErrorBody),
    )
)]
#[get("/stats")]
pub async fn show(
    params: query::Params<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let params = params.0;
    let minutes = window_minutes(params.window.as_deref().unwrap_or("1h"))?;
    let (buckets, providers) =
        state
            .metrics
            .activity
            .stats(now_millis(), minutes, state.settings.providers.keys());
    Ok(HttpResponse::Ok().json(Stats { buckets, providers }))
}

#[cfg(test)]
mod tests {
    use super::window_minutes;

    #[test]
    fn windows_are_minutes_or_hours_up_to_a_day() {
        assert_eq!(window_minutes("1h").unwrap(), 60);
        assert_eq!(window_minutes("15m").unwrap(), 15);
        assert_eq!(window_minutes("24h").unwrap(), 1440);
        for bad in [
            "0m",
            "25h",
            "1d",
            "h",
            "",
            "1.5h",
            "-1h",
            "99999999999999999999h",
        ] {
            let e = window_minutes(bad).unwrap_err();
            assert!(
                e.message().contains("from 1m to 24h"),
                "{bad}: {}",
                e.message()
            );
        }
    }
}
