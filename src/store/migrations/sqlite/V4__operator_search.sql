-- Contract 9.7 (operators page, filter, bulk-recover and search).

-- A discarded dead letter is kept for the record (listed with `include=discarded`) and is
-- never redriven; retention then removes it with its event like any closed letter.
ALTER TABLE dead_letters ADD COLUMN discarded_at INTEGER;
CREATE INDEX IF NOT EXISTS dead_letters_by_created ON dead_letters (created_at, id);

-- Event search (`GET /admin/events?q=`): the words of each event's text and of the string
-- and number values of its raw payload, in an FTS5 index keyed by `events.seq`. It is
-- written in the same transaction as the event (so an event is searchable once its 202 is
-- sent) and deleted with it by retention. Contentless: the words are not stored twice.
-- PostgreSQL keeps the same words as `events.search` (tsvector, GIN index).
CREATE VIRTUAL TABLE IF NOT EXISTS events_search USING fts5(
    words, content = '', contentless_delete = 1, detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO events_search (rowid, words)
SELECT seq,
       coalesce(json_extract(event, '$.text'), '') || ' ' ||
       coalesce((SELECT group_concat(value, ' ') FROM json_tree(events.event, '$.raw')
                  WHERE type IN ('text', 'integer', 'real')), '')
  FROM events WHERE json_valid(event);
