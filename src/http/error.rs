//! The one error answer of every route: a status, the documented error code (docs/http-api.md) and a sentence
//! for a human, as `{"error": code, "message": sentence}`. Handlers return
//! `Result<HttpResponse, Rejection>`; actix turns the `Err` into this answer.

use std::fmt;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// The body of every error answer; one component (`ErrorBody`) of the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "unknown_source", "message": "no source named \"x\" is configured"}))]
pub struct ErrorBody<'a> {
    /// The error code documented in docs/http-api.md, e.g. `unknown_source`, `bad_signature`, `unauthorized`.
    pub error: &'a str,
    /// A sentence for a human.
    pub message: &'a str,
}

/// An answer that is not a `2xx`: the documented error code (docs/http-api.md) and a sentence for a human.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Ask the client to open a new connection (the body was not read to its end).
    close: bool,
}

impl Rejection {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            code,
            message: message.into(),
            close: false,
        }
    }

    /// The same answer, and the connection is closed after it (the body was not read).
    #[must_use]
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// `503 store_unavailable`, for a store that could not answer.
    pub fn store(e: impl fmt::Display) -> Rejection {
        tracing::error!("request failed in the store: {e}");
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the store could not answer: {e}"),
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if self.close {
            builder.force_close();
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            builder.insert_header((header::RETRY_AFTER, "5"));
        }
        builder.json(ErrorBody {
            error: self.code,
            message: &self.message,
        })
    }
}
