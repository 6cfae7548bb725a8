//! The SQL of sign-ins: sign-ins in flight (`sso_requests`), refusals
//! counted per IP, test results, the SAML replay cache, and the console
//! users and identity links a console sign-in reads and writes.

use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::sso::model::{InFlight, LinkedUser};
use crate::{exec, fetch_optional};
use chrono::{DateTime, Utc};
use portcullis_types::Role;

/// A row of `sso_requests` taken for use.
#[derive(sqlx::FromRow)]
struct RequestRow {
    purpose: String,
    browser_hash: String,
    nonce: Option<String>,
    pkce_verifier: Option<String>,
    next_path: String,
    started_by: Option<String>,
    outcome: Option<String>,
}

impl TryFrom<RequestRow> for InFlight {
    type Error = Error;
    fn try_from(r: RequestRow) -> Result<Self> {
        Ok(InFlight {
            purpose: r.purpose.parse().map_err(Error::Internal)?,
            browser_hash: r.browser_hash,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            next_path: r.next_path,
            started_by: r.started_by,
            outcome: r.outcome,
        })
    }
}

/// A sign-in in flight to store.
pub(in crate::sso) struct NewRequest<'a> {
    pub id_hash: &'a str,
    pub connection_id: &'a str,
    pub purpose: &'a str,
    pub browser_hash: &'a str,
    pub nonce: Option<&'a str>,
    /// Sealed.
    pub pkce_verifier: Option<&'a str>,
    pub next_path: &'a str,
    pub started_by: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub(in crate::sso) async fn insert_request(ex: Exec<'_>, r: &NewRequest<'_>) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO sso_requests (id_hash, connection_id, purpose, browser_hash, nonce, pkce_verifier, \
         next_path, started_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        r.id_hash,
        r.connection_id,
        r.purpose,
        r.browser_hash,
        r.nonce,
        r.pkce_verifier,
        r.next_path,
        r.started_by,
        r.created_at,
        r.expires_at
    )?;
    Ok(())
}

/// How [`request`] finds a sign-in in flight.
pub(in crate::sso) enum Lookup {
    /// Uses it up: it must be unused and unexpired.
    Take,
    /// Only reads it: it must be unused, unanswered and unexpired (the
    /// IdP's answer to it has just arrived).
    AwaitingAnswer,
}

/// The sign-in `id_hash` of connection `connection_id` at `now`, found as
/// `how` says.
pub(in crate::sso) async fn request(
    ex: Exec<'_>,
    how: Lookup,
    id_hash: &str,
    connection_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<InFlight>> {
    let sql = match how {
        Lookup::Take => {
            "UPDATE sso_requests SET used_at = $3 \
             WHERE id_hash = $1 AND connection_id = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING purpose, browser_hash, nonce, pkce_verifier, next_path, started_by, outcome"
        }
        Lookup::AwaitingAnswer => {
            "SELECT purpose, browser_hash, nonce, pkce_verifier, next_path, started_by, outcome \
             FROM sso_requests WHERE id_hash = $1 AND connection_id = $2 AND used_at IS NULL \
             AND outcome IS NULL AND expires_at > $3"
        }
    };
    fetch_optional!(ex, RequestRow, sql, id_hash, connection_id, now)?
        .map(InFlight::try_from)
        .transpose()
}

/// Parks `outcome` on the sign-in `id_hash` of connection `connection_id`
/// if it is still unanswered and unused; false otherwise.
pub(in crate::sso) async fn park_outcome(
    ex: Exec<'_>,
    id_hash: &str,
    connection_id: &str,
    outcome: &str,
) -> Result<bool> {
    let parked = exec!(
        ex,
        "UPDATE sso_requests SET outcome = $3 WHERE id_hash = $1 AND connection_id = $2 \
         AND outcome IS NULL AND used_at IS NULL",
        id_hash,
        connection_id,
        outcome
    )?;
    Ok(parked != 0)
}

/// Parks `outcome` on the sign-in `id_hash` (one just stored).
pub(in crate::sso) async fn set_outcome(ex: Exec<'_>, id_hash: &str, outcome: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE sso_requests SET outcome = $2 WHERE id_hash = $1",
        id_hash,
        outcome
    )?;
    Ok(())
}

/// Remembers SAML assertion `assertion_id` of connection `connection_id`
/// until `expires_at`; false when it was remembered already (a replay).
pub(in crate::sso) async fn first_assertion(
    ex: Exec<'_>,
    connection_id: &str,
    assertion_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let fresh = exec!(
        ex,
        "INSERT INTO sso_replay (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        connection_id,
        assertion_id,
        expires_at
    )?;
    Ok(fresh != 0)
}

/// Counts a refused sign-in against `key` at `at`.
pub(in crate::sso) async fn note_failure(ex: Exec<'_>, key: &str, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO signin_failures (key, at) VALUES ($1, $2)",
        key,
        at
    )?;
    Ok(())
}

pub(in crate::sso) async fn insert_test(
    ex: Exec<'_>,
    id: &str,
    connection_id: &str,
    started_by: &str,
    result: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO sso_tests (id, connection_id, started_by, result, created_at) VALUES ($1, $2, $3, $4, $5)",
        id,
        connection_id,
        started_by,
        result,
        at
    )?;
    Ok(())
}

/// (result JSON, who started it) of test run `id`.
pub(in crate::sso) async fn test_result(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<(String, String)>> {
    Ok(fetch_optional!(
        ex,
        (String, String),
        "SELECT result, started_by FROM sso_tests WHERE id = $1",
        id
    )?)
}

/// What [`delete_expired`] deletes.
pub(in crate::sso) enum Expiring {
    /// Sign-ins in flight that expired.
    Requests,
    /// SAML assertion ids that expired.
    Replay,
    /// Test results made before the time given.
    Tests,
}

/// Deletes the `what` that expired (or were made) before `before`; how
/// many.
pub(in crate::sso) async fn delete_expired(
    ex: Exec<'_>,
    what: Expiring,
    before: DateTime<Utc>,
) -> Result<u64> {
    let sql = match what {
        Expiring::Requests => "DELETE FROM sso_requests WHERE expires_at < $1",
        Expiring::Replay => "DELETE FROM sso_replay WHERE expires_at < $1",
        Expiring::Tests => "DELETE FROM sso_tests WHERE created_at < $1",
    };
    Ok(exec!(ex, sql, before)?)
}

/// A console user as a sign-in sees it.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    role: String,
    role_source: String,
    status: String,
}

impl TryFrom<UserRow> for LinkedUser {
    type Error = Error;
    fn try_from(u: UserRow) -> Result<Self> {
        Ok(LinkedUser {
            role: u.role.parse().map_err(Error::Internal)?,
            role_source: u.role_source.parse().map_err(Error::Internal)?,
            status: u.status.parse().map_err(Error::Internal)?,
            id: u.id,
            email: u.email,
        })
    }
}

const SELECT_U: &str = "SELECT u.id, u.email, u.role, u.role_source, u.status FROM console_users u";

/// The console user subject `subject` of connection `connection_id` is
/// linked to.
pub(in crate::sso) async fn user_by_identity(
    ex: Exec<'_>,
    connection_id: &str,
    subject: &str,
) -> Result<Option<LinkedUser>> {
    fetch_optional!(
        ex,
        UserRow,
        &format!("{SELECT_U} JOIN sso_identities i ON i.user_id = u.id WHERE i.connection_id = $1 AND i.subject = $2"),
        connection_id,
        subject
    )?
    .map(LinkedUser::try_from)
    .transpose()
}

/// The console user with the (normalized) email `email`.
pub(in crate::sso) async fn user_by_email(ex: Exec<'_>, email: &str) -> Result<Option<LinkedUser>> {
    fetch_optional!(
        ex,
        UserRow,
        &format!("{SELECT_U} WHERE u.email = $1"),
        email
    )?
    .map(LinkedUser::try_from)
    .transpose()
}

pub(in crate::sso) async fn set_user_role(
    ex: Exec<'_>,
    id: &str,
    role: Role,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET role = $2, updated_at = $3 WHERE id = $1",
        id,
        role.as_str(),
        at
    )?;
    Ok(())
}

/// Ends every console session of user `user_id`.
pub(in crate::sso) async fn end_sessions(ex: Exec<'_>, user_id: &str) -> Result<()> {
    exec!(ex, "DELETE FROM sessions WHERE user_id = $1", user_id)?;
    Ok(())
}

/// Makes invited user `id` active.
pub(in crate::sso) async fn activate_user(ex: Exec<'_>, id: &str, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET status = 'active', updated_at = $2 WHERE id = $1",
        id,
        at
    )?;
    Ok(())
}

/// Creates an active console user whose role follows SSO.
pub(in crate::sso) async fn insert_sso_user(
    ex: Exec<'_>,
    id: &str,
    email: &str,
    display_name: &str,
    role: Role,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at, role_source) \
         VALUES ($1, $2, $3, $4, 'active', $5, $5, 'sso')",
        id,
        email,
        display_name,
        role.as_str(),
        at
    )?;
    Ok(())
}

/// Links subject `subject` of connection `connection_id` to console user
/// `user_id`, signed in at `at` (the link is made at its first sign-in).
pub(in crate::sso) async fn link_identity(
    tx: &mut Tx,
    connection_id: &str,
    subject: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let updated = exec!(
        tx.exec(),
        "UPDATE sso_identities SET last_signin_at = $3, user_id = $4 WHERE connection_id = $1 AND subject = $2",
        connection_id,
        subject,
        at,
        user_id
    )?;
    if updated == 0 {
        exec!(
            tx.exec(),
            "INSERT INTO sso_identities (connection_id, subject, user_id, created_at, last_signin_at) \
             VALUES ($1, $2, $3, $4, $4)",
            connection_id,
            subject,
            user_id,
            at
        )?;
    }
    Ok(())
}

pub(in crate::sso) async fn note_user_signin(
    ex: Exec<'_>,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    exec!(
        ex,
        "UPDATE console_users SET last_signin_at = $2 WHERE id = $1",
        user_id,
        at
    )?;
    Ok(())
}

/// The display name of console user `id`.
pub(in crate::sso) async fn display_name(ex: Exec<'_>, id: &str) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT display_name FROM console_users WHERE id = $1",
        id
    )?
    .map(|d| d.0))
}

/// (email, role) of console user `id`.
pub(in crate::sso) async fn email_and_role(
    ex: Exec<'_>,
    id: &str,
) -> Result<Option<(String, Role)>> {
    fetch_optional!(
        ex,
        (String, String),
        "SELECT email, role FROM console_users WHERE id = $1",
        id
    )?
    .map(|(email, role)| Ok((email, role.parse().map_err(Error::Internal)?)))
    .transpose()
}
