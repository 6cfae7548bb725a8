//! Response bodies written by a task as they are produced (audit export):
//! the task gets an [`AsyncWrite`] whose bytes become the body's chunks
//! through a small bounded channel, so a slow reader slows the writer
//! instead of filling memory. If the task fails, the body ends with an
//! error: the connection is cut before the final chunk, and the client sees
//! a broken transfer rather than a short file that looks whole.
//!
//! Hand-written because `tokio::io::duplex` cannot carry the task's error
//! to the reader; `tokio_util::sync::PollSender` does the back-pressure.

use axum::body::Body;
use axum::body::Bytes;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// Chunks in flight between the task and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// The writer half: each write becomes one chunk of the body.
pub struct ChannelWriter {
    tx: PollSender<Result<Bytes, io::Error>>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.tx.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            ))),
            Poll::Ready(Ok(())) => match self.tx.send_item(Ok(Bytes::copy_from_slice(buf))) {
                Ok(()) => Poll::Ready(Ok(buf.len())),
                Err(_) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the client went away",
                ))),
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A body produced by `write`, run as a task. Its error ends the body with
/// an error (logged here).
pub fn spawn_body<F, Fut>(write: F) -> Body
where
    F: FnOnce(ChannelWriter) -> Fut + Send + 'static,
    Fut: Future<Output = portcullis_domain::Result<()>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHANNEL_CHUNKS);
    let on_error = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = write(ChannelWriter {
            tx: PollSender::new(tx),
        })
        .await
        {
            tracing::warn!(error = %e, "a streamed response failed part way");
            let _ = on_error.send(Err(io::Error::other(e.to_string()))).await;
        }
    });
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
