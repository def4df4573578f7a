//! The regulator API over real HTTPS with real client certificates (`zhenwei regulator issue`):
//! the authorization matrix — every account against every case and action, across
//! jurisdictions — and the outcome flowing back to the enterprise as a signed delivery.
//!
//! | what | test |
//! |---|---|
//! | county sees its county only, province all its counties, another province nothing; cross-jurisdiction reads and changes → 404; no / foreign / revoked certificate → 403; acknowledge → status → outcome, reported to the enterprise; invalid transition → 409; bad bodies → 400; CSV export within the jurisdiction | `regulators see and change only cases within their prefix` |
//! | the portal's endpoints: dashboard counts within the jurisdiction only (county, other county, province, other province), a `within` outside it → 404, bad dates/ranges → 400; list filters (dates, division, GTIN); history and 12315 (JSON/HTML) of another office's case → 404; `me`; no certificate (HTTPS or HTTP) → 403 for every new endpoint and the pages; revoked → 403 | `portal endpoints keep to the jurisdiction` |

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};
use tempfile::TempDir;
use zhenwei_tests::accounts::{add_kiosk, issue_regulator, mode, set_office};
use zhenwei_tests::http::Response;
use zhenwei_tests::receiver::Receiver;
use zhenwei_tests::{case_ids, run_in, Server};

/// HTTPS to the server as the account whose files are in `dir` (or with no certificate).
fn https(
    server: &Server,
    ca: &Path,
    identity: Option<(&Path, &str)>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let body = body.map(|b| b.to_string().into_bytes());
    zhenwei_tests::mtls::request(
        server.https_addr(),
        ca,
        identity,
        method,
        path,
        body.as_deref(),
    )
}

struct Account {
    dir: PathBuf,
}

#[test]
fn regulators_see_and_change_only_cases_within_their_prefix() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The enterprise's receiver, to see the outcome flow back.
    let id = run_in(&data, ["delivery", "identity"]).ok().json();
    let pk = base64::engine::general_purpose::STANDARD
        .decode(id["public_key"].as_str().unwrap())
        .unwrap();
    let rx = Receiver::start(tmp.path(), Path::new(id["client_ca"].as_str().unwrap()), pk);
    let config = tmp.path().join("zhenwei.toml");
    std::fs::write(
        &config,
        format!(
            "[delivery]\nbackoff_base_ms = 100\nbackoff_max_ms = 300\npoll_ms = 50\ntrust = [{:?}]\n",
            rx.ca_file().display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let server = Server::start(&data, &["--demo", "--config", &config]);
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        run_in(&data, all)
    };
    for (prefix, name) in [
        ("3302", "ningbo"),
        ("3301", "hangzhou"),
        ("33", "zhejiang"),
        ("31", "shanghai"),
    ] {
        set_office(cli, prefix, name, &rx.url(name));
    }
    let mut accounts = std::collections::BTreeMap::new();
    for (prefix, name) in [
        ("3302", "nb-1"),
        ("3301", "hz-1"),
        ("33", "zj-1"),
        ("31", "sh-1"),
        ("3302", "nb-2"),
    ] {
        let dir = tmp.path().join(name);
        issue_regulator(cli, prefix, name, &dir);
        assert_eq!(mode(&dir.join("regulator.key")), 0o600);
        accounts.insert(name, Account { dir });
    }
    let ca = accounts["nb-1"].dir.join("ca.crt");
    let as_ = |name: &str, method: &str, path: &str, body: Option<&Value>| {
        https(
            &server,
            &ca,
            Some((&accounts[name].dir, "regulator")),
            method,
            path,
            body,
        )
    };

    let demo = server.demo();
    let probe = server.verify(demo.code("genuine", 0), &[]);
    let credit = probe["enterprise"]["credit_code"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(&[
        "cases",
        "enterprise-url",
        "--credit-code",
        &credit,
        "--url",
        &rx.url("enterprise"),
    ])
    .ok();
    let case_at = |i: usize, place: &str| {
        let r = server.http_verify(&json!({"code": demo.code("not_activated", i), "place": place}));
        case_ids(&r.json())[0]
    };
    let nb = case_at(0, "330203"); // Ningbo, Haishu
    let hz = case_at(1, "330106"); // Hangzhou, Xihu

    // Who sees what.
    let ids = |name: &str| -> Vec<i64> {
        let r = as_(name, "GET", "/v1/regulator/cases", None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("nb-1"), [nb]);
    assert_eq!(ids("hz-1"), [hz]);
    let mut zj = ids("zj-1");
    zj.sort();
    assert_eq!(zj, [nb, hz]);
    assert!(ids("sh-1").is_empty());

    // The matrix: each account against each case, for reads and each change.
    let own = |name: &str, case: i64| match name {
        "nb-1" | "nb-2" => case == nb,
        "hz-1" => case == hz,
        "zj-1" => true,
        _ => false,
    };
    for name in ["nb-1", "hz-1", "sh-1"] {
        for case in [nb, hz] {
            let r = as_(name, "GET", &format!("/v1/regulator/cases/{case}"), None);
            if own(name, case) {
                assert_eq!(r.status, 200, "{name} reads {case}: {}", r.text());
                let v = r.json();
                assert_eq!(v["case"]["id"], case);
                assert_eq!(v["report"]["schema"], "zhenwei.case-report/1");
            } else {
                assert_eq!(
                    (r.status, r.error_code().as_str()),
                    (404, "case_not_found"),
                    "{name} reads {case}"
                );
                for (action, body) in [
                    ("acknowledge", json!({})),
                    ("status", json!({"status": "investigating"})),
                    ("outcome", json!({"outcome": "genuine"})),
                ] {
                    let r = as_(
                        name,
                        "POST",
                        &format!("/v1/regulator/cases/{case}/{action}"),
                        Some(&body),
                    );
                    assert_eq!(r.status, 404, "{name} {action} {case}: {}", r.text());
                }
            }
        }
    }
    // Nothing changed by the refused attempts.
    let shown = cli(&["cases", "show", &hz.to_string()]).ok().json();
    assert!(
        shown["status"] == "open" || shown["status"] == "delivered",
        "{shown}"
    );

    // Without a certificate, with a kiosk's, over plain HTTP, revoked: 403 before any case.
    let r = https(&server, &ca, None, "GET", "/v1/regulator/cases", None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "regulator_certificate_required")
    );
    let r = server.http("GET", "/v1/regulator/cases", None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "regulator_certificate_required")
    );
    let kiosk_dir = tmp.path().join("kiosk");
    add_kiosk(cli, "1", "kiosk-x", &kiosk_dir);
    let r = https(
        &server,
        &ca,
        Some((&kiosk_dir, "kiosk")),
        "GET",
        "/v1/regulator/cases",
        None,
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "regulator_certificate_unknown")
    );
    cli(&["regulator", "revoke", "nb-2"]).ok();
    let r = as_("nb-2", "GET", "/v1/regulator/cases", None);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "regulator_certificate_revoked")
    );
    let r = as_("nb-1", "DELETE", &format!("/v1/regulator/cases/{nb}"), None);
    assert_eq!(r.status, 405);

    // Ningbo works its case: bad requests, an invalid transition, then the lifecycle.
    let path = |a: &str| format!("/v1/regulator/cases/{nb}/{a}");
    let r = as_(
        "nb-1",
        "POST",
        &path("outcome"),
        Some(&json!({"outcome": "genuine"})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "case_transition_not_allowed")
    );
    let r = as_(
        "nb-1",
        "POST",
        &path("outcome"),
        Some(&json!({"outcome": "lost"})),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_outcome")
    );
    let r = as_(
        "nb-1",
        "POST",
        &path("status"),
        Some(&json!({"status": "closed"})),
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_status"));
    let r = as_(
        "nb-1",
        "POST",
        &path("acknowledge"),
        Some(&json!({"colour": 1})),
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_json"));
    let r = as_(
        "nb-1",
        "POST",
        &path("acknowledge"),
        Some(&json!({"note": "received, 收到"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["case"]["status"], "acknowledged");
    let r = as_(
        "nb-1",
        "POST",
        &path("status"),
        Some(&json!({"status": "investigating"})),
    );
    assert_eq!(r.json()["case"]["status"], "investigating");
    let r = as_(
        "nb-1",
        "POST",
        &path("outcome"),
        Some(&json!({"outcome": "confirmed_counterfeit", "note": "seized 40 packs"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["case"]["outcome"], "confirmed_counterfeit");
    let closed = rx.wait_for("the outcome at the enterprise", |d| {
        d.path == "/enterprise" && d.body["event"] == "case.closed" && d.body["case"]["id"] == nb
    });
    assert_eq!(closed.body["case"]["outcome"], "confirmed_counterfeit");

    // Filters and CSV, within the jurisdiction only.
    let r = as_("zj-1", "GET", "/v1/regulator/cases?status=closed", None);
    let closed_ids: Vec<i64> = r.json()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(closed_ids, [nb]);
    let r = as_("zj-1", "GET", "/v1/regulator/cases?status=lost", None);
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_status"));
    let r = as_("hz-1", "GET", "/v1/regulator/cases.csv", None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let text = r.text();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0]
        .trim_start_matches('\u{feff}')
        .starts_with("id,reason,status"));
    assert!(
        lines[1].starts_with(&format!("{hz},not_activated,")),
        "{text}"
    );

    let log = cli(&["audit", "list", "--limit", "100000"])
        .ok()
        .stdout
        .clone();
    assert!(
        log.contains("\"actor\":\"regulator:nb-1\""),
        "changes are audited under the account"
    );
    assert!(cli(&["audit", "verify"]).ok().stdout.contains("intact"));
    assert!(rx.rejected().is_empty(), "{:?}", rx.rejected());
    server.stop();
}

/// The portal's endpoints (dashboard, history, 12315, me, list filters, the pages) against
/// every account: counts and cases only within the jurisdiction, cross-jurisdiction → 404, no
/// certificate → 403.
#[test]
fn portal_endpoints_keep_to_the_jurisdiction() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::start(&data, &["--demo"]);
    let cli = |args: &[&str]| run_in(&data, args.iter().copied());
    for (prefix, name) in [
        ("330203", "haishu"),
        ("330212", "yinzhou"),
        ("33", "zhejiang"),
        ("31", "shanghai"),
    ] {
        set_office(cli, prefix, name, "https://127.0.0.1:9/cases");
    }
    let mut dirs = std::collections::BTreeMap::new();
    for (prefix, name) in [
        ("330203", "hs"),
        ("330212", "yz"),
        ("33", "zj"),
        ("31", "sh"),
    ] {
        let dir = tmp.path().join(name);
        issue_regulator(cli, prefix, name, &dir);
        dirs.insert(name, dir);
    }
    let ca = dirs["hs"].join("ca.crt");
    let as_ = |name: &str, path: &str| {
        https(
            &server,
            &ca,
            Some((&dirs[name], "regulator")),
            "GET",
            path,
            None,
        )
    };
    let demo = server.demo();
    let at = |i: usize, place: &str| {
        let r = server.http_verify(&json!({"code": demo.code("not_activated", i), "place": place}));
        case_ids(&r.json())[0]
    };
    let hs1 = at(0, "330203");
    let hs2 = at(1, "330203");
    let yz = at(2, "330212");
    let gtin = server.verify(demo.code("not_activated", 0), &[])["product"]["gtin"]
        .as_str()
        .unwrap()
        .to_owned();

    // The dashboard counts the account's own cases only.
    let dash = |name: &str| {
        let r = as_(name, "/v1/regulator/dashboard");
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        r.json()
    };
    let d = dash("hs");
    assert_eq!(
        (d["total"].clone(), d["within"].clone()),
        (json!(2), json!("330203"))
    );
    assert_eq!(
        d["by_city"],
        json!([{"prefix": "3302", "name_zh": "宁波市", "name_en": "Ningbo", "count": 2}])
    );
    assert_eq!(d["ageing"]["undelivered"], 2);
    assert_eq!(d["ageing"]["limit_working_days"], 7);
    assert_eq!(d["days"].as_array().unwrap().len(), 14);
    assert_eq!(dash("yz")["total"], 1);
    let zj = dash("zj");
    assert_eq!(zj["total"], 3);
    assert_eq!(zj["top_products"][0]["count"], 3);
    let sh = dash("sh");
    assert_eq!(sh["total"], 0);
    assert_eq!(sh["by_city"], json!([]));
    assert_eq!(sh["ageing"]["undelivered"], 0);
    // A narrower place within the jurisdiction narrows; another office's place is refused,
    // not counted.
    let r = as_("zj", "/v1/regulator/dashboard?within=330212");
    assert_eq!(r.json()["total"], 1);
    let r = as_("hs", "/v1/regulator/dashboard?within=330212");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "outside_jurisdiction")
    );
    let r = as_("hs", "/v1/regulator/dashboard?within=33");
    assert_eq!(r.json()["total"], 2, "a broader place is the jurisdiction");
    for (q, code) in [
        ("from=2026-13-01", "invalid_date"),
        ("from=2026-11-20&to=2026-11-01", "invalid_range"),
        ("from=2020-01-01&to=2026-01-01", "invalid_range"),
        ("within=3", "invalid_within"),
    ] {
        let r = as_("zj", &format!("/v1/regulator/dashboard?{q}"));
        assert_eq!((r.status, r.error_code().as_str()), (400, code), "{q}");
    }
    let far = as_(
        "zj",
        "/v1/regulator/dashboard?from=2020-01-01&to=2020-01-31",
    )
    .json();
    assert_eq!(far["total"], 0);
    assert_eq!(
        far["ageing"]["undelivered"], 3,
        "ageing counts every open case"
    );

    // List filters.
    let ids = |name: &str, q: &str| -> Vec<i64> {
        let r = as_(name, &format!("/v1/regulator/cases?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        r.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("zj", "within=330212"), [yz]);
    assert_eq!(ids("zj", "within=3302"), [yz, hs2, hs1]);
    assert!(ids("hs", "within=330212").is_empty());
    assert!(ids("zj", "from=2020-01-01&to=2020-01-31").is_empty());
    // Today in China, as the dashboard's default range ends.
    let today = zj["to"].as_str().unwrap().to_owned();
    assert_eq!(ids("zj", &format!("from={today}&to={today}")).len(), 3);
    assert_eq!(ids("hs", &format!("gtin={gtin}")), [hs2, hs1]);
    assert!(ids("hs", "gtin=00000000000000").is_empty());
    let r = as_("hs", "/v1/regulator/cases?gtin=abc");
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_gtin"));
    let r = as_("zj", "/v1/regulator/cases.csv?within=330212");
    assert_eq!(r.text().trim_end().split("\r\n").count(), 2);

    // History and the 12315 form: own cases only.
    for (name, case, own) in [
        ("hs", hs1, true),
        ("hs", yz, false),
        ("yz", hs1, false),
        ("zj", yz, true),
        ("sh", hs1, false),
    ] {
        for path in [
            format!("/v1/regulator/cases/{case}/history"),
            format!("/v1/regulator/cases/{case}/12315"),
            format!("/v1/regulator/cases/{case}/12315?format=html"),
        ] {
            let r = as_(name, &path);
            if own {
                assert_eq!(r.status, 200, "{name} {path}: {}", r.text());
            } else {
                assert_eq!(
                    (r.status, r.error_code().as_str()),
                    (404, "case_not_found"),
                    "{name} {path}"
                );
            }
        }
    }
    let h = as_("hs", &format!("/v1/regulator/cases/{hs1}/history")).json();
    assert_eq!(h["deliveries"][0]["target_kind"], "regulator");
    assert_eq!(h["deliveries"][0]["target_name"], "haishu");
    let f = as_("hs", &format!("/v1/regulator/cases/{hs1}/12315")).json();
    assert_eq!(f["schema"], "zhenwei.12315-form/1");
    assert_eq!(f["case_id"], hs1);
    assert_eq!(f["product"]["gtin"], gtin.as_str());
    assert_eq!(f["facts_and_reasons"]["reason"], "not_activated");
    assert_eq!(f["reporter"]["consented"], false);
    assert!(f["reporter"]["contact"].is_null());
    let html = as_(
        "hs",
        &format!("/v1/regulator/cases/{hs1}/12315?format=html"),
    );
    assert!(html
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(html.text().contains("投诉举报"));
    let r = as_("hs", &format!("/v1/regulator/cases/{hs1}/12315?format=pdf"));
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_format"));
    let me = as_("yz", "/v1/regulator/me").json();
    assert_eq!(
        (me["name"].clone(), me["prefix"].clone()),
        (json!("yz"), json!("330212"))
    );

    // Without a certificate (HTTPS or plain HTTP), nothing: not the figures, not the pages.
    for path in [
        "/v1/regulator/dashboard".to_owned(),
        "/v1/regulator/me".to_owned(),
        format!("/v1/regulator/cases/{hs1}/history"),
        format!("/v1/regulator/cases/{hs1}/12315"),
        "/regulator/".to_owned(),
        "/regulator/regulator.js".to_owned(),
    ] {
        let r = https(&server, &ca, None, "GET", &path, None);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "regulator_certificate_required"),
            "{path}"
        );
        let r = server.http("GET", &path, None);
        assert_eq!(r.status, 403, "{path} over HTTP");
    }
    let r = as_("hs", "/regulator/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("/regulator/charts.js"));
    assert_eq!(as_("hs", "/regulator/missing.js").status, 404);
    let r = https(
        &server,
        &ca,
        Some((&dirs["hs"], "regulator")),
        "POST",
        "/v1/regulator/dashboard",
        None,
    );
    assert_eq!(r.status, 405);
    cli(&["regulator", "revoke", "yz"]).ok();
    let r = as_("yz", "/v1/regulator/dashboard");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "regulator_certificate_revoked")
    );
    server.stop();
}
