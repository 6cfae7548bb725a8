//! `/grants`, `/revisions` and `/simulate`: who may call what, how it got
//! that way, and going back.

use super::support::{
    created, idempotent, idempotent_json, json, path_number, with_etag, ApiResult, Caller, Json,
    List, PageParams, Query,
};
use crate::http::problem::{Problem, ProblemBody};
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_types::{
    GrantId, GrantInput, GrantQuery, GrantSummary, GrantUpdate, PersonId, RevisionDiff,
    RevisionSummary, ServerId, ServerRef, SimulationResult, ToolCaller, ToolName, UserToolAccess,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET /grants`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantListParams {
    /// Matches server, subject, tool names or reason.
    #[serde(default)]
    pub q: String,
    /// Only grants on this server (id).
    #[serde(default)]
    pub server_id: Option<String>,
    /// Only grants to this person or group (id).
    #[serde(default)]
    pub subject_id: Option<String>,
}

/// A grant and the policy revision that made it.
#[derive(Serialize, ToSchema)]
pub struct GrantChange {
    pub grant: GrantSummary,
    pub revision: i64,
}

/// The policy revision a change made.
#[derive(Serialize, ToSchema)]
pub struct RevisionMade {
    pub revision: i64,
}

/// `?from=` of a diff.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The revision to compare with (default: the one before).
    #[serde(default)]
    #[param(minimum = 0)]
    pub from: Option<i64>,
}

/// "Can this person call this tool?"
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CanCallParams {
    /// Email, userName or id of a directory person.
    pub person: String,
    /// Server id or slug.
    pub server: ServerRef,
    pub tool: ToolName,
    /// A past revision (default: the current one).
    #[serde(default)]
    #[param(minimum = 0)]
    pub revision: Option<i64>,
}

/// "Who can call this tool?"
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhoParams {
    /// Server id or slug.
    pub server: ServerRef,
    pub tool: ToolName,
    /// Only people whose email or id contains this (case-insensitive).
    #[serde(default)]
    pub q: String,
}

/// "What can this person call?"
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhatParams {
    /// Email, userName or id of a directory person.
    pub person: String,
}

/// List grants, newest first.
#[utoipa::path(get, path = "/grants", tag = "access", params(GrantListParams, PageParams),
    responses((status = 200, body = List<GrantSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GrantListParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .access
        .list_grants(
            &caller.0,
            &GrantQuery {
                q: q.q,
                server_id: q.server_id.filter(|s| !s.is_empty()),
                subject_id: q.subject_id.filter(|s| !s.is_empty()),
                offset,
                limit,
            },
        )
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// Grant a person, a group or everyone access to a server's tools (a new
/// policy revision).
#[utoipa::path(post, path = "/grants", tag = "access", request_body = GrantInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry create once (24 hours)")),
    responses((status = 201, body = GrantChange, headers(("Location" = String))), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(input): Json<GrantInput>,
) -> ApiResult {
    idempotent_json(
        &state,
        &caller,
        &headers,
        "POST /grants",
        &input,
        || async {
            let access = &state.services.access;
            let (id, revision) = access.create_grant(&caller.0, &input).await?;
            let grant = access.grant(&caller.0, &id).await?;
            created(
                &format!("/api/v1/admin/grants/{id}"),
                &GrantChange { grant, revision },
            )
        },
    )
    .await
}

/// One grant.
#[utoipa::path(get, path = "/grants/{id}", tag = "access", params(("id" = String, Path)),
    responses((status = 200, body = GrantSummary, headers(("ETag" = String))), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<GrantId>,
) -> ApiResult {
    with_etag(&state.services.access.grant(&caller.0, &id).await?)
}

/// A grant after a change, and the policy revision the change made (none
/// when the change left the grant as it was).
#[derive(Serialize, ToSchema)]
pub struct GrantUpdated {
    pub grant: GrantSummary,
    pub revision: Option<i64>,
}

/// Change a grant's expiry or reason (`If-Match` refuses a lost update).
#[utoipa::path(patch, path = "/grants/{id}", tag = "access", request_body = GrantUpdate,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 200, body = GrantUpdated), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 412, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn update_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<GrantId>,
    headers: HeaderMap,
    Json(update): Json<GrantUpdate>,
) -> ApiResult {
    let access = &state.services.access;
    let current = access.grant(&caller.0, &id).await?;
    super::support::check_if_match(&headers, &current)?;
    let revision = access.update_grant(&caller.0, &id, &update).await?;
    json(
        StatusCode::OK,
        &GrantUpdated {
            grant: access.grant(&caller.0, &id).await?,
            revision,
        },
    )
}

/// Revoke a grant (a new policy revision).
#[utoipa::path(delete, path = "/grants/{id}", tag = "access", params(("id" = String, Path)),
    responses((status = 200, body = RevisionMade), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<GrantId>,
) -> ApiResult {
    let revision = state.services.access.revoke_grant(&caller.0, &id).await?;
    json(StatusCode::OK, &RevisionMade { revision })
}

/// Policy revisions, newest first.
#[utoipa::path(get, path = "/revisions", tag = "access", params(PageParams),
    responses((status = 200, body = List<RevisionSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_revisions(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .access
        .revisions(&caller.0, offset, limit)
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// What changed between two revisions: grants and who can call what.
#[utoipa::path(get, path = "/revisions/{number}/diff", tag = "access", params(("number" = i64, Path, minimum = 0), DiffParams),
    responses((status = 200, body = RevisionDiff), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    Query(q): Query<DiffParams>,
) -> ApiResult {
    let to = path_number("number", &number)?;
    let from = q.from.unwrap_or(to.saturating_sub(1));
    if from < 0 {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "from: must be 0 or more",
        )
        .field("from"));
    }
    json(
        StatusCode::OK,
        &state.services.access.diff(&caller.0, from, to).await?,
    )
}

/// Make the grants what they were at this revision (a new revision).
#[utoipa::path(post, path = "/revisions/{number}/rollback", tag = "access", params(("number" = i64, Path, minimum = 0),
    ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry roll back once (24 hours)")),
    responses((status = 201, body = RevisionMade), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 412, body = ProblemBody, description = "The grants are already as they were at that revision"),
        (status = 422, body = ProblemBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> ApiResult {
    let to = path_number("number", &number)?;
    let key = format!("POST /revisions/{to}/rollback");
    idempotent(&state, &caller, &headers, &[key.as_bytes()], || async {
        let revision = state.services.access.rollback(&caller.0, to).await?;
        created(
            &format!("/api/v1/admin/revisions/{revision}/diff"),
            &RevisionMade { revision },
        )
    })
    .await
}

async fn person_id(state: &AppState, caller: &Caller, who: &str) -> Result<PersonId, Problem> {
    state
        .services
        .access
        .find_person(&caller.0, who)
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("person: no directory person {who}"),
            )
            .field("person")
        })
}

/// Can this person call this tool, and which rules decided it?
#[utoipa::path(get, path = "/simulate/can-call", tag = "simulate", params(CanCallParams),
    responses((status = 200, body = SimulationResult), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn can_call(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<CanCallParams>,
) -> ApiResult {
    let id = person_id(&state, &caller, &q.person).await?;
    let result = state
        .services
        .access
        .simulate(&caller.0, &id, &q.server, &q.tool, q.revision)
        .await?;
    json(StatusCode::OK, &result)
}

/// Who can call this tool now (by email), with the grant that decided
/// each and how it reached them.
#[utoipa::path(get, path = "/simulate/who-can-call", tag = "simulate", params(WhoParams, PageParams),
    responses((status = 200, body = List<ToolCaller>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn who_can_call(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<WhoParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let access = &state.services.access;
    let server = state.services.catalog.server(&caller.0, &q.server).await?;
    let people = access
        .callers(
            &caller.0,
            &ServerId::from(server.id),
            &q.tool,
            &q.q,
            offset,
            limit,
        )
        .await?;
    json(StatusCode::OK, &List::from_page(people))
}

/// Every tool with whether this person may call it and why.
#[utoipa::path(get, path = "/simulate/what-can-call", tag = "simulate", params(WhatParams),
    responses((status = 200, body = Vec<UserToolAccess>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn what_can_call(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<WhatParams>,
) -> ApiResult {
    let id = person_id(&state, &caller, &q.person).await?;
    json(
        StatusCode::OK,
        &state.services.access.user_access(&caller.0, &id).await?,
    )
}
