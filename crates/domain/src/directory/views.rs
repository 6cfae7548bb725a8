//! The console's Directory pages: people and groups lists (search, filters,
//! whitelisted sort columns, pages with the total count) and their detail
//! views with memberships and the audit history.

use super::model::{self, page_bounds, Profile};
use super::{store, DirectoryService, DEFAULT_PAGE, HISTORY_LIMIT};
use crate::actor::{Actor, Permission};
use crate::audit;
use crate::db::Backend;
use crate::error::{Error, Result};
use portcullis_types::{
    DirectoryEmail, DirectoryGroupDetail, DirectoryGroupQuery, DirectoryGroupRef,
    DirectoryGroupSummary, DirectoryUserDetail, DirectoryUserQuery, DirectoryUserSummary, GroupId,
    Page, PersonId,
};
use serde_json::Value;

impl DirectoryService {
    /// Lists provisioned (not deleted) users with search (on SQLite from
    /// its trigram index when the text is selective, on PostgreSQL through
    /// trigram indexes the planner picks), directory and status filters, a
    /// whitelisted sort column and a page (at most
    /// [`MAX_PAGE`](crate::audit::MAX_PAGE) rows) with the total count.
    /// Only whitelisted SQL fragments are put together; every value is
    /// bound. **Permission:** `DirectoryRead`.
    pub async fn list_users(
        &self,
        actor: &Actor,
        q: DirectoryUserQuery,
    ) -> Result<Page<DirectoryUserSummary>> {
        actor.require(Permission::DirectoryRead)?;
        let (limit, offset) = page_bounds(q.limit, q.offset, DEFAULT_PAGE);
        let db = &self.core.db;
        let how = match db.backend() {
            Backend::Sqlite => store::sqlite_search(db.exec(), q.search.trim()).await?,
            Backend::Postgres => store::UserSearch::Scan,
        };
        let filter = store::user_filter(&q.directory_id, q.status, &q.search, how);
        let total = store::count_users(db.exec(), &filter).await?;
        let rows = store::user_page(db.exec(), filter, q.sort, q.dir, limit, offset).await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
            offset,
            limit,
        })
    }

    /// A directory user with attributes, groups and the audit history of
    /// the user (newest first, at most [`HISTORY_LIMIT`]). A deleted user is
    /// still found, with `deleted_at` set, so its history stays reachable.
    /// **Permission:** `DirectoryRead`.
    pub async fn get_user(&self, actor: &Actor, id: &PersonId) -> Result<DirectoryUserDetail> {
        actor.require(Permission::DirectoryRead)?;
        let id = id.as_str();
        let db = &self.core.db;
        let row = store::user_detail(db.exec(), id)
            .await?
            .ok_or(Error::NotFound("directory user"))?;
        let emails = store::user_emails(db.exec(), id)
            .await?
            .into_iter()
            .map(|(value, kind, primary)| DirectoryEmail {
                value,
                kind,
                primary,
            })
            .collect();
        let groups = store::user_groups(db.exec(), id, &row.directory_id)
            .await?
            .into_iter()
            .map(|(id, display_name)| DirectoryGroupRef { id, display_name })
            .collect();
        let resource: Value = serde_json::from_str(&row.resource)
            .map_err(|e| Error::Internal(format!("stored user resource: {e}")))?;
        let profile = Profile::of(&resource);
        let manager = match profile.manager {
            None => None,
            Some((value, sent_name)) => {
                let known = store::find_manager(db.exec(), &row.directory_id, &value).await?;
                Some(model::manager(value, sent_name, known))
            }
        };
        let history = audit::events_about(db.exec(), "directory_user", id, HISTORY_LIMIT).await?;
        Ok(DirectoryUserDetail {
            title: profile.title,
            department: profile.department,
            organization: profile.organization,
            employee_number: profile.employee_number,
            manager,
            id: row.id,
            directory_id: row.directory_id,
            directory_name: row.directory_name,
            user_name: row.user_name,
            external_id: row.external_id,
            display_name: row.display_name,
            given_name: row.given_name,
            family_name: row.family_name,
            emails,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            resource,
            groups,
            history,
        })
    }

    /// Lists groups with search, a directory filter, the count of provisioned
    /// members, a whitelisted sort column and a page with the total count.
    /// **Permission:** `DirectoryRead`.
    pub async fn list_groups(
        &self,
        actor: &Actor,
        q: DirectoryGroupQuery,
    ) -> Result<Page<DirectoryGroupSummary>> {
        actor.require(Permission::DirectoryRead)?;
        let (limit, offset) = page_bounds(q.limit, q.offset, DEFAULT_PAGE);
        let filter = store::group_filter(&q.directory_id, &q.search);
        let db = &self.core.db;
        let total = store::count_groups(db.exec(), &filter).await?;
        let rows = store::group_page(db.exec(), filter, q.sort, q.dir, limit, offset).await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
            offset,
            limit,
        })
    }

    /// A group with one page of its members (provisioned users first, by
    /// userName; then ids the IdP listed that are not users of the
    /// directory) and its audit history. **Permission:** `DirectoryRead`.
    pub async fn get_group(
        &self,
        actor: &Actor,
        id: &GroupId,
        member_offset: i64,
        member_limit: i64,
    ) -> Result<DirectoryGroupDetail> {
        actor.require(Permission::DirectoryRead)?;
        let id = id.as_str();
        let (limit, offset) = page_bounds(member_limit, member_offset, DEFAULT_PAGE);
        let db = &self.core.db;
        let g = store::group_summary(db.exec(), id)
            .await?
            .ok_or(Error::NotFound("directory group"))?;
        let total = store::count_members(db.exec(), id).await?;
        let members = store::members(db.exec(), id, limit, offset)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let history = audit::events_about(db.exec(), "directory_group", id, HISTORY_LIMIT).await?;
        Ok(DirectoryGroupDetail {
            id: g.id,
            directory_id: g.directory_id,
            directory_name: g.directory_name,
            display_name: g.display_name,
            external_id: g.external_id,
            created_at: g.created_at,
            updated_at: g.updated_at,
            provisioned_members: g.members,
            members: Page {
                items: members,
                total,
                offset,
                limit,
            },
            history,
        })
    }
}
