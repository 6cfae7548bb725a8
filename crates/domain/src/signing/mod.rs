//! The keys that sign policy bundles and OAuth access tokens, and the JWKS
//! that publishes them.
//!
//! - Each key has a [`KeyPurpose`]: bundles (and deltas), access tokens and
//!   audit checkpoints are signed with different keys, so each has its own
//!   `kid` in the one JWKS; the JWS `typ` differs too, so none is ever
//!   accepted as another.
//! - Ed25519 (JWS `EdDSA`): deterministic signatures, so every replica
//!   signing a revision with the active key sends byte-identical bodies.
//! - The 32-byte seed is sealed with the instance's secret key
//!   ([`crate::secrets`]) before it is stored.
//! - At most one key per purpose is active (a partial unique index); the
//!   first is made on first use, by whichever replica gets there first.
//! - Rotation makes a new active key and retires the old one, which stays in
//!   the JWKS for [`RETIRED_PUBLISHED_DAYS`] days so gateways that hold a
//!   bundle signed with it can still check it at restart.
//!
//! The area has the domain's target shape: this file is the service (roles,
//! making, opening and rotating keys, audit, the change signal; no SQL
//! text), `model` the key purpose and the values derived from it, `store`
//! every SQL statement.

mod model;
mod store;

pub use model::KeyPurpose;

use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::db::Topic;
use crate::error::{Error, Result};
use crate::Core;
use model::{seal_purpose, ALG};
use portcullis_policy::signed::SigningKey;
use portcullis_types::SigningKeySummary;
use serde_json::json;
use std::sync::Arc;
use store::KeyRow;

/// How long a retired key stays in the JWKS.
pub const RETIRED_PUBLISHED_DAYS: i64 = 7;

/// Signing keys.
#[derive(Clone)]
pub struct SigningService {
    pub core: Arc<Core>,
}

impl SigningService {
    fn open(&self, row: &KeyRow) -> Result<SigningKey> {
        let seed = self
            .core
            .settings
            .secrets
            .open(&seal_purpose(&row.kid), &row.private_key)?;
        let seed = <[u8; 32]>::try_from(seed.as_slice())
            .map_err(|_| Error::Internal(format!("signing key {} is damaged", row.kid)))?;
        Ok(SigningKey::from_seed(row.kid.clone(), &seed))
    }

    async fn active_row(&self, purpose: KeyPurpose) -> Result<Option<KeyRow>> {
        store::active(self.core.db.exec(), purpose).await
    }

    /// Makes a key and stores it sealed; `retire` the active one first when
    /// rotating. Returns the new key id.
    async fn insert_key(
        &self,
        actor: &Actor,
        purpose: KeyPurpose,
        rotate: bool,
    ) -> Result<Option<String>> {
        let now = self.core.clock.now();
        let kid = new_id("key");
        let seed = crate::secrets::SecretBox::generate_key();
        let key = SigningKey::from_seed(kid.clone(), &seed);
        let jwk = key
            .public_jwk()
            .map_err(|e| Error::Internal(format!("public key: {e}")))?;
        let jwk = serde_json::to_string(&jwk).map_err(|e| Error::Internal(e.to_string()))?;
        let sealed = self
            .core
            .settings
            .secrets
            .seal(&seal_purpose(&kid), &seed)?;
        let mut tx = self.core.db.begin().await?;
        let retired = if rotate {
            store::retire_active(tx.exec(), purpose, now).await?
        } else {
            None
        };
        let inserted = store::insert(
            tx.exec(),
            &store::NewKeyRow {
                kid: &kid,
                alg: ALG,
                public_jwk: &jwk,
                private_key: &sealed,
                created_at: now,
                purpose,
            },
        )
        .await?;
        if inserted == 0 {
            // Another replica made the first key meanwhile.
            return Ok(None);
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(purpose.created_action(rotate))
                .target(Target::new("signing_key", &kid, &kid))
                .details(json!({ "alg": ALG, "retired": retired })),
        )
        .await?;
        tx.signal(Topic::Keys).await?;
        tx.commit().await?;
        Ok(Some(kid))
    }

    /// The active bundle signing key, made on first use.
    pub async fn active(&self) -> Result<SigningKey> {
        self.active_for(KeyPurpose::Bundle).await
    }

    /// The active key for `purpose`, made on first use.
    pub async fn active_for(&self, purpose: KeyPurpose) -> Result<SigningKey> {
        if let Some(row) = self.active_row(purpose).await? {
            return self.open(&row);
        }
        self.insert_key(&Actor::system(purpose.first_maker()), purpose, false)
            .await?;
        let row = self
            .active_row(purpose)
            .await?
            .ok_or_else(|| Error::Internal("no active signing key after creating one".into()))?;
        self.open(&row)
    }

    /// The JWKS document: the active key and keys retired less than
    /// [`RETIRED_PUBLISHED_DAYS`] ago, newest first.
    pub async fn jwks(&self) -> Result<String> {
        let since = self.core.clock.now() - chrono::Duration::days(RETIRED_PUBLISHED_DAYS);
        let rows = store::published_jwks(self.core.db.exec(), since).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for jwk in rows {
            keys.push(
                serde_json::from_str::<serde_json::Value>(&jwk)
                    .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?,
            );
        }
        Ok(json!({ "keys": keys }).to_string())
    }

    /// The public JWK (JSON text) of key `kid`, active or retired, of any
    /// purpose; `None` if the key store has no such key.
    pub async fn public_jwk(&self, kid: &str) -> Result<Option<String>> {
        store::public_jwk(self.core.db.exec(), kid).await
    }

    /// Every bundle signing key, newest first. **Permission:** `ConsoleRead`.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SigningKeySummary>> {
        actor.require(Permission::ConsoleRead)?;
        let since = self.core.clock.now() - chrono::Duration::days(RETIRED_PUBLISHED_DAYS);
        let rows = store::list_bundle_keys(self.core.db.exec()).await?;
        rows.into_iter().map(|r| r.into_summary(since)).collect()
    }

    /// Rotates: a new active key; the old one is retired (still published
    /// for a while). Gateways see the current revision re-signed. Audited as
    /// `policy.signing_key.rotated`. **Permission:** `AccessManage`.
    pub async fn rotate(&self, actor: &Actor) -> Result<String> {
        actor.require(Permission::AccessManage)?;
        self.insert_key(actor, KeyPurpose::Bundle, true)
            .await?
            .ok_or_else(|| Error::Internal("rotation raced with another; try again".into()))
    }
}
