//! Escalation of unacknowledged cases (sans-I/O).
//!
//! A case delivered to an office and not acknowledged within the configured number of working
//! days (7 by default, [`super::calendar`]) goes to the next level up — county → city →
//! province → national, skipping levels without a configured office. [`decide`] takes "now",
//! the cases waiting for acknowledgement and the offices, and returns what to do; the caller
//! (the periodic task in `zhenwei serve`, or `zhenwei cases escalate --now …`) applies each
//! action in a transaction that re-checks the case has not changed meanwhile.

use super::calendar::WorkCalendar;
use super::routing::{office_above, Regulator};

/// A delivered, unacknowledged case as the rule sees it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Awaiting {
    pub case_id: i64,
    pub place: Option<String>,
    pub regulator_id: i64,
    pub regulator_prefix: String,
    /// When the delivery to the current office succeeded (Unix ms).
    pub delivered_at: i64,
    /// The case version read, so the action applies only to the case as seen.
    pub version: i64,
}

/// What to do about one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Hand the case to `to`, the next office up.
    Escalate {
        case_id: i64,
        version: i64,
        from: i64,
        to: Regulator,
        /// The deadline that passed.
        due_at: i64,
    },
    /// Overdue, but already at the top: nobody to escalate to (logged as an alarm).
    Overdue { case_id: i64, due_at: i64 },
}

/// The escalation rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub calendar: WorkCalendar,
    pub working_days: u32,
}

impl Rule {
    /// When a case delivered at `delivered_at` must be acknowledged.
    pub fn due_at(&self, delivered_at: i64) -> i64 {
        self.calendar.deadline(delivered_at, self.working_days)
    }
}

/// The actions due at `now` for `cases`.
pub fn decide(now: i64, cases: &[Awaiting], offices: &[Regulator], rule: &Rule) -> Vec<Action> {
    cases
        .iter()
        .filter_map(|c| {
            let due_at = rule.due_at(c.delivered_at);
            if now < due_at {
                return None;
            }
            Some(
                match office_above(c.place.as_deref(), &c.regulator_prefix, offices) {
                    Some(to) => Action::Escalate {
                        case_id: c.case_id,
                        version: c.version,
                        from: c.regulator_id,
                        to: to.clone(),
                        due_at,
                    },
                    None => Action::Overdue {
                        case_id: c.case_id,
                        due_at,
                    },
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::calendar::china_midnight;
    use super::*;
    use chrono::NaiveDate;

    fn office(id: i64, prefix: &str) -> Regulator {
        Regulator {
            id,
            prefix: prefix.into(),
            name: prefix.into(),
            url: String::new(),
        }
    }

    #[test]
    fn escalates_after_seven_working_days_and_not_before() {
        let offices = [
            office(1, ""),
            office(2, "33"),
            office(3, "3302"),
            office(4, "330203"),
        ];
        let monday = china_midnight(NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        let case = |id, prefix: &str, reg| Awaiting {
            case_id: id,
            place: Some("330203".into()),
            regulator_id: reg,
            regulator_prefix: prefix.into(),
            delivered_at: monday + 10 * 3_600_000,
            version: 3,
        };
        let cal = WorkCalendar::default();
        let rule = Rule {
            calendar: cal,
            working_days: 7,
        };
        let cases = [case(10, "330203", 4), case(11, "", 1)];
        let due = china_midnight(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert!(decide(due - 1, &cases, &offices, &rule).is_empty());
        let actions = decide(due, &cases, &offices, &rule);
        assert_eq!(
            actions,
            [
                Action::Escalate {
                    case_id: 10,
                    version: 3,
                    from: 4,
                    to: office(3, "3302"),
                    due_at: due
                },
                Action::Overdue {
                    case_id: 11,
                    due_at: due
                }
            ]
        );
    }
}
