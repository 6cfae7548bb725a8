//! Every SQL statement of the API keys area (SQLite and PostgreSQL run the
//! same text).

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// A key's row as stored (never the secret; its hash is not read back).
#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub hint: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, role, hint, created_by, created_at, expires_at, last_used_at, last_used_ip, revoked_at";

/// A key to insert.
pub(super) struct InsertKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub secret_hash: &'a str,
    pub hint: &'a str,
    pub created_by: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Whether an active key (not revoked, not expired at `now`) is named `name`.
pub(super) async fn active_name_taken(tx: &mut Tx, name: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(fetch_optional!(
        tx.exec(),
        (String,),
        "SELECT id FROM api_keys WHERE name_lower = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
        name.to_lowercase(),
        now
    )?
    .is_some())
}

pub(super) async fn insert(tx: &mut Tx, k: &InsertKey<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO api_keys (id, name, name_lower, role, secret_hash, hint, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        k.id,
        k.name,
        k.name.to_lowercase(),
        k.role,
        k.secret_hash,
        k.hint,
        k.created_by,
        k.created_at,
        k.expires_at
    )?;
    Ok(())
}

/// Every key, newest first.
pub(super) async fn list(ex: Exec<'_>) -> Result<Vec<KeyRow>> {
    Ok(fetch_all!(
        ex,
        KeyRow,
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC")
    )?)
}

pub(super) async fn get(ex: Exec<'_>, id: &str) -> Result<Option<KeyRow>> {
    Ok(fetch_optional!(
        ex,
        KeyRow,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"),
        id
    )?)
}

/// Revokes a key not yet revoked; `false` when there was none.
pub(super) async fn revoke(tx: &mut Tx, id: &str, at: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        id,
        at
    )? == 1)
}

/// The key whose secret hashes to `hash`, if it works at `now`.
pub(super) async fn find_usable(
    ex: Exec<'_>,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<KeyRow>> {
    Ok(fetch_optional!(
        ex,
        KeyRow,
        &format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)"
        ),
        hash,
        now
    )?)
}

pub(super) async fn note_use(
    ex: Exec<'_>,
    id: &str,
    at: DateTime<Utc>,
    ip: Option<&str>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE api_keys SET last_used_at = $2, last_used_ip = $3 WHERE id = $1",
        id,
        at,
        ip
    )?;
    Ok(())
}

/// A response stored for an `Idempotency-Key` (`status` 0: the first
/// request is still running).
#[derive(sqlx::FromRow)]
pub(super) struct StoredResponse {
    pub request_hash: String,
    pub status: i32,
    pub body: String,
    pub location: Option<String>,
}

/// Claims `idem_key` for a request whose fingerprint is `request_hash`,
/// dropping a claim older than `expired_before` first. `false` when the
/// key is held (by a running or a finished request).
pub(super) async fn reserve(
    tx: &mut Tx,
    key_id: &str,
    idem_key: &str,
    request_hash: &str,
    at: DateTime<Utc>,
    expired_before: DateTime<Utc>,
) -> Result<bool> {
    exec!(
        tx.exec(),
        "DELETE FROM api_idempotency WHERE api_key_id = $1 AND idem_key = $2 AND created_at <= $3",
        key_id,
        idem_key,
        expired_before
    )?;
    Ok(exec!(
        tx.exec(),
        "INSERT INTO api_idempotency (api_key_id, idem_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (api_key_id, idem_key) DO NOTHING",
        key_id,
        idem_key,
        request_hash,
        at
    )? == 1)
}

pub(super) async fn stored_response(
    ex: Exec<'_>,
    key_id: &str,
    idem_key: &str,
) -> Result<Option<StoredResponse>> {
    Ok(fetch_optional!(
        ex,
        StoredResponse,
        "SELECT request_hash, status, body, location FROM api_idempotency \
         WHERE api_key_id = $1 AND idem_key = $2",
        key_id,
        idem_key
    )?)
}

/// Records the answer to the request that holds `idem_key`.
pub(super) async fn complete(
    ex: Exec<'_>,
    key_id: &str,
    idem_key: &str,
    status: i32,
    body: &str,
    location: Option<&str>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE api_idempotency SET status = $3, body = $4, location = $5 \
         WHERE api_key_id = $1 AND idem_key = $2",
        key_id,
        idem_key,
        status,
        body,
        location
    )?;
    Ok(())
}

/// Frees `idem_key` (its request failed on the server's side: a retry runs).
pub(super) async fn release(ex: Exec<'_>, key_id: &str, idem_key: &str) -> Result<()> {
    exec!(
        ex,
        "DELETE FROM api_idempotency WHERE api_key_id = $1 AND idem_key = $2",
        key_id,
        idem_key
    )?;
    Ok(())
}

pub(super) async fn purge_idempotency(ex: Exec<'_>, before: DateTime<Utc>) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM api_idempotency WHERE created_at <= $1",
        before
    )?)
}
