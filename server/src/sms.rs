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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use zhenwei_core::Core;
use zhenwei_sms_gateway::kannel::{self, KannelHeaders};
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
