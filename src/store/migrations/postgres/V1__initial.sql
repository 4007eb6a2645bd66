-- Switchboard's PostgreSQL schema: the SQLite schema's rows, plus leases so that several
-- `serve` processes share the work. Times are unix milliseconds from the instances' clocks.
CREATE TABLE IF NOT EXISTS events (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    dedupe_id    TEXT NOT NULL,
    user_key     TEXT,
    order_key    TEXT NOT NULL,
    user_id      TEXT,
    user_phone   TEXT,
    user_email   TEXT,
    user_ns      TEXT,
    kind         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    status       TEXT NOT NULL,
    rule_errors  INTEGER NOT NULL DEFAULT 0,
    event        TEXT NOT NULL,
    finished_at  BIGINT,
    lease_owner  TEXT,
    lease_until  BIGINT,
    UNIQUE (source, dedupe_id)
);
CREATE INDEX IF NOT EXISTS events_waiting ON events (order_key, seq) WHERE status = 'received';
CREATE INDEX IF NOT EXISTS events_finished ON events (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS rule_runs (
    event_seq BIGINT NOT NULL,
    run_id    TEXT NOT NULL,
    position  INTEGER NOT NULL,
    rule      TEXT NOT NULL,
    actions   TEXT NOT NULL,
    error     TEXT,
    PRIMARY KEY (event_seq, run_id, position)
);

CREATE TABLE IF NOT EXISTS deliveries (
    id            BIGSERIAL PRIMARY KEY,
    event_seq     BIGINT NOT NULL,
    run_id        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    order_key     TEXT NOT NULL,
    rule          TEXT NOT NULL,
    action        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    params        TEXT NOT NULL,
    target        TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    request       TEXT,
    last_status   INTEGER,
    last_response TEXT,
    reason        TEXT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (provider, status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_open_by_key ON deliveries (order_key, id)
    WHERE status IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_seq);

CREATE TABLE IF NOT EXISTS attempts (
    delivery_id      BIGINT NOT NULL,
    n                INTEGER NOT NULL,
    at               BIGINT NOT NULL,
    status           INTEGER,
    response_excerpt TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE IF NOT EXISTS dead_letters (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    last_status   INTEGER,
    last_response TEXT,
    created_at    BIGINT NOT NULL,
    redriven_at   BIGINT
);

CREATE TABLE IF NOT EXISTS memory (
    source     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (source, user_id, key)
);

CREATE TABLE IF NOT EXISTS identities (
    provider TEXT NOT NULL,
    phone    TEXT NOT NULL,
    user_ns  TEXT NOT NULL,
    PRIMARY KEY (provider, phone)
);

-- Shared rate limits: the earliest time the next request under a key may go out.
CREATE TABLE IF NOT EXISTS rate_slots (
    key     TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);
