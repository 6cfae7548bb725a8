//! The HTTP listener both Portcullis binaries serve on — the console and
//! the reference gateway — so that each has the same protections against
//! slow and numerous clients (issue 20).
//!
//! The model is nginx's: a few worker threads, each with its own
//! single-threaded tokio runtime, accept from one listening socket and
//! serve the connections they accepted to the end ([`serve_worker`] is one
//! worker's loop; each binary starts the threads and decides what a
//! request does). Every connection is held to [`HttpLimits`]:
//!
//! - the caps on open connections, in all and per source address, checked
//!   as it is accepted (over a cap it is closed before anything is read);
//! - the header-read and keep-alive idle timeouts, enforced by its I/O
//!   ([`limits::TimedIo`], see [`limits`]);
//! - at shutdown, a deadline after which connections still busy are cut.
//!
//! The request-body timeout is applied where a body is read (it needs the
//! handler's notion of "reading the body"). A request is *in flight* from
//! its head until its response body is sent in full: a response whose body
//! is produced lazily (an SSE stream, streamed HTML) carries its
//! [`RequestGuard`] in a [`Guarded`] body, so a long stream is never taken
//! for an idle connection.
//!
//! Hand-written rather than `axum::serve` because that runs every
//! connection on the runtime that calls it and has no connection limits;
//! connections are served by `hyper-util`'s auto (HTTP/1.1 + h2c) builder
//! as in `axum::serve`, with its accept-error handling and `TCP_NODELAY`.
//! One socket shared by all workers (not one `SO_REUSEPORT` socket each):
//! a second process on the same port fails to start instead of silently
//! taking half the connections.

pub mod limits;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;

use limits::TimedIo;
pub use limits::{ConnClock, ConnectionGate, HttpLimits, Observer, RequestGuard};

/// How many workers `configured` (0: one per CPU this process may use)
/// means.
pub fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// One worker: accepts from `listener` until `stop` turns true, serving
/// each admitted connection with the service `service_for(peer, clock)`
/// makes for it; then gives the open connections until
/// `limits.shutdown_timeout` to finish, and cuts the rest.
///
/// The service must take a [`RequestGuard`] from `clock` for each request
/// (`clock.request()`) and keep it until the response is complete (with
/// the body, see [`Guarded`], when that is produced lazily): that is what
/// tells the connection's I/O a request is in flight.
pub async fn serve_worker<F, S, B>(
    listener: tokio::net::TcpListener,
    limits: &HttpLimits,
    gate: &Arc<ConnectionGate>,
    mut stop: watch::Receiver<bool>,
    mut service_for: F,
) where
    F: FnMut(SocketAddr, Arc<ConnClock>) -> S,
    S: Service<Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let admitted = match gate.admit(peer.ip()) {
            Ok(a) => a,
            Err(cap) => {
                // Closed before anything is read: over a cap, a connection
                // costs nothing but the accept (the gate told the observer).
                tracing::debug!(%peer, cap, "connection refused: too many open connections");
                continue;
            }
        };
        // No Nagle: small JSON answers, SSE events and streamed HTML go
        // out at once (otherwise delayed ACKs add ~40 ms to a response).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let clock = ConnClock::new();
        let io = TimedIo::new(tcp, clock.clone(), limits, gate.observer());
        let conn = builder
            .serve_connection(TokioIo::new(io), service_for(peer, clock))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _admitted = admitted;
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still busy at the shutdown deadline were cut");
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

/// A response body that keeps its request in flight until it is sent in
/// full or dropped.
pub struct Guarded<B> {
    body: B,
    _guard: RequestGuard,
}

impl<B> Guarded<B> {
    pub fn new(body: B, guard: RequestGuard) -> Self {
        Guarded {
            body,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Resolves at Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
