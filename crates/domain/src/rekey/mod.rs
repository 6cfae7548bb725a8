//! Re-sealing every stored secret under a new secret key (the second half of
//! `portcullis secret-key rotate`, and `portcullis secret-key reseal`).
//!
//! The sealed values, each with the purpose it was sealed for:
//! - `signing_keys.private_key` (`signing_key:{kid}`): bundle and access-
//!   token signing keys;
//! - `sso_connections.client_secret` (`sso_client_secret:{id}`): OIDC
//!   client secrets;
//! - `sso_requests.pkce_verifier` (`sso_pkce`): PKCE verifiers of SSO
//!   sign-ins in flight (minutes long; re-sealed too so none fails);
//! - `audit_sinks.secret_sealed` (`audit_sink:{id}`): the audit streaming
//!   destinations' webhook keys and Splunk HEC tokens.
//!
//! Everything is read, opened with the current box (its key or a previous
//! one), sealed with the new box and written back in one transaction, with
//! an audit event; a value that does not open stops the whole re-seal
//! before anything is written, naming it. Adding a sealed column means
//! adding it to `store::SEALED` (the test in `tests/api/storage.rs` seals
//! one value of every kind and checks each opens with the new key alone).
//!
//! The area has the domain's target shape: this file is the service (the
//! role check, the re-seal and its audit event; no SQL text), `store` the
//! table of sealed columns with every SQL statement.

mod store;

use serde_json::json;

use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent};
use crate::error::Result;
use crate::secrets::SecretBox;
use crate::Services;
use store::SEALED;

/// What a re-seal changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub signing_keys: u64,
    pub sso_client_secrets: u64,
    pub sso_requests: u64,
    pub audit_sink_secrets: u64,
}

impl ResealReport {
    pub fn total(&self) -> u64 {
        self.signing_keys + self.sso_client_secrets + self.sso_requests + self.audit_sink_secrets
    }
}

impl Services {
    /// Re-seals every stored secret: opened with the current secret box
    /// (its key or a previous one), sealed with `new`. One transaction;
    /// a value that does not open stops it before anything is written.
    /// **Permission:** `AdminsManage` (owners; the CLI's system actor).
    pub async fn reseal_secrets(&self, actor: &Actor, new: &SecretBox) -> Result<ResealReport> {
        actor.require(Permission::AdminsManage)?;
        let old = &self.core.settings.secrets;
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin().await?;
        let mut resealed: Vec<Vec<(String, String)>> = Vec::with_capacity(SEALED.len());
        for column in &SEALED {
            let rows = column.read(tx.exec()).await?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, value) in rows {
                let purpose = (column.purpose)(&id);
                out.push((id, new.seal(&purpose, &old.open(&purpose, &value)?)?));
            }
            resealed.push(out);
        }
        let mut counts = [0u64; 4];
        for ((column, rows), count) in SEALED.iter().zip(&resealed).zip(&mut counts) {
            for (id, value) in rows {
                *count += column.write(tx.exec(), id, value).await?;
            }
        }
        let [signing_keys, sso_client_secrets, sso_requests, audit_sink_secrets] = counts;
        let report = ResealReport {
            signing_keys,
            sso_client_secrets,
            sso_requests,
            audit_sink_secrets,
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.secret_key.resealed").details(json!({
                "signing_keys": report.signing_keys,
                "sso_client_secrets": report.sso_client_secrets,
                "sso_requests": report.sso_requests,
                "audit_sink_secrets": report.audit_sink_secrets,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}
