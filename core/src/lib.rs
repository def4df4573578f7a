//! # zhenwei-core — the one verification core
//!
//! Every channel — kiosk, SMS, phone hotline, web page, CLI — asks this crate the same question
//! ("is this code genuine?") and gets the same answer. The crate is layered so the decisions can
//! be tested without a database and the storage without a network:
//!
//! * [`codes`] — the code families and their parsers (supervision codes by FF1, GS1 element
//!   strings and Digital Link, GTINs, scratch PINs, credit codes, division codes). Pure.
//! * [`keys`] — the key file: code keys and lookup keys, outside the database.
//! * [`live_keys`] — the key file as a running server sees it, reloaded after a rotation.
//! * [`verdict`] — the verdict engine: facts + history → authenticity, warnings, cases. Pure.
//! * [`store`] — sqlx over SQLite (default) or PostgreSQL; migrations.
//! * [`lifecycle`] — enterprises, prefixes, products, ranges, activation, uploads.
//! * [`feeds`] — regulatory status feeds: import, supersede/withdraw, the recall notice outbox.
//! * [`kiosk_certs`] — which client certificate each kiosk authenticates with; revocation.
//! * [`verify`] — the facade every channel calls: resolve, record, answer.
//! * [`consumer_report`] — reports of suspected fakes as cases: standalone (a query of their
//!   own) or of a verdict just shown (linked to that query's event, nothing recorded again).
//! * [`resolve`] — what a text names (reads, through [`catalog`], the LRU cache).
//! * [`recorder`] — the group-commit writer: count, decide, store the event, open cases.
//! * [`cases`] — routing, lifecycle, escalation and signed delivery of cases to regulators.
//! * [`audit`] — the append-only, hash-chained audit log.
//! * [`advice`] — the verdict in words, zh and en.
//! * [`contacts`] — phone numbers of texters and callers: encrypted, keyed hash, opt-out.
//! * [`call_log`] — the hotline's stored call log (caller encrypted, masked for display).
//! * [`retention`] — how long personal data is kept: the periodic purge of numbers and logs.
//! * [`numbers`] — number-derived places: mobile segments and area codes → division codes.
//! * [`rate_limit`] — per-source token buckets (sans-I/O; the caller passes the clock).
//! * [`clock`] — "today" and displayed times in China Standard Time.
//! * [`demo`] — the demo dataset.

pub mod advice;
pub mod audit;
pub mod call_log;
pub mod cases;
pub mod catalog;
pub mod checkpoint;
pub mod clock;
pub mod codes;
pub mod consumer_report;
pub mod contacts;
pub mod demo;
pub mod enterprise;
pub mod facts;
pub mod feeds;
pub mod keys;
pub mod kiosk_certs;
pub mod lifecycle;
pub mod live_keys;
pub mod numbers;
pub mod rate_limit;
pub mod recorder;
pub mod resolve;
pub mod retention;
pub mod sms_mt;
pub mod store;
pub mod verdict;
pub mod verify;
pub mod write_tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use advice::Lang;
pub use keys::Keyring;
pub use lifecycle::Registry;
pub use store::Store;
pub use verdict::{Authenticity, Channel, Thresholds, Warning};
pub use verify::{Query, Verdict, Verifier};

/// Where a zhenwei instance keeps its state.
#[derive(Clone, Debug)]
pub struct Location {
    /// The data directory (SQLite database, key file by default).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means the SQLite file in the data directory.
    pub database_url: Option<String>,
    /// The key file; `None` means `<data_dir>/keys.json`.
    pub key_file: Option<PathBuf>,
}

/// Why an instance could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// An opened instance: storage, keys, and the two services built on them.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub keys: Arc<live_keys::LiveKeys>,
    pub verifier: Verifier,
    pub registry: Registry,
}

impl Location {
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys.json"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Store::sqlite_url(&self.data_dir))
    }
}

impl Core {
    /// Opens (creating on first use) the data directory, key file and database.
    pub async fn open(loc: &Location, thresholds: Thresholds) -> Result<Core, OpenError> {
        create_dir(&loc.data_dir)?;
        let keys = Arc::new(live_keys::LiveKeys::open_or_create(loc.key_file())?);
        let store = Store::connect(&loc.database_url()).await?;
        Ok(Core {
            verifier: Verifier::new(
                store.clone(),
                keys.clone(),
                thresholds,
                Arc::new(catalog::Catalog::new(catalog::DEFAULT_CAPACITY)),
            ),
            registry: Registry::new(store.clone(), keys.clone()),
            store,
            keys,
        })
    }
}

fn create_dir(dir: &Path) -> Result<(), store::StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| store::StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })
}
