//! Re-sealing every stored secret under a new secret key (the second half of
//! `portcullis secret-key rotate`, and `portcullis secret-key reseal`).
//!
//! The sealed values, each with the purpose it was sealed for:
//! - `signing_keys.private_key` (`signing_key:{kid}`): bundle and access-
//!   token signing keys;
//! - `sso_connections.client_secret` (`sso_client_secret:{id}`): OIDC
//!   client secrets;
//! - `sso_requests.pkce_verifier` (`sso_pkce`): PKCE verifiers of SSO
//!   sign-ins in flight (minutes long; re-sealed too so none fails).
//!
//! Everything is read, opened with the current box (its key or a previous
//! one), sealed with the new box and written back in one transaction, with
//! an audit event; a value that does not open stops the whole re-seal
//! before anything is written, naming it. Adding a sealed column means
//! adding it here (the test in `tests/api/storage.rs` seals one value of
//! every kind and checks each opens with the new key alone).

use serde_json::json;

use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent};
use crate::error::Result;
use crate::secrets::SecretBox;
use crate::{exec, fetch_all, Services};

/// What a re-seal changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub signing_keys: u64,
    pub sso_client_secrets: u64,
    pub sso_requests: u64,
}

impl ResealReport {
    pub fn total(&self) -> u64 {
        self.signing_keys + self.sso_client_secrets + self.sso_requests
    }
}

/// One sealed column: how to read it (id, value), how to write it back,
/// and the purpose its values are sealed for.
struct SealedColumn {
    select: &'static str,
    update: &'static str,
    purpose: fn(&str) -> String,
}

/// Every sealed column, in [`ResealReport`] order.
const SEALED: [SealedColumn; 3] = [
    SealedColumn {
        select: "SELECT kid, private_key FROM signing_keys ORDER BY kid",
        update: "UPDATE signing_keys SET private_key = $1 WHERE kid = $2",
        purpose: |kid| format!("signing_key:{kid}"),
    },
    SealedColumn {
        select: "SELECT id, client_secret FROM sso_connections WHERE client_secret IS NOT NULL ORDER BY id",
        update: "UPDATE sso_connections SET client_secret = $1 WHERE id = $2",
        purpose: |id| format!("sso_client_secret:{id}"),
    },
    SealedColumn {
        select: "SELECT id_hash, pkce_verifier FROM sso_requests WHERE pkce_verifier IS NOT NULL ORDER BY id_hash",
        update: "UPDATE sso_requests SET pkce_verifier = $1 WHERE id_hash = $2",
        purpose: |_| "sso_pkce".to_owned(),
    },
];

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
            let rows = fetch_all!(tx.exec(), (String, String), column.select)?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, value) in rows {
                let purpose = (column.purpose)(&id);
                out.push((id, new.seal(&purpose, &old.open(&purpose, &value)?)?));
            }
            resealed.push(out);
        }
        let mut counts = [0u64; 3];
        for ((column, rows), count) in SEALED.iter().zip(&resealed).zip(&mut counts) {
            for (id, value) in rows {
                *count += exec!(tx.exec(), column.update, value, id)?;
            }
        }
        let [signing_keys, sso_client_secrets, sso_requests] = counts;
        let report = ResealReport {
            signing_keys,
            sso_client_secrets,
            sso_requests,
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.secret_key.resealed").details(json!({
                "signing_keys": report.signing_keys,
                "sso_client_secrets": report.sso_client_secrets,
                "sso_requests": report.sso_requests,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }
}
