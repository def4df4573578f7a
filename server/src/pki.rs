//! The certificate authority in the data directory, and the certificates it signs.
//!
//! Kiosks authenticate with TLS client certificates (SPEC "Channels → Kiosk"). zhenwei is its own
//! small CA for that, so an operator never runs `openssl`:
//!
//! ```text
//! <data-dir>/tls/            (mode 0700)
//!   ca.key      the CA's private key, ECDSA P-256, PKCS#8 PEM, mode 0600 — never leaves here
//!   ca.crt      the CA certificate (self-signed, 20 years); kiosks get a copy to trust the server
//!   server.key  the HTTPS listener's key, mode 0600       } re-issued at every `serve` start, so
//!   server.crt  its certificate, signed by the CA         } their names follow `--tls-san`
//! ```
//!
//! * **Created on first use** (`serve` with HTTPS on, or `kiosk add`), atomically: the key is
//!   written to a temporary file and published with a hard link, which fails if another process
//!   got there first — then that process's key is used. The CA certificate is *derived* from the
//!   key (its name includes a digest of the public key), so if it is missing, or two processes
//!   race to write it, any copy is equivalent: a trust anchor is a name and a public key.
//! * **Refused if too open**: like the code key file, a key file that group or others can read is
//!   not used (`chmod 600` it first).
//! * **Kiosk certificates** ([`Ca::issue_kiosk`]): subject CN = the kiosk name, extended key
//!   usage `clientAuth`, 5 years, a random 128-bit serial. The caller records the serial and the
//!   SHA-256 fingerprint in the database (`zhenwei_core::kiosk_certs`); the key goes only into
//!   the kiosk's own directory.
//!
//! Certificates are generated with `rcgen` (ring backend); no X.509 is written by hand.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Validity of the CA certificate.
const CA_DAYS: i64 = 20 * 365;
/// Validity of kiosk and server certificates.
const LEAF_DAYS: i64 = 5 * 365;
/// Certificates are valid from a little before "now", for clocks that lag.
const BACKDATE: Duration = Duration::hours(1);

/// Why the CA or a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` first",
        path = path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is not a usable private key: {source}", path = path.display())]
    BadKey { path: PathBuf, source: rcgen::Error },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0:?} is not a valid DNS name or IP address for the server certificate")]
    BadName(String),
}

impl PkiError {
    fn read(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
        move |source| PkiError::Read {
            path: path.to_owned(),
            source,
        }
    }

    fn write(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
        move |source| PkiError::Write {
            path: path.to_owned(),
            source,
        }
    }
}

/// A certificate and its new private key, as PEM. Deliberately not `Debug`: it holds a key.
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    key: KeyPair,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// Expiry, Unix ms.
    pub not_after_ms: i64,
}

impl Issued {
    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The private key for rustls.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

/// The CA of one data directory.
pub struct Ca {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a certificate's DER, lower-case hex: how the database names a certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The CA's name, derived from its key so that a lost `ca.crt` can be made again identically.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let digest = hex::encode(Sha256::digest(key.public_key_raw()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "zhenwei");
    dn.push(
        DnType::CommonName,
        format!("zhenwei kiosk CA {}", &digest[..12]),
    );
    let mut p = CertificateParams::default();
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// A host name as certificates carry it: dot-separated labels of letters, digits and inner
/// hyphens (IDNs in their `xn--` form).
fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn random_serial() -> (SerialNumber, String) {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // and exactly 16 bytes long
    (SerialNumber::from_slice(&bytes), hex::encode(bytes))
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(days);
}

fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(PkiError::write(dir))
}

/// Writes `bytes` to a fresh temporary file beside `path` with `mode`, synced; returns its path.
fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, PkiError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(PkiError::write(&tmp))?;
    // `mode` is filtered by the umask on creation; say it again for an existing file.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(PkiError::write(&tmp))?;
    f.write_all(bytes).map_err(PkiError::write(&tmp))?;
    f.sync_all().map_err(PkiError::write(&tmp))?;
    Ok(tmp)
}

/// Writes a file atomically (temporary file, then rename) with `mode`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = write_temp(path, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        PkiError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Creates `path` only if it does not exist yet; `false` if another process created it first.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<bool, PkiError> {
    let tmp = write_temp(path, bytes, mode)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(PkiError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads a private key file, refusing one that group or others can read.
fn read_key(path: &Path) -> Result<KeyPair, PkiError> {
    let meta = fs::metadata(path).map_err(PkiError::read(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PkiError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let pem = fs::read_to_string(path).map_err(PkiError::read(path))?;
    KeyPair::from_pem(&pem).map_err(|source| PkiError::BadKey {
        path: path.to_owned(),
        source,
    })
}

impl Ca {
    /// The TLS directory of a data directory.
    pub fn dir_of(data_dir: &Path) -> PathBuf {
        data_dir.join("tls")
    }

    /// Opens the CA in `dir` (`<data-dir>/tls`), creating it on first use.
    pub fn open_or_create(dir: &Path) -> Result<Ca, PkiError> {
        create_private_dir(dir)?;
        let key_path = dir.join("ca.key");
        if !key_path.exists() {
            let key = KeyPair::generate()?;
            if write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)? {
                tracing::info!(dir = %dir.display(), "created the kiosk certificate authority");
            }
        }
        let key = read_key(&key_path)?;
        let params = ca_params(&key);
        let cert_path = dir.join("ca.crt");
        let cert_pem = match fs::read_to_string(&cert_path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut p = params.clone();
                validity(&mut p, CA_DAYS);
                p.serial_number = Some(random_serial().0);
                let pem = p.self_signed(&key)?.pem();
                write_file(&cert_path, pem.as_bytes(), 0o644)?;
                pem
            }
            Err(source) => {
                return Err(PkiError::Read {
                    path: cert_path,
                    source,
                })
            }
        };
        Ok(Ca {
            dir: dir.to_owned(),
            issuer: Issuer::new(params, key),
            cert_pem,
        })
    }

    /// `ca.crt` as PEM, for kiosks.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate as DER (the trust anchor for client certificates).
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(|e| PkiError::Read {
            path: self.dir.join("ca.crt"),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })
    }

    fn sign(&self, mut p: CertificateParams) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let (serial_number, serial) = random_serial();
        p.serial_number = Some(serial_number);
        validity(&mut p, LEAF_DAYS);
        p.use_authority_key_identifier_extension = true;
        let not_after_ms = (p.not_after.unix_timestamp_nanos() / 1_000_000) as i64;
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            sha256: fingerprint(cert.der()),
            cert_der: cert.der().clone(),
            key,
            serial,
            not_after_ms,
        })
    }

    /// A client certificate for a kiosk: CN = its name, `clientAuth` only.
    pub fn issue_kiosk(&self, name: &str) -> Result<Issued, PkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "zhenwei kiosk");
        dn.push(DnType::CommonName, name);
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    /// A client certificate for a regulator account: CN = its name, `clientAuth` only. What it
    /// may see is decided by the database (`zhenwei_core::cases::accounts`), not the certificate.
    pub fn issue_regulator(&self, name: &str) -> Result<Issued, PkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "zhenwei regulator");
        dn.push(DnType::CommonName, name);
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    /// A client certificate for an enterprise operator account (the enterprise API), CN = the
    /// operator's name, O = the enterprise's credit code; `clientAuth` only.
    pub fn issue_operator(&self, name: &str, credit_code: &str) -> Result<Issued, PkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, credit_code);
        dn.push(
            DnType::OrganizationalUnitName,
            "zhenwei enterprise operator",
        );
        dn.push(DnType::CommonName, name);
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    /// zhenwei's own client certificate for delivering case reports to regulators and
    /// enterprises (CN `zhenwei-delivery`, `clientAuth` only). Receivers trust `ca.crt`.
    pub fn issue_delivery_client(&self) -> Result<Issued, PkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "zhenwei");
        dn.push(DnType::CommonName, "zhenwei-delivery");
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    /// A server certificate for `names` (DNS names or IP addresses), written to `server.crt` and
    /// `server.key` (0600) for inspection. The server uses the returned copy.
    pub fn issue_server(&self, names: &[String]) -> Result<Issued, PkiError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "zhenwei");
        dn.push(DnType::CommonName, "zhenwei server");
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) if is_dns_name(name) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|_| PkiError::BadName(name.clone()))?,
                ),
                Err(_) => return Err(PkiError::BadName(name.clone())),
            };
            if !p.subject_alt_names.contains(&san) {
                p.subject_alt_names.push(san);
            }
        }
        let issued = self.sign(p)?;
        write_file(
            &self.dir.join("server.key"),
            issued.key_pem().as_bytes(),
            0o600,
        )?;
        write_file(
            &self.dir.join("server.crt"),
            issued.cert_pem.as_bytes(),
            0o644,
        )?;
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_once_with_private_modes_and_reopened_identically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Ca::dir_of(tmp.path());
        let ca = Ca::open_or_create(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("ca.key")), 0o600);
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let key = fs::read(dir.join("ca.key")).unwrap();
        let again = Ca::open_or_create(&dir).unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert_eq!(fs::read(dir.join("ca.key")).unwrap(), key);
        // No temporary files are left behind.
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_lost_ca_certificate_is_derived_again_from_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Ca::dir_of(tmp.path());
        let ca = Ca::open_or_create(&dir).unwrap();
        let kiosk = ca.issue_kiosk("kiosk-x").unwrap();
        fs::remove_file(dir.join("ca.crt")).unwrap();
        let again = Ca::open_or_create(&dir).unwrap();
        // A different certificate (new serial and dates) with the same name and key: it still
        // anchors the kiosk certificate issued before.
        assert_ne!(again.cert_pem(), ca.cert_pem());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(again.cert_der().unwrap()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        verifier
            .verify_client_cert(&kiosk.cert_der, &[], rustls::pki_types::UnixTime::now())
            .expect("the kiosk certificate verifies against the re-derived CA");
    }

    #[test]
    fn an_open_key_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Ca::dir_of(tmp.path());
        Ca::open_or_create(&dir).unwrap();
        fs::set_permissions(dir.join("ca.key"), fs::Permissions::from_mode(0o644)).unwrap();
        let e = Ca::open_or_create(&dir).unwrap_err();
        assert!(matches!(e, PkiError::TooOpen { mode: 0o644, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn kiosk_and_server_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = Ca::open_or_create(&Ca::dir_of(tmp.path())).unwrap();
        let a = ca.issue_kiosk("kiosk-nb-02").unwrap();
        let b = ca.issue_kiosk("kiosk-nb-02").unwrap();
        assert_ne!(a.serial, b.serial);
        assert_eq!(a.serial.len(), 32);
        assert_eq!(a.sha256, fingerprint(&a.cert_der));
        assert_eq!(a.sha256.len(), 64);
        assert!(a.key_pem().contains("PRIVATE KEY"));
        assert!(a.not_after_ms > chrono::Utc::now().timestamp_millis());

        let names = [
            "localhost",
            "127.0.0.1",
            "::1",
            "zhenwei.example",
            "localhost",
        ]
        .map(String::from);
        ca.issue_server(&names).unwrap();
        let dir = &ca.dir;
        assert_eq!(mode(&dir.join("server.key")), 0o600);
        assert!(fs::read_to_string(dir.join("server.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        let e = ca
            .issue_server(&["not a name".to_owned()])
            .err()
            .expect("refused");
        assert!(matches!(e, PkiError::BadName(_)), "{e}");
        assert!(is_dns_name("kiosk.zhenwei.example"));
        assert!(!is_dns_name("-bad.example") && !is_dns_name("a..b") && !is_dns_name(""));
    }
}
