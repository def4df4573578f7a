//! The ceiling: a bare hyper server that answers every request with a fixed JSON body.
//!
//! `ceiling ADDR BODY_BYTES` — reads and discards the request body, answers 200 with a JSON
//! object of exactly BODY_BYTES bytes. Same runtime, same hyper builder and the same HTTP/1.1
//! keep-alive as `zhenwei serve`, so the ratio of zhenwei's throughput to this one's is the cost
//! of verification itself on this machine.

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn body(size: usize) -> Bytes {
    let head = "{\"authenticity\":\"genuine\",\"pad\":\"";
    let tail = "\"}";
    let pad = size.saturating_sub(head.len() + tail.len());
    Bytes::from(format!("{head}{}{tail}", "x".repeat(pad)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18800".into());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1200);
    let payload = body(size);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "ceiling listening on {} ({} byte bodies)",
        listener.local_addr()?,
        payload.len()
    );
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let payload = payload.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let payload = payload.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    let mut r = Response::new(Full::new(payload));
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
