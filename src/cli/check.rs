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
    let problems = check_rules(&engine, &settings);
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

/// A config error as `path:line:col: message` (line 1, column 1 when it has no place).
fn located(config: &Path, error: &ConfigError) -> String {
    match error {
        ConfigError::Read { .. } => format!("{}:1:1: {error}", config.display()),
        ConfigError::Invalid { message, .. } => {
            // TOML syntax errors name their line and column in the message.
            let place = message
                .split("line ")
                .nth(1)
                .and_then(|rest| {
                    let line: usize = rest
                        .split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse()
                        .ok()?;
                    let column: usize = rest
                        .split("column ")
                        .nth(1)?
                        .split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse()
                        .ok()?;
                    Some((line, column))
                })
                .unwrap_or((1, 1));
            let first_line = message.lines().next().unwrap_or_default();
            format!("{}:{}:{}: {first_line}", config.display(), place.0, place.1)
        }
    }
}
