//! A real softphone uses the voice menu end to end: Debian's `baresip` calls `zhenwei serve
//! --demo --sip` over UDP, keys a genuine demo code by in-band DTMF tones (made with sox and
//! played as the phone's microphone), confirms it, hears the verdict, presses 9 to report, and is hung up on after the goodbye.
//! The query must be in `zhenwei history` with channel `ivr` and verdict `genuine`, the call in
//! the server's call log, and baresip's recording of what it heard (its `sndfile` module) must
//! hold the spoken verdict: non-silent speech as long as the verdict's prompts.
//!
//! Needs `baresip` and `sox` (`.ci/run` installs them); without them the tests are skipped with
//! a notice, except under `CI=true`, where they fail.

use std::io::Write;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zhenwei_tests::{spawn_with_lines, Server, LIMIT};

const MODULES: &str = "/usr/lib/baresip/modules";

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn tools() -> Option<PathBuf> {
    let found = which("baresip").zip(which("sox"));
    if found.is_none() {
        let hint = "apt-get install baresip sox";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the IVR baresip tests need baresip and sox; install them with {hint}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "skipping: baresip or sox not found; {hint}"
        );
    }
    found.map(|(b, _)| b)
}

/// A headless baresip, recording what it hears into `dir/rec`.
struct Phone {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
    rec: PathBuf,
}

impl Phone {
    fn start(baresip: &Path, dir: &Path, source: &str, target: std::net::SocketAddr) -> Phone {
        let rec = dir.join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path {MODULES}\n\
                 audio_player aubridge,nowhere\naudio_source {source}\naudio_alert aubridge,nowhere\n\
                 ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
                 snd_path {}\n\
                 module g711.so\nmodule aubridge.so\nmodule aufile.so\nmodule sndfile.so\n\
                 module_app account.so\nmodule_app menu.so\n",
                rec.display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            "<sip:13800000001@127.0.0.1>;regint=0;audio_codecs=PCMA\n",
        )
        .unwrap();
        let mut cmd = Command::new(baresip);
        cmd.arg("-f")
            .arg(dir)
            .args(["-e", &format!("/dial sip:ivr@{target}"), "-t", "120"]);
        let (child, lines) = spawn_with_lines(cmd);
        Phone {
            child,
            lines,
            seen: String::new(),
            rec,
        }
    }

    /// Waits for a line of baresip's output containing `what`.
    fn wait_for(&mut self, what: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.seen.contains(what) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                }
                Err(_) => panic!("baresip never said {what:?}:\n{}", self.seen),
            }
        }
    }

    /// The recording of what the phone heard (8 kHz mono 16-bit after our config).
    fn heard(&self) -> (u32, Vec<i16>) {
        let file = std::fs::read_dir(&self.rec)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no recording in {}", self.rec.display()));
        let bytes = std::fs::read(file).unwrap();
        wav_pcm16(&bytes)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sample rate and samples of a 16-bit PCM WAV (first channel).
fn wav_pcm16(b: &[u8]) -> (u32, Vec<i16>) {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut at = 12;
    let (mut rate, mut channels) = (8000, 1usize);
    while at + 8 <= b.len() {
        let size = u32_at(at + 4) as usize;
        let body = at + 8;
        match &b[at..at + 4] {
            b"fmt " => {
                assert_eq!(u16_at(body + 14), 16, "16-bit recording");
                channels = usize::from(u16_at(body + 2));
                rate = u32_at(body + 4);
            }
            b"data" => {
                let end = (body + size).min(b.len());
                let samples = b[body..end]
                    .chunks_exact(2 * channels)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                return (rate, samples);
            }
            _ => {}
        }
        at = body + size + size % 2;
    }
    panic!("no data chunk");
}

/// Stretches of sound separated by at least `gap` of quiet: (start, end) in seconds.
fn speech_segments(rate: u32, s: &[i16], gap: f64) -> Vec<(f64, f64)> {
    let win = (rate / 50) as usize; // 20 ms
    let loud: Vec<bool> = s
        .chunks(win)
        .map(|c| {
            (c.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / c.len() as f64).sqrt() > 300.0
        })
        .collect();
    let mut segs: Vec<(f64, f64)> = Vec::new();
    for (i, &l) in loud.iter().enumerate() {
        if !l {
            continue;
        }
        let t = i as f64 * 0.02;
        match segs.last_mut() {
            Some((_, end)) if t - *end <= gap => *end = t + 0.02,
            _ => segs.push((t, t + 0.02)),
        }
    }
    segs
}

/// The history of `code` as JSON events.
fn ivr_queries(server: &Server, code: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let h = server.cli(["history", code, "--json"]).ok().json();
        let events: Vec<serde_json::Value> = h["events"]
            .as_array()
            .or_else(|| h.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["channel"] == "ivr")
            .collect();
        if !events.is_empty() {
            return events;
        }
        assert!(Instant::now() < deadline, "no ivr query recorded: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_log(server: &Server, what: &str) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let log = server.log();
        if log.contains(what) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "the server log lacks {what:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The phone's microphone: DTMF tones made by sox — `(pause before, keys)` in order.
fn microphone(dir: &Path, script: &[(f64, &str)]) -> PathBuf {
    let mut parts = Vec::new();
    for (i, (pause, keys)) in script.iter().enumerate() {
        let quiet = dir.join(format!("p{i}.wav"));
        sox(&[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            quiet.to_str().unwrap(),
            "trim",
            "0",
            &pause.to_string(),
        ]);
        parts.push(quiet);
        for (j, k) in keys.chars().enumerate() {
            let (row, col) = dtmf(k);
            let tone = dir.join(format!("k{i}-{j}.wav"));
            sox(&[
                "-n",
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                tone.to_str().unwrap(),
                "synth",
                "0.12",
                "sine",
                &row.to_string(),
                "synth",
                "0.12",
                "sine",
                "mix",
                &col.to_string(),
                "gain",
                "-8",
                "pad",
                "0",
                "0.12",
            ]);
            parts.push(tone);
        }
    }
    let tail = dir.join("tail.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        tail.to_str().unwrap(),
        "trim",
        "0",
        "30",
    ]);
    parts.push(tail);
    let mic = dir.join("mic.wav");
    let mut args: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
    args.push(mic.display().to_string());
    sox(&args.iter().map(String::as_str).collect::<Vec<_>>());
    mic
}

/// Debian 12's baresip 1.0.0 sends no RFC 4733 packets for `sndcode` (checked with strace:
/// only PCMA leaves its socket) and cannot send DTMF by SIP INFO, so the real phone keys by
/// in-band tones, which every phone can; `ivr/tests/ivr_call.rs` covers RFC 4733 and INFO
/// with a scripted phone over the same real SIP and RTP sockets.
#[test]
fn baresip_keys_a_code_hears_the_verdict_and_reports_a_fake() {
    let Some(baresip) = tools() else { return };
    let server = Server::start_demo();
    let code = server.demo().code("genuine", 0).to_owned();
    let dir = TempDir::new().unwrap();
    // English; the code and #; 1 to confirm; the verdict and the menu after it play for about
    // 20 s; then 9 to report. Each key barges into the prompt playing.
    let code_keys = format!("{code}#");
    let mic = microphone(
        dir.path(),
        &[(1.5, "2"), (0.5, &code_keys), (0.5, "1"), (22.0, "9")],
    );
    let phone_dir = dir.path().join("phone");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let mut phone = Phone::start(
        &baresip,
        &phone_dir,
        &format!("aufile,{}", mic.display()),
        server.sip_addr(),
    );
    phone.wait_for("Call established", LIMIT);
    let q = ivr_queries(&server, &code);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["authenticity"], "genuine");
    // 9: the report is filed against that query (no second one), then goodbye and our BYE.
    phone.wait_for("terminated", Duration::from_secs(60));
    let log = wait_log(&server, "ivr call ended");
    assert!(
        log.contains("verdict=\"genuine\"") || log.contains("verdict=genuine"),
        "{log}"
    );
    assert!(log.contains("hung_up_by_us=true"), "{log}");
    assert_eq!(
        ivr_queries(&server, &code).len(),
        1,
        "the report records no query"
    );
    // The place is number-derived: baresip calls as 13800000001, segment 1380000 = 杭州.
    assert_eq!(q[0]["place"], "330100", "{q:?}");

    // The stored call log (written before "ivr call ended" is logged): the masked caller, the
    // code keyed with its verdict, the report's case, our goodbye.
    let calls = server.cli(["calls", "--json"]).ok().json();
    let calls = calls.as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["caller"], "138****0001", "{c}");
    assert_eq!(c["lang"], "en", "{c}");
    assert_eq!(c["queries"][0]["code"], code.as_str(), "{c}");
    assert_eq!(c["queries"][0]["authenticity"], "genuine", "{c}");
    let case = c["case_id"].as_i64().expect("the report's case");
    let k = server.cli(["cases", "show", &case.to_string()]).ok().json();
    assert_eq!(
        (&k["reason"], &k["event_count"]),
        (&serde_json::json!("consumer_report"), &serde_json::json!(1)),
        "{k}"
    );
    assert_eq!(c["hangup"], "goodbye", "{c}");
    let mine = server
        .cli(["calls", "--caller", "13800000001", "--json"])
        .ok()
        .json();
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let text = server.cli(["calls"]).ok().stdout.clone();
    assert!(
        text.contains("138****0001") && !text.contains("13800000001"),
        "{text}"
    );

    // What the caller heard: the verdict with the menu after it is the longest stretch of
    // speech (pauses under a second inside it).
    let (rate, pcm) = phone.heard();
    let segs = speech_segments(rate, &pcm, 1.0);
    let longest = segs.iter().map(|(a, b)| b - a).fold(0.0, f64::max);
    // Genuine, product, maker, first check, the menu and the pause: 9.6 s of English prompts;
    // product and maker names (rendered in the background at start-up) may add to it.
    eprintln!("verdict speech heard by baresip: {longest:.1} s");
    assert!(
        (9.0..40.0).contains(&longest),
        "longest speech {longest:.1} s in {segs:?}"
    );
    let rms = (pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
    assert!(rms > 200.0, "the recording is silent (rms {rms})");
}

fn sox(args: &[&str]) {
    let st = Command::new("sox").args(args).status().expect("sox");
    assert!(st.success(), "sox {args:?}");
}

fn dtmf(k: char) -> (u32, u32) {
    let pad = ["123A", "456B", "789C", "*0#D"];
    let r = pad.iter().position(|l| l.contains(k)).unwrap();
    let c = pad[r].find(k).unwrap();
    ([697, 770, 852, 941][r], [1209, 1336, 1477, 1633][c])
}
