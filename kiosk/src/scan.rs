//! The scan decoder: raw scanner bytes in, whole scans out. Sans-I/O.
//!
//! A barcode scanner is a byte stream with no framing of its own. How one scan ends depends on
//! how the scanner was configured in the shop:
//!
//! * a **terminator** after each scan: CR, LF, CR LF or TAB (keyboard-wedge scanners "press
//!   Enter"), or ETX when the scanner frames scans as STX … ETX;
//! * **nothing at all**: the scan ends when the scanner falls silent. Scanners send a scan as one
//!   burst (a few milliseconds), so a pause longer than [`DEFAULT_GAP`] between two bytes means
//!   the scan is over.
//!
//! Inside a scan, everything the server must see is kept as it is: the AIM symbology identifier
//! (`]d2` GS1 DataMatrix, `]Q3` GS1 QR, `]C1` GS1-128, `]E0` EAN-13 — the server's decoder reads
//! it), GS (ASCII 29) between variable-length GS1 fields, RS and EOT of ISO/IEC 15434 envelopes.
//! Other control characters (NUL, BEL, ESC from a misconfigured scanner) are dropped, and
//! surrounding spaces trimmed. A scan longer than [`MAX_SCAN`] bytes is refused whole.
//!
//! The decoder never reads a clock: the caller passes the time of each burst of bytes, asks for
//! the [`ScanDecoder::deadline`] at which a silent scanner's scan would end, and calls
//! [`ScanDecoder::expire`] when that time comes.

use std::time::{Duration, Instant};

/// A pause this long between two bytes ends a scan that has no terminator.
pub const DEFAULT_GAP: Duration = Duration::from_millis(150);

/// The longest scan accepted, in bytes. A GS1 DataMatrix holds at most 1 556 bytes of data.
pub const MAX_SCAN: usize = 2048;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const EOT: u8 = 0x04;
const TAB: u8 = b'\t';
const LF: u8 = b'\n';
const CR: u8 = b'\r';
const GS: u8 = 0x1D;
const RS: u8 = 0x1E;
const DEL: u8 = 0x7F;

/// One complete scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// What the scanner sent, as the server expects it (AIM identifier and GS included).
    pub text: String,
}

impl Scan {
    /// The AIM symbology identifier the scan starts with (`]d2`), if any.
    pub fn aim(&self) -> Option<&str> {
        let b = self.text.as_bytes();
        (b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric())
            .then(|| self.text.get(..3))
            .flatten()
    }

    /// A human name of the symbology, for logs.
    pub fn symbology(&self) -> &'static str {
        match self.aim().map(|a| a.as_bytes()) {
            Some([_, b'd', b'2']) => "GS1 DataMatrix",
            Some([_, b'd', _]) => "DataMatrix",
            Some([_, b'Q', b'3']) => "GS1 QR",
            Some([_, b'Q', _]) => "QR",
            Some([_, b'C', b'1']) => "GS1-128",
            Some([_, b'C', _]) => "Code 128",
            Some([_, b'E', _]) => "EAN/UPC",
            Some([_, b'e', _]) => "GS1 DataBar",
            Some(_) => "other symbology",
            None => "no symbology identifier",
        }
    }
}

/// Why bytes did not become a scan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("a scan longer than {MAX_SCAN} bytes was discarded")]
    TooLong,
}

/// What the decoder produced from some bytes or a timeout.
pub type Decoded = Result<Scan, ScanError>;

/// Turns a scanner's byte stream into scans (see the module documentation).
#[derive(Debug)]
pub struct ScanDecoder {
    gap: Duration,
    buf: Vec<u8>,
    /// The current scan overflowed: drop bytes until it ends.
    overflowed: bool,
    /// When the last byte of the current scan arrived.
    last_byte: Option<Instant>,
}

impl Default for ScanDecoder {
    fn default() -> Self {
        ScanDecoder::new(DEFAULT_GAP)
    }
}

impl ScanDecoder {
    /// A decoder that ends unterminated scans after `gap` of silence.
    pub fn new(gap: Duration) -> ScanDecoder {
        ScanDecoder {
            gap,
            buf: Vec::new(),
            overflowed: false,
            last_byte: None,
        }
    }

    /// Feeds bytes that arrived at `now`; returns the scans they completed, in order.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<Decoded> {
        let mut out = Vec::new();
        // A burst after a long pause: the previous scan ended with the pause (the caller's
        // timer may not have fired yet).
        if let Some(d) = self.expire(now) {
            out.push(d);
        }
        for &b in bytes {
            match b {
                CR | LF | TAB | ETX => out.extend(self.finish()),
                // STX opens a framed scan: whatever came before it was a scan of its own.
                STX => out.extend(self.finish()),
                GS | RS | EOT => self.keep(b),
                0..=0x1F | DEL => {}
                _ => self.keep(b),
            }
        }
        self.last_byte = (!self.buf.is_empty() || self.overflowed).then_some(now);
        out
    }

    /// When the current scan ends if no byte arrives before then (`None`: nothing pending).
    pub fn deadline(&self) -> Option<Instant> {
        self.last_byte.map(|t| t + self.gap)
    }

    /// Ends the current scan if the scanner has been silent for the gap by `now`.
    pub fn expire(&mut self, now: Instant) -> Option<Decoded> {
        match self.deadline() {
            Some(d) if now >= d => self.finish(),
            _ => None,
        }
    }

    fn keep(&mut self, b: u8) {
        if self.overflowed {
            return;
        }
        if self.buf.len() >= MAX_SCAN {
            self.overflowed = true;
            self.buf.clear();
            return;
        }
        self.buf.push(b);
    }

    /// Ends the current scan; `None` if it was empty (a CR LF pair, a lone terminator).
    fn finish(&mut self) -> Option<Decoded> {
        self.last_byte = None;
        if std::mem::take(&mut self.overflowed) {
            self.buf.clear();
            return Some(Err(ScanError::TooLong));
        }
        let bytes = std::mem::take(&mut self.buf);
        let text = text_of(&bytes);
        let text = text.trim_matches(' ');
        (!text.is_empty()).then(|| {
            Ok(Scan {
                text: text.to_owned(),
            })
        })
    }
}

/// UTF-8 when it is (QR codes with URLs or Chinese text), otherwise Latin-1 byte by byte, so no
/// byte is ever lost or turned into a replacement character.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn texts(d: Vec<Decoded>) -> Vec<String> {
        d.into_iter().map(|d| d.unwrap().text).collect()
    }

    #[test]
    fn terminators_end_scans() {
        let t0 = Instant::now();
        for (wire, want) in [
            (&b"12345678901234567890\r"[..], vec!["12345678901234567890"]),
            (b"A\n", vec!["A"]),
            (b"A\r\nB\r\n", vec!["A", "B"]),
            (b"A\tB\t", vec!["A", "B"]),
            (b"\x02A\x03\x02B\x03", vec!["A", "B"]),
            (b"\r\n\r\n", vec![]),
            (b"  1234 \r", vec!["1234"]),
        ] {
            let mut d = ScanDecoder::default();
            assert_eq!(texts(d.push(wire, t0)), want, "{wire:?}");
            assert_eq!(d.deadline(), None, "{wire:?}: nothing pending");
        }
    }

    #[test]
    fn gs1_datamatrix_keeps_its_aim_identifier_and_gs_separators() {
        let mut d = ScanDecoder::default();
        let wire = b"]d20106950600013435\x1d10ABC123\x1d21XYZ\r";
        let got = d.push(wire, Instant::now());
        let scan = got[0].clone().unwrap();
        assert_eq!(scan.text, "]d20106950600013435\u{1d}10ABC123\u{1d}21XYZ");
        assert_eq!(scan.aim(), Some("]d2"));
        assert_eq!(scan.symbology(), "GS1 DataMatrix");
        for (text, name) in [
            ("]Q3011234", "GS1 QR"),
            ("]C1011234", "GS1-128"),
            ("]E06901234567892", "EAN/UPC"),
            ("]Q1https://x", "QR"),
            ("12345", "no symbology identifier"),
            ("]", "no symbology identifier"),
        ] {
            let s = Scan { text: text.into() };
            assert_eq!(s.symbology(), name, "{text}");
        }
    }

    #[test]
    fn a_scanner_without_terminator_ends_its_scan_after_the_gap() {
        let t0 = Instant::now();
        let mut d = ScanDecoder::new(ms(100));
        // The scan arrives in three chunks, a few ms apart.
        assert!(d.push(b"1234", t0).is_empty());
        assert!(d.push(b"5678", t0 + ms(5)).is_empty());
        assert!(d.push(b"90", t0 + ms(9)).is_empty());
        assert_eq!(d.deadline(), Some(t0 + ms(109)));
        assert_eq!(d.expire(t0 + ms(108)), None, "not yet");
        assert_eq!(
            d.expire(t0 + ms(109)),
            Some(Ok(Scan {
                text: "1234567890".into()
            }))
        );
        assert_eq!(d.deadline(), None);
        assert_eq!(d.expire(t0 + ms(500)), None);
    }

    #[test]
    fn a_late_burst_first_ends_the_previous_scan() {
        // The timer did not fire (the caller was busy); the next burst still splits correctly.
        let t0 = Instant::now();
        let mut d = ScanDecoder::new(ms(100));
        assert!(d.push(b"AAAA", t0).is_empty());
        let got = d.push(b"BBBB\r", t0 + ms(400));
        assert_eq!(texts(got), vec!["AAAA", "BBBB"]);
    }

    #[test]
    fn bytes_split_anywhere_give_the_same_scans() {
        let wire = b"]d2010950600013435\x1d10L1\r\n1234-5678\t\x02PIN\x03";
        let want = vec!["]d2010950600013435\u{1d}10L1", "1234-5678", "PIN"];
        let t0 = Instant::now();
        for split in 0..wire.len() {
            let mut d = ScanDecoder::default();
            let mut got = d.push(&wire[..split], t0);
            got.extend(d.push(&wire[split..], t0 + ms(1)));
            assert_eq!(texts(got), want, "split at {split}");
        }
    }

    #[test]
    fn noise_is_dropped_and_odd_bytes_kept() {
        let t0 = Instant::now();
        let mut d = ScanDecoder::default();
        // NUL, BEL, ESC and DEL vanish; ISO 15434 RS/EOT stay.
        let got = d.push(b"\x00A\x07B\x1bC\x7f[)>\x1e06\x1d1P\x1e\x04\r", t0);
        assert_eq!(texts(got), vec!["ABC[)>\u{1e}06\u{1d}1P\u{1e}\u{4}"]);
        // UTF-8 (a QR with Chinese text) and Latin-1 (not UTF-8) both survive.
        let got = d.push("]Q1真伪\r".as_bytes(), t0);
        assert_eq!(texts(got), vec!["]Q1真伪"]);
        let got = d.push(b"\xe9t\xe9\r", t0);
        assert_eq!(texts(got), vec!["été"]);
    }

    #[test]
    fn an_overlong_scan_is_refused_whole() {
        let t0 = Instant::now();
        let mut d = ScanDecoder::default();
        let long = vec![b'7'; MAX_SCAN + 10];
        assert!(d.push(&long, t0).is_empty());
        assert_eq!(d.push(b"\r", t0), vec![Err(ScanError::TooLong)]);
        // The next scan is fine; an overflow without terminator ends at the gap too.
        assert_eq!(texts(d.push(b"42\r", t0)), vec!["42"]);
        assert!(d.push(&long, t0).is_empty());
        assert_eq!(d.expire(t0 + DEFAULT_GAP), Some(Err(ScanError::TooLong)));
        // Exactly MAX_SCAN is accepted.
        let exact = vec![b'7'; MAX_SCAN];
        let got = d.push(&exact, t0);
        assert!(got.is_empty());
        assert_eq!(d.push(b"\n", t0)[0].as_ref().unwrap().text.len(), MAX_SCAN);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every byte value, in many chunkings.
        let all: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let t0 = Instant::now();
        for chunk in [1, 3, 64, 700] {
            let mut d = ScanDecoder::new(ms(10));
            for (i, c) in all.chunks(chunk).enumerate() {
                for s in d.push(c, t0 + ms(i as u64 * 7)).into_iter().flatten() {
                    assert!(!s.text.is_empty());
                    assert!(s.text.len() <= MAX_SCAN * 2);
                }
            }
        }
    }
}
