//! HTTPS requests with an optional client certificate, as regulators' and enterprises'
//! programs (and the kiosks) talk to `zhenwei serve`: rustls with zhenwei's CA as the only root,
//! the identity's certificate and key from the PEM files `zhenwei … issue` writes.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::http::{exchange, Response};
use crate::LIMIT;

/// The certificates of a PEM file.
pub fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|c| c.expect("a PEM certificate"))
        .collect()
}

/// A rustls client trusting `ca`, presenting the identity `(dir, stem)` (`dir/stem.crt`,
/// `dir/stem.key`) or no certificate, speaking `versions` and offering `alpn`.
pub fn client(
    ca: &Path,
    identity: Option<(&Path, &str)>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).expect("a CA certificate");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_root_certificates(roots);
    let mut config = match identity {
        Some((dir, stem)) => builder
            .with_client_auth_cert(
                certs(&dir.join(format!("{stem}.crt"))),
                PrivateKeyDer::from_pem_file(dir.join(format!("{stem}.key"))).expect("a PEM key"),
            )
            .expect("a client identity"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// [`client`] with rustls's default protocol versions (TLS 1.2 and 1.3), offering HTTP/1.1.
pub fn default_client(ca: &Path, identity: Option<(&Path, &str)>) -> Arc<ClientConfig> {
    client(
        ca,
        identity,
        rustls::DEFAULT_VERSIONS,
        &[b"http/1.1".as_slice()],
    )
}

/// A TLS stream to `addr` (the handshake happens on first use).
pub fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, LIMIT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    tcp.set_read_timeout(Some(LIMIT)).expect("read timeout");
    tcp.set_write_timeout(Some(LIMIT)).expect("write timeout");
    let conn = ClientConnection::new(config, ServerName::from(addr.ip())).expect("a TLS client");
    StreamOwned::new(conn, tcp)
}

/// One request over HTTPS with `config`; `Err` when TLS (or anything else) failed before a
/// complete answer.
pub fn send(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Response, String> {
    let mut stream = connect(addr, config);
    exchange(&mut stream, &addr.to_string(), method, path, body)
}

/// One request over HTTPS to `addr`, trusting `ca`, presenting the identity `(dir, stem)`
/// (`dir/stem.crt`, `dir/stem.key`) or no certificate.
pub fn request(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<(&Path, &str)>,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Response {
    send(addr, default_client(ca, identity), method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}
