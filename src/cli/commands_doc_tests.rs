//! docs/commands.md keeps up with the command line: walking clap's command tree, every
//! subcommand has its `## `switchboard NAME`` section, every long flag it takes (its own and
//! the global ones, `--config`) and every value of a positional argument with a fixed list
//! (`generate man|bash|...`) appears in that section, and every such section names a
//! subcommand that exists.

use std::collections::BTreeMap;

use clap::CommandFactory as _;

use super::Cli;

/// The reference, as shipped.
const COMMANDS: &str = include_str!("../../docs/commands.md");

/// What the doc must say about one subcommand: its long flags (`--send`) and the fixed
/// values of its positional arguments (`man`).
fn command_words() -> BTreeMap<String, Vec<String>> {
    let cli = Cli::command();
    let global: Vec<String> = cli
        .get_arguments()
        .filter(|arg| arg.is_global_set())
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect();
    cli.get_subcommands()
        .map(|command| {
            let mut words = global.clone();
            for arg in command.get_arguments() {
                if let Some(long) = arg.get_long() {
                    words.push(format!("--{long}"));
                } else if arg.is_positional() {
                    words.extend(
                        arg.get_possible_values()
                            .iter()
                            .map(|value| value.get_name().to_string()),
                    );
                }
            }
            words.retain(|w| w != "--help" && w != "--version");
            (command.get_name().to_string(), words)
        })
        .collect()
}

/// Each `## `switchboard NAME`` section's text (up to the next `## ` heading), by NAME, and
/// how many sections each NAME has.
fn sections(doc: &str) -> BTreeMap<String, (String, usize)> {
    let mut sections: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if line.starts_with("## ") {
            current = line
                .strip_prefix("## `switchboard ")
                .and_then(|rest| rest.strip_suffix('`'))
                .map(str::to_string);
            if let Some(name) = &current {
                sections.entry(name.clone()).or_default().1 += 1;
            }
            continue;
        }
        if let Some(name) = &current {
            let text = &mut sections.get_mut(name).expect("opened above").0;
            text.push_str(line);
            text.push('\n');
        }
    }
    sections
}

/// Whether `word` occurs in `text` on its own (`--rules` is not found in `--rules-dir`).
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let part_of_word =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
        !part_of_word(before) && !part_of_word(after)
    })
}

/// What is wrong between `doc` and the command line.
fn doc_problems(doc: &str, commands: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let sections = sections(doc);
    let mut problems = Vec::new();
    for (name, words) in commands {
        let Some((text, count)) = sections.get(name) else {
            problems.push(format!(
                "switchboard {name} has no \"## `switchboard {name}`\" section in docs/commands.md"
            ));
            continue;
        };
        if *count > 1 {
            problems.push(format!(
                "docs/commands.md has {count} sections for switchboard {name}"
            ));
        }
        for word in words {
            if !mentions(text, word) {
                problems.push(format!(
                    "switchboard {name} takes {word}, but its section in docs/commands.md does not mention it"
                ));
            }
        }
    }
    for name in sections.keys() {
        if !commands.contains_key(name) {
            problems.push(format!(
                "docs/commands.md documents switchboard {name}, which is not a command"
            ));
        }
    }
    problems
}

#[test]
fn the_command_tree_has_every_command_and_its_flags() {
    let commands = command_words();
    for name in [
        "serve", "check", "test", "replay", "post", "fixture", "backtest", "generate",
    ] {
        assert!(commands.contains_key(name), "{name} missing: {commands:?}");
    }
    assert!(commands["replay"].contains(&"--send".to_string()));
    assert!(
        commands["check"].contains(&"--config".to_string()),
        "global flags count"
    );
    assert!(
        commands["generate"].contains(&"man".to_string()),
        "fixed values count"
    );
}

#[test]
fn every_command_and_each_of_its_flags_is_in_commands_md_and_nothing_more() {
    let problems = doc_problems(COMMANDS, &command_words());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_flag_or_command_missing_from_commands_md_or_one_that_does_not_exist_is_reported() {
    let commands = command_words();
    let backtest = sections(COMMANDS)["backtest"].0.clone();
    let without_flag = COMMANDS.replacen(&backtest, &backtest.replace("--json", "--jsn"), 1);
    let problems = doc_problems(&without_flag, &commands);
    assert!(
        problems.iter().any(|p| p.contains("backtest takes --json")),
        "{problems:?}"
    );
    let extra = format!("{COMMANDS}\n## `switchboard deploy`\n\nNot a command.\n");
    let problems = doc_problems(&extra, &commands);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("switchboard deploy, which is not a command")),
        "{problems:?}"
    );
    let without_section = COMMANDS.replacen("## `switchboard post`", "## Posting", 1);
    let problems = doc_problems(&without_section, &commands);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("switchboard post has no")),
        "{problems:?}"
    );
}
