//! The code lifecycle (SPEC "Code lifecycle"): what a brand enterprise does before a consumer
//! ever queries.
//!
//! enterprise registered → manufacturer prefix registered (valid two years) → products registered
//! → code range requested → codes exported for printing → range or sub-range **activated** with
//! batch data when goods ship → possibly cancelled. GS1 serial lists and scratch-PIN lists are
//! uploaded per product and batch instead of issued.
//!
//! Every change is one transaction that also appends to the [audit log](crate::audit), so a change
//! and its record commit together. Inputs are validated before anything is written, with errors
//! that say exactly what is wrong.

use std::io::{BufRead, Write};
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use serde::Serialize;
use sqlx::{Any, Transaction};

use crate::audit;
use crate::catalog;
use crate::codes::division::DivisionCode;
use crate::codes::gtin::Gtin;
use crate::codes::supervision::{
    grouped, CodePlaintext, IssueError, SupervisionCodec, MAX_RANGE_ID, MAX_RANGE_SIZE,
};
use crate::codes::text;
use crate::codes::uscc::CreditCode;
use crate::live_keys::LiveKeys;
use crate::store::{now_ms, Store, StoreError};

/// How long a manufacturer prefix registration is valid.
pub const PREFIX_VALIDITY_MONTHS: u32 = 24;
/// Renewal notices go out this many days before a prefix expires.
pub const PREFIX_RENEWAL_NOTICE_DAYS: i64 = 90;
/// Rows per multi-row INSERT in bulk uploads.
const UPLOAD_CHUNK: usize = 500;

/// Why a lifecycle operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for LifecycleError {
    fn from(e: sqlx::Error) -> Self {
        LifecycleError::Store(StoreError::Db(e))
    }
}

type Result<T> = std::result::Result<T, LifecycleError>;

fn invalid(msg: impl Into<String>) -> LifecycleError {
    LifecycleError::Invalid(msg.into())
}

/// Batch data given at activation or upload.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BatchData {
    pub lot: String,
    pub production_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    /// Where the batch was made (division code), when not at the enterprise's location
    /// (contract manufacturing, a subsidiary's plant — SPEC: registered, not flagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_in: Option<String>,
}

/// A new product.
#[derive(Clone, Debug, Default)]
pub struct NewProduct {
    pub gtin: String,
    pub credit_code: String,
    pub name: String,
    pub name_en: Option<String>,
    pub spec: Option<String>,
    pub category: Option<String>,
    pub ccc_cert_no: Option<String>,
    pub licence_no: Option<String>,
}

/// An issued range.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CodeRange {
    pub id: i64,
    pub product_id: i64,
    pub key_version: i64,
    pub size: i64,
    pub purpose: Option<String>,
    pub requested_at: i64,
    pub exported_at: Option<i64>,
}

/// Outcome of a bulk upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadReport {
    pub batch_id: i64,
    pub inserted: u64,
    /// Already uploaded before (same product), left unchanged.
    pub already_present: u64,
}

/// Enterprise-side operations.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    keys: Arc<LiveKeys>,
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn clean(s: &str, what: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if t.chars().count() > max {
        return Err(invalid(format!("{what} is longer than {max} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(t.to_owned())
}

fn clean_opt(s: Option<&str>, what: &str, max: usize) -> Result<Option<String>> {
    match s.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => clean(t, what, max).map(Some),
        None => Ok(None),
    }
}

/// The entries of an uploaded list, one a line: a byte-order mark and surrounding spaces are
/// ignored, blank lines and a first-line `header` skipped; `entry` turns a line's text (and its
/// 1-based number, for errors) into what is stored. The first bad line fails the whole list.
fn list_lines(
    input: &mut dyn BufRead,
    header: &str,
    mut entry: impl FnMut(&str, usize) -> Result<String>,
) -> Result<Vec<String>> {
    let mut entries = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| invalid(format!("line {number}: {e}")))?;
        let s = line.trim().trim_start_matches('\u{feff}');
        if s.is_empty() || (i == 0 && s.eq_ignore_ascii_case(header)) {
            continue;
        }
        entries.push(entry(s, number)?);
    }
    Ok(entries)
}

/// A lot (GS1 AI 10): 1–20 characters of the GS1 AI encodable set 82 (printable ASCII
/// except space, `"`, `#`, `$`, `@`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`, `}`, `~`).
pub fn check_gs1_text(s: &str, what: &str, max: usize) -> Result<()> {
    if s.is_empty() || s.len() > max {
        return Err(invalid(format!(
            "{what} must be 1 to {max} characters, got {}",
            s.chars().count()
        )));
    }
    if let Some(c) = s.chars().find(|c| {
        !c.is_ascii_graphic()
            || matches!(
                c,
                '"' | '#' | '$' | '@' | '[' | '\\' | ']' | '^' | '`' | '{' | '|' | '}' | '~'
            )
    }) {
        return Err(invalid(format!(
            "{what} {s:?} contains {c:?}, which GS1 barcodes cannot carry"
        )));
    }
    Ok(())
}

impl Registry {
    pub fn new(store: Store, keys: Arc<LiveKeys>) -> Registry {
        Registry { store, keys }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn enterprise_id(&self, credit_code: &str) -> Result<i64> {
        let code = CreditCode::parse(credit_code).map_err(|e| invalid(e.to_string()))?;
        sqlx::query_scalar("SELECT id FROM enterprises WHERE credit_code = $1")
            .bind(code.as_str())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| LifecycleError::NotFound(format!("enterprise {code}")))
    }

    /// Registers an enterprise. Returns its id.
    pub async fn add_enterprise(
        &self,
        actor: &str,
        credit_code: &str,
        name: &str,
        name_en: Option<&str>,
        division: &str,
    ) -> Result<i64> {
        let code = CreditCode::parse(credit_code).map_err(|e| invalid(e.to_string()))?;
        let division = DivisionCode::parse(division).map_err(|e| invalid(e.to_string()))?;
        let name = clean(name, "enterprise name", 200)?;
        let name_en = clean_opt(name_en, "English name", 200)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO enterprises (credit_code, name, name_en, division, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credit_code) DO NOTHING RETURNING id",
        )
        .bind(code.as_str())
        .bind(&name)
        .bind(&name_en)
        .bind(division.as_str())
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| {
            LifecycleError::Conflict(format!("enterprise {code} is already registered"))
        })?;
        audit::append(
            &mut tx,
            actor,
            "enterprise.add",
            &format!("enterprise:{code}"),
            &serde_json::json!({ "name": name, "division": division.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Registers a manufacturer (GS1 company) prefix for an enterprise, valid two years from
    /// `registered_on`.
    pub async fn add_prefix(
        &self,
        actor: &str,
        credit_code: &str,
        prefix: &str,
        registered_on: NaiveDate,
    ) -> Result<NaiveDate> {
        let prefix = prefix.trim();
        if !(6..=12).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "a manufacturer prefix is 6 to 12 digits, got {prefix:?}"
            )));
        }
        let enterprise = self.enterprise_id(credit_code).await?;
        let valid_until = registered_on
            .checked_add_months(Months::new(PREFIX_VALIDITY_MONTHS))
            .ok_or_else(|| invalid("registration date out of range"))?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        audit::append(
            &mut tx,
            actor,
            "prefix.add",
            &format!("prefix:{prefix}"),
            &serde_json::json!({ "enterprise": credit_code, "valid_until": date_text(valid_until) }),
        )
        .await?;
        let clash: Option<String> = sqlx::query_scalar(
            "SELECT prefix FROM prefixes WHERE $1 LIKE prefix || '%' OR prefix LIKE $1 || '%' LIMIT 1",
        )
        .bind(prefix)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = clash {
            return Err(LifecycleError::Conflict(format!(
                "prefix {prefix} overlaps the registered prefix {other}"
            )));
        }
        sqlx::query(
            "INSERT INTO prefixes (enterprise_id, prefix, registered_on, valid_until, status, created_at) \
             VALUES ($1, $2, $3, $4, 'registered', $5)",
        )
        .bind(enterprise)
        .bind(prefix)
        .bind(date_text(registered_on))
        .bind(date_text(valid_until))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(valid_until)
    }

    /// Renews a prefix for another two years from its current expiry.
    pub async fn renew_prefix(&self, actor: &str, prefix: &str) -> Result<NaiveDate> {
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE prefixes SET status = status WHERE prefix = $1 RETURNING status, valid_until",
        )
        .bind(prefix)
        .fetch_optional(&mut *tx)
        .await?;
        let (status, until) =
            row.ok_or_else(|| LifecycleError::NotFound(format!("prefix {prefix}")))?;
        if status == "cancelled" {
            return Err(LifecycleError::Conflict(format!(
                "prefix {prefix} is cancelled; a cancelled prefix can never be renewed or reused"
            )));
        }
        let until = NaiveDate::parse_from_str(&until, "%Y-%m-%d")
            .map_err(|e| invalid(format!("stored expiry {until:?}: {e}")))?;
        let new_until = until
            .checked_add_months(Months::new(PREFIX_VALIDITY_MONTHS))
            .ok_or_else(|| invalid("date out of range"))?;
        sqlx::query("UPDATE prefixes SET valid_until = $1 WHERE prefix = $2")
            .bind(date_text(new_until))
            .bind(prefix)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            actor,
            "prefix.renew",
            &format!("prefix:{prefix}"),
            &serde_json::json!({ "valid_until": date_text(new_until) }),
        )
        .await?;
        tx.commit().await?;
        Ok(new_until)
    }

    /// Cancels a prefix for good; its codes stay in the records but verify as `prefix_invalid`.
    pub async fn cancel_prefix(&self, actor: &str, prefix: &str) -> Result<()> {
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let n = sqlx::query("UPDATE prefixes SET status = 'cancelled' WHERE prefix = $1")
            .bind(prefix)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(LifecycleError::NotFound(format!("prefix {prefix}")));
        }
        audit::append(
            &mut tx,
            actor,
            "prefix.cancel",
            &format!("prefix:{prefix}"),
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registers a product. Its GTIN must fall under a registered prefix of the same enterprise.
    pub async fn add_product(&self, actor: &str, p: &NewProduct) -> Result<i64> {
        let gtin = Gtin::parse(&text::compact(&p.gtin)).map_err(|e| invalid(e.to_string()))?;
        let enterprise = self.enterprise_id(&p.credit_code).await?;
        let name = clean(&p.name, "product name", 200)?;
        let owner: Option<(i64, String)> = sqlx::query_as(
            "SELECT enterprise_id, prefix FROM prefixes WHERE $1 LIKE prefix || '%' \
             ORDER BY LENGTH(prefix) DESC LIMIT 1",
        )
        .bind(gtin.as_gtin14().get(1..).unwrap_or_default())
        .fetch_optional(self.store.pool())
        .await?;
        match owner {
            None => {
                return Err(invalid(format!(
                    "GTIN {gtin} is not under any registered manufacturer prefix"
                )))
            }
            Some((owner, prefix)) if owner != enterprise => {
                return Err(invalid(format!(
                    "GTIN {gtin} is under prefix {prefix}, which belongs to another enterprise"
                )))
            }
            Some(_) => {}
        }
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO products (enterprise_id, gtin, name, name_en, spec, category, ccc_cert_no, \
             licence_no, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (gtin) DO NOTHING RETURNING id",
        )
        .bind(enterprise)
        .bind(gtin.as_gtin14())
        .bind(&name)
        .bind(clean_opt(p.name_en.as_deref(), "English name", 200)?)
        .bind(clean_opt(p.spec.as_deref(), "specification", 200)?)
        .bind(clean_opt(p.category.as_deref(), "category", 100)?)
        .bind(clean_opt(p.ccc_cert_no.as_deref(), "CCC certificate number", 64)?)
        .bind(clean_opt(p.licence_no.as_deref(), "licence number", 64)?)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| {
            LifecycleError::Conflict(format!("a product with GTIN {gtin} is already registered"))
        })?;
        audit::append(
            &mut tx,
            actor,
            "product.add",
            &format!("product:{}", gtin.as_gtin14()),
            &serde_json::json!({ "name": name, "enterprise": p.credit_code }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn product_id(&self, gtin: &str) -> Result<i64> {
        let gtin = Gtin::parse(&text::compact(gtin)).map_err(|e| invalid(e.to_string()))?;
        sqlx::query_scalar("SELECT id FROM products WHERE gtin = $1")
            .bind(gtin.as_gtin14())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| LifecycleError::NotFound(format!("product with GTIN {gtin}")))
    }

    /// Requests a range of `size` supervision codes for a product. Stores one row.
    pub async fn request_range(
        &self,
        actor: &str,
        gtin: &str,
        size: u64,
        purpose: Option<&str>,
    ) -> Result<CodeRange> {
        if size == 0 || size > MAX_RANGE_SIZE {
            return Err(invalid(format!(
                "a range holds 1 to {MAX_RANGE_SIZE} codes, requested {size}"
            )));
        }
        let product = self.product_id(gtin).await?;
        let purpose = clean_opt(purpose, "purpose", 200)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let range: CodeRange = sqlx::query_as(
            "INSERT INTO code_ranges (product_id, key_version, size, purpose, requested_at) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, product_id, key_version, size, purpose, requested_at, exported_at",
        )
        .bind(product)
        .bind(i64::from(self.keys.refreshed().keyring.current_version()))
        .bind(size as i64)
        .bind(&purpose)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        if range.id > i64::from(MAX_RANGE_ID) {
            return Err(LifecycleError::Conflict(format!(
                "all {MAX_RANGE_ID} range ids are in use"
            )));
        }
        audit::append(
            &mut tx,
            actor,
            "range.request",
            &format!("range:{}", range.id),
            &serde_json::json!({ "gtin": gtin, "size": size, "key_version": range.key_version }),
        )
        .await?;
        tx.commit().await?;
        Ok(range)
    }

    pub async fn range(&self, id: i64) -> Result<CodeRange> {
        sqlx::query_as(
            "SELECT id, product_id, key_version, size, purpose, requested_at, exported_at \
             FROM code_ranges WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| LifecycleError::NotFound(format!("range {id}")))
    }

    /// The code for one serial of a range.
    pub fn code(&self, range: &CodeRange, serial: u64) -> Result<String> {
        Self::code_with(&self.keys.current().codec, range, serial).or_else(|e| match e {
            // A range issued under a key version added since the key file was loaded.
            LifecycleError::Invalid(_) => {
                Self::code_with(&self.keys.refreshed().codec, range, serial)
            }
            other => Err(other),
        })
    }

    fn code_with(codec: &SupervisionCodec, range: &CodeRange, serial: u64) -> Result<String> {
        codec
            .issue(CodePlaintext {
                key_version: u8::try_from(range.key_version).map_err(|_| {
                    invalid(format!(
                        "range {} has key version {}",
                        range.id, range.key_version
                    ))
                })?,
                range_id: u32::try_from(range.id)
                    .map_err(|_| invalid(format!("range id {} is out of bounds", range.id)))?,
                serial,
            })
            .map_err(|e: IssueError| invalid(e.to_string()))
    }

    fn check_span(range: &CodeRange, start: u64, end: u64) -> Result<()> {
        if start >= end || end > range.size as u64 {
            return Err(invalid(format!(
                "serials {start}..{end} are not a non-empty part of range {} (serials 0..{})",
                range.id, range.size
            )));
        }
        Ok(())
    }

    /// Writes serials `start..end` of a range as CSV for the printer (`serial,code,printed`) and
    /// records the export. The codes are computed, not read: nothing per code is stored.
    pub async fn export_range(
        &self,
        actor: &str,
        range_id: i64,
        start: u64,
        end: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let range = self.range(range_id).await?;
        let end = end.unwrap_or(range.size as u64);
        Self::check_span(&range, start, end)?;
        let mut tx = self.store.pool().begin().await?;

        sqlx::query("UPDATE code_ranges SET exported_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(range_id)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            actor,
            "range.export",
            &format!("range:{range_id}"),
            &serde_json::json!({ "start": start, "end": end }),
        )
        .await?;
        let keys = self.keys.refreshed();
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["serial", "code", "printed"])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        for serial in start..end {
            let code = Self::code_with(&keys.codec, &range, serial)?;
            w.write_record([serial.to_string(), code.clone(), grouped(&code)])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        w.flush()?;
        tx.commit().await?;
        Ok(end - start)
    }

    async fn upsert_batch(
        tx: &mut Transaction<'_, Any>,
        product_id: i64,
        batch: &BatchData,
    ) -> Result<i64> {
        check_gs1_text(&batch.lot, "lot", 20)?;
        let production = batch.production_date.map(date_text);
        let expiry = batch.expiry_date.map(date_text);
        if let (Some(p), Some(e)) = (batch.production_date, batch.expiry_date) {
            if e < p {
                return Err(invalid(format!("expiry {e} is before production {p}")));
            }
        }
        let made_in = match batch.made_in.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => Some(
                crate::codes::division::DivisionCode::parse(d)
                    .map_err(|e| invalid(format!("--made-in: {e}")))?
                    .as_str()
                    .to_owned(),
            ),
        };
        let (id, stored_prod, stored_exp, stored_made_in): (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = sqlx::query_as(
            "INSERT INTO batches (product_id, lot, production_date, expiry_date, created_at, \
             made_in) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (product_id, lot) DO UPDATE SET \
             production_date = COALESCE(batches.production_date, excluded.production_date), \
             expiry_date = COALESCE(batches.expiry_date, excluded.expiry_date), \
             made_in = COALESCE(batches.made_in, excluded.made_in) \
             RETURNING id, production_date, expiry_date, made_in",
        )
        .bind(product_id)
        .bind(&batch.lot)
        .bind(&production)
        .bind(&expiry)
        .bind(now_ms())
        .bind(&made_in)
        .fetch_one(&mut **tx)
        .await?;
        if made_in.is_some() && stored_made_in != made_in {
            return Err(LifecycleError::Conflict(format!(
                "lot {} is already registered as made in {}",
                batch.lot,
                stored_made_in.unwrap_or_else(|| "-".into())
            )));
        }
        if production.is_some() && stored_prod != production
            || expiry.is_some() && stored_exp != expiry
        {
            return Err(LifecycleError::Conflict(format!(
                "lot {} is already registered with production {} and expiry {}",
                batch.lot,
                stored_prod.unwrap_or_else(|| "-".into()),
                stored_exp.unwrap_or_else(|| "-".into())
            )));
        }
        Ok(id)
    }

    /// Activates serials `start..end` of a range with batch data (goods are shipping).
    /// Serials already activated or cancelled cannot be activated again.
    pub async fn activate(
        &self,
        actor: &str,
        range_id: i64,
        start: u64,
        end: Option<u64>,
        batch: &BatchData,
    ) -> Result<i64> {
        let range = self.range(range_id).await?;
        let end = end.unwrap_or(range.size as u64);
        Self::check_span(&range, start, end)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let batch_id = Self::upsert_batch(&mut tx, range.product_id, batch).await?;
        let overlap: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT start_serial, end_serial, state FROM range_segments \
             WHERE range_id = $1 AND start_serial < $3 AND end_serial > $2 LIMIT 1",
        )
        .bind(range_id)
        .bind(start as i64)
        .bind(end as i64)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((s, e, state)) = overlap {
            let what = if state == "active" {
                "activated"
            } else {
                "cancelled"
            };
            return Err(LifecycleError::Conflict(format!(
                "serials {s}..{e} of range {range_id} are already {what}; activate a span that does not overlap them"
            )));
        }
        sqlx::query(
            "INSERT INTO range_segments (range_id, start_serial, end_serial, state, batch_id, at) \
             VALUES ($1, $2, $3, 'active', $4, $5)",
        )
        .bind(range_id)
        .bind(start as i64)
        .bind(end as i64)
        .bind(batch_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            actor,
            "range.activate",
            &format!("range:{range_id}"),
            &serde_json::json!({ "start": start, "end": end, "batch": batch }),
        )
        .await?;
        tx.commit().await?;
        Ok(batch_id)
    }

    /// Cancels serials `start..end` of a range, activated or not. Cancelled codes never become
    /// valid again.
    pub async fn cancel_span(
        &self,
        actor: &str,
        range_id: i64,
        start: u64,
        end: u64,
        reason: &str,
    ) -> Result<()> {
        let range = self.range(range_id).await?;
        Self::check_span(&range, start, end)?;
        let reason = clean(reason, "reason", 200)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        sqlx::query(
            "INSERT INTO range_segments (range_id, start_serial, end_serial, state, batch_id, at) \
             VALUES ($1, $2, $3, 'cancelled', NULL, $4)",
        )
        .bind(range_id)
        .bind(start as i64)
        .bind(end as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            actor,
            "codes.cancel",
            &format!("range:{range_id}"),
            &serde_json::json!({ "start": start, "end": end, "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cancels individual codes of any family: supervision codes, GS1 scans with a serial, or
    /// scratch PINs. Returns how many were cancelled; refuses the whole list if one is not a
    /// known item code.
    pub async fn cancel_codes(&self, actor: &str, codes: &[String], reason: &str) -> Result<usize> {
        use crate::codes::{decode, Decoded};
        let reason = clean(reason, "reason", 200)?;
        enum Target {
            Span(i64, u64),
            Serial(i64, String),
            Pin(String),
        }
        let mut targets = Vec::new();
        for c in codes {
            let decoded = decode(c).map_err(|e| {
                if c.trim().is_empty() {
                    invalid(e.to_string())
                } else {
                    invalid(format!("{c}: {e}"))
                }
            })?;
            let t = match decoded {
                Decoded::Supervision(code) => {
                    let opened = self
                        .keys
                        .current()
                        .codec
                        .open(&code)
                        .or_else(|| self.keys.refreshed().codec.open(&code));
                    let p = opened.ok_or_else(|| {
                        invalid(format!("{code} is not a code issued by this zhenwei"))
                    })?;
                    let range = self.range(i64::from(p.range_id)).await?;
                    if p.serial >= range.size as u64 {
                        return Err(invalid(format!("{code} is outside its range")));
                    }
                    Target::Span(range.id, p.serial)
                }
                Decoded::Gs1(d) => {
                    let (Some(g), Some(s)) = (d.gtin(), d.serial()) else {
                        return Err(invalid(format!(
                            "{c}: GS1 data without a serial names no item"
                        )));
                    };
                    Target::Serial(self.product_id(g).await?, s.to_owned())
                }
                Decoded::ScratchPin(pin) => {
                    Target::Pin(self.keys.current().keyring.lookup_hash("pin", &pin))
                }
                Decoded::Gtin(g) => {
                    return Err(invalid(format!(
                        "{g} is a product barcode, not an item code"
                    )))
                }
            };
            targets.push(t);
        }
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        for t in &targets {
            let (subject, n) = match t {
                Target::Span(range, serial) => {
                    sqlx::query(
                        "INSERT INTO range_segments (range_id, start_serial, end_serial, state, batch_id, at) \
                         VALUES ($1, $2, $3, 'cancelled', NULL, $4)",
                    )
                    .bind(range)
                    .bind(*serial as i64)
                    .bind(*serial as i64 + 1)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                    (format!("range:{range}:{serial}"), 1)
                }
                Target::Serial(product, serial) => {
                    let n = sqlx::query("UPDATE serials SET state = 'cancelled' WHERE product_id = $1 AND serial = $2")
                        .bind(product)
                        .bind(serial)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (format!("serial:{product}:{serial}"), n)
                }
                Target::Pin(hash) => {
                    let n = sqlx::query("UPDATE pins SET state = 'cancelled' WHERE pin_hash = $1")
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    (format!("pin:{}", &hash[..16]), n)
                }
            };
            if n == 0 {
                return Err(LifecycleError::NotFound(format!("item {subject}")));
            }
            audit::append(
                &mut tx,
                actor,
                "codes.cancel",
                &subject,
                &serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(targets.len())
    }

    /// Uploads a GS1 serial list (one AI 21 serial per line; blank lines and a `serial` header
    /// are skipped) for one product and batch. All or nothing: a bad line rejects the file with
    /// its line number.
    pub async fn upload_serials(
        &self,
        actor: &str,
        gtin: &str,
        batch: &BatchData,
        input: &mut dyn BufRead,
    ) -> Result<UploadReport> {
        let product = self.product_id(gtin).await?;
        let serials = list_lines(input, "serial", |s, line| {
            check_gs1_text(s, &format!("line {line}: serial"), 20)?;
            Ok(s.to_owned())
        })?;
        self.bulk_insert(
            actor,
            "serials.upload",
            "serials",
            "serial",
            product,
            batch,
            serials,
        )
        .await
    }

    /// Uploads scratch PINs (one per line) for one product and batch. PINs are normalised and
    /// stored only as keyed hashes.
    pub async fn upload_pins(
        &self,
        actor: &str,
        gtin: &str,
        batch: &BatchData,
        input: &mut dyn BufRead,
    ) -> Result<UploadReport> {
        let product = self.product_id(gtin).await?;
        let hashes = list_lines(input, "pin", |s, line| {
            let pin = text::normalize_pin(s).map_err(|e| invalid(format!("line {line}: {e}")))?;
            Ok(self.keys.current().keyring.lookup_hash("pin", &pin))
        })?;
        self.bulk_insert(
            actor,
            "pins.upload",
            "pins",
            "pin_hash",
            product,
            batch,
            hashes,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn bulk_insert(
        &self,
        actor: &str,
        action: &str,
        table: &str,
        column: &str,
        product: i64,
        batch: &BatchData,
        values: Vec<String>,
    ) -> Result<UploadReport> {
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let batch_id = Self::upsert_batch(&mut tx, product, batch).await?;
        let at = now_ms();
        let mut inserted = 0u64;
        let conflict = if table == "serials" {
            "(product_id, serial)"
        } else {
            "(pin_hash)"
        };
        for chunk in values.chunks(UPLOAD_CHUNK) {
            let mut sql = format!(
                "INSERT INTO {table} (product_id, {column}, batch_id, state, uploaded_at) VALUES "
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("($1, ${}, $2, 'active', $3)", i + 4));
            }
            sql.push_str(&format!(" ON CONFLICT {conflict} DO NOTHING"));
            let mut q = sqlx::query(&sql).bind(product).bind(batch_id).bind(at);
            for v in chunk {
                q = q.bind(v);
            }
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        let report = UploadReport {
            batch_id,
            inserted,
            already_present: values.len() as u64 - inserted,
        };
        audit::append(
            &mut tx,
            actor,
            action,
            &format!("product:{product}"),
            &serde_json::json!({ "batch": batch, "inserted": report.inserted, "already_present": report.already_present }),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Adds a store (a place of sale with kiosks). Returns its id.
    pub async fn add_store(
        &self,
        actor: &str,
        name: &str,
        division: &str,
        address: Option<&str>,
    ) -> Result<i64> {
        let division = DivisionCode::parse(division).map_err(|e| invalid(e.to_string()))?;
        let name = clean(name, "store name", 200)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO stores (name, division, address, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&name)
        .bind(division.as_str())
        .bind(clean_opt(address, "address", 300)?)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            actor,
            "store.add",
            &format!("store:{id}"),
            &serde_json::json!({ "name": name, "division": division.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Registers a kiosk in a store. Returns its id.
    pub async fn add_kiosk(&self, actor: &str, store_id: i64, name: &str) -> Result<i64> {
        let name = clean(name, "kiosk name", 64)?;
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO kiosks (store_id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(store_id)
        .bind(&name)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or_else(|| LifecycleError::Conflict(format!("kiosk {name} exists")))?;
        audit::append(
            &mut tx,
            actor,
            "kiosk.add",
            &format!("kiosk:{name}"),
            &serde_json::json!({ "store": store_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records one regulatory status notice directly (the demo data). Regulators' files go
    /// through [`crate::feeds::import`], which writes the same `status_notices` rows and can
    /// supersede or withdraw an entry with the same `reference`.
    pub async fn add_notice(&self, actor: &str, n: &NewNotice) -> Result<i64> {
        let mut tx = self.store.pool().begin().await?;
        catalog::touch(&mut tx).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO status_notices (kind, gtin, lot, credit_code, cert_no, licence_no, status, \
             valid_until, advice_zh, advice_en, active, created_at, reference, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $11) RETURNING id",
        )
        .bind(&n.kind)
        .bind(&n.gtin)
        .bind(&n.lot)
        .bind(&n.credit_code)
        .bind(&n.cert_no)
        .bind(&n.licence_no)
        .bind(&n.status)
        .bind(&n.valid_until)
        .bind(&n.advice_zh)
        .bind(&n.advice_en)
        .bind(now_ms())
        .bind(&n.reference)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            actor,
            "notice.add",
            &format!("notice:{id}"),
            &serde_json::to_value(n).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// A regulatory notice to record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewNotice {
    pub kind: String,
    /// The entry's stable id in its feed; a feed import with the same kind and reference
    /// supersedes or withdraws it.
    pub reference: Option<String>,
    pub gtin: Option<String>,
    pub lot: Option<String>,
    pub credit_code: Option<String>,
    pub cert_no: Option<String>,
    pub licence_no: Option<String>,
    pub status: String,
    pub valid_until: Option<String>,
    pub advice_zh: Option<String>,
    pub advice_en: Option<String>,
}
