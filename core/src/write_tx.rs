//! One write transaction, two ways to run it.
//!
//! Most of zhenwei talks to the database through sqlx's `Any` pool. The recorder is different:
//! it is the hot path (every verify writes), and on SQLite sqlx runs each statement on a worker
//! thread of its own, handing the statement over and every result row back through a channel —
//! a thread wake-up per message. Under load those hand-offs cost more CPU than SQLite's own
//! work (see `bench/RESULTS.md`). So on SQLite the recorder owns a plain connection on a thread
//! of its own and runs its statements in place.
//!
//! To keep *one* implementation of what a batch writes, the recorder's logic (and the audit
//! chain it appends to) is written against [`WriteTx`]: run a statement with positional
//! parameters, get rows of plain values back. Both executors take the same SQL text — `$1`-style
//! parameters are numbered in order of appearance, which SQLite binds by position too.

use std::future::Future;

use sqlx::{Any, Column, Row as _, Transaction, TypeInfo, ValueRef};

use crate::store::StoreError;

/// A statement parameter or a result column. NULLs carry their type: PostgreSQL checks a
/// parameter's type even when its value is NULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(v.clone())
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::NullInt, Param::Int)
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::NullText, Param::Text)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Param::NullText, Into::into)
    }
}

/// `($1, $2, …), ($n, …)` for `rows` rows of `cols` parameters, numbered from 1.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for row in 0..rows {
        if row > 0 {
            s.push(',');
        }
        s.push('(');
        for col in 0..cols {
            if col > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&(row * cols + col + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// `$1, $2, …, $n`: the parameters of an `IN (…)` list of `n` values.
pub fn param_list(n: usize) -> String {
    param_list_from(1, n)
}

/// `$first, …`: `n` parameters numbered from `first`.
pub fn param_list_from(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One result row.
#[derive(Clone, Debug, Default)]
pub struct Row(pub Vec<Param>);

impl Row {
    fn column(&self, i: usize) -> Result<&Param, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Decode(format!("no column {i}")))
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Decode(format!("column {i} is NULL")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.column(i)? {
            Param::Int(v) => Ok(Some(*v)),
            Param::NullInt | Param::NullText => Ok(None),
            Param::Text(_) => Err(StoreError::Decode(format!("column {i} is text"))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Decode(format!("column {i} is NULL")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.column(i)? {
            Param::Text(v) => Ok(Some(v.clone())),
            Param::NullInt | Param::NullText => Ok(None),
            Param::Int(_) => Err(StoreError::Decode(format!("column {i} is a number"))),
        }
    }
}

/// An open write transaction: statements with positional parameters, rows of plain values.
pub trait WriteTx {
    /// Runs a statement and returns every row it produces.
    fn fetch(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>>;

    /// Runs a statement that returns no rows; the number of rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<u64, StoreError>>;

    /// Runs a statement that returns exactly one row.
    fn fetch_one(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<Row, StoreError>> {
        async move {
            self.fetch(sql, params)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Decode("the statement returned no row".into()))
        }
    }
}

fn bind_all<'q>(
    sql: &'q str,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Text(v) => q.bind(v),
            Param::NullInt => q.bind(None::<i64>),
            Param::NullText => q.bind(None::<String>),
        };
    }
    q
}

fn any_row(row: &sqlx::any::AnyRow) -> Result<Row, StoreError> {
    use sqlx::any::AnyTypeInfoKind as Kind;
    let mut out = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            out.push(Param::NullText);
            continue;
        }
        let kind = raw.type_info().kind();
        out.push(match kind {
            Kind::Bool | Kind::SmallInt | Kind::Integer | Kind::BigInt => {
                Param::Int(row.try_get::<i64, _>(i)?)
            }
            Kind::Text => Param::Text(row.try_get::<String, _>(i)?),
            other => {
                return Err(StoreError::Decode(format!(
                    "column {} has unsupported type {other:?} ({})",
                    row.columns()[i].name(),
                    raw.type_info().name()
                )))
            }
        });
    }
    Ok(Row(out))
}

impl WriteTx for Transaction<'_, Any> {
    async fn fetch(&mut self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let rows = bind_all(sql, params).fetch_all(&mut **self).await?;
        rows.iter().map(any_row).collect()
    }

    async fn execute(&mut self, sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
        Ok(bind_all(sql, params)
            .execute(&mut **self)
            .await?
            .rows_affected())
    }
}

impl WriteTx for sqlx::AnyConnection {
    async fn fetch(&mut self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let rows = bind_all(sql, params).fetch_all(&mut *self).await?;
        rows.iter().map(any_row).collect()
    }

    async fn execute(&mut self, sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
        Ok(bind_all(sql, params)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }
}

/// A transaction on the recorder's own SQLite connection.
pub struct SqliteTx<'c> {
    pub tx: rusqlite::Transaction<'c>,
    /// Per statement text, which `$N` each SQLite parameter slot takes (looking names up is
    /// linear in SQLite, so a 1,200-parameter insert must not do it per slot per run).
    pub slots: &'c mut std::collections::HashMap<String, Vec<usize>>,
}

/// Binds `$N` parameters by their number, as sqlx does (SQLite numbers its slots in order of
/// first appearance, which need not be the order of N).
fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    slots: &mut std::collections::HashMap<String, Vec<usize>>,
    sql: &str,
    params: &[Param],
) -> Result<(), StoreError> {
    if !slots.contains_key(sql) {
        let numbers = (1..=stmt.parameter_count())
            .map(|idx| {
                stmt.parameter_name(idx)
                    .and_then(|name| name.get(1..))
                    .and_then(|digits| digits.parse::<usize>().ok())
                    .unwrap_or(idx)
            })
            .collect();
        slots.insert(sql.to_owned(), numbers);
    }
    let numbers = slots.get(sql).map(Vec::as_slice).unwrap_or_default();
    for (slot, &n) in numbers.iter().enumerate() {
        let value = n
            .checked_sub(1)
            .and_then(|i| params.get(i))
            .ok_or_else(|| StoreError::Decode(format!("no value for parameter ${n}")))?;
        // Borrowed, not converted to an owned `Value`: SQLite copies the text itself.
        match value {
            Param::Int(v) => stmt.raw_bind_parameter(slot + 1, v)?,
            Param::Text(v) => stmt.raw_bind_parameter(slot + 1, v.as_str())?,
            Param::NullInt | Param::NullText => {
                stmt.raw_bind_parameter(slot + 1, rusqlite::types::Null)?
            }
        }
    }
    Ok(())
}

impl WriteTx for SqliteTx<'_> {
    async fn fetch(&mut self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        bind(&mut stmt, self.slots, sql, &params)?;
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut r = Vec::with_capacity(columns);
            for i in 0..columns {
                use rusqlite::types::ValueRef as V;
                r.push(match row.get_ref(i)? {
                    V::Null => Param::NullText,
                    V::Integer(v) => Param::Int(v),
                    V::Text(t) => Param::Text(String::from_utf8_lossy(t).into_owned()),
                    V::Real(_) | V::Blob(_) => {
                        return Err(StoreError::Decode(format!(
                            "column {i} has an unsupported type"
                        )))
                    }
                });
            }
            out.push(Row(r));
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        bind(&mut stmt, self.slots, sql, &params)?;
        Ok(stmt.raw_execute()? as u64)
    }
}

/// Opens the recorder's own connection to a SQLite file, with the pool's settings except the
/// page cache: 4 MiB (1,024 pages), not 64. The bundled SQLite (3.46) walks its whole page-cache
/// hash at every commit whose transaction split a B-tree page, and random code keys split pages
/// all the time; with the large cache that walk was 3–6 % of the recorder. The pages a batch
/// touches are few and hot, the rest are in the OS cache. Measured, alternated (`bench/RESULTS.md`,
/// session 6): the walk's share fell from 3.0 % to 1.1 % of samples; hot faster in most pairs,
/// cold the same within the VM's spread.
pub fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -4096; PRAGMA temp_store = MEMORY;",
    )?;
    // Multi-row statements come in one shape per row count; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(1024);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_executors_return_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = crate::store::Store::connect(&url).await.unwrap();
        let sql = "SELECT $1, $2, $3, $1 + 1, $2 || $1";
        let params = || vec![Param::Int(41), Param::from("宁波"), Param::NullInt];

        let mut tx = store.pool().begin().await.unwrap();
        let a = tx.fetch_one(sql, params()).await.unwrap();
        tx.rollback().await.unwrap();

        let mut conn = open_sqlite(&path).unwrap();
        let mut slots = std::collections::HashMap::new();
        let mut tx = SqliteTx {
            tx: conn.transaction().unwrap(),
            slots: &mut slots,
        };
        let b = tx.fetch_one(sql, params()).await.unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(b.int(0).unwrap(), 41);
        assert_eq!(b.text(1).unwrap(), "宁波");
        assert_eq!(b.opt_int(2).unwrap(), None);
        assert_eq!(b.int(3).unwrap(), 42);
        assert_eq!(b.text(4).unwrap(), "宁波41");
        assert!(b.text(0).is_err());
        let c = tx
            .fetch_one("SELECT $2 - $1", vec![Param::Int(1), Param::Int(10)])
            .await
            .unwrap();
        assert_eq!(c.int(0).unwrap(), 9);
        assert!(b.int(9).is_err());
    }
}
