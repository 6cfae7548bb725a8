//! `/agents`: headless principals with credentials of their own (register,
//! read, the kill switch, rotate a secret, replace keys) and the people
//! they may act for (`/agents/{id}/delegations`). Grants name them like people
//! (`subject: {"kind": "agent", "id": "agt_…"}` on `/grants`).
//!
//! Answers that carry a secret (a new agent, a rotated secret) take no
//! `Idempotency-Key`: replaying them would mean storing the secret.

use super::support::{created, json, with_etag, ApiResult, Caller, Json, List, PageParams, Query};
use crate::http::problem::{Problem, ProblemBody};
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_types::{
    AgentId, AgentInput, AgentSummary, DelegationInput, DelegationSummary, NewAgentCredential,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET /agents`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentParams {
    /// Matches name, id or description.
    #[serde(default)]
    pub q: String,
}

/// An agent's new standing.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStanding {
    /// `disabled` (the kill switch: no more tokens, its tokens introspect
    /// inactive, the next bundle denies it) or `active`.
    pub status: String,
    /// Why, shown on the Agents page and in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Agents, by name.
#[utoipa::path(get, path = "/agents", tag = "agents", params(AgentParams, PageParams),
    responses((status = 200, body = List<AgentSummary>), (status = 400, body = ProblemBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AgentParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let page = state
        .services
        .agents
        .list(&caller.0, &q.q, offset, limit)
        .await?;
    json(StatusCode::OK, &List::from_page(page))
}

/// Register an agent. A `client_secret` agent's secret is in the answer,
/// once; key-based agents sign a `private_key_jwt` assertion.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentInput,
    responses((status = 201, body = NewAgentCredential, headers(("Location" = String))), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 409, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AgentInput>,
) -> ApiResult {
    let made = state.services.agents.create(&caller.0, &body).await?;
    created(&format!("/api/v1/admin/agents/{}", made.agent.id), &made)
}

async fn agent(state: &AppState, caller: &Caller, id: &AgentId) -> Result<AgentSummary, Problem> {
    Ok(state.services.agents.get(&caller.0, id).await?)
}

/// One agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = AgentSummary, headers(("ETag" = String))), (status = 404, body = ProblemBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    with_etag(&agent(&state, &caller, &AgentId::from(id)).await?)
}

/// The kill switch: disable or enable an agent (`If-Match` refuses a lost
/// update).
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", request_body = AgentStanding,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 200, body = AgentSummary), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 412, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_agent_standing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<AgentStanding>,
) -> ApiResult {
    let id = AgentId::from(id);
    let current = agent(&state, &caller, &id).await?;
    super::support::check_if_match(&headers, &current)?;
    let enabled = match body.status.as_str() {
        "active" => true,
        "disabled" => false,
        _ => {
            return Err(Problem::from(portcullis_domain::Error::invalid(
                "status",
                "use disabled (the kill switch) or active",
            )))
        }
    };
    let after = state
        .services
        .agents
        .set_enabled(&caller.0, &id, enabled, body.reason.as_deref())
        .await?;
    json(StatusCode::OK, &after)
}

/// New public keys for a key-based agent.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentKeys {
    /// `jwks` (with `jwks`) or `jwks_uri` (with `jwks_uri`).
    pub credential: String,
    /// The public keys, a JWKS document.
    #[serde(default)]
    pub jwks: Option<String>,
    /// An https URL serving the public keys.
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// Replace a key-based agent's public keys (assertions signed with the old
/// ones stop at once).
#[utoipa::path(put, path = "/agents/{id}/keys", tag = "agents", request_body = AgentKeys,
    params(("id" = String, Path)),
    responses((status = 200, body = AgentSummary), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_agent_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<AgentKeys>,
) -> ApiResult {
    let after = state
        .services
        .agents
        .set_keys(
            &caller.0,
            &AgentId::from(id),
            &body.credential,
            body.jwks.as_deref(),
            body.jwks_uri.as_deref(),
        )
        .await?;
    json(StatusCode::OK, &after)
}

/// A new secret for a `client_secret` agent (in the answer, once); the old
/// one stops working.
#[utoipa::path(post, path = "/agents/{id}/secret", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = NewAgentCredential), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn rotate_agent_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let made = state
        .services
        .agents
        .rotate_secret(&caller.0, &AgentId::from(id))
        .await?;
    json(StatusCode::OK, &made)
}

/// The people agent `id` may act for, per server (delegations).
#[utoipa::path(get, path = "/agents/{id}/delegations", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DelegationSummary>), (status = 404, body = ProblemBody)))]
pub async fn list_delegations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let list = state
        .services
        .agents
        .delegations(&caller.0, &AgentId::from(id))
        .await?;
    json(StatusCode::OK, &list)
}

/// Let agent `id` act for a person, a group's people or everyone on one
/// server: it may then exchange their tokens (RFC 8693) for delegated
/// ones, which gateways allow only where the person and the agent both
/// may. Makes a policy revision.
#[utoipa::path(post, path = "/agents/{id}/delegations", tag = "agents", params(("id" = String, Path)),
    request_body = DelegationInput,
    responses((status = 201, body = DelegationSummary, headers(("Location" = String))), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_delegation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<DelegationInput>,
) -> ApiResult {
    let made = state
        .services
        .agents
        .delegate(&caller.0, &AgentId::from(id.clone()), &body)
        .await?;
    created(
        &format!("/api/v1/admin/agents/{id}/delegations/{}", made.id),
        &made,
    )
}

/// End a delegation: the agent's delegated tokens for those people are
/// refused from the next policy revision.
#[utoipa::path(delete, path = "/agents/{id}/delegations/{delegation}", tag = "agents",
    params(("id" = String, Path), ("delegation" = String, Path)),
    responses((status = 204), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn delete_delegation(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delegation)): Path<(String, String)>,
) -> ApiResult {
    state
        .services
        .agents
        .undelegate(&caller.0, &AgentId::from(id), &delegation)
        .await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
