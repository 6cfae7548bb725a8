//! The `/Groups` endpoints: create, read, replace, patch, delete and list a
//! directory's groups; membership changes are row inserts and deletes.

use super::ids;
use super::model::{
    self, group_fields, group_json, group_members, members_as_sent, GroupFields, MemberIn,
};
use super::store::{self, GroupRow, WriteKind, GROUP_LIST};
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
use portcullis_types::GroupId;
use serde_json::{json, Value};

/// Adds members; returns how many were new. A member that is not (yet)
/// a user of this directory is kept as sent and grants nothing.
async fn add_members(tx: &mut Tx, group_id: &str, members: &[MemberIn]) -> ScimResult<u64> {
    Ok(store::add_members(tx, group_id, members).await?)
}

async fn remove_members(tx: &mut Tx, group_id: &str, ids: &[String]) -> ScimResult<u64> {
    Ok(store::remove_members(tx, group_id, ids).await?)
}

/// Commits a change to group `id` and answers with the group as it is
/// after it, with its members when `with_members`.
async fn commit_with_group(
    mut tx: Tx,
    dir: &str,
    base: &str,
    id: &str,
    with_members: bool,
) -> ScimResult<Value> {
    let row = GroupRow::load(tx.exec(), dir, id).await?;
    let members = if with_members {
        Some(store::members_of(tx.exec(), std::slice::from_ref(&row.id)).await?)
    } else {
        None
    };
    tx.commit().await?;
    Ok(group_json(&row, members.as_deref(), base))
}

impl ScimService {
    /// Syncs the policy facts of group `id`, renamed or not to `name`, and
    /// audits the change as `scim.group.updated` with `details`.
    async fn group_updated(
        tx: &mut Tx,
        actor: &Actor,
        now: DateTime<Utc>,
        id: &str,
        name: &str,
        details: Value,
    ) -> ScimResult<()> {
        let group = Changed::Group { id, name };
        let event = NewEvent::success("scim.group.updated").details(details);
        Self::record_change(tx, actor, now, group, "updated", event).await?;
        Ok(())
    }

    /// `POST /Groups`.
    pub async fn create_group(&self, actor: &Actor, base: &str, body: Value) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let g = group_fields(&body)?;
        let members = group_members(&body)?;
        let now = self.now();
        let id = new_id("g");
        let mut tx = self.core.db.begin().await?;
        store::write_group(&mut tx, WriteKind::Create, &id, dir, &g, now).await?;
        let added = add_members(&mut tx, &id, &members).await?;
        let group = Changed::Group {
            id: &id,
            name: &g.name,
        };
        let event = NewEvent::success("scim.group.created").details(json!({ "members": added }));
        Self::record_change(&mut tx, actor, now, group, "created", event).await?;
        commit_with_group(tx, dir, base, &id, true).await
    }

    /// `GET /Groups/{id}`.
    pub async fn get_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &GroupId,
        with_members: bool,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let id = id.as_str();
        let row = GroupRow::load(self.core.db.exec(), dir, id).await?;
        let members = if with_members {
            Some(store::members_of(self.core.db.exec(), std::slice::from_ref(&row.id)).await?)
        } else {
            None
        };
        Ok(group_json(&row, members.as_deref(), base))
    }

    /// `PUT /Groups/{id}`: replaces name, externalId and the member list.
    pub async fn replace_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &GroupId,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let id = id.as_str();
        let g = group_fields(&body)?;
        let members = group_members(&body)?;
        let (dir, now, mut tx, _) = self.begin_change::<GroupRow>(actor, id, if_match).await?;
        store::write_group(&mut tx, WriteKind::Change, id, dir, &g, now).await?;
        let removed = store::clear_members(&mut tx, id).await?;
        let added = add_members(&mut tx, id, &members).await?;
        Self::group_updated(
            &mut tx,
            actor,
            now,
            id,
            &g.name,
            json!({ "via": "PUT", "members": added, "previous_members": removed }),
        )
        .await?;
        commit_with_group(tx, dir, base, id, true).await
    }

    /// `PATCH /Groups/{id}`: membership changes are applied as row changes;
    /// other attributes through the generic PATCH engine. Returns the group
    /// without members when `with_members` is false (Entra asks for 204-like
    /// brevity via `excludedAttributes`).
    pub async fn patch_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &GroupId,
        body: &Value,
        if_match: Option<&str>,
        with_members: bool,
    ) -> ScimResult<Value> {
        let id = id.as_str();
        let ops = patch::parse_patch(body, &PatchRules::GROUP)?;
        let changes = patch::member_changes(&ops)?;
        let sent = model::members_in_ops(body);
        let (dir, now, mut tx, old) = self.begin_change::<GroupRow>(actor, id, if_match).await?;
        let g = if changes.other_ops.is_empty() {
            GroupFields {
                name: old.display_name.clone(),
                external_id: old.external_id.clone(),
            }
        } else {
            let mut resource = model::group_resource(&old);
            patch::apply(&mut resource, &changes.other_ops, &PatchRules::GROUP)?;
            group_fields(&resource)?
        };
        store::write_group(&mut tx, WriteKind::Change, id, dir, &g, now).await?;
        let (mut added, mut removed) = (0, 0);
        if let Some(all) = &changes.replace_all {
            removed += store::clear_members(&mut tx, id).await?;
            added += add_members(&mut tx, id, &members_as_sent(all, &sent)).await?;
        }
        removed += remove_members(&mut tx, id, &changes.remove).await?;
        added += add_members(&mut tx, id, &members_as_sent(&changes.add, &sent)).await?;
        let details = json!({
            "via": "PATCH",
            "members_added": added,
            "members_removed": removed,
            "renamed": g.name != old.display_name,
        });
        Self::group_updated(&mut tx, actor, now, id, &g.name, details).await?;
        commit_with_group(tx, dir, base, id, with_members).await
    }

    /// `DELETE /Groups/{id}`.
    pub async fn delete_group(
        &self,
        actor: &Actor,
        id: &GroupId,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let id = id.as_str();
        let (_, now, mut tx, old) = self.begin_change::<GroupRow>(actor, id, if_match).await?;
        let members = store::clear_members(&mut tx, id).await?;
        store::delete_group(&mut tx, id).await?;
        let group = Changed::Group {
            id,
            name: &old.display_name,
        };
        let event = NewEvent::success("scim.group.deleted").details(json!({ "members": members }));
        Self::record_change(&mut tx, actor, now, group, "deleted", event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /Groups` and `POST /Groups/.search`: (resources, total).
    pub async fn list_groups(
        &self,
        actor: &Actor,
        base: &str,
        params: &ListParams,
    ) -> ScimResult<(Vec<Value>, i64)> {
        let (rows, total): (Vec<GroupRow>, i64) =
            self.list_page(actor, &GROUP_LIST, params).await?;
        let members = if model::wants_members(params) {
            Some(store::members_of(self.core.db.exec(), &ids(&rows)).await?)
        } else {
            None
        };
        Ok((
            rows.iter()
                .map(|r| group_json(r, members.as_deref(), base))
                .collect(),
            total,
        ))
    }
}
