//! The directories area's values and rules without storage: name and page
//! checks, token hints, stored rows as the console sees them, and what the
//! user detail page reads from a stored SCIM resource.

use super::store::{GroupListRow, MemberRow, RequestRow, SummaryRow, TokenRow, UserListRow};
use crate::audit::MAX_PAGE;
use crate::error::{Error, Result};
use portcullis_types::{
    DirectoryGroupMember, DirectoryGroupSummary, DirectoryManager, DirectorySummary,
    DirectoryUserSummary, ScimRequestSummary, ScimTokenSummary,
};
use serde_json::Value;

/// A checked directory name (trimmed).
pub(super) fn check_name(name: &str) -> Result<String> {
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

/// `(limit, offset)` of a list call: 0 or less means `default`, at most
/// [`MAX_PAGE`]; a negative offset is 0.
pub(super) fn page_bounds(limit: i64, offset: i64, default: i64) -> (i64, i64) {
    let limit = if limit <= 0 {
        default
    } else {
        limit.min(MAX_PAGE)
    };
    (limit, offset.max(0))
}

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

/// What a user's detail page shows from the stored SCIM resource beyond
/// its columns (the core `title` and the enterprise extension).
pub(super) struct Profile {
    pub title: Option<String>,
    pub department: Option<String>,
    pub organization: Option<String>,
    pub employee_number: Option<String>,
    /// The manager as sent: its value (an id, externalId or userName) and
    /// the display name sent with it.
    pub manager: Option<(String, Option<String>)>,
}

impl Profile {
    pub(super) fn of(resource: &Value) -> Self {
        let enterprise = get_ci(resource, portcullis_scim::ENTERPRISE_USER_SCHEMA);
        let ext = |key: &str| str_of(enterprise.and_then(|e| get_ci(e, key)));
        let manager = match enterprise.and_then(|e| get_ci(e, "manager")) {
            Some(m @ Value::Object(_)) => {
                str_of(get_ci(m, "value")).map(|v| (v, str_of(get_ci(m, "displayName"))))
            }
            m => str_of(m).map(|v| (v, None)),
        };
        Profile {
            title: str_of(get_ci(resource, "title")),
            department: ext("department"),
            organization: ext("organization"),
            employee_number: ext("employeeNumber"),
            manager,
        }
    }
}

/// The manager a user's resource names: the directory's user `known`
/// `(id, userName, displayName)` when there is one, else as sent.
pub(super) fn manager(
    value: String,
    sent_name: Option<String>,
    known: Option<(String, String, Option<String>)>,
) -> DirectoryManager {
    match known {
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
    }
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

impl From<TokenRow> for ScimTokenSummary {
    fn from(t: TokenRow) -> Self {
        ScimTokenSummary {
            id: t.id,
            hint: t.hint,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

impl From<RequestRow> for ScimRequestSummary {
    fn from(r: RequestRow) -> Self {
        ScimRequestSummary {
            at: r.at,
            method: r.method,
            path: r.path,
            status: r.status,
            scim_type: r.scim_type,
            detail: r.detail,
        }
    }
}

impl From<UserListRow> for DirectoryUserSummary {
    fn from(r: UserListRow) -> Self {
        DirectoryUserSummary {
            id: r.id,
            directory_id: r.directory_id,
            directory_name: r.directory_name,
            user_name: r.user_name,
            display_name: r.display_name,
            email: r.email,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<GroupListRow> for DirectoryGroupSummary {
    fn from(r: GroupListRow) -> Self {
        DirectoryGroupSummary {
            id: r.id,
            directory_id: r.directory_id,
            directory_name: r.directory_name,
            display_name: r.display_name,
            external_id: r.external_id,
            members: r.members,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<MemberRow> for DirectoryGroupMember {
    fn from(m: MemberRow) -> Self {
        DirectoryGroupMember {
            id: m.id,
            provisioned: m.provisioned,
            user_name: m.user_name,
            display_name: m.display_name,
            email: m.email,
            active: m.active,
        }
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
}
