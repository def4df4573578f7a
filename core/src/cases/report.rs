//! The case report: the JSON document every delivery carries (schema:
//! `docs/cases/report.schema.json`).
//!
//! Built from the database **when it is sent** ([`for_delivery`], at every attempt of a
//! delivery): the outbox row names only the case, the receiver, the event and the version and
//! status the reported change left, so each report carries the evidence as of sending — also the
//! evidence that arrived while the case waited, undelivered, for its first report. `case.version`,
//! `case.status` and `case.outcome` stay those of the reported change (a `case.acknowledged`
//! sent late still says `acknowledged`); a `case.updated` shows the case as it is. The API's
//! `case.viewed` documents use [`build`] directly. It names the product, enterprise and batch, the place and the
//! office in charge, and the evidence — the most recent query events, each with channel, time,
//! place and the **masked** source (`138****5678`); scratch PINs are never shown.

use serde::Serialize;

use super::outbox::Claimed;
use super::routing::level;
use crate::clock::local_time;
use crate::codes::division::DivisionCode;
use crate::store::StoreError;
use crate::write_tx::{Row, WriteTx};

/// The `schema` field of every report.
pub const SCHEMA: &str = "zhenwei.case-report/1";
/// Most evidence events in one report.
pub const MAX_EVIDENCE: i64 = 50;

struct CaseRow {
    id: i64,
    code_key: String,
    reason: String,
    status: String,
    outcome: Option<String>,
    version: i64,
    place: Option<String>,
    opened_at: i64,
    updated_at: i64,
    event_count: i64,
    product_gtin: Option<String>,
    product_name: Option<String>,
    enterprise_name: Option<String>,
    enterprise_credit_code: Option<String>,
    enterprise_division: Option<String>,
    lot: Option<String>,
    production_date: Option<String>,
    expiry_date: Option<String>,
    office_prefix: Option<String>,
    office_name: Option<String>,
}

#[derive(Serialize)]
struct Evidence {
    event_id: i64,
    channel: String,
    at: i64,
    place: Option<String>,
    source: String,
    authenticity: String,
    warnings: String,
    query_number: i64,
}

fn case_row(r: &Row) -> Result<CaseRow, StoreError> {
    Ok(CaseRow {
        id: r.int(0)?,
        code_key: r.text(1)?,
        reason: r.text(2)?,
        status: r.text(3)?,
        outcome: r.opt_text(4)?,
        version: r.int(5)?,
        place: r.opt_text(6)?,
        opened_at: r.int(7)?,
        updated_at: r.int(8)?,
        event_count: r.int(9)?,
        product_gtin: r.opt_text(10)?,
        product_name: r.opt_text(11)?,
        enterprise_name: r.opt_text(12)?,
        enterprise_credit_code: r.opt_text(13)?,
        enterprise_division: r.opt_text(14)?,
        lot: r.opt_text(15)?,
        production_date: r.opt_text(16)?,
        expiry_date: r.opt_text(17)?,
        office_prefix: r.opt_text(18)?,
        office_name: r.opt_text(19)?,
    })
}

fn evidence_row(r: &Row) -> Result<Evidence, StoreError> {
    Ok(Evidence {
        event_id: r.int(0)?,
        channel: r.text(1)?,
        at: r.int(2)?,
        place: r.opt_text(3)?,
        source: r.text(4)?,
        authenticity: r.text(5)?,
        warnings: r.text(6)?,
        query_number: r.int(7)?,
    })
}

/// The family and shown form of a case's code key; scratch PINs and query sources stay hidden.
pub fn public_code(code_key: &str) -> (&'static str, Option<String>) {
    let k = code_key.strip_prefix("u:").unwrap_or(code_key);
    if let Some(c) = k.strip_prefix("sc:") {
        ("supervision", Some(c.to_owned()))
    } else if let Some(rest) = k.strip_prefix("gs1:") {
        match rest.split_once(':') {
            Some((gtin, serial)) => ("gs1", Some(format!("(01){gtin}(21){serial}"))),
            None => ("gs1", None),
        }
    } else if let Some(g) = k.strip_prefix("gtin:") {
        ("gtin", Some(g.to_owned()))
    } else if k.starts_with("pin:") {
        ("scratch_pin", None)
    } else if k.starts_with("src:") {
        ("source", None)
    } else {
        ("unknown", None)
    }
}

fn place_json(code: Option<&str>) -> serde_json::Value {
    match code {
        None => serde_json::Value::Null,
        Some(c) => {
            let d = DivisionCode::parse(c).ok();
            serde_json::json!({
                "code": c,
                "name_zh": d.as_ref().and_then(|d| d.name_zh()),
                "name_en": d.as_ref().and_then(|d| d.name_en()),
            })
        }
    }
}

/// The report of case `case_id` for `event` (`case.opened`, `case.escalated`,
/// `case.acknowledged`, `case.investigating`, `case.closed`), addressed to `recipient`
/// (`regulator` or `enterprise`).
pub async fn build<T: WriteTx>(
    conn: &mut T,
    case_id: i64,
    event: &str,
    recipient: &str,
    now: i64,
) -> Result<serde_json::Value, StoreError> {
    let c = conn
        .fetch_one(
        "SELECT c.id, c.code_key, c.reason, c.status, c.outcome, c.version, c.place, c.opened_at, \
         c.updated_at, c.event_count, p.gtin AS product_gtin, p.name AS product_name, \
         e.name AS enterprise_name, e.credit_code AS enterprise_credit_code, \
         e.division AS enterprise_division, b.lot, b.production_date, b.expiry_date, \
         r.prefix AS office_prefix, r.name AS office_name \
         FROM cases c LEFT JOIN products p ON p.id = c.product_id \
         LEFT JOIN enterprises e ON e.id = c.enterprise_id \
         LEFT JOIN batches b ON b.id = c.batch_id \
         LEFT JOIN regulators r ON r.id = c.regulator_id WHERE c.id = $1",
        vec![case_id.into()],
    )
    .await
    .and_then(|r| case_row(&r))?;
    let mut evidence: Vec<Evidence> = conn
        .fetch(
            "SELECT q.id AS event_id, q.channel, q.at, q.place, q.source_masked AS source, \
         q.authenticity, q.warnings, q.query_number FROM case_events ce \
         JOIN query_events q ON q.id = ce.event_id WHERE ce.case_id = $1 \
         ORDER BY q.id DESC LIMIT $2",
            vec![case_id.into(), MAX_EVIDENCE.into()],
        )
        .await?
        .iter()
        .map(evidence_row)
        .collect::<Result<_, _>>()?;
    evidence.reverse();
    let (family, code) = public_code(&c.code_key);
    let evidence: Vec<serde_json::Value> = evidence
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "event_id": e.event_id,
                "channel": e.channel,
                "at": e.at,
                "at_china": local_time(e.at),
                "place": place_json(e.place.as_deref()),
                "source": e.source,
                "authenticity": e.authenticity,
                "warnings": e.warnings.split(',').filter(|w| !w.is_empty()).collect::<Vec<_>>(),
                "query_number": e.query_number,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "schema": SCHEMA,
        "event": event,
        "recipient": recipient,
        "sent_at": now,
        "case": {
            "id": c.id,
            "version": c.version,
            "reason": c.reason,
            "status": c.status,
            "outcome": c.outcome,
            "place": place_json(c.place.as_deref()),
            "opened_at": c.opened_at,
            "updated_at": c.updated_at,
            "event_count": c.event_count,
            "code": { "family": family, "value": code },
            "office": c.office_prefix.as_ref().map(|p| serde_json::json!({
                "prefix": p,
                "level": level(p),
                "name": c.office_name,
            })),
        },
        "product": c.product_gtin.as_ref().map(|g| serde_json::json!({
            "gtin": g, "name": c.product_name,
        })),
        "enterprise": c.enterprise_credit_code.as_ref().map(|cc| serde_json::json!({
            "credit_code": cc, "name": c.enterprise_name,
            "place": place_json(c.enterprise_division.as_deref()),
        })),
        "batch": c.lot.as_ref().map(|l| serde_json::json!({
            "lot": l, "production_date": c.production_date, "expiry_date": c.expiry_date,
        })),
        "evidence": evidence,
    }))
}

/// A delivery's report as built for one attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    /// The JSON body to sign and send.
    pub body: String,
    /// The case's `event_count` the report carries (recorded when it is delivered, so evidence
    /// that arrives while it is in flight is sent as an update afterwards).
    pub event_count: Option<i64>,
}

/// The report for claimed delivery `d`, built now from the database (read-only). A row queued
/// before reports were built at send time carries its stored report, sent unchanged.
pub async fn for_delivery<T: WriteTx>(
    conn: &mut T,
    d: &Claimed,
    now: i64,
) -> Result<Built, StoreError> {
    if let Some(stored) = &d.payload {
        let event_count = serde_json::from_str::<serde_json::Value>(stored)
            .ok()
            .and_then(|v| v["case"]["event_count"].as_i64());
        return Ok(Built {
            body: stored.clone(),
            event_count,
        });
    }
    let mut report = build(conn, d.case_id, &d.event, &d.target_kind, now).await?;
    as_of_change(&mut report, d.case_version, d.case_status.as_deref());
    let event_count = report["case"]["event_count"].as_i64();
    Ok(Built {
        body: report.to_string(),
        event_count,
    })
}

/// Puts back the version and status of the change a delivery reports (the rest — evidence,
/// counts, office — is as of sending). An outcome exists only once closed, which is final.
fn as_of_change(report: &mut serde_json::Value, version: Option<i64>, status: Option<&str>) {
    let Some(case) = report.get_mut("case").and_then(|c| c.as_object_mut()) else {
        return;
    };
    if let Some(v) = version {
        case.insert("version".into(), v.into());
    }
    if let Some(s) = status {
        case.insert("status".into(), s.into());
        if s != "closed" {
            case.insert("outcome".into(), serde_json::Value::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_shown_but_secrets_are_not() {
        assert_eq!(
            public_code("sc:12345678901234567890"),
            ("supervision", Some("12345678901234567890".into()))
        );
        assert_eq!(
            public_code("u:gs1:09506000134352:XYZ"),
            ("gs1", Some("(01)09506000134352(21)XYZ".into()))
        );
        assert_eq!(public_code("pin:abcdef"), ("scratch_pin", None));
        assert_eq!(public_code("src:abcdef"), ("source", None));
    }

    #[test]
    fn a_report_keeps_the_version_and_status_of_its_change() {
        let mut r = serde_json::json!({"case": {"version": 5, "status": "closed",
            "outcome": "genuine", "event_count": 9}});
        as_of_change(&mut r, Some(3), Some("acknowledged"));
        assert_eq!(
            r["case"],
            serde_json::json!({"version": 3, "status": "acknowledged", "outcome": null,
                "event_count": 9})
        );
        let mut closed = serde_json::json!({"case": {"version": 5, "status": "closed",
            "outcome": "genuine"}});
        as_of_change(&mut closed, Some(5), Some("closed"));
        assert_eq!(closed["case"]["outcome"], "genuine");
        // An update is the case as it is.
        let mut now = serde_json::json!({"case": {"version": 7, "status": "investigating",
            "outcome": null}});
        let before = now.clone();
        as_of_change(&mut now, None, None);
        assert_eq!(now, before);
    }
}
