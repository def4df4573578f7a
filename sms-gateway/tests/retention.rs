//! Retention and the recall notice (issue 8), on SQLite and PostgreSQL: a consumer whose contact
//! was purged is settled `no_contact` and never sent a notice; one who opted out and was purged
//! is not sent one either, and stays opted out when they text again; a consumer still on file
//! gets theirs. The outbound message of a notice still in flight survives the purge.

#[path = "../../core/tests/support/mod.rs"]
mod support;

use support::{fixture, Db};
use zhenwei_core::feeds::outbox;
use zhenwei_core::retention::{self, Retention};
use zhenwei_core::store::now_ms;
use zhenwei_core::{demo, Channel, Thresholds};
use zhenwei_sms_gateway::outbound::{RecallNotices, SendOutcome, SmsSender};
use zhenwei_sms_gateway::{Gateway, GatewayConfig, Inbound, Outcome};

const DAY: i64 = 86_400_000;

fn sms(from: &str, text: &str) -> Inbound {
    Inbound {
        from: from.into(),
        to: "10658".into(),
        text: text.into(),
    }
}

/// An SMS transport that answers what it is told to and remembers whom it was given.
struct FakeTransport {
    answer: std::sync::Mutex<SendOutcome>,
    given: std::sync::Mutex<Vec<String>>,
}

impl SmsSender for &'static FakeTransport {
    fn transport(&self) -> &'static str {
        "smpp"
    }
    async fn send(&self, _mt_id: i64, to: &str, _text: &str) -> SendOutcome {
        self.given.lock().unwrap().push(to.to_owned());
        self.answer.lock().unwrap().clone()
    }
}

async fn a_purged_contact_gets_no_recall_notice(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    let core = &f.core;
    demo::seed_if_empty(&core.registry).await.unwrap();
    let m = demo::manifest(&core.store).await.unwrap().unwrap();
    let g = Gateway::new(core, &GatewayConfig::default());
    // a: purged; b: opted out, then purged; c: still on file; d: on file, its notice in flight.
    let (a, b, c, d) = ("13800000001", "13800000002", "13800000003", "13800000004");
    for (i, n) in [a, b, c, d].iter().enumerate() {
        let code = m["genuine"][i].as_str().unwrap();
        assert_eq!(
            g.handle(&sms(n, code)).await.unwrap().outcome,
            Outcome::Verified
        );
    }
    g.handle(&sms(b, "TD")).await.unwrap();
    let key = |n: &str| g.contacts().key(Channel::Sms, &format!("+86{n}"));
    // a and b were last seen 400 days ago.
    for n in [a, b] {
        sqlx::query("UPDATE contacts SET last_seen = $1 WHERE source_key = $2")
            .bind(now_ms() - 400 * DAY)
            .bind(key(n))
            .execute(core.store.pool())
            .await
            .unwrap();
    }
    let p = retention::purge(&core.store, &Retention::default(), now_ms(), "test", false)
        .await
        .unwrap();
    assert_eq!((p.contacts_deleted, p.contacts_blanked), (1, 1), "{p:?}");

    let recall = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/feeds/recall.csv"
    ))
    .unwrap();
    let opts = zhenwei_core::feeds::apply::ImportOptions {
        actor: "test".into(),
        file_name: None,
        format: None,
        skip_bad_rows: false,
    };
    zhenwei_core::feeds::import(
        &core.store,
        zhenwei_core::feeds::FeedKind::Recall,
        &recall,
        &opts,
    )
    .await
    .unwrap();
    // The query events still name a and b (by keyed hash): their notices are queued…
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recall_notifications")
        .fetch_one(core.store.pool())
        .await
        .unwrap();
    assert_eq!(queued, 4);

    let transport: &'static FakeTransport = Box::leak(Box::new(FakeTransport {
        answer: std::sync::Mutex::new(SendOutcome::Accepted {
            message_ids: vec!["M-c".into()],
            recorded: false,
        }),
        given: std::sync::Mutex::new(Vec::new()),
    }));
    // d's notice first, left in flight (no answer from the SMSC in time).
    let d_notice: i64 =
        sqlx::query_scalar("SELECT id FROM recall_notifications WHERE source_key = $1")
            .bind(key(d))
            .fetch_one(core.store.pool())
            .await
            .unwrap();
    sqlx::query("UPDATE recall_notifications SET state = 'cancelled' WHERE id <> $1")
        .bind(d_notice)
        .execute(core.store.pool())
        .await
        .unwrap();
    *transport.answer.lock().unwrap() = SendOutcome::Unknown("no answer".into());
    let notices = RecallNotices::new(core, transport);
    let r = outbox::deliver(&core.store, &notices, 100).await.unwrap();
    assert_eq!(r.unsettled, 1, "{r:?}");
    sqlx::query("UPDATE recall_notifications SET state = 'pending' WHERE state = 'cancelled'")
        .execute(core.store.pool())
        .await
        .unwrap();

    // … and settled without sending: a and b have no number on file any more.
    *transport.answer.lock().unwrap() = SendOutcome::Accepted {
        message_ids: vec!["M-c".into()],
        recorded: false,
    };
    let r = outbox::deliver(&core.store, &notices, 100).await.unwrap();
    assert_eq!((r.sent, r.no_contact, r.opted_out), (1, 2, 0), "{r:?}");
    assert_eq!(
        transport.given.lock().unwrap().clone(),
        vec![format!("+86{d}"), format!("+86{c}")]
    );
    let mut st: Vec<(String, String)> =
        sqlx::query_as("SELECT source_key, state FROM recall_notifications")
            .fetch_all(core.store.pool())
            .await
            .unwrap();
    st.sort();
    let mut want = vec![
        (key(a), "no_contact".to_owned()),
        (key(b), "no_contact".to_owned()),
        (key(c), "sent".to_owned()),
        (key(d), "sending".to_owned()),
    ];
    want.sort();
    assert_eq!(st, want);

    // Years later, d's message is past the SMS log period but its notice is still in flight:
    // it is kept for reclaim; c's (settled) goes.
    sqlx::query("UPDATE sms_mt SET created_at = $1")
        .bind(now_ms() - 400 * DAY)
        .execute(core.store.pool())
        .await
        .unwrap();
    let p = retention::purge(&core.store, &Retention::default(), now_ms(), "test", false)
        .await
        .unwrap();
    assert_eq!((p.sms_mt_deleted, p.sms_receipts_deleted), (1, 1), "{p:?}");
    let left: Vec<Option<i64>> = sqlx::query_scalar("SELECT notice_id FROM sms_mt")
        .fetch_all(core.store.pool())
        .await
        .unwrap();
    assert_eq!(left, vec![Some(d_notice)]);

    // b texts again: the number is on file again, and still opted out.
    let code = m["genuine"][1].as_str().unwrap();
    assert_eq!(
        g.handle(&sms(b, code)).await.unwrap().outcome,
        Outcome::Verified
    );
    assert_eq!(
        g.contacts().follow_up(&key(b)).await.unwrap(),
        Some((format!("+86{b}"), true))
    );
    // a texts again: a new contact, as for anyone who never opted out.
    let code = m["genuine"][0].as_str().unwrap();
    g.handle(&sms(a, code)).await.unwrap();
    assert_eq!(
        g.contacts().follow_up(&key(a)).await.unwrap(),
        Some((format!("+86{a}"), false))
    );
}

on_both_backends!(a_purged_contact_gets_no_recall_notice);
