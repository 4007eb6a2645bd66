-- The ready queue (head of each key), poison reasons, and the columns and indexes that had
-- drifted between the two back ends. tests/api_postgres compares the two schemas.

ALTER TABLE events ADD COLUMN IF NOT EXISTS reason TEXT;
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, seq);

-- `head` = 1 on the oldest open delivery of each order key, the only one that may be
-- claimed. Changing it takes the key's advisory lock (see store/postgres), so two instances
-- never both miss promoting the next one.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS head INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET head = 1
 WHERE status IN ('pending', 'in_flight')
   AND id = (SELECT min(x.id) FROM deliveries x
              WHERE x.order_key = deliveries.order_key AND x.status IN ('pending', 'in_flight'));
DROP INDEX IF EXISTS deliveries_due;
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (provider, next_at, id)
    WHERE head = 1 AND status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (lease_until) WHERE status = 'in_flight';

CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (id) WHERE redriven_at IS NULL;
CREATE INDEX IF NOT EXISTS dead_letters_by_delivery ON dead_letters (delivery_id);
