//! Directories: the SCIM connections of identity providers (Okta, Entra ID,
//! …), their bearer tokens, and what the console shows about them.
//!
//! Invariants:
//! - A token is shown once at creation; only its SHA-256 hash and last four
//!   characters are stored. A token authenticates while not revoked and not
//!   past `expires_at` (set on rotation: the old token keeps working for the
//!   overlap period, so an IdP can be switched over without failed requests).
//! - Directory names are unique case-insensitively.
//! - Every change is audited in its transaction; token values never are.
//!
//! The SCIM resources themselves (users, groups) are written by
//! [`crate::scim`]; this module reads them for the console's Directory pages
//! (lists with search, filters, whitelisted sort columns and pages; detail
//! views with memberships and the audit history). Lists never show
//! soft-deleted users, and count as group members only users of the group's
//! own directory.
//!
//! At scale (issue #21, migration 0023) the lists read no more than a page:
//! each group keeps its count of provisioned members (database triggers on
//! memberships and people move it, whoever writes them), and the users
//! search is served by trigram indexes (SQLite: an FTS5 index the list
//! reads when the text is selective; PostgreSQL: `pg_trgm` GIN indexes the
//! planner picks).
//!
//! The area has the domain's target shape: this file is the service for
//! directories and their tokens (roles, rules, audit; no SQL text),
//! `views` the console's people and groups lists and detail pages, `model`
//! the values and their checks (names, pages, token hints, rows as the
//! console sees them), `store` every SQL statement (`store/views.rs` those
//! of the lists and detail pages).

mod model;
mod store;
pub(crate) use store::{directory_choices, directory_exists, directory_name};
mod views;

pub(crate) use model::hint_of;
pub(crate) use store::insert_directory;

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::Core;
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{DirectoryDetail, DirectoryId, DirectorySummary, NewScimToken, ScimTokenId};
use serde_json::json;
use std::sync::Arc;

/// Default overlap during which a rotated-out token keeps working.
pub const DEFAULT_ROTATION_OVERLAP_HOURS: i64 = 24;
/// Failed requests kept per directory for the debugging view.
pub const KEPT_REQUEST_ERRORS: i64 = 200;
/// Rows per page of the directory lists when the caller asks for none.
pub const DEFAULT_PAGE: i64 = 50;
/// Audit events shown on a user's or group's detail page.
pub const HISTORY_LIMIT: i64 = 50;
/// How often a SCIM token's use is written (its `last_used_at`).
pub(crate) const TOKEN_USE_NOTE_SECS: i64 = 60;

/// Directories and their tokens.
#[derive(Clone)]
pub struct DirectoryService {
    pub(crate) core: Arc<Core>,
    /// When this process last noted each token's use: once a minute, by
    /// one request however many arrive together.
    pub(crate) touched: crate::ratelimit::TouchLog,
}

/// Creates a token for a directory; returns its id and value.
async fn insert_token(
    tx: &mut Tx,
    directory_id: &str,
    now: DateTime<Utc>,
) -> Result<(String, String)> {
    let token = format!("pcs_{}", new_secret());
    let id = new_id("tok");
    store::insert_token(
        tx,
        &store::InsertToken {
            id: &id,
            directory_id,
            token_hash: &hash_secret(&token),
            hint: &hint_of(&token),
            created_at: now,
        },
    )
    .await?;
    Ok((id, token))
}

impl DirectoryService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// Lists directories with their counts. **Permission:** `DirectoryRead`.
    pub async fn list_directories(&self, actor: &Actor) -> Result<Vec<DirectorySummary>> {
        actor.require(Permission::DirectoryRead)?;
        let now = self.now();
        let rows = store::summaries(self.core.db.exec(), now, now - Duration::hours(24)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A directory with its tokens and recent failed requests.
    /// **Permission:** `DirectoryRead`.
    pub async fn get_directory(&self, actor: &Actor, id: &DirectoryId) -> Result<DirectoryDetail> {
        actor.require(Permission::DirectoryRead)?;
        let id = id.as_str();
        let now = self.now();
        let db = &self.core.db;
        let summary: DirectorySummary =
            store::summary(db.exec(), now, now - Duration::hours(24), id)
                .await?
                .ok_or(Error::NotFound("directory"))?
                .into();
        let tokens = store::tokens(db.exec(), id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let recent_errors = store::recent_errors(db.exec(), id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(DirectoryDetail {
            summary,
            tokens,
            recent_errors,
            base_url: String::new(),
        })
    }

    /// Creates a directory and its first token (shown once). Audited as
    /// `directory.created`. **Permission:** `DirectoryManage`.
    pub async fn create_directory(&self, actor: &Actor, name: &str) -> Result<NewScimToken> {
        actor.require(Permission::DirectoryManage)?;
        let name = model::check_name(name)?;
        let now = self.now();
        let id = new_id("dir");
        let mut tx = self.core.db.begin().await?;
        insert_directory(&mut tx, &id, &name, now).await?;
        let (token_id, token) = insert_token(&mut tx, &id, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("directory.created")
                .target(Target::new("directory", &id, &name))
                .details(json!({ "token_id": token_id, "token_hint": hint_of(&token) })),
        )
        .await?;
        tx.commit().await?;
        Ok(NewScimToken {
            directory_id: id,
            directory_name: name,
            token,
            base_url: String::new(),
        })
    }

    /// Finds a directory by name (case-insensitive).
    pub async fn find_directory_id(&self, name: &str) -> Result<Option<DirectoryId>> {
        let id =
            store::directory_id_by_name(self.core.db.exec(), &name.trim().to_lowercase()).await?;
        Ok(id.map(DirectoryId::from))
    }

    /// Issues a new token for a directory. Tokens that were active keep
    /// working for `overlap_hours` (0 ends them now). Audited as
    /// `directory.token.rotated`. **Permission:** `DirectoryManage`.
    pub async fn rotate_token(
        &self,
        actor: &Actor,
        directory_id: &DirectoryId,
        overlap_hours: i64,
    ) -> Result<NewScimToken> {
        actor.require(Permission::DirectoryManage)?;
        let directory_id = directory_id.as_str();
        if !(0..=24 * 30).contains(&overlap_hours) {
            return Err(Error::invalid("overlap_hours", "use 0 to 720 hours"));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = store::directory_name(tx.exec(), directory_id)
            .await?
            .ok_or(Error::NotFound("directory"))?;
        let until = now + Duration::hours(overlap_hours);
        let overlapped = store::expire_tokens_at(&mut tx, directory_id, until).await?;
        let (token_id, token) = insert_token(&mut tx, directory_id, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("directory.token.rotated")
                .target(Target::new("directory", directory_id, &name))
                .details(json!({
                    "token_id": token_id,
                    "token_hint": hint_of(&token),
                    "previous_tokens_expire_at": until,
                    "previous_tokens": overlapped,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(NewScimToken {
            directory_id: directory_id.to_owned(),
            directory_name: name,
            token,
            base_url: String::new(),
        })
    }

    /// Revokes one token of directory `directory_id` now; `NotFound` when
    /// the token is not an active token of that directory (unknown, revoked,
    /// or another directory's). Audited as `directory.token.revoked`.
    /// **Permission:** `DirectoryManage` (checked before anything is read).
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        directory_id: &DirectoryId,
        token_id: &ScimTokenId,
    ) -> Result<()> {
        actor.require(Permission::DirectoryManage)?;
        let token_id = token_id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = store::active_token(tx.exec(), token_id)
            .await?
            .filter(|row| row.directory_id == directory_id.as_str())
            .ok_or(Error::NotFound("active token of this directory"))?;
        store::revoke_token(&mut tx, token_id, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("directory.token.revoked")
                .target(Target::new("directory", &row.directory_id, &row.name))
                .details(json!({ "token_id": token_id, "token_hint": row.hint })),
        )
        .await?;
        tx.commit().await
    }

    /// Resolves a bearer token to its directory's actor, or `None` when the
    /// token is unknown, revoked or expired. Records the use at most once a
    /// minute per token.
    pub async fn authenticate(&self, token: &str, meta: RequestMeta) -> Result<Option<Actor>> {
        let now = self.now();
        let Some(row) = store::usable_token(self.core.db.exec(), &hash_secret(token), now).await?
        else {
            return Ok(None);
        };
        if row
            .last_used_at
            .is_none_or(|t| now - t > Duration::seconds(TOKEN_USE_NOTE_SECS))
            && self.touched.due(&row.id, now)
        {
            store::note_token_use(self.core.db.write(), &row.id, now).await?;
            store::note_request(self.core.db.write(), &row.directory_id, now).await?;
        }
        Ok(Some(Actor::directory(
            &row.directory_id.as_str().into(),
            &row.name,
            meta,
        )))
    }

    /// Records a failed SCIM request for the debugging view, keeping the
    /// latest [`KEPT_REQUEST_ERRORS`] per directory.
    pub async fn record_failed_request(
        &self,
        directory_id: &DirectoryId,
        method: &str,
        path: &str,
        status: u16,
        scim_type: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        let directory_id = directory_id.as_str();
        let now = self.now();
        let db = &self.core.db;
        let detail: String = detail.chars().take(500).collect();
        let path: String = path.chars().take(300).collect();
        store::insert_failed_request(
            db.write(),
            &store::FailedRequest {
                directory_id,
                at: now,
                method,
                path: &path,
                status: i64::from(status),
                scim_type,
                detail: &detail,
            },
        )
        .await?;
        store::trim_failed_requests(db.write(), directory_id, KEPT_REQUEST_ERRORS).await
    }
}
