//! The policy bundle, format v1: the JSON document the console publishes for
//! each policy revision and gateways enforce.
//!
//! This is a public, versioned contract (see `docs/policy-bundle.md`). Fields
//! are only ever added in a backwards-compatible way within v1; anything else
//! bumps [`FORMAT_V1`]. Field order is fixed by the struct order here and every
//! list is sorted by the console, so the same revision always serialises to
//! the same bytes.

use serde::{Deserialize, Serialize};

/// The value of [`Bundle::format`] for this version of the contract.
pub const FORMAT_V1: &str = "portcullis.policy/v1";

/// One policy revision: the catalog, the principals and the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`FORMAT_V1`] for this version.
    pub format: String,
    /// The policy revision; only ever grows.
    pub revision: u64,
    /// When the console made this revision, RFC 3339 UTC.
    pub issued_at: String,
    /// MCP servers with their tools, sorted by `id`.
    pub servers: Vec<Server>,
    /// Groups, sorted by `id`.
    pub groups: Vec<Group>,
    /// People who may use MCP servers (directory users), sorted by `id`.
    pub principals: Vec<Principal>,
    /// Grants, sorted by `id`.
    pub rules: Vec<Rule>,
    /// OAuth clients an admin blocked, sorted by `client_id`: a gateway
    /// refuses their access tokens even while those have not expired.
    /// Added within v1: absent when empty, so a bundle without blocked
    /// clients is byte-for-byte what it was before the field existed, and
    /// readers that do not know the field ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_clients: Vec<BlockedClient>,
    /// Agents (headless workloads with credentials of their own), sorted by
    /// `id`: principals of kind agent, the `sub` of their access tokens.
    /// Added within v1 like `blocked_clients`: absent when empty. A gateway
    /// that predates the field does not know an agent's `sub` and denies
    /// it (unknown principal), which fails closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<Agent>,
    /// The grants whose subject is an agent (and only those), sorted by
    /// `id`. Kept apart from `rules` so that a gateway that predates agents
    /// ignores them (it denies agents anyway) instead of refusing the
    /// whole bundle over a subject kind it cannot read. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_rules: Vec<Rule>,
    /// Which agents may act for whom on which server (delegation, RFC 8693
    /// `act`), sorted by `id`. A delegated call is allowed only when the
    /// person may make it, every agent of the chain may, and each of those
    /// agents holds a delegation from the person for that server
    /// ([`crate::Policy::decide_delegated`]). Added within v1 like
    /// `agent_rules`: absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<Delegation>,
}

/// An agent may act for a person, the people of a group, or everyone, on
/// one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// Stable id (`dlg_…`).
    pub id: String,
    /// The agent that may act (an id of [`Bundle::agents`]).
    pub agent: String,
    /// For whom: `user`, `group` or `everyone`; never `agent` (an agent is
    /// acted for only through the person at the start of the chain).
    pub subject: Subject,
    /// The server it covers (an id of [`Bundle::servers`]).
    pub server: String,
}

impl Bundle {
    /// Parses a bundle from JSON (any whitespace). Does not validate it:
    /// [`crate::Policy::compile`] does.
    pub fn from_json(json: &str) -> Result<Bundle, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The canonical wire form: compact JSON (no whitespace), fields in
    /// declaration order, `expires_at` omitted when absent. With the lists
    /// sorted as documented, the same revision always gives the same bytes.
    pub fn to_canonical_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// Stable id (`srv_…`); rules refer to servers by it.
    pub id: String,
    /// Short unique name used in URLs and logs.
    pub slug: String,
    /// The canonical resource URL OAuth tokens are bound to (RFC 8707); how a
    /// gateway maps the server it fronts to this entry.
    pub resource: String,
    /// `false` when an admin disabled the server: every call is denied.
    pub enabled: bool,
    /// Tools, sorted by `name`.
    pub tools: Vec<Tool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// The MCP tool name, unique within its server.
    pub name: String,
    /// The effective annotations (the server's hints with admin overrides applied).
    pub annotations: Annotations,
    /// `false` while the tool is quarantined (new or changed definition
    /// awaiting review): denied to everyone.
    pub approved: bool,
    /// `sha256:<hex>` of the tool's canonical definition, so a gateway can
    /// refuse a tool whose live definition no longer matches what was approved.
    pub definition_hash: String,
}

/// Tool annotations (MCP `ToolAnnotations`). Untrusted hints from the server,
/// possibly overridden by an admin; they only ever select tools for a rule,
/// they never grant anything by themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// An OAuth client whose tokens gateways refuse (see
/// [`Bundle::blocked_clients`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedClient {
    /// The token's `client_id` claim: a `cli_…` id or, for a client known
    /// by its metadata document (CIMD), that document's https URL.
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Stable id (`grp_…`).
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable id (`usr_…`): the `sub` of the person's OAuth tokens.
    pub id: String,
    /// Primary email, for logs and for gateways that key by email.
    pub email: String,
    /// `false` for a deactivated person: denied everything.
    pub active: bool,
    /// Ids of the groups the person belongs to, sorted.
    pub groups: Vec<String>,
}

/// An agent: a principal that is a workload, not a person. It is in no
/// group and `everyone` rules do not reach it: only rules naming it (subject
/// `agent`) do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// Stable id (`agt_…`): the `sub` of the agent's access tokens.
    pub id: String,
    /// The name an admin gave it, for logs.
    pub name: String,
    /// `false` for a disabled or expired agent (its kill switch): denied
    /// everything.
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    User {
        id: String,
    },
    Group {
        id: String,
    },
    /// Everyone in [`Bundle::principals`] (people); never an agent.
    Everyone,
    /// The agent with this id. Only in [`Bundle::agent_rules`], never in
    /// [`Bundle::rules`] (which readers that predate agents parse).
    Agent {
        id: String,
    },
}

/// Which tools of the rule's server a rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Every tool of the server; tools annotated destructive only when the
    /// rule sets `include_destructive` (an allow) — a deny always covers them.
    Server,
    /// These tools by name.
    Tools { names: Vec<String> },
    /// The server's tools whose effective annotations have this flag set.
    Annotation { annotation: AnnotationFlag },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationFlag {
    ReadOnly,
    Destructive,
    Idempotent,
    OpenWorld,
}

/// A grant. Default deny: nothing is allowed unless an unexpired allow rule
/// covers it, and any unexpired deny rule that covers it wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable id (`grt_…`), reported as the reason of a decision.
    pub id: String,
    pub effect: Effect,
    pub subject: Subject,
    /// Server id the rule is about.
    pub server: String,
    pub target: Target,
    /// For an allow with a `server` or `annotation` target: also cover tools
    /// annotated destructive. Tools named explicitly are always covered.
    #[serde(default)]
    pub include_destructive: bool,
    /// Unix seconds; the rule applies while `now < expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}
