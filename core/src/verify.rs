//! Verification: resolve what a code names, record the query atomically, decide, answer.
//!
//! [`Verifier::verify`] is the single entry point every channel uses. It runs three steps:
//!
//! 1. **Resolve** ([`crate::resolve`], reads only, mostly from the [catalog
//!    cache](crate::catalog)): what item or product the text names, its lifecycle, batch,
//!    prefix status and regulatory notices.
//! 2. **Record and decide** ([`crate::recorder`], one group-committed write transaction): bump
//!    the code's counter with an upsert that returns the new count and the first query — so the
//!    count is exact however many processes share the database — read the few history signals
//!    the clone and enumeration rules need, call the pure [`crate::verdict::decide`], insert the
//!    query event, and open or update cases. The transaction commits before anything is
//!    returned: no answer exists for an event that was not stored.
//! 3. **Answer**: the [`Verdict`] and its advice text.
//!
//! Consumer reports (`report`, `report_seen`, `report_once`) are in [`crate::consumer_report`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::advice::Lang;
use crate::catalog::Catalog;
use crate::codes::division::DivisionCode;
use crate::codes::{self, Family};
pub use crate::consumer_report::ReportFiling;
use crate::facts::{BatchFacts, EnterpriseFacts, NoticeFacts, ProductFacts};
use crate::live_keys::LiveKeys;
use crate::recorder::RecordContext;
pub use crate::recorder::Recorder;
pub use crate::resolve::Resolution;
use crate::resolve::Resolver;
use crate::store::{Store, StoreError};
use crate::verdict::{Authenticity, CaseReason, Channel, PrefixStatus, Thresholds, Warning};

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
    /// The database contradicts itself (a row another row points to is missing).
    #[error("inconsistent data: {0}")]
    Inconsistent(String),
    /// The recorder has stopped (the process is shutting down).
    #[error("the verification service is shutting down")]
    Unavailable,
}

impl From<crate::cases::CaseError> for VerifyError {
    fn from(e: crate::cases::CaseError) -> Self {
        match e {
            crate::cases::CaseError::Store(s) => VerifyError::Store(s),
            other => VerifyError::Inconsistent(other.to_string()),
        }
    }
}

impl From<crate::contacts::ContactError> for VerifyError {
    fn from(e: crate::contacts::ContactError) -> Self {
        match e {
            crate::contacts::ContactError::Store(s) => VerifyError::Store(s),
            other => VerifyError::Inconsistent(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        VerifyError::Store(StoreError::Db(e))
    }
}

/// The verification service. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    store: Store,
    keys: Arc<LiveKeys>,
    thresholds: Arc<Thresholds>,
    catalog: Arc<Catalog>,
    resolver: Resolver,
    recorder: Recorder,
}

impl Verifier {
    /// Builds the verifier and starts its recorder on the current tokio runtime.
    pub fn new(
        store: Store,
        keys: Arc<LiveKeys>,
        thresholds: Thresholds,
        catalog: Arc<Catalog>,
    ) -> Verifier {
        let thresholds = Arc::new(thresholds);
        let resolver = Resolver::new(store.clone(), keys.clone(), catalog.clone());
        let recorder = Recorder::start(
            store.clone(),
            resolver.clone(),
            catalog.clone(),
            RecordContext {
                keys: keys.clone(),
                thresholds: thresholds.clone(),
            },
        );
        Verifier {
            store,
            keys,
            thresholds,
            catalog,
            resolver,
            recorder,
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

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Answers a query and records it. The returned verdict's event is durable.
    pub async fn verify(&self, q: &Query) -> Result<Verdict, VerifyError> {
        let generation = self.catalog.generation();
        let r = self.resolver.resolve(&q.input).await?;
        self.recorder.record(q.clone(), r, generation).await
    }

    /// What a text resolves to, without recording anything.
    pub async fn resolve(&self, input: &str) -> Result<Resolution, VerifyError> {
        self.resolver.resolve(input).await
    }
}

/// Where a case is handled (SPEC "Routing", [`crate::cases::routing::case_place`]): the place
/// of the conduct when known; batch-level counterfeiting at the manufacturer's location — where
/// the batch was made (`batches.made_in`, registered for contract manufacturing), else the
/// enterprise's; otherwise the enterprise's location.
pub(crate) fn case_place(
    reason: CaseReason,
    query_place: Option<&str>,
    r: &Resolution,
) -> Option<String> {
    let enterprise_place = r.enterprise.as_ref().map(|e| e.division.as_str());
    let manufacturer = r
        .batch
        .as_ref()
        .and_then(|b| b.made_in.as_deref())
        .or(enterprise_place);
    crate::cases::routing::case_place(reason, query_place, manufacturer, enterprise_place)
}

/// The keyed hash a source is stored and found under (`query_events.source_key`,
/// `contacts.source_key`): the same person on the same channel always has the same key, and the
/// key reveals nothing without the key file.
pub fn source_key(keyring: &crate::keys::Keyring, channel: Channel, source: &str) -> String {
    keyring.lookup_hash("source", &format!("{}:{}", channel.as_str(), source))
}

impl Verifier {
    /// Has the core caught this source guessing codes (an enumeration case updated within the
    /// enumeration window)? Channels ask before verifying, so a source that is enumerating stops
    /// getting answers until it has been quiet for a whole window. One indexed read.
    pub async fn enumerating(&self, channel: Channel, source: &str) -> Result<bool, VerifyError> {
        let key = format!(
            "src:{}",
            source_key(&self.keys.current().keyring, channel, source)
        );
        let since = crate::store::now_ms() - self.thresholds.enumeration_window_minutes * 60_000;
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE code_key = $1 AND reason = $2 AND updated_at >= $3",
        )
        .bind(&key)
        .bind(CaseReason::Enumeration.as_str())
        .bind(since)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(hit.is_some())
    }
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
    /// The query events of a code, oldest first, by walking the code's event chain back from
    /// its counter row (migration 0020). Read-only.
    pub async fn history(
        &self,
        input: &str,
    ) -> Result<Option<(String, Vec<QueryEvent>)>, VerifyError> {
        let r = self.resolver.resolve(input).await?;
        if r.code_key.is_empty() {
            return Ok(None);
        }
        let events = sqlx::query_as::<_, QueryEvent>(
            "WITH RECURSIVE chain(id) AS ( \
                 SELECT last_event_id FROM code_history WHERE code_key = $1 \
                 UNION ALL \
                 SELECT e.prev_event_id FROM query_events e JOIN chain c ON e.id = c.id \
                 WHERE e.prev_event_id IS NOT NULL) \
             SELECT id, channel, source_masked AS source, store_id, place, city, at, authenticity, \
             warnings, query_number FROM query_events WHERE id IN (SELECT id FROM chain) \
             ORDER BY query_number, id",
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
