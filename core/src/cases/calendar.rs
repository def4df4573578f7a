//! Working days in China, for the acknowledgement deadline (pure).
//!
//! A working day is Monday to Friday in China Standard Time, except the configured public
//! holidays; weekend days the State Council declares working days (调休) can be configured too.
//! The deadline of "N working days after delivery" is the end (24:00 China time) of the Nth
//! working day *after* the day of delivery: a case delivered on Monday 10:00 with no holidays is
//! due at the end of Tuesday of the following week.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Weekday};

/// Weekends, holidays and make-up working days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Public holidays (dates in China), not worked even on a weekday.
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are worked (调休).
    pub extra_working_days: BTreeSet<NaiveDate>,
}

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"))
}

/// The date in China of a Unix-millisecond instant.
pub fn china_date(ms: i64) -> NaiveDate {
    cst()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// Unix milliseconds of 00:00 China time on `date`.
pub fn china_midnight(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .and_then(|t| cst().from_local_datetime(&t).single())
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MAX)
}

impl WorkCalendar {
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.extra_working_days.contains(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// The `n`th working day after `from` (not counting `from` itself).
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        // A year of holidays cannot stop this: at most ~n/5*7 + holidays steps.
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The deadline (Unix ms) of `n` working days after the instant `start_ms`.
    pub fn deadline(&self, start_ms: i64, n: u32) -> i64 {
        let last = self.add_working_days(china_date(start_ms), n);
        china_midnight(last + Duration::days(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// 2026-11-16 is a Monday. 10:00 China time = 02:00 UTC.
    fn monday_10am() -> i64 {
        china_midnight(d("2026-11-16")) + 10 * 3_600_000
    }

    #[test]
    fn seven_working_days_skip_the_weekend() {
        let cal = WorkCalendar::default();
        assert_eq!(cal.add_working_days(d("2026-11-16"), 7), d("2026-11-25"));
        // Due at the end of Wednesday 25th, i.e. Thursday 00:00 China time.
        assert_eq!(
            cal.deadline(monday_10am(), 7),
            china_midnight(d("2026-11-26"))
        );
        // Delivered on Saturday: counting starts on Monday.
        assert_eq!(cal.add_working_days(d("2026-11-21"), 1), d("2026-11-23"));
    }

    #[test]
    fn holidays_and_make_up_days() {
        let cal = WorkCalendar {
            holidays: [d("2026-11-18"), d("2026-11-19")].into(),
            extra_working_days: [d("2026-11-22")].into(), // a Sunday
        };
        // Tue 17, (Wed, Thu holidays), Fri 20, Sun 22 (worked), Mon 23, Tue 24, Wed 25, Thu 26.
        assert_eq!(cal.add_working_days(d("2026-11-16"), 7), d("2026-11-26"));
        assert!(!cal.is_working_day(d("2026-11-18")));
        assert!(cal.is_working_day(d("2026-11-22")));
    }

    #[test]
    fn china_time_decides_the_day() {
        // 2026-11-15 20:00 UTC is Monday 04:00 in China.
        let ms = china_midnight(d("2026-11-16")) + 4 * 3_600_000;
        assert_eq!(china_date(ms), d("2026-11-16"));
        assert_eq!(china_date(ms - 5 * 3_600_000), d("2026-11-15"));
    }
}
