//! The reference receiver of case reports: what a regulator or enterprise runs to accept
//! zhenwei's deliveries, reduced to its essentials, used by the end-to-end tests over real
//! sockets.
//!
//! It listens on HTTPS (a server certificate from its own little CA, which zhenwei is told to
//! trust), **requires a client certificate** chaining to zhenwei's CA (`<data-dir>/tls/ca.crt`),
//! and for every `POST`:
//!
//! 1. checks the body against `Content-Digest` and the Ed25519 signature of the RFC 9421
//!    signature base against zhenwei's public key (`zhenwei delivery identity`), covering
//!    `@method`, `@target-uri`, `content-digest`, `content-type` and `idempotency-key`;
//! 2. answers 401 when that fails, otherwise **deduplicates by `Idempotency-Key`** (a repeat is
//!    answered 200 and counted, but not recorded twice) and answers 200;
//! 3. records what it got, for the test to inspect ([`Receiver::accepted`]).
//!
//! [`Receiver::stop`] closes the socket (the receiver is "down": connections are refused);
//! [`Receiver::restart`] listens again on the same port. [`Receiver::set_status`] makes it
//! answer every request with another status (a receiver that is up but failing).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use serde_json::Value;
use zhenwei_core::cases::httpsig;

use crate::LIMIT;

/// One accepted (verified, first-seen) delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub path: String,
    pub idempotency_key: String,
    pub keyid: String,
    pub body: Value,
}

#[derive(Default)]
struct Log {
    accepted: Vec<Delivery>,
    duplicates: Vec<String>,
    rejected: Vec<String>,
    /// Keys of requests being answered right now, and keys that arrived while already in flight.
    in_flight: Vec<String>,
    overlaps: Vec<String>,
}

/// A running reference receiver.
pub struct Receiver {
    port: u16,
    ca_file: PathBuf,
    config: Arc<ServerConfig>,
    public_key: Vec<u8>,
    log: Arc<Mutex<Log>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|c| c.expect("a PEM certificate"))
        .collect()
}

impl Receiver {
    /// Starts a receiver on a free loopback port. `dir` receives `receiver-ca.crt` (to give
    /// zhenwei as `[delivery] trust`); `client_ca` is zhenwei's `tls/ca.crt`; `public_key` the
    /// raw Ed25519 key from `zhenwei delivery identity`.
    pub fn start(dir: &Path, client_ca: &Path, public_key: Vec<u8>) -> Receiver {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "reference receiver CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let ca_file = dir.join("receiver-ca.crt");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write receiver-ca.crt");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name
            .push(DnType::CommonName, "reference receiver");
        leaf.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let cert = leaf.signed_by(&key, &issuer).expect("server certificate");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in certs(client_ca) {
            roots.add(c).expect("zhenwei's CA");
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("client verifier");
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        let mut r = Receiver {
            port: 0,
            ca_file,
            config: Arc::new(config),
            public_key,
            log: Arc::new(Mutex::new(Log::default())),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU16::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        r.listen();
        r
    }

    fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the receiver");
        self.port = listener.local_addr().expect("local address").port();
        self.stop = Arc::new(AtomicBool::new(false));
        let (config, key, log, status, stop, delay) = (
            self.config.clone(),
            self.public_key.clone(),
            self.log.clone(),
            self.status.clone(),
            self.stop.clone(),
            self.delay_ms.clone(),
        );
        self.thread = Some(thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let (config, key, log, status) =
                    (config.clone(), key.clone(), log.clone(), status.clone());
                let delay = Duration::from_millis(u64::from(delay.load(Ordering::SeqCst)));
                thread::spawn(move || {
                    let _ = handle(
                        tcp,
                        config,
                        &key,
                        &log,
                        status.load(Ordering::SeqCst),
                        delay,
                    );
                });
            }
        }));
    }

    /// The PEM file of the receiver's CA (for zhenwei's `[delivery] trust`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// `https://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Answer every request with `status` from now on (200 = normal).
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Take this long to answer each verified request (a slow receiver: deliveries stay in
    /// flight).
    pub fn set_delay(&self, ms: u16) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Idempotency keys that arrived while a request with the same key was still being answered
    /// (a delivery sent twice concurrently).
    pub fn overlaps(&self) -> Vec<String> {
        self.with_log(|l| l.overlaps.clone())
    }

    /// Closes the socket: connections are refused until [`Receiver::restart`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], self.port)));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.listen();
    }

    fn with_log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Everything accepted so far (verified, first delivery of its idempotency key).
    pub fn accepted(&self) -> Vec<Delivery> {
        self.with_log(|l| l.accepted.clone())
    }

    /// Idempotency keys delivered again after being accepted.
    pub fn duplicates(&self) -> Vec<String> {
        self.with_log(|l| l.duplicates.clone())
    }

    /// Why requests were refused (bad signature, digest…).
    pub fn rejected(&self) -> Vec<String> {
        self.with_log(|l| l.rejected.clone())
    }

    /// Waits (up to [`LIMIT`]) until an accepted delivery satisfies `pred`, and returns it.
    #[track_caller]
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Delivery) -> bool) -> Delivery {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(d) = self.accepted().into_iter().find(|d| pred(d)) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got no {what} within {LIMIT:?}; accepted: {:#?}; rejected: {:?}",
                self.accepted()
                    .iter()
                    .map(|d| (&d.path, &d.body["event"], &d.body["case"]["id"]))
                    .collect::<Vec<_>>(),
                self.rejected()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn respond(s: &mut impl Write, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

fn handle(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    public_key: &[u8],
    log: &Mutex<Log>,
    status: u16,
    delay: Duration,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(LIMIT))?;
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    if status != 200 {
        return respond(&mut s, status, "failing on purpose");
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let body = raw.get(head_end..head_end + length).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let host = header("host").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let verified = httpsig::verify_request(
        public_key,
        &method,
        &format!("https://{host}{path}"),
        &header,
        body,
        now,
        300,
    );
    let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
    match verified {
        Err(e) => {
            l.rejected.push(format!("{path}: {e}"));
            drop(l);
            respond(&mut s, 401, &e.to_string())
        }
        Ok(v) => {
            let key = header("idempotency-key").unwrap_or_default();
            if !delay.is_zero() {
                if l.in_flight.contains(&key) {
                    l.overlaps.push(key.clone());
                }
                l.in_flight.push(key.clone());
                drop(l);
                thread::sleep(delay);
                l = log.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(i) = l.in_flight.iter().position(|k| *k == key) {
                    l.in_flight.swap_remove(i);
                }
            }
            if l.accepted.iter().any(|d| d.idempotency_key == key) {
                l.duplicates.push(key);
            } else {
                let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                l.accepted.push(Delivery {
                    path,
                    idempotency_key: key,
                    keyid: v.keyid,
                    body,
                });
            }
            drop(l);
            respond(&mut s, 200, "ok")
        }
    }
}
