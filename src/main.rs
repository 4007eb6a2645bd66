//! The `switchboard` binary: parse the command line, run the command, exit with its code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = switchboard::cli::Cli::parse();
    ExitCode::from(switchboard::cli::run(cli) as u8)
}
