//! Code formats a consumer may present (SPEC "Codes a consumer may present"), and the one
//! dispatcher that tells them apart.
//!
//! Four families reach zhenwei, through scanners that may prefix an AIM symbology identifier and
//! through people who type full-width digits, spaces and dashes:
//!
//! * [`supervision`] — zhenwei's own 20-digit FF1 codes (the item is verified by arithmetic, then
//!   by its range);
//! * [`gs1`] — GTIN + serial (+ lot, expiry) as element strings or Digital Link URIs;
//! * scratch PINs — 10–16 characters under a scratch-off panel ([`text::normalize_pin`]);
//! * [`gtin`] — a plain EAN/UPC barcode, which names a product type, not an item.
//!
//! [`decode`] is syntax only: it needs no keys and no database, and it is what `zhenwei decode`
//! prints. Whether a syntactically valid code was actually issued is the resolver's business.

pub mod division;
pub mod ff1;
pub mod gs1;
pub mod gtin;
pub mod supervision;
pub mod text;
pub mod uscc;

use serde::{Deserialize, Serialize};

/// Longest input the decoder looks at; anything longer is not a code.
pub const MAX_INPUT_CHARS: usize = 512;

/// The family a presented code belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Supervision,
    Gs1,
    ScratchPin,
    Gtin,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Supervision => "supervision",
            Family::Gs1 => "gs1",
            Family::ScratchPin => "scratch_pin",
            Family::Gtin => "gtin",
        }
    }
}

/// A syntactically valid code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// 20 ASCII digits.
    Supervision(String),
    Gs1(gs1::Gs1Data),
    /// Normalised PIN (`[0-9A-Z]{10,16}`).
    ScratchPin(String),
    Gtin(gtin::Gtin),
}

/// Why a scan or typed text is not a code. `code()` is stable and machine-readable; the message
/// says precisely what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("nothing was entered")]
    Empty,
    #[error("input is {0} characters long; no code is longer than {MAX_INPUT_CHARS}")]
    TooLong(usize),
    #[error("{0}")]
    Gs1(#[from] gs1::Gs1Error),
    #[error("GS1 data without a GTIN (AI 01) names no product")]
    Gs1WithoutGtin,
    #[error("{0}")]
    Gtin(#[from] gtin::GtinError),
    #[error("{0}")]
    Pin(#[from] text::PinError),
    #[error(
        "{0} digits is no code: a supervision code has 20 digits, a barcode 8, 12, 13 or 14, \
         a scratch PIN 10 to 16 characters"
    )]
    DigitCount(usize),
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::TooLong(_) => "too_long",
            DecodeError::Gs1(e) => e.code(),
            DecodeError::Gs1WithoutGtin => "gs1_missing_gtin",
            DecodeError::Gtin(e) => e.code(),
            DecodeError::Pin(e) => e.code(),
            DecodeError::DigitCount(_) => "bad_digit_count",
        }
    }
}

impl Decoded {
    pub fn family(&self) -> Family {
        match self {
            Decoded::Supervision(_) => Family::Supervision,
            Decoded::Gs1(_) => Family::Gs1,
            Decoded::ScratchPin(_) => Family::ScratchPin,
            Decoded::Gtin(_) => Family::Gtin,
        }
    }

    /// The normalised text: the 20 digits, the bracketed GS1 form `(01)…(21)…`, the normalised
    /// PIN, or the GTIN as presented (8/12/13/14 digits).
    pub fn normalised(&self) -> String {
        match self {
            Decoded::Supervision(c) => c.clone(),
            Decoded::Gs1(d) => d.to_bracketed(),
            Decoded::ScratchPin(p) => p.clone(),
            Decoded::Gtin(g) => g.original(),
        }
    }

    /// GS1 application identifiers and values, in scan order (empty for other families).
    pub fn ais(&self) -> Vec<(String, String)> {
        match self {
            Decoded::Gs1(d) => d.ais.clone(),
            _ => Vec::new(),
        }
    }
}

/// Tells what a scan string or typed text is. Never panics, whatever the input.
pub fn decode(input: &str) -> Result<Decoded, DecodeError> {
    let len = input.chars().count();
    if len > MAX_INPUT_CHARS {
        return Err(DecodeError::TooLong(len));
    }
    let folded = text::fold_width(input);
    let trimmed = folded.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if trimmed.is_empty() {
        return Err(DecodeError::Empty);
    }
    if let (Some(sym), inner) = gs1::split_symbology(trimmed) {
        if sym.carries_gs1_element_string() {
            return gs1_with_gtin(gs1::parse(trimmed)?);
        }
        return match sym.kind {
            gs1::Symbology::Ean13 | gs1::Symbology::Ean8 => {
                Ok(Decoded::Gtin(gtin::Gtin::parse(inner.trim())?))
            }
            // A non-GS1 symbol (plain QR, DataMatrix, Code 128 …): its content is typed-text-like.
            _ => decode_plain(inner.trim()),
        };
    }
    decode_plain(trimmed)
}

fn gs1_with_gtin(data: gs1::Gs1Data) -> Result<Decoded, DecodeError> {
    if data.gtin().is_none() {
        return Err(DecodeError::Gs1WithoutGtin);
    }
    Ok(Decoded::Gs1(data))
}

fn decode_plain(s: &str) -> Result<Decoded, DecodeError> {
    if s.is_empty() {
        return Err(DecodeError::Empty);
    }
    if gs1::looks_like_gs1(s) {
        return gs1_with_gtin(gs1::parse(s)?);
    }
    if let Some(digits) = text::digits_only(s) {
        let n = digits.len();
        if n == supervision::CODE_LEN {
            return Ok(Decoded::Supervision(digits));
        }
        if matches!(n, 8 | 12 | 13 | 14) {
            match gtin::Gtin::parse(&digits) {
                Ok(g) => return Ok(Decoded::Gtin(g)),
                // An all-digit PIN of barcode length: accept it as a PIN when it is one.
                Err(e) if !(text::PIN_MIN_LEN..=text::PIN_MAX_LEN).contains(&n) => {
                    return Err(e.into())
                }
                Err(_) => {}
            }
        }
        if !(text::PIN_MIN_LEN..=text::PIN_MAX_LEN).contains(&n) {
            return Err(DecodeError::DigitCount(n));
        }
    }
    Ok(Decoded::ScratchPin(text::normalize_pin(s)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn twenty_digits_in_any_dress_are_a_supervision_code() {
        for s in [
            "12345678901234567890",
            "1234 5678 9012 3456 7890",
            "1234-5678-9012-3456-7890",
            "１２３４５６７８９０１２３４５６７８９０",
            "  1234.5678.9012.3456.7890\n",
        ] {
            assert_eq!(
                decode(s),
                Ok(Decoded::Supervision("12345678901234567890".into())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn barcodes_are_gtins() {
        let d = decode("6901234567892").unwrap();
        assert_eq!(d.family(), Family::Gtin);
        assert_eq!(d.normalised(), "6901234567892");
        let d = decode("]E06901234567892").unwrap();
        assert_eq!(d.family(), Family::Gtin);
    }

    #[test]
    fn a_barcode_with_a_wrong_check_digit_is_explained() {
        // 8 digits is below PIN length, so the GTIN error stands.
        let e = decode("12345678").unwrap_err();
        assert_eq!(e.code(), "gtin_bad_check_digit");
    }

    #[test]
    fn gs1_scans_with_and_without_symbology_identifier() {
        for s in [
            "]d20109506000134352\u{1d}10ABC123\u{1d}21XYZ",
            "]Q30109506000134352<GS>10ABC123<GS>21XYZ",
            "(01)09506000134352(10)ABC123(21)XYZ",
            "https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ",
        ] {
            let d = decode(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(d.family(), Family::Gs1, "{s:?}");
            assert_eq!(
                d.ais(),
                vec![
                    ("01".to_string(), "09506000134352".to_string()),
                    ("10".to_string(), "ABC123".to_string()),
                    ("21".to_string(), "XYZ".to_string())
                ],
                "{s:?}"
            );
            assert_eq!(d.normalised(), "(01)09506000134352(10)ABC123(21)XYZ");
        }
    }

    #[test]
    fn gs1_without_gtin_is_refused() {
        let e = decode("(10)ABC123(21)XYZ").unwrap_err();
        assert_eq!(e.code(), "gs1_missing_gtin", "{e}");
    }

    #[test]
    fn scratch_pins_normalise() {
        assert_eq!(
            decode("ab12-cdOI-l9xz").unwrap(),
            Decoded::ScratchPin("AB12CD0119XZ".into())
        );
    }

    #[test]
    fn a_plain_qr_carrying_a_supervision_code() {
        assert_eq!(
            decode("]Q112345678901234567890").unwrap(),
            Decoded::Supervision("12345678901234567890".into())
        );
    }

    #[test]
    fn errors_have_stable_codes() {
        assert_eq!(decode("").unwrap_err().code(), "empty");
        assert_eq!(decode("   ").unwrap_err().code(), "empty");
        assert_eq!(decode("1234567").unwrap_err().code(), "bad_digit_count");
        assert_eq!(
            decode("123456789012345678901").unwrap_err().code(),
            "bad_digit_count"
        );
        assert_eq!(decode("hello!").unwrap_err().code(), "pin_bad_character");
        assert_eq!(decode(&"9".repeat(600)).unwrap_err().code(), "too_long");
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,80}") {
            let _ = decode(&s);
        }

        #[test]
        fn decode_never_panics_on_scanner_like_bytes(s in "[\\]A-Za-z0-9\u{1d}()/:.?=%<>-]{0,80}") {
            let _ = decode(&s);
        }
    }
}
