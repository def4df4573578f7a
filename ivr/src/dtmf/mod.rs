//! DTMF: the keys a caller presses, however the phone network carries them.
//!
//! A key press reaches the IVR in one of three ways, and the menu must not care which:
//!
//! * [`rfc4733`] — as *telephone-event* RTP packets beside the audio (most SIP trunks);
//! * [`info`] — as SIP INFO requests (`application/dtmf-relay`, `application/dtmf`), which the
//!   SIP layer hands over as bodies;
//! * [`inband`] — as the tones themselves inside the G.711 audio (old gateways, some
//!   mobiles), found by a Goertzel filter bank.
//!
//! Each produces the same [`Digit`]. One press reaches the menu once per path; a phone that
//! sends both events and tones (it should not, but some do) is deduplicated by the call glue,
//! which ignores an in-band digit while the event path is known to be working.

pub mod inband;
pub mod info;
pub mod rfc4733;

use std::fmt;

/// A DTMF key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Digit {
    D0,
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    Star,
    Hash,
    A,
    B,
    C,
    D,
}

impl Digit {
    /// The RFC 4733 event code order: 0–9, *, #, A–D.
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Hash,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The RFC 4733 event code (0–15).
    pub fn event_code(self) -> u8 {
        Digit::ALL
            .iter()
            .position(|d| *d == self)
            .map_or(0, |i| i as u8)
    }

    pub fn from_event_code(code: u8) -> Option<Digit> {
        Digit::ALL.get(usize::from(code)).copied()
    }

    pub fn as_char(self) -> char {
        b"0123456789*#ABCD"
            .get(usize::from(self.event_code()))
            .map_or('?', |&b| char::from(b))
    }

    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        "0123456789*#ABCD"
            .chars()
            .position(|x| x == c)
            .and_then(|i| Digit::ALL.get(i).copied())
    }

    /// 0–9 for the decimal keys.
    pub fn decimal(self) -> Option<u8> {
        let code = self.event_code();
        (code <= 9).then_some(code)
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_chars_agree() {
        for (i, d) in Digit::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(d.event_code()), i);
            assert_eq!(Digit::from_event_code(i as u8), Some(d));
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
        }
        assert_eq!(Digit::from_event_code(16), None);
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_char('a'), Some(Digit::A));
        assert_eq!(Digit::Hash.as_char(), '#');
        assert_eq!(Digit::D7.decimal(), Some(7));
        assert_eq!(Digit::Star.decimal(), None);
    }
}
