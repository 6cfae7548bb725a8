//! The `/Users` endpoints: create, read, replace, patch, delete (soft) and
//! list a directory's users.

use super::ids;
use super::model::{self, user_fields, user_json, UserFields};
use super::store::{self, UserRow, WriteKind, USER_LIST};
use super::{directory_of, Changed, Resource, ScimResult, ScimService};
use crate::actor::Actor;
use crate::audit::NewEvent;
use crate::clock::new_id;
use crate::db::Tx;
use chrono::{DateTime, Utc};
use portcullis_scim::{
    list::ListParams,
    patch::{self, PatchRules},
};
use portcullis_types::PersonId;
use serde_json::{json, Value};

/// Commits a change to user `id` and answers with the user and its groups
/// as they are after it.
async fn commit_with_user(mut tx: Tx, dir: &str, base: &str, id: &str) -> ScimResult<Value> {
    let row = UserRow::load(tx.exec(), dir, id).await?;
    let groups = store::groups_of(tx.exec(), std::slice::from_ref(&row.id)).await?;
    tx.commit().await?;
    user_json(&row, &groups, base)
}

impl ScimService {
    /// `POST /Users`.
    pub async fn create_user(&self, actor: &Actor, base: &str, body: Value) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let f = user_fields(body)?;
        let now = self.now();
        let id = new_id("u");
        let mut tx = self.core.db.begin().await?;
        store::write_user(&mut tx, WriteKind::Create, &id, dir, &f.columns(), now).await?;
        store::write_emails(&mut tx, &id, &f.emails).await?;
        let user = Changed::User {
            id: &id,
            name: &f.user_name,
        };
        let event = NewEvent::success("scim.user.created")
            .details(json!({ "active": f.active, "externalId": f.external_id }));
        Self::record_change(&mut tx, actor, now, user, "provisioned", event).await?;
        let row = UserRow::load(tx.exec(), dir, &id).await?;
        tx.commit().await?;
        user_json(&row, &[], base)
    }

    /// `GET /Users/{id}`.
    pub async fn get_user(&self, actor: &Actor, base: &str, id: &PersonId) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let id = id.as_str();
        let row = UserRow::load(self.core.db.exec(), dir, id).await?;
        let groups = store::groups_of(self.core.db.exec(), std::slice::from_ref(&row.id)).await?;
        user_json(&row, &groups, base)
    }

    /// Writes the new state `f` of user `old` (`how`: PUT or PATCH), audited
    /// as updated, deactivated or reactivated.
    async fn store_user(
        &self,
        actor: &Actor,
        tx: &mut Tx,
        old: &UserRow,
        f: UserFields,
        now: DateTime<Utc>,
        how: &str,
    ) -> ScimResult<()> {
        let dir = directory_of(actor)?;
        store::write_user(tx, WriteKind::Change, &old.id, dir, &f.columns(), now).await?;
        store::write_emails(tx, &old.id, &f.emails).await?;
        let action = match (old.active, f.active) {
            (true, false) => "scim.user.deactivated",
            (false, true) => "scim.user.reactivated",
            _ => "scim.user.updated",
        };
        let user = Changed::User {
            id: &old.id,
            name: &f.user_name,
        };
        let event = NewEvent::success(action).details(json!({ "via": how, "active": f.active }));
        Self::record_change(tx, actor, now, user, "updated", event).await?;
        if old.active && !f.active {
            Self::disable_console_account(
                tx,
                actor,
                old.email.as_deref().or(f.email.as_deref()),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// `PUT /Users/{id}`: replaces the user.
    pub async fn replace_user(
        &self,
        actor: &Actor,
        base: &str,
        id: &PersonId,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let id = id.as_str();
        let f = user_fields(body)?;
        let (dir, now, mut tx, old) = self.begin_change::<UserRow>(actor, id, if_match).await?;
        self.store_user(actor, &mut tx, &old, f, now, "PUT").await?;
        commit_with_user(tx, dir, base, id).await
    }

    /// `PATCH /Users/{id}` (RFC 7644 §3.5.2, with Entra ID's dialect).
    pub async fn patch_user(
        &self,
        actor: &Actor,
        base: &str,
        id: &PersonId,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let id = id.as_str();
        let ops = patch::parse_patch(body, &PatchRules::USER)?;
        let (dir, now, mut tx, old) = self.begin_change::<UserRow>(actor, id, if_match).await?;
        let mut resource = model::stored_resource(&old)?;
        if let Some(obj) = resource.as_object_mut() {
            obj.insert("id".into(), Value::String(old.id.clone()));
        }
        patch::apply(&mut resource, &ops, &PatchRules::USER)?;
        let f = user_fields(resource)?;
        self.store_user(actor, &mut tx, &old, f, now, "PATCH")
            .await?;
        commit_with_user(tx, dir, base, id).await
    }

    /// `DELETE /Users/{id}`: deactivates and hides the user (soft delete),
    /// removing its group memberships.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: &PersonId,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let id = id.as_str();
        let (dir, now, mut tx, old) = self.begin_change::<UserRow>(actor, id, if_match).await?;
        store::delete_user(&mut tx, id, now).await?;
        let groups = store::leave_groups(&mut tx, dir, id).await?;
        let user = Changed::User {
            id,
            name: &old.user_name,
        };
        let event = NewEvent::success("scim.user.deleted")
            .details(json!({ "was_active": old.active, "groups_left": groups }));
        Self::record_change(&mut tx, actor, now, user, "deleted", event).await?;
        if old.active {
            Self::disable_console_account(&mut tx, actor, old.email.as_deref(), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET /Users` and `POST /Users/.search`: (resources, total).
    pub async fn list_users(
        &self,
        actor: &Actor,
        base: &str,
        params: &ListParams,
    ) -> ScimResult<(Vec<Value>, i64)> {
        let (rows, total): (Vec<UserRow>, i64) = self.list_page(actor, &USER_LIST, params).await?;
        let groups = if model::wants_groups(params) {
            store::groups_of(self.core.db.exec(), &ids(&rows)).await?
        } else {
            Vec::new()
        };
        let items = rows
            .iter()
            .map(|r| user_json(r, &groups, base))
            .collect::<ScimResult<Vec<_>>>()?;
        Ok((items, total))
    }
}
