//! Cases in storage, on SQLite and PostgreSQL: routing when a case opens, the outbox written in
//! the same transaction, the lifecycle with its audit entries, escalation, and — the point of
//! the outbox — two worker pools on separate connection pools (as two server processes would
//! be) delivering every row exactly once, never the same row concurrently, including rows a
//! "crashed" worker claimed and never finished. Reports are built when they are sent: evidence
//! that arrives while a case is open, while its report is in flight, or while an update waits,
//! reaches the receivers, in one coalesced update at most per receiver.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sqlx::Row;

use support::{fixture, Db};
use zhenwei_core::cases::casework::{self, Filter};
use zhenwei_core::cases::outbox::{self, Next, RetryPolicy, Target};
use zhenwei_core::cases::status::{Change, Outcome};
use zhenwei_core::cases::{offices, CaseError, CaseRules};
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::store::now_ms;
use zhenwei_core::{audit, demo, recorder, Channel, Core, Lang, Query, Store, Thresholds};

on_both_backends!(
    a_case_is_routed_and_its_reports_queued_with_it,
    cases_opened_by_one_batch_are_each_routed_reported_and_audited,
    a_claim_reads_only_the_rows_it_takes_however_large_the_backlog,
    lifecycle_changes_are_validated_audited_and_reported,
    two_worker_pools_deliver_every_row_exactly_once,
    evidence_added_while_open_is_in_the_delivered_report,
    evidence_in_flight_is_sent_as_an_update_after_delivery,
    many_batches_on_a_delivered_case_make_one_update_holding_all,
    a_retry_carries_the_same_key_and_the_evidence_as_of_the_retry,
    a_row_queued_with_its_report_before_0021_is_sent_as_stored,
);

async fn demo_core(db: Db) -> (support::Fixture, BTreeMap<String, Vec<String>>) {
    let f = fixture(db, Thresholds::default()).await;
    assert!(demo::seed_if_empty(&f.core.registry).await.unwrap());
    let m = demo::manifest(&f.core.store).await.unwrap().unwrap();
    (f, serde_json::from_value(m).unwrap())
}

async fn suspect(core: &Core, code: &str, place: &str) -> i64 {
    let v = core
        .verifier
        .verify(&Query {
            input: code.into(),
            channel: Channel::Web,
            source: "203.0.113.9".into(),
            place: Some(DivisionCode::parse(place).unwrap()),
            store_id: None,
            lang: Lang::Zh,
        })
        .await
        .unwrap();
    v.case_id.expect("a case")
}

async fn offices_and_endpoint(core: &Core, credit: &str) -> HashMap<String, i64> {
    let mut ids = HashMap::new();
    for (prefix, name) in [("national", "国家"), ("33", "浙江"), ("3302", "宁波")] {
        let o = offices::set_regulator(
            &core.store,
            "t",
            prefix,
            name,
            &format!("https://r.test/{name}"),
        )
        .await
        .unwrap();
        ids.insert(o.prefix, o.id);
    }
    offices::set_enterprise_endpoint(&core.store, "t", credit, Some("https://brand.test/cases"))
        .await
        .unwrap();
    ids
}

async fn credit_of(core: &Core, code: &str) -> String {
    let r = core.verifier.resolve(code).await.unwrap();
    r.enterprise.unwrap().credit_code
}

/// The demo, the offices and the enterprise's endpoint, and one case opened in Ningbo (330203)
/// by a not-activated code: where the outbox tests start.
async fn one_case(db: Db) -> (support::Fixture, String, i64) {
    let (f, m) = demo_core(db).await;
    let code = m["not_activated"][0].clone();
    offices_and_endpoint(&f.core, &credit_of(&f.core, &code).await).await;
    let case = suspect(&f.core, &code, "330203").await;
    (f, code, case)
}

async fn a_case_is_routed_and_its_reports_queued_with_it(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let ids = offices_and_endpoint(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    let rows = outbox::list(&core.store, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        outbox::outstanding(&core.store).await.unwrap(),
        outbox::Outstanding {
            pending: 2,
            sending: 0,
            dead: 0
        }
    );
    let reg = rows.iter().find(|r| r.target_kind == "regulator").unwrap();
    assert_eq!(reg.target_id, ids["3302"]);
    assert_eq!(reg.url, "https://r.test/宁波");
    assert_eq!(reg.case_id, case);
    assert_eq!(reg.state, "pending");
    assert_eq!(
        reg.idempotency_key,
        outbox::idempotency_key(case, 1, Target::Regulator(ids["3302"]))
    );
    assert!(rows
        .iter()
        .any(|r| r.target_kind == "enterprise" && r.url == "https://brand.test/cases"));
    // A second suspect query of the same code adds evidence, not deliveries.
    suspect(core, code, "330203").await;
    assert_eq!(outbox::list(&core.store, None, 10).await.unwrap().len(), 2);
    // A place no office matches more closely goes national; a Zhejiang county without its
    // own office goes to the province.
    let c2 = suspect(core, &m["not_activated"][1], "440305").await;
    let c3 = suspect(core, &m["not_activated"][2], "330106").await;
    let summary = |id| {
        let store = core.store.clone();
        async move { casework::get(&store, id, None).await.unwrap() }
    };
    assert_eq!(summary(c2).await.regulator_prefix.as_deref(), Some(""));
    assert_eq!(summary(c3).await.regulator_prefix.as_deref(), Some("33"));
    // The row holds what to send, not the report: that is built when it is sent, and is the
    // schema's document.
    let payload: Option<String> =
        sqlx::query_scalar("SELECT payload FROM deliveries WHERE id = $1")
            .bind(reg.id)
            .fetch_one(core.store.pool())
            .await
            .unwrap();
    assert_eq!(payload, None);
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    let d = claimed.iter().find(|d| d.id == reg.id).unwrap();
    let p: serde_json::Value =
        serde_json::from_str(&support::build_report(&core.store, d).await.body).unwrap();
    assert_eq!(p["schema"], "zhenwei.case-report/1");
    assert_eq!(p["event"], "case.opened");
    assert_eq!(p["recipient"], "regulator");
    assert_eq!(p["case"]["office"]["prefix"], "3302");
    assert_eq!(p["case"]["status"], "open");
    assert_eq!(p["case"]["version"], 1);
    assert_eq!(p["evidence"][0]["source"], "203.0.*.*");
    // Both queries of the code so far: the second came after the report was queued.
    assert_eq!(p["case"]["event_count"], 2);
    assert_eq!(p["evidence"].as_array().unwrap().len(), 2);
    // Jurisdiction: a county sees its cases only, a province all of its counties.
    let within = |p: &str| Filter {
        within: Some(p.into()),
        ..Filter::default()
    };
    let ids_in =
        |list: Vec<casework::CaseSummary>| list.iter().map(|c| c.id).collect::<HashSet<_>>();
    let county = ids_in(
        casework::list(&core.store, &within("330203"))
            .await
            .unwrap(),
    );
    assert_eq!(county, HashSet::from([case]));
    let province = ids_in(casework::list(&core.store, &within("33")).await.unwrap());
    assert_eq!(province, HashSet::from([case, c3]));
    assert!(matches!(
        casework::get(&core.store, c3, Some("330203")).await,
        Err(CaseError::NotFound(_))
    ));
}

/// One recorder batch that opens several cases at once (the recorder routes them, queues their
/// reports and appends their audit entries with a few statements for all of them): each case
/// still gets its own office, its own two deliveries and its own audit entry, in order, on an
/// unbroken chain.
async fn cases_opened_by_one_batch_are_each_routed_reported_and_audited(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let codes = &m["not_activated"][..3];
    let ids = offices_and_endpoint(core, &credit_of(core, &codes[0]).await).await;
    let audit_before = audit::entries(&core.store, 0, 100_000).await.unwrap().len();
    let places = ["330203", "440305", "330106"];
    let queries: Vec<Query> = codes
        .iter()
        .zip(places)
        .map(|(code, place)| Query {
            input: code.clone(),
            channel: Channel::Web,
            source: "203.0.113.9".into(),
            place: Some(DivisionCode::parse(place).unwrap()),
            store_id: None,
            lang: Lang::Zh,
        })
        .collect();
    let mut resolutions = Vec::new();
    for q in &queries {
        resolutions.push(core.verifier.resolve(&q.input).await.unwrap());
    }
    let jobs: Vec<_> = queries.iter().zip(&resolutions).collect();
    let ctx = recorder::RecordContext {
        keys: core.keys.clone(),
        thresholds: Arc::new(Thresholds::default()),
    };
    let mut tx = core.store.pool().begin().await.unwrap();
    let verdicts = recorder::record_batch(&mut tx, core.store.backend(), &ctx, &jobs)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let cases: Vec<i64> = verdicts.iter().map(|v| v.case_id.unwrap()).collect();
    assert_eq!(cases.iter().collect::<HashSet<_>>().len(), 3, "{cases:?}");
    let rows = outbox::list(&core.store, None, 100).await.unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    for (case, office) in cases.iter().zip([ids["3302"], ids[""], ids["33"]]) {
        let mine: Vec<_> = rows.iter().filter(|r| r.case_id == *case).collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        let reg = mine.iter().find(|r| r.target_kind == "regulator").unwrap();
        assert_eq!(reg.target_id, office);
        assert_eq!(
            reg.idempotency_key,
            outbox::idempotency_key(*case, 1, Target::Regulator(office))
        );
        assert!(mine
            .iter()
            .any(|r| r.target_kind == "enterprise" && r.url == "https://brand.test/cases"));
        let shown = casework::get(&core.store, *case, None).await.unwrap();
        assert_eq!(shown.status, "open");
    }
    let prefixes: Vec<Option<String>> = {
        let mut out = Vec::new();
        for case in &cases {
            out.push(
                casework::get(&core.store, *case, None)
                    .await
                    .unwrap()
                    .regulator_prefix,
            );
        }
        out
    };
    assert_eq!(
        prefixes,
        [Some("3302".into()), Some(String::new()), Some("33".into())]
    );
    // One entry per case, in the batch's order, consecutive, on a chain that still verifies.
    let log = audit::entries(&core.store, 0, 100_000).await.unwrap();
    let opened: Vec<_> = log[audit_before..]
        .iter()
        .filter(|e| e.action == "case.open")
        .collect();
    let subjects: Vec<String> = opened.iter().map(|e| e.subject.clone()).collect();
    let expected: Vec<String> = cases.iter().map(|c| format!("case:{c}")).collect();
    assert_eq!(subjects, expected);
    assert!(opened.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(opened.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert_eq!(
        audit::verify_chain(&core.store).await.unwrap().broken_at,
        None
    );
}

/// While an office is unreachable its deliveries pile up, all due. The claim must not read and
/// sort the whole backlog at every round (it did: 10.9 ms per claim at 12,416 due rows on
/// PostgreSQL): its plan walks the partial index `deliveries_owed` in claim order (migration
/// 0024) and stops at the limit. Checked on each backend's own plan of the real statement.
async fn a_claim_reads_only_the_rows_it_takes_however_large_the_backlog(db: Db) {
    let (f, _, case) = one_case(db).await;
    let core = &f.core;
    let now = now_ms();
    let backlog = 3_000;
    for chunk in (0..backlog).collect::<Vec<i64>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|k| {
                format!(
                    "({case}, 'regulator', 1, 'https://r.test/x', 'case.updated', 'k{k}', 1, {}, \
                     'pending', {now})",
                    now - 1_000 - k
                )
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO deliveries (case_id, target_kind, target_id, url, event, \
             idempotency_key, attempts, next_attempt_at, state, created_at) VALUES {}",
            rows.join(",")
        ))
        .execute(core.store.pool())
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE")
        .execute(core.store.pool())
        .await
        .unwrap();
    // The plan's text is the last column of each row on both backends.
    let explain = match core.store.backend() {
        zhenwei_core::store::Backend::Sqlite => "EXPLAIN QUERY PLAN",
        zhenwei_core::store::Backend::Postgres => "EXPLAIN",
    };
    let sql = format!("{explain} {}", outbox::claim_sql(core.store.backend()));
    let text = sqlx::query(&sql)
        .bind("t")
        .bind(now + 60_000)
        .bind(now)
        .bind(10_i64)
        .fetch_all(core.store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(r.len() - 1))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("deliveries_owed"), "{text}");
    assert!(
        !text.contains("TEMP B-TREE") && !text.contains("Sort"),
        "{text}"
    );
    // And the claim takes the oldest due first.
    let claimed = outbox::claim(&core.store, 3, now, &RetryPolicy::default())
        .await
        .unwrap();
    let mut keys: Vec<&str> = claimed.iter().map(|d| d.idempotency_key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["k2997", "k2998", "k2999"]);
}

async fn lifecycle_changes_are_validated_audited_and_reported(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let ids = offices_and_endpoint(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    let rules = CaseRules::default();
    let policy = RetryPolicy::default();
    // Deliver both reports: the regulator's moves the case to `delivered`.
    let claimed = outbox::claim(&core.store, 10, now_ms(), &policy)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        outbox::claim(&core.store, 10, now_ms(), &policy)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    for d in &claimed {
        assert!(support::send_and_mark(&core.store, d).await.is_some());
        // Finishing twice changes nothing.
        assert!(support::send_and_mark(&core.store, d).await.is_none());
    }
    let c = casework::get(&core.store, case, None).await.unwrap();
    assert_eq!(c.status, "delivered");
    assert!(c.due_at.unwrap() > c.delivered_at.unwrap() + 7 * 86_400_000);

    // Escalation: not yet; then to the province, recorded and reported.
    let rule = rules.rule();
    let early = casework::escalate_due(&core.store, now_ms(), &rule)
        .await
        .unwrap();
    assert!(early.escalated.is_empty());
    let late = now_ms() + 15 * 86_400_000;
    let run = casework::escalate_due(&core.store, late, &rule)
        .await
        .unwrap();
    assert_eq!(
        run.escalated,
        vec![(case, "3302".to_owned(), "33".to_owned())]
    );
    let again = casework::escalate_due(&core.store, late, &rule)
        .await
        .unwrap();
    assert!(again.escalated.is_empty(), "escalated once");
    let c = casework::get(&core.store, case, None).await.unwrap();
    assert_eq!(
        (c.status.as_str(), c.regulator_prefix.as_deref()),
        ("open", Some("33"))
    );
    let pending = outbox::list(&core.store, Some("pending"), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].event.as_str(), pending[0].target_id),
        ("case.escalated", ids["33"])
    );

    // The regulator's changes: validated, audited, reported to the enterprise.
    let now = now_ms();
    let e = casework::change(
        &core.store,
        "reg",
        case,
        Change::Close(Outcome::Genuine),
        None,
        None,
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CaseError::Transition(_)), "{e}");
    // Outside the office's jurisdiction: as if it did not exist.
    let e = casework::change(
        &core.store,
        "reg",
        case,
        Change::Acknowledge,
        Some("31"),
        None,
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CaseError::NotFound(_)), "{e}");
    for what in [
        Change::Acknowledge,
        Change::Investigate,
        Change::Close(Outcome::ReferredToPolice),
    ] {
        casework::change(
            &core.store,
            "reg",
            case,
            what,
            Some("33"),
            Some("note"),
            now,
        )
        .await
        .unwrap();
    }
    let c = casework::get(&core.store, case, None).await.unwrap();
    assert_eq!(
        (c.status.as_str(), c.outcome.as_deref()),
        ("closed", Some("referred_to_police"))
    );
    let events: Vec<String> = outbox::list(&core.store, Some("pending"), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.target_kind == "enterprise")
        .map(|d| d.event)
        .collect();
    assert_eq!(
        events,
        ["case.closed", "case.investigating", "case.acknowledged"]
    );
    // Sent only now, after the case was closed, each report still says what its change left:
    // the version its key names, its status, and an outcome only once closed.
    let claimed = outbox::claim(&core.store, 10, now_ms(), &policy)
        .await
        .unwrap();
    for d in claimed.iter().filter(|d| d.target_kind == "enterprise") {
        let r: serde_json::Value =
            serde_json::from_str(&support::build_report(&core.store, d).await.body).unwrap();
        let version = r["case"]["version"].as_i64().unwrap();
        assert_eq!(
            d.idempotency_key,
            outbox::idempotency_key(case, version, Target::Enterprise(d.target_id))
        );
        let (status, outcome) = match d.event.as_str() {
            "case.acknowledged" => ("acknowledged", serde_json::Value::Null),
            "case.investigating" => ("investigating", serde_json::Value::Null),
            "case.closed" => ("closed", serde_json::json!("referred_to_police")),
            other => panic!("unexpected {other}"),
        };
        assert_eq!(r["event"], d.event.as_str());
        assert_eq!(
            (r["case"]["status"].as_str().unwrap(), &r["case"]["outcome"]),
            (status, &outcome)
        );
    }
    let log = audit::entries(&core.store, 0, 100_000).await.unwrap();
    for action in [
        "case.open",
        "case.delivered",
        "case.escalate",
        "case.acknowledged",
        "case.investigating",
        "case.closed",
    ] {
        assert!(log.iter().any(|e| e.action == action), "no {action}");
    }
    assert_eq!(
        audit::verify_chain(&core.store).await.unwrap().broken_at,
        None
    );
}

/// Sends as a receiver would see them: which rows are in flight, and how often each arrived.
#[derive(Default)]
struct Counting {
    in_flight: HashSet<i64>,
    sent: HashMap<i64, u32>,
    overlaps: u32,
}

async fn pool_worker(store: Store, seen: Arc<Mutex<Counting>>, fail_first: bool) {
    let policy = RetryPolicy {
        lease_ms: 60_000,
        ..RetryPolicy::default()
    };
    loop {
        let claimed = outbox::claim(&store, 3, now_ms(), &policy).await.unwrap();
        if claimed.is_empty() {
            let c = outbox::counts(&store).await.unwrap();
            if c.pending == 0 && c.sending == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        for d in claimed {
            {
                let mut s = seen.lock().unwrap();
                if !s.in_flight.insert(d.id) {
                    s.overlaps += 1;
                }
                *s.sent.entry(d.id).or_default() += 1;
            }
            // "Sending": long enough for another worker to try the same row if it could.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            seen.lock().unwrap().in_flight.remove(&d.id);
            // Every third row fails its first attempt and is retried at once.
            if fail_first && d.attempts == 1 && d.id % 3 == 0 {
                outbox::mark_failed(&store, &d, "HTTP 503", Next::RetryAt(now_ms()))
                    .await
                    .unwrap();
            } else {
                assert!(support::send_and_mark(&store, &d).await.is_some());
            }
        }
    }
}

async fn two_worker_pools_deliver_every_row_exactly_once(db: Db) {
    let (f, _, case) = one_case(db).await;
    let core = &f.core;
    // 300 more deliveries of the case (distinct versions, so distinct idempotency keys).
    let mut tx = core.store.pool().begin().await.unwrap();
    for v in 2..302 {
        outbox::enqueue(
            &mut tx,
            case,
            v,
            "open",
            Target::Regulator(1),
            "https://r.test/x",
            "case.opened",
            now_ms(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // A worker that claims five rows with a short lease and dies without finishing them.
    let short = RetryPolicy {
        lease_ms: 300,
        ..RetryPolicy::default()
    };
    let orphaned = outbox::claim(&core.store, 5, now_ms(), &short)
        .await
        .unwrap();
    assert_eq!(orphaned.len(), 5);

    // Two pools, as two processes: separate connection pools to the same database.
    let url = f.location.database_url();
    let seen = Arc::new(Mutex::new(Counting::default()));
    let mut tasks = Vec::new();
    for pool in 0..2 {
        let store = Store::connect(&url).await.unwrap();
        for _ in 0..4 {
            tasks.push(tokio::spawn(pool_worker(
                store.clone(),
                seen.clone(),
                pool == 0,
            )));
        }
    }
    for t in tasks {
        tokio::time::timeout(std::time::Duration::from_secs(120), t)
            .await
            .expect("the pools finish")
            .unwrap();
    }
    let c = outbox::counts(&core.store).await.unwrap();
    assert_eq!((c.pending, c.sending, c.delivered, c.dead), (0, 0, 302, 0));
    assert_eq!(
        outbox::outstanding(&core.store).await.unwrap(),
        outbox::Outstanding::default()
    );
    let s = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(s.overlaps, 0, "a row was sent by two workers at once");
    assert_eq!(s.sent.len(), 302, "every row was sent");
    // Sent once, or twice when its first attempt failed (by design), never more.
    for (id, n) in &s.sent {
        assert!(
            *n == 1 || (*n == 2 && id % 3 == 0),
            "row {id} sent {n} times"
        );
    }
    // The orphaned claims were taken over after their lease, and the dead worker's token no
    // longer finishes anything.
    for d in &orphaned {
        assert!(s.sent.contains_key(&d.id));
        assert!(!outbox::mark_failed(&core.store, d, "late", Next::Dead)
            .await
            .unwrap());
    }
}

/// The ids of the evidence events in a report, in order.
fn evidence_ids(report: &serde_json::Value) -> Vec<i64> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect()
}

/// The ids of the query events linked to `case`, oldest first.
async fn case_event_ids(core: &Core, case: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT event_id FROM case_events WHERE case_id = $1 ORDER BY event_id")
        .bind(case)
        .fetch_all(core.store.pool())
        .await
        .unwrap()
}

/// The idempotency keys of the pending deliveries of `case`, sorted.
async fn pending_keys(core: &Core, case: i64) -> Vec<String> {
    let mut keys: Vec<String> = outbox::list(&core.store, Some("pending"), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.case_id == case)
        .map(|d| d.idempotency_key)
        .collect();
    keys.sort();
    keys
}

async fn evidence_added_while_open_is_in_the_delivered_report(db: Db) {
    let (f, code, case) = one_case(db).await;
    let core = &f.core;
    let code = &code;
    // Two more queries while the case waits for its first delivery: no rows are added...
    for _ in 0..2 {
        suspect(core, code, "330203").await;
    }
    assert_eq!(outbox::list(&core.store, None, 10).await.unwrap().len(), 2);
    let all = case_event_ids(core, case).await;
    assert_eq!(all.len(), 3);
    // ...and both reports, built when sent, carry all three events.
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for d in &claimed {
        let r = support::send_and_mark(&core.store, d).await.unwrap();
        assert_eq!(r["event"], "case.opened");
        assert_eq!(r["case"]["event_count"], 3);
        assert_eq!(evidence_ids(&r), all);
    }
    // Nothing is owed: every receiver has all the evidence.
    let c = outbox::counts(&core.store).await.unwrap();
    assert_eq!((c.pending, c.sending, c.delivered, c.dead), (0, 0, 2, 0));
    assert_eq!(
        casework::get(&core.store, case, None).await.unwrap().status,
        "delivered"
    );
}

async fn evidence_in_flight_is_sent_as_an_update_after_delivery(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let ids = offices_and_endpoint(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    let mut built = Vec::new();
    for d in &claimed {
        built.push(support::build_report(&core.store, d).await);
    }
    assert!(built.iter().all(|b| b.event_count == Some(1)));
    // A query arrives while both reports are on the wire; the case is still open.
    suspect(core, code, "330203").await;
    assert_eq!(outbox::list(&core.store, None, 10).await.unwrap().len(), 2);
    let rule = CaseRules::default().rule();
    for (d, b) in claimed.iter().zip(&built) {
        assert!(casework::delivered(&core.store, d, b, now_ms(), &rule)
            .await
            .unwrap());
    }
    // Delivered with one event of two: each receiver is owed an update, one each.
    let c = credit_of(core, code).await;
    let e = enterprise_id(core, &c).await;
    assert_eq!(
        pending_keys(core, case).await,
        [
            outbox::update_key(case, 1, Target::Enterprise(e)),
            outbox::update_key(case, 1, Target::Regulator(ids["3302"])),
        ]
    );
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for d in &claimed {
        let r = support::send_and_mark(&core.store, d).await.unwrap();
        assert_eq!(r["event"], casework::UPDATED);
        assert_eq!(r["case"]["status"], "delivered");
        assert_eq!(r["case"]["event_count"], 2);
        assert_eq!(evidence_ids(&r), case_event_ids(core, case).await);
    }
    assert!(pending_keys(core, case).await.is_empty());
}

async fn enterprise_id(core: &Core, credit: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM enterprises WHERE credit_code = $1")
        .bind(credit)
        .fetch_one(core.store.pool())
        .await
        .unwrap()
}

async fn many_batches_on_a_delivered_case_make_one_update_holding_all(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let ids = offices_and_endpoint(core, &credit_of(core, code).await).await;
    let e = enterprise_id(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    for d in outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap()
    {
        support::send_and_mark(&core.store, &d).await.unwrap();
    }
    // Ten more queries, one recorder batch each (each awaited before the next).
    for _ in 0..10 {
        suspect(core, code, "330203").await;
    }
    let all = case_event_ids(core, case).await;
    assert_eq!(all.len(), 11);
    // One pending update per receiver, holding nothing but what to send.
    assert_eq!(
        pending_keys(core, case).await,
        [
            outbox::update_key(case, 1, Target::Enterprise(e)),
            outbox::update_key(case, 1, Target::Regulator(ids["3302"])),
        ]
    );
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT payload FROM deliveries WHERE case_id = $1")
            .bind(case)
            .fetch_all(core.store.pool())
            .await
            .unwrap();
    assert!(stored.iter().all(Option::is_none));
    // Its report, built when sent, holds all eleven events.
    let claimed: Vec<_> = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.case_id == case)
        .collect();
    assert_eq!(claimed.len(), 2);
    for d in &claimed {
        let r = support::send_and_mark(&core.store, d).await.unwrap();
        assert_eq!(r["event"], casework::UPDATED);
        assert_eq!(r["case"]["event_count"], 11);
        assert_eq!(evidence_ids(&r), all);
    }
    assert!(pending_keys(core, case).await.is_empty());
}

async fn a_retry_carries_the_same_key_and_the_evidence_as_of_the_retry(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    offices_and_endpoint(core, &credit_of(core, code).await).await;
    let e = enterprise_id(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    let reg = claimed
        .iter()
        .find(|d| d.target_kind == "regulator")
        .unwrap();
    let ent = claimed
        .iter()
        .find(|d| d.target_kind == "enterprise")
        .unwrap();
    // The regulator's first attempt fails; the enterprise's succeeds.
    let first: serde_json::Value =
        serde_json::from_str(&support::build_report(&core.store, reg).await.body).unwrap();
    assert_eq!(first["case"]["event_count"], 1);
    assert!(
        outbox::mark_failed(&core.store, reg, "HTTP 503", Next::RetryAt(now_ms()))
            .await
            .unwrap()
    );
    support::send_and_mark(&core.store, ent).await.unwrap();
    // Evidence arrives before the retry.
    suspect(core, code, "330203").await;
    let again = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    let retry = &again[0];
    assert_eq!((retry.id, retry.attempts), (reg.id, 2));
    assert_eq!(retry.idempotency_key, reg.idempotency_key);
    let r = support::send_and_mark(&core.store, retry).await.unwrap();
    assert_eq!(r["event"], "case.opened");
    assert_eq!(r["case"]["version"], first["case"]["version"]);
    assert_eq!(r["case"]["event_count"], 2);
    assert_eq!(evidence_ids(&r), case_event_ids(core, case).await);
    // The enterprise's report went out with one event while the case was open: now that the
    // office has it, the enterprise gets the rest as an update; the office needs none.
    assert_eq!(
        pending_keys(core, case).await,
        [outbox::update_key(case, 1, Target::Enterprise(e))]
    );
}

async fn a_row_queued_with_its_report_before_0021_is_sent_as_stored(db: Db) {
    let (f, m) = demo_core(db).await;
    let core = &f.core;
    let code = &m["not_activated"][0];
    let ids = offices_and_endpoint(core, &credit_of(core, code).await).await;
    let case = suspect(core, code, "330203").await;
    // What an older zhenwei queued: the report text in the row, no version or status columns.
    let stored = serde_json::json!({"schema": "zhenwei.case-report/1", "event": "case.opened",
        "case": {"id": case, "version": 7, "event_count": 1}, "evidence": []})
    .to_string();
    sqlx::query(
        "INSERT INTO deliveries (case_id, target_kind, target_id, url, event, payload, \
         idempotency_key, attempts, next_attempt_at, state, created_at) \
         VALUES ($1, 'regulator', $2, 'https://r.test/old', 'case.opened', $3, 'zw-old-1', 0, 0, \
         'pending', 0)",
    )
    .bind(case)
    .bind(ids["33"])
    .bind(&stored)
    .execute(core.store.pool())
    .await
    .unwrap();
    suspect(core, code, "330203").await;
    let claimed = outbox::claim(&core.store, 10, now_ms(), &RetryPolicy::default())
        .await
        .unwrap();
    let old = claimed
        .iter()
        .find(|d| d.idempotency_key == "zw-old-1")
        .unwrap();
    let built = support::build_report(&core.store, old).await;
    assert_eq!(built.body, stored);
    assert_eq!(built.event_count, Some(1));
    // The rows queued now are built now, with both events.
    for d in claimed.iter().filter(|d| d.idempotency_key != "zw-old-1") {
        assert_eq!(d.payload, None);
        assert_eq!(
            support::build_report(&core.store, d).await.event_count,
            Some(2)
        );
    }
}
