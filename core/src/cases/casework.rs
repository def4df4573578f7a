//! Case changes in the database, each in one transaction with its audit entry and the
//! deliveries that report it (the outbox):
//!
//! * [`on_opened`] — routes a new case to its office and queues the reports (called by the
//!   recorder and by consumer reports, in the transaction that opened the case);
//! * [`change`] — acknowledge, investigate, close with an outcome (the regulator's actions);
//!   each change is reported to the enterprise;
//! * [`delivered`] — a delivery to the office in charge succeeded: `open` → `delivered`, and
//!   the acknowledgement clock starts;
//! * [`escalate_due`] — runs the [escalation rule](super::escalation) at "now" and applies its
//!   actions, each guarded by the case version it was decided on.

use serde::Serialize;

use super::escalation::{self, Action, Awaiting, Rule};
use super::outbox::{self, Claimed, Target};
use super::report::Built;
use super::routing::{candidate_prefixes, office_for, within, Regulator};
use super::status::{self, CaseStatus, Change};
use super::CaseError;
use crate::store::{Store, StoreError};
use crate::write_tx::{param_list, param_list_from, Param, WriteTx};

async fn offices_for<T: WriteTx>(
    conn: &mut T,
    places: &[Option<&str>],
) -> Result<Vec<Regulator>, StoreError> {
    let mut prefixes: Vec<String> = places.iter().flat_map(|p| candidate_prefixes(*p)).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let sql = format!(
        "SELECT id, prefix, name, url FROM regulators WHERE prefix IN ({})",
        param_list(prefixes.len())
    );
    let params = prefixes.iter().map(Param::from).collect();
    conn.fetch(&sql, params)
        .await?
        .iter()
        .map(|r| {
            Ok(Regulator {
                id: r.int(0)?,
                prefix: r.text(1)?,
                name: r.text(2)?,
                url: r.text(3)?,
            })
        })
        .collect()
}

async fn enterprise_url<T: WriteTx>(
    conn: &mut T,
    case_id: i64,
) -> Result<Option<(i64, String)>, StoreError> {
    let rows = conn
        .fetch(
            "SELECT e.id, e.report_url FROM cases c JOIN enterprises e ON e.id = c.enterprise_id \
             WHERE c.id = $1",
            vec![case_id.into()],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(match r.opt_text(1)? {
        Some(url) => Some((r.int(0)?, url)),
        None => None,
    })
}

/// Cases per statement of [`on_opened`] (its `IN` lists).
const CASES_PER_STATEMENT: usize = 100;

/// Routes just-opened cases (places already set by the recorder) each to the office with the
/// longest matching prefix and queues the reports to that office and to the enterprise — in the
/// caller's transaction, so no case is ever without its deliveries. Only the rows are written;
/// the reports are built when they are sent (so they carry the evidence gathered meanwhile).
/// A handful of statements however many cases a batch opened (their rows, the offices of all
/// their places, one routing update per office, the deliveries): on PostgreSQL every statement
/// is a round trip on the recorder's path.
pub async fn on_opened<T: WriteTx>(
    tx: &mut T,
    case_ids: &[i64],
    now: i64,
) -> Result<(), CaseError> {
    struct Opened {
        id: i64,
        place: Option<String>,
        version: i64,
        enterprise: Option<(i64, String)>,
    }
    let mut opened = Vec::with_capacity(case_ids.len());
    for chunk in case_ids.chunks(CASES_PER_STATEMENT) {
        let sql = format!(
            "SELECT c.id, c.place, c.version, e.id, e.report_url FROM cases c \
             LEFT JOIN enterprises e ON e.id = c.enterprise_id WHERE c.id IN ({})",
            param_list(chunk.len())
        );
        let params = chunk.iter().map(|&id| Param::from(id)).collect();
        for r in tx.fetch(&sql, params).await? {
            let enterprise = match (r.opt_int(3)?, r.opt_text(4)?) {
                (Some(eid), Some(url)) => Some((eid, url)),
                _ => None,
            };
            opened.push(Opened {
                id: r.int(0)?,
                place: r.opt_text(1)?,
                version: r.int(2)?,
                enterprise,
            });
        }
    }
    if opened.is_empty() {
        return Ok(());
    }
    // The callers' order, so deliveries are written case by case as they were opened.
    opened.sort_by_key(|c| case_ids.iter().position(|&id| id == c.id));
    let places: Vec<Option<&str>> = opened.iter().map(|c| c.place.as_deref()).collect();
    let offices = offices_for(tx, &places).await?;
    let mut routed: Vec<(i64, Vec<i64>)> = Vec::new();
    let mut deliveries = Vec::with_capacity(opened.len() * 2);
    for c in &opened {
        match office_for(c.place.as_deref(), &offices) {
            Some(o) => {
                match routed.iter_mut().find(|(office, _)| *office == o.id) {
                    Some((_, ids)) => ids.push(c.id),
                    None => routed.push((o.id, vec![c.id])),
                }
                deliveries.push(outbox::NewDelivery {
                    case_id: c.id,
                    version: c.version,
                    status: CaseStatus::Open.as_str(),
                    target: Target::Regulator(o.id),
                    url: &o.url,
                    event: "case.opened",
                });
            }
            None => {
                tracing::warn!(case = c.id, place = ?c.place, "no regulator office is configured for this case (not even a national one)");
            }
        }
        if let Some((eid, url)) = &c.enterprise {
            deliveries.push(outbox::NewDelivery {
                case_id: c.id,
                version: c.version,
                status: CaseStatus::Open.as_str(),
                target: Target::Enterprise(*eid),
                url,
                event: "case.opened",
            });
        }
    }
    for (office, ids) in &routed {
        for chunk in ids.chunks(CASES_PER_STATEMENT) {
            let sql = format!(
                "UPDATE cases SET regulator_id = $1 WHERE id IN ({})",
                param_list_from(2, chunk.len())
            );
            let mut params = vec![Param::from(*office)];
            params.extend(chunk.iter().map(|&id| Param::from(id)));
            tx.execute(&sql, params).await?;
        }
    }
    outbox::enqueue_all(tx, &deliveries, now).await?;
    Ok(())
}

/// A case as listed and shown.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CaseSummary {
    pub id: i64,
    pub reason: String,
    pub status: String,
    pub outcome: Option<String>,
    pub place: Option<String>,
    pub regulator_prefix: Option<String>,
    pub regulator_name: Option<String>,
    pub product_name: Option<String>,
    pub enterprise_name: Option<String>,
    pub opened_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    pub due_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub event_count: i64,
    pub version: i64,
}

const SUMMARY: &str = "SELECT c.id, c.reason, c.status, c.outcome, c.place, \
     r.prefix AS regulator_prefix, r.name AS regulator_name, p.name AS product_name, \
     e.name AS enterprise_name, c.opened_at, c.updated_at, c.delivered_at, c.due_at, \
     c.acknowledged_at, c.closed_at, c.event_count, c.version FROM cases c \
     LEFT JOIN regulators r ON r.id = c.regulator_id \
     LEFT JOIN products p ON p.id = c.product_id \
     LEFT JOIN enterprises e ON e.id = c.enterprise_id";

/// Which cases to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only cases whose place lies within this division-code prefix (`""` = all, national).
    pub within: Option<String>,
    pub status: Option<CaseStatus>,
    pub reason: Option<String>,
    pub limit: i64,
    /// Only cases opened at or after this instant (Unix ms).
    pub opened_from: Option<i64>,
    /// Only cases opened before this instant (Unix ms).
    pub opened_before: Option<i64>,
    /// Only cases of the product with this GTIN.
    pub gtin: Option<String>,
}

/// Cases, newest first.
pub async fn list(store: &Store, f: &Filter) -> Result<Vec<CaseSummary>, CaseError> {
    let within = f.within.clone().unwrap_or_default();
    let sql = format!(
        "{SUMMARY} WHERE ($1 = '' OR c.place LIKE $2) AND ($3 = '' OR c.status = $3) \
         AND ($4 = '' OR c.reason = $4) AND c.opened_at >= $6 AND c.opened_at < $7 \
         AND ($8 = '' OR p.gtin = $8) ORDER BY c.id DESC LIMIT $5"
    );
    Ok(sqlx::query_as::<_, CaseSummary>(&sql)
        .bind(&within)
        .bind(format!("{within}%"))
        .bind(f.status.map(|s| s.as_str()).unwrap_or(""))
        .bind(f.reason.clone().unwrap_or_default())
        .bind(if f.limit > 0 { f.limit } else { 100 })
        .bind(f.opened_from.unwrap_or(i64::MIN))
        .bind(f.opened_before.unwrap_or(i64::MAX))
        .bind(f.gtin.clone().unwrap_or_default())
        .fetch_all(store.pool())
        .await?)
}

/// One case, if it exists (and lies within `within`, when given).
pub async fn get(
    store: &Store,
    id: i64,
    within_prefix: Option<&str>,
) -> Result<CaseSummary, CaseError> {
    let c: Option<CaseSummary> = sqlx::query_as(&format!("{SUMMARY} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    match c {
        Some(c) if within_prefix.is_none_or(|p| within(p, c.place.as_deref())) => Ok(c),
        _ => Err(CaseError::NotFound(id)),
    }
}

/// Applies a person's change to case `id` (restricted to cases within `within_prefix` when
/// given): validates the transition, records it with its audit entry, and queues the report to
/// the enterprise — one transaction.
pub async fn change(
    store: &Store,
    actor: &str,
    id: i64,
    what: Change,
    within_prefix: Option<&str>,
    note: Option<&str>,
    now: i64,
) -> Result<CaseSummary, CaseError> {
    let mut tx = store.pool().begin().await?;
    // Write first (SQLite takes its write lock now): bump the version, read the state.
    let row: Option<(String, i64, Option<String>)> = sqlx::query_as(
        "UPDATE cases SET version = version + 1, updated_at = $1 WHERE id = $2 \
         RETURNING status, version, place",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status_text, version, place)) = row else {
        return Err(CaseError::NotFound(id));
    };
    if within_prefix.is_some_and(|p| !within(p, place.as_deref())) {
        return Err(CaseError::NotFound(id));
    }
    let from = CaseStatus::parse(&status_text).ok_or_else(|| {
        CaseError::Invalid(format!("case {id} has unknown status {status_text:?}"))
    })?;
    let to = status::apply(from, what)?;
    let (event, outcome) = match what {
        Change::Acknowledge => ("case.acknowledged", None),
        Change::Investigate => ("case.investigating", None),
        Change::Close(o) => ("case.closed", Some(o.as_str())),
        Change::Delivered | Change::Escalate => {
            return Err(CaseError::Invalid("not a change a person makes".into()))
        }
    };
    sqlx::query(
        "UPDATE cases SET status = $1, outcome = COALESCE($2, outcome), \
         acknowledged_at = CASE WHEN $3 = 'acknowledged' THEN $4 ELSE acknowledged_at END, \
         closed_at = CASE WHEN $3 = 'closed' THEN $4 ELSE closed_at END WHERE id = $5",
    )
    .bind(to.as_str())
    .bind(outcome)
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        event,
        &format!("case:{id}"),
        &serde_json::json!({
            "from": from.as_str(), "to": to.as_str(), "outcome": outcome,
            "note": note.map(|n| n.chars().take(500).collect::<String>()),
        }),
    )
    .await?;
    if let Some((eid, url)) = enterprise_url(&mut tx, id).await? {
        outbox::enqueue(
            &mut tx,
            id,
            version,
            to.as_str(),
            Target::Enterprise(eid),
            &url,
            event,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    get(store, id, None).await
}

/// Records a successful delivery of report `sent` (in one transaction): the row becomes
/// `delivered` with the evidence count the report carried; if it took the case to the office
/// now in charge, the case becomes `delivered` and its acknowledgement deadline is set; and any
/// receiver whose last report lacks evidence that has arrived since gets an update. `false` if
/// the claim had been lost.
pub async fn delivered(
    store: &Store,
    d: &Claimed,
    sent: &Built,
    now: i64,
    rule: &Rule,
) -> Result<bool, CaseError> {
    let mut tx = store.pool().begin().await?;
    if !outbox::mark_delivered(&mut tx, d, sent.event_count, now).await? {
        return Ok(false);
    }
    if d.target_kind == "regulator" {
        let moved = sqlx::query(
            "UPDATE cases SET status = 'delivered', delivered_at = $1, due_at = $2, \
             version = version + 1 WHERE id = $3 AND status = 'open' AND regulator_id = $4",
        )
        .bind(now)
        .bind(rule.due_at(now))
        .bind(d.case_id)
        .bind(d.target_id)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            crate::audit::append(
                &mut tx,
                "zhenwei",
                "case.delivered",
                &format!("case:{}", d.case_id),
                &serde_json::json!({ "regulator": d.target_id, "delivery": d.id,
                                      "due_at": rule.due_at(now) }),
            )
            .await?;
        }
    }
    catch_up(&mut tx, d.case_id, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// What one escalation run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EscalationRun {
    /// (case, from office prefix, to office prefix)
    pub escalated: Vec<(i64, String, String)>,
    /// Overdue cases already at the top.
    pub overdue: Vec<i64>,
}

/// Runs the escalation rule at `now` and applies what it decides.
pub async fn escalate_due(
    store: &Store,
    now: i64,
    rule: &Rule,
) -> Result<EscalationRun, CaseError> {
    let waiting: Vec<Awaiting> = sqlx::query_as(
        "SELECT c.id AS case_id, c.place, c.regulator_id, r.prefix AS regulator_prefix, \
         c.delivered_at, c.version FROM cases c JOIN regulators r ON r.id = c.regulator_id \
         WHERE c.status = 'delivered' AND c.delivered_at IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await?;
    let offices = super::offices::regulators(store).await?;
    let mut run = EscalationRun::default();
    for action in escalation::decide(now, &waiting, &offices, rule) {
        match action {
            Action::Escalate {
                case_id,
                version,
                from,
                to,
                due_at,
            } => {
                if escalate_one(store, case_id, version, from, &to, due_at, now).await? {
                    let from_prefix = offices
                        .iter()
                        .find(|o| o.id == from)
                        .map(|o| o.prefix.clone())
                        .unwrap_or_default();
                    tracing::warn!(case = case_id, from = %from_prefix, to = %to.prefix, "case not acknowledged in time: escalated");
                    run.escalated
                        .push((case_id, from_prefix, to.prefix.clone()));
                }
            }
            Action::Overdue { case_id, .. } => {
                tracing::error!(case = case_id, "case not acknowledged in time by the national office; nobody left to escalate to");
                run.overdue.push(case_id);
            }
        }
    }
    Ok(run)
}

async fn escalate_one(
    store: &Store,
    case_id: i64,
    version: i64,
    from: i64,
    to: &Regulator,
    due_at: i64,
    now: i64,
) -> Result<bool, CaseError> {
    status::apply(CaseStatus::Delivered, Change::Escalate)?;
    let mut tx = store.pool().begin().await?;
    let new_version: Option<i64> = sqlx::query_scalar(
        "UPDATE cases SET status = 'open', regulator_id = $1, version = version + 1, \
         delivered_at = NULL, due_at = NULL, updated_at = $2 \
         WHERE id = $3 AND version = $4 AND status = 'delivered' RETURNING version",
    )
    .bind(to.id)
    .bind(now)
    .bind(case_id)
    .bind(version)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(new_version) = new_version else {
        return Ok(false); // changed meanwhile (acknowledged, or another process escalated it)
    };
    sqlx::query(
        "INSERT INTO case_escalations (case_id, from_regulator, to_regulator, due_at, at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(from)
    .bind(to.id)
    .bind(due_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    crate::audit::append(
        &mut tx,
        "zhenwei",
        "case.escalate",
        &format!("case:{case_id}"),
        &serde_json::json!({ "from": from, "to": to.id, "to_prefix": to.prefix, "due_at": due_at }),
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        case_id,
        new_version,
        CaseStatus::Open.as_str(),
        Target::Regulator(to.id),
        &to.url,
        "case.escalated",
        // Due at once, even when `now` is a pretended future instant.
        now.min(crate::store::now_ms()),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The cases of one enterprise, newest first (the enterprise API: read-only).
pub async fn list_of_enterprise(
    store: &Store,
    enterprise_id: i64,
    status: Option<CaseStatus>,
    limit: i64,
) -> Result<Vec<CaseSummary>, CaseError> {
    let sql = format!(
        "{SUMMARY} WHERE c.enterprise_id = $1 AND ($2 = '' OR c.status = $2) \
         ORDER BY c.id DESC LIMIT $3"
    );
    Ok(sqlx::query_as::<_, CaseSummary>(&sql)
        .bind(enterprise_id)
        .bind(status.map(|s| s.as_str()).unwrap_or(""))
        .bind(if limit > 0 { limit } else { 100 })
        .fetch_all(store.pool())
        .await?)
}

/// One case of enterprise `enterprise_id`; another enterprise's case is "not found".
pub async fn get_of_enterprise(
    store: &Store,
    id: i64,
    enterprise_id: i64,
) -> Result<CaseSummary, CaseError> {
    let c: Option<CaseSummary> = sqlx::query_as(&format!(
        "{SUMMARY} WHERE c.id = $1 AND c.enterprise_id = $2"
    ))
    .bind(id)
    .bind(enterprise_id)
    .fetch_optional(store.pool())
    .await?;
    c.ok_or(CaseError::NotFound(id))
}

/// Routes the cases no office was found for when they opened (`regulator_id` NULL, not
/// closed) now that offices changed: each goes to its office by the longest-prefix rule, and its
/// report is queued to that office — in the caller's transaction (that of the office change),
/// so the new office and its backlog commit together. Returns the routed case ids.
pub async fn route_unrouted<T: WriteTx>(tx: &mut T, now: i64) -> Result<Vec<i64>, CaseError> {
    let rows = tx
        .fetch(
            "SELECT id, place, version, status FROM cases WHERE regulator_id IS NULL \
             AND status <> 'closed' ORDER BY id",
            vec![],
        )
        .await?;
    let mut waiting = Vec::with_capacity(rows.len());
    for r in &rows {
        waiting.push((r.int(0)?, r.opt_text(1)?, r.int(2)?, r.text(3)?));
    }
    let mut routed = Vec::new();
    for (case_id, place, version, status) in waiting {
        let offices = offices_for(tx, &[place.as_deref()]).await?;
        let Some(o) = office_for(place.as_deref(), &offices).cloned() else {
            continue;
        };
        tx.execute(
            "UPDATE cases SET regulator_id = $1 WHERE id = $2 AND regulator_id IS NULL",
            vec![o.id.into(), case_id.into()],
        )
        .await?;
        outbox::enqueue(
            tx,
            case_id,
            version,
            &status,
            Target::Regulator(o.id),
            &o.url,
            "case.opened",
            now,
        )
        .await?;
        routed.push(case_id);
    }
    Ok(routed)
}

/// The event of an update delivery: new evidence on a case already delivered.
pub const UPDATED: &str = outbox::UPDATED;

/// A case's state as far as updates go: its status, its evidence count, and whom it is
/// reported to now (the office in charge and the enterprise, where they have endpoints).
struct Receivers {
    status: String,
    event_count: i64,
    targets: Vec<(Target, String)>,
}

/// A case in this status has been delivered to the office in charge and is not closed: new
/// evidence on it is worth an update. The recorder asks this of the status its case upsert
/// returns, so a batch's evidence on cases that take no updates costs no further read.
pub fn status_takes_updates(status: &str) -> bool {
    matches!(status, "delivered" | "acknowledged" | "investigating")
}

impl Receivers {
    fn takes_updates(&self) -> bool {
        status_takes_updates(&self.status)
    }
}

async fn receivers<T: WriteTx>(tx: &mut T, case_id: i64) -> Result<Option<Receivers>, CaseError> {
    let rows = tx
        .fetch(
            "SELECT c.status, c.event_count, c.regulator_id, r.url, c.enterprise_id, \
             e.report_url FROM cases c LEFT JOIN regulators r ON r.id = c.regulator_id \
             LEFT JOIN enterprises e ON e.id = c.enterprise_id WHERE c.id = $1",
            vec![case_id.into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut targets = Vec::new();
    if let (Some(id), Some(url)) = (row.opt_int(2)?, row.opt_text(3)?) {
        targets.push((Target::Regulator(id), url));
    }
    if let (Some(id), Some(url)) = (row.opt_int(4)?, row.opt_text(5)?) {
        targets.push((Target::Enterprise(id), url));
    }
    Ok(Some(Receivers {
        status: row.text(0)?,
        event_count: row.int(1)?,
        targets,
    }))
}

/// New evidence (query events) joined case `case_id`: if the case has already been delivered
/// to the office in charge (status delivered, acknowledged or investigating), an update is
/// queued to that office and to the enterprise — **coalesced**: while any delivery of the case
/// to a target is still pending, nothing is added (its report, built when it is sent, will carry
/// this evidence), so a burst of queries makes at most one update per target. Each update has
/// its own idempotency key (`zw-c{case}-u{n}-{target}`). Nothing is built here: this runs in
/// the recorder's batch transaction, on the verify path, and costs a lookup or two per case.
///
/// Evidence that joins a case still `open` needs nothing here either: the case's `case.opened`
/// (or `case.escalated`) report is built when it is sent and so carries it; evidence that
/// arrives while that report is in flight is caught by [`delivered`], which sends an update to
/// every receiver whose last report carried fewer events than the case now has.
pub async fn on_evidence<T: WriteTx>(tx: &mut T, case_id: i64, now: i64) -> Result<(), CaseError> {
    let Some(r) = receivers(tx, case_id).await? else {
        return Ok(());
    };
    if !r.takes_updates() {
        return Ok(());
    }
    for (target, url) in r.targets {
        outbox::enqueue_update(tx, case_id, target, &url, now).await?;
    }
    Ok(())
}

/// After a delivery of case `case_id` went out: every current receiver whose newest delivered
/// report carried fewer query events than the case has now — evidence arrived while that report
/// was in flight, or while the case was still `open` and only the enterprise had its report —
/// and that has no other delivery of the case queued or in flight gets an update, if the case
/// takes updates.
async fn catch_up<T: WriteTx>(tx: &mut T, case_id: i64, now: i64) -> Result<(), CaseError> {
    let Some(r) = receivers(tx, case_id).await? else {
        return Ok(());
    };
    if !r.takes_updates() {
        return Ok(());
    }
    for (target, url) in r.targets {
        // A delivery to this target still queued or on the wire settles it: a queued one is
        // built when sent, and one on the wire runs this check itself when it is delivered.
        let row = tx
            .fetch_one(
                "SELECT MAX(CASE WHEN state = 'delivered' THEN event_count_sent END), \
                 COUNT(CASE WHEN state IN ('pending', 'sending') THEN 1 END) \
                 FROM deliveries WHERE case_id = $1 AND target_kind = $2 AND target_id = $3",
                vec![case_id.into(), target.kind().into(), target.id().into()],
            )
            .await?;
        let (sent, waiting) = (row.opt_int(0)?, row.int(1)?);
        if waiting == 0 && sent.is_some_and(|n| n < r.event_count) {
            outbox::enqueue_update(tx, case_id, target, &url, now).await?;
        }
    }
    Ok(())
}
