//! Catalog (MCP servers and tools) and access policy (grants, revisions,
//! simulator) read models and inputs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Tool annotations as hints: `None` where the server (or the admin's
/// override) said nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolHints {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

/// The annotations the policy uses: hints with overrides applied and MCP's
/// defaults for what neither says (not read-only, destructive, not
/// idempotent, open-world). A read-only tool is never destructive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveAnnotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl ToolHints {
    /// `self` with every flag `over` sets replaced.
    pub fn overridden_by(&self, over: &ToolHints) -> ToolHints {
        ToolHints {
            read_only: over.read_only.or(self.read_only),
            destructive: over.destructive.or(self.destructive),
            idempotent: over.idempotent.or(self.idempotent),
            open_world: over.open_world.or(self.open_world),
        }
    }

    /// The effective flags with MCP's defaults.
    pub fn effective(&self) -> EffectiveAnnotations {
        let read_only = self.read_only.unwrap_or(false);
        EffectiveAnnotations {
            read_only,
            destructive: !read_only && self.destructive.unwrap_or(true),
            idempotent: self.idempotent.unwrap_or(false),
            open_world: self.open_world.unwrap_or(true),
        }
    }
}

/// Where a tool stands in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Approved: grants apply.
    Active,
    /// New or changed since approval: denied to everyone until reviewed.
    Quarantined,
    /// No longer offered by the server: denied.
    Removed,
}

impl ToolStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Active => "active",
            ToolStatus::Quarantined => "quarantined",
            ToolStatus::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ToolStatus::Active),
            "quarantined" => Some(ToolStatus::Quarantined),
            "removed" => Some(ToolStatus::Removed),
            _ => None,
        }
    }
}

/// An MCP server as listed in Catalog → Servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub resource_url: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub tools: i64,
    pub quarantined: i64,
    pub grants: i64,
    pub discovered_at: Option<DateTime<Utc>>,
    pub discovery_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Input for registering or editing an MCP server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerInput {
    pub name: String,
    pub slug: String,
    pub resource_url: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    /// Comma-separated.
    #[serde(default)]
    pub tags: String,
}

/// A tool as listed on a server page or in Catalog → Tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolSummary {
    pub id: String,
    pub server_id: String,
    pub server_slug: String,
    pub server_name: String,
    pub name: String,
    pub title: Option<String>,
    /// Untrusted text from the server: show as text only.
    pub description: String,
    pub hints: ToolHints,
    pub overrides: ToolHints,
    pub effective: EffectiveAnnotations,
    pub status: ToolStatus,
    /// `new` or `changed` while quarantined.
    pub quarantine_reason: Option<String>,
    /// `discovered` or `manual`.
    pub source: String,
    pub definition_hash: String,
    pub last_seen_at: DateTime<Utc>,
    /// Principals who may call it at the current revision (server page only).
    pub callers: Option<i64>,
}

/// A tool with its definitions, for review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolDetail {
    pub tool: ToolSummary,
    /// The approved definition, pretty-printed canonical JSON.
    pub definition: String,
    /// The changed definition awaiting review, if any.
    pub pending_definition: Option<String>,
    pub pending_hash: Option<String>,
    /// Line diff approved → pending (`+`/`-`/` ` prefixed lines).
    pub diff: Vec<DiffLine>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
}

/// One line of a text diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `+`, `-` or ` `.
    pub op: char,
    pub text: String,
}

/// Input for a tool entered by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualToolInput {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments; empty means `{"type":"object"}`.
    #[serde(default)]
    pub input_schema: String,
    #[serde(default)]
    pub hints: ToolHints,
}

/// What a discovery run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscoveryReport {
    pub found: i64,
    pub added: i64,
    pub unchanged: i64,
    /// Tools now quarantined (new or changed definition), by name.
    pub quarantined: Vec<String>,
    pub removed: Vec<String>,
    pub revision: Option<i64>,
}

/// Who a grant applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantSubject {
    User {
        id: String,
    },
    Group {
        id: String,
    },
    /// Every person in the directory; never an agent.
    Everyone,
    /// An agent (`agt_…`): only grants naming it reach it.
    Agent {
        id: String,
    },
}

/// Which tools of the server a grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantTarget {
    Server,
    Tools {
        names: Vec<String>,
    },
    /// `read_only`, `destructive`, `idempotent` or `open_world`.
    Annotation {
        annotation: String,
    },
}

/// Input for a new grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantInput {
    pub subject: GrantSubject,
    pub server_id: String,
    pub target: GrantTarget,
    /// `allow` or `deny`.
    pub effect: String,
    #[serde(default)]
    pub include_destructive: bool,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: String,
}

/// Changes to a grant's expiry and reason (who and what it covers do not
/// change: revoke and grant again). A field left out stays as it is;
/// `"expires_at": null` removes the expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantUpdate {
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The tools of a grant that names tools (it keeps naming tools; a
    /// grant of a whole server or by annotation is revoked and re-created
    /// to change what it covers).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
}

/// A field that is present (`null` included) as `Some`, so `None` means
/// "left out".
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A grant as listed in Access → Grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantSummary {
    pub id: String,
    pub subject: GrantSubject,
    /// The user's email or the group's name; "Everyone".
    pub subject_display: String,
    pub server_id: String,
    pub server_name: String,
    pub target: GrantTarget,
    pub effect: String,
    pub include_destructive: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Filters for the grant list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub subject_id: Option<String>,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub limit: i64,
}

/// A policy revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionSummary {
    pub number: i64,
    pub created_at: DateTime<Utc>,
    pub actor_display: String,
    /// `grants`, `catalog`, `directory` or `rollback`.
    pub source: String,
    pub summary: String,
}

/// How a principal matched a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchedVia {
    Direct,
    Group { id: String, name: String },
    Everyone,
}

/// A person who may call a tool now, and how the deciding grant reached
/// them (Who can call, on a tool's page and in the admin API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCaller {
    /// The directory person's id.
    pub id: String,
    pub email: String,
    /// How the deciding grant reached them.
    pub via: MatchedVia,
    /// The grant that decided it.
    pub grant_id: String,
}

/// A rule that matched a simulated call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchedRule {
    pub grant_id: String,
    pub effect: String,
    pub via: MatchedVia,
    /// Matched, but expired at the simulated time: did not apply.
    pub expired: bool,
    /// This rule decided the answer.
    pub deciding: bool,
}

/// The answer to "can U call tool T on server S (at revision R)?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimulationResult {
    pub revision: i64,
    pub allowed: bool,
    /// Machine code of the reason (`allowed`, `denied_by_rule`, `no_grant`,
    /// `unknown_principal`, `inactive_principal`, `unknown_server`,
    /// `server_disabled`, `unknown_tool`, `quarantined`).
    pub reason: String,
    /// The reason in words.
    pub explanation: String,
    pub rules: Vec<MatchedRule>,
}

/// One tool a user can or cannot call, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserToolAccess {
    pub server_id: String,
    pub server_name: String,
    pub tool: String,
    pub effective: EffectiveAnnotations,
    pub allowed: bool,
    pub reason: String,
    /// How the deciding rule reached the user.
    pub via: Option<MatchedVia>,
    pub grant_id: Option<String>,
}

/// A server's access matrix: groups × tools, each cell the share of the
/// group's active members allowed to call the tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessMatrix {
    pub revision: i64,
    pub tools: Vec<String>,
    pub groups: Vec<MatrixRow>,
    /// Agents that may call a tool of the server, by name: `group_id` is
    /// the agent's id, `group_name` its name, `members` 1, and `allowed`
    /// 1 or 0 per tool.
    #[serde(default)]
    pub agents: Vec<MatrixRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixRow {
    pub group_id: String,
    pub group_name: String,
    pub members: i64,
    /// Allowed members per tool, in `AccessMatrix::tools` order.
    pub allowed: Vec<i64>,
}

/// What changed between two revisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    pub grants_added: Vec<GrantSummary>,
    pub grants_removed: Vec<GrantSummary>,
    /// `(email, server slug, tool)` that became callable.
    pub access_added: Vec<AccessChange>,
    pub access_removed: Vec<AccessChange>,
    /// The access lists stop at this many entries each.
    pub truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessChange {
    pub principal_id: String,
    pub email: String,
    pub server: String,
    pub tool: String,
}

/// "May this agent call this tool for this person?" (a delegated call):
/// the verdict of all three checks, and the agent's own answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DelegatedSimulation {
    pub allowed: bool,
    /// `allowed`, `person_denied`, `agent_denied` or `not_delegated`.
    pub reason: String,
    /// The verdict in words.
    pub explanation: String,
    /// Whether a delegation covers the person on this server.
    pub delegated: bool,
    /// The agent's own decision (its grants).
    pub agent: SimulationResult,
}
