-- Where and at which stores each code has been seen: the clone rules ("seen in N cities within
-- the window", "seen at N stores") read these few rows instead of every event of the code, so a
-- code's ten-thousandth query costs what its second did.
CREATE TABLE code_sightings (
    code_key TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('city', 'store')),
    value    TEXT NOT NULL,
    last_at  BIGINT NOT NULL,
    PRIMARY KEY (code_key, kind, value)
);
INSERT INTO code_sightings (code_key, kind, value, last_at)
    SELECT code_key, 'city', city, MAX(at) FROM query_events
    WHERE city IS NOT NULL GROUP BY code_key, city;
INSERT INTO code_sightings (code_key, kind, value, last_at)
    SELECT code_key, 'store', CAST(store_id AS TEXT), MAX(at) FROM query_events
    WHERE store_id IS NOT NULL GROUP BY code_key, store_id;
