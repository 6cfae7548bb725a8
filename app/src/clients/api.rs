//! Server functions for the Clients page. Reading needs `ConsoleRead`
//! (every role); creating, approving, blocking clients and changing the
//! client policy need `ClientsManage` (owners and admins). The domain
//! service checks the role, so an auditor calling these endpoints directly
//! gets 403 and nothing changes.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::ClientsView;
use serde::{Deserialize, Serialize};

/// A client just created, with its secret (shown once) for a confidential
/// one, and the issuer its users configure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedClientView {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub name: String,
    pub issuer: String,
}

/// The Add client form, as posted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    pub name: String,
    /// One redirect URI per line.
    pub redirect_uris: String,
    /// `on` for a confidential client.
    pub confidential: String,
    /// For a `private_key_jwt` client: where its public keys are.
    pub jwks_uri: String,
}

/// A page of clients (waiting ones first) and the client policy.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/clients/list")]
pub async fn list_clients(q: String, status: String, offset: i64) -> Result<ClientsView, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .oauth
        .list_clients(&actor, &q, &status, offset, 50)
        .await?)
}

/// Pre-registers a client. **Permission:** `ClientsManage`.
#[server(endpoint = "console/clients/create")]
pub async fn create_client(
    #[server(flatten)] form: ClientForm,
) -> Result<CreatedClientView, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let input = portcullis_domain::oauth::model::CreateClient {
        name: form.name.clone(),
        redirect_uris: form
            .redirect_uris
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        confidential: form.confidential == "on",
        keys: Some(form.jwks_uri.trim())
            .filter(|u| !u.is_empty())
            .map(|u| portcullis_domain::oauth::model::ClientKeys::JwksUri(u.to_owned())),
    };
    let created = svc.oauth.create_client(&actor, &input).await?;
    Ok(CreatedClientView {
        client_id: created.client_id,
        client_secret: created.client_secret,
        name: form.name.trim().to_owned(),
        issuer: config.public_url.clone(),
    })
}

/// Approves (`active`), blocks or unblocks a client. Blocking revokes its
/// tokens. **Permission:** `ClientsManage`.
#[server(endpoint = "console/clients/set_status")]
pub async fn set_client_status(id: String, status: String) -> Result<u64, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let status = match status.as_str() {
        "active" => portcullis_domain::oauth::model::ClientStatus::Active,
        "blocked" => portcullis_domain::oauth::model::ClientStatus::Blocked,
        _ => return Err(portcullis_domain::Error::invalid("status", "active or blocked").into()),
    };
    let reason = (status == portcullis_domain::oauth::model::ClientStatus::Blocked)
        .then_some("blocked by an admin");
    Ok(svc
        .oauth
        .set_client_status(
            &actor,
            &portcullis_types::ClientId::from(id),
            status,
            reason,
        )
        .await?)
}

/// Turns dynamic registration and "new clients wait for approval" on or
/// off (`on` or empty) and, when given, sets after how many unused days
/// registered clients are removed (`0`: never). **Permission:**
/// `ClientsManage`.
#[server(endpoint = "console/clients/policy")]
pub async fn set_client_policy(
    registration_enabled: String,
    approval_required: String,
    #[server(default)] reap_after_days: Option<String>,
) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let reap = match reap_after_days.as_deref().map(str::trim) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            portcullis_domain::Error::invalid(
                "reap_after_days",
                "a whole number of days (0: never)",
            )
        })?),
    };
    Ok(svc
        .oauth
        .set_policy(
            &actor,
            registration_enabled == "on",
            approval_required == "on",
            reap,
        )
        .await?)
}

/// Revokes every live registration of a group of duplicates (their grants
/// end; each must register again). Returns how many.
/// **Permission:** `ClientsManage`.
#[server(endpoint = "console/clients/revoke_duplicates")]
pub async fn revoke_duplicates(key: String) -> Result<u64, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.oauth.revoke_duplicates(&actor, &key).await?)
}
