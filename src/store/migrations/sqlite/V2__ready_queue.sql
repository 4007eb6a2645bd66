-- The ready queue (head of each key), poison reasons, leases, and the columns and indexes
-- that had drifted between the two back ends. tests/api_postgres compares the two schemas.

-- Events: the ordering key as a column (it was computed in Rust), why an event failed
-- without running (`unreadable`), and leases as in PostgreSQL.
ALTER TABLE events ADD COLUMN order_key TEXT NOT NULL DEFAULT '';
UPDATE events SET order_key = coalesce(user_key, 'event:' || event_id);
ALTER TABLE events ADD COLUMN reason TEXT;
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN lease_until INTEGER;
CREATE INDEX IF NOT EXISTS events_waiting ON events (order_key, seq) WHERE status = 'received';

-- Deliveries: `head` = 1 on the oldest open delivery of each order key, the only one that
-- may be claimed. Claims read the partial index `deliveries_ready`, so their cost does not
-- grow with the number of waiting deliveries.
ALTER TABLE deliveries ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
UPDATE deliveries SET head = 1
 WHERE status IN ('pending', 'in_flight')
   AND id = (SELECT min(x.id) FROM deliveries x
              WHERE x.order_key = deliveries.order_key AND x.status IN ('pending', 'in_flight'));
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (provider, next_at, id)
    WHERE head = 1 AND status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (lease_until) WHERE status = 'in_flight';

CREATE INDEX IF NOT EXISTS dead_letters_by_delivery ON dead_letters (delivery_id);

-- Shared rate-limit slots: used only where several instances share the database
-- (PostgreSQL); kept here too so that both back ends have the same tables.
CREATE TABLE IF NOT EXISTS rate_slots (
    key     TEXT PRIMARY KEY,
    next_at INTEGER NOT NULL
) WITHOUT ROWID;
