//! Server functions for the Overview page.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::OverviewStats;

/// Counts and recent activity. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/overview")]
pub async fn get_overview() -> Result<OverviewStats, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.overview.get_stats(&actor, &svc.audit).await?)
}
