-- The catalog version: bumped in the same transaction as every change to ranges, products,
-- prefixes, batches, serials, PINs, stores or notices; read by the recorder to invalidate
-- the in-memory catalog cache of every process sharing this database.
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);
