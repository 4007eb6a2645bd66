//! Command-line tests: they run the built `switchboard` binary, as a user would, and check
//! what it prints and how it exits (docs/commands.md, docs/rule-api.md).
//!
//! Every test builds its own folder (a `Sandbox`) with its own `switchboard.toml`, rules and
//! fixtures, so the tests do not depend on the shipped files — except
//! `the_shipped_fixtures_pass_switchboard_test`, which runs the repository's own.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::config::{Config, JELOU_SECRET, NOWHERE};
use common::http;
use common::process::{self, Serve};
use common::wait::{wait_until, TIMEOUT};

/// The config file every sandbox holds, passed as `--config`.
const CFG: &str = "switchboard.toml";
/// The Jelou phone-number contact id used by most fixtures, and its E.164 form.
const PHONE_DIGITS: &str = "573001112233";
const PHONE: &str = "+573001112233";

// ---- config -------------------------------------------------------------------------------

/// The sandboxes' config: the shared template with no `[delivery]` table (the built-in
/// defaults), Jelou credentials `id:secret`, the Jelou and generic CRM sources, and
/// `[routing]` for tags and conversations only; providers where nothing answers.
fn config() -> Config {
    Config::new()
        .storage("sqlite://data/sb.db")
        .delivery(None)
        .jelou_client("id", "secret")
        .sources(&["jelou", "crm"])
        .routing(&[("tag", "uchat"), ("conversation", "aelyst")])
}

// ---- fixtures -----------------------------------------------------------------------------

/// A Jelou external-support message from `contact_id` (a phone number's digits) saying `text`.
fn jelou_message(contact_id: &str, text: &str) -> Value {
    json!({
        "field": "messages",
        "object": "message_event",
        "event_type": "message",
        "timestamp": 1_763_770_000_000_i64,
        "project_id": "prj_test",
        "room_id": format!("room_{contact_id}_bot-12345"),
        "contact": {"id": contact_id, "name": "Ana Soto"},
        "conversation": {"id": "conv_test"},
        "bot": {"id": "bot-12345", "name": "Acme Assistant"},
        "value": {
            "id": format!("wamid.{contact_id}.{}", text.replace(' ', "_")),
            "type": "text",
            "content": {"body": text}
        }
    })
}

/// A fixture file's text for the `jelou` source, with an optional `expect`.
fn jelou_fixture(text: &str, expect: Option<Value>) -> String {
    let mut fixture = json!({
        "source": "jelou",
        "received_at": 1_763_770_000_120_i64,
        "body": jelou_message(PHONE_DIGITS, text),
    });
    if let Some(expect) = expect {
        fixture["expect"] = expect;
    }
    serde_json::to_string_pretty(&fixture).unwrap()
}

/// A fixture for the generic (Standard Webhooks) `crm` source.
fn crm_fixture(webhook_id: &str, text: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "source": "crm",
        "headers": {"webhook-id": webhook_id},
        "body": {
            "id": format!("crm-{webhook_id}"),
            "kind": "message.received",
            "user": {"id": "crm-contact-1", "phone": "+573151234567", "name": "Maria"},
            "bot_id": "bot-12345",
            "conversation_id": "crm-case-1",
            "message": {"id": format!("crm-msg-{webhook_id}"), "type": "text", "text": text},
            "tags": []
        }
    }))
    .unwrap()
}

fn add_tag_expect(name: &str) -> Value {
    json!([{"action": "add_tag", "provider": "uchat", "params": {"name": name}}])
}

// ---- running the binary -------------------------------------------------------------------

/// What one run printed and how it ended; `Display` shows all of it for assertion messages.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Out {
    fn from(output: Output) -> Out {
        Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code: {:?}\n----- stdout -----\n{}\n----- stderr -----\n{}\n------------------",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    #[track_caller]
    fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n{self}"
        );
        self
    }

    /// Every stdout line parsed as JSON (panics, showing the output, on a line that is not).
    #[track_caller]
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}\n{self}"))
            })
            .collect()
    }

    fn last_stdout_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default().trim()
    }
}

/// A temporary folder holding a config (`switchboard.toml`), `rules/` and fixtures; the
/// binary runs with it as the current directory.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    /// A sandbox with the default config (nothing reachable) and an empty `rules/`.
    fn new() -> Sandbox {
        Sandbox::with_config(&config())
    }

    fn with_config(config: &Config) -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        config.write(sandbox.root(), CFG);
        sandbox
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    /// Write a file (creating its folders), relative to the sandbox.
    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// The binary with `args`, run in the sandbox, with the default log level.
    fn command(&self, args: &[&str]) -> Command {
        process::switchboard(self.root(), args)
    }

    fn run(&self, args: &[&str]) -> Out {
        self.command(args).output().expect("run switchboard").into()
    }

    async fn run_async(&self, args: &[&str]) -> Out {
        tokio::process::Command::from(self.command(args))
            .output()
            .await
            .expect("run switchboard")
            .into()
    }

    /// Start `switchboard serve` on this sandbox's config (its stderr in `<name>.log`) and
    /// wait until it is ready.
    fn serve(&self, config: &str, name: &str) -> Serve {
        let mut server = Serve::start(self.root(), config, name);
        server.wait_ready();
        server
    }
}

/// The `path:line:col: message` problem lines of `text` that start with `path:`, as
/// (line, column, message).
fn problems_for(text: &str, path: &str) -> Vec<(usize, usize, String)> {
    let prefix = format!("{path}:");
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix(&prefix)?;
            let mut parts = rest.splitn(3, ':');
            let line_no = parts.next()?.parse().ok()?;
            let column = parts.next()?.parse().ok()?;
            let message = parts.next()?.trim().to_string();
            Some((line_no, column, message))
        })
        .collect()
}

// ---- check --------------------------------------------------------------------------------

#[test]
fn check_accepts_a_valid_config_and_rules_and_exits_0() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-handoff.rhai",
        "if event.text.contains(\"agent\") {\n    set_manual(3600);\n    send_text(\"hi\");\n}\n",
    );
    sb.write("rules/20-tag.rhai", "add_tag(\"vip\");\n");
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(0);
    assert!(
        !out.stdout.contains(".rhai:"),
        "a valid rule set must report no problem\n{out}"
    );
}

#[test]
fn check_reports_a_syntax_error_as_path_line_col_and_exits_1() {
    let sb = Sandbox::new();
    sb.write("rules/10-fine.rhai", "add_tag(\"vip\");\n");
    sb.write(
        "rules/20-broken.rhai",
        "// a comment\nlet a = 1;\nlet b = 2;\nlet c = ;\nadd_tag(\"x\");\n",
    );
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    let problems = problems_for(&out.stdout, "rules/20-broken.rhai");
    assert_eq!(
        problems.len(),
        1,
        "expected one `rules/20-broken.rhai:<line>:<col>: <message>` line on stdout\n{out}"
    );
    let (line, column, message) = &problems[0];
    assert_eq!(*line, 4, "the syntax error is on line 4\n{out}");
    assert!(*column >= 1, "columns count from 1\n{out}");
    assert!(!message.is_empty(), "the problem needs a message\n{out}");
    assert!(
        problems_for(&out.stdout, "rules/10-fine.rhai").is_empty(),
        "the valid rule must not be reported\n{out}"
    );
}

#[test]
fn check_and_test_word_rule_errors_for_people_with_path_line_col() {
    let sb = Sandbox::new();
    sb.write("rules/10-quotes.rhai", "send_text('hello');\n");
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.trim(),
        "rules/10-quotes.rhai:1:11: text must be in double quotes: write \"hello\", not 'hello' (single quotes hold one character only)",
        "{out}"
    );

    // A shadow rule is checked too.
    fs::remove_file(sb.path("rules/10-quotes.rhai")).unwrap();
    sb.write("rules/shadow/50-new.rhai", "send_text(\"a\"\n");
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    assert!(
        out.stdout.starts_with("rules/shadow/50-new.rhai:2:1: "),
        "{out}"
    );
    fs::remove_dir_all(sb.path("rules/shadow")).unwrap();
    sb.write("rules/10-quotes.rhai", "send_text('hello');\n");

    // At run time: a method on a field the event does not have (the Jelou message has no
    // email), as `test` shows it in the failing case's diff.
    fs::remove_file(sb.path("rules/10-quotes.rhai")).unwrap();
    sb.write(
        "rules/20-mail.rhai",
        "if event.user.email.ends_with(\"@acme.com\") { add_tag(\"staff\"); }\n",
    );
    sb.write(
        "fixtures/mail.json",
        &jelou_fixture("hello", Some(json!([]))),
    );
    let out = sb.run(&["test", "--config", CFG]);
    out.assert_code(1);
    assert!(
        out.stdout.contains(
            "rules/20-mail.rhai:1:21: ends_with() was called on a value that is empty (()): check that event.user.email is set before using it"
        ),
        "{out}"
    );
}

#[test]
fn check_reports_every_broken_rule_file_in_one_run() {
    let sb = Sandbox::new();
    sb.write("rules/10-first.rhai", "let x = (1 + ;\n");
    sb.write("rules/15-fine.rhai", "add_tag(\"vip\");\n");
    sb.write("rules/20-second.rhai", "\n\nif true {\n");
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    let first = problems_for(&out.stdout, "rules/10-first.rhai");
    let second = problems_for(&out.stdout, "rules/20-second.rhai");
    assert!(!first.is_empty(), "10-first.rhai must be reported\n{out}");
    assert!(
        !second.is_empty(),
        "20-second.rhai must be reported in the same run\n{out}"
    );
    assert_eq!(first[0].0, 1, "10-first.rhai's error is on line 1\n{out}");
}

#[test]
fn check_names_an_unknown_config_key_and_exits_1() {
    let sb = Sandbox::new();
    let text = config()
        .render()
        .replace("[server]\n", "[server]\nlisten_port = 8080\n");
    sb.write(CFG, &text);
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    assert!(
        out.stdout.contains("listen_port"),
        "the unknown key must be named on stdout\n{out}"
    );
}

#[test]
fn check_names_a_missing_environment_variable_and_exits_1() {
    const VAR: &str = "SWITCHBOARD_CLI_TEST_MISSING_SECRET";
    let sb = Sandbox::new();
    let with_var = |reference: &str| config().jelou_client("id", reference).render();

    sb.write(CFG, &with_var(&format!("${{{VAR}}}")));
    let out: Out = sb
        .command(&["check", "--config", CFG])
        .env_remove(VAR)
        .output()
        .unwrap()
        .into();
    out.assert_code(1);
    assert!(
        out.stdout.contains(VAR),
        "the missing variable must be named on stdout\n{out}"
    );

    // The same reference with a default is fine.
    sb.write(CFG, &with_var(&format!("${{{VAR}:-fallback}}")));
    let out: Out = sb
        .command(&["check", "--config", CFG])
        .env_remove(VAR)
        .output()
        .unwrap()
        .into();
    out.assert_code(0);
}

// ---- --version and serve --print-config ---------------------------------------------------

#[test]
fn version_prints_the_crate_version() {
    let out = Sandbox::new().run(&["--version"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("switchboard {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
}

#[test]
fn print_config_fills_in_defaults_expands_variables_and_redacts_every_secret() {
    let sandbox = Sandbox::with_config(
        &Config::new()
            .admin_token("${SB_TEST_ADMIN_TOKEN}")
            .storage("postgres://sb:hunter2@db.example:5432/sb?password=hunter3")
            .sources(&["jelou", "uchat"])
            .extra(
                "[sources.whatsapp]\nkind = \"whatsapp\"\nsecret = \"wa-app-secret\"\n\
                 verify_token = \"wa-verify-token\"\n",
            ),
    );
    let out: Out = sandbox
        .command(&["serve", "--print-config"])
        .env("SB_TEST_ADMIN_TOKEN", "admin-token-from-env")
        .output()
        .unwrap()
        .into();
    out.assert_code(0);
    for secret in [
        "admin-token-from-env",
        "hunter2",
        "hunter3",
        JELOU_SECRET,
        common::config::UCHAT_TOKEN,
        common::config::JELOU_CLIENT_SECRET,
        "uchat-api-token",
        "aelyst-api-token",
        "wa-app-secret",
        "wa-verify-token",
    ] {
        assert!(!out.stdout.contains(secret), "{secret} printed\n{out}");
    }
    for line in [
        "admin_token = \"<redacted>\"",
        "url = \"postgres://sb:<redacted>@db.example:5432/sb?password=<redacted>\"",
        "body_timeout_ms = 10000",
        "retention_days = 30",
        "synchronous = \"normal\"",
        "breaker_failures = 20",
        "client_secret = \"<redacted>\"",
        "token = \"<redacted>\"",
        "secret = \"<redacted>\"",
        "verify_token = \"<redacted>\"",
        "format = \"text\"",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "no line {line:?}\n{out}"
        );
    }

    // What it prints is a config file that prints the same again.
    sandbox.write("printed.toml", &out.stdout);
    let again = sandbox.run(&["serve", "--print-config", "--config", "printed.toml"]);
    again.assert_code(0);
    let body = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&again.stdout), body(&out.stdout), "{again}");
}

#[test]
fn generate_prints_a_man_page_and_completions_that_name_every_command() {
    let sandbox = Sandbox::new();
    let man = sandbox.run(&["generate", "man"]);
    man.assert_code(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH switchboard 1"),
        "{man}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = sandbox.run(&["generate", shell]);
        out.assert_code(0);
        for command in [
            "serve", "check", "replay", "test", "post", "fixture", "generate",
        ] {
            assert!(
                out.stdout.contains(command),
                "{shell} completion lacks {command}\n{out}"
            );
        }
    }
    let unknown = sandbox.run(&["generate", "tcsh"]);
    unknown.assert_code(2);
    assert!(unknown.stderr.contains("possible values"), "{unknown}");
}

#[test]
fn print_config_with_a_config_error_says_where_and_exits_1() {
    let sandbox = Sandbox::new();
    sandbox.write(CFG, "[delivery]\ntimeout_ms = 0\n");
    let out = sandbox.run(&["serve", "--print-config"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("switchboard.toml:2:1: delivery.timeout_ms must be at least 1"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

// ---- usage errors -------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2_and_print_nothing_on_stdout() {
    let sb = Sandbox::new();
    sb.write("fixtures/a.json", &jelou_fixture("hello", None));
    for args in [
        &["frobnicate"][..],
        &["replay", "--config", CFG][..],
        &["post", "--config", CFG][..],
        &["check", "--config", CFG, "--no-such-flag"][..],
        &["replay", "--config", CFG, "--sned", "fixtures/a.json"][..],
        &[][..],
    ] {
        let out = sb.run(args);
        assert_eq!(
            out.code,
            Some(2),
            "`switchboard {}` is a usage error\n{out}",
            args.join(" ")
        );
        assert!(
            out.stdout.is_empty(),
            "a usage error belongs on stderr (`switchboard {}`)\n{out}",
            args.join(" ")
        );
    }
}

// ---- replay (dry run) ---------------------------------------------------------------------

#[tokio::test]
async fn replay_dry_run_prints_one_json_line_per_action_and_calls_no_provider() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("any request during a dry run")
        .mount(&server)
        .await;
    let uri = server.uri();
    let sb = Sandbox::with_config(&config().jelou(&uri).uchat(&uri).aelyst(&uri));
    sb.write(
        "rules/10-handoff.rhai",
        "set_manual(3600);\nsend_text(\"hi\");\n",
    );
    sb.write("rules/20-nothing.rhai", "let quiet = true;\n");
    sb.write(
        "rules/30-tags.rhai",
        "add_tag(\"vip\");\nprovider(\"aelyst\").add_tag(\"gold\");\n",
    );
    sb.write("fixtures/a.json", &jelou_fixture("hello", None));

    let out = sb
        .run_async(&["replay", "--config", CFG, "fixtures/a.json"])
        .await;
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 4, "one line per action\n{out}");

    let expected = [
        ("10-handoff.rhai", "set_user_state", "jelou"),
        ("10-handoff.rhai", "send_text", "jelou"),
        ("30-tags.rhai", "add_tag", "uchat"),
        ("30-tags.rhai", "add_tag", "aelyst"),
    ];
    let event_id = lines[0]["event_id"].as_str().unwrap_or_default();
    assert!(event_id.starts_with("evt_"), "event_id is evt_...\n{out}");
    for (seq, (line, (rule, action, provider))) in lines.iter().zip(expected).enumerate() {
        let mut keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["action", "event_id", "params", "provider", "request", "rule", "seq", "source"],
            "the keys of a dry-run line (no `response`)\n{out}"
        );
        assert_eq!(line["event_id"], event_id, "one event, one id\n{out}");
        assert_eq!(line["source"], "jelou", "{out}");
        assert_eq!(line["rule"], rule, "{out}");
        assert_eq!(line["seq"], seq, "seq counts across rules\n{out}");
        assert_eq!(line["action"], action, "{out}");
        assert_eq!(line["provider"], provider, "{out}");
        let mut request_keys: Vec<&str> = line["request"]
            .as_object()
            .unwrap_or_else(|| panic!("request is an object\n{out}"))
            .keys()
            .map(String::as_str)
            .collect();
        request_keys.sort_unstable();
        assert_eq!(
            request_keys,
            ["body", "method", "url"],
            "a request shows method, url and body, never headers\n{out}"
        );
        assert!(
            line["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&uri),
            "the url is the provider's\n{out}"
        );
    }
    assert_eq!(lines[1]["params"], json!({"text": "hi"}), "{out}");
    assert_eq!(lines[2]["params"], json!({"name": "vip"}), "{out}");
    assert_eq!(
        lines[3]["request"]["url"],
        format!("{uri}/contact/phone:{PHONE}/tag"),
        "{out}"
    );

    server.verify().await;
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "a dry run makes no network call"
    );
    assert!(
        !sb.path("data/sb.db").exists(),
        "a dry run writes nothing (the SQLite store was created)"
    );
}

#[test]
fn replay_dry_run_shows_the_exact_jelou_set_manual_request() {
    let sb = Sandbox::new();
    sb.write("rules/10-handoff.rhai", "set_manual(3600);\n");
    sb.write("fixtures/a.json", &jelou_fixture("agent please", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["action"], "set_user_state", "{out}");
    assert_eq!(lines[0]["provider"], "jelou", "{out}");
    assert_eq!(
        lines[0]["params"],
        json!({"state": "manual", "ttl": 3600}),
        "{out}"
    );
    assert_eq!(
        lines[0]["request"],
        json!({
            "method": "POST",
            "url": format!("{NOWHERE}/v1/users/state"),
            // Native Jelou event: the event's own bot and user.
            "body": {"botId": "bot-12345", "userId": PHONE_DIGITS, "state": "manual", "ttl": 3600}
        }),
        "{out}"
    );
}

#[test]
fn replay_dry_run_shows_a_uchat_phone_lookup_as_a_placeholder() {
    let sb = Sandbox::new();
    sb.write("rules/30-vip.rhai", "add_tag(\"vip\");\n");
    sb.write("fixtures/a.json", &jelou_fixture("premium", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["provider"], "uchat", "tags route to uchat\n{out}");
    assert_eq!(
        lines[0]["request"],
        json!({
            "method": "POST",
            "url": format!("{NOWHERE}/subscriber/add-tag-by-name"),
            "body": {"user_ns": format!("<lookup uchat phone={PHONE}>"), "tag_name": "vip"}
        }),
        "{out}"
    );
}

#[test]
fn replay_runs_every_json_fixture_in_a_folder() {
    let sb = Sandbox::new();
    sb.write("rules/10-echo.rhai", "add_tag(event.text);\n");
    sb.write("cases/a.json", &jelou_fixture("from-a", None));
    sb.write("cases/b.json", &jelou_fixture("from-b", None));
    sb.write("cases/README.md", "# not a fixture\n");
    let out = sb.run(&["replay", "--config", CFG, "cases"]);
    out.assert_code(0);
    let lines = out.json_lines();
    let mut names: Vec<&str> = lines
        .iter()
        .map(|l| l["params"]["name"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["from-a", "from-b"], "both fixtures ran\n{out}");
    assert_ne!(
        lines[0]["event_id"], lines[1]["event_id"],
        "each fixture is its own event\n{out}"
    );
}

#[test]
fn replay_into_a_closed_pipe_exits_quietly_with_success() {
    // `switchboard replay fixtures/ | head -1`: the reader goes away after one line. The
    // output is far bigger than a pipe's buffer, so later writes do meet the closed pipe.
    let sb = Sandbox::new();
    sb.write(
        "rules/10-many.rhai",
        "for i in 0..20 { add_tag(`${event.text}-${i}`); }\n",
    );
    for n in 0..200 {
        sb.write(
            &format!("cases/{n:03}.json"),
            &jelou_fixture(&format!("from-{n}"), None),
        );
    }
    let mut child = sb
        .command(&["replay", "--config", CFG, "cases"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains("\"action\":\"add_tag\""), "{first}");
    drop(stdout);
    let out: Out = child.wait_with_output().unwrap().into();
    out.assert_code(0);
    assert!(
        !out.stderr.contains("panicked"),
        "no panic on a closed pipe\n{out}"
    );
}

#[test]
fn replay_reports_a_throwing_rule_as_path_line_col_and_keeps_the_other_rules_actions() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-throws.rhai",
        "// records an action, then fails\nsend_text(\"lost\");\nthrow \"boom\";\n",
    );
    sb.write("rules/20-fine.rhai", "add_tag(\"kept\");\n");
    sb.write("fixtures/a.json", &jelou_fixture("hello", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(1);
    let problems = problems_for(&out.stderr, "rules/10-throws.rhai");
    assert!(
        problems
            .iter()
            .any(|(line, _, message)| *line == 3 && message.contains("boom")),
        "stderr must hold `rules/10-throws.rhai:3:<col>: boom`\n{out}"
    );
    let lines = out.json_lines();
    assert_eq!(
        lines.len(),
        1,
        "the failed rule's action is dropped, the other rule's is printed\n{out}"
    );
    assert_eq!(lines[0]["rule"], "20-fine.rhai", "{out}");
    assert_eq!(lines[0]["params"], json!({"name": "kept"}), "{out}");
    assert_eq!(lines[0]["seq"], 0, "{out}");
}

#[test]
fn replay_stdout_holds_only_json_lines_even_when_rules_log() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-chatty.rhai",
        "log(\"chatty-log-line\");\nprint(\"chatty-print-line\");\ndebug(\"chatty-debug-line\");\nadd_tag(\"vip\");\n",
    );
    sb.write("fixtures/a.json", &jelou_fixture("hello", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(0);
    assert_eq!(out.json_lines().len(), 1, "{out}");
    for text in ["chatty-log-line", "chatty-print-line", "chatty-debug-line"] {
        assert!(
            !out.stdout.contains(text),
            "logs must not reach stdout\n{out}"
        );
        assert!(out.stderr.contains(text), "logs go to stderr\n{out}");
    }
}

// ---- replay --send ------------------------------------------------------------------------

#[tokio::test]
async fn replay_send_calls_jelou_with_basic_auth_and_adds_the_response() {
    let jelou = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/users/state"))
        // base64("id:secret")
        .and(header("authorization", "Basic aWQ6c2VjcmV0"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "botId": "bot-12345", "userId": PHONE_DIGITS, "state": "manual", "ttl": 3600
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .named("jelou set_user_state")
        .mount(&jelou)
        .await;
    let uri = jelou.uri();
    let sb = Sandbox::with_config(&config().jelou(&uri));
    sb.write("rules/10-handoff.rhai", "set_manual(3600);\n");
    sb.write("fixtures/a.json", &jelou_fixture("agent", None));

    let out = sb
        .run_async(&["replay", "--config", CFG, "--send", "fixtures/a.json"])
        .await;
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["response"]["status"], 200, "{out}");
    assert_eq!(lines[0]["action"], "set_user_state", "{out}");
    jelou.verify().await;
}

#[tokio::test]
async fn replay_send_looks_up_a_uchat_subscriber_by_phone_then_tags_them() {
    let uchat = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/subscribers"))
        .and(query_param("phone", PHONE))
        .and(query_param("limit", "2"))
        .and(header("authorization", "Bearer uchat-api-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"user_ns": "ns1"}]})),
        )
        .expect(1)
        .named("uchat subscriber lookup")
        .mount(&uchat)
        .await;
    Mock::given(method("POST"))
        .and(path("/subscriber/add-tag-by-name"))
        .and(header("authorization", "Bearer uchat-api-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"user_ns": "ns1", "tag_name": "vip"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .expect(1)
        .named("uchat add-tag-by-name")
        .mount(&uchat)
        .await;
    let uri = uchat.uri();
    let sb = Sandbox::with_config(&config().uchat(&uri));
    sb.write("rules/30-vip.rhai", "add_tag(\"vip\");\n");
    sb.write("fixtures/a.json", &jelou_fixture("premium", None));

    let out = sb
        .run_async(&["replay", "--config", CFG, "--send", "fixtures/a.json"])
        .await;
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["provider"], "uchat", "{out}");
    assert_eq!(lines[0]["response"]["status"], 200, "{out}");
    uchat.verify().await;

    let requests = uchat.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "a lookup, then the tag");
    assert_eq!(requests[0].method.as_str(), "GET", "the lookup comes first");
    assert_eq!(
        requests[0].url.query(),
        Some(format!("phone=%2B{PHONE_DIGITS}&limit=2").as_str()),
        "the phone is sent with its + encoded"
    );
    assert_eq!(requests[1].method.as_str(), "POST");
}

#[tokio::test]
async fn replay_send_calls_aelyst_with_bearer_auth_and_the_phone_identifier() {
    let aelyst = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/contact/phone:{PHONE}/tag")))
        .and(header("authorization", "Bearer aelyst-api-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!(["vip"])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(1)
        .named("aelyst add tag")
        .mount(&aelyst)
        .await;
    let uri = aelyst.uri();
    let sb = Sandbox::with_config(&config().aelyst(&uri));
    sb.write(
        "rules/30-vip.rhai",
        "provider(\"aelyst\").add_tag(\"vip\");\n",
    );
    sb.write("fixtures/a.json", &jelou_fixture("premium", None));

    let out = sb
        .run_async(&["replay", "--config", CFG, "--send", "fixtures/a.json"])
        .await;
    out.assert_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["provider"], "aelyst", "{out}");
    assert_eq!(lines[0]["response"]["status"], 200, "{out}");
    aelyst.verify().await;
}

#[tokio::test]
async fn replay_send_reports_a_provider_failure_and_exits_1() {
    let jelou = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad"})))
        .expect(1)
        .mount(&jelou)
        .await;
    let uri = jelou.uri();
    let sb = Sandbox::with_config(&config().jelou(&uri));
    sb.write("rules/10-handoff.rhai", "set_manual(3600);\n");
    sb.write("fixtures/a.json", &jelou_fixture("agent", None));
    let out = sb
        .run_async(&["replay", "--config", CFG, "--send", "fixtures/a.json"])
        .await;
    out.assert_code(1);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["response"]["status"], 400, "{out}");
    jelou.verify().await;
}

// ---- test ---------------------------------------------------------------------------------

/// A sandbox whose one rule tags messages that mention "premium" with "vip".
fn vip_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "rules/30-vip.rhai",
        "if event.text.contains(\"premium\") {\n    add_tag(\"vip\");\n}\n",
    );
    sb
}

#[test]
fn test_prints_fail_and_a_diff_for_a_failing_fixture_and_exits_1() {
    let sb = vip_sandbox();
    sb.write(
        "fixtures/pass.json",
        &jelou_fixture("premium please", Some(add_tag_expect("vip"))),
    );
    sb.write(
        "fixtures/fail.json",
        &jelou_fixture("premium please", Some(add_tag_expect("gold"))),
    );
    let out = sb.run(&["test", "--config", CFG, "fixtures"]);
    out.assert_code(1);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim() == "FAIL fixtures/fail.json"),
        "the failing fixture is named\n{out}"
    );
    assert!(
        !out.stdout.contains("FAIL fixtures/pass.json"),
        "the passing fixture is not a failure\n{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with('-') && l.contains("\"gold\"")),
        "the diff shows the expected value as removed\n{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with('+') && l.contains("\"vip\"")),
        "the diff shows the actual value as added\n{out}"
    );
    assert_eq!(out.last_stdout_line(), "1 passed, 1 failed", "{out}");
}

#[test]
fn test_expect_empty_passes_only_when_no_rule_fires() {
    let sb = vip_sandbox();
    sb.write(
        "fixtures/quiet.json",
        &jelou_fixture("just saying hello", Some(json!([]))),
    );
    let out = sb.run(&["test", "--config", CFG, "fixtures/quiet.json"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "1 passed, 0 failed", "{out}");

    sb.write(
        "fixtures/noisy.json",
        &jelou_fixture("premium please", Some(json!([]))),
    );
    let out = sb.run(&["test", "--config", CFG, "fixtures/noisy.json"]);
    out.assert_code(1);
    assert!(
        out.stdout.contains("FAIL fixtures/noisy.json"),
        "`expect: []` fails when a rule acts\n{out}"
    );
    assert_eq!(out.last_stdout_line(), "0 passed, 1 failed", "{out}");
}

#[test]
fn test_does_not_count_fixtures_without_expect() {
    let sb = vip_sandbox();
    sb.write(
        "fixtures/with-expect.json",
        &jelou_fixture("premium please", Some(add_tag_expect("vip"))),
    );
    sb.write(
        "fixtures/replay-only.json",
        &jelou_fixture("premium please", None),
    );
    let out = sb.run(&["test", "--config", CFG, "fixtures"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "1 passed, 0 failed", "{out}");
}

#[test]
fn test_fails_a_case_on_which_a_rule_errs_unless_the_fixture_names_it_in_rule_errors() {
    let sb = vip_sandbox();
    sb.write(
        "rules/40-broken.rhai",
        "if event.text.contains(\"boom\") { throw \"broken on purpose\"; }\n",
    );
    // The rule throws and no action was expected: before, this passed with a warning.
    sb.write(
        "fixtures/boom.json",
        &jelou_fixture("boom", Some(json!([]))),
    );
    let out = sb.run(&["test", "--config", CFG, "fixtures/boom.json"]);
    out.assert_code(1);
    assert!(out.stdout.contains("FAIL fixtures/boom.json"), "{out}");
    assert!(
        out.stdout.contains("rule error:") && out.stdout.contains("40-broken.rhai"),
        "the failure shows the rule's error\n{out}"
    );
    assert_eq!(out.last_stdout_line(), "0 passed, 1 failed", "{out}");

    // Named in rule_errors, the error is expected: the case passes.
    let mut expected: Value =
        serde_json::from_str(&jelou_fixture("boom", Some(json!([])))).unwrap();
    expected["rule_errors"] = json!(["40-broken.rhai"]);
    sb.write("fixtures/boom.json", &expected.to_string());
    let out = sb.run(&["test", "--config", CFG, "fixtures/boom.json"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "1 passed, 0 failed", "{out}");

    // A rule named in rule_errors that does not err fails the case.
    let mut wrong: Value = serde_json::from_str(&jelou_fixture("calm", Some(json!([])))).unwrap();
    wrong["rule_errors"] = json!(["40-broken.rhai"]);
    sb.write("fixtures/calm.json", &wrong.to_string());
    let out = sb.run(&["test", "--config", CFG, "fixtures/calm.json"]);
    out.assert_code(1);
    assert!(
        out.stdout.contains("expected an error from 40-broken.rhai"),
        "{out}"
    );
}

#[test]
fn test_with_no_fixture_carrying_expect_fails_and_says_so() {
    let sb = vip_sandbox();
    sb.write("empty/README.md", "# nothing here\n");
    sb.write("only-replay/a.json", &jelou_fixture("premium please", None));
    for folder in ["empty", "only-replay"] {
        let out = sb.run(&["test", "--config", CFG, folder]);
        out.assert_code(1);
        assert!(
            out.stderr
                .contains(&format!("no fixtures with expect under {folder}")),
            "{out}"
        );
    }
}

#[test]
fn test_reads_fixtures_from_the_current_directory_by_default() {
    // The config lives in conf/, so its folder and the current one differ.
    let sb = Sandbox::new();
    sb.write("conf/switchboard.toml", &config().render());
    sb.write(
        "conf/rules/30-vip.rhai",
        "if event.text.contains(\"premium\") {\n    add_tag(\"vip\");\n}\n",
    );
    sb.write(
        "fixtures/one.json",
        &jelou_fixture("premium please", Some(add_tag_expect("vip"))),
    );
    sb.write(
        "fixtures/two.json",
        &jelou_fixture("hello", Some(json!([]))),
    );
    // Would fail if the default folder were taken next to the config file.
    sb.write(
        "conf/fixtures/wrong.json",
        &jelou_fixture("hello", Some(add_tag_expect("never"))),
    );
    let out = sb.run(&["test", "--config", "conf/switchboard.toml"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "2 passed, 0 failed", "{out}");
}

#[test]
fn the_shipped_fixtures_pass_switchboard_test() {
    let out: Out = Command::new(process::BIN)
        .arg("test")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard test")
        .into();
    out.assert_code(0);
    let last = out.last_stdout_line();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line must be `N passed, 0 failed`\n{out}"));
    assert!(passed >= 10, "at least ten shipped cases\n{out}");
}

// ---- post and serve -----------------------------------------------------------------------

/// A sandbox whose config listens on port 0 (`serve` reports the port it got), with a
/// harmless rule.
fn served_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("rules/10-quiet.rhai", "let nothing = ();\n");
    sb
}

/// `post` posts to `http://{server.listen}` unless given `--url`. The server listens on
/// port 0 (the kernel's pick, read from its log), so this writes `post.toml`: the sandbox's
/// config naming the port the server got, for `post --config post.toml` to find it there.
const POST_CFG: &str = "post.toml";

fn write_post_config(sb: &Sandbox, server: &Serve) {
    let listen = format!("127.0.0.1:{}", server.port());
    let text = fs::read_to_string(sb.path(CFG)).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{listen}\""),
    );
    sb.write(POST_CFG, &text);
}

/// The status and JSON answer of a `post` stdout line for `file`.
#[track_caller]
fn posted(out: &Out, file: &str) -> (u16, Value) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(file))
        .unwrap_or_else(|| panic!("no answer printed for {file}\n{out}"));
    let status = line
        .split_whitespace()
        .find_map(|word| word.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}\n{out}"));
    let body = line
        .find('{')
        .and_then(|start| serde_json::from_str(&line[start..]).ok())
        .unwrap_or_else(|| panic!("no JSON answer in {line:?}\n{out}"));
    (status, body)
}

#[test]
fn post_answers_202_then_duplicate_with_the_same_event_id() {
    let sb = served_sandbox();
    sb.write("fixtures/jelou.json", &jelou_fixture("hello there", None));
    let server = sb.serve(CFG, "serve");
    write_post_config(&sb, &server);

    let first = sb.run(&["post", "--config", POST_CFG, "fixtures/jelou.json"]);
    first.assert_code(0);
    let (status, answer) = posted(&first, "fixtures/jelou.json");
    assert_eq!(status, 202, "{first}");
    assert_eq!(answer["duplicate"], false, "{first}");
    let event_id = answer["event_id"].as_str().unwrap_or_default().to_string();
    assert!(event_id.starts_with("evt_"), "{first}");

    let again = sb.run(&["post", "--config", POST_CFG, "fixtures/jelou.json"]);
    again.assert_code(0);
    let (status, answer) = posted(&again, "fixtures/jelou.json");
    assert_eq!(status, 202, "{again}");
    assert_eq!(answer["duplicate"], true, "{again}");
    assert_eq!(
        answer["event_id"], event_id,
        "a duplicate answers with the first event's id\n{again}"
    );
}

#[test]
fn post_signs_a_generic_standard_webhooks_fixture() {
    let sb = served_sandbox();
    sb.write("fixtures/crm.json", &crm_fixture("msg_cli_test_1", "hello"));
    let server = sb.serve(CFG, "serve");
    write_post_config(&sb, &server);

    let out = sb.run(&["post", "--config", POST_CFG, "fixtures/crm.json"]);
    out.assert_code(0);
    let (status, answer) = posted(&out, "fixtures/crm.json");
    assert_eq!(
        status,
        202,
        "{out}\n----- server -----\n{}",
        server.report()
    );
    assert_eq!(answer["duplicate"], false, "{out}");
    assert!(
        answer["event_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("evt_"),
        "{out}"
    );
}

#[test]
fn serve_refuses_a_second_process_on_the_same_sqlite_file() {
    let sb = served_sandbox();
    let first = sb.serve(CFG, "first");

    // Same folder, so the same `sqlite://data/sb.db`; port 0 again, so another port, and
    // only the store clashes.
    sb.write("second.toml", &config().render());
    let second = sb
        .command(&["serve", "--config", "second.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out: Out = process::wait_exit(second).into();
    out.assert_code(1);
    let expected = format!("store locked by pid {}", first.id());
    assert!(
        out.stderr.contains(&expected),
        "stderr must say `{expected}`\n{out}"
    );
    assert_eq!(
        http::status(first.port(), "/readyz"),
        Some(200),
        "the first server keeps running"
    );
}

#[test]
fn serve_with_a_broken_rule_exits_1_and_prints_the_problem() {
    let sb = served_sandbox();
    sb.write("rules/20-broken.rhai", "let a = 1;\nlet b = ;\n");
    let child = sb
        .command(&["serve", "--config", CFG])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out: Out = process::wait_exit(child).into();
    out.assert_code(1);
    let problems = problems_for(&out.stderr, "rules/20-broken.rhai");
    assert!(
        problems.iter().any(|(line, _, _)| *line == 2),
        "stderr must hold `rules/20-broken.rhai:2:<col>: <message>`\n{out}"
    );
}

// ---- memory and opening hours in `test` ----------------------------------------------------

/// A fixture from user 573001112233 at a pinned time, seeding `memory`, expecting `expect`.
fn timed_fixture(text: &str, received_at: i64, memory: Value, expect: Value) -> String {
    let mut body = jelou_message(PHONE_DIGITS, text);
    body["value"]["id"] = json!(format!("m-{received_at}"));
    serde_json::to_string_pretty(&json!({
        "source": "jelou", "received_at": received_at, "body": body, "memory": memory, "expect": expect,
    }))
    .unwrap()
}

#[test]
fn test_keeps_memory_for_the_run_in_fixture_order_honours_ttl_and_writes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "rules/10-remember.rhai",
        r#"
        let seen = memory_get("seen");
        if seen != () { send_text("seen " + seen); }
        memory_set("seen", event.text, 60);
        "#,
    );
    let t = 1_763_770_000_000_i64;
    let text =
        |t: &str| json!([{"action": "send_text", "provider": "jelou", "params": {"text": t}}]);
    // Fixtures run in file-name order within the one run; memory carries over.
    sandbox.write(
        "cases/1-seeded.json",
        &timed_fixture("first", t, json!({"seen": "seed"}), text("seen seed")),
    );
    sandbox.write(
        "cases/2-remembers.json",
        &timed_fixture("second", t + 30_000, json!({}), text("seen first")),
    );
    // 61 s after the last write: the 60-second value has expired.
    sandbox.write(
        "cases/3-expired.json",
        &timed_fixture("third", t + 91_000, json!({}), json!([])),
    );
    let out = sandbox.run(&["test", "cases"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "3 passed, 0 failed", "{out}");
    assert!(
        !sandbox.path("data").exists(),
        "test wrote to the store:\n{out}"
    );
}

#[test]
fn test_pins_within_hours_to_the_fixtures_received_at() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "rules/10-hours.rhai",
        "if !within_hours(\"mon-fri 09:00-18:00\", \"America/Bogota\") { send_text(\"closed\"); }",
    );
    let closed =
        json!([{"action": "send_text", "provider": "jelou", "params": {"text": "closed"}}]);
    // Monday 2026-11-23 10:00 in Bogota (15:00 UTC) is open; Saturday 2026-11-28 is not.
    sandbox.write(
        "cases/open.json",
        &timed_fixture("hi", 1_795_446_000_000, json!({}), json!([])),
    );
    sandbox.write(
        "cases/closed.json",
        &timed_fixture("hi", 1_795_878_000_000, json!({}), closed),
    );
    let out = sandbox.run(&["test", "cases"]);
    assert_eq!(out.last_stdout_line(), "2 passed, 0 failed", "{out}");
}

// ---- check: the static analysis of docs/rule-api.md -------------------------------------------

#[test]
fn check_finds_unknown_functions_argument_counts_providers_and_impossible_actions_in_one_run() {
    let sandbox = Sandbox::new();
    // Sources here are jelou and crm, both going to the jelou provider; [routing] has tag
    // and conversation only.
    sandbox.write(
        "rules/10-unknown.rhai",
        "frobnicate(1);\nsend_txt(\"hi\");\n",
    );
    sandbox.write("rules/20-args.rhai", "add_tag(\"a\", \"b\");\n");
    sandbox.write(
        "rules/30-provider.rhai",
        "provider(\"nope\").add_tag(\"x\");\n",
    );
    sandbox.write(
        "rules/40-cannot.rhai",
        "if true {\n    provider(\"jelou\").add_tag(\"x\");\n}\n",
    );
    sandbox.write("rules/50-no-route.rhai", "add_label(\"x\");\n");
    sandbox.write(
        "rules/60-handle-args.rhai",
        "provider(\"aelyst\").send_text(\"hi\", \"extra\");\n",
    );
    sandbox.write(
        "rules/70-fine.rhai",
        "fn helper(x) { x + 1 }\nlet t = event.text.to_lower();\nif t.contains(\"hi\") && \"vip\" in event.tags { add_tag(\"vip\"); }\n\
         let p = provider(\"uchat\");\np.add_label(\"z\");\nlog(`n = ${helper(1)}`);\nprint(type_of(t));\n\
         if within_hours(\"mon-fri 09:00-18:00\", \"UTC\") { send_text(\"x\"); }\n\
         memory_set(\"k\", (memory_get(\"k\") ?? 0) + 1, 60);\nclose_conversation(\"a\", \"b\");\n",
    );
    let out = sandbox.run(&["check"]);
    out.assert_code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let expected = [
        "rules/10-unknown.rhai:1:1: unknown function frobnicate()",
        "rules/10-unknown.rhai:2:1: unknown function send_txt(); did you mean send_text?",
        "rules/20-args.rhai:1:1: add_tag() takes 1 argument(s), not 2",
        "rules/30-provider.rhai:1:1: provider(\"nope\"): no provider \"nope\" is configured",
        "rules/40-cannot.rhai:2:23: provider(\"jelou\").add_tag(): jelou providers cannot carry out add_tag",
        "rules/50-no-route.rhai:1:1: add_label(): no source's provider can carry out add_label, and [routing] has no `label` entry",
        "rules/60-handle-args.rhai:1:20: send_text() takes 1 argument(s), not 2",
    ];
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "expected a line starting\n  {want}\ngot\n  {line}\n{out}"
        );
    }
}

#[test]
fn a_standard_webhooks_secret_with_an_empty_key_is_refused_by_check_and_serve() {
    // `whsec_` alone is an empty HMAC key: anyone could sign with it.
    let sb = Sandbox::with_config(
        &config().extra("[sources.open]\nkind = \"generic\"\nsecret = \"whsec_\"\n"),
    );
    let check = sb.run(&["check", "--config", CFG]);
    check.assert_code(1);
    assert!(
        check
            .stdout
            .contains("sources.open.secret: this Standard Webhooks secret has an empty key"),
        "{check}"
    );
    let serve = sb.run(&["serve", "--config", CFG]);
    serve.assert_code(1);
    assert!(serve.stderr.contains("empty key"), "{serve}");
}

#[test]
fn check_reports_reads_of_event_fields_that_do_not_exist_with_a_suggestion() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-fields.rhai",
        "if event.txt == \"x\" { add_tag(\"a\"); }\nlet n = event.user.nmae;\nlet ok = event.raw.any.thing + event.message.type + event.message.status + event.user.phone;\nif event.text.contains(\"hi\") { add_tag(\"b\"); }\n",
    );
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    let problems: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        problems,
        [
            "rules/10-fields.rhai:1:10: event.txt is not a field of the event; did you mean event.text?",
            "rules/10-fields.rhai:2:20: event.user.nmae is not a field of the event; did you mean event.user.name?",
        ],
        "{out}"
    );
}

#[test]
fn check_reports_a_literal_argument_of_the_wrong_type() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-types.rhai",
        "add_tag(42);\nset_manual(\"soon\");\nmemory_set(\"k\", 42);\nsend_text(`hi ${event.text}`);\nadd_tag(event.text);\n",
    );
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    let problems: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        problems,
        [
            "rules/10-types.rhai:1:1: add_tag(): argument 1 is a whole number, but add_tag takes text there",
            "rules/10-types.rhai:2:1: set_manual(): argument 1 is text, but set_manual takes a whole number there",
        ],
        "memory_set takes any value, and values known only at run time are not judged\n{out}"
    );
}

#[test]
fn check_reports_a_routing_entry_that_cannot_carry_out_the_action() {
    let sandbox = Sandbox::new();
    let config = fs::read_to_string(sandbox.path(CFG)).unwrap();
    sandbox.write(
        CFG,
        &config.replace("[routing]\n", "[routing]\nmessage = \"uchat\"\n"),
    );
    sandbox.write(
        "rules/10-call.rhai",
        "send_call_button(\"call us\", \"Call\");\nsend_text(\"fine\");\n",
    );
    let out = sandbox.run(&["check"]);
    out.assert_code(1);
    assert!(
        out.stdout.trim() == "rules/10-call.rhai:1:1: send_call_button(): [routing] message = \"uchat\", but uchat providers cannot carry out send_call_button",
        "{out}"
    );
}

// ---- fixture: from real traffic to a test ---------------------------------------------------

#[test]
fn fixture_writes_a_stored_event_with_its_actions_as_expect_and_the_case_passes() {
    let sb = served_sandbox();
    sb.write(
        "rules/10-tag.rhai",
        "if event.text.contains(\"premium\") { add_tag(\"vip\"); send_text(\"welcome\"); }\n",
    );
    sb.write(
        "cases/crm.json",
        &crm_fixture("msg_fixture_1", "I want premium"),
    );
    let server = sb.serve(CFG, "serve");
    let posted_out = sb.run(&["post", "--url", &server.address(), "cases/crm.json"]);
    let (status, answer) = posted(&posted_out, "cases/crm.json");
    assert_eq!(status, 202, "{posted_out}");
    let event_id = answer["event_id"].as_str().unwrap().to_string();

    // The rules ran in the server; wait until the event's decision is stored.
    let written = wait_until(
        || {
            let out = sb.run(&["fixture", &event_id, "--out", "cases/from-traffic.json"]);
            let text = fs::read_to_string(sb.path("cases/from-traffic.json")).unwrap_or_default();
            (out.code == Some(0) && text.contains("\"expect\": [\n")).then_some(text)
        },
        "`switchboard fixture` to write the event with its actions",
        TIMEOUT,
    );
    let fixture: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(fixture["source"], "crm");
    assert_eq!(fixture["headers"]["webhook-id"], "msg_fixture_1");
    assert!(fixture["received_at"].is_i64());
    assert_eq!(
        fixture["expect"],
        json!([
            {"action": "add_tag", "provider": "uchat", "params": {"name": "vip"}},
            {"action": "send_text", "provider": "jelou", "params": {"text": "welcome"}}
        ])
    );
    let out = sb.run(&["test", "cases/from-traffic.json"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "1 passed, 0 failed", "{out}");

    let missing = sb.run(&["fixture", "evt_01NOTTHERE000000000000000"]);
    missing.assert_code(1);
    assert!(
        missing.stderr.contains("no event evt_01NOTTHERE"),
        "{missing}"
    );
}

#[test]
fn fixture_records_the_memory_the_rules_read_so_that_test_reproduces_the_decision() {
    let sb = served_sandbox();
    sb.write(
        "rules/10-count.rhai",
        "let n = memory_get(\"count\") ?? 0;\nmemory_set(\"count\", n + 1);\nif n >= 1 { send_text(`again ${n}`); }\n",
    );
    sb.write("cases/first.json", &crm_fixture("msg_memory_1", "hello"));
    sb.write(
        "cases/second.json",
        &crm_fixture("msg_memory_2", "hello again"),
    );
    let server = sb.serve(CFG, "serve");
    let mut ids = Vec::new();
    for case in ["cases/first.json", "cases/second.json"] {
        let out = sb.run(&["post", "--url", &server.address(), case]);
        let (status, answer) = posted(&out, case);
        assert_eq!(status, 202, "{out}");
        ids.push(answer["event_id"].as_str().unwrap().to_string());
    }
    let written = wait_until(
        || {
            let out = sb.run(&["fixture", &ids[1], "--out", "cases/remembered.json"]);
            let text = fs::read_to_string(sb.path("cases/remembered.json")).unwrap_or_default();
            (out.code == Some(0) && text.contains("again 1")).then_some(text)
        },
        "`switchboard fixture` to write the second event with its action",
        TIMEOUT,
    );
    let fixture: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(fixture["memory"], json!({"count": 1}), "{written}");
    assert_eq!(
        fixture["expect"],
        json!([{"action": "send_text", "provider": "jelou", "params": {"text": "again 1"}}])
    );
    let out = sb.run(&["test", "cases/remembered.json"]);
    out.assert_code(0);
    assert_eq!(out.last_stdout_line(), "1 passed, 0 failed", "{out}");

    // Without the recorded memory the case would not reproduce the decision.
    let mut forgetful = fixture.clone();
    forgetful.as_object_mut().unwrap().remove("memory");
    sb.write("cases/forgetful.json", &forgetful.to_string());
    sb.run(&["test", "cases/forgetful.json"]).assert_code(1);
}

#[test]
fn check_refuses_eval_and_import() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "rules/10-eval.rhai",
        "let x = 1;\neval(\"send_text(\\\"x\\\")\");\n",
    );
    sandbox.write("rules/20-import.rhai", "import \"other\" as o;\n");
    let out = sandbox.run(&["check"]);
    out.assert_code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("rules/10-eval.rhai:2:1: ") && lines[0].contains("eval"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("rules/20-import.rhai:1:1: ") && lines[1].contains("import"),
        "{out}"
    );
}

// ---- serve: reload on SIGHUP, JSON logs ------------------------------------------------------

#[test]
fn serve_reloads_the_rules_on_sighup() {
    let sb = served_sandbox();
    let server = sb.serve(CFG, "serve");
    server.signal("HUP");
    let log = server.wait_for_stderr("rules reloaded after SIGHUP");
    assert!(log.contains("1 rule(s)"), "{log}");
    assert_eq!(
        http::status(server.port(), "/readyz"),
        Some(200),
        "still serving after the reload"
    );
}

#[test]
fn json_logs_carry_the_event_id_and_never_a_secret() {
    let sb = served_sandbox();
    let config = fs::read_to_string(sb.path(CFG)).unwrap();
    sb.write(CFG, &format!("{config}\n[logging]\nformat = \"json\"\n"));
    sb.write("rules/20-send.rhai", "send_text(\"hello\");\n");
    sb.write("cases/jelou.json", &jelou_fixture("hello there", None));
    let server = sb.serve(CFG, "serve");
    let posted_out = sb.run(&["post", "--url", &server.address(), "cases/jelou.json"]);
    let (_, answer) = posted(&posted_out, "cases/jelou.json");
    let event_id = answer["event_id"].as_str().unwrap().to_string();
    // The delivery fails (nothing listens at the provider's address): that is logged too.
    let log = server.wait_for_stderr("delivery failed");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let about_event: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["event_id"] == event_id.as_str())
        .collect();
    assert!(
        about_event.len() >= 2,
        "rules decided and the delivery, with the event id:\n{log}"
    );
    // The source's signing secret, and the provider's Basic credentials (base64 of id:secret).
    for secret in [JELOU_SECRET, "aWQ6c2VjcmV0"] {
        assert!(
            !log.contains(secret),
            "a secret ({secret}) reached the log:\n{log}"
        );
    }
}

// ---- WhatsApp: one POST, many events (docs/providers.md) -----------------------------------------

const WHATSAPP_SOURCE: &str = "[sources.whatsapp]\nkind = \"whatsapp\"\n\
                               secret = \"cli-app-secret\"\nverify_token = \"cli-verify-token\"\n";

#[test]
fn post_signs_a_whatsapp_batch_and_fixture_writes_one_item_that_test_passes() {
    let sb = Sandbox::with_config(&config().extra(WHATSAPP_SOURCE));
    sb.write(
        "rules/10-echo.rhai",
        "if event.kind == \"message.received\" { provider(\"jelou\").send_text(\"got \" + event.text); }\n",
    );
    let shipped = format!(
        "{}/fixtures/whatsapp-batch-three-messages-after-hours.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut batch: Value = serde_json::from_str(&fs::read_to_string(shipped).unwrap()).unwrap();
    batch["expect"] = json!([
        {"action": "send_text", "provider": "jelou", "params": {"text": "got Hello"}},
        {"action": "send_text", "provider": "jelou", "params": {"text": "got I need an agent please"}},
        {"action": "send_text", "provider": "jelou", "params": {"text": "got Thanks!"}},
    ]);
    sb.write("cases/batch.json", &batch.to_string());
    // `test` runs every event of the body, actions in payload order.
    let tested = sb.run(&["test", "cases/batch.json"]);
    tested.assert_code(0);

    let server = sb.serve(CFG, "serve");
    let posted_out = sb.run(&["post", "--url", &server.address(), "cases/batch.json"]);
    let (status, answer) = posted(&posted_out, "cases/batch.json");
    assert_eq!(status, 202, "{posted_out}\n{}", server.report());
    let ids: Vec<String> = answer["event_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{answer}");
    assert_eq!(answer["duplicates"], json!([]), "{answer}");

    let written = wait_until(
        || {
            let out = sb.run(&["fixture", &ids[1], "--out", "cases/second.json"]);
            let text = fs::read_to_string(sb.path("cases/second.json")).unwrap_or_default();
            (out.code == Some(0) && text.contains("\"expect\": [\n")).then_some(text)
        },
        "`switchboard fixture` to write the second event with its action",
        TIMEOUT,
    );
    let fixture: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(fixture["source"], "whatsapp");
    let value = &fixture["body"]["entry"][0]["changes"][0]["value"];
    let messages = value["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "only that event's item: {written}");
    assert_eq!(messages[0]["from"], "60173526233");
    assert_eq!(
        value["metadata"],
        batch["body"]["entry"][0]["changes"][0]["value"]["metadata"]
    );
    assert_eq!(
        value["contacts"],
        batch["body"]["entry"][0]["changes"][0]["value"]["contacts"]
    );
    assert_eq!(
        fixture["expect"],
        json!([{"action": "send_text", "provider": "jelou", "params": {"text": "got I need an agent please"}}])
    );
    let out = sb.run(&["test", "cases/second.json"]);
    out.assert_code(0);
    assert!(
        out.stdout.trim_end().ends_with("1 passed, 0 failed"),
        "{out}"
    );
}
// ---- docs/providers.md: the new actions in check and replay ---------------------------------------

#[test]
fn check_knows_the_new_actions_and_refuses_their_bad_literals() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-fine.rhai",
        "set_field(\"handoff\", \"jelou\");\nset_field(\"visits\", 3);\nsend_flow(\"f123s456\");\n\
         send_message(#{type: \"image\", mediaUrl: \"https://x.test/a.png\"});\n\
         provider(\"uchat\").request(\"GET\", \"/subscriber/get-info?user_ns=f1\", ());\n\
         provider(\"aelyst\").request(\"post\", `/contact/phone:+57${event.text}/comment`, #{text: \"hi\"});\n",
    );
    sb.write(
        "rules/20-bad.rhai",
        "provider(\"uchat\").request(\"TRACE\", \"/x\", ());\n\
         provider(\"uchat\").request(\"GET\", \"/%2e%2E/admin\", ());\n\
         provider(\"uchat\").request(\"GET\", \"https://evil.test/x\", ());\n\
         provider(\"uchat\").request(\"GET\", 42, ());\n\
         provider(\"uchat\").request(\"GET\", \"/x\");\n\
         request(\"GET\", \"/x\", ());\n\
         send_flow(42);\n\
         send_message(\"hello\");\n\
         provider(\"jelou\").send_flow(\"f1\");\n\
         provider(\"aelyst\").set_field(1, \"x\");\n",
    );
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    let problems: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        problems,
        [
            "rules/20-bad.rhai:1:19: request: method \"TRACE\" is not one of GET, POST, PUT, PATCH, DELETE",
            "rules/20-bad.rhai:2:19: request: path \"/%2e%2E/admin\" has a `.` or `..` segment (also when percent-encoded); it could leave the provider's base_url",
            "rules/20-bad.rhai:3:19: request: path \"https://evil.test/x\" must start with / (it is joined to the provider's base_url)",
            "rules/20-bad.rhai:4:19: request(): argument 2 is a whole number, but request takes text there",
            "rules/20-bad.rhai:5:19: request() takes 3 argument(s) (method, path, body), not 2",
            "rules/20-bad.rhai:6:1: request() goes to one provider only: call it on a provider, e.g. provider(\"uchat\").request(\"GET\", \"/subscriber/get-info?user_ns=...\", ())",
            "rules/20-bad.rhai:7:1: send_flow(): argument 1 is a whole number, but send_flow takes text there",
            "rules/20-bad.rhai:8:1: send_message(): argument 1 is text, but send_message takes a map there",
            "rules/20-bad.rhai:9:19: provider(\"jelou\").send_flow(): jelou providers cannot carry out send_flow",
            "rules/20-bad.rhai:10:20: set_field(): argument 1 is a whole number, but set_field takes text there",
        ],
        "{out}"
    );
}

#[test]
fn check_reports_a_whatsapp_call_button_without_a_number_to_dial() {
    let sb =
        Sandbox::with_config(&config().extra(
            "[providers.wa]\nkind = \"whatsapp\"\nphone_number_id = \"1065\"\ntoken = \"t\"\n",
        ));
    sb.write(
        "rules/10-call.rhai",
        "provider(\"wa\").send_text(\"hi\");\nprovider(\"wa\").send_call_button(\"Tap\", \"Call\");\n",
    );
    let out = sb.run(&["check", "--config", CFG]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["rules/10-call.rhai:2:16: provider(\"wa\").send_call_button(): provider \"wa\" has no `call_phone` in switchboard.toml, the number a WhatsApp call button dials"],
        "{out}"
    );
}

#[test]
fn replay_dry_run_shows_the_request_of_every_new_action() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-reach.rhai",
        "set_field(\"handoff_from\", 42);\nsend_flow(\"f123s456\");\n\
         send_message(#{type: \"quick_reply\", text: \"Pick\", quick_replies: [#{title: \"Yes\"}]});\n\
         provider(\"aelyst\").request(\"POST\", \"/contact/phone:+573001112233/comment\", #{text: \"note\"});\n\
         provider(\"uchat\").request(\"get\", \"/flow/tags?name=vip\", ());\n",
    );
    sb.write("fixtures/a.json", &jelou_fixture("hello", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(0);
    let got: Vec<Value> = out
        .json_lines()
        .into_iter()
        .map(|l| json!([l["action"], l["provider"], l["params"], l["request"]]))
        .collect();
    let lookup = format!("<lookup uchat phone={PHONE}>");
    assert_eq!(
        got,
        vec![
            json!(["set_field", "uchat", {"name": "handoff_from", "value": "42"},
                {"method": "PUT", "url": format!("{NOWHERE}/subscriber/set-user-field-by-name"),
                 "body": {"user_ns": lookup, "field_name": "handoff_from", "value": "42"}}]),
            json!(["send_flow", "uchat", {"flow_ns": "f123s456"},
                {"method": "POST", "url": format!("{NOWHERE}/subscriber/send-sub-flow"),
                 "body": {"user_ns": lookup, "sub_flow_ns": "f123s456"}}]),
            json!(["send_message", "jelou",
                {"message": {"type": "quick_reply", "text": "Pick", "quick_replies": [{"title": "Yes"}]}},
                {"method": "POST", "url": format!("{NOWHERE}/v1/bots/bot-12345/messages"),
                 "body": {"type": "quick_reply", "text": "Pick", "quick_replies": [{"title": "Yes"}], "userId": PHONE_DIGITS}}]),
            json!(["provider_request", "aelyst",
                {"method": "POST", "path": "/contact/phone:+573001112233/comment", "body": {"text": "note"}},
                {"method": "POST", "url": format!("{NOWHERE}/contact/phone:+573001112233/comment"), "body": {"text": "note"}}]),
            json!(["provider_request", "uchat",
                {"method": "GET", "path": "/flow/tags?name=vip"},
                {"method": "GET", "url": format!("{NOWHERE}/flow/tags?name=vip")}]),
        ],
        "{out}"
    );
}

#[test]
fn a_request_path_that_leaves_the_base_url_is_a_rule_error_and_nothing_is_decided() {
    let sb = Sandbox::new();
    sb.write(
        "rules/10-escape.rhai",
        "provider(\"uchat\").request(\"GET\", `/${event.text}/admin`, ());\n",
    );
    sb.write("rules/20-fine.rhai", "add_tag(\"seen\");\n");
    sb.write("fixtures/a.json", &jelou_fixture("%2e%2e", None));
    let out = sb.run(&["replay", "--config", CFG, "fixtures/a.json"]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("rules/10-escape.rhai:1:")
            && out
                .stderr
                .contains("request: path \"/%2e%2e/admin\" has a `.` or `..` segment"),
        "{out}"
    );
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "only the other rule's action\n{out}");
    assert_eq!(lines[0]["action"], "add_tag", "{out}");
}
