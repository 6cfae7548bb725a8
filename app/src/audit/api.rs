//! Server functions for the audit log.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{AuditEventSummary, AuditQuery, Page};

/// Lists audit events newest first. **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/list")]
pub async fn list_audit_events(q: AuditQuery) -> Result<Page<AuditEventSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.list_events(&actor, q).await?)
}
