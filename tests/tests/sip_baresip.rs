//! A real softphone calls the hotline: Debian's `baresip` dials `zhenwei serve --sip` over UDP,
//! the call is established (INVITE → 100 → 180 → 200 with our G.711 answer → ACK), and the
//! server hangs up (BYE) when the stand-in call handler's timer ends the call.
//!
//! Needs `baresip` (`apt-get install baresip`, done by `.ci/run`); without it the test is
//! skipped with a notice, except under `CI=true`, where it fails.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use tempfile::TempDir;
use zhenwei_tests::{spawn_with_lines, Server, LIMIT};

const MODULES: &str = "/usr/lib/baresip/modules";

#[test]
fn baresip_call_is_answered_and_hung_up_cleanly() {
    let Some(baresip) = which("baresip") else {
        let hint = "apt-get install baresip";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("baresip_call needs baresip; install it with {hint}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "skipping baresip_call: baresip not found; {hint}"
        );
        return;
    };
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("zhenwei.toml");
    std::fs::write(&config, "[sip]\nhangup_after_secs = 2\n").unwrap();
    let config_arg = config.to_str().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config_arg]);
    let sip = server.sip_addr();

    // A headless baresip: G.711, audio through the in-memory bridge, no registration.
    let phone = dir.path().join("baresip");
    std::fs::create_dir_all(&phone).unwrap();
    std::fs::write(
        phone.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path {MODULES}\n\
             audio_player aubridge,bridge\naudio_source aubridge,bridge\naudio_alert aubridge,bridge\n\
             ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n\
             module g711.so\nmodule aubridge.so\nmodule_app account.so\nmodule_app menu.so\n"
        ),
    )
    .unwrap();
    std::fs::write(phone.join("accounts"), "<sip:caller@127.0.0.1>;regint=0\n").unwrap();
    let mut cmd = Command::new(baresip);
    cmd.arg("-f")
        .arg(&phone)
        .args(["-e", &format!("/dial sip:ivr@{sip}"), "-t", "60"]);
    let (mut child, rx) = spawn_with_lines(cmd);

    let deadline = Instant::now() + LIMIT;
    let mut seen = String::new();
    let (mut established, mut terminated) = (false, false);
    while !terminated {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                established |= line.contains("Call established");
                terminated |= line.contains("terminated (duration");
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(established, "baresip never established the call:\n{seen}");
    assert!(terminated, "the call was not hung up:\n{seen}");
    assert!(
        seen.contains("100 Trying") && seen.contains("180 Ringing"),
        "{seen}"
    );
    assert!(
        seen.contains("PCMU") || seen.contains("PCMA"),
        "a G.711 codec: {seen}"
    );

    // The server saw the call start (ACK) and end by its own BYE.
    let deadline = Instant::now() + LIMIT;
    loop {
        let log = server.log();
        if log.contains("event=Started") && log.contains("Ended { reason: LocalBye }") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server log lacks the call:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}
