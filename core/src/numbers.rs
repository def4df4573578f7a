//! Number-derived places: where a Chinese phone number is, as a division code.
//!
//! SPEC "Routing" sends a case to the office where the conduct took place; for a text or a call
//! that is "the caller's stated or number-derived place when known". A Chinese number says
//! where it belongs in two ways:
//!
//! * a **mobile** number (11 digits, `1…`) by its segment (号段): the first seven digits, which
//!   carriers allocate per city (`1380574…` → 宁波);
//! * a **fixed line** by its area code with the trunk `0`: three digits for the largest cities
//!   (`010` 北京, `021` 上海, `020`, `022`–`029`), four elsewhere (`0574` 宁波).
//!
//! The table (`number_places`: prefix → division code) is data, not code: operators import the
//! carriers' segment list with `zhenwei numbers import FILE.csv` (format in
//! `docs/numbers/README.md`; a later import replaces a prefix's row; audited). The pure half —
//! [`candidates`] (which prefixes of a number to look up, longest first) and [`parse_csv`]
//! (rows with line-numbered errors) — has no I/O; [`place`] is one indexed read.
//!
//! The SMS gateway and the IVR set a query's `place` from it, so their cases are routed, and
//! their sightings counted, at the caller's city.
//!
//! One reading of a written number serves both forms a number takes here: [`national`] (for
//! the place table) and [`canonical`] (`+86…`, the form the SMS gateway keys a texter's
//! contact and outbound receipts by).

use sha2::{Digest, Sha256};

use crate::audit;
use crate::codes::division::DivisionCode;
use crate::codes::text::fold_width;
use crate::store::{now_ms, Store, StoreError};

/// What kind of prefix a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixKind {
    /// The first seven digits of a mobile number.
    Mobile,
    /// A fixed-line area code with its leading 0.
    Area,
}

impl PrefixKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefixKind::Mobile => "mobile",
            PrefixKind::Area => "area",
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberPlace {
    pub prefix: String,
    pub kind: PrefixKind,
    pub division: DivisionCode,
}

/// A row that cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} bad row(s); nothing was imported:\n{}", .0.len(), lines_of(.0))]
    BadRows(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn lines_of(errors: &[RowError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A number as it was written: whether it opened with `+`, and its digits. `None` unless it
/// holds nothing but digits (any width), spaces, dashes, dots, parentheses and one leading `+`.
fn written(number: &str) -> Option<(bool, String)> {
    let folded = fold_width(number);
    let s = folded.trim();
    let (plus, rest) = match s.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return None;
    }
    Some((plus, rest.chars().filter(char::is_ascii_digit).collect()))
}

/// A Chinese mobile number in national form: 11 digits opening with `1`.
fn is_mobile(digits: &str) -> bool {
    digits.len() == 11 && digits.starts_with('1')
}

/// The canonical form of a texter's or caller's number, the one their contact is keyed by:
/// digits with a leading `+` for international form. Chinese mobiles in any dress
/// (`13812345678`, `+86 138-1234-5678`, `008613812345678`, `8613812345678`) become
/// `+8613812345678`; foreign numbers keep their country (`+44…`), short codes stay as they are.
/// `None` when it holds no plausible number (3 to 20 digits; see [`written`]).
pub fn canonical(number: &str) -> Option<String> {
    let (plus, digits) = written(number)?;
    if !(3..=20).contains(&digits.len()) {
        return None;
    }
    Some(if plus {
        format!("+{digits}")
    } else if let Some(d) = digits.strip_prefix("00") {
        format!("+{d}")
    } else if is_mobile(&digits) {
        format!("+86{digits}")
    } else if digits.strip_prefix("86").is_some_and(is_mobile) {
        format!("+{digits}")
    } else {
        digits
    })
}

/// The national number: `+86`, `0086` and a bare `86` before a mobile number are dropped;
/// spaces, dashes, dots and parentheses ignored. `None` for a foreign number (`+44…`, `001…`)
/// or anything that is not a number.
pub fn national(number: &str) -> Option<String> {
    let (plus, digits) = written(number)?;
    // `international`: written with `+` or `00` (read after width folding, like the digits).
    let (domestic, international) = if plus {
        (digits.strip_prefix("86")?.to_owned(), true)
    } else if let Some(intl) = digits.strip_prefix("00") {
        (intl.strip_prefix("86")?.to_owned(), true)
    } else if digits.len() == 13 && digits.starts_with("861") {
        (digits.get(2..)?.to_owned(), false)
    } else {
        (digits, false)
    };
    if domestic.len() < 3 || domestic.len() > 12 {
        return None;
    }
    // A fixed line written internationally drops its trunk 0: put it back.
    if international && !is_mobile(&domestic) && !domestic.starts_with('0') {
        return Some(format!("0{domestic}"));
    }
    Some(domestic)
}

/// The prefixes of `number` that may be in the table, longest first: the mobile segment, or the
/// 4- and 3-digit area codes of a fixed line.
pub fn candidates(number: &str) -> Vec<String> {
    let Some(n) = national(number) else {
        return Vec::new();
    };
    if is_mobile(&n) {
        return n.get(..7).map(str::to_owned).into_iter().collect();
    }
    if n.starts_with('0') && n.len() >= 6 {
        return [4, 3]
            .iter()
            .filter_map(|&l| n.get(..l).map(str::to_owned))
            .collect();
    }
    Vec::new()
}

/// Checks a prefix column: seven digits starting with 1, or 0 and two or three more digits.
pub fn parse_prefix(text: &str) -> Result<(String, PrefixKind), String> {
    let folded = fold_width(text);
    let t = folded.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("prefix {t:?} is not digits"));
    }
    match (t.len(), t.as_bytes().first()) {
        (7, Some(b'1')) => Ok((t.to_owned(), PrefixKind::Mobile)),
        (3 | 4, Some(b'0')) => Ok((t.to_owned(), PrefixKind::Area)),
        _ => Err(format!(
            "prefix {t:?} is neither a mobile segment (7 digits, 1…) nor an area code (0 and 2–3 \
             digits)"
        )),
    }
}

/// Reads the CSV format: a header row naming `prefix` and `division` columns (others, such as
/// `name`, are ignored), then one row per prefix; blank lines and `#` comments are skipped.
/// Every bad row is reported with its line number.
pub fn parse_csv(text: &str) -> Result<Vec<NumberPlace>, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(vec![RowError {
            line: 1,
            reason: "empty file: expected a header row `prefix,division`".into(),
        }]);
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let (Some(pi), Some(di)) = (
        cols.iter().position(|c| c == "prefix"),
        cols.iter().position(|c| c == "division"),
    ) else {
        return Err(vec![RowError {
            line: hline,
            reason: "the header row must name the columns `prefix` and `division`".into(),
        }]);
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (line, l) in lines {
        let fields: Vec<&str> = l.split(',').collect();
        let (Some(p), Some(d)) = (fields.get(pi), fields.get(di)) else {
            errors.push(RowError {
                line,
                reason: format!("expected {} columns, found {}", cols.len(), fields.len()),
            });
            continue;
        };
        let row = parse_prefix(p).and_then(|(prefix, kind)| {
            let division = DivisionCode::parse(d).map_err(|e| format!("division {d:?}: {e}"))?;
            Ok(NumberPlace {
                prefix,
                kind,
                division,
            })
        });
        match row {
            Ok(r) => {
                if let Some(first) = seen.insert(r.prefix.clone(), line) {
                    errors.push(RowError {
                        line,
                        reason: format!("prefix {} already given on line {first}", r.prefix),
                    });
                } else {
                    rows.push(r);
                }
            }
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Imports a CSV file (see [`parse_csv`]): all rows or none, in one transaction, audited as
/// `numbers.import` with the file's SHA-256. Returns the number of rows written.
pub async fn import(store: &Store, actor: &str, bytes: &[u8]) -> Result<usize, ImportError> {
    let text = String::from_utf8_lossy(bytes);
    let rows = parse_csv(&text).map_err(ImportError::BadRows)?;
    let now = now_ms();
    let mut tx = store.pool().begin().await?;
    // Every process's catalog cache drops the places it holds (see `Catalog::number_place`).
    crate::catalog::touch(&mut tx).await?;
    for r in &rows {
        sqlx::query(
            "INSERT INTO number_places (prefix, kind, division, imported_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (prefix) DO UPDATE SET \
             kind = excluded.kind, division = excluded.division, \
             imported_at = excluded.imported_at",
        )
        .bind(&r.prefix)
        .bind(r.kind.as_str())
        .bind(r.division.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        actor,
        "numbers.import",
        "number_places",
        &serde_json::json!({
            "rows": rows.len(),
            "sha256": hex::encode(Sha256::digest(bytes)),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// The division code of `number`'s segment or area code, if the table has it. Read through the
/// process's [catalog](crate::catalog::Catalog) cache: the table changes only by [`import`],
/// which bumps the catalog version.
pub async fn place(
    catalog: &crate::catalog::Catalog,
    store: &Store,
    number: &str,
) -> Result<Option<DivisionCode>, sqlx::Error> {
    for prefix in candidates(number) {
        let d = catalog.number_place(store, &prefix).await?;
        if let Some(d) = d.and_then(|d| DivisionCode::parse(&d).ok()) {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// [`place`] for a channel answering a caller: a failed lookup is logged and means "unknown".
pub async fn place_or_unknown(
    verifier: &crate::verify::Verifier,
    number: &str,
) -> Option<DivisionCode> {
    place(verifier.catalog(), verifier.store(), number)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "number place lookup failed");
            None
        })
}

/// The whole table, by prefix.
pub async fn list(store: &Store) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT prefix, kind, division FROM number_places ORDER BY prefix")
        .fetch_all(store.pool())
        .await
}

/// The demo table (`docs/numbers/example.csv`): the demo phone numbers' segments and the demo
/// cities' area codes.
pub const EXAMPLE_CSV: &str = include_str!("../../docs/numbers/example.csv");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers() {
        for (raw, want) in [
            ("13805741234", Some("13805741234")),
            ("+86 138-0574-1234", Some("13805741234")),
            ("008613805741234", Some("13805741234")),
            ("8613805741234", Some("13805741234")),
            ("057487654321", Some("057487654321")),
            ("+8657487654321", Some("057487654321")),
            ("+861087654321", Some("01087654321")),
            ("００８６５７４８７６５４３２１", Some("057487654321")),
            ("0086 10 8765 4321", Some("01087654321")),
            ("+441234567890", None),
            ("0044123456789", None),
            ("anonymous", None),
            ("12", None),
        ] {
            assert_eq!(national(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn canonical_numbers() {
        for s in [
            "13812345678",
            "+8613812345678",
            "+86 138-1234-5678",
            "008613812345678",
            "8613812345678",
            "１３８１２３４５６７８",
        ] {
            assert_eq!(canonical(s).as_deref(), Some("+8613812345678"), "{s}");
        }
        assert_eq!(canonical("10658").as_deref(), Some("10658"));
        assert_eq!(
            canonical("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(canonical(""), None);
        assert_eq!(canonical("12"), None);
        assert_eq!(canonical("abc"), None);
        assert_eq!(canonical("1381234567x"), None);
        assert_eq!(canonical("1234567890123456789012"), None);
    }

    #[test]
    fn candidate_prefixes() {
        assert_eq!(candidates("+8613805741234"), ["1380574"]);
        assert_eq!(candidates("057487654321"), ["0574", "057"]);
        assert_eq!(candidates("+861087654321"), ["0108", "010"]);
        assert!(candidates("10086").is_empty());
        assert!(candidates("anonymous").is_empty());
    }

    #[test]
    fn csv_rows_and_errors() {
        let rows = parse_csv("\u{feff}prefix,division,name\n# comment\n1380574,330200,宁波\n\n0574,330200,宁波\n010,110100,北京\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].kind, PrefixKind::Mobile);
        assert_eq!(rows[1].kind, PrefixKind::Area);
        assert_eq!(rows[2].division.as_str(), "110100");
        let errs =
            parse_csv("prefix,division\n138057,330200\n0574,990000\n0574,330200\n0574,330200\nx\n")
                .unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5, 6], "{errs:?}");
        assert!(errs[0].reason.contains("neither a mobile segment"));
        assert!(errs[2].reason.contains("already given on line 4"));
        assert!(parse_csv("a,b\n1,2\n").unwrap_err()[0]
            .reason
            .contains("header"));
        assert!(parse_csv("").is_err());
    }

    #[test]
    fn the_example_file_is_valid() {
        let rows = parse_csv(EXAMPLE_CSV).unwrap();
        assert!(rows
            .iter()
            .any(|r| r.prefix == "0574" && r.division.as_str() == "330200"));
        assert!(rows.iter().any(|r| r.prefix == "1380013"));
    }
}
