//! The people and devices the tests set up with the operator's CLI, written once: regulator
//! offices (`zhenwei regulator set`), regulator accounts with their certificates (`zhenwei
//! regulator issue`), enterprise operators (`zhenwei enterprise operator add|confirm`) and
//! kiosks (`zhenwei kiosk add`).
//!
//! Each helper takes the test's way of running the CLI (`cli`), since tests run it in their own
//! data directory, some with a `--config` in front.

use std::path::Path;

use crate::Output;

/// `zhenwei regulator set --prefix PREFIX --name NAME --url URL`: an office cases are
/// delivered to.
#[track_caller]
pub fn set_office(cli: impl Fn(&[&str]) -> Output, prefix: &str, name: &str, url: &str) {
    cli(&[
        "regulator",
        "set",
        "--prefix",
        prefix,
        "--name",
        name,
        "--url",
        url,
    ])
    .ok();
}

/// `zhenwei regulator issue --prefix PREFIX --name NAME --out DIR`: a regulator account, its
/// certificate and key (`regulator.crt`, `regulator.key`) and the CA in `dir`.
#[track_caller]
pub fn issue_regulator(cli: impl Fn(&[&str]) -> Output, prefix: &str, name: &str, dir: &Path) {
    cli(&[
        "regulator",
        "issue",
        "--prefix",
        prefix,
        "--name",
        name,
        "--out",
        dir.to_str().expect("a UTF-8 path"),
    ])
    .ok();
}

/// `zhenwei enterprise operator add --enterprise CREDIT --name NAME --role ROLE --out DIR`:
/// an operator, its certificate and key (`operator.crt`, `operator.key`) and the CA in `dir`.
#[track_caller]
pub fn add_operator(
    cli: impl Fn(&[&str]) -> Output,
    credit: &str,
    name: &str,
    role: &str,
    dir: &Path,
) {
    cli(&[
        "enterprise",
        "operator",
        "add",
        "--enterprise",
        credit,
        "--name",
        name,
        "--role",
        role,
        "--out",
        dir.to_str().expect("a UTF-8 path"),
    ])
    .ok();
}

/// `zhenwei enterprise operator confirm --name NAME --by BY`, its output unchecked.
pub fn confirm_operator(cli: impl Fn(&[&str]) -> Output, name: &str, by: &str) -> Output {
    cli(&[
        "enterprise",
        "operator",
        "confirm",
        "--name",
        name,
        "--by",
        by,
    ])
}

/// `zhenwei kiosk add --store STORE --name NAME --out DIR`: a kiosk of a store, its
/// certificate and key (`kiosk.crt`, `kiosk.key`), the CA and `kiosk.toml` in `dir`. The
/// command's output (checked successful; it prints the kiosk.toml).
#[track_caller]
pub fn add_kiosk(cli: impl Fn(&[&str]) -> Output, store: &str, name: &str, dir: &Path) -> Output {
    let out = cli(&[
        "kiosk",
        "add",
        "--store",
        store,
        "--name",
        name,
        "--out",
        dir.to_str().expect("a UTF-8 path"),
    ]);
    out.ok();
    out
}

/// The permission bits of a file (`0o600` for a private key).
pub fn mode(path: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions(),
    ) & 0o777
}
