//! Every SQL statement of the directories area (SQLite and PostgreSQL run
//! the same text): here directories, their tokens and the failed-request
//! log; in `views` the reads behind the console's Directory pages.

mod views;

pub(super) use views::{
    count_groups, count_members, count_users, find_manager, group_filter, group_page,
    group_summary, members, sqlite_search, user_detail, user_emails, user_filter, user_groups,
    user_page, GroupListRow, MemberRow, UserListRow, UserSearch,
};

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A directory with its counts.
#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_request_at: Option<DateTime<Utc>>,
    pub users: i64,
    pub active_users: i64,
    pub groups: i64,
    pub active_tokens: i64,
    pub errors_24h: i64,
}

const SUMMARY_SQL: &str = "SELECT d.id, d.name, d.created_at, d.last_request_at, \
    (SELECT COUNT(*) FROM directory_users u WHERE u.directory_id = d.id AND u.deleted_at IS NULL) AS users, \
    (SELECT COUNT(*) FROM directory_users u WHERE u.directory_id = d.id AND u.deleted_at IS NULL AND u.active = TRUE) AS active_users, \
    (SELECT COUNT(*) FROM directory_groups g WHERE g.directory_id = d.id) AS groups, \
    (SELECT COUNT(*) FROM scim_tokens t WHERE t.directory_id = d.id AND t.revoked_at IS NULL \
        AND (t.expires_at IS NULL OR t.expires_at > $1)) AS active_tokens, \
    (SELECT COUNT(*) FROM scim_requests r WHERE r.directory_id = d.id AND r.status >= 400 AND r.at > $2) AS errors_24h \
    FROM directories d";

/// Every directory with its counts, by name: tokens active at `now`,
/// failed requests since `errors_since`.
pub(super) async fn summaries(
    ex: Exec<'_>,
    now: DateTime<Utc>,
    errors_since: DateTime<Utc>,
) -> Result<Vec<SummaryRow>> {
    Ok(fetch_all!(
        ex,
        SummaryRow,
        &format!("{SUMMARY_SQL} ORDER BY d.name_lower"),
        now,
        errors_since
    )?)
}

/// One directory with its counts (as [`summaries`]).
pub(super) async fn summary(
    ex: Exec<'_>,
    now: DateTime<Utc>,
    errors_since: DateTime<Utc>,
    id: &str,
) -> Result<Option<SummaryRow>> {
    Ok(fetch_optional!(
        ex,
        SummaryRow,
        &format!("{SUMMARY_SQL} WHERE d.id = $3"),
        now,
        errors_since,
        id
    )?)
}

/// A token of a directory (never its hash).
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    pub id: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Every token of a directory, newest first.
pub(super) async fn tokens(ex: Exec<'_>, directory_id: &str) -> Result<Vec<TokenRow>> {
    Ok(fetch_all!(
        ex,
        TokenRow,
        "SELECT id, hint, created_at, expires_at, revoked_at, last_used_at FROM scim_tokens \
         WHERE directory_id = $1 ORDER BY created_at DESC",
        directory_id
    )?)
}

/// A failed SCIM request as logged.
#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

/// The latest 50 failed requests of a directory, newest first.
pub(super) async fn recent_errors(ex: Exec<'_>, directory_id: &str) -> Result<Vec<RequestRow>> {
    Ok(fetch_all!(
        ex,
        RequestRow,
        "SELECT at, method, path, status, scim_type, detail FROM scim_requests \
         WHERE directory_id = $1 AND status >= 400 ORDER BY id DESC LIMIT 50",
        directory_id
    )?)
}

/// Inserts directory `id` named `name` (also used for the directory an SSO
/// connection makes for its just-in-time people).
pub(crate) async fn insert_directory(
    tx: &mut Tx,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO directories (id, name, name_lower, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        id,
        name,
        name.to_lowercase(),
        now
    )?;
    Ok(())
}

/// The first directory (by id) whose lower-cased name is `name_lower`.
pub(super) async fn directory_id_by_name(ex: Exec<'_>, name_lower: &str) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(id) FROM directories WHERE name_lower = $1",
        name_lower
    )?)
}

/// The name of directory `id` (other areas name directories through it).
pub(crate) async fn directory_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT name FROM directories WHERE id = $1",
        id
    )?
    .map(|(name,)| name))
}

/// (id, name) of every directory, by name: the choices of a directory
/// picker.
pub(crate) async fn directory_choices(ex: Exec<'_>) -> Result<Vec<(String, String)>> {
    Ok(fetch_all!(
        ex,
        (String, String),
        "SELECT id, name FROM directories ORDER BY name_lower"
    )?)
}

/// Whether directory `id` exists.
pub(crate) async fn directory_exists(ex: Exec<'_>, id: &str) -> Result<bool> {
    let found = scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM directories WHERE id = $1",
        id
    )?;
    Ok(found != 0)
}

/// A token to insert (its hash, never its value).
pub(super) struct InsertToken<'a> {
    pub id: &'a str,
    pub directory_id: &'a str,
    pub token_hash: &'a str,
    pub hint: &'a str,
    pub created_at: DateTime<Utc>,
}

pub(super) async fn insert_token(tx: &mut Tx, t: &InsertToken<'_>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO scim_tokens (id, directory_id, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)",
        t.id,
        t.directory_id,
        t.token_hash,
        t.hint,
        t.created_at
    )?;
    Ok(())
}

/// Makes the tokens of a directory that work past `until` expire at
/// `until`; returns how many.
pub(super) async fn expire_tokens_at(
    tx: &mut Tx,
    directory_id: &str,
    until: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec!(
        tx.exec(),
        "UPDATE scim_tokens SET expires_at = $2 WHERE directory_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
        directory_id,
        until
    )?)
}

/// A token not yet revoked, with its directory's name.
#[derive(sqlx::FromRow)]
pub(super) struct ActiveToken {
    pub directory_id: String,
    pub hint: String,
    pub name: String,
}

pub(super) async fn active_token(ex: Exec<'_>, token_id: &str) -> Result<Option<ActiveToken>> {
    Ok(fetch_optional!(
        ex,
        ActiveToken,
        "SELECT t.directory_id, t.hint, d.name FROM scim_tokens t JOIN directories d ON d.id = t.directory_id \
         WHERE t.id = $1 AND t.revoked_at IS NULL",
        token_id
    )?)
}

pub(super) async fn revoke_token(tx: &mut Tx, token_id: &str, at: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE scim_tokens SET revoked_at = $2 WHERE id = $1",
        token_id,
        at
    )?;
    Ok(())
}

/// A token that works, with its directory's name.
#[derive(sqlx::FromRow)]
pub(super) struct UsableToken {
    pub id: String,
    pub directory_id: String,
    pub name: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The token whose hash is `token_hash`, if it works at `now`.
pub(super) async fn usable_token(
    ex: Exec<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UsableToken>> {
    Ok(fetch_optional!(
        ex,
        UsableToken,
        "SELECT t.id, t.directory_id, d.name, t.last_used_at FROM scim_tokens t \
         JOIN directories d ON d.id = t.directory_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        token_hash,
        now
    )?)
}

pub(super) async fn note_token_use(ex: Exec<'_>, token_id: &str, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE scim_tokens SET last_used_at = $2 WHERE id = $1",
        token_id,
        at
    )?;
    Ok(())
}

pub(super) async fn note_request(
    ex: Exec<'_>,
    directory_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE directories SET last_request_at = $2 WHERE id = $1",
        directory_id,
        at
    )?;
    Ok(())
}

/// A failed request to log.
pub(super) struct FailedRequest<'a> {
    pub directory_id: &'a str,
    pub at: DateTime<Utc>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: i64,
    pub scim_type: Option<&'a str>,
    pub detail: &'a str,
}

pub(super) async fn insert_failed_request(ex: Exec<'_>, r: &FailedRequest<'_>) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO scim_requests (directory_id, at, method, path, status, scim_type, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        r.directory_id,
        r.at,
        r.method,
        r.path,
        r.status,
        r.scim_type,
        r.detail
    )?;
    Ok(())
}

/// Deletes the logged requests of a directory but the latest `keep`.
pub(super) async fn trim_failed_requests(
    ex: Exec<'_>,
    directory_id: &str,
    keep: i64,
) -> Result<()> {
    exec!(
        ex,
        "DELETE FROM scim_requests WHERE directory_id = $1 AND id < \
         (SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM scim_requests WHERE directory_id = $1 \
          ORDER BY id DESC LIMIT $2) AS kept)",
        directory_id,
        keep
    )?;
    Ok(())
}
