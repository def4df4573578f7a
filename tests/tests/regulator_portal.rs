//! The regulator portal in a real headless Chromium that presents a regulator account's client
//! certificate, over the server's real HTTPS listener.
//!
//! Headless Chromium has no certificate picker: asked for a client certificate it aborts the
//! handshake. Each browser here therefore gets its own `HOME` with an NSS database
//! (`HOME/.pki/nssdb`, made with `certutil`/`pk12util` from Debian's `libnss3-tools`) holding
//! zhenwei's CA (trusted for TLS servers) and — for the officers — the account's certificate
//! and key (PKCS#12 made with `openssl`), and its fresh profile gets the per-profile content
//! setting behind the `AutoSelectCertificateForUrls` policy for the server's origin
//! ([`Browser::start_with_certificate`]). Nothing machine-wide (no file under
//! `/etc/chromium/policies`, no system NSS database) is touched, so the test needs no root.
//! Tools or browser missing: the test fails under `CI=true`, otherwise it skips with a notice.
//!
//! | what | test |
//! |---|---|
//! | county dashboard counts only its cases, province sees both counties; acknowledge click → status in the DB; the 12315 form's fields; a browser without certificate is refused; screenshots with `ZHENWEI_PORTAL_SCREENSHOTS=1` | `the_portal_in_chromium_with_client_certificates` |

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;
use zhenwei_tests::accounts::{issue_regulator, set_office};
use zhenwei_tests::webdriver::{locate, Browser};
use zhenwei_tests::{case_ids, run_in, Server};

/// A HOME for one browser: zhenwei's CA, and the account's certificate (a directory written by
/// `zhenwei regulator issue`) if given.
fn home_with(root: &Path, name: &str, ca: &Path, account: Option<&Path>) -> PathBuf {
    let identity = account.map(|d| (d.join("regulator.crt"), d.join("regulator.key")));
    zhenwei_tests::nss::home_with(
        root,
        name,
        ca,
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    )
}

fn browser(home: &Path, origin: &str) -> Browser {
    let (chromium, driver) = locate().expect("located before");
    Browser::start_with_certificate(&chromium, &driver, Some(home), &[origin])
}

/// Waits until the portal has drawn a view whose `data-ready` satisfies `cond` (a JS
/// expression over `r`).
fn ready(b: &Browser, cond: &str, what: &str) {
    b.wait_for(
        &format!("(r => r !== undefined && ({cond}))(document.body.dataset.ready)"),
        what,
    );
}

fn screenshots_wanted() -> bool {
    std::env::var("ZHENWEI_PORTAL_SCREENSHOTS").is_ok_and(|v| v == "1")
}

fn shot(b: &Browser, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cases/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), b.screenshot()).unwrap();
}

#[test]
fn the_portal_in_chromium_with_client_certificates() {
    if let Some(missing) = zhenwei_tests::nss::missing_tools() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the portal test needs {missing}");
        }
        eprintln!("skipping the portal test: {missing}");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::start(&data, &["--demo"]);
    let cli = |args: &[&str]| run_in(&data, args.iter().copied());
    // Offices: two counties of Ningbo and the province. Their receivers are not running: the
    // reports wait in the outbox, which does not matter here.
    for (prefix, name) in [
        ("330203", "海曙区市场监管局"),
        ("330212", "鄞州区市场监管局"),
        ("33", "浙江省市场监管局"),
    ] {
        set_office(cli, prefix, name, "https://127.0.0.1:9/cases");
    }
    let mut dirs = std::collections::BTreeMap::new();
    for (prefix, name) in [("330203", "hs-1"), ("330212", "yz-1"), ("33", "zj-1")] {
        let dir = tmp.path().join(name);
        issue_regulator(cli, prefix, name, &dir);
        dirs.insert(name, dir);
    }
    let ca = dirs["hs-1"].join("ca.crt");

    // Cases: two in Haishu (one from the demo kiosk of the Haishu store), one in Yinzhou.
    let demo = server.demo();
    let kiosk_case =
        case_ids(&server.verify(demo.code("not_activated", 0), &["--kiosk", "kiosk-nb-01"]))[0];
    let at = |i: usize, place: &str| {
        let r = server.http_verify(&serde_json::json!({
            "code": demo.code("not_activated", i), "place": place
        }));
        case_ids(&r.json())[0]
    };
    let hs2 = at(1, "330203");
    let yz = at(2, "330212");
    assert!(kiosk_case != hs2 && hs2 != yz);

    let base = format!("https://127.0.0.1:{}", server.https_addr().port());
    let total = |b: &Browser| -> i64 { b.text(&b.find("#total")).trim().parse().unwrap() };

    // The Haishu officer: its two cases only, on the dashboard and in the list.
    let hs = browser(
        &home_with(tmp.path(), "hs-1", &ca, Some(&dirs["hs-1"])),
        &base,
    );
    hs.goto(&format!("{base}/regulator/"));
    ready(&hs, "r === 'dashboard'", "the Haishu dashboard");
    assert_eq!(total(&hs), 2);
    assert!(hs.text(&hs.find("#office")).contains("海曙区市场监管局"));
    let undelivered = hs.text(&hs.find("#age-undelivered"));
    assert!(undelivered.starts_with('2'), "{undelivered}");
    hs.goto(&format!("{base}/regulator/#/cases"));
    ready(&hs, "r === 'cases'", "the Haishu case list");
    assert_eq!(hs.text(&hs.find("#case-count")), "2");
    let listed: Value = hs.execute(
        "return [...document.querySelectorAll('#cases tbody tr')].map(r => Number(r.dataset.id))",
        serde_json::json!([]),
    );
    let mut listed: Vec<i64> = serde_json::from_value(listed).unwrap();
    listed.sort();
    assert_eq!(listed, [kiosk_case, hs2]);

    // The province: both counties.
    let zj = browser(
        &home_with(tmp.path(), "zj-1", &ca, Some(&dirs["zj-1"])),
        &base,
    );
    zj.goto(&format!("{base}/regulator/"));
    ready(&zj, "r === 'dashboard'", "the province dashboard");
    assert_eq!(total(&zj), 3);
    let cities: Value = zj.execute(
        "return [...document.querySelectorAll('#chart-city .hbar .val')].map(t => t.textContent)",
        serde_json::json!([]),
    );
    assert_eq!(cities, serde_json::json!(["3"]), "all three in Ningbo");

    // Haishu acknowledges its kiosk case with a click; the database says so.
    hs.goto(&format!("{base}/regulator/#/case/{kiosk_case}"));
    ready(
        &hs,
        &format!("r.startsWith('case-{kiosk_case}-')"),
        "the case page",
    );
    let evidence = hs.text(&hs.find(".evidence"));
    assert!(evidence.contains("kiosk"), "{evidence}");
    hs.click(&hs.find("#btn-ack"));
    ready(
        &hs,
        &format!("r === 'case-{kiosk_case}-acknowledged'"),
        "the acknowledged case",
    );
    let shown = cli(&["cases", "show", &kiosk_case.to_string()]).ok().json();
    assert_eq!(shown["status"], "acknowledged");
    let audit = hs.text(&hs.find(".audit"));
    assert!(audit.contains("regulator:hs-1"), "{audit}");
    if screenshots_wanted() {
        hs.set_window_size(1280, 1000);
        shot(&hs, "case");
    }

    // The 12315 form of that case.
    hs.goto(&format!(
        "{base}/v1/regulator/cases/{kiosk_case}/12315?format=html"
    ));
    let form = hs.text(&hs.find("#form12315"));
    for field in ["举报人", "被举报方", "商品", "事实与理由", "时间", "地点"] {
        assert!(form.contains(field), "{field} in {form}");
    }
    assert!(form.contains("甬江超市海曙店"), "the store: {form}");
    assert!(form.contains("码未激活即被查询"), "the reason: {form}");
    assert!(form.contains("已脱敏"), "the reporter is masked: {form}");
    let json = cli(&["cases", "export-12315", &kiosk_case.to_string()])
        .ok()
        .json();
    assert_eq!(json["schema"], "zhenwei.12315-form/1");
    assert_eq!(json["reported_party"]["name"], "甬江超市海曙店");
    assert_eq!(json["reporter"]["consented"], false);
    assert!(form.contains(json["product"]["gtin"].as_str().unwrap()));
    if screenshots_wanted() {
        shot(&hs, "form-12315");
    }

    // Yinzhou cannot open Haishu's case, even by typing its address.
    let yzb = browser(
        &home_with(tmp.path(), "yz-1", &ca, Some(&dirs["yz-1"])),
        &base,
    );
    yzb.goto(&format!("{base}/regulator/#/case/{kiosk_case}"));
    ready(&yzb, "r === 'error'", "the refused case");
    let refused = yzb.text(&yzb.find("#error"));
    assert!(refused.contains("case_not_found"), "{refused}");

    // A browser without a certificate gets the refusal, not the portal.
    let anon = browser(&home_with(tmp.path(), "anon", &ca, None), &base);
    anon.goto(&format!("{base}/regulator/"));
    let body = anon.text(&anon.find("body"));
    assert!(body.contains("regulator_certificate_required"), "{body}");
    assert!(!body.contains("监管门户"));

    if screenshots_wanted() {
        // A fortnight of sample cases, so the charts show what they are for.
        cli(&["demo-cases"]).ok();
        zj.set_window_size(1280, 1400);
        zj.goto(&format!("{base}/regulator/#/cases"));
        ready(&zj, "r === 'cases'", "the list");
        zj.goto(&format!("{base}/regulator/#/dashboard"));
        ready(&zj, "r === 'dashboard'", "the dashboard with sample cases");
        shot(&zj, "dashboard");
        zj.execute(
            "document.getElementById('lang').click()",
            serde_json::json!([]),
        );
        ready(&zj, "r === 'dashboard'", "the English dashboard");
        shot(&zj, "dashboard-en");
        zj.goto(&format!("{base}/regulator/#/cases"));
        ready(&zj, "r === 'cases'", "the English list");
        shot(&zj, "cases-en");
    }
    drop((hs, zj, yzb, anon));
    server.stop();
}
