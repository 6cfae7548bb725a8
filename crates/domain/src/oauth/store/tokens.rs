//! Grants, authorization codes, refresh tokens (one by one and in
//! batches) and the ids of client assertions already used.

use crate::db::{exec_dyn, fetch_all_dyn, placeholders, Arg, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_optional};
use chrono::{DateTime, Utc};

/// A grant to insert.
pub struct NewGrant<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub person_id: &'a str,
    pub server_id: &'a str,
    pub resource: &'a str,
    pub scope: &'a str,
}

pub async fn insert_grant(tx: &mut Tx, g: &NewGrant<'_>, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_grants (id, client_id, person_id, server_id, resource, scope, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        g.id,
        g.client_id,
        g.person_id,
        g.server_id,
        g.resource,
        g.scope,
        now
    )?;
    Ok(())
}

pub async fn insert_code(
    tx: &mut Tx,
    code_hash: &str,
    grant_id: &str,
    redirect_uri: &str,
    code_challenge: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        code_hash,
        grant_id,
        redirect_uri,
        code_challenge,
        now,
        expires
    )?;
    Ok(())
}

/// A grant as the token endpoint needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub person_id: String,
    pub server_id: String,
    pub resource: String,
    pub scope: String,
    pub revoked: bool,
    pub server_enabled: bool,
    pub person_active: bool,
}

/// The columns of a [`GrantRow`] (`g` the grant, `s` its server, `u` its person).
macro_rules! grant_columns {
    () => {
        "g.id, g.client_id, g.person_id, g.server_id, g.resource, g.scope, \
         g.revoked_at IS NOT NULL AS revoked, s.enabled AS server_enabled, \
         (u.active AND u.deleted_at IS NULL) AS person_active"
    };
}
/// The joins [`grant_columns`] reads.
macro_rules! grant_joins {
    () => {
        "JOIN mcp_servers s ON s.id = g.server_id JOIN directory_users u ON u.id = g.person_id"
    };
}

const SELECT_GRANT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM oauth_grants g ",
    grant_joins!()
);

/// The newest unrevoked grant of `client` for `person` on `server` with
/// exactly `scope` (an ID-JAG's token reuses it instead of adding one).
pub async fn live_grant(
    ex: Exec<'_>,
    client: &str,
    person: &str,
    server: &str,
    scope: &str,
) -> Result<Option<GrantRow>> {
    Ok(fetch_optional!(
        ex,
        GrantRow,
        &format!(
            "{SELECT_GRANT} WHERE g.client_id = $1 AND g.person_id = $2 AND g.server_id = $3 \
             AND g.scope = $4 AND g.revoked_at IS NULL ORDER BY g.created_at DESC LIMIT 1"
        ),
        client,
        person,
        server,
        scope
    )?)
}

pub async fn find_grant(ex: Exec<'_>, id: &str) -> Result<Option<GrantRow>> {
    Ok(fetch_optional!(
        ex,
        GrantRow,
        &format!("{SELECT_GRANT} WHERE g.id = $1"),
        id
    )?)
}

/// A code taken for use: the row as it was (whether it had been used, and
/// whether it is still fresh), marking it used.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CodeRow {
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub async fn find_code(tx: &mut Tx, code_hash: &str) -> Result<Option<CodeRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        CodeRow,
        "SELECT grant_id, redirect_uri, code_challenge, expires_at, used_at FROM oauth_codes WHERE code_hash = $1",
        code_hash
    )?)
}

/// Marks a code used; true if this call used it (not used before).
pub async fn use_code(tx: &mut Tx, code_hash: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
        code_hash,
        now
    )? == 1)
}

/// Revokes a grant (and so every token of it); true if it was live.
pub async fn revoke_grant(tx: &mut Tx, id: &str, reason: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        id,
        now,
        reason
    )? == 1)
}

/// Revokes every live grant of a client; returns how many.
pub async fn revoke_client_grants(
    tx: &mut Tx,
    client_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(exec!(
        tx.exec(),
        "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL",
        client_id,
        now,
        reason
    )?)
}

/// Records the `jti` of a client assertion until it expires; false when it
/// was seen before (a replay).
pub async fn use_assertion_jti(
    tx: &mut Tx,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "INSERT INTO oauth_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (client_id, jti) DO NOTHING",
        client_id,
        jti,
        expires_at
    )? == 1)
}

pub async fn insert_refresh(
    tx: &mut Tx,
    token_hash: &str,
    grant_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        token_hash,
        grant_id,
        now,
        expires
    )?;
    Ok(())
}

/// A refresh token as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub grant_id: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub async fn find_refresh(ex: Exec<'_>, token_hash: &str) -> Result<Option<RefreshRow>> {
    Ok(fetch_optional!(
        ex,
        RefreshRow,
        "SELECT grant_id, expires_at, used_at FROM oauth_refresh_tokens WHERE token_hash = $1",
        token_hash
    )?)
}

/// Rotates a refresh token: marks it used if it was not, in one statement,
/// and gives its grant and expiry; `None` when it is unknown or was used
/// before ([`find_refresh`] then tells which).
pub async fn rotate_refresh(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>> {
    #[derive(sqlx::FromRow)]
    struct Rotated {
        grant_id: String,
        expires_at: DateTime<Utc>,
    }
    Ok(fetch_optional!(
        tx.exec(),
        Rotated,
        "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         RETURNING grant_id, expires_at",
        token_hash,
        now
    )?
    .map(|r| (r.grant_id, r.expires_at)))
}

/// Notes that a client and a grant were used.
pub async fn touch(tx: &mut Tx, client_id: &str, grant_id: &str, now: DateTime<Utc>) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE oauth_grants SET last_used_at = $2 WHERE id = $1",
        grant_id,
        now
    )?;
    exec!(
        tx.exec(),
        "UPDATE oauth_clients SET last_used_at = $2 WHERE id = $1",
        client_id,
        now
    )?;
    Ok(())
}

// ---- batched rotation (see `oauth::rotation`) -----------------------------
//
// These statements take a run-time number of values (`IN ($2, $3, …)`,
// several `VALUES` rows): a batch is one statement whatever its size.

/// A presented refresh token as stored, with its grant.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshCandidate {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    #[sqlx(flatten)]
    pub grant: GrantRow,
}

/// The stored refresh tokens among `hashes`, each with its grant.
pub async fn refresh_candidates(tx: &mut Tx, hashes: &[&str]) -> Result<Vec<RefreshCandidate>> {
    let sql = format!(
        concat!(
            "SELECT r.token_hash, r.expires_at, r.used_at IS NOT NULL AS used, ",
            grant_columns!(),
            " FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id ",
            grant_joins!(),
            " WHERE r.token_hash IN ({})"
        ),
        placeholders(1, hashes.len())
    );
    let args: Vec<Arg> = hashes.iter().map(|h| Arg::Text((*h).to_owned())).collect();
    Ok(fetch_all_dyn(tx.exec(), &sql, &args).await?)
}

/// Marks the unused tokens among `hashes` used; returns the hashes this
/// statement marked (a token another transaction used first is not among
/// them).
pub async fn use_refresh_batch(
    tx: &mut Tx,
    hashes: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Used {
        token_hash: String,
    }
    let sql = format!(
        "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE used_at IS NULL AND token_hash IN ({}) \
         RETURNING token_hash",
        placeholders(2, hashes.len())
    );
    let mut args = vec![Arg::Time(now)];
    args.extend(hashes.iter().map(|h| Arg::Text((*h).to_owned())));
    Ok(fetch_all_dyn::<Used>(tx.exec(), &sql, &args)
        .await?
        .into_iter()
        .map(|u| u.token_hash)
        .collect())
}

/// Inserts new refresh tokens, `(token_hash, grant_id)` each, in one statement.
pub async fn insert_refresh_batch(
    tx: &mut Tx,
    tokens: &[(String, String)],
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let rows = (0..tokens.len())
        .map(|i| format!("(${}, ${}, $1, $2)", 3 + 2 * i, 4 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES {rows}"
    );
    let mut args = vec![Arg::Time(now), Arg::Time(expires)];
    for (hash, grant) in tokens {
        args.push(Arg::Text(hash.clone()));
        args.push(Arg::Text(grant.clone()));
    }
    exec_dyn(tx.exec(), &sql, &args).await?;
    Ok(())
}

/// Notes that grants and clients were used (one statement per table).
pub async fn touch_batch(
    tx: &mut Tx,
    grant_ids: &[&str],
    client_ids: &[&str],
    now: DateTime<Utc>,
) -> Result<()> {
    for (table, ids) in [("oauth_grants", grant_ids), ("oauth_clients", client_ids)] {
        if ids.is_empty() {
            continue;
        }
        let sql = format!(
            "UPDATE {table} SET last_used_at = $1 WHERE id IN ({})",
            placeholders(2, ids.len())
        );
        let mut args = vec![Arg::Time(now)];
        args.extend(ids.iter().map(|id| Arg::Text((*id).to_owned())));
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(())
}
