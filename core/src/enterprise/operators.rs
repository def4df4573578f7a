//! Enterprise operator accounts: which client certificate speaks for which brand enterprise.
//!
//! `zhenwei enterprise operator add --enterprise CREDIT --name li-wei --role primary` issues a
//! client certificate from the data directory's CA and pins its SHA-256 here (the key never
//! enters the database), exactly like regulator accounts. What differs is the **two-person
//! rule** (issue 7 "Authentication"):
//!
//! * every credential starts *unconfirmed*; another person confirms it — a different operator
//!   of the same enterprise, either over the API with their own certificate
//!   (`POST /v1/enterprise/operators/{name}/confirm`) or recorded by the administrator with
//!   `zhenwei enterprise operator confirm --name X --by Y`. Nobody confirms themselves;
//! * an enterprise's operators get access only while it has a confirmed, unrevoked **primary**
//!   and a confirmed, unrevoked **secondary** — revoking either one closes the portal for all
//!   of them until a replacement is confirmed;
//! * every credential can be revoked, effective from the next request.
//!
//! [`decide`] is the pure access decision; the rest is storage, each change one transaction
//! with its audit entry.

use serde::Serialize;

use crate::store::{now_ms, Store, StoreError};

/// Why an operator change failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no enterprise with credit code {0:?}")]
    UnknownEnterprise(String),
    #[error("no enterprise operator {0:?}")]
    UnknownOperator(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for OperatorError {
    fn from(e: sqlx::Error) -> Self {
        OperatorError::Store(StoreError::Db(e))
    }
}

impl OperatorError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            OperatorError::Store(_) => "unavailable",
            OperatorError::UnknownEnterprise(_) => "unknown_enterprise",
            OperatorError::UnknownOperator(_) => "operator_not_found",
            OperatorError::Invalid(_) => "invalid",
        }
    }
}

/// The two roles an enterprise must fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "primary" => Some(Role::Primary),
            "secondary" => Some(Role::Secondary),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }
}

/// An operator as the API sees it, with what access depends on.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Operator {
    pub name: String,
    pub enterprise_id: i64,
    pub credit_code: String,
    pub enterprise_name: String,
    pub role: String,
    pub confirmed_at: Option<i64>,
    pub confirmed_by: Option<String>,
    pub revoked_at: Option<i64>,
    pub not_after: i64,
    /// Confirmed, unrevoked primaries of the enterprise.
    pub primaries: i64,
    /// Confirmed, unrevoked secondaries of the enterprise.
    pub secondaries: i64,
}

/// Why an authenticated operator is refused (403), in the API's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Revoked,
    Expired,
    Unconfirmed,
    /// The operator is fine, but the enterprise lacks a confirmed primary or secondary.
    EnterpriseIncomplete,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Revoked => "operator_certificate_revoked",
            Refusal::Expired => "operator_certificate_expired",
            Refusal::Unconfirmed => "operator_not_confirmed",
            Refusal::EnterpriseIncomplete => "enterprise_not_confirmed",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Revoked => "this operator's certificate has been revoked",
            Refusal::Expired => "this operator's certificate has expired; ask for a new one",
            Refusal::Unconfirmed => {
                "this operator's credential is not confirmed yet: another operator of the \
                 enterprise must confirm it (two-person rule)"
            }
            Refusal::EnterpriseIncomplete => {
                "the enterprise has no confirmed primary and secondary operator; access opens \
                 once both are confirmed (two-person rule)"
            }
        }
    }
}

/// The access decision at `now` (pure).
pub fn decide(op: &Operator, now: i64) -> Result<(), Refusal> {
    if op.revoked_at.is_some() {
        return Err(Refusal::Revoked);
    }
    if op.not_after <= now {
        return Err(Refusal::Expired);
    }
    if op.confirmed_at.is_none() {
        return Err(Refusal::Unconfirmed);
    }
    if op.primaries < 1 || op.secondaries < 1 {
        return Err(Refusal::EnterpriseIncomplete);
    }
    Ok(())
}

fn check_name(name: &str) -> Result<&str, OperatorError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(OperatorError::Invalid(
            "an operator name is 1-64 letters, digits, \"-\", \"_\" or \".\"".into(),
        ));
    }
    Ok(name)
}

/// Records a newly issued certificate for operator `name` of the enterprise `credit_code`.
/// Re-issuing a name replaces its certificate and needs a new confirmation. Audited.
#[allow(clippy::too_many_arguments)]
pub async fn add(
    store: &Store,
    actor: &str,
    credit_code: &str,
    name: &str,
    role: Role,
    sha256: &str,
    serial: &str,
    not_after: i64,
) -> Result<i64, OperatorError> {
    let name = check_name(name)?;
    let mut tx = store.pool().begin().await?;
    let enterprise: Option<i64> =
        sqlx::query_scalar("SELECT id FROM enterprises WHERE credit_code = $1")
            .bind(credit_code.trim())
            .fetch_optional(&mut *tx)
            .await?;
    let enterprise =
        enterprise.ok_or_else(|| OperatorError::UnknownEnterprise(credit_code.trim().into()))?;
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT enterprise_id FROM enterprise_operators WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_some_and(|e| e != enterprise) {
        return Err(OperatorError::Invalid(format!(
            "operator name {name:?} belongs to another enterprise; choose another name"
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO enterprise_operators (enterprise_id, name, role, cert_sha256, cert_serial, \
         issued_at, not_after) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET role = excluded.role, \
         cert_sha256 = excluded.cert_sha256, cert_serial = excluded.cert_serial, \
         issued_at = excluded.issued_at, not_after = excluded.not_after, confirmed_at = NULL, \
         confirmed_by = NULL, revoked_at = NULL RETURNING id",
    )
    .bind(enterprise)
    .bind(name)
    .bind(role.as_str())
    .bind(sha256)
    .bind(serial)
    .bind(now_ms())
    .bind(not_after)
    .fetch_one(&mut *tx)
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "enterprise.operator_issued",
        &format!("enterprise_operator:{id}"),
        &serde_json::json!({ "name": name, "enterprise": credit_code.trim(),
                              "role": role.as_str(), "serial": serial, "sha256": sha256 }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// `by` (another operator of the same enterprise, not revoked) confirms operator `name`.
/// Audited with `actor` (the administrator, or `enterprise:BY` over the API).
pub async fn confirm(
    store: &Store,
    actor: &str,
    name: &str,
    by: &str,
) -> Result<Operator, OperatorError> {
    let (name, by) = (name.trim(), by.trim());
    if name == by {
        return Err(OperatorError::Invalid(
            "nobody confirms their own credential: another operator of the enterprise must \
             (two-person rule)"
                .into(),
        ));
    }
    let mut tx = store.pool().begin().await?;
    // Write first (SQLite takes its write lock now).
    let row: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE enterprise_operators SET confirmed_at = confirmed_at WHERE name = $1 \
         RETURNING id, enterprise_id",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, enterprise) = row.ok_or_else(|| OperatorError::UnknownOperator(name.into()))?;
    let confirmer: Option<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT enterprise_id, revoked_at FROM enterprise_operators WHERE name = $1",
    )
    .bind(by)
    .fetch_optional(&mut *tx)
    .await?;
    match confirmer {
        Some((e, None)) if e == enterprise => {}
        Some((e, Some(_))) if e == enterprise => {
            return Err(OperatorError::Invalid(format!(
                "operator {by:?} has been revoked and cannot confirm anyone"
            )))
        }
        _ => {
            return Err(OperatorError::Invalid(format!(
                "{by:?} is not an operator of the same enterprise as {name:?}"
            )))
        }
    }
    let changed = sqlx::query(
        "UPDATE enterprise_operators SET confirmed_at = $1, confirmed_by = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(by)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() != 1 {
        return Err(OperatorError::Invalid(format!(
            "operator {name:?} has been revoked; issue a new credential instead"
        )));
    }
    crate::audit::append(
        &mut tx,
        actor,
        "enterprise.operator_confirmed",
        &format!("enterprise_operator:{id}"),
        &serde_json::json!({ "name": name, "by": by }),
    )
    .await?;
    tx.commit().await?;
    by_name(store, name)
        .await?
        .ok_or_else(|| OperatorError::UnknownOperator(name.into()))
}

/// Revokes an operator's certificate (refused from the next request on). Audited.
pub async fn revoke(store: &Store, actor: &str, name: &str) -> Result<(), OperatorError> {
    let mut tx = store.pool().begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE enterprise_operators SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2 \
         RETURNING id",
    )
    .bind(now_ms())
    .bind(name.trim())
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| OperatorError::UnknownOperator(name.trim().into()))?;
    crate::audit::append(
        &mut tx,
        actor,
        "enterprise.operator_revoked",
        &format!("enterprise_operator:{id}"),
        &serde_json::json!({ "name": name.trim() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

const OPERATOR: &str = "SELECT o.name, o.enterprise_id, e.credit_code, \
     e.name AS enterprise_name, o.role, o.confirmed_at, o.confirmed_by, o.revoked_at, \
     o.not_after, \
     (SELECT COUNT(*) FROM enterprise_operators x WHERE x.enterprise_id = o.enterprise_id \
      AND x.role = 'primary' AND x.confirmed_at IS NOT NULL AND x.revoked_at IS NULL) \
      AS primaries, \
     (SELECT COUNT(*) FROM enterprise_operators x WHERE x.enterprise_id = o.enterprise_id \
      AND x.role = 'secondary' AND x.confirmed_at IS NOT NULL AND x.revoked_at IS NULL) \
      AS secondaries \
     FROM enterprise_operators o JOIN enterprises e ON e.id = o.enterprise_id";

/// The operator a certificate (SHA-256 of its DER, hex) is pinned to.
pub async fn by_certificate(
    store: &Store,
    sha256: &str,
) -> Result<Option<Operator>, OperatorError> {
    Ok(
        sqlx::query_as::<_, Operator>(&format!("{OPERATOR} WHERE o.cert_sha256 = $1"))
            .bind(sha256)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// One operator by name.
pub async fn by_name(store: &Store, name: &str) -> Result<Option<Operator>, OperatorError> {
    Ok(
        sqlx::query_as::<_, Operator>(&format!("{OPERATOR} WHERE o.name = $1"))
            .bind(name)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// Every operator (of one enterprise, when given), by enterprise then name.
pub async fn list(
    store: &Store,
    enterprise_id: Option<i64>,
) -> Result<Vec<Operator>, OperatorError> {
    Ok(sqlx::query_as::<_, Operator>(&format!(
        "{OPERATOR} WHERE ($1 = 0 OR o.enterprise_id = $1) ORDER BY e.credit_code, o.name"
    ))
    .bind(enterprise_id.unwrap_or(0))
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Operator {
        Operator {
            name: "li-wei".into(),
            enterprise_id: 1,
            credit_code: "X".into(),
            enterprise_name: "E".into(),
            role: "primary".into(),
            confirmed_at: Some(5),
            confirmed_by: Some("wang-fang".into()),
            revoked_at: None,
            not_after: 1_000,
            primaries: 1,
            secondaries: 1,
        }
    }

    #[test]
    fn access_needs_a_confirmed_unrevoked_pair() {
        assert_eq!(decide(&op(), 10), Ok(()));
        let refused = |f: &dyn Fn(&mut Operator)| {
            let mut o = op();
            f(&mut o);
            decide(&o, 10).unwrap_err()
        };
        assert_eq!(refused(&|o| o.revoked_at = Some(9)), Refusal::Revoked);
        assert_eq!(refused(&|o| o.not_after = 10), Refusal::Expired);
        assert_eq!(refused(&|o| o.confirmed_at = None), Refusal::Unconfirmed);
        assert_eq!(
            refused(&|o| o.secondaries = 0),
            Refusal::EnterpriseIncomplete
        );
        assert_eq!(refused(&|o| o.primaries = 0), Refusal::EnterpriseIncomplete);
        // Revocation wins over everything else.
        assert_eq!(
            refused(&|o| {
                o.revoked_at = Some(1);
                o.confirmed_at = None
            }),
            Refusal::Revoked
        );
    }

    #[test]
    fn names_and_roles() {
        assert!(check_name("li-wei.2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("li wei").is_err());
        assert!(check_name("李").is_err());
        assert_eq!(Role::parse("secondary"), Some(Role::Secondary));
        assert_eq!(Role::parse("admin"), None);
    }
}
