//! `switchboard fixture EVENT_ID [--out FILE]`: a stored event as a fixture file, with the
//! actions its rules produced as `expect`, so a surprising case becomes a regression test in
//! one step, with the user's memory as the rules were given it (when the store recorded it).
//! Reads the store without locking it, so it works beside a running `serve`.

use std::collections::BTreeMap;
use std::path::Path;

use super::output::{out, outln};
use super::Exit;
use crate::config::{Settings, SourceKind, StorageUrl};
use crate::domain::ids::EventId;
use crate::fixture::{Expected, Fixture};

pub fn run(settings: Settings, event_id: &str, out: Option<&Path>) -> Exit {
    let where_ = match &settings.storage.url {
        StorageUrl::Sqlite(path) => path.display().to_string(),
        StorageUrl::Postgres(_) => "the PostgreSQL store".to_string(),
    };
    let found = super::runtime().block_on(async {
        let store = crate::store::open_for_reading(&settings.storage).await?;
        match event_id.parse::<EventId>() {
            Ok(event_id) => store.event_trace(&event_id).await,
            // Not an event id: no event has it.
            Err(_) => Ok(None),
        }
    });
    let trace = match found {
        Ok(Some(trace)) => trace,
        Ok(None) => {
            eprintln!("error: no event {event_id} in {where_}");
            return Exit::Problem;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Problem;
        }
    };
    let Some(event) = &trace.event else {
        eprintln!(
            "error: event {event_id} cannot be read back from {where_} (status {}, reason {}): \
             there is no body to write as a fixture",
            trace.status,
            trace.reason.as_deref().unwrap_or("none")
        );
        return Exit::Problem;
    };
    let mut headers = BTreeMap::new();
    if event.provider == SourceKind::Generic {
        // The generic decoder takes the event id from this header.
        headers.insert("webhook-id".to_string(), event.id.clone());
    }
    let fixture = Fixture {
        source: event.source.clone(),
        body: event.raw.clone(),
        headers,
        received_at: Some(event.received_at),
        // The memory the rules were given when the event was decided (when recorded).
        memory: trace.memory.clone().unwrap_or_default(),
        // The rules that failed on the event, so that `test` passes on the case as it was.
        rule_errors: trace
            .rules
            .iter()
            .filter(|run| run.error.is_some())
            .map(|run| run.rule.clone())
            .collect(),
        expect: Some(
            trace
                .rules
                .iter()
                .flat_map(|run| run.actions.iter())
                .map(|a| Expected {
                    action: a.action.as_str().to_string(),
                    provider: a.provider.clone(),
                    params: serde_json::Value::Object(a.params.clone()),
                })
                .collect(),
        ),
    };
    let mut text = serde_json::to_string_pretty(&fixture).expect("a fixture serialises");
    text.push('\n');
    for run in trace.rules.iter().filter(|r| r.error.is_some()) {
        eprintln!(
            "note: rule {} failed on this event ({}); it is listed in `rule_errors`, and its actions are not in `expect`",
            run.rule,
            run.error.as_deref().unwrap_or_default()
        );
    }
    match out {
        None => {
            out!("{text}");
            Exit::Success
        }
        Some(out) => match std::fs::write(out, text) {
            Ok(()) => {
                outln!("{}", out.display());
                eprintln!(
                    "wrote {} with {} expected action(s); run `switchboard test {}` to check it",
                    out.display(),
                    fixture.expect.as_ref().map_or(0, Vec::len),
                    out.display()
                );
                Exit::Success
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", out.display());
                Exit::Problem
            }
        },
    }
}
