//! Discovery and its pinning: what a server lists is compared with the
//! pinned definitions (new and changed tools are quarantined, tools no
//! longer listed are removed), and a gateway's report of a definition that
//! differs from the approved one quarantines the tool the same way.

use super::model::{stored_status, to_json_text, KnownTool};
use super::pinning::pin;
use super::store::{self, NewTool};
use super::{finish, CatalogService};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::error::{Error, Result};
use portcullis_discovery::DiscoveredTool;
use portcullis_types::{DiscoveryReport, ServerId, ServerRef, ServerSummary, ToolStatus};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

impl CatalogService {
    /// Connects to the server (named by its id or its slug) as an MCP client
    /// and records its tools (see the module docs for pinning). `url`
    /// overrides the resource URL for the fetch (a server reachable at
    /// another address from the console); the credential is used for this
    /// fetch only and never stored. A failure is recorded on the server and
    /// audited. **Permission:** `CatalogManage`.
    pub async fn discover(
        &self,
        actor: &Actor,
        server: &ServerRef,
        url: Option<&str>,
        credential: Option<&str>,
    ) -> Result<DiscoveryReport> {
        actor.require(Permission::CatalogManage)?;
        let server = self.server(actor, server).await?;
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
                store::set_discovery_error(tx.exec(), &server.id, &message, now).await?;
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
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let first = store::discovered_at(tx.exec(), &server.id).await?.is_none();
        let existing: HashMap<String, KnownTool> = store::known_tools(tx.exec(), &server.id)
            .await?
            .into_iter()
            .map(|r| KnownTool::try_from(r).map(|e| (e.name.clone(), e)))
            .collect::<Result<_>>()?;
        let mut report = DiscoveryReport {
            found: tools.len() as i64,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        for tool in tools {
            if !seen.insert(tool.name.as_str()) {
                continue; // a server listing a name twice: the first wins
            }
            let p = pin(tool);
            let hints = to_json_text(&p.hints)?;
            match existing.get(&p.name) {
                None => {
                    let status = if first {
                        ToolStatus::Active
                    } else {
                        ToolStatus::Quarantined
                    };
                    let new = NewTool {
                        id: &new_id("tool"),
                        server_id: &server.id,
                        pinned: &p,
                        hints: &hints,
                    };
                    let found = store::Arrival::Discovered {
                        status: status.as_str(),
                        quarantine_reason: (!first).then_some("new"),
                    };
                    store::insert_tool(tx.exec(), &new, found, now).await?;
                    report.added += 1;
                    if !first {
                        report.quarantined.push(p.name.clone());
                    }
                }
                Some(e) if e.definition_hash == p.hash => {
                    // Unchanged. A removed tool that is back as it was is active again.
                    let status = match e.status {
                        ToolStatus::Removed => ToolStatus::Active,
                        status => status,
                    };
                    store::mark_seen(tx.exec(), &e.id, now, status.as_str()).await?;
                    report.unchanged += 1;
                }
                Some(e) if e.status == ToolStatus::Quarantined && e.pending_hash.is_none() => {
                    // New and never approved: nothing to pin yet, keep the latest.
                    store::refresh_unapproved(tx.exec(), &e.id, &p, Some(&hints), now).await?;
                    report.quarantined.push(p.name.clone());
                }
                Some(e) => {
                    // The approved definition changed: quarantine until reviewed.
                    if e.pending_hash.as_deref() != Some(p.hash.as_str())
                        || e.status != ToolStatus::Quarantined
                    {
                        store::quarantine_changed(tx.exec(), &e.id, &p, now).await?;
                    }
                    report.quarantined.push(p.name.clone());
                }
            }
        }
        for e in existing.values() {
            if e.source == "discovered"
                && e.status != ToolStatus::Removed
                && !seen.contains(e.name.as_str())
            {
                store::mark_removed(tx.exec(), &e.id).await?;
                report.removed.push(e.name.clone());
            }
        }
        report.quarantined.sort();
        report.removed.sort();
        store::set_discovered(
            tx.exec(),
            &server.id,
            now,
            server_info.map(|v| v.to_string()),
        )
        .await?;
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
        server_id: &ServerId,
        tool: &DiscoveredTool,
    ) -> Result<Option<i64>> {
        let server_id = server_id.as_str();
        let gateway_id = match (actor.kind, actor.id.as_deref()) {
            (portcullis_types::ActorType::Gateway, Some(id)) => id.to_owned(),
            _ => {
                return Err(Error::Forbidden(
                    "only gateways report changed tools".to_owned(),
                ))
            }
        };
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let fronted = store::fronted_count(tx.exec(), &gateway_id).await?;
        let fronts_this = store::fronts_server(tx.exec(), &gateway_id, server_id).await?;
        if fronted > 0 && fronts_this == 0 {
            return Err(Error::Forbidden(
                "this gateway does not front that server".to_owned(),
            ));
        }
        let row = store::reported_tool(tx.exec(), server_id, &tool.name)
            .await?
            .ok_or(Error::NotFound("tool"))?;
        let quarantined = stored_status(&row.status)? == ToolStatus::Quarantined;
        let p = pin(tool);
        if row.definition_hash == p.hash
            || (quarantined && row.pending_hash.as_deref() == Some(p.hash.as_str()))
        {
            return Ok(None);
        }
        if quarantined && row.pending_hash.is_none() {
            // New and never approved: nothing pinned; keep the latest.
            store::refresh_unapproved(tx.exec(), &row.id, &p, None, now).await?;
        } else {
            store::quarantine_changed(tx.exec(), &row.id, &p, now).await?;
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
}
