//! What happened to one case, for the case page: its deliveries (to offices and to the
//! enterprise, with their attempts and state), its escalations, and its audit trail (the
//! hash-chained entries whose subject is the case). Read-only; the caller has checked the
//! jurisdiction.

use serde::Serialize;

use super::CaseError;
use crate::store::Store;

/// One delivery of a case report.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DeliveryEntry {
    pub id: i64,
    pub event: String,
    /// `regulator` or `enterprise`.
    pub target_kind: String,
    /// The office's or the enterprise's name.
    pub target_name: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// One escalation to the next level up.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct EscalationEntry {
    pub from_prefix: Option<String>,
    pub to_prefix: Option<String>,
    pub to_name: Option<String>,
    pub due_at: i64,
    pub at: i64,
}

/// One audit-log entry about the case.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub hash: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct History {
    pub deliveries: Vec<DeliveryEntry>,
    pub escalations: Vec<EscalationEntry>,
    pub audit: Vec<AuditEntry>,
}

/// The history of case `id`, oldest first.
pub async fn load(store: &Store, id: i64) -> Result<History, CaseError> {
    let deliveries = sqlx::query_as::<_, DeliveryEntry>(
        "SELECT d.id, d.event, d.target_kind, \
         CASE WHEN d.target_kind = 'regulator' THEN r.name ELSE e.name END AS target_name, \
         d.state, d.attempts, d.last_error, d.created_at, d.delivered_at FROM deliveries d \
         LEFT JOIN regulators r ON d.target_kind = 'regulator' AND r.id = d.target_id \
         LEFT JOIN enterprises e ON d.target_kind = 'enterprise' AND e.id = d.target_id \
         WHERE d.case_id = $1 ORDER BY d.id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    let escalations = sqlx::query_as::<_, EscalationEntry>(
        "SELECT f.prefix AS from_prefix, t.prefix AS to_prefix, t.name AS to_name, x.due_at, x.at \
         FROM case_escalations x LEFT JOIN regulators f ON f.id = x.from_regulator \
         LEFT JOIN regulators t ON t.id = x.to_regulator WHERE x.case_id = $1 ORDER BY x.id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    let audit = sqlx::query_as::<_, AuditEntry>(
        "SELECT seq, at, actor, action, detail, hash FROM audit_log WHERE subject = $1 \
         ORDER BY seq",
    )
    .bind(format!("case:{id}"))
    .fetch_all(store.pool())
    .await?;
    Ok(History {
        deliveries,
        escalations,
        audit,
    })
}
