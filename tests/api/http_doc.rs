//! `docs/http-api.md` kept true to the running code: every operation `GET /openapi.json`
//! describes has a heading ``### `METHOD /path` `` in the doc and every such heading is an
//! operation of the document; each operation's section names every query parameter the
//! document lists for it; and every error code the code answers with (the `code` of each
//! `Rejection::new(StatusCode::…, "code", …)` under `src/`) is named in the doc.
//! SQLite only (not in `tests/api_postgres.rs`): the doc and the document do not depend on
//! the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::spawn_app;

const DOC: &str = "docs/http-api.md";

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each operation of the document, `(METHOD, path)`, with the names of its query
/// parameters.
async fn described_operations() -> BTreeMap<(String, String), BTreeSet<String>> {
    let app = spawn_app(&[]).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.expect("/openapi.json is JSON");
    app.stop().await;
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let queries = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().expect("a named parameter").to_string())
                .collect();
            operations.insert((method.to_uppercase(), path.clone()), queries);
        }
    }
    assert!(
        operations.len() > 10,
        "the document was not read: {operations:?}"
    );
    operations
}

/// The operation a line names when it is a heading ``### `METHOD /path` ``.
fn operation_heading(line: &str) -> Option<(String, String)> {
    let inner = line.trim_end().strip_prefix("### `")?.strip_suffix('`')?;
    let (method, path) = inner.split_once(' ')?;
    let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    (is_method && path.starts_with('/') && !path.contains(' '))
        .then(|| (method.to_string(), path.to_string()))
}

/// Each operation heading of the doc with its section: the lines up to the next heading of
/// level 1 to 3. A heading found twice is reported by its name.
fn doc_sections(text: &str) -> (BTreeMap<(String, String), String>, Vec<String>) {
    let mut sections = BTreeMap::new();
    let mut twice = Vec::new();
    let mut current: Option<((String, String), String)> = None;
    let mut close = |current: &mut Option<((String, String), String)>| {
        if let Some((key, body)) = current.take() {
            if sections.contains_key(&key) {
                twice.push(format!("{} {}", key.0, key.1));
            }
            sections.insert(key, body);
        }
    };
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let is_heading = !in_code
            && (line.starts_with("# ") || line.starts_with("## ") || line.starts_with("### "));
        if is_heading {
            close(&mut current);
            current = operation_heading(line).map(|key| (key, String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    close(&mut current);
    (sections, twice)
}

fn names(set: &BTreeSet<&(String, String)>) -> Vec<String> {
    set.iter().map(|(m, p)| format!("{m} {p}")).collect()
}

#[tokio::test]
async fn http_api_doc_describes_every_operation_of_openapi_json() {
    let described = described_operations().await;
    let (sections, twice) = doc_sections(&doc_text());
    let in_document: BTreeSet<&(String, String)> = described.keys().collect();
    let in_doc: BTreeSet<&(String, String)> = sections.keys().collect();
    let missing = names(&in_document.difference(&in_doc).copied().collect());
    let extra = names(&in_doc.difference(&in_document).copied().collect());
    assert!(
        missing.is_empty() && extra.is_empty() && twice.is_empty(),
        "{DOC} must have one heading ### `METHOD /path` per operation of /openapi.json\n\
         missing from the doc: {missing:?}\n\
         in the doc but not in /openapi.json: {extra:?}\n\
         headings found twice: {twice:?}"
    );
}

#[tokio::test]
async fn http_api_doc_names_every_query_parameter_in_its_operations_section() {
    let described = described_operations().await;
    let (sections, _) = doc_sections(&doc_text());
    let mut unnamed = Vec::new();
    for ((method, path), queries) in &described {
        // An operation without a section is the failure of the test above.
        let Some(section) = sections.get(&(method.clone(), path.clone())) else {
            continue;
        };
        for name in queries {
            if !section.contains(&format!("`{name}`")) {
                unnamed.push(format!("{method} {path}: `{name}`"));
            }
        }
    }
    assert!(
        described.values().any(|q| q.contains("cursor")),
        "no query parameter was read from /openapi.json"
    );
    assert!(
        unnamed.is_empty(),
        "query parameters of /openapi.json that their section of {DOC} does not name (as `name`): {unnamed:?}"
    );
}

/// Every `*.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The error code of each `Rejection::new(StatusCode::NAME, "code", …)` in `source`, with
/// the calls whose code is not a string literal (which this test cannot read).
fn rejection_codes(source: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut codes = BTreeSet::new();
    let mut unread = Vec::new();
    for call in source.split("Rejection::new(").skip(1) {
        let code = call
            .trim_start()
            .strip_prefix("StatusCode::")
            .and_then(|rest| rest.split_once(','))
            .and_then(|(_, rest)| rest.trim_start().strip_prefix('"'))
            .and_then(|rest| rest.split_once('"'))
            .map(|(code, _)| code)
            .filter(|code| {
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
        match code {
            Some(code) => {
                codes.insert(code.to_string());
            }
            None => unread.push(call.chars().take(80).collect()),
        }
    }
    (codes, unread)
}

#[test]
fn http_api_doc_names_every_error_code_the_code_answers_with() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut codes = BTreeSet::new();
    let mut unread = Vec::new();
    for file in &files {
        let (found, not_read) = rejection_codes(&std::fs::read_to_string(file).unwrap());
        codes.extend(found);
        unread.extend(
            not_read
                .into_iter()
                .map(|c| format!("{}: {c}", file.display())),
        );
    }
    assert!(
        unread.is_empty(),
        "Rejection::new calls whose code this test cannot read: {unread:?}"
    );
    for known in [
        "unknown_source",
        "bad_signature",
        "unauthorized",
        "invalid_query",
    ] {
        assert!(
            codes.contains(known),
            "{known} was not found in src/: {codes:?}"
        );
    }
    let doc = doc_text();
    let unnamed: Vec<&String> = codes
        .iter()
        .filter(|code| !doc.contains(&format!("`{code}`")))
        .collect();
    assert!(
        unnamed.is_empty(),
        "error codes the code answers with that {DOC} does not name (as `code`): {unnamed:?}"
    );
    // Each also has its row in the table of every error code (a code named only in passing,
    // e.g. `discarded` as a value of `include`, is not documented as an error).
    let table = doc
        .split_once("\n## Every error code")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{DOC} has no \"## Every error code\" section"));
    let rowless: Vec<&String> = codes
        .iter()
        .filter(|code| {
            !table
                .lines()
                .any(|line| line.starts_with(&format!("| `{code}` |")))
        })
        .collect();
    assert!(
        rowless.is_empty(),
        "error codes without a row in {DOC}'s \"Every error code\" table: {rowless:?}"
    );
}

#[test]
fn operation_headings_are_read_exactly() {
    assert_eq!(
        operation_heading("### `GET /admin/events/{event_id}`"),
        Some(("GET".into(), "/admin/events/{event_id}".into()))
    );
    for not_one in [
        "## `GET /admin/events`",
        "### GET /admin/events",
        "### `get /admin/events`",
        "### `GET admin/events`",
        "### `GET /admin/events` and more",
        "### Events",
    ] {
        assert_eq!(operation_heading(not_one), None, "{not_one}");
    }
    let (sections, twice) = doc_sections(
        "# T\n### `GET /a`\nsee `q`\n```\n### `GET /in-code`\n```\n## Next\nnot `q`\n### `POST /a`\n### `GET /a`\n",
    );
    assert_eq!(
        sections.keys().cloned().collect::<Vec<_>>(),
        vec![("GET".into(), "/a".into()), ("POST".into(), "/a".into())]
    );
    assert_eq!(twice, vec!["GET /a".to_string()]);
}
