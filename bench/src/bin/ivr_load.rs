//! IVR media load: many concurrent calls streaming prompts, measured from the caller's side.
//!
//! `ivr-load server [ADDR]` runs the hotline's SIP user agent and media (the real
//! `zhenwei-ivr` call handler: SDP, RTP pacing, DTMF detection, the menu; no database — the
//! calls never get as far as a verdict) and prints `listening ADDR`.
//!
//! `ivr-load client --target ADDR --calls N --hold SECS [--server-pid PID]` is the load client:
//! it sets up N calls over one SIP socket (INVITE → 200 → ACK, 64 in flight), then, while every
//! call streams its prompts, records the arrival time of each RTP packet on each call's socket,
//! then hangs up. It prints one Markdown table row: call setups/s, calls that streamed, packets,
//! sequence gaps, the pacing jitter |Δarrival − 20 ms| (p50, p99, max) twice — from the kernel's
//! receive timestamps (SO_TIMESTAMPNS: the server's pacing as it reached the client's socket)
//! and as the client's task saw it (adds the client's own scheduling delay) — the baseline (the
//! client's idle 20 ms interval over the same window), and — with the server's pid — the
//! server's CPU time per call over the hold window (from /proc/PID/stat).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::os::fd::{AsRawFd, RawFd};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Semaphore};
use zhenwei_ivr::call::handler::{IvrHandler, IvrOptions};
use zhenwei_ivr::call::shell::CallDeps;
use zhenwei_ivr::menu::MenuConfig;
use zhenwei_ivr::prompts::{Library, NoNames};
use zhenwei_ivr::rtp::RtpPacket;
use zhenwei_ivr::sip::message::{parse_datagram, Parsed, Response};
use zhenwei_ivr::sip::transport::Listeners;
use zhenwei_ivr::sip::uas::UasConfig;

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => server(args.get(2).cloned()).await,
        Some("client") => client(&args).await,
        _ => {
            eprintln!("usage: ivr-load server [ADDR] | client --target ADDR --calls N --hold SECS [--server-pid PID]");
            std::process::exit(2);
        }
    }
}

async fn server(addr: Option<String>) {
    let addr: SocketAddr = addr
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .expect("ADDR");
    let deps = Arc::new(CallDeps {
        verifier: None,
        library: Arc::new(Library::builtin().expect("prompts")),
        names: Arc::new(NoNames),
        limit: None,
        menu: MenuConfig {
            // Keep calls in the language menu for the whole run: prompt, then a long wait.
            language_timeout: Duration::from_secs(3600),
            ..MenuConfig::default()
        },
        max_call: Duration::from_secs(3600),
    });
    let mut options = IvrOptions::new(addr.ip());
    options.max_calls = 100_000;
    let handler = IvrHandler::with_deps(deps, &options);
    let listeners = Listeners::bind(addr, None).await.expect("bind");
    println!("listening {}", listeners.addr());
    listeners
        .serve(UasConfig::default(), handler, std::future::pending())
        .await;
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

struct Sip {
    socket: UdpSocket,
    target: SocketAddr,
    waiters: Waiters,
}

impl Sip {
    fn request(&self, method: &str, call_id: &str, cseq: u32, to_tag: &str, body: &str) -> Vec<u8> {
        let me = self.socket.local_addr().expect("addr");
        let tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:ivr@{t} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{b:016x};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1380000{n:04}@127.0.0.1>;tag=load\r\nTo: <sip:ivr@{t}>{tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            t = self.target,
            b = rand::random::<u64>(),
            n = cseq % 10_000,
            len = body.len(),
        )
        .into_bytes()
    }

    async fn transact(&self, call_id: &str, bytes: Vec<u8>) -> Option<Response> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().ok()?.insert(call_id.to_owned(), tx);
        self.socket.send_to(&bytes, self.target).await.ok()?;
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()?
            .ok()
    }
}

#[derive(Default)]
struct CallResult {
    setup: Option<Duration>,
    /// When the 200 OK arrived.
    answered: Option<Instant>,
    deviations_us: Vec<u32>,
    /// The same from the kernel's receive timestamps (SO_TIMESTAMPNS): the server's pacing
    /// without the client's own scheduling delay.
    kernel_deviations_us: Vec<u32>,
    packets: u64,
    gaps: u64,
}

async fn one_call(
    sip: Arc<Sip>,
    n: usize,
    hold_from: Instant,
    hold_until: Instant,
    setup_gate: Arc<Semaphore>,
) -> CallResult {
    let mut r = CallResult::default();
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
    kernel_timestamps_on(rtp.as_raw_fd());
    let port = rtp.local_addr().expect("addr").port();
    let call_id = format!("load-{n}-{:x}", rand::random::<u32>());
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    );
    let permit = setup_gate.acquire().await.ok();
    let t0 = Instant::now();
    let Some(resp) = sip
        .transact(&call_id, sip.request("INVITE", &call_id, 1, "", &offer))
        .await
    else {
        return r;
    };
    drop(permit);
    if resp.status != 200 {
        return r;
    }
    r.setup = Some(t0.elapsed());
    r.answered = Some(Instant::now());
    let to_tag = resp
        .headers
        .get("To")
        .and_then(|t| t.split(";tag=").nth(1))
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let ack = sip.request("ACK", &call_id, 1, &to_tag, "");
    let _ = sip.socket.send_to(&ack, sip.target).await;
    let mut buf = [0u8; 2048];
    let mut last: Option<(Instant, Option<i128>, u16)> = None;
    let fd = rtp.as_raw_fd();
    loop {
        let now = Instant::now();
        if now >= hold_until {
            break;
        }
        let read = rtp.async_io(Interest::READABLE, || recv_with_timestamp(fd, &mut buf));
        let Ok(Ok((n, kernel_ns))) = tokio::time::timeout(hold_until - now, read).await else {
            break;
        };
        let at = Instant::now();
        let Ok(p) = RtpPacket::parse(&buf[..n]) else {
            continue;
        };
        if at >= hold_from {
            r.packets += 1;
            if let Some((t, kt, seq)) = last {
                if p.sequence == seq.wrapping_add(1) {
                    let d = at.duration_since(t).as_micros() as i64 - 20_000;
                    r.deviations_us.push(d.unsigned_abs() as u32);
                    if let (Some(a), Some(b)) = (kt, kernel_ns) {
                        let d = (b - a) / 1000 - 20_000;
                        r.kernel_deviations_us.push(d.unsigned_abs() as u32);
                    }
                } else {
                    r.gaps += 1;
                }
            }
        }
        last = Some((at, kernel_ns, p.sequence));
    }
    let _ = sip
        .transact(&call_id, sip.request("BYE", &call_id, 2, &to_tag, ""))
        .await;
    r
}

/// Asks the kernel to stamp each datagram's arrival (SO_TIMESTAMPNS).
fn kernel_timestamps_on(fd: RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_TIMESTAMPNS: {}", std::io::Error::last_os_error());
}

/// One datagram and its kernel arrival time (ns, CLOCK_REALTIME), without blocking.
fn recv_with_timestamp(fd: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<i128>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; every pointer in it refers to live buffers above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: as above; MSG_DONTWAIT never blocks.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut ts = None;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                ts = Some(i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, ts))
}

async fn client(args: &[String]) {
    let target: SocketAddr = arg(args, "--target")
        .expect("--target")
        .parse()
        .expect("target");
    let calls: usize = arg(args, "--calls")
        .unwrap_or_else(|| "100".into())
        .parse()
        .expect("calls");
    let hold: u64 = arg(args, "--hold")
        .unwrap_or_else(|| "10".into())
        .parse()
        .expect("hold");
    let pid = arg(args, "--server-pid");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("sip socket");
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let sip = Arc::new(Sip {
        socket,
        target,
        waiters: waiters.clone(),
    });
    {
        let sip = sip.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok(n) = sip.socket.recv(&mut buf).await {
                if let Parsed::Response(r) = parse_datagram(&buf[..n]) {
                    if r.status < 200 {
                        continue;
                    }
                    let id = r.headers.get("Call-ID").unwrap_or_default().to_owned();
                    let waiter = sip.waiters.lock().ok().and_then(|mut w| w.remove(&id));
                    if let Some(w) = waiter {
                        let _ = w.send(*r);
                    }
                }
            }
        });
    }
    // Setup: as fast as the server answers, 64 in flight. The hold window starts once every
    // call has had time to set up and settle.
    let gate = Arc::new(Semaphore::new(64));
    let start = Instant::now();
    let setup_budget = Duration::from_secs(2) + Duration::from_millis(calls as u64 * 10);
    let hold_from = start + setup_budget;
    let hold_until = hold_from + Duration::from_secs(hold);
    let tasks: Vec<_> = (0..calls)
        .map(|n| {
            tokio::spawn(one_call(
                sip.clone(),
                n,
                hold_from,
                hold_until,
                gate.clone(),
            ))
        })
        .collect();
    // The baseline: the client's own idle 20 ms tokio interval over the same window. Its jitter
    // is the scheduling noise of this machine at this moment, which every figure above includes.
    let baseline = tokio::spawn(async move {
        tokio::time::sleep_until(hold_from.into()).await;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dev = Vec::new();
        let mut last = None::<Instant>;
        while Instant::now() < hold_until {
            tick.tick().await;
            let now = Instant::now();
            if let Some(t) = last {
                let d = now.duration_since(t).as_micros() as i64 - 20_000;
                dev.push(d.unsigned_abs() as u32);
            }
            last = Some(now);
        }
        dev.sort_unstable();
        dev
    });
    tokio::time::sleep_until(hold_from.into()).await;
    let cpu0 = pid.as_deref().and_then(cpu_ticks);
    tokio::time::sleep_until(hold_until.into()).await;
    let cpu1 = pid.as_deref().and_then(cpu_ticks);
    let mut results = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            results.push(r);
        }
    }
    let base = baseline.await.unwrap_or_default();
    let bq = |f: f64| {
        base.get(((base.len() as f64 * f) as usize).min(base.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let answered: Vec<Instant> = results.iter().filter_map(|r| r.answered).collect();
    let streamed = results.iter().filter(|r| r.packets > 0).count();
    let packets: u64 = results.iter().map(|r| r.packets).sum();
    let gaps: u64 = results.iter().map(|r| r.gaps).sum();
    let mut dev: Vec<u32> = results
        .iter()
        .flat_map(|r| r.deviations_us.iter().copied())
        .collect();
    dev.sort_unstable();
    let mut kdev: Vec<u32> = results
        .iter()
        .flat_map(|r| r.kernel_deviations_us.iter().copied())
        .collect();
    kdev.sort_unstable();
    let kq = |f: f64| {
        kdev.get(((kdev.len() as f64 * f) as usize).min(kdev.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let q = |f: f64| {
        dev.get(((dev.len() as f64 * f) as usize).min(dev.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    // Setup rate: calls answered per second from the first INVITE to the last 200 OK.
    let last = answered.iter().max().copied().unwrap_or(start);
    let setup_rate = answered.len() as f64 / last.duration_since(start).as_secs_f64().max(1e-3);
    let mut setup_ms: Vec<f64> = results
        .iter()
        .filter_map(|r| r.setup)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    setup_ms.sort_by(f64::total_cmp);
    let setup_p99 = setup_ms
        .get((setup_ms.len() as f64 * 0.99) as usize)
        .or(setup_ms.last())
        .copied()
        .unwrap_or(0.0);
    let expected = (calls as u64) * hold * 50;
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => {
            let secs = (b - a) as f64 / 100.0; // USER_HZ
            format!(
                "{:.1} % of a core ({:.3} % per call)",
                secs / hold as f64 * 100.0,
                secs / hold as f64 * 100.0 / calls as f64
            )
        }
        _ => "-".into(),
    };
    println!(
        "| {calls} | {} | {setup_rate:.0}/s (p99 {setup_p99:.1} ms) | {packets} / {expected} | {gaps} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} | {cpu} |",
        streamed,
        kq(0.5),
        kq(0.99),
        kdev.last().copied().unwrap_or(0) as f64 / 1000.0,
        q(0.5),
        q(0.99),
        dev.last().copied().unwrap_or(0) as f64 / 1000.0,
        bq(0.5),
        bq(0.99),
    );
}
