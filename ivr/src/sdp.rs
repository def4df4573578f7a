//! SDP offer/answer (RFC 4566 syntax, RFC 3264 model), the subset a telephone hotline needs.
//!
//! The caller's INVITE carries an *offer*: for each media stream (`m=` line) the transport
//! address (`c=` + port), the payload types it can receive in order of preference, what each
//! dynamic type means (`a=rtpmap`), and the direction (`sendrecv`, or `sendonly`/`inactive` to put
//! the call on hold). The *answer* accepts one audio stream with one voice codec — G.711 A-law
//! (PCMA) or µ-law (PCMU), whichever the caller listed first — plus RFC 4733 `telephone-event`
//! with the caller's own payload type, and rejects every other stream with port 0. No common
//! codec is [`SdpError::NoCommonCodec`], which the SIP layer turns into 488 Not Acceptable Here.
//!
//! [`MediaSession`] keeps the answerer's side across re-offers (hold/unhold, a new address):
//! the same session id, and a version that increases whenever the answer changes. Parsing never
//! panics: anything unexpected is an error or ignored, as RFC 4566 asks of unknown attributes.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::g711::Law;

/// Why an offer cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("the offer has no audio stream")]
    NoAudio,
    #[error("no common codec: the offer has neither PCMA nor PCMU at 8000 Hz")]
    NoCommonCodec,
}

/// Media direction (RFC 3264 §5.1), from the point of view of the side that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(s: &str) -> Option<Direction> {
        match s {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer gives to an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// May the writer of this direction receive media?
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// May the writer of this direction send media?
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// One `m=` line of an offer and its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaOffer {
    pub media: String,
    pub port: u16,
    pub proto: String,
    /// Format tokens as listed (payload types for RTP).
    pub formats: Vec<String>,
    /// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`: payload type → (encoding, clock rate).
    pub rtpmaps: Vec<(u8, String, u32)>,
    /// `a=fmtp:<pt> <params>`.
    pub fmtps: Vec<(u8, String)>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
}

/// A parsed offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaOffer>,
}

fn malformed(what: impl Into<String>) -> SdpError {
    SdpError::Malformed(what.into())
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut it = value.split_ascii_whitespace();
    let (net, family, addr) = (it.next(), it.next(), it.next());
    if net != Some("IN") || !matches!(family, Some("IP4") | Some("IP6")) {
        return Err(malformed(format!("unsupported c= line {value:?}")));
    }
    let addr = addr.ok_or_else(|| malformed("c= line without an address"))?;
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| malformed(format!("c= address {addr:?} is not an IP address")))
}

impl Offer {
    /// Parses an SDP body (CRLF or LF line endings).
    pub fn parse(text: &str) -> Result<Offer, SdpError> {
        let mut offer = Offer {
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut saw_version = false;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = match line.split_once('=') {
                Some((k, v)) if k.len() == 1 => (k, v.trim()),
                _ => return Err(malformed(format!("line {line:?} is not <type>=<value>"))),
            };
            match kind {
                "v" => {
                    if value != "0" {
                        return Err(malformed(format!("SDP version {value:?}")));
                    }
                    saw_version = true;
                }
                "c" => {
                    let ip = parse_connection(value)?;
                    match offer.media.last_mut() {
                        Some(m) => m.connection = Some(ip),
                        None => offer.connection = Some(ip),
                    }
                }
                "m" => offer.media.push(parse_media_line(value)?),
                "a" => {
                    let (name, arg) = match value.split_once(':') {
                        Some((n, a)) => (n, Some(a.trim())),
                        None => (value, None),
                    };
                    match offer.media.last_mut() {
                        Some(m) => apply_media_attribute(m, name, arg),
                        None => {
                            if let Some(d) = Direction::parse(name) {
                                offer.direction = Some(d);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(malformed("no v= line"));
        }
        Ok(offer)
    }
}

fn parse_media_line(value: &str) -> Result<MediaOffer, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let media = it.next().ok_or_else(|| malformed("empty m= line"))?;
    let port = it
        .next()
        .ok_or_else(|| malformed("m= line without a port"))?;
    let port = port.split('/').next().unwrap_or(port);
    let port: u16 = port
        .parse()
        .map_err(|_| malformed(format!("m= port {port:?}")))?;
    let proto = it
        .next()
        .ok_or_else(|| malformed("m= line without a protocol"))?;
    Ok(MediaOffer {
        media: media.to_owned(),
        port,
        proto: proto.to_owned(),
        formats: it.map(str::to_owned).collect(),
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        direction: None,
        connection: None,
    })
}

fn apply_media_attribute(m: &mut MediaOffer, name: &str, arg: Option<&str>) {
    if let Some(d) = Direction::parse(name) {
        m.direction = Some(d);
        return;
    }
    let Some(arg) = arg else { return };
    match name {
        "rtpmap" => {
            // <pt> <encoding>/<clock>[/<channels>]
            let Some((pt, rest)) = arg.split_once(' ') else {
                return;
            };
            let Ok(pt) = pt.parse::<u8>() else { return };
            let mut parts = rest.trim().split('/');
            let enc = parts.next().unwrap_or_default().to_owned();
            let Some(Ok(clock)) = parts.next().map(str::parse::<u32>) else {
                return;
            };
            m.rtpmaps.push((pt, enc, clock));
        }
        "fmtp" => {
            let Some((pt, rest)) = arg.split_once(' ') else {
                return;
            };
            if let Ok(pt) = pt.parse::<u8>() {
                m.fmtps.push((pt, rest.trim().to_owned()));
            }
        }
        "ptime" => m.ptime = arg.parse().ok(),
        _ => {}
    }
}

/// What the offer and answer agreed on for the audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub law: Law,
    /// The voice payload type (0 and 8 unless the offer mapped PCMU/PCMA dynamically).
    pub payload_type: u8,
    /// RFC 4733 events, with the offer's payload type.
    pub telephone_event: Option<u8>,
    /// Where the caller receives RTP; `None` when on hold with the RFC 2543 `0.0.0.0` address.
    pub remote: Option<SocketAddr>,
    /// The caller's direction.
    pub remote_direction: Direction,
    /// Our direction (the answer's).
    pub local_direction: Direction,
}

impl Negotiated {
    /// Should we send audio now (not on hold)?
    pub fn we_send(&self) -> bool {
        self.local_direction.sends() && self.remote.is_some()
    }
}

/// Chooses the codec and events for one audio `m=` line.
fn choose(m: &MediaOffer) -> Option<(Law, u8, Option<u8>)> {
    let rtpmap = |pt: u8| {
        m.rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, e, c)| (e.to_ascii_uppercase(), *c))
    };
    let mut voice = None;
    let mut events = None;
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        if pt > 127 {
            continue;
        }
        let law = match (pt, rtpmap(pt)) {
            (_, Some((enc, 8000))) if enc == "PCMA" => Some(Law::Alaw),
            (_, Some((enc, 8000))) if enc == "PCMU" => Some(Law::Ulaw),
            (_, Some((enc, 8000))) if enc == "TELEPHONE-EVENT" => {
                events.get_or_insert(pt);
                None
            }
            (_, Some(_)) => None,
            (8, None) => Some(Law::Alaw),
            (0, None) => Some(Law::Ulaw),
            _ => None,
        };
        if let Some(law) = law {
            voice.get_or_insert((law, pt));
        }
    }
    voice.map(|(law, pt)| (law, pt, events))
}

fn is_rtp_avp(proto: &str) -> bool {
    matches!(proto, "RTP/AVP" | "RTP/AVPF")
}

/// The answerer's side of one call's SDP exchanges.
#[derive(Clone, Debug)]
pub struct MediaSession {
    local: SocketAddr,
    session_id: u64,
    version: u64,
    last_answer: Option<String>,
}

impl MediaSession {
    /// `local` is where we receive RTP (the call's UDP socket, with a routable address).
    pub fn new(local: SocketAddr, session_id: u64) -> Self {
        MediaSession {
            local,
            session_id,
            version: session_id,
            last_answer: None,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Answers an offer (initial or re-offer). On error nothing changes: the previous
    /// negotiation stays in force (RFC 3264 §8: a rejected re-offer leaves the session as it
    /// was).
    pub fn answer(&mut self, offer_text: &str) -> Result<(Negotiated, String), SdpError> {
        let offer = Offer::parse(offer_text)?;
        let mut chosen: Option<(usize, Law, u8, Option<u8>)> = None;
        let mut any_audio = false;
        for (i, m) in offer.media.iter().enumerate() {
            if m.media != "audio" || m.port == 0 {
                continue;
            }
            any_audio = true;
            if chosen.is_none() && is_rtp_avp(&m.proto) {
                if let Some((law, pt, ev)) = choose(m) {
                    chosen = Some((i, law, pt, ev));
                }
            }
        }
        if !any_audio {
            return Err(SdpError::NoAudio);
        }
        let (index, law, pt, events) = chosen.ok_or(SdpError::NoCommonCodec)?;
        let m = offer
            .media
            .get(index)
            .ok_or_else(|| malformed("internal: chosen stream vanished"))?;
        let ip = m
            .connection
            .or(offer.connection)
            .ok_or_else(|| malformed("no c= line for the audio stream"))?;
        let remote_direction = m
            .direction
            .or(offer.direction)
            .unwrap_or(Direction::SendRecv);
        let remote = (!ip.is_unspecified()).then_some(SocketAddr::new(ip, m.port));
        let negotiated = Negotiated {
            law,
            payload_type: pt,
            telephone_event: events,
            remote,
            remote_direction,
            // RFC 2543 hold (c=0.0.0.0): the caller wants nothing sent.
            local_direction: match remote {
                Some(_) => remote_direction.answer(),
                None => Direction::RecvOnly,
            },
        };
        let body = self.render(&offer, index, &negotiated);
        Ok((negotiated, body))
    }

    fn render(&mut self, offer: &Offer, index: usize, n: &Negotiated) -> String {
        let body = |version: u64| {
            let ip = self.local.ip();
            let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
            let mut s = String::new();
            let _ = write!(
                s,
                "v=0\r\no=zhenwei {} {version} IN {family} {ip}\r\ns=zhenwei\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
                self.session_id
            );
            for (i, m) in offer.media.iter().enumerate() {
                if i != index {
                    let fmt = m.formats.first().map(String::as_str).unwrap_or("0");
                    let _ = write!(s, "m={} 0 {} {fmt}\r\n", m.media, m.proto);
                    continue;
                }
                let _ = write!(
                    s,
                    "m=audio {} {} {}",
                    self.local.port(),
                    m.proto,
                    n.payload_type
                );
                if let Some(te) = n.telephone_event {
                    let _ = write!(s, " {te}");
                }
                s.push_str("\r\n");
                let enc = match n.law {
                    Law::Alaw => "PCMA",
                    Law::Ulaw => "PCMU",
                };
                let _ = write!(s, "a=rtpmap:{} {enc}/8000\r\n", n.payload_type);
                if let Some(te) = n.telephone_event {
                    let _ = write!(
                        s,
                        "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
                    );
                }
                let _ = write!(s, "a=ptime:20\r\na={}\r\n", n.local_direction.as_str());
            }
            s
        };
        // The version changes only when the answer does.
        let same = body(self.version);
        if self.last_answer.as_deref() == Some(same.as_str()) {
            return same;
        }
        if self.last_answer.is_some() {
            self.version += 1;
        }
        let fresh = body(self.version);
        self.last_answer = Some(fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "127.0.0.1:30000";

    fn offer(lines: &[&str]) -> String {
        let mut s = String::from(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n",
        );
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s
    }

    fn session() -> MediaSession {
        MediaSession::new(LOCAL.parse().unwrap(), 4242)
    }

    #[test]
    fn answers_pcma_with_telephone_event_in_offer_order() {
        let o = offer(&[
            "m=audio 4000 RTP/AVP 8 0 96 101",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ]);
        let (n, body) = session().answer(&o).unwrap();
        assert_eq!(n.law, Law::Alaw);
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, Some("192.0.2.7:4000".parse().unwrap()));
        assert!(n.we_send());
        assert_eq!(
            body,
            "v=0\r\no=zhenwei 4242 4242 IN IP4 127.0.0.1\r\ns=zhenwei\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn pcmu_first_wins_and_static_types_need_no_rtpmap() {
        let o = offer(&["m=audio 4000 RTP/AVP 0 8"]);
        let (n, body) = session().answer(&o).unwrap();
        assert_eq!(
            (n.law, n.payload_type, n.telephone_event),
            (Law::Ulaw, 0, None)
        );
        assert!(body.contains("m=audio 30000 RTP/AVP 0\r\n"));
        assert!(!body.contains("telephone-event"));
    }

    #[test]
    fn dynamic_payload_type_for_g711_is_kept() {
        let o = offer(&[
            "m=audio 4000 RTP/AVP 97 99",
            "a=rtpmap:97 pcma/8000",
            "a=rtpmap:99 Telephone-Event/8000",
        ]);
        let (n, _) = session().answer(&o).unwrap();
        assert_eq!(
            (n.law, n.payload_type, n.telephone_event),
            (Law::Alaw, 97, Some(99))
        );
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let o = offer(&[
            "m=audio 4000 RTP/AVP 96 9",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:9 G722/8000",
        ]);
        assert_eq!(session().answer(&o), Err(SdpError::NoCommonCodec));
        // PCMA at the wrong clock rate is not PCMA we can play.
        let o = offer(&["m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMA/16000"]);
        assert_eq!(session().answer(&o), Err(SdpError::NoCommonCodec));
        // Secure RTP only.
        let o = offer(&["m=audio 4000 RTP/SAVP 8"]);
        assert_eq!(session().answer(&o), Err(SdpError::NoCommonCodec));
        let o = offer(&["m=video 4002 RTP/AVP 31"]);
        assert_eq!(session().answer(&o), Err(SdpError::NoAudio));
    }

    #[test]
    fn other_streams_are_rejected_with_port_zero() {
        let o = offer(&[
            "m=video 5000 RTP/AVP 31",
            "m=audio 4000 RTP/AVP 8",
            "c=IN IP4 192.0.2.99",
        ]);
        let (n, body) = session().answer(&o).unwrap();
        assert_eq!(n.remote, Some("192.0.2.99:4000".parse().unwrap()));
        assert!(body.contains("m=video 0 RTP/AVP 31\r\nm=audio 30000 RTP/AVP 8\r\n"));
    }

    #[test]
    fn hold_and_unhold_by_re_offer() {
        let mut s = session();
        let (n, first) = s.answer(&offer(&["m=audio 4000 RTP/AVP 8"])).unwrap();
        assert!(n.we_send());
        assert!(first.contains("o=zhenwei 4242 4242 "));
        // Same offer again: same answer, same version.
        let (_, again) = s.answer(&offer(&["m=audio 4000 RTP/AVP 8"])).unwrap();
        assert_eq!(first, again);
        // Hold with a=sendonly → we answer recvonly and stop sending.
        let (n, held) = s
            .answer(&offer(&["m=audio 4000 RTP/AVP 8", "a=sendonly"]))
            .unwrap();
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert!(!n.we_send());
        assert!(held.contains("a=recvonly\r\n"));
        assert!(held.contains("o=zhenwei 4242 4243 "));
        // Session-level inactive.
        let o = "v=0\r\no=- 1 2 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 8\r\n";
        let (n, _) = s.answer(o).unwrap();
        assert_eq!(n.local_direction, Direction::Inactive);
        // RFC 2543 hold: c=0.0.0.0.
        let o = "v=0\r\no=- 1 3 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
        let (n, _) = s.answer(o).unwrap();
        assert_eq!(n.remote, None);
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert!(!n.we_send());
        // Unhold.
        let (n, un) = s
            .answer(&offer(&["m=audio 4000 RTP/AVP 8", "a=sendrecv"]))
            .unwrap();
        assert!(n.we_send());
        assert!(un.contains("a=sendrecv"));
        assert!(un.contains("o=zhenwei 4242 4246 "));
    }

    #[test]
    fn ipv6_offers_are_answered() {
        let o = "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
        let mut s = MediaSession::new("[::1]:30000".parse().unwrap(), 1);
        let (n, body) = s.answer(o).unwrap();
        assert_eq!(n.remote, Some("[::1]:4000".parse().unwrap()));
        assert!(body.contains("c=IN IP6 ::1\r\n"));
    }

    #[test]
    fn garbage_never_panics() {
        let cases = [
            "",
            "v=1\r\n",
            "hello",
            "v=0\r\nc=IN IP4\r\n",
            "v=0\r\nc=IN IP4 not-an-ip\r\nm=audio 1 RTP/AVP 8\r\n",
            "v=0\r\nm=audio\r\n",
            "v=0\r\nm=audio 99999 RTP/AVP 8\r\n",
            "v=0\r\nm=audio 4000 RTP/AVP 8\r\n",
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 300 x -1\r\na=rtpmap:\r\na=rtpmap:8\r\na=rtpmap:8 PCMA\r\na=fmtp\r\n",
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 8\r\n",
            "v=0\r\nc=IN ATM 1.2.3.4\r\n",
            "v=0\r\n==\r\n",
            "v=0\r\n\u{0}=\u{ff}\r\n",
        ];
        for c in cases {
            assert!(session().answer(c).is_err(), "{c:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,400}") {
            let _ = session().answer(&s);
        }

        #[test]
        fn arbitrary_sdp_lines_never_panic(lines in proptest::collection::vec("[vocmat]=[ -~]{0,40}", 0..20)) {
            let _ = session().answer(&lines.join("\r\n"));
        }
    }
}
