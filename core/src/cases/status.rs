//! The case lifecycle as a state machine (pure):
//!
//! ```text
//! open ──delivered──► delivered ──acknowledge──► acknowledged ──► investigating ──► closed(outcome)
//!   └─────────────acknowledge (seen in the portal first)──┘           └──────────────► closed(outcome)
//! ```
//!
//! `open` means "not yet delivered to the office now in charge" (a new case, or one just
//! escalated); `delivered` means "delivered, waiting to be acknowledged" — the state the
//! 7-working-day escalation clock watches. Closing needs an outcome; nothing else takes one.
//! `closed` is final.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    Delivered,
    Acknowledged,
    Investigating,
    Closed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::Open,
        CaseStatus::Delivered,
        CaseStatus::Acknowledged,
        CaseStatus::Investigating,
        CaseStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Delivered => "delivered",
            CaseStatus::Acknowledged => "acknowledged",
            CaseStatus::Investigating => "investigating",
            CaseStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Acknowledged by an office (acknowledged, investigating or closed): no escalation.
    pub fn is_acknowledged(self) -> bool {
        matches!(
            self,
            CaseStatus::Acknowledged | CaseStatus::Investigating | CaseStatus::Closed
        )
    }
}

/// How a closed case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    ConfirmedCounterfeit,
    Genuine,
    NoAction,
    ReferredToPolice,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::ConfirmedCounterfeit,
        Outcome::Genuine,
        Outcome::NoAction,
        Outcome::ReferredToPolice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ConfirmedCounterfeit => "confirmed_counterfeit",
            Outcome::Genuine => "genuine",
            Outcome::NoAction => "no_action",
            Outcome::ReferredToPolice => "referred_to_police",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A change a person or the system asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The delivery to the office in charge succeeded (system).
    Delivered,
    Acknowledge,
    Investigate,
    Close(Outcome),
    /// Escalated to another office: delivered again from `open` (system).
    Escalate,
}

/// A change the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a case that is {from} cannot be {what}")]
pub struct TransitionError {
    pub from: &'static str,
    pub what: &'static str,
}

impl TransitionError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        "case_transition_not_allowed"
    }
}

impl Change {
    fn described(self) -> &'static str {
        match self {
            Change::Delivered => "marked delivered",
            Change::Acknowledge => "acknowledged",
            Change::Investigate => "put under investigation (acknowledge it first)",
            Change::Close(_) => "closed (acknowledge it first)",
            Change::Escalate => "escalated",
        }
    }
}

/// The status after `change`, or why not.
pub fn apply(from: CaseStatus, change: Change) -> Result<CaseStatus, TransitionError> {
    use CaseStatus::*;
    let to = match (from, change) {
        (Open, Change::Delivered) => Delivered,
        (Open | Delivered, Change::Acknowledge) => Acknowledged,
        (Acknowledged, Change::Investigate) => Investigating,
        (Acknowledged | Investigating, Change::Close(_)) => Closed,
        (Open | Delivered, Change::Escalate) => Open,
        (Closed, _) => {
            return Err(TransitionError {
                from: from.as_str(),
                what: "changed any more",
            })
        }
        _ => {
            return Err(TransitionError {
                from: from.as_str(),
                what: change.described(),
            })
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseStatus::*;

    #[test]
    fn the_happy_path() {
        let mut s = Open;
        for c in [
            Change::Delivered,
            Change::Acknowledge,
            Change::Investigate,
            Change::Close(Outcome::ConfirmedCounterfeit),
        ] {
            s = apply(s, c).unwrap();
        }
        assert_eq!(s, Closed);
    }

    #[test]
    fn every_pair_is_decided() {
        let changes = [
            Change::Delivered,
            Change::Acknowledge,
            Change::Investigate,
            Change::Close(Outcome::NoAction),
            Change::Escalate,
        ];
        let mut allowed = Vec::new();
        for from in CaseStatus::ALL {
            for c in changes {
                if let Ok(to) = apply(from, c) {
                    allowed.push((from.as_str(), to.as_str()));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                ("open", "delivered"),
                ("open", "acknowledged"),
                ("open", "open"),
                ("delivered", "acknowledged"),
                ("delivered", "open"),
                ("acknowledged", "investigating"),
                ("acknowledged", "closed"),
                ("investigating", "closed"),
            ]
        );
        let e = apply(Closed, Change::Close(Outcome::Genuine)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a case that is closed cannot be changed any more"
        );
        let e = apply(Delivered, Change::Close(Outcome::Genuine)).unwrap_err();
        assert!(e.to_string().contains("acknowledge it first"), "{e}");
    }

    #[test]
    fn names_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("fake"), None);
    }
}
