//! Registering a product renders its spoken name for the phone hotline at once (espeak-ng +
//! sox into `<data dir>/ivr-names/`), so the first caller already hears it; `serve` later only
//! loads it. Needs espeak-ng and sox (skipped with a notice without them, failing under
//! `CI=true`).

use std::io::Write;

use tempfile::TempDir;
use zhenwei_tests::run_in;

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok()
}

/// Whether espeak-ng and sox are there; without them the test is skipped with a notice, and
/// fails under `CI=true`.
fn renderer_or_skip() -> bool {
    if have("espeak-ng") && have("sox") {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but espeak-ng or sox is missing"
    );
    let _ = writeln!(
        std::io::stderr(),
        "skipping: espeak-ng or sox not installed"
    );
    false
}

#[test]
fn product_add_renders_the_spoken_name_in_both_languages() {
    if !renderer_or_skip() {
        return;
    }
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let cc = "91350100M000100Y43";
    run_in(
        d,
        [
            "enterprise",
            "add",
            "--credit-code",
            cc,
            "--name",
            "示例企业",
            "--division",
            "350102",
        ],
    )
    .ok();
    run_in(
        d,
        ["prefix", "add", "--credit-code", cc, "--prefix", "6977777"],
    )
    .ok();
    run_in(
        d,
        [
            "product",
            "add",
            "--credit-code",
            cc,
            "--gtin",
            "6977777000011",
            "--name",
            "示例奶粉",
            "--name-en",
            "Demo Milk",
        ],
    )
    .ok();
    for lang in ["zh", "en"] {
        let files: Vec<_> = std::fs::read_dir(d.join("ivr-names").join(lang))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{lang}: {files:?}");
        let wav = std::fs::read(&files[0]).unwrap();
        assert_eq!(&wav[..4], b"RIFF");
        // 8 kHz A-law, at least a third of a second of speech.
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 8000);
        assert!(wav.len() > 2700, "{lang}: {} bytes", wav.len());
    }
}

/// A recall posted over HTTP while the server runs has its advice rendered for the hotline at
/// once (not only at the next start or after a call missed it), as `zhenwei feed import` does.
#[test]
fn a_feed_posted_over_http_has_its_advice_spoken_at_once() {
    if !renderer_or_skip() {
        return;
    }
    let server = zhenwei_tests::Server::start_demo();
    let token = server
        .cli(["feed", "token", "add", "zj-amr", "--kind", "recall"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let csv = "id,status,gtin,registration_no,lots,credit_code,title,published_on,advice_zh,advice_en\n\
               T-2026-1,active,6901234000115,,NB2026A,,测试召回,2026-11-20,请把这一批次的奶粉送回门店。,Take this lot back to the shop.\n";
    let cache = zhenwei_ivr::prompts::names::NameCache::new(server.data_dir());
    let wav = cache.file_for(zhenwei_core::Lang::Zh, "请把这一批次的奶粉送回门店。");
    assert!(!wav.exists(), "rendered before the post: {}", wav.display());
    let bearer = format!("Bearer {token}");
    let r = zhenwei_tests::http::request_with(
        server.addr(),
        "POST",
        "/v1/feeds/recall",
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "text/csv"),
        ],
        Some(csv.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Rendering runs in the background after the answer: poll the file with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !wav.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "advice never rendered: {}",
            wav.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let en = cache.file_for(zhenwei_core::Lang::En, "Take this lot back to the shop.");
    while !en.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "English advice never rendered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
