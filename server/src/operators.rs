//! `zhenwei enterprise operator …`: the administrator's side of enterprise operator accounts
//! (`zhenwei_core::enterprise::operators`) — issue a client certificate, record a confirmation
//! under the two-person rule, revoke, list.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use zhenwei_core::enterprise::operators::{self, OperatorError, Role};
use zhenwei_core::Core;

use crate::pki::{Ca, PkiError};

/// Enterprise operators: client certificates for the enterprise API and portal.
#[derive(Subcommand, Debug)]
pub enum OperatorCmd {
    /// Issue a client certificate for operator NAME of the enterprise; writes operator.crt,
    /// operator.key (0600) and ca.crt to DIR. The
    /// credential is unconfirmed until another operator of the enterprise confirms it.
    /// Re-issuing a name replaces its certificate (and needs a new confirmation).
    Add {
        /// The enterprise's unified social credit code.
        #[arg(long, value_name = "CREDIT_CODE")]
        enterprise: String,
        /// Operator name (letters, digits, "-", "_", "."), e.g. li-wei.
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["primary", "secondary"])]
        role: String,
        /// Output directory [default: ./operator-NAME]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Record that operator BY (another operator of the same enterprise) confirmed operator
    /// NAME — e.g. on a signed form. Operators can also confirm each other over the API with
    /// their own certificates.
    Confirm {
        #[arg(long)]
        name: String,
        #[arg(long)]
        by: String,
    },
    /// Revoke an operator's certificate (refused from the next request on).
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// The operators and whether each has access.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorCmdError {
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{0}")]
    Usage(String),
}

fn access(o: &operators::Operator) -> &'static str {
    match operators::decide(o, zhenwei_core::store::now_ms()) {
        Ok(()) => "access",
        Err(r) => r.code(),
    }
}

/// Runs one `zhenwei enterprise operator` command; returns what to print.
pub async fn run(
    core: &Core,
    data_dir: &Path,
    actor: &str,
    cmd: OperatorCmd,
) -> Result<String, OperatorCmdError> {
    match cmd {
        OperatorCmd::Add {
            enterprise,
            name,
            role,
            out,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| OperatorCmdError::Usage("--role is primary or secondary".into()))?;
            let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
            let issued = ca.issue_operator(name.trim(), enterprise.trim())?;
            operators::add(
                &core.store,
                actor,
                &enterprise,
                &name,
                role,
                &issued.sha256,
                &issued.serial,
                issued.not_after_ms,
            )
            .await?;
            let name = name.trim();
            let dir = out.unwrap_or_else(|| PathBuf::from(format!("operator-{name}")));
            std::fs::create_dir_all(&dir).map_err(|e| {
                OperatorCmdError::Usage(format!("cannot create {}: {e}", dir.display()))
            })?;
            crate::pki::write_file(
                &dir.join("operator.key"),
                issued.key_pem().as_bytes(),
                0o600,
            )?;
            crate::pki::write_file(&dir.join("operator.crt"), issued.cert_pem.as_bytes(), 0o644)?;
            crate::pki::write_file(&dir.join("ca.crt"), ca.cert_pem().as_bytes(), 0o644)?;
            Ok(format!(
                "enterprise operator {name} ({}) of {} issued, certificate in {}; it needs a \
                 confirmation by another operator of the enterprise (`zhenwei enterprise \
                 operator confirm --name {name} --by OTHER`)",
                role.as_str(),
                enterprise.trim(),
                dir.display()
            ))
        }
        OperatorCmd::Confirm { name, by } => {
            let o = operators::confirm(&core.store, actor, &name, &by).await?;
            Ok(format!(
                "enterprise operator {} confirmed by {}; {}",
                o.name,
                by.trim(),
                match access(&o) {
                    "access" => "the enterprise's operators have access".to_owned(),
                    _ => format!(
                        "no access yet: the enterprise needs a confirmed primary and secondary \
                         (confirmed now: {} primary, {} secondary)",
                        o.primaries, o.secondaries
                    ),
                }
            ))
        }
        OperatorCmd::Revoke { name } => {
            operators::revoke(&core.store, actor, &name).await?;
            Ok(format!("enterprise operator {} revoked", name.trim()))
        }
        OperatorCmd::List { json } => {
            let all = operators::list(&core.store, None).await?;
            if json {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|o| {
                        let mut v = serde_json::to_value(o).unwrap_or_default();
                        v["access"] = access(o).into();
                        v
                    })
                    .collect();
                return Ok(serde_json::Value::from(rows).to_string());
            }
            Ok(all
                .iter()
                .map(|o| {
                    format!(
                        "{} {} {} {}{}",
                        o.name,
                        o.credit_code,
                        o.role,
                        access(o),
                        o.confirmed_by
                            .as_deref()
                            .map(|b| format!(" confirmed-by={b}"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}
