//! Retention: personal data is kept only as long as it is configured to be.
//!
//! SPEC "Cases and reporting to regulators": phone numbers are encrypted at rest, shown masked,
//! used for nothing but replies, recall notices and rewards, and "retention is configurable".
//! Three stores hold data about a person, each with its own period ([`Retention`], the
//! `[privacy]` section of the config file):
//!
//! * **`contacts`** (`contact_days`): a contact not seen for longer loses its number. One who
//!   never opted out is deleted outright. One who opted out keeps its row — the keyed hash and
//!   the opt-out, nothing else: `number_cipher` and `number_masked` become `''` — so that if the
//!   person writes again their number is stored again *still opted out*; deleting the row would
//!   quietly opt them back in. A contact without a number is "no number known" to
//!   [`Contacts::follow_up`](crate::contacts::Contacts::follow_up), so a recall notice for it is
//!   settled `no_contact` and never sent.
//! * **`calls`** (`call_days`): calls that started longer ago are deleted (the caller is sealed
//!   in each row).
//! * **`sms_mt` / `sms_receipts`** (`sms_log_days`): outbound messages created longer ago are
//!   deleted together with their receipts, in the same transaction; receipts that never matched
//!   a message are deleted by their own age. A message whose recall notice is still `sending`
//!   is kept: [`reclaim`](crate::feeds::outbox::reclaim) reads it to avoid a second send.
//!
//! `query_events` keep their `source_key` (a keyed hash) and `source_masked`: those are the
//! record of the query, not a number, and are not purged here.
//!
//! **How it runs.** [`purge`] works table by table in bounded chunks ([`CHUNK`] rows), each
//! chunk its own short write transaction that starts with its write, so the recorder and other
//! writers wait at most one chunk, on SQLite and PostgreSQL alike. The statements repeat their
//! conditions on the outer row, so a contact seen or opted out while the purge runs is not
//! taken with the chunk it was selected into. A run ends by appending one audit entry with the
//! counts — never a number or a key. A dry run only counts. `zhenwei serve` runs [`serve`] (once
//! at start, then every `purge_every_minutes`); `zhenwei privacy purge` runs it on demand.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{now_ms, Store, StoreError};
use crate::write_tx::{Param, WriteTx};

/// Rows per purge transaction.
pub const CHUNK: i64 = 500;

const DAY_MS: i64 = 86_400_000;

/// The retention periods (`[privacy]` in the config file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// A contact not seen for this many days loses its number.
    pub contact_days: u32,
    /// Calls are kept this many days.
    pub call_days: u32,
    /// The outbound SMS log and its receipts are kept this many days.
    pub sms_log_days: u32,
    /// How often `zhenwei serve` purges.
    pub purge_every_minutes: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            contact_days: 365,
            call_days: 365,
            sms_log_days: 365,
            purge_every_minutes: 60,
        }
    }
}

/// The longest period accepted: a century, i.e. "keep".
pub const MAX_DAYS: u32 = 36_500;

impl Retention {
    /// Checks the values; the error names the field as the config file spells it.
    pub fn validate(&self) -> Result<(), String> {
        for (name, days) in [
            ("contact_days", self.contact_days),
            ("call_days", self.call_days),
            ("sms_log_days", self.sms_log_days),
        ] {
            if !(1..=MAX_DAYS).contains(&days) {
                return Err(format!(
                    "privacy.{name} must be between 1 and {MAX_DAYS} days (got {days})"
                ));
            }
        }
        if !(1..=10_080).contains(&self.purge_every_minutes) {
            return Err(format!(
                "privacy.purge_every_minutes must be between 1 and 10080 (a week) (got {})",
                self.purge_every_minutes
            ));
        }
        Ok(())
    }

    /// The pause between two purges of a server.
    pub fn every(&self) -> Duration {
        Duration::from_secs(u64::from(self.purge_every_minutes) * 60)
    }
}

/// What one run purged (or, in a dry run, would purge), per table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub dry_run: bool,
    /// Contacts deleted (never opted out).
    pub contacts_deleted: u64,
    /// Opted-out contacts whose number was removed (the opt-out is kept).
    pub contacts_blanked: u64,
    pub calls_deleted: u64,
    pub sms_mt_deleted: u64,
    pub sms_receipts_deleted: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.contacts_deleted
            + self.contacts_blanked
            + self.calls_deleted
            + self.sms_mt_deleted
            + self.sms_receipts_deleted
    }
}

const CONTACTS_DELETE: &str = "last_seen < $1 AND opted_out = 0";
const CONTACTS_BLANK: &str = "last_seen < $1 AND opted_out <> 0 AND number_cipher <> ''";
const CALLS: &str = "started_at < $1";
const SMS_MT: &str = "created_at < $1 AND (notice_id IS NULL OR notice_id NOT IN \
     (SELECT id FROM recall_notifications WHERE state = 'sending'))";
const ORPHAN_RECEIPTS: &str = "mt_id IS NULL AND COALESCE(submitted_at, received_at) < $1";

/// Purges what is past its period at `now` (Unix ms), in chunks of [`CHUNK`]; appends one audit
/// entry by `actor` unless `dry_run`.
pub async fn purge(
    store: &Store,
    periods: &Retention,
    now: i64,
    actor: &str,
    dry_run: bool,
) -> Result<Purged, StoreError> {
    purge_in_chunks(store, periods, now, actor, dry_run, CHUNK).await
}

/// [`purge`] with a chosen chunk size (tests use small ones to cross chunk boundaries).
pub async fn purge_in_chunks(
    store: &Store,
    periods: &Retention,
    now: i64,
    actor: &str,
    dry_run: bool,
    chunk: i64,
) -> Result<Purged, StoreError> {
    let chunk = chunk.max(1);
    let cutoff = |days: u32| now - i64::from(days) * DAY_MS;
    let (contacts, calls, sms) = (
        cutoff(periods.contact_days),
        cutoff(periods.call_days),
        cutoff(periods.sms_log_days),
    );
    if dry_run {
        return Ok(Purged {
            dry_run: true,
            contacts_deleted: count(store, "contacts", CONTACTS_DELETE, contacts).await?,
            contacts_blanked: count(store, "contacts", CONTACTS_BLANK, contacts).await?,
            calls_deleted: count(store, "calls", CALLS, calls).await?,
            sms_mt_deleted: count(store, "sms_mt", SMS_MT, sms).await?,
            sms_receipts_deleted: count(
                store,
                "sms_receipts",
                &format!("mt_id IN (SELECT id FROM sms_mt WHERE {SMS_MT})"),
                sms,
            )
            .await?
                + count(store, "sms_receipts", ORPHAN_RECEIPTS, sms).await?,
        });
    }
    let mut p = Purged {
        contacts_deleted: in_chunks(
            store,
            &format!(
                "DELETE FROM contacts WHERE source_key IN (SELECT source_key FROM contacts \
                 WHERE {CONTACTS_DELETE} LIMIT $2) AND {CONTACTS_DELETE}"
            ),
            contacts,
            chunk,
        )
        .await?,
        contacts_blanked: in_chunks(
            store,
            &format!(
                "UPDATE contacts SET number_cipher = '', number_masked = '' WHERE source_key IN \
                 (SELECT source_key FROM contacts WHERE {CONTACTS_BLANK} LIMIT $2) \
                 AND {CONTACTS_BLANK}"
            ),
            contacts,
            chunk,
        )
        .await?,
        calls_deleted: in_chunks(
            store,
            &format!(
                "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE {CALLS} LIMIT $2) \
                 AND {CALLS}"
            ),
            calls,
            chunk,
        )
        .await?,
        ..Purged::default()
    };
    let (messages, receipts) = sms_log(store, sms, chunk).await?;
    p.sms_mt_deleted = messages;
    p.sms_receipts_deleted = receipts
        + in_chunks(
            store,
            &format!(
                "DELETE FROM sms_receipts WHERE message_id IN (SELECT message_id FROM \
                 sms_receipts WHERE {ORPHAN_RECEIPTS} LIMIT $2) AND {ORPHAN_RECEIPTS}"
            ),
            sms,
            chunk,
        )
        .await?;
    let mut tx = store.pool().begin().await?;
    crate::audit::append(
        &mut tx,
        actor,
        "privacy.purge",
        "privacy",
        &serde_json::json!({
            "contacts_deleted": p.contacts_deleted,
            "contacts_blanked": p.contacts_blanked,
            "calls_deleted": p.calls_deleted,
            "sms_mt_deleted": p.sms_mt_deleted,
            "sms_receipts_deleted": p.sms_receipts_deleted,
            "contact_days": periods.contact_days,
            "call_days": periods.call_days,
            "sms_log_days": periods.sms_log_days,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(p)
}

async fn count(store: &Store, table: &str, cond: &str, cutoff: i64) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {cond}"))
        .bind(cutoff)
        .fetch_one(store.pool())
        .await?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Runs `sql` (parameters: cutoff, chunk size) one transaction at a time until a chunk comes
/// back short; the rows it changed in all.
async fn in_chunks(store: &Store, sql: &str, cutoff: i64, chunk: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let mut tx = store.pool().begin().await?;
        let n = tx
            .execute(sql, vec![Param::Int(cutoff), Param::Int(chunk)])
            .await?;
        tx.commit().await?;
        total += n;
        if n < u64::try_from(chunk).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

/// Deletes old outbound messages and their receipts, a chunk of messages per transaction.
/// Returns (messages, receipts).
async fn sms_log(store: &Store, cutoff: i64, chunk: i64) -> Result<(u64, u64), StoreError> {
    let (mut messages, mut receipts) = (0u64, 0u64);
    loop {
        let mut tx = store.pool().begin().await?;
        let ids = tx
            .fetch(
                &format!(
                    "DELETE FROM sms_mt WHERE id IN (SELECT id FROM sms_mt WHERE {SMS_MT} \
                     ORDER BY id LIMIT $2) AND {SMS_MT} RETURNING id"
                ),
                vec![Param::Int(cutoff), Param::Int(chunk)],
            )
            .await?
            .iter()
            .map(|r| r.int(0).map(Param::Int))
            .collect::<Result<Vec<Param>, StoreError>>()?;
        if !ids.is_empty() {
            let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            receipts += tx
                .execute(
                    &format!(
                        "DELETE FROM sms_receipts WHERE mt_id IN ({})",
                        list.join(", ")
                    ),
                    ids.clone(),
                )
                .await?;
        }
        tx.commit().await?;
        messages += ids.len() as u64;
        if (ids.len() as i64) < chunk {
            return Ok((messages, receipts));
        }
    }
}

/// What `zhenwei serve` runs: a purge now and then every [`Retention::every`], forever (the
/// server aborts the task when it stops; an aborted chunk rolls back).
pub async fn serve(store: Store, periods: Retention) {
    loop {
        match purge(&store, &periods, now_ms(), "zhenwei", false).await {
            Ok(p) => tracing::info!(
                contacts_deleted = p.contacts_deleted,
                contacts_blanked = p.contacts_blanked,
                calls_deleted = p.calls_deleted,
                sms_mt_deleted = p.sms_mt_deleted,
                sms_receipts_deleted = p.sms_receipts_deleted,
                "retention purge"
            ),
            Err(e) => tracing::warn!(error = %e, "retention purge failed; retried next round"),
        }
        tokio::time::sleep(periods.every()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_year_and_hourly() {
        let r = Retention::default();
        assert_eq!(
            (r.contact_days, r.call_days, r.sms_log_days, r.every()),
            (365, 365, 365, Duration::from_secs(3600))
        );
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn out_of_range_periods_are_named() {
        let zero = Retention {
            call_days: 0,
            ..Retention::default()
        };
        assert_eq!(
            zero.validate(),
            Err("privacy.call_days must be between 1 and 36500 days (got 0)".into())
        );
        let never = Retention {
            purge_every_minutes: 0,
            ..Retention::default()
        };
        assert!(never
            .validate()
            .unwrap_err()
            .starts_with("privacy.purge_every_minutes must be between 1 and 10080"));
    }
}
