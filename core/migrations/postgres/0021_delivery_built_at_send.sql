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
ALTER TABLE deliveries ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE deliveries ADD COLUMN case_version BIGINT;
ALTER TABLE deliveries ADD COLUMN case_status TEXT;
ALTER TABLE deliveries ADD COLUMN event_count_sent BIGINT;
