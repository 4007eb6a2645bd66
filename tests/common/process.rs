//! Child processes: the built `switchboard` binary (or any program) run with its output in
//! files, killed and waited on when the guard drops, its stderr shown when the test fails.
//! `Serve` is `switchboard serve` on port 0, its real port read from its log line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use super::wait::{wait_until, wait_until_async, Lazy, TIMEOUT};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// What `serve` logs (on stderr) once it listens; the address follows.
/// Followed by `http://HOST:PORT` or `https://HOST:PORT`.
const LISTENING: &str = "switchboard listening on ";

/// `switchboard <args>` run in `dir`, with the default log level and no stdin.
pub fn switchboard(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Wait for a child whose output is piped to exit on its own; kill it (and fail, showing
/// what it printed) if it has not after [`TIMEOUT`].
#[track_caller]
pub fn wait_exit(mut child: Child) -> Output {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the process did not exit within {TIMEOUT:?}\n----- stdout -----\n{}\n----- stderr -----\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A running child process whose stdout and stderr go to files; dropping the guard kills it
/// (its whole process group, if it got one) and waits for it. If the test is panicking, the
/// drop prints the child's stderr, so a failure shows what the child said.
pub struct ChildGuard {
    child: Child,
    name: String,
    stdout: PathBuf,
    stderr: PathBuf,
    group: bool,
}

impl ChildGuard {
    /// Start `command` with stdout and stderr in `dir/<name>.stdout` and `dir/<name>.log`.
    pub fn spawn(name: &str, command: Command, dir: &Path) -> ChildGuard {
        ChildGuard::start(name, command, dir, false)
    }

    /// Like [`ChildGuard::spawn`], in a process group of its own that the drop kills whole
    /// (for a child that starts children of its own, like chromedriver).
    pub fn spawn_group(name: &str, mut command: Command, dir: &Path) -> ChildGuard {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        ChildGuard::start(name, command, dir, true)
    }

    fn start(name: &str, mut command: Command, dir: &Path, group: bool) -> ChildGuard {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.log"));
        let child = command
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        ChildGuard {
            child,
            name: name.into(),
            stdout,
            stderr,
            group,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Its stderr framed for an assertion message.
    pub fn report(&self) -> String {
        format!(
            "----- {} stderr -----\n{}\n----------------------",
            self.name,
            self.stderr()
        )
    }

    /// Send a signal (`"TERM"`, `"HUP"`, ...) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.id());
    }

    /// SIGKILL it and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait (blocking) for it to exit on its own.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        let stderr = self.stderr.clone();
        let child = &mut self.child;
        wait_until(
            || child.try_wait().unwrap(),
            Lazy(|| {
                format!(
                    "{what}\n{}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                )
            }),
            TIMEOUT,
        )
    }

    /// Wait (asynchronously) for it to exit on its own.
    pub async fn wait_exit_async(&mut self) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        let stderr = self.stderr.clone();
        let child = &mut self.child;
        wait_until_async(
            || std::future::ready(child.try_wait().unwrap()),
            Lazy(|| {
                format!(
                    "{what}\n{}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                )
            }),
            TIMEOUT,
        )
        .await
    }

    /// Wait (blocking) until its stderr contains `needle`; the whole stderr.
    #[track_caller]
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        wait_until(
            || {
                let log = self.stderr();
                log.contains(needle).then_some(log)
            },
            Lazy(|| format!("{needle:?} on {}'s stderr\n{}", self.name, self.report())),
            TIMEOUT,
        )
    }

    /// Wait until `find` finds something in its stdout and stderr, failing early if it
    /// exits first.
    fn wait_for_output_blocking<T>(&mut self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        let (stdout, stderr, name) = (self.stdout.clone(), self.stderr.clone(), self.name.clone());
        let child = &mut self.child;
        wait_until(
            || {
                let text = format!(
                    "{}{}",
                    fs::read_to_string(&stdout).unwrap_or_default(),
                    fs::read_to_string(&stderr).unwrap_or_default()
                );
                if let Some(found) = find(&text) {
                    return Some(found);
                }
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("{name} exited with {status} before {what}\n{text}");
                }
                None
            },
            Lazy(|| format!("{what} from {name}")),
            TIMEOUT,
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.group {
            // The group we created for our own child: it and whatever it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

/// The port announced after `prefix` in `text`: the digits after the last `:` of the next
/// word (`127.0.0.1:41235 (rules ...`), or the next word's digits (`41235.`).
pub fn port_after(text: &str, prefix: &str) -> Option<u16> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let word = rest.split_whitespace().next()?;
    let port = word.rsplit(':').next()?;
    let digits: String = port.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `switchboard serve`, configured with `listen = "127.0.0.1:0"`: the kernel gives it a
/// free port when it binds (no race with another process, unlike picking a "free" port
/// first), and the real one is read from its `switchboard listening on http://HOST:PORT`
/// log line.
pub struct Serve {
    child: ChildGuard,
    port: u16,
}

impl std::ops::Deref for Serve {
    type Target = ChildGuard;
    fn deref(&self) -> &ChildGuard {
        &self.child
    }
}

impl std::ops::DerefMut for Serve {
    fn deref_mut(&mut self) -> &mut ChildGuard {
        &mut self.child
    }
}

impl Serve {
    /// Start `switchboard serve --config <config>` in `dir` (its stderr in `dir/<name>.log`)
    /// and wait (blocking) until it listens.
    #[track_caller]
    pub fn start(dir: &Path, config: &str, name: &str) -> Serve {
        let mut child =
            ChildGuard::spawn(name, switchboard(dir, &["serve", "--config", config]), dir);
        let port = child
            .wait_for_output_blocking("its listening line", |text| port_after(text, LISTENING));
        Serve { child, port }
    }

    /// [`Serve::start`] for async tests: the waiting does not block the runtime's thread.
    pub async fn start_async(dir: &Path, config: &str, name: &str) -> Serve {
        let (dir, config, name) = (dir.to_path_buf(), config.to_string(), name.to_string());
        tokio::task::spawn_blocking(move || Serve::start(&dir, &config, &name))
            .await
            .unwrap()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wait (blocking) until `GET /readyz` answers 200.
    #[track_caller]
    pub fn wait_ready(&mut self) {
        let port = self.port;
        self.child
            .wait_for_output_blocking("/readyz to answer 200", |_| {
                (super::http::status(port, "/readyz") == Some(200)).then_some(())
            });
    }

    /// [`Serve::wait_ready`] for async tests.
    pub async fn wait_ready_async(&mut self) {
        let url = format!("{}/readyz", self.address());
        let client = reqwest::Client::new();
        let child = &mut self.child;
        let stderr = child.stderr.clone();
        wait_until_async(
            || {
                let exited = child.child.try_wait().unwrap();
                let request = client.get(&url).send();
                async move {
                    if let Some(status) = exited {
                        panic!("serve exited with {status} before it was ready");
                    }
                    request.await.is_ok_and(|r| r.status() == 200)
                }
            },
            Lazy(|| {
                format!(
                    "{url} to answer 200\n{}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                )
            }),
            TIMEOUT,
        )
        .await
    }
}
