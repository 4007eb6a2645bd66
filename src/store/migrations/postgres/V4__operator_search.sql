-- Contract 9.7 (operators page, filter, bulk-recover and search).

-- A discarded dead letter is kept for the record (listed with `include=discarded`) and is
-- never redriven; retention then removes it with its event like any closed letter.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS discarded_at BIGINT;
CREATE INDEX IF NOT EXISTS dead_letters_by_created ON dead_letters (created_at, id);

-- Event search (`GET /admin/events?q=`): the words of each event's text and of the string
-- and number values of its raw payload ('simple' configuration: no stemming, no stop
-- words, as SQLite's FTS5), written by the event's own INSERT, so an event is searchable
-- once its 202 is sent. SQLite keeps the same words in the FTS5 table `events_search`.
ALTER TABLE events ADD COLUMN IF NOT EXISTS search tsvector;
UPDATE events SET search =
       to_tsvector('simple', coalesce(event::jsonb ->> 'text', ''))
       || jsonb_to_tsvector('simple', coalesce(event::jsonb -> 'raw', 'null'::jsonb), '["string", "numeric"]')
 WHERE search IS NULL;
CREATE INDEX IF NOT EXISTS events_search ON events USING gin (search);
