//! Rule errors in plain words (docs/rule-api.md): Rhai's compile and runtime errors rewritten
//! for operations staff who do not read Rhai's internals (`Function not found: starts_with
//! ((), &str ...)` becomes "starts_with() was called on a value that is empty (()): check
//! that event.user.name is set before using it"). The place (`path:line:col`) is added by
//! the caller; here only the message is worded, with the rule's text at hand to name the
//! expression at fault. `docs/rules.md` lists every message ("Error messages and what they
//! mean"); the table test at the bottom pins them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use rhai::{EvalAltResult, LexError, ParseErrorType, Position};

/// Every function the rules' engine knows, by name, with the argument counts it accepts
/// (the same for every engine `build_engine` makes, so computed once).
fn known() -> &'static BTreeMap<String, BTreeSet<usize>> {
    static KNOWN: OnceLock<BTreeMap<String, BTreeSet<usize>>> = OnceLock::new();
    KNOWN.get_or_init(|| super::check::known_functions(&super::build_engine()))
}

/// The nearest known function name to `name`, if one is close.
fn nearest_function(name: &str) -> Option<&'static str> {
    known()
        .keys()
        .filter(|k| k.chars().next().is_some_and(char::is_alphabetic))
        .map(|k| (strsim::levenshtein(k, name), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k.as_str())
}

/// A Rhai type name, as a person would say it.
fn type_word(rhai_type: &str) -> String {
    match rhai_type.trim() {
        "()" => "a value that is empty (())".into(),
        "i64" | "i32" | "INT" => "a whole number".into(),
        "f64" | "f32" | "FLOAT" | "decimal" => "a decimal number".into(),
        "bool" => "true or false".into(),
        "char" => "a single character".into(),
        t if t.contains("str") || t.contains("String") => "text".into(),
        "array" | "Array" | "rhai::Array" => "a list".into(),
        "map" | "Map" | "rhai::Map" => "a map".into(),
        "Provider" => "a provider(...) handle".into(),
        other => format!("a value of type {other}"),
    }
}

/// The message of a compile (syntax) error; `source` is the rule's text.
pub fn parse_message(error: &ParseErrorType, position: Position, source: &str) -> String {
    match error {
        ParseErrorType::BadInput(LexError::MalformedChar(text)) => format!(
            "text must be in double quotes: write \"{text}\", not '{text}' (single quotes hold one character only)"
        ),
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            "this text has no closing double quote: every text starts and ends with \"".into()
        }
        ParseErrorType::BadInput(LexError::ImproperSymbol(symbol, _)) if symbol == "=" => {
            "= sets a variable; to compare two values write ==".into()
        }
        ParseErrorType::BadInput(LexError::UnexpectedInput(text)) => {
            format!("{text} is not allowed here (a typo?)")
        }
        ParseErrorType::MissingToken(token, _) if token == "}" => match unclosed_brace(source, position) {
            Some((line, column)) => format!(
                "a }} is probably missing: the block opened with {{ at line {line}, column {column} is never closed"
            ),
            None => "a } is probably missing: a block opened with { is never closed".into(),
        },
        ParseErrorType::MissingToken(token, _) if token == ";" => {
            let block = unclosed_brace(source, position)
                .map(|(line, column)| {
                    format!(", or a }} is missing to close the block opened at line {line}, column {column}")
                })
                .unwrap_or_default();
            format!("the statement before this point is not finished: end it with ;{block}")
        }
        ParseErrorType::MissingToken(token, what) if token == "," && what.contains("arguments") => {
            let call = what.rsplit('\'').nth(1).unwrap_or("the function");
            format!("a ) is probably missing to close the call to {call}(...), or a , between its arguments")
        }
        ParseErrorType::MissingToken(token, what) => {
            format!("a {token} is missing here ({what})")
        }
        ParseErrorType::UnexpectedEOF => {
            "the rule ends in the middle of something: a }, ) or ] is probably missing".into()
        }
        ParseErrorType::VariableUndefined(name) => undefined_name(name),
        ParseErrorType::Reserved(word) if matches!(word.as_str(), "null" | "nil" | "undefined" | "None") => {
            format!("{word} does not exist in rules: an empty value is written () (e.g. `if x == () {{ ... }}`)")
        }
        ParseErrorType::Reserved(word) => {
            format!("{word} is a reserved word and cannot be used as a name; choose another name")
        }
        ParseErrorType::VariableExpected => {
            "a name is expected here, after let (words like fn, let, if and for cannot be names)".into()
        }
        ParseErrorType::MismatchedType(expected, got) => {
            format!("{expected} is expected here, not {got}")
        }
        ParseErrorType::AssignmentToConstant(name) => constant_message(name),
        ParseErrorType::WrongFnDefinition => match unclosed_brace(source, position) {
            Some((line, column)) => format!(
                "a }} is probably missing: the block opened with {{ at line {line}, column {column} is never closed (functions, fn, cannot be inside a block)"
            ),
            None => "functions (fn) must be defined outside every block and function".into(),
        },
        ParseErrorType::UnknownOperator(op) => format!("{op} is not an operator rules know"),
        ParseErrorType::FnMissingBody(name) => {
            format!("function {name} has no body: add {{ ... }} after its parameters")
        }
        ParseErrorType::ExprTooDeep => format!(
            "an expression is nested more than {} levels deep; split it with let",
            super::LIMITS.expression_depth
        ),
        other => other.to_string(),
    }
}

fn constant_message(name: &str) -> String {
    if name == "event" {
        "event cannot be changed by a rule: copy what you need into a variable with let".into()
    } else {
        format!("{name} is a constant and cannot be changed; use a variable made with let")
    }
}

fn undefined_name(name: &str) -> String {
    match name {
        "elseif" | "elsif" | "elif" => format!("write else if, not {name}"),
        "null" | "nil" | "undefined" | "None" => {
            format!("{name} does not exist in rules: an empty value is written ()")
        }
        "True" | "TRUE" => "write true in lower case".into(),
        "False" | "FALSE" => "write false in lower case".into(),
        "event" => "event cannot be read inside a function you define with fn: give the function the fields it needs, e.g. f(event.text)".into(),
        "Event" | "evt" | "events" => {
            format!("unknown name {name}: the event is called event")
        }
        _ => format!(
            "unknown name {name}: it was never set with let (names are case-sensitive; text goes in double quotes: \"{name}\")"
        ),
    }
}

/// Where the innermost `{` still open at `position` was opened (line, column), from the
/// rule's text; strings and comments are skipped.
fn unclosed_brace(source: &str, position: Position) -> Option<(usize, usize)> {
    let (stop_line, stop_col) = (
        position.line().unwrap_or(usize::MAX),
        position.position().unwrap_or(usize::MAX),
    );
    let mut open: Vec<(usize, usize)> = Vec::new();
    let (mut line, mut col) = (1usize, 0usize);
    let mut chars = source.chars().peekable();
    let mut in_string: Option<char> = None;
    let mut line_comment = false;
    let mut block_comment = false;
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            col = 0;
            line_comment = false;
            continue;
        }
        col += 1;
        if (line, col) >= (stop_line, stop_col) {
            break;
        }
        if line_comment {
            continue;
        }
        if block_comment {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                col += 1;
                block_comment = false;
            }
            continue;
        }
        if let Some(quote) = in_string {
            if c == '\\' {
                chars.next();
                col += 1;
            } else if c == quote {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_string = Some(c),
            '/' if chars.peek() == Some(&'/') => line_comment = true,
            '/' if chars.peek() == Some(&'*') => block_comment = true,
            '{' => open.push((line, col)),
            '}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.last().copied()
}

/// The message of a runtime error; `source` is the rule's text (to name the expression at
/// fault). Limits and `throw`n errors are worded by the caller.
pub fn runtime_message(error: &EvalAltResult, source: &str) -> String {
    let position = error.position();
    match error {
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            function_not_found(signature, source, position)
        }
        EvalAltResult::ErrorArithmetic(text, _) => arithmetic(text),
        EvalAltResult::ErrorAssignmentToConstant(name, _) => constant_message(name),
        EvalAltResult::ErrorVariableNotFound(name, _) => undefined_name(name),
        EvalAltResult::ErrorArrayBounds(0, index, _) => {
            format!("the list is empty, so it has nothing at position {index}; check its len() first")
        }
        EvalAltResult::ErrorArrayBounds(len, index, _) => format!(
            "position {index} is past the end of the list, which has {len} item(s) (the first is at 0); check its len() first"
        ),
        EvalAltResult::ErrorStringBounds(len, index, _) => format!(
            "position {index} is past the end of the text, which has {len} character(s) (the first is at 0)"
        ),
        EvalAltResult::ErrorDotExpr(text, _) => dot_message(text, source, position),
        EvalAltResult::ErrorMismatchDataType(expected, got, _) => {
            let expected = if expected == "bool" {
                "true or false (a condition)".to_string()
            } else {
                type_word(expected)
            };
            format!("{} is expected here, but the value is {}", expected, type_word(got))
        }
        EvalAltResult::ErrorIndexingType(what, _) => {
            // `() [string]`: the indexed value's type, then the index's.
            let indexed = what.split(" [").next().unwrap_or(what);
            format!(
                "[...] cannot be used on {}: check that it is set first, or use ?[...]",
                type_word(indexed)
            )
        }
        EvalAltResult::ErrorFor(_) => {
            "for ... in needs a list, a range (0..10) or a text to go through".into()
        }
        EvalAltResult::ErrorPropertyNotFound(name, _) => {
            format!("there is no property {name} here")
        }
        // `event.text.trim()`: trim, make_lower and the like change the value they are
        // called on, and the event cannot be changed.
        EvalAltResult::ErrorNonPureMethodCallOnConstant(name, _) => format!(
            "{name}() changes the value it is called on, and this one cannot be changed (the event is read-only): copy it first, e.g. let text = event.text; text.{name}();"
        ),
        other => {
            // Rhai appends the position; ours goes in front, in path:line:col form.
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(cut) if text.ends_with(')') => text[..cut].to_string(),
                _ => text,
            }
        }
    }
}

fn arithmetic(text: &str) -> String {
    let (kind, expr) = text.split_once(": ").unwrap_or((text, ""));
    if kind.starts_with("Division by zero") || kind.starts_with("Modulo division by zero") {
        format!("division by zero ({expr}): check that the number you divide by is not 0 first")
    } else if kind.ends_with("overflow") || kind.ends_with("underflow") {
        format!(
            "the result of {expr} is too large for a whole number (the largest is {}); use smaller numbers or decimals (e.g. 1.0)",
            i64::MAX
        )
    } else if let Some(rest) = kind.strip_prefix("Error parsing integer number ") {
        format!(
            "{} is not a whole number, so parse_int cannot read it",
            rest.replace('\'', "\"")
        )
    } else if let Some(rest) = kind.strip_prefix("Error parsing floating-point number ") {
        format!(
            "{} is not a number, so parse_float cannot read it",
            rest.replace('\'', "\"")
        )
    } else {
        format!("a calculation failed: {text}")
    }
}

/// `Unknown property 'deep' - a getter is not registered for type '()'` and friends.
fn dot_message(text: &str, source: &str, position: Position) -> String {
    let quoted: Vec<&str> = text.split('\'').skip(1).step_by(2).collect();
    let (property, on_type) = (quoted.first().copied(), quoted.get(1).copied());
    let receiver = receiver_before(source, position);
    match (property, on_type) {
        (Some(property), Some("()")) if text.starts_with("Unknown property") => {
            let check = receiver
                .map(|r| format!(": check that {r} is set before using it"))
                .unwrap_or_default();
            format!(".{property} was read from a value that is empty (()){check}")
        }
        (Some(property), Some(t)) if text.starts_with("Unknown property") => {
            format!("{} has no property .{property}", type_word(t))
        }
        (Some(property), Some(t)) => {
            format!(".{property} cannot be set on {}", type_word(t))
        }
        _ => text.to_string(),
    }
}

/// `Function not found: name (type, type)`: empty values, wrong types, wrong counts and
/// unknown names, each said plainly.
fn function_not_found(signature: &str, source: &str, position: Position) -> String {
    let (name, types) = match signature.split_once(" (") {
        Some((name, rest)) => (name.trim(), rest.strip_suffix(')').unwrap_or(rest)),
        None => (signature.trim(), ""),
    };
    let types: Vec<&str> = if types.trim().is_empty() {
        Vec::new()
    } else {
        types.split(", ").collect()
    };
    let is_operator = !name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    if is_operator {
        return operator_message(name, &types);
    }
    let method = is_method_call(source, position);
    let args = if method {
        None
    } else {
        call_arguments(source, position)
    };
    if let Some(empty) = types.iter().position(|t| t.trim() == "()") {
        if method && empty == 0 {
            let check = receiver_before(source, position)
                .map(|r| format!("{r} is set"))
                .unwrap_or_else(|| "the value is set".into());
            return format!(
                "{name}() was called on a value that is empty (()): check that {check} before using it"
            );
        }
        let shown = if method { empty } else { empty + 1 };
        let what = args
            .as_ref()
            .and_then(|a| a.get(empty).cloned())
            .map(|text| format!("check that {text} is set before using it"))
            .unwrap_or_else(|| "check that the value is set before using it".into());
        return format!(
            "{name}() was given a value that is empty (()) as argument {shown}: {what}"
        );
    }
    let count = if method {
        types.len().saturating_sub(1)
    } else {
        types.len()
    };
    match known().get(name) {
        None => match nearest_function(name) {
            Some(near) => format!("unknown function {name}(); did you mean {near}()?"),
            None => format!(
                "unknown function {name}(): it is neither a rule function (see docs/rules.md) nor defined in this file"
            ),
        },
        Some(arities) if !arities.contains(&types.len()) => {
            let accepted: Vec<String> = arities
                .iter()
                .map(|n| (if method { n.saturating_sub(1) } else { *n }).to_string())
                .collect();
            format!(
                "{name}() takes {} argument(s), not {count}",
                accepted.join(" or ")
            )
        }
        Some(_) => {
            let given: Vec<String> = types
                .iter()
                .skip(usize::from(method))
                .map(|t| type_word(t))
                .collect();
            if method {
                format!(
                    "{name}() cannot be used on {} with {}",
                    type_word(types[0]),
                    if given.is_empty() { "no arguments".into() } else { given.join(", ") }
                )
            } else {
                format!(
                    "{name}() cannot take {}: check the type of each argument (text goes in double quotes; a number can be turned into text with to_string())",
                    given.join(", ")
                )
            }
        }
    }
}

fn operator_message(op: &str, types: &[&str]) -> String {
    let words: Vec<String> = types.iter().map(|t| type_word(t)).collect();
    if types.iter().any(|t| t.trim() == "()") {
        return format!(
            "{op} was used with a value that is empty (()): check that the value is set first (for example memory_get(\"n\") ?? 0 gives 0 when nothing was stored)"
        );
    }
    match words.as_slice() {
        [a, b] if (a == "text") != (b == "text") && (a.contains("number") || b.contains("number")) => format!(
            "{op} cannot combine text and a number: turn the text into a number with parse_int(...), or the number into text with to_string()"
        ),
        [a, b] => format!("{op} cannot be used on {a} and {b}"),
        [a] => format!("{op} cannot be used on {a}"),
        _ => format!("{op} cannot be used on these values"),
    }
}

/// The text of one source line, 1-based.
fn line_of(source: &str, position: Position) -> Option<&str> {
    source.lines().nth(position.line()?.checked_sub(1)?)
}

/// Whether the call at `position` is a method call (`x.name(...)`).
fn is_method_call(source: &str, position: Position) -> bool {
    let (Some(line), Some(col)) = (line_of(source, position), position.position()) else {
        return false;
    };
    let before: String = line.chars().take(col.saturating_sub(1)).collect();
    before.trim_end().ends_with('.')
}

/// The expression before `.name` at `position` (`event.user.name` in
/// `event.user.name.starts_with("x")`).
fn receiver_before(source: &str, position: Position) -> Option<String> {
    let (line, col) = (line_of(source, position)?, position.position()?);
    let before: Vec<char> = line.chars().take(col.saturating_sub(1)).collect();
    let mut end = before.len();
    while end > 0 && before[end - 1].is_whitespace() {
        end -= 1;
    }
    if end == 0 || before[end - 1] != '.' {
        return None;
    }
    end -= 1;
    if end > 0 && before[end - 1] == '?' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 {
        let c = before[start - 1];
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '?' | '[' | ']' | '"') {
            start -= 1;
        } else {
            break;
        }
    }
    let text: String = before[start..end].iter().collect();
    (!text.is_empty()).then_some(text)
}

/// The arguments' texts of the call `name(...)` that starts at `position`.
fn call_arguments(source: &str, position: Position) -> Option<Vec<String>> {
    let (line, col) = (line_of(source, position)?, position.position()?);
    let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
    let open = rest.find('(')?;
    let mut depth = 0;
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    for c in rest[open + 1..].chars() {
        match c {
            '"' => {
                in_string = !in_string;
                current.push(c);
            }
            _ if in_string => current.push(c),
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' if depth == 0 => {
                if !current.trim().is_empty() {
                    args.push(current.trim().to_string());
                }
                return Some(args);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    None
}

#[cfg(test)]
#[path = "wording_tests.rs"]
mod tests;
