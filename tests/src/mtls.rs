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
    let mut roots = RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).expect("a CA certificate");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
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
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
    tcp.set_read_timeout(Some(LIMIT)).expect("read timeout");
    let conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("127.0.0.1").expect("a server name"),
    )
    .expect("a TLS client");
    let mut stream = StreamOwned::new(conn, tcp);
    exchange(&mut stream, &addr.to_string(), method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}
