//! The recorder: every query is written durably before it is answered, many per transaction.
//!
//! A verify's write — bump the code's counter, read the history signals, decide, insert the
//! event, open cases — is small; committing it costs an fsync. The recorder is one writer task
//! per process that takes queries off a queue and *group-commits* them: whatever queued up while
//! the previous transaction was committing goes into the next one (up to [`MAX_BATCH`]). Each
//! caller is answered only after the transaction holding its event has committed, so no answer
//! exists for a lost event, and under load one fsync serves a whole batch.
//!
//! Inside a batch, queries are ordered by code key, so two processes writing the same codes take
//! their row locks in the same order. If a batch fails (a serialisation error, say), each of its
//! queries is retried in a transaction of its own, so one bad query cannot fail its neighbours.
//!
//! The recorder also closes the [catalog](crate::catalog) loop: it reads `catalog_version` in
//! each transaction, and when the catalog changed — or a query was resolved before the cache was
//! last invalidated — re-resolves before deciding.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::advice;
use crate::catalog::{self, Catalog};
use crate::codes::division::DivisionCode;
use crate::codes::Family;
use crate::live_keys::LiveKeys;
use crate::resolve::{Resolution, Resolver};
use crate::store::{now_ms, Store};
use crate::verdict::{decide, CaseReason, History, Identity, Thresholds};
use crate::verify::{case_place, mask_source, open_or_update_case, Query, Verdict, VerifyError};

/// Most queries in one transaction.
pub const MAX_BATCH: usize = 256;
/// Queries waiting for the writer before callers wait to enqueue.
pub const QUEUE: usize = 8192;
/// Upper bounds of the batch-size histogram buckets.
pub const BATCH_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RecorderStats {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    pub failed_batches: AtomicU64,
    pub reresolved: AtomicU64,
    /// Queries enqueued and not yet answered.
    pub queued: AtomicI64,
    /// Cumulative counts per bucket of [`BATCH_BUCKETS`] (Prometheus `le` semantics).
    pub batch_sizes: [AtomicU64; 9],
}

struct Job {
    query: Query,
    resolution: Resolution,
    /// Catalog generation before the query was resolved.
    generation: u64,
    reply: oneshot::Sender<Result<Verdict, VerifyError>>,
}

/// What recording needs besides the transaction.
#[derive(Clone)]
pub struct RecordContext {
    pub keys: Arc<LiveKeys>,
    pub thresholds: Arc<Thresholds>,
}

/// The handle callers use; the writer task runs until every handle is dropped.
#[derive(Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Job>,
    stats: Arc<RecorderStats>,
}

struct Writer {
    store: Store,
    resolver: Resolver,
    catalog: Arc<Catalog>,
    ctx: RecordContext,
    stats: Arc<RecorderStats>,
}

impl Recorder {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(
        store: Store,
        resolver: Resolver,
        catalog: Arc<Catalog>,
        ctx: RecordContext,
    ) -> Recorder {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let stats = Arc::new(RecorderStats::default());
        let writer = Writer {
            store,
            resolver,
            catalog,
            ctx,
            stats: stats.clone(),
        };
        tokio::spawn(writer.run(receiver));
        Recorder { sender, stats }
    }

    /// Records a resolved query and returns its verdict once it is durable.
    /// `generation` is the catalog generation read *before* resolving.
    pub async fn record(
        &self,
        query: Query,
        resolution: Resolution,
        generation: u64,
    ) -> Result<Verdict, VerifyError> {
        let (reply, answer) = oneshot::channel();
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .sender
            .send(Job {
                query,
                resolution,
                generation,
                reply,
            })
            .await;
        let result = match sent {
            Ok(()) => answer.await.unwrap_or(Err(VerifyError::Unavailable)),
            Err(_) => Err(VerifyError::Unavailable),
        };
        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        result
    }

    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }
}

impl Writer {
    async fn run(self, mut receiver: mpsc::Receiver<Job>) {
        while let Some(first) = receiver.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.process(jobs).await;
        }
    }

    async fn process(&self, mut jobs: Vec<Job>) {
        jobs.sort_by(|a, b| a.resolution.code_key.cmp(&b.resolution.code_key));
        let n = jobs.len() as u64;
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        for (i, bound) in BATCH_BUCKETS.iter().enumerate() {
            if n <= *bound {
                self.stats.batch_sizes[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        match self.transaction(&mut jobs).await {
            Ok(verdicts) => {
                self.stats.events.fetch_add(n, Ordering::Relaxed);
                for (job, v) in jobs.into_iter().zip(verdicts) {
                    let _ = job.reply.send(Ok(v));
                }
            }
            Err(e) if jobs.len() == 1 => {
                tracing::warn!(error = %e, "recording a query failed");
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, batch = n, "batch failed; retrying its queries one by one");
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                for job in jobs {
                    let mut one = vec![job];
                    let result = self
                        .transaction(&mut one)
                        .await
                        .and_then(|mut v| v.pop().ok_or(VerifyError::Unavailable));
                    if result.is_ok() {
                        self.stats.events.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(job) = one.pop() {
                        let _ = job.reply.send(result);
                    }
                }
            }
        }
    }

    async fn transaction(&self, jobs: &mut [Job]) -> Result<Vec<Verdict>, VerifyError> {
        let mut tx = self.store.pool().begin().await?;
        let version = catalog::read_version(&mut tx, self.store.backend()).await?;
        self.catalog.check_version(version);
        let generation = self.catalog.generation();
        for job in jobs.iter_mut() {
            if job.generation != generation {
                job.resolution = self.resolver.resolve(&job.query.input).await?;
                job.generation = generation;
                self.stats.reresolved.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut verdicts = Vec::with_capacity(jobs.len());
        for job in jobs.iter() {
            verdicts
                .push(record_in_tx(&mut tx, &self.ctx, &job.query, job.resolution.clone()).await?);
        }
        tx.commit().await?;
        Ok(verdicts)
    }
}

/// Counts the query, reads the history signals, decides, stores the event and cases — all in
/// `tx`, which the caller commits.
pub async fn record_in_tx(
    tx: &mut Transaction<'_, Any>,
    ctx: &RecordContext,
    q: &Query,
    r: Resolution,
) -> Result<Verdict, VerifyError> {
    let at = now_ms();
    let source_key = ctx
        .keys
        .current()
        .keyring
        .lookup_hash("source", &format!("{}:{}", q.channel.as_str(), q.source));
    let source_masked = mask_source(q.channel, &q.source);
    let place = q.place.as_ref().map(|p| p.as_str().to_owned());
    let city = q.place.as_ref().map(|p| p.city().as_str().to_owned());
    let t = &ctx.thresholds;

    let mut history = History::default();
    let mut first: Option<(i64, Option<String>)> = None;
    if !r.code_key.is_empty() {
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
        .fetch_one(&mut **tx)
        .await?;
        history.count = count;
        first = Some((first_at, first_place));

        if count > 1 {
            // One read for both clone rules: the distinct (city, store, within-window) triples of
            // this code's earlier events.
            let window_start = at - t.clone_window_hours * 3_600_000;
            let rows: Vec<(Option<String>, Option<i64>, i64)> = sqlx::query_as(
                "SELECT DISTINCT city, store_id, CASE WHEN at >= $2 THEN 1 ELSE 0 END \
                 FROM query_events WHERE code_key = $1 \
                 AND (city IS NOT NULL OR store_id IS NOT NULL)",
            )
            .bind(&r.code_key)
            .bind(window_start)
            .fetch_all(&mut **tx)
            .await?;
            let mut cities: BTreeSet<String> = rows
                .iter()
                .filter(|(_, _, recent)| *recent == 1)
                .filter_map(|(c, _, _)| c.clone())
                .collect();
            cities.extend(city.clone());
            history.cities_in_window = cities.len() as i64;
            let mut stores: BTreeSet<i64> = rows.iter().filter_map(|(_, s, _)| *s).collect();
            stores.extend(q.store_id);
            history.stores = stores.len() as i64;
        } else {
            // The first query: no earlier events to read.
            history.cities_in_window = i64::from(city.is_some());
            history.stores = i64::from(q.store_id.is_some());
        }

        if matches!(r.identity, Identity::Unrecognised) {
            history.same_source_repeats = if count > 1 {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM query_events WHERE code_key = $1 AND source_key = $2",
                )
                .bind(&r.code_key)
                .bind(&source_key)
                .fetch_one(&mut **tx)
                .await?
            } else {
                0
            };
            let enum_start = at - t.enumeration_window_minutes * 60_000;
            let mut others: BTreeSet<String> = sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT code_key FROM query_events \
                 WHERE source_key = $1 AND at >= $2 AND code_key LIKE 'u:%'",
            )
            .bind(&source_key)
            .bind(enum_start)
            .fetch_all(&mut **tx)
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
    .fetch_one(&mut **tx)
    .await?;

    let mut case_ids = Vec::new();
    for reason in &decision.case_reasons {
        let case_key = match reason {
            CaseReason::Enumeration => format!("src:{source_key}"),
            _ => r.code_key.clone(),
        };
        let id = open_or_update_case(
            tx,
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
