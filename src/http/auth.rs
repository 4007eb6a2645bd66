//! Admin authentication as middleware on the whole `/admin` scope, so no admin route can be
//! left open by forgetting a check: `404 not_found` for everything when `admin_token` is
//! empty, `401 unauthorized` without `Authorization: Bearer <admin_token>` (the scheme in
//! any case, the token compared in constant time). Tokens in the query string are ignored.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{AppState, Rejection};

/// The token of an `Authorization: Bearer <token>` value; the scheme matches in any case.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Let a request through to the admin scope only with the admin token.
pub async fn admin_only(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match request.app_data::<web::Data<AppState>>() {
        Some(state) => check(&request, state),
        None => Err(Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server is not set up for the admin API",
        )),
    };
    match verdict {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(rejection) => Ok(request
            .into_response(rejection.error_response())
            .map_into_right_body()),
    }
}

fn check(request: &ServiceRequest, state: &AppState) -> Result<(), Rejection> {
    if !state.settings.admin_enabled() {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin API is off: set [server] admin_token to turn it on",
        ));
    }
    let offered = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .unwrap_or_default();
    let expected = state.settings.server.admin_token.expose_secret();
    if bool::from(offered.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_read_with_the_scheme_in_any_case() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("  Bearer abc", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearerabc", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(bearer_token(value), expected, "{value:?}");
        }
    }
}
