//! `switchboard check`: validate the config and every rule, all problems in one run, each
//! as `path:line:col: message`; exit 1 on any.

use std::path::Path;

use super::output::outln;
use super::Exit;
use crate::config::{ConfigError, ProviderKind, Settings};
use crate::rules::check::check_rules;
use crate::rules::{build_engine, list_rule_files};

pub fn run(config: &Path) -> Exit {
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => {
            outln!("{}", located(config, &e));
            return Exit::Problem;
        }
    };
    for provider in settings.providers.values() {
        if provider.kind == ProviderKind::Jelou && provider.base_url.ends_with("/v1") {
            eprintln!(
                "{}:1:1: warning: providers.{}.base_url ends in /v1, but Jelou paths already start with /v1 (requests would go to /v1/v1/...)",
                config.display(),
                provider.name
            );
        }
    }
    let engine = build_engine();
    let mut problems: Vec<String> = Vec::new();
    if let (Some(cert), Some(key)) = (&settings.server.tls_cert, &settings.server.tls_key) {
        if let Err(e) = crate::http::tls::Certificates::load(cert, key) {
            problems.push(settings.locate_problem(e.key(), &e.to_string()));
        }
    }
    problems.extend(
        check_rules(&engine, &settings)
            .iter()
            .map(ToString::to_string),
    );
    if problems.is_empty() {
        let count = list_rule_files(&settings.rules.dir).map_or(0, |f| f.len());
        outln!(
            "ok: {count} rule(s) in {}, {} source(s), {} provider(s)",
            settings.rules.dir.display(),
            settings.sources.len(),
            settings.providers.len()
        );
        Exit::Success
    } else {
        for p in &problems {
            outln!("{p}");
        }
        eprintln!("{} problem(s) found", problems.len());
        Exit::Problem
    }
}

/// A config error as `path:line:col: message` (an unreadable file is at line 1, column 1).
fn located(config: &Path, error: &ConfigError) -> String {
    match error {
        ConfigError::Read { .. } => format!("{}:1:1: {error}", config.display()),
        ConfigError::Invalid { .. } => error.to_string(),
    }
}
