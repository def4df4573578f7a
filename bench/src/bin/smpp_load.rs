//! A load-generating SMSC for the SMPP benchmark (`bench/sms-smpp.sh`).
//!
//! `smpp_load --codes FILE --count N --rates R1,R2,... [--echo]`
//!
//! Listens on 127.0.0.1 (a free port, printed as `LISTENING <port>`), accepts one ESME bind, waits
//! until FILE exists (the JSON of `zhenwei demo-codes`; every code in it is used in turn, written
//! in full-width digits so the MO and the reply are UCS-2), then for each rate sends N
//! `deliver_sm` MOs — paced at R per second, or as fast as 256 outstanding MOs allow when R is 0 —
//! each from a distinct handset number, and times each one from writing the `deliver_sm` to
//! reading the last `submit_sm` part of its reply. Prints one Markdown table row per rate.
//!
//! With `--echo` it also runs the gateway's ESME in-process with a handler that answers at once
//! (no verification): the transport's own ceiling on this machine, for the ratio.
//!
//! Written in Rust rather than driving the Perl peer: one Perl process answering four PDUs per
//! message would be the bottleneck long before the gateway is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use zhenwei_sms_gateway::coding;
use zhenwei_sms_gateway::smpp::pdu::{self, Address, Body, Pdu, ShortMessage, ESM_UDHI};
use zhenwei_sms_gateway::smpp::{self, EsmeConfig, LogReceipts, MoHandler, SessionConfig};

struct Shared {
    sent: Mutex<HashMap<String, Instant>>,
    latencies: Mutex<Vec<Duration>>,
    replies: AtomicUsize,
    /// Counters for BENCH_TRACE: submit_sm seen, deliver_sm_resp seen, undecodable PDUs.
    submits: AtomicUsize,
    acks: AtomicUsize,
    bad: AtomicUsize,
    bound: Notify,
    permits: Semaphore,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            sent: Mutex::default(),
            latencies: Mutex::default(),
            replies: AtomicUsize::new(0),
            submits: AtomicUsize::new(0),
            acks: AtomicUsize::new(0),
            bad: AtomicUsize::new(0),
            bound: Notify::new(),
            permits: Semaphore::new(0),
        }
    }
}

struct Echo;

impl MoHandler for Echo {
    async fn on_mo(&self, _from: &str, _to: &str, text: &str) -> Option<String> {
        Some(format!("正品：{text}"))
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn full_width(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

async fn read_codes(path: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("codes file is JSON");
            let mut codes: Vec<String> = v
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
                .filter_map(|a| a.as_array())
                .flatten()
                .filter_map(|c| c.as_str().map(full_width))
                .collect();
            codes.sort();
            return codes;
        }
        assert!(Instant::now() < deadline, "no codes file {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the ESME's PDUs and answers them through `tx` (the one writer of the socket).
async fn serve(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut replies = Vec::new();
        let mut bound = false;
        while let Ok(Some(len)) = pdu::frame_len(&buf[start..]) {
            let frame = &buf[start..start + len];
            start += len;
            let Ok(p) = pdu::decode(frame) else {
                shared.bad.fetch_add(1, Ordering::SeqCst);
                continue;
            };
            let resp = match p.body {
                Body::BindTransceiver(_) => {
                    bound = true;
                    Some(Body::BindTransceiverResp {
                        system_id: "load".into(),
                        tlvs: vec![],
                    })
                }
                Body::SubmitSm(m) => {
                    shared.submits.fetch_add(1, Ordering::SeqCst);
                    let last = if m.esm_class & ESM_UDHI != 0 {
                        matches!(coding::parse_udh(&m.short_message), Ok((Some(c), _)) if c.seq == c.total)
                    } else {
                        true
                    };
                    if last {
                        let sent = shared.sent.lock().unwrap().remove(&m.dest.addr);
                        if let Some(t) = sent {
                            shared.latencies.lock().unwrap().push(t.elapsed());
                            shared.replies.fetch_add(1, Ordering::SeqCst);
                            shared.permits.add_permits(1);
                        }
                    }
                    Some(Body::SubmitSmResp {
                        message_id: format!("{}", p.sequence),
                    })
                }
                Body::DeliverSmResp { .. } => {
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                    None
                }
                Body::EnquireLink => Some(Body::EnquireLinkResp),
                Body::Unbind => Some(Body::UnbindResp),
                _ => None,
            };
            if let Some(body) = resp {
                Pdu::new(p.sequence, body)
                    .encode_into(&mut replies)
                    .unwrap();
            }
        }
        buf.drain(..start);
        if !replies.is_empty() && tx.send(replies).is_err() {
            return;
        }
        // Only now is bind_transceiver_resp queued ahead of any deliver_sm.
        if bound {
            shared.bound.notify_one();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = arg(&args, "--count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    let rates: Vec<u32> = arg(&args, "--rates")
        .unwrap_or_else(|| "0".into())
        .split(',')
        .filter_map(|r| r.parse().ok())
        .collect();
    let echo = args.iter().any(|a| a == "--echo");
    let label = arg(&args, "--label").unwrap_or_else(|| "zhenwei".into());
    let codes_path = arg(&args, "--codes");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    println!("LISTENING {port}");
    if echo {
        let cfg = EsmeConfig {
            addr: format!("127.0.0.1:{port}"),
            session: SessionConfig {
                system_id: "echo".into(),
                window: 256,
                ..SessionConfig::default()
            },
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        };
        tokio::spawn(smpp::run(
            cfg,
            Arc::new(Echo),
            Arc::new(LogReceipts),
            std::future::pending(),
        ));
    }
    let (stream, _) = listener.accept().await.unwrap();
    let _ = stream.set_nodelay(true);
    let shared = Arc::new(Shared::default());
    let (rd, mut wr) = stream.into_split();
    // One writer task owns the socket's write half: answers and MOs never interleave mid-PDU.
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let bound = shared.bound.notified();
    tokio::spawn(serve(rd, shared.clone(), tx.clone()));
    bound.await;
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    if trace {
        eprintln!("bound");
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!(
                    "replies {} submits {} acks {} bad {} waiting {}",
                    s.replies.load(Ordering::SeqCst),
                    s.submits.load(Ordering::SeqCst),
                    s.acks.load(Ordering::SeqCst),
                    s.bad.load(Ordering::SeqCst),
                    s.sent.lock().unwrap().len()
                );
            }
        });
    }
    let codes = match &codes_path {
        Some(p) => read_codes(p).await,
        None => vec!["１２３４５".to_owned()],
    };
    let mut seq: u32 = 1;
    let mut handset: u64 = 0;
    for rate in rates {
        shared.latencies.lock().unwrap().clear();
        shared.replies.store(0, Ordering::SeqCst);
        let outstanding = if rate == 0 { 256 } else { 4096 };
        shared.permits.add_permits(outstanding);
        let start = Instant::now();
        for i in 0..count {
            // A reply that never comes must not hang the benchmark.
            match tokio::time::timeout(Duration::from_secs(60), shared.permits.acquire()).await {
                Ok(Ok(p)) => p.forget(),
                _ => {
                    eprintln!("stalled: no reply for 60 s after {i} MOs");
                    break;
                }
            }
            if rate > 0 {
                let at = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
                tokio::time::sleep_until(at).await;
            }
            handset += 1;
            let phone = format!("86{handset:011}");
            let text = &codes[i % codes.len()];
            let body = coding::encode_ucs2(text);
            let sm = ShortMessage {
                source: Address {
                    ton: 1,
                    npi: 1,
                    addr: phone.clone(),
                },
                dest: Address {
                    ton: 0,
                    npi: 0,
                    addr: "10690000".into(),
                },
                data_coding: 8,
                short_message: body,
                ..ShortMessage::default()
            };
            seq += 1;
            let batch = Pdu::new(seq, Body::DeliverSm(sm)).encode().unwrap();
            shared.sent.lock().unwrap().insert(phone, Instant::now());
            tx.send(batch).unwrap();
        }
        if trace {
            eprintln!(
                "sent {count}; replies so far {}",
                shared.replies.load(Ordering::SeqCst)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while shared.replies.load(Ordering::SeqCst) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed();
        // Drain permits so the next phase starts with its own number.
        let left = shared.permits.available_permits();
        if left > 0 {
            shared
                .permits
                .acquire_many(left as u32)
                .await
                .unwrap()
                .forget();
        }
        let mut lat = shared.latencies.lock().unwrap().clone();
        lat.sort();
        let replies = lat.len();
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        println!(
            "| {label} | {} | {count} | {replies} | {:.0} | {} | {} | {} |",
            if rate == 0 {
                "max (256 outstanding)".to_owned()
            } else {
                format!("{rate}/s")
            },
            replies as f64 / elapsed.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
        );
    }
}
