-- Switchboard's SQLite schema. Everything that must survive a crash is a row with a state.

CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order
    event_id     TEXT NOT NULL UNIQUE,              -- evt_<ULID>
    source       TEXT NOT NULL,
    dedupe_id    TEXT NOT NULL,                     -- event.id
    user_key     TEXT,                              -- contract §7 ordering key
    user_id      TEXT,                              -- the user's names, for the admin filter
    user_phone   TEXT,                              -- digits only
    user_email   TEXT,
    user_ns      TEXT,
    kind         TEXT NOT NULL,
    received_at  INTEGER NOT NULL,                  -- unix ms
    status       TEXT NOT NULL,                     -- received | processing | done | failed | partial
    rule_errors  INTEGER NOT NULL DEFAULT 0,
    event        TEXT NOT NULL,                     -- canonical event JSON, with raw
    finished_at  INTEGER,
    UNIQUE (source, dedupe_id)
);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, seq);
CREATE INDEX IF NOT EXISTS events_finished ON events (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS rule_runs (
    event_seq INTEGER NOT NULL,
    run_id    TEXT NOT NULL,                        -- '' for the first run; run_<ULID> for replays
    position  INTEGER NOT NULL,
    rule      TEXT NOT NULL,
    actions   TEXT NOT NULL,                        -- JSON array of decided actions
    error     TEXT,                                 -- path:line:col: message
    PRIMARY KEY (event_seq, run_id, position)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- global send order
    event_seq     INTEGER NOT NULL,
    run_id        TEXT NOT NULL,                     -- which rule run decided it
    seq           INTEGER NOT NULL,                  -- position within the run
    order_key     TEXT NOT NULL,                     -- user key, or the event's own id
    rule          TEXT NOT NULL,
    action        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    params        TEXT NOT NULL,
    target        TEXT NOT NULL,
    status        TEXT NOT NULL,                     -- pending | in_flight | done | dead
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,                  -- unix ms: due time
    lease_until   INTEGER,
    request       TEXT,
    last_status   INTEGER,
    last_response TEXT,
    reason        TEXT,                              -- dead letters: why
    updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (provider, status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_open_by_key ON deliveries (order_key, id)
    WHERE status IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_seq);

CREATE TABLE IF NOT EXISTS attempts (
    delivery_id      INTEGER NOT NULL,
    n                INTEGER NOT NULL,
    at               INTEGER NOT NULL,
    status           INTEGER,
    response_excerpt TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dead_letters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    last_status   INTEGER,
    last_response TEXT,
    created_at    INTEGER NOT NULL,
    redriven_at   INTEGER                            -- set once; a later failure is a new row
);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (id) WHERE redriven_at IS NULL;

CREATE TABLE IF NOT EXISTS memory (
    source     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (source, user_id, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS identities (
    provider TEXT NOT NULL,
    phone    TEXT NOT NULL,
    user_ns  TEXT NOT NULL,
    PRIMARY KEY (provider, phone)
) WITHOUT ROWID;
