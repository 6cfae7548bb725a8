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

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, like_escape, NewEvent, Target, MAX_PAGE};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::{count_dyn, fetch_all_dyn, Arg};
use crate::error::{Error, Result};
use crate::Core;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{
    DirectoryDetail, DirectoryEmail, DirectoryGroupDetail, DirectoryGroupMember,
    DirectoryGroupQuery, DirectoryGroupRef, DirectoryGroupSort, DirectoryGroupSummary,
    DirectoryManager, DirectorySummary, DirectoryUserDetail, DirectoryUserQuery, DirectoryUserSort,
    DirectoryUserStatus, DirectoryUserSummary, NewScimToken, Page, ScimRequestSummary,
    ScimTokenSummary, SortDir,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// Default overlap during which a rotated-out token keeps working.
pub const DEFAULT_ROTATION_OVERLAP_HOURS: i64 = 24;
/// Failed requests kept per directory for the debugging view.
pub const KEPT_REQUEST_ERRORS: i64 = 200;
/// Rows per page of the directory lists when the caller asks for none.
pub const DEFAULT_PAGE: i64 = 50;
/// Audit events shown on a user's or group's detail page.
pub const HISTORY_LIMIT: i64 = 50;

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
pub(crate) fn hint_of(token: &str) -> String {
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

/// Inserts directory `id` named `name` (also used for the directory an SSO
/// connection makes for its just-in-time people).
pub(crate) async fn insert_directory(
    tx: &mut crate::db::Tx,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO directories (id, name, name_lower, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        id,
        name,
        name.to_lowercase(),
        now
    )?;
    Ok(())
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
            base_url: String::new(),
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
        insert_directory(&mut tx, &id, &name, now).await?;
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

/// `(limit, offset)` of a list call: 0 or less means `default`, at most
/// [`MAX_PAGE`]; a negative offset is 0.
fn page_bounds(limit: i64, offset: i64, default: i64) -> (i64, i64) {
    let limit = if limit <= 0 {
        default
    } else {
        limit.min(MAX_PAGE)
    };
    (limit, offset.max(0))
}

fn sql_dir(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    }
}

/// Appends the search condition of the directory lists: a case-insensitive
/// substring of any of `columns` (lower-cased expressions), or an exact id or
/// externalId (`alias.id`, `alias.external_id`).
fn push_search(
    filter: &mut String,
    args: &mut Vec<Arg>,
    search: &str,
    alias: &str,
    columns: &[&str],
) {
    let search = search.trim();
    if search.is_empty() {
        return;
    }
    args.push(Arg::Text(format!(
        "%{}%",
        like_escape(&search.to_lowercase())
    )));
    let p = args.len();
    args.push(Arg::Text(search.to_owned()));
    let e = args.len();
    let likes: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} LIKE ${p} ESCAPE '\\'"))
        .collect();
    filter.push_str(&format!(
        " AND ({} OR {alias}.id = ${e} OR {alias}.external_id = ${e})",
        likes.join(" OR ")
    ));
}

#[derive(sqlx::FromRow)]
struct UserListRow {
    id: String,
    directory_id: String,
    directory_name: String,
    user_name: String,
    display_name: Option<String>,
    email: Option<String>,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct UserDetailRow {
    id: String,
    directory_id: String,
    directory_name: String,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    active: bool,
    resource: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct GroupListRow {
    id: String,
    directory_id: String,
    directory_name: String,
    display_name: String,
    external_id: Option<String>,
    members: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    provisioned: bool,
    user_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    active: Option<bool>,
}

/// Provisioned members of group `g`: members that are (not deleted) users of
/// the group's own directory. A cheap correlated count (primary-key lookups).
const PROVISIONED_MEMBERS_SQL: &str = "(SELECT COUNT(*) FROM directory_group_members m \
     JOIN directory_users u ON u.id = m.member_id \
     WHERE m.group_id = g.id AND u.directory_id = g.directory_id AND u.deleted_at IS NULL)";

/// A key of a JSON object, matched case-insensitively (SCIM attribute names
/// are case-insensitive, RFC 7643 §2.1).
fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl DirectoryService {
    /// Lists provisioned (not deleted) users with search, directory and
    /// status filters, a whitelisted sort column and a page (at most
    /// [`MAX_PAGE`] rows) with the total count. Only whitelisted SQL fragments
    /// are put together; every value is bound. **Permission:** `DirectoryRead`.
    pub async fn list_users(
        &self,
        actor: &Actor,
        q: DirectoryUserQuery,
    ) -> Result<Page<DirectoryUserSummary>> {
        actor.require(Permission::DirectoryRead)?;
        let (limit, offset) = page_bounds(q.limit, q.offset, DEFAULT_PAGE);
        let mut args = Vec::new();
        let mut filter = String::from(" WHERE u.deleted_at IS NULL");
        let directory_id = q.directory_id.trim();
        if !directory_id.is_empty() {
            args.push(Arg::Text(directory_id.to_owned()));
            filter.push_str(&format!(" AND u.directory_id = ${}", args.len()));
        }
        match q.status {
            Some(DirectoryUserStatus::Active) => filter.push_str(" AND u.active = TRUE"),
            Some(DirectoryUserStatus::Inactive) => filter.push_str(" AND u.active = FALSE"),
            None => {}
        }
        push_search(
            &mut filter,
            &mut args,
            &q.search,
            "u",
            &["u.user_name_lower", "LOWER(u.display_name)", "u.email"],
        );
        let db = &self.core.db;
        let total = count_dyn(
            db.exec(),
            &format!("SELECT COUNT(*) FROM directory_users u{filter}"),
            &args,
        )
        .await?;
        let key = match q.sort {
            DirectoryUserSort::UserName => "u.user_name_lower",
            DirectoryUserSort::DisplayName => "COALESCE(LOWER(u.display_name), u.user_name_lower)",
            DirectoryUserSort::Email => "COALESCE(u.email, '')",
            DirectoryUserSort::Updated => "u.updated_at",
            DirectoryUserSort::Created => "u.created_at",
        };
        let dir = sql_dir(q.dir);
        let n = args.len();
        args.push(Arg::Int(limit));
        args.push(Arg::Int(offset));
        let rows: Vec<UserListRow> = fetch_all_dyn(
            db.exec(),
            &format!(
                "SELECT u.id, u.directory_id, d.name AS directory_name, u.user_name, u.display_name, \
                 u.email, u.active, u.created_at, u.updated_at \
                 FROM directory_users u JOIN directories d ON d.id = u.directory_id{filter} \
                 ORDER BY {key} {dir}, u.id {dir} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &args,
        )
        .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| DirectoryUserSummary {
                    id: r.id,
                    directory_id: r.directory_id,
                    directory_name: r.directory_name,
                    user_name: r.user_name,
                    display_name: r.display_name,
                    email: r.email,
                    active: r.active,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                })
                .collect(),
            total,
            offset,
            limit,
        })
    }

    /// A directory user with attributes, groups and the audit history of
    /// the user (newest first, at most [`HISTORY_LIMIT`]). A deleted user is
    /// still found, with `deleted_at` set, so its history stays reachable.
    /// **Permission:** `DirectoryRead`.
    pub async fn get_user(&self, actor: &Actor, id: &str) -> Result<DirectoryUserDetail> {
        actor.require(Permission::DirectoryRead)?;
        let db = &self.core.db;
        let row = fetch_optional!(
            db.exec(),
            UserDetailRow,
            "SELECT u.id, u.directory_id, d.name AS directory_name, u.user_name, u.external_id, \
             u.display_name, u.given_name, u.family_name, u.active, u.resource, u.created_at, \
             u.updated_at, u.deleted_at \
             FROM directory_users u JOIN directories d ON d.id = u.directory_id WHERE u.id = $1",
            id
        )?
        .ok_or(Error::NotFound("directory user"))?;
        let emails = fetch_all!(
            db.exec(),
            (String, Option<String>, bool),
            "SELECT value, type, primary_ FROM directory_user_emails WHERE user_id = $1 \
             ORDER BY primary_ DESC, value",
            id
        )?
        .into_iter()
        .map(|(value, kind, primary)| DirectoryEmail {
            value,
            kind,
            primary,
        })
        .collect();
        let groups = fetch_all!(
            db.exec(),
            (String, String),
            "SELECT g.id, g.display_name FROM directory_group_members m \
             JOIN directory_groups g ON g.id = m.group_id \
             WHERE m.member_id = $1 AND g.directory_id = $2 ORDER BY g.display_name_lower, g.id",
            id,
            &row.directory_id
        )?
        .into_iter()
        .map(|(id, display_name)| DirectoryGroupRef { id, display_name })
        .collect();
        let resource: Value = serde_json::from_str(&row.resource)
            .map_err(|e| Error::Internal(format!("stored user resource: {e}")))?;
        let enterprise = get_ci(&resource, portcullis_scim::ENTERPRISE_USER_SCHEMA);
        let ext = |key: &str| str_of(enterprise.and_then(|e| get_ci(e, key)));
        let manager = match enterprise.and_then(|e| get_ci(e, "manager")) {
            Some(m @ Value::Object(_)) => {
                str_of(get_ci(m, "value")).map(|v| (v, str_of(get_ci(m, "displayName"))))
            }
            m => str_of(m).map(|v| (v, None)),
        };
        let manager = match manager {
            None => None,
            Some((value, sent_name)) => {
                let known = fetch_optional!(
                    db.exec(),
                    (String, String, Option<String>),
                    "SELECT id, user_name, display_name FROM directory_users \
                     WHERE directory_id = $1 AND deleted_at IS NULL \
                     AND (id = $2 OR external_id = $2 OR user_name_lower = $3) \
                     ORDER BY id LIMIT 1",
                    &row.directory_id,
                    &value,
                    value.to_lowercase()
                )?;
                Some(match known {
                    Some((user_id, user_name, display_name)) => DirectoryManager {
                        value,
                        user_id: Some(user_id),
                        display_name: display_name.or(Some(user_name)),
                    },
                    None => DirectoryManager {
                        value,
                        user_id: None,
                        display_name: sent_name,
                    },
                })
            }
        };
        let history = audit::events_about(db.exec(), "directory_user", id, HISTORY_LIMIT).await?;
        Ok(DirectoryUserDetail {
            title: str_of(get_ci(&resource, "title")),
            department: ext("department"),
            organization: ext("organization"),
            employee_number: ext("employeeNumber"),
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
        let mut args = Vec::new();
        let mut filter = String::from(" WHERE TRUE");
        let directory_id = q.directory_id.trim();
        if !directory_id.is_empty() {
            args.push(Arg::Text(directory_id.to_owned()));
            filter.push_str(&format!(" AND g.directory_id = ${}", args.len()));
        }
        push_search(
            &mut filter,
            &mut args,
            &q.search,
            "g",
            &["g.display_name_lower"],
        );
        let db = &self.core.db;
        let total = count_dyn(
            db.exec(),
            &format!("SELECT COUNT(*) FROM directory_groups g{filter}"),
            &args,
        )
        .await?;
        let key = match q.sort {
            DirectoryGroupSort::Name => "g.display_name_lower",
            DirectoryGroupSort::Members => "members",
            DirectoryGroupSort::Updated => "g.updated_at",
        };
        let dir = sql_dir(q.dir);
        let n = args.len();
        args.push(Arg::Int(limit));
        args.push(Arg::Int(offset));
        // Member counts come from one aggregate joined in (a correlated
        // count per group made PostgreSQL scan the users once per group).
        let sql = format!(
            "SELECT g.id, g.directory_id, d.name AS directory_name, g.display_name, g.external_id, \
             COALESCE(c.n, 0) AS members, g.created_at, g.updated_at \
             FROM directory_groups g JOIN directories d ON d.id = g.directory_id \
             LEFT JOIN (SELECT m.group_id, COUNT(*) AS n FROM directory_group_members m \
                 JOIN directory_groups g2 ON g2.id = m.group_id \
                 JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g2.directory_id \
                     AND u.deleted_at IS NULL \
                 GROUP BY m.group_id) c ON c.group_id = g.id{filter} \
             ORDER BY {key} {dir}, g.id {dir} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows: Vec<GroupListRow> = fetch_all_dyn(db.exec(), &sql, &args).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| DirectoryGroupSummary {
                    id: r.id,
                    directory_id: r.directory_id,
                    directory_name: r.directory_name,
                    display_name: r.display_name,
                    external_id: r.external_id,
                    members: r.members,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                })
                .collect(),
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
        id: &str,
        member_offset: i64,
        member_limit: i64,
    ) -> Result<DirectoryGroupDetail> {
        actor.require(Permission::DirectoryRead)?;
        let (limit, offset) = page_bounds(member_limit, member_offset, DEFAULT_PAGE);
        let db = &self.core.db;
        let g = fetch_optional!(
            db.exec(),
            GroupListRow,
            &format!(
                "SELECT g.id, g.directory_id, d.name AS directory_name, g.display_name, g.external_id, \
                 {PROVISIONED_MEMBERS_SQL} AS members, g.created_at, g.updated_at \
                 FROM directory_groups g JOIN directories d ON d.id = g.directory_id WHERE g.id = $1"
            ),
            id
        )?
        .ok_or(Error::NotFound("directory group"))?;
        let total = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM directory_group_members WHERE group_id = $1",
            id
        )?;
        let members = fetch_all!(
            db.exec(),
            MemberRow,
            "SELECT m.member_id AS id, (u.id IS NOT NULL) AS provisioned, u.user_name, \
             COALESCE(u.display_name, m.display) AS display_name, u.email, u.active \
             FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
             LEFT JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id \
                 AND u.deleted_at IS NULL \
             WHERE m.group_id = $1 \
             ORDER BY (u.id IS NULL), u.user_name_lower, m.member_id LIMIT $2 OFFSET $3",
            id,
            limit,
            offset
        )?
        .into_iter()
        .map(|m| DirectoryGroupMember {
            id: m.id,
            provisioned: m.provisioned,
            user_name: m.user_name,
            display_name: m.display_name,
            email: m.email,
            active: m.active,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Page sizes default, cap at MAX_PAGE, and offsets are never negative.
    #[test]
    fn directory_page_bounds_default_and_cap() {
        assert_eq!(page_bounds(0, -5, 50), (50, 0));
        assert_eq!(page_bounds(10_000, 20, 50), (MAX_PAGE, 20));
        assert_eq!(page_bounds(25, 75, 50), (25, 75));
    }

    /// Search is one bound LIKE pattern (escaped) plus an exact id match; no
    /// user text reaches the SQL.
    #[test]
    fn directory_search_binds_escaped_pattern() {
        let mut filter = String::new();
        let mut args = vec![Arg::Text("dir_1".into())];
        push_search(
            &mut filter,
            &mut args,
            " 50%_Off' OR 1=1 ",
            "u",
            &["u.user_name_lower", "u.email"],
        );
        assert_eq!(
            filter,
            " AND (u.user_name_lower LIKE $2 ESCAPE '\\' OR u.email LIKE $2 ESCAPE '\\' OR u.id = $3 OR u.external_id = $3)"
        );
        assert_eq!(args[1], Arg::Text("%50\\%\\_off' or 1=1%".into()));
        assert_eq!(args[2], Arg::Text("50%_Off' OR 1=1".into()));
        let mut empty = String::new();
        push_search(&mut empty, &mut args, "  ", "u", &["u.email"]);
        assert!(empty.is_empty());
        assert_eq!(args.len(), 3);
    }
}
