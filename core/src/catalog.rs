//! The catalog cache: what changes rarely, kept in memory so a verify reads nothing twice.
//!
//! Resolving a code touches ranges, activation segments, products, enterprises, batches,
//! prefixes, regulatory notices and uploaded serials or PINs. All of that changes only through
//! the [lifecycle](crate::lifecycle) and the [feed importer](crate::feeds), never through queries, so it
//! is cached in one LRU (the `lru` crate) — negative answers included, so an enumeration attack
//! does not turn into database reads either.
//!
//! **Invalidation, across processes.** Every catalog change bumps the one-row `catalog_version`
//! table in the same transaction ([`touch`]). The [recorder](crate::recorder) reads that version
//! inside the write transaction it runs for every batch of queries anyway; when it differs from
//! the version the cache was filled under, the cache is cleared and the batch re-resolved before
//! anything is decided. So a change made by the CLI, or by a second server on the same
//! PostgreSQL database, is seen by the very next query — without a database read on the hot path.
//!
//! A fill that raced with an invalidation is dropped: entries are stored only if the version
//! they were read under is still current.

use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use sqlx::{Any, Transaction};

use crate::facts::{BatchFacts, EnterpriseFacts, NoticeFacts, ProductFacts};
use crate::store::{Backend, Store, StoreError};
use crate::write_tx::WriteTx;

/// Default number of cached entries.
pub const DEFAULT_CAPACITY: usize = 200_000;

/// A code range row: `(product_id, size, key_version)`.
pub type RangeRow = (i64, i64, i64);
/// An uploaded item (serial or PIN): `(product_id, batch_id, state)`.
pub type ItemRow = (i64, Option<i64>, String);

/// One activation or cancellation segment of a range.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Segment {
    pub id: i64,
    pub start_serial: i64,
    pub end_serial: i64,
    pub state: String,
    pub batch_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Range(i64),
    Segments(i64),
    Product(i64),
    ProductByGtin(String),
    Enterprise(i64),
    Batch(i64),
    Prefix(String),
    Notices(i64),
    Serial(i64, String),
    Pin(String),
    NumberPlace(String),
}

#[derive(Clone)]
enum Value {
    Range(Option<RangeRow>),
    Segments(Arc<Vec<Segment>>),
    Product(Option<Arc<ProductFacts>>),
    Enterprise(Option<Arc<EnterpriseFacts>>),
    Batch(Option<Arc<BatchFacts>>),
    Prefix(Option<(String, String)>),
    Notices(Arc<Vec<NoticeFacts>>),
    Item(Option<ItemRow>),
    NumberPlace(Option<String>),
}

struct Inner {
    /// The `catalog_version` the entries were read under; `None` before the first check.
    version: Option<i64>,
    /// Bumped on every invalidation, so fills that started earlier can tell.
    generation: u64,
    lru: LruCache<Key, Value>,
}

/// The cache. Shared by the resolver and the recorder of one process.
pub struct Catalog {
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatalogStats {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
    pub entries: u64,
}

/// Bumps the catalog version inside a change's transaction. Call it first in the transaction (it
/// is a write, so on SQLite it also takes the write lock up front).
pub async fn touch(tx: &mut Transaction<'_, Any>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE catalog_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Reads the catalog version inside the recorder's write transaction. On SQLite this is an
/// `UPDATE … RETURNING` so that the transaction's first statement takes the write lock; on
/// PostgreSQL a plain read (no row lock, so writers of several processes do not serialise here).
pub async fn read_version<T: WriteTx>(tx: &mut T, backend: Backend) -> Result<i64, StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "UPDATE catalog_version SET version = version WHERE id = 1 RETURNING version"
        }
        Backend::Postgres => "SELECT version FROM catalog_version WHERE id = 1",
    };
    tx.fetch_one(sql, vec![]).await?.int(0)
}

/// Reads the catalog version in a transaction that already holds SQLite's write lock (begun
/// IMMEDIATE), where [`read_version`]'s locking write would only dirty a page per batch.
pub async fn read_version_locked<T: WriteTx>(tx: &mut T) -> Result<i64, StoreError> {
    tx.fetch_one("SELECT version FROM catalog_version WHERE id = 1", vec![])
        .await?
        .int(0)
}

const PRODUCT_BY_ID: &str = "SELECT id, enterprise_id, gtin, name, name_en, spec, category, \
     ccc_cert_no, licence_no FROM products WHERE id = $1";
const PRODUCT_BY_GTIN: &str = "SELECT id, enterprise_id, gtin, name, name_en, spec, category, \
     ccc_cert_no, licence_no FROM products WHERE gtin = $1";

fn product_value(v: Value) -> Option<Option<Arc<ProductFacts>>> {
    match v {
        Value::Product(p) => Some(p),
        _ => None,
    }
}

fn item_value(v: Value) -> Option<Option<ItemRow>> {
    match v {
        Value::Item(i) => Some(i),
        _ => None,
    }
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Catalog {
    pub fn new(capacity: usize) -> Catalog {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Catalog {
            inner: Mutex::new(Inner {
                version: None,
                generation: 0,
                lru: LruCache::new(cap),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// Is the cache filled under `version`? If not, clears it and adopts `version`.
    /// Returns `true` when it was current.
    pub fn check_version(&self, version: i64) -> bool {
        let mut g = lock(&self.inner);
        if g.version == Some(version) {
            return true;
        }
        g.lru.clear();
        g.version = Some(version);
        g.generation += 1;
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        false
    }

    pub fn stats(&self) -> CatalogStats {
        let entries = lock(&self.inner).lru.len() as u64;
        CatalogStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            entries,
        }
    }

    fn get(&self, key: &Key) -> Result<Value, u64> {
        let mut g = lock(&self.inner);
        match g.lru.get(key) {
            Some(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(v.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Err(g.generation)
            }
        }
    }

    fn put(&self, key: Key, value: Value, generation: u64) {
        let mut g = lock(&self.inner);
        if g.generation == generation {
            g.lru.put(key, value);
        }
    }

    /// The one way every getter works: answer from the cache, or run `load`, keep the result
    /// (unless the cache was invalidated meanwhile) and answer.
    async fn cached<T, Fut>(
        &self,
        key: Key,
        from: fn(Value) -> Option<T>,
        into: fn(T) -> Value,
        load: Fut,
    ) -> Result<T, sqlx::Error>
    where
        T: Clone,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        if let Some(hit) = self.get(&key).ok().and_then(from) {
            return Ok(hit);
        }
        let generation = self.generation();
        let loaded = load.await?;
        self.put(key, into(loaded.clone()), generation);
        Ok(loaded)
    }

    pub async fn range(&self, store: &Store, id: i64) -> Result<Option<RangeRow>, sqlx::Error> {
        self.cached(
            Key::Range(id),
            |v| match v {
                Value::Range(r) => Some(r),
                _ => None,
            },
            Value::Range,
            sqlx::query_as("SELECT product_id, size, key_version FROM code_ranges WHERE id = $1")
                .bind(id)
                .fetch_optional(store.pool()),
        )
        .await
    }

    /// The division code of a phone-number prefix (a mobile segment or an area code) in the
    /// `number_places` table ([`crate::numbers`]); absent prefixes are cached too, so a texter's
    /// or caller's place costs no database read once their segment was seen.
    pub async fn number_place(
        &self,
        store: &Store,
        prefix: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        self.cached(
            Key::NumberPlace(prefix.to_owned()),
            |v| match v {
                Value::NumberPlace(d) => Some(d),
                _ => None,
            },
            Value::NumberPlace,
            sqlx::query_scalar("SELECT division FROM number_places WHERE prefix = $1")
                .bind(prefix.to_owned())
                .fetch_optional(store.pool()),
        )
        .await
    }

    /// All segments of a range, oldest first.
    pub async fn segments(
        &self,
        store: &Store,
        range: i64,
    ) -> Result<Arc<Vec<Segment>>, sqlx::Error> {
        self.cached(
            Key::Segments(range),
            |v| match v {
                Value::Segments(s) => Some(s),
                _ => None,
            },
            Value::Segments,
            async move {
                let rows: Vec<Segment> = sqlx::query_as(
                    "SELECT id, start_serial, end_serial, state, batch_id FROM range_segments \
                     WHERE range_id = $1 ORDER BY id",
                )
                .bind(range)
                .fetch_all(store.pool())
                .await?;
                Ok(Arc::new(rows))
            },
        )
        .await
    }

    pub async fn product(
        &self,
        store: &Store,
        id: i64,
    ) -> Result<Option<Arc<ProductFacts>>, sqlx::Error> {
        self.cached(
            Key::Product(id),
            product_value,
            Value::Product,
            async move {
                let row: Option<ProductFacts> = sqlx::query_as(PRODUCT_BY_ID)
                    .bind(id)
                    .fetch_optional(store.pool())
                    .await?;
                Ok(row.map(Arc::new))
            },
        )
        .await
    }

    pub async fn product_by_gtin(
        &self,
        store: &Store,
        gtin14: &str,
    ) -> Result<Option<Arc<ProductFacts>>, sqlx::Error> {
        self.cached(
            Key::ProductByGtin(gtin14.to_owned()),
            product_value,
            Value::Product,
            async move {
                let row: Option<ProductFacts> = sqlx::query_as(PRODUCT_BY_GTIN)
                    .bind(gtin14)
                    .fetch_optional(store.pool())
                    .await?;
                Ok(row.map(Arc::new))
            },
        )
        .await
    }

    pub async fn enterprise(
        &self,
        store: &Store,
        id: i64,
    ) -> Result<Option<Arc<EnterpriseFacts>>, sqlx::Error> {
        self.cached(
            Key::Enterprise(id),
            |v| match v {
                Value::Enterprise(e) => Some(e),
                _ => None,
            },
            Value::Enterprise,
            async move {
                let row: Option<EnterpriseFacts> = sqlx::query_as(
                    "SELECT id, name, name_en, credit_code, division FROM enterprises WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(store.pool())
                .await?;
                Ok(row.map(Arc::new))
            },
        )
        .await
    }

    pub async fn batch(
        &self,
        store: &Store,
        id: i64,
    ) -> Result<Option<Arc<BatchFacts>>, sqlx::Error> {
        self.cached(
            Key::Batch(id),
            |v| match v {
                Value::Batch(b) => Some(b),
                _ => None,
            },
            Value::Batch,
            async move {
                let row: Option<BatchFacts> = sqlx::query_as(
                    "SELECT id, lot, production_date, expiry_date, made_in FROM batches WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(store.pool())
                .await?;
                Ok(row.map(Arc::new))
            },
        )
        .await
    }

    /// The longest registered prefix covering a GTIN: `(status, valid_until)`.
    pub async fn prefix(
        &self,
        store: &Store,
        gtin14: &str,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        self.cached(
            Key::Prefix(gtin14.to_owned()),
            |v| match v {
                Value::Prefix(p) => Some(p),
                _ => None,
            },
            Value::Prefix,
            sqlx::query_as(
                "SELECT status, valid_until FROM prefixes WHERE $1 LIKE prefix || '%' \
                 ORDER BY LENGTH(prefix) DESC LIMIT 1",
            )
            .bind(gtin14.get(1..).unwrap_or_default())
            .fetch_optional(store.pool()),
        )
        .await
    }

    /// Active notices that may touch a product (by GTIN, its enterprise, its certificate or
    /// licence); [`NoticeFacts::applies`] decides per item.
    pub async fn notices(
        &self,
        store: &Store,
        product: &ProductFacts,
        enterprise: &EnterpriseFacts,
    ) -> Result<Arc<Vec<NoticeFacts>>, sqlx::Error> {
        self.cached(
            Key::Notices(product.id),
            |v| match v {
                Value::Notices(n) => Some(n),
                _ => None,
            },
            Value::Notices,
            async move {
                let rows: Vec<NoticeFacts> = sqlx::query_as(
                    "SELECT id, kind, reference, status, gtin, lot, credit_code, cert_no, \
                     licence_no, valid_until, advice_zh, advice_en FROM status_notices WHERE active = 1 AND \
                     (gtin = $1 OR credit_code = $2 OR cert_no = $3 OR licence_no = $4) ORDER BY id",
                )
                .bind(&product.gtin)
                .bind(&enterprise.credit_code)
                .bind(product.ccc_cert_no.as_deref())
                .bind(product.licence_no.as_deref())
                .fetch_all(store.pool())
                .await?;
                Ok(Arc::new(rows))
            },
        )
        .await
    }

    /// An uploaded GS1 serial of a product.
    pub async fn serial(
        &self,
        store: &Store,
        product_id: i64,
        serial: &str,
    ) -> Result<Option<ItemRow>, sqlx::Error> {
        self.cached(
            Key::Serial(product_id, serial.to_owned()),
            item_value,
            Value::Item,
            async move {
                let row: Option<(Option<i64>, String)> = sqlx::query_as(
                    "SELECT batch_id, state FROM serials WHERE product_id = $1 AND serial = $2",
                )
                .bind(product_id)
                .bind(serial)
                .fetch_optional(store.pool())
                .await?;
                Ok(row.map(|(b, s)| (product_id, b, s)))
            },
        )
        .await
    }

    /// An uploaded scratch PIN, by its keyed hash.
    pub async fn pin(&self, store: &Store, pin_hash: &str) -> Result<Option<ItemRow>, sqlx::Error> {
        self.cached(
            Key::Pin(pin_hash.to_owned()),
            item_value,
            Value::Item,
            sqlx::query_as("SELECT product_id, batch_id, state FROM pins WHERE pin_hash = $1")
                .bind(pin_hash)
                .fetch_optional(store.pool()),
        )
        .await
    }

    /// Bumped on every invalidation; a resolution made under an older generation is stale.
    pub fn generation(&self) -> u64 {
        lock(&self.inner).generation
    }
}

/// The state of one serial of a range from its segments: the newest covering segment decides;
/// a cancelled serial keeps the batch it had been activated with.
pub fn serial_state(segments: &[Segment], serial: i64) -> (Option<&str>, Option<i64>) {
    let covering = segments
        .iter()
        .rev()
        .filter(|s| s.start_serial <= serial && serial < s.end_serial);
    let mut state = None;
    let mut batch = None;
    for s in covering {
        if state.is_none() {
            state = Some(s.state.as_str());
            batch = s.batch_id;
        }
        if batch.is_none() && s.state == "active" {
            batch = s.batch_id;
        }
        if state.is_some() && batch.is_some() {
            break;
        }
    }
    (state, batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: i64, start: i64, end: i64, state: &str, batch: Option<i64>) -> Segment {
        Segment {
            id,
            start_serial: start,
            end_serial: end,
            state: state.into(),
            batch_id: batch,
        }
    }

    #[test]
    fn newest_covering_segment_decides() {
        let s = vec![
            seg(1, 0, 100, "active", Some(7)),
            seg(2, 20, 30, "cancelled", None),
            seg(3, 100, 200, "active", Some(8)),
        ];
        assert_eq!(serial_state(&s, 5), (Some("active"), Some(7)));
        assert_eq!(serial_state(&s, 25), (Some("cancelled"), Some(7)));
        assert_eq!(serial_state(&s, 150), (Some("active"), Some(8)));
        assert_eq!(serial_state(&s, 200), (None, None));
    }

    #[test]
    fn version_changes_clear_the_cache() {
        let c = Catalog::new(10);
        assert!(!c.check_version(1), "first check adopts the version");
        c.put(
            Key::Range(1),
            Value::Range(Some((1, 10, 1))),
            c.generation(),
        );
        assert!(c.check_version(1));
        assert!(matches!(c.get(&Key::Range(1)), Ok(Value::Range(Some(_)))));
        let stale_generation = c.generation();
        assert!(!c.check_version(2));
        assert!(c.get(&Key::Range(1)).is_err(), "cleared");
        c.put(Key::Range(1), Value::Range(None), stale_generation);
        assert!(
            c.get(&Key::Range(1)).is_err(),
            "a fill from before the change is dropped"
        );
        assert_eq!(c.stats().invalidations, 2);
    }
}
