//! The state transitions both back ends share, as SQL that SQLite and PostgreSQL both run
//! (`$N` parameters; SQLite binds them by name) and small pure functions. A new status or a
//! change to how work moves is made here once, not once per back end.
//!
//! The ready queue: `deliveries.head = 1` marks the oldest open (`pending` or `in_flight`)
//! delivery of each order key, and only a head may be claimed. Claims read the partial index
//! `deliveries_ready (provider, next_at, id) WHERE head = 1 AND status = 'pending'`, so
//! their cost is the number of rows claimed, whatever the backlog. Every transition that
//! closes a delivery (done, dead) clears its `head` and promotes the key's next open
//! delivery; a decision makes its first delivery the head when its key has nothing open.

use super::{DeadLetterId, DeliveryId, Next};
use crate::domain::status::{DeadReason, DeliveryStatus, EventStatus};

/// Gives an event its final status once none of its deliveries is open (`docs/design.md`):
/// `done` when nothing failed, `failed` when something failed (a dead delivery or a rule
/// error) and nothing succeeded, else `partial`. `$1` names the event's `seq`, `$2` is the
/// time.
macro_rules! settle_sql {
    ($event_seq:literal) => {
        concat!(
            "UPDATE events SET finished_at = $2, status = CASE \
               WHEN c.dead + events.rule_errors = 0 THEN 'done' \
               WHEN c.done = 0 THEN 'failed' ELSE 'partial' END \
             FROM (SELECT count(*) FILTER (WHERE status IN ('pending', 'in_flight')) AS open, \
                          count(*) FILTER (WHERE status = 'done') AS done, \
                          count(*) FILTER (WHERE status = 'dead') AS dead \
                   FROM deliveries WHERE event_seq = ",
            $event_seq,
            ") AS c WHERE events.seq = ",
            $event_seq,
            " AND c.open = 0"
        )
    };
}

/// Promote the oldest open delivery of the key given by the SQL expression.
macro_rules! promote_sql {
    ($order_key:literal) => {
        concat!(
            "UPDATE deliveries SET head = 1 WHERE id = (SELECT min(x.id) FROM deliveries x \
             WHERE x.order_key = ",
            $order_key,
            " AND x.status IN ('pending', 'in_flight')) AND head = 0"
        )
    };
}

/// Settle the event whose `seq` is `$1`.
pub(crate) const SETTLE_EVENT: &str = settle_sql!("$1");
/// Settle the event of the delivery whose id is `$1`.
pub(crate) const SETTLE_EVENT_OF_DELIVERY: &str =
    settle_sql!("(SELECT event_seq FROM deliveries WHERE id = $1)");

/// A decided delivery, `pending` and due at once: `$1` event seq, `$2` run id, `$3` its
/// position in the run, `$4` order key, `$5` rule, `$6` action, `$7` provider, `$8` params,
/// `$9` target, `$10` now, `$11` whether it is its decision's first delivery. The first
/// heads its key when nothing of the key is open (the insert asks, so it sees the earlier
/// inserts of the same transaction).
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO deliveries (event_seq, run_id, seq, \
     order_key, rule, action, provider, params, target, status, next_at, updated_at, head) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10, \
     CASE WHEN $11 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE order_key = $4 \
                                   AND status IN ('pending', 'in_flight')) THEN 1 ELSE 0 END)";

/// Make the oldest open delivery of key `$1` its head (after the head closed).
pub(crate) const PROMOTE_NEXT_HEAD: &str = promote_sql!("$1");
/// The same, for the key of delivery `$1` (where the key is not at hand: a pipeline).
pub(crate) const PROMOTE_NEXT_HEAD_OF_DELIVERY: &str =
    promote_sql!("(SELECT order_key FROM deliveries WHERE id = $1)");

/// Record an attempt's consequence on the delivery `$10`: `$1` status, `$2` attempts to
/// add, `$3` next due time, `$4` the request (kept when null), `$5` whether an answer came
/// (`$6` status, `$7` excerpt), `$8` dead-letter reason, `$9` now. A closed delivery is no
/// longer its key's head.
pub(crate) const RECORD_OUTCOME: &str = "UPDATE deliveries SET status = $1, \
     attempts = attempts + $2, next_at = $3, lease_until = NULL, lease_owner = NULL, \
     request = coalesce($4, request), \
     last_status = CASE WHEN $5 THEN $6 ELSE last_status END, \
     last_response = CASE WHEN $5 THEN $7 ELSE last_response END, \
     reason = $8, updated_at = $9, \
     head = CASE WHEN $1 IN ('pending', 'in_flight') THEN head ELSE 0 END \
     WHERE id = $10 RETURNING order_key";

/// Number the attempt across redrives, so a redriven delivery keeps its earlier attempts.
/// `$1` delivery, `$2` at, `$3` status, `$4` excerpt, `$5` duration in ms.
pub(crate) const ADD_ATTEMPT: &str = "INSERT INTO attempts \
     (delivery_id, n, at, status, response_excerpt, duration_ms) \
     VALUES ($1, (SELECT coalesce(max(n), 0) + 1 FROM attempts WHERE delivery_id = $1), \
     $2, $3, $4, $5)";

/// A delivery's dead letter as the trace shows it (`d` is `deliveries`): for a dead
/// delivery, its open letter, else its latest (a delivery has at most one open letter,
/// always its latest); null otherwise.
pub(crate) const DEAD_LETTER_OF_DELIVERY: &str = "CASE WHEN d.status = 'dead' THEN \
     (SELECT max(l.id) FROM dead_letters l WHERE l.delivery_id = d.id) END";

/// A dead delivery's letter: `$1` delivery, `$2` reason, `$3` now.
pub(crate) const ADD_DEAD_LETTER: &str = "INSERT INTO dead_letters \
     (delivery_id, reason, last_status, last_response, created_at) \
     SELECT id, $2, last_status, last_response, $3 FROM deliveries WHERE id = $1";

/// Deliveries whose lease ran out while in flight (a crash, a lost outcome write) go back
/// to `pending`, still their key's head, so they are sent again (at least once). `$1` now.
pub(crate) const RELEASE_EXPIRED_LEASES: &str = "UPDATE deliveries \
     SET status = 'pending', lease_until = NULL, lease_owner = NULL, updated_at = $1 \
     WHERE status = 'in_flight' AND lease_until < $1";

/// When a store last looked for expired leases: it looks at most once a second (leases
/// are tens of seconds long; every claim looking would add a write to each).
pub(crate) struct LeaseClock(std::sync::atomic::AtomicI64);

impl LeaseClock {
    pub(crate) fn new() -> LeaseClock {
        LeaseClock(std::sync::atomic::AtomicI64::new(i64::MIN))
    }

    /// Whether it is time to look again (the first call always is).
    pub(crate) fn due(&self, now: i64) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.0.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 1_000
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// An accepted event that cannot be read back: `failed` with reason `unreadable`, so it
/// never stops the events behind it. `$1` seq, `$2` now.
pub(crate) const MARK_UNREADABLE: &str = "UPDATE events SET status = 'failed', \
     reason = 'unreadable', finished_at = $2, lease_until = NULL, lease_owner = NULL \
     WHERE seq = $1 AND status = 'received'";

/// Send a dead delivery `$2` again, out of order: a key of its own (`redrive:<id>`), so it
/// neither waits for nor holds up its user's other deliveries, and so it is its own head.
pub(crate) const REDRIVE_DELIVERY: &str = "UPDATE deliveries SET status = 'pending', \
     attempts = 0, next_at = $1, reason = NULL, order_key = 'redrive:' || id, head = 1, \
     updated_at = $1 WHERE id = $2";
/// `REDRIVE_DELIVERY` for many: `$2` a set of delivery ids, as each back end writes one
/// (SQLite `IN (SELECT value FROM json_each($2))`, PostgreSQL `= ANY($2)`), in place of
/// `= $2`; only dead deliveries restart.
pub(crate) fn redrive_deliveries_sql(id_set: &str) -> String {
    REDRIVE_DELIVERY.replace(
        "WHERE id = $2",
        &format!("WHERE id {id_set} AND status = 'dead'"),
    )
}

/// An open dead letter (neither redriven nor discarded) as a bulk call reads it: its id, its
/// delivery, its reason.
pub(crate) type OpenLetter = (DeadLetterId, DeliveryId, String);

/// Of a bulk redrive's open letters `(id, delivery, reason)`, those to redrive, and how many
/// `user_unknown` ones are left: a filter that does not name that reason skips them (they
/// fail again unless the user became known); letters named by id are redriven whatever
/// their reason (docs/design.md).
pub(crate) fn redrivable(
    letters: Vec<OpenLetter>,
    selection: &super::Selection,
) -> (Vec<OpenLetter>, usize) {
    let keep_unknown = match selection {
        super::Selection::Ids(_) => true,
        super::Selection::Filter(filter) => {
            filter.reason.as_deref() == Some(DeadReason::UserUnknown.as_str())
        }
    };
    let before = letters.len();
    let kept: Vec<_> = letters
        .into_iter()
        .filter(|l| keep_unknown || l.2 != DeadReason::UserUnknown.as_str())
        .collect();
    let skipped = before - kept.len();
    (kept, skipped)
}

/// The stored status, due time and dead-letter reason that follow an attempt.
pub(crate) fn outcome_columns(next: &Next, now: i64) -> (DeliveryStatus, i64, Option<DeadReason>) {
    match next {
        Next::Done => (DeliveryStatus::Done, now, None),
        Next::Retry { next_at } => (DeliveryStatus::Pending, *next_at, None),
        Next::Dead { reason } => (DeliveryStatus::Dead, now, Some(*reason)),
    }
}

/// One rule's run: `$1` event seq, `$2` run id, `$3` position, `$4` rule, `$5` actions
/// (JSON), `$6` error.
pub(crate) const INSERT_RULE_RUN: &str = "INSERT INTO rule_runs \
     (event_seq, run_id, position, rule, actions, error) VALUES ($1, $2, $3, $4, $5, $6)";

/// The memory the rules were given: `$1` JSON object, `$2` event seq.
pub(crate) const SET_MEMORY_SEEN: &str = "UPDATE events SET memory_seen = $1 WHERE seq = $2";

/// A shadow rule's run: `$1` event seq, `$2` position, `$3` rule, `$4` actions JSON, `$5`
/// action count, `$6` error, `$7` 1 when it differs from live; the event's `received_at`.
pub(crate) const INSERT_SHADOW_RUN: &str = "INSERT INTO shadow_runs \
     (event_seq, position, rule, actions, action_count, error, differs, received_at) \
     SELECT CAST($1 AS BIGINT), CAST($2 AS INTEGER), CAST($3 AS TEXT), CAST($4 AS TEXT), \
     CAST($5 AS INTEGER), CAST($6 AS TEXT), CAST($7 AS INTEGER), received_at FROM events WHERE seq = $1";

/// Per shadow rule since `$1`: events, actions, events that differ from live.
pub(crate) const SHADOW_SUMMARY: &str = "SELECT rule, count(*), \
     CAST(coalesce(sum(action_count), 0) AS BIGINT), CAST(coalesce(sum(differs), 0) AS BIGINT) \
     FROM shadow_runs WHERE received_at >= $1 GROUP BY rule ORDER BY rule";

/// A rule's `memory_set`: `$1` source, `$2` user id, `$3` key, `$4` value (JSON), `$5`
/// expiry (unix ms, or null).
pub(crate) const PUT_MEMORY: &str = "INSERT INTO memory (source, user_id, key, value, expires_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, user_id, key) \
     DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

/// A rule's `memory_set` to nothing: `$1` source, `$2` user id, `$3` key.
pub(crate) const DELETE_MEMORY: &str =
    "DELETE FROM memory WHERE source = $1 AND user_id = $2 AND key = $3";

/// An event's status once a decision is stored: `$1` status, `$2` rule errors, `$3`
/// finished at (or null), `$4` seq. Its claim (PostgreSQL's lease) ends with it. (The
/// casts let PostgreSQL take a 64-bit count for its 32-bit column.)
pub(crate) const SET_DECIDED: &str =
    "UPDATE events SET status = $1, rule_errors = CAST($2 AS BIGINT), \
     finished_at = $3, lease_until = NULL, lease_owner = NULL WHERE seq = $4";

/// A replay's rule errors added to an event that gained no delivery: `$1` errors, `$2` seq
/// (then `SETTLE_EVENT`).
/// Pause provider `$1` at `$2` (an operator's pause; shared by every instance).
pub(crate) const PAUSE_PROVIDER: &str = "INSERT INTO provider_pauses (provider, paused_at) \
     VALUES ($1, $2) ON CONFLICT (provider) DO NOTHING";
/// Resume provider `$1`.
pub(crate) const RESUME_PROVIDER: &str = "DELETE FROM provider_pauses WHERE provider = $1";
pub(crate) const PAUSED_PROVIDERS: &str = "SELECT provider FROM provider_pauses ORDER BY provider";
/// Per provider: deliveries waiting (open, not in flight; queued behind their user's
/// earlier delivery included) and in flight.
pub(crate) const PROVIDER_COUNTS: &str = "SELECT provider, \
     count(*) FILTER (WHERE status = 'pending') AS waiting, \
     count(*) FILTER (WHERE status = 'in_flight') AS in_flight \
     FROM deliveries WHERE status IN ('pending', 'in_flight') GROUP BY provider";

pub(crate) const SET_RULE_ERRORS: &str =
    "UPDATE events SET rule_errors = CAST($1 AS BIGINT) WHERE seq = $2";

/// What a stored decision does to its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventAfterDecision {
    /// `SET_DECIDED` with these values.
    Decided {
        status: EventStatus,
        rule_errors: i64,
        finished_at: Option<i64>,
    },
    /// A replay that added no delivery but erred: `SET_RULE_ERRORS`, then `SETTLE_EVENT`.
    MoreErrors { rule_errors: i64 },
    /// A replay that added nothing and erred nowhere.
    Unchanged,
}

/// The event's change for a decision with `deliveries` deliveries and `errors` rule errors;
/// `earlier_errors` are the event's before (a replay adds to them). A first run with
/// deliveries, or any run with some, makes the event `processing`; a first run without is
/// `done`, or `failed` if a rule erred.
pub(crate) fn event_after_decision(
    first_run: bool,
    deliveries: usize,
    errors: usize,
    earlier_errors: i64,
    now: i64,
) -> EventAfterDecision {
    let rule_errors = if first_run {
        errors as i64
    } else {
        earlier_errors + errors as i64
    };
    match (first_run, deliveries, errors) {
        (_, 1.., _) => EventAfterDecision::Decided {
            status: EventStatus::Processing,
            rule_errors,
            finished_at: None,
        },
        (true, 0, 0) => EventAfterDecision::Decided {
            status: EventStatus::Done,
            rule_errors,
            finished_at: Some(now),
        },
        (true, 0, _) => EventAfterDecision::Decided {
            status: EventStatus::Failed,
            rule_errors,
            finished_at: Some(now),
        },
        (false, 0, 1..) => EventAfterDecision::MoreErrors { rule_errors },
        (false, 0, 0) => EventAfterDecision::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_maps_to_the_stored_columns() {
        let cases = [
            (Next::Done, (DeliveryStatus::Done, 7, None)),
            (
                Next::Retry { next_at: 99 },
                (DeliveryStatus::Pending, 99, None),
            ),
            (
                Next::Dead {
                    reason: DeadReason::UserUnknown,
                },
                (DeliveryStatus::Dead, 7, Some(DeadReason::UserUnknown)),
            ),
        ];
        for (next, expected) in cases {
            assert_eq!(outcome_columns(&next, 7), expected, "{next:?}");
        }
    }

    #[test]
    fn a_decision_settles_the_event_only_without_deliveries() {
        use EventAfterDecision::*;
        let decided = |status, rule_errors, finished_at| Decided {
            status,
            rule_errors,
            finished_at,
        };
        let cases = [
            // (first run, deliveries, errors, earlier errors) → change
            ((true, 0, 0, 0), decided(EventStatus::Done, 0, Some(7))),
            ((true, 0, 2, 0), decided(EventStatus::Failed, 2, Some(7))),
            ((true, 3, 0, 0), decided(EventStatus::Processing, 0, None)),
            ((true, 3, 1, 5), decided(EventStatus::Processing, 1, None)),
            ((false, 2, 1, 5), decided(EventStatus::Processing, 6, None)),
            ((false, 0, 1, 5), MoreErrors { rule_errors: 6 }),
            ((false, 0, 0, 5), Unchanged),
        ];
        for ((first, deliveries, errors, earlier), expected) in cases {
            assert_eq!(
                event_after_decision(first, deliveries, errors, earlier, 7),
                expected,
                "{first} {deliveries} {errors} {earlier}"
            );
        }
    }
}
