//! Server functions for the Catalog pages. Reads need `ConsoleRead` (every
//! role); registering, editing, discovering and reviewing need
//! `CatalogManage` (owners and admins). The domain services check the role.
//! Arguments are flat strings so the forms post as plain HTML forms.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{
    AccessMatrix, DiscoveryReport, Page, ServerSummary, ToolCaller, ToolDetail, ToolSummary,
};
#[cfg(feature = "ssr")]
use portcullis_types::{ManualToolInput, ServerInput, ToolHints, ToolStatus};
#[cfg(feature = "ssr")]
use portcullis_types::{ServerId, ServerRef, ToolId, ToolName};
use serde::{Deserialize, Serialize};

/// A server with its tools (each with how many people may call it now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub server: ServerSummary,
    pub tools: Vec<ToolSummary>,
}

/// A tool under review with who may call it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolView {
    pub detail: ToolDetail,
    /// How many people may call it now.
    pub callers: i64,
}

/// People per page in a tool's Who can call.
pub const CALLERS_PAGE: i64 = 25;

/// Lists MCP servers. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/servers/list")]
pub async fn list_servers(q: String, offset: i64) -> Result<Page<ServerSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.catalog.list_servers(&actor, &q, offset, 50).await?)
}

/// One server (by id or slug) with its tools and their callers.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/servers/get")]
pub async fn get_server(id: String) -> Result<ServerView, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let server = svc.catalog.server(&actor, &ServerRef::from(id)).await?;
    let mut tools = svc
        .catalog
        .server_tools(&actor, &ServerId::from(&server.id))
        .await?;
    let callers = svc
        .access
        .callers_per_tool(&actor, &ServerId::from(&server.id))
        .await?;
    for t in &mut tools {
        t.callers = Some(callers.get(&t.name).copied().unwrap_or(0));
    }
    Ok(ServerView { server, tools })
}

/// Groups × tools of a server. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/servers/matrix")]
pub async fn server_matrix(id: String) -> Result<AccessMatrix, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.access.matrix(&actor, &ServerId::from(id)).await?)
}

#[cfg(feature = "ssr")]
fn server_input(
    name: String,
    slug: String,
    resource_url: String,
    description: String,
    owner: String,
    tags: String,
) -> ServerInput {
    ServerInput {
        name,
        slug,
        resource_url,
        description,
        owner,
        tags,
    }
}

/// Registers an MCP server; returns its id. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/create")]
pub async fn create_server(
    name: String,
    slug: String,
    resource_url: String,
    #[server(default)] description: String,
    #[server(default)] owner: String,
    #[server(default)] tags: String,
) -> Result<String, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let input = server_input(name, slug, resource_url, description, owner, tags);
    Ok(svc.catalog.create_server(&actor, &input).await?.to_string())
}

/// Edits a server. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/update")]
pub async fn update_server(
    id: String,
    name: String,
    slug: String,
    resource_url: String,
    #[server(default)] description: String,
    #[server(default)] owner: String,
    #[server(default)] tags: String,
) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let input = server_input(name, slug, resource_url, description, owner, tags);
    Ok(svc
        .catalog
        .update_server(&actor, &ServerId::from(id), &input)
        .await?)
}

/// Enables or disables a server. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/enable")]
pub async fn set_server_enabled(id: String, enabled: bool) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .catalog
        .set_server_enabled(&actor, &ServerId::from(id), enabled)
        .await?)
}

/// Deletes a server with its tools and grants. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/delete")]
pub async fn delete_server(id: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    svc.catalog
        .delete_server(&actor, &ServerId::from(id))
        .await?;
    leptos_axum::redirect("/catalog/servers");
    Ok(())
}

/// Runs discovery (`initialize` + `tools/list`). `url` overrides where to
/// connect; the credential is used once and not stored.
/// **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/discover")]
pub async fn discover_server(
    id: String,
    #[server(default)] url: String,
    #[server(default)] credential: String,
) -> Result<DiscoveryReport, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .catalog
        .discover(&actor, &ServerRef::from(id), Some(&url), Some(&credential))
        .await?)
}

#[cfg(feature = "ssr")]
fn checked(v: &str) -> Option<bool> {
    Some(matches!(v, "on" | "true" | "yes"))
}

/// The "Add a tool by hand" form: plain field names; a checkbox that is
/// not ticked is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualToolForm {
    pub server_id: String,
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub input_schema: String,
    #[serde(default)]
    pub read_only: String,
    #[serde(default)]
    pub destructive: String,
    #[serde(default)]
    pub idempotent: String,
    #[serde(default)]
    pub open_world: String,
}

/// Adds a tool by hand. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/tools/add")]
pub async fn add_tool(#[server(flatten)] form: ManualToolForm) -> Result<String, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let input = ManualToolInput {
        name: form.name,
        title: form.title,
        description: form.description,
        input_schema: form.input_schema,
        hints: ToolHints {
            read_only: checked(&form.read_only),
            destructive: checked(&form.destructive),
            idempotent: checked(&form.idempotent),
            open_world: checked(&form.open_world),
        },
    };
    Ok(svc
        .catalog
        .add_tool(&actor, &ServerId::from(form.server_id), &input)
        .await?
        .to_string())
}

/// Tools across servers. `status` is `active`, `quarantined`, `removed` or
/// empty for all. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/tools/list")]
pub async fn list_tools(
    q: String,
    status: String,
    offset: i64,
) -> Result<Page<ToolSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .catalog
        .list_tools(&actor, &q, ToolStatus::parse(&status), offset, 50)
        .await?)
}

/// One tool with its definitions, diff and callers. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/tools/get")]
pub async fn get_tool(id: String) -> Result<ToolView, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let detail = svc.catalog.tool(&actor, &ToolId::from(id)).await?;
    let callers = svc
        .access
        .caller_count(
            &actor,
            &ServerId::from(&detail.tool.server_id),
            &ToolName::from(&detail.tool.name),
        )
        .await?;
    Ok(ToolView { detail, callers })
}

/// A page of the people who may call a tool now (by email, those whose
/// email contains `q`), each with the grant that decided it.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/tools/callers")]
pub async fn tool_callers(
    server_id: String,
    tool: String,
    #[server(default)] q: String,
    #[server(default)] offset: i64,
) -> Result<Page<ToolCaller>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .access
        .callers(
            &actor,
            &ServerId::from(server_id),
            &ToolName::from(tool),
            &q,
            offset,
            CALLERS_PAGE,
        )
        .await?)
}

/// Approves a quarantined tool. **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/tools/approve")]
pub async fn approve_tool(id: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.catalog.approve_tool(&actor, &ToolId::from(id)).await?)
}

#[cfg(feature = "ssr")]
fn tri(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Sets annotation overrides: each `yes`, `no`, or empty (use the server's
/// hint). **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/tools/overrides")]
pub async fn set_tool_overrides(
    id: String,
    #[server(default)] read_only: String,
    #[server(default)] destructive: String,
    #[server(default)] idempotent: String,
    #[server(default)] open_world: String,
) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let overrides = ToolHints {
        read_only: tri(&read_only),
        destructive: tri(&destructive),
        idempotent: tri(&idempotent),
        open_world: tri(&open_world),
    };
    Ok(svc
        .catalog
        .set_overrides(&actor, &ToolId::from(id), overrides)
        .await?)
}

/// A server's OAuth scopes and protected-resource metadata URL.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/catalog/servers/oauth")]
pub async fn get_server_oauth(id: String) -> Result<portcullis_types::ServerOAuth, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    Ok(svc
        .oauth
        .server_oauth(
            &actor,
            &portcullis_types::ServerId::from(id),
            &config.public_url,
        )
        .await?)
}

/// Sets the scopes a server declares (space-separated).
/// **Permission:** `CatalogManage`.
#[server(endpoint = "console/catalog/servers/scopes")]
pub async fn set_server_scopes(
    id: String,
    #[server(default)] scopes: String,
) -> Result<Vec<String>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .oauth
        .set_server_scopes(&actor, &portcullis_types::ServerId::from(id), &scopes)
        .await?)
}
