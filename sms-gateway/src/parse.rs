//! # Reading what people text
//!
//! An SMS to the short code is typed on a phone by someone standing in a shop, so it comes in
//! every shape: the bare 20 digits; the digits in the groups of four they are printed in,
//! separated by spaces, dashes, dots or line breaks; full-width digits from a Chinese input
//! method; a keyword first (`验证`, `查询`, `查`, `真伪`, `CX`, `V`, `CHECK`, with or without a
//! space or colon, in any case); two or three codes at once; a GS1 Digital Link URL copied from a
//! phone's camera; a scratch PIN with `O` for `0` and `l` for `1`; a report (`举报`/`JB`/`REPORT`,
//! the code, and the shop's name); `帮助`/`HELP`/`?`; `TD`/`STOP`/`退订`, and back in with
//! `开通`/`START`/`UNSTOP`. Greetings, thanks and filler words come with all of them.
//!
//! [`parse`] turns one message into one [`Command`] and the reply language. It works in three
//! steps, none of which can panic or loop on any input:
//!
//! 1. **prepare** — cut to [`MAX_MESSAGE_CHARS`], fold full-width forms to ASCII
//!    ([`zhenwei_core::codes::text::fold_width`]), turn control characters into spaces (keeping
//!    line breaks and the GS1 group separator);
//! 2. **keyword** — a nom parser recognises a leading keyword and what kind of command it starts;
//!    an ASCII keyword counts only at a word boundary, so `Vitamin` is no `V` and a PIN that
//!    happens to start with `CX` stays a PIN;
//! 3. **codes** — the rest is cut into *chunks* at everything that cannot be inside a printed
//!    code (Chinese text, commas, colons …) and each chunk into space-separated *groups*; a small
//!    dynamic programme picks the split of the groups into codes that explains the most, asking
//!    the core's decoder ([`zhenwei_core::codes::decode`]) which joins are codes at all. A run of
//!    digits that is close to a supervision code but no code (19 or 21 digits) is passed on whole,
//!    so the core can say exactly what is wrong with it.
//!
//! Code recognition itself stays in the core: this module only decides where codes begin and end.

use std::fmt;
use std::ops::Range;

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case};
use nom::combinator::value;
use nom::{IResult, Parser};
use zhenwei_core::codes::{self, text::fold_width, Decoded, Family};
use zhenwei_core::Lang;

/// At most this many codes are checked per message (one reply line each).
pub const MAX_CODES: usize = 3;
/// Longer messages are cut here (a concatenated SMS of 255 parts is far longer; nobody types
/// that by hand).
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// A free-text note of a report is kept up to this many characters.
pub const MAX_NOTE_CHARS: usize = 200;
/// Longest text passed on as a code candidate that is no code.
const MAX_RAW_CANDIDATE: usize = 64;
/// At most this many groups are joined into one code.
const MAX_GROUPS_PER_CODE: usize = 8;

/// One code candidate: the text the core is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// For a recognised code its normalised form (`Decoded::normalised`); otherwise the text as
    /// sent, so the core explains why it is no code.
    pub text: String,
    /// The family the core's decoder recognised, if any.
    pub family: Option<Family>,
}

/// What one message asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Check these codes (1 to [`MAX_CODES`]); `more` when the message held further codes.
    Verify {
        codes: Vec<Candidate>,
        more: bool,
    },
    /// Report a suspected fake: the code (if given) and free text (shop name, address).
    Report {
        code: Option<Candidate>,
        note: Option<String>,
    },
    Help,
    /// TD / STOP / 退订: no follow-up messages (recall notices) to this number.
    OptOut,
    /// 开通 / 恢复订阅 / START / UNSTOP: follow-up messages again after an opt-out.
    OptIn,
    /// Nothing we understand: the reply shows the format.
    Unrecognised,
}

/// A parsed message: the command and the language to answer in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    pub lang: Lang,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Verify,
    Report,
    Help,
    OptOut,
    OptIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Keyword {
    kind: Kind,
    /// An English word (CHECK, HELP …): the answer is in English unless the text is Chinese.
    english: bool,
    /// An ASCII keyword that must stand at a word boundary.
    ascii: bool,
}

const fn kw(kind: Kind, english: bool, ascii: bool) -> Keyword {
    Keyword {
        kind,
        english,
        ascii,
    }
}

/// The keywords, longest alternatives first where one is a prefix of another.
fn keyword(i: &str) -> IResult<&str, Keyword> {
    alt((
        value(
            kw(Kind::OptOut, false, false),
            alt((tag("退订"), tag("取消订阅"))),
        ),
        value(kw(Kind::OptOut, false, true), tag_no_case("TD")),
        value(
            kw(Kind::OptIn, false, false),
            alt((tag("开通"), tag("恢复订阅"), tag("重新订阅"))),
        ),
        value(
            kw(Kind::OptIn, true, true),
            alt((tag_no_case("UNSTOP"), tag_no_case("START"))),
        ),
        value(
            kw(Kind::OptOut, true, true),
            alt((tag_no_case("UNSUBSCRIBE"), tag_no_case("STOP"))),
        ),
        value(
            kw(Kind::Report, false, false),
            alt((tag("举报"), tag("投诉"))),
        ),
        value(kw(Kind::Report, false, true), tag_no_case("JB")),
        value(kw(Kind::Report, true, true), tag_no_case("REPORT")),
        value(kw(Kind::Help, false, false), alt((tag("帮助"), tag("?")))),
        value(kw(Kind::Help, true, true), tag_no_case("HELP")),
        value(
            kw(Kind::Verify, false, false),
            alt((tag("验证"), tag("查询"), tag("真伪"), tag("查"))),
        ),
        value(
            kw(Kind::Verify, true, true),
            alt((tag_no_case("CHECK"), tag_no_case("VERIFY"))),
        ),
        value(
            kw(Kind::Verify, false, true),
            alt((tag_no_case("CX"), tag_no_case("V"))),
        ),
    ))
    .parse(i)
}

/// A leading keyword: what it is, the text after it (separators skipped), and whether it was
/// glued to the following letters or digits (`CX1234…`).
fn leading_keyword(s: &str) -> Option<(Keyword, &str, bool)> {
    let (rest, k) = keyword(s).ok()?;
    let next = rest.chars().next();
    let attached = next.is_some_and(|c| c.is_ascii_alphanumeric());
    // "CXl234…": a look-alike letter standing for a digit, then digits.
    let lookalike_digit = rest
        .trim_start_matches(['O', 'o', 'I', 'i', 'l'])
        .starts_with(|c: char| c.is_ascii_digit());
    if k.ascii && next.is_some_and(|c| c.is_ascii_alphabetic()) && !lookalike_digit {
        return None; // "Vitamin", "STOPPED", "JBL", "CXO…"
    }
    if k.ascii && attached && k.kind != Kind::Verify && k.kind != Kind::Report {
        return None; // "TD1234" is no opt-out
    }
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || ":,;-=#".contains(c));
    Some((k, rest, attached))
}

/// Step 1: cut, fold, clean.
fn prepare(raw: &str) -> String {
    let cut: String = raw.chars().take(MAX_MESSAGE_CHARS).collect();
    fold_width(&cut)
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            '\n' | '\t' | '\u{1d}' => c,
            c if c.is_control() => ' ',
            // Zero-width characters some keyboards insert.
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => ' ',
            c => c,
        })
        .collect()
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FFFF}')
}

/// Characters that may sit inside one printed code: letters, digits, and the separators people
/// put between groups.
fn in_chunk(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '\u{1d}' || codes::text::is_separator(c)
}

/// Whitespace between groups (other separators stay inside a group and are dropped there).
fn is_group_break(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// A group: its byte range in the prepared text and its compacted characters.
#[derive(Clone, Debug)]
struct Group {
    range: Range<usize>,
    text: String,
}

/// A candidate together with the byte range of the prepared text it came from.
#[derive(Clone, Debug)]
struct Found {
    candidate: Candidate,
    range: Range<usize>,
}

fn decoded(text: &str) -> Option<Decoded> {
    codes::decode(text).ok()
}

fn candidate_of(text: &str, d: &Option<Decoded>) -> Candidate {
    match d {
        Some(d) => Candidate {
            text: d.normalised(),
            family: Some(d.family()),
        },
        None => Candidate {
            text: text.chars().take(MAX_RAW_CANDIDATE).collect(),
            family: None,
        },
    }
}

/// Letters people confuse with digits (`O`, `I`, `l`), inside a group of digits. Scratch-PIN
/// normalisation maps them the same way, so this never changes what a PIN reads as; it lets
/// `1234 6O2O` join into a supervision code.
fn digit_lookalikes(g: &str) -> String {
    let lookalike = |c: char| matches!(c, 'O' | 'o' | 'I' | 'i' | 'l');
    if !g.chars().any(|c| c.is_ascii_digit())
        || !g.chars().all(|c| c.is_ascii_digit() || lookalike(c))
    {
        return g.to_owned();
    }
    g.chars()
        .map(|c| match c {
            'O' | 'o' => '0',
            'I' | 'i' | 'l' => '1',
            c => c,
        })
        .collect()
}

/// Filler: a word of letters only that is lower-case or short ("please", "code", "CX").
fn is_word(g: &str) -> bool {
    g.chars().all(|c| c.is_ascii_alphabetic())
        && (g.len() < 4 || g.chars().any(|c| c.is_ascii_lowercase()))
}

/// How much a join of groups explains, or `None` when it is no code.
fn score(d: &Decoded, groups: usize) -> i32 {
    match d {
        Decoded::Supervision(_) | Decoded::Gs1(_) => 40,
        Decoded::Gtin(_) => 8,
        Decoded::ScratchPin(p) => {
            let mixed =
                p.chars().any(|c| c.is_ascii_alphabetic()) && p.chars().any(|c| c.is_ascii_digit());
            match (mixed, groups) {
                (true, _) => 10,
                (false, 1) => 4,
                (false, _) => 2,
            }
        }
    }
}

/// Step 3 for one chunk: the best split of its groups into codes.
fn codes_in_chunk(groups: &[Group]) -> Vec<Found> {
    let n = groups.len();
    // best[i] = (score, picks) for groups[i..]; a pick is (from, to, decoded).
    type Pick = (usize, usize, Decoded);
    let mut best: Vec<(i32, Vec<Pick>)> = vec![(0, Vec::new()); n + 1];
    for i in (0..n).rev() {
        // Skipping a group that holds digits leaves something unexplained.
        let skip_cost = if groups[i].text.chars().any(|c| c.is_ascii_digit()) {
            3
        } else {
            0
        };
        let mut choice = (best[i + 1].0 - skip_cost, None);
        let mut joined = String::new();
        for j in i..n.min(i + MAX_GROUPS_PER_CODE) {
            joined.push_str(&groups[j].text);
            if joined.len() > 90 {
                break;
            }
            // Look-alike letters across the whole join ("1OOO OOOO …" is all zeros).
            if let Some(d) = decoded(&digit_lookalikes(&joined)) {
                let s = score(&d, j - i + 1) - 1 + best[j + 1].0;
                if s > choice.0 {
                    choice = (s, Some((j, d)));
                }
            }
        }
        best[i] = match choice {
            (s, Some((j, d))) => {
                let mut picks = vec![(i, j, d)];
                picks.extend(best[j + 1].1.iter().cloned());
                (s, picks)
            }
            (s, None) => (s, best[i + 1].1.clone()),
        };
    }
    let picks = best.swap_remove(0).1;
    let digits: String = groups
        .iter()
        .flat_map(|g| g.text.chars())
        .filter(char::is_ascii_digit)
        .collect();
    let all_digits = groups
        .iter()
        .all(|g| g.text.chars().all(|c| c.is_ascii_digit()));
    let strong = picks
        .iter()
        .any(|(_, _, d)| matches!(d, Decoded::Supervision(_) | Decoded::Gs1(_)));
    let span = |a: usize, b: usize| groups[a].range.start..groups[b].range.end;
    // Digits close to a supervision code that make no code: one candidate, so the core can say
    // "19 digits is no code" instead of us guessing a barcode out of part of it.
    if n > 0 && all_digits && !strong && (15..=25).contains(&digits.len()) {
        return vec![Found {
            candidate: candidate_of(&digits, &None),
            range: span(0, n - 1),
        }];
    }
    if picks.is_empty() {
        // Nothing decodes, but something code-like was sent: pass it on to be explained.
        if digits.len() >= 6 {
            let text: String = groups.iter().map(|g| g.text.as_str()).collect();
            return vec![Found {
                candidate: candidate_of(&text, &None),
                range: span(0, n - 1),
            }];
        }
        return Vec::new();
    }
    picks
        .into_iter()
        .map(|(a, b, d)| {
            let joined: String = groups[a..=b].iter().map(|g| g.text.as_str()).collect();
            let joined = digit_lookalikes(&joined);
            Found {
                candidate: candidate_of(&joined, &Some(d)),
                range: span(a, b),
            }
        })
        .collect()
}

/// Whole tokens that are codes in their own syntax (a Digital Link URL, a GS1 element string),
/// taken before the text is cut into chunks. Returns them and the text with them blanked out.
fn whole_tokens(s: &str) -> (Vec<Found>, String) {
    let mut found = Vec::new();
    let mut blanked = s.to_owned();
    let mut pos = 0;
    while pos < s.len() {
        let Some(rest) = s.get(pos..) else { break };
        let token_len = rest
            .find(|c: char| c.is_whitespace() || is_cjk(c) || c == '、' || c == '。')
            .unwrap_or(rest.len());
        let token = rest.get(..token_len).unwrap_or("");
        let lower = token.to_ascii_lowercase();
        let is_url = lower.starts_with("http://") || lower.starts_with("https://");
        let is_gs1 = token.starts_with(']') || token.contains("(01)");
        if token_len > 0 && (is_url || is_gs1) {
            let token = token.trim_end_matches([',', ';', '!', ')']);
            let token = if token.contains("(01)") || !token.ends_with(')') {
                token
            } else {
                token.trim_end_matches(')')
            };
            let d = decoded(token);
            let range = pos..pos + token.len();
            // A URL that is no Digital Link (a shop's web page) is noise, not a code.
            if d.is_some() || is_gs1 {
                found.push(Found {
                    candidate: candidate_of(token, &d),
                    range: range.clone(),
                });
            }
            let spaces = " ".repeat(token.len());
            blanked.replace_range(range, &spaces);
        }
        pos += token_len.max(1);
        while pos < s.len() && !s.is_char_boundary(pos) {
            pos += 1;
        }
    }
    (found, blanked)
}

/// Step 3: every code candidate in `s`, in order, with its byte range.
fn find_codes(s: &str) -> Vec<Found> {
    let (mut found, blanked) = whole_tokens(s);
    let mut groups: Vec<Group> = Vec::new();
    let flush = |groups: &mut Vec<Group>, found: &mut Vec<Found>| {
        if !groups.is_empty() {
            found.extend(codes_in_chunk(groups));
            groups.clear();
        }
    };
    let mut group_start: Option<usize> = None;
    let chars: Vec<(usize, char)> = blanked.char_indices().collect();
    for &(i, c) in &chars {
        let end_of_group = |i: usize| {
            let start = group_start.unwrap_or(i);
            let raw = blanked.get(start..i).unwrap_or("");
            let text = digit_lookalikes(&codes::text::compact(raw));
            (start, text)
        };
        if in_chunk(c) && !is_group_break(c) {
            if group_start.is_none() {
                group_start = Some(i);
            }
            continue;
        }
        if group_start.is_some() {
            let (start, text) = end_of_group(i);
            if !text.is_empty() && !is_word(&text) {
                groups.push(Group {
                    range: start..i,
                    text,
                });
            }
            group_start = None;
        }
        if !is_group_break(c) {
            flush(&mut groups, &mut found);
        }
    }
    if let Some(start) = group_start {
        let raw = blanked.get(start..).unwrap_or("");
        let text = digit_lookalikes(&codes::text::compact(raw));
        if !text.is_empty() && !is_word(&text) {
            groups.push(Group {
                range: start..blanked.len(),
                text,
            });
        }
    }
    flush(&mut groups, &mut found);
    found.sort_by_key(|f| f.range.start);
    found
}

/// Is the message English? Only when it has no Chinese at all and either used an English
/// keyword or has at least two English words besides the codes.
fn language(s: &str, english_keyword: bool) -> Lang {
    if s.chars().any(is_cjk) {
        return Lang::Zh;
    }
    if english_keyword {
        return Lang::En;
    }
    // Whole whitespace-separated tokens of letters only: codes, PINs and URLs are no words.
    let words = s
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| c.is_ascii_punctuation()))
        .filter(|w| {
            w.len() >= 2
                && w.chars().all(|c| c.is_ascii_alphabetic())
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .count();
    if words >= 2 {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// A keyword anywhere in the text (for "我要举报 …", "please help"): CJK keywords as
/// substrings, English ones as whole words.
fn keyword_anywhere(s: &str) -> Option<Keyword> {
    for (word, k) in [
        ("举报", kw(Kind::Report, false, false)),
        ("投诉", kw(Kind::Report, false, false)),
        ("退订", kw(Kind::OptOut, false, false)),
        ("开通", kw(Kind::OptIn, false, false)),
        ("恢复订阅", kw(Kind::OptIn, false, false)),
        ("帮助", kw(Kind::Help, false, false)),
    ] {
        if s.contains(word) {
            return Some(k);
        }
    }
    for w in s.split(|c: char| !c.is_ascii_alphabetic()) {
        let k = match w.to_ascii_lowercase().as_str() {
            // Not "fake": "is this fake? <code>" asks for a check, it reports nothing.
            "report" => kw(Kind::Report, true, true),
            "stop" | "unsubscribe" => kw(Kind::OptOut, true, true),
            "unstop" => kw(Kind::OptIn, true, true),
            "help" => kw(Kind::Help, true, true),
            "check" | "verify" => kw(Kind::Verify, true, true),
            _ => continue,
        };
        return Some(k);
    }
    None
}

/// The free text of a report: the message without the keyword and the code, tidied, in the
/// characters as sent (not width-folded). `s` is a slice of `prepared`, which has one character
/// for each character of `original`; `code` is a byte range within `s`.
fn note_of(
    prepared: &str,
    original: &[char],
    s: &str,
    code: Option<&Range<usize>>,
) -> Option<String> {
    let offset = (s.as_ptr() as usize).saturating_sub(prepared.as_ptr() as usize);
    let char_at = |byte: usize| prepared.get(..byte).map_or(0, |p| p.chars().count());
    let (from, to) = (char_at(offset), char_at(offset + s.len()));
    let skip = code.map(|r| (char_at(offset + r.start), char_at(offset + r.end)));
    let text: String = original
        .iter()
        .enumerate()
        .take(to)
        .skip(from)
        .map(|(i, &c)| match skip {
            Some((a, b)) if (a..b).contains(&i) => ' ',
            _ if c.is_control() => ' ',
            _ => c,
        })
        .collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    let note = words.join(" ");
    let note =
        note.trim_matches(|c: char| c.is_whitespace() || ",;:.-，。、：；!！\u{3000}".contains(c));
    let note: String = note.chars().take(MAX_NOTE_CHARS).collect();
    if note.chars().any(|c| c.is_alphanumeric()) {
        Some(note)
    } else {
        None
    }
}

/// Parses one message. Never panics, whatever the text.
pub fn parse(raw: &str) -> Parsed {
    let original: Vec<char> = raw.chars().take(MAX_MESSAGE_CHARS).collect();
    let prepared = prepare(raw);
    let text = prepared
        .trim_matches(|c: char| c.is_whitespace() || "\"'“”‘’【】「」《》<>*#~!。.,".contains(c));
    let (lead, body, attached) = match leading_keyword(text) {
        Some((k, rest, attached)) => (Some(k), rest, attached),
        None => (None, text, false),
    };
    let anywhere = if lead.is_none() {
        keyword_anywhere(text)
    } else {
        None
    };
    let keyword = lead.or(anywhere);
    let lang = language(text, keyword.is_some_and(|k| k.english));
    let mut found = find_codes(body);
    // A keyword glued to a code ("CX1234…", "V1234…") is stripped only when the rest is a code
    // of its own; otherwise the whole token may be a scratch PIN that starts with those letters.
    if attached && lead.is_some_and(|k| k.kind == Kind::Verify) {
        let whole = find_codes(text);
        let strong = |f: &[Found]| {
            f.first()
                .and_then(|x| x.candidate.family)
                .is_some_and(|fam| matches!(fam, Family::Supervision | Family::Gs1 | Family::Gtin))
        };
        if !strong(&found) && whole.first().is_some_and(|f| f.candidate.family.is_some()) {
            found = whole;
        }
    }
    let command = match keyword.map(|k| k.kind) {
        Some(Kind::OptOut) if lead.is_some() || found.is_empty() => Command::OptOut,
        Some(Kind::OptIn) if lead.is_some() || found.is_empty() => Command::OptIn,
        Some(Kind::Report) => {
            let source = if lead.is_some() { body } else { text };
            let found = if lead.is_some() {
                found
            } else {
                find_codes(text)
            };
            let first = found.into_iter().next();
            Command::Report {
                note: note_of(
                    &prepared,
                    &original,
                    source,
                    first.as_ref().map(|f| &f.range),
                ),
                code: first.map(|f| f.candidate),
            }
        }
        Some(Kind::Help) if found.is_empty() => Command::Help,
        _ if found.is_empty() => Command::Unrecognised,
        _ => {
            let more = found.len() > MAX_CODES;
            Command::Verify {
                codes: found
                    .into_iter()
                    .take(MAX_CODES)
                    .map(|f| f.candidate)
                    .collect(),
                more,
            }
        }
    };
    Parsed { command, lang }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Some(_) => f.write_str(&self.text),
            None => write!(f, "!{}", self.text),
        }
    }
}

/// The compact form the corpus (`tests/corpus.tsv`) writes expected commands in:
/// `verify C1 C2 [+more]`, `report C note=TEXT`, `report - `, `help`, `optout`, `unrecognised`;
/// a candidate that is no code is written `!TEXT`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Verify { codes, more } => {
                f.write_str("verify")?;
                for c in codes {
                    write!(f, " {c}")?;
                }
                if *more {
                    f.write_str(" +more")?;
                }
                Ok(())
            }
            Command::Report { code, note } => {
                f.write_str("report ")?;
                match code {
                    Some(c) => write!(f, "{c}")?,
                    None => f.write_str("-")?,
                }
                if let Some(n) = note {
                    write!(f, " note={n}")?;
                }
                Ok(())
            }
            Command::Help => f.write_str("help"),
            Command::OptOut => f.write_str("optout"),
            Command::OptIn => f.write_str("optin"),
            Command::Unrecognised => f.write_str("unrecognised"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODE: &str = "12345678901234567890";

    /// Full-width digits, as a Chinese input method types them.
    fn fold_back(s: &str) -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect()
    }

    fn cmd(s: &str) -> String {
        parse(s).command.to_string()
    }

    #[test]
    fn a_code_in_every_dress() {
        for s in [
            "12345678901234567890",
            "1234 5678 9012 3456 7890",
            "1234-5678-9012-3456-7890",
            "1234.5678.9012.3456.7890",
            "1234\n5678\n9012\n3456\n7890",
            "１２３４５６７８９０１２３４５６７８９０",
            "１２３４　５６７８　９０１２　３４５６　７８９０",
            "验证12345678901234567890",
            "验证 12345678901234567890",
            "查询：12345678901234567890",
            "查 1234 5678 9012 3456 7890",
            "真伪 12345678901234567890",
            "CX12345678901234567890",
            "cx:12345678901234567890",
            "V 12345678901234567890",
            "v12345678901234567890",
            "CHECK 12345678901234567890",
            "check:1234-5678-9012-3456-7890",
            "你好，请帮我查一下这个码 12345678901234567890 谢谢",
            "1234 5678 9O12 3456 789O",
            "1234 5678 9O12 3456 789O",
            "I234 5678 9O12 3456 789O",
            "l234 5678 9012 3456 7890",
            "“12345678901234567890”",
        ] {
            assert_eq!(cmd(s), format!("verify {CODE}"), "{s:?}");
        }
    }

    #[test]
    fn languages() {
        assert_eq!(parse(CODE).lang, Lang::Zh);
        assert_eq!(parse(&format!("CHECK {CODE}")).lang, Lang::En);
        assert_eq!(parse(&format!("is this real? {CODE}")).lang, Lang::En);
        assert_eq!(parse(&format!("CX {CODE}")).lang, Lang::Zh);
        assert_eq!(parse(&format!("check 验证 {CODE}")).lang, Lang::Zh);
        assert_eq!(parse("HELP").lang, Lang::En);
        assert_eq!(parse("?").lang, Lang::Zh);
        assert_eq!(parse("STOP").lang, Lang::En);
        assert_eq!(parse("TD").lang, Lang::Zh);
    }

    #[test]
    fn several_codes() {
        let two = "12345678901234567890 09876543210987654321";
        assert_eq!(cmd(two), "verify 12345678901234567890 09876543210987654321");
        assert_eq!(
            cmd("1234 5678 9012 3456 7890 0987 6543 2109 8765 4321"),
            "verify 12345678901234567890 09876543210987654321"
        );
        assert_eq!(
            cmd("12345678901234567890，09876543210987654321、11112222333344445555；22223333444455556666"),
            "verify 12345678901234567890 09876543210987654321 11112222333344445555 +more"
        );
    }

    #[test]
    fn keywords_need_a_boundary() {
        // "Vitamin" is no V keyword, "STOPPED" no STOP.
        assert_eq!(parse("Vitamin C").command, Command::Unrecognised);
        assert_ne!(parse("STOPPED").command, Command::OptOut);
        assert_eq!(parse("TD").command, Command::OptOut);
        assert_eq!(parse("td").command, Command::OptOut);
        assert_eq!(parse("退订").command, Command::OptOut);
        assert_eq!(parse("STOP").command, Command::OptOut);
        assert_eq!(parse("帮助").command, Command::Help);
        assert_eq!(parse("help").command, Command::Help);
        assert_eq!(parse("？").command, Command::Help);
        assert_eq!(parse("?").command, Command::Help);
    }

    #[test]
    fn reports() {
        assert_eq!(
            cmd("举报 12345678901234567890 西湖百货文三路店"),
            "report 12345678901234567890 note=西湖百货文三路店"
        );
        assert_eq!(cmd("JB12345678901234567890"), "report 12345678901234567890");
        assert_eq!(
            cmd("REPORT 1234-5678-9012-3456-7890 shop at 12 Main St"),
            "report 12345678901234567890 note=shop at 12 Main St"
        );
        assert_eq!(cmd("举报"), "report -");
        assert_eq!(
            cmd("我要举报 12345678901234567890"),
            "report 12345678901234567890 note=我要举报"
        );
    }

    #[test]
    fn wrong_lengths_are_passed_on_whole() {
        assert_eq!(
            cmd("1234 5678 9012 3456 789"),
            "verify !1234567890123456789"
        );
        assert_eq!(
            cmd("123456789012345678901"),
            "verify !123456789012345678901"
        );
        assert_eq!(cmd("你好"), "unrecognised");
        assert_eq!(cmd(""), "unrecognised");
    }

    #[test]
    fn pins_and_links() {
        assert_eq!(cmd("AB12-CDOI-L9XZ"), "verify AB12CD01L9XZ");
        assert_eq!(cmd("ab12 cd34 ef56"), "verify AB12CD34EF56");
        assert_eq!(
            cmd("https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ"),
            "verify (01)09506000134352(10)ABC123(21)XYZ"
        );
        assert_eq!(
            cmd("查这个 https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ 谢谢"),
            "verify (01)09506000134352(10)ABC123(21)XYZ"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let p = parse(&s);
            let _ = p.command.to_string();
        }

        #[test]
        fn never_panics_on_sms_like_text(s in "[0-9A-Za-z０-９Ａ-Ｚ 　\\-.:：,，、。\n验证查询举报帮助退订TDJBCXV?？/()\u{1d}]{0,120}") {
            let p = parse(&s);
            if let Command::Verify { codes, .. } = &p.command {
                prop_assert!(!codes.is_empty() && codes.len() <= MAX_CODES);
            }
        }

        #[test]
        fn any_twenty_digits_in_any_dress(code in "[0-9]{20}", dress in 0usize..8, kw in 0usize..4) {
            let g: Vec<String> = code.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            let text = match dress {
                0 => code.clone(),
                1 => g.join(" "),
                2 => g.join("-"),
                3 => g.join("\n"),
                4 => fold_back(&g.join("\u{3000}")),
                5 => g.join(" ").replace('0', "O"),
                6 => g.join(".").replace('1', "l"),
                _ => format!("“{}”", g.join(" - ")),
            };
            let text = format!("{}{text}", ["", "验证 ", "CX", "查询："][kw]);
            prop_assert_eq!(parse(&text).command.to_string(), format!("verify {code}"), "{:?}", text);
        }

        #[test]
        fn never_panics_on_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&String::from_utf8_lossy(&b));
        }
    }
}
