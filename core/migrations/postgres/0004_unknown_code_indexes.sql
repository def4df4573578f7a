-- Events of unrecognised codes (code keys 'u:…'), indexed on their own: the enumeration and
-- re-entry rules read only these, and must cost the same for the ten-thousandth guess of an
-- attack as for the first.
CREATE INDEX query_events_unknown_by_source ON query_events (source_key, at) WHERE code_key LIKE 'u:%';
CREATE INDEX query_events_unknown_by_code ON query_events (code_key, source_key) WHERE code_key LIKE 'u:%';
-- The general by-source index served only the enumeration read, which now uses the partial one.
DROP INDEX query_events_by_source;
