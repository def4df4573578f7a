//! The transactional outbox: deliveries are rows written in the same transaction as the case
//! change they report, so a change and its notifications commit (or vanish) together, and a
//! crash never loses one.
//!
//! A row holds **what** to send, not the report: the case, the receiver (kind, id, URL), the
//! event, the idempotency key, and the case version and status the change left. The worker
//! builds the report from the database at each attempt ([`super::report::for_delivery`]), so
//! every report carries the evidence as of sending, and queueing costs no report building — the
//! recorder queues inside its batch transaction, on the verify path. A retry of a row carries
//! the same idempotency key and the evidence as of the retry. When a row is delivered it records
//! the case's `event_count` its report carried (`event_count_sent`), which is how evidence that
//! arrived while the report was in flight is found and sent as an update
//! ([`super::casework::delivered`]). Rows queued before this design (migration 0021) keep their
//! stored `payload` and are sent as stored.
//!
//! A worker **claims** due rows with one `UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE
//! SKIP LOCKED]) RETURNING …`: the row becomes `sending`, gets a random claim token and a lease
//! (its `next_attempt_at` moves to the lease's end). On PostgreSQL `SKIP LOCKED` lets several
//! processes claim at once without waiting for or taking each other's rows; on SQLite the
//! statement runs under the single writer lock, which serialises claims. The worker then
//! finishes the row **with its token** — `delivered`, or back to `pending` at the next backoff
//! time, or `dead` after the last attempt. A finish whose token no longer matches (the lease
//! ran out and another worker took over) changes nothing.
//!
//! So no row is sent by two workers at once (as long as a send is shorter than the lease,
//! which the HTTP timeout guarantees), and none is dropped: a worker that dies mid-send leaves
//! its row `sending` until the lease ends, then it is claimed again. Delivery is therefore
//! at-least-once; every request carries the row's idempotency key, and receivers deduplicate.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::store::{Backend, Store, StoreError};
use crate::write_tx::WriteTx;

/// When and how often to try.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: i64,
    /// The first retry waits about this long; each further one twice as long.
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// How long a claim lasts; must exceed the HTTP timeout.
    pub lease_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            backoff_base_ms: 2_000,
            backoff_max_ms: 3_600_000,
            lease_ms: 120_000,
        }
    }
}

/// What happens to a delivery after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    RetryAt(i64),
    Dead,
}

/// After the `attempts`th failed attempt at `now`: retry after an exponential backoff with
/// "equal jitter" (half fixed, half random, from `random`), or dead-letter after the last.
pub fn after_failure(attempts: i64, policy: &RetryPolicy, now: i64, random: u64) -> Next {
    if attempts >= policy.max_attempts {
        return Next::Dead;
    }
    let exp = attempts.clamp(1, 40) - 1;
    let full = policy
        .backoff_base_ms
        .max(1)
        .saturating_mul(1i64 << exp.min(30))
        .min(policy.backoff_max_ms.max(1));
    let half = full / 2;
    let jitter = (random % (half as u64 + 1)) as i64;
    Next::RetryAt(now + (full - half) + jitter)
}

/// Who a delivery is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Target {
    Regulator(i64),
    Enterprise(i64),
}

impl Target {
    pub fn kind(self) -> &'static str {
        match self {
            Target::Regulator(_) => "regulator",
            Target::Enterprise(_) => "enterprise",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Target::Regulator(id) | Target::Enterprise(id) => id,
        }
    }
}

/// The idempotency key of the delivery of case version `version` to `target`: the same change
/// to the same receiver always has the same key.
pub fn idempotency_key(case_id: i64, version: i64, target: Target) -> String {
    format!("zw-c{case_id}-v{version}-{}-{}", target.kind(), target.id())
}

/// Writes one delivery in `tx` (the transaction of the change it reports): only what to send
/// — the case, the target, the event, the version and status the change left — never the report
/// itself, which the worker builds at each attempt ([`super::report::for_delivery`]). A second
/// enqueue of the same change to the same target is ignored.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue<T: WriteTx>(
    tx: &mut T,
    case_id: i64,
    version: i64,
    status: &str,
    target: Target,
    url: &str,
    event: &str,
    now: i64,
) -> Result<(), StoreError> {
    enqueue_all(
        tx,
        &[NewDelivery {
            case_id,
            version,
            status,
            target,
            url,
            event,
        }],
        now,
    )
    .await
}

/// A delivery to write: see [`enqueue`].
pub struct NewDelivery<'a> {
    pub case_id: i64,
    pub version: i64,
    pub status: &'a str,
    pub target: Target,
    pub url: &'a str,
    pub event: &'a str,
}

/// Deliveries per multi-row insert (9 parameters each).
const DELIVERIES_PER_STATEMENT: usize = 100;

/// Writes several deliveries as [`enqueue`] does, with one statement per hundred: the recorder
/// queues the reports of every case a batch opened at once.
pub async fn enqueue_all<T: WriteTx>(
    tx: &mut T,
    deliveries: &[NewDelivery<'_>],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in deliveries.chunks(DELIVERIES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO deliveries (case_id, target_kind, target_id, url, event, \
             idempotency_key, attempts, next_attempt_at, state, created_at, case_version, \
             case_status) VALUES {} ON CONFLICT (idempotency_key) DO NOTHING",
            delivery_rows(chunk.len())
        );
        let mut params = Vec::with_capacity(chunk.len() * 9);
        for d in chunk {
            params.extend([
                d.case_id.into(),
                d.target.kind().into(),
                d.target.id().into(),
                d.url.into(),
                d.event.into(),
                idempotency_key(d.case_id, d.version, d.target).into(),
                now.into(),
                d.version.into(),
                d.status.into(),
            ]);
        }
        tx.execute(&sql, params).await?;
    }
    Ok(())
}

/// `($1, …, $6, 0, $7, 'pending', $7, $8, $9), …`: the rows of [`enqueue_all`]'s insert.
fn delivery_rows(rows: usize) -> String {
    (0..rows)
        .map(|r| {
            let p = |k: usize| format!("${}", r * 9 + k);
            format!(
                "({}, {}, {}, {}, {}, {}, 0, {}, 'pending', {}, {}, {})",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7),
                p(7),
                p(8),
                p(9)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The event of an update delivery: new evidence on a case already delivered.
pub const UPDATED: &str = "case.updated";

/// The idempotency key of the `n`th update delivery (new evidence) of a case to `target`.
pub fn update_key(case_id: i64, n: i64, target: Target) -> String {
    format!("zw-c{case_id}-u{n}-{}-{}", target.kind(), target.id())
}

/// Whether a delivery of case `case_id` to `target` is waiting to be sent (pending, not yet
/// claimed). Its report will be built when it is sent, so it will carry any evidence that has
/// arrived by then.
pub async fn pending_to<T: WriteTx>(
    tx: &mut T,
    case_id: i64,
    target: Target,
) -> Result<bool, StoreError> {
    Ok(!tx
        .fetch(
            "SELECT 1 FROM deliveries WHERE case_id = $1 AND target_kind = $2 \
             AND target_id = $3 AND state = 'pending' LIMIT 1",
            vec![case_id.into(), target.kind().into(), target.id().into()],
        )
        .await?
        .is_empty())
}

/// Queues an update of case `case_id` to `target`, coalesced: if any delivery of the case to
/// that target is still pending, nothing is written — that delivery's report is built when it is
/// sent and so already carries the new evidence; otherwise a new `case.updated` delivery is
/// written with the next update number in its idempotency key. The caller's transaction holds
/// the case row (the recorder's upsert, or the delivery's own finish), so updates of one case
/// never race on SQLite; on PostgreSQL the unique idempotency key makes a racing second insert a
/// no-op. Returns whether a delivery was written.
pub async fn enqueue_update<T: WriteTx>(
    tx: &mut T,
    case_id: i64,
    target: Target,
    url: &str,
    now: i64,
) -> Result<bool, StoreError> {
    if pending_to(tx, case_id, target).await? {
        return Ok(false);
    }
    let n = tx
        .fetch_one(
            "SELECT COUNT(*) FROM deliveries WHERE case_id = $1 AND target_kind = $2 \
             AND target_id = $3 AND event = $4",
            vec![
                case_id.into(),
                target.kind().into(),
                target.id().into(),
                UPDATED.into(),
            ],
        )
        .await?
        .int(0)?;
    let written = tx
        .execute(
            "INSERT INTO deliveries (case_id, target_kind, target_id, url, event, \
             idempotency_key, attempts, next_attempt_at, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'pending', $7) \
             ON CONFLICT (idempotency_key) DO NOTHING",
            vec![
                case_id.into(),
                target.kind().into(),
                target.id().into(),
                url.into(),
                UPDATED.into(),
                update_key(case_id, n + 1, target).into(),
                now.into(),
            ],
        )
        .await?;
    Ok(written > 0)
}

/// A claimed delivery, ready to send.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub case_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    pub url: String,
    pub event: String,
    /// The report as queued, for rows queued before reports were built at send time (migration
    /// 0021); `None` for every newer row: the worker builds its report when it sends it.
    pub payload: Option<String>,
    pub idempotency_key: String,
    /// Including this one.
    pub attempts: i64,
    pub claim_token: String,
    /// The case version and status the reported change left (`None` for `case.updated`, which
    /// reports the case as it is when sent).
    pub case_version: Option<i64>,
    pub case_status: Option<String>,
}

fn token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The claim statement: `$1` token, `$2` lease end, `$3` now, `$4` limit. Its subquery's
/// `state IN ('pending', 'sending')` is, word for word, the predicate of the partial index
/// `deliveries_owed` (migration 0024), which keeps a claim's cost to the rows it takes however
/// large the backlog; change one and the other must follow (a test checks SQLite's plan).
pub fn claim_sql(backend: Backend) -> String {
    // SQLite's planner prefers deliveries_due and a sort when every row is due (it does not
    // weigh the LIMIT), so it is told; `INDEXED BY` fails the statement rather than fall back.
    let (index, lock) = match backend {
        Backend::Postgres => ("", " FOR UPDATE SKIP LOCKED"),
        Backend::Sqlite => (" INDEXED BY deliveries_owed", ""),
    };
    format!(
        "UPDATE deliveries SET state = 'sending', claim_token = $1, claimed_until = $2, \
         next_attempt_at = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM deliveries{index} WHERE state IN ('pending', 'sending') \
         AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $4{lock}) \
         RETURNING id, case_id, target_kind, target_id, url, event, payload, idempotency_key, \
         attempts, claim_token, case_version, case_status"
    )
}

/// Claims up to `limit` due deliveries (pending and due, or sending with an expired lease).
pub async fn claim(
    store: &Store,
    limit: i64,
    now: i64,
    policy: &RetryPolicy,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as::<_, Claimed>(&claim_sql(store.backend()))
        .bind(token())
        .bind(now + policy.lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(store.pool())
        .await?)
}

/// Marks a claimed delivery delivered, in `tx`, with the case's `event_count` that the sent
/// report carried. `false` if the claim was lost meanwhile.
pub async fn mark_delivered(
    tx: &mut Transaction<'_, Any>,
    d: &Claimed,
    event_count_sent: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET state = 'delivered', delivered_at = $1, claim_token = NULL, \
         last_error = NULL, event_count_sent = $4 WHERE id = $2 AND claim_token = $3 \
         AND state = 'sending'",
    )
    .bind(now)
    .bind(d.id)
    .bind(&d.claim_token)
    .bind(event_count_sent)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt: back to pending until `next`, or dead. `false` if the claim was
/// lost meanwhile.
pub async fn mark_failed(
    store: &Store,
    d: &Claimed,
    error: &str,
    next: Next,
) -> Result<bool, StoreError> {
    let (state, at) = match next {
        Next::RetryAt(t) => ("pending", t),
        Next::Dead => ("dead", i64::MAX / 2),
    };
    let error: String = error.chars().take(500).collect();
    let mut tx = store.pool().begin().await?;
    let done = sqlx::query(
        "UPDATE deliveries SET state = $1, next_attempt_at = $2, last_error = $3, \
         claim_token = NULL WHERE id = $4 AND claim_token = $5 AND state = 'sending'",
    )
    .bind(state)
    .bind(at)
    .bind(&error)
    .bind(d.id)
    .bind(&d.claim_token)
    .execute(&mut *tx)
    .await?;
    let ok = done.rows_affected() == 1;
    if ok && next == Next::Dead {
        crate::audit::append(
            &mut tx,
            "zhenwei",
            "delivery.dead",
            &format!("case:{}", d.case_id),
            &serde_json::json!({
                "delivery": d.id, "target": d.target_kind, "url": d.url,
                "attempts": d.attempts, "error": error,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ok)
}

/// Deliveries per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: i64,
    pub sending: i64,
    pub delivered: i64,
    pub dead: i64,
}

/// Deliveries still owed and dead-lettered: what the worker's gauges show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outstanding {
    pub pending: i64,
    pub sending: i64,
    pub dead: i64,
}

/// Counts only the outstanding states, through the `deliveries_due` index (state first): the
/// cost follows what is owed, not the ever-growing history of delivered rows, so the worker can
/// refresh its gauges from it on a busy outbox. [`counts`] reads every row.
pub async fn outstanding(store: &Store) -> Result<Outstanding, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, COUNT(*) FROM deliveries \
         WHERE state IN ('pending', 'sending', 'dead') GROUP BY state",
    )
    .fetch_all(store.pool())
    .await?;
    let mut o = Outstanding::default();
    for (state, n) in rows {
        match state.as_str() {
            "pending" => o.pending = n,
            "sending" => o.sending = n,
            "dead" => o.dead = n,
            _ => {}
        }
    }
    Ok(o)
}

/// Deliveries in every state (counting the delivered ones reads all of them: for operators and
/// tests, not for a polling loop — that is [`outstanding`]).
pub async fn counts(store: &Store) -> Result<Counts, StoreError> {
    let o = outstanding(store).await?;
    let delivered: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")
            .fetch_one(store.pool())
            .await?;
    Ok(Counts {
        pending: o.pending,
        sending: o.sending,
        delivered,
        dead: o.dead,
    })
}

/// One delivery as `zhenwei delivery list` shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub case_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    pub url: String,
    pub event: String,
    pub idempotency_key: String,
    pub attempts: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// Deliveries, newest first, optionally of one state.
pub async fn list(
    store: &Store,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(sqlx::query_as::<_, DeliveryRow>(
        "SELECT id, case_id, target_kind, target_id, url, event, idempotency_key, attempts, \
         state, last_error, created_at, delivered_at FROM deliveries \
         WHERE ($1 = '' OR state = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(state.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// Puts a dead delivery back in the queue (an operator fixed the receiver).
pub async fn retry_dead(store: &Store, id: i64, now: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1 \
         WHERE id = $2 AND state = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_dead_letters() {
        let p = RetryPolicy {
            max_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_ms: 6_000,
            lease_ms: 60_000,
        };
        // Attempt 1 failed: between 0.5 s and 1 s.
        assert_eq!(after_failure(1, &p, 0, 0), Next::RetryAt(500));
        assert_eq!(after_failure(1, &p, 0, 500), Next::RetryAt(1_000));
        assert_eq!(after_failure(1, &p, 0, 501), Next::RetryAt(500));
        // Attempt 3: 4 s full → 2..4 s.
        assert_eq!(after_failure(3, &p, 10, 0), Next::RetryAt(2_010));
        // Capped at 6 s.
        assert_eq!(
            after_failure(4, &p, 0, u64::MAX),
            Next::RetryAt(3_000 + (u64::MAX % 3_001) as i64)
        );
        assert_eq!(after_failure(5, &p, 0, 0), Next::Dead);
        // Huge attempt counts do not overflow.
        let lax = RetryPolicy {
            max_attempts: i64::MAX,
            ..p
        };
        assert!(
            matches!(after_failure(1_000, &lax, 0, 7), Next::RetryAt(t) if (3_000..=6_000).contains(&t))
        );
    }

    #[test]
    fn keys_name_case_version_and_target() {
        assert_eq!(
            idempotency_key(42, 3, Target::Regulator(7)),
            "zw-c42-v3-regulator-7"
        );
        assert_eq!(
            idempotency_key(42, 3, Target::Enterprise(1)),
            "zw-c42-v3-enterprise-1"
        );
    }
}
