//! The audit export as an HTTP response, shared by the admin REST API
//! (`GET /api/v1/admin/audit/export`, API keys) and the console
//! (`GET /console/audit/export`, the session cookie; the explorer's
//! download with progress).
//!
//! The events are counted first and the count sent as `X-Audit-Events`,
//! so a client can show progress; then they are streamed oldest first with
//! bounded memory ([`super::stream::spawn_body`]). A failure part way cuts
//! the response off (no final chunk), so a truncated download is not taken
//! for a whole one.

use super::problem::Problem;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use portcullis_domain::Actor;
use portcullis_types::{AuditExportFormat, AuditQuery};
use serde::Deserialize;

/// The header carrying how many events the export holds.
pub const EVENTS_HEADER: HeaderName = HeaderName::from_static("x-audit-events");

/// The export of the events matching `query` by `actor`, in `format`.
pub async fn response(
    state: AppState,
    actor: Actor,
    query: AuditQuery,
    format: AuditExportFormat,
) -> Result<Response, Problem> {
    let total = state.services.audit.count_events(&actor, &query).await?;
    let (content_type, name) = match format {
        AuditExportFormat::Jsonl => ("application/x-ndjson", "portcullis-audit.jsonl"),
        AuditExportFormat::Csv => ("text/csv; charset=utf-8", "portcullis-audit.csv"),
    };
    let body = super::stream::spawn_body(move |mut out| async move {
        state
            .services
            .audit
            .export(&actor, &query, format, &mut out, &mut |_| {})
            .await
            .map(|_| ())
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (EVENTS_HEADER, total.to_string()),
        ],
        body,
    )
        .into_response())
}

/// The console export's format.
#[derive(Debug, Deserialize)]
pub struct FormatParam {
    pub format: AuditExportFormat,
}

/// `GET /console/audit/export?format=…&<the explorer's filters>`: the
/// signed-in admin's export (auditors included). Audited as
/// `audit.exported` when complete.
pub async fn console_export(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(f): Query<FormatParam>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Problem> {
    response(state, actor, q, f.format).await
}
