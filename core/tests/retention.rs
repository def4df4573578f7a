//! Retention on SQLite and PostgreSQL: rows past their period are purged, younger ones kept,
//! with exact counts; an opted-out contact keeps its opt-out but loses its number, and gets the
//! number back — still opted out — when it writes again; the purge crosses chunk boundaries;
//! a dry run changes nothing; each run appends one audit entry with counts and no numbers.

mod support;

use support::{fixture, Db};
use zhenwei_core::call_log::{self, CallRecord};
use zhenwei_core::contacts::Contacts;
use zhenwei_core::retention::{self, Purged, Retention};
use zhenwei_core::sms_mt::{self, Purpose, Recipient};
use zhenwei_core::{audit, Channel, Core, Thresholds};

const DAY: i64 = 86_400_000;
/// "Now" of the purges below: a fixed instant, so ages are exact.
const NOW: i64 = 1_800_000_000_000;

fn periods() -> Retention {
    Retention {
        contact_days: 30,
        call_days: 10,
        sms_log_days: 20,
        purge_every_minutes: 60,
    }
}

async fn scalar(core: &Core, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(core.store.pool())
        .await
        .unwrap()
}

/// An outbound message created `age_days` before NOW, with `parts` accepted parts and a receipt
/// for each.
async fn message(core: &Core, tag: &str, age_days: i64, parts: usize) -> i64 {
    let to = Recipient {
        source_key: Some(format!("key-{tag}")),
        masked: "861******0000".into(),
    };
    let id = sms_mt::record(&core.store, Purpose::Reply, None, &to, "smpp")
        .await
        .unwrap();
    for p in 0..parts {
        let mid = format!("{tag}-{p}");
        sms_mt::submitted(&core.store, Some(id), &to, "smpp", &mid)
            .await
            .unwrap();
        sms_mt::receipt(&core.store, &mid, "DELIVRD", None, None)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE sms_mt SET created_at = $1 WHERE id = $2")
        .bind(NOW - age_days * DAY)
        .bind(id)
        .execute(core.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE sms_receipts SET submitted_at = $1, received_at = $1 WHERE mt_id = $2")
        .bind(NOW - age_days * DAY)
        .bind(id)
        .execute(core.store.pool())
        .await
        .unwrap();
    id
}

async fn call(core: &Core, caller: &str, age_days: i64) {
    let at = NOW - age_days * DAY;
    call_log::record(
        &core.store,
        &core.keys.current().keyring,
        &CallRecord {
            sip_call_id: format!("call-{caller}-{age_days}"),
            caller: caller.into(),
            trunk: "127.0.0.1".into(),
            started_at: at,
            answered_at: Some(at + 1000),
            ended_at: at + 60_000,
            hangup: "caller_bye".into(),
            ..CallRecord::default()
        },
    )
    .await
    .unwrap();
}

async fn purge_keeps_the_young_and_takes_the_old(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let core = &f.core;
    let contacts = Contacts::new(core.store.clone(), core.keys.clone());
    // Contacts: 3 old (31, 40, 365 days), 2 young (29 days, 1 day), 1 old opted-out, 1 young
    // opted-out.
    for (n, age) in [
        ("+8613800000031", 31),
        ("+8613800000040", 40),
        ("+8613800000365", 365),
        ("+8613800000029", 29),
        ("+8613800000001", 1),
    ] {
        contacts
            .seen(Channel::Sms, n, NOW - age * DAY)
            .await
            .unwrap();
    }
    contacts
        .opt_out(Channel::Sms, "+8613900000050", NOW - 50 * DAY)
        .await
        .unwrap();
    contacts
        .opt_out(Channel::Sms, "+8613900000005", NOW - 5 * DAY)
        .await
        .unwrap();
    // Calls: 2 older than 10 days, 1 younger.
    call(core, "+8613700000001", 11).await;
    call(core, "+8613700000002", 100).await;
    call(core, "+8613700000003", 9).await;
    // Messages: 2 old (3 and 1 parts), 1 young (2 parts); one orphan receipt old, one young.
    message(core, "old-a", 21, 3).await;
    message(core, "old-b", 200, 1).await;
    message(core, "young", 19, 2).await;
    for (mid, age) in [("orphan-old", 25), ("orphan-young", 2)] {
        sms_mt::receipt(&core.store, mid, "DELIVRD", None, None)
            .await
            .unwrap();
        sqlx::query("UPDATE sms_receipts SET received_at = $1 WHERE message_id = $2")
            .bind(NOW - age * DAY)
            .bind(mid)
            .execute(core.store.pool())
            .await
            .unwrap();
    }
    let audit_before = scalar(core, "SELECT COUNT(*) FROM audit_log").await;
    let want = Purged {
        dry_run: false,
        contacts_deleted: 3,
        contacts_blanked: 1,
        calls_deleted: 2,
        sms_mt_deleted: 2,
        sms_receipts_deleted: 5,
    };

    // A dry run counts the same and changes nothing.
    let dry = retention::purge(&core.store, &periods(), NOW, "test", true)
        .await
        .unwrap();
    assert_eq!(
        dry,
        Purged {
            dry_run: true,
            ..want.clone()
        }
    );
    assert_eq!(scalar(core, "SELECT COUNT(*) FROM contacts").await, 7);
    assert_eq!(
        scalar(core, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );

    // Chunks of 2 rows: every table crosses a chunk boundary.
    let p = retention::purge_in_chunks(&core.store, &periods(), NOW, "test", false, 2)
        .await
        .unwrap();
    assert_eq!(p, want);
    assert_eq!(p.total(), 13);

    let mut left: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT number_masked, number_cipher, opted_out FROM contacts ORDER BY last_seen",
    )
    .fetch_all(core.store.pool())
    .await
    .unwrap();
    for row in &mut left {
        row.1 = if row.1.is_empty() { "-" } else { "sealed" }.into();
    }
    assert_eq!(
        left,
        vec![
            // The old opted-out contact: no number, opt-out kept.
            (String::new(), "-".into(), 1),
            ("861******0029".into(), "sealed".into(), 0),
            ("861******0005".into(), "sealed".into(), 1),
            ("861******0001".into(), "sealed".into(), 0),
        ]
    );
    let blanked = contacts.key(Channel::Sms, "+8613900000050");
    assert_eq!(contacts.follow_up(&blanked).await.unwrap(), None);
    assert_eq!(contacts.number(&blanked).await.unwrap(), None);
    let gone = contacts.key(Channel::Sms, "+8613800000040");
    assert_eq!(contacts.follow_up(&gone).await.unwrap(), None);
    let young = contacts.key(Channel::Sms, "+8613800000029");
    assert_eq!(
        contacts.follow_up(&young).await.unwrap(),
        Some(("+8613800000029".into(), false))
    );

    let calls = call_log::list(&core.store, &core.keys.current().keyring, None, 10)
        .await
        .unwrap();
    assert_eq!(
        calls.iter().map(|c| c.caller.as_str()).collect::<Vec<_>>(),
        vec!["861******0003"]
    );
    let mut receipts: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM sms_receipts ORDER BY message_id")
            .fetch_all(core.store.pool())
            .await
            .unwrap();
    receipts.sort();
    assert_eq!(receipts, vec!["orphan-young", "young-0", "young-1"]);
    assert_eq!(scalar(core, "SELECT COUNT(*) FROM sms_mt").await, 1);

    // One audit entry, with the counts and no number, and the chain still holds.
    let entries = audit::entries(&core.store, audit_before, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.subject.as_str()),
        ("test", "privacy.purge", "privacy")
    );
    let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
    assert_eq!(
        (
            d["contacts_deleted"].as_i64(),
            d["contacts_blanked"].as_i64(),
            d["calls_deleted"].as_i64(),
            d["sms_mt_deleted"].as_i64(),
            d["sms_receipts_deleted"].as_i64(),
            d["contact_days"].as_i64(),
        ),
        (Some(3), Some(1), Some(2), Some(2), Some(5), Some(30))
    );
    assert!(!e.detail.contains("138") && !e.detail.contains("139"));
    assert_eq!(
        audit::verify_chain(&core.store).await.unwrap().broken_at,
        None
    );

    // A second run finds nothing (and still records that it ran).
    let again = retention::purge(&core.store, &periods(), NOW, "test", false)
        .await
        .unwrap();
    assert_eq!(again, Purged::default());
    assert_eq!(
        scalar(core, "SELECT COUNT(*) FROM audit_log").await,
        audit_before + 2
    );

    // The blanked person writes again: the number is back, and the opt-out still holds.
    contacts
        .seen(Channel::Sms, "+8613900000050", NOW)
        .await
        .unwrap();
    assert_eq!(
        contacts.follow_up(&blanked).await.unwrap(),
        Some(("+8613900000050".into(), true))
    );
    let c = contacts
        .get(Channel::Sms, "+8613900000050")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.masked.as_str(), c.opted_out), ("861******0050", true));
}

on_both_backends!(purge_keeps_the_young_and_takes_the_old,);
