//! Spoken names: product, enterprise and city names rendered off the call path and cached.
//!
//! Names change with the data, so they cannot be committed like the fixed prompts. The cache
//! keeps one WAV per (language, name) under `<data dir>/ivr-names/{zh,en}/<hash>.wav`, rendered by
//! the same espeak-ng + sox pipeline as `ivr/prompts/render.sh`. `zhenwei product add` renders
//! the new product's name at once ([`NameCache::ensure`]); otherwise rendering happens in a
//! background task, one name at a time: the server warms the cache with every registered
//! product and enterprise at start-up ([`NameCache::warm_registered`]) and a call that meets a
//! name not rendered yet ([`NameVoices::voice`] misses) omits it this time and queues it for the
//! next caller. Without espeak-ng or sox the names are omitted, with one logged warning; the
//! rest of the menu is unaffected. A studio recording of a name replaces its file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use zhenwei_core::Lang;

use super::{parse_wav, NameVoices};

/// At most this many names are kept decoded in memory (the files stay on disk).
const MEMORY_LIMIT: usize = 20_000;
/// Longer names are cut (espeak-ng time and the caller's patience).
const MAX_NAME_CHARS: usize = 80;

/// Why a name could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("{0} is not installed or failed to start: {1}")]
    Tool(&'static str, std::io::Error),
    #[error("{0} failed: {1}")]
    Failed(&'static str, String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wav(#[from] super::PromptError),
}

type Key = (Lang, String);

/// The name → audio cache.
pub struct NameCache {
    dir: PathBuf,
    memory: Mutex<HashMap<Key, Arc<[i16]>>>,
    queued: Mutex<HashSet<Key>>,
    queue: Mutex<Option<mpsc::UnboundedSender<Key>>>,
    warned: AtomicBool,
}

fn lang_dir(lang: Lang) -> &'static str {
    if lang.is_en() {
        "en"
    } else {
        "zh"
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

impl NameCache {
    /// A cache under `data_dir/ivr-names`. Call [`NameCache::start`] on a tokio runtime to
    /// render misses in the background.
    pub fn new(data_dir: &Path) -> Arc<NameCache> {
        Arc::new(NameCache {
            dir: data_dir.join("ivr-names"),
            memory: Mutex::new(HashMap::new()),
            queued: Mutex::new(HashSet::new()),
            queue: Mutex::new(None),
            warned: AtomicBool::new(false),
        })
    }

    /// The file of a name.
    pub fn file_for(&self, lang: Lang, text: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(clean(text).as_bytes()));
        self.dir
            .join(lang_dir(lang))
            .join(format!("{}.wav", hash.get(..32).unwrap_or(&hash)))
    }

    /// Starts the background renderer.
    pub fn start(self: &Arc<Self>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Key>();
        if let Ok(mut q) = self.queue.lock() {
            *q = Some(tx);
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((lang, text)) = rx.recv().await {
                let Some(cache) = me.upgrade() else { break };
                if let Err(e) = cache.ensure(lang, &text).await {
                    cache.warn_once(&e);
                }
                let key = (lang, text);
                if let Ok(mut q) = cache.queued.lock() {
                    q.remove(&key);
                };
            }
        });
    }

    fn warn_once(&self, e: &NameError) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "cannot render spoken names; calls will omit product and enterprise names");
        } else {
            tracing::debug!(error = %e, "name rendering failed");
        }
    }

    fn remember(&self, key: Key, audio: Arc<[i16]>) {
        if let Ok(mut m) = self.memory.lock() {
            if m.len() >= MEMORY_LIMIT {
                m.clear();
            }
            m.insert(key, audio);
        }
    }

    /// Renders `text` unless its file exists, and loads it into memory.
    pub async fn ensure(&self, lang: Lang, text: &str) -> Result<(), NameError> {
        let text = clean(text);
        if text.is_empty() {
            return Ok(());
        }
        let file = self.file_for(lang, &text);
        if !file.is_file() {
            render(lang, &text, &file).await?;
        }
        let bytes = tokio::fs::read(&file).await?;
        let audio = parse_wav(&file.display().to_string(), &bytes)?;
        self.remember((lang, text), Arc::from(audio));
        Ok(())
    }

    /// Renders the advice text of every active regulatory notice (recall instructions, …) in
    /// its language, so the verdict prompt can speak the feed's own words: after a feed import
    /// (`zhenwei feed import`) and at start-up. Failures are logged, not returned. Returns how
    /// many texts are ready.
    pub async fn warm_advice(&self, pool: &sqlx::AnyPool) -> usize {
        let rows: Result<Vec<(Option<String>, Option<String>)>, _> =
            sqlx::query_as("SELECT advice_zh, advice_en FROM status_notices WHERE active = 1")
                .fetch_all(pool)
                .await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list notice advice to render");
                return 0;
            }
        };
        let mut n = 0;
        for (zh, en) in rows {
            for (lang, text) in [(Lang::Zh, zh), (Lang::En, en)] {
                let Some(text) = text else { continue };
                match self.ensure(lang, &text).await {
                    Ok(()) => n += 1,
                    Err(e) => {
                        self.warn_once(&e);
                        return n;
                    }
                }
            }
        }
        tracing::info!(texts = n, "spoken notice advice ready");
        n
    }

    /// Renders every registered product and enterprise name (both languages: Chinese names in
    /// Chinese, English names where registered). Failures are logged, not returned.
    pub async fn warm_registered(&self, pool: &sqlx::AnyPool) {
        let rows: Result<Vec<(String, Option<String>)>, _> = sqlx::query_as(
            "SELECT name, name_en FROM products UNION SELECT name, name_en FROM enterprises",
        )
        .fetch_all(pool)
        .await;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list names to render");
                return;
            }
        };
        let mut n = 0;
        for (zh, en) in rows {
            let items = [
                (Lang::Zh, Some(zh.clone())),
                (Lang::En, Some(en.unwrap_or(zh))),
            ];
            for (lang, text) in items {
                let Some(text) = text else { continue };
                match self.ensure(lang, &text).await {
                    Ok(()) => n += 1,
                    Err(e) => {
                        self.warn_once(&e);
                        return;
                    }
                }
            }
        }
        tracing::info!(names = n, "spoken names ready");
    }
}

impl NameVoices for NameCache {
    fn voice(&self, lang: Lang, text: &str) -> Option<Arc<[i16]>> {
        let key = (lang, clean(text));
        if let Some(a) = self.memory.lock().ok()?.get(&key) {
            return Some(a.clone());
        }
        // Rendered by another process (or an earlier run) but not loaded yet: a small read.
        let file = self.file_for(lang, &key.1);
        if let Ok(bytes) = std::fs::read(&file) {
            if let Ok(audio) = parse_wav(&file.display().to_string(), &bytes) {
                let audio: Arc<[i16]> = Arc::from(audio);
                self.remember(key, audio.clone());
                return Some(audio);
            }
        }
        let first = self.queued.lock().ok()?.insert(key.clone());
        if first {
            if let Some(tx) = self.queue.lock().ok()?.as_ref() {
                let _ = tx.send(key);
            }
        }
        None
    }
}

/// espeak-ng → sox → `file` (atomically: a temporary file renamed into place).
async fn render(lang: Lang, text: &str, file: &Path) -> Result<(), NameError> {
    let dir = file
        .parent()
        .ok_or_else(|| NameError::Failed("render", "no directory".into()))?;
    tokio::fs::create_dir_all(dir).await?;
    let raw = file.with_extension("raw.wav");
    let tmp = file.with_extension("tmp.wav");
    let voice = if lang.is_en() { "en" } else { "cmn" };
    let out = tokio::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "170", "-w"])
        .arg(&raw)
        .arg("--")
        .arg(text)
        .output()
        .await
        .map_err(|e| NameError::Tool("espeak-ng", e))?;
    if !out.status.success() {
        return Err(NameError::Failed(
            "espeak-ng",
            String::from_utf8_lossy(&out.stderr).into(),
        ));
    }
    let out = tokio::process::Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-e", "a-law", "-b", "8"])
        .arg(&tmp)
        .args([
            "silence", "1", "0.01", "0.3%", "reverse", "silence", "1", "0.01", "0.3%", "reverse",
        ])
        .args(["gain", "-n", "-3", "pad", "0", "0.06"])
        .output()
        .await
        .map_err(|e| NameError::Tool("sox", e))?;
    let _ = tokio::fs::remove_file(&raw).await;
    if !out.status.success() {
        return Err(NameError::Failed(
            "sox",
            String::from_utf8_lossy(&out.stderr).into(),
        ));
    }
    tokio::fs::rename(&tmp, file).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_tools() -> bool {
        let ok = |t: &str| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_ok()
        };
        let ok = ok("espeak-ng") && ok("sox");
        if !ok {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but espeak-ng or sox is missing"
            );
            eprintln!("skipped: espeak-ng or sox not installed");
        }
        ok
    }

    #[tokio::test]
    async fn a_missed_name_is_rendered_in_the_background_for_the_next_call() {
        if !have_tools() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = NameCache::new(dir.path());
        cache.start();
        assert!(cache.voice(Lang::Zh, "示例奶粉").is_none());
        let file = cache.file_for(Lang::Zh, "示例奶粉");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !file.is_file() {
            assert!(std::time::Instant::now() < deadline, "not rendered");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The renderer loads it into memory right after the rename; either way it is found.
        let mut audio = None;
        while audio.is_none() {
            assert!(std::time::Instant::now() < deadline);
            audio = cache.voice(Lang::Zh, "示例奶粉");
            tokio::task::yield_now().await;
        }
        let secs = audio.unwrap().len() as f64 / 8000.0;
        assert!((0.3..5.0).contains(&secs), "{secs}");
    }

    #[tokio::test]
    async fn without_tools_names_are_omitted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let cache = NameCache::new(dir.path());
        // Not started: misses are not rendered, and nothing panics.
        assert!(cache.voice(Lang::En, "Acme\u{7}Milk").is_none());
        assert_eq!(
            cache.file_for(Lang::En, "Acme\u{7}Milk"),
            cache.file_for(Lang::En, "AcmeMilk")
        );
    }
}
