//! Serving HTTP: nginx's worker model on tokio.
//!
//! `PORTCULLIS_HTTP_WORKERS` threads (default: one per CPU this process may
//! use) each run a single-threaded tokio runtime that accepts from the one
//! listening socket and serves the connections it accepted: parsing,
//! keep-alive and writing never cross threads. Before the router, each
//! request is offered to the worker's own *fast path*, which may answer
//! from memory, at once or after waiting on memory (the gateways'
//! `If-None-Match` 304 and their long-polls, see
//! [`crate::policy_api::PollFastPath`]). Everything
//! else is handed to the application runtime (the multi-threaded one
//! [`crate::server::start`] runs on), where the database pools, background
//! tasks and server-side rendering live; a response body that
//! is produced lazily (streamed HTML) is pumped there too and relayed back
//! frame by frame, so no application work ever runs on an HTTP worker.
//!
//! Hand-written rather than `axum::serve` because that runs every
//! connection on the runtime that calls it, with no hook before the
//! router; a 304 to a gateway is the hot path of the policy API (issue 6's
//! throughput target is nginx serving a static file). Connections are
//! served by `hyper-util`'s auto (HTTP/1.1 + h2c) builder as in
//! `axum::serve`, with the same accept-error handling, `TCP_NODELAY`, and a
//! graceful shutdown that finishes requests in flight.
//!
//! One socket shared by all workers (not one `SO_REUSEPORT` socket each):
//! a second process on the same port fails to start instead of silently
//! taking half the connections.
//!
//! Every connection is subject to the shared listener's limits
//! (`portcullis-listener`, which the gateway serves on too): the caps on
//! open connections (checked as it is accepted), the header and keep-alive
//! idle timeouts (enforced by its I/O), and at shutdown a deadline after
//! which connections still busy are cut. Behind trusted proxies the address
//! handlers see (`ConnectInfo`) is the client's ([`super::forwarded`]).

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;
use tower::ServiceExt;

use super::forwarded::TrustedProxies;
use portcullis_listener::{ConnectionGate, Guarded, HttpLimits, Observer, RequestGuard};

/// How the listener treats connections: its limits, and whose forwarding
/// headers it believes.
#[derive(Clone, Debug, Default)]
pub struct ListenerOptions {
    pub limits: HttpLimits,
    pub proxies: TrustedProxies,
}

/// Answers some requests from memory on an HTTP worker, before the
/// router. Each worker gets its own (from a [`FastPaths`] factory), so it
/// may keep per-worker caches and counts without sharing cache lines with
/// the other workers.
pub trait FastPath: Send + Sync {
    /// The answer, or `None` to send the request through the router.
    fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<FastAnswer>;
    /// Called on the worker about once a second (publish buffered counts).
    fn tick(&self) {}
}

/// A fast path's answer: at once, or later from memory.
pub enum FastAnswer {
    /// Written at once.
    Now(Response),
    /// Awaited on the worker. Only for futures that wait on memory (a
    /// `watch` channel, a timer) and then answer from memory — never
    /// database I/O or heavy work, which belongs on the application
    /// runtime. Dropped if the client goes away first.
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
}

/// Makes one [`FastPath`] per worker.
pub type FastPaths = Arc<dyn Fn() -> Box<dyn FastPath> + Send + Sync>;

/// Where this server's requests were answered (the metrics are
/// process-wide; these count one server). One slot per worker, each on
/// its own cache line.
#[derive(Debug)]
pub struct Stats {
    workers: Box<[WorkerStats]>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct WorkerStats {
    from_memory: AtomicU64,
    routed: AtomicU64,
}

impl Stats {
    /// Slots for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Stats {
            workers: (0..workers.max(1))
                .map(|_| WorkerStats::default())
                .collect(),
        }
    }

    /// Requests answered by the fast path, on an HTTP worker.
    pub fn from_memory(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.from_memory.load(Ordering::Relaxed))
            .sum()
    }

    /// Requests answered by the router, on the application runtime.
    pub fn routed(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.routed.load(Ordering::Relaxed))
            .sum()
    }
}

/// Counts the listener's refusals and timeouts in the process-wide
/// metrics (`http_connections_refused_total{reason}`,
/// `http_connection_timeouts_total{phase}`).
struct Counted;

impl Observer for Counted {
    fn refused(&self, cap: &'static str) {
        metrics::counter!("http_connections_refused_total", "reason" => cap).increment(1);
    }

    fn timed_out(&self, phase: &'static str) {
        metrics::counter!("http_connection_timeouts_total", "phase" => phase).increment(1);
    }
}

/// What every worker shares.
struct Shared {
    app: Router,
    limits: HttpLimits,
    proxies: TrustedProxies,
    gate: Arc<ConnectionGate>,
    /// The application runtime.
    app_rt: Handle,
    stats: Arc<Stats>,
}

/// One worker's own parts.
struct Worker {
    shared: Arc<Shared>,
    fast: Box<dyn FastPath>,
    index: usize,
}

/// Serves `app` on `listener` with `workers` worker threads until `stop`
/// turns true; the handle resolves (on the calling runtime) when every
/// worker has finished its connections (or cut them at the shutdown
/// deadline).
pub fn spawn(
    listener: std::net::TcpListener,
    workers: usize,
    app: Router,
    fast: FastPaths,
    stats: Arc<Stats>,
    options: ListenerOptions,
    stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    listener.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        app,
        gate: ConnectionGate::new(&options.limits, Arc::new(Counted)),
        limits: options.limits,
        proxies: options.proxies,
        app_rt: Handle::current(),
        stats,
    });
    let mut finished = Vec::with_capacity(workers);
    for i in 0..workers {
        let listener = listener.try_clone()?;
        let worker = Worker {
            shared: shared.clone(),
            fast: fast(),
            index: i,
        };
        let stop = stop.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<std::io::Result<()>>();
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| rt.block_on(serve_worker(listener, Arc::new(worker), stop)));
                let _ = tx.send(result);
            })?;
        finished.push(rx);
    }
    Ok(tokio::spawn(async move {
        let mut result = Ok(());
        for rx in finished {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(std::io::Error::other("an HTTP worker panicked")),
            }
        }
        result
    }))
}

/// One worker: the shared listener's loop, with this worker's fast path
/// ticking beside it.
async fn serve_worker(
    listener: std::net::TcpListener,
    worker: Arc<Worker>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // Ends with the worker's runtime.
    let ticking = worker.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            ticking.fast.tick();
        }
    });
    let shared = worker.shared.clone();
    portcullis_listener::serve_worker(
        listener,
        &shared.limits,
        &shared.gate,
        stop,
        |peer, clock| {
            let worker = worker.clone();
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let worker = worker.clone();
                let guard = clock.request();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(&worker, req, peer, guard).await)
                }
            })
        },
    )
    .await;
    worker.fast.tick();
    Ok(())
}

/// The fast path's answer, or the router's (run on the application
/// runtime). `guard` marks the request in flight (no idle timeout) until
/// its response is complete: when the answer is, or with the body for one
/// produced lazily.
async fn handle(
    worker: &Worker,
    req: Request<Incoming>,
    peer: SocketAddr,
    guard: RequestGuard,
) -> Response {
    let shared = &worker.shared;
    // `Stats::new(workers)` has a slot per worker.
    let stats = &shared.stats.workers[worker.index];
    if let Some(answer) = worker.fast.answer(req.method(), req.uri(), req.headers()) {
        stats.from_memory.fetch_add(1, Ordering::Relaxed);
        return match answer {
            FastAnswer::Now(res) => res,
            FastAnswer::Later(res) => res.await,
        };
    }
    stats.routed.fetch_add(1, Ordering::Relaxed);
    // The client: the peer, or who a trusted proxy says it forwarded for.
    let client = shared.proxies.client(peer, req.headers());
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(ConnectInfo(client));
    let app = shared.app.clone();
    // Aborted if the client goes away first (a long-poll must not wait on).
    let task = AbortOnDropHandle::new(shared.app_rt.spawn(async move {
        let res = app.oneshot(req).await.unwrap_or_else(|e| match e {});
        relay_lazy_body(res)
    }));
    match task.await {
        Ok(res) if res.body().is_end_stream() || res.body().size_hint().exact().is_some() => res,
        Ok(res) => res.map(|body| Body::new(Guarded::new(body, guard))),
        Err(e) => {
            tracing::error!(error = %e, "request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// On the application runtime: a body whose size is known (bytes in
/// memory, the common case) goes back as it is; any other body is pumped
/// here and relayed, so rendering it stays off the HTTP workers.
fn relay_lazy_body(res: Response) -> Response {
    if res.body().is_end_stream() || res.body().size_hint().exact().is_some() {
        return res;
    }
    let (parts, mut body) = res.into_parts();
    let (tx, rx) = mpsc::channel(8);
    let pump = tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let failed = frame.is_err();
            if tx.send(frame).await.is_err() || failed {
                break;
            }
        }
    });
    Response::from_parts(
        parts,
        Body::new(Relayed {
            rx,
            _pump: AbortOnDropHandle::new(pump),
        }),
    )
}

/// A body relayed from the application runtime; dropping it (the client
/// went away) stops the pump.
struct Relayed {
    rx: mpsc::Receiver<Result<Frame<Bytes>, axum::Error>>,
    _pump: AbortOnDropHandle<()>,
}

impl http_body::Body for Relayed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
