//! The HTTP API of a running `zhenwei serve --demo`, and "one verdict for every channel": the
//! HTTP answer and the CLI answer agree for the same code and history.
//!
//! The tests share one server; genuine codes are split between them:
//!
//! | genuine code | test |
//! |---|---|
//! | 0, 1 | `verify_in_english_and_chinese` |
//! | 2 | `a_body_of_exactly_the_limit_is_accepted` |
//! | 3 | `place_gives_the_first_queried_city` |
//! | 4 | `concurrent_queries_are_counted_exactly` |
//! | 10.. | `every_scenario_gets_the_same_verdict_over_http_and_cli` |

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use serde_json::{json, Value};
use zhenwei_tests::SCENARIOS;
use zhenwei_tests::{
    assert_verdict, authenticity, case_ids, run_in, shared_demo_server, warnings, Server,
};

fn assert_json_error(r: &zhenwei_tests::http::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.error_code(), code, "{}", r.text());
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!msg.is_empty(), "{}", r.text());
}

#[test]
fn healthz() {
    let server = shared_demo_server();
    let r = server.http("GET", "/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[test]
fn verify_in_english_and_chinese() {
    let server = shared_demo_server();
    let demo = server.demo();
    let r = server.http_verify(&json!({"code": demo.code("genuine", 0), "lang": "en"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v = r.json();
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["lang"], "en");
    assert_eq!(v["first_query"], true);
    assert_eq!(v["product"]["name_en"], "Infant formula");
    assert_eq!(
        v["message"],
        "Genuine: Infant formula by Ningbo Yongjiang Foods Co., Ltd. First check of this code."
    );

    // Chinese is the default; the code may be typed in groups.
    let grouped = zhenwei_tests::grouped(demo.code("genuine", 1), 4, " ");
    let v = server.http_verify(&json!({"code": grouped})).json();
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["lang"], "zh");
    assert_eq!(
        v["message"],
        "正品：宁波甬江食品有限公司 婴幼儿配方奶粉。首次查询。"
    );
    assert_eq!(v["code"], demo.code("genuine", 1));

    // Web queries are recorded under the web channel with a masked address.
    let h = server
        .cli(["history", demo.code("genuine", 1), "--json"])
        .ok()
        .json();
    assert_eq!(h["events"][0]["channel"], "web");
    assert_eq!(h["events"][0]["source"], "127.0.*.*");
}

#[test]
fn bad_requests_get_json_errors() {
    let server = shared_demo_server();
    let post = |body: &str| server.http("POST", "/v1/verify", Some(body.as_bytes()));

    assert_json_error(&post("{\"code\": "), 400, "invalid_json");
    assert_json_error(&post("not json at all"), 400, "invalid_json");
    assert_json_error(&post(""), 400, "invalid_json");
    assert_json_error(&post("{}"), 400, "invalid_json");
    assert_json_error(&post("{\"code\": 12345}"), 400, "invalid_json");
    assert_json_error(
        &post("{\"code\": \"1\", \"colour\": \"red\"}"),
        400,
        "invalid_json",
    );
    // Kiosks only over HTTPS with their certificate (tests/kiosk_tls.rs).
    assert_json_error(
        &post("{\"code\": \"1\", \"channel\": \"kiosk\"}"),
        403,
        "kiosk_certificate_required",
    );
    assert_json_error(
        &post("{\"code\": \"1\", \"channel\": \"sms\"}"),
        400,
        "channel_not_allowed",
    );
    assert_json_error(
        &post("{\"code\": \"1\", \"channel\": \"fax\"}"),
        400,
        "invalid_channel",
    );
    assert_json_error(
        &post("{\"code\": \"1\", \"lang\": \"fr\"}"),
        400,
        "invalid_lang",
    );
    let r = post("{\"code\": \"1\", \"place\": \"999999\"}");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error_code().starts_with("division_"), "{}", r.text());

    assert_json_error(
        &server.http("GET", "/v1/verify", None),
        405,
        "method_not_allowed",
    );
    assert_json_error(
        &server.http("POST", "/healthz", Some(b"{}")),
        405,
        "method_not_allowed",
    );
    assert_json_error(&server.http("GET", "/nope", None), 404, "not_found");
    // (`/` is the public query page: tests/web_page.rs.)
    assert_json_error(&server.http("GET", "/v2/verify", None), 404, "not_found");
}

#[test]
fn bodies_over_8_kib_are_refused() {
    let server = shared_demo_server();
    let body = format!("{{\"code\": \"{}\"}}", "1".repeat(9 * 1024));
    let r = server.http("POST", "/v1/verify", Some(body.as_bytes()));
    assert_json_error(&r, 413, "body_too_large");
    // A much larger body, which the server refuses before reading it all.
    let body = vec![b' '; 1024 * 1024];
    let r = server.http("POST", "/v1/verify", Some(&body));
    assert_json_error(&r, 413, "body_too_large");
    // The server is still fine.
    assert_eq!(server.http("GET", "/healthz", None).status, 200);
}

#[test]
fn a_body_of_exactly_the_limit_is_accepted() {
    let server = shared_demo_server();
    let code = server.demo().code("genuine", 2).to_owned();
    let mut body = format!("{{\"code\": \"{code}\"}}");
    body.push_str(&" ".repeat(8 * 1024 - body.len()));
    assert_eq!(body.len(), 8192);
    let r = server.http("POST", "/v1/verify", Some(body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_verdict(&r.json(), "genuine", &[]);
    body.push(' ');
    let r = server.http("POST", "/v1/verify", Some(body.as_bytes()));
    assert_json_error(&r, 413, "body_too_large");
}

#[test]
fn not_a_code_is_an_answer_not_an_error() {
    let server = shared_demo_server();
    let r = server.http_verify(&json!({"code": "hello!", "lang": "en"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_verdict(&v, "not_a_code", &[]);
    assert_eq!(v["error"]["code"], "pin_bad_character");
    assert_eq!(v["query_count"], 0);
    assert_eq!(v["case_ids"], json!([]));
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("This is not a code we can check"),
        "{v}"
    );

    for (input, code) in [
        ("", "empty"),
        ("   ", "empty"),
        ("1234567", "bad_digit_count"),
        ("12345678", "gtin_bad_check_digit"),
    ] {
        let v = server.http_verify(&json!({ "code": input })).json();
        assert_eq!(authenticity(&v), "not_a_code", "{input:?}: {v}");
        assert_eq!(v["error"]["code"], code, "{input:?}: {v}");
    }
    let v = server
        .http_verify(&json!({ "code": "9".repeat(600) }))
        .json();
    assert_eq!(v["error"]["code"], "too_long");
}

#[test]
fn place_gives_the_first_queried_city() {
    let server = shared_demo_server();
    let code = server.demo().code("genuine", 3).to_owned();
    let v = server
        .http_verify(&json!({"code": code, "place": "310104"}))
        .json();
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["first_queried_city"], "上海");
    let v = server
        .http_verify(&json!({"code": code, "place": "310104", "lang": "en", "channel": "web"}))
        .json();
    assert_verdict(&v, "genuine", &["repeat_query"]);
    assert_eq!(v["first_queried_city"], "Shanghai");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("This code has been checked 2 times, first on "),
        "{v}"
    );
    // A query from another city within 24 hours: a clone.
    let v = server
        .http_verify(&json!({"code": code, "place": "440305"}))
        .json();
    assert_verdict(&v, "suspect", &["repeat_query", "clone_suspected"]);
    assert_eq!(case_ids(&v).len(), 1, "{v}");
}

/// 200 clients query one fresh code at the same time over real sockets: every query is counted
/// exactly once (no lost updates), one first query, one case.
#[test]
fn concurrent_queries_are_counted_exactly() {
    const PARALLEL: i64 = 200;
    let server = shared_demo_server();
    let code = server.demo().code("genuine", 4).to_owned();
    let clients: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let server: Arc<Server> = server.clone();
            let code = code.clone();
            thread::spawn(move || {
                let r = server.http_verify(&json!({ "code": code }));
                assert_eq!(r.status, 200, "{}", r.text());
                r.json()
            })
        })
        .collect();
    let verdicts: Vec<Value> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();
    let counts: BTreeSet<i64> = verdicts
        .iter()
        .map(|v| v["query_count"].as_i64().expect("query_count"))
        .collect();
    assert_eq!(counts, (1..=PARALLEL).collect::<BTreeSet<_>>());
    let first_at: BTreeSet<i64> = verdicts
        .iter()
        .map(|v| v["first_queried_at"].as_i64().expect("first_queried_at"))
        .collect();
    assert_eq!(first_at.len(), 1, "one first query: {first_at:?}");
    for v in &verdicts {
        let n = v["query_count"].as_i64().unwrap_or_default();
        let expected: &[&str] = match n {
            1 => &[],
            2..=4 => &["repeat_query"],
            _ => &["excessive_queries"],
        };
        assert_verdict(v, if n >= 5 { "suspect" } else { "genuine" }, expected);
    }
    let h = server.cli(["history", &code, "--json"]).ok().json();
    let numbers: Vec<i64> = h["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["query_number"].as_i64().expect("query_number"))
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=PARALLEL).collect::<Vec<_>>());
    // Every excessive query after the 5th updates the one case.
    let cases: BTreeSet<i64> = verdicts.iter().flat_map(case_ids).collect();
    assert_eq!(cases.len(), 1, "{cases:?}");
}

/// The fields that must agree between channels for the same history position.
fn essentials(v: &Value) -> Value {
    // The message ends with the case number, which differs between cases.
    let mut message = v["message"].as_str().unwrap_or_default().to_owned();
    if let Some(id) = v["case_id"].as_i64() {
        message = message.replace(&format!("案件编号：{id}。"), "案件编号：#。");
    }
    json!({
        "authenticity": v["authenticity"],
        "warnings": v["warnings"],
        "family": v["family"],
        "code": v["code"],
        "product": v["product"],
        "enterprise": v["enterprise"],
        "batch": v["batch"],
        "prefix_status": v["prefix_status"],
        "notices": v["notices"],
        "query_count": v["query_count"],
        "first_query": v["first_query"],
        "recheck": v["recheck"],
        "message": message,
        "opens_case": !case_ids(v).is_empty(),
    })
}

/// For every demo scenario: one code queried over HTTP and another of the same scenario through
/// the CLI, each for the first time, give the same verdict.
#[test]
fn every_scenario_gets_the_same_verdict_over_http_and_cli() {
    let server = shared_demo_server();
    let demo = server.demo();
    // Every scenario with more than one code (gtin_only has just one).
    for scenario in SCENARIOS.into_iter().filter(|s| *s != "gtin_only") {
        let (a, b) = if scenario == "genuine" {
            (demo.code(scenario, 10), demo.code(scenario, 11))
        } else {
            (demo.code(scenario, 5), demo.code(scenario, 6))
        };
        let web = server.http_verify(&json!({ "code": a })).json();
        let cli = server.verify(b, &[]);
        let (mut web_e, mut cli_e) = (essentials(&web), essentials(&cli));
        // Different items of one scenario differ in their code; the rest must be equal.
        web_e["code"] = Value::Null;
        cli_e["code"] = Value::Null;
        assert_eq!(web_e, cli_e, "{scenario}: web {web:#}\ncli {cli:#}");
    }
    // The plain GTIN is one code for everybody: second query by CLI after the first by HTTP.
    let gtin = demo.code("gtin_only", 0);
    let web = server.http_verify(&json!({ "code": gtin })).json();
    let cli = server.verify(gtin, &[]);
    assert_verdict(&web, "unknown", &[]);
    assert_verdict(&cli, "unknown", &[]);
    assert_eq!(web["product"], cli["product"]);
    assert_eq!(
        cli["query_count"],
        web["query_count"].as_i64().unwrap_or(0) + 1
    );
}

/// A fresh recalled code queried once through the CLI, then over HTTP: the HTTP verdict is the
/// second query of the same history, and vice versa for another code.
#[test]
fn one_history_across_channels() {
    let server = shared_demo_server();
    let demo = server.demo();
    let (a, b) = (demo.code("recalled", 8), demo.code("recalled", 9));

    let cli_first = server.verify(a, &[]);
    assert_verdict(&cli_first, "genuine", &["recalled"]);
    let web_second = server.http_verify(&json!({ "code": a })).json();
    assert_verdict(&web_second, "genuine", &["repeat_query", "recalled"]);
    assert_eq!(web_second["query_count"], 2);
    assert_eq!(web_second["first_queried_at"], cli_first["queried_at"]);

    let web_first = server.http_verify(&json!({ "code": b })).json();
    let cli_second = server.verify(b, &[]);
    assert_eq!(cli_second["query_count"], 2);
    assert_eq!(cli_second["first_queried_at"], web_first["queried_at"]);

    // Same position in the history, same verdict.
    let mut x = essentials(&web_second);
    let mut y = essentials(&cli_second);
    x["code"] = Value::Null;
    y["code"] = Value::Null;
    // The repeat-query advice names the first query's time, which differs between the codes.
    x["message"] = Value::Null;
    y["message"] = Value::Null;
    assert_eq!(x, y, "web {web_second:#}\ncli {cli_second:#}");
    assert_eq!(essentials(&cli_first)["product"], x["product"]);
    assert_eq!(warnings(&web_first), ["recalled"]);

    let h = server.cli(["history", a, "--json"]).ok().json();
    let channels: Vec<&str> = h["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["channel"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(channels, ["cli", "web"]);
}

/// A key rotated (and a range issued under it) by the CLI while the server runs.
/// The server must pick up the new key version without a restart (found as a bug: it used to
/// answer `unknown` over HTTP while the CLI said `genuine`).
#[test]
fn codes_under_a_key_rotated_while_serving_verify_over_http() {
    let server = Server::start_demo();
    let dir = server.data_dir().to_owned();
    let out = run_in(&dir, ["keys", "rotate"]).ok().stdout.clone();
    assert!(out.starts_with("key version 2 is now current"), "{out}");
    let out = run_in(
        &dir,
        [
            "range",
            "request",
            "--gtin",
            "6901234000115",
            "--size",
            "10",
        ],
    )
    .ok()
    .stdout
    .clone();
    assert!(out.contains("key version 2"), "{out}");
    let range = out.split_whitespace().nth(1).expect("range id").to_owned();
    run_in(&dir, ["range", "activate", &range, "--lot", "NB2027K"]).ok();
    let csv = run_in(&dir, ["range", "export", &range, "--to", "2"])
        .ok()
        .stdout
        .clone();
    let codes: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("code column").to_owned())
        .collect();
    assert_eq!(codes.len(), 2);

    let cli = server.verify(&codes[0], &[]);
    assert_verdict(&cli, "genuine", &[]);
    let web = server.http_verify(&json!({ "code": codes[1] })).json();
    assert_verdict(&web, "genuine", &[]);
}

/// `/metrics` reports what happened, in the Prometheus text format: requests per route and
/// status, the latency histogram, the catalog cache and the recorder's group commits.
#[test]
fn metrics_report_requests_cache_and_group_commits() {
    let server = Server::start_demo();
    let demo = server.demo();
    let code = demo.code("genuine", 30);
    for _ in 0..3 {
        let r = server.http_verify(&json!({ "code": code }));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(
        server.http("POST", "/v1/verify", Some(b"{nope")).status,
        400
    );
    let r = server.http("GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
    };
    assert_eq!(
        value("zhenwei_http_requests_total{route=\"/v1/verify\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        value("zhenwei_http_requests_total{route=\"/v1/verify\",status=\"400\"}"),
        1.0
    );
    assert_eq!(
        value("zhenwei_http_request_duration_seconds_count{route=\"/v1/verify\"}"),
        4.0
    );
    assert_eq!(
        value("zhenwei_http_request_duration_seconds_bucket{route=\"/v1/verify\",le=\"+Inf\"}"),
        4.0
    );
    assert_eq!(value("zhenwei_recorder_events_total"), 3.0);
    let batches = value("zhenwei_recorder_batches_total");
    assert!((1.0..=3.0).contains(&batches), "{batches}");
    assert_eq!(value("zhenwei_recorder_batch_size_count"), batches);
    assert_eq!(value("zhenwei_recorder_queue_depth"), 0.0);
    // The second and third queries found everything in the catalog cache.
    assert!(value("zhenwei_catalog_hits_total") > 0.0);
    let ratio = value("zhenwei_catalog_hit_ratio");
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
    assert_eq!(server.http("POST", "/metrics", None).status, 405);
}
