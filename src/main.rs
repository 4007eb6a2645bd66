//! The `switchboard` binary: parse the command line, run the command, exit with its code.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = switchboard::cli::Cli::parse();
    let exit = switchboard::cli::run(cli);
    std::process::exit(exit as i32);
}
