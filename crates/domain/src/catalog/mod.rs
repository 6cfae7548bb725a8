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
//!
//! The area has the domain's target shape: this file is the service and
//! what its parts share (no SQL text); `servers` registers, edits, lists
//! and deletes servers; `tools` lists tools, adds them by hand, approves
//! them and sets their annotation overrides; `discovery` records what a
//! discovery or a gateway's report of a changed tool found; `pinning` the
//! pinned form of a definition and the reviewer's diff; `model` the values
//! and their checks; `store` (with `store/tools.rs`) every SQL statement.

mod discovery;
mod model;
mod pinning;
mod servers;
mod store;
mod tools;

pub use model::effective_annotations;
pub use pinning::line_diff;

use crate::actor::Actor;
use crate::audit::{self, NewEvent};
use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::revisions::{self, Change};
use crate::Core;
use chrono::{DateTime, Utc};
use portcullis_discovery::Guard;
use serde_json::{json, Value};
use std::sync::Arc;

/// Catalog service.
#[derive(Clone)]
pub struct CatalogService {
    pub core: Arc<Core>,
    /// The guard every discovery fetch goes through.
    pub guard: Arc<Guard>,
}

impl CatalogService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }
}

/// Server `id`'s name, or `NotFound`.
async fn server_name(tx: &mut Tx, id: &str) -> Result<String> {
    store::server_name(tx.exec(), id)
        .await?
        .ok_or(Error::NotFound("server"))
}

/// Tool `id`'s row, or `NotFound`.
async fn tool_row(ex: Exec<'_>, id: &str) -> Result<store::ToolRow> {
    store::tool(ex, id).await?.ok_or(Error::NotFound("tool"))
}

/// Ends a catalog change: syncs the server's policy facts (a new revision
/// when the policy changed), appends `event` with that revision added to its
/// details, and commits. Returns the revision, if one was made.
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
