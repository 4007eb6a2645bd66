//! `switchboard test`: run the fixtures that carry `expect` and compare the actions with it,
//! element by element (same length, same order, params equal as JSON), and the rules that
//! erred with the fixture's `rule_errors` (docs/commands.md: a rule error fails the case unless
//! the fixture names that rule). Each failing case prints `FAIL <path>` and a diff; the last
//! line is `N passed, M failed`. No fixture with `expect` under the paths is a failure too.

use std::path::PathBuf;

use serde_json::{json, Value};
use similar::TextDiff;

use super::output::{out, outln};
use super::replay::Context;
use super::Exit;
use crate::config::Settings;
use crate::fixture::{self, Fixture};

pub fn run(settings: Settings, paths: &[PathBuf]) -> Exit {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("fixtures")]
    } else {
        paths.to_vec()
    };
    let Some(ctx) = Context::new(&settings) else {
        outln!("0 passed, 0 failed");
        return Exit::Problem;
    };
    let files = match fixture::collect(&paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            outln!("0 passed, 0 failed");
            return Exit::Problem;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    let mut with_expect = 0;
    for file in files {
        let fixture = match Fixture::load(&file) {
            Ok(fixture) => fixture,
            Err(e) => {
                outln!("FAIL {}\n  {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let Some(expect) = &fixture.expect else {
            continue;
        };
        with_expect += 1;
        // Every event of the fixture (a WhatsApp body may hold several), actions in order.
        let (actions, errors) = match ctx.decide(&fixture) {
            Ok(decided) => decided.into_iter().fold(
                (Vec::new(), Vec::new()),
                |(mut actions, mut errors), (_, a, e)| {
                    actions.extend(a);
                    errors.extend(e);
                    (actions, errors)
                },
            ),
            Err(e) => {
                outln!("FAIL {}\n  {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let actual: Vec<Value> = actions
            .iter()
            .map(|a| json!({"action": a.action.as_str(), "provider": a.provider, "params": a.params}))
            .collect();
        let expected: Vec<Value> = expect
            .iter()
            .map(|e| json!({"action": e.action, "provider": e.provider, "params": e.params}))
            .collect();
        let mut erred: Vec<&str> = errors.iter().map(|e| e.rule.as_str()).collect();
        erred.sort_unstable();
        erred.dedup();
        let mut allowed: Vec<&str> = fixture.rule_errors.iter().map(String::as_str).collect();
        allowed.sort_unstable();
        allowed.dedup();
        if actual == expected && erred == allowed {
            passed += 1;
        } else {
            failed += 1;
            outln!("FAIL {}", file.display());
            if actual != expected {
                let expected_text = pretty(&expected);
                let actual_text = pretty(&actual);
                let diff = TextDiff::from_lines(&expected_text, &actual_text);
                out!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header("expected", "actual")
                );
            }
            for error in &errors {
                if !allowed.contains(&error.rule.as_str()) {
                    outln!("  rule error: {}", error.message);
                }
            }
            for rule in allowed.iter().filter(|r| !erred.contains(r)) {
                outln!("  expected an error from {rule} (\"rule_errors\"), but it ran without one");
            }
        }
    }
    if with_expect == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("no fixtures with expect under {}", shown.join(" "));
        outln!("{passed} passed, {failed} failed");
        return Exit::Problem;
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 {
        Exit::Problem
    } else {
        Exit::Success
    }
}

fn pretty(actions: &[Value]) -> String {
    let mut text = serde_json::to_string_pretty(actions).unwrap_or_default();
    text.push('\n');
    text
}
