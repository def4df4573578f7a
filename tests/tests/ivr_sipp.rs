//! sipp (Debian's `sip-tester`) as an independent, real SIP peer of the voice menu, for what
//! Debian's baresip cannot do: DTMF by SIP INFO and by RFC 4733 events, hold/unhold by
//! re-INVITE (and that no RTP is sent while held), keys typed ahead of the verdict, and the
//! transfer to an agent by REFER. Each test starts the real `zhenwei serve
//! --demo`, runs one sipp scenario (`tests/peers/sipp/*.xml`) over UDP on loopback, asserts
//! sipp's exit code 0 (every expected message arrived, in order, within the scenario's
//! timeouts), then the facts in the database: the query with channel `ivr` and verdict
//! `genuine` in `zhenwei history`, the call in `zhenwei calls`.
//!
//! The scenarios key "2" (English), a demo genuine code, "#", "1" to confirm; the keys go in as
//! the sipp variable `keys` (`-set keys …`, "." ends it), which a loop in the scenario sends one
//! INFO per key. RFC 4733 keys are RTP packets played from pcap files: Debian's own
//! `dtmf_2833_2.pcap` for the language, then a pcap this test writes for the rest.
//!
//! Needs `sipp` (`.ci/run` installs `sip-tester`); without it the tests are skipped with a
//! notice, except under `CI=true`, where they fail.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zhenwei_tests::{Server, LIMIT};

/// Debian's sip-tester ships RFC 2833/4733 event captures, one per key.
const DEBIAN_PCAPS: &str = "/usr/share/sip-tester";

/// The agent URI the transfer test configures; `transfer.xml` expects exactly this Refer-To.
const AGENT: &str = "sip:agent@pbx.example";

fn sipp() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("sipp"))
        .find(|p| p.is_file());
    if found.is_none() {
        let hint = "apt-get install sip-tester";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the IVR sipp tests need sipp; install it with {hint}");
        }
        let _ = writeln!(std::io::stderr(), "skipping: sipp not found; {hint}");
    }
    found
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("peers/sipp")
        .join(name)
}

/// A free UDP port on loopback whose successor is free too (sipp binds media port + 2 for
/// video, and may use the next ones). Bound and released: a small race, as with any tool that
/// takes a port number.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port > 65000 || port % 2 == 1 {
            continue;
        }
        let free = (1..4).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok());
        if free {
            return port;
        }
    }
    panic!("no free UDP port pair on loopback");
}

/// Runs one scenario against `target` in `dir` (where it and its pcaps are copied), one call;
/// returns sipp's output, asserting it exited 0.
fn run_sipp(sipp: &Path, dir: &Path, xml: &str, target: SocketAddr, args: &[&str]) -> String {
    let local = dir.join(xml);
    std::fs::copy(scenario(xml), &local).unwrap();
    let sip_port = free_port_pair();
    let media_port = free_port_pair();
    let mut cmd = Command::new(sipp);
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&local)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "90s", "-timeout_error"])
        .args(["-trace_msg", "-trace_err", "-trace_logs"])
        .args(args)
        .arg(target.to_string())
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = cmd.output().expect("running sipp");
    let traces: String = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            format!(
                "=== {}\n{}\n",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        out.status.code(),
        Some(0),
        "sipp {xml} failed after {:?}:\n{}\n{}\n{traces}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    traces
}

/// The ivr queries of `code` in `zhenwei history`.
fn ivr_queries(server: &Server, code: &str) -> Vec<serde_json::Value> {
    let h = server.cli(["history", code, "--json"]).ok().json();
    h["events"]
        .as_array()
        .or_else(|| h.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["channel"] == "ivr")
        .collect()
}

/// The one call in the stored call log, once it has ended (the log row is written at the end).
fn the_call(server: &Server) -> serde_json::Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let calls = server.cli(["calls", "--json"]).ok().json();
        if let Some([c]) = calls.as_array().map(Vec::as_slice) {
            if !c["ended_at"].is_null() {
                return c.clone();
            }
        }
        assert!(Instant::now() < deadline, "no ended call logged: {calls}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The call keyed `code` in English, confirmed it, and heard it was genuine.
fn assert_genuine_in_english(server: &Server, code: &str) -> serde_json::Value {
    let c = the_call(server);
    assert_eq!(c["caller"], "138****0002", "{c}");
    assert_eq!(c["lang"], "en", "the language key was acted on: {c}");
    assert_eq!(c["queries"][0]["code"], code, "{c}");
    assert_eq!(c["queries"][0]["authenticity"], "genuine", "{c}");
    let q = ivr_queries(server, code);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["authenticity"], "genuine", "{q:?}");
    c
}

fn info_call(info_type: &str, prefix: &str) {
    let Some(sipp) = sipp() else { return };
    let server = Server::start_demo();
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    let keys = format!("2{code}#1.");
    run_sipp(
        &sipp,
        dir.path(),
        "info_keys.xml",
        server.sip_addr(),
        &[
            "-key",
            "info_type",
            info_type,
            "-key",
            "info_prefix",
            prefix,
            "-set",
            "keys",
            &keys,
        ],
    );
    let c = assert_genuine_in_english(&server, &code);
    assert_eq!(c["hangup"], "caller_bye", "{c}");
}

#[test]
fn sipp_keys_a_code_by_sip_info_dtmf_relay() {
    info_call("application/dtmf-relay", "Signal=");
}

#[test]
fn sipp_keys_a_code_by_sip_info_application_dtmf() {
    info_call("application/dtmf", "");
}

/// A pcap (Ethernet/IPv4/UDP, the headers copied from Debian's capture, whose sizes match) of
/// RFC 4733 telephone-event packets for `keys`, 0.3 s apart: per key seven updates 20 ms apart
/// (marker on the first) and three end packets, all with the key's timestamp; payload type 101,
/// the SSRC of Debian's captures, timestamps after theirs.
fn rfc4733_pcap(template: &[u8], keys: &str) -> Vec<u8> {
    let headers = &template[24 + 16..24 + 16 + 42];
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let (mut seq, mut ts) = (0x1f80u16, 31_200u32);
    for (k, key) in keys.chars().enumerate() {
        let event: u8 = match key {
            '*' => 10,
            '#' => 11,
            d => d.to_digit(10).unwrap() as u8,
        };
        for i in 0..10u32 {
            let end = i >= 7;
            let duration = 160 * (i.min(7) + 1) as u16;
            let at_us = k as u64 * 300_000 + u64::from(i.min(7)) * 20_000;
            let mut rtp = vec![0x80, if i == 0 { 0x80 | 101 } else { 101 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&0x0e05_384eu32.to_be_bytes());
            rtp.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
            rtp.extend_from_slice(&duration.to_be_bytes());
            let len = (headers.len() + rtp.len()) as u32;
            let sec = 1000 + (at_us / 1_000_000) as u32;
            for v in [sec, (at_us % 1_000_000) as u32, len, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(headers);
            out.extend_from_slice(&rtp);
            seq = seq.wrapping_add(1);
        }
        ts = ts.wrapping_add(2400);
    }
    out
}

#[test]
fn sipp_keys_a_code_by_rfc_4733_events() {
    let Some(sipp) = sipp() else { return };
    let debian = Path::new(DEBIAN_PCAPS).join("dtmf_2833_2.pcap");
    let template = std::fs::read(&debian)
        .unwrap_or_else(|e| panic!("{}: {e} (sip-tester's pcaps)", debian.display()));
    assert!(
        template.len() >= 24 + 16 + 42,
        "Debian's capture is too short"
    );
    let server = Server::start_demo();
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("keys.pcap"),
        rfc4733_pcap(&template, &format!("{code}#1")),
    )
    .unwrap();
    run_sipp(
        &sipp,
        dir.path(),
        "rfc4733_keys.xml",
        server.sip_addr(),
        &[],
    );
    let c = assert_genuine_in_english(&server, &code);
    assert_eq!(c["hangup"], "caller_bye", "{c}");
    // Every key arrived as an event (no INFO in this scenario): the server's summary counts them.
    let log = server.log();
    let keys = format!("keys={}", code.len() + 3);
    assert!(log.contains(&keys), "{keys} in {log}");
}

/// What one RTP port received.
#[derive(Debug, Default)]
struct Received {
    /// RTP packets (version 2, PCMA).
    packets: usize,
    ssrcs: Vec<u32>,
    first_sequence: Option<u16>,
    last_sequence: Option<u16>,
}

/// A loopback UDP port that counts the RTP packets sent to it until stopped.
struct RtpCounter {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Received>,
}

impl RtpCounter {
    fn bind() -> RtpCounter {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut r = Received::default();
            let mut buf = [0u8; 2048];
            while !stopped.load(Ordering::SeqCst) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue; // the read timeout: look at the stop flag again
                };
                let p = &buf[..n];
                if n < 12 || p[0] >> 6 != 2 || p[1] & 0x7f != 8 {
                    continue;
                }
                let seq = u16::from_be_bytes([p[2], p[3]]);
                let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
                r.packets += 1;
                if !r.ssrcs.contains(&ssrc) {
                    r.ssrcs.push(ssrc);
                }
                r.first_sequence.get_or_insert(seq);
                r.last_sequence = Some(seq);
            }
            r
        });
        RtpCounter { port, stop, thread }
    }

    fn finish(self) -> Received {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn sipp_holds_and_resumes_the_call_and_keys_on() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start_demo();
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    let keys = format!("2{code}#1.");
    // The caller names a new RTP port in each phase: what arrives on `held` was sent while the
    // IVR was on hold — after it took the sendonly offer, before it took the sendrecv one.
    let (before, held, after) = (RtpCounter::bind(), RtpCounter::bind(), RtpCounter::bind());
    let ports = [before.port, held.port, after.port].map(|p| p.to_string());
    let traces = run_sipp(
        &sipp,
        dir.path(),
        "hold.xml",
        server.sip_addr(),
        &[
            "-set",
            "keys",
            &keys,
            "-set",
            "before_port",
            &ports[0],
            "-set",
            "held_port",
            &ports[1],
            "-set",
            "after_port",
            &ports[2],
        ],
    );
    assert!(
        traces.contains("sendonly answered with recvonly")
            || traces.contains("sendonly answered with inactive"),
        "{traces}"
    );
    assert!(
        traces.contains("sendrecv answered with sendrecv"),
        "{traces}"
    );
    let c = assert_genuine_in_english(&server, &code);
    assert_eq!(c["hangup"], "caller_bye", "{c}");
    // The call has ended (its log row is written at the end): nothing more will be sent.
    let (before, held, after) = (before.finish(), held.finish(), after.finish());
    println!(
        "RTP packets received: before the hold {}, on hold {}, after it {}",
        before.packets, held.packets, after.packets
    );
    assert!(
        before.packets > 0,
        "the IVR sent nothing before the hold: {before:?}"
    );
    assert_eq!(
        held.packets, 0,
        "the IVR sent RTP while on hold (sipp held it 1 s): {held:?}"
    );
    assert!(
        after.packets > 0,
        "the IVR did not resume after the hold: {after:?}"
    );
    // One stream, resumed: the same SSRC, numbering that goes on from before the hold.
    assert_eq!(before.ssrcs.len(), 1, "{before:?}");
    assert_eq!(after.ssrcs, before.ssrcs, "{before:?} {after:?}");
    let (last, first) = (before.last_sequence.unwrap(), after.first_sequence.unwrap());
    assert!(
        first.wrapping_sub(last) > 0 && first.wrapping_sub(last) < 0x8000,
        "sequence {last} before the hold, {first} after"
    );
}

/// A caller who knows the menu: the code, # and 1, then 9 (report) at once, while the core is
/// still checking the code. The 9 is not lost: it reports — the query just made, not a second
/// one — and the call ends with the report's confirmation.
#[test]
fn sipp_types_9_ahead_of_the_verdict_and_the_report_is_made() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start_demo();
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    let keys = format!("2{code}#1.");
    run_sipp(
        &sipp,
        dir.path(),
        "typeahead.xml",
        server.sip_addr(),
        &["-set", "keys", &keys, "-set", "then", "9"],
    );
    let c = the_call(&server);
    assert_eq!(c["lang"], "en", "{c}");
    assert_eq!(c["queries"][0]["code"], code, "{c}");
    assert_eq!(c["queries"][0]["authenticity"], "genuine", "{c}");
    // The IVR hung up after "report received, your case number is …, goodbye".
    assert_eq!(c["hangup"], "goodbye", "{c}");
    let case = c["case_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the 9 typed ahead opened no case: {c}"));
    let k = server.cli(["cases", "show", &case.to_string()]).ok().json();
    assert_eq!(k["reason"], "consumer_report", "{k}");
    assert_eq!(k["status"], "open", "{k}");
    // The report is filed against the check: one query by phone, the case's one piece of
    // evidence — the code is not counted a second time.
    let q = ivr_queries(&server, &code);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["authenticity"], "genuine", "{q:?}");
    assert_eq!(c["queries"][0]["event_id"], q[0]["id"], "{c} {q:?}");
    assert_eq!(k["event_count"], 1, "{k}");
}

#[test]
fn sipp_is_transferred_to_the_agent_by_refer() {
    let Some(sipp) = sipp() else { return };
    let data = TempDir::new().unwrap();
    let config = data.path().join("zhenwei.toml");
    std::fs::write(&config, format!("[sip]\nagent_uri = \"{AGENT}\"\n")).unwrap();
    let dir = data.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(&dir, &["--demo", "--config", config.to_str().unwrap()]);
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    // English, the code, confirm; the scenario then presses 0 for an agent.
    let keys = format!("2{code}#1.");
    let traces = run_sipp(
        &sipp,
        dir.path(),
        "transfer.xml",
        server.sip_addr(),
        &["-set", "keys", &keys],
    );
    assert!(traces.contains(&format!("REFER to <{AGENT}>")), "{traces}");
    let c = assert_genuine_in_english(&server, &code);
    assert_eq!(c["transfer_to"], AGENT, "{c}");
    assert_eq!(c["hangup"], "transferred", "{c}");
}
