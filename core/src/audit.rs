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
    let seqs = append_all(
        tx,
        &[NewEntry {
            actor,
            action,
            subject: subject.to_owned(),
            detail: detail.to_string(),
        }],
    )
    .await?;
    seqs.first()
        .copied()
        .ok_or_else(|| StoreError::Decode("an audit append without its entry".into()))
}

/// An entry to append: `detail` is JSON text.
pub struct NewEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: String,
    pub detail: String,
}

/// Entries per multi-row insert (8 parameters each, under both backends' limits).
const ENTRIES_PER_STATEMENT: usize = 100;

/// Appends `entries` inside `tx`, in order, with three statements however many there are (the
/// head moved by all of them at once, one multi-row insert, the new tip): a batch that opens
/// many cases pays for one append, not one per case — on PostgreSQL each statement is a round
/// trip. Returns their sequence numbers.
pub async fn append_all<T: WriteTx>(
    tx: &mut T,
    entries: &[NewEntry<'_>],
) -> Result<Vec<i64>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let n = entries.len() as i64;
    let head = tx
        .fetch_one(
            "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
            vec![n.into()],
        )
        .await?;
    let (last, mut prev) = (head.int(0)?, head.text(1)?);
    let at = now_ms();
    let mut seqs = Vec::with_capacity(entries.len());
    let mut rows = Vec::with_capacity(entries.len());
    for (k, e) in (1..).zip(entries) {
        let seq = last - n + k;
        let hash = entry_hash(&prev, seq, at, e.actor, e.action, &e.subject, &e.detail);
        rows.push((seq, e, std::mem::replace(&mut prev, hash.clone()), hash));
        seqs.push(seq);
    }
    for chunk in rows.chunks(ENTRIES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
             VALUES {}",
            crate::write_tx::placeholders(chunk.len(), 8)
        );
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for (seq, e, prev_hash, hash) in chunk {
            params.extend([
                (*seq).into(),
                at.into(),
                e.actor.into(),
                e.action.into(),
                e.subject.as_str().into(),
                e.detail.as_str().into(),
                prev_hash.as_str().into(),
                hash.as_str().into(),
            ]);
        }
        tx.execute(&sql, params).await?;
    }
    tx.execute(
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        vec![prev.into()],
    )
    .await?;
    Ok(seqs)
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
