//! Unified social credit codes (统一社会信用代码, GB 32100-2015): the national identifier of
//! every enterprise and other organisation in China.
//!
//! A code has 18 characters drawn from a 31-character set, the digits and the capital letters
//! without I, O, S, V and Z (so they cannot be mistaken for 1, 0, 5, U and 2):
//! `0123456789ABCDEFGHJKLMNPQRTUWXY`. Position 1 is the registration authority (9 = market
//! regulation), position 2 the entity type, positions 3–8 the administrative division code of
//! the registering office (six digits, GB/T 2260), positions 9–17 the organisation code, and
//! position 18 a check character. Each character's value is its index in the set; the check
//! value is `31 − (Σ value·weight mod 31)` over positions 1–17 with weights `3^(i−1) mod 31`
//! (1, 3, 9, 27, 19, 26, …), where 31 becomes 0. The standard's own worked example is
//! `91350100M000100Y43`.
//!
//! Some codes issued in early pilot areas (2015, e.g. a few in Xiamen) do not satisfy the check;
//! they are legal but rare, and this module rejects them like any mistyped code.

use std::fmt;
use std::str::FromStr;

use super::text::{fold_width, is_separator};

/// The 31 characters of GB 32100, in value order.
pub const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weight of each of the first 17 positions: `3^(i−1) mod 31`.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Length of a complete code.
pub const LEN: usize = 18;

/// A unified social credit code with a valid check character, in canonical form
/// (18 characters, uppercase ASCII).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

/// Why a unified social credit code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    /// Wrong number of characters (after dropping spaces and separators).
    #[error("a unified social credit code has {expected} characters here, but {found} were given")]
    BadLength {
        /// 18 for a whole code, 17 for [`check_char`]'s input.
        expected: usize,
        /// Number of characters given.
        found: usize,
    },
    /// A character outside the 31-character set (I, O, S, V, Z, punctuation, Chinese, …).
    #[error(
        "character {position} of a unified social credit code is {ch:?}, which is not allowed \
         (only 0-9 and capital letters other than I, O, S, V, Z)"
    )]
    BadCharacter {
        /// The offending character (after width folding and uppercasing).
        ch: char,
        /// 1-based position within the code.
        position: usize,
    },
    /// Positions 3–8 hold the division code and must be digits.
    #[error(
        "character {position} of a unified social credit code is {ch:?}, but positions 3 to 8 \
         (the administrative division code) must be digits"
    )]
    DivisionNotDigit {
        /// The offending character.
        ch: char,
        /// 1-based position within the code (3..=8).
        position: usize,
    },
    /// The 18th character does not match the check character computed from the first 17.
    #[error(
        "the check character of a unified social credit code should be {expected:?}, but it is \
         {found:?}; the code is mistyped or not genuine"
    )]
    BadCheckCharacter {
        /// Check character computed from positions 1–17.
        expected: char,
        /// Character found at position 18.
        found: char,
    },
}

impl CreditCodeError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            CreditCodeError::BadLength { .. } => "uscc_bad_length",
            CreditCodeError::BadCharacter { .. } | CreditCodeError::DivisionNotDigit { .. } => {
                "uscc_bad_character"
            }
            CreditCodeError::BadCheckCharacter { .. } => "uscc_bad_check_character",
        }
    }
}

/// Value of a character in the set, if it belongs to it.
fn value_of(c: char) -> Option<u32> {
    CHARSET.find(c).and_then(|i| u32::try_from(i).ok())
}

/// Character of a value 0..=30.
fn char_of(v: u32) -> Option<char> {
    CHARSET.chars().nth(usize::try_from(v).ok()?)
}

/// Fold width, trim, drop separators and uppercase ASCII letters.
fn normalise(s: &str) -> Vec<char> {
    fold_width(s)
        .trim()
        .chars()
        .filter(|&c| !is_separator(c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Check the characters of a (normalised) body and compute its check character.
/// `chars` must already have the expected length (17 or 18); only the first 17 are used.
fn check_of(chars: &[char]) -> Result<char, CreditCodeError> {
    let mut sum = 0u32;
    for (i, (&c, w)) in chars.iter().zip(WEIGHTS).enumerate() {
        let position = i + 1;
        let v = value_of(c).ok_or(CreditCodeError::BadCharacter { ch: c, position })?;
        if (3..=8).contains(&position) && !c.is_ascii_digit() {
            return Err(CreditCodeError::DivisionNotDigit { ch: c, position });
        }
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    // `check` is in 0..=30, so it always has a character.
    Ok(char_of(check).unwrap_or('0'))
}

/// Compute the check character (position 18) for the first 17 characters of a code.
///
/// The input is normalised like [`CreditCode::parse`] (width folding, separators dropped,
/// uppercasing) and must then be 17 characters from the set, with digits at positions 3–8.
pub fn check_char(first17: &str) -> Result<char, CreditCodeError> {
    let chars = normalise(first17);
    if chars.len() != LEN - 1 {
        return Err(CreditCodeError::BadLength {
            expected: LEN - 1,
            found: chars.len(),
        });
    }
    check_of(&chars)
}

impl CreditCode {
    /// Parse a code as typed: full-width characters are folded, surrounding whitespace and
    /// separators (spaces, dashes, dots, …) are dropped and letters are uppercased; the result
    /// must be 18 characters from the set, with digits at positions 3–8 and a correct check
    /// character.
    pub fn parse(s: &str) -> Result<CreditCode, CreditCodeError> {
        let chars = normalise(s);
        if chars.len() != LEN {
            return Err(CreditCodeError::BadLength {
                expected: LEN,
                found: chars.len(),
            });
        }
        let expected = check_of(&chars)?;
        let found = chars.get(LEN - 1).copied().unwrap_or_default();
        if value_of(found).is_none() {
            return Err(CreditCodeError::BadCharacter {
                ch: found,
                position: LEN,
            });
        }
        if found != expected {
            return Err(CreditCodeError::BadCheckCharacter { expected, found });
        }
        Ok(CreditCode(chars.into_iter().collect()))
    }

    /// The code in canonical form (18 characters, uppercase).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The administrative division code of the registering office: characters 3–8, always
    /// six ASCII digits (not checked against the GB/T 2260 table; it may name a division that
    /// has since been abolished).
    pub fn division(&self) -> &str {
        self.0.get(2..8).unwrap_or_default()
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CreditCode {
    type Err = CreditCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(s)
    }
}

impl TryFrom<String> for CreditCode {
    type Error = CreditCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CreditCode::parse(&s)
    }
}

impl From<CreditCode> for String {
    fn from(c: CreditCode) -> String {
        c.0
    }
}

impl AsRef<str> for CreditCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real codes: the GB 32100-2015 worked example, and codes of real organisations collected
    /// by python-stdnum's test suite (tests/test_cn_uscc.doctest).
    const REAL: &[&str] = &[
        "91350100M000100Y43",
        "121200004013590816",
        "91110000600037341L",
        "91110000710926094P",
        "91120224064012553U",
        "91152201078371135X",
        "91310000631696382C",
        "91310115MA1K3BTP2B",
        "913205056082348768",
        "913304007429141869",
        "91340600MA2PBM9HXD",
        "91440300568520498A",
        "9144030071526726XG",
        "9144060573144633XL",
        "91442000696462712R",
        "91620105L015101280",
        "92340602MA2PBMEM24",
        "92340603MA2UK2QAXJ",
    ];

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1u32;
        for &x in &WEIGHTS {
            assert_eq!(x, w);
            w = w * 3 % 31;
        }
        assert_eq!(CHARSET.chars().count(), 31);
    }

    #[test]
    fn standard_worked_example() {
        // GB 32100-2015: sum 1640, 1640 mod 31 = 28, 31 − 28 = 3.
        assert_eq!(check_char("91350100M000100Y4"), Ok('3'));
        assert_eq!(
            CreditCode::parse("91350100M000100Y4Z"),
            Err(CreditCodeError::BadCharacter {
                ch: 'Z',
                position: 18
            })
        );
        assert_eq!(
            CreditCode::parse("91350100M000100Y4X"),
            Err(CreditCodeError::BadCheckCharacter {
                expected: '3',
                found: 'X'
            })
        );
    }

    #[test]
    fn real_codes_parse() {
        for s in REAL {
            let c = CreditCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(c.as_str(), *s);
            assert_eq!(c.to_string(), *s);
            let (body, last) = s.split_at(17);
            assert_eq!(check_char(body).map(String::from), Ok(last.to_string()));
        }
    }

    #[test]
    fn check_value_zero_is_character_zero() {
        // Σ ≡ 0 (mod 31) gives 31 − 0 = 31, which wraps to value 0, character '0'.
        let c = CreditCode::parse("91620105L015101280").unwrap();
        assert!(c.as_str().ends_with('0'));
    }

    #[test]
    fn parse_normalises_what_people_type() {
        let want = "91110000600037341L";
        for typed in [
            "91110000600037341l",
            "  91110000600037341L\n",
            "91 110000 600037341L",
            "91-110000-600037341-L",
            "９１１１００００６０００３７３４１Ｌ",
            "\u{3000}91110000600037341L\u{3000}",
        ] {
            assert_eq!(
                CreditCode::parse(typed).map(String::from).as_deref(),
                Ok(want),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn division_part() {
        let c = CreditCode::parse("91350100M000100Y43").unwrap();
        assert_eq!(c.division(), "350100");
        let c = CreditCode::parse("91440300568520498A").unwrap();
        assert_eq!(c.division(), "440300");
    }

    #[test]
    fn errors_and_codes() {
        let e = CreditCode::parse("12345").unwrap_err();
        assert_eq!(
            e,
            CreditCodeError::BadLength {
                expected: 18,
                found: 5
            }
        );
        assert_eq!(e.code(), "uscc_bad_length");
        assert_eq!(
            e.to_string(),
            "a unified social credit code has 18 characters here, but 5 were given"
        );

        let e = CreditCode::parse("9111000060003IOZSV").unwrap_err();
        assert_eq!(
            e,
            CreditCodeError::BadCharacter {
                ch: 'I',
                position: 14
            }
        );
        assert_eq!(e.code(), "uscc_bad_character");
        assert!(e.to_string().contains("character 14"), "{e}");
        assert!(e.to_string().contains("'I'"), "{e}");

        let e = CreditCode::parse("91A10000600037341L").unwrap_err();
        assert_eq!(
            e,
            CreditCodeError::DivisionNotDigit {
                ch: 'A',
                position: 3
            }
        );
        assert_eq!(e.code(), "uscc_bad_character");

        let e = CreditCode::parse("91110000600037341N").unwrap_err();
        assert_eq!(
            e,
            CreditCodeError::BadCheckCharacter {
                expected: 'L',
                found: 'N'
            }
        );
        assert_eq!(e.code(), "uscc_bad_check_character");
        assert_eq!(
            e.to_string(),
            "the check character of a unified social credit code should be 'L', but it is 'N'; \
             the code is mistyped or not genuine"
        );

        let e = check_char("9111000060003734").unwrap_err();
        assert_eq!(
            e,
            CreditCodeError::BadLength {
                expected: 17,
                found: 16
            }
        );
        assert_eq!(
            CreditCode::parse("91110000600037341中"),
            Err(CreditCodeError::BadCharacter {
                ch: '中',
                position: 18
            })
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let c = CreditCode::parse("91350100M000100Y43").unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"91350100M000100Y43\"");
        assert_eq!(serde_json::from_str::<CreditCode>(&j).unwrap(), c);
        assert!(serde_json::from_str::<CreditCode>("\"91350100M000100Y44\"").is_err());
        assert_eq!("91350100M000100Y43".parse::<CreditCode>(), Ok(c));
    }

    fn set_char() -> impl Strategy<Value = char> {
        proptest::sample::select(CHARSET.chars().collect::<Vec<_>>())
    }

    fn body() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(set_char(), 2),
            "[0-9]{6}",
            proptest::collection::vec(set_char(), 9),
        )
            .prop_map(|(a, d, b)| {
                let mut s: String = a.into_iter().collect();
                s.push_str(&d);
                s.extend(b);
                s
            })
    }

    proptest! {
        #[test]
        fn nothing_panics(s in any::<String>()) {
            let _ = CreditCode::parse(&s).map_err(|e| (e.code(), e.to_string()));
            let _ = check_char(&s).map_err(|e| (e.code(), e.to_string()));
        }

        #[test]
        fn nothing_panics_on_near_codes(s in "[0-9A-Za-z９Ｚ \\-]{15,20}") {
            if let Ok(c) = CreditCode::parse(&s) {
                prop_assert_eq!(c.division().len(), 6);
            }
            let _ = check_char(&s);
        }

        #[test]
        fn body_plus_check_char_parses(b in body()) {
            let check = check_char(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let code = format!("{b}{check}");
            let parsed = CreditCode::parse(&code).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.as_str(), code.as_str());
            prop_assert_eq!(parsed.division(), &b[2..8]);
        }

        #[test]
        fn any_set_body_has_a_check_char_unless_division_has_letters(
            chars in proptest::collection::vec(set_char(), 17)
        ) {
            let b: String = chars.iter().collect();
            let division_ok = chars[2..8].iter().all(char::is_ascii_digit);
            prop_assert_eq!(check_char(&b).is_ok(), division_ok);
        }

        #[test]
        fn single_substitution_is_detected(
            b in body(),
            pos in 0usize..18,
            replacement in prop_oneof![set_char(), any::<char>()],
        ) {
            let check = check_char(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut chars: Vec<char> = b.chars().collect();
            chars.push(check);
            let original = chars[pos];
            // Changing a letter's case or replacing it with its full-width form is not a change.
            prop_assume!(fold_width(&replacement.to_string()).to_ascii_uppercase()
                != original.to_string());
            chars[pos] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(CreditCode::parse(&changed).is_err(), "{} parsed", changed);
        }
    }
}
