//! Resolution: what does a presented text name? Reads only, through the [catalog](crate::catalog).
//!
//! Decode the text ([`crate::codes::decode`]); open a supervision code with the keys and find its
//! range and the segment that decides its lifecycle, or find the uploaded GS1 serial or scratch
//! PIN; then the product, enterprise, prefix status, batch and the regulatory notices that apply.
//! The result is a [`Resolution`]: an [`Identity`] for the verdict engine, the key under which
//! the code's queries are counted, and the facts a verdict shows.

use std::sync::Arc;

use chrono::Datelike;

use crate::catalog::{self, Catalog};
use crate::clock::today;
use crate::codes::{self, Decoded, Family};
use crate::facts::{self, BatchFacts, EnterpriseFacts, NoticeFacts, ProductFacts};
use crate::live_keys::LiveKeys;
use crate::store::Store;
use crate::verdict::{Identity, ItemFacts, Lifecycle, NoticeFlags, PrefixStatus};
use crate::verify::{CodeError, VerifyError};

/// What resolution found.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub identity: Identity,
    pub family: Option<Family>,
    /// The key under which this code's queries are counted; empty for text that is no code.
    /// Unrecognised codes are counted under `u:`-prefixed keys.
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

    fn not_a_code(code: &str, message: String) -> Resolution {
        let mut r = Resolution::bare(Identity::NotACode, None, String::new());
        r.error = Some(CodeError {
            code: code.to_owned(),
            message,
        });
        r
    }
}

/// Resolves texts to [`Resolution`]s. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    store: Store,
    keys: Arc<LiveKeys>,
    catalog: Arc<Catalog>,
}

/// Uploaded serials and PINs are on sale from upload until cancelled.
fn uploaded_lifecycle(state: &str) -> Lifecycle {
    if state == "active" {
        Lifecycle::Active
    } else {
        Lifecycle::Cancelled
    }
}

fn unwrap_arc<T: Clone>(a: Arc<T>) -> T {
    Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone())
}

impl Resolver {
    pub fn new(store: Store, keys: Arc<LiveKeys>, catalog: Arc<Catalog>) -> Resolver {
        Resolver {
            store,
            keys,
            catalog,
        }
    }

    /// What does this text name?
    pub async fn resolve(&self, input: &str) -> Result<Resolution, VerifyError> {
        let decoded = match codes::decode(input) {
            Ok(d) => d,
            Err(e) => return Ok(Resolution::not_a_code(e.code(), e.to_string())),
        };
        match decoded {
            Decoded::Supervision(code) => self.supervision(code).await,
            Decoded::Gs1(data) => self.gs1(&data).await,
            Decoded::ScratchPin(pin) => {
                let r = self.pin(&pin).await?;
                // Barcode-length digits that are no uploaded PIN are most likely a mistyped
                // barcode: say what is wrong with it rather than "PIN not found".
                if r.product.is_none()
                    && matches!(pin.len(), 12..=14)
                    && pin.bytes().all(|b| b.is_ascii_digit())
                {
                    if let Err(e) = codes::gtin::Gtin::parse(&pin) {
                        return Ok(Resolution::not_a_code(e.code(), e.to_string()));
                    }
                }
                Ok(r)
            }
            Decoded::Gtin(g) => {
                let r = self.gtin(&g).await?;
                // An all-digit scratch PIN can look like a barcode; prefer the PIN when one
                // was uploaded with exactly those characters.
                let digits = g.original();
                if r.product.is_none()
                    && (codes::text::PIN_MIN_LEN..=codes::text::PIN_MAX_LEN).contains(&digits.len())
                {
                    let pin = self.pin(&digits).await?;
                    if pin.product.is_some() {
                        return Ok(pin);
                    }
                }
                Ok(r)
            }
        }
    }

    async fn supervision(&self, code: String) -> Result<Resolution, VerifyError> {
        let key = format!("sc:{code}");
        let unknown = |code: String| {
            let mut r = Resolution::bare(
                Identity::Unrecognised,
                Some(Family::Supervision),
                format!("u:{key}"),
            );
            r.display_code = Some(code);
            r
        };
        // A code that does not open may belong to a key version added since the key file was
        // loaded (`zhenwei keys rotate` while serving).
        let opened = match self.keys.current().codec.open(&code) {
            Some(p) => Some(p),
            None => self.keys.refreshed().codec.open(&code),
        };
        let Some(plain) = opened else {
            return Ok(unknown(code));
        };
        let range_id = i64::from(plain.range_id);
        let Some((product_id, size, key_version)) =
            self.catalog.range(&self.store, range_id).await?
        else {
            return Ok(unknown(code));
        };
        let serial = plain.serial as i64;
        if serial >= size || key_version != i64::from(plain.key_version) {
            return Ok(unknown(code));
        }
        let segments = self.catalog.segments(&self.store, range_id).await?;
        let (state, batch_id) = catalog::serial_state(&segments, serial);
        let lifecycle = match state {
            None => Lifecycle::NotActivated,
            Some("active") => Lifecycle::Active,
            Some(_) => Lifecycle::Cancelled,
        };
        let mut r = self
            .item(
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

    async fn gs1(&self, data: &codes::gs1::Gs1Data) -> Result<Resolution, VerifyError> {
        let gtin = match data.gtin().map(codes::gtin::Gtin::parse) {
            Some(Ok(g)) => g,
            Some(Err(e)) => return Ok(Resolution::not_a_code(e.code(), e.to_string())),
            None => {
                let e = codes::DecodeError::Gs1WithoutGtin;
                return Ok(Resolution::not_a_code(e.code(), e.to_string()));
            }
        };
        let display = Decoded::Gs1(data.clone()).normalised();
        let Some(serial) = data.serial() else {
            // GTIN (+ lot) without a serial identifies a product type, not an item.
            let mut r = self.gtin(&gtin).await?;
            r.family = Some(Family::Gs1);
            r.display_code = Some(display);
            return Ok(r);
        };
        let key = format!("gs1:{}:{serial}", gtin.as_gtin14());
        let product = self
            .catalog
            .product_by_gtin(&self.store, gtin.as_gtin14())
            .await?;
        let item = match &product {
            Some(p) => self.catalog.serial(&self.store, p.id, serial).await?,
            None => None,
        };
        let Some((product_id, batch_id, state)) = item else {
            let mut r = Resolution::bare(
                Identity::Unrecognised,
                Some(Family::Gs1),
                format!("u:{key}"),
            );
            r.display_code = Some(display);
            return Ok(r);
        };
        let lifecycle = uploaded_lifecycle(&state);
        let mut r = self
            .item(
                Family::Gs1,
                key,
                product_id,
                batch_id,
                lifecycle,
                data.lot(),
                data.expiry(),
            )
            .await?;
        r.display_code = Some(display);
        Ok(r)
    }

    async fn pin(&self, pin: &str) -> Result<Resolution, VerifyError> {
        let hash = self.keys.current().keyring.lookup_hash("pin", pin);
        let key = format!("pin:{}", hash.get(..32).unwrap_or(&hash));
        let Some((product_id, batch_id, state)) = self.catalog.pin(&self.store, &hash).await?
        else {
            return Ok(Resolution::bare(
                Identity::Unrecognised,
                Some(Family::ScratchPin),
                format!("u:{key}"),
            ));
        };
        let lifecycle = uploaded_lifecycle(&state);
        self.item(
            Family::ScratchPin,
            key,
            product_id,
            batch_id,
            lifecycle,
            None,
            None,
        )
        .await
    }

    async fn gtin(&self, gtin: &codes::gtin::Gtin) -> Result<Resolution, VerifyError> {
        let key = format!("gtin:{}", gtin.as_gtin14());
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
        let product = self
            .catalog
            .product_by_gtin(&self.store, gtin.as_gtin14())
            .await?;
        if let Some(p) = product {
            let e = self.enterprise(p.enterprise_id).await?;
            let (flags, notices) = self.notices(&p, &e, None).await?;
            r.identity = Identity::ProductType {
                prefix,
                notices: flags,
            };
            r.notices = notices;
            r.product = Some(unwrap_arc(p));
            r.enterprise = Some(e);
        }
        Ok(r)
    }

    async fn enterprise(&self, id: i64) -> Result<EnterpriseFacts, VerifyError> {
        self.catalog
            .enterprise(&self.store, id)
            .await?
            .map(unwrap_arc)
            .ok_or_else(|| VerifyError::Inconsistent(format!("enterprise {id} is missing")))
    }

    /// Status of the (longest) registered prefix the GTIN falls under, today.
    pub async fn prefix_status(&self, gtin14: &str) -> Result<PrefixStatus, VerifyError> {
        let today = today().format("%Y-%m-%d").to_string();
        Ok(match self.catalog.prefix(&self.store, gtin14).await? {
            None => PrefixStatus::Unregistered,
            Some((status, _)) if status == "cancelled" => PrefixStatus::Cancelled,
            Some((_, until)) if until < today => PrefixStatus::Expired,
            Some(_) => PrefixStatus::Registered,
        })
    }

    async fn notices(
        &self,
        p: &ProductFacts,
        e: &EnterpriseFacts,
        batch: Option<&BatchFacts>,
    ) -> Result<(NoticeFlags, Vec<NoticeFacts>), VerifyError> {
        let rows = self.catalog.notices(&self.store, p, e).await?;
        let day = today();
        let mut flags = NoticeFlags::default();
        let mut applied = Vec::new();
        for n in rows.iter() {
            if let Some(f) = n.applies(p, e, batch, day) {
                flags = facts::merge(flags, f);
                applied.push(n.clone());
            }
        }
        Ok((flags, applied))
    }

    #[allow(clippy::too_many_arguments)]
    async fn item(
        &self,
        family: Family,
        code_key: String,
        product_id: i64,
        batch_id: Option<i64>,
        lifecycle: Lifecycle,
        pack_lot: Option<&str>,
        pack_expiry: Option<codes::gs1::Gs1Date>,
    ) -> Result<Resolution, VerifyError> {
        let p = self
            .catalog
            .product(&self.store, product_id)
            .await?
            .map(unwrap_arc)
            .ok_or_else(|| VerifyError::Inconsistent(format!("product {product_id} is missing")))?;
        let e = self.enterprise(p.enterprise_id).await?;
        let batch = match batch_id {
            Some(b) => self.catalog.batch(&self.store, b).await?.map(unwrap_arc),
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
}
