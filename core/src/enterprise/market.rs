//! What a brand enterprise sees of itself: its products, code ranges and activations, the
//! market picture its consumers' queries draw (per day and channel, per city), and its cases.
//!
//! Every function takes the enterprise's id and reads only rows that belong to it — the
//! enterprise API passes the id of the authenticated operator's enterprise, never one from the
//! request. The statistics are aggregated in the database from `query_events` (joined to the
//! enterprise's products through `product_id`, indexed by `(product_id, at)`), grouped by the
//! China-time day number `(at + 8 h) / 1 day` — plain integer arithmetic that SQLite and
//! PostgreSQL evaluate alike, so no per-backend SQL.

use chrono::NaiveDate;
use serde::Serialize;

use crate::codes::division::DivisionCode;
use crate::store::{Store, StoreError};

const DAY_MS: i64 = 86_400_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// The China-time day number of a Unix-millisecond instant.
pub fn day_number(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

/// The date of a day number.
pub fn day_date(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_days(chrono::Days::new(day.try_into().ok()?))
}

/// The first instant (Unix ms) of a China-time date.
pub fn day_start(date: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() * DAY_MS - CHINA_OFFSET_MS
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Product {
    pub id: i64,
    pub gtin: String,
    pub name: String,
    pub name_en: Option<String>,
    pub spec: Option<String>,
    pub category: Option<String>,
    pub ranges: i64,
    pub batches: i64,
}

pub async fn products(store: &Store, enterprise: i64) -> Result<Vec<Product>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.gtin, p.name, p.name_en, p.spec, p.category, \
         (SELECT COUNT(*) FROM code_ranges r WHERE r.product_id = p.id) AS ranges, \
         (SELECT COUNT(*) FROM batches b WHERE b.product_id = p.id) AS batches \
         FROM products p WHERE p.enterprise_id = $1 ORDER BY p.gtin",
    )
    .bind(enterprise)
    .fetch_all(store.pool())
    .await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CodeRange {
    pub id: i64,
    pub gtin: String,
    pub product_name: String,
    pub size: i64,
    pub purpose: Option<String>,
    pub requested_at: i64,
    pub exported_at: Option<i64>,
    /// Activation and cancellation segments recorded on it.
    pub segments: i64,
}

pub async fn ranges(store: &Store, enterprise: i64) -> Result<Vec<CodeRange>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.id, p.gtin, p.name AS product_name, r.size, r.purpose, r.requested_at, \
         r.exported_at, (SELECT COUNT(*) FROM range_segments s WHERE s.range_id = r.id) \
         AS segments FROM code_ranges r JOIN products p ON p.id = r.product_id \
         WHERE p.enterprise_id = $1 ORDER BY r.id",
    )
    .bind(enterprise)
    .fetch_all(store.pool())
    .await?)
}

/// One activation (or cancellation) of serials `[start_serial, end_serial)` of a range.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Activation {
    pub id: i64,
    pub range_id: i64,
    pub gtin: String,
    pub start_serial: i64,
    pub end_serial: i64,
    pub state: String,
    pub lot: Option<String>,
    pub production_date: Option<String>,
    pub expiry_date: Option<String>,
    pub made_in: Option<String>,
    pub at: i64,
}

pub async fn activations(store: &Store, enterprise: i64) -> Result<Vec<Activation>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.range_id, p.gtin, s.start_serial, s.end_serial, s.state, b.lot, \
         b.production_date, b.expiry_date, b.made_in, s.at FROM range_segments s \
         JOIN code_ranges r ON r.id = s.range_id JOIN products p ON p.id = r.product_id \
         LEFT JOIN batches b ON b.id = s.batch_id WHERE p.enterprise_id = $1 ORDER BY s.id",
    )
    .bind(enterprise)
    .fetch_all(store.pool())
    .await?)
}

/// Queries of one day (China time) through one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub date: String,
    pub channel: String,
    pub queries: i64,
    /// Of which not answered "genuine".
    pub suspect: i64,
}

/// Queries from one city.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionCount {
    /// The city's division code (`PPCC00`), or `""` when the query named no place.
    pub city: String,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub queries: i64,
    pub suspect: i64,
}

/// Queries of one product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ProductCount {
    pub gtin: String,
    pub name: String,
    pub queries: i64,
    pub suspect: i64,
}

/// The market picture of `[from, to)` (China-time dates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statistics {
    pub from: String,
    pub to: String,
    pub total: i64,
    pub days: Vec<DayCount>,
    pub regions: Vec<RegionCount>,
    pub products: Vec<ProductCount>,
}

const SUSPECT: &str = "SUM(CASE WHEN q.authenticity = 'genuine' THEN 0 ELSE 1 END)";

/// Aggregates the enterprise's query events of `[from, to)`.
pub async fn statistics(
    store: &Store,
    enterprise: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statistics, StoreError> {
    let (lo, hi) = (day_start(from), day_start(to));
    let day = format!("(q.at + {CHINA_OFFSET_MS}) / {DAY_MS}");
    let scope = "FROM query_events q JOIN products p ON p.id = q.product_id \
                 WHERE p.enterprise_id = $1 AND q.at >= $2 AND q.at < $3";
    let days: Vec<(i64, String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT {day} AS day, q.channel, COUNT(*) AS n, {SUSPECT} AS suspect {scope} \
         GROUP BY {day}, q.channel ORDER BY 1, 2"
    ))
    .bind(enterprise)
    .bind(lo)
    .bind(hi)
    .fetch_all(store.pool())
    .await?;
    let regions: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT COALESCE(q.city, '') AS city, COUNT(*) AS n, {SUSPECT} AS suspect {scope} \
         GROUP BY COALESCE(q.city, '') ORDER BY 2 DESC, 1"
    ))
    .bind(enterprise)
    .bind(lo)
    .bind(hi)
    .fetch_all(store.pool())
    .await?;
    let products: Vec<ProductCount> = sqlx::query_as(&format!(
        "SELECT p.gtin, p.name, COUNT(*) AS queries, {SUSPECT} AS suspect {scope} \
         GROUP BY p.gtin, p.name ORDER BY 3 DESC, 1"
    ))
    .bind(enterprise)
    .bind(lo)
    .bind(hi)
    .fetch_all(store.pool())
    .await?;
    Ok(Statistics {
        from: from.to_string(),
        to: to.to_string(),
        total: days.iter().map(|d| d.2).sum(),
        days: days
            .into_iter()
            .map(|(day, channel, queries, suspect)| DayCount {
                date: day_date(day).map(|d| d.to_string()).unwrap_or_default(),
                channel,
                queries,
                suspect,
            })
            .collect(),
        regions: regions
            .into_iter()
            .map(|(city, queries, suspect)| {
                let code = DivisionCode::parse(&city).ok();
                RegionCount {
                    name_zh: code
                        .as_ref()
                        .and_then(|c| c.city_name(false))
                        .map(str::to_owned),
                    name_en: code
                        .as_ref()
                        .and_then(|c| c.city_name(true))
                        .map(str::to_owned),
                    city,
                    queries,
                    suspect,
                }
            })
            .collect(),
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_days() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let start = day_start(d);
        // 2026-11-21 00:00 in China is 2026-11-20 16:00 UTC.
        assert_eq!(start, 1_795_190_400_000);
        assert_eq!(day_date(day_number(start)), Some(d));
        assert_eq!(day_date(day_number(start - 1)), d.pred_opt());
        assert_eq!(day_date(day_number(start + DAY_MS - 1)), Some(d));
    }
}
