//! Storage: a connection pool for SQLite or PostgreSQL, chosen by
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
//! - SQLite write transactions run on one connection of their own (reads
//!   on a pool), queued first come, first served on a gate; a write outside
//!   a transaction goes to that connection too ([`Db::write`], never
//!   [`Db::exec`]), so no two connections ever wait on SQLite's write lock.
//! - Migrations live in `migrations/sqlite` and `migrations/postgres` with the
//!   same file names and the same constraint names.

mod store;

use crate::error::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Which database engine backs a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The `VALUES` list of a multi-row statement: `rows` tuples of `cols`
    /// placeholders, bound in order. SQLite gets anonymous `?`: its
    /// numbered and named placeholders (`?NNN`, `$NNN`) are looked up by a
    /// linear scan per bind, which made a 500-row, 8,500-placeholder INSERT
    /// take 130 ms instead of 1 ms. PostgreSQL gets `$1…$n`.
    pub fn values_list(self, rows: usize, cols: usize) -> String {
        let mut sql = String::with_capacity(rows * cols * 7);
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..cols {
                if c > 0 {
                    sql.push_str(", ");
                }
                match self {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => {
                        sql.push('$');
                        sql.push_str(&(r * cols + c + 1).to_string());
                    }
                }
            }
            sql.push(')');
        }
        sql
    }
}

/// `$first, $first+1, …` for `n` values: the placeholders of an `IN (…)`
/// list or a row of a statement whose size is known only at run time.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection pool to the configured database.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite allows one writer at a time. Writers of this process queue on
    /// the gate (first come, first served) before `BEGIN IMMEDIATE`, instead
    /// of polling SQLite's busy handler, whose back-off sleeps (up to 100 ms
    /// a try) would dominate tail latency under concurrent writes. Other
    /// processes (the CLI) still meet the busy timeout.
    Sqlite(SqlitePool, Shared),
    Postgres(PgPool, Shared),
}

/// What the clones of one pool share: the SQLite write gate, the SQLite
/// writer connection and the change signals.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    gate: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: the one connection write transactions run on (a pool of
    /// one). Every write on the same connection keeps its page cache: a
    /// connection drops its whole cache when it finds the database changed
    /// by another connection, which with writes spread over the pool was
    /// every transaction (the refresh benchmark spent a third of the
    /// database thread re-reading pages).
    writer: Option<SqlitePool>,
    signals: Arc<Signals>,
}

impl Shared {
    /// SQLite's writer connection ([`Db::begin`], [`Db::write`],
    /// migrations); `pool` when there is none.
    fn writer_or<'a>(&'a self, pool: &'a SqlitePool) -> &'a SqlitePool {
        self.writer.as_ref().unwrap_or(pool)
    }
}

/// What a committed transaction changed, for those who keep a copy in
/// memory (the policy API's bundle, gateway credentials, signing keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// The policy head revision moved.
    Policy,
    /// A gateway was created, changed or revoked.
    Gateways,
    /// A signing key was created or rotated.
    Keys,
}

impl Topic {
    const ALL: [Topic; 3] = [Topic::Policy, Topic::Gateways, Topic::Keys];

    fn as_str(self) -> &'static str {
        match self {
            Topic::Policy => "policy",
            Topic::Gateways => "gateways",
            Topic::Keys => "keys",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The PostgreSQL channel that carries [`Topic`]s between replicas.
pub const NOTIFY_CHANNEL: &str = "portcullis_events";

/// Change signals: a counter per [`Topic`], bumped after a commit that
/// changed it (in this process directly; from other replicas through
/// PostgreSQL `NOTIFY`, see [`Db::listen`]). Receivers coalesce: a waiter
/// sees "changed since you last looked", not every change.
#[derive(Debug)]
pub struct Signals {
    senders: [tokio::sync::watch::Sender<u64>; 3],
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            senders: std::array::from_fn(|_| tokio::sync::watch::channel(0).0),
        }
    }
}

impl Signals {
    /// Tells this process's subscribers that `topic` changed.
    pub fn notify(&self, topic: Topic) {
        self.senders[topic as usize].send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that wakes when `topic` changes.
    pub fn subscribe(&self, topic: Topic) -> tokio::sync::watch::Receiver<u64> {
        self.senders[topic as usize].subscribe()
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back
/// (and, on SQLite, lets the next queued writer in).
pub struct Tx {
    inner: TxInner,
    signals: Arc<Signals>,
    /// Topics to signal after commit (bit set of [`Topic::bit`]).
    pending: u8,
}

enum TxInner {
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
    /// SQLite's `synchronous` setting (PostgreSQL: ignored).
    pub sqlite_synchronous: SqliteSync,
}

/// How hard SQLite makes a commit durable (WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteSync {
    /// Every commit is on disk before it is acknowledged (the WAL is
    /// synced at each commit): a power loss loses nothing acknowledged.
    #[default]
    Full,
    /// The WAL is synced at checkpoints only: safe against a crash of the
    /// process, but a power loss or kernel panic can drop the last commits,
    /// audit events included. Faster writes.
    Normal,
}

impl std::str::FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            _ => Err("use full or normal".to_owned()),
        }
    }
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

/// How much of a SQLite database file is read through a memory map.
const SQLITE_MMAP_BYTES: &str = "268435456";

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
                .synchronous(match opts.sqlite_synchronous {
                    SqliteSync::Full => SqliteSynchronous::Full,
                    SqliteSync::Normal => SqliteSynchronous::Normal,
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Temporary tables, sort spills and statement journals in
                // memory: a multi-row statement in a transaction (the
                // batched refresh rotation) would otherwise create and
                // unlink a file.
                .pragma("temp_store", "memory")
                // Pages read through a memory map rather than a `pread`
                // each into every connection's own small cache (writes
                // still go through the WAL).
                .pragma("mmap_size", SQLITE_MMAP_BYTES);
            // Test builds hold the reading pool to reads: a write there
            // fails at once ("attempt to write a readonly database")
            // instead of contending for the write lock ([`Db::write`]).
            let reading = if cfg!(debug_assertions) {
                connect.clone().pragma("query_only", "ON")
            } else {
                connect.clone()
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(reading)
                .await
                .map_err(Error::Unavailable)?;
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(Error::Unavailable)?;
            Ok(Db::Sqlite(
                pool,
                Shared {
                    writer: Some(writer),
                    ..Shared::default()
                },
            ))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| Error::invalid("DATABASE_URL", e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(Error::Unavailable)?;
            Ok(Db::Postgres(pool, Shared::default()))
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
            Db::Postgres(..) => Backend::Postgres,
        }
    }

    /// The SQLite database file, when this is SQLite on a file that
    /// exists (not an in-memory database): for readers that open it
    /// themselves (`audit verify`'s in-place read).
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Db::Sqlite(pool, _) => {
                let opts = pool.connect_options();
                let path = opts.get_filename();
                path.is_file().then(|| path.to_path_buf())
            }
            Db::Postgres(..) => None,
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        let r = match self {
            Db::Sqlite(p, shared) => SQLITE_MIGRATOR.run(shared.writer_or(p)).await,
            Db::Postgres(p, _) => POSTGRES_MIGRATOR.run(p).await,
        };
        r.map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// Whether every known migration has been applied (for `/readyz`).
    pub async fn migrations_current(&self) -> Result<bool> {
        let (expected, applied): (i64, i64) = match self {
            Db::Sqlite(p, _) => (
                SQLITE_MIGRATOR.iter().count() as i64,
                sqlx::query_scalar(store::MIGRATIONS_APPLIED)
                    .fetch_one(p)
                    .await?,
            ),
            Db::Postgres(p, _) => (
                POSTGRES_MIGRATOR.iter().count() as i64,
                sqlx::query_scalar(store::MIGRATIONS_APPLIED)
                    .fetch_one(p)
                    .await?,
            ),
        };
        Ok(applied >= expected)
    }

    /// A round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite(p, _) => sqlx::query(store::PING).execute(p).await.map(|_| ()),
            Db::Postgres(p, _) => sqlx::query(store::PING).execute(p).await.map(|_| ()),
        }
        .map_err(Error::Unavailable)
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(p, shared) => {
                let turn = shared.gate.clone().lock_owned().await;
                let writer = shared.writer_or(p);
                Ok(Tx {
                    inner: TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?, turn),
                    signals: shared.signals.clone(),
                    pending: 0,
                })
            }
            Db::Postgres(p, shared) => Ok(Tx {
                inner: TxInner::Postgres(p.begin().await?),
                signals: shared.signals.clone(),
                pending: 0,
            }),
        }
    }

    /// This pool's change signals.
    pub fn signals(&self) -> &Signals {
        match self {
            Db::Sqlite(_, s) | Db::Postgres(_, s) => &s.signals,
        }
    }

    /// Relays change signals from other replicas (PostgreSQL `LISTEN`) to
    /// this process's [`Signals`] until the pool closes. Returns at once on
    /// SQLite (one process serves a SQLite database).
    ///
    /// A notification sent before this connection listens reaches no one,
    /// and this process may have read its state before that: so once
    /// `LISTEN` is in place, and again whenever the listening connection
    /// drops and comes back, every topic is signalled and read afresh.
    pub async fn listen(&self) -> Result<()> {
        let Db::Postgres(pool, shared) = self else {
            return Ok(());
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        for t in Topic::ALL {
            shared.signals.notify(t);
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match Topic::ALL.iter().find(|t| t.as_str() == n.payload()) {
                    Some(t) => shared.signals.notify(*t),
                    None => tracing::debug!(payload = n.payload(), "unknown change signal"),
                },
                Ok(None) => {
                    tracing::warn!("change listener reconnected; refreshing everything");
                    for t in Topic::ALL {
                        shared.signals.notify(t);
                    }
                }
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "change listener failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    for t in Topic::ALL {
                        shared.signals.notify(t);
                    }
                }
            }
        }
    }

    /// Where autocommit reads run.
    pub fn exec(&self) -> Exec<'_> {
        match self {
            Db::Sqlite(p, _) => Exec::SqlitePool(p),
            Db::Postgres(p, _) => Exec::PgPool(p),
        }
    }

    /// Where autocommit writes run (one UPDATE, INSERT or DELETE outside a
    /// transaction): on SQLite the one writer connection, so the write
    /// queues behind the transactions in the pool's order. Run on a reading
    /// connection it would take SQLite's write lock behind the writer's
    /// back: each side then waits in SQLite's busy handler, which sleeps up
    /// to 100 ms a try (a SCIM token's once-a-minute note took 2.4 s under
    /// load and stalled the writer while it held the lock).
    pub fn write(&self) -> Exec<'_> {
        match self {
            Db::Sqlite(p, shared) => Exec::SqlitePool(shared.writer_or(p)),
            Db::Postgres(p, _) => Exec::PgPool(p),
        }
    }

    /// Pool figures for `/metrics`: (size, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        match self {
            Db::Sqlite(p, _) => (p.size(), p.num_idle()),
            Db::Postgres(p, _) => (p.size(), p.num_idle()),
        }
    }

    /// Closes the pool (graceful shutdown, tests).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, shared) => {
                p.close().await;
                if let Some(w) = &shared.writer {
                    w.close().await;
                }
            }
            Db::Postgres(p, _) => p.close().await,
        }
    }
}

impl Tx {
    /// Where statements inside this transaction run.
    pub fn exec(&mut self) -> Exec<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t, _) => Exec::SqliteConn(&mut *t),
            TxInner::Postgres(t) => Exec::PgConn(&mut *t),
        }
    }

    /// The engine behind this transaction.
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(..) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Signals `topic` to this process once the transaction commits, and on
    /// PostgreSQL to the other replicas (`NOTIFY` is delivered at commit,
    /// and not at all on rollback).
    pub async fn signal(&mut self, topic: Topic) -> Result<()> {
        if self.pending & topic.bit() != 0 {
            return Ok(());
        }
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query(store::NOTIFY)
                .bind(NOTIFY_CHANNEL)
                .bind(topic.as_str())
                .execute(&mut **t)
                .await?;
        }
        self.pending |= topic.bit();
        Ok(())
    }

    /// Commits, then signals the topics this transaction changed.
    pub async fn commit(self) -> Result<()> {
        match self.inner {
            TxInner::Sqlite(t, _turn) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        for t in Topic::ALL {
            if self.pending & t.bit() != 0 {
                self.signals.notify(t);
            }
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

/// A row type that decodes from both backends' rows: what the run-time SQL
/// helpers below fetch.
pub trait AnyRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// Fetches all rows of run-time SQL with run-time binds.
pub async fn fetch_all_dyn<T: AnyRow>(
    exec: Exec<'_>,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<T>, sqlx::Error> {
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

/// One page of run-time SQL: `head` (a `SELECT … FROM … WHERE …` whose
/// binds are `args`) in `order`, `limit` rows from `offset`. The list pages
/// and SCIM lists share it so the `LIMIT`/`OFFSET` placeholders are numbered
/// in one place.
pub async fn fetch_page_dyn<T: AnyRow>(
    exec: Exec<'_>,
    head: &str,
    mut args: Vec<Arg>,
    order: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<T>, sqlx::Error> {
    let n = args.len();
    args.push(Arg::Int(limit));
    args.push(Arg::Int(offset));
    let sql = format!("{head} ORDER BY {order} LIMIT ${} OFFSET ${}", n + 1, n + 2);
    fetch_all_dyn(exec, &sql, &args).await
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

#[cfg(test)]
mod values_list_tests {
    use super::Backend;

    #[test]
    fn sqlite_gets_anonymous_placeholders_and_postgres_numbered_ones() {
        assert_eq!(Backend::Sqlite.values_list(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            Backend::Postgres.values_list(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod write_tests {
    use super::{exec_dyn, Db};

    /// Test builds refuse a write on the reading pool (the mistake that
    /// made a write wait in SQLite's busy handler), and [`Db::write`]
    /// takes it on the writer connection.
    #[tokio::test]
    async fn sqlite_writes_go_to_the_writer_and_the_reading_pool_refuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        db.migrate().await.unwrap();
        let refused = exec_dyn(db.exec(), "CREATE TABLE scratch (x TEXT)", &[])
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("readonly"),
            "the reading pool refuses: {refused}"
        );
        exec_dyn(db.write(), "CREATE TABLE scratch (x TEXT)", &[])
            .await
            .unwrap();
        let insert = "INSERT INTO scratch (x) VALUES ('kept')";
        assert!(exec_dyn(db.exec(), insert, &[]).await.is_err());
        assert_eq!(exec_dyn(db.write(), insert, &[]).await.unwrap(), 1);
        let rows: Vec<(String,)> = super::fetch_all_dyn(db.exec(), "SELECT x FROM scratch", &[])
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![("kept".to_owned(),)],
            "one row, read on the pool"
        );
        db.close().await;
    }
}
