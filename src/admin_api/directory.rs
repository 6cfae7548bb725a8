//! Read-only views: `/people`, `/groups`, `/audit/events`,
//! `/audit/export`, `/audit/checkpoints/latest`, `/audit/verify`,
//! `/gateways`, `/api-keys`.

use super::support::{json, with_etag, ApiResult, Caller, Json, List, PageParams, Query};
use crate::http::problem::ProblemBody;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use portcullis_types::{
    AdminSummary, ApiKeySummary, AuditCheckpoint, AuditEventSummary, AuditExportFormat, AuditQuery,
    AuditRetention, AuditSinkSummary, ChainReport, DirectoryGroupDetail, DirectoryGroupQuery,
    DirectoryGroupSummary, DirectoryUserDetail, DirectoryUserQuery, DirectoryUserStatus,
    DirectoryUserSummary, GatewayCreated, GatewayInput, GatewaysView,
};
use portcullis_types::{GroupId, PersonId};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters of `GET /people`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleParams {
    /// Substring of userName, displayName or email, or an exact id or externalId.
    #[serde(default)]
    pub q: String,
    /// Only people of this directory (id).
    #[serde(default)]
    pub directory_id: String,
    #[serde(default)]
    pub status: Option<DirectoryUserStatus>,
}

/// Filters of `GET /groups`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    /// Substring of displayName, or an exact id or externalId.
    #[serde(default)]
    pub q: String,
    /// Only groups of this directory (id).
    #[serde(default)]
    pub directory_id: String,
}

/// Filters of `GET /audit/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Action name or prefix (`access.grant` matches `access.grant.created`).
    #[serde(default)]
    pub action: String,
    /// Substring of the actor's name or id.
    #[serde(default)]
    pub actor: String,
    /// From this time (RFC 3339, inclusive).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339, exclusive).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// The target's id, or a substring of its name.
    #[serde(default)]
    pub target: String,
    /// `success`, `failure` or `denied`.
    #[serde(default)]
    pub outcome: Option<portcullis_types::Outcome>,
    /// A source address or its prefix (`10.1.`).
    #[serde(default)]
    pub source: String,
    /// Free text anywhere in the action, actor, target or details.
    #[serde(default)]
    pub text: String,
}

impl AuditParams {
    /// The domain's query for these filters.
    fn query(self) -> AuditQuery {
        AuditQuery {
            action: self.action,
            actor: self.actor,
            since: self.since,
            until: self.until,
            target: self.target,
            outcome: self.outcome,
            source: self.source,
            text: self.text,
            ..Default::default()
        }
    }
}

/// People provisioned by the directories.
#[utoipa::path(get, path = "/people", tag = "directory", params(PeopleParams, PageParams),
    responses((status = 200, body = List<DirectoryUserSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_people(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PeopleParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .directory
        .list_users(
            &caller.0,
            DirectoryUserQuery {
                search: q.q,
                directory_id: q.directory_id,
                status: q.status,
                offset,
                limit,
                ..Default::default()
            },
        )
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// One person, with groups and history.
#[utoipa::path(get, path = "/people/{id}", tag = "directory", params(("id" = String, Path)),
    responses((status = 200, body = DirectoryUserDetail), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get_person(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    with_etag(
        &state
            .services
            .directory
            .get_user(&caller.0, &PersonId::from(id))
            .await?,
    )
}

/// Groups provisioned by the directories.
#[utoipa::path(get, path = "/groups", tag = "directory", params(GroupParams, PageParams),
    responses((status = 200, body = List<DirectoryGroupSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GroupParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .directory
        .list_groups(
            &caller.0,
            DirectoryGroupQuery {
                search: q.q,
                directory_id: q.directory_id,
                offset,
                limit,
                ..Default::default()
            },
        )
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// One group with the first page of its members.
#[utoipa::path(get, path = "/groups/{id}", tag = "directory", params(("id" = String, Path)),
    responses((status = 200, body = DirectoryGroupDetail), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    with_etag(
        &state
            .services
            .directory
            .get_group(&caller.0, &GroupId::from(id), 0, 200)
            .await?,
    )
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(AuditParams, PageParams),
    responses((status = 200, body = List<AuditEventSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .audit
        .list_events(
            &caller.0,
            AuditQuery {
                offset,
                limit,
                ..q.query()
            },
        )
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// The export's format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `jsonl` (one event schema v1 record a line) or `csv`.
    pub format: AuditExportFormat,
}

/// Exports the events matching the filters, oldest first, streamed
/// (`application/x-ndjson` or `text/csv`; any size in bounded memory).
/// Records: event schema v1 (`docs/audit-events.md`); CSV cells that a
/// spreadsheet would evaluate are prefixed with `'`. A failure part way cuts
/// the response off (no final chunk), so a truncated download is not taken
/// for a whole one. Audited as `audit.exported`.
#[utoipa::path(get, path = "/audit/export", tag = "audit", params(ExportParams, AuditParams),
    responses((status = 200, description = "The events, streamed",
        headers(("X-Audit-Events" = i64, description = "How many events the export holds (for progress)")),
        content(
            (String = "application/x-ndjson"),
            (String = "text/csv; charset=utf-8"))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn export_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(e): Query<ExportParams>,
    Query(q): Query<AuditParams>,
) -> ApiResult {
    crate::http::audit_export::response(state, caller.0, q.query(), e.format).await
}

/// The newest signed checkpoint of the audit chain, as exported: keep it
/// outside the database (`portcullis audit verify --checkpoint` checks the
/// log against it). 404 while the log has no checkpoint yet.
#[utoipa::path(get, path = "/audit/checkpoints/latest", tag = "audit",
    responses((status = 200, body = AuditCheckpoint), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn latest_checkpoint(State(state): State<AppState>, caller: Caller) -> ApiResult {
    match state.services.audit.latest_checkpoint(&caller.0).await? {
        Some(c) => json(StatusCode::OK, &c),
        None => Err(portcullis_domain::Error::NotFound("audit checkpoint").into()),
    }
}

/// Recomputes the audit chain and checks the stored signed checkpoints
/// against it: `first_bad_seq` names the first event that does not
/// verify. Reads the whole log: seconds per million events.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = ChainReport), (status = 401, body = ProblemBody)))]
pub async fn verify_audit(State(state): State<AppState>, caller: Caller) -> ApiResult {
    json(
        StatusCode::OK,
        &state.services.audit.verify(&caller.0).await?,
    )
}

/// Audit retention: the periods, the legal hold (placed and lifted by
/// owners in the console or `portcullis audit hold`), and what retention
/// has purged so far.
#[utoipa::path(get, path = "/audit/retention", tag = "audit",
    responses((status = 200, body = AuditRetention), (status = 401, body = ProblemBody)))]
pub async fn audit_retention(State(state): State<AppState>, caller: Caller) -> ApiResult {
    json(
        StatusCode::OK,
        &state.services.audit.retention(&caller.0).await?,
    )
}

/// The SIEM destinations the audit log streams to, each with its health
/// (`healthy`, `pending`, `failing`, `paused`), its lag in events and the
/// last error: what a monitoring check polls. Owners add and remove them
/// in the console.
#[utoipa::path(get, path = "/audit/sinks", tag = "audit",
    responses((status = 200, body = Vec<AuditSinkSummary>), (status = 401, body = ProblemBody)))]
pub async fn audit_sinks(State(state): State<AppState>, caller: Caller) -> ApiResult {
    json(
        StatusCode::OK,
        &state.services.audit.list_sinks(&caller.0).await?,
    )
}

/// Gateways and which revision each enforces.
#[utoipa::path(get, path = "/gateways", tag = "gateways",
    responses((status = 200, body = GatewaysView), (status = 401, body = ProblemBody)))]
pub async fn gateways(State(state): State<AppState>, caller: Caller) -> ApiResult {
    json(
        StatusCode::OK,
        &state.services.gateways.view(&caller.0).await?,
    )
}

/// Register a gateway; its credential is in the answer, once (no
/// `Idempotency-Key`: replaying would mean storing the credential).
#[utoipa::path(post, path = "/gateways", tag = "gateways", request_body = GatewayInput,
    responses((status = 201, body = GatewayCreated), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_gateway(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<GatewayInput>,
) -> ApiResult {
    let created = state.services.gateways.create(&caller.0, &input).await?;
    json(StatusCode::CREATED, &created)
}

/// Replace a gateway's credential (the old one stops working now; the new
/// one is in the answer, once).
#[utoipa::path(post, path = "/gateways/{id}/credential", tag = "gateways", params(("id" = String, Path)),
    responses((status = 201, body = GatewayCreated), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn rotate_gateway_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let created = state
        .services
        .gateways
        .rotate_credential(&caller.0, &portcullis_types::GatewayId::from(id))
        .await?;
    json(StatusCode::CREATED, &created)
}

/// Revoke a gateway: its credential stops working now.
#[utoipa::path(delete, path = "/gateways/{id}", tag = "gateways", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn revoke_gateway(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    state
        .services
        .gateways
        .revoke(&caller.0, &portcullis_types::GatewayId::from(id))
        .await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// Filters of `GET /admins`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminParams {
    /// Matches email or display name.
    #[serde(default)]
    pub q: String,
}

/// Console admins (owners, admins, auditors) with their role, status, last
/// sign-in and active sessions, for access reviews. Any key may read them;
/// inviting, changing and disabling admins stays with owners in the console.
#[utoipa::path(get, path = "/admins", tag = "admins", params(AdminParams, PageParams),
    responses((status = 200, body = List<AdminSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn admins(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AdminParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .console
        .list_admins(&caller.0, &q.q, offset, limit)
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// API keys (never their secrets). Keys are created and revoked by owners
/// in the console or with `portcullis api-key create`, never by a key.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(PageParams),
    responses((status = 200, body = List<ApiKeySummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let keys = state.services.api_keys.list(&caller.0).await?;
    json(StatusCode::OK, &List::from_all(keys, offset, limit))
}
