//! The enterprise API and portal: a brand enterprise's operators see their own products, code
//! ranges, activations, market statistics and cases over HTTPS.
//!
//! Every API request must come over TLS with a client certificate pinned to an enterprise
//! operator (`zhenwei enterprise operator add`, `zhenwei_core::enterprise::operators`). The
//! decisions are made here, on every request, never in the page:
//!
//! * no certificate, or one that is no operator's → 403;
//! * a revoked, expired or unconfirmed operator, or an enterprise without a confirmed primary
//!   and secondary (two-person rule) → 403 with the reason's code;
//! * everything read is that operator's enterprise's, by the id looked up from the certificate
//!   — another enterprise's case or operator is answered exactly like one that does not exist
//!   (404).
//!
//! | request | does |
//! |---|---|
//! | `GET /v1/enterprise/me` | the operator, its enterprise, and whether it has access (also when it has not) |
//! | `GET /v1/enterprise/operators` | the enterprise's operators |
//! | `POST /v1/enterprise/operators/{name}/confirm` | confirm another operator of the enterprise (two-person rule; the caller may itself be unconfirmed) |
//! | `GET /v1/enterprise/products` | products |
//! | `GET /v1/enterprise/ranges` | code ranges |
//! | `GET /v1/enterprise/activations` | activation and cancellation segments with their batches |
//! | `GET /v1/enterprise/statistics?from=&to=` | queries per day and channel, per city, per product (China dates, `[from, to)`, default the last 30 days) |
//! | `GET /v1/enterprise/statistics.csv?from=&to=` | the per-day, per-channel counts as CSV |
//! | `GET /v1/enterprise/cases?status=&limit=` | its cases and their outcomes (read-only) |
//! | `GET /v1/enterprise/cases.csv` | the same as CSV |
//! | `GET /v1/enterprise/cases/{id}` | one case and its report |
//!
//! The portal page (`GET /enterprise/`, `enterprise.css`, `enterprise.js` under
//! `src/portal/`) is static; its script reads the API above with the browser's client
//! certificate.

use chrono::NaiveDate;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use zhenwei_core::cases::casework::{self, CaseSummary};
use zhenwei_core::cases::status::CaseStatus;
use zhenwei_core::cases::CaseError;
use zhenwei_core::enterprise::market;
use zhenwei_core::enterprise::operators::{self, Operator, OperatorError};
use zhenwei_core::store::{now_ms, StoreError};
use zhenwei_core::Core;

use crate::case_answers::{self, attachment, china_time, date_param, param};
use crate::http::{error, json, Peer};

type Body = Full<Bytes>;

const ROOT: &str = "/v1/enterprise/";

/// Whether a path belongs to this API.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with(ROOT)
}

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Me,
    Operators,
    Confirm(String),
    Products,
    Ranges,
    Activations,
    Statistics,
    StatisticsCsv,
    Cases,
    CasesCsv,
    Case(Option<i64>),
}

fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix(ROOT)?;
    Some(match rest {
        "me" => Target::Me,
        "operators" => Target::Operators,
        "products" => Target::Products,
        "ranges" => Target::Ranges,
        "activations" => Target::Activations,
        "statistics" => Target::Statistics,
        "statistics.csv" => Target::StatisticsCsv,
        "cases" => Target::Cases,
        "cases.csv" => Target::CasesCsv,
        _ => {
            if let Some(id) = rest.strip_prefix("cases/") {
                Target::Case(id.parse::<i64>().ok())
            } else {
                let name = rest.strip_prefix("operators/")?.strip_suffix("/confirm")?;
                Target::Confirm(name.to_owned())
            }
        }
    })
}

fn refuse(peer: &Peer, code: &str, message: &str) -> Response<Body> {
    tracing::info!(peer = %peer.addr, code, "enterprise API request refused");
    error(StatusCode::FORBIDDEN, code, message)
}

fn unavailable(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "enterprise API failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the enterprise service is temporarily unavailable; please try again",
    )
}

/// The operator behind the request's certificate. `full`: also apply the two-person rule
/// (everything except `me` and `confirm`, which an operator needs to get there).
async fn authenticate(core: &Core, peer: &Peer, full: bool) -> Result<Operator, Response<Body>> {
    let Some(cert) = &peer.client_cert else {
        return Err(refuse(
            peer,
            "operator_certificate_required",
            "the enterprise API needs HTTPS with an enterprise operator's client certificate \
             (`zhenwei enterprise operator add`)",
        ));
    };
    let op =
        match operators::by_certificate(&core.store, &cert.sha256).await {
            Ok(Some(o)) => o,
            Ok(None) => return Err(refuse(
                peer,
                "operator_certificate_unknown",
                "this client certificate belongs to no enterprise operator, or has been replaced",
            )),
            Err(e) => return Err(unavailable(&e)),
        };
    match operators::decide(&op, now_ms()) {
        Ok(()) => Ok(op),
        Err(r) if !full && r == operators::Refusal::Unconfirmed => Ok(op),
        Err(r) if !full && r == operators::Refusal::EnterpriseIncomplete => Ok(op),
        Err(r) => Err(refuse(peer, r.code(), r.message())),
    }
}

/// Answers one request of the API.
pub async fn respond(core: &Core, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let Some(t) = target(&path) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such path: {path}"),
        );
    };
    let allowed = match t {
        Target::Confirm(_) => Method::POST,
        _ => Method::GET,
    };
    if req.method() != allowed {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        );
    }
    let full = !matches!(t, Target::Me | Target::Confirm(_));
    let op = match authenticate(core, peer, full).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let query = req.uri().query().unwrap_or_default().to_owned();
    let e = op.enterprise_id;
    let listed = |r: Result<serde_json::Value, StoreError>| match r {
        Ok(v) => json(StatusCode::OK, &v),
        Err(err) => unavailable(&err),
    };
    match t {
        Target::Me => {
            let access = operators::decide(&op, now_ms());
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "operator": op,
                    "access": access.is_ok(),
                    "refusal": access.err().map(|r| r.code()),
                }),
            )
        }
        Target::Operators => match operators::list(&core.store, Some(e)).await {
            Ok(all) => json(StatusCode::OK, &serde_json::json!({ "operators": all })),
            Err(err) => operator_error(&err),
        },
        Target::Confirm(name) => confirm(core, &op, &name).await,
        Target::Products => listed(
            market::products(&core.store, e)
                .await
                .map(|v| serde_json::json!({ "products": v })),
        ),
        Target::Ranges => listed(
            market::ranges(&core.store, e)
                .await
                .map(|v| serde_json::json!({ "ranges": v })),
        ),
        Target::Activations => listed(
            market::activations(&core.store, e)
                .await
                .map(|v| serde_json::json!({ "activations": v })),
        ),
        Target::Statistics | Target::StatisticsCsv => {
            let (from, to) = match window(&query) {
                Ok(w) => w,
                Err((code, message)) => return error(StatusCode::BAD_REQUEST, code, &message),
            };
            match market::statistics(&core.store, e, from, to).await {
                Ok(s) if t == Target::Statistics => json(
                    StatusCode::OK,
                    &serde_json::to_value(&s).unwrap_or_default(),
                ),
                Ok(s) => {
                    let rows = s.days.iter().map(|d| {
                        [
                            d.date.to_string(),
                            d.channel.clone(),
                            d.queries.to_string(),
                            d.suspect.to_string(),
                        ]
                    });
                    attachment(
                        case_answers::csv_table("date,channel,queries,not_genuine", rows),
                        "statistics.csv",
                    )
                }
                Err(err) => unavailable(&err),
            }
        }
        Target::Cases | Target::CasesCsv => {
            let status = match param(&query, "status") {
                None => None,
                Some(s) => match CaseStatus::parse(s) {
                    Some(s) => Some(s),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_status",
                            "status must be one of open, delivered, acknowledged, \
                             investigating, closed",
                        )
                    }
                },
            };
            let limit = match param(&query, "limit").map(str::parse::<i64>) {
                None => 100,
                Some(Ok(n)) if (1..=10_000).contains(&n) => n,
                Some(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_limit",
                        "limit must be a number from 1 to 10000",
                    )
                }
            };
            match casework::list_of_enterprise(&core.store, e, status, limit).await {
                Ok(cases) if t == Target::Cases => {
                    json(StatusCode::OK, &serde_json::json!({ "cases": cases }))
                }
                Ok(cases) => attachment(cases_csv(&cases), "cases.csv"),
                Err(err) => case_error(&err),
            }
        }
        Target::Case(id) => show(core, e, id).await,
    }
}

/// `from`/`to` (China dates, `[from, to)`), default the 30 days up to and including today;
/// at most 366 days.
/// A refused window: the error code and message of a 400.
type BadWindow = (&'static str, String);

fn window(query: &str) -> Result<(NaiveDate, NaiveDate), BadWindow> {
    let date = |name: &str| date_param(query, name).map_err(|bad| (bad.0, bad.1));
    let to = match date("to")? {
        Some(d) => d,
        None => zhenwei_core::clock::today()
            .succ_opt()
            .unwrap_or_else(zhenwei_core::clock::today),
    };
    let from = match date("from")? {
        Some(d) => d,
        None => to - chrono::Duration::days(30),
    };
    let days = (to - from).num_days();
    if !(1..=366).contains(&days) {
        return Err((
            "invalid_window",
            "from must be before to, at most 366 days apart".into(),
        ));
    }
    Ok((from, to))
}

fn operator_error(e: &OperatorError) -> Response<Body> {
    match e {
        OperatorError::Store(_) => unavailable(e),
        OperatorError::UnknownOperator(_) => error(StatusCode::NOT_FOUND, e.code(), &e.to_string()),
        _ => error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    }
}

fn case_error(e: &CaseError) -> Response<Body> {
    match e {
        CaseError::NotFound(_) => error(StatusCode::NOT_FOUND, "case_not_found", &e.to_string()),
        CaseError::Store(_) => unavailable(e),
        _ => error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    }
}

async fn confirm(core: &Core, op: &Operator, name: &str) -> Response<Body> {
    // Another enterprise's operator is "not found", like one that does not exist.
    match operators::by_name(&core.store, name).await {
        Ok(Some(other)) if other.enterprise_id == op.enterprise_id => {}
        Ok(_) => {
            return operator_error(&OperatorError::UnknownOperator(name.to_owned()));
        }
        Err(e) => return operator_error(&e),
    }
    let actor = format!("enterprise:{}", op.name);
    match operators::confirm(&core.store, &actor, name, &op.name).await {
        Ok(o) => json(StatusCode::OK, &serde_json::json!({ "operator": o })),
        Err(e) => operator_error(&e),
    }
}

async fn show(core: &Core, enterprise: i64, id: Option<i64>) -> Response<Body> {
    let Some(id) = id else {
        return case_error(&CaseError::NotFound(0));
    };
    match casework::get_of_enterprise(&core.store, id, enterprise).await {
        Ok(case) => case_answers::with_report(core, &case, "enterprise")
            .await
            .unwrap_or_else(|e| case_error(&CaseError::Store(e))),
        Err(e) => case_error(&e),
    }
}

fn cases_csv(cases: &[CaseSummary]) -> String {
    let rows = cases.iter().map(|c| {
        [
            c.id.to_string(),
            c.reason.clone(),
            c.status.clone(),
            c.outcome.clone().unwrap_or_default(),
            c.place.clone().unwrap_or_default(),
            c.regulator_name.clone().unwrap_or_default(),
            c.product_name.clone().unwrap_or_default(),
            china_time(Some(c.opened_at)),
            china_time(c.closed_at),
            c.event_count.to_string(),
        ]
    });
    case_answers::csv_table(
        "id,reason,status,outcome,place,office,product,opened_china,closed_china,events",
        rows,
    )
}

const PORTAL_HTML: &str = include_str!("portal/enterprise.html");
const PORTAL_CSS: &str = include_str!("portal/enterprise.css");
const PORTAL_JS: &str = include_str!("portal/enterprise.js");

const PORTAL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                          connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                          form-action 'self'; frame-ancestors 'none'";

/// Whether a path is one of the portal page's.
pub fn is_portal_path(path: &str) -> bool {
    matches!(
        path,
        "/enterprise" | "/enterprise/" | "/enterprise/enterprise.css" | "/enterprise/enterprise.js"
    )
}

/// The portal page and its assets (static; the data comes from the API, which decides).
pub fn portal<B>(req: &Request<B>) -> Response<Body> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        );
    }
    let (body, content_type) = match path {
        "/enterprise/enterprise.css" => (PORTAL_CSS, "text/css; charset=utf-8"),
        "/enterprise/enterprise.js" => (PORTAL_JS, "text/javascript; charset=utf-8"),
        _ => (PORTAL_HTML, "text/html; charset=utf-8"),
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PORTAL_CSP),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(target("/v1/enterprise/me"), Some(Target::Me));
        assert_eq!(
            target("/v1/enterprise/cases/12"),
            Some(Target::Case(Some(12)))
        );
        assert_eq!(target("/v1/enterprise/cases/x"), Some(Target::Case(None)));
        assert_eq!(
            target("/v1/enterprise/operators/li-wei/confirm"),
            Some(Target::Confirm("li-wei".into()))
        );
        assert_eq!(target("/v1/enterprise/operators/li-wei"), None);
        assert_eq!(target("/v1/enterprise/other"), None);
        assert!(window("from=2026-11-01&to=2026-11-08").is_ok());
        assert!(window("from=2026-11-08&to=2026-11-01").is_err());
        assert!(window("from=2026-13-01").is_err());
    }
}
