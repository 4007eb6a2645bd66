-- Providers an operator paused (contract 9.6): their deliveries wait, unattempted, until
-- resumed. A row per paused provider; resuming deletes it. Shared by every instance.
CREATE TABLE IF NOT EXISTS provider_pauses (
    provider TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL
);
