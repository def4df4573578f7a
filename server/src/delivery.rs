//! Delivering case reports: the tokio shell around the core's outbox.
//!
//! `zhenwei serve` runs two background loops:
//!
//! * **the delivery worker** — claims due rows of the outbox (`zhenwei_core::cases::outbox`),
//!   builds each row's report from the database at that attempt (`report::for_delivery`: the
//!   evidence as of sending; a retry carries the same idempotency key and fresher evidence),
//!   POSTs it over HTTPS (rustls, presenting zhenwei's client certificate), signed with
//!   Ed25519 per RFC 9421 (`zhenwei_core::cases::httpsig`) and carrying the row's
//!   `Idempotency-Key`; a 2xx answer marks it delivered (and the case `delivered` if it went to
//!   the office in charge), anything else schedules a retry with exponential backoff and jitter,
//!   and the last allowed attempt dead-letters it (an error in the log, an audit entry, and
//!   `zhenwei_delivery_dead` in `/metrics`). Several processes may share one PostgreSQL
//!   database: claims never overlap (see the outbox's invariants).
//! * **the escalation clock** — runs the escalation rule every `escalation_check_seconds`.
//!
//! Keys: the signing key is `<data-dir>/delivery-signing.key` (PKCS#8 PEM, mode 0600, created on
//! first use, refused if others can read it) or `[delivery] signing_key`; it never enters the
//! database or the log. The client certificate is issued by the data directory's CA before the
//! first delivery (`CN=zhenwei-delivery`; no CA is made by a server that never delivers), unless `[delivery] client_cert`/`client_key` name one. Receivers'
//! server certificates are checked against the system roots plus `[delivery] trust` files.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;
use zhenwei_core::cases::httpsig::{self, SigningKey};
use zhenwei_core::cases::outbox::{self, Claimed, Next, RetryPolicy};
use zhenwei_core::cases::{casework, report, CaseRules};
use zhenwei_core::store::now_ms;
use zhenwei_core::Core;

use crate::pki::{Ca, PkiError};

/// The `[delivery]` section of the configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: i64,
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// How long a claimed delivery is reserved for its worker (must exceed `timeout_ms`).
    pub lease_ms: i64,
    /// How often an idle worker looks for due deliveries.
    pub poll_ms: u64,
    /// Connect + TLS + request + answer, per attempt.
    pub timeout_ms: u64,
    /// Deliveries sent at once by this process.
    pub concurrency: i64,
    /// Extra PEM files of CA certificates trusted for receivers' server certificates.
    pub trust: Vec<PathBuf>,
    /// A client certificate chain and key (PEM) to present instead of the one zhenwei issues.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The Ed25519 signing key (PKCS#8 PEM) [default: DATA_DIR/delivery-signing.key].
    pub signing_key: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let p = RetryPolicy::default();
        DeliveryConfig {
            max_attempts: p.max_attempts,
            backoff_base_ms: p.backoff_base_ms,
            backoff_max_ms: p.backoff_max_ms,
            lease_ms: p.lease_ms,
            poll_ms: 1_000,
            timeout_ms: 30_000,
            concurrency: 8,
            trust: Vec::new(),
            client_cert: None,
            client_key: None,
            signing_key: None,
        }
    }
}

impl DeliveryConfig {
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            backoff_base_ms: self.backoff_base_ms.max(1),
            backoff_max_ms: self.backoff_max_ms.max(1),
            lease_ms: self.lease_ms.max(self.timeout_ms as i64 + 1_000),
        }
    }

    pub fn signing_key_path(&self, data_dir: &Path) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("delivery-signing.key"))
    }
}

/// Why deliveries cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("signing key {path}: {why}")]
    Key { path: String, why: String },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{path}: {why}")]
    Pem { path: String, why: String },
}

fn key_error(path: &Path, why: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Key {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unpem(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    B64.decode(body).ok()
}

/// Opens the signing key, creating it (mode 0600) on first use. Refuses a key file that group
/// or others can read.
pub fn signing_key(path: &Path) -> Result<SigningKey, DeliveryError> {
    if !path.exists() {
        let der = SigningKey::generate_pkcs8().map_err(|e| key_error(path, e))?;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(pem("PRIVATE KEY", &der).as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| key_error(path, e))?;
                tracing::info!(path = %path.display(), "created the delivery signing key");
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(key_error(path, e)),
        }
    }
    let meta = std::fs::metadata(path).map_err(|e| key_error(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(key_error(
            path,
            format!(
                "readable by other users (mode {mode:o}); run `chmod 600 {}` first",
                path.display()
            ),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e))?;
    let der = unpem(&text).ok_or_else(|| key_error(path, "not a PEM file"))?;
    SigningKey::from_pkcs8(&der).map_err(|e| key_error(path, e))
}

/// What a receiver needs to know about zhenwei, as `zhenwei delivery identity` prints it.
pub fn identity(key: &SigningKey, ca_cert: &Path) -> serde_json::Value {
    serde_json::json!({
        "keyid": key.keyid(),
        "algorithm": "ed25519",
        "public_key": B64.encode(key.public_key()),
        "public_key_pem": pem("PUBLIC KEY", &httpsig::spki_of(key.public_key())),
        "client_ca": ca_cert.display().to_string(),
    })
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, DeliveryError> {
    let err = |why: String| DeliveryError::Pem {
        path: path.display().to_string(),
        why,
    };
    CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .map(|c| c.map_err(|e| err(e.to_string())))
        .collect()
}

/// The rustls client: system roots plus `trust`, and zhenwei's client certificate.
pub fn client_config(
    cfg: &DeliveryConfig,
    data_dir: &Path,
) -> Result<Arc<ClientConfig>, DeliveryError> {
    let mut roots = RootCertStore::empty();
    let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if system.exists() {
        for c in pem_certs(system)? {
            let _ = roots.add(c);
        }
    }
    for p in &cfg.trust {
        for c in pem_certs(p)? {
            roots.add(c)?;
        }
    }
    let (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) =
        match (&cfg.client_cert, &cfg.client_key) {
            (Some(c), Some(k)) => (
                pem_certs(c)?,
                PrivateKeyDer::from_pem_file(k).map_err(|e| DeliveryError::Pem {
                    path: k.display().to_string(),
                    why: e.to_string(),
                })?,
            ),
            _ => {
                let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
                let issued = ca.issue_delivery_client()?;
                (vec![issued.cert_der.clone()], issued.key_der())
            }
        };
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Counters and gauges for `/metrics`.
#[derive(Default)]
pub struct DeliveryStats {
    pub sent: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dead_letters: AtomicU64,
    /// From the database, refreshed by the worker.
    pub pending: AtomicI64,
    pub dead: AtomicI64,
    pub escalations: AtomicU64,
}

pub static STATS: LazyLock<DeliveryStats> = LazyLock::new(DeliveryStats::default);

impl DeliveryStats {
    /// Appends the delivery metrics in the Prometheus text format.
    pub fn write(&self, out: &mut String) -> std::fmt::Result {
        use std::fmt::Write;
        let u = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let i = |a: &AtomicI64| a.load(Ordering::Relaxed);
        for (name, kind, help, value) in [
            (
                "zhenwei_delivery_sent_total",
                "counter",
                "Case reports delivered by this process.",
                u(&self.sent) as i64,
            ),
            (
                "zhenwei_delivery_failed_attempts_total",
                "counter",
                "Delivery attempts that failed (and will be retried or were dead-lettered).",
                u(&self.failed_attempts) as i64,
            ),
            (
                "zhenwei_delivery_dead_letters_total",
                "counter",
                "Deliveries this process dead-lettered after the last attempt.",
                u(&self.dead_letters) as i64,
            ),
            (
                "zhenwei_case_escalations_total",
                "counter",
                "Cases this process escalated to the next level up.",
                u(&self.escalations) as i64,
            ),
            (
                "zhenwei_delivery_pending",
                "gauge",
                "Deliveries waiting to be sent or being sent (all processes).",
                i(&self.pending),
            ),
            (
                "zhenwei_delivery_dead",
                "gauge",
                "Dead-lettered deliveries (all processes): an alarm when above zero.",
                i(&self.dead),
            ),
        ] {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            writeln!(out, "{name} {value}")?;
        }
        Ok(())
    }
}

/// Everything the worker needs.
#[derive(Clone)]
pub struct Worker {
    core: Core,
    /// Built on the first delivery, so a server that never delivers makes no CA.
    tls: Arc<tokio::sync::OnceCell<Arc<ClientConfig>>>,
    data_dir: PathBuf,
    key: Arc<SigningKey>,
    cfg: DeliveryConfig,
    rules: Arc<CaseRules>,
}

impl Worker {
    pub fn new(
        core: Core,
        cfg: DeliveryConfig,
        rules: CaseRules,
        data_dir: &Path,
    ) -> Result<Worker, DeliveryError> {
        let key = signing_key(&cfg.signing_key_path(data_dir))?;
        tracing::info!(keyid = key.keyid(), "case deliveries signed");
        Ok(Worker {
            core,
            tls: Arc::new(tokio::sync::OnceCell::new()),
            data_dir: data_dir.to_owned(),
            key: Arc::new(key),
            cfg,
            rules: Arc::new(rules),
        })
    }

    /// Starts the delivery worker and the escalation clock on the current runtime.
    pub fn start(self) {
        let w = self.clone();
        tokio::spawn(async move { w.deliver_forever().await });
        tokio::spawn(async move { self.escalate_forever().await });
    }

    async fn deliver_forever(self) {
        let poll = Duration::from_millis(self.cfg.poll_ms.max(10));
        let mut gauges_read: Option<tokio::time::Instant> = None;
        loop {
            let busy = match self.round().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery round failed");
                    false
                }
            };
            // The gauges at most once per poll interval: a busy outbox runs rounds back to back.
            if gauges_read.is_none_or(|at| at.elapsed() >= poll) {
                gauges_read = Some(tokio::time::Instant::now());
                if let Ok(c) = outbox::outstanding(&self.core.store).await {
                    STATS
                        .pending
                        .store(c.pending + c.sending, Ordering::Relaxed);
                    STATS.dead.store(c.dead, Ordering::Relaxed);
                }
            }
            if !busy {
                tokio::time::sleep(poll).await;
            }
        }
    }

    /// One claim and its sends; returns how many were claimed.
    pub async fn round(&self) -> Result<usize, zhenwei_core::cases::CaseError> {
        let policy = self.cfg.policy();
        let claimed = outbox::claim(
            &self.core.store,
            self.cfg.concurrency.max(1),
            now_ms(),
            &policy,
        )
        .await?;
        let n = claimed.len();
        let mut tasks = tokio::task::JoinSet::new();
        for d in claimed {
            let w = self.clone();
            tasks.spawn(async move { w.attempt(d).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "recording a delivery attempt failed");
            }
        }
        Ok(n)
    }

    async fn attempt(&self, d: Claimed) -> Result<(), zhenwei_core::cases::CaseError> {
        let timeout = Duration::from_millis(self.cfg.timeout_ms.max(100));
        // The report is built now, at each attempt, so it carries the evidence as of sending.
        let result = match self.build(&d).await {
            Ok(built) => match tokio::time::timeout(timeout, self.send(&d, &built.body)).await {
                Ok(r) => r.map(|()| built),
                Err(_) => Err(format!("no answer within {} ms", self.cfg.timeout_ms)),
            },
            Err(e) => Err(format!("building the report: {e}")),
        };
        match result {
            Ok(built) => {
                if casework::delivered(&self.core.store, &d, &built, now_ms(), &self.rules.rule())
                    .await?
                {
                    STATS.sent.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(delivery = d.id, case = d.case_id, target = %d.target_kind, url = %d.url, attempt = d.attempts, "case report delivered");
                }
            }
            Err(why) => {
                STATS.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let next = outbox::after_failure(
                    d.attempts,
                    &self.cfg.policy(),
                    now_ms(),
                    rand::random::<u64>(),
                );
                if outbox::mark_failed(&self.core.store, &d, &why, next).await? {
                    match next {
                        Next::Dead => {
                            STATS.dead_letters.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(delivery = d.id, case = d.case_id, url = %d.url, attempts = d.attempts, error = %why, "case report dead-lettered: it will not be retried (`zhenwei delivery retry ID` after fixing the receiver)");
                        }
                        Next::RetryAt(t) => {
                            tracing::warn!(delivery = d.id, case = d.case_id, url = %d.url, attempt = d.attempts, error = %why, retry_in_ms = t - now_ms(), "case report not delivered; will retry");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The report of delivery `d`, built from the database now.
    async fn build(&self, d: &Claimed) -> Result<report::Built, zhenwei_core::store::StoreError> {
        let mut conn = self
            .core
            .store
            .pool()
            .acquire()
            .await
            .map_err(zhenwei_core::store::StoreError::Db)?;
        report::for_delivery(&mut *conn, d, now_ms()).await
    }

    /// One signed POST of `body`; `Err` says why it did not count as delivered.
    async fn send(&self, d: &Claimed, body: &str) -> Result<(), String> {
        let uri: Uri = d.url.parse().map_err(|e| format!("bad URL: {e}"))?;
        if uri.scheme_str() != Some("https") {
            return Err("only https:// receivers are allowed".into());
        }
        let host = uri.host().ok_or("the URL has no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let authority = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = tokio::net::TcpStream::connect((bare_host.as_str(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name =
            ServerName::try_from(bare_host.clone()).map_err(|e| format!("server name: {e}"))?;
        let config = self
            .tls
            .get_or_try_init(|| async { client_config(&self.cfg, &self.data_dir) })
            .await
            .map_err(|e| format!("client TLS: {e}"))?
            .clone();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let conn = tokio::spawn(conn);
        let target_uri = format!("https://{authority}{path}");
        let body = body.as_bytes().to_vec();
        let signed = httpsig::sign_request(
            &self.key,
            "POST",
            &target_uri,
            "application/json",
            &d.idempotency_key,
            &body,
            now_ms() / 1000,
        );
        let req = Request::builder()
            .method("POST")
            .uri(path.as_str())
            .header("host", &authority)
            .header("content-type", "application/json")
            .header("idempotency-key", &d.idempotency_key)
            .header("content-digest", &signed.content_digest)
            .header("signature-input", &signed.signature_input)
            .header("signature", &signed.signature)
            .header("user-agent", "zhenwei-delivery/1")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status();
        let text = Limited::new(resp.into_body(), 2048)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        conn.abort();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                text.chars().take(200).collect::<String>()
            ))
        }
    }

    async fn escalate_forever(self) {
        let every = Duration::from_secs(self.rules.escalation_check_seconds.max(1));
        loop {
            match casework::escalate_due(&self.core.store, now_ms(), &self.rules.rule()).await {
                Ok(run) => {
                    STATS
                        .escalations
                        .fetch_add(run.escalated.len() as u64, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "escalation check failed"),
            }
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_created_private_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("delivery-signing.key");
        let a = signing_key(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = signing_key(&p).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = signing_key(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        let id = identity(&a, Path::new("/x/ca.crt"));
        assert_eq!(id["keyid"], a.keyid());
        assert!(id["public_key_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    }
}
