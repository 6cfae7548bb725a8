//! The SQL behind the console's Directory pages: people and groups lists
//! and their detail views. The lists put together only whitelisted
//! fragments; every value is bound.

use crate::audit::like_escape;
use crate::db::{count_dyn, fetch_page_dyn, AnyRow, Arg, Exec};
use crate::error::Result;
use crate::{fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};
use portcullis_types::{DirectoryGroupSort, DirectoryUserSort, DirectoryUserStatus, SortDir};

/// The `WHERE` clause of a list (starting with a space) and its binds.
pub(in crate::directory) struct Filter {
    sql: String,
    args: Vec<Arg>,
}

fn sql_dir(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    }
}

/// Appends the search condition of the directory lists: a case-insensitive
/// substring of any of `columns` (lower-cased expressions), or an exact id or
/// externalId (`alias.id`, `alias.external_id`).
fn push_search(
    filter: &mut String,
    args: &mut Vec<Arg>,
    search: &str,
    alias: &str,
    columns: &[&str],
) {
    let search = search.trim();
    if search.is_empty() {
        return;
    }
    args.push(Arg::Text(format!(
        "%{}%",
        like_escape(&search.to_lowercase())
    )));
    let p = args.len();
    args.push(Arg::Text(search.to_owned()));
    let e = args.len();
    let likes: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} LIKE ${p} ESCAPE '\\'"))
        .collect();
    filter.push_str(&format!(
        " AND ({} OR {alias}.id = ${e} OR {alias}.external_id = ${e})",
        likes.join(" OR ")
    ));
}

/// Starts a filter with `base` and, unless `directory_id` is blank, the
/// directory condition on `column`.
fn scoped(base: &str, column: &str, directory_id: &str) -> Filter {
    let mut f = Filter {
        sql: base.to_owned(),
        args: Vec::new(),
    };
    let directory_id = directory_id.trim();
    if !directory_id.is_empty() {
        f.args.push(Arg::Text(directory_id.to_owned()));
        f.sql
            .push_str(&format!(" AND {column} = ${}", f.args.len()));
    }
    f
}

/// How many rows of `from` (a table and its alias) pass `f`.
async fn count(ex: Exec<'_>, from: &str, f: &Filter) -> Result<i64> {
    Ok(count_dyn(
        ex,
        &format!("SELECT COUNT(*) FROM {from}{}", f.sql),
        &f.args,
    )
    .await?)
}

/// One page of `select` (up to its `FROM … JOIN …`) under `f`, in `order`.
async fn page<T: AnyRow>(
    ex: Exec<'_>,
    select: &str,
    f: Filter,
    order: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<T>> {
    let head = format!("{select}{}", f.sql);
    Ok(fetch_page_dyn(ex, &head, f.args, order, limit, offset).await?)
}

/// A row of the users list.
#[derive(sqlx::FromRow)]
pub(in crate::directory) struct UserListRow {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How the users list's search finds its people.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in crate::directory) enum UserSearch {
    /// Every person's names and email read with `LIKE` (short or common
    /// text, and PostgreSQL, whose trigram indexes serve the `LIKE`s).
    Scan,
    /// The people SQLite's trigram index finds for the text (fewer than
    /// [`INDEXED_MATCHES`] of them), looked up by id.
    Indexed,
}

/// A search the SQLite index finds fewer people for is answered from the
/// index; one matching more (a common part of every email, say) reads the
/// people in list order instead, which finds a page sooner than sorting
/// every match.
pub(in crate::directory) const INDEXED_MATCHES: i64 = 1000;

/// The FTS5 query of `text`: one phrase (double quotes doubled), which the
/// trigram tokenizer matches as a substring of one column, case folded.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// How SQLite's users search finds the people matching `search`
/// (trimmed): from the trigram index when it is at least three characters
/// (the index holds trigrams) and fewer than [`INDEXED_MATCHES`] people
/// match it.
pub(in crate::directory) async fn sqlite_search(ex: Exec<'_>, search: &str) -> Result<UserSearch> {
    if search.chars().count() < 3 {
        return Ok(UserSearch::Scan);
    }
    let found = scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM (SELECT rowid FROM directory_users_search \
         WHERE directory_users_search MATCH $1 LIMIT $2) AS found",
        phrase(search),
        INDEXED_MATCHES
    )?;
    Ok(if found < INDEXED_MATCHES {
        UserSearch::Indexed
    } else {
        UserSearch::Scan
    })
}

/// The users list's filter: not deleted, of `directory_id` (unless blank),
/// with `status`, matching `search` (found as `how` says).
pub(in crate::directory) fn user_filter(
    directory_id: &str,
    status: Option<DirectoryUserStatus>,
    search: &str,
    how: UserSearch,
) -> Filter {
    let mut f = scoped(
        " WHERE u.deleted_at IS NULL",
        "u.directory_id",
        directory_id,
    );
    match status {
        Some(DirectoryUserStatus::Active) => f.sql.push_str(" AND u.active = TRUE"),
        Some(DirectoryUserStatus::Inactive) => f.sql.push_str(" AND u.active = FALSE"),
        None => {}
    }
    let search = search.trim();
    if how == UserSearch::Indexed && !search.is_empty() {
        // The same people as the `LIKE`s below: a substring of a name or
        // the email from the index, an exact externalId or id.
        f.args.push(Arg::Text(phrase(search)));
        let p = f.args.len();
        f.args.push(Arg::Text(search.to_owned()));
        let e = f.args.len();
        f.sql.push_str(&format!(
            " AND u.id IN (SELECT k.user_id FROM directory_users_search s \
             JOIN directory_users_search_keys k ON k.key = s.rowid \
             WHERE directory_users_search MATCH ${p} \
             UNION ALL SELECT x.id FROM directory_users x WHERE x.external_id = ${e} AND x.deleted_at IS NULL \
             UNION ALL SELECT ${e})"
        ));
        return f;
    }
    push_search(
        &mut f.sql,
        &mut f.args,
        search,
        "u",
        &["u.user_name_lower", "LOWER(u.display_name)", "u.email"],
    );
    f
}

pub(in crate::directory) async fn count_users(ex: Exec<'_>, f: &Filter) -> Result<i64> {
    count(ex, "directory_users u", f).await
}

/// One page of the users that pass `f`, sorted by `sort` then id.
pub(in crate::directory) async fn user_page(
    ex: Exec<'_>,
    f: Filter,
    sort: DirectoryUserSort,
    dir: SortDir,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserListRow>> {
    let key = match sort {
        DirectoryUserSort::UserName => "u.user_name_lower",
        DirectoryUserSort::DisplayName => "COALESCE(LOWER(u.display_name), u.user_name_lower)",
        DirectoryUserSort::Email => "COALESCE(u.email, '')",
        DirectoryUserSort::Updated => "u.updated_at",
        DirectoryUserSort::Created => "u.created_at",
    };
    let dir = sql_dir(dir);
    page(
        ex,
        "SELECT u.id, u.directory_id, d.name AS directory_name, u.user_name, u.display_name, \
         u.email, u.active, u.created_at, u.updated_at \
         FROM directory_users u JOIN directories d ON d.id = u.directory_id",
        f,
        &format!("{key} {dir}, u.id {dir}"),
        limit,
        offset,
    )
    .await
}

/// A user as its detail page shows it (deleted users too).
#[derive(sqlx::FromRow)]
pub(in crate::directory) struct UserDetailRow {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub resource: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub(in crate::directory) async fn user_detail(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<UserDetailRow>> {
    Ok(fetch_optional!(
        ex,
        UserDetailRow,
        "SELECT u.id, u.directory_id, d.name AS directory_name, u.user_name, u.external_id, \
         u.display_name, u.given_name, u.family_name, u.active, u.resource, u.created_at, \
         u.updated_at, u.deleted_at \
         FROM directory_users u JOIN directories d ON d.id = u.directory_id WHERE u.id = $1",
        id
    )?)
}

/// A user's emails `(value, type, primary)`, primary first.
pub(in crate::directory) async fn user_emails(
    ex: Exec<'_>,
    user_id: &str,
) -> Result<Vec<(String, Option<String>, bool)>> {
    Ok(fetch_all!(
        ex,
        (String, Option<String>, bool),
        "SELECT value, type, primary_ FROM directory_user_emails WHERE user_id = $1 \
         ORDER BY primary_ DESC, value",
        user_id
    )?)
}

/// The groups `(id, display name)` of directory `directory_id` that list
/// `user_id`, by name.
pub(in crate::directory) async fn user_groups(
    ex: Exec<'_>,
    user_id: &str,
    directory_id: &str,
) -> Result<Vec<(String, String)>> {
    Ok(fetch_all!(
        ex,
        (String, String),
        "SELECT g.id, g.display_name FROM directory_group_members m \
         JOIN directory_groups g ON g.id = m.group_id \
         WHERE m.member_id = $1 AND g.directory_id = $2 ORDER BY g.display_name_lower, g.id",
        user_id,
        directory_id
    )?)
}

/// The (not deleted) user `(id, userName, displayName)` of a directory
/// that a manager `value` names: by id, externalId or userName.
pub(in crate::directory) async fn find_manager(
    ex: Exec<'_>,
    directory_id: &str,
    value: &str,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(fetch_optional!(
        ex,
        (String, String, Option<String>),
        "SELECT id, user_name, display_name FROM directory_users \
         WHERE directory_id = $1 AND deleted_at IS NULL \
         AND (id = $2 OR external_id = $2 OR user_name_lower = $3) \
         ORDER BY id LIMIT 1",
        directory_id,
        value,
        value.to_lowercase()
    )?)
}

/// A row of the groups list (`members`: provisioned members).
#[derive(sqlx::FromRow)]
pub(in crate::directory) struct GroupListRow {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The groups list's filter: of `directory_id` (unless blank), matching
/// `search`.
pub(in crate::directory) fn group_filter(directory_id: &str, search: &str) -> Filter {
    let mut f = scoped(" WHERE TRUE", "g.directory_id", directory_id);
    push_search(
        &mut f.sql,
        &mut f.args,
        search,
        "g",
        &["g.display_name_lower"],
    );
    f
}

pub(in crate::directory) async fn count_groups(ex: Exec<'_>, f: &Filter) -> Result<i64> {
    count(ex, "directory_groups g", f).await
}

/// One page of the groups that pass `f`, sorted by `sort` then id.
pub(in crate::directory) async fn group_page(
    ex: Exec<'_>,
    f: Filter,
    sort: DirectoryGroupSort,
    dir: SortDir,
    limit: i64,
    offset: i64,
) -> Result<Vec<GroupListRow>> {
    let key = match sort {
        DirectoryGroupSort::Name => "g.display_name_lower",
        DirectoryGroupSort::Members => "g.provisioned_members",
        DirectoryGroupSort::Updated => "g.updated_at",
    };
    let dir = sql_dir(dir);
    // Member counts are kept on the group (migration 0023's triggers).
    page(
        ex,
        "SELECT g.id, g.directory_id, d.name AS directory_name, g.display_name, g.external_id, \
         g.provisioned_members AS members, g.created_at, g.updated_at \
         FROM directory_groups g JOIN directories d ON d.id = g.directory_id",
        f,
        &format!("{key} {dir}, g.id {dir}"),
        limit,
        offset,
    )
    .await
}

/// Group `id` with its count of provisioned members.
pub(in crate::directory) async fn group_summary(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<GroupListRow>> {
    Ok(fetch_optional!(
        ex,
        GroupListRow,
        "SELECT g.id, g.directory_id, d.name AS directory_name, g.display_name, g.external_id, \
         g.provisioned_members AS members, g.created_at, g.updated_at \
         FROM directory_groups g JOIN directories d ON d.id = g.directory_id WHERE g.id = $1",
        id
    )?)
}

/// How many members group `id` lists (provisioned or not).
pub(in crate::directory) async fn count_members(ex: Exec<'_>, group_id: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM directory_group_members WHERE group_id = $1",
        group_id
    )?)
}

/// A member of a group: a user of the group's directory, or an id the IdP
/// listed (`provisioned` false, user columns empty).
#[derive(sqlx::FromRow)]
pub(in crate::directory) struct MemberRow {
    pub id: String,
    pub provisioned: bool,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
}

/// One page of a group's members: provisioned users first, by userName,
/// then the other ids.
pub(in crate::directory) async fn members(
    ex: Exec<'_>,
    group_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<MemberRow>> {
    Ok(fetch_all!(
        ex,
        MemberRow,
        "SELECT m.member_id AS id, (u.id IS NOT NULL) AS provisioned, u.user_name, \
         COALESCE(u.display_name, m.display) AS display_name, u.email, u.active \
         FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
         LEFT JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id \
             AND u.deleted_at IS NULL \
         WHERE m.group_id = $1 \
         ORDER BY (u.id IS NULL), u.user_name_lower, m.member_id LIMIT $2 OFFSET $3",
        group_id,
        limit,
        offset
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Search is one bound LIKE pattern (escaped) plus an exact id match; no
    /// user text reaches the SQL.
    #[test]
    fn directory_search_binds_escaped_pattern() {
        let mut filter = String::new();
        let mut args = vec![Arg::Text("dir_1".into())];
        push_search(
            &mut filter,
            &mut args,
            " 50%_Off' OR 1=1 ",
            "u",
            &["u.user_name_lower", "u.email"],
        );
        assert_eq!(
            filter,
            " AND (u.user_name_lower LIKE $2 ESCAPE '\\' OR u.email LIKE $2 ESCAPE '\\' OR u.id = $3 OR u.external_id = $3)"
        );
        assert_eq!(args[1], Arg::Text("%50\\%\\_off' or 1=1%".into()));
        assert_eq!(args[2], Arg::Text("50%_Off' OR 1=1".into()));
        let mut empty = String::new();
        push_search(&mut empty, &mut args, "  ", "u", &["u.email"]);
        assert!(empty.is_empty());
        assert_eq!(args.len(), 3);
    }
}
