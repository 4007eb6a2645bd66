-- Issue 11 (contract 9.1, 9.4): what the rules were given and what shadow rules would have
-- done. tests/api_postgres compares the two schemas.

-- The user's memory as the live rules were given it when the event was first decided (a JSON
-- object, `{}` when empty), recorded whenever the running rules read or write memory; null
-- when not recorded (no rule used memory then, the event names no user, or it was decided
-- before this version). `switchboard fixture` writes it as the fixture's `memory`, and
-- `switchboard backtest` gives it to the rules.
ALTER TABLE events ADD COLUMN memory_seen TEXT;
-- Backtest and the shadow summary read a time window.
CREATE INDEX IF NOT EXISTS events_by_received ON events (received_at);

-- Shadow rules' runs (`rules/shadow/*.rhai`): recorded, never carried out.
CREATE TABLE IF NOT EXISTS shadow_runs (
    event_seq    BIGINT NOT NULL,
    position     INTEGER NOT NULL,
    rule         TEXT NOT NULL,
    actions      TEXT NOT NULL,                 -- JSON array of decided actions
    action_count INTEGER NOT NULL,
    error        TEXT,                          -- path:line:col: message
    differs      INTEGER NOT NULL,              -- 1: its actions are not a subset of the live ones
    received_at  BIGINT NOT NULL,               -- the event's, for windows
    PRIMARY KEY (event_seq, position)
);
CREATE INDEX IF NOT EXISTS shadow_runs_by_time ON shadow_runs (received_at);
