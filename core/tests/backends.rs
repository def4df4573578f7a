//! The storage-backed behaviour of the core — lifecycle, verification, history, cases, audit —
//! run identically on SQLite and PostgreSQL.

mod support;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use support::{fixture, Db, Fixture};
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::codes::gtin::check_digit;
use zhenwei_core::codes::uscc::check_char;
use zhenwei_core::lifecycle::{BatchData, LifecycleError, NewProduct};
use zhenwei_core::verdict::PrefixStatus;
use zhenwei_core::{
    audit, demo, Authenticity, Channel, Core, Keyring, Lang, Query, Thresholds, Verdict, Warning,
};

fn query(input: &str) -> Query {
    Query {
        input: input.to_owned(),
        channel: Channel::Cli,
        source: "test".into(),
        place: None,
        store_id: None,
        lang: Lang::Zh,
    }
}

async fn verify(core: &Core, q: &Query) -> Verdict {
    core.verifier.verify(q).await.expect("verify")
}

async fn demo_core(db: Db) -> (Fixture, BTreeMap<String, Vec<String>>) {
    let f = fixture(db, Thresholds::default()).await;
    assert!(demo::seed_if_empty(&f.core.registry).await.unwrap());
    assert!(
        !demo::seed_if_empty(&f.core.registry).await.unwrap(),
        "seeding twice"
    );
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let m: BTreeMap<String, Vec<String>> = serde_json::from_value(m).unwrap();
    (f, m)
}

fn credit(body: &str) -> String {
    format!("{body}{}", check_char(body).unwrap())
}

fn ean13(first12: &str) -> String {
    let d: Vec<u8> = first12.bytes().map(|b| b - b'0').collect();
    format!("{first12}{}", check_digit(&d))
}

/// An enterprise with prefix 6970001 and one product, on an empty database.
async fn one_product(core: &Core) -> (String, String) {
    let ent = credit("91330100MA2B00009");
    let gtin = ean13("697000100001");
    let reg = &core.registry;
    reg.add_enterprise("t", &ent, "测试企业", None, "330102")
        .await
        .unwrap();
    reg.add_prefix(
        "t",
        &ent,
        "6970001",
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
    )
    .await
    .unwrap();
    reg.add_product(
        "t",
        &NewProduct {
            gtin: gtin.clone(),
            credit_code: ent.clone(),
            name: "测试产品".into(),
            ..NewProduct::default()
        },
    )
    .await
    .unwrap();
    (ent, gtin)
}

fn lot(l: &str) -> BatchData {
    BatchData {
        lot: l.into(),
        production_date: NaiveDate::from_ymd_opt(2026, 11, 1),
        expiry_date: NaiveDate::from_ymd_opt(2028, 11, 1),
        made_in: None,
    }
}

on_both_backends!(
    demo_scenarios_give_the_specified_verdicts,
    history_first_repeat_excessive,
    thresholds_are_configurable,
    concurrent_queries_count_exactly,
    many_codes_queried_at_once_are_each_counted_exactly,
    a_range_of_a_hundred_million_codes_is_one_row,
    activation_and_cancellation_rules,
    uploads_are_bulk_and_idempotent,
    audit_chain_detects_tampering,
    key_rotation_keeps_old_codes_valid,
    unknown_codes_recheck_then_case_and_enumeration,
    every_query_is_recorded,
    prefix_lifecycle,
    export_matches_the_codes,
    clone_across_cities_and_stores,
    consumer_report_opens_a_case,
    a_report_with_an_id_is_filed_once,
    a_report_of_the_verdict_shown_records_no_second_query,
    a_report_never_takes_someone_elses_event,
    a_report_of_an_event_with_an_id_is_filed_once,
    a_change_by_another_process_is_seen_by_the_next_query,
    a_cached_verify_reads_nothing_from_the_catalog,
    one_batch_is_recorded_as_if_one_by_one,
);

async fn demo_scenarios_give_the_specified_verdicts(db: Db) {
    let (f, m) = demo_core(db).await;
    assert!(m["genuine"].len() >= 200);
    use Authenticity::*;
    let expected: [(&str, Authenticity, &[Warning]); 12] = [
        ("genuine", Genuine, &[]),
        ("recalled", Genuine, &[Warning::Recalled]),
        ("spot_check_failed", Genuine, &[Warning::SpotCheckFailed]),
        (
            "certificate_invalid",
            Genuine,
            &[Warning::CertificateInvalid],
        ),
        ("expired", Genuine, &[Warning::Expired]),
        ("not_activated", Suspect, &[Warning::NotActivated]),
        ("cancelled", Suspect, &[Warning::Cancelled]),
        ("prefix_invalid", Suspect, &[Warning::PrefixInvalid]),
        ("gs1_serial", Genuine, &[]),
        ("gs1_lot_mismatch", Suspect, &[Warning::BatchMismatch]),
        ("scratch_pin", Genuine, &[]),
        ("gtin_only", Unknown, &[]),
    ];
    for (scenario, auth, warnings) in expected {
        let code = &m[scenario][0];
        let v = verify(&f.core, &query(code)).await;
        assert_eq!(v.authenticity, auth, "{scenario}: {}", v.message);
        assert_eq!(v.warnings, warnings, "{scenario}");
        assert!(v.product.is_some(), "{scenario} names its product");
        assert_eq!(v.case_id.is_some(), auth == Suspect, "{scenario} case");
    }
    let recalled = verify(&f.core, &query(&m["recalled"][1])).await;
    assert!(
        recalled.message.contains("请立即停止食用"),
        "{}",
        recalled.message
    );
    assert_eq!(recalled.notices.len(), 1);
    assert_eq!(recalled.batch.as_ref().unwrap().lot, "YG2026R");
    let gtin_only = verify(&f.core, &query(&m["gtin_only"][0])).await;
    assert_eq!(gtin_only.prefix_status, Some(PrefixStatus::Registered));
}

async fn history_first_repeat_excessive(db: Db) {
    let (f, m) = demo_core(db).await;
    let code = &m["genuine"][3];
    let mut q = query(code);
    q.place = Some(DivisionCode::parse("330203").unwrap());
    let first = verify(&f.core, &q).await;
    assert!(first.first_query);
    assert_eq!(first.query_count, 1);
    assert_eq!(first.first_queried_city.as_deref(), Some("宁波"));
    q.place = Some(DivisionCode::parse("330212").unwrap()); // same city, other county
    for n in 2..=4 {
        let v = verify(&f.core, &q).await;
        assert_eq!(v.query_count, n);
        assert_eq!(v.authenticity, Authenticity::Genuine);
        assert_eq!(v.warnings, vec![Warning::RepeatQuery]);
        assert_eq!(v.first_queried_at, Some(first.queried_at));
        assert_eq!(v.first_queried_city.as_deref(), Some("宁波"));
        assert!(v.message.contains("宁波"), "{}", v.message);
    }
    let fifth = verify(&f.core, &q).await;
    assert_eq!(fifth.authenticity, Authenticity::Suspect);
    assert_eq!(fifth.warnings, vec![Warning::ExcessiveQueries]);
    let case = fifth.case_id.expect("case");
    let sixth = verify(&f.core, &q).await;
    assert_eq!(sixth.case_id, Some(case), "one case per code and reason");
    let (_, events) = f.core.verifier.history(code).await.unwrap().unwrap();
    assert_eq!(
        events.iter().map(|e| e.query_number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    let n: i64 = sqlx::query_scalar("SELECT event_count FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

async fn thresholds_are_configurable(db: Db) {
    let f = fixture(
        db,
        Thresholds {
            excessive_from: 3,
            ..Thresholds::default()
        },
    )
    .await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m: BTreeMap<String, Vec<String>> =
        serde_json::from_value(demo::manifest(&f.core.store).await.unwrap().unwrap()).unwrap();
    let q = query(&m["genuine"][0]);
    verify(&f.core, &q).await;
    assert_eq!(
        verify(&f.core, &q).await.warnings,
        vec![Warning::RepeatQuery]
    );
    assert_eq!(
        verify(&f.core, &q).await.warnings,
        vec![Warning::ExcessiveQueries]
    );
}

async fn concurrent_queries_count_exactly(db: Db) {
    let (f, m) = demo_core(db).await;
    let code = m["genuine"][7].clone();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let core = f.core.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            core.verifier
                .verify(&query(&code))
                .await
                .unwrap()
                .query_count
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort();
    assert_eq!(counts, (1..=200).collect::<Vec<i64>>());
    let stats = f.core.verifier.recorder().stats();
    let events = stats.events.load(std::sync::atomic::Ordering::Relaxed);
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        events >= 200 && batches <= events,
        "{batches} batches for {events} events"
    );
    let firsts: Vec<_> = counts.iter().filter(|c| **c == 1).collect();
    assert_eq!(firsts.len(), 1);
    // The code's history chain (migration 0020) holds every event once, in query order, however
    // the 200 queries were cut into batches.
    let (_, events) = f.core.verifier.history(&code).await.unwrap().unwrap();
    assert_eq!(
        events.iter().map(|e| e.query_number).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<i64>>()
    );
    let mut ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

/// Many codes queried at once, each by many clients, so batches mix codes and hold several
/// queries of each: each code's queries are counted 1..=n exactly, and its history chain holds
/// each of them once, in query order.
async fn many_codes_queried_at_once_are_each_counted_exactly(db: Db) {
    const PER_CODE: i64 = 12;
    let (f, m) = demo_core(db).await;
    let codes: Vec<String> = m["genuine"].iter().take(10).cloned().collect();
    assert_eq!(codes.len(), 10);
    let mut tasks = Vec::new();
    for round in 0..PER_CODE {
        for code in &codes {
            let (core, code) = (f.core.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                let v = core.verifier.verify(&query(&code)).await.unwrap();
                (code, round, v.query_count)
            }));
        }
    }
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for t in tasks {
        let (code, _, n) = t.await.unwrap();
        counts.entry(code).or_default().push(n);
    }
    assert_eq!(counts.len(), codes.len());
    for (code, mut n) in counts {
        n.sort_unstable();
        assert_eq!(n, (1..=PER_CODE).collect::<Vec<_>>(), "{code}");
        let (_, events) = f.core.verifier.history(&code).await.unwrap().unwrap();
        assert_eq!(
            events.iter().map(|e| e.query_number).collect::<Vec<_>>(),
            (1..=PER_CODE).collect::<Vec<_>>(),
            "{code}"
        );
    }
    let stats = f.core.verifier.recorder().stats();
    let events = stats.events.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(events, (PER_CODE * codes.len() as i64) as u64);
    assert_eq!(
        stats
            .failed_batches
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

async fn a_range_of_a_hundred_million_codes_is_one_row(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (_, gtin) = one_product(&f.core).await;
    let reg = &f.core.registry;
    let range = reg
        .request_range("t", &gtin, 100_000_000, Some("big plan"))
        .await
        .unwrap();
    assert_eq!(range.size, 100_000_000);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM code_ranges")
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    reg.activate("t", range.id, 0, None, &lot("BIG1"))
        .await
        .unwrap();
    for serial in [0, 1, 54_321_987, 99_999_999] {
        let code = reg.code(&range, serial).unwrap();
        let v = verify(&f.core, &query(&code)).await;
        assert_eq!(v.authenticity, Authenticity::Genuine, "serial {serial}");
        assert_eq!(v.batch.unwrap().lot, "BIG1");
    }
    let per_code_rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM range_segments) + (SELECT COUNT(*) FROM serials)",
    )
    .fetch_one(f.core.store.pool())
    .await
    .unwrap();
    assert_eq!(per_code_rows, 1, "one activation segment, no per-code rows");
    let err = reg
        .request_range("t", &gtin, 100_000_001, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 to 100000000"), "{err}");
}

async fn activation_and_cancellation_rules(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (_, gtin) = one_product(&f.core).await;
    let reg = &f.core.registry;
    let r = reg.request_range("t", &gtin, 100, None).await.unwrap();
    let code = |s| reg.code(&r, s).unwrap();
    let v = verify(&f.core, &query(&code(10))).await;
    assert_eq!(v.warnings, vec![Warning::NotActivated]);
    reg.activate("t", r.id, 0, Some(50), &lot("A"))
        .await
        .unwrap();
    let err = reg
        .activate("t", r.id, 40, Some(60), &lot("B"))
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("0..50"), "{err}");
    reg.activate("t", r.id, 50, Some(100), &lot("B"))
        .await
        .unwrap();
    assert_eq!(
        verify(&f.core, &query(&code(60))).await.batch.unwrap().lot,
        "B"
    );
    reg.cancel_span("t", r.id, 20, 30, "stolen").await.unwrap();
    let v = verify(&f.core, &query(&code(25))).await;
    assert_eq!(v.authenticity, Authenticity::Suspect);
    assert_eq!(v.warnings, vec![Warning::Cancelled]);
    assert_eq!(
        v.batch.unwrap().lot,
        "A",
        "cancelled code still shows its batch"
    );
    assert_eq!(
        verify(&f.core, &query(&code(30))).await.authenticity,
        Authenticity::Genuine
    );
    let n = reg
        .cancel_codes("t", &[code(31)], "reported lost")
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        verify(&f.core, &query(&code(31))).await.warnings,
        vec![Warning::Cancelled]
    );
    let err = reg
        .activate("t", r.id, 90, Some(101), &lot("C"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a non-empty part"), "{err}");
    let err = reg
        .activate("t", r.id, 0, Some(1), &lot("bad lot"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("GS1"), "{err}");
}

async fn uploads_are_bulk_and_idempotent(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (_, gtin) = one_product(&f.core).await;
    let reg = &f.core.registry;
    let list: String = std::iter::once("serial\n".to_string())
        .chain((0..20_000).map(|i| format!("S{i:07}\n")))
        .collect();
    let r = reg
        .upload_serials("t", &gtin, &lot("U1"), &mut list.as_bytes())
        .await
        .unwrap();
    assert_eq!((r.inserted, r.already_present), (20_000, 0));
    let again = reg
        .upload_serials("t", &gtin, &lot("U1"), &mut list.as_bytes())
        .await
        .unwrap();
    assert_eq!((again.inserted, again.already_present), (0, 20_000));
    let scan = format!("]d201{}{}10U1\u{1d}21S0012345", "0", gtin);
    let v = verify(&f.core, &query(&scan)).await;
    assert_eq!(v.authenticity, Authenticity::Genuine, "{}", v.message);
    let scan = format!("]d2010{gtin}17281101\u{1d}10U1\u{1d}21S0012346");
    assert_eq!(verify(&f.core, &query(&scan)).await.warnings, vec![]);
    let scan = format!("]d2010{gtin}17281130\u{1d}10U1\u{1d}21S0012347");
    assert_eq!(
        verify(&f.core, &query(&scan)).await.warnings,
        vec![Warning::ExpiryMismatch]
    );
    let scan = format!("]d2010{gtin}17281100\u{1d}10U1\u{1d}21S0012348");
    assert_eq!(
        verify(&f.core, &query(&scan)).await.warnings,
        vec![],
        "day 00 means the end of the registered month"
    );
    let unknown = format!("]d2010{gtin}10U1\u{1d}21NOPE");
    assert_eq!(
        verify(&f.core, &query(&unknown)).await.authenticity,
        Authenticity::Unknown
    );
    let bad = "S1\nS 2\n";
    let err = reg
        .upload_serials("t", &gtin, &lot("U2"), &mut bad.as_bytes())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");

    let pins = "pin\nAB12-CD34-EF56\nZZ99ZZ99ZZ99\n";
    let r = reg
        .upload_pins("t", &gtin, &lot("P1"), &mut pins.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.inserted, 2);
    let v = verify(&f.core, &query("ab12cd34ef56")).await;
    assert_eq!(v.authenticity, Authenticity::Genuine);
    assert_eq!(v.code, None, "a PIN is a secret and is not echoed");
    let stored: Vec<String> = sqlx::query_scalar("SELECT pin_hash FROM pins")
        .fetch_all(f.core.store.pool())
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 64 && !h.contains("AB12")));
}

async fn audit_chain_detects_tampering(db: Db) {
    let (f, m) = demo_core(db).await;
    verify(&f.core, &query(&m["not_activated"][0])).await;
    let ok = audit::verify_chain(&f.core.store).await.unwrap();
    assert!(ok.entries > 40, "{ok:?}");
    assert_eq!(ok.broken_at, None);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY seq")
        .fetch_all(f.core.store.pool())
        .await
        .unwrap();
    for a in [
        "enterprise.add",
        "range.activate",
        "codes.cancel",
        "notice.add",
        "case.open",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited");
    }
    sqlx::query("UPDATE audit_log SET detail = '{}' WHERE seq = 5")
        .execute(f.core.store.pool())
        .await
        .unwrap();
    let broken = audit::verify_chain(&f.core.store).await.unwrap();
    assert_eq!(broken.broken_at, Some(5));
}

async fn key_rotation_keeps_old_codes_valid(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (_, gtin) = one_product(&f.core).await;
    let old = f
        .core
        .registry
        .request_range("t", &gtin, 10, None)
        .await
        .unwrap();
    f.core
        .registry
        .activate("t", old.id, 0, None, &lot("K1"))
        .await
        .unwrap();
    let old_code = f.core.registry.code(&old, 3).unwrap();
    assert_eq!(Keyring::rotate(&f.location.key_file()).unwrap(), 2);
    let core = Core::open(&f.location, Thresholds::default())
        .await
        .unwrap();
    let new = core
        .registry
        .request_range("t", &gtin, 10, None)
        .await
        .unwrap();
    assert_eq!((old.key_version, new.key_version), (1, 2));
    core.registry
        .activate("t", new.id, 0, None, &lot("K2"))
        .await
        .unwrap();
    let new_code = core.registry.code(&new, 3).unwrap();
    assert_ne!(old_code, new_code);
    for (c, l) in [(&old_code, "K1"), (&new_code, "K2")] {
        let v = verify(&core, &query(c)).await;
        assert_eq!(v.authenticity, Authenticity::Genuine);
        assert_eq!(v.batch.unwrap().lot, l);
    }
}

async fn unknown_codes_recheck_then_case_and_enumeration(db: Db) {
    let (f, _) = demo_core(db).await;
    let sms = |code: &str| Query {
        channel: Channel::Sms,
        source: "13800000001".into(),
        ..query(code)
    };
    let first = verify(&f.core, &sms("11112222333344445555")).await;
    assert_eq!(first.authenticity, Authenticity::Unknown);
    assert!(first.recheck);
    assert_eq!(first.case_id, None);
    let again = verify(&f.core, &sms("1111 2222 3333 4444 5555")).await;
    assert!(!again.recheck);
    assert!(again.case_id.is_some(), "confirmed re-entry opens a case");
    let kiosk = f.core.verifier.kiosk("kiosk-sz-01").await.unwrap().unwrap();
    let k = verify(
        &f.core,
        &Query {
            channel: Channel::Kiosk,
            source: "kiosk-sz-01".into(),
            store_id: Some(kiosk.store_id),
            place: Some(DivisionCode::parse(&kiosk.division).unwrap()),
            ..query("99998888777766665555")
        },
    )
    .await;
    assert_eq!(k.authenticity, Authenticity::Unknown);
    assert!(
        k.case_id.is_some(),
        "a kiosk scan of an unknown code is a case"
    );
    let mut last = None;
    for i in 0..9 {
        last = Some(verify(&f.core, &sms(&format!("5555444433332222{i:04}"))).await);
    }
    let last = last.unwrap();
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT c.reason FROM cases c WHERE c.id IN (SELECT case_id FROM case_events WHERE event_id = $1)",
    )
    .bind(last.event_id)
    .fetch_all(f.core.store.pool())
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec!["enumeration".to_string()],
        "10 unknown codes from one phone"
    );
    let masked: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT source_masked FROM query_events WHERE channel = 'sms'")
            .fetch_all(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(masked, vec!["138****0001".to_string()]);
}

async fn every_query_is_recorded(db: Db) {
    let (f, m) = demo_core(db).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM query_events")
            .fetch_one(f.core.store.pool())
            .await
            .unwrap()
    };
    let before = count().await;
    let v = verify(&f.core, &query("not a code at all!")).await;
    assert_eq!(v.authenticity, Authenticity::NotACode);
    assert_eq!(v.error.as_ref().unwrap().code, "pin_bad_character");
    verify(&f.core, &query(&m["genuine"][9])).await;
    verify(&f.core, &query(&m["gtin_only"][0])).await;
    // A mistyped barcode (wrong check digit) is explained as such, not as an unknown PIN.
    let typo = verify(&f.core, &query("6901234567890")).await;
    assert_eq!(typo.authenticity, Authenticity::NotACode);
    assert_eq!(typo.error.as_ref().unwrap().code, "gtin_bad_check_digit");
    assert!(typo.message.contains("should be 2"), "{}", typo.message);
    assert_eq!(count().await, before + 4);
    let (channel, auth): (String, String) =
        sqlx::query_as("SELECT channel, authenticity FROM query_events WHERE id = $1")
            .bind(v.event_id)
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!((channel.as_str(), auth.as_str()), ("cli", "not_a_code"));
}

async fn prefix_lifecycle(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (ent, gtin) = one_product(&f.core).await;
    let reg = &f.core.registry;
    let v = verify(&f.core, &query(&gtin)).await;
    assert_eq!(v.prefix_status, Some(PrefixStatus::Registered));
    assert_eq!(v.authenticity, Authenticity::Unknown);
    let until = reg.renew_prefix("t", "6970001").await.unwrap();
    assert_eq!(until, NaiveDate::from_ymd_opt(2030, 1, 1).unwrap());
    let clash = reg
        .add_prefix(
            "t",
            &ent,
            "69700011",
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(clash.to_string().contains("overlaps"), "{clash}");
    reg.cancel_prefix("t", "6970001").await.unwrap();
    let err = reg.renew_prefix("t", "6970001").await.unwrap_err();
    assert!(err.to_string().contains("never be renewed"), "{err}");
    let v = verify(&f.core, &query(&gtin)).await;
    assert_eq!(v.authenticity, Authenticity::Suspect);
    assert_eq!(v.warnings, vec![Warning::PrefixInvalid]);
    let stranger = ean13("480000000001");
    let v = verify(&f.core, &query(&stranger)).await;
    assert_eq!(v.prefix_status, Some(PrefixStatus::Unregistered));
    assert_eq!(v.authenticity, Authenticity::Suspect);
    let err = reg
        .add_product(
            "t",
            &NewProduct {
                gtin: stranger,
                credit_code: ent,
                name: "x".into(),
                ..NewProduct::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not under any registered"),
        "{err}"
    );
}

async fn export_matches_the_codes(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let (_, gtin) = one_product(&f.core).await;
    let r = f
        .core
        .registry
        .request_range("t", &gtin, 1000, None)
        .await
        .unwrap();
    let mut out = Vec::new();
    let n = f
        .core
        .registry
        .export_range("t", r.id, 10, Some(20), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 10);
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("serial,code,printed"));
    for (i, line) in lines.enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], (10 + i).to_string());
        let p = f
            .core
            .verifier
            .keys()
            .current()
            .codec
            .open(cols[1])
            .unwrap();
        assert_eq!((p.range_id as i64, p.serial), (r.id, 10 + i as u64));
        assert_eq!(cols[2].replace(' ', ""), cols[1]);
    }
}

async fn clone_across_cities_and_stores(db: Db) {
    let (f, m) = demo_core(db).await;
    let at_kiosk = |name: &'static str, code: String| {
        let core = f.core.clone();
        async move {
            let k = core.verifier.kiosk(name).await.unwrap().unwrap();
            let q = Query {
                channel: Channel::Kiosk,
                source: name.into(),
                store_id: Some(k.store_id),
                place: Some(DivisionCode::parse(&k.division).unwrap()),
                ..query(&code)
            };
            core.verifier.verify(&q).await.unwrap()
        }
    };
    let code = m["genuine"][20].clone();
    assert_eq!(
        at_kiosk("kiosk-nb-01", code.clone()).await.authenticity,
        Authenticity::Genuine
    );
    let second = at_kiosk("kiosk-hz-01", code.clone()).await;
    assert_eq!(second.authenticity, Authenticity::Suspect);
    assert_eq!(
        second.warnings,
        vec![Warning::RepeatQuery, Warning::CloneSuspected]
    );
    // Three stores in one city: a fourth store in Ningbo for the three-store rule.
    let reg = &f.core.registry;
    let s2 = reg
        .add_store("t", "海曙二店", "330203", None)
        .await
        .unwrap();
    reg.add_kiosk("t", s2, "kiosk-nb-02").await.unwrap();
    let s3 = reg.add_store("t", "鄞州店", "330212", None).await.unwrap();
    reg.add_kiosk("t", s3, "kiosk-nb-03").await.unwrap();
    let code = m["genuine"][21].clone();
    at_kiosk("kiosk-nb-01", code.clone()).await;
    let two = at_kiosk("kiosk-nb-02", code.clone()).await;
    assert_eq!(
        two.warnings,
        vec![Warning::RepeatQuery],
        "two stores, one city"
    );
    let three = at_kiosk("kiosk-nb-03", code.clone()).await;
    assert_eq!(
        three.warnings,
        vec![Warning::RepeatQuery, Warning::CloneSuspected]
    );
}

async fn consumer_report_opens_a_case(db: Db) {
    let (f, m) = demo_core(db).await;
    let mut q = query(&m["recalled"][5]);
    q.place = Some(DivisionCode::parse("310104").unwrap());
    let v = f
        .core
        .verifier
        .report(&q, Some("徐汇区某小店"))
        .await
        .unwrap();
    let case = v.case_id.expect("case");
    let (reason, place): (String, Option<String>) =
        sqlx::query_as("SELECT reason, place FROM cases WHERE id = $1")
            .bind(case)
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(reason, "consumer_report");
    assert_eq!(place.as_deref(), Some("310104"));
    assert!(v.message.contains(&case.to_string()));
}

async fn a_report_with_an_id_is_filed_once(db: Db) {
    use zhenwei_core::verify::ReportFiling;
    let (f, m) = demo_core(db).await;
    let q = query(&m["genuine"][40]);
    let first = f
        .core
        .verifier
        .report_once(&q, None, "kiosk-report-0001", None)
        .await
        .unwrap();
    let ReportFiling::Filed(v) = first else {
        panic!("filed the first time")
    };
    let case = v.case_id.expect("case");
    let again = f
        .core
        .verifier
        .report_once(&q, None, "kiosk-report-0001", None)
        .await
        .unwrap();
    assert!(matches!(again, ReportFiling::AlreadyFiled { case_id } if case_id == case));
    let (_, events) = f.core.verifier.history(&q.input).await.unwrap().unwrap();
    assert_eq!(events.len(), 1, "the replay recorded nothing");
    // Text that names no code files nothing and is not remembered.
    let none = f
        .core
        .verifier
        .report_once(&query("abc"), None, "kiosk-report-0002", None)
        .await
        .unwrap();
    assert!(matches!(none, ReportFiling::Filed(v) if v.case_id.is_none()));
}

/// What the database holds about a code and a case: the code's count (`code_history`), its
/// stored events, and the case's evidence and event count.
struct Recorded {
    count: i64,
    events: Vec<i64>,
    evidence: Vec<i64>,
    case_events: i64,
}

async fn recorded(core: &Core, code: &str, case: i64) -> Recorded {
    let (key, history) = core.verifier.history(code).await.unwrap().unwrap();
    let pool = core.store.pool();
    let count: i64 = sqlx::query_scalar("SELECT query_count FROM code_history WHERE code_key = $1")
        .bind(&key)
        .fetch_one(pool)
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM query_events WHERE code_key = $1")
        .bind(&key)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stored, history.len() as i64, "the chain holds every event");
    let evidence: Vec<i64> =
        sqlx::query_scalar("SELECT event_id FROM case_events WHERE case_id = $1 ORDER BY event_id")
            .bind(case)
            .fetch_all(pool)
            .await
            .unwrap();
    let case_events: i64 = sqlx::query_scalar("SELECT event_count FROM cases WHERE id = $1")
        .bind(case)
        .fetch_one(pool)
        .await
        .unwrap();
    Recorded {
        count,
        events: history.iter().map(|e| e.id).collect(),
        evidence,
        case_events,
    }
}

/// Kiosk / IVR: the person verified, then reports the verdict they were shown, naming its event.
/// The case gets that event as evidence; nothing is recorded, the count stays exact.
async fn a_report_of_the_verdict_shown_records_no_second_query(db: Db) {
    use zhenwei_core::verify::ReportFiling;
    let (f, m) = demo_core(db).await;
    let verifier = &f.core.verifier;
    let code = &m["genuine"][43];
    let mut q = query(code);
    q.place = Some(DivisionCode::parse("330203").unwrap());
    let shown = verify(&f.core, &q).await;
    assert_eq!(shown.query_count, 1);
    let filed = verifier
        .report_seen(&q, Some("封口有拆过的痕迹"), Some(shown.event_id))
        .await
        .unwrap();
    let ReportFiling::Attached { case_id, event_id } = filed else {
        panic!("not attached: {filed:?}")
    };
    assert_eq!(event_id, shown.event_id);
    let r = recorded(&f.core, code, case_id).await;
    assert_eq!(r.count, 1, "the report did not count the code");
    assert_eq!(r.events, [shown.event_id], "one query event: the verify");
    assert_eq!(
        r.evidence,
        [shown.event_id],
        "the case's evidence is that event"
    );
    assert_eq!(r.case_events, 1);
    let (reason, place): (String, Option<String>) =
        sqlx::query_as("SELECT reason, place FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(
        (reason.as_str(), place.as_deref()),
        ("consumer_report", Some("330203"))
    );
    let notes: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'case.report_note' AND subject = $1",
    )
    .bind(format!("case:{case_id}"))
    .fetch_all(f.core.store.pool())
    .await
    .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("封口有拆过的痕迹"), "{notes:?}");

    // The same verdict reported again: the same case, no second link, nothing recorded.
    let again = verifier
        .report_seen(&q, None, Some(shown.event_id))
        .await
        .unwrap();
    assert!(
        matches!(again, ReportFiling::Attached { case_id: c, .. } if c == case_id),
        "{again:?}"
    );
    let r = recorded(&f.core, code, case_id).await;
    assert_eq!((r.count, r.case_events), (1, 1));
    assert_eq!(r.evidence, [shown.event_id]);

    // The next query of the code is its second.
    let next = verify(&f.core, &q).await;
    assert_eq!(next.query_count, 2);
    assert_eq!(next.warnings, vec![Warning::RepeatQuery]);

    // Without an event, a report is a query of its own (SMS 举报): counted, and its evidence.
    let ReportFiling::Filed(own) = verifier.report_seen(&q, None, None).await.unwrap() else {
        panic!("a report without an event records its query")
    };
    assert_eq!(own.query_count, 3);
    assert_eq!(own.case_id, Some(case_id));
    let r = recorded(&f.core, code, case_id).await;
    assert_eq!(r.count, 3);
    assert_eq!(r.evidence, [shown.event_id, own.event_id]);
    assert_eq!(r.case_events, 2);
}

/// A report naming an event that is not the reporter's query of this code — another person's,
/// another code's, another channel's, or none at all — falls back to recording its own query,
/// and the foreign event is never linked.
async fn a_report_never_takes_someone_elses_event(db: Db) {
    use zhenwei_core::verify::ReportFiling;
    let (f, m) = demo_core(db).await;
    let verifier = &f.core.verifier;
    let own = |filed: ReportFiling| match filed {
        ReportFiling::Filed(v) => v,
        other => panic!("not filed with a query of its own: {other:?}"),
    };

    // Another source's event of the same code.
    let code = &m["genuine"][44];
    let mut theirs = query(code);
    theirs.source = "someone-else".into();
    let their_verdict = verify(&f.core, &theirs).await;
    assert_eq!(their_verdict.query_count, 1);
    let v = own(verifier
        .report_seen(&query(code), None, Some(their_verdict.event_id))
        .await
        .unwrap());
    assert_eq!(
        v.query_count, 2,
        "counted: the report is a query of its own"
    );
    let case = v.case_id.expect("case");
    let r = recorded(&f.core, code, case).await;
    assert_eq!(r.count, 2);
    assert_eq!(r.evidence, [v.event_id], "their event is not linked");

    // Another code's event of the same source.
    let code = &m["genuine"][45];
    let other_code = &m["genuine"][46];
    let mine = verify(&f.core, &query(code)).await;
    let elsewhere = verify(&f.core, &query(other_code)).await;
    let v = own(verifier
        .report_seen(&query(code), None, Some(elsewhere.event_id))
        .await
        .unwrap());
    assert_eq!(v.query_count, 2);
    let r = recorded(&f.core, code, v.case_id.expect("case")).await;
    assert_eq!(r.events, [mine.event_id, v.event_id]);
    assert_eq!(r.evidence, [v.event_id]);
    let (_, other_history) = verifier.history(other_code).await.unwrap().unwrap();
    assert_eq!(other_history.len(), 1, "the other code is untouched");

    // The same source's name on another channel (a kiosk named like the CLI's source).
    let code = &m["genuine"][47];
    let mut at_kiosk = query(code);
    at_kiosk.channel = Channel::Kiosk;
    let kiosk_verdict = verify(&f.core, &at_kiosk).await;
    let v = own(verifier
        .report_seen(&query(code), None, Some(kiosk_verdict.event_id))
        .await
        .unwrap());
    assert_eq!(v.query_count, 2);

    // No such event.
    let code = &m["genuine"][48];
    let v = own(verifier
        .report_seen(&query(code), None, Some(i64::MAX))
        .await
        .unwrap());
    assert_eq!(v.query_count, 1);
    let r = recorded(&f.core, code, v.case_id.expect("case")).await;
    assert_eq!(r.evidence, [v.event_id]);

    // Text that names no code: nothing to report, whatever the event.
    let v = own(verifier
        .report_seen(&query("abc"), None, Some(mine.event_id))
        .await
        .unwrap());
    assert_eq!(v.case_id, None);
}

/// `report_once` with an event: attached the first time, answered from `report_ids` after.
async fn a_report_of_an_event_with_an_id_is_filed_once(db: Db) {
    use zhenwei_core::verify::ReportFiling;
    let (f, m) = demo_core(db).await;
    let code = &m["genuine"][49];
    let q = query(code);
    let shown = verify(&f.core, &q).await;
    let first = f
        .core
        .verifier
        .report_once(&q, None, "kiosk-report-0003", Some(shown.event_id))
        .await
        .unwrap();
    let ReportFiling::Attached { case_id, event_id } = first else {
        panic!("attached: {first:?}")
    };
    assert_eq!(event_id, shown.event_id);
    let again = f
        .core
        .verifier
        .report_once(&q, None, "kiosk-report-0003", Some(shown.event_id))
        .await
        .unwrap();
    assert!(
        matches!(again, ReportFiling::AlreadyFiled { case_id: c } if c == case_id),
        "{again:?}"
    );
    let r = recorded(&f.core, code, case_id).await;
    assert_eq!((r.count, r.case_events), (1, 1));
    assert_eq!(r.events, [shown.event_id]);
    assert_eq!(r.evidence, [shown.event_id]);
}

async fn a_change_by_another_process_is_seen_by_the_next_query(db: Db) {
    let (f, m) = demo_core(db).await;
    // A second core on the same database and key file: the CLI next to a running server.
    let other = Core::open(&f.location, Thresholds::default())
        .await
        .unwrap();
    let code = m["not_activated"][3].clone();
    let v = verify(&f.core, &query(&code)).await;
    assert_eq!(v.warnings, vec![Warning::NotActivated]);
    // Warm: the range, its segments and the product are cached now.
    verify(&f.core, &query(&code)).await;
    other
        .registry
        .activate("t", 1, 5_000, Some(5_010), &lot("LATE1"))
        .await
        .unwrap();
    let v = verify(&f.core, &query(&code)).await;
    assert_eq!(v.authenticity, Authenticity::Genuine, "{}", v.message);
    assert_eq!(v.batch.unwrap().lot, "LATE1");
    assert!(f.core.verifier.catalog().stats().invalidations >= 2);
    // A recall imported elsewhere shows at once too.
    let genuine = m["genuine"][40].clone();
    verify(&f.core, &query(&genuine)).await;
    other
        .registry
        .add_notice(
            "t",
            &zhenwei_core::lifecycle::NewNotice {
                kind: "recall".into(),
                gtin: Some(format!("0{}", m["gtin_only"][0])),
                lot: Some("NB2026A".into()),
                status: "active".into(),
                advice_zh: Some("停止食用".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let v = verify(&f.core, &query(&genuine)).await;
    assert_eq!(v.warnings, vec![Warning::RepeatQuery, Warning::Recalled]);
}

async fn a_cached_verify_reads_nothing_from_the_catalog(db: Db) {
    let (f, m) = demo_core(db).await;
    let catalog = f.core.verifier.catalog();
    for scenario in [
        "genuine",
        "recalled",
        "gs1_serial",
        "scratch_pin",
        "gtin_only",
    ] {
        let code = m[scenario].last().unwrap();
        verify(&f.core, &query(code)).await;
        verify(&f.core, &query(code)).await;
        let before = catalog.stats();
        let v = verify(&f.core, &query(code)).await;
        let after = catalog.stats();
        assert_eq!(after.misses, before.misses, "{scenario}: no catalog read");
        assert!(after.hits > before.hits, "{scenario}");
        assert_eq!(v.query_count, 3, "{scenario}");
    }
}

/// One group-committed batch holding everything at once: six queries of one code, one code from
/// two cities, ten unknown codes from one phone (one of them re-entered) and text that is no
/// code. Each query must see exactly the ones before it, as if recorded one by one.
async fn one_batch_is_recorded_as_if_one_by_one(db: Db) {
    use std::sync::Arc;
    use zhenwei_core::recorder::{record_batch, RecordContext};
    let (f, m) = demo_core(db).await;
    let place = |d: &str| Some(DivisionCode::parse(d).unwrap());
    let mut queries: Vec<Query> = Vec::new();
    for _ in 0..6 {
        queries.push(query(&m["genuine"][50]));
    }
    queries.push(Query {
        place: place("330203"),
        ..query(&m["genuine"][51])
    });
    queries.push(Query {
        place: place("310104"),
        ..query(&m["genuine"][51])
    });
    let sms = |code: String| Query {
        channel: Channel::Sms,
        source: "13900000077".into(),
        ..query(&code)
    };
    for i in 0..9 {
        queries.push(sms(format!("7777666655554444{i:04}")));
    }
    queries.push(sms("77776666555544440003".into())); // re-entry of the 4th guess
    queries.push(sms("77776666555544449999".into())); // the 10th distinct guess
    queries.push(query("no code here!"));
    queries.push(query("no code here!"));
    let mut resolutions = Vec::new();
    for q in &queries {
        resolutions.push(f.core.verifier.resolve(&q.input).await.unwrap());
    }
    let batch: Vec<(&Query, &zhenwei_core::verify::Resolution)> =
        queries.iter().zip(resolutions.iter()).collect();
    let ctx = RecordContext {
        keys: f.core.keys.clone(),
        thresholds: Arc::new(Thresholds::default()),
    };
    let mut tx = f.core.store.pool().begin().await.unwrap();
    let v = record_batch(&mut tx, f.core.store.backend(), &ctx, &batch)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let counts: Vec<i64> = v[..6].iter().map(|x| x.query_count).collect();
    assert_eq!(counts, vec![1, 2, 3, 4, 5, 6]);
    assert!(v[0].first_query && v[0].warnings.is_empty());
    assert_eq!(v[3].warnings, vec![Warning::RepeatQuery]);
    assert_eq!(v[4].warnings, vec![Warning::ExcessiveQueries]);
    assert!(v[4].case_id.is_some());
    assert_eq!(v[5].case_id, v[4].case_id, "one case per code and reason");
    assert_eq!(v[6].warnings, vec![]);
    assert_eq!(
        v[7].warnings,
        vec![Warning::RepeatQuery, Warning::CloneSuspected]
    );
    assert_eq!(v[7].first_queried_city.as_deref(), Some("宁波"));
    for g in &v[8..17] {
        assert!(g.recheck && g.case_ids.is_empty(), "{g:?}");
    }
    assert!(!v[17].recheck, "confirmed re-entry");
    assert_eq!(v[17].case_ids.len(), 1);
    assert!(
        v[18].recheck && v[18].case_ids.is_empty(),
        "enumeration is not shown"
    );
    assert_eq!(v[19].authenticity, Authenticity::NotACode);
    assert_eq!(v[20].authenticity, Authenticity::NotACode);
    let mut ids: Vec<i64> = v.iter().map(|x| x.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), v.len(), "one event per query");
    let (_, events) = f
        .core
        .verifier
        .history(&m["genuine"][50])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.query_number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT c.reason FROM cases c JOIN case_events ce ON ce.case_id = c.id \
         WHERE ce.event_id = $1",
    )
    .bind(v[18].event_id)
    .fetch_all(f.core.store.pool())
    .await
    .unwrap();
    assert_eq!(reasons, vec!["enumeration".to_string()]);
    let case_events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM case_events WHERE case_id = $1")
            .bind(v[4].case_id.unwrap())
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(case_events, 2);
    assert_eq!(
        audit::verify_chain(&f.core.store).await.unwrap().broken_at,
        None
    );
}

/// The enumeration and re-entry rules read only unrecognised-code events, through their partial
/// indexes, so the thousandth guess of an attack costs what the first did (found as a bug: the
/// distinct-codes read scanned every event of the source in the window).
#[tokio::test]
async fn unknown_code_reads_use_their_partial_indexes_on_sqlite() {
    let f = fixture(Db::Sqlite, Thresholds::default()).await;
    let plan = |sql: &'static str| {
        let pool = f.core.store.pool().clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|r| r.3)
                .collect::<Vec<_>>()
                .join(" | ")
        }
    };
    let enumeration = plan(
        "SELECT DISTINCT code_key FROM (SELECT code_key FROM query_events \
         WHERE source_key = 'k' AND at >= 0 AND code_key LIKE 'u:%' ORDER BY at DESC LIMIT 100) AS recent",
    )
    .await;
    assert!(
        enumeration.contains("query_events_unknown_by_source"),
        "{enumeration}"
    );
    let reentry = plan(
        "SELECT COUNT(*) FROM (SELECT 1 FROM query_events WHERE code_key = 'u:sc:1' \
         AND source_key = 'k' AND code_key LIKE 'u:%' LIMIT 1) AS earlier",
    )
    .await;
    assert!(
        reentry.contains("query_events_unknown_by_code"),
        "{reentry}"
    );
}
