-- Case reports are built when they are sent, not when they are queued: a delivery row holds only
-- what to send (case, target, event, idempotency key) and the change it reports, and the worker
-- builds the signed report from the database for each attempt, so it carries the evidence as of
-- sending. So:
--   payload          NULL for rows queued from now on; rows queued before keep their text and
--                    are sent as stored.
--   case_version     the case version the change left (NULL for `case.updated`: the case as sent).
--   case_status      the status the change left (NULL for `case.updated`).
--   event_count_sent the case's event_count that the delivered report carried (set on success),
--                    so a receiver that got a report before newer evidence gets an update.
-- SQLite cannot drop a NOT NULL constraint in place: the table is rebuilt (nothing references it).
CREATE TABLE deliveries_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id          INTEGER NOT NULL REFERENCES cases(id),
    target_kind      TEXT NOT NULL CHECK (target_kind IN ('regulator', 'enterprise')),
    target_id        INTEGER NOT NULL,
    url              TEXT NOT NULL,
    event            TEXT NOT NULL,
    payload          TEXT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    claim_token      TEXT,
    claimed_until    INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    case_version     INTEGER,
    case_status      TEXT,
    event_count_sent INTEGER
);
INSERT INTO deliveries_new (id, case_id, target_kind, target_id, url, event, payload,
    idempotency_key, attempts, next_attempt_at, state, claim_token, claimed_until, last_error,
    created_at, delivered_at)
SELECT id, case_id, target_kind, target_id, url, event, payload, idempotency_key, attempts,
    next_attempt_at, state, claim_token, claimed_until, last_error, created_at, delivered_at
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_case ON deliveries (case_id);
