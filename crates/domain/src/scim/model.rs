//! The SCIM area's values and rules without storage: checking a User or
//! Group a request sends, the members it lists, `If-Match`, and stored rows
//! as SCIM resources.

use super::store::{GroupRow, MemberRow, UserColumns, UserRow};
use super::{ScimResult, MAX_RESOURCE_BYTES};
use crate::error::Error;
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_scim::{
    list::ListParams, ScimError, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Checks an `If-Match` header value against the current version.
pub(super) fn check_if_match(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(v) if v.split(',').any(|t| t.trim() == etag(version)) => Ok(()),
        Some(v) => Err(ScimError::precondition_failed(format!(
            "If-Match {v} does not match the current version {}",
            etag(version)
        ))),
    }
}

pub(super) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
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

// ---- users ----

/// The columns derived from a user resource.
pub(super) struct UserFields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub emails: Vec<(String, Option<String>, bool)>,
    pub resource: String,
}

impl UserFields {
    /// The columns to store.
    pub(super) fn columns(&self) -> UserColumns<'_> {
        UserColumns {
            user_name: &self.user_name,
            external_id: &self.external_id,
            display_name: &self.display_name,
            given_name: &self.given_name,
            family_name: &self.family_name,
            email: &self.email,
            active: self.active,
            resource: &self.resource,
        }
    }
}

/// Validates a user resource and derives its columns. Strips read-only and
/// write-only attributes.
pub(super) fn user_fields(mut body: Value) -> ScimResult<UserFields> {
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

/// The stored resource of a user.
pub(super) fn stored_resource(row: &UserRow) -> ScimResult<Value> {
    serde_json::from_str(&row.resource)
        .map_err(|e| ScimError::from(Error::Internal(format!("stored user resource: {e}"))))
}

/// The SCIM resource of a user with its `groups` (rows of other users are
/// skipped) and `meta`; `base` is the SCIM base URL.
pub(super) fn user_json(row: &UserRow, groups: &[MemberRow], base: &str) -> ScimResult<Value> {
    let mut v = stored_resource(row)?;
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

/// Whether a Users list returns the `groups` attribute.
pub(super) fn wants_groups(params: &ListParams) -> bool {
    !params
        .excluded_attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("groups"))
}

// ---- groups ----

/// A member as a request lists it.
#[derive(Clone, Debug, Default)]
pub(super) struct MemberIn {
    pub id: String,
    pub display: Option<String>,
    pub ref_: Option<String>,
    pub kind: Option<String>,
}

/// The `displayName` and `externalId` of a Group a request sends.
/// What a group stores of a request besides its members.
pub(super) struct GroupFields {
    pub name: String,
    pub external_id: Option<String>,
}

pub(super) fn group_fields(body: &Value) -> ScimResult<GroupFields> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the Group must be a JSON object"))?;
    let name = opt_string(obj, "displayName", 256)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    Ok(GroupFields {
        name,
        external_id: opt_string(obj, "externalId", 256)?,
    })
}

/// The members a request lists.
pub(super) fn member_list(value: Option<&Value>) -> ScimResult<Vec<MemberIn>> {
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

/// The `members` of a Group a request sends.
pub(super) fn group_members(body: &Value) -> ScimResult<Vec<MemberIn>> {
    member_list(body.as_object().and_then(|o| get_ci(o, "members")))
}

/// Member objects sent anywhere in PATCH operations, by id, so adds keep
/// the `display`, `$ref` and `type` the IdP sent.
pub(super) fn members_in_ops(body: &Value) -> HashMap<String, MemberIn> {
    let mut found = HashMap::new();
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
            if let Ok(ms) = member_list(Some(&list)) {
                for m in ms {
                    found.insert(m.id.clone(), m);
                }
            }
        }
    }
    found
}

/// The members with `ids`, as `sent` in the request where it had them,
/// else the bare id.
pub(super) fn members_as_sent(ids: &[String], sent: &HashMap<String, MemberIn>) -> Vec<MemberIn> {
    ids.iter()
        .map(|id| {
            sent.get(id).cloned().unwrap_or_else(|| MemberIn {
                id: id.clone(),
                ..Default::default()
            })
        })
        .collect()
}

/// A group as the generic PATCH engine edits it (`members` aside).
pub(super) fn group_resource(row: &GroupRow) -> Value {
    let mut resource = json!({ "id": row.id, "displayName": row.display_name });
    if let (Some(obj), Some(ext)) = (resource.as_object_mut(), &row.external_id) {
        obj.insert("externalId".into(), Value::String(ext.clone()));
    }
    resource
}

/// The SCIM resource of a group with `meta` and, when given, its
/// `members` (rows of other groups are skipped); `base` is the SCIM base
/// URL.
pub(super) fn group_json(row: &GroupRow, members: Option<&[MemberRow]>, base: &str) -> Value {
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
                        .map(|m| member_json(m, base))
                        .collect(),
                ),
            );
        }
    }
    v
}

fn member_json(m: &MemberRow, base: &str) -> Value {
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
}

/// Whether a Groups list returns the `members` attribute.
pub(super) fn wants_members(params: &ListParams) -> bool {
    !params
        .excluded_attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("members"))
        && (params.attributes.is_empty()
            || params
                .attributes
                .iter()
                .any(|a| a.to_lowercase().starts_with("members")))
}
