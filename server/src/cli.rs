//! The `zhenwei` command line: one binary for the server and every operator task.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// zhenwei (真伪) — product authenticity verification.
#[derive(Parser, Debug)]
#[command(
    name = "zhenwei",
    version,
    about = "zhenwei (真伪) — product authenticity verification: one core for kiosk, SMS, hotline and web",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Where zhenwei keeps its state; valid before or after any subcommand.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Data directory (SQLite database and key file) [default: ./zhenwei-data]
    #[arg(long, global = true, env = "ZHENWEI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: SQLite in the data directory]
    #[arg(long, global = true, env = "ZHENWEI_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Key file with the code keys [default: DATA_DIR/keys.json]
    #[arg(long, global = true, env = "ZHENWEI_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Configuration file (TOML)
    #[arg(long, global = true, env = "ZHENWEI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the server: HTTP, and HTTPS for kiosks (the SMS and IVR listeners join as they are
    /// built).
    Serve {
        /// Seed the demo dataset when the database is empty.
        #[arg(long)]
        demo: bool,
        /// HTTP listen address [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// HTTPS listen address for kiosks (client certificates), the page and /healthz, or
        /// "off" [default: 127.0.0.1:8443]
        #[arg(long, value_name = "ADDR|off")]
        https: Option<String>,
        /// An extra DNS name or IP address for the HTTPS server certificate (repeatable; always
        /// included: localhost, 127.0.0.1, ::1 and the address listened on).
        #[arg(long = "tls-san", value_name = "NAME")]
        tls_san: Vec<String>,
        /// SIP listen address for the phone hotline, UDP and TCP, or "off"
        /// [default: 127.0.0.1:5060]
        #[arg(long, value_name = "ADDR|off")]
        sip: Option<String>,
        /// SIP over TLS listen address, or "off" [default: 127.0.0.1:5061]
        #[arg(long = "sip-tls", value_name = "ADDR|off")]
        sip_tls: Option<String>,
    },
    /// Print the demo scenarios and their codes as one JSON object.
    DemoCodes,
    /// Add a fortnight of sample cases in four cities (for the regulator dashboard) to a
    /// database seeded by `serve --demo`.
    DemoCases,
    /// Verify a code exactly as every channel does, and record the query.
    Verify {
        /// The code or raw scan string (\x1d or <GS> for ASCII 29).
        code: String,
        /// Channel to record the query under.
        #[arg(long, default_value = "cli", value_parser = ["cli", "web", "kiosk", "sms", "ivr"])]
        channel: String,
        /// Place of the query (6-digit administrative division code).
        #[arg(long, value_name = "DIVISION")]
        place: Option<String>,
        /// Query as this kiosk (its store gives the place); implies --channel kiosk.
        #[arg(long, value_name = "NAME")]
        kiosk: Option<String>,
        /// Who is asking (phone number for sms/ivr, address for web) [default: cli]
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
        lang: String,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Report a suspected fake: verifies the code and opens a consumer-report case.
    Report {
        code: String,
        /// Free text: store name, address, what looked wrong.
        #[arg(long)]
        note: Option<String>,
        #[arg(long, value_name = "DIVISION")]
        place: Option<String>,
        #[arg(long, value_name = "NAME")]
        kiosk: Option<String>,
        #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
        lang: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the recorded queries of a code (read-only).
    History {
        code: String,
        #[arg(long)]
        json: bool,
    },
    /// Show what a scan string or typed text decodes to (read-only, needs no database).
    Decode {
        scan: String,
        #[arg(long)]
        json: bool,
    },
    /// Enterprises.
    #[command(subcommand)]
    Enterprise(EnterpriseCmd),
    /// Manufacturer (GS1 company) prefixes.
    #[command(subcommand)]
    Prefix(PrefixCmd),
    /// Products.
    #[command(subcommand)]
    Product(ProductCmd),
    /// Supervision-code ranges.
    #[command(subcommand)]
    Range(RangeCmd),
    /// GS1 serial lists.
    #[command(subcommand)]
    Serials(UploadCmd),
    /// Scratch-PIN lists.
    #[command(subcommand)]
    Pins(UploadCmd),
    /// Individual codes.
    #[command(subcommand)]
    Codes(CodesCmd),
    /// Stores (places of sale) and their kiosks.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Store kiosks: client certificates for HTTPS, revocation.
    #[command(subcommand)]
    Kiosk(KioskCmd),
    /// The key file.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Regulator offices that receive cases, per division-code prefix.
    #[command(subcommand)]
    Regulator(crate::cases::RegulatorCmd),
    /// Cases of suspected counterfeiting: list, show, acknowledge, investigate, close, escalate.
    #[command(subcommand)]
    Cases(crate::cases::CasesCmd),
    /// Signed delivery of case reports: the signing identity, the outbox, dead letters.
    #[command(subcommand)]
    Delivery(crate::cases::DeliveryCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Regulatory status feeds: import recall, spot-check, CCC, licence and blacklist files;
    /// list entries and imports; the recall notice outbox; tokens for regulators' HTTP posts.
    #[command(subcommand)]
    Feed(FeedCmd),
    /// The SMS channel's outbound log: messages handed to the SMSC and their delivery receipts.
    #[command(subcommand)]
    Sms(SmsCmd),
    /// The phone hotline's call log, newest first (callers masked).
    Calls {
        /// Only this caller's calls (found by keyed hash).
        #[arg(long)]
        caller: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Number-derived places for SMS and IVR: mobile segments and area codes → division codes
    /// (format: docs/numbers/README.md).
    #[command(subcommand)]
    Numbers(NumbersCmd),
    /// Personal data: retention (the `[privacy]` periods of the config file).
    #[command(subcommand)]
    Privacy(PrivacyCmd),
}

#[derive(Subcommand, Debug)]
pub enum PrivacyCmd {
    /// Purge personal data past its retention period now (as `serve` does hourly): contacts
    /// not seen for `contact_days` lose their number, older calls and outbound SMS are deleted.
    /// Prints the counts per table; appends one audit entry.
    Purge {
        /// Only count what would be purged; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SmsCmd {
    /// SMSC message ids (one per part) with the message they belong to (reply or recall
    /// notice) and their delivery receipts, newest first.
    Receipts {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NoticesCmd {
    /// Put a stuck (sending) or failed notice back to pending; refused when the SMSC accepted
    /// its message (it would be sent twice).
    Retry { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum NumbersCmd {
    /// Import a CSV file (`prefix,division[,…]`): all rows or none.
    Import { file: std::path::PathBuf },
    /// List the table.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// The feed kinds, as typed.
pub const FEED_KINDS: [&str; 5] = ["recall", "spot-check", "ccc", "licence", "blacklist"];

#[derive(Subcommand, Debug)]
pub enum FeedCmd {
    /// Import a feed file: CSV with a header row (UTF-8, or GB18030) or JSON. A file with a bad
    /// row is not imported at all unless --skip-bad-rows (docs/feeds/README.md: the columns).
    Import {
        #[arg(value_parser = FEED_KINDS)]
        kind: String,
        /// The file ("-" for standard input).
        file: PathBuf,
        /// The file's format [default: JSON if it starts with "[" or "{", else CSV]
        #[arg(long, value_parser = ["csv", "json"])]
        format: Option<String>,
        /// Import the valid rows of a file that has bad ones (the bad ones are reported).
        #[arg(long)]
        skip_bad_rows: bool,
        /// Print the import report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the feed entries, newest change first (active ones unless --all).
    List {
        #[arg(long, value_parser = FEED_KINDS)]
        kind: Option<String>,
        /// Include withdrawn entries.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the recorded imports (who, when, file hash, counts), newest first.
    Imports {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// The proactive recall notices: one per consumer and recall, and their states.
    Outbox {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Recall notices with their sending state; --stuck: only those claimed longer than the
    /// lease ago and never settled (a crash while sending); `retry ID` returns one to pending.
    Notices {
        #[arg(long)]
        stuck: bool,
        /// The lease, in seconds (the [sms] notice_lease_secs of the server).
        #[arg(long, default_value_t = 600)]
        lease_secs: i64,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        cmd: Option<NoticesCmd>,
    },
    /// Bearer tokens with which regulators POST feeds to /v1/feeds/KIND.
    #[command(subcommand)]
    Token(FeedTokenCmd),
}

#[derive(Subcommand, Debug)]
pub enum FeedTokenCmd {
    /// Issue (or replace) a regulator's token and print it once; only its hash is stored.
    Add {
        /// The regulator's name (letters, digits, "-", "_", "."), e.g. zj-amr.
        name: String,
        /// A kind it may post (repeatable) [default: all]
        #[arg(long = "kind", value_parser = FEED_KINDS)]
        kinds: Vec<String>,
    },
    /// Revoke a regulator's token.
    Revoke { name: String },
    /// List the regulators' tokens (never the tokens).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnterpriseCmd {
    /// Register an enterprise.
    Add {
        /// Unified social credit code (18 characters, GB 32100).
        #[arg(long)]
        credit_code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        name_en: Option<String>,
        /// Administrative division code of its location.
        #[arg(long)]
        division: String,
    },
    /// Operator accounts (client certificates) for the enterprise API and portal; access needs
    /// a confirmed primary and secondary (two-person rule).
    #[command(subcommand)]
    Operator(crate::operators::OperatorCmd),
}

#[derive(Subcommand, Debug)]
pub enum PrefixCmd {
    /// Register a manufacturer prefix (valid two years).
    Add {
        #[arg(long)]
        credit_code: String,
        #[arg(long)]
        prefix: String,
        /// Registration date [default: today]
        #[arg(long, value_name = "YYYY-MM-DD")]
        registered_on: Option<NaiveDate>,
    },
    /// Renew a prefix for two more years.
    Renew { prefix: String },
    /// Cancel a prefix for good.
    Cancel { prefix: String },
}

#[derive(Subcommand, Debug)]
pub enum ProductCmd {
    /// Register a product under one of the enterprise's prefixes.
    Add {
        #[arg(long)]
        gtin: String,
        #[arg(long)]
        credit_code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        name_en: Option<String>,
        #[arg(long)]
        spec: Option<String>,
        #[arg(long)]
        category: Option<String>,
        /// CCC certificate number.
        #[arg(long)]
        ccc: Option<String>,
        /// Licence number (e.g. medical-device registration).
        #[arg(long)]
        licence: Option<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Lot / batch number.
    #[arg(long)]
    pub lot: String,
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub production_date: Option<NaiveDate>,
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expiry: Option<NaiveDate>,
    /// Where the batch was made (division code), when not at the enterprise's own location:
    /// contract manufacturing, a subsidiary's plant. Batch-level counterfeiting cases go there.
    #[arg(long, value_name = "DIVISION")]
    pub made_in: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RangeCmd {
    /// Request a range of supervision codes for a product.
    Request {
        #[arg(long)]
        gtin: String,
        /// Number of codes (up to 100 000 000).
        #[arg(long)]
        size: u64,
        /// Production plan or other reason.
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Export codes for printing as CSV (serial,code,printed).
    Export {
        range: i64,
        /// First serial [default: 0]
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// One past the last serial [default: the range's size]
        #[arg(long)]
        to: Option<u64>,
        /// Output file [default: standard output]
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Activate a range or sub-range with batch data when goods ship.
    Activate {
        range: i64,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
        #[command(flatten)]
        batch: BatchArgs,
    },
    /// Cancel a range or sub-range.
    Cancel {
        range: i64,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UploadCmd {
    /// Upload a list (one per line) for a product and batch.
    Upload {
        #[arg(long)]
        gtin: String,
        #[command(flatten)]
        batch: BatchArgs,
        /// The list file ("-" for standard input).
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum CodesCmd {
    /// Cancel individual codes (supervision codes, GS1 scans with serial, scratch PINs).
    Cancel {
        #[arg(required = true)]
        codes: Vec<String>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCmd {
    /// Add a store.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        division: String,
        #[arg(long)]
        address: Option<String>,
    },
    /// Register a kiosk in a store, without a certificate (`zhenwei kiosk add` also issues one;
    /// `zhenwei kiosk issue NAME` gives this one a certificate later).
    AddKiosk {
        #[arg(long)]
        store: i64,
        #[arg(long)]
        name: String,
    },
}

/// Where a kiosk's certificate, key and agent configuration go.
#[derive(Args, Debug, Clone)]
pub struct KioskOut {
    /// Directory for kiosk.crt, kiosk.key (0600), ca.crt and kiosk.toml; files there are
    /// replaced [default: ./kiosk-NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The server URL written into kiosk.toml.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    pub server_url: String,
    /// The kiosk screen's default language in kiosk.toml.
    #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
    pub lang: String,
}

#[derive(Subcommand, Debug)]
pub enum KioskCmd {
    /// Register a kiosk in a store and issue its client certificate; prints its agent
    /// configuration (kiosk.toml).
    Add {
        /// The store's id (`zhenwei store add` prints it).
        #[arg(long)]
        store: i64,
        /// The kiosk's name: its identity in certificates, query records and logs.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: KioskOut,
    },
    /// Issue a new certificate to an existing kiosk (its previous certificate stops working; a
    /// revocation is lifted).
    Issue {
        name: String,
        #[command(flatten)]
        out: KioskOut,
    },
    /// Revoke a kiosk's certificate: the server refuses it from the next request on.
    Revoke { name: String },
    /// List the kiosks, their stores and certificate states.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Add a new code key version; new ranges use it, old codes keep verifying.
    Rotate,
    /// Show the key versions (never the keys).
    Show,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the hash chain and report the first broken entry, if any.
    Verify,
    /// Print audit entries as JSON lines.
    List {
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}
