//! Catalog: MCP servers, their tools, discovery and tool pinning.
//!
//! A server's resource URL is the canonical URL OAuth tokens are bound to.
//! Tools come from discovery (`initialize` + `tools/list` over streamable
//! HTTP through the SSRF guard, see `portcullis-discovery`) or are entered by
//! hand. Everything a server says about its tools is untrusted: annotations
//! are hints an admin may override, and they only ever select tools for a
//! grant, never grant anything.
//!
//! Pinning: each tool keeps the hash of its approved definition. When a
//! later discovery finds a new tool or a changed definition ("rug pull"),
//! the tool is quarantined (denied to everyone) until an admin reviews the
//! diff and approves it. Tools found by a server's first discovery, and tools
//! entered by hand, are approved by the admin's act of adding them.
//!
//! Every change syncs the policy facts in the same transaction (see
//! [`crate::revisions`]), so a change that alters the policy makes a revision.

use crate::actor::{Actor, Permission};
use crate::audit::{self, like_escape, NewEvent, Target};
use crate::clock::new_id;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::revisions::{self, Change};
use crate::{exec, fetch_all, fetch_optional, scalar, Core};
use chrono::{DateTime, Utc};
use portcullis_discovery::{canonical_json, definition_hash, DiscoveredTool, Guard};
use portcullis_policy::bundle::Annotations;
use portcullis_types::{
    DiffLine, DiscoveryReport, EffectiveAnnotations, FieldError, ManualToolInput, Page,
    ServerInput, ServerSummary, ToolDetail, ToolHints, ToolStatus, ToolSummary,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The annotations the policy bundle carries for a tool.
pub fn effective_annotations(hints: &ToolHints, overrides: &ToolHints) -> Annotations {
    let e = hints.overridden_by(overrides).effective();
    Annotations {
        read_only: e.read_only,
        destructive: e.destructive,
        idempotent: e.idempotent,
        open_world: e.open_world,
    }
}

/// Catalog service.
#[derive(Clone)]
pub struct CatalogService {
    pub core: Arc<Core>,
    /// The guard every discovery fetch goes through.
    pub guard: Arc<Guard>,
}

#[derive(sqlx::FromRow)]
struct ServerRow {
    id: String,
    slug: String,
    name: String,
    resource_url: String,
    description: String,
    owner: String,
    tags: String,
    enabled: bool,
    discovered_at: Option<DateTime<Utc>>,
    discovery_error: Option<String>,
    updated_at: DateTime<Utc>,
    tools: i64,
    quarantined: i64,
    grants: i64,
}

impl ServerRow {
    fn into_summary(self) -> ServerSummary {
        ServerSummary {
            id: self.id,
            slug: self.slug,
            name: self.name,
            resource_url: self.resource_url,
            description: self.description,
            owner: self.owner,
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            enabled: self.enabled,
            tools: self.tools,
            quarantined: self.quarantined,
            grants: self.grants,
            discovered_at: self.discovered_at,
            discovery_error: self.discovery_error,
            updated_at: self.updated_at,
        }
    }
}

const SERVER_SELECT: &str = "SELECT s.id, s.slug, s.name, s.resource_url, s.description, s.owner, s.tags, s.enabled, \
     s.discovered_at, s.discovery_error, s.updated_at, \
     (SELECT COUNT(*) FROM mcp_tools t WHERE t.server_id = s.id AND t.status <> 'removed') AS tools, \
     (SELECT COUNT(*) FROM mcp_tools t WHERE t.server_id = s.id AND t.status = 'quarantined') AS quarantined, \
     (SELECT COUNT(*) FROM grants g WHERE g.server_id = s.id) AS grants \
     FROM mcp_servers s";

#[derive(sqlx::FromRow)]
struct ToolRow {
    id: String,
    server_id: String,
    server_slug: String,
    server_name: String,
    name: String,
    title: Option<String>,
    description: String,
    definition: String,
    definition_hash: String,
    hints: String,
    overrides: String,
    source: String,
    status: String,
    quarantine_reason: Option<String>,
    pending_definition: Option<String>,
    pending_hash: Option<String>,
    last_seen_at: DateTime<Utc>,
    reviewed_at: Option<DateTime<Utc>>,
    reviewed_by: Option<String>,
}

const TOOL_SELECT: &str = "SELECT t.id, t.server_id, s.slug AS server_slug, s.name AS server_name, t.name, t.title, \
     t.description, t.definition, t.definition_hash, t.hints, t.overrides, t.source, t.status, t.quarantine_reason, \
     t.pending_definition, t.pending_hash, t.last_seen_at, t.reviewed_at, t.reviewed_by \
     FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id";

fn parse_hints(s: &str) -> ToolHints {
    serde_json::from_str(s).unwrap_or_default()
}

impl ToolRow {
    fn summary(&self) -> ToolSummary {
        let hints = parse_hints(&self.hints);
        let overrides = parse_hints(&self.overrides);
        ToolSummary {
            id: self.id.clone(),
            server_id: self.server_id.clone(),
            server_slug: self.server_slug.clone(),
            server_name: self.server_name.clone(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            hints,
            overrides,
            effective: hints.overridden_by(&overrides).effective(),
            status: ToolStatus::parse(&self.status).unwrap_or(ToolStatus::Quarantined),
            quarantine_reason: self.quarantine_reason.clone(),
            source: self.source.clone(),
            definition_hash: self.definition_hash.clone(),
            last_seen_at: self.last_seen_at,
            callers: None,
        }
    }
}

/// A tool definition in the form the catalog pins: canonical JSON, its hash,
/// and the fields the console lists.
struct Pinned {
    name: String,
    title: Option<String>,
    description: String,
    hints: ToolHints,
    definition: String,
    hash: String,
}

fn pin(tool: &DiscoveredTool) -> Pinned {
    let a = &tool.annotations;
    // The pinned hash is over exactly the stored canonical definition, so a
    // reviewer sees what was hashed.
    let definition = canonical_json(&tool.definition());
    Pinned {
        name: tool.name.clone(),
        title: tool.title.clone().or_else(|| a.title.clone()),
        description: tool.description.clone().unwrap_or_default(),
        hints: ToolHints {
            read_only: a.read_only_hint,
            destructive: a.destructive_hint,
            idempotent: a.idempotent_hint,
            open_world: a.open_world_hint,
        },
        hash: definition_hash(tool),
        definition,
    }
}

fn pretty(canonical: &str) -> String {
    serde_json::from_str::<Value>(canonical)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| canonical.to_owned())
}

/// A line diff (longest common subsequence) of two short texts.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Tool definitions are a few hundred lines at most (size-capped by
    // discovery), so the quadratic table stays small.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    let line = |op: char, t: &str| DiffLine {
        op,
        text: t.to_owned(),
    };
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(line(' ', a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(line('-', a[i]));
            i += 1;
        } else {
            out.push(line('+', b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|t| line('-', t)));
    out.extend(b[j..].iter().map(|t| line('+', t)));
    out
}

struct CheckedServer {
    name: String,
    slug: String,
    resource_url: String,
    description: String,
    owner: String,
    tags: Vec<String>,
}

fn check_server(input: &ServerInput) -> Result<CheckedServer> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        err("name", "enter a name of 1 to 100 characters");
    }
    let slug = input.slug.trim().to_lowercase();
    if slug.is_empty()
        || slug.len() > 48
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || slug.starts_with('-')
    {
        err(
            "slug",
            "use 1 to 48 lower-case letters, digits and dashes, not starting with a dash",
        );
    }
    let resource_url = input.resource_url.trim().to_owned();
    match url::Url::parse(&resource_url) {
        Ok(u) if !matches!(u.scheme(), "https" | "http") => {
            err("resource_url", "use an http or https URL")
        }
        Ok(u) if u.fragment().is_some() => {
            err("resource_url", "a resource URL has no #fragment (RFC 8707)")
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => err(
            "resource_url",
            "a resource URL has no user name or password",
        ),
        Ok(u) if u.host_str().is_none() => err("resource_url", "the URL needs a host"),
        Ok(_) if resource_url.len() > 2000 => err("resource_url", "at most 2,000 characters"),
        Ok(_) => {}
        Err(_) => err(
            "resource_url",
            "enter the server's full URL, e.g. https://mcp.example.com/mcp",
        ),
    }
    let description = input.description.trim().to_owned();
    if description.chars().count() > 2000 {
        err("description", "at most 2,000 characters");
    }
    let owner = input.owner.trim().to_owned();
    if owner.chars().count() > 200 {
        err("owner", "at most 200 characters");
    }
    let mut tags: Vec<String> = input
        .tags
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 32) {
        err("tags", "at most 20 tags of up to 32 characters each");
    }
    if errors.is_empty() {
        Ok(CheckedServer {
            name,
            slug,
            resource_url,
            description,
            owner,
            tags,
        })
    } else {
        Err(Error::Invalid(errors))
    }
}

fn to_json_text<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Ends a catalog change: syncs the server's policy facts (a new revision
/// when the policy changed), appends `event` with that revision added to its
/// details, and commits. Returns the revision, if one was made.
/// Quarantines an approved tool whose definition changed, keeping the new
/// definition pending review (discovery and gateway reports alike).
async fn quarantine_changed(tx: &mut Tx, id: &str, p: &Pinned, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE mcp_tools SET status = 'quarantined', quarantine_reason = 'changed', pending_definition = $2, \
         pending_hash = $3, last_seen_at = $4 WHERE id = $1",
        id,
        &p.definition,
        &p.hash,
        now
    )?;
    Ok(())
}

async fn finish(
    mut tx: Tx,
    actor: &Actor,
    server_id: &str,
    summary: String,
    now: DateTime<Utc>,
    mut event: NewEvent,
) -> Result<Option<i64>> {
    let mut change = Change::new(actor, "catalog", summary, now);
    revisions::sync_server(&mut tx, &mut change, server_id).await?;
    let revision = change.revision();
    if let Value::Object(details) = &mut event.details {
        details.insert("revision".to_owned(), json!(revision));
    }
    audit::append(&mut tx, now, actor, event).await?;
    tx.commit().await?;
    Ok(revision)
}

impl CatalogService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// Registers an MCP server. Audited as `catalog.server.created`.
    /// **Permission:** `CatalogManage`.
    pub async fn create_server(&self, actor: &Actor, input: &ServerInput) -> Result<String> {
        actor.require(Permission::CatalogManage)?;
        let s = check_server(input)?;
        let now = self.now();
        let id = new_id("srv");
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "INSERT INTO mcp_servers (id, slug, name, resource_url, description, owner, tags, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8)",
            &id,
            &s.slug,
            &s.name,
            &s.resource_url,
            &s.description,
            &s.owner,
            to_json_text(&s.tags)?,
            now
        )?;
        finish(
            tx,
            actor,
            &id,
            format!("Server {} registered", s.slug),
            now,
            NewEvent::success("catalog.server.created")
                .target(Target::new("mcp_server", &id, &s.name))
                .details(json!({ "slug": s.slug, "resource_url": s.resource_url })),
        )
        .await?;
        Ok(id)
    }

    /// Edits a server's name, slug, resource URL, description, owner, tags.
    /// Audited as `catalog.server.updated`. **Permission:** `CatalogManage`.
    pub async fn update_server(&self, actor: &Actor, id: &str, input: &ServerInput) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let s = check_server(input)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let n = exec!(
            tx.exec(),
            "UPDATE mcp_servers SET slug = $2, name = $3, resource_url = $4, description = $5, owner = $6, tags = $7, updated_at = $8 \
             WHERE id = $1",
            id,
            &s.slug,
            &s.name,
            &s.resource_url,
            &s.description,
            &s.owner,
            to_json_text(&s.tags)?,
            now
        )?;
        if n == 0 {
            return Err(Error::NotFound("server"));
        }
        finish(
            tx,
            actor,
            id,
            format!("Server {} edited", s.slug),
            now,
            NewEvent::success("catalog.server.updated")
                .target(Target::new("mcp_server", id, &s.name))
                .details(json!({ "slug": s.slug, "resource_url": s.resource_url })),
        )
        .await?;
        Ok(())
    }

    /// Enables or disables a server (a disabled server denies every call).
    /// Audited as `catalog.server.enabled` / `.disabled`.
    /// **Permission:** `CatalogManage`.
    pub async fn set_server_enabled(&self, actor: &Actor, id: &str, enabled: bool) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = self.server_name(&mut tx, id).await?;
        exec!(
            tx.exec(),
            "UPDATE mcp_servers SET enabled = $2, updated_at = $3 WHERE id = $1",
            id,
            enabled,
            now
        )?;
        let verb = if enabled { "enabled" } else { "disabled" };
        finish(
            tx,
            actor,
            id,
            format!("Server {name} {verb}"),
            now,
            NewEvent::success(if enabled {
                "catalog.server.enabled"
            } else {
                "catalog.server.disabled"
            })
            .target(Target::new("mcp_server", id, &name))
            .details(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Deletes a server with its tools and grants. Audited as
    /// `catalog.server.deleted`. **Permission:** `CatalogManage`.
    pub async fn delete_server(&self, actor: &Actor, id: &str) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = self.server_name(&mut tx, id).await?;
        #[derive(sqlx::FromRow)]
        struct G {
            id: String,
        }
        let grants = fetch_all!(
            tx.exec(),
            G,
            "SELECT id FROM grants WHERE server_id = $1",
            id
        )?;
        exec!(tx.exec(), "DELETE FROM mcp_servers WHERE id = $1", id)?;
        let mut change = Change::new(actor, "catalog", format!("Server {name} deleted"), now);
        revisions::sync_server(&mut tx, &mut change, id).await?;
        for g in &grants {
            revisions::sync_grant(&mut tx, &mut change, &g.id, None).await?;
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("catalog.server.deleted")
                .target(Target::new("mcp_server", id, &name))
                .details(json!({ "grants_removed": grants.len(), "revision": change.revision() })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn server_name(&self, tx: &mut Tx, id: &str) -> Result<String> {
        scalar!(
            tx.exec(),
            Option<String>,
            "SELECT MIN(name) FROM mcp_servers WHERE id = $1",
            id
        )?
        .ok_or(Error::NotFound("server"))
    }

    /// Servers, searched by name, slug, URL or tag. **Permission:** `ConsoleRead`.
    pub async fn list_servers(
        &self,
        actor: &Actor,
        q: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<ServerSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        let pattern = format!("%{}%", like_escape(&q.trim().to_lowercase()));
        let filter =
            " WHERE ($1 = '%%' OR LOWER(s.name) LIKE $1 ESCAPE '\\' OR s.slug LIKE $1 ESCAPE '\\' \
             OR LOWER(s.resource_url) LIKE $1 ESCAPE '\\' OR s.tags LIKE $1 ESCAPE '\\')";
        let total = scalar!(
            self.core.db.exec(),
            i64,
            &format!("SELECT COUNT(*) FROM mcp_servers s{filter}"),
            &pattern
        )?;
        let rows = fetch_all!(
            self.core.db.exec(),
            ServerRow,
            &format!("{SERVER_SELECT}{filter} ORDER BY s.name, s.id LIMIT $2 OFFSET $3"),
            &pattern,
            limit,
            offset
        )?;
        Ok(Page {
            items: rows.into_iter().map(ServerRow::into_summary).collect(),
            total,
            offset,
            limit,
        })
    }

    /// One server. **Permission:** `ConsoleRead`.
    pub async fn server(&self, actor: &Actor, id: &str) -> Result<ServerSummary> {
        actor.require(Permission::ConsoleRead)?;
        fetch_optional!(
            self.core.db.exec(),
            ServerRow,
            &format!("{SERVER_SELECT} WHERE s.id = $1 OR s.slug = $1"),
            id
        )?
        .map(ServerRow::into_summary)
        .ok_or(Error::NotFound("server"))
    }

    /// The tools of one server: quarantined first, removed last.
    /// **Permission:** `ConsoleRead`.
    pub async fn server_tools(&self, actor: &Actor, server_id: &str) -> Result<Vec<ToolSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let rows = fetch_all!(
            self.core.db.exec(),
            ToolRow,
            &format!("{TOOL_SELECT} WHERE t.server_id = $1 ORDER BY t.status <> 'quarantined', t.status = 'removed', t.name"),
            server_id
        )?;
        Ok(rows.iter().map(ToolRow::summary).collect())
    }

    /// Tools across servers, searched by name or description, optionally only
    /// one status. **Permission:** `ConsoleRead`.
    pub async fn list_tools(
        &self,
        actor: &Actor,
        q: &str,
        status: Option<ToolStatus>,
        offset: i64,
        limit: i64,
    ) -> Result<Page<ToolSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        let pattern = format!("%{}%", like_escape(&q.trim().to_lowercase()));
        let status = status.map(|s| s.as_str()).unwrap_or("");
        let filter = " WHERE ($1 = '%%' OR LOWER(t.name) LIKE $1 ESCAPE '\\' OR LOWER(t.description) LIKE $1 ESCAPE '\\' \
             OR s.slug LIKE $1 ESCAPE '\\') AND ($2 = '' OR t.status = $2)";
        let total = scalar!(
            self.core.db.exec(),
            i64,
            &format!(
                "SELECT COUNT(*) FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id{filter}"
            ),
            &pattern,
            status
        )?;
        let rows = fetch_all!(
            self.core.db.exec(),
            ToolRow,
            &format!(
                "{TOOL_SELECT}{filter} ORDER BY t.status <> 'quarantined', s.name, t.name LIMIT $3 OFFSET $4"
            ),
            &pattern,
            status,
            limit,
            offset
        )?;
        Ok(Page {
            items: rows.iter().map(ToolRow::summary).collect(),
            total,
            offset,
            limit,
        })
    }

    /// One tool with its approved and pending definitions and their diff.
    /// **Permission:** `ConsoleRead`.
    pub async fn tool(&self, actor: &Actor, tool_id: &str) -> Result<ToolDetail> {
        actor.require(Permission::ConsoleRead)?;
        let row = fetch_optional!(
            self.core.db.exec(),
            ToolRow,
            &format!("{TOOL_SELECT} WHERE t.id = $1"),
            tool_id
        )?
        .ok_or(Error::NotFound("tool"))?;
        let definition = pretty(&row.definition);
        let pending = row.pending_definition.as_deref().map(pretty);
        let diff = pending
            .as_deref()
            .map(|p| line_diff(&definition, p))
            .unwrap_or_default();
        Ok(ToolDetail {
            tool: row.summary(),
            definition,
            pending_definition: pending,
            pending_hash: row.pending_hash.clone(),
            diff,
            reviewed_at: row.reviewed_at,
            reviewed_by: row.reviewed_by.clone(),
        })
    }

    /// Connects to the server as an MCP client and records its tools (see the
    /// module docs for pinning). `url` overrides the resource URL for the
    /// fetch (a server reachable at another address from the console); the
    /// credential is used for this fetch only and never stored. A failure is
    /// recorded on the server and audited. **Permission:** `CatalogManage`.
    pub async fn discover(
        &self,
        actor: &Actor,
        server_id: &str,
        url: Option<&str>,
        credential: Option<&str>,
    ) -> Result<DiscoveryReport> {
        actor.require(Permission::CatalogManage)?;
        let server = self.server(actor, server_id).await?;
        let target = url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(&server.resource_url)
            .to_owned();
        let credential = credential.map(str::trim).filter(|c| !c.is_empty());
        match portcullis_discovery::discover(&self.guard, &target, credential).await {
            Ok(found) => {
                let info = json!({
                    "name": found.server_name,
                    "version": found.server_version,
                    "protocol_version": found.protocol_version,
                });
                self.apply_discovery(actor, &server, &found.tools, Some(info))
                    .await
            }
            Err(e) => {
                let message = e.to_string();
                let now = self.now();
                let mut tx = self.core.db.begin().await?;
                exec!(
                    tx.exec(),
                    "UPDATE mcp_servers SET discovery_error = $2, updated_at = $3 WHERE id = $1",
                    &server.id,
                    &message,
                    now
                )?;
                audit::append(
                    &mut tx,
                    now,
                    actor,
                    NewEvent::success("catalog.server.discovery_failed")
                        .outcome(portcullis_types::Outcome::Failure)
                        .target(Target::new("mcp_server", &server.id, &server.name))
                        .details(json!({ "url": target, "error": message })),
                )
                .await?;
                tx.commit().await?;
                Err(Error::invalid("url", message))
            }
        }
    }

    /// Records what a discovery found. Public for tests and imports.
    pub async fn apply_discovery(
        &self,
        actor: &Actor,
        server: &ServerSummary,
        tools: &[DiscoveredTool],
        server_info: Option<Value>,
    ) -> Result<DiscoveryReport> {
        actor.require(Permission::CatalogManage)?;
        #[derive(sqlx::FromRow)]
        struct Existing {
            id: String,
            name: String,
            definition_hash: String,
            status: String,
            source: String,
            pending_hash: Option<String>,
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let first = scalar!(
            tx.exec(),
            Option<DateTime<Utc>>,
            "SELECT discovered_at FROM mcp_servers WHERE id = $1",
            &server.id
        )?
        .is_none();
        let existing: HashMap<String, Existing> = fetch_all!(
            tx.exec(),
            Existing,
            "SELECT id, name, definition_hash, status, source, pending_hash FROM mcp_tools WHERE server_id = $1",
            &server.id
        )?
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
        let mut report = DiscoveryReport {
            found: tools.len() as i64,
            ..Default::default()
        };
        let mut seen = std::collections::HashSet::new();
        for tool in tools {
            if !seen.insert(tool.name.as_str()) {
                continue; // a server listing a name twice: the first wins
            }
            let p = pin(tool);
            let hints = to_json_text(&p.hints)?;
            match existing.get(&p.name) {
                None => {
                    let status = if first { "active" } else { "quarantined" };
                    exec!(
                        tx.exec(),
                        "INSERT INTO mcp_tools (id, server_id, name, title, description, definition, definition_hash, hints, \
                         source, status, quarantine_reason, first_seen_at, last_seen_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'discovered', $9, $10, $11, $11)",
                        new_id("tool"),
                        &server.id,
                        &p.name,
                        p.title.as_deref(),
                        &p.description,
                        &p.definition,
                        &p.hash,
                        &hints,
                        status,
                        (!first).then_some("new"),
                        now
                    )?;
                    report.added += 1;
                    if !first {
                        report.quarantined.push(p.name.clone());
                    }
                }
                Some(e) if e.definition_hash == p.hash => {
                    // Unchanged. A removed tool that is back as it was is active again.
                    let status = if e.status == "removed" {
                        "active"
                    } else {
                        e.status.as_str()
                    };
                    exec!(
                        tx.exec(),
                        "UPDATE mcp_tools SET last_seen_at = $2, status = $3, pending_definition = CASE WHEN $3 = 'active' THEN NULL ELSE pending_definition END, \
                         pending_hash = CASE WHEN $3 = 'active' THEN NULL ELSE pending_hash END WHERE id = $1",
                        &e.id,
                        now,
                        status
                    )?;
                    report.unchanged += 1;
                }
                Some(e) if e.status == "quarantined" && e.pending_hash.is_none() => {
                    // New and never approved: nothing to pin yet, keep the latest.
                    exec!(
                        tx.exec(),
                        "UPDATE mcp_tools SET title = $2, description = $3, definition = $4, definition_hash = $5, hints = $6, last_seen_at = $7 WHERE id = $1",
                        &e.id,
                        p.title.as_deref(),
                        &p.description,
                        &p.definition,
                        &p.hash,
                        &hints,
                        now
                    )?;
                    report.quarantined.push(p.name.clone());
                }
                Some(e) => {
                    // The approved definition changed: quarantine until reviewed.
                    if e.pending_hash.as_deref() != Some(p.hash.as_str())
                        || e.status != "quarantined"
                    {
                        quarantine_changed(&mut tx, &e.id, &p, now).await?;
                    }
                    report.quarantined.push(p.name.clone());
                }
            }
        }
        for e in existing.values() {
            if e.source == "discovered" && e.status != "removed" && !seen.contains(e.name.as_str())
            {
                exec!(
                    tx.exec(),
                    "UPDATE mcp_tools SET status = 'removed' WHERE id = $1",
                    &e.id
                )?;
                report.removed.push(e.name.clone());
            }
        }
        report.quarantined.sort();
        report.removed.sort();
        exec!(
            tx.exec(),
            "UPDATE mcp_servers SET discovered_at = $2, discovery_error = NULL, server_info = $3, updated_at = $2 WHERE id = $1",
            &server.id,
            now,
            server_info.map(|v| v.to_string())
        )?;
        report.revision = finish(
            tx,
            actor,
            &server.id,
            format!("Tools of {} discovered", server.slug),
            now,
            NewEvent::success("catalog.server.discovered")
                .target(Target::new("mcp_server", &server.id, &server.name))
                .details(json!({
                    "found": report.found,
                    "added": report.added,
                    "quarantined": report.quarantined.iter().take(50).collect::<Vec<_>>(),
                    "removed": report.removed.iter().take(50).collect::<Vec<_>>(),
                })),
        )
        .await?;
        Ok(report)
    }

    /// A gateway saw `tool` listed by `server_id` with a definition that is
    /// not the approved one (a "rug pull" caught at the edge): the tool is
    /// quarantined with the live definition pending review, exactly as a
    /// discovery that found the change would, and the next revision hides it
    /// on every gateway. A definition equal to the approved (or already
    /// pending) one changes nothing. A gateway that names the servers it
    /// fronts may report only those. Returns the revision made, if any.
    /// Audited as `catalog.tool.changed` with the gateway as actor.
    pub async fn report_changed_tool(
        &self,
        actor: &Actor,
        server_id: &str,
        tool: &DiscoveredTool,
    ) -> Result<Option<i64>> {
        let gateway_id = match (actor.kind, actor.id.as_deref()) {
            (portcullis_types::ActorType::Gateway, Some(id)) => id.to_owned(),
            _ => {
                return Err(Error::Forbidden(
                    "only gateways report changed tools".to_owned(),
                ))
            }
        };
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            definition_hash: String,
            status: String,
            pending_hash: Option<String>,
            server_name: String,
            slug: String,
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let fronted = scalar!(
            tx.exec(),
            i64,
            "SELECT COUNT(*) FROM gateway_servers WHERE gateway_id = $1",
            &gateway_id
        )?;
        let fronts_this = scalar!(
            tx.exec(),
            i64,
            "SELECT COUNT(*) FROM gateway_servers WHERE gateway_id = $1 AND server_id = $2",
            &gateway_id,
            server_id
        )?;
        if fronted > 0 && fronts_this == 0 {
            return Err(Error::Forbidden(
                "this gateway does not front that server".to_owned(),
            ));
        }
        let row = fetch_optional!(
            tx.exec(),
            Row,
            "SELECT t.id, t.definition_hash, t.status, t.pending_hash, s.name AS server_name, s.slug \
             FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE t.server_id = $1 AND t.name = $2",
            server_id,
            &tool.name
        )?
        .ok_or(Error::NotFound("tool"))?;
        let p = pin(tool);
        if row.definition_hash == p.hash
            || (row.status == "quarantined" && row.pending_hash.as_deref() == Some(p.hash.as_str()))
        {
            return Ok(None);
        }
        if row.status == "quarantined" && row.pending_hash.is_none() {
            // New and never approved: nothing pinned; keep the latest.
            exec!(
                tx.exec(),
                "UPDATE mcp_tools SET title = $2, description = $3, definition = $4, definition_hash = $5, last_seen_at = $6 WHERE id = $1",
                &row.id,
                p.title.as_deref(),
                &p.description,
                &p.definition,
                &p.hash,
                now
            )?;
        } else {
            quarantine_changed(&mut tx, &row.id, &p, now).await?;
        }
        finish(
            tx,
            actor,
            server_id,
            format!(
                "{} on {} changed upstream (seen by {})",
                tool.name, row.slug, actor.display
            ),
            now,
            NewEvent::success("catalog.tool.changed")
                .target(Target::new(
                    "mcp_tool",
                    &row.id,
                    format!("{} on {}", tool.name, row.server_name),
                ))
                .details(json!({
                    "server": server_id,
                    "tool": tool.name,
                    "approved_hash": row.definition_hash,
                    "live_hash": p.hash,
                })),
        )
        .await
    }

    /// Adds a tool by hand (for servers the console cannot reach); approved
    /// at once. Audited as `catalog.tool.added`. **Permission:** `CatalogManage`.
    pub async fn add_tool(
        &self,
        actor: &Actor,
        server_id: &str,
        input: &ManualToolInput,
    ) -> Result<String> {
        actor.require(Permission::CatalogManage)?;
        let tool = manual_tool(input)?;
        let p = pin(&tool);
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let server_name = self.server_name(&mut tx, server_id).await?;
        let taken = scalar!(
            tx.exec(),
            i64,
            "SELECT COUNT(*) FROM mcp_tools WHERE server_id = $1 AND name = $2",
            server_id,
            &p.name
        )?;
        if taken > 0 {
            return Err(Error::Conflict {
                field: "name".to_owned(),
                message: "this server already has a tool with this name".to_owned(),
            });
        }
        let id = new_id("tool");
        exec!(
            tx.exec(),
            "INSERT INTO mcp_tools (id, server_id, name, title, description, definition, definition_hash, hints, \
             source, status, first_seen_at, last_seen_at, reviewed_at, reviewed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'manual', 'active', $9, $9, $9, $10)",
            &id,
            server_id,
            &p.name,
            p.title.as_deref(),
            &p.description,
            &p.definition,
            &p.hash,
            to_json_text(&p.hints)?,
            now,
            &actor.display
        )?;
        finish(
            tx,
            actor,
            server_id,
            format!("Tool {} added to {server_name}", p.name),
            now,
            NewEvent::success("catalog.tool.added")
                .target(Target::new("mcp_tool", &id, &p.name))
                .details(json!({ "server": server_name, "hash": p.hash })),
        )
        .await?;
        Ok(id)
    }

    /// Approves a quarantined tool: its pending definition (if any) becomes
    /// the pinned one and grants apply to it again. Audited as
    /// `catalog.tool.approved`. **Permission:** `CatalogManage`.
    pub async fn approve_tool(&self, actor: &Actor, tool_id: &str) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = fetch_optional!(
            tx.exec(),
            ToolRow,
            &format!("{TOOL_SELECT} WHERE t.id = $1"),
            tool_id
        )?
        .ok_or(Error::NotFound("tool"))?;
        if row.status != "quarantined" {
            return Err(Error::PreconditionFailed(format!(
                "{} is not quarantined",
                row.name
            )));
        }
        if let Some(pending) = &row.pending_definition {
            let v: Value =
                serde_json::from_str(pending).map_err(|e| Error::Internal(e.to_string()))?;
            let a = &v["annotations"];
            let hints = ToolHints {
                read_only: a["readOnlyHint"].as_bool(),
                destructive: a["destructiveHint"].as_bool(),
                idempotent: a["idempotentHint"].as_bool(),
                open_world: a["openWorldHint"].as_bool(),
            };
            exec!(
                tx.exec(),
                "UPDATE mcp_tools SET definition = pending_definition, definition_hash = pending_hash, title = $2, \
                 description = $3, hints = $4 WHERE id = $1",
                tool_id,
                v["title"].as_str().or(a["title"].as_str()),
                v["description"].as_str().unwrap_or_default(),
                to_json_text(&hints)?
            )?;
        }
        exec!(
            tx.exec(),
            "UPDATE mcp_tools SET status = 'active', quarantine_reason = NULL, pending_definition = NULL, pending_hash = NULL, \
             reviewed_at = $2, reviewed_by = $3 WHERE id = $1",
            tool_id,
            now,
            &actor.display
        )?;
        finish(
            tx,
            actor,
            &row.server_id,
            format!("Tool {} of {} approved", row.name, row.server_slug),
            now,
            NewEvent::success("catalog.tool.approved")
                .target(Target::new("mcp_tool", tool_id, &row.name))
                .details(json!({
                    "server": row.server_slug,
                    "reason": row.quarantine_reason,
                    "previous_hash": row.definition_hash,
                    "approved_hash": row.pending_hash.as_deref().unwrap_or(&row.definition_hash),
                })),
        )
        .await?;
        Ok(())
    }

    /// Sets the admin's annotation overrides of a tool (`None` = use the
    /// server's hint). Audited as `catalog.tool.annotations_overridden`.
    /// **Permission:** `CatalogManage`.
    pub async fn set_overrides(
        &self,
        actor: &Actor,
        tool_id: &str,
        overrides: ToolHints,
    ) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = fetch_optional!(
            tx.exec(),
            ToolRow,
            &format!("{TOOL_SELECT} WHERE t.id = $1"),
            tool_id
        )?
        .ok_or(Error::NotFound("tool"))?;
        exec!(
            tx.exec(),
            "UPDATE mcp_tools SET overrides = $2 WHERE id = $1",
            tool_id,
            to_json_text(&overrides)?
        )?;
        let effective: EffectiveAnnotations = parse_hints(&row.hints)
            .overridden_by(&overrides)
            .effective();
        finish(
            tx,
            actor,
            &row.server_id,
            format!(
                "Annotations of {} on {} overridden",
                row.name, row.server_slug
            ),
            now,
            NewEvent::success("catalog.tool.annotations_overridden")
                .target(Target::new("mcp_tool", tool_id, &row.name))
                .details(json!({ "overrides": overrides, "effective": effective })),
        )
        .await?;
        Ok(())
    }
}

/// A hand-entered tool in the shape discovery produces, validated.
fn manual_tool(input: &ManualToolInput) -> Result<DiscoveredTool> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty()
        || name.len() > 128
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        errors.push(FieldError {
            field: "name".to_owned(),
            message:
                "enter the tool's name as the server reports it (1 to 128 characters, no spaces)"
                    .to_owned(),
        });
    }
    if input.description.chars().count() > 8192 {
        errors.push(FieldError {
            field: "description".to_owned(),
            message: "at most 8,192 characters".to_owned(),
        });
    }
    let schema = if input.input_schema.trim().is_empty() {
        json!({ "type": "object" })
    } else {
        match serde_json::from_str::<Value>(&input.input_schema) {
            Ok(v) if v.is_object() && input.input_schema.len() <= 65536 => v,
            _ => {
                errors.push(FieldError {
                    field: "input_schema".to_owned(),
                    message: "enter a JSON object (a JSON Schema), at most 64 KiB".to_owned(),
                });
                Value::Null
            }
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let title = Some(input.title.trim().to_owned()).filter(|t| !t.is_empty());
    let description = Some(input.description.trim().to_owned()).filter(|t| !t.is_empty());
    Ok(DiscoveredTool {
        name,
        title,
        description,
        input_schema: schema,
        output_schema: None,
        annotations: portcullis_discovery::ToolAnnotations {
            title: None,
            read_only_hint: input.hints.read_only,
            destructive_hint: input.hints.destructive,
            idempotent_hint: input.hints.idempotent,
            open_world_hint: input.hints.open_world,
        },
    })
}
