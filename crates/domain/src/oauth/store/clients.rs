//! The clients: registering and finding them, their status, CIMD
//! documents, the Clients page, reaping and duplicate groups.

use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::oauth::cimd::Document;
use crate::oauth::model::{AuthMethod, Client, ClientId, ClientKind, ClientStatus};
use crate::{exec, fetch_all, fetch_one, fetch_optional, scalar};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    kind: String,
    name: String,
    redirect_uris: String,
    auth_method: String,
    secret_hash: Option<String>,
    status: String,
    jwks: Option<String>,
    jwks_uri: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = Error;
    fn try_from(r: ClientRow) -> Result<Self> {
        Ok(Client {
            kind: r.kind.parse().map_err(Error::Internal)?,
            auth_method: r.auth_method.parse().map_err(Error::Internal)?,
            status: r.status.parse().map_err(Error::Internal)?,
            redirect_uris: serde_json::from_str(&r.redirect_uris)
                .map_err(|e| Error::Internal(format!("stored redirect_uris: {e}")))?,
            id: ClientId(r.id),
            name: r.name,
            secret_hash: r.secret_hash,
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
        })
    }
}

/// An agent's credential row is stored as kind `preregistered` and read as
/// kind `agent` (see `migrations/*/0013_agents.sql`).
const SELECT_CLIENT: &str =
    "SELECT id, CASE WHEN EXISTS (SELECT 1 FROM agents a WHERE a.id = oauth_clients.id) \
     THEN 'agent' ELSE kind END AS kind, name, redirect_uris, auth_method, secret_hash, status, \
     jwks, jwks_uri FROM oauth_clients";

/// The client `id`, if known.
pub async fn find_client(ex: Exec<'_>, id: &str) -> Result<Option<Client>> {
    fetch_optional!(ex, ClientRow, &format!("{SELECT_CLIENT} WHERE id = $1"), id)?
        .map(Client::try_from)
        .transpose()
}

/// A client to insert.
pub struct NewClient<'a> {
    pub id: &'a str,
    pub kind: ClientKind,
    pub name: &'a str,
    pub client_uri: Option<&'a str>,
    pub software_id: Option<&'a str>,
    pub software_version: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub auth_method: AuthMethod,
    pub secret_hash: Option<&'a str>,
    pub status: ClientStatus,
    pub registered_ip: Option<&'a str>,
    pub created_by: &'a str,
    pub jwks: Option<&'a str>,
    pub jwks_uri: Option<&'a str>,
}

pub async fn insert_client(tx: &mut Tx, c: &NewClient<'_>, now: DateTime<Utc>) -> Result<()> {
    let uris =
        serde_json::to_string(c.redirect_uris).map_err(|e| Error::Internal(e.to_string()))?;
    exec!(
        tx.exec(),
        "INSERT INTO oauth_clients (id, kind, name, client_uri, software_id, software_version, \
         redirect_uris, auth_method, secret_hash, status, registered_ip, created_at, created_by, updated_at, jwks, jwks_uri) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14, $15)",
        c.id,
        c.kind.as_str(),
        c.name,
        c.client_uri,
        c.software_id,
        c.software_version,
        &uris,
        c.auth_method.as_str(),
        c.secret_hash,
        c.status.as_str(),
        c.registered_ip,
        now,
        c.created_by,
        c.jwks,
        c.jwks_uri
    )?;
    Ok(())
}

/// Sets a client's status (and why); returns whether it existed.
pub async fn set_client_status(
    tx: &mut Tx,
    id: &str,
    status: ClientStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_clients SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1",
        id,
        status.as_str(),
        reason,
        now
    )? > 0)
}

/// Clients registered from `ip` since `since` (the registration limit).
pub async fn count_registrations_from(ex: Exec<'_>, ip: &str, since: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM oauth_clients WHERE registered_ip = $1 AND created_at >= $2",
        ip,
        since
    )?)
}

/// A CIMD client's stored metadata and how fresh it is.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CimdRow {
    pub name: String,
    pub redirect_uris: String,
    pub fetch_expires_at: Option<DateTime<Utc>>,
}

pub async fn find_cimd(ex: Exec<'_>, id: &str) -> Result<Option<CimdRow>> {
    Ok(fetch_optional!(
        ex,
        CimdRow,
        "SELECT name, redirect_uris, fetch_expires_at FROM oauth_clients WHERE id = $1 AND kind = 'cimd'",
        id
    )?)
}

/// Stores what a client ID metadata document said (name, redirect URIs)
/// and until when it is fresh; `status` only when given (re-review).
pub async fn update_cimd(
    tx: &mut Tx,
    id: &str,
    doc: &Document,
    status: Option<ClientStatus>,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    let uris =
        serde_json::to_string(&doc.redirect_uris).map_err(|e| Error::Internal(e.to_string()))?;
    exec!(
        tx.exec(),
        "UPDATE oauth_clients SET name = $2, client_uri = $3, redirect_uris = $4, \
         status = COALESCE($5, status), fetched_at = $6, fetch_expires_at = $7, updated_at = $6 WHERE id = $1",
        id,
        &doc.name,
        &doc.client_uri,
        &uris,
        status.map(ClientStatus::as_str),
        now,
        expires
    )?;
    Ok(())
}

/// Sets when a newly inserted CIMD client's document was fetched.
pub async fn set_fetched(
    tx: &mut Tx,
    id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE oauth_clients SET fetched_at = $2, fetch_expires_at = $3 WHERE id = $1",
        id,
        now,
        expires
    )?;
    Ok(())
}

/// A registered client due for reaping.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReapRow {
    pub id: String,
    pub name: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Registered (DCR) clients, active or waiting, not used since `cutoff`
/// (never used: registered before it); at most `limit`, oldest first.
pub async fn reapable_clients(
    ex: Exec<'_>,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ReapRow>> {
    Ok(fetch_all!(
        ex,
        ReapRow,
        "SELECT id, name, last_used_at FROM oauth_clients \
         WHERE kind = 'dcr' AND status IN ('active', 'pending') \
         AND COALESCE(last_used_at, created_at) < $1 \
         ORDER BY COALESCE(last_used_at, created_at), id LIMIT $2",
        cutoff,
        limit
    )?)
}

/// Sets the duplicate-group key of a registered client.
pub async fn set_dup_key(tx: &mut Tx, id: &str, key: &str) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE oauth_clients SET dup_key = $2 WHERE id = $1",
        id,
        key
    )?;
    Ok(())
}

/// A group of registrations of the same app.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DupGroupRow {
    pub dup_key: String,
    pub name: String,
    pub software_id: Option<String>,
    pub redirect_uris: String,
    pub clients: i64,
    pub live_grants: i64,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Groups of two or more live (active or waiting) registrations sharing a
/// duplicate key, largest first.
pub async fn duplicate_groups(ex: Exec<'_>, limit: i64) -> Result<Vec<DupGroupRow>> {
    Ok(fetch_all!(
        ex,
        DupGroupRow,
        "SELECT c.dup_key, MIN(c.name) AS name, MIN(c.software_id) AS software_id, \
         MIN(c.redirect_uris) AS redirect_uris, COUNT(*) AS clients, \
         (SELECT COUNT(*) FROM oauth_grants g JOIN oauth_clients d ON d.id = g.client_id \
          WHERE d.dup_key = c.dup_key AND d.status IN ('active', 'pending') AND g.revoked_at IS NULL) AS live_grants, \
         MAX(c.last_used_at) AS last_used_at \
         FROM oauth_clients c WHERE c.dup_key IS NOT NULL AND c.status IN ('active', 'pending') \
         GROUP BY c.dup_key HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC, c.dup_key LIMIT $1",
        limit
    )?)
}

/// The live registrations of one duplicate group.
pub async fn group_members(ex: Exec<'_>, dup_key: &str) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Id {
        id: String,
    }
    Ok(fetch_all!(
        ex,
        Id,
        "SELECT id FROM oauth_clients WHERE dup_key = $1 AND status IN ('active', 'pending') ORDER BY id",
        dup_key
    )?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// A row of the Clients page.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientListRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub redirect_uris: String,
    pub auth_method: String,
    pub software_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub consents: i64,
    pub live_grants: i64,
}

/// The columns of a [`ClientListRow`], from `oauth_clients c`.
const CLIENT_LIST_SELECT: &str =
    "SELECT c.id, c.kind, c.name, c.status, c.status_reason, c.redirect_uris, c.auth_method, \
     c.software_id, c.created_at, c.created_by, c.last_used_at, \
     (SELECT COUNT(DISTINCT k.person_id) FROM oauth_consents k WHERE k.client_id = c.id) AS consents, \
     (SELECT COUNT(*) FROM oauth_grants g WHERE g.client_id = c.id AND g.revoked_at IS NULL) AS live_grants \
     FROM oauth_clients c";

/// `$1` status ('' for any), `$2` LIKE pattern on name or id. Agents'
/// credentials are managed on the Agents page, not listed here.
const CLIENT_FILTER: &str = " WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = c.id) \
     AND ($1 = '' OR c.status = $1) \
     AND ($2 = '%%' OR LOWER(c.name) LIKE $2 ESCAPE '\\' OR LOWER(c.id) LIKE $2 ESCAPE '\\')";

/// A page of clients, waiting ones first, newest first.
pub async fn list_clients(
    ex: Exec<'_>,
    status: &str,
    pattern: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<ClientListRow>> {
    Ok(fetch_all!(
        ex,
        ClientListRow,
        &format!(
            "{CLIENT_LIST_SELECT}{CLIENT_FILTER} \
             ORDER BY CASE c.status WHEN 'pending' THEN 0 WHEN 'active' THEN 1 WHEN 'blocked' THEN 2 ELSE 3 END, \
             c.created_at DESC, c.id LIMIT $3 OFFSET $4"
        ),
        status,
        pattern,
        limit,
        offset
    )?)
}

/// The Clients page's row of client `id` (matched exactly).
pub async fn client_list_row(ex: Exec<'_>, id: &str) -> Result<Option<ClientListRow>> {
    Ok(fetch_optional!(
        ex,
        ClientListRow,
        &format!(
            "{CLIENT_LIST_SELECT} WHERE c.id = $1 \
             AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = c.id)"
        ),
        id
    )?)
}

/// How many clients match the filter, and how many wait for approval.
pub async fn count_clients(ex: Exec<'_>, status: &str, pattern: &str) -> Result<(i64, i64)> {
    Ok(fetch_one!(
        ex,
        (i64, i64),
        &format!(
            "SELECT COUNT(*), (SELECT COUNT(*) FROM oauth_clients WHERE status = 'pending') \
             FROM oauth_clients c{CLIENT_FILTER}"
        ),
        status,
        pattern
    )?)
}
