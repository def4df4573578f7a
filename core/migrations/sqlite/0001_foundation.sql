-- zhenwei foundation schema (SQLite). Keep in step with migrations/postgres/0001_foundation.sql:
-- same tables, same columns, same meaning. Times are Unix milliseconds (UTC); dates are
-- 'YYYY-MM-DD' text, which sorts and compares correctly on both backends.

CREATE TABLE enterprises (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    credit_code TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    name_en     TEXT,
    division    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE prefixes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
    prefix        TEXT NOT NULL UNIQUE,
    registered_on TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('registered', 'cancelled')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE products (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
    gtin          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    name_en       TEXT,
    spec          TEXT,
    category      TEXT,
    ccc_cert_no   TEXT,
    licence_no    TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE batches (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id      INTEGER NOT NULL REFERENCES products(id),
    lot             TEXT NOT NULL,
    production_date TEXT,
    expiry_date     TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (product_id, lot)
);

-- One row per issued range of supervision codes; no row per code.
CREATE TABLE code_ranges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id   INTEGER NOT NULL REFERENCES products(id),
    key_version  INTEGER NOT NULL,
    size         INTEGER NOT NULL CHECK (size > 0),
    purpose      TEXT,
    requested_at INTEGER NOT NULL,
    exported_at  INTEGER
);

-- Activation and cancellation of whole ranges or sub-ranges [start_serial, end_serial).
-- For a serial the newest covering segment decides its state.
CREATE TABLE range_segments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    range_id     INTEGER NOT NULL REFERENCES code_ranges(id),
    start_serial INTEGER NOT NULL,
    end_serial   INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('active', 'cancelled')),
    batch_id     INTEGER REFERENCES batches(id),
    at           INTEGER NOT NULL,
    CHECK (end_serial > start_serial)
);
CREATE INDEX range_segments_by_range ON range_segments (range_id, start_serial);

-- Uploaded GS1 serial numbers (AI 21) per product (AI 01).
CREATE TABLE serials (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    serial      TEXT NOT NULL,
    batch_id    INTEGER REFERENCES batches(id),
    state       TEXT NOT NULL CHECK (state IN ('active', 'cancelled')),
    uploaded_at INTEGER NOT NULL,
    UNIQUE (product_id, serial)
);

-- Uploaded scratch PINs, stored only as keyed hashes of their normalised form.
CREATE TABLE pins (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pin_hash    TEXT NOT NULL UNIQUE,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    batch_id    INTEGER REFERENCES batches(id),
    state       TEXT NOT NULL CHECK (state IN ('active', 'cancelled')),
    uploaded_at INTEGER NOT NULL
);

CREATE TABLE stores (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    division   TEXT NOT NULL,
    address    TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE kiosks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id   INTEGER NOT NULL REFERENCES stores(id),
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Per-code query counter: the count and first query come from the same atomic write that
-- records the event.
CREATE TABLE code_history (
    code_key    TEXT PRIMARY KEY,
    query_count INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    first_place TEXT,
    last_at     INTEGER NOT NULL
);

CREATE TABLE query_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    code_key      TEXT NOT NULL,
    family        TEXT NOT NULL,
    channel       TEXT NOT NULL,
    source_key    TEXT NOT NULL,
    source_masked TEXT NOT NULL,
    store_id      INTEGER REFERENCES stores(id),
    place         TEXT,
    city          TEXT,
    at            INTEGER NOT NULL,
    authenticity  TEXT NOT NULL,
    warnings      TEXT NOT NULL,
    query_number  INTEGER NOT NULL
);
CREATE INDEX query_events_by_code ON query_events (code_key, at);
CREATE INDEX query_events_by_source ON query_events (source_key, at);

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    code_key      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    product_id    INTEGER REFERENCES products(id),
    batch_id      INTEGER REFERENCES batches(id),
    enterprise_id INTEGER REFERENCES enterprises(id),
    place         TEXT,
    opened_at     INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    event_count   INTEGER NOT NULL,
    UNIQUE (code_key, reason)
);

CREATE TABLE case_events (
    case_id  INTEGER NOT NULL REFERENCES cases(id),
    event_id INTEGER NOT NULL REFERENCES query_events(id),
    PRIMARY KEY (case_id, event_id)
);

-- Regulatory status (recalls, spot checks, certificates, licences, blacklist). Matched by the
-- non-null keys of each row.
CREATE TABLE status_notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('recall', 'spot_check', 'ccc', 'licence', 'blacklist')),
    gtin        TEXT,
    lot         TEXT,
    credit_code TEXT,
    cert_no     TEXT,
    licence_no  TEXT,
    status      TEXT NOT NULL,
    valid_until TEXT,
    advice_zh   TEXT,
    advice_en   TEXT,
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX status_notices_by_gtin ON status_notices (gtin);
CREATE INDEX status_notices_by_credit_code ON status_notices (credit_code);

-- Append-only, hash-chained audit log. audit_head holds the chain's tip; updating it first in a
-- transaction serialises appenders on every backend.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY,
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
