//! The gateway against a real core, on SQLite and PostgreSQL: contacts are stored encrypted and
//! found by the same keyed hash as the person's query events, TD opts out for good, the
//! per-number rate limit and the core's enumeration detection hold a number back before the core
//! is asked, and help and opt-out work regardless.

#[path = "../../core/tests/support/mod.rs"]
mod support;

use support::{fixture, Db};
use zhenwei_core::feeds::outbox;
use zhenwei_core::sms_mt;
use zhenwei_core::Lang;
use zhenwei_core::{demo, Channel, Thresholds};
use zhenwei_sms_gateway::outbound::{RecallNotices, SendOutcome, SmsSender};
use zhenwei_sms_gateway::reply;
use zhenwei_sms_gateway::{Gateway, GatewayConfig, Inbound, Outcome};

fn sms(from: &str, text: &str) -> Inbound {
    Inbound {
        from: from.into(),
        to: "10658".into(),
        text: text.into(),
    }
}

async fn events_of(core: &zhenwei_core::Core, source_key: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM query_events WHERE source_key = $1")
        .bind(source_key)
        .fetch_one(core.store.pool())
        .await
        .unwrap()
}

async fn contacts_are_encrypted_and_opt_out_sticks(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let code = m["genuine"][0].as_str().unwrap();
    let g = Gateway::new(&f.core, &GatewayConfig::default());

    let r = g.handle(&sms("138 1234 5678", code)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Verified);
    assert!(r.text.starts_with("正品："), "{}", r.text);

    let (key, cipher, masked, opted_out): (String, String, String, i64) =
        sqlx::query_as("SELECT source_key, number_cipher, number_masked, opted_out FROM contacts")
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert!(!cipher.contains("13812345678") && !cipher.contains("3812345678"));
    assert_eq!(masked, "861******5678");
    assert_eq!(opted_out, 0);
    assert_eq!(key, g.contacts().key(Channel::Sms, "+8613812345678"));
    assert_eq!(
        g.contacts().number(&key).await.unwrap().as_deref(),
        Some("+8613812345678")
    );
    // The contact joins the person's query events (recall notices, issue 8).
    assert_eq!(events_of(&f.core, &key).await, 1);
    // No phone number in clear anywhere in the events either.
    let sources: Vec<String> = sqlx::query_scalar("SELECT source_masked FROM query_events")
        .fetch_all(f.core.store.pool())
        .await
        .unwrap();
    assert!(
        sources.iter().all(|s| !s.contains("12345678")),
        "{sources:?}"
    );

    // Another dress of the same number is the same person.
    let r = g.handle(&sms("+86-138-1234-5678", "TD")).await.unwrap();
    assert_eq!(r.outcome, Outcome::OptedOut);
    assert_eq!(r.text, reply::opted_out(Lang::Zh));
    let c = g
        .contacts()
        .get(Channel::Sms, "+8613812345678")
        .await
        .unwrap()
        .unwrap();
    assert!(c.opted_out);
    // A later query does not opt back in.
    g.handle(&sms("008613812345678", code)).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE opted_out = 1")
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(events_of(&f.core, &key).await, 2);
    // Opting back in (START / 开通) does.
    let r = g.handle(&sms("13812345678", "START")).await.unwrap();
    assert_eq!(r.outcome, Outcome::OptedIn);
    assert_eq!(r.text, reply::opted_in(Lang::En));
    assert_eq!(
        g.contacts().follow_up(&key).await.unwrap(),
        Some(("+8613812345678".to_owned(), false))
    );
    g.handle(&sms("13812345678", "退订")).await.unwrap();
    assert_eq!(
        g.contacts().follow_up(&key).await.unwrap(),
        Some(("+8613812345678".to_owned(), true))
    );

    // A sender that is no number is refused; the text alone never is.
    assert!(g.handle(&sms("hello", code)).await.is_err());
    let r = g
        .handle(&sms("13900000000", "\u{0}\u{ffff}💥"))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Unrecognised);
}

async fn rate_limit_holds_a_number_back(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let g = Gateway::new(
        &f.core,
        &GatewayConfig {
            burst: 3,
            per_minute: 1.0,
            ..GatewayConfig::default()
        },
    );
    for i in 0..3 {
        let code = m["genuine"][i].as_str().unwrap();
        let r = g.handle(&sms("13811110000", code)).await.unwrap();
        assert_eq!(r.outcome, Outcome::Verified, "{}", r.text);
    }
    let key = g.contacts().key(Channel::Sms, "+8613811110000");
    let code = m["genuine"][3].as_str().unwrap();
    let r = g.handle(&sms("13811110000", code)).await.unwrap();
    assert_eq!(r.outcome, Outcome::RateLimited);
    assert_eq!(r.text, "查询过于频繁，请稍后再试。");
    let r = g
        .handle(&sms("13811110000", &format!("CHECK {code}")))
        .await
        .unwrap();
    assert_eq!(r.text, "Too many messages. Please try again later.");
    assert_eq!(events_of(&f.core, &key).await, 3, "the core was not asked");
    // Help and opt-out still work; other numbers are not affected.
    assert_eq!(
        g.handle(&sms("13811110000", "帮助")).await.unwrap().outcome,
        Outcome::Help
    );
    assert_eq!(
        g.handle(&sms("13811110000", "TD")).await.unwrap().outcome,
        Outcome::OptedOut
    );
    assert_eq!(
        g.handle(&sms("13822220000", code)).await.unwrap().outcome,
        Outcome::Verified
    );
}

async fn an_enumerating_number_is_held_back(db: Db) {
    let t = Thresholds {
        enumeration_unknown_codes: 3,
        ..Thresholds::default()
    };
    let f = fixture(db, t).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let g = Gateway::new(&f.core, &GatewayConfig::default());
    let guesses = [
        "10000000000000000001",
        "10000000000000000002",
        "10000000000000000003",
    ];
    for (i, guess) in guesses.iter().enumerate() {
        let r = g.handle(&sms("13833330000", guess)).await.unwrap();
        assert_eq!(r.outcome, Outcome::Verified, "guess {i}: {}", r.text);
        assert_eq!(
            r.text,
            "未查到此码，请核对后重新发送。如仍查不到，商品可能是假冒。"
        );
    }
    // The core has opened an enumeration case for this number: from now on it is held back,
    // with the same neutral answer a rate limit gives, and the core is not asked.
    let key = g.contacts().key(Channel::Sms, "+8613833330000");
    let before = events_of(&f.core, &key).await;
    let genuine = m["genuine"][0].as_str().unwrap();
    let r = g.handle(&sms("13833330000", genuine)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Enumerating);
    assert_eq!(r.text, "查询过于频繁，请稍后再试。");
    assert_eq!(events_of(&f.core, &key).await, before);
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE reason = 'enumeration'")
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(cases, 1);
    // Somebody else asking about the same code is answered.
    let r = g.handle(&sms("13844440000", genuine)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Verified);
}

/// An SMS transport that answers what it is told to and remembers what it was given.
struct FakeTransport {
    answer: std::sync::Mutex<SendOutcome>,
    given: std::sync::Mutex<Vec<(i64, String, String)>>,
}

impl SmsSender for &'static FakeTransport {
    fn transport(&self) -> &'static str {
        "smpp"
    }
    async fn send(&self, mt_id: i64, to: &str, text: &str) -> SendOutcome {
        self.given
            .lock()
            .unwrap()
            .push((mt_id, to.to_owned(), text.to_owned()));
        self.answer.lock().unwrap().clone()
    }
}

async fn states(core: &zhenwei_core::Core) -> Vec<(String, String)> {
    sqlx::query_as("SELECT source_key, state FROM recall_notifications ORDER BY id")
        .fetch_all(core.store.pool())
        .await
        .unwrap()
}

async fn recall_notices_follow_opt_outs_and_a_crashed_claim_settles_once(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let g = Gateway::new(&f.core, &GatewayConfig::default());
    let (a, b, c) = ("13800000001", "13800000002", "13800000003");
    for (i, n) in [a, b, c].iter().enumerate() {
        let code = m["genuine"][i].as_str().unwrap();
        assert_eq!(
            g.handle(&sms(n, code)).await.unwrap().outcome,
            Outcome::Verified
        );
    }
    g.handle(&sms(b, "TD")).await.unwrap();
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
        &f.core.store,
        zhenwei_core::feeds::FeedKind::Recall,
        &recall,
        &opts,
    )
    .await
    .unwrap();
    let key = |n: &str| g.contacts().key(Channel::Sms, &format!("+86{n}"));

    // The transport gives no answer in time: the notice stays claimed.
    let transport: &'static FakeTransport = Box::leak(Box::new(FakeTransport {
        answer: std::sync::Mutex::new(SendOutcome::Unknown("no answer".into())),
        given: std::sync::Mutex::new(Vec::new()),
    }));
    let notices = RecallNotices::new(&f.core, transport);
    let r = outbox::deliver(&f.core.store, &notices, 100).await.unwrap();
    assert_eq!((r.unsettled, r.opted_out), (2, 1), "{r:?}");
    let given = transport.given.lock().unwrap().clone();
    assert_eq!(given.len(), 2);
    assert_eq!(
        given[0].2,
        "【召回】婴幼儿配方奶粉（批号NB2026A）已被召回。请立即停止食用，凭购物凭证到购买处退货。"
    );
    // The SMSC had in fact accepted a's message (its submit_sm_resp reached the outbound log),
    // c's never got out.
    let (mt_a, to_a, _) = given
        .iter()
        .find(|g| g.1 == format!("+86{a}"))
        .unwrap()
        .clone();
    assert_eq!(to_a, "+8613800000001");
    let recipient = sms_mt::Recipient {
        source_key: Some(key(a)),
        masked: "861******0001".into(),
    };
    sms_mt::submitted(&f.core.store, Some(mt_a), &recipient, "smpp", "M-a")
        .await
        .unwrap();
    let stuck = outbox::stuck(&f.core.store, 0, zhenwei_core::store::now_ms() + 1)
        .await
        .unwrap();
    assert_eq!(stuck.len(), 2);
    // After the lease: a's is settled as sent (never sent again), c's goes back to pending.
    let back = outbox::reclaim(&f.core.store, 0, zhenwei_core::store::now_ms() + 1)
        .await
        .unwrap();
    assert_eq!(
        back,
        outbox::Reclaimed {
            settled_sent: 1,
            requeued: 1
        }
    );
    let mut st = states(&f.core).await;
    st.sort();
    let mut want = vec![
        (key(a), "sent".to_owned()),
        (key(b), "opted_out".to_owned()),
        (key(c), "pending".to_owned()),
    ];
    want.sort();
    assert_eq!(st, want);
    // A hand retry of a's is refused: the SMSC took it.
    let id_a: i64 = sqlx::query_scalar("SELECT id FROM recall_notifications WHERE source_key = $1")
        .bind(key(a))
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(
        outbox::retry(&f.core.store, id_a).await.unwrap(),
        Err(outbox::RetryRefused::State("sent".into()))
    );
    // The next round sends c's once, now accepted.
    *transport.answer.lock().unwrap() = SendOutcome::Accepted {
        message_ids: vec!["M-c".into()],
        recorded: false,
    };
    let r = outbox::deliver(&f.core.store, &notices, 100).await.unwrap();
    assert_eq!(r.sent, 1, "{r:?}");
    let r = outbox::deliver(&f.core.store, &notices, 100).await.unwrap();
    assert_eq!(r, outbox::DeliveryReport::default());
    assert_eq!(transport.given.lock().unwrap().len(), 3);
    // The receipt for c's message settles it in the outbound log.
    let mt = sms_mt::receipt(&f.core.store, "M-c", "DELIVRD", Some("000"), None)
        .await
        .unwrap();
    assert!(mt.is_some());
    let rows = sms_mt::receipts(&f.core.store, 10).await.unwrap();
    let c_row = rows.iter().find(|r| r.message_id == "M-c").unwrap();
    assert_eq!(
        (
            c_row.purpose.as_deref(),
            c_row.stat.as_deref(),
            c_row.to.as_deref()
        ),
        (Some("recall"), Some("DELIVRD"), Some("861******0003"))
    );
}

/// SPEC "Routing": an SMS report is handled where the texter is — the place derived from the
/// number's segment (demo table: 1390574 → 宁波 330200); a number the table does not know gives
/// no place, and the case goes to the enterprise's location as before.
async fn the_number_derived_place_routes_cases(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let g = Gateway::new(&f.core, &GatewayConfig::default());
    let code = m["genuine"][5].as_str().unwrap();
    let r = g.handle(&sms("+86 139 0574 0000", code)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Verified, "{}", r.text);
    let r = g
        .handle(&sms("13905740000", &format!("举报 {code} 甬江路小店")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Reported, "{}", r.text);
    let places: Vec<Option<String>> =
        sqlx::query_scalar("SELECT place FROM query_events WHERE channel = 'sms' ORDER BY id")
            .fetch_all(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(places, [Some("330200".into()), Some("330200".into())]);
    let (case_id, case_place): (i64, Option<String>) =
        sqlx::query_as("SELECT id, place FROM cases WHERE reason = 'consumer_report'")
            .fetch_one(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(case_place.as_deref(), Some("330200"));
    // An SMS report is a standalone report: the text is a query of its own (the code's second,
    // after the verify by text), and that query is the case's evidence.
    let events: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM query_events WHERE channel = 'sms' ORDER BY id")
            .fetch_all(f.core.store.pool())
            .await
            .unwrap();
    let evidence: Vec<i64> =
        sqlx::query_scalar("SELECT event_id FROM case_events WHERE case_id = $1")
            .bind(case_id)
            .fetch_all(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(evidence, events[1..]);
    let (_, history) = f.core.verifier.history(code).await.unwrap().unwrap();
    assert_eq!(
        history.iter().map(|e| e.query_number).collect::<Vec<_>>(),
        [1, 2]
    );

    // Unknown segment: no place; the report goes to the brand's location.
    let other = m["genuine"][6].as_str().unwrap();
    g.handle(&sms("13712345678", &format!("举报 {other}")))
        .await
        .unwrap();
    let places: Vec<Option<String>> =
        sqlx::query_scalar("SELECT place FROM cases WHERE reason = 'consumer_report' ORDER BY id")
            .fetch_all(f.core.store.pool())
            .await
            .unwrap();
    assert_eq!(places.len(), 2);
    assert_ne!(places[1].as_deref(), Some("330200"));
}

/// A verify's contact is written by the recorder, in the batch transaction of its event: many
/// concurrent texts — some from one number, so one batch holds the same contact twice — leave
/// exactly one contact per number and one event per text.
async fn contacts_commit_with_their_queries_in_one_batch(db: Db) {
    let f = fixture(db, Thresholds::default()).await;
    demo::seed_if_empty(&f.core.registry).await.unwrap();
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    let code = m["genuine"][0].as_str().unwrap().to_owned();
    let g = std::sync::Arc::new(Gateway::new(
        &f.core,
        &GatewayConfig {
            burst: 100,
            ..GatewayConfig::default()
        },
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (g, code) = (g.clone(), code.clone());
        // Texts 0..20 from twenty numbers, 20..40 all from one.
        let from = if i < 20 {
            format!("1391234{i:04}")
        } else {
            "13955550000".to_owned()
        };
        tasks.spawn(async move { g.handle(&sms(&from, &code)).await.unwrap().outcome });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), Outcome::Verified);
    }
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
        .fetch_one(f.core.store.pool())
        .await
        .unwrap();
    assert_eq!(contacts, 21);
    let key = g.contacts().key(Channel::Sms, "+8613955550000");
    assert_eq!(events_of(&f.core, &key).await, 20);
    assert_eq!(
        g.contacts().number(&key).await.unwrap().as_deref(),
        Some("+8613955550000")
    );
    let joined: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT e.source_key) FROM query_events e \
         JOIN contacts c ON c.source_key = e.source_key WHERE e.channel = 'sms'",
    )
    .fetch_one(f.core.store.pool())
    .await
    .unwrap();
    assert_eq!(joined, 21);
}

on_both_backends!(
    contacts_commit_with_their_queries_in_one_batch,
    recall_notices_follow_opt_outs_and_a_crashed_claim_settles_once,
    the_number_derived_place_routes_cases,
    contacts_are_encrypted_and_opt_out_sticks,
    rate_limit_holds_a_number_back,
    an_enumerating_number_is_held_back,
);
