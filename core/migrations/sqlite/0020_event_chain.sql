-- A code's events form a chain instead of an index: each event names the code's previous event,
-- and code_history names the last one. Recording an event then dirties only the pages it already
-- touches (the event table's tail and the code's counter row) instead of a random leaf of a
-- (code_key, at) index as well; `zhenwei history` walks the chain from code_history.
-- `tail_before` holds the previous last event while an upsert runs, so the upsert's RETURNING can
-- hand it back exactly (SET expressions read the row as it was), also under concurrent writers.
ALTER TABLE query_events ADD COLUMN prev_event_id INTEGER;
ALTER TABLE code_history ADD COLUMN last_event_id INTEGER;
ALTER TABLE code_history ADD COLUMN tail_before INTEGER;
UPDATE query_events SET prev_event_id = (
    SELECT MAX(p.id) FROM query_events p
    WHERE p.code_key = query_events.code_key AND p.id < query_events.id
) WHERE code_key <> '';
UPDATE code_history SET last_event_id = (
    SELECT MAX(e.id) FROM query_events e WHERE e.code_key = code_history.code_key
);
DROP INDEX query_events_by_code;
