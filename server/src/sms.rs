//! `GET|POST /v1/sms/inbound`: the SMS channel over HTTP, in the style of Kannel's sms-service.
//!
//! A thin shell: the request's query string, `Content-Type`, `X-Kannel-*` headers and body go to
//! [`zhenwei_sms_gateway::kannel::inbound`] (sans-I/O decoding of UTF-8, UTF-16BE, hex and
//! Latin-1 texts), the message to the process's one [`Gateway`] (parse, rate limit, contacts,
//! verify), and the reply comes back as `200 text/plain; charset=utf-8` — with
//! `X-Kannel-Coding: 2` when it needs UCS-2, so Kannel sends Chinese as UCS-2. A request the
//! gateway cannot read gets `400` and one plain-text line saying why.
//!
//! The gateway (its rate-limit state) lives as long as the process: [`install`] creates it from
//! the `[sms]` configuration when the server starts.
//!
//! Also here: `GET|POST /v1/sms/dlr` (Kannel delivery reports of our MTs, `?mt=ID&type=N`),
//! [`recall_worker`] (the recall-notice outbox drained through the configured sender) and
//! `zhenwei sms receipts`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use zhenwei_core::feeds::outbox;
use zhenwei_core::Core;
use zhenwei_sms_gateway::kannel::{self, KannelHeaders};
use zhenwei_sms_gateway::outbound::{KannelSender, RecallNotices, SmppSender, Submission};
use zhenwei_sms_gateway::receipts::{self, Dlr};
use zhenwei_sms_gateway::{Gateway, GatewayConfig, Outcome};

static GATEWAY: OnceLock<Arc<Gateway>> = OnceLock::new();

/// Creates the process's gateway (first call wins).
pub fn install(core: &Core, config: &GatewayConfig) {
    let _ = GATEWAY.set(Arc::new(Gateway::new(core, config)));
}

/// The process's gateway, which the HTTP inbound route and the SMPP ESME share (one rate limit
/// per number whichever way a message arrives).
pub fn gateway(core: &Core) -> Arc<Gateway> {
    GATEWAY
        .get_or_init(|| Arc::new(Gateway::new(core, &GatewayConfig::default())))
        .clone()
}

/// Messages answered, by outcome, and requests refused.
static OUTCOMES: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

fn count(outcome: &'static str) {
    let mut m = OUTCOMES.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(outcome).or_insert(0) += 1;
}

/// The SMS counters in the Prometheus text format (appended to `/metrics`).
pub fn render_metrics(out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    writeln!(
        out,
        "# HELP zhenwei_sms_messages_total Inbound SMS answered, by outcome (bad_request: refused with 400)."
    )?;
    writeln!(out, "# TYPE zhenwei_sms_messages_total counter")?;
    let m = OUTCOMES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for o in Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .chain(["bad_request"])
    {
        writeln!(
            out,
            "zhenwei_sms_messages_total{{outcome=\"{o}\"}} {}",
            m.get(o).copied().unwrap_or(0)
        )?;
    }
    Ok(())
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Answers one inbound SMS.
pub async fn inbound(core: &Core, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let query = req.uri().query().map(str::to_owned);
    let content_type = header(&req, "content-type");
    let headers = KannelHeaders {
        from: header(&req, "x-kannel-from"),
        to: header(&req, "x-kannel-to"),
        coding: header(&req, "x-kannel-coding"),
    };
    let body = match crate::http::read_body(req).await {
        Ok(b) => b,
        Err(refused) => {
            count("bad_request");
            let status = refused.status();
            let why = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "request bodies are limited to {} bytes\n",
                    crate::http::MAX_BODY
                )
            } else {
                "the request body could not be read\n".to_owned()
            };
            return text(status, why);
        }
    };
    let msg = match kannel::inbound(query.as_deref(), content_type.as_deref(), &headers, &body) {
        Ok(m) => m,
        Err(e) => {
            count("bad_request");
            return text(StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    match gateway(core).handle(&msg).await {
        Ok(reply) => {
            count(reply.outcome.as_str());
            let coding = kannel::reply_coding(&reply.text);
            let mut r = text(StatusCode::OK, reply.text);
            if let Some(c) = coding {
                r.headers_mut()
                    .insert("x-kannel-coding", HeaderValue::from_static(c));
            }
            r
        }
        Err(e) => {
            count("bad_request");
            text(StatusCode::BAD_REQUEST, format!("{e}\n"))
        }
    }
}

/// `GET|POST /v1/sms/dlr?mt=ID&type=N`: a Kannel delivery report for one of our MTs.
pub async fn dlr(core: &Core, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(d) = req.uri().query().and_then(Dlr::parse) else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected ?mt=<message id>&type=<Kannel DLR type>\n".into(),
        );
    };
    match receipts::dlr(&core.store, &d).await {
        Ok(Some(_)) => text(StatusCode::OK, format!("recorded {}\n", d.stat())),
        Ok(None) => text(StatusCode::OK, "recorded (no such message)\n".into()),
        Err(e) => {
            tracing::warn!(error = %e, "a Kannel DLR could not be recorded");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the receipt could not be recorded\n".into(),
            )
        }
    }
}

/// The running recall-notice worker.
pub struct NoticeWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl NoticeWorker {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the recall-notice worker over the sender `[sms]` names (or implies), returning the
/// SMPP submissions channel for the ESME when the sender is SMPP.
pub fn recall_worker(
    core: &Core,
    file: &crate::config::FileConfig,
    http: std::net::SocketAddr,
) -> anyhow::Result<(
    Option<NoticeWorker>,
    Option<tokio::sync::mpsc::UnboundedReceiver<Submission>>,
)> {
    let cfg = &file.sms;
    let sender = match cfg.sender.as_deref() {
        Some(s) => s,
        None if file.smpp.is_some() => "smpp",
        None if cfg.kannel_sendsms_url.is_some() => "kannel",
        None => "off",
    };
    let every = std::time::Duration::from_millis(cfg.notice_every_ms.max(10));
    let lease = std::time::Duration::from_secs(cfg.notice_lease_secs.max(1));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let store = core.store.clone();
    match sender {
        "off" => {
            tracing::info!("recall notices are not sent ([sms] sender = off or no transport)");
            Ok((None, None))
        }
        "smpp" => {
            if file.smpp.is_none() {
                anyhow::bail!("[sms] sender = \"smpp\" needs an [smpp] section");
            }
            let wait = file
                .smpp
                .as_ref()
                .map(|s| std::time::Duration::from_secs(s.response_timeout_secs.saturating_mul(3)))
                .unwrap_or(std::time::Duration::from_secs(30));
            let (sender, rx) = SmppSender::new(&cfg.from, wait);
            let worker = RecallNotices::new(core, sender);
            let task = tokio::spawn(outbox::serve(store, worker, every, lease, shutdown));
            tracing::info!("recall notices go out over SMPP");
            Ok((Some(NoticeWorker { stop, task }), Some(rx)))
        }
        "kannel" => {
            let url = cfg.kannel_sendsms_url.as_deref().ok_or_else(|| {
                anyhow::anyhow!("[sms] sender = \"kannel\" needs kannel_sendsms_url")
            })?;
            let password = std::env::var("ZHENWEI_KANNEL_PASSWORD")
                .unwrap_or_else(|_| cfg.kannel_password.clone());
            // "auto": our own HTTP listener (Kannel on the same host).
            let dlr_url = match cfg.dlr_url.as_deref() {
                Some("auto") => Some(format!("http://{http}/v1/sms/dlr")),
                other => other.map(str::to_owned),
            };
            let sender = KannelSender::new(
                url,
                &cfg.kannel_user,
                &password,
                &cfg.from,
                dlr_url.as_deref(),
            )?;
            let worker = RecallNotices::new(core, sender);
            let task = tokio::spawn(outbox::serve(store, worker, every, lease, shutdown));
            tracing::info!("recall notices go out through Kannel sendsms");
            Ok((Some(NoticeWorker { stop, task }), None))
        }
        other => anyhow::bail!("[sms] sender = {other:?}: use smpp, kannel or off"),
    }
}

/// `zhenwei sms receipts`.
pub async fn command(
    core: &Core,
    cmd: crate::cli::SmsCmd,
) -> anyhow::Result<std::process::ExitCode> {
    let crate::cli::SmsCmd::Receipts { limit, json } = cmd;
    let rows = zhenwei_core::sms_mt::receipts(&core.store, limit).await?;
    if json {
        crate::emit(&serde_json::to_string(&rows)?);
    } else if rows.is_empty() {
        crate::emit("no messages sent yet");
    } else {
        for r in rows {
            crate::emit(&format!(
                "{} {} {} #{} to {} {}",
                r.message_id,
                r.transport.as_deref().unwrap_or("-"),
                r.purpose.as_deref().unwrap_or("-"),
                r.mt_id.map_or("-".to_owned(), |m| m.to_string()),
                r.to.as_deref().unwrap_or("-"),
                r.stat.as_deref().unwrap_or("no receipt yet"),
            ));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
