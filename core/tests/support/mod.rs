//! Runs one test body against both storage backends.
//!
//! SQLite: a fresh file in a temporary data directory. PostgreSQL: a fresh database on the server
//! named by `ZHENWEI_TEST_PG` (e.g. `postgres://postgres@127.0.0.1:54329/postgres`, see
//! `.ci/pg-start`). Without `ZHENWEI_TEST_PG` the PostgreSQL variant is skipped locally and
//! **fails** when `CI=true`.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use zhenwei_core::{Core, Location, Thresholds};

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// An opened core on a fresh database; the temp dir lives as long as it does.
pub struct Fixture {
    pub core: Core,
    pub location: Location,
    pub dir: tempfile::TempDir,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `Some(())` when the PostgreSQL variant should run, `None` to skip it (never under CI).
pub fn pg_url() -> Option<String> {
    match std::env::var("ZHENWEI_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but ZHENWEI_TEST_PG is not set: the PostgreSQL suite must run in CI"
                );
            }
            eprintln!("skipping the PostgreSQL variant: ZHENWEI_TEST_PG is not set");
            None
        }
    }
}

async fn fresh_pg_database(admin_url: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!(
        "zw_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand_suffix()
    );
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .expect("connect to ZHENWEI_TEST_PG");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{base}/{name}{query}")
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

pub async fn fixture(db: Db, thresholds: Thresholds) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(fresh_pg_database(&pg_url().expect("checked by the macro")).await),
    };
    let loc = Location {
        data_dir: dir.path().join("data"),
        database_url,
        key_file: None,
    };
    let core = Core::open(&loc, thresholds).await.expect("open core");
    Fixture {
        core,
        location: loc,
        dir,
    }
}

/// Declares `mod $name { sqlite(), postgres() }` running `$name(Db)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::support::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if $crate::support::pg_url().is_some() {
                    super::$name($crate::support::Db::Postgres).await
                }
            }
        }
    )*};
}

/// The report of a claimed delivery as the delivery worker builds it, at this attempt.
pub async fn build_report(
    store: &zhenwei_core::Store,
    d: &zhenwei_core::cases::outbox::Claimed,
) -> zhenwei_core::cases::report::Built {
    let mut conn = store.pool().acquire().await.unwrap();
    zhenwei_core::cases::report::for_delivery(&mut *conn, d, zhenwei_core::store::now_ms())
        .await
        .unwrap()
}

/// Builds the report of claimed delivery `d` and records it delivered, as the worker does after
/// a 2xx answer; the report sent, or `None` when the claim had been lost.
pub async fn send_and_mark(
    store: &zhenwei_core::Store,
    d: &zhenwei_core::cases::outbox::Claimed,
) -> Option<serde_json::Value> {
    let built = build_report(store, d).await;
    let rule = zhenwei_core::cases::CaseRules::default().rule();
    zhenwei_core::cases::casework::delivered(store, d, &built, zhenwei_core::store::now_ms(), &rule)
        .await
        .unwrap()
        .then(|| serde_json::from_str(&built.body).unwrap())
}
