//! The command line (docs/commands.md): one file per command. Results go to stdout; logs and
//! diagnostics to stderr. Exit codes: 0 success, 1 a reported problem, 2 usage errors.

pub mod backtest;
pub mod check;
pub mod fixture;
pub mod generate;
pub mod output;
pub mod post;
pub mod replay;
pub mod serve;
pub mod test;

#[cfg(test)]
mod commands_doc_tests;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Signed chat webhooks in, Rhai rules, provider calls out."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "switchboard.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP listener, the rule workers and the provider executor.
    Serve {
        /// Print the effective configuration (defaults filled in, `${VAR}` expanded,
        /// secrets redacted) as TOML and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Validate the config and every rule; print each problem as path:line:col: message.
    Check,
    /// Run fixtures through the rules and print one JSON line per action.
    Replay {
        /// Carry the actions out against the providers (one attempt each) instead of a dry run.
        #[arg(long)]
        send: bool,
        /// Fixture files, or folders searched for *.json.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run the fixtures that carry `expect` and compare the actions.
    Test {
        /// Fixture files or folders (default: fixtures/).
        paths: Vec<PathBuf>,
    },
    /// Sign fixture bodies with their source's secret and POST them to a running server.
    Post {
        /// The server's base URL (default: http://{server.listen}).
        #[arg(long)]
        url: Option<String>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the man page or a shell completion script (the Debian package installs them).
    Generate {
        #[arg(value_enum)]
        what: generate::Generated,
    },
    /// Run a rules folder over the stored events of a window and show what would change.
    Backtest {
        /// The rules folder (default: the configured one, as it is on disk now).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Start of the window: RFC 3339, unix ms, or a duration before now like 6h (default 24h).
        #[arg(long)]
        since: Option<String>,
        /// End of the window (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Only events of this source.
        #[arg(long)]
        source: Option<String>,
        /// At most this many events (the first of the window).
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per changed event instead of CHANGED/ERROR lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a stored event as a fixture, with the actions it produced as `expect`.
    Fixture {
        /// The event's id (evt_...), as the logs, the admin API and the console show it.
        event_id: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The outcome of a command, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Problem = 1,
    Usage = 2,
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Serve { print_config: true } => serve::print_config(&cli.config),
        Command::Serve {
            print_config: false,
        } => serve::run(&cli.config),
        Command::Check => check::run(&cli.config),
        Command::Replay { send, paths } => {
            with_settings(&cli.config, |s| replay::run(s, &paths, send))
        }
        Command::Test { paths } => with_settings(&cli.config, |s| test::run(s, &paths)),
        Command::Post { url, paths } => {
            with_settings(&cli.config, |s| post::run(s, url.as_deref(), &paths))
        }
        Command::Generate { what } => generate::run(what),
        Command::Backtest {
            rules,
            since,
            until,
            source,
            limit,
            json,
        } => with_settings(&cli.config, |s| {
            backtest::run(
                s,
                &backtest::Options {
                    rules: rules.as_deref(),
                    since: since.as_deref(),
                    until: until.as_deref(),
                    source: source.as_deref(),
                    limit,
                    json,
                },
            )
        }),
        Command::Fixture { event_id, out } => {
            with_settings(&cli.config, |s| fixture::run(s, &event_id, out.as_deref()))
        }
    }
}

/// Load the config or report why not (exit 1).
fn with_settings(path: &Path, f: impl FnOnce(Settings) -> Exit) -> Exit {
    match Settings::load(path) {
        Ok(settings) => {
            crate::telemetry::init(settings.logging.format);
            f(settings)
        }
        Err(e) => {
            report(&e);
            Exit::Problem
        }
    }
}

/// The one error printer of the command line: `error: <sentence>` on stderr.
pub fn report(error: &dyn std::fmt::Display) {
    eprintln!("error: {error}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
