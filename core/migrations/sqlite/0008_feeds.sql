-- Regulatory status feeds (issue 8). Numbered 0008 to leave room for migrations of branches
-- built in parallel; keep in step with migrations/postgres/0008_feeds.sql.
--
-- feed_imports: one row per applied import of a feed file (who, when, which file, counts).
CREATE TABLE feed_imports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            INTEGER NOT NULL,
    file_name     TEXT,
    file_sha256   TEXT NOT NULL,
    format        TEXT NOT NULL,
    encoding      TEXT NOT NULL,
    rows_total    INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    added         INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    withdrawn     INTEGER NOT NULL,
    unchanged     INTEGER NOT NULL,
    notifications INTEGER NOT NULL
);

-- A feed entry is a status_notices row with the feed's own stable id (reference): a later
-- import with the same kind and reference supersedes it; status 'withdrawn' deactivates it.
ALTER TABLE status_notices ADD COLUMN reference TEXT;
ALTER TABLE status_notices ADD COLUMN title TEXT;
ALTER TABLE status_notices ADD COLUMN published_on TEXT;
ALTER TABLE status_notices ADD COLUMN import_id INTEGER REFERENCES feed_imports(id);
ALTER TABLE status_notices ADD COLUMN updated_at INTEGER;
CREATE UNIQUE INDEX status_notices_by_reference ON status_notices (kind, reference);
CREATE INDEX status_notices_by_cert_no ON status_notices (cert_no);
CREATE INDEX status_notices_by_licence_no ON status_notices (licence_no);

-- Which product and batch a query touched, so a recall can find the consumers to tell.
ALTER TABLE query_events ADD COLUMN product_id INTEGER;
ALTER TABLE query_events ADD COLUMN batch_id INTEGER;
CREATE INDEX query_events_by_batch ON query_events (batch_id) WHERE channel = 'sms';
CREATE INDEX query_events_by_product ON query_events (product_id) WHERE channel = 'sms';

-- The proactive recall notice outbox: one row per (consumer, recall) however often either
-- side repeats itself; the SMS gateway drains it (core/src/feeds/outbox.rs).
CREATE TABLE recall_notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source_key TEXT NOT NULL,
    reference  TEXT NOT NULL,
    notice_id  INTEGER NOT NULL REFERENCES status_notices(id),
    import_id  INTEGER REFERENCES feed_imports(id),
    event_id   INTEGER NOT NULL,
    batch_id   INTEGER,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'opted_out', 'no_contact', 'failed', 'cancelled')),
    attempts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_error TEXT,
    UNIQUE (source_key, reference)
);
CREATE INDEX recall_notifications_pending ON recall_notifications (state, id);

-- Bearer tokens of regulators posting feeds over HTTP: only the SHA-256 of each token is kept.
CREATE TABLE feed_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    kinds      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
