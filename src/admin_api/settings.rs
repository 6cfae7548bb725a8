//! `/directories` (SCIM directories and their bearer tokens),
//! `/sso-connections` (create, read, replace, delete) and `/clients` (the OAuth clients of MCP
//! users: list, approve, block, unblock).
//!
//! Answers that carry a secret (a new SCIM token) take no
//! `Idempotency-Key`: replaying them would mean storing the secret.

use super::support::{
    created, idempotent_json, json, with_etag, ApiResult, Caller, Json, List, PageParams, Query,
};
use crate::http::problem::{Problem, ProblemBody};
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_domain::oauth::model::ClientStatus;
use portcullis_types::{ClientId, SsoConnectionId};
use portcullis_types::{
    ClientSummary, DirectoryDetail, DirectorySummary, NewScimToken, SsoConnectionDetail,
    SsoConnectionInput, SsoView,
};
use portcullis_types::{DirectoryId, ScimTokenId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A directory to create.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDirectory {
    /// How the console names it ("Okta", "Entra ID").
    pub name: String,
}

/// How a new token replaces the directory's current ones.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRotation {
    /// Hours the current tokens keep working (0 to 720, default 24).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 720)]
    pub overlap_hours: Option<i64>,
}

/// Filters of `GET /clients`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientParams {
    /// Matches name or client id.
    #[serde(default)]
    pub q: String,
    /// `active`, `pending`, `blocked` or `reaped`.
    #[serde(default)]
    pub status: String,
}

/// A client's new standing.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientStanding {
    /// `active` (approve or unblock) or `blocked` (revokes its tokens and
    /// lists it in the policy bundle, so gateways refuse it).
    pub status: String,
    /// Why, shown on the Clients page and in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What blocking revoked.
#[derive(Serialize, ToSchema)]
pub struct StandingChanged {
    pub client: ClientSummary,
    /// Grants (refresh tokens) revoked by a block.
    pub grants_revoked: u64,
}

fn scim_base(state: &AppState) -> String {
    format!("{}/scim/v2", state.console.public_url)
}

/// SCIM directories.
#[utoipa::path(get, path = "/directories", tag = "directories", params(PageParams),
    responses((status = 200, body = List<DirectorySummary>), (status = 400, body = ProblemBody)))]
pub async fn list_directories(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let all = state.services.directory.list_directories(&caller.0).await?;
    json(StatusCode::OK, &List::from_all(all, offset, limit))
}

/// One directory, its tokens (never their secrets) and recent failed requests.
#[utoipa::path(get, path = "/directories/{id}", tag = "directories", params(("id" = String, Path)),
    responses((status = 200, body = DirectoryDetail, headers(("ETag" = String))), (status = 404, body = ProblemBody)))]
pub async fn get_directory(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let mut detail = state
        .services
        .directory
        .get_directory(&caller.0, &DirectoryId::from(id))
        .await?;
    detail.base_url = scim_base(&state);
    with_etag(&detail)
}

/// Create a SCIM directory and its first bearer token (in the answer, once).
#[utoipa::path(post, path = "/directories", tag = "directories", request_body = NewDirectory,
    responses((status = 201, body = NewScimToken, headers(("Location" = String))), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 409, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_directory(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewDirectory>,
) -> ApiResult {
    let mut token = state
        .services
        .directory
        .create_directory(&caller.0, &body.name)
        .await?;
    token.base_url = scim_base(&state);
    created(
        &format!("/api/v1/admin/directories/{}", token.directory_id),
        &token,
    )
}

/// Issue a new bearer token (in the answer, once); the current tokens keep
/// working for the overlap.
#[utoipa::path(post, path = "/directories/{id}/tokens", tag = "directories", request_body = TokenRotation,
    params(("id" = String, Path)),
    responses((status = 201, body = NewScimToken), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<TokenRotation>,
) -> ApiResult {
    let overlap = body
        .overlap_hours
        .unwrap_or(portcullis_domain::directory::DEFAULT_ROTATION_OVERLAP_HOURS);
    let mut token = state
        .services
        .directory
        .rotate_token(&caller.0, &DirectoryId::from(id), overlap)
        .await?;
    token.base_url = scim_base(&state);
    json(StatusCode::CREATED, &token)
}

/// Revoke one token of a directory now.
#[utoipa::path(delete, path = "/directories/{id}/tokens/{token_id}", tag = "directories",
    params(("id" = String, Path), ("token_id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult {
    state
        .services
        .directory
        .revoke_token(
            &caller.0,
            &DirectoryId::from(id),
            &ScimTokenId::from(token_id),
        )
        .await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

fn sso_location(id: &str) -> String {
    format!("/api/v1/admin/sso-connections/{id}")
}

/// Create an SSO connection (send an `Idempotency-Key` to make retries
/// safe). OIDC: discovery at the issuer runs first and must name the same
/// issuer; SAML: the IdP metadata (pasted or fetched from `saml.metadata_url`)
/// must parse and carry a signing certificate.
#[utoipa::path(post, path = "/sso-connections", tag = "sso", request_body = SsoConnectionInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry create once (24 hours)")),
    responses((status = 201, body = SsoConnectionDetail, headers(("Location" = String))), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 409, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn create_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Json(body): Json<SsoConnectionInput>,
) -> ApiResult {
    idempotent_json(
        &state,
        &caller,
        &headers,
        "POST /sso-connections",
        &body,
        || async {
            let sso = &state.services.sso;
            let id = sso.create(&caller.0, &body).await?;
            let detail = sso.get(&caller.0, &id, &state.console.public_url).await?;
            created(&sso_location(id.as_str()), &detail)
        },
    )
    .await
}

/// Replace an SSO connection's settings (`If-Match` refuses a lost update;
/// an empty `client_secret` keeps the stored one).
#[utoipa::path(put, path = "/sso-connections/{id}", tag = "sso", request_body = SsoConnectionInput,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 200, body = SsoConnectionDetail, headers(("ETag" = String))), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 412, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn update_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<SsoConnectionInput>,
) -> ApiResult {
    let sso = &state.services.sso;
    let public_url = &state.console.public_url;
    let id = SsoConnectionId::from(id);
    let current = sso.get(&caller.0, &id, public_url).await?;
    super::support::check_if_match(&headers, &current)?;
    sso.update(&caller.0, &id, &body).await?;
    with_etag(&sso.get(&caller.0, &id, public_url).await?)
}

/// Delete an SSO connection with its domains, role mappings and sign-in
/// links (the console users stay).
#[utoipa::path(delete, path = "/sso-connections/{id}", tag = "sso",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 412, body = ProblemBody)))]
pub async fn delete_sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let sso = &state.services.sso;
    let id = SsoConnectionId::from(id);
    if headers.contains_key(axum::http::header::IF_MATCH) {
        let current = sso.get(&caller.0, &id, &state.console.public_url).await?;
        super::support::check_if_match(&headers, &current)?;
    }
    sso.delete(&caller.0, &id).await?;
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}

/// SSO connections and the directories they may be linked to.
#[utoipa::path(get, path = "/sso-connections", tag = "sso",
    responses((status = 200, body = SsoView)))]
pub async fn sso_connections(State(state): State<AppState>, caller: Caller) -> ApiResult {
    json(StatusCode::OK, &state.services.sso.view(&caller.0).await?)
}

/// One SSO connection with the URLs to give the IdP.
#[utoipa::path(get, path = "/sso-connections/{id}", tag = "sso", params(("id" = String, Path)),
    responses((status = 200, body = SsoConnectionDetail, headers(("ETag" = String))), (status = 404, body = ProblemBody)))]
pub async fn sso_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    with_etag(
        &state
            .services
            .sso
            .get(
                &caller.0,
                &SsoConnectionId::from(id),
                &state.console.public_url,
            )
            .await?,
    )
}

async fn client(
    state: &AppState,
    caller: &Caller,
    id: &ClientId,
) -> Result<ClientSummary, Problem> {
    // Client ids can be URLs (metadata documents): matched exactly.
    Ok(state.services.oauth.client(&caller.0, id).await?)
}

/// OAuth clients of MCP users, waiting ones first.
#[utoipa::path(get, path = "/clients", tag = "clients", params(ClientParams, PageParams),
    responses((status = 200, body = List<ClientSummary>), (status = 400, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ClientParams>,
    Query(page): Query<PageParams>,
) -> ApiResult {
    let (offset, limit) = page.window()?;
    let view = state
        .services
        .oauth
        .list_clients(&caller.0, &q.q, &q.status, offset, limit)
        .await?;
    json(
        StatusCode::OK,
        &List::from_page(portcullis_types::Page {
            items: view.clients,
            total: view.total,
            offset,
            limit,
        }),
    )
}

/// One OAuth client (`id` URL-encoded when it is a metadata document URL).
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientSummary, headers(("ETag" = String))), (status = 404, body = ProblemBody)))]
pub async fn get_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    with_etag(&client(&state, &caller, &ClientId::from(id)).await?)
}

/// Approve, block or unblock a client (`If-Match` refuses a lost update).
#[utoipa::path(patch, path = "/clients/{id}", tag = "clients", request_body = ClientStanding,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag read last")),
    responses((status = 200, body = StandingChanged), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 412, body = ProblemBody), (status = 415, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn set_client_standing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<ClientStanding>,
) -> ApiResult {
    let id = ClientId::from(id);
    let current = client(&state, &caller, &id).await?;
    super::support::check_if_match(&headers, &current)?;
    let status = match body.status.as_str() {
        "active" => ClientStatus::Active,
        "blocked" => ClientStatus::Blocked,
        _ => {
            return Err(Problem::from(portcullis_domain::Error::invalid(
                "status",
                "use active (approve or unblock) or blocked",
            )))
        }
    };
    let grants_revoked = state
        .services
        .oauth
        .set_client_status(&caller.0, &id, status, body.reason.as_deref())
        .await?;
    json(
        StatusCode::OK,
        &StandingChanged {
            client: client(&state, &caller, &id).await?,
            grants_revoked,
        },
    )
}
