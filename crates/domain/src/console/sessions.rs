//! Console sessions: making one, resolving a cookie to its actor (with the
//! idle and absolute timeouts), the signed-in user, and signing out.

use super::model::{stored_role, stored_status};
use super::{store, ConsoleService};
use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent};
use crate::clock::{hash_secret, new_secret};
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{ActorType, ConsoleUserStatus, Me};

impl ConsoleService {
    pub(crate) async fn insert_session(
        &self,
        tx: &mut Tx,
        user_id: &str,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let secret = new_secret();
        let expires_at = now + self.core.settings.session_absolute;
        store::insert_session(
            tx.exec(),
            &store::NewSessionRow {
                id_hash: &hash_secret(&secret),
                user_id,
                now,
                expires_at,
                source_ip: meta.source_ip.as_deref(),
                user_agent: meta
                    .user_agent
                    .as_deref()
                    .map(|s| s.chars().take(512).collect::<String>()),
            },
        )
        .await?;
        Ok(secret)
    }

    /// Resolves a session cookie to its actor, refreshing `last_seen_at` at
    /// most once a minute. Expired sessions are deleted.
    pub async fn find_session(&self, secret: &str, meta: RequestMeta) -> Result<Option<Actor>> {
        let now = self.now();
        let id_hash = hash_secret(secret);
        let Some(row) = store::session(self.core.db.exec(), &id_hash).await? else {
            return Ok(None);
        };
        let idle_expired = row.last_seen_at + self.core.settings.session_idle <= now;
        // An unknown stored status is an error, not a quiet sign-out.
        let status = stored_status(&row.status)?;
        if status != ConsoleUserStatus::Active || idle_expired || row.expires_at <= now {
            store::delete_session(self.core.db.write(), &id_hash).await?;
            return Ok(None);
        }
        if now - row.last_seen_at > Duration::seconds(60) {
            store::touch_session(self.core.db.write(), &id_hash, now).await?;
        }
        Ok(Some(Actor {
            kind: ActorType::ConsoleUser,
            id: Some(row.user_id),
            display: row.email,
            role: Some(stored_role(&row.role)?),
            session: Some(row.id_hash),
            meta,
        }))
    }

    /// The signed-in user. **Permission:** `ConsoleRead`.
    pub async fn get_me(&self, actor: &Actor) -> Result<Me> {
        actor.require(Permission::ConsoleRead)?;
        let id = actor.id.as_deref().ok_or(Error::NotFound("console user"))?;
        store::user_by_id(self.core.db.exec(), id)
            .await?
            .ok_or(Error::NotFound("console user"))?
            .me()
    }

    /// Ends the caller's session server-side. Audited as `console.signout`.
    pub async fn sign_out(&self, actor: &Actor) -> Result<()> {
        let Some(session) = &actor.session else {
            return Ok(());
        };
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let n = store::delete_session(tx.exec(), session).await?;
        if n > 0 {
            audit::append(&mut tx, now, actor, NewEvent::success("console.signout")).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
