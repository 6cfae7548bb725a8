//! Server functions for the Overview page.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::OverviewStats;

/// Counts and recent activity, the activity chart's days in the time
/// zone of the request's `portcullis_tz` cookie (UTC without one).
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/overview")]
pub async fn get_overview() -> Result<OverviewStats, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let offset = crate::components::time::request_offset();
    Ok(svc
        .overview
        .get_stats_in(&actor, &svc.audit, offset)
        .await?)
}
