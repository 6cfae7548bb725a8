//! Server functions for the Directory pages and Settings → Directories.
//! Reads need `DirectoryRead` (every role); creating directories and
//! rotating or revoking SCIM tokens need `DirectoryManage` (owners and
//! admins). The domain service checks the role.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{
    DirectoryDetail, DirectoryGroupDetail, DirectoryGroupQuery, DirectoryGroupSummary,
    DirectorySummary, DirectoryUserDetail, DirectoryUserQuery, DirectoryUserSummary, NewScimToken,
    Page,
};

/// Lists provisioned people. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/users/list")]
pub async fn list_directory_users(
    q: DirectoryUserQuery,
) -> Result<Page<DirectoryUserSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.directory.list_users(&actor, q).await?)
}

/// One provisioned person with groups and history. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/users/get")]
pub async fn get_directory_user(id: String) -> Result<DirectoryUserDetail, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .directory
        .get_user(&actor, &portcullis_types::PersonId::from(id))
        .await?)
}

/// Lists provisioned groups. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/groups/list")]
pub async fn list_directory_groups(
    q: DirectoryGroupQuery,
) -> Result<Page<DirectoryGroupSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.directory.list_groups(&actor, q).await?)
}

/// One group with a page of its members. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/groups/get")]
pub async fn get_directory_group(
    id: String,
    member_offset: i64,
    member_limit: i64,
) -> Result<DirectoryGroupDetail, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .directory
        .get_group(
            &actor,
            &portcullis_types::GroupId::from(id),
            member_offset,
            member_limit,
        )
        .await?)
}

/// Lists SCIM directories with their counts. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/directories/list")]
pub async fn list_directories() -> Result<Vec<DirectorySummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.directory.list_directories(&actor).await?)
}

/// A directory with its tokens, recent failed requests and SCIM base URL.
/// **Permission:** `DirectoryRead`.
#[server(endpoint = "console/directory/directories/get")]
pub async fn get_directory(id: String) -> Result<DirectoryDetail, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let mut detail = svc
        .directory
        .get_directory(&actor, &portcullis_types::DirectoryId::from(id))
        .await?;
    detail.base_url = format!("{}/scim/v2", config.public_url);
    Ok(detail)
}

/// Creates a directory; returns its SCIM base URL and first token (shown
/// once). **Permission:** `DirectoryManage`.
#[server(endpoint = "console/directory/directories/create")]
pub async fn create_directory(name: String) -> Result<NewScimToken, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let mut token = svc.directory.create_directory(&actor, &name).await?;
    token.base_url = format!("{}/scim/v2", config.public_url);
    Ok(token)
}

/// Issues a new token for a directory; its active tokens keep working for
/// `overlap_hours`. Returns the new token (shown once).
/// **Permission:** `DirectoryManage`.
#[server(endpoint = "console/directory/tokens/rotate")]
pub async fn rotate_scim_token(
    directory_id: String,
    overlap_hours: i64,
) -> Result<NewScimToken, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    let mut token = svc
        .directory
        .rotate_token(
            &actor,
            &portcullis_types::DirectoryId::from(directory_id),
            overlap_hours,
        )
        .await?;
    token.base_url = format!("{}/scim/v2", config.public_url);
    Ok(token)
}

/// Revokes one SCIM token of a directory now; not found when the token is
/// not an active token of that directory. **Permission:** `DirectoryManage`.
#[server(endpoint = "console/directory/tokens/revoke")]
pub async fn revoke_scim_token(directory_id: String, token_id: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .directory
        .revoke_token(
            &actor,
            &portcullis_types::DirectoryId::from(directory_id),
            &portcullis_types::ScimTokenId::from(token_id),
        )
        .await?)
}
