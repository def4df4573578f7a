//! The SIP hotline of a running `zhenwei serve`, against real peers over loopback: the RFC 4475
//! torture messages over UDP and TCP, `sipsak` and `sipvicious` (`svmap`) scans.
//!
//! `sipsak` and `svmap` come from Debian (`apt-get install sipsak sipvicious`, done by
//! `.ci/run`); without them those tests are skipped with a notice, except under `CI=true`, where
//! they fail.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use tempfile::TempDir;
use zhenwei_ivr::sip::message::{parse_datagram, Parsed, Response, StreamFramer};
use zhenwei_tests::{run_command, Server, LIMIT};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/rfc4475")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus().join("manifest.json"))
        .expect("the RFC 4475 corpus in ../shared/rfc4475 (beside the repository)");
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn server() -> (Server, TempDir) {
    let dir = TempDir::new().unwrap();
    (Server::start(dir.path(), &[]), dir)
}

/// An OPTIONS whose answer marks the end of what came before it.
fn probe(call_id: &str, via_transport: &str, local: SocketAddr) -> Vec<u8> {
    format!(
        "OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{via_transport} {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:ivr@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn is_probe(r: &Response, call_id: &str) -> bool {
    r.headers.get("call-id") == Some(call_id)
}

/// Acceptable per the manifest; "process" = handled as a normal request by an endpoint (2xx,
/// 405 for REGISTER/MESSAGE as RFC 4475 §3.3.7 lists for endpoints, 488 for an offer without
/// our codecs).
fn acceptable(entry: &Value, got: Option<u16>) -> bool {
    entry["acceptable_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| match (a, got) {
            (Value::String(s), None) => s == "discard",
            (Value::String(s), Some(c)) => {
                s == "process" && ((200..300).contains(&c) || c == 405 || c == 488)
            }
            (Value::Number(n), Some(c)) => n.as_u64() == Some(u64::from(c)),
            _ => false,
        })
}

/// Sends `bytes` in one datagram, then a probe; returns the final statuses answered before the
/// probe's answer.
fn udp_exchange(sip: SocketAddr, bytes: &[u8], n: usize) -> Vec<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    let call_id = format!("probe-udp-{n}");
    sock.send_to(bytes, sip).unwrap();
    sock.send_to(&probe(&call_id, "UDP", sock.local_addr().unwrap()), sip)
        .unwrap();
    let mut finals = Vec::new();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, _) = sock
            .recv_from(&mut buf)
            .expect("an answer to the probe (the server is alive)");
        match parse_datagram(&buf[..len]) {
            Parsed::Response(r) if is_probe(&r, &call_id) => {
                assert_eq!(r.status, 200);
                return finals;
            }
            Parsed::Response(r) if r.status >= 200 => finals.push(r.status),
            Parsed::Response(_) => {}
            other => panic!("the server sent something that is no response: {other:?}"),
        }
    }
}

/// Reads SIP responses off `stream` until `done` says stop or the server closes; returns them
/// and whether the server closed.
fn tcp_read(
    stream: &mut TcpStream,
    mut done: impl FnMut(&Response) -> bool,
) -> (Vec<Response>, bool) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut framer = StreamFramer::default();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(p) = framer.next_message() {
            match p {
                Parsed::Response(r) => {
                    let stop = done(&r);
                    got.push(*r);
                    if stop {
                        return (got, false);
                    }
                }
                Parsed::KeepAlive => {}
                other => panic!("the server sent something that is no response: {other:?}"),
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => framer.push(&buf[..n]),
            Err(e) => panic!("reading the server's answer: {e}"),
        }
    }
}

fn finals(rs: &[Response]) -> Vec<u16> {
    rs.iter().map(|r| r.status).filter(|s| *s >= 200).collect()
}

#[test]
fn torture_messages_over_udp_and_tcp_are_answered_per_rfc_4475_and_the_server_survives() {
    let (server, _dir) = server();
    let sip = server.sip_addr();
    let mut failures = Vec::new();
    for (n, e) in manifest().iter().enumerate() {
        let file = e["file"].as_str().unwrap();
        let bytes = std::fs::read(corpus().join(file)).unwrap();

        // UDP: one datagram, as the RFC assumes.
        let got = udp_exchange(sip, &bytes, n).last().copied();
        if !acceptable(e, got) {
            failures.push(format!(
                "udp {file}: {got:?}, RFC accepts {}",
                e["acceptable_outcomes"]
            ));
        }

        // TCP: one connection per message.
        let mut stream = TcpStream::connect(sip).unwrap();
        stream.write_all(&bytes).unwrap();
        // Responses are never answered; the probe after one shows nothing was.
        let discard = e["kind"] == "response";
        match file {
            // Content-Length 9999 with 154 octets: the server waits; when we stop sending it
            // closes without answering.
            "clerr.dat" => {
                stream.shutdown(Shutdown::Write).unwrap();
                let (rs, closed) = tcp_read(&mut stream, |_| false);
                if !(rs.is_empty() && closed) {
                    failures.push(format!("tcp {file}: {:?}, closed {closed}", finals(&rs)));
                }
            }
            // Unframeable Content-Length: 400, then the connection is closed.
            "ncl.dat" | "mcl01.dat" => {
                let (rs, closed) = tcp_read(&mut stream, |_| false);
                if finals(&rs) != vec![400] || !closed {
                    failures.push(format!("tcp {file}: {:?}, closed {closed}", finals(&rs)));
                }
            }
            _ if discard => {
                let call_id = format!("probe-tcp-{n}");
                let local = stream.local_addr().unwrap();
                stream.write_all(&probe(&call_id, "TCP", local)).unwrap();
                let (rs, _) = tcp_read(&mut stream, |r| is_probe(r, &call_id));
                let before: Vec<u16> = rs
                    .iter()
                    .filter(|r| !is_probe(r, &call_id))
                    .map(|r| r.status)
                    .collect();
                if !before.is_empty() {
                    failures.push(format!("tcp {file}: answered a response with {before:?}"));
                }
            }
            _ => {
                if file == "baddn.dat" {
                    // The archive's copy lacks the empty line that ends its headers.
                    stream.write_all(b"\r\n").unwrap();
                }
                let (rs, _) = tcp_read(&mut stream, |r| r.status >= 200);
                let got = finals(&rs).first().copied();
                if !acceptable(e, got) {
                    failures.push(format!(
                        "tcp {file}: {got:?}, RFC accepts {}",
                        e["acceptable_outcomes"]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Alive and answering after all 100 messages.
    assert!(udp_exchange(sip, b"\r\n\r\n", 999).is_empty());
    let mut stream = TcpStream::connect(sip).unwrap();
    let local = stream.local_addr().unwrap();
    stream.write_all(&probe("after-all", "TCP", local)).unwrap();
    let (rs, _) = tcp_read(&mut stream, |r| is_probe(r, "after-all"));
    assert_eq!(finals(&rs), vec![200]);
    let log = server.log();
    zhenwei_tests::assert_no_panic(&log, "after the torture messages");
}

/// The path of `tool`, or `None` (skipping) when it is not installed and not under CI.
fn tool_or_skip(tool: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        let hint = "apt-get install sipsak sipvicious baresip";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test} needs {tool}; install it with {hint}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "skipping {test}: {tool} not found; {hint}"
        );
    }
    found
}

/// The header lines of the SIP message in `text` after `marker`.
fn headers_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let Some(at) = text.find(marker) else {
        return Vec::new();
    };
    text[at..]
        .lines()
        .skip_while(|l| !l.starts_with("SIP/2.0 "))
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn sipsak_options_gets_200_without_software_version_or_extensions() {
    let Some(sipsak) = tool_or_skip("sipsak", "sipsak_options") else {
        return;
    };
    let (server, _dir) = server();
    let mut cmd = Command::new(sipsak);
    cmd.args(["-vv", "-s", &format!("sip:ivr@{}", server.sip_addr())]);
    let out = run_command(cmd, None);
    let stdout = out.stdout.clone();
    assert_eq!(out.exit_code(), Some(0), "sipsak:\n{stdout}{}", out.stderr);
    let reply = headers_after(&stdout, "message received");
    assert_eq!(reply.first().copied(), Some("SIP/2.0 200 OK"), "{stdout}");
    assert!(
        reply.contains(&"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"),
        "{reply:?}"
    );
    for h in ["server:", "user-agent:", "supported:", "x-"] {
        assert!(
            !reply.iter().any(|l| l.to_ascii_lowercase().starts_with(h)),
            "the answer discloses {h} {reply:?}"
        );
    }
}

#[test]
fn svmap_finds_the_server_but_no_software_version() {
    let Some(svmap) = tool_or_skip("svmap", "svmap_scan") else {
        return;
    };
    let (server, _dir) = server();
    let sip = server.sip_addr();
    let mut cmd = Command::new(svmap);
    cmd.args(["127.0.0.1", "-p", &sip.port().to_string()]);
    let started = Instant::now();
    let out = run_command(cmd, None);
    let stdout = out.stdout.clone();
    assert_eq!(out.exit_code(), Some(0), "svmap:\n{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", sip.port())))
        .unwrap_or_else(|| {
            panic!(
                "svmap did not find the server ({:?}):\n{stdout}",
                started.elapsed()
            )
        });
    // svmap shows the Server/User-Agent header as the device's "User Agent"; we send none.
    let columns: Vec<&str> = row
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        vec![format!("127.0.0.1:{}", sip.port()).as_str(), "unknown"],
        "{stdout}"
    );
}

#[test]
fn sip_over_tls_answers_options_with_a_certificate_from_the_data_directory_ca() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::sync::Arc;

    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path(), &["--sip-tls", "127.0.0.1:0"]);
    let ca = dir.path().join("tls").join("ca.crt");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.sip_tls_addr()).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let local = tcp.local_addr().unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&probe("over-tls", "TLS", local)).unwrap();
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let response = loop {
        if let Some(p) = framer.next_message() {
            break p;
        }
        let n = tls.read(&mut buf).expect("an answer over TLS");
        assert!(n > 0, "the server closed the TLS connection");
        framer.push(&buf[..n]);
    };
    let Parsed::Response(r) = response else {
        panic!("not a response: {response:?}");
    };
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("call-id"), Some("over-tls"));
}
