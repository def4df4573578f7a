//! The user agent, driven message by message with a fake clock.

use super::*;
use crate::sip::call::Reject;
use crate::sip::message::parse_datagram;
use crate::sip::transaction::T1;

/// Answers offers with audio payload type 0 or 8; refuses others (488).
struct TestAnswer;

impl Answer for TestAnswer {
    fn answer(&mut self, _call: &CallInfo, offer: &str) -> Result<String, Reject> {
        let ok = offer.lines().any(|l| {
            l.starts_with("m=audio") && l.split(' ').skip(3).any(|p| p == "0" || p == "8")
        });
        if ok {
            Ok("v=0\r\nm=audio 4000 RTP/AVP 0\r\n".into())
        } else {
            Err(Reject::NotAcceptable)
        }
    }
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 101\r\n";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5070".parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        conn: None,
    }
}

struct Harness {
    uas: Uas,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(UasConfig::default())
    }

    fn with(config: UasConfig) -> Harness {
        Harness {
            uas: Uas::new(config),
            now: Instant::now(),
        }
    }

    fn feed_from(&mut self, peer: Peer, text: &str) -> Vec<Output> {
        self.uas
            .on_bytes(self.now, peer, text.as_bytes(), &mut TestAnswer);
        self.drain()
    }

    fn feed(&mut self, text: &str) -> Vec<Output> {
        self.feed_from(peer(), text)
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.uas.poll_output()).collect()
    }

    fn advance(&mut self, by: Duration) -> Vec<Output> {
        let end = self.now + by;
        let mut out = Vec::new();
        while let Some(at) = self.uas.next_deadline() {
            if at > end {
                break;
            }
            self.now = at;
            self.uas.on_timer(at);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }
}

fn sent(outputs: &[Output]) -> Vec<Parsed> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(parse_datagram(bytes)),
            _ => None,
        })
        .collect()
}

fn statuses(outputs: &[Output]) -> Vec<u16> {
    sent(outputs)
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Response(r) => Some(r.status),
            _ => None,
        })
        .collect()
}

fn responses(outputs: &[Output]) -> Vec<Response> {
    sent(outputs)
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Response(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn requests(outputs: &[Output]) -> Vec<Request> {
    sent(outputs)
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Request(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn events(outputs: &[Output]) -> Vec<CallEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// A request from the caller at 127.0.0.1:5070.
fn req(
    method: &str,
    branch: &str,
    to_tag: Option<&str>,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:ivr@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:13800138000@127.0.0.1>;tag=caller1\r\n\
         To: <sip:ivr@127.0.0.1>{to_tag}\r\n\
         Call-ID: call-1@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:13800138000@127.0.0.1:5070>\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn invite(branch: &str) -> String {
    req(
        "INVITE",
        branch,
        None,
        1,
        "Content-Type: application/sdp\r\n",
        SDP,
    )
}

/// Runs INVITE → 100/180/200 → ACK and returns the local tag.
fn established(h: &mut Harness) -> String {
    let out = h.feed(&invite("inv1"));
    assert_eq!(statuses(&out), vec![100, 180, 200]);
    let ok = responses(&out).pop().unwrap();
    let to = NameAddr::parse(ok.headers.get("to").unwrap(), "to").unwrap();
    let tag = to.tag().unwrap().to_string();
    let out = h.feed(&req("ACK", "ack1", Some(&tag), 1, "", ""));
    assert_eq!(
        events(&out),
        vec![CallEvent::Started {
            remote_sdp: SDP.into()
        }]
    );
    tag
}

#[test]
fn options_is_answered_without_disclosing_software() {
    let mut h = Harness::new();
    let out = h.feed(&req("OPTIONS", "o1", None, 1, "", ""));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("allow"), Some(ALLOW));
    assert_eq!(r.headers.get("accept"), Some("application/sdp"));
    for h in ["server", "user-agent", "supported"] {
        assert_eq!(r.headers.get(h), None, "{h}");
    }
    assert_eq!(
        r.headers.get("via"),
        Some("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKo1;rport=5070"),
        "rport filled in"
    );
    assert!(NameAddr::parse(r.headers.get("to").unwrap(), "to")
        .unwrap()
        .tag()
        .is_some());
}

#[test]
fn invite_is_answered_100_180_200_with_the_sdp_answer_and_ack_starts_the_call() {
    let mut h = Harness::new();
    let out = h.feed(&invite("inv1"));
    let rs = responses(&out);
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100, 180, 200]
    );
    assert_eq!(
        rs[0].headers.get("to"),
        Some("<sip:ivr@127.0.0.1>"),
        "no tag on 100"
    );
    assert_eq!(rs[2].body, b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n");
    assert_eq!(rs[2].headers.get("content-type"), Some("application/sdp"));
    assert_eq!(
        rs[2].headers.get("contact"),
        Some("<sip:ivr@127.0.0.1:5060>")
    );
    assert_eq!(rs[1].headers.get("to"), rs[2].headers.get("to"), "one tag");
    // The 200 is retransmitted until the ACK...
    let again = h.advance(T1);
    assert_eq!(statuses(&again), vec![200]);
    // ...and a retransmitted INVITE gets the 200 again, not a new call.
    assert_eq!(statuses(&h.feed(&invite("inv1"))), vec![200]);
    assert_eq!(h.uas.calls(), 1);
    let tag = NameAddr::parse(rs[2].headers.get("to").unwrap(), "to")
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    let out = h.feed(&req("ACK", "ack1", Some(&tag), 1, "", ""));
    assert_eq!(out.len(), 1, "only the event: {out:?}");
    assert!(matches!(events(&out)[0], CallEvent::Started { .. }));
    assert!(
        h.advance(Duration::from_secs(40))
            .iter()
            .all(|o| !matches!(o, Output::Send { .. })),
        "no more retransmissions"
    );
}

#[test]
fn unanswered_200_ends_the_call_with_bye_after_64_t1() {
    let mut h = Harness::new();
    h.feed(&invite("inv1"));
    let out = h.advance(64 * T1);
    let byes = requests(&out);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].method, "BYE");
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            reason: EndReason::NoAck
        }]
    );
    assert_eq!(h.uas.calls(), 0);
}

#[test]
fn offer_without_a_common_codec_gets_488_and_no_dialog() {
    let mut h = Harness::new();
    let body = SDP.replace("RTP/AVP 0 101", "RTP/AVP 18");
    let out = h.feed(&req(
        "INVITE",
        "i",
        None,
        1,
        "Content-Type: application/sdp\r\n",
        &body,
    ));
    assert_eq!(statuses(&out), vec![100, 488]);
    assert_eq!(h.uas.calls(), 0);
    // 488 is retransmitted until the ACK (same branch), which then ends it.
    assert_eq!(statuses(&h.advance(T1)), vec![488]);
    let r = responses(&out).pop().unwrap();
    let tag = NameAddr::parse(r.headers.get("to").unwrap(), "to")
        .unwrap()
        .tag()
        .unwrap()
        .to_string();
    h.feed(&req("ACK", "i", Some(&tag), 1, "", ""));
    assert!(statuses(&h.advance(Duration::from_secs(10))).is_empty());
    assert_eq!(h.uas.transactions(), 0);
}

#[test]
fn bye_ends_the_call() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    let out = h.feed(&req("BYE", "bye1", Some(&tag), 2, "", ""));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            reason: EndReason::RemoteBye
        }]
    );
    // The dialog is gone: another BYE gets 481.
    assert_eq!(
        statuses(&h.feed(&req("BYE", "bye2", Some(&tag), 3, "", ""))),
        vec![481]
    );
}

#[test]
fn cancel_while_ringing_gets_200_and_the_invite_487() {
    let mut h = Harness::with(UasConfig {
        answer_delay: Duration::from_secs(2),
        ..UasConfig::default()
    });
    assert_eq!(statuses(&h.feed(&invite("inv1"))), vec![100, 180]);
    let out = h.feed(&req("CANCEL", "inv1", None, 1, "", ""));
    assert_eq!(statuses(&out), vec![200, 487]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            reason: EndReason::Cancelled
        }]
    );
    assert!(
        statuses(&h.advance(Duration::from_secs(3)))
            .iter()
            .all(|s| *s == 487),
        "no 200 after the cancel"
    );
}

#[test]
fn answer_delay_rings_then_answers() {
    let mut h = Harness::with(UasConfig {
        answer_delay: Duration::from_secs(2),
        ..UasConfig::default()
    });
    h.feed(&invite("inv1"));
    let out = h.advance(Duration::from_secs(2));
    assert_eq!(statuses(&out), vec![200]);
}

#[test]
fn cancel_of_nothing_is_481() {
    let mut h = Harness::new();
    assert_eq!(
        statuses(&h.feed(&req("CANCEL", "nothing", None, 1, "", ""))),
        vec![481]
    );
}

#[test]
fn requests_for_unknown_dialogs_get_481() {
    let mut h = Harness::new();
    for m in ["BYE", "INFO", "NOTIFY", "OPTIONS"] {
        let out = h.feed(&req(m, &format!("x{m}"), Some("nosuchtag"), 5, "", ""));
        assert_eq!(statuses(&out), vec![481], "{m}");
    }
    assert_eq!(
        statuses(&h.feed(&req("BYE", "nodialog", None, 5, "", ""))),
        vec![481],
        "BYE without tag"
    );
}

#[test]
fn unsupported_and_unknown_methods() {
    let mut h = Harness::new();
    let out = h.feed(&req("REGISTER", "r", None, 1, "", ""));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow"), Some(ALLOW));
    let out = h.feed(&req("FROBNICATE", "f", None, 1, "", ""));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 501);
    assert_eq!(r.headers.get("allow"), Some(ALLOW));
}

#[test]
fn max_forwards_zero_is_483() {
    let mut h = Harness::new();
    let text = req("OPTIONS", "mf", None, 1, "", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(statuses(&h.feed(&text)), vec![483]);
}

#[test]
fn required_extensions_are_refused_with_420() {
    let mut h = Harness::new();
    let out = h.feed(&req(
        "OPTIONS",
        "rq",
        None,
        1,
        "Require: 100rel, timer\r\n",
        "",
    ));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 420);
    assert_eq!(r.headers.get("unsupported"), Some("100rel, timer"));
}

#[test]
fn unsupported_uri_scheme_is_416() {
    let mut h = Harness::new();
    let text = req("OPTIONS", "u", None, 1, "", "")
        .replace("OPTIONS sip:ivr@127.0.0.1:5060", "OPTIONS tel:+8640012345");
    assert_eq!(statuses(&h.feed(&text)), vec![416]);
}

#[test]
fn malformed_requests_get_400_and_responses_are_dropped() {
    let mut h = Harness::new();
    let text = req("OPTIONS", "m", None, 1, "", "").replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
    let out = h.feed(&text);
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("cseq"), "{}", r.reason);
    let out =
        h.feed("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKnobody\r\nCSeq: 1 BYE\r\n\r\n");
    assert!(out.is_empty());
    assert!(h.feed("garbage\r\n\r\n").len() == 1, "garbage gets a 400");
    let text = req("OPTIONS", "v", None, 1, "", "").replace(" SIP/2.0\r\n", " SIP/3.0\r\n");
    assert_eq!(statuses(&h.feed(&text)), vec![505]);
}

#[test]
fn only_loopback_and_trunks_may_call() {
    let trunk = Peer {
        addr: "192.0.2.10:5060".parse().unwrap(),
        ..peer()
    };
    let stranger = Peer {
        addr: "198.51.100.9:5060".parse().unwrap(),
        ..peer()
    };
    let mut h = Harness::with(UasConfig {
        trunks: vec!["192.0.2.0/28".parse().unwrap()],
        ..UasConfig::default()
    });
    assert_eq!(statuses(&h.feed_from(stranger, &invite("s"))), vec![403]);
    assert_eq!(
        statuses(&h.feed_from(stranger, &req("OPTIONS", "so", None, 1, "", ""))),
        vec![403]
    );
    assert_eq!(
        statuses(&h.feed_from(trunk, &invite("t"))),
        vec![100, 180, 200]
    );
}

#[test]
fn networks_parse_and_match() {
    let n: Net = "10.0.0.0/8".parse().unwrap();
    assert!(n.contains("10.200.1.1".parse().unwrap()));
    assert!(!n.contains("11.0.0.1".parse().unwrap()));
    assert!(n.contains("::ffff:10.0.0.1".parse().unwrap()));
    let one: Net = "2001:db8::1".parse().unwrap();
    assert!(one.contains("2001:db8::1".parse().unwrap()));
    assert!(!one.contains("2001:db8::2".parse().unwrap()));
    assert!("10.0.0.0/33".parse::<Net>().is_err());
    assert!("nonsense".parse::<Net>().is_err());
}

#[test]
fn invite_body_checks_406_415_488() {
    let mut h = Harness::new();
    let out = h.feed(&req(
        "INVITE",
        "a",
        None,
        1,
        "Accept: text/plain\r\nContent-Type: application/sdp\r\n",
        SDP,
    ));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 406);
    assert!(r.headers.get("warning").unwrap().starts_with("399 "));
    let out = h.feed(&req(
        "INVITE",
        "b",
        None,
        1,
        "Content-Type: application/unknownformat\r\n",
        "x",
    ));
    let r = responses(&out).pop().unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(r.headers.get("accept"), Some("application/sdp"));
    assert_eq!(
        statuses(&h.feed(&req("INVITE", "c", None, 1, "", ""))),
        vec![488]
    );
}

#[test]
fn info_carries_dtmf_in_both_formats() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    let out = h.feed(&req(
        "INFO",
        "d1",
        Some(&tag),
        2,
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=5\r\nDuration=160\r\n",
    ));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Dtmf {
            digit: '5',
            duration_ms: Some(160)
        }]
    );
    let out = h.feed(&req(
        "INFO",
        "d2",
        Some(&tag),
        3,
        "Content-Type: application/dtmf\r\n",
        "#",
    ));
    assert_eq!(
        events(&out),
        vec![CallEvent::Dtmf {
            digit: '#',
            duration_ms: None
        }]
    );
    let out = h.feed(&req(
        "INFO",
        "d3",
        Some(&tag),
        4,
        "Content-Type: text/plain\r\n",
        "5",
    ));
    assert_eq!(statuses(&out), vec![415]);
    let out = h.feed(&req(
        "INFO",
        "d4",
        Some(&tag),
        5,
        "Content-Type: application/dtmf\r\n",
        "xyz",
    ));
    assert_eq!(statuses(&out), vec![400]);
    assert!(events(&out).is_empty());
}

#[test]
fn reinvite_answers_with_new_sdp_and_reports_hold() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    let held = SDP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let out = h.feed(&req(
        "INVITE",
        "re1",
        Some(&tag),
        2,
        "Content-Type: application/sdp\r\n",
        &held,
    ));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Reoffered {
            remote_sdp: held.clone(),
            hold: true
        }]
    );
    h.feed(&req("ACK", "reack1", Some(&tag), 2, "", ""));
    let out = h.feed(&req(
        "INVITE",
        "re2",
        Some(&tag),
        3,
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(
        events(&out),
        vec![CallEvent::Reoffered {
            remote_sdp: SDP.into(),
            hold: false
        }]
    );
}

#[test]
fn out_of_order_cseq_is_500() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    assert_eq!(
        statuses(&h.feed(&req("OPTIONS", "ooo", Some(&tag), 1, "", ""))),
        vec![500]
    );
}

#[test]
fn hangup_sends_bye_in_the_dialog_and_absorbs_its_200() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    h.uas.command(h.now, 1, CallCommand::Hangup);
    let out = h.drain();
    let bye = requests(&out).pop().unwrap();
    assert_eq!(bye.method, "BYE");
    assert_eq!(
        bye.uri.to_string(),
        "sip:13800138000@127.0.0.1:5070",
        "to the remote target"
    );
    assert_eq!(bye.from.tag(), Some(tag.as_str()));
    assert_eq!(bye.to.tag(), Some("caller1"));
    assert_eq!(bye.call_id, "call-1@127.0.0.1");
    assert_eq!(bye.cseq.number, 1);
    assert_eq!(
        events(&out),
        vec![CallEvent::Ended {
            reason: EndReason::LocalBye
        }]
    );
    // Retransmitted by timer E until answered.
    assert_eq!(requests(&h.advance(T1)).len(), 1);
    let ok = Response::to_headers(&bye.headers, 200);
    h.uas
        .on_bytes(h.now, peer(), &ok.to_bytes(), &mut TestAnswer);
    assert!(h.drain().is_empty());
    assert!(requests(&h.advance(Duration::from_secs(40))).is_empty());
    assert_eq!(h.uas.transactions(), 0);
}

#[test]
fn transfer_sends_refer_and_notify_reports_progress() {
    let mut h = Harness::new();
    let tag = established(&mut h);
    h.uas.command(
        h.now,
        1,
        CallCommand::Transfer {
            target: "sip:agent@192.0.2.50".into(),
        },
    );
    let refer = requests(&h.drain()).pop().unwrap();
    assert_eq!(refer.method, "REFER");
    assert_eq!(
        refer.headers.get("refer-to"),
        Some("<sip:agent@192.0.2.50>")
    );
    let accepted = Response::to_headers(&refer.headers, 202);
    h.uas
        .on_bytes(h.now, peer(), &accepted.to_bytes(), &mut TestAnswer);
    assert!(h.drain().is_empty());
    let out = h.feed(&req(
        "NOTIFY", "n1", Some(&tag), 2,
        "Event: refer\r\nSubscription-State: active;expires=60\r\nContent-Type: message/sipfrag\r\n",
        "SIP/2.0 180 Ringing\r\n",
    ));
    assert_eq!(statuses(&out), vec![200]);
    assert_eq!(
        events(&out),
        vec![CallEvent::Transfer {
            status: 180,
            final_: false
        }]
    );
    let out = h.feed(&req(
        "NOTIFY", "n2", Some(&tag), 3,
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag\r\n",
        "SIP/2.0 200 OK\r\n",
    ));
    assert_eq!(
        events(&out),
        vec![CallEvent::Transfer {
            status: 200,
            final_: true
        }]
    );
}

#[test]
fn refused_refer_is_reported() {
    let mut h = Harness::new();
    established(&mut h);
    h.uas.command(
        h.now,
        1,
        CallCommand::Transfer {
            target: "sip:agent@192.0.2.50".into(),
        },
    );
    let refer = requests(&h.drain()).pop().unwrap();
    let refused = Response::to_headers(&refer.headers, 603);
    h.uas
        .on_bytes(h.now, peer(), &refused.to_bytes(), &mut TestAnswer);
    assert_eq!(
        events(&h.drain()),
        vec![CallEvent::Transfer {
            status: 603,
            final_: true
        }]
    );
}

#[test]
fn rfc_2543_invite_without_branch_or_tags_works() {
    let mut h = Harness::new();
    let text = invite("x")
        .replace(";branch=z9hG4bKx;rport", "")
        .replace(";tag=caller1", "");
    let out = h.feed(&text);
    assert_eq!(statuses(&out), vec![100, 180, 200]);
    assert_eq!(
        statuses(&h.feed(&text)),
        vec![200],
        "retransmission matched without a branch"
    );
}

#[test]
fn stream_keepalive_is_answered_with_crlf() {
    let mut h = Harness::new();
    let tcp = Peer {
        transport: Transport::Tcp,
        conn: Some(1),
        ..peer()
    };
    h.uas
        .on_parsed(h.now, tcp, Parsed::KeepAlive, &mut TestAnswer);
    assert_eq!(
        h.drain(),
        vec![Output::Send {
            to: tcp,
            bytes: b"\r\n".to_vec()
        }]
    );
}

#[test]
fn invite_for_an_unknown_dialog_recreates_it_under_the_callers_tag() {
    let mut h = Harness::new();
    let text = req(
        "INVITE",
        "re",
        Some("oldtag"),
        9,
        "Content-Type: application/sdp\r\n",
        SDP,
    );
    let out = h.feed(&text);
    let rs = responses(&out);
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100, 180, 200]
    );
    assert_eq!(
        rs[2].headers.get("to"),
        Some("<sip:ivr@127.0.0.1>;tag=oldtag")
    );
    let out = h.feed(&req("ACK", "reack", Some("oldtag"), 9, "", ""));
    assert!(matches!(events(&out)[..], [CallEvent::Started { .. }]));
}

#[test]
fn register_with_a_non_sip_address_of_record_is_400() {
    let mut h = Harness::new();
    let text = req("REGISTER", "r", None, 1, "", "")
        .replace("To: <sip:ivr@127.0.0.1>", "To: isbn:2983792873");
    assert_eq!(statuses(&h.feed(&text)), vec![400]);
}

#[test]
fn a_retransmission_over_another_connection_is_answered_there() {
    let mut h = Harness::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rfc4475/wsinv.dat"
    ))
    .unwrap();
    let out = h.feed(&text);
    assert_eq!(statuses(&out), vec![100, 180, 200]);
    let tcp = Peer {
        transport: Transport::Tcp,
        conn: Some(7),
        ..peer()
    };
    let out = h.feed_from(tcp, &text);
    assert_eq!(statuses(&out), vec![200]);
    assert!(out
        .iter()
        .all(|o| matches!(o, Output::Send { to, .. } if *to == tcp)));
}
