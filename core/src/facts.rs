//! Facts about products, enterprises, batches and regulatory notices, as shown in a verdict.
//!
//! These are read-only views assembled by the resolver; every channel renders them in its own
//! terms (a kiosk screen, a 70-character SMS, a spoken prompt).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::verdict::NoticeFlags;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProductFacts {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub enterprise_id: i64,
    pub gtin: String,
    pub name: String,
    pub name_en: Option<String>,
    pub spec: Option<String>,
    pub category: Option<String>,
    pub ccc_cert_no: Option<String>,
    pub licence_no: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EnterpriseFacts {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub name_en: Option<String>,
    pub credit_code: String,
    pub division: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BatchFacts {
    #[serde(skip)]
    pub id: i64,
    pub lot: String,
    pub production_date: Option<String>,
    pub expiry_date: Option<String>,
    /// Where the batch was made (division code) when not at the enterprise's location
    /// (contract manufacturing); routes batch-level counterfeiting cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_in: Option<String>,
}

impl BatchFacts {
    pub fn expiry(&self) -> Option<NaiveDate> {
        self.expiry_date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    }
}

/// A regulatory notice (recall, spot check, certificate, licence, blacklist) that touches the
/// queried item, with the notice's own advice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct NoticeFacts {
    #[serde(skip)]
    pub id: i64,
    pub kind: String,
    /// The feed's own id of the entry (e.g. the recall notice number); `None` for notices not
    /// imported from a feed.
    pub reference: Option<String>,
    pub status: String,
    #[serde(skip)]
    pub gtin: Option<String>,
    /// The batches it is limited to, separated by `;` (`None`: every batch).
    pub lot: Option<String>,
    #[serde(skip)]
    pub credit_code: Option<String>,
    #[serde(skip)]
    pub cert_no: Option<String>,
    /// The licence number (`licence`), or the product registration number a recall or spot
    /// check names the product by (matched against the product's licence/registration number).
    #[serde(skip)]
    pub licence_no: Option<String>,
    pub valid_until: Option<String>,
    pub advice_zh: Option<String>,
    pub advice_en: Option<String>,
}

/// Statuses under which a CCC certificate no longer vouches for a product.
pub const CERTIFICATE_INVALID: [&str; 3] = ["revoked", "suspended", "cancelled"];
/// Statuses under which a licence is not valid (besides being past `valid_until`).
pub const LICENCE_INVALID: [&str; 4] = ["cancelled", "revoked", "expired", "suspended"];
/// Spot-check statuses that mark the enterprise rather than a product or batch.
pub const SPOT_CHECK_ENTERPRISE: [&str; 2] = ["repeat_failure", "refused_inspection"];

impl NoticeFacts {
    /// Does this notice apply to an item of `product` (made by `enterprise`) in `batch`, on
    /// `today`? Returns the flag it raises.
    pub fn applies(
        &self,
        product: &ProductFacts,
        enterprise: &EnterpriseFacts,
        batch: Option<&BatchFacts>,
        today: NaiveDate,
    ) -> Option<NoticeFlags> {
        // The product, by GTIN or by its registration number.
        let product_matches = self.gtin.as_deref() == Some(product.gtin.as_str())
            || (self.licence_no.is_some() && self.licence_no == product.licence_no);
        let ent_matches = self.credit_code.as_deref() == Some(enterprise.credit_code.as_str());
        let lot_matches = match (&self.lot, batch) {
            (None, _) => true,
            (Some(l), Some(b)) => l.split(';').any(|one| one == b.lot),
            (Some(_), None) => false,
        };
        let mut f = NoticeFlags::default();
        match self.kind.as_str() {
            "recall" => f.recalled = product_matches && lot_matches,
            "spot_check" => {
                f.spot_check_failed = if SPOT_CHECK_ENTERPRISE.contains(&self.status.as_str()) {
                    ent_matches
                } else {
                    product_matches && lot_matches
                }
            }
            "ccc" => {
                f.certificate_invalid = product.ccc_cert_no.is_some()
                    && self.cert_no == product.ccc_cert_no
                    && CERTIFICATE_INVALID.contains(&self.status.as_str())
            }
            "licence" => {
                let lapsed = self
                    .valid_until
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .is_some_and(|until| until < today);
                f.licence_invalid = product.licence_no.is_some()
                    && self.licence_no == product.licence_no
                    && (lapsed || LICENCE_INVALID.contains(&self.status.as_str()))
            }
            "blacklist" => f.enterprise_blacklisted = ent_matches,
            _ => {}
        }
        (f != NoticeFlags::default()).then_some(f)
    }
}

/// Merges notice flags.
pub fn merge(a: NoticeFlags, b: NoticeFlags) -> NoticeFlags {
    NoticeFlags {
        recalled: a.recalled || b.recalled,
        spot_check_failed: a.spot_check_failed || b.spot_check_failed,
        certificate_invalid: a.certificate_invalid || b.certificate_invalid,
        licence_invalid: a.licence_invalid || b.licence_invalid,
        enterprise_blacklisted: a.enterprise_blacklisted || b.enterprise_blacklisted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> ProductFacts {
        ProductFacts {
            id: 1,
            enterprise_id: 1,
            gtin: "06901234567892".into(),
            name: "奶粉".into(),
            name_en: None,
            spec: None,
            category: None,
            ccc_cert_no: Some("2024010701000001".into()),
            licence_no: Some("浙械注准20240001".into()),
        }
    }

    fn enterprise() -> EnterpriseFacts {
        EnterpriseFacts {
            id: 1,
            name: "X".into(),
            name_en: None,
            credit_code: "91330203MA2AAAAA0X".into(),
            division: "330203".into(),
        }
    }

    fn batch(lot: &str) -> BatchFacts {
        BatchFacts {
            id: 1,
            lot: lot.into(),
            production_date: None,
            expiry_date: None,
            made_in: None,
        }
    }

    fn notice(kind: &str, status: &str) -> NoticeFacts {
        NoticeFacts {
            id: 1,
            kind: kind.into(),
            reference: None,
            status: status.into(),
            gtin: None,
            lot: None,
            credit_code: None,
            cert_no: None,
            licence_no: None,
            valid_until: None,
            advice_zh: None,
            advice_en: None,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    #[test]
    fn a_recall_of_one_lot_spares_other_lots() {
        let n = NoticeFacts {
            gtin: Some("06901234567892".into()),
            lot: Some("L1".into()),
            ..notice("recall", "active")
        };
        let (p, e) = (product(), enterprise());
        assert!(
            n.applies(&p, &e, Some(&batch("L1")), today())
                .unwrap()
                .recalled
        );
        assert_eq!(n.applies(&p, &e, Some(&batch("L2")), today()), None);
    }

    #[test]
    fn certificates_and_licences() {
        let (p, e) = (product(), enterprise());
        let revoked = NoticeFacts {
            cert_no: p.ccc_cert_no.clone(),
            ..notice("ccc", "revoked")
        };
        assert!(
            revoked
                .applies(&p, &e, None, today())
                .unwrap()
                .certificate_invalid
        );
        let valid = NoticeFacts {
            cert_no: p.ccc_cert_no.clone(),
            ..notice("ccc", "valid")
        };
        assert_eq!(valid.applies(&p, &e, None, today()), None);
        let lapsed = NoticeFacts {
            licence_no: p.licence_no.clone(),
            valid_until: Some("2026-11-19".into()),
            ..notice("licence", "valid")
        };
        assert!(
            lapsed
                .applies(&p, &e, None, today())
                .unwrap()
                .licence_invalid
        );
        let current = NoticeFacts {
            valid_until: Some("2026-11-20".into()),
            ..lapsed
        };
        assert_eq!(current.applies(&p, &e, None, today()), None);
    }

    #[test]
    fn enterprise_level_notices() {
        let (p, e) = (product(), enterprise());
        let bl = NoticeFacts {
            credit_code: Some(e.credit_code.clone()),
            ..notice("blacklist", "listed")
        };
        assert!(
            bl.applies(&p, &e, None, today())
                .unwrap()
                .enterprise_blacklisted
        );
        let refused = NoticeFacts {
            credit_code: Some(e.credit_code.clone()),
            ..notice("spot_check", "refused_inspection")
        };
        assert!(
            refused
                .applies(&p, &e, None, today())
                .unwrap()
                .spot_check_failed
        );
    }

    #[test]
    fn recalls_by_registration_number_and_several_lots() {
        let (p, e) = (product(), enterprise());
        let n = NoticeFacts {
            licence_no: p.licence_no.clone(),
            lot: Some("L1;L3".into()),
            ..notice("recall", "active")
        };
        for (lot, recalled) in [("L1", true), ("L2", false), ("L3", true)] {
            assert_eq!(
                n.applies(&p, &e, Some(&batch(lot)), today()).is_some(),
                recalled,
                "{lot}"
            );
        }
        // No lot named: a GTIN-only scan (no batch) is not claimed for a lot-limited recall.
        assert_eq!(n.applies(&p, &e, None, today()), None);
        let other = ProductFacts {
            licence_no: Some("浙械注准20249999".into()),
            ..product()
        };
        assert_eq!(n.applies(&other, &e, Some(&batch("L1")), today()), None);
    }

    #[test]
    fn only_repeat_failures_and_refusals_mark_the_enterprise() {
        let (p, e) = (product(), enterprise());
        let failed_elsewhere = NoticeFacts {
            credit_code: Some(e.credit_code.clone()),
            gtin: Some("06900000000000".into()),
            ..notice("spot_check", "failed")
        };
        assert_eq!(failed_elsewhere.applies(&p, &e, None, today()), None);
        let repeat = NoticeFacts {
            status: "repeat_failure".into(),
            ..failed_elsewhere
        };
        assert!(
            repeat
                .applies(&p, &e, None, today())
                .unwrap()
                .spot_check_failed
        );
    }
}
