//! What people actually type, and how to read it.
//!
//! Codes reach us through keyboards, phone keypads, SMS and barcode scanners, and people copy
//! them the way they see them printed: in groups separated by spaces, dashes or dots, often with
//! a Chinese input method that produces *full-width* characters (`１２３４`, `ＡＢ`, the
//! ideographic space `U+3000`). Reading such input takes two steps that every code parser here
//! shares: [`fold_width`] turns full-width ASCII variants into plain ASCII, and [`compact`] then
//! drops the separators ([`is_separator`]) that carry no meaning inside a code. Scratch PINs add
//! a third step, [`normalize_pin`], which also resolves the letters people confuse with digits
//! (O/0, I/l/1). Finally [`mask_phone`] is the one way a phone number is ever shown.

/// Why a scratch PIN could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// After dropping separators the PIN is not 10–16 characters long.
    #[error(
        "a scratch PIN has {min} to {max} letters or digits, but {len} were given",
        min = PIN_MIN_LEN,
        max = PIN_MAX_LEN
    )]
    BadLength {
        /// Number of letters and digits left after normalisation.
        len: usize,
    },
    /// A character that is neither a letter, a digit nor a separator.
    #[error(
        "a scratch PIN has only letters A-Z and digits 0-9, but character {position} is {ch:?}"
    )]
    BadCharacter {
        /// The offending character, as it was typed.
        ch: char,
        /// Its 1-based position among the characters of the input as given.
        position: usize,
    },
}

impl PinError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            PinError::BadLength { .. } => "pin_bad_length",
            PinError::BadCharacter { .. } => "pin_bad_character",
        }
    }
}

/// Shortest scratch PIN accepted (SPEC: 10–16 characters).
pub const PIN_MIN_LEN: usize = 10;
/// Longest scratch PIN accepted.
pub const PIN_MAX_LEN: usize = 16;

/// Full-width form of one character: U+FF01..=U+FF5E → ASCII `!`..=`~`, U+3000 → `' '`.
fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Full-width ASCII variants (U+FF01..=U+FF5E) → ASCII, ideographic space U+3000 → `' '`.
/// Everything else is unchanged: `"１２３４－ＡＢ\u{3000}x"` becomes `"1234-AB x"`.
pub fn fold_width(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// True for the separators people put inside printed codes: ASCII space, tab, CR, LF, `-`, `.`,
/// `_`, `/`, `·` (U+00B7), the dashes U+2010..=U+2015, `−` (U+2212) and `・` (U+30FB).
///
/// Apply after [`fold_width`]: full-width `－` is a separator only once folded to `-`.
/// The enumeration comma `、` is deliberately *not* a separator: it separates codes, not the
/// groups within one code.
pub fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '-' | '.' | '_' | '/' | '\u{00B7}' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}' | '\u{30FB}'
    )
}

/// [`fold_width`], then drop every [`is_separator`] character:
/// `" 1234 5678-９０１２.3456 "` becomes `"1234567890123456"`.
pub fn compact(s: &str) -> String {
    s.chars()
        .map(fold_char)
        .filter(|&c| !is_separator(c))
        .collect()
}

/// If [`compact`]`(s)` is non-empty and consists of ASCII digits only, return it.
pub fn digits_only(s: &str) -> Option<String> {
    let c = compact(s);
    if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
        Some(c)
    } else {
        None
    }
}

/// Normalise a scratch PIN as printed under a scratch-off panel (SPEC "Scratch PIN").
///
/// Steps: fold width, drop separators, map the look-alikes `O`/`o` → `0` and `I`/`i`/`l` → `1`
/// (before uppercasing, so `L` stays `L`), uppercase ASCII letters. The result must be
/// 10–16 characters of `[0-9A-Z]`.
///
/// A character that is not a letter, digit or separator is reported first (with its position
/// in the input as given, counting characters from 1); only then is the length checked.
/// Example: `"ab1O-lI2z 9xk"` normalises to `"AB101112Z9XK"`.
pub fn normalize_pin(s: &str) -> Result<String, PinError> {
    let mut out = String::with_capacity(PIN_MAX_LEN);
    let mut len = 0usize;
    for (i, original) in s.chars().enumerate() {
        let c = fold_char(original);
        if is_separator(c) {
            continue;
        }
        let mapped = match c {
            'O' | 'o' => '0',
            'I' | 'i' | 'l' => '1',
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
            _ => {
                return Err(PinError::BadCharacter {
                    ch: original,
                    position: i + 1,
                })
            }
        };
        len += 1;
        // Keep counting past the maximum (for the error message) without growing the buffer.
        if len <= PIN_MAX_LEN {
            out.push(mapped);
        }
    }
    if (PIN_MIN_LEN..=PIN_MAX_LEN).contains(&len) {
        Ok(out)
    } else {
        Err(PinError::BadLength { len })
    }
}

/// Mask a phone number for display. Only the digits are kept (after [`fold_width`]); anything
/// else (`+`, spaces, dashes) is dropped.
///
/// * 8 or more digits: keep the first 3 and the last 4, replace the rest with `*`
///   (`13812345678` → `138****5678`; `+86 138 1234 5678` → `861******5678`).
/// * 3 to 7 digits: keep only the last 2 (`1234567` → `*****67`).
/// * 1 or 2 digits: all masked, so a number is never shown in full.
/// * no digits: the empty string.
pub fn mask_phone(s: &str) -> String {
    let digits: Vec<char> = s
        .chars()
        .map(fold_char)
        .filter(char::is_ascii_digit)
        .collect();
    let n = digits.len();
    let (head, tail) = match n {
        0..=2 => (0, 0),
        3..=7 => (0, 2),
        _ => (3, 4),
    };
    digits
        .iter()
        .enumerate()
        .map(|(i, &d)| if i < head || i >= n - tail { d } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fold_width_maps_full_width_ascii_and_ideographic_space() {
        assert_eq!(fold_width("！～"), "!~");
        assert_eq!(fold_width("０１２３４５６７８９"), "0123456789");
        assert_eq!(fold_width("ＡＺａｚ"), "AZaz");
        assert_eq!(fold_width("a\u{3000}b"), "a b");
        // Neighbours of the range are untouched.
        assert_eq!(fold_width("\u{FF00}\u{FF5F}"), "\u{FF00}\u{FF5F}");
        assert_eq!(fold_width("验证 ABC、"), "验证 ABC、");
        assert_eq!(fold_width(""), "");
    }

    #[test]
    fn separators() {
        for c in [
            ' ', '\t', '\r', '\n', '-', '.', '_', '/', '·', '‐', '‑', '‒', '–', '—', '―', '−', '・',
        ] {
            assert!(is_separator(c), "{c:?} should be a separator");
        }
        for c in [
            '、', ',', '，', '0', 'a', '#', '*', '\u{3000}', '－', '\u{2016}', '。',
        ] {
            assert!(!is_separator(c), "{c:?} should not be a separator");
        }
    }

    #[test]
    fn compact_folds_then_drops_separators() {
        assert_eq!(compact("１２３４－５６７８"), "12345678");
        assert_eq!(compact("1234\u{3000}5678"), "12345678");
        assert_eq!(compact("1234—5678·9012・3456"), "1234567890123456");
        assert_eq!(compact("12、34"), "12、34");
        assert_eq!(compact(" \t-./_ "), "");
    }

    #[test]
    fn digits_only_cases() {
        assert_eq!(
            digits_only("1234 5678 9012 3456 7890").as_deref(),
            Some("12345678901234567890")
        );
        assert_eq!(digits_only("１２３４.５６").as_deref(), Some("123456"));
        assert_eq!(digits_only(""), None);
        assert_eq!(digits_only(" - "), None);
        assert_eq!(digits_only("1234a"), None);
        assert_eq!(digits_only("１２３４５"), Some("12345".to_string()));
        assert_eq!(
            digits_only("١٢٣"),
            None,
            "non-ASCII digits are not digits here"
        );
    }

    #[test]
    fn pin_normalisation() {
        assert_eq!(normalize_pin("abcd-efgh-jk").unwrap(), "ABCDEFGHJK");
        // O/o → 0, I/i/l → 1, but L stays L.
        assert_eq!(normalize_pin("OoIil Lxxxxx").unwrap(), "00111LXXXXX");
        assert_eq!(
            normalize_pin("ＡＢＣＤ　１２３４５６").unwrap(),
            "ABCD123456"
        );
        assert_eq!(
            normalize_pin("1234567890123456").unwrap(),
            "1234567890123456"
        );
    }

    #[test]
    fn pin_length_errors() {
        assert_eq!(
            normalize_pin("123456789"),
            Err(PinError::BadLength { len: 9 })
        );
        assert_eq!(
            normalize_pin("12345678901234567"),
            Err(PinError::BadLength { len: 17 })
        );
        assert_eq!(normalize_pin(""), Err(PinError::BadLength { len: 0 }));
        assert_eq!(normalize_pin(" - "), Err(PinError::BadLength { len: 0 }));
        let e = normalize_pin("123").unwrap_err();
        assert_eq!(e.code(), "pin_bad_length");
        assert_eq!(
            e.to_string(),
            "a scratch PIN has 10 to 16 letters or digits, but 3 were given"
        );
    }

    #[test]
    fn pin_character_errors_name_char_and_position() {
        let e = normalize_pin("12 34#567890").unwrap_err();
        assert_eq!(
            e,
            PinError::BadCharacter {
                ch: '#',
                position: 6
            }
        );
        assert_eq!(e.code(), "pin_bad_character");
        assert_eq!(
            e.to_string(),
            "a scratch PIN has only letters A-Z and digits 0-9, but character 6 is '#'"
        );
        // Reported as typed, not as folded.
        assert_eq!(
            normalize_pin("１２３＃"),
            Err(PinError::BadCharacter {
                ch: '＃',
                position: 4
            })
        );
        assert_eq!(
            normalize_pin("验证1234567890"),
            Err(PinError::BadCharacter {
                ch: '验',
                position: 1
            })
        );
        // The enumeration comma is not a separator.
        assert_eq!(
            normalize_pin("12345、67890"),
            Err(PinError::BadCharacter {
                ch: '、',
                position: 6
            })
        );
        // A bad character is reported even when the length is also wrong.
        assert_eq!(
            normalize_pin("é"),
            Err(PinError::BadCharacter {
                ch: 'é',
                position: 1
            })
        );
    }

    #[test]
    fn phone_masking() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("138 1234 5678"), "138****5678");
        assert_eq!(mask_phone("１３８１２３４５６７８"), "138****5678");
        assert_eq!(mask_phone("+86 138-1234-5678"), "861******5678");
        assert_eq!(mask_phone("12345678"), "123*5678");
        assert_eq!(mask_phone("1234567"), "*****67");
        assert_eq!(mask_phone("123"), "*23");
        assert_eq!(mask_phone("12"), "**");
        assert_eq!(mask_phone("7"), "*");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_phone("no digits"), "");
    }

    proptest! {
        #[test]
        fn nothing_panics(s in any::<String>()) {
            let _ = fold_width(&s);
            let _ = compact(&s);
            let _ = digits_only(&s);
            let _ = normalize_pin(&s).map_err(|e| (e.code(), e.to_string()));
            let _ = mask_phone(&s);
        }

        #[test]
        fn nothing_panics_on_code_like_input(s in "[0-9A-Za-z０-９Ａ-Ｚ \\-.·・—、#\u{3000}]{0,40}") {
            let _ = normalize_pin(&s);
            let _ = mask_phone(&s);
            let _ = digits_only(&s);
        }

        #[test]
        fn compact_has_no_separators_and_is_idempotent(s in any::<String>()) {
            let c = compact(&s);
            prop_assert!(!c.chars().any(is_separator));
            prop_assert_eq!(compact(&c), c.clone());
            prop_assert_eq!(fold_width(&c), c);
        }

        #[test]
        fn pin_result_is_canonical(s in any::<String>()) {
            if let Ok(p) = normalize_pin(&s) {
                prop_assert!((PIN_MIN_LEN..=PIN_MAX_LEN).contains(&p.len()));
                prop_assert!(p.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
                prop_assert!(!p.contains('O') && !p.contains('I'));
                prop_assert_eq!(normalize_pin(&p), Ok(p.clone()));
            }
        }

        #[test]
        fn mask_keeps_digit_count_and_hides_something(s in "[0-9 +\\-]{0,24}") {
            let m = mask_phone(&s);
            let n = s.chars().filter(char::is_ascii_digit).count();
            prop_assert_eq!(m.chars().count(), n);
            if n > 0 {
                prop_assert!(m.contains('*'));
            }
        }
    }
}
