//! One call: its media, its key presses, its menu, and what it asks of the verification core.
//!
//! [`CallCore`] is the per-call glue as a sans-I/O state machine. Its inputs are the 20 ms media
//! clock ([`CallCore::tick`]), RTP datagrams from the caller ([`CallCore::on_rtp`]), key presses
//! from SIP INFO ([`CallCore::on_info_digit`]), re-offers, and the core's answers; its outputs
//! ([`CallOutput`]) are RTP datagrams to send and requests for the shell: verify, report (of
//! the query whose verdict was played, by its event id), hang up, transfer. Inside, it wires the pieces together:
//!
//! * the [`Menu`] decides; its `Play` becomes audio rendered from the prompt
//!   [`Library`](crate::prompts::Library), encoded in the negotiated G.711 law and queued on the
//!   [`RtpSender`], whose end-of-playback becomes the menu's `PromptFinished`;
//! * menu timers count media ticks, so a whole call runs in a unit test without a clock;
//! * incoming RTP latches the symmetric-RTP peer, telephone-events go through the RFC 4733
//!   receiver, audio through G.711 decoding and the in-band Goertzel detector — which is
//!   switched off once the caller's phone has shown it sends RFC 4733 events (phones that send
//!   both would otherwise double every key);
//! * on hold (a re-offer with `sendonly`/`inactive`/`0.0.0.0`) the clock keeps running and
//!   prompts keep "playing", but nothing is sent.
//!
//! [`clock`] ticks every call's `CallCore` from one media thread and sends the packets;
//! [`shell`] is each call's task (receiving, signalling, the core's services); [`calls`] keeps
//! the calls of a server and is what the SIP user agent talks to.

pub mod calls;
pub mod clock;
pub mod handler;
pub mod shell;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use zhenwei_core::verdict::Channel;
use zhenwei_core::{Query, Verdict};

use crate::dtmf::inband::InbandDetector;
use crate::dtmf::rfc4733::Rfc4733Receiver;
use crate::dtmf::Digit;
use crate::menu::{Action, Event, Failure, Menu, MenuConfig, PlayId, TimerId};
use crate::prompts::{Library, NameVoices};
use crate::rtp::{PeerAddress, PlaybackEvent, RtpPacket, RtpSender, PACKET_INTERVAL};
use crate::sdp::Negotiated;

/// What the call needs done.
#[derive(Clone, Debug)]
pub enum CallOutput {
    /// Send this RTP datagram.
    Send { packet: Vec<u8>, to: SocketAddr },
    /// Ask the core for a verdict; answer with [`CallCore::on_verdict`].
    Verify(Query),
    /// Report a suspected fake — the query event `event_id` is the verdict the caller heard,
    /// so the report is filed against it and records no query of its own; answer with
    /// [`CallCore::on_report`].
    Report { query: Query, event_id: i64 },
    /// End the call (SIP BYE).
    Hangup,
    /// Transfer the caller (SIP REFER).
    Transfer(String),
}

/// The caller's identity as a query source: the user part of their URI (the phone number on a
/// carrier trunk), `anonymous` when withheld.
pub fn caller_source(uri: &str) -> String {
    let s = uri.trim();
    let s = match (s.find('<'), s.find('>')) {
        (Some(a), Some(b)) if a < b => s.get(a + 1..b).unwrap_or(s),
        _ => s,
    };
    let s = s
        .strip_prefix("sips:")
        .or_else(|| s.strip_prefix("sip:"))
        .or_else(|| s.strip_prefix("tel:"))
        .unwrap_or(s);
    let user: String = s
        .split(['@', ';', '>', '?'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .take(64)
        .collect();
    if user.is_empty() {
        "anonymous".into()
    } else {
        user
    }
}

/// One call's glue.
pub struct CallCore {
    menu: Menu,
    sender: RtpSender,
    negotiated: Negotiated,
    peer: Option<PeerAddress>,
    events: Rfc4733Receiver,
    inband: InbandDetector,
    saw_events: bool,
    timer: Option<(TimerId, u64)>,
    ticks: u64,
    source: String,
    library: Arc<Library>,
    names: Arc<dyn NameVoices>,
    pcm: Vec<i16>,
    /// Keys received, for the call log.
    keys: usize,
}

impl CallCore {
    /// A call with the negotiated media and the caller's `source` (see [`caller_source`]).
    pub fn new(
        negotiated: Negotiated,
        source: String,
        menu: MenuConfig,
        library: Arc<Library>,
        names: Arc<dyn NameVoices>,
    ) -> CallCore {
        let sender = RtpSender::random(negotiated.law, negotiated.payload_type);
        CallCore::with_sender(negotiated, source, menu, library, names, sender)
    }

    /// As [`CallCore::new`] with a given sender (fixed SSRC and numbering, for tests).
    pub fn with_sender(
        negotiated: Negotiated,
        source: String,
        menu: MenuConfig,
        library: Arc<Library>,
        names: Arc<dyn NameVoices>,
        sender: RtpSender,
    ) -> CallCore {
        CallCore {
            menu: Menu::new(menu),
            sender,
            peer: negotiated.remote.map(PeerAddress::new),
            negotiated,
            events: Rfc4733Receiver::new(),
            inband: InbandDetector::new(),
            saw_events: false,
            timer: None,
            ticks: 0,
            source,
            library,
            names,
            pcm: Vec::with_capacity(crate::rtp::SAMPLES_PER_PACKET),
            keys: 0,
        }
    }

    /// The menu has finished (the hang-up or transfer was requested).
    pub fn is_done(&self) -> bool {
        self.menu.is_done()
    }

    /// The menu's language.
    pub fn lang(&self) -> zhenwei_core::Lang {
        self.menu.lang()
    }

    /// Keys received so far.
    pub fn keys_received(&self) -> usize {
        self.keys
    }

    /// The call is up: the menu starts.
    pub fn start(&mut self) -> Vec<CallOutput> {
        self.run(Event::Start)
    }

    /// 20 ms passed: the next packet, and whatever the passing time triggers.
    pub fn tick(&mut self) -> Vec<CallOutput> {
        self.ticks += 1;
        let mut out = Vec::new();
        let (packet, event) = self.sender.tick();
        if let (true, Some(peer)) = (self.negotiated.we_send(), &self.peer) {
            out.push(CallOutput::Send {
                packet: packet.to_bytes(),
                to: peer.target(),
            });
        }
        let mut events = Vec::new();
        if let Some(PlaybackEvent::Finished(id)) = event {
            events.push(Event::PromptFinished(PlayId(id)));
        }
        if let Some((id, due)) = self.timer {
            if due <= self.ticks {
                self.timer = None;
                events.push(Event::TimerFired(id));
            }
        }
        for e in events {
            out.extend(self.run(e));
        }
        out
    }

    /// A datagram arrived on the call's RTP socket.
    pub fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr) -> Vec<CallOutput> {
        let Ok(p) = RtpPacket::parse(bytes) else {
            return Vec::new();
        };
        let voice = p.payload_type == self.negotiated.payload_type;
        let event = Some(p.payload_type) == self.negotiated.telephone_event;
        if !voice && !event {
            return Vec::new(); // comfort noise, RTCP on a muxed port, anything else
        }
        if let Some(peer) = &mut self.peer {
            if !peer.on_packet_from(from) {
                return Vec::new();
            }
        } else {
            // On hold with 0.0.0.0 the caller may still send: learn where from.
            let mut peer = PeerAddress::new(from);
            peer.on_packet_from(from);
            self.peer = Some(peer);
        }
        let digits: Vec<Digit> = if event {
            if !self.saw_events {
                tracing::debug!("the phone sends RFC 4733 events; in-band detection off");
            }
            self.saw_events = true;
            self.events
                .on_packet(p.timestamp, &p.payload)
                .into_iter()
                .collect()
        } else if self.saw_events {
            Vec::new()
        } else {
            self.negotiated.law.decode_into(&p.payload, &mut self.pcm);
            self.inband.push(&self.pcm)
        };
        if !digits.is_empty() {
            // The path, not the key: keys spell codes.
            tracing::debug!(path = if event { "rfc4733" } else { "inband" }, "key");
        }
        let mut out = Vec::new();
        for d in digits {
            out.extend(self.key(d));
        }
        out
    }

    /// A key press from SIP INFO.
    pub fn on_info_digit(&mut self, d: Digit) -> Vec<CallOutput> {
        self.key(d)
    }

    fn key(&mut self, d: Digit) -> Vec<CallOutput> {
        self.keys += 1;
        self.run(Event::Digit(d))
    }

    /// The core's answer to a [`CallOutput::Verify`].
    pub fn on_verdict(&mut self, result: Result<Verdict, Failure>) -> Vec<CallOutput> {
        self.run(match result {
            Ok(v) => Event::VerdictReady(Box::new(v)),
            Err(f) => Event::VerifyFailed(f),
        })
    }

    /// The core's answer to a [`CallOutput::Report`]: the case number, or failure.
    pub fn on_report(&mut self, result: Result<Option<i64>, ()>) -> Vec<CallOutput> {
        self.run(match result {
            Ok(case) => Event::ReportDone(case),
            Err(()) => Event::ReportFailed,
        })
    }

    /// A re-offer was answered: new codec, address or direction (hold/unhold).
    pub fn renegotiate(&mut self, n: Negotiated) {
        self.sender.set_codec(n.law, n.payload_type);
        match (&mut self.peer, n.remote) {
            (Some(p), Some(r)) => p.resignal(r),
            (None, Some(r)) => self.peer = Some(PeerAddress::new(r)),
            (_, None) => {}
        }
        self.negotiated = n;
    }

    /// Runs a menu event and every event its actions cause at once.
    fn run(&mut self, first: Event) -> Vec<CallOutput> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([first]);
        while let Some(e) = queue.pop_front() {
            for action in self.menu.handle(e) {
                match action {
                    Action::Play { id, items } => {
                        let audio = self.library.render(&items, self.names.as_ref());
                        let bytes = self.negotiated.law.encode_all(&audio);
                        self.sender.play(id.0, &bytes);
                        if self.sender.playing().is_none() {
                            queue.push_back(Event::PromptFinished(id));
                        }
                    }
                    Action::StopPlayback => self.sender.stop(),
                    Action::StartTimer { id, after } => {
                        let ticks = after.as_millis().div_ceil(PACKET_INTERVAL.as_millis());
                        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
                        self.timer = Some((id, self.ticks.saturating_add(ticks.max(1))));
                    }
                    Action::Verify { code, lang } => {
                        out.push(CallOutput::Verify(self.query(code, lang)))
                    }
                    Action::Report {
                        code,
                        lang,
                        event_id,
                    } => out.push(CallOutput::Report {
                        query: self.query(code, lang),
                        event_id,
                    }),
                    Action::Transfer { uri } => out.push(CallOutput::Transfer(uri)),
                    Action::Hangup => out.push(CallOutput::Hangup),
                }
            }
        }
        out
    }

    fn query(&self, code: String, lang: zhenwei_core::Lang) -> Query {
        Query {
            input: code,
            channel: Channel::Ivr,
            source: self.source.clone(),
            place: None,
            store_id: None,
            lang,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::rfc4733::EventPayload;
    use crate::g711::Law;
    use crate::prompts::{NoNames, PromptId};
    use crate::sdp::Direction;
    use zhenwei_core::verdict::Authenticity;
    use zhenwei_core::Lang;

    const SDP_ADDR: &str = "192.0.2.1:4000";
    const NAT_ADDR: &str = "203.0.113.9:50000";

    fn negotiated() -> Negotiated {
        Negotiated {
            law: Law::Alaw,
            payload_type: 8,
            telephone_event: Some(101),
            remote: Some(SDP_ADDR.parse().unwrap()),
            remote_direction: Direction::SendRecv,
            local_direction: Direction::SendRecv,
        }
    }

    fn library() -> Arc<Library> {
        Arc::new(Library::builtin().unwrap())
    }

    fn call() -> CallCore {
        CallCore::with_sender(
            negotiated(),
            "13800000001".into(),
            MenuConfig::default(),
            library(),
            Arc::new(NoNames),
            RtpSender::new(Law::Alaw, 8, 0xABCD, 100, 1000),
        )
    }

    /// A caller's phone: RTP packets with events or audio.
    struct Phone {
        seq: u16,
        ts: u32,
    }

    impl Phone {
        fn packet(&mut self, pt: u8, ts: u32, payload: Vec<u8>) -> Vec<u8> {
            self.seq = self.seq.wrapping_add(1);
            RtpPacket {
                marker: false,
                payload_type: pt,
                sequence: self.seq,
                timestamp: ts,
                ssrc: 77,
                csrcs: vec![],
                payload,
            }
            .to_bytes()
        }

        /// One key as RFC 4733: three updates and three end packets.
        fn key(&mut self, c: &mut CallCore, d: Digit) -> Vec<CallOutput> {
            self.ts += 1600;
            let ts = self.ts;
            let mut out = Vec::new();
            for (dur, end) in [
                (160, false),
                (320, false),
                (480, false),
                (640, true),
                (640, true),
                (640, true),
            ] {
                let p = EventPayload {
                    event: d.event_code(),
                    end,
                    volume: 10,
                    duration: dur,
                }
                .to_bytes()
                .to_vec();
                let bytes = self.packet(101, ts, p);
                out.extend(c.on_rtp(&bytes, NAT_ADDR.parse().unwrap()));
            }
            out
        }

        fn keys(&mut self, c: &mut CallCore, keys: &str) -> Vec<CallOutput> {
            keys.chars()
                .flat_map(|k| self.key(c, Digit::from_char(k).unwrap()))
                .collect()
        }
    }

    /// Ticks until the current prompt has finished playing; returns the packets sent.
    fn play_out(c: &mut CallCore) -> Vec<(RtpPacket, SocketAddr)> {
        let mut sent = Vec::new();
        for _ in 0..5000 {
            if c.sender.playing().is_none() {
                break;
            }
            for o in c.tick() {
                if let CallOutput::Send { packet, to } = o {
                    sent.push((RtpPacket::parse(&packet).unwrap(), to));
                }
            }
        }
        sent
    }

    fn genuine() -> Verdict {
        Verdict {
            authenticity: Authenticity::Genuine,
            family: Some(zhenwei_core::codes::Family::Supervision),
            code: None,
            warnings: Vec::new(),
            recheck: false,
            query_count: 1,
            first_query: true,
            first_queried_at: None,
            first_queried_city: None,
            product: None,
            enterprise: None,
            batch: None,
            prefix_status: None,
            notices: Vec::new(),
            case_id: None,
            case_ids: Vec::new(),
            message: String::new(),
            lang: Lang::En,
            error: None,
            event_id: 1,
            queried_at: 0,
        }
    }

    #[test]
    fn caller_sources() {
        assert_eq!(
            caller_source("sip:+8613800138000@trunk.example"),
            "+8613800138000"
        );
        assert_eq!(
            caller_source("\"Li\" <sip:13800000001@10.0.0.1;user=phone>;tag=x"),
            "13800000001"
        );
        assert_eq!(caller_source("tel:+86-571-1234"), "+86-571-1234");
        assert_eq!(caller_source("<sip:@host>"), "anonymous");
        assert_eq!(caller_source(""), "anonymous");
    }

    #[test]
    fn a_whole_call_by_rfc4733() {
        let lib = library();
        let mut c = call();
        assert!(c.start().is_empty());
        // The language menu plays from the SDP address until the caller's RTP is seen.
        let first = c.tick();
        let CallOutput::Send { packet, to } = &first[0] else {
            panic!()
        };
        let p = RtpPacket::parse(packet).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.ssrc, p.sequence, p.timestamp),
            (8, 0xABCD, 100, 1000)
        );
        assert_eq!(to.to_string(), SDP_ADDR);
        let CallOutput::Send { packet, .. } = &c.tick()[0] else {
            panic!()
        };
        let p2 = RtpPacket::parse(packet).unwrap();
        assert_eq!((p2.sequence, p2.timestamp, p2.marker), (101, 1160, false));

        let mut phone = Phone { seq: 0, ts: 0 };
        // 2 (English), barging into the language menu; media now goes to the NAT address.
        phone.keys(&mut c, "2");
        let sent = play_out(&mut c);
        let expected = lib
            .samples(Lang::En, PromptId::EnterCode)
            .len()
            .div_ceil(160);
        assert_eq!(sent.len(), expected, "enter-code prompt length in packets");
        assert!(sent[0].0.marker);
        assert!(sent.iter().all(|(_, to)| to.to_string() == NAT_ADDR));
        assert!(sent
            .windows(2)
            .all(|w| w[1].0.sequence == w[0].0.sequence.wrapping_add(1)
                && w[1].0.timestamp == w[0].0.timestamp.wrapping_add(160)));

        assert!(phone.keys(&mut c, "12345678901234567890#").is_empty());
        play_out(&mut c);
        let out = phone.keys(&mut c, "1");
        let q = out
            .iter()
            .find_map(|o| match o {
                CallOutput::Verify(q) => Some(q.clone()),
                _ => None,
            })
            .expect("verify");
        assert_eq!(q.input, "12345678901234567890");
        assert_eq!(q.channel, Channel::Ivr);
        assert_eq!(q.source, "13800000001");
        assert_eq!(q.lang, Lang::En);
        assert_eq!(c.keys_received(), 23);

        c.on_verdict(Ok(genuine()));
        let sent = play_out(&mut c);
        let spoken: usize = [
            PromptId::Genuine,
            PromptId::FirstQuery,
            PromptId::VerdictMenu,
        ]
        .iter()
        .map(|&p| lib.samples(Lang::En, p).len())
        .sum::<usize>()
            + 500 * 8;
        assert_eq!(sent.len(), spoken.div_ceil(160));
        // Silence after the prompt, then the 5 s timeout repeats the menu.
        let mut silent = 0;
        loop {
            let out = c.tick();
            let CallOutput::Send { packet, .. } = &out[0] else {
                panic!()
            };
            assert!(RtpPacket::parse(packet)
                .unwrap()
                .payload
                .iter()
                .all(|&b| b == 0xD5));
            silent += 1;
            if c.sender.playing().is_some() {
                break; // the timer fired after this tick's (silent) packet
            }
        }
        assert_eq!(silent, 250, "5 s of silence at 20 ms");
        // 9: report the query whose verdict was played; then goodbye and hang up.
        let out = phone.keys(&mut c, "9");
        assert!(matches!(&out[..],
            [CallOutput::Report { query, event_id: 1 }] if query.input == "12345678901234567890"));
        c.on_report(Ok(Some(5)));
        play_out(&mut c);
        assert!(c.is_done());
    }

    #[test]
    fn goodbye_ends_with_hangup() {
        let mut c = call();
        c.start();
        let mut hangup = false;
        for _ in 0..100_000 {
            if c.tick().iter().any(|o| matches!(o, CallOutput::Hangup)) {
                hangup = true;
                break;
            }
        }
        // Language times out to 中文, then four silent timeouts on the code prompt.
        assert!(hangup);
        assert!(c.is_done());
    }

    #[test]
    fn sip_info_and_inband_keys_work_too() {
        let mut c = call();
        c.start();
        c.on_info_digit(Digit::D1);
        assert_eq!(c.menu.lang(), Lang::Zh);
        // In-band: tones in A-law audio packets.
        let tones = crate::dtmf::inband::tests::tones(
            &[Digit::D4, Digit::D2, Digit::Hash],
            (5000.0, 5000.0),
            100,
            100,
            200.0,
        );
        let mut phone = Phone { seq: 0, ts: 0 };
        let mut out = Vec::new();
        for (i, chunk) in tones.chunks(160).enumerate() {
            let bytes = phone.packet(8, i as u32 * 160, Law::Alaw.encode_all(chunk));
            out.extend(c.on_rtp(&bytes, NAT_ADDR.parse().unwrap()));
        }
        assert_eq!(c.keys_received(), 4);
        play_out(&mut c);
        let out = c.on_info_digit(Digit::D1);
        assert!(matches!(&out[..], [CallOutput::Verify(q)] if q.input == "42"));
    }

    #[test]
    fn inband_is_ignored_once_the_phone_sends_events() {
        let mut c = call();
        c.start();
        let mut phone = Phone { seq: 0, ts: 0 };
        phone.keys(&mut c, "1");
        let tones =
            crate::dtmf::inband::tests::tones(&[Digit::D4], (5000.0, 5000.0), 100, 100, 0.0);
        for (i, chunk) in tones.chunks(160).enumerate() {
            let bytes = phone.packet(8, i as u32 * 160, Law::Alaw.encode_all(chunk));
            c.on_rtp(&bytes, NAT_ADDR.parse().unwrap());
        }
        assert_eq!(c.keys_received(), 1);
    }

    #[test]
    fn packets_from_another_address_are_ignored() {
        let mut c = call();
        c.start();
        let mut phone = Phone { seq: 0, ts: 0 };
        phone.keys(&mut c, "1");
        let p = EventPayload {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes()
        .to_vec();
        let bytes = phone.packet(101, 99_999, p);
        c.on_rtp(&bytes, "198.51.100.7:1".parse().unwrap());
        assert_eq!(c.keys_received(), 1);
        assert!(c.on_rtp(b"garbage", NAT_ADDR.parse().unwrap()).is_empty());
        let cn = phone.packet(13, 5, vec![40]);
        assert!(c.on_rtp(&cn, NAT_ADDR.parse().unwrap()).is_empty());
    }

    #[test]
    fn nine_typed_ahead_by_info_reports_as_soon_as_the_verdict_is_in() {
        let mut c = call();
        c.start();
        c.on_info_digit(Digit::D2);
        for k in "12345678901234567890#".chars() {
            assert!(c.on_info_digit(Digit::from_char(k).unwrap()).is_empty());
        }
        let out = c.on_info_digit(Digit::D1);
        assert!(out.iter().any(|o| matches!(o, CallOutput::Verify(_))));
        // "please wait" plays; the 9 pressed now waits for the verdict.
        assert!(c.sender.playing().is_some());
        assert!(c.on_info_digit(Digit::D9).is_empty());
        assert!(c.sender.playing().is_some(), "please wait plays on");
        let mut heard = genuine();
        heard.event_id = 314;
        let out = c.on_verdict(Ok(heard));
        let [CallOutput::Report { query: q, event_id }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(*event_id, 314, "the report names the verdict's query event");
        assert_eq!(q.input, "12345678901234567890");
        assert_eq!((q.channel, q.lang), (Channel::Ivr, Lang::En));
        // Nothing plays while the report is filed: the verdict was never started.
        assert!(c.sender.playing().is_none());
        c.on_report(Ok(Some(5)));
        assert!(
            c.sender.playing().is_some(),
            "report received, case 5, goodbye"
        );
        assert_eq!(c.keys_received(), 24);
    }

    #[test]
    fn on_hold_nothing_is_sent_but_time_runs() {
        let mut c = call();
        c.start();
        let mut held = negotiated();
        held.remote_direction = Direction::SendOnly;
        held.local_direction = Direction::RecvOnly;
        c.renegotiate(held);
        for _ in 0..10 {
            assert!(c
                .tick()
                .iter()
                .all(|o| !matches!(o, CallOutput::Send { .. })));
        }
        c.renegotiate(negotiated());
        let out = c.tick();
        let CallOutput::Send { packet, .. } = &out[0] else {
            panic!()
        };
        // The stream continues: ten packets' worth of numbering went by on hold.
        assert_eq!(RtpPacket::parse(packet).unwrap().sequence, 110);
    }

    #[test]
    fn pcmu_calls_send_pcmu() {
        let mut n = negotiated();
        n.law = Law::Ulaw;
        n.payload_type = 0;
        let mut c = CallCore::new(
            n,
            "x".into(),
            MenuConfig::default(),
            library(),
            Arc::new(NoNames),
        );
        c.start();
        let CallOutput::Send { packet, .. } = &c.tick()[0] else {
            panic!()
        };
        let p = RtpPacket::parse(packet).unwrap();
        assert_eq!(p.payload_type, 0);
        // Speech, encoded with µ-law (A-law would decode to noise of a different level).
        let pcm: Vec<i16> = p.payload.iter().map(|&b| Law::Ulaw.decode(b)).collect();
        let lib = library();
        let expected = &lib.samples(Lang::Zh, PromptId::LanguageMenu)[..160];
        for (a, b) in pcm.iter().zip(expected) {
            assert!((i32::from(*a) - i32::from(*b)).abs() <= (i32::from(*b).abs() / 16).max(8) * 2);
        }
    }
}
