//! The SMPP channel in `zhenwei serve`: builds the ESME from the `[smpp]` config section and runs
//! it next to the HTTP listeners until shutdown.
//!
//! Each MO goes to the same [`Gateway`] as the HTTP inbound route (`crate::sms`): the message
//! parser, per-number limits, contacts and reply composer; the ESME only carries it.
//!
//! The ESME also carries unsolicited MTs (recall notices) from an
//! [`zhenwei_sms_gateway::outbound::SmppSender`], and records accepted parts and delivery
//! receipts in the outbound log ([`StoreReceipts`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zhenwei_core::Core;
use zhenwei_sms_gateway::outbound::Submission;
use zhenwei_sms_gateway::receipts::StoreReceipts;
use zhenwei_sms_gateway::smpp::{self, EsmeConfig, MoHandler, SessionConfig};
use zhenwei_sms_gateway::{Gateway, Inbound};

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
struct GatewayReplies {
    gateway: Arc<Gateway>,
}

impl MoHandler for GatewayReplies {
    async fn on_mo(&self, from: &str, to: &str, text: &str) -> Option<String> {
        let msg = Inbound {
            from: from.to_owned(),
            to: to.to_owned(),
            text: text.to_owned(),
        };
        match self.gateway.handle(&msg).await {
            Ok(reply) => Some(reply.text),
            Err(e) => {
                tracing::warn!(error = %e, "an SMS over SMPP could not be handled");
                None
            }
        }
    }
}

/// Starts the ESME described by `section`, answering MOs through `gateway` and submitting what
/// arrives on `outbox`.
pub fn start(
    core: &Core,
    section: &SmppSection,
    gateway: Arc<Gateway>,
    outbox: Option<mpsc::UnboundedReceiver<Submission>>,
) -> (Running, Duration) {
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
    let task = tokio::spawn(smpp::run_with(
        cfg,
        Arc::new(GatewayReplies { gateway }),
        Arc::new(StoreReceipts::spawn(core, section.receipts)),
        outbox,
        shutdown,
    ));
    (
        Running { stop, task },
        response_timeout + Duration::from_secs(1),
    )
}
