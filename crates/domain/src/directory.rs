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
//! The SCIM resources themselves (users, groups) are in [`crate::scim`].

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::error::{Error, Result};
use crate::Core;
use crate::{exec, fetch_all, fetch_optional};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{
    DirectoryDetail, DirectorySummary, NewScimToken, ScimRequestSummary, ScimTokenSummary,
};
use serde_json::json;
use std::sync::Arc;

/// Default overlap during which a rotated-out token keeps working.
pub const DEFAULT_ROTATION_OVERLAP_HOURS: i64 = 24;
/// Failed requests kept per directory for the debugging view.
pub const KEPT_REQUEST_ERRORS: i64 = 200;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    name: String,
    created_at: DateTime<Utc>,
    last_request_at: Option<DateTime<Utc>>,
    users: i64,
    active_users: i64,
    groups: i64,
    active_tokens: i64,
    errors_24h: i64,
}

impl From<SummaryRow> for DirectorySummary {
    fn from(r: SummaryRow) -> Self {
        DirectorySummary {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_request_at: r.last_request_at,
            users: r.users,
            active_users: r.active_users,
            groups: r.groups,
            active_tokens: r.active_tokens,
            errors_24h: r.errors_24h,
        }
    }
}

const SUMMARY_SQL: &str = "SELECT d.id, d.name, d.created_at, d.last_request_at, \
    (SELECT COUNT(*) FROM directory_users u WHERE u.directory_id = d.id AND u.deleted_at IS NULL) AS users, \
    (SELECT COUNT(*) FROM directory_users u WHERE u.directory_id = d.id AND u.deleted_at IS NULL AND u.active = TRUE) AS active_users, \
    (SELECT COUNT(*) FROM directory_groups g WHERE g.directory_id = d.id) AS groups, \
    (SELECT COUNT(*) FROM scim_tokens t WHERE t.directory_id = d.id AND t.revoked_at IS NULL \
        AND (t.expires_at IS NULL OR t.expires_at > $1)) AS active_tokens, \
    (SELECT COUNT(*) FROM scim_requests r WHERE r.directory_id = d.id AND r.status >= 400 AND r.at > $2) AS errors_24h \
    FROM directories d";

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "use 1 to 80 characters, no control characters",
        ));
    }
    Ok(n.to_owned())
}

/// The last four characters of a token, for telling tokens apart.
fn hint_of(token: &str) -> String {
    token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Directories and their tokens.
#[derive(Clone)]
pub struct DirectoryService {
    pub(crate) core: Arc<Core>,
}

impl DirectoryService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// Lists directories with their counts. **Permission:** `DirectoryRead`.
    pub async fn list_directories(&self, actor: &Actor) -> Result<Vec<DirectorySummary>> {
        actor.require(Permission::DirectoryRead)?;
        let now = self.now();
        let rows = fetch_all!(
            self.core.db.exec(),
            SummaryRow,
            &format!("{SUMMARY_SQL} ORDER BY d.name_lower"),
            now,
            now - Duration::hours(24)
        )?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A directory with its tokens and recent failed requests.
    /// **Permission:** `DirectoryRead`.
    pub async fn get_directory(&self, actor: &Actor, id: &str) -> Result<DirectoryDetail> {
        actor.require(Permission::DirectoryRead)?;
        let now = self.now();
        let db = &self.core.db;
        let summary: DirectorySummary = fetch_optional!(
            db.exec(),
            SummaryRow,
            &format!("{SUMMARY_SQL} WHERE d.id = $3"),
            now,
            now - Duration::hours(24),
            id
        )?
        .ok_or(Error::NotFound("directory"))?
        .into();
        #[derive(sqlx::FromRow)]
        struct TokenRow {
            id: String,
            hint: String,
            created_at: DateTime<Utc>,
            expires_at: Option<DateTime<Utc>>,
            revoked_at: Option<DateTime<Utc>>,
            last_used_at: Option<DateTime<Utc>>,
        }
        let tokens = fetch_all!(
            db.exec(),
            TokenRow,
            "SELECT id, hint, created_at, expires_at, revoked_at, last_used_at FROM scim_tokens \
             WHERE directory_id = $1 ORDER BY created_at DESC",
            id
        )?
        .into_iter()
        .map(|t| ScimTokenSummary {
            id: t.id,
            hint: t.hint,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        })
        .collect();
        #[derive(sqlx::FromRow)]
        struct ReqRow {
            at: DateTime<Utc>,
            method: String,
            path: String,
            status: i64,
            scim_type: Option<String>,
            detail: Option<String>,
        }
        let recent_errors = fetch_all!(
            db.exec(),
            ReqRow,
            "SELECT at, method, path, status, scim_type, detail FROM scim_requests \
             WHERE directory_id = $1 AND status >= 400 ORDER BY id DESC LIMIT 50",
            id
        )?
        .into_iter()
        .map(|r| ScimRequestSummary {
            at: r.at,
            method: r.method,
            path: r.path,
            status: r.status,
            scim_type: r.scim_type,
            detail: r.detail,
        })
        .collect();
        Ok(DirectoryDetail {
            summary,
            tokens,
            recent_errors,
        })
    }

    async fn insert_token(
        tx: &mut crate::db::Tx,
        directory_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String)> {
        let token = format!("pcs_{}", new_secret());
        let id = new_id("tok");
        exec!(
            tx.exec(),
            "INSERT INTO scim_tokens (id, directory_id, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)",
            &id,
            directory_id,
            hash_secret(&token),
            hint_of(&token),
            now
        )?;
        Ok((id, token))
    }

    /// Creates a directory and its first token (shown once). Audited as
    /// `directory.created`. **Permission:** `DirectoryManage`.
    pub async fn create_directory(&self, actor: &Actor, name: &str) -> Result<NewScimToken> {
        actor.require(Permission::DirectoryManage)?;
        let name = check_name(name)?;
        let now = self.now();
        let id = new_id("dir");
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "INSERT INTO directories (id, name, name_lower, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            &id,
            &name,
            name.to_lowercase(),
            now
        )?;
        let (token_id, token) = Self::insert_token(&mut tx, &id, now).await?;
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
    pub async fn find_directory_id(&self, name: &str) -> Result<Option<String>> {
        Ok(crate::scalar!(
            self.core.db.exec(),
            Option<String>,
            "SELECT MIN(id) FROM directories WHERE name_lower = $1",
            name.trim().to_lowercase()
        )?)
    }

    /// Issues a new token for a directory. Tokens that were active keep
    /// working for `overlap_hours` (0 ends them now). Audited as
    /// `directory.token.rotated`. **Permission:** `DirectoryManage`.
    pub async fn rotate_token(
        &self,
        actor: &Actor,
        directory_id: &str,
        overlap_hours: i64,
    ) -> Result<NewScimToken> {
        actor.require(Permission::DirectoryManage)?;
        if !(0..=24 * 30).contains(&overlap_hours) {
            return Err(Error::invalid("overlap_hours", "use 0 to 720 hours"));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = fetch_optional!(
            tx.exec(),
            (String,),
            "SELECT name FROM directories WHERE id = $1",
            directory_id
        )?
        .ok_or(Error::NotFound("directory"))?
        .0;
        let until = now + Duration::hours(overlap_hours);
        let overlapped = exec!(
            tx.exec(),
            "UPDATE scim_tokens SET expires_at = $2 WHERE directory_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
            directory_id,
            until
        )?;
        let (token_id, token) = Self::insert_token(&mut tx, directory_id, now).await?;
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

    /// Revokes one token now. Audited as `directory.token.revoked`.
    /// **Permission:** `DirectoryManage`.
    pub async fn revoke_token(&self, actor: &Actor, token_id: &str) -> Result<()> {
        actor.require(Permission::DirectoryManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        #[derive(sqlx::FromRow)]
        struct Row {
            directory_id: String,
            hint: String,
            name: String,
        }
        let row = fetch_optional!(
            tx.exec(),
            Row,
            "SELECT t.directory_id, t.hint, d.name FROM scim_tokens t JOIN directories d ON d.id = t.directory_id \
             WHERE t.id = $1 AND t.revoked_at IS NULL",
            token_id
        )?
        .ok_or(Error::NotFound("active token"))?;
        exec!(
            tx.exec(),
            "UPDATE scim_tokens SET revoked_at = $2 WHERE id = $1",
            token_id,
            now
        )?;
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
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            directory_id: String,
            name: String,
            last_used_at: Option<DateTime<Utc>>,
        }
        let now = self.now();
        let Some(row) = fetch_optional!(
            self.core.db.exec(),
            Row,
            "SELECT t.id, t.directory_id, d.name, t.last_used_at FROM scim_tokens t \
             JOIN directories d ON d.id = t.directory_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
            hash_secret(token),
            now
        )?
        else {
            return Ok(None);
        };
        if row
            .last_used_at
            .is_none_or(|t| now - t > Duration::seconds(60))
        {
            exec!(
                self.core.db.exec(),
                "UPDATE scim_tokens SET last_used_at = $2 WHERE id = $1",
                &row.id,
                now
            )?;
            exec!(
                self.core.db.exec(),
                "UPDATE directories SET last_request_at = $2 WHERE id = $1",
                &row.directory_id,
                now
            )?;
        }
        Ok(Some(Actor::directory(&row.directory_id, &row.name, meta)))
    }

    /// Records a failed SCIM request for the debugging view, keeping the
    /// latest [`KEPT_REQUEST_ERRORS`] per directory.
    pub async fn record_failed_request(
        &self,
        directory_id: &str,
        method: &str,
        path: &str,
        status: u16,
        scim_type: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        let now = self.now();
        let db = &self.core.db;
        let detail: String = detail.chars().take(500).collect();
        let path: String = path.chars().take(300).collect();
        exec!(
            db.exec(),
            "INSERT INTO scim_requests (directory_id, at, method, path, status, scim_type, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            directory_id,
            now,
            method,
            &path,
            i64::from(status),
            scim_type,
            &detail
        )?;
        exec!(
            db.exec(),
            "DELETE FROM scim_requests WHERE directory_id = $1 AND id < \
             (SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM scim_requests WHERE directory_id = $1 \
              ORDER BY id DESC LIMIT $2) AS kept)",
            directory_id,
            KEPT_REQUEST_ERRORS
        )?;
        Ok(())
    }
}
