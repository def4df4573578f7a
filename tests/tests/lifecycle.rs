//! The code lifecycle through the CLI on a fresh data directory without demo data and without a
//! server (every command opens the database itself): enterprise → prefix → product → range →
//! export → activation → cancellation, GS1 serial and scratch-PIN uploads, the audit chain, key
//! rotation; and the operator errors, each one clear line on stderr.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;
use zhenwei_tests::{
    assert_verdict, case_ids, command, grouped, random_digits, run_command, run_in, verify_in,
    with_gtin_check_digit, Output,
};

/// The standard's own worked example of a unified social credit code (GB 32100).
const CREDIT_CODE: &str = "91350100M000100Y43";
const PREFIX: &str = "6970001";

fn gtin() -> String {
    with_gtin_check_digit("697000100001")
}

/// A data directory with one enterprise, its prefix and one product.
fn registered() -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    let d = dir.path();
    let out = run_in(
        d,
        [
            "enterprise",
            "add",
            "--credit-code",
            CREDIT_CODE,
            "--name",
            "福州闽江食品有限公司",
            "--name-en",
            "Fuzhou Minjiang Foods Co., Ltd.",
            "--division",
            "350100",
        ],
    );
    assert_eq!(out.ok().stdout, "enterprise 1 registered\n");
    let out = run_in(
        d,
        [
            "prefix",
            "add",
            "--credit-code",
            CREDIT_CODE,
            "--prefix",
            PREFIX,
        ],
    );
    let line = out.ok().stdout.trim().to_owned();
    let until = line
        .strip_prefix(&format!("prefix {PREFIX} registered, valid until "))
        .unwrap_or_else(|| panic!("unexpected output {line:?}"));
    assert!(
        until.len() == 10 && until.as_bytes()[4] == b'-' && until.as_bytes()[7] == b'-',
        "{until:?} is not a date"
    );
    let out = run_in(
        d,
        [
            "product",
            "add",
            "--gtin",
            &gtin(),
            "--credit-code",
            CREDIT_CODE,
            "--name",
            "闽江苏打饼干",
            "--name-en",
            "Minjiang soda crackers",
            "--spec",
            "400 g",
        ],
    );
    assert_eq!(out.ok().stdout, "product 1 registered\n");
    dir
}

/// `range request`, returning the printed line.
fn request_range(d: &Path, size: u32) -> String {
    run_in(
        d,
        [
            "range",
            "request",
            "--gtin",
            &gtin(),
            "--size",
            &size.to_string(),
        ],
    )
    .ok()
    .stdout
    .trim()
    .to_owned()
}

/// Parses `serial,code,printed` CSV, checking its shape. Returns the codes in serial order.
fn parse_export(csv: &str, from: u64) -> Vec<String> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("serial,code,printed"), "{csv}");
    lines
        .enumerate()
        .map(|(i, line)| {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), 3, "{line:?}");
            assert_eq!(cols[0], (from + i as u64).to_string(), "{line:?}");
            let code = cols[1];
            assert!(
                code.len() == 20 && code.bytes().all(|b| b.is_ascii_digit()),
                "{code:?} is not 20 digits"
            );
            assert_eq!(cols[2], grouped(code, 4, " "), "{line:?}");
            code.to_owned()
        })
        .collect()
}

fn verify(d: &Path, code: &str) -> Value {
    verify_in(d, code, &[])
}

fn audit_actions(d: &Path) -> Vec<String> {
    run_in(d, ["audit", "list", "--limit", "100000"])
        .ok()
        .stdout
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            e["action"].as_str().expect("action").to_owned()
        })
        .collect()
}

fn audit_intact(d: &Path) -> usize {
    let out = run_in(d, ["audit", "verify"]);
    let line = out.ok().stdout.trim().to_owned();
    line.strip_prefix("audit chain intact: ")
        .and_then(|s| s.strip_suffix(" entries"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {line:?}"))
}

#[test]
fn from_enterprise_to_verified_codes() {
    let dir = registered();
    let d = dir.path();
    let g = gtin();
    let g14 = format!("0{g}");

    assert_eq!(
        request_range(d, 1000),
        "range 1 issued: 1000 codes (serials 0..1000), key version 1"
    );

    // Export five codes for printing.
    let csv_path = d.join("print.csv");
    let csv_arg = csv_path.to_str().expect("utf-8 path");
    let out = run_in(
        d,
        [
            "range", "export", "1", "--from", "0", "--to", "5", "--out", csv_arg,
        ],
    );
    assert_eq!(
        out.ok().stdout,
        format!("5 codes written to {}\n", csv_path.display())
    );
    let csv = std::fs::read_to_string(&csv_path).expect("the export file");
    let codes = parse_export(&csv, 0);
    assert_eq!(codes.len(), 5);
    let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 5, "{codes:?}");
    // Export is deterministic: the same serials give the same codes (to standard output).
    let again = run_in(d, ["range", "export", "1", "--from", "3", "--to", "5"]);
    assert_eq!(parse_export(&again.ok().stdout, 3), codes[3..5]);

    // Printed but not activated: not on sale legitimately.
    let v = verify(d, &codes[0]);
    assert_verdict(&v, "suspect", &["not_activated"]);
    assert_eq!(case_ids(&v).len(), 1, "{v}");
    assert_eq!(v["product"]["gtin"], g14.as_str());
    assert_eq!(v["batch"], Value::Null);

    // Activate serials 0..3.
    let out = run_in(
        d,
        [
            "range",
            "activate",
            "1",
            "--from",
            "0",
            "--to",
            "3",
            "--lot",
            "L1",
            "--expiry",
            "2030-01-01",
        ],
    );
    assert_eq!(
        out.ok().stdout,
        "range 1 serials 0..3 activated with lot L1\n"
    );
    let v = verify(d, &codes[0]);
    assert_verdict(&v, "genuine", &["repeat_query"]);
    assert_eq!(v["batch"]["lot"], "L1");
    assert_eq!(v["batch"]["expiry_date"], "2030-01-01");
    for c in &codes[1..3] {
        let v = verify(d, c);
        assert_verdict(&v, "genuine", &[]);
        assert_eq!(v["product"]["name"], "闽江苏打饼干");
        assert_eq!(v["enterprise"]["credit_code"], CREDIT_CODE);
        assert_eq!(v["batch"]["lot"], "L1");
    }
    let v = verify(d, &codes[3]);
    assert_verdict(&v, "suspect", &["not_activated"]);

    // Cancel serial 1 as a span, serial 2 as an individual code.
    let out = run_in(
        d,
        [
            "range", "cancel", "1", "--from", "1", "--to", "2", "--reason", "test",
        ],
    );
    assert_eq!(out.ok().stdout, "range 1 serials 1..2 cancelled\n");
    let v = verify(d, &codes[1]);
    assert_verdict(&v, "suspect", &["cancelled", "repeat_query"]);
    assert_eq!(
        v["batch"]["lot"], "L1",
        "a cancelled code still shows its batch"
    );
    let out = run_in(d, ["codes", "cancel", &codes[2], "--reason", "x"]);
    assert_eq!(out.ok().stdout, "1 codes cancelled\n");
    let v = verify(d, &codes[2]);
    assert_verdict(&v, "suspect", &["cancelled", "repeat_query"]);
    assert_eq!(case_ids(&v).len(), 1, "{v}");
    // Serial 0 is untouched.
    let v = verify(d, &codes[0]);
    assert_verdict(&v, "genuine", &["repeat_query"]);
    assert_eq!(v["query_count"], 3);

    // GS1 serials.
    let serials = d.join("serials.txt");
    std::fs::write(&serials, "serial\nS1\nS2\n\nS3\n").expect("write serials");
    let serials_arg = serials.to_str().expect("utf-8 path");
    let upload = [
        "serials",
        "upload",
        "--gtin",
        &g,
        "--lot",
        "L2",
        serials_arg,
    ];
    assert_eq!(
        run_in(d, upload).ok().stdout,
        "3 serials uploaded to lot L2 (0 were already present)\n"
    );
    assert_eq!(
        run_in(d, upload).ok().stdout,
        "0 serials uploaded to lot L2 (3 were already present)\n"
    );
    let v = verify(d, &format!("]d201{g14}10L2<GS>21S1"));
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["family"], "gs1");
    assert_eq!(v["code"], format!("(01){g14}(10)L2(21)S1"));
    assert_eq!(v["batch"]["lot"], "L2");
    let v = verify(d, &format!("]d201{g14}10L9<GS>21S2"));
    assert_verdict(&v, "suspect", &["batch_mismatch"]);
    assert_eq!(v["batch"]["lot"], "L2");
    assert_eq!(case_ids(&v).len(), 1, "{v}");
    // Without a lot on the pack there is nothing to mismatch; a Digital Link works too.
    let v = verify(d, &format!("https://id.gs1.org/01/{g14}/21/S3"));
    assert_verdict(&v, "genuine", &[]);
    // A serial that was never uploaded.
    let v = verify_in(
        d,
        &format!("]d201{g14}10L2<GS>21S4"),
        &["--source", "gs1-unknown"],
    );
    assert_verdict(&v, "unknown", &[]);

    // Scratch PINs, from a file and from standard input.
    let pins = d.join("pins.txt");
    std::fs::write(&pins, "AB10-CD01-EF10\nXY78ZW90QR12\n").expect("write pins");
    let out = run_in(
        d,
        [
            "pins",
            "upload",
            "--gtin",
            &g,
            "--lot",
            "L3",
            pins.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(
        out.ok().stdout,
        "2 PINs uploaded to lot L3 (0 were already present)\n"
    );
    let mut cmd = command();
    cmd.arg("--data-dir")
        .arg(d)
        .args(["pins", "upload", "--gtin", &g, "--lot", "L3", "-"]);
    let out = run_command(cmd, Some(b"pin\nMN23 PQ45 RS67\n".to_vec()));
    assert_eq!(
        out.ok().stdout,
        "1 PINs uploaded to lot L3 (0 were already present)\n"
    );
    // Typed in lower case, with O/o for 0 and l/I for 1, in groups.
    let v = verify(d, "abIo cdol eflO");
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["family"], "scratch_pin");
    assert_eq!(v["batch"]["lot"], "L3");
    let v = verify(d, "ab10-cd01-ef10");
    assert_verdict(&v, "genuine", &["repeat_query"]);
    let v = verify(d, "mn23pq45rs67");
    assert_verdict(&v, "genuine", &[]);
    // Cancel one PIN.
    assert_eq!(
        run_in(
            d,
            [
                "codes",
                "cancel",
                "XY78-ZW90-QR12",
                "--reason",
                "stolen labels"
            ]
        )
        .ok()
        .stdout,
        "1 codes cancelled\n"
    );
    let v = verify(d, "xy78zw9oqrl2");
    assert_verdict(&v, "suspect", &["cancelled"]);

    // The audit log holds every change and its chain is intact.
    let entries = audit_intact(d);
    assert!(entries > 0);
    let actions = audit_actions(d);
    assert_eq!(actions.len(), entries);
    for expected in [
        "enterprise.add",
        "prefix.add",
        "product.add",
        "range.request",
        "range.export",
        "range.activate",
        "codes.cancel",
        "serials.upload",
        "pins.upload",
        "case.open",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "no {expected} in {actions:?}"
        );
    }

    // Keys: show, rotate, and codes of both versions verify.
    let key_file = d.join("keys.json");
    let shown = run_in(d, ["keys", "show"]).ok().json();
    assert_eq!(shown["versions"], serde_json::json!([1]));
    assert_eq!(shown["current"], 1);
    assert_eq!(shown["key_file"], key_file.display().to_string());
    assert!(!shown.to_string().contains("ff1"), "keys show leaks keys");
    let out = run_in(d, ["keys", "rotate"]);
    assert_eq!(
        out.ok().stdout,
        format!("key version 2 is now current ({})\n", key_file.display())
    );
    let shown = run_in(d, ["keys", "show"]).ok().json();
    assert_eq!(shown["versions"], serde_json::json!([1, 2]));
    assert_eq!(shown["current"], 2);
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o} after rotation");

    assert_eq!(
        request_range(d, 10),
        "range 2 issued: 10 codes (serials 0..10), key version 2"
    );
    run_in(d, ["range", "activate", "2", "--lot", "L4"]).ok();
    let new_codes = parse_export(
        &run_in(d, ["range", "export", "2", "--to", "2"]).ok().stdout,
        0,
    );
    let v = verify(d, &new_codes[0]);
    assert_verdict(&v, "genuine", &[]);
    assert_eq!(v["batch"]["lot"], "L4");
    // Old codes verify as before.
    assert_verdict(&verify(d, &codes[0]), "genuine", &["repeat_query"]);
    assert_verdict(
        &verify(d, &codes[1]),
        "suspect",
        &["cancelled", "repeat_query"],
    );
    assert_verdict(
        &verify(d, &codes[3]),
        "suspect",
        &["not_activated", "repeat_query"],
    );
    let v = verify(d, &codes[4]);
    assert_verdict(&v, "suspect", &["not_activated"]);
    assert!(audit_intact(d) > entries);
}

/// Runs `zhenwei --data-dir DIR ARGS…` and returns its single error line.
#[track_caller]
fn error_line(d: &Path, args: &[&str]) -> String {
    let out: Output = run_in(d, args);
    out.clean_failure().to_owned()
}

#[track_caller]
fn assert_error(d: &Path, args: &[&str], expected: &str) {
    let line = error_line(d, args);
    assert!(
        line.contains(expected),
        "`zhenwei {}`: expected {expected:?} in {line:?}",
        args.join(" ")
    );
}

#[test]
fn operator_errors_are_one_clear_line() {
    let dir = registered();
    let d = dir.path();
    let g = gtin();

    assert_error(
        d,
        &[
            "prefix",
            "add",
            "--credit-code",
            "91350100M000100Y44",
            "--prefix",
            "6970002",
        ],
        "the check character of a unified social credit code should be '3', but it is '4'",
    );
    assert_error(
        d,
        &[
            "enterprise",
            "add",
            "--credit-code",
            CREDIT_CODE,
            "--name",
            "again",
            "--division",
            "350100",
        ],
        "enterprise 91350100M000100Y43 is already registered",
    );
    assert_error(
        d,
        &[
            "prefix",
            "add",
            "--credit-code",
            CREDIT_CODE,
            "--prefix",
            "69700012",
        ],
        "overlaps the registered prefix 6970001",
    );
    let stray = with_gtin_check_digit("697999900001");
    assert_error(
        d,
        &[
            "product",
            "add",
            "--gtin",
            &stray,
            "--credit-code",
            CREDIT_CODE,
            "--name",
            "stray",
        ],
        &format!("{stray} is not under any registered manufacturer prefix"),
    );
    assert_error(
        d,
        &[
            "product",
            "add",
            "--gtin",
            "6970001000017",
            "--credit-code",
            CREDIT_CODE,
            "--name",
            "typo",
        ],
        "check digit",
    );
    assert_error(
        d,
        &["range", "request", "--gtin", &g, "--size", "0"],
        "a range holds 1 to",
    );

    assert!(request_range(d, 100).starts_with("range 1 issued"));
    run_in(
        d,
        [
            "range", "activate", "1", "--from", "0", "--to", "10", "--lot", "A1",
        ],
    )
    .ok();
    assert_error(
        d,
        &[
            "range", "activate", "1", "--from", "5", "--to", "20", "--lot", "A2",
        ],
        "serials 0..10 of range 1 are already activated",
    );
    assert_error(
        d,
        &[
            "range", "activate", "1", "--from", "90", "--to", "101", "--lot", "A2",
        ],
        "serials 90..101 are not a non-empty part of range 1",
    );
    assert_error(d, &["range", "export", "99"], "range 99 not found");

    assert_error(
        d,
        &["verify", "X", "--place", "999999"],
        "--place: 999999 is not an administrative division code",
    );
    assert_error(
        d,
        &["verify", "12345678901234567890", "--kiosk", "no-such-kiosk"],
        "no kiosk named \"no-such-kiosk\"",
    );
    assert_error(d, &["history", "hello!"], "that is not a code");
    assert_error(
        d,
        &["codes", "cancel", &random_digits(20), "--reason", "x"],
        "is not a code issued by this zhenwei",
    );
    assert_error(
        d,
        &[
            "serials",
            "upload",
            "--gtin",
            &g,
            "--lot",
            "B1",
            "/nonexistent/serials.txt",
        ],
        "cannot open /nonexistent/serials.txt",
    );
    assert_error(
        d,
        &["demo-codes"],
        "this database has no demo data; start `zhenwei serve --demo` on it first",
    );

    let cfg = d.join("zhenwei.toml");
    std::fs::write(&cfg, "[thresholds]\nrepeat_from = 0\n").expect("write config");
    assert_error(
        d,
        &[
            "--config",
            cfg.to_str().expect("utf-8 path"),
            "audit",
            "verify",
        ],
        "thresholds.repeat_from must be at least 1",
    );

    run_in(d, ["prefix", "cancel", PREFIX]).ok();
    assert_error(
        d,
        &["prefix", "renew", PREFIX],
        "a cancelled prefix can never be renewed or reused",
    );

    // None of the failures above touched the audit chain.
    assert!(audit_intact(d) > 0);
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let d = dir.path();
    let shown = run_in(d, ["keys", "show"]).ok().json();
    assert_eq!(shown["versions"], serde_json::json!([1]));
    let key_file = d.join("keys.json");
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_error(
        d,
        &["verify", "12345678901234567890"],
        "can be read by other users (mode 644)",
    );
}
