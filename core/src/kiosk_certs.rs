//! Kiosk credentials: which client certificate each kiosk authenticates with, and revocation.
//!
//! A store kiosk asks the server over HTTPS with a client certificate signed by the CA in the
//! data directory (the server crate's `pki` module makes the CA and the certificates; this
//! module only records them). The TLS layer proves that a certificate comes from our CA; this
//! record says **which kiosk** it belongs to and whether it still counts:
//!
//! * every certificate issued to a kiosk is pinned here by its SHA-256 fingerprint (of the DER),
//!   together with its serial and expiry, in the same transaction that audits the issuance;
//! * issuing a new certificate to a kiosk replaces the pin, so the previous certificate stops
//!   working at once (a lost kiosk PC is handled by re-issuing or revoking);
//! * `revoked_at` refuses the pinned certificate from then on, until a new one is issued.
//!
//! The server looks the presented certificate up by fingerprint on **every** kiosk request
//! ([`Registry::kiosk_by_certificate`]), never from a cache, so a revocation made by the CLI (or
//! by another server on the same PostgreSQL database) takes effect with the next request.
//! Private keys never reach this module, the database or the audit log.

use serde::Serialize;

use crate::audit;
use crate::lifecycle::{LifecycleError, Registry};
use crate::store::now_ms;

type Result<T> = std::result::Result<T, LifecycleError>;

/// A kiosk, its store, and the state of its certificate.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct KioskRecord {
    pub kiosk_id: i64,
    pub name: String,
    pub store_id: i64,
    pub store_name: String,
    /// The store's administrative division code: the place of the kiosk's queries.
    pub division: String,
    /// When the kiosk was registered (Unix ms).
    pub created_at: i64,
    /// Serial number of the current certificate (hex), if one was issued.
    pub cert_serial: Option<String>,
    /// SHA-256 of the current certificate's DER (lower-case hex), if one was issued.
    pub cert_sha256: Option<String>,
    /// When the current certificate was issued (Unix ms).
    pub cert_issued_at: Option<i64>,
    /// When the current certificate expires (Unix ms).
    pub cert_not_after: Option<i64>,
    /// When the kiosk's certificate was revoked (Unix ms); `None` while it counts.
    pub revoked_at: Option<i64>,
}

/// Whether a kiosk can authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// Registered without a certificate (`store add-kiosk`, the demo kiosks).
    None,
    /// Its pinned certificate is accepted.
    Active,
    /// Refused until a new certificate is issued.
    Revoked,
}

impl CertificateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::None => "none",
            CertificateStatus::Active => "active",
            CertificateStatus::Revoked => "revoked",
        }
    }
}

impl KioskRecord {
    pub fn status(&self) -> CertificateStatus {
        if self.revoked_at.is_some() {
            CertificateStatus::Revoked
        } else if self.cert_sha256.is_some() {
            CertificateStatus::Active
        } else {
            CertificateStatus::None
        }
    }
}

/// What is recorded about an issued certificate (nothing secret).
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER, lower-case hex (64 characters).
    pub sha256: String,
    /// Expiry, Unix ms.
    pub not_after: i64,
}

const SELECT_KIOSK: &str = "SELECT k.id AS kiosk_id, k.name, s.id AS store_id, \
     s.name AS store_name, s.division, k.created_at, k.cert_serial, k.cert_sha256, \
     k.cert_issued_at, k.cert_not_after, k.revoked_at \
     FROM kiosks k JOIN stores s ON s.id = k.store_id";

fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Registry {
    /// Whether a store with this id exists (checked before a kiosk is registered in it, for a
    /// clear error instead of a foreign-key failure).
    pub async fn store_exists(&self, store_id: i64) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM stores WHERE id = $1")
            .bind(store_id)
            .fetch_optional(self.store().pool())
            .await?;
        Ok(found.is_some())
    }

    /// Every kiosk with its store and certificate state, by id.
    pub async fn kiosks(&self) -> Result<Vec<KioskRecord>> {
        Ok(sqlx::query_as(&format!("{SELECT_KIOSK} ORDER BY k.id"))
            .fetch_all(self.store().pool())
            .await?)
    }

    /// One kiosk by name.
    pub async fn kiosk_record(&self, name: &str) -> Result<Option<KioskRecord>> {
        Ok(sqlx::query_as(&format!("{SELECT_KIOSK} WHERE k.name = $1"))
            .bind(name.trim())
            .fetch_optional(self.store().pool())
            .await?)
    }

    /// The kiosk whose current certificate has this SHA-256 fingerprint (lower-case hex), revoked
    /// or not — the caller decides what a revoked one means. `None` for a certificate that was
    /// never issued here or has been replaced by a newer one. Reads the database every time.
    pub async fn kiosk_by_certificate(&self, sha256: &str) -> Result<Option<KioskRecord>> {
        if !is_fingerprint(sha256) {
            return Ok(None);
        }
        Ok(
            sqlx::query_as(&format!("{SELECT_KIOSK} WHERE k.cert_sha256 = $1"))
                .bind(sha256)
                .fetch_optional(self.store().pool())
                .await?,
        )
    }

    /// Pins a newly issued certificate to a kiosk, replacing (and so retiring) any previous one
    /// and lifting a revocation. Audited as `kiosk.certificate`.
    pub async fn record_kiosk_certificate(
        &self,
        actor: &str,
        name: &str,
        cert: &IssuedCertificate,
    ) -> Result<()> {
        if !is_fingerprint(&cert.sha256) {
            return Err(LifecycleError::Invalid(
                "a certificate fingerprint is 64 lower-case hex digits".into(),
            ));
        }
        let name = name.trim();
        let now = now_ms();
        let mut tx = self.store().pool().begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE kiosks SET cert_serial = $1, cert_sha256 = $2, cert_issued_at = $3, \
             cert_not_after = $4, revoked_at = NULL WHERE name = $5 RETURNING id",
        )
        .bind(&cert.serial)
        .bind(&cert.sha256)
        .bind(now)
        .bind(cert.not_after)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if id.is_none() {
            return Err(LifecycleError::NotFound(format!("kiosk {name:?}")));
        }
        audit::append(
            &mut tx,
            actor,
            "kiosk.certificate",
            &format!("kiosk:{name}"),
            &serde_json::json!({
                "serial": cert.serial,
                "sha256": cert.sha256,
                "not_after": cert.not_after,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a kiosk's certificate: the server refuses it from the next request on. Returns
    /// the revocation time (Unix ms). Audited as `kiosk.revoke`.
    pub async fn revoke_kiosk(&self, actor: &str, name: &str) -> Result<i64> {
        let name = name.trim();
        let now = now_ms();
        let mut tx = self.store().pool().begin().await?;
        let revoked: Option<(i64, Option<String>)> = sqlx::query_as(
            "UPDATE kiosks SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL \
             RETURNING id, cert_serial",
        )
        .bind(now)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((_, serial)) = revoked else {
            let since: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at FROM kiosks WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match since {
                None => LifecycleError::NotFound(format!("kiosk {name:?}")),
                Some(_) => LifecycleError::Conflict(format!(
                    "kiosk {name:?} is already revoked; `zhenwei kiosk issue {name}` gives it a new certificate"
                )),
            });
        };
        audit::append(
            &mut tx,
            actor,
            "kiosk.revoke",
            &format!("kiosk:{name}"),
            &serde_json::json!({ "serial": serial }),
        )
        .await?;
        tx.commit().await?;
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_lower_case_hex() {
        assert!(is_fingerprint(&"ab".repeat(32)));
        assert!(!is_fingerprint(&"AB".repeat(32)));
        assert!(!is_fingerprint(&"ab".repeat(31)));
        assert!(!is_fingerprint("' OR 1=1 --"));
    }
}
