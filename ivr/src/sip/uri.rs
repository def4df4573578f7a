//! URIs: the SIP and SIPS URIs we route on (`sip:user@host:port;params?headers`) and every other
//! absolute URI (`tel:`, `isbn:`, `soap.beep://…`), which we keep as text.
//!
//! Escapes (`%HH`) are kept as written: two URIs compare equal when they are written the same, and
//! we never unescape recursively (RFC 4475 §3.1.1.3). A user part may contain `;`, `?` and other
//! characters that look like delimiters (RFC 4475 §3.1.1.9); the first `@` ends it, because `@`
//! itself must be escaped inside a user part.

use std::fmt;

use super::grammar::Param;

/// An absolute URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    /// Any other scheme, lower-cased, and the rest after the colon.
    Other {
        scheme: String,
        rest: String,
    },
}

/// `sip:` or `sips:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub secure: bool,
    /// `user[:password]`, escapes kept.
    pub userinfo: Option<String>,
    /// Host name, IPv4 address or `[IPv6]` reference.
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    /// The `?name=value&…` part without the `?`.
    pub headers: Option<String>,
}

/// Why a URI did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("URI has no scheme")]
    NoScheme,
    #[error("URI contains white space, quotes or angle brackets")]
    BadCharacter,
    #[error("SIP URI has an empty or malformed host")]
    BadHost,
    #[error("SIP URI has a malformed port")]
    BadPort,
    #[error("SIP URI has an empty parameter")]
    EmptyParam,
}

impl Uri {
    pub fn parse(text: &str) -> Result<Uri, UriError> {
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        {
            return Err(UriError::BadCharacter);
        }
        let (scheme, rest) = text.split_once(':').ok_or(UriError::NoScheme)?;
        let mut chars = scheme.chars();
        let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return Err(UriError::NoScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sip" | "sips" => Ok(Uri::Sip(SipUri::parse_after_scheme(
                scheme == "sips",
                rest,
            )?)),
            _ => Ok(Uri::Other {
                scheme,
                rest: rest.to_string(),
            }),
        }
    }

    /// The scheme, lower-case.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

impl SipUri {
    fn parse_after_scheme(secure: bool, rest: &str) -> Result<SipUri, UriError> {
        let (userinfo, rest) = match rest.split_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, rest),
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_string())),
            None => (rest, None),
        };
        let mut pieces = rest.split(';');
        let hostport = pieces.next().unwrap_or_default();
        let mut params = Vec::new();
        for p in pieces {
            if p.is_empty() {
                return Err(UriError::EmptyParam);
            }
            params.push(match p.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (p.to_string(), None),
            });
        }
        let (host, port) = split_hostport(hostport)?;
        Ok(SipUri {
            secure,
            userinfo,
            host: host.to_string(),
            port,
            params,
            headers,
        })
    }

    /// The user part (before any `:password`).
    pub fn user(&self) -> Option<&str> {
        self.userinfo
            .as_deref()
            .map(|u| u.split_once(':').map_or(u, |(user, _)| user))
    }
}

/// `host[:port]` with a syntactically plausible host.
pub fn split_hostport(hostport: &str) -> Result<(&str, Option<u16>), UriError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let end = v6.find(']').ok_or(UriError::BadHost)?;
        let host = &hostport[..end + 2];
        let inner = &v6[..end];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
        {
            return Err(UriError::BadHost);
        }
        match &v6[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or(UriError::BadPort)?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c)))
    {
        return Err(UriError::BadHost);
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            Some(p.parse().map_err(|_| UriError::BadPort)?)
        }
        Some(_) => return Err(UriError::BadPort),
    };
    Ok((host, port))
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.userinfo {
            write!(f, "{u}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        let mut params = String::new();
        super::grammar::write_params(&mut params, &self.params);
        f.write_str(&params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris_parse_and_print_back() {
        for text in [
            "sip:vivekg@chair-dnrc.example.com;unknownparam",
            "sips:user:pw@[2001:db8::10]:5061;transport=tls",
            "sip:user;par=u%40example.net@example.com",
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        ] {
            let u = Uri::parse(text).unwrap();
            assert_eq!(u.to_string(), text);
        }
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        let sip = u.as_sip().unwrap();
        assert_eq!(sip.user(), Some("user;par=u%40example.net"));
        assert_eq!(sip.host, "example.com");
    }

    #[test]
    fn other_schemes_are_kept() {
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme(), "soap.beep");
        assert_eq!(u.to_string(), "soap.beep://192.0.2.103:3002");
    }

    #[test]
    fn malformed_uris_are_errors() {
        assert_eq!(
            Uri::parse("<sip:user@example.com>"),
            Err(UriError::BadCharacter)
        );
        assert_eq!(Uri::parse(" sip:x@y"), Err(UriError::BadCharacter));
        assert_eq!(Uri::parse("example.com"), Err(UriError::NoScheme));
        assert_eq!(Uri::parse("sip:user@"), Err(UriError::BadHost));
        assert_eq!(Uri::parse("sip:host:99999"), Err(UriError::BadPort));
        assert_eq!(Uri::parse("sip:host;;lr"), Err(UriError::EmptyParam));
    }
}
