//! The regulator portal: pages a market-supervision officer works cases in, served by
//! `zhenwei serve` on the HTTPS listener, to browsers presenting a regulator account's client
//! certificate (`zhenwei regulator issue`).
//!
//! | path | what |
//! |---|---|
//! | `/regulator/` | the portal (dashboard, case list, case page; `#/…` routes in the page) |
//! | `/regulator/regulator.css`, `regulator.js`, `charts.js` | its style and scripts |
//!
//! Plain HTML, CSS and JavaScript under `src/portal/`, embedded with `include_str!`: no build
//! step, nothing loaded from elsewhere. The pages only draw what the regulator API
//! (`regulator_api.rs`) answers; every decision — who may see which case, which change is
//! allowed — is taken there, on the server. The pages themselves are refused (403) without a
//! regulator certificate too, so an unauthenticated browser sees nothing but the refusal.
//!
//! Charts are drawn in the browser as inline SVG by `charts.js` from the JSON of
//! `GET /v1/regulator/dashboard`: the same endpoint then serves the pages, scripts and
//! spreadsheets alike, the server stays a JSON API, and the SVG is built with DOM calls (no
//! `innerHTML`), which the strict `Content-Security-Policy` allows. Colours are the Okabe–Ito
//! palette (distinguishable with the common colour-vision deficiencies), and every bar carries
//! its number as text, so no reading depends on colour alone.
//!
//! The printable 12315 form (`GET /v1/regulator/cases/{id}/12315?format=html`) is rendered here
//! on the server ([`form_12315_html`]), so it prints the same from any client.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use zhenwei_core::Core;

use crate::http::{error, Peer};

type Body = Full<Bytes>;

const INDEX_HTML: &str = include_str!("portal/regulator.html");
const CSS: &str = include_str!("portal/regulator.css");
const JS: &str = include_str!("portal/regulator.js");
const CHARTS_JS: &str = include_str!("portal/charts.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Is `path` one of the portal's paths?
pub fn is_portal_path(path: &str) -> bool {
    path == "/regulator" || path.starts_with("/regulator/")
}

fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "/regulator" | "/regulator/" | "/regulator/index.html" => {
            (INDEX_HTML, "text/html; charset=utf-8")
        }
        "/regulator/regulator.css" => (CSS, "text/css; charset=utf-8"),
        "/regulator/regulator.js" => (JS, "text/javascript; charset=utf-8"),
        "/regulator/charts.js" => (CHARTS_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    })
}

fn with_headers(mut r: Response<Body>, content_type: &'static str) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Personal data behind a certificate: never stored by shared caches.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    r
}

/// Answers a request for one of the [`is_portal_path`] paths.
pub async fn respond<B>(core: &Core, peer: &Peer, req: &Request<B>) -> Response<Body> {
    let path = req.uri().path();
    let Some((body, content_type)) = asset(path) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such path: {path}"),
        );
    };
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        );
    }
    if let Err(refused) = crate::regulator_api::authenticate(core, peer).await {
        return refused;
    }
    with_headers(
        Response::new(Full::new(Bytes::from_static(body.as_bytes()))),
        content_type,
    )
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &serde_json::Value, path: &[&str]) -> String {
    let v = path.iter().try_fold(v, |v, k| v.get(k));
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        _ => "—".to_owned(),
    }
}

/// The 12315 form as a printable page, answered with the portal's headers.
pub fn form_12315_html(f: &serde_json::Value) -> Response<Body> {
    with_headers(
        Response::new(Full::new(Bytes::from(form_12315_page(f)))),
        "text/html; charset=utf-8",
    )
}

/// The 12315 form (the JSON of `zhenwei_core::cases::complaint`) as a printable HTML page.
pub fn form_12315_page(f: &serde_json::Value) -> String {
    let t = |path: &[&str]| esc(&text(f, path));
    let row = |zh: &str, en: &str, value: String| {
        format!("<tr><th>{zh}<span class=\"en\">{en}</span></th><td>{value}</td></tr>")
    };
    let consented = f
        .pointer("/reporter/consented")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let reporter = if consented {
        t(&["reporter", "contact"])
    } else if text(f, &["reporter", "channel"]) == "kiosk" {
        format!(
            "{}（店内查询机，无举报人联系方式 / a store kiosk, no reporter contact）",
            t(&["reporter", "contact_masked"])
        )
    } else {
        format!(
            "{}（已脱敏；举报人未同意提供联系方式 / masked, no consent to share contact details）",
            t(&["reporter", "contact_masked"])
        )
    };
    let evidence: String = f
        .pointer("/facts_and_reasons/evidence")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    let w = e
                        .get("warnings")
                        .and_then(|w| w.as_array())
                        .map(|w| {
                            w.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&text(e, &["at_china"])),
                        esc(&text(e, &["channel"])),
                        esc(&text(e, &["place"])),
                        esc(&text(e, &["source"])),
                        esc(&w)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = [
        row("举报人", "Reporter", reporter),
        row(
            "被举报方",
            "Reported party",
            format!(
                "{}<br>{} {}",
                t(&["reported_party", "name"]),
                t(&["reported_party", "division"]),
                t(&["reported_party", "address"])
            ),
        ),
        row(
            "商品",
            "Product",
            format!(
                "{}<br>GTIN {} · 批号 Batch {} · 码 Code {}<br>品牌方 Brand owner: {}",
                t(&["product", "name"]),
                t(&["product", "gtin"]),
                t(&["product", "batch"]),
                t(&["product", "code", "value"]),
                t(&["product", "brand_owner", "name"])
            ),
        ),
        row(
            "事实与理由",
            "Facts and reasons",
            format!(
                "<strong>{}</strong> ({})<br>{}<br><span class=\"en\">{}</span>",
                t(&["facts_and_reasons", "reason_zh"]),
                t(&["facts_and_reasons", "reason_en"]),
                t(&["facts_and_reasons", "summary_zh"]),
                t(&["facts_and_reasons", "summary_en"])
            ),
        ),
        row(
            "时间",
            "Time",
            format!(
                "{} — {}（立案 opened {}）",
                t(&["time", "first_at_china"]),
                t(&["time", "last_at_china"]),
                t(&["time", "opened_at_china"])
            ),
        ),
        row(
            "地点",
            "Place",
            format!(
                "{} {} ({})",
                t(&["place", "name_zh"]),
                t(&["place", "name_en"]),
                t(&["place", "code"])
            ),
        ),
        row(
            "承办机构",
            "Office",
            format!("{} ({})", t(&["office", "name"]), t(&["office", "prefix"])),
        ),
    ]
    .concat();
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>12315 投诉举报 · 案件 {id}</title>\
         <link rel=\"stylesheet\" href=\"/regulator/regulator.css\"></head>\
         <body class=\"form12315\"><main>\
         <h1>投诉举报登记表 <span class=\"en\">12315 complaint / report form</span></h1>\
         <p class=\"meta\">案件 Case <strong id=\"form-case\">{id}</strong> · 类型 Type: {kind} · \
         生成 Generated {generated} · {schema}</p>\
         <table class=\"form\" id=\"form12315\">{rows}</table>\
         <h2>证据 <span class=\"en\">Evidence</span></h2>\
         <table class=\"evidence\"><thead><tr><th>时间 Time</th><th>渠道 Channel</th>\
         <th>地点 Place</th><th>来源 Source (masked)</th><th>提示 Warnings</th></tr></thead>\
         <tbody>{evidence}</tbody></table></main></body></html>",
        id = t(&["case_id"]),
        kind = t(&["type"]),
        generated = t(&["generated_at_china"]),
        schema = t(&["schema"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_assets() {
        assert!(is_portal_path("/regulator/"));
        assert!(is_portal_path("/regulator/charts.js"));
        assert!(!is_portal_path("/regulators"));
        assert!(asset("/regulator/").is_some());
        assert!(asset("/regulator/nope.js").is_none());
        // Nothing is loaded from elsewhere.
        for a in [INDEX_HTML, CSS, JS, CHARTS_JS] {
            for bad in ["src=\"http", "href=\"http", "url(", "fetch(\"http"] {
                assert!(!a.contains(bad), "{bad}");
            }
        }
    }

    #[test]
    fn the_form_escapes_what_it_shows() {
        let f = serde_json::json!({
            "case_id": 3,
            "reporter": {"contact_masked": "138****5678", "consented": false},
            "reported_party": {"name": "<b>店</b>"},
        });
        let r = form_12315_html(&f);
        assert_eq!(r.status(), StatusCode::OK);
        let body = futures_body(r);
        assert!(body.contains("&lt;b&gt;店&lt;/b&gt;"));
        assert!(body.contains("138****5678"));
    }

    fn futures_body(r: Response<Body>) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let b = rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }
}
