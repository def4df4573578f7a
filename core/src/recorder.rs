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

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::advice;
use crate::catalog::{self, Catalog};
use crate::codes::division::DivisionCode;
use crate::codes::Family;
use crate::live_keys::LiveKeys;
use crate::resolve::{Resolution, Resolver};
use crate::store::{now_ms, Backend, Store, StoreError};
use crate::verdict::{decide, CaseReason, Channel, History, Identity, Thresholds};
use crate::verify::{case_place, mask_source, Query, Verdict, VerifyError};
use crate::write_tx::{open_sqlite, param_list, placeholders, Param, SqliteTx, WriteTx};

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

/// Where the writer's transactions run: the shared pool (PostgreSQL), or the writer's own
/// SQLite connection (see [`crate::write_tx`] for why).
trait BatchDb {
    async fn transaction(
        &mut self,
        parts: &BatchParts<'_>,
        jobs: &mut [Job],
    ) -> Result<Vec<Verdict>, VerifyError>;
}

struct PoolDb(Store);

impl BatchDb for PoolDb {
    async fn transaction(
        &mut self,
        parts: &BatchParts<'_>,
        jobs: &mut [Job],
    ) -> Result<Vec<Verdict>, VerifyError> {
        let mut tx = self.0.pool().begin().await?;
        let verdicts = parts.record(&mut tx, jobs, false).await?;
        tx.commit().await?;
        Ok(verdicts)
    }
}

struct SqliteDb {
    conn: rusqlite::Connection,
    slots: HashMap<String, Vec<usize>>,
    /// Checkpoints the log off this connection's commits (dropped with the writer).
    _checkpointer: Option<crate::checkpoint::Checkpointer>,
}

impl BatchDb for SqliteDb {
    async fn transaction(
        &mut self,
        parts: &BatchParts<'_>,
        jobs: &mut [Job],
    ) -> Result<Vec<Verdict>, VerifyError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let mut tx = SqliteTx {
            tx,
            slots: &mut self.slots,
        };
        let verdicts = parts.record(&mut tx, jobs, true).await?;
        tx.tx.commit().map_err(StoreError::from)?;
        Ok(verdicts)
    }
}

struct Writer<D> {
    db: D,
    store: Store,
    resolver: Resolver,
    catalog: Arc<Catalog>,
    ctx: RecordContext,
    stats: Arc<RecorderStats>,
}

impl Recorder {
    /// Starts the writer: on PostgreSQL a task on the current tokio runtime; on SQLite a
    /// thread of its own with its own connection, driven by the same runtime's handle.
    pub fn start(
        store: Store,
        resolver: Resolver,
        catalog: Arc<Catalog>,
        ctx: RecordContext,
    ) -> Recorder {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let stats = Arc::new(RecorderStats::default());
        let own = match store.sqlite_path().map(own_connection) {
            Some(Ok(own)) => Some(own),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "recorder: own SQLite connection failed; using the pool");
                None
            }
            None => None,
        };
        let parts = (store, resolver, catalog, ctx, stats.clone());
        match own {
            None => {
                let mut w = Writer::new(PoolDb(parts.0.clone()), parts);
                tokio::spawn(async move { w.run(receiver).await });
            }
            Some((conn, checkpointer)) => {
                let mut w = Writer::new(
                    SqliteDb {
                        conn,
                        slots: HashMap::new(),
                        _checkpointer: checkpointer,
                    },
                    parts,
                );
                let runtime = tokio::runtime::Handle::current();
                let started = std::thread::Builder::new()
                    .name("zhenwei-recorder".into())
                    .spawn(move || runtime.block_on(w.run(receiver)));
                if let Err(e) = started {
                    // Every verify then answers "unavailable" instead of an unrecorded verdict.
                    tracing::error!(error = %e, "cannot start the recorder thread");
                }
            }
        }
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

/// The recorder's own SQLite connection, and the checkpointer that takes the log's checkpoints
/// off its commits (without one, the connection keeps SQLite's automatic checkpoints).
fn own_connection(
    path: &std::path::Path,
) -> Result<
    (
        rusqlite::Connection,
        Option<crate::checkpoint::Checkpointer>,
    ),
    StoreError,
> {
    let conn = open_sqlite(path)?;
    let checkpointer = match crate::checkpoint::start(path) {
        Ok(c) => {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
            Some(c)
        }
        Err(e) => {
            tracing::warn!(error = %e, "recorder: no checkpoint thread; checkpointing on commit");
            None
        }
    };
    Ok((conn, checkpointer))
}

type WriterParts = (
    Store,
    Resolver,
    Arc<Catalog>,
    RecordContext,
    Arc<RecorderStats>,
);

impl<D: BatchDb> Writer<D> {
    fn new(db: D, (store, resolver, catalog, ctx, stats): WriterParts) -> Self {
        Writer {
            db,
            store,
            resolver,
            catalog,
            ctx,
            stats,
        }
    }

    async fn run(&mut self, mut receiver: mpsc::Receiver<Job>) {
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

    async fn process(&mut self, mut jobs: Vec<Job>) {
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

    async fn transaction(&mut self, jobs: &mut [Job]) -> Result<Vec<Verdict>, VerifyError> {
        let parts = BatchParts {
            store: &self.store,
            resolver: &self.resolver,
            catalog: &self.catalog,
            ctx: &self.ctx,
            stats: &self.stats,
        };
        self.db.transaction(&parts, jobs).await
    }
}

/// What one batch transaction needs of the writer (borrowed apart from its connection).
struct BatchParts<'w> {
    store: &'w Store,
    resolver: &'w Resolver,
    catalog: &'w Catalog,
    ctx: &'w RecordContext,
    stats: &'w RecorderStats,
}

impl BatchParts<'_> {
    /// `lock_held`: the transaction began IMMEDIATE (the recorder's own SQLite connection), so
    /// the catalog version is read without the write that takes the lock on the pool's path.
    async fn record<T: WriteTx>(
        &self,
        tx: &mut T,
        jobs: &mut [Job],
        lock_held: bool,
    ) -> Result<Vec<Verdict>, VerifyError> {
        let version = if lock_held {
            catalog::read_version_locked(tx).await?
        } else {
            catalog::read_version(tx, self.store.backend()).await?
        };
        self.catalog.check_version(version);
        let generation = self.catalog.generation();
        for job in jobs.iter_mut() {
            if job.generation != generation {
                job.resolution = self.resolver.resolve(&job.query.input).await?;
                job.generation = generation;
                self.stats.reresolved.fetch_add(1, Ordering::Relaxed);
            }
        }
        let batch: Vec<(&Query, &Resolution)> =
            jobs.iter().map(|j| (&j.query, &j.resolution)).collect();
        record_batch(tx, self.store.backend(), self.ctx, &batch).await
    }
}

/// One query of a batch on its way through [`record_batch`].
struct Pending<'a> {
    q: &'a Query,
    r: &'a Resolution,
    source_key: String,
    place: Option<String>,
    city: Option<String>,
    history: History,
    first: Option<(i64, Option<String>)>,
    /// This event's id, allocated before anything is written (see [`allocate_event_ids`]).
    event_id: i64,
    /// The code's event before this one: the link of the code's history chain.
    prev_event: Option<i64>,
    case_ids: Vec<i64>,
}

/// Ids for `n` new query events, ascending, reserved before anything of the batch is written:
/// the code-history upsert names each code's last event, and each event names its predecessor.
/// SQLite: the recorder holds the write lock, so the next ids follow the highest ever used
/// (`sqlite_sequence` remembers ids of deleted events too). PostgreSQL: the identity's sequence.
async fn allocate_event_ids<T: WriteTx>(
    tx: &mut T,
    backend: Backend,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    match backend {
        Backend::Sqlite => {
            let last = tx
                .fetch_one(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence \
                     WHERE name = 'query_events'), 0), COALESCE((SELECT MAX(id) FROM query_events), 0))",
                    vec![],
                )
                .await?
                .int(0)?;
            Ok((1..=count).map(|k| last + k).collect())
        }
        Backend::Postgres => {
            let mut ids = tx
                .fetch(
                    "SELECT nextval(pg_get_serial_sequence('query_events', 'id')) \
                     FROM generate_series(1::bigint, $1)",
                    vec![count.into()],
                )
                .await?
                .iter()
                .map(|row| row.int(0))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort_unstable();
            Ok(ids)
        }
    }
}

/// The counter upsert for `rows` codes, 7 parameters each (`code_key, query_count, first_at,
/// first_place, last_at, last_event_id, tail_before`): each code's count grows by its queries in
/// the batch, its chain moves to the batch's last event, and the row as it now stands comes
/// back with the chain link it had before (`tail_before`). Also what `bench/write-floor.sh`
/// measures, so the floor is this statement.
pub fn counter_upsert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO code_history (code_key, query_count, first_at, first_place, last_at, \
         last_event_id, tail_before) VALUES {} ON CONFLICT (code_key) DO UPDATE SET \
         query_count = code_history.query_count + excluded.query_count, \
         last_at = excluded.last_at, tail_before = code_history.last_event_id, \
         last_event_id = excluded.last_event_id \
         RETURNING code_key, query_count, first_at, first_place, tail_before",
        placeholders(rows, 7)
    )
}

/// The event insert for `rows` events, 16 parameters each, in the column order below (also what
/// `bench/write-floor.sh` measures).
pub fn event_insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO query_events (id, prev_event_id, code_key, family, channel, source_key, \
         source_masked, store_id, place, city, at, authenticity, warnings, query_number, \
         product_id, batch_id) VALUES {}",
        placeholders(rows, 16)
    )
}

/// Rows per multi-row statement (keeps every statement under both backends' parameter limits).
const ROWS_PER_STATEMENT: usize = 100;

/// Records a batch of resolved queries in `tx` (which the caller commits) with a handful of
/// statements for the whole batch: one multi-row counter upsert, one history read for the codes
/// queried before, one multi-row event insert, and for suspect verdicts one case upsert and one
/// case-event insert. Queries of the same code within the batch are counted in batch order, and
/// each sees the ones before it, exactly as if they had been recorded one by one.
pub async fn record_batch<T: WriteTx>(
    tx: &mut T,
    backend: Backend,
    ctx: &RecordContext,
    jobs: &[(&Query, &Resolution)],
) -> Result<Vec<Verdict>, VerifyError> {
    let at = now_ms();
    let t = &ctx.thresholds;
    let keys = ctx.keys.current();
    let ids = allocate_event_ids(tx, backend, jobs.len()).await?;
    let mut p: Vec<Pending> = jobs
        .iter()
        .zip(ids)
        .map(|((q, r), event_id)| Pending {
            q,
            r,
            source_key: crate::verify::source_key(&keys.keyring, q.channel, &q.source),
            place: q.place.as_ref().map(|d| d.as_str().to_owned()),
            city: q.place.as_ref().map(|d| d.city().as_str().to_owned()),
            history: History::default(),
            first: None,
            event_id,
            prev_event: None,
            case_ids: Vec::new(),
        })
        .collect();

    // 1. Counters: one upsert row per distinct code, incremented by its number of queries here.
    let mut order: Vec<String> = Vec::new();
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, x) in p.iter().enumerate() {
        if x.r.code_key.is_empty() {
            continue;
        }
        members
            .entry(x.r.code_key.clone())
            .or_insert_with(|| {
                order.push(x.r.code_key.clone());
                Vec::new()
            })
            .push(i);
    }
    let mut prior: HashMap<String, i64> = HashMap::new();
    for chunk in order.chunks(ROWS_PER_STATEMENT) {
        let sql = counter_upsert_sql(chunk.len());
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for key in chunk {
            let idx = &members[key];
            let last = idx.last().map_or(0, |&i| p[i].event_id);
            params.extend([
                key.into(),
                (idx.len() as i64).into(),
                at.into(),
                p[idx[0]].place.clone().into(),
                at.into(),
                last.into(),
                Param::NullInt,
            ]);
        }
        for row in tx.fetch(&sql, params).await? {
            let (key, total, first_at, first_place, tail) = (
                row.text(0)?,
                row.int(1)?,
                row.int(2)?,
                row.opt_text(3)?,
                row.opt_int(4)?,
            );
            let Some(idx) = members.get(&key) else {
                continue;
            };
            let before = total - idx.len() as i64;
            prior.insert(key, before);
            let mut prev = tail;
            for (n, &i) in idx.iter().enumerate() {
                p[i].history.count = before + 1 + n as i64;
                p[i].first = Some((first_at, first_place.clone()));
                p[i].prev_event = prev;
                prev = Some(p[i].event_id);
            }
        }
    }

    // 2. History of codes queried before this batch: one read for all of them.
    let window_start = at - t.clone_window_hours * 3_600_000;
    let seen: Vec<&String> = order
        .iter()
        .filter(|k| prior.get(*k).copied().unwrap_or(0) > 0)
        .collect();
    let mut prior_cities: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut prior_stores: HashMap<String, BTreeSet<String>> = HashMap::new();
    for chunk in seen.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT code_key, kind, value, last_at FROM code_sightings WHERE code_key IN ({})",
            param_list(chunk.len())
        );
        let params = chunk.iter().map(|key| Param::from(*key)).collect();
        for row in tx.fetch(&sql, params).await? {
            let (key, kind, value, last_at) =
                (row.text(0)?, row.text(1)?, row.text(2)?, row.int(3)?);
            match kind.as_str() {
                "city" if last_at >= window_start => {
                    prior_cities.entry(key).or_default().insert(value);
                }
                "store" => {
                    prior_stores.entry(key).or_default().insert(value);
                }
                _ => {}
            }
        }
    }

    // 3. Per query, in batch order: history signals (including earlier queries of this batch),
    //    then the decision.
    let enum_start = at - t.enumeration_window_minutes * 60_000;
    let mut decisions = Vec::with_capacity(p.len());
    for i in 0..p.len() {
        let key = p[i].r.code_key.clone();
        if !key.is_empty() {
            let cities = prior_cities.entry(key.clone()).or_default();
            cities.extend(p[i].city.clone());
            p[i].history.cities_in_window = cities.len() as i64;
            let stores = prior_stores.entry(key.clone()).or_default();
            stores.extend(p[i].q.store_id.map(|s| s.to_string()));
            p[i].history.stores = stores.len() as i64;
        }
        if matches!(p[i].r.identity, Identity::Unrecognised) {
            let (source, earlier) = (&p[i].source_key, &p[..i]);
            let in_batch_repeats = earlier
                .iter()
                .filter(|e| e.r.code_key == key && e.source_key == *source)
                .count() as i64;
            // The rule asks only whether this source entered this code before.
            let stored_repeats: i64 = if prior.get(&key).copied().unwrap_or(0) > 0 {
                tx.fetch_one(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM query_events WHERE code_key = $1 \
                     AND source_key = $2 AND code_key LIKE 'u:%' LIMIT 1) AS earlier",
                    vec![(&key).into(), source.into()],
                )
                .await?
                .int(0)?
            } else {
                0
            };
            // Bounded: the rule only asks whether the threshold is reached, and an unbounded
            // read would make every guess of an ongoing attack slower than the last.
            // Distinct codes among this source's most recent unknown queries in the window
            // (at most ten times the threshold of them), through the partial index of unknown
            // events.
            let mut unknown: BTreeSet<String> = tx
                .fetch(
                    "SELECT DISTINCT code_key FROM (SELECT code_key FROM query_events \
                     WHERE source_key = $1 AND at >= $2 AND code_key LIKE 'u:%' \
                     ORDER BY at DESC LIMIT $3) AS recent",
                    vec![
                        source.into(),
                        enum_start.into(),
                        (t.enumeration_unknown_codes * 10).into(),
                    ],
                )
                .await?
                .iter()
                .map(|row| row.text(0))
                .collect::<Result<_, _>>()?;
            unknown.extend(
                earlier
                    .iter()
                    .filter(|e| e.source_key == *source && e.r.code_key.starts_with("u:"))
                    .map(|e| e.r.code_key.clone()),
            );
            unknown.insert(key.clone());
            p[i].history.same_source_repeats = stored_repeats + in_batch_repeats;
            p[i].history.source_unknown_codes = unknown.len() as i64;
        }
        decisions.push(decide(p[i].r.identity, p[i].history, p[i].q.channel, t));
    }

    // 4. Events, with the ids allocated above and each code's chain link.
    let warnings_text = |d: &crate::verdict::Decision| {
        d.warnings
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    for (n, chunk) in p.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = event_insert_sql(chunk.len());
        let mut params = Vec::with_capacity(chunk.len() * 16);
        for (j, x) in chunk.iter().enumerate() {
            let d = &decisions[n * ROWS_PER_STATEMENT + j];
            params.extend([
                x.event_id.into(),
                x.prev_event.into(),
                (&x.r.code_key).into(),
                x.r.family.map(Family::as_str).unwrap_or("none").into(),
                x.q.channel.as_str().into(),
                (&x.source_key).into(),
                mask_source(x.q.channel, &x.q.source).into(),
                x.q.store_id.into(),
                x.place.clone().into(),
                x.city.clone().into(),
                at.into(),
                d.authenticity.as_str().into(),
                warnings_text(d).into(),
                x.history.count.into(),
                x.r.product.as_ref().map(|v| v.id).into(),
                x.r.batch.as_ref().map(|v| v.id).into(),
            ]);
        }
        tx.execute(&sql, params).await?;
    }

    // 4b. Sightings: one row per (code, city) and (code, store), its time moved forward.
    let mut sightings: BTreeSet<(&str, &str, String)> = BTreeSet::new();
    for x in p.iter().filter(|x| !x.r.code_key.is_empty()) {
        if let Some(city) = &x.city {
            sightings.insert((&x.r.code_key, "city", city.clone()));
        }
        if let Some(store) = x.q.store_id {
            sightings.insert((&x.r.code_key, "store", store.to_string()));
        }
    }
    let sightings: Vec<_> = sightings.into_iter().collect();
    for chunk in sightings.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO code_sightings (code_key, kind, value, last_at) VALUES {} \
             ON CONFLICT (code_key, kind, value) DO UPDATE SET last_at = excluded.last_at",
            placeholders(chunk.len(), 4)
        );
        let params = chunk
            .iter()
            .flat_map(|(key, kind, value)| [(*key).into(), (*kind).into(), value.into(), at.into()])
            .collect();
        tx.execute(&sql, params).await?;
    }

    // 4c. Texters' numbers: on file for replies and recall notices, committed with their events.
    let texters: Vec<(&str, Channel, &str)> = p
        .iter()
        .filter(|x| x.q.channel == Channel::Sms)
        .map(|x| (x.source_key.as_str(), x.q.channel, x.q.source.as_str()))
        .collect();
    if !texters.is_empty() {
        crate::contacts::seen_in(tx, &keys.keyring, &texters, at).await?;
    }

    // 5. Cases: one upsert row per (case key, reason), incremented by its events here.
    let mut case_order: Vec<(String, CaseReason)> = Vec::new();
    let mut case_members: HashMap<(String, CaseReason), Vec<usize>> = HashMap::new();
    for (i, d) in decisions.iter().enumerate() {
        for reason in &d.case_reasons {
            let case_key = match reason {
                CaseReason::Enumeration => format!("src:{}", p[i].source_key),
                _ => p[i].r.code_key.clone(),
            };
            let k = (case_key, *reason);
            case_members
                .entry(k.clone())
                .or_insert_with(|| {
                    case_order.push(k);
                    Vec::new()
                })
                .push(i);
        }
    }
    for chunk in case_order.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO cases (code_key, reason, status, product_id, batch_id, enterprise_id, \
             place, opened_at, updated_at, event_count) VALUES {} \
             ON CONFLICT (code_key, reason) DO UPDATE SET updated_at = excluded.updated_at, \
             event_count = cases.event_count + excluded.event_count \
             RETURNING id, code_key, reason, event_count, status",
            placeholders(chunk.len(), 10)
        );
        let mut params = Vec::with_capacity(chunk.len() * 10);
        for (case_key, reason) in chunk {
            let idx = &case_members[&(case_key.clone(), *reason)];
            let x = &p[idx[0]];
            params.extend([
                case_key.into(),
                reason.as_str().into(),
                "open".into(),
                x.r.product.as_ref().map(|v| v.id).into(),
                x.r.batch.as_ref().map(|v| v.id).into(),
                x.r.enterprise.as_ref().map(|v| v.id).into(),
                case_place(*reason, x.place.as_deref(), x.r).into(),
                at.into(),
                at.into(),
                (idx.len() as i64).into(),
            ]);
        }
        let mut links: Vec<(i64, i64)> = Vec::new();
        let mut opened: Vec<i64> = Vec::new();
        let mut opened_audit: Vec<crate::audit::NewEntry> = Vec::new();
        let mut updated: Vec<i64> = Vec::new();
        for row in tx.fetch(&sql, params).await? {
            let (id, case_key, reason_text, events, status) = (
                row.int(0)?,
                row.text(1)?,
                row.text(2)?,
                row.int(3)?,
                row.text(4)?,
            );
            let Some((key, reason)) = chunk
                .iter()
                .find(|(k, r)| *k == case_key && r.as_str() == reason_text)
            else {
                continue;
            };
            let idx = &case_members[&(key.clone(), *reason)];
            for &i in idx {
                links.push((id, p[i].event_id));
                // An enumeration case is about the source, for regulators; the person guessing
                // codes is not told a case number.
                if *reason != CaseReason::Enumeration {
                    p[i].case_ids.push(id);
                }
            }
            if events == idx.len() as i64 {
                let first = &p[idx[0]];
                opened_audit.push(crate::audit::NewEntry {
                    actor: "zhenwei",
                    action: "case.open",
                    subject: format!("case:{id}"),
                    detail: serde_json::json!({
                        "reason": reason.as_str(),
                        "place": case_place(*reason, first.place.as_deref(), first.r),
                        "event": first.event_id,
                    })
                    .to_string(),
                });
                opened.push(id);
            } else if crate::cases::casework::status_takes_updates(&status) {
                updated.push(id);
            }
        }
        for link_chunk in links.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO case_events (case_id, event_id) VALUES {}",
                placeholders(link_chunk.len(), 2)
            );
            let params = link_chunk
                .iter()
                .flat_map(|(case_id, event_id)| [Param::Int(*case_id), Param::Int(*event_id)])
                .collect();
            tx.execute(&sql, params).await?;
        }
        // New cases: their audit entries, then route them and queue their reports (the
        // outbox), in this transaction — a few statements for all of them.
        crate::audit::append_all(tx, &opened_audit).await?;
        crate::cases::casework::on_opened(tx, &opened, at).await?;
        // New evidence on cases already delivered (the status the upsert returned says which):
        // a coalesced update to office and enterprise.
        for id in updated {
            crate::cases::casework::on_evidence(tx, id, at).await?;
        }
    }

    // 6. The verdicts.
    Ok(p.into_iter()
        .zip(decisions)
        .map(|(x, decision)| {
            let (first_queried_at, first_queried_city) = match &x.first {
                Some((first_at, first_place)) => (
                    Some(*first_at),
                    first_place
                        .as_deref()
                        .and_then(|d| DivisionCode::parse(d).ok())
                        .and_then(|d| d.city_name(x.q.lang.is_en()))
                        .map(str::to_owned),
                ),
                None => (None, None),
            };
            let r = x.r.clone();
            let mut v = Verdict {
                authenticity: decision.authenticity,
                family: r.family,
                code: match r.family {
                    Some(Family::ScratchPin) => None,
                    _ => r.display_code.clone(),
                },
                warnings: decision.warnings,
                recheck: decision.recheck,
                query_count: x.history.count,
                first_query: x.history.count == 1,
                first_queried_at,
                first_queried_city,
                product: r.product,
                enterprise: r.enterprise,
                batch: r.batch,
                prefix_status: r.prefix_status,
                notices: r.notices,
                case_id: x.case_ids.first().copied(),
                case_ids: x.case_ids,
                message: String::new(),
                lang: x.q.lang,
                error: r.error,
                event_id: x.event_id,
                queried_at: at,
            };
            v.message = advice::message(&v, x.q.lang);
            v
        })
        .collect())
}
