//! The WAL checkpointer: copying the write-ahead log back into the database file, off the
//! recorder's commit path.
//!
//! In WAL mode SQLite appends every committed page to the `-wal` file; a *checkpoint* copies the
//! newest version of each page back into the database file so the log can start over. By default
//! the connection that commits past 1,000 log frames runs the checkpoint inside its commit — for
//! the recorder that means some unlucky batch of queries waits for it, and with the default
//! threshold a busy recorder checkpoints many times a second, copying the same hot pages again
//! each time.
//!
//! Instead the recorder's connection turns automatic checkpoints off and this thread, on a
//! connection of its own, checkpoints every [`INTERVAL`] in two steps:
//!
//! 1. PASSIVE: copies what the log holds without blocking the writer or any reader — each page
//!    once, however often it changed in between — and fsyncs the database file beside the
//!    recorder's fsync of the log rather than in front of it.
//! 2. RESTART, once the log holds [`RESTART_FRAMES`], waiting at most [`RESTART_WAIT`]: copies the few frames
//!    committed during step 1 and makes the next writer start the log from its beginning. It
//!    holds writers back only for that short copy. Without it the
//!    log never starts over under steady load — a writer keeps appending while a passive
//!    checkpoint runs, so the log is never *completely* copied — and it grows without bound
//!    (measured: 1.5 GB in 25 s of the cold benchmark).
//!
//! Dropping the [`Checkpointer`] stops the thread after a last checkpoint.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::store::StoreError;
use crate::write_tx::open_sqlite;

/// How often the log is copied back.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// The running checkpointer; dropping it runs a last checkpoint and waits for the thread.
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts checkpointing the database at `path` on a thread of its own. The caller turns the
/// automatic checkpoints of its writing connection off (`PRAGMA wal_autocheckpoint = 0`).
pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
    let conn = open_sqlite(path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("zhenwei-checkpoint".into())
        .spawn(move || loop {
            let last = !matches!(
                stopped.recv_timeout(INTERVAL),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            match checkpoint_and_restart(&conn, RESTART_FRAMES) {
                Ok((frames, rest)) if frames > 0 => {
                    tracing::trace!(frames, rest, "wal checkpoint")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "wal checkpoint failed"),
            }
            if last {
                break;
            }
        })
        .map_err(|e| StoreError::Decode(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Checkpointer {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// One checkpoint in `mode`: (busy, frames in the log, frames copied).
fn checkpoint(conn: &rusqlite::Connection, mode: &str) -> Result<(i64, i64, i64), rusqlite::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

/// The log's length (in frames, 4 KiB each) from which the restart step is tried.
pub const RESTART_FRAMES: i64 = 8192;
/// How long the restart step waits for the writer lock (the recorder commits back to back under
/// load, so it must wait a little) and for readers, before it gives up until the next round.
pub const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Both steps: (frames the passive step found, frames the restart step found). The restart step
/// runs only once the log holds `restart_frames`, and waits at most [`RESTART_WAIT`]: it holds
/// other writers back while it copies and while it waits for readers. When it cannot finish in
/// that time it answers busy and the next round tries again.
fn checkpoint_and_restart(
    conn: &rusqlite::Connection,
    restart_frames: i64,
) -> Result<(i64, i64), rusqlite::Error> {
    let (_, frames, _) = checkpoint(conn, "PASSIVE")?;
    if frames < restart_frames.max(1) {
        return Ok((frames, 0));
    }
    conn.busy_timeout(RESTART_WAIT)?;
    let restarted = checkpoint(conn, "RESTART");
    conn.busy_timeout(Duration::from_secs(10))?;
    match restarted {
        Ok((_, rest, _)) => Ok((frames, rest)),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Ok((frames, -1))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_log_into_the_database_file_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = open_sqlite(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v INTEGER); \
                 INSERT INTO t VALUES (1), (2), (3);",
            )
            .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            size(),
            4096,
            "only the header page is in the database file yet"
        );
        drop(start(&path).unwrap()); // returns after the last checkpoint
        assert_eq!(size(), 8192, "the table's page was copied back");
        let sum: i64 = writer
            .query_row("SELECT SUM(v) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sum, 6);
    }

    /// The restart step makes the next writer begin the log anew, so it cannot grow forever.
    #[test]
    fn the_log_starts_over_after_each_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let writer = open_sqlite(&path).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v BLOB);")
            .unwrap();
        for _ in 0..50 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
        }
        let checkpointer = open_sqlite(&path).unwrap();
        let (frames, _) = checkpoint_and_restart(&checkpointer, 1).unwrap();
        assert!(frames >= 50, "{frames} frames before the checkpoint");
        writer
            .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
            .unwrap();
        // The last insert went to the start of the log: only its own frames are there now.
        let (_, log, _) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(log <= 3, "the log did not start over: {log} frames");
    }
}
