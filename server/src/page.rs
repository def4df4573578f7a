//! The public query page (the internet channel): `GET /`, `/page.css`, `/page.js`.
//!
//! Plain HTML, CSS and JavaScript under `src/page/`, embedded in the binary with `include_str!`:
//! no build step, no external fonts or scripts, so the page works on a machine without internet.
//! The script posts what the user typed to `POST /v1/verify` and draws the verdict.
//!
//! Caching: the page refers to its stylesheet and script as `/page.css?v=TAG` (TAG a hash of
//! the file, computed at compile time), so those answers are cached for a year (`immutable`)
//! when asked for with the current tag, and revalidated otherwise; the page itself is always
//! revalidated (`no-cache`). Every answer carries an `ETag` and `If-None-Match` gets a 304.
//! A strict `Content-Security-Policy` allows only this server's own script, style and API.

use std::sync::OnceLock;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};

const INDEX_HTML: &str = include_str!("page/index.html");
const PAGE_CSS: &str = include_str!("page/page.css");
const PAGE_JS: &str = include_str!("page/page.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// FNV-1a, 64 bit: a compile-time content tag for cache busting (not a security hash).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const CSS_TAG: u64 = fnv1a(PAGE_CSS.as_bytes());
const JS_TAG: u64 = fnv1a(PAGE_JS.as_bytes());

/// Is `path` one of the page's paths?
pub fn is_page_path(path: &str) -> bool {
    matches!(path, "/" | "/page.css" | "/page.js")
}

/// The page with its asset references carrying their content tags.
fn index_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        INDEX_HTML
            .replace(
                "href=\"/page.css\"",
                &format!("href=\"/page.css?v={CSS_TAG:016x}\""),
            )
            .replace(
                "src=\"/page.js\"",
                &format!("src=\"/page.js?v={JS_TAG:016x}\""),
            )
    })
}

/// Answers a request for one of the [`is_page_path`] paths.
pub fn respond<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = crate::http::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (body, content_type, tag): (&'static str, &'static str, Option<u64>) = match path {
        "/page.css" => (PAGE_CSS, "text/css; charset=utf-8", Some(CSS_TAG)),
        "/page.js" => (PAGE_JS, "text/javascript; charset=utf-8", Some(JS_TAG)),
        _ => (index_html(), "text/html; charset=utf-8", None),
    };
    let cache = match tag {
        Some(t) if query_tag(req) == Some(format!("{t:016x}")) => {
            "public, max-age=31536000, immutable"
        }
        _ => "no-cache",
    };
    let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
    let not_modified = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));

    let mut r = if not_modified {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Full::new(Bytes::from_static(body.as_bytes())))
    };
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    r
}

/// The `v` query parameter, if any.
fn query_tag<B>(req: &Request<B>) -> Option<String> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("v="))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Response<Full<Bytes>> {
        respond(&Request::get(uri).body(()).unwrap())
    }

    fn header(r: &Response<Full<Bytes>>, name: HeaderName) -> &str {
        r.headers().get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn the_page_names_its_assets_with_their_tags() {
        let html = index_html();
        assert!(html.contains(&format!("/page.css?v={CSS_TAG:016x}")));
        assert!(html.contains(&format!("/page.js?v={JS_TAG:016x}")));
        // Nothing is loaded from elsewhere.
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!PAGE_CSS.contains("url("), "no external fonts or images");
    }

    #[test]
    fn content_types_and_caching() {
        let r = get("/");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&r, CACHE_CONTROL), "no-cache");

        let r = get(&format!("/page.js?v={JS_TAG:016x}"));
        assert_eq!(header(&r, CONTENT_TYPE), "text/javascript; charset=utf-8");
        assert_eq!(
            header(&r, CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );

        let r = get("/page.css?v=stale");
        assert_eq!(header(&r, CONTENT_TYPE), "text/css; charset=utf-8");
        assert_eq!(header(&r, CACHE_CONTROL), "no-cache");
    }

    #[test]
    fn etag_revalidation() {
        let etag = header(&get("/page.css"), ETAG).to_owned();
        let r = respond(
            &Request::get("/page.css")
                .header(IF_NONE_MATCH, etag.as_str())
                .body(())
                .unwrap(),
        );
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn other_methods_are_refused() {
        let r = respond(&Request::post("/").body(()).unwrap());
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&r, ALLOW), "GET, HEAD");
    }
}
