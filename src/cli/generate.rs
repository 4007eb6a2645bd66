//! `switchboard generate man|bash|zsh|fish|elvish|powershell`: the man page (roff, from
//! `clap_mangen`) or a shell completion script (`clap_complete`) on stdout, made from the
//! same command-line definition the binary parses, so they never drift from it. The
//! Debian package and the release tarball ship their output.

use clap::{CommandFactory as _, ValueEnum};
use clap_complete::Shell;

use super::output::out;
use super::{Cli, Exit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// The man page, section 1 (`man -l switchboard.1`).
    Man,
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

pub fn run(what: Generated) -> Exit {
    let mut command = Cli::command();
    let mut text = Vec::new();
    let shell = match what {
        Generated::Man => {
            if let Err(e) = clap_mangen::Man::new(command.clone()).render(&mut text) {
                super::report(&format_args!("cannot render the man page: {e}"));
                return Exit::Problem;
            }
            None
        }
        Generated::Bash => Some(Shell::Bash),
        Generated::Zsh => Some(Shell::Zsh),
        Generated::Fish => Some(Shell::Fish),
        Generated::Elvish => Some(Shell::Elvish),
        Generated::Powershell => Some(Shell::PowerShell),
    };
    if let Some(shell) = shell {
        clap_complete::generate(shell, &mut command, "switchboard", &mut text);
    }
    out!("{}", String::from_utf8_lossy(&text));
    Exit::Success
}
