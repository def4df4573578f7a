//! # HTTP inbound in the style of Kannel's sms-service
//!
//! Operators often put an SMS gateway such as Kannel in front of an application: Kannel talks to
//! the operator's SMSC and, for each mobile-originated (MO) message, calls an HTTP URL of the
//! application; the body of the HTTP answer is sent back to the texter as the reply. This module
//! reads such a request and shapes the answer. It is sans-I/O: bytes and strings in, an
//! [`Inbound`] or an [`InboundError`] out; the server's hyper handler is a thin shell.
//!
//! What Kannel actually sends (smsbox, `gw/smsbox.c` and `gw/urltrans.c` of Kannel 1.4):
//!
//! * **`get-url`** — a GET whose query string is the configured pattern with escapes filled in:
//!   `%p` the sender, `%P` the receiver (short code), `%a`/`%b` the text, `%c` the coding
//!   (`0` 7-bit, `1` 8-bit, `2` UCS-2), `%C` the charset. We document
//!   `?from=%p&to=%P&text=%b&coding=%c&charset=%C`. `%b` is the message *as received*,
//!   URL-encoded byte by byte: for a GSM-7 message that is UTF-8 (Kannel's internal form), for a
//!   UCS-2 message (every Chinese SMS) it is the raw **UTF-16BE** bytes — unless the smsbox has
//!   `mo-recode = true`, which turns UCS-2 into UTF-8 first and reports coding 0, charset UTF-8.
//!   (`%a` is unsafe for UCS-2: Kannel splits it into words at `0x20` bytes, which occur inside
//!   UTF-16 characters.)
//! * **`post-url`** — a POST whose body is the text, with `Content-Type: text/plain;
//!   charset="UTF-16BE"` for UCS-2 (`UTF-8` otherwise) and `X-Kannel-From`, `X-Kannel-To`,
//!   `X-Kannel-Coding` headers.
//! * Other aggregators POST `application/x-www-form-urlencoded` with the same fields, and some
//!   send UCS-2 text as hex digits (`text=4F60597D&coding=8`).
//!
//! The reply: `200 text/plain; charset=utf-8`, the body the reply text. Kannel sends a
//! `text/plain` answer as 7-bit unless told otherwise, and a Chinese reply cannot be 7-bit, so a
//! reply that needs UCS-2 also carries `X-Kannel-Coding: 2`; Kannel then converts the UTF-8 body
//! to UTF-16BE itself (`charset_processing` in smsbox).

use crate::coding::{self, Coding};
use crate::gateway::Inbound;

/// Why an inbound request is refused (HTTP 400, the message as the plain-text body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("missing parameter {0:?}")]
    Missing(&'static str),
    #[error("parameter {0:?} is not validly URL-encoded")]
    BadEncoding(&'static str),
    #[error("text is not valid UTF-8; for UCS-2 send coding=2 (or charset=UTF-16BE)")]
    BadUtf8,
    #[error("text is not valid UTF-16BE (UCS-2)")]
    BadUcs2,
    #[error("unsupported charset {0:?}; use UTF-8, UTF-16BE or ISO-8859-1")]
    Charset(String),
    #[error("unsupported coding {0:?}; use 0 (7-bit), 1 (8-bit) or 2 (UCS-2)")]
    Coding(String),
}

/// Kannel's `X-Kannel-*` headers of a `post-url` request, when present.
#[derive(Clone, Debug, Default)]
pub struct KannelHeaders {
    pub from: Option<String>,
    pub to: Option<String>,
    pub coding: Option<String>,
}

/// Decodes `application/x-www-form-urlencoded` (also a query string): `+` is a space, `%XX` a
/// byte. Values stay bytes: the text may be UTF-16BE.
pub fn form_pairs(s: &[u8]) -> Result<Vec<(String, Vec<u8>)>, InboundError> {
    let mut out = Vec::new();
    for pair in s.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, |&b| b == b'=');
        let name = it.next().unwrap_or_default();
        let value = it.next().unwrap_or_default();
        let name = String::from_utf8_lossy(&percent_decode(name).unwrap_or_default()).into_owned();
        let value = match percent_decode(value) {
            Some(v) => v,
            None => return Err(InboundError::BadEncoding(field_name(&name))),
        };
        out.push((name, value));
    }
    Ok(out)
}

fn field_name(name: &str) -> &'static str {
    match name {
        "from" => "from",
        "to" => "to",
        "text" => "text",
        "charset" => "charset",
        "coding" => "coding",
        _ => "(other)",
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s.get(i) {
            Some(b'+') => out.push(b' '),
            Some(b'%') => {
                let hi = hex_val(*s.get(i + 1)?)?;
                let lo = hex_val(*s.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            Some(&b) => out.push(b),
            None => break,
        }
        i += 1;
    }
    Some(out)
}

/// How the text bytes are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextCoding {
    Utf8,
    Utf16Be,
    Latin1,
    /// Kannel's 8-bit: UTF-8 if it is valid UTF-8, Latin-1 otherwise.
    EightBit,
}

fn charset_coding(charset: &str) -> Result<Option<TextCoding>, InboundError> {
    let c = charset.trim().trim_matches('"').to_ascii_uppercase();
    Ok(match c.as_str() {
        "" => None,
        "UTF-8" | "UTF8" => Some(TextCoding::Utf8),
        "UTF-16BE" | "UTF-16" | "UCS-2" | "UCS2" | "UCS-2BE" => Some(TextCoding::Utf16Be),
        "ISO-8859-1" | "LATIN1" | "ISO8859-1" | "WINDOWS-1252" => Some(TextCoding::Latin1),
        "8-BIT" => Some(TextCoding::EightBit),
        _ => return Err(InboundError::Charset(charset.chars().take(40).collect())),
    })
}

fn coding_coding(coding: &str) -> Result<Option<TextCoding>, InboundError> {
    Ok(match coding.trim() {
        "" | "-1" | "0" => None,
        "1" | "4" => Some(TextCoding::EightBit),
        // Kannel says 2; SMPP data_coding says 8.
        "2" | "8" => Some(TextCoding::Utf16Be),
        "3" => Some(TextCoding::Latin1),
        other => return Err(InboundError::Coding(other.chars().take(10).collect())),
    })
}

fn decode_text(bytes: &[u8], coding: TextCoding) -> Result<String, InboundError> {
    match coding {
        TextCoding::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|_| InboundError::BadUtf8),
        TextCoding::Latin1 => Ok(coding::decode_latin1(bytes)),
        TextCoding::EightBit => {
            Ok(String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| coding::decode_latin1(bytes)))
        }
        TextCoding::Utf16Be => {
            // Hex digits standing for UCS-2 ("4F60597D"), as some aggregators send it: real
            // UTF-16BE text of ASCII would hold NUL bytes, so the two cannot be confused.
            let bytes = if !bytes.is_empty()
                && bytes.len().is_multiple_of(4)
                && bytes.iter().all(u8::is_ascii_hexdigit)
            {
                hex_bytes(bytes).ok_or(InboundError::BadUcs2)?
            } else {
                bytes.to_vec()
            };
            if !bytes.len().is_multiple_of(2) {
                return Err(InboundError::BadUcs2);
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| InboundError::BadUcs2)
        }
    }
}

fn hex_bytes(s: &[u8]) -> Option<Vec<u8>> {
    s.chunks_exact(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect()
}

fn utf8_field(v: Vec<u8>, name: &'static str) -> Result<String, InboundError> {
    String::from_utf8(v).map_err(|_| InboundError::BadEncoding(name))
}

/// Reads an inbound message from a request: its query string, its `Content-Type`, Kannel's
/// `X-Kannel-*` headers and its body (empty for a GET). Parameters in the body (a form POST)
/// take precedence over the query string; a `text/plain` body is the text itself
/// (Kannel's `post-url`).
pub fn inbound(
    query: Option<&str>,
    content_type: Option<&str>,
    headers: &KannelHeaders,
    body: &[u8],
) -> Result<Inbound, InboundError> {
    let mut params = form_pairs(query.unwrap_or("").as_bytes())?;
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let mut body_charset: Option<String> = None;
    let mut body_text: Option<Vec<u8>> = None;
    if ct.starts_with("application/x-www-form-urlencoded") {
        let mut form = form_pairs(body)?;
        form.append(&mut params);
        params = form;
    } else if ct.starts_with("text/plain") && !body.is_empty() {
        body_text = Some(body.to_vec());
        body_charset = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("charset="))
            .next()
            .map(|c| c.trim_matches('"').to_owned());
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let from = match get("from") {
        Some(v) => Some(utf8_field(v, "from")?),
        None => headers.from.clone(),
    }
    .filter(|s| !s.trim().is_empty())
    .ok_or(InboundError::Missing("from"))?;
    let to = match get("to") {
        Some(v) => utf8_field(v, "to")?,
        None => headers.to.clone().unwrap_or_default(),
    };
    let text_bytes = get("text")
        .or(body_text)
        .ok_or(InboundError::Missing("text"))?;
    let charset = match get("charset") {
        Some(v) => Some(utf8_field(v, "charset")?),
        None => body_charset,
    };
    let coding = match get("coding") {
        Some(v) => Some(utf8_field(v, "coding")?),
        None => headers.coding.clone(),
    };
    // An explicit UCS-2 coding wins over a charset (Kannel's %C says UTF-16BE then anyway).
    let by_coding = coding_coding(coding.as_deref().unwrap_or(""))?;
    let by_charset = charset_coding(charset.as_deref().unwrap_or(""))?;
    let how = match (by_coding, by_charset) {
        (Some(TextCoding::Utf16Be), _) => TextCoding::Utf16Be,
        (_, Some(c)) => c,
        (Some(c), None) => c,
        (None, None) => TextCoding::Utf8,
    };
    let text = decode_text(&text_bytes, how)?;
    Ok(Inbound { from, to, text })
}

/// The `X-Kannel-Coding` header value a reply needs: `2` when it is UCS-2, none when GSM-7.
pub fn reply_coding(reply: &str) -> Option<&'static str> {
    match coding::choose(reply) {
        Coding::Ucs2 => Some("2"),
        Coding::Gsm7 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn get(q: &str) -> Result<Inbound, InboundError> {
        inbound(Some(q), None, &KannelHeaders::default(), b"")
    }

    #[test]
    fn utf8_get_url() {
        let m = get(
            "from=%2B8613812345678&to=10658&text=%E9%AA%8C%E8%AF%81+1234&coding=0&charset=UTF-8",
        )
        .unwrap();
        assert_eq!(m.from, "+8613812345678");
        assert_eq!(m.to, "10658");
        assert_eq!(m.text, "验证 1234");
    }

    #[test]
    fn ucs2_as_kannel_sends_it_with_percent_b() {
        // "验证 12" in UTF-16BE: 9A8C 8BC1 0020 0031 0032.
        let m = get(
            "from=13812345678&to=10658&text=%9A%8C%8B%C1%00+%001%002&coding=2&charset=UTF-16BE",
        )
        .unwrap();
        assert_eq!(m.text, "验证 12");
        // charset alone is enough.
        let m = get("from=1&text=%9A%8C%8B%C1&charset=UTF-16BE").unwrap();
        assert_eq!(m.text, "验证");
    }

    #[test]
    fn ucs2_as_hex_digits() {
        let m = get("from=1&text=9A8C8BC1&coding=8").unwrap();
        assert_eq!(m.text, "验证");
    }

    #[test]
    fn latin1_and_8bit() {
        assert_eq!(
            get("from=1&text=caf%E9&charset=ISO-8859-1").unwrap().text,
            "café"
        );
        assert_eq!(get("from=1&text=caf%E9&coding=1").unwrap().text, "café");
        assert_eq!(get("from=1&text=caf%C3%A9&coding=1").unwrap().text, "café");
    }

    #[test]
    fn post_form_and_kannel_post_url() {
        let m = inbound(
            None,
            Some("application/x-www-form-urlencoded"),
            &KannelHeaders::default(),
            b"from=138&to=106&text=HELP",
        )
        .unwrap();
        assert_eq!((m.from.as_str(), m.text.as_str()), ("138", "HELP"));
        let headers = KannelHeaders {
            from: Some("+8613812345678".into()),
            to: Some("10658".into()),
            coding: Some("2".into()),
        };
        let m = inbound(
            None,
            Some("text/plain; charset=\"UTF-16BE\""),
            &headers,
            &[0x9A, 0x8C, 0x8B, 0xC1],
        )
        .unwrap();
        assert_eq!(
            (m.from.as_str(), m.to.as_str(), m.text.as_str()),
            ("+8613812345678", "10658", "验证")
        );
    }

    #[test]
    fn bad_requests_are_explained() {
        assert_eq!(get("text=hi"), Err(InboundError::Missing("from")));
        assert_eq!(get("from=1"), Err(InboundError::Missing("text")));
        assert_eq!(get("from=1&text=%FF"), Err(InboundError::BadUtf8));
        assert_eq!(get("from=1&text=%9A&coding=2"), Err(InboundError::BadUcs2));
        assert_eq!(
            get("from=1&text=%D8%00&coding=2"),
            Err(InboundError::BadUcs2)
        );
        assert_eq!(
            get("from=1&text=%G1"),
            Err(InboundError::BadEncoding("text"))
        );
        assert_eq!(
            get("from=1&text=a&charset=KOI8-R"),
            Err(InboundError::Charset("KOI8-R".into()))
        );
        assert_eq!(
            get("from=1&text=a&coding=9"),
            Err(InboundError::Coding("9".into()))
        );
        assert_eq!(
            InboundError::BadUtf8.to_string(),
            "text is not valid UTF-8; for UCS-2 send coding=2 (or charset=UTF-16BE)"
        );
    }

    #[test]
    fn reply_coding_header() {
        assert_eq!(reply_coding("正品"), Some("2"));
        assert_eq!(reply_coding("Genuine: Infant formula."), None);
    }

    proptest! {
        #[test]
        fn never_panics(q in proptest::collection::vec(any::<u8>(), 0..200), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let q = String::from_utf8_lossy(&q);
            for ct in [None, Some("application/x-www-form-urlencoded"), Some("text/plain; charset=UTF-16BE")] {
                let _ = inbound(Some(&q), ct, &KannelHeaders::default(), &body);
            }
        }
    }
}
