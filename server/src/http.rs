//! The HTTP listener (hyper 1): health, and the verify API the web page and kiosks use.
//!
//! Every response is JSON, errors included, in one shape: `{"error": {"code", "message"}}`.
//! Bodies over [`MAX_BODY`] are refused with 413 before they are read whole.
//!
//! `POST /v1/report` files a consumer's report of a suspected fake (the kiosk's "report this
//! product" button) and answers with the case number; a `report_id` makes it idempotent, and an
//! `event_id` (the verify answer's) files it against the query already made instead of a new one.
//!
//! Two listeners share one router: plain HTTP (loopback, for local use and tests) and HTTPS
//! ([`crate::tls`]). Each connection carries a [`Peer`] — its address and, over HTTPS, the client
//! certificate it presented — into [`route`], so there is one handler for both; only a peer with
//! a kiosk's certificate may ask with `channel: "kiosk"` (403 otherwise).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::verify::ReportFiling;
use zhenwei_core::{Channel, Core, Lang, Query};

use crate::tls::{self, ClientCert};

/// Largest request body accepted.
pub const MAX_BODY: usize = 8 * 1024;

pub type Body = Full<Bytes>;

/// The other end of a connection, as every request on it sees it.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
    /// The client certificate it presented (already verified against our CA).
    pub client_cert: Option<ClientCert>,
}

/// A JSON response, serialised straight into its body.
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(e) => {
            tracing::error!(error = %e, "a response could not be encoded");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"error":{"code":"internal","message":"the answer could not be encoded"}}"#
                    .to_vec(),
            )
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// The one error shape.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": { "code": code, "message": message } }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    code: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    place: Option<String>,
}

pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("request bodies are limited to {MAX_BODY} bytes"),
            ))
        }
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the request body could not be read",
        )),
    }
}

async fn verify(core: &Core, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let r: VerifyRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!("the body is not a valid verify request: {e}"),
            )
        }
    };
    let q = match build_query(core, peer, r.code, r.channel, r.lang, r.place).await {
        Ok(q) => q,
        Err(refused) => return refused,
    };
    match core.verifier.verify(&q).await {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => {
            tracing::error!(error = %e, "verify failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the verification service is temporarily unavailable; please try again",
            )
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    code: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    report_id: Option<String>,
    /// The `event_id` of the verdict the consumer is reporting (from `/v1/verify`).
    #[serde(default)]
    event_id: Option<i64>,
}

/// A client's idempotency key: 8–64 characters of `A–Z a–z 0–9 _ -`.
fn valid_report_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `POST /v1/report`: a consumer's report of a suspected fake ("report this product" at a
/// kiosk). With the `event_id` of the verdict the consumer was shown, the consumer-report case
/// gets that query as evidence and nothing is recorded (`attached_to_event`, no `verdict`) — if
/// the event is this source's query of this code; otherwise, and without `event_id`, the report
/// records its own query, as `/v1/verify` does. Opens or updates the case at the query's place
/// (a kiosk's store); answers with the case number. With a `report_id`, a report sent again
/// answers with the same case and files nothing ([`Verifier::report_once`]).
///
/// [`Verifier::report_once`]: zhenwei_core::Verifier::report_once
async fn report(core: &Core, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let r: ReportRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!("the body is not a valid report request: {e}"),
            )
        }
    };
    if let Some(id) = r.report_id.as_deref().filter(|id| !valid_report_id(id)) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_report_id",
            &format!("report_id {id:?}: 8 to 64 characters of A-Z, a-z, 0-9, _ and -"),
        );
    }
    let q = match build_query(core, peer, r.code, r.channel, r.lang, r.place).await {
        Ok(q) => q,
        Err(refused) => return refused,
    };
    let note = r.note.as_deref();
    let filed = match r.report_id.as_deref() {
        Some(id) => core.verifier.report_once(&q, note, id, r.event_id).await,
        None => core.verifier.report_seen(&q, note, r.event_id).await,
    };
    let (case_id, verdict, attached) = match filed {
        Ok(ReportFiling::AlreadyFiled { case_id }) => (case_id, None, None),
        Ok(ReportFiling::Attached { case_id, event_id }) => (case_id, None, Some(event_id)),
        Ok(ReportFiling::Filed(v)) => match v.case_id {
            Some(id) => (id, Some(v), None),
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not_reportable",
                    "this is not a code that can be reported; check it against the label",
                )
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "report failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the verification service is temporarily unavailable; please try again",
            );
        }
    };
    let replayed = verdict.is_none() && attached.is_none();
    tracing::info!(case_id, source = %zhenwei_core::verify::mask_source(q.channel, &q.source), replayed, attached_to_event = attached, "consumer report");
    let mut answer = serde_json::json!({
        "case_id": case_id,
        "replayed": replayed,
    });
    if let Some(id) = r.report_id {
        answer["report_id"] = serde_json::json!(id);
    }
    if let Some(event_id) = attached {
        answer["attached_to_event"] = serde_json::json!(event_id);
    }
    if let Some(v) = verdict {
        answer["verdict"] = serde_json::to_value(&v).unwrap_or_default();
    }
    json(StatusCode::OK, &answer)
}

/// The [`Query`] of a verify or report request from `peer`: channel (`kiosk` by default when a
/// client certificate was presented), language and place checked; a kiosk query gets its kiosk's
/// name and store. The error is the response to send.
async fn build_query(
    core: &Core,
    peer: &Peer,
    code: String,
    channel: Option<String>,
    lang: Option<String>,
    place: Option<String>,
) -> Result<Query, Response<Body>> {
    let channel = match channel.as_deref().map(Channel::parse) {
        // A connection with a client certificate speaks for a kiosk unless it says otherwise.
        None if peer.client_cert.is_some() => Channel::Kiosk,
        None => Channel::Web,
        Some(Some(c @ (Channel::Web | Channel::Kiosk))) => c,
        Some(Some(other)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "channel_not_allowed",
                &format!(
                    "channel {:?} is not accepted on this listener; only \"web\", and \"kiosk\" \
                     over HTTPS with a kiosk certificate, are",
                    other.as_str()
                ),
            ))
        }
        Some(None) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_channel",
                "channel must be one of web, kiosk, sms, ivr, cli",
            ))
        }
    };
    let lang = match lang.as_deref().map(Lang::parse) {
        None => Lang::Zh,
        Some(Some(l)) => l,
        Some(None) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_lang",
                "lang must be \"zh\" or \"en\"",
            ))
        }
    };
    let place = match place.as_deref().map(DivisionCode::parse) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return Err(error(StatusCode::BAD_REQUEST, e.code(), &e.to_string())),
    };
    let mut q = Query {
        input: code,
        channel,
        source: peer.addr.ip().to_string(),
        place,
        store_id: None,
        lang,
    };
    if channel == Channel::Kiosk {
        as_kiosk(core, peer, &mut q).await?;
    }
    Ok(q)
}

/// Makes `q` a kiosk query of the kiosk whose certificate `peer` presented: its name is the
/// source, its store the place. 403 without a valid, current, unrevoked kiosk certificate; 400 if
/// the body names a different place.
async fn as_kiosk(core: &Core, peer: &Peer, q: &mut Query) -> Result<(), Response<Body>> {
    let kiosk = match tls::authenticate_kiosk(core, peer.client_cert.as_ref()).await {
        Ok(k) => k,
        Err(tls::KioskRefusal::Unavailable(e)) => {
            tracing::error!(error = %e, "kiosk lookup failed");
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the verification service is temporarily unavailable; please try again",
            ));
        }
        Err(refusal) => {
            tracing::info!(peer = %peer.addr, tls = peer.tls, code = refusal.code(), "kiosk query refused");
            return Err(error(
                StatusCode::FORBIDDEN,
                refusal.code(),
                &refusal.to_string(),
            ));
        }
    };
    let place = match DivisionCode::parse(&kiosk.division) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(kiosk = %kiosk.name, error = %e, "a store has an invalid division code");
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the kiosk's store has no valid place",
            ));
        }
    };
    if q.place
        .as_ref()
        .is_some_and(|p| p.as_str() != place.as_str())
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "place_not_allowed",
            &format!(
                "a kiosk's place is its store's ({}); leave \"place\" out",
                place.as_str()
            ),
        ));
    }
    q.place = Some(place);
    q.store_id = Some(kiosk.store_id);
    q.source = kiosk.name;
    Ok(())
}

async fn route(core: Core, peer: Arc<Peer>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        (&Method::GET, "/metrics") => {
            let mut r = Response::new(Full::new(Bytes::from(
                crate::metrics::METRICS.render(&core),
            )));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::POST, "/v1/verify") => verify(&core, &peer, req).await,
        (&Method::POST, "/v1/report") => report(&core, &peer, req).await,
        // Regulators' feed imports (feeds.rs).
        (_, p) if crate::feeds::is_feed_path(p) => crate::feeds::respond(&core, req).await,
        // SMS in the style of Kannel's sms-service (sms.rs).
        (&Method::GET | &Method::POST, "/v1/sms/inbound") => crate::sms::inbound(&core, req).await,
        (&Method::GET | &Method::POST, "/v1/sms/dlr") => crate::sms::dlr(&core, req).await,
        // The regulator API (client certificates bound to an office; regulator_api.rs).
        (_, p) if crate::regulator_api::is_api_path(p) => {
            crate::regulator_api::respond(&core, &peer, req).await
        }
        // The regulator portal's pages (portal.rs; regulator certificates only).
        (_, p) if crate::portal::is_portal_path(p) => {
            crate::portal::respond(&core, &peer, &req).await
        }
        // The enterprise API and portal (operator certificates, two-person rule;
        // enterprise_api.rs).
        (_, p) if crate::enterprise_api::is_api_path(p) => {
            crate::enterprise_api::respond(&core, &peer, req).await
        }
        (_, p) if crate::enterprise_api::is_portal_path(p) => crate::enterprise_api::portal(&req),
        // The public query page and its assets (page.rs).
        (_, p) if crate::page::is_page_path(p) => crate::page::respond(&req),
        (_, "/healthz")
        | (_, "/v1/verify")
        | (_, "/v1/report")
        | (_, "/metrics")
        | (_, "/v1/sms/inbound")
        | (_, "/v1/sms/dlr") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such path: {path}"),
        ),
    }
}

/// The HTTPS listener: its socket and TLS configuration ([`tls::server_config`]).
pub struct Https {
    pub listener: TcpListener,
    pub config: Arc<rustls::ServerConfig>,
}

/// A TLS handshake that takes longer than this is abandoned.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Serves plain HTTP on `listener` and, if given, HTTPS until `shutdown` resolves, then lets
/// in-flight requests finish (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    https: Option<Https>,
    core: Core,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let (https, acceptor) = match https {
        Some(h) => (Some(h.listener), Some(TlsAcceptor::from(h.config))),
        None => (None, None),
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Some((stream, addr)) = accepted_or_log(accepted) else { continue };
                let peer = Peer { addr, tls: false, client_cert: None };
                tokio::spawn(connection(&builder, graceful.watcher(), stream, core.clone(), peer));
            }
            accepted = accept_if_some(https.as_ref()) => {
                let (Some((stream, addr)), Some(acceptor)) = (accepted_or_log(accepted), acceptor.clone()) else { continue };
                let (builder, watcher, core) = (builder.clone(), graceful.watcher(), core.clone());
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    let client_cert = tls::client_cert(stream.get_ref().1);
                    let peer = Peer { addr, tls: true, client_cert };
                    connection(&builder, watcher, stream, core, peer).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open after 10 s; closing");
        }
    }
    Ok(())
}

fn accepted_or_log<T>(accepted: std::io::Result<T>) -> Option<T> {
    accepted
        .inspect_err(|e| tracing::warn!(error = %e, "accept failed"))
        .ok()
}

/// Accepts on `listener`, or never when there is none.
async fn accept_if_some(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one connection (plain or TLS) until it ends or a graceful
/// shutdown has let its requests finish.
fn connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    core: Core,
    peer: Peer,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let service = service_fn(move |req| {
        let (core, peer) = (core.clone(), peer.clone());
        async move {
            let started = std::time::Instant::now();
            let label = crate::metrics::route_label(req.uri().path());
            let response = route(core, peer, req).await;
            crate::metrics::METRICS.observe(label, response.status().as_u16(), started.elapsed());
            Ok::<_, Infallible>(response)
        }
    });
    let conn = watcher.watch(
        builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned(),
    );
    async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
