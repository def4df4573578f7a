//! Regulatory feeds against real storage, on SQLite and PostgreSQL: every kind changes the
//! verdicts at once (also in another process's cache), bad rows stop an import, later imports
//! supersede and withdraw, GB18030 files read, imports are versioned and audited, and the recall
//! notice outbox tells each consumer exactly once.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;

use support::{fixture, Db, Fixture};
use zhenwei_core::feeds::apply::ImportOptions;
use zhenwei_core::feeds::outbox::{self, Delivery, RecallNotice, RecallSender};
use zhenwei_core::feeds::{self, tokens, FeedKind, ImportReport};
use zhenwei_core::{
    audit, demo, Authenticity, Channel, Core, Lang, Query, Thresholds, Verdict, Warning,
};

fn query(input: &str, lang: Lang) -> Query {
    Query {
        input: input.to_owned(),
        channel: Channel::Cli,
        source: "test".into(),
        place: None,
        store_id: None,
        lang,
    }
}

fn sms(input: &str, phone: &str) -> Query {
    Query {
        channel: Channel::Sms,
        source: phone.to_owned(),
        ..query(input, Lang::Zh)
    }
}

async fn verify(core: &Core, input: &str) -> Verdict {
    core.verifier.verify(&query(input, Lang::En)).await.unwrap()
}

async fn demo_core(db: Db) -> (Fixture, BTreeMap<String, Vec<String>>) {
    let f = fixture(db, Thresholds::default()).await;
    assert!(demo::seed_if_empty(&f.core.registry).await.unwrap());
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    (f, serde_json::from_value(m).unwrap())
}

fn opts(skip: bool) -> ImportOptions {
    ImportOptions {
        actor: "test:regulator".into(),
        file_name: Some("feed.csv".into()),
        format: None,
        skip_bad_rows: skip,
    }
}

async fn import(core: &Core, kind: FeedKind, text: &str) -> ImportReport {
    let r = feeds::import(&core.store, kind, text.as_bytes(), &opts(false))
        .await
        .unwrap();
    assert!(r.applied, "{}: {:?}", r.summary(), r.rejected);
    r
}

// Demo facts (core/src/demo.rs).
const FORMULA: &str = "6901234000115";
const APPLIANCES_BODY: &str = "91330106MA2K00002";
const EARBUDS_BODY: &str = "91320505MA1N00004";
const METER_LICENCE: &str = "粤械注准20242070001";

fn credit(body: &str) -> String {
    format!(
        "{body}{}",
        zhenwei_core::codes::uscc::check_char(body).unwrap()
    )
}

on_both_backends!(
    every_kind_changes_the_verdict_at_once,
    bad_rows_stop_the_import_unless_skipped,
    later_imports_supersede_and_withdraw,
    gb18030_and_json_files,
    an_import_by_another_process_is_seen_by_the_next_query,
    imports_are_versioned_and_audited,
    recall_notices_go_to_each_consumer_exactly_once,
    regulator_tokens,
);

async fn every_kind_changes_the_verdict_at_once(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let formula = &m["genuine"][0];
    let before = verify(core, formula).await;
    assert_eq!(before.warnings, vec![]);

    // A recall of the formula's lot, by GTIN, with its own advice.
    let r = import(
        core,
        FeedKind::Recall,
        &format!(
            "id,status,gtin,lots,advice_zh,advice_en\n\
             SAMR-2026-0042,active,{FORMULA},NB2026A;NB2026Z,请停止食用并退货。,Stop feeding it and return it.\n"
        ),
    )
    .await;
    assert_eq!((r.added, r.rows), (1, 1));
    let v = verify(core, &m["genuine"][1]).await;
    assert_eq!(v.authenticity, Authenticity::Genuine);
    assert_eq!(v.warnings, vec![Warning::Recalled]);
    assert!(
        v.message
            .contains("This batch has been recalled: Stop feeding it and return it."),
        "{}",
        v.message
    );
    assert_eq!(v.notices[0].reference.as_deref(), Some("SAMR-2026-0042"));
    assert_eq!(
        zhenwei_core::advice::notice_advice(&v, Warning::Recalled, Lang::Zh).as_deref(),
        Some("请停止食用并退货。")
    );
    // The scratch-PIN liquor is the same enterprise's, another product: untouched.
    assert_eq!(verify(core, &m["scratch_pin"][0]).await.warnings, vec![]);

    // A failed batch of yogurt? No: the enterprise that refused inspection (appliances) is
    // marked on every product; a failed batch by registration number marks that batch only.
    let r = import(
        core,
        FeedKind::SpotCheck,
        &format!(
            "id,status,credit_code,registration_no,lots,advice_en\n\
             ZJ-2026-S-7,refused_inspection,{},,,Refused the 2026 provincial spot check.\n\
             GD-2026-S-9,failed,,{METER_LICENCE},GM2026A,Lot GM2026A failed: accuracy.\n",
            credit(APPLIANCES_BODY)
        ),
    )
    .await;
    assert_eq!(r.added, 2);
    let v = verify(core, &m["certificate_invalid"][0]).await;
    assert_eq!(
        v.warnings,
        vec![Warning::SpotCheckFailed, Warning::CertificateInvalid]
    );
    assert!(
        v.message
            .contains("Refused the 2026 provincial spot check."),
        "{}",
        v.message
    );
    let v = verify(core, &m["gs1_serial"][0]).await;
    assert_eq!(v.warnings, vec![Warning::SpotCheckFailed]);
    assert!(
        v.message.contains("Lot GM2026A failed: accuracy."),
        "{}",
        v.message
    );

    // The kettle's certificate reinstated (the demo's entry, superseded by its number).
    let r = import(
        core,
        FeedKind::Ccc,
        "cert_no,status\n2024010701123456,valid\n",
    )
    .await;
    assert_eq!(r.updated, 1);
    assert_eq!(
        verify(core, &m["certificate_invalid"][1]).await.warnings,
        vec![Warning::SpotCheckFailed]
    );

    // The meter's licence lapsed.
    import(
        core,
        FeedKind::Licence,
        &format!("licence_no,status,valid_until\n{METER_LICENCE},valid,2025-01-31\n"),
    )
    .await;
    assert_eq!(
        verify(core, &m["gs1_serial"][1]).await.warnings,
        vec![Warning::SpotCheckFailed, Warning::LicenceInvalid]
    );

    // The earbuds' maker on the serious-violator list.
    import(
        core,
        FeedKind::Blacklist,
        &format!(
            "credit_code,status,advice_zh\n{},listed,该企业已被列入严重违法失信名单。\n",
            credit(EARBUDS_BODY)
        ),
    )
    .await;
    let v = core
        .verifier
        .verify(&query(&m["prefix_invalid"][0], Lang::Zh))
        .await
        .unwrap();
    assert!(
        v.warnings.contains(&Warning::EnterpriseBlacklisted),
        "{:?}",
        v.warnings
    );
    assert!(
        v.message.contains("该企业已被列入严重违法失信名单。"),
        "{}",
        v.message
    );

    // A plain GTIN names no batch: a recall limited to lots is not claimed for it.
    let v = verify(core, FORMULA).await;
    assert_eq!(v.authenticity, Authenticity::Unknown);
    assert!(!v.warnings.contains(&Warning::Recalled));
}

async fn bad_rows_stop_the_import_unless_skipped(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let text = format!(
        "id,status,gtin,lots\n\
         R-1,active,{FORMULA},NB2026A\n\
         R-2,active,6901234000117,NB2026A\n\
         R-3,open,{FORMULA},\n\
         R-1,active,{FORMULA},X\n"
    );
    let r = feeds::import(&core.store, FeedKind::Recall, text.as_bytes(), &opts(false))
        .await
        .unwrap();
    assert!(!r.applied);
    assert_eq!(r.import_id, None);
    let lines: Vec<u64> = r.rejected.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert!(
        r.rejected[0].reason.contains("gtin \"6901234000117\""),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[1].reason.contains("status \"open\""),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[2].reason.contains("already appears on line 2"),
        "{:?}",
        r.rejected
    );
    // Nothing applied: no entry, no import, the verdict unchanged.
    let entries = feeds::list_entries(&core.store, None, true).await.unwrap();
    assert!(entries
        .iter()
        .all(|e| e.reference.starts_with("DEMO-") || e.kind == "ccc"));
    assert!(feeds::list_imports(&core.store, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(verify(core, &m["genuine"][2]).await.warnings, vec![]);

    let r = feeds::import(&core.store, FeedKind::Recall, text.as_bytes(), &opts(true))
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!((r.added, r.rejected.len()), (1, 3));
    assert_eq!(
        verify(core, &m["genuine"][3]).await.warnings,
        vec![Warning::Recalled]
    );

    // File-level problems are errors, not rows.
    for (text, expected) in [
        (
            "id,status,colour\nR,active,red\n",
            "line 1: unknown column \"colour\"",
        ),
        ("id,status,gtin\n", "no entries"),
        ("{\"entries\": 5}", "an object with an \"entries\" array"),
        ("{\"kind\": \"ccc\", \"entries\": []}", "not recall"),
    ] {
        let e = feeds::import(&core.store, FeedKind::Recall, text.as_bytes(), &opts(true))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{e:?} lacks {expected:?}");
    }
}

async fn later_imports_supersede_and_withdraw(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let recall = |status: &str, lots: &str| {
        format!("id,status,gtin,lots,advice_en\nR-9,{status},{FORMULA},{lots},Return it.\n")
    };
    import(core, FeedKind::Recall, &recall("active", "NB2026Z")).await;
    assert_eq!(verify(core, &m["genuine"][10]).await.warnings, vec![]);
    // Extended to the lot on sale: supersedes.
    let r = import(core, FeedKind::Recall, &recall("active", "NB2026Z;NB2026A")).await;
    assert_eq!((r.added, r.updated), (0, 1));
    assert_eq!(
        verify(core, &m["genuine"][11]).await.warnings,
        vec![Warning::Recalled]
    );
    // The same file again changes nothing.
    let r = import(core, FeedKind::Recall, &recall("active", "NB2026Z;NB2026A")).await;
    assert_eq!((r.updated, r.unchanged), (0, 1));
    // Closed: withdrawn, the warning is gone; the entry stays listed with --all.
    let r = import(core, FeedKind::Recall, "id,status\nR-9,withdrawn\n").await;
    assert_eq!(r.withdrawn, 1);
    assert_eq!(verify(core, &m["genuine"][12]).await.warnings, vec![]);
    let active = feeds::list_entries(&core.store, Some(FeedKind::Recall), false)
        .await
        .unwrap();
    assert!(active.iter().all(|e| e.reference != "R-9"));
    let all = feeds::list_entries(&core.store, Some(FeedKind::Recall), true)
        .await
        .unwrap();
    let r9 = all.iter().find(|e| e.reference == "R-9").unwrap();
    assert_eq!((r9.status.as_str(), r9.active), ("withdrawn", 0));
    // The demo's own recall (recorded with an id) can be withdrawn the same way.
    let yogurt = verify(core, &m["recalled"][1]).await.product.unwrap().gtin;
    import(
        core,
        FeedKind::Recall,
        "id,status\nDEMO-RECALL-2026-001,withdrawn\n",
    )
    .await;
    assert_eq!(verify(core, &m["recalled"][0]).await.warnings, vec![]);
    // And reinstated.
    let r = import(
        core,
        FeedKind::Recall,
        &format!("id,status,gtin,lots\nDEMO-RECALL-2026-001,active,{yogurt},YG2026R\n"),
    )
    .await;
    assert_eq!(r.updated, 1);
    assert_eq!(
        verify(core, &m["recalled"][2]).await.warnings,
        vec![Warning::Recalled]
    );
    // A blacklisted enterprise taken off the list.
    let ent = credit(EARBUDS_BODY);
    import(
        core,
        FeedKind::Blacklist,
        &format!("credit_code,status\n{ent},listed\n"),
    )
    .await;
    assert!(verify(core, &m["prefix_invalid"][1])
        .await
        .warnings
        .contains(&Warning::EnterpriseBlacklisted));
    import(
        core,
        FeedKind::Blacklist,
        &format!("credit_code,status\n{ent},withdrawn\n"),
    )
    .await;
    assert!(!verify(core, &m["prefix_invalid"][2])
        .await
        .warnings
        .contains(&Warning::EnterpriseBlacklisted));
}

async fn gb18030_and_json_files(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let text = format!(
        "id,status,gtin,lots,title,advice_zh\nGB-1,active,{FORMULA},NB2026A,婴幼儿配方奶粉召回,请立即停止食用，联系经销商退货。\n"
    );
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let r = feeds::import(&core.store, FeedKind::Recall, &bytes, &opts(false))
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!(r.encoding.as_str(), "gb18030");
    let v = core
        .verifier
        .verify(&query(&m["genuine"][20], Lang::Zh))
        .await
        .unwrap();
    assert!(
        v.message
            .contains("该批次已被召回：请立即停止食用，联系经销商退货。"),
        "{}",
        v.message
    );
    let listed = feeds::list_entries(&core.store, None, false).await.unwrap();
    assert!(listed
        .iter()
        .any(|e| e.title.as_deref() == Some("婴幼儿配方奶粉召回")));

    let json = format!(
        "{{\"kind\": \"spot-check\", \"entries\": [\n  {{\"id\": \"J-1\", \"status\": \"failed\", \"gtin\": \"{FORMULA}\", \"lots\": [\"NB2026A\"]}},\n  {{\"id\": \"J-2\", \"status\": \"failed\"}}\n]}}"
    );
    let r = feeds::import(
        &core.store,
        FeedKind::SpotCheck,
        json.as_bytes(),
        &opts(false),
    )
    .await
    .unwrap();
    assert!(!r.applied);
    assert_eq!(r.format.as_str(), "json");
    assert_eq!((r.rejected[0].line, r.rejected[0].entry), (3, Some(2)));
    let r = feeds::import(
        &core.store,
        FeedKind::SpotCheck,
        json.as_bytes(),
        &opts(true),
    )
    .await
    .unwrap();
    assert_eq!(r.added, 1);
    assert_eq!(
        verify(core, &m["genuine"][21]).await.warnings,
        vec![Warning::Recalled, Warning::SpotCheckFailed]
    );
}

async fn an_import_by_another_process_is_seen_by_the_next_query(db: Db) {
    let (f, m) = demo_core(db).await;
    let other = Core::open(&f.location, Thresholds::default())
        .await
        .unwrap();
    let code = &m["genuine"][30];
    verify(&f.core, code).await;
    verify(&f.core, code).await; // cached now
    import(
        &other,
        FeedKind::Recall,
        &format!("id,status,gtin\nX-1,active,{FORMULA}\n"),
    )
    .await;
    let v = verify(&f.core, code).await;
    assert_eq!(v.warnings, vec![Warning::RepeatQuery, Warning::Recalled]);
    import(&other, FeedKind::Recall, "id,status\nX-1,withdrawn\n").await;
    let v = verify(&f.core, code).await;
    assert_eq!(v.warnings, vec![Warning::RepeatQuery]);
}

async fn imports_are_versioned_and_audited(db: Db) {
    let (f, _m) = demo_core(db).await;
    let core = &f.core;
    let text = format!("id,status,gtin\nA-1,active,{FORMULA}\n");
    let first = import(core, FeedKind::Recall, &text).await;
    let second = import(core, FeedKind::Recall, &text).await;
    assert_eq!(second.import_id, first.import_id.map(|i| i + 1));
    let imports = feeds::list_imports(&core.store, 10).await.unwrap();
    assert_eq!(imports.len(), 2);
    assert_eq!(imports[0].id, second.import_id.unwrap());
    assert_eq!(imports[0].actor, "test:regulator");
    assert_eq!(imports[0].file_sha256, first.file_sha256);
    assert_eq!(first.file_sha256.len(), 64);
    assert_eq!((imports[1].added, imports[0].unchanged), (1, 1));
    let entries = audit::entries(&core.store, 0, 10_000).await.unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e.action.starts_with("feed."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        vec!["feed.entry.add", "feed.import", "feed.import"]
    );
    let import_entry = entries
        .iter()
        .rev()
        .find(|e| e.action == "feed.import")
        .unwrap();
    assert!(import_entry.detail.contains(&first.file_sha256));
    assert_eq!(
        audit::verify_chain(&core.store).await.unwrap().broken_at,
        None
    );
}

/// A stand-in for the SMS gateway: records what it was asked to send; some consumers opted out.
struct Gateway {
    sent: Mutex<Vec<(String, String)>>,
    opted_out: Vec<String>,
}

impl RecallSender for Gateway {
    async fn send(&self, n: &RecallNotice) -> Delivery {
        if self.opted_out.contains(&n.source_key) {
            return Delivery::OptedOut;
        }
        self.sent
            .lock()
            .unwrap()
            .push((n.source_key.clone(), n.text(Lang::Zh)));
        Delivery::Sent
    }
}

async fn recall_notices_go_to_each_consumer_exactly_once(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let key = |phone: &str| {
        core.keys
            .current()
            .keyring
            .lookup_hash("source", &format!("sms:{phone}"))
    };
    let g = &m["genuine"];
    // Alice queried twice (two codes of the lot), Bob once, Carol opted out, Dave queried a
    // pin of another product, Erin queried by web (no number to text).
    let q = |input: &str, phone: &str| {
        let query = sms(input, phone);
        async move { core.verifier.verify(&query).await }
    };
    q(&g[50], "13800000001").await.unwrap();
    q(&g[51], "13800000001").await.unwrap();
    q(&g[52], "13800000002").await.unwrap();
    q(&g[53], "13800000003").await.unwrap();
    q(&m["scratch_pin"][5], "13800000004").await.unwrap();
    core.verifier
        .verify(&Query {
            channel: Channel::Web,
            source: "10.1.2.3".into(),
            ..query(&g[54], Lang::Zh)
        })
        .await
        .unwrap();

    let recall =
        format!("id,status,gtin,lots,advice_zh\nN-1,active,{FORMULA},NB2026A,请停止食用并退货。\n");
    let r = import(core, FeedKind::Recall, &recall).await;
    assert_eq!(r.notifications, 3, "Alice, Bob, Carol");
    // Re-importing the same recall, and a later import extending it, queue nobody again.
    let r = import(core, FeedKind::Recall, &recall).await;
    assert_eq!(r.notifications, 0);
    let extended = recall.replace("NB2026A,", "NB2026A;NB2026B,");
    let r = import(core, FeedKind::Recall, &extended).await;
    assert_eq!((r.updated, r.notifications), (1, 0));
    // Alice asks again after the recall: her reply carried it; she is still queued once.
    let v = q(&g[50], "13800000001").await.unwrap();
    assert!(v.warnings.contains(&Warning::Recalled));
    let r = import(core, FeedKind::Recall, &extended).await;
    assert_eq!(r.notifications, 0);
    // Frank queries only after the recall: told in the reply, never queued.
    q(&g[55], "13800000006").await.unwrap();
    import(core, FeedKind::Recall, &extended).await;

    let pending = outbox::pending(&core.store, 100).await.unwrap();
    let mut queued: Vec<String> = pending.iter().map(|n| n.source_key.clone()).collect();
    queued.sort();
    let mut expected = vec![key("13800000001"), key("13800000002"), key("13800000003")];
    expected.sort();
    assert_eq!(queued, expected);
    assert!(pending.iter().all(|n| n.lot.as_deref() == Some("NB2026A")));

    let gateway = Gateway {
        sent: Mutex::new(Vec::new()),
        opted_out: vec![key("13800000003")],
    };
    // Two processes drain the outbox at once: each notice is claimed by one of them.
    let other = Core::open(&f.location, Thresholds::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        outbox::deliver(&core.store, &gateway, 100),
        outbox::deliver(&other.store, &gateway, 100)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.sent + b.sent, a.opted_out + b.opted_out),
        (2, 1),
        "{a:?} {b:?}"
    );
    let again = outbox::deliver(&core.store, &gateway, 100).await.unwrap();
    assert_eq!(again, outbox::DeliveryReport::default(), "nothing twice");
    // The serving loop (one round, then shut down) finds nothing to send either.
    outbox::serve(
        core.store.clone(),
        &gateway,
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(600),
        std::future::ready(()),
    )
    .await;
    let sent = gateway.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|(_, text)| text
                == "【召回】婴幼儿配方奶粉（批号NB2026A）已被召回。请停止食用并退货。"),
        "{sent:?}"
    );
    // A second, different recall of the same batch is news: one more notice each.
    let r = import(
        core,
        FeedKind::Recall,
        &format!("id,status,gtin,lots\nN-2,active,{FORMULA},NB2026A\n"),
    )
    .await;
    // (Queued: Alice, Bob and Carol — whether Carol opted out is the gateway's to say at
    // sending time; Frank's only query already carried a recall.)
    assert_eq!(r.notifications, 3);
}

async fn regulator_tokens(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let store = &f.core.store;
    let token = tokens::issue(store, "t", "zj-amr", &[FeedKind::Recall])
        .await
        .unwrap();
    assert!(token.starts_with(tokens::TOKEN_PREFIX));
    let who = tokens::authenticate(store, &token).await.unwrap().unwrap();
    assert_eq!(who.name, "zj-amr");
    assert!(who.may_post(FeedKind::Recall) && !who.may_post(FeedKind::Ccc));
    assert_eq!(tokens::authenticate(store, "zwf_nope").await.unwrap(), None);
    // The database holds no token.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM feed_tokens")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(stored.iter().all(|h| *h != token && h.len() == 64));
    // Re-issue replaces; revoke refuses.
    let newer = tokens::issue(store, "t", "zj-amr", &[]).await.unwrap();
    assert_eq!(tokens::authenticate(store, &token).await.unwrap(), None);
    assert_eq!(
        tokens::authenticate(store, &newer)
            .await
            .unwrap()
            .unwrap()
            .kinds
            .len(),
        5
    );
    tokens::revoke(store, "t", "zj-amr").await.unwrap();
    assert_eq!(tokens::authenticate(store, &newer).await.unwrap(), None);
    assert!(tokens::revoke(store, "t", "zj-amr").await.is_err());
    let list = tokens::list(store).await.unwrap();
    assert!(list[0].revoked_at.is_some());
    assert!(tokens::issue(store, "t", "bad name", &[]).await.is_err());
}
