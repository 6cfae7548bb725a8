//! SCIM 2.0 Users and Groups of a directory (RFC 7643 §4, RFC 7644 §3),
//! on top of the pure protocol crate `portcullis-scim`.
//!
//! Invariants:
//! - A directory sees only its own users and groups; every query is scoped
//!   by `directory_id`.
//! - The user resource JSON is stored as sent (less `id`, `meta`, `groups`
//!   and the write-only `password`, which is never stored); the columns used
//!   for filtering, sorting and uniqueness are derived from it on every write.
//! - `userName` is unique per directory case-insensitively (a unique index);
//!   `meta.version` is `W/"<n>"` and grows with every write; `If-Match`
//!   mismatches are 412.
//! - DELETE of a user is a soft delete (hidden from SCIM, kept for history);
//!   deactivation (`active=false`, by PUT, PATCH or DELETE) removes nothing
//!   else but disables the console account with the same email, ending its
//!   sessions (the last active owner is kept as break-glass).
//! - Group membership changes are row inserts and deletes, never a rewrite
//!   of the member list, so concurrent PATCHes lose no member. A member id
//!   that is not a user of the directory is kept as sent (IdPs may list
//!   members before provisioning them) and grants nothing: every use joins
//!   members to users of the same directory.
//! - Every mutation appends its audit event, with the directory as actor, in
//!   the same transaction. No secret reaches the audit log.

use crate::actor::Actor;
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::db::{count_dyn, fetch_all_dyn, Arg, Backend, Tx};
use crate::error::Error;
use crate::revisions;
use crate::Core;
use crate::{exec, fetch_optional, scalar};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_scim::{
    list::ListParams,
    patch::{self, PatchRules},
    sql::{self, AttrKind, AttrMapping, Dialect, MultiMapping, SqlValue},
    ScimError, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};
use portcullis_types::ActorType;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Result of SCIM operations: errors are SCIM errors (RFC 7644 §3.12).
pub type ScimResult<T> = Result<T, ScimError>;

/// Largest stored user resource, in bytes of JSON.
pub const MAX_RESOURCE_BYTES: usize = 64 * 1024;

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => ScimError::not_found(format!("{what} not found")),
            Error::Conflict { message, .. } => ScimError::uniqueness(message),
            Error::Invalid(fields) => ScimError::invalid_value(
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::Forbidden(m) => ScimError {
                status: 403,
                scim_type: None,
                detail: m,
            },
            Error::Unauthenticated(m) => ScimError::unauthorized(m),
            Error::RateLimited { .. } => ScimError {
                status: 429,
                scim_type: None,
                detail: "too many requests".into(),
            },
            Error::PreconditionFailed(m) => ScimError::precondition_failed(m),
            Error::Unavailable(source) => {
                tracing::error!(error = %source, "SCIM: database unavailable");
                ScimError {
                    status: 503,
                    scim_type: None,
                    detail: "the database is not answering; retry later".into(),
                }
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "SCIM: internal error");
                ScimError {
                    status: 500,
                    scim_type: None,
                    detail: "internal error".into(),
                }
            }
        }
    }
}

fn db_err(e: sqlx::Error) -> ScimError {
    ScimError::from(Error::from(e))
}

const USER_ATTRS: &[AttrMapping] = &[
    AttrMapping {
        path: "id",
        column: "u.id",
        kind: AttrKind::String { case_exact: true },
        multi: None,
    },
    AttrMapping {
        path: "username",
        column: "u.user_name",
        kind: AttrKind::String { case_exact: false },
        multi: None,
    },
    AttrMapping {
        path: "externalid",
        column: "u.external_id",
        kind: AttrKind::String { case_exact: true },
        multi: None,
    },
    AttrMapping {
        path: "displayname",
        column: "u.display_name",
        kind: AttrKind::String { case_exact: false },
        multi: None,
    },
    AttrMapping {
        path: "name.givenname",
        column: "u.given_name",
        kind: AttrKind::String { case_exact: false },
        multi: None,
    },
    AttrMapping {
        path: "name.familyname",
        column: "u.family_name",
        kind: AttrKind::String { case_exact: false },
        multi: None,
    },
    AttrMapping {
        path: "active",
        column: "u.active",
        kind: AttrKind::Boolean,
        multi: None,
    },
    AttrMapping {
        path: "meta.created",
        column: "u.created_at",
        kind: AttrKind::DateTime,
        multi: None,
    },
    AttrMapping {
        path: "meta.lastmodified",
        column: "u.updated_at",
        kind: AttrKind::DateTime,
        multi: None,
    },
    AttrMapping {
        path: "emails.value",
        column: "value",
        kind: AttrKind::String { case_exact: false },
        multi: Some(MultiMapping {
            table: "directory_user_emails",
            fk: "user_id",
            parent_key: "u.id",
        }),
    },
    AttrMapping {
        path: "emails.type",
        column: "type",
        kind: AttrKind::String { case_exact: false },
        multi: Some(MultiMapping {
            table: "directory_user_emails",
            fk: "user_id",
            parent_key: "u.id",
        }),
    },
    AttrMapping {
        path: "emails.primary",
        column: "primary_",
        kind: AttrKind::Boolean,
        multi: Some(MultiMapping {
            table: "directory_user_emails",
            fk: "user_id",
            parent_key: "u.id",
        }),
    },
];

const GROUP_ATTRS: &[AttrMapping] = &[
    AttrMapping {
        path: "id",
        column: "g.id",
        kind: AttrKind::String { case_exact: true },
        multi: None,
    },
    AttrMapping {
        path: "displayname",
        column: "g.display_name",
        kind: AttrKind::String { case_exact: false },
        multi: None,
    },
    AttrMapping {
        path: "externalid",
        column: "g.external_id",
        kind: AttrKind::String { case_exact: true },
        multi: None,
    },
    AttrMapping {
        path: "meta.created",
        column: "g.created_at",
        kind: AttrKind::DateTime,
        multi: None,
    },
    AttrMapping {
        path: "meta.lastmodified",
        column: "g.updated_at",
        kind: AttrKind::DateTime,
        multi: None,
    },
    AttrMapping {
        path: "members.value",
        column: "member_id",
        kind: AttrKind::String { case_exact: true },
        multi: Some(MultiMapping {
            table: "directory_group_members",
            fk: "group_id",
            parent_key: "g.id",
        }),
    },
];

fn to_arg(v: SqlValue) -> Arg {
    match v {
        SqlValue::Text(s) => Arg::Text(s),
        SqlValue::Int(i) => Arg::Int(i),
        SqlValue::Float(f) => Arg::Float(f),
        SqlValue::Bool(b) => Arg::Bool(b),
        SqlValue::Null => Arg::Null,
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Checks an `If-Match` header value against the current version.
fn check_if_match(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(v) if v.split(',').any(|t| t.trim() == etag(version)) => Ok(()),
        Some(v) => Err(ScimError::precondition_failed(format!(
            "If-Match {v} does not match the current version {}",
            etag(version)
        ))),
    }
}

/// The columns derived from a user resource.
struct UserFields {
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    active: bool,
    emails: Vec<(String, Option<String>, bool)>,
    resource: String,
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn opt_string(obj: &Map<String, Value>, key: &str, max: usize) -> ScimResult<Option<String>> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ScimError::invalid_value(format!(
            "{key} is longer than {max} characters"
        ))),
        Some(_) => Err(ScimError::invalid_value(format!("{key} must be a string"))),
    }
}

fn as_bool(v: &Value, key: &str) -> ScimResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!("{key} must be a boolean"))),
    }
}

/// Validates a user resource and derives its columns. Strips read-only and
/// write-only attributes.
fn user_fields(mut body: Value) -> ScimResult<UserFields> {
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ScimError::invalid_syntax("the User must be a JSON object"))?;
    obj.retain(|k, _| {
        !["id", "meta", "groups", "password"]
            .iter()
            .any(|r| k.eq_ignore_ascii_case(r))
    });
    let user_name = opt_string(obj, "userName", 256)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let active = match get_ci(obj, "active") {
        None | Some(Value::Null) => true,
        Some(v) => as_bool(v, "active")?,
    };
    if get_ci(obj, "active").is_some_and(|v| !v.is_null()) {
        obj.retain(|k, _| !k.eq_ignore_ascii_case("active"));
        obj.insert("active".into(), Value::Bool(active));
    }
    let name = get_ci(obj, "name").and_then(Value::as_object);
    let given_name = name
        .map(|n| opt_string(n, "givenName", 256))
        .transpose()?
        .flatten();
    let family_name = name
        .map(|n| opt_string(n, "familyName", 256))
        .transpose()?
        .flatten();
    let mut emails = Vec::new();
    if let Some(list) = get_ci(obj, "emails") {
        let list = list
            .as_array()
            .ok_or_else(|| ScimError::invalid_value("emails must be a list"))?;
        if list.len() > 50 {
            return Err(ScimError::invalid_value("at most 50 emails"));
        }
        for e in list {
            let e = e
                .as_object()
                .ok_or_else(|| ScimError::invalid_value("each email must be an object"))?;
            let Some(value) = opt_string(e, "value", 320)? else {
                continue;
            };
            let kind = opt_string(e, "type", 64)?;
            let primary = get_ci(e, "primary")
                .map(|v| as_bool(v, "emails.primary"))
                .transpose()?
                .unwrap_or(false);
            emails.push((value.to_lowercase(), kind, primary));
        }
    }
    let email = emails
        .iter()
        .find(|e| e.2)
        .or_else(|| emails.first())
        .map(|e| e.0.clone());
    let mut schemas: Vec<Value> = vec![Value::String(USER_SCHEMA.into())];
    if get_ci(obj, ENTERPRISE_USER_SCHEMA).is_some() {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA.into()));
    }
    obj.insert("schemas".into(), Value::Array(schemas));
    let fields = UserFields {
        user_name,
        external_id: opt_string(obj, "externalId", 256)?,
        display_name: opt_string(obj, "displayName", 256)?,
        given_name,
        family_name,
        email,
        active,
        emails,
        resource: body.to_string(),
    };
    if fields.resource.len() > MAX_RESOURCE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "the User is larger than {MAX_RESOURCE_BYTES} bytes"
        )));
    }
    Ok(fields)
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    user_name: String,
    email: Option<String>,
    active: bool,
    resource: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const SELECT_USER: &str = "SELECT u.id, u.user_name, u.email, u.active, u.resource, u.version, u.created_at, u.updated_at \
     FROM directory_users u";

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    display_name: String,
    external_id: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const SELECT_GROUP: &str =
    "SELECT g.id, g.display_name, g.external_id, g.version, g.created_at, g.updated_at FROM directory_groups g";

#[derive(sqlx::FromRow)]
struct MemberRow {
    owner: String,
    id: String,
    display: Option<String>,
    /// For members that are not users of the directory: what the IdP sent.
    ref_: Option<String>,
    kind: Option<String>,
    known: bool,
}

/// A member as a request lists it.
#[derive(Clone, Debug, Default)]
struct MemberIn {
    id: String,
    display: Option<String>,
    ref_: Option<String>,
    kind: Option<String>,
}

/// SCIM Users and Groups of the calling directory.
#[derive(Clone)]
pub struct ScimService {
    pub(crate) core: Arc<Core>,
}

fn directory_of(actor: &Actor) -> ScimResult<&str> {
    match (actor.kind, actor.id.as_deref()) {
        (ActorType::Directory, Some(id)) => Ok(id),
        _ => Err(ScimError::unauthorized(
            "a directory bearer token is required",
        )),
    }
}

impl ScimService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    fn dialect(&self) -> Dialect {
        match self.core.db.backend() {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
        }
    }

    fn user_json(row: &UserRow, groups: &[MemberRow], base: &str) -> ScimResult<Value> {
        let mut v: Value = serde_json::from_str(&row.resource)
            .map_err(|e| ScimError::from(Error::Internal(format!("stored user resource: {e}"))))?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("id".into(), Value::String(row.id.clone()));
            let gs: Vec<Value> = groups
                .iter()
                .filter(|g| g.owner == row.id)
                .map(|g| json!({ "value": g.id, "display": g.display.clone().unwrap_or_default(), "$ref": format!("{base}/Groups/{}", g.id), "type": "direct" }))
                .collect();
            if !gs.is_empty() {
                obj.insert("groups".into(), Value::Array(gs));
            }
            obj.insert(
                "meta".into(),
                json!({
                    "resourceType": "User",
                    "created": ts(row.created_at),
                    "lastModified": ts(row.updated_at),
                    "version": etag(row.version),
                    "location": format!("{base}/Users/{}", row.id),
                }),
            );
        }
        Ok(v)
    }

    fn group_json(row: &GroupRow, members: Option<&[MemberRow]>, base: &str) -> Value {
        let mut v = json!({
            "schemas": [GROUP_SCHEMA],
            "id": row.id,
            "displayName": row.display_name,
            "meta": {
                "resourceType": "Group",
                "created": ts(row.created_at),
                "lastModified": ts(row.updated_at),
                "version": etag(row.version),
                "location": format!("{base}/Groups/{}", row.id),
            },
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(ext) = &row.external_id {
                obj.insert("externalId".into(), Value::String(ext.clone()));
            }
            if let Some(members) = members {
                obj.insert(
                    "members".into(),
                    Value::Array(
                        members
                            .iter()
                            .filter(|m| m.owner == row.id)
                            .map(|m| {
                                let mut o = Map::new();
                                o.insert("value".into(), Value::String(m.id.clone()));
                                if let Some(d) = m.display.as_ref().filter(|d| !d.is_empty()) {
                                    o.insert("display".into(), Value::String(d.clone()));
                                }
                                let (r, k) = if m.known {
                                    (
                                        Some(format!("{base}/Users/{}", m.id)),
                                        Some("User".to_owned()),
                                    )
                                } else {
                                    (m.ref_.clone(), m.kind.clone())
                                };
                                if let Some(r) = r {
                                    o.insert("$ref".into(), Value::String(r));
                                }
                                if let Some(k) = k {
                                    o.insert("type".into(), Value::String(k));
                                }
                                Value::Object(o)
                            })
                            .collect(),
                    ),
                );
            }
        }
        v
    }

    /// Groups of the given users (for the read-only `groups` attribute).
    async fn groups_of(
        &self,
        exec: crate::db::Exec<'_>,
        user_ids: &[String],
    ) -> ScimResult<Vec<MemberRow>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT m.member_id AS owner, g.id AS id, g.display_name AS display, NULL AS ref_, NULL AS kind, \
             TRUE AS known FROM directory_group_members m \
             JOIN directory_groups g ON g.id = m.group_id WHERE m.member_id IN ({}) ORDER BY g.display_name_lower",
            placeholders.join(", ")
        );
        let args: Vec<Arg> = user_ids.iter().map(|id| Arg::Text(id.clone())).collect();
        fetch_all_dyn(exec, &sql, &args).await.map_err(db_err)
    }

    /// Members of the given groups.
    async fn members_of(
        &self,
        exec: crate::db::Exec<'_>,
        group_ids: &[String],
    ) -> ScimResult<Vec<MemberRow>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=group_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT m.group_id AS owner, m.member_id AS id, \
             COALESCE(u.display_name, u.user_name, m.display) AS display, m.ref AS ref_, m.type AS kind, \
             (u.id IS NOT NULL) AS known \
             FROM directory_group_members m JOIN directory_groups g ON g.id = m.group_id \
             LEFT JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id AND u.deleted_at IS NULL \
             WHERE m.group_id IN ({}) ORDER BY m.member_id",
            placeholders.join(", ")
        );
        let args: Vec<Arg> = group_ids.iter().map(|id| Arg::Text(id.clone())).collect();
        fetch_all_dyn(exec, &sql, &args).await.map_err(db_err)
    }

    async fn load_user(tx: &mut Tx, dir: &str, id: &str) -> ScimResult<UserRow> {
        fetch_optional!(
            tx.exec(),
            UserRow,
            &format!(
                "{SELECT_USER} WHERE u.id = $1 AND u.directory_id = $2 AND u.deleted_at IS NULL"
            ),
            id,
            dir
        )
        .map_err(db_err)?
        .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))
    }

    async fn write_emails(
        tx: &mut Tx,
        user_id: &str,
        emails: &[(String, Option<String>, bool)],
    ) -> ScimResult<()> {
        exec!(
            tx.exec(),
            "DELETE FROM directory_user_emails WHERE user_id = $1",
            user_id
        )
        .map_err(db_err)?;
        for (value, kind, primary) in emails {
            exec!(
                tx.exec(),
                "INSERT INTO directory_user_emails (user_id, value, type, primary_) VALUES ($1, $2, $3, $4)",
                user_id,
                value,
                kind,
                *primary
            )
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// Disables the console account with `email` (if any, and unless it is
    /// the last active owner) and ends its sessions, because the directory
    /// deactivated the person. Audited as `console.admin.disabled`.
    async fn disable_console_account(
        tx: &mut Tx,
        actor: &Actor,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> ScimResult<()> {
        let Some(email) = email else { return Ok(()) };
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            role: String,
        }
        let Some(row) = fetch_optional!(
            tx.exec(),
            Row,
            "SELECT id, role FROM console_users WHERE email = $1 AND status = 'active'",
            email
        )
        .map_err(db_err)?
        else {
            return Ok(());
        };
        if row.role == "owner" {
            let owners = scalar!(
                tx.exec(),
                i64,
                "SELECT COUNT(*) FROM console_users WHERE role = 'owner' AND status = 'active'"
            )
            .map_err(db_err)?;
            if owners <= 1 {
                tracing::warn!(email, "directory deactivated the last active owner; the console account is kept as break-glass");
                return Ok(());
            }
        }
        exec!(
            tx.exec(),
            "UPDATE console_users SET status = 'disabled', updated_at = $2 WHERE id = $1",
            &row.id,
            now
        )
        .map_err(db_err)?;
        let ended = exec!(
            tx.exec(),
            "DELETE FROM sessions WHERE user_id = $1",
            &row.id
        )
        .map_err(db_err)?;
        audit::append(
            tx,
            now,
            actor,
            NewEvent::success("console.admin.disabled")
                .target(Target::new("console_user", &row.id, email))
                .details(
                    json!({ "reason": "deactivated in the directory", "sessions_ended": ended }),
                ),
        )
        .await?;
        Ok(())
    }

    /// Brings the policy facts of a user or group in line with what this
    /// transaction wrote: a new policy revision when the policy changed.
    async fn sync_policy(
        tx: &mut Tx,
        actor: &Actor,
        now: DateTime<Utc>,
        what: String,
        user: Option<&str>,
        group: Option<&str>,
    ) -> ScimResult<()> {
        let mut change = revisions::Change::new(actor, "directory", format!("SCIM: {what}"), now);
        if let Some(u) = user {
            revisions::sync_directory_user(tx, &mut change, u).await?;
        }
        if let Some(g) = group {
            revisions::sync_directory_group(tx, &mut change, g).await?;
        }
        Ok(())
    }

    /// `POST /Users`.
    pub async fn create_user(&self, actor: &Actor, base: &str, body: Value) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let f = user_fields(body)?;
        let now = self.now();
        let id = new_id("u");
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "INSERT INTO directory_users (id, directory_id, user_name, user_name_lower, external_id, display_name, \
             given_name, family_name, email, active, resource, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)",
            &id,
            dir,
            &f.user_name,
            f.user_name.to_lowercase(),
            &f.external_id,
            &f.display_name,
            &f.given_name,
            &f.family_name,
            &f.email,
            f.active,
            &f.resource,
            now
        )
        .map_err(db_err)?;
        Self::write_emails(&mut tx, &id, &f.emails).await?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("{} provisioned", f.user_name),
            Some(&id),
            None,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.user.created")
                .target(Target::new("directory_user", &id, &f.user_name))
                .details(json!({ "active": f.active, "externalId": f.external_id })),
        )
        .await?;
        let row = Self::load_user(&mut tx, dir, &id).await?;
        tx.commit().await?;
        Self::user_json(&row, &[], base)
    }

    /// `GET /Users/{id}`.
    pub async fn get_user(&self, actor: &Actor, base: &str, id: &str) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let row = fetch_optional!(
            self.core.db.exec(),
            UserRow,
            &format!(
                "{SELECT_USER} WHERE u.id = $1 AND u.directory_id = $2 AND u.deleted_at IS NULL"
            ),
            id,
            dir
        )
        .map_err(db_err)?
        .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))?;
        let groups = self
            .groups_of(self.core.db.exec(), std::slice::from_ref(&row.id))
            .await?;
        Self::user_json(&row, &groups, base)
    }

    async fn store_user(
        &self,
        actor: &Actor,
        tx: &mut Tx,
        old: &UserRow,
        f: UserFields,
        now: DateTime<Utc>,
        how: &str,
    ) -> ScimResult<()> {
        exec!(
            tx.exec(),
            "UPDATE directory_users SET user_name = $2, user_name_lower = $3, external_id = $4, display_name = $5, \
             given_name = $6, family_name = $7, email = $8, active = $9, resource = $10, version = version + 1, \
             updated_at = $11 WHERE id = $1",
            &old.id,
            &f.user_name,
            f.user_name.to_lowercase(),
            &f.external_id,
            &f.display_name,
            &f.given_name,
            &f.family_name,
            &f.email,
            f.active,
            &f.resource,
            now
        )
        .map_err(db_err)?;
        Self::write_emails(tx, &old.id, &f.emails).await?;
        let action = match (old.active, f.active) {
            (true, false) => "scim.user.deactivated",
            (false, true) => "scim.user.reactivated",
            _ => "scim.user.updated",
        };
        Self::sync_policy(
            tx,
            actor,
            now,
            format!("{} updated", f.user_name),
            Some(&old.id),
            None,
        )
        .await?;
        audit::append(
            tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("directory_user", &old.id, &f.user_name))
                .details(json!({ "via": how, "active": f.active })),
        )
        .await?;
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
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let f = user_fields(body)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_user(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        self.store_user(actor, &mut tx, &old, f, now, "PUT").await?;
        let row = Self::load_user(&mut tx, dir, id).await?;
        let groups = self
            .groups_of(tx.exec(), std::slice::from_ref(&row.id))
            .await?;
        tx.commit().await?;
        Self::user_json(&row, &groups, base)
    }

    /// `PATCH /Users/{id}` (RFC 7644 §3.5.2, with Entra ID's dialect).
    pub async fn patch_user(
        &self,
        actor: &Actor,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let ops = patch::parse_patch(body, &PatchRules::USER)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_user(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        let mut resource: Value = serde_json::from_str(&old.resource)
            .map_err(|e| ScimError::from(Error::Internal(format!("stored user resource: {e}"))))?;
        if let Some(obj) = resource.as_object_mut() {
            obj.insert("id".into(), Value::String(old.id.clone()));
        }
        patch::apply(&mut resource, &ops, &PatchRules::USER)?;
        let f = user_fields(resource)?;
        self.store_user(actor, &mut tx, &old, f, now, "PATCH")
            .await?;
        let row = Self::load_user(&mut tx, dir, id).await?;
        let groups = self
            .groups_of(tx.exec(), std::slice::from_ref(&row.id))
            .await?;
        tx.commit().await?;
        Self::user_json(&row, &groups, base)
    }

    /// `DELETE /Users/{id}`: deactivates and hides the user (soft delete),
    /// removing its group memberships.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let dir = directory_of(actor)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_user(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        exec!(
            tx.exec(),
            "UPDATE directory_users SET deleted_at = $2, active = FALSE, version = version + 1, updated_at = $2 WHERE id = $1",
            id,
            now
        )
        .map_err(db_err)?;
        let groups = exec!(
            tx.exec(),
            "DELETE FROM directory_group_members WHERE member_id = $1",
            id
        )
        .map_err(db_err)?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("{} deleted", old.user_name),
            Some(id),
            None,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.user.deleted")
                .target(Target::new("directory_user", id, &old.user_name))
                .details(json!({ "was_active": old.active, "groups_left": groups })),
        )
        .await?;
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
        let dir = directory_of(actor)?;
        let (frag, binds) = match &params.filter {
            Some(f) => sql::to_sql(f, USER_ATTRS, self.dialect(), 2)?,
            None => ("TRUE".to_owned(), Vec::new()),
        };
        let mut args = vec![Arg::Text(dir.to_owned())];
        args.extend(binds.into_iter().map(to_arg));
        let filter = format!(" WHERE u.directory_id = $1 AND u.deleted_at IS NULL AND {frag}");
        let total = count_dyn(
            self.core.db.exec(),
            &format!("SELECT COUNT(*) FROM directory_users u{filter}"),
            &args,
        )
        .await
        .map_err(db_err)?;
        let order = match &params.sort_by {
            Some(s) => format!(
                "{}, u.id",
                sql::order_by_sql(s, params.sort_order, USER_ATTRS)?
            ),
            None => "u.created_at, u.id".to_owned(),
        };
        let n = args.len();
        args.push(Arg::Int(params.count));
        args.push(Arg::Int(params.offset()));
        let rows: Vec<UserRow> = fetch_all_dyn(
            self.core.db.exec(),
            &format!(
                "{SELECT_USER}{filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &args,
        )
        .await
        .map_err(db_err)?;
        let wants_groups = !params
            .excluded_attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case("groups"));
        let groups = if wants_groups {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            self.groups_of(self.core.db.exec(), &ids).await?
        } else {
            Vec::new()
        };
        let items = rows
            .iter()
            .map(|r| Self::user_json(r, &groups, base))
            .collect::<ScimResult<Vec<_>>>()?;
        Ok((items, total))
    }

    async fn load_group(tx: &mut Tx, dir: &str, id: &str) -> ScimResult<GroupRow> {
        fetch_optional!(
            tx.exec(),
            GroupRow,
            &format!("{SELECT_GROUP} WHERE g.id = $1 AND g.directory_id = $2"),
            id,
            dir
        )
        .map_err(db_err)?
        .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")))
    }

    /// The members a request lists.
    fn member_list(value: Option<&Value>) -> ScimResult<Vec<MemberIn>> {
        let Some(v) = value else {
            return Ok(Vec::new());
        };
        let list = v
            .as_array()
            .ok_or_else(|| ScimError::invalid_value("members must be a list"))?;
        let text = |o: &Map<String, Value>, k: &str| -> Option<String> {
            get_ci(o, k)
                .and_then(Value::as_str)
                .map(|d| d.chars().take(512).collect())
        };
        list.iter()
            .map(|m| {
                let o = m
                    .as_object()
                    .ok_or_else(|| ScimError::invalid_value("each member must be an object"))?;
                let id = get_ci(o, "value")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty() && s.len() <= 256)
                    .ok_or_else(|| {
                        ScimError::invalid_value(
                            "each member needs a string value of at most 256 characters",
                        )
                    })?;
                Ok(MemberIn {
                    id: id.to_owned(),
                    display: text(o, "display"),
                    ref_: text(o, "$ref"),
                    kind: text(o, "type"),
                })
            })
            .collect()
    }

    /// Member objects sent anywhere in PATCH operations, by id, so adds keep
    /// the `display`, `$ref` and `type` the IdP sent.
    fn members_in_ops(body: &Value) -> std::collections::HashMap<String, MemberIn> {
        let mut found = std::collections::HashMap::new();
        let ops = body
            .as_object()
            .and_then(|o| get_ci(o, "Operations"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for op in ops {
            let value = op.as_object().and_then(|o| get_ci(o, "value")).cloned();
            let lists = match value {
                Some(Value::Array(a)) => vec![Value::Array(a)],
                Some(Value::Object(o)) => get_ci(&o, "members").cloned().into_iter().collect(),
                _ => Vec::new(),
            };
            for list in lists {
                if let Ok(ms) = Self::member_list(Some(&list)) {
                    for m in ms {
                        found.insert(m.id.clone(), m);
                    }
                }
            }
        }
        found
    }

    /// Adds members; returns how many were new. A member that is not (yet)
    /// a user of this directory is kept as sent and grants nothing.
    async fn add_members(tx: &mut Tx, group_id: &str, members: &[MemberIn]) -> ScimResult<u64> {
        let mut added = 0;
        for m in members {
            added += exec!(
                tx.exec(),
                "INSERT INTO directory_group_members (group_id, member_id, display, ref, type) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                group_id,
                &m.id,
                &m.display,
                &m.ref_,
                &m.kind
            )
            .map_err(db_err)?;
        }
        Ok(added)
    }

    async fn remove_members(tx: &mut Tx, group_id: &str, ids: &[String]) -> ScimResult<u64> {
        let mut removed = 0;
        for uid in ids {
            removed += exec!(
                tx.exec(),
                "DELETE FROM directory_group_members WHERE group_id = $1 AND member_id = $2",
                group_id,
                uid
            )
            .map_err(db_err)?;
        }
        Ok(removed)
    }

    fn group_fields(body: &Value) -> ScimResult<(String, Option<String>)> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the Group must be a JSON object"))?;
        let name = opt_string(obj, "displayName", 256)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        Ok((name, opt_string(obj, "externalId", 256)?))
    }

    async fn group_response(
        &self,
        tx: &mut Tx,
        dir: &str,
        base: &str,
        id: &str,
    ) -> ScimResult<Value> {
        let row = Self::load_group(tx, dir, id).await?;
        let members = self
            .members_of(tx.exec(), std::slice::from_ref(&row.id))
            .await?;
        Ok(Self::group_json(&row, Some(&members), base))
    }

    /// `POST /Groups`.
    pub async fn create_group(&self, actor: &Actor, base: &str, body: Value) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let (name, external_id) = Self::group_fields(&body)?;
        let members = Self::member_list(body.as_object().and_then(|o| get_ci(o, "members")))?;
        let now = self.now();
        let id = new_id("g");
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "INSERT INTO directory_groups (id, directory_id, display_name, display_name_lower, external_id, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
            &id,
            dir,
            &name,
            name.to_lowercase(),
            &external_id,
            now
        )
        .map_err(db_err)?;
        let added = Self::add_members(&mut tx, &id, &members).await?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("group {name} created"),
            None,
            Some(&id),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.group.created")
                .target(Target::new("directory_group", &id, &name))
                .details(json!({ "members": added })),
        )
        .await?;
        let v = self.group_response(&mut tx, dir, base, &id).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// `GET /Groups/{id}`.
    pub async fn get_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &str,
        with_members: bool,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let row = fetch_optional!(
            self.core.db.exec(),
            GroupRow,
            &format!("{SELECT_GROUP} WHERE g.id = $1 AND g.directory_id = $2"),
            id,
            dir
        )
        .map_err(db_err)?
        .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")))?;
        let members = if with_members {
            Some(
                self.members_of(self.core.db.exec(), std::slice::from_ref(&row.id))
                    .await?,
            )
        } else {
            None
        };
        Ok(Self::group_json(&row, members.as_deref(), base))
    }

    async fn update_group_row(
        tx: &mut Tx,
        id: &str,
        name: &str,
        external_id: &Option<String>,
        now: DateTime<Utc>,
    ) -> ScimResult<()> {
        exec!(
            tx.exec(),
            "UPDATE directory_groups SET display_name = $2, display_name_lower = $3, external_id = $4, \
             version = version + 1, updated_at = $5 WHERE id = $1",
            id,
            name,
            name.to_lowercase(),
            external_id,
            now
        )
        .map_err(db_err)?;
        Ok(())
    }

    /// `PUT /Groups/{id}`: replaces name, externalId and the member list.
    pub async fn replace_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let (name, external_id) = Self::group_fields(&body)?;
        let members = Self::member_list(body.as_object().and_then(|o| get_ci(o, "members")))?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_group(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        Self::update_group_row(&mut tx, id, &name, &external_id, now).await?;
        let removed = exec!(
            tx.exec(),
            "DELETE FROM directory_group_members WHERE group_id = $1",
            id
        )
        .map_err(db_err)?;
        let added = Self::add_members(&mut tx, id, &members).await?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("group {name} updated"),
            None,
            Some(id),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.group.updated")
                .target(Target::new("directory_group", id, &name))
                .details(json!({ "via": "PUT", "members": added, "previous_members": removed })),
        )
        .await?;
        let v = self.group_response(&mut tx, dir, base, id).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// `PATCH /Groups/{id}`: membership changes are applied as row changes;
    /// other attributes through the generic PATCH engine. Returns the group
    /// without members when `with_members` is false (Entra asks for 204-like
    /// brevity via `excludedAttributes`).
    pub async fn patch_group(
        &self,
        actor: &Actor,
        base: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        with_members: bool,
    ) -> ScimResult<Value> {
        let dir = directory_of(actor)?;
        let ops = patch::parse_patch(body, &PatchRules::GROUP)?;
        let changes = patch::member_changes(&ops)?;
        let sent = Self::members_in_ops(body);
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_group(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        let (name, external_id) = if changes.other_ops.is_empty() {
            (old.display_name.clone(), old.external_id.clone())
        } else {
            let mut resource = json!({ "id": old.id, "displayName": old.display_name });
            if let (Some(obj), Some(ext)) = (resource.as_object_mut(), &old.external_id) {
                obj.insert("externalId".into(), Value::String(ext.clone()));
            }
            patch::apply(&mut resource, &changes.other_ops, &PatchRules::GROUP)?;
            Self::group_fields(&resource)?
        };
        Self::update_group_row(&mut tx, id, &name, &external_id, now).await?;
        let (mut added, mut removed) = (0, 0);
        if let Some(all) = &changes.replace_all {
            removed += exec!(
                tx.exec(),
                "DELETE FROM directory_group_members WHERE group_id = $1",
                id
            )
            .map_err(db_err)?;
            let all: Vec<MemberIn> = all
                .iter()
                .map(|id| {
                    sent.get(id).cloned().unwrap_or_else(|| MemberIn {
                        id: id.clone(),
                        ..Default::default()
                    })
                })
                .collect();
            added += Self::add_members(&mut tx, id, &all).await?;
        }
        removed += Self::remove_members(&mut tx, id, &changes.remove).await?;
        let adds: Vec<MemberIn> = changes
            .add
            .iter()
            .map(|id| {
                sent.get(id).cloned().unwrap_or_else(|| MemberIn {
                    id: id.clone(),
                    ..Default::default()
                })
            })
            .collect();
        added += Self::add_members(&mut tx, id, &adds).await?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("group {name} updated"),
            None,
            Some(id),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.group.updated")
                .target(Target::new("directory_group", id, &name))
                .details(json!({ "via": "PATCH", "members_added": added, "members_removed": removed, "renamed": name != old.display_name })),
        )
        .await?;
        let row = Self::load_group(&mut tx, dir, id).await?;
        let members = if with_members {
            Some(
                self.members_of(tx.exec(), std::slice::from_ref(&row.id))
                    .await?,
            )
        } else {
            None
        };
        tx.commit().await?;
        Ok(Self::group_json(&row, members.as_deref(), base))
    }

    /// `DELETE /Groups/{id}`.
    pub async fn delete_group(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let dir = directory_of(actor)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let old = Self::load_group(&mut tx, dir, id).await?;
        check_if_match(if_match, old.version)?;
        let members = exec!(
            tx.exec(),
            "DELETE FROM directory_group_members WHERE group_id = $1",
            id
        )
        .map_err(db_err)?;
        exec!(tx.exec(), "DELETE FROM directory_groups WHERE id = $1", id).map_err(db_err)?;
        Self::sync_policy(
            &mut tx,
            actor,
            now,
            format!("group {} deleted", old.display_name),
            None,
            Some(id),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("scim.group.deleted")
                .target(Target::new("directory_group", id, &old.display_name))
                .details(json!({ "members": members })),
        )
        .await?;
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
        let dir = directory_of(actor)?;
        let (frag, binds) = match &params.filter {
            Some(f) => sql::to_sql(f, GROUP_ATTRS, self.dialect(), 2)?,
            None => ("TRUE".to_owned(), Vec::new()),
        };
        let mut args = vec![Arg::Text(dir.to_owned())];
        args.extend(binds.into_iter().map(to_arg));
        let filter = format!(" WHERE g.directory_id = $1 AND {frag}");
        let total = count_dyn(
            self.core.db.exec(),
            &format!("SELECT COUNT(*) FROM directory_groups g{filter}"),
            &args,
        )
        .await
        .map_err(db_err)?;
        let order = match &params.sort_by {
            Some(s) => format!(
                "{}, g.id",
                sql::order_by_sql(s, params.sort_order, GROUP_ATTRS)?
            ),
            None => "g.created_at, g.id".to_owned(),
        };
        let n = args.len();
        args.push(Arg::Int(params.count));
        args.push(Arg::Int(params.offset()));
        let rows: Vec<GroupRow> = fetch_all_dyn(
            self.core.db.exec(),
            &format!(
                "{SELECT_GROUP}{filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &args,
        )
        .await
        .map_err(db_err)?;
        let wants_members = !params
            .excluded_attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case("members"))
            && (params.attributes.is_empty()
                || params
                    .attributes
                    .iter()
                    .any(|a| a.to_lowercase().starts_with("members")));
        let members = if wants_members {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            Some(self.members_of(self.core.db.exec(), &ids).await?)
        } else {
            None
        };
        Ok((
            rows.iter()
                .map(|r| Self::group_json(r, members.as_deref(), base))
                .collect(),
            total,
        ))
    }
}
