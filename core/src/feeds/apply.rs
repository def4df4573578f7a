//! Applying a validated feed: one transaction per import.
//!
//! The transaction starts by bumping the catalog version ([`crate::catalog::touch`]), which
//! also takes the write lock on SQLite; every process's catalog cache sees the change at its
//! next query, so verdicts reflect an import immediately. It then records the import (who, when,
//! the file's SHA-256, counts), writes each entry — new, superseding the entry with the same id,
//! withdrawing it, or unchanged — with an audit entry per change and one for the import, and
//! queues the proactive recall notices ([`super::outbox::enqueue`]). A change and its record
//! commit together or not at all.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use super::decode::{self, Encoding, Format};
use super::validate::{self, Entry, RowError};
use super::{outbox, FeedError, FeedKind};
use crate::audit;
use crate::catalog;
use crate::store::{now_ms, Store};

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Who, for the import record and the audit log (`cli:USER`, `regulator:NAME`).
    pub actor: String,
    /// The file's name, as given (for the record only).
    pub file_name: Option<String>,
    /// CSV or JSON; `None`: by the first character.
    pub format: Option<Format>,
    /// Apply the valid rows of a file that has bad ones (which are reported, not applied).
    pub skip_bad_rows: bool,
}

/// What an import did, or would have done.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub kind: FeedKind,
    /// Whether anything was written; `false` when bad rows stopped the import.
    pub applied: bool,
    /// The import's number (`zhenwei feed imports`), when applied.
    pub import_id: Option<i64>,
    pub format: Format,
    pub encoding: Encoding,
    pub file_sha256: String,
    /// Rows read (valid and bad).
    pub rows: u64,
    pub added: u64,
    pub updated: u64,
    pub withdrawn: u64,
    pub unchanged: u64,
    /// Consumers newly queued for a proactive recall SMS.
    pub notifications: u64,
    /// The bad rows, in file order.
    pub rejected: Vec<RowError>,
}

impl ImportReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        let head = match (self.applied, self.import_id) {
            (true, Some(id)) => format!("{} import #{id}", self.kind),
            _ => format!("{} import NOT applied", self.kind),
        };
        format!(
            "{head}: {} rows ({}, {}): {} added, {} updated, {} withdrawn, {} unchanged, {} rejected; {} consumers queued for a recall SMS",
            self.rows,
            self.format.as_str(),
            self.encoding.as_str(),
            self.added,
            self.updated,
            self.withdrawn,
            self.unchanged,
            self.rejected.len(),
            self.notifications
        )
    }
}

/// A stored entry as `zhenwei feed list` shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct FeedEntry {
    pub notice_id: i64,
    pub kind: String,
    pub reference: String,
    pub status: String,
    pub active: i64,
    pub gtin: Option<String>,
    pub lot: Option<String>,
    pub credit_code: Option<String>,
    pub cert_no: Option<String>,
    pub licence_no: Option<String>,
    pub valid_until: Option<String>,
    pub published_on: Option<String>,
    pub title: Option<String>,
    pub advice_zh: Option<String>,
    pub advice_en: Option<String>,
    pub import_id: Option<i64>,
    pub updated_at: Option<i64>,
}

/// A recorded import as `zhenwei feed imports` shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct FeedImport {
    pub id: i64,
    pub kind: String,
    pub actor: String,
    pub at: i64,
    pub file_name: Option<String>,
    pub file_sha256: String,
    pub format: String,
    pub encoding: String,
    pub rows_total: i64,
    pub rows_rejected: i64,
    pub added: i64,
    pub updated: i64,
    pub withdrawn: i64,
    pub unchanged: i64,
    pub notifications: i64,
}

/// The stored fields an entry is compared on.
#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Stored {
    id: i64,
    status: String,
    gtin: Option<String>,
    lot: Option<String>,
    credit_code: Option<String>,
    cert_no: Option<String>,
    licence_no: Option<String>,
    valid_until: Option<String>,
    published_on: Option<String>,
    title: Option<String>,
    advice_zh: Option<String>,
    advice_en: Option<String>,
}

/// The notice columns of an entry: recalls and spot checks name a product by registration
/// number in `licence_no` (the column products keep their licence/registration number in).
fn licence_column(kind: FeedKind, e: &Entry) -> Option<String> {
    match kind {
        FeedKind::Licence => e.licence_no.clone(),
        FeedKind::Recall | FeedKind::SpotCheck => e.registration_no.clone(),
        FeedKind::Ccc | FeedKind::Blacklist => None,
    }
}

fn same(kind: FeedKind, s: &Stored, e: &Entry) -> bool {
    s.status == e.status
        && s.gtin == e.gtin
        && s.lot == e.lots
        && s.credit_code == e.credit_code
        && s.cert_no == e.cert_no
        && s.licence_no == licence_column(kind, e)
        && s.valid_until == e.valid_until
        && s.published_on == e.published_on
        && s.title == e.title
        && s.advice_zh == e.advice_zh
        && s.advice_en == e.advice_en
}

/// Reads, validates and (unless bad rows stop it) applies a feed file.
pub async fn import(
    store: &Store,
    kind: FeedKind,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<ImportReport, FeedError> {
    let file_sha256 = hex::encode(Sha256::digest(bytes));
    let (text, encoding) = decode::to_text(bytes)?;
    let format = opts.format.unwrap_or_else(|| decode::sniff(&text));
    let rows = match format {
        Format::Csv => {
            let (header, rows) = decode::csv_rows(&text)?;
            // An unknown column is the file's fault, not a row's: say so once, on line 1.
            validate::check_columns(kind, header.iter().map(String::as_str))
                .map_err(|why| FeedError::Invalid(format!("line 1: {why}")))?;
            rows
        }
        Format::Json => {
            let (named, rows) = decode::json_rows(&text)?;
            if let Some(named) = named {
                if FeedKind::parse(&named) != Some(kind) {
                    return Err(FeedError::Invalid(format!(
                        "the file says it is a {named:?} feed, not {kind}"
                    )));
                }
            }
            rows
        }
    };
    if rows.is_empty() {
        return Err(FeedError::Invalid("the file has no entries".into()));
    }
    let mut seen = HashMap::new();
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for r in &rows {
        match r {
            Ok(raw) => match validate::entry(kind, raw, &mut seen) {
                Ok(e) => entries.push(e),
                Err(e) => rejected.push(e),
            },
            Err(e) => rejected.push(e.clone()),
        }
    }
    let mut report = ImportReport {
        kind,
        applied: false,
        import_id: None,
        format,
        encoding,
        file_sha256,
        rows: rows.len() as u64,
        added: 0,
        updated: 0,
        withdrawn: 0,
        unchanged: 0,
        notifications: 0,
        rejected,
    };
    if !report.rejected.is_empty() && !opts.skip_bad_rows {
        return Ok(report);
    }
    apply(store, kind, &entries, opts, &mut report).await?;
    Ok(report)
}

async fn apply(
    store: &Store,
    kind: FeedKind,
    entries: &[Entry],
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(), FeedError> {
    let at = now_ms();
    let mut tx = store.pool().begin().await?;
    catalog::touch(&mut tx).await?;
    let import_id: i64 = sqlx::query_scalar(
        "INSERT INTO feed_imports (kind, actor, at, file_name, file_sha256, format, encoding, \
         rows_total, rows_rejected, added, updated, withdrawn, unchanged, notifications) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, 0, 0, 0) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(&opts.actor)
    .bind(at)
    .bind(&opts.file_name)
    .bind(&report.file_sha256)
    .bind(report.format.as_str())
    .bind(report.encoding.as_str())
    .bind(report.rows as i64)
    .bind(report.rejected.len() as i64)
    .fetch_one(&mut *tx)
    .await?;
    for e in entries {
        let change = write_entry(&mut tx, &opts.actor, kind, e, import_id, at).await?;
        match change {
            Change::Added => report.added += 1,
            Change::Updated => report.updated += 1,
            Change::Withdrawn => report.withdrawn += 1,
            Change::Unchanged => report.unchanged += 1,
        }
    }
    if kind == FeedKind::Recall {
        for e in entries {
            report.notifications += outbox::enqueue(&mut tx, e, import_id, at).await?;
        }
    }
    sqlx::query(
        "UPDATE feed_imports SET added = $1, updated = $2, withdrawn = $3, unchanged = $4, \
         notifications = $5 WHERE id = $6",
    )
    .bind(report.added as i64)
    .bind(report.updated as i64)
    .bind(report.withdrawn as i64)
    .bind(report.unchanged as i64)
    .bind(report.notifications as i64)
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &opts.actor,
        "feed.import",
        &format!("feed_import:{import_id}"),
        &serde_json::json!({
            "kind": kind.as_str(),
            "file": opts.file_name,
            "sha256": report.file_sha256,
            "format": report.format.as_str(),
            "encoding": report.encoding.as_str(),
            "rows": report.rows,
            "added": report.added,
            "updated": report.updated,
            "withdrawn": report.withdrawn,
            "unchanged": report.unchanged,
            "notifications": report.notifications,
            "rejected_lines": report.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    report.applied = true;
    report.import_id = Some(import_id);
    Ok(())
}

enum Change {
    Added,
    Updated,
    Withdrawn,
    Unchanged,
}

async fn write_entry(
    tx: &mut Transaction<'_, Any>,
    actor: &str,
    kind: FeedKind,
    e: &Entry,
    import_id: i64,
    at: i64,
) -> Result<Change, FeedError> {
    let stored: Option<Stored> = sqlx::query_as(
        "SELECT id, status, gtin, lot, credit_code, cert_no, licence_no, valid_until, \
         published_on, title, advice_zh, advice_en FROM status_notices \
         WHERE kind = $1 AND reference = $2",
    )
    .bind(kind.notice_kind())
    .bind(&e.id)
    .fetch_optional(&mut **tx)
    .await?;
    let active: i64 = if e.is_withdrawn() { 0 } else { 1 };
    let (change, notice_id) = match &stored {
        Some(s) if same(kind, s, e) => return Ok(Change::Unchanged),
        // A withdrawal names only the entry: what it matched stays on record.
        Some(s) if e.is_withdrawn() && s.status == super::WITHDRAWN => {
            return Ok(Change::Unchanged)
        }
        Some(s) if e.is_withdrawn() => {
            sqlx::query(
                "UPDATE status_notices SET status = $1, active = 0, import_id = $2, \
                 updated_at = $3 WHERE id = $4",
            )
            .bind(&e.status)
            .bind(import_id)
            .bind(at)
            .bind(s.id)
            .execute(&mut **tx)
            .await?;
            (Change::Withdrawn, s.id)
        }
        Some(s) => {
            sqlx::query(
                "UPDATE status_notices SET status = $1, gtin = $2, lot = $3, credit_code = $4, \
                 cert_no = $5, licence_no = $6, valid_until = $7, published_on = $8, title = $9, \
                 advice_zh = $10, advice_en = $11, active = $12, import_id = $13, updated_at = $14 \
                 WHERE id = $15",
            )
            .bind(&e.status)
            .bind(&e.gtin)
            .bind(&e.lots)
            .bind(&e.credit_code)
            .bind(&e.cert_no)
            .bind(licence_column(kind, e))
            .bind(&e.valid_until)
            .bind(&e.published_on)
            .bind(&e.title)
            .bind(&e.advice_zh)
            .bind(&e.advice_en)
            .bind(active)
            .bind(import_id)
            .bind(at)
            .bind(s.id)
            .execute(&mut **tx)
            .await?;
            (Change::Updated, s.id)
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO status_notices (kind, reference, gtin, lot, credit_code, cert_no, \
                 licence_no, status, valid_until, published_on, title, advice_zh, advice_en, \
                 active, import_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                 RETURNING id",
            )
            .bind(kind.notice_kind())
            .bind(&e.id)
            .bind(&e.gtin)
            .bind(&e.lots)
            .bind(&e.credit_code)
            .bind(&e.cert_no)
            .bind(licence_column(kind, e))
            .bind(&e.status)
            .bind(&e.valid_until)
            .bind(&e.published_on)
            .bind(&e.title)
            .bind(&e.advice_zh)
            .bind(&e.advice_en)
            .bind(active)
            .bind(import_id)
            .bind(at)
            .fetch_one(&mut **tx)
            .await?;
            let change = if e.is_withdrawn() {
                Change::Withdrawn
            } else {
                Change::Added
            };
            (change, id)
        }
    };
    if kind == FeedKind::Recall && e.is_withdrawn() {
        outbox::cancel(tx, &e.id, at).await?;
    }
    let action = match change {
        Change::Added => "feed.entry.add",
        Change::Withdrawn => "feed.entry.withdraw",
        _ => "feed.entry.update",
    };
    let mut detail = serde_json::to_value(e).unwrap_or_default();
    detail["import"] = import_id.into();
    detail["notice"] = notice_id.into();
    audit::append(
        tx,
        actor,
        action,
        &format!("notice:{}:{}", kind.notice_kind(), e.id),
        &detail,
    )
    .await?;
    Ok(change)
}

/// The feed entries, newest change first: only active ones unless `all`; one kind or every kind.
pub async fn list_entries(
    store: &Store,
    kind: Option<FeedKind>,
    all: bool,
) -> Result<Vec<FeedEntry>, FeedError> {
    let mut sql = String::from(
        "SELECT id AS notice_id, kind, reference, status, active, gtin, lot, credit_code, cert_no, \
         licence_no, valid_until, published_on, title, advice_zh, advice_en, import_id, updated_at \
         FROM status_notices WHERE reference IS NOT NULL",
    );
    if !all {
        sql.push_str(" AND active = 1");
    }
    if kind.is_some() {
        sql.push_str(" AND kind = $1");
    }
    sql.push_str(" ORDER BY updated_at DESC, id DESC");
    let mut q = sqlx::query_as::<_, FeedEntry>(&sql);
    if let Some(k) = kind {
        q = q.bind(k.notice_kind());
    }
    Ok(q.fetch_all(store.pool()).await?)
}

/// The recorded imports, newest first.
pub async fn list_imports(store: &Store, limit: i64) -> Result<Vec<FeedImport>, FeedError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, actor, at, file_name, file_sha256, format, encoding, rows_total, \
         rows_rejected, added, updated, withdrawn, unchanged, notifications FROM feed_imports \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}
