//! Dates and times as zhenwei shows and compares them.
//!
//! Everything is stored in UTC (Unix milliseconds). Dates on packs, in regulatory notices and in
//! registrations are Chinese calendar dates, so "today" and times shown to people are China
//! Standard Time (UTC+8, no daylight saving) whatever the server's own time zone.

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"))
}

/// Today's date in China.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&cst()).date_naive()
}

/// `YYYY-MM-DD HH:MM` in China Standard Time, for a Unix-millisecond timestamp.
pub fn local_time(ms: i64) -> String {
    match cst().timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => String::from("?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_china_standard_time() {
        // 2026-11-01 16:05 UTC is 2026-11-02 00:05 in China.
        assert_eq!(local_time(1_793_549_100_000), "2026-11-02 00:05");
    }
}
