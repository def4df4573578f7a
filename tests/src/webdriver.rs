//! A tiny W3C WebDriver client: drives Debian's `chromium` through `chromedriver`, speaking the
//! WebDriver protocol (JSON over HTTP/1.1) with the crate's own [`crate::http::exchange`].
//!
//! [`Browser::start`] picks a free loopback port (chromedriver has no `--port=0`: a
//! `TcpListener` on `127.0.0.1:0` is bound, its port read, and the listener dropped), starts
//! `chromedriver --port=N`, waits for the line in which chromedriver says it started (an event,
//! bounded by [`LIMIT`]), confirms with `GET /status`, and opens a session running headless
//! Chromium on a fresh profile in a temporary directory. Dropping the [`Browser`] deletes the
//! session (which quits Chromium) and kills chromedriver, also when a test fails.
//!
//! Only what the page tests need is here: navigate, find an element by CSS selector, clear,
//! type, click, read text and attributes, run a script, wait for a condition, resize the window
//! and take a screenshot. [`Browser::wait_for`] does not poll: it runs an asynchronous script
//! that resolves from a `MutationObserver` the moment the condition holds, bounded by the
//! session's script timeout ([`LIMIT`]).
//!
//! Where the browser lives: `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`), or `ZHENWEI_CHROMIUM` / `ZHENWEI_CHROMEDRIVER`.
//! [`browser_or_skip`] fails the test when they are missing and `CI=true`, and otherwise skips it
//! with a notice.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Instant;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::LIMIT;

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Enter key, for [`Browser::send_keys`].
pub const ENTER: &str = "\u{E007}";

/// Chromium flags for a quiet headless run on a machine without internet.
const CHROMIUM_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// What to install when the browser is missing.
pub const INSTALL_HINT: &str =
    "apt-get install chromium chromium-driver fonts-wqy-microhei (Debian; .ci/run does this)";

/// The Chromium and chromedriver executables, or what is missing.
pub fn locate() -> Result<(PathBuf, PathBuf), String> {
    let find = |var: &str, default: &str| {
        let p = std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default));
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{} not found (set {var} to override)", p.display()))
        }
    };
    let chromium = find("ZHENWEI_CHROMIUM", "/usr/bin/chromium");
    let driver = find("ZHENWEI_CHROMEDRIVER", "/usr/bin/chromedriver");
    match (chromium, driver) {
        (Ok(c), Ok(d)) => Ok((c, d)),
        (c, d) => Err([c.err(), d.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// A started browser, or `None` (after printing a notice) when Chromium or chromedriver is
/// missing outside CI. Under `CI=true` a missing browser fails the test.
#[track_caller]
pub fn browser_or_skip(test: &str) -> Option<Browser> {
    match locate() {
        Ok((chromium, driver)) => Some(Browser::start(&chromium, &driver)),
        Err(missing) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test} needs a real browser: {missing}; install it with {INSTALL_HINT}");
            }
            // Straight to the process's stderr, past the test harness's output capture, so
            // the notice shows in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "skipping {test}: {missing}; install it with {INSTALL_HINT}"
            );
            None
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read and released; someone else may take it before
/// it is used, which is unlikely on a test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 for a free port")
}

/// A running chromedriver; killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
}

impl Driver {
    fn start(exe: &Path, dir: &Path, home: Option<&Path>) -> Driver {
        let port = free_port();
        let log_path = dir.join("chromedriver.log");
        let mut cmd = Command::new(exe);
        if let Some(home) = home {
            // Chromium (started by chromedriver, inheriting its environment) reads its NSS
            // certificate database from $HOME/.pki/nssdb.
            cmd.env("HOME", home);
        }
        let mut child = cmd
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log_path,
        };
        // Readiness is chromedriver's own line "ChromeDriver was started successfully on port N".
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + LIMIT;
        let mut said = String::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    said.push_str(&line);
                    said.push('\n');
                    if line.contains("started successfully") {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "chromedriver did not start within {LIMIT:?}; it said:\n{said}{}",
                    driver.log_tail()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "chromedriver exited before it started; it said:\n{said}{}",
                    driver.log_tail()
                ),
            }
        }
        let status = driver
            .call("GET", "/status", None)
            .unwrap_or_else(|e| panic!("chromedriver GET /status: {e}{}", driver.log_tail()));
        assert_eq!(
            status["ready"],
            true,
            "chromedriver is not ready: {status}{}",
            driver.log_tail()
        );
        driver
    }

    /// The end of chromedriver's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("\n--- chromedriver log (last lines) ---\n{tail}")
    }

    /// One WebDriver command: the response's `value`, or the WebDriver error as text.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let s = TcpStream::connect_timeout(&self.addr, LIMIT)
            .map_err(|e| format!("cannot connect to chromedriver at {}: {e}", self.addr))?;
        s.set_read_timeout(Some(LIMIT + LIMIT))
            .and_then(|()| s.set_write_timeout(Some(LIMIT)))
            .map_err(|e| e.to_string())?;
        let bytes = body.map(|b| b.to_string().into_bytes());
        let mut framed = Framed::new(s);
        let r = crate::http::exchange(
            &mut framed,
            &self.addr.to_string(),
            method,
            path,
            bytes.as_deref(),
        )?;
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("HTTP {} answer is not JSON ({e}): {}", r.status, r.text()))?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if r.status == 200 {
            Ok(value)
        } else {
            Err(format!(
                "HTTP {}: {}: {}",
                r.status,
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or("")
            ))
        }
    }
}

/// A stream that ends (reads 0 bytes) once a whole `Content-Length` response has arrived.
/// chromedriver answers `Connection: close` requests with `Connection: close` but leaves the
/// connection open, and [`crate::http::exchange`] reads to the end of the stream.
struct Framed<S> {
    inner: S,
    seen: Vec<u8>,
    /// Header bytes plus body length, once the header has arrived.
    total: Option<usize>,
}

impl<S> Framed<S> {
    fn new(inner: S) -> Framed<S> {
        Framed {
            inner,
            seen: Vec::new(),
            total: None,
        }
    }

    fn note(&mut self, bytes: &[u8]) {
        self.seen.extend_from_slice(bytes);
        if self.total.is_some() {
            return;
        }
        let Some(end) = self.seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&self.seen[..end]).to_ascii_lowercase();
        let length = head.lines().find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        // Without a length the stream's end is the answer's end.
        self.total = Some(length.map_or(usize::MAX, |n| end + 4 + n));
    }
}

impl<S: Read> Read for Framed<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.total.is_some_and(|t| self.seen.len() >= t) {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.note(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for Framed<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An element reference.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A WebDriver session on headless Chromium. Dropping it deletes the session and stops
/// chromedriver.
pub struct Browser {
    session: String,
    // Declared in drop order: the driver stops after the session is deleted, the profile
    // directory is removed last.
    driver: Driver,
    _dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (window 1280×800).
    #[track_caller]
    pub fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        Browser::start_with_certificate(chromium, chromedriver, None, &[])
    }

    /// Like [`Browser::start`], for sites that ask for a client certificate. `HOME` is set to
    /// `home` for chromedriver and Chromium, which reads its NSS database (trusted CAs, client
    /// certificates and keys) from `home/.pki/nssdb`. Headless Chromium has no certificate
    /// picker; for each origin in `auto_select` (`https://127.0.0.1:8443`) the fresh profile
    /// gets the content setting the `AutoSelectCertificateForUrls` policy would set —
    /// `profile.content_settings.exceptions.auto_select_certificate` in its `Preferences`, with
    /// an empty filter — so Chromium presents the matching certificate by itself. Only this
    /// browser's temporary profile is touched; nothing machine-wide (no policy file).
    #[track_caller]
    pub fn start_with_certificate(
        chromium: &Path,
        chromedriver: &Path,
        home: Option<&Path>,
        auto_select: &[&str],
    ) -> Browser {
        let dir = TempDir::new().expect("a temporary directory");
        if !auto_select.is_empty() {
            let exceptions: serde_json::Map<String, Value> = auto_select
                .iter()
                .map(|origin| {
                    (
                        format!("{origin},*"),
                        json!({ "last_modified": "13300000000000000",
                                "setting": { "filters": [{}] } }),
                    )
                })
                .collect();
            let prefs = json!({ "profile": { "content_settings": { "exceptions": {
                "auto_select_certificate": exceptions } } } });
            let default = dir.path().join("profile").join("Default");
            std::fs::create_dir_all(&default).expect("creating the profile directory");
            std::fs::write(default.join("Preferences"), prefs.to_string())
                .expect("writing the profile's Preferences");
        }
        let driver = Driver::start(chromedriver, dir.path(), home);
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ));
        args.push("--window-size=1280,800".into());
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    },
                    "timeouts": { "script": LIMIT.as_millis() as u64 },
                }
            }
        });
        let created = driver
            .call("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("cannot start Chromium: {e}{}", driver.log_tail()));
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {created}"))
            .to_owned();
        Browser {
            session,
            driver,
            _dir: dir,
        }
    }

    /// A session command; panics with the WebDriver error and chromedriver's log on failure.
    #[track_caller]
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}{}", self.driver.log_tail()))
    }

    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let full = format!("/session/{}{path}", self.session);
        self.driver.call(method, &full, body.as_ref())
    }

    /// Loads `url` and waits for its `load` event.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching a CSS selector.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        Element(
            v[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("no element reference in {v}"))
                .to_owned(),
        )
    }

    /// Empties an input.
    #[track_caller]
    pub fn clear(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/clear", e.0), Some(json!({})));
    }

    /// Types `text` into an element, as keystrokes ([`ENTER`] presses Enter).
    #[track_caller]
    pub fn send_keys(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks an element.
    #[track_caller]
    pub fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    /// The element's rendered (visible) text.
    #[track_caller]
    pub fn text(&self, e: &Element) -> String {
        let v = self.cmd("GET", &format!("/element/{}/text", e.0), None);
        v.as_str().unwrap_or_default().to_owned()
    }

    /// An attribute of the element, if present.
    #[track_caller]
    pub fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        let v = self.cmd("GET", &format!("/element/{}/attribute/{name}", e.0), None);
        v.as_str().map(str::to_owned)
    }

    /// Runs a script (a function body; `arguments` holds `args`) and returns its result.
    #[track_caller]
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Waits until the JavaScript expression `condition` is true, watching the DOM for changes
    /// (no polling); fails the test after [`LIMIT`] saying it was waiting for `what`, with the
    /// page's text.
    #[track_caller]
    pub fn wait_for(&self, condition: &str, what: &str) {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const ok = () => {{ try {{ return Boolean({condition}); }} catch (e) {{ return false; }} }};
             if (ok()) {{ done(true); return; }}
             const watch = new MutationObserver(() => {{
               if (ok()) {{ watch.disconnect(); done(true); }}
             }});
             watch.observe(document.documentElement,
               {{ subtree: true, childList: true, attributes: true, characterData: true }});"
        );
        let r = self.try_cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        );
        if let Err(e) = r {
            let body = self
                .try_cmd(
                    "POST",
                    "/execute/sync",
                    Some(json!({"script": "return document.body.innerText", "args": []})),
                )
                .unwrap_or_default();
            panic!(
                "waited up to {LIMIT:?} for {what} ({condition}): {e}\n--- page text ---\n{}",
                body.as_str().unwrap_or_default()
            );
        }
    }

    /// Resizes the window (CSS pixels of the outer window).
    #[track_caller]
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// A PNG of the viewport.
    #[track_caller]
    pub fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None);
        base64_decode(v.as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("the screenshot is not base64"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Quits Chromium; the driver is killed right after (field drop).
        let _ = self.try_cmd("DELETE", "", None);
    }
}

/// Standard base64 (with padding, whitespace ignored).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("aGk=\n").unwrap(), b"hi");
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn framed_ends_at_content_length() {
        let answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length:5\r\nConnection:close\r\n\r\nhello";
        // More bytes follow on the wire (a kept-open connection would block instead).
        let wire = [answer, b"EXTRA"].concat();
        let mut f = Framed::new(std::io::Cursor::new(wire));
        let mut got = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(answer));
        assert!(
            got.len() < answer.len() + 5,
            "stopped reading once the body was complete"
        );
    }

    #[test]
    fn free_ports_are_usable() {
        let p = free_port();
        assert_ne!(p, 0);
        TcpListener::bind(("127.0.0.1", p)).expect("the port is free");
    }
}
