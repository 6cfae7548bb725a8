//! The API keys area's values and rules without storage: what creating a
//! key needs, the secret's form, and a stored row as the caller sees it.

use super::store::KeyRow;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::{ApiKeyId, ApiKeyInput, ApiKeyStatus, ApiKeySummary, FieldError, Role};

/// What every secret starts with, so secret scanners and people can tell
/// a Portcullis API key from other tokens.
pub const SECRET_PREFIX: &str = "pck_";

pub use crate::checks::MAX_EXPIRES_DAYS;

/// A checked `ApiKeyInput`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewKey {
    /// Checks every field at once; `now` dates the expiry.
    pub fn parse(input: &ApiKeyInput, now: DateTime<Utc>) -> Result<Self> {
        let mut errors = Vec::new();
        let name = crate::checks::name(&input.name, &mut errors);
        let role = match input.role.trim() {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            "owner" => {
                errors.push(FieldError::new(
                    "role",
                    "an API key cannot be an owner; use admin or auditor",
                ));
                None
            }
            _ => {
                errors.push(FieldError::new("role", "use admin or auditor"));
                None
            }
        };
        let expires_at = crate::checks::expiry(input.expires_days, now, &mut errors);
        match (errors.is_empty(), role) {
            (true, Some(role)) => Ok(NewKey {
                name,
                role,
                expires_at,
            }),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

/// Whether `secret` has the form of a key (so other bearer tokens skip the
/// lookup).
pub fn looks_like_key(secret: &str) -> bool {
    secret.len() == SECRET_PREFIX.len() + 43 && secret.starts_with(SECRET_PREFIX)
}

/// The stored role, refusing a value this code does not know.
pub(super) fn stored_role(role: &str) -> Result<Role> {
    match role {
        "admin" => Ok(Role::Admin),
        "auditor" => Ok(Role::Auditor),
        other => Err(Error::Internal(format!(
            "api_keys.role: unknown value `{other}`"
        ))),
    }
}

impl KeyRow {
    /// Whether the key works at `now`.
    pub(super) fn status(&self, now: DateTime<Utc>) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
    }

    pub(super) fn into_summary(self, now: DateTime<Utc>) -> Result<ApiKeySummary> {
        Ok(ApiKeySummary {
            status: self.status(now),
            role: stored_role(&self.role)?,
            id: ApiKeyId(self.id),
            name: self.name,
            hint: self.hint,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            last_used_ip: self.last_used_ip,
            revoked_at: self.revoked_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn input(name: &str, role: &str, days: Option<i64>) -> ApiKeyInput {
        ApiKeyInput {
            name: name.to_owned(),
            role: role.to_owned(),
            expires_days: days,
        }
    }

    /// Every fault is named at once; owners and unknown roles are refused.
    #[test]
    fn apikeys_input_checked() {
        let now = Utc::now();
        let Err(Error::Invalid(errors)) = NewKey::parse(&input(" ", "owner", Some(0)), now) else {
            panic!("expected invalid");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "role", "expires_days"]);
        assert!(errors[1].message.contains("cannot be an owner"));
        let ok = NewKey::parse(&input(" terraform ", "auditor", Some(30)), now)
            .unwrap_or_else(|e| panic!("valid input refused: {e}"));
        assert_eq!(ok.name, "terraform");
        assert_eq!(ok.role, Role::Auditor);
        assert_eq!(ok.expires_at, Some(now + Duration::days(30)));
        assert!(NewKey::parse(&input("x", "superuser", None), now).is_err());
    }
}
