//! Regulatory feeds end to end, through the real binary: `zhenwei feed import` of the example
//! files in `docs/feeds/` (good, bad, GB18030, JSON supersessions and withdrawals) with the
//! verdicts that follow on the CLI and over HTTP from a running server, `POST /v1/feeds/{kind}`
//! with regulator tokens (401/403/404/405/422), and the recall SMS outbox filled once per
//! consumer.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use zhenwei_tests::{http, warnings, Server};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("docs/feeds")
        .join(name)
}

fn example_bytes(name: &str) -> Vec<u8> {
    std::fs::read(example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `feed import KIND FILE` on the server's data directory, asserting success; the report.
#[track_caller]
fn import(server: &Server, kind: &str, file: &Path) -> Value {
    let out = server.cli([
        "feed",
        "import",
        kind,
        file.to_str().expect("a UTF-8 path"),
        "--json",
    ]);
    out.ok();
    let report = out.json();
    assert_eq!(report["applied"], true, "{report}");
    report
}

fn has(v: &Value, w: &str) -> bool {
    warnings(v).iter().any(|x| x == w)
}

/// A verdict over HTTP, in English.
fn http_verdict(server: &Server, code: &str) -> Value {
    let r = server.http_verify(&json!({"code": code, "lang": "en"}));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn cli_imports_of_every_kind_change_the_verdicts_at_once() {
    let server = Server::start_demo();
    let demo = server.demo().clone();
    let dir = tempfile::tempdir().unwrap();

    // Bad files: nothing is imported, every bad row is named with its line, one error line.
    let bad: [(&str, &str, &[&str]); 5] = [
        (
            "recall",
            "id,status,gtin,lots\nB-1,active,6901234000115,NB2026A\nB-2,active,6901234000116,NB2026A\nB-3,closed,6901234000115,\n",
            &["line 3: gtin \"6901234000116\"", "line 4: status \"closed\" is not one of active, withdrawn"],
        ),
        (
            "spot-check",
            "id,status,credit_code\nS-1,refused_inspection,91330106MA2K000020\n",
            &["line 2: credit_code \"91330106MA2K000020\""],
        ),
        (
            "ccc",
            "cert_no,status\n2024010701123456,revoked\n2024010701123456,valid\n",
            &["line 3: id \"2024010701123456\" already appears on line 2"],
        ),
        (
            "licence",
            "licence_no,status,valid_until\nL-1,valid,31/12/2025\n",
            &["line 2: valid_until \"31/12/2025\" is not a date"],
        ),
        (
            "blacklist",
            "credit_code,status\n91320505MA1N00004G,\n",
            &["line 2: status is missing"],
        ),
    ];
    for (kind, text, expected) in bad {
        let path = dir.path().join(format!("bad-{kind}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = server.cli(["feed", "import", kind, path.to_str().unwrap()]);
        let err = out.clean_failure();
        assert!(err.contains("nothing was imported"), "{err}");
        for e in expected {
            assert!(
                out.stdout.contains(e),
                "{kind}: {e:?} not in\n{}",
                out.stdout
            );
        }
    }
    let imports = server.cli(["feed", "imports", "--json"]).ok().json();
    assert_eq!(imports, json!([]), "no bad file left a trace");
    assert!(warnings(&server.verify(demo.code("genuine", 0), &[])).is_empty());

    // Recalls: by GTIN and lot, and by registration number; the advice is in the reply.
    let r = import(&server, "recall", &example("recall.csv"));
    assert_eq!(
        (r["added"].as_u64(), r["rows"].as_u64()),
        (Some(2), Some(2))
    );
    let v = server.verify(demo.code("genuine", 1), &[]);
    assert_eq!(warnings(&v), ["recalled"]);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("该批次已被召回：请立即停止食用，凭购物凭证到购买处退货。"),
        "{v}"
    );
    let v = http_verdict(&server, demo.code("genuine", 2));
    assert_eq!(warnings(&v), ["recalled"]);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("This batch has been recalled: Stop feeding it now"),
        "{v}"
    );
    assert_eq!(v["notices"][0]["reference"], "SAMR-2026-0042");
    assert_eq!(
        v["notices"][0]["advice_en"],
        "Stop feeding it now and return it with your receipt where you bought it."
    );
    assert!(has(
        &http_verdict(&server, demo.code("gs1_serial", 0)),
        "recalled"
    ));
    // The same recall from a GB18030 spreadsheet export supersedes it (new title).
    let r = import(&server, "recall", &example("recall-gb18030.csv"));
    assert_eq!(
        (r["encoding"].as_str(), r["updated"].as_u64()),
        (Some("gb18030"), Some(1))
    );
    let listed = server
        .cli(["feed", "list", "--kind", "recall", "--json"])
        .ok()
        .json();
    let samr = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reference"] == "SAMR-2026-0042")
        .expect("listed");
    assert_eq!(samr["title"], "婴幼儿配方奶粉召回（批号NB2026A）");
    // JSON: the formula recall closed, a vitamin recall added.
    let r = import(&server, "recall", &example("recall.json"));
    assert_eq!(
        (r["added"].as_u64(), r["withdrawn"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(warnings(&http_verdict(&server, demo.code("genuine", 3))).is_empty());
    assert_eq!(
        warnings(&server.verify(demo.code("expired", 0), &[])),
        ["recalled", "expired"]
    );
    let all = server.cli(["feed", "list", "--all"]).ok().stdout.clone();
    assert!(
        all.contains("recall SAMR-2026-0042 withdrawn (inactive) [gtin 06901234000115, enterprise 91330203MA2H000018, lots NB2026A]"),
        "{all}"
    );
    assert!(!server
        .cli(["feed", "list"])
        .ok()
        .stdout
        .contains("SAMR-2026-0042"));

    // Spot checks: a failed batch, an enterprise that refused inspection; then withdrawn and
    // a repeat failure.
    import(&server, "spot-check", &example("spot-check.csv"));
    assert_eq!(
        warnings(&server.verify(demo.code("scratch_pin", 0), &[])),
        ["spot_check_failed"]
    );
    let kettle = http_verdict(&server, demo.code("certificate_invalid", 0));
    assert_eq!(
        warnings(&kettle),
        ["spot_check_failed", "certificate_invalid"]
    );
    assert!(
        kettle["message"]
            .as_str()
            .unwrap()
            .contains("The manufacturer refused an official spot check."),
        "{kettle}"
    );
    import(&server, "spot-check", &example("spot-check.json"));
    assert_eq!(
        warnings(&server.verify(demo.code("certificate_invalid", 1), &[])),
        ["certificate_invalid"]
    );
    assert_eq!(
        warnings(&http_verdict(&server, demo.code("genuine", 4))),
        ["spot_check_failed"]
    );

    // CCC: the kettle's certificate reinstated, then suspended with advice.
    import(&server, "ccc", &example("ccc.csv"));
    assert!(warnings(&server.verify(demo.code("certificate_invalid", 2), &[])).is_empty());
    import(&server, "ccc", &example("ccc.json"));
    let v = http_verdict(&server, demo.code("certificate_invalid", 3));
    assert_eq!(warnings(&v), ["certificate_invalid"]);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("do not use it for now"),
        "{v}"
    );

    // Licence: the meter's registration lapsed, then renewed.
    import(&server, "licence", &example("licence.csv"));
    assert!(has(
        &server.verify(demo.code("gs1_serial", 1), &[]),
        "licence_invalid"
    ));
    import(&server, "licence", &example("licence.json"));
    assert!(!has(
        &http_verdict(&server, demo.code("gs1_serial", 2)),
        "licence_invalid"
    ));

    // Blacklist: listed, then taken off.
    import(&server, "blacklist", &example("blacklist.csv"));
    assert!(has(
        &http_verdict(&server, demo.code("prefix_invalid", 0)),
        "enterprise_blacklisted"
    ));
    import(&server, "blacklist", &example("blacklist.json"));
    assert!(!has(
        &server.verify(demo.code("prefix_invalid", 1), &[]),
        "enterprise_blacklisted"
    ));

    // Every import recorded and audited.
    let imports = server.cli(["feed", "imports", "--json"]).ok().json();
    assert_eq!(imports.as_array().unwrap().len(), 11);
    assert_eq!(imports[0]["kind"], "blacklist");
    assert_eq!(imports[0]["file_name"], "blacklist.json");
    assert_eq!(imports[0]["file_sha256"].as_str().unwrap().len(), 64);
    let audit = server.cli(["audit", "verify"]).ok().stdout.clone();
    assert!(audit.starts_with("audit chain intact"), "{audit}");
}

#[test]
fn regulators_post_feeds_over_http_with_their_token() {
    let server = Server::start_demo();
    let demo = server.demo().clone();
    let token = server
        .cli([
            "feed", "token", "add", "zj-amr", "--kind", "recall", "--kind", "ccc",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(token.starts_with("zwf_"), "{token}");
    let bearer = format!("Bearer {token}");
    let post = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        http::request_with(server.addr(), "POST", path, headers, Some(body))
    };
    let csv = example_bytes("recall.csv");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "text/csv"),
    ];

    // Who may post what.
    let r = post("/v1/feeds/recall", &[], &csv);
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"zhenwei feeds\"")
    );
    let r = post(
        "/v1/feeds/recall",
        &[("Authorization", "Bearer zwf_0000")],
        &csv,
    );
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let r = post(
        "/v1/feeds/blacklist",
        &auth,
        &example_bytes("blacklist.csv"),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "feed_kind_not_allowed")
    );
    let r = post("/v1/feeds/recalls", &auth, &csv);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "unknown_feed_kind")
    );
    let r = http::request_with(server.addr(), "GET", "/v1/feeds/recall", &auth, None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method_not_allowed")
    );
    let r = post("/v1/feeds/recall?skip=1", &auth, &csv);
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_query"));
    let r = post("/v1/feeds/recall", &auth, b"\x81\x30\xff not text");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "feed_unreadable")
    );
    assert!(warnings(&http_verdict(&server, demo.code("genuine", 0))).is_empty());

    // A file with a bad row: 422 with the rows, nothing applied; with skip_bad_rows: applied.
    let mut bad = csv.clone();
    bad.extend_from_slice(b"X-1,active,6901234000116,,,,,,,\n");
    let r = post("/v1/feeds/recall", &auth, &bad);
    assert_eq!(r.status, 422, "{}", r.text());
    let report = r.json();
    assert_eq!(report["applied"], false);
    assert_eq!(report["rejected"][0]["line"], 4);
    assert!(warnings(&http_verdict(&server, demo.code("genuine", 1))).is_empty());
    let r = post("/v1/feeds/recall?skip_bad_rows=true", &auth, &bad);
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(
        (
            report["added"].as_u64(),
            report["rejected"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );
    let import_id = report["import_id"].as_i64().expect("an import id");

    // The verdict changed, on both paths, at once.
    assert_eq!(
        warnings(&http_verdict(&server, demo.code("genuine", 2))),
        ["recalled"]
    );
    assert_eq!(
        warnings(&server.verify(demo.code("genuine", 3), &[])),
        ["recalled"]
    );
    let imports = server.cli(["feed", "imports", "--json"]).ok().json();
    assert_eq!(imports[0]["id"].as_i64(), Some(import_id));
    assert_eq!(imports[0]["actor"], "regulator:zj-amr");

    // The GB18030 export, then the JSON withdrawal.
    let r = post(
        "/v1/feeds/recall",
        &auth,
        &example_bytes("recall-gb18030.csv"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["encoding"], "gb18030");
    let r = post(
        "/v1/feeds/recall",
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ],
        &example_bytes("recall.json"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["withdrawn"], 1);
    assert!(warnings(&http_verdict(&server, demo.code("genuine", 4))).is_empty());

    // The token is in no log and no database row; revoked, it stops working.
    assert!(!server.log().contains(&token));
    let db = std::fs::read(server.data_dir().join("zhenwei.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    server.cli(["feed", "token", "revoke", "zj-amr"]).ok();
    let r = post("/v1/feeds/recall", &auth, &csv);
    assert_eq!(r.status, 401);
}

#[test]
fn a_recall_queues_one_sms_per_consumer_who_queried_the_batch() {
    let server = Server::start_demo();
    let demo = server.demo().clone();
    let sms = |code: &str, phone: &str| {
        server.verify(code, &["--channel", "sms", "--source", phone]);
    };
    sms(demo.code("genuine", 10), "13900000001");
    sms(demo.code("genuine", 11), "13900000001");
    sms(demo.code("genuine", 12), "13900000002");
    sms(demo.code("scratch_pin", 3), "13900000003");
    server.verify(demo.code("genuine", 13), &["--kiosk", "kiosk-nb-01"]);

    let r = import(&server, "recall", &example("recall.csv"));
    assert_eq!(r["notifications"], 2);
    let r = import(&server, "recall", &example("recall.csv"));
    assert_eq!(
        (r["unchanged"].as_u64(), r["notifications"].as_u64()),
        (Some(2), Some(0))
    );
    let outbox = server.cli(["feed", "outbox", "--json"]).ok().json();
    let rows = outbox.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{outbox}");
    for row in rows {
        assert_eq!(row["reference"], "SAMR-2026-0042");
        assert_eq!(row["lot"], "NB2026A");
        assert_eq!(row["state"], "pending");
        // Shown as a hash prefix only, never the number.
        assert_eq!(row["source"].as_str().unwrap().chars().count(), 13, "{row}");
    }
    // Withdrawn before anything was sent: nothing pending any more.
    import(&server, "recall", &example("recall.json"));
    let outbox = server.cli(["feed", "outbox", "--json"]).ok().json();
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "cancelled"),
        "{outbox}"
    );
}

#[test]
fn every_kind_over_http_good_and_bad() {
    let server = Server::start_demo();
    let demo = server.demo().clone();
    let token = server
        .cli(["feed", "token", "add", "samr"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "text/csv"),
    ];
    let post = |kind: &str, body: &[u8]| {
        http::request_with(
            server.addr(),
            "POST",
            &format!("/v1/feeds/{kind}"),
            &headers,
            Some(body),
        )
    };
    // (kind, a bad file and its first bad line, the scenario whose verdict the good file changes
    // and the warning it then has)
    let kinds: [(&str, &str, u64, &str, &str); 5] = [
        (
            "recall",
            "id,status,gtin\nR-1,active,123\n",
            2,
            "genuine",
            "recalled",
        ),
        (
            "spot-check",
            "id,status,gtin\nS-1,active,6901234000115\n",
            2,
            "scratch_pin",
            "spot_check_failed",
        ),
        (
            "ccc",
            "cert_no,status\nC-1,valid\nC-2,void\n",
            3,
            "certificate_invalid",
            "",
        ),
        (
            "licence",
            "licence_no,status,valid_until\nL-1,valid,2026-13-01\n",
            2,
            "gs1_serial",
            "licence_invalid",
        ),
        (
            "blacklist",
            "credit_code,status\n91320505MA1N00004H,listed\n",
            2,
            "prefix_invalid",
            "enterprise_blacklisted",
        ),
    ];
    for (i, (kind, bad, line, scenario, warning)) in kinds.into_iter().enumerate() {
        let r = post(kind, bad.as_bytes());
        assert_eq!(r.status, 422, "{kind}: {}", r.text());
        assert_eq!(
            r.json()["rejected"][0]["line"],
            line,
            "{kind}: {}",
            r.text()
        );
        let r = post(kind, &example_bytes(&format!("{kind}.csv")));
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
        assert_eq!(r.json()["kind"], kind);
        let v = http_verdict(&server, demo.code(scenario, 5 + i));
        if warning.is_empty() {
            // The CCC file reinstates the kettle's certificate.
            assert!(!has(&v, "certificate_invalid"), "{kind}: {v}");
        } else {
            assert!(has(&v, warning), "{kind}: {v}");
        }
    }
    let imports = server.cli(["feed", "imports", "--json"]).ok().json();
    assert_eq!(
        imports.as_array().map(Vec::len),
        Some(5),
        "only the good files"
    );
    assert!(imports
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["actor"] == "regulator:samr"));
}

/// POST /v1/feeds/{kind} is limited per token: a runaway client gets 429 with Retry-After in the
/// API's JSON error shape, and another regulator's token is still served.
#[test]
fn feed_posts_are_rate_limited_per_token() {
    let server = Server::start_demo();
    let token = |name: &str| {
        server
            .cli(["feed", "token", "add", name, "--kind", "recall"])
            .ok()
            .stdout
            .trim()
            .to_owned()
    };
    let (busy, calm) = (
        format!("Bearer {}", token("busy")),
        format!("Bearer {}", token("calm")),
    );
    let post = |bearer: &str| {
        http::request_with(
            server.addr(),
            "POST",
            "/v1/feeds/recall?skip=1",
            &[("Authorization", bearer), ("Content-Type", "text/csv")],
            Some(b"id,status\n"),
        )
    };
    // The burst is 20; at 60 a minute, 100 quick posts cannot all be refilled.
    let mut served = 0;
    let limited = loop {
        let r = post(&busy);
        if r.status == 429 {
            break r;
        }
        assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_query"));
        served += 1;
        assert!(served < 100, "no 429 after {served} posts");
    };
    assert!(
        served >= 20,
        "the burst of 20 was served first, got {served}"
    );
    assert_eq!(limited.error_code(), "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let r = post(&calm);
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_query"));
}
