//! `POST /v1/report` (the kiosk's "report this product", open to the web page too): a report
//! opens the code's consumer-report case at the query's place and answers with its number; a
//! `report_id` makes it idempotent; bad requests get the one JSON error shape. Over HTTPS with a
//! kiosk certificate it is exercised end to end by `kiosk_agent.rs`.
//!
//! Demo codes used (one server for this file): genuine 0, 1; not_activated 0.

use serde_json::{json, Value};
use zhenwei_tests::{shared_demo_server, Server};

fn report(server: &Server, body: &Value) -> zhenwei_tests::http::Response {
    server.http("POST", "/v1/report", Some(body.to_string().as_bytes()))
}

/// Reason and place of case `id`, from its `case.open` audit entry.
fn case(server: &Server, id: i64) -> (String, String) {
    let out = server
        .cli(["audit", "list", "--limit", "100000"])
        .ok()
        .stdout
        .clone();
    let entry = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["action"] == "case.open" && e["subject"] == format!("case:{id}"))
        .unwrap_or_else(|| panic!("no case.open for case {id}"));
    let d: Value = serde_json::from_str(entry["detail"].as_str().unwrap_or("{}")).unwrap();
    (
        d["reason"].as_str().unwrap_or_default().into(),
        d["place"].as_str().unwrap_or_default().into(),
    )
}

#[test]
fn a_report_opens_a_case_at_its_place_once_per_report_id() {
    let server = shared_demo_server();
    let code = server.demo().code("genuine", 0).to_owned();
    let body = json!({
        "code": code, "place": "310104", "lang": "en",
        "note": "sold loose at a market stall", "report_id": "web-report-0001"
    });
    let r = report(&server, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    let case_id = first["case_id"].as_i64().expect("case_id");
    assert_eq!(first["replayed"], false);
    assert_eq!(first["report_id"], "web-report-0001");
    assert_eq!(first["verdict"]["authenticity"], "genuine");
    assert_eq!(first["verdict"]["case_id"].as_i64(), Some(case_id));
    assert_eq!(
        case(&server, case_id),
        ("consumer_report".into(), "310104".into())
    );

    // The answer has exactly the properties openapi.json's ReportResult lists.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json"))
            .expect("openapi.json"),
    )
    .expect("openapi.json is JSON");
    let documented: Vec<&String> = doc["components"]["schemas"]["ReportResult"]["properties"]
        .as_object()
        .expect("ReportResult.properties")
        .keys()
        .collect();
    let mut keys: Vec<&String> = first.as_object().expect("an object").keys().collect();
    keys.sort();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort();
    assert_eq!(keys, documented_sorted, "{first}");
    assert!(doc["paths"]["/v1/report"]["post"]["responses"]["422"].is_object());

    // The same report again (its answer was lost): the same case, nothing recorded.
    let r = report(&server, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let again = r.json();
    assert_eq!(again["case_id"].as_i64(), Some(case_id));
    assert_eq!(again["replayed"], true);
    assert!(again.get("verdict").is_none(), "{again}");
    let history = server.cli(["history", &code, "--json"]).ok().json();
    assert_eq!(
        history["events"].as_array().map(Vec::len),
        Some(1),
        "{history:#}"
    );

    // A second report of the same code (another id) adds to the same case.
    let r = report(
        &server,
        &json!({"code": code, "report_id": "web-report-0002"}),
    );
    assert_eq!(r.json()["case_id"].as_i64(), Some(case_id));
    assert_eq!(r.json()["replayed"], false);

    // Without a report_id every request files (into the code's one case).
    let code1 = server.demo().code("genuine", 1).to_owned();
    let a = report(&server, &json!({"code": code1})).json();
    let b = report(&server, &json!({"code": code1})).json();
    assert_eq!(a["case_id"], b["case_id"]);
    assert!(a.get("report_id").is_none());
    assert_eq!(a["verdict"]["query_count"], 1);
    assert_eq!(b["verdict"]["query_count"], 2);

    // A suspect code: its own case and the consumer's report are different cases.
    let bad = server.demo().code("not_activated", 0).to_owned();
    let r = report(
        &server,
        &json!({"code": bad, "report_id": "web-report-0003"}),
    )
    .json();
    let v = &r["verdict"];
    assert_eq!(v["authenticity"], "suspect");
    let ids: Vec<i64> = v["case_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert!(
        ids.len() >= 2 && ids.contains(&r["case_id"].as_i64().unwrap()),
        "{r}"
    );
}

#[test]
fn bad_reports_get_clear_errors() {
    let server = shared_demo_server();
    for (body, status, code) in [
        (json!({"code": "abc"}), 422, "not_reportable"),
        (
            json!({"code": "1", "report_id": "short"}),
            400,
            "invalid_report_id",
        ),
        (
            json!({"code": "1", "report_id": "has space in it"}),
            400,
            "invalid_report_id",
        ),
        (json!({"code": "1", "colour": "red"}), 400, "invalid_json"),
        (json!({"note": "no code"}), 400, "invalid_json"),
        (json!({"code": "1", "lang": "fr"}), 400, "invalid_lang"),
        (
            json!({"code": "1", "channel": "kiosk"}),
            403,
            "kiosk_certificate_required",
        ),
        (
            json!({"code": "1", "channel": "sms"}),
            400,
            "channel_not_allowed",
        ),
    ] {
        let r = report(&server, &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert_eq!(r.error_code(), code, "{body}");
    }
    let r = server.http("GET", "/v1/report", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
    let r = server.http("POST", "/v1/report", Some(&vec![b' '; 9000]));
    assert_eq!(r.status, 413);
}
