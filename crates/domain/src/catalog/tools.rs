//! Tools: listing and search, one tool with its review diff, tools entered
//! by hand, approval of quarantined tools, and annotation overrides.

use super::model::{manual_tool, parse_hints, stored_status, to_json_text, PendingFields, Window};
use super::pinning::{line_diff, pin, pretty};
use super::store::{self, NewTool, ToolRow};
use super::{finish, server_name, tool_row, CatalogService};
use crate::actor::{Actor, Permission};
use crate::audit::{NewEvent, Target};
use crate::clock::new_id;
use crate::error::{Error, Result};
use portcullis_types::{
    EffectiveAnnotations, ManualToolInput, Page, ServerId, ToolDetail, ToolHints, ToolId,
    ToolStatus, ToolSummary,
};
use serde_json::json;

impl CatalogService {
    /// The tools of one server: quarantined first, removed last.
    /// **Permission:** `ConsoleRead`.
    pub async fn server_tools(
        &self,
        actor: &Actor,
        server_id: &ServerId,
    ) -> Result<Vec<ToolSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let rows = store::server_tools(self.core.db.exec(), server_id.as_str()).await?;
        rows.iter().map(ToolRow::summary).collect()
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
        let w = Window::new(q, offset, limit);
        let status = status.map(|s| s.as_str()).unwrap_or("");
        let total = store::count_tools(self.core.db.exec(), &w.pattern, status).await?;
        let rows =
            store::list_tools(self.core.db.exec(), &w.pattern, status, w.limit, w.offset).await?;
        let items = rows.iter().map(ToolRow::summary).collect::<Result<_>>()?;
        Ok(w.page(items, total))
    }

    /// One tool with its approved and pending definitions and their diff.
    /// **Permission:** `ConsoleRead`.
    pub async fn tool(&self, actor: &Actor, tool_id: &ToolId) -> Result<ToolDetail> {
        actor.require(Permission::ConsoleRead)?;
        let row = tool_row(self.core.db.exec(), tool_id.as_str()).await?;
        let definition = pretty(&row.definition);
        let pending = row.pending_definition.as_deref().map(pretty);
        let diff = pending
            .as_deref()
            .map(|p| line_diff(&definition, p))
            .unwrap_or_default();
        Ok(ToolDetail {
            tool: row.summary()?,
            definition,
            pending_definition: pending,
            pending_hash: row.pending_hash.clone(),
            diff,
            reviewed_at: row.reviewed_at,
            reviewed_by: row.reviewed_by.clone(),
        })
    }

    /// Adds a tool by hand (for servers the console cannot reach); approved
    /// at once. Audited as `catalog.tool.added`. **Permission:** `CatalogManage`.
    pub async fn add_tool(
        &self,
        actor: &Actor,
        server_id: &ServerId,
        input: &ManualToolInput,
    ) -> Result<ToolId> {
        actor.require(Permission::CatalogManage)?;
        let server_id = server_id.as_str();
        let tool = manual_tool(input)?;
        let p = pin(&tool);
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let server_name = server_name(&mut tx, server_id).await?;
        // Any tool of that name, removed ones too (names are unique per server).
        let taken = store::reported_tool(tx.exec(), server_id, &p.name).await?;
        if taken.is_some() {
            return Err(Error::Conflict {
                field: "name".to_owned(),
                message: "this server already has a tool with this name".to_owned(),
            });
        }
        let id = new_id("tool");
        let new = NewTool {
            id: &id,
            server_id,
            pinned: &p,
            hints: &to_json_text(&p.hints)?,
        };
        let by_hand = store::Arrival::Manual {
            reviewed_by: &actor.display,
        };
        store::insert_tool(tx.exec(), &new, by_hand, now).await?;
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
        Ok(ToolId::from(id))
    }

    /// Approves a quarantined tool: its pending definition (if any) becomes
    /// the pinned one and grants apply to it again. Audited as
    /// `catalog.tool.approved`. **Permission:** `CatalogManage`.
    pub async fn approve_tool(&self, actor: &Actor, tool_id: &ToolId) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let tool_id = tool_id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = tool_row(tx.exec(), tool_id).await?;
        if stored_status(&row.status)? != ToolStatus::Quarantined {
            return Err(Error::PreconditionFailed(format!(
                "{} is not quarantined",
                row.name
            )));
        }
        if let Some(pending) = &row.pending_definition {
            let f = PendingFields::parse(pending)?;
            store::pin_pending(
                tx.exec(),
                tool_id,
                f.title.as_deref(),
                &f.description,
                &to_json_text(&f.hints)?,
            )
            .await?;
        }
        store::approve(tx.exec(), tool_id, now, &actor.display).await?;
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
        tool_id: &ToolId,
        overrides: ToolHints,
    ) -> Result<()> {
        actor.require(Permission::CatalogManage)?;
        let tool_id = tool_id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = tool_row(tx.exec(), tool_id).await?;
        store::set_overrides(tx.exec(), tool_id, &to_json_text(&overrides)?).await?;
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
