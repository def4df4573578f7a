//! Cases reach the right regulator and the brand enterprise, signed, over real sockets: the real
//! `zhenwei serve` delivers to the reference receiver (`zhenwei_tests::receiver`) over HTTPS with
//! its client certificate; the receiver verifies every signature and idempotency key.
//!
//! | what | test |
//! |---|---|
//! | suspect queries in two provinces → each case to the longest-prefix office and to the enterprise; escalation after 7 working days (time given on the command line); acknowledge → investigate → close, each change reported to the enterprise; invalid transitions refused; audit chain intact | `suspect_queries_are_routed_signed_delivered_escalated_and_closed` |
//! | receiver down → retries with backoff → delivered once it is back, exactly once, under the key every attempt had, carrying the evidence that arrived meanwhile (reports are built at send time); then evidence on the delivered case while it is down again → one coalesced `case.updated` holding all of it | `a_receiver_that_is_down_gets_the_report_when_it_is_back` |
//! | a receiver that never answers → dead letter after N attempts, in `/metrics` and `delivery list`; `delivery retry` queues it again | `after_the_last_attempt_a_delivery_is_dead_lettered` |

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tempfile::TempDir;
use zhenwei_tests::accounts::set_office;
use zhenwei_tests::receiver::Receiver;
use zhenwei_tests::{case_ids, run_in, Server, LIMIT};

/// A data directory with zhenwei's delivery identity, a receiver trusting it, and a config file.
struct Setup {
    tmp: TempDir,
    receiver: Receiver,
    keyid: String,
}

impl Setup {
    fn new(max_attempts: u32) -> Setup {
        let tmp = TempDir::new().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let id = run_in(&data, ["delivery", "identity"]).ok().json();
        let public_key = base64::engine::general_purpose::STANDARD
            .decode(id["public_key"].as_str().unwrap())
            .unwrap();
        assert_eq!(public_key.len(), 32);
        let receiver = Receiver::start(
            tmp.path(),
            Path::new(id["client_ca"].as_str().unwrap()),
            public_key,
        );
        std::fs::write(
            tmp.path().join("zhenwei.toml"),
            format!(
                "[delivery]\nmax_attempts = {max_attempts}\nbackoff_base_ms = 100\n\
                 backoff_max_ms = 300\npoll_ms = 50\ntimeout_ms = 5000\ntrust = [{:?}]\n\
                 [cases]\nescalation_check_seconds = 3600\n",
                receiver.ca_file().display().to_string()
            ),
        )
        .unwrap();
        Setup {
            keyid: id["keyid"].as_str().unwrap().to_owned(),
            tmp,
            receiver,
        }
    }

    fn data(&self) -> std::path::PathBuf {
        self.tmp.path().join("data")
    }

    fn config(&self) -> String {
        self.tmp.path().join("zhenwei.toml").display().to_string()
    }

    fn serve(&self) -> Server {
        Server::start(&self.data(), &["--demo", "--config", &self.config()])
    }

    /// Runs a CLI command with the config file.
    #[track_caller]
    fn cli(&self, args: &[&str]) -> zhenwei_tests::Output {
        let cfg = self.config();
        let mut all = vec!["--config", cfg.as_str()];
        all.extend_from_slice(args);
        run_in(&self.data(), all)
    }
}

/// Polls (bounded) until `f` returns `Some`.
#[track_caller]
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what} within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.http("GET", "/metrics", None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

fn suspect_case(server: &Server, code: &str, place: &str) -> (i64, Value) {
    let r = server.http_verify(&json!({"code": code, "place": place, "lang": "en"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["authenticity"], "suspect", "{v}");
    let ids = case_ids(&v);
    assert_eq!(ids.len(), 1, "{v}");
    (ids[0], v)
}

#[test]
fn suspect_queries_are_routed_signed_delivered_escalated_and_closed() {
    let s = Setup::new(10);
    let server = s.serve();
    let rx = &s.receiver;
    for (prefix, path) in [
        ("3302", "ningbo"),
        ("33", "zhejiang"),
        ("31", "shanghai"),
        ("national", "national"),
    ] {
        set_office(|a: &[&str]| s.cli(a), prefix, path, &rx.url(path));
    }
    let listed = s.cli(&["regulator", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 4);

    let demo = server.demo();
    let first = demo.code("not_activated", 0).to_owned();
    // The enterprise's endpoint, by the credit code its verdict shows.
    let probe = server.verify(demo.code("genuine", 0), &[]);
    let credit = probe["enterprise"]["credit_code"]
        .as_str()
        .unwrap()
        .to_owned();
    s.cli(&[
        "cases",
        "enterprise-url",
        "--credit-code",
        &credit,
        "--url",
        &rx.url("enterprise"),
    ])
    .ok();

    // A suspect query in Ningbo (county 330203): the city office 3302 is the longest prefix.
    let (ningbo_case, verdict) = suspect_case(&server, &first, "330203");
    let got = rx.wait_for("Ningbo report", |d| {
        d.path == "/ningbo" && d.body["case"]["id"] == ningbo_case
    });
    assert_eq!(got.keyid, s.keyid);
    let b = &got.body;
    assert_eq!(b["schema"], "zhenwei.case-report/1");
    assert_eq!(b["event"], "case.opened");
    assert_eq!(b["recipient"], "regulator");
    assert_eq!(b["case"]["reason"], "not_activated");
    assert_eq!(b["case"]["place"]["code"], "330203");
    assert_eq!(b["case"]["place"]["name_zh"], "海曙区");
    assert_eq!(b["case"]["office"]["prefix"], "3302");
    assert_eq!(b["case"]["office"]["level"], "city");
    assert_eq!(b["case"]["code"]["family"], "supervision");
    assert_eq!(b["case"]["code"]["value"], verdict["code"]);
    assert_eq!(b["product"]["gtin"], verdict["product"]["gtin"]);
    assert_eq!(
        b["enterprise"]["credit_code"],
        verdict["enterprise"]["credit_code"]
    );
    let ev = &b["evidence"][0];
    assert_eq!(ev["channel"], "web");
    assert_eq!(ev["source"], "127.0.*.*", "sources are masked");
    assert_eq!(ev["authenticity"], "suspect");
    assert_eq!(
        got.idempotency_key,
        format!("zw-c{ningbo_case}-v1-regulator-{}", {
            let offices = s.cli(&["regulator", "list", "--json"]).ok().json();
            offices
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["prefix"] == "3302")
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        })
    );

    // A scan at the Shanghai store's kiosk (store division 310104) goes to the Shanghai office;
    // the enterprise of the product gets both.
    let other = demo.code("not_activated", 1).to_owned();
    let v = s
        .cli(&["verify", &other, "--kiosk", "kiosk-sh-01", "--json"])
        .ok()
        .json();
    let shanghai_case = case_ids(&v)[0];
    let sh = rx.wait_for("Shanghai report", |d| {
        d.path == "/shanghai" && d.body["case"]["id"] == shanghai_case
    });
    assert_eq!(sh.body["case"]["place"]["code"], "310104");
    assert_eq!(sh.body["evidence"][0]["channel"], "kiosk");
    assert_eq!(sh.body["evidence"][0]["source"], "kiosk-sh-01");
    for case in [ningbo_case, shanghai_case] {
        let e = rx.wait_for("enterprise report", |d| {
            d.path == "/enterprise" && d.body["case"]["id"] == case
        });
        assert_eq!(e.body["recipient"], "enterprise");
    }
    assert!(
        rx.accepted()
            .iter()
            .all(|d| d.path != "/zhejiang" && d.path != "/national"),
        "nothing went to the higher offices yet"
    );
    // Delivered to the office in charge: the acknowledgement clock runs.
    let shown = eventually("delivered status", || {
        let c = s
            .cli(&["cases", "show", &ningbo_case.to_string()])
            .ok()
            .json();
        (c["status"] == "delivered").then_some(c)
    });
    let delivered_at = shown["delivered_at"].as_i64().unwrap();
    assert!(shown["due_at"].as_i64().unwrap() > delivered_at + 7 * 86_400_000);

    // Six calendar days later nothing happens; fourteen days later (≥ 7 working days, whatever
    // the weekday) both cases go one level up: Ningbo city → Zhejiang, Shanghai → national.
    let at = |days: i64| chrono_like_rfc3339(delivered_at + days * 86_400_000);
    let none = s.cli(&["cases", "escalate", "--now", &at(6)]).ok().json();
    assert_eq!(none["escalated"], json!([]), "{none}");
    let run = s.cli(&["cases", "escalate", "--now", &at(14)]).ok().json();
    let escalated = run["escalated"].as_array().unwrap();
    assert!(
        escalated.contains(&json!([ningbo_case, "3302", "33"])),
        "{run}"
    );
    assert!(
        escalated.contains(&json!([shanghai_case, "31", ""])),
        "{run}"
    );
    let up = rx.wait_for("escalated report", |d| {
        d.path == "/zhejiang" && d.body["case"]["id"] == ningbo_case
    });
    assert_eq!(up.body["event"], "case.escalated");
    assert_eq!(up.body["case"]["office"]["prefix"], "33");
    rx.wait_for("escalated report", |d| {
        d.path == "/national" && d.body["case"]["id"] == shanghai_case
    });
    // The new offices got the cases just now: their own 7 working days start again.
    let again = s.cli(&["cases", "escalate", "--now", &at(6)]).ok().json();
    assert_eq!(again["escalated"], json!([]), "{again}");

    // The province acknowledges, investigates and closes; the enterprise hears of each step.
    let id = ningbo_case.to_string();
    let refused = s.cli(&["cases", "close", &id, "--outcome", "genuine"]);
    assert!(
        refused.clean_failure().contains("acknowledge it first"),
        "{}",
        refused.stderr
    );
    let acked = s
        .cli(&["cases", "ack", &id, "--note", "received"])
        .ok()
        .json();
    assert_eq!(acked["status"], "acknowledged");
    s.cli(&["cases", "investigate", &id]).ok();
    let closed = s
        .cli(&["cases", "close", &id, "--outcome", "confirmed_counterfeit"])
        .ok()
        .json();
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["outcome"], "confirmed_counterfeit");
    for event in ["case.acknowledged", "case.investigating", "case.closed"] {
        let d = rx.wait_for(event, |d| {
            d.path == "/enterprise"
                && d.body["event"] == event
                && d.body["case"]["id"] == ningbo_case
        });
        if event == "case.closed" {
            assert_eq!(d.body["case"]["outcome"], "confirmed_counterfeit");
        }
    }
    let again = s.cli(&["cases", "ack", &id]);
    assert!(again.clean_failure().contains("closed"), "{}", again.stderr);
    assert!(s
        .cli(&["cases", "show", "999999"])
        .clean_failure()
        .contains("no case"));

    // Every report arrived verified, once; nothing was refused; each is what the published
    // schema describes.
    assert!(rx.rejected().is_empty(), "{:?}", rx.rejected());
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cases/report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for d in rx.accepted() {
        let mut errs = Vec::new();
        conforms(&schema, &d.body, "$", &mut errs);
        assert!(errs.is_empty(), "{} {}: {errs:?}", d.path, d.body);
    }
    let list = s
        .cli(&["cases", "list", "--within", "33", "--json"])
        .ok()
        .json();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.contains(&ningbo_case) && !ids.contains(&shanghai_case),
        "{ids:?}"
    );
    let audit = s.cli(&["audit", "verify"]).ok().stdout.clone();
    assert!(audit.contains("intact"), "{audit}");
    let log = s
        .cli(&["audit", "list", "--limit", "100000"])
        .ok()
        .stdout
        .clone();
    for action in [
        "regulator.set",
        "case.open",
        "case.delivered",
        "case.escalate",
        "case.acknowledged",
        "case.closed",
    ] {
        assert!(
            log.contains(&format!("\"action\":\"{action}\"")),
            "no {action} in the audit log"
        );
    }
    server.stop();
}

/// Checks `v` against the subset of JSON Schema that `docs/cases/report.schema.json` uses:
/// `type` (string or list), `const`, `enum`, `anyOf`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `maxItems`.
fn conforms(schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let type_ok = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "null" => v.is_null(),
        other => panic!("unsupported type {other}"),
    };
    match &schema["type"] {
        Value::String(t) if !type_ok(t) => errs.push(format!("{at}: not {t}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap())) => {
            errs.push(format!("{at}: none of {ts:?}"))
        }
        _ => {}
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(any) = schema["anyOf"].as_array() {
        let fits = any.iter().any(|s| {
            let mut e = Vec::new();
            conforms(s, v, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errs.push(format!("{at}: {v} fits no alternative"));
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), v.as_object()) {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing {r}"));
            }
        }
        for (k, val) in obj {
            match props.get(k) {
                Some(s) => conforms(s, val, &format!("{at}.{k}"), errs),
                None if schema["additionalProperties"] == false => {
                    errs.push(format!("{at}: unexpected {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        if let Some(max) = schema["maxItems"].as_u64() {
            if arr.len() as u64 > max {
                errs.push(format!("{at}: more than {max} items"));
            }
        }
        for (i, x) in arr.iter().enumerate() {
            conforms(items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

/// RFC 3339 in UTC for Unix milliseconds, without a date library in this crate.
fn chrono_like_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One more suspect query of `code` at `place` (it may open further cases of its own).
fn query_again(server: &Server, code: &str, place: &str) {
    let r = server.http_verify(&json!({"code": code, "place": place, "lang": "en"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["authenticity"], "suspect");
}

/// The evidence event ids of a report.
fn evidence_ids(body: &Value) -> Vec<i64> {
    body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_receiver_that_is_down_gets_the_report_when_it_is_back() {
    let mut s = Setup::new(50);
    let server = s.serve();
    let url = s.receiver.url("ningbo");
    set_office(|a: &[&str]| s.cli(a), "33", "浙江省市场监督管理局", &url);
    s.receiver.stop();
    let code = server.demo().code("not_activated", 0).to_owned();
    let (case, _) = suspect_case(&server, &code, "330203");
    eventually("two failed attempts", || {
        (metric(&server, "zhenwei_delivery_failed_attempts_total") >= 2.0).then_some(())
    });
    let pending = s.cli(&["delivery", "list", "--json"]).ok().json();
    let row = &pending.as_array().unwrap()[0];
    assert_eq!(row["case_id"], case);
    assert!(
        row["last_error"].as_str().unwrap().contains("connect"),
        "{row}"
    );
    // Two more queries while the office cannot be reached: the report is built at each attempt,
    // so the one that gets through carries them, under the key every attempt had.
    query_again(&server, &code, "330203");
    query_again(&server, &code, "330203");
    s.receiver.restart();
    let got = s
        .receiver
        .wait_for("the report after the receiver came back", |d| {
            d.body["case"]["id"] == case
        });
    assert_eq!(got.path, "/ningbo");
    assert_eq!(got.body["event"], "case.opened");
    assert_eq!(
        got.idempotency_key,
        row["idempotency_key"].as_str().unwrap()
    );
    assert_eq!(got.body["case"]["event_count"], 3, "{}", got.body);
    assert_eq!(evidence_ids(&got.body).len(), 3);
    let rows = eventually("the delivery marked delivered", || {
        let rows = s.cli(&["delivery", "list", "--json"]).ok().json();
        (rows[0]["state"] == "delivered").then_some(rows)
    });
    assert_eq!(rows.as_array().unwrap().len(), 1, "no update owed: {rows}");
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 3, "{rows}");
    assert!(s.receiver.duplicates().is_empty());
    assert_eq!(metric(&server, "zhenwei_delivery_sent_total"), 1.0);

    // Six more queries while the office is down again: they coalesce into the one pending
    // update, whose report, built when it finally goes out, holds all the evidence.
    s.receiver.stop();
    for _ in 0..6 {
        query_again(&server, &code, "330203");
    }
    let shown = s.cli(&["cases", "show", &case.to_string()]).ok().json();
    assert_eq!(shown["event_count"], 9, "{shown}");
    s.receiver.restart();
    let update = s.receiver.wait_for("the update with all evidence", |d| {
        d.body["case"]["id"] == case
            && d.body["event"] == "case.updated"
            && d.body["case"]["event_count"] == 9
    });
    assert_eq!(evidence_ids(&update.body).len(), 9);
    assert_eq!(update.body["case"]["status"], "delivered");
    let updates: Vec<String> = s
        .receiver
        .accepted()
        .into_iter()
        .filter(|d| d.body["case"]["id"] == case && d.body["event"] == "case.updated")
        .map(|d| d.idempotency_key)
        .collect();
    // Coalesced: not one per query. (One, unless a query landed in the instant an attempt held
    // the update: then a second, never more than the queries. The second is fresh while the
    // first waits out its backoff, so either may arrive first.)
    assert!(!updates.is_empty() && updates.len() < 6, "{updates:?}");
    let first_update = format!("zw-c{case}-u1-regulator-");
    assert!(
        updates.iter().any(|k| k.starts_with(&first_update)),
        "{updates:?}"
    );
    assert!(s.receiver.duplicates().is_empty());
    server.stop();
}

#[test]
fn after_the_last_attempt_a_delivery_is_dead_lettered() {
    let s = Setup::new(3);
    let server = s.serve();
    // A port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    set_office(
        |a: &[&str]| s.cli(a),
        "national",
        "国家市场监督管理总局",
        &format!("https://127.0.0.1:{closed}/cases"),
    );
    let code = server.demo().code("not_activated", 0).to_owned();
    let (case, _) = suspect_case(&server, &code, "440305");
    let dead = eventually("a dead letter", || {
        let rows = s
            .cli(&["delivery", "list", "--state", "dead", "--json"])
            .ok()
            .json();
        rows.as_array().unwrap().first().cloned()
    });
    assert_eq!(dead["case_id"], case);
    assert_eq!(dead["attempts"], 3);
    eventually("the dead-letter gauge", || {
        (metric(&server, "zhenwei_delivery_dead") == 1.0).then_some(())
    });
    assert_eq!(metric(&server, "zhenwei_delivery_dead_letters_total"), 1.0);
    assert_eq!(
        metric(&server, "zhenwei_delivery_failed_attempts_total"),
        3.0
    );
    // The case itself is still open: never delivered.
    let c = s.cli(&["cases", "show", &case.to_string()]).ok().json();
    assert_eq!(c["status"], "open");
    let id = dead["id"].to_string();
    s.cli(&["delivery", "retry", &id]).ok();
    assert!(s
        .cli(&["delivery", "retry", "999999"])
        .clean_failure()
        .contains("not dead-lettered"));
    server.stop();
}
