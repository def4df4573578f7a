//! GS1 data as scanned from a pack: element strings, AIM symbology
//! identifiers and GS1 Digital Link URIs.
//!
//! **Application Identifiers.** GS1 barcodes (GS1 DataMatrix, GS1 QR Code,
//! GS1-128, GS1 DataBar) do not carry one number but a list of fields. Each
//! field is an *Application Identifier* (AI) — a 2- to 4-digit prefix saying
//! what follows — and its value: `01` GTIN (14 digits), `17` expiry date
//! (YYMMDD), `10` batch/lot (up to 20 characters), `21` serial number (up to
//! 20 characters) and some 500 more. Together they form an *element string*:
//! `0109506000134352` `17261231` `10ABC123` `21XYZ`. No AI is a prefix of
//! another, so the AI can be recognised by reading 2, 3, then 4 digits.
//! Values are digits or the "GS1 AI encodable character set 82" (letters,
//! digits and `!"%&'()*+,-./:;<=>?_`).
//!
//! **FNC1 and GS.** Some AIs have a *predefined length* (00, 01, 02, 03, 11–20,
//! 31–36, 41: e.g. 01 is always 14 digits), so the reader knows where the next
//! AI starts. After a variable-length field (like 10 or 21) the encoder puts the
//! special FNC1 character, which a scanner transmits as the ASCII control
//! character GS (group separator, 29, `\x1d`). A leading FNC1 marks the symbol
//! as GS1 data in the first place; a trailing one is never needed. Keyboard
//! wedges and humans often cannot produce GS, so the literal texts `<GS>` and
//! `\x1d` are accepted here too.
//!
//! **AIM symbology identifiers.** A scanner can be configured to prefix each
//! scan with `]` + a code letter + a modifier telling which barcode was read:
//! `]d2` GS1 DataMatrix, `]Q3` GS1 QR Code, `]C1` GS1-128, `]e0` GS1 DataBar —
//! all four carry element strings — or `]E0` EAN-13/UPC-A and `]E4` EAN-8,
//! which carry a plain GTIN.
//!
//! **Human-readable form.** Under the barcode the same data is printed with
//! the AIs in brackets: `(01)09506000134352(17)261231(10)ABC123(21)XYZ`.
//! Brackets replace the GS separators; a literal `(` inside a value may be
//! written `\(`.
//!
//! **GS1 Digital Link.** The same data as a web address, so that an ordinary
//! phone camera opens a page: `https://example.com/01/09506000134352/10/ABC123/21/XYZ?17=261231`.
//! The path holds a *primary key* (01 GTIN here; also 00, 253, 255, 401, 402,
//! 414, 415, 417, 8003, 8004, 8006, 8010, 8013, 8017, 8018), then its
//! *qualifiers* in a fixed order (for 01: 22, 10, 21 — or 235); other AIs
//! ("data attributes", such as 17) go in the query string. Any host name and
//! any leading path may be used. Values are percent-encoded; non-numeric query
//! parameters such as `linktype` are not GS1 data and are ignored.
//!
//! [`parse`] accepts all three syntaxes and validates every field against the
//! AI table (length, character set, check digit, date), reporting errors with
//! a stable machine code ([`Gs1Error::code`]) and the 1-based character
//! position in the input as given.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use nom::branch::alt;
use nom::bytes::{tag, tag_no_case, take_till, take_while1, take_while_m_n};
use nom::character::{anychar, char, satisfy};
use nom::combinator::{not, recognize, value};
use nom::multi::{many0_count, many_m_n};
use nom::sequence::{delimited, preceded};
use nom::Parser;

use super::gtin;

/// The ASCII group separator (GS, decimal 29) that scanners transmit for FNC1.
pub const GS: char = '\u{1d}';

// ---------------------------------------------------------------------------
// AIM symbology identifiers
// ---------------------------------------------------------------------------

/// The barcode type named by an AIM symbology identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbology {
    /// `]d2` — GS1 DataMatrix (Data Matrix with FNC1 in first position).
    Gs1DataMatrix,
    /// `]Q3` — GS1 QR Code.
    Gs1Qr,
    /// `]C1` — GS1-128 (Code 128 with FNC1 in first position).
    Gs1_128,
    /// `]e0` — GS1 DataBar.
    Gs1DataBar,
    /// `]E0` — EAN-13, UPC-A or UPC-E.
    Ean13,
    /// `]E4` — EAN-8.
    Ean8,
    /// Any other identifier, e.g. `]d1` (plain Data Matrix), `]Q1` (plain QR,
    /// which is how Digital Link QR codes arrive), `]A0` (Code 39).
    Other,
}

/// An AIM symbology identifier split off the front of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbologyId {
    /// The identifier as transmitted, e.g. `"]d2"`.
    pub id: String,
    /// What it names.
    pub kind: Symbology,
}

impl SymbologyId {
    fn new(code: char, modifier: char) -> SymbologyId {
        let kind = match (code, modifier) {
            ('d', '2') => Symbology::Gs1DataMatrix,
            ('Q', '3') => Symbology::Gs1Qr,
            ('C', '1') => Symbology::Gs1_128,
            ('e', '0') => Symbology::Gs1DataBar,
            ('E', '0') => Symbology::Ean13,
            ('E', '4') => Symbology::Ean8,
            _ => Symbology::Other,
        };
        SymbologyId {
            id: format!("]{code}{modifier}"),
            kind,
        }
    }

    /// Whether this symbology carries a GS1 element string (`]d2`, `]Q3`,
    /// `]C1`, `]e0`).
    pub fn carries_gs1_element_string(&self) -> bool {
        matches!(
            self.kind,
            Symbology::Gs1DataMatrix
                | Symbology::Gs1Qr
                | Symbology::Gs1_128
                | Symbology::Gs1DataBar
        )
    }
}

type IRes<'a, O> = nom::IResult<&'a str, O, nom::error::Error<&'a str>>;

fn aim_id(i: &str) -> IRes<'_, (char, char)> {
    preceded(
        char(']'),
        (
            satisfy(|c: char| c.is_ascii_alphabetic()),
            satisfy(|c: char| c.is_ascii_alphanumeric()),
        ),
    )
    .parse_complete(i)
}

/// Splits a leading AIM symbology identifier (`]` + one letter + one digit or
/// letter) off a scan. Returns `(None, input)` when there is none.
pub fn split_symbology(input: &str) -> (Option<SymbologyId>, &str) {
    match aim_id(input) {
        Ok((rest, (code, modifier))) => (Some(SymbologyId::new(code, modifier)), rest),
        Err(_) => (None, input),
    }
}

// ---------------------------------------------------------------------------
// Parsed data
// ---------------------------------------------------------------------------

/// Which of the three GS1 syntaxes the data arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gs1Syntax {
    /// Raw element string, fields separated by GS where needed.
    ElementString,
    /// Human-readable form with bracketed AIs: `(01)…(21)…`.
    Bracketed,
    /// GS1 Digital Link URI.
    DigitalLink,
}

/// GS1 data parsed and validated by [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gs1Data {
    /// The AIM symbology identifier the scan started with, if any.
    pub symbology: Option<SymbologyId>,
    /// The syntax the data was written in.
    pub syntax: Gs1Syntax,
    /// `(AI, value)` pairs in scan order (for Digital Link: path, then query).
    /// Each AI occurs at most once; a GTIN in a Digital Link path is given in
    /// its 14-digit form.
    pub ais: Vec<(String, String)>,
}

impl Gs1Data {
    /// The value of `ai`, if present.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.ais
            .iter()
            .find(|(a, _)| a == ai)
            .map(|(_, v)| v.as_str())
    }

    /// The GTIN, AI (01), in its 14-digit form.
    pub fn gtin(&self) -> Option<&str> {
        self.get("01")
    }

    /// The serial number, AI (21).
    pub fn serial(&self) -> Option<&str> {
        self.get("21")
    }

    /// The batch or lot number, AI (10).
    pub fn lot(&self) -> Option<&str> {
        self.get("10")
    }

    /// The expiry date, AI (17), with the century chosen relative to the
    /// current year.
    pub fn expiry(&self) -> Option<Gs1Date> {
        self.date("17", current_year())
    }

    /// The production date, AI (11), with the century chosen relative to the
    /// current year.
    pub fn production_date(&self) -> Option<Gs1Date> {
        self.date("11", current_year())
    }

    /// The YYMMDD date held in `ai` (11, 12, 13, 15, 16, 17, 7006 …), with the
    /// century chosen relative to `reference_year`. `None` if absent or not a
    /// YYMMDD value.
    pub fn date(&self, ai: &str, reference_year: i32) -> Option<Gs1Date> {
        let v = self.get(ai)?;
        Gs1Date::parse_yymmdd(v.get(..6)?, reference_year).ok()
    }

    /// The data as a raw element string (no symbology identifier, no leading
    /// FNC1), with GS after every field that is not of predefined length
    /// except the last.
    pub fn to_element_string(&self) -> String {
        let mut out = String::new();
        let last = self.ais.len().saturating_sub(1);
        for (i, (ai, v)) in self.ais.iter().enumerate() {
            out.push_str(ai);
            out.push_str(v);
            let predefined = lookup(ai).is_some_and(|d| d.predefined);
            if i != last && !predefined {
                out.push(GS);
            }
        }
        out
    }

    /// The data in the human-readable bracketed form, `(01)…(10)…`, with any
    /// `(` inside a value written as `\(`.
    pub fn to_bracketed(&self) -> String {
        let mut out = String::new();
        for (ai, v) in &self.ais {
            out.push('(');
            out.push_str(ai);
            out.push(')');
            out.push_str(&v.replace('(', "\\("));
        }
        out
    }
}

fn current_year() -> i32 {
    chrono::Utc::now().year()
}

/// A GS1 date (YYMMDD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gs1Date {
    /// Four-digit year, after applying the GS1 century rule.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, 1–31, or 0 meaning "the last day of the month" (which
    /// GS1 allows for expiry, best-before and similar dates).
    pub day: u32,
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn month_name(month: u32) -> &'static str {
    month
        .checked_sub(1)
        .and_then(|i| MONTH_NAMES.get(i as usize))
        .copied()
        .unwrap_or("?")
}

/// Parses `digits` (ASCII digits only, already checked) as a number.
fn num(digits: &str) -> u32 {
    digits.bytes().fold(0u32, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(b.wrapping_sub(b'0')))
    })
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Chooses the century for a two-digit year per the GS1 General
/// Specifications (section 7.12): with `d = YY − (reference year mod 100)`,
/// a `d` of 51…99 means the previous century, −99…−50 the next century,
/// anything else the reference year's century. The window is therefore
/// `reference_year − 49 ..= reference_year + 50`.
fn century_year(yy: i32, reference_year: i32) -> i32 {
    let cur = reference_year.rem_euclid(100);
    let century = reference_year.saturating_sub(cur);
    let diff = yy - cur;
    let century = if diff >= 51 {
        century.saturating_sub(100)
    } else if diff <= -50 {
        century.saturating_add(100)
    } else {
        century
    };
    century.saturating_add(yy)
}

fn parse_date6(s: &str, reference_year: i32) -> Result<Gs1Date, String> {
    if s.len() != 6 || !all_digits(s) {
        return Err("a date must be exactly 6 digits YYMMDD".to_string());
    }
    let (yy, mm, dd) = match (s.get(0..2), s.get(2..4), s.get(4..6)) {
        (Some(y), Some(m), Some(d)) => (num(y), num(m), num(d)),
        _ => return Err("a date must be exactly 6 digits YYMMDD".to_string()),
    };
    let year = century_year(yy as i32, reference_year);
    check_month_day(year, mm, dd)?;
    Ok(Gs1Date {
        year,
        month: mm,
        day: dd,
    })
}

fn check_month_day(year: i32, month: u32, day: u32) -> Result<(), String> {
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not 01-12"));
    }
    if day > 31 {
        return Err(format!("day {day:02} is not 00-31"));
    }
    if day > days_in_month(year, month) {
        return Err(format!(
            "day {day:02} does not exist in {} {year}",
            month_name(month)
        ));
    }
    Ok(())
}

impl Gs1Date {
    /// Parses a GS1 YYMMDD date. The century is chosen by the GS1 General
    /// Specifications rule, a sliding window from `reference_year − 49` to
    /// `reference_year + 50` (pass the current year). Month must be 01–12;
    /// day 00–31 and valid for that month (00 means end of month).
    pub fn parse_yymmdd(s: &str, reference_year: i32) -> Result<Gs1Date, Gs1Error> {
        parse_date6(s, reference_year).map_err(|reason| Gs1Error::BadDate {
            ai: None,
            name: "",
            position: None,
            value: s.to_string(),
            reason,
        })
    }

    /// The calendar date; day 0 becomes the last day of the month. Fields
    /// outside their ranges (only possible for hand-built values) are clamped
    /// rather than causing a panic.
    pub fn to_naive(&self) -> NaiveDate {
        let year = self
            .year
            .clamp(NaiveDate::MIN.year() + 1, NaiveDate::MAX.year() - 1);
        let month = self.month.clamp(1, 12);
        let last = days_in_month(year, month);
        let day = if self.day == 0 || self.day > last {
            last
        } else {
            self.day
        };
        NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why some text is not valid GS1 data.
///
/// Positions are 1-based character positions in the text given to [`parse`]
/// (including any symbology identifier). Field-level errors point at the
/// start of the element (the AI digits, the `(` of a bracketed AI, or the path
/// segment / query parameter of a Digital Link); character and check-digit
/// errors point at the offending character where that can be located exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    /// Nothing to parse (empty, only whitespace, a symbology id or separators).
    #[error("no GS1 data: the input is empty")]
    Empty,
    /// The digits at `position` are not an application identifier.
    #[error("unknown application identifier at position {position}: '{}'", .found.escape_debug())]
    UnknownAi {
        /// Where the supposed AI starts.
        position: usize,
        /// The text found there (up to 4 characters).
        found: String,
    },
    /// A field is shorter than its AI allows.
    #[error("AI ({ai}) {name} at position {position} is too short: {len} characters where {min} are needed")]
    FieldTooShort {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// Where the element starts.
        position: usize,
        /// Characters found.
        len: usize,
        /// Characters needed.
        min: usize,
    },
    /// A field is longer than its AI allows.
    #[error("AI ({ai}) {name} at position {position} is too long: {len} characters where at most {max} are allowed{}", sep_hint(.missing_separator))]
    FieldTooLong {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// Where the element starts.
        position: usize,
        /// Characters found.
        len: usize,
        /// Characters allowed.
        max: usize,
        /// In an element string, an over-long variable field usually means a
        /// GS separator was lost (e.g. by a keyboard-wedge scanner).
        missing_separator: bool,
    },
    /// A character outside the AI's character set.
    #[error("AI ({ai}) {name}: character '{}' at position {position} is not allowed ({charset} only)", .found.escape_debug())]
    BadCharacter {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// Where the character is.
        position: usize,
        /// The character.
        found: char,
        /// The character set the AI allows.
        charset: &'static str,
    },
    /// A mod-10 check digit (GTIN, SSCC, GLN, GSRN …) is wrong.
    #[error(
        "AI ({ai}) {name} at position {position}: check digit is {found} but should be {expected}"
    )]
    BadCheckDigit {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// Where the check digit is.
        position: usize,
        /// The check digit computed from the other digits.
        expected: u8,
        /// The check digit presented.
        found: u8,
    },
    /// An invalid date or time (month 13, 31 April, hour 25 …).
    #[error("{}'{value}': {reason}", date_context(.ai, .name))]
    BadDate {
        /// The AI, when the date was part of GS1 data.
        ai: Option<String>,
        /// Plain-English name of the AI (empty without an AI).
        name: &'static str,
        /// Where the element starts, when known.
        position: Option<usize>,
        /// The whole field value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A value that breaks some other rule of its AI (e.g. piece number larger
    /// than total for AI 8006).
    #[error("AI ({ai}) {name} at position {position}: {reason}")]
    InvalidValue {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// Where the element starts.
        position: usize,
        /// What is wrong.
        reason: String,
    },
    /// The same AI twice with different values.
    #[error("AI ({ai}) {name} appears twice with different values: '{first}' and '{second}'")]
    DuplicateAi {
        /// The AI.
        ai: String,
        /// Plain-English name of the AI.
        name: &'static str,
        /// The first value.
        first: String,
        /// The conflicting second value.
        second: String,
    },
    /// A malformed GS1 Digital Link URI.
    #[error("not a valid GS1 Digital Link URI: {reason}")]
    BadUri {
        /// What is wrong.
        reason: String,
    },
    /// The scan's symbology identifier names a barcode that cannot carry GS1
    /// data (`]E0` EAN-13/UPC, `]E4` EAN-8: those carry a plain GTIN).
    #[error("symbology {id} carries a plain GTIN, not GS1 application identifier data")]
    WrongSymbology {
        /// The symbology identifier, e.g. `"]E0"`.
        id: String,
    },
    /// A Digital Link URI whose path names no primary key such as `/01/`.
    #[error(
        "GS1 Digital Link URI has no primary key (such as /01/ followed by a GTIN) in its path"
    )]
    MissingPrimaryKey,
}

fn sep_hint(missing_separator: &bool) -> &'static str {
    if *missing_separator {
        " (is a GS separator missing?)"
    } else {
        ""
    }
}

fn date_context(ai: &Option<String>, name: &str) -> String {
    match ai {
        Some(ai) if name.is_empty() => format!("AI ({ai}) "),
        Some(ai) => format!("AI ({ai}) {name} "),
        None => "date ".to_string(),
    }
}

impl Gs1Error {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Gs1Error::Empty => "gs1_empty",
            Gs1Error::UnknownAi { .. } => "gs1_unknown_ai",
            Gs1Error::FieldTooShort { .. } => "gs1_field_too_short",
            Gs1Error::FieldTooLong { .. } => "gs1_field_too_long",
            Gs1Error::BadCharacter { .. } => "gs1_bad_character",
            Gs1Error::BadCheckDigit { .. } => "gs1_bad_check_digit",
            Gs1Error::BadDate { .. } => "gs1_bad_date",
            Gs1Error::InvalidValue { .. } => "gs1_invalid_value",
            Gs1Error::DuplicateAi { .. } => "gs1_duplicate_ai",
            Gs1Error::BadUri { .. } => "gs1_bad_uri",
            Gs1Error::WrongSymbology { .. } => "gs1_wrong_symbology",
            Gs1Error::MissingPrimaryKey => "gs1_missing_primary_key",
        }
    }
}

// ---------------------------------------------------------------------------
// The AI table
// ---------------------------------------------------------------------------

/// The punctuation of GS1 AI encodable character set 82.
const CSET82_SYMBOLS: &str = "!\"%&'()*+,-./:;<=>?_";

/// Character sets of AI values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cset {
    /// Digits 0–9 ("N" in the GS1 General Specifications).
    Numeric,
    /// GS1 AI encodable character set 82 ("X").
    Cset82,
    /// GS1 AI encodable character set 39 ("Y"): `#`, `-`, `/`, 0–9, A–Z.
    Cset39,
    /// File-safe base64 / base64url, set 64 ("Z"), `=` padding allowed.
    Cset64,
}

impl Cset {
    fn allows(self, c: char) -> bool {
        match self {
            Cset::Numeric => c.is_ascii_digit(),
            Cset::Cset82 => c.is_ascii_alphanumeric() || CSET82_SYMBOLS.contains(c),
            Cset::Cset39 => {
                c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, '#' | '-' | '/')
            }
            Cset::Cset64 => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Cset::Numeric => "digits",
            Cset::Cset82 => "GS1 character set 82",
            Cset::Cset39 => "GS1 character set 39",
            Cset::Cset64 => "base64url characters",
        }
    }
}

/// Content checks applied to a component (the GS1 Barcode Syntax Tests that
/// matter in practice; country/currency code lists, IBAN and the GMN check
/// pair are not checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lint {
    None,
    /// Last digit is the mod-10 check digit of the others.
    Csum,
    /// YYMMDD, day 00 allowed.
    YyMmD0,
    /// YYMMDD, day 00 not allowed.
    YyMmDd,
    /// YYYYMMDD.
    YyyyMmDd,
    /// HH 00–23.
    Hh,
    /// MM 00–59.
    Mi,
    /// SS 00–59.
    Ss,
    /// HHMM.
    HhMi,
    /// Exactly "0".
    Zero,
    /// "0" or "1".
    YesNo,
    /// Exactly "-".
    Hyphen,
    /// PPTT with 1 ≤ PP ≤ TT.
    PieceOfTotal,
    /// Not all zeros.
    NonZero,
    /// Winding direction 0, 1 or 9.
    Winding,
    /// No leading zero unless the value is "0".
    NoZeroPrefix,
}

/// One component of an AI's value format, e.g. `N6` or `X..20`.
#[derive(Clone, Copy, Debug)]
struct Comp {
    cset: Cset,
    min: u8,
    max: u8,
    optional: bool,
    lint: Lint,
}

impl Comp {
    const fn lint(self, lint: Lint) -> Comp {
        Comp { lint, ..self }
    }
    const fn opt(self) -> Comp {
        Comp {
            optional: true,
            ..self
        }
    }
}

const fn fixed(cset: Cset, len: u8) -> Comp {
    Comp {
        cset,
        min: len,
        max: len,
        optional: false,
        lint: Lint::None,
    }
}

const fn var(cset: Cset, max: u8) -> Comp {
    Comp {
        cset,
        min: 1,
        max,
        optional: false,
        lint: Lint::None,
    }
}

/// `N<len>`
const fn n(len: u8) -> Comp {
    fixed(Cset::Numeric, len)
}
/// `N..<max>`
const fn nv(max: u8) -> Comp {
    var(Cset::Numeric, max)
}
/// `X<len>`
const fn x(len: u8) -> Comp {
    fixed(Cset::Cset82, len)
}
/// `X..<max>`
const fn xv(max: u8) -> Comp {
    var(Cset::Cset82, max)
}

/// An entry of the AI table.
#[derive(Clone, Copy, Debug)]
struct AiDef {
    /// The AI, or for a family (`310n`) the digits before the last one.
    code: &'static str,
    /// For a family: the inclusive range of the last digit.
    last: Option<(u8, u8)>,
    /// Predefined length: no GS needed after it in an element string.
    predefined: bool,
    /// Permitted as a Digital Link data attribute (query string).
    dl_attr: bool,
    /// Value format.
    spec: &'static [Comp],
    /// The GS1 data title.
    title: &'static str,
    /// Plain-English name used in messages.
    name: &'static str,
}

impl AiDef {
    /// Predefined-length ("fixed") AI.
    const fn pre(self) -> AiDef {
        AiDef {
            predefined: true,
            ..self
        }
    }
    /// Allowed as a Digital Link query attribute.
    const fn attr(self) -> AiDef {
        AiDef {
            dl_attr: true,
            ..self
        }
    }
    /// A family of AIs `code` + one digit in `lo..=hi`.
    const fn family(self, lo: u8, hi: u8) -> AiDef {
        AiDef {
            last: Some((lo, hi)),
            ..self
        }
    }

    fn matches(&self, ai: &str) -> bool {
        match self.last {
            None => self.code == ai,
            Some((lo, hi)) => {
                ai.len() == self.code.len() + 1
                    && ai.starts_with(self.code)
                    && ai
                        .as_bytes()
                        .last()
                        .is_some_and(|&b| b.is_ascii_digit() && (lo..=hi).contains(&(b - b'0')))
            }
        }
    }

    /// Minimum and maximum total value length.
    fn len_range(&self) -> (usize, usize) {
        let min = self
            .spec
            .iter()
            .filter(|c| !c.optional)
            .map(|c| usize::from(c.min))
            .sum();
        let max = self.spec.iter().map(|c| usize::from(c.max)).sum();
        (min, max)
    }
}

const fn ai(
    code: &'static str,
    spec: &'static [Comp],
    title: &'static str,
    name: &'static str,
) -> AiDef {
    AiDef {
        code,
        last: None,
        predefined: false,
        dl_attr: false,
        spec,
        title,
        name,
    }
}

use Lint::{
    Csum, Hh, HhMi, Hyphen, Mi, NoZeroPrefix, NonZero, PieceOfTotal, Ss, Winding, YesNo, YyMmD0,
    YyMmDd, YyyyMmDd, Zero,
};

const N13_CSUM: &[Comp] = &[n(13).lint(Csum)];
const N14_CSUM: &[Comp] = &[n(14).lint(Csum)];
const N18_CSUM: &[Comp] = &[n(18).lint(Csum)];
const DATE_D0: &[Comp] = &[n(6).lint(YyMmD0)];
const DATE: &[Comp] = &[n(6).lint(YyMmDd)];
const DATE_HHMI: &[Comp] = &[n(6).lint(YyMmDd), n(4).lint(HhMi)];
const DATE_D0_HHMI: &[Comp] = &[n(6).lint(YyMmD0), n(4).lint(HhMi)];
const N6: &[Comp] = &[n(6)];
const N3: &[Comp] = &[n(3)];
const N3_LIST: &[Comp] = &[n(3), n(3).opt(), n(3).opt(), n(3).opt(), n(3).opt()];
const N3_X27: &[Comp] = &[n(3), xv(27)];
const N3_N15: &[Comp] = &[n(3), nv(15)];
const X2_X28: &[Comp] = &[x(2), xv(28)];
const N1_YESNO: &[Comp] = &[n(1).lint(YesNo)];
const TEMP: &[Comp] = &[n(6), x(1).lint(Hyphen).opt()];
const PIECE: &[Comp] = &[n(14).lint(Csum), n(4).lint(PieceOfTotal)];
const NV4: &[Comp] = &[nv(4)];
const NV8: &[Comp] = &[nv(8)];
const NV15: &[Comp] = &[nv(15)];
const X2: &[Comp] = &[x(2)];
const XV2: &[Comp] = &[xv(2)];
const XV3: &[Comp] = &[xv(3)];
const XV10: &[Comp] = &[xv(10)];
const XV12: &[Comp] = &[xv(12)];
const XV20: &[Comp] = &[xv(20)];
const XV25: &[Comp] = &[xv(25)];
const XV28: &[Comp] = &[xv(28)];
const XV30: &[Comp] = &[xv(30)];
const XV34: &[Comp] = &[xv(34)];
const XV35: &[Comp] = &[xv(35)];
const XV40: &[Comp] = &[xv(40)];
const XV50: &[Comp] = &[xv(50)];
const XV70: &[Comp] = &[xv(70)];
const XV90: &[Comp] = &[xv(90)];

/// The GS1 Application Identifiers, after the GS1 General Specifications and
/// the GS1 Barcode Syntax Dictionary.
#[rustfmt::skip]
static AI_TABLE: &[AiDef] = &[
    ai("00", N18_CSUM, "SSCC", "serial shipping container code").pre().attr(),
    ai("01", N14_CSUM, "GTIN", "GTIN").pre().attr(),
    ai("02", N14_CSUM, "CONTENT", "GTIN of contained trade items").pre().attr(),
    ai("03", N14_CSUM, "MTO GTIN", "made-to-order GTIN").pre(),
    ai("10", XV20, "BATCH/LOT", "batch/lot number").attr(),
    ai("11", DATE_D0, "PROD DATE", "production date").pre().attr(),
    ai("12", DATE_D0, "DUE DATE", "due date").pre().attr(),
    ai("13", DATE_D0, "PACK DATE", "packaging date").pre().attr(),
    ai("15", DATE_D0, "BEST BEFORE or BEST BY", "best before date").pre().attr(),
    ai("16", DATE_D0, "SELL BY", "sell by date").pre().attr(),
    ai("17", DATE_D0, "USE BY or EXPIRY", "expiry date").pre().attr(),
    ai("20", &[n(2)], "VARIANT", "internal product variant").pre().attr(),
    ai("21", XV20, "SERIAL", "serial number"),
    ai("22", XV20, "CPV", "consumer product variant"),
    ai("235", XV28, "TPX", "third-party controlled serialised extension of GTIN"),
    ai("240", XV30, "ADDITIONAL ID", "additional product identification").attr(),
    ai("241", XV30, "CUST. PART No.", "customer part number").attr(),
    ai("242", &[nv(6)], "MTO VARIANT", "made-to-order variation number").attr(),
    ai("243", XV20, "PCN", "packaging component number").attr(),
    ai("250", XV30, "SECONDARY SERIAL", "secondary serial number").attr(),
    ai("251", XV30, "REF. TO SOURCE", "reference to source entity").attr(),
    ai("253", &[n(13).lint(Csum), xv(17).opt()], "GDTI", "global document type identifier").attr(),
    ai("254", XV20, "GLN EXTENSION COMPONENT", "GLN extension component"),
    ai("255", &[n(13).lint(Csum), nv(12).opt()], "GCN", "global coupon number").attr(),
    ai("30", NV8, "VAR. COUNT", "variable count of items").attr(),
    // Trade measures, n = number of decimal places.
    ai("310", N6, "NET WEIGHT (kg)", "net weight (kg)").family(0, 5).pre().attr(),
    ai("311", N6, "LENGTH (m)", "length (m)").family(0, 5).pre().attr(),
    ai("312", N6, "WIDTH (m)", "width (m)").family(0, 5).pre().attr(),
    ai("313", N6, "HEIGHT (m)", "height (m)").family(0, 5).pre().attr(),
    ai("314", N6, "AREA (m²)", "area (m²)").family(0, 5).pre().attr(),
    ai("315", N6, "NET VOLUME (l)", "net volume (l)").family(0, 5).pre().attr(),
    ai("316", N6, "NET VOLUME (m³)", "net volume (m³)").family(0, 5).pre().attr(),
    ai("320", N6, "NET WEIGHT (lb)", "net weight (lb)").family(0, 5).pre().attr(),
    ai("321", N6, "LENGTH (in)", "length (in)").family(0, 5).pre().attr(),
    ai("322", N6, "LENGTH (ft)", "length (ft)").family(0, 5).pre().attr(),
    ai("323", N6, "LENGTH (yd)", "length (yd)").family(0, 5).pre().attr(),
    ai("324", N6, "WIDTH (in)", "width (in)").family(0, 5).pre().attr(),
    ai("325", N6, "WIDTH (ft)", "width (ft)").family(0, 5).pre().attr(),
    ai("326", N6, "WIDTH (yd)", "width (yd)").family(0, 5).pre().attr(),
    ai("327", N6, "HEIGHT (in)", "height (in)").family(0, 5).pre().attr(),
    ai("328", N6, "HEIGHT (ft)", "height (ft)").family(0, 5).pre().attr(),
    ai("329", N6, "HEIGHT (yd)", "height (yd)").family(0, 5).pre().attr(),
    // Logistic measures.
    ai("330", N6, "GROSS WEIGHT (kg)", "logistic gross weight (kg)").family(0, 5).pre().attr(),
    ai("331", N6, "LENGTH (m), log", "logistic length (m)").family(0, 5).pre().attr(),
    ai("332", N6, "WIDTH (m), log", "logistic width (m)").family(0, 5).pre().attr(),
    ai("333", N6, "HEIGHT (m), log", "logistic height (m)").family(0, 5).pre().attr(),
    ai("334", N6, "AREA (m²), log", "logistic area (m²)").family(0, 5).pre().attr(),
    ai("335", N6, "VOLUME (l), log", "logistic volume (l)").family(0, 5).pre().attr(),
    ai("336", N6, "VOLUME (m³), log", "logistic volume (m³)").family(0, 5).pre().attr(),
    ai("337", N6, "KG PER m²", "kilograms per square metre").family(0, 5).pre().attr(),
    ai("340", N6, "GROSS WEIGHT (lb)", "logistic gross weight (lb)").family(0, 5).pre().attr(),
    ai("341", N6, "LENGTH (in), log", "logistic length (in)").family(0, 5).pre().attr(),
    ai("342", N6, "LENGTH (ft), log", "logistic length (ft)").family(0, 5).pre().attr(),
    ai("343", N6, "LENGTH (yd), log", "logistic length (yd)").family(0, 5).pre().attr(),
    ai("344", N6, "WIDTH (in), log", "logistic width (in)").family(0, 5).pre().attr(),
    ai("345", N6, "WIDTH (ft), log", "logistic width (ft)").family(0, 5).pre().attr(),
    ai("346", N6, "WIDTH (yd), log", "logistic width (yd)").family(0, 5).pre().attr(),
    ai("347", N6, "HEIGHT (in), log", "logistic height (in)").family(0, 5).pre().attr(),
    ai("348", N6, "HEIGHT (ft), log", "logistic height (ft)").family(0, 5).pre().attr(),
    ai("349", N6, "HEIGHT (yd), log", "logistic height (yd)").family(0, 5).pre().attr(),
    ai("350", N6, "AREA (in²)", "area (in²)").family(0, 5).pre().attr(),
    ai("351", N6, "AREA (ft²)", "area (ft²)").family(0, 5).pre().attr(),
    ai("352", N6, "AREA (yd²)", "area (yd²)").family(0, 5).pre().attr(),
    ai("353", N6, "AREA (in²), log", "logistic area (in²)").family(0, 5).pre().attr(),
    ai("354", N6, "AREA (ft²), log", "logistic area (ft²)").family(0, 5).pre().attr(),
    ai("355", N6, "AREA (yd²), log", "logistic area (yd²)").family(0, 5).pre().attr(),
    ai("356", N6, "NET WEIGHT (t oz)", "net weight (troy oz)").family(0, 5).pre().attr(),
    ai("357", N6, "NET VOLUME (oz)", "net volume (oz)").family(0, 5).pre().attr(),
    ai("360", N6, "NET VOLUME (qt)", "net volume (qt)").family(0, 5).pre().attr(),
    ai("361", N6, "NET VOLUME (gal.)", "net volume (US gal)").family(0, 5).pre().attr(),
    ai("362", N6, "VOLUME (qt), log", "logistic volume (qt)").family(0, 5).pre().attr(),
    ai("363", N6, "VOLUME (gal.), log", "logistic volume (US gal)").family(0, 5).pre().attr(),
    ai("364", N6, "VOLUME (in³)", "net volume (in³)").family(0, 5).pre().attr(),
    ai("365", N6, "VOLUME (ft³)", "net volume (ft³)").family(0, 5).pre().attr(),
    ai("366", N6, "VOLUME (yd³)", "net volume (yd³)").family(0, 5).pre().attr(),
    ai("367", N6, "VOLUME (in³), log", "logistic volume (in³)").family(0, 5).pre().attr(),
    ai("368", N6, "VOLUME (ft³), log", "logistic volume (ft³)").family(0, 5).pre().attr(),
    ai("369", N6, "VOLUME (yd³), log", "logistic volume (yd³)").family(0, 5).pre().attr(),
    ai("37", NV8, "COUNT", "count of trade items").attr(),
    ai("390", NV15, "AMOUNT", "amount payable (local currency)").family(0, 9).attr(),
    ai("391", N3_N15, "AMOUNT", "amount payable with ISO currency code").family(0, 9).attr(),
    ai("392", NV15, "PRICE", "amount payable for a variable measure item").family(0, 9).attr(),
    ai("393", N3_N15, "PRICE", "amount payable for a variable measure item with ISO currency code").family(0, 9).attr(),
    ai("394", &[n(4)], "PRCNT OFF", "percentage discount of a coupon").family(0, 3).attr(),
    ai("395", N6, "PRICE/UoM", "amount payable per unit of measure").family(0, 5).attr(),
    ai("400", XV30, "ORDER NUMBER", "customer's purchase order number").attr(),
    ai("401", XV30, "GINC", "global identification number for consignment").attr(),
    ai("402", &[n(17).lint(Csum)], "GSIN", "global shipment identification number").attr(),
    ai("403", XV30, "ROUTE", "routing code").attr(),
    ai("410", N13_CSUM, "SHIP TO LOC", "ship to / deliver to GLN").pre().attr(),
    ai("411", N13_CSUM, "BILL TO", "bill to / invoice to GLN").pre().attr(),
    ai("412", N13_CSUM, "PURCHASE FROM", "purchased from GLN").pre().attr(),
    ai("413", N13_CSUM, "SHIP FOR LOC", "ship for / deliver for / forward to GLN").pre().attr(),
    ai("414", N13_CSUM, "LOC No.", "GLN of a physical location").pre().attr(),
    ai("415", N13_CSUM, "PAY TO", "GLN of the invoicing party").pre().attr(),
    ai("416", N13_CSUM, "PROD/SERV LOC", "GLN of the production or service location").pre().attr(),
    ai("417", N13_CSUM, "PARTY", "party GLN").pre().attr(),
    ai("420", XV20, "SHIP TO POST", "ship-to postal code").attr(),
    ai("421", &[n(3), xv(9)], "SHIP TO POST", "ship-to postal code with ISO country code").attr(),
    ai("422", N3, "ORIGIN", "country of origin").attr(),
    ai("423", N3_LIST, "COUNTRY - INITIAL PROCESS", "countries of initial processing").attr(),
    ai("424", N3, "COUNTRY - PROCESS", "country of processing").attr(),
    ai("425", N3_LIST, "COUNTRY - DISASSEMBLY", "countries of disassembly").attr(),
    ai("426", N3, "COUNTRY - FULL PROCESS", "country covering full process chain").attr(),
    ai("427", XV3, "ORIGIN SUBDIVISION", "country subdivision of origin").attr(),
    ai("4300", XV35, "SHIP TO COMP", "ship-to company name").attr(),
    ai("4301", XV35, "SHIP TO NAME", "ship-to contact").attr(),
    ai("4302", XV70, "SHIP TO ADD1", "ship-to address line 1").attr(),
    ai("4303", XV70, "SHIP TO ADD2", "ship-to address line 2").attr(),
    ai("4304", XV70, "SHIP TO SUB", "ship-to suburb").attr(),
    ai("4305", XV70, "SHIP TO LOC", "ship-to locality").attr(),
    ai("4306", XV70, "SHIP TO REG", "ship-to region").attr(),
    ai("4307", X2, "SHIP TO COUNTRY", "ship-to country code").attr(),
    ai("4308", XV30, "SHIP TO PHONE", "ship-to telephone number").attr(),
    ai("4309", &[n(10), n(10)], "SHIP TO GEO", "ship-to geolocation").attr(),
    ai("4310", XV35, "RTN TO COMP", "return-to company name").attr(),
    ai("4311", XV35, "RTN TO NAME", "return-to contact").attr(),
    ai("4312", XV70, "RTN TO ADD1", "return-to address line 1").attr(),
    ai("4313", XV70, "RTN TO ADD2", "return-to address line 2").attr(),
    ai("4314", XV70, "RTN TO SUB", "return-to suburb").attr(),
    ai("4315", XV70, "RTN TO LOC", "return-to locality").attr(),
    ai("4316", XV70, "RTN TO REG", "return-to region").attr(),
    ai("4317", X2, "RTN TO COUNTRY", "return-to country code").attr(),
    ai("4318", XV20, "RTN TO POST", "return-to postal code").attr(),
    ai("4319", XV30, "RTN TO PHONE", "return-to telephone number").attr(),
    ai("4320", XV35, "SRV DESCRIPTION", "service code description").attr(),
    ai("4321", N1_YESNO, "DANGEROUS GOODS", "dangerous goods flag").attr(),
    ai("4322", N1_YESNO, "AUTH TO LEAVE", "authority to leave flag").attr(),
    ai("4323", N1_YESNO, "SIG REQUIRED", "signature required flag").attr(),
    ai("4324", DATE_D0_HHMI, "NOT BEF DEL DT", "not before delivery date and time").attr(),
    ai("4325", DATE_D0_HHMI, "NOT AFT DEL DT", "not after delivery date and time").attr(),
    ai("4326", DATE, "REL DATE", "release date").attr(),
    ai("4330", TEMP, "MAX TEMP F.", "maximum temperature (°F)").attr(),
    ai("4331", TEMP, "MAX TEMP C.", "maximum temperature (°C)").attr(),
    ai("4332", TEMP, "MIN TEMP F.", "minimum temperature (°F)").attr(),
    ai("4333", TEMP, "MIN TEMP C.", "minimum temperature (°C)").attr(),
    ai("7001", &[n(13)], "NSN", "NATO stock number").attr(),
    ai("7002", XV30, "MEAT CUT", "UNECE meat carcasses and cuts classification").attr(),
    ai("7003", DATE_HHMI, "EXPIRY TIME", "expiration date and time").attr(),
    ai("7004", NV4, "ACTIVE POTENCY", "active potency").attr(),
    ai("7005", XV12, "CATCH AREA", "catch area").attr(),
    ai("7006", DATE, "FIRST FREEZE DATE", "first freeze date").attr(),
    ai("7007", &[n(6).lint(YyMmDd), n(6).lint(YyMmDd).opt()], "HARVEST DATE", "harvest date").attr(),
    ai("7008", XV3, "AQUATIC SPECIES", "species for fishery purposes").attr(),
    ai("7009", XV10, "FISHING GEAR TYPE", "fishing gear type").attr(),
    ai("7010", XV2, "PROD METHOD", "production method").attr(),
    ai("7011", &[n(6).lint(YyMmDd), n(4).lint(HhMi).opt()], "TEST BY DATE", "test by date").attr(),
    ai("7020", XV20, "REFURB LOT", "refurbishment lot ID").attr(),
    ai("7021", XV20, "FUNC STAT", "functional status").attr(),
    ai("7022", XV20, "REV STAT", "revision status").attr(),
    ai("7023", XV30, "GIAI - ASSEMBLY", "GIAI of an assembly").attr(),
    ai("703", N3_X27, "PROCESSOR # s", "approval number of processor with ISO country code").family(0, 9).attr(),
    ai("7040", &[n(1), x(1), x(1), x(1)], "UIC+EXT", "GS1 UIC with extension 1 and importer index"),
    ai("7041", &[xv(4)], "UFRGT UNIT TYPE", "transport process unit type"),
    ai("710", XV20, "NHRN PZN", "national healthcare reimbursement number (Germany PZN)").attr(),
    ai("711", XV20, "NHRN CIP", "national healthcare reimbursement number (France CIP)").attr(),
    ai("712", XV20, "NHRN CN", "national healthcare reimbursement number (Spain CN)").attr(),
    ai("713", XV20, "NHRN DRN", "national healthcare reimbursement number (Brazil DRN)").attr(),
    ai("714", XV20, "NHRN AIM", "national healthcare reimbursement number (Portugal AIM)").attr(),
    ai("715", XV20, "NHRN NDC", "national healthcare reimbursement number (USA NDC)").attr(),
    ai("716", XV20, "NHRN AIC", "national healthcare reimbursement number (Italy AIC)").attr(),
    ai("723", X2_X28, "CERT # s", "certification reference").family(0, 9).attr(),
    ai("7240", XV20, "PROTOCOL", "protocol ID").attr(),
    ai("7241", &[n(2)], "AIDC MEDIA TYPE", "AIDC media type").attr(),
    ai("7242", XV25, "VCN", "version control number").attr(),
    ai("7250", &[n(8).lint(YyyyMmDd)], "DOB", "date of birth").attr(),
    ai("7251", &[n(8).lint(YyyyMmDd), n(4).lint(HhMi)], "DOB TIME", "date and time of birth").attr(),
    ai("7252", &[n(1)], "BIO SEX", "biological sex").attr(),
    ai("7253", XV40, "FAMILY NAME", "family name of person").attr(),
    ai("7254", XV40, "GIVEN NAME", "given name of person").attr(),
    ai("7255", XV10, "SUFFIX", "name suffix of person").attr(),
    ai("7256", XV90, "FULL NAME", "full name of person").attr(),
    ai("7257", XV70, "PERSON ADDR", "address of person").attr(),
    ai("7258", &[x(3)], "BIRTH SEQUENCE", "baby birth sequence indicator").attr(),
    ai("7259", XV40, "BABY", "baby of family name").attr(),
    ai("8001", &[n(4).lint(NonZero), n(5).lint(NonZero), n(3).lint(NonZero), n(1).lint(Winding), n(1)], "DIMENSIONS", "roll product dimensions").attr(),
    ai("8002", XV20, "CMT No.", "cellular mobile telephone identifier").attr(),
    ai("8003", &[n(1).lint(Zero), n(13).lint(Csum), xv(16).opt()], "GRAI", "global returnable asset identifier").attr(),
    ai("8004", XV30, "GIAI", "global individual asset identifier").attr(),
    ai("8005", N6, "PRICE PER UNIT", "price per unit of measure").attr(),
    ai("8006", PIECE, "ITIP", "identification of an individual trade item piece").attr(),
    ai("8007", XV34, "IBAN", "international bank account number").attr(),
    ai("8008", &[n(6).lint(YyMmDd), n(2).lint(Hh), n(2).lint(Mi).opt(), n(2).lint(Ss).opt()], "PROD TIME", "date and time of production").attr(),
    ai("8009", XV50, "OPTSEN", "optically readable sensor indicator").attr(),
    ai("8010", &[var(Cset::Cset39, 30)], "CPID", "component/part identifier").attr(),
    ai("8011", &[nv(12).lint(NoZeroPrefix)], "CPID SERIAL", "component/part identifier serial number"),
    ai("8012", XV20, "VERSION", "software version").attr(),
    ai("8013", XV25, "GMN", "global model number").attr(),
    ai("8014", XV25, "MUDI", "highly individualised device registration identifier"),
    ai("8017", N18_CSUM, "GSRN - PROVIDER", "global service relation number of the provider").attr(),
    ai("8018", N18_CSUM, "GSRN - RECIPIENT", "global service relation number of the recipient").attr(),
    ai("8019", &[nv(10)], "SRIN", "service relation instance number"),
    ai("8020", XV25, "REF No.", "payment slip reference number"),
    ai("8026", PIECE, "ITIP CONTENT", "identification of pieces of a trade item contained").attr(),
    ai("8030", &[var(Cset::Cset64, 90)], "DIGSIG", "digital signature").attr(),
    ai("8110", XV70, "COUPON", "coupon code identification for use in North America").attr(),
    ai("8111", &[n(4)], "POINTS", "loyalty points of a coupon").attr(),
    ai("8112", XV70, "COUPON OFFER", "positive offer file coupon code identification for use in North America").attr(),
    ai("8200", XV70, "PRODUCT URL", "extended packaging URL"),
    ai("90", XV30, "INTERNAL", "information mutually agreed between trading partners").attr(),
    ai("9", XV90, "INTERNAL", "company internal information").family(1, 9).attr(),
];

/// The table entry for `ai`, if it is a known application identifier.
fn lookup(ai: &str) -> Option<&'static AiDef> {
    AI_TABLE.iter().find(|d| d.matches(ai))
}

/// The GS1 data title of an application identifier, e.g. `"BATCH/LOT"` for
/// `"10"`, or `None` if `ai` is not a known AI.
pub fn ai_title(ai: &str) -> Option<&'static str> {
    lookup(ai).map(|d| d.title)
}

// ---------------------------------------------------------------------------
// Value validation
// ---------------------------------------------------------------------------

/// 1-based character position of byte offset `off` in `input`.
fn char_pos(input: &str, off: usize) -> usize {
    input.get(..off).map_or(off, |p| p.chars().count()) + 1
}

/// Where a value sits in the input, for error positions.
#[derive(Clone, Copy)]
struct Loc<'a> {
    input: &'a str,
    /// Byte offset of the element (AI digits, `(`, or DL segment).
    elem: usize,
    /// Byte offset of the value; only meaningful when `exact`.
    value: usize,
    /// Whether the value appears verbatim in the input (not percent-decoded
    /// or unescaped), so that character positions can be given exactly.
    exact: bool,
}

impl Loc<'_> {
    fn elem_pos(&self) -> usize {
        char_pos(self.input, self.elem)
    }

    /// Position of character `idx` of the value `v`.
    fn char_at(&self, v: &str, idx: usize) -> usize {
        if !self.exact {
            return self.elem_pos();
        }
        let byte = v.char_indices().nth(idx).map_or(v.len(), |(b, _)| b);
        char_pos(self.input, self.value + byte)
    }
}

struct Field<'a> {
    ai: &'a str,
    def: &'static AiDef,
    value: &'a str,
    loc: Loc<'a>,
    missing_separator_hint: bool,
}

impl Field<'_> {
    fn too_short(&self, len: usize, min: usize) -> Gs1Error {
        Gs1Error::FieldTooShort {
            ai: self.ai.to_string(),
            name: self.def.name,
            position: self.loc.elem_pos(),
            len,
            min,
        }
    }

    fn invalid(&self, reason: String) -> Gs1Error {
        Gs1Error::InvalidValue {
            ai: self.ai.to_string(),
            name: self.def.name,
            position: self.loc.elem_pos(),
            reason,
        }
    }

    fn bad_date(&self, reason: String) -> Gs1Error {
        Gs1Error::BadDate {
            ai: Some(self.ai.to_string()),
            name: self.def.name,
            position: Some(self.loc.elem_pos()),
            value: self.value.to_string(),
            reason,
        }
    }

    /// Checks length, character set and content of the value.
    fn validate(&self) -> Result<(), Gs1Error> {
        let (min, max) = self.def.len_range();
        let len = self.value.chars().count();
        if len < min {
            return Err(self.too_short(len, min));
        }
        if len > max {
            return Err(Gs1Error::FieldTooLong {
                ai: self.ai.to_string(),
                name: self.def.name,
                position: self.loc.elem_pos(),
                len,
                max,
                missing_separator: self.missing_separator_hint,
            });
        }
        // From here on the value is at most 90 characters.
        let chars: Vec<char> = self.value.chars().collect();
        let mut idx = 0usize;
        for comp in self.def.spec {
            let remaining = len.saturating_sub(idx);
            if remaining == 0 && comp.optional {
                break;
            }
            let take = remaining.min(usize::from(comp.max));
            if take < usize::from(comp.min) {
                return Err(self.too_short(len, idx + usize::from(comp.min)));
            }
            let part = chars.get(idx..idx + take).unwrap_or(&[]);
            if let Some((j, &c)) = part.iter().enumerate().find(|(_, &c)| !comp.cset.allows(c)) {
                return Err(Gs1Error::BadCharacter {
                    ai: self.ai.to_string(),
                    name: self.def.name,
                    position: self.loc.char_at(self.value, idx + j),
                    found: c,
                    charset: comp.cset.describe(),
                });
            }
            let text: String = part.iter().collect();
            self.lint(comp.lint, &text, idx + take)?;
            idx += take;
        }
        if idx < len {
            // Cannot happen given the length check, but never accept silently.
            return Err(Gs1Error::FieldTooLong {
                ai: self.ai.to_string(),
                name: self.def.name,
                position: self.loc.elem_pos(),
                len,
                max: idx,
                missing_separator: self.missing_separator_hint,
            });
        }
        Ok(())
    }

    /// Applies `lint` to the component `part`, which ends just before
    /// character index `end` of the value.
    fn lint(&self, lint: Lint, part: &str, end: usize) -> Result<(), Gs1Error> {
        let two = |s: &str, at: usize| s.get(at..at + 2).map_or(0, num);
        match lint {
            Lint::None => Ok(()),
            Lint::Csum => {
                let digits: Vec<u8> = part.bytes().map(|b| b.wrapping_sub(b'0')).collect();
                match digits.split_last() {
                    Some((&found, body)) => {
                        let expected = gtin::check_digit(body);
                        if expected == found {
                            Ok(())
                        } else {
                            Err(Gs1Error::BadCheckDigit {
                                ai: self.ai.to_string(),
                                name: self.def.name,
                                position: self.loc.char_at(self.value, end.saturating_sub(1)),
                                expected,
                                found,
                            })
                        }
                    }
                    None => Ok(()),
                }
            }
            Lint::YyMmD0 | Lint::YyMmDd => {
                let date = parse_date6(part, current_year()).map_err(|r| self.bad_date(r))?;
                if lint == Lint::YyMmDd && date.day == 0 {
                    return Err(self.bad_date("day 00 is not allowed here".to_string()));
                }
                Ok(())
            }
            Lint::YyyyMmDd => {
                let year = part.get(0..4).map_or(0, num) as i32;
                check_month_day(year, two(part, 4), two(part, 6)).map_err(|r| self.bad_date(r))?;
                if two(part, 6) == 0 {
                    return Err(self.bad_date("day 00 is not allowed here".to_string()));
                }
                Ok(())
            }
            Lint::Hh | Lint::HhMi => {
                let hh = two(part, 0);
                if hh > 23 {
                    return Err(self.bad_date(format!("hour {hh:02} is not 00-23")));
                }
                if lint == Lint::HhMi {
                    let mi = two(part, 2);
                    if mi > 59 {
                        return Err(self.bad_date(format!("minute {mi:02} is not 00-59")));
                    }
                }
                Ok(())
            }
            Lint::Mi => {
                let mi = two(part, 0);
                if mi > 59 {
                    return Err(self.bad_date(format!("minute {mi:02} is not 00-59")));
                }
                Ok(())
            }
            Lint::Ss => {
                let ss = two(part, 0);
                if ss > 59 {
                    return Err(self.bad_date(format!("second {ss:02} is not 00-59")));
                }
                Ok(())
            }
            Lint::Zero if part != "0" => Err(self.invalid(format!("'{part}' must be 0"))),
            Lint::YesNo if part != "0" && part != "1" => {
                Err(self.invalid(format!("'{part}' must be 0 (no) or 1 (yes)")))
            }
            Lint::Hyphen if part != "-" => Err(self.invalid(format!("'{part}' must be '-'"))),
            Lint::PieceOfTotal => {
                let (piece, total) = (two(part, 0), two(part, 2));
                if piece == 0 || total == 0 || piece > total {
                    Err(self.invalid(format!(
                        "piece {piece:02} of {total:02} is not a valid piece number"
                    )))
                } else {
                    Ok(())
                }
            }
            Lint::NonZero if part.bytes().all(|b| b == b'0') => {
                Err(self.invalid(format!("'{part}' must not be zero")))
            }
            Lint::Winding if !matches!(part, "0" | "1" | "9") => {
                Err(self.invalid(format!("winding direction '{part}' must be 0, 1 or 9")))
            }
            Lint::NoZeroPrefix if part.len() > 1 && part.starts_with('0') => {
                Err(self.invalid(format!("'{part}' must not start with 0")))
            }
            Lint::Zero | Lint::YesNo | Lint::Hyphen | Lint::NonZero | Lint::Winding => Ok(()),
            Lint::NoZeroPrefix => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// A GS separator: the GS character itself, or the texts `<GS>` / `\x1d`
/// (any case) typed by people or produced by scanner configurations.
fn separator(i: &str) -> IRes<'_, &str> {
    alt((tag("\u{1d}"), tag_no_case("<GS>"), tag_no_case("\\x1d"))).parse_complete(i)
}

fn ascii_ws(i: &str) -> IRes<'_, &str> {
    take_while1(|c: char| c.is_ascii_whitespace()).parse_complete(i)
}

/// Separators and whitespace between elements (also a leading FNC1).
fn boundary(i: &str) -> &str {
    recognize(many0_count(alt((separator, ascii_ws))))
        .parse_complete(i)
        .map_or(i, |(rest, _)| rest)
}

/// Up to 4 leading digits, resolved to the one AI they start with.
fn ai_prefix(i: &str) -> Option<(&str, &str, &'static AiDef)> {
    let (_, digits) =
        take_while_m_n::<_, _, nom::error::Error<&str>>(2, 4, |c: char| c.is_ascii_digit())
            .parse_complete(i)
            .ok()?;
    (2..=digits.len()).find_map(|k| {
        let code = digits.get(..k)?;
        let def = lookup(code)?;
        Some((i.get(k..)?, code, def))
    })
}

/// A variable-length value: everything up to the next separator.
fn var_value(i: &str) -> (&str, &str) {
    recognize(many0_count(preceded(not(separator), anychar)))
        .parse_complete(i)
        .unwrap_or((i, ""))
}

/// A predefined-length value: up to `n` characters, stopping early at a
/// separator or whitespace (the field is then too short).
fn fixed_value(i: &str, n: usize) -> (&str, &str) {
    recognize(many_m_n(
        0,
        n,
        preceded(not(alt((separator, ascii_ws))), anychar),
    ))
    .parse_complete(i)
    .unwrap_or((i, ""))
}

/// `(` + 2–4 digits + `)`.
fn bracket_ai(i: &str) -> IRes<'_, &str> {
    delimited(
        char('('),
        take_while_m_n(2, 4, |c: char| c.is_ascii_digit()),
        char(')'),
    )
    .parse_complete(i)
}

/// A bracketed-form value: up to the next `(NN)`; `\(` is an escaped `(`.
fn bracket_value(i: &str) -> (&str, &str) {
    recognize(many0_count(alt((
        value((), tag("\\(")),
        value((), preceded(not(bracket_ai), anychar)),
    ))))
    .parse_complete(i)
    .unwrap_or((i, ""))
}

fn is_http_uri(s: &str) -> bool {
    alt((
        tag_no_case::<_, _, nom::error::Error<&str>>("https://"),
        tag_no_case("http://"),
    ))
    .parse_complete(s)
    .is_ok()
}

/// The text to show for an unknown AI: up to 4 characters, ending at the
/// first non-digit.
fn unknown_ai_text(rest: &str) -> String {
    let mut out = String::new();
    for c in rest.chars().take(4) {
        out.push(c);
        if !c.is_ascii_digit() {
            break;
        }
    }
    out
}

/// A Digital Link path segment and its byte offset in the input.
type Seg<'s> = (usize, &'s str);

struct Collector<'a> {
    input: &'a str,
    ais: Vec<(String, String)>,
}

impl<'a> Collector<'a> {
    fn offset(&self, rest: &str) -> usize {
        self.input.len().saturating_sub(rest.len())
    }

    fn unknown_ai(&self, rest: &str) -> Gs1Error {
        Gs1Error::UnknownAi {
            position: char_pos(self.input, self.offset(rest)),
            found: unknown_ai_text(rest),
        }
    }

    /// Validates and records one field.
    fn add(&mut self, field: Field<'_>) -> Result<(), Gs1Error> {
        field.validate()?;
        if let Some((_, first)) = self.ais.iter().find(|(a, _)| a == field.ai) {
            if first == field.value {
                return Ok(());
            }
            return Err(Gs1Error::DuplicateAi {
                ai: field.ai.to_string(),
                name: field.def.name,
                first: first.clone(),
                second: field.value.to_string(),
            });
        }
        self.ais
            .push((field.ai.to_string(), field.value.to_string()));
        Ok(())
    }

    fn element_string(&mut self, s: &'a str) -> Result<(), Gs1Error> {
        let input = self.input;
        let mut rest = boundary(s);
        while !rest.is_empty() {
            let elem = self.offset(rest);
            let (after_ai, code, def) = ai_prefix(rest).ok_or_else(|| self.unknown_ai(rest))?;
            let value_off = self.offset(after_ai);
            let (after, value, hint) = if def.predefined {
                let (_, max) = def.len_range();
                let (after, value) = fixed_value(after_ai, max);
                (after, value, false)
            } else {
                let (after, value) = var_value(after_ai);
                (
                    after,
                    value.trim_end_matches(|c: char| c.is_ascii_whitespace()),
                    true,
                )
            };
            self.add(Field {
                ai: code,
                def,
                value,
                loc: Loc {
                    input,
                    elem,
                    value: value_off,
                    exact: true,
                },
                missing_separator_hint: hint,
            })?;
            rest = boundary(after);
        }
        Ok(())
    }

    fn bracketed(&mut self, s: &'a str) -> Result<(), Gs1Error> {
        let input = self.input;
        let mut rest = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
        while !rest.is_empty() {
            let elem = self.offset(rest);
            let (after_ai, code) = match bracket_ai(rest) {
                Ok(ok) => ok,
                Err(_) => {
                    let inner = rest.strip_prefix('(').unwrap_or(rest);
                    return Err(Gs1Error::UnknownAi {
                        position: char_pos(input, elem),
                        found: inner.chars().take_while(|&c| c != ')').take(4).collect(),
                    });
                }
            };
            let def = lookup(code).ok_or_else(|| Gs1Error::UnknownAi {
                position: char_pos(input, elem),
                found: code.to_string(),
            })?;
            let (after, raw) = bracket_value(after_ai);
            let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace() || c == GS);
            let exact = !trimmed.contains("\\(");
            let unescaped = trimmed.replace("\\(", "(");
            let value_off = self.offset(trimmed);
            self.add(Field {
                ai: code,
                def,
                value: &unescaped,
                loc: Loc {
                    input,
                    elem,
                    value: value_off,
                    exact,
                },
                missing_separator_hint: false,
            })?;
            rest = after;
        }
        Ok(())
    }

    fn digital_link(&mut self, uri: &'a str) -> Result<(), Gs1Error> {
        let input = self.input;
        let bad = |reason: &str| Gs1Error::BadUri {
            reason: reason.to_string(),
        };
        let (after_scheme, _) = alt((
            tag_no_case::<_, _, nom::error::Error<&str>>("https://"),
            tag_no_case("http://"),
        ))
        .parse_complete(uri)
        .map_err(|_| bad("it must start with http:// or https://"))?;
        let (path_etc, host) =
            take_till::<_, _, nom::error::Error<&str>>(|c: char| c == '/' || c == '?' || c == '#')
                .parse_complete(after_scheme)
                .map_err(|_| bad("no host name"))?;
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the host name is missing or invalid"));
        }
        let no_fragment = path_etc.split('#').next().unwrap_or("");
        let (path, query) = match no_fragment.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (no_fragment, None),
        };

        // Path segments with their byte offsets in the input.
        let mut segs: Vec<(usize, &str)> = Vec::new();
        let mut off = self.offset(path_etc);
        for seg in path.split('/') {
            segs.push((off, seg));
            off += seg.len() + 1;
        }
        // `path` starts with '/' (or is empty): drop the empty first segment
        // and tolerate one trailing slash.
        if segs.first().is_some_and(|(_, s)| s.is_empty()) {
            segs.remove(0);
        }
        if segs.len() > 1 && segs.last().is_some_and(|(_, s)| s.is_empty()) {
            segs.pop();
        }

        // Walk backwards over (qualifier, value) pairs to the primary key.
        let mut end = segs.len();
        let mut key_at = None;
        while end >= 2 {
            let Some(&(_, k)) = segs.get(end - 2) else {
                break;
            };
            if dl_qualifier_paths(k).is_some() {
                key_at = Some(end - 2);
                break;
            }
            if DL_QUALIFIERS.contains(&k) {
                end -= 2;
                continue;
            }
            break;
        }
        let Some(key_at) = key_at else {
            if segs.iter().any(|(_, k)| dl_qualifier_paths(k).is_some()) {
                return Err(bad(
                    "the path after the primary key must consist of /AI/value pairs",
                ));
            }
            return Err(Gs1Error::MissingPrimaryKey);
        };
        let pairs: Vec<(Seg<'_>, Seg<'_>)> = segs
            .get(key_at..)
            .unwrap_or(&[])
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((*k, *v)),
                _ => None,
            })
            .collect();

        // Qualifier order.
        if let Some(((_, key), _)) = pairs.first() {
            let allowed = dl_qualifier_paths(key).unwrap_or(&[]);
            let quals: Vec<&str> = pairs.iter().skip(1).map(|((_, k), _)| *k).collect();
            let ok = quals.is_empty()
                || allowed.iter().any(|path| {
                    let mut it = path.iter();
                    quals.iter().all(|q| it.any(|a| a == q))
                });
            if !ok {
                let expected: Vec<String> = allowed.iter().map(|p| p.join("/")).collect();
                return Err(Gs1Error::BadUri {
                    reason: format!(
                        "qualifiers /{}/ are not allowed after primary key ({key}); allowed, in this order: {}",
                        quals.join("/"),
                        if expected.is_empty() {
                            "none".to_string()
                        } else {
                            expected.join(" or ")
                        }
                    ),
                });
            }
        }

        for ((k_off, key), (v_off, raw)) in pairs {
            let def = lookup(key).ok_or_else(|| Gs1Error::UnknownAi {
                position: char_pos(input, k_off),
                found: key.to_string(),
            })?;
            let mut value = pct_decode(raw).map_err(|r| Gs1Error::BadUri {
                reason: format!(
                    "{r} in the value of ({key}) at position {}",
                    char_pos(input, v_off)
                ),
            })?;
            // GTIN-8/12/13 are allowed in the path and padded to 14 digits;
            // left-padding does not change the check digit.
            if key == "01" && all_digits(&value) && matches!(value.len(), 8 | 12 | 13) {
                value = format!("{value:0>14}");
            }
            let exact = value == raw;
            self.add(Field {
                ai: key,
                def,
                value: &value,
                loc: Loc {
                    input,
                    elem: k_off,
                    value: v_off,
                    exact,
                },
                missing_separator_hint: false,
            })?;
        }

        // Data attributes in the query string.
        if let Some(query) = query {
            let mut off = self.offset(query);
            for param in query.split('&') {
                let p_off = off;
                off += param.len() + 1;
                if param.is_empty() {
                    continue;
                }
                let (raw_key, raw_val) = param.split_once('=').unwrap_or((param, ""));
                let key = pct_decode(raw_key).map_err(|r| Gs1Error::BadUri {
                    reason: format!(
                        "{r} in a query parameter name at position {}",
                        char_pos(input, p_off)
                    ),
                })?;
                if !all_digits(&key) {
                    continue; // linktype, context, … are not GS1 data
                }
                let def = lookup(&key).ok_or_else(|| Gs1Error::UnknownAi {
                    position: char_pos(input, p_off),
                    found: key.chars().take(6).collect(),
                })?;
                if !def.dl_attr {
                    return Err(Gs1Error::BadUri {
                        reason: format!(
                            "AI ({key}) {} is not permitted in the query string (position {})",
                            def.name,
                            char_pos(input, p_off)
                        ),
                    });
                }
                let v_off = p_off + raw_key.len() + 1;
                let value = pct_decode(raw_val).map_err(|r| Gs1Error::BadUri {
                    reason: format!(
                        "{r} in the value of ({key}) at position {}",
                        char_pos(input, v_off)
                    ),
                })?;
                let exact = value == raw_val;
                self.add(Field {
                    ai: &key,
                    def,
                    value: &value,
                    loc: Loc {
                        input,
                        elem: p_off,
                        value: v_off,
                        exact,
                    },
                    missing_separator_hint: false,
                })?;
            }
        }
        Ok(())
    }
}

/// Digital Link qualifiers (any primary key).
const DL_QUALIFIERS: [&str; 9] = [
    "22", "10", "21", "235", "254", "7040", "8020", "8011", "8019",
];

/// For a Digital Link primary key, the alternative ordered lists of
/// qualifiers that may follow it in the path.
fn dl_qualifier_paths(key: &str) -> Option<&'static [&'static [&'static str]]> {
    match key {
        "01" => Some(&[&["22", "10", "21"], &["235"]]),
        "8006" => Some(&[&["22", "10", "21"]]),
        "414" => Some(&[&["254"], &["7040"]]),
        "415" => Some(&[&["8020"]]),
        "417" | "8004" => Some(&[&["7040"]]),
        "8010" => Some(&[&["8011"]]),
        "8017" | "8018" => Some(&[&["8019"]]),
        "00" | "253" | "255" | "401" | "402" | "8003" | "8013" => Some(&[]),
        _ => None,
    }
}

/// Percent-decodes a URI component. `+` is kept as is (it is a valid GS1
/// character and never means a space in GS1 data).
fn pct_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return Ok(s.to_string());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&h| (h as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => return Err("bad percent-encoding".to_string()),
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding that is not UTF-8".to_string())
}

/// Parses GS1 data in any of its three syntaxes:
///
/// * a raw **element string**, optionally preceded by an AIM symbology
///   identifier and/or a leading FNC1 (GS), with GS (ASCII 29) after
///   variable-length fields; the literal texts `<GS>` and `\x1d` (any case)
///   count as GS, a trailing GS or a GS after a predefined-length field is
///   tolerated, and so is whitespace between elements;
/// * the **bracketed** human-readable form, `(01)09506000134352(17)261231(10)ABC`
///   (whitespace around elements is ignored; write `\(` for a `(` in a value);
/// * a **GS1 Digital Link** URI, `https://any.host/optional/path/01/09506000134352/10/ABC123/21/XYZ?17=261231`:
///   primary key and ordered qualifiers in the path, data attributes in the
///   query string, percent-decoded; non-numeric query parameters are ignored;
///   a GTIN-8/12/13 in the path is padded to 14 digits.
///
/// Leading and trailing ASCII whitespace (e.g. a scanner's CR/LF) is ignored.
/// A scan marked `]E0` or `]E4` (EAN/UPC) is rejected: it holds a plain GTIN.
/// Every field is validated against the AI table; the same AI twice with the
/// same value is kept once, with different values it is an error.
pub fn parse(input: &str) -> Result<Gs1Data, Gs1Error> {
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let (symbology, rest) = split_symbology(trimmed);
    if let Some(sym) = &symbology {
        if matches!(sym.kind, Symbology::Ean13 | Symbology::Ean8) {
            return Err(Gs1Error::WrongSymbology { id: sym.id.clone() });
        }
    }
    let body = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let mut collector = Collector {
        input,
        ais: Vec::new(),
    };
    let syntax = if is_http_uri(body) {
        collector.digital_link(body)?;
        Gs1Syntax::DigitalLink
    } else if body.starts_with('(') {
        collector.bracketed(body)?;
        Gs1Syntax::Bracketed
    } else {
        collector.element_string(body)?;
        Gs1Syntax::ElementString
    };
    if collector.ais.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(Gs1Data {
        symbology,
        syntax,
        ais: collector.ais,
    })
}

// ---------------------------------------------------------------------------
// Dispatcher test
// ---------------------------------------------------------------------------

fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let n = needle.len();
    n > 0
        && hay
            .as_bytes()
            .windows(n)
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether an http(s) URI has a Digital Link primary key segment followed by
/// a plausible value (at least 8 digits for the numeric keys, so that dates
/// such as `/2024/01/15/` do not count).
fn looks_like_digital_link(s: &str) -> bool {
    let Some(after) = s
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("https://"))
        .and_then(|_| s.get(8..))
        .or_else(|| {
            s.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("http://"))
                .and_then(|_| s.get(7..))
        })
    else {
        return false;
    };
    let path_start = after.find('/').unwrap_or(after.len());
    let path = after.get(path_start..).unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').collect();
    segs.windows(2).any(|w| match w {
        [key, value] => match *key {
            "401" | "8004" | "8010" | "8013" => !value.is_empty(),
            k if dl_qualifier_paths(k).is_some() => {
                value.bytes().take_while(u8::is_ascii_digit).count() >= 8
            }
            _ => false,
        },
        _ => false,
    })
}

/// Cheap syntactic test used by the decoder dispatcher: does this (already
/// trimmed) text look like GS1 data rather than some other code?
///
/// True for: an AIM symbology identifier that carries GS1 element strings
/// (`]d2`, `]Q3`, `]C1`, `]e0`); a GS character or the texts `<GS>` / `\x1d`;
/// a leading bracketed AI `(NN`; an http(s) URI with a Digital Link primary
/// key path segment (`/01/` followed by at least 8 digits, and likewise for
/// the other keys); or text made only of GS1 characters that starts with `01`
/// and a valid 14-digit GTIN and is longer than 16 characters — except exactly
/// 20 ASCII digits, which are zhenwei supervision codes. Does not validate;
/// [`parse`] does.
pub fn looks_like_gs1(input: &str) -> bool {
    let (symbology, rest) = split_symbology(input);
    if symbology
        .as_ref()
        .is_some_and(SymbologyId::carries_gs1_element_string)
    {
        return true;
    }
    if rest.contains(GS)
        || contains_ignore_ascii_case(rest, "<GS>")
        || contains_ignore_ascii_case(rest, "\\x1d")
    {
        return true;
    }
    let mut chars = rest.chars();
    if chars.next() == Some('(')
        && chars.next().is_some_and(|c| c.is_ascii_digit())
        && chars.next().is_some_and(|c| c.is_ascii_digit())
    {
        return true;
    }
    if looks_like_digital_link(rest) {
        return true;
    }
    if !rest.chars().all(|c| Cset::Cset82.allows(c)) {
        return false;
    }
    // All ASCII from here on.
    if rest.len() <= 16 || (rest.len() == 20 && all_digits(rest)) {
        return false;
    }
    rest.starts_with("01")
        && rest
            .get(2..16)
            .is_some_and(|g| gtin::Gtin::parse(g).is_ok())
}

impl fmt::Display for Gs1Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Gs1Syntax::ElementString => "element string",
            Gs1Syntax::Bracketed => "bracketed",
            Gs1Syntax::DigitalLink => "Digital Link",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GTIN: &str = "09506000134352";

    fn ais(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, v)| (a.to_string(), v.to_string()))
            .collect()
    }

    fn err(input: &str) -> Gs1Error {
        match parse(input) {
            Ok(d) => panic!("{input:?} parsed unexpectedly: {d:?}"),
            Err(e) => e,
        }
    }

    // --- element strings -------------------------------------------------

    #[test]
    fn gs1_general_specifications_example() {
        let d = parse("0109506000134352 10ABC123<GS>21XYZ").unwrap();
        assert_eq!(d.syntax, Gs1Syntax::ElementString);
        assert_eq!(d.symbology, None);
        assert_eq!(d.ais, ais(&[("01", GTIN), ("10", "ABC123"), ("21", "XYZ")]));
        assert_eq!(d.gtin(), Some(GTIN));
        assert_eq!(d.lot(), Some("ABC123"));
        assert_eq!(d.serial(), Some("XYZ"));
        assert_eq!(d.expiry(), None);
    }

    #[test]
    fn datamatrix_scan_with_aim_id_and_gs() {
        let scan = "]d2010950600013435217261231\u{1d}10ABC123\u{1d}21XYZ";
        let d = parse(scan).unwrap();
        assert_eq!(
            d.symbology,
            Some(SymbologyId {
                id: "]d2".into(),
                kind: Symbology::Gs1DataMatrix
            })
        );
        assert_eq!(
            d.ais,
            ais(&[
                ("01", GTIN),
                ("17", "261231"),
                ("10", "ABC123"),
                ("21", "XYZ")
            ])
        );
        assert_eq!(
            d.date("17", 2026),
            Some(Gs1Date {
                year: 2026,
                month: 12,
                day: 31
            })
        );
        assert!(d.expiry().is_some());
    }

    #[test]
    fn fixed_fields_need_no_separator_but_tolerate_one() {
        let d = parse("01095060001343521726123111250101").unwrap();
        assert_eq!(
            d.ais,
            ais(&[("01", GTIN), ("17", "261231"), ("11", "250101")])
        );
        assert_eq!(
            d.production_date(),
            Some(Gs1Date {
                year: 2025,
                month: 1,
                day: 1
            })
        );
        let d = parse("0109506000134352\u{1d}17261231\u{1d}21A").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("17", "261231"), ("21", "A")]));
    }

    #[test]
    fn trailing_gs_and_leading_fnc1() {
        let expected = ais(&[("01", GTIN), ("21", "XYZ")]);
        for input in [
            "010950600013435221XYZ\u{1d}",
            "\u{1d}010950600013435221XYZ",
            "\u{1d}0109506000134352\u{1d}21XYZ\u{1d}",
            "]C1\u{1d}0109506000134352\u{1d}21XYZ",
            "]Q3<GS>0109506000134352<GS>21XYZ<GS>",
            "  0109506000134352 21XYZ\r\n",
        ] {
            assert_eq!(parse(input).unwrap().ais, expected, "{input:?}");
        }
    }

    #[test]
    fn literal_gs_escapes() {
        let expected = ais(&[("01", GTIN), ("10", "ABC"), ("21", "XYZ")]);
        for input in [
            "010950600013435210ABC<GS>21XYZ",
            "010950600013435210ABC<gs>21XYZ",
            "010950600013435210ABC\\x1d21XYZ",
            "010950600013435210ABC\\x1D21XYZ",
            "010950600013435210ABC\u{1d}21XYZ",
            "010950600013435210ABC <GS> 21XYZ",
        ] {
            assert_eq!(parse(input).unwrap().ais, expected, "{input:?}");
        }
    }

    #[test]
    fn many_ais() {
        let d = parse(
            "]C100106141411234567897021061414100000237\
             10\u{1d}3103000125152601004100614141000005\
             8008260101123059\u{1d}70032601012359\u{1d}90ABC",
        )
        .unwrap();
        assert_eq!(
            d.ais,
            ais(&[
                ("00", "106141411234567897"),
                ("02", "10614141000002"),
                ("37", "10"),
                ("3103", "000125"),
                ("15", "260100"),
                ("410", "0614141000005"),
                ("8008", "260101123059"),
                ("7003", "2601012359"),
                ("90", "ABC"),
            ])
        );
        assert_eq!(
            d.date("15", 2026).unwrap().to_naive(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
        );
    }

    #[test]
    fn same_ai_twice_with_same_value_is_kept_once() {
        let d = parse("10ABC<GS>10ABC<GS>0109506000134352").unwrap();
        assert_eq!(d.ais, ais(&[("10", "ABC"), ("01", GTIN)]));
    }

    // --- AIM symbology identifiers --------------------------------------

    #[test]
    fn aim_ids() {
        let cases = [
            ("]d2", Symbology::Gs1DataMatrix, true),
            ("]Q3", Symbology::Gs1Qr, true),
            ("]C1", Symbology::Gs1_128, true),
            ("]e0", Symbology::Gs1DataBar, true),
            ("]E0", Symbology::Ean13, false),
            ("]E4", Symbology::Ean8, false),
            ("]d1", Symbology::Other, false),
            ("]Q1", Symbology::Other, false),
            ("]A0", Symbology::Other, false),
            ("]C0", Symbology::Other, false),
            ("]D2", Symbology::Other, false),
            ("]q3", Symbology::Other, false),
            ("]zZ", Symbology::Other, false),
        ];
        for (id, kind, gs1) in cases {
            let input = format!("{id}rest");
            let (sym, rest) = split_symbology(&input);
            let sym = sym.unwrap_or_else(|| panic!("{id} not recognised"));
            assert_eq!(sym.id, id);
            assert_eq!(sym.kind, kind, "{id}");
            assert_eq!(sym.carries_gs1_element_string(), gs1, "{id}");
            assert_eq!(rest, "rest");
        }
        for input in ["", "]", "]d", "]1a", "]d-", "d2]", " ]d2", "]é2", "]dé"] {
            assert_eq!(split_symbology(input), (None, input), "{input:?}");
        }
        let (sym, rest) = split_symbology("]E09506000134352");
        assert_eq!(sym.unwrap().kind, Symbology::Ean13);
        assert_eq!(rest, "9506000134352");
    }

    // --- bracketed form --------------------------------------------------

    #[test]
    fn bracketed() {
        let d = parse("(01)09506000134352(17)261231(10)ABC").unwrap();
        assert_eq!(d.syntax, Gs1Syntax::Bracketed);
        assert_eq!(d.ais, ais(&[("01", GTIN), ("17", "261231"), ("10", "ABC")]));
        let d = parse(" (01) 09506000134352 (21) XYZ ").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("21", "XYZ")]));
        let d = parse("(01)09506000134352(10)A\\(12)B(21)X(Y").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("10", "A(12)B"), ("21", "X(Y")]));
        assert_eq!(d.to_bracketed(), "(01)09506000134352(10)A\\(12)B(21)X\\(Y");
        let d = parse("]d2(01)09506000134352").unwrap();
        assert_eq!(d.symbology.unwrap().kind, Symbology::Gs1DataMatrix);
    }

    #[test]
    fn bracketed_errors() {
        let e = err("(01)09506000134352(19)1");
        assert_eq!(e.code(), "gs1_unknown_ai");
        assert_eq!(
            e.to_string(),
            "unknown application identifier at position 19: '19'"
        );
        assert_eq!(err("(01)0950600013435").code(), "gs1_field_too_short");
        assert_eq!(err("(01)095060001343520").code(), "gs1_field_too_long");
        assert_eq!(err("(1)x").code(), "gs1_unknown_ai");
        let e = err("(01)09506000134352(10)");
        assert_eq!(e.code(), "gs1_field_too_short");
        assert_eq!(
            e.to_string(),
            "AI (10) batch/lot number at position 19 is too short: 0 characters where 1 are needed"
        );
    }

    // --- Digital Link ----------------------------------------------------

    #[test]
    fn digital_link_with_query_and_percent_encoding() {
        let d = parse(
            "https://id.example.com/shop/p/01/09506000134352/10/AB%2F1/21/X%2BY%25?17=261231&linktype=all&3103=000189#frag",
        )
        .unwrap();
        assert_eq!(d.syntax, Gs1Syntax::DigitalLink);
        assert_eq!(
            d.ais,
            ais(&[
                ("01", GTIN),
                ("10", "AB/1"),
                ("21", "X+Y%"),
                ("17", "261231"),
                ("3103", "000189"),
            ])
        );
        assert_eq!(d.expiry().map(|x| (x.month, x.day)), Some((12, 31)));
    }

    #[test]
    fn digital_link_variants() {
        // GTIN-13 in the path is padded; upper-case scheme and host (QR
        // alphanumeric mode); a trailing slash; a symbology identifier.
        let d = parse("]Q1HTTPS://ID.GS1.ORG/01/9506000134352/").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN)]));
        assert_eq!(d.symbology.unwrap().kind, Symbology::Other);
        let d = parse("http://example.com/01/09506000134352/22/V1/21/S1").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("22", "V1"), ("21", "S1")]));
        let d = parse("https://example.com/01/09506000134352/235/TPX1").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("235", "TPX1")]));
        let d = parse("https://example.com/00/106141411234567897").unwrap();
        assert_eq!(d.get("00"), Some("106141411234567897"));
        let d = parse("https://example.com/414/0614141000005/254/A1").unwrap();
        assert_eq!(d.ais, ais(&[("414", "0614141000005"), ("254", "A1")]));
        let d = parse("https://example.com/8006/095060001343520102/10/L1").unwrap();
        assert_eq!(d.ais, ais(&[("8006", "095060001343520102"), ("10", "L1")]));
        // Path parts before the key that look like AIs are not mistaken.
        let d = parse("https://example.com/10/01/09506000134352/21/10").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("21", "10")]));
        // Same AI in path and query with the same value is fine.
        let d = parse("https://example.com/01/09506000134352/10/A?10=A").unwrap();
        assert_eq!(d.ais, ais(&[("01", GTIN), ("10", "A")]));
    }

    #[test]
    fn digital_link_errors() {
        let e = err("https://example.com/products/123");
        assert_eq!(e.code(), "gs1_missing_primary_key");
        assert_eq!(err("https://example.com").code(), "gs1_missing_primary_key");
        assert_eq!(
            err("https://example.com/").code(),
            "gs1_missing_primary_key"
        );
        assert_eq!(
            err("https://example.com/10/ABC/21/X").code(),
            "gs1_missing_primary_key"
        );

        let e = err("https://example.com/01/09506000134352/10/ABC/21");
        assert_eq!(e.code(), "gs1_bad_uri");
        assert!(e.to_string().contains("/AI/value pairs"), "{e}");
        let e = err("https://example.com/01/09506000134352/21/X/10/L");
        assert_eq!(e.code(), "gs1_bad_uri");
        assert!(e.to_string().contains("22/10/21"), "{e}");
        assert_eq!(
            err("https://example.com/00/106141411234567897/21/X").code(),
            "gs1_bad_uri"
        );
        assert_eq!(err("https:///01/09506000134352").code(), "gs1_bad_uri");
        let e = err("https://example.com/01/09506000134352/10/A%2");
        assert_eq!(e.code(), "gs1_bad_uri");
        assert!(e.to_string().contains("bad percent-encoding"), "{e}");
        assert_eq!(
            err("https://example.com/01/09506000134352/10/A%FF").code(),
            "gs1_bad_uri"
        );
        let e = err("https://example.com/01/09506000134352?21=X");
        assert_eq!(e.code(), "gs1_bad_uri");
        assert!(e.to_string().contains("AI (21) serial number"), "{e}");
        assert_eq!(
            err("https://example.com/01/09506000134352?99999=1").code(),
            "gs1_unknown_ai"
        );
        assert_eq!(
            err("https://example.com/01/09506000134353").code(),
            "gs1_bad_check_digit"
        );
        assert_eq!(
            err("https://example.com/01/9506000134353").code(),
            "gs1_bad_check_digit"
        );
        assert_eq!(
            err("https://example.com/01/09506000134352?17=261340").code(),
            "gs1_bad_date"
        );
        assert_eq!(
            err("https://example.com/01/09506000134352/10/A%20B").code(),
            "gs1_bad_character"
        );
        assert_eq!(
            err("https://example.com/01/09506000134352/10/A?10=B").code(),
            "gs1_duplicate_ai"
        );
        assert_eq!(
            err("https://example.com/01//21/X").code(),
            "gs1_field_too_short"
        );
    }

    // --- every error code -------------------------------------------------

    #[test]
    fn error_empty() {
        for input in ["", "   ", "]d2", "\u{1d}", "<GS><GS>", "]C1 \r\n"] {
            let e = err(input);
            assert_eq!(e, Gs1Error::Empty, "{input:?}");
            assert_eq!(e.code(), "gs1_empty");
        }
        assert_eq!(
            Gs1Error::Empty.to_string(),
            "no GS1 data: the input is empty"
        );
    }

    #[test]
    fn error_unknown_ai() {
        let e = err("0109506000134352 9z");
        assert_eq!(
            e,
            Gs1Error::UnknownAi {
                position: 18,
                found: "9z".into()
            }
        );
        assert_eq!(e.code(), "gs1_unknown_ai");
        assert_eq!(
            e.to_string(),
            "unknown application identifier at position 18: '9z'"
        );
        // 19 is a reserved predefined-length prefix, not an assigned AI.
        assert_eq!(err("19123456").code(), "gs1_unknown_ai");
        // 3106: six decimal places do not exist.
        assert_eq!(err("3106123456").code(), "gs1_unknown_ai");
        assert_eq!(err("ABC").code(), "gs1_unknown_ai");
        let e = err("]d2\u{1d}\u{1d}x");
        assert_eq!(
            e,
            Gs1Error::UnknownAi {
                position: 6,
                found: "x".into()
            }
        );
    }

    #[test]
    fn error_field_too_short() {
        let e = err("01095060001343");
        assert_eq!(e.code(), "gs1_field_too_short");
        assert_eq!(
            e.to_string(),
            "AI (01) GTIN at position 1 is too short: 12 characters where 14 are needed"
        );
        // A separator inside a predefined-length field.
        let e = err("0109506000134352172612<GS>10A");
        assert_eq!(
            e,
            Gs1Error::FieldTooShort {
                ai: "17".into(),
                name: "expiry date",
                position: 17,
                len: 4,
                min: 6
            }
        );
        // 8008 needs 8, 10 or 12 digits.
        let e = err("01095060001343528008260101123");
        assert_eq!(e.code(), "gs1_field_too_short");
        assert!(e.to_string().contains("9 characters where 10"), "{e}");
    }

    #[test]
    fn error_field_too_long() {
        let e = err("010950600013435210ABCDEFGHIJKLMNOPQRSTU21XYZ");
        assert_eq!(e.code(), "gs1_field_too_long");
        assert_eq!(
            e.to_string(),
            "AI (10) batch/lot number at position 17 is too long: 26 characters where at most 20 are allowed (is a GS separator missing?)"
        );
        let e = err("(4307)CNX");
        assert_eq!(e.code(), "gs1_field_too_long");
        assert!(!e.to_string().contains("separator"));
    }

    #[test]
    fn error_bad_character() {
        let e = err("010950600013435210AB C<GS>21X");
        assert_eq!(
            e,
            Gs1Error::BadCharacter {
                ai: "10".into(),
                name: "batch/lot number",
                position: 21,
                found: ' ',
                charset: "GS1 character set 82"
            }
        );
        assert_eq!(e.code(), "gs1_bad_character");
        assert_eq!(
            e.to_string(),
            "AI (10) batch/lot number: character ' ' at position 21 is not allowed (GS1 character set 82 only)"
        );
        let e = err("01095060001343X2");
        assert_eq!(e.code(), "gs1_bad_character");
        assert!(e.to_string().contains("'X' at position 15"), "{e}");
        assert!(e.to_string().contains("digits only"), "{e}");
        let e = err("21真伪");
        assert_eq!(
            e,
            Gs1Error::BadCharacter {
                ai: "21".into(),
                name: "serial number",
                position: 3,
                found: '真',
                charset: "GS1 character set 82"
            }
        );
        assert_eq!(err("8010abc").code(), "gs1_bad_character"); // set 39
        assert!(parse("8010AB-#/1").is_ok()); // set 39 characters
    }

    #[test]
    fn error_bad_check_digit() {
        let e = err("0109506000134353");
        assert_eq!(
            e,
            Gs1Error::BadCheckDigit {
                ai: "01".into(),
                name: "GTIN",
                position: 16,
                expected: 2,
                found: 3
            }
        );
        assert_eq!(e.code(), "gs1_bad_check_digit");
        assert_eq!(
            e.to_string(),
            "AI (01) GTIN at position 16: check digit is 3 but should be 2"
        );
        assert_eq!(err("00106141411234567898").code(), "gs1_bad_check_digit");
        assert_eq!(err("4140614141000006").code(), "gs1_bad_check_digit");
        assert_eq!(err("8003006141410000001").code(), "gs1_bad_check_digit");
        assert_eq!(
            err("(8017)123456789012345671").code(),
            "gs1_bad_check_digit"
        );
    }

    #[test]
    fn error_bad_date() {
        let e = err("010950600013435217261340");
        assert_eq!(e.code(), "gs1_bad_date");
        assert_eq!(
            e.to_string(),
            "AI (17) expiry date '261340': month 13 is not 01-12"
        );
        assert_eq!(
            err("010950600013435217260231").to_string(),
            "AI (17) expiry date '260231': day 31 does not exist in February 2026"
        );
        assert_eq!(
            err("010950600013435217260432").to_string(),
            "AI (17) expiry date '260432': day 32 is not 00-31"
        );
        assert_eq!(
            err("010950600013435217260001").to_string(),
            "AI (17) expiry date '260001': month 00 is not 01-12"
        );
        // Day 00 is allowed for expiry but not for 7006 first freeze date.
        assert!(parse("010950600013435217261200").is_ok());
        let e = err("0109506000134352\u{1d}7006261200");
        assert_eq!(
            e.to_string(),
            "AI (7006) first freeze date '261200': day 00 is not allowed here"
        );
        let e = err("0109506000134352\u{1d}70032612312460");
        assert_eq!(
            e.to_string(),
            "AI (7003) expiration date and time '2612312460': hour 24 is not 00-23"
        );
        assert_eq!(
            err("0109506000134352\u{1d}8008261231236099").code(),
            "gs1_bad_date"
        );
        assert_eq!(err("(7250)20250229").code(), "gs1_bad_date");
        assert!(parse("(7250)20240229").is_ok());
    }

    #[test]
    fn error_invalid_value() {
        // Piece 5 of 3.
        let e = err("8006095060001343520503");
        assert_eq!(e.code(), "gs1_invalid_value");
        assert_eq!(
            e.to_string(),
            "AI (8006) identification of an individual trade item piece at position 1: piece 05 of 03 is not a valid piece number"
        );
        assert!(parse("8006095060001343520103").is_ok());
        assert_eq!(err("(4321)2").code(), "gs1_invalid_value");
        assert_eq!(err("(8011)0123").code(), "gs1_invalid_value");
        assert!(parse("(8010)AB(8011)0").is_ok());
        assert_eq!(err("(4330)001234+").code(), "gs1_invalid_value");
        assert!(parse("(4330)001234-").is_ok());
    }

    #[test]
    fn error_duplicate_ai() {
        let e = err("0109506000134352 10ABC<GS>10XYZ");
        assert_eq!(
            e,
            Gs1Error::DuplicateAi {
                ai: "10".into(),
                name: "batch/lot number",
                first: "ABC".into(),
                second: "XYZ".into()
            }
        );
        assert_eq!(e.code(), "gs1_duplicate_ai");
        assert_eq!(
            e.to_string(),
            "AI (10) batch/lot number appears twice with different values: 'ABC' and 'XYZ'"
        );
    }

    #[test]
    fn error_bad_uri_and_missing_key_messages() {
        assert_eq!(
            err("https://example.com/x").to_string(),
            "GS1 Digital Link URI has no primary key (such as /01/ followed by a GTIN) in its path"
        );
        let e = err("https://example.com/01/09506000134352/10/%zz");
        assert_eq!(
            e.to_string(),
            "not a valid GS1 Digital Link URI: bad percent-encoding in the value of (10) at position 42"
        );
    }

    #[test]
    fn error_wrong_symbology() {
        let e = err("]E09506000134352");
        assert_eq!(e, Gs1Error::WrongSymbology { id: "]E0".into() });
        assert_eq!(e.code(), "gs1_wrong_symbology");
        assert_eq!(
            e.to_string(),
            "symbology ]E0 carries a plain GTIN, not GS1 application identifier data"
        );
        assert_eq!(err("]E496385074").code(), "gs1_wrong_symbology");
        // A plain Data Matrix (no FNC1) with GS1-looking content is still read.
        assert!(parse("]d10109506000134352").is_ok());
    }

    #[test]
    fn every_error_code_is_distinct() {
        let codes = [
            Gs1Error::Empty,
            err("9z"),
            err("01123"),
            err("10ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            err("10 A"),
            err("0109506000134353"),
            err("17261340"),
            err("(4321)7"),
            err("10A<GS>10B"),
            err("https://x/01/1%"),
            err("https://x/y"),
            err("]E0123"),
        ]
        .map(|e| e.code());
        let mut unique = codes.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
        assert!(codes.iter().all(|c| c.starts_with("gs1_")));
    }

    // --- dates -------------------------------------------------------------

    #[test]
    fn century_rule() {
        let y = |s: &str, r: i32| Gs1Date::parse_yymmdd(s, r).unwrap().year;
        assert_eq!(y("261231", 2026), 2026);
        assert_eq!(y("000101", 2026), 2000);
        assert_eq!(y("760101", 2026), 2076); // +50: still this century
        assert_eq!(y("770101", 2026), 1977); // +51: previous century
        assert_eq!(y("990101", 2026), 1999);
        assert_eq!(y("100101", 2060), 2110); // −50: next century
        assert_eq!(y("110101", 2060), 2011); // −49: this century
        assert_eq!(y("490101", 1999), 2049);
        assert_eq!(y("480101", 1999), 2048);
        assert_eq!(y("500101", 1999), 1950);
        // Extreme reference years do not overflow.
        let _ = Gs1Date::parse_yymmdd("991231", i32::MAX);
        let _ = Gs1Date::parse_yymmdd("000101", i32::MIN);
    }

    #[test]
    fn gs1_date_validation_and_naive() {
        let d = Gs1Date::parse_yymmdd("240200", 2026).unwrap();
        assert_eq!(
            d,
            Gs1Date {
                year: 2024,
                month: 2,
                day: 0
            }
        );
        assert_eq!(d.to_naive(), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        assert_eq!(
            Gs1Date::parse_yymmdd("260200", 2026).unwrap().to_naive(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(
            Gs1Date::parse_yymmdd("261231", 2026).unwrap().to_naive(),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        );
        assert!(Gs1Date::parse_yymmdd("240229", 2026).is_ok());
        let e = Gs1Date::parse_yymmdd("250229", 2026).unwrap_err();
        assert_eq!(e.code(), "gs1_bad_date");
        assert_eq!(
            e.to_string(),
            "date '250229': day 29 does not exist in February 2025"
        );
        assert_eq!(
            Gs1Date::parse_yymmdd("261340", 2026)
                .unwrap_err()
                .to_string(),
            "date '261340': month 13 is not 01-12"
        );
        for bad in ["", "2612", "2612311", "26-231", "２６１２３１"] {
            let e = Gs1Date::parse_yymmdd(bad, 2026).unwrap_err();
            assert_eq!(e.code(), "gs1_bad_date", "{bad:?}");
        }
        // Hand-built out-of-range values are clamped, not a panic.
        let odd = Gs1Date {
            year: i32::MAX,
            month: 99,
            day: 99,
        };
        let _ = odd.to_naive();
        let odd = Gs1Date {
            year: 2026,
            month: 0,
            day: 0,
        };
        assert_eq!(
            odd.to_naive(),
            NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
        );
    }

    // --- looks_like_gs1 ----------------------------------------------------

    #[test]
    fn looks_like_gs1_cases() {
        let yes = [
            "]d2anything",
            "]Q3x",
            "]C1x",
            "]e0x",
            "0109506000134352\u{1d}21X",
            "10ABC<GS>21X",
            "10ABC<gs>21X",
            "10ABC\\x1d21X",
            "(01)09506000134352",
            "(17",
            "https://id.gs1.org/01/09506000134352",
            "HTTP://EXAMPLE.COM/shop/01/9506000134352?17=261231",
            "https://example.com/00/106141411234567897",
            "https://example.com/8004/ABC",
            "010950600013435221XYZ",
            "01095060001343521726123110ABC",
            "0109506000134352211234567890",
            "01095060001343521",
        ];
        for s in yes {
            assert!(looks_like_gs1(s), "{s:?} should look like GS1");
        }
        let no = [
            "",
            "12345678901234567890",
            "01095060001343521234", // exactly 20 digits: supervision code
            "0109506000134352",     // just 16: a plain GTIN-14 with AI
            "9506000134352",
            "]E09506000134352",
            "]E496385074",
            "]Q1hello",
            "01095060001343531234567", // invalid GTIN check digit
            "0209506000134352211234567",
            "010950600013435221 XYZ",
            "https://example.com/2024/01/15/news",
            "https://example.com/",
            "ftp://example.com/01/09506000134352",
            "(A1)x",
            "ABCD-1234-EFGH",
            "验证 12345678901234567890",
            "0109506000134352真伪",
        ];
        for s in no {
            assert!(!looks_like_gs1(s), "{s:?} should not look like GS1");
        }
    }

    // --- table -------------------------------------------------------------

    fn all_ais() -> Vec<String> {
        let mut out = Vec::new();
        for d in AI_TABLE {
            match d.last {
                None => out.push(d.code.to_string()),
                Some((lo, hi)) => {
                    for k in lo..=hi {
                        out.push(format!("{}{k}", d.code));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn table_is_prefix_free_and_consistent() {
        let ais = all_ais();
        assert!(ais.len() > 450, "{}", ais.len());
        for a in &ais {
            assert!((2..=4).contains(&a.len()) && all_digits(a), "{a}");
            for b in &ais {
                if a != b {
                    assert!(!b.starts_with(a.as_str()), "{a} is a prefix of {b}");
                }
            }
            let d = lookup(a).unwrap();
            assert!(!d.name.is_empty() && !d.title.is_empty(), "{a}");
            assert!(!d.spec.is_empty(), "{a}");
            let (min, max) = d.len_range();
            assert!(min >= 1 && max <= 90 && min <= max, "{a}");
            // Predefined-length AIs per GS1 General Specifications figure
            // 7.8.5-2: prefixes 00-04, 11-20, 31-36, 41.
            let prefix = a.get(..2).unwrap();
            let predefined = matches!(
                prefix,
                "00" | "01"
                    | "02"
                    | "03"
                    | "04"
                    | "11"
                    | "12"
                    | "13"
                    | "14"
                    | "15"
                    | "16"
                    | "17"
                    | "18"
                    | "19"
                    | "20"
                    | "31"
                    | "32"
                    | "33"
                    | "34"
                    | "35"
                    | "36"
                    | "41"
            );
            assert_eq!(d.predefined, predefined, "{a}");
            if d.predefined {
                assert_eq!(min, max, "{a}");
            }
        }
        assert_eq!(lookup("3106").map(|d| d.code), None);
        assert_eq!(lookup("3944").map(|d| d.code), None);
        assert_eq!(ai_title("10"), Some("BATCH/LOT"));
        assert_eq!(ai_title("3103"), Some("NET WEIGHT (kg)"));
        assert_eq!(ai_title("99"), Some("INTERNAL"));
        assert_eq!(ai_title("14"), None);
        for required in [
            "00", "01", "02", "10", "11", "12", "13", "15", "16", "17", "20", "21", "22", "235",
            "240", "241", "242", "243", "250", "251", "253", "254", "255", "30", "3100", "3695",
            "37", "3900", "3955", "400", "401", "402", "403", "410", "417", "420", "427", "7001",
            "7011", "7020", "7023", "7030", "7039", "710", "715", "7240", "8001", "8020", "8026",
            "8110", "8111", "8112", "8200", "90", "91", "99",
        ] {
            assert!(lookup(required).is_some(), "{required}");
        }
    }

    #[test]
    fn to_element_string_and_back() {
        let d = parse("(01)09506000134352(10)ABC(17)261231(21)XYZ").unwrap();
        let es = d.to_element_string();
        assert_eq!(es, "010950600013435210ABC\u{1d}1726123121XYZ");
        assert_eq!(parse(&es).unwrap().ais, d.ais);
    }

    #[test]
    fn huge_inputs_do_not_panic() {
        // 125 000 times "(11) 111111": the same AI with the same value.
        let big_digits = "1".repeat(1_000_000);
        assert_eq!(parse(&big_digits).unwrap().ais, ais(&[("11", "111111")]));
        assert!(parse(&"9".repeat(1_000_000)).is_err());
        let big_lot = format!("0109506000134352 10{}", "A".repeat(1_000_000));
        assert_eq!(err(&big_lot).code(), "gs1_field_too_long");
        let big_uri = format!(
            "https://example.com/01/09506000134352?{}",
            "a=b&".repeat(100_000)
        );
        assert!(parse(&big_uri).is_ok());
        let many = "<GS>".repeat(200_000);
        assert_eq!(err(&many), Gs1Error::Empty);
        assert!(looks_like_gs1(&many));
        assert!(!looks_like_gs1(&big_digits));
    }

    // --- property tests ------------------------------------------------------

    fn gtin14() -> impl Strategy<Value = String> {
        prop::collection::vec(0u8..=9, 13).prop_map(|body| {
            let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
            s.push(char::from(b'0' + gtin::check_digit(&body)));
            s
        })
    }

    fn cset82(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(
                "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
                    .chars()
                    .collect::<Vec<_>>(),
            ),
            1..=max,
        )
        .prop_map(|v| v.into_iter().collect::<String>())
        // "<GS>" inside a value is read as a separator by design.
        .prop_filter("contains <GS>", |s| !contains_ignore_ascii_case(s, "<GS>"))
    }

    fn yymmdd() -> impl Strategy<Value = String> {
        (0u32..=99, 1u32..=12, 0u32..=28).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
    }

    fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
        (gtin14(), cset82(20), yymmdd(), cset82(20)).prop_flat_map(|(g, lot, date, serial)| {
            Just(vec![
                ("01".to_string(), g),
                ("10".to_string(), lot),
                ("17".to_string(), date),
                ("21".to_string(), serial),
            ])
            .prop_shuffle()
        })
    }

    fn pct_encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_and_looks_like_never_panic(s in "\\PC*") {
            let _ = parse(&s);
            let _ = looks_like_gs1(&s);
        }

        #[test]
        fn never_panic_on_gs1ish_noise(
            prefix in prop::sample::select(vec!["", "]d2", "]Q1", "(", "https://h/", "https://h/01/", "http://"]),
            s in "[0-9()<>GSgsx\\\\%/?=&#:a-zA-Z\u{1d} é真-]{0,80}",
        ) {
            let input = format!("{prefix}{s}");
            let _ = parse(&input);
            let _ = looks_like_gs1(&input);
        }

        #[test]
        fn never_panic_on_arbitrary_bytes_as_lossy_utf8(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse(&s);
            let _ = looks_like_gs1(&s);
        }

        #[test]
        fn element_string_round_trip(
            fields in fields(),
            sep in prop::sample::select(vec!["\u{1d}", "<GS>", "\\x1d", "<gs>", "\\X1D"]),
            aim in prop::sample::select(vec!["", "]d2", "]Q3", "]C1"]),
            leading_fnc1 in any::<bool>(),
            trailing_sep in any::<bool>(),
        ) {
            let mut s = aim.to_string();
            if leading_fnc1 {
                s.push(GS);
            }
            for (i, (ai, v)) in fields.iter().enumerate() {
                s.push_str(ai);
                s.push_str(v);
                let variable = ai == "10" || ai == "21";
                if (variable && i + 1 < fields.len()) || (trailing_sep && i + 1 == fields.len()) {
                    s.push_str(sep);
                }
            }
            let d = parse(&s).unwrap();
            prop_assert_eq!(d.syntax, Gs1Syntax::ElementString);
            prop_assert_eq!(&d.ais, &fields);
            prop_assert!(looks_like_gs1(&s));
            // And the canonical element string parses back the same.
            prop_assert_eq!(parse(&d.to_element_string()).unwrap().ais, fields);
        }

        #[test]
        fn bracketed_round_trip(fields in fields(), spaced in any::<bool>()) {
            let mut s = String::new();
            for (ai, v) in &fields {
                s.push_str(&format!("({ai})"));
                if spaced {
                    s.push(' ');
                }
                s.push_str(&v.replace('(', "\\("));
                if spaced {
                    s.push(' ');
                }
            }
            let d = parse(&s).unwrap();
            prop_assert_eq!(d.syntax, Gs1Syntax::Bracketed);
            prop_assert_eq!(&d.ais, &fields);
            prop_assert!(looks_like_gs1(s.trim()));
            prop_assert_eq!(parse(&d.to_bracketed()).unwrap().ais, fields);
        }

        #[test]
        fn digital_link_round_trip(
            g in gtin14(), lot in cset82(20), serial in cset82(20), date in yymmdd(),
            host in "[a-z]{1,10}\\.[a-z]{2,3}",
            custom in prop::sample::select(vec!["", "/p", "/a/b/c"]),
            with_lot in any::<bool>(),
        ) {
            let mut uri = format!("https://{host}{custom}/01/{g}");
            let mut expected = vec![("01".to_string(), g.clone())];
            if with_lot {
                uri.push_str(&format!("/10/{}", pct_encode(&lot)));
                expected.push(("10".into(), lot.clone()));
            }
            uri.push_str(&format!("/21/{}?linktype=all&17={}", pct_encode(&serial), date));
            expected.push(("21".into(), serial.clone()));
            expected.push(("17".into(), date.clone()));
            let d = parse(&uri).unwrap();
            prop_assert_eq!(d.syntax, Gs1Syntax::DigitalLink);
            prop_assert_eq!(d.ais, expected);
            prop_assert!(looks_like_gs1(&uri));
        }
    }
}
