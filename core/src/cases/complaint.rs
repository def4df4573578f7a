//! A case as a 12315 complaint/report form (投诉举报), for an office that files it in the
//! national 12315 platform or prints it for the case file.
//!
//! The form is built from the case report ([`super::report::build`], so it shows exactly what
//! a delivery would) plus the stores where the evidence was gathered. Its fields follow the
//! 12315 举报 form: 举报人 (the reporter), 被举报方 (the store or place), 商品 (product, GTIN,
//! batch, code), 事实与理由 (reason and evidence summary), 时间/地点. JSON fields are documented
//! in `docs/cases/README.md` ("12315 form").
//!
//! Personal data: the reporter is shown **masked** (`138****5678`), as everywhere. The SPEC
//! lets a reporter who consents leave contact details for the reward scheme (举报奖励); zhenwei
//! records no such consent yet, so `reporter.consented` is always `false` and
//! `reporter.contact` always `null` — the field is there for when it does.

use serde::Serialize;

use super::report;
use super::CaseError;
use crate::clock::local_time;
use crate::store::Store;

/// The `schema` field of every form.
pub const SCHEMA: &str = "zhenwei.12315-form/1";

/// Chinese and English label of a case reason.
pub fn reason_label(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "excessive_queries" => ("同一码查询次数异常", "code queried too often"),
        "clone_suspected" => ("疑似复制码（多地查询）", "suspected cloned code"),
        "not_activated" => ("码未激活即被查询", "code not activated"),
        "cancelled" => ("已作废的码", "cancelled code"),
        "batch_mismatch" => ("批号不符", "batch mismatch"),
        "expiry_mismatch" => ("有效期不符", "expiry mismatch"),
        "prefix_invalid" => ("厂商识别代码无效", "invalid company prefix"),
        "unknown_code" => ("未登记的码", "unknown code"),
        "enumeration" => ("疑似批量猜码", "code enumeration"),
        "consumer_report" => ("消费者举报", "consumer report"),
        _ => ("其他", "other"),
    }
}

/// A store where evidence was gathered (the kiosk's store).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StorePlace {
    pub name: String,
    pub division: String,
    pub address: Option<String>,
    /// Queries of this case at this store.
    pub events: i64,
}

/// The form of case `id` as JSON (see the module doc). The caller has checked the
/// jurisdiction.
pub async fn build(store: &Store, id: i64, now: i64) -> Result<serde_json::Value, CaseError> {
    let mut conn = store.pool().acquire().await?;
    let r = report::build(&mut *conn, id, "case.12315", "regulator", now).await?;
    let stores: Vec<StorePlace> = sqlx::query_as(
        "SELECT s.name, s.division, s.address, COUNT(*) AS events FROM case_events ce \
         JOIN query_events q ON q.id = ce.event_id JOIN stores s ON s.id = q.store_id \
         WHERE ce.case_id = $1 GROUP BY s.id, s.name, s.division, s.address \
         ORDER BY COUNT(*) DESC, s.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(form(&r, &stores, now))
}

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The form from a case report and its stores (pure).
pub fn form(r: &serde_json::Value, stores: &[StorePlace], now: i64) -> serde_json::Value {
    let null = serde_json::Value::Null;
    let case = r.get("case").unwrap_or(&null);
    let reason = str_at(case, &["reason"]).unwrap_or_default();
    let (reason_zh, reason_en) = reason_label(reason);
    let evidence: Vec<&serde_json::Value> = r
        .get("evidence")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // The reporter: the person behind the first consumer report, else the first query.
    let first = evidence.first().copied();
    let reporter = serde_json::json!({
        "name": null,
        "contact_masked": first.and_then(|e| str_at(e, &["source"])),
        "channel": first.and_then(|e| str_at(e, &["channel"])),
        "consented": false,
        "contact": null,
    });
    let main_store = stores.first();
    let place = case.get("place").cloned().unwrap_or(null.clone());
    let reported_party = serde_json::json!({
        "name": main_store.map(|s| s.name.clone()),
        "address": main_store.and_then(|s| s.address.clone()),
        "division": main_store.map(|s| s.division.clone()),
        "place": place,
        "stores": stores,
    });
    let product = serde_json::json!({
        "name": r.get("product").and_then(|p| p.get("name")).cloned().unwrap_or(null.clone()),
        "gtin": r.get("product").and_then(|p| p.get("gtin")).cloned().unwrap_or(null.clone()),
        "batch": r.get("batch").and_then(|b| b.get("lot")).cloned().unwrap_or(null.clone()),
        "production_date": r.get("batch").and_then(|b| b.get("production_date")).cloned().unwrap_or(null.clone()),
        "expiry_date": r.get("batch").and_then(|b| b.get("expiry_date")).cloned().unwrap_or(null.clone()),
        "code": case.get("code").cloned().unwrap_or(null.clone()),
        "brand_owner": r.get("enterprise").cloned().unwrap_or(null.clone()),
    });
    let first_at = evidence
        .first()
        .and_then(|e| e.get("at"))
        .and_then(|v| v.as_i64());
    let last_at = evidence
        .last()
        .and_then(|e| e.get("at"))
        .and_then(|v| v.as_i64());
    let events = case
        .get("event_count")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let place_name = str_at(case, &["place", "name_zh"]).unwrap_or("地点不明");
    let product_name = str_at(r, &["product", "name"]).unwrap_or("商品");
    let summary_zh = format!(
        "{product_name}的防伪码经真伪平台查询 {events} 次，触发“{reason_zh}”；\
         地点：{place_name}。经营者：{}。证据：查询记录 {} 条（来源号码已脱敏）。",
        main_store.map(|s| s.name.as_str()).unwrap_or("不明"),
        evidence.len()
    );
    let summary_en = format!(
        "Queries of this product's code: {events}, raising \"{reason_en}\" at {}; evidence \
         records: {} (sources masked).",
        str_at(case, &["place", "name_en"]).unwrap_or("an unknown place"),
        evidence.len()
    );
    let evidence_rows: Vec<serde_json::Value> = evidence
        .iter()
        .map(|e| {
            serde_json::json!({
                "at_china": e.get("at_china"),
                "channel": e.get("channel"),
                "place": e.get("place").and_then(|p| p.get("name_zh")),
                "source": e.get("source"),
                "authenticity": e.get("authenticity"),
                "warnings": e.get("warnings"),
            })
        })
        .collect();
    serde_json::json!({
        "schema": SCHEMA,
        "form": "投诉举报",
        "type": "举报",
        "case_id": case.get("id"),
        "generated_at": now,
        "generated_at_china": local_time(now),
        "reporter": reporter,
        "reported_party": reported_party,
        "product": product,
        "facts_and_reasons": {
            "reason": reason,
            "reason_zh": reason_zh,
            "reason_en": reason_en,
            "summary_zh": summary_zh,
            "summary_en": summary_en,
            "evidence": evidence_rows,
        },
        "time": {
            "first_at_china": first_at.map(local_time),
            "last_at_china": last_at.map(local_time),
            "opened_at_china": case.get("opened_at").and_then(|v| v.as_i64()).map(local_time),
        },
        "place": case.get("place"),
        "office": case.get("office"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_masks_the_reporter_and_names_the_store() {
        let r = serde_json::json!({
            "case": {"id": 7, "reason": "not_activated", "event_count": 2,
                     "place": {"code": "330203", "name_zh": "海曙区", "name_en": "Haishu"},
                     "code": {"family": "supervision", "value": "123"}, "opened_at": 0},
            "product": {"gtin": "06901234567892", "name": "酱油"},
            "batch": {"lot": "L1", "production_date": null, "expiry_date": null},
            "evidence": [{"at": 0, "at_china": "x", "channel": "sms", "source": "138****5678",
                          "place": {"name_zh": "海曙区"}}],
        });
        let stores = [StorePlace {
            name: "甬江超市海曙店".into(),
            division: "330203".into(),
            address: None,
            events: 2,
        }];
        let f = form(&r, &stores, 0);
        assert_eq!(f["reporter"]["contact_masked"], "138****5678");
        assert_eq!(f["reporter"]["consented"], false);
        assert!(f["reporter"]["contact"].is_null());
        assert_eq!(f["reported_party"]["name"], "甬江超市海曙店");
        assert_eq!(f["product"]["batch"], "L1");
        assert_eq!(f["facts_and_reasons"]["reason_zh"], "码未激活即被查询");
        assert!(f["facts_and_reasons"]["summary_zh"]
            .as_str()
            .unwrap()
            .contains("海曙区"));
    }
}
