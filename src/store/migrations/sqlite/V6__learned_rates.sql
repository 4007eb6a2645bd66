-- Contract 9.5: the column PostgreSQL uses to share a rate a provider announced
-- (X-RateLimit-Limit) between instances. One SQLite process keeps its rates in memory; the
-- column keeps the two schemas alike.
ALTER TABLE rate_slots ADD COLUMN period_ms INTEGER;
