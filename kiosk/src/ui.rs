//! The kiosk screen's local web server (loopback only): the page, its live feed, its button.
//!
//! Chromium in kiosk mode opens `http://127.0.0.1:8088/`. The page is plain HTML/CSS/JS under
//! `src/ui/`, embedded in the binary with `include_str!` — no build step, nothing fetched from
//! anywhere else, so the screen works with the network down. What it shows comes from the
//! agent, never from the browser's own requests to the server:
//!
//! | route | what |
//! |---|---|
//! | `GET /`, `/kiosk.css`, `/kiosk.js` | the page |
//! | `GET /api/info` | store name, hotline, SMS number, language, idle timeout |
//! | `GET /api/view` | the current [`View`] as JSON |
//! | `GET /api/events` | Server-Sent Events: one `view` event now and one per change |
//! | `POST /api/report` | `{"scan": N}`: the "report this product" button |
//!
//! The feed is a `tokio::sync::watch` of the view: every SSE connection sends the latest view
//! when it changes (a slow browser skips intermediate views, never sees a stale one), and a
//! comment every 15 s keeps the connection open through anything idle-timing it. EventSource
//! reconnects by itself if the agent restarts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::screen::{ScanId, View};

const INDEX: &str = include_str!("ui/index.html");
const CSS: &str = include_str!("ui/kiosk.css");
const JS: &str = include_str!("ui/kiosk.js");

/// How often an idle event stream gets a keep-alive comment.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A press on the screen, for the agent.
#[derive(Debug)]
pub enum Press {
    Report { scan: ScanId },
}

/// What the page needs to know about its kiosk (`GET /api/info`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Info {
    pub store: Option<String>,
    pub kiosk: Option<String>,
    pub hotline: String,
    pub sms: String,
    pub language: String,
    pub idle_seconds: f64,
}

type UiBody = BoxBody<Bytes, Infallible>;

#[derive(Clone)]
struct Shared {
    info: Info,
    views: watch::Receiver<View>,
    presses: mpsc::Sender<Press>,
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<UiBody> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json_response(status: StatusCode, v: &Value) -> Response<UiBody> {
    full(status, "application/json; charset=utf-8", v.to_string())
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<UiBody> {
    json_response(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

/// An SSE body fed by a channel of already-framed events.
struct EventStream(mpsc::Receiver<Bytes>);

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn sse_event(view: &View) -> Bytes {
    let data = serde_json::to_string(view).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: view\ndata: {data}\n\n"))
}

fn events(mut views: watch::Receiver<View>) -> Response<UiBody> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        // Tell EventSource to reconnect quickly if the agent restarts.
        if tx
            .send(Bytes::from_static(b"retry: 1000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let frame = sse_event(&views.borrow_and_update());
            if tx.send(frame).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = views.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    () = tokio::time::sleep(KEEPALIVE) => {
                        if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    let mut r = Response::new(BodyExt::boxed(EventStream(rx)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn report(shared: &Shared, req: Request<Incoming>) -> Response<UiBody> {
    let body = match Limited::new(req.into_body(), 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "1 KiB at most",
            )
        }
    };
    let scan = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("scan").and_then(Value::as_u64));
    let Some(scan) = scan else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "expected {\"scan\": N}",
        );
    };
    if shared.presses.send(Press::Report { scan }).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the agent is stopping",
        );
    }
    json_response(StatusCode::ACCEPTED, &json!({ "accepted": true }))
}

async fn route(shared: Shared, req: Request<Incoming>) -> Response<UiBody> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        (&Method::GET, "/kiosk.css") => full(StatusCode::OK, "text/css; charset=utf-8", CSS),
        (&Method::GET, "/kiosk.js") => full(StatusCode::OK, "text/javascript; charset=utf-8", JS),
        (&Method::GET, "/api/info") => json_response(
            StatusCode::OK,
            &serde_json::to_value(&shared.info).unwrap_or_default(),
        ),
        (&Method::GET, "/api/view") => json_response(
            StatusCode::OK,
            &serde_json::to_value(&*shared.views.borrow()).unwrap_or_default(),
        ),
        (&Method::GET, "/api/events") => events(shared.views.clone()),
        (&Method::POST, "/api/report") => report(&shared, req).await,
        (
            _,
            "/" | "/kiosk.css" | "/kiosk.js" | "/api/info" | "/api/view" | "/api/events"
            | "/api/report",
        ) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such path"),
    }
}

/// Serves the screen on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    info: Info,
    views: watch::Receiver<View>,
    presses: mpsc::Sender<Press>,
) {
    let shared = Shared {
        info,
        views,
        presses,
    };
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "UI accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(shared, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(peer = %peer, error = %e, "UI connection ended");
            }
        });
    }
}
