//! The offices cases are delivered to: regulator endpoints per division-code prefix, and each
//! brand enterprise's report endpoint. Stored in the database (not the configuration file) so
//! every server process sharing it routes alike, changes are audited, and the regulator
//! accounts of the portal can be bound to the same rows.

use super::routing::{parse_prefix, Regulator};
use super::CaseError;
use crate::store::{now_ms, Store};

/// A receiver address must be HTTPS: reports are personal data and signed evidence.
pub fn check_url(url: &str) -> Result<(), CaseError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| CaseError::Url(format!("{url:?} is not an https:// URL")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || url.len() > 2000 {
        return Err(CaseError::Url(format!("{url:?} has no usable host")));
    }
    Ok(())
}

/// Adds the office for `prefix`, or changes its name and URL, and routes to it — in the same
/// transaction — the cases that had found no office yet ([`super::casework::route_unrouted`]).
/// Audited.
pub async fn set_regulator(
    store: &Store,
    actor: &str,
    prefix: &str,
    name: &str,
    url: &str,
) -> Result<Regulator, CaseError> {
    let prefix = parse_prefix(prefix)?;
    check_url(url)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CaseError::Invalid("an office needs a name".into()));
    }
    let mut tx = store.pool().begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO regulators (prefix, name, url, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (prefix) DO UPDATE SET name = excluded.name, url = excluded.url \
         RETURNING id",
    )
    .bind(&prefix)
    .bind(name)
    .bind(url)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        "regulator.set",
        &format!("regulator:{id}"),
        &serde_json::json!({ "prefix": prefix, "name": name, "url": url }),
    )
    .await?;
    // Cases that found no office when they opened go to this one now, if it covers them.
    let routed = super::casework::route_unrouted(&mut tx, now_ms()).await?;
    if !routed.is_empty() {
        crate::audit::append(
            &mut tx,
            actor,
            "case.routed",
            &format!("regulator:{id}"),
            &serde_json::json!({ "cases": routed }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Regulator {
        id,
        prefix,
        name: name.to_owned(),
        url: url.to_owned(),
    })
}

/// Every configured office, national first, then by prefix.
pub async fn regulators(store: &Store) -> Result<Vec<Regulator>, CaseError> {
    Ok(sqlx::query_as::<_, Regulator>(
        "SELECT id, prefix, name, url FROM regulators ORDER BY prefix",
    )
    .fetch_all(store.pool())
    .await?)
}

/// Sets (or with `None` clears) where an enterprise receives its case reports. Audited.
pub async fn set_enterprise_endpoint(
    store: &Store,
    actor: &str,
    credit_code: &str,
    url: Option<&str>,
) -> Result<(), CaseError> {
    if let Some(u) = url {
        check_url(u)?;
    }
    let mut tx = store.pool().begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE enterprises SET report_url = $1 WHERE credit_code = $2 RETURNING id",
    )
    .bind(url)
    .bind(credit_code.trim())
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| CaseError::UnknownEnterprise(credit_code.to_owned()))?;
    crate::audit::append(
        &mut tx,
        actor,
        "enterprise.report_url",
        &format!("enterprise:{id}"),
        &serde_json::json!({ "url": url }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_with_a_host() {
        assert!(check_url("https://127.0.0.1:8443/cases").is_ok());
        assert!(check_url("https://scjg.ningbo.gov.cn").is_ok());
        for bad in [
            "http://x/",
            "https://",
            "https:///x",
            "ftp://x",
            "https://a b/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
