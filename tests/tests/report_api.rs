//! `POST /v1/report` (the kiosk's "report this product", open to the web page too): a report
//! opens the code's consumer-report case at the query's place and answers with its number; a
//! `report_id` makes it idempotent; bad requests get the one JSON error shape. Over HTTPS with a
//! kiosk certificate it is exercised end to end by `kiosk_agent.rs`. A report naming the
//! `event_id` of the verdict shown is filed against that query and records none of its own.
//!
//! Demo codes used (one server for this file): genuine 0, 1, 2, 3; not_activated 0.

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

    // The answer has exactly the properties openapi.json's ReportResult lists (but the one of
    // a report attached to an event).
    assert_eq!(
        keys_of(&first),
        documented_result_keys(&["attached_to_event"]),
        "{first}"
    );
    assert!(openapi()["paths"]["/v1/report"]["post"]["responses"]["422"].is_object());

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

fn openapi() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json"))
            .expect("openapi.json"),
    )
    .expect("openapi.json is JSON")
}

/// The properties openapi.json's ReportResult lists, sorted, but `except`.
fn documented_result_keys(except: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = openapi()["components"]["schemas"]["ReportResult"]["properties"]
        .as_object()
        .expect("ReportResult.properties")
        .keys()
        .filter(|k| !except.contains(&k.as_str()))
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn keys_of(answer: &Value) -> Vec<String> {
    let mut keys: Vec<String> = answer
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The events `zhenwei history` lists for `code`: their ids.
fn history_ids(server: &Server, code: &str) -> Vec<i64> {
    let history = server.cli(["history", code, "--json"]).ok().json();
    history["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{history:#}"))
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect()
}

/// Verify, then "report this product" with the verdict's `event_id`: the report is filed
/// against that query, so the code is counted once — the next verify is its second query, not
/// its third. An `event_id` that is not this source's query of this code is not used.
#[test]
fn a_report_of_the_verdict_shown_records_no_second_query() {
    let server = shared_demo_server();
    let code = server.demo().code("genuine", 2).to_owned();
    let r = server.http_verify(&json!({"code": code, "place": "330203"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = r.json();
    assert_eq!(shown["query_count"], 1, "{shown}");
    let event = shown["event_id"]
        .as_i64()
        .expect("the verify answer has event_id");

    let body = json!({
        "code": code, "place": "330203", "event_id": event,
        "note": "the seal is crooked", "report_id": "web-report-0101"
    });
    let r = report(&server, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let filed = r.json();
    let case_id = filed["case_id"].as_i64().expect("case_id");
    assert_eq!(filed["attached_to_event"].as_i64(), Some(event), "{filed}");
    assert_eq!(filed["replayed"], false, "{filed}");
    assert_eq!(
        keys_of(&filed),
        documented_result_keys(&["verdict"]),
        "no verdict: nothing was recorded ({filed})"
    );
    assert_eq!(
        case(&server, case_id),
        ("consumer_report".into(), "330203".into())
    );
    let k = server
        .cli(["cases", "show", &case_id.to_string()])
        .ok()
        .json();
    assert_eq!(k["event_count"], 1, "{k}");
    assert_eq!(
        history_ids(&server, &code),
        [event],
        "one query: the verify"
    );

    // Sent again (the answer was lost): the same case, replayed, nothing recorded.
    let again = report(&server, &body).json();
    assert_eq!(again["case_id"].as_i64(), Some(case_id), "{again}");
    assert_eq!(again["replayed"], true, "{again}");
    // The same verdict reported again without a report_id: the same case, no second link.
    let twice = report(&server, &json!({"code": code, "event_id": event})).json();
    assert_eq!(twice["case_id"].as_i64(), Some(case_id), "{twice}");
    assert_eq!(twice["attached_to_event"].as_i64(), Some(event), "{twice}");
    let k = server
        .cli(["cases", "show", &case_id.to_string()])
        .ok()
        .json();
    assert_eq!(k["event_count"], 1, "{k}");
    assert_eq!(history_ids(&server, &code), [event]);

    // The next shopper's verify is the code's second query.
    let next = server.http_verify(&json!({"code": code})).json();
    assert_eq!(next["query_count"], 2, "{next}");
    assert_eq!(next["warnings"], json!(["repeat_query"]), "{next}");

    // Another code's event is not used: the report records its own query.
    let other = server.demo().code("genuine", 3).to_owned();
    let r = report(&server, &json!({"code": other, "event_id": event}));
    assert_eq!(r.status, 200, "{}", r.text());
    let own = r.json();
    assert!(own.get("attached_to_event").is_none(), "{own}");
    assert_eq!(own["verdict"]["query_count"], 1, "{own}");
    let own_event = own["verdict"]["event_id"].as_i64().expect("its own event");
    assert_eq!(history_ids(&server, &other), [own_event]);
    assert_eq!(history_ids(&server, &code).len(), 2, "{code} untouched");
    // An event id that names no event: the same.
    let r = report(
        &server,
        &json!({"code": other, "event_id": 999_999_999_999i64}),
    )
    .json();
    assert!(r.get("attached_to_event").is_none(), "{r}");
    assert_eq!(r["verdict"]["query_count"], 2, "{r}");
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
        (json!({"code": "1", "event_id": "12"}), 400, "invalid_json"),
        (json!({"code": "1", "event_id": 1.5}), 400, "invalid_json"),
        (json!({"code": "1", "event_id": [12]}), 400, "invalid_json"),
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
