//! Every SQL statement of the console area (SQLite and PostgreSQL run the
//! same text): console users, one-time links, sessions and the sign-in
//! failures that throttling counts.

use crate::db::Exec;
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A console user's row as stored.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub password_hash: Option<String>,
}

const SELECT_USER: &str =
    "SELECT id, email, display_name, role, status, password_hash FROM console_users";

/// The console user with (normalised) email `email`.
pub(super) async fn user_by_email(ex: Exec<'_>, email: &str) -> Result<Option<UserRow>> {
    Ok(fetch_optional!(
        ex,
        UserRow,
        &format!("{SELECT_USER} WHERE email = $1"),
        email
    )?)
}

/// The console user `id`.
pub(super) async fn user_by_id(ex: Exec<'_>, id: &str) -> Result<Option<UserRow>> {
    Ok(fetch_optional!(
        ex,
        UserRow,
        &format!("{SELECT_USER} WHERE id = $1"),
        id
    )?)
}

/// How many owners are active.
pub(super) async fn active_owner_count(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM console_users WHERE role = 'owner' AND status = 'active'"
    )?)
}

/// The first (by email) owner still invited, if any.
pub(super) async fn first_invited_owner_email(ex: Exec<'_>) -> Result<Option<String>> {
    Ok(scalar!(
        ex,
        Option<String>,
        "SELECT MIN(email) FROM console_users WHERE role = 'owner' AND status = 'invited'"
    )?)
}

/// Makes user `id` an invited owner again (a re-issued set-up link).
pub(super) async fn reinvite_as_owner(ex: Exec<'_>, id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET role = 'owner', status = 'invited', updated_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(())
}

/// Inserts an invited owner.
pub(super) async fn insert_owner(
    ex: Exec<'_>,
    id: &str,
    email: &str,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'owner', 'invited', $4, $4)",
        id,
        email,
        display_name,
        now
    )?;
    Ok(())
}

/// Inserts an invited console user with role `role`.
pub(super) async fn insert_invited(
    ex: Exec<'_>,
    id: &str,
    email: &str,
    display_name: &str,
    role: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'invited', $5, $5)",
        id,
        email,
        display_name,
        role,
        now
    )?;
    Ok(())
}

/// Activates user `id` with its password and display name, signed in at `now`.
pub(super) async fn activate(
    ex: Exec<'_>,
    id: &str,
    password_hash: &str,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET status = 'active', password_hash = $2, display_name = $3, \
         updated_at = $4, last_signin_at = $4 WHERE id = $1",
        id,
        password_hash,
        display_name,
        now
    )?;
    Ok(())
}

/// Notes that user `id` signed in at `now`.
pub(super) async fn note_signin(ex: Exec<'_>, id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET last_signin_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(())
}

pub(super) async fn set_role(ex: Exec<'_>, id: &str, role: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET role = $2, updated_at = $3 WHERE id = $1",
        id,
        role,
        now
    )?;
    Ok(())
}

pub(super) async fn disable(ex: Exec<'_>, id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET status = 'disabled', updated_at = $2 WHERE id = $1",
        id,
        now
    )?;
    Ok(())
}

pub(super) async fn set_status(
    ex: Exec<'_>,
    id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET status = $2, updated_at = $3 WHERE id = $1",
        id,
        status,
        now
    )?;
    Ok(())
}

/// A line of the Admins page as stored.
#[derive(sqlx::FromRow)]
pub(super) struct AdminRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_signin_at: Option<DateTime<Utc>>,
    pub active_sessions: i64,
}

/// Console users whose email or lower-cased name is `LIKE` the pattern `$1`.
const ADMIN_FILTER: &str =
    " WHERE (email LIKE $1 ESCAPE '\\' OR LOWER(display_name) LIKE $1 ESCAPE '\\')";

/// How many console users match the `LIKE` pattern `pattern`.
pub(super) async fn count_admins(ex: Exec<'_>, pattern: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        &format!("SELECT COUNT(*) FROM console_users{ADMIN_FILTER}"),
        pattern
    )?)
}

/// A page (by email) of the console users matching `pattern`, with their
/// sessions live at `now`.
pub(super) async fn list_admins(
    ex: Exec<'_>,
    pattern: &str,
    limit: i64,
    offset: i64,
    now: DateTime<Utc>,
) -> Result<Vec<AdminRow>> {
    Ok(fetch_all!(
        ex,
        AdminRow,
        &format!(
            "SELECT id, email, display_name, role, status, created_at, last_signin_at, \
             (SELECT COUNT(*) FROM sessions s WHERE s.user_id = console_users.id AND s.expires_at > $4) AS active_sessions \
             FROM console_users{ADMIN_FILTER} ORDER BY email LIMIT $2 OFFSET $3"
        ),
        pattern,
        limit,
        offset,
        now
    )?)
}

/// Inserts a one-time link (by the hash of its token).
pub(super) async fn insert_link(
    ex: Exec<'_>,
    token_hash: &str,
    user_id: &str,
    purpose: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        token_hash,
        user_id,
        purpose,
        now,
        expires_at
    )?;
    Ok(())
}

/// Deletes every one-time link of user `user_id`.
pub(super) async fn delete_links_of(ex: Exec<'_>, user_id: &str) -> Result<()> {
    exec!(
        ex,
        "DELETE FROM one_time_tokens WHERE user_id = $1",
        user_id
    )?;
    Ok(())
}

/// What the set-up page shows of a link.
#[derive(sqlx::FromRow)]
pub(super) struct LinkRow {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub purpose: String,
}

/// The unused link hashing to `token_hash`, live at `now`, of an invited user.
pub(super) async fn link_info(
    ex: Exec<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<LinkRow>> {
    Ok(fetch_optional!(
        ex,
        LinkRow,
        "SELECT u.email, u.display_name, u.role, t.purpose FROM one_time_tokens t \
         JOIN console_users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.status = 'invited'",
        token_hash,
        now
    )?)
}

/// Whom and what a live link is for.
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    pub user_id: String,
    pub purpose: String,
}

/// The unused link hashing to `token_hash`, live at `now`.
pub(super) async fn live_link(
    ex: Exec<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<TokenRow>> {
    Ok(fetch_optional!(
        ex,
        TokenRow,
        "SELECT user_id, purpose FROM one_time_tokens \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        token_hash,
        now
    )?)
}

/// Marks the link hashing to `token_hash` used at `now`.
pub(super) async fn use_link(ex: Exec<'_>, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE one_time_tokens SET used_at = $2 WHERE token_hash = $1",
        token_hash,
        now
    )?;
    Ok(())
}

/// A session to insert.
pub(super) struct NewSessionRow<'a> {
    pub id_hash: &'a str,
    pub user_id: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<String>,
}

pub(super) async fn insert_session(ex: Exec<'_>, s: &NewSessionRow<'_>) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, source_ip, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
        s.id_hash,
        s.user_id,
        s.now,
        s.expires_at,
        s.source_ip,
        &s.user_agent
    )?;
    Ok(())
}

/// A session with its user, as stored.
#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    pub id_hash: String,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub status: String,
}

/// The session whose id hashes to `id_hash`, with its user.
pub(super) async fn session(ex: Exec<'_>, id_hash: &str) -> Result<Option<SessionRow>> {
    Ok(fetch_optional!(
        ex,
        SessionRow,
        "SELECT s.id_hash, s.last_seen_at, s.expires_at, s.user_id, u.email, u.role, u.status \
         FROM sessions s JOIN console_users u ON u.id = s.user_id WHERE s.id_hash = $1",
        id_hash
    )?)
}

/// Deletes the session whose id hashes to `id_hash`; how many rows went (0 or 1).
pub(super) async fn delete_session(ex: Exec<'_>, id_hash: &str) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM sessions WHERE id_hash = $1",
        id_hash
    )?)
}

pub(super) async fn touch_session(ex: Exec<'_>, id_hash: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
        id_hash,
        now
    )?;
    Ok(())
}

/// Deletes every session of user `user_id`; how many there were.
pub(super) async fn delete_sessions_of(ex: Exec<'_>, user_id: &str) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM sessions WHERE user_id = $1",
        user_id
    )?)
}

/// Counts a sign-in attempt against `key`; the record's id.
pub(super) async fn insert_failure(ex: Exec<'_>, key: &str, at: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "INSERT INTO signin_failures (key, at) VALUES ($1, $2) RETURNING id",
        key,
        at
    )?)
}

/// Withdraws the counted attempt `id`.
pub(super) async fn delete_failure(ex: Exec<'_>, id: i64) -> Result<()> {
    exec!(ex, "DELETE FROM signin_failures WHERE id = $1", id)?;
    Ok(())
}

/// Withdraws every counted attempt against `key`.
pub(super) async fn delete_failures_of(ex: Exec<'_>, key: &str) -> Result<()> {
    exec!(ex, "DELETE FROM signin_failures WHERE key = $1", key)?;
    Ok(())
}

/// Attempts counted against `key` after `since`.
pub(super) async fn count_failures(ex: Exec<'_>, key: &str, since: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM signin_failures WHERE key = $1 AND at > $2",
        key,
        since
    )?)
}

/// Deletes sessions expired at `now` or idle since `idle_cutoff`.
pub(super) async fn purge_sessions(
    ex: Exec<'_>,
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
        now,
        idle_cutoff
    )?)
}

/// Deletes attempts counted at or before `before`.
pub(super) async fn purge_failures(ex: Exec<'_>, before: DateTime<Utc>) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM signin_failures WHERE at <= $1",
        before
    )?)
}

/// Deletes used links, and links expired at or before `before`.
pub(super) async fn purge_links(ex: Exec<'_>, before: DateTime<Utc>) -> Result<u64> {
    Ok(exec!(
        ex,
        "DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at <= $1",
        before
    )?)
}
