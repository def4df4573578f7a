//! `zhenwei regulator …`, `zhenwei cases …`, `zhenwei delivery …`: the operator's side of cases
//! and their delivery (the commands' definitions and what they do).

use std::path::Path;

use clap::Subcommand;
use zhenwei_core::cases::casework::{self, Filter};
use zhenwei_core::cases::outbox;
use zhenwei_core::cases::status::{CaseStatus, Change, Outcome};
use zhenwei_core::cases::{offices, routing, CaseError, CaseRules};
use zhenwei_core::clock::local_time;
use zhenwei_core::store::now_ms;
use zhenwei_core::Core;

use crate::delivery::{self, DeliveryConfig, DeliveryError};
use crate::pki::Ca;

/// Regulator offices: where cases are delivered, per division-code prefix.
#[derive(Subcommand, Debug)]
pub enum RegulatorCmd {
    /// Add an office (or change its name and URL): cases whose place starts with PREFIX go to
    /// URL, the longest prefix winning (330203 → 3302 → 33 → national).
    Set {
        /// 2 digits (province), 4 (city), 6 (county), or "national".
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        name: String,
        /// The office's receiver (https://…).
        #[arg(long)]
        url: String,
    },
    /// The configured offices.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Issue a client certificate for an account of the office at PREFIX (the regulator API);
    /// writes regulator.crt, regulator.key (0600) and ca.crt to DIR. Re-issuing replaces the
    /// account's certificate.
    Issue {
        #[arg(long)]
        prefix: String,
        /// Account name (e.g. nb-officer-1).
        #[arg(long)]
        name: String,
        /// Output directory [default: ./regulator-NAME]
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Revoke an account's certificate (refused from the next request on).
    Revoke { name: String },
    /// The regulator accounts.
    Accounts {
        #[arg(long)]
        json: bool,
    },
}

/// Cases: list, show, and the regulator's changes.
#[derive(Subcommand, Debug)]
pub enum CasesCmd {
    /// Cases, newest first.
    List {
        /// Only cases whose place lies within this division-code prefix.
        #[arg(long, value_name = "PREFIX")]
        within: Option<String>,
        #[arg(long, value_parser = ["open", "delivered", "acknowledged", "investigating", "closed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One case.
    Show { id: i64 },
    /// Acknowledge a case (stops the escalation clock).
    Ack {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Put an acknowledged case under investigation.
    Investigate {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Close a case with its outcome (reported to the enterprise).
    Close {
        id: i64,
        #[arg(long, value_parser = ["confirmed_counterfeit", "genuine", "no_action", "referred_to_police"])]
        outcome: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// A case as a 12315 complaint/report form: JSON (fields in docs/cases/README.md), or the
    /// printable HTML page with --html.
    #[command(name = "export-12315")]
    Export12315 {
        id: i64,
        #[arg(long)]
        html: bool,
    },
    /// Run the escalation rule once, as the server does periodically: cases not acknowledged
    /// within the working-day limit go to the next office up.
    Escalate {
        /// Pretend it is this instant (RFC 3339, e.g. 2026-12-01T09:00:00+08:00) [default: now].
        #[arg(long)]
        now: Option<String>,
    },
    /// Where an enterprise receives its case reports (https://…), or --clear.
    EnterpriseUrl {
        #[arg(long)]
        credit_code: String,
        #[arg(long, required_unless_present = "clear")]
        url: Option<String>,
        #[arg(long)]
        clear: bool,
    },
}

/// The outbox of case reports.
#[derive(Subcommand, Debug)]
pub enum DeliveryCmd {
    /// zhenwei's signing key id and public key, and the CA of its client certificate — what a
    /// receiver needs to verify deliveries (creates the key on first use).
    Identity,
    /// Deliveries, newest first.
    List {
        #[arg(long, value_parser = ["pending", "sending", "delivered", "dead"])]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead-lettered delivery again.
    Retry { id: i64 },
}

/// Why a case command failed.
#[derive(Debug, thiserror::Error)]
pub enum CaseCmdError {
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("{0}")]
    Usage(String),
}

fn summary_line(c: &casework::CaseSummary) -> String {
    format!(
        "#{} {} {} place={} office={} opened={}{}",
        c.id,
        c.reason,
        c.status,
        c.place.as_deref().unwrap_or("-"),
        c.regulator_prefix
            .as_deref()
            .map(|p| if p.is_empty() { "national" } else { p })
            .unwrap_or("-"),
        local_time(c.opened_at),
        c.outcome
            .as_deref()
            .map(|o| format!(" outcome={o}"))
            .unwrap_or_default()
    )
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub async fn regulator(
    core: &Core,
    data_dir: &Path,
    actor: &str,
    cmd: RegulatorCmd,
) -> Result<String, CaseCmdError> {
    match cmd {
        RegulatorCmd::Issue { prefix, name, out } => {
            let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
            let issued = ca.issue_regulator(&name)?;
            zhenwei_core::cases::accounts::add(
                &core.store,
                actor,
                &prefix,
                &name,
                &issued.sha256,
                &issued.serial,
                issued.not_after_ms,
            )
            .await?;
            let dir = out.unwrap_or_else(|| std::path::PathBuf::from(format!("regulator-{name}")));
            std::fs::create_dir_all(&dir).map_err(|e| {
                CaseCmdError::Usage(format!("cannot create {}: {e}", dir.display()))
            })?;
            crate::pki::write_file(
                &dir.join("regulator.key"),
                issued.key_pem().as_bytes(),
                0o600,
            )?;
            crate::pki::write_file(
                &dir.join("regulator.crt"),
                issued.cert_pem.as_bytes(),
                0o644,
            )?;
            crate::pki::write_file(&dir.join("ca.crt"), ca.cert_pem().as_bytes(), 0o644)?;
            Ok(format!(
                "regulator account {name} (office {}) certificate written to {}",
                if prefix.trim().is_empty() {
                    "national"
                } else {
                    prefix.trim()
                },
                dir.display()
            ))
        }
        RegulatorCmd::Revoke { name } => {
            zhenwei_core::cases::accounts::revoke(&core.store, actor, &name).await?;
            Ok(format!("regulator account {name} revoked"))
        }
        RegulatorCmd::Accounts { json: as_json } => {
            let all = zhenwei_core::cases::accounts::list(&core.store).await?;
            if as_json {
                return Ok(json(&all));
            }
            Ok(all
                .iter()
                .map(|a| {
                    format!(
                        "{} office={} {}{}",
                        a.name,
                        if a.prefix.is_empty() {
                            "national"
                        } else {
                            &a.prefix
                        },
                        a.office,
                        if a.revoked_at.is_some() {
                            " REVOKED"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        RegulatorCmd::Set { prefix, name, url } => {
            let r = offices::set_regulator(&core.store, actor, &prefix, &name, &url).await?;
            let which = if r.prefix.is_empty() {
                "national".to_owned()
            } else {
                format!("{} {}", routing::level(&r.prefix), r.prefix)
            };
            Ok(format!(
                "office {} ({which}) receives cases at {}",
                r.id, r.url
            ))
        }
        RegulatorCmd::List { json: as_json } => {
            let all = offices::regulators(&core.store).await?;
            if as_json {
                return Ok(json(&all));
            }
            Ok(all
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} {}",
                        r.id,
                        if r.prefix.is_empty() {
                            "national"
                        } else {
                            &r.prefix
                        },
                        routing::level(&r.prefix),
                        r.name,
                        r.url
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

fn parse_now(now: Option<&str>) -> Result<i64, CaseCmdError> {
    match now {
        None => Ok(now_ms()),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|e| CaseCmdError::Usage(format!("--now {t:?} is not an RFC 3339 time: {e}"))),
    }
}

pub async fn cases(
    core: &Core,
    actor: &str,
    rules: &CaseRules,
    cmd: CasesCmd,
) -> Result<String, CaseCmdError> {
    let store = &core.store;
    let changed = |c: casework::CaseSummary| json(&c);
    match cmd {
        CasesCmd::List {
            within,
            status,
            limit,
            json: as_json,
        } => {
            let within = within
                .map(|w| routing::parse_prefix(&w))
                .transpose()
                .map_err(CaseError::from)?;
            let list = casework::list(
                store,
                &Filter {
                    within,
                    status: status.as_deref().and_then(CaseStatus::parse),
                    reason: None,
                    limit,
                    ..Filter::default()
                },
            )
            .await?;
            if as_json {
                return Ok(json(&list));
            }
            Ok(list.iter().map(summary_line).collect::<Vec<_>>().join("\n"))
        }
        CasesCmd::Show { id } => Ok(json(&casework::get(store, id, None).await?)),
        CasesCmd::Export12315 { id, html } => {
            casework::get(store, id, None).await?;
            let form = zhenwei_core::cases::complaint::build(store, id, now_ms()).await?;
            Ok(if html {
                crate::portal::form_12315_page(&form)
            } else {
                serde_json::to_string_pretty(&form).unwrap_or_default()
            })
        }
        CasesCmd::Ack { id, note } => Ok(changed(
            casework::change(
                store,
                actor,
                id,
                Change::Acknowledge,
                None,
                note.as_deref(),
                now_ms(),
            )
            .await?,
        )),
        CasesCmd::Investigate { id, note } => Ok(changed(
            casework::change(
                store,
                actor,
                id,
                Change::Investigate,
                None,
                note.as_deref(),
                now_ms(),
            )
            .await?,
        )),
        CasesCmd::Close { id, outcome, note } => {
            let o = Outcome::parse(&outcome)
                .ok_or_else(|| CaseCmdError::Usage(format!("unknown outcome {outcome:?}")))?;
            Ok(changed(
                casework::change(
                    store,
                    actor,
                    id,
                    Change::Close(o),
                    None,
                    note.as_deref(),
                    now_ms(),
                )
                .await?,
            ))
        }
        CasesCmd::Escalate { now } => {
            let now = parse_now(now.as_deref())?;
            let run = casework::escalate_due(store, now, &rules.rule()).await?;
            Ok(json(&run))
        }
        CasesCmd::EnterpriseUrl {
            credit_code,
            url,
            clear,
        } => {
            let url = if clear { None } else { url };
            offices::set_enterprise_endpoint(store, actor, &credit_code, url.as_deref()).await?;
            Ok(match url {
                Some(u) => format!("enterprise {credit_code} receives its case reports at {u}"),
                None => format!("enterprise {credit_code} receives no case reports"),
            })
        }
    }
}

pub async fn delivery(
    core: &Core,
    data_dir: &Path,
    cfg: &DeliveryConfig,
    cmd: DeliveryCmd,
) -> Result<String, CaseCmdError> {
    match cmd {
        DeliveryCmd::Identity => {
            let key = delivery::signing_key(&cfg.signing_key_path(data_dir))?;
            let dir = Ca::dir_of(data_dir);
            Ca::open_or_create(&dir)?;
            Ok(json(&delivery::identity(&key, &dir.join("ca.crt"))))
        }
        DeliveryCmd::List {
            state,
            limit,
            json: as_json,
        } => {
            let rows = outbox::list(&core.store, state.as_deref(), limit)
                .await
                .map_err(CaseError::from)?;
            if as_json {
                return Ok(json(&rows));
            }
            Ok(rows
                .iter()
                .map(|d| {
                    format!(
                        "{} case={} {} {} {} attempts={} {}{}",
                        d.id,
                        d.case_id,
                        d.event,
                        d.target_kind,
                        d.state,
                        d.attempts,
                        d.url,
                        d.last_error
                            .as_deref()
                            .map(|e| format!(" last_error={e}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        DeliveryCmd::Retry { id } => {
            if outbox::retry_dead(&core.store, id, now_ms())
                .await
                .map_err(CaseError::from)?
            {
                Ok(format!("delivery {id} queued again"))
            } else {
                Err(CaseCmdError::Usage(format!(
                    "delivery {id} is not dead-lettered (see `zhenwei delivery list --state dead`)"
                )))
            }
        }
    }
}
