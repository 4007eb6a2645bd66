//! Grouping a batch by user key (docs/guarantees.md): events of one key stay together in acceptance
//! order, keys are independent and appear in the order of their first event, and an event
//! that names no user is a group of its own.

use serde_json::Value;

use super::*;
use crate::domain::event::{EventKind, User};
use crate::domain::platform::SourceKind;

/// Who an event is about, as (source, id, phone, email, ns).
type Who = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

fn pending(seq: i64, who: Who) -> PendingEvent {
    let (source, id, phone, email, ns) = who;
    let s = |v: Option<&str>| v.map(str::to_string);
    PendingEvent {
        seq,
        event: Event {
            id: format!("m{seq}"),
            event_id: crate::domain::ids::EventId::unchecked(format!("evt_{seq}")),
            source: source.into(),
            provider: SourceKind::Generic,
            kind: EventKind::MessageReceived,
            user: User {
                id: s(id),
                phone: s(phone),
                email: s(email),
                name: None,
                ns: s(ns),
            },
            bot_id: None,
            conversation_id: None,
            message: None,
            text: String::new(),
            tags: Vec::new(),
            raw: Value::Null,
            received_at: seq,
        },
    }
}

/// The groups `group_by_key` makes of `whos` (numbered 1, 2, ... in acceptance order), as
/// lists of those numbers.
fn groups_of(whos: &[Who]) -> Groups {
    let batch = whos
        .iter()
        .enumerate()
        .map(|(i, who)| pending(i as i64 + 1, *who))
        .collect();
    group_by_key(batch)
        .into_iter()
        .map(|g| g.into_iter().map(|p| p.seq).collect())
        .collect()
}

const ANA: Who = ("src", Some("ana"), None, None, None);
const BO: Who = ("src", Some("bo"), None, None, None);
const NOBODY: Who = ("src", None, None, None, None);

/// Groups as lists of event numbers.
type Groups = Vec<Vec<i64>>;

#[test]
fn grouping_keeps_each_keys_events_in_acceptance_order() {
    let rows: Vec<(&str, Vec<Who>, Groups)> = vec![
        ("empty batch", vec![], vec![]),
        ("one event", vec![ANA], vec![vec![1]]),
        (
            "interleaved keys",
            vec![ANA, BO, ANA, BO, ANA],
            vec![vec![1, 3, 5], vec![2, 4]],
        ),
        (
            "groups in order of first event",
            vec![BO, ANA, ANA, BO],
            vec![vec![1, 4], vec![2, 3]],
        ),
        (
            "no user: a group each, in place",
            vec![ANA, NOBODY, ANA, NOBODY],
            vec![vec![1, 3], vec![2], vec![4]],
        ),
        (
            "same id, other source: other key",
            vec![ANA, ("crm", Some("ana"), None, None, None), ANA],
            vec![vec![1, 3], vec![2]],
        ),
        (
            "phone, email and ns are keys when there is no id",
            vec![
                ("src", None, Some("+5730"), None, None),
                ("src", None, None, Some("a@b.co"), None),
                ("src", None, None, None, Some("ns-1")),
                ("src", None, Some("+5730"), Some("x@y.co"), None),
                ("src", None, None, Some("a@b.co"), Some("ns-2")),
                ("src", None, None, None, Some("ns-1")),
            ],
            vec![vec![1, 4], vec![2, 5], vec![3, 6]],
        ),
        (
            "an id outranks the phone: same phone, with and without id, differ",
            vec![
                ("src", Some("ana"), Some("+5730"), None, None),
                ("src", None, Some("+5730"), None, None),
                ("src", Some("ana"), Some("+5799"), None, None),
            ],
            vec![vec![1, 3], vec![2]],
        ),
        (
            "an id equal to a phone text is not that phone",
            vec![
                ("src", Some("+5730"), None, None, None),
                ("src", None, Some("+5730"), None, None),
            ],
            vec![vec![1], vec![2]],
        ),
    ];
    for (label, whos, expected) in rows {
        assert_eq!(groups_of(&whos), expected, "{label}");
    }
}

#[test]
fn grouping_a_large_mixed_batch_loses_nothing_and_orders_every_key() {
    // 512 events (one batch) over 7 users and some with no user, in a fixed shuffle.
    let users: [Who; 8] = [
        ("a", Some("1"), None, None, None),
        ("a", Some("2"), None, None, None),
        ("b", Some("1"), None, None, None),
        ("a", None, Some("+5730"), None, None),
        ("a", None, None, Some("e@x.co"), None),
        ("c", None, None, None, Some("ns")),
        ("c", Some("9"), None, None, None),
        NOBODY,
    ];
    let whos: Vec<Who> = (0..512u64)
        .map(|i| users[((i * 2_654_435_761) >> 7) as usize % users.len()])
        .collect();
    let groups = groups_of(&whos);
    let mut seen: Vec<i64> = groups.iter().flatten().copied().collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=512).collect::<Vec<_>>(),
        "every event exactly once"
    );
    let keyed = whos.iter().filter(|w| **w != NOBODY).count();
    let unkeyed = whos.len() - keyed;
    assert_eq!(
        groups.len(),
        7 + unkeyed,
        "one group per key, one per keyless event"
    );
    for group in &groups {
        assert!(
            group.windows(2).all(|w| w[0] < w[1]),
            "out of order: {group:?}"
        );
        let key = |seq: i64| pending(seq, whos[seq as usize - 1]).event.user_key();
        assert!(
            group.iter().all(|&s| key(s) == key(group[0])),
            "mixed keys in {group:?}"
        );
    }
    // Groups come in the order of their first event.
    let firsts: Vec<i64> = groups.iter().map(|g| g[0]).collect();
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
}
