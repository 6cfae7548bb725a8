//! Server functions for Settings → Admins. Every one needs the owner role;
//! the domain service checks it.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{AdminSummary, ConsoleUserId, OneTimeLink, Page, Role};

/// Lists console users. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/list")]
pub async fn list_admins(search: String, offset: i64) -> Result<Page<AdminSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.list_admins(&actor, &search, offset, 25).await?)
}

/// Invites a console user; returns the one-time link with the full URL in
/// `path`. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/invite")]
pub async fn invite_admin(
    email: String,
    display_name: String,
    role: Role,
) -> Result<OneTimeLink, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let mut link = svc
        .console
        .invite_admin(&actor, &email, &display_name, role)
        .await?;
    link.path = format!("{}{}", config.public_url, link.path);
    Ok(link)
}

/// Changes a console user's role. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/set_role")]
pub async fn set_admin_role(user_id: ConsoleUserId, role: Role) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.set_role(&actor, &user_id, role).await?)
}

/// Disables a console user. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/disable")]
pub async fn disable_admin(user_id: ConsoleUserId) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.disable_admin(&actor, &user_id).await?)
}

/// Re-enables a console user. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/enable")]
pub async fn enable_admin(user_id: ConsoleUserId) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.enable_admin(&actor, &user_id).await?)
}

/// Ends every session of a console user. **Permission:** `AdminsManage`.
#[server(endpoint = "console/admins/revoke_sessions")]
pub async fn revoke_admin_sessions(user_id: ConsoleUserId) -> Result<u64, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.revoke_sessions(&actor, &user_id).await?)
}
