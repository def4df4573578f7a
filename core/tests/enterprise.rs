//! The enterprise side in storage, on SQLite and PostgreSQL: operator accounts under the
//! two-person rule, the market statistics (exact counts per day, channel, city, product), and the
//! three routing gaps of issue 7 — batches made elsewhere, cases re-routed when an office is
//! added, and coalesced update deliveries for new evidence.

mod support;

use std::collections::BTreeMap;

use support::{fixture, Db};
use zhenwei_core::cases::casework;
use zhenwei_core::cases::offices;
use zhenwei_core::cases::outbox::{self, RetryPolicy};
use zhenwei_core::clock::today;
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::enterprise::market;
use zhenwei_core::enterprise::operators::{self, Refusal, Role};
use zhenwei_core::lifecycle::BatchData;
use zhenwei_core::store::now_ms;
use zhenwei_core::{demo, Channel, Core, Lang, Query, Thresholds};

on_both_backends!(
    operators_need_a_confirmed_pair_and_can_be_revoked,
    statistics_count_exactly_per_day_channel_city_product,
    a_batch_made_elsewhere_routes_batch_level_cases_there,
    a_case_without_an_office_is_routed_when_one_is_added,
    new_evidence_is_sent_as_one_coalesced_update_per_target,
);

async fn demo_core(db: Db) -> (support::Fixture, BTreeMap<String, Vec<String>>) {
    let f = fixture(db, Thresholds::default()).await;
    assert!(demo::seed_if_empty(&f.core.registry).await.unwrap());
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    (f, serde_json::from_value(m).unwrap())
}

async fn ask(core: &Core, code: &str, channel: Channel, place: Option<&str>) -> Option<i64> {
    core.verifier
        .verify(&Query {
            input: code.into(),
            channel,
            source: "13800138000".into(),
            place: place.map(|p| DivisionCode::parse(p).unwrap()),
            store_id: None,
            lang: Lang::Zh,
        })
        .await
        .unwrap()
        .case_id
}

async fn enterprise_of(core: &Core, code: &str) -> (i64, String) {
    let r = core.verifier.resolve(code).await.unwrap();
    let e = r.enterprise.unwrap();
    (e.id, e.credit_code)
}

async fn operators_need_a_confirmed_pair_and_can_be_revoked(db: Db) {
    let (f, m) = demo_core(db).await;
    let store = &f.core.store;
    let (_, a) = enterprise_of(&f.core, &m["genuine"][0]).await;
    let (_, b) = enterprise_of(&f.core, &m["gs1_serial"][0]).await;
    let far = now_ms() + 86_400_000;
    let add = |credit: &str, name: &'static str, role, sha: &'static str| {
        let credit = credit.to_owned();
        async move {
            operators::add(store, "admin", &credit, name, role, sha, "01", far)
                .await
                .unwrap()
        }
    };
    add(&a, "a-pri", Role::Primary, "aa01").await;
    add(&a, "a-sec", Role::Secondary, "aa02").await;
    add(&b, "b-pri", Role::Primary, "bb01").await;
    let decide = |name: &'static str| async move {
        let o = operators::by_name(store, name).await.unwrap().unwrap();
        operators::decide(&o, now_ms())
    };
    assert_eq!(decide("a-pri").await, Err(Refusal::Unconfirmed));
    // Nobody confirms themselves; nobody from another enterprise confirms.
    assert!(operators::confirm(store, "admin", "a-pri", "a-pri")
        .await
        .is_err());
    assert!(operators::confirm(store, "admin", "a-pri", "b-pri")
        .await
        .is_err());
    operators::confirm(store, "admin", "a-pri", "a-sec")
        .await
        .unwrap();
    assert_eq!(decide("a-pri").await, Err(Refusal::EnterpriseIncomplete));
    let o = operators::confirm(store, "admin", "a-sec", "a-pri")
        .await
        .unwrap();
    assert_eq!((o.primaries, o.secondaries), (1, 1));
    assert_eq!(decide("a-pri").await, Ok(()));
    assert_eq!(decide("a-sec").await, Ok(()));
    assert_eq!(decide("b-pri").await, Err(Refusal::Unconfirmed));
    // The certificate finds its operator; a re-issue needs a new confirmation.
    let o = operators::by_certificate(store, "aa02")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (o.name.as_str(), o.credit_code.as_str()),
        ("a-sec", a.as_str())
    );
    // Revoking the secondary closes the portal for the primary too.
    operators::revoke(store, "admin", "a-sec").await.unwrap();
    assert_eq!(decide("a-sec").await, Err(Refusal::Revoked));
    assert_eq!(decide("a-pri").await, Err(Refusal::EnterpriseIncomplete));
    assert!(operators::confirm(store, "admin", "a-pri", "a-sec")
        .await
        .is_err());
    // A name of one enterprise cannot be re-issued for another.
    assert!(
        operators::add(store, "admin", &b, "a-pri", Role::Primary, "x", "02", far)
            .await
            .is_err()
    );
    // Every step is in the audit log.
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'enterprise.operator%' ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            "enterprise.operator_issued",
            "enterprise.operator_issued",
            "enterprise.operator_issued",
            "enterprise.operator_confirmed",
            "enterprise.operator_confirmed",
            "enterprise.operator_revoked",
        ]
    );
    assert_eq!(
        operators::list(store, Some(o.enterprise_id))
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn statistics_count_exactly_per_day_channel_city_product(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let (a, _) = enterprise_of(core, &m["genuine"][0]).await;
    let (b, _) = enterprise_of(core, &m["gs1_serial"][0]).await;
    let g = |i: usize| m["genuine"][i].clone();
    ask(core, &g(0), Channel::Kiosk, Some("330203")).await;
    ask(core, &g(1), Channel::Sms, Some("330106")).await;
    ask(core, &g(2), Channel::Sms, Some("330102")).await;
    ask(core, &g(3), Channel::Ivr, Some("310104")).await;
    ask(core, &g(4), Channel::Web, None).await;
    // Not activated: answered "suspect", same enterprise.
    ask(core, &m["not_activated"][0], Channel::Kiosk, Some("330106")).await;
    // Another enterprise's query is not in A's picture.
    ask(core, &m["gs1_serial"][0], Channel::Sms, Some("330106")).await;
    let to = today().succ_opt().unwrap();
    let from = today();
    let s = market::statistics(&core.store, a, from, to).await.unwrap();
    let day = today().to_string();
    let counts: Vec<(String, String, i64, i64)> = s
        .days
        .iter()
        .map(|d| (d.date.clone(), d.channel.clone(), d.queries, d.suspect))
        .collect();
    assert_eq!(
        counts,
        [
            (day.clone(), "ivr".into(), 1, 0),
            (day.clone(), "kiosk".into(), 2, 1),
            (day.clone(), "sms".into(), 2, 0),
            (day.clone(), "web".into(), 1, 0),
        ]
    );
    assert_eq!(s.total, 6);
    let regions: Vec<(String, i64, i64)> = s
        .regions
        .iter()
        .map(|r| (r.city.clone(), r.queries, r.suspect))
        .collect();
    assert_eq!(
        regions,
        [
            ("330100".into(), 3, 1),
            ("".into(), 1, 0),
            ("310100".into(), 1, 0),
            ("330200".into(), 1, 0),
        ]
    );
    assert_eq!(s.regions[0].name_zh.as_deref(), Some("杭州"));
    assert_eq!(s.products.len(), 1);
    assert_eq!((s.products[0].queries, s.products[0].suspect), (6, 1));
    // Yesterday: nothing.
    let y = today().pred_opt().unwrap();
    let s = market::statistics(&core.store, a, y, today())
        .await
        .unwrap();
    assert_eq!((s.total, s.days.len()), (0, 0));
    let s = market::statistics(&core.store, b, from, to).await.unwrap();
    assert_eq!(s.total, 1);
    // Products, ranges and activations are the enterprise's own.
    let products = market::products(&core.store, a).await.unwrap();
    assert!(products.iter().all(|p| p.ranges >= 0));
    let gtin = core
        .verifier
        .resolve(&g(0))
        .await
        .unwrap()
        .product
        .unwrap()
        .gtin;
    assert!(products.iter().any(|p| p.gtin == gtin));
    assert!(market::products(&core.store, b)
        .await
        .unwrap()
        .iter()
        .all(|p| p.gtin != gtin));
    let ranges = market::ranges(&core.store, a).await.unwrap();
    assert!(ranges.iter().any(|r| r.gtin == gtin));
    let acts = market::activations(&core.store, a).await.unwrap();
    assert!(acts.iter().any(|x| x.gtin == gtin && x.state == "active"));
}

async fn a_batch_made_elsewhere_routes_batch_level_cases_there(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let mismatch = &m["gs1_lot_mismatch"][0];
    let r = core.verifier.resolve(mismatch).await.unwrap();
    let gtin = r.product.unwrap().gtin;
    let enterprise_place = r.enterprise.unwrap().division;
    assert_ne!(enterprise_place, "320505");
    // The meter's lot GM2026A was made by a contract manufacturer in Suzhou.
    core.registry
        .upload_serials(
            "t",
            &gtin,
            &BatchData {
                lot: "GM2026A".into(),
                made_in: Some("320505".into()),
                ..BatchData::default()
            },
            &mut "SN900001\n".as_bytes(),
        )
        .await
        .unwrap();
    // A second, different location for the same lot is a conflict.
    assert!(core
        .registry
        .upload_serials(
            "t",
            &gtin,
            &BatchData {
                lot: "GM2026A".into(),
                made_in: Some("330203".into()),
                ..BatchData::default()
            },
            &mut "SN900002\n".as_bytes(),
        )
        .await
        .is_err());
    let case = ask(core, mismatch, Channel::Kiosk, Some("330203"))
        .await
        .expect("a batch-level case");
    let c = casework::get(&core.store, case, None).await.unwrap();
    assert_eq!(c.reason, "batch_mismatch");
    assert_eq!(c.place.as_deref(), Some("320505"));
}

async fn a_case_without_an_office_is_routed_when_one_is_added(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let case = ask(core, &m["not_activated"][0], Channel::Web, Some("330203"))
        .await
        .unwrap();
    let other = ask(core, &m["not_activated"][1], Channel::Web, Some("440305"))
        .await
        .unwrap();
    assert_eq!(
        casework::get(&core.store, case, None)
            .await
            .unwrap()
            .regulator_prefix,
        None
    );
    assert!(outbox::list(&core.store, None, 10)
        .await
        .unwrap()
        .iter()
        .all(|d| d.target_kind != "regulator"));
    // Zhejiang's office: the Ningbo case goes there at once, the Shenzhen one waits.
    let zj = offices::set_regulator(&core.store, "t", "33", "浙江", "https://r.test/zj")
        .await
        .unwrap();
    let c = casework::get(&core.store, case, None).await.unwrap();
    assert_eq!(c.regulator_prefix.as_deref(), Some("33"));
    assert_eq!(
        casework::get(&core.store, other, None)
            .await
            .unwrap()
            .regulator_prefix,
        None
    );
    let rows = outbox::list(&core.store, None, 10).await.unwrap();
    let to_zj: Vec<_> = rows
        .iter()
        .filter(|d| d.target_kind == "regulator" && d.target_id == zj.id)
        .collect();
    assert_eq!(to_zj.len(), 1, "{rows:?}");
    assert_eq!(
        (to_zj[0].case_id, to_zj[0].event.as_str()),
        (case, "case.opened")
    );
    // Changing the office's URL routes nothing twice.
    offices::set_regulator(&core.store, "t", "33", "浙江", "https://r.test/zj2")
        .await
        .unwrap();
    // The national office takes the rest.
    let cn = offices::set_regulator(&core.store, "t", "national", "国家", "https://r.test/cn")
        .await
        .unwrap();
    let rows = outbox::list(&core.store, None, 10).await.unwrap();
    let regulator_rows: Vec<(i64, i64)> = rows
        .iter()
        .filter(|d| d.target_kind == "regulator")
        .map(|d| (d.case_id, d.target_id))
        .collect();
    assert_eq!(regulator_rows.len(), 2, "{rows:?}");
    assert!(regulator_rows.contains(&(other, cn.id)));
    let routed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'case.routed'")
            .fetch_one(core.store.pool())
            .await
            .unwrap();
    assert_eq!(routed, 2);
}

/// Sends everything due "successfully" (as the delivery worker would after a 2xx): each report
/// built when sent, as the worker does. The keys and reports, sorted by key.
async fn deliver_all(core: &Core) -> Vec<(String, serde_json::Value)> {
    let claimed = outbox::claim(&core.store, 100, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    let mut sent = Vec::new();
    for d in &claimed {
        let report = support::send_and_mark(&core.store, d).await.unwrap();
        sent.push((d.idempotency_key.clone(), report));
    }
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    sent
}

async fn new_evidence_is_sent_as_one_coalesced_update_per_target(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let (_, credit) = enterprise_of(core, code).await;
    let nb = offices::set_regulator(&core.store, "t", "3302", "宁波", "https://r.test/nb")
        .await
        .unwrap();
    offices::set_enterprise_endpoint(&core.store, "t", &credit, Some("https://brand.test/c"))
        .await
        .unwrap();
    let (e, _) = enterprise_of(core, code).await;
    let case = ask(core, code, Channel::Kiosk, Some("330203"))
        .await
        .unwrap();
    // Evidence before the first delivery adds no delivery: the first reports, built when sent,
    // carry it.
    ask(core, code, Channel::Kiosk, Some("330203")).await;
    assert_eq!(outbox::list(&core.store, None, 10).await.unwrap().len(), 2);
    let first = deliver_all(core).await;
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|(_, r)| r["case"]["event_count"] == 2));
    assert_eq!(
        casework::get(&core.store, case, None).await.unwrap().status,
        "delivered"
    );
    // Three more queries: one pending update per target, not three.
    for _ in 0..3 {
        ask(core, code, Channel::Sms, Some("330203")).await;
    }
    let pending = outbox::list(&core.store, Some("pending"), 10)
        .await
        .unwrap();
    // (The repeated queries may open other cases of their own; this one is about `case`.)
    let pending: Vec<_> = pending.into_iter().filter(|d| d.case_id == case).collect();
    let mut keys: Vec<String> = pending.iter().map(|d| d.idempotency_key.clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("zw-c{case}-u1-enterprise-{e}"),
            format!("zw-c{case}-u1-regulator-{}", nb.id),
        ]
    );
    assert!(pending.iter().all(|d| d.event == "case.updated"));
    // The update, built when sent, carries the newest evidence count.
    let sent = deliver_all(core).await;
    for key in &keys {
        let (_, p) = sent.iter().find(|(k, _)| k == key).unwrap();
        assert_eq!(p["event"], "case.updated");
        assert_eq!(p["case"]["event_count"], 5);
    }
    // After they went out, the next evidence is a new update with its own key.
    ask(core, code, Channel::Sms, Some("330203")).await;
    let mut keys: Vec<String> = outbox::list(&core.store, Some("pending"), 10)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.case_id == case)
        .map(|d| d.idempotency_key.clone())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("zw-c{case}-u2-enterprise-{e}"),
            format!("zw-c{case}-u2-regulator-{}", nb.id),
        ]
    );
}
