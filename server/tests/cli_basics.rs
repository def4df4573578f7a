//! The `zhenwei` command line without a database: `decode`, help, version and argument errors.
//!
//! Having integration tests in this package also makes `cargo test --workspace` build the real
//! `zhenwei` binary before any test runs, which the workspace end-to-end tests (`tests/`) rely on.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// Upper bound for one command.
const LIMIT: Duration = Duration::from_secs(30);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    fn assert_no_panic(&self) {
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(!self.stderr.contains(bad), "stderr: {}", self.stderr);
        }
    }
}

/// Runs the binary with `args` in `cwd`, isolated from the caller's `ZHENWEI_*` settings, for at
/// most [`LIMIT`] (a watchdog kills it after that and the test fails).
fn run_in(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhenwei"));
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "ZHENWEI_DATA_DIR",
        "ZHENWEI_DATABASE_URL",
        "ZHENWEI_KEY_FILE",
        "ZHENWEI_CONFIG",
        "ZHENWEI_LOG",
        "RUST_BACKTRACE",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("the zhenwei binary starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id().to_string();
    let (done, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let timed_out = done_rx.recv_timeout(LIMIT).is_err();
        if timed_out {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        timed_out
    });
    let status = child.wait().expect("wait for zhenwei");
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(true);
    assert!(
        !timed_out,
        "`zhenwei {}` did not finish within {LIMIT:?}",
        args.join(" ")
    );
    Run {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn run(args: &[&str]) -> Run {
    let cwd = tempfile::tempdir().expect("temp dir");
    run_in(cwd.path(), args)
}

#[test]
fn decode_a_grouped_supervision_code() {
    let r = run(&["decode", "1234 5678 9012 3456 7890", "--json"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.json(),
        json!({"family": "supervision", "code": "12345678901234567890"})
    );
}

#[test]
fn decode_full_width_and_dashed_digits() {
    let r = run(&[
        "decode",
        "１２３４-５６７８-９０１２-３４５６-７８９０",
        "--json",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.json(),
        json!({"family": "supervision", "code": "12345678901234567890"})
    );
}

#[test]
fn decode_gs1_scans_with_escaped_group_separators() {
    // The same DataMatrix content, GS written as the 4-character escape `\x1d` and as `<GS>`;
    // the serial (21) comes before the lot (10) to show that scan order is kept.
    let expected = json!({
        "family": "gs1",
        "code": "(01)09506000134352(21)XYZ(10)ABC123",
        "ais": [["01", "09506000134352"], ["21", "XYZ"], ["10", "ABC123"]],
    });
    for scan in [
        r"]d2010950600013435221XYZ\x1d10ABC123",
        r"]d2010950600013435221XYZ\x1D10ABC123",
        "]d2010950600013435221XYZ<GS>10ABC123",
        "]d2010950600013435221XYZ\u{1d}10ABC123",
    ] {
        let r = run(&["decode", scan, "--json"]);
        assert!(r.status.success(), "{scan:?}: {}", r.stderr);
        assert_eq!(r.json(), expected, "{scan:?}");
    }
}

#[test]
fn decode_gs1_with_a_fixed_length_expiry() {
    let r = run(&[
        "decode",
        r"]d201095060001343521727123110ABC123\x1d21XYZ",
        "--json",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.json()["ais"],
        json!([
            ["01", "09506000134352"],
            ["17", "271231"],
            ["10", "ABC123"],
            ["21", "XYZ"]
        ])
    );
}

#[test]
fn decode_prints_readable_text_without_json() {
    let r = run(&["decode", "]d2010950600013435221XYZ<GS>10ABC123"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "family: gs1\ncode:   (01)09506000134352(21)XYZ(10)ABC123\n  (01) 09506000134352\n  (21) XYZ\n  (10) ABC123\n"
    );
}

#[test]
fn decode_a_bad_gtin_check_digit() {
    // 8 digits is no scratch PIN, so the GTIN check digit decides; with the EAN-13 symbology
    // identifier `]E0` a 13-digit text is a GTIN whatever it looks like.
    for (scan, expected, found) in [("12345678", '0', '8'), ("]E06901234567890", '2', '0')] {
        let r = run(&["decode", scan, "--json"]);
        assert_eq!(r.status.code(), Some(1), "{scan}: {}", r.stdout);
        let v = r.json();
        assert_eq!(v["error"]["code"], "gtin_bad_check_digit", "{scan}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&format!("is {found} but should be {expected}")),
            "{scan}: {msg}"
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{v}");
        r.assert_no_panic();
    }
}

#[test]
fn decode_errors_without_json_go_to_stderr() {
    let r = run(&["decode", "hello!"]);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr.trim_end(),
        "error: a scratch PIN has only letters A-Z and digits 0-9, but character 6 is '!' [pin_bad_character]"
    );
}

#[test]
fn decode_needs_no_data_directory() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let r = run_in(cwd.path(), &["decode", "6901234000115", "--json"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.json(), json!({"family": "gtin", "code": "6901234000115"}));
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("read cwd")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "decode created {left:?}");
}

/// Every subcommand of cli.rs, nested ones as paths.
const SUBCOMMANDS: [&[&str]; 37] = [
    &["serve"],
    &["demo-codes"],
    &["verify"],
    &["report"],
    &["history"],
    &["decode"],
    &["enterprise"],
    &["enterprise", "add"],
    &["prefix"],
    &["prefix", "add"],
    &["prefix", "renew"],
    &["prefix", "cancel"],
    &["product"],
    &["product", "add"],
    &["range"],
    &["range", "request"],
    &["range", "export"],
    &["range", "activate"],
    &["range", "cancel"],
    &["serials"],
    &["serials", "upload"],
    &["pins"],
    &["pins", "upload"],
    &["codes"],
    &["codes", "cancel"],
    &["store"],
    &["store", "add"],
    &["store", "add-kiosk"],
    &["kiosk"],
    &["kiosk", "add"],
    &["kiosk", "issue"],
    &["kiosk", "revoke"],
    &["kiosk", "list"],
    &["keys"],
    &["keys", "rotate"],
    &["keys", "show"],
    &["audit"],
];

#[test]
fn help_for_the_program_and_every_subcommand() {
    let r = run(&["--help"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(r.stdout.contains("Usage: zhenwei"), "{}", r.stdout);
    for path in SUBCOMMANDS.iter().filter(|p| p.len() == 1) {
        assert!(
            r.stdout.contains(&format!("\n  {} ", path[0])),
            "--help does not list {}:\n{}",
            path[0],
            r.stdout
        );
    }
    let mut all: Vec<Vec<&str>> = SUBCOMMANDS.iter().map(|p| p.to_vec()).collect();
    all.push(vec!["audit", "verify"]);
    all.push(vec!["audit", "list"]);
    for path in all {
        let mut args = path.clone();
        args.push("--help");
        let r = run(&args);
        assert!(
            r.status.success(),
            "zhenwei {} exited with {}: {}",
            args.join(" "),
            r.status,
            r.stderr
        );
        let usage = format!("Usage: zhenwei {}", path.join(" "));
        assert!(
            r.stdout.contains(&usage),
            "zhenwei {} does not show {usage:?}:\n{}",
            args.join(" "),
            r.stdout
        );
    }
}

#[test]
fn version() {
    let r = run(&["--version"]);
    assert!(r.status.success());
    assert_eq!(
        r.stdout.trim(),
        format!("zhenwei {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error_not_a_panic() {
    let r = run(&["verify", "12345678901234567890", "--bogus"]);
    assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("unexpected argument '--bogus'"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    r.assert_no_panic();

    let r = run(&["frobnicate"]);
    assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        r.stderr
    );
    r.assert_no_panic();

    let r = run(&[]);
    assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("Usage: zhenwei"), "{}", r.stderr);
    r.assert_no_panic();

    let r = run(&["verify", "1", "--channel", "fax"]);
    assert_eq!(r.status.code(), Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("invalid value 'fax'"), "{}", r.stderr);
    r.assert_no_panic();
}
