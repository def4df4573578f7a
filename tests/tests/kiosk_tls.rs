//! Kiosks over HTTPS with client certificates (SPEC "Channels → Kiosk"), end to end: the real
//! binary issues the certificates (`zhenwei kiosk add`), a real rustls client presents them over
//! a real socket to `zhenwei serve`, and the recorded history shows what the server made of it.
//!
//! | what | test |
//! |---|---|
//! | a kiosk's certificate → kiosk query with its store's place; files and modes; ALPN | `a_kiosk_with_its_certificate_is_accepted_and_recorded_at_its_store` |
//! | no certificate → kiosk refused (HTTPS and plain HTTP), web and health answered | `without_a_kiosk_certificate_only_web_queries_are_answered` |
//! | a certificate of another data directory's CA → handshake refused | `a_certificate_from_another_ca_is_refused_in_the_handshake` |
//! | revoke → 403 at once; re-issue → old certificate 403, new one accepted | `revoked_and_replaced_certificates_are_refused` |
//! | `--https off`, bad addresses, bad `kiosk` commands → clear errors | `https_off_and_operator_errors` |
//!
//! Each test has its own demo server, so their histories never mix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use serde_json::{json, Value};
use tempfile::TempDir;
use zhenwei_tests::accounts::{add_kiosk, mode};
use zhenwei_tests::http::Response;
use zhenwei_tests::mtls::{self, client, connect, default_client};
use zhenwei_tests::{assert_verdict, run_in, Server};

/// A kiosk's files as `zhenwei kiosk add --out DIR` writes them.
struct KioskFiles {
    dir: PathBuf,
}

impl KioskFiles {
    fn key(&self) -> PathBuf {
        self.dir.join("kiosk.key")
    }
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// The identity as [`mtls`] takes it: `kiosk.crt` and `kiosk.key` in the directory.
    fn identity(&self) -> Option<(&Path, &str)> {
        Some((&self.dir, "kiosk"))
    }
}

/// `zhenwei kiosk add --store STORE --name NAME --out TMP/NAME` on `data`; the kiosk.toml it
/// printed (checked equal to the file it wrote).
#[track_caller]
fn kiosk_add(data: &Path, tmp: &TempDir, store: &str, name: &str) -> (KioskFiles, toml::Value) {
    let dir = tmp.path().join(name);
    let out = add_kiosk(
        |a: &[&str]| run_in(data, a.iter().copied()),
        store,
        name,
        &dir,
    );
    let written = std::fs::read_to_string(dir.join("kiosk.toml")).expect("kiosk.toml");
    assert_eq!(out.stdout.trim_end(), written.trim_end());
    let config: toml::Value = toml::from_str(&written).expect("kiosk.toml is TOML");
    (KioskFiles { dir }, config)
}

/// One HTTPS request with a JSON body; `Err` when TLS (or anything else) failed before a
/// complete answer.
fn https(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Response, String> {
    let body = body.map(|b| b.to_string().into_bytes());
    mtls::send(addr, config, method, path, body.as_deref())
}

#[track_caller]
fn https_ok(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Response {
    https(addr, config, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[track_caller]
fn assert_refused(r: &Response, code: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.error_code(), code, "{}", r.text());
}

/// The recorded queries of a code: (channel, source, place).
fn history(server: &Server, code: &str) -> Vec<(String, String, Option<String>)> {
    let h = server.cli(["history", code, "--json"]).ok().json();
    h["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {h}"))
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap_or_default().to_owned(),
                e["source"].as_str().unwrap_or_default().to_owned(),
                e["place"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn a_kiosk_with_its_certificate_is_accepted_and_recorded_at_its_store() {
    let server = Server::start_demo();
    let tmp = TempDir::new().expect("temp dir");
    let data = server.data_dir();

    // The CA was made when the server started: private directory, private keys.
    let tls = data.join("tls");
    assert_eq!(mode(&tls), 0o700);
    assert_eq!(mode(&tls.join("ca.key")), 0o600);
    assert_eq!(mode(&tls.join("server.key")), 0o600);

    // Store 2 is the demo's Hangzhou store (330106).
    let (kiosk, config) = kiosk_add(data, &tmp, "2", "kiosk-tls-hz-02");
    assert_eq!(mode(&kiosk.dir), 0o700);
    assert_eq!(mode(&kiosk.key()), 0o600);
    assert_eq!(
        std::fs::read(kiosk.ca()).unwrap(),
        std::fs::read(tls.join("ca.crt")).unwrap()
    );
    assert_eq!(config["server"].as_str(), Some("https://127.0.0.1:8443"));
    assert_eq!(config["kiosk"].as_str(), Some("kiosk-tls-hz-02"));
    assert_eq!(config["division"].as_str(), Some("330106"));
    assert_eq!(config["store_id"].as_integer(), Some(2));
    for f in ["cert", "key", "ca"] {
        let rel = config["tls"][f].as_str().expect("a path");
        assert!(kiosk.dir.join(rel).is_file(), "tls.{f} = {rel}");
    }
    assert!(config["offline"]["hotline"].is_str() && config["offline"]["sms"].is_str());
    // The key is in the kiosk's directory only: not in the configuration, not in the log.
    let key_pem = std::fs::read_to_string(kiosk.key()).unwrap();
    let key_body = key_pem.lines().nth(1).expect("a PEM body line");
    assert!(!server.log().contains(key_body));
    assert!(!std::fs::read_to_string(kiosk.dir.join("kiosk.toml"))
        .unwrap()
        .contains("PRIVATE KEY"));

    let code = server.demo().code("genuine", 0).to_owned();
    let addr = server.https_addr();
    let r = https_ok(
        addr,
        default_client(&kiosk.ca(), kiosk.identity()),
        "POST",
        "/v1/verify",
        // The body cannot choose who the kiosk is.
        Some(&json!({"code": code, "channel": "kiosk", "lang": "en"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["first_queried_city"], "Hangzhou", "{v:#}");
    assert_eq!(
        history(&server, &code),
        [(
            "kiosk".to_owned(),
            "kiosk-tls-hz-02".to_owned(),
            Some("330106".to_owned())
        )]
    );

    // A kiosk connection that names no channel is a kiosk query too.
    let r = https_ok(
        addr,
        default_client(&kiosk.ca(), kiosk.identity()),
        "POST",
        "/v1/verify",
        Some(&json!({"code": code})),
    );
    assert_verdict(&r.json(), "genuine", &["repeat_query"]);
    assert_eq!(history(&server, &code)[1].0, "kiosk");

    // Its store's place is the place: another one in the body is refused, not used.
    let r = https_ok(
        addr,
        default_client(&kiosk.ca(), kiosk.identity()),
        "POST",
        "/v1/verify",
        Some(&json!({"code": code, "channel": "kiosk", "place": "310104"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "place_not_allowed");
    assert_eq!(history(&server, &code).len(), 2);

    // ALPN offers h2 and http/1.1; TLS 1.2 works as well as 1.3.
    let mut tls = connect(
        addr,
        client(
            &kiosk.ca(),
            kiosk.identity(),
            rustls::ALL_VERSIONS,
            &[b"h2".as_slice(), b"http/1.1".as_slice()],
        ),
    );
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .expect("TLS 1.3 handshake");
    }
    assert_eq!(tls.conn.alpn_protocol(), Some(b"h2".as_slice()));
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let tls12 = client(
        &kiosk.ca(),
        kiosk.identity(),
        &[&rustls::version::TLS12],
        &[b"http/1.1".as_slice()],
    );
    let r = https_ok(addr, tls12, "GET", "/healthz", None);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn without_a_kiosk_certificate_only_web_queries_are_answered() {
    let server = Server::start_demo();
    let ca = server.data_dir().join("tls").join("ca.crt");
    let addr = server.https_addr();
    let code = server.demo().code("genuine", 1).to_owned();

    // HTTPS without a certificate: the handshake succeeds (the page and health are public)…
    let r = https_ok(addr, default_client(&ca, None), "GET", "/healthz", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));

    // … but a kiosk query is refused, whatever the body claims.
    let r = https_ok(
        addr,
        default_client(&ca, None),
        "POST",
        "/v1/verify",
        Some(&json!({"code": code, "channel": "kiosk"})),
    );
    assert_refused(&r, "kiosk_certificate_required");
    // Plain HTTP cannot carry a certificate at all.
    let r = server.http_verify(&json!({"code": code, "channel": "kiosk"}));
    assert_refused(&r, "kiosk_certificate_required");
    assert!(
        history(&server, &code).is_empty(),
        "refused queries are not recorded"
    );

    // A web query over HTTPS is answered as one.
    let r = https_ok(
        addr,
        default_client(&ca, None),
        "POST",
        "/v1/verify",
        Some(&json!({"code": code})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_verdict(&r.json(), "genuine", &[]);
    let h = history(&server, &code);
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].0.as_str(), h[0].2.as_deref()), ("web", None));
}

#[test]
fn a_certificate_from_another_ca_is_refused_in_the_handshake() {
    let server = Server::start_demo();
    let tmp = TempDir::new().expect("temp dir");

    // Another zhenwei data directory: its own CA, a store, and a kiosk that even borrows the
    // name of one of the server's demo kiosks.
    let other = tmp.path().join("other-data");
    let out = run_in(
        &other,
        ["store", "add", "--name", "别处", "--division", "330203"],
    );
    out.ok();
    let (foreign, _) = kiosk_add(&other, &tmp, "1", "kiosk-nb-01");
    assert_ne!(
        std::fs::read(foreign.ca()).unwrap(),
        std::fs::read(server.data_dir().join("tls").join("ca.crt")).unwrap()
    );

    let code = server.demo().code("genuine", 2).to_owned();
    let server_ca = server.data_dir().join("tls").join("ca.crt");
    let result = https(
        server.https_addr(),
        default_client(&server_ca, foreign.identity()),
        "POST",
        "/v1/verify",
        Some(&json!({"code": code, "channel": "kiosk"})),
    );
    let err = match result {
        Ok(r) => panic!(
            "a foreign certificate got an HTTP answer: {} {}",
            r.status,
            r.text()
        ),
        Err(e) => e,
    };
    assert!(err.contains("alert"), "not a TLS alert: {err}");
    assert!(history(&server, &code).is_empty());

    // The server is unharmed.
    let r = https_ok(
        server.https_addr(),
        default_client(&server_ca, None),
        "GET",
        "/healthz",
        None,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn revoked_and_replaced_certificates_are_refused() {
    let server = Server::start_demo();
    let tmp = TempDir::new().expect("temp dir");
    let data = server.data_dir();
    let (kiosk, _) = kiosk_add(data, &tmp, "1", "kiosk-tls-nb-03");
    let addr = server.https_addr();
    let ask = |k: &KioskFiles, code: &str| {
        https_ok(
            addr,
            default_client(&k.ca(), k.identity()),
            "POST",
            "/v1/verify",
            Some(&json!({"code": code, "channel": "kiosk"})),
        )
    };
    let demo = server.demo().clone();
    let r = ask(&kiosk, demo.code("genuine", 3));
    assert_eq!(r.status, 200, "{}", r.text());

    let out = server.cli(["kiosk", "revoke", "kiosk-tls-nb-03"]);
    assert!(out.ok().stdout.contains("revoked"), "{}", out.stdout);
    assert_refused(
        &ask(&kiosk, demo.code("genuine", 4)),
        "kiosk_certificate_revoked",
    );
    assert!(history(&server, demo.code("genuine", 4)).is_empty());
    let line = server
        .cli(["kiosk", "revoke", "kiosk-tls-nb-03"])
        .clean_failure()
        .to_owned();
    assert!(line.contains("already revoked"), "{line}");

    let list = server.cli(["kiosk", "list", "--json"]).ok().json();
    let row = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|k| k["name"] == "kiosk-tls-nb-03")
        .unwrap_or_else(|| panic!("not listed: {list}"))
        .clone();
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["division"], "330203");

    // A new certificate: the kiosk is back, the old certificate stays out.
    let new_dir = tmp.path().join("reissued");
    server
        .cli([
            "kiosk",
            "issue",
            "kiosk-tls-nb-03",
            "--out",
            new_dir.to_str().expect("utf-8 path"),
        ])
        .ok();
    let reissued = KioskFiles { dir: new_dir };
    assert_refused(
        &ask(&kiosk, demo.code("genuine", 5)),
        "kiosk_certificate_unknown",
    );
    let r = ask(&reissued, demo.code("genuine", 5));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        history(&server, demo.code("genuine", 5)),
        [(
            "kiosk".to_owned(),
            "kiosk-tls-nb-03".to_owned(),
            Some("330203".to_owned())
        )]
    );
    // The audit log has the issues and the revocation.
    let audit = server.cli(["audit", "list"]).ok().stdout.clone();
    assert_eq!(audit.matches("\"kiosk.certificate\"").count(), 2, "{audit}");
    assert_eq!(audit.matches("\"kiosk.revoke\"").count(), 1, "{audit}");
}

#[test]
fn https_off_and_operator_errors() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("data");
    let server = Server::start(&data, &["--demo", "--https", "off"]);
    assert!(server.log().contains("https=off"), "{}", server.log());
    assert!(
        !data.join("tls").exists(),
        "no CA is made while HTTPS is off"
    );
    let r = server.http_verify(&json!({"code": "1", "channel": "kiosk"}));
    assert_refused(&r, "kiosk_certificate_required");

    let out = run_in(&data, ["serve", "--https", "nowhere"]);
    let line = out.clean_failure();
    assert!(
        line.contains("--https \"nowhere\" is neither an address nor \"off\""),
        "{line}"
    );
    let line = server
        .cli(["kiosk", "add", "--store", "99", "--name", "k"])
        .clean_failure()
        .to_owned();
    assert!(line.contains("no store with id 99"), "{line}");
    let line = server
        .cli(["kiosk", "add", "--store", "1", "--name", "../k"])
        .clean_failure()
        .to_owned();
    assert!(line.contains("give --out DIR"), "{line}");
    let line = server
        .cli(["kiosk", "issue", "no-such-kiosk"])
        .clean_failure()
        .to_owned();
    assert!(line.contains("no kiosk named \"no-such-kiosk\""), "{line}");
    let line = server
        .cli([
            "kiosk",
            "add",
            "--store",
            "1",
            "--name",
            "k",
            "--server-url",
            "http://127.0.0.1:8080",
        ])
        .clean_failure()
        .to_owned();
    assert!(line.contains("https:// only"), "{line}");
    // None of these registered anything.
    let list = server.cli(["kiosk", "list"]).ok().stdout.clone();
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(
        list.contains("kiosk-nb-01") && list.contains("no certificate"),
        "{list}"
    );
    assert!(server.stop().success());
}
