//! Regulatory status feeds (SPEC "Regulatory status feeds"): recalls, spot checks, CCC
//! certificates, licences and the serious-violator list, imported from regulators' files.
//!
//! A feed file is CSV (UTF-8 with a header row, or GB18030 as many Chinese office tools write
//! it) or JSON; `docs/feeds/README.md` documents every column. An import goes through four
//! steps, each in its own module:
//!
//! 1. [`decode`] — bytes to text (UTF-8, or GB18030 detected and converted), then to raw rows
//!    that remember their line numbers. Pure.
//! 2. [`validate`] — each raw row to an [`validate::Entry`] or a [`validate::RowError`] saying
//!    which line and why (a bad GTIN check digit, an invalid credit code, an unknown status…).
//!    Pure.
//! 3. [`apply`] — one transaction: bump the catalog version (so every process's cache sees the
//!    change on its next query), record the import (who, when, file hash, counts), add, update
//!    or withdraw each entry, audit each change and the import, and queue the proactive recall
//!    notices. Nothing of a file with a bad row is applied unless the caller skips bad rows.
//! 4. [`outbox`] — the recall notice outbox: which consumers (SMS sources) queried a recalled
//!    batch, each told exactly once through a [`outbox::RecallSender`].
//!
//! **Entries, supersession, withdrawal.** Every entry carries the feed's stable id (`id`: the
//! recall notice number, the certificate number…). A later import with the same kind and id
//! replaces the entry (a recall extended to more lots, a certificate reinstated: status
//! `valid`); status `withdrawn` deactivates it (a recall closed, a company taken off the list).
//! Entries are stored as `status_notices` rows, the same rows the verdict engine already
//! matches ([`crate::facts::NoticeFacts::applies`]); [`crate::lifecycle::Registry::add_notice`]
//! writes the demo's notices through the same table.
//!
//! [`tokens`] holds the bearer tokens regulators post feeds with over HTTP.

pub mod apply;
pub mod decode;
pub mod outbox;
pub mod tokens;
pub mod validate;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

pub use apply::{import, list_entries, list_imports, FeedEntry, FeedImport, ImportReport};

/// Status that withdraws an entry, in every kind of feed.
pub const WITHDRAWN: &str = "withdrawn";

/// The five kinds of feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    Recall,
    SpotCheck,
    Ccc,
    Licence,
    Blacklist,
}

impl FeedKind {
    pub const ALL: [FeedKind; 5] = [
        FeedKind::Recall,
        FeedKind::SpotCheck,
        FeedKind::Ccc,
        FeedKind::Licence,
        FeedKind::Blacklist,
    ];

    /// The name on the command line and in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Recall => "recall",
            FeedKind::SpotCheck => "spot-check",
            FeedKind::Ccc => "ccc",
            FeedKind::Licence => "licence",
            FeedKind::Blacklist => "blacklist",
        }
    }

    /// The `kind` of the notices it produces (as in [`crate::facts::NoticeFacts`]).
    pub fn notice_kind(self) -> &'static str {
        match self {
            FeedKind::Recall => "recall",
            FeedKind::SpotCheck => "spot_check",
            FeedKind::Ccc => "ccc",
            FeedKind::Licence => "licence",
            FeedKind::Blacklist => "blacklist",
        }
    }

    /// Accepts the command-line name, the notice kind, and `license`.
    pub fn parse(s: &str) -> Option<FeedKind> {
        let s = s.trim().to_ascii_lowercase();
        FeedKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.notice_kind() == s)
            .or_else(|| (s == "license").then_some(FeedKind::Licence))
    }

    /// The statuses an entry of this kind may have besides [`WITHDRAWN`].
    pub fn statuses(self) -> &'static [&'static str] {
        match self {
            FeedKind::Recall => &["active"],
            FeedKind::SpotCheck => &["failed", "repeat_failure", "refused_inspection"],
            FeedKind::Ccc => &["valid", "suspended", "revoked", "cancelled"],
            FeedKind::Licence => &["valid", "suspended", "revoked", "cancelled", "expired"],
            FeedKind::Blacklist => &["listed"],
        }
    }
}

impl std::fmt::Display for FeedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a feed file could not be imported at all (bad rows are reported per row instead).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not text in a known encoding, not CSV or JSON of the documented shape.
    #[error("{0}")]
    Unreadable(String),
    /// Readable, but not an import: no entries, unknown or missing columns.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for FeedError {
    fn from(e: sqlx::Error) -> Self {
        FeedError::Store(StoreError::Db(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names() {
        for k in FeedKind::ALL {
            assert_eq!(FeedKind::parse(k.as_str()), Some(k));
            assert_eq!(FeedKind::parse(k.notice_kind()), Some(k));
        }
        assert_eq!(FeedKind::parse("License"), Some(FeedKind::Licence));
        assert_eq!(FeedKind::parse("recalls"), None);
    }
}
