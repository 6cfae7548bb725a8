//! OAuth clients of MCP users as the console shows them (the Clients page).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One client of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSummary {
    /// The `client_id` (`cli_…`, or the metadata document URL for CIMD).
    pub id: String,
    /// `preregistered`, `dcr` or `cimd`.
    pub kind: String,
    /// Untrusted unless pre-registered (self-asserted by the client).
    pub name: String,
    /// `active`, `pending`, `blocked` or `reaped`.
    pub status: String,
    /// Why it was blocked, if an admin said.
    pub status_reason: Option<String>,
    /// The host of a CIMD URL (who publishes the client).
    pub publisher_domain: Option<String>,
    /// The hosts (or app schemes) its redirect URIs send codes to.
    pub redirect_hosts: Vec<String>,
    /// Whether it authenticates with a secret (confidential).
    pub confidential: bool,
    pub software_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    /// People who consented to it (any server).
    pub consents: i64,
    /// Grants not revoked (live refresh-token families).
    pub live_grants: i64,
    /// Token requests this replica refused since it started because the
    /// client was past its issuance limit.
    pub limit_hits: u64,
}

/// The console-wide client policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientPolicy {
    /// Dynamic client registration (RFC 7591) is on.
    pub registration_enabled: bool,
    /// New clients wait for an admin's approval.
    pub approval_required: bool,
    /// Registered clients unused this many days are removed (0: never).
    pub reap_after_days: i64,
}

/// How often one abuse limit refused a request (this replica, since it
/// started; `/metrics` has the same as `oauth_limit_hits_total`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitHits {
    /// `registration`, `failed_token_requests` or `client_issuance`.
    pub limit: String,
    pub hits: u64,
}

/// Registrations of the same app (same name, redirect URIs with loopback
/// ports left out, software id), shown as one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DuplicateGroup {
    /// The group's key (what "Revoke all" names).
    pub key: String,
    pub name: String,
    pub software_id: Option<String>,
    /// Redirect hosts of one of them.
    pub redirect_hosts: Vec<String>,
    /// Live (active or waiting) registrations in the group.
    pub clients: i64,
    /// Their live grants together.
    pub live_grants: i64,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The Clients page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientsView {
    pub clients: Vec<ClientSummary>,
    /// Clients matching the filter (all pages).
    pub total: i64,
    /// Clients waiting for approval (whatever the filter).
    pub pending: i64,
    pub policy: ClientPolicy,
    /// Groups of duplicate registrations, largest first.
    pub duplicates: Vec<DuplicateGroup>,
    pub limit_hits: Vec<LimitHits>,
}

/// A catalog server as OAuth sees it (the server page's OAuth card).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerOAuth {
    /// Scopes clients may ask for at this server (besides `offline_access`).
    pub scopes: Vec<String>,
    /// Its RFC 9728 protected-resource metadata, served by Portcullis.
    pub metadata_url: String,
    /// The authorization server (the console's issuer).
    pub issuer: String,
}
