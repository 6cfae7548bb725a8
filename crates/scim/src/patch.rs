//! SCIM PATCH (RFC 7644 §3.5.2): parsing the `PatchOp` message, applying
//! `add` / `remove` / `replace` to a JSON resource (§3.5.2.1–§3.5.2.3), and
//! turning group membership operations into row-level changes.
//!
//! Owns [`PatchOp`], [`PatchOpKind`], [`PatchRules`], [`parse_patch`],
//! [`apply`], [`member_changes`] and [`MemberChanges`].
//!
//! Client dialects accepted on parse:
//! - op names in any case (`"Replace"`, `"Add"`, `"Remove"` from Entra ID),
//!   member names in any case (`"Operations"`/`"operations"`, `"Path"`…);
//! - `"True"`/`"False"` strings (any case) for attributes the caller lists
//!   in [`PatchRules::boolean_attrs`] become JSON booleans, at any depth
//!   (`path:"active"`, `value:{"active":"False"}`, `emails[…].primary`);
//! - keys of a path-less value object may be paths themselves
//!   (`"name.givenName"`, `"urn:…:enterprise:2.0:User:department"`,
//!   `"emails[type eq \"work\"].value"`), or an extension URN holding an
//!   object, as Entra ID sends them (aadOptscim062020); a filtered key in a
//!   path-less `replace` that matches nothing creates the value*;
//! - a bare id for a complex attribute listed in
//!   [`PatchRules::scalar_as_value`] (Entra ID's enterprise `manager`) is
//!   stored as `{"value": id}`;
//! - `{"op":"Remove","path":"members","value":[{"value":"id"}]}` removes only
//!   the listed members (Entra ID's legacy form); a `remove` with no value
//!   and no filter removes the whole attribute, as the RFC says.
//!
//! Apply semantics (choices beyond the RFC are marked *):
//! - The patch is atomic: ops run on a copy and the resource changes only if
//!   every op succeeds. Errors name the failing op as `Operations[i]`.
//! - Attribute names match existing keys case-insensitively and keep the
//!   existing spelling (`displayname` updates `displayName`).
//! - Attributes under a non-core URN live in `resource[urn]`; that object is
//!   created on demand and its URN added to `schemas`*; an emptied extension
//!   object is dropped together with its `schemas` entry*.
//! - `add` to a multi-valued attribute appends, de-duplicated by `value`
//!   (a duplicate merges its sub-attributes into the existing value);
//!   `add` with a filter that matches nothing creates the value when the
//!   filter is a conjunction of `eq` comparisons* (Entra ID adds a work email
//!   as `emails[type eq "work"].value`); otherwise it is `noTarget`.
//! - `replace` of a complex single-valued attribute merges sub-attributes
//!   (unnamed ones stay); of a multi-valued attribute without filter replaces
//!   all values; with a filter replaces the matching values (or their
//!   sub-attribute) and is `noTarget` when nothing matches. `replace` with
//!   `null` unassigns.
//! - `attr.sub` without a filter on a multi-valued attribute: `remove` drops
//!   the sub-attribute from every value; `add`/`replace` update the only
//!   value (or create one when there is none) and are `invalidPath` when
//!   there are several, since the target is ambiguous*.
//! - `remove` needs a path (`noTarget` otherwise); a filtered remove drops
//!   only the matching values and is a no-op when none match*; removing
//!   something absent is a no-op*.
//! - Setting a value `"primary": true` clears `primary` on its siblings
//!   (RFC 7643 §2.4).
//! - Read-only attributes ([`PatchRules::read_only`], e.g. `id`, `meta`,
//!   `schemas`) cannot be removed or changed: `mutability`. Writing the value
//!   they already hold is accepted as a no-op*, because Okta sends
//!   `{"op":"replace","value":{"id":…,"displayName":…}}` to rename groups.
//! - A required attribute ([`PatchRules::required`]) that was present and is
//!   absent, null or empty afterwards is `mutability` (RFC 7644 §3.5.2).
//! - Value filters compare strings case-insensitively unless the sub-attribute
//!   is listed in [`PatchRules::case_exact`].
//!
//! Limits: at most [`PatchRules::max_operations`] (default
//! [`MAX_PATCH_OPERATIONS`]) operations; more is 400 `invalidValue` with the
//! detail "at most 1000 operations". `tooMany` is reserved by RFC 7644 §3.12
//! for queries returning too many results, so it is not used here.

use std::collections::HashSet;

use serde_json::{Map, Number, Value};

use crate::error::{echo, ScimError};
use crate::filter::{is_core_urn, AttrPath, CompValue, CompareOp, Filter};
use crate::path::PatchPath;

/// The default cap on operations in one PATCH request.
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add` (RFC 7644 §3.5.2.1).
    Add,
    /// `remove` (RFC 7644 §3.5.2.2).
    Remove,
    /// `replace` (RFC 7644 §3.5.2.3).
    Replace,
}

impl PatchOpKind {
    /// The lower-case op name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

/// One operation of a PATCH request, after dialect normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// The operation.
    pub op: PatchOpKind,
    /// The target; `None` targets the resource itself.
    pub path: Option<PatchPath>,
    /// The value; `Some(Value::Null)` when the client sent `null`.
    pub value: Option<Value>,
}

impl PatchOp {
    /// The operation as a JSON object, e.g. for logs or forwarding.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("op".into(), Value::String(self.op.as_str().into()));
        if let Some(p) = &self.path {
            o.insert("path".into(), Value::String(p.to_string()));
        }
        if let Some(v) = &self.value {
            o.insert("value".into(), v.clone());
        }
        Value::Object(o)
    }
}

/// What the caller knows about the resource type's schema.
///
/// Attribute paths are lower-case: `active`, `emails.primary`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department`
/// (matching is case-insensitive anyway).
#[derive(Debug, Clone, Copy)]
pub struct PatchRules<'a> {
    /// Attributes whose `"True"`/`"False"` strings become booleans.
    pub boolean_attrs: &'a [&'a str],
    /// Attributes that may not be removed or unassigned.
    pub required: &'a [&'a str],
    /// Top-level attributes PATCH may not change.
    pub read_only: &'a [&'a str],
    /// Extension schema URNs whose attributes live in `resource[urn]`.
    pub extension_schemas: &'a [&'a str],
    /// Attributes that are multi-valued even when absent from the resource.
    pub multi_valued: &'a [&'a str],
    /// Sub-attributes compared case-exactly in value filters, e.g. `members.value`.
    pub case_exact: &'a [&'a str],
    /// Complex attributes for which a bare string or number means
    /// `{"value": …}` (Entra ID sends the enterprise `manager` as a plain id).
    pub scalar_as_value: &'a [&'a str],
    /// The most operations one request may carry.
    pub max_operations: usize,
}

impl PatchRules<'static> {
    /// Rules for the core User schema with the enterprise extension (RFC 7643 §4.1, §4.3).
    pub const USER: PatchRules<'static> = PatchRules {
        boolean_attrs: &[
            "active",
            "emails.primary",
            "phonenumbers.primary",
            "ims.primary",
            "photos.primary",
            "addresses.primary",
            "entitlements.primary",
            "roles.primary",
            "x509certificates.primary",
        ],
        required: &["username"],
        read_only: &["id", "meta", "schemas", "groups"],
        extension_schemas: &[crate::ENTERPRISE_USER_SCHEMA],
        multi_valued: &[
            "emails",
            "phonenumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509certificates",
        ],
        case_exact: &[],
        scalar_as_value: &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"],
        max_operations: MAX_PATCH_OPERATIONS,
    };

    /// Rules for the core Group schema (RFC 7643 §4.2).
    pub const GROUP: PatchRules<'static> = PatchRules {
        boolean_attrs: &[],
        required: &["displayname"],
        read_only: &["id", "meta", "schemas"],
        extension_schemas: &[],
        multi_valued: &["members"],
        case_exact: &["members.value"],
        scalar_as_value: &[],
        max_operations: MAX_PATCH_OPERATIONS,
    };
}

fn listed(list: &[&str], key: &str) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The key rules are written against: core paths without their URN.
fn rules_key(path: &AttrPath) -> String {
    if path.is_core() {
        path.unqualified_key()
    } else {
        path.key()
    }
}

/// The value of the member named `name` case-insensitively; more than one is
/// ambiguous.
fn member_ci<'v>(
    obj: &'v Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<&'v Value>, ScimError> {
    let mut found = obj.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some((_, v)), None) => Ok(Some(v)),
        (Some(_), Some(_)) => Err(ScimError::invalid_syntax(format!(
            "{at}'{name}' is given more than once (in different cases)"
        ))),
    }
}

/// The existing key matching `name` case-insensitively.
fn find_key(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Parses a PATCH body from bytes; malformed JSON is 400 `invalidSyntax`.
pub fn parse_patch_bytes(body: &[u8], rules: &PatchRules<'_>) -> Result<Vec<PatchOp>, ScimError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    parse_patch(&v, rules)
}

/// Parses a `PatchOp` message (RFC 7644 §3.5.2) into operations, accepting
/// the dialects listed in the module docs.
///
/// Errors: a body that is not a PatchOp message is `invalidSyntax`; a bad
/// path is `invalidPath`; a missing or ill-shaped value, or more than
/// `rules.max_operations` operations, is `invalidValue`; `remove` without a
/// path is `noTarget`.
pub fn parse_patch(body: &Value, rules: &PatchRules<'_>) -> Result<Vec<PatchOp>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "a PatchOp body must be a JSON object",
        ));
    };
    crate::list::check_schemas(obj, crate::PATCH_OP, "PatchOp")?;
    let Some(ops) = member_ci(obj, "Operations", "")? else {
        return Err(ScimError::invalid_syntax(
            "a PatchOp body needs an 'Operations' array",
        ));
    };
    let Some(ops) = ops.as_array() else {
        return Err(ScimError::invalid_syntax("'Operations' must be an array"));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax(
            "'Operations' must hold at least one operation",
        ));
    }
    if ops.len() > rules.max_operations {
        return Err(ScimError::invalid_value(format!(
            "at most {} operations are allowed in one PATCH request, got {}",
            rules.max_operations,
            ops.len()
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(i, op, rules))
        .collect()
}

fn parse_op(i: usize, op: &Value, rules: &PatchRules<'_>) -> Result<PatchOp, ScimError> {
    let at = format!("Operations[{i}]: ");
    let Some(obj) = op.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "{at}an operation must be an object"
        )));
    };
    let kind = match member_ci(obj, "op", &at)?.and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(s) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(s) => {
            return Err(ScimError::invalid_syntax(format!(
                "{at}'op' must be add, remove or replace, got '{}'",
                echo(s)
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "{at}'op' is required and must be a string"
            )))
        }
    };
    let path = match member_ci(obj, "path", &at)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            PatchPath::parse(s.trim())
                .map_err(|e| ScimError::invalid_path(format!("{at}{}", e.detail)))?,
        ),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "{at}'path' must be a string"
            )))
        }
    };
    let mut value = member_ci(obj, "value", &at)?.cloned();
    match (kind, &path, &value) {
        (PatchOpKind::Remove, None, _) => {
            return Err(ScimError::no_target(format!("{at}'remove' needs a 'path'")))
        }
        (PatchOpKind::Add | PatchOpKind::Replace, _, None) => {
            return Err(ScimError::invalid_value(format!(
                "{at}'{}' needs a 'value'",
                kind.as_str()
            )))
        }
        (PatchOpKind::Add, _, Some(Value::Null)) => {
            return Err(ScimError::invalid_value(format!(
                "{at}'add' needs a non-null 'value'"
            )))
        }
        (PatchOpKind::Add | PatchOpKind::Replace, None, Some(v)) if !v.is_object() => {
            return Err(ScimError::invalid_value(format!(
                "{at}without a 'path' the 'value' must be an object of attributes"
            )))
        }
        _ => {}
    }
    if let Some(v) = value.as_mut() {
        match &path {
            Some(p) => coerce_booleans(v, &rules_key(&p.attr), rules),
            None => coerce_top(v, rules),
        }
    }
    Ok(PatchOp {
        op: kind,
        path,
        value,
    })
}

/// Turns `"True"`/`"False"` into booleans for listed attributes in a
/// path-less value object, whose keys may be names, paths or extension URNs.
fn coerce_top(v: &mut Value, rules: &PatchRules<'_>) {
    let Value::Object(obj) = v else {
        return;
    };
    for (k, child) in obj.iter_mut() {
        if listed(rules.extension_schemas, k) {
            if let Value::Object(inner) = child {
                let urn = k.to_ascii_lowercase();
                for (ik, ichild) in inner.iter_mut() {
                    let key = format!("{urn}:{}", ik.to_ascii_lowercase());
                    coerce_booleans(ichild, &key, rules);
                }
            }
            continue;
        }
        let key = match PatchPath::parse(k) {
            Ok(p) => rules_key(&p.attr),
            Err(_) => k.to_ascii_lowercase(),
        };
        coerce_booleans(child, &key, rules);
    }
}

/// Coerces `"True"`/`"False"` at `key` and below.
fn coerce_booleans(v: &mut Value, key: &str, rules: &PatchRules<'_>) {
    match v {
        Value::String(s) if listed(rules.boolean_attrs, key) => {
            if s.eq_ignore_ascii_case("true") {
                *v = Value::Bool(true);
            } else if s.eq_ignore_ascii_case("false") {
                *v = Value::Bool(false);
            }
        }
        Value::Array(items) => {
            for item in items {
                coerce_booleans(item, key, rules);
            }
        }
        Value::Object(obj) => {
            for (k, child) in obj.iter_mut() {
                let sub = format!("{key}.{}", k.to_ascii_lowercase());
                coerce_booleans(child, &sub, rules);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// apply

/// Applies `ops` to `resource` (a JSON object) atomically: on error the
/// resource is unchanged. See the module docs for the semantics.
pub fn apply(
    resource: &mut Value,
    ops: &[PatchOp],
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let Some(original) = resource.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the resource to patch must be a JSON object",
        ));
    };
    let required_before: Vec<&str> = rules
        .required
        .iter()
        .copied()
        .filter(|r| is_present(original, r))
        .collect();
    let containers_before = extension_containers(original, rules);
    let mut work = original.clone();
    for (i, op) in ops.iter().enumerate() {
        let rewritten;
        let op = match extension_urn_of(op, rules) {
            // `path` names a whole extension (`urn:…:enterprise:2.0:User`):
            // its attributes live in `resource[urn]`, not `resource[prefix][User]`.
            Some(urn) if op.op == PatchOpKind::Remove => {
                work.retain(|k, _| !k.eq_ignore_ascii_case(urn));
                continue;
            }
            Some(urn) => {
                let mut value = op.value.clone().unwrap_or(Value::Null);
                if let Some(obj) = value.as_object_mut() {
                    obj.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
                }
                let mut wrapper = Map::new();
                wrapper.insert(urn.to_owned(), value);
                rewritten = PatchOp {
                    op: op.op,
                    path: None,
                    value: Some(Value::Object(wrapper)),
                };
                &rewritten
            }
            None => op,
        };
        apply_op(&mut work, op, rules).map_err(|e| ScimError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        })?;
    }
    sync_schemas(&mut work, &containers_before, rules);
    if let Some(r) = required_before.iter().find(|r| !is_present(&work, r)) {
        return Err(ScimError::mutability(format!(
            "'{r}' is required and cannot be removed or emptied"
        )));
    }
    *resource = Value::Object(work);
    Ok(())
}

/// The extension schema URN a path names as a whole (no sub-attribute, no
/// filter), e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
fn extension_urn_of<'r>(op: &PatchOp, rules: &PatchRules<'r>) -> Option<&'r str> {
    let path = op.path.as_ref()?;
    if path.filter.is_some() || path.attr.sub_attr.is_some() {
        return None;
    }
    let full = match &path.attr.urn {
        Some(urn) => format!("{urn}:{}", path.attr.name),
        None => path.attr.name.clone(),
    };
    rules
        .extension_schemas
        .iter()
        .copied()
        .find(|u| u.eq_ignore_ascii_case(&full))
}

/// One resolved target inside the resource.
struct Target<'p> {
    urn: Option<&'p str>,
    name: &'p str,
    sub: Option<&'p str>,
    filter: Option<&'p Filter>,
    /// For rule lookups: `emails`, `name`, `urn:…:user:manager`.
    key: String,
    /// For messages: the path as the client wrote it.
    shown: String,
}

impl<'p> Target<'p> {
    fn from_path(path: &'p PatchPath) -> Self {
        let base = AttrPath {
            sub_attr: None,
            ..path.attr.clone()
        };
        Target {
            urn: path.attr.urn.as_deref(),
            name: &path.attr.name,
            sub: path.attr.sub_attr.as_deref(),
            filter: path.filter.as_ref(),
            key: rules_key(&base),
            shown: path.to_string(),
        }
    }

    fn from_attr(path: &'p AttrPath) -> Self {
        let base = AttrPath {
            sub_attr: None,
            ..path.clone()
        };
        Target {
            urn: path.urn.as_deref(),
            name: &path.name,
            sub: path.sub_attr.as_deref(),
            filter: None,
            key: rules_key(&base),
            shown: path.to_string(),
        }
    }
}

fn apply_op(
    work: &mut Map<String, Value>,
    op: &PatchOp,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => apply_target(
            work,
            &Target::from_path(path),
            op.op,
            op.value.as_ref(),
            rules,
        ),
        None => {
            let Some(Value::Object(members)) = &op.value else {
                return Err(match op.op {
                    PatchOpKind::Remove => ScimError::no_target("'remove' needs a 'path'"),
                    _ => ScimError::invalid_value("without a 'path' the 'value' must be an object"),
                });
            };
            for (k, v) in members {
                apply_member(work, k, v, op.op, rules)?;
            }
            Ok(())
        }
    }
}

/// One member of a path-less `add`/`replace` value object.
fn apply_member(
    work: &mut Map<String, Value>,
    key: &str,
    v: &Value,
    kind: PatchOpKind,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let is_extension = listed(rules.extension_schemas, key)
        || (key.to_ascii_lowercase().starts_with("urn:")
            && v.is_object()
            && schemas_list(work)
                .iter()
                .any(|s| s.eq_ignore_ascii_case(key)));
    if is_extension {
        let Value::Object(inner) = v else {
            return Err(ScimError::invalid_value(format!(
                "'{}' must hold an object of extension attributes",
                echo(key)
            )));
        };
        for (ik, iv) in inner {
            let p = AttrPath::parse(ik).map_err(|e| ScimError::invalid_value(e.detail))?;
            if p.urn.is_some() {
                return Err(ScimError::invalid_value(format!(
                    "'{}' inside '{}' must not carry a URN",
                    echo(ik),
                    echo(key)
                )));
            }
            let full = AttrPath {
                urn: Some(key.to_string()),
                ..p
            };
            apply_target(work, &Target::from_attr(&full), kind, Some(iv), rules)?;
        }
        return Ok(());
    }
    let p = PatchPath::parse(key).map_err(|e| {
        ScimError::invalid_value(format!(
            "'{}' is not an attribute path: {}",
            echo(key),
            e.detail
        ))
    })?;
    if kind == PatchOpKind::Add && v.is_null() {
        // `"nickName": null` in an add names nothing to add.
        return Ok(());
    }
    let t = Target::from_path(&p);
    match apply_target(work, &t, kind, Some(v), rules) {
        // Entra ID writes `"emails[type eq \"work\"].value": …` in a path-less
        // replace whether or not the value exists yet: create it then.
        Err(e)
            if kind == PatchOpKind::Replace
                && p.filter.is_some()
                && e.scim_type == Some(crate::ScimType::NoTarget) =>
        {
            apply_target(work, &t, PatchOpKind::Add, Some(v), rules)
        }
        other => other,
    }
}

/// The URNs in the resource's `schemas` array.
fn schemas_list(work: &Map<String, Value>) -> Vec<String> {
    find_key(work, "schemas")
        .and_then(|k| work.get(&k))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The container (top level or extension object) holding the target.
fn container<'w>(
    work: &'w mut Map<String, Value>,
    urn: Option<&str>,
    create: bool,
    rules: &PatchRules<'_>,
) -> Result<Option<&'w mut Map<String, Value>>, ScimError> {
    let Some(urn) = urn.filter(|u| !is_core_urn(u)) else {
        return Ok(Some(work));
    };
    let key = match find_key(work, urn) {
        Some(k) => k,
        None if create => {
            let canonical = rules
                .extension_schemas
                .iter()
                .find(|s| s.eq_ignore_ascii_case(urn))
                .map_or_else(|| urn.to_string(), |s| s.to_string());
            work.insert(canonical.clone(), Value::Object(Map::new()));
            canonical
        }
        None => return Ok(None),
    };
    let slot = match work.get(&key) {
        Some(Value::Object(_)) => true,
        Some(Value::Null) | None => false,
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "'{}' holds a non-object value",
                echo(&key)
            )))
        }
    };
    if !slot {
        if !create {
            return Ok(None);
        }
        work.insert(key.clone(), Value::Object(Map::new()));
    }
    Ok(work.get_mut(&key).and_then(Value::as_object_mut))
}

fn apply_target(
    work: &mut Map<String, Value>,
    t: &Target<'_>,
    kind: PatchOpKind,
    value: Option<&Value>,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let read_only = listed(rules.read_only, &t.key);
    if read_only {
        let unchanged = kind != PatchOpKind::Remove && t.filter.is_none() && {
            let current = container_ref(work, t.urn)
                .and_then(|c| find_key(c, t.name).and_then(|k| c.get(&k)))
                .map(|v| match t.sub {
                    Some(sub) => v
                        .as_object()
                        .and_then(|o| find_key(o, sub).and_then(|k| o.get(&k))),
                    None => Some(v),
                });
            current.flatten() == value
        };
        if unchanged {
            return Ok(());
        }
        return Err(ScimError::mutability(format!(
            "'{}' is read-only",
            echo(&t.shown)
        )));
    }
    let wrapped;
    let value = match value {
        Some(v @ (Value::String(_) | Value::Number(_)))
            if t.filter.is_none() && t.sub.is_none() && listed(rules.scalar_as_value, &t.key) =>
        {
            wrapped = single_member("value", v);
            Some(&wrapped)
        }
        other => other,
    };
    let create = kind != PatchOpKind::Remove;
    let Some(c) = container(work, t.urn, create, rules)? else {
        // Removing from an extension the resource does not have: nothing to do.
        return Ok(());
    };
    match t.filter {
        Some(f) => apply_filtered(c, t, f, kind, value, rules),
        None => match t.sub {
            Some(sub) => apply_sub(c, t, sub, kind, value, rules),
            None => apply_whole(c, t, kind, value, rules),
        },
    }
}

fn container_ref<'w>(
    work: &'w Map<String, Value>,
    urn: Option<&str>,
) -> Option<&'w Map<String, Value>> {
    match urn.filter(|u| !is_core_urn(u)) {
        None => Some(work),
        Some(u) => find_key(work, u)
            .and_then(|k| work.get(&k))
            .and_then(Value::as_object),
    }
}

fn is_multi(
    existing: Option<&Value>,
    value: Option<&Value>,
    t: &Target<'_>,
    rules: &PatchRules<'_>,
) -> bool {
    matches!(existing, Some(Value::Array(_)))
        || matches!(value, Some(Value::Array(_)))
        || listed(rules.multi_valued, &t.key)
}

/// The attribute itself: `add`, `replace` or `remove` with no filter and no sub-attribute.
fn apply_whole(
    c: &mut Map<String, Value>,
    t: &Target<'_>,
    kind: PatchOpKind,
    value: Option<&Value>,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let key = find_key(c, t.name).unwrap_or_else(|| t.name.to_string());
    let existing = c.get(&key);
    let multi = is_multi(existing, value, t, rules);
    match kind {
        PatchOpKind::Remove => {
            match (value, c.get_mut(&key)) {
                // Entra ID: remove only the listed values.
                (Some(listed_values), Some(Value::Array(items))) if !listed_values.is_null() => {
                    let wanted: Vec<&Value> = match listed_values {
                        Value::Array(l) => l.iter().collect(),
                        other => vec![other],
                    };
                    let case_exact = listed(rules.case_exact, &format!("{}.value", t.key));
                    items.retain(|item| !wanted.iter().any(|w| same_value(item, w, case_exact)));
                    if items.is_empty() {
                        c.remove(&key);
                    }
                }
                _ => {
                    c.remove(&key);
                }
            }
            Ok(())
        }
        PatchOpKind::Add | PatchOpKind::Replace => {
            let Some(v) = value else {
                return Err(ScimError::invalid_value("a value is required"));
            };
            if v.is_null() {
                c.remove(&key);
                return Ok(());
            }
            if multi {
                let incoming: Vec<Value> = match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let case_exact = listed(rules.case_exact, &format!("{}.value", t.key));
                let mut items = match (kind, c.remove(&key)) {
                    (PatchOpKind::Add, Some(Value::Array(a))) => a,
                    (PatchOpKind::Add, Some(Value::Null) | None) | (PatchOpKind::Replace, _) => {
                        Vec::new()
                    }
                    (PatchOpKind::Add, Some(other)) => vec![other],
                    (PatchOpKind::Remove, _) => Vec::new(),
                };
                let mut last_primary = None;
                for item in incoming {
                    let primary = is_primary(&item);
                    let idx = add_unique(&mut items, item, case_exact);
                    if primary {
                        last_primary = Some(idx);
                    }
                }
                if let Some(idx) = last_primary {
                    keep_single_primary(&mut items, idx);
                }
                if !items.is_empty() {
                    c.insert(key, Value::Array(items));
                }
                return Ok(());
            }
            match (c.get_mut(&key), v) {
                (Some(Value::Object(existing)), Value::Object(new)) => {
                    merge_into(existing, new);
                    if existing.is_empty() {
                        c.remove(&key);
                    }
                }
                _ => {
                    c.insert(key, v.clone());
                }
            }
            Ok(())
        }
    }
}

/// `name.sub` without a filter.
fn apply_sub(
    c: &mut Map<String, Value>,
    t: &Target<'_>,
    sub: &str,
    kind: PatchOpKind,
    value: Option<&Value>,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let key = find_key(c, t.name).unwrap_or_else(|| t.name.to_string());
    let multi = is_multi(c.get(&key), None, t, rules);
    let new = match kind {
        PatchOpKind::Remove => None,
        _ => value.filter(|v| !v.is_null()),
    };
    match c.get_mut(&key) {
        Some(Value::Array(items)) => {
            if kind != PatchOpKind::Remove && items.len() > 1 {
                return Err(ScimError::invalid_path(format!(
                    "'{}' is ambiguous: '{}' holds several values; select one with a filter such as {}[type eq \"work\"].{sub}",
                    echo(&t.shown),
                    echo(t.name),
                    echo(t.name)
                )));
            }
            if items.is_empty() {
                if let Some(v) = new {
                    items.push(single_member(sub, v));
                }
            }
            for item in items.iter_mut() {
                if let Value::Object(o) = item {
                    set_member(o, sub, new);
                }
            }
            items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
            if items.is_empty() {
                c.remove(&key);
            }
            Ok(())
        }
        Some(Value::Object(o)) => {
            set_member(o, sub, new);
            if o.is_empty() {
                c.remove(&key);
            }
            Ok(())
        }
        Some(Value::Null) | None => {
            if let Some(v) = new {
                let obj = single_member(sub, v);
                let stored = if multi { Value::Array(vec![obj]) } else { obj };
                c.insert(key, stored);
            } else {
                c.remove(&key);
            }
            Ok(())
        }
        Some(_) => Err(ScimError::invalid_path(format!(
            "'{}' has no sub-attributes",
            echo(t.name)
        ))),
    }
}

/// `name[filter]` and `name[filter].sub`.
fn apply_filtered(
    c: &mut Map<String, Value>,
    t: &Target<'_>,
    f: &Filter,
    kind: PatchOpKind,
    value: Option<&Value>,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    let key = find_key(c, t.name).unwrap_or_else(|| t.name.to_string());
    let ctx = MatchCtx {
        attr: &t.key,
        rules,
    };
    let new = value.filter(|v| !v.is_null());
    // A single complex value is filtered like a one-element list.
    let single = matches!(c.get(&key), Some(Value::Object(_)));
    let mut items = match c.remove(&key) {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => vec![Value::Object(o)],
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            c.insert(key, other);
            return Err(ScimError::invalid_path(format!(
                "'{}' is not a complex or multi-valued attribute and cannot be filtered",
                echo(t.name)
            )));
        }
    };
    let hits: Vec<usize> = (0..items.len())
        .filter(|&i| items.get(i).is_some_and(|item| ctx.matches(f, item)))
        .collect();
    let result = filtered_change(&mut items, &hits, t, f, kind, new, rules);
    // Put the attribute back (also on error: the caller discards the copy).
    if single {
        if let Some(v) = items.pop() {
            c.insert(key, v);
        }
    } else if !items.is_empty() {
        c.insert(key, Value::Array(items));
    }
    result
}

/// The change itself for [`apply_filtered`], on the attribute's values.
fn filtered_change(
    items: &mut Vec<Value>,
    hits: &[usize],
    t: &Target<'_>,
    f: &Filter,
    kind: PatchOpKind,
    new: Option<&Value>,
    rules: &PatchRules<'_>,
) -> Result<(), ScimError> {
    match kind {
        PatchOpKind::Remove => {
            if let Some(sub) = t.sub {
                for &i in hits {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        set_member(o, sub, None);
                    }
                }
                items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
            } else {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            Ok(())
        }
        PatchOpKind::Replace | PatchOpKind::Add => {
            if hits.is_empty() {
                if kind == PatchOpKind::Replace {
                    return Err(ScimError::no_target(format!(
                        "no value of '{}' matches the filter in '{}'",
                        echo(t.name),
                        echo(&t.shown)
                    )));
                }
                let (Some(mut template), Some(v)) = (eq_template(f), new) else {
                    return Err(ScimError::no_target(format!(
                        "no value matches '{}', and its filter does not describe a new value",
                        echo(&t.shown)
                    )));
                };
                match (t.sub, v) {
                    (Some(sub), v) => set_member(&mut template, sub, Some(v)),
                    (None, Value::Object(o)) => merge_into(&mut template, o),
                    (None, _) => {
                        return Err(ScimError::invalid_value(format!(
                            "'{}' needs an object value",
                            echo(&t.shown)
                        )))
                    }
                }
                let primary = template.get("primary") == Some(&Value::Bool(true));
                let case_exact = listed(rules.case_exact, &format!("{}.value", t.key));
                let idx = add_unique(items, Value::Object(template), case_exact);
                if primary {
                    keep_single_primary(items, idx);
                }
                return Ok(());
            }
            let mut last_primary = None;
            for &i in hits {
                let Some(item) = items.get_mut(i) else {
                    continue;
                };
                match (t.sub, new) {
                    (Some(sub), v) => {
                        let Value::Object(o) = item else {
                            return Err(ScimError::invalid_path(format!(
                                "values of '{}' have no sub-attributes",
                                echo(t.name)
                            )));
                        };
                        set_member(o, sub, v);
                    }
                    (None, None) => *item = Value::Null,
                    (None, Some(v)) => match (kind, &mut *item, v) {
                        (PatchOpKind::Add, Value::Object(o), Value::Object(n)) => merge_into(o, n),
                        (_, _, Value::Object(_)) => *item = v.clone(),
                        _ => {
                            return Err(ScimError::invalid_value(format!(
                                "'{}' needs an object value",
                                echo(&t.shown)
                            )))
                        }
                    },
                }
                if is_primary(item) {
                    last_primary = Some(i);
                }
            }
            // Settle `primary` before emptied values are dropped and indices shift.
            if let Some(idx) = last_primary {
                keep_single_primary(items, idx);
            }
            items.retain(|i| !i.is_null() && !matches!(i, Value::Object(o) if o.is_empty()));
            Ok(())
        }
    }
}

fn single_member(name: &str, v: &Value) -> Value {
    let mut o = Map::new();
    o.insert(name.to_string(), v.clone());
    Value::Object(o)
}

/// Sets (or with `None` removes) `name` in `o`, keeping an existing key's spelling.
fn set_member(o: &mut Map<String, Value>, name: &str, v: Option<&Value>) {
    let key = find_key(o, name);
    match (key, v) {
        (Some(k), Some(v)) => {
            o.insert(k, v.clone());
        }
        (None, Some(v)) => {
            o.insert(name.to_string(), v.clone());
        }
        (Some(k), None) => {
            o.remove(&k);
        }
        (None, None) => {}
    }
}

/// Merges sub-attributes of `new` into `existing`; `null` members unassign.
fn merge_into(existing: &mut Map<String, Value>, new: &Map<String, Value>) {
    for (k, v) in new {
        let v = (!v.is_null()).then_some(v);
        set_member(existing, k, v);
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| find_key(o, "primary").and_then(|k| o.get(&k)))
        == Some(&Value::Bool(true))
}

/// Leaves `primary: true` on `keep` only (RFC 7643 §2.4).
fn keep_single_primary(items: &mut [Value], keep: usize) {
    for (i, item) in items.iter_mut().enumerate() {
        if i == keep {
            continue;
        }
        if let Value::Object(o) = item {
            if let Some(k) = find_key(o, "primary") {
                if o.get(&k) == Some(&Value::Bool(true)) {
                    o.insert(k, Value::Bool(false));
                }
            }
        }
    }
}

/// The `value` member of a multi-valued element (or the element itself when simple).
fn value_of(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(o) => find_key(o, "value").and_then(|k| o.get(&k)),
        other => Some(other),
    }
}

/// True when two elements denote the same value: equal `value` members, or equal JSON.
fn same_value(a: &Value, b: &Value, case_exact: bool) -> bool {
    if a == b {
        return true;
    }
    match (value_of(a), value_of(b)) {
        (Some(Value::String(x)), Some(Value::String(y))) => {
            if case_exact {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        (Some(x), Some(y)) => !x.is_null() && x == y,
        _ => false,
    }
}

/// Appends `item` unless an element with the same value exists, in which case
/// the new sub-attributes are merged into it. Returns the element's index.
fn add_unique(items: &mut Vec<Value>, item: Value, case_exact: bool) -> usize {
    if let Some(i) = items.iter().position(|e| same_value(e, &item, case_exact)) {
        if let (Some(Value::Object(existing)), Value::Object(new)) = (items.get_mut(i), &item) {
            merge_into(existing, new);
        }
        return i;
    }
    items.push(item);
    items.len() - 1
}

/// For a filter made of `eq` comparisons joined by `and`, the object they describe.
fn eq_template(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub_attr.is_none() => {
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Int(i) => Value::Number((*i).into()),
                CompValue::Float(x) => Value::Number(Number::from_f64(*x)?),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            let mut o = Map::new();
            o.insert(path.name.clone(), v);
            Some(o)
        }
        Filter::And(l, r) => {
            let mut left = eq_template(l)?;
            for (k, v) in eq_template(r)? {
                match find_key(&left, &k) {
                    Some(existing) if left.get(&existing) != Some(&v) => return None,
                    Some(_) => {}
                    None => {
                        left.insert(k, v);
                    }
                }
            }
            Some(left)
        }
        _ => None,
    }
}

/// Evaluates value filters against one element of a multi-valued attribute.
struct MatchCtx<'a> {
    /// The attribute's rule key, e.g. `emails`.
    attr: &'a str,
    rules: &'a PatchRules<'a>,
}

impl MatchCtx<'_> {
    fn matches(&self, f: &Filter, item: &Value) -> bool {
        match f {
            Filter::And(l, r) => self.matches(l, item) && self.matches(r, item),
            Filter::Or(l, r) => self.matches(l, item) || self.matches(r, item),
            Filter::Not(inner) => !self.matches(inner, item),
            Filter::Present(p) => match self.get(item, p) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(o)) => !o.is_empty(),
                Some(_) => true,
            },
            Filter::Compare { path, op, value } => {
                let case_exact = listed(
                    self.rules.case_exact,
                    &format!("{}.{}", self.attr, path.name.to_ascii_lowercase()),
                );
                compare(self.get(item, path), *op, value, case_exact)
            }
            Filter::ValuePath { .. } => false,
        }
    }

    fn get<'v>(&self, item: &'v Value, p: &AttrPath) -> Option<&'v Value> {
        match item {
            Value::Object(o) => find_key(o, &p.name).and_then(|k| o.get(&k)),
            // A simple multi-valued attribute: its elements are their own `value`.
            other if p.name.eq_ignore_ascii_case("value") => Some(other),
            _ => None,
        }
    }
}

fn compare(actual: Option<&Value>, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    if let Some(Value::Array(items)) = actual {
        return items
            .iter()
            .any(|i| compare(Some(i), op, expected, case_exact));
    }
    let actual = actual.filter(|v| !v.is_null());
    let Some(actual) = actual else {
        return match (op, expected) {
            (CompareOp::Eq, CompValue::Null) => true,
            (CompareOp::Ne, CompValue::Null) => false,
            (CompareOp::Ne, _) => true,
            _ => false,
        };
    };
    let ordering = match (actual, expected) {
        (_, CompValue::Null) => return op == CompareOp::Ne,
        (Value::String(a), CompValue::Str(e)) => {
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&e),
                CompareOp::Sw => return a.starts_with(&e),
                CompareOp::Ew => return a.ends_with(&e),
                _ => a.cmp(&e),
            }
        }
        (Value::Bool(a), CompValue::Bool(e)) => match op {
            CompareOp::Eq => return a == e,
            CompareOp::Ne => return a != e,
            _ => return false,
        },
        (Value::Number(a), CompValue::Int(_) | CompValue::Float(_)) => {
            let e = match expected {
                CompValue::Int(i) => *i as f64,
                CompValue::Float(x) => *x,
                _ => return false,
            };
            let Some(a) = a.as_f64() else { return false };
            match a.partial_cmp(&e) {
                Some(o) => o,
                None => return false,
            }
        }
        _ => return op == CompareOp::Ne,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CompareOp::Eq => ordering == Equal,
        CompareOp::Ne => ordering != Equal,
        CompareOp::Gt => ordering == Greater,
        CompareOp::Ge => ordering != Less,
        CompareOp::Lt => ordering == Less,
        CompareOp::Le => ordering != Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// True when the attribute at `key` (a rules key) holds a non-empty value.
fn is_present(work: &Map<String, Value>, key: &str) -> bool {
    let Ok(path) = AttrPath::parse(key) else {
        return false;
    };
    let Some(c) = container_ref(work, path.urn.as_deref()) else {
        return false;
    };
    let v = find_key(c, &path.name).and_then(|k| c.get(&k));
    let v = match (&path.sub_attr, v) {
        (Some(sub), Some(Value::Object(o))) => find_key(o, sub).and_then(|k| o.get(&k)),
        (Some(_), _) => None,
        (None, v) => v,
    };
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// Top-level keys holding extension objects.
fn extension_containers(work: &Map<String, Value>, rules: &PatchRules<'_>) -> Vec<String> {
    work.iter()
        .filter(|(k, v)| {
            v.is_object()
                && !is_core_urn(k)
                && (listed(rules.extension_schemas, k)
                    || k.to_ascii_lowercase().starts_with("urn:"))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Drops emptied extension objects and keeps `schemas` in step with the
/// extension objects present.
fn sync_schemas(work: &mut Map<String, Value>, before: &[String], rules: &PatchRules<'_>) {
    let empty: Vec<String> = extension_containers(work, rules)
        .into_iter()
        .filter(|k| {
            work.get(k)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        })
        .collect();
    for k in &empty {
        work.remove(k);
    }
    let present = extension_containers(work, rules);
    let Some(schemas_key) = find_key(work, "schemas") else {
        return;
    };
    let Some(Value::Array(schemas)) = work.get_mut(&schemas_key) else {
        return;
    };
    let has = |schemas: &[Value], urn: &str| {
        schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    };
    for urn in &present {
        if !has(schemas, urn) {
            schemas.push(Value::String(urn.clone()));
        }
    }
    schemas.retain(|s| {
        let Some(s) = s.as_str() else { return true };
        let was = before.iter().any(|b| b.eq_ignore_ascii_case(s));
        let is = present.iter().any(|p| p.eq_ignore_ascii_case(s));
        !was || is
    });
}

// ---------------------------------------------------------------------------
// group membership

/// Membership changes extracted from a group PATCH, to apply as row inserts
/// and deletes instead of rewriting the member list.
///
/// Apply as: if `replace_all` is `Some(ids)`, membership becomes exactly
/// `ids` (later adds and removes are already folded into it, and `add` and
/// `remove` are empty); otherwise insert `add` and delete `remove` (the two
/// are disjoint, so order does not matter). Then apply `other_ops` (which
/// never touch `members`) with [`apply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberChanges {
    /// Member ids to insert.
    pub add: Vec<String>,
    /// Member ids to delete.
    pub remove: Vec<String>,
    /// The complete new member list, when an op replaced or cleared it.
    pub replace_all: Option<Vec<String>>,
    /// The operations that do not concern `members`.
    pub other_ops: Vec<PatchOp>,
}

/// An insertion-ordered set with O(1) membership.
#[derive(Default)]
struct OrderedSet {
    order: Vec<String>,
    set: HashSet<String>,
}

impl OrderedSet {
    fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_string()) {
            self.order.push(id.to_string());
        }
    }

    fn remove(&mut self, id: &str) {
        self.set.remove(id);
    }

    fn clear(&mut self) {
        self.order.clear();
        self.set.clear();
    }

    fn into_vec(self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.order
            .into_iter()
            .filter(|id| self.set.contains(id) && seen.insert(id.clone()))
            .collect()
    }
}

#[derive(Default)]
struct MembershipBuilder {
    add: OrderedSet,
    remove: OrderedSet,
    replace_all: Option<OrderedSet>,
}

impl MembershipBuilder {
    fn add(&mut self, id: &str) {
        match &mut self.replace_all {
            Some(all) => all.insert(id),
            None => {
                self.remove.remove(id);
                self.add.insert(id);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        match &mut self.replace_all {
            Some(all) => all.remove(id),
            None => {
                self.add.remove(id);
                self.remove.insert(id);
            }
        }
    }

    fn replace(&mut self, ids: &[String]) {
        self.add.clear();
        self.remove.clear();
        let mut all = OrderedSet::default();
        for id in ids {
            all.insert(id);
        }
        self.replace_all = Some(all);
    }
}

/// Member ids from a `members` value: an array of `{"value": id}` (or bare
/// id strings), or one such object.
fn member_ids(v: &Value) -> Result<Vec<String>, ScimError> {
    let one = |item: &Value| -> Result<String, ScimError> {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => find_key(o, "value")
                .and_then(|k| o.get(&k))
                .and_then(Value::as_str),
            _ => None,
        };
        match id.map(str::trim) {
            Some(id) if !id.is_empty() => Ok(id.to_string()),
            _ => Err(ScimError::invalid_value(
                "each member must be an object with a non-empty string 'value'",
            )),
        }
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![one(other)?]),
    }
}

/// The ids named by a members filter of the form
/// `value eq "a" [or value eq "b" …]`.
fn filter_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if path.name.eq_ignore_ascii_case("value")
            && path.urn.is_none()
            && path.sub_attr.is_none() =>
        {
            out.push(id.clone());
            true
        }
        Filter::Or(l, r) => filter_ids(l, out) && filter_ids(r, out),
        _ => false,
    }
}

/// Splits group PATCH operations into membership changes and the rest.
///
/// Handles `add`/`replace` with path `members` (value list), `remove` with
/// `members[value eq "id"]` (also `or`-joined), Entra ID's `remove` with path
/// `members` and a value list (only those members), `remove` with path
/// `members` and no value (all members), and `members` inside a path-less
/// value object. Errors: a members filter of another shape is
/// `invalidFilter`; a members sub-attribute path, or `add`/`replace` with a
/// filter, is `invalidPath`; a malformed member value is `invalidValue`.
pub fn member_changes(ops: &[PatchOp]) -> Result<MemberChanges, ScimError> {
    let mut b = MembershipBuilder::default();
    let mut other_ops = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let at = |e: ScimError| ScimError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        };
        match &op.path {
            None => {
                let Some(Value::Object(members)) = &op.value else {
                    other_ops.push(op.clone());
                    continue;
                };
                let mut rest = members.clone();
                if let Some(k) = find_key(members, "members") {
                    let ids = rest
                        .remove(&k)
                        .map_or(Ok(Vec::new()), |v| member_ids(&v))
                        .map_err(at)?;
                    match op.op {
                        PatchOpKind::Replace => b.replace(&ids),
                        _ => ids.iter().for_each(|id| b.add(id)),
                    }
                }
                if !rest.is_empty() {
                    other_ops.push(PatchOp {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
            Some(path) if path.is_core_attr("members") => {
                if path.attr.sub_attr.is_some() {
                    return Err(at(ScimError::invalid_path(
                        "member sub-attributes cannot be patched; add or remove whole members",
                    )));
                }
                match (&path.filter, op.op) {
                    (Some(f), PatchOpKind::Remove) => {
                        let mut ids = Vec::new();
                        if !filter_ids(f, &mut ids) {
                            return Err(at(ScimError::invalid_filter(format!(
                                "members filters must be 'value eq \"id\"', optionally joined by 'or'; got '{}'",
                                echo(&f.to_string())
                            ))));
                        }
                        ids.iter().for_each(|id| b.remove(id));
                    }
                    (Some(_), _) => {
                        return Err(at(ScimError::invalid_path(
                            "only 'remove' may use a members filter",
                        )))
                    }
                    (None, PatchOpKind::Add) => {
                        let ids =
                            member_ids(op.value.as_ref().unwrap_or(&Value::Null)).map_err(at)?;
                        ids.iter().for_each(|id| b.add(id));
                    }
                    (None, PatchOpKind::Replace) => {
                        let ids =
                            member_ids(op.value.as_ref().unwrap_or(&Value::Null)).map_err(at)?;
                        b.replace(&ids);
                    }
                    (None, PatchOpKind::Remove) => match &op.value {
                        // RFC: no filter and no value removes every member.
                        None | Some(Value::Null) => b.replace(&[]),
                        // Entra ID: remove only the listed members.
                        Some(v) => {
                            let ids = member_ids(v).map_err(at)?;
                            ids.iter().for_each(|id| b.remove(id));
                        }
                    },
                }
            }
            Some(_) => other_ops.push(op.clone()),
        }
    }
    Ok(MemberChanges {
        add: b.add.into_vec(),
        remove: b.remove.into_vec(),
        replace_all: b.replace_all.map(OrderedSet::into_vec),
        other_ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScimType, ENTERPRISE_USER_SCHEMA};
    use serde_json::json;

    type TestResult = Result<(), ScimError>;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn body(ops: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223",
            "meta": {"resourceType": "User", "version": "W/\"1\""},
            "userName": "bjensen@example.com",
            "displayName": "Babs Jensen",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@work.example", "type": "work", "primary": true},
                {"value": "babs@home.example", "type": "home"}
            ]
        })
    }

    fn group(members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Engineering",
            "members": members
        })
    }

    /// Parses `ops` with the user rules and applies them to `resource`.
    fn patch(resource: &mut Value, ops: Value, rules: &PatchRules<'_>) -> TestResult {
        let ops = parse_patch(&body(ops), rules)?;
        apply(resource, &ops, rules)
    }

    fn expect_err(
        resource: &Value,
        ops: Value,
        rules: &PatchRules<'_>,
        kind: ScimType,
        needle: &str,
    ) {
        let mut r = resource.clone();
        let result = parse_patch(&body(ops.clone()), rules).and_then(|o| apply(&mut r, &o, rules));
        match result {
            Err(e) => {
                assert_eq!(e.scim_type, Some(kind), "{ops}: {e}");
                assert!(
                    e.detail.contains(needle),
                    "{ops}: {:?} lacks {needle:?}",
                    e.detail
                );
                assert_eq!(&r, resource, "resource changed despite the error");
            }
            Ok(()) => panic!("{ops} succeeded: {r}"),
        }
    }

    /// Okta deactivates a user with a path-less replace.
    #[test]
    fn patch_okta_deactivate_sets_active_false() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "value": {"active": false}}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["active"], json!(false));
        Ok(())
    }

    /// Entra's capitalised op and "False" string become a boolean.
    #[test]
    fn patch_entra_replace_active_string_false_coerced() -> TestResult {
        let ops = parse_patch(
            &body(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            &PatchRules::USER,
        )?;
        assert_eq!(ops[0].op, PatchOpKind::Replace);
        assert_eq!(ops[0].value, Some(json!(false)));
        let mut u = user();
        apply(&mut u, &ops, &PatchRules::USER)?;
        assert_eq!(u["active"], json!(false));
        Ok(())
    }

    /// "True" strings are coerced inside value objects and arrays too, but only for listed attributes.
    #[test]
    fn patch_boolean_strings_nested_coerced_only_when_listed() -> TestResult {
        let ops = parse_patch(
            &json!({"operations": [
                {"op": "replace", "value": {"ACTIVE": "True", "title": "True"}},
                {"op": "add", "path": "emails", "value": [{"value": "x@y", "primary": "true"}]},
                {"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "FALSE"}
            ]}),
            &PatchRules::USER,
        )?;
        assert_eq!(ops[0].value, Some(json!({"ACTIVE": true, "title": "True"})));
        assert_eq!(
            ops[1].value,
            Some(json!([{"value": "x@y", "primary": true}]))
        );
        assert_eq!(ops[2].value, Some(json!(false)));
        Ok(())
    }

    /// Entra replaces the work email's value through a filtered path.
    #[test]
    fn patch_entra_replace_filtered_sub_attribute() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u["emails"][0],
            json!({"value": "new@x", "type": "work", "primary": true})
        );
        assert_eq!(u["emails"][1]["value"], "babs@home.example");
        Ok(())
    }

    /// A filtered replace that matches nothing is noTarget and changes nothing.
    #[test]
    fn patch_replace_filtered_no_match_no_target() {
        expect_err(
            &user(),
            json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x"}
            ]),
            &PatchRules::USER,
            ScimType::NoTarget,
            "Operations[1]",
        );
    }

    /// A filtered add that matches nothing creates the value the filter describes.
    #[test]
    fn patch_add_filtered_no_match_creates_value() -> TestResult {
        let mut u = json!({"schemas": [], "userName": "u"});
        patch(
            &mut u,
            json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@x"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["emails"], json!([{"type": "work", "value": "w@x"}]));
        Ok(())
    }

    /// Entra adds the manager as a bare id under the enterprise URN.
    #[test]
    fn patch_entra_add_manager_urn_path_wraps_value() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "mgr-id"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u[ENT]["manager"], json!({"value": "mgr-id"}));
        assert_eq!(
            u["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT])
        );
        patch(
            &mut u,
            json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "mgr-2"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u[ENT]["manager"], json!({"value": "mgr-2"}));
        Ok(())
    }

    /// Removing the last extension attribute drops the object and its schemas entry.
    #[test]
    fn patch_remove_last_extension_attribute_drops_container() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "path": format!("{ENT}:department"), "value": "R&D"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u[ENT], json!({"department": "R&D"}));
        patch(
            &mut u,
            json!([{"op": "remove", "path": format!("{ENT}:department")}]),
            &PatchRules::USER,
        )?;
        assert!(u.get(ENT).is_none());
        assert_eq!(
            u["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
        Ok(())
    }

    /// Entra replaces a sub-attribute of a complex attribute.
    #[test]
    fn patch_entra_replace_name_given_name() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "path": "name.givenName", "value": "X"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["name"], json!({"givenName": "X", "familyName": "Jensen"}));
        Ok(())
    }

    /// aadOptscim062020: a path-less replace whose keys are paths, URNs and filters.
    #[test]
    fn patch_entra_pathless_keys_as_paths() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "value": {
                "displayName": "Pat Doe",
                "name.givenName": "Pat",
                "emails[type eq \"work\"].value": "pat@work.example",
                "addresses[type eq \"work\"].locality": "Oslo",
                format!("{ENT}:employeeNumber"): "701984",
                ENT: {"department": "Tour Operations"}
            }}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["displayName"], "Pat Doe");
        assert_eq!(u["name"]["givenName"], "Pat");
        assert_eq!(u["emails"][0]["value"], "pat@work.example");
        assert_eq!(
            u["addresses"],
            json!([{"type": "work", "locality": "Oslo"}])
        );
        assert_eq!(
            u[ENT],
            json!({"employeeNumber": "701984", "department": "Tour Operations"})
        );
        Ok(())
    }

    /// Attribute names match existing keys case-insensitively and keep their spelling.
    #[test]
    fn patch_replace_case_insensitive_keeps_existing_key() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "path": "displayname", "value": "B"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["displayName"], "B");
        assert!(u.get("displayname").is_none());
        patch(
            &mut u,
            json!([{"op": "replace", "path": "NAME.FAMILYNAME", "value": "J"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u["name"],
            json!({"givenName": "Barbara", "familyName": "J"})
        );
        Ok(())
    }

    /// Adding an email that exists (by value) merges instead of duplicating.
    #[test]
    fn patch_add_multi_valued_dedupes_by_value() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "path": "emails", "value": [
                {"value": "BJENSEN@work.example", "display": "Work"},
                {"value": "third@x.example", "type": "other"}
            ]}]),
            &PatchRules::USER,
        )?;
        let emails = u["emails"].as_array().map(Vec::len);
        assert_eq!(emails, Some(3));
        assert_eq!(u["emails"][0]["display"], "Work");
        assert_eq!(u["emails"][2]["value"], "third@x.example");
        Ok(())
    }

    /// A new primary value clears primary on its siblings.
    #[test]
    fn patch_add_primary_clears_other_primary() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": true}]}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["emails"][0]["primary"], json!(false));
        assert_eq!(u["emails"][2]["primary"], json!(true));
        patch(
            &mut u,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
            &PatchRules::USER,
        )?;
        let primaries: Vec<&Value> = u["emails"]
            .as_array()
            .map(|a| a.iter().filter(|e| e["primary"] == json!(true)).collect())
            .unwrap_or_default();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["type"], "home");
        Ok(())
    }

    /// Replacing a multi-valued attribute without a filter replaces all values.
    #[test]
    fn patch_replace_multi_valued_replaces_all() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@x", "type": "work"}]}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["emails"], json!([{"value": "only@x", "type": "work"}]));
        Ok(())
    }

    /// A filtered remove drops only the matching values; no match is a no-op.
    #[test]
    fn patch_remove_filtered_removes_matching_only() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u["emails"],
            json!([{"value": "bjensen@work.example", "type": "work", "primary": true}])
        );
        patch(
            &mut u,
            json!([{"op": "remove", "path": "emails[type eq \"nope\"]"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["emails"].as_array().map(Vec::len), Some(1));
        patch(
            &mut u,
            json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u["emails"],
            json!([{"value": "bjensen@work.example", "type": "work"}])
        );
        patch(
            &mut u,
            json!([{"op": "remove", "path": "emails[value ew \"example\"]"}]),
            &PatchRules::USER,
        )?;
        assert!(u.get("emails").is_none());
        Ok(())
    }

    /// Remove without a path is noTarget (RFC 7644 §3.5.2.2).
    #[test]
    fn patch_remove_without_path_no_target() {
        expect_err(
            &user(),
            json!([{"op": "remove"}]),
            &PatchRules::USER,
            ScimType::NoTarget,
            "needs a 'path'",
        );
        expect_err(
            &user(),
            json!([{"op": "remove", "path": ""}]),
            &PatchRules::USER,
            ScimType::NoTarget,
            "path",
        );
    }

    /// Read-only attributes refuse changes but accept writing the same value.
    #[test]
    fn patch_read_only_changes_refused_same_value_accepted() -> TestResult {
        expect_err(
            &user(),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "'id' is read-only",
        );
        expect_err(
            &user(),
            json!([{"op": "remove", "path": "meta"}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "read-only",
        );
        expect_err(
            &user(),
            json!([{"op": "replace", "path": "meta.version", "value": "x"}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "read-only",
        );
        expect_err(
            &user(),
            json!([{"op": "add", "path": "schemas", "value": ["urn:x"]}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "read-only",
        );
        // Okta renames groups with the id in the value object.
        let mut g = group(&["u1"]);
        patch(
            &mut g,
            json!([{"op": "replace", "value": {"id": "g1", "displayName": "Eng"}}]),
            &PatchRules::GROUP,
        )?;
        assert_eq!(g["displayName"], "Eng");
        Ok(())
    }

    /// Required attributes cannot be removed or emptied.
    #[test]
    fn patch_required_removed_mutability() {
        expect_err(
            &user(),
            json!([{"op": "remove", "path": "userName"}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "'username' is required",
        );
        expect_err(
            &user(),
            json!([{"op": "replace", "path": "userName", "value": ""}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "required",
        );
        expect_err(
            &user(),
            json!([{"op": "replace", "value": {"userName": null}}]),
            &PatchRules::USER,
            ScimType::Mutability,
            "required",
        );
    }

    /// A failing op leaves the resource exactly as it was.
    #[test]
    fn patch_apply_failure_is_atomic() {
        expect_err(
            &user(),
            json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "add", "path": "emails", "value": [{"value": "z@x"}]},
                {"op": "replace", "path": "id", "value": "other"}
            ]),
            &PatchRules::USER,
            ScimType::Mutability,
            "Operations[2]",
        );
    }

    /// Structural problems are invalidSyntax; bad paths invalidPath; missing values invalidValue.
    #[test]
    fn patch_parse_malformed_bodies_typed_errors() {
        let r = &PatchRules::USER;
        let cases = [
            (json!([]), ScimType::InvalidSyntax, "JSON object"),
            (
                json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
                ScimType::InvalidSyntax,
                "PatchOp",
            ),
            (json!({"Operations": "x"}), ScimType::InvalidSyntax, "array"),
            (
                json!({"schemas": [crate::PATCH_OP]}),
                ScimType::InvalidSyntax,
                "'Operations'",
            ),
            (body(json!([])), ScimType::InvalidSyntax, "at least one"),
            (
                body(json!([{"op": "move", "path": "a"}])),
                ScimType::InvalidSyntax,
                "'op' must be add, remove or replace",
            ),
            (
                body(json!([{"path": "a"}])),
                ScimType::InvalidSyntax,
                "'op' is required",
            ),
            (body(json!([7])), ScimType::InvalidSyntax, "Operations[0]"),
            (
                body(json!([{"op": "add", "path": "emails[type eq", "value": 1}])),
                ScimType::InvalidPath,
                "Operations[0]",
            ),
            (
                body(json!([{"op": "add", "path": 5, "value": 1}])),
                ScimType::InvalidPath,
                "string",
            ),
            (
                body(json!([{"op": "add", "path": "a"}])),
                ScimType::InvalidValue,
                "needs a 'value'",
            ),
            (
                body(json!([{"op": "add", "path": "a", "value": null}])),
                ScimType::InvalidValue,
                "non-null",
            ),
            (
                body(json!([{"op": "replace", "value": "x"}])),
                ScimType::InvalidValue,
                "object",
            ),
            (
                json!({"Operations": [], "operations": []}),
                ScimType::InvalidSyntax,
                "more than once",
            ),
        ];
        for (b, kind, needle) in cases {
            let res = parse_patch(&b, r);
            assert!(
                matches!(&res, Err(e) if e.scim_type == Some(kind) && e.detail.contains(needle)),
                "{b}: {res:?}"
            );
        }
        let res = parse_patch_bytes(b"{not json", r);
        assert!(matches!(res, Err(e) if e.scim_type == Some(ScimType::InvalidSyntax)));
    }

    /// More than the operation cap is invalidValue naming the limit.
    #[test]
    fn patch_parse_too_many_operations_invalid_value() -> TestResult {
        let op = json!({"op": "replace", "path": "displayName", "value": "x"});
        let ok = body(Value::Array(vec![op.clone(); MAX_PATCH_OPERATIONS]));
        assert_eq!(
            parse_patch(&ok, &PatchRules::USER)?.len(),
            MAX_PATCH_OPERATIONS
        );
        let too_many = body(Value::Array(vec![op; MAX_PATCH_OPERATIONS + 1]));
        let res = parse_patch(&too_many, &PatchRules::USER);
        assert!(
            matches!(res, Err(e) if e.scim_type == Some(ScimType::InvalidValue) && e.detail.contains("at most 1000 operations"))
        );
        let tight = PatchRules {
            max_operations: 1,
            ..PatchRules::GROUP
        };
        let two = body(json!([{"op": "remove", "path": "a"}, {"op": "remove", "path": "b"}]));
        assert!(parse_patch(&two, &tight).is_err());
        Ok(())
    }

    /// Entra's legacy member removal removes only the listed members.
    #[test]
    fn patch_entra_remove_members_value_list_removes_listed_only() -> TestResult {
        let rules = PatchRules::GROUP;
        let ops = parse_patch(
            &body(
                json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]}]),
            ),
            &rules,
        )?;
        let mc = member_changes(&ops)?;
        assert_eq!(mc.remove, vec!["u2".to_string(), "u3".to_string()]);
        assert!(mc.add.is_empty() && mc.replace_all.is_none() && mc.other_ops.is_empty());
        let mut g = group(&["u1", "u2", "u3"]);
        apply(&mut g, &ops, &rules)?;
        assert_eq!(g["members"], json!([{"value": "u1"}]));
        Ok(())
    }

    /// Okta and compliant Entra remove a member by filter.
    #[test]
    fn patch_remove_member_by_filter_removes_one() -> TestResult {
        let rules = PatchRules::GROUP;
        let ops = parse_patch(
            &body(json!([{"op": "remove", "path": "members[value eq \"u2\"]"}])),
            &rules,
        )?;
        assert_eq!(member_changes(&ops)?.remove, vec!["u2".to_string()]);
        let mut g = group(&["u1", "u2"]);
        apply(&mut g, &ops, &rules)?;
        assert_eq!(g["members"], json!([{"value": "u1"}]));
        // members.value is case-exact for groups: "U1" is another member.
        let ops = parse_patch(
            &body(json!([{"op": "remove", "path": "members[value eq \"U1\"]"}])),
            &rules,
        )?;
        apply(&mut g, &ops, &rules)?;
        assert_eq!(g["members"], json!([{"value": "u1"}]));
        Ok(())
    }

    /// Entra adds members with a value list.
    #[test]
    fn patch_entra_add_members_value_list() -> TestResult {
        let rules = PatchRules::GROUP;
        let ops = parse_patch(
            &body(
                json!([{"op": "Add", "path": "members", "value": [{"value": "u2"}, {"value": "u1"}]}]),
            ),
            &rules,
        )?;
        assert_eq!(
            member_changes(&ops)?.add,
            vec!["u2".to_string(), "u1".to_string()]
        );
        let mut g = group(&["u1"]);
        apply(&mut g, &ops, &rules)?;
        assert_eq!(g["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        Ok(())
    }

    /// Remove of members with neither filter nor value clears the list.
    #[test]
    fn patch_remove_members_no_value_clears_all() -> TestResult {
        let ops = parse_patch(
            &body(json!([{"op": "remove", "path": "members"}])),
            &PatchRules::GROUP,
        )?;
        let mc = member_changes(&ops)?;
        assert_eq!(mc.replace_all, Some(Vec::new()));
        let mut g = group(&["u1", "u2"]);
        apply(&mut g, &ops, &PatchRules::GROUP)?;
        assert!(g.get("members").is_none());
        Ok(())
    }

    /// Replace of members yields replace_all; later adds and removes fold into it.
    #[test]
    fn member_changes_replace_then_edits_fold_into_replace_all() -> TestResult {
        let ops = parse_patch(
            &body(json!([
                {"op": "add", "path": "members", "value": [{"value": "early"}]},
                {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
                {"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]},
                {"op": "remove", "path": "members[value eq \"b\"]"}
            ])),
            &PatchRules::GROUP,
        )?;
        let mc = member_changes(&ops)?;
        assert_eq!(mc.replace_all, Some(vec!["a".to_string(), "c".to_string()]));
        assert!(mc.add.is_empty() && mc.remove.is_empty());
        Ok(())
    }

    /// Adds and removes of the same id cancel in op order.
    #[test]
    fn member_changes_add_remove_same_id_last_wins() -> TestResult {
        let ops = parse_patch(
            &body(json!([
                {"op": "add", "path": "members", "value": [{"value": "x"}, {"value": "y"}]},
                {"op": "remove", "path": "members[value eq \"x\" or value eq \"z\"]"},
                {"op": "add", "path": "members", "value": [{"value": "z"}]}
            ])),
            &PatchRules::GROUP,
        )?;
        let mc = member_changes(&ops)?;
        assert_eq!(mc.add, vec!["y".to_string(), "z".to_string()]);
        assert_eq!(mc.remove, vec!["x".to_string()]);
        Ok(())
    }

    /// Path-less values split members from the other attributes.
    #[test]
    fn member_changes_pathless_splits_members_and_rest() -> TestResult {
        let ops = parse_patch(
            &body(json!([
                {"op": "replace", "value": {"id": "g1", "displayName": "New", "members": [{"value": "m1"}]}},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:displayName", "value": "Newer"}
            ])),
            &PatchRules::GROUP,
        )?;
        let mc = member_changes(&ops)?;
        assert_eq!(mc.replace_all, Some(vec!["m1".to_string()]));
        assert_eq!(mc.other_ops.len(), 2);
        assert_eq!(
            mc.other_ops[0].value,
            Some(json!({"id": "g1", "displayName": "New"}))
        );
        let mut g = group(&["u1"]);
        apply(&mut g, &mc.other_ops, &PatchRules::GROUP)?;
        assert_eq!(g["displayName"], "Newer");
        assert_eq!(g["members"], json!([{"value": "u1"}]));
        Ok(())
    }

    /// Unsupported member paths and values are refused, never widened.
    #[test]
    fn member_changes_unsupported_shapes_refused() -> TestResult {
        let cases = [
            (
                json!([{"op": "remove", "path": "members[display co \"x\"]"}]),
                ScimType::InvalidFilter,
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"x\" and type eq \"User\"]"}]),
                ScimType::InvalidFilter,
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"x\"]", "value": {"value": "y"}}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"x\"].display", "value": "y"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": ""}]}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "remove", "path": "members", "value": [42]}]),
                ScimType::InvalidValue,
            ),
        ];
        for (ops, kind) in cases {
            let parsed = parse_patch(&body(ops.clone()), &PatchRules::GROUP)?;
            let res = member_changes(&parsed);
            assert!(
                matches!(&res, Err(e) if e.scim_type == Some(kind)),
                "{ops}: {res:?}"
            );
        }
        Ok(())
    }

    /// Large member lists are handled without quadratic blow-up and keep order.
    #[test]
    fn member_changes_large_lists_keep_order() -> TestResult {
        let ids: Vec<Value> = (0..20_000)
            .map(|i| json!({"value": format!("u{i}")}))
            .collect();
        let ops = parse_patch(
            &body(json!([
                {"op": "add", "path": "members", "value": ids},
                {"op": "remove", "path": "members", "value": ids}
            ])),
            &PatchRules::GROUP,
        )?;
        let mc = member_changes(&ops)?;
        assert!(mc.add.is_empty());
        assert_eq!(mc.remove.len(), 20_000);
        assert_eq!(mc.remove[19_999], "u19999");
        Ok(())
    }

    /// PatchOp renders back to its JSON form.
    #[test]
    fn patch_op_to_json_canonical() -> TestResult {
        let ops = parse_patch(
            &body(
                json!([{"OP": "Replace", "Path": "emails[type eq \"work\"].value", "Value": "a@b"}]),
            ),
            &PatchRules::USER,
        )?;
        assert_eq!(
            ops[0].to_json(),
            json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@b"})
        );
        Ok(())
    }

    /// Replace with null unassigns; add with a complex value merges sub-attributes.
    #[test]
    fn patch_replace_null_unassigns_and_add_merges() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([
                {"op": "replace", "path": "displayName", "value": null},
                {"op": "add", "path": "name", "value": {"middleName": "Jane", "givenName": "Babs"}}
            ]),
            &PatchRules::USER,
        )?;
        assert!(u.get("displayName").is_none());
        assert_eq!(
            u["name"],
            json!({"givenName": "Babs", "familyName": "Jensen", "middleName": "Jane"})
        );
        Ok(())
    }

    /// The enterprise URN is recognised as a container in a path-less add.
    #[test]
    fn patch_add_pathless_enterprise_object_merges() -> TestResult {
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "add", "value": {ENTERPRISE_USER_SCHEMA: {"costCenter": "4130", "manager": {"value": "m"}}}}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u[ENT],
            json!({"costCenter": "4130", "manager": {"value": "m"}})
        );
        Ok(())
    }

    /// An unfiltered sub-attribute of a multi-valued attribute needs a single target.
    #[test]
    fn patch_unfiltered_multi_sub_attribute_ambiguous_invalid_path() -> TestResult {
        expect_err(
            &user(),
            json!([{"op": "replace", "path": "emails.value", "value": "x@y"}]),
            &PatchRules::USER,
            ScimType::InvalidPath,
            "ambiguous",
        );
        let mut u = json!({"userName": "u", "emails": [{"value": "a@b", "display": "A"}]});
        patch(
            &mut u,
            json!([{"op": "replace", "path": "emails.value", "value": "c@d"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["emails"], json!([{"value": "c@d", "display": "A"}]));
        let mut u = user();
        patch(
            &mut u,
            json!([{"op": "remove", "path": "emails.type"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(
            u["emails"],
            json!([{"value": "bjensen@work.example", "primary": true}, {"value": "babs@home.example"}])
        );
        let mut u = json!({"userName": "u"});
        patch(
            &mut u,
            json!([{"op": "add", "path": "phoneNumbers.value", "value": "555"}]),
            &PatchRules::USER,
        )?;
        assert_eq!(u["phoneNumbers"], json!([{"value": "555"}]));
        Ok(())
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn json_leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i32>().prop_map(|i| json!(i)),
                "[a-zA-Z@. ]{0,8}".prop_map(Value::String),
                Just(json!("True")),
            ]
        }

        fn json_value() -> impl Strategy<Value = Value> {
            json_leaf().prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        "[a-zA-Z]{1,6}|value|primary|type",
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn path() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                Just("emails".to_string()),
                Just("emails[type eq \"work\"]".to_string()),
                Just("emails[type eq \"work\"].value".to_string()),
                Just("emails[value co \"x\" or not (primary eq true)].primary".to_string()),
                Just("name.givenName".to_string()),
                Just("name[givenName pr]".to_string()),
                Just("userName.x".to_string()),
                Just("displayName".to_string()),
                Just("members".to_string()),
                Just("members[value eq \"a\"]".to_string()),
                Just(format!("{ENT}:manager")),
                Just(format!("{ENT}:manager.value")),
                "[a-zA-Z\\[\\]\". ]{0,12}",
            ])
        }

        fn op() -> impl Strategy<Value = Value> {
            (
                prop_oneof![Just("add"), Just("Remove"), Just("replace"), Just("bad")],
                path(),
                proptest::option::of(json_value()),
            )
                .prop_map(|(op, path, value)| {
                    let mut o = Map::new();
                    o.insert("op".into(), json!(op));
                    if let Some(p) = path {
                        o.insert("path".into(), json!(p));
                    }
                    if let Some(v) = value {
                        o.insert("value".into(), v);
                    }
                    Value::Object(o)
                })
        }

        proptest! {
            /// Random operations never panic parse, apply or member_changes,
            /// and a failed apply leaves the resource untouched.
            #[test]
            fn patch_random_ops_never_panic(ops in proptest::collection::vec(op(), 1..5), base in json_value()) {
                let mut resource = user();
                if let (Some(obj), Value::Object(extra)) = (resource.as_object_mut(), base) {
                    for (k, v) in extra {
                        obj.entry(k).or_insert(v);
                    }
                }
                let before = resource.clone();
                for rules in [PatchRules::USER, PatchRules::GROUP] {
                    if let Ok(parsed) = parse_patch(&body(Value::Array(ops.clone())), &rules) {
                        let _ = member_changes(&parsed);
                        let mut r = before.clone();
                        if apply(&mut r, &parsed, &rules).is_err() {
                            prop_assert_eq!(&r, &before);
                        }
                    }
                }
                prop_assert_eq!(resource, before);
            }
        }
    }
}
