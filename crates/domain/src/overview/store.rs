//! Every SQL statement of the Overview page: counts over other areas'
//! tables (SQLite and PostgreSQL run the same text, except how an event's
//! day is written).

use crate::db::Exec;
use crate::error::Result;
use crate::{fetch_one, scalar};
use chrono::{DateTime, Utc};

/// Console users not disabled.
pub(super) async fn admins(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM console_users WHERE status <> 'disabled'"
    )?)
}

/// Console sessions not expired at `now`.
pub(super) async fn active_sessions(ex: Exec<'_>, now: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM sessions WHERE expires_at > $1",
        now
    )?)
}

/// Audit events ever appended (the chain's head).
pub(super) async fn audit_events(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT seq FROM audit_head WHERE id = 1")?)
}

/// Failed and throttled console sign-ins since `since`.
pub(super) async fn failed_signins_since(ex: Exec<'_>, since: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM audit_events WHERE occurred_at >= $1 AND action IN ('console.signin.failed', 'console.signin.throttled')",
        since
    )?)
}

/// MCP servers in the catalog.
pub(super) async fn servers(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT COUNT(*) FROM mcp_servers")?)
}

/// Tools quarantined until reviewed.
pub(super) async fn tools_awaiting_review(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM mcp_tools WHERE status = 'quarantined'"
    )?)
}

/// SSO connections, enabled or not.
pub(super) async fn sso_connections(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT COUNT(*) FROM sso_connections")?)
}

/// SCIM directories.
pub(super) async fn directories(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT COUNT(*) FROM directories")?)
}

pub(super) async fn grants(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(ex, i64, "SELECT COUNT(*) FROM grants")?)
}

/// (live gateways, those of them enforcing revision `revision`).
pub(super) async fn gateways(ex: Exec<'_>, revision: i64) -> Result<(i64, i64)> {
    Ok(fetch_one!(
        ex,
        (i64, i64),
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN COALESCE(active_revision, served_revision) = $1 \
         THEN 1 ELSE 0 END), 0) FROM gateways WHERE revoked_at IS NULL",
        revision
    )?)
}
