//! HTTPS (`[server] tls_cert` and `tls_key`): the built binary serves with certificates made
//! at test time (`rcgen`), reads them again on SIGHUP, keeps the old pair when the new files
//! do not load, and `check` reports a broken pair at its key's line.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

mod common;
use common::config::Config;
use common::process::{self, Serve};
use common::wait::{wait_until_async, TIMEOUT};

const CFG: &str = "switchboard.toml";

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// A folder with `cert.pem`, `key.pem` and a config serving HTTPS with them.
fn sandbox(cert: &str, key: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("cert.pem"), cert).unwrap();
    fs::write(dir.path().join("key.pem"), key).unwrap();
    Config::new()
        .storage("sqlite://data/sb.db")
        .tls("cert.pem", "key.pem")
        .write(dir.path(), CFG);
    dir
}

/// A client that trusts only `cert_pem`, with a new connection for every request.
fn trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn healthz(client: &reqwest::Client, port: u16) -> Option<u16> {
    client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn serve_with_a_certificate_answers_https_and_not_plain_http() {
    let (cert, key) = self_signed();
    let dir = sandbox(&cert, &key);
    let serve = Serve::start_async(dir.path(), CFG, "serve").await;
    assert!(
        serve.stderr().contains("listening on https://"),
        "{}",
        serve.report()
    );
    assert_eq!(
        healthz(&trusting(&cert), serve.port()).await,
        Some(200),
        "{}",
        serve.report()
    );
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", serve.port())).await;
    assert!(plain.is_err(), "plain HTTP must not be answered: {plain:?}");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_the_old_one_when_the_new_files_are_broken() {
    let (old_cert, old_key) = self_signed();
    let dir = sandbox(&old_cert, &old_key);
    let serve = Serve::start_async(dir.path(), CFG, "serve").await;
    let (old, port) = (trusting(&old_cert), serve.port());
    assert_eq!(healthz(&old, port).await, Some(200), "{}", serve.report());

    // A broken certificate file: the reload fails, is logged, and the old pair serves on.
    fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    serve.signal("HUP");
    serve.wait_for_stderr("still serving the previous certificate");
    assert_eq!(healthz(&old, port).await, Some(200), "{}", serve.report());

    // A new pair: once reloaded, clients trusting the new certificate get in and clients
    // trusting only the old one no longer do.
    let (new_cert, new_key) = self_signed();
    fs::write(dir.path().join("key.pem"), &new_key).unwrap();
    fs::write(dir.path().join("cert.pem"), &new_cert).unwrap();
    serve.signal("HUP");
    let new = trusting(&new_cert);
    wait_until_async(
        || {
            let new = new.clone();
            async move { healthz(&new, port).await == Some(200) }
        },
        "the new certificate to be served",
        TIMEOUT,
    )
    .await;
    // (A new client: the old one could resume its earlier session without a handshake.)
    assert_eq!(
        healthz(&trusting(&old_cert), port).await,
        None,
        "{}",
        serve.report()
    );
    assert!(
        serve.stderr().contains("TLS certificate and key reloaded"),
        "{}",
        serve.report()
    );
}

/// Run `switchboard check` in `dir`: (exit code, stdout).
fn check(dir: &Path) -> (i32, String) {
    let out = process::switchboard(dir, &["check", "--config", CFG])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The 1-based line of `config` that sets `key`.
fn line_of(dir: &Path, key: &str) -> usize {
    let text = fs::read_to_string(dir.join(CFG)).unwrap();
    1 + text
        .lines()
        .position(|l| l.starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("{key} in\n{text}"))
}

#[test]
fn check_reports_a_key_that_does_not_match_its_certificate_at_the_key_line() {
    let (cert, _) = self_signed();
    let (_, other_key) = self_signed();
    let dir = sandbox(&cert, &other_key);
    let (code, out) = check(dir.path());
    let line = line_of(dir.path(), "tls_key");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{CFG}:{line}:1: server.tls_key: "))
            && out.contains("does not match"),
        "{out}"
    );
}

#[test]
fn check_reports_a_missing_certificate_file_and_a_cert_without_key() {
    let (cert, key) = self_signed();
    let dir = sandbox(&cert, &key);
    fs::remove_file(dir.path().join("cert.pem")).unwrap();
    let (code, out) = check(dir.path());
    let line = line_of(dir.path(), "tls_cert");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{CFG}:{line}:1: server.tls_cert: cannot read certificates"
        )),
        "{out}"
    );

    let text = fs::read_to_string(dir.path().join(CFG))
        .unwrap()
        .replace("tls_key = \"key.pem\"\n", "");
    fs::write(dir.path().join(CFG), text).unwrap();
    let (code, out) = check(dir.path());
    let line = line_of(dir.path(), "tls_cert");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{CFG}:{line}:1: server.tls_cert: is set without server.tls_key; set both or neither"
        )),
        "{out}"
    );
}
