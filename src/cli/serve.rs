//! `switchboard serve`: run the server until SIGTERM / Ctrl-C; `--print-config` shows the
//! configuration it would run with instead.

use std::path::Path;

use super::output::out;
use super::{report, runtime, Exit};
use crate::config::Settings;
use crate::startup::{Application, StartupError};

pub fn run(config: &Path) -> Exit {
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Problem;
        }
    };
    crate::telemetry::init(settings.logging.format);
    runtime().block_on(async move {
        let listen = settings.server.listen.clone();
        let rules_dir = settings.rules.dir.display().to_string();
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(StartupError::Rules(problems)) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!(
                    "error: {} problem(s) in {rules_dir}; not starting",
                    problems.len()
                );
                return Exit::Problem;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Problem;
            }
        };
        let host = listen.rsplit_once(':').map_or(listen.as_str(), |(h, _)| h);
        tracing::info!(
            "switchboard listening on {}://{host}:{} (rules from {rules_dir})",
            app.scheme(),
            app.port()
        );
        match app.run_until_stopped().await {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!("error: {e:#}");
                Exit::Problem
            }
        }
    })
}

/// `serve --print-config`: the effective configuration as TOML, secrets redacted.
pub fn print_config(config: &Path) -> Exit {
    match Settings::load(config) {
        Ok(settings) => {
            out!("{}", crate::config::print::effective_toml(&settings));
            Exit::Success
        }
        Err(e) => {
            report(&e);
            Exit::Problem
        }
    }
}
