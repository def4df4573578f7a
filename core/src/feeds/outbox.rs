//! The proactive recall notice (SPEC "Regulatory status feeds"; issue 8): every consumer whose
//! earlier SMS query touched a recalled batch, and who did not opt out, is sent one SMS.
//!
//! **Exactly once per consumer and recall.** When a recall entry is imported (or re-imported)
//! active, [`enqueue`] inserts, in the import's own transaction, one `recall_notifications` row
//! per SMS source whose queries touched a covered batch — unless that source's reply already
//! carried the recall. The table's `UNIQUE (source_key, reference)` makes the same consumer
//! querying twice, the same recall imported again, or a later import extending it, add nothing
//! for a consumer already queued. Withdrawing the recall cancels what is still pending.
//!
//! **Sending.** The SMS gateway implements [`RecallSender`] and spawns [`serve`] (or calls
//! [`deliver`] itself): each pending
//! row is *claimed* (`pending → sending`, one row update that only one process can win), handed
//! to the sender, and settled by its [`Delivery`] (`sent`, `opted_out`, `no_contact`, back to
//! `pending` for a retry, or `failed` after [`MAX_ATTEMPTS`]). A crash between the claim and the
//! settlement leaves the row `sending`.
//!
//! **Recovering a claim (at-most-once in effect).** The sender records the message in `sms_mt`
//! (tagged with the notice id) before handing it to the SMSC, and the SMSC's message id is
//! attached when `submit_sm_resp` arrives. [`reclaim`] looks at notices left `sending` longer
//! than a lease: one whose message the SMSC accepted is settled `sent` — never sent again — and
//! only one with no accepted message goes back to `pending`. The one window left for a
//! duplicate is an SMSC that accepted a part whose `submit_sm_resp` never reached us (the
//! connection or the process died in between): then the notice is resent, so the choice there
//! is at-least-once. `zhenwei feed notices --stuck` lists claims older than the lease and
//! `zhenwei feed notices retry ID` returns one by hand (refused when the SMSC took it).
//!
//! Consumers are known only by the keyed hash of their source (`source_key` in
//! `query_events`: `lookup_hash("source", "sms:" + number)`); the gateway maps it back to a
//! number through its own encrypted contact table, which also holds the opt-out flag.

use std::future::Future;

use serde::Serialize;
use sqlx::{Any, Transaction};

use super::validate::Entry;
use super::FeedError;
use crate::advice::Lang;
use crate::store::{now_ms, Store};

/// Sending attempts before a notice is given up as `failed`.
pub const MAX_ATTEMPTS: i64 = 5;

/// One notice to send.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RecallNotice {
    /// The outbox row: the idempotency key.
    pub id: i64,
    /// Who: the keyed hash of the SMS source (`lookup_hash("source", "sms:" + number)`).
    pub source_key: String,
    /// The recall's id in its feed.
    pub reference: String,
    pub title: Option<String>,
    pub product: Option<String>,
    pub product_en: Option<String>,
    /// The batch the consumer's query touched.
    pub lot: Option<String>,
    pub advice_zh: Option<String>,
    pub advice_en: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

impl RecallNotice {
    /// The message, in `lang`: what was recalled and the recall's own advice. The gateway may
    /// shorten it to its length budget.
    pub fn text(&self, lang: Lang) -> String {
        let lot = self.lot.as_deref().unwrap_or_default();
        if lang.is_en() {
            let product = self
                .product_en
                .as_deref()
                .or(self.product.as_deref())
                .unwrap_or("a product you checked");
            let advice = self.advice_en.as_deref().unwrap_or("Stop using it now.");
            if lot.is_empty() {
                format!("Recall: {product}. {advice}")
            } else {
                format!("Recall: {product}, lot {lot}. {advice}")
            }
        } else {
            let product = self.product.as_deref().unwrap_or("您查询过的商品");
            let advice = self.advice_zh.as_deref().unwrap_or("请立即停止使用。");
            if lot.is_empty() {
                format!("【召回】{product}已被召回。{advice}")
            } else {
                format!("【召回】{product}（批号{lot}）已被召回。{advice}")
            }
        }
    }
}

/// What became of one send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the SMSC.
    Sent,
    /// The consumer opted out (TD/STOP): never sent.
    OptedOut,
    /// No number is known for this source (e.g. retention deleted it).
    NoContact,
    /// Not now (the SMSC is unreachable); try again later.
    Retry(String),
    /// Will never work.
    Failed(String),
    /// Handed over, but whether the SMSC took it is not known yet (no answer in time): the row
    /// stays `sending` and [`reclaim`] settles it from the outbound log after the lease.
    Unsettled(String),
}

/// Implemented by the SMS gateway: send one recall notice to the consumer behind
/// `notice.source_key`, if they did not opt out.
pub trait RecallSender: Send + Sync {
    fn send(&self, notice: &RecallNotice) -> impl Future<Output = Delivery> + Send;
}

impl<T: RecallSender> RecallSender for &T {
    fn send(&self, notice: &RecallNotice) -> impl Future<Output = Delivery> + Send {
        (**self).send(notice)
    }
}

/// What one [`deliver`] run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: u64,
    pub opted_out: u64,
    pub no_contact: u64,
    pub retry: u64,
    pub failed: u64,
    pub unsettled: u64,
}

/// Queues the consumers to tell about one recall entry (inside the import's transaction).
/// Returns how many were newly queued.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    e: &Entry,
    import_id: i64,
    at: i64,
) -> Result<u64, FeedError> {
    if e.is_withdrawn() {
        return Ok(0);
    }
    let notice: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM status_notices WHERE kind = 'recall' AND reference = $1 AND active = 1",
    )
    .bind(&e.id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(notice_id) = notice else {
        return Ok(0);
    };
    let mut params: Vec<String> = Vec::new();
    let mut product = Vec::new();
    if let Some(g) = &e.gtin {
        params.push(g.clone());
        product.push(format!("p.gtin = ${}", params.len() + 4));
    }
    if let Some(r) = &e.registration_no {
        params.push(r.clone());
        product.push(format!("p.licence_no = ${}", params.len() + 4));
    }
    if product.is_empty() {
        return Ok(0);
    }
    let mut sql = format!(
        "INSERT INTO recall_notifications (source_key, reference, notice_id, import_id, event_id, \
         batch_id, state, attempts, created_at, updated_at) \
         SELECT e.source_key, $1, $2, $3, MIN(e.id), MIN(e.batch_id), 'pending', 0, $4, $4 \
         FROM query_events e JOIN products p ON p.id = e.product_id \
         LEFT JOIN batches b ON b.id = e.batch_id \
         WHERE e.channel = 'sms' AND e.warnings NOT LIKE '%recalled%' AND ({})",
        product.join(" OR ")
    );
    if let Some(lots) = &e.lots {
        let mut list = Vec::new();
        for l in lots.split(';') {
            params.push(l.to_owned());
            list.push(format!("${}", params.len() + 4));
        }
        sql.push_str(&format!(" AND b.lot IN ({})", list.join(", ")));
    }
    sql.push_str(" GROUP BY e.source_key ON CONFLICT (source_key, reference) DO NOTHING");
    let mut q = sqlx::query(&sql)
        .bind(&e.id)
        .bind(notice_id)
        .bind(import_id)
        .bind(at);
    for p in &params {
        q = q.bind(p);
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

/// Cancels what is still pending for a withdrawn recall.
pub(crate) async fn cancel(
    tx: &mut Transaction<'_, Any>,
    reference: &str,
    at: i64,
) -> Result<u64, FeedError> {
    Ok(sqlx::query(
        "UPDATE recall_notifications SET state = 'cancelled', updated_at = $1 \
         WHERE reference = $2 AND state = 'pending'",
    )
    .bind(at)
    .bind(reference)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

const NOTICE_COLUMNS: &str = "n.id, n.source_key, n.reference, s.title, p.name AS product, \
     p.name_en AS product_en, b.lot, s.advice_zh, s.advice_en, n.attempts \
     FROM recall_notifications n JOIN status_notices s ON s.id = n.notice_id \
     LEFT JOIN query_events ev ON ev.id = n.event_id \
     LEFT JOIN products p ON p.id = ev.product_id \
     LEFT JOIN batches b ON b.id = n.batch_id";

/// The pending notices, oldest first.
pub async fn pending(store: &Store, limit: i64) -> Result<Vec<RecallNotice>, FeedError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {NOTICE_COLUMNS} WHERE n.state = 'pending' ORDER BY n.id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// Sends up to `limit` pending notices through `sender`, each claimed first so that two
/// processes never send the same one.
pub async fn deliver<S: RecallSender>(
    store: &Store,
    sender: &S,
    limit: i64,
) -> Result<DeliveryReport, FeedError> {
    let mut report = DeliveryReport::default();
    for mut n in pending(store, limit).await? {
        let claimed = sqlx::query(
            "UPDATE recall_notifications SET state = 'sending', attempts = attempts + 1, \
             updated_at = $1 WHERE id = $2 AND state = 'pending'",
        )
        .bind(now_ms())
        .bind(n.id)
        .execute(store.pool())
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        n.attempts += 1;
        let outcome = sender.send(&n).await;
        let (state, error) = match &outcome {
            Delivery::Sent => {
                report.sent += 1;
                ("sent", None)
            }
            Delivery::OptedOut => {
                report.opted_out += 1;
                ("opted_out", None)
            }
            Delivery::NoContact => {
                report.no_contact += 1;
                ("no_contact", None)
            }
            Delivery::Retry(why) if n.attempts < MAX_ATTEMPTS => {
                report.retry += 1;
                ("pending", Some(why.clone()))
            }
            Delivery::Retry(why) | Delivery::Failed(why) => {
                report.failed += 1;
                ("failed", Some(why.clone()))
            }
            Delivery::Unsettled(why) => {
                report.unsettled += 1;
                ("sending", Some(why.clone()))
            }
        };
        sqlx::query(
            "UPDATE recall_notifications SET state = $1, last_error = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(state)
        .bind(error)
        .bind(now_ms())
        .bind(n.id)
        .execute(store.pool())
        .await?;
    }
    Ok(report)
}

/// Drains the outbox every `every` until `shutdown` resolves: what a server runs next to its SMS
/// gateway (`tokio::spawn(outbox::serve(store, gateway, Duration::from_secs(30), shutdown))`).
/// Notices queued by an import in any process are picked up on the next round.
pub async fn serve<S: RecallSender>(
    store: Store,
    sender: S,
    every: std::time::Duration,
    lease: std::time::Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        match reclaim(&store, lease_ms, now_ms()).await {
            Ok(r) if r != Reclaimed::default() => tracing::warn!(
                settled_sent = r.settled_sent,
                requeued = r.requeued,
                "recall notices reclaimed after their lease"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recall notice reclaim"),
        }
        match deliver(&store, &sender, 100).await {
            Ok(r) if r != DeliveryReport::default() => {
                tracing::info!(
                    sent = r.sent,
                    opted_out = r.opted_out,
                    no_contact = r.no_contact,
                    retry = r.retry,
                    failed = r.failed,
                    unsettled = r.unsettled,
                    "recall notices"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recall notice outbox"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = &mut shutdown => return,
        }
    }
}

/// What one [`reclaim`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reclaimed {
    /// Claims whose message the SMSC had accepted: settled `sent`.
    pub settled_sent: u64,
    /// Claims with no accepted message: back to `pending`.
    pub requeued: u64,
}

/// Recovers notices claimed (`sending`) before `now - lease_ms` and never settled — the process
/// that claimed them crashed or lost its SMSC: see the module doc.
pub async fn reclaim(store: &Store, lease_ms: i64, now: i64) -> Result<Reclaimed, FeedError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM recall_notifications WHERE state = 'sending' AND updated_at < $1 \
         ORDER BY id",
    )
    .bind(now - lease_ms)
    .fetch_all(store.pool())
    .await?;
    let mut done = Reclaimed::default();
    for id in ids {
        let sent = crate::sms_mt::accepted_for_notice(store, id).await?;
        let (state, error) = if sent {
            ("sent", None)
        } else {
            (
                "pending",
                Some("reclaimed after the lease: never accepted by the SMSC"),
            )
        };
        let n = sqlx::query(
            "UPDATE recall_notifications SET state = $1, last_error = COALESCE($2, last_error), \
             updated_at = $3 WHERE id = $4 AND state = 'sending'",
        )
        .bind(state)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(store.pool())
        .await?
        .rows_affected();
        match (n, sent) {
            (0, _) => {}
            (_, true) => done.settled_sent += 1,
            (_, false) => done.requeued += 1,
        }
    }
    Ok(done)
}

/// Notices claimed longer than `lease_ms` ago and not settled.
pub async fn stuck(store: &Store, lease_ms: i64, now: i64) -> Result<Vec<OutboxRow>, FeedError> {
    Ok(list(store, i64::MAX)
        .await?
        .into_iter()
        .filter(|r| r.state == "sending" && r.updated_at < now - lease_ms)
        .collect())
}

/// Why a notice cannot be retried by hand.
#[derive(Debug, PartialEq, Eq)]
pub enum RetryRefused {
    NotFound,
    /// Only `sending` (stuck) and `failed` notices can be retried.
    State(String),
    /// The SMSC accepted its message: retrying would send it twice.
    AlreadyAccepted,
}

/// Puts a stuck (`sending`) or `failed` notice back to `pending`, unless the SMSC accepted it.
pub async fn retry(store: &Store, id: i64) -> Result<Result<(), RetryRefused>, FeedError> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM recall_notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?;
    let Some(state) = state else {
        return Ok(Err(RetryRefused::NotFound));
    };
    if state != "sending" && state != "failed" {
        return Ok(Err(RetryRefused::State(state)));
    }
    if crate::sms_mt::accepted_for_notice(store, id).await? {
        return Ok(Err(RetryRefused::AlreadyAccepted));
    }
    sqlx::query(
        "UPDATE recall_notifications SET state = 'pending', attempts = 0, updated_at = $1 \
         WHERE id = $2 AND state = $3",
    )
    .bind(now_ms())
    .bind(id)
    .bind(&state)
    .execute(store.pool())
    .await?;
    Ok(Ok(()))
}

/// One outbox row as `zhenwei feed outbox` shows it (the source only as a hash prefix).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub source: String,
    pub reference: String,
    pub lot: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why the last attempt did not settle it.
    pub last_error: Option<String>,
}

/// The outbox, oldest first.
pub async fn list(store: &Store, limit: i64) -> Result<Vec<OutboxRow>, FeedError> {
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT n.id, n.source_key AS source, n.reference, b.lot, n.state, n.attempts, \
         n.created_at, n.updated_at, n.last_error FROM recall_notifications n LEFT JOIN batches b ON b.id = n.batch_id \
         ORDER BY n.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.source = format!("{}…", r.source.get(..12).unwrap_or(&r.source));
            r
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_text_carries_the_recall_advice() {
        let n = RecallNotice {
            id: 1,
            source_key: "k".into(),
            reference: "R".into(),
            title: None,
            product: Some("风味发酵乳".into()),
            product_en: Some("Flavoured yogurt".into()),
            lot: Some("YG2026R".into()),
            advice_zh: Some("请停止食用。".into()),
            advice_en: None,
            attempts: 1,
        };
        assert_eq!(
            n.text(Lang::Zh),
            "【召回】风味发酵乳（批号YG2026R）已被召回。请停止食用。"
        );
        assert_eq!(
            n.text(Lang::En),
            "Recall: Flavoured yogurt, lot YG2026R. Stop using it now."
        );
        let whole = RecallNotice { lot: None, ..n };
        assert_eq!(
            whole.text(Lang::Zh),
            "【召回】风味发酵乳已被召回。请停止食用。"
        );
    }
}
