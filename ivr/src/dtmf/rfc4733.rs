//! RFC 4733 telephone-events: DTMF as RTP packets.
//!
//! A key press is one *event*, identified by the RTP timestamp of its start. The sender repeats
//! packets with the same timestamp and a growing `duration` while the key is held, then sends
//! the final packet (E bit) three times for reliability. So the receiver reports a digit the
//! first time it sees a new event timestamp — whichever packet of the event that is, so a lost
//! start packet loses nothing — and ignores every other packet of the same event: duration
//! updates, the redundant end packets, late reordered packets. A press longer than the 16-bit
//! duration field (8.2 s at 8 kHz) continues in a new *segment* with a new timestamp and the
//! same event code, not ended; that is not a new press.
//!
//! Payload: `event(8) | E(1) R(1) volume(6) | duration(16)`.

use super::Digit;

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl EventPayload {
    pub fn parse(b: &[u8]) -> Option<EventPayload> {
        match b {
            [event, flags, d1, d2, ..] => Some(EventPayload {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d1, *d2]),
            }),
            _ => None,
        }
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A duration this close to the 16-bit limit means the sender is about to start a new segment.
const LONG_PRESS: u16 = 60_000;

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// The receiver of one call's telephone-event stream.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    current: Option<Current>,
}

/// Is `a` before `b` in 32-bit wrapping timestamp order?
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Rfc4733Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// One telephone-event RTP packet (its timestamp and payload). Returns the digit when this
    /// packet is the first seen of a new key press.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<Digit> {
        let p = EventPayload::parse(payload)?;
        if let Some(c) = &mut self.current {
            if c.timestamp == timestamp {
                c.ended |= p.end;
                c.duration = c.duration.max(p.duration);
                return None;
            }
            if before(timestamp, c.timestamp) {
                return None; // a late packet of an earlier event
            }
            // A long press continues in a new segment: same event, not ended, and the new
            // segment starts where the old one's duration ran out.
            let continues = !c.ended
                && c.duration >= LONG_PRESS
                && p.event == c.event
                && timestamp.wrapping_sub(c.timestamp) <= u32::from(c.duration) + 800;
            if continues {
                *c = Current {
                    timestamp,
                    event: p.event,
                    ended: p.end,
                    duration: p.duration,
                };
                return None;
            }
        }
        self.current = Some(Current {
            timestamp,
            event: p.event,
            ended: p.end,
            duration: p.duration,
        });
        // Events 16 and up (flash, tones) are not keys.
        Digit::from_event_code(p.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trip() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 63,
            duration: 1280,
        };
        assert_eq!(EventPayload::parse(&p.to_bytes()), Some(p));
        assert_eq!(EventPayload::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn one_press_with_updates_and_three_end_packets_is_one_digit() {
        let mut r = Rfc4733Receiver::new();
        let ts = 1000;
        let mut got = Vec::new();
        for d in [160u16, 320, 480, 640] {
            got.extend(r.on_packet(ts, &pkt(5, false, d)));
        }
        for _ in 0..3 {
            got.extend(r.on_packet(ts, &pkt(5, true, 800)));
        }
        assert_eq!(got, vec![Digit::D5]);
    }

    #[test]
    fn a_lost_start_still_counts_and_only_once() {
        let mut r = Rfc4733Receiver::new();
        // Only the end packets of the event survived.
        assert_eq!(r.on_packet(5000, &pkt(11, true, 800)), Some(Digit::Hash));
        assert_eq!(r.on_packet(5000, &pkt(11, true, 800)), None);
    }

    #[test]
    fn the_same_key_twice_is_two_digits() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(r.on_packet(1000, &pkt(1, false, 160)), Some(Digit::D1));
        assert_eq!(r.on_packet(1000, &pkt(1, true, 640)), None);
        assert_eq!(r.on_packet(3000, &pkt(1, false, 160)), Some(Digit::D1));
        assert_eq!(r.on_packet(3000, &pkt(1, true, 640)), None);
    }

    #[test]
    fn late_packets_of_an_earlier_event_are_ignored() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(r.on_packet(1000, &pkt(1, true, 640)), Some(Digit::D1));
        assert_eq!(r.on_packet(3000, &pkt(2, false, 160)), Some(Digit::D2));
        assert_eq!(r.on_packet(1000, &pkt(1, true, 640)), None);
    }

    #[test]
    fn timestamps_wrap() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(
            r.on_packet(u32::MAX - 100, &pkt(3, true, 400)),
            Some(Digit::D3)
        );
        assert_eq!(r.on_packet(2000, &pkt(4, false, 160)), Some(Digit::D4));
    }

    #[test]
    fn a_long_press_continued_in_a_new_segment_is_one_digit() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(r.on_packet(0, &pkt(9, false, 65535)), Some(Digit::D9));
        assert_eq!(r.on_packet(65535, &pkt(9, false, 160)), None);
        assert_eq!(r.on_packet(65535, &pkt(9, true, 800)), None);
        assert_eq!(r.on_packet(80000, &pkt(9, false, 160)), Some(Digit::D9));
    }

    #[test]
    fn non_key_events_and_short_payloads_are_ignored() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(r.on_packet(1, &pkt(16, true, 800)), None); // flash
        assert_eq!(r.on_packet(2, &[1]), None);
        assert_eq!(r.on_packet(3, &pkt(0, false, 160)), Some(Digit::D0));
    }
}
