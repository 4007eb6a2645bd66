//! `switchboard backtest` (docs/commands.md): the live rules of a folder (default: the
//! configured one as it is on disk now; never its `shadow/`) over the events stored in a
//! window, compared with what was decided at the time. Per changed event `CHANGED <id>
//! +<action> ... -<action> ...`, per rule error `ERROR <id> <path:line:col: message>`, then
//! `N events, M changed, K rule errors`; `--json` prints one object per entry instead.
//! Read-only: the store is opened for reading (beside a running `serve`, without its lock);
//! nothing is sent or written. A progress bar goes to stderr when stderr is a terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use super::output::{self, outln};
use super::Exit;
use crate::backtest::{Backtest, Changed, Window};
use crate::config::{Settings, StorageUrl};
use crate::rules::{build_engine, compile_dir};

/// The command's options, as parsed.
#[derive(Debug)]
pub struct Options<'a> {
    pub rules: Option<&'a Path>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub source: Option<&'a str>,
    pub limit: Option<usize>,
    pub json: bool,
}

pub fn run(settings: Settings, options: &Options<'_>) -> Exit {
    let window = match Window::parse(
        options.since,
        options.until,
        options.source.map(str::to_string),
        options.limit,
    ) {
        Ok(window) => window,
        Err(e) => {
            super::report(&e);
            return Exit::Usage;
        }
    };
    if let Some(source) = &window.source {
        if !settings.sources.contains_key(source) {
            let known: Vec<&str> = settings.sources.keys().map(String::as_str).collect();
            super::report(&format_args!(
                "--source {source}: no such source in the config (configured: {})",
                known.join(", ")
            ));
            return Exit::Usage;
        }
    }
    let dir = options.rules.unwrap_or(&settings.rules.dir).to_path_buf();
    let engine = Arc::new(build_engine());
    let rules = match compile_dir(&engine, &dir) {
        Ok(rules) => Arc::new(rules),
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            super::report(&format_args!(
                "the rules in {} cannot be backtested: {} problem(s) (run `switchboard check`)",
                dir.display(),
                problems.len()
            ));
            return Exit::Problem;
        }
    };
    let where_ = match &settings.storage.url {
        StorageUrl::Sqlite(path) => path.display().to_string(),
        StorageUrl::Postgres(_) => "the PostgreSQL store".to_string(),
    };
    let settings = Arc::new(settings);
    let backtest = Backtest {
        settings: settings.clone(),
        engine,
        rules,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} events backtested ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut closed: Option<output::Closed> = None;
    let json = options.json;
    let result = super::runtime().block_on(async {
        let store = crate::store::open_for_reading(&settings.storage).await?;
        backtest
            .run(
                &store,
                &window,
                |changed| {
                    if closed.is_none() {
                        if let Err(e) = print_entry(changed, json) {
                            closed = Some(e);
                        }
                    }
                },
                |done| {
                    if let Some(bar) = &bar {
                        bar.set_position(done as u64);
                    }
                },
            )
            .await
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(closed) = closed {
        return closed.exit();
    }
    match result {
        Ok(totals) => {
            outln!("{totals}");
            Exit::Success
        }
        Err(e) => {
            super::report(&format_args!("cannot read the events in {where_}: {e}"));
            Exit::Problem
        }
    }
}

/// One entry as its lines (or, with `--json`, one object).
fn print_entry(changed: &Changed, json: bool) -> Result<(), output::Closed> {
    if json {
        let text = serde_json::to_string(changed).expect("an entry serialises");
        return output::write(format_args!("{text}\n"));
    }
    if changed.differs() {
        let mut line = format!("CHANGED {}", changed.event_id);
        for action in &changed.added {
            line.push_str(&format!(" +{action}"));
        }
        for action in &changed.removed {
            line.push_str(&format!(" -{action}"));
        }
        output::write(format_args!("{line}\n"))?;
    }
    for error in &changed.errors {
        output::write(format_args!("ERROR {} {error}\n", changed.event_id))?;
    }
    Ok(())
}
