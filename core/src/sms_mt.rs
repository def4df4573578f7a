//! The outbound SMS log: mobile-terminated messages zhenwei handed to an SMSC, and the delivery
//! receipts that came back for them (issues 5 and 8).
//!
//! A message to follow up is **recorded before it is sent** ([`record`]): its row id travels with
//! it (the SMPP shell tags the `submit_sm` parts with it; Kannel gets it in the `dlr-url`), the
//! SMSC's message id of each accepted part is attached when `submit_sm_resp` arrives
//! ([`submitted`]), and a receipt — an SMPP `deliver_sm` receipt or a Kannel DLR callback — is
//! matched by that message id ([`receipt`]). So after a crash the row answers "did the SMSC take
//! it?", which is how a recall notice left `sending` is settled without sending it twice
//! ([`crate::feeds::outbox::reclaim`]).
//!
//! Replies to MOs are not recorded up front (the reply path stays one round trip); when the SMSC
//! accepts a reply part, [`submitted`] with no row creates a `reply` row after the fact, so its
//! receipt is linked too. Recipients are stored as their keyed hash and masked, never in clear.

use serde::Serialize;

use crate::store::{now_ms, Store, StoreError};

/// What one outbound message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The answer to an MO.
    Reply,
    /// A proactive recall notice (`recall_notifications.id` in `notice_id`).
    Recall,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reply => "reply",
            Purpose::Recall => "recall",
        }
    }
}

/// Who a message is for, as stored.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// The keyed hash of the number (`contacts.source_key`), when known.
    pub source_key: Option<String>,
    /// The number, masked.
    pub masked: String,
}

/// Records a message about to be handed to `transport` ("smpp", "kannel"); returns its id.
pub async fn record(
    store: &Store,
    purpose: Purpose,
    notice_id: Option<i64>,
    to: &Recipient,
    transport: &str,
) -> Result<i64, StoreError> {
    let at = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sms_mt (purpose, notice_id, source_key, to_masked, transport, parts, state, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 'queued', $6, $6) RETURNING id",
    )
    .bind(purpose.as_str())
    .bind(notice_id)
    .bind(to.source_key.as_deref())
    .bind(&to.masked)
    .bind(transport)
    .bind(at)
    .fetch_one(store.pool())
    .await?;
    Ok(id)
}

/// The SMSC accepted one part of message `mt_id` under `message_id`. With no `mt_id` (a reply),
/// a `reply` row for `to` is created first.
pub async fn submitted(
    store: &Store,
    mt_id: Option<i64>,
    to: &Recipient,
    transport: &str,
    message_id: &str,
) -> Result<i64, StoreError> {
    let at = now_ms();
    let mt_id = match mt_id {
        Some(id) => id,
        None => record(store, Purpose::Reply, None, to, transport).await?,
    };
    sqlx::query(
        "UPDATE sms_mt SET parts = parts + 1, updated_at = $1, \
         state = CASE WHEN state = 'queued' THEN 'accepted' ELSE state END, \
         message_ids = CASE WHEN message_ids IS NULL THEN $2 ELSE message_ids || ' ' || $2 END \
         WHERE id = $3",
    )
    .bind(at)
    .bind(message_id)
    .bind(mt_id)
    .execute(store.pool())
    .await?;
    sqlx::query(
        "INSERT INTO sms_receipts (message_id, mt_id, submitted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (message_id) DO UPDATE SET mt_id = excluded.mt_id, \
         submitted_at = excluded.submitted_at",
    )
    .bind(message_id)
    .bind(mt_id)
    .bind(at)
    .execute(store.pool())
    .await?;
    Ok(mt_id)
}

/// The transport refused message `mt_id` (or part of it).
pub async fn failed(store: &Store, mt_id: i64, error: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sms_mt SET state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END, \
         error = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(error)
    .bind(now_ms())
    .bind(mt_id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// A delivery receipt for `message_id`: `stat` as SMPP receipt texts spell it (DELIVRD,
/// UNDELIV, EXPIRED, REJECTD, ...; an intermediate ENROUTE/ACCEPTD arriving after a final state
/// does not overwrite it). Settles the message it belongs to, when known; a receipt
/// that arrives before its `submit_sm_resp` was recorded is kept and linked when that comes.
pub async fn receipt(
    store: &Store,
    message_id: &str,
    stat: &str,
    err: Option<&str>,
    done_date: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let at = now_ms();
    let mt_id: Option<Option<i64>> = sqlx::query_scalar(
        "INSERT INTO sms_receipts (message_id, stat, err, done_date, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO UPDATE SET \
         stat = CASE WHEN sms_receipts.stat IN ('DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', \
         'DELETED') AND excluded.stat IN ('ENROUTE', 'ACCEPTD', 'UNKNOWN') \
         THEN sms_receipts.stat ELSE excluded.stat END, \
         err = excluded.err, done_date = excluded.done_date, received_at = excluded.received_at \
         RETURNING mt_id",
    )
    .bind(message_id)
    .bind(stat)
    .bind(err)
    .bind(done_date)
    .bind(at)
    .fetch_optional(store.pool())
    .await?;
    let mt_id = mt_id.flatten();
    if let Some(id) = mt_id {
        let state = match stat {
            "DELIVRD" => Some("delivered"),
            "UNDELIV" | "EXPIRED" | "REJECTD" | "DELETED" => Some("undelivered"),
            _ => None,
        };
        if let Some(state) = state {
            sqlx::query("UPDATE sms_mt SET state = $1, updated_at = $2 WHERE id = $3")
                .bind(state)
                .bind(at)
                .bind(id)
                .execute(store.pool())
                .await?;
        }
    }
    Ok(mt_id)
}

/// Whether the SMSC accepted (any part of) the message sent for recall notice `notice_id`.
pub async fn accepted_for_notice(store: &Store, notice_id: i64) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sms_mt WHERE notice_id = $1 AND purpose = 'recall' \
         AND state IN ('accepted', 'delivered', 'undelivered')",
    )
    .bind(notice_id)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// One line of `zhenwei sms receipts`.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ReceiptRow {
    pub message_id: String,
    pub mt_id: Option<i64>,
    pub purpose: Option<String>,
    pub notice_id: Option<i64>,
    pub to: Option<String>,
    pub transport: Option<String>,
    /// `None` while no receipt came.
    pub stat: Option<String>,
    pub err: Option<String>,
    pub submitted_at: Option<i64>,
    pub received_at: Option<i64>,
}

/// The message ids and their receipts, newest first.
pub async fn receipts(store: &Store, limit: i64) -> Result<Vec<ReceiptRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.message_id, r.mt_id, m.purpose, m.notice_id, m.to_masked AS \"to\", \
         m.transport, r.stat, r.err, r.submitted_at, r.received_at FROM sms_receipts r \
         LEFT JOIN sms_mt m ON m.id = r.mt_id \
         ORDER BY COALESCE(r.submitted_at, r.received_at) DESC, r.message_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}
