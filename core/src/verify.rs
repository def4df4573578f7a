//! Verification: resolve what a code names, record the query atomically, decide, answer.
//!
//! [`Verifier::verify`] is the single entry point every channel uses. It runs three steps:
//!
//! 1. **Resolve** (reads only): decode the text ([`crate::codes::decode`]), open a supervision
//!    code with the keys, look up its range and activation segment, or the uploaded GS1 serial or
//!    scratch PIN, then the product, enterprise, prefix status, batch and regulatory notices. The
//!    result is an [`Identity`] for the engine plus the facts to show.
//! 2. **Record and decide** (one write transaction): bump the code's counter with an upsert that
//!    returns the new count and the first query — so the count is exact however many processes
//!    share the database — read the few history signals the clone and enumeration rules need,
//!    call the pure [`decide`], insert the query event, and open or update cases. The transaction
//!    commits before anything is returned: no answer exists for an event that was not stored.
//! 3. **Answer**: assemble the [`Verdict`] and its advice text.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Datelike;

use crate::clock::today;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::advice::{self, Lang};
use crate::codes::division::DivisionCode;
use crate::codes::{self, Decoded, Family};
use crate::facts::{self, BatchFacts, EnterpriseFacts, NoticeFacts, ProductFacts};
use crate::live_keys::LiveKeys;
use crate::store::{now_ms, Store, StoreError};
use crate::verdict::{
    decide, Authenticity, CaseReason, Channel, History, Identity, ItemFacts, Lifecycle,
    NoticeFlags, PrefixStatus, Thresholds, Warning,
};

/// One query, from any channel.
#[derive(Clone, Debug)]
pub struct Query {
    /// What was typed or scanned, raw.
    pub input: String,
    pub channel: Channel,
    /// Who asked, in the channel's terms (kiosk name, phone number, IP address, "cli"). Stored
    /// only as a keyed hash plus a masked form.
    pub source: String,
    /// Where, when known: the kiosk's store, the caller's stated place.
    pub place: Option<DivisionCode>,
    /// The store, for kiosk queries.
    pub store_id: Option<i64>,
    pub lang: Lang,
}

/// The machine-readable error of a `not_a_code` verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeError {
    pub code: String,
    pub message: String,
}

/// The answer, identical for every channel (SPEC "The verdict").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub authenticity: Authenticity,
    pub family: Option<Family>,
    /// The normalised code (not for scratch PINs, which are secrets).
    pub code: Option<String>,
    pub warnings: Vec<Warning>,
    /// Ask the consumer to check the code and enter it again.
    pub recheck: bool,
    pub query_count: i64,
    pub first_query: bool,
    /// Unix milliseconds of the first query of this code.
    pub first_queried_at: Option<i64>,
    pub first_queried_city: Option<String>,
    pub product: Option<ProductFacts>,
    pub enterprise: Option<EnterpriseFacts>,
    pub batch: Option<BatchFacts>,
    pub prefix_status: Option<PrefixStatus>,
    pub notices: Vec<NoticeFacts>,
    /// The first case opened or updated by this query.
    pub case_id: Option<i64>,
    pub case_ids: Vec<i64>,
    pub message: String,
    pub lang: Lang,
    pub error: Option<CodeError>,
    pub event_id: i64,
    pub queried_at: i64,
}

/// Failures of the verification machinery itself (never of the consumer's input, which always
/// gets a verdict).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        VerifyError::Store(StoreError::Db(e))
    }
}

/// What resolution found.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub identity: Identity,
    pub family: Option<Family>,
    pub code_key: String,
    pub display_code: Option<String>,
    pub error: Option<CodeError>,
    pub product: Option<ProductFacts>,
    pub enterprise: Option<EnterpriseFacts>,
    pub batch: Option<BatchFacts>,
    pub prefix_status: Option<PrefixStatus>,
    pub notices: Vec<NoticeFacts>,
}

impl Resolution {
    fn bare(identity: Identity, family: Option<Family>, code_key: String) -> Resolution {
        Resolution {
            identity,
            family,
            code_key,
            display_code: None,
            error: None,
            product: None,
            enterprise: None,
            batch: None,
            prefix_status: None,
            notices: Vec::new(),
        }
    }
}

/// The verification service. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    store: Store,
    keys: Arc<LiveKeys>,
    thresholds: Arc<Thresholds>,
}

const PRODUCT_COLUMNS: &str =
    "id, enterprise_id, gtin, name, name_en, spec, category, ccc_cert_no, licence_no";

impl Verifier {
    pub fn new(store: Store, keys: Arc<LiveKeys>, thresholds: Thresholds) -> Verifier {
        Verifier {
            store,
            keys,
            thresholds: Arc::new(thresholds),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &LiveKeys {
        &self.keys
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Answers a query and records it. The returned verdict's event is durable.
    pub async fn verify(&self, q: &Query) -> Result<Verdict, VerifyError> {
        let r = self.resolve(&q.input).await?;
        self.record_and_decide(q, r).await
    }

    /// The code key under which a text's queries are counted, if it is a code at all.
    pub async fn code_key(&self, input: &str) -> Result<Option<String>, VerifyError> {
        let r = self.resolve(input).await?;
        Ok((!r.code_key.is_empty()).then_some(r.code_key))
    }

    /// Step 1: what does this text name? Reads only.
    pub async fn resolve(&self, input: &str) -> Result<Resolution, VerifyError> {
        let decoded = match codes::decode(input) {
            Ok(d) => d,
            Err(e) => {
                let mut r = Resolution::bare(Identity::NotACode, None, String::new());
                r.error = Some(CodeError {
                    code: e.code().to_owned(),
                    message: e.to_string(),
                });
                return Ok(r);
            }
        };
        match decoded {
            Decoded::Supervision(code) => self.resolve_supervision(code).await,
            Decoded::Gs1(data) => self.resolve_gs1(&data).await,
            Decoded::ScratchPin(pin) => {
                let r = self.resolve_pin(&pin, Family::ScratchPin).await?;
                // Barcode-length digits that are no uploaded PIN are most likely a mistyped
                // barcode: say what is wrong with it rather than "PIN not found".
                if r.product.is_none()
                    && matches!(pin.len(), 12..=14)
                    && pin.bytes().all(|b| b.is_ascii_digit())
                {
                    if let Err(e) = codes::gtin::Gtin::parse(&pin) {
                        let mut nac = Resolution::bare(Identity::NotACode, None, String::new());
                        nac.error = Some(CodeError {
                            code: e.code().to_owned(),
                            message: e.to_string(),
                        });
                        return Ok(nac);
                    }
                }
                Ok(r)
            }
            Decoded::Gtin(g) => {
                let r = self.resolve_gtin(&g).await?;
                // An all-digit scratch PIN can look like a barcode; prefer the PIN when one
                // was uploaded with exactly those characters.
                let digits = g.original();
                if r.product.is_none()
                    && (codes::text::PIN_MIN_LEN..=codes::text::PIN_MAX_LEN).contains(&digits.len())
                {
                    let pin = self.resolve_pin(&digits, Family::ScratchPin).await?;
                    if pin.product.is_some() {
                        return Ok(pin);
                    }
                }
                Ok(r)
            }
        }
    }

    async fn resolve_supervision(&self, code: String) -> Result<Resolution, VerifyError> {
        let key = format!("sc:{code}");
        let unknown = |code: &str| {
            let mut r = Resolution::bare(
                Identity::Unrecognised,
                Some(Family::Supervision),
                format!("u:{key}"),
            );
            r.display_code = Some(code.to_owned());
            r
        };
        // A code that does not open may belong to a key version added since the key file was
        // loaded (`zhenwei keys rotate` while serving).
        let opened = match self.keys.current().codec.open(&code) {
            Some(p) => Some(p),
            None => self.keys.refreshed().codec.open(&code),
        };
        let Some(plain) = opened else {
            return Ok(unknown(&code));
        };
        let range: Option<(i64, i64, i64)> =
            sqlx::query_as("SELECT product_id, size, key_version FROM code_ranges WHERE id = $1")
                .bind(i64::from(plain.range_id))
                .fetch_optional(self.store.pool())
                .await?;
        let Some((product_id, size, key_version)) = range else {
            return Ok(unknown(&code));
        };
        let serial = plain.serial as i64;
        if serial >= size || key_version != i64::from(plain.key_version) {
            return Ok(unknown(&code));
        }
        let segment: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT state, batch_id FROM range_segments \
             WHERE range_id = $1 AND start_serial <= $2 AND end_serial > $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(i64::from(plain.range_id))
        .bind(serial)
        .fetch_optional(self.store.pool())
        .await?;
        let (lifecycle, batch_id) = match segment {
            None => (Lifecycle::NotActivated, None),
            Some((state, batch)) if state == "active" => (Lifecycle::Active, batch),
            Some((_, batch)) => {
                // Cancelled: show the batch it had been activated with, if any.
                let batch = match batch {
                    Some(b) => Some(b),
                    None => sqlx::query_scalar::<_, Option<i64>>(
                        "SELECT batch_id FROM range_segments WHERE range_id = $1 \
                         AND start_serial <= $2 AND end_serial > $2 AND state = 'active' \
                         ORDER BY id DESC LIMIT 1",
                    )
                    .bind(i64::from(plain.range_id))
                    .bind(serial)
                    .fetch_optional(self.store.pool())
                    .await?
                    .flatten(),
                };
                (Lifecycle::Cancelled, batch)
            }
        };
        let mut r = self
            .item_resolution(
                Family::Supervision,
                key,
                product_id,
                batch_id,
                lifecycle,
                None,
                None,
            )
            .await?;
        r.display_code = Some(code);
        Ok(r)
    }

    async fn resolve_gs1(&self, data: &codes::gs1::Gs1Data) -> Result<Resolution, VerifyError> {
        let Some(gtin_text) = data.gtin() else {
            return Ok(Resolution::bare(Identity::NotACode, None, String::new()));
        };
        let Ok(gtin) = codes::gtin::Gtin::parse(gtin_text) else {
            return Ok(Resolution::bare(Identity::NotACode, None, String::new()));
        };
        let display = Decoded::Gs1(data.clone()).normalised();
        let Some(serial) = data.serial() else {
            // GTIN (+ lot) without a serial identifies a product type, not an item.
            let mut r = self.resolve_gtin(&gtin).await?;
            r.family = Some(Family::Gs1);
            r.display_code = Some(display);
            return Ok(r);
        };
        let key = format!("gs1:{}:{serial}", gtin.as_gtin14());
        let product: Option<ProductFacts> = sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE gtin = $1"
        ))
        .bind(gtin.as_gtin14())
        .fetch_optional(self.store.pool())
        .await?;
        let row: Option<(String, Option<i64>)> = match &product {
            Some(p) => {
                sqlx::query_as(
                    "SELECT state, batch_id FROM serials WHERE product_id = $1 AND serial = $2",
                )
                .bind(p.id)
                .bind(serial)
                .fetch_optional(self.store.pool())
                .await?
            }
            None => None,
        };
        let (Some(p), Some((state, batch_id))) = (product, row) else {
            let mut r = Resolution::bare(
                Identity::Unrecognised,
                Some(Family::Gs1),
                format!("u:{key}"),
            );
            r.display_code = Some(display);
            return Ok(r);
        };
        let lifecycle = if state == "active" {
            Lifecycle::Active
        } else {
            Lifecycle::Cancelled
        };
        let expiry = data.expiry();
        let mut r = self
            .item_resolution(
                Family::Gs1,
                key,
                p.id,
                batch_id,
                lifecycle,
                data.lot(),
                expiry,
            )
            .await?;
        r.display_code = Some(display);
        Ok(r)
    }

    async fn resolve_pin(&self, pin: &str, family: Family) -> Result<Resolution, VerifyError> {
        let hash = self.keys.current().keyring.lookup_hash("pin", pin);
        let key = format!("pin:{}", &hash[..32]);
        let row: Option<(i64, Option<i64>, String)> =
            sqlx::query_as("SELECT product_id, batch_id, state FROM pins WHERE pin_hash = $1")
                .bind(&hash)
                .fetch_optional(self.store.pool())
                .await?;
        let Some((product_id, batch_id, state)) = row else {
            return Ok(Resolution::bare(
                Identity::Unrecognised,
                Some(family),
                format!("u:{key}"),
            ));
        };
        let lifecycle = if state == "active" {
            Lifecycle::Active
        } else {
            Lifecycle::Cancelled
        };
        self.item_resolution(family, key, product_id, batch_id, lifecycle, None, None)
            .await
    }

    async fn resolve_gtin(&self, gtin: &codes::gtin::Gtin) -> Result<Resolution, VerifyError> {
        let key = format!("gtin:{}", gtin.as_gtin14());
        let product: Option<ProductFacts> = sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE gtin = $1"
        ))
        .bind(gtin.as_gtin14())
        .fetch_optional(self.store.pool())
        .await?;
        let prefix = self.prefix_status(gtin.as_gtin14()).await?;
        let mut r = Resolution::bare(
            Identity::ProductType {
                prefix,
                notices: NoticeFlags::default(),
            },
            Some(Family::Gtin),
            key,
        );
        r.display_code = Some(gtin.original());
        r.prefix_status = Some(prefix);
        if let Some(p) = product {
            let e = self.enterprise(p.enterprise_id).await?;
            let (flags, notices) = self.notices(&p, &e, None).await?;
            r.identity = Identity::ProductType {
                prefix,
                notices: flags,
            };
            r.notices = notices;
            r.product = Some(p);
            r.enterprise = Some(e);
        }
        Ok(r)
    }

    async fn enterprise(&self, id: i64) -> Result<EnterpriseFacts, VerifyError> {
        Ok(sqlx::query_as(
            "SELECT id, name, name_en, credit_code, division FROM enterprises WHERE id = $1",
        )
        .bind(id)
        .fetch_one(self.store.pool())
        .await?)
    }

    /// Status of the (longest) registered prefix the GTIN falls under.
    pub async fn prefix_status(&self, gtin14: &str) -> Result<PrefixStatus, VerifyError> {
        let company_part = gtin14.get(1..).unwrap_or_default();
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT status, valid_until FROM prefixes WHERE $1 LIKE prefix || '%' \
             ORDER BY LENGTH(prefix) DESC LIMIT 1",
        )
        .bind(company_part)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(match row {
            None => PrefixStatus::Unregistered,
            Some((status, _)) if status == "cancelled" => PrefixStatus::Cancelled,
            Some((_, until))
                if until.as_str() < today().format("%Y-%m-%d").to_string().as_str() =>
            {
                PrefixStatus::Expired
            }
            Some(_) => PrefixStatus::Registered,
        })
    }

    async fn notices(
        &self,
        p: &ProductFacts,
        e: &EnterpriseFacts,
        batch: Option<&BatchFacts>,
    ) -> Result<(NoticeFlags, Vec<NoticeFacts>), VerifyError> {
        let rows: Vec<NoticeFacts> = sqlx::query_as(
            "SELECT id, kind, status, gtin, lot, credit_code, cert_no, licence_no, valid_until, \
             advice_zh, advice_en FROM status_notices WHERE active = 1 AND \
             (gtin = $1 OR credit_code = $2 OR cert_no = $3 OR licence_no = $4) ORDER BY id",
        )
        .bind(&p.gtin)
        .bind(&e.credit_code)
        .bind(p.ccc_cert_no.as_deref())
        .bind(p.licence_no.as_deref())
        .fetch_all(self.store.pool())
        .await?;
        let day = today();
        let mut flags = NoticeFlags::default();
        let mut applied = Vec::new();
        for n in rows {
            if let Some(f) = n.applies(p, e, batch, day) {
                flags = facts::merge(flags, f);
                applied.push(n);
            }
        }
        Ok((flags, applied))
    }

    #[allow(clippy::too_many_arguments)]
    async fn item_resolution(
        &self,
        family: Family,
        code_key: String,
        product_id: i64,
        batch_id: Option<i64>,
        lifecycle: Lifecycle,
        pack_lot: Option<&str>,
        pack_expiry: Option<codes::gs1::Gs1Date>,
    ) -> Result<Resolution, VerifyError> {
        let p: ProductFacts = sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
        ))
        .bind(product_id)
        .fetch_one(self.store.pool())
        .await?;
        let e = self.enterprise(p.enterprise_id).await?;
        let batch: Option<BatchFacts> = match batch_id {
            Some(b) => {
                sqlx::query_as(
                    "SELECT id, lot, production_date, expiry_date FROM batches WHERE id = $1",
                )
                .bind(b)
                .fetch_optional(self.store.pool())
                .await?
            }
            None => None,
        };
        let prefix = self.prefix_status(&p.gtin).await?;
        let (flags, notices) = self.notices(&p, &e, batch.as_ref()).await?;
        let lot_mismatch = matches!((pack_lot, &batch), (Some(l), Some(b)) if l != b.lot);
        let expiry_mismatch = match (pack_expiry, batch.as_ref().and_then(BatchFacts::expiry)) {
            // GS1 day 00 means "end of that month": compare the month only.
            (Some(pack), Some(reg)) if pack.day == 0 => {
                (pack.year, pack.month) != (reg.year(), reg.month())
            }
            (Some(pack), Some(reg)) => pack.to_naive() != reg,
            _ => false,
        };
        let expired = batch
            .as_ref()
            .and_then(BatchFacts::expiry)
            .is_some_and(|d| d < today());
        Ok(Resolution {
            identity: Identity::Item(ItemFacts {
                lifecycle,
                prefix,
                lot_mismatch,
                expiry_mismatch,
                expired,
                notices: flags,
            }),
            family: Some(family),
            code_key,
            display_code: None,
            error: None,
            product: Some(p),
            enterprise: Some(e),
            batch,
            prefix_status: Some(prefix),
            notices,
        })
    }

    /// Steps 2 and 3.
    async fn record_and_decide(&self, q: &Query, r: Resolution) -> Result<Verdict, VerifyError> {
        let at = now_ms();
        let source_key = self
            .keys
            .current()
            .keyring
            .lookup_hash("source", &format!("{}:{}", q.channel.as_str(), q.source));
        let source_masked = mask_source(q.channel, &q.source);
        let place = q.place.as_ref().map(|p| p.as_str().to_owned());
        let city = q.place.as_ref().map(|p| p.city().as_str().to_owned());
        let t = &self.thresholds;
        let mut tx = self.store.pool().begin().await?;

        let mut history = History::default();
        let mut first: Option<(i64, Option<String>)> = None;
        if !r.code_key.is_empty() {
            // The write comes first: it takes the lock that makes the count exact.
            let (count, first_at, first_place): (i64, i64, Option<String>) = sqlx::query_as(
                "INSERT INTO code_history (code_key, query_count, first_at, first_place, last_at) \
                 VALUES ($1, 1, $2, $3, $2) \
                 ON CONFLICT (code_key) DO UPDATE SET query_count = code_history.query_count + 1, \
                 last_at = excluded.last_at \
                 RETURNING query_count, first_at, first_place",
            )
            .bind(&r.code_key)
            .bind(at)
            .bind(&place)
            .fetch_one(&mut *tx)
            .await?;
            history.count = count;
            first = Some((first_at, first_place));

            let window_start = at - t.clone_window_hours * 3_600_000;
            let mut cities: BTreeSet<String> = sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT city FROM query_events \
                 WHERE code_key = $1 AND at >= $2 AND city IS NOT NULL",
            )
            .bind(&r.code_key)
            .bind(window_start)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
            cities.extend(city.clone());
            history.cities_in_window = cities.len() as i64;

            let mut stores: BTreeSet<i64> = sqlx::query_scalar::<_, i64>(
                "SELECT DISTINCT store_id FROM query_events \
                 WHERE code_key = $1 AND store_id IS NOT NULL",
            )
            .bind(&r.code_key)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
            stores.extend(q.store_id);
            history.stores = stores.len() as i64;

            if matches!(r.identity, Identity::Unrecognised) {
                history.same_source_repeats = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM query_events WHERE code_key = $1 AND source_key = $2",
                )
                .bind(&r.code_key)
                .bind(&source_key)
                .fetch_one(&mut *tx)
                .await?;
                let enum_start = at - t.enumeration_window_minutes * 60_000;
                let mut others: BTreeSet<String> = sqlx::query_scalar::<_, String>(
                    "SELECT DISTINCT code_key FROM query_events \
                     WHERE source_key = $1 AND at >= $2 AND code_key LIKE 'u:%'",
                )
                .bind(&source_key)
                .bind(enum_start)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
                others.insert(r.code_key.clone());
                history.source_unknown_codes = others.len() as i64;
            }
        }

        let decision = decide(r.identity, history, q.channel, t);
        let warnings_text = decision
            .warnings
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO query_events (code_key, family, channel, source_key, source_masked, \
             store_id, place, city, at, authenticity, warnings, query_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&r.code_key)
        .bind(r.family.map(Family::as_str).unwrap_or("none"))
        .bind(q.channel.as_str())
        .bind(&source_key)
        .bind(&source_masked)
        .bind(q.store_id)
        .bind(&place)
        .bind(&city)
        .bind(at)
        .bind(decision.authenticity.as_str())
        .bind(&warnings_text)
        .bind(history.count)
        .fetch_one(&mut *tx)
        .await?;

        let mut case_ids = Vec::new();
        for reason in &decision.case_reasons {
            let case_key = match reason {
                CaseReason::Enumeration => format!("src:{source_key}"),
                _ => r.code_key.clone(),
            };
            let id = open_or_update_case(
                &mut tx,
                &case_key,
                *reason,
                &r,
                case_place(*reason, place.as_deref(), &r),
                event_id,
                at,
            )
            .await?;
            // An enumeration case is about the source, for regulators; the person guessing codes
            // is not told a case number.
            if *reason != CaseReason::Enumeration {
                case_ids.push(id);
            }
        }
        tx.commit().await?;

        let (first_queried_at, first_queried_city) = match &first {
            Some((first_at, first_place)) => (
                Some(*first_at),
                first_place
                    .as_deref()
                    .and_then(|p| DivisionCode::parse(p).ok())
                    .and_then(|d| d.city_name(q.lang.is_en()))
                    .map(str::to_owned),
            ),
            None => (None, None),
        };
        let mut v = Verdict {
            authenticity: decision.authenticity,
            family: r.family,
            code: match r.family {
                Some(Family::ScratchPin) => None,
                _ => r.display_code.clone(),
            },
            warnings: decision.warnings,
            recheck: decision.recheck,
            query_count: history.count,
            first_query: history.count == 1,
            first_queried_at,
            first_queried_city,
            product: r.product,
            enterprise: r.enterprise,
            batch: r.batch,
            prefix_status: r.prefix_status,
            notices: r.notices,
            case_id: case_ids.first().copied(),
            case_ids,
            message: String::new(),
            lang: q.lang,
            error: r.error,
            event_id,
            queried_at: at,
        };
        v.message = advice::message(&v, q.lang);
        Ok(v)
    }

    /// A consumer's report of a suspected fake ("report this product", SMS `JB`, IVR 9): opens or
    /// updates the consumer-report case for the code and records the report as a query event.
    pub async fn report(&self, q: &Query, note: Option<&str>) -> Result<Verdict, VerifyError> {
        let r = self.resolve(&q.input).await?;
        let mut v = self.record_and_decide(q, r.clone()).await?;
        if r.code_key.is_empty() {
            return Ok(v);
        }
        let mut tx = self.store.pool().begin().await?;
        let place = q.place.as_ref().map(|p| p.as_str().to_owned());
        let id = open_or_update_case(
            &mut tx,
            &r.code_key,
            CaseReason::ConsumerReport,
            &r,
            case_place(CaseReason::ConsumerReport, place.as_deref(), &r),
            v.event_id,
            v.queried_at,
        )
        .await?;
        if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
            crate::audit::append(
                &mut tx,
                &format!(
                    "{}:{}",
                    q.channel.as_str(),
                    mask_source(q.channel, &q.source)
                ),
                "case.report_note",
                &format!("case:{id}"),
                &serde_json::json!({ "note": note.chars().take(500).collect::<String>() }),
            )
            .await?;
        }
        tx.commit().await?;
        v.case_ids.push(id);
        v.case_id = Some(id);
        v.message = advice::message(&v, q.lang);
        Ok(v)
    }
}

/// Where a case is handled (SPEC "Routing"): the place of the conduct when known; batch-level
/// counterfeiting and unresolved places go to the enterprise's location.
fn case_place(reason: CaseReason, query_place: Option<&str>, r: &Resolution) -> Option<String> {
    let enterprise_place = r.enterprise.as_ref().map(|e| e.division.clone());
    if reason.is_batch_level() {
        return enterprise_place.or_else(|| query_place.map(str::to_owned));
    }
    query_place.map(str::to_owned).or(enterprise_place)
}

async fn open_or_update_case(
    tx: &mut Transaction<'_, Any>,
    case_key: &str,
    reason: CaseReason,
    r: &Resolution,
    place: Option<String>,
    event_id: i64,
    at: i64,
) -> Result<i64, VerifyError> {
    let (id, events): (i64, i64) = sqlx::query_as(
        "INSERT INTO cases (code_key, reason, status, product_id, batch_id, enterprise_id, place, \
         opened_at, updated_at, event_count) VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $7, 1) \
         ON CONFLICT (code_key, reason) DO UPDATE SET updated_at = excluded.updated_at, \
         event_count = cases.event_count + 1 RETURNING id, event_count",
    )
    .bind(case_key)
    .bind(reason.as_str())
    .bind(r.product.as_ref().map(|p| p.id))
    .bind(r.batch.as_ref().map(|b| b.id))
    .bind(r.enterprise.as_ref().map(|e| e.id))
    .bind(&place)
    .bind(at)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO case_events (case_id, event_id) VALUES ($1, $2)")
        .bind(id)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    if events == 1 {
        crate::audit::append(
            tx,
            "zhenwei",
            "case.open",
            &format!("case:{id}"),
            &serde_json::json!({ "reason": reason.as_str(), "place": place, "event": event_id }),
        )
        .await?;
    }
    Ok(id)
}

/// How a source appears in stored events and logs: kiosks and the CLI by name, phone numbers
/// and addresses masked.
pub fn mask_source(channel: Channel, source: &str) -> String {
    match channel {
        Channel::Kiosk | Channel::Cli => source.chars().take(64).collect(),
        Channel::Sms | Channel::Ivr => codes::text::mask_phone(source),
        Channel::Web => mask_ip(source),
    }
}

fn mask_ip(ip: &str) -> String {
    if let Ok(addr) = ip.parse::<std::net::IpAddr>() {
        return match addr {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.*.*", o[0], o[1])
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:*", s[0], s[1])
            }
        };
    }
    "*".into()
}

/// One stored query event, as `zhenwei history` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct QueryEvent {
    pub id: i64,
    pub channel: String,
    pub source: String,
    pub store_id: Option<i64>,
    pub place: Option<String>,
    pub city: Option<String>,
    pub at: i64,
    pub authenticity: String,
    pub warnings: String,
    pub query_number: i64,
}

impl Verifier {
    /// The query events of a code, oldest first. Read-only.
    pub async fn history(
        &self,
        input: &str,
    ) -> Result<Option<(String, Vec<QueryEvent>)>, VerifyError> {
        let r = self.resolve(input).await?;
        if r.code_key.is_empty() {
            return Ok(None);
        }
        let events = sqlx::query_as::<_, QueryEvent>(
            "SELECT id, channel, source_masked AS source, store_id, place, city, at, authenticity, \
             warnings, query_number FROM query_events WHERE code_key = $1 ORDER BY id",
        )
        .bind(&r.code_key)
        .fetch_all(self.store.pool())
        .await?;
        Ok(Some((r.code_key, events)))
    }
}

/// A registered kiosk and the store it stands in.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct KioskPlace {
    pub kiosk_id: i64,
    pub store_id: i64,
    pub store_name: String,
    pub division: String,
}

impl Verifier {
    /// Looks up a kiosk by name: its store gives kiosk queries their place.
    pub async fn kiosk(&self, name: &str) -> Result<Option<KioskPlace>, VerifyError> {
        Ok(sqlx::query_as(
            "SELECT k.id AS kiosk_id, s.id AS store_id, s.name AS store_name, s.division \
             FROM kiosks k JOIN stores s ON s.id = k.store_id WHERE k.name = $1",
        )
        .bind(name)
        .fetch_optional(self.store.pool())
        .await?)
    }
}
