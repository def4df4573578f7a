//! Client certificates for headless Chromium.
//!
//! Headless Chromium has no certificate picker: asked for a client certificate, it aborts the
//! handshake. A browser started by these tests therefore gets a `HOME` of its own with an NSS
//! database (`HOME/.pki/nssdb`, made with `certutil`/`pk12util` from Debian's `libnss3-tools`)
//! that trusts zhenwei's CA and holds the account's certificate and key (a PKCS#12 made with
//! `openssl`), and [`crate::webdriver::Browser::start_with_certificate`] gives its fresh profile
//! the per-profile setting behind the `AutoSelectCertificateForUrls` policy. Nothing
//! machine-wide is touched, so no root is needed. Used by the regulator and enterprise portals'
//! tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::webdriver::{locate, INSTALL_HINT};

/// Runs a tool, panicking with its output on failure.
#[track_caller]
fn tool(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What is missing to run a browser with a client certificate, if anything.
pub fn missing_tools() -> Option<String> {
    if let Err(m) = locate() {
        return Some(format!("{m} (install {INSTALL_HINT})"));
    }
    for t in ["certutil", "pk12util", "openssl"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{t} is missing (apt-get install libnss3-tools openssl)"
            ));
        }
    }
    None
}

/// A HOME for one browser under `root`: an NSS database trusting `ca`, with the client
/// certificate and key `identity` (PEM files: certificate, key) if given.
pub fn home_with(root: &Path, name: &str, ca: &Path, identity: Option<(&Path, &Path)>) -> PathBuf {
    let home = root.join(format!("home-{name}"));
    let nss = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nss).expect("the NSS directory");
    let db = format!("sql:{}", nss.display());
    tool("certutil", &["-N", "-d", &db, "--empty-password"]);
    let ca = ca.to_string_lossy();
    tool(
        "certutil",
        &["-A", "-d", &db, "-n", "zhenwei-ca", "-t", "C,,", "-i", &ca],
    );
    if let Some((cert, key)) = identity {
        let p12 = home.join("identity.p12");
        let (cert, key, p12s) = (
            cert.to_string_lossy(),
            key.to_string_lossy(),
            p12.to_string_lossy(),
        );
        tool(
            "openssl",
            &[
                "pkcs12", "-export", "-in", &cert, "-inkey", &key, "-name", name, "-passout",
                "pass:", "-out", &p12s,
            ],
        );
        tool("pk12util", &["-i", &p12s, "-d", &db, "-W", ""]);
    }
    home
}
