//! Gateways and the policy API as the console shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A server a gateway fronts (id and name, for display).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewayServer {
    pub id: String,
    pub name: String,
}

/// Where a gateway stands against the current policy revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GatewayState {
    /// Never fetched the policy.
    Never,
    /// Enforces the current revision.
    Current,
    /// Enforces an older revision (see `lag`).
    Behind,
    /// Reported an error in its last status report.
    Error,
    /// Has not polled for longer than the stale threshold.
    Stale,
    /// Its credential was revoked.
    Revoked,
}

impl GatewayState {
    /// Label shown in the console.
    pub fn label(self) -> &'static str {
        match self {
            GatewayState::Never => "Never connected",
            GatewayState::Current => "Up to date",
            GatewayState::Behind => "Behind",
            GatewayState::Error => "Error",
            GatewayState::Stale => "Not polling",
            GatewayState::Revoked => "Revoked",
        }
    }
}

/// A gateway as listed on the Gateways page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewaySummary {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Last four characters of the credential.
    pub token_hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Servers it fronts (empty: not said).
    pub servers: Vec<GatewayServer>,
    /// When the policy API last answered it.
    pub last_poll_at: Option<DateTime<Utc>>,
    /// The revision the policy API last sent or confirmed to it.
    pub served_revision: Option<i64>,
    /// The revision it says it enforces (status report).
    pub active_revision: Option<i64>,
    pub reported_at: Option<DateTime<Utc>>,
    /// Its last successful fetch, by its own clock.
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Software and version it reported.
    pub software: Option<String>,
    /// Revisions behind the current one (`None` until it reports or polls).
    pub lag: Option<i64>,
    pub state: GatewayState,
}

/// The Gateways page: every gateway against the current revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewaysView {
    pub current_revision: i64,
    /// When the current revision was made.
    pub current_revision_at: Option<DateTime<Utc>>,
    pub gateways: Vec<GatewaySummary>,
    /// Gateways (not revoked) enforcing the current revision.
    pub up_to_date: i64,
    /// Gateways not revoked.
    pub active: i64,
    pub keys: Vec<SigningKeySummary>,
}

/// Input for registering a gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewayInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Ids (or slugs) of the MCP servers it fronts.
    #[serde(default)]
    pub server_ids: Vec<String>,
}

/// A new gateway with its credential (shown once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GatewayCreated {
    pub id: String,
    pub name: String,
    pub token: String,
}

/// A policy signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKeySummary {
    pub kid: String,
    pub alg: String,
    /// `active` or `retired`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    /// Still listed in `/.well-known/jwks.json`.
    pub published: bool,
}
