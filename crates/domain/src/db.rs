//! Storage: one connection pool for SQLite or PostgreSQL, chosen by
//! `DATABASE_URL`, and the query macros the stores use.
//!
//! SQL is written once where both dialects agree (positional `$n`
//! parameters, `RETURNING`, `ON CONFLICT`), and per backend where they
//! differ; both backends run the same conformance suite.
//!
//! Invariants:
//! - SQLite runs in WAL mode with foreign keys on and a busy timeout, and
//!   every write transaction starts with `BEGIN IMMEDIATE`, so a
//!   read-then-write transaction waits for the write lock instead of failing
//!   with `SQLITE_BUSY` at its first write.
//! - Migrations live in `migrations/sqlite` and `migrations/postgres` with the
//!   same file names and the same constraint names.

use crate::error::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Which database engine backs a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the configured database.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite allows one writer at a time. Writers of this process queue on
    /// the gate (first come, first served) before `BEGIN IMMEDIATE`, instead
    /// of polling SQLite's busy handler, whose back-off sleeps (up to 100 ms
    /// a try) would dominate tail latency under concurrent writes. Other
    /// processes (the CLI) still meet the busy timeout.
    Sqlite(SqlitePool, WriteGate),
    Postgres(PgPool),
}

/// The in-process queue of SQLite writers.
pub type WriteGate = std::sync::Arc<tokio::sync::Mutex<()>>;

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back
/// (and, on SQLite, lets the next queued writer in).
pub enum Tx {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Where a query runs: a pool (autocommit reads) or an open transaction.
pub enum Exec<'a> {
    SqlitePool(&'a SqlitePool),
    PgPool(&'a PgPool),
    SqliteConn(&'a mut sqlx::SqliteConnection),
    PgConn(&'a mut sqlx::PgConnection),
}

/// Options for opening the pool.
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Db {
    /// Opens a pool for `url` (`sqlite:…` or `postgres://…`). A SQLite file is
    /// created when missing.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::invalid("DATABASE_URL", e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(Error::Unavailable)?;
            Ok(Db::Sqlite(pool, WriteGate::default()))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| Error::invalid("DATABASE_URL", e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(Error::Unavailable)?;
            Ok(Db::Postgres(pool))
        } else {
            Err(Error::invalid(
                "DATABASE_URL",
                "must start with sqlite: or postgres://",
            ))
        }
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        let r = match self {
            Db::Sqlite(p, _) => SQLITE_MIGRATOR.run(p).await,
            Db::Postgres(p) => POSTGRES_MIGRATOR.run(p).await,
        };
        r.map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// Whether every known migration has been applied (for `/readyz`).
    pub async fn migrations_current(&self) -> Result<bool> {
        let (expected, applied): (i64, i64) = match self {
            Db::Sqlite(p, _) => (
                SQLITE_MIGRATOR.iter().count() as i64,
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                    .fetch_one(p)
                    .await?,
            ),
            Db::Postgres(p) => (
                POSTGRES_MIGRATOR.iter().count() as i64,
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                    .fetch_one(p)
                    .await?,
            ),
        };
        Ok(applied >= expected)
    }

    /// A round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite(p, _) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
        .map_err(Error::Unavailable)
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(p, gate) => {
                let turn = gate.clone().lock_owned().await;
                Ok(Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn))
            }
            Db::Postgres(p) => Ok(Tx::Postgres(p.begin().await?)),
        }
    }

    /// Where autocommit reads run.
    pub fn exec(&self) -> Exec<'_> {
        match self {
            Db::Sqlite(p, _) => Exec::SqlitePool(p),
            Db::Postgres(p) => Exec::PgPool(p),
        }
    }

    /// Pool figures for `/metrics`: (size, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        match self {
            Db::Sqlite(p, _) => (p.size(), p.num_idle()),
            Db::Postgres(p) => (p.size(), p.num_idle()),
        }
    }

    /// Closes the pool (graceful shutdown, tests).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    /// Where statements inside this transaction run.
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t, _) => Exec::SqliteConn(&mut *t),
            Tx::Postgres(t) => Exec::PgConn(&mut *t),
        }
    }

    /// The engine behind this transaction.
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _turn) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Runs one query on an [`Exec`] with positional binds. `$method` is the sqlx
/// terminal (`fetch_all`, `fetch_optional`, `fetch_one`) and `$build` the
/// constructor (`query_as` or `query_scalar`) with its output type.
#[macro_export]
#[doc(hidden)]
macro_rules! __run {
    ($exec:expr, $build:ident, $t:ty, $method:ident, $sql:expr $(, $arg:expr)*) => {
        match $exec {
            $crate::db::Exec::SqlitePool(p) => sqlx::$build::<sqlx::Sqlite, $t>($sql)$(.bind($arg))*.$method(p).await,
            $crate::db::Exec::PgPool(p) => sqlx::$build::<sqlx::Postgres, $t>($sql)$(.bind($arg))*.$method(p).await,
            $crate::db::Exec::SqliteConn(c) => sqlx::$build::<sqlx::Sqlite, $t>($sql)$(.bind($arg))*.$method(&mut *c).await,
            $crate::db::Exec::PgConn(c) => sqlx::$build::<sqlx::Postgres, $t>($sql)$(.bind($arg))*.$method(&mut *c).await,
        }
    };
}

/// Executes a statement; evaluates to `Result<u64, sqlx::Error>` (rows affected).
#[macro_export]
macro_rules! exec {
    ($exec:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $exec {
            $crate::db::Exec::SqlitePool(p) => sqlx::query::<sqlx::Sqlite>($sql)$(.bind($arg))*.execute(p).await.map(|r| r.rows_affected()),
            $crate::db::Exec::PgPool(p) => sqlx::query::<sqlx::Postgres>($sql)$(.bind($arg))*.execute(p).await.map(|r| r.rows_affected()),
            $crate::db::Exec::SqliteConn(c) => sqlx::query::<sqlx::Sqlite>($sql)$(.bind($arg))*.execute(&mut *c).await.map(|r| r.rows_affected()),
            $crate::db::Exec::PgConn(c) => sqlx::query::<sqlx::Postgres>($sql)$(.bind($arg))*.execute(&mut *c).await.map(|r| r.rows_affected()),
        }
    };
}

/// Fetches all rows as `T: FromRow`.
#[macro_export]
macro_rules! fetch_all {
    ($exec:expr, $t:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::__run!($exec, query_as, $t, fetch_all, $sql $(, $arg)*)
    };
}

/// Fetches at most one row as `T: FromRow`.
#[macro_export]
macro_rules! fetch_optional {
    ($exec:expr, $t:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::__run!($exec, query_as, $t, fetch_optional, $sql $(, $arg)*)
    };
}

/// Fetches exactly one row as `T: FromRow`.
#[macro_export]
macro_rules! fetch_one {
    ($exec:expr, $t:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::__run!($exec, query_as, $t, fetch_one, $sql $(, $arg)*)
    };
}

/// Fetches one scalar value of type `T`.
#[macro_export]
macro_rules! scalar {
    ($exec:expr, $t:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::__run!($exec, query_scalar, $t, fetch_one, $sql $(, $arg)*)
    };
}

/// A bind value for SQL built at run time (SCIM filters): the same SQL text
/// runs on both backends with these values bound in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(chrono::DateTime<chrono::Utc>),
    Null,
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Float(f) => q.bind(*f),
                Arg::Bool(b) => q.bind(*b),
                Arg::Time(t) => q.bind(*t),
                Arg::Null => q.bind(Option::<String>::None),
            };
        }
        q
    }};
}

/// Fetches all rows of run-time SQL with run-time binds.
pub async fn fetch_all_dyn<T>(
    exec: Exec<'_>,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    match exec {
        Exec::SqlitePool(p) => {
            bind_args!(sqlx::query_as::<Sqlite, T>(sql), args)
                .fetch_all(p)
                .await
        }
        Exec::PgPool(p) => {
            bind_args!(sqlx::query_as::<Postgres, T>(sql), args)
                .fetch_all(p)
                .await
        }
        Exec::SqliteConn(c) => {
            bind_args!(sqlx::query_as::<Sqlite, T>(sql), args)
                .fetch_all(&mut *c)
                .await
        }
        Exec::PgConn(c) => {
            bind_args!(sqlx::query_as::<Postgres, T>(sql), args)
                .fetch_all(&mut *c)
                .await
        }
    }
}

/// Fetches one `i64` (a count) of run-time SQL with run-time binds.
pub async fn count_dyn(exec: Exec<'_>, sql: &str, args: &[Arg]) -> Result<i64, sqlx::Error> {
    match exec {
        Exec::SqlitePool(p) => {
            bind_args!(sqlx::query_scalar::<Sqlite, i64>(sql), args)
                .fetch_one(p)
                .await
        }
        Exec::PgPool(p) => {
            bind_args!(sqlx::query_scalar::<Postgres, i64>(sql), args)
                .fetch_one(p)
                .await
        }
        Exec::SqliteConn(c) => {
            bind_args!(sqlx::query_scalar::<Sqlite, i64>(sql), args)
                .fetch_one(&mut *c)
                .await
        }
        Exec::PgConn(c) => {
            bind_args!(sqlx::query_scalar::<Postgres, i64>(sql), args)
                .fetch_one(&mut *c)
                .await
        }
    }
}

/// Executes run-time SQL with run-time binds; evaluates to rows affected.
pub async fn exec_dyn(exec: Exec<'_>, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
    match exec {
        Exec::SqlitePool(p) => bind_args!(sqlx::query::<Sqlite>(sql), args)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        Exec::PgPool(p) => bind_args!(sqlx::query::<Postgres>(sql), args)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        Exec::SqliteConn(c) => bind_args!(sqlx::query::<Sqlite>(sql), args)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()),
        Exec::PgConn(c) => bind_args!(sqlx::query::<Postgres>(sql), args)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()),
    }
}
