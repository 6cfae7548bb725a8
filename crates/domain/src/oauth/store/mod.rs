//! Every SQL statement of the OAuth area (SQLite and PostgreSQL run the same
//! text). Stored enums decode strictly: an unknown value is an error, never
//! a default.
//!
//! This file holds the client policy, the catalog servers' OAuth columns
//! and purging; `clients` the clients (registration, CIMD documents, the
//! Clients page, reaping, duplicate groups); `requests` authorization
//! requests, the person's sessions and consents; `tokens` grants, codes,
//! refresh tokens (one by one and batched) and client assertion ids.

mod clients;
mod requests;
mod tokens;

pub use clients::*;
pub use requests::*;
pub use tokens::*;

use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// The client policy row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PolicyRow {
    pub registration_enabled: bool,
    pub approval_required: bool,
    pub custom_schemes: String,
    pub cimd_allowed_domains: String,
    pub cimd_blocked_domains: String,
    pub reap_after_days: i64,
}

pub async fn policy(ex: Exec<'_>) -> Result<PolicyRow> {
    fetch_optional!(
        ex,
        PolicyRow,
        "SELECT registration_enabled, approval_required, custom_schemes, cimd_allowed_domains, \
         cimd_blocked_domains, reap_after_days FROM oauth_policy WHERE id = 1"
    )?
    .ok_or_else(|| Error::Internal("oauth_policy row is missing".into()))
}

pub async fn set_policy(
    tx: &mut Tx,
    registration_enabled: bool,
    approval_required: bool,
    reap_after_days: i64,
    now: DateTime<Utc>,
    by: &str,
) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE oauth_policy SET registration_enabled = $1, approval_required = $2, \
         reap_after_days = $3, updated_at = $4, updated_by = $5 WHERE id = 1",
        registration_enabled,
        approval_required,
        reap_after_days,
        now,
        by
    )?;
    Ok(())
}

/// An enabled catalog server by its exact resource URL: (id, name, scopes JSON).
pub async fn find_enabled_server(
    ex: Exec<'_>,
    resource: &str,
) -> Result<Option<(String, String, String)>> {
    Ok(fetch_optional!(
        ex,
        (String, String, String),
        "SELECT id, name, scopes FROM mcp_servers WHERE resource_url = $1 AND enabled = $2",
        resource,
        true
    )?)
}

/// A catalog server by slug: (id, name, resource URL, scopes JSON, enabled).
pub async fn find_server_by_slug(
    ex: Exec<'_>,
    slug: &str,
) -> Result<Option<(String, String, String, String, bool)>> {
    Ok(fetch_optional!(
        ex,
        (String, String, String, String, bool),
        "SELECT id, name, resource_url, scopes, enabled FROM mcp_servers WHERE slug = $1",
        slug
    )?)
}

/// Every scope enabled servers declare (JSON arrays).
pub async fn all_server_scopes(ex: Exec<'_>) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT scopes FROM mcp_servers WHERE enabled = $1 AND scopes <> '[]'",
        true
    )?
    .into_iter()
    .map(|r| r.0)
    .collect())
}

/// Deletes expired requests, codes, person sessions and refresh tokens.
pub async fn purge_expired(db: &crate::Db, now: DateTime<Utc>) -> Result<u64> {
    let mut n = 0;
    for sql in [
        "DELETE FROM oauth_requests WHERE expires_at < $1",
        "DELETE FROM oauth_codes WHERE expires_at < $1",
        "DELETE FROM oauth_assertion_jtis WHERE expires_at < $1",
        "DELETE FROM oauth_person_sessions WHERE expires_at < $1",
        "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1",
    ] {
        n += exec!(db.exec(), sql, now)?;
    }
    Ok(n)
}

/// A server's declared scopes (JSON array) and slug.
pub async fn find_server_scopes(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<(String, String, String)>> {
    Ok(fetch_optional!(
        ex,
        (String, String, String),
        "SELECT slug, name, scopes FROM mcp_servers WHERE id = $1",
        id
    )?)
}

pub async fn set_server_scopes(
    tx: &mut Tx,
    id: &str,
    scopes: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE mcp_servers SET scopes = $2, updated_at = $3 WHERE id = $1",
        id,
        scopes,
        now
    )?;
    Ok(())
}
