//! Cases and reporting to regulators (SPEC "Cases and reporting to regulators").
//!
//! The recorder opens a case when a verdict is suspect (and [`crate::verify::Verifier::report`]
//! when a consumer reports one); from there this module takes over:
//!
//! * [`routing`] — *where*: the place of the conduct (or the manufacturer's / enterprise's
//!   location), then the office with the longest matching division-code prefix. Pure.
//! * [`status`] — the lifecycle state machine open → delivered → acknowledged → investigating
//!   → closed(outcome). Pure.
//! * [`calendar`], [`escalation`] — working days in China and the "7 working days without
//!   acknowledgement → next level up" rule. Pure, given "now".
//! * [`outbox`] — the `deliveries` table: what to send, queued in the transaction of the change,
//!   claimed by workers (`FOR UPDATE SKIP LOCKED` on PostgreSQL), retried with backoff,
//!   dead-lettered.
//! * [`httpsig`] — Ed25519 HTTP Message Signatures (RFC 9421) over a body digest (RFC 9530).
//! * [`report`] — the JSON report each delivery carries (`docs/cases/report.schema.json`), built
//!   when it is sent, so it carries the evidence as of sending.
//! * [`accounts`] — regulator accounts: client certificates bound to an office's prefix.
//! * [`offices`] — the regulator offices and enterprise endpoints (database, audited).
//! * [`dashboard`] — the regulator dashboard's figures within a jurisdiction (ageing against
//!   the working-day limit); [`complaint`] — a case as a 12315 complaint/report form;
//!   [`history`] — a case's deliveries, escalations and audit trail, for the case page.
//! * [`casework`] — the changes themselves, each one transaction with its audit entry and its
//!   deliveries.
//!
//! The sending itself (HTTPS with a client certificate) is the server's job
//! (`zhenwei-server`'s `delivery` module); everything here is storage or pure logic.

pub mod accounts;
pub mod calendar;
pub mod casework;
pub mod complaint;
pub mod dashboard;
pub mod demo_cases;
pub mod escalation;
pub mod history;
pub mod httpsig;
pub mod offices;
pub mod outbox;
pub mod report;
pub mod routing;
pub mod status;

use serde::Deserialize;

pub use calendar::WorkCalendar;
pub use outbox::RetryPolicy;

/// Why a case operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no case {0}")]
    NotFound(i64),
    #[error(transparent)]
    Transition(#[from] status::TransitionError),
    #[error(transparent)]
    Prefix(#[from] routing::PrefixError),
    #[error("{0}")]
    Url(String),
    #[error("no enterprise with credit code {0:?}")]
    UnknownEnterprise(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for CaseError {
    fn from(e: sqlx::Error) -> Self {
        CaseError::Store(crate::store::StoreError::Db(e))
    }
}

impl CaseError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CaseError::Store(_) => "unavailable",
            CaseError::NotFound(_) => "case_not_found",
            CaseError::Transition(t) => t.code(),
            CaseError::Prefix(_) => "invalid_prefix",
            CaseError::Url(_) => "invalid_url",
            CaseError::UnknownEnterprise(_) => "unknown_enterprise",
            CaseError::Invalid(_) => "invalid",
        }
    }
}

/// The case rules of the configuration file (`[cases]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseRules {
    /// Working days an office has to acknowledge a delivered case before it is escalated.
    pub escalate_after_working_days: u32,
    /// How often `zhenwei serve` runs the escalation rule.
    pub escalation_check_seconds: u64,
    /// Public holidays (dates in China).
    pub holidays: std::collections::BTreeSet<chrono::NaiveDate>,
    /// Weekend days that are worked (调休).
    pub extra_working_days: std::collections::BTreeSet<chrono::NaiveDate>,
}

impl Default for CaseRules {
    fn default() -> Self {
        CaseRules {
            escalate_after_working_days: 7,
            escalation_check_seconds: 300,
            holidays: Default::default(),
            extra_working_days: Default::default(),
        }
    }
}

impl CaseRules {
    pub fn rule(&self) -> escalation::Rule {
        escalation::Rule {
            calendar: WorkCalendar {
                holidays: self.holidays.clone(),
                extra_working_days: self.extra_working_days.clone(),
            },
            working_days: self.escalate_after_working_days,
        }
    }
}
