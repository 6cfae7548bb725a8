//! Every SQL statement of the agents area (SQLite and PostgreSQL run the
//! same text). An agent's credential is its `oauth_clients` row (same id).

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// An agent with its credential's kind and its owner's name.
#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_kind: String,
    pub owner_id: String,
    pub owner_display: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_token_at: Option<DateTime<Utc>>,
    pub auth_method: String,
    pub jwks_uri: Option<String>,
}

const SELECT_AGENT: &str = "SELECT a.id, a.name, a.description, a.owner_kind, a.owner_id, \
     COALESCE(u.email, u.user_name, g.display_name) AS owner_display, a.status, a.status_reason, \
     a.expires_at, a.created_at, a.created_by, a.last_token_at, c.auth_method, c.jwks_uri \
     FROM agents a JOIN oauth_clients c ON c.id = a.id \
     LEFT JOIN directory_users u ON a.owner_kind = 'user' AND u.id = a.owner_id \
     LEFT JOIN directory_groups g ON a.owner_kind = 'group' AND g.id = a.owner_id";

/// An agent to insert (its client row goes in first).
pub(super) struct InsertAgent<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub owner_kind: &'a str,
    pub owner_id: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: &'a str,
    pub at: DateTime<Utc>,
}

pub(super) async fn insert(tx: &mut Tx, a: &InsertAgent<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO agents (id, name, name_lower, description, owner_kind, owner_id, status, \
         expires_at, created_at, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $8)",
        a.id,
        a.name,
        a.name.to_lowercase(),
        a.description,
        a.owner_kind,
        a.owner_id,
        a.expires_at,
        a.at,
        a.created_by
    )?;
    Ok(())
}

/// Whether an agent is named `name` (case-insensitive).
pub(super) async fn name_taken(tx: &mut Tx, name: &str) -> Result<bool> {
    Ok(scalar!(
        tx.exec(),
        i64,
        "SELECT COUNT(*) FROM agents WHERE name_lower = $1",
        name.to_lowercase()
    )? > 0)
}

/// Whether the live person or the group `id` exists.
pub(super) async fn owner_exists(ex: Exec<'_>, kind: &str, id: &str) -> Result<bool> {
    let n = if kind == "user" {
        scalar!(
            ex,
            i64,
            "SELECT COUNT(*) FROM directory_users WHERE id = $1 AND deleted_at IS NULL",
            id
        )?
    } else {
        scalar!(
            ex,
            i64,
            "SELECT COUNT(*) FROM directory_groups WHERE id = $1",
            id
        )?
    };
    Ok(n > 0)
}

/// Agents whose name, id or description contains `pattern` (a LIKE
/// pattern, lower case), by name, and how many there are.
pub(super) async fn list(
    ex: Exec<'_>,
    pattern: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<AgentRow>> {
    Ok(fetch_all!(
        ex,
        AgentRow,
        &format!(
            "{SELECT_AGENT} WHERE ($1 = '%%' OR a.name_lower LIKE $1 ESCAPE '\\' \
             OR a.id LIKE $1 ESCAPE '\\' OR LOWER(a.description) LIKE $1 ESCAPE '\\') \
             ORDER BY a.name_lower, a.id LIMIT $2 OFFSET $3"
        ),
        pattern,
        limit,
        offset
    )?)
}

pub(super) async fn count(ex: Exec<'_>, pattern: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM agents a WHERE ($1 = '%%' OR a.name_lower LIKE $1 ESCAPE '\\' \
         OR a.id LIKE $1 ESCAPE '\\' OR LOWER(a.description) LIKE $1 ESCAPE '\\')",
        pattern
    )?)
}

pub(crate) async fn get(ex: Exec<'_>, id: &str) -> Result<Option<AgentRow>> {
    Ok(fetch_optional!(
        ex,
        AgentRow,
        &format!("{SELECT_AGENT} WHERE a.id = $1"),
        id
    )?)
}

/// Sets an agent's status (and why); `false` when it was already so.
pub(super) async fn set_status(
    tx: &mut Tx,
    id: &str,
    status: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 \
         WHERE id = $1 AND status <> $2",
        id,
        status,
        reason,
        at
    )? == 1)
}

/// Replaces the secret of a secret-based agent; `false` for a key-based one.
pub(super) async fn set_secret(
    tx: &mut Tx,
    id: &str,
    secret_hash: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_clients SET secret_hash = $2, updated_at = $3 \
         WHERE id = $1 AND id IN (SELECT id FROM agents) \
         AND auth_method IN ('client_secret_basic', 'client_secret_post')",
        id,
        secret_hash,
        at
    )? == 1)
}

/// Replaces the keys of a key-based agent (inline, or their URL; the other
/// is cleared); `false` for a secret-based one.
pub(super) async fn set_keys(
    tx: &mut Tx,
    id: &str,
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_clients SET jwks = $2, jwks_uri = $3, updated_at = $4 \
         WHERE id = $1 AND id IN (SELECT id FROM agents) AND auth_method = 'private_key_jwt'",
        id,
        jwks,
        jwks_uri,
        at
    )? == 1)
}

/// Records that the agent got a token.
pub(crate) async fn note_token(ex: Exec<'_>, id: &str, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE agents SET last_token_at = $2 WHERE id = $1",
        id,
        at
    )?;
    Ok(())
}

/// Agents past their expiry at `now` whose current policy fact still lists
/// them active, `(id, name)`, at most `limit`. The fact is the canonical
/// JSON of the bundle's `Agent`, so an active one holds `"active":true`.
pub(super) async fn expired_but_listed_active(
    ex: Exec<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    Ok(fetch_all!(
        ex,
        (String, String),
        "SELECT a.id, a.name FROM agents a JOIN policy_facts f \
         ON f.kind = 'agent' AND f.k1 = a.id AND f.k2 = '' AND f.rev_to IS NULL \
         WHERE a.status = 'active' AND a.expires_at <= $1 AND f.value LIKE '%\"active\":true%' \
         ORDER BY a.expires_at, a.id LIMIT $2",
        now,
        limit
    )?)
}

/// A catalog server's name.
pub(super) async fn server_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT name FROM mcp_servers WHERE id = $1",
        id
    )?
    .map(|r| r.0))
}

/// A delegation to insert.
pub(super) struct NewDelegation<'a> {
    pub id: &'a str,
    pub agent_id: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: Option<&'a str>,
    pub server_id: &'a str,
    pub reason: &'a str,
    pub created_by: &'a str,
}

pub(super) async fn insert_delegation(
    tx: &mut Tx,
    d: &NewDelegation<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO delegations (id, agent_id, subject_kind, subject_id, server_id, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        d.id,
        d.agent_id,
        d.subject_kind,
        d.subject_id,
        d.server_id,
        d.reason,
        d.created_by,
        now
    )?;
    Ok(())
}

/// Whether agent `agent` already holds this delegation.
pub(super) async fn delegation_exists(
    ex: Exec<'_>,
    agent: &str,
    kind: &str,
    subject: Option<&str>,
    server: &str,
) -> Result<bool> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM delegations WHERE agent_id = $1 AND subject_kind = $2 \
         AND COALESCE(subject_id, '') = $3 AND server_id = $4",
        agent,
        kind,
        subject.unwrap_or(""),
        server
    )? > 0)
}

pub(super) async fn delete_delegation(tx: &mut Tx, id: &str) -> Result<bool> {
    Ok(exec!(tx.exec(), "DELETE FROM delegations WHERE id = $1", id)? == 1)
}

#[derive(sqlx::FromRow)]
struct DelegationRow {
    id: String,
    agent_id: String,
    subject_kind: String,
    subject_id: Option<String>,
    subject_display: Option<String>,
    server_id: String,
    server_name: String,
    reason: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<DelegationRow> for portcullis_types::DelegationSummary {
    fn from(r: DelegationRow) -> Self {
        Self {
            subject_display: match (r.subject_kind.as_str(), r.subject_display) {
                ("everyone", _) => "Everyone".to_owned(),
                (_, Some(d)) => d,
                (_, None) => r.subject_id.clone().unwrap_or_default(),
            },
            id: r.id,
            agent_id: r.agent_id.into(),
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            server_id: r.server_id,
            server_name: r.server_name,
            reason: r.reason,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

const SELECT_DELEGATION: &str = "SELECT d.id, d.agent_id, d.subject_kind, d.subject_id, \
     COALESCE(u.email, u.user_name, g.display_name) AS subject_display, d.server_id, \
     s.name AS server_name, d.reason, d.created_by, d.created_at \
     FROM delegations d JOIN mcp_servers s ON s.id = d.server_id \
     LEFT JOIN directory_users u ON d.subject_kind = 'user' AND u.id = d.subject_id \
     LEFT JOIN directory_groups g ON d.subject_kind = 'group' AND g.id = d.subject_id";

pub(super) async fn delegation(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<portcullis_types::DelegationSummary>> {
    Ok(fetch_optional!(
        ex,
        DelegationRow,
        &format!("{SELECT_DELEGATION} WHERE d.id = $1"),
        id
    )?
    .map(Into::into))
}

pub(super) async fn delegations_of(
    ex: Exec<'_>,
    agent: &str,
) -> Result<Vec<portcullis_types::DelegationSummary>> {
    Ok(fetch_all!(
        ex,
        DelegationRow,
        &format!(
            "{SELECT_DELEGATION} WHERE d.agent_id = $1 ORDER BY s.name, subject_display, d.id"
        ),
        agent
    )?
    .into_iter()
    .map(Into::into)
    .collect())
}
