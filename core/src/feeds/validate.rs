//! Row-by-row validation: a raw row becomes an [`Entry`] or a [`RowError`] naming its line and
//! the reason. Pure; every rule is a unit test below.
//!
//! Columns (CSV header names, JSON keys) per kind — `docs/feeds/README.md` explains each:
//!
//! | kind | required | optional |
//! |---|---|---|
//! | recall | `id`, `status`, `gtin` or `registration_no` | `lots`, `credit_code`, `title`, `published_on`, `advice_zh`, `advice_en` |
//! | spot-check | `id`, `status`; `gtin` or `registration_no` (`failed`), `credit_code` (`repeat_failure`, `refused_inspection`) | `lots`, `title`, `published_on`, `advice_zh`, `advice_en` |
//! | ccc | `cert_no`, `status` | `id` (default: `cert_no`), `credit_code`, `valid_until`, `title`, `published_on`, `advice_zh`, `advice_en` |
//! | licence | `licence_no`, `status` | `id` (default: `licence_no`), `credit_code`, `valid_until`, `title`, `published_on`, `advice_zh`, `advice_en` |
//! | blacklist | `credit_code`, `status` | `id` (default: `credit_code`), `title`, `published_on`, `advice_zh`, `advice_en` |
//!
//! A `withdrawn` row needs only its `id` (or the number its id defaults to).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::decode::RawRow;
use super::{FeedKind, WITHDRAWN};
use crate::codes::gtin::Gtin;
use crate::codes::text;
use crate::codes::uscc::CreditCode;
use crate::lifecycle::check_gs1_text;

/// A row that cannot be imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The line of the file the row starts on (1 is a CSV file's header).
    pub line: u64,
    /// The row's 1-based position among a JSON file's entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    pub reason: String,
}

impl RowError {
    pub fn at(line: u64, entry: Option<usize>, reason: String) -> RowError {
        RowError {
            line,
            entry,
            reason,
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(n) => write!(f, "line {} (entry {n}): {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// One valid feed entry, normalised (GTIN-14, upper-case credit code, `YYYY-MM-DD` dates).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(skip)]
    pub line: u64,
    /// The feed's stable id of the entry.
    pub id: String,
    pub status: String,
    pub gtin: Option<String>,
    pub registration_no: Option<String>,
    /// Batches it is limited to, `;`-separated; `None`: all.
    pub lots: Option<String>,
    pub credit_code: Option<String>,
    pub cert_no: Option<String>,
    pub licence_no: Option<String>,
    pub valid_until: Option<String>,
    pub published_on: Option<String>,
    pub title: Option<String>,
    pub advice_zh: Option<String>,
    pub advice_en: Option<String>,
}

impl Entry {
    pub fn is_withdrawn(&self) -> bool {
        self.status == WITHDRAWN
    }
}

const COMMON: [&str; 6] = [
    "id",
    "status",
    "title",
    "published_on",
    "advice_zh",
    "advice_en",
];

/// The columns a kind accepts (besides [`COMMON`]).
pub fn columns(kind: FeedKind) -> &'static [&'static str] {
    match kind {
        FeedKind::Recall | FeedKind::SpotCheck => {
            &["gtin", "registration_no", "lots", "credit_code"]
        }
        FeedKind::Ccc => &["cert_no", "credit_code", "valid_until"],
        FeedKind::Licence => &["licence_no", "credit_code", "valid_until"],
        FeedKind::Blacklist => &["credit_code"],
    }
}

/// Other names a column goes by.
fn canonical(name: &str) -> &str {
    match name {
        "lot" | "batch" | "batches" => "lots",
        "license_no" => "licence_no",
        "certificate_no" | "ccc_cert_no" => "cert_no",
        "reg_no" => "registration_no",
        "uscc" => "credit_code",
        other => other,
    }
}

/// Checks a file's column names (a CSV header, or the keys met in JSON): the first unknown
/// name is an error naming the ones allowed.
pub fn check_columns<'a>(
    kind: FeedKind,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    for n in names {
        let c = canonical(n);
        if !COMMON.contains(&c) && !columns(kind).contains(&c) {
            let mut allowed: Vec<&str> = COMMON.to_vec();
            allowed.extend(columns(kind));
            return Err(format!(
                "unknown column {n:?} for a {kind} feed (allowed: {})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn plain(v: &str, what: &str, max: usize) -> Result<String, String> {
    // Line breaks inside a quoted CSV field or a JSON string read as spaces.
    let t: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(t)
}

fn date(v: &str, what: &str) -> Result<String, String> {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(v, f).ok())
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| format!("{what} {v:?} is not a date (YYYY-MM-DD)"))
}

/// Validates one raw row of a `kind` feed. `seen` maps ids to the line they were first seen on,
/// so a repeated id is reported on its second line.
pub fn entry(
    kind: FeedKind,
    row: &RawRow,
    seen: &mut HashMap<String, u64>,
) -> Result<Entry, RowError> {
    let err = |reason: String| RowError::at(row.line, row.entry, reason);
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for (n, v) in &row.fields {
        let c = canonical(n);
        if !COMMON.contains(&c) && !columns(kind).contains(&c) {
            return Err(err(check_columns(kind, [n.as_str()])
                .err()
                .unwrap_or_default()));
        }
        fields.insert(c, v.as_str());
    }
    let get = |name: &str| fields.get(name).copied();
    let opt = |name: &str, what: &str, max: usize| -> Result<Option<String>, RowError> {
        get(name)
            .map(|v| plain(v, what, max))
            .transpose()
            .map_err(err)
    };

    let status = get("status")
        .map(|s| s.trim().to_ascii_lowercase().replace([' ', '-'], "_"))
        .ok_or_else(|| err("status is missing".into()))?;
    if status != WITHDRAWN && !kind.statuses().contains(&status.as_str()) {
        return Err(err(format!(
            "status {status:?} is not one of {}, {WITHDRAWN}",
            kind.statuses().join(", ")
        )));
    }
    let withdrawn = status == WITHDRAWN;

    let mut e = Entry {
        line: row.line,
        status,
        title: opt("title", "title", 200)?,
        advice_zh: opt("advice_zh", "advice_zh", 500)?,
        advice_en: opt("advice_en", "advice_en", 500)?,
        ..Entry::default()
    };
    e.published_on = get("published_on")
        .map(|v| date(v, "published_on"))
        .transpose()
        .map_err(err)?;
    e.valid_until = get("valid_until")
        .map(|v| date(v, "valid_until"))
        .transpose()
        .map_err(err)?;
    e.gtin = get("gtin")
        .map(|v| {
            Gtin::parse(&text::compact(v))
                .map(|g| g.as_gtin14().to_owned())
                .map_err(|x| format!("gtin {v:?}: {x}"))
        })
        .transpose()
        .map_err(err)?;
    e.credit_code = get("credit_code")
        .map(|v| {
            CreditCode::parse(v)
                .map(|c| c.as_str().to_owned())
                .map_err(|x| format!("credit_code {v:?}: {x}"))
        })
        .transpose()
        .map_err(err)?;
    e.registration_no = opt("registration_no", "registration_no", 64)?;
    e.cert_no = opt("cert_no", "cert_no", 64)?;
    e.licence_no = opt("licence_no", "licence_no", 64)?;
    if let Some(v) = get("lots") {
        let mut lots: Vec<String> = Vec::new();
        for l in v
            .split([';', '|', '；', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            check_gs1_text(l, "lot", 20).map_err(|x| err(x.to_string()))?;
            if !lots.iter().any(|x| x == l) {
                lots.push(l.to_owned());
            }
        }
        e.lots = (!lots.is_empty()).then(|| lots.join(";"));
    }

    // The entry's id: given, or the number that names it.
    let natural = match kind {
        FeedKind::Recall | FeedKind::SpotCheck => None,
        FeedKind::Ccc => e.cert_no.clone(),
        FeedKind::Licence => e.licence_no.clone(),
        FeedKind::Blacklist => e.credit_code.clone(),
    };
    e.id = match (opt("id", "id", 64)?, natural) {
        (Some(id), _) => id,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(err(match kind {
                FeedKind::Recall | FeedKind::SpotCheck => "id is missing".into(),
                FeedKind::Ccc => "cert_no is missing (or give an id)".into(),
                FeedKind::Licence => "licence_no is missing (or give an id)".into(),
                FeedKind::Blacklist => "credit_code is missing (or give an id)".into(),
            }))
        }
    };

    // What each kind needs to match anything (a withdrawal only needs its id).
    if !withdrawn {
        let names_product = e.gtin.is_some() || e.registration_no.is_some();
        let missing = match kind {
            FeedKind::Recall if !names_product => Some("gtin or registration_no"),
            FeedKind::SpotCheck if e.status == "failed" && !names_product => {
                Some("gtin or registration_no (a failed batch names its product)")
            }
            FeedKind::SpotCheck if e.status != "failed" && e.credit_code.is_none() => {
                Some("credit_code (repeat_failure and refused_inspection mark the enterprise)")
            }
            FeedKind::Ccc if e.cert_no.is_none() => Some("cert_no"),
            FeedKind::Licence if e.licence_no.is_none() => Some("licence_no"),
            FeedKind::Blacklist if e.credit_code.is_none() => Some("credit_code"),
            _ => None,
        };
        if let Some(m) = missing {
            return Err(err(format!("{m} is missing")));
        }
    }
    if let Some(first) = seen.get(&e.id) {
        return Err(err(format!(
            "id {:?} already appears on line {first}",
            e.id
        )));
    }
    seen.insert(e.id.clone(), row.line);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, fields: &[(&str, &str)]) -> RawRow {
        RawRow {
            line,
            entry: None,
            fields: fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn one(kind: FeedKind, fields: &[(&str, &str)]) -> Result<Entry, RowError> {
        entry(kind, &row(2, fields), &mut HashMap::new())
    }

    #[test]
    fn a_recall_is_normalised() {
        let e = one(
            FeedKind::Recall,
            &[
                ("id", "SAMR-2026-17"),
                ("status", "Active"),
                ("gtin", "6901234000283"),
                ("lot", "YG2026R; YG2026S;YG2026R"),
                ("published_on", "2026/11/20"),
                ("advice_zh", "请立即\n停止食用"),
            ],
        )
        .unwrap();
        assert_eq!(e.id, "SAMR-2026-17");
        assert_eq!(e.status, "active");
        assert_eq!(e.gtin.as_deref(), Some("06901234000283"));
        assert_eq!(e.lots.as_deref(), Some("YG2026R;YG2026S"));
        assert_eq!(e.published_on.as_deref(), Some("2026-11-20"));
        assert_eq!(e.advice_zh.as_deref(), Some("请立即 停止食用"));
    }

    #[test]
    fn bad_rows_say_why() {
        type Case<'a> = (FeedKind, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 11] = [
            (FeedKind::Recall, &[("id", "R"), ("gtin", "6901234000283")], "status is missing"),
            (FeedKind::Recall, &[("id", "R"), ("status", "open"), ("gtin", "6901234000283")], "status \"open\" is not one of active, withdrawn"),
            (FeedKind::Recall, &[("id", "R"), ("status", "active")], "gtin or registration_no is missing"),
            (FeedKind::Recall, &[("id", "R"), ("status", "active"), ("gtin", "6901234000284")], "gtin \"6901234000284\""),
            (FeedKind::Recall, &[("status", "active"), ("gtin", "6901234000283")], "id is missing"),
            (FeedKind::Recall, &[("id", "R"), ("status", "active"), ("gtin", "6901234000283"), ("lots", "A B")], "lot \"A B\" contains ' '"),
            (FeedKind::Recall, &[("id", "R"), ("status", "active"), ("gtin", "6901234000283"), ("colour", "red")], "unknown column \"colour\""),
            (FeedKind::SpotCheck, &[("id", "S"), ("status", "refused_inspection")], "credit_code (repeat_failure and refused_inspection mark the enterprise) is missing"),
            (FeedKind::Blacklist, &[("status", "listed"), ("credit_code", "91330203MA2H000010")], "credit_code \"91330203MA2H000010\""),
            (FeedKind::Licence, &[("licence_no", "L1"), ("status", "valid"), ("valid_until", "2026-02-30")], "valid_until \"2026-02-30\" is not a date"),
            (FeedKind::Ccc, &[("status", "revoked")], "cert_no is missing"),
        ];
        for (kind, fields, expected) in cases {
            let e = one(kind, fields).unwrap_err();
            assert_eq!(e.line, 2);
            assert!(
                e.reason.contains(expected),
                "{kind}: {:?} lacks {expected:?}",
                e.reason
            );
        }
    }

    #[test]
    fn ids_default_to_the_number_and_must_be_unique() {
        let mut seen = HashMap::new();
        let ccc = entry(
            FeedKind::Ccc,
            &row(2, &[("cert_no", "2024010701123456"), ("status", "valid")]),
            &mut seen,
        )
        .unwrap();
        assert_eq!(ccc.id, "2024010701123456");
        let again = entry(
            FeedKind::Ccc,
            &row(3, &[("cert_no", "2024010701123456"), ("status", "revoked")]),
            &mut seen,
        )
        .unwrap_err();
        assert_eq!(again.line, 3);
        assert!(
            again.reason.contains("already appears on line 2"),
            "{}",
            again.reason
        );
    }

    #[test]
    fn a_withdrawal_needs_only_its_id() {
        let e = one(FeedKind::Recall, &[("id", "R"), ("status", "withdrawn")]).unwrap();
        assert!(e.is_withdrawn());
        let ent = format!(
            "91330203MA2H00001{}",
            crate::codes::uscc::check_char("91330203MA2H00001").unwrap()
        );
        let e = one(
            FeedKind::Blacklist,
            &[("credit_code", &ent), ("status", "withdrawn")],
        )
        .unwrap();
        assert_eq!((e.id.as_str(), e.is_withdrawn()), (ent.as_str(), true));
        // The credit code that names the entry must still be a valid one.
        assert!(one(
            FeedKind::Blacklist,
            &[
                ("credit_code", "91330203MA2H00001X"),
                ("status", "withdrawn")
            ],
        )
        .is_err());
    }

    #[test]
    fn enterprise_level_spot_checks() {
        let e = one(
            FeedKind::SpotCheck,
            &[
                ("id", "S2"),
                ("status", "repeat-failure"),
                (
                    "credit_code",
                    &format!(
                        "91330203MA2H00001{}",
                        crate::codes::uscc::check_char("91330203MA2H00001").unwrap()
                    ),
                ),
            ],
        )
        .unwrap();
        assert_eq!(e.status, "repeat_failure");
    }
}
