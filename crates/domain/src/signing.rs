//! The keys that sign policy bundles and OAuth access tokens, and the JWKS
//! that publishes them.
//!
//! - Each key has a [`KeyPurpose`]: bundles (and deltas) and access tokens
//!   are signed with different keys, so each has its own `kid` in the one
//!   JWKS; the JWS `typ` differs too, so neither is ever accepted as the
//!   other.
//! - Ed25519 (JWS `EdDSA`): deterministic signatures, so every replica
//!   signing a revision with the active key sends byte-identical bodies.
//! - The 32-byte seed is sealed with the instance's secret key
//!   ([`crate::secrets`]) before it is stored.
//! - At most one key per purpose is active (a partial unique index); the
//!   first is made on first use, by whichever replica gets there first.
//! - Rotation makes a new active key and retires the old one, which stays in
//!   the JWKS for [`RETIRED_PUBLISHED_DAYS`] days so gateways that hold a
//!   bundle signed with it can still check it at restart.

use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::db::Topic;
use crate::error::{Error, Result};
use crate::{exec, fetch_all, fetch_optional, Core};
use chrono::{DateTime, Utc};
use portcullis_policy::signed::SigningKey;
use portcullis_types::SigningKeySummary;
use serde_json::json;
use std::sync::Arc;

/// How long a retired key stays in the JWKS.
pub const RETIRED_PUBLISHED_DAYS: i64 = 7;

const ALG: &str = "EdDSA";

fn seal_purpose(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// What a signing key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Policy bundles and deltas (`/api/v1/policy`).
    Bundle,
    /// OAuth access tokens (RFC 9068, `typ` `at+jwt`).
    Token,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Bundle => "bundle",
            KeyPurpose::Token => "token",
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_key: String,
    status: String,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

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
        Ok(fetch_optional!(
            self.core.db.exec(),
            KeyRow,
            "SELECT kid, alg, private_key, status, created_at, retired_at \
             FROM signing_keys WHERE status = 'active' AND purpose = $1",
            purpose.as_str()
        )?)
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
            fetch_optional!(
                tx.exec(),
                (String,),
                "UPDATE signing_keys SET status = 'retired', retired_at = $1 \
                 WHERE status = 'active' AND purpose = $2 RETURNING kid",
                now,
                purpose.as_str()
            )?
            .map(|r| r.0)
        } else {
            None
        };
        let inserted = exec!(
            tx.exec(),
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key, status, created_at, purpose) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6) ON CONFLICT DO NOTHING",
            &kid,
            ALG,
            &jwk,
            &sealed,
            now,
            purpose.as_str()
        )?;
        if inserted == 0 {
            // Another replica made the first key meanwhile.
            return Ok(None);
        }
        let action = match (purpose, rotate) {
            (KeyPurpose::Bundle, true) => "policy.signing_key.rotated",
            (KeyPurpose::Bundle, false) => "policy.signing_key.created",
            (KeyPurpose::Token, true) => "oauth.signing_key.rotated",
            (KeyPurpose::Token, false) => "oauth.signing_key.created",
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
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
        let who = match purpose {
            KeyPurpose::Bundle => "policy API",
            KeyPurpose::Token => "authorization server",
        };
        self.insert_key(&Actor::system(who), purpose, false).await?;
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
        let rows = fetch_all!(
            self.core.db.exec(),
            (String,),
            "SELECT public_jwk FROM signing_keys \
             WHERE status = 'active' OR retired_at > $1 ORDER BY created_at DESC, kid DESC",
            since
        )?;
        let mut keys = Vec::with_capacity(rows.len());
        for (jwk,) in rows {
            keys.push(
                serde_json::from_str::<serde_json::Value>(&jwk)
                    .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?,
            );
        }
        Ok(json!({ "keys": keys }).to_string())
    }

    /// Every bundle signing key, newest first. **Permission:** `ConsoleRead`.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SigningKeySummary>> {
        actor.require(Permission::ConsoleRead)?;
        let since = self.core.clock.now() - chrono::Duration::days(RETIRED_PUBLISHED_DAYS);
        let rows = fetch_all!(
            self.core.db.exec(),
            KeyRow,
            "SELECT kid, alg, '' AS private_key, status, created_at, retired_at \
             FROM signing_keys WHERE purpose = 'bundle' ORDER BY created_at DESC, kid DESC LIMIT 50"
        )?;
        Ok(rows
            .into_iter()
            .map(|r| SigningKeySummary {
                published: r.status == "active" || r.retired_at.is_some_and(|t| t > since),
                kid: r.kid,
                alg: r.alg,
                status: r.status,
                created_at: r.created_at,
                retired_at: r.retired_at,
            })
            .collect())
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
