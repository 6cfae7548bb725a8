//! Every SQL statement of the gateways area (SQLite and PostgreSQL run the
//! same text).

use crate::db::{fetch_all_dyn, Arg, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Utc};

/// A gateway's row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct GatewayRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub token_hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_poll_at: Option<DateTime<Utc>>,
    pub served_revision: Option<i64>,
    pub reported_at: Option<DateTime<Utc>>,
    pub active_revision: Option<i64>,
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub software: Option<String>,
}

/// The id of the MCP server whose id or slug is `id_or_slug`.
pub(super) async fn server_id(ex: Exec<'_>, id_or_slug: &str) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT id FROM mcp_servers WHERE id = $1 OR slug = $1",
        id_or_slug
    )?
    .map(|(id,)| id))
}

/// A gateway to insert.
pub(super) struct NewGateway<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub token_hash: &'a str,
    pub token_hint: &'a str,
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
    pub servers: &'a [String],
}

pub(super) async fn insert(tx: &mut Tx, g: &NewGateway<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO gateways (id, name, name_lower, description, token_hash, token_hint, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        g.id,
        g.name,
        g.name.to_lowercase(),
        g.description,
        g.token_hash,
        g.token_hint,
        g.created_at,
        g.created_by
    )?;
    for s in g.servers {
        exec!(
            tx.exec(),
            "INSERT INTO gateway_servers (gateway_id, server_id) VALUES ($1, $2)",
            g.id,
            s
        )?;
    }
    Ok(())
}

/// Replaces the credential of live gateway `id`; its name, or `None`
/// (unknown or revoked).
pub(super) async fn set_credential(
    ex: Exec<'_>,
    id: &str,
    token_hash: &str,
    token_hint: &str,
) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "UPDATE gateways SET token_hash = $1, token_hint = $2 \
         WHERE id = $3 AND revoked_at IS NULL RETURNING name",
        token_hash,
        token_hint,
        id
    )?
    .map(|(name,)| name))
}

/// Revokes live gateway `id`; its name, or `None` (unknown or revoked).
pub(super) async fn revoke(ex: Exec<'_>, id: &str, at: DateTime<Utc>) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "UPDATE gateways SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name",
        at,
        id
    )?
    .map(|(name,)| name))
}

/// Every gateway (live ones first, by name), at most 1,000.
pub(super) async fn list(ex: Exec<'_>) -> Result<Vec<GatewayRow>> {
    Ok(fetch_all!(
        ex,
        GatewayRow,
        "SELECT id, name, description, token_hint, created_at, created_by, \
         revoked_at, last_poll_at, served_revision, reported_at, active_revision, last_fetch_at, \
         last_error, last_error_at, software FROM gateways \
         ORDER BY revoked_at IS NOT NULL, name_lower LIMIT 1000"
    )?)
}

/// (gateway id, server id, server name) of every server a gateway fronts,
/// by server name.
pub(super) async fn fronted_servers(ex: Exec<'_>) -> Result<Vec<(String, String, String)>> {
    Ok(fetch_all!(
        ex,
        (String, String, String),
        "SELECT gs.gateway_id, s.id, s.name FROM gateway_servers gs \
         JOIN mcp_servers s ON s.id = gs.server_id ORDER BY s.name"
    )?)
}

/// (id, name) of the live gateway whose credential hashes to `token_hash`.
pub(super) async fn find_by_credential(
    ex: Exec<'_>,
    token_hash: &str,
) -> Result<Option<(String, String)>> {
    Ok(fetch_optional!(
        ex,
        (String, String),
        "SELECT id, name FROM gateways WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash
    )?)
}

/// Notes gateway `id`'s poll at `at`, unless a later one is written.
pub(super) async fn note_poll(
    ex: Exec<'_>,
    id: &str,
    at: DateTime<Utc>,
    revision: i64,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE gateways SET last_poll_at = $1, served_revision = $2 \
         WHERE id = $3 AND (last_poll_at IS NULL OR last_poll_at <= $1)",
        at,
        revision,
        id
    )?;
    Ok(())
}

/// A status report to write.
pub(super) struct Status<'a> {
    pub at: DateTime<Utc>,
    pub active_revision: Option<i64>,
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// Written with `at` as its time; `None` keeps the previous error.
    pub error: Option<&'a str>,
    /// `None` keeps the previous value.
    pub software: Option<&'a str>,
}

pub(super) async fn report_status(ex: Exec<'_>, id: &str, s: &Status<'_>) -> Result<()> {
    exec!(
        ex,
        "UPDATE gateways SET reported_at = $1, active_revision = $2, last_fetch_at = $3, \
         last_error = $4, last_error_at = CASE WHEN $4 IS NULL THEN last_error_at ELSE $1 END, \
         software = COALESCE($5, software) WHERE id = $6",
        s.at,
        s.active_revision,
        s.last_fetch_at,
        s.error,
        s.software,
        id
    )?;
    Ok(())
}

/// Forgets decision ids recorded before `before`.
pub(super) async fn forget_decision_ids(ex: Exec<'_>, before: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "DELETE FROM gateway_decision_ids WHERE recorded_at < $1",
        before
    )?;
    Ok(())
}

/// Remembers that gateway `gateway_id` sent the decisions `decision_ids`;
/// answers the ids it had not sent before (multi-row INSERTs, 3 binds a
/// row).
pub(super) async fn first_decisions(
    tx: &mut Tx,
    gateway_id: &str,
    decision_ids: &[&str],
    at: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>> {
    let mut fresh = std::collections::HashSet::with_capacity(decision_ids.len());
    let backend = tx.backend();
    for chunk in decision_ids.chunks(500) {
        let sql = format!(
            "INSERT INTO gateway_decision_ids (gateway_id, decision_id, recorded_at) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING decision_id",
            backend.values_list(chunk.len(), 3)
        );
        let mut args = Vec::with_capacity(chunk.len() * 3);
        for id in chunk {
            args.extend([
                Arg::Text(gateway_id.to_owned()),
                Arg::Text((*id).to_owned()),
                Arg::Time(at),
            ]);
        }
        let rows: Vec<(String,)> = fetch_all_dyn(tx.exec(), &sql, &args).await?;
        fresh.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(fresh)
}
