//! Routing: which market-supervision office handles a case (SPEC "Cases and reporting").
//!
//! Two pure steps, no I/O:
//!
//! 1. **The place** ([`case_place`]): where the conduct took place — a kiosk's store, the place
//!    an SMS or IVR caller stated. Batch-level counterfeiting (a lot or expiry date that does not
//!    match the code) is the manufacturer's matter, so it goes to the manufacturer's location.
//!    With neither, the brand enterprise's location.
//! 2. **The office** ([`office_for`]): offices are configured per division-code prefix
//!    (`330203` a county, `3302` a city, `33` a province, the empty prefix the national office);
//!    the longest prefix of the place wins: 330203 → 3302 → 33 → national. A case without a
//!    place goes to the national office. [`office_above`] is the next level up, for escalation.

use serde::{Deserialize, Serialize};

use crate::codes::division::DivisionCode;
use crate::verdict::CaseReason;

/// A configured regulator endpoint: one office, bound to a division-code prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Regulator {
    pub id: i64,
    /// `""` (national), `PP`, `PPCC` or `PPCCXX`.
    pub prefix: String,
    pub name: String,
    /// Where its reports are delivered (HTTPS).
    pub url: String,
}

/// Why a prefix is not a routing prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error(
        "{0:?} is not a division-code prefix: use 2 digits (province, e.g. 33), 4 (city, 3302), \
         6 (county, 330203), or \"national\""
    )]
    Shape(String),
    #[error("{0:?} is not a division-code prefix: {1}")]
    Division(String, crate::codes::division::DivisionError),
}

/// Normalises an office prefix: `national` (or empty) → `""`; otherwise 2, 4 or 6 digits whose
/// province exists. A 4- or 6-digit prefix may not end in `00` (that is its parent's prefix).
pub fn parse_prefix(text: &str) -> Result<String, PrefixError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("national") {
        return Ok(String::new());
    }
    let shape_ok = matches!(t.len(), 2 | 4 | 6)
        && t.bytes().all(|b| b.is_ascii_digit())
        && !(t.len() > 2 && t.ends_with("00"));
    if !shape_ok {
        return Err(PrefixError::Shape(t.to_owned()));
    }
    let padded = format!("{t:0<6}");
    DivisionCode::parse(&padded).map_err(|e| PrefixError::Division(t.to_owned(), e))?;
    Ok(t.to_owned())
}

/// The level an office prefix stands for, for people.
pub fn level(prefix: &str) -> &'static str {
    match prefix.len() {
        0 => "national",
        2 => "province",
        4 => "city",
        _ => "county",
    }
}

/// Where a case is handled: the place of the conduct when known; batch-level counterfeiting at
/// the manufacturer's location; otherwise the enterprise's location.
pub fn case_place(
    reason: CaseReason,
    conduct: Option<&str>,
    manufacturer: Option<&str>,
    enterprise: Option<&str>,
) -> Option<String> {
    let pick = if reason.is_batch_level() {
        manufacturer.or(enterprise).or(conduct)
    } else {
        conduct.or(enterprise)
    };
    pick.map(str::to_owned)
}

/// The prefixes of a place an office may be bound to, longest first, ending with the national
/// `""`: `330203` → `["330203", "3302", "33", ""]`.
pub fn candidate_prefixes(place: Option<&str>) -> Vec<String> {
    let mut out = place
        .and_then(|p| DivisionCode::parse(p).ok())
        .map(|d| d.routing_prefixes())
        .unwrap_or_default();
    out.push(String::new());
    out
}

/// The office in charge of a place: the longest configured prefix of it (national last).
pub fn office_for<'a>(place: Option<&str>, offices: &'a [Regulator]) -> Option<&'a Regulator> {
    candidate_prefixes(place)
        .iter()
        .find_map(|p| offices.iter().find(|o| o.prefix == *p))
}

/// The next office up from `current` for a case at `place`: the longest configured prefix of the
/// place that is shorter than `current`'s (county → city → province → national). `None` at the
/// top.
pub fn office_above<'a>(
    place: Option<&str>,
    current: &str,
    offices: &'a [Regulator],
) -> Option<&'a Regulator> {
    candidate_prefixes(place)
        .iter()
        .filter(|p| p.len() < current.len())
        .find_map(|p| offices.iter().find(|o| o.prefix == *p))
}

/// Whether an office bound to `prefix` has jurisdiction over a case at `place` (a case without a
/// place is national business).
pub fn within(prefix: &str, place: Option<&str>) -> bool {
    prefix.is_empty() || place.is_some_and(|p| p.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(id: i64, prefix: &str) -> Regulator {
        Regulator {
            id,
            prefix: prefix.into(),
            name: format!("office {prefix}"),
            url: format!("https://example.test/{id}"),
        }
    }

    #[test]
    fn longest_prefix_wins_then_national() {
        let all = [
            office(1, ""),
            office(2, "33"),
            office(3, "3302"),
            office(4, "330203"),
            office(5, "31"),
        ];
        let pick = |place: Option<&str>, offices: &[Regulator]| {
            office_for(place, offices).map(|o| o.prefix.clone())
        };
        assert_eq!(pick(Some("330203"), &all).as_deref(), Some("330203"));
        assert_eq!(pick(Some("330205"), &all).as_deref(), Some("3302"));
        assert_eq!(pick(Some("330106"), &all).as_deref(), Some("33"));
        assert_eq!(pick(Some("310104"), &all).as_deref(), Some("31"));
        assert_eq!(pick(Some("440305"), &all).as_deref(), Some(""));
        assert_eq!(pick(None, &all).as_deref(), Some(""));
        // A city-level place never matches a county office.
        assert_eq!(pick(Some("330200"), &all).as_deref(), Some("3302"));
        // Without a national office, an unmatched place has no office.
        assert_eq!(pick(Some("440305"), &all[1..]), None);
        assert_eq!(pick(Some("not a place"), &all).as_deref(), Some(""));
    }

    #[test]
    fn escalation_climbs_one_configured_level_at_a_time() {
        let all = [office(1, ""), office(2, "33"), office(4, "330203")];
        let up = |current: &str| office_above(Some("330203"), current, &all).map(|o| o.id);
        assert_eq!(up("330203"), Some(2)); // no city office configured: the province
        assert_eq!(up("33"), Some(1));
        assert_eq!(up(""), None);
        let with_city = [office(1, ""), office(3, "3302"), office(4, "330203")];
        assert_eq!(
            office_above(Some("330203"), "330203", &with_city).map(|o| o.id),
            Some(3)
        );
    }

    #[test]
    fn place_of_the_conduct_then_manufacturer_then_enterprise() {
        use CaseReason::*;
        let p = |r, c, m, e| case_place(r, c, m, e);
        assert_eq!(
            p(
                CloneSuspected,
                Some("330203"),
                Some("440305"),
                Some("310104")
            )
            .as_deref(),
            Some("330203")
        );
        assert_eq!(
            p(CloneSuspected, None, Some("440305"), Some("310104")).as_deref(),
            Some("310104")
        );
        assert_eq!(
            p(
                BatchMismatch,
                Some("330203"),
                Some("440305"),
                Some("310104")
            )
            .as_deref(),
            Some("440305")
        );
        assert_eq!(
            p(ExpiryMismatch, Some("330203"), None, Some("310104")).as_deref(),
            Some("310104")
        );
        assert_eq!(
            p(ExpiryMismatch, Some("330203"), None, None).as_deref(),
            Some("330203")
        );
        assert_eq!(p(UnknownCode, None, None, None), None);
    }

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(parse_prefix("national").unwrap(), "");
        assert_eq!(parse_prefix(" 3302 ").unwrap(), "3302");
        assert_eq!(parse_prefix("330203").unwrap(), "330203");
        assert_eq!(parse_prefix("33").unwrap(), "33");
        for bad in ["3", "330", "330200", "3300", "99", "3a02", "3302033"] {
            assert!(parse_prefix(bad).is_err(), "{bad}");
        }
        assert_eq!(level("3302"), "city");
        assert!(within("33", Some("330203")));
        assert!(!within("3301", Some("330203")));
        assert!(within("", None));
        assert!(!within("33", None));
    }
}
