//! A rule set: the compiled `rules/*.rhai` files, in byte-wise file-name order, and running
//! them on one event. A rule that throws, hits a limit or records an impossible action
//! contributes no actions and an error; the rules after it still run. `stop()` keeps the
//! current rule's actions and skips the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, ParseError, Scope, AST};

use super::api::{self, Memory, RunContext, STOP_MARKER};
use super::engine::LIMITS;
use crate::config::{ProviderSettings, Settings, SourceSettings};
use crate::domain::actions::{ActionFamily, DecidedAction};
use crate::domain::decision::{MemoryWrite, RuleRun};
use crate::domain::event::Event;

/// What the rules need of the configuration to choose providers.
#[derive(Debug, Clone)]
pub struct RuleEnv {
    pub providers: BTreeMap<String, ProviderSettings>,
    pub sources: BTreeMap<String, SourceSettings>,
    pub routing: BTreeMap<ActionFamily, String>,
}

impl RuleEnv {
    pub fn from_settings(settings: &Settings) -> RuleEnv {
        RuleEnv {
            providers: settings.providers.clone(),
            sources: settings.sources.clone(),
            routing: settings.routing.clone(),
        }
    }
}

/// A problem in a rule file, printed as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

struct CompiledRule {
    /// The file name, as rule output names it (`10-handoff.rhai`).
    name: String,
    /// The path as messages show it.
    path: String,
    ast: AST,
    /// The text it was compiled from (to tell whether the file on disk still says so).
    source: String,
}

/// The compiled rules of one folder, ready to run.
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    pub loaded_at: i64,
    /// Whether any rule calls `memory_get` or `memory_set`: if none does, the user's memory
    /// need not be read for each event.
    uses_memory: bool,
}

/// Whether a script calls one of the memory functions.
fn calls_memory(ast: &AST) -> bool {
    let mut found = false;
    ast.walk(&mut |nodes: &[rhai::ASTNode]| {
        let name = match nodes.last() {
            Some(rhai::ASTNode::Expr(rhai::Expr::FnCall(call, _)))
            | Some(rhai::ASTNode::Stmt(rhai::Stmt::FnCall(call, _))) => Some(call.name.as_str()),
            Some(rhai::ASTNode::Expr(rhai::Expr::MethodCall(call, _))) => Some(call.name.as_str()),
            _ => None,
        };
        found |= matches!(name, Some("memory_get" | "memory_set"));
        !found
    });
    found
}

/// The result of running every rule on one event.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub runs: Vec<RuleRun>,
    /// The memory writes of the rules that completed, in order.
    pub memory: Vec<MemoryWrite>,
    /// The user's memory as the rules were given it, when some rule can read it and the
    /// event names a user (stored with the decision: `fixture` and `backtest` use it).
    pub memory_seen: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Verdict {
    /// The kept actions of every rule, in order.
    pub fn actions(&self) -> impl Iterator<Item = &DecidedAction> {
        self.runs.iter().flat_map(|r| r.actions.iter())
    }
}

/// Compile every `*.rhai` file directly in `dir`, in byte-wise file-name order.
///
/// # Errors
/// Every file's problems (not only the first file's), or the folder's if it cannot be read.
pub fn compile_dir(engine: &Engine, dir: &Path) -> Result<RuleSet, Vec<Problem>> {
    let files = list_rule_files(dir).map_err(|e| {
        vec![Problem {
            path: dir.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the rules folder: {e}"),
        }]
    })?;
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match compile_file_with_source(engine, &file) {
            Ok((ast, source)) => rules.push(CompiledRule {
                name,
                path: file.display().to_string(),
                ast,
                source,
            }),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        let uses_memory = rules.iter().any(|r| calls_memory(&r.ast));
        Ok(RuleSet {
            rules,
            loaded_at: crate::domain::event::now_millis(),
            uses_memory,
        })
    } else {
        Err(problems)
    }
}

/// Compile rules given as text (drafts: `POST /admin/try`), by name, run in byte-wise
/// name order as a folder's would be. Messages name each draft as `<name>:line:col`.
///
/// # Errors
/// Every draft's compile problems.
pub fn compile_sources(
    engine: &Engine,
    sources: &BTreeMap<String, String>,
) -> Result<RuleSet, Vec<Problem>> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in sources {
        match compile(engine, text) {
            Ok(ast) => rules.push(CompiledRule {
                name: name.clone(),
                path: name.clone(),
                ast,
                source: text.clone(),
            }),
            Err(e) => problems.push(parse_problem(name, &e, text)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let uses_memory = rules.iter().any(|r| calls_memory(&r.ast));
    Ok(RuleSet {
        rules,
        loaded_at: crate::domain::event::now_millis(),
        uses_memory,
    })
}

/// The `*.rhai` files directly in `dir`, in byte-wise file-name order.
///
/// # Errors
/// When the folder cannot be read.
pub fn list_rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    files.sort_by(|a, b| {
        a.file_name()
            .map(|n| n.as_encoded_bytes())
            .cmp(&b.file_name().map(|n| n.as_encoded_bytes()))
    });
    Ok(files)
}

/// Compile one script with `event` declared, so that strict variables can check names.
pub fn compile(engine: &Engine, source: &str) -> Result<AST, ParseError> {
    // Declared as a variable, not a constant: the optimizer would fold a constant's
    // placeholder value into the script (a bare `event` would read as `()`).
    let mut scope = Scope::new();
    scope.push("event", Dynamic::UNIT);
    engine.compile_with_scope(&scope, source)
}

/// Read and compile one rule file.
///
/// # Errors
/// The file cannot be read, or does not compile: the problem, with its place.
pub fn compile_file(engine: &Engine, file: &Path) -> Result<AST, Problem> {
    compile_file_with_source(engine, file).map(|(ast, _)| ast)
}

/// [`compile_file`], keeping the text it compiled.
fn compile_file_with_source(engine: &Engine, file: &Path) -> Result<(AST, String), Problem> {
    let path = file.display().to_string();
    let source = std::fs::read_to_string(file).map_err(|e| Problem {
        path: path.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the file: {e}"),
    })?;
    let ast = compile(engine, &source).map_err(|e| parse_problem(&path, &e, &source))?;
    Ok((ast, source))
}

fn parse_problem(path: &str, e: &ParseError, source: &str) -> Problem {
    Problem {
        path: path.to_string(),
        line: e.1.line().unwrap_or(0),
        column: e.1.position().unwrap_or(0),
        message: super::wording::parse_message(&e.0, e.1, source),
    }
}

impl RuleSet {
    pub fn uses_memory(&self) -> bool {
        self.uses_memory
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule files' names, in the order they run.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// The text a rule of this set was compiled from.
    pub fn source_of(&self, name: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.source.as_str())
    }

    /// Run every rule on `event`, with `memory` as the user's remembered values.
    /// Blocking: call it off the async workers.
    pub fn run(
        &self,
        engine: &Engine,
        env: &Arc<RuleEnv>,
        event: &Arc<Event>,
        memory: serde_json::Map<String, serde_json::Value>,
    ) -> Verdict {
        let event_value = super::convert::event_to_dynamic(event);
        let memory_seen = (self.uses_memory && event.user.id.is_some()).then(|| memory.clone());
        let mut runs = Vec::with_capacity(self.rules.len());
        let mut seq = 0;
        let mut memory = Memory {
            owner: event.user.id.clone().map(|id| (event.source.clone(), id)),
            values: memory,
            ..Memory::default()
        };
        for rule in &self.rules {
            let mut scope = Scope::new();
            scope.push_constant("event", event_value.clone());
            let context = RunContext {
                env: env.clone(),
                event: event.clone(),
                rule: rule.name.clone(),
                actions: Vec::new(),
                memory: std::mem::take(&mut memory),
                stopped: false,
                deadline: Instant::now() + Duration::from_millis(LIMITS.wall_clock_ms),
                timed_out: false,
            };
            let (result, context) =
                api::with_context(context, || engine.run_ast_with_scope(&mut scope, &rule.ast));
            memory = context.memory;
            let outcome = match result {
                Ok(()) => Ok(()),
                Err(_) if context.stopped => Ok(()),
                Err(e) => Err(runtime_problem(
                    &rule.path,
                    &e,
                    context.timed_out,
                    &rule.source,
                )),
            };
            let (actions, error) = match outcome {
                Ok(()) => {
                    memory.keep();
                    let mut actions = context.actions;
                    for action in &mut actions {
                        action.seq = seq;
                        seq += 1;
                    }
                    (actions, None)
                }
                Err(problem) => {
                    memory.pending.clear();
                    tracing::warn!(event_id = %event.event_id, rule = %rule.name, "rule failed: {problem}");
                    (Vec::new(), Some(problem.to_string()))
                }
            };
            runs.push(RuleRun {
                rule: rule.name.clone(),
                actions,
                error,
            });
            if context.stopped {
                break;
            }
        }
        Verdict {
            runs,
            memory: memory.kept,
            memory_seen,
        }
    }
}

/// A runtime error as `path:line:col: message`, at the innermost position in the script.
fn runtime_problem(path: &str, error: &EvalAltResult, timed_out: bool, source: &str) -> Problem {
    let inner = error.unwrap_inner();
    let position = if inner.position().is_none() {
        error.position()
    } else {
        inner.position()
    };
    let message = match inner {
        EvalAltResult::ErrorTerminated(..) if timed_out => format!(
            "the rule ran longer than its limit of {} ms and was stopped",
            LIMITS.wall_clock_ms
        ),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "the rule ran more than its limit of {} operations and was stopped (an endless loop?)",
            LIMITS.operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "the rule called functions more than {} levels deep and was stopped (endless recursion?)",
            LIMITS.call_depth
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let what = what.to_lowercase();
            if what.contains("string") {
                format!("a string grew past its limit of {} bytes and the rule was stopped", LIMITS.string_bytes)
            } else if what.contains("array") {
                format!("an array grew past its limit of {} items and the rule was stopped", LIMITS.array_items)
            } else if what.contains("map") {
                format!("a map grew past its limit of {} keys and the rule was stopped", LIMITS.map_keys)
            } else {
                format!("{what} is over its limit and the rule was stopped")
            }
        }
        EvalAltResult::ErrorRuntime(value, _) => {
            let text = value.to_string();
            if text == STOP_MARKER {
                "stop() was called".into()
            } else {
                text
            }
        }
        other => super::wording::runtime_message(other, source),
    };
    Problem {
        path: path.to_string(),
        line: position.line().unwrap_or(0),
        column: position.position().unwrap_or(0),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_set_knows_whether_any_rule_uses_memory() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::rules::build_engine();
        std::fs::write(dir.path().join("10-a.rhai"), "send_text(\"x\");").unwrap();
        assert!(!compile_dir(&engine, dir.path()).unwrap().uses_memory());
        std::fs::write(
            dir.path().join("20-b.rhai"),
            "if event.text != \"\" { let n = memory_get(\"n\") ?? 0; }",
        )
        .unwrap();
        assert!(compile_dir(&engine, dir.path()).unwrap().uses_memory());
        std::fs::write(
            dir.path().join("20-b.rhai"),
            "fn f() { memory_set(\"k\", 1); }\nf();",
        )
        .unwrap();
        assert!(compile_dir(&engine, dir.path()).unwrap().uses_memory());
    }
}
