//! Two `zhenwei serve` processes on one PostgreSQL database deliver case reports to a slow
//! reference receiver; one of them is killed with SIGKILL while deliveries are in flight and
//! started again. Every report arrives — verified, exactly once in effect (repeats deduplicated
//! by idempotency key), none sent twice at the same time, none lost.
//!
//! Needs `ZHENWEI_TEST_PG` (`eval "$(.ci/pg-start)"`) and `psql`; skipped with a notice without
//! them, and a failure when `CI=true`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tempfile::TempDir;
use zhenwei_tests::accounts::set_office;
use zhenwei_tests::receiver::Receiver;
use zhenwei_tests::{case_ids, run_in, Server, LIMIT};

fn pg_admin_url() -> Option<String> {
    match std::env::var("ZHENWEI_TEST_PG") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but ZHENWEI_TEST_PG is not set: the PostgreSQL delivery test must run in CI"
            );
            eprintln!("skipping: ZHENWEI_TEST_PG is not set (eval \"$(.ci/pg-start)\")");
            None
        }
    }
}

/// A fresh database on the server of `admin`; its URL.
fn fresh_database(admin: &str) -> String {
    let name = format!(
        "zw_cases_e2e_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = Command::new("psql")
        .args([
            admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql (Debian package postgresql-client) runs");
    assert!(
        out.status.success(),
        "CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{base}/{name}{query}")
}

#[test]
fn two_servers_on_one_postgresql_deliver_every_report_once_across_a_kill_9() {
    let Some(admin) = pg_admin_url() else { return };
    let url = fresh_database(&admin);
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg = tmp.path().join("zhenwei.toml");
    let cli = |args: &[&str]| {
        let mut all = vec![
            "--database-url",
            url.as_str(),
            "--config",
            cfg.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        run_in(&data, all)
    };
    std::fs::write(&cfg, "").unwrap();
    let id = cli(&["delivery", "identity"]).ok().json();
    let pk = base64::engine::general_purpose::STANDARD
        .decode(id["public_key"].as_str().unwrap())
        .unwrap();
    let rx = Receiver::start(tmp.path(), Path::new(id["client_ca"].as_str().unwrap()), pk);
    rx.set_delay(150);
    std::fs::write(
        &cfg,
        format!(
            "[delivery]\nmax_attempts = 100\nbackoff_base_ms = 100\nbackoff_max_ms = 500\n\
             poll_ms = 20\ntimeout_ms = 1000\nlease_ms = 2000\nconcurrency = 4\ntrust = [{:?}]\n",
            rx.ca_file().display().to_string()
        ),
    )
    .unwrap();
    let extra = [
        "--demo",
        "--database-url",
        url.as_str(),
        "--config",
        cfg.to_str().unwrap(),
    ];
    let a = Server::start(&data, &extra);
    let b = Server::start(&data, &extra);
    for (prefix, name) in [("31", "shanghai"), ("national", "national")] {
        set_office(cli, prefix, name, &rx.url(name));
    }
    // First queries (genuine) tell us the enterprises, whose endpoints are set before any case.
    let demo = zhenwei_tests::Demo::from_json(&cli(&["demo-codes"]).ok().json());
    let codes: Vec<String> = (10..40)
        .map(|i| demo.code("genuine", i).to_owned())
        .collect();
    let mut enterprises = BTreeSet::new();
    for code in &codes {
        let v = a
            .http_verify(&json!({"code": code, "place": "330203"}))
            .json();
        assert_eq!(v["authenticity"], "genuine", "{v}");
        enterprises.insert(v["enterprise"]["credit_code"].as_str().unwrap().to_owned());
    }
    for credit in &enterprises {
        cli(&[
            "cases",
            "enterprise-url",
            "--credit-code",
            credit,
            "--url",
            &rx.url("enterprise"),
        ])
        .ok();
    }
    // The same codes in Shanghai, half through each server: clone suspected, 30 cases.
    let mut cases = BTreeSet::new();
    for (i, code) in codes.iter().enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        let v = server
            .http_verify(&json!({"code": code, "place": "310104"}))
            .json();
        assert_eq!(v["authenticity"], "suspect", "{v}");
        cases.extend(case_ids(&v));
    }
    assert_eq!(cases.len(), 30);
    // Kill A while it has deliveries in flight, then start it again.
    let deadline = Instant::now() + LIMIT;
    while rx.accepted().len() < 6 {
        assert!(Instant::now() < deadline, "no deliveries started");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!a.kill().success());
    let a = Server::start(&data, &extra);

    let total = 60; // each case: its office and its enterprise
    let deadline = Instant::now() + LIMIT * 2;
    let rows = loop {
        let rows = cli(&["delivery", "list", "--limit", "1000", "--json"])
            .ok()
            .json();
        let rows = rows.as_array().unwrap().clone();
        if rows.len() == total && rows.iter().all(|r| r["state"] == "delivered") {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "not all delivered: {:?}",
            rows.iter()
                .map(|r| (&r["id"], &r["state"], &r["attempts"]))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let keys: BTreeSet<String> = rows
        .iter()
        .map(|r| r["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    let accepted = rx.accepted();
    let got: BTreeSet<String> = accepted.iter().map(|d| d.idempotency_key.clone()).collect();
    assert_eq!(accepted.len(), total, "each report accepted once");
    assert_eq!(got, keys, "exactly the queued reports arrived");
    assert!(rx.rejected().is_empty(), "{:?}", rx.rejected());
    assert!(
        rx.overlaps().is_empty(),
        "sent twice at the same time: {:?}",
        rx.overlaps()
    );
    let reported: BTreeSet<i64> = accepted
        .iter()
        .filter(|d| d.path == "/shanghai")
        .map(|d| d.body["case"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(reported, cases, "every case reached the Shanghai office");
    eprintln!(
        "{} repeats after the kill were deduplicated by idempotency key",
        rx.duplicates().len()
    );
    let _: Value = cli(&["cases", "list", "--json", "--limit", "1000"])
        .ok()
        .json();
    a.stop();
    b.stop();
}
