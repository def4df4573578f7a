-- Cases and reporting to regulators (issue 7; numbered after the issue so that migrations of
-- branches developed at the same time do not collide). Keep in step with migrations/postgres/0007_cases.sql.
--
-- regulators: one market-supervision office per division-code prefix ('' = national, 'PP' a
-- province, 'PPCC' a city, 'PPCCXX' a county); a case goes to the longest prefix of its place.
CREATE TABLE regulators (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix     TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Where a brand enterprise receives its case reports (HTTPS); NULL: none.
ALTER TABLE enterprises ADD COLUMN report_url TEXT;

-- The case lifecycle: status open → delivered → acknowledged → investigating → closed.
-- regulator_id: the office currently in charge; version: bumped by every change (idempotency
-- keys of deliveries name it); due_at: acknowledgement deadline (7 working days after delivery).
ALTER TABLE cases ADD COLUMN regulator_id INTEGER REFERENCES regulators(id);
ALTER TABLE cases ADD COLUMN outcome TEXT;
ALTER TABLE cases ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cases ADD COLUMN delivered_at INTEGER;
ALTER TABLE cases ADD COLUMN due_at INTEGER;
ALTER TABLE cases ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE cases ADD COLUMN closed_at INTEGER;
CREATE INDEX cases_by_status ON cases (status, due_at);
CREATE INDEX cases_by_place ON cases (place);

-- Every escalation of an unacknowledged case to the next level up.
CREATE TABLE case_escalations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id        INTEGER NOT NULL REFERENCES cases(id),
    from_regulator INTEGER REFERENCES regulators(id),
    to_regulator   INTEGER NOT NULL REFERENCES regulators(id),
    due_at         INTEGER NOT NULL,
    at             INTEGER NOT NULL
);

-- The transactional outbox: written in the same transaction as the case change it reports;
-- workers claim rows (state 'sending', a random claim token, a lease until claimed_until), send
-- them, and finish them with the token. A lease that expires (a crashed worker) makes the row
-- claimable again; receivers deduplicate by idempotency_key.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases(id),
    target_kind     TEXT NOT NULL CHECK (target_kind IN ('regulator', 'enterprise')),
    target_id       INTEGER NOT NULL,
    url             TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    claim_token     TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_case ON deliveries (case_id);

-- Regulator accounts: client certificates issued by zhenwei's CA (`zhenwei regulator issue`),
-- pinned by SHA-256 and bound to one office, hence to its division-code prefix. The API
-- enforces that prefix on every request; revoked_at refuses the certificate from then on.
CREATE TABLE regulator_credentials (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    regulator_id INTEGER NOT NULL REFERENCES regulators(id),
    name         TEXT NOT NULL UNIQUE,
    cert_sha256  TEXT NOT NULL UNIQUE,
    cert_serial  TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    not_after    INTEGER NOT NULL,
    revoked_at   INTEGER
);
