//! One-time set-up links: creating owners (command line, first start),
//! describing a link and using it to set a password and sign in.

use super::model::{
    check_display_name, invalid_link, name_or_email, normalize_email, one_time_link,
};
use super::passwords::{check_password, hash_password};
use super::{store, ConsoleService, NewSession};
use crate::actor::{Actor, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{ActorType, ConsoleUserStatus, LinkInfo, OneTimeLink};
use serde_json::json;

impl ConsoleService {
    /// Stores a new link for `user_id`, valid for `ttl`; its token and expiry.
    pub(super) async fn insert_link(
        tx: &mut Tx,
        user_id: &str,
        purpose: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>)> {
        let token = new_secret();
        let expires_at = now + ttl;
        store::insert_link(
            tx.exec(),
            &hash_secret(&token),
            user_id,
            purpose,
            now,
            expires_at,
        )
        .await?;
        Ok((token, expires_at))
    }

    /// Creates an owner (or re-issues the link of an owner that has not set a
    /// password yet) and returns a one-time set-up link valid for 24 hours.
    /// Used by `portcullis admin create-owner` and first start.
    /// **Permission:** system actor only.
    pub async fn create_owner(
        &self,
        actor: &Actor,
        email: &str,
        display_name: &str,
    ) -> Result<OneTimeLink> {
        if actor.kind != ActorType::System {
            return Err(Error::Forbidden(
                "owners are created from the command line".into(),
            ));
        }
        let email = normalize_email("email", email)?;
        let display_name = check_display_name(display_name)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let existing = store::user_by_email(tx.exec(), &email).await?;
        let (id, action) = match existing {
            Some(u) if u.status()? == ConsoleUserStatus::Active => {
                return Err(Error::Conflict {
                    field: "email".into(),
                    message: format!("{email} already has an active console account"),
                })
            }
            Some(u) => {
                store::reinvite_as_owner(tx.exec(), &u.id, now).await?;
                store::delete_links_of(tx.exec(), &u.id).await?;
                (u.id, "console.owner.link_reissued")
            }
            None => {
                let id = new_id("usr");
                let name = name_or_email(display_name, &email);
                store::insert_owner(tx.exec(), &id, &email, &name, now).await?;
                (id, "console.owner.created")
            }
        };
        let (token, expires_at) =
            Self::insert_link(&mut tx, &id, "owner_setup", now, Duration::hours(24)).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("console_user", &id, &email))
                .details(json!({ "role": "owner", "link_expires_at": expires_at })),
        )
        .await?;
        tx.commit().await?;
        Ok(one_time_link(id, email, &token, expires_at))
    }

    /// On an empty console (no active owner), issues a set-up link for the
    /// first owner so a newcomer can get in. Returns `None` once an owner
    /// has signed up.
    pub async fn ensure_first_owner_link(&self, email: &str) -> Result<Option<OneTimeLink>> {
        let active_owners = store::active_owner_count(self.core.db.exec()).await?;
        if active_owners > 0 {
            return Ok(None);
        }
        let pending = store::first_invited_owner_email(self.core.db.exec()).await?;
        let email = pending.unwrap_or_else(|| email.to_owned());
        self.create_owner(&Actor::system("portcullis serve (first start)"), &email, "")
            .await
            .map(Some)
    }

    /// Describes a one-time link without using it (the set-up page).
    pub async fn get_link(&self, token: &str) -> Result<LinkInfo> {
        store::link_info(self.core.db.exec(), &hash_secret(token), self.now())
            .await?
            .ok_or_else(invalid_link)?
            .into_info()
    }

    /// Uses a one-time link: sets the password, activates the account and
    /// signs it in. Audited as `console.owner.setup_completed` or
    /// `console.invite.accepted`.
    pub async fn accept_link(
        &self,
        meta: RequestMeta,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<NewSession> {
        check_password(password)?;
        let display_name = check_display_name(display_name)?;
        let password_hash = hash_password(password.to_owned()).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let tok = store::live_link(tx.exec(), &hash_secret(token), now)
            .await?
            .ok_or_else(invalid_link)?;
        let user = Self::get_user_in(&mut tx, &tok.user_id).await?;
        if user.status()? != ConsoleUserStatus::Invited {
            return Err(Error::invalid(
                "token",
                "this account is already set up; sign in instead",
            ));
        }
        store::use_link(tx.exec(), &hash_secret(token), now).await?;
        let name = if display_name.is_empty() {
            user.display_name.clone()
        } else {
            display_name
        };
        store::activate(tx.exec(), &user.id, &password_hash, &name, now).await?;
        let mut me = user.me()?;
        me.display_name = name;
        let secret = self.insert_session(&mut tx, &me.id.0, &meta, now).await?;
        let action = if tok.purpose == "owner_setup" {
            "console.owner.setup_completed"
        } else {
            "console.invite.accepted"
        };
        let actor = Actor::console_user(&me.id, &me.email, Some(me.role), meta);
        audit::append(
            &mut tx,
            now,
            &actor,
            NewEvent::success(action).target(Target::new("console_user", &me.id.0, &me.email)),
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession { secret, me })
    }
}
