//! Every SQL statement of the OAuth area (SQLite and PostgreSQL run the same
//! text). Stored enums decode strictly: an unknown value is an error, never
//! a default.

use super::model::{AuthMethod, Client, ClientId, ClientKind, ClientStatus, Scopes};
use crate::db::{exec_dyn, fetch_all_dyn, Arg, Exec, Tx};
use crate::error::{Error, Result};
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

const SELECT_CLIENT: &str =
    "SELECT id, kind, name, redirect_uris, auth_method, secret_hash, status, jwks, jwks_uri FROM oauth_clients";

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
    doc: &super::cimd::Document,
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

/// A grant to insert.
pub struct NewGrant<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub person_id: &'a str,
    pub server_id: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
}

pub async fn insert_grant(tx: &mut Tx, g: &NewGrant<'_>, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_grants (id, client_id, person_id, server_id, resource, scope, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        g.id,
        g.client_id,
        g.person_id,
        g.server_id,
        g.resource,
        g.scope,
        now
    )?;
    Ok(())
}

pub async fn insert_code(
    tx: &mut Tx,
    code_hash: &str,
    grant_id: &str,
    redirect_uri: &str,
    code_challenge: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        code_hash,
        grant_id,
        redirect_uri,
        code_challenge,
        now,
        expires
    )?;
    Ok(())
}

/// A grant as the token endpoint needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub person_id: String,
    pub server_id: String,
    pub resource: String,
    pub scope: String,
    pub revoked: bool,
    pub server_enabled: bool,
    pub person_active: bool,
}

/// The columns of a [`GrantRow`] (`g` the grant, `s` its server, `u` its person).
macro_rules! grant_columns {
    () => {
        "g.id, g.client_id, g.person_id, g.server_id, g.resource, g.scope, \
         g.revoked_at IS NOT NULL AS revoked, s.enabled AS server_enabled, \
         (u.active AND u.deleted_at IS NULL) AS person_active"
    };
}
/// The joins [`grant_columns`] reads.
macro_rules! grant_joins {
    () => {
        "JOIN mcp_servers s ON s.id = g.server_id JOIN directory_users u ON u.id = g.person_id"
    };
}

const SELECT_GRANT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM oauth_grants g ",
    grant_joins!()
);

pub async fn find_grant(ex: Exec<'_>, id: &str) -> Result<Option<GrantRow>> {
    Ok(fetch_optional!(
        ex,
        GrantRow,
        &format!("{SELECT_GRANT} WHERE g.id = $1"),
        id
    )?)
}

/// A code taken for use: the row as it was (whether it had been used, and
/// whether it is still fresh), marking it used.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CodeRow {
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub async fn find_code(tx: &mut Tx, code_hash: &str) -> Result<Option<CodeRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        CodeRow,
        "SELECT grant_id, redirect_uri, code_challenge, expires_at, used_at FROM oauth_codes WHERE code_hash = $1",
        code_hash
    )?)
}

/// Marks a code used; true if this call used it (not used before).
pub async fn use_code(tx: &mut Tx, code_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
        code_hash,
        now
    )? == 1)
}

/// Revokes a grant (and so every token of it); true if it was live.
pub async fn revoke_grant(tx: &mut Tx, id: &str, reason: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        id,
        now,
        reason
    )? == 1)
}

/// Revokes every live grant of a client; returns how many.
pub async fn revoke_client_grants(
    tx: &mut Tx,
    client_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL",
        client_id,
        now,
        reason
    )?)
}

/// Records the `jti` of a client assertion until it expires; false when it
/// was seen before (a replay).
pub async fn use_assertion_jti(
    tx: &mut Tx,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "INSERT INTO oauth_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (client_id, jti) DO NOTHING",
        client_id,
        jti,
        expires_at
    )? == 1)
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

pub async fn insert_refresh(
    tx: &mut Tx,
    token_hash: &str,
    grant_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        token_hash,
        grant_id,
        now,
        expires
    )?;
    Ok(())
}

/// A refresh token as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub grant_id: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub async fn find_refresh(ex: Exec<'_>, token_hash: &str) -> Result<Option<RefreshRow>> {
    Ok(fetch_optional!(
        ex,
        RefreshRow,
        "SELECT grant_id, expires_at, used_at FROM oauth_refresh_tokens WHERE token_hash = $1",
        token_hash
    )?)
}

/// Rotates a refresh token: marks it used if it was not, in one statement,
/// and gives its grant and expiry; `None` when it is unknown or was used
/// before ([`find_refresh`] then tells which).
pub async fn rotate_refresh(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>> {
    #[derive(sqlx::FromRow)]
    struct Rotated {
        grant_id: String,
        expires_at: DateTime<Utc>,
    }
    Ok(fetch_optional!(
        tx.exec(),
        Rotated,
        "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         RETURNING grant_id, expires_at",
        token_hash,
        now
    )?
    .map(|r| (r.grant_id, r.expires_at)))
}

/// Notes that a client and a grant were used.
pub async fn touch(tx: &mut Tx, client_id: &str, grant_id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE oauth_grants SET last_used_at = $2 WHERE id = $1",
        grant_id,
        now
    )?;
    exec!(
        tx.exec(),
        "UPDATE oauth_clients SET last_used_at = $2 WHERE id = $1",
        client_id,
        now
    )?;
    Ok(())
}

// ---- batched rotation (see `super::rotation`) ------------------------------
//
// These statements take a run-time number of values (`IN ($2, $3, …)`,
// several `VALUES` rows): a batch is one statement whatever its size.

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A presented refresh token as stored, with its grant.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshCandidate {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    #[sqlx(flatten)]
    pub grant: GrantRow,
}

/// The stored refresh tokens among `hashes`, each with its grant.
pub async fn refresh_candidates(tx: &mut Tx, hashes: &[&str]) -> Result<Vec<RefreshCandidate>> {
    let sql = format!(
        concat!(
            "SELECT r.token_hash, r.expires_at, r.used_at IS NOT NULL AS used, ",
            grant_columns!(),
            " FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id ",
            grant_joins!(),
            " WHERE r.token_hash IN ({})"
        ),
        placeholders(1, hashes.len())
    );
    let args: Vec<Arg> = hashes.iter().map(|h| Arg::Text((*h).to_owned())).collect();
    Ok(fetch_all_dyn(tx.exec(), &sql, &args).await?)
}

/// Marks the unused tokens among `hashes` used; returns the hashes this
/// statement marked (a token another transaction used first is not among
/// them).
pub async fn use_refresh_batch(
    tx: &mut Tx,
    hashes: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Used {
        token_hash: String,
    }
    let sql = format!(
        "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE used_at IS NULL AND token_hash IN ({}) \
         RETURNING token_hash",
        placeholders(2, hashes.len())
    );
    let mut args = vec![Arg::Time(now)];
    args.extend(hashes.iter().map(|h| Arg::Text((*h).to_owned())));
    Ok(fetch_all_dyn::<Used>(tx.exec(), &sql, &args)
        .await?
        .into_iter()
        .map(|u| u.token_hash)
        .collect())
}

/// Inserts new refresh tokens, `(token_hash, grant_id)` each, in one statement.
pub async fn insert_refresh_batch(
    tx: &mut Tx,
    tokens: &[(String, String)],
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let rows = (0..tokens.len())
        .map(|i| format!("(${}, ${}, $1, $2)", 3 + 2 * i, 4 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES {rows}"
    );
    let mut args = vec![Arg::Time(now), Arg::Time(expires)];
    for (hash, grant) in tokens {
        args.push(Arg::Text(hash.clone()));
        args.push(Arg::Text(grant.clone()));
    }
    exec_dyn(tx.exec(), &sql, &args).await?;
    Ok(())
}

/// Notes that grants and clients were used (one statement per table).
pub async fn touch_batch(
    tx: &mut Tx,
    grant_ids: &[&str],
    client_ids: &[&str],
    now: DateTime<Utc>,
) -> Result<()> {
    for (table, ids) in [("oauth_grants", grant_ids), ("oauth_clients", client_ids)] {
        if ids.is_empty() {
            continue;
        }
        let sql = format!(
            "UPDATE {table} SET last_used_at = $1 WHERE id IN ({})",
            placeholders(2, ids.len())
        );
        let mut args = vec![Arg::Time(now)];
        args.extend(ids.iter().map(|id| Arg::Text((*id).to_owned())));
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(())
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

/// `$1` status ('' for any), `$2` LIKE pattern on name or id.
const CLIENT_FILTER: &str = " WHERE ($1 = '' OR c.status = $1) \
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
            "SELECT c.id, c.kind, c.name, c.status, c.status_reason, c.redirect_uris, c.auth_method, \
             c.software_id, c.created_at, c.created_by, c.last_used_at, \
             (SELECT COUNT(DISTINCT k.person_id) FROM oauth_consents k WHERE k.client_id = c.id) AS consents, \
             (SELECT COUNT(*) FROM oauth_grants g WHERE g.client_id = c.id AND g.revoked_at IS NULL) AS live_grants \
             FROM oauth_clients c{CLIENT_FILTER} \
             ORDER BY CASE c.status WHEN 'pending' THEN 0 WHEN 'active' THEN 1 WHEN 'blocked' THEN 2 ELSE 3 END, \
             c.created_at DESC, c.id LIMIT $3 OFFSET $4"
        ),
        status,
        pattern,
        limit,
        offset
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
