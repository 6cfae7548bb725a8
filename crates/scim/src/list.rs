//! Query parameters for listing and searching resources, attribute
//! projection and the list response (RFC 7644 §3.4.2, §3.4.2.4 pagination,
//! §3.4.2.3 sorting, §3.4.2.5 `attributes`/`excludedAttributes`, §3.4.3
//! `POST /.search`, §3.4.2 `ListResponse`).
//!
//! Owns [`ListParams`], [`SortOrder`], [`project`] and [`list_response`].
//!
//! Invariants:
//! - Parameter and member names match case-insensitively (RFC 7644 §3.10);
//!   unknown parameters are ignored; a parameter given twice is 400
//!   `invalidValue` (which one wins would be a guess).
//! - `start_index >= 1` (smaller values become 1); `0 <= count <= MAX_COUNT`
//!   (negative becomes 0, larger becomes [`MAX_COUNT`], absent is
//!   [`DEFAULT_COUNT`]). A non-integer is 400 `invalidValue`.
//! - A bad `filter` is 400 `invalidFilter`; a malformed attribute name in
//!   `attributes`/`excludedAttributes`/`sortBy` is 400 `invalidValue`.
//! - [`project`] never drops the `always` attributes (`id`, `schemas`, …)
//!   and never invents values: it only copies or omits what is there.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{echo, ScimError};
use crate::filter::{parse_filter, AttrPath, Filter};

/// The page size used when the client gives no `count`.
pub const DEFAULT_COUNT: i64 = 100;
/// The largest page size served; larger `count` values are capped to it.
pub const MAX_COUNT: i64 = 200;

/// The `sortOrder` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// `ascending` (the default).
    #[default]
    Ascending,
    /// `descending`.
    Descending,
}

/// The list/query parameters of a `GET` or `POST /.search` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    /// The parsed `filter`, if any.
    pub filter: Option<Filter>,
    /// The 1-based index of the first result (`startIndex`), at least 1.
    pub start_index: i64,
    /// The page size (`count`), between 0 and [`MAX_COUNT`].
    pub count: i64,
    /// The `sortBy` attribute path as given (validated as a path).
    pub sort_by: Option<String>,
    /// The `sortOrder`.
    pub sort_order: SortOrder,
    /// The `attributes` to return, as given.
    pub attributes: Vec<String>,
    /// The `excludedAttributes` to omit, as given.
    pub excluded_attributes: Vec<String>,
}

impl Default for ListParams {
    fn default() -> Self {
        ListParams {
            filter: None,
            start_index: 1,
            count: DEFAULT_COUNT,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
        }
    }
}

/// The parameters this module understands, by lower-case name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    Filter,
    StartIndex,
    Count,
    SortBy,
    SortOrder,
    Attributes,
    ExcludedAttributes,
}

impl Param {
    fn from_name(name: &str) -> Option<Self> {
        let known = [
            ("filter", Param::Filter),
            ("startindex", Param::StartIndex),
            ("count", Param::Count),
            ("sortby", Param::SortBy),
            ("sortorder", Param::SortOrder),
            ("attributes", Param::Attributes),
            ("excludedattributes", Param::ExcludedAttributes),
        ];
        known
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| p)
    }

    fn name(self) -> &'static str {
        match self {
            Param::Filter => "filter",
            Param::StartIndex => "startIndex",
            Param::Count => "count",
            Param::SortBy => "sortBy",
            Param::SortOrder => "sortOrder",
            Param::Attributes => "attributes",
            Param::ExcludedAttributes => "excludedAttributes",
        }
    }
}

impl ListParams {
    /// Parses URL query pairs (already percent-decoded), e.g. from axum's
    /// `Query<Vec<(String, String)>>`.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let mut p = ListParams::default();
        let mut seen = Vec::new();
        for (name, value) in pairs {
            let Some(param) = Param::from_name(name) else {
                continue;
            };
            if seen.contains(&param) {
                return Err(ScimError::invalid_value(format!(
                    "parameter '{}' is given more than once",
                    param.name()
                )));
            }
            seen.push(param);
            match param {
                Param::Filter => p.filter = Some(parse_filter(value)?),
                Param::StartIndex => p.set_start_index(parse_int(param, value)?),
                Param::Count => p.set_count(parse_int(param, value)?),
                Param::SortBy => p.sort_by = Some(attr_name(param, value.trim())?),
                Param::SortOrder => p.sort_order = parse_sort_order(value)?,
                Param::Attributes => p.attributes = split_attrs(param, value)?,
                Param::ExcludedAttributes => p.excluded_attributes = split_attrs(param, value)?,
            }
        }
        Ok(p)
    }

    /// Parses a `POST /.search` body (RFC 7644 §3.4.3). `schemas`, when
    /// present, must name the SearchRequest message.
    pub fn from_search_body(body: &Value) -> Result<Self, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest body must be a JSON object",
            ));
        };
        check_schemas(obj, crate::SEARCH_REQUEST, "SearchRequest")?;
        let mut p = ListParams::default();
        let mut seen = Vec::new();
        for (name, value) in obj {
            let Some(param) = Param::from_name(name) else {
                continue;
            };
            if seen.contains(&param) {
                return Err(ScimError::invalid_value(format!(
                    "member '{}' is given more than once",
                    param.name()
                )));
            }
            seen.push(param);
            if value.is_null() {
                continue;
            }
            let text = || {
                value.as_str().ok_or_else(|| {
                    ScimError::invalid_value(format!("'{}' must be a string", param.name()))
                })
            };
            match param {
                Param::Filter => p.filter = Some(parse_filter(text()?)?),
                Param::StartIndex => p.set_start_index(json_int(param, value)?),
                Param::Count => p.set_count(json_int(param, value)?),
                Param::SortBy => p.sort_by = Some(attr_name(param, text()?.trim())?),
                Param::SortOrder => p.sort_order = parse_sort_order(text()?)?,
                Param::Attributes => p.attributes = json_attrs(param, value)?,
                Param::ExcludedAttributes => p.excluded_attributes = json_attrs(param, value)?,
            }
        }
        Ok(p)
    }

    /// The 0-based row offset for SQL `OFFSET` (`start_index - 1`).
    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }

    fn set_start_index(&mut self, n: i64) {
        self.start_index = n.max(1);
    }

    fn set_count(&mut self, n: i64) {
        self.count = n.clamp(0, MAX_COUNT);
    }
}

/// Checks an optional `schemas` member names `urn`.
pub(crate) fn check_schemas(
    obj: &Map<String, Value>,
    urn: &str,
    what: &str,
) -> Result<(), ScimError> {
    let Some((_, schemas)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")) else {
        return Ok(());
    };
    let ok = schemas.as_array().is_some_and(|a| {
        a.iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    });
    if ok {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain \"{urn}\" for a {what}"
        )))
    }
}

fn parse_int(param: Param, value: &str) -> Result<i64, ScimError> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Too large for i64: saturate; the caller clamps it anyway.
        return Ok(if v.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
    }
    Err(ScimError::invalid_value(format!(
        "'{}' must be an integer, got '{}'",
        param.name(),
        echo(value)
    )))
}

fn json_int(param: Param, value: &Value) -> Result<i64, ScimError> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.as_u64().is_some() {
                Ok(i64::MAX)
            } else {
                Err(ScimError::invalid_value(format!(
                    "'{}' must be an integer, got {n}",
                    param.name()
                )))
            }
        }
        Value::String(s) => parse_int(param, s),
        _ => Err(ScimError::invalid_value(format!(
            "'{}' must be an integer",
            param.name()
        ))),
    }
}

fn parse_sort_order(value: &str) -> Result<SortOrder, ScimError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if v.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(ScimError::invalid_value(format!(
            "'sortOrder' must be \"ascending\" or \"descending\", got '{}'",
            echo(value)
        )))
    }
}

fn attr_name(param: Param, name: &str) -> Result<String, ScimError> {
    AttrPath::parse(name).map_err(|e| {
        ScimError::invalid_value(format!(
            "'{}' holds an invalid attribute {}",
            param.name(),
            e.detail
        ))
    })?;
    Ok(name.to_string())
}

fn split_attrs(param: Param, value: &str) -> Result<Vec<String>, ScimError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| attr_name(param, s))
        .collect()
}

fn json_attrs(param: Param, value: &Value) -> Result<Vec<String>, ScimError> {
    match value {
        Value::String(s) => split_attrs(param, s),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Some(s) = item.as_str() else {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' must be an array of strings",
                        param.name()
                    )));
                };
                out.extend(split_attrs(param, s)?);
            }
            Ok(out)
        }
        _ => Err(ScimError::invalid_value(format!(
            "'{}' must be an array of strings",
            param.name()
        ))),
    }
}

/// Which sub-attributes of one attribute a projection names.
#[derive(Debug, Default)]
struct Sel {
    whole: bool,
    subs: Vec<String>,
}

/// A parsed list of attribute names: core attributes by lower-case name,
/// extension attributes by lower-case URN then name.
#[derive(Debug, Default)]
struct Selection {
    core: HashMap<String, Sel>,
    ext: HashMap<String, Option<HashMap<String, Sel>>>,
}

impl Selection {
    fn build(resource: &Map<String, Value>, names: &[String]) -> Self {
        let mut sel = Selection::default();
        for name in names {
            let lower = name.to_ascii_lowercase();
            // A whole top-level member, e.g. the enterprise extension's URN.
            if lower.starts_with("urn:") && resource.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                sel.ext.insert(lower, None);
                continue;
            }
            let Ok(path) = AttrPath::parse(name) else {
                continue;
            };
            let attrs = if path.is_core() {
                &mut sel.core
            } else {
                let urn = path.urn.as_deref().unwrap_or_default().to_ascii_lowercase();
                match sel.ext.entry(urn).or_insert_with(|| Some(HashMap::new())) {
                    Some(attrs) => attrs,
                    // The whole extension is already selected.
                    None => continue,
                }
            };
            let entry = attrs.entry(path.name.to_ascii_lowercase()).or_default();
            match path.sub_attr {
                Some(sub) => entry.subs.push(sub.to_ascii_lowercase()),
                None => entry.whole = true,
            }
        }
        sel
    }
}

fn is_always(key: &str, always: &[&str]) -> bool {
    always.iter().any(|a| a.eq_ignore_ascii_case(key))
}

/// Keeps only the selected members of `obj`.
fn keep(
    obj: &Map<String, Value>,
    attrs: &HashMap<String, Sel>,
    always: &[&str],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if is_always(k, always) {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let Some(sel) = attrs.get(&k.to_ascii_lowercase()) else {
            continue;
        };
        if sel.whole {
            out.insert(k.clone(), v.clone());
        } else if let Some(v) = keep_subs(v, &sel.subs) {
            out.insert(k.clone(), v);
        }
    }
    out
}

/// Keeps the named sub-attributes of a complex value or of each element of a
/// multi-valued one; `None` when nothing is left.
fn keep_subs(v: &Value, subs: &[String]) -> Option<Value> {
    let pick = |o: &Map<String, Value>| -> Map<String, Value> {
        o.iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match v {
        Value::Object(o) => {
            let m = pick(o);
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| match item {
                    Value::Object(o) => {
                        let m = pick(o);
                        (!m.is_empty()).then_some(Value::Object(m))
                    }
                    other => Some(other.clone()),
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// Removes the selected members of `obj` (never an `always` one).
fn drop_selected(obj: &mut Map<String, Value>, attrs: &HashMap<String, Sel>, always: &[&str]) {
    let keys: Vec<String> = obj.keys().cloned().collect();
    for k in keys {
        if is_always(&k, always) {
            continue;
        }
        let Some(sel) = attrs.get(&k.to_ascii_lowercase()) else {
            continue;
        };
        if sel.whole {
            obj.remove(&k);
            continue;
        }
        let empty = match obj.get_mut(&k) {
            Some(Value::Object(o)) => {
                o.retain(|sk, _| !sel.subs.iter().any(|s| s.eq_ignore_ascii_case(sk)));
                o.is_empty()
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item {
                        o.retain(|sk, _| !sel.subs.iter().any(|s| s.eq_ignore_ascii_case(sk)));
                    }
                }
                items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
                items.is_empty()
            }
            _ => false,
        };
        if empty {
            obj.remove(&k);
        }
    }
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a
/// resource.
///
/// With `attributes` non-empty only those (plus `always`) are returned;
/// `excluded` is then applied to what remains. Names may be
/// `attr`, `attr.sub` (applied to each value of a multi-valued attribute),
/// URN-qualified (`urn:…:enterprise:2.0:User:department`) or a whole
/// extension URN. `always` lists top-level members returned regardless,
/// e.g. `&["id", "schemas", "meta"]`. Names match case-insensitively.
pub fn project(
    resource: &Value,
    attributes: &[String],
    excluded: &[String],
    always: &[&str],
) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = if attributes.is_empty() {
        obj.clone()
    } else {
        let sel = Selection::build(obj, attributes);
        let mut out = keep(obj, &sel.core, always);
        for (k, v) in obj {
            let Some(ext) = sel.ext.get(&k.to_ascii_lowercase()) else {
                continue;
            };
            match (ext, v) {
                (None, _) => {
                    out.insert(k.clone(), v.clone());
                }
                (Some(attrs), Value::Object(inner)) => {
                    let kept = keep(inner, attrs, &[]);
                    if !kept.is_empty() {
                        out.insert(k.clone(), Value::Object(kept));
                    }
                }
                _ => {}
            }
        }
        out
    };
    if !excluded.is_empty() {
        let sel = Selection::build(obj, excluded);
        drop_selected(&mut out, &sel.core, always);
        let keys: Vec<String> = out.keys().cloned().collect();
        for k in keys {
            if is_always(&k, always) {
                continue;
            }
            match sel.ext.get(&k.to_ascii_lowercase()) {
                Some(None) => {
                    out.remove(&k);
                }
                Some(Some(attrs)) => {
                    if let Some(Value::Object(inner)) = out.get_mut(&k) {
                        drop_selected(inner, attrs, &[]);
                        if inner.is_empty() {
                            out.remove(&k);
                        }
                    }
                }
                None => {}
            }
        }
    }
    Value::Object(out)
}

/// A `ListResponse` (RFC 7644 §3.4.2): `totalResults`, `itemsPerPage` (the
/// number of resources on this page), `startIndex` and `Resources`.
pub fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    let items = i64::try_from(resources.len()).unwrap_or(i64::MAX);
    serde_json::json!({
        "schemas": [crate::LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": items,
        "startIndex": start_index,
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;
    use serde_json::json;

    type TestResult = Result<(), ScimError>;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// No parameters give the RFC defaults.
    #[test]
    fn list_from_query_empty_uses_defaults() -> TestResult {
        let p = ListParams::from_query(&[])?;
        assert_eq!(p, ListParams::default());
        assert_eq!((p.start_index, p.count, p.offset()), (1, DEFAULT_COUNT, 0));
        Ok(())
    }

    /// Every parameter parses, with names matched case-insensitively.
    #[test]
    fn list_from_query_all_params_parse_case_insensitively() -> TestResult {
        let p = ListParams::from_query(&q(&[
            ("FILTER", "userName eq \"bjensen\""),
            ("startindex", "11"),
            ("Count", "5"),
            ("sortBy", "name.familyName"),
            ("SORTORDER", "Descending"),
            ("attributes", "userName, emails.value ,,"),
            ("excludedAttributes", "groups"),
            ("unrelated", "ignored"),
        ]))?;
        assert!(p.filter.is_some());
        assert_eq!((p.start_index, p.count, p.offset()), (11, 5, 10));
        assert_eq!(p.sort_by.as_deref(), Some("name.familyName"));
        assert_eq!(p.sort_order, SortOrder::Descending);
        assert_eq!(p.attributes, strings(&["userName", "emails.value"]));
        assert_eq!(p.excluded_attributes, strings(&["groups"]));
        Ok(())
    }

    /// Out-of-range paging values are clamped as the RFC says.
    #[test]
    fn list_from_query_paging_out_of_range_clamps() -> TestResult {
        let cases = [
            ("0", "-5", 1, 0),
            ("-3", "1000", 1, MAX_COUNT),
            (
                "99999999999999999999",
                "99999999999999999999",
                i64::MAX,
                MAX_COUNT,
            ),
            (" 2 ", "0", 2, 0),
        ];
        for (start, count, want_start, want_count) in cases {
            let p = ListParams::from_query(&q(&[("startIndex", start), ("count", count)]))?;
            assert_eq!(
                (p.start_index, p.count),
                (want_start, want_count),
                "{start}/{count}"
            );
        }
        Ok(())
    }

    /// Non-integers, bad sort orders, repeats and bad names are invalidValue.
    #[test]
    fn list_from_query_bad_values_invalid_value() {
        for pairs in [
            q(&[("count", "ten")]),
            q(&[("startIndex", "1.5")]),
            q(&[("sortOrder", "up")]),
            q(&[("count", "1"), ("COUNT", "2")]),
            q(&[("attributes", "userName,bad name")]),
            q(&[("sortBy", "a.b.c")]),
        ] {
            let r = ListParams::from_query(&pairs);
            assert!(
                matches!(&r, Err(e) if e.scim_type == Some(ScimType::InvalidValue)),
                "{pairs:?}: {r:?}"
            );
        }
    }

    /// A malformed filter is invalidFilter, not invalidValue.
    #[test]
    fn list_from_query_bad_filter_invalid_filter() {
        let r = ListParams::from_query(&q(&[("filter", "userName eq")]));
        assert!(matches!(r, Err(e) if e.scim_type == Some(ScimType::InvalidFilter)));
    }

    /// A SearchRequest body parses like the query, members case-insensitive.
    #[test]
    fn list_from_search_body_full_request_parses() -> TestResult {
        let p = ListParams::from_search_body(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName", "userName"],
            "excludedattributes": "emails",
            "Filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10,
            "sortBy": "userName",
            "sortOrder": "ascending"
        }))?;
        assert!(p.filter.is_some());
        assert_eq!((p.start_index, p.count), (1, 10));
        assert_eq!(p.attributes, strings(&["displayName", "userName"]));
        assert_eq!(p.excluded_attributes, strings(&["emails"]));
        assert_eq!(p.sort_by.as_deref(), Some("userName"));
        Ok(())
    }

    /// Wrong schemas, non-objects and bad member types are refused.
    #[test]
    fn list_from_search_body_bad_shapes_refused() {
        let cases = [
            (json!([]), ScimType::InvalidSyntax),
            (json!({"schemas": ["urn:wrong"]}), ScimType::InvalidSyntax),
            (json!({"count": 1.5}), ScimType::InvalidValue),
            (json!({"count": true}), ScimType::InvalidValue),
            (json!({"filter": 3}), ScimType::InvalidValue),
            (json!({"attributes": [1]}), ScimType::InvalidValue),
            (json!({"filter": "x eq"}), ScimType::InvalidFilter),
        ];
        for (body, want) in cases {
            let r = ListParams::from_search_body(&body);
            assert!(
                matches!(&r, Err(e) if e.scim_type == Some(want)),
                "{body}: {r:?}"
            );
        }
    }

    /// Large or negative counts in a body are clamped too; nulls are ignored.
    #[test]
    fn list_from_search_body_count_clamps() -> TestResult {
        let p = ListParams::from_search_body(
            &json!({"count": 18446744073709551615u64, "startIndex": -4, "filter": null}),
        )?;
        assert_eq!((p.start_index, p.count, p.filter), (1, MAX_COUNT, None));
        Ok(())
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223",
            "meta": {"resourceType": "User"},
            "userName": "bjensen",
            "displayName": "Babs",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "b@work.example", "type": "work", "primary": true},
                {"value": "b@home.example", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "R&D",
                "manager": {"value": "m1", "displayName": "Boss"}
            }
        })
    }

    const ALWAYS: &[&str] = &["id", "schemas", "meta"];

    /// `attributes` keeps only what is named, plus the always-returned members.
    #[test]
    fn list_project_attributes_keeps_named_and_always() {
        let out = project(
            &user(),
            &strings(&["USERNAME", "name.familyName", "emails.value"]),
            &[],
            ALWAYS,
        );
        assert_eq!(
            out,
            json!({
                "schemas": user()["schemas"],
                "id": "2819c223",
                "meta": {"resourceType": "User"},
                "userName": "bjensen",
                "name": {"familyName": "Jensen"},
                "emails": [{"value": "b@work.example"}, {"value": "b@home.example"}]
            })
        );
    }

    /// Extension attributes can be named by full path or by the whole URN.
    #[test]
    fn list_project_attributes_extension_paths() {
        let out = project(
            &user(),
            &strings(&["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"]),
            &[],
            &["id"],
        );
        assert_eq!(
            out,
            json!({
                "id": "2819c223",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}}
            })
        );
        let out = project(
            &user(),
            &strings(&["urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"]),
            &[],
            &[],
        );
        assert_eq!(
            out,
            json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                   user()["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]})
        );
        let out = project(
            &user(),
            &strings(&["urn:ietf:params:scim:schemas:core:2.0:User:displayName"]),
            &[],
            &[],
        );
        assert_eq!(out, json!({"displayName": "Babs"}));
    }

    /// `excludedAttributes` drops what is named but never the always members.
    #[test]
    fn list_project_excluded_drops_named_keeps_always() {
        let out = project(
            &user(),
            &[],
            &strings(&[
                "emails",
                "name.givenName",
                "id",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ]),
            ALWAYS,
        );
        let mut want = user();
        if let Some(o) = want.as_object_mut() {
            o.remove("emails");
        }
        want["name"] = json!({"familyName": "Jensen"});
        want["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            json!({"manager": {"value": "m1", "displayName": "Boss"}});
        assert_eq!(out, want);
    }

    /// Excluding every extension attribute removes the emptied container.
    #[test]
    fn list_project_excluded_empty_extension_removed() {
        let out = project(
            &user(),
            &[],
            &strings(&[
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "emails.value",
                "emails.type",
                "emails.primary",
            ]),
            ALWAYS,
        );
        assert!(out
            .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            .is_none());
        assert!(out.get("emails").is_none());
        assert_eq!(out["userName"], "bjensen");
    }

    /// Nothing requested returns the resource unchanged; non-objects pass through.
    #[test]
    fn list_project_no_params_identity() {
        assert_eq!(project(&user(), &[], &[], ALWAYS), user());
        assert_eq!(
            project(&json!([1]), &strings(&["a"]), &[], ALWAYS),
            json!([1])
        );
    }

    /// The list response carries the RFC member names.
    #[test]
    fn list_response_page_has_rfc_members() {
        let v = list_response(vec![json!({"id": "a"}), json!({"id": "b"})], 42, 11);
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 42,
                "itemsPerPage": 2,
                "startIndex": 11,
                "Resources": [{"id": "a"}, {"id": "b"}]
            })
        );
    }
}
