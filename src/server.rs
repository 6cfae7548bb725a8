//! Start-up and the router.
//!
//! [`start`] opens the database, applies migrations, binds the listener,
//! issues the first owner's set-up link on an empty console, and serves until
//! the shutdown future resolves (SIGTERM/Ctrl-C in `serve`). Tests call
//! [`start`] with `127.0.0.1:0` and a fresh database.
//!
//! Requests arrive on the HTTP workers ([`crate::http::serve`]); a
//! gateway's `If-None-Match` poll for the current revision is answered
//! there from memory, everything else goes to the router on this runtime.
//! Console middleware, outermost first: request id → trace span → metrics →
//! security headers → body limit → CSRF refusal → session resolution. The
//! gateway API (`policy_api`), OAuth's endpoints and the admin REST API
//! (`admin_api`) have only request ids, metrics and a body limit (they take
//! no cookies).

use crate::config::Config;
use crate::http::{ops, security, serve, session, too_large};
use app::ssr::ConsoleConfig;
use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use metrics_exporter_prometheus::PrometheusHandle;
use portcullis_domain::{Db, DbOptions, Services, SystemClock};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The built site: where it is served from, its assets' names.
    pub site: crate::http::assets::Site,
    pub services: Services,
    pub console: ConsoleConfig,
    /// `scheme://host[:port]` of the public URL, for Origin checks.
    pub public_origin: String,
    pub metrics: PrometheusHandle,
    /// Turns true when the server starts shutting down (long-polls end).
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    /// The first owner's set-up link, when the console had no active owner.
    pub setup_link: Option<String>,
    pub services: Services,
    /// Where requests were answered (fast path or router).
    pub http: Arc<serve::Stats>,
    /// Resolves when the server has stopped.
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens the database named by `config` and applies migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    if let Some(dir) = config.sqlite_dir() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot create {}: {e}", dir.display()))?;
    }
    let db = Db::connect(
        &config.database_url,
        &DbOptions {
            max_connections: config.db_max_connections,
            sqlite_synchronous: config.sqlite_synchronous,
            ..DbOptions::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot open the database: {e}"))?;
    db.migrate().await?;
    Ok(db)
}

/// Builds the services over an open database with the system clock.
pub fn services(config: &Config, db: Db) -> anyhow::Result<Services> {
    services_with_clock(config, db, Arc::new(SystemClock))
}

/// [`services`] on another clock (`portcullis demo` runs its sample on a
/// clock moved through the last 14 days).
pub fn services_with_clock(
    config: &Config,
    db: Db,
    clock: Arc<dyn portcullis_domain::clock::Clock>,
) -> anyhow::Result<Services> {
    Ok(Services::new(db, clock, config.domain_settings()?)?)
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_owned())
}

/// The console's page routes, listed once per process.
///
/// `generate_route_list` renders the app with a process-wide flag of
/// leptos_server's set (`SuppressResourceLoad`): while it is set, every
/// `Resource` created anywhere in the process waits forever instead of
/// loading. Listing the routes for each router therefore raced with pages
/// rendering on another server in the same process (the API tests start
/// dozens): a page that created its resource in that window (`/login`'s
/// sign-in options) sent its shell and never finished its body. Listed
/// once, before the first router exists, nothing renders meanwhile.
pub fn page_routes() -> Vec<AxumRouteListing> {
    static PAGE_ROUTES: LazyLock<Vec<AxumRouteListing>> =
        LazyLock::new(|| generate_route_list(app::App));
    PAGE_ROUTES.clone()
}

/// Builds the router for `state`.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let routes = page_routes();
    let ctx = {
        let services = state.services.clone();
        let console = state.console.clone();
        let stylesheet = app::StylesheetHref(state.site.css_href().to_owned());
        move || {
            provide_context(services.clone());
            provide_context(console.clone());
            provide_context(stylesheet.clone());
            provide_context(app::ssr::ApiReferenceDoc(crate::admin_api::openapi_json()));
            if let Some(nonce) = use_context::<http::request::Parts>().and_then(|p| {
                p.extensions
                    .get::<security::CspNonce>()
                    .map(|n| n.0.clone())
            }) {
                provide_context(leptos::nonce::Nonce::from_value(nonce));
            }
        }
    };
    let shell = {
        let options = state.leptos_options.clone();
        move || app::shell(options.clone())
    };
    let x_request_id = http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/scim/v2", crate::scim::router(state.clone()))
        .merge(crate::sso::router())
        .merge(crate::oauth::browser_router())
        .route(
            "/console/audit/export",
            get(crate::http::audit_export::console_export),
        )
        .leptos_routes_with_context(&state, routes, ctx.clone(), shell.clone())
        .nest("/pkg", state.site.pkg_router())
        .fallback({
            // A file at the site's root (the favicon), else the app's 404
            // page.
            let not_found = leptos_axum::render_app_to_stream_with_context(ctx, shell);
            move |axum::extract::State(state): axum::extract::State<AppState>,
                  req: axum::extract::Request| async move {
                match state.site.root_file(req.uri().path(), req.headers()) {
                    Some(file) => file,
                    None => not_found(req).await,
                }
            }
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::resolve_session))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::refuse_cross_site))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(max_body_bytes, too_large::explain_too_large))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::security_headers))
        // Pages, server functions' and SCIM's JSON, compressed when the
        // client asks (assets come precompressed and are left alone).
        .layer(compression())
        .layer(axum::middleware::from_fn(security::record_metrics))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .with_state(state.clone())
        // The gateway API takes no cookies and serves no HTML: it skips the
        // browser middleware (and its per-request cost on the poll path).
        .merge(
            crate::policy_api::router(&state, max_body_bytes)
                .merge(crate::oauth::api_router(&state, max_body_bytes))
                .merge(crate::admin_api::router(&state, max_body_bytes).layer(compression()))
                .layer(axum::middleware::from_fn_with_state(
                    max_body_bytes,
                    too_large::explain_too_large,
                ))
                .layer(axum::middleware::from_fn(security::record_api_metrics))
                .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
                .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid)),
        )
}

/// On-the-fly gzip or brotli for text answers the client accepts: a quick
/// level, since it runs per response.
fn compression() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Precise(4))
}

/// Starts serving per `config` until `shutdown` resolves.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let db = open_database(&config).await?;
    let services = services(&config, db)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("PORTCULLIS_ADDR: cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url_for(addr);
    let cookie_secure = public_url.starts_with("https://");
    let console = ConsoleConfig {
        public_url: public_url.clone(),
        cookie_name: if cookie_secure {
            "__Host-portcullis_session".to_owned()
        } else {
            "portcullis_session".to_owned()
        },
        cookie_secure,
    };
    let site = crate::http::assets::Site::open(config.site_root.as_deref())
        .map_err(|e| anyhow::anyhow!("PORTCULLIS_SITE_ROOT: {e:#}"))?;
    tracing::info!(site = %site.describe(), "serving the console's site");
    let leptos_options = site.leptos_options(addr);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let state = AppState {
        stopping: stop_rx.clone(),
        leptos_options,
        site,
        services: services.clone(),
        console,
        public_origin: origin_of(&public_url),
        metrics: crate::telemetry::metrics_handle(),
    };
    let setup_link = services
        .console
        .ensure_first_owner_link(&config.bootstrap_owner_email)
        .await?
        .map(|l| format!("{public_url}{}", l.path));
    // The first bundle is built (and the first signing key made) before
    // serving: gateways get an answer from memory from the first request,
    // and a secret key that cannot open the stored signing key stops the
    // start with a message saying so.
    // The access-token key is made before the first JWKS is published.
    services
        .oauth
        .token_key()
        .await
        .map_err(|e| anyhow::anyhow!("access-token signing key: {e}"))?;
    services
        .publisher
        .refresh()
        .await
        .map_err(|e| anyhow::anyhow!("policy bundle: {e}"))?;
    // The gateways' `If-None-Match` 304 is answered by the HTTP workers
    // before the router, from memory (see `http::serve`).
    let fast: serve::FastPaths = {
        let api = crate::policy_api::ApiState::from(&state);
        Arc::new(move || Box::new(api.fast_path()))
    };
    let app = router(state, config.max_body_bytes).layer(
        tower_http::timeout::RequestBodyTimeoutLayer::new(config.http_limits.body_timeout),
    );
    spawn_policy_tasks(&services, stop_rx.clone());
    let workers = portcullis_listener::worker_count(config.http_workers);
    let http = Arc::new(serve::Stats::new(workers));
    let served = serve::spawn(
        listener.into_std()?,
        workers,
        app,
        fast,
        http.clone(),
        serve::ListenerOptions {
            limits: config.http_limits.clone(),
            proxies: config.trusted_proxies.clone(),
        },
        stop_rx,
    )?;
    let done = tokio::spawn(async move {
        shutdown.await;
        // Long-polls end and the workers finish their connections.
        let _ = stop_tx.send(true);
        served
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    });
    Ok(Running {
        addr,
        public_url,
        setup_link,
        services,
        http,
        done,
    })
}

/// Runs `task` until the server stops.
fn spawn_until_stopped(
    mut stop: tokio::sync::watch::Receiver<bool>,
    task: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        tokio::select! {
            () = task => {},
            _ = stop.wait_for(|s| *s) => {},
        }
    });
}

/// The policy API's background work: keep the signed bundle current, relay
/// change signals from other replicas (PostgreSQL), and write gateway polls
/// every few seconds.
fn spawn_policy_tasks(services: &Services, stop: tokio::sync::watch::Receiver<bool>) {
    spawn_until_stopped(stop.clone(), services.publisher.clone().run());
    let db = services.db().clone();
    spawn_until_stopped(stop.clone(), async move {
        loop {
            if let Err(e) = db.listen().await {
                tracing::warn!(error = %e, "change listener stopped; restarting");
            } else if db.backend() == portcullis_domain::Backend::Sqlite {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let gateways = services.gateways.clone();
    spawn_until_stopped(stop.clone(), async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Err(e) = gateways.flush_polls().await {
                tracing::warn!(error = %e, "could not record gateway polls; will retry");
            }
        }
    });
    // Write what is left at shutdown.
    let gateways = services.gateways.clone();
    let mut stopped = stop;
    tokio::spawn(async move {
        if stopped.wait_for(|s| *s).await.is_ok() {
            let _ = gateways.flush_polls().await;
        }
    });
}

/// Deletes expired sessions, throttling records, SSO sign-ins in flight and
/// SAML replay entries, reaps unused registered OAuth clients, and lists
/// expired agents as inactive in the policy, every ten minutes.
pub fn spawn_housekeeping(services: Services) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let purged = match services.console.purge_expired().await {
                Ok(n) => match services.sso.purge_expired().await {
                    Ok(m) => match services.oauth.purge_expired().await {
                        Ok(o) => services
                            .api_keys
                            .purge_expired()
                            .await
                            .map(|k| n + m + o + k),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match purged {
                Ok(n) if n > 0 => tracing::info!(
                    rows = n,
                    "housekeeping: purged expired sessions and records"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
            match services.oauth.reap_unused().await {
                Ok(n) if n > 0 => tracing::info!(
                    clients = n,
                    "housekeeping: removed registered OAuth clients unused past the policy's days"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping: reaping OAuth clients failed"),
            }
            match services.agents.retire_expired().await {
                Ok(n) if n > 0 => tracing::info!(
                    agents = n,
                    "housekeeping: listed expired agents as inactive in the policy"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "housekeeping: retiring expired agents failed")
                }
            }
        }
    });
}

/// Signs a checkpoint of the audit chain when one is due and sends the
/// checkpoints the witness has not taken yet (every
/// [`portcullis_domain::audit::CHECKPOINT_TICK`]).
pub fn spawn_audit_checkpoints(services: Services) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(portcullis_domain::audit::CHECKPOINT_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = services.audit.checkpoint_if_due().await {
                tracing::warn!(error = %e, "signing an audit checkpoint failed");
            }
            if let Err(e) = services.audit.push_to_witness().await {
                tracing::warn!(error = %e, "sending audit checkpoints to the witness failed");
            }
        }
    });
}

/// Runs audit retention (`AuditService::purge`) at start and then every
/// `RETENTION_TICK` (an hour).
pub fn spawn_audit_retention(services: Services) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(portcullis_domain::audit::retention::RETENTION_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let actor = portcullis_domain::Actor::system("audit retention");
        loop {
            tick.tick().await;
            match services.audit.purge(&actor).await {
                Ok(o) if o.held => {
                    tracing::info!("audit retention skipped: a legal hold is in place")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "audit retention failed"),
            }
        }
    });
}

/// Streams the audit log to its destinations (`AuditService::deliver_due`)
/// every `STREAM_TICK` (2 s).
pub fn spawn_audit_streaming(services: Services) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(portcullis_domain::audit::sinks::STREAM_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = services.audit.deliver_due().await {
                tracing::warn!(error = %e, "audit streaming failed");
            }
        }
    });
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    portcullis_listener::shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
}
