//! Authorization requests in flight, the sessions of people signed in for
//! MCP clients, and their consents.

use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::oauth::model::Scopes;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// An authorization request to store.
pub struct NewRequest<'a> {
    pub id_hash: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub server_id: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
    pub state: Option<&'a str>,
    pub code_challenge: &'a str,
    pub browser_hash: &'a str,
}

pub async fn insert_request(
    ex: Exec<'_>,
    r: &NewRequest<'_>,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO oauth_requests (id_hash, client_id, redirect_uri, server_id, resource, scope, \
         state, code_challenge, browser_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        r.id_hash,
        r.client_id,
        r.redirect_uri,
        r.server_id,
        r.resource,
        r.scope,
        r.state,
        r.code_challenge,
        r.browser_hash,
        now,
        expires
    )?;
    Ok(())
}

/// A stored authorization request.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RequestRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub server_id: String,
    pub server_name: String,
    pub resource: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub browser_hash: String,
}

const SELECT_REQUEST: &str =
    "SELECT r.client_id, r.redirect_uri, r.server_id, s.name AS server_name, r.resource, r.scope, \
     r.state, r.code_challenge, r.browser_hash FROM oauth_requests r JOIN mcp_servers s ON s.id = r.server_id";

/// An unused, unexpired request.
pub async fn find_request(
    ex: Exec<'_>,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<RequestRow>> {
    Ok(fetch_optional!(
        ex,
        RequestRow,
        &format!(
            "{SELECT_REQUEST} WHERE r.id_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2"
        ),
        id_hash,
        now
    )?)
}

/// Uses a request up (once): true if it was unused and unexpired.
pub async fn use_request(tx: &mut Tx, id_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_requests SET used_at = $2 WHERE id_hash = $1 AND used_at IS NULL AND expires_at > $2",
        id_hash,
        now
    )? == 1)
}

/// Starts a person's session (after SSO).
pub async fn insert_person_session(
    tx: &mut Tx,
    id_hash: &str,
    person_id: &str,
    connection_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_person_sessions (id_hash, person_id, connection_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        id_hash,
        person_id,
        connection_id,
        now,
        expires
    )?;
    Ok(())
}

/// A person signed in for OAuth, as stored in the directory.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PersonRow {
    pub id: String,
    pub email: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub deleted: bool,
}

/// The person of an unexpired session.
pub async fn find_session_person(
    ex: Exec<'_>,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<PersonRow>> {
    Ok(fetch_optional!(
        ex,
        PersonRow,
        "SELECT u.id, u.email, u.user_name, u.display_name, u.active, u.deleted_at IS NOT NULL AS deleted \
         FROM oauth_person_sessions s JOIN directory_users u ON u.id = s.person_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2",
        id_hash,
        now
    )?)
}

/// A person by id.
pub async fn find_person(ex: Exec<'_>, id: &str) -> Result<Option<PersonRow>> {
    Ok(fetch_optional!(
        ex,
        PersonRow,
        "SELECT id, email, user_name, display_name, active, deleted_at IS NOT NULL AS deleted \
         FROM directory_users WHERE id = $1",
        id
    )?)
}

/// The scopes a person consented to for (client, server, redirect URI).
pub async fn find_consent(
    ex: Exec<'_>,
    person_id: &str,
    client_id: &str,
    server_id: &str,
    redirect_uri: &str,
) -> Result<Option<Scopes>> {
    fetch_optional!(
        ex,
        (String,),
        "SELECT scope FROM oauth_consents WHERE person_id = $1 AND client_id = $2 AND server_id = $3 AND redirect_uri = $4",
        person_id,
        client_id,
        server_id,
        redirect_uri
    )?
    .map(|(s,)| Scopes::parse(&s).map_err(Error::Internal))
    .transpose()
}

pub async fn upsert_consent(
    tx: &mut Tx,
    person_id: &str,
    client_id: &str,
    server_id: &str,
    redirect_uri: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_consents (person_id, client_id, server_id, redirect_uri, scope, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (person_id, client_id, server_id, redirect_uri) DO UPDATE SET scope = $5, updated_at = $6",
        person_id,
        client_id,
        server_id,
        redirect_uri,
        scope,
        now
    )?;
    Ok(())
}

/// One consent of a person (the My access page), with its live grants.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PersonConsentRow {
    pub client_id: String,
    pub client_name: String,
    pub kind: String,
    pub server_name: String,
    pub scope: String,
    pub updated_at: DateTime<Utc>,
    pub live_grants: i64,
}

pub async fn person_consents(ex: Exec<'_>, person_id: &str) -> Result<Vec<PersonConsentRow>> {
    Ok(fetch_all!(
        ex,
        PersonConsentRow,
        "SELECT k.client_id, c.name AS client_name, c.kind, s.name AS server_name, k.scope, k.updated_at, \
         (SELECT COUNT(*) FROM oauth_grants g WHERE g.person_id = k.person_id AND g.client_id = k.client_id \
          AND g.server_id = k.server_id AND g.revoked_at IS NULL) AS live_grants \
         FROM oauth_consents k JOIN oauth_clients c ON c.id = k.client_id JOIN mcp_servers s ON s.id = k.server_id \
         WHERE k.person_id = $1 ORDER BY c.name, c.id, s.name, k.redirect_uri",
        person_id
    )?)
}

/// Withdraws a person's consents to a client and ends their grants with
/// it; returns (consents deleted, grants revoked).
pub async fn withdraw_consents(
    tx: &mut Tx,
    person_id: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(u64, u64)> {
    let consents = exec!(
        tx.exec(),
        "DELETE FROM oauth_consents WHERE person_id = $1 AND client_id = $2",
        person_id,
        client_id
    )?;
    let grants = exec!(
        tx.exec(),
        "UPDATE oauth_grants SET revoked_at = $3, revoked_reason = 'withdrawn by the person' \
         WHERE person_id = $1 AND client_id = $2 AND revoked_at IS NULL",
        person_id,
        client_id,
        now
    )?;
    Ok((consents, grants))
}
