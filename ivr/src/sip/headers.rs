//! Header fields: the ordered list a message carries, header names with their compact forms,
//! and the typed values the user agent relies on — `Via`, name-addr (`From`, `To`, `Contact`,
//! `Route`, `Refer-To`) and `CSeq`.
//!
//! A header name is matched case-insensitively and in either form (`v` is `Via`, `i` is
//! `Call-ID`). A message may carry a comma-separated header as several lines or as one line with
//! commas; [`Headers::values`] gives the elements either way.

use nom::bytes::complete::take_while1;
use nom::character::complete::char;
use nom::combinator::opt;
use nom::sequence::preceded;
use nom::Parser;

use super::grammar::{self, lws, param, params, quoted_string, sws, token, Param};
use super::uri::{split_hostport, Uri, UriError};

/// One header line: the name as written and the unfolded, trimmed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The long lower-case form of a header name (`v` → `via`, `Content-Length` → `content-length`).
pub fn canonical(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "r" => "refer-to",
        "b" => "referred-by",
        "u" => "allow-events",
        other => return other.to_string(),
    };
    long.to_string()
}

/// The header lines of a message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: name.to_string(),
            value: value.into(),
        });
    }

    /// Every line named `name` (either form, any case).
    pub fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let want = canonical(name);
        self.0
            .iter()
            .filter(move |h| canonical(&h.name) == want)
            .map(|h| h.value.as_str())
    }

    /// The first line named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// The single line named `name`: `Ok(None)` when absent, `Err` when repeated.
    pub fn single(&self, name: &str) -> Result<Option<&str>, HeaderError> {
        let mut all = self.all(name);
        let first = all.next();
        if all.next().is_some() {
            return Err(HeaderError::Repeated(canonical(name)));
        }
        Ok(first)
    }

    /// The comma-separated elements of every line named `name`.
    pub fn values(&self, name: &str) -> Result<Vec<&str>, HeaderError> {
        let mut out = Vec::new();
        for v in self.all(name) {
            out.extend(
                grammar::split_list(v).ok_or_else(|| HeaderError::Malformed {
                    name: canonical(name),
                    why: "an empty list element".into(),
                })?,
            );
        }
        Ok(out)
    }

    /// Whether a comma-separated header (`Accept`, `Require`…) lists `item` (case-insensitive).
    pub fn lists(&self, name: &str, item: &str) -> bool {
        self.values(name).unwrap_or_default().iter().any(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(item)
        })
    }

    /// Writes `Name: value\r\n` for every line.
    pub fn write(&self, out: &mut Vec<u8>) {
        for h in &self.0 {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A header the user agent needs is missing, repeated or malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("missing {0} header")]
    Missing(String),
    #[error("more than one {0} header")]
    Repeated(String),
    #[error("malformed {name} header: {why}")]
    Malformed { name: String, why: String },
}

impl HeaderError {
    pub fn malformed(name: &str, why: impl ToString) -> HeaderError {
        HeaderError::Malformed {
            name: name.to_string(),
            why: why.to_string(),
        }
    }
}

/// One `Via` element: `SIP/2.0/UDP host:port;branch=…;received=…;rport`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0` as written (other versions parse too).
    pub protocol: String,
    /// `UDP`, `TCP`, `TLS`, `SCTP` or any other token, upper-cased.
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

/// The RFC 3261 magic cookie that starts every branch of a compliant client.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl Via {
    /// Parses one Via element (white space allowed around `/`, `:`, `;` and `=`).
    pub fn parse(text: &str) -> Result<Via, HeaderError> {
        let bad = |why: &str| HeaderError::malformed("via", why);
        let slash = |i| (sws, char('/'), sws).parse(i);
        let (rest, (name, _, version, _, transport, _)) = (token, slash, token, slash, token, lws)
            .parse(text)
            .map_err(|_| bad("expected SIP/2.0/TRANSPORT and a sent-by"))?;
        let (rest, sent_by) = (
            take_while1(|c: char| c.is_ascii_alphanumeric() || "-.[]:".contains(c)),
            opt(preceded(
                (sws, char(':'), sws),
                nom::character::complete::digit1,
            )),
        )
            .map(|(h, p): (&str, Option<&str>)| match p {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
            .parse(rest)
            .map_err(|_: nom::Err<nom::error::Error<&str>>| bad("malformed sent-by"))?;
        let (host, port) = split_hostport(&sent_by).map_err(|e| bad(&e.to_string()))?;
        let (rest, params) = params(rest).map_err(|_| bad("malformed parameters"))?;
        if !rest.trim().is_empty() {
            return Err(bad("unexpected text after the parameters"));
        }
        Ok(Via {
            protocol: format!("{name}/{version}"),
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        param(&self.params, "branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie and something after it (a bare
    /// cookie identifies nothing, RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
    }

    /// `host[:port]`, the sent-by.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.clone(),
        }
    }

    /// Sets `received` (when the packet came from another address than the sent-by host) and
    /// fills in an empty `rport` (RFC 3581), as a server does to the top Via of a request.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        let ip = source.ip().to_string();
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host != ip {
            self.params
                .retain(|(n, _)| !n.eq_ignore_ascii_case("received"));
            self.params.push(("received".into(), Some(ip)));
        }
        for (n, v) in &mut self.params {
            if n.eq_ignore_ascii_case("rport") && v.is_none() {
                *v = Some(source.port().to_string());
            }
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = format!("{}/{} {}", self.protocol, self.transport, self.sent_by());
        grammar::write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

/// Every Via element of a message, top first.
pub fn vias(headers: &Headers) -> Result<Vec<Via>, HeaderError> {
    let mut out = Vec::new();
    for v in headers.values("via")? {
        out.push(Via::parse(v)?);
    }
    Ok(out)
}

/// `[display-name] <uri>;params` or `uri;params` — the value of From, To, Contact, Route,
/// Record-Route and Refer-To.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// As written: a quoted string with its quotes, or tokens.
    pub display: Option<String>,
    pub uri: Uri,
    /// Whether the URI was in angle brackets.
    pub bracketed: bool,
    pub params: Vec<Param>,
}

impl NameAddr {
    pub fn parse(text: &str, header: &str) -> Result<NameAddr, HeaderError> {
        let bad = |why: &str| HeaderError::malformed(header, why);
        let text = text.trim();
        let (display, rest) = if text.starts_with('"') {
            let (rest, q) = quoted_string(text).map_err(|_| bad("unterminated quoted string"))?;
            let rest = rest.trim_start();
            if !rest.starts_with('<') {
                return Err(bad("a display name must be followed by <URI>"));
            }
            (Some(q.to_string()), rest)
        } else if let Some(lt) = text.find('<') {
            // Unquoted display name: tokens separated by white space. A token directly followed
            // by `<` is accepted (RFC 4475 §3.1.1.6 calls that a grammar bug).
            let name = text[..lt].trim();
            if !name
                .split([' ', '\t'])
                .filter(|w| !w.is_empty())
                .all(|w| w.chars().all(grammar::is_token_char))
            {
                return Err(bad("an unquoted display name may only contain tokens"));
            }
            ((!name.is_empty()).then(|| name.to_string()), &text[lt..])
        } else {
            (None, text)
        };
        let (uri_text, bracketed, rest) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or_else(|| bad("missing >"))?;
            (&inner[..gt], true, &inner[gt + 1..])
        } else {
            // addr-spec: the URI ends at the first `;` (what follows are header parameters)
            // and may not have `?headers` or white space.
            let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
            if rest[..end].contains('?') {
                return Err(bad("a URI with headers must be in <>"));
            }
            (&rest[..end], false, &rest[end..])
        };
        let uri = Uri::parse(uri_text).map_err(|e: UriError| bad(&e.to_string()))?;
        let (rest, params) = params(rest).map_err(|_| bad("malformed parameters"))?;
        if !rest.trim().is_empty() {
            return Err(bad("unexpected text after the parameters"));
        }
        Ok(NameAddr {
            display,
            uri,
            bracketed,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        param(&self.params, "tag").flatten()
    }
}

impl std::fmt::Display for NameAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        let mut s = String::new();
        grammar::write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

/// `CSeq: 4711 INVITE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub number: u32,
    pub method: String,
}

impl CSeq {
    pub fn parse(text: &str) -> Result<CSeq, HeaderError> {
        let bad = |why: &str| HeaderError::malformed("cseq", why);
        let (rest, (digits, _, method)) = (nom::character::complete::digit1, lws, token)
            .parse(text.trim())
            .map_err(|_: nom::Err<nom::error::Error<&str>>| {
                bad("expected a number and a method")
            })?;
        if !rest.is_empty() {
            return Err(bad("unexpected text after the method"));
        }
        let number = digits
            .parse::<u32>()
            .map_err(|_| bad("sequence number above 2^32-1"))?;
        Ok(CSeq {
            number,
            method: method.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_names_match() {
        let mut h = Headers::default();
        h.push("v", "SIP/2.0/UDP a");
        h.push("VIA", "SIP/2.0/UDP b, SIP/2.0/TCP c");
        h.push("i", "x@y");
        assert_eq!(h.values("Via").unwrap().len(), 3);
        assert_eq!(h.single("Call-ID").unwrap(), Some("x@y"));
        h.push("Call-ID", "other");
        assert!(h.single("i").is_err());
    }

    #[test]
    fn via_with_spaces_and_params() {
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8")
                .unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host, "spindle.example.com");
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert!(v.has_rfc3261_branch());
        let mut v = Via::parse("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK;rport").unwrap();
        assert!(
            !v.has_rfc3261_branch(),
            "a bare cookie is no RFC 3261 branch"
        );
        v.stamp_source("198.51.100.7:6000".parse().unwrap());
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK;rport=6000;received=198.51.100.7"
        );
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"  <sip:jdrosen@example.com> ; tag = 98asjd8",
            "from",
        )
        .unwrap();
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323", "from").unwrap();
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n = NameAddr::parse("sip:caller@example.net;tag=242etr", "from").unwrap();
        assert_eq!(n.tag(), Some("242etr"));
        assert!(!n.bracketed);
        let n = NameAddr::parse("isbn:2983792873", "to").unwrap();
        assert_eq!(n.uri.scheme(), "isbn");
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",
            "<sip:user@example.com>;;",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        ] {
            assert!(NameAddr::parse(bad, "to").is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(
            CSeq::parse("0009\t INVITE").unwrap(),
            CSeq {
                number: 9,
                method: "INVITE".into()
            }
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("INVITE").is_err());
    }
}
