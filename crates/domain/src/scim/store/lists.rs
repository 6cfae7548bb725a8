//! SCIM lists: the column mappings that turn a SCIM `filter` and `sortBy`
//! into SQL, and one page of Users or Groups with the total.

use super::{SELECT_GROUP, SELECT_USER};
use crate::db::{count_dyn, fetch_page_dyn, AnyRow, Arg, Exec};
use crate::error::Result;
use portcullis_scim::{
    filter::Filter,
    list::ListParams,
    sql::{self, AttrKind, AttrMapping, Dialect, MultiMapping, SqlValue},
    ScimError,
};

/// A case-exact string, a case-insensitive one.
const EXACT: AttrKind = AttrKind::String { case_exact: true };
const TEXT: AttrKind = AttrKind::String { case_exact: false };

/// A single-valued attribute stored in `column` of the outer query.
const fn column(path: &'static str, column: &'static str, kind: AttrKind) -> AttrMapping {
    AttrMapping {
        path,
        column,
        kind,
        multi: None,
    }
}

/// A sub-attribute of a multi-valued attribute stored in `column` of the
/// side table `multi`.
const fn side(
    path: &'static str,
    column: &'static str,
    kind: AttrKind,
    multi: MultiMapping,
) -> AttrMapping {
    AttrMapping {
        path,
        column,
        kind,
        multi: Some(multi),
    }
}

const USER_EMAILS: MultiMapping = MultiMapping {
    table: "directory_user_emails",
    fk: "user_id",
    parent_key: "u.id",
};

const GROUP_MEMBERS: MultiMapping = MultiMapping {
    table: "directory_group_members",
    fk: "group_id",
    parent_key: "g.id",
};

const USER_ATTRS: &[AttrMapping] = &[
    column("id", "u.id", EXACT),
    column("username", "u.user_name", TEXT),
    column("externalid", "u.external_id", EXACT),
    column("displayname", "u.display_name", TEXT),
    column("name.givenname", "u.given_name", TEXT),
    column("name.familyname", "u.family_name", TEXT),
    column("active", "u.active", AttrKind::Boolean),
    column("meta.created", "u.created_at", AttrKind::DateTime),
    column("meta.lastmodified", "u.updated_at", AttrKind::DateTime),
    side("emails.value", "value", TEXT, USER_EMAILS),
    side("emails.type", "type", TEXT, USER_EMAILS),
    side("emails.primary", "primary_", AttrKind::Boolean, USER_EMAILS),
];

const GROUP_ATTRS: &[AttrMapping] = &[
    column("id", "g.id", EXACT),
    column("displayname", "g.display_name", TEXT),
    column("externalid", "g.external_id", EXACT),
    column("meta.created", "g.created_at", AttrKind::DateTime),
    column("meta.lastmodified", "g.updated_at", AttrKind::DateTime),
    side("members.value", "member_id", EXACT, GROUP_MEMBERS),
];

/// What differs between the Users and the Groups lists.
pub(in crate::scim) struct ListSpec {
    /// Filterable and sortable attributes.
    attrs: &'static [AttrMapping],
    /// The table and its alias.
    from: &'static str,
    /// The rows of the calling directory (bound as `$1`).
    scope: &'static str,
    /// The row query, up to its `FROM`.
    select: &'static str,
    /// The tie-breaker of every order.
    id: &'static str,
    /// The order without `sortBy`.
    default_order: &'static str,
}

pub(in crate::scim) const USER_LIST: ListSpec = ListSpec {
    attrs: USER_ATTRS,
    from: "directory_users u",
    scope: "u.directory_id = $1 AND u.deleted_at IS NULL",
    select: SELECT_USER,
    id: "u.id",
    default_order: "u.created_at, u.id",
};

pub(in crate::scim) const GROUP_LIST: ListSpec = ListSpec {
    attrs: GROUP_ATTRS,
    from: "directory_groups g",
    scope: "g.directory_id = $1",
    select: SELECT_GROUP,
    id: "g.id",
    default_order: "g.created_at, g.id",
};

/// A list's `WHERE` clause (starting with a space) and its binds.
pub(in crate::scim) struct Listing {
    spec: &'static ListSpec,
    filter: String,
    args: Vec<Arg>,
}

fn to_arg(v: SqlValue) -> Arg {
    match v {
        SqlValue::Text(s) => Arg::Text(s),
        SqlValue::Int(i) => Arg::Int(i),
        SqlValue::Float(f) => Arg::Float(f),
        SqlValue::Bool(b) => Arg::Bool(b),
        SqlValue::Null => Arg::Null,
    }
}

/// The rows of `spec` in directory `dir` that pass the SCIM `filter`.
pub(in crate::scim) fn listing(
    spec: &'static ListSpec,
    dir: &str,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> std::result::Result<Listing, ScimError> {
    let (frag, binds) = match filter {
        Some(f) => sql::to_sql(f, spec.attrs, dialect, 2)?,
        None => ("TRUE".to_owned(), Vec::new()),
    };
    let mut args = vec![Arg::Text(dir.to_owned())];
    args.extend(binds.into_iter().map(to_arg));
    Ok(Listing {
        spec,
        filter: format!(" WHERE {} AND {frag}", spec.scope),
        args,
    })
}

/// How many rows pass the listing.
pub(in crate::scim) async fn count(ex: Exec<'_>, l: &Listing) -> Result<i64> {
    Ok(count_dyn(
        ex,
        &format!("SELECT COUNT(*) FROM {}{}", l.spec.from, l.filter),
        &l.args,
    )
    .await?)
}

/// The `ORDER BY` of a list: `sortBy` (then id), or the creation order.
pub(in crate::scim) fn order(
    l: &Listing,
    params: &ListParams,
) -> std::result::Result<String, ScimError> {
    Ok(match &params.sort_by {
        Some(s) => format!(
            "{}, {}",
            sql::order_by_sql(s, params.sort_order, l.spec.attrs)?,
            l.spec.id
        ),
        None => l.spec.default_order.to_owned(),
    })
}

/// One page (`limit` rows from `offset`) of the listing in `order`.
pub(in crate::scim) async fn page<T: AnyRow>(
    ex: Exec<'_>,
    l: Listing,
    order: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<T>> {
    let head = format!("{}{}", l.spec.select, l.filter);
    Ok(fetch_page_dyn(ex, &head, l.args, order, limit, offset).await?)
}
