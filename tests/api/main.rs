//! Integration tests: the real application on port 0, wiremock servers for the providers,
//! on the embedded SQLite store (`tests/api_postgres.rs` runs them on PostgreSQL).

pub const POSTGRES: bool = false;

mod admin;
mod alerts;
mod backlog;
mod backtest;
#[path = "../common/mod.rs"]
mod common;
mod console;
mod delivery;
mod delivery_policy;
mod helpers;
mod http_doc;
mod ingest;
mod openapi;
mod operator;
mod providers;
mod reach;
mod reload;
mod rules;
mod shadow;
mod whatsapp;
