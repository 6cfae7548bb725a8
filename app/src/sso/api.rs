//! Server functions for Settings → Single sign-on and the sign-in page.
//! Reading needs `ConsoleRead`; creating, changing, deleting and testing a
//! connection need `SsoManage` (owners and admins), and mapping a group to
//! the owner role needs an owner. The domain service checks the role, so an
//! auditor calling these endpoints directly gets 403 and nothing changes.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{SsoConnectionDetail, SsoTestResult, SsoView};
use serde::{Deserialize, Serialize};

/// The connection form as posted: flat fields, and the role mappings as two
/// parallel lists (`mapping_groups[]`, `mapping_roles[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SsoForm {
    pub name: String,
    pub slug: String,
    /// `oidc` or `saml` (ignored when editing).
    pub kind: String,
    /// `on` when ticked.
    pub enabled: Option<String>,
    pub domains: String,
    pub directory_id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: String,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: String,
    pub metadata_url: String,
    pub idp_metadata_xml: String,
    pub email_attribute: String,
    pub name_attribute: String,
    pub groups_attribute: String,
    pub allow_idp_initiated: Option<String>,
    /// `on`: create people on their first sign-in for MCP clients.
    pub jit_people: Option<String>,
    /// `on`: accept the IdP's ID-JAGs (OIDC).
    #[serde(default)]
    pub accept_id_jag: Option<String>,
    pub mapping_groups: Vec<String>,
    pub mapping_roles: Vec<String>,
}

#[cfg(feature = "ssr")]
impl SsoForm {
    fn input(self) -> Result<portcullis_types::SsoConnectionInput, AppError> {
        use portcullis_types::{
            FieldError, OidcSettings, Role, RoleMapping, SamlSettings, SsoConnectionInput,
        };
        let mut role_mappings = Vec::new();
        for (i, group) in self.mapping_groups.iter().enumerate() {
            let raw = self.mapping_roles.get(i).map(String::as_str).unwrap_or("");
            let role = match raw {
                "owner" => Role::Owner,
                "admin" => Role::Admin,
                "auditor" => Role::Auditor,
                _ if group.trim().is_empty() => continue,
                _ => {
                    return Err(portcullis_domain::Error::Invalid(vec![FieldError {
                        field: format!("role_mappings[{i}].role"),
                        message: "choose owner, admin or auditor".into(),
                    }])
                    .into())
                }
            };
            role_mappings.push(RoleMapping {
                group: group.clone(),
                role,
            });
        }
        let kind = match self.kind.as_str() {
            "" => None,
            k => Some(k.parse().map_err(|_| {
                AppError::from(portcullis_domain::Error::invalid(
                    "kind",
                    "choose OpenID Connect or SAML",
                ))
            })?),
        };
        Ok(SsoConnectionInput {
            name: self.name,
            slug: self.slug,
            kind,
            enabled: self.enabled.is_some(),
            domains: self.domains,
            oidc: OidcSettings {
                issuer: self.issuer,
                client_id: self.client_id,
                scopes: self.scopes,
                email_claim: self.email_claim,
                name_claim: self.name_claim,
                groups_claim: self.groups_claim,
            },
            client_secret: self.client_secret,
            saml: SamlSettings {
                metadata_url: self.metadata_url,
                idp_entity_id: String::new(),
                email_attribute: self.email_attribute,
                name_attribute: self.name_attribute,
                groups_attribute: self.groups_attribute,
            },
            idp_metadata_xml: self.idp_metadata_xml,
            allow_idp_initiated: self.allow_idp_initiated.is_some(),
            directory_id: Some(self.directory_id).filter(|d| !d.is_empty()),
            role_mappings,
            jit_people: self.jit_people.is_some(),
            accept_id_jag: self.accept_id_jag.is_some(),
        })
    }
}

/// Whether the sign-in page should ask for the email first (some SSO
/// connection is enabled). Public: the sign-in page calls it.
#[server(endpoint = "console/sso/options")]
pub async fn sign_in_options() -> Result<bool, AppError> {
    let (svc, _) = crate::ssr::ctx()?;
    Ok(svc.sso.any_enabled().await?)
}

/// Every connection. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/sso/list")]
pub async fn get_sso() -> Result<SsoView, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.sso.view(&actor).await?)
}

/// One connection with the URLs to give the IdP. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/sso/get")]
pub async fn get_sso_connection(id: String) -> Result<SsoConnectionDetail, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let id = portcullis_types::SsoConnectionId::from(id);
    Ok(svc.sso.get(&actor, &id, &config.public_url).await?)
}

/// Creates a connection and goes to its page. **Permission:** `SsoManage`.
#[server(endpoint = "console/sso/create")]
pub async fn create_sso_connection(#[server(flatten)] form: SsoForm) -> Result<String, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let id = svc.sso.create(&actor, &form.input()?).await?;
    leptos_axum::redirect(&format!("/settings/sso/{id}?saved=created"));
    Ok(id.0)
}

/// Changes a connection (an empty client secret keeps the stored one).
/// **Permission:** `SsoManage`.
#[server(endpoint = "console/sso/update")]
pub async fn update_sso_connection(
    id: String,
    #[server(flatten)] form: SsoForm,
) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let id = portcullis_types::SsoConnectionId::from(id);
    Ok(svc.sso.update(&actor, &id, &form.input()?).await?)
}

/// Deletes a connection. **Permission:** `SsoManage`.
#[server(endpoint = "console/sso/delete")]
pub async fn delete_sso_connection(id: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    svc.sso
        .delete(&actor, &portcullis_types::SsoConnectionId::from(id))
        .await?;
    leptos_axum::redirect("/settings/sso");
    Ok(())
}

/// What a "Test connection" run saw (only the admin who ran it).
/// **Permission:** `SsoManage`.
#[server(endpoint = "console/sso/test_result")]
pub async fn get_sso_test(id: String) -> Result<SsoTestResult, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let id = portcullis_types::SsoTestId::from(id);
    Ok(svc.sso.test_result(&actor, &id).await?)
}
