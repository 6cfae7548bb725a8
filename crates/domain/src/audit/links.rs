//! Reading the chain for `verify`: every event's links (its `seq`, the
//! `prev_hash` it claims, its stored `hash`, its retention and erasure
//! marks) and the hash of its content as stored now, computed where the
//! row is read.
//!
//! A SQLite file is read in place with `rusqlite`, on as many threads as
//! there are cores, each with its own read-only connection and every
//! `threads`-th page of the range. sqlx's SQLite driver copies every
//! column of every row into an owned value on its worker thread and sends
//! the row over a channel (about 5 µs a row: 55 s of a 10-million-event
//! verify before any hashing); `rusqlite` borrows each column where SQLite
//! keeps it, so reading and hashing a row costs about what hashing alone
//! did. PostgreSQL (and a SQLite database that is not a file) is read
//! through sqlx in pages, a page ahead, hashed on every core.
//!
//! Pages are ranges of `seq` (`[start, start + PAGE)`), not `LIMIT`s
//! after the last row read, so the threads need not wait for each other; a
//! page with rows deleted from it is shorter, and the walk names the first
//! missing one.

use super::model::{Canonical, EventRow};
use super::store;
use crate::db::Db;
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use tokio::sync::mpsc;

/// Events in a page.
const PAGE: i64 = 5000;

/// Pages each reader thread may have read ahead of the walk.
const AHEAD: usize = 2;

/// What the walk checks of one event.
#[derive(Debug)]
pub(super) struct Link {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    /// Retention blanked the row's content (only its link is checked).
    pub redacted: bool,
    pub erasure_id: Option<String>,
    pub erased_hash: Option<String>,
    /// The hash of the row's content as stored now (`None` when
    /// redacted). A timestamp that cannot be read hashes to a value no
    /// stored hash has, so the row is reported as not matching its hash.
    pub content: Option<String>,
}

impl Link {
    fn of(row: EventRow) -> Result<Link> {
        let content = match row.redacted_at {
            Some(_) => None,
            None => Some(row.compute_hash()?),
        };
        Ok(Link {
            seq: row.seq,
            prev_hash: row.prev_hash,
            hash: row.hash,
            redacted: row.redacted_at.is_some(),
            erasure_id: row.erasure_id,
            erased_hash: row.erased_hash,
            content,
        })
    }
}

/// The pages of events `from..=to`, in order.
pub(super) struct Pages {
    /// One receiver per reader; page `p` comes from reader `p % n`.
    readers: Vec<mpsc::Receiver<Result<Vec<Link>>>>,
    next: usize,
}

impl Pages {
    /// Starts reading events `from..=to` of `db`.
    pub(super) fn read(db: &Db, from: i64, to: i64) -> Pages {
        let readers = match db.sqlite_file() {
            Some(path) => {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
                (0..threads)
                    .map(|t| {
                        let (send, recv) = mpsc::channel(AHEAD);
                        let path = path.clone();
                        let stride = threads as i64;
                        tokio::task::spawn_blocking(move || {
                            sqlite_reader(&path, from + t as i64 * PAGE, stride, to, &send);
                        });
                        recv
                    })
                    .collect()
            }
            None => vec![sqlx_reader(db.clone(), from, to)],
        };
        Pages { readers, next: 0 }
    }

    /// The next page; `None` after the last.
    pub(super) async fn next(&mut self) -> Option<Result<Vec<Link>>> {
        let n = self.readers.len();
        let page = self.readers[self.next % n].recv().await;
        self.next += 1;
        page
    }
}

/// Reads pages starting at `first`, then every `stride`-th page, up to
/// `to`, hashing each row where SQLite holds it; stops at the end, on an
/// error (sent), or when the walk has stopped listening.
fn sqlite_reader(
    path: &std::path::Path,
    first: i64,
    stride: i64,
    to: i64,
    send: &mpsc::Sender<Result<Vec<Link>>>,
) {
    let conn = match open(path) {
        Ok(c) => c,
        Err(e) => {
            let _ = send.blocking_send(Err(e));
            return;
        }
    };
    let mut start = first;
    while start <= to {
        let end = (start + PAGE - 1).min(to);
        let page = read_page(&conn, start, end);
        let failed = page.is_err();
        if send.blocking_send(page).is_err() || failed {
            return;
        }
        start += stride * PAGE;
    }
}

fn open(path: &std::path::Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sqlite_error)?;
    // Pages through a memory map, as the pool reads them.
    conn.pragma_update(None, "mmap_size", 268_435_456i64)
        .map_err(sqlite_error)?;
    Ok(conn)
}

fn sqlite_error(e: rusqlite::Error) -> Error {
    Error::Internal(format!("audit verify: reading the SQLite file: {e}"))
}

/// Events `start..=end`, each hashed as read.
fn read_page(conn: &rusqlite::Connection, start: i64, end: i64) -> Result<Vec<Link>> {
    let mut stmt = conn
        .prepare_cached(store::SQLITE_LINKS)
        .map_err(sqlite_error)?;
    let mut rows = stmt.query([start, end]).map_err(sqlite_error)?;
    let mut out = Vec::with_capacity((end - start + 1) as usize);
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        out.push(link_of(row)?);
    }
    Ok(out)
}

/// One row of [`store::SQLITE_LINKS`], its content hashed from the
/// columns in place.
fn link_of(row: &rusqlite::Row<'_>) -> Result<Link> {
    use rusqlite::types::ValueRef;
    let value = |i: usize| row.get_ref(i).map_err(sqlite_error);
    let opt = |i: usize| -> Result<Option<&str>> {
        match value(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Some)
                .map_err(|e| Error::Internal(format!("audit verify: column {i}: {e}"))),
            other => Err(Error::Internal(format!(
                "audit verify: column {i} holds {:?}, not text",
                other.data_type()
            ))),
        }
    };
    let text = |i: usize| -> Result<&str> {
        opt(i)?.ok_or_else(|| Error::Internal(format!("audit verify: column {i} is null")))
    };
    let seq = match value(0)? {
        ValueRef::Integer(seq) => seq,
        other => {
            return Err(Error::Internal(format!(
                "audit verify: seq holds {:?}",
                other.data_type()
            )))
        }
    };
    let redacted = !matches!(value(17)?, ValueRef::Null);
    let prev_hash = text(15)?;
    let content = match (redacted, occurred_at(value(2)?)) {
        (true, _) => None,
        (false, None) => Some(UNREADABLE_TIME.to_owned()),
        (false, Some(at)) => Some(
            Canonical {
                seq,
                id: text(1)?,
                occurred_at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
                actor_type: text(3)?,
                actor_id: opt(4)?,
                actor_display: text(5)?,
                action: text(6)?,
                target_type: opt(7)?,
                target_id: opt(8)?,
                target_display: opt(9)?,
                outcome: text(10)?,
                source_ip: opt(11)?,
                user_agent: opt(12)?,
                request_id: opt(13)?,
                details: text(14)?,
            }
            .hash(prev_hash)?,
        ),
    };
    Ok(Link {
        seq,
        prev_hash: prev_hash.to_owned(),
        hash: text(16)?.to_owned(),
        redacted,
        erasure_id: opt(18)?.map(str::to_owned),
        erased_hash: opt(19)?.map(str::to_owned),
        content,
    })
}

/// The content hash of a row whose time cannot be read (not hex: no
/// stored hash equals it).
const UNREADABLE_TIME: &str = "unreadable occurred_at";

/// A stored time, read as sqlx reads a `DateTime<Utc>` from SQLite: RFC
/// 3339 text (what it writes), SQLite's other date-time texts, or Unix
/// seconds.
fn occurred_at(value: rusqlite::types::ValueRef<'_>) -> Option<DateTime<Utc>> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).ok()?;
            if let Ok(at) = DateTime::parse_from_rfc3339(s) {
                return Some(at.with_timezone(&Utc));
            }
            // The formats sqlx-sqlite 0.8 also accepts, in its order.
            const FORMATS: [&str; 12] = [
                "%F %T%.f",
                "%F %R",
                "%F %RZ",
                "%F %R%:z",
                "%F %T%.fZ",
                "%F %T%.f%:z",
                "%FT%R",
                "%FT%RZ",
                "%FT%R%:z",
                "%FT%T%.f",
                "%FT%T%.fZ",
                "%FT%T%.f%:z",
            ];
            FORMATS.iter().find_map(|f| {
                DateTime::parse_from_str(s, f)
                    .map(|at| at.with_timezone(&Utc))
                    .ok()
                    .or_else(|| {
                        NaiveDateTime::parse_from_str(s, f)
                            .ok()
                            .map(|at| Utc.from_utc_datetime(&at))
                    })
            })
        }
        ValueRef::Integer(secs) => Utc.timestamp_opt(secs, 0).single(),
        _ => None,
    }
}

/// Reads `from..=to` through sqlx a page ahead of the walk, hashing each
/// page on every core.
fn sqlx_reader(db: Db, from: i64, to: i64) -> mpsc::Receiver<Result<Vec<Link>>> {
    let (send, recv) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut start = from;
        while start <= to {
            let end = (start + PAGE - 1).min(to);
            let page = match store::seq_range(db.exec(), start, end).await {
                Ok(rows) => tokio::task::spawn_blocking(move || hashed(rows))
                    .await
                    .unwrap_or_else(|e| {
                        Err(Error::Internal(format!("audit verify: hashing: {e}")))
                    }),
                Err(e) => Err(e),
            };
            let failed = page.is_err();
            if send.send(page).await.is_err() || failed {
                return;
            }
            start = end + 1;
        }
    });
    recv
}

/// `rows` as links, hashed on every core.
fn hashed(rows: Vec<EventRow>) -> Result<Vec<Link>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if cores < 2 || rows.len() < 256 {
        return rows.into_iter().map(Link::of).collect();
    }
    let chunk = rows.len().div_ceil(cores);
    let mut parts: Vec<Vec<EventRow>> = Vec::with_capacity(cores);
    let mut rows = rows.into_iter();
    loop {
        let part: Vec<EventRow> = rows.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || part.into_iter().map(Link::of).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(h.join().map_err(|_| {
                Error::Internal("audit verify: a hashing thread panicked".into())
            })??);
        }
        Ok(out)
    })
}
