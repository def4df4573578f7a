-- Where a phone number is (issue 6/7, SPEC "Routing": "for SMS/IVR the caller's … number-derived
-- place"): a Chinese mobile number's segment (号段, its first 7 digits, e.g. 1380574) or a
-- fixed-line area code with its trunk 0 (0574), mapped to a GB/T 2260 division code (330200).
-- Imported from a CSV file by `zhenwei numbers import`; a later import replaces a prefix's row.
-- kind: 'mobile' or 'area'.
CREATE TABLE number_places (
    prefix      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    division    TEXT NOT NULL,
    imported_at INTEGER NOT NULL
);
