//! In-band DTMF: finding key tones inside the call's audio with the Goertzel algorithm.
//!
//! A DTMF key is two sine tones at once, one from the row group (697, 770, 852, 941 Hz) and one
//! from the column group (1209, 1336, 1477, 1633 Hz). The Goertzel algorithm measures the energy
//! of one frequency over a block of samples with one multiply-add per sample — eight of them
//! make a cheap filter bank. The detector works on blocks of 205 samples (25.6 ms at 8 kHz, the
//! classic size whose frequency resolution separates neighbouring rows) and calls a block a key
//! only when all of these hold, which is what keeps speech and music from producing digits:
//!
//! * **energy** — both tones are loud enough (each at least [`MIN_TONE_AMPLITUDE`]);
//! * **twist** — the two tones' levels are within 8 dB (column louder) or 6 dB (row louder) of
//!   each other, as telephone keypads guarantee;
//! * **purity** — in each group, the strongest frequency stands at least 6 dB above the others;
//! * **share** — the two tones carry most of the block's energy (speech spreads its energy over
//!   many harmonics and formants).
//!
//! Over time: a key is reported after two consecutive blocks agree (≥ 40 ms of tone, so clicks
//! and speech fragments do not count) and once per press — it must stop (a quiet block, or two
//! blocks that are not that key) before the same key can be reported again.

use super::Digit;

/// Samples per analysis block.
pub const BLOCK: usize = 205;
const SAMPLE_RATE: f32 = 8000.0;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad layout: row × column → key.
const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::D1, Digit::D2, Digit::D3, Digit::A],
    [Digit::D4, Digit::D5, Digit::D6, Digit::B],
    [Digit::D7, Digit::D8, Digit::D9, Digit::C],
    [Digit::Star, Digit::D0, Digit::Hash, Digit::D],
];
/// Minimum peak amplitude of each tone (linear 16-bit), about −38 dBm0: far below what a
/// keypad sends (−4 to −25 dBm0), far above line noise.
pub const MIN_TONE_AMPLITUDE: f32 = 400.0;
const FORWARD_TWIST: f32 = 6.31; // 8 dB, column louder than row
const REVERSE_TWIST: f32 = 3.98; // 6 dB, row louder than column
const PURITY: f32 = 3.98; // 6 dB
const SHARE: f32 = 0.6;

/// Goertzel coefficient 2·cos(2πf/fs) for each frequency.
fn coefficients(freqs: &[f32; 4]) -> [f32; 4] {
    freqs.map(|f| 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos())
}

/// The energy of one frequency in a block, scaled so a pure tone's value equals the block's
/// total energy (Σx²).
fn goertzel(block: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / block.len() as f32
}

/// The strongest of four energies, its index, and whether it stands out from the others.
fn strongest(e: &[f32; 4]) -> (usize, f32, bool) {
    let mut best = 0;
    for i in 1..4 {
        if e[i] > e[best] {
            best = i;
        }
    }
    let peak = e[best];
    let pure = e
        .iter()
        .enumerate()
        .all(|(i, &x)| i == best || x * PURITY <= peak);
    (best, peak, pure)
}

/// What one block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Key(Digit),
    /// Little energy at all: a pause.
    Quiet,
    /// Sound, but not a key.
    Other,
}

/// The in-band detector of one call's incoming audio.
#[derive(Debug)]
pub struct InbandDetector {
    row_coeffs: [f32; 4],
    col_coeffs: [f32; 4],
    buf: Vec<f32>,
    previous: Block,
    /// The key reported and not yet released.
    held: Option<Digit>,
    misses: u32,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        InbandDetector {
            row_coeffs: coefficients(&ROWS),
            col_coeffs: coefficients(&COLS),
            buf: Vec::with_capacity(BLOCK),
            previous: Block::Quiet,
            held: None,
            misses: 0,
        }
    }

    /// Feeds decoded linear samples; returns the keys whose press completed detection.
    pub fn push(&mut self, samples: &[i16]) -> Vec<Digit> {
        let mut out = Vec::new();
        for &s in samples {
            self.buf.push(f32::from(s));
            if self.buf.len() == BLOCK {
                let block = self.classify();
                self.buf.clear();
                if let Some(d) = self.advance(block) {
                    out.push(d);
                }
            }
        }
        out
    }

    fn classify(&self) -> Block {
        let total: f32 = self.buf.iter().map(|x| x * x).sum();
        let min_energy = MIN_TONE_AMPLITUDE * MIN_TONE_AMPLITUDE * BLOCK as f32 / 2.0;
        if total < min_energy {
            return Block::Quiet;
        }
        let rows = self.row_coeffs.map(|c| goertzel(&self.buf, c));
        let cols = self.col_coeffs.map(|c| goertzel(&self.buf, c));
        let (r, row, row_pure) = strongest(&rows);
        let (c, col, col_pure) = strongest(&cols);
        let loud = row >= min_energy && col >= min_energy;
        let twist_ok = col <= row * FORWARD_TWIST && row <= col * REVERSE_TWIST;
        let share_ok = row + col >= SHARE * total;
        if loud && twist_ok && row_pure && col_pure && share_ok {
            if let Some(d) = KEYPAD.get(r).and_then(|line| line.get(c)) {
                return Block::Key(*d);
            }
        }
        Block::Other
    }

    fn advance(&mut self, block: Block) -> Option<Digit> {
        let previous = std::mem::replace(&mut self.previous, block);
        match block {
            Block::Key(d) if self.held == Some(d) => {
                self.misses = 0;
                None
            }
            Block::Key(d) if previous == Block::Key(d) => {
                self.held = Some(d);
                self.misses = 0;
                Some(d)
            }
            Block::Key(_) => None,
            Block::Quiet => {
                self.held = None;
                None
            }
            Block::Other => {
                self.misses += 1;
                if self.misses >= 2 {
                    self.held = None;
                }
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::g711::Law;

    /// A deterministic noise source (xorshift), uniform in [-amp, amp].
    pub(crate) struct Noise(u32);
    impl Noise {
        pub(crate) fn next(&mut self, amp: f32) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp
        }
    }

    fn freqs(d: Digit) -> (f32, f32) {
        for (r, line) in KEYPAD.iter().enumerate() {
            for (c, k) in line.iter().enumerate() {
                if *k == d {
                    return (ROWS[r], COLS[c]);
                }
            }
        }
        unreachable!()
    }

    /// Linear samples of key tones: each key `on_ms` long with `off_ms` silence after, noise
    /// throughout, passed through G.711 A-law like a real call.
    pub(crate) fn tones(
        keys: &[Digit],
        amp: (f32, f32),
        on_ms: usize,
        off_ms: usize,
        noise: f32,
    ) -> Vec<i16> {
        let mut n = Noise(0x1234_5678);
        let mut out = Vec::new();
        let mut t = 0usize;
        for &k in keys {
            let (fr, fc) = freqs(k);
            for _ in 0..on_ms * 8 {
                let x = t as f32 / SAMPLE_RATE;
                let v = amp.0 * (2.0 * std::f32::consts::PI * fr * x).sin()
                    + amp.1 * (2.0 * std::f32::consts::PI * fc * x).sin()
                    + n.next(noise);
                out.push(v as i16);
                t += 1;
            }
            for _ in 0..off_ms * 8 {
                out.push(n.next(noise) as i16);
                t += 1;
            }
        }
        out.iter()
            .map(|&s| Law::Alaw.decode(Law::Alaw.encode(s)))
            .collect()
    }

    fn detect(samples: &[i16]) -> String {
        let mut d = InbandDetector::new();
        // In 160-sample packets, as RTP delivers them.
        samples
            .chunks(160)
            .flat_map(|c| d.push(c))
            .map(|d| d.as_char())
            .collect()
    }

    #[test]
    fn every_key_in_noise() {
        let s = tones(&Digit::ALL, (5000.0, 6000.0), 80, 60, 800.0);
        assert_eq!(detect(&s), "0123456789*#ABCD");
    }

    #[test]
    fn quiet_keys_at_minus_25_dbm0() {
        let s = tones(
            &[Digit::D2, Digit::D0, Digit::Hash],
            (1300.0, 1300.0),
            70,
            70,
            100.0,
        );
        assert_eq!(detect(&s), "20#");
    }

    #[test]
    fn the_same_key_twice_is_two_digits_and_a_long_press_one() {
        let s = tones(&[Digit::D7, Digit::D7], (5000.0, 5000.0), 100, 60, 300.0);
        assert_eq!(detect(&s), "77");
        let s = tones(&[Digit::D7], (5000.0, 5000.0), 2000, 0, 300.0);
        assert_eq!(detect(&s), "7");
    }

    #[test]
    fn too_short_too_quiet_too_twisted_or_single_tones_are_not_keys() {
        assert_eq!(
            detect(&tones(&[Digit::D5], (5000.0, 5000.0), 20, 100, 100.0)),
            ""
        );
        assert_eq!(
            detect(&tones(&[Digit::D5], (150.0, 150.0), 200, 100, 10.0)),
            ""
        );
        assert_eq!(
            detect(&tones(&[Digit::D5], (6000.0, 400.0), 200, 100, 10.0)),
            ""
        );
        assert_eq!(
            detect(&tones(&[Digit::D5], (6000.0, 0.0), 200, 100, 10.0)),
            ""
        );
        // Noise alone, loud.
        assert_eq!(
            detect(&tones(&[Digit::D5], (0.0, 0.0), 2000, 0, 8000.0)),
            ""
        );
    }

    /// Voiced speech: a glottal pulse train (many harmonics of a wandering pitch) shaped by
    /// moving formants. Pitches such as 100 Hz put harmonics right on 700 and 1200 Hz.
    fn speech_like(seconds: usize) -> Vec<i16> {
        let mut n = Noise(99);
        let mut out = Vec::new();
        let mut phase = 0.0f32;
        for i in 0..seconds * 8000 {
            let t = i as f32 / SAMPLE_RATE;
            let f0 = 100.0 + 60.0 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 / SAMPLE_RATE;
            let f1 = 500.0 + 300.0 * (2.0 * std::f32::consts::PI * 1.3 * t).sin();
            let f2 = 1500.0 + 500.0 * (2.0 * std::f32::consts::PI * 0.9 * t).sin();
            let mut v = 0.0;
            for h in 1..=30 {
                let fh = f0 * h as f32;
                let g = 1.0 / (1.0 + ((fh - f1) / 150.0).powi(2))
                    + 0.6 / (1.0 + ((fh - f2) / 200.0).powi(2));
                v += g * (phase * h as f32).sin();
            }
            out.push((v * 3000.0 + n.next(200.0)) as i16);
        }
        out
    }

    #[test]
    fn speech_like_audio_gives_no_digits() {
        assert_eq!(detect(&speech_like(20)), "");
    }

    #[test]
    fn steady_harmonic_series_on_keypad_frequencies_gives_no_digits() {
        // f0 = 100 Hz: harmonics at 700 and 1200 Hz, close to 697 and 1209 Hz, plus all others.
        let mut out = Vec::new();
        for i in 0..16000 {
            let t = i as f32 / SAMPLE_RATE;
            let v: f32 = (1..=35)
                .map(|h| (2.0 * std::f32::consts::PI * 100.0 * h as f32 * t).sin())
                .sum();
            out.push((v * 600.0) as i16);
        }
        assert_eq!(detect(&out), "");
    }
}
