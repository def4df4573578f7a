//! The key file as a long-running process sees it: loaded once, reloaded when it changes.
//!
//! `zhenwei keys rotate` is run from the command line while a server keeps serving. Codes of a
//! range issued under the new key version must verify on every channel at once, so the server
//! must notice the new version without a restart. [`LiveKeys`] holds the current [`Keyring`] and
//! the [`SupervisionCodec`] built from it; whenever a code fails to open, or before a range is
//! issued, it compares the key file's modification time with the one it loaded and reloads on a
//! change. The check is one `stat`, and happens only on those paths, never on a genuine code.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::codes::supervision::SupervisionCodec;
use crate::keys::{KeyError, Keyring};

/// A loaded key file and the codec built from it.
pub struct LoadedKeys {
    pub keyring: Keyring,
    pub codec: SupervisionCodec,
    modified: Option<SystemTime>,
}

/// The current keys, reloadable.
pub struct LiveKeys {
    path: Option<PathBuf>,
    state: RwLock<Arc<LoadedKeys>>,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn loaded(keyring: Keyring, modified: Option<SystemTime>) -> Arc<LoadedKeys> {
    Arc::new(LoadedKeys {
        codec: SupervisionCodec::new(&keyring),
        keyring,
        modified,
    })
}

impl LiveKeys {
    /// Opens the key file (creating it on first use) and follows its changes.
    pub fn open_or_create(path: PathBuf) -> Result<LiveKeys, KeyError> {
        let keyring = Keyring::open_or_create(&path)?;
        let m = modified(&path);
        Ok(LiveKeys {
            state: RwLock::new(loaded(keyring, m)),
            path: Some(path),
        })
    }

    /// Keys that never change (tests, benchmarks).
    pub fn fixed(keyring: Keyring) -> LiveKeys {
        LiveKeys {
            path: None,
            state: RwLock::new(loaded(keyring, None)),
        }
    }

    /// The keys in use now.
    pub fn current(&self) -> Arc<LoadedKeys> {
        match self.state.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the key file if it changed since it was loaded. Returns the new keys when it did.
    /// A file that cannot be read now leaves the loaded keys in use and reports the error.
    pub fn reload_if_changed(&self) -> Result<Option<Arc<LoadedKeys>>, KeyError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let now = modified(path);
        if now == self.current().modified {
            return Ok(None);
        }
        let fresh = loaded(Keyring::open(path)?, now);
        let mut guard = match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = fresh.clone();
        tracing::info!(versions = ?fresh.keyring.versions(), current = fresh.keyring.current_version(), "key file reloaded");
        Ok(Some(fresh))
    }

    /// The current keys after picking up any change of the key file; on a read error the loaded
    /// keys stay in use (and the error is logged).
    pub fn refreshed(&self) -> Arc<LoadedKeys> {
        match self.reload_if_changed() {
            Ok(Some(k)) => k,
            Ok(None) => self.current(),
            Err(e) => {
                tracing::warn!(error = %e, "key file changed but cannot be reloaded; keeping the loaded keys");
                self.current()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::supervision::CodePlaintext;

    #[test]
    fn a_rotation_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let live = LiveKeys::open_or_create(path.clone()).unwrap();
        assert!(live.reload_if_changed().unwrap().is_none());
        // Ensure a different modification time even on coarse-grained file systems.
        let before = live.current().modified;
        Keyring::rotate(&path).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        let later = before.unwrap() + std::time::Duration::from_secs(2);
        f.set_modified(later).unwrap();
        drop(f);
        let fresh = live.reload_if_changed().unwrap().expect("reloaded");
        assert_eq!(fresh.keyring.current_version(), 2);
        let code = fresh
            .codec
            .issue(CodePlaintext {
                key_version: 2,
                range_id: 1,
                serial: 1,
            })
            .unwrap();
        assert!(live.current().codec.open(&code).is_some());
    }
}
