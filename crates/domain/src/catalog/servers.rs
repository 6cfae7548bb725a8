//! Registering, editing, enabling, deleting and listing MCP servers.

use super::model::{check_server, to_json_text, CheckedServer, Window};
use super::{finish, server_name, store, CatalogService};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::revisions::{self, Change};
use portcullis_types::{Page, ServerId, ServerInput, ServerRef, ServerSummary};
use serde_json::json;

/// The audit event `action` of a server registration or edit.
fn server_event(action: &'static str, id: &str, s: &CheckedServer) -> NewEvent {
    NewEvent::success(action)
        .target(Target::new("mcp_server", id, &s.name))
        .details(json!({ "slug": s.slug, "resource_url": s.resource_url }))
}

impl CatalogService {
    /// Registers an MCP server. Audited as `catalog.server.created`.
    /// **Permission:** `CatalogManage`.
    pub async fn create_server(&self, actor: &Actor, input: &ServerInput) -> Result<ServerId> {
        actor.require(Permission::CatalogManage)?;
        let s = check_server(input)?;
        let now = self.now();
        let id = new_id("srv");
        let mut tx = self.core.db.begin().await?;
        store::insert_server(tx.exec(), &id, &s, &to_json_text(&s.tags)?, now).await?;
        finish(
            tx,
            actor,
            &id,
            format!("Server {} registered", s.slug),
            now,
            server_event("catalog.server.created", &id, &s),
        )
        .await?;
        Ok(ServerId::from(id))
    }

    /// Edits a server's name, slug, resource URL, description, owner, tags.
    /// Audited as `catalog.server.updated`. **Permission:** `CatalogManage`.
    pub async fn update_server(
        &self,
        actor: &Actor,
        id: &ServerId,
        input: &ServerInput,
    ) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let id = id.as_str();
        let s = check_server(input)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let n = store::update_server(tx.exec(), id, &s, &to_json_text(&s.tags)?, now).await?;
        if n == 0 {
            return Err(Error::NotFound("server"));
        }
        finish(
            tx,
            actor,
            id,
            format!("Server {} edited", s.slug),
            now,
            server_event("catalog.server.updated", id, &s),
        )
        .await?;
        Ok(())
    }

    /// Enables or disables a server (a disabled server denies every call).
    /// Audited as `catalog.server.enabled` / `.disabled`.
    /// **Permission:** `CatalogManage`.
    pub async fn set_server_enabled(
        &self,
        actor: &Actor,
        id: &ServerId,
        enabled: bool,
    ) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let id = id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = server_name(&mut tx, id).await?;
        store::set_server_enabled(tx.exec(), id, enabled, now).await?;
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
    pub async fn delete_server(&self, actor: &Actor, id: &ServerId) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let id = id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = server_name(&mut tx, id).await?;
        let grants = store::server_grant_ids(tx.exec(), id).await?;
        store::delete_server(tx.exec(), id).await?;
        let mut change = Change::new(actor, "catalog", format!("Server {name} deleted"), now);
        revisions::sync_server(&mut tx, &mut change, id).await?;
        for g in &grants {
            revisions::sync_grant(&mut tx, &mut change, g, None).await?;
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

    /// Servers, searched by name, slug, URL or tag. **Permission:** `ConsoleRead`.
    pub async fn list_servers(
        &self,
        actor: &Actor,
        q: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<ServerSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let w = Window::new(q, offset, limit);
        let total = store::count_servers(self.core.db.exec(), &w.pattern).await?;
        let rows = store::list_servers(self.core.db.exec(), &w.pattern, w.limit, w.offset).await?;
        Ok(w.page(
            rows.into_iter()
                .map(store::ServerRow::into_summary)
                .collect(),
            total,
        ))
    }

    /// One server, named by its id or its slug. **Permission:** `ConsoleRead`.
    pub async fn server(&self, actor: &Actor, id_or_slug: &ServerRef) -> Result<ServerSummary> {
        actor.require(Permission::ConsoleRead)?;
        store::server(self.core.db.exec(), id_or_slug.as_str())
            .await?
            .map(store::ServerRow::into_summary)
            .ok_or(Error::NotFound("server"))
    }
}
