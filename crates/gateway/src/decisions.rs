//! Decision logs: every `tools/call` decision, allowed or denied, goes to
//! the console's audit log (`POST /api/v1/decisions`) in batches.
//!
//! Records are queued in memory and sent in batches: 100 ms after the first
//! one, or at once when 500 are waiting. When the
//! console cannot take them they are appended to a spool file on disk
//! (`state_dir/decisions.spool`, one JSON record a line, arguments already
//! masked so no secret reaches the disk), which is sent first, oldest
//! first, once the console answers again. The spool is bounded
//! (`limits.max_spool_bytes`): past it records are dropped, counted on
//! `/metrics` and reported to the console in the status report — never
//! silently.
//!
//! Every record carries an id the gateway picks; the console records each
//! id once, so a batch sent again after a lost answer (or a spool sent
//! again after a crash) is not counted twice.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_types::gateway_api::{DecisionBatch, DecisionReport};
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;
use crate::sync::{without_url, PolicyState};

/// The console's batch limit.
const BATCH: usize = 500;
/// Records queued in memory before they go straight to the spool.
const QUEUE: usize = 20_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long records are gathered after the first one before a batch goes.
const COLLECT_FOR: Duration = Duration::from_millis(100);

/// The sending side, cloned into every request handler.
#[derive(Clone)]
pub struct DecisionLog {
    tx: mpsc::Sender<DecisionReport>,
    spool: Arc<Spool>,
}

pub struct Spool {
    path: PathBuf,
    max_bytes: u64,
    /// Serialises every access to the file.
    file: Mutex<()>,
    metrics: Arc<Metrics>,
    policy: Arc<PolicyState>,
}

impl Spool {
    /// Bytes waiting on disk.
    pub fn bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Appends records; drops (and counts, and reports) what does not fit.
    fn append(&self, records: &[DecisionReport]) {
        let _guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut size = self.bytes();
        let mut lines = Vec::new();
        let mut dropped = 0u64;
        for r in records {
            let Ok(mut line) = serde_json::to_vec(r) else {
                continue;
            };
            line.push(b'\n');
            if size + line.len() as u64 > self.max_bytes {
                dropped += 1;
                continue;
            }
            size += line.len() as u64;
            lines.extend_from_slice(&line);
        }
        let written = !lines.is_empty()
            && std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .and_then(|mut f| {
                    f.write_all(&lines)?;
                    f.sync_data()
                })
                .map_err(|e| tracing::error!(error = %e, "cannot write the decision spool"))
                .is_ok();
        let spooled = records.len() as u64 - dropped;
        if written {
            self.metrics.decisions_spooled.fetch_add(spooled, Relaxed);
        } else if spooled > 0 {
            dropped += spooled;
        }
        if dropped > 0 {
            let total = self.metrics.decisions_dropped.fetch_add(dropped, Relaxed) + dropped;
            tracing::error!(
                dropped,
                total,
                "the decision spool is full: decision records dropped"
            );
            self.policy.set_spool_error(Some(format!(
                "decision spool full ({} bytes): {total} decision records dropped",
                self.max_bytes
            )));
        }
    }

    /// The spooled records, oldest first.
    fn read(&self) -> Vec<DecisionReport> {
        let _guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    /// Empties the spool after everything in it (`count` records, read
    /// before) was accepted; records appended since are kept.
    fn consume(&self, count: usize) {
        let _guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(f) = std::fs::File::open(&self.path) else {
            return;
        };
        let rest: Vec<String> = std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .skip(count)
            .collect();
        let mut data = rest.join("\n").into_bytes();
        if !data.is_empty() {
            data.push(b'\n');
        }
        if let Err(e) = crate::sync::write_atomic(&self.path, &data) {
            tracing::error!(error = %e, "cannot rewrite the decision spool");
        }
        self.policy.set_spool_error(None);
    }
}

impl DecisionLog {
    /// The log and its sender task (run it until shutdown).
    pub fn new(
        state_dir: &std::path::Path,
        max_spool_bytes: u64,
        policy: Arc<PolicyState>,
        metrics: Arc<Metrics>,
    ) -> (DecisionLog, DecisionSender) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let spool = Arc::new(Spool {
            path: state_dir.join("decisions.spool"),
            max_bytes: max_spool_bytes,
            file: Mutex::new(()),
            metrics,
            policy: policy.clone(),
        });
        (
            DecisionLog {
                tx,
                spool: spool.clone(),
            },
            DecisionSender { rx, spool, policy },
        )
    }

    /// Queues a record; when the queue is full it goes to the spool.
    pub fn record(&self, decision: DecisionReport) {
        if let Err(mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) =
            self.tx.try_send(decision)
        {
            self.spool.append(&[d]);
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

/// The task that sends queued and spooled records.
pub struct DecisionSender {
    rx: mpsc::Receiver<DecisionReport>,
    spool: Arc<Spool>,
    policy: Arc<PolicyState>,
}

impl DecisionSender {
    /// Sends until `stop`; then sends (or spools) what is queued.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut buf = Vec::with_capacity(BATCH);
        let mut console_up = true;
        loop {
            let mut stopping = tokio::select! {
                n = self.rx.recv_many(&mut buf, BATCH) => n == 0,
                _ = tokio::time::sleep(FLUSH_EVERY) => false,
                _ = stop.changed() => true,
            };
            // Collect what arrives within the flush window. The queue is
            // not watched meanwhile: a receiver waiting on it would be woken
            // (another thread, a system call) by every decision.
            if !stopping && !buf.is_empty() && buf.len() < BATCH {
                stopping = tokio::select! {
                    _ = tokio::time::sleep(COLLECT_FOR) => false,
                    _ = stop.changed() => true,
                };
                while buf.len() < BATCH {
                    match self.rx.try_recv() {
                        Ok(d) => buf.push(d),
                        Err(_) => break,
                    }
                }
            }
            if stopping {
                while let Ok(d) = self.rx.try_recv() {
                    buf.push(d);
                }
            }
            if self.spool.bytes() > 0 && (console_up || !buf.is_empty() || stopping) {
                console_up = self.send_spool().await;
            }
            if !buf.is_empty() {
                let batch = std::mem::take(&mut buf);
                if !console_up || !self.send(&batch).await {
                    console_up = false;
                    self.spool.append(&batch);
                }
            } else if !console_up && self.spool.bytes() > 0 {
                console_up = self.send_spool().await;
            }
            if stopping {
                break;
            }
        }
    }

    /// Sends the spool in batches; true when it is empty afterwards.
    async fn send_spool(&self) -> bool {
        let records = self.spool.read();
        let mut sent = 0;
        for chunk in records.chunks(BATCH) {
            if !self.send(chunk).await {
                break;
            }
            sent += chunk.len();
        }
        if sent > 0 {
            self.spool.consume(sent);
        }
        sent == records.len()
    }

    async fn send(&self, batch: &[DecisionReport]) -> bool {
        let console = self.policy.console();
        let body = DecisionBatch {
            decisions: batch.to_vec(),
        };
        let res = console
            .http
            .post(console.url("/api/v1/decisions"))
            .header(http::header::AUTHORIZATION, console.bearer())
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {
                self.spool
                    .metrics
                    .decisions_sent
                    .fetch_add(batch.len() as u64, Relaxed);
                true
            }
            Ok(r) if r.status().as_u16() == 422 || r.status().as_u16() == 400 => {
                // The console will never take this batch; keeping it would
                // block every later one. Say so loudly.
                let text = r.text().await.unwrap_or_default();
                tracing::error!(body = %text, records = batch.len(), "the console refused a decision batch; dropped");
                self.spool
                    .metrics
                    .decisions_dropped
                    .fetch_add(batch.len() as u64, Relaxed);
                true
            }
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "decision batch not accepted; spooling"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %without_url(&e), "decision batch not sent; spooling");
                false
            }
        }
    }
}
