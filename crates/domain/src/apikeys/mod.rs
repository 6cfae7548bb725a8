//! API keys: the service accounts of the admin REST API.
//!
//! Owners create keys (in the console or with `portcullis api-key create`)
//! with the admin or auditor role and an optional expiry; the secret is
//! shown once and stored as its SHA-256. A key authenticates as
//! `Authorization: Bearer pck_…` and acts with its role, except that it
//! never manages admins or keys ([`crate::Actor::require`]). Every change it
//! makes is audited with the key as actor; its last use (time and address)
//! is kept on the key.
//!
//! The area also keeps the answers to creating requests sent with an
//! `Idempotency-Key` (24 hours, per key), so a retried create happens once.
//!
//! The area has the domain's target shape: this file is the service (no
//! SQL text), `model` the checked input and the secret's form, `store`
//! every SQL statement.

mod model;
mod store;

pub use model::{looks_like_key, NewKey, MAX_EXPIRES_DAYS, SECRET_PREFIX};

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::error::{Error, Result};
use crate::Core;
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{ApiKeyId, ApiKeyInput, ApiKeySummary, NewApiKey};
use serde_json::json;
use std::sync::Arc;

/// How long an `Idempotency-Key`'s answer is replayed.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// A key's last use is written at most this often.
const USE_NOTE_EVERY: Duration = Duration::seconds(60);

/// What to do with a creating request that carries an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time: run it, then [`ApiKeyService::finish_idempotent`].
    Run,
    /// Answered before: send this again.
    Replay {
        status: u16,
        body: String,
        location: Option<String>,
    },
}

/// API keys and the idempotency record of their requests.
#[derive(Clone)]
pub struct ApiKeyService {
    pub(crate) core: Arc<Core>,
}

impl ApiKeyService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// Creates a key and returns its secret (the only time it is shown).
    /// Audited as `api_key.created`. **Permission:** `AdminsManage` (owners
    /// and the CLI; never a key).
    pub async fn create(&self, actor: &Actor, input: &ApiKeyInput) -> Result<NewApiKey> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let key = NewKey::parse(input, now)?;
        let id = new_id("key");
        let secret = format!("{SECRET_PREFIX}{}", new_secret());
        let hint: String = secret[secret.len() - 4..].to_owned();
        let mut tx = self.core.db.begin().await?;
        if store::active_name_taken(&mut tx, &key.name, now).await? {
            return Err(Error::Conflict {
                field: "name".to_owned(),
                message: format!("an active API key is already named {}", key.name),
            });
        }
        store::insert(
            &mut tx,
            &store::InsertKey {
                id: &id,
                name: &key.name,
                role: key.role.as_str(),
                secret_hash: &hash_secret(&secret),
                hint: &hint,
                created_by: &actor.display,
                created_at: now,
                expires_at: key.expires_at,
            },
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("api_key.created")
                .target(Target::new("api_key", &id, &key.name))
                .details(json!({
                    "role": key.role.as_str(),
                    "expires_at": key.expires_at,
                    "hint": hint,
                })),
        )
        .await?;
        let row = store::get(tx.exec(), &id)
            .await?
            .ok_or_else(|| Error::Internal("API key vanished after insert".to_owned()))?;
        tx.commit().await?;
        Ok(NewApiKey {
            key: row.into_summary(now)?,
            secret,
        })
    }

    /// Every key, newest first. **Permission:** `ConsoleRead`.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<ApiKeySummary>> {
        actor.require(Permission::ConsoleRead)?;
        let now = self.now();
        store::list(self.core.db.exec())
            .await?
            .into_iter()
            .map(|r| r.into_summary(now))
            .collect()
    }

    /// One key. **Permission:** `ConsoleRead`.
    pub async fn get(&self, actor: &Actor, id: &ApiKeyId) -> Result<ApiKeySummary> {
        actor.require(Permission::ConsoleRead)?;
        store::get(self.core.db.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("API key"))?
            .into_summary(self.now())
    }

    /// Revokes a key at once. Audited as `api_key.revoked`.
    /// **Permission:** `AdminsManage`.
    pub async fn revoke(&self, actor: &Actor, id: &ApiKeyId) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = store::get(tx.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("API key"))?;
        if !store::revoke(&mut tx, id.as_str(), now).await? {
            return Err(Error::PreconditionFailed(format!(
                "API key {} is already revoked",
                row.name
            )));
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("api_key.revoked")
                .target(Target::new("api_key", id.as_str(), &row.name))
                .details(json!({ "hint": row.hint })),
        )
        .await?;
        tx.commit().await
    }

    /// The actor of the key whose secret is `secret`, or `None` when it is
    /// unknown, revoked or expired. Notes the use (time and address) at most
    /// once a minute.
    pub async fn authenticate(&self, secret: &str, meta: RequestMeta) -> Result<Option<Actor>> {
        if !looks_like_key(secret) {
            return Ok(None);
        }
        let now = self.now();
        let Some(row) = store::find_usable(self.core.db.exec(), &hash_secret(secret), now).await?
        else {
            return Ok(None);
        };
        let role = model::stored_role(&row.role)?;
        if row.last_used_at.is_none_or(|t| now - t >= USE_NOTE_EVERY)
            || row.last_used_ip.as_deref() != meta.source_ip.as_deref()
        {
            store::note_use(
                self.core.db.write(),
                &row.id,
                now,
                meta.source_ip.as_deref(),
            )
            .await?;
        }
        Ok(Some(Actor::api_key(
            &row.id.as_str().into(),
            &row.name,
            role,
            meta,
        )))
    }

    /// Claims `idem_key` for a creating request of the key `actor` whose
    /// method, path and body fingerprint to `fingerprint`. Refuses a key
    /// reused for a different request (422, `Idempotency-Key`) and a retry
    /// while the first request runs (409).
    pub async fn claim_idempotent(
        &self,
        actor: &Actor,
        idem_key: &str,
        fingerprint: &str,
    ) -> Result<Claim> {
        let key_id = api_key_id(actor)?;
        if idem_key.is_empty()
            || idem_key.len() > 255
            || !idem_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "Idempotency-Key",
                "use 1 to 255 visible ASCII characters (a UUID is a good choice)",
            ));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let claimed = store::reserve(
            &mut tx,
            key_id,
            idem_key,
            fingerprint,
            now,
            now - IDEMPOTENCY_WINDOW,
        )
        .await?;
        let stored = if claimed {
            None
        } else {
            store::stored_response(tx.exec(), key_id, idem_key).await?
        };
        tx.commit().await?;
        let Some(stored) = stored else {
            return Ok(Claim::Run);
        };
        if stored.request_hash != fingerprint {
            return Err(Error::invalid(
                "Idempotency-Key",
                "this key was used for a different request in the last 24 hours; use a new key",
            ));
        }
        if stored.status == 0 {
            return Err(Error::Conflict {
                field: "Idempotency-Key".to_owned(),
                message: "the first request with this key is still running; retry in a moment"
                    .to_owned(),
            });
        }
        Ok(Claim::Replay {
            status: u16::try_from(stored.status)
                .map_err(|_| Error::Internal("stored idempotent status".to_owned()))?,
            body: stored.body,
            location: stored.location,
        })
    }

    /// Records the answer to a request that claimed `idem_key`; a server
    /// error frees the key instead, so a retry runs again.
    pub async fn finish_idempotent(
        &self,
        actor: &Actor,
        idem_key: &str,
        status: u16,
        body: &str,
        location: Option<&str>,
    ) -> Result<()> {
        let key_id = api_key_id(actor)?;
        if status >= 500 {
            store::release(self.core.db.write(), key_id, idem_key).await
        } else {
            store::complete(
                self.core.db.write(),
                key_id,
                idem_key,
                i32::from(status),
                body,
                location,
            )
            .await
        }
    }

    /// Deletes idempotency records past their window (housekeeping).
    pub async fn purge_expired(&self) -> Result<u64> {
        store::purge_idempotency(self.core.db.write(), self.now() - IDEMPOTENCY_WINDOW).await
    }
}

/// The key behind an API key actor.
fn api_key_id(actor: &Actor) -> Result<&str> {
    match (actor.kind, actor.id.as_deref()) {
        (portcullis_types::ActorType::ApiKey, Some(id)) => Ok(id),
        _ => Err(Error::Internal(
            "Idempotency-Key is kept per API key; the caller is not one".to_owned(),
        )),
    }
}
