//! Every SQL statement of the access area (SQLite and PostgreSQL run the
//! same text): grants, the catalog and directory rows a grant names, and
//! the revision log.

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A grant's row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    pub id: String,
    pub subject_kind: String,
    pub subject_id: Option<String>,
    pub server_id: String,
    pub target_kind: String,
    pub tool_names: String,
    pub annotation: Option<String>,
    pub include_destructive: bool,
    pub effect: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

const GRANT_COLUMNS: &str =
    "g.id, g.subject_kind, g.subject_id, g.server_id, g.target_kind, g.tool_names, g.annotation, \
     g.include_destructive, g.effect, g.expires_at, g.reason, g.created_by, g.created_at";

/// The tables a listed grant is read from (with its server's and
/// subject's names).
const LISTED_GRANT_FROM: &str = "FROM grants g JOIN mcp_servers s ON s.id = g.server_id \
     LEFT JOIN directory_users u ON g.subject_kind = 'user' AND u.id = g.subject_id \
     LEFT JOIN directory_groups dg ON g.subject_kind = 'group' AND dg.id = g.subject_id \
     LEFT JOIN agents ag ON g.subject_kind = 'agent' AND ag.id = g.subject_id";

/// The columns a listed grant adds to [`GRANT_COLUMNS`].
const LISTED_GRANT_EXTRA: &str =
    "s.name AS server_name, COALESCE(u.email, u.user_name, dg.display_name, ag.name) AS subject_display";

/// A grant with its server's and subject's names.
#[derive(sqlx::FromRow)]
pub(super) struct ListedGrant {
    #[sqlx(flatten)]
    pub g: GrantRow,
    pub server_name: String,
    pub subject_display: Option<String>,
}

// --- What a grant names ---

/// Whether directory person `id` exists and is not deleted.
pub(super) async fn person_exists(ex: Exec<'_>, id: &str) -> Result<bool> {
    let n = scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM directory_users WHERE id = $1 AND deleted_at IS NULL",
        id
    )?;
    Ok(n > 0)
}

/// Whether directory group `id` exists.
pub(super) async fn group_exists(ex: Exec<'_>, id: &str) -> Result<bool> {
    let n = scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM directory_groups WHERE id = $1",
        id
    )?;
    Ok(n > 0)
}

/// Whether agent `id` exists.
pub(super) async fn agent_exists(ex: Exec<'_>, id: &str) -> Result<bool> {
    let n = scalar!(ex, i64, "SELECT COUNT(*) FROM agents WHERE id = $1", id)?;
    Ok(n > 0)
}

/// An agent's name.
pub(super) async fn agent_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(name) FROM agents WHERE id = $1",
        id
    )?)
}

/// The agent whose id is `id` or whose name is `lower` (lower case):
/// `(id, name)`.
pub(super) async fn find_agent(
    ex: Exec<'_>,
    id: &str,
    lower: &str,
) -> Result<Option<(String, String)>> {
    if id.is_empty() {
        return Ok(None);
    }
    Ok(fetch_optional!(
        ex,
        (String, String),
        "SELECT id, name FROM agents WHERE id = $1 OR name_lower = $2 ORDER BY id LIMIT 1",
        id,
        lower
    )?)
}

/// Whether MCP server `id` exists.
pub(super) async fn server_exists(ex: Exec<'_>, id: &str) -> Result<bool> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM mcp_servers WHERE id = $1",
        id
    )? > 0)
}

/// The names of server `server_id`'s tools that are not removed.
pub(super) async fn live_tool_names(ex: Exec<'_>, server_id: &str) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct N {
        name: String,
    }
    Ok(fetch_all!(
        ex,
        N,
        "SELECT name FROM mcp_tools WHERE server_id = $1 AND status <> 'removed'",
        server_id
    )?
    .into_iter()
    .map(|n| n.name)
    .collect())
}

/// The slug of MCP server `id`.
pub(super) async fn server_slug(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(slug) FROM mcp_servers WHERE id = $1",
        id
    )?)
}

/// The email (else userName) of directory person `id`.
pub(super) async fn person_label(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(COALESCE(email, user_name)) FROM directory_users WHERE id = $1",
        id
    )?)
}

/// The display name of directory group `id`.
pub(super) async fn group_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(display_name) FROM directory_groups WHERE id = $1",
        id
    )?)
}

/// A live directory person an admin's text matched: (id, email or userName).
#[derive(sqlx::FromRow)]
pub(super) struct PersonMatch {
    pub id: String,
    pub label: String,
}

/// Up to three live directory people whose id is `who`, or whose email or
/// userName is `who_lower` (lower-cased), by id.
pub(super) async fn find_people(
    ex: Exec<'_>,
    who: &str,
    who_lower: &str,
) -> Result<Vec<PersonMatch>> {
    Ok(fetch_all!(
        ex,
        PersonMatch,
        "SELECT id, COALESCE(email, user_name) AS label FROM directory_users \
         WHERE deleted_at IS NULL AND (id = $1 OR LOWER(email) = $2 OR user_name_lower = $2) \
         ORDER BY id LIMIT 3",
        who,
        who_lower
    )?)
}

// --- Grants ---

pub(super) async fn insert_grant(tx: &mut Tx, g: &GrantRow) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO grants (id, subject_kind, subject_id, server_id, target_kind, tool_names, annotation, \
         include_destructive, effect, expires_at, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &g.id,
        &g.subject_kind,
        g.subject_id.as_deref(),
        &g.server_id,
        &g.target_kind,
        &g.tool_names,
        g.annotation.as_deref(),
        g.include_destructive,
        &g.effect,
        g.expires_at,
        &g.reason,
        &g.created_by,
        g.created_at
    )?;
    Ok(())
}

/// Grant `id` as stored.
pub(super) async fn grant(ex: Exec<'_>, id: &str) -> Result<Option<GrantRow>> {
    Ok(fetch_optional!(
        ex,
        GrantRow,
        &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"),
        id
    )?)
}

pub(super) async fn delete_grant(ex: Exec<'_>, id: &str) -> Result<()> {
    exec!(ex, "DELETE FROM grants WHERE id = $1", id)?;
    Ok(())
}

/// Sets grant `id`'s expiry and reason.
pub(super) async fn update_grant(
    ex: Exec<'_>,
    id: &str,
    expires_at: Option<DateTime<Utc>>,
    reason: &str,
    tool_names: &str,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE grants SET expires_at = $2, reason = $3, tool_names = $4 WHERE id = $1",
        id,
        expires_at,
        reason,
        tool_names
    )?;
    Ok(())
}

/// What grants are listed by: a server id and a subject id (each `""` for
/// any), and a LIKE pattern over names, reason and tools (`"%%"` for any).
pub(super) struct GrantFilter<'a> {
    pub server: &'a str,
    pub subject: &'a str,
    pub pattern: &'a str,
}

/// The FROM and WHERE of [`count_grants`] and [`list_grants`].
fn filtered_grants() -> String {
    format!(
        " {LISTED_GRANT_FROM} \
         WHERE ($1 = '' OR g.server_id = $1) AND ($2 = '' OR g.subject_id = $2) \
         AND ($3 = '%%' OR LOWER(s.slug) LIKE $3 ESCAPE '\\' OR LOWER(s.name) LIKE $3 ESCAPE '\\' \
           OR LOWER(COALESCE(u.email, u.user_name, '')) LIKE $3 ESCAPE '\\' \
           OR LOWER(COALESCE(dg.display_name, '')) LIKE $3 ESCAPE '\\' \
           OR LOWER(COALESCE(ag.name, '')) LIKE $3 ESCAPE '\\' OR LOWER(g.reason) LIKE $3 ESCAPE '\\' \
           OR LOWER(g.tool_names) LIKE $3 ESCAPE '\\')"
    )
}

/// How many grants `f` matches.
pub(super) async fn count_grants(ex: Exec<'_>, f: &GrantFilter<'_>) -> Result<i64> {
    let from = filtered_grants();
    Ok(scalar!(
        ex,
        i64,
        &format!("SELECT COUNT(*){from}"),
        f.server,
        f.subject,
        f.pattern
    )?)
}

/// The grants `f` matches, newest first, one page.
pub(super) async fn list_grants(
    ex: Exec<'_>,
    f: &GrantFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ListedGrant>> {
    let from = filtered_grants();
    Ok(fetch_all!(
        ex,
        ListedGrant,
        &format!(
            "SELECT {GRANT_COLUMNS}, {LISTED_GRANT_EXTRA}{from} \
             ORDER BY g.created_at DESC, g.id DESC LIMIT $4 OFFSET $5"
        ),
        f.server,
        f.subject,
        f.pattern,
        limit,
        offset
    )?)
}

/// Grant `id` with its server's and subject's names.
pub(super) async fn listed_grant(ex: Exec<'_>, id: &str) -> Result<Option<ListedGrant>> {
    Ok(fetch_optional!(
        ex,
        ListedGrant,
        &format!(
            "SELECT {GRANT_COLUMNS}, {LISTED_GRANT_EXTRA} {LISTED_GRANT_FROM} WHERE g.id = $1"
        ),
        id
    )?)
}

// --- Revisions ---

/// A policy revision as the Revisions page lists it.
#[derive(sqlx::FromRow)]
pub(super) struct RevisionRow {
    pub number: i64,
    pub created_at: DateTime<Utc>,
    pub actor_display: String,
    pub source: String,
    pub summary: String,
}

pub(super) async fn count_revisions(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT COUNT(*) FROM policy_revisions")?)
}

/// Policy revisions, newest first, one page.
pub(super) async fn list_revisions(
    ex: Exec<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<RevisionRow>> {
    Ok(fetch_all!(
        ex,
        RevisionRow,
        "SELECT number, created_at, actor_display, source, summary FROM policy_revisions \
         ORDER BY number DESC LIMIT $1 OFFSET $2",
        limit,
        offset
    )?)
}
