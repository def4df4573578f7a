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

#[test]
fn product_add_renders_the_spoken_name_in_both_languages() {
    if !(have("espeak-ng") && have("sox")) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but espeak-ng or sox is missing"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipping: espeak-ng or sox not installed"
        );
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
