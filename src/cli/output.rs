//! Pipe-safe standard output for the commands. A reader that goes away
//! (`switchboard replay fixtures/ | head -1`) ends the command quietly with success; any
//! other write error ends it with a problem. Nothing in the CLI panics on a closed pipe.

use std::fmt;
use std::io::{self, Write};

use super::Exit;

/// Write formatted text to stdout (the `out!`/`outln!` macros call this).
pub fn write(args: fmt::Arguments<'_>) -> Result<(), Closed> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(Closed)
}

/// Stdout could not be written.
#[derive(Debug)]
pub struct Closed(pub io::Error);

impl Closed {
    /// How the command ends: quietly on a closed pipe, with a problem otherwise.
    pub fn exit(self) -> Exit {
        if self.0.kind() == io::ErrorKind::BrokenPipe {
            Exit::Success
        } else {
            super::report(&format_args!("cannot write to stdout: {}", self.0));
            Exit::Problem
        }
    }
}

/// `print!` to stdout that returns from the enclosing command (which returns `Exit`) when
/// stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        if let Err(closed) = $crate::cli::output::write(format_args!($($arg)*)) {
            return closed.exit();
        }
    };
}

/// `println!` to stdout, as `out!`.
macro_rules! outln {
    ($($arg:tt)*) => {
        if let Err(closed) = $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*))) {
            return closed.exit();
        }
    };
}

pub(crate) use {out, outln};
