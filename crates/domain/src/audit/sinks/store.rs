//! Every SQL statement of audit streaming (SQLite and PostgreSQL run the
//! same text).

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// A destination as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct SinkRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret_sealed: Option<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub cursor_seq: i64,
    pub delivered: i64,
    pub failures: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

const SELECT: &str = "SELECT id, name, kind, url, secret_sealed, enabled, created_by, created_at, \
     cursor_seq, delivered, failures, last_success_at, last_error, last_error_at, next_attempt_at \
     FROM audit_sinks";

/// Every destination, by name.
pub(super) async fn list(ex: Exec<'_>) -> Result<Vec<SinkRow>> {
    Ok(fetch_all!(ex, SinkRow, &format!("{SELECT} ORDER BY name"))?)
}

pub(super) async fn get(ex: Exec<'_>, id: &str) -> Result<Option<SinkRow>> {
    Ok(fetch_optional!(
        ex,
        SinkRow,
        &format!("{SELECT} WHERE id = $1"),
        id
    )?)
}

/// Whether a destination is named `name` (case-insensitive).
pub(super) async fn name_taken(tx: &mut Tx, name: &str) -> Result<bool> {
    Ok(fetch_optional!(
        tx.exec(),
        (String,),
        "SELECT id FROM audit_sinks WHERE LOWER(name) = LOWER($1)",
        name
    )?
    .is_some())
}

/// A new destination.
pub(super) struct NewSink<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub secret_sealed: Option<String>,
    pub created_by: &'a str,
    pub created_at: DateTime<Utc>,
    pub cursor_seq: i64,
}

pub(super) async fn insert(tx: &mut Tx, s: &NewSink<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO audit_sinks (id, name, kind, url, secret_sealed, enabled, created_by, \
         created_at, cursor_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        s.id,
        s.name,
        s.kind,
        s.url,
        s.secret_sealed.clone(),
        true,
        s.created_by,
        s.created_at,
        s.cursor_seq
    )?;
    Ok(())
}

/// Pauses or resumes; a resumed destination is tried at once.
pub(super) async fn set_enabled(tx: &mut Tx, id: &str, enabled: bool) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE audit_sinks SET enabled = $2, next_attempt_at = NULL WHERE id = $1",
        id,
        enabled
    )? == 1)
}

pub(super) async fn delete(tx: &mut Tx, id: &str) -> Result<bool> {
    Ok(exec!(tx.exec(), "DELETE FROM audit_sinks WHERE id = $1", id)? == 1)
}

/// The enabled destinations whose next attempt is due at `now`.
pub(super) async fn due(ex: Exec<'_>, now: DateTime<Utc>) -> Result<Vec<SinkRow>> {
    Ok(fetch_all!(
        ex,
        SinkRow,
        &format!(
            "{SELECT} WHERE enabled = $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $2) \
             AND (lease_until IS NULL OR lease_until < $2) ORDER BY name"
        ),
        true,
        now
    )?)
}

/// Takes the destination's lease until `until`, unless another replica
/// holds it. Answers whether this one has it.
pub(super) async fn lease(
    ex: Exec<'_>,
    id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        ex,
        "UPDATE audit_sinks SET lease_until = $3 WHERE id = $1 \
         AND (lease_until IS NULL OR lease_until < $2)",
        id,
        now,
        until
    )? == 1)
}

pub(super) async fn release(ex: Exec<'_>, id: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_sinks SET lease_until = NULL WHERE id = $1",
        id
    )?;
    Ok(())
}

/// The destination accepted events `from`+1 ..= `through` (`count` of
/// them) at `at`. Moves the cursor only if it is still at `from`.
pub(super) async fn delivered(
    ex: Exec<'_>,
    id: &str,
    from: i64,
    through: i64,
    count: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_sinks SET cursor_seq = $3, delivered = delivered + $4, failures = 0, \
         last_success_at = $5, last_error = NULL, next_attempt_at = NULL \
         WHERE id = $1 AND cursor_seq = $2",
        id,
        from,
        through,
        count,
        at
    )?;
    Ok(())
}

/// An attempt failed at `at`: why, and when to try again.
pub(super) async fn failed(
    ex: Exec<'_>,
    id: &str,
    error: &str,
    at: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_sinks SET failures = failures + 1, last_error = $2, last_error_at = $3, \
         next_attempt_at = $4 WHERE id = $1",
        id,
        error,
        at,
        next
    )?;
    Ok(())
}

/// The first event after `seq` (its seq and when it happened), if there
/// is one: the oldest a destination still waits for. Events retention
/// deleted meanwhile are not waited for, so this is where its lag starts.
pub(super) async fn first_after(ex: Exec<'_>, seq: i64) -> Result<Option<(i64, DateTime<Utc>)>> {
    Ok(fetch_optional!(
        ex,
        (i64, DateTime<Utc>),
        "SELECT seq, occurred_at FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1",
        seq
    )?)
}
