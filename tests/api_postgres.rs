//! The behavioural suite of `tests/api/` run again on the PostgreSQL store, plus what only
//! a shared store can do: several instances on one database. Built when
//! `SWITCHBOARD_TEST_POSTGRES_URL` is set (`.ci/run` starts PostgreSQL and sets it); each
//! test application gets a fresh database of its own on that server.

#[cfg(postgres_tests)]
pub const POSTGRES: bool = true;

#[cfg(postgres_tests)]
#[path = "api/admin.rs"]
mod admin;
#[cfg(postgres_tests)]
#[path = "api/backlog.rs"]
mod backlog;
#[cfg(postgres_tests)]
#[path = "api/backtest.rs"]
mod backtest;
#[cfg(postgres_tests)]
mod common;
#[cfg(postgres_tests)]
#[path = "api/delivery.rs"]
mod delivery;
#[cfg(postgres_tests)]
#[path = "api/delivery_policy.rs"]
mod delivery_policy;
#[cfg(postgres_tests)]
#[path = "api/helpers.rs"]
mod helpers;
#[cfg(postgres_tests)]
#[path = "api/ingest.rs"]
mod ingest;
#[cfg(postgres_tests)]
#[path = "api_postgres/multi_instance.rs"]
mod multi_instance;
#[cfg(postgres_tests)]
#[path = "api/operator.rs"]
mod operator;
#[cfg(postgres_tests)]
#[path = "api/providers.rs"]
mod providers;
#[cfg(postgres_tests)]
#[path = "api/reach.rs"]
mod reach;
#[cfg(postgres_tests)]
#[path = "api/reload.rs"]
mod reload;
#[cfg(postgres_tests)]
#[path = "api/rules.rs"]
mod rules;
#[cfg(postgres_tests)]
#[path = "api_postgres/schema.rs"]
mod schema;
#[cfg(postgres_tests)]
#[path = "api/shadow.rs"]
mod shadow;
#[cfg(postgres_tests)]
#[path = "api_postgres/tls.rs"]
mod tls;
#[cfg(postgres_tests)]
#[path = "api/whatsapp.rs"]
mod whatsapp;

#[cfg(not(postgres_tests))]
#[test]
fn postgres_suite_needs_a_database() {
    // In CI the suite must run; elsewhere, say clearly why it did not.
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the PostgreSQL suite: set SWITCHBOARD_TEST_POSTGRES_URL (see .ci/run)"
    );
    eprintln!(
        "skipping the PostgreSQL suite: set SWITCHBOARD_TEST_POSTGRES_URL=postgres://user:pw@host/db \
         (a role that may create databases) and run cargo test again"
    );
}
