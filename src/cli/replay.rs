//! `switchboard replay`: run fixtures through the rules and print one JSON line per action
//! (docs/commands.md). A dry run makes no network call and writes nothing; `--send` carries
//! each action out with one attempt, in order, and adds the provider's `response`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::output::outln;
use super::{runtime, Exit};
use crate::config::Settings;
use crate::domain::actions::DecidedAction;
use crate::dryrun::action_line;
use crate::executor::attempt::{self, AttemptResult, Identities};
use crate::fixture::{self, Fixture, FixtureError};
use crate::rules::{build_engine, compile_dir, RuleEnv, RuleSet};

pub fn run(settings: Settings, paths: &[PathBuf], send: bool) -> Exit {
    let Some(ctx) = Context::new(&settings) else {
        return Exit::Problem;
    };
    let files = match fixture::collect(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Problem;
        }
    };
    let clients = if send {
        match crate::executor::clients(&settings) {
            Ok(clients) => Some(clients),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::Problem;
            }
        }
    } else {
        None
    };
    let identities = Mutex::new(HashMap::new());
    let rt = runtime();
    let mut exit = Exit::Success;
    for file in files {
        let decided = match ctx.decide_file(&file) {
            Ok(decided) => decided,
            Err(e) => {
                eprintln!("{e}");
                exit = Exit::Problem;
                continue;
            }
        };
        for (event, actions, errors) in decided {
            for error in errors {
                eprintln!("{}", error.message);
                exit = Exit::Problem;
            }
            for action in &actions {
                let mut line = action_line(&settings, &event, action);
                if let Some(clients) = &clients {
                    let report = rt.block_on(attempt::attempt(
                        &clients[&action.provider],
                        action,
                        &Identities::Memory(&identities),
                    ));
                    if let Some(request) = &report.request {
                        line["request"] = json!(request);
                    }
                    line["response"] = json!({
                        "status": report.attempt.as_ref().and_then(|a| a.status),
                        "body": report.attempt.as_ref().map(|a| a.response_excerpt.clone()),
                        "outcome": match report.result {
                            AttemptResult::Success => "success".to_string(),
                            AttemptResult::Retry => "retryable_failure".to_string(),
                            AttemptResult::Dead(reason) => reason.as_str().to_string(),
                        },
                    });
                    if report.result != AttemptResult::Success {
                        exit = Exit::Problem;
                    }
                }
                outln!("{line}");
            }
        }
    }
    exit
}

/// What the rules decided for one fixture: its event, the kept actions, the rule errors.
pub(super) type Decided = (
    crate::domain::event::Event,
    Vec<DecidedAction>,
    Vec<RuleError>,
);

/// A rule that failed on a fixture: its file name and the message (`path:line:col: ...`).
#[derive(Debug, Clone)]
pub(super) struct RuleError {
    pub rule: String,
    pub message: String,
}

/// Why a fixture's events could not be run through the rules.
#[derive(Debug, thiserror::Error)]
pub(super) enum DecideError {
    /// The fixture does not make an event (an unknown source, a body that does not decode).
    #[error(transparent)]
    Events(#[from] FixtureError),
    #[error("the fixture seeds \"memory\", but its event names no user (event.user.id)")]
    MemoryWithoutUser,
}

/// Why one fixture file could not be run: it does not load, or its events cannot be run
/// (then the message starts with the file's path).
#[derive(Debug, thiserror::Error)]
pub(super) enum FileError {
    #[error(transparent)]
    Load(#[from] FixtureError),
    #[error("{}: {source}", file.display())]
    Decide { file: PathBuf, source: DecideError },
}

/// One user's memory in a `replay` or `test` run: value and expiry (unix ms).
type UserMemory = std::collections::BTreeMap<String, (Value, Option<i64>)>;

/// Compiled rules, the config, and the run's in-memory rule memory, shared by `replay` and
/// `test`. Memory lives only for the run and is never written to the store.
pub(super) struct Context<'s> {
    settings: &'s Settings,
    engine: rhai::Engine,
    rules: RuleSet,
    env: Arc<RuleEnv>,
    memory: std::cell::RefCell<HashMap<(String, String), UserMemory>>,
}

impl<'s> Context<'s> {
    /// Compile the rules, printing their problems (and returning `None`) if any.
    pub(super) fn new(settings: &'s Settings) -> Option<Context<'s>> {
        let engine = build_engine();
        match compile_dir(&engine, &settings.rules.dir) {
            Ok(rules) => Some(Context {
                settings,
                engine,
                rules,
                env: Arc::new(RuleEnv::from_settings(settings)),
                memory: Default::default(),
            }),
            Err(problems) => {
                for p in problems {
                    // The command ends with a problem either way; a closed stdout adds nothing.
                    let _ = super::output::write(format_args!("{p}\n"));
                }
                None
            }
        }
    }

    /// Load one fixture and run the rules on each of its events (one, or one per item of a
    /// WhatsApp body): the event, the kept actions, rule errors.
    pub(super) fn decide_file(&self, file: &std::path::Path) -> Result<Vec<Decided>, FileError> {
        let fixture = Fixture::load(file)?;
        self.decide(&fixture).map_err(|source| FileError::Decide {
            file: file.to_path_buf(),
            source,
        })
    }

    /// Run the rules on each of the fixture's events in order; memory written by one is
    /// seen by the next. The fixture's `memory` seeds each user once, before their first
    /// event.
    pub(super) fn decide(&self, fixture: &Fixture) -> Result<Vec<Decided>, DecideError> {
        let events = fixture.to_events(self.settings)?;
        if !fixture.memory.is_empty() && events.iter().all(|e| e.user.id.is_none()) {
            return Err(DecideError::MemoryWithoutUser);
        }
        let mut seeded = std::collections::HashSet::new();
        Ok(events
            .into_iter()
            .map(|event| self.decide_event(fixture, event, &mut seeded))
            .collect())
    }

    fn decide_event(
        &self,
        fixture: &Fixture,
        event: crate::domain::event::Event,
        seeded: &mut std::collections::HashSet<(String, String)>,
    ) -> Decided {
        let event = Arc::new(event);
        let owner = event.user.id.clone().map(|id| (event.source.clone(), id));
        let mut memory = self.memory.borrow_mut();
        let snapshot = match &owner {
            Some(owner) => {
                let user = memory.entry(owner.clone()).or_default();
                if seeded.insert(owner.clone()) {
                    for (key, value) in &fixture.memory {
                        user.insert(key.clone(), (value.clone(), None));
                    }
                }
                user.iter()
                    .filter(|(_, (_, expires))| expires.is_none_or(|at| at > event.received_at))
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect()
            }
            None => serde_json::Map::new(),
        };
        let verdict = self.rules.run(&self.engine, &self.env, &event, snapshot);
        if let Some(owner) = owner {
            let user = memory.entry(owner).or_default();
            for write in &verdict.memory {
                match &write.value {
                    Some(v) => user.insert(write.key.clone(), (v.clone(), write.expires_at)),
                    None => user.remove(&write.key),
                };
            }
        }
        let errors = verdict
            .runs
            .iter()
            .filter_map(|r| {
                r.error.clone().map(|message| RuleError {
                    rule: r.rule.clone(),
                    message,
                })
            })
            .collect();
        let actions = verdict.actions().cloned().collect();
        (Arc::unwrap_or_clone(event), actions, errors)
    }
}
