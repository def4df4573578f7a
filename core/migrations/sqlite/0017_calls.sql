-- The IVR's call log (issue 6): one row per call the hotline answered (or that was cancelled
-- after the offer was answered), written when the call ends. The caller's number is personal
-- data: encrypted (AES-256-GCM, key derived from the key file, the row's source_key as
-- associated data — as in contacts), found by keyed hash (source_key = the value of the
-- caller's query_events.source_key), shown masked. Times are Unix ms; queries is a JSON array
-- of {code, authenticity, event_id} in the order the caller keyed them.
CREATE TABLE calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sip_call_id   TEXT NOT NULL,
    source_key    TEXT NOT NULL,
    caller_cipher TEXT NOT NULL,
    caller_masked TEXT NOT NULL,
    trunk         TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    answered_at   INTEGER,
    ended_at      INTEGER NOT NULL,
    lang          TEXT,
    queries       TEXT NOT NULL,
    case_id       INTEGER,
    transfer_to   TEXT,
    hangup        TEXT NOT NULL
);
CREATE INDEX calls_source ON calls (source_key, started_at);
CREATE INDEX calls_started ON calls (started_at);
