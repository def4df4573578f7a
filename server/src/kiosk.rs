//! `zhenwei kiosk …`: register store kiosks, issue and revoke their client certificates.
//!
//! ```text
//! zhenwei kiosk add --store 1 --name kiosk-nb-02 [--out DIR]   register + certificate + kiosk.toml
//! zhenwei kiosk issue kiosk-nb-01 [--out DIR]                  a new certificate (old one retired)
//! zhenwei kiosk revoke kiosk-nb-02                             refused from the next request on
//! zhenwei kiosk list [--json]
//! ```
//!
//! `add` and `issue` write four files into the kiosk's directory (default `./kiosk-NAME/`, mode
//! 0700): `kiosk.crt`, `kiosk.key` (mode 0600), `ca.crt` (to trust the server) and `kiosk.toml`,
//! the agent's configuration, which is also printed on stdout. Order matters for failure: the
//! kiosk is registered first (so a bad store or a taken name writes nothing), then the files are
//! written, and only then is the new certificate pinned in the database — a certificate whose
//! files could not be written never becomes the kiosk's identity.
//!
//! This module computes what to print; `main` prints it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use zhenwei_core::clock::local_time;
use zhenwei_core::kiosk_certs::{IssuedCertificate, KioskRecord};
use zhenwei_core::lifecycle::LifecycleError;
use zhenwei_core::Core;

use crate::cli::{KioskCmd, KioskOut};
use crate::pki::{write_file, Ca, Issued, PkiError};

/// Why a kiosk command failed.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    #[error(transparent)]
    Registry(#[from] LifecycleError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("no store with id {0}; `zhenwei store add` prints the ids")]
    NoStore(i64),
    #[error("no kiosk named {0:?}; `zhenwei kiosk list` shows them")]
    NoKiosk(String),
    #[error("kiosk name {0:?} cannot name a directory; give --out DIR")]
    UnsafeName(String),
    #[error("--server-url {0:?}: kiosks talk to the server over https:// only")]
    NotHttps(String),
    #[error(
        "kiosk {name:?} is registered, but its certificate files could not be written ({source}); \
         fix that and run `zhenwei kiosk issue {name} --out DIR`"
    )]
    FilesNotWritten { name: String, source: PkiError },
}

/// What a command has to say: `stdout` (data, e.g. kiosk.toml) and a `note` for stderr.
pub struct Done {
    pub stdout: String,
    pub note: Option<String>,
}

/// Runs one `kiosk` command on the instance whose data directory is `data_dir`.
pub async fn run(
    core: &Core,
    data_dir: &Path,
    actor: &str,
    cmd: KioskCmd,
) -> Result<Done, KioskError> {
    match cmd {
        KioskCmd::Add { store, name, out } => add(core, data_dir, actor, store, &name, &out).await,
        KioskCmd::Issue { name, out } => issue(core, data_dir, actor, &name, &out).await,
        KioskCmd::Revoke { name } => revoke(core, actor, &name).await,
        KioskCmd::List { json } => list(core, json).await,
    }
}

/// `./kiosk-NAME` — only for names that are one plain path component.
fn out_dir(name: &str, out: &KioskOut) -> Result<PathBuf, KioskError> {
    if let Some(dir) = &out.out {
        return Ok(dir.clone());
    }
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(KioskError::UnsafeName(name.to_owned()));
    }
    Ok(PathBuf::from(format!("kiosk-{name}")))
}

fn check_url(out: &KioskOut) -> Result<(), KioskError> {
    if out.server_url.starts_with("https://") && !out.server_url.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(KioskError::NotHttps(out.server_url.clone()))
    }
}

fn create_out_dir(dir: &Path) -> Result<(), PkiError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PkiError::Write {
            path: dir.to_owned(),
            source,
        })
}

async fn add(
    core: &Core,
    data_dir: &Path,
    actor: &str,
    store: i64,
    name: &str,
    out: &KioskOut,
) -> Result<Done, KioskError> {
    let name = name.trim();
    let dir = out_dir(name, out)?;
    check_url(out)?;
    if !core.registry.store_exists(store).await? {
        return Err(KioskError::NoStore(store));
    }
    let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
    let id = core.registry.add_kiosk(actor, store, name).await?;
    let mut done = certify(core, &ca, actor, name, &dir, out).await?;
    done.note = done
        .note
        .map(|n| format!("kiosk {id} ({name}) added to store {store}; {n}"));
    Ok(done)
}

async fn issue(
    core: &Core,
    data_dir: &Path,
    actor: &str,
    name: &str,
    out: &KioskOut,
) -> Result<Done, KioskError> {
    let name = name.trim();
    let dir = out_dir(name, out)?;
    check_url(out)?;
    if core.registry.kiosk_record(name).await?.is_none() {
        return Err(KioskError::NoKiosk(name.to_owned()));
    }
    let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
    certify(core, &ca, actor, name, &dir, out).await
}

/// Issues a certificate, writes the kiosk's files, then pins the certificate.
async fn certify(
    core: &Core,
    ca: &Ca,
    actor: &str,
    name: &str,
    dir: &Path,
    out: &KioskOut,
) -> Result<Done, KioskError> {
    let kiosk = core
        .registry
        .kiosk_record(name)
        .await?
        .ok_or_else(|| KioskError::NoKiosk(name.to_owned()))?;
    let issued = ca.issue_kiosk(&kiosk.name)?;
    let config = agent_config(&kiosk, &issued, out);
    let files_written = || -> Result<(), PkiError> {
        create_out_dir(dir)?;
        write_file(&dir.join("kiosk.key"), issued.key_pem().as_bytes(), 0o600)?;
        write_file(&dir.join("kiosk.crt"), issued.cert_pem.as_bytes(), 0o644)?;
        write_file(&dir.join("ca.crt"), ca.cert_pem().as_bytes(), 0o644)?;
        write_file(&dir.join("kiosk.toml"), config.as_bytes(), 0o644)
    };
    files_written().map_err(|source| KioskError::FilesNotWritten {
        name: kiosk.name.clone(),
        source,
    })?;
    core.registry
        .record_kiosk_certificate(
            actor,
            &kiosk.name,
            &IssuedCertificate {
                serial: issued.serial.clone(),
                sha256: issued.sha256.clone(),
                not_after: issued.not_after_ms,
            },
        )
        .await?;
    Ok(Done {
        stdout: config,
        note: Some(format!(
            "certificate {} (valid until {}) written to {}",
            issued.serial,
            local_time(issued.not_after_ms),
            dir.display()
        )),
    })
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The kiosk agent's configuration. Paths are relative to the file, so the directory can be
/// copied to the kiosk PC as it is.
fn agent_config(kiosk: &KioskRecord, issued: &Issued, out: &KioskOut) -> String {
    let q = |s: &str| toml_string(s);
    format!(
        "# zhenwei kiosk agent configuration, written by `zhenwei kiosk add` / `kiosk issue`.\n\
         # Paths are relative to this file. kiosk.key is this kiosk's identity: keep it on the\n\
         # kiosk only (mode 0600); `zhenwei kiosk revoke` disables it if the PC is lost.\n\
         server = {server}\n\
         kiosk = {name}\n\
         store = {store}\n\
         store_id = {store_id}\n\
         division = {division}\n\
         language = {lang}\n\
         \n\
         [tls]\n\
         cert = \"kiosk.crt\"\n\
         key = \"kiosk.key\"\n\
         ca = \"ca.crt\"\n\
         serial = {serial}\n\
         sha256 = {sha256}\n\
         \n\
         # Shown when the server cannot be reached. Placeholders: put in your own numbers.\n\
         [offline]\n\
         hotline = \"400-000-0000\"\n\
         sms = \"10690000\"\n\
         \n\
         # The scanner: a serial port (USB CDC-ACM or RS-232), or /dev/input/by-id/…-event-kbd for a\n\
         # USB keyboard-wedge scanner, or \"stdin\" to type codes. Run: zhenwei-kiosk --config kiosk.toml\n\
         [scanner]\n\
         device = \"/dev/ttyACM0\"\n\
         baud = 9600\n\
         \n\
         # The screen (loopback only): chromium --kiosk http://127.0.0.1:8088/\n\
         [ui]\n\
         listen = \"127.0.0.1:8088\"\n\
         idle_seconds = 30\n\
         \n\
         # Reports waiting for the server are kept here (relative to this file).\n\
         [queue]\n\
         dir = \"queue\"\n",
        server = q(&out.server_url),
        name = q(&kiosk.name),
        store = q(&kiosk.store_name),
        store_id = kiosk.store_id,
        division = q(&kiosk.division),
        lang = q(&out.lang),
        serial = q(&issued.serial),
        sha256 = q(&issued.sha256),
    )
}

async fn revoke(core: &Core, actor: &str, name: &str) -> Result<Done, KioskError> {
    let at = core.registry.revoke_kiosk(actor, name).await?;
    Ok(Done {
        stdout: format!(
            "kiosk {} revoked at {}: the server refuses its certificate from the next request on",
            name.trim(),
            local_time(at)
        ),
        note: None,
    })
}

async fn list(core: &Core, json: bool) -> Result<Done, KioskError> {
    let kiosks = core.registry.kiosks().await?;
    let mut stdout = String::new();
    if json {
        let rows: Vec<serde_json::Value> = kiosks
            .iter()
            .map(|k| {
                let mut v = serde_json::to_value(k).unwrap_or_default();
                v["status"] = serde_json::json!(k.status().as_str());
                v
            })
            .collect();
        stdout = serde_json::Value::Array(rows).to_string();
    } else if kiosks.is_empty() {
        stdout.push_str("no kiosks");
    } else {
        for (i, k) in kiosks.iter().enumerate() {
            if i > 0 {
                stdout.push('\n');
            }
            let cert = match (k.revoked_at, &k.cert_serial, k.cert_not_after) {
                (Some(at), _, _) => format!("revoked {}", local_time(at)),
                (None, Some(serial), Some(until)) => {
                    format!("active, serial {serial}, until {}", local_time(until))
                }
                _ => "no certificate".to_owned(),
            };
            let _ = write!(
                stdout,
                "{}\tstore {} {} ({})\t{cert}",
                k.name, k.store_id, k.store_name, k.division
            );
        }
    }
    Ok(Done { stdout, note: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(dir: Option<&str>) -> KioskOut {
        KioskOut {
            out: dir.map(PathBuf::from),
            server_url: "https://127.0.0.1:8443".into(),
            lang: "zh".into(),
        }
    }

    #[test]
    fn default_directories_only_for_plain_names() {
        assert_eq!(
            out_dir("kiosk-nb-02", &out(None)).unwrap(),
            PathBuf::from("kiosk-kiosk-nb-02")
        );
        assert_eq!(
            out_dir("宁波一号机", &out(None)).unwrap(),
            PathBuf::from("kiosk-宁波一号机")
        );
        for bad in ["../etc", "a/b", ".hidden", "two words"] {
            assert!(
                matches!(out_dir(bad, &out(None)), Err(KioskError::UnsafeName(_))),
                "{bad}"
            );
        }
        assert_eq!(
            out_dir("a/b", &out(Some("/tmp/k"))).unwrap(),
            PathBuf::from("/tmp/k")
        );
    }

    #[test]
    fn the_agent_configuration_is_valid_toml() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Ca::open_or_create(tmp.path()).unwrap();
        let issued = ca.issue_kiosk("k\"1").unwrap();
        let kiosk = KioskRecord {
            kiosk_id: 1,
            name: "k\"1".into(),
            store_id: 2,
            store_name: "甬江超市 \\ \"海曙\"店".into(),
            division: "330203".into(),
            created_at: 0,
            cert_serial: None,
            cert_sha256: None,
            cert_issued_at: None,
            cert_not_after: None,
            revoked_at: None,
        };
        let mut o = out(None);
        o.server_url = "https://zhenwei.example:8443/\u{7f}".into();
        let text = agent_config(&kiosk, &issued, &o);
        let v: toml::Value = toml::from_str(&text).expect("valid TOML");
        assert_eq!(v["server"].as_str(), Some(o.server_url.as_str()));
        assert_eq!(v["kiosk"].as_str(), Some("k\"1"));
        assert_eq!(v["store"].as_str(), Some("甬江超市 \\ \"海曙\"店"));
        assert_eq!(v["store_id"].as_integer(), Some(2));
        assert_eq!(v["division"].as_str(), Some("330203"));
        assert_eq!(v["tls"]["key"].as_str(), Some("kiosk.key"));
        assert_eq!(v["tls"]["sha256"].as_str(), Some(issued.sha256.as_str()));
        assert!(v["offline"]["hotline"].is_str());
        assert_eq!(v["scanner"]["device"].as_str(), Some("/dev/ttyACM0"));
        assert_eq!(v["ui"]["listen"].as_str(), Some("127.0.0.1:8088"));
        assert_eq!(v["queue"]["dir"].as_str(), Some("queue"));
        assert!(!text.contains("PRIVATE KEY"));
    }
}
