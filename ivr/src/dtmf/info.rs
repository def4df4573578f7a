//! DTMF in SIP INFO bodies.
//!
//! Two body formats exist in the wild, neither standardised by the IETF but both universal:
//! `application/dtmf-relay` (Cisco: `Signal=5\r\nDuration=160\r\n`) and `application/dtmf`
//! (the bare key, `5`). Some senders write `*` and `#` as event codes (`Signal=10`,
//! `Signal=11`). The SIP layer answers the INFO (200 for a digit, 415 for another content type)
//! and hands the digit to the call.

use super::Digit;

/// Why an INFO body carries no digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("content type {0:?} carries no DTMF")]
    UnsupportedType(String),
    #[error("no DTMF signal in the body")]
    NoSignal,
    #[error("signal {0:?} is not a DTMF key")]
    BadSignal(String),
}

/// The content types this module understands, for an Accept header.
pub const CONTENT_TYPES: &str = "application/dtmf-relay, application/dtmf";

fn signal(value: &str) -> Result<Digit, InfoError> {
    let v = value.trim();
    let bad = || InfoError::BadSignal(v.chars().take(16).collect());
    match v {
        "10" => return Ok(Digit::Star),
        "11" => return Ok(Digit::Hash),
        _ => {}
    }
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::from_char(c).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Reads the digit of an INFO body. `content_type` is the Content-Type header value (parameters
/// allowed).
pub fn parse(content_type: &str, body: &[u8]) -> Result<Digit, InfoError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    match mime.as_str() {
        "application/dtmf-relay" => {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("signal") {
                        return signal(v);
                    }
                }
            }
            Err(InfoError::NoSignal)
        }
        "application/dtmf" => {
            let t = text.trim();
            if t.is_empty() {
                return Err(InfoError::NoSignal);
            }
            signal(t)
        }
        _ => Err(InfoError::UnsupportedType(mime.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Ok(Digit::D5)
        );
        assert_eq!(
            parse("Application/DTMF-Relay", b"signal= #\nduration=100"),
            Ok(Digit::Hash)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Duration=160\r\nSignal=*\r\n"),
            Ok(Digit::Star)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=11\r\n"),
            Ok(Digit::Hash)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=10\r\n"),
            Ok(Digit::Star)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=d\r\n"),
            Ok(Digit::D)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Duration=160\r\n"),
            Err(InfoError::NoSignal)
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=55\r\n"),
            Err(InfoError::BadSignal("55".into()))
        );
        assert_eq!(
            parse("application/dtmf-relay", b"Signal=\r\n"),
            Err(InfoError::BadSignal("".into()))
        );
    }

    #[test]
    fn dtmf_bodies() {
        assert_eq!(parse("application/dtmf", b"5"), Ok(Digit::D5));
        assert_eq!(
            parse("application/dtmf; charset=x", b" #\r\n"),
            Ok(Digit::Hash)
        );
        assert_eq!(parse("application/dtmf", b""), Err(InfoError::NoSignal));
        assert_eq!(
            parse("application/dtmf", b"\xff\xfe"),
            Err(InfoError::BadSignal("\u{fffd}\u{fffd}".into()))
        );
    }

    #[test]
    fn other_types_are_refused() {
        assert_eq!(
            parse("application/media_control+xml", b"<x/>"),
            Err(InfoError::UnsupportedType(
                "application/media_control+xml".into()
            ))
        );
    }
}
