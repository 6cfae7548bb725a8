//! Every SQL statement of the re-seal: for each sealed column, how to read
//! its values (id, value) and how to write one back (SQLite and PostgreSQL
//! run the same text).

use crate::db::Exec;
use crate::error::Result;
use crate::{exec, fetch_all};

/// One sealed column: how to read it (id, value), how to write it back,
/// and the purpose its values are sealed for.
pub(super) struct SealedColumn {
    select: &'static str,
    update: &'static str,
    pub purpose: fn(&str) -> String,
}

/// Every sealed column, in [`super::ResealReport`] order.
pub(super) const SEALED: [SealedColumn; 4] = [
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
    SealedColumn {
        select: "SELECT id, secret_sealed FROM audit_sinks WHERE secret_sealed IS NOT NULL ORDER BY id",
        update: "UPDATE audit_sinks SET secret_sealed = $1 WHERE id = $2",
        purpose: |id| format!("audit_sink:{id}"),
    },
];

impl SealedColumn {
    /// Every (id, sealed value) of the column, by id.
    pub(super) async fn read(&self, ex: Exec<'_>) -> Result<Vec<(String, String)>> {
        Ok(fetch_all!(ex, (String, String), self.select)?)
    }

    /// Writes `value` back as the sealed value of `id`; rows written.
    pub(super) async fn write(&self, ex: Exec<'_>, id: &str, value: &str) -> Result<u64> {
        Ok(exec!(ex, self.update, value, id)?)
    }
}
