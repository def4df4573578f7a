//! The HTTP listener (hyper 1): health, and the verify API the web page and kiosks use.
//!
//! Every response is JSON, errors included, in one shape: `{"error": {"code", "message"}}`.
//! Bodies over [`MAX_BODY`] are refused with 413 before they are read whole.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Deserialize;
use tokio::net::TcpListener;
use zhenwei_core::codes::division::DivisionCode;
use zhenwei_core::{Channel, Core, Lang, Query};

/// Largest request body accepted.
pub const MAX_BODY: usize = 8 * 1024;

type Body = Full<Bytes>;

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
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

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
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

async fn verify(core: &Core, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
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
    let channel = match r.channel.as_deref().map(Channel::parse) {
        None | Some(Some(Channel::Web)) => Channel::Web,
        Some(Some(other)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "channel_not_allowed",
                &format!(
                    "channel {:?} is not accepted on this listener; only \"web\" is",
                    other.as_str()
                ),
            )
        }
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_channel",
                "channel must be one of web, kiosk, sms, ivr, cli",
            )
        }
    };
    let lang = match r.lang.as_deref().map(Lang::parse) {
        None => Lang::Zh,
        Some(Some(l)) => l,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_lang",
                "lang must be \"zh\" or \"en\"",
            )
        }
    };
    let place = match r.place.as_deref().map(DivisionCode::parse) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    };
    let q = Query {
        input: r.code,
        channel,
        source: peer.ip().to_string(),
        place,
        store_id: None,
        lang,
    };
    match core.verifier.verify(&q).await {
        Ok(v) => match serde_json::to_value(&v) {
            Ok(value) => json(StatusCode::OK, &value),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the verdict could not be encoded",
            ),
        },
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

async fn route(core: Core, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        (&Method::POST, "/v1/verify") => verify(&core, peer, req).await,
        (_, "/healthz") | (_, "/v1/verify") => error(
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

/// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    core: Core,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let core = core.clone();
                let service = service_fn(move |req| {
                    let core = core.clone();
                    async move { Ok::<_, Infallible>(route(core, peer, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
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
