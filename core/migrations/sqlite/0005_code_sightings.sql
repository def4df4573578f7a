-- Where and at which stores each code has been seen: the clone rules ("seen in N cities within
-- the window", "seen at N stores") read these few rows instead of every event of the code, so a
-- code's ten-thousandth query costs what its second did.
CREATE TABLE code_sightings (
    code_key TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('city', 'store')),
    value    TEXT NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (code_key, kind, value)
) WITHOUT ROWID;
INSERT INTO code_sightings (code_key, kind, value, last_at)
    SELECT code_key, 'city', city, MAX(at) FROM query_events
    WHERE city IS NOT NULL GROUP BY code_key, city;
INSERT INTO code_sightings (code_key, kind, value, last_at)
    SELECT code_key, 'store', CAST(store_id AS TEXT), MAX(at) FROM query_events
    WHERE store_id IS NOT NULL GROUP BY code_key, store_id;

-- One B-tree per counter instead of a rowid table plus its primary-key index.
CREATE TABLE code_history_by_key (
    code_key    TEXT PRIMARY KEY,
    query_count INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    first_place TEXT,
    last_at     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO code_history_by_key SELECT code_key, query_count, first_at, first_place, last_at
    FROM code_history;
DROP TABLE code_history;
ALTER TABLE code_history_by_key RENAME TO code_history;
