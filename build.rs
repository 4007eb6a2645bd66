//! Build script: compiles the PostgreSQL test suite (`tests/api_postgres.rs`) only when
//! `SWITCHBOARD_TEST_POSTGRES_URL` names a database to run it against (CI sets it; see
//! `.ci/run`). Nothing here affects the binary.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_TEST_POSTGRES_URL");
    if std::env::var_os("SWITCHBOARD_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
