//! Rules (docs/rule-api.md): operations staff's Rhai scripts. `engine` builds the one sandboxed
//! `Engine`; `api` is the functions scripts call; `ruleset` compiles a folder of rules and
//! runs them on an event, each rule isolated from the others' failures; `wording` says
//! their errors in plain words.

mod api;
mod book;
pub mod check;
mod convert;
mod engine;
pub mod hours;
pub mod routing;
mod ruleset;
pub mod watch;
pub mod wording;

#[cfg(test)]
mod api_doc_tests;

pub use book::{FileState, ReloadState, RuleBook};
pub use engine::{build_engine, Limits, LIMITS};
pub use ruleset::{
    compile, compile_dir, compile_sources, list_rule_files, Problem, RuleEnv, RuleSet, Verdict,
};
