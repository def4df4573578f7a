//! The phone hotline's listeners: SIP over UDP and TCP (`--sip`, `[sip] listen`) and over TLS
//! (`--sip-tls`, `[sip] tls`), driven by `zhenwei-ivr`.
//!
//! The TLS certificate is issued by the data directory's CA for the same names as the HTTPS
//! listener. Calls are answered by the voice menu ([`IvrHandler`]): RTP on the listen address
//! (or `[sip] media_ip`), prompts built in (or from `[sip] prompts_dir`), verdicts from the core.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use zhenwei_core::Verifier;
use zhenwei_ivr::call::handler::{IvrHandler, IvrOptions};
use zhenwei_ivr::sip::transport::Listeners;
use zhenwei_ivr::sip::uas::{Net, UasConfig};

use crate::config::{SipConfig, DEFAULT_SIP, DEFAULT_SIP_TLS};
use crate::pki::Ca;

/// Bound hotline listeners, or none when SIP is off.
pub struct Hotline {
    listeners: Option<Listeners>,
    config: UasConfig,
    hangup_after: Duration,
    agent_uri: Option<String>,
    data_dir: PathBuf,
    file: SipConfig,
}

fn addr_or_off(flag: &str, value: &str) -> Result<Option<SocketAddr>> {
    match value {
        "off" => Ok(None),
        a => Ok(Some(a.parse().map_err(|e| {
            anyhow!("{flag} {a:?} is neither an address nor \"off\": {e}")
        })?)),
    }
}

impl Hotline {
    pub async fn bind(
        data_dir: &Path,
        file: &SipConfig,
        sip: Option<String>,
        sip_tls: Option<String>,
        tls_names: &[String],
    ) -> Result<Hotline> {
        let _ = HOTLINE_DATA_DIR.set(data_dir.to_path_buf());
        let listen = sip
            .or_else(|| file.listen.clone())
            .unwrap_or_else(|| DEFAULT_SIP.into());
        let tls = sip_tls
            .or_else(|| file.tls.clone())
            .unwrap_or_else(|| DEFAULT_SIP_TLS.into());
        let trunks = file
            .trunks
            .iter()
            .map(|t| t.parse::<Net>().map_err(|e| anyhow!("[sip] trunks: {e}")))
            .collect::<Result<Vec<_>>>()?;
        let config = UasConfig {
            trunks,
            contact_host: file.contact_host.clone(),
            ..UasConfig::default()
        };
        let hangup_after = Duration::from_secs(file.hangup_after_secs.unwrap_or(600));
        let Some(listen) = addr_or_off("--sip", &listen)? else {
            return Ok(Hotline {
                listeners: None,
                config,
                hangup_after,
                agent_uri: file.agent_uri.clone(),
                data_dir: data_dir.to_path_buf(),
                file: file.clone(),
            });
        };
        let tls = match addr_or_off("--sip-tls", &tls)? {
            Some(a) => {
                let ca = Ca::open_or_create(&Ca::dir_of(data_dir))?;
                let mut names: Vec<String> =
                    ["localhost", "127.0.0.1", "::1"].map(String::from).into();
                if !a.ip().is_unspecified() {
                    names.push(a.ip().to_string());
                }
                names.extend(tls_names.iter().cloned());
                let mut server = (*crate::tls::server_config(&ca, &names)?).clone();
                server.alpn_protocols.clear();
                Some((a, Arc::new(server)))
            }
            None => None,
        };
        let listeners = Listeners::bind(listen, tls)
            .await
            .context("cannot start the SIP hotline")?;
        Ok(Hotline {
            listeners: Some(listeners),
            config,
            hangup_after,
            agent_uri: file.agent_uri.clone(),
            data_dir: data_dir.to_path_buf(),
            file: file.clone(),
        })
    }

    /// `(sip, sip_tls)` for the announcement: addresses or "off".
    pub fn shown(&self) -> (String, String) {
        match &self.listeners {
            None => ("off".into(), "off".into()),
            Some(l) => (
                l.addr().to_string(),
                l.tls_addr()
                    .map_or_else(|| "off".to_string(), |a| a.to_string()),
            ),
        }
    }

    /// The voice menu that answers calls (prompts loaded, name cache started). `None` when SIP
    /// is off.
    pub fn ivr(&self, verifier: Verifier) -> Result<Option<IvrHandler>> {
        let Some(listeners) = &self.listeners else {
            return Ok(None);
        };
        let listen_ip = listeners.addr().ip();
        let advertise = match (self.file.media_ip, listen_ip.is_unspecified()) {
            (Some(ip), _) => ip,
            (None, false) => listen_ip,
            (None, true) => {
                tracing::warn!("SIP listens on a wildcard address and [sip] media_ip is not set: SDP answers announce 127.0.0.1");
                IpAddr::from([127, 0, 0, 1])
            }
        };
        let mut o = IvrOptions::new(listen_ip);
        o.advertise_ip = Some(advertise);
        o.agent_uri = self.agent_uri.clone();
        o.prompts_dir = self.file.prompts_dir.clone();
        o.data_dir = Some(self.data_dir.clone());
        o.max_call = self.hangup_after;
        if let Some(n) = self.file.queries_per_caller_hour {
            o.queries_per_caller_hour = n;
        }
        let handler =
            IvrHandler::start(Some(verifier), o).context("cannot load the IVR prompts")?;
        Ok(Some(handler))
    }

    /// Serves until the task is aborted.
    pub async fn serve(self, handler: Option<IvrHandler>) {
        let (Some(listeners), Some(handler)) = (self.listeners, handler) else {
            return;
        };
        listeners
            .serve(self.config, handler, std::future::pending())
            .await;
    }
}

/// Renders the advice texts of the active regulatory notices for the hotline after a feed
/// import, so the next caller hears a recall's own instructions. Without espeak-ng this is a
/// warning: calls speak the fixed warning prompt alone.
/// The data directory of this process's hotline once it listens: a feed posted over HTTP has its
/// advice rendered there at once ([`render_posted_feed_advice`]), as `zhenwei feed import` does.
static HOTLINE_DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// After a feed posted over HTTP was applied: render its advice for the hotline in the
/// background, so the first caller after the import already hears the feed's own words. Does
/// nothing when this process runs no hotline.
pub fn render_posted_feed_advice(store: &zhenwei_core::Store) {
    if let Some(dir) = HOTLINE_DATA_DIR.get() {
        let (dir, store) = (dir.clone(), store.clone());
        tokio::spawn(async move { render_notice_advice(&dir, &store).await });
    }
}

pub async fn render_notice_advice(data_dir: &Path, store: &zhenwei_core::Store) {
    let cache = zhenwei_ivr::prompts::names::NameCache::new(data_dir);
    cache.warm_advice(store.pool()).await;
}

/// Renders a newly registered product's name for the hotline (espeak-ng + sox into the data
/// directory's name cache), so the first caller already hears it. Without the tools this is a
/// warning, not a failure: calls leave the name out.
pub async fn render_product_name(data_dir: &Path, name: &str, name_en: Option<&str>) {
    let cache = zhenwei_ivr::prompts::names::NameCache::new(data_dir);
    for (lang, text) in [
        (zhenwei_core::Lang::Zh, name),
        (zhenwei_core::Lang::En, name_en.unwrap_or(name)),
    ] {
        if let Err(e) = cache.ensure(lang, text).await {
            tracing::warn!(error = %e, "the product's spoken name was not rendered");
            return;
        }
    }
}
