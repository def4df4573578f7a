//! The write floor: the least a durable, group-committed query record can cost on SQLite.
//!
//! Issue 3's rules fix what every verify must write before it is answered: the code's counter
//! (count and first query come "from the same atomic write that records the event") and the
//! event itself, made durable. This program does exactly that and nothing more — one multi-row
//! counter upsert with `RETURNING`, one multi-row event insert, one commit per batch — on
//! zhenwei's own schema and connection settings (WAL, 4 KiB pages, 64 MiB cache, the log
//! checkpointed on a thread of its own), with no HTTP, no verdict rules and no case bookkeeping.
//! Whatever zhenwei's recorder costs above this is its own; this much is SQLite's and the disk's.
//!
//! `write-floor DIR SECONDS BATCH…` — for each batch size, measures the writer thread's CPU and
//! wall time per event over a hot set of 10⁴ codes, with `synchronous = FULL` (durable, as
//! zhenwei runs) and `synchronous = OFF` (what durability itself costs), and prints a Markdown
//! table. DIR must be empty or absent; it is left behind for inspection.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rusqlite::{params_from_iter, Connection};
use zhenwei_core::recorder::{counter_upsert_sql, event_insert_sql};
use zhenwei_core::store::Store;
use zhenwei_core::write_tx::open_sqlite;

const HOT_CODES: usize = 10_000;

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Run {
    events: u64,
    batches: u64,
    cpu: Duration,
    wall: Duration,
}

/// Records batches of `batch` distinct hot codes for `secs` seconds.
fn run(
    conn: &mut Connection,
    keys: &[String],
    batch: usize,
    secs: f64,
    next_id: &mut i64,
) -> rusqlite::Result<Run> {
    // zhenwei's own statements, so the floor is what the recorder runs.
    let upsert = counter_upsert_sql(batch);
    let insert = event_insert_sql(batch);
    let mut rng = rand::thread_rng();
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut out = Run {
        events: 0,
        batches: 0,
        cpu: Duration::ZERO,
        wall: Duration::ZERO,
    };
    while wall0.elapsed().as_secs_f64() < secs {
        let mut codes: Vec<&String> = keys.choose_multiple(&mut rng, batch).collect();
        codes.sort();
        let at = zhenwei_core::store::now_ms();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let first_id = *next_id;
        let mut counts = Vec::with_capacity(batch);
        {
            let mut stmt = tx.prepare_cached(&upsert)?;
            let params = codes.iter().enumerate().flat_map(|(i, k)| {
                [
                    rusqlite::types::Value::Text((*k).clone()),
                    1.into(),
                    at.into(),
                    rusqlite::types::Value::Null,
                    at.into(),
                    (first_id + i as i64).into(),
                    rusqlite::types::Value::Null,
                ]
            });
            let mut rows = stmt.query(params_from_iter(params))?;
            while let Some(row) = rows.next()? {
                counts.push((row.get::<_, i64>(1)?, row.get::<_, Option<i64>>(4)?));
            }
        }
        {
            let mut stmt = tx.prepare_cached(&insert)?;
            let params = codes.iter().enumerate().flat_map(|(i, k)| {
                let (count, prev) = counts.get(i).copied().unwrap_or((1, None));
                [
                    rusqlite::types::Value::Integer(first_id + i as i64),
                    prev.map_or(rusqlite::types::Value::Null, Into::into),
                    rusqlite::types::Value::Text((*k).clone()),
                    "supervision".to_owned().into(),
                    "web".to_owned().into(),
                    "s:0123456789abcdef0123".to_owned().into(),
                    "web".to_owned().into(),
                    rusqlite::types::Value::Null,
                    rusqlite::types::Value::Null,
                    rusqlite::types::Value::Null,
                    at.into(),
                    "suspect".to_owned().into(),
                    "excessive_queries".to_owned().into(),
                    count.into(),
                    1.into(),
                    1.into(),
                ]
            });
            stmt.execute(params_from_iter(params))?;
        }
        tx.commit()?;
        *next_id += batch as i64;
        out.events += batch as u64;
        out.batches += 1;
    }
    out.cpu = thread_cpu() - cpu0;
    out.wall = wall0.elapsed();
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: write-floor DIR SECONDS BATCH…")?;
    let secs: f64 = args.next().ok_or("no SECONDS")?.parse()?;
    let batches: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    std::fs::create_dir_all(&dir)?;
    let path = Path::new(&dir).join("floor.db");
    // zhenwei's schema, by zhenwei's own migrations.
    drop(Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?);
    let mut conn = open_sqlite(&path)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    let _checkpointer = zhenwei_core::checkpoint::start(&path)?;
    let keys: Vec<String> = (0..HOT_CODES)
        .map(|i| {
            format!(
                "g:{:020}",
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10u64.pow(19)
            )
        })
        .collect();
    let mut next_id = 1;
    // Every hot code queried once before measuring: the counters exist, as on the hot set.
    run(&mut conn, &keys, 100, 1.0, &mut next_id)?;

    println!("| synchronous | batch | events/s (one writer) | writer CPU µs/event | wall µs/event | wall µs/batch |");
    println!("|---|---|---|---|---|---|");
    for sync in ["FULL", "OFF"] {
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))?;
        for &batch in &batches {
            let r = run(&mut conn, &keys, batch, secs, &mut next_id)?;
            let ev = r.events.max(1) as f64;
            println!(
                "| {sync} | {batch} | {:.0} | {:.1} | {:.1} | {:.0} |",
                ev / r.wall.as_secs_f64(),
                r.cpu.as_secs_f64() * 1e6 / ev,
                r.wall.as_secs_f64() * 1e6 / ev,
                r.wall.as_secs_f64() * 1e6 / r.batches.max(1) as f64,
            );
        }
    }
    Ok(())
}
