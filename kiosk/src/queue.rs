//! The report queue: "report this product" presses, kept on disk until the server has them.
//!
//! A shopper who pressed "report" has been told the report is taken, so it must survive the
//! server being down, the agent restarting and the kiosk PC losing power. Each report is one
//! small JSON file in the queue directory, written the crash-safe way (a temporary file,
//! `fsync`, `rename` into place, `fsync` of the directory): after [`Queue::add`] returns, the
//! report exists whole or — if the power failed before — not at all, never half.
//!
//! Every report carries a random `report_id`. The server remembers the ids it has filed
//! (`POST /v1/report`), so a report whose answer was lost on the way back is sent again without
//! being filed twice; only after the server's answer is the file removed ([`Queue::remove`]).
//! Files are named `<created-ms>-<id>.json`, so [`Queue::pending`] lists them oldest first.
//! A report also keeps the `event_id` of the verdict it is about, when there was one (files
//! written without it load as reports without it).
//! A file that cannot be read as a report (disk damage) is renamed `*.bad` and logged, never
//! retried forever and never deleted.
//!
//! The operations are blocking file-system calls of a few milliseconds; the agent runs them on
//! tokio's blocking pool.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("report queue {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A report waiting for the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReport {
    /// The idempotency key the server deduplicates on (32 hex digits).
    pub report_id: String,
    /// The scan, as sent to `/v1/verify`.
    pub code: String,
    /// "zh" or "en".
    pub lang: String,
    /// Unix milliseconds when the shopper pressed "report".
    pub created_at: i64,
    /// The query event of the verdict the shopper reported (`None` for a report made on the
    /// offline screen, and in files written before reports carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
}

/// The queue directory.
#[derive(Clone, Debug)]
pub struct Queue {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A new random report id.
pub fn new_report_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Queue {
    /// Opens the queue directory, creating it (mode 0700) if needed.
    pub fn open(dir: &Path) -> Result<Queue, QueueError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        Ok(Queue {
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_of(&self, r: &PendingReport) -> PathBuf {
        self.dir
            .join(format!("{:013}-{}.json", r.created_at.max(0), r.report_id))
    }

    fn sync_dir(&self) -> Result<(), QueueError> {
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// Stores a new report durably and returns it. `event_id`: the query event of the verdict
    /// reported, when there was one.
    pub fn add(
        &self,
        code: &str,
        lang: &str,
        event_id: Option<i64>,
    ) -> Result<PendingReport, QueueError> {
        let r = PendingReport {
            report_id: new_report_id(),
            code: code.to_owned(),
            lang: lang.to_owned(),
            created_at: now_ms(),
            event_id,
        };
        let path = self.file_of(&r);
        let tmp = self.dir.join(format!(".{}.tmp", r.report_id));
        let body = serde_json::to_vec(&r).unwrap_or_default();
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&path)(e));
        }
        self.sync_dir()?;
        Ok(r)
    }

    /// The reports waiting, oldest first.
    pub fn pending(&self) -> Result<Vec<PendingReport>, QueueError> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for p in names {
            let parsed = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<PendingReport>(&b).ok());
            match parsed {
                Some(r) => out.push(r),
                None => {
                    let bad = p.with_extension("bad");
                    tracing::error!(file = %p.display(), "unreadable queued report; renamed to .bad");
                    std::fs::rename(&p, &bad).map_err(io(&p))?;
                }
            }
        }
        Ok(out)
    }

    /// Removes a report the server has answered for.
    pub fn remove(&self, r: &PendingReport) -> Result<(), QueueError> {
        let path = self.file_of(r);
        match std::fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_survive_reopening_and_leave_when_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("q");
        let q = Queue::open(&dir).unwrap();
        let a = q.add("CODE-A", "zh", Some(17)).unwrap();
        let b = q.add("]d2010\u{1d}21X", "en", None).unwrap();
        assert_eq!(a.report_id.len(), 32);
        assert_ne!(a.report_id, b.report_id);

        // A new agent process sees the same reports, oldest first.
        let q2 = Queue::open(&dir).unwrap();
        let pending = q2.pending().unwrap();
        assert_eq!(pending.len(), 2);
        assert!(pending[0].created_at <= pending[1].created_at);
        assert!(pending.contains(&a) && pending.contains(&b));

        q2.remove(&a).unwrap();
        q2.remove(&a).unwrap(); // twice is fine
        assert_eq!(q.pending().unwrap(), vec![b]);
    }

    #[test]
    fn damaged_files_are_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let q = Queue::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("0000000000001-x.json"), b"{half").unwrap();
        std::fs::write(tmp.path().join(".abc.tmp"), b"partial").unwrap();
        let ok = q.add("C", "zh", None).unwrap();
        assert_eq!(q.pending().unwrap(), vec![ok]);
        assert!(tmp.path().join("0000000000001-x.bad").exists());
    }

    #[test]
    fn reports_queued_before_event_ids_still_load() {
        let tmp = tempfile::tempdir().unwrap();
        let q = Queue::open(tmp.path()).unwrap();
        // A file as an agent without event ids wrote it.
        std::fs::write(
            tmp.path().join("0000000000005-0123456789abcdef0123456789abcdef.json"),
            br#"{"report_id":"0123456789abcdef0123456789abcdef","code":"C","lang":"zh","created_at":5}"#,
        )
        .unwrap();
        let with = q.add("D", "en", Some(42)).unwrap();
        let pending = q.pending().unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].report_id, "0123456789abcdef0123456789abcdef");
        assert_eq!((pending[0].code.as_str(), pending[0].event_id), ("C", None));
        assert_eq!(pending[1], with);
        assert_eq!(pending[1].event_id, Some(42));
        // Removing the old file works by its name as before.
        q.remove(&pending[0]).unwrap();
        assert_eq!(q.pending().unwrap(), vec![with]);
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let e = Queue::open(Path::new("/proc/zhenwei-queue")).unwrap_err();
        assert!(e.to_string().contains("/proc/zhenwei-queue"), "{e}");
    }
}
