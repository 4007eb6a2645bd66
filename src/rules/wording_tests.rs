//! The common mistakes of rule writers and the exact message each gets, through the same
//! path as `check`, `test` and `serve` (compile, then run on an event).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::event::Event;
use crate::rules::{build_engine, compile_sources, RuleEnv};

fn event() -> Event {
    Event::text_message(1, "u1", "hi")
}

/// The one problem `text` gives as `r.rhai`: at compile time, else when run on `event()`.
fn problem_of(text: &str) -> String {
    let engine = build_engine();
    let sources = BTreeMap::from([("r.rhai".to_string(), text.to_string())]);
    match compile_sources(&engine, &sources) {
        Err(problems) => problems[0].to_string(),
        Ok(set) => {
            let env = Arc::new(RuleEnv {
                providers: BTreeMap::new(),
                sources: BTreeMap::new(),
                routing: BTreeMap::new(),
            });
            let verdict = set.run(&engine, &env, &Arc::new(event()), serde_json::Map::new());
            verdict.runs[0]
                .error
                .clone()
                .unwrap_or_else(|| "(no error)".into())
        }
    }
}

/// (what the writer meant, the rule, the exact message).
const MISTAKES: &[(&str, &str, &str)] = &[
    (
        "single quotes around text",
        "send_text('hello');",
        "r.rhai:1:11: text must be in double quotes: write \"hello\", not 'hello' (single quotes hold one character only)",
    ),
    (
        "a missing } at the end",
        "if event.text == \"x\" {\n  send_text(\"a\");\n",
        "r.rhai:3:1: a } is probably missing: the block opened with { at line 1, column 22 is never closed",
    ),
    (
        "a missing } before more code",
        "if event.text == \"x\" {\n  send_text(\"a\");\nlet y = 1;\nfn f() { 1 }\n",
        "r.rhai:4:1: a } is probably missing: the block opened with { at line 1, column 22 is never closed (functions, fn, cannot be inside a block)",
    ),
    (
        "a missing ) in a call",
        "send_text(\"a\";",
        "r.rhai:1:14: a ) is probably missing to close the call to send_text(...), or a , between its arguments",
    ),
    (
        "a missing ; between statements",
        "let a = 1\nlet b = 2;",
        "r.rhai:2:1: the statement before this point is not finished: end it with ;",
    ),
    (
        "a misspelt function",
        "sendtext(\"x\");",
        "r.rhai:1:1: unknown function sendtext(); did you mean send_text()?",
    ),
    (
        "a function that does not exist",
        "notify_team(\"x\");",
        "r.rhai:1:1: unknown function notify_team(): it is neither a rule function (see docs/rules.md) nor defined in this file",
    ),
    (
        "too few arguments",
        "send_text();",
        "r.rhai:1:1: send_text() takes 1 argument(s), not 0",
    ),
    (
        "too many arguments",
        "add_tag(\"a\", \"b\");",
        "r.rhai:1:1: add_tag() takes 1 argument(s), not 2",
    ),
    (
        "a method on an unset field",
        "if event.user.name.starts_with(\"x\") { }",
        "r.rhai:1:20: starts_with() was called on a value that is empty (()): check that event.user.name is set before using it",
    ),
    (
        "an unset field as an argument",
        "add_tag(event.user.name);",
        "r.rhai:1:1: add_tag() was given a value that is empty (()) as argument 1: check that event.user.name is set before using it",
    ),
    (
        "a number where text is wanted",
        "let n = 42;\nsend_text(n);",
        "r.rhai:2:1: send_text() cannot take a whole number: check the type of each argument (text goes in double quotes; a number can be turned into text with to_string())",
    ),
    (
        "an undefined variable",
        "send_text(name);",
        "r.rhai:1:11: unknown name name: it was never set with let (names are case-sensitive; text goes in double quotes: \"name\")",
    ),
    (
        "elseif",
        "if true { } elseif { }",
        "r.rhai:1:13: write else if, not elseif",
    ),
    (
        "null",
        "let x = null;",
        "r.rhai:1:9: null does not exist in rules: an empty value is written () (e.g. `if x == () { ... }`)",
    ),
    (
        "= instead of ==",
        "if event.text = \"x\" { }",
        "r.rhai:1:15: = sets a variable; to compare two values write ==",
    ),
    (
        "an unterminated text",
        "send_text(\"abc);",
        "r.rhai:1:11: this text has no closing double quote: every text starts and ends with \"",
    ),
    (
        "integer overflow",
        "let x = 9223372036854775807;\nlet y = x + 1;",
        "r.rhai:2:11: the result of 9223372036854775807 + 1 is too large for a whole number (the largest is 9223372036854775807); use smaller numbers or decimals (e.g. 1.0)",
    ),
    (
        "division by zero",
        "let d = 0;\nlet x = 10 / d;",
        "r.rhai:2:12: division by zero (10 / 0): check that the number you divide by is not 0 first",
    ),
    (
        "comparing text with a number",
        "if event.text > 5 { }",
        "r.rhai:1:15: text (\"hi\") was compared with a number (5) using >: text and numbers never match; turn the text into a number with parse_int(...), or the number into text with to_string()",
    ),
    (
        "text equal to a number",
        "if event.text == 5 { }",
        "r.rhai:1:15: text (\"hi\") was compared with a number (5) using ==: text and numbers never match; turn the text into a number with parse_int(...), or the number into text with to_string()",
    ),
    (
        "arithmetic on empty memory",
        "let n = memory_get(\"n\") + 1;",
        "r.rhai:1:25: + was used with a value that is empty (()): check that the value is set first (for example memory_get(\"n\") ?? 0 gives 0 when nothing was stored)",
    ),
    (
        "text minus a number",
        "let s = event.text - 1;",
        "r.rhai:1:20: - cannot combine text and a number: turn the text into a number with parse_int(...), or the number into text with to_string()",
    ),
    (
        "changing event",
        "event = 1;",
        "r.rhai:1:1: event cannot be changed by a rule: copy what you need into a variable with let",
    ),
    (
        "a list index past the end",
        "let a = [1, 2];\nlet b = a[5];",
        "r.rhai:2:11: position 5 is past the end of the list, which has 2 item(s) (the first is at 0); check its len() first",
    ),
    (
        "a property of an unset field",
        "let n = event.user.name.first;",
        "r.rhai:1:25: .first was read from a value that is empty (()): check that event.user.name is set before using it",
    ),
    (
        "event inside a function",
        "fn check() { event.text }\nlet t = check();",
        "r.rhai:1:14: event cannot be read inside a function you define with fn: give the function the fields it needs, e.g. f(event.text)",
    ),
    (
        "an index into an unset field",
        "let v = event.user.name[\"first\"];",
        "r.rhai:1:24: [...] cannot be used on a value that is empty (()): check that it is set first, or use ?[...]",
    ),
    (
        "a bad parse_int",
        "let n = parse_int(event.text);",
        "r.rhai:1:9: \"hi\" is not a whole number, so parse_int cannot read it",
    ),
    (
        "a bad schedule",
        "within_hours(\"mon-fri 9-17\", \"America/Bogota\");",
        "r.rhai:1:1: within_hours: \"9\" is not a time; write HH:MM, from 00:00 to 24:00",
    ),
    (
        "trim() called on the event's text",
        "let t = event.text.trim();",
        "r.rhai:1:20: trim() changes the value it is called on, and this one cannot be changed (the event is read-only): copy it first, e.g. let text = event.text; text.trim();",
    ),
];

#[test]
fn common_mistakes_get_plain_messages() {
    let mut wrong = Vec::new();
    for (what, rule, expected) in MISTAKES {
        let got = problem_of(rule);
        if got != *expected {
            wrong.push(format!(
                "{what}:\n  rule:     {rule:?}\n  expected: {expected}\n  got:      {got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
