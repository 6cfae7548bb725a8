//! Read-only views: `/people`, `/groups`, `/audit/events`, `/gateways`,
//! `/api-keys`.

use super::support::{json, with_etag, ApiResult, Caller, List, PageParams, Query};
use crate::http::problem::ProblemBody;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use portcullis_types::{
    ApiKeySummary, AuditEventSummary, AuditQuery, DirectoryGroupDetail, DirectoryGroupQuery,
    DirectoryGroupSummary, DirectoryUserDetail, DirectoryUserQuery, DirectoryUserStatus,
    DirectoryUserSummary, GatewaysView,
};
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
    /// `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
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
    /// `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
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
    /// `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// People provisioned by the directories.
#[utoipa::path(get, path = "/people", tag = "directory", params(PeopleParams),
    responses((status = 200, body = List<DirectoryUserSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_people(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PeopleParams>,
) -> ApiResult {
    let (offset, limit) = PageParams::window_of(q.cursor.as_deref(), q.limit)?;
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
    with_etag(&state.services.directory.get_user(&caller.0, &id).await?)
}

/// Groups provisioned by the directories.
#[utoipa::path(get, path = "/groups", tag = "directory", params(GroupParams),
    responses((status = 200, body = List<DirectoryGroupSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GroupParams>,
) -> ApiResult {
    let (offset, limit) = PageParams::window_of(q.cursor.as_deref(), q.limit)?;
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
            .get_group(&caller.0, &id, 0, 200)
            .await?,
    )
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(AuditParams),
    responses((status = 200, body = List<AuditEventSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditParams>,
) -> ApiResult {
    let (offset, limit) = PageParams::window_of(q.cursor.as_deref(), q.limit)?;
    let page = state
        .services
        .audit
        .list_events(
            &caller.0,
            AuditQuery {
                action: q.action,
                actor: q.actor,
                since: q.since,
                until: q.until,
                offset,
                limit,
            },
        )
        .await?;
    json(StatusCode::OK, &List::from_page(page))
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
