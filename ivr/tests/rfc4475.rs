//! Every message of RFC 4475 ("SIP Torture Test Messages") through the parser and the user
//! agent, over datagram and stream framing, checked against the outcome the RFC expects
//! (`/work/shared/rfc4475/manifest.json`, read from `../shared/rfc4475` beside the repository).

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use zhenwei_ivr::sip::call::{Answer, CallInfo, Reject};
use zhenwei_ivr::sip::message::{parse_datagram, Parsed, StreamFramer};
use zhenwei_ivr::sip::uas::{Output, Peer, Transport, Uas, UasConfig};

struct G711;

impl Answer for G711 {
    fn answer(&mut self, _: &CallInfo, offer: &str) -> Result<String, Reject> {
        let ok = offer.lines().any(|l| {
            l.starts_with("m=audio") && l.split(' ').skip(3).any(|p| p == "0" || p == "8")
        });
        ok.then(|| "v=0\r\nm=audio 4000 RTP/AVP 0\r\n".to_string())
            .ok_or(Reject::NotAcceptable)
    }
}

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

/// The final status the user agent sends (`None`: nothing sent).
fn outcome(outputs: &[Output]) -> Option<u16> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => match parse_datagram(bytes) {
                Parsed::Response(r) => Some(r.status),
                other => panic!("the user agent sent something unparseable: {other:?}"),
            },
            _ => None,
        })
        .rfind(|s| *s >= 200)
}

/// Whether `got` is one of the RFC's acceptable outcomes. "process" means handled as a normal
/// request by an endpoint: answered 2xx, 405 (REGISTER/MESSAGE: we are no registrar, which RFC
/// 4475 §3.3.7 lists for endpoints), or 488 (an offer without a codec of ours).
fn acceptable(entry: &Value, got: Option<u16>) -> bool {
    entry["acceptable_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| match (a, got) {
            (Value::String(s), None) => s == "discard",
            (Value::String(s), Some(code)) => {
                s == "process" && ((200..300).contains(&code) || code == 405 || code == 488)
            }
            (Value::Number(n), Some(code)) => n.as_u64() == Some(u64::from(code)),
            _ => false,
        })
}

fn peer(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: "127.0.0.1:5070".parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        conn: (transport != Transport::Udp).then_some(1),
    }
}

fn drain(uas: &mut Uas) -> Vec<Output> {
    std::iter::from_fn(|| uas.poll_output()).collect()
}

#[test]
fn every_torture_message_over_udp_gets_the_rfc_outcome() {
    let entries = manifest();
    assert_eq!(entries.len(), 50);
    let mut failures = Vec::new();
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        // The parser's verdict: valid messages parse.
        let parsed = parse_datagram(&bytes);
        let valid = e["valid"].as_bool().unwrap();
        let kind = e["kind"].as_str().unwrap();
        match (&parsed, valid, kind) {
            (Parsed::Request(_), true, "request") | (Parsed::Response(_), true, "response") => {}
            (Parsed::Invalid(_) | Parsed::Request(_) | Parsed::Response(_), false, _) => {}
            _ => failures.push(format!("{file}: valid {kind} parsed as {parsed:?}")),
        }
        let mut uas = Uas::new(UasConfig::default());
        uas.on_bytes(Instant::now(), peer(Transport::Udp), &bytes, &mut G711);
        let got = outcome(&drain(&mut uas));
        println!("{file:16} {:?} -> {got:?}", e["acceptable_outcomes"]);
        if !acceptable(e, got) {
            failures.push(format!(
                "{file} ({}): got {got:?}, RFC accepts {}",
                e["section"], e["acceptable_outcomes"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn torture_messages_over_a_stream() {
    let mut failures = Vec::new();
    for e in manifest() {
        let file = e["file"].as_str().unwrap();
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        let mut framer = StreamFramer::default();
        framer.push(&bytes);
        let first = framer.next_message();
        let mut uas = Uas::new(UasConfig::default());
        match (file, first) {
            // Content-Length beyond the bytes sent: a stream waits for the rest.
            ("clerr.dat", None) => continue,
            // The archive's copy lacks the empty line closing the headers: a stream waits too;
            // with it, the display names are refused.
            ("baddn.dat", None) => {
                framer.push(b"\r\n");
                let p = framer.next_message().expect("complete now");
                uas.on_parsed(Instant::now(), peer(Transport::Tcp), p, &mut G711);
            }
            // Framing errors: answered, then the connection is closed.
            ("ncl.dat" | "mcl01.dat", Some(p)) => {
                uas.on_parsed(Instant::now(), peer(Transport::Tcp), p, &mut G711);
                let out = drain(&mut uas);
                assert_eq!(outcome(&out), Some(400), "{file}");
                assert!(
                    matches!(out.last(), Some(Output::Close { .. })),
                    "{file} closes"
                );
                continue;
            }
            (_, Some(p)) => uas.on_parsed(Instant::now(), peer(Transport::Tcp), p, &mut G711),
            (_, None) => {
                failures.push(format!("{file}: incomplete on a stream"));
                continue;
            }
        }
        let got = outcome(&drain(&mut uas));
        // Without Content-Length a stream message has no body (RFC 3261 §18.3), so the RFC 2543
        // INVITE carries no offer there: refused 488, which still counts as processed.
        if !acceptable(&e, got) {
            failures.push(format!(
                "{file}: got {got:?}, RFC accepts {}",
                e["acceptable_outcomes"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
