//! The enterprise API over real HTTPS with real client certificates (`zhenwei enterprise
//! operator add`): the two-person rule, the authorization matrix — every endpoint against
//! confirmed, unconfirmed, revoked, foreign-enterprise, regulator, kiosk and missing
//! certificates — cross-enterprise reads answered 404, and the statistics asserted exactly
//! against known queries. Also the portal page's own paths (static; no data without the API).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;
use zhenwei_tests::accounts::{
    add_kiosk, add_operator, confirm_operator, issue_regulator, mode, set_office,
};
use zhenwei_tests::http::Response;
use zhenwei_tests::mtls::request as https_to;
use zhenwei_tests::webdriver::{locate, Browser};
use zhenwei_tests::{case_ids, run_in, Server};

/// HTTPS to the server with the identity `(dir, stem)` (`stem.crt`, `stem.key`), or none.
fn https(
    server: &Server,
    ca: &Path,
    identity: Option<(&Path, &str)>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let body = body.map(|b| b.to_string().into_bytes());
    https_to(
        server.https_addr(),
        ca,
        identity,
        method,
        path,
        body.as_deref(),
    )
}

const READS: [&str; 9] = [
    "/v1/enterprise/operators",
    "/v1/enterprise/products",
    "/v1/enterprise/ranges",
    "/v1/enterprise/activations",
    "/v1/enterprise/statistics",
    "/v1/enterprise/statistics.csv",
    "/v1/enterprise/cases",
    "/v1/enterprise/cases.csv",
    "/v1/enterprise/cases/1",
];

#[test]
fn operators_see_only_their_enterprise_after_both_are_confirmed() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::start(&data, &["--demo"]);
    let cli = |args: &[&str]| run_in(&data, args.to_vec());
    let demo = server.demo();
    let credit_of = |code: &str| {
        server.verify(code, &["--channel", "cli"])["enterprise"]["credit_code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Probing with the CLI records "cli" queries; use codes the statistics below do not count.
    let a = credit_of(demo.code("genuine", 100));
    let b = credit_of(demo.code("gs1_serial", 9));
    assert_ne!(a, b);
    let mut dirs = std::collections::BTreeMap::<&str, PathBuf>::new();
    for (credit, name, role) in [
        (&a, "a-pri", "primary"),
        (&a, "a-sec", "secondary"),
        (&a, "a-new", "secondary"),
        (&b, "b-pri", "primary"),
        (&b, "b-sec", "secondary"),
    ] {
        let dir = tmp.path().join(name);
        add_operator(cli, credit, name, role, &dir);
        assert_eq!(mode(&dir.join("operator.key")), 0o600);
        dirs.insert(name, dir);
    }
    let ca = dirs["a-pri"].join("ca.crt");
    let as_ = |name: &str, method: &str, path: &str| {
        https(
            &server,
            &ca,
            Some((&dirs[name], "operator")),
            method,
            path,
            None,
        )
    };
    let refused = |name: &str, path: &str| {
        let r = as_(name, "GET", path);
        (r.status, r.error_code())
    };

    // Nobody confirmed: "me" answers, everything else is 403.
    let me = as_("a-pri", "GET", "/v1/enterprise/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["access"], false);
    assert_eq!(me.json()["refusal"], "operator_not_confirmed");
    assert_eq!(me.json()["operator"]["credit_code"], a.as_str());
    for p in READS {
        assert_eq!(
            refused("a-pri", p),
            (403, "operator_not_confirmed".into()),
            "{p}"
        );
    }
    // The two-person rule over the API: nobody confirms themselves, nobody from another
    // enterprise (404, as if the name did not exist), and only by POST.
    let confirm = |by: &str, name: &str| {
        as_(
            by,
            "POST",
            &format!("/v1/enterprise/operators/{name}/confirm"),
        )
    };
    assert_eq!(confirm("a-pri", "a-pri").status, 400);
    assert_eq!(confirm("b-pri", "a-pri").status, 404);
    assert_eq!(confirm("a-pri", "nobody").status, 404);
    assert_eq!(
        as_("a-sec", "GET", "/v1/enterprise/operators/a-pri/confirm").status,
        405
    );
    let r = confirm("a-sec", "a-pri");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["operator"]["confirmed_by"], "a-sec");
    // One confirmed: the enterprise still lacks its pair.
    assert_eq!(
        refused("a-pri", "/v1/enterprise/products"),
        (403, "enterprise_not_confirmed".into())
    );
    assert_eq!(
        refused("a-sec", "/v1/enterprise/products"),
        (403, "operator_not_confirmed".into())
    );
    // The administrator records the other confirmation (CLI); B confirms both over the API.
    let out = confirm_operator(cli, "a-sec", "a-pri");
    assert!(out.ok().stdout.contains("have access"), "{}", out.stdout);
    assert_eq!(confirm("b-pri", "b-sec").status, 200);
    assert_eq!(confirm("b-sec", "b-pri").status, 200);

    // Known queries of A's products today: kiosk 2 (one not activated), sms 2, ivr 1, web 1.
    let g = |i: usize| demo.code("genuine", i).to_owned();
    let q = |code: &str, args: &[&str]| {
        let mut all = vec!["verify", code, "--json"];
        all.extend_from_slice(args);
        cli(&all).ok().json()
    };
    q(&g(0), &["--kiosk", "kiosk-nb-01"]);
    q(
        &g(1),
        &[
            "--channel",
            "sms",
            "--place",
            "330106",
            "--source",
            "13800138001",
        ],
    );
    q(
        &g(2),
        &[
            "--channel",
            "sms",
            "--place",
            "330102",
            "--source",
            "13800138002",
        ],
    );
    q(
        &g(3),
        &[
            "--channel",
            "ivr",
            "--place",
            "310104",
            "--source",
            "13800138003",
        ],
    );
    q(&g(4), &["--channel", "web", "--source", "198.51.100.7"]);
    let v = q(demo.code("not_activated", 0), &["--kiosk", "kiosk-hz-01"]);
    let case_a = case_ids(&v)[0];
    // And one of B's, suspect: a case of B's.
    let v =
        server.http_verify(&json!({"code": demo.code("gs1_lot_mismatch", 0), "place": "330203"}));
    let case_b = case_ids(&v.json())[0];

    // The authorization matrix: every read, every identity.
    let kiosk_dir = tmp.path().join("kiosk");
    add_kiosk(cli, "1", "kiosk-x", &kiosk_dir);
    set_office(cli, "33", "zj", "https://127.0.0.1:9/zj");
    let reg_dir = tmp.path().join("zj-1");
    issue_regulator(cli, "33", "zj-1", &reg_dir);
    for p in READS {
        let p = p.replace("cases/1", &format!("cases/{case_a}"));
        for name in ["a-pri", "a-sec"] {
            let r = as_(name, "GET", &p);
            assert_eq!(r.status, 200, "{name} {p}: {}", r.text());
        }
        assert_eq!(
            refused("a-new", &p),
            (403, "operator_not_confirmed".into()),
            "{p}"
        );
        let r = https(&server, &ca, None, "GET", &p, None);
        assert_eq!(
            (r.status, r.error_code()),
            (403, "operator_certificate_required".into())
        );
        let r = server.http("GET", &p, None);
        assert_eq!(
            (r.status, r.error_code()),
            (403, "operator_certificate_required".into())
        );
        for (dir, stem) in [(&kiosk_dir, "kiosk"), (&reg_dir, "regulator")] {
            let r = https(&server, &ca, Some((dir, stem)), "GET", &p, None);
            assert_eq!(
                (r.status, r.error_code()),
                (403, "operator_certificate_unknown".into()),
                "{stem} {p}"
            );
        }
    }
    // An operator certificate is nobody on the regulator API.
    let r = as_("a-pri", "GET", "/v1/regulator/cases");
    assert_eq!(
        (r.status, r.error_code()),
        (403, "regulator_certificate_unknown".into())
    );
    // Cross-enterprise: B's case is "not found" for A, and the other way round.
    assert_eq!(
        refused("a-pri", &format!("/v1/enterprise/cases/{case_b}")).0,
        404
    );
    assert_eq!(
        refused("b-pri", &format!("/v1/enterprise/cases/{case_a}")).0,
        404
    );
    assert_eq!(
        as_("b-pri", "GET", &format!("/v1/enterprise/cases/{case_b}")).status,
        200
    );
    let ids = |name: &str| -> Vec<i64> {
        as_(name, "GET", "/v1/enterprise/cases").json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("a-pri"), [case_a]);
    assert_eq!(ids("b-pri"), [case_b]);
    let shown = as_("a-pri", "GET", &format!("/v1/enterprise/cases/{case_a}")).json();
    assert_eq!(shown["report"]["recipient"], "enterprise");
    assert_eq!(shown["case"]["reason"], "not_activated");
    // Operators: A sees its three, never B's.
    let names: Vec<String> = as_("a-pri", "GET", "/v1/enterprise/operators").json()["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a-new", "a-pri", "a-sec"]);

    // The statistics, exactly (the CLI probes above were "cli" queries of other codes).
    let s = as_("a-pri", "GET", "/v1/enterprise/statistics").json();
    let today = s["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] != "cli")
        .map(|d| {
            (
                d["channel"].as_str().unwrap().to_owned(),
                d["queries"].as_i64().unwrap(),
                d["suspect"].as_i64().unwrap(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        today,
        [
            ("ivr".to_owned(), 1, 0),
            ("kiosk".to_owned(), 2, 1),
            ("sms".to_owned(), 2, 0),
            ("web".to_owned(), 1, 0),
        ]
    );
    let regions: Vec<(String, i64)> = s["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["city"].as_str().unwrap().to_owned(),
                r["queries"].as_i64().unwrap(),
            )
        })
        .collect();
    // The "cli" probe (no place) counts under "" as well: 1 web + 1 probe.
    assert_eq!(
        regions,
        [
            ("330100".to_owned(), 3),
            ("".to_owned(), 2),
            ("310100".to_owned(), 1),
            ("330200".to_owned(), 1),
        ]
    );
    let date = s["days"][0]["date"].as_str().unwrap().to_owned();
    let csv = as_("a-pri", "GET", "/v1/enterprise/statistics.csv").text();
    assert_eq!(
        csv,
        format!(
            "\u{feff}date,channel,queries,not_genuine\r\n{date},cli,1,0\r\n{date},ivr,1,0\r\n\
             {date},kiosk,2,1\r\n{date},sms,2,0\r\n{date},web,1,0\r\n"
        )
    );
    let r = as_("a-pri", "GET", "/v1/enterprise/statistics?from=2026-13-01");
    assert_eq!((r.status, r.error_code()), (400, "invalid_date".into()));
    let b_total = as_("b-pri", "GET", "/v1/enterprise/statistics").json()["total"]
        .as_i64()
        .unwrap();
    assert_eq!(b_total, 2, "B: the CLI probe and the lot mismatch");

    // Revocation, effective from the next request: the secondary's revocation closes the portal
    // for the primary too, until another secondary is confirmed.
    cli(&["enterprise", "operator", "revoke", "--name", "a-sec"]).ok();
    assert_eq!(
        refused("a-sec", "/v1/enterprise/products"),
        (403, "operator_certificate_revoked".into())
    );
    assert_eq!(
        refused("a-sec", "/v1/enterprise/me"),
        (403, "operator_certificate_revoked".into())
    );
    assert_eq!(
        refused("a-pri", "/v1/enterprise/products"),
        (403, "enterprise_not_confirmed".into())
    );
    assert_eq!(confirm("a-sec", "a-new").status, 403);
    assert_eq!(confirm("a-pri", "a-new").status, 200);
    assert_eq!(as_("a-pri", "GET", "/v1/enterprise/products").status, 200);
    assert_eq!(as_("a-new", "GET", "/v1/enterprise/products").status, 200);
    // B is untouched throughout.
    assert_eq!(as_("b-sec", "GET", "/v1/enterprise/products").status, 200);
    let listed = cli(&["enterprise", "operator", "list", "--json"])
        .ok()
        .json();
    let access: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["access"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(access.contains(&("a-sec".into(), "operator_certificate_revoked".into())));
    assert!(access.contains(&("a-pri".into(), "access".into())));

    // Audited, and the chain holds.
    let out = cli(&["audit", "verify"]);
    out.ok();

    // The portal page is static and served to anyone; its data is the API's.
    let page = server.http("GET", "/enterprise/", None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/enterprise/enterprise.js"));
    assert!(page.header("content-security-policy").is_some());
    assert_eq!(
        server.http("GET", "/enterprise/enterprise.js", None).status,
        200
    );
    assert_eq!(server.http("POST", "/enterprise/", Some(b"x")).status, 405);
}

fn screenshot(b: &Browser, name: &str) {
    if std::env::var("ZHENWEI_ENTERPRISE_SCREENSHOTS").map_or(true, |v| v != "1") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cases/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/cases/screenshots");
    let png = b.screenshot();
    std::fs::write(dir.join(format!("enterprise-{name}.png")), png).expect("a screenshot");
}

#[test]
fn the_portal_draws_the_enterprise_picture_in_chromium() {
    if let Some(missing) = zhenwei_tests::nss::missing_tools() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {missing}"
        );
        eprintln!("skipping the_portal_draws_the_enterprise_picture_in_chromium: {missing}");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::start(&data, &["--demo"]);
    let cli = |args: &[&str]| run_in(&data, args.to_vec());
    let demo = server.demo();
    let a = server.verify(demo.code("genuine", 100), &[])["enterprise"]["credit_code"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, role) in [("a-pri", "primary"), ("a-sec", "secondary")] {
        let dir = tmp.path().join(name);
        add_operator(cli, &a, name, role, &dir);
    }
    confirm_operator(cli, "a-pri", "a-sec").ok();
    confirm_operator(cli, "a-sec", "a-pri").ok();
    let q = |code: &str, args: &[&str]| {
        let mut all = vec!["verify", code];
        all.extend_from_slice(args);
        cli(&all).ok();
    };
    for i in 0..3 {
        q(demo.code("genuine", i), &["--kiosk", "kiosk-nb-01"]);
    }
    for i in 3..5 {
        q(
            demo.code("genuine", i),
            &[
                "--channel",
                "sms",
                "--place",
                "330106",
                "--source",
                "13800138001",
            ],
        );
    }
    q(
        demo.code("genuine", 5),
        &[
            "--channel",
            "ivr",
            "--place",
            "310104",
            "--source",
            "13800138003",
        ],
    );
    q(demo.code("not_activated", 0), &["--kiosk", "kiosk-hz-01"]);
    // The browser holds the primary operator's certificate itself (an NSS database in its own
    // HOME, auto-selected for the server's origin; see `zhenwei_tests::nss`).
    let dir = tmp.path().join("a-pri");
    let home = zhenwei_tests::nss::home_with(
        tmp.path(),
        "a-pri",
        &dir.join("ca.crt"),
        Some((&dir.join("operator.crt"), &dir.join("operator.key"))),
    );
    let base = format!("https://127.0.0.1:{}", server.https_addr().port());
    let (chromium, driver) = locate().expect("located before");
    let b = Browser::start_with_certificate(&chromium, &driver, Some(&home), &[&base]);
    b.set_window_size(1280, 1400);
    b.goto(&format!("{base}/enterprise/"));
    b.wait_for(
        "document.body.dataset.ready === 'true'",
        "the portal's data",
    );
    let who = b.text(&b.find("#who"));
    assert!(who.contains(&a) && who.contains("a-pri"), "{who}");
    assert_eq!(b.text(&b.find("#total")), "8");
    assert_eq!(b.text(&b.find("#suspect")), "1");
    assert_eq!(b.text(&b.find("#open-cases")), "1");
    // One bar segment per (day, channel) with queries: cli, ivr, kiosk, sms today.
    let rects = b.execute(
        "return document.querySelectorAll('#chart rect').length",
        json!([]),
    );
    assert_eq!(rects, json!(4));
    // Hangzhou and Ningbo have 3 each; Hangzhou (one not genuine) sorts first by code.
    let first_region = b.text(&b.find("#regions tbody tr"));
    assert!(
        first_region.contains("杭州") && first_region.contains("330100 3 1"),
        "{first_region}"
    );
    let case_row = b.text(&b.find("#cases tbody tr"));
    assert!(case_row.contains("not_activated"), "{case_row}");
    screenshot(&b, "portal");
    // Revoking the secondary closes the portal for the primary: the page says why.
    cli(&["enterprise", "operator", "revoke", "--name", "a-sec"]).ok();
    b.goto(&format!("{base}/enterprise/"));
    b.wait_for("!document.getElementById('refusal').hidden", "the refusal");
    let refusal = b.text(&b.find("#refusal"));
    assert!(refusal.contains("enterprise_not_confirmed"), "{refusal}");
    screenshot(&b, "no-access");
}
