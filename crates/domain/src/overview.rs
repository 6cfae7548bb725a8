//! The figures on the Overview page: counts, activity per day, latest events.

use crate::actor::{Actor, Permission};
use crate::db::Backend;
use crate::error::Result;
use crate::Core;
use crate::{fetch_all, fetch_one, scalar};
use chrono::Duration;
use portcullis_types::{AuditQuery, DayCount, OverviewStats};
use std::sync::Arc;

/// Reads the Overview figures.
#[derive(Clone)]
pub struct OverviewService {
    pub(crate) core: Arc<Core>,
}

impl OverviewService {
    /// Counts and recent activity. **Permission:** `ConsoleRead`.
    pub async fn get_stats(
        &self,
        actor: &Actor,
        audit: &crate::audit::AuditService,
    ) -> Result<OverviewStats> {
        actor.require(Permission::ConsoleRead)?;
        let db = &self.core.db;
        let now = self.core.clock.now();
        let day_ago = now - Duration::hours(24);
        let admins = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM console_users WHERE status <> 'disabled'"
        )?;
        let active_sessions = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM sessions WHERE expires_at > $1",
            now
        )?;
        let audit_events = scalar!(db.exec(), i64, "SELECT seq FROM audit_head WHERE id = 1")?;
        let audit_events_24h = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM audit_events WHERE occurred_at >= $1",
            day_ago
        )?;
        let failed_signins_24h = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM audit_events WHERE occurred_at >= $1 AND action IN ('console.signin.failed', 'console.signin.throttled')",
            day_ago
        )?;
        let today = now.date_naive();
        let first_day = today - chrono::Days::new(13);
        let since = first_day
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or(now);
        #[derive(sqlx::FromRow)]
        struct Row {
            day: String,
            count: i64,
        }
        let day_expr = match db.backend() {
            Backend::Sqlite => "substr(occurred_at, 1, 10)",
            Backend::Postgres => "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        };
        let rows = fetch_all!(
            db.exec(),
            Row,
            &format!(
                "SELECT {day_expr} AS day, COUNT(*) AS count FROM audit_events \
                 WHERE occurred_at >= $1 GROUP BY 1 ORDER BY 1"
            ),
            since
        )?;
        let events_per_day = first_day
            .iter_days()
            .take(14)
            .map(|d| {
                let day = d.format("%Y-%m-%d").to_string();
                let count = rows.iter().find(|r| r.day == day).map_or(0, |r| r.count);
                DayCount { day, count }
            })
            .collect();
        let latest_events = audit
            .list_events(
                actor,
                AuditQuery {
                    limit: 8,
                    ..Default::default()
                },
            )
            .await?
            .items;
        let servers = scalar!(db.exec(), i64, "SELECT COUNT(*) FROM mcp_servers")?;
        let tools_awaiting_review = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM mcp_tools WHERE status = 'quarantined'"
        )?;
        let grants = scalar!(db.exec(), i64, "SELECT COUNT(*) FROM grants")?;
        let policy_revision = crate::revisions::head(db.exec()).await?;
        let (gateways, gateways_current) = fetch_one!(
            db.exec(),
            (i64, i64),
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN COALESCE(active_revision, served_revision) = $1 \
             THEN 1 ELSE 0 END), 0) FROM gateways WHERE revoked_at IS NULL",
            policy_revision
        )?;
        Ok(OverviewStats {
            gateways,
            gateways_current,
            servers,
            tools_awaiting_review,
            grants,
            policy_revision,
            admins,
            active_sessions,
            audit_events,
            audit_events_24h,
            failed_signins_24h,
            events_per_day,
            latest_events,
        })
    }
}
