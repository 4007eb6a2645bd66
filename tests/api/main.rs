//! Integration tests: the real application on port 0, wiremock servers for the providers.

mod delivery;
mod helpers;
mod ingest;
mod rules;
