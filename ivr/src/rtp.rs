//! RTP (RFC 3550): the packets that carry a call's audio, and the sans-I/O sender that paces
//! prompt playback.
//!
//! An RTP packet is a 12-byte header — version 2, marker bit, payload type, a 16-bit sequence
//! number (one per packet, for loss and reordering), a 32-bit timestamp (in samples: 160 per
//! 20 ms of 8 kHz G.711), the SSRC that names the stream — then optional CSRCs, an optional header
//! extension, the payload and optional padding.
//!
//! [`RtpSender`] owns one outgoing stream. Its shell calls [`RtpSender::tick`] every 20 ms and
//! sends what it returns: the next 160 samples of the prompt being played, or silence between
//! prompts, so the far end's jitter buffer never starves and the timestamps stay continuous. The
//! first packet of each prompt after silence carries the marker bit (the start of a talk
//! spurt). [`PeerAddress`] implements symmetric RTP: media goes to where the caller's RTP comes
//! from once a packet has been seen (NATs rewrite addresses; SDP often names a private one), and
//! to the SDP address until then.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::g711::Law;

/// Samples (and G.711 bytes) in one 20 ms packet at 8 kHz.
pub const SAMPLES_PER_PACKET: usize = 160;
/// The packet interval.
pub const PACKET_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

const HEADER_LEN: usize = 12;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet shorter than its header")]
    TooShort,
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("RTP padding or extension longer than the packet")]
    BadLength,
}

/// One RTP packet. `payload` excludes padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrcs: Vec<u32>,
    pub payload: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> Result<u16, RtpError> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(RtpError::BadLength),
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, RtpError> {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => Ok(u32::from_be_bytes([w, x, y, z])),
        _ => Err(RtpError::BadLength),
    }
}

impl RtpPacket {
    /// Parses a datagram. RTCP (payload types 72–76 with the marker bit, RFC 5761) is not
    /// distinguished here; the caller demultiplexes by payload type.
    pub fn parse(b: &[u8]) -> Result<RtpPacket, RtpError> {
        if b.len() < HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let first = b[0];
        let version = first >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let cc = usize::from(first & 0x0F);
        let second = b[1];
        let mut at = HEADER_LEN;
        let mut csrcs = Vec::with_capacity(cc);
        for _ in 0..cc {
            csrcs.push(be32(b, at)?);
            at += 4;
        }
        if extension {
            let words = usize::from(be16(b, at + 2)?);
            at += 4 + 4 * words;
        }
        let mut end = b.len();
        if padding {
            let pad = usize::from(*b.last().ok_or(RtpError::BadLength)?);
            if pad == 0 || pad > end.saturating_sub(at) {
                return Err(RtpError::BadLength);
            }
            end -= pad;
        }
        let payload = b.get(at..end).ok_or(RtpError::BadLength)?.to_vec();
        Ok(RtpPacket {
            marker: second & 0x80 != 0,
            payload_type: second & 0x7F,
            sequence: be16(b, 2)?,
            timestamp: be32(b, 4)?,
            ssrc: be32(b, 8)?,
            csrcs,
            payload,
        })
    }

    /// Serialises without padding or extension.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * self.csrcs.len() + self.payload.len());
        self.write_to(&mut out);
        out
    }

    /// Appends the serialised packet to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let cc = self.csrcs.len().min(15);
        out.push(0x80 | cc as u8);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in self.csrcs.iter().take(cc) {
            out.extend_from_slice(&c.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
    }
}

/// Something that happened to playback during a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEvent {
    /// The last packet of the playback with this id was just produced.
    Finished(u64),
}

/// The sans-I/O sender of one call's outgoing audio stream.
#[derive(Debug)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    payload_type: u8,
    law: Law,
    /// G.711 bytes still to play, and the playback they belong to.
    queue: VecDeque<u8>,
    playing: Option<u64>,
    /// The next audio packet starts a talk spurt.
    spurt_start: bool,
    first_packet: bool,
}

impl RtpSender {
    /// A stream with the given identity. Use random `ssrc`, `sequence` and `timestamp` starts
    /// (RFC 3550 §5.1) in production; tests pass fixed ones.
    pub fn new(law: Law, payload_type: u8, ssrc: u32, sequence: u16, timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence,
            timestamp,
            payload_type,
            law,
            queue: VecDeque::new(),
            playing: None,
            spurt_start: true,
            first_packet: true,
        }
    }

    /// A stream with random identity.
    pub fn random(law: Law, payload_type: u8) -> Self {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        RtpSender::new(law, payload_type, rng.gen(), rng.gen(), rng.gen())
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn law(&self) -> Law {
        self.law
    }

    /// Changes the codec after a re-offer; the stream (SSRC, sequence, timestamps) continues.
    pub fn set_codec(&mut self, law: Law, payload_type: u8) {
        self.law = law;
        self.payload_type = payload_type;
    }

    /// Starts playing `audio` (G.711 bytes in this stream's law), replacing anything playing.
    /// A partial last packet is padded with silence.
    pub fn play(&mut self, id: u64, audio: &[u8]) {
        self.queue.clear();
        self.queue.extend(audio.iter().copied());
        let rem = self.queue.len() % SAMPLES_PER_PACKET;
        if rem != 0 {
            let silence = self.law.silence();
            self.queue
                .extend(std::iter::repeat_n(silence, SAMPLES_PER_PACKET - rem));
        }
        self.playing = if self.queue.is_empty() {
            None
        } else {
            Some(id)
        };
        self.spurt_start = true;
    }

    /// Stops playback at once (barge-in). No `Finished` event follows for the stopped playback.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.playing = None;
    }

    /// The playback in progress.
    pub fn playing(&self) -> Option<u64> {
        self.playing
    }

    /// The packet for the next 20 ms: prompt audio or silence. Returns the packet and whether a
    /// playback just finished.
    pub fn tick(&mut self) -> (RtpPacket, Option<PlaybackEvent>) {
        let (payload, marker, event) = if let Some(id) = self.playing {
            let n = SAMPLES_PER_PACKET.min(self.queue.len());
            let payload: Vec<u8> = self.queue.drain(..n).collect();
            let marker = self.spurt_start;
            self.spurt_start = false;
            let event = if self.queue.is_empty() {
                self.playing = None;
                Some(PlaybackEvent::Finished(id))
            } else {
                None
            };
            (payload, marker, event)
        } else {
            (vec![self.law.silence(); SAMPLES_PER_PACKET], false, None)
        };
        let p = RtpPacket {
            marker: marker || self.first_packet,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: Vec::new(),
            payload,
        };
        self.first_packet = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(SAMPLES_PER_PACKET as u32);
        (p, event)
    }
}

/// Where to send a call's RTP: symmetric RTP (RFC 4961 in spirit; what every SBC does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    signalled: SocketAddr,
    learned: Option<SocketAddr>,
}

impl PeerAddress {
    /// Starts with the address from the caller's SDP.
    pub fn new(signalled: SocketAddr) -> Self {
        PeerAddress {
            signalled,
            learned: None,
        }
    }

    /// The destination of the next packet.
    pub fn target(&self) -> SocketAddr {
        self.learned.unwrap_or(self.signalled)
    }

    /// A valid RTP packet of this call arrived from `from`: latch onto the first such source.
    /// Later packets from elsewhere do not move the stream (an attacker who guesses the port
    /// cannot steal it); a re-offer does, through [`PeerAddress::resignal`]. Returns whether the
    /// packet comes from the latched peer (or latched it).
    pub fn on_packet_from(&mut self, from: SocketAddr) -> bool {
        match self.learned {
            None => {
                self.learned = Some(from);
                true
            }
            Some(l) => l == from,
        }
    }

    /// A re-offer named a new address: forget the learned one if the signalled one changed.
    pub fn resignal(&mut self, signalled: SocketAddr) {
        if signalled != self.signalled {
            self.signalled = signalled;
            self.learned = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_packet() -> RtpPacket {
        RtpPacket {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xFFFF_FF00,
            ssrc: 0xDEAD_BEEF,
            csrcs: vec![1, 2],
            payload: vec![0xD5; 160],
        }
    }

    #[test]
    fn packets_round_trip() {
        let p = sample_packet();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), 12 + 8 + 160);
        assert_eq!(bytes[0], 0x82);
        assert_eq!(bytes[1], 0x88);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn padding_and_extension_are_skipped() {
        let mut b = vec![0xB0, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one extension word
        b.extend_from_slice(&[1, 2, 3]);
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, vec![1, 2, 3]);
        assert_eq!(p.sequence, 1);
        assert_eq!(p.timestamp, 160);
        assert_eq!(p.ssrc, 7);
        assert!(!p.marker);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::TooShort));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        // 15 CSRCs announced, none present.
        assert_eq!(RtpPacket::parse(&[0x8F; 12]), Err(RtpError::BadLength));
        // Padding count larger than the packet.
        let mut b = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200];
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadLength));
        b[12] = 0;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadLength));
        // Extension longer than the packet.
        let b = [
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF,
        ];
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadLength));
        for len in 0..40 {
            for first in [0x80u8, 0x9F, 0xBF, 0xA0] {
                let mut b = vec![0x11; len];
                if let Some(x) = b.first_mut() {
                    *x = first;
                }
                let _ = RtpPacket::parse(&b);
            }
        }
    }

    #[test]
    fn sender_paces_prompt_then_silence_with_continuous_numbering() {
        let mut s = RtpSender::new(Law::Alaw, 8, 42, 65534, u32::MAX - 159);
        // 400 bytes: two full packets and a padded third.
        s.play(7, &[0x11; 400]);
        let (p1, e1) = s.tick();
        assert!(p1.marker);
        assert_eq!(
            (p1.sequence, p1.timestamp, p1.ssrc),
            (65534, u32::MAX - 159, 42)
        );
        assert_eq!(p1.payload, vec![0x11; 160]);
        assert_eq!(e1, None);
        let (p2, _) = s.tick();
        assert!(!p2.marker);
        assert_eq!((p2.sequence, p2.timestamp), (65535, 0));
        let (p3, e3) = s.tick();
        assert_eq!((p3.sequence, p3.timestamp), (0, 160));
        assert_eq!(&p3.payload[..80], &[0x11; 80][..]);
        assert_eq!(&p3.payload[80..], &[0xD5; 80][..]);
        assert_eq!(e3, Some(PlaybackEvent::Finished(7)));
        let (p4, e4) = s.tick();
        assert_eq!(p4.payload, vec![0xD5; 160]);
        assert!(!p4.marker);
        assert_eq!(e4, None);
        assert_eq!((p4.sequence, p4.timestamp), (1, 320));
        // The next prompt starts a new talk spurt.
        s.play(8, &[0x22; 160]);
        let (p5, e5) = s.tick();
        assert!(p5.marker);
        assert_eq!(e5, Some(PlaybackEvent::Finished(8)));
    }

    #[test]
    fn silence_stream_marks_only_its_first_packet() {
        let mut s = RtpSender::new(Law::Ulaw, 0, 1, 0, 0);
        let (p, _) = s.tick();
        assert!(p.marker);
        assert_eq!(p.payload, vec![0xFF; 160]);
        let (p, _) = s.tick();
        assert!(!p.marker);
    }

    #[test]
    fn barge_in_stops_without_a_finished_event() {
        let mut s = RtpSender::new(Law::Alaw, 8, 1, 0, 0);
        s.play(1, &[0x11; 1600]);
        s.tick();
        s.stop();
        assert_eq!(s.playing(), None);
        for _ in 0..20 {
            let (p, e) = s.tick();
            assert_eq!(e, None);
            assert_eq!(p.payload, vec![0xD5; 160]);
        }
    }

    #[test]
    fn empty_playback_is_nothing() {
        let mut s = RtpSender::new(Law::Alaw, 8, 1, 0, 0);
        s.play(1, &[]);
        assert_eq!(s.playing(), None);
    }

    #[test]
    fn symmetric_rtp_latches_on_the_first_source() {
        let sdp: SocketAddr = "192.168.1.10:4000".parse().unwrap();
        let nat: SocketAddr = "203.0.113.5:61000".parse().unwrap();
        let other: SocketAddr = "198.51.100.1:9".parse().unwrap();
        let mut p = PeerAddress::new(sdp);
        assert_eq!(p.target(), sdp);
        assert!(p.on_packet_from(nat));
        assert_eq!(p.target(), nat);
        assert!(!p.on_packet_from(other));
        assert_eq!(p.target(), nat);
        p.resignal(sdp);
        assert_eq!(p.target(), nat, "same SDP address keeps the latch");
        p.resignal(other);
        assert_eq!(p.target(), other);
    }
}
