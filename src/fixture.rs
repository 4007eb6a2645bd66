//! Fixture files (docs/commands.md): one recorded case each — a source, a body, optional
//! headers, a pinned `received_at`, seeded memory and the expected actions. `replay`,
//! `test` and `post` read them; `fixture` writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::domain::event::{now_millis, Event};
use crate::domain::ids::EventId;
use crate::inbound::{decode, verify::Verified};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub source: String,
    pub body: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub memory: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<Expected>>,
    /// The rule files expected to raise an error on this case (docs/commands.md); any other
    /// rule error fails `switchboard test`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_errors: Vec<String>,
}

/// One expected action: compared as JSON with what the rules decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub action: String,
    pub provider: String,
    pub params: Value,
}

/// Why fixtures could not be found, read or turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{}: no such file or folder", .0.display())]
    Missing(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not a fixture: {message}", path.display())]
    NotAFixture {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("source \"{name}\" is not configured (configured: {configured})")]
    UnknownSource { name: String, configured: String },
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
}

/// Every fixture named: files as given, folders searched for `*.json` (sorted).
///
/// # Errors
/// A path that does not exist, or a folder that cannot be read.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FixtureError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).map_err(|source| FixtureError::Io {
                path: path.clone(),
                source,
            })?;
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(FixtureError::Missing(path.clone()));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    Ok(())
}

impl Fixture {
    /// # Errors
    /// The file cannot be read or is not a fixture (the message says where and why).
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| FixtureError::NotAFixture {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// The body's bytes, as they would be posted.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_default()
    }

    /// Decode the fixture as its source's decoder would (no signature check): its first
    /// event (the only one, but for a WhatsApp body with several items).
    ///
    /// # Errors
    /// The source is not configured, or the body is not a JSON object.
    pub fn to_event(&self, settings: &Settings) -> Result<Event, FixtureError> {
        Ok(self.to_events(settings)?.swap_remove(0))
    }

    /// Decode the fixture into all its events, in payload order: one, or one per item of a
    /// WhatsApp body (docs/providers.md). Never empty.
    ///
    /// # Errors
    /// The source is not configured, or the body is not a JSON object.
    pub fn to_events(&self, settings: &Settings) -> Result<Vec<Event>, FixtureError> {
        let source = settings
            .source(&self.source)
            .ok_or_else(|| FixtureError::UnknownSource {
                name: self.source.clone(),
                configured: settings
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let body = Verified::trusted_fixture(Bytes::from(self.body_bytes()));
        let header = |name: &str| {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        decode::decode_all(
            source,
            header,
            &body,
            EventId::new,
            self.received_at.unwrap_or_else(now_millis),
        )
        .map_err(FixtureError::from)
    }
}
