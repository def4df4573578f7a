//! The regulator API: a market-supervision office works its cases over HTTPS.
//!
//! Every request must come over TLS with a client certificate pinned to a regulator account
//! (`zhenwei regulator issue`, `zhenwei_core::cases::accounts`), not revoked. The account's office
//! prefix is its jurisdiction, enforced here on every request — not in any page: a case outside
//! it is answered exactly like a case that does not exist (404), so a county office cannot even
//! learn that another county's case numbers exist.
//!
//! | request | does |
//! |---|---|
//! | `GET /v1/regulator/cases?status=&reason=&limit=&from=&to=&within=&gtin=` | the cases within the jurisdiction, newest first (`from`/`to`: opening dates in China, inclusive; `within`: a narrower division prefix, e.g. a city; `gtin`: one product) |
//! | `GET /v1/regulator/cases.csv` | the same as CSV (UTF-8 with BOM, for spreadsheets) |
//! | `GET /v1/regulator/cases/{id}` | one case and its report (product, enterprise, evidence) |
//! | `GET /v1/regulator/cases/{id}/history` | its deliveries, escalations and audit trail |
//! | `GET /v1/regulator/cases/{id}/12315` (`?format=html`: printable page) | the case as a 12315 complaint/report form |
//! | `GET /v1/regulator/dashboard?from=&to=&within=` | the dashboard's figures within the jurisdiction (per day by reason, by city, top products, ageing) |
//! | `GET /v1/regulator/me` | the account, its office and jurisdiction |
//! | `POST /v1/regulator/cases/{id}/acknowledge` `{"note"?}` | acknowledge (stops escalation) |
//! | `POST /v1/regulator/cases/{id}/status` `{"status": "investigating", "note"?}` | change status |
//! | `POST /v1/regulator/cases/{id}/outcome` `{"outcome", "note"?}` | close with an outcome, reported to the enterprise |
//!
//! Status changes follow the lifecycle (`zhenwei_core::cases::status`); an invalid one is 409.
//! Aggregates are computed from the jurisdiction's rows only, so no count leaks across offices.

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::sync::OnceLock;

use serde::Deserialize;
use zhenwei_core::cases::accounts::{self, Account};
use zhenwei_core::cases::calendar::{china_date, china_midnight};
use zhenwei_core::cases::casework::{self, CaseSummary, Filter};
use zhenwei_core::cases::status::{CaseStatus, Change, Outcome};
use zhenwei_core::cases::CaseError;
use zhenwei_core::cases::{complaint, dashboard, history, routing, CaseRules};
use zhenwei_core::store::now_ms;
use zhenwei_core::Core;

use crate::case_answers::{self, china_time, date_param, param, BadParam};
use crate::http::{error, json, read_body, Body, Peer};

const ROOT: &str = "/v1/regulator/";

/// Whether a path belongs to this API.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with(ROOT)
}

/// What a path names.
enum Target {
    List,
    Csv,
    Dashboard,
    Me,
    Case(Option<i64>),
    History(Option<i64>),
    Form12315(Option<i64>),
    Action(Option<i64>, &'static str),
}

fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix(ROOT)?;
    match rest {
        "cases" => return Some(Target::List),
        "cases.csv" => return Some(Target::Csv),
        "dashboard" => return Some(Target::Dashboard),
        "me" => return Some(Target::Me),
        _ => {}
    }
    let rest = rest.strip_prefix("cases/")?;
    let (id, action) = match rest.split_once('/') {
        Some((id, a)) => (id, Some(a)),
        None => (rest, None),
    };
    // "{id}" (as documented) or a number; anything else is not found after authentication.
    let id = id.parse::<i64>().ok();
    match action {
        None => Some(Target::Case(id)),
        Some("acknowledge") => Some(Target::Action(id, "acknowledge")),
        Some("status") => Some(Target::Action(id, "status")),
        Some("outcome") => Some(Target::Action(id, "outcome")),
        Some("history") => Some(Target::History(id)),
        Some("12315") => Some(Target::Form12315(id)),
        Some(_) => None,
    }
}

static RULES: OnceLock<CaseRules> = OnceLock::new();

/// The case rules (working-day calendar and limit) the dashboard's ageing is measured with;
/// `zhenwei serve` installs them from its configuration (defaults otherwise).
pub fn install_rules(rules: CaseRules) {
    let _ = RULES.set(rules);
}

fn rules() -> CaseRules {
    RULES.get().cloned().unwrap_or_default()
}

/// Why a request was refused before looking at any case (403).
fn refuse(peer: &Peer, code: &str, message: &str) -> Response<Body> {
    tracing::info!(peer = %peer.addr, code, "regulator API request refused");
    error(StatusCode::FORBIDDEN, code, message)
}

/// The regulator account of the peer's client certificate, or the refusal (403) to answer with.
pub async fn authenticate(core: &Core, peer: &Peer) -> Result<Account, Response<Body>> {
    let Some(cert) = &peer.client_cert else {
        return Err(refuse(
            peer,
            "regulator_certificate_required",
            "the regulator API needs HTTPS with a regulator account's client certificate \
             (`zhenwei regulator issue`)",
        ));
    };
    match accounts::by_certificate(&core.store, &cert.sha256).await {
        Ok(Some(a)) if a.revoked_at.is_none() => Ok(a),
        Ok(Some(a)) => Err(refuse(
            peer,
            "regulator_certificate_revoked",
            &format!(
                "the certificate of regulator account {:?} has been revoked",
                a.name
            ),
        )),
        Ok(None) => Err(refuse(
            peer,
            "regulator_certificate_unknown",
            "this client certificate belongs to no regulator account, or has been replaced",
        )),
        Err(e) => Err(case_error(&e)),
    }
}

fn case_error(e: &CaseError) -> Response<Body> {
    match e {
        CaseError::NotFound(_) => error(StatusCode::NOT_FOUND, "case_not_found", &e.to_string()),
        CaseError::Transition(_) => error(StatusCode::CONFLICT, e.code(), &e.to_string()),
        CaseError::Store(_) => {
            tracing::error!(error = %e, "regulator API failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the case service is temporarily unavailable; please try again",
            )
        }
        _ => error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
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
        Target::List
        | Target::Csv
        | Target::Case(_)
        | Target::Dashboard
        | Target::Me
        | Target::History(_)
        | Target::Form12315(_) => Method::GET,
        Target::Action(..) => Method::POST,
    };
    if req.method() != allowed {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {path}", req.method()),
        );
    }
    let account = match authenticate(core, peer).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = req.uri().query().unwrap_or_default().to_owned();
    match t {
        Target::List => match list(core, &account, &query).await {
            Ok(cases) => json(StatusCode::OK, &serde_json::json!({ "cases": cases })),
            Err(r) => r,
        },
        Target::Csv => match list(core, &account, &query).await {
            Ok(cases) => csv_response(&cases),
            Err(r) => r,
        },
        Target::Case(id) => show(core, &account, id).await,
        Target::Dashboard => dashboard(core, &account, &query).await,
        Target::Me => ok_json(&account),
        Target::History(id) => history(core, &account, id).await,
        Target::Form12315(id) => form_12315(core, &account, id, &query).await,
        Target::Action(id, what) => act(core, &account, id, what, req).await,
    }
}

async fn list(core: &Core, a: &Account, query: &str) -> Result<Vec<CaseSummary>, Response<Body>> {
    let status = match param(query, "status") {
        None => None,
        Some(s) => Some(CaseStatus::parse(s).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_status",
                "status must be one of open, delivered, acknowledged, investigating, closed",
            )
        })?),
    };
    let limit = match param(query, "limit") {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_limit",
                    "limit must be a number from 1 to 10000",
                )
            })?,
    };
    let reason = param(query, "reason")
        .filter(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_owned);
    let Some(within) = narrow(&a.prefix, param(query, "within")).map_err(Response::from)? else {
        return Ok(Vec::new()); // a place outside the jurisdiction: nothing to see
    };
    let from = date_param(query, "from").map_err(Response::from)?;
    let to = date_param(query, "to").map_err(Response::from)?;
    let gtin = match param(query, "gtin") {
        None => None,
        Some(g) if g.len() <= 14 && g.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("{g:0>14}"))
        }
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_gtin",
                "gtin must be up to 14 digits",
            ))
        }
    };
    casework::list(
        &core.store,
        &Filter {
            within: Some(within),
            status,
            reason,
            limit,
            opened_from: from.map(china_midnight),
            opened_before: to.map(|d| china_midnight(d + chrono::Duration::days(1))),
            gtin,
        },
    )
    .await
    .map_err(|e| case_error(&e))
}

/// 200 with `v` as JSON.
fn ok_json<T: serde::Serialize>(v: &T) -> Response<Body> {
    match serde_json::to_value(v) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => {
            tracing::error!(error = %e, "regulator API answer not serialisable");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the answer could not be written",
            )
        }
    }
}

/// The prefix to filter with: the account's jurisdiction, or a narrower division the request
/// names within it. `None` when the requested place lies outside the jurisdiction.
fn narrow(jurisdiction: &str, requested: Option<&str>) -> Result<Option<String>, BadParam> {
    let Some(r) = requested else {
        return Ok(Some(jurisdiction.to_owned()));
    };
    let r =
        routing::parse_prefix(r).map_err(|e| BadParam("invalid_within", format!("within: {e}")))?;
    Ok(if r.starts_with(jurisdiction) {
        Some(r)
    } else if jurisdiction.starts_with(&r) {
        Some(jurisdiction.to_owned())
    } else {
        None
    })
}

async fn dashboard(core: &Core, a: &Account, query: &str) -> Response<Body> {
    let now = now_ms();
    let (from, to) = match (date_param(query, "from"), date_param(query, "to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r.into(),
    };
    let to = to.unwrap_or_else(|| china_date(now));
    let from = from.unwrap_or(to - chrono::Duration::days(13));
    if from > to || (to - from).num_days() >= dashboard::MAX_DAYS {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_range",
            &format!(
                "from must not be after to, and the range at most {} days",
                dashboard::MAX_DAYS
            ),
        );
    }
    let within = match narrow(&a.prefix, param(query, "within")) {
        Ok(Some(w)) => w,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "outside_jurisdiction",
                "that place lies outside this account's jurisdiction",
            )
        }
        Err(r) => return r.into(),
    };
    let rules = rules();
    match dashboard::load(&core.store, &within, from, to).await {
        Ok(cases) => ok_json(&dashboard::aggregate(
            &within,
            &cases,
            from,
            to,
            now,
            &rules.rule().calendar,
            rules.escalate_after_working_days,
        )),
        Err(e) => case_error(&e),
    }
}

async fn history(core: &Core, a: &Account, id: Option<i64>) -> Response<Body> {
    let Some(id) = id else {
        return case_error(&CaseError::NotFound(0));
    };
    if let Err(e) = casework::get(&core.store, id, Some(&a.prefix)).await {
        return case_error(&e);
    }
    match history::load(&core.store, id).await {
        Ok(h) => ok_json(&h),
        Err(e) => case_error(&e),
    }
}

async fn form_12315(core: &Core, a: &Account, id: Option<i64>, query: &str) -> Response<Body> {
    let Some(id) = id else {
        return case_error(&CaseError::NotFound(0));
    };
    if let Err(e) = casework::get(&core.store, id, Some(&a.prefix)).await {
        return case_error(&e);
    }
    let form = match complaint::build(&core.store, id, now_ms()).await {
        Ok(f) => f,
        Err(e) => return case_error(&e),
    };
    match param(query, "format") {
        None | Some("json") => json(StatusCode::OK, &form),
        Some("html") => crate::portal::form_12315_html(&form),
        Some(_) => error(
            StatusCode::BAD_REQUEST,
            "invalid_format",
            "format must be json or html",
        ),
    }
}

async fn show(core: &Core, a: &Account, id: Option<i64>) -> Response<Body> {
    let Some(id) = id else {
        return case_error(&CaseError::NotFound(0));
    };
    match casework::get(&core.store, id, Some(&a.prefix)).await {
        Ok(case) => case_answers::with_report(core, &case, "regulator")
            .await
            .unwrap_or_else(|e| case_error(&CaseError::Store(e))),
        Err(e) => case_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
}

async fn act(
    core: &Core,
    a: &Account,
    id: Option<i64>,
    what: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let b: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody {
            note: None,
            status: None,
            outcome: None,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    &format!("the body is not a valid request: {e}"),
                )
            }
        }
    };
    let change = match what {
        "acknowledge" => Change::Acknowledge,
        "status" => match b.status.as_deref() {
            Some("acknowledged") => Change::Acknowledge,
            Some("investigating") => Change::Investigate,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_status",
                    "status must be \"acknowledged\" or \"investigating\"; close a case by \
                     recording its outcome",
                )
            }
        },
        _ => match b.outcome.as_deref().and_then(Outcome::parse) {
            Some(o) => Change::Close(o),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_outcome",
                    "outcome must be one of confirmed_counterfeit, genuine, no_action, \
                     referred_to_police",
                )
            }
        },
    };
    let Some(id) = id else {
        return case_error(&CaseError::NotFound(0));
    };
    let actor = format!("regulator:{}", a.name);
    match casework::change(
        &core.store,
        &actor,
        id,
        change,
        Some(&a.prefix),
        b.note.as_deref(),
        now_ms(),
    )
    .await
    {
        Ok(c) => json(StatusCode::OK, &serde_json::json!({ "case": c })),
        Err(e) => case_error(&e),
    }
}

fn csv_response(cases: &[CaseSummary]) -> Response<Body> {
    let rows = cases.iter().map(|c| {
        [
            c.id.to_string(),
            c.reason.clone(),
            c.status.clone(),
            c.outcome.clone().unwrap_or_default(),
            c.place.clone().unwrap_or_default(),
            c.regulator_name.clone().unwrap_or_default(),
            c.product_name.clone().unwrap_or_default(),
            c.enterprise_name.clone().unwrap_or_default(),
            china_time(Some(c.opened_at)),
            china_time(c.delivered_at),
            china_time(c.due_at),
            c.event_count.to_string(),
        ]
    });
    case_answers::attachment(
        case_answers::csv_table(
            "id,reason,status,outcome,place,office,product,enterprise,opened_china,delivered_china,due_china,events",
            rows,
        ),
        "cases.csv",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_places() {
        assert!(matches!(target("/v1/regulator/cases"), Some(Target::List)));
        assert!(matches!(
            target("/v1/regulator/cases/12"),
            Some(Target::Case(Some(12)))
        ));
        assert!(matches!(
            target("/v1/regulator/cases/{id}"),
            Some(Target::Case(None))
        ));
        assert!(matches!(
            target("/v1/regulator/cases/7/outcome"),
            Some(Target::Action(Some(7), "outcome"))
        ));
        assert!(target("/v1/regulator/cases/7/delete").is_none());
        assert!(matches!(
            target("/v1/regulator/cases/7/12315"),
            Some(Target::Form12315(Some(7)))
        ));
        assert!(matches!(
            target("/v1/regulator/dashboard"),
            Some(Target::Dashboard)
        ));
        // A narrower place within the jurisdiction narrows; a broader one is the jurisdiction;
        // a foreign one is nothing.
        assert_eq!(narrow("33", Some("3302")).ok(), Some(Some("3302".into())));
        assert_eq!(narrow("3302", Some("33")).ok(), Some(Some("3302".into())));
        assert_eq!(narrow("3302", Some("3301")).ok(), Some(None));
        assert_eq!(narrow("", None).ok(), Some(Some(String::new())));
        assert!(target("/v1/regulator/other").is_none());
    }
}
