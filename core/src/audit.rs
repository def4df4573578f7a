//! The audit log: append-only and tamper-evident.
//!
//! Records must be "true, accurate, complete and traceable" (SPEC "Non-negotiables"): every
//! activation, cancellation, upload, import and case change appends one entry, inside the same
//! transaction as the change itself, so a change and its record commit or vanish together.
//!
//! Entries form a hash chain: each entry's hash is SHA-256 over its predecessor's hash and its own
//! fields. Editing, deleting or reordering any entry breaks every hash after it, which
//! [`verify_chain`] detects. The chain's tip lives in the one-row `audit_head` table; an appender
//! first *updates* that row, which serialises appenders on SQLite and PostgreSQL alike.

use crate::write_tx::WriteTx;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{now_ms, Store, StoreError};

/// One audit entry as stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

fn entry_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &at.to_string(),
        actor,
        action,
        subject,
        detail,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends one entry inside `tx`. `detail` is JSON.
pub async fn append<T: WriteTx>(
    tx: &mut T,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<i64, StoreError> {
    let head = tx
        .fetch_one(
            "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
            vec![],
        )
        .await?;
    let (seq, prev) = (head.int(0)?, head.text(1)?);
    let at = now_ms();
    let detail = detail.to_string();
    let hash = entry_hash(&prev, seq, at, actor, action, subject, &detail);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            seq.into(),
            at.into(),
            actor.into(),
            action.into(),
            subject.into(),
            detail.into(),
            prev.into(),
            hash.clone().into(),
        ],
    )
    .await?;
    tx.execute(
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        vec![hash.into()],
    )
    .await?;
    Ok(seq)
}

/// The entries with `seq > after`, oldest first, at most `limit`.
pub async fn entries(store: &Store, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(sqlx::query_as::<_, AuditEntry>(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// Result of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub entries: i64,
    /// The first entry whose hash or link does not match, if any.
    pub broken_at: Option<i64>,
}

/// Recomputes every hash and link of the chain.
pub async fn verify_chain(store: &Store) -> Result<ChainReport, StoreError> {
    let mut prev = "0".repeat(64);
    let mut expected_seq = 1;
    let mut count = 0;
    loop {
        let batch = entries(store, expected_seq - 1, 1000).await?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            let h = entry_hash(
                &prev, e.seq, e.at, &e.actor, &e.action, &e.subject, &e.detail,
            );
            if e.seq != expected_seq || e.prev_hash != prev || e.hash != h {
                return Ok(ChainReport {
                    entries: count,
                    broken_at: Some(e.seq),
                });
            }
            prev = e.hash;
            expected_seq += 1;
            count += 1;
        }
    }
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(store.pool())
            .await?;
    if head_seq != count || head_hash != prev {
        return Ok(ChainReport {
            entries: count,
            broken_at: Some(count + 1),
        });
    }
    Ok(ChainReport {
        entries: count,
        broken_at: None,
    })
}
