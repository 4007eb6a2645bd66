//! The README's "A five-minute walk-through", run as a newcomer would run it: every command
//! of its ```sh blocks, in order, in a temporary copy of the repository, with what each
//! prints compared against the `# ...` lines the README puts under it. If a step's command
//! or its output changes, `the_readme_walk_through_prints_what_it_says` fails.
//!
//! How the README is read (the section between `## A five-minute walk-through` and the next
//! `## `):
//! - The steps are numbered `1.`, `2.`, ... without gaps.
//! - In a ```sh block, a line not starting with `#` is a command (a trailing `\` continues it
//!   on the next line; a comment starts at two spaces and a `#`). The `#` lines right under
//!   it are its whole output, stdout and stderr together, line for line.
//! - A command whose comment says `terminal N; runs until Ctrl-C` is a long-running one
//!   (the server, the mock): it is started in the background as terminal N (a second one
//!   in terminal N first stops the one there with SIGINT, as Ctrl-C would), and the `#`
//!   lines under it must appear in its output, in order, other lines allowed between.
//! - A ```text block right after `<!-- readme test: terminal N prints -->` holds the lines
//!   terminal N prints next, all of them; after `<!-- readme test: terminal N prints, among
//!   other lines -->` they come in that order with other lines allowed between (the
//!   server's log, where other lines interleave).
//! - When a mock (`bench/sink.py`) is stopped, it must have printed no request the README
//!   does not show: after the last line the README expects, only its own `sink: ...` lines.
//! - In an expected line, `…` stands for any text (an id, a time, a duration).
//!
//! What the test changes from the README's commands, and why:
//! - `./target/release/switchboard` is the binary cargo built for this test
//!   (`CARGO_BIN_EXE_switchboard`).
//! - Ports: `switchboard serve` is started with `SWITCHBOARD_LISTEN=127.0.0.1:0` and the
//!   mock (`bench/sink.py`) with `--port 0`, so that parallel tests never collide; the real
//!   ports are read from their "listening on" lines, and from then on `127.0.0.1:8080` (the
//!   shipped `switchboard.toml`'s default) and `127.0.0.1:9999` (`sink.py`'s default) are
//!   replaced by them in commands and expected lines. A restarted mock gets the port the
//!   first one had (the server was started pointing at it). Later commands get
//!   `SWITCHBOARD_LISTEN` set to the server's real address, which is where `post` sends.
//! - The variables `switchboard.toml` reads (`SWITCHBOARD_*`, `JELOU_*`, ...) and
//!   `RUST_LOG` are removed from the environment, as on a fresh machine.
//! - A `curl` without `-X` (a read) is run again until it prints what the README says: the
//!   server logs a delivery's outcome just before it writes it to the store, and a reader
//!   types slower than this test.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::process::{port_after, wait_exit, ChildGuard, BIN};
use common::wait::{wait_until, Lazy, TIMEOUT};

/// Where the walk-through starts; it ends at the next `## ` heading.
const SECTION: &str = "## A five-minute walk-through";
/// The README's binary, replaced by the one cargo built.
const README_BIN: &str = "./target/release/switchboard";
/// The address `serve` listens on with the shipped config, and the mock's default one.
const SERVE_ADDRESS: &str = "127.0.0.1:8080";
const SINK_ADDRESS: &str = "127.0.0.1:9999";
/// What each long-running program logs once it listens; its address follows.
const SERVE_LISTENING: &str = "switchboard listening on ";
const SINK_LISTENING: &str = "sink: listening on ";
/// The comment that marks a long-running command, and the marker before a terminal's lines.
const KEEPS_RUNNING: &str = "runs until Ctrl-C";
const PRINTS_MARKER: (&str, &str) = ("<!-- readme test: terminal ", " prints");
const AMONG_OTHERS: &str = ", among other lines";
/// The wildcard of expected lines.
const ANY: char = '…';

/// One thing the walk-through does, with the README line it comes from.
#[derive(Debug, PartialEq)]
enum Step {
    /// A command; `terminal` is set for a long-running one.
    Run {
        line: usize,
        command: String,
        terminal: Option<u32>,
        expect: Vec<String>,
    },
    /// Lines a long-running terminal prints next: all of them, or among others.
    Prints {
        line: usize,
        terminal: u32,
        among_others: bool,
        expect: Vec<String>,
    },
}

/// The walk-through: its step numbers and what it does, in order.
fn walk_through(readme: &str) -> (Vec<u32>, Vec<Step>) {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == SECTION)
        .unwrap_or_else(|| panic!("README.md has no {SECTION:?} section"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);

    let mut numbers = Vec::new();
    let mut steps = Vec::new();
    let mut marker: Option<(u32, bool)> = None;
    let mut i = start + 1;
    while i < end {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(number) = line
            .split_once(". ")
            .and_then(|(n, _)| n.parse::<u32>().ok())
        {
            numbers.push(number);
        }
        if let Some(fence) = trimmed.strip_prefix("```") {
            let language = fence.trim().to_string();
            let indent = line.len() - line.trim_start().len();
            let opened = i;
            let mut body = Vec::new();
            i += 1;
            while i < end && lines[i].trim() != "```" {
                let text = lines[i];
                body.push((i + 1, text.get(indent..).unwrap_or(text.trim_start())));
                i += 1;
            }
            assert!(
                i < end,
                "README line {}: a code block is never closed",
                opened + 1
            );
            match (language.as_str(), marker.take()) {
                ("sh", None) => steps.extend(commands(&body)),
                ("text", Some((terminal, among_others))) => steps.push(Step::Prints {
                    line: opened + 1,
                    terminal,
                    among_others,
                    expect: body.iter().map(|(_, l)| l.to_string()).collect(),
                }),
                (_, Some(_)) => panic!(
                    "README line {}: a terminal's lines go in a ```text block",
                    opened + 1
                ),
                _ => {}
            }
        } else if let Some(rest) = trimmed
            .strip_prefix(PRINTS_MARKER.0)
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            let (number, how) = rest
                .split_once(PRINTS_MARKER.1)
                .unwrap_or_else(|| panic!("README line {}: {trimmed:?} is not a marker", i + 1));
            let number = number
                .parse()
                .unwrap_or_else(|_| panic!("README line {}: {trimmed:?} names no terminal", i + 1));
            let among_others = match how {
                "" => false,
                AMONG_OTHERS => true,
                _ => panic!("README line {}: {trimmed:?} is not a marker", i + 1),
            };
            marker = Some((number, among_others));
        } else if !trimmed.is_empty() {
            marker = None;
        }
        i += 1;
    }
    (numbers, steps)
}

/// The commands of one ```sh block (line number, text) and the output under each.
fn commands(body: &[(usize, &str)]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (line, text) = body[i];
        i += 1;
        if text.trim().is_empty() {
            continue;
        }
        assert!(
            !text.starts_with('#'),
            "README line {line}: an output line with no command above it"
        );
        let mut command = String::new();
        let mut current = text;
        let comment = loop {
            let (code, comment) = match current.find("  #") {
                Some(at) => (&current[..at], Some(current[at..].trim())),
                None => (current, None),
            };
            match code.trim_end().strip_suffix('\\') {
                Some(continued) if i < body.len() => {
                    command.push_str(continued.trim());
                    command.push(' ');
                    current = body[i].1;
                    i += 1;
                }
                _ => {
                    command.push_str(code.trim());
                    break comment;
                }
            }
        };
        let terminal = comment.filter(|c| c.contains(KEEPS_RUNNING)).map(|c| {
            c.split("terminal ")
                .nth(1)
                .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| {
                    panic!("README line {line}: a long-running command names no terminal")
                })
        });
        let mut expect = Vec::new();
        while let Some((_, out)) = body.get(i).filter(|(_, l)| l.starts_with('#')) {
            let out = out.strip_prefix('#').unwrap();
            expect.push(out.strip_prefix(' ').unwrap_or(out).to_string());
            i += 1;
        }
        steps.push(Step::Run {
            line,
            command,
            terminal,
            expect,
        });
    }
    steps
}

/// Whether `line` is `pattern`, where each `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let mut pieces = pattern.split(ANY);
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Where matching `expect` in `lines` from `from` ends: each line in order, other lines
/// allowed between if `among_others`, else the very next lines; `None` if they are not all
/// there (yet).
fn find_in_order(
    lines: &[&str],
    from: usize,
    expect: &[String],
    among_others: bool,
) -> Option<usize> {
    let mut at = from;
    for pattern in expect {
        if among_others {
            at += lines.get(at..)?.iter().position(|l| matches(pattern, l))? + 1;
        } else if matches(pattern, lines.get(at)?) {
            at += 1;
        } else {
            return None;
        }
    }
    Some(at)
}

/// Whether `output` is `expect`, line for line.
fn whole_output_matches(expect: &[String], output: &str) -> bool {
    let lines: Vec<&str> = output.lines().collect();
    lines.len() == expect.len() && expect.iter().zip(&lines).all(|(p, l)| matches(p, l))
}

/// A long-running program of the walk-through, its stdout and stderr in one file.
struct Terminal {
    guard: ChildGuard,
    output: PathBuf,
    /// How many of its lines earlier expectations used up.
    cursor: usize,
    /// A mock, which must print nothing the README does not show.
    sink: bool,
}

impl Terminal {
    /// Its complete lines so far.
    fn text(&self) -> String {
        let text = fs::read_to_string(&self.output).unwrap_or_default();
        match text.rfind('\n') {
            Some(end) => text[..=end].to_string(),
            None => String::new(),
        }
    }

    /// Wait until it has printed `expect` after what earlier expectations used up. When
    /// they must be the very next lines, a line that differs fails at once.
    #[track_caller]
    fn wait_for(&mut self, expect: &[String], among_others: bool, what: &str) {
        let cursor = self.cursor;
        let wanted = || {
            format!(
                "{what} to print, {} its first {cursor} line(s):\n{}\n----- it printed -----\n{}",
                if among_others {
                    "in order (among other lines) after"
                } else {
                    "as the next lines after"
                },
                expect.join("\n"),
                self.text()
            )
        };
        self.cursor = wait_until(
            || {
                let text = self.text();
                let lines: Vec<&str> = text.lines().collect();
                if !among_others {
                    let printed = lines.iter().skip(cursor);
                    let differs = expect.iter().zip(printed).any(|(p, l)| !matches(p, l));
                    assert!(!differs, "expected {}", wanted());
                }
                find_in_order(&lines, cursor, expect, among_others)
            },
            Lazy(wanted),
            TIMEOUT,
        );
    }

    /// Ctrl-C: SIGINT to its process group, then wait for it to exit.
    fn interrupt(&mut self) {
        let status = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.guard.id())])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT -{} failed", self.guard.id());
        self.guard.wait_exit();
        if self.sink {
            let text = self.text();
            let unexpected: Vec<&str> = text
                .lines()
                .skip(self.cursor)
                .filter(|l| !l.starts_with("sink: "))
                .collect();
            assert!(
                unexpected.is_empty(),
                "the mock printed requests the README does not show:\n{}\n----- all it printed -----\n{text}",
                unexpected.join("\n")
            );
        }
    }
}

/// The walk-through being run: its folder, terminals and port substitutions.
struct Walk {
    dir: tempfile::TempDir,
    terminals: BTreeMap<u32, Terminal>,
    started: usize,
    /// README address → real address.
    addresses: Vec<(&'static str, String)>,
    sink_port: Option<u16>,
    serve_address: Option<String>,
}

impl Walk {
    fn new() -> Walk {
        let dir = tempfile::tempdir().unwrap();
        copy_repository(Path::new(env!("CARGO_MANIFEST_DIR")), dir.path());
        Walk {
            dir,
            terminals: BTreeMap::new(),
            started: 0,
            addresses: Vec::new(),
            sink_port: None,
            serve_address: None,
        }
    }

    /// `text` with the README's addresses replaced by the real ones.
    fn substitute(&self, text: &str) -> String {
        self.addresses
            .iter()
            .fold(text.to_string(), |text, (readme, real)| {
                text.replace(readme, real)
            })
    }

    /// `bash -c` running `command` in the copy, stderr into stdout, on a clean environment.
    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("bash");
        shell
            .arg("-c")
            .arg(format!("exec 2>&1; {}", command.replace(README_BIN, BIN)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (name, _) in std::env::vars() {
            let read_by_config = [
                "SWITCHBOARD_",
                "JELOU_",
                "UCHAT_",
                "AELYST_",
                "CRM_",
                "WHATSAPP_",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix));
            if read_by_config || name == "RUST_LOG" {
                shell.env_remove(name);
            }
        }
        if let Some(address) = &self.serve_address {
            shell.env("SWITCHBOARD_LISTEN", address);
        }
        shell
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Run {
                line,
                command,
                terminal: Some(terminal),
                expect,
            } => self.start(*line, command, *terminal, expect),
            Step::Run {
                line,
                command,
                terminal: None,
                expect,
            } => self.foreground(*line, command, expect),
            Step::Prints {
                line,
                terminal,
                among_others,
                expect,
            } => {
                let expect: Vec<String> = expect.iter().map(|l| self.substitute(l)).collect();
                let terminal = self.terminals.get_mut(terminal).unwrap_or_else(|| {
                    panic!("README line {line}: terminal {terminal} runs nothing")
                });
                terminal.wait_for(
                    &expect,
                    *among_others,
                    &format!("terminal of README line {line}"),
                );
            }
        }
    }

    /// A long-running command in terminal `number`, after stopping what ran there.
    fn start(&mut self, line: usize, command: &str, number: u32, expect: &[String]) {
        if let Some(mut previous) = self.terminals.remove(&number) {
            previous.interrupt();
        }
        let sink = command.contains("bench/sink.py");
        let serve = command.contains("switchboard serve");
        let mut command = self.substitute(command);
        if sink {
            command.push_str(&format!(" --port {}", self.sink_port.unwrap_or(0)));
        }
        let mut shell = self.shell(&command);
        if serve {
            shell.env("SWITCHBOARD_LISTEN", "127.0.0.1:0");
        }
        self.started += 1;
        let name = format!("terminal-{number}-{}", self.started);
        let guard = ChildGuard::spawn_group(&name, shell, self.dir.path());
        let mut terminal = Terminal {
            guard,
            output: self.dir.path().join(format!("{name}.stdout")),
            cursor: 0,
            sink,
        };
        let listening = if serve {
            Some(SERVE_LISTENING)
        } else if sink && self.sink_port.is_none() {
            Some(SINK_LISTENING)
        } else {
            None
        };
        if let Some(prefix) = listening {
            let port = wait_until(
                || port_after(&terminal.text(), prefix),
                Lazy(|| format!("{prefix:?} from README line {line}\n{}", terminal.text())),
                TIMEOUT,
            );
            let real = format!("127.0.0.1:{port}");
            if serve {
                self.addresses.push((SERVE_ADDRESS, real.clone()));
                self.serve_address = Some(real);
            } else {
                self.addresses.push((SINK_ADDRESS, real));
                self.sink_port = Some(port);
            }
        }
        let expect: Vec<String> = expect.iter().map(|l| self.substitute(l)).collect();
        // What it prints as it starts comes among other lines (the server's migrations).
        terminal.wait_for(&expect, true, &format!("the command of README line {line}"));
        self.terminals.insert(number, terminal);
    }

    /// A command that ends on its own; its whole output must be `expect`.
    fn foreground(&mut self, line: usize, command: &str, expect: &[String]) {
        let command = self.substitute(command);
        let expect: Vec<String> = expect.iter().map(|l| self.substitute(l)).collect();
        let read_only = command.starts_with("curl ") && !command.contains(" -X ");
        let last = std::cell::RefCell::new(String::new());
        let run = || {
            let child = self
                .shell(&command)
                .stdout(Stdio::piped())
                .spawn()
                .expect("bash starts");
            let output = wait_exit(child);
            let printed = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "README line {line}: `{command}` exited with {}\n{printed}",
                output.status
            );
            let matched = whole_output_matches(&expect, &printed);
            *last.borrow_mut() = printed;
            matched
        };
        let mismatch = || {
            format!(
                "README line {line}: `{command}` printed\n{}\n----- the README says -----\n{}",
                last.borrow(),
                expect.join("\n")
            )
        };
        if read_only {
            wait_until(&run, Lazy(mismatch), TIMEOUT);
        } else {
            assert!(run(), "{}", mismatch());
        }
    }
}

/// The repository as a fresh clone has it: everything but `.git`, build output (`target`)
/// and the store (`data`).
fn copy_repository(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".git", "target", "data"].iter().any(|skip| name == *skip) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_repository(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_readme_walk_through_prints_what_it_says() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md reads");
    let (numbers, steps) = walk_through(&readme);
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    assert_eq!(
        numbers, expected,
        "the walk-through's steps are numbered 1..N"
    );
    assert!(
        steps.iter().any(|s| matches!(
            s,
            Step::Run {
                terminal: Some(_),
                ..
            }
        )) && steps.iter().any(|s| matches!(s, Step::Prints { .. })),
        "the walk-through starts a server and says what it prints: {steps:#?}"
    );

    let mut walk = Walk::new();
    for step in &steps {
        walk.run(step);
    }
    // The end, as a reader would: Ctrl-C in each terminal.
    for (_, mut terminal) in std::mem::take(&mut walk.terminals) {
        terminal.interrupt();
    }
}

#[test]
fn an_ellipsis_stands_for_any_text_and_nothing_else_is_loose() {
    assert!(matches(
        "a 202 {\"event_id\":\"evt_…\"}",
        "a 202 {\"event_id\":\"evt_01AB\"}"
    ));
    assert!(matches("… INFO x=… y", "2026-12-03T10:00:00Z INFO x=1 y"));
    assert!(matches("…", ""));
    assert!(matches("exact", "exact"));
    assert!(!matches("exact", "exact "));
    assert!(!matches("a…b", "a b c"));
    assert!(!matches("ab…ba", "aba"));
    assert!(!matches("… status=200", "… status=500"));
}

#[test]
fn commands_output_and_terminals_are_read_from_the_section() {
    let readme = "# X\n\n## A five-minute walk-through\n\n1. **One**\n\n   ```sh\n   \
                  python3 bench/sink.py   # terminal 1; runs until Ctrl-C\n   \
                  # sink: listening\n   A=1 \\\n     echo hi  # a comment\n   # hi\n   ```\n\n\
                  2. **Two**\n\n   <!-- readme test: terminal 1 prints -->\n   ```text\n   \
                  GET / -> 200\n   ```\n\n## Next\n\n3. not counted\n";
    let (numbers, steps) = walk_through(readme);
    assert_eq!(numbers, [1, 2]);
    assert_eq!(
        steps,
        [
            Step::Run {
                line: 8,
                command: "python3 bench/sink.py".into(),
                terminal: Some(1),
                expect: vec!["sink: listening".into()],
            },
            Step::Run {
                line: 10,
                command: "A=1 echo hi".into(),
                terminal: None,
                expect: vec!["hi".into()],
            },
            Step::Prints {
                line: 18,
                terminal: 1,
                among_others: false,
                expect: vec!["GET / -> 200".into()],
            },
        ]
    );
}
