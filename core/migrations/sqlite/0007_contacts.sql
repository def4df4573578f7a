-- People who texted or called (issue 5): the numbers replies, recall notices (issue 8) and
-- rewards may be sent to. A number is stored only encrypted (AES-256-GCM under a key derived
-- from the key file, which never enters the database) and found by its keyed hash, which is the
-- same value as query_events.source_key of that person's queries, so "who queried this batch
-- and did not opt out" is one join. opted_out (0/1) is set by TD/STOP/退订.
CREATE TABLE contacts (
    source_key    TEXT PRIMARY KEY,
    channel       TEXT NOT NULL,
    number_cipher TEXT NOT NULL,
    number_masked TEXT NOT NULL,
    opted_out     INTEGER NOT NULL DEFAULT 0,
    opted_out_at  INTEGER,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL
);
