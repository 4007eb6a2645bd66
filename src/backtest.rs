//! Backtests (docs/commands.md `switchboard backtest`, docs/http-api.md `POST /admin/backtest`), one engine
//! for both: a rule set runs over the events **stored** in a time window, and each event's
//! actions are compared with the ones recorded when it was first decided. Read-only: the
//! store is only read (in pages, in acceptance order), nothing is sent or written.
//!
//! Memory: an event whose decision recorded the memory its rules were given (`memory_seen`)
//! gets exactly that. Otherwise it gets what the backtested rules themselves wrote for that
//! user on earlier events of the window, starting from the last recorded state seen in the
//! window (else empty). `docs/rules.md` says where this cannot be what the event saw.
//!
//! Speed: each page is split over the cores by user key (a key's events stay in order on
//! one lane, so the memory a lane keeps is that key's alone).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rhai::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::domain::actions::DecidedAction;
use crate::domain::event::{now_millis, Event};
use crate::rules::{RuleEnv, RuleSet};
use crate::store::{DecidedEvent, DecidedWindow, Store, StoreError};

/// Events read per page.
const PAGE: usize = 2_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Which stored events a backtest runs over.
#[derive(Debug, Clone)]
pub struct Window {
    /// Unix ms, inclusive.
    pub since: i64,
    /// Unix ms, exclusive.
    pub until: i64,
    pub source: Option<String>,
    /// At most this many events (the first ones of the window, in acceptance order).
    pub limit: Option<usize>,
}

/// Why a backtest window (or one of its times) could not be read. Each shows as the
/// sentence the CLI prints and the API answers (`400 invalid_query`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A time that is neither RFC 3339, unix milliseconds, nor a duration before now.
    #[error("{name} {text:?} is not a time: write an RFC 3339 time like 2026-12-01T09:00:00Z, unix milliseconds, or a duration before now like 30m, 6h or 7d")]
    NotATime {
        /// The parameter's name (`since`, `until`).
        name: String,
        /// What was given, trimmed.
        text: String,
    },
    /// `since` is not before `until` (both as RFC 3339).
    #[error("since ({since}) must be before until ({until})")]
    Empty { since: String, until: String },
}

impl Window {
    /// The window of docs/commands.md: `since` default 24 h ago, `until` default now.
    ///
    /// # Errors
    /// `NotATime`: a time that is neither RFC 3339, unix milliseconds, nor a duration like
    /// `6h`; `Empty`: `since` not before `until`.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        source: Option<String>,
        limit: Option<usize>,
    ) -> Result<Window, WindowError> {
        let now = now_millis();
        let since = match since {
            Some(text) => parse_when("since", text, now)?,
            None => now - DAY_MS,
        };
        let until = match until {
            Some(text) => parse_when("until", text, now)?,
            None => now + 1,
        };
        if since >= until {
            return Err(WindowError::Empty {
                since: show_time(since),
                until: show_time(until),
            });
        }
        Ok(Window {
            since,
            until,
            source: source.filter(|s| !s.is_empty()),
            limit,
        })
    }
}

fn show_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A time as RFC 3339, unix milliseconds, or a duration before `now` (`30m`, `6h`, `7d`;
/// also `s` and `w`).
///
/// # Errors
/// `WindowError::NotATime`, naming `name` and what is accepted.
pub fn parse_when(name: &str, text: &str, now: i64) -> Result<i64, WindowError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    // By characters, not bytes: the last one may be any character (`\u{80}` is two bytes).
    let mut chars = text.chars();
    let unit_ms = match chars.next_back() {
        Some('s') => 1_000,
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => DAY_MS,
        Some('w') => 7 * DAY_MS,
        _ => 0,
    };
    let amount = chars.as_str().parse::<i64>().ok();
    match amount.filter(|n| *n >= 0 && unit_ms > 0) {
        Some(n) => Ok(now.saturating_sub(n.saturating_mul(unit_ms))),
        None => Err(WindowError::NotATime {
            name: name.to_string(),
            text: text.to_string(),
        }),
    }
}

/// One event whose actions changed, or on which a rule erred.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Changed {
    #[schema(value_type = String)]
    pub event_id: crate::domain::ids::EventId,
    /// Actions the rules take now that were not taken then (6.3 lines without `event_id`).
    #[schema(value_type = Vec<Object>)]
    pub added: Vec<Value>,
    /// Actions taken then that the rules no longer take.
    #[schema(value_type = Vec<Object>)]
    pub removed: Vec<Value>,
    /// The rules' errors on this event, `path:line:col: message`.
    pub errors: Vec<String>,
}

impl Changed {
    /// Whether the actions differ (an entry may exist for its errors alone).
    pub fn differs(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// The totals of a backtest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub events: usize,
    pub changed: usize,
    pub rule_errors: usize,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} changed, {} rule errors",
            self.events, self.changed, self.rule_errors
        )
    }
}

/// What a backtest runs: the rules, how to build their requests, and the engine.
pub struct Backtest {
    pub settings: Arc<Settings>,
    pub engine: Arc<Engine>,
    pub rules: Arc<RuleSet>,
}

/// Memory kept per user key on one lane.
type LaneMemory = HashMap<(String, String), Map<String, Value>>;

impl Backtest {
    /// Run over `window`; `entry` is called for each event that changed or erred, in
    /// acceptance order; `progress` with the number of events done so far.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn run(
        &self,
        store: &Store,
        window: &Window,
        mut entry: impl FnMut(&Changed),
        progress: impl Fn(usize),
    ) -> Result<Totals, StoreError> {
        let env = Arc::new(RuleEnv::from_settings(&self.settings));
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut memories: Vec<LaneMemory> = (0..lanes).map(|_| HashMap::new()).collect();
        let mut totals = Totals::default();
        // The next page is read while this one runs: reading (JSON text, and on PostgreSQL
        // the round trips) overlaps with the rules instead of taking turns with them.
        let fetch = |after: i64, limit: usize| {
            let store = store.clone();
            let page = DecidedWindow {
                since: window.since,
                until: window.until,
                source: window.source.clone(),
                after,
                limit,
            };
            tokio::spawn(async move { store.decided_events(page).await })
        };
        let ask = |read: usize| {
            window
                .limit
                .map_or(PAGE, |l| l.saturating_sub(read).min(PAGE))
        };
        let mut read = 0_usize;
        let mut pending = (ask(0) > 0).then(|| (fetch(0, ask(0)), ask(0)));
        while let Some((reading, asked)) = pending.take() {
            let page = reading.await.map_err(|e| {
                StoreError::Unexpected(anyhow::anyhow!("a backtest read failed: {e}"))
            })??;
            let Some(last) = page.last() else {
                break;
            };
            let count = page.len();
            read += count;
            if count == asked && ask(read) > 0 {
                pending = Some((fetch(last.seq, ask(read)), ask(read)));
            }
            // Split by user key over the lanes, keeping each key's order.
            let mut work: Vec<Vec<(usize, DecidedEvent)>> =
                (0..lanes).map(|_| Vec::new()).collect();
            for (n, decided) in page.into_iter().enumerate() {
                let lane = match decided.event.user_key() {
                    Some(key) => {
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        key.hash(&mut hasher);
                        (hasher.finish() % lanes as u64) as usize
                    }
                    None => n % lanes,
                };
                work[lane].push((n, decided));
            }
            let tasks = work
                .into_iter()
                .zip(memories.drain(..))
                .map(|(items, memory)| {
                    let (settings, engine, rules, env) = (
                        self.settings.clone(),
                        self.engine.clone(),
                        self.rules.clone(),
                        env.clone(),
                    );
                    tokio::task::spawn_blocking(move || {
                        let mut memory = memory;
                        let mut out = Vec::with_capacity(items.len());
                        for (n, decided) in items {
                            let compared =
                                compare(&settings, &engine, &rules, &env, &mut memory, decided);
                            out.push((n, compared));
                        }
                        (out, memory)
                    })
                });
            let mut results = Vec::with_capacity(count);
            for task in futures_util::future::join_all(tasks).await {
                let (out, memory) = task.map_err(|e| {
                    StoreError::Unexpected(anyhow::anyhow!("a backtest lane failed: {e}"))
                })?;
                results.extend(out);
                memories.push(memory);
            }
            results.sort_by_key(|(n, _)| *n);
            for (_, changed) in results {
                totals.events += 1;
                if let Some(changed) = changed {
                    totals.rule_errors += changed.errors.len();
                    totals.changed += usize::from(changed.differs());
                    entry(&changed);
                }
            }
            progress(totals.events);
        }
        Ok(totals)
    }
}

/// Run the rules on one stored event and compare with what was decided then; `None` when
/// nothing changed and no rule erred.
fn compare(
    settings: &Settings,
    engine: &Engine,
    rules: &RuleSet,
    env: &Arc<RuleEnv>,
    memory: &mut LaneMemory,
    decided: DecidedEvent,
) -> Option<Changed> {
    let event = Arc::new(decided.event);
    let owner = event.user.id.clone().map(|id| (event.source.clone(), id));
    let given = match (&owner, rules.uses_memory()) {
        (Some(owner), true) => {
            match decided.memory_seen {
                // What the event saw, recorded with its decision.
                Some(seen) => seen,
                // What the backtested rules left for this user so far (else nothing).
                None => memory.get(owner).cloned().unwrap_or_default(),
            }
        }
        _ => Map::new(),
    };
    let verdict = rules.run(engine, env, &event, given.clone());
    if let (Some(owner), true) = (owner, rules.uses_memory()) {
        let mut after = given;
        for write in &verdict.memory {
            match &write.value {
                Some(value) if write.expires_at.is_none_or(|at| at > event.received_at) => {
                    after.insert(write.key.clone(), value.clone());
                }
                _ => {
                    after.remove(&write.key);
                }
            }
        }
        memory.insert(owner, after);
    }
    // First without building any request: the same action, provider, params and user at the
    // same provider make the same request for the same event (the request is built from
    // those and the settings alone), so most actions pair off here and cost no request.
    let (now, then) = difference(
        verdict.actions().collect(),
        decided.runs.iter().flat_map(|r| r.actions.iter()).collect(),
        |a: &&DecidedAction, b: &&DecidedAction| {
            a.action == b.action
                && a.provider == b.provider
                && a.params == b.params
                && a.target == b.target
        },
    );
    // What is left is compared by what it would send, request included.
    let (added, removed) = if now.is_empty() && then.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        difference(
            now.into_iter().map(|a| line(settings, &event, a)).collect(),
            then.into_iter()
                .map(|a| line(settings, &event, a))
                .collect(),
            |a: &Value, b: &Value| effect(a) == effect(b),
        )
    };
    let errors: Vec<String> = verdict.runs.into_iter().filter_map(|r| r.error).collect();
    (!added.is_empty() || !removed.is_empty() || !errors.is_empty()).then(|| Changed {
        event_id: event.event_id.clone(),
        added,
        removed,
        errors,
    })
}

/// An action as its 6.3 line without `event_id` (a provider no longer configured shows no
/// request).
fn line(settings: &Settings, event: &Event, action: &DecidedAction) -> Value {
    let mut line = if settings.providers.contains_key(&action.provider) {
        crate::dryrun::action_line(settings, event, action)
    } else {
        serde_json::json!({
            "source": event.source,
            "rule": action.rule,
            "seq": action.seq,
            "action": action.action.as_str(),
            "provider": action.provider,
            "params": action.params,
            "request": null,
        })
    };
    if let Some(map) = line.as_object_mut() {
        map.remove("event_id");
    }
    line
}

/// What an action does, for comparing: not which rule decided it or at which position.
fn effect(line: &Value) -> (&Value, &Value, &Value, &Value) {
    (
        &line["action"],
        &line["provider"],
        &line["params"],
        &line["request"],
    )
}

/// Actions in `now` and not in `then` (added), and the reverse (removed), as multisets of
/// what `same` tells apart.
fn difference<T>(now: Vec<T>, then: Vec<T>, same: impl Fn(&T, &T) -> bool) -> (Vec<T>, Vec<T>) {
    let mut unmatched_then: Vec<Option<T>> = then.into_iter().map(Some).collect();
    let mut added = Vec::new();
    for line in now {
        let found = unmatched_then
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| same(t, &line)));
        match found {
            Some(i) => unmatched_then[i] = None,
            None => added.push(line),
        }
    }
    (added, unmatched_then.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_takes_rfc3339_unix_ms_and_durations_before_now() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_when("since", "30m", now), Ok(now - 30 * 60_000));
        assert_eq!(parse_when("since", "6h", now), Ok(now - 6 * 3_600_000));
        assert_eq!(parse_when("since", "7d", now), Ok(now - 7 * DAY_MS));
        assert_eq!(
            parse_when("since", "1764000000000", now),
            Ok(1_764_000_000_000)
        );
        assert_eq!(
            parse_when("since", "2026-12-01T00:00:00Z", now),
            Ok(1_796_083_200_000)
        );
        let refused = parse_when("since", "yesterday", now).unwrap_err();
        assert!(
            matches!(&refused, WindowError::NotATime { name, text } if name == "since" && text == "yesterday"),
            "{refused:?}"
        );
        assert!(
            refused
                .to_string()
                .contains("since \"yesterday\" is not a time"),
            "{refused}"
        );
        assert!(parse_when("until", "-5h", now).is_err());
        // A last character of several bytes is refused with the sentence, never a panic
        // (Schemathesis sent `since=\u{80}`).
        for text in ["\u{80}", "5\u{80}", "é", "3日"] {
            assert!(parse_when("since", text, now).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_window_that_ends_before_it_starts_is_refused_with_both_times() {
        let refused =
            Window::parse(Some("1796083200000"), Some("1796083100000"), None, None).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "since (2026-12-01T00:00:00Z) must be before until (2026-11-30T23:58:20Z)"
        );
        assert!(matches!(refused, WindowError::Empty { .. }));
    }

    #[test]
    fn the_difference_counts_repeated_actions_and_ignores_rule_names_and_positions() {
        let tag = |rule: &str, seq: u64, name: &str| {
            json!({"rule": rule, "seq": seq, "action": "add_tag", "provider": "uchat",
                   "params": {"name": name}, "request": null})
        };
        let same = |a: &Value, b: &Value| effect(a) == effect(b);
        let (added, removed) = difference(
            vec![tag("20-b.rhai", 0, "vip"), tag("20-b.rhai", 1, "vip")],
            vec![tag("10-a.rhai", 3, "vip"), tag("10-a.rhai", 4, "old")],
            same,
        );
        assert_eq!(added, vec![tag("20-b.rhai", 1, "vip")]);
        assert_eq!(removed, vec![tag("10-a.rhai", 4, "old")]);
        let (added, removed) = difference(vec![tag("a", 0, "x")], vec![tag("b", 0, "x")], same);
        assert!(added.is_empty() && removed.is_empty());
    }
}
