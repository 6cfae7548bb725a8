//! Server functions for the Gateways page. Reading the page needs
//! `ConsoleRead` (every role); registering a gateway, rotating or revoking
//! its credential and rotating the policy signing key need `AccessManage`
//! (owners and admins). The domain services check the role, so an auditor
//! calling these endpoints directly gets 403 and nothing changes.
//!
//! Arguments are flat strings, as an HTML form posts them, so the forms work
//! before hydration and the endpoints are easy to call with curl.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::GatewaysView;
use serde::{Deserialize, Serialize};

/// The Gateways page: every gateway against the current revision, the
/// signing keys, and where gateways fetch the policy and the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaysPageData {
    pub view: GatewaysView,
    /// `{public_url}/api/v1/policy`.
    pub policy_url: String,
    /// `{public_url}/.well-known/jwks.json`.
    pub jwks_url: String,
}

/// A gateway credential just issued (shown once), with the URLs the
/// gateway is configured with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCredential {
    pub id: String,
    pub name: String,
    pub token: String,
    pub policy_url: String,
    pub jwks_url: String,
}

/// The Add gateway form, as posted: `server_ids[]` once per ticked server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayForm {
    pub name: String,
    pub description: String,
    pub server_ids: Vec<String>,
}

/// The policy and JWKS URLs under the public base URL.
#[cfg(feature = "ssr")]
fn urls() -> Result<(String, String), AppError> {
    let (_, config) = crate::ssr::ctx()?;
    Ok((
        format!("{}/api/v1/policy", config.public_url),
        format!("{}/.well-known/jwks.json", config.public_url),
    ))
}

#[cfg(feature = "ssr")]
fn credential(c: portcullis_types::GatewayCreated) -> Result<GatewayCredential, AppError> {
    let (policy_url, jwks_url) = urls()?;
    Ok(GatewayCredential {
        id: c.id,
        name: c.name,
        token: c.token,
        policy_url,
        jwks_url,
    })
}

/// Every gateway with its state against the current policy revision, and
/// the signing keys. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/gateways/list")]
pub async fn get_gateways() -> Result<GatewaysPageData, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let view = svc.gateways.view(&actor).await?;
    let (policy_url, jwks_url) = urls()?;
    Ok(GatewaysPageData {
        view,
        policy_url,
        jwks_url,
    })
}

/// Registers a gateway from the Add gateway form (see [`GatewayForm`]);
/// returns its credential (shown once). **Permission:** `AccessManage`.
#[server(endpoint = "console/gateways/create")]
pub async fn create_gateway(
    #[server(flatten)] form: GatewayForm,
) -> Result<GatewayCredential, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let input = portcullis_types::GatewayInput {
        name: form.name,
        description: form.description,
        server_ids: form.server_ids,
    };
    credential(svc.gateways.create(&actor, &input).await?)
}

/// Issues a new credential for a gateway; the old one stops working at
/// once. Returns the new one (shown once). **Permission:** `AccessManage`.
#[server(endpoint = "console/gateways/rotate")]
pub async fn rotate_gateway_credential(id: String) -> Result<GatewayCredential, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    credential(
        svc.gateways
            .rotate_credential(&actor, &portcullis_types::GatewayId::from(id))
            .await?,
    )
}

/// Revokes a gateway's credential for good. **Permission:** `AccessManage`.
#[server(endpoint = "console/gateways/revoke")]
pub async fn revoke_gateway(id: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .gateways
        .revoke(&actor, &portcullis_types::GatewayId::from(id))
        .await?)
}

/// Rotates the policy signing key: the current revision is re-signed with a
/// new key; the old one stays in the JWKS for a while. Returns the new key
/// id. **Permission:** `AccessManage`.
#[server(endpoint = "console/gateways/signing/rotate")]
pub async fn rotate_signing_key() -> Result<String, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.signing.rotate(&actor).await?)
}
