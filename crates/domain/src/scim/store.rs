//! Every SQL statement of the SCIM area (SQLite and PostgreSQL run the same
//! text): here users, groups, members and the console accounts of
//! deactivated people; in `lists` the column mappings that turn SCIM
//! filters and `sortBy` into SQL, and the paged lists. Every query of a
//! directory's resources is scoped by `directory_id`.

mod lists;

pub(super) use lists::{count, listing, order, page, ListSpec, GROUP_LIST, USER_LIST};

use super::model::{GroupFields, MemberIn};
use crate::db::{exec_dyn, fetch_all_dyn, Arg, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// `$1, $2, …` for `ids`, and the ids as binds.
fn in_list(ids: &[String]) -> (String, Vec<Arg>) {
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let args = ids.iter().map(|id| Arg::Text(id.clone())).collect();
    (placeholders.join(", "), args)
}

// ---- users ----

/// A user as stored.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub active: bool,
    pub resource: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT_USER: &str = "SELECT u.id, u.user_name, u.email, u.active, u.resource, u.version, u.created_at, u.updated_at \
     FROM directory_users u";

/// User `id` of directory `dir`, unless deleted.
pub(super) async fn user(ex: Exec<'_>, dir: &str, id: &str) -> Result<Option<UserRow>> {
    Ok(fetch_optional!(
        ex,
        UserRow,
        &format!("{SELECT_USER} WHERE u.id = $1 AND u.directory_id = $2 AND u.deleted_at IS NULL"),
        id,
        dir
    )?)
}

/// The columns of a user derived from its resource.
pub(super) struct UserColumns<'a> {
    pub user_name: &'a str,
    pub external_id: &'a Option<String>,
    pub display_name: &'a Option<String>,
    pub given_name: &'a Option<String>,
    pub family_name: &'a Option<String>,
    pub email: &'a Option<String>,
    pub active: bool,
    pub resource: &'a str,
}

/// Writes user `id` of directory `dir`: created at version 1, or
/// replaced with its version moved on. Both statements take the same binds.
pub(super) async fn write_user(
    tx: &mut Tx,
    kind: WriteKind,
    id: &str,
    dir: &str,
    c: &UserColumns<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = match kind {
        WriteKind::Create => {
            "INSERT INTO directory_users (id, directory_id, user_name, user_name_lower, external_id, display_name, \
             given_name, family_name, email, active, resource, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)"
        }
        WriteKind::Change => {
            "UPDATE directory_users SET user_name = $3, user_name_lower = $4, external_id = $5, display_name = $6, \
             given_name = $7, family_name = $8, email = $9, active = $10, resource = $11, version = version + 1, \
             updated_at = $12 WHERE id = $1 AND directory_id = $2"
        }
    };
    exec!(
        tx.exec(),
        sql,
        id,
        dir,
        c.user_name,
        c.user_name.to_lowercase(),
        c.external_id,
        c.display_name,
        c.given_name,
        c.family_name,
        c.email,
        c.active,
        c.resource,
        now
    )?;
    Ok(())
}

/// Replaces a user's emails `(value, type, primary)`.
pub(super) async fn write_emails(
    tx: &mut Tx,
    user_id: &str,
    emails: &[(String, Option<String>, bool)],
) -> Result<()> {
    exec!(
        tx.exec(),
        "DELETE FROM directory_user_emails WHERE user_id = $1",
        user_id
    )?;
    for (value, kind, primary) in emails {
        exec!(
            tx.exec(),
            "INSERT INTO directory_user_emails (user_id, value, type, primary_) VALUES ($1, $2, $3, $4)",
            user_id,
            value,
            kind,
            *primary
        )?;
    }
    Ok(())
}

/// Soft-deletes user `id` (inactive, hidden, version moved on).
pub(super) async fn delete_user(tx: &mut Tx, id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE directory_users SET deleted_at = $2, active = FALSE, version = version + 1, updated_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(())
}

/// Removes a user from every group of its directory (another directory's
/// groups are that directory's to change); returns how many memberships
/// ended.
pub(super) async fn leave_groups(tx: &mut Tx, dir: &str, user_id: &str) -> Result<u64> {
    Ok(exec!(
        tx.exec(),
        "DELETE FROM directory_group_members WHERE member_id = $1 \
         AND group_id IN (SELECT id FROM directory_groups WHERE directory_id = $2)",
        user_id,
        dir
    )?)
}

// ---- groups and members ----

/// A group as stored.
#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT_GROUP: &str =
    "SELECT g.id, g.display_name, g.external_id, g.version, g.created_at, g.updated_at FROM directory_groups g";

/// Group `id` of directory `dir`.
pub(super) async fn group(ex: Exec<'_>, dir: &str, id: &str) -> Result<Option<GroupRow>> {
    Ok(fetch_optional!(
        ex,
        GroupRow,
        &format!("{SELECT_GROUP} WHERE g.id = $1 AND g.directory_id = $2"),
        id,
        dir
    )?)
}

/// Whether a write makes a resource or changes one that exists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteKind {
    Create,
    Change,
}

/// Writes group `id` of directory `dir`: created at version 1, or renamed
/// with its version moved on. Both statements take the same binds.
pub(super) async fn write_group(
    tx: &mut Tx,
    kind: WriteKind,
    id: &str,
    dir: &str,
    g: &GroupFields,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = match kind {
        WriteKind::Create => {
            "INSERT INTO directory_groups (id, directory_id, display_name, display_name_lower, external_id, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)"
        }
        WriteKind::Change => {
            "UPDATE directory_groups SET display_name = $3, display_name_lower = $4, external_id = $5, \
             version = version + 1, updated_at = $6 WHERE id = $1 AND directory_id = $2"
        }
    };
    exec!(
        tx.exec(),
        sql,
        id,
        dir,
        &g.name,
        g.name.to_lowercase(),
        &g.external_id,
        now
    )?;
    Ok(())
}

pub(super) async fn delete_group(tx: &mut Tx, id: &str) -> Result<()> {
    exec!(tx.exec(), "DELETE FROM directory_groups WHERE id = $1", id)?;
    Ok(())
}

/// A group of a user, or a member of a group (`owner`: the user or group
/// it belongs to).
#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    pub owner: String,
    pub id: String,
    pub display: Option<String>,
    /// For members that are not users of the directory: what the IdP sent.
    pub ref_: Option<String>,
    pub kind: Option<String>,
    pub known: bool,
}

/// Groups of the given users in the users' own directory (for the
/// read-only `groups` attribute; another directory's group naming the same
/// id is not this user's group).
pub(super) async fn groups_of(ex: Exec<'_>, user_ids: &[String]) -> Result<Vec<MemberRow>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let (placeholders, args) = in_list(user_ids);
    let sql = format!(
        "SELECT m.member_id AS owner, g.id AS id, g.display_name AS display, NULL AS ref_, NULL AS kind, \
         TRUE AS known FROM directory_group_members m \
         JOIN directory_groups g ON g.id = m.group_id \
         JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id \
         WHERE m.member_id IN ({placeholders}) ORDER BY g.display_name_lower"
    );
    Ok(fetch_all_dyn(ex, &sql, &args).await?)
}

/// Members of the given groups.
pub(super) async fn members_of(ex: Exec<'_>, group_ids: &[String]) -> Result<Vec<MemberRow>> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let (placeholders, args) = in_list(group_ids);
    let sql = format!(
        "SELECT m.group_id AS owner, m.member_id AS id, \
         COALESCE(u.display_name, u.user_name, m.display) AS display, m.ref AS ref_, m.type AS kind, \
         (u.id IS NOT NULL) AS known \
         FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         LEFT JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id AND u.deleted_at IS NULL \
         WHERE m.group_id IN ({placeholders}) ORDER BY m.member_id"
    );
    Ok(fetch_all_dyn(ex, &sql, &args).await?)
}

/// Members written or deleted per statement (five binds a row: far under
/// either database's limit).
const MEMBER_CHUNK: usize = 200;

/// Adds the members not listed already, a statement per
/// [`MEMBER_CHUNK`] (a PATCH of 100 members is one round trip, not 100);
/// returns how many were new.
pub(super) async fn add_members(tx: &mut Tx, group_id: &str, members: &[MemberIn]) -> Result<u64> {
    let backend = tx.backend();
    let text = |v: &Option<String>| v.clone().map_or(Arg::Null, Arg::Text);
    let mut added = 0;
    for chunk in members.chunks(MEMBER_CHUNK) {
        let sql = format!(
            "INSERT INTO directory_group_members (group_id, member_id, display, ref, type) \
             VALUES {} ON CONFLICT DO NOTHING",
            backend.values_list(chunk.len(), 5)
        );
        let args: Vec<Arg> = chunk
            .iter()
            .flat_map(|m| {
                [
                    Arg::Text(group_id.to_owned()),
                    Arg::Text(m.id.clone()),
                    text(&m.display),
                    text(&m.ref_),
                    text(&m.kind),
                ]
            })
            .collect();
        added += exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(added)
}

/// Removes the listed members `ids`, a statement per [`MEMBER_CHUNK`];
/// returns how many were listed.
pub(super) async fn remove_members(tx: &mut Tx, group_id: &str, ids: &[String]) -> Result<u64> {
    let mut removed = 0;
    for chunk in ids.chunks(MEMBER_CHUNK) {
        let (placeholders, mut args) = in_list(chunk);
        args.push(Arg::Text(group_id.to_owned()));
        let sql = format!(
            "DELETE FROM directory_group_members WHERE group_id = ${} AND member_id IN ({placeholders})",
            args.len()
        );
        removed += exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(removed)
}

/// Removes every member of a group; returns how many there were.
pub(super) async fn clear_members(tx: &mut Tx, group_id: &str) -> Result<u64> {
    Ok(exec!(
        tx.exec(),
        "DELETE FROM directory_group_members WHERE group_id = $1",
        group_id
    )?)
}

// ---- console accounts of deactivated people ----

/// An active console account.
#[derive(sqlx::FromRow)]
pub(super) struct ConsoleAccount {
    pub id: String,
    pub role: String,
}

pub(super) async fn active_console_account(
    tx: &mut Tx,
    email: &str,
) -> Result<Option<ConsoleAccount>> {
    Ok(fetch_optional!(
        tx.exec(),
        ConsoleAccount,
        "SELECT id, role FROM console_users WHERE email = $1 AND status = 'active'",
        email
    )?)
}

pub(super) async fn active_owners(tx: &mut Tx) -> Result<i64> {
    Ok(scalar!(
        tx.exec(),
        i64,
        "SELECT COUNT(*) FROM console_users WHERE role = 'owner' AND status = 'active'"
    )?)
}

/// Disables console account `id` and ends its sessions; returns how many
/// sessions ended.
pub(super) async fn disable_console_account(
    tx: &mut Tx,
    id: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    exec!(
        tx.exec(),
        "UPDATE console_users SET status = 'disabled', updated_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(exec!(
        tx.exec(),
        "DELETE FROM sessions WHERE user_id = $1",
        id
    )?)
}
