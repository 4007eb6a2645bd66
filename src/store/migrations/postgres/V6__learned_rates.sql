-- Contract 9.5: a rate a provider announces (X-RateLimit-Limit) for one method and path,
-- shared by every instance: the spacing in ms that replaces each caller's own for that key.
ALTER TABLE rate_slots ADD COLUMN IF NOT EXISTS period_ms BIGINT;
