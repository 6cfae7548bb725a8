//! Managing console users (the Admins page): listing, inviting, changing
//! roles, disabling and enabling, and ending someone's sessions. The last
//! active owner can be neither demoted nor disabled.

use super::model::{check_display_name, name_or_email, normalize_email, one_time_link};
use super::store::{self, UserRow};
use super::ConsoleService;
use crate::actor::{Actor, Permission};
use crate::audit::{self, like_escape, NewEvent, Target, MAX_PAGE};
use crate::clock::new_id;
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{AdminSummary, ConsoleUserId, ConsoleUserStatus, OneTimeLink, Page, Role};
use serde_json::json;

impl ConsoleService {
    /// Lists console users, searchable by email or name. **Permission:**
    /// `AdminsRead` (owners and API keys).
    pub async fn list_admins(
        &self,
        actor: &Actor,
        search: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<AdminSummary>> {
        actor.require(Permission::AdminsRead)?;
        let limit = if limit <= 0 { 50 } else { limit.min(MAX_PAGE) };
        let offset = offset.max(0);
        let pattern = format!("%{}%", like_escape(&search.trim().to_lowercase()));
        let total = store::count_admins(self.core.db.exec(), &pattern).await?;
        let rows =
            store::list_admins(self.core.db.exec(), &pattern, limit, offset, self.now()).await?;
        let items = rows
            .into_iter()
            .map(store::AdminRow::into_summary)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total,
            offset,
            limit,
        })
    }

    /// Invites a console user by email; returns the one-time link (valid 7
    /// days) to send them. Audited as `console.admin.invited`.
    /// **Permission:** `AdminsManage`.
    pub async fn invite_admin(
        &self,
        actor: &Actor,
        email: &str,
        display_name: &str,
        role: Role,
    ) -> Result<OneTimeLink> {
        actor.require(Permission::AdminsManage)?;
        let email = normalize_email("email", email)?;
        let display_name = check_display_name(display_name)?;
        let now = self.now();
        let id = new_id("usr");
        let mut tx = self.core.db.begin().await?;
        let name = name_or_email(display_name, &email);
        store::insert_invited(tx.exec(), &id, &email, &name, role.as_str(), now).await?;
        let (token, expires_at) =
            Self::insert_link(&mut tx, &id, "invite", now, Duration::days(7)).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.invited")
                .target(Target::new("console_user", &id, &email))
                .details(json!({ "role": role.as_str(), "link_expires_at": expires_at })),
        )
        .await?;
        tx.commit().await?;
        Ok(one_time_link(id, email, &token, expires_at))
    }

    /// Whether `user` is the only active owner (and so keeps the role).
    async fn is_last_active_owner(tx: &mut Tx, user: &UserRow) -> Result<bool> {
        Ok(user.role()? == Role::Owner
            && user.status()? == ConsoleUserStatus::Active
            && store::active_owner_count(tx.exec()).await? <= 1)
    }

    /// Changes a console user's role and ends their sessions (they sign in
    /// again with the new role). The last active owner keeps the role.
    /// Audited as `console.admin.role_changed`. **Permission:** `AdminsManage`.
    pub async fn set_role(&self, actor: &Actor, user_id: &ConsoleUserId, role: Role) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        let old = user.role()?;
        if old == role {
            return Ok(());
        }
        if Self::is_last_active_owner(&mut tx, &user).await? {
            return Err(Error::PreconditionFailed(
                "this is the last active owner; make someone else an owner first".into(),
            ));
        }
        store::set_role(tx.exec(), &user.id, role.as_str(), now).await?;
        let ended = store::delete_sessions_of(tx.exec(), &user.id).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.role_changed")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(
                    json!({ "from": old.as_str(), "to": role.as_str(), "sessions_ended": ended }),
                ),
        )
        .await?;
        tx.commit().await
    }

    /// Disables a console user and ends their sessions. Owners cannot
    /// disable themselves or the last active owner. Audited as
    /// `console.admin.disabled`. **Permission:** `AdminsManage`.
    pub async fn disable_admin(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        if actor.id.as_deref() == Some(user_id.0.as_str()) {
            return Err(Error::PreconditionFailed(
                "you cannot disable your own account".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        if user.status()? == ConsoleUserStatus::Disabled {
            return Ok(());
        }
        if Self::is_last_active_owner(&mut tx, &user).await? {
            return Err(Error::PreconditionFailed(
                "this is the last active owner".into(),
            ));
        }
        store::disable(tx.exec(), &user.id, now).await?;
        let ended = store::delete_sessions_of(tx.exec(), &user.id).await?;
        store::delete_links_of(tx.exec(), &user.id).await?;
        audit_sessions_ended(&mut tx, now, actor, "console.admin.disabled", &user, ended).await?;
        tx.commit().await
    }

    /// Re-enables a disabled console user (they sign in with their old
    /// password, or get a new link if they never set one). Audited as
    /// `console.admin.enabled`. **Permission:** `AdminsManage`.
    pub async fn enable_admin(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        if user.status()? != ConsoleUserStatus::Disabled {
            return Ok(());
        }
        let status = if user.password_hash.is_some() {
            "active"
        } else {
            "invited"
        };
        store::set_status(tx.exec(), &user.id, status, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.enabled")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(json!({ "status": status })),
        )
        .await?;
        tx.commit().await
    }

    /// Ends every session of a console user. Audited as
    /// `console.admin.sessions_revoked`. **Permission:** `AdminsManage`.
    pub async fn revoke_sessions(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<u64> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        let ended = store::delete_sessions_of(tx.exec(), &user.id).await?;
        audit_sessions_ended(
            &mut tx,
            now,
            actor,
            "console.admin.sessions_revoked",
            &user,
            ended,
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }
}

/// Appends `action` on `user` with the number of sessions it ended.
async fn audit_sessions_ended(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &'static str,
    user: &UserRow,
    ended: u64,
) -> Result<()> {
    audit::append(
        tx,
        now,
        actor,
        NewEvent::success(action)
            .target(Target::new("console_user", &user.id, &user.email))
            .details(json!({ "sessions_ended": ended })),
    )
    .await?;
    Ok(())
}
