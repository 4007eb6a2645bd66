//! For the benchmarks: the settings they read from the environment.

use std::path::PathBuf;

/// The number in environment variable `name`, or `default` when it is unset (or not a
/// number).
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `switchboard` binary to run: `SWITCHBOARD_BIN`, else the release build.
///
/// # Errors
/// When it does not exist, with how to build it.
#[allow(dead_code)] // not every benchmark starts the binary
pub fn switchboard_binary() -> anyhow::Result<PathBuf> {
    let binary =
        std::env::var("SWITCHBOARD_BIN").unwrap_or_else(|_| "target/release/switchboard".into());
    std::fs::canonicalize(&binary).map_err(|e| {
        anyhow::anyhow!("cannot find {binary} ({e}); run `cargo build --release` first")
    })
}
