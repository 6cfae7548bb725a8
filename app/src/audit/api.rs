//! Server functions for the audit log.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{AuditEventSummary, AuditQuery, AuditSlice, AuditTimeline};

/// The explorer's keyset page (a search's first page is audited).
/// **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/explore")]
pub async fn explore_audit_events(q: AuditQuery) -> Result<AuditSlice, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.explore(&actor, q).await?)
}

/// Events over time for the explorer's chart. **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/timeline")]
pub async fn load_audit_timeline(q: AuditQuery) -> Result<AuditTimeline, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.timeline(&actor, &q).await?)
}

/// One event by id (the drawer, opened from a link).
/// **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/event")]
pub async fn get_audit_event(id: String) -> Result<AuditEventSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.event(&actor, &id).await?)
}

/// One event's masked details, shown; the reveal is recorded as
/// `audit.revealed`. **Permission:** `AuditReveal` (owners).
#[server(endpoint = "console/audit/reveal")]
pub async fn reveal_audit_event(id: String) -> Result<portcullis_types::AuditReveal, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.reveal(&actor, &id).await?)
}

/// Erases a person's personal data from the audit log.
/// **Permission:** `AuditErase` (owners).
#[server(endpoint = "console/audit/erase")]
pub async fn erase_audit_person(
    person: String,
) -> Result<portcullis_types::AuditErasure, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.erase(&actor, &person).await?)
}

/// Retention: periods, legal hold, what has been purged.
/// **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/retention")]
pub async fn get_audit_retention() -> Result<portcullis_types::AuditRetention, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.retention(&actor).await?)
}

/// Places the legal hold. **Permission:** `AuditManage` (owners).
#[server(endpoint = "console/audit/hold")]
pub async fn place_legal_hold(
    reason: String,
) -> Result<portcullis_types::AuditRetention, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.place_legal_hold(&actor, &reason).await?)
}

/// Lifts the legal hold. **Permission:** `AuditManage` (owners).
#[server(endpoint = "console/audit/release")]
pub async fn lift_legal_hold() -> Result<portcullis_types::AuditRetention, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.lift_legal_hold(&actor).await?)
}

/// The newest signed checkpoint, as exported. **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/checkpoint")]
pub async fn latest_audit_checkpoint() -> Result<Option<portcullis_types::AuditCheckpoint>, AppError>
{
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.latest_checkpoint(&actor).await?)
}

/// Every streaming destination with its health and lag.
/// **Permission:** `AuditRead`.
#[server(endpoint = "console/audit/sinks/list")]
pub async fn list_audit_sinks() -> Result<Vec<portcullis_types::AuditSinkSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.list_sinks(&actor).await?)
}

/// Adds a streaming destination. **Permission:** `AuditManage` (owners).
#[server(endpoint = "console/audit/sinks/create")]
pub async fn create_audit_sink(
    name: String,
    kind: String,
    url: String,
    #[server(default)] secret: String,
) -> Result<portcullis_types::AuditSinkSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .audit
        .create_sink(
            &actor,
            &portcullis_types::AuditSinkInput {
                name,
                kind,
                url,
                secret,
            },
        )
        .await?)
}

/// Pauses or resumes a destination. **Permission:** `AuditManage` (owners).
#[server(endpoint = "console/audit/sinks/enable")]
pub async fn set_audit_sink_enabled(
    id: portcullis_types::AuditSinkId,
    enabled: bool,
) -> Result<portcullis_types::AuditSinkSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.set_sink_enabled(&actor, &id, enabled).await?)
}

/// Removes a destination. **Permission:** `AuditManage` (owners).
#[server(endpoint = "console/audit/sinks/delete")]
pub async fn delete_audit_sink(id: portcullis_types::AuditSinkId) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.audit.delete_sink(&actor, &id).await?)
}
