//! HTTPS: the TLS configuration of the kiosk-facing listener, and who a connection is.
//!
//! One listener serves everyone over TLS 1.3 or 1.2 (rustls has nothing older), offering ALPN
//! `h2` and `http/1.1`. A client certificate is **optional at the TLS layer**, so the public page
//! and `/healthz` work over HTTPS from any browser; but a certificate that *is* presented must
//! chain to the CA of this data directory ([`crate::pki`]) or the handshake fails — a
//! certificate from another CA never reaches the HTTP layer.
//!
//! What a verified certificate *means* is decided per request, in [`authenticate_kiosk`]: a
//! `channel: "kiosk"` query is accepted only when the connection presented the certificate
//! currently pinned to a kiosk (by SHA-256 fingerprint, see `zhenwei_core::kiosk_certs`) and that
//! kiosk is not revoked. The kiosk's identity — and so its store, the query's place and source —
//! comes from that certificate, never from the request body. The database is read on every kiosk
//! request, so `zhenwei kiosk revoke` takes effect at the next request, even on a connection
//! that is already open.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use zhenwei_core::kiosk_certs::KioskRecord;
use zhenwei_core::Core;

use crate::pki::{fingerprint, Ca, PkiError};

/// Why the HTTPS listener could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the HTTPS listener on `addr` with the CA of `data_dir` (created on first use) and a
/// server certificate for localhost, 127.0.0.1, ::1, the address listened on (unless it is a
/// wildcard) and `extra_names`.
pub async fn listen(
    data_dir: &Path,
    addr: SocketAddr,
    extra_names: &[String],
) -> Result<crate::http::Https, TlsError> {
    let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    names.extend(extra_names.iter().cloned());
    let config = server_config(&ca, &names)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TlsError::Bind { addr, source })?;
    Ok(crate::http::Https { listener, config })
}

/// The server side of TLS: our CA for client certificates (optional), a server certificate for
/// `names` freshly issued by that CA, TLS 1.3 + 1.2, ALPN h2 and http/1.1.
pub fn server_config(ca: &Ca, names: &[String]) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()?)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let server = ca.issue_server(names)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert_der.clone()], server.key_der())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client certificate that a TLS connection presented and the CA verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-256 of its DER, lower-case hex.
    pub sha256: String,
}

/// The verified client certificate of an established connection, if it presented one.
pub fn client_cert(conn: &rustls::ServerConnection) -> Option<ClientCert> {
    let end_entity = conn.peer_certificates()?.first()?;
    Some(ClientCert {
        sha256: fingerprint(end_entity),
    })
}

/// Why a kiosk query was refused (HTTP 403).
#[derive(Debug, thiserror::Error)]
pub enum KioskRefusal {
    #[error(
        "kiosk queries must come over HTTPS with the kiosk's client certificate \
         (`zhenwei kiosk add` issues one)"
    )]
    NoCertificate,
    #[error(
        "this client certificate belongs to no kiosk, or has been replaced by a newer one \
         (`zhenwei kiosk issue NAME`)"
    )]
    Unknown,
    #[error("the certificate of kiosk {0:?} has been revoked")]
    Revoked(String),
    #[error("the kiosk registry cannot be read: {0}")]
    Unavailable(#[from] zhenwei_core::lifecycle::LifecycleError),
}

impl KioskRefusal {
    /// The `error.code` of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            KioskRefusal::NoCertificate => "kiosk_certificate_required",
            KioskRefusal::Unknown => "kiosk_certificate_unknown",
            KioskRefusal::Revoked(_) => "kiosk_certificate_revoked",
            KioskRefusal::Unavailable(_) => "unavailable",
        }
    }
}

/// The kiosk a connection's certificate names, if it may query now.
pub async fn authenticate_kiosk(
    core: &Core,
    cert: Option<&ClientCert>,
) -> Result<KioskRecord, KioskRefusal> {
    let cert = cert.ok_or(KioskRefusal::NoCertificate)?;
    let kiosk = core
        .registry
        .kiosk_by_certificate(&cert.sha256)
        .await?
        .ok_or(KioskRefusal::Unknown)?;
    if kiosk.revoked_at.is_some() {
        return Err(KioskRefusal::Revoked(kiosk.name));
    }
    Ok(kiosk)
}
