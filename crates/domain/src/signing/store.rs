//! Every SQL statement of the signing keys area (SQLite and PostgreSQL run
//! the same text).

use super::KeyPurpose;
use crate::db::Exec;
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// A signing key's row as stored (`private_key` sealed; empty where a
/// query does not read it).
#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// The active key for `purpose`.
pub(super) async fn active(ex: Exec<'_>, purpose: KeyPurpose) -> Result<Option<KeyRow>> {
    Ok(fetch_optional!(
        ex,
        KeyRow,
        "SELECT kid, alg, private_key, status, created_at, retired_at \
         FROM signing_keys WHERE status = 'active' AND purpose = $1",
        purpose.as_str()
    )?)
}

/// Retires the active key for `purpose` at `now`; its kid, if there was one.
pub(super) async fn retire_active(
    ex: Exec<'_>,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "UPDATE signing_keys SET status = 'retired', retired_at = $1 \
         WHERE status = 'active' AND purpose = $2 RETURNING kid",
        now,
        purpose.as_str()
    )?
    .map(|r| r.0))
}

/// An active key to insert.
pub(super) struct NewKeyRow<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub public_jwk: &'a str,
    pub private_key: &'a str,
    pub created_at: DateTime<Utc>,
    pub purpose: KeyPurpose,
}

/// Inserts an active key unless one conflicts (another replica made the
/// first key of its purpose meanwhile); rows inserted (0 or 1).
pub(super) async fn insert(ex: Exec<'_>, k: &NewKeyRow<'_>) -> Result<u64> {
    Ok(exec!(
        ex,
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_key, status, created_at, purpose) \
         VALUES ($1, $2, $3, $4, 'active', $5, $6) ON CONFLICT DO NOTHING",
        k.kid,
        k.alg,
        k.public_jwk,
        k.private_key,
        k.created_at,
        k.purpose.as_str()
    )?)
}

/// The public JWK (JSON text) of every active key and of keys retired
/// after `since`, newest first.
pub(super) async fn published_jwks(ex: Exec<'_>, since: DateTime<Utc>) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT public_jwk FROM signing_keys \
         WHERE status = 'active' OR retired_at > $1 ORDER BY created_at DESC, kid DESC",
        since
    )?
    .into_iter()
    .map(|(jwk,)| jwk)
    .collect())
}

/// The public JWK (JSON text) of key `kid`, whatever its purpose and
/// status (retired keys are kept: what they signed can still be checked).
pub(super) async fn public_jwk(ex: Exec<'_>, kid: &str) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT public_jwk FROM signing_keys WHERE kid = $1",
        kid
    )?
    .map(|(jwk,)| jwk))
}

/// The 50 newest bundle signing keys, without their private keys.
pub(super) async fn list_bundle_keys(ex: Exec<'_>) -> Result<Vec<KeyRow>> {
    Ok(fetch_all!(
        ex,
        KeyRow,
        "SELECT kid, alg, '' AS private_key, status, created_at, retired_at \
         FROM signing_keys WHERE purpose = 'bundle' ORDER BY created_at DESC, kid DESC LIMIT 50"
    )?)
}
