//! Audit streaming to SIEMs (issue #19, item 6): webhook (batched JSON,
//! HMAC-signed), syslog (RFC 5424 over TCP or TLS) and Splunk HEC.
//!
//! - **The log is the outbox.** Each destination keeps a cursor, the last
//!   event it accepted. [`AuditService::deliver_due`] sends the events after
//!   it in order, in batches of [`BATCH`], and moves the cursor only after
//!   the destination accepted the batch (a 2xx; for syslog, every byte
//!   written and the connection closed cleanly). A crash in between resends
//!   the batch: delivery is at least once, and every event carries its id
//!   (`evt_…`) and seq to deduplicate on. Nothing is lost while a
//!   destination is down: the events wait in the log (retention permitting).
//! - **Retries with backoff**: a failed attempt is recorded (the error, the
//!   count in a row) and the next is due after 1, 2, 4 … 60 seconds.
//! - **Replicas**: a destination is leased for [`LEASE`] while one replica
//!   sends, and the cursor only moves from where that replica read it.
//! - **Through the SSRF guard**: webhooks and HEC are fetched like any
//!   outbound URL; syslog connects through `Guard::connect`, which applies
//!   the same address rules (loopback and private hosts need
//!   `PORTCULLIS_FETCH_ALLOWED_HOSTS`) and verifies TLS certificates.
//! - Adding, pausing, resuming and removing a destination are owner actions
//!   (`AuditManage`), audited; the webhook key and the HEC token are sealed
//!   with the instance's secret key and never shown again.
//!
//! Files: this one the service, `model` the checked input and the listed
//! form, `format` the wire formats, `store` the SQL.

mod format;
mod model;
mod store;

use super::{append, AuditService, NewEvent, Target};
use crate::actor::{Actor, Permission};
use crate::clock::new_id;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use model::{NewSink, SyslogTarget};
use portcullis_discovery::FetchRequest;
use portcullis_types::{AuditRecord, AuditSinkId, AuditSinkInput, AuditSinkKind, AuditSinkSummary};
use serde_json::json;
use std::time::Duration;
use store::SinkRow;
use tokio::io::AsyncWriteExt;

/// How often the server delivers to the destinations that are due.
pub const STREAM_TICK: Duration = Duration::from_secs(2);

/// Events per batch (one webhook or HEC request, one syslog connection).
pub const BATCH: i64 = 500;

/// Batches sent to one destination per pass, so one busy destination does
/// not hold up the others.
const BATCHES_PER_PASS: usize = 20;

/// How long a replica holds a destination while it sends.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// The longest wait between attempts.
const MAX_BACKOFF_SECS: i64 = 60;

/// Deadline for one batch to one syslog destination.
const SYSLOG_TIMEOUT: Duration = Duration::from_secs(10);

/// The seal purpose of a destination's secret.
fn purpose(id: &str) -> String {
    format!("audit_sink:{id}")
}

/// The wait after `failures` failed attempts in a row: 1, 2, 4 … 60 s.
fn backoff(failures: i64) -> chrono::Duration {
    let exp = (failures - 1).clamp(0, 6) as u32;
    chrono::Duration::seconds((1i64 << exp).min(MAX_BACKOFF_SECS))
}

impl AuditService {
    /// Every destination with its health and lag. **Permission:** `AuditRead`.
    pub async fn list_sinks(&self, actor: &Actor) -> Result<Vec<AuditSinkSummary>> {
        actor.require(Permission::AuditRead)?;
        let db = &self.core.db;
        let head = super::store::head(db.exec()).await?;
        let mut out = Vec::new();
        for row in store::list(db.exec()).await? {
            let oldest = if row.cursor_seq < head.seq {
                store::first_after(db.exec(), row.cursor_seq).await?
            } else {
                None
            };
            out.push(row.into_summary(head.seq, oldest)?);
        }
        Ok(out)
    }

    /// Adds a destination; it receives the events after the newest one now
    /// (starting with its own `audit.sink.created`). **Permission:**
    /// `AuditManage` (owners).
    pub async fn create_sink(
        &self,
        actor: &Actor,
        input: &AuditSinkInput,
    ) -> Result<AuditSinkSummary> {
        actor.require(Permission::AuditManage)?;
        let guard = &self.guard;
        let sink = NewSink::parse(input, |url| {
            guard.check_url(url).map(|_| ()).map_err(|e| e.to_string())
        })?;
        let now = self.core.clock.now();
        let id = new_id("sink");
        let secret_sealed = match &sink.secret {
            Some(s) => Some(
                self.core
                    .settings
                    .secrets
                    .seal(&purpose(&id), s.as_bytes())?,
            ),
            None => None,
        };
        let mut tx = self.core.db.begin().await?;
        if store::name_taken(&mut tx, &sink.name).await? {
            return Err(Error::Conflict {
                field: "name".into(),
                message: format!("a destination is already named {}", sink.name),
            });
        }
        let head = super::store::lock_head(&mut tx).await?;
        store::insert(
            &mut tx,
            &store::NewSink {
                id: &id,
                name: &sink.name,
                kind: sink.kind.as_str(),
                url: &sink.url,
                secret_sealed,
                created_by: &actor.display,
                created_at: now,
                cursor_seq: head.seq,
            },
        )
        .await?;
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.sink.created")
                .target(Target::new("audit_sink", &id, &sink.name))
                .details(json!({ "kind": sink.kind.as_str(), "url": sink.url })),
        )
        .await?;
        tx.commit().await?;
        self.sink(&id).await
    }

    /// Pauses (events wait in the log) or resumes a destination.
    /// **Permission:** `AuditManage` (owners).
    pub async fn set_sink_enabled(
        &self,
        actor: &Actor,
        id: &AuditSinkId,
        enabled: bool,
    ) -> Result<AuditSinkSummary> {
        actor.require(Permission::AuditManage)?;
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin().await?;
        let row = store::get(tx.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("audit streaming destination"))?;
        store::set_enabled(&mut tx, id.as_str(), enabled).await?;
        let action = if enabled {
            "audit.sink.resumed"
        } else {
            "audit.sink.paused"
        };
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action).target(Target::new("audit_sink", id.as_str(), &row.name)),
        )
        .await?;
        tx.commit().await?;
        self.sink(id.as_str()).await
    }

    /// Removes a destination; nothing more is sent to it. **Permission:**
    /// `AuditManage` (owners).
    pub async fn delete_sink(&self, actor: &Actor, id: &AuditSinkId) -> Result<()> {
        actor.require(Permission::AuditManage)?;
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin().await?;
        let row = store::get(tx.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("audit streaming destination"))?;
        store::delete(&mut tx, id.as_str()).await?;
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.sink.deleted")
                .target(Target::new("audit_sink", id.as_str(), &row.name))
                .details(json!({
                    "kind": row.kind,
                    "url": row.url,
                    "delivered_through_seq": row.cursor_seq,
                })),
        )
        .await?;
        tx.commit().await
    }

    async fn sink(&self, id: &str) -> Result<AuditSinkSummary> {
        let db = &self.core.db;
        let head = super::store::head(db.exec()).await?;
        let row = store::get(db.exec(), id)
            .await?
            .ok_or(Error::NotFound("audit streaming destination"))?;
        let oldest = store::first_after(db.exec(), row.cursor_seq).await?;
        row.into_summary(head.seq, oldest)
    }

    /// Sends what is due to every enabled destination whose next attempt
    /// has come (see the module docs). Returns how many events were
    /// accepted. A destination's failure is recorded on it, not returned.
    pub async fn deliver_due(&self) -> Result<i64> {
        let db = &self.core.db;
        let now = self.core.clock.now();
        let mut accepted = 0;
        for sink in store::due(db.exec(), now).await? {
            if !store::lease(db.write(), &sink.id, now, now + LEASE).await? {
                continue;
            }
            let result = self.deliver(&sink, now).await;
            store::release(db.write(), &sink.id).await?;
            accepted += result?;
        }
        Ok(accepted)
    }

    async fn deliver(&self, sink: &SinkRow, now: DateTime<Utc>) -> Result<i64> {
        let db = &self.core.db;
        let mut cursor = sink.cursor_seq;
        let mut accepted = 0;
        for _ in 0..BATCHES_PER_PASS {
            let rows = super::store::from_seq(db.exec(), cursor + 1, BATCH).await?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break;
            };
            let n = rows.len() as i64;
            let records = rows
                .into_iter()
                .map(|r| r.into_record(false))
                .collect::<Result<Vec<_>>>()?;
            match self.send(sink, &records, now).await {
                Ok(()) => {
                    store::delivered(db.write(), &sink.id, cursor, last, n, now).await?;
                    cursor = last;
                    accepted += n;
                }
                Err(error) => {
                    tracing::warn!(sink = %sink.name, %error, "audit streaming: the destination did not take a batch");
                    let next = now + backoff(sink.failures + 1);
                    store::failed(db.write(), &sink.id, &error, now, next).await?;
                    break;
                }
            }
            if n < BATCH {
                break;
            }
        }
        Ok(accepted)
    }

    /// Sends one batch; `Err` says why it was not accepted.
    async fn send(
        &self,
        sink: &SinkRow,
        records: &[AuditRecord],
        now: DateTime<Utc>,
    ) -> std::result::Result<(), String> {
        let kind: AuditSinkKind = sink.kind.parse()?;
        let secret = match &sink.secret_sealed {
            Some(sealed) => Some(
                self.core
                    .settings
                    .secrets
                    .open(&purpose(&sink.id), sealed)
                    .map_err(|e| format!("the destination's secret does not open: {e}"))?,
            ),
            None => None,
        };
        let header = |v: &str| {
            http::HeaderValue::from_str(v).map_err(|_| "a header value is not valid".to_owned())
        };
        let request = match kind {
            AuditSinkKind::Syslog => return self.send_syslog(&sink.url, records).await,
            AuditSinkKind::Webhook => {
                let body = format::webhook_body(records)?;
                let signature = format::webhook_signature(
                    secret.as_deref().unwrap_or_default(),
                    now.timestamp(),
                    &body,
                )?;
                FetchRequest::post(sink.url.clone(), body)
                    .header(http::header::CONTENT_TYPE, header("application/json")?)
                    .header(
                        http::HeaderName::from_static("x-portcullis-signature"),
                        header(&signature)?,
                    )
            }
            AuditSinkKind::SplunkHec => {
                let token = String::from_utf8(secret.unwrap_or_default())
                    .map_err(|_| "the HEC token is not text".to_owned())?;
                FetchRequest::post(sink.url.clone(), format::hec_body(records)?)
                    .header(http::header::CONTENT_TYPE, header("application/json")?)
                    .header(
                        http::header::AUTHORIZATION,
                        header(&format!("Splunk {token}"))?,
                    )
            }
        };
        match self.guard.fetch(request).await {
            Ok(r) if r.status.is_success() => Ok(()),
            Ok(r) => Err(format!("the destination answered {}", r.status)),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send_syslog(
        &self,
        url: &str,
        records: &[AuditRecord],
    ) -> std::result::Result<(), String> {
        let target = SyslogTarget::parse(url)?;
        let send = async {
            let mut stream = self
                .guard
                .connect(&target.host, target.port, target.tls)
                .await
                .map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            for r in records {
                bytes.extend_from_slice(&format::syslog_frame(r)?);
            }
            stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
            stream.flush().await.map_err(|e| e.to_string())?;
            stream.shutdown().await.map_err(|e| e.to_string())
        };
        tokio::time::timeout(SYSLOG_TIMEOUT, send)
            .await
            .map_err(|_| format!("no complete delivery within {} s", SYSLOG_TIMEOUT.as_secs()))?
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn retries_back_off_to_a_minute() {
        let secs: Vec<i64> = (1..=9).map(|f| backoff(f).num_seconds()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
