//! `/servers` and `/tools`: register, read, update, enable or disable MCP
//! servers, run discovery, approve tools and override their annotations.

use super::support::{
    check_if_match, created, idempotent_json, json, with_etag, ApiResult, Caller, Json, List,
    PageParams, Query,
};
use crate::http::problem::ProblemBody;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use portcullis_types::{
    DiscoveryReport, ServerId, ServerInput, ServerRef, ServerSummary, ToolHints, ToolId,
    ToolSummary,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?q=` and the page of `GET /servers`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServerListParams {
    /// Matches name, slug, resource URL or tag.
    #[serde(default)]
    pub q: String,
}

/// A server to register.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// Shown in the console and on consent screens.
    pub name: String,
    /// Lowercase letters, digits and hyphens; how policies and gateways name it.
    pub slug: String,
    /// The MCP endpoint (`https://…/mcp`): the OAuth resource and audience.
    pub resource_url: String,
    #[serde(default)]
    pub description: String,
    /// Team or person responsible.
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Changes to a server; what is left out stays as it is.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub resource_url: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: Option<Vec<String>>,
    /// `false` denies every call to the server at once.
    pub enabled: Option<bool>,
}

/// Where discovery connects (both optional).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryRequest {
    /// Another address of the server to fetch from (the resource URL stays).
    #[serde(default)]
    pub url: Option<String>,
    /// A bearer credential for this fetch only; never stored.
    #[serde(default)]
    pub credential: Option<String>,
}

fn server_location(id: &str) -> String {
    format!("/api/v1/admin/servers/{id}")
}

/// List MCP servers.
#[utoipa::path(get, path = "/servers", tag = "catalog", params(ServerListParams, PageParams),
    responses((status = 200, body = List<ServerSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
pub async fn list_servers(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ServerListParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .catalog
        .list_servers(&caller.0, &q.q, offset, limit)
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// Register an MCP server (send an `Idempotency-Key` to make retries safe).
#[utoipa::path(post, path = "/servers", tag = "catalog", request_body = NewServer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry create once (24 hours)")),
    responses((status = 201, body = ServerSummary, headers(("Location" = String))),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_server(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewServer>,
) -> ApiResult {
    idempotent_json(
        &state,
        &caller,
        &headers,
        "POST /servers",
        &body,
        || async {
            let catalog = &state.services.catalog;
            let input = ServerInput {
                name: body.name.clone(),
                slug: body.slug.clone(),
                resource_url: body.resource_url.clone(),
                description: body.description.clone(),
                owner: body.owner.clone(),
                tags: body.tags.join(","),
            };
            let id = catalog.create_server(&caller.0, &input).await?;
            let server = catalog.server(&caller.0, &id.as_str().into()).await?;
            created(&server_location(id.as_str()), &server)
        },
    )
    .await
}

/// One MCP server, with its `ETag`.
#[utoipa::path(get, path = "/servers/{id}", tag = "catalog", params(("id" = String, Path, description = "Server id or slug")),
    responses((status = 200, body = ServerSummary, headers(("ETag" = String))), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn get_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let server = state
        .services
        .catalog
        .server(&caller.0, &ServerRef::from(id))
        .await?;
    with_etag(&server)
}

/// Change a server or enable/disable it (`If-Match` with its `ETag` refuses
/// a lost update with 412).
#[utoipa::path(patch, path = "/servers/{id}", tag = "catalog", request_body = ServerPatch,
    params(("id" = String, Path, description = "Server id or slug"), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 200, body = ServerSummary, headers(("ETag" = String))), (status = 400, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 412, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn update_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(patch): Json<ServerPatch>,
) -> ApiResult {
    let catalog = &state.services.catalog;
    let current = catalog.server(&caller.0, &ServerRef::from(id)).await?;
    check_if_match(&headers, &current)?;
    let changes_fields = patch.name.is_some()
        || patch.slug.is_some()
        || patch.resource_url.is_some()
        || patch.description.is_some()
        || patch.owner.is_some()
        || patch.tags.is_some();
    let current_id = ServerId::from(&current.id);
    if changes_fields {
        let input = ServerInput {
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            slug: patch.slug.unwrap_or_else(|| current.slug.clone()),
            resource_url: patch
                .resource_url
                .unwrap_or_else(|| current.resource_url.clone()),
            description: patch
                .description
                .unwrap_or_else(|| current.description.clone()),
            owner: patch.owner.unwrap_or_else(|| current.owner.clone()),
            tags: patch.tags.unwrap_or_else(|| current.tags.clone()).join(","),
        };
        catalog
            .update_server(&caller.0, &current_id, &input)
            .await?;
    }
    if let Some(enabled) = patch.enabled.filter(|e| *e != current.enabled) {
        catalog
            .set_server_enabled(&caller.0, &current_id, enabled)
            .await?;
    }
    with_etag(
        &catalog
            .server(&caller.0, &ServerRef::from(current.id))
            .await?,
    )
}

/// Connect to the server as an MCP client and record its tools (new tools
/// and changed definitions are quarantined until approved).
#[utoipa::path(post, path = "/servers/{id}/discovery", tag = "catalog", request_body = DiscoveryRequest,
    params(("id" = String, Path, description = "Server id or slug")),
    responses((status = 200, body = DiscoveryReport), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn discover(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<DiscoveryRequest>,
) -> ApiResult {
    let report = state
        .services
        .catalog
        .discover(
            &caller.0,
            &ServerRef::from(id),
            body.url.as_deref(),
            body.credential.as_deref(),
        )
        .await?;
    json(StatusCode::OK, &report)
}

/// The tools of a server.
#[utoipa::path(get, path = "/servers/{id}/tools", tag = "catalog", params(("id" = String, Path, description = "Server id or slug"), PageParams),
    responses((status = 200, body = List<ToolSummary>), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn server_tools(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let catalog = &state.services.catalog;
    let server = catalog.server(&caller.0, &ServerRef::from(id)).await?;
    let tools = catalog
        .server_tools(&caller.0, &ServerId::from(server.id))
        .await?;
    json(StatusCode::OK, &List::from_all(tools, offset, limit))
}

/// Approve a quarantined tool: its pending definition becomes the pinned one.
#[utoipa::path(post, path = "/tools/{id}/approval", tag = "catalog", params(("id" = String, Path, description = "Tool id")),
    responses((status = 200, body = ToolSummary), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 412, body = ProblemBody)))]
pub async fn approve_tool(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let catalog = &state.services.catalog;
    let id = ToolId::from(id);
    catalog.approve_tool(&caller.0, &id).await?;
    json(StatusCode::OK, &catalog.tool(&caller.0, &id).await?.tool)
}

/// Override a tool's annotations (`null` uses the server's hint).
#[utoipa::path(put, path = "/tools/{id}/annotations", tag = "catalog", request_body = ToolHints,
    params(("id" = String, Path, description = "Tool id")),
    responses((status = 200, body = ToolSummary), (status = 400, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_annotations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(hints): Json<ToolHints>,
) -> ApiResult {
    let catalog = &state.services.catalog;
    let id = ToolId::from(id);
    catalog.set_overrides(&caller.0, &id, hints).await?;
    json(StatusCode::OK, &catalog.tool(&caller.0, &id).await?.tool)
}
