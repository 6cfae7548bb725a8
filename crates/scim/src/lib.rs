//! SCIM 2.0 protocol pieces for Portcullis (RFC 7643 core schema, RFC 7644
//! protocol), pure and without I/O: the server supplies HTTP, storage and
//! authentication, this crate supplies the rules.
//!
//! | module | owns | RFC |
//! |---|---|---|
//! | [`error`] | [`ScimError`], [`ScimType`], the error body | RFC 7644 §3.12 |
//! | [`filter`] | the filter grammar: parser, AST, canonical text | RFC 7644 §3.4.2.2 |
//! | [`sql`] | filter → parameterised SQL (`$N` + binds), `sortBy` → `ORDER BY` | RFC 7644 §3.4.2.2, §3.4.2.3 |
//! | [`path`] | PATCH paths `attr[filter].sub` | RFC 7644 §3.5.2 |
//! | [`patch`] | PATCH parsing (Okta/Entra dialects), apply, group member changes | RFC 7644 §3.5.2.1–3 |
//! | [`list`] | list/search parameters, attribute projection, ListResponse | RFC 7644 §3.4.2, §3.4.3 |
//!
//! Crate-wide invariants:
//! - Nothing here panics on client input, and every parser is bounded
//!   (filter length, depth and size; PATCH operation count).
//! - Every failure is a [`ScimError`] whose status and `scimType` follow
//!   RFC 7644 §3.12 and can be sent to the client as is.
//! - Client values never reach SQL text: [`sql::to_sql`] emits placeholders
//!   and a bind list only; identifiers come from the caller's static mapping.

pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod sql;

pub use error::{ScimError, ScimType};
pub use filter::{parse_filter, AttrPath, CompValue, CompareOp, Filter};
pub use list::{list_response, project, ListParams, SortOrder};
pub use patch::{
    apply, member_changes, parse_patch, parse_patch_bytes, MemberChanges, PatchOp, PatchOpKind,
    PatchRules,
};
pub use path::PatchPath;
pub use sql::{order_by_sql, to_sql, AttrKind, AttrMapping, Dialect, MultiMapping, SqlValue};

/// The core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The PATCH request message (RFC 7644 §3.5.2).
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The list response message (RFC 7644 §3.4.2).
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The `POST /.search` request message (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The error response message (RFC 7644 §3.12).
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
