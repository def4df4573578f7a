//! `openapi.json` (the repository's OpenAPI 3.1 document) against the real server and sources,
//! so the document cannot drift:
//!
//! * every path the server answers is documented, with exactly the methods it accepts (the
//!   others get 405), and every documented operation is answered;
//! * real `/v1/verify` answers for every demo scenario, and for input that is no code, have
//!   exactly the properties the `Verdict` schema lists, with values it allows;
//! * the enums list exactly the values the code can produce (`Warning`, `Authenticity`,
//!   `Family`, `PrefixStatus`, `CodeError.code`, read from the sources' `as_str`/`code`
//!   functions), and every error code the server's sources send is in `Error.code`;
//! * real error answers have the `Error` shape, with a status the document lists.
//!
//! A small JSON Schema checker (the subset the document uses: `$ref`, `anyOf`, `type`, `const`,
//! `enum`, `properties`, `required`, `additionalProperties: false`, `items`, `minimum`) does the
//! checking; no YAML or schema crate is needed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use zhenwei_tests::{random_digits, shared_demo_server, LIMIT};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

fn document() -> Value {
    let path = repo().join("openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "not an OpenAPI 3.1 document: {}",
        doc["openapi"]
    );
    doc
}

fn source(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "openapi.json has no schema {name}");
    s
}

// ---- a JSON Schema checker for the subset the document uses ------------------------------

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema type {other:?} is not supported by this checker"),
    }
}

/// Appends to `errs` every way `v` breaks `schema` (resolving `$ref`s in `doc`).
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        return check(doc, &doc["components"]["schemas"][name], v, at, errs);
    }
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let mut all = Vec::new();
        for alt in alternatives {
            let mut e = Vec::new();
            check(doc, alt, v, at, &mut e);
            if e.is_empty() {
                return;
            }
            all.extend(e);
        }
        errs.push(format!(
            "{at}: matches no alternative of anyOf ({})",
            all.join("; ")
        ));
        return;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => panic!("bad type {other}"),
        };
        if !types.iter().any(|t| type_matches(t, v)) {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!(
                "{at}: {v} is not one of {}",
                Value::from(e.clone())
            ));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_i64), v.as_i64()) {
        if n < min {
            errs.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let Value::Object(map) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().expect("required names are strings");
            if !map.contains_key(r) {
                errs.push(format!("{at}: the documented property {r:?} is missing"));
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            for k in map.keys() {
                if !props.is_some_and(|p| p.contains_key(k)) {
                    errs.push(format!("{at}: property {k:?} is not documented"));
                }
            }
        }
        for (k, s) in props.into_iter().flatten() {
            if let Some(x) = map.get(k) {
                check(doc, s, x, &format!("{at}.{k}"), errs);
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, x) in items.iter().enumerate() {
            check(doc, s, x, &format!("{at}[{i}]"), errs);
        }
    }
}

#[track_caller]
fn assert_valid(doc: &Value, schema_name: &str, v: &Value) {
    let mut errs = Vec::new();
    check(doc, schema(doc, schema_name), v, schema_name, &mut errs);
    assert!(
        errs.is_empty(),
        "the answer does not match openapi.json's {schema_name}:\n  {}\nanswer: {v:#}",
        errs.join("\n  ")
    );
}

#[test]
fn the_checker_catches_drift() {
    let doc = document();
    let good = json!({"error": {"code": "not_found", "message": "no such path: /x"}});
    assert_valid(&doc, "Error", &good);
    let mut errs = Vec::new();
    let extra = json!({"error": {"code": "not_found", "message": "m", "hint": "h"}});
    check(&doc, schema(&doc, "Error"), &extra, "Error", &mut errs);
    let missing = json!({"error": {"code": "not_found"}});
    check(&doc, schema(&doc, "Error"), &missing, "Error", &mut errs);
    let unknown_code = json!({"error": {"code": "teapot", "message": "m"}});
    check(
        &doc,
        schema(&doc, "Error"),
        &unknown_code,
        "Error",
        &mut errs,
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

/// The `Verdict` schema and every object schema it reaches list all their properties as
/// required and allow no others: a real verdict must then have exactly those properties.
#[test]
fn verdict_schemas_are_exact() {
    let doc = document();
    let mut seen = BTreeSet::new();
    let mut todo = vec!["Verdict".to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let s = schema(&doc, &name);
        let mut refs = Vec::new();
        collect_refs(s, &mut refs);
        todo.extend(refs);
        if s["type"] != "object" {
            continue;
        }
        let props: BTreeSet<&str> = s["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties"))
            .keys()
            .map(String::as_str)
            .collect();
        let required: BTreeSet<&str> = s["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no required list"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(props, required, "{name}: every property is always present");
        assert_eq!(
            s["additionalProperties"], false,
            "{name}: no other properties"
        );
    }
    assert!(
        seen.contains("Product") && seen.contains("Notice"),
        "{seen:?}"
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r.trim_start_matches("#/components/schemas/").to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

// ---- enums against the sources -----------------------------------------------------------

/// The string literals returned by `fn NAME` in the `impl` block that starts with `marker`.
fn literals_of_fn(file: &str, marker: &str, name: &str) -> BTreeSet<String> {
    let src = source(file);
    let start = src
        .find(marker)
        .unwrap_or_else(|| panic!("{file} has no {marker:?}"));
    let rest = &src[start..];
    let f = rest
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("{file}: no fn {name} after {marker:?}"));
    let body = &rest[f..];
    // The function ends at the first line that closes it at the impl's indentation.
    let end = body.find("\n    }\n").unwrap_or(body.len());
    let body = &body[..end];
    let mut out = BTreeSet::new();
    let mut parts = body.split("=> \"");
    parts.next();
    for p in parts {
        if let Some(lit) = p.split('"').next() {
            out.insert(lit.to_owned());
        }
    }
    assert!(!out.is_empty(), "{file}: found no literals in fn {name}");
    out
}

fn enum_of(s: &Value) -> BTreeSet<String> {
    s["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {s}"))
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
fn enums_list_exactly_what_the_code_produces() {
    let doc = document();
    let s = |n| enum_of(schema(&doc, n));
    assert_eq!(
        s("Warning"),
        literals_of_fn("core/src/verdict.rs", "impl Warning {", "as_str")
    );
    assert_eq!(
        s("Authenticity"),
        literals_of_fn("core/src/verdict.rs", "impl Authenticity {", "as_str")
    );
    assert_eq!(
        s("PrefixStatus"),
        literals_of_fn("core/src/verdict.rs", "impl PrefixStatus {", "as_str")
    );
    assert_eq!(
        s("Family"),
        literals_of_fn("core/src/codes/mod.rs", "impl Family {", "as_str")
    );

    // Why input is not a code: the decoders' reasons.
    let mut reasons = BTreeSet::new();
    for (file, marker) in [
        ("core/src/codes/mod.rs", "impl DecodeError {"),
        ("core/src/codes/gs1.rs", "impl Gs1Error {"),
        ("core/src/codes/gtin.rs", "impl GtinError {"),
        ("core/src/codes/text.rs", "impl PinError {"),
    ] {
        reasons.extend(literals_of_fn(file, marker, "code"));
    }
    let code_error = &schema(&doc, "CodeError")["properties"]["code"];
    assert_eq!(enum_of(code_error), reasons);
}

/// Error codes the server's sources send: `StatusCode::X, "code"` in any server module, and
/// the codes of the division and kiosk refusals.
#[test]
fn every_error_code_the_server_sends_is_documented() {
    let doc = document();
    let documented = enum_of(&schema(&doc, "Error")["properties"]["error"]["properties"]["code"]);
    let mut sent = BTreeSet::new();
    let dir = repo().join("server/src");
    for entry in std::fs::read_dir(&dir).expect("server/src") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("a source file");
        for piece in src.split("StatusCode::").skip(1) {
            let after = piece.trim_start_matches(|c: char| c.is_ascii_uppercase() || c == '_');
            let Some(after) = after.strip_prefix(',') else {
                continue;
            };
            let Some(lit) = after.trim_start().strip_prefix('"') else {
                continue;
            };
            let code = lit.split('"').next().unwrap_or_default();
            if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                sent.insert(code.to_owned());
            }
        }
    }
    sent.extend(literals_of_fn(
        "core/src/codes/division.rs",
        "impl DivisionError {",
        "code",
    ));
    if repo().join("server/src/tls.rs").exists() {
        sent.extend(literals_of_fn(
            "server/src/tls.rs",
            "impl KioskRefusal {",
            "code",
        ));
    }
    assert!(
        sent.contains("invalid_json") && sent.contains("not_found"),
        "{sent:?}"
    );
    let missing: Vec<_> = sent.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "error codes the server sends but openapi.json's Error does not list: {missing:?}"
    );
}

// ---- paths against the running server ----------------------------------------------------

/// The status of one request, read from the status line (works for HEAD too).
fn status_of(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
    s.set_read_timeout(Some(LIMIT)).expect("read timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status line in {text:?}"))
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// String literals in a source file that look like request paths (`"/…"`).
fn path_literals(file: &str) -> BTreeSet<String> {
    let src = source(file);
    src.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with('/')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_the_server_answers_is_documented() {
    let doc = document();
    let server = shared_demo_server();
    let addr = server.addr();
    let paths = doc["paths"].as_object().expect("paths");

    for (path, item) in paths {
        let documented: BTreeSet<String> = item
            .as_object()
            .expect("a path item")
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for method in METHODS {
            let status = if method == "POST" && path == "/v1/verify" {
                server
                    .http_verify(&json!({"code": random_digits(20)}))
                    .status
            } else {
                status_of(addr, method, path)
            };
            if documented.contains(method) {
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but the server answers {status}"
                );
                assert!(
                    item[method.to_ascii_lowercase()]["responses"][status.to_string()].is_object(),
                    "{method} {path} answers {status}, which openapi.json does not list"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented, but the server does not refuse it"
                );
                let any_op = item
                    .as_object()
                    .and_then(|m| m.values().next())
                    .expect("an operation");
                assert!(
                    any_op["responses"]["405"].is_object(),
                    "{path}: 405 is not documented"
                );
            }
        }
    }

    // Paths named in the router's sources are documented…
    let mut named = path_literals("server/src/http.rs");
    named.extend(path_literals("server/src/page.rs"));
    assert!(named.contains("/v1/verify"), "{named:?}");
    for p in &named {
        assert!(
            paths.contains_key(p),
            "the server routes {p} but openapi.json does not document it"
        );
    }
    // …and paths a client might guess are either documented or not found.
    for p in [
        "/metrics",
        "/openapi.json",
        "/index.html",
        "/favicon.ico",
        "/v1",
        "/v1/verify/",
        "/v1/report",
        "/v1/history",
        "/status",
        "/api",
    ] {
        let status = status_of(addr, "GET", p);
        assert!(
            status == 404 || paths.contains_key(p),
            "GET {p} answers {status}, but openapi.json does not document {p}"
        );
    }
}

#[test]
fn real_verdicts_have_exactly_the_documented_properties() {
    let doc = document();
    let server = shared_demo_server();
    let demo = server.demo();
    let mut inputs: Vec<String> = demo
        .0
        .values()
        .filter_map(|codes| codes.last().cloned())
        .collect();
    inputs.extend([
        random_digits(20),
        String::new(),
        "abc".into(),
        "x".repeat(600),
        "6901234000116".into(),
        "https://id.gs1.org/01/09506000134352/21/XYZ".into(),
    ]);
    let mut seen = BTreeSet::new();
    for (i, code) in inputs.iter().enumerate() {
        let lang = if i % 2 == 0 { "zh" } else { "en" };
        let r = server.http_verify(&json!({"code": code, "lang": lang}));
        assert_eq!(r.status, 200, "{code:?}: {}", r.text());
        let v = r.json();
        assert_valid(&doc, "Verdict", &v);
        seen.insert(v["authenticity"].as_str().unwrap_or_default().to_owned());
        for key in ["product", "enterprise", "batch", "error"] {
            if !v[key].is_null() {
                seen.insert(key.to_owned());
            }
        }
        if v["notices"].as_array().is_some_and(|n| !n.is_empty()) {
            seen.insert("notices".into());
        }
    }
    // The answers covered every kind of verdict and every nested object.
    for k in [
        "genuine",
        "suspect",
        "unknown",
        "not_a_code",
        "product",
        "enterprise",
        "batch",
        "error",
        "notices",
    ] {
        assert!(seen.contains(k), "no answer had {k}: {seen:?}");
    }
}

#[test]
fn real_errors_have_the_documented_shape_and_status() {
    let doc = document();
    let server = shared_demo_server();
    let verify_responses = &doc["paths"]["/v1/verify"]["post"]["responses"];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid_json", b"{not json".to_vec(), "400"),
        ("invalid_json", br#"{"code": 5}"#.to_vec(), "400"),
        (
            "invalid_json",
            br#"{"code": "1", "extra": true}"#.to_vec(),
            "400",
        ),
        (
            "invalid_channel",
            br#"{"code": "1", "channel": "fax"}"#.to_vec(),
            "400",
        ),
        (
            "channel_not_allowed",
            br#"{"code": "1", "channel": "sms"}"#.to_vec(),
            "400",
        ),
        (
            "invalid_lang",
            br#"{"code": "1", "lang": "fr"}"#.to_vec(),
            "400",
        ),
        (
            "division_bad_format",
            br#"{"code": "1", "place": "33"}"#.to_vec(),
            "400",
        ),
        (
            "division_unknown_province",
            br#"{"code": "1", "place": "990101"}"#.to_vec(),
            "400",
        ),
        ("body_too_large", vec![b' '; 9000], "413"),
    ];
    for (code, body, status) in cases {
        let r = server.http("POST", "/v1/verify", Some(&body));
        assert_eq!(r.status.to_string(), status, "{code}: {}", r.text());
        assert_eq!(r.error_code(), code, "{}", r.text());
        assert_valid(&doc, "Error", &r.json());
        assert!(
            verify_responses[status].is_object(),
            "POST /v1/verify answers {status}, which openapi.json does not list"
        );
    }
    for (method, path, code) in [
        ("GET", "/v1/verify", "method_not_allowed"),
        ("POST", "/healthz", "method_not_allowed"),
        ("PUT", "/", "method_not_allowed"),
        ("GET", "/nowhere", "not_found"),
    ] {
        let r = server.http(method, path, None);
        assert_eq!(r.error_code(), code, "{method} {path}: {}", r.text());
        assert_valid(&doc, "Error", &r.json());
    }
    let health = server.http("GET", "/healthz", None).json();
    let mut errs = Vec::new();
    let health_schema = &doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    check(&doc, health_schema, &health, "healthz", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
}

/// A regulator's feed import answers (200 and 422) have exactly the documented
/// `FeedImportReport` properties, and its refusals the `Error` shape with a listed status.
#[test]
fn real_feed_reports_have_the_documented_shape() {
    let doc = document();
    let server = shared_demo_server();
    let op = &doc["paths"]["/v1/feeds/{kind}"]["post"];
    let token = server
        .cli([
            "feed",
            "token",
            "add",
            "openapi-check",
            "--kind",
            "spot-check",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let auth = format!("Bearer {token}");
    // Entries that match no demo product, so the other tests' verdicts stay as they are.
    let body = br#"[{"id": "OPENAPI-1", "status": "withdrawn"},
        {"id": "OPENAPI-2", "status": "failed", "gtin": "6901234000116"}]"#;
    let post = |path: &str, headers: &[(&str, &str)]| {
        zhenwei_tests::http::request_with(server.addr(), "POST", path, headers, Some(body))
    };
    let mut seen = BTreeSet::new();
    for (path, headers, status) in [
        (
            "/v1/feeds/spot-check",
            vec![("Authorization", auth.as_str())],
            422,
        ),
        (
            "/v1/feeds/spot-check?skip_bad_rows=true",
            vec![("Authorization", auth.as_str())],
            200,
        ),
        ("/v1/feeds/spot-check", vec![], 401),
        (
            "/v1/feeds/recall",
            vec![("Authorization", auth.as_str())],
            403,
        ),
        (
            "/v1/feeds/nothing",
            vec![("Authorization", auth.as_str())],
            404,
        ),
    ] {
        let r = post(path, &headers);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let listed = &op["responses"][status.to_string()];
        assert!(
            listed.is_object(),
            "POST /v1/feeds/{{kind}} answers {status}, not listed"
        );
        let name = if status == 200 || status == 422 {
            "FeedImportReport"
        } else {
            "Error"
        };
        assert_eq!(
            listed["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{name}")
        );
        let v = r.json();
        assert_valid(&doc, name, &v);
        if name == "FeedImportReport" {
            assert_eq!(v["rejected"][0]["entry"], 2, "{v}");
            seen.insert(status);
        }
    }
    assert_eq!(seen.len(), 2);
}
