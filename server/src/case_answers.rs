//! What the two case APIs — the regulators' (`regulator_api`) and the brand enterprises'
//! (`enterprise_api`) — answer alike, written once:
//!
//! * the request's query parameters ([`param`], [`date_param`]; a bad one is a [`BadParam`],
//!   answered with 400 and its code);
//! * one case together with its report, which records that the recipient viewed it
//!   ([`with_report`]);
//! * case lists and statistics as CSV downloads for spreadsheets ([`csv_table`] of
//!   [`field`]s, sent as an [`attachment`]).
//!
//! Who may see which case is decided by each API, never here.

use chrono::NaiveDate;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use zhenwei_core::cases::casework::CaseSummary;
use zhenwei_core::cases::report;
use zhenwei_core::clock::local_time;
use zhenwei_core::store::{now_ms, StoreError};
use zhenwei_core::Core;

use crate::http::{error, json, Body};

/// The value of query parameter `name`; an empty one counts as absent.
pub fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A query parameter that is not valid: its error code and message (answered with 400).
#[derive(Debug)]
pub struct BadParam(pub &'static str, pub String);

impl From<BadParam> for Response<Body> {
    fn from(b: BadParam) -> Self {
        error(StatusCode::BAD_REQUEST, b.0, &b.1)
    }
}

/// Query parameter `name` as a date `YYYY-MM-DD`, if given.
pub fn date_param(query: &str, name: &str) -> Result<Option<NaiveDate>, BadParam> {
    match param(query, name) {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| BadParam("invalid_date", format!("{name} must be a date YYYY-MM-DD"))),
    }
}

/// 200 with `{"case": …, "report": …}`: the case and its report for `recipient` (`regulator`
/// or `enterprise`), built as a `case.viewed` report.
pub async fn with_report(
    core: &Core,
    case: &CaseSummary,
    recipient: &str,
) -> Result<Response<Body>, StoreError> {
    let mut conn = core.store.pool().acquire().await?;
    let report = report::build(&mut *conn, case.id, "case.viewed", recipient, now_ms()).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "case": case, "report": report }),
    ))
}

/// One CSV field: quoted when needed; a leading `= + - @` is defused for spreadsheets.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV file as spreadsheets open it: a byte-order mark, the `header` line, then one line a
/// row, each value a [`field`], lines ended by CRLF.
pub fn csv_table<R: AsRef<[String]>>(header: &str, rows: impl IntoIterator<Item = R>) -> String {
    let mut out = format!("\u{feff}{header}\r\n");
    for row in rows {
        let fields: Vec<String> = row.as_ref().iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A time for a CSV column: China local time, empty when there is none.
pub fn china_time(ms: Option<i64>) -> String {
    ms.map(local_time).unwrap_or_default()
}

/// 200 with `body` as a CSV download named `filename`.
pub fn attachment(body: String, filename: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"{filename}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_dates() {
        assert_eq!(param("status=open&limit=5", "limit"), Some("5"));
        assert_eq!(param("status=&limit=5", "status"), None);
        assert_eq!(param("", "status"), None);
        assert_eq!(
            date_param("from=2026-03-01", "from").unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1)
        );
        assert_eq!(date_param("from=2026-03-01", "to").unwrap(), None);
        let bad = date_param("from=March", "from").unwrap_err();
        assert_eq!(bad.0, "invalid_date");
        assert_eq!(bad.1, "from must be a date YYYY-MM-DD");
    }

    #[test]
    fn csv_fields_and_tables() {
        assert_eq!(field("宁波, 海曙"), "\"宁波, 海曙\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(
            csv_table("a,b", [vec!["1".to_owned(), "x,y".to_owned()]]),
            "\u{feff}a,b\r\n1,\"x,y\"\r\n"
        );
        let r = attachment("x".into(), "cases.csv");
        assert_eq!(
            r.headers()[CONTENT_DISPOSITION],
            "attachment; filename=\"cases.csv\""
        );
        assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    }
}
