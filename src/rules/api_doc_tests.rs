//! docs/rule-api.md keeps up with the rules' engine: every function Switchboard registers
//! for rules (plain functions and the methods of a `provider(...)` handle; not Rhai's
//! standard library, not operators) has one `### `name(...)`` heading there, and every
//! such heading names a registered function. A function added without its documentation,
//! or a heading left for a function that is gone, fails here.

use std::collections::{BTreeMap, BTreeSet};

/// The reference, as shipped.
const RULE_API: &str = include_str!("../../docs/rule-api.md");

/// The names of the functions Switchboard registers in the rules' engine.
fn registered_names() -> BTreeSet<String> {
    super::build_engine()
        .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), false)
        .into_iter()
        // Operator overloads (`==` on text and a number) are not functions a rule calls.
        .filter(|name| name.starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect()
}

/// The function named by each `### `name(` heading, in order (with repeats).
fn headed_names(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("### `"))
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && rest[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

/// What is wrong between `doc`'s function headings and the registered names.
fn heading_problems(doc: &str, registered: &BTreeSet<String>) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for name in headed_names(doc) {
        *counts.entry(name).or_default() += 1;
    }
    let mut problems = Vec::new();
    for name in registered {
        if !counts.contains_key(name) {
            problems.push(format!(
                "{name}() is a rule function, but docs/rule-api.md has no \"### `{name}(...)`\" heading"
            ));
        }
    }
    for (name, count) in &counts {
        if !registered.contains(name) {
            problems.push(format!(
                "docs/rule-api.md has a heading for {name}(), which rules cannot call"
            ));
        }
        if *count > 1 {
            problems.push(format!(
                "docs/rule-api.md has {count} headings for {name}(); overloads share one"
            ));
        }
    }
    problems
}

#[test]
fn the_engine_lists_switchboards_functions_and_not_rhais_own() {
    let names = registered_names();
    for ours in [
        "send_text",
        "provider",
        "request",
        "memory_set",
        "within_hours",
        "stop",
    ] {
        assert!(names.contains(ours), "{ours} missing from {names:?}");
    }
    for rhais in ["starts_with", "len", "parse_int", "=="] {
        assert!(
            !names.contains(rhais),
            "{rhais} is Rhai's, not ours: {names:?}"
        );
    }
}

#[test]
fn every_rule_function_has_one_heading_in_rule_api_md_and_every_heading_a_function() {
    let problems = heading_problems(RULE_API, &registered_names());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_duplicated_or_unknown_function_heading_is_reported() {
    let registered = registered_names();
    let without = RULE_API.replacen("### `send_flow(...)`", "### send_flow", 1);
    assert_ne!(
        without, RULE_API,
        "the doc has a send_flow heading to remove"
    );
    let problems = heading_problems(&without, &registered);
    assert!(
        problems.iter().any(|p| p.contains("send_flow()")),
        "{problems:?}"
    );
    let extra = format!("{RULE_API}\n### `notify_team(...)`\n\n### `stop()`\n");
    let problems = heading_problems(&extra, &registered);
    assert!(
        problems.iter().any(|p| p.contains("notify_team()")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("2 headings for stop()")),
        "{problems:?}"
    );
}
