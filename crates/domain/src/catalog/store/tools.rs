//! The catalog's tool statements: listing and search, what discovery and
//! gateway reports compare, inserts, pinning, quarantine and review.

use crate::catalog::pinning::Pinned;
use crate::db::Exec;
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A tool's row with its server's slug and name.
#[derive(sqlx::FromRow)]
pub(in crate::catalog) struct ToolRow {
    pub id: String,
    pub server_id: String,
    pub server_slug: String,
    pub server_name: String,
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub definition: String,
    pub definition_hash: String,
    pub hints: String,
    pub overrides: String,
    pub source: String,
    pub status: String,
    pub quarantine_reason: Option<String>,
    pub pending_definition: Option<String>,
    pub pending_hash: Option<String>,
    pub last_seen_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
}

const TOOL_SELECT: &str = "SELECT t.id, t.server_id, s.slug AS server_slug, s.name AS server_name, t.name, t.title, \
     t.description, t.definition, t.definition_hash, t.hints, t.overrides, t.source, t.status, t.quarantine_reason, \
     t.pending_definition, t.pending_hash, t.last_seen_at, t.reviewed_at, t.reviewed_by \
     FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id";

/// The tools search: `$1` is a lower-cased LIKE pattern (`%%` = all), `$2`
/// a status (`''` = any).
const TOOL_FILTER: &str = " WHERE ($1 = '%%' OR LOWER(t.name) LIKE $1 ESCAPE '\\' OR LOWER(t.description) LIKE $1 ESCAPE '\\' \
     OR s.slug LIKE $1 ESCAPE '\\') AND ($2 = '' OR t.status = $2)";

/// Tool `id`.
pub(in crate::catalog) async fn tool(ex: Exec<'_>, id: &str) -> Result<Option<ToolRow>> {
    Ok(fetch_optional!(
        ex,
        ToolRow,
        &format!("{TOOL_SELECT} WHERE t.id = $1"),
        id
    )?)
}

/// The tools of server `server_id`: quarantined first, removed last.
pub(in crate::catalog) async fn server_tools(
    ex: Exec<'_>,
    server_id: &str,
) -> Result<Vec<ToolRow>> {
    Ok(fetch_all!(
        ex,
        ToolRow,
        &format!("{TOOL_SELECT} WHERE t.server_id = $1 ORDER BY t.status <> 'quarantined', t.status = 'removed', t.name"),
        server_id
    )?)
}

/// How many tools match `pattern` and `status` (see [`TOOL_FILTER`]).
pub(in crate::catalog) async fn count_tools(
    ex: Exec<'_>,
    pattern: &str,
    status: &str,
) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        &format!(
            "SELECT COUNT(*) FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id{TOOL_FILTER}"
        ),
        pattern,
        status
    )?)
}

/// The tools matching `pattern` and `status`, quarantined first, in the
/// window given.
pub(in crate::catalog) async fn list_tools(
    ex: Exec<'_>,
    pattern: &str,
    status: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<ToolRow>> {
    Ok(fetch_all!(
        ex,
        ToolRow,
        &format!(
            "{TOOL_SELECT}{TOOL_FILTER} ORDER BY t.status <> 'quarantined', s.name, t.name LIMIT $3 OFFSET $4"
        ),
        pattern,
        status,
        limit,
        offset
    )?)
}

/// What discovery compares of a tool the server already has.
#[derive(sqlx::FromRow)]
pub(in crate::catalog) struct KnownToolRow {
    pub id: String,
    pub name: String,
    pub definition_hash: String,
    pub status: String,
    pub source: String,
    pub pending_hash: Option<String>,
}

/// Every tool of server `server_id`, removed ones too.
pub(in crate::catalog) async fn known_tools(
    ex: Exec<'_>,
    server_id: &str,
) -> Result<Vec<KnownToolRow>> {
    Ok(fetch_all!(
        ex,
        KnownToolRow,
        "SELECT id, name, definition_hash, status, source, pending_hash FROM mcp_tools WHERE server_id = $1",
        server_id
    )?)
}

/// What a gateway's report of a changed tool is checked against.
#[derive(sqlx::FromRow)]
pub(in crate::catalog) struct ReportedToolRow {
    pub id: String,
    pub definition_hash: String,
    pub status: String,
    pub pending_hash: Option<String>,
    pub server_name: String,
    pub slug: String,
}

/// Tool `name` of server `server_id`.
pub(in crate::catalog) async fn reported_tool(
    ex: Exec<'_>,
    server_id: &str,
    name: &str,
) -> Result<Option<ReportedToolRow>> {
    Ok(fetch_optional!(
        ex,
        ReportedToolRow,
        "SELECT t.id, t.definition_hash, t.status, t.pending_hash, s.name AS server_name, s.slug \
         FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE t.server_id = $1 AND t.name = $2",
        server_id,
        name
    )?)
}

/// A tool to insert: its ids, pinned definition and hints (JSON text).
pub(in crate::catalog) struct NewTool<'a> {
    pub id: &'a str,
    pub server_id: &'a str,
    pub pinned: &'a Pinned,
    pub hints: &'a str,
}

/// How a tool comes into the catalog.
pub(in crate::catalog) enum Arrival<'a> {
    /// Found by discovery, with its status and, when it waits for review,
    /// why.
    Discovered {
        status: &'a str,
        quarantine_reason: Option<&'a str>,
    },
    /// Entered by hand and approved by its author.
    Manual { reviewed_by: &'a str },
}

/// Inserts a tool arriving as `how` at `now`.
pub(in crate::catalog) async fn insert_tool(
    ex: Exec<'_>,
    t: &NewTool<'_>,
    how: Arrival<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let p = t.pinned;
    let (source, status, quarantine_reason, reviewed_by) = match how {
        Arrival::Discovered {
            status,
            quarantine_reason,
        } => ("discovered", status, quarantine_reason, None),
        Arrival::Manual { reviewed_by } => ("manual", "active", None, Some(reviewed_by)),
    };
    exec!(
        ex,
        "INSERT INTO mcp_tools (id, server_id, name, title, description, definition, definition_hash, hints, \
         source, status, quarantine_reason, first_seen_at, last_seen_at, reviewed_at, reviewed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)",
        t.id,
        t.server_id,
        &p.name,
        p.title.as_deref(),
        &p.description,
        &p.definition,
        &p.hash,
        t.hints,
        source,
        status,
        quarantine_reason,
        now,
        reviewed_by.map(|_| now),
        reviewed_by
    )?;
    Ok(())
}

/// Notes an unchanged tool as seen with `status`; an active one drops any
/// pending definition.
pub(in crate::catalog) async fn mark_seen(
    ex: Exec<'_>,
    id: &str,
    now: DateTime<Utc>,
    status: &str,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET last_seen_at = $2, status = $3, pending_definition = CASE WHEN $3 = 'active' THEN NULL ELSE pending_definition END, \
         pending_hash = CASE WHEN $3 = 'active' THEN NULL ELSE pending_hash END WHERE id = $1",
        id,
        now,
        status
    )?;
    Ok(())
}

/// Replaces the definition of a never-approved tool with the latest one
/// seen: discovery's comes with its hints, a gateway's report leaves the
/// hints as they are (`None`).
pub(in crate::catalog) async fn refresh_unapproved(
    ex: Exec<'_>,
    id: &str,
    p: &Pinned,
    hints: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET title = $2, description = $3, definition = $4, definition_hash = $5, \
         hints = COALESCE($6, hints), last_seen_at = $7 WHERE id = $1",
        id,
        p.title.as_deref(),
        &p.description,
        &p.definition,
        &p.hash,
        hints,
        now
    )?;
    Ok(())
}

/// Quarantines an approved tool whose definition changed, keeping the new
/// definition pending review.
pub(in crate::catalog) async fn quarantine_changed(
    ex: Exec<'_>,
    id: &str,
    p: &Pinned,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET status = 'quarantined', quarantine_reason = 'changed', pending_definition = $2, \
         pending_hash = $3, last_seen_at = $4 WHERE id = $1",
        id,
        &p.definition,
        &p.hash,
        now
    )?;
    Ok(())
}

/// Marks a tool the server no longer lists as removed.
pub(in crate::catalog) async fn mark_removed(ex: Exec<'_>, id: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET status = 'removed' WHERE id = $1",
        id
    )?;
    Ok(())
}

/// Makes tool `id`'s pending definition the pinned one, with the fields
/// read from it.
pub(in crate::catalog) async fn pin_pending(
    ex: Exec<'_>,
    id: &str,
    title: Option<&str>,
    description: &str,
    hints: &str,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET definition = pending_definition, definition_hash = pending_hash, title = $2, \
         description = $3, hints = $4 WHERE id = $1",
        id,
        title,
        description,
        hints
    )?;
    Ok(())
}

/// Marks tool `id` active, reviewed by `reviewed_by` at `now`.
pub(in crate::catalog) async fn approve(
    ex: Exec<'_>,
    id: &str,
    now: DateTime<Utc>,
    reviewed_by: &str,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET status = 'active', quarantine_reason = NULL, pending_definition = NULL, pending_hash = NULL, \
         reviewed_at = $2, reviewed_by = $3 WHERE id = $1",
        id,
        now,
        reviewed_by
    )?;
    Ok(())
}

/// Sets tool `id`'s annotation overrides (JSON text).
pub(in crate::catalog) async fn set_overrides(
    ex: Exec<'_>,
    id: &str,
    overrides: &str,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE mcp_tools SET overrides = $2 WHERE id = $1",
        id,
        overrides
    )?;
    Ok(())
}
