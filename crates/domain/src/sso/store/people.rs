//! The SQL of the directory side of SSO: the person of a connection's
//! directory an assertion names, their SCIM groups, and the people and
//! groups a connection creates just in time.

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A directory user as SSO admission sees them.
#[derive(sqlx::FromRow)]
pub(in crate::sso) struct DirUserRow {
    pub id: String,
    pub email: Option<String>,
    pub user_name_lower: String,
    pub active: bool,
    pub deleted: bool,
}

/// The user of directory `directory_id` whose `externalId` is `subject`
/// (a live one before a deleted one, then the oldest).
pub(in crate::sso) async fn dir_user_by_subject(
    ex: Exec<'_>,
    directory_id: &str,
    subject: &str,
) -> Result<Option<DirUserRow>> {
    Ok(fetch_optional!(
        ex,
        DirUserRow,
        "SELECT id, email, user_name_lower, active, deleted_at IS NOT NULL AS deleted FROM directory_users \
         WHERE directory_id = $1 AND external_id = $2 ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1",
        directory_id,
        subject
    )?)
}

/// The user of directory `directory_id` whose userName or email is the
/// (normalized) `email` (a live one before a deleted one, then the oldest).
pub(in crate::sso) async fn dir_user_by_email(
    ex: Exec<'_>,
    directory_id: &str,
    email: &str,
) -> Result<Option<DirUserRow>> {
    Ok(fetch_optional!(
        ex,
        DirUserRow,
        "SELECT id, email, user_name_lower, active, deleted_at IS NOT NULL AS deleted FROM directory_users \
         WHERE directory_id = $1 AND (user_name_lower = $2 OR lower(email) = $2) \
         ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1",
        directory_id,
        email
    )?)
}

/// The display names of the SCIM groups directory user `member_id` is in.
pub(in crate::sso) async fn group_names_of(ex: Exec<'_>, member_id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT g.display_name FROM directory_group_members m \
         JOIN directory_groups g ON g.id = m.group_id WHERE m.member_id = $1",
        member_id
    )?
    .into_iter()
    .map(|g| g.0)
    .collect())
}

/// Whether a directory is named `name` (any case).
pub(in crate::sso) async fn directory_name_taken(ex: Exec<'_>, name: &str) -> Result<bool> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM directories WHERE name_lower = $1",
        name.to_lowercase()
    )? > 0)
}

/// A person created just in time.
pub(in crate::sso) struct JitUser<'a> {
    pub id: &'a str,
    pub directory_id: &'a str,
    /// Also the userName.
    pub email: &'a str,
    pub external_id: &'a str,
    pub display_name: &'a str,
    /// The SCIM resource (JSON).
    pub resource: &'a str,
    pub at: DateTime<Utc>,
    pub connection_id: &'a str,
}

/// Inserts an active person and their primary work email.
pub(in crate::sso) async fn insert_jit_user(tx: &mut Tx, u: &JitUser<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO directory_users (id, directory_id, user_name, user_name_lower, external_id, display_name, \
         email, active, resource, version, created_at, updated_at, jit_connection_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10, $11)",
        u.id,
        u.directory_id,
        u.email,
        u.email.to_lowercase(),
        u.external_id,
        u.display_name,
        u.email,
        true,
        u.resource,
        u.at,
        u.connection_id
    )?;
    exec!(
        tx.exec(),
        "INSERT INTO directory_user_emails (user_id, value, type, primary_) VALUES ($1, $2, 'work', $3)",
        u.id,
        u.email,
        true
    )?;
    Ok(())
}

/// Where a directory user came from.
#[derive(sqlx::FromRow)]
pub(in crate::sso) struct JitOrigin {
    pub directory_id: String,
    pub email: Option<String>,
    /// The connection that created them just in time, if one did.
    pub jit_connection_id: Option<String>,
}

pub(in crate::sso) async fn jit_origin(ex: Exec<'_>, user_id: &str) -> Result<Option<JitOrigin>> {
    Ok(fetch_optional!(
        ex,
        JitOrigin,
        "SELECT directory_id, email, jit_connection_id FROM directory_users WHERE id = $1",
        user_id
    )?)
}

/// A group a person is in.
#[derive(sqlx::FromRow)]
pub(in crate::sso) struct MemberGroup {
    pub id: String,
    pub display_name_lower: String,
}

/// The groups of directory `directory_id` that user `user_id` is in.
pub(in crate::sso) async fn member_groups(
    ex: Exec<'_>,
    user_id: &str,
    directory_id: &str,
) -> Result<Vec<MemberGroup>> {
    Ok(fetch_all!(
        ex,
        MemberGroup,
        "SELECT g.id, g.display_name_lower FROM directory_group_members m \
         JOIN directory_groups g ON g.id = m.group_id WHERE m.member_id = $1 AND g.directory_id = $2",
        user_id,
        directory_id
    )?)
}

pub(in crate::sso) async fn remove_member(
    ex: Exec<'_>,
    group_id: &str,
    user_id: &str,
) -> Result<()> {
    exec!(
        ex,
        "DELETE FROM directory_group_members WHERE group_id = $1 AND member_id = $2",
        group_id,
        user_id
    )?;
    Ok(())
}

/// The first group of directory `directory_id` named `name_lower` (any
/// case).
pub(in crate::sso) async fn group_named(
    ex: Exec<'_>,
    directory_id: &str,
    name_lower: &str,
) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(id) FROM directory_groups WHERE directory_id = $1 AND display_name_lower = $2",
        directory_id,
        name_lower
    )?)
}

pub(in crate::sso) async fn insert_group(
    ex: Exec<'_>,
    id: &str,
    directory_id: &str,
    name: &str,
    name_lower: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO directory_groups (id, directory_id, display_name, display_name_lower, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $5)",
        id,
        directory_id,
        name,
        name_lower,
        at
    )?;
    Ok(())
}

pub(in crate::sso) async fn add_member(
    ex: Exec<'_>,
    group_id: &str,
    user_id: &str,
    display: &str,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO directory_group_members (group_id, member_id, display) VALUES ($1, $2, $3)",
        group_id,
        user_id,
        display
    )?;
    Ok(())
}
