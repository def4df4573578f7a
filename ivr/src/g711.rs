//! G.711: the 8-bit telephone sample encodings, A-law (PCMA, Europe and China) and µ-law (PCMU,
//! North America and Japan).
//!
//! A G.711 sample is a logarithmic compression of a 13-bit (A-law) or 14-bit (µ-law) linear
//! sample: a sign bit, a 3-bit segment (the exponent) and a 4-bit position within the segment.
//! Quiet sounds keep their precision, loud ones lose it, which is how speech is heard. Every
//! 8-bit value decodes, so decoding never fails; encoding saturates. This is the reference
//! algorithm of ITU-T G.711 (as in the public-domain Sun implementation), with no tables.

/// Which G.711 law a stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// A-law, RTP payload type 8 (PCMA).
    Alaw,
    /// µ-law, RTP payload type 0 (PCMU).
    Ulaw,
}

impl Law {
    /// The byte that encodes digital silence.
    pub fn silence(self) -> u8 {
        match self {
            Law::Alaw => 0xD5,
            Law::Ulaw => 0xFF,
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Alaw => linear_to_alaw(sample),
            Law::Ulaw => linear_to_ulaw(sample),
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Alaw => alaw_to_linear(byte),
            Law::Ulaw => ulaw_to_linear(byte),
        }
    }

    /// Encodes a block of linear samples.
    pub fn encode_all(self, samples: &[i16]) -> Vec<u8> {
        samples.iter().map(|&s| self.encode(s)).collect()
    }

    /// Decodes a block of G.711 bytes into `out` (cleared first).
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        out.clear();
        out.extend(bytes.iter().map(|&b| self.decode(b)));
    }
}

/// The segment whose upper bound is the first at or above `value`.
fn segment(value: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&end| value <= end).unwrap_or(8)
}

const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &ALAW_SEG_END);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if seg < 2 { 1 } else { seg };
    let aval = ((seg as i32) << 4) | ((pcm >> shift) & 0x0F);
    (aval as u8) ^ mask
}

pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = i32::from((a & 0x70) >> 4);
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    v as i16
}

pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 2;
    let mask = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(pcm, &ULAW_SEG_END);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let uval = ((seg as i32) << 4) | ((pcm >> (seg + 1)) & 0x0F);
    (uval as u8) ^ mask
}

pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (i32::from(u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    let v = if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alaw_code_survives_decode_and_encode() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "code {b:#04x}");
        }
    }

    #[test]
    fn every_ulaw_code_survives_decode_and_encode_except_negative_zero() {
        for b in 0..=255u8 {
            if b == 0x7F {
                // 0x7F is µ-law's "negative zero": it decodes to 0, which encodes as 0xFF.
                assert_eq!(ulaw_to_linear(b), 0);
                continue;
            }
            assert_eq!(linear_to_ulaw(ulaw_to_linear(b)), b, "code {b:#04x}");
        }
    }

    #[test]
    fn silence_and_known_values() {
        assert_eq!(Law::Alaw.silence(), linear_to_alaw(0));
        assert_eq!(Law::Ulaw.silence(), linear_to_ulaw(0));
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        // Saturation at both ends.
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn quantisation_error_is_logarithmic() {
        for law in [Law::Alaw, Law::Ulaw] {
            for s in (-32000i32..32000).step_by(97) {
                let s = s as i16;
                let back = i32::from(law.decode(law.encode(s)));
                let err = (back - i32::from(s)).abs();
                // Within half a step of the segment: 1/32 of the magnitude, at least 8.
                assert!(
                    err <= (i32::from(s).abs() / 16).max(8),
                    "{law:?} {s} -> {back}"
                );
            }
        }
    }
}
