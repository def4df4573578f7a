-- Consumer reports filed with an idempotency key (`report_id` of POST /v1/report; the kiosk
-- agent sends one per press of "report this product" and retries until answered): a report
-- sent again answers with the case it already filed instead of filing it a second time.
CREATE TABLE report_ids (
    report_id  TEXT PRIMARY KEY,
    case_id    BIGINT NOT NULL REFERENCES cases(id),
    filed_at   BIGINT NOT NULL
);
