//! The figures on the Overview page: counts, activity per day, latest events.
//!
//! The area has the domain's target shape: this file is the service (the
//! role check and how the figures are put together; no SQL text), `store`
//! every SQL statement.

mod store;

use crate::actor::{Actor, Permission};
use crate::error::Result;
use crate::Core;
use chrono::Duration;
use portcullis_types::{AuditQuery, DayCount, OverviewStats};
use std::sync::Arc;

/// A day in seconds (the activity chart's days are the admin's zone's
/// fixed offset from UTC, so each is 24 hours).
const DAY: i64 = 86_400;

/// Reads the Overview figures.
#[derive(Clone)]
pub struct OverviewService {
    pub(crate) core: Arc<Core>,
}

impl OverviewService {
    /// Counts and recent activity, the activity chart's days in UTC.
    /// **Permission:** `ConsoleRead`.
    pub async fn get_stats(
        &self,
        actor: &Actor,
        audit: &crate::audit::AuditService,
    ) -> Result<OverviewStats> {
        self.get_stats_in(actor, audit, Duration::zero()).await
    }

    /// [`get_stats`](Self::get_stats) with the activity chart's days in
    /// the admin's time zone, `utc_offset` ahead of UTC now (a daylight
    /// saving change within the 14 days moves the earlier days' bounds by
    /// its hour). **Permission:** `ConsoleRead`.
    pub async fn get_stats_in(
        &self,
        actor: &Actor,
        audit: &crate::audit::AuditService,
        utc_offset: Duration,
    ) -> Result<OverviewStats> {
        actor.require(Permission::ConsoleRead)?;
        let db = &self.core.db;
        let now = self.core.clock.now();
        let day_ago = now - Duration::hours(24);
        let admins = store::admins(db.exec()).await?;
        let active_sessions = store::active_sessions(db.exec(), now).await?;
        let audit_events = store::audit_events(db.exec()).await?;
        // Both event figures add up `audit_counts`' quarter hours (the
        // ragged ends counted event by event) instead of reading every
        // event of the day or the fortnight. The days run to the end of
        // the chart's last day, so they take in an event stamped now.
        let audit_events_24h = audit.count_since(day_ago).await?;
        let failed_signins_24h = store::failed_signins_since(db.exec(), day_ago).await?;
        let today = (now + utc_offset).date_naive();
        let first_day = today - chrono::Days::new(13);
        let since = first_day
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc() - utc_offset)
            .unwrap_or(now);
        let mut per_day = [0; 14];
        for (day, n) in audit
            .bucket_counts(
                &AuditQuery::default(),
                since,
                since + Duration::days(14),
                since,
                DAY,
            )
            .await?
        {
            if let Some(count) = usize::try_from(day).ok().and_then(|d| per_day.get_mut(d)) {
                *count += n;
            }
        }
        let events_per_day = first_day
            .iter_days()
            .zip(per_day)
            .map(|(d, count)| DayCount {
                day: d.format("%Y-%m-%d").to_string(),
                count,
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
        let servers = store::servers(db.exec()).await?;
        let tools_awaiting_review = store::tools_awaiting_review(db.exec()).await?;
        let grants = store::grants(db.exec()).await?;
        let policy_revision = crate::revisions::head(db.exec()).await?;
        let (gateways, gateways_current) = store::gateways(db.exec(), policy_revision).await?;
        let sso_connections = store::sso_connections(db.exec()).await?;
        let directories = store::directories(db.exec()).await?;
        Ok(OverviewStats {
            gateways,
            gateways_current,
            sso_connections,
            directories,
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
