//! Build script: compiles the PostgreSQL test suite (`tests/api_postgres.rs`) only when
//! `SWITCHBOARD_TEST_POSTGRES_URL` names a database to run it against (CI sets it; see
//! `.ci/run`), and rebuilds when a migration changes.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_TEST_POSTGRES_URL");
    // The migrations are embedded at compile time (`refinery::embed_migrations!`).
    println!("cargo:rerun-if-changed=src/store/migrations");
    if std::env::var_os("SWITCHBOARD_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
