//! The verdict engine: one pure function decides for every channel.
//!
//! A query goes through three steps. *Resolution* (in [`crate::verify`]) reads what zhenwei knows
//! about the presented code: is it a code at all, which item or product it names, the item's
//! lifecycle, its manufacturer prefix, its batch, and the regulatory notices that touch it.
//! *Recording* atomically counts the query in the code's history. *Decision*, this module, turns
//! those facts plus the history into an [`Decision`]: the authenticity, the warnings, whether to
//! ask the consumer to re-check, and which suspected-counterfeit cases to open.
//!
//! Keeping the decision free of I/O means every rule of SPEC "The verdict" is a unit test here,
//! and the kiosk, SMS, IVR, web and CLI channels cannot disagree: they all call [`decide`].

use serde::{Deserialize, Serialize};

/// The headline answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authenticity {
    Genuine,
    Suspect,
    Unknown,
    NotACode,
}

impl Authenticity {
    pub fn as_str(self) -> &'static str {
        match self {
            Authenticity::Genuine => "genuine",
            Authenticity::Suspect => "suspect",
            Authenticity::Unknown => "unknown",
            Authenticity::NotACode => "not_a_code",
        }
    }

    pub fn parse(s: &str) -> Option<Authenticity> {
        [
            Authenticity::Genuine,
            Authenticity::Suspect,
            Authenticity::Unknown,
            Authenticity::NotACode,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// Everything that can qualify a verdict (SPEC "The verdict"); several may apply at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    RepeatQuery,
    ExcessiveQueries,
    CloneSuspected,
    NotActivated,
    Cancelled,
    BatchMismatch,
    ExpiryMismatch,
    Expired,
    Recalled,
    SpotCheckFailed,
    CertificateInvalid,
    LicenceInvalid,
    EnterpriseBlacklisted,
    PrefixInvalid,
}

impl Warning {
    pub const ALL: [Warning; 14] = [
        Warning::RepeatQuery,
        Warning::ExcessiveQueries,
        Warning::CloneSuspected,
        Warning::NotActivated,
        Warning::Cancelled,
        Warning::BatchMismatch,
        Warning::ExpiryMismatch,
        Warning::Expired,
        Warning::Recalled,
        Warning::SpotCheckFailed,
        Warning::CertificateInvalid,
        Warning::LicenceInvalid,
        Warning::EnterpriseBlacklisted,
        Warning::PrefixInvalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Warning::RepeatQuery => "repeat_query",
            Warning::ExcessiveQueries => "excessive_queries",
            Warning::CloneSuspected => "clone_suspected",
            Warning::NotActivated => "not_activated",
            Warning::Cancelled => "cancelled",
            Warning::BatchMismatch => "batch_mismatch",
            Warning::ExpiryMismatch => "expiry_mismatch",
            Warning::Expired => "expired",
            Warning::Recalled => "recalled",
            Warning::SpotCheckFailed => "spot_check_failed",
            Warning::CertificateInvalid => "certificate_invalid",
            Warning::LicenceInvalid => "licence_invalid",
            Warning::EnterpriseBlacklisted => "enterprise_blacklisted",
            Warning::PrefixInvalid => "prefix_invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Warning> {
        Warning::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Does this warning alone make the item suspect (rather than a caution on a genuine item)?
    pub fn makes_suspect(self) -> bool {
        matches!(
            self,
            Warning::ExcessiveQueries
                | Warning::CloneSuspected
                | Warning::NotActivated
                | Warning::Cancelled
                | Warning::BatchMismatch
                | Warning::ExpiryMismatch
                | Warning::PrefixInvalid
        )
    }
}

/// Why a suspected-counterfeit case was opened. One case exists per code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseReason {
    ExcessiveQueries,
    CloneSuspected,
    NotActivated,
    Cancelled,
    BatchMismatch,
    ExpiryMismatch,
    PrefixInvalid,
    /// A code that is no code zhenwei issued, scanned by a kiosk or confirmed by re-entry.
    UnknownCode,
    /// One source presenting many unknown codes: somebody is guessing.
    Enumeration,
    /// A consumer pressed "report" / texted JB.
    ConsumerReport,
}

impl CaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseReason::ExcessiveQueries => "excessive_queries",
            CaseReason::CloneSuspected => "clone_suspected",
            CaseReason::NotActivated => "not_activated",
            CaseReason::Cancelled => "cancelled",
            CaseReason::BatchMismatch => "batch_mismatch",
            CaseReason::ExpiryMismatch => "expiry_mismatch",
            CaseReason::PrefixInvalid => "prefix_invalid",
            CaseReason::UnknownCode => "unknown_code",
            CaseReason::Enumeration => "enumeration",
            CaseReason::ConsumerReport => "consumer_report",
        }
    }

    fn for_warning(w: Warning) -> Option<CaseReason> {
        Some(match w {
            Warning::ExcessiveQueries => CaseReason::ExcessiveQueries,
            Warning::CloneSuspected => CaseReason::CloneSuspected,
            Warning::NotActivated => CaseReason::NotActivated,
            Warning::Cancelled => CaseReason::Cancelled,
            Warning::BatchMismatch => CaseReason::BatchMismatch,
            Warning::ExpiryMismatch => CaseReason::ExpiryMismatch,
            Warning::PrefixInvalid => CaseReason::PrefixInvalid,
            _ => return None,
        })
    }

    /// Batch-level counterfeiting (routed to the manufacturer's office) rather than conduct at
    /// one place of sale.
    pub fn is_batch_level(self) -> bool {
        matches!(self, CaseReason::BatchMismatch | CaseReason::ExpiryMismatch)
    }
}

/// The channel a query came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Kiosk,
    Sms,
    Ivr,
    Web,
    Cli,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Kiosk,
        Channel::Sms,
        Channel::Ivr,
        Channel::Web,
        Channel::Cli,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Kiosk => "kiosk",
            Channel::Sms => "sms",
            Channel::Ivr => "ivr",
            Channel::Web => "web",
            Channel::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A kiosk reads the code with a scanner, so an unknown code is what is printed on the
    /// pack. Every other channel is typed by a person, who may have mistyped: ask first.
    pub fn is_machine_read(self) -> bool {
        matches!(self, Channel::Kiosk)
    }
}

/// Configurable thresholds (SPEC: "all thresholds configurable"). Defaults are the SPEC's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// The query number from which `repeat_query` is warned (2nd query).
    pub repeat_from: i64,
    /// The query number from which the code is suspect `excessive_queries` (5th query).
    pub excessive_from: i64,
    /// Window for the two-cities clone rule, in hours.
    pub clone_window_hours: i64,
    /// Distinct cities within the window that make a clone.
    pub clone_cities: i64,
    /// Distinct stores (ever) that make a clone.
    pub clone_stores: i64,
    /// Distinct unknown codes from one source within the enumeration window that make it a
    /// guessing attack.
    pub enumeration_unknown_codes: i64,
    /// Enumeration window, in minutes.
    pub enumeration_window_minutes: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            repeat_from: 2,
            excessive_from: 5,
            clone_window_hours: 24,
            clone_cities: 2,
            clone_stores: 3,
            enumeration_unknown_codes: 10,
            enumeration_window_minutes: 60,
        }
    }
}

/// The lifecycle state of one item code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Active,
    NotActivated,
    Cancelled,
}

/// Status of the manufacturer prefix a product's GTIN belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefixStatus {
    Registered,
    Expired,
    Cancelled,
    Unregistered,
}

impl PrefixStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefixStatus::Registered => "registered",
            PrefixStatus::Expired => "expired",
            PrefixStatus::Cancelled => "cancelled",
            PrefixStatus::Unregistered => "unregistered",
        }
    }
}

/// Regulatory status that qualifies an otherwise genuine item (SPEC "Regulatory status feeds").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoticeFlags {
    pub recalled: bool,
    pub spot_check_failed: bool,
    pub certificate_invalid: bool,
    pub licence_invalid: bool,
    pub enterprise_blacklisted: bool,
}

/// What one item code (a supervision code, a GS1 serial or a scratch PIN) resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemFacts {
    pub lifecycle: Lifecycle,
    pub prefix: PrefixStatus,
    /// The pack's lot (GS1 AI 10) differs from the registered batch.
    pub lot_mismatch: bool,
    /// The pack's expiry (GS1 AI 17) differs from the registered batch.
    pub expiry_mismatch: bool,
    /// The registered batch is past its expiry date.
    pub expired: bool,
    pub notices: NoticeFlags,
}

/// What the presented text identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Not a code of any family.
    NotACode,
    /// Syntactically a code, but not one zhenwei issued or was given (fails the arithmetic
    /// check, names no issued range, or an unregistered serial/PIN).
    Unrecognised,
    /// One item.
    Item(ItemFacts),
    /// A plain GTIN: a product type, not an item.
    ProductType {
        prefix: PrefixStatus,
        notices: NoticeFlags,
    },
}

/// The code's query history, including the query being decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Queries of this code so far, this one included.
    pub count: i64,
    /// Distinct cities among this code's queries in the clone window, this one included.
    pub cities_in_window: i64,
    /// Distinct stores (kiosks' stores) among all this code's queries, this one included.
    pub stores: i64,
    /// Earlier queries of this same unknown code by this same source.
    pub same_source_repeats: i64,
    /// Distinct unknown codes this source presented in the enumeration window, this one included.
    pub source_unknown_codes: i64,
}

/// What the engine decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub authenticity: Authenticity,
    pub warnings: Vec<Warning>,
    /// Ask the consumer to check the code and enter it again before anything else happens.
    pub recheck: bool,
    pub case_reasons: Vec<CaseReason>,
}

impl Decision {
    fn new(authenticity: Authenticity) -> Decision {
        Decision {
            authenticity,
            warnings: Vec::new(),
            recheck: false,
            case_reasons: Vec::new(),
        }
    }
}

fn notice_warnings(n: NoticeFlags, out: &mut Vec<Warning>) {
    let flags = [
        (n.recalled, Warning::Recalled),
        (n.spot_check_failed, Warning::SpotCheckFailed),
        (n.certificate_invalid, Warning::CertificateInvalid),
        (n.licence_invalid, Warning::LicenceInvalid),
        (n.enterprise_blacklisted, Warning::EnterpriseBlacklisted),
    ];
    out.extend(flags.into_iter().filter(|(on, _)| *on).map(|(_, w)| w));
}

/// Decides the verdict. Pure: same inputs, same decision, on every channel.
pub fn decide(identity: Identity, history: History, channel: Channel, t: &Thresholds) -> Decision {
    match identity {
        Identity::NotACode => Decision::new(Authenticity::NotACode),
        Identity::Unrecognised => {
            let mut d = Decision::new(Authenticity::Unknown);
            if channel.is_machine_read() || history.same_source_repeats > 0 {
                d.case_reasons.push(CaseReason::UnknownCode);
            } else {
                d.recheck = true;
            }
            if history.source_unknown_codes >= t.enumeration_unknown_codes {
                d.case_reasons.push(CaseReason::Enumeration);
            }
            d
        }
        Identity::ProductType { prefix, notices } => {
            let mut d = Decision::new(Authenticity::Unknown);
            match prefix {
                PrefixStatus::Unregistered | PrefixStatus::Cancelled => {
                    d.authenticity = Authenticity::Suspect;
                    d.warnings.push(Warning::PrefixInvalid);
                    d.case_reasons.push(CaseReason::PrefixInvalid);
                }
                PrefixStatus::Expired => d.warnings.push(Warning::PrefixInvalid),
                PrefixStatus::Registered => {}
            }
            notice_warnings(notices, &mut d.warnings);
            d
        }
        Identity::Item(item) => {
            let mut w = Vec::new();
            match item.lifecycle {
                Lifecycle::Active => {}
                Lifecycle::NotActivated => w.push(Warning::NotActivated),
                Lifecycle::Cancelled => w.push(Warning::Cancelled),
            }
            if item.prefix != PrefixStatus::Registered {
                w.push(Warning::PrefixInvalid);
            }
            if item.lot_mismatch {
                w.push(Warning::BatchMismatch);
            }
            if item.expiry_mismatch {
                w.push(Warning::ExpiryMismatch);
            }
            if history.count >= t.excessive_from {
                w.push(Warning::ExcessiveQueries);
            } else if history.count >= t.repeat_from {
                w.push(Warning::RepeatQuery);
            }
            if history.cities_in_window >= t.clone_cities || history.stores >= t.clone_stores {
                w.push(Warning::CloneSuspected);
            }
            notice_warnings(item.notices, &mut w);
            if item.expired {
                w.push(Warning::Expired);
            }
            let suspect = w.iter().any(|x| x.makes_suspect());
            Decision {
                authenticity: if suspect {
                    Authenticity::Suspect
                } else {
                    Authenticity::Genuine
                },
                case_reasons: w
                    .iter()
                    .filter_map(|x| CaseReason::for_warning(*x))
                    .collect(),
                warnings: w,
                recheck: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genuine_item() -> ItemFacts {
        ItemFacts {
            lifecycle: Lifecycle::Active,
            prefix: PrefixStatus::Registered,
            lot_mismatch: false,
            expiry_mismatch: false,
            expired: false,
            notices: NoticeFlags::default(),
        }
    }

    fn nth(count: i64) -> History {
        History {
            count,
            cities_in_window: 1,
            stores: 1,
            ..History::default()
        }
    }

    fn item(facts: ItemFacts, h: History) -> Decision {
        decide(
            Identity::Item(facts),
            h,
            Channel::Web,
            &Thresholds::default(),
        )
    }

    #[test]
    fn first_query_of_an_activated_code_is_genuine() {
        let d = item(genuine_item(), nth(1));
        assert_eq!(d.authenticity, Authenticity::Genuine);
        assert!(d.warnings.is_empty());
        assert!(d.case_reasons.is_empty());
    }

    #[test]
    fn second_to_fourth_query_warn_repeat() {
        for n in 2..=4 {
            let d = item(genuine_item(), nth(n));
            assert_eq!(d.authenticity, Authenticity::Genuine, "query {n}");
            assert_eq!(d.warnings, vec![Warning::RepeatQuery], "query {n}");
        }
    }

    #[test]
    fn fifth_and_later_queries_are_suspect() {
        for n in [5, 6, 50] {
            let d = item(genuine_item(), nth(n));
            assert_eq!(d.authenticity, Authenticity::Suspect, "query {n}");
            assert_eq!(d.warnings, vec![Warning::ExcessiveQueries]);
            assert_eq!(d.case_reasons, vec![CaseReason::ExcessiveQueries]);
        }
    }

    #[test]
    fn thresholds_are_configurable() {
        let t = Thresholds {
            repeat_from: 3,
            excessive_from: 10,
            ..Thresholds::default()
        };
        let d = decide(Identity::Item(genuine_item()), nth(2), Channel::Web, &t);
        assert!(d.warnings.is_empty());
        let d = decide(Identity::Item(genuine_item()), nth(9), Channel::Web, &t);
        assert_eq!(d.warnings, vec![Warning::RepeatQuery]);
    }

    #[test]
    fn two_cities_in_a_day_or_three_stores_is_a_clone() {
        let two_cities = History {
            count: 2,
            cities_in_window: 2,
            stores: 1,
            ..History::default()
        };
        let d = item(genuine_item(), two_cities);
        assert_eq!(d.authenticity, Authenticity::Suspect);
        assert_eq!(
            d.warnings,
            vec![Warning::RepeatQuery, Warning::CloneSuspected]
        );
        assert_eq!(d.case_reasons, vec![CaseReason::CloneSuspected]);

        let three_stores = History {
            count: 3,
            cities_in_window: 1,
            stores: 3,
            ..History::default()
        };
        assert_eq!(
            item(genuine_item(), three_stores).authenticity,
            Authenticity::Suspect
        );
        let two_stores = History {
            stores: 2,
            ..three_stores
        };
        assert_eq!(
            item(genuine_item(), two_stores).authenticity,
            Authenticity::Genuine
        );
    }

    #[test]
    fn lifecycle_and_batch_problems_are_suspect_with_a_case() {
        let cases = [
            (
                ItemFacts {
                    lifecycle: Lifecycle::NotActivated,
                    ..genuine_item()
                },
                Warning::NotActivated,
                CaseReason::NotActivated,
            ),
            (
                ItemFacts {
                    lifecycle: Lifecycle::Cancelled,
                    ..genuine_item()
                },
                Warning::Cancelled,
                CaseReason::Cancelled,
            ),
            (
                ItemFacts {
                    lot_mismatch: true,
                    ..genuine_item()
                },
                Warning::BatchMismatch,
                CaseReason::BatchMismatch,
            ),
            (
                ItemFacts {
                    expiry_mismatch: true,
                    ..genuine_item()
                },
                Warning::ExpiryMismatch,
                CaseReason::ExpiryMismatch,
            ),
            (
                ItemFacts {
                    prefix: PrefixStatus::Cancelled,
                    ..genuine_item()
                },
                Warning::PrefixInvalid,
                CaseReason::PrefixInvalid,
            ),
            (
                ItemFacts {
                    prefix: PrefixStatus::Expired,
                    ..genuine_item()
                },
                Warning::PrefixInvalid,
                CaseReason::PrefixInvalid,
            ),
        ];
        for (facts, warning, reason) in cases {
            let d = item(facts, nth(1));
            assert_eq!(d.authenticity, Authenticity::Suspect, "{warning:?}");
            assert_eq!(d.warnings, vec![warning]);
            assert_eq!(d.case_reasons, vec![reason]);
        }
    }

    #[test]
    fn regulatory_notices_warn_on_a_genuine_item() {
        let all = ItemFacts {
            expired: true,
            notices: NoticeFlags {
                recalled: true,
                spot_check_failed: true,
                certificate_invalid: true,
                licence_invalid: true,
                enterprise_blacklisted: true,
            },
            ..genuine_item()
        };
        let d = item(all, nth(1));
        assert_eq!(d.authenticity, Authenticity::Genuine);
        assert_eq!(
            d.warnings,
            vec![
                Warning::Recalled,
                Warning::SpotCheckFailed,
                Warning::CertificateInvalid,
                Warning::LicenceInvalid,
                Warning::EnterpriseBlacklisted,
                Warning::Expired
            ]
        );
        assert!(d.case_reasons.is_empty());
    }

    #[test]
    fn unknown_code_from_a_kiosk_opens_a_case() {
        let d = decide(
            Identity::Unrecognised,
            nth(1),
            Channel::Kiosk,
            &Thresholds::default(),
        );
        assert_eq!(d.authenticity, Authenticity::Unknown);
        assert!(!d.recheck);
        assert_eq!(d.case_reasons, vec![CaseReason::UnknownCode]);
    }

    #[test]
    fn unknown_code_typed_asks_to_recheck_then_a_confirmed_reentry_opens_a_case() {
        for ch in [Channel::Sms, Channel::Ivr, Channel::Web] {
            let first = decide(Identity::Unrecognised, nth(1), ch, &Thresholds::default());
            assert!(first.recheck);
            assert!(first.case_reasons.is_empty());
            let again = History {
                same_source_repeats: 1,
                ..nth(2)
            };
            let second = decide(Identity::Unrecognised, again, ch, &Thresholds::default());
            assert!(!second.recheck);
            assert_eq!(second.case_reasons, vec![CaseReason::UnknownCode]);
        }
    }

    #[test]
    fn many_unknown_codes_from_one_source_is_enumeration() {
        let h = History {
            source_unknown_codes: 10,
            ..nth(1)
        };
        let d = decide(
            Identity::Unrecognised,
            h,
            Channel::Sms,
            &Thresholds::default(),
        );
        assert_eq!(d.case_reasons, vec![CaseReason::Enumeration]);
        let h = History {
            source_unknown_codes: 9,
            ..nth(1)
        };
        let d = decide(
            Identity::Unrecognised,
            h,
            Channel::Sms,
            &Thresholds::default(),
        );
        assert!(d.case_reasons.is_empty());
    }

    #[test]
    fn plain_gtin_reports_the_prefix_status() {
        let t = Thresholds::default();
        let n = NoticeFlags::default();
        let pt = |prefix| {
            decide(
                Identity::ProductType { prefix, notices: n },
                nth(1),
                Channel::Web,
                &t,
            )
        };
        assert_eq!(
            pt(PrefixStatus::Registered).authenticity,
            Authenticity::Unknown
        );
        assert!(pt(PrefixStatus::Registered).warnings.is_empty());
        let expired = pt(PrefixStatus::Expired);
        assert_eq!(expired.authenticity, Authenticity::Unknown);
        assert_eq!(expired.warnings, vec![Warning::PrefixInvalid]);
        for s in [PrefixStatus::Cancelled, PrefixStatus::Unregistered] {
            let d = pt(s);
            assert_eq!(d.authenticity, Authenticity::Suspect);
            assert_eq!(d.case_reasons, vec![CaseReason::PrefixInvalid]);
        }
    }

    #[test]
    fn not_a_code_is_just_that() {
        let d = decide(
            Identity::NotACode,
            History::default(),
            Channel::Sms,
            &Thresholds::default(),
        );
        assert_eq!(d.authenticity, Authenticity::NotACode);
        assert!(d.warnings.is_empty() && d.case_reasons.is_empty() && !d.recheck);
    }

    #[test]
    fn names_round_trip() {
        for w in Warning::ALL {
            assert_eq!(Warning::parse(w.as_str()), Some(w));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
    }
}
