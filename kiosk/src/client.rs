//! The agent's HTTPS client: JSON requests to the zhenwei server with the kiosk's certificate.
//!
//! TLS is rustls (ring) with two things configured from the kiosk's files: the server is trusted
//! only if its certificate chains to `ca.crt` (the zhenwei instance's own CA, not the system
//! store), and the kiosk presents `kiosk.crt`/`kiosk.key` as its client certificate — that is
//! what makes its queries kiosk queries, placed at its store. HTTP is hyper 1's HTTP/1.1 client
//! connection, one connection per request: a kiosk asks a few times a minute, so there is no
//! pool to keep healthy, and every request starts from a fresh TCP/TLS state.
//!
//! Each attempt has a time limit covering connect, handshake, request and the whole answer.
//! Attempts that fail because the server could not be reached (connect refused, timeout, TLS
//! failure, 503 "unavailable") are retried after a short pause; an answer from the server
//! (any other status) is final.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::Config;

/// Largest answer read (verdicts are a few kilobytes).
const MAX_ANSWER: usize = 256 * 1024;

/// Pause before a retry.
const RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("server URL {0:?}: expected https://HOST[:PORT][/PATH]")]
    Url(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The server could not be reached (or was unavailable) on every attempt.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an error.
    #[error("server refused ({status}): {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The server's answer was not JSON.
    #[error("unreadable answer (HTTP {status}): {message}")]
    BadAnswer { status: u16, message: String },
}

/// The configured client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    host: String,
    port: u16,
    authority: String,
    base_path: String,
    timeout: Duration,
    retries: u32,
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|e| SetupError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn bad_file(path: &std::path::Path, what: &str) -> SetupError {
    SetupError::File {
        path: path.display().to_string(),
        message: format!("no {what} in it"),
    }
}

impl Client {
    /// Reads the certificates and parses the server URL.
    pub fn new(c: &Config) -> Result<Client, SetupError> {
        let uri: Uri = c
            .server
            .parse()
            .map_err(|_| SetupError::Url(c.server.clone()))?;
        if uri.scheme_str() != Some("https") {
            return Err(SetupError::Url(c.server.clone()));
        }
        let host = uri
            .host()
            .ok_or_else(|| SetupError::Url(c.server.clone()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let server_name =
            ServerName::try_from(host.clone()).map_err(|_| SetupError::Url(c.server.clone()))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        let base_path = uri.path().trim_end_matches('/').to_owned();

        let mut roots = rustls::RootCertStore::empty();
        let ca_pem = read_pem(&c.ca)?;
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            let cert = cert.map_err(|_| bad_file(&c.ca, "readable certificate"))?;
            roots.add(cert)?;
        }
        if roots.is_empty() {
            return Err(bad_file(&c.ca, "certificate"));
        }
        let cert_pem = read_pem(&c.cert)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| bad_file(&c.cert, "readable certificate"))?;
        if chain.is_empty() {
            return Err(bad_file(&c.cert, "certificate"));
        }
        let key_pem = read_pem(&c.key)?;
        let key =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| bad_file(&c.key, "private key"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            connector: TlsConnector::from(Arc::new(tls)),
            server_name,
            host,
            port,
            authority,
            base_path,
            timeout: c.timeout,
            retries: c.retries,
        })
    }

    /// POSTs `body` to `path` (e.g. `/v1/verify`), retrying while the server is unreachable;
    /// returns the JSON of a 200 answer.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, RequestError> {
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            match tokio::time::timeout(self.timeout, self.once(path, body)).await {
                Err(_) => last = format!("no answer within {:?}", self.timeout),
                Ok(Err(Attempt::Unreachable(e))) => last = e,
                Ok(Err(Attempt::Final(e))) => return Err(e),
                Ok(Ok(v)) => return Ok(v),
            }
            tracing::debug!(attempt, error = %last, path, "request failed");
        }
        Err(RequestError::Unreachable(last))
    }

    async fn once(&self, path: &str, body: &Value) -> Result<Value, Attempt> {
        let unreachable =
            |what: &str, e: &dyn std::fmt::Display| Attempt::Unreachable(format!("{what}: {e}"));
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unreachable("connect", &e))?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| unreachable("TLS", &e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| unreachable("HTTP", &e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "server connection ended");
            }
        });
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base_path))
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| unreachable("request", &e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable("HTTP", &e))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| unreachable("reading the answer", &e))?
            .to_bytes();
        let json: Result<Value, _> = serde_json::from_slice(&bytes);
        match (status, json) {
            (StatusCode::OK, Ok(v)) => Ok(v),
            (StatusCode::SERVICE_UNAVAILABLE, _) => Err(Attempt::Unreachable(
                "the server is unavailable (503)".into(),
            )),
            (s, Ok(v)) if v.get("error").is_some() => Err(Attempt::Final(RequestError::Refused {
                status: s.as_u16(),
                code: v["error"]["code"].as_str().unwrap_or("?").to_owned(),
                message: v["error"]["message"].as_str().unwrap_or("").to_owned(),
            })),
            (s, Ok(_)) => Err(Attempt::Final(RequestError::BadAnswer {
                status: s.as_u16(),
                message: "unexpected JSON".into(),
            })),
            (s, Err(e)) => Err(Attempt::Final(RequestError::BadAnswer {
                status: s.as_u16(),
                message: e.to_string(),
            })),
        }
    }
}

enum Attempt {
    Unreachable(String),
    Final(RequestError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A client for `server` with throwaway certificate files in `dir`.
    fn client(dir: &std::path::Path, server: &str, timeout_ms: u64, retries: u32) -> Client {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        std::fs::write(dir.join("kiosk.crt"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("ca.crt"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("kiosk.key"), ck.signing_key.serialize_pem()).unwrap();
        let text = format!(
            "server = \"{server}\"\n[tls]\ncert = \"kiosk.crt\"\nkey = \"kiosk.key\"\nca = \"ca.crt\"\n\
             [client]\ntimeout_ms = {timeout_ms}\nretries = {retries}\n"
        );
        let c = Config::parse(&dir.join("kiosk.toml"), &text, &Overrides::default()).unwrap();
        Client::new(&c).unwrap()
    }

    #[tokio::test]
    async fn a_silent_server_times_out_on_every_attempt() {
        let tmp = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        // Accepts and never answers (not even the TLS handshake).
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        let c = client(tmp.path(), &format!("https://{addr}"), 150, 2);
        let e = c
            .post_json("/v1/verify", &serde_json::json!({"code": "1"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RequestError::Unreachable(m) if m.contains("no answer within")),
            "{e}"
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "one attempt and two retries"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client(
            tmp.path(),
            &format!("https://127.0.0.1:{port}/base/"),
            5000,
            0,
        );
        assert_eq!(c.base_path, "/base");
        assert_eq!(c.authority, format!("127.0.0.1:{port}"));
        let e = c
            .post_json("/v1/verify", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RequestError::Unreachable(m) if m.starts_with("connect")),
            "{e}"
        );
    }

    #[test]
    fn bad_certificate_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ca.crt"), "not a certificate").unwrap();
        let text = "server = \"https://127.0.0.1:1\"\n[tls]\ncert = \"kiosk.crt\"\nkey = \"kiosk.key\"\nca = \"ca.crt\"\n";
        let c = Config::parse(&tmp.path().join("k.toml"), text, &Overrides::default()).unwrap();
        let e = Client::new(&c).err().unwrap().to_string();
        assert!(e.contains("ca.crt") && e.contains("no certificate"), "{e}");
    }
}
