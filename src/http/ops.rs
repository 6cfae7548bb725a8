//! Operational endpoints: liveness, readiness and Prometheus metrics.

use crate::server::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// `GET /healthz`: the process is up. Never touches the database.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its migrations are current.
/// 503 otherwise, so a load balancer stops sending traffic.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db = state.services.db();
    let check = async {
        db.ping().await?;
        db.migrations_current().await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
        Ok(Ok(true)) => {
            Json(json!({ "status": "ready", "database": "ok", "migrations": "current" }))
                .into_response()
        }
        Ok(Ok(false)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "database": "ok", "migrations": "pending" })),
        )
            .into_response(),
        Ok(Err(_)) | Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "database": "unreachable" })),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text format (requests by route and status,
/// latency histogram, database pool, requests refused by the OAuth abuse
/// limits as `oauth_limit_hits_total{limit=…}`, console sign-ins refused
/// by the throttle as `console_signin_throttled_total`, the other limits as
/// `rate_limit_hits_total{limit=scim|sso_start|api_key|api_key_failure|gateway_credential}`, and the batched refresh
/// rotation: transactions, tokens rotated in them, refreshes answered one
/// by one).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let (size, idle) = state.services.db().pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    for (limit, hits) in state.services.oauth.limits().hits() {
        metrics::counter!("oauth_limit_hits_total", "limit" => limit.as_str()).absolute(hits);
    }
    for limit in state.services.limits.all() {
        metrics::counter!("rate_limit_hits_total", "limit" => limit.name()).absolute(limit.hits());
    }
    metrics::counter!("rate_limit_hits_total", "limit" => "gateway_credential")
        .absolute(state.services.gateways.rejected_credentials());
    metrics::counter!("console_signin_throttled_total")
        .absolute(state.services.console.signins_throttled());
    let r = state.services.oauth.rotation_stats();
    metrics::counter!("oauth_refresh_batches_total").absolute(r.batches);
    metrics::counter!("oauth_refresh_batched_total").absolute(r.rotated);
    metrics::counter!("oauth_refresh_one_by_one_total").absolute(r.one_by_one);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
