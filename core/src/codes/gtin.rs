//! GTIN — Global Trade Item Number — and its mod-10 check digit.
//!
//! A GTIN identifies a *product type* (every bottle of the same shampoo in the
//! same size carries the same GTIN), not an individual item. It comes in four
//! lengths, named after the barcodes that traditionally carry them:
//!
//! | form     | digits | typical carrier                 |
//! |----------|--------|---------------------------------|
//! | GTIN-8   | 8      | EAN-8 on very small packs       |
//! | GTIN-12  | 12     | UPC-A (North America)           |
//! | GTIN-13  | 13     | EAN-13 (most of the world)      |
//! | GTIN-14  | 14     | ITF-14 on cases, AI (01) in GS1 |
//!
//! **Check digit.** The last digit of every GTIN is a check digit computed from
//! the others: starting from the rightmost body digit (the one just left of
//! the check digit) and moving left, multiply the digits alternately by 3 and
//! 1, add the products, and take the amount needed to reach the next multiple
//! of ten. For the GTIN-13 body `950600013435`: weights from the right are
//! 3,1,3,1,… giving a sum of 58, so the check digit is 2 → `9506000134352`.
//! Because the weights are anchored on the *right*, padding a GTIN with
//! leading zeros does not change its check digit.
//!
//! **14-digit normal form.** That is why every GTIN can be compared and stored
//! as 14 digits by left-padding with zeros: EAN-13 `9506000134352` is
//! `09506000134352`, UPC-A `614141000036` is `00614141000036`. GS1 element
//! strings (AI 01) always carry this 14-digit form. The first of the 14 digits
//! is the *indicator digit* (0 for a consumer unit; 1–8 for packaging levels
//! such as a case of 12; 9 for variable-measure items).
//!
//! **Company prefix.** A GS1 company prefix (GCP) is the block of digits
//! licensed to a brand owner by a GS1 member organisation (the prefix `690`–
//! `699` range is GS1 China, for example). In the 14-digit form it starts right
//! after the indicator digit, so "does this GTIN belong to prefix P" is "do
//! digits 2.. of the 14-digit form start with P". (A U.P.C. company prefix
//! such as `614141` is written with a leading zero as the GCP `0614141`.
//! GTIN-8s are allocated from a separate GS1-8 prefix pool and do not contain
//! a company prefix in this sense.)

use std::fmt;
use std::str::FromStr;

/// Computes the mod-10 check digit for the given body digits.
///
/// `body` holds the digit *values* `0..=9` (not ASCII), without the check
/// digit, most significant first. Weights 3,1,3,1,… are applied starting from
/// the rightmost body digit. Works for any length (GTIN, SSCC, GLN, GSRN …).
/// Values above 9 are not meaningful, but never cause a panic.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum = body.iter().rev().enumerate().fold(0u32, |acc, (i, &d)| {
        let weight = if i % 2 == 0 { 3 } else { 1 };
        (acc + u32::from(d) * weight) % 10
    });
    // `sum` is in 0..=9, so the result always fits in a u8.
    ((10 - sum) % 10) as u8
}

/// A validated GTIN, held in its 14-digit normal form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gtin {
    gtin14: String,
    original_len: usize,
}

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14: exactly that many ASCII digits with a
    /// correct check digit. Nothing is trimmed or removed; callers normalise
    /// (spaces, full-width digits …) first.
    pub fn parse(s: &str) -> Result<Gtin, GtinError> {
        if let Some((index, found)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(GtinError::NotDigits {
                position: index + 1,
                found,
            });
        }
        // All ASCII digits from here on, so bytes == characters.
        let len = s.len();
        if !matches!(len, 8 | 12 | 13 | 14) {
            return Err(GtinError::BadLength { len });
        }
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        if let Some((&found, body)) = digits.split_last() {
            let expected = check_digit(body);
            if expected != found {
                return Err(GtinError::BadCheckDigit { expected, found });
            }
        }
        let mut gtin14 = "0".repeat(14 - len);
        gtin14.push_str(s);
        Ok(Gtin {
            gtin14,
            original_len: len,
        })
    }

    /// The 14-digit normal form, e.g. `09506000134352`.
    pub fn as_gtin14(&self) -> &str {
        &self.gtin14
    }

    /// The GTIN in the length it was presented in, e.g. the 13 digits of an
    /// EAN-13 (`9506000134352`).
    pub fn original(&self) -> String {
        let skip = self.gtin14.len().saturating_sub(self.original_len);
        self.gtin14.get(skip..).unwrap_or(&self.gtin14).to_string()
    }

    /// How many digits the GTIN was presented with: 8, 12, 13 or 14.
    pub fn original_len(&self) -> usize {
        self.original_len
    }

    /// The indicator digit: the first digit of the 14-digit form (0 for
    /// consumer units, 1–8 packaging levels, 9 variable measure).
    pub fn indicator(&self) -> u8 {
        self.gtin14
            .bytes()
            .next()
            .map_or(0, |b| b.wrapping_sub(b'0'))
    }

    /// Whether this GTIN falls under the GS1 company prefix `prefix`: the
    /// 14-digit form, skipping the indicator digit, starts with `prefix`.
    ///
    /// An empty prefix matches nothing (rather than everything), so that a
    /// blank registry entry can never claim every product.
    pub fn has_company_prefix(&self, prefix: &str) -> bool {
        !prefix.is_empty()
            && self
                .gtin14
                .get(1..)
                .is_some_and(|rest| rest.starts_with(prefix))
    }
}

impl fmt::Display for Gtin {
    /// Formats the 14-digit normal form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.gtin14)
    }
}

impl FromStr for Gtin {
    type Err = GtinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gtin::parse(s)
    }
}

/// Why a string is not a valid GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    /// Not 8, 12, 13 or 14 digits long.
    #[error("GTIN must be 8, 12, 13 or 14 digits long, not {len}")]
    BadLength {
        /// Number of digits presented.
        len: usize,
    },
    /// Contains something other than the ASCII digits 0–9.
    #[error("GTIN must be digits only, but character {position} is '{}'", .found.escape_debug())]
    NotDigits {
        /// 1-based character position of the first offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The last digit does not match the mod-10 check digit of the others.
    #[error("GTIN check digit is {found} but should be {expected}")]
    BadCheckDigit {
        /// The check digit computed from the body.
        expected: u8,
        /// The check digit presented.
        found: u8,
    },
}

impl GtinError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            GtinError::BadLength { .. } => "gtin_bad_length",
            GtinError::NotDigits { .. } => "gtin_not_digits",
            GtinError::BadCheckDigit { .. } => "gtin_bad_check_digit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn check_digit_known_values() {
        assert_eq!(check_digit(&digits("950600013435")), 2); // EAN-13 9506000134352
        assert_eq!(check_digit(&digits("0950600013435")), 2); // same, GTIN-14
        assert_eq!(check_digit(&digits("61414100003")), 6); // UPC-A 614141000036
        assert_eq!(check_digit(&digits("9638507")), 4); // EAN-8 96385074
        assert_eq!(check_digit(&digits("400638133393")), 1); // EAN-13 4006381333931
        assert_eq!(check_digit(&digits("69012345678")), 7);
        assert_eq!(check_digit(&digits("00000000000")), 0);
        assert_eq!(check_digit(&[]), 0);
        // SSCC 106141411234567897
        assert_eq!(check_digit(&digits("10614141123456789")), 7);
    }

    #[test]
    fn check_digit_tolerates_out_of_range_values() {
        let big = vec![255u8; 100_000];
        let d = check_digit(&big);
        assert!(d <= 9);
    }

    #[test]
    fn parses_all_lengths() {
        let g8 = Gtin::parse("96385074").unwrap();
        assert_eq!(g8.as_gtin14(), "00000096385074");
        assert_eq!(g8.original(), "96385074");
        assert_eq!(g8.original_len(), 8);

        let g12 = Gtin::parse("614141000036").unwrap();
        assert_eq!(g12.as_gtin14(), "00614141000036");
        assert_eq!(g12.original(), "614141000036");
        assert_eq!(g12.original_len(), 12);

        let g13 = Gtin::parse("9506000134352").unwrap();
        assert_eq!(g13.as_gtin14(), "09506000134352");
        assert_eq!(g13.original(), "9506000134352");
        assert_eq!(g13.original_len(), 13);
        assert_eq!(g13.to_string(), "09506000134352");
        assert_eq!(g13.indicator(), 0);

        let g14 = Gtin::parse("10614141000002").unwrap();
        assert_eq!(g14.as_gtin14(), "10614141000002");
        assert_eq!(g14.original(), "10614141000002");
        assert_eq!(g14.original_len(), 14);
        assert_eq!(g14.indicator(), 1);

        let via_from_str: Gtin = "9506000134352".parse().unwrap();
        assert_eq!(via_from_str, g13);
    }

    #[test]
    fn different_lengths_of_same_number_compare_equal_in_14_form() {
        let a = Gtin::parse("9506000134352").unwrap();
        let b = Gtin::parse("09506000134352").unwrap();
        assert_eq!(a.as_gtin14(), b.as_gtin14());
        assert_ne!(a, b, "original length is part of identity");
    }

    #[test]
    fn rejects_bad_length() {
        for s in [
            "",
            "1",
            "1234567",
            "123456789",
            "12345678901",
            "123456789012345",
        ] {
            let err = Gtin::parse(s).unwrap_err();
            assert_eq!(err.code(), "gtin_bad_length", "{s}");
            assert_eq!(err, GtinError::BadLength { len: s.len() });
        }
        assert_eq!(
            GtinError::BadLength { len: 11 }.to_string(),
            "GTIN must be 8, 12, 13 or 14 digits long, not 11"
        );
    }

    #[test]
    fn rejects_non_digits() {
        let err = Gtin::parse("950600013435X").unwrap_err();
        assert_eq!(
            err,
            GtinError::NotDigits {
                position: 13,
                found: 'X'
            }
        );
        assert_eq!(err.code(), "gtin_not_digits");
        assert_eq!(
            err.to_string(),
            "GTIN must be digits only, but character 13 is 'X'"
        );
        // No trimming.
        assert_eq!(
            Gtin::parse(" 9506000134352").unwrap_err().code(),
            "gtin_not_digits"
        );
        // Full-width digits are not ASCII digits.
        assert_eq!(
            Gtin::parse("９５０６０００１３４３５２").unwrap_err(),
            GtinError::NotDigits {
                position: 1,
                found: '９'
            }
        );
        assert_eq!(
            Gtin::parse("9506000134\u{1d}52").unwrap_err().to_string(),
            "GTIN must be digits only, but character 11 is '\\u{1d}'"
        );
    }

    #[test]
    fn rejects_bad_check_digit() {
        let err = Gtin::parse("9506000134353").unwrap_err();
        assert_eq!(
            err,
            GtinError::BadCheckDigit {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(err.code(), "gtin_bad_check_digit");
        assert_eq!(err.to_string(), "GTIN check digit is 3 but should be 2");
        assert_eq!(
            Gtin::parse("40063813339303").unwrap_err().to_string(),
            "GTIN check digit is 3 but should be 7"
        );
    }

    #[test]
    fn company_prefix() {
        let g = Gtin::parse("9506000134352").unwrap();
        assert!(g.has_company_prefix("950600"));
        assert!(g.has_company_prefix("9506000134352"));
        assert!(!g.has_company_prefix("0950600"), "indicator is skipped");
        assert!(!g.has_company_prefix("690"));
        assert!(!g.has_company_prefix(""));
        assert!(!g.has_company_prefix("95060001343520"));

        let upc = Gtin::parse("614141000036").unwrap();
        assert!(upc.has_company_prefix("0614141"));

        let case = Gtin::parse("10614141000002").unwrap();
        assert!(case.has_company_prefix("0614141"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Gtin::parse(&s);
        }

        #[test]
        fn valid_gtins_round_trip(len in prop::sample::select(vec![8usize, 12, 13, 14]),
                                  body in prop::collection::vec(0u8..=9, 13)) {
            let body = &body[..len - 1];
            let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
            s.push(char::from(b'0' + check_digit(body)));
            let g = Gtin::parse(&s).unwrap();
            prop_assert_eq!(g.original(), s.clone());
            prop_assert_eq!(g.original_len(), len);
            prop_assert_eq!(g.as_gtin14().len(), 14);
            prop_assert!(g.as_gtin14().ends_with(&s));
            // The padded form is itself a valid GTIN-14.
            prop_assert!(Gtin::parse(g.as_gtin14()).is_ok());
        }

        #[test]
        fn any_single_digit_error_is_detected(body in prop::collection::vec(0u8..=9, 12),
                                              pos in 0usize..13, delta in 1u8..=9) {
            let mut digits = body.clone();
            digits.push(check_digit(&body));
            digits[pos] = (digits[pos] + delta) % 10;
            let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(Gtin::parse(&s).unwrap_err().code(), "gtin_bad_check_digit");
        }
    }
}
