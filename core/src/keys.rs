//! The key file: zhenwei's anti-counterfeiting secrets, kept outside the database.
//!
//! Supervision codes are only as unforgeable as the keys that produce them, so the keys never
//! enter the database, the logs or the repository. They live in one JSON file (by default
//! `<data-dir>/keys.json`), created on first start with mode 0600 and refused when anyone but the
//! owner can read it.
//!
//! Code keys are *versioned*: every code range records the key version it was issued under, a new
//! version can be added at any time (`zhenwei keys rotate`), new ranges use the newest version and
//! codes printed under older versions keep verifying. A version is one digit of the code's
//! plaintext, so at most nine versions (1–9) exist at once.
//!
//! Besides the code keys the file holds a *lookup key*: an HMAC key for the keyed hashes by which
//! zhenwei finds secrets it must not store in the clear (scratch PINs, phone numbers, sources).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The highest key version a supervision code can carry (it is one decimal digit, 0 unused).
pub const MAX_KEY_VERSION: u8 = 9;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` first"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("all {MAX_KEY_VERSION} key versions are in use; no further rotation is possible")]
    VersionsExhausted,
}

/// One version of the supervision-code keys.
#[derive(Clone, Serialize, Deserialize)]
struct CodeKeyFile {
    /// AES-256 key for FF1, hex.
    ff1: String,
    /// HMAC-SHA256 key for the redundancy digits, hex.
    check: String,
    created_at: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct KeyFileContents {
    format: u32,
    current: u8,
    versions: BTreeMap<u8, CodeKeyFile>,
    /// HMAC-SHA256 key for keyed lookups (PINs, phone numbers), hex.
    lookup: String,
}

/// Key material for one code key version, decoded.
#[derive(Clone)]
pub struct CodeKey {
    pub version: u8,
    pub ff1: [u8; 32],
    pub check: [u8; 32],
}

/// The loaded key file.
#[derive(Clone)]
pub struct Keyring {
    path: PathBuf,
    current: u8,
    code_keys: Vec<CodeKey>,
    lookup: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("current", &self.current)
            .field("versions", &self.versions())
            .finish()
    }
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn decode_key(path: &Path, what: &str, hex_text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(hex_text).map_err(|e| KeyError::Invalid {
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
    })?;
    bytes.try_into().map_err(|_| KeyError::Invalid {
        path: path.to_owned(),
        reason: format!("{what}: expected 32 bytes"),
    })
}

impl Keyring {
    /// Opens the key file at `path`, creating it (mode 0600, one key version) when it does not
    /// exist. Creation is atomic: two processes starting on a fresh data directory end up with the
    /// same keys.
    pub fn open_or_create(path: &Path) -> Result<Keyring, KeyError> {
        if !path.exists() {
            let contents = KeyFileContents {
                format: 1,
                current: 1,
                versions: BTreeMap::from([(
                    1,
                    CodeKeyFile {
                        ff1: hex::encode(random_key()),
                        check: hex::encode(random_key()),
                        created_at: now_text(),
                    },
                )]),
                lookup: hex::encode(random_key()),
            };
            write_new(path, &contents)?;
        }
        Self::open(path)
    }

    /// Opens an existing key file.
    pub fn open(path: &Path) -> Result<Keyring, KeyError> {
        let meta = fs::metadata(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let contents: KeyFileContents =
            serde_json::from_str(&text).map_err(|e| KeyError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Self::from_contents(path, contents)
    }

    fn from_contents(path: &Path, contents: KeyFileContents) -> Result<Keyring, KeyError> {
        if contents.format != 1 {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                reason: format!("unsupported format {}", contents.format),
            });
        }
        let mut code_keys = Vec::new();
        for (version, k) in &contents.versions {
            if *version == 0 || *version > MAX_KEY_VERSION {
                return Err(KeyError::Invalid {
                    path: path.to_owned(),
                    reason: format!("key version {version} is outside 1..={MAX_KEY_VERSION}"),
                });
            }
            code_keys.push(CodeKey {
                version: *version,
                ff1: decode_key(path, "ff1", &k.ff1)?,
                check: decode_key(path, "check", &k.check)?,
            });
        }
        if !contents.versions.contains_key(&contents.current) {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                reason: format!("current version {} has no keys", contents.current),
            });
        }
        Ok(Keyring {
            path: path.to_owned(),
            current: contents.current,
            code_keys,
            lookup: decode_key(path, "lookup", &contents.lookup)?,
        })
    }

    /// Adds a new code key version and makes it current. Returns the new version.
    pub fn rotate(path: &Path) -> Result<u8, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut contents: KeyFileContents =
            serde_json::from_str(&text).map_err(|e| KeyError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let next = contents.versions.keys().max().copied().unwrap_or(0) + 1;
        if next > MAX_KEY_VERSION {
            return Err(KeyError::VersionsExhausted);
        }
        contents.versions.insert(
            next,
            CodeKeyFile {
                ff1: hex::encode(random_key()),
                check: hex::encode(random_key()),
                created_at: now_text(),
            },
        );
        contents.current = next;
        replace(path, &contents)?;
        Ok(next)
    }

    /// A keyring held only in memory (tests, benchmarks).
    pub fn ephemeral(seed: u8) -> Keyring {
        Keyring {
            path: PathBuf::from("<memory>"),
            current: 1,
            code_keys: vec![CodeKey {
                version: 1,
                ff1: [seed; 32],
                check: [seed.wrapping_add(1); 32],
            }],
            lookup: [seed.wrapping_add(2); 32],
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version new code ranges are issued under.
    pub fn current_version(&self) -> u8 {
        self.current
    }

    pub fn versions(&self) -> Vec<u8> {
        self.code_keys.iter().map(|k| k.version).collect()
    }

    pub fn code_key(&self, version: u8) -> Option<&CodeKey> {
        self.code_keys.iter().find(|k| k.version == version)
    }

    pub fn code_keys(&self) -> &[CodeKey] {
        &self.code_keys
    }

    /// A keyed hash (HMAC-SHA256, hex) of `value` in `domain`, for looking up secrets that are not
    /// stored in the clear. Different domains never collide.
    pub fn lookup_hash(&self, domain: &str, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.lookup) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The AES-256 key that encrypts contact details (phone numbers) at rest. It is derived from
    /// the lookup key (HMAC-SHA256 of a fixed label, a one-step HKDF-Expand), so every key file,
    /// old or new, has one without a format change, and it never coincides with a lookup hash
    /// (those put a domain and a NUL before the value).
    pub fn contact_key(&self) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.lookup) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(b"zhenwei contact encryption key v1");
        mac.finalize().into_bytes().into()
    }
}

fn serialise(path: &Path, contents: &KeyFileContents) -> Result<Vec<u8>, KeyError> {
    serde_json::to_vec_pretty(contents).map_err(|e| KeyError::Invalid {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, KeyError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let werr = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(werr)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(werr)?;
    f.write_all(bytes).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(tmp)
}

/// Creates the key file only if it does not exist yet (hard link fails when it does).
fn write_new(path: &Path, contents: &KeyFileContents) -> Result<(), KeyError> {
    let tmp = write_temp(path, &serialise(path, contents)?)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(KeyError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

fn replace(path: &Path, contents: &KeyFileContents) -> Result<(), KeyError> {
    let tmp = write_temp(path, &serialise(path, contents)?)?;
    fs::rename(&tmp, path).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_with_mode_0600_and_reopened_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = Keyring::open_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Keyring::open_or_create(&path).unwrap();
        assert_eq!(a.code_key(1).unwrap().ff1, b.code_key(1).unwrap().ff1);
        assert_eq!(a.lookup_hash("pin", "X"), b.lookup_hash("pin", "X"));
        assert_ne!(a.lookup_hash("pin", "X"), a.lookup_hash("phone", "X"));
    }

    #[test]
    fn refuses_a_world_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        Keyring::open_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open(&path).unwrap_err();
        assert!(
            matches!(err, KeyError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
    }

    #[test]
    fn rotation_adds_a_version_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let before = Keyring::open_or_create(&path).unwrap();
        assert_eq!(Keyring::rotate(&path).unwrap(), 2);
        let after = Keyring::open(&path).unwrap();
        assert_eq!(after.current_version(), 2);
        assert_eq!(after.versions(), vec![1, 2]);
        assert_eq!(
            after.code_key(1).unwrap().ff1,
            before.code_key(1).unwrap().ff1
        );
        for _ in 3..=MAX_KEY_VERSION {
            Keyring::rotate(&path).unwrap();
        }
        assert!(matches!(
            Keyring::rotate(&path),
            Err(KeyError::VersionsExhausted)
        ));
    }

    #[test]
    fn debug_output_has_no_key_material() {
        let k = Keyring::ephemeral(7);
        let text = format!("{k:?}");
        assert!(!text.contains("0707"), "{text}");
    }
}
