//! SIP messages: framing bytes into requests and responses, checking the headers a user agent
//! relies on, and writing messages back to bytes.
//!
//! Framing differs by transport (RFC 3261 §18.3). A datagram is one message: its body is
//! `Content-Length` octets (octets beyond are ignored, too few is an error) or, without the
//! header, the rest of the datagram. A stream carries messages back to back, each framed by its
//! `Content-Length` (0 when absent); a framing error there is unrecoverable and the connection
//! is closed after the answer.
//!
//! Parsing happens in two steps so that a broken request can still be answered: the start line
//! and header lines are split first (folded lines joined), then the headers every request must
//! carry (Via, From, To, Call-ID, CSeq, Max-Forwards) are parsed. A request that fails the
//! second step becomes [`Parsed::Invalid`] with the status it is owed (400, or 505 for another
//! SIP version) and the raw headers to answer with.

use super::grammar::{self, sip_version, token};
use super::headers::{canonical, vias, CSeq, HeaderError, Headers, NameAddr, Via};
use super::uri::Uri;

/// Longest header section a stream may send before we give up on it.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body we accept (SDP and DTMF bodies are a few hundred octets).
pub const MAX_BODY: usize = 256 * 1024;

/// A SIP request whose essential headers parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Every Via element, top first (at least one).
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// What a request that cannot be processed is owed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Whether the start line looked like a request (responses are never answered).
    pub is_request: bool,
    /// The status it is owed: 400, or 505.
    pub status: u16,
    /// Why, in words (sent as the reason phrase of a 400).
    pub why: String,
    /// The header lines that could be split, to answer with.
    pub headers: Headers,
    /// The stream cannot be framed any further: answer, then close the connection.
    pub close: bool,
}

/// One unit from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Request(Box<Request>),
    Response(Box<Response>),
    Invalid(Box<Invalid>),
    /// Empty lines between messages (a keep-alive ping, RFC 5626 §3.5.1).
    KeepAlive,
}

/// Parses one datagram.
pub fn parse_datagram(data: &[u8]) -> Parsed {
    let data = skip_empty_lines(data);
    if data.is_empty() {
        return Parsed::KeepAlive;
    }
    // A datagram without the empty line ending its headers still ends somewhere: at its end.
    let (head, rest) = match find_head_end(data) {
        Some((h, b)) => (&data[..h], &data[b..]),
        None => (data, &data[data.len()..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return invalid_unreadable(false);
    };
    let (start, headers, error) = split_head(head);
    let body = match content_length(&headers) {
        Err(why) => return Parsed::Invalid(Box::new(invalid(start, headers, why, false))),
        Ok(Some(n)) if n > rest.len() => {
            let why = format!(
                "Content-Length {n} exceeds the {} octets received",
                rest.len()
            );
            return Parsed::Invalid(Box::new(invalid(start, headers, why, false)));
        }
        Ok(Some(n)) => &rest[..n],
        Ok(None) => rest,
    };
    build(start, headers, error, body.to_vec(), false)
}

/// Frames messages out of a byte stream (TCP, TLS).
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Octets received and not yet framed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, or `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Option<Parsed> {
        let skipped = self.buf.len() - skip_empty_lines(&self.buf).len();
        if skipped > 0 {
            self.buf.drain(..skipped);
            if skipped >= 4 || self.buf.is_empty() {
                return Some(Parsed::KeepAlive);
            }
        }
        let Some((head_len, body_start)) = find_head_end(&self.buf) else {
            if self.buf.len() > MAX_HEAD {
                self.buf.clear();
                return Some(invalid_unreadable(true));
            }
            return None;
        };
        let Ok(head) = String::from_utf8(self.buf[..head_len].to_vec()) else {
            self.buf.clear();
            return Some(invalid_unreadable(true));
        };
        let (start, headers, error) = split_head(&head);
        let length = match content_length(&headers) {
            Ok(Some(n)) if n <= MAX_BODY => n,
            Ok(None) => 0,
            Ok(Some(n)) => {
                let why = format!("Content-Length {n} is larger than we accept");
                self.buf.clear();
                return Some(Parsed::Invalid(Box::new(invalid(
                    start, headers, why, true,
                ))));
            }
            Err(why) => {
                self.buf.clear();
                return Some(Parsed::Invalid(Box::new(invalid(
                    start, headers, why, true,
                ))));
            }
        };
        if self.buf.len() < body_start + length {
            return None;
        }
        let body = self.buf[body_start..body_start + length].to_vec();
        self.buf.drain(..body_start + length);
        Some(build(start, headers, error, body, false))
    }
}

fn skip_empty_lines(data: &[u8]) -> &[u8] {
    let n = data
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    &data[n..]
}

/// Where the header section ends: (its length, where the body starts).
fn find_head_end(data: &[u8]) -> Option<(usize, usize)> {
    let crlf = data.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = data.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c + 1 => Some((l, l + 2)),
        (Some(c), _) => Some((c, c + 4)),
        (None, Some(l)) => Some((l, l + 2)),
        (None, None) => None,
    }
}

fn invalid_unreadable(close: bool) -> Parsed {
    Parsed::Invalid(Box::new(Invalid {
        is_request: true,
        status: 400,
        why: "Unreadable Header Section".into(),
        headers: Headers::default(),
        close,
    }))
}

/// The start line, the header lines (folded lines joined by a space) and the first line that
/// was not a header.
fn split_head(head: &str) -> (&str, Headers, Option<String>) {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or_default();
    let mut headers = Headers::default();
    let mut error = None;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            match headers.0.last_mut() {
                Some(last) => {
                    let more = line.trim();
                    if !more.is_empty() {
                        if !last.value.is_empty() {
                            last.value.push(' ');
                        }
                        last.value.push_str(more);
                    }
                }
                None => {
                    error.get_or_insert_with(|| "continuation line before any header".into());
                }
            }
            continue;
        }
        let parsed = line.split_once(':').and_then(|(name, value)| {
            let name = name.trim_end_matches([' ', '\t']);
            (token(name).ok()?.0.is_empty()).then(|| (name, value.trim()))
        });
        match parsed {
            Some((name, value)) => headers.push(name, value),
            None => {
                error.get_or_insert_with(|| format!("malformed header line {line:?}"));
            }
        }
    }
    (start, headers, error)
}

/// Every Content-Length value must be the same non-negative number.
fn content_length(headers: &Headers) -> Result<Option<usize>, String> {
    let mut found: Option<usize> = None;
    for v in headers.all("content-length") {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("Content-Length {v:?} is not a number"));
        }
        let n: usize = v
            .parse()
            .map_err(|_| format!("Content-Length {v:?} is too large"))?;
        if found.is_some_and(|f| f != n) {
            return Err("conflicting Content-Length values".into());
        }
        found = Some(n);
    }
    Ok(found)
}

fn invalid(start: &str, headers: Headers, why: String, close: bool) -> Invalid {
    Invalid {
        is_request: !start.starts_with("SIP/") && !start.to_ascii_uppercase().starts_with("SIP/"),
        status: 400,
        why,
        headers,
        close,
    }
}

fn build(
    start: &str,
    headers: Headers,
    error: Option<String>,
    body: Vec<u8>,
    close: bool,
) -> Parsed {
    if start.to_ascii_uppercase().starts_with("SIP/") {
        return match parse_status_line(start) {
            Some((status, reason)) if error.is_none() => Parsed::Response(Box::new(Response {
                status,
                reason: reason.to_string(),
                headers,
                body,
            })),
            _ => Parsed::Invalid(Box::new(Invalid {
                is_request: false,
                status: 400,
                why: "malformed response".into(),
                headers,
                close,
            })),
        };
    }
    let fail = |headers: Headers, status: u16, why: String| {
        Parsed::Invalid(Box::new(Invalid {
            is_request: true,
            status,
            why,
            headers,
            close,
        }))
    };
    let parts: Vec<&str> = start.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return fail(headers, 400, "Malformed Request-Line".into());
    };
    if token(method)
        .map(|(rest, _)| !rest.is_empty())
        .unwrap_or(true)
    {
        return fail(headers, 400, "Malformed Method".into());
    }
    match sip_version(version) {
        Ok(("", (2, 0))) => {}
        Ok(("", _)) => return fail(headers, 505, "Version Not Supported".into()),
        _ => return fail(headers, 400, "Malformed SIP-Version".into()),
    }
    let uri = match Uri::parse(uri) {
        Ok(Uri::Sip(u)) if u.headers.is_some() => {
            return fail(headers, 400, "Request-URI With Headers".into())
        }
        Ok(u) => u,
        Err(e) => return fail(headers, 400, format!("Malformed Request-URI: {e}")),
    };
    if let Some(e) = error {
        return fail(headers, 400, e);
    }
    match essentials(method, &headers) {
        Ok((via, from, to, call_id, cseq, max_forwards)) => Parsed::Request(Box::new(Request {
            method: method.to_string(),
            uri,
            headers,
            body,
            via,
            from,
            to,
            call_id,
            cseq,
            max_forwards,
        })),
        Err(e) => fail(headers, 400, e.to_string()),
    }
}

type Essentials = (Vec<Via>, NameAddr, NameAddr, String, CSeq, Option<u32>);

/// The headers every request must carry, parsed and checked against each other.
fn essentials(method: &str, headers: &Headers) -> Result<Essentials, HeaderError> {
    let required = |name: &str| {
        headers
            .single(name)?
            .ok_or_else(|| HeaderError::Missing(name.into()))
    };
    let via = vias(headers)?;
    if via.is_empty() {
        return Err(HeaderError::Missing("via".into()));
    }
    let from = NameAddr::parse(required("from")?, "from")?;
    let to = NameAddr::parse(required("to")?, "to")?;
    let call_id = required("call-id")?.to_string();
    if call_id.is_empty() || call_id.contains([' ', '\t']) {
        return Err(HeaderError::malformed(
            "call-id",
            "empty or with white space",
        ));
    }
    let cseq = CSeq::parse(required("cseq")?)?;
    if cseq.method != method {
        return Err(HeaderError::malformed(
            "cseq",
            format!(
                "method {} does not match the request's {method}",
                cseq.method
            ),
        ));
    }
    let max_forwards = match headers.single("max-forwards")? {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 255 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(HeaderError::malformed(
                    "max-forwards",
                    "not a number up to 255",
                ))
            }
        },
    };
    if method == "INVITE" {
        for c in headers.values("contact")? {
            NameAddr::parse(c, "contact")?;
        }
    }
    Ok((via, from, to, call_id, cseq, max_forwards))
}

fn parse_status_line(line: &str) -> Option<(u16, &str)> {
    let (version, rest) = line.split_once(' ')?;
    if !sip_version(version).ok()?.0.is_empty() {
        return None;
    }
    let (code, reason) = rest.split_once(' ')?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status: u16 = code.parse().ok()?;
    (100..=699).contains(&status).then_some((status, reason))
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Unknown",
    }
}

impl Response {
    /// A response to a request with these headers: Via, From, To, Call-ID and CSeq copied
    /// (RFC 3261 §8.2.6.2). The caller adds the To tag where one is needed.
    pub fn to_headers(request: &Headers, status: u16) -> Response {
        let mut headers = Headers::default();
        for name in ["via", "from", "to", "call-id", "cseq"] {
            for v in request.all(name) {
                headers.push(display_name(name), v);
            }
        }
        Response {
            status,
            reason: reason_phrase(status).into(),
            headers,
            body: Vec::new(),
        }
    }

    /// The CSeq of the response, if it parses.
    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.headers.get("cseq")?).ok()
    }

    /// The branch of the top Via, if it parses.
    pub fn top_branch(&self) -> Option<String> {
        let first = *self.headers.values("via").ok()?.first()?;
        Via::parse(first).ok()?.branch().map(str::to_string)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, self.reason).into_bytes();
        write_rest(&mut out, &self.headers, &self.body);
        out
    }
}

impl Request {
    /// The top Via (there is always one).
    pub fn top_via(&self) -> &Via {
        &self.via[0]
    }

    /// Adds `received`/`rport` to the top Via as the server transport must (RFC 3261 §18.2.1,
    /// RFC 3581), in the parsed and in the written form.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        let Some(top) = self.via.first_mut() else {
            return;
        };
        top.stamp_source(source);
        let stamped = top.to_string();
        let want = canonical("via");
        if let Some(line) = self
            .headers
            .0
            .iter_mut()
            .find(|h| canonical(&h.name) == want)
        {
            let rest: Vec<String> = grammar::split_list(&line.value)
                .map(|l| l.iter().skip(1).map(|s| s.to_string()).collect())
                .unwrap_or_default();
            line.value = std::iter::once(stamped)
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ");
        }
    }

    /// The media type of the body (`application/sdp`), lower-case, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let v = self.headers.get("content-type")?;
        Some(
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
        )
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} SIP/2.0\r\n", self.method, self.uri).into_bytes();
        write_rest(&mut out, &self.headers, &self.body);
        out
    }
}

fn write_rest(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    let without_length = Headers(
        headers
            .0
            .iter()
            .filter(|h| canonical(&h.name) != "content-length")
            .cloned()
            .collect(),
    );
    without_length.write(out);
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

/// How we write a header name we generate.
pub fn display_name(canonical: &str) -> &'static str {
    match canonical {
        "via" => "Via",
        "from" => "From",
        "to" => "To",
        "call-id" => "Call-ID",
        "cseq" => "CSeq",
        _ => "X-Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport\r\n\
        Max-Forwards: 70\r\nTo: <sip:ivr@127.0.0.1>\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\n\
        Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_request_round_trips() {
        let Parsed::Request(r) = parse_datagram(OPTIONS.as_bytes()) else {
            panic!("not a request");
        };
        assert_eq!(r.method, "OPTIONS");
        assert_eq!(r.cseq.number, 1);
        assert_eq!(r.max_forwards, Some(70));
        assert_eq!(r.from.tag(), Some("1"));
        assert_eq!(String::from_utf8(r.to_bytes()).unwrap(), OPTIONS);
    }

    #[test]
    fn a_stream_frames_back_to_back_messages() {
        let mut f = StreamFramer::default();
        let two = format!("{OPTIONS}{OPTIONS}");
        let (a, b) = two.as_bytes().split_at(100);
        f.push(a);
        assert_eq!(f.next_message(), None);
        f.push(b);
        assert!(matches!(f.next_message(), Some(Parsed::Request(_))));
        assert!(matches!(f.next_message(), Some(Parsed::Request(_))));
        assert_eq!(f.next_message(), None);
        assert_eq!(f.pending(), 0);
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_message(), Some(Parsed::KeepAlive));
    }

    #[test]
    fn a_stream_framing_error_closes() {
        let mut f = StreamFramer::default();
        f.push(
            OPTIONS
                .replace("Content-Length: 0", "Content-Length: -5")
                .as_bytes(),
        );
        let Some(Parsed::Invalid(i)) = f.next_message() else {
            panic!("expected a framing error");
        };
        assert!(i.close && i.is_request && i.status == 400);
    }

    #[test]
    fn a_response_parses_and_is_built_from_a_request() {
        let Parsed::Request(r) = parse_datagram(OPTIONS.as_bytes()) else {
            panic!();
        };
        let resp = Response::to_headers(&r.headers, 200);
        let Parsed::Response(back) = parse_datagram(&resp.to_bytes()) else {
            panic!();
        };
        assert_eq!(back.status, 200);
        assert_eq!(back.top_branch().as_deref(), Some("z9hG4bKabc"));
        assert_eq!(back.cseq().unwrap().method, "OPTIONS");
    }

    #[test]
    fn stamping_the_source_rewrites_the_top_via() {
        let Parsed::Request(mut r) = parse_datagram(OPTIONS.as_bytes()) else {
            panic!();
        };
        r.stamp_source("127.0.0.1:40000".parse().unwrap());
        assert_eq!(
            r.headers.get("via"),
            Some("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=40000")
        );
    }
}
