//! Every SQL statement of the Overview page: counts over other areas'
//! tables (SQLite and PostgreSQL run the same text, except how an event's
//! day is written).

use crate::db::{Backend, Exec};
use crate::error::Result;
use crate::{fetch_all, fetch_one, scalar};
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

/// Audit events since `since`.
pub(super) async fn audit_events_since(ex: Exec<'_>, since: DateTime<Utc>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM audit_events WHERE occurred_at >= $1",
        since
    )?)
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

/// Audit events a day (UTC, `YYYY-MM-DD`).
#[derive(sqlx::FromRow)]
pub(super) struct DayRow {
    pub day: String,
    pub count: i64,
}

/// Audit events per day since `since`, by day (days without events left
/// out), the days in a zone `offset_minutes` ahead of UTC.
pub(super) async fn events_per_day(
    ex: Exec<'_>,
    backend: Backend,
    since: DateTime<Utc>,
    offset_minutes: i64,
) -> Result<Vec<DayRow>> {
    // The offset is bound as text: an SQLite date modifier ("-300
    // minutes") and a PostgreSQL interval ("-300 minutes") alike.
    let day_expr = match backend {
        Backend::Sqlite => "strftime('%Y-%m-%d', occurred_at, $2)",
        Backend::Postgres => {
            "to_char((occurred_at AT TIME ZONE 'UTC') + CAST($2 AS interval), 'YYYY-MM-DD')"
        }
    };
    Ok(fetch_all!(
        ex,
        DayRow,
        &format!(
            "SELECT {day_expr} AS day, COUNT(*) AS count FROM audit_events \
             WHERE occurred_at >= $1 GROUP BY 1 ORDER BY 1"
        ),
        since,
        format!("{offset_minutes} minutes")
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
