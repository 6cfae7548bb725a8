//! Connection limits: how long a client may take to send a request head,
//! how long a kept-alive connection may sit idle, and how many connections
//! may be open (in all, and from one address).
//!
//! hyper has a header-read timeout, but it runs from the end of the
//! previous response, so it is also the keep-alive idle timeout, and it
//! needs a timer the server did not have (6,000 connections that never
//! finished their headers stayed open). Here both are enforced by the
//! connection's I/O ([`TimedIo`]): while no request is in flight, a read
//! that would wait past the deadline fails the connection instead — the
//! deadline being `header_timeout` after a new connection or after the
//! first byte of a new request, and `idle_timeout` after the previous
//! response was sent in full. While a request is in flight nothing here
//! applies (long-polls wait as long as they are meant to); the request
//! body has its own timeout, applied where the body is read (the console:
//! a tower-http layer on the router; the gateway: around its bounded read).
//!
//! Connections over a cap are closed as soon as they are accepted, before
//! anything is read; every refusal and timeout is reported to the
//! listener's [`Observer`] (both binaries count them on `/metrics`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Told of every connection the listener refuses or times out, to count
/// them (each binary has its own metrics).
pub trait Observer: Send + Sync + 'static {
    /// A connection over a cap (`"total"` or `"per_ip"`) was closed unread.
    fn refused(&self, cap: &'static str);
    /// A connection was closed by its `"header"` or `"idle"` timeout.
    fn timed_out(&self, phase: &'static str);
}

/// The listener's limits (the console's `PORTCULLIS_HTTP_*`, the
/// gateway's `[limits]`).
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A new connection, or a request whose first byte arrived, must have
    /// sent its whole request head within this.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// A request body must arrive in full within this after its head.
    pub body_timeout: Duration,
    /// Open connections, in all.
    pub max_connections: usize,
    /// Open connections from one source address.
    pub max_connections_per_ip: usize,
    /// How long requests in flight get to finish at shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Counts open connections, in all and per source address.
#[derive(Debug)]
pub struct ConnectionGate {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// An admitted connection: counted until dropped.
#[derive(Debug)]
pub struct Admitted {
    gate: Arc<ConnectionGate>,
    ip: IpAddr,
}

impl ConnectionGate {
    /// A gate for `limits`' caps that reports refusals (and, through the
    /// connections' [`TimedIo`], timeouts) to `observer`.
    pub fn new(limits: &HttpLimits, observer: Arc<dyn Observer>) -> Arc<Self> {
        Arc::new(ConnectionGate {
            max_total: limits.max_connections.max(1),
            max_per_ip: limits.max_connections_per_ip.max(1),
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            observer,
        })
    }

    /// Who is told of refusals and timeouts.
    pub fn observer(&self) -> Arc<dyn Observer> {
        self.observer.clone()
    }

    /// Admits a connection from `ip`, or says which cap it is over (and
    /// tells the observer).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, &'static str> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            self.observer.refused("total");
            return Err("total");
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            drop(per_ip);
            self.total.fetch_sub(1, Ordering::AcqRel);
            self.observer.refused("per_ip");
            return Err("per_ip");
        }
        *n += 1;
        Ok(Admitted {
            gate: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_ip = self.gate.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        drop(per_ip);
        self.gate.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// No request head is being read.
const NONE: u64 = u64::MAX;

/// One connection's state, shared by its I/O and its requests.
#[derive(Debug)]
pub struct ConnClock {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the connection last became idle (ms since `opened`).
    idle_since: AtomicU64,
    /// When the head being read started (ms since `opened`), or [`NONE`].
    head_started: AtomicU64,
    /// The connection's reader, woken when the last request in flight
    /// finishes, so its deadline is armed even if the server already
    /// waits to read (it reads while a request is in flight, to notice a
    /// client that went away).
    reader: AtomicWaker,
}

impl ConnClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ConnClock {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection is expected to send a request at once.
            head_started: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// A request head was read: from now on it is in flight.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
    }

    /// Its response was sent (or abandoned).
    pub fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since.store(self.now_ms(), Ordering::Release);
            self.reader.wake();
        }
    }

    /// The guard of one request: finishes it when dropped.
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.request_started();
        RequestGuard(self.clone())
    }

    fn deadline(&self, limits: &Timeouts) -> Instant {
        let head = self.head_started.load(Ordering::Acquire);
        let at = if head != NONE {
            Duration::from_millis(head) + limits.header
        } else {
            Duration::from_millis(self.idle_since.load(Ordering::Acquire)) + limits.idle
        };
        self.opened + at
    }
}

/// Finishes its request when dropped.
#[derive(Debug)]
pub struct RequestGuard(Arc<ConnClock>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

#[derive(Clone, Copy, Debug)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

/// A connection's I/O that fails its reads past the header or idle
/// deadline (see the module docs).
pub struct TimedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
    observer: Arc<dyn Observer>,
    timeouts: Timeouts,
    sleep: Pin<Box<Sleep>>,
    armed: Instant,
}

impl<T> TimedIo<T> {
    pub fn new(
        inner: T,
        clock: Arc<ConnClock>,
        limits: &HttpLimits,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let timeouts = Timeouts {
            header: limits.header_timeout,
            idle: limits.idle_timeout,
        };
        let armed = clock.deadline(&timeouts);
        TimedIo {
            inner,
            clock,
            observer,
            timeouts,
            sleep: Box::pin(tokio::time::sleep_until(armed)),
            armed,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let clock = &this.clock;
                if buf.filled().len() > before
                    && clock.in_flight.load(Ordering::Acquire) == 0
                    && clock.head_started.load(Ordering::Acquire) == NONE
                {
                    // The first byte of the next request: its head is due
                    // within the header timeout.
                    clock.head_started.store(clock.now_ms(), Ordering::Release);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.clock.in_flight.load(Ordering::Acquire) > 0 {
                    this.clock.reader.register(cx.waker());
                    // Finished meanwhile: its wake-up may have been missed.
                    if this.clock.in_flight.load(Ordering::Acquire) > 0 {
                        return Poll::Pending;
                    }
                }
                let deadline = this.clock.deadline(&this.timeouts);
                if deadline != this.armed {
                    this.sleep.as_mut().reset(deadline);
                    this.armed = deadline;
                }
                if this.sleep.as_mut().poll(cx).is_ready() {
                    let phase = if this.clock.head_started.load(Ordering::Acquire) == NONE {
                        "idle"
                    } else {
                        "header"
                    };
                    this.observer.timed_out(phase);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connection closed: {phase} timeout"),
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what it is told.
    #[derive(Default)]
    struct Counted(Mutex<Vec<&'static str>>);

    impl Observer for Counted {
        fn refused(&self, cap: &'static str) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(cap);
        }
        fn timed_out(&self, phase: &'static str) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(phase);
        }
    }

    #[test]
    fn the_gate_caps_in_all_and_per_address() {
        let counted = Arc::new(Counted::default());
        let gate = ConnectionGate::new(
            &HttpLimits {
                max_connections: 3,
                max_connections_per_ip: 2,
                ..HttpLimits::default()
            },
            counted.clone(),
        );
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = gate
            .admit(a)
            .unwrap_or_else(|e| panic!("first from a: {e}"));
        let _a2 = gate
            .admit(a)
            .unwrap_or_else(|e| panic!("second from a: {e}"));
        assert_eq!(gate.admit(a).err(), Some("per_ip"));
        let b1 = gate
            .admit(b)
            .unwrap_or_else(|e| panic!("first from b: {e}"));
        assert_eq!(gate.admit(b).err(), Some("total"));
        assert_eq!(gate.open(), 3);
        drop(a1);
        drop(b1);
        assert_eq!(gate.open(), 1);
        let _a3 = gate
            .admit(a)
            .unwrap_or_else(|e| panic!("a has room again: {e}"));
        let _b2 = gate
            .admit(b)
            .unwrap_or_else(|e| panic!("b has room again: {e}"));
        assert_eq!(gate.open(), 3);
        assert_eq!(
            *counted.0.lock().unwrap_or_else(|e| e.into_inner()),
            ["per_ip", "total"],
            "each refusal is reported with its cap"
        );
    }
}
