//! The SMPP channel in `zhenwei serve`: builds the ESME from the `[smpp]` config section and runs
//! it next to the HTTP listeners until shutdown.
//!
//! GLUE, to be replaced: the [`MoHandler`] here hands the MO text straight to
//! `Verifier::verify` and answers with the verdict's message. The SMS message parser and reply
//! composer (`Gateway::handle` in zhenwei-sms-gateway, issue 5) take its place; only
//! [`VerifyReplies::on_mo`] changes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zhenwei_core::{Channel, Lang, Query, Verifier};
use zhenwei_sms_gateway::smpp::{self, EsmeConfig, LogReceipts, MoHandler, SessionConfig};

use crate::config::SmppSection;

/// The running ESME.
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Unbinds and waits (at most the response timeout plus a second) for the session to end.
    pub async fn stop(self, within: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::warn!("SMPP session did not end in time");
        }
    }
}

/// GLUE: MO text → `Verifier::verify` → the verdict's message as the reply.
struct VerifyReplies {
    verifier: Verifier,
}

impl MoHandler for VerifyReplies {
    async fn on_mo(&self, from: &str, _to: &str, text: &str) -> Option<String> {
        let lang = if text.is_ascii() { Lang::En } else { Lang::Zh };
        let q = Query {
            input: text.trim().to_owned(),
            channel: Channel::Sms,
            source: from.to_owned(),
            place: None,
            store_id: None,
            lang,
        };
        match self.verifier.verify(&q).await {
            Ok(v) => Some(v.message),
            Err(e) => {
                tracing::error!(error = %e, "verification failed for an SMS");
                None
            }
        }
    }
}

/// Starts the ESME described by `section`, answering MOs with `verifier`.
pub fn start(section: &SmppSection, verifier: Verifier) -> (Running, Duration) {
    let password =
        std::env::var("ZHENWEI_SMPP_PASSWORD").unwrap_or_else(|_| section.password.clone());
    let response_timeout = Duration::from_secs(section.response_timeout_secs);
    let cfg = EsmeConfig {
        addr: format!("{}:{}", section.host, section.port),
        session: SessionConfig {
            system_id: section.system_id.clone(),
            password,
            system_type: section.system_type.clone(),
            window: section.window,
            rate: section.rate,
            enquire_link: Duration::from_secs(section.enquire_link_secs),
            response_timeout,
            receipts: section.receipts,
            ..SessionConfig::default()
        },
        backoff_initial: Duration::from_millis(section.reconnect_initial_ms),
        backoff_max: Duration::from_millis(section.reconnect_max_ms),
    };
    tracing::info!(smsc = %cfg.addr, system_id = %section.system_id, "starting the SMPP ESME");
    let (stop, mut stopped) = watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let task = tokio::spawn(smpp::run(
        cfg,
        Arc::new(VerifyReplies { verifier }),
        Arc::new(LogReceipts),
        shutdown,
    ));
    (
        Running { stop, task },
        response_timeout + Duration::from_secs(1),
    )
}
