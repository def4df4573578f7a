//! The lexical pieces of the SIP grammar (RFC 3261 §25): tokens, quoted strings, linear white
//! space and `;name=value` parameters, as small nom parsers over `&str`.
//!
//! Header values reach these parsers already unfolded (a CRLF followed by white space became a
//! single space, see [`super::message`]), so linear white space here is only spaces and tabs.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::char;
use nom::combinator::{opt, recognize};
use nom::multi::many0;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// A nom result over text.
pub type Res<'a, T> = IResult<&'a str, T>;

/// `token` characters: alphanumerics and `-.!%*_+`'~`.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// One `token`.
pub fn token(i: &str) -> Res<'_, &str> {
    take_while1(is_token_char).parse(i)
}

/// Optional linear white space (`SWS`).
pub fn sws(i: &str) -> Res<'_, &str> {
    take_while(|c| c == ' ' || c == '\t').parse(i)
}

/// Required linear white space (`LWS`).
pub fn lws(i: &str) -> Res<'_, &str> {
    take_while1(|c| c == ' ' || c == '\t').parse(i)
}

/// A `quoted-string`, returned with its quotes and escapes as written. `qdtext` is anything but
/// `"` and `\`; a `quoted-pair` is `\` and any character but CR and LF.
pub fn quoted_string(i: &str) -> Res<'_, &str> {
    recognize((
        char('"'),
        many0(alt((
            take_while1(|c: char| c != '"' && c != '\\' && c != '\r' && c != '\n'),
            recognize(preceded(
                char('\\'),
                nom::character::complete::satisfy(|c| c != '\r' && c != '\n'),
            )),
        ))),
        char('"'),
    ))
    .parse(i)
}

/// The characters of a generic parameter value (`gen-value = token / host / quoted-string`),
/// other than a quoted string: token characters and those of an IPv6 reference.
fn is_gen_value_char(c: char) -> bool {
    is_token_char(c) || c == '[' || c == ']' || c == ':'
}

/// One header parameter: `name` or `name=value`, with optional white space around `=`.
pub type Param = (String, Option<String>);

/// `*( SEMI generic-param )` — zero or more parameters, each introduced by `;`. An empty
/// parameter (`;;`) is an error: the grammar has none.
pub fn params(i: &str) -> Res<'_, Vec<Param>> {
    many0(preceded(
        (sws, char(';'), sws),
        (
            token,
            opt(preceded(
                delimited(sws, char('='), sws),
                alt((quoted_string, take_while1(is_gen_value_char))),
            )),
        )
            .map(|(n, v): (&str, Option<&str>)| (n.to_string(), v.map(str::to_string))),
    ))
    .parse(i)
}

/// The value of the parameter `name` (case-insensitive) in `params`; `Some(None)` when it is
/// present without a value.
pub fn param<'p>(params: &'p [Param], name: &str) -> Option<Option<&'p str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Writes parameters back as `;name=value`.
pub fn write_params(out: &mut String, params: &[Param]) {
    for (n, v) in params {
        out.push(';');
        out.push_str(n);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// `SIP/2.0`, case-insensitively, with the two numbers returned: `SIP/7.0` parses (and is then
/// answered 505), `HTTP/1.1` does not.
pub fn sip_version(i: &str) -> Res<'_, (u32, u32)> {
    let (i, _) = nom::bytes::complete::tag_no_case("SIP/").parse(i)?;
    let (i, major) = nom::character::complete::u32.parse(i)?;
    let (i, _) = tag(".").parse(i)?;
    let (i, minor) = nom::character::complete::u32.parse(i)?;
    Ok((i, (major, minor)))
}

/// Splits a header value at the commas that separate its elements, ignoring commas inside
/// quoted strings and `<...>`. Returns `None` for an empty element (`a,,b`, a trailing comma).
pub fn split_list(value: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (at, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_keep_escapes_and_controls() {
        assert_eq!(
            quoted_string("\"J Rosenberg \\\\\\\"\" <sip:x>"),
            Ok((" <sip:x>", "\"J Rosenberg \\\\\\\"\""))
        );
        assert_eq!(quoted_string("\"NUL:\\\0\" x"), Ok((" x", "\"NUL:\\\0\"")));
        assert!(quoted_string("\"unterminated <sip:x>").is_err());
    }

    #[test]
    fn params_with_spaces_and_without_values() {
        let (rest, p) = params(" ; tag    = 1918181833n ;lr").unwrap();
        assert_eq!(rest, "");
        assert_eq!(
            p,
            vec![
                ("tag".into(), Some("1918181833n".into())),
                ("lr".into(), None)
            ]
        );
        let (rest, _) = params(";;").unwrap();
        assert_eq!(rest, ";;", "an empty parameter is left unparsed");
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        assert_eq!(
            split_list("\"a,b\" <sip:x;y,z>, <sip:w>").unwrap(),
            vec!["\"a,b\" <sip:x;y,z>", "<sip:w>"]
        );
        assert!(split_list("a,,b").is_none());
        assert!(split_list("a,").is_none());
    }
}
