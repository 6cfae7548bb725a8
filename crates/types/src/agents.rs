//! Agents: headless workloads (a nightly triage bot, a CI job) that are
//! principals of their own, with credentials for the token endpoint's
//! `client_credentials` grant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

id_type!(
    /// An agent (`agt_…`): also its OAuth `client_id` and the `sub` of its
    /// access tokens.
    AgentId
);

/// Whether an agent can get tokens and call tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Active,
    /// Its kill switch is on: no tokens, denied in the bundle.
    Disabled,
    /// Past its expiry: no tokens.
    Expired,
}

impl AgentStatus {
    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Disabled => "disabled",
            AgentStatus::Expired => "expired",
        }
    }
}

/// How an agent authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentCredentialKind {
    /// A client secret (HTTP Basic or form), shown once.
    ClientSecret,
    /// `private_key_jwt` (RFC 7523) with keys registered inline.
    Jwks,
    /// `private_key_jwt` with keys fetched from an https URL.
    JwksUri,
}

/// The person or group answerable for an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentOwner {
    /// `user` or `group`.
    pub kind: String,
    pub id: String,
    /// The person's email or the group's name; the id when it is gone.
    pub display: String,
}

/// An agent as listed (Agents page, `GET /api/v1/admin/agents`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentSummary {
    pub id: AgentId,
    pub name: String,
    pub description: String,
    pub owner: AgentOwner,
    pub status: AgentStatus,
    /// Why an admin disabled it.
    pub status_reason: Option<String>,
    pub credential: AgentCredentialKind,
    /// The https URL its keys are fetched from (`jwks_uri` credential).
    pub jwks_uri: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When it last got a token.
    pub last_token_at: Option<DateTime<Utc>>,
}

/// What registering an agent needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentInput {
    /// 1 to 100 characters, unique among agents (case-insensitive).
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: String,
    /// `user` or `group`.
    pub owner_kind: String,
    /// The owning person's or group's id.
    pub owner_id: String,
    /// `client_secret`, `jwks` or `jwks_uri`.
    pub credential: String,
    /// The public keys (a JWKS document), for `jwks`.
    #[serde(default)]
    pub jwks: Option<String>,
    /// An https URL serving the public keys, for `jwks_uri`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Days until it stops getting tokens (1 to 3,650); none: no expiry.
    #[serde(default)]
    pub expires_days: Option<i64>,
}

/// An agent just registered, or its secret just rotated: the only time
/// the secret is shown (`None` for key-based agents).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAgentCredential {
    pub agent: AgentSummary,
    /// Use with the agent's id as `client_id` (HTTP Basic).
    pub client_secret: Option<String>,
}

impl fmt::Debug for NewAgentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAgentCredential")
            .field("agent", &self.agent)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What delegating to an agent needs: for whom (`user` with a person's
/// id, `group` with a group's id, or `everyone`) and on which server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DelegationInput {
    /// `user`, `group` or `everyone`.
    pub subject_kind: String,
    /// The person's or group's id; none for `everyone`.
    #[serde(default)]
    pub subject_id: Option<String>,
    pub server_id: String,
    /// Why (kept with the delegation and in the audit log).
    #[serde(default)]
    pub reason: String,
}

/// A delegation: the agent may act for these people on this server, when
/// one of them hands it their token (RFC 8693 token exchange) and only
/// within what both may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DelegationSummary {
    pub id: String,
    pub agent_id: AgentId,
    /// `user`, `group` or `everyone`.
    pub subject_kind: String,
    pub subject_id: Option<String>,
    /// The person's email, the group's name, or "Everyone".
    pub subject_display: String,
    pub server_id: String,
    pub server_name: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}
