//! `portcullis-gateway`: the reference gateway. An MCP reverse proxy that
//! enforces the Portcullis console's signed policy in front of real MCP
//! servers, so every grant, revocation, quarantine and blocked client the
//! console publishes governs real tool calls.
//!
//! ```text
//!  MCP client ──token──▶ gateway ──(its own credential)──▶ upstream MCP server
//!                          │  ▲
//!   decisions, status,     │  │ signed bundle (long-poll, deltas), JWKS
//!   changed tools          ▼  │
//!                     Portcullis console
//! ```
//!
//! - [`config`]: file, environment and flags.
//! - [`sync`]: the policy loop (`GET /api/v1/policy`), the saved bundle, the
//!   status reports.
//! - [`auth`]: access tokens, challenges, protected-resource metadata.
//! - [`proxy`]: the MCP relay, `tools/list` filtering, `tools/call`
//!   decisions, pinning at the edge.
//! - [`decisions`]: decision logs to the console with an on-disk spool.
//! - [`metrics`], the `/metrics` endpoint.
//! - [`serve`]: one thread per core, each serving its own connections
//!   with its own upstream connections.
//!
//! It depends on `portcullis-policy` (the evaluator the console's simulator
//! runs), the wire types of `portcullis-types` and the tool hash of
//! `portcullis-discovery`, never on the console itself. Operators' guide:
//! `docs/gateway.md`.

pub mod auth;
pub mod config;
pub mod decisions;
pub mod metrics;
pub mod proxy;
pub mod serve;
pub mod sync;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::decisions::DecisionLog;
use crate::metrics::Metrics;
use crate::proxy::{ChangedTool, Pins, Sessions};
use crate::serve::Worker;
use crate::sync::PolicyState;

/// The running gateway's shared state.
pub struct Gateway {
    pub config: Arc<Config>,
    pub policy: Arc<PolicyState>,
    pub decisions: DecisionLog,
    pub metrics: Arc<Metrics>,
    pub(crate) pins: Arc<Pins>,
    pub(crate) sessions: Sessions,
    pub(crate) tokens: auth::TokenCache,
    pub(crate) reports: mpsc::UnboundedSender<ChangedTool>,
}

/// A started gateway: its address, its state, and the tasks to wait for.
pub struct Running {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the
    /// configured grace), flushes the decision log, and returns.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let grace = self.gateway.config.limits.listener.shutdown_timeout + Duration::from_secs(5);
        for task in self.tasks {
            let _ = tokio::time::timeout(grace, task).await;
        }
    }

    /// Waits until the gateway enforces `revision` or later.
    pub async fn wait_for_revision(&self, revision: u64, within: Duration) -> bool {
        let mut rx = self.gateway.policy.revisions();
        tokio::time::timeout(within, rx.wait_for(|r| r.is_some_and(|r| r >= revision)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Binds `config.listen` and starts the proxy, the policy sync and the
/// decision sender.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| anyhow::anyhow!("state_dir {}: {e}", config.state_dir.display()))?;
    let console_http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("portcullis-gateway/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let metrics = Arc::new(Metrics::default());
    let policy = PolicyState::new(&config, console_http);
    let (decisions, sender) = DecisionLog::new(
        &config.state_dir,
        config.limits.max_spool_bytes,
        policy.clone(),
        metrics.clone(),
    );
    let (reports, report_rx) = mpsc::unbounded_channel();
    let gateway = Arc::new(Gateway {
        config: config.clone(),
        policy: policy.clone(),
        decisions,
        metrics: metrics.clone(),
        pins: Arc::new(Pins::default()),
        sessions: Sessions::default(),
        tokens: auth::TokenCache::default(),
        reports,
    });
    let (stop, stop_rx) = watch::channel(false);
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("listen {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let workers = serve::worker_count(config.workers);
    let server = serve::spawn(listener, workers, gateway.clone(), router, stop_rx.clone())?;
    // The saved bundle is active before the first request is accepted.
    let restored = policy.restore();
    let sync = tokio::spawn(policy.clone().run(
        restored,
        config.clone(),
        metrics.clone(),
        stop_rx.clone(),
    ));
    let send = tokio::spawn(sender.run(stop_rx.clone()));
    let report = tokio::spawn(report_changes(policy.clone(), report_rx, stop_rx.clone()));
    tracing::info!(%addr, workers, upstreams = config.upstreams.len(), "gateway listening");
    Ok(Running {
        addr,
        gateway,
        stop,
        tasks: vec![server, sync, send, report],
    })
}

fn router(worker: Worker) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(dispatch)
        .with_state(worker)
}

async fn readyz(State(Worker { gateway: gw, .. }): State<Worker>) -> Response {
    match gw.policy.active() {
        Some(a) => axum::Json(json!({"ready": true, "revision": a.revision})).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ready": false, "error": gw.policy.status().last_error})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(Worker { gateway: gw, .. }): State<Worker>) -> Response {
    let active = gw.policy.active();
    let age = active.as_ref().and_then(|a| {
        let issued = chrono::DateTime::parse_from_rfc3339(&a.issued_at).ok()?;
        (chrono::Utc::now() - issued.with_timezone(&chrono::Utc))
            .to_std()
            .ok()
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.metrics.render(
            active.map(|a| a.revision),
            age,
            gw.decisions.spool().bytes(),
        ),
    )
        .into_response()
}

/// Routes by path: an upstream's MCP endpoint, or its protected-resource
/// metadata.
async fn dispatch(State(worker): State<Worker>, uri: Uri, request: Request) -> Response {
    let path = uri.path();
    let gw = &worker.gateway;
    if let Some(i) = gw.config.upstreams.iter().position(|u| u.path == path) {
        return gw.handle(&worker.upstream_http, i, request).await;
    }
    if let Some(rest) = path.strip_prefix("/.well-known/oauth-protected-resource") {
        let wanted = if rest.is_empty() { "/" } else { rest };
        if let Some(u) = gw
            .config
            .upstreams
            .iter()
            .find(|u| u.path.trim_end_matches('/') == wanted.trim_end_matches('/'))
        {
            let name = gw.policy.active().and_then(|a| {
                let id = a.policy.server_id_by_resource(&u.resource)?.to_owned();
                a.policy.server(&id).map(|s| s.slug.clone())
            });
            return (
                [(header::CACHE_CONTROL, "public, max-age=300")],
                axum::Json(auth::metadata(
                    u,
                    &gw.config.console.issuer,
                    name.as_deref(),
                )),
            )
                .into_response();
        }
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found"})),
    )
        .into_response()
}

/// Reports tools whose live definition changed to the console, which
/// quarantines them for review (`POST /api/v1/tools/changed`).
async fn report_changes(
    policy: Arc<PolicyState>,
    mut rx: mpsc::UnboundedReceiver<ChangedTool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let change = tokio::select! {
            c = rx.recv() => match c { Some(c) => c, None => break },
            _ = stop.changed() => break,
        };
        let console = policy.console();
        let body = json!({"server": change.server, "definition": change.definition});
        for attempt in 0..5u32 {
            let res = console
                .http
                .post(console.url("/api/v1/tools/changed"))
                .header(header::AUTHORIZATION, console.bearer())
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => break,
                Ok(r) if r.status().is_client_error() => {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        "the console refused a changed-tool report"
                    );
                    break;
                }
                _ => tokio::time::sleep(Duration::from_secs(1 << attempt)).await,
            }
        }
    }
}
