-- Enterprise operator accounts and the manufacturer's location of a batch (issue 7). Keep in
-- step with migrations/postgres/0010_enterprise_operators.sql.
--
-- enterprise_operators: client certificates issued by zhenwei's CA (`zhenwei enterprise operator
-- add`), pinned by SHA-256 (the key never enters the database), bound to one enterprise with a
-- role. Two-person rule: an enterprise's operators get access only while it has a confirmed,
-- unrevoked primary AND a confirmed, unrevoked secondary; each credential is confirmed by
-- another person (confirmed_by), never by its own holder. revoked_at refuses it from the next
-- request on.
CREATE TABLE enterprise_operators (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('primary', 'secondary')),
    cert_sha256   TEXT NOT NULL UNIQUE,
    cert_serial   TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    confirmed_at  INTEGER,
    confirmed_by  TEXT,
    revoked_at    INTEGER
);
CREATE INDEX enterprise_operators_by_enterprise ON enterprise_operators (enterprise_id);

-- Where a batch was made (division code), when not at the enterprise's own location (contract
-- manufacturing, a subsidiary's plant); routes batch-level counterfeiting cases. NULL: the
-- enterprise's location.
ALTER TABLE batches ADD COLUMN made_in TEXT;

-- The enterprise's market picture is aggregated from query events by product and day.
CREATE INDEX query_events_by_product_at ON query_events (product_id, at);
CREATE INDEX cases_by_enterprise ON cases (enterprise_id, id);
