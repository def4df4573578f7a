//! The regulator dashboard's figures: cases per day by reason, by city, top products, and the
//! ageing of unacknowledged cases against the working-day limit.
//!
//! [`load`] reads the cases **within one jurisdiction** (a division-code prefix, exactly like
//! the case list) with one query, and [`aggregate`] — pure, given "now" and the working-day
//! calendar — turns them into the figures. Every count is computed from rows the jurisdiction
//! already restricted, so an aggregate can never include another office's cases.
//!
//! Ageing (SPEC: 7 working days to acknowledge) buckets every case not yet acknowledged:
//!
//! | bucket | meaning |
//! |---|---|
//! | `undelivered` | opened, not yet delivered to the office in charge |
//! | `within_limit` | delivered, more than [`DUE_SOON_WORKING_DAYS`] working days left |
//! | `due_soon` | delivered, the deadline is within [`DUE_SOON_WORKING_DAYS`] working days (today counts) |
//! | `overdue` | delivered, the deadline has passed (escalation runs next) |
//! | `escalated` | escalated at least once and still not acknowledged |
//!
//! Acknowledged and investigating cases are `in_progress`; closed cases are not ageing.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::calendar::{china_date, china_midnight, WorkCalendar};
use super::CaseError;
use crate::codes::division::DivisionCode;
use crate::store::Store;

/// A delivered case with at most this many working days left (today included) is "due soon".
pub const DUE_SOON_WORKING_DAYS: u32 = 2;
/// Most products in the "top products" list.
pub const TOP_PRODUCTS: usize = 10;
/// Longest date range of the per-day chart.
pub const MAX_DAYS: i64 = 366;

/// One case as the dashboard reads it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseFacts {
    pub id: i64,
    pub reason: String,
    pub status: String,
    pub place: Option<String>,
    pub opened_at: i64,
    pub due_at: Option<i64>,
    pub gtin: Option<String>,
    pub product_name: Option<String>,
    /// How many times the case was escalated.
    pub escalations: i64,
}

/// Where an unclosed case stands against the acknowledgement limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Undelivered,
    WithinLimit,
    DueSoon,
    Overdue,
    Escalated,
    InProgress,
}

/// Working days from today (China time) to the last working day before `due_at`, today
/// included: 0 once the deadline has passed.
pub fn working_days_left(cal: &WorkCalendar, now: i64, due_at: i64) -> u32 {
    if now >= due_at {
        return 0;
    }
    let last = china_date(due_at - 1);
    let mut d = china_date(now);
    let mut n = 0;
    while d <= last && n < 400 {
        if cal.is_working_day(d) {
            n += 1;
        }
        d += Duration::days(1);
    }
    n
}

/// The bucket of a case (`None` for closed cases).
pub fn bucket(c: &CaseFacts, now: i64, cal: &WorkCalendar) -> Option<Bucket> {
    match c.status.as_str() {
        "closed" => None,
        "acknowledged" | "investigating" => Some(Bucket::InProgress),
        _ if c.escalations > 0 => Some(Bucket::Escalated),
        "delivered" => Some(match c.due_at {
            None => Bucket::WithinLimit,
            Some(due) if now >= due => Bucket::Overdue,
            Some(due) if working_days_left(cal, now, due) <= DUE_SOON_WORKING_DAYS => {
                Bucket::DueSoon
            }
            Some(_) => Bucket::WithinLimit,
        }),
        _ => Some(Bucket::Undelivered),
    }
}

/// Cases opened on one day for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: String,
    pub reason: String,
    pub count: i64,
}

/// Cases in one city (prefecture; a municipality's districts count under the municipality).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CityCount {
    /// The city's 4-digit prefix (usable as the list's `within` filter); `""` for no place.
    pub prefix: String,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProductCount {
    pub gtin: Option<String>,
    pub name: Option<String>,
    pub count: i64,
}

/// The ageing of cases not yet closed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ageing {
    pub undelivered: i64,
    pub within_limit: i64,
    pub due_soon: i64,
    pub overdue: i64,
    pub escalated: i64,
    pub in_progress: i64,
    /// The working-day limit these buckets are measured against.
    pub limit_working_days: u32,
    /// Case ids per bucket (at most 50 each), for the pages to link to.
    pub cases: BTreeMap<String, Vec<i64>>,
}

/// Everything the dashboard draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    /// The jurisdiction the figures are restricted to (`""` = national).
    pub within: String,
    /// First and last day (China) of the per-day chart, inclusive.
    pub from: String,
    pub to: String,
    /// Every day of the range, in order (days without cases included).
    pub days: Vec<String>,
    /// Reasons present in the range, most frequent first.
    pub reasons: Vec<String>,
    pub per_day: Vec<DayCount>,
    /// Cases opened in the range.
    pub total: i64,
    pub by_city: Vec<CityCount>,
    pub top_products: Vec<ProductCount>,
    pub ageing: Ageing,
}

/// Reads the cases within `within` that were opened on `from..=to` (China dates) or are not
/// closed.
pub async fn load(
    store: &Store,
    within: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CaseFacts>, CaseError> {
    let start = china_midnight(from);
    let end = china_midnight(to + Duration::days(1));
    Ok(sqlx::query_as::<_, CaseFacts>(
        "SELECT c.id, c.reason, c.status, c.place, c.opened_at, c.due_at, p.gtin, \
         p.name AS product_name, \
         (SELECT COUNT(*) FROM case_escalations x WHERE x.case_id = c.id) AS escalations \
         FROM cases c LEFT JOIN products p ON p.id = c.product_id \
         WHERE ($1 = '' OR c.place LIKE $2) \
         AND ((c.opened_at >= $3 AND c.opened_at < $4) OR c.status <> 'closed') \
         ORDER BY c.id",
    )
    .bind(within)
    .bind(format!("{within}%"))
    .bind(start)
    .bind(end)
    .fetch_all(store.pool())
    .await?)
}

fn city_of(place: Option<&str>) -> CityCount {
    let Some(d) = place.and_then(|p| DivisionCode::parse(p).ok()) else {
        return CityCount {
            prefix: String::new(),
            name_zh: None,
            name_en: None,
            count: 0,
        };
    };
    let city = d.city();
    let (zh, en) = if d.is_municipality() {
        let p = d.province();
        (p.name_zh(), p.name_en())
    } else {
        (city.name_zh(), city.name_en())
    };
    CityCount {
        prefix: city.as_str().get(..4).unwrap_or_default().to_owned(),
        name_zh: zh.map(str::to_owned),
        name_en: en.map(str::to_owned),
        count: 0,
    }
}

/// The figures of `cases` (already restricted to `within`) at `now`.
pub fn aggregate(
    within: &str,
    cases: &[CaseFacts],
    from: NaiveDate,
    to: NaiveDate,
    now: i64,
    cal: &WorkCalendar,
    limit_working_days: u32,
) -> Dashboard {
    let (start, end) = (china_midnight(from), china_midnight(to + Duration::days(1)));
    let mut days = Vec::new();
    let mut d = from;
    while d <= to && days.len() < MAX_DAYS as usize {
        days.push(d.to_string());
        d += Duration::days(1);
    }
    let mut per: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
    let mut cities: BTreeMap<String, CityCount> = BTreeMap::new();
    let mut products: BTreeMap<(Option<String>, Option<String>), i64> = BTreeMap::new();
    let mut total = 0;
    let mut ageing = Ageing {
        limit_working_days,
        ..Ageing::default()
    };
    for c in cases {
        if (start..end).contains(&c.opened_at) {
            total += 1;
            *per.entry((china_date(c.opened_at).to_string(), c.reason.clone()))
                .or_default() += 1;
            *reasons.entry(c.reason.clone()).or_default() += 1;
            let city = city_of(c.place.as_deref());
            cities.entry(city.prefix.clone()).or_insert(city).count += 1;
            *products
                .entry((c.gtin.clone(), c.product_name.clone()))
                .or_default() += 1;
        }
        if let Some(b) = bucket(c, now, cal) {
            let slot = match b {
                Bucket::Undelivered => &mut ageing.undelivered,
                Bucket::WithinLimit => &mut ageing.within_limit,
                Bucket::DueSoon => &mut ageing.due_soon,
                Bucket::Overdue => &mut ageing.overdue,
                Bucket::Escalated => &mut ageing.escalated,
                Bucket::InProgress => &mut ageing.in_progress,
            };
            *slot += 1;
            let name = serde_json::to_value(b)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let ids = ageing.cases.entry(name).or_default();
            if ids.len() < 50 {
                ids.push(c.id);
            }
        }
    }
    let mut reasons: Vec<(String, i64)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut by_city: Vec<CityCount> = cities.into_values().collect();
    by_city.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.prefix.cmp(&b.prefix)));
    let mut top_products: Vec<ProductCount> = products
        .into_iter()
        .map(|((gtin, name), count)| ProductCount { gtin, name, count })
        .collect();
    top_products.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.gtin.cmp(&b.gtin)));
    top_products.truncate(TOP_PRODUCTS);
    Dashboard {
        within: within.to_owned(),
        from: from.to_string(),
        to: to.to_string(),
        days,
        reasons: reasons.into_iter().map(|(r, _)| r).collect(),
        per_day: per
            .into_iter()
            .map(|((day, reason), count)| DayCount { day, reason, count })
            .collect(),
        total,
        by_city,
        top_products,
        ageing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn case(id: i64, status: &str, place: &str, opened: i64, due: Option<i64>) -> CaseFacts {
        CaseFacts {
            id,
            reason: if id % 2 == 0 {
                "not_activated".into()
            } else {
                "clone_suspected".into()
            },
            status: status.into(),
            place: Some(place.into()),
            opened_at: opened,
            due_at: due,
            gtin: Some("06901234567892".into()),
            product_name: Some("酱油".into()),
            escalations: 0,
        }
    }

    #[test]
    fn working_days_left_skip_weekends_and_holidays() {
        let cal = WorkCalendar {
            holidays: [d("2026-11-24")].into(),
            ..Default::default()
        };
        // Due at the end of Wed 25th; now Fri 20th 10:00 China: Fri, Mon, (Tue holiday), Wed.
        let due = china_midnight(d("2026-11-26"));
        let now = china_midnight(d("2026-11-20")) + 10 * 3_600_000;
        assert_eq!(working_days_left(&cal, now, due), 3);
        assert_eq!(working_days_left(&WorkCalendar::default(), now, due), 4);
        // Sat 21st: Mon, Wed.
        assert_eq!(working_days_left(&cal, now + 86_400_000, due), 2);
        assert_eq!(working_days_left(&cal, due, due), 0);
    }

    #[test]
    fn buckets_follow_the_deadline_and_escalations() {
        let cal = WorkCalendar::default();
        let due = china_midnight(d("2026-11-26")); // end of Wed 25th
        let mon = china_midnight(d("2026-11-23")) + 9 * 3_600_000;
        let delivered = case(1, "delivered", "330203", mon, Some(due));
        assert_eq!(
            bucket(&delivered, mon - 7 * 86_400_000, &cal),
            Some(Bucket::WithinLimit)
        );
        // Tue 24th: Tue and Wed left → due soon.
        assert_eq!(
            bucket(&delivered, mon + 86_400_000, &cal),
            Some(Bucket::DueSoon)
        );
        assert_eq!(bucket(&delivered, due, &cal), Some(Bucket::Overdue));
        let escalated = CaseFacts {
            escalations: 1,
            status: "open".into(),
            ..delivered.clone()
        };
        assert_eq!(bucket(&escalated, mon, &cal), Some(Bucket::Escalated));
        assert_eq!(
            bucket(&case(2, "open", "330203", mon, None), mon, &cal),
            Some(Bucket::Undelivered)
        );
        assert_eq!(
            bucket(&case(2, "investigating", "330203", mon, None), mon, &cal),
            Some(Bucket::InProgress)
        );
        assert_eq!(
            bucket(&case(2, "closed", "330203", mon, None), mon, &cal),
            None
        );
    }

    #[test]
    fn aggregates_per_day_city_product() {
        let cal = WorkCalendar::default();
        let day1 = china_midnight(d("2026-11-16")) + 3_600_000;
        let day2 = day1 + 86_400_000;
        let cases = [
            case(1, "open", "330203", day1, None),
            case(2, "open", "330106", day1, None),
            case(3, "closed", "330212", day2, None),
            case(4, "open", "310104", day2, None),
            // Opened before the range, still open: ageing only.
            case(5, "delivered", "330203", day1 - 10 * 86_400_000, Some(day1)),
        ];
        let dash = aggregate("", &cases, d("2026-11-16"), d("2026-11-18"), day2, &cal, 7);
        assert_eq!(dash.days, ["2026-11-16", "2026-11-17", "2026-11-18"]);
        assert_eq!(dash.total, 4);
        assert_eq!(
            dash.per_day,
            [
                DayCount {
                    day: "2026-11-16".into(),
                    reason: "clone_suspected".into(),
                    count: 1
                },
                DayCount {
                    day: "2026-11-16".into(),
                    reason: "not_activated".into(),
                    count: 1
                },
                DayCount {
                    day: "2026-11-17".into(),
                    reason: "clone_suspected".into(),
                    count: 1
                },
                DayCount {
                    day: "2026-11-17".into(),
                    reason: "not_activated".into(),
                    count: 1
                },
            ]
        );
        let cities: Vec<(&str, i64)> = dash
            .by_city
            .iter()
            .map(|c| (c.prefix.as_str(), c.count))
            .collect();
        assert_eq!(cities, [("3302", 2), ("3101", 1), ("3301", 1)]);
        assert_eq!(dash.by_city[0].name_zh.as_deref(), Some("宁波市"));
        assert_eq!(dash.by_city[1].name_zh.as_deref(), Some("上海市"));
        assert_eq!(dash.top_products[0].count, 4);
        assert_eq!(dash.ageing.undelivered, 3);
        assert_eq!(dash.ageing.overdue, 1);
        assert_eq!(dash.ageing.cases["overdue"], [5]);
    }
}
