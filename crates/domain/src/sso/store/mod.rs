//! Every SQL statement of the SSO area (SQLite and PostgreSQL run the same
//! text): here the connections, their domains and role mappings; in
//! [`signin`] the sign-ins in flight, test runs, the replay cache and the
//! console users and identities a sign-in writes; in [`people`] the
//! directory people and groups of SSO admission and just-in-time people.
//! Stored enums decode strictly: an unknown value is an error, never a
//! default.

mod people;
mod signin;

pub(super) use people::*;
pub(super) use signin::*;

use crate::db::{Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// A connection as stored (decoded by `model`: `kind`, `oidc`, `saml`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct ConnRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub config: String,
    pub client_secret: Option<String>,
    pub idp_metadata: Option<String>,
    pub directory_id: Option<String>,
    pub allow_idp_initiated: bool,
    pub jit_people: bool,
    pub accept_id_jag: bool,
    pub updated_at: DateTime<Utc>,
}

const SELECT_CONN: &str =
    "SELECT id, slug, name, kind, enabled, config, client_secret, idp_metadata, \
     directory_id, allow_idp_initiated, jit_people, accept_id_jag, updated_at FROM sso_connections";

/// The connection whose slug is `slug`.
pub(super) async fn conn_by_slug(ex: Exec<'_>, slug: &str) -> Result<Option<ConnRow>> {
    Ok(fetch_optional!(
        ex,
        ConnRow,
        &format!("{SELECT_CONN} WHERE slug = $1"),
        slug
    )?)
}

/// The connection `id`.
pub(super) async fn conn_by_id(ex: Exec<'_>, id: &str) -> Result<Option<ConnRow>> {
    Ok(fetch_optional!(
        ex,
        ConnRow,
        &format!("{SELECT_CONN} WHERE id = $1"),
        id
    )?)
}

/// The enabled OIDC connections that accept ID-JAGs.
pub(super) async fn id_jag_conns(ex: Exec<'_>) -> Result<Vec<ConnRow>> {
    Ok(fetch_all!(
        ex,
        ConnRow,
        &format!("{SELECT_CONN} WHERE accept_id_jag AND enabled AND kind = 'oidc' ORDER BY id")
    )?)
}

/// Every connection, by name.
pub(super) async fn conns(ex: Exec<'_>) -> Result<Vec<ConnRow>> {
    Ok(fetch_all!(
        ex,
        ConnRow,
        &format!("{SELECT_CONN} ORDER BY name, id")
    )?)
}

/// The email domains connection `id` serves, sorted.
pub(super) async fn domains_sorted(ex: Exec<'_>, id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT domain FROM sso_domains WHERE connection_id = $1 ORDER BY domain",
        id
    )?
    .into_iter()
    .map(|d| d.0)
    .collect())
}

/// The email domains connection `id` serves.
pub(super) async fn domains(ex: Exec<'_>, id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
        ex,
        (String,),
        "SELECT domain FROM sso_domains WHERE connection_id = $1",
        id
    )?
    .into_iter()
    .map(|d| d.0)
    .collect())
}

/// How many role mappings connection `id` has.
pub(super) async fn mapping_count(ex: Exec<'_>, id: &str) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM sso_role_mappings WHERE connection_id = $1",
        id
    )?)
}

/// How many identities connection `id` links, and its last sign-in.
pub(super) async fn identity_stats(ex: Exec<'_>, id: &str) -> Result<(i64, Option<DateTime<Utc>>)> {
    Ok(fetch_optional!(
        ex,
        (i64, Option<DateTime<Utc>>),
        "SELECT COUNT(*), MAX(last_signin_at) FROM sso_identities WHERE connection_id = $1",
        id
    )?
    .unwrap_or((0, None)))
}

/// (IdP group, stored role) of connection `id`'s mappings, by group.
pub(super) async fn mappings(ex: Exec<'_>, id: &str) -> Result<Vec<(String, String)>> {
    Ok(fetch_all!(
        ex,
        (String, String),
        "SELECT idp_group, role FROM sso_role_mappings WHERE connection_id = $1 ORDER BY idp_group",
        id
    )?)
}

/// A connection's stored values, as created or changed.
pub(super) struct ConnValues<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub enabled: bool,
    pub config: &'a str,
    /// Sealed.
    pub client_secret: Option<&'a str>,
    pub idp_metadata: Option<&'a str>,
    pub directory_id: Option<&'a str>,
    pub allow_idp_initiated: bool,
    pub jit_people: bool,
    pub accept_id_jag: bool,
    pub at: DateTime<Utc>,
}

/// Inserts connection `id` of `kind` with `v` (in the caller's
/// transaction): a disabled row with the unique slug (so a taken slug fails
/// here), then [`update_conn`] writes every value, so the two paths share
/// one list of columns.
pub(super) async fn insert_conn(
    tx: &mut Tx,
    id: &str,
    kind: &str,
    v: &ConnValues<'_>,
    created_by: &str,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO sso_connections (id, slug, name, kind, enabled, config, created_at, updated_at, created_by) \
         VALUES ($1, $2, $3, $4, FALSE, '{}', $5, $5, $6)",
        id,
        v.slug,
        v.name,
        kind,
        v.at,
        created_by
    )?;
    update_conn(tx.exec(), id, v).await
}

pub(super) async fn update_conn(ex: Exec<'_>, id: &str, v: &ConnValues<'_>) -> Result<()> {
    exec!(
        ex,
        "UPDATE sso_connections SET slug = $2, name = $3, enabled = $4, config = $5, client_secret = $6, \
         idp_metadata = $7, directory_id = $8, allow_idp_initiated = $9, updated_at = $10, jit_people = $11, \
         accept_id_jag = $12 WHERE id = $1",
        id,
        v.slug,
        v.name,
        v.enabled,
        v.config,
        v.client_secret,
        v.idp_metadata,
        v.directory_id,
        v.allow_idp_initiated,
        v.at,
        v.jit_people,
        v.accept_id_jag
    )?;
    Ok(())
}

/// Drops connection `id`'s domains and role mappings (before writing them
/// again).
pub(super) async fn clear_children(tx: &mut Tx, id: &str) -> Result<()> {
    exec!(
        tx.exec(),
        "DELETE FROM sso_domains WHERE connection_id = $1",
        id
    )?;
    exec!(
        tx.exec(),
        "DELETE FROM sso_role_mappings WHERE connection_id = $1",
        id
    )?;
    Ok(())
}

/// Deletes connection `id` (its domains, mappings and identity links go
/// with it).
pub(super) async fn delete_conn(ex: Exec<'_>, id: &str) -> Result<()> {
    exec!(ex, "DELETE FROM sso_connections WHERE id = $1", id)?;
    Ok(())
}

/// The name of the connection other than `id` that serves `domain`.
pub(super) async fn domain_served_by_other(
    ex: Exec<'_>,
    domain: &str,
    id: &str,
) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT c.name FROM sso_domains d JOIN sso_connections c ON c.id = d.connection_id \
         WHERE d.domain = $1 AND d.connection_id <> $2",
        domain,
        id
    )?
    .map(|(name,)| name))
}

pub(super) async fn insert_domain(ex: Exec<'_>, domain: &str, id: &str) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO sso_domains (domain, connection_id) VALUES ($1, $2)",
        domain,
        id
    )?;
    Ok(())
}

pub(super) async fn insert_mapping(ex: Exec<'_>, id: &str, group: &str, role: &str) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO sso_role_mappings (connection_id, idp_group, role) VALUES ($1, $2, $3)",
        id,
        group,
        role
    )?;
    Ok(())
}

/// How many connections are enabled.
pub(super) async fn enabled_count(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM sso_connections WHERE enabled = $1",
        true
    )?)
}

/// (slug, stored kind) of the enabled connection serving `domain`.
pub(super) async fn route(ex: Exec<'_>, domain: &str) -> Result<Option<(String, String)>> {
    Ok(fetch_optional!(
        ex,
        (String, String),
        "SELECT c.slug, c.kind FROM sso_domains d JOIN sso_connections c ON c.id = d.connection_id \
         WHERE d.domain = $1 AND c.enabled = $2",
        domain,
        true
    )?)
}

/// Makes directory `directory_id` connection `id`'s.
pub(super) async fn set_conn_directory(ex: Exec<'_>, id: &str, directory_id: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE sso_connections SET directory_id = $2 WHERE id = $1",
        id,
        directory_id
    )?;
    Ok(())
}
