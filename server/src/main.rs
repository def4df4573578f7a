//! # zhenwei — the process
//!
//! One binary runs the server and every operator command. This file is the edge: it parses the
//! command line, merges configuration (flag > environment > file > default), opens the core, runs
//! the command and turns any error into one clear line on stderr with a non-zero exit status.

mod case_answers;
mod cases;
mod cli;
mod config;
mod delivery;
mod enterprise_api;
mod feeds;
mod http;
mod kiosk;
mod metrics;
mod operators;
mod page;
mod pki;
mod portal;
mod regulator_api;
mod sip;
mod smpp;
mod sms;
mod tls;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use zhenwei_core::clock::local_time;
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::codes::supervision::grouped;
use zhenwei_core::codes::{self, Family};
use zhenwei_core::lifecycle::{BatchData, NewProduct};
use zhenwei_core::verify::mask_source;
use zhenwei_core::{audit, demo, Channel, Core, Keyring, Lang, Location, Query, Verdict};

use cli::{
    AuditCmd, BatchArgs, Cli, CodesCmd, Command, EnterpriseCmd, KeysCmd, NumbersCmd, PrefixCmd,
    PrivacyCmd, ProductCmd, RangeCmd, StoreCmd, UploadCmd,
};
use config::FileConfig;

/// Prints a line on stdout. A closed pipe (`zhenwei … | head -1`) ends the process quietly
/// instead of panicking as `println!` would.
macro_rules! out {
    ($($t:tt)*) => { emit(&format!($($t)*)) };
}

pub(crate) fn emit(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Who the audit log names for commands run from this terminal.
fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

struct Settings {
    location: Location,
    file: FileConfig,
}

fn settings(g: &cli::Global) -> Result<Settings> {
    let file = FileConfig::load(g.config.as_deref())?;
    let data_dir = g
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    Ok(Settings {
        location: Location {
            data_dir,
            database_url: g.database_url.clone().or_else(|| file.database_url.clone()),
            key_file: g.key_file.clone().or_else(|| file.key_file.clone()),
        },
        file,
    })
}

async fn open(s: &Settings) -> Result<Core> {
    Ok(Core::open(&s.location, s.file.thresholds.clone()).await?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZHENWEI_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if serving { "info" } else { "warn" })
            }),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text is already shown
/// (library errors often repeat their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> Result<ExitCode> {
    // `decode` needs neither keys nor database.
    if let Command::Decode { scan, json } = &cli.command {
        return Ok(decode(scan, *json));
    }
    let s = settings(&cli.global)?;
    if let Command::Keys(cmd) = &cli.command {
        return keys(&s, cmd);
    }
    let core = open(&s).await?;
    let result = command(&s, &core, cli.command).await;
    core.store.close().await;
    result
}

fn unescape_gs(s: &str) -> String {
    s.replace("\\x1d", "\u{1d}").replace("\\x1D", "\u{1d}")
}

fn decode(scan: &str, json: bool) -> ExitCode {
    match codes::decode(&unescape_gs(scan)) {
        Ok(d) => {
            let ais: Vec<[String; 2]> = d.ais().into_iter().map(|(a, v)| [a, v]).collect();
            if json {
                let mut out = serde_json::json!({
                    "family": d.family().as_str(),
                    "code": d.normalised(),
                });
                if d.family() == Family::Gs1 {
                    out["ais"] = serde_json::json!(ais);
                }
                out!("{out}");
            } else {
                out!("family: {}", d.family().as_str());
                out!("code:   {}", d.normalised());
                for [ai, v] in ais {
                    out!("  ({ai}) {v}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}})
                );
            } else {
                eprintln!("error: {e} [{}]", e.code());
            }
            ExitCode::FAILURE
        }
    }
}

fn keys(s: &Settings, cmd: &KeysCmd) -> Result<ExitCode> {
    let path = s.location.key_file();
    match cmd {
        KeysCmd::Rotate => {
            Keyring::open_or_create(&path)?;
            let v = Keyring::rotate(&path)?;
            out!("key version {v} is now current ({})", path.display());
        }
        KeysCmd::Show => {
            let k = Keyring::open_or_create(&path)?;
            out!(
                "{}",
                serde_json::json!({
                    "key_file": path.display().to_string(),
                    "versions": k.versions(),
                    "current": k.current_version(),
                })
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn batch(b: &BatchArgs) -> BatchData {
    BatchData {
        lot: b.lot.clone(),
        production_date: b.production_date,
        expiry_date: b.expiry,
        made_in: b.made_in.clone(),
    }
}

fn open_list(path: &PathBuf) -> Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(BufReader::new(f)))
}

async fn query_for(
    core: &Core,
    code: &str,
    channel: Channel,
    place: Option<&str>,
    kiosk: Option<&str>,
    source: Option<String>,
    lang: &str,
) -> Result<Query> {
    let mut q = Query {
        input: unescape_gs(code),
        channel,
        source: source.unwrap_or_else(|| "cli".into()),
        place: place
            .map(DivisionCode::parse)
            .transpose()
            .map_err(|e| anyhow!("--place: {e}"))?,
        store_id: None,
        lang: Lang::parse(lang).unwrap_or_default(),
    };
    if let Some(name) = kiosk {
        let k = core
            .verifier
            .kiosk(name)
            .await?
            .ok_or_else(|| anyhow!("no kiosk named {name:?}"))?;
        q.channel = Channel::Kiosk;
        q.source = name.to_owned();
        q.store_id = Some(k.store_id);
        if q.place.is_none() {
            q.place = Some(DivisionCode::parse(&k.division).map_err(|e| anyhow!("{e}"))?);
        }
    }
    Ok(q)
}

fn print_verdict(v: &Verdict, json: bool) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string(v)?);
        return Ok(());
    }
    out!("{}", v.authenticity.as_str().to_uppercase());
    out!("{}", v.message);
    if let Some(code) = &v.code {
        let shown = if v.family == Some(Family::Supervision) {
            grouped(code)
        } else {
            code.clone()
        };
        out!("  code:       {shown}");
    }
    if let Some(p) = &v.product {
        out!("  product:    {} ({})", p.name, p.gtin);
    }
    if let Some(e) = &v.enterprise {
        out!("  enterprise: {} ({})", e.name, e.credit_code);
    }
    if let Some(b) = &v.batch {
        out!(
            "  batch:      {} (made {}, expires {})",
            b.lot,
            b.production_date.as_deref().unwrap_or("-"),
            b.expiry_date.as_deref().unwrap_or("-")
        );
    }
    if !v.warnings.is_empty() {
        let w: Vec<&str> = v.warnings.iter().map(|w| w.as_str()).collect();
        out!("  warnings:   {}", w.join(", "));
    }
    if v.query_count > 0 {
        out!(
            "  queries:    {} (first {}{})",
            v.query_count,
            v.first_queried_at.map(local_time).unwrap_or_default(),
            v.first_queried_city
                .as_deref()
                .map(|c| format!(" in {c}"))
                .unwrap_or_default()
        );
    }
    if !v.case_ids.is_empty() {
        let ids: Vec<String> = v.case_ids.iter().map(i64::to_string).collect();
        out!("  cases:      {}", ids.join(", "));
    }
    Ok(())
}

async fn command(s: &Settings, core: &Core, cmd: Command) -> Result<ExitCode> {
    let actor = actor();
    let reg = &core.registry;
    match cmd {
        Command::Serve {
            demo,
            http,
            https,
            tls_san,
            sip,
            sip_tls,
        } => {
            if demo && demo::seed_if_empty(reg).await? {
                tracing::info!("seeded the demo dataset; `zhenwei demo-codes` prints its codes");
            }
            let addr = http
                .or_else(|| s.file.http.clone())
                .unwrap_or_else(|| config::DEFAULT_HTTP.into());
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| anyhow!("--http {addr:?} is not an address: {e}"))?;
            // HTTPS (kiosks): an address or "off".
            let https = https
                .or_else(|| s.file.https.clone())
                .unwrap_or_else(|| config::DEFAULT_HTTPS.into());
            let https: Option<SocketAddr> = match https.as_str() {
                "off" => None,
                a => Some(a.parse().map_err(|e| {
                    anyhow!("--https {a:?} is neither an address nor \"off\": {e}")
                })?),
            };
            sms::install(core, &s.file.sms.gateway());
            regulator_api::install_rules(s.file.cases.clone());
            let shutdown = shutdown_signal()?;
            let names = [tls_san, s.file.tls_san.clone()].concat();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let https = match https {
                Some(a) => Some(tls::listen(&s.location.data_dir, a, &names).await?),
                None => None,
            };
            let https_shown = match &https {
                Some(h) => h.listener.local_addr()?.to_string(),
                None => "off".into(),
            };
            delivery::Worker::new(
                core.clone(),
                s.file.delivery.clone(),
                s.file.cases.clone(),
                &s.location.data_dir,
            )?
            .start();
            let hotline =
                sip::Hotline::bind(&s.location.data_dir, &s.file.sip, sip, sip_tls, &names).await?;
            let (sip_shown, sip_tls_shown) = hotline.shown();
            tracing::info!(http = %listener.local_addr()?, https = %https_shown, sip = %sip_shown, sip_tls = %sip_tls_shown, data_dir = %s.location.data_dir.display(), backend = ?core.store.backend(), "zhenwei serving");
            let ivr = hotline.ivr(core.verifier.clone())?;
            let hotline = tokio::spawn(hotline.serve(ivr));
            // Retention of personal data: a purge now, then every purge_every_minutes.
            let retention = tokio::spawn(zhenwei_core::retention::serve(
                core.store.clone(),
                s.file.privacy.clone(),
            ));
            // The SMPP ESME (issue 5), when the config file has an [smpp] section, and the
            // recall-notice worker (issue 8) over the configured sender.
            let (notices, submissions) = sms::recall_worker(core, &s.file, listener.local_addr()?)?;
            let esme = s
                .file
                .smpp
                .as_ref()
                .map(|section| smpp::start(core, section, sms::gateway(core), submissions));
            http::serve(listener, https, core.clone(), shutdown).await?;
            hotline.abort();
            retention.abort();
            if let Some(stop) = notices {
                stop.stop().await;
            }
            if let Some((esme, within)) = esme {
                esme.stop(within).await;
            }
            tracing::info!("stopped");
        }
        Command::DemoCases => {
            let rules = s.file.cases.rule();
            let n = zhenwei_core::cases::demo_cases::seed(
                &core.store,
                zhenwei_core::store::now_ms(),
                &rules.calendar,
            )
            .await?;
            out!("added {n} sample cases");
        }
        Command::DemoCodes => match demo::manifest(&core.store).await? {
            Some(m) => out!("{m}"),
            None => {
                bail!("this database has no demo data; start `zhenwei serve --demo` on it first")
            }
        },
        Command::Verify {
            code,
            channel,
            place,
            kiosk,
            source,
            lang,
            json,
        } => {
            let channel = Channel::parse(&channel).unwrap_or(Channel::Cli);
            let q = query_for(
                core,
                &code,
                channel,
                place.as_deref(),
                kiosk.as_deref(),
                source,
                &lang,
            )
            .await?;
            let v = core.verifier.verify(&q).await?;
            print_verdict(&v, json)?;
        }
        Command::Report {
            code,
            note,
            place,
            kiosk,
            lang,
            json,
        } => {
            let q = query_for(
                core,
                &code,
                Channel::Cli,
                place.as_deref(),
                kiosk.as_deref(),
                None,
                &lang,
            )
            .await?;
            let v = core.verifier.report(&q, note.as_deref()).await?;
            if v.case_id.is_none() {
                print_verdict(&v, json)?;
                bail!("nothing to report: that is not a code");
            }
            print_verdict(&v, json)?;
        }
        Command::History { code, json } => {
            let Some((key, events)) = core.verifier.history(&unescape_gs(&code)).await? else {
                bail!(
                    "that is not a code: {}",
                    codes::decode(&unescape_gs(&code))
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                );
            };
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "code_key": key, "events": events })
                );
            } else if events.is_empty() {
                out!("no queries recorded");
            } else {
                for e in events {
                    out!(
                        "#{} {} {} {} {} {} {}",
                        e.query_number,
                        local_time(e.at),
                        e.channel,
                        e.source,
                        e.place.as_deref().unwrap_or("-"),
                        e.authenticity,
                        e.warnings
                    );
                }
            }
        }
        Command::Decode { .. } | Command::Keys(_) => {
            unreachable!("handled before opening the core")
        }
        Command::Enterprise(EnterpriseCmd::Add {
            credit_code,
            name,
            name_en,
            division,
        }) => {
            let id = reg
                .add_enterprise(&actor, &credit_code, &name, name_en.as_deref(), &division)
                .await?;
            out!("enterprise {id} registered");
        }
        Command::Prefix(PrefixCmd::Add {
            credit_code,
            prefix,
            registered_on,
        }) => {
            let on = registered_on.unwrap_or_else(zhenwei_core::clock::today);
            let until = reg.add_prefix(&actor, &credit_code, &prefix, on).await?;
            out!("prefix {prefix} registered, valid until {until}");
        }
        Command::Prefix(PrefixCmd::Renew { prefix }) => {
            let until = reg.renew_prefix(&actor, &prefix).await?;
            out!("prefix {prefix} renewed, valid until {until}");
        }
        Command::Prefix(PrefixCmd::Cancel { prefix }) => {
            reg.cancel_prefix(&actor, &prefix).await?;
            out!("prefix {prefix} cancelled");
        }
        Command::Product(ProductCmd::Add {
            gtin,
            credit_code,
            name,
            name_en,
            spec,
            category,
            ccc,
            licence,
        }) => {
            let id = reg
                .add_product(
                    &actor,
                    &NewProduct {
                        gtin,
                        credit_code,
                        name: name.clone(),
                        name_en: name_en.clone(),
                        spec,
                        category,
                        ccc_cert_no: ccc,
                        licence_no: licence,
                    },
                )
                .await?;
            // The hotline speaks product names: render this one now, off any call path.
            sip::render_product_name(&s.location.data_dir, &name, name_en.as_deref()).await;
            out!("product {id} registered");
        }
        Command::Range(RangeCmd::Request {
            gtin,
            size,
            purpose,
        }) => {
            let r = reg
                .request_range(&actor, &gtin, size, purpose.as_deref())
                .await?;
            out!(
                "range {} issued: {} codes (serials 0..{}), key version {}",
                r.id,
                r.size,
                r.size,
                r.key_version
            );
        }
        Command::Range(RangeCmd::Export {
            range,
            from,
            to,
            out,
        }) => {
            let n = match &out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    let n = reg.export_range(&actor, range, from, to, &mut w).await?;
                    w.flush()?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    let n = reg.export_range(&actor, range, from, to, &mut w).await?;
                    w.flush()?;
                    n
                }
            };
            if let Some(path) = out {
                out!("{n} codes written to {}", path.display());
            }
        }
        Command::Range(RangeCmd::Activate {
            range,
            from,
            to,
            batch: b,
        }) => {
            reg.activate(&actor, range, from, to, &batch(&b)).await?;
            let r = reg.range(range).await?;
            out!(
                "range {range} serials {from}..{} activated with lot {}",
                to.unwrap_or(r.size as u64),
                b.lot
            );
        }
        Command::Range(RangeCmd::Cancel {
            range,
            from,
            to,
            reason,
        }) => {
            let r = reg.range(range).await?;
            let to = to.unwrap_or(r.size as u64);
            reg.cancel_span(&actor, range, from, to, &reason).await?;
            out!("range {range} serials {from}..{to} cancelled");
        }
        Command::Serials(UploadCmd::Upload {
            gtin,
            batch: b,
            file,
        }) => {
            let mut input = open_list(&file)?;
            let r = reg
                .upload_serials(&actor, &gtin, &batch(&b), &mut input)
                .await?;
            out!(
                "{} serials uploaded to lot {} ({} were already present)",
                r.inserted,
                b.lot,
                r.already_present
            );
        }
        Command::Pins(UploadCmd::Upload {
            gtin,
            batch: b,
            file,
        }) => {
            let mut input = open_list(&file)?;
            let r = reg
                .upload_pins(&actor, &gtin, &batch(&b), &mut input)
                .await?;
            out!(
                "{} PINs uploaded to lot {} ({} were already present)",
                r.inserted,
                b.lot,
                r.already_present
            );
        }
        Command::Codes(CodesCmd::Cancel { codes, reason }) => {
            let codes: Vec<String> = codes.iter().map(|c| unescape_gs(c)).collect();
            let n = reg.cancel_codes(&actor, &codes, &reason).await?;
            out!("{n} codes cancelled");
        }
        Command::Store(StoreCmd::Add {
            name,
            division,
            address,
        }) => {
            let id = reg
                .add_store(&actor, &name, &division, address.as_deref())
                .await?;
            out!("store {id} added");
        }
        Command::Store(StoreCmd::AddKiosk { store, name }) => {
            let id = reg.add_kiosk(&actor, store, &name).await?;
            out!(
                "kiosk {id} ({}) added to store {store}",
                mask_source(Channel::Kiosk, &name)
            );
        }
        Command::Kiosk(cmd) => {
            let done = kiosk::run(core, &s.location.data_dir, &actor, cmd).await?;
            if let Some(note) = done.note {
                eprintln!("{note}");
            }
            out!("{}", done.stdout.trim_end());
        }
        Command::Enterprise(EnterpriseCmd::Operator(cmd)) => out!(
            "{}",
            operators::run(core, &s.location.data_dir, &actor, cmd).await?
        ),
        Command::Regulator(cmd) => out!(
            "{}",
            cases::regulator(core, &s.location.data_dir, &actor, cmd).await?
        ),
        Command::Cases(cmd) => out!("{}", cases::cases(core, &actor, &s.file.cases, cmd).await?),
        Command::Delivery(cmd) => out!(
            "{}",
            cases::delivery(core, &s.location.data_dir, &s.file.delivery, cmd).await?
        ),
        Command::Audit(AuditCmd::Verify) => {
            let r = audit::verify_chain(&core.store).await?;
            match r.broken_at {
                None => out!("audit chain intact: {} entries", r.entries),
                Some(seq) => {
                    eprintln!(
                        "error: audit chain broken at entry {seq} ({} entries verified before it)",
                        r.entries
                    );
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Sms(cmd) => return sms::command(core, cmd).await,
        Command::Feed(cmd) => {
            let import = matches!(cmd, cli::FeedCmd::Import { .. });
            let code = feeds::command(core, &actor, cmd).await?;
            if import {
                // The hotline speaks the feed's own advice: render it now, not on a call.
                sip::render_notice_advice(&s.location.data_dir, &core.store).await;
            }
            return Ok(code);
        }
        Command::Calls {
            caller,
            limit,
            json,
        } => {
            let keys = core.verifier.keys().current();
            let calls = zhenwei_core::call_log::list(
                &core.store,
                &keys.keyring,
                caller.as_deref(),
                limit.clamp(1, 10_000),
            )
            .await?;
            if json {
                out!("{}", serde_json::to_string(&calls)?);
            } else if calls.is_empty() {
                out!("no calls recorded");
            } else {
                for c in calls {
                    let codes: Vec<String> = c
                        .queries
                        .iter()
                        .map(|q| format!("{}={}", q.code, q.authenticity.as_deref().unwrap_or("-")))
                        .collect();
                    out!(
                        "#{} {} {} {} via {} lang={} codes=[{}] case={} transfer={} end={}",
                        c.id,
                        local_time(c.started_at),
                        c.caller,
                        c.sip_call_id,
                        c.trunk,
                        c.lang.as_deref().unwrap_or("-"),
                        codes.join(" "),
                        c.case_id.map_or("-".into(), |i| i.to_string()),
                        c.transfer_to.as_deref().unwrap_or("-"),
                        c.hangup
                    );
                }
            }
        }
        Command::Numbers(NumbersCmd::Import { file }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let n = zhenwei_core::numbers::import(&core.store, &actor, &bytes).await?;
            out!("imported {n} number prefix(es) from {}", file.display());
        }
        Command::Numbers(NumbersCmd::List { json }) => {
            let rows = zhenwei_core::numbers::list(&core.store).await?;
            if json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|(p, k, d)| serde_json::json!({"prefix": p, "kind": k, "division": d}))
                    .collect();
                out!("{}", serde_json::Value::Array(rows));
            } else {
                for (p, k, d) in rows {
                    out!("{p}\t{k}\t{d}");
                }
            }
        }
        Command::Privacy(PrivacyCmd::Purge { dry_run, json }) => {
            let p = zhenwei_core::retention::purge(
                &core.store,
                &s.file.privacy,
                zhenwei_core::store::now_ms(),
                &actor,
                dry_run,
            )
            .await?;
            if json {
                out!("{}", serde_json::to_string(&p)?);
            } else {
                let (verb, blank) = if dry_run {
                    ("would purge", "would remove the numbers of")
                } else {
                    ("purged", "removed the numbers of")
                };
                let r = &s.file.privacy;
                out!(
                    "contacts: {verb} {} (not seen for {} days); {blank} {} opted-out \
                     contact(s), opt-out kept",
                    p.contacts_deleted,
                    r.contact_days,
                    p.contacts_blanked
                );
                out!(
                    "calls: {verb} {} (older than {} days)",
                    p.calls_deleted,
                    r.call_days
                );
                out!(
                    "sms_mt: {verb} {} (older than {} days)",
                    p.sms_mt_deleted,
                    r.sms_log_days
                );
                out!("sms_receipts: {verb} {}", p.sms_receipts_deleted);
            }
        }
        Command::Audit(AuditCmd::List { after, limit }) => {
            for e in audit::entries(&core.store, after, limit).await? {
                out!("{}", serde_json::to_string(&e)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers SIGTERM and SIGINT handlers now (before the server announces itself, so a signal
/// sent right after the announcement is already handled) and returns the future that resolves
/// on the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
