//! Configuration: one optional TOML file, overridden by environment variables, overridden by
//! command-line flags.
//!
//! ```toml
//! data_dir = "/var/lib/zhenwei"
//! database_url = "postgres://zhenwei@localhost/zhenwei"   # default: SQLite in data_dir
//! key_file = "/etc/zhenwei/keys.json"                     # default: data_dir/keys.json
//! http = "127.0.0.1:8080"
//! https = "127.0.0.1:8443"                                # "off": no HTTPS listener (no kiosks)
//! tls_san = ["zhenwei.example", "10.0.0.5"]               # extra names of the server certificate
//!
//! [thresholds]           # SPEC "The verdict", all optional
//! repeat_from = 2
//! excessive_from = 5
//! clone_window_hours = 24
//! clone_cities = 2
//! clone_stores = 3
//! enumeration_unknown_codes = 10
//! enumeration_window_minutes = 60
//!
//! [sip]                  # the phone hotline (zhenwei-ivr), all optional
//! listen = "127.0.0.1:5060"        # UDP and TCP; "off": no SIP listener
//! tls = "127.0.0.1:5061"           # SIP over TLS (certificate from the data directory's CA); "off"
//! trunks = ["192.0.2.0/24"]        # who may call besides loopback (403 for everyone else)
//! agent_uri = "sip:agent@pbx.example"   # where "0 agent" transfers to (REFER)
//! contact_host = "ivr.example.com:5060" # our Contact, when the listen address is not reachable
//! hangup_after_secs = 600          # a call longer than this is hung up
//! media_ip = "192.0.2.10"          # the RTP address put in SDP (default: the listen address)
//! prompts_dir = "/srv/prompts"     # studio recordings overriding the built-in prompts (zh/, en/)
//! queries_per_caller_hour = 20     # per-caller rate limit of the voice menu
//! [smpp]                 # optional: the SMPP 3.4 ESME to the operator's SMSC (issue 5)
//! host = "smsc.example"
//! port = 2775
//! system_id = "zhenwei"
//! password = "secret"    # or ZHENWEI_SMPP_PASSWORD in the environment
//! system_type = ""
//! window = 64            # submit_sm awaiting their response
//! rate = 100             # submit_sm per second; 0 = unlimited
//! enquire_link_secs = 30
//! response_timeout_secs = 10
//! reconnect_initial_ms = 500
//! reconnect_max_ms = 30000
//! receipts = true        # ask for delivery receipts
//! [sms]                  # per-number limits of the SMS channel, optional
//! rate_burst = 10        # verify/report messages at once …
//! rate_per_minute = 6    # … and per minute after that
//! from = "10690000"      # short code of recall notices (unsolicited MTs)
//! sender = "smpp"        # smpp | kannel | off (default: smpp with [smpp], kannel with a URL)
//! kannel_sendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms"
//! kannel_user = "zhenwei"            # password: ZHENWEI_KANNEL_PASSWORD or kannel_password
//! dlr_url = "auto"      # Kannel delivery reports to us: a URL, or "auto" = our --http address
//! notice_every_ms = 30000            # drain the recall-notice outbox this often
//! notice_lease_secs = 600            # reclaim a notice stuck in `sending` after this
//! [cases]                # SPEC "Cases", all optional
//! escalate_after_working_days = 7
//! escalation_check_seconds = 300
//! holidays = [2026-10-01, 2026-10-02]     # dates in China
//! extra_working_days = [2026-09-27]      # worked weekend days (调休)
//!
//! [delivery]             # case reports to regulators and enterprises, all optional
//! max_attempts = 12      # then dead-lettered
//! backoff_base_ms = 2000
//! backoff_max_ms = 3600000
//! timeout_ms = 30000
//! trust = ["/etc/zhenwei/receivers-ca.pem"]   # extra roots for receivers' certificates
//! # client_cert = "…", client_key = "…"      # default: issued by the data directory's CA
//! # signing_key = "…"                         # default: DATA_DIR/delivery-signing.key
//!
//! [privacy]              # retention of personal data (core/src/retention.rs), all optional
//! contact_days = 365     # a contact not seen this long loses its number (opt-outs are kept)
//! call_days = 365        # the hotline's call log
//! sms_log_days = 365     # the outbound SMS log and its delivery receipts
//! purge_every_minutes = 60   # how often `serve` purges (also once at start)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use zhenwei_core::Thresholds;

/// Default HTTP listen address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Default HTTPS listen address (kiosks; the page and `/healthz` too).
pub const DEFAULT_HTTPS: &str = "127.0.0.1:8443";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "zhenwei-data";

/// The file's contents; every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub key_file: Option<PathBuf>,
    pub http: Option<String>,
    pub https: Option<String>,
    #[serde(default)]
    pub tls_san: Vec<String>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub sip: SipConfig,
    pub smpp: Option<SmppSection>,
    #[serde(default)]
    pub sms: SmsConfig,
    /// Case rules: escalation working days, holidays (`[cases]`).
    #[serde(default)]
    pub cases: zhenwei_core::cases::CaseRules,
    /// Delivery of case reports: retries, TLS, keys (`[delivery]`, see `delivery.rs`).
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
    /// Retention periods of personal data (`[privacy]`).
    #[serde(default)]
    pub privacy: zhenwei_core::retention::Retention,
}

/// `[sms]`: per-number limits of the SMS channel (issue 5).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// Verify/report messages one number may send at once…
    pub rate_burst: u32,
    /// …and per minute after that.
    pub rate_per_minute: f64,
    /// The short code unsolicited messages (recall notices) are sent from.
    pub from: String,
    /// How recall notices go out: "smpp" (the [smpp] ESME), "kannel" (Kannel's sendsms) or
    /// "off" [default: smpp when there is an [smpp] section, kannel when kannel_sendsms_url is
    /// set, off otherwise].
    pub sender: Option<String>,
    /// Kannel smsbox's sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.
    pub kannel_sendsms_url: Option<String>,
    /// The sendsms-user of smsbox; its password from ZHENWEI_KANNEL_PASSWORD or here.
    pub kannel_user: String,
    pub kannel_password: String,
    /// Our /v1/sms/dlr URL as Kannel reaches it (delivery reports of Kannel MTs); "auto": the
    /// server's own HTTP listener.
    pub dlr_url: Option<String>,
    /// How often the recall-notice outbox is drained, in milliseconds.
    pub notice_every_ms: u64,
    /// A notice claimed (sending) this long without settling is reclaimed (see `feed notices`).
    pub notice_lease_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        let d = zhenwei_sms_gateway::GatewayConfig::default();
        SmsConfig {
            rate_burst: d.burst,
            rate_per_minute: d.per_minute,
            from: "10690000".into(),
            sender: None,
            kannel_sendsms_url: None,
            kannel_user: String::new(),
            kannel_password: String::new(),
            dlr_url: None,
            notice_every_ms: 30_000,
            notice_lease_secs: 600,
        }
    }
}

impl SmsConfig {
    pub fn gateway(&self) -> zhenwei_sms_gateway::GatewayConfig {
        zhenwei_sms_gateway::GatewayConfig {
            burst: self.rate_burst,
            per_minute: self.rate_per_minute,
            ..zhenwei_sms_gateway::GatewayConfig::default()
        }
    }
}

/// The `[smpp]` section: where the SMSC is, the account, and the session's limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppSection {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    #[serde(default = "SmppSection::default_window")]
    pub window: usize,
    #[serde(default)]
    pub rate: u32,
    #[serde(default = "SmppSection::default_enquire_link_secs")]
    pub enquire_link_secs: u64,
    #[serde(default = "SmppSection::default_response_timeout_secs")]
    pub response_timeout_secs: u64,
    #[serde(default = "SmppSection::default_reconnect_initial_ms")]
    pub reconnect_initial_ms: u64,
    #[serde(default = "SmppSection::default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    #[serde(default = "SmppSection::default_receipts")]
    pub receipts: bool,
}

impl SmppSection {
    fn default_window() -> usize {
        64
    }
    fn default_enquire_link_secs() -> u64 {
        30
    }
    fn default_response_timeout_secs() -> u64 {
        10
    }
    fn default_reconnect_initial_ms() -> u64 {
        500
    }
    fn default_reconnect_max_ms() -> u64 {
        30_000
    }
    fn default_receipts() -> bool {
        true
    }
}

/// The `[sip]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    pub listen: Option<String>,
    pub tls: Option<String>,
    #[serde(default)]
    pub trunks: Vec<String>,
    pub agent_uri: Option<String>,
    pub contact_host: Option<String>,
    pub hangup_after_secs: Option<u64>,
    pub media_ip: Option<std::net::IpAddr>,
    pub prompts_dir: Option<PathBuf>,
    pub queries_per_caller_hour: Option<usize>,
}

/// Default SIP listen address (UDP and TCP).
pub const DEFAULT_SIP: &str = "127.0.0.1:5060";
/// Default SIP-over-TLS listen address.
pub const DEFAULT_SIP_TLS: &str = "127.0.0.1:5061";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let cfg: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let t = &cfg.thresholds;
        let positive = [
            ("repeat_from", t.repeat_from),
            ("excessive_from", t.excessive_from),
            ("clone_window_hours", t.clone_window_hours),
            ("clone_cities", t.clone_cities),
            ("clone_stores", t.clone_stores),
            ("enumeration_unknown_codes", t.enumeration_unknown_codes),
            ("enumeration_window_minutes", t.enumeration_window_minutes),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v < 1) {
            return Err(ConfigError::Parse {
                path: path.display().to_string(),
                message: format!("thresholds.{name} must be at least 1"),
            });
        }
        if let Some(smpp) = &cfg.smpp {
            if smpp.window < 1 || smpp.enquire_link_secs < 1 || smpp.response_timeout_secs < 1 {
                return Err(ConfigError::Parse {
                    path: path.display().to_string(),
                    message: "smpp.window, enquire_link_secs and response_timeout_secs must be at least 1".into(),
                });
            }
        }
        let rate = cfg.sms.rate_per_minute;
        if cfg.sms.rate_burst < 1 || !rate.is_finite() || rate <= 0.0 {
            return Err(ConfigError::Parse {
                path: path.display().to_string(),
                message: "sms.rate_burst must be at least 1 and sms.rate_per_minute above 0".into(),
            });
        }
        if let Err(message) = cfg.privacy.validate() {
            return Err(ConfigError::Parse {
                path: path.display().to_string(),
                message,
            });
        }
        if t.excessive_from < t.repeat_from {
            return Err(ConfigError::Parse {
                path: path.display().to_string(),
                message: "thresholds.excessive_from must not be below repeat_from".into(),
            });
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "http = \"127.0.0.1:9000\"\n[thresholds]\nexcessive_from = 7\n",
        )
        .unwrap();
        let c = FileConfig::load(Some(&p)).unwrap();
        assert_eq!(c.http.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(c.thresholds.excessive_from, 7);
        assert_eq!(c.thresholds.repeat_from, 2);
    }

    #[test]
    fn sip_section() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "[sip]\nlisten = \"off\"\ntrunks = [\"192.0.2.0/24\"]\nagent_uri = \"sip:agent@pbx\"\n",
        )
        .unwrap();
        let c = FileConfig::load(Some(&p)).unwrap();
        assert_eq!(c.sip.listen.as_deref(), Some("off"));
        assert_eq!(c.sip.trunks, vec!["192.0.2.0/24"]);
        assert_eq!(c.sip.agent_uri.as_deref(), Some("sip:agent@pbx"));
    }

    #[test]
    fn smpp_section_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.toml");
        std::fs::write(
            &p,
            "[smpp]\nhost = \"127.0.0.1\"\nport = 2775\nsystem_id = \"zw\"\nrate = 50\n",
        )
        .unwrap();
        let c = FileConfig::load(Some(&p)).unwrap().smpp.unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.system_id.as_str()),
            ("127.0.0.1", 2775, "zw")
        );
        assert_eq!(
            (c.window, c.rate, c.enquire_link_secs, c.receipts),
            (64, 50, 30, true)
        );
        std::fs::write(
            &p,
            "[smpp]\nhost = \"h\"\nport = 1\nsystem_id = \"zw\"\nwindow = 0\n",
        )
        .unwrap();
        assert!(FileConfig::load(Some(&p)).is_err());
    }

    #[test]
    fn privacy_section() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.toml");
        std::fs::write(&p, "[privacy]\ncontact_days = 90\nsms_log_days = 30\n").unwrap();
        let c = FileConfig::load(Some(&p)).unwrap().privacy;
        assert_eq!(
            (
                c.contact_days,
                c.call_days,
                c.sms_log_days,
                c.purge_every_minutes
            ),
            (90, 365, 30, 60)
        );
        assert_eq!(
            FileConfig::load(None).unwrap().privacy,
            zhenwei_core::retention::Retention::default()
        );
        for (text, want) in [
            (
                "[privacy]\ncall_days = 0\n",
                "privacy.call_days must be between 1 and 36500 days (got 0)",
            ),
            (
                "[privacy]\ncontact_days = 40000\n",
                "privacy.contact_days must be between 1 and 36500 days (got 40000)",
            ),
            ("[privacy]\ncontact_days = -1\n", "invalid value"),
            ("[privacy]\ncontact_days = \"a year\"\n", "invalid type"),
            ("[privacy]\nkeep_days = 3\n", "unknown field `keep_days`"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = FileConfig::load(Some(&p)).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn bad_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.toml");
        std::fs::write(&p, "[thresholds]\nrepeat_from = 0\n").unwrap();
        let e = FileConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(
            e.contains("thresholds.repeat_from must be at least 1"),
            "{e}"
        );
        std::fs::write(&p, "colour = 1\n").unwrap();
        let e = FileConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
