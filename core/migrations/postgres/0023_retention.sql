-- Retention of personal data (core/src/retention.rs): the purge finds what is past its period
-- by these times, in bounded chunks, without scanning the tables. calls(started_at) is indexed
-- already (calls_started). Keep in step with the other backend's 0023_retention.sql.
--
-- A purged contact that had opted out keeps its row with number_cipher and number_masked set
-- to '' (no number known; the opt-out stays on record under the keyed hash), so these columns
-- stay NOT NULL.
CREATE INDEX contacts_last_seen ON contacts (last_seen);
CREATE INDEX sms_mt_created ON sms_mt (created_at);
