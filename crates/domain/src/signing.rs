//! The keys that sign policy bundles, and the JWKS that publishes them.
//!
//! - Ed25519 (JWS `EdDSA`): deterministic signatures, so every replica
//!   signing a revision with the active key sends byte-identical bodies.
//! - The 32-byte seed is sealed with the instance's secret key
//!   ([`crate::secrets`]) before it is stored.
//! - At most one key is active (a partial unique index); the first is made
//!   on first use, by whichever replica gets there first.
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

fn purpose(kid: &str) -> String {
    format!("signing_key:{kid}")
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
            .open(&purpose(&row.kid), &row.private_key)?;
        let seed = <[u8; 32]>::try_from(seed.as_slice())
            .map_err(|_| Error::Internal(format!("signing key {} is damaged", row.kid)))?;
        Ok(SigningKey::from_seed(row.kid.clone(), &seed))
    }

    async fn active_row(&self) -> Result<Option<KeyRow>> {
        Ok(fetch_optional!(
            self.core.db.exec(),
            KeyRow,
            "SELECT kid, alg, private_key, status, created_at, retired_at \
             FROM signing_keys WHERE status = 'active'"
        )?)
    }

    /// Makes a key and stores it sealed; `retire` the active one first when
    /// rotating. Returns the new key id.
    async fn insert_key(&self, actor: &Actor, rotate: bool) -> Result<Option<String>> {
        let now = self.core.clock.now();
        let kid = new_id("key");
        let seed = crate::secrets::SecretBox::generate_key();
        let key = SigningKey::from_seed(kid.clone(), &seed);
        let jwk = key
            .public_jwk()
            .map_err(|e| Error::Internal(format!("public key: {e}")))?;
        let jwk = serde_json::to_string(&jwk).map_err(|e| Error::Internal(e.to_string()))?;
        let sealed = self.core.settings.secrets.seal(&purpose(&kid), &seed)?;
        let mut tx = self.core.db.begin().await?;
        let retired = if rotate {
            fetch_optional!(
                tx.exec(),
                (String,),
                "UPDATE signing_keys SET status = 'retired', retired_at = $1 \
                 WHERE status = 'active' RETURNING kid",
                now
            )?
            .map(|r| r.0)
        } else {
            None
        };
        let inserted = exec!(
            tx.exec(),
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key, status, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5) ON CONFLICT DO NOTHING",
            &kid,
            ALG,
            &jwk,
            &sealed,
            now
        )?;
        if inserted == 0 {
            // Another replica made the first key meanwhile.
            return Ok(None);
        }
        let action = if rotate {
            "policy.signing_key.rotated"
        } else {
            "policy.signing_key.created"
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

    /// The active signing key, made on first use.
    pub async fn active(&self) -> Result<SigningKey> {
        if let Some(row) = self.active_row().await? {
            return self.open(&row);
        }
        self.insert_key(&Actor::system("policy API"), false).await?;
        let row = self
            .active_row()
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

    /// Every key, newest first. **Permission:** `ConsoleRead`.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SigningKeySummary>> {
        actor.require(Permission::ConsoleRead)?;
        let since = self.core.clock.now() - chrono::Duration::days(RETIRED_PUBLISHED_DAYS);
        let rows = fetch_all!(
            self.core.db.exec(),
            KeyRow,
            "SELECT kid, alg, '' AS private_key, status, created_at, retired_at \
             FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 50"
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
        self.insert_key(actor, true)
            .await?
            .ok_or_else(|| Error::Internal("rotation raced with another; try again".into()))
    }
}
