-- Outbound SMS (issues 5 and 8): every mobile-terminated message zhenwei hands to an SMSC that
-- it needs to follow up — recall notices, and replies when receipts are on — and the delivery
-- receipts that come back for them. Keep in step with migrations/postgres/0013_sms_outbound.sql.
--
-- sms_mt: one row per message (all its concatenated parts), written BEFORE it is handed to the
-- transport, so that after a crash the row tells whether the SMSC accepted it (message_ids set
-- by submit_sm_resp / Kannel's answer). purpose: 'reply' or 'recall'; notice_id links a recall
-- notice (recall_notifications.id). The recipient is stored only as its keyed hash and masked.
CREATE TABLE sms_mt (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose      TEXT NOT NULL,
    notice_id    INTEGER,
    source_key   TEXT,
    to_masked    TEXT NOT NULL,
    transport    TEXT NOT NULL,
    parts        INTEGER NOT NULL DEFAULT 1,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'accepted', 'failed', 'delivered', 'undelivered')),
    message_ids  TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX sms_mt_by_notice ON sms_mt (notice_id);

-- One row per SMSC message id (one per part): filled by submit_sm_resp, settled by receipts.
CREATE TABLE sms_receipts (
    message_id   TEXT PRIMARY KEY,
    mt_id        INTEGER,
    stat         TEXT,
    err          TEXT,
    done_date    TEXT,
    submitted_at INTEGER,
    received_at  INTEGER
);
CREATE INDEX sms_receipts_by_mt ON sms_receipts (mt_id);

-- Opting back in (开通/START/UNSTOP): when it happened.
ALTER TABLE contacts ADD COLUMN opted_in_at INTEGER;
