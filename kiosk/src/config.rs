//! The agent's configuration: one TOML file, as `zhenwei kiosk add` writes it.
//!
//! ```toml
//! server = "https://127.0.0.1:8443"   # the zhenwei server's HTTPS listener
//! kiosk = "kiosk-nb-02"               # informational: the certificate says who we are
//! store = "甬江超市海曙店"              # shown on the screen
//! language = "zh"                     # zh | en: the screen's main language
//!
//! [tls]                               # paths relative to this file
//! cert = "kiosk.crt"
//! key = "kiosk.key"
//! ca = "ca.crt"
//!
//! [offline]                           # shown when the server cannot be reached
//! hotline = "400-000-0000"
//! sms = "10690000"
//!
//! [scanner]
//! device = "/dev/ttyACM0"             # serial port; "/dev/input/…" = keyboard wedge; "stdin"
//! baud = 9600
//! gap_ms = 150                        # silence that ends a scan sent without terminator
//!
//! [ui]
//! listen = "127.0.0.1:8088"           # loopback only: Chromium in kiosk mode opens it
//! idle_seconds = 30                   # back to the idle screen after this long
//!
//! [client]
//! timeout_ms = 4000                   # per attempt
//! retries = 1                         # further attempts when the server is unreachable
//!
//! [queue]
//! dir = "queue"                       # reports waiting for the server
//! retry_seconds = 15
//! ```
//!
//! Everything but `server` and `[tls]` has a default. Unknown keys are refused (a misspelt key
//! would otherwise be silently ignored); `store_id`, `division`, `tls.serial` and `tls.sha256`,
//! which `kiosk add` writes for the operator's information, are accepted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("scanner {0:?}: use \"stdin\", \"serial:PATH\", \"evdev:PATH\" or a device path")]
    Scanner(String),
    #[error("UI address {0:?}: the kiosk screen listens on loopback only (e.g. 127.0.0.1:8088)")]
    UiNotLoopback(String),
    #[error("UI address {0:?} is not an address: {1}")]
    UiAddress(String, std::net::AddrParseError),
}

/// Where scans come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScannerSource {
    /// Lines typed or piped on standard input (for trying the agent out).
    Stdin,
    /// A serial (or USB CDC-ACM) scanner.
    Serial { path: PathBuf, baud: u32 },
    /// A USB HID keyboard-wedge scanner, read from its evdev device and grabbed exclusively.
    Evdev { path: PathBuf },
}

impl ScannerSource {
    /// `stdin`, `serial:PATH`, `evdev:PATH`, or a bare path (`/dev/input/…` is evdev, anything
    /// else serial).
    pub fn parse(spec: &str, baud: u32) -> Result<ScannerSource, ConfigError> {
        let spec = spec.trim();
        if spec == "stdin" || spec == "-" {
            return Ok(ScannerSource::Stdin);
        }
        let (kind, path) = match spec.split_once(':') {
            Some(("serial", p)) => ("serial", p),
            Some(("evdev", p)) => ("evdev", p),
            _ if spec.starts_with("/dev/input/") => ("evdev", spec),
            _ => ("serial", spec),
        };
        if path.is_empty() || path.chars().any(char::is_control) {
            return Err(ConfigError::Scanner(spec.to_owned()));
        }
        let path = PathBuf::from(path);
        Ok(if kind == "evdev" {
            ScannerSource::Evdev { path }
        } else {
            ScannerSource::Serial { path, baud }
        })
    }
}

/// The configuration, resolved: paths absolute, defaults filled in.
#[derive(Clone, Debug)]
pub struct Config {
    pub server: String,
    pub kiosk: Option<String>,
    pub store: Option<String>,
    /// "zh" or "en".
    pub language: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub hotline: String,
    pub sms: String,
    pub scanner: ScannerSource,
    pub gap: Duration,
    pub ui: SocketAddr,
    pub idle: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub queue_dir: PathBuf,
    pub queue_retry: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: String,
    kiosk: Option<String>,
    store: Option<String>,
    #[allow(dead_code)]
    store_id: Option<i64>,
    #[allow(dead_code)]
    division: Option<String>,
    language: Option<String>,
    tls: TlsFile,
    #[serde(default)]
    offline: OfflineFile,
    #[serde(default)]
    scanner: ScannerFile,
    #[serde(default)]
    ui: UiFile,
    #[serde(default)]
    client: ClientFile,
    #[serde(default)]
    queue: QueueFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    #[allow(dead_code)]
    serial: Option<String>,
    #[allow(dead_code)]
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineFile {
    hotline: String,
    sms: String,
}

impl Default for OfflineFile {
    fn default() -> Self {
        OfflineFile {
            hotline: "12315".into(),
            sms: "12315".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScannerFile {
    #[serde(default = "default_device")]
    device: String,
    #[serde(default = "default_baud")]
    baud: u32,
    #[serde(default = "default_gap_ms")]
    gap_ms: u64,
}

fn default_device() -> String {
    "/dev/ttyACM0".into()
}
fn default_baud() -> u32 {
    9600
}
fn default_gap_ms() -> u64 {
    150
}

impl Default for ScannerFile {
    fn default() -> Self {
        ScannerFile {
            device: default_device(),
            baud: default_baud(),
            gap_ms: default_gap_ms(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UiFile {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_idle")]
    idle_seconds: f64,
}

fn default_listen() -> String {
    "127.0.0.1:8088".into()
}
fn default_idle() -> f64 {
    30.0
}

impl Default for UiFile {
    fn default() -> Self {
        UiFile {
            listen: default_listen(),
            idle_seconds: default_idle(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_timeout() -> u64 {
    4000
}
fn default_retries() -> u32 {
    1
}

impl Default for ClientFile {
    fn default() -> Self {
        ClientFile {
            timeout_ms: default_timeout(),
            retries: default_retries(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    #[serde(default = "default_queue_dir")]
    dir: PathBuf,
    #[serde(default = "default_queue_retry")]
    retry_seconds: f64,
}

fn default_queue_dir() -> PathBuf {
    PathBuf::from("queue")
}
fn default_queue_retry() -> f64 {
    15.0
}

impl Default for QueueFile {
    fn default() -> Self {
        QueueFile {
            dir: default_queue_dir(),
            retry_seconds: default_queue_retry(),
        }
    }
}

/// Command-line overrides.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub scanner: Option<String>,
    pub ui: Option<String>,
    pub server: Option<String>,
}

fn seconds(path: &Path, what: &str, s: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(86_400))
        .ok_or_else(|| ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("{what} = {s}: must be more than 0 and at most a day"),
        })
}

/// The loopback address the UI listens on.
pub fn ui_address(s: &str) -> Result<SocketAddr, ConfigError> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|e| ConfigError::UiAddress(s.to_owned(), e))?;
    if !addr.ip().is_loopback() {
        return Err(ConfigError::UiNotLoopback(s.to_owned()));
    }
    Ok(addr)
}

impl Config {
    /// Reads `path` and applies the overrides.
    pub fn load(path: &Path, o: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(path, &text, o)
    }

    /// Parses `text` (read from `path`: relative paths are relative to its directory).
    pub fn parse(path: &Path, text: &str, o: &Overrides) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let f: File = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let at = |p: &Path| base.join(p);
        let server = o.server.clone().unwrap_or(f.server);
        if !server.starts_with("https://") {
            return Err(invalid(format!(
                "server = {server:?}: kiosks talk to the server over https:// only"
            )));
        }
        let language = f.language.unwrap_or_else(|| "zh".into());
        if !matches!(language.as_str(), "zh" | "en") {
            return Err(invalid(format!(
                "language = {language:?}: \"zh\" or \"en\""
            )));
        }
        if f.scanner.gap_ms == 0 || f.scanner.gap_ms > 10_000 {
            return Err(invalid(format!(
                "scanner.gap_ms = {}: between 1 and 10000",
                f.scanner.gap_ms
            )));
        }
        if f.client.timeout_ms == 0 || f.client.retries > 10 {
            return Err(invalid(
                "client.timeout_ms must be positive and client.retries at most 10".into(),
            ));
        }
        let scanner = ScannerSource::parse(
            o.scanner.as_deref().unwrap_or(&f.scanner.device),
            f.scanner.baud,
        )?;
        let scanner = match scanner {
            ScannerSource::Serial { path, baud } => ScannerSource::Serial {
                path: at(&path),
                baud,
            },
            ScannerSource::Evdev { path } => ScannerSource::Evdev { path: at(&path) },
            s => s,
        };
        Ok(Config {
            server,
            kiosk: f.kiosk,
            store: f.store,
            language,
            cert: at(&f.tls.cert),
            key: at(&f.tls.key),
            ca: at(&f.tls.ca),
            hotline: f.offline.hotline,
            sms: f.offline.sms,
            scanner,
            gap: Duration::from_millis(f.scanner.gap_ms),
            ui: ui_address(o.ui.as_deref().unwrap_or(&f.ui.listen))?,
            idle: seconds(path, "ui.idle_seconds", f.ui.idle_seconds)?,
            timeout: Duration::from_millis(f.client.timeout_ms),
            retries: f.client.retries,
            queue_dir: at(&f.queue.dir),
            queue_retry: seconds(path, "queue.retry_seconds", f.queue.retry_seconds)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `zhenwei kiosk add` writes (server/src/kiosk.rs `agent_config`).
    const ADDED: &str = r#"
server = "https://127.0.0.1:8443"
kiosk = "kiosk-nb-02"
store = "甬江超市海曙店"
store_id = 1
division = "330203"
language = "zh"

[tls]
cert = "kiosk.crt"
key = "kiosk.key"
ca = "ca.crt"
serial = "0A"
sha256 = "ab"

[offline]
hotline = "400-000-0000"
sms = "10690000"
"#;

    #[test]
    fn the_file_kiosk_add_writes_is_accepted_with_defaults() {
        let c =
            Config::parse(Path::new("/etc/k/kiosk.toml"), ADDED, &Overrides::default()).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:8443");
        assert_eq!(c.store.as_deref(), Some("甬江超市海曙店"));
        assert_eq!(c.cert, PathBuf::from("/etc/k/kiosk.crt"));
        assert_eq!(c.ca, PathBuf::from("/etc/k/ca.crt"));
        assert_eq!(c.hotline, "400-000-0000");
        assert_eq!(
            c.scanner,
            ScannerSource::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600
            }
        );
        assert_eq!(c.ui, "127.0.0.1:8088".parse().unwrap());
        assert_eq!(c.idle, Duration::from_secs(30));
        assert_eq!(c.queue_dir, PathBuf::from("/etc/k/queue"));
    }

    #[test]
    fn overrides_and_sections() {
        let text = format!(
            "{ADDED}\n[scanner]\ndevice = \"/dev/input/by-id/usb-scanner-event-kbd\"\n\
             [ui]\nidle_seconds = 0.5\n[queue]\ndir = \"/var/lib/zw\"\nretry_seconds = 2\n"
        );
        let c = Config::parse(Path::new("k.toml"), &text, &Overrides::default()).unwrap();
        assert_eq!(
            c.scanner,
            ScannerSource::Evdev {
                path: "/dev/input/by-id/usb-scanner-event-kbd".into()
            }
        );
        assert_eq!(c.idle, Duration::from_millis(500));
        assert_eq!(c.queue_dir, PathBuf::from("/var/lib/zw"));
        let o = Overrides {
            scanner: Some("stdin".into()),
            ui: Some("[::1]:0".into()),
            server: Some("https://zw.example".into()),
        };
        let c = Config::parse(Path::new("k.toml"), &text, &o).unwrap();
        assert_eq!(c.scanner, ScannerSource::Stdin);
        assert_eq!(c.ui.port(), 0);
        assert_eq!(c.server, "https://zw.example");
    }

    #[test]
    fn mistakes_get_clear_errors() {
        let p = Path::new("k.toml");
        let cases = [
            (ADDED.replace("https://", "http://"), "https:// only"),
            (
                ADDED.replace("language = \"zh\"", "language = \"fr\""),
                "\"zh\" or \"en\"",
            ),
            (
                format!("{ADDED}\n[ui]\nlisten = \"0.0.0.0:80\"\n"),
                "loopback only",
            ),
            (format!("{ADDED}\n[ui]\nidle_seconds = 0\n"), "idle_seconds"),
            (
                format!("{ADDED}\n[scanner]\ndevise = \"x\"\n"),
                "unknown field",
            ),
            ("server = 1".to_owned(), "invalid type"),
            (
                format!("{ADDED}\n[scanner]\ndevice = \"serial:\"\n"),
                "scanner",
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse(p, &text, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
        let e = Config::load(Path::new("/nonexistent/k.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /nonexistent/k.toml"), "{e}");
    }

    #[test]
    fn scanner_specs() {
        assert_eq!(
            ScannerSource::parse("serial:/dev/pts/3", 115_200).unwrap(),
            ScannerSource::Serial {
                path: "/dev/pts/3".into(),
                baud: 115_200
            }
        );
        assert_eq!(
            ScannerSource::parse("evdev:/dev/input/event4", 9600).unwrap(),
            ScannerSource::Evdev {
                path: "/dev/input/event4".into()
            }
        );
        assert_eq!(
            ScannerSource::parse("-", 9600).unwrap(),
            ScannerSource::Stdin
        );
        assert!(ScannerSource::parse("evdev:", 9600).is_err());
    }
}
