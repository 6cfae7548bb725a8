//! Filter → parameterised SQL `WHERE` fragment (RFC 7644 §3.4.2.2 semantics,
//! attribute types per RFC 7643 §2.3), plus a safe `ORDER BY` term for
//! `sortBy` (RFC 7644 §3.4.2.3).
//!
//! Owns [`to_sql`], [`order_by_sql`] and the caller-supplied mapping types
//! ([`AttrMapping`], [`AttrKind`], [`MultiMapping`]).
//!
//! Invariants:
//! - Values never appear in the SQL text. Every literal becomes a positional
//!   placeholder `$N` (accepted by PostgreSQL, and by SQLite through sqlx),
//!   numbered consecutively from `first_param`; placeholder `$k` is bound to
//!   `binds[k - first_param]` and no placeholder is used twice.
//! - Only identifiers from the caller's static [`AttrMapping`] table reach
//!   the SQL text; an attribute that is not in the table is a 400
//!   `invalidFilter` naming it.
//! - Every fragment is self-contained (parenthesised where it has a
//!   top-level `AND`/`OR`), so the caller can write
//!   `WHERE tenant_id = $1 AND <fragment>`.
//!
//! Semantics:
//! - Case-insensitive strings compare as `LOWER(col) = LOWER($n)`;
//!   `co`/`sw`/`ew` use `LOWER(col) LIKE $n ESCAPE '\'` with the bound value
//!   lower-cased (ASCII-only for SQLite, whose `LOWER` is ASCII-only; full
//!   Unicode for PostgreSQL) and `%`, `_`, `\` escaped. Case-exact strings and
//!   references use `LIKE` on PostgreSQL and `GLOB` on SQLite (whose `LIKE`
//!   ignores ASCII case).
//! - `ne` also matches rows where the column is NULL: `(col IS NULL OR col <> $n)`.
//!   `eq null` / `ne null` become `IS NULL` / `IS NOT NULL`.
//! - `pr` on a string is `(col IS NOT NULL AND col <> '')`, on other kinds
//!   `col IS NOT NULL`.
//! - `not (f)` is `NOT COALESCE((f), FALSE)`, so rows where `f` is unknown
//!   (NULL) count as "not f", in line with `ne`.
//! - Booleans take `eq`/`ne` only; integers and date-times take no
//!   `co`/`sw`/`ew`; a value of the wrong JSON type is `invalidFilter`.
//! - DateTime values must be RFC 3339 timestamps with an offset. PostgreSQL
//!   compares `col <op> CAST($n AS timestamptz)`. SQLite compares
//!   `strftime('%Y-%m-%dT%H:%M:%f', …)` of both sides (the bound value
//!   normalised to UTC first), so the column may hold any RFC 3339 spelling;
//!   precision is the millisecond.
//! - A multi-valued attribute (mapping with [`MultiMapping`]) lives in a side
//!   table: a comparison on it is
//!   `EXISTS (SELECT 1 FROM <table> m WHERE m.<fk> = <parent_key> AND <cond on m.col>)`,
//!   `emails pr` is the bare `EXISTS`, `emails co "x"` means `emails.value co "x"`,
//!   and a value path `emails[type eq "work" and value co "@x"]` is ONE
//!   `EXISTS` whose conditions hold on the same row. The sub-query alias is
//!   `m`; outer queries should use another alias.
//!
//! Lookup: attribute paths match mapping paths case-insensitively. A core
//! URN prefix (`urn:ietf:params:scim:schemas:core:…`) may be written or not;
//! an unqualified name also finds a uniquely named extension attribute
//! (`department` → `urn:…:enterprise:2.0:user:department`); `attr` falls back
//! to `attr.value`.

use crate::error::{echo, ScimError};
use crate::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::list::SortOrder;

/// The SQL dialect the fragment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite (through sqlx, which maps `$N` to argument N).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value to bind to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// Text (strings, references, date-times).
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// A boolean (SQLite stores it as 0/1).
    Bool(bool),
    /// SQL NULL. Never produced by [`to_sql`] (null comparisons become
    /// `IS NULL`) but available to callers that build on the bind list.
    Null,
}

/// The SCIM data type of a mapped attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrKind {
    /// A string; `case_exact: false` compares case-insensitively.
    String {
        /// Whether comparisons respect case (RFC 7643 `caseExact`).
        case_exact: bool,
    },
    /// A boolean.
    Boolean,
    /// An integer.
    Integer,
    /// A date-time.
    DateTime,
    /// A reference (id or URI): a case-exact string.
    Reference,
}

/// Where a multi-valued attribute's values are stored: a side table with one
/// row per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MultiMapping {
    /// The side table, e.g. `scim_user_emails`.
    pub table: &'static str,
    /// The column in the side table pointing to the parent, e.g. `user_id`.
    pub fk: &'static str,
    /// The parent's key as the outer query names it, e.g. `u.id`.
    pub parent_key: &'static str,
}

/// How one filterable attribute maps to SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrMapping {
    /// The lower-case attribute path: `username`, `name.familyname`,
    /// `emails.value`, `meta.lastmodified`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department`.
    pub path: &'static str,
    /// The column: a qualified column of the outer query (`u.user_name`) for
    /// single-valued attributes, or a bare column of the side table (`value`)
    /// when `multi` is set.
    pub column: &'static str,
    /// The attribute's type, which decides the comparison SQL.
    pub kind: AttrKind,
    /// Set when the attribute is a sub-attribute of a multi-valued attribute
    /// stored in a side table.
    pub multi: Option<MultiMapping>,
}

/// Translates `filter` into a SQL condition and its bind values.
///
/// Placeholders are numbered from `first_param` (use 2 when the caller's
/// query already uses `$1`); 0 is treated as 1.
pub fn to_sql(
    filter: &Filter,
    attrs: &[AttrMapping],
    dialect: Dialect,
    first_param: usize,
) -> Result<(String, Vec<SqlValue>), ScimError> {
    let mut t = Translator {
        attrs,
        dialect,
        next: first_param.max(1),
        binds: Vec::new(),
    };
    let sql = t.filter(filter, None)?;
    Ok((sql, t.binds))
}

/// The `ORDER BY` term for a `sortBy` attribute, e.g. `LOWER(u.user_name) DESC`.
///
/// Only single-valued mapped attributes can be sorted by; anything else is
/// 400 `invalidValue` naming the attribute. Case-insensitive strings sort by
/// `LOWER(col)`.
pub fn order_by_sql(
    sort_by: &str,
    order: SortOrder,
    attrs: &[AttrMapping],
) -> Result<String, ScimError> {
    let path = AttrPath::parse(sort_by)
        .map_err(|e| ScimError::invalid_value(format!("sortBy {}", e.detail)))?;
    let t = Translator {
        attrs,
        dialect: Dialect::Postgres,
        next: 1,
        binds: Vec::new(),
    };
    let unknown = || {
        ScimError::invalid_value(format!(
            "sortBy names '{}', which is not a sortable attribute",
            echo(sort_by)
        ))
    };
    let m = t.resolve(&path).ok_or_else(unknown)?;
    if m.multi.is_some() {
        return Err(ScimError::invalid_value(format!(
            "sortBy cannot use the multi-valued attribute '{}'",
            echo(sort_by)
        )));
    }
    let dir = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    Ok(match m.kind {
        AttrKind::String { case_exact: false } => format!("LOWER({}) {dir}", m.column),
        _ => format!("{} {dir}", m.column),
    })
}

/// The value-path context a comparison is translated in.
#[derive(Clone, Copy)]
struct Scope<'p> {
    /// The attribute whose sub-attributes the inner filter names.
    parent: &'p AttrPath,
    /// Set when the parent is multi-valued: columns are `m.<column>`.
    multi: Option<MultiMapping>,
}

struct Translator<'a> {
    attrs: &'a [AttrMapping],
    dialect: Dialect,
    next: usize,
    binds: Vec<SqlValue>,
}

impl<'a> Translator<'a> {
    fn bind(&mut self, v: SqlValue) -> String {
        let n = self.next;
        self.next += 1;
        self.binds.push(v);
        format!("${n}")
    }

    fn lookup(&self, key: &str) -> Option<&'a AttrMapping> {
        self.attrs.iter().find(|m| m.path.eq_ignore_ascii_case(key))
    }

    /// Finds the mapping for `path` (see the module docs for the fallbacks).
    fn resolve(&self, path: &AttrPath) -> Option<&'a AttrMapping> {
        self.resolve_exact(path).or_else(|| {
            path.sub_attr.is_none().then_some(())?;
            let with_value = AttrPath {
                sub_attr: Some("value".to_string()),
                ..path.clone()
            };
            self.resolve_exact(&with_value)
        })
    }

    fn resolve_exact(&self, path: &AttrPath) -> Option<&'a AttrMapping> {
        if let Some(m) = self.lookup(&path.key()) {
            return Some(m);
        }
        match &path.urn {
            Some(_) if path.is_core() => self.lookup(&path.unqualified_key()),
            Some(_) => None,
            None => {
                // An unqualified name may denote a uniquely named extension attribute.
                let suffix = format!(":{}", path.unqualified_key());
                let mut found = self.attrs.iter().filter(|m| {
                    m.path.len() > suffix.len()
                        && m.path
                            .get(m.path.len() - suffix.len()..)
                            .is_some_and(|s| s.eq_ignore_ascii_case(&suffix))
                });
                match (found.next(), found.next()) {
                    (Some(m), None) => Some(m),
                    _ => None,
                }
            }
        }
    }

    /// Any multi-valued mapping under `path` (`emails` → `emails.*`).
    fn multi_under(&self, path: &AttrPath) -> Option<MultiMapping> {
        let prefix = format!("{}.", path.key());
        let short = format!("{}.", path.unqualified_key());
        self.attrs.iter().find_map(|m| {
            let p = m.path.to_ascii_lowercase();
            let under = p.starts_with(&prefix) || (path.is_core() && p.starts_with(&short));
            if under {
                m.multi
            } else {
                None
            }
        })
    }

    fn unknown(path: &AttrPath) -> ScimError {
        ScimError::invalid_filter(format!(
            "unknown attribute '{}': it cannot be used in a filter",
            echo(&path.to_string())
        ))
    }

    fn filter(&mut self, f: &Filter, scope: Option<Scope<'_>>) -> Result<String, ScimError> {
        match f {
            Filter::And(l, r) => {
                let l = self.filter(l, scope)?;
                let r = self.filter(r, scope)?;
                Ok(format!("({l} AND {r})"))
            }
            Filter::Or(l, r) => {
                let l = self.filter(l, scope)?;
                let r = self.filter(r, scope)?;
                Ok(format!("({l} OR {r})"))
            }
            Filter::Not(inner) => {
                let inner = self.filter(inner, scope)?;
                Ok(format!("NOT COALESCE(({inner}), FALSE)"))
            }
            Filter::Present(path) => self.present(path, scope),
            Filter::Compare { path, op, value } => self.comparison(path, *op, value, scope),
            Filter::ValuePath { attr, filter } => {
                if scope.is_some() {
                    return Err(ScimError::invalid_filter("value filters '[…]' cannot nest"));
                }
                self.value_path(attr, filter)
            }
        }
    }

    /// Resolves a leaf path in its scope to (column reference, mapping).
    fn column(
        &self,
        path: &AttrPath,
        scope: Option<Scope<'_>>,
    ) -> Result<(String, &'a AttrMapping), ScimError> {
        match scope {
            None => {
                let m = self.resolve(path).ok_or_else(|| Self::unknown(path))?;
                let col = match m.multi {
                    Some(_) => format!("m.{}", m.column),
                    None => m.column.to_string(),
                };
                Ok((col, m))
            }
            Some(s) => {
                let full = sub_path(s.parent, path);
                let m = self
                    .resolve_exact(&full)
                    .ok_or_else(|| Self::unknown(&full))?;
                if m.multi != s.multi {
                    return Err(ScimError::invalid_filter(format!(
                        "'{}' is not stored with the other values of '{}'",
                        echo(&full.to_string()),
                        echo(&s.parent.to_string())
                    )));
                }
                let col = match m.multi {
                    Some(_) => format!("m.{}", m.column),
                    None => m.column.to_string(),
                };
                Ok((col, m))
            }
        }
    }

    fn exists(multi: &MultiMapping, cond: Option<&str>) -> String {
        match cond {
            Some(c) => format!(
                "EXISTS (SELECT 1 FROM {} m WHERE m.{} = {} AND {c})",
                multi.table, multi.fk, multi.parent_key
            ),
            None => format!(
                "EXISTS (SELECT 1 FROM {} m WHERE m.{} = {})",
                multi.table, multi.fk, multi.parent_key
            ),
        }
    }

    fn present(&mut self, path: &AttrPath, scope: Option<Scope<'_>>) -> Result<String, ScimError> {
        if scope.is_none() && path.sub_attr.is_none() {
            // `emails pr`: any row in the side table.
            let multi = match self.resolve(path) {
                Some(m) => m.multi,
                None => self.multi_under(path),
            };
            if let Some(multi) = multi {
                return Ok(Self::exists(&multi, None));
            }
        }
        let (col, m) = self.column(path, scope)?;
        let cond = match m.kind {
            AttrKind::String { .. } | AttrKind::Reference => {
                format!("({col} IS NOT NULL AND {col} <> '')")
            }
            _ => format!("{col} IS NOT NULL"),
        };
        Ok(self.wrap_multi(m, scope, cond))
    }

    /// Wraps a top-level condition on a side-table column in its `EXISTS`.
    fn wrap_multi(&self, m: &AttrMapping, scope: Option<Scope<'_>>, cond: String) -> String {
        match (scope, &m.multi) {
            (None, Some(multi)) => Self::exists(multi, Some(&cond)),
            _ => cond,
        }
    }

    fn value_path(&mut self, attr: &AttrPath, inner: &Filter) -> Result<String, ScimError> {
        // All leaves must live in the same place: one side table, or the parent row.
        let mut leaves = Vec::new();
        collect_leaves(inner, &mut leaves);
        let mut multi: Option<Option<MultiMapping>> = None;
        for leaf in leaves {
            if leaf.urn.is_some() || leaf.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside '{}[…]' name a sub-attribute without prefix or '.', found '{}'",
                    echo(&attr.to_string()),
                    echo(&leaf.to_string())
                )));
            }
            let full = sub_path(attr, leaf);
            let m = self
                .resolve_exact(&full)
                .ok_or_else(|| Self::unknown(&full))?;
            match multi {
                None => multi = Some(m.multi),
                Some(prev) if prev != m.multi => {
                    return Err(ScimError::invalid_filter(format!(
                        "the sub-attributes in '{}[…]' are not stored together",
                        echo(&attr.to_string())
                    )))
                }
                Some(_) => {}
            }
        }
        let multi = multi.flatten();
        let scope = Scope {
            parent: attr,
            multi,
        };
        let cond = self.filter(inner, Some(scope))?;
        Ok(match multi {
            Some(multi) => Self::exists(&multi, Some(&cond)),
            None => format!("({cond})"),
        })
    }

    fn comparison(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: Option<Scope<'_>>,
    ) -> Result<String, ScimError> {
        let (col, m) = self.column(path, scope)?;
        let cond = self.condition(&col, m.kind, op, value, path)?;
        Ok(self.wrap_multi(m, scope, cond))
    }

    fn condition(
        &mut self,
        col: &str,
        kind: AttrKind,
        op: CompareOp,
        value: &CompValue,
        path: &AttrPath,
    ) -> Result<String, ScimError> {
        let name = || echo(&path.to_string());
        if *value == CompValue::Null {
            return match op {
                CompareOp::Eq => Ok(format!("{col} IS NULL")),
                CompareOp::Ne => Ok(format!("{col} IS NOT NULL")),
                _ => Err(ScimError::invalid_filter(format!(
                    "'{op}' cannot compare '{}' with null; use eq, ne or pr",
                    name()
                ))),
            };
        }
        let not_for = |what: &str| {
            ScimError::invalid_filter(format!(
                "operator '{op}' is not defined for {what} attribute '{}'",
                name()
            ))
        };
        let wrong_type = |what: &str| {
            ScimError::invalid_filter(format!("'{}' is {what}; compared with {value}", name()))
        };
        match kind {
            AttrKind::String { .. } | AttrKind::Reference => {
                let case_exact = match kind {
                    AttrKind::String { case_exact } => case_exact,
                    _ => true,
                };
                let CompValue::Str(s) = value else {
                    return Err(wrong_type("a string attribute and needs a JSON string"));
                };
                Ok(self.string_condition(col, case_exact, op, s))
            }
            AttrKind::Boolean => {
                let CompValue::Bool(b) = value else {
                    return Err(wrong_type("a boolean attribute and needs true or false"));
                };
                match op {
                    CompareOp::Eq | CompareOp::Ne => {
                        let p = self.bind(SqlValue::Bool(*b));
                        Ok(Self::ordered(col, op, &p))
                    }
                    _ => Err(not_for("boolean")),
                }
            }
            AttrKind::Integer => {
                let v = match value {
                    CompValue::Int(i) => SqlValue::Int(*i),
                    CompValue::Float(x) => SqlValue::Float(*x),
                    _ => return Err(wrong_type("a number attribute and needs a JSON number")),
                };
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(not_for("integer"));
                }
                let p = self.bind(v);
                Ok(Self::ordered(col, op, &p))
            }
            AttrKind::DateTime => {
                let CompValue::Str(s) = value else {
                    return Err(wrong_type(
                        "a date-time attribute and needs an RFC 3339 string",
                    ));
                };
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(not_for("date-time"));
                }
                let Some(dt) = DateTime::parse(s) else {
                    return Err(ScimError::invalid_filter(format!(
                        "'{}' needs an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\", got {}",
                        name(),
                        echo(&format!("{value}"))
                    )));
                };
                match self.dialect {
                    Dialect::Postgres => {
                        let n = self.bind(SqlValue::Text(s.clone()));
                        Ok(Self::ordered(col, op, &format!("CAST({n} AS timestamptz)")))
                    }
                    Dialect::Sqlite => {
                        // Both sides normalised by SQLite itself, so any
                        // RFC 3339 spelling in the column ("Z" or "+00:00",
                        // any fraction) compares correctly (to the millisecond).
                        let n = self.bind(SqlValue::Text(dt.to_utc_micros()));
                        let norm = |x: &str| format!("strftime('%Y-%m-%dT%H:%M:%f', {x})");
                        Ok(Self::ordered(&norm(col), op, &norm(&n)))
                    }
                }
            }
        }
    }

    /// `col <op> rhs` for eq/ne/gt/ge/lt/le; `ne` also matches NULL.
    fn ordered(col: &str, op: CompareOp, rhs: &str) -> String {
        match op {
            CompareOp::Ne => format!("({col} IS NULL OR {col} <> {rhs})"),
            _ => format!("{col} {} {rhs}", sql_op(op)),
        }
    }

    fn string_condition(&mut self, col: &str, case_exact: bool, op: CompareOp, s: &str) -> String {
        match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                let (pre, post) = match op {
                    CompareOp::Co => (true, true),
                    CompareOp::Sw => (false, true),
                    _ => (true, false),
                };
                if !case_exact {
                    let lowered = match self.dialect {
                        Dialect::Sqlite => s.to_ascii_lowercase(),
                        Dialect::Postgres => s.to_lowercase(),
                    };
                    let p = self.bind(SqlValue::Text(like_pattern(&lowered, pre, post)));
                    format!("LOWER({col}) LIKE {p} ESCAPE '\\'")
                } else if self.dialect == Dialect::Sqlite {
                    let p = self.bind(SqlValue::Text(glob_pattern(s, pre, post)));
                    format!("{col} GLOB {p}")
                } else {
                    let p = self.bind(SqlValue::Text(like_pattern(s, pre, post)));
                    format!("{col} LIKE {p} ESCAPE '\\'")
                }
            }
            _ => {
                let p = self.bind(SqlValue::Text(s.to_string()));
                if case_exact {
                    Self::ordered(col, op, &p)
                } else {
                    let lhs = format!("LOWER({col})");
                    match op {
                        CompareOp::Ne => format!("({col} IS NULL OR {lhs} <> LOWER({p}))"),
                        _ => format!("{lhs} {} LOWER({p})", sql_op(op)),
                    }
                }
            }
        }
    }
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Pattern operators are rendered by `string_condition`.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "LIKE",
    }
}

/// `parent.sub` for a sub-attribute named inside `parent[…]`.
fn sub_path(parent: &AttrPath, leaf: &AttrPath) -> AttrPath {
    AttrPath {
        urn: parent.urn.clone(),
        name: parent.name.clone(),
        sub_attr: Some(leaf.name.clone()),
    }
}

fn collect_leaves<'f>(f: &'f Filter, out: &mut Vec<&'f AttrPath>) {
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) => out.push(path),
        Filter::And(l, r) | Filter::Or(l, r) => {
            collect_leaves(l, out);
            collect_leaves(r, out);
        }
        Filter::Not(inner) => collect_leaves(inner, out),
        Filter::ValuePath { attr, .. } => out.push(attr),
    }
}

/// A `LIKE` pattern matching `s` literally, with `%` added before and/or after.
fn like_pattern(s: &str, pre: bool, post: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if pre {
        out.push('%');
    }
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    if post {
        out.push('%');
    }
    out
}

/// A SQLite `GLOB` pattern matching `s` literally, with `*` added before and/or after.
fn glob_pattern(s: &str, pre: bool, post: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if pre {
        out.push('*');
    }
    for c in s.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            _ => out.push(c),
        }
    }
    if post {
        out.push('*');
    }
    out
}

/// An RFC 3339 date-time, validated field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    /// Fraction digits as written (possibly empty).
    frac: String,
    /// Offset from UTC in minutes.
    offset_min: i64,
}

impl DateTime {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (`T`/`Z` in either case).
    fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |from: usize, len: usize| -> Option<i64> {
            let part = b.get(from..from + len)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            part.iter()
                .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
        };
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        let year = num(0, 4)?;
        let month = num(5, 2)?;
        let day = num(8, 2)?;
        let hour = num(11, 2)?;
        let minute = num(14, 2)?;
        let second = num(17, 2)?;
        if !(at(4, b'-')
            && at(7, b'-')
            && (at(10, b'T') || at(10, b't'))
            && at(13, b':')
            && at(16, b':'))
        {
            return None;
        }
        let mut i = 19;
        let mut frac = String::new();
        if at(i, b'.') {
            i += 1;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                frac.push(char::from(*d));
                i += 1;
            }
            if frac.is_empty() {
                return None;
            }
        }
        let offset_min = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b':') => {
                let oh = num(i + 1, 2)?;
                let om = num(i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let m = oh * 60 + om;
                if *sign == b'-' {
                    -m
                } else {
                    m
                }
            }
            _ => return None,
        };
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 60;
        valid.then_some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            frac,
            offset_min,
        })
    }

    /// The same instant in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    fn to_utc_micros(&self) -> String {
        let days = days_from_civil(self.year, self.month, self.day);
        let minutes = days * 1440 + self.hour * 60 + self.minute - self.offset_min;
        let (days, min_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
        let (y, m, d) = civil_from_days(days);
        let mut frac: String = self.frac.chars().take(6).collect();
        while frac.len() < 6 {
            frac.push('0');
        }
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac}Z",
            min_of_day / 60,
            min_of_day % 60,
            self.second
        )
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date for days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;
    use crate::ScimType;

    type TestResult = Result<(), ScimError>;

    const EMAILS: MultiMapping = MultiMapping {
        table: "scim_user_emails",
        fk: "user_id",
        parent_key: "u.id",
    };
    const MEMBERS: MultiMapping = MultiMapping {
        table: "scim_group_members",
        fk: "group_id",
        parent_key: "g.id",
    };
    const CI: AttrKind = AttrKind::String { case_exact: false };
    const CE: AttrKind = AttrKind::String { case_exact: true };

    const fn single(path: &'static str, column: &'static str, kind: AttrKind) -> AttrMapping {
        AttrMapping {
            path,
            column,
            kind,
            multi: None,
        }
    }

    const fn multi(
        path: &'static str,
        column: &'static str,
        kind: AttrKind,
        m: MultiMapping,
    ) -> AttrMapping {
        AttrMapping {
            path,
            column,
            kind,
            multi: Some(m),
        }
    }

    const USER: &[AttrMapping] = &[
        single("id", "u.id", AttrKind::Reference),
        single("username", "u.user_name", CI),
        single("externalid", "u.external_id", CE),
        single("displayname", "u.display_name", CI),
        single("active", "u.active", AttrKind::Boolean),
        single("name.familyname", "u.family_name", CI),
        single("meta.lastmodified", "u.updated_at", AttrKind::DateTime),
        single("x-logins", "u.logins", AttrKind::Integer),
        single(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department",
            "u.department",
            CI,
        ),
        single(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value",
            "u.manager_id",
            AttrKind::Reference,
        ),
        multi("emails.value", "value", CI, EMAILS),
        multi("emails.type", "type", CI, EMAILS),
        multi("emails.primary", "primary_", AttrKind::Boolean, EMAILS),
    ];

    const GROUP: &[AttrMapping] = &[
        single("displayname", "g.display_name", CI),
        multi("members.value", "value", AttrKind::Reference, MEMBERS),
        multi("members.type", "type", CI, MEMBERS),
        multi("members.display", "display", CI, MEMBERS),
    ];

    fn t(filter: &str, dialect: Dialect) -> Result<(String, Vec<SqlValue>), ScimError> {
        to_sql(&parse_filter(filter)?, USER, dialect, 1)
    }

    fn text(s: &str) -> SqlValue {
        SqlValue::Text(s.to_string())
    }

    fn assert_sql(filter: &str, dialect: Dialect, sql: &str, binds: &[SqlValue]) -> TestResult {
        let (got, got_binds) = t(filter, dialect)?;
        assert_eq!(got, sql, "{filter}");
        assert_eq!(got_binds, binds, "{filter}");
        Ok(())
    }

    fn assert_invalid(filter: &str, needle: &str) {
        let r = t(filter, Dialect::Postgres);
        match r {
            Err(e) => {
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{filter}: {e}");
                assert!(
                    e.detail.contains(needle),
                    "{filter}: {:?} lacks {needle:?}",
                    e.detail
                );
            }
            Ok(ok) => panic!("{filter} translated to {ok:?}"),
        }
    }

    /// Each operator on a case-insensitive string renders its SQL and bind.
    #[test]
    fn sql_string_ci_each_operator_exact_sql() -> TestResult {
        let pg = Dialect::Postgres;
        let cases: [(&str, &str, &str); 10] = [
            (
                "userName eq \"BJensen\"",
                "LOWER(u.user_name) = LOWER($1)",
                "BJensen",
            ),
            (
                "userName ne \"BJensen\"",
                "(u.user_name IS NULL OR LOWER(u.user_name) <> LOWER($1))",
                "BJensen",
            ),
            (
                "userName co \"Jen\"",
                "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
                "%jen%",
            ),
            (
                "userName sw \"Jen\"",
                "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
                "jen%",
            ),
            (
                "userName ew \"Jen\"",
                "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
                "%jen",
            ),
            ("userName gt \"m\"", "LOWER(u.user_name) > LOWER($1)", "m"),
            ("userName ge \"m\"", "LOWER(u.user_name) >= LOWER($1)", "m"),
            ("userName lt \"m\"", "LOWER(u.user_name) < LOWER($1)", "m"),
            ("userName le \"m\"", "LOWER(u.user_name) <= LOWER($1)", "m"),
            ("USERNAME Eq \"x\"", "LOWER(u.user_name) = LOWER($1)", "x"),
        ];
        for (filter, sql, bind) in cases {
            assert_sql(filter, pg, sql, &[text(bind)])?;
        }
        assert_sql(
            "userName pr",
            pg,
            "(u.user_name IS NOT NULL AND u.user_name <> '')",
            &[],
        )
    }

    /// Case-exact strings compare directly; patterns use LIKE (Postgres) or GLOB (SQLite).
    #[test]
    fn sql_string_case_exact_like_or_glob() -> TestResult {
        assert_sql(
            "externalId eq \"AbC\"",
            Dialect::Sqlite,
            "u.external_id = $1",
            &[text("AbC")],
        )?;
        assert_sql(
            "externalId ne \"AbC\"",
            Dialect::Sqlite,
            "(u.external_id IS NULL OR u.external_id <> $1)",
            &[text("AbC")],
        )?;
        assert_sql(
            "externalId co \"A_b%\"",
            Dialect::Postgres,
            "u.external_id LIKE $1 ESCAPE '\\'",
            &[text("%A\\_b\\%%")],
        )?;
        assert_sql(
            "externalId sw \"a*?[b]\"",
            Dialect::Sqlite,
            "u.external_id GLOB $1",
            &[text("a[*][?][[]b]*")],
        )?;
        assert_sql(
            "id ew \"Z\"",
            Dialect::Sqlite,
            "u.id GLOB $1",
            &[text("*Z")],
        )
    }

    /// LIKE metacharacters in the value are escaped, never interpreted.
    #[test]
    fn sql_like_metacharacters_escaped() -> TestResult {
        assert_sql(
            r#"userName co "50%_off\\now""#,
            Dialect::Sqlite,
            "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
            &[text("%50\\%\\_off\\\\now%")],
        )
    }

    /// Lower-casing of pattern binds follows each database's LOWER.
    #[test]
    fn sql_like_lowercase_per_dialect() -> TestResult {
        assert_sql(
            "userName sw \"ÉMILE\"",
            Dialect::Sqlite,
            "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
            &[text("Émile%")],
        )?;
        assert_sql(
            "userName sw \"ÉMILE\"",
            Dialect::Postgres,
            "LOWER(u.user_name) LIKE $1 ESCAPE '\\'",
            &[text("émile%")],
        )
    }

    /// Injection-shaped text only ever lands in the binds.
    #[test]
    fn sql_injection_text_only_in_binds() -> TestResult {
        let nasty = "x' OR 1=1 --";
        let (sql, binds) = t(&format!("userName eq \"{nasty}\""), Dialect::Sqlite)?;
        assert_eq!(sql, "LOWER(u.user_name) = LOWER($1)");
        assert_eq!(binds, vec![text(nasty)]);
        let (sql, binds) = t(
            r#"emails[value co "'; DROP TABLE users; --"] or displayName sw "\")--""#,
            Dialect::Postgres,
        )?;
        assert!(
            !sql.contains("DROP") && !sql.contains("--") && !sql.contains('"'),
            "{sql}"
        );
        assert_eq!(binds.len(), 2);
        Ok(())
    }

    /// Booleans take eq/ne with a boolean bind and refuse ordering operators.
    #[test]
    fn sql_boolean_eq_ne_only() -> TestResult {
        assert_sql(
            "active eq true",
            Dialect::Sqlite,
            "u.active = $1",
            &[SqlValue::Bool(true)],
        )?;
        assert_sql(
            "active ne false",
            Dialect::Postgres,
            "(u.active IS NULL OR u.active <> $1)",
            &[SqlValue::Bool(false)],
        )?;
        assert_sql("active pr", Dialect::Postgres, "u.active IS NOT NULL", &[])?;
        assert_invalid("active gt true", "not defined for boolean");
        assert_invalid("active co true", "not defined for boolean");
        assert_invalid("active eq \"true\"", "needs true or false");
        Ok(())
    }

    /// Integers take numbers and refuse substring operators.
    #[test]
    fn sql_integer_orders_and_refuses_patterns() -> TestResult {
        assert_sql(
            "x-logins ge 3",
            Dialect::Sqlite,
            "u.logins >= $1",
            &[SqlValue::Int(3)],
        )?;
        assert_sql(
            "x-logins lt 2.5",
            Dialect::Sqlite,
            "u.logins < $1",
            &[SqlValue::Float(2.5)],
        )?;
        assert_invalid("x-logins co 3", "not defined for integer");
        assert_invalid("x-logins eq \"3\"", "needs a JSON number");
        Ok(())
    }

    /// Date-times cast on Postgres and compare normalised UTC text on SQLite.
    #[test]
    fn sql_datetime_cast_or_normalised_text() -> TestResult {
        assert_sql(
            "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
            Dialect::Postgres,
            "u.updated_at > CAST($1 AS timestamptz)",
            &[text("2011-05-13T04:42:34Z")],
        )?;
        assert_sql(
            "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
            Dialect::Sqlite,
            "strftime('%Y-%m-%dT%H:%M:%f', u.updated_at) > strftime('%Y-%m-%dT%H:%M:%f', $1)",
            &[text("2011-05-13T04:42:34.000000Z")],
        )?;
        assert_sql(
            "meta.lastModified le \"2024-03-01T01:30:00.1234567+02:00\"",
            Dialect::Sqlite,
            "strftime('%Y-%m-%dT%H:%M:%f', u.updated_at) <= strftime('%Y-%m-%dT%H:%M:%f', $1)",
            &[text("2024-02-29T23:30:00.123456Z")],
        )?;
        assert_sql(
            "meta.lastModified ne \"1999-12-31t23:59:59-00:30\"",
            Dialect::Sqlite,
            "(strftime('%Y-%m-%dT%H:%M:%f', u.updated_at) IS NULL OR strftime('%Y-%m-%dT%H:%M:%f', u.updated_at) <> strftime('%Y-%m-%dT%H:%M:%f', $1))",
            &[text("2000-01-01T00:29:59.000000Z")],
        )?;
        for bad in [
            "2011-05-13",
            "2011-05-13T04:42:34",
            "2011-13-13T04:42:34Z",
            "2023-02-29T00:00:00Z",
            "2011-05-13T24:00:00Z",
            "2011-05-13T04:42:34.Z",
            "2011-05-13T04:42:34+2:00",
            "2011-05-13T04:42:34Zjunk",
        ] {
            assert_invalid(&format!("meta.lastModified gt \"{bad}\""), "RFC 3339");
        }
        assert_invalid("meta.lastModified co \"2011\"", "not defined for date-time");
        Ok(())
    }

    /// Null comparisons become IS NULL / IS NOT NULL; other operators refuse null.
    #[test]
    fn sql_null_comparisons_use_is_null() -> TestResult {
        assert_sql(
            "displayName eq null",
            Dialect::Sqlite,
            "u.display_name IS NULL",
            &[],
        )?;
        assert_sql(
            "displayName ne null",
            Dialect::Sqlite,
            "u.display_name IS NOT NULL",
            &[],
        )?;
        assert_invalid("displayName gt null", "with null");
        Ok(())
    }

    /// and/or keep the parsed precedence with explicit parentheses.
    #[test]
    fn sql_logical_precedence_parenthesised() -> TestResult {
        assert_sql(
            "userName eq \"a\" or displayName eq \"b\" and active eq true",
            Dialect::Sqlite,
            "(LOWER(u.user_name) = LOWER($1) OR (LOWER(u.display_name) = LOWER($2) AND u.active = $3))",
            &[text("a"), text("b"), SqlValue::Bool(true)],
        )?;
        assert_sql(
            "(userName eq \"a\" or displayName eq \"b\") and active eq true",
            Dialect::Sqlite,
            "((LOWER(u.user_name) = LOWER($1) OR LOWER(u.display_name) = LOWER($2)) AND u.active = $3)",
            &[text("a"), text("b"), SqlValue::Bool(true)],
        )
    }

    /// not wraps its operand so NULL counts as "not matching".
    #[test]
    fn sql_not_coalesces_null() -> TestResult {
        assert_sql(
            "not (userName eq \"a\")",
            Dialect::Postgres,
            "NOT COALESCE((LOWER(u.user_name) = LOWER($1)), FALSE)",
            &[text("a")],
        )
    }

    /// Placeholders start at first_param and count up without reuse.
    #[test]
    fn sql_first_param_offsets_placeholders() -> TestResult {
        let f = parse_filter("userName eq \"a\" and active eq true")?;
        let (sql, binds) = to_sql(&f, USER, Dialect::Postgres, 3)?;
        assert_eq!(sql, "(LOWER(u.user_name) = LOWER($3) AND u.active = $4)");
        assert_eq!(binds.len(), 2);
        let (sql, _) = to_sql(&f, USER, Dialect::Postgres, 0)?;
        assert!(sql.contains("$1") && sql.contains("$2"));
        Ok(())
    }

    /// Sub-attributes of a multi-valued attribute become an EXISTS on the side table.
    #[test]
    fn sql_multi_valued_compare_uses_exists() -> TestResult {
        assert_sql(
            "emails.value co \"@example.com\"",
            Dialect::Sqlite,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND LOWER(m.value) LIKE $1 ESCAPE '\\')",
            &[text("%@example.com%")],
        )?;
        // `emails` alone means `emails.value`.
        assert_sql(
            "emails eq \"b@x.example\"",
            Dialect::Sqlite,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND LOWER(m.value) = LOWER($1))",
            &[text("b@x.example")],
        )?;
        assert_sql(
            "emails.primary eq true",
            Dialect::Postgres,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND m.primary_ = $1)",
            &[SqlValue::Bool(true)],
        )
    }

    /// `emails pr` is a bare EXISTS; `emails.value pr` also checks the column.
    #[test]
    fn sql_multi_valued_present_exists() -> TestResult {
        assert_sql(
            "emails pr",
            Dialect::Sqlite,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id)",
            &[],
        )?;
        assert_sql(
            "emails.type pr",
            Dialect::Sqlite,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND (m.type IS NOT NULL AND m.type <> ''))",
            &[],
        )
    }

    /// A value path is one EXISTS whose conditions hold on the same row.
    #[test]
    fn sql_value_path_single_exists_same_row() -> TestResult {
        assert_sql(
            "emails[type eq \"work\" and value co \"@x\"]",
            Dialect::Postgres,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND (LOWER(m.type) = LOWER($1) AND LOWER(m.value) LIKE $2 ESCAPE '\\'))",
            &[text("work"), text("%@x%")],
        )?;
        assert_sql(
            "emails[not (type eq \"home\") or primary eq true]",
            Dialect::Sqlite,
            "EXISTS (SELECT 1 FROM scim_user_emails m WHERE m.user_id = u.id AND (NOT COALESCE((LOWER(m.type) = LOWER($1)), FALSE) OR m.primary_ = $2))",
            &[text("home"), SqlValue::Bool(true)],
        )
    }

    /// A value path on a single-valued complex attribute stays on the parent row.
    #[test]
    fn sql_value_path_complex_single_no_exists() -> TestResult {
        assert_sql(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"m1\"]",
            Dialect::Sqlite,
            "(u.manager_id = $1)",
            &[text("m1")],
        )
    }

    /// Group members filter on the member side table.
    #[test]
    fn sql_group_members_value_eq_exists() -> TestResult {
        let f = parse_filter("members[value eq \"2819c223\"] and displayName sw \"Eng\"")?;
        let (sql, binds) = to_sql(&f, GROUP, Dialect::Postgres, 1)?;
        assert_eq!(
            sql,
            "(EXISTS (SELECT 1 FROM scim_group_members m WHERE m.group_id = g.id AND m.value = $1) AND LOWER(g.display_name) LIKE $2 ESCAPE '\\')"
        );
        assert_eq!(binds, vec![text("2819c223"), text("eng%")]);
        Ok(())
    }

    /// URN-qualified, core-qualified and short extension names all resolve.
    #[test]
    fn sql_urn_paths_resolve() -> TestResult {
        let want = "LOWER(u.department) = LOWER($1)";
        for f in [
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"R&D\"",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq \"R&D\"",
            "department eq \"R&D\"",
        ] {
            assert_sql(f, Dialect::Sqlite, want, &[text("R&D")])?;
        }
        assert_sql(
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"a\"",
            Dialect::Sqlite,
            "LOWER(u.user_name) = LOWER($1)",
            &[text("a")],
        )?;
        assert_sql(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"m1\"",
            Dialect::Sqlite,
            "u.manager_id = $1",
            &[text("m1")],
        )
    }

    /// Unknown attributes and wrong scopes are invalidFilter naming the attribute.
    #[test]
    fn sql_unknown_attribute_invalid_filter() {
        assert_invalid("nickName eq \"x\"", "unknown attribute 'nickName'");
        assert_invalid(
            "urn:example:custom:User:department eq \"x\"",
            "unknown attribute 'urn:example:custom:User:department'",
        );
        assert_invalid("emails[nope eq \"x\"]", "unknown attribute 'emails.nope'");
        assert_invalid("name pr", "unknown attribute 'name'");
        assert_invalid("userName eq 1", "needs a JSON string");
    }

    /// A value path mixing side-table and parent-row columns is refused.
    #[test]
    fn sql_value_path_mixed_storage_invalid() {
        const MIXED: &[AttrMapping] = &[
            multi("emails.value", "value", CI, EMAILS),
            single("emails.type", "u.email_type", CI),
        ];
        let Ok(f) = parse_filter("emails[value eq \"a\" and type eq \"b\"]") else {
            panic!("filter should parse")
        };
        let r = to_sql(&f, MIXED, Dialect::Sqlite, 1);
        assert!(matches!(r, Err(e) if e.detail.contains("not stored together")));
    }

    /// Placeholder count always equals the number of binds, for a mixed filter.
    #[test]
    fn sql_placeholders_match_binds_count() -> TestResult {
        let (sql, binds) = t(
            "userName sw \"a\" or (emails[type eq \"work\" and value ew \".org\"] and not (active eq false)) or meta.lastModified ge \"2020-01-01T00:00:00Z\" or x-logins gt 1",
            Dialect::Sqlite,
        )?;
        let placeholders = sql.matches('$').count();
        assert_eq!(placeholders, binds.len());
        for i in 1..=binds.len() {
            assert_eq!(sql.matches(&format!("${i}")).count(), 1, "{sql}");
        }
        Ok(())
    }

    /// sortBy maps to a column, lower-cased for case-insensitive strings.
    #[test]
    fn sql_order_by_maps_known_refuses_unknown() -> TestResult {
        assert_eq!(
            order_by_sql("userName", SortOrder::Descending, USER)?,
            "LOWER(u.user_name) DESC"
        );
        assert_eq!(
            order_by_sql("meta.lastModified", SortOrder::Ascending, USER)?,
            "u.updated_at ASC"
        );
        for bad in ["nickName", "emails.value", "a b"] {
            let r = order_by_sql(bad, SortOrder::Ascending, USER);
            assert!(
                matches!(&r, Err(e) if e.scim_type == Some(ScimType::InvalidValue)),
                "{bad}: {r:?}"
            );
        }
        Ok(())
    }

    /// UTC normalisation crosses day, month and year boundaries correctly.
    #[test]
    fn sql_datetime_normalise_crosses_boundaries() {
        let cases = [
            ("2024-01-01T00:15:00+01:00", "2023-12-31T23:15:00.000000Z"),
            ("2023-02-28T23:00:00-01:00", "2023-03-01T00:00:00.000000Z"),
            ("2024-02-28T23:00:00-01:00", "2024-02-29T00:00:00.000000Z"),
            ("1970-01-01T00:00:00.5Z", "1970-01-01T00:00:00.500000Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:60.000000Z"),
        ];
        for (input, want) in cases {
            let Some(dt) = DateTime::parse(input) else {
                panic!("{input} should parse")
            };
            assert_eq!(dt.to_utc_micros(), want, "{input}");
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// civil_from_days inverts days_from_civil across a wide range.
            #[test]
            fn sql_civil_days_round_trip(days in -800_000i64..800_000) {
                let (y, m, d) = civil_from_days(days);
                prop_assert_eq!(days_from_civil(y, m, d), days);
            }

            /// Any string value is bound, never spliced into the SQL.
            #[test]
            fn sql_string_values_never_in_sql(v in any::<String>(), op in 0usize..9) {
                let ops = [
                    CompareOp::Eq, CompareOp::Ne, CompareOp::Co, CompareOp::Sw, CompareOp::Ew,
                    CompareOp::Gt, CompareOp::Ge, CompareOp::Lt, CompareOp::Le,
                ];
                let filter = Filter::compare("userName", ops[op], CompValue::Str(v));
                let (sql, binds) = to_sql(&filter, USER, Dialect::Postgres, 1)
                    .map_err(|e| TestCaseError::fail(e.detail))?;
                prop_assert_eq!(binds.len(), 1);
                let rest = sql
                    .replace("u.user_name", "")
                    .replace("LOWER", "")
                    .replace("IS NULL OR", "")
                    .replace("ESCAPE '\\'", "")
                    .replace("LIKE", "");
                prop_assert!(rest.chars().all(|c| " ()$1=<>".contains(c)), "{}", sql);
            }
        }
    }
}
