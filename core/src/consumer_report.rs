//! Consumer reports: "this looks fake" from a shopper, a texter or a caller, as a case.
//!
//! A report opens the code's `consumer_report` case, or adds to it, with one query event as its
//! evidence. Which event depends on how the person reached the report:
//!
//! * **Standalone** ([`Verifier::report`]): the report is the person's only contact — an SMS
//!   `举报 <code> <text>`, `zhenwei report`. The report *is* a query: it is recorded like any
//!   verify (counted, in the code's history) and that new event is the evidence.
//! * **Of a verdict just shown** ([`Verifier::report_seen`]): the person verified the code and is
//!   reporting what they were shown — the kiosk's "report this product" under a verdict, 9 on the
//!   phone after the verdict. Their query is already recorded; recording another would count the
//!   code twice (the next shopper would hear "queried before", a few reports would make a genuine
//!   code "excessive queries"). So the report names the event of that verdict, and the core
//!   links *that* event to the case and records nothing new — after checking, on the server side,
//!   that the event exists, is a query of the same code, and came from the same source on the
//!   same channel (`query_events.source_key`, [`crate::verify::source_key`] under the current
//!   key file). An event that fails the check — unknown, another code, another person, or a key
//!   rotated since — is never linked: the report falls back to a standalone one.
//!
//! [`Verifier::report_once`] adds the client's idempotency key (`report_ids`, migration 0006), so
//! a report sent again because its answer was lost files nothing the second time.
//!
//! Every write transaction here starts with its write (the case upsert, or the audit head), as
//! everywhere in the core, so SQLite takes its write lock up front. The event check is a read of
//! an immutable row, done before the transaction.

use sqlx::{Any, Transaction};

use crate::advice;
use crate::resolve::Resolution;
use crate::store::now_ms;
use crate::verdict::CaseReason;
use crate::verify::{case_place, mask_source, source_key, Query, Verdict, Verifier, VerifyError};

/// What a report did.
#[derive(Clone, Debug)]
pub enum ReportFiling {
    /// Filed now with a query of its own (a standalone report, or one whose named event did not
    /// pass the check): that query's verdict, with the case in `case_id` (`None` when the text
    /// names no code, so nothing could be reported).
    Filed(Box<Verdict>),
    /// Filed now as evidence of the case: the query event the person was shown (`event_id`).
    /// Nothing new was recorded, so there is no new verdict. Reporting the same event again adds
    /// no second link (the answer is the same case).
    Attached { case_id: i64, event_id: i64 },
    /// A report with this id was filed before, into this case; nothing was recorded now.
    AlreadyFiled { case_id: i64 },
}

impl ReportFiling {
    /// The case the report is in, if it could be filed.
    pub fn case_id(&self) -> Option<i64> {
        match self {
            ReportFiling::Filed(v) => v.case_id,
            ReportFiling::Attached { case_id, .. } | ReportFiling::AlreadyFiled { case_id } => {
                Some(*case_id)
            }
        }
    }
}

/// How [`open_or_update_case`] left the case.
enum Link {
    /// The event is now evidence of the case.
    Added(i64),
    /// The event was evidence of the case already. The upsert counted it again: the caller
    /// rolls the transaction back.
    Already(i64),
}

impl Verifier {
    /// A standalone consumer report (SMS `JB`, `zhenwei report`): records the query, then opens
    /// or updates the consumer-report case for the code with that query as evidence.
    pub async fn report(&self, q: &Query, note: Option<&str>) -> Result<Verdict, VerifyError> {
        let mut v = self.verify(q).await?;
        let r = self.resolve(&q.input).await?;
        if r.code_key.is_empty() {
            return Ok(v);
        }
        let mut tx = self.store().pool().begin().await?;
        let id = match open_or_update_case(&mut tx, q, &r, v.event_id, v.queried_at).await? {
            Link::Added(id) => id,
            Link::Already(_) => {
                return Err(VerifyError::Inconsistent(format!(
                    "the new query event {} is already evidence of a case",
                    v.event_id
                )))
            }
        };
        report_note(&mut tx, q, id, note).await?;
        tx.commit().await?;
        v.case_ids.push(id);
        v.case_id = Some(id);
        v.message = advice::message(&v, q.lang);
        Ok(v)
    }

    /// A report of the verdict the person was just shown (kiosk "report this product", IVR 9):
    /// with `seen`, the event id of that verdict, and if the event passes the check (see the
    /// [module](crate::consumer_report)), the case gets that event as evidence and nothing is
    /// recorded ([`ReportFiling::Attached`]). Without `seen`, or when the check fails, it is
    /// [`Verifier::report`] ([`ReportFiling::Filed`]).
    pub async fn report_seen(
        &self,
        q: &Query,
        note: Option<&str>,
        seen: Option<i64>,
    ) -> Result<ReportFiling, VerifyError> {
        if let Some(event_id) = seen {
            let r = self.resolve(&q.input).await?;
            if !r.code_key.is_empty() && self.is_own_query(q, &r, event_id).await? {
                let case_id = self.attach(q, &r, event_id, note).await?;
                return Ok(ReportFiling::Attached { case_id, event_id });
            }
            tracing::info!(
                event_id,
                channel = q.channel.as_str(),
                "a report named an event that is not this source's query of this code; \
                 recorded as a query of its own"
            );
        }
        Ok(ReportFiling::Filed(Box::new(self.report(q, note).await?)))
    }

    /// [`Verifier::report_seen`] at most once per `report_id` (an idempotency key chosen by the
    /// client, e.g. the kiosk agent's queue): a report sent again — because its answer was lost
    /// — answers with the case filed the first time and records nothing. Reports whose text
    /// names no code (no case can be opened) are not remembered.
    ///
    /// Two requests with the same id at the same moment may both be filed (into the same case,
    /// which the `(code, reason)` key keeps single); clients send one report at a time.
    pub async fn report_once(
        &self,
        q: &Query,
        note: Option<&str>,
        report_id: &str,
        seen: Option<i64>,
    ) -> Result<ReportFiling, VerifyError> {
        let known: Option<i64> =
            sqlx::query_scalar("SELECT case_id FROM report_ids WHERE report_id = $1")
                .bind(report_id)
                .fetch_optional(self.store().pool())
                .await?;
        if let Some(case_id) = known {
            return Ok(ReportFiling::AlreadyFiled { case_id });
        }
        let filed = self.report_seen(q, note, seen).await?;
        if let Some(case_id) = filed.case_id() {
            sqlx::query(
                "INSERT INTO report_ids (report_id, case_id, filed_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (report_id) DO NOTHING",
            )
            .bind(report_id)
            .bind(case_id)
            .bind(now_ms())
            .execute(self.store().pool())
            .await?;
        }
        Ok(filed)
    }

    /// Is `event_id` a query of `r`'s code by `q`'s source on `q`'s channel? One read by
    /// primary key of a row that never changes.
    async fn is_own_query(
        &self,
        q: &Query,
        r: &Resolution,
        event_id: i64,
    ) -> Result<bool, VerifyError> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT code_key, channel, source_key FROM query_events WHERE id = $1")
                .bind(event_id)
                .fetch_optional(self.store().pool())
                .await?;
        let source = source_key(&self.keys().current().keyring, q.channel, &q.source);
        Ok(row.is_some_and(|(code_key, channel, source_key)| {
            code_key == r.code_key && channel == q.channel.as_str() && source_key == source
        }))
    }

    /// Links a checked event to the code's consumer-report case (opening it if needed), with
    /// the note; returns the case.
    async fn attach(
        &self,
        q: &Query,
        r: &Resolution,
        event_id: i64,
        note: Option<&str>,
    ) -> Result<i64, VerifyError> {
        let mut tx = self.store().pool().begin().await?;
        let id = match open_or_update_case(&mut tx, q, r, event_id, now_ms()).await? {
            Link::Added(id) => id,
            Link::Already(id) => {
                // Reported before: undo the count, keep the note (if any) on its own.
                tx.rollback().await?;
                tx = self.store().pool().begin().await?;
                id
            }
        };
        report_note(&mut tx, q, id, note).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// Opens the code's consumer-report case at the report's place, or adds to it, with `event_id`
/// as evidence. Its first statement is the case upsert (a write).
async fn open_or_update_case(
    tx: &mut Transaction<'_, Any>,
    q: &Query,
    r: &Resolution,
    event_id: i64,
    at: i64,
) -> Result<Link, VerifyError> {
    let reason = CaseReason::ConsumerReport;
    let place = case_place(reason, q.place.as_ref().map(|p| p.as_str()), r);
    let (id, events): (i64, i64) = sqlx::query_as(
        "INSERT INTO cases (code_key, reason, status, product_id, batch_id, enterprise_id, place, \
         opened_at, updated_at, event_count) VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $7, 1) \
         ON CONFLICT (code_key, reason) DO UPDATE SET updated_at = excluded.updated_at, \
         event_count = cases.event_count + 1 RETURNING id, event_count",
    )
    .bind(&r.code_key)
    .bind(reason.as_str())
    .bind(r.product.as_ref().map(|p| p.id))
    .bind(r.batch.as_ref().map(|b| b.id))
    .bind(r.enterprise.as_ref().map(|e| e.id))
    .bind(&place)
    .bind(at)
    .fetch_one(&mut **tx)
    .await?;
    let linked = sqlx::query(
        "INSERT INTO case_events (case_id, event_id) VALUES ($1, $2) \
         ON CONFLICT (case_id, event_id) DO NOTHING",
    )
    .bind(id)
    .bind(event_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if linked == 0 {
        return Ok(Link::Already(id));
    }
    if events == 1 {
        crate::audit::append(
            tx,
            "zhenwei",
            "case.open",
            &format!("case:{id}"),
            &serde_json::json!({ "reason": reason.as_str(), "place": place, "event": event_id }),
        )
        .await?;
        crate::cases::casework::on_opened(tx, &[id], at).await?;
    } else {
        crate::cases::casework::on_evidence(tx, id, at).await?;
    }
    Ok(Link::Added(id))
}

/// The reporter's words, kept in the audit log with the case (first 500 characters).
async fn report_note(
    tx: &mut Transaction<'_, Any>,
    q: &Query,
    case_id: i64,
    note: Option<&str>,
) -> Result<(), VerifyError> {
    let Some(note) = note.filter(|n| !n.trim().is_empty()) else {
        return Ok(());
    };
    crate::audit::append(
        tx,
        &format!(
            "{}:{}",
            q.channel.as_str(),
            mask_source(q.channel, &q.source)
        ),
        "case.report_note",
        &format!("case:{case_id}"),
        &serde_json::json!({ "note": note.chars().take(500).collect::<String>() }),
    )
    .await?;
    Ok(())
}
