//! Regulatory feeds at the edge: `zhenwei feed …` on the command line, and
//! `POST /v1/feeds/{kind}` for regulators over HTTP. Both call the same
//! [`zhenwei_core::feeds::import`]; this module only reads files and requests and prints or
//! answers the [`ImportReport`].
//!
//! HTTP: the body is the feed file itself (CSV or JSON, UTF-8 or GB18030, up to
//! [`MAX_FEED_BODY`]); `Authorization: Bearer TOKEN` names the regulator (tokens from
//! `zhenwei feed token add`; the database keeps only their hashes and nothing here logs them).
//! 401 without a valid token, 403 when the token may not post this kind, 200 with the report
//! when applied, 422 with the report (its `rejected` rows) when bad rows stopped the import.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use zhenwei_core::clock::local_time;
use zhenwei_core::feeds::apply::ImportOptions;
use zhenwei_core::feeds::decode::Format;
use zhenwei_core::feeds::{self, outbox, tokens, FeedError, FeedKind, ImportReport};
use zhenwei_core::Core;

use crate::cli::{FeedCmd, FeedTokenCmd};
use crate::http::{error, json, Body};

/// Largest feed file accepted over HTTP.
pub const MAX_FEED_BODY: usize = 8 * 1024 * 1024;

const PREFIX: &str = "/v1/feeds/";

macro_rules! out {
    ($($t:tt)*) => { crate::emit(&format!($($t)*)) };
}

fn kind_of(s: &str) -> Result<FeedKind> {
    FeedKind::parse(s).with_context(|| format!("unknown feed kind {s:?}"))
}

/// Runs `zhenwei feed …`.
pub async fn command(core: &Core, actor: &str, cmd: FeedCmd) -> Result<ExitCode> {
    let store = &core.store;
    match cmd {
        FeedCmd::Import {
            kind,
            file,
            format,
            skip_bad_rows,
            json,
        } => {
            let kind = kind_of(&kind)?;
            let bytes = read_file(&file)?;
            let opts = ImportOptions {
                actor: actor.to_owned(),
                file_name: file.file_name().map(|n| n.to_string_lossy().into_owned()),
                format: format.as_deref().and_then(Format::parse),
                skip_bad_rows,
            };
            let report = feeds::import(store, kind, &bytes, &opts)
                .await
                .with_context(|| format!("{} is not a {kind} feed", file.display()))?;
            if json {
                out!("{}", serde_json::to_string(&report)?);
            } else {
                for r in &report.rejected {
                    out!("{r}");
                }
                out!("{}", report.summary());
            }
            if !report.applied {
                bail!("{}", not_applied(&report));
            }
        }
        FeedCmd::List { kind, all, json } => {
            let kind = kind.as_deref().map(kind_of).transpose()?;
            let entries = feeds::list_entries(store, kind, all).await?;
            if json {
                out!("{}", serde_json::to_string(&entries)?);
            } else if entries.is_empty() {
                out!("no feed entries");
            } else {
                for e in entries {
                    let target = [
                        e.gtin.as_deref().map(|g| format!("gtin {g}")),
                        e.licence_no.as_deref().map(|l| format!("no. {l}")),
                        e.cert_no.as_deref().map(|c| format!("cert {c}")),
                        e.credit_code.as_deref().map(|c| format!("enterprise {c}")),
                        e.lot.as_deref().map(|l| format!("lots {l}")),
                        e.valid_until.as_deref().map(|d| format!("until {d}")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                    out!(
                        "{} {} {}{} [{}] import #{}{}",
                        e.kind,
                        e.reference,
                        e.status,
                        if e.active == 1 { "" } else { " (inactive)" },
                        target,
                        e.import_id
                            .map(|i| i.to_string())
                            .unwrap_or_else(|| "-".into()),
                        e.updated_at
                            .map(|t| format!(" {}", local_time(t)))
                            .unwrap_or_default()
                    );
                }
            }
        }
        FeedCmd::Imports { limit, json } => {
            let imports = feeds::list_imports(store, limit).await?;
            if json {
                out!("{}", serde_json::to_string(&imports)?);
            } else if imports.is_empty() {
                out!("no imports");
            } else {
                for i in imports {
                    out!(
                        "#{} {} {} by {} {} sha256:{} {} rows: {} added, {} updated, {} withdrawn, {} unchanged, {} rejected, {} notices",
                        i.id,
                        local_time(i.at),
                        i.kind,
                        i.actor,
                        i.file_name.as_deref().unwrap_or("-"),
                        i.file_sha256.get(..16).unwrap_or(&i.file_sha256),
                        i.rows_total,
                        i.added,
                        i.updated,
                        i.withdrawn,
                        i.unchanged,
                        i.rows_rejected,
                        i.notifications
                    );
                }
            }
        }
        FeedCmd::Outbox { limit, json } => {
            let rows = outbox::list(store, limit).await?;
            if json {
                out!("{}", serde_json::to_string(&rows)?);
            } else if rows.is_empty() {
                out!("no recall notices");
            } else {
                for r in rows {
                    out!(
                        "#{} {} recall {} lot {} {} (attempts {})",
                        r.id,
                        r.source,
                        r.reference,
                        r.lot.as_deref().unwrap_or("-"),
                        r.state,
                        r.attempts
                    );
                }
            }
        }
        FeedCmd::Notices {
            stuck,
            lease_secs,
            json,
            cmd,
        } => {
            if let Some(crate::cli::NoticesCmd::Retry { id }) = cmd {
                match outbox::retry(store, id).await? {
                    Ok(()) => out!("notice #{id} is pending again; the server sends it next"),
                    Err(outbox::RetryRefused::NotFound) => bail!("no recall notice #{id}"),
                    Err(outbox::RetryRefused::State(s)) => {
                        bail!("notice #{id} is {s}: only sending or failed notices are retried")
                    }
                    Err(outbox::RetryRefused::AlreadyAccepted) => bail!(
                        "notice #{id} was accepted by the SMSC (see `zhenwei sms receipts`); \
                         retrying would send it twice"
                    ),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let now = zhenwei_core::store::now_ms();
            let rows = if stuck {
                outbox::stuck(store, lease_secs.saturating_mul(1000), now).await?
            } else {
                outbox::list(store, i64::MAX).await?
            };
            if json {
                out!("{}", serde_json::to_string(&rows)?);
            } else if rows.is_empty() {
                out!(
                    "{}",
                    if stuck {
                        "no stuck recall notices"
                    } else {
                        "no recall notices"
                    }
                );
            } else {
                for r in rows {
                    out!(
                        "#{} {} recall {} lot {} {} (attempts {}, {} s ago)",
                        r.id,
                        r.source,
                        r.reference,
                        r.lot.as_deref().unwrap_or("-"),
                        r.state,
                        r.attempts,
                        (now - r.updated_at) / 1000
                    );
                }
            }
        }
        FeedCmd::Token(FeedTokenCmd::Add { name, kinds }) => {
            let kinds = kinds
                .iter()
                .map(|k| kind_of(k))
                .collect::<Result<Vec<_>>>()?;
            let token = tokens::issue(store, actor, &name, &kinds).await?;
            eprintln!(
                "token of regulator {name}: shown once, only its hash is stored; send it as \
                 \"Authorization: Bearer TOKEN\" to POST /v1/feeds/KIND"
            );
            out!("{token}");
        }
        FeedCmd::Token(FeedTokenCmd::Revoke { name }) => {
            tokens::revoke(store, actor, &name).await?;
            out!("token of regulator {name} revoked");
        }
        FeedCmd::Token(FeedTokenCmd::List { json }) => {
            let list = tokens::list(store).await?;
            if json {
                out!("{}", serde_json::to_string(&list)?);
            } else {
                for t in list {
                    let kinds: Vec<&str> = t.kinds.iter().map(|k| k.as_str()).collect();
                    out!(
                        "{} [{}] issued {}{}",
                        t.name,
                        kinds.join(","),
                        local_time(t.created_at),
                        t.revoked_at
                            .map(|r| format!(", revoked {}", local_time(r)))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn not_applied(r: &ImportReport) -> String {
    let valid = r.rows - r.rejected.len() as u64;
    format!(
        "{} of {} rows are invalid; nothing was imported (fix them, or pass --skip-bad-rows to import the {valid} valid rows)",
        r.rejected.len(),
        r.rows
    )
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

// ---- HTTP --------------------------------------------------------------------------------

/// `/v1/feeds/{kind}`: one path segment after the prefix.
pub fn is_feed_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|k| !k.is_empty() && !k.contains('/'))
}

fn unauthorized(message: &str) -> Response<Body> {
    let mut r = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"zhenwei feeds\""),
    );
    r
}

fn unavailable(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "feed import failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the feed service is temporarily unavailable; please try again",
    )
}

/// The query string's options: `skip_bad_rows=true|false`, `format=csv|json`.
fn options(query: Option<&str>) -> Result<(bool, Option<Format>), String> {
    let mut skip = false;
    let mut format = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (k, v) {
            ("skip_bad_rows", "true" | "1" | "") => skip = true,
            ("skip_bad_rows", "false" | "0") => skip = false,
            ("format", f) if Format::parse(f).is_some() => format = Format::parse(f),
            _ => {
                return Err(format!(
                    "unknown query parameter {pair:?} (allowed: skip_bad_rows=true|false, format=csv|json)"
                ))
            }
        }
    }
    Ok((skip, format))
}

/// Feed posts one token may make at once, and per minute after that: imports are heavy (a
/// file, a transaction, cache invalidation), and a runaway client must not starve the service.
pub const POST_LIMIT: zhenwei_core::rate_limit::Limit = zhenwei_core::rate_limit::Limit {
    burst: 20,
    per_minute: 60.0,
};

static POSTS: std::sync::OnceLock<std::sync::Mutex<zhenwei_core::rate_limit::RateLimiter<String>>> =
    std::sync::OnceLock::new();

/// `429` with `Retry-After` in the API's error shape when `regulator` posts too often.
fn rate_limited(regulator: &str) -> Option<Response<Body>> {
    use zhenwei_core::rate_limit::{Decision, RateLimiter};
    let limiter = POSTS.get_or_init(|| std::sync::Mutex::new(RateLimiter::new(POST_LIMIT, 10_000)));
    let decision = limiter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .check(regulator.to_owned(), std::time::Instant::now());
    let Decision::Limited { retry_after } = decision else {
        return None;
    };
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let secs = secs.max(1);
    tracing::info!(regulator = %regulator, "feed post refused: rate limit");
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!(
            "at most {} feed posts at once and {} per minute per token; retry in {secs} s",
            POST_LIMIT.burst, POST_LIMIT.per_minute
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
    }
    Some(r)
}

/// Answers a request on `/v1/feeds/{kind}`.
pub async fn respond(core: &Core, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed on {}", req.method(), req.uri().path()),
        );
    }
    // Who: the bearer token (never logged).
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        });
    let Some(token) = token else {
        return unauthorized("send the regulator's token as \"Authorization: Bearer TOKEN\"");
    };
    let regulator = match tokens::authenticate(&core.store, &token).await {
        Ok(Some(r)) => r,
        Ok(None) => return unauthorized("the token is unknown or revoked"),
        Err(e) => return unavailable(&e),
    };
    let name = req.uri().path().get(PREFIX.len()..).unwrap_or_default();
    let Some(kind) = FeedKind::parse(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_feed_kind",
            &format!("no feed kind {name:?}: use recall, spot-check, ccc, licence or blacklist"),
        );
    };
    if !regulator.may_post(kind) {
        tracing::info!(regulator = %regulator.name, kind = %kind, "feed refused: kind not allowed");
        return error(
            StatusCode::FORBIDDEN,
            "feed_kind_not_allowed",
            &format!("regulator {} may not post {kind} feeds", regulator.name),
        );
    }
    if let Some(refused) = rate_limited(&regulator.name) {
        return refused;
    }
    let (skip_bad_rows, mut format) = match options(req.uri().query()) {
        Ok(o) => o,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_query", &why),
    };
    if format.is_none() {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if ct.starts_with("text/csv") {
            format = Some(Format::Csv);
        } else if ct.starts_with("application/json") {
            format = Some(Format::Json);
        }
    }
    let bytes = match Limited::new(req.into_body(), MAX_FEED_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("feed files are limited to {MAX_FEED_BODY} bytes; split the file"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "the request body could not be read",
            )
        }
    };
    let opts = ImportOptions {
        actor: format!("regulator:{}", regulator.name),
        file_name: None,
        format,
        skip_bad_rows,
    };
    match feeds::import(&core.store, kind, &bytes, &opts).await {
        Ok(report) => {
            tracing::info!(regulator = %regulator.name, kind = %kind, applied = report.applied, import = ?report.import_id, rows = report.rows, rejected = report.rejected.len(), "feed import");
            let status = if report.applied {
                crate::sip::render_posted_feed_advice(&core.store);
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            match serde_json::to_value(&report) {
                Ok(v) => json(status, &v),
                Err(e) => unavailable(&e),
            }
        }
        Err(FeedError::Unreadable(why)) => error(StatusCode::BAD_REQUEST, "feed_unreadable", &why),
        Err(FeedError::Invalid(why)) => error(StatusCode::BAD_REQUEST, "feed_invalid", &why),
        Err(e @ (FeedError::NotFound(_) | FeedError::Store(_))) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_paths() {
        assert!(is_feed_path("/v1/feeds/recall"));
        assert!(is_feed_path("/v1/feeds/anything"));
        assert!(!is_feed_path("/v1/feeds/"));
        assert!(!is_feed_path("/v1/feeds"));
        assert!(!is_feed_path("/v1/feeds/recall/1"));
    }

    #[test]
    fn query_options() {
        assert_eq!(options(None), Ok((false, None)));
        assert_eq!(
            options(Some("skip_bad_rows=true&format=json")),
            Ok((true, Some(Format::Json)))
        );
        assert!(options(Some("skip=1")).is_err());
        assert!(options(Some("format=xml")).is_err());
    }
}
