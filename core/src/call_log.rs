//! The call log: one stored row per phone call to the hotline.
//!
//! The IVR writes a [`CallRecord`] when a call ends: which call (the SIP Call-ID), who called
//! (the number, as a personal datum: encrypted at rest with [`contacts::seal`](crate::contacts::seal),
//! found by the keyed hash [`source_key`] — the same value as the caller's
//! `query_events.source_key` — and kept masked for display), which trunk delivered it, when it
//! was offered, answered and ended, the menu language, the codes keyed with their verdicts and
//! event ids, the case a report opened, a transfer, and why it ended. `zhenwei calls` lists it,
//! masked.

use serde::{Deserialize, Serialize};

use crate::codes::text::mask_phone;
use crate::contacts::{seal, ContactError};
use crate::keys::Keyring;
use crate::store::Store;
use crate::verdict::Channel;
use crate::verify::source_key;

/// One code keyed during a call and what came of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallQuery {
    pub code: String,
    /// `genuine`, `suspect`, …; `None` when the core gave no verdict (limited, unavailable).
    pub authenticity: Option<String>,
    pub event_id: Option<i64>,
}

/// A finished call, as the IVR reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRecord {
    pub sip_call_id: String,
    /// The caller as the trunk gave it (the user part of the From URI).
    pub caller: String,
    /// The address the call came from.
    pub trunk: String,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    pub lang: Option<String>,
    pub queries: Vec<CallQuery>,
    pub case_id: Option<i64>,
    pub transfer_to: Option<String>,
    /// `caller_bye`, `goodbye` (we hung up after the menu), `max_duration`, `transferred`,
    /// `cancelled`, `no_ack`.
    pub hangup: String,
}

/// A stored call, as listed (the number masked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredCall {
    pub id: i64,
    pub sip_call_id: String,
    pub caller: String,
    pub trunk: String,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    pub lang: Option<String>,
    pub queries: Vec<CallQuery>,
    pub case_id: Option<i64>,
    pub transfer_to: Option<String>,
    pub hangup: String,
}

/// Why the call log failed.
#[derive(Debug, thiserror::Error)]
pub enum CallLogError {
    #[error(transparent)]
    Seal(#[from] ContactError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("stored queries are not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Stores a finished call. Returns its row id.
pub async fn record(store: &Store, keyring: &Keyring, c: &CallRecord) -> Result<i64, CallLogError> {
    let key = source_key(keyring, Channel::Ivr, &c.caller);
    let cipher = seal(keyring, &key, &c.caller)?;
    let queries = serde_json::to_string(&c.queries)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calls (sip_call_id, source_key, caller_cipher, caller_masked, trunk, \
         started_at, answered_at, ended_at, lang, queries, case_id, transfer_to, hangup) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(&c.sip_call_id)
    .bind(&key)
    .bind(&cipher)
    .bind(mask_phone(&c.caller))
    .bind(&c.trunk)
    .bind(c.started_at)
    .bind(c.answered_at)
    .bind(c.ended_at)
    .bind(&c.lang)
    .bind(&queries)
    .bind(c.case_id)
    .bind(&c.transfer_to)
    .bind(&c.hangup)
    .fetch_one(store.pool())
    .await?;
    Ok(id)
}

type Row = (
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    String,
);

/// The latest `limit` calls, newest first; only those of `caller` when given (found by keyed
/// hash, never by decrypting).
pub async fn list(
    store: &Store,
    keyring: &Keyring,
    caller: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredCall>, CallLogError> {
    const COLS: &str = "SELECT id, sip_call_id, caller_masked, trunk, started_at, answered_at, \
                        ended_at, lang, queries, case_id, transfer_to, hangup FROM calls";
    let rows: Vec<Row> = match caller {
        Some(c) => {
            sqlx::query_as(&format!(
                "{COLS} WHERE source_key = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(source_key(keyring, Channel::Ivr, c))
            .bind(limit)
            .fetch_all(store.pool())
            .await?
        }
        None => {
            sqlx::query_as(&format!("{COLS} ORDER BY id DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(store.pool())
                .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(StoredCall {
                id: r.0,
                sip_call_id: r.1,
                caller: r.2,
                trunk: r.3,
                started_at: r.4,
                answered_at: r.5,
                ended_at: r.6,
                lang: r.7,
                queries: serde_json::from_str(&r.8)?,
                case_id: r.9,
                transfer_to: r.10,
                hangup: r.11,
            })
        })
        .collect()
}
