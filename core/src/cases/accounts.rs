//! Regulator accounts: which client certificate speaks for which office.
//!
//! `zhenwei regulator issue --prefix 3302 --name nb-officer-1` issues a client certificate from
//! the data directory's CA and pins its SHA-256 here, bound to the office of that prefix. Every
//! request of the regulator API looks the presented certificate up ([`by_certificate`]); the
//! office's prefix is then the account's jurisdiction — a county office sees only cases within
//! its county, a province all of its counties, the national office everything. Revocation works
//! from the next request. The keys never enter the database.

use serde::Serialize;

use super::routing::parse_prefix;
use super::CaseError;
use crate::store::{now_ms, Store};

/// An account as the API sees it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Account {
    pub name: String,
    pub regulator_id: i64,
    /// The jurisdiction: the office's division-code prefix (`""` = national).
    pub prefix: String,
    pub office: String,
    pub revoked_at: Option<i64>,
    pub not_after: i64,
}

/// Records a newly issued certificate for an account of the office at `prefix`. Audited.
#[allow(clippy::too_many_arguments)]
pub async fn add(
    store: &Store,
    actor: &str,
    prefix: &str,
    name: &str,
    sha256: &str,
    serial: &str,
    not_after: i64,
) -> Result<i64, CaseError> {
    let prefix = parse_prefix(prefix)?;
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_whitespace) {
        return Err(CaseError::Invalid(
            "an account name is 1-64 characters without spaces".into(),
        ));
    }
    let mut tx = store.pool().begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO regulator_credentials (regulator_id, name, cert_sha256, cert_serial, \
         issued_at, not_after) SELECT id, $1, $2, $3, $4, $5 FROM regulators WHERE prefix = $6 \
         ON CONFLICT (name) DO UPDATE SET cert_sha256 = excluded.cert_sha256, \
         cert_serial = excluded.cert_serial, issued_at = excluded.issued_at, \
         not_after = excluded.not_after, revoked_at = NULL, regulator_id = excluded.regulator_id \
         RETURNING id",
    )
    .bind(name)
    .bind(sha256)
    .bind(serial)
    .bind(now_ms())
    .bind(not_after)
    .bind(&prefix)
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| {
        CaseError::Invalid(format!(
            "no office has prefix {:?}; add it with `zhenwei regulator set` first",
            if prefix.is_empty() {
                "national"
            } else {
                &prefix
            }
        ))
    })?;
    crate::audit::append(
        &mut tx,
        actor,
        "regulator.credential_issued",
        &format!("regulator_credential:{id}"),
        &serde_json::json!({ "name": name, "prefix": prefix, "serial": serial, "sha256": sha256 }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Revokes an account's certificate. Audited.
pub async fn revoke(store: &Store, actor: &str, name: &str) -> Result<(), CaseError> {
    let mut tx = store.pool().begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE regulator_credentials SET revoked_at = $1 WHERE name = $2 RETURNING id",
    )
    .bind(now_ms())
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| CaseError::Invalid(format!("no regulator account {name:?}")))?;
    crate::audit::append(
        &mut tx,
        actor,
        "regulator.credential_revoked",
        &format!("regulator_credential:{id}"),
        &serde_json::json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

const ACCOUNT: &str = "SELECT c.name, c.regulator_id, r.prefix, r.name AS office, c.revoked_at, \
     c.not_after FROM regulator_credentials c JOIN regulators r ON r.id = c.regulator_id";

/// The account a certificate (SHA-256 of its DER, hex) is pinned to.
pub async fn by_certificate(store: &Store, sha256: &str) -> Result<Option<Account>, CaseError> {
    Ok(
        sqlx::query_as::<_, Account>(&format!("{ACCOUNT} WHERE c.cert_sha256 = $1"))
            .bind(sha256)
            .fetch_optional(store.pool())
            .await?,
    )
}

/// Every account.
pub async fn list(store: &Store) -> Result<Vec<Account>, CaseError> {
    Ok(
        sqlx::query_as::<_, Account>(&format!("{ACCOUNT} ORDER BY c.name"))
            .fetch_all(store.pool())
            .await?,
    )
}
