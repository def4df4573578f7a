//! Whole calls through the real SIP user agent, the real media shell and a real verification
//! core (SQLite in a temporary directory, demo data), with a small scripted SIP phone over
//! loopback UDP: INVITE with an SDP offer, ACK, keys by RFC 4733 events, SIP INFO or in-band
//! tones, BYE. The phone records the RTP it receives, so the test hears what a caller hears.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use zhenwei_core::verdict::Thresholds;
use zhenwei_core::{Core, Lang, Location};
use zhenwei_ivr::call::handler::{IvrHandler, IvrOptions};
use zhenwei_ivr::dtmf::rfc4733::EventPayload;
use zhenwei_ivr::dtmf::Digit;
use zhenwei_ivr::g711::Law;
use zhenwei_ivr::prompts::{Library, PromptId};
use zhenwei_ivr::rtp::RtpPacket;
use zhenwei_ivr::sip::message::{parse_datagram, Parsed, Response};
use zhenwei_ivr::sip::transport::Listeners;
use zhenwei_ivr::sip::uas::UasConfig;

const LIMIT: Duration = Duration::from_secs(30);

struct Hotline {
    core: Core,
    sip: SocketAddr,
    code: String,
    _dir: tempfile::TempDir,
}

/// A core with the demo data in a fresh data directory (kept while the directory lives), and
/// the demo's manifest of codes.
async fn demo_core() -> (Core, serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
        key_file: None,
    };
    let core = Core::open(&loc, Thresholds::default()).await.unwrap();
    zhenwei_core::demo::seed_if_empty(&core.registry)
        .await
        .unwrap();
    let manifest = zhenwei_core::demo::manifest(&core.store)
        .await
        .unwrap()
        .unwrap();
    (core, manifest, dir)
}

/// SIP on a free loopback port, answered by `handler`: its address.
async fn serve_sip(handler: IvrHandler) -> SocketAddr {
    let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let sip = listeners.addr();
    tokio::spawn(listeners.serve(UasConfig::default(), handler, std::future::pending()));
    sip
}

async fn hotline() -> Hotline {
    let (core, manifest, dir) = demo_core().await;
    let code = manifest["genuine"][0].as_str().unwrap().to_owned();
    let mut options = IvrOptions::new("127.0.0.1".parse().unwrap());
    options.data_dir = None; // names off: the spoken verdict has a known length
    let handler = IvrHandler::start(Some(core.verifier.clone()), options).unwrap();
    let sip = serve_sip(handler).await;
    Hotline {
        core,
        sip,
        code,
        _dir: dir,
    }
}

/// A scripted SIP phone.
struct Phone {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    call_id: String,
    to_tag: String,
    cseq: u32,
    media: Option<SocketAddr>,
    seq: u16,
    ts: u32,
    received: Vec<RtpPacket>,
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers.get(name).unwrap_or_default()
}

impl Phone {
    async fn new(server: SocketAddr) -> Phone {
        Phone {
            sip: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            call_id: format!("{}@phone", rand_id()),
            to_tag: String::new(),
            cseq: 0,
            media: None,
            seq: 0,
            ts: 0,
            received: Vec::new(),
        }
    }

    fn request(&mut self, method: &str, extra: &str, body: &str) -> Vec<u8> {
        if method != "ACK" {
            self.cseq += 1;
        }
        let me = self.sip.local_addr().unwrap();
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        format!(
            "{method} sip:ivr@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:13800000001@127.0.0.1>;tag=phone1\r\nTo: <sip:ivr@{srv}>{to_tag}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:13800000001@{me}>\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            srv = self.server,
            branch = rand_id(),
            cid = self.call_id,
            cseq = self.cseq,
            len = body.len(),
        )
        .into_bytes()
    }

    /// Sends a request and returns its final response.
    async fn transact(&mut self, bytes: Vec<u8>) -> Response {
        self.sip.send_to(&bytes, self.server).await.unwrap();
        let deadline = Instant::now() + LIMIT;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = tokio::time::timeout_at(deadline.into(), self.sip.recv(&mut buf))
                .await
                .expect("no final response")
                .unwrap();
            if let Parsed::Response(r) = parse_datagram(&buf[..n]) {
                if r.status >= 200 {
                    return *r;
                }
            }
        }
    }

    fn offer(&self, formats: &str, rtpmaps: &str) -> String {
        let port = self.rtp.local_addr().unwrap().port();
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n{rtpmaps}a=sendrecv\r\n")
    }

    async fn invite(&mut self, offer: &str) -> Response {
        let req = self.request("INVITE", "Content-Type: application/sdp\r\n", offer);
        let r = self.transact(req).await;
        if r.status == 200 {
            let to = header(&r, "To");
            self.to_tag = to
                .split(";tag=")
                .nth(1)
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let sdp = String::from_utf8_lossy(&r.body).to_string();
            let port: u16 = sdp
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            self.media = Some(SocketAddr::new("127.0.0.1".parse().unwrap(), port));
            let ack = self.request("ACK", "", "");
            self.sip.send_to(&ack, self.server).await.unwrap();
        }
        r
    }

    async fn send_rtp(&mut self, pt: u8, ts: u32, payload: Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        let p = RtpPacket {
            marker: false,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: 99,
            csrcs: vec![],
            payload,
        };
        self.rtp
            .send_to(&p.to_bytes(), self.media.unwrap())
            .await
            .unwrap();
    }

    /// Keys as RFC 4733 events (updates and three end packets each).
    async fn keys_rfc4733(&mut self, keys: &str) {
        for k in keys.chars() {
            let d = Digit::from_char(k).unwrap();
            self.ts = self.ts.wrapping_add(1600);
            for (duration, end) in [
                (160, false),
                (320, false),
                (640, true),
                (640, true),
                (640, true),
            ] {
                let p = EventPayload {
                    event: d.event_code(),
                    end,
                    volume: 10,
                    duration,
                };
                self.send_rtp(101, self.ts, p.to_bytes().to_vec()).await;
            }
        }
    }

    async fn keys_info(&mut self, keys: &str) {
        for (i, k) in keys.chars().enumerate() {
            let (ct, body) = if i % 2 == 0 {
                (
                    "application/dtmf-relay",
                    format!("Signal={k}\r\nDuration=160\r\n"),
                )
            } else {
                ("application/dtmf", k.to_string())
            };
            let req = self.request("INFO", &format!("Content-Type: {ct}\r\n"), &body);
            assert_eq!(self.transact(req).await.status, 200);
        }
    }

    /// Keys as in-band tones in A-law audio, paced like a real phone (20 ms packets).
    async fn keys_inband(&mut self, keys: &str) {
        let tones = tones(keys);
        let mut clock = tokio::time::interval(Duration::from_millis(20));
        for chunk in tones.chunks(160) {
            clock.tick().await;
            self.ts = self.ts.wrapping_add(160);
            self.send_rtp(8, self.ts, Law::Alaw.encode_all(chunk)).await;
        }
    }

    /// Receives RTP until `done` says stop.
    async fn listen(&mut self, mut done: impl FnMut(&[RtpPacket]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut buf = vec![0u8; 2048];
        while !done(&self.received) {
            let n = tokio::time::timeout_at(deadline.into(), self.rtp.recv(&mut buf))
                .await
                .expect("RTP stopped or the condition never held")
                .unwrap();
            self.received.push(RtpPacket::parse(&buf[..n]).unwrap());
        }
    }

    async fn bye(&mut self) {
        let req = self.request("BYE", "", "");
        assert_eq!(self.transact(req).await.status, 200);
    }
}

fn rand_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// DTMF tones (100 ms on, 100 ms off) as linear samples.
fn tones(keys: &str) -> Vec<i16> {
    let rows = [697.0f32, 770.0, 852.0, 941.0];
    let cols = [1209.0f32, 1336.0, 1477.0, 1633.0];
    let pad = ["123A", "456B", "789C", "*0#D"];
    let mut out = Vec::new();
    for k in keys.chars() {
        let r = pad.iter().position(|l| l.contains(k)).unwrap();
        let c = pad[r].find(k).unwrap();
        for i in 0..800 {
            let t = i as f32 / 8000.0;
            let v = 6000.0 * (2.0 * std::f32::consts::PI * rows[r] * t).sin()
                + 6000.0 * (2.0 * std::f32::consts::PI * cols[c] * t).sin();
            out.push(v as i16);
        }
        out.extend(std::iter::repeat_n(0i16, 800));
    }
    out
}

fn is_silence(p: &RtpPacket) -> bool {
    p.payload.iter().all(|&b| b == Law::Alaw.silence())
}

async fn ivr_events(h: &Hotline) -> Vec<zhenwei_core::verify::QueryEvent> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let (_, events) = h.core.verifier.history(&h.code).await.unwrap().unwrap();
        if !events.is_empty() {
            return events;
        }
        assert!(Instant::now() < deadline, "no query recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_keys_a_genuine_code_by_rfc4733_and_hears_the_verdict() {
    let h = hotline().await;
    let mut phone = Phone::new(h.sip).await;
    let r = phone
        .invite(&phone.offer("8 0 101", "a=rtpmap:101 telephone-event/8000\r\n"))
        .await;
    assert_eq!(r.status, 200);
    let answer = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        answer.contains("a=rtpmap:8 PCMA/8000")
            && answer.contains("a=rtpmap:101 telephone-event/8000"),
        "{answer}"
    );
    // The language menu starts with a marked packet.
    phone.listen(|p| !p.is_empty()).await;
    assert!(phone.received[0].marker);
    assert_eq!(phone.received[0].payload_type, 8);
    // English, the code, #, confirm — each barging into the prompt playing.
    phone.keys_rfc4733("2").await;
    let code = h.code.clone();
    phone.keys_rfc4733(&format!("{code}#")).await;
    phone.keys_rfc4733("1").await;
    let asked = phone.received.len();
    let events = ivr_events(&h).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].channel, "ivr");
    assert_eq!(events[0].authenticity, "genuine");
    assert_eq!(
        events[0].source,
        zhenwei_core::verify::mask_source(zhenwei_core::Channel::Ivr, "13800000001")
    );
    // The number-derived place: segment 1380000 is 杭州 (330100) in the demo table.
    assert_eq!(events[0].place.as_deref(), Some("330100"));
    // Hear the verdict: the last talk spurt before a second of silence.
    phone
        .listen(|p| {
            p.len() > asked + 60
                && p.iter().rev().take(50).all(is_silence)
                && p[asked..].iter().any(|x| !is_silence(x))
        })
        .await;
    let after = &phone.received[asked..];
    let start = after.iter().rposition(|p| p.marker).unwrap();
    let lib = Library::builtin().unwrap();
    let expected: usize = [
        PromptId::Genuine,
        PromptId::Product,
        PromptId::Enterprise,
        PromptId::FirstQuery,
        PromptId::VerdictMenu,
    ]
    .iter()
    .map(|&p| lib.samples(Lang::En, p).len())
    .sum::<usize>()
        + 4000; // the half-second pause before the menu
                // The verdict ends where a second of silence begins (the pause inside it is shorter); its
                // last word may end a few packets early (the prompts' own trailing silence).
    let end = (start..after.len())
        .find(|&i| after[i..].iter().take(50).all(is_silence))
        .unwrap();
    let packets = end - start;
    let want = expected.div_ceil(160);
    assert!(
        (want - 6..=want).contains(&packets),
        "the verdict lasted {packets} packets, expected {want}"
    );
    let pcm: Vec<f64> = after[start..end]
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| f64::from(Law::Alaw.decode(b))))
        .collect();
    let rms = (pcm.iter().map(|x| x * x).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 1000.0, "verdict audio rms {rms}");
    // The sequence numbers run on without gaps.
    assert!(phone
        .received
        .windows(2)
        .all(|w| w[1].sequence == w[0].sequence.wrapping_add(1)));
    let pcm: Vec<f64> = after[start..start + expected / 160]
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| f64::from(Law::Alaw.decode(b))))
        .collect();
    let rms = (pcm.iter().map(|x| x * x).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 300.0, "verdict audio rms {rms}");
    phone.bye().await;

    // The call log: one row, written when the call's task stopped.
    let keys = h.core.verifier.keys().current();
    let deadline = Instant::now() + LIMIT;
    let calls = loop {
        let calls = zhenwei_core::call_log::list(&h.core.store, &keys.keyring, None, 10)
            .await
            .unwrap();
        if !calls.is_empty() {
            break calls;
        }
        assert!(Instant::now() < deadline, "no call logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        c.caller,
        zhenwei_core::codes::text::mask_phone("13800000001")
    );
    assert_eq!(c.sip_call_id, phone.call_id);
    assert_eq!(c.trunk, phone.sip.local_addr().unwrap().to_string());
    assert_eq!(c.lang.as_deref(), Some("en"));
    assert_eq!(c.queries.len(), 1);
    assert_eq!(c.queries[0].code, code);
    assert_eq!(c.queries[0].authenticity.as_deref(), Some("genuine"));
    assert_eq!(c.queries[0].event_id, Some(events[0].id));
    assert_eq!(c.hangup, "caller_bye");
    assert!(c
        .answered_at
        .is_some_and(|a| a >= c.started_at && a <= c.ended_at));
    // Found by the caller's keyed hash; nobody else's.
    let mine = zhenwei_core::call_log::list(&h.core.store, &keys.keyring, Some("13800000001"), 10);
    assert_eq!(mine.await.unwrap().len(), 1);
    let other = zhenwei_core::call_log::list(&h.core.store, &keys.keyring, Some("13900000000"), 10);
    assert!(other.await.unwrap().is_empty());
    // At rest the number is encrypted: the row holds no digits of it but the masked ones.
    let (cipher, key): (String, String) =
        sqlx::query_as("SELECT caller_cipher, source_key FROM calls")
            .fetch_one(h.core.store.pool())
            .await
            .unwrap();
    assert!(!cipher.contains("13800000001") && !key.contains("13800000001"));
    assert_eq!(
        zhenwei_core::contacts::open(&keys.keyring, &key, &cipher).unwrap(),
        "13800000001"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_keys_work() {
    let h = hotline().await;
    let mut phone = Phone::new(h.sip).await;
    assert_eq!(phone.invite(&phone.offer("0", "")).await.status, 200);
    phone.listen(|p| !p.is_empty()).await;
    assert_eq!(phone.received[0].payload_type, 0, "PCMU offered first");
    let code = h.code.clone();
    phone.keys_info(&format!("1{code}#1")).await;
    let events = ivr_events(&h).await;
    assert_eq!(
        (events[0].channel.as_str(), events[0].authenticity.as_str()),
        ("ivr", "genuine")
    );
    phone.bye().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inband_tones_work() {
    let h = hotline().await;
    let mut phone = Phone::new(h.sip).await;
    // No telephone-event offered: the phone can only send tones.
    let r = phone.invite(&phone.offer("8", "")).await;
    assert_eq!(r.status, 200);
    assert!(!String::from_utf8_lossy(&r.body).contains("telephone-event"));
    let code = h.code.clone();
    phone.keys_inband(&format!("1{code}#1")).await;
    let events = ivr_events(&h).await;
    assert_eq!(
        (events[0].channel.as_str(), events[0].authenticity.as_str()),
        ("ivr", "genuine")
    );
    phone.bye().await;
}

#[tokio::test]
async fn an_offer_without_g711_gets_488() {
    let h = hotline().await;
    let mut phone = Phone::new(h.sip).await;
    let r = phone
        .invite(&phone.offer("9 96", "a=rtpmap:96 opus/48000/2\r\n"))
        .await;
    assert_eq!(r.status, 488);
}

/// The advice voices a server would have rendered at `feed import`: here one second of a tone
/// for the recall's English advice, nothing for any other text (names are left out).
struct AdviceVoices {
    advice: String,
    audio: std::sync::Arc<[i16]>,
}

impl zhenwei_ivr::prompts::NameVoices for AdviceVoices {
    fn voice(&self, _lang: Lang, text: &str) -> Option<std::sync::Arc<[i16]>> {
        (text == self.advice).then(|| self.audio.clone())
    }
}

/// Issue 8 on the phone: after a recall is imported, a caller keying a code of the recalled lot
/// hears the recall warning and then the feed's own advice — rendered audio, not synthesis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_recall_is_spoken_with_the_feeds_advice() {
    let (core, manifest, _dir) = demo_core().await;
    // Genuine demo codes are infant formula of lot NB2026A, which docs/feeds/recall.csv recalls.
    let code = manifest["genuine"][3].as_str().unwrap().to_owned();
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/feeds/recall.csv"
    ))
    .unwrap();
    let report = zhenwei_core::feeds::import(
        &core.store,
        zhenwei_core::feeds::FeedKind::Recall,
        &file,
        &zhenwei_core::feeds::apply::ImportOptions {
            actor: "test".into(),
            file_name: Some("recall.csv".into()),
            format: None,
            skip_bad_rows: false,
        },
    )
    .await
    .unwrap();
    assert!(report.applied);
    let advice = "Stop feeding it now and return it with your receipt where you bought it.";
    let tone: Vec<i16> = (0..8000)
        .map(|i| ((f64::from(i) * 0.3).sin() * 8000.0) as i16)
        .collect();
    let lib = std::sync::Arc::new(Library::builtin().unwrap());
    let deps = std::sync::Arc::new(zhenwei_ivr::call::shell::CallDeps {
        verifier: Some(core.verifier.clone()),
        library: lib.clone(),
        names: std::sync::Arc::new(AdviceVoices {
            advice: advice.into(),
            audio: std::sync::Arc::from(tone),
        }),
        limit: None,
        menu: zhenwei_ivr::menu::MenuConfig::default(),
        max_call: Duration::from_secs(600),
    });
    let options = IvrOptions::new("127.0.0.1".parse().unwrap());
    let handler = IvrHandler::with_deps(deps, &options);
    let sip = serve_sip(handler).await;

    let mut phone = Phone::new(sip).await;
    let r = phone
        .invite(&phone.offer("8 101", "a=rtpmap:101 telephone-event/8000\r\n"))
        .await;
    assert_eq!(r.status, 200);
    phone.listen(|p| !p.is_empty()).await;
    phone.keys_rfc4733("2").await;
    phone.keys_rfc4733(&format!("{code}#")).await;
    phone.keys_rfc4733("1").await;
    let asked = phone.received.len();
    phone
        .listen(|p| {
            p.len() > asked + 60
                && p.iter().rev().take(50).all(is_silence)
                && p[asked..].iter().any(|x| !is_silence(x))
        })
        .await;
    let (_, events) = core.verifier.history(&code).await.unwrap().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].authenticity, "genuine");
    assert!(
        events[0].warnings.contains("recalled"),
        "{:?}",
        events[0].warnings
    );
    // The prompt sequence: genuine, product, maker (names left out), first check, the recall
    // warning, the recall's advice, the pause, the verdict menu.
    let after = &phone.received[asked..];
    let start = after.iter().rposition(|p| p.marker).unwrap();
    let end = (start..after.len())
        .find(|&i| after[i..].iter().take(50).all(is_silence))
        .unwrap();
    let prompts: usize = [
        PromptId::Genuine,
        PromptId::Product,
        PromptId::Enterprise,
        PromptId::FirstQuery,
        PromptId::WRecalled,
        PromptId::VerdictMenu,
    ]
    .iter()
    .map(|&p| lib.samples(Lang::En, p).len())
    .sum();
    let want = (prompts + 8000 + 4000).div_ceil(160);
    let packets = end - start;
    assert!(
        (want - 6..=want).contains(&packets),
        "the verdict lasted {packets} packets, expected {want} (with 50 of advice)"
    );
    // The advice is heard where it belongs: right after the recall warning.
    let at = start
        + [
            PromptId::Genuine,
            PromptId::Product,
            PromptId::Enterprise,
            PromptId::FirstQuery,
            PromptId::WRecalled,
        ]
        .iter()
        .map(|&p| lib.samples(Lang::En, p).len())
        .sum::<usize>()
        .div_ceil(160);
    let pcm: Vec<f64> = after[at + 2..at + 48]
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| f64::from(Law::Alaw.decode(b))))
        .collect();
    let rms = (pcm.iter().map(|x| x * x).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!((4000.0..7000.0).contains(&rms), "advice audio rms {rms}");
    phone.bye().await;
}
