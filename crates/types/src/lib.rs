//! Ids and data-transfer objects shared by the Portcullis server and the
//! browser build of the console.
//!
//! Everything here compiles to `wasm32-unknown-unknown`: no I/O, no
//! server-only dependency. Read models are named `*Summary` / `*Detail`;
//! queries `*Query`; pages of results [`Page`].

pub mod access;
pub mod clients;
pub mod gateway_api;
pub mod gateways;
pub mod sso;
pub use access::*;
pub use clients::*;
pub use gateways::*;
pub use sso::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a string-backed id newtype with `Display`, `as_str` and serde as a
/// plain string.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as stored and shown.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                Self(s.clone())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

// Declared after `id_type!` so the module can use it.
pub mod apikeys;
pub use apikeys::*;
pub mod agents;
pub use agents::*;
pub mod audit_sinks;
pub use audit_sinks::*;

id_type!(
    /// A console user (an admin, owner or auditor of Portcullis itself).
    ConsoleUserId
);

id_type!(
    /// A SCIM directory (one identity provider's provisioning endpoint).
    DirectoryId
);

id_type!(
    /// A bearer token of a SCIM directory.
    ScimTokenId
);

id_type!(
    /// A person provisioned by a directory (a SCIM User's `id`).
    PersonId
);

id_type!(
    /// A group provisioned by a directory (a SCIM Group's `id`).
    GroupId
);

id_type!(
    /// An MCP server of the catalog.
    ServerId
);

id_type!(
    /// An MCP server named by its id or its slug (URLs and the CLI take either).
    ServerRef
);

id_type!(
    /// A tool of an MCP server.
    ToolId
);

id_type!(
    /// A tool named by its MCP name, unique within its server (what the
    /// policy, the simulator and `tools/call` name a tool by).
    ToolName
);

id_type!(
    /// A grant of access to a server or tool.
    GrantId
);

id_type!(
    /// A gateway that polls the policy API.
    GatewayId
);

id_type!(
    /// An SSO connection (OIDC or SAML).
    SsoConnectionId
);

id_type!(
    /// An SSO connection named by its slug, as in its sign-in, callback,
    /// ACS and metadata URLs.
    SsoSlug
);

id_type!(
    /// A test run of an SSO connection ("Test connection"), whose result
    /// only the admin who ran it may read.
    SsoTestId
);

id_type!(
    /// An OAuth client of MCP users: a registered id, or the URL of its
    /// metadata document (CIMD).
    ClientId
);

/// A console role. Ordered by power: `Auditor < Admin < Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access to everything an admin can see, including the audit log.
    Auditor,
    /// Manages the directory, catalog, access policy and clients.
    Admin,
    /// Everything an admin can do, plus managing console admins and keys.
    Owner,
}

impl Role {
    /// All roles, most powerful first (for pickers).
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Auditor];

    /// The stable lowercase name used in storage, APIs and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    /// A human label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Auditor => "Auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!(
                "unknown role `{other}` (expected owner, admin or auditor)"
            )),
        }
    }
}

/// Lifecycle state of a console user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConsoleUserStatus {
    /// Invited (or created by `admin create-owner`) but no password set yet.
    Invited,
    /// Can sign in.
    Active,
    /// Cannot sign in; sessions were ended when disabled.
    Disabled,
}

impl ConsoleUserStatus {
    /// The stable lowercase name used in storage and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleUserStatus::Invited => "invited",
            ConsoleUserStatus::Active => "active",
            ConsoleUserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for ConsoleUserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "invited" => Ok(Self::Invited),
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(format!("unknown status `{other}`")),
        }
    }
}

/// The signed-in console user, as the UI shows it in the top bar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: ConsoleUserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

/// A console admin as listed on Settings → Admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminSummary {
    pub id: ConsoleUserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: ConsoleUserStatus,
    pub created_at: DateTime<Utc>,
    pub last_signin_at: Option<DateTime<Utc>>,
    pub active_sessions: i64,
}

/// A one-time link: the set-up link of a new owner or an invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OneTimeLink {
    pub user_id: ConsoleUserId,
    pub email: String,
    /// Path and query, e.g. `/setup?token=…`; prefix with the public URL.
    pub path: String,
    pub expires_at: DateTime<Utc>,
}

/// What a one-time link is for, shown on the set-up page before it is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkInfo {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// `owner_setup` or `invite`.
    pub purpose: String,
}

/// One page of a list, with the total count of matching rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

impl<T> Page<T> {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        self.offset + (self.items.len() as i64) < self.total
    }
}

/// Who did something, as recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A signed-in console user.
    ConsoleUser,
    /// Someone not (yet) signed in, e.g. a failed sign-in.
    Anonymous,
    /// Portcullis itself or its CLI run by an operator on the host.
    System,
    /// A SCIM directory pushing changes.
    Directory,
    /// A gateway reporting status or decisions.
    Gateway,
    /// A person of a directory acting for themselves on the OAuth pages
    /// (My access), never in the console.
    Person,
    /// An API key calling the admin REST API.
    ApiKey,
}

impl ActorType {
    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::ConsoleUser => "console_user",
            ActorType::Anonymous => "anonymous",
            ActorType::System => "system",
            ActorType::Directory => "directory",
            ActorType::Gateway => "gateway",
            ActorType::Person => "person",
            ActorType::ApiKey => "api_key",
        }
    }
}

impl FromStr for ActorType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "console_user" => Self::ConsoleUser,
            "anonymous" => Self::Anonymous,
            "system" => Self::System,
            "directory" => Self::Directory,
            "gateway" => Self::Gateway,
            "person" => Self::Person,
            "api_key" => Self::ApiKey,
            other => return Err(format!("unknown actor type `{other}`")),
        })
    }
}

/// Whether the audited attempt succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "success" => Self::Success,
            "failure" => Self::Failure,
            "denied" => Self::Denied,
            other => return Err(format!("unknown outcome `{other}`")),
        })
    }
}

/// One audit event as listed in the Audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventSummary {
    pub seq: i64,
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub actor_display: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_display: Option<String>,
    pub outcome: Outcome,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub hash: String,
    /// When retention blanked this event's content (a gateway decision
    /// older than its retention period): only its seq, id, time, action
    /// and hashes remain.
    #[serde(default)]
    pub redacted_at: Option<DateTime<Utc>>,
    /// The erasure that replaced this event's personal data with a
    /// pseudonym ([`AuditErasure`]), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_id: Option<String>,
    /// What is masked (shown as [`MASKED_VALUE`]): keys of `details`, and
    /// `actor` for an anonymous caller's typed name; an owner may reveal
    /// them, which is audited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// What a masked detail value reads as until an owner reveals it.
pub const MASKED_VALUE: &str = "•••• masked";

/// An erasure of a person's personal data from the audit log: their
/// names, email addresses and source addresses in every event are replaced
/// by `pseudonym`; ids stay, so their events still read as one person's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditErasure {
    pub id: String,
    pub person_id: String,
    pub pseudonym: String,
    /// Events rewritten.
    pub events: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub erased_at: DateTime<Utc>,
    /// The `audit.erased` event that records it.
    pub event_id: String,
}

/// An owner's reveal of one event's masked details (recorded as
/// `audit.revealed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditReveal {
    /// The event revealed.
    pub id: String,
    /// Its actor's name as recorded (what an anonymous caller typed).
    pub actor_display: String,
    /// Its details with the masked values shown.
    pub details: serde_json::Value,
    /// The keys that were masked.
    pub revealed: Vec<String>,
}

/// Filters for the audit log list. Empty strings mean "no filter".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditQuery {
    /// Action name or prefix (`console.signin` matches `console.signin.failed`).
    #[serde(default)]
    pub action: String,
    /// Matches the actor's display name or id (substring, case-insensitive).
    #[serde(default)]
    pub actor: String,
    /// Inclusive lower bound.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Matches the target's id exactly or its display name (substring,
    /// case-insensitive).
    #[serde(default)]
    pub target: String,
    /// Only events with this outcome.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Source address, exact or as a prefix (`10.1.` matches `10.1.4.7`).
    #[serde(default)]
    pub source: String,
    /// Free text (case-insensitive) anywhere in the action, actor, target
    /// or details.
    #[serde(default)]
    pub text: String,
    /// Keyset page: only events older than this sequence number.
    #[serde(default)]
    pub before: Option<i64>,
    /// Keyset page: only events newer than this sequence number.
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub limit: i64,
}

impl AuditQuery {
    /// Whether any filter is set (a search, not the plain newest-first
    /// list); paging cursors and the window are not filters.
    pub fn is_search(&self) -> bool {
        !self.filters().is_empty()
    }

    /// The filters set, by their query names, as text (trimmed; the time
    /// range in RFC 3339): what a search records and what an export link
    /// carries. Paging cursors and the window are not filters.
    pub fn filters(&self) -> Vec<(&'static str, String)> {
        let mut set: Vec<(&'static str, String)> = [
            ("text", &self.text),
            ("action", &self.action),
            ("actor", &self.actor),
            ("target", &self.target),
            ("source", &self.source),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_owned()))
        .collect();
        if let Some(o) = self.outcome {
            set.push(("outcome", o.as_str().to_owned()));
        }
        for (k, t) in [("since", self.since), ("until", self.until)] {
            if let Some(t) = t {
                set.push((k, t.to_rfc3339()));
            }
        }
        set
    }
}

/// A keyset page of the audit explorer: events newest first, and the
/// cursors to the pages either side (absent at either end).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSlice {
    pub items: Vec<AuditEventSummary>,
    /// Pass as `before` for the next, older page.
    pub older: Option<i64>,
    /// Pass as `after` for the previous, newer page.
    pub newer: Option<i64>,
}

/// Events over time for the explorer's chart: `counts[i]` events happened
/// in `[since + i·bucket_seconds, since + (i+1)·bucket_seconds)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditTimeline {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_seconds: i64,
    pub counts: Vec<i64>,
    /// Events in the whole range (the sum of `counts`).
    pub total: i64,
}

/// Figures for the Overview page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverviewStats {
    pub admins: i64,
    pub active_sessions: i64,
    pub audit_events: i64,
    pub audit_events_24h: i64,
    pub failed_signins_24h: i64,
    /// Registered MCP servers.
    pub servers: i64,
    /// Tools quarantined (new or changed definition) awaiting review.
    pub tools_awaiting_review: i64,
    pub grants: i64,
    /// The current policy revision (0 before the first).
    pub policy_revision: i64,
    /// Gateways not revoked.
    pub gateways: i64,
    /// Of those, the ones that enforce (or were last sent) the current
    /// revision.
    pub gateways_current: i64,
    /// SSO connections (OIDC or SAML), enabled or not.
    pub sso_connections: i64,
    /// SCIM directories.
    pub directories: i64,
    /// Audit events per day for the last 14 days, oldest first.
    pub events_per_day: Vec<DayCount>,
    pub latest_events: Vec<AuditEventSummary>,
}

/// A count for one calendar day (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayCount {
    pub day: String,
    pub count: i64,
}

/// The result of verifying the audit hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    pub checked: i64,
    pub head_seq: i64,
    /// The first sequence number whose row does not verify, if any.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
    /// Signed checkpoints checked against the chain: the stored ones, and
    /// an exported one when it was given.
    #[serde(default)]
    pub checkpoints_checked: i64,
    /// The sequence number of the newest stored checkpoint, if any.
    #[serde(default)]
    pub latest_checkpoint_seq: Option<i64>,
    /// Events up to this one were purged by retention; the chain is
    /// verified from the signed purge record that names its hash.
    #[serde(default)]
    pub purged_through_seq: Option<i64>,
    /// Events whose content retention blanked (gateway decisions), each
    /// vouched for by a signed purge record.
    #[serde(default)]
    pub redacted: i64,
    /// Events whose personal data an erasure replaced, each vouched for by
    /// a signed erasure record.
    #[serde(default)]
    pub erased: i64,
}

/// Audit retention as configured and as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRetention {
    /// Events older than this many days are purged.
    pub retention_days: i64,
    /// Gateway decisions older than this many days are blanked (at most
    /// `retention_days`).
    pub decision_retention_days: i64,
    /// While a hold is in place nothing is purged or blanked.
    pub legal_hold: Option<AuditLegalHold>,
    /// Events up to this sequence number have been purged.
    pub purged_through_seq: Option<i64>,
    /// Gateway decisions up to this sequence number have been blanked.
    pub redacted_through_seq: Option<i64>,
    /// When the newest purge record was signed.
    pub last_purge_at: Option<DateTime<Utc>>,
    /// The oldest event kept.
    pub oldest_event_at: Option<DateTime<Utc>>,
}

/// A legal hold on the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLegalHold {
    /// Why (a matter or ticket reference).
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    /// Who placed it.
    pub placed_by: String,
}

/// What one run of the retention job did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPurgeOutcome {
    /// A legal hold stopped the run; nothing changed.
    pub held: bool,
    /// Events deleted, and the last of them.
    pub purged: i64,
    pub purged_through_seq: Option<i64>,
    /// Gateway decisions blanked, and the range's end.
    pub redacted: i64,
    pub redacted_through_seq: Option<i64>,
}

/// The schema name of [`AuditRecord`] (event schema v1).
pub const AUDIT_RECORD_SCHEMA: &str = "portcullis.audit/1";

/// An audit event as exported (JSONL, CSV) and streamed to a SIEM: event
/// schema v1, documented in `docs/audit-events.md`. Fields are only ever
/// added within a schema version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// `portcullis.audit/1`.
    pub schema: String,
    /// Position in the hash chain (from 1, no gaps).
    pub seq: i64,
    /// Unique event id (`evt_…`): a SIEM deduplicates on it.
    pub id: String,
    /// When it happened (UTC, microseconds).
    pub time: DateTime<Utc>,
    pub actor: AuditActor,
    /// `area.object.verb`, one of the catalog's actions.
    pub action: String,
    /// What it is about, if anything.
    pub target: Option<AuditTarget>,
    pub outcome: Outcome,
    /// Where the request came from.
    pub source: AuditSource,
    /// The request id (`X-Request-Id`), to find the request in the logs.
    pub request_id: Option<String>,
    /// The policy revision involved: the revision a gateway enforced for a
    /// decision, the one a change produced when the event says so.
    pub policy_revision: Option<i64>,
    /// Action-specific details (never secrets; arguments masked).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// The previous event's hash and this one's (hex SHA-256).
    pub prev_hash: String,
    pub hash: String,
    /// How a SIEM files it (OCSF 1.x).
    pub ocsf: AuditOcsf,
    /// When retention blanked the event's content (actor, target, source
    /// and details); `null` for an intact event.
    #[serde(default)]
    pub redacted_at: Option<DateTime<Utc>>,
    /// The erasure that replaced the event's personal data with a
    /// pseudonym; absent for an event no erasure touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_id: Option<String>,
    /// What is masked in this export: keys of `details`, and `actor` for an
    /// anonymous caller's typed name (`actor.display`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActor {
    /// `console_user` (an admin), `anonymous` (not signed in: a failed
    /// sign-in), `system` (Portcullis itself, its CLI), `directory` (SCIM),
    /// `gateway`, `person` (an employee on the OAuth pages), `api_key`.
    pub kind: String,
    pub id: Option<String>,
    /// Name or email at the time.
    pub display: String,
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditTarget {
    pub kind: String,
    pub id: String,
    pub display: String,
}

/// The request's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSource {
    /// The client's address (behind a trusted proxy, the one it forwarded for).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The OCSF classification of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditOcsf {
    pub class_uid: u32,
    pub class_name: String,
    pub category_uid: u32,
    pub activity_id: u32,
    pub activity_name: String,
    /// `class_uid` × 100 + `activity_id`.
    pub type_uid: u32,
    /// 1 Success, 2 Failure (failures and refusals).
    pub status_id: u32,
}

/// An export's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuditExportFormat {
    /// One JSON [`AuditRecord`] a line.
    Jsonl,
    /// A header row, then one row an event (formula-injection safe).
    Csv,
}

impl FromStr for AuditExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            other => Err(format!("`{other}` is not jsonl or csv")),
        }
    }
}

/// The export format of a signed audit checkpoint.
pub const AUDIT_CHECKPOINT_FORMAT: &str = "portcullis-audit-checkpoint/1";

/// A signed checkpoint of the audit chain as exported (a file from
/// `portcullis audit checkpoint`, the admin API, the witness URL). Only
/// `jws` counts when it is verified; the other fields are copies to read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditCheckpoint {
    /// `portcullis-audit-checkpoint/1`.
    pub format: String,
    /// The chain's last event when the checkpoint was signed.
    pub seq: i64,
    /// That event's hash (hex SHA-256).
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    /// The signing key (purpose `audit`, published in the JWKS).
    pub kid: String,
    /// Compact JWS, `EdDSA`, `typ` `portcullis-audit-checkpoint+jws`, over
    /// `{"seq", "hash", "iat"}`.
    pub jws: String,
    /// The public key (JWK) that verifies `jws`, for a verifier without
    /// the console.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub jwk: serde_json::Value,
}

/// Errors the console UI shows. Stable `code`s; `field` names the offending input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// `field` at fault because of `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A SCIM directory as listed in Settings → Directories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectorySummary {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_request_at: Option<DateTime<Utc>>,
    pub users: i64,
    pub active_users: i64,
    pub groups: i64,
    pub active_tokens: i64,
    /// SCIM requests answered with 4xx/5xx in the last 24 hours.
    pub errors_24h: i64,
}

/// A directory's bearer token (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScimTokenSummary {
    pub id: String,
    /// The last four characters, to tell tokens apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    /// Set while a rotated-out token still works (the overlap period).
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One SCIM request that failed, for debugging an IdP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScimRequestSummary {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

/// A directory with its tokens and recent failed requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryDetail {
    pub summary: DirectorySummary,
    pub tokens: Vec<ScimTokenSummary>,
    pub recent_errors: Vec<ScimRequestSummary>,
    /// The SCIM base URL to paste into the IdP (filled in by the edge).
    #[serde(default)]
    pub base_url: String,
}

/// A newly created SCIM token: shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewScimToken {
    pub directory_id: String,
    pub directory_name: String,
    pub token: String,
    /// The SCIM base URL to paste into the IdP (filled in by the edge).
    pub base_url: String,
}

/// Ascending or descending order of a sorted list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

impl SortDir {
    /// `asc` or `desc`, as used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }

    /// The other direction.
    pub fn flip(self) -> Self {
        match self {
            SortDir::Asc => SortDir::Desc,
            SortDir::Desc => SortDir::Asc,
        }
    }
}

impl FromStr for SortDir {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "asc" => Ok(SortDir::Asc),
            "desc" => Ok(SortDir::Desc),
            other => Err(format!(
                "unknown direction `{other}` (expected asc or desc)"
            )),
        }
    }
}

/// Whether a directory user may be granted access (SCIM `active`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DirectoryUserStatus {
    Active,
    Inactive,
}

impl DirectoryUserStatus {
    /// `active` or `inactive`, as used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryUserStatus::Active => "active",
            DirectoryUserStatus::Inactive => "inactive",
        }
    }
}

impl FromStr for DirectoryUserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            other => Err(format!("unknown status `{other}`")),
        }
    }
}

/// The columns the directory user list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DirectoryUserSort {
    /// SCIM `userName`, case-insensitively.
    #[default]
    UserName,
    /// SCIM `displayName` (the userName when there is none), case-insensitively.
    DisplayName,
    /// The primary email.
    Email,
    /// Last change by the directory.
    Updated,
    /// First provisioned.
    Created,
}

impl DirectoryUserSort {
    /// Every sort key.
    pub const ALL: [DirectoryUserSort; 5] = [
        Self::UserName,
        Self::DisplayName,
        Self::Email,
        Self::Updated,
        Self::Created,
    ];

    /// The name used in URLs and APIs (`userName`, `displayName`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserName => "userName",
            Self::DisplayName => "displayName",
            Self::Email => "email",
            Self::Updated => "updated",
            Self::Created => "created",
        }
    }
}

impl FromStr for DirectoryUserSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown sort `{s}`"))
    }
}

/// Filters, order and page of the directory user list. Empty strings mean
/// "no filter"; a limit of 0 means the default page size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryUserQuery {
    /// Substring of userName, displayName or email (case-insensitive), or
    /// an exact id or externalId.
    #[serde(default)]
    pub search: String,
    /// Only users of this directory.
    #[serde(default)]
    pub directory_id: String,
    #[serde(default)]
    pub status: Option<DirectoryUserStatus>,
    #[serde(default)]
    pub sort: DirectoryUserSort,
    #[serde(default)]
    pub dir: SortDir,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub limit: i64,
}

/// A person provisioned by a directory, as listed on Directory → Users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryUserSummary {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub user_name: String,
    pub display_name: Option<String>,
    /// The primary email (lower case).
    pub email: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One email address of a directory user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryEmail {
    pub value: String,
    /// `work`, `home`, … as the IdP sent it.
    pub kind: Option<String>,
    pub primary: bool,
}

/// A group, named, as shown next to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryGroupRef {
    pub id: String,
    pub display_name: String,
}

/// The enterprise extension's `manager` of a directory user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryManager {
    /// `manager.value` as the IdP sent it (normally the manager's SCIM id).
    pub value: String,
    /// The (not deleted) user of the same directory that `value` names, by
    /// id, externalId or userName, if any.
    pub user_id: Option<String>,
    /// That user's name, else `manager.displayName` as sent.
    pub display_name: Option<String>,
}

/// A person provisioned by a directory, with everything the detail page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryUserDetail {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<DirectoryEmail>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the directory deleted the user (kept for history).
    pub deleted_at: Option<DateTime<Utc>>,
    /// SCIM core `title`.
    pub title: Option<String>,
    /// Enterprise extension (RFC 7643 §4.3) `department`.
    pub department: Option<String>,
    /// Enterprise extension `organization`.
    pub organization: Option<String>,
    /// Enterprise extension `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise extension `manager`.
    pub manager: Option<DirectoryManager>,
    /// The resource as the directory sent it (never containing a password).
    pub resource: serde_json::Value,
    pub groups: Vec<DirectoryGroupRef>,
    /// Audit events about this user, newest first (at most 50).
    pub history: Vec<AuditEventSummary>,
}

/// The columns the directory group list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DirectoryGroupSort {
    /// SCIM `displayName`, case-insensitively.
    #[default]
    Name,
    /// Number of provisioned members.
    Members,
    /// Last change by the directory.
    Updated,
}

impl DirectoryGroupSort {
    /// Every sort key.
    pub const ALL: [DirectoryGroupSort; 3] = [Self::Name, Self::Members, Self::Updated];

    /// The name used in URLs and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Members => "members",
            Self::Updated => "updated",
        }
    }
}

impl FromStr for DirectoryGroupSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown sort `{s}`"))
    }
}

/// Filters, order and page of the directory group list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryGroupQuery {
    /// Substring of displayName (case-insensitive), or an exact id or externalId.
    #[serde(default)]
    pub search: String,
    /// Only groups of this directory.
    #[serde(default)]
    pub directory_id: String,
    #[serde(default)]
    pub sort: DirectoryGroupSort,
    #[serde(default)]
    pub dir: SortDir,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub limit: i64,
}

/// A group provisioned by a directory, as listed on Directory → Groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryGroupSummary {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Members that are (not deleted) users of the same directory.
    pub members: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A member of a group. `provisioned` is false when the IdP listed an id
/// that is not a user of the directory (it grants nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryGroupMember {
    /// The member id the IdP sent (a user id when provisioned).
    pub id: String,
    pub provisioned: bool,
    pub user_name: Option<String>,
    /// The user's displayName, or the `display` the IdP sent for the member.
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
}

/// A group with a page of its members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryGroupDetail {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Members that are users of the directory.
    pub provisioned_members: i64,
    /// All members, provisioned first, by userName; `total` counts every
    /// member the IdP listed.
    pub members: Page<DirectoryGroupMember>,
    /// Audit events about this group, newest first (at most 50).
    pub history: Vec<AuditEventSummary>,
}
