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
//! Each worker runs the console's listener loop (`portcullis-listener`), so
//! the gateway has the same protections against slow and numerous clients:
//! header-read and keep-alive idle timeouts, caps on open connections (in
//! all and per source address, shared by the workers), and a shutdown
//! deadline, from the `[limits]` table. A response is in flight until its
//! body is sent in full, so an SSE stream is never cut as idle. Refusals
//! and timeouts are counted on `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use portcullis_listener::{ConnectionGate, Guarded, HttpLimits};
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
pub use portcullis_listener::worker_count;

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
    let limits = gateway.config.limits.listener.clone();
    // One gate for all workers: the caps are the process's.
    let gate = ConnectionGate::new(&limits, gateway.metrics.clone());
    let mut finished = Vec::with_capacity(workers);
    for i in 0..workers {
        let listener = listener.try_clone()?;
        let worker = Worker {
            gateway: gateway.clone(),
            upstream_http: upstream_client()?,
        };
        let stop = stop.clone();
        let (limits, gate) = (limits.clone(), gate.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => {
                        rt.block_on(serve_worker(listener, router(worker), limits, gate, stop))
                    }
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

/// One worker: the shared listener's loop, each request through `app`
/// and its response guarded until sent in full.
async fn serve_worker(
    listener: std::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    gate: Arc<ConnectionGate>,
    stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "a worker cannot use the listening socket");
            return;
        }
    };
    portcullis_listener::serve_worker(listener, &limits, &gate, stop, |_peer, clock| {
        let app = app.clone();
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let app = app.clone();
            let guard = clock.request();
            async move {
                let res = app
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(res.map(|body| Guarded::new(body, guard)))
            }
        })
    })
    .await;
}
