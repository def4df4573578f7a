//! From a feed file's bytes to raw rows: the encoding, the format, and each row's line number.
//!
//! **Encoding.** UTF-8 (a byte-order mark is dropped) is taken as is. Anything else is decoded
//! as GB18030 — the national standard that contains GBK and GB2312, and what a spreadsheet saves
//! "CSV" as on a Chinese Windows — with `encoding_rs`; bytes that are not valid GB18030 either
//! make the file unreadable, never silently replaced. Valid UTF-8 is checked first because a
//! UTF-8 file of Chinese text is practically never also valid GB18030 of the same meaning, while
//! the reverse check would accept almost anything.
//!
//! **Format.** JSON if the text starts with `[` or `{`, CSV otherwise (callers may insist).
//!
//! **Rows.** CSV: the header row names the columns (case-insensitive; `-` and spaces read as
//! `_`); each record remembers the line it starts on (a quoted field may span lines). JSON: an
//! array of objects, or `{"kind": …, "entries": [ … ]}`; each object remembers the line its `{`
//! is on and its position in the array.

use serde::Serialize;

use super::validate::RowError;
use super::FeedError;

/// The text encoding a file was read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    Gb18030,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gb18030 => "gb18030",
        }
    }
}

/// CSV or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One row as read: its line, its position among JSON entries, and its named values (names
/// normalised, empty values left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    pub line: u64,
    /// 1-based position in a JSON entries array.
    pub entry: Option<usize>,
    pub fields: Vec<(String, String)>,
}

impl RawRow {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The file's text and the encoding it was in.
pub fn to_text(bytes: &[u8]) -> Result<(String, Encoding), FeedError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_owned(), Encoding::Utf8));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(FeedError::Unreadable(
            "the file is neither UTF-8 nor GB18030 text".into(),
        ));
    }
    Ok((text.into_owned(), Encoding::Gb18030))
}

/// JSON when the text starts with `[` or `{`, CSV otherwise.
pub fn sniff(text: &str) -> Format {
    match text.trim_start().chars().next() {
        Some('[' | '{') => Format::Json,
        _ => Format::Csv,
    }
}

/// A column or key name as compared: trimmed, lower case, `-` and spaces as `_`.
pub fn normalise_name(s: &str) -> String {
    s.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect()
}

/// The header (names normalised) and rows of a CSV text. A record with the wrong number of
/// fields is a row error; an unreadable or empty header is a file error.
#[allow(clippy::type_complexity)]
pub fn csv_rows(text: &str) -> Result<(Vec<String>, Vec<Result<RawRow, RowError>>), FeedError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FeedError::Unreadable(format!("line 1: the header row is unreadable: {e}")))?
        .iter()
        .map(normalise_name)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(FeedError::Invalid(
            "line 1: the file has no header row naming its columns".into(),
        ));
    }
    if let Some(i) = header.iter().position(String::is_empty) {
        return Err(FeedError::Invalid(format!(
            "line 1: column {} of the header has no name",
            i + 1
        )));
    }
    // The reader's own line count leaves out blank lines, and a record's position is where
    // the blank lines before it start: count the line breaks up to its first character.
    // Records come in order, so the count carries on from the previous record.
    let bytes = text.as_bytes();
    let (mut counted_to, mut breaks) = (0usize, 0u64);
    let mut line_at = |p: Option<&csv::Position>| {
        p.map_or(0, |p| {
            let mut at = (p.byte() as usize).min(bytes.len());
            while bytes.get(at).is_some_and(|b| *b == b'\n' || *b == b'\r') {
                at += 1;
            }
            if at >= counted_to {
                let span = bytes.get(counted_to..at).unwrap_or_default();
                breaks += span.iter().filter(|b| **b == b'\n').count() as u64;
                counted_to = at;
            }
            breaks + 1
        })
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = line_at(r.position());
                if r.iter().all(str::is_empty) {
                    continue;
                }
                if r.len() != header.len() {
                    rows.push(Err(RowError::at(
                        line,
                        None,
                        format!(
                            "has {} fields, but the header names {} columns",
                            r.len(),
                            header.len()
                        ),
                    )));
                    continue;
                }
                let fields = header
                    .iter()
                    .zip(r.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| (n.clone(), v.to_owned()))
                    .collect();
                rows.push(Ok(RawRow {
                    line,
                    entry: None,
                    fields,
                }));
            }
            Err(e) => {
                let line = line_at(e.position());
                rows.push(Err(RowError::at(line, None, format!("unreadable: {e}"))));
            }
        }
    }
    Ok((header, rows))
}

/// The rows of a JSON text: an array of objects, or an object with `entries` (and optionally
/// `kind`, returned for the caller to check). Values are strings, numbers or null; `lots` may
/// also be an array of strings.
#[allow(clippy::type_complexity)]
pub fn json_rows(text: &str) -> Result<(Option<String>, Vec<Result<RawRow, RowError>>), FeedError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| FeedError::Unreadable(format!("the file is not valid JSON: {e}")))?;
    let (kind, entries) = match value {
        serde_json::Value::Array(a) => (None, a),
        serde_json::Value::Object(mut o) => {
            let kind = match o.remove("kind") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(k)) => Some(k),
                Some(_) => {
                    return Err(FeedError::Invalid(
                        "\"kind\" must be a string such as \"recall\"".into(),
                    ))
                }
            };
            let entries = match o.remove("entries") {
                Some(serde_json::Value::Array(a)) => a,
                _ => return Err(FeedError::Invalid(
                    "a JSON feed is an array of entries, or an object with an \"entries\" array"
                        .into(),
                )),
            };
            if let Some(k) = o.keys().next() {
                return Err(FeedError::Invalid(format!(
                    "unknown key {k:?} next to \"entries\" (only \"kind\" and \"entries\" are allowed)"
                )));
            }
            (kind, entries)
        }
        _ => {
            return Err(FeedError::Invalid(
                "a JSON feed is an array of entries, or an object with an \"entries\" array".into(),
            ))
        }
    };
    let lines = entry_lines(text);
    let mut rows = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(0);
        let entry = Some(i + 1);
        let serde_json::Value::Object(map) = e else {
            rows.push(Err(RowError::at(
                line,
                entry,
                "is not a JSON object".into(),
            )));
            continue;
        };
        let mut fields = Vec::new();
        let mut bad = None;
        for (k, v) in map {
            let name = normalise_name(&k);
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.trim().to_owned(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(items) => {
                    let strings: Option<Vec<String>> = items
                        .iter()
                        .map(|x| x.as_str().map(|s| s.trim().to_owned()))
                        .collect();
                    match strings {
                        Some(s) => s.join(";"),
                        None => {
                            bad = Some(format!("{k}: an array may hold only strings"));
                            break;
                        }
                    }
                }
                serde_json::Value::Bool(_) | serde_json::Value::Object(_) => {
                    bad = Some(format!("{k}: expected a string"));
                    break;
                }
            };
            if !text.is_empty() {
                fields.push((name, text));
            }
        }
        rows.push(match bad {
            Some(why) => Err(RowError::at(line, entry, why)),
            None => Ok(RawRow {
                line,
                entry,
                fields,
            }),
        });
    }
    Ok((kind, rows))
}

/// The line on which each element of the entries array starts: the elements of a top-level
/// array, or of an array directly inside the top-level object.
fn entry_lines(text: &str) -> Vec<u64> {
    let entry_level = |stack: &[char]| matches!(stack, ['['] | ['{', '[']);
    let mut stack: Vec<char> = Vec::new();
    let mut line = 1u64;
    let mut in_string = false;
    let mut escaped = false;
    // An element starts at the next non-blank character (after `[` or `,` at entry level).
    let mut want = false;
    let mut out = Vec::new();
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            if c == '\n' {
                line += 1;
            }
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        if want && !c.is_whitespace() && c != ']' {
            out.push(line);
            want = false;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                stack.push(c);
                if c == '[' && entry_level(&stack) {
                    want = true;
                }
            }
            '}' | ']' => {
                stack.pop();
                want = false;
            }
            ',' if entry_level(&stack) => want = true,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_or_without_bom_and_gb18030() {
        let (t, e) = to_text("id,status\n召回1,active\n".as_bytes()).unwrap();
        assert_eq!(
            (t.as_str(), e),
            ("id,status\n召回1,active\n", Encoding::Utf8)
        );
        let (t, _) = to_text(b"\xEF\xBB\xBFid\n").unwrap();
        assert_eq!(t, "id\n");
        let (gb, _, _) = encoding_rs::GB18030.encode("id,advice_zh\nR1,请立即停止食用\n");
        let (t, e) = to_text(&gb).unwrap();
        assert_eq!(e, Encoding::Gb18030);
        assert_eq!(t, "id,advice_zh\nR1,请立即停止食用\n");
        // A lone lead byte at the end is not GB18030.
        assert!(matches!(
            to_text(b"id\n\x81"),
            Err(FeedError::Unreadable(_))
        ));
    }

    #[test]
    fn csv_rows_know_their_lines() {
        let text = "ID, Status ,Advice-ZH\nR1,active,\"two\nlines\"\n\nR2,active\nR3,withdrawn,x\n";
        let (header, rows) = csv_rows(text).unwrap();
        assert_eq!(header, ["id", "status", "advice_zh"]);
        assert_eq!(rows.len(), 3);
        let r1 = rows[0].as_ref().unwrap();
        assert_eq!(r1.line, 2);
        assert_eq!(r1.get("id"), Some("R1"));
        assert_eq!(r1.get("advice_zh"), Some("two\nlines"));
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!(bad.line, 5);
        assert!(bad.reason.contains("has 2 fields"), "{}", bad.reason);
        assert_eq!(rows[2].as_ref().unwrap().line, 6);
        assert_eq!(rows[2].as_ref().unwrap().get("advice_zh"), Some("x"));
    }

    #[test]
    fn json_rows_know_their_lines_and_positions() {
        let text = "{\"kind\": \"recall\",\n \"entries\": [\n  {\"id\": \"R1\", \"lots\": [\"A\", \"B\"]},\n  {\"id\": \"R2\", \"note\": \"}{[\"},\n  5\n]}";
        let (kind, rows) = json_rows(text).unwrap();
        assert_eq!(kind.as_deref(), Some("recall"));
        let r1 = rows[0].as_ref().unwrap();
        assert_eq!((r1.line, r1.entry), (3, Some(1)));
        assert_eq!(r1.get("lots"), Some("A;B"));
        assert_eq!(rows[1].as_ref().unwrap().line, 4);
        let bad = rows[2].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.entry), (5, Some(3)));
        let (_, rows) = json_rows("[\n{\"id\": 7}\n]").unwrap();
        assert_eq!(rows[0].as_ref().unwrap().get("id"), Some("7"));
        assert_eq!(rows[0].as_ref().unwrap().line, 2);
        assert!(json_rows("{\"rows\": []}").is_err());
        assert!(json_rows("[1,").is_err());
    }
}
