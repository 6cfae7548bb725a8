//! API keys: the service accounts that drive the admin REST API.

use crate::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

id_type!(
    /// An API key (`key_…`); never the secret itself.
    ApiKeyId
);

/// Whether a key can still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

impl ApiKeyStatus {
    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyStatus::Active => "active",
            ApiKeyStatus::Expired => "expired",
            ApiKeyStatus::Revoked => "revoked",
        }
    }
}

/// An API key as listed (Settings → API keys, `GET /api/v1/admin/api-keys`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeySummary {
    pub id: ApiKeyId,
    pub name: String,
    /// `admin` or `auditor`: keys are never owners.
    pub role: Role,
    pub status: ApiKeyStatus,
    /// The secret's last four characters, to tell keys apart.
    pub hint: String,
    /// Who created it (an email, or `cli`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What creating a key needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInput {
    /// 1 to 100 characters, unique among active keys (case-insensitive).
    pub name: String,
    /// `admin` or `auditor`.
    pub role: String,
    /// Days until it stops working (1 to 3,650); none: until revoked.
    #[serde(default)]
    pub expires_days: Option<i64>,
}

/// A key just created: the only time its secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApiKey {
    pub key: ApiKeySummary,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &self.key)
            .field("secret", &"…")
            .finish()
    }
}
