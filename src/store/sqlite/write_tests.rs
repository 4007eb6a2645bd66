//! The writer's batches: a job that fails part-way through leaves none of its writes, and
//! the other jobs of its batch are committed as if it had not been there.

use std::sync::Arc;

use serde_json::json;

use super::super::{Backend, SqliteStore};
use crate::config::Synchronous;
use crate::domain::actions::{ActionKind, DecidedAction};
use crate::domain::decision::{Decision, RuleRun};
use crate::domain::event::Event;
use crate::domain::ids::RunId;
use crate::domain::target::{Target, UserRef};
use crate::store::DecisionError;

fn event(n: usize, user: &str) -> Event {
    Event::text_message(n, user, &format!("text {n}"))
}

/// A decision of one `send_text` by `rule`.
fn decision(seq: i64, event: &Event, rule: &str) -> Decision {
    Decision {
        event_seq: seq,
        run_id: RunId::FIRST,
        order_key: event.order_key(),
        runs: vec![RuleRun {
            rule: rule.into(),
            actions: vec![DecidedAction {
                rule: rule.into(),
                seq: 0,
                action: ActionKind::SendText,
                provider: "jelou".into(),
                params: json!({"text": event.text}).as_object().cloned().unwrap(),
                target: Target {
                    user: UserRef::Known {
                        value: event.user.id.clone().unwrap(),
                    },
                    bot_id: None,
                },
            }],
            error: None,
        }],
        memory: Vec::new(),
        memory_seen: None,
        shadow: Vec::new(),
    }
}

#[tokio::test]
async fn a_decision_that_fails_part_way_leaves_no_trace_and_the_rest_of_its_batch_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writer.db");
    let store = Arc::new(SqliteStore::open(&path, Synchronous::Normal).unwrap());
    // `boom.rhai`'s delivery cannot be stored: its rule run is written first, then the
    // delivery's insert fails, so the job fails with a write already made.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON deliveries WHEN NEW.rule = 'boom.rhai' \
             BEGIN SELECT RAISE(ABORT, 'no delivery for boom.rhai'); END;",
        )
        .unwrap();
    let events = [
        event(1, "ana"),
        event(2, "bob"),
        event(3, "bob"),
        event(4, "cy"),
    ];
    for e in &events {
        store.insert_event(e.clone()).await.unwrap();
    }
    let pending = store.claim_events(10, 60_000).await.unwrap();
    assert_eq!(pending.len(), 4);
    let rules = ["ok.rhai", "boom.rhai", "ok.rhai", "ok.rhai"];
    let decisions = pending
        .iter()
        .zip(rules)
        .map(|(p, rule)| decision(p.seq, &p.event, rule))
        .collect();
    let results = store.decide_many(decisions).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(&results[1], Err(DecisionError::Writes(e)) if format!("{e:#}").contains("no delivery for boom.rhai")),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(DecisionError::EarlierOfKeyFailed)),
        "bob's later event waits behind the failed one: {:?}",
        results[2]
    );
    assert!(results[3].is_ok(), "{:?}", results[3]);

    let db = rusqlite::Connection::open(&path).unwrap();
    let rows = |sql: &str| -> Vec<(String, i64)> {
        db.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        rows(
            "SELECT e.event_id, count(r.event_seq) FROM events e \
              LEFT JOIN rule_runs r ON r.event_seq = e.seq GROUP BY e.seq ORDER BY e.seq"
        ),
        vec![
            ("evt_1".into(), 1),
            ("evt_2".into(), 0),
            ("evt_3".into(), 0),
            ("evt_4".into(), 1)
        ],
        "the failed decision's rule run was undone with it"
    );
    assert_eq!(
        rows("SELECT event_id, status = 'received' FROM events ORDER BY seq"),
        vec![
            ("evt_1".into(), 0),
            ("evt_2".into(), 1),
            ("evt_3".into(), 1),
            ("evt_4".into(), 0)
        ],
        "undecided events wait to be decided again, in order"
    );
    // The next batch decides them once the cause is gone.
    db.execute_batch("DROP TRIGGER boom").unwrap();
    let again = store.claim_events(10, 60_000).await.unwrap();
    let seqs: Vec<i64> = again.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![pending[1].seq, pending[2].seq]);
    let decisions = again
        .iter()
        .map(|p| decision(p.seq, &p.event, "ok.rhai"))
        .collect();
    let results = store.decide_many(decisions).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    store.close();
}
