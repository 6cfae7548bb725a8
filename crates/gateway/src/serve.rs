//! Serving: one thread per core, each with its own single-threaded tokio
//! runtime and its own connections to the upstreams.
//!
//! `workers` threads (default: one per CPU this process may use) each
//! accept from the one listening socket and serve the connections they
//! accepted to the end. A request is read, checked, decided, sent upstream
//! and relayed on the thread that accepted its connection, and the
//! upstream connection it goes out on belongs to that thread too (each
//! worker has its own HTTP client, whose connection tasks run on the
//! worker's runtime). So a call never wakes another thread: on a
//! multi-threaded runtime the client connection task, the server
//! connection task and the handler hop between workers, and those
//! wake-ups (futex, epoll, eventfd) cost more CPU than the proxying.
//! The policy loop, the decision sender and the change reports run on the
//! runtime that called [`crate::start`].
//!
//! One socket shared by all workers (not one `SO_REUSEPORT` socket each):
//! a second gateway on the same port fails to start instead of silently
//! taking half the connections. Connections are served by `hyper-util`'s
//! auto (HTTP/1.1 + h2c) builder as in `axum::serve`, with `TCP_NODELAY`
//! and a graceful shutdown that lets requests in flight finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::Gateway;

/// What a request handler runs with: the shared gateway and the worker's
/// own upstream client.
#[derive(Clone)]
pub(crate) struct Worker {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) upstream_http: reqwest::Client,
}

/// How many workers `configured` (0: one per CPU this process may use)
/// means.
pub fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The client for the upstreams, one per worker: no redirects (a redirect
/// could carry the upstream credential elsewhere), no overall timeout (SSE
/// streams are long; the time to the response headers is bounded per
/// request).
pub(crate) fn upstream_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
}

/// Serves `router(worker)` on `listener` with `workers` threads until `stop`
/// turns true; the handle resolves (on the calling runtime) when every
/// worker has finished its connections or the shutdown grace ran out.
pub(crate) fn spawn(
    listener: std::net::TcpListener,
    workers: usize,
    gateway: Arc<Gateway>,
    router: fn(Worker) -> Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let mut finished = Vec::with_capacity(workers);
    for i in 0..workers {
        let listener = listener.try_clone()?;
        let worker = Worker {
            gateway: gateway.clone(),
            upstream_http: upstream_client()?,
        };
        let stop = stop.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || {
                let grace = worker.gateway.config.limits.shutdown_grace;
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(serve_worker(listener, router(worker), stop, grace)),
                    Err(e) => tracing::error!(error = %e, "cannot start a worker's runtime"),
                }
                let _ = tx.send(());
            })?;
        finished.push(rx);
    }
    Ok(tokio::spawn(async move {
        for rx in finished {
            let _ = rx.await;
        }
    }))
}

/// One worker: accept, serve, and at `stop` give the open connections
/// `grace` to finish (long SSE streams too).
async fn serve_worker(
    listener: std::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "a worker cannot use the listening socket");
            return;
        }
    };
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        // No Nagle: small JSON-RPC answers and SSE events go out at once.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let app = app.clone();
            async move {
                let res = app.oneshot(req).await;
                Ok::<_, Infallible>(res.unwrap_or_else(|never| match never {}))
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(tcp), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open at the shutdown deadline were cut");
    }
}

/// As `axum::serve`: a peer that went away is nothing; anything else
/// (e.g. out of file descriptors) is logged and accepting pauses a second.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
