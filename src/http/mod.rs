//! The HTTP layer every route shares: the application state handlers get (`state`), the
//! one error answer (`error::Rejection`, an `actix_web::ResponseError`), the admin token as
//! middleware on the whole `/admin` scope (`auth`), the health routes (`health`), and the
//! OpenAPI document's shared parts and route (`openapi`), and HTTPS with certificates
//! reloaded on SIGHUP (`tls`).
//! Inbound webhooks (`inbound`) and the operator API (`admin`) build on it.

pub mod auth;
pub mod error;
pub mod health;
pub mod openapi;
pub mod spans;
pub mod state;
pub mod tls;

pub use error::Rejection;
pub use state::AppState;
