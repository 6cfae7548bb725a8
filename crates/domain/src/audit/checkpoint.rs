//! Signed checkpoints of the audit chain (issue #19, item 3).
//!
//! The chain proves the order and content of the events it holds, but not
//! that the newest ones are all there (a tail cut off with the head row
//! re-pointed verifies), nor that it is the original: anyone who can write
//! the database can recompute every hash. A checkpoint is the chain head
//! (`seq`, `hash`) signed with the console's `audit` key (Ed25519, sealed in
//! the key store with the instance's secret key, so the database alone does
//! not reveal it; public in the JWKS). Stored, checkpoints catch a rewrite
//! by someone without the key; exported (a file, the witness URL) they also
//! catch a rewrite that deletes them, and a truncated tail.
//!
//! - [`AuditService::checkpoint_if_due`] signs the head after
//!   `Settings::audit_checkpoint_events` new events, or when the newest
//!   checkpoint is `Settings::audit_checkpoint_interval` old and events
//!   followed it; the server calls it every [`CHECKPOINT_TICK`].
//!   [`AuditService::checkpoint_now`] signs on demand.
//! - Signing a checkpoint is not an audit event: that would move the head
//!   after every checkpoint, and the next one would always be due.
//! - Replicas may race: rows are keyed by `seq`, the second insert of the
//!   same head does nothing.
//! - The witness gets each new checkpoint as JSON
//!   ([`portcullis_types::AuditCheckpoint`]), through the SSRF guard; a
//!   failure is kept on the row and retried, oldest first, by the next pass.
//!
//! This file holds the checkpoint's claims, when one is due, and the
//! service methods that sign, export and witness; `store` has the SQL.

use super::store::{self, CheckpointRow};
use super::AuditService;
use crate::actor::{Actor, Permission};
use crate::error::{Error, Result};
use crate::signing::KeyPurpose;
use chrono::{DateTime, Utc};
use portcullis_discovery::FetchRequest;
use portcullis_policy::signed::Verifier;
use portcullis_types::{AuditCheckpoint, AUDIT_CHECKPOINT_FORMAT};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The JWS `typ` of a checkpoint: never accepted as a bundle or a token.
pub const CHECKPOINT_JWS_TYPE: &str = "portcullis-audit-checkpoint+jws";

/// How often the server asks whether a checkpoint is due.
pub const CHECKPOINT_TICK: Duration = Duration::from_secs(30);

/// Unwitnessed checkpoints sent per pass.
const WITNESS_BATCH: i64 = 20;

/// What a checkpoint signs.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Claims {
    /// The chain's last event.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was signed (Unix seconds).
    pub iat: i64,
}

/// Whether the head at `head_seq` should be signed, given the newest
/// checkpoint (its seq and time).
pub(super) fn due(
    head_seq: i64,
    last: Option<(i64, DateTime<Utc>)>,
    now: DateTime<Utc>,
    every_events: i64,
    every: chrono::Duration,
) -> bool {
    match last {
        _ if head_seq == 0 => false,
        None => true,
        Some((seq, _)) if seq >= head_seq => false,
        Some((seq, at)) => head_seq - seq >= every_events || now - at >= every,
    }
}

/// Reads a checkpoint's claims, verified with the JWK (JSON) that should
/// have signed it.
pub(super) fn open(jws: &str, jwk: &str) -> std::result::Result<Claims, String> {
    open_with(&verifier(jwk)?, jws)
}

/// The verifier of one public JWK (JSON text), to open many checkpoints.
pub(super) fn verifier(jwk: &str) -> std::result::Result<Verifier, String> {
    Verifier::from_jwks(&format!("{{\"keys\":[{jwk}]}}")).map_err(|e| e.to_string())
}

/// A checkpoint's claims, verified by `verifier`.
pub(super) fn open_with(verifier: &Verifier, jws: &str) -> std::result::Result<Claims, String> {
    verifier
        .verify_claims(jws.as_bytes(), CHECKPOINT_JWS_TYPE)
        .map_err(|e| e.to_string())
}

/// Verifiers of the audit keys by key id, each read from the key store
/// once (a key signs many checkpoints, purge and erasure records).
#[derive(Default)]
pub(super) struct KeyVerifiers(std::collections::HashMap<String, Option<Verifier>>);

impl KeyVerifiers {
    /// The verifier of key `kid`; `None` when the key store has no such
    /// key, or not a usable one.
    pub(super) async fn get(
        &mut self,
        signing: &crate::signing::SigningService,
        kid: &str,
    ) -> Result<Option<&Verifier>> {
        if !self.0.contains_key(kid) {
            let jwk = signing.public_jwk(kid).await?;
            self.0
                .insert(kid.to_owned(), jwk.and_then(|j| verifier(&j).ok()));
        }
        Ok(self.0.get(kid).and_then(Option::as_ref))
    }

    /// The claims of `jws`, a signed record of type `typ` (a purge, an
    /// erasure) made with key `kid`; `None` when it does not verify with
    /// that key or the key store has no such key.
    pub(super) async fn claims<C: serde::de::DeserializeOwned>(
        &mut self,
        signing: &crate::signing::SigningService,
        kid: &str,
        jws: &str,
        typ: &'static str,
    ) -> Result<Option<C>> {
        Ok(self
            .get(signing, kid)
            .await?
            .and_then(|v| v.verify_claims(jws.as_bytes(), typ).ok()))
    }
}

impl AuditService {
    /// Signs the chain head if a checkpoint is due (see the module docs).
    /// Returns the new checkpoint's sequence number.
    pub async fn checkpoint_if_due(&self) -> Result<Option<i64>> {
        let settings = &self.core.settings;
        let now = self.core.clock.now();
        let head = store::head(self.core.db.exec()).await?;
        let last = store::last_checkpoint(self.core.db.exec()).await?;
        if !due(
            head.seq,
            last.map(|l| (l.seq, l.signed_at)),
            now,
            settings.audit_checkpoint_events,
            settings.audit_checkpoint_interval,
        ) {
            return Ok(None);
        }
        self.sign_head(now).await
    }

    /// Signs the head now, unless the newest checkpoint already covers it,
    /// and returns the newest checkpoint as exported (`None` while the log
    /// is empty). **Permission:** `AuditRead`: taking evidence changes no
    /// event.
    pub async fn checkpoint_now(&self, actor: &Actor) -> Result<Option<AuditCheckpoint>> {
        actor.require(Permission::AuditRead)?;
        let now = self.core.clock.now();
        let head = store::head(self.core.db.exec()).await?;
        let last = store::last_checkpoint(self.core.db.exec()).await?;
        if head.seq > 0 && last.is_none_or(|l| l.seq < head.seq) {
            self.sign_head(now).await?;
        }
        self.latest_checkpoint(actor).await
    }

    /// The newest checkpoint as exported. **Permission:** `AuditRead`.
    pub async fn latest_checkpoint(&self, actor: &Actor) -> Result<Option<AuditCheckpoint>> {
        actor.require(Permission::AuditRead)?;
        match store::last_checkpoint(self.core.db.exec()).await? {
            Some(row) => self.export_checkpoint(&row).await.map(Some),
            None => Ok(None),
        }
    }

    /// Signs the head as it is now. The key comes first: making the first
    /// `audit` key is itself an event, which the checkpoint then covers.
    async fn sign_head(&self, now: DateTime<Utc>) -> Result<Option<i64>> {
        let key = self.signing.active_for(KeyPurpose::Audit).await?;
        let head = store::head(self.core.db.exec()).await?;
        if head.seq == 0 {
            return Ok(None);
        }
        let claims = Claims {
            seq: head.seq,
            hash: head.hash,
            iat: now.timestamp(),
        };
        let jws = key
            .sign_claims(&claims, CHECKPOINT_JWS_TYPE)
            .map_err(|e| Error::Internal(format!("signing an audit checkpoint: {e}")))?;
        store::insert_checkpoint(
            self.core.db.write(),
            &CheckpointRow {
                seq: claims.seq,
                hash: claims.hash,
                signed_at: now,
                kid: key.kid().to_owned(),
                jws,
            },
        )
        .await?;
        tracing::info!(seq = claims.seq, "audit checkpoint signed");
        Ok(Some(claims.seq))
    }

    async fn export_checkpoint(&self, row: &CheckpointRow) -> Result<AuditCheckpoint> {
        let jwk = self.signing.public_jwk(&row.kid).await?.ok_or_else(|| {
            Error::Internal(format!(
                "audit checkpoint {}: the key store has no key {}",
                row.seq, row.kid
            ))
        })?;
        Ok(AuditCheckpoint {
            format: AUDIT_CHECKPOINT_FORMAT.to_owned(),
            seq: row.seq,
            hash: row.hash.clone(),
            signed_at: row.signed_at,
            kid: row.kid.clone(),
            jws: row.jws.clone(),
            jwk: serde_json::from_str(&jwk)
                .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?,
        })
    }

    /// Sends the checkpoints the witness has not accepted yet, oldest first
    /// (at most 20 a pass), when `Settings::audit_witness_url` is set.
    /// A failure is kept on the checkpoint (`witness_error`) and retried by
    /// the next pass. Returns how many the witness accepted.
    pub async fn push_to_witness(&self) -> Result<usize> {
        let Some(url) = self.core.settings.audit_witness_url.clone() else {
            return Ok(0);
        };
        let mut accepted = 0;
        for row in store::unwitnessed(self.core.db.exec(), WITNESS_BATCH).await? {
            let body = serde_json::to_vec(&self.export_checkpoint(&row).await?)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let request = FetchRequest::post(url.clone(), body).header(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            let outcome = match self.guard.fetch(request).await {
                Ok(r) if r.status.is_success() => Ok(()),
                Ok(r) => Err(format!("the witness answered {}", r.status)),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => {
                    store::witnessed(self.core.db.write(), row.seq, self.core.clock.now()).await?;
                    accepted += 1;
                }
                Err(error) => {
                    tracing::warn!(seq = row.seq, %error, "audit witness did not take the checkpoint");
                    store::witness_failed(self.core.db.write(), row.seq, &error).await?;
                    // Later ones would fail the same way; the next pass retries in order.
                    break;
                }
            }
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::due;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_checkpoint_is_due_after_n_events_or_m_minutes_with_events() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let every = Duration::minutes(10);
        // Nothing to sign.
        assert!(!due(0, None, t0, 1000, every));
        // The first event gets a first checkpoint.
        assert!(due(1, None, t0, 1000, every));
        // The head is already signed.
        assert!(!due(7, Some((7, t0)), t0 + Duration::days(1), 1000, every));
        // Fewer than N events, younger than M minutes.
        assert!(!due(
            999,
            Some((7, t0)),
            t0 + Duration::minutes(9),
            1000,
            every
        ));
        // N events.
        assert!(due(
            1007,
            Some((7, t0)),
            t0 + Duration::minutes(1),
            1000,
            every
        ));
        // M minutes, one event.
        assert!(due(
            8,
            Some((7, t0)),
            t0 + Duration::minutes(10),
            1000,
            every
        ));
    }
}
