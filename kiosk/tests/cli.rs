//! The `zhenwei-kiosk` binary's command line: help, and one clear error line for a bad
//! configuration. (Also makes `cargo test --workspace` build the binary the end-to-end test in
//! `tests/tests/kiosk_agent.rs` runs.)

use std::process::Command;

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zhenwei-kiosk"));
    c.env_remove("ZHENWEI_KIOSK_CONFIG").env("NO_COLOR", "1");
    c
}

#[test]
fn help_names_the_options() {
    let out = agent().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in ["--config", "--scanner", "--ui", "--server"] {
        assert!(text.contains(opt), "{opt} in {text}");
    }
}

#[test]
fn a_bad_configuration_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.toml", None, "cannot read"),
        (
            "plain.toml",
            Some("server = \"http://x\"\n[tls]\ncert=\"a\"\nkey=\"b\"\nca=\"c\"\n"),
            "https:// only",
        ),
        (
            "nofiles.toml",
            Some("server = \"https://127.0.0.1:9\"\n[tls]\ncert=\"a\"\nkey=\"b\"\nca=\"c\"\n"),
            "c: No such file",
        ),
    ];
    for (name, text, want) in cases {
        let path = tmp.path().join(name);
        if let Some(t) = text {
            std::fs::write(&path, t).unwrap();
        }
        let out = agent()
            .arg("--config")
            .arg(&path)
            .args(["--scanner", "stdin", "--ui", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.trim_end().lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(want),
            "{name}: {err}"
        );
    }
    // The UI must stay on loopback.
    let path = tmp.path().join("plain.toml");
    std::fs::write(
        &path,
        "server = \"https://127.0.0.1:9\"\n[tls]\ncert=\"a\"\nkey=\"b\"\nca=\"c\"\n",
    )
    .unwrap();
    let out = agent()
        .arg("--config")
        .arg(&path)
        .args(["--ui", "0.0.0.0:8088"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
}
