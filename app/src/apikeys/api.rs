//! Server functions for Settings → API keys. Listing needs any console
//! role; creating and revoking need the owner role (the domain checks).

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{ApiKeyId, ApiKeySummary, NewApiKey};

/// Every API key, newest first. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/api_keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeySummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.api_keys.list(&actor).await?)
}

/// Creates a key; its secret is in the answer, once. `expires_days` empty:
/// no expiry. **Permission:** `AdminsManage`.
#[server(endpoint = "console/api_keys/create")]
pub async fn create_api_key(
    name: String,
    role: String,
    expires_days: String,
) -> Result<NewApiKey, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let expires_days = match expires_days.trim() {
        "" => None,
        d => Some(d.parse::<i64>().map_err(|_| {
            AppError::from(portcullis_domain::Error::invalid(
                "expires_days",
                "enter a whole number of days, or leave it empty for no expiry",
            ))
        })?),
    };
    Ok(svc
        .api_keys
        .create(
            &actor,
            &portcullis_types::ApiKeyInput {
                name,
                role,
                expires_days,
            },
        )
        .await?)
}

/// Revokes a key at once. **Permission:** `AdminsManage`.
#[server(endpoint = "console/api_keys/revoke")]
pub async fn revoke_api_key(id: ApiKeyId) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.api_keys.revoke(&actor, &id).await?)
}
