//! # SMS character coding: GSM-7 or UCS-2, lengths, and concatenated parts
//!
//! A short message carries 140 octets. Handsets and SMSCs agree on how text fills them through
//! the *data coding scheme* (SMPP `data_coding`):
//!
//! - **0 — GSM 03.38 default alphabet** ("GSM-7"): 128 characters (Latin letters, digits, some
//!   Greek capitals, a few accented letters), each one *septet*; 140 octets hold 160 septets. A
//!   handful of further characters (`€ [ ] { } \ ^ ~ |` and form feed) live in an *extension
//!   table* reached through the escape septet `0x1B`, so each of them costs **two** septets.
//!   Over SMPP the septets travel *unpacked*, one per octet; the SMSC packs them for the air.
//! - **8 — UCS-2** (big-endian UTF-16 code units): anything else, Chinese included; 70 code units
//!   per message. Characters outside the Basic Multilingual Plane (emoji) take a *surrogate pair*,
//!   i.e. two units.
//!
//! A text that does not fit one message is sent as *concatenated parts*: each part starts with a
//! User Data Header (UDH; SMPP flags it with `esm_class` bit 0x40) that names a reference number,
//! the number of parts and this part's position. The 6-octet header (`05 00 03 ref total seq`,
//! information element 0x00 = 8-bit reference) leaves room for 153 septets or 67 UCS-2 units per
//! part. A part never ends in the middle of an escape pair or a surrogate pair: the receiver
//! decodes each part on its own before joining them.
//!
//! Everything here is pure functions over `&str` and bytes; nothing panics on any input.

use thiserror::Error;

/// The escape septet that selects the extension table for the next septet.
const ESCAPE: u8 = 0x1B;

/// GSM 03.38 default alphabet, indexed by septet value. Position 0x1B is the escape septet; it
/// decodes (when it stands alone) as a space, the specification's advice for unknown escapes.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after the escape, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// SMPP `data_coding` value for the SMSC default alphabet (GSM-7 here).
pub const DATA_CODING_DEFAULT: u8 = 0;
/// SMPP `data_coding` value for ISO-8859-1 (some SMSCs deliver MO text this way).
pub const DATA_CODING_LATIN1: u8 = 3;
/// SMPP `data_coding` value for UCS-2.
pub const DATA_CODING_UCS2: u8 = 8;

/// Septets in one unconcatenated GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets in one part of a concatenated GSM-7 message (after the 6-octet UDH).
pub const GSM7_PART: usize = 153;
/// UCS-2 code units in one unconcatenated message.
pub const UCS2_SINGLE: usize = 70;
/// UCS-2 code units in one part of a concatenated message.
pub const UCS2_PART: usize = 67;
/// A concatenated message has at most 255 parts (the count is one octet).
pub const MAX_PARTS: usize = 255;

/// Why a text could not be encoded or bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodingError {
    /// The character has no GSM-7 representation.
    #[error("character {0:?} is not in the GSM 03.38 alphabet")]
    NotGsm7(char),
    /// A GSM-7 octet above 0x7F (septets are seven bits).
    #[error("octet {0:#04x} is not a GSM-7 septet")]
    NotSeptet(u8),
    /// UCS-2 data of odd length.
    #[error("UCS-2 data has an odd number of octets ({0})")]
    OddUcs2Length(usize),
    /// A data coding this gateway does not read.
    #[error("data_coding {0:#04x} is not supported")]
    UnsupportedDataCoding(u8),
    /// The text needs more than 255 parts.
    #[error("text needs {0} parts; at most 255 fit one concatenated message")]
    TooLong(usize),
    /// The user data header is cut short or its length points past the message.
    #[error("malformed user data header")]
    MalformedUdh,
}

/// The two codings a reply can go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// GSM 03.38 default alphabet, unpacked septets (`data_coding` 0).
    Gsm7,
    /// UCS-2 big-endian (`data_coding` 8).
    Ucs2,
}

impl Coding {
    /// The SMPP `data_coding` value for this coding.
    pub fn data_coding(self) -> u8 {
        match self {
            Coding::Gsm7 => DATA_CODING_DEFAULT,
            Coding::Ucs2 => DATA_CODING_UCS2,
        }
    }

    /// Units (septets or UTF-16 code units) that fit one unconcatenated message.
    pub fn single_limit(self) -> usize {
        match self {
            Coding::Gsm7 => GSM7_SINGLE,
            Coding::Ucs2 => UCS2_SINGLE,
        }
    }

    /// Units that fit one part of a concatenated message.
    pub fn part_limit(self) -> usize {
        match self {
            Coding::Gsm7 => GSM7_PART,
            Coding::Ucs2 => UCS2_PART,
        }
    }
}

/// The septets for one character: one for the basic table, two (escape + code) for the
/// extension table, `None` when GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<([u8; 2], usize)> {
    if let Some(pos) = BASIC.iter().position(|&b| b == c) {
        // The escape slot holds a space only for decoding; a space itself is septet 0x20.
        if pos != usize::from(ESCAPE) {
            return u8::try_from(pos).ok().map(|s| ([s, 0], 1));
        }
        return Some(([0x20, 0], 1));
    }
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| ([ESCAPE, code], 2))
}

/// Septets needed for one character, or `None` when it is not in GSM-7.
pub fn gsm7_char_len(c: char) -> Option<usize> {
    gsm7_septets(c).map(|(_, n)| n)
}

/// Whether every character of `text` has a GSM-7 representation.
pub fn fits_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Septets `text` takes in GSM-7 (extension characters count two), or `None` when it does not
/// fit GSM-7.
pub fn gsm7_len(text: &str) -> Option<usize> {
    text.chars().map(gsm7_char_len).sum()
}

/// UTF-16 code units `text` takes in UCS-2 (a surrogate pair counts two).
pub fn ucs2_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The coding a text goes out in: GSM-7 when every character fits, UCS-2 otherwise.
pub fn choose(text: &str) -> Coding {
    if fits_gsm7(text) {
        Coding::Gsm7
    } else {
        Coding::Ucs2
    }
}

/// How a text will travel: its coding, its length in that coding's units, and how many
/// messages it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// GSM-7 or UCS-2.
    pub coding: Coding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Messages needed: 1 when it fits one segment, otherwise the concatenated part count.
    pub parts: usize,
}

impl Measure {
    /// Whether the text fits one unconcatenated message.
    pub fn is_single(&self) -> bool {
        self.parts <= 1
    }
}

/// Measures `text` (see [`Measure`]). An empty text is one (empty) message.
pub fn measure(text: &str) -> Measure {
    let coding = choose(text);
    let units = match coding {
        Coding::Gsm7 => gsm7_len(text).unwrap_or(0),
        Coding::Ucs2 => ucs2_len(text),
    };
    let parts = if units <= coding.single_limit() {
        1
    } else {
        chunk(text, coding).len()
    };
    Measure {
        coding,
        units,
        parts,
    }
}

/// Encodes `text` as unpacked GSM-7 septets (one per octet), as SMPP carries `data_coding` 0.
pub fn encode_gsm7(text: &str) -> Result<Vec<u8>, CodingError> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (septets, n) = gsm7_septets(c).ok_or(CodingError::NotGsm7(c))?;
        out.extend_from_slice(septets.get(..n).unwrap_or(&[]));
    }
    Ok(out)
}

/// Encodes `text` as UCS-2 big-endian (UTF-16BE: characters beyond the BMP as surrogate pairs).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Encodes `text` in `coding`.
pub fn encode(text: &str, coding: Coding) -> Result<Vec<u8>, CodingError> {
    match coding {
        Coding::Gsm7 => encode_gsm7(text),
        Coding::Ucs2 => Ok(encode_ucs2(text)),
    }
}

/// Decodes unpacked GSM-7 septets. An escape followed by a septet the extension table lacks
/// decodes as that septet's basic character (GSM 03.38's rule); a trailing escape as a space.
pub fn decode_gsm7(bytes: &[u8]) -> Result<String, CodingError> {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        let basic = |s: u8| -> Result<char, CodingError> {
            BASIC
                .get(usize::from(s))
                .copied()
                .ok_or(CodingError::NotSeptet(s))
        };
        if b == ESCAPE {
            match iter.next() {
                Some(next) => match EXTENSION.iter().find(|&&(code, _)| code == next) {
                    Some(&(_, c)) => out.push(c),
                    None => out.push(basic(next)?),
                },
                None => out.push(' '),
            }
        } else {
            out.push(basic(b)?);
        }
    }
    Ok(out)
}

/// Decodes UCS-2 / UTF-16BE. A lone surrogate becomes U+FFFD rather than an error: a handset
/// that split a pair badly should still be read.
pub fn decode_ucs2(bytes: &[u8]) -> Result<String, CodingError> {
    if bytes.len() & 1 == 1 {
        return Err(CodingError::OddUcs2Length(bytes.len()));
    }
    let units = bytes.chunks_exact(2).map(|p| {
        u16::from_be_bytes([
            p.first().copied().unwrap_or(0),
            p.get(1).copied().unwrap_or(0),
        ])
    });
    Ok(char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect())
}

/// Decodes ISO-8859-1 (each octet is the code point).
pub fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Decodes a message body given its SMPP `data_coding`. Only the alphabet bits matter: the
/// general data coding group (0x0X) and the message class group (0xF0–0xFF, bit 2 = 8-bit data).
pub fn decode(data_coding: u8, bytes: &[u8]) -> Result<String, CodingError> {
    match data_coding {
        DATA_CODING_DEFAULT | 0x01 => decode_gsm7(bytes),
        DATA_CODING_LATIN1 => Ok(decode_latin1(bytes)),
        DATA_CODING_UCS2 => decode_ucs2(bytes),
        0xF0..=0xF3 => decode_gsm7(bytes),
        // General data coding with the alphabet in bits 3..2: 00 = GSM-7, 10 = UCS-2.
        0x10..=0x3F if data_coding & 0x0C == 0x00 => decode_gsm7(bytes),
        0x10..=0x3F if data_coding & 0x0C == 0x08 => decode_ucs2(bytes),
        other => Err(CodingError::UnsupportedDataCoding(other)),
    }
}

/// Splits `text` into chunks of at most `coding.part_limit()` units, never inside an escape
/// pair (a GSM-7 extension character is one `char` costing two septets) or a surrogate pair
/// (one `char` costing two units). Empty text gives no chunks.
fn chunk(text: &str, coding: Coding) -> Vec<&str> {
    let limit = coding.part_limit();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let cost = match coding {
            Coding::Gsm7 => gsm7_char_len(c).unwrap_or(1),
            Coding::Ucs2 => c.len_utf16(),
        };
        if used + cost > limit {
            chunks.push(text.get(start..i).unwrap_or(""));
            start = i;
            used = 0;
        }
        used += cost;
    }
    if start < text.len() {
        chunks.push(text.get(start..).unwrap_or(""));
    }
    chunks
}

/// A text encoded for sending: the coding, and one `short_message` body per message. When there
/// are several, each body starts with the concatenation UDH and must be sent with `esm_class`
/// bit 0x40 (UDHI) set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The coding of every part.
    pub coding: Coding,
    /// The `short_message` octets of each part, UDH included when concatenated.
    pub parts: Vec<Vec<u8>>,
}

impl Encoded {
    /// Whether the parts carry a UDH (more than one part).
    pub fn has_udh(&self) -> bool {
        self.parts.len() > 1
    }
}

/// Encodes `text` for sending: one message when it fits, otherwise concatenated parts whose UDH
/// carries `reference` (pick a different one per concatenated message to the same handset).
pub fn split(text: &str, reference: u8) -> Result<Encoded, CodingError> {
    let coding = choose(text);
    let units = match coding {
        Coding::Gsm7 => gsm7_len(text).unwrap_or(0),
        Coding::Ucs2 => ucs2_len(text),
    };
    if units <= coding.single_limit() {
        return Ok(Encoded {
            coding,
            parts: vec![encode(text, coding)?],
        });
    }
    let chunks = chunk(text, coding);
    let total = u8::try_from(chunks.len())
        .ok()
        .filter(|&t| usize::from(t) <= MAX_PARTS)
        .ok_or(CodingError::TooLong(chunks.len()))?;
    let mut parts = Vec::with_capacity(chunks.len());
    for (seq, piece) in (1..=total).zip(chunks) {
        let mut body = vec![0x05, 0x00, 0x03, reference, total, seq];
        body.extend(encode(piece, coding)?);
        parts.push(body);
    }
    Ok(Encoded { coding, parts })
}

/// Where a received part belongs in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The sender's reference number (8- or 16-bit information element).
    pub reference: u16,
    /// Parts in the whole message (1..=255).
    pub total: u8,
    /// This part's position, 1-based.
    pub seq: u8,
}

/// Splits a `short_message` sent with UDHI into its concatenation information (if the header
/// has a valid concatenation element, IEI 0x00 or 0x08) and the payload after the header.
pub fn parse_udh(short_message: &[u8]) -> Result<(Option<Concat>, &[u8]), CodingError> {
    let (&udhl, rest) = short_message
        .split_first()
        .ok_or(CodingError::MalformedUdh)?;
    let udhl = usize::from(udhl);
    let header = rest.get(..udhl).ok_or(CodingError::MalformedUdh)?;
    let payload = rest.get(udhl..).ok_or(CodingError::MalformedUdh)?;
    let mut concat = None;
    let mut ies = header;
    while let [iei, len, tail @ ..] = ies {
        let len = usize::from(*len);
        let data = tail.get(..len).ok_or(CodingError::MalformedUdh)?;
        ies = tail.get(len..).unwrap_or(&[]);
        let found = match (*iei, data) {
            (0x00, &[reference, total, seq]) => Some((u16::from(reference), total, seq)),
            (0x08, &[hi, lo, total, seq]) => Some((u16::from_be_bytes([hi, lo]), total, seq)),
            _ => None,
        };
        if let Some((reference, total, seq)) = found {
            if total >= 1 && seq >= 1 && seq <= total {
                concat = Some(Concat {
                    reference,
                    total,
                    seq,
                });
            }
        }
    }
    if !ies.is_empty() {
        return Err(CodingError::MalformedUdh);
    }
    Ok((concat, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_table_round_trips_every_septet() {
        for s in 0u8..128 {
            if s == ESCAPE {
                continue;
            }
            let text = decode_gsm7(&[s]).unwrap();
            assert_eq!(
                encode_gsm7(&text).unwrap(),
                vec![s],
                "septet {s:#04x} {text:?}"
            );
        }
    }

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(encode_gsm7("€").unwrap(), vec![0x1B, 0x65]);
        assert_eq!(
            encode_gsm7("a[b]").unwrap(),
            vec![0x61, 0x1B, 0x3C, 0x62, 0x1B, 0x3E]
        );
        assert_eq!(gsm7_len("{}|~^\\€"), Some(14));
        assert_eq!(gsm7_len("Hello"), Some(5));
        assert_eq!(decode_gsm7(&[0x1B, 0x65, 0x41]).unwrap(), "€A");
    }

    #[test]
    fn well_known_mappings() {
        assert_eq!(
            encode_gsm7("@£$¥_Δ").unwrap(),
            vec![0x00, 0x01, 0x02, 0x03, 0x11, 0x10]
        );
        assert_eq!(encode_gsm7("¡¿§à").unwrap(), vec![0x40, 0x60, 0x5F, 0x7F]);
        assert_eq!(encode_gsm7(" 0Aa").unwrap(), vec![0x20, 0x30, 0x41, 0x61]);
        assert_eq!(encode_gsm7("\n\r").unwrap(), vec![0x0A, 0x0D]);
    }

    #[test]
    fn unknown_escape_and_trailing_escape_decode_leniently() {
        // ESC + 'A' (not in the extension table) shows the basic character.
        assert_eq!(decode_gsm7(&[0x1B, 0x41]).unwrap(), "A");
        assert_eq!(decode_gsm7(&[0x41, 0x1B]).unwrap(), "A ");
    }

    #[test]
    fn non_septet_octets_are_an_error() {
        assert_eq!(
            decode_gsm7(&[0x41, 0x80]),
            Err(CodingError::NotSeptet(0x80))
        );
        assert_eq!(
            decode_gsm7(&[0x1B, 0xFF]),
            Err(CodingError::NotSeptet(0xFF))
        );
    }

    #[test]
    fn chinese_and_emoji_need_ucs2() {
        assert_eq!(choose("验证 123"), Coding::Ucs2);
        assert_eq!(choose("CHECK 123 €"), Coding::Gsm7);
        assert_eq!(choose("naïve"), Coding::Ucs2); // ï is not in GSM-7
        assert_eq!(encode_ucs2("真伪"), vec![0x77, 0x1F, 0x4F, 0x2A]);
        assert_eq!(encode_ucs2("😀"), vec![0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(ucs2_len("a😀"), 3);
        assert_eq!(
            decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00, 0x00, 0x41]).unwrap(),
            "😀A"
        );
    }

    #[test]
    fn ucs2_errors_and_lone_surrogates() {
        assert_eq!(decode_ucs2(&[0x00]), Err(CodingError::OddUcs2Length(1)));
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0x00, 0x41]).unwrap(), "\u{FFFD}A");
    }

    #[test]
    fn decode_by_data_coding() {
        assert_eq!(decode(0, &[0x48, 0x69]).unwrap(), "Hi");
        assert_eq!(decode(8, &[0x77, 0x1F]).unwrap(), "真");
        assert_eq!(decode(3, &[0xE9]).unwrap(), "é");
        assert_eq!(decode(0x18, &[0x77, 0x1F]).unwrap(), "真");
        assert_eq!(decode(0xF0, &[0x41]).unwrap(), "A");
        assert_eq!(
            decode(4, &[0x41]),
            Err(CodingError::UnsupportedDataCoding(4))
        );
    }

    #[test]
    fn measure_single_segment_limits() {
        let gsm160 = "a".repeat(160);
        assert_eq!(
            measure(&gsm160),
            Measure {
                coding: Coding::Gsm7,
                units: 160,
                parts: 1
            }
        );
        let gsm161 = "a".repeat(161);
        assert_eq!(measure(&gsm161).parts, 2);
        // 80 euro signs are 160 septets: still one message; 81 are not.
        assert_eq!(measure(&"€".repeat(80)).parts, 1);
        assert_eq!(measure(&"€".repeat(81)).parts, 2);
        let zh70 = "真".repeat(70);
        assert_eq!(
            measure(&zh70),
            Measure {
                coding: Coding::Ucs2,
                units: 70,
                parts: 1
            }
        );
        assert_eq!(measure(&"真".repeat(71)).parts, 2);
        assert_eq!(measure(&"真".repeat(134)).parts, 2);
        assert_eq!(measure(&"真".repeat(135)).parts, 3);
        assert_eq!(measure("").parts, 1);
    }

    #[test]
    fn split_single_has_no_udh() {
        let e = split("Genuine: ACME tea, first query", 7).unwrap();
        assert_eq!(e.coding, Coding::Gsm7);
        assert!(!e.has_udh());
        assert_eq!(
            e.parts,
            vec![encode_gsm7("Genuine: ACME tea, first query").unwrap()]
        );
    }

    #[test]
    fn split_gsm7_into_153_septet_parts_with_udh() {
        let text = "x".repeat(400);
        let e = split(&text, 0x2A).unwrap();
        assert_eq!(e.parts.len(), 3);
        for (i, part) in e.parts.iter().enumerate() {
            assert_eq!(&part[..6], &[0x05, 0x00, 0x03, 0x2A, 3, (i + 1) as u8]);
        }
        assert_eq!(e.parts[0].len(), 6 + 153);
        assert_eq!(e.parts[1].len(), 6 + 153);
        assert_eq!(e.parts[2].len(), 6 + 94);
    }

    #[test]
    fn split_never_breaks_an_escape_pair() {
        // 152 'a' then '€': the euro would straddle septet 153/154, so it starts part two.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let e = split(&text, 1).unwrap();
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].len(), 6 + 152);
        assert_eq!(&e.parts[1][6..8], &[0x1B, 0x65]);
        let joined: String = e
            .parts
            .iter()
            .map(|p| decode_gsm7(&p[6..]).unwrap())
            .collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn split_ucs2_into_67_unit_parts_never_breaking_a_surrogate_pair() {
        let text = "真".repeat(100);
        let e = split(&text, 9).unwrap();
        assert_eq!(e.coding, Coding::Ucs2);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].len(), 6 + 134);
        assert_eq!(e.parts[1].len(), 6 + 66);

        let text = format!("{}😀{}", "真".repeat(66), "伪".repeat(10));
        let e = split(&text, 9).unwrap();
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].len(), 6 + 132);
        assert_eq!(&e.parts[1][6..8], &[0xD8, 0x3D]);
    }

    #[test]
    fn split_refuses_more_than_255_parts() {
        let text = "a".repeat(153 * 255 + 1);
        assert_eq!(split(&text, 0), Err(CodingError::TooLong(256)));
        assert_eq!(split(&"a".repeat(153 * 255), 0).unwrap().parts.len(), 255);
    }

    #[test]
    fn parse_udh_reads_8_and_16_bit_references() {
        let (c, rest) = parse_udh(&[0x05, 0x00, 0x03, 0x2A, 3, 2, 0x41]).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 0x2A,
                total: 3,
                seq: 2
            })
        );
        assert_eq!(rest, &[0x41]);
        let (c, rest) = parse_udh(&[0x06, 0x08, 0x04, 0x12, 0x34, 2, 1]).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 0x1234,
                total: 2,
                seq: 1
            })
        );
        assert!(rest.is_empty());
        // Another element (port addressing) before the concatenation element.
        let (c, _) = parse_udh(&[
            0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 7, 2, 2,
        ])
        .unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 7,
                total: 2,
                seq: 2
            })
        );
        // seq 0 or seq > total is not concatenation.
        assert_eq!(parse_udh(&[0x05, 0x00, 0x03, 1, 2, 3]).unwrap().0, None);
    }

    #[test]
    fn parse_udh_rejects_truncated_headers() {
        assert_eq!(parse_udh(&[]), Err(CodingError::MalformedUdh));
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03]),
            Err(CodingError::MalformedUdh)
        );
        assert_eq!(
            parse_udh(&[0x03, 0x00, 0x03, 1]),
            Err(CodingError::MalformedUdh)
        );
    }

    fn gsm7_char() -> impl Strategy<Value = char> {
        let mut all: Vec<char> = BASIC.to_vec();
        all.remove(usize::from(ESCAPE));
        all.extend(EXTENSION.iter().map(|&(_, c)| c));
        proptest::sample::select(all)
    }

    proptest! {
        #[test]
        fn gsm7_round_trips(text in proptest::collection::vec(gsm7_char(), 0..400)) {
            let text: String = text.into_iter().collect();
            let bytes = encode_gsm7(&text).unwrap();
            prop_assert_eq!(bytes.len(), gsm7_len(&text).unwrap());
            prop_assert_eq!(decode_gsm7(&bytes).unwrap(), text);
        }

        #[test]
        fn ucs2_round_trips(text in any::<String>()) {
            let bytes = encode_ucs2(&text);
            prop_assert_eq!(bytes.len(), 2 * ucs2_len(&text));
            prop_assert_eq!(decode_ucs2(&bytes).unwrap(), text);
        }

        #[test]
        fn split_parts_reassemble(
            text in prop_oneof![
                proptest::collection::vec(gsm7_char(), 0..700).prop_map(|v| v.into_iter().collect::<String>()),
                ".{0,300}",
            ],
            reference in any::<u8>(),
        ) {
            let e = split(&text, reference).unwrap();
            let m = measure(&text);
            prop_assert_eq!(e.parts.len(), m.parts);
            prop_assert_eq!(e.coding, m.coding);
            let mut joined = String::new();
            for (i, part) in e.parts.iter().enumerate() {
                let payload = if e.has_udh() {
                    let (c, payload) = parse_udh(part).unwrap();
                    let c = c.unwrap();
                    prop_assert_eq!(c.reference, u16::from(reference));
                    prop_assert_eq!(usize::from(c.total), e.parts.len());
                    prop_assert_eq!(usize::from(c.seq), i + 1);
                    let limit = match e.coding { Coding::Gsm7 => GSM7_PART, Coding::Ucs2 => 2 * UCS2_PART };
                    prop_assert!(payload.len() <= limit);
                    payload
                } else {
                    let limit = match e.coding { Coding::Gsm7 => GSM7_SINGLE, Coding::Ucs2 => 2 * UCS2_SINGLE };
                    prop_assert!(part.len() <= limit);
                    &part[..]
                };
                // Each part decodes on its own: no split escape or surrogate pair.
                let piece = decode(e.coding.data_coding(), payload).unwrap();
                let bad = char::REPLACEMENT_CHARACTER;
                prop_assert!(!piece.contains(bad) || text.contains(bad));
                joined.push_str(&piece);
            }
            prop_assert_eq!(joined, text);
        }

        #[test]
        fn decoders_and_udh_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), dc in any::<u8>()) {
            let _ = decode(dc, &bytes);
            let _ = parse_udh(&bytes);
        }
    }
}
