//! Every SQL statement of the catalog area (SQLite and PostgreSQL run the
//! same text): here the servers (and which servers a gateway fronts); in
//! [`tools`] the tools, with discovery's and pinning's bookkeeping.

mod tools;

pub(super) use tools::*;

use super::model::CheckedServer;
use crate::db::Exec;
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A server's row with its tool, quarantine and grant counts.
#[derive(sqlx::FromRow)]
pub(super) struct ServerRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub resource_url: String,
    pub description: String,
    pub owner: String,
    pub tags: String,
    pub enabled: bool,
    pub discovered_at: Option<DateTime<Utc>>,
    pub discovery_error: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub tools: i64,
    pub quarantined: i64,
    pub grants: i64,
}

const SERVER_SELECT: &str = "SELECT s.id, s.slug, s.name, s.resource_url, s.description, s.owner, s.tags, s.enabled, \
     s.discovered_at, s.discovery_error, s.updated_at, \
     (SELECT COUNT(*) FROM mcp_tools t WHERE t.server_id = s.id AND t.status <> 'removed') AS tools, \
     (SELECT COUNT(*) FROM mcp_tools t WHERE t.server_id = s.id AND t.status = 'quarantined') AS quarantined, \
     (SELECT COUNT(*) FROM grants g WHERE g.server_id = s.id) AS grants \
     FROM mcp_servers s";

/// The servers search: `$1` is a lower-cased LIKE pattern (`%%` = all).
const SERVER_FILTER: &str =
    " WHERE ($1 = '%%' OR LOWER(s.name) LIKE $1 ESCAPE '\\' OR s.slug LIKE $1 ESCAPE '\\' \
     OR LOWER(s.resource_url) LIKE $1 ESCAPE '\\' OR s.tags LIKE $1 ESCAPE '\\')";

const INSERT_SERVER: &str = "INSERT INTO mcp_servers (id, slug, name, resource_url, description, owner, tags, enabled, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8)";

const UPDATE_SERVER: &str = "UPDATE mcp_servers SET slug = $2, name = $3, resource_url = $4, description = $5, owner = $6, tags = $7, updated_at = $8 \
     WHERE id = $1";

/// Runs `sql` (an insert or an update of a server) with server `id`'s
/// fields bound as `$1` to `$8`; the rows changed.
async fn write_server(
    ex: Exec<'_>,
    sql: &str,
    id: &str,
    s: &CheckedServer,
    tags: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec!(
        ex,
        sql,
        id,
        &s.slug,
        &s.name,
        &s.resource_url,
        &s.description,
        &s.owner,
        tags,
        now
    )?)
}

/// Inserts an enabled server; `tags` is the JSON text of its tags.
pub(super) async fn insert_server(
    ex: Exec<'_>,
    id: &str,
    s: &CheckedServer,
    tags: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    write_server(ex, INSERT_SERVER, id, s, tags, now).await?;
    Ok(())
}

/// Rewrites server `id`'s fields; the rows changed (0: no such server).
pub(super) async fn update_server(
    ex: Exec<'_>,
    id: &str,
    s: &CheckedServer,
    tags: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    write_server(ex, UPDATE_SERVER, id, s, tags, now).await
}

pub(super) async fn set_server_enabled(
    ex: Exec<'_>,
    id: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_servers SET enabled = $2, updated_at = $3 WHERE id = $1",
        id,
        enabled,
        now
    )?;
    Ok(())
}

/// The ids of the grants on server `id`.
pub(super) async fn server_grant_ids(ex: Exec<'_>, id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT id FROM grants WHERE server_id = $1",
        id
    )?
    .into_iter()
    .map(|(id,)| id)
    .collect())
}

/// Deletes server `id` (its tools and grants go with it).
pub(super) async fn delete_server(ex: Exec<'_>, id: &str) -> Result<()> {
    exec!(ex, "DELETE FROM mcp_servers WHERE id = $1", id)?;
    Ok(())
}

/// Server `id`'s name, `None` when there is no such server.
pub(super) async fn server_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(name) FROM mcp_servers WHERE id = $1",
        id
    )?)
}

/// How many servers match `pattern` (see [`SERVER_FILTER`]).
pub(super) async fn count_servers(ex: Exec<'_>, pattern: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        &format!("SELECT COUNT(*) FROM mcp_servers s{SERVER_FILTER}"),
        pattern
    )?)
}

/// The servers matching `pattern`, by name, in the window given.
pub(super) async fn list_servers(
    ex: Exec<'_>,
    pattern: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<ServerRow>> {
    Ok(fetch_all!(
        ex,
        ServerRow,
        &format!("{SERVER_SELECT}{SERVER_FILTER} ORDER BY s.name, s.id LIMIT $2 OFFSET $3"),
        pattern,
        limit,
        offset
    )?)
}

/// The server whose id or slug is `id_or_slug`.
pub(super) async fn server(ex: Exec<'_>, id_or_slug: &str) -> Result<Option<ServerRow>> {
    Ok(fetch_optional!(
        ex,
        ServerRow,
        &format!("{SERVER_SELECT} WHERE s.id = $1 OR s.slug = $1"),
        id_or_slug
    )?)
}

/// When server `id` was last discovered (`None`: never).
pub(super) async fn discovered_at(ex: Exec<'_>, id: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(scalar!(
        ex,
        Option<DateTime<Utc>>,
        "SELECT discovered_at FROM mcp_servers WHERE id = $1",
        id
    )?)
}

/// Records a failed discovery of server `id`.
pub(super) async fn set_discovery_error(
    ex: Exec<'_>,
    id: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_servers SET discovery_error = $2, updated_at = $3 WHERE id = $1",
        id,
        message,
        now
    )?;
    Ok(())
}

/// Records a successful discovery of server `id`; `server_info` is JSON text.
pub(super) async fn set_discovered(
    ex: Exec<'_>,
    id: &str,
    now: DateTime<Utc>,
    server_info: Option<String>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_servers SET discovered_at = $2, discovery_error = NULL, server_info = $3, updated_at = $2 WHERE id = $1",
        id,
        now,
        server_info
    )?;
    Ok(())
}

/// How many servers gateway `gateway_id` names as fronted (0: all).
pub(super) async fn fronted_count(ex: Exec<'_>, gateway_id: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM gateway_servers WHERE gateway_id = $1",
        gateway_id
    )?)
}

/// 1 when gateway `gateway_id` names server `server_id` as fronted, else 0.
pub(super) async fn fronts_server(ex: Exec<'_>, gateway_id: &str, server_id: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM gateway_servers WHERE gateway_id = $1 AND server_id = $2",
        gateway_id,
        server_id
    )?)
}
