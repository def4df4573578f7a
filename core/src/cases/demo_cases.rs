//! Sample cases for the regulator portal's dashboard (`zhenwei demo-cases`, after
//! `zhenwei serve --demo` has seeded the demo dataset).
//!
//! The demo dataset itself opens no case — cases come from suspect queries, and the end-to-end
//! tests count exactly the cases their own queries open. This adds a fortnight of history on
//! top: cases in four cities (Ningbo, Hangzhou, Shanghai, Shenzhen) opened over the last 14
//! days, for the demo products, with every reason and status and acknowledgement deadlines that
//! fall within limit, due soon and overdue, so every chart of the dashboard has something to
//! show. Each case has one query event as evidence, from a masked demo number, and is assigned
//! to the configured office with the longest matching prefix, if any (a few are marked as
//! escalated once, to that office). Rows are written directly
//! (not through the recorder, and no reports are queued): this is sample history, not a replay
//! of queries.
//! Seeding twice adds nothing (the cases' code keys are fixed).

use super::calendar::WorkCalendar;
use super::CaseError;
use crate::store::Store;

/// Places of the sample cases (county division codes) with their weight.
const PLACES: [&str; 6] = ["330203", "330212", "330106", "330102", "310104", "440305"];
const REASONS: [&str; 6] = [
    "not_activated",
    "clone_suspected",
    "consumer_report",
    "excessive_queries",
    "unknown_code",
    "batch_mismatch",
];
const DAY: i64 = 86_400_000;

/// Adds the sample cases at `now`; returns how many it added (0 when already there, or when
/// the database has no demo products).
pub async fn seed(store: &Store, now: i64, cal: &WorkCalendar) -> Result<usize, CaseError> {
    let products: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, enterprise_id FROM products ORDER BY id LIMIT 6")
            .fetch_all(store.pool())
            .await?;
    if products.is_empty() {
        return Ok(0);
    }
    let mut tx = store.pool().begin().await?;
    let mut added = 0;
    for i in 0..36_i64 {
        let idx = i as usize;
        let code_key = format!("demo-case:{i:03}");
        let place = PLACES[(idx * 7 + idx / 5) % PLACES.len()];
        let reason = REASONS[(idx * 5 + idx / 3) % REASONS.len()];
        let (product_id, enterprise_id) = products[(idx * 5 + idx / 6) % products.len()];
        // Spread over 14 days, more recently more often.
        let age_days = (i * 5 + i / 4) % 14;
        let opened = now - age_days * DAY - (i % 9) * 3_600_000;
        let status = match i % 6 {
            0..=2 => "delivered",
            3 => "acknowledged",
            4 => "investigating",
            _ => "closed",
        };
        let delivered_at = opened + 600_000;
        let due_at = cal.deadline(delivered_at, 7);
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM cases WHERE code_key = $1 AND reason = $2")
                .bind(&code_key)
                .bind(reason)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            continue;
        }
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO query_events (code_key, family, channel, source_key, source_masked, \
             place, city, at, authenticity, warnings, query_number) \
             VALUES ($1, 'supervision', $2, $3, $4, $5, $6, $7, 'suspect', $8, 1) RETURNING id",
        )
        .bind(&code_key)
        .bind(["kiosk", "sms", "ivr", "web"][idx % 4])
        .bind(format!("demo-source:{i}"))
        .bind(format!("13{}****{:04}", 8 - i % 3, 1000 + i * 37))
        .bind(place)
        .bind(place.get(..4).map(|c| format!("{c}00")))
        .bind(opened)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        let case_id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (code_key, reason, status, product_id, enterprise_id, place, \
             opened_at, updated_at, event_count, delivered_at, due_at, acknowledged_at, \
             closed_at, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .bind(&code_key)
        .bind(reason)
        .bind(status)
        .bind(product_id)
        .bind(enterprise_id)
        .bind(place)
        .bind(opened)
        .bind(delivered_at)
        .bind(due_at)
        .bind((status != "delivered").then_some(delivered_at + DAY))
        .bind((status == "closed").then_some(delivered_at + 2 * DAY))
        .bind((status == "closed").then_some("confirmed_counterfeit"))
        .fetch_one(&mut *tx)
        .await?;
        // The office in charge, if one is configured (longest prefix; national = '').
        sqlx::query(
            "UPDATE cases SET regulator_id = (SELECT id FROM regulators \
             WHERE $1 LIKE prefix || '%' ORDER BY LENGTH(prefix) DESC LIMIT 1) WHERE id = $2",
        )
        .bind(place)
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
        // A few delivered cases were escalated once (to the office now in charge).
        if status == "delivered" && i % 4 == 1 {
            sqlx::query(
                "INSERT INTO case_escalations (case_id, from_regulator, to_regulator, due_at, at) \
                 SELECT id, NULL, regulator_id, $1, $2 FROM cases \
                 WHERE id = $3 AND regulator_id IS NOT NULL",
            )
            .bind(due_at)
            .bind(opened + DAY)
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO case_events (case_id, event_id) VALUES ($1, $2)")
            .bind(case_id)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        added += 1;
    }
    crate::audit::append(
        &mut tx,
        "demo",
        "demo.cases_seeded",
        "cases",
        &serde_json::json!({ "added": added }),
    )
    .await?;
    tx.commit().await?;
    Ok(added)
}
