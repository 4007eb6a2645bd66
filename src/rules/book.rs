//! The rule book: the active rule set and the state of every file in the rules folder.
//! A reload compiles the whole folder; only if every file compiles is the new set swapped
//! in (atomically: events being handled keep the set they started with). Otherwise the last
//! good set stays active and the failing files carry their error.
//!
//! Shadow rules (`<dir>/shadow/*.rhai`, docs/rule-api.md) are a second set, compiled and swapped
//! on their own: a broken shadow file keeps the previous shadow set (and is reported like a
//! broken live file) but never stops the live rules from reloading. In file states they are
//! named `shadow/<file>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rhai::Engine;
use serde::Serialize;

use super::ruleset::{compile_dir, list_rule_files, Problem, RuleSet};

/// One file's state, as `GET /admin/rules` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FileState {
    pub file: String,
    /// When the version that runs now was loaded (unix ms); `null` if none runs.
    pub loaded_at: Option<i64>,
    /// Whether a version of this file runs on events now.
    pub active: bool,
    /// `path:line:col: message` of the last failed load, or `null`.
    pub error: Option<String>,
    /// Whether the file on disk is not the version that runs (edited since, broken, new,
    /// or removed).
    pub disk_differs: bool,
}

/// The last reload attempt, as `GET /admin/rules` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReloadState {
    /// Whether it swapped a new set in.
    pub ok: bool,
    /// When it ran (unix ms).
    pub at: i64,
    /// Its first problem, `path:line:col: message`, when it failed.
    pub error: Option<String>,
}

pub struct RuleBook {
    engine: Arc<Engine>,
    dir: PathBuf,
    active: ArcSwap<RuleSet>,
    shadow: ArcSwap<RuleSet>,
    files: Mutex<Vec<FileState>>,
    shadow_files: Mutex<Vec<FileState>>,
    /// One reload at a time (the watcher and SIGHUP may both ask).
    reloading: Mutex<()>,
    last_reload: Mutex<ReloadState>,
    /// Counts failed reloads (`switchboard_rules_reload_failures_total`), once metrics exist.
    failures: std::sync::OnceLock<prometheus::IntCounter>,
}

impl RuleBook {
    /// Compile the folder for start-up.
    ///
    /// # Errors
    /// Every problem, if any file fails (then `serve` does not start).
    pub fn load(engine: Arc<Engine>, dir: &Path) -> Result<RuleBook, Vec<Problem>> {
        let live = compile_dir(&engine, dir);
        let shadow = compile_shadow(&engine, dir);
        let (set, shadow) = match (live, shadow) {
            (Ok(set), Ok(shadow)) => (set, shadow),
            (live, shadow) => {
                let mut problems = live.err().unwrap_or_default();
                problems.extend(shadow.err().unwrap_or_default());
                return Err(problems);
            }
        };
        let files = states_for_active(&set, "");
        let shadow_files = states_for_active(&shadow, SHADOW_PREFIX);
        Ok(RuleBook {
            engine,
            dir: dir.to_path_buf(),
            active: ArcSwap::from_pointee(set),
            shadow: ArcSwap::from_pointee(shadow),
            files: Mutex::new(files),
            shadow_files: Mutex::new(shadow_files),
            reloading: Mutex::new(()),
            last_reload: Mutex::new(ReloadState {
                ok: true,
                at: crate::domain::event::now_millis(),
                error: None,
            }),
            failures: std::sync::OnceLock::new(),
        })
    }

    /// Count failed reloads in this counter from now on.
    pub fn count_failures_in(&self, counter: prometheus::IntCounter) {
        let _ = self.failures.set(counter);
    }

    /// The last reload attempt (the start-up load counts as one).
    pub fn last_reload(&self) -> ReloadState {
        lock(&self.last_reload).clone()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set that new events run on.
    pub fn current(&self) -> Arc<RuleSet> {
        self.active.load_full()
    }

    /// The shadow set (`<dir>/shadow/`), run after the live rules, never carried out.
    pub fn shadow(&self) -> Arc<RuleSet> {
        self.shadow.load_full()
    }

    /// Each file's state, with whether the file on disk still says what runs; shadow files
    /// after the live ones, as `shadow/<file>`.
    pub fn states(&self) -> Vec<FileState> {
        let (current, shadow) = (self.current(), self.shadow());
        let mut states = lock(&self.files).clone();
        states.extend(lock(&self.shadow_files).iter().cloned());
        for state in &mut states {
            let on_disk = std::fs::read_to_string(self.dir.join(&state.file)).ok();
            let running = match state.file.strip_prefix(SHADOW_PREFIX) {
                Some(name) => shadow.source_of(name),
                None => current.source_of(&state.file),
            };
            state.disk_differs = on_disk.as_deref() != running;
        }
        states
    }

    /// Compile the folder again and swap the new set in if every file compiles.
    ///
    /// # Errors
    /// The problems of a failed reload; the previous set stays active.
    pub fn reload(&self) -> Result<usize, Vec<Problem>> {
        let _one_at_a_time = lock(&self.reloading);
        let at = crate::domain::event::now_millis();
        let live = compile_dir(&self.engine, &self.dir);
        // The shadow set is swapped on its own: its problems never hold the live rules back.
        let shadow_problems = match compile_shadow(&self.engine, &self.dir) {
            Ok(set) => {
                *lock(&self.shadow_files) = states_for_active(&set, SHADOW_PREFIX);
                self.shadow.store(Arc::new(set));
                Vec::new()
            }
            Err(problems) => {
                for problem in &problems {
                    tracing::error!(
                        "shadow rule not reloaded (the previous shadow rules stay): {problem}"
                    );
                }
                *lock(&self.shadow_files) = failed_states(
                    &self.shadow(),
                    &self.dir.join("shadow"),
                    &problems,
                    SHADOW_PREFIX,
                );
                problems
            }
        };
        let live_problems = match &live {
            Ok(_) => Vec::new(),
            Err(problems) => problems.clone(),
        };
        let first_problem = live_problems
            .first()
            .or(shadow_problems.first())
            .map(ToString::to_string);
        *lock(&self.last_reload) = ReloadState {
            ok: first_problem.is_none(),
            at,
            error: first_problem.clone(),
        };
        if first_problem.is_some() {
            if let Some(counter) = self.failures.get() {
                counter.inc();
            }
        }
        match live {
            Ok(set) => {
                let count = set.len();
                *lock(&self.files) = states_for_active(&set, "");
                self.active.store(Arc::new(set));
                Ok(count)
            }
            Err(problems) => {
                *lock(&self.files) = failed_states(&self.current(), &self.dir, &problems, "");
                Err(problems)
            }
        }
    }
}

/// How shadow files are named in file states (`GET /admin/rules`).
pub const SHADOW_PREFIX: &str = "shadow/";

/// Compile `<dir>/shadow/` (no such folder: an empty set).
fn compile_shadow(engine: &Engine, dir: &Path) -> Result<RuleSet, Vec<Problem>> {
    let shadow = dir.join("shadow");
    if shadow.is_dir() {
        compile_dir(engine, &shadow)
    } else {
        super::ruleset::compile_sources(engine, &BTreeMap::new())
    }
}

/// The file states after a failed load of `dir`: the running versions stay active, every
/// file on disk is listed, the failing ones with their error.
fn failed_states(
    current: &RuleSet,
    dir: &Path,
    problems: &[Problem],
    prefix: &str,
) -> Vec<FileState> {
    let running: BTreeMap<&str, i64> = current
        .names()
        .map(|name| (name, current.loaded_at))
        .collect();
    let errors: BTreeMap<String, String> = problems
        .iter()
        .map(|p| {
            let file = Path::new(&p.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.path.clone());
            (file, p.to_string())
        })
        .collect();
    let mut names: Vec<String> = list_rule_files(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for name in running.keys() {
        if !names.iter().any(|n| n == name) {
            names.push((*name).to_string());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|file| FileState {
            loaded_at: running.get(file.as_str()).copied(),
            active: running.contains_key(file.as_str()),
            error: errors.get(&file).cloned(),
            disk_differs: false,
            file: format!("{prefix}{file}"),
        })
        .collect()
}

fn states_for_active(set: &RuleSet, prefix: &str) -> Vec<FileState> {
    set.names()
        .map(|name| FileState {
            file: format!("{prefix}{name}"),
            loaded_at: Some(set.loaded_at),
            active: true,
            error: None,
            disk_differs: false,
        })
        .collect()
}

/// A lock whose data stays usable if a holder panicked (the states are plain values).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
