//! SIP call-setup load over loopback UDP.
//!
//! `sip-load call ADDR SECONDS CALLERS` runs CALLERS concurrent callers against ADDR for SECONDS;
//! each places calls back to back: INVITE (with a G.711 offer) → wait for 200 → ACK → BYE →
//! wait for its 200. Prints one line: `calls=N failed=F secs=S rate=R p50_ms=A p99_ms=B`
//! (setup latency = INVITE sent → 200 received).
//!
//! `sip-load ceiling ADDR` is the baseline: a stateless responder that answers every INVITE and
//! BYE with 200 straight away, using the same parser, so the difference to zhenwei is the user
//! agent's own work (transactions, dialogs, timers).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use zhenwei_ivr::sip::message::{parse_datagram, Parsed, Response};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn request(
    method: &str,
    (target, local): (SocketAddr, SocketAddr),
    call: &str,
    branch: &str,
    cseq: u32,
    to_tag: &str,
    body: &str,
) -> Vec<u8> {
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:ivr@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load@{local}>;tag=load\r\nTo: <sip:ivr@{target}>{to_tag}\r\n\
         Call-ID: {call}\r\nCSeq: {cseq} {method}\r\nContact: <sip:load@{local}>\r\n{ctype}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Waits for the final response to `method` of `call`.
async fn final_response(sock: &UdpSocket, call: &str, method: &str) -> Option<Response> {
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        if let Parsed::Response(r) = parse_datagram(&buf[..n]) {
            let ours = r.headers.get("call-id") == Some(call);
            let cseq = r.cseq();
            if ours && r.status >= 200 && cseq.is_some_and(|c| c.method == method) {
                return Some(*r);
            }
        }
    }
}

async fn caller(id: usize, target: SocketAddr, until: Instant) -> (Vec<Duration>, usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    sock.connect(target).await.expect("connect");
    let local = sock.local_addr().expect("local");
    let (mut setups, mut failed) = (Vec::new(), 0);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let call = format!("load-{id}-{n}");
        let started = Instant::now();
        let _ = sock
            .send(&request(
                "INVITE",
                (target, local),
                &call,
                &format!("{call}i"),
                1,
                "",
                SDP,
            ))
            .await;
        let Some(ok) = final_response(&sock, &call, "INVITE").await else {
            failed += 1;
            continue;
        };
        if ok.status != 200 {
            failed += 1;
            continue;
        }
        setups.push(started.elapsed());
        let to = ok.headers.get("to").unwrap_or_default();
        let tag = to
            .find(";tag=")
            .map(|i| to[i..].to_string())
            .unwrap_or_default();
        let _ = sock
            .send(&request(
                "ACK",
                (target, local),
                &call,
                &format!("{call}a"),
                1,
                &tag,
                "",
            ))
            .await;
        let _ = sock
            .send(&request(
                "BYE",
                (target, local),
                &call,
                &format!("{call}b"),
                2,
                &tag,
                "",
            ))
            .await;
        if final_response(&sock, &call, "BYE").await.is_none() {
            failed += 1;
        }
    }
    (setups, failed)
}

async fn ceiling(addr: SocketAddr) {
    let sock = UdpSocket::bind(addr).await.expect("bind");
    println!("ceiling listening on {}", sock.local_addr().expect("addr"));
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Parsed::Request(r) = parse_datagram(&buf[..n]) {
            if r.method == "ACK" {
                continue;
            }
            let mut resp = Response::to_headers(&r.headers, 200);
            if r.method == "INVITE" {
                for h in resp.headers.0.iter_mut().filter(|h| h.name == "To") {
                    h.value.push_str(";tag=ceiling");
                }
                resp.headers.push("Content-Type", "application/sdp");
                resp.body = SDP.as_bytes().to_vec();
            }
            let _ = sock.send_to(&resp.to_bytes(), from).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sip-load call ADDR SECONDS CALLERS | sip-load ceiling ADDR";
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| panic!("{usage}"));
    let addr: SocketAddr = arg(2).parse().expect("an address");
    match arg(1).as_str() {
        "ceiling" => ceiling(addr).await,
        "call" => {
            let secs: u64 = arg(3).parse().expect("seconds");
            let callers: usize = arg(4).parse().expect("callers");
            let started = Instant::now();
            let until = started + Duration::from_secs(secs);
            let tasks: Vec<_> = (0..callers)
                .map(|i| tokio::spawn(caller(i, addr, until)))
                .collect();
            let (mut all, mut failed) = (Vec::new(), 0);
            for t in tasks {
                let (s, f) = t.await.expect("caller");
                all.extend(s);
                failed += f;
            }
            let secs = started.elapsed().as_secs_f64();
            all.sort();
            let pct = |p: f64| {
                all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            };
            println!(
                "calls={} failed={failed} secs={secs:.1} rate={:.0} p50_ms={:.2} p99_ms={:.2}",
                all.len(),
                all.len() as f64 / secs,
                pct(0.50),
                pct(0.99)
            );
        }
        _ => panic!("{usage}"),
    }
}
