//! Integration tests: the real application on port 0, wiremock servers for the providers.

mod admin;
mod delivery;
mod delivery_policy;
mod helpers;
mod ingest;
mod reload;
mod rules;
