//! The evaluator: a [`Bundle`] compiled into a [`Policy`] that answers
//! "may this principal call this tool of this server, now?".
//!
//! # Semantics
//!
//! A decision for `(principal, server, tool, now)` — `now` in unix seconds —
//! is made by the first of these steps that applies:
//!
//! 1. the principal id is not in the bundle: **deny**, [`Reason::UnknownPrincipal`];
//! 2. the server id is not in the bundle: **deny**, [`Reason::UnknownServer`];
//! 3. the server has no tool of that name: **deny**, [`Reason::UnknownTool`];
//! 4. the principal is not `active`: **deny**, [`Reason::InactivePrincipal`];
//! 5. the server is not `enabled`: **deny**, [`Reason::ServerDisabled`];
//! 6. the tool is not `approved` (quarantined): **deny**, [`Reason::Quarantined`],
//!    whatever the rules say;
//! 7. an *applicable* deny rule *matches*: **deny**, [`Reason::DeniedByRule`]
//!    (deny wins over any allow);
//! 8. an *applicable* allow rule *matches*: **allow**, [`Reason::Allowed`];
//! 9. otherwise: **deny**, [`Reason::NoGrant`] (default deny).
//!
//! When several rules decide in steps 7 or 8, the reason names the first of
//! them in bundle order (which is id order, since the console sorts rules).
//!
//! A rule is *applicable* at `now` iff it has no `expires_at` or
//! `now < expires_at`: a grant expiring at `e` still allows at `e - 1` and no
//! longer at `e`.
//!
//! A rule *matches* `(principal, tool)` iff its subject matches the principal
//! and its target covers the tool:
//!
//! * subject `user` matches the person (an entry of `principals`) with that
//!   id (directly); `group` matches every person that lists the group in its
//!   `groups`; `everyone` matches every person; `agent` matches the agent
//!   (an entry of `agents`) with that id. An agent is a principal too, but
//!   in no group and not in `everyone`: only `agent` rules reach it. Subjects
//!   naming a user, agent or group that is not in the bundle (or a person's
//!   id in an `agent` subject, and the reverse) match nothing, as do unknown
//!   group ids in a principal's `groups` (all tolerated, not errors).
//! * target `tools` covers the named tools of the rule's server, destructive
//!   or not (naming a tool is explicit). Names the server doesn't have cover
//!   nothing.
//! * target `server` covers every tool of the rule's server, except that an
//!   **allow** covers tools annotated `destructive` only when it sets
//!   `include_destructive`. A **deny** always covers destructive tools.
//! * target `annotation` covers the server's tools whose effective annotation
//!   flag is set, with the same destructive exclusion for allows — except
//!   that an allow whose annotation *is* `destructive` selects destructive
//!   tools explicitly and so covers them.
//!
//! Annotations only ever select tools for a rule; they never grant anything
//! by themselves.
//!
//! # Delegation
//!
//! A call an agent makes for a person (a token whose `act` names the agent,
//! nested `act` for a chain of agents) is decided by
//! [`Policy::decide_delegated`]: allowed only when the chain has 1 to
//! [`MAX_DELEGATION_DEPTH`] agents, the person may make the call
//! ([`Policy::decide`]), every agent of the chain may make it by its own
//! grants, and every agent of the chain holds a delegation
//! ([`Bundle::delegations`]) for that server whose subject matches the
//! person (the person, one of their groups, or everyone). Otherwise denied,
//! with the first check that failed in that order.
//!
//! # Cost
//!
//! [`Policy::compile`] interns principals, groups, servers and tools to dense
//! indexes, resolves every rule's target into the concrete tools it covers,
//! and keeps per tool its deny and allow grants sorted by subject, with a
//! small Bloom filter of those subjects. [`Policy::decide`] then costs three
//! hash lookups and, per subject of the principal (`everyone`, each of its
//! groups, itself) that passes the tool's filter, one binary search; it never
//! allocates. [`Policy::allowed_tools`] and [`Policy::who_can_call`] run the
//! very same per-tool check, so `tools/list` filtering always equals
//! `tools/call` enforcement.

use std::fmt;
use std::ops::Range;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::bundle::{
    Agent, AnnotationFlag, Annotations, Bundle, Effect, Group, Principal, Rule, Server, Subject,
    Target, Tool, FORMAT_V1,
};

/// The most agents a delegation chain may have (the `act` claim and the
/// ones nested in it); a longer chain is denied.
pub const MAX_DELEGATION_DEPTH: usize = 3;

/// Why a bundle cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("unsupported bundle format {found:?} (expected {expected:?})", expected = FORMAT_V1)]
    UnsupportedFormat { found: String },
    #[error("duplicate server id {id:?}")]
    DuplicateServer { id: String },
    #[error("duplicate server slug {slug:?}")]
    DuplicateServerSlug { slug: String },
    #[error("duplicate server resource {resource:?}")]
    DuplicateResource { resource: String },
    #[error("duplicate tool {tool:?} on server {server:?}")]
    DuplicateTool { server: String, tool: String },
    #[error("duplicate group id {id:?}")]
    DuplicateGroup { id: String },
    #[error("duplicate principal id {id:?}")]
    DuplicatePrincipal { id: String },
    #[error("duplicate rule id {id:?}")]
    DuplicateRule { id: String },
    #[error("duplicate blocked client {client_id:?}")]
    DuplicateBlockedClient { client_id: String },
    #[error("rule {rule:?} is in the wrong list: agent subjects go in agent_rules, and only they")]
    MisplacedRule { rule: String },
    #[error("rule {rule:?} refers to unknown server {server:?}")]
    UnknownServer { rule: String, server: String },
    #[error("duplicate delegation id {id:?}")]
    DuplicateDelegation { id: String },
    #[error("delegation {delegation:?} names an agent as whom it acts for")]
    AgentDelegator { delegation: String },
    #[error("delegation {delegation:?} refers to unknown server {server:?}")]
    DelegationUnknownServer { delegation: String, server: String },
    #[error("bundle too large: more than 2^32 - 1 {what}")]
    TooLarge { what: &'static str },
}

/// A rule of the compiled policy, as reported by a decision. Resolve it with
/// [`Policy::rule_id`] or [`Policy::rule_by_ref`]; it is only meaningful for
/// the policy that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef(u32);

impl RuleRef {
    /// The rule's position in [`Bundle::rules`] followed by
    /// [`Bundle::agent_rules`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An applicable allow rule matched and no applicable deny rule did.
    Allowed {
        rule: RuleRef,
    },
    /// An applicable deny rule matched (deny wins).
    DeniedByRule {
        rule: RuleRef,
    },
    /// No applicable rule matched (default deny).
    NoGrant,
    UnknownPrincipal,
    InactivePrincipal,
    UnknownServer,
    ServerDisabled,
    UnknownTool,
    /// The tool is not approved.
    Quarantined,
}

impl Reason {
    /// A stable snake_case code for logs and audit records.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Allowed { .. } => "allowed",
            Reason::DeniedByRule { .. } => "denied_by_rule",
            Reason::NoGrant => "no_grant",
            Reason::UnknownPrincipal => "unknown_principal",
            Reason::InactivePrincipal => "inactive_principal",
            Reason::UnknownServer => "unknown_server",
            Reason::ServerDisabled => "server_disabled",
            Reason::UnknownTool => "unknown_tool",
            Reason::Quarantined => "quarantined",
        }
    }

    /// The rule that decided, if a rule did.
    pub fn rule(self) -> Option<RuleRef> {
        match self {
            Reason::Allowed { rule } | Reason::DeniedByRule { rule } => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The outcome of [`Policy::decide`]: small, `Copy`, allocation-free.
/// `allowed` is true exactly when `reason` is [`Reason::Allowed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
}

impl Decision {
    fn deny(reason: Reason) -> Self {
        Decision {
            allowed: false,
            reason,
        }
    }

    fn allow(rule: RuleRef) -> Self {
        Decision {
            allowed: true,
            reason: Reason::Allowed { rule },
        }
    }
}

/// Which check refused a delegated call ([`Policy::decide_delegated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DelegationDenial {
    /// The chain has no agent, or more than [`MAX_DELEGATION_DEPTH`].
    ChainLength,
    /// The person may not make the call themselves (their own reason).
    Person(Reason),
    /// Agent `index` of the chain (0: the one calling) may not make it by
    /// its own grants (its reason; `UnknownPrincipal` when it is not an
    /// agent of the bundle).
    Agent { index: usize, reason: Reason },
    /// Agent `index` holds no delegation from the person for this server.
    NotDelegated { index: usize },
}

impl DelegationDenial {
    /// A stable snake_case code for logs and audit records.
    pub fn code(self) -> &'static str {
        match self {
            DelegationDenial::ChainLength => "delegation_chain_length",
            DelegationDenial::Person(_) => "person_denied",
            DelegationDenial::Agent { .. } => "agent_denied",
            DelegationDenial::NotDelegated { .. } => "not_delegated",
        }
    }
}

/// The outcome of [`Policy::decide_delegated`]. `allowed` is true exactly
/// when `denial` is `None`; `person` is the person's own decision (its rule
/// is the grant that allowed them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelegatedDecision {
    pub allowed: bool,
    pub person: Decision,
    pub denial: Option<DelegationDenial>,
}

/// How a rule's subject matched the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "group", rename_all = "snake_case")]
pub enum MatchedBy<'a> {
    /// A `user` subject naming the principal.
    Direct,
    /// A `group` subject naming this group (its id), which the principal is in.
    ViaGroup(&'a str),
    /// An `everyone` subject.
    Everyone,
}

/// One rule that matched in an [`Explanation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleMatch<'a> {
    #[serde(skip)]
    pub rule: RuleRef,
    pub rule_id: &'a str,
    pub effect: Effect,
    pub matched_by: MatchedBy<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// `true` when the rule had expired at `now`: listed, but not applied.
    pub expired: bool,
}

/// The decision plus every rule whose subject matches the principal and whose
/// target covers the tool, applicable or expired, in bundle order. Rules are
/// listed even when an earlier step (inactive principal, disabled server,
/// quarantine) decided, so the console can show what *would* apply; they are
/// empty when the principal, server or tool is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation<'a> {
    pub decision: Decision,
    pub matches: Vec<RuleMatch<'a>>,
}

/// A compiled, immutable policy revision. Cheap to share (`Send + Sync`);
/// swap in a new one for a new revision.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The source, kept for the read accessors and for explanations.
    bundle: Bundle,
    principal_by_id: FxHashMap<Box<str>, u32>,
    server_by_id: FxHashMap<Box<str>, u32>,
    server_by_resource: FxHashMap<Box<str>, u32>,
    group_by_id: FxHashMap<Box<str>, u32>,
    rule_by_id: FxHashMap<Box<str>, u32>,
    /// `client_id`s of [`Bundle::blocked_clients`].
    blocked_clients: FxHashSet<Box<str>>,
    /// Parallel to `bundle.servers`.
    servers: Vec<CServer>,
    /// Every tool, server after server in bundle order; a tool's index is
    /// its server's `first_tool` plus its position in `Server::tools`.
    tools: Vec<CTool>,
    /// Parallel to `bundle.principals` followed by `bundle.agents`: agent
    /// `a` is principal `principals.len() + a`.
    principals: Vec<CPrincipal>,
    /// The subject keys of every principal (see [`SubjectKeys`]),
    /// concatenated; each principal's run is sorted ascending.
    principal_keys: Vec<u32>,
    /// The grants of every tool, concatenated: per tool its deny run, then its
    /// allow run, each sorted by (subject key, rule). Keys and grants are
    /// parallel; keys are kept apart so binary searches touch less memory.
    grant_keys: Vec<u32>,
    grants: Vec<Grant>,
    subject_keys: SubjectKeys,
    /// Per (agent principal, server): the sorted subject keys of the people
    /// it may act for there ([`Bundle::delegations`]).
    delegations: FxHashMap<(u32, u32), Vec<u32>>,
}

#[derive(Debug, Clone)]
struct CServer {
    enabled: bool,
    first_tool: u32,
    tool_by_name: FxHashMap<Box<str>, u32>,
}

#[derive(Debug, Clone, Copy)]
struct CTool {
    server: u32,
    approved: bool,
    deny: Span,
    allow: Span,
}

/// One tool's deny or allow grants: a range of `grant_keys`/`grants`, and
/// a small Bloom filter of the subject keys in it, so that a principal's keys
/// that have no grant (most of them) are skipped without a binary search.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
    filter: KeyFilter,
}

impl Span {
    fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// 256 bits, one hashed bit per key. A tool rarely has grants for more than a
/// few dozen subjects, which leaves most bits clear; when it has more, the
/// filter just stops filtering.
#[derive(Debug, Clone, Copy, Default)]
struct KeyFilter([u64; 4]);

impl KeyFilter {
    #[inline]
    fn bit(key: u32) -> (usize, u64) {
        // Fibonacci hashing: the top 8 bits of key × 2^32/φ.
        let h = key.wrapping_mul(0x9e37_79b9) >> 24;
        ((h >> 6) as usize, 1 << (h & 63))
    }

    fn insert(&mut self, key: u32) {
        let (word, bit) = Self::bit(key);
        if let Some(w) = self.0.get_mut(word) {
            *w |= bit;
        }
    }

    #[inline]
    fn may_contain(&self, key: u32) -> bool {
        let (word, bit) = Self::bit(key);
        self.0.get(word).is_some_and(|w| w & bit != 0)
    }
}

#[derive(Debug, Clone, Copy)]
struct CPrincipal {
    active: bool,
    /// Range into `principal_keys`.
    keys: (u32, u32),
}

/// One rule covering one tool, minus the subject (which is the parallel key).
#[derive(Debug, Clone, Copy)]
struct Grant {
    /// Only meaningful when `expires`.
    expires_at: i64,
    rule: u32,
    expires: bool,
}

impl Grant {
    #[inline]
    fn applies(&self, now: i64) -> bool {
        !self.expires || now < self.expires_at
    }
}

/// Subjects as dense `u32` keys: `everyone` is 0, group `g` is `1 + g` and
/// user `u` is `1 + groups + u`. A principal's keys are `everyone`, its known
/// groups and itself, so they come out sorted.
#[derive(Debug, Clone, Copy)]
struct SubjectKeys {
    groups: u32,
}

const EVERYONE_KEY: u32 = 0;

enum DecodedSubject {
    Everyone,
    Group(u32),
    User,
}

impl SubjectKeys {
    fn group(self, g: u32) -> u32 {
        1 + g
    }

    fn user(self, u: u32) -> u32 {
        1 + self.groups + u
    }

    fn decode(self, key: u32) -> DecodedSubject {
        if key == EVERYONE_KEY {
            DecodedSubject::Everyone
        } else if key <= self.groups {
            DecodedSubject::Group(key - 1)
        } else {
            DecodedSubject::User
        }
    }
}

fn idx(n: usize, what: &'static str) -> Result<u32, CompileError> {
    u32::try_from(n).map_err(|_| CompileError::TooLarge { what })
}

fn range((start, end): (u32, u32)) -> Range<usize> {
    start as usize..end as usize
}

fn flag(a: &Annotations, f: AnnotationFlag) -> bool {
    match f {
        AnnotationFlag::ReadOnly => a.read_only,
        AnnotationFlag::Destructive => a.destructive,
        AnnotationFlag::Idempotent => a.idempotent,
        AnnotationFlag::OpenWorld => a.open_world,
    }
}

/// Every rule of `bundle`: `rules`, then `agent_rules` (what a
/// [`RuleRef`] indexes).
fn all_rules(bundle: &Bundle) -> impl Iterator<Item = &Rule> + '_ {
    bundle.rules.iter().chain(&bundle.agent_rules)
}

/// Rule `i` of [`all_rules`].
fn rule_at(bundle: &Bundle, i: usize) -> Option<&Rule> {
    match i.checked_sub(bundle.rules.len()) {
        None => bundle.rules.get(i),
        Some(a) => bundle.agent_rules.get(a),
    }
}

/// Whether `rule`'s target covers `tool` (a tool of the rule's server). The
/// single definition of coverage: the compiled index is built from it.
pub fn rule_covers(rule: &Rule, tool: &Tool) -> bool {
    // Destructive tools are covered by a server- or annotation-wide rule
    // only when it is a deny or explicitly opts in.
    let broad_ok =
        rule.effect == Effect::Deny || rule.include_destructive || !tool.annotations.destructive;
    match &rule.target {
        Target::Tools { names } => names.contains(&tool.name),
        Target::Server => broad_ok,
        Target::Annotation { annotation } => {
            flag(&tool.annotations, *annotation)
                && (broad_ok || *annotation == AnnotationFlag::Destructive)
        }
    }
}

/// Among the grants whose key is in `query` (sorted ascending) and which
/// apply at `now`, the smallest rule index. Both key lists are sorted, so
/// each query key is searched in what is left after the previous one; keys
/// the filter rules out are not searched at all.
#[inline]
fn first_applicable(
    keys: &[u32],
    grants: &[Grant],
    filter: &KeyFilter,
    query: &[u32],
    now: i64,
) -> Option<u32> {
    let mut best = u32::MAX;
    let mut lo = 0;
    for &k in query {
        if !filter.may_contain(k) {
            continue;
        }
        let rest = keys.get(lo..).unwrap_or_default();
        lo += rest.partition_point(|&x| x < k);
        let (Some(run_keys), Some(run_grants)) = (keys.get(lo..), grants.get(lo..)) else {
            break;
        };
        // Grants of one key are sorted by rule: the first applicable one is
        // that key's smallest.
        if let Some((_, g)) = run_keys
            .iter()
            .zip(run_grants)
            .take_while(|(&rk, _)| rk == k)
            .find(|(_, g)| g.applies(now))
        {
            best = best.min(g.rule);
        }
    }
    (best != u32::MAX).then_some(best)
}

impl Policy {
    /// Validates `bundle` and builds the decision indexes.
    ///
    /// Errors: a format other than [`FORMAT_V1`]; duplicate server ids, slugs
    /// or resources, tool names within a server, group, principal or rule
    /// ids; a rule whose server is not in the bundle. Unknown users and groups
    /// in subjects or in principals' groups, and unknown tool names in
    /// `tools` targets, are tolerated and match nothing.
    pub fn compile(bundle: &Bundle) -> Result<Policy, CompileError> {
        if bundle.format != FORMAT_V1 {
            return Err(CompileError::UnsupportedFormat {
                found: bundle.format.clone(),
            });
        }

        let mut group_by_id = FxHashMap::default();
        for (g, group) in bundle.groups.iter().enumerate() {
            if group_by_id
                .insert(group.id.as_str().into(), idx(g, "groups")?)
                .is_some()
            {
                return Err(CompileError::DuplicateGroup {
                    id: group.id.clone(),
                });
            }
        }

        let mut blocked_clients = FxHashSet::default();
        for c in &bundle.blocked_clients {
            if !blocked_clients.insert(c.client_id.as_str().into()) {
                return Err(CompileError::DuplicateBlockedClient {
                    client_id: c.client_id.clone(),
                });
            }
        }

        let mut principal_by_id = FxHashMap::default();
        for (p, principal) in bundle.principals.iter().enumerate() {
            if principal_by_id
                .insert(principal.id.as_str().into(), idx(p, "principals")?)
                .is_some()
            {
                return Err(CompileError::DuplicatePrincipal {
                    id: principal.id.clone(),
                });
            }
        }
        let people = bundle.principals.len();
        for (a, agent) in bundle.agents.iter().enumerate() {
            if principal_by_id
                .insert(agent.id.as_str().into(), idx(people + a, "principals")?)
                .is_some()
            {
                return Err(CompileError::DuplicatePrincipal {
                    id: agent.id.clone(),
                });
            }
        }

        // Every subject key must fit in a u32.
        let subject_keys = SubjectKeys {
            groups: idx(bundle.groups.len(), "groups")?,
        };
        idx(
            1 + bundle.groups.len() + people + bundle.agents.len(),
            "groups and principals",
        )?;

        let mut server_by_id = FxHashMap::default();
        let mut server_by_resource = FxHashMap::default();
        let mut slugs = FxHashMap::default();
        let mut servers = Vec::with_capacity(bundle.servers.len());
        let mut tool_count = 0usize;
        for (s, server) in bundle.servers.iter().enumerate() {
            let s = idx(s, "servers")?;
            if server_by_id.insert(server.id.as_str().into(), s).is_some() {
                return Err(CompileError::DuplicateServer {
                    id: server.id.clone(),
                });
            }
            if slugs.insert(server.slug.as_str(), s).is_some() {
                return Err(CompileError::DuplicateServerSlug {
                    slug: server.slug.clone(),
                });
            }
            if server_by_resource
                .insert(server.resource.as_str().into(), s)
                .is_some()
            {
                return Err(CompileError::DuplicateResource {
                    resource: server.resource.clone(),
                });
            }
            let first_tool = idx(tool_count, "tools")?;
            let mut tool_by_name = FxHashMap::default();
            for (i, tool) in server.tools.iter().enumerate() {
                let t = idx(tool_count + i, "tools")?;
                if tool_by_name.insert(tool.name.as_str().into(), t).is_some() {
                    return Err(CompileError::DuplicateTool {
                        server: server.id.clone(),
                        tool: tool.name.clone(),
                    });
                }
            }
            tool_count += server.tools.len();
            servers.push(CServer {
                enabled: server.enabled,
                first_tool,
                tool_by_name,
            });
        }
        idx(tool_count, "tools")?;

        // Rules, grouped by server, keeping bundle order within a server.
        let mut rule_by_id = FxHashMap::default();
        let mut rules_of_server: Vec<Vec<u32>> = vec![Vec::new(); bundle.servers.len()];
        for (r, rule) in all_rules(bundle).enumerate() {
            let misplaced =
                matches!(rule.subject, Subject::Agent { .. }) != (r >= bundle.rules.len());
            if misplaced {
                return Err(CompileError::MisplacedRule {
                    rule: rule.id.clone(),
                });
            }
            let r = idx(r, "rules")?;
            if rule_by_id.insert(rule.id.as_str().into(), r).is_some() {
                return Err(CompileError::DuplicateRule {
                    id: rule.id.clone(),
                });
            }
            let Some(list) = server_by_id
                .get(rule.server.as_str())
                .and_then(|&s| rules_of_server.get_mut(s as usize))
            else {
                return Err(CompileError::UnknownServer {
                    rule: rule.id.clone(),
                    server: rule.server.clone(),
                });
            };
            list.push(r);
        }

        // Principals' subject keys: everyone, their known groups, themselves.
        let mut principals = Vec::with_capacity(people + bundle.agents.len());
        let mut principal_keys = Vec::new();
        let mut group_scratch = Vec::new();
        for (p, principal) in bundle.principals.iter().enumerate() {
            let start = idx(principal_keys.len(), "principal keys")?;
            principal_keys.push(EVERYONE_KEY);
            group_scratch.clear();
            group_scratch.extend(
                principal
                    .groups
                    .iter()
                    .filter_map(|g| group_by_id.get(g.as_str()))
                    .map(|&g| subject_keys.group(g)),
            );
            group_scratch.sort_unstable();
            group_scratch.dedup();
            principal_keys.extend_from_slice(&group_scratch);
            principal_keys.push(subject_keys.user(idx(p, "principals")?));
            principals.push(CPrincipal {
                active: principal.active,
                keys: (start, idx(principal_keys.len(), "principal keys")?),
            });
        }
        // Agents' subject keys: themselves only.
        for (a, agent) in bundle.agents.iter().enumerate() {
            let start = idx(principal_keys.len(), "principal keys")?;
            principal_keys.push(subject_keys.user(idx(people + a, "principals")?));
            principals.push(CPrincipal {
                active: agent.active,
                keys: (start, idx(principal_keys.len(), "principal keys")?),
            });
        }

        // Each rule's subject key; `None` for unknown users and groups.
        let rule_keys: Vec<Option<u32>> = all_rules(bundle)
            .map(|rule| match &rule.subject {
                Subject::Everyone => Some(EVERYONE_KEY),
                Subject::Group { id } => {
                    group_by_id.get(id.as_str()).map(|&g| subject_keys.group(g))
                }
                Subject::User { id } => principal_by_id
                    .get(id.as_str())
                    .filter(|&&u| (u as usize) < people)
                    .map(|&u| subject_keys.user(u)),
                Subject::Agent { id } => principal_by_id
                    .get(id.as_str())
                    .filter(|&&u| (u as usize) >= people)
                    .map(|&u| subject_keys.user(u)),
            })
            .collect();

        // Resolve targets: per tool, the grants of every rule covering it.
        let mut tools = Vec::with_capacity(tool_count);
        let mut grant_keys = Vec::new();
        let mut grants = Vec::new();
        let mut scratch: Vec<(u32, Grant)> = Vec::new();
        for ((s, server), rules) in bundle.servers.iter().enumerate().zip(&rules_of_server) {
            for tool in &server.tools {
                let mut spans = [Span::default(); 2];
                for (effect, span) in [Effect::Deny, Effect::Allow].into_iter().zip(&mut spans) {
                    scratch.clear();
                    for &r in rules {
                        let (Some(rule), Some(&Some(key))) =
                            (rule_at(bundle, r as usize), rule_keys.get(r as usize))
                        else {
                            continue;
                        };
                        if rule.effect == effect && rule_covers(rule, tool) {
                            scratch.push((
                                key,
                                Grant {
                                    expires_at: rule.expires_at.unwrap_or(0),
                                    rule: r,
                                    expires: rule.expires_at.is_some(),
                                },
                            ));
                        }
                    }
                    // `rules` is in ascending order, so a stable sort by key
                    // leaves each key's grants sorted by rule.
                    scratch.sort_by_key(|(key, _)| *key);
                    span.start = idx(grants.len(), "grants")?;
                    for (key, grant) in &scratch {
                        grant_keys.push(*key);
                        grants.push(*grant);
                        span.filter.insert(*key);
                    }
                    span.end = idx(grants.len(), "grants")?;
                }
                tools.push(CTool {
                    server: idx(s, "servers")?,
                    approved: tool.approved,
                    deny: spans[0],
                    allow: spans[1],
                });
            }
        }

        // Delegations: per (agent, server), the subject keys it covers.
        // Unknown agents, people and groups match nothing (as in rules).
        let mut delegations: FxHashMap<(u32, u32), Vec<u32>> = FxHashMap::default();
        let mut delegation_ids = FxHashSet::default();
        for d in &bundle.delegations {
            if !delegation_ids.insert(d.id.as_str()) {
                return Err(CompileError::DuplicateDelegation { id: d.id.clone() });
            }
            let Some(&s) = server_by_id.get(d.server.as_str()) else {
                return Err(CompileError::DelegationUnknownServer {
                    delegation: d.id.clone(),
                    server: d.server.clone(),
                });
            };
            let key = match &d.subject {
                Subject::Agent { .. } => {
                    return Err(CompileError::AgentDelegator {
                        delegation: d.id.clone(),
                    })
                }
                Subject::Everyone => Some(EVERYONE_KEY),
                Subject::Group { id } => {
                    group_by_id.get(id.as_str()).map(|&g| subject_keys.group(g))
                }
                Subject::User { id } => principal_by_id
                    .get(id.as_str())
                    .filter(|&&u| (u as usize) < people)
                    .map(|&u| subject_keys.user(u)),
            };
            let agent = principal_by_id
                .get(d.agent.as_str())
                .filter(|&&a| (a as usize) >= people);
            if let (Some(key), Some(&agent)) = (key, agent) {
                delegations.entry((agent, s)).or_default().push(key);
            }
        }
        for keys in delegations.values_mut() {
            keys.sort_unstable();
            keys.dedup();
        }

        Ok(Policy {
            delegations,
            bundle: bundle.clone(),
            principal_by_id,
            server_by_id,
            server_by_resource,
            group_by_id,
            rule_by_id,
            blocked_clients,
            servers,
            tools,
            principals,
            principal_keys,
            grant_keys,
            grants,
            subject_keys,
        })
    }

    /// The decision for `principal` calling `tool` of `server` at `now`
    /// (unix seconds). Never allocates. See the module docs for the semantics.
    pub fn decide(&self, principal: &str, server: &str, tool: &str, now: i64) -> Decision {
        let Some(&p) = self.principal_by_id.get(principal) else {
            return Decision::deny(Reason::UnknownPrincipal);
        };
        let Some(s) = self.server_by_id.get(server).copied() else {
            return Decision::deny(Reason::UnknownServer);
        };
        let Some(&t) = self
            .servers
            .get(s as usize)
            .and_then(|srv| srv.tool_by_name.get(tool))
        else {
            return Decision::deny(Reason::UnknownTool);
        };
        self.decide_idx(p, t, now)
    }

    /// The decision for an agent chain calling `tool` of `server` for
    /// `person` at `now` (see the module docs, *Delegation*). `actors`:
    /// the agents of the token's `act` claim, outermost first (the one
    /// calling, then the one it acts for, …). Never allocates.
    pub fn decide_delegated(
        &self,
        person: &str,
        actors: &[&str],
        server: &str,
        tool: &str,
        now: i64,
    ) -> DelegatedDecision {
        let people = self.bundle.principals.len();
        let person_idx = self
            .principal_by_id
            .get(person)
            .copied()
            .filter(|&p| (p as usize) < people);
        let decision = match person_idx {
            Some(_) => self.decide(person, server, tool, now),
            None => Decision::deny(Reason::UnknownPrincipal),
        };
        let deny = |denial| DelegatedDecision {
            allowed: false,
            person: decision,
            denial: Some(denial),
        };
        if actors.is_empty() || actors.len() > MAX_DELEGATION_DEPTH {
            return deny(DelegationDenial::ChainLength);
        }
        if !decision.allowed {
            return deny(DelegationDenial::Person(decision.reason));
        }
        let (Some(p), Some(&s)) = (person_idx, self.server_by_id.get(server)) else {
            return deny(DelegationDenial::Person(Reason::UnknownPrincipal));
        };
        for (index, agent) in actors.iter().enumerate() {
            let Some(a) = self
                .principal_by_id
                .get(*agent)
                .copied()
                .filter(|&a| (a as usize) >= people)
            else {
                return deny(DelegationDenial::Agent {
                    index,
                    reason: Reason::UnknownPrincipal,
                });
            };
            let own = self.decide(agent, server, tool, now);
            if !own.allowed {
                return deny(DelegationDenial::Agent {
                    index,
                    reason: own.reason,
                });
            }
            if !self.delegates(p, a, s) {
                return deny(DelegationDenial::NotDelegated { index });
            }
        }
        DelegatedDecision {
            allowed: true,
            person: decision,
            denial: None,
        }
    }

    /// Whether `agent` holds a delegation from `person` for `server` (a
    /// delegation naming the person, one of their groups, or everyone),
    /// whatever the grants say: the token endpoint's check before it
    /// issues a delegated token.
    pub fn delegated(&self, person: &str, agent: &str, server: &str) -> bool {
        let people = self.bundle.principals.len();
        let p = self
            .principal_by_id
            .get(person)
            .copied()
            .filter(|&p| (p as usize) < people);
        let a = self
            .principal_by_id
            .get(agent)
            .copied()
            .filter(|&a| (a as usize) >= people);
        match (p, a, self.server_by_id.get(server)) {
            (Some(p), Some(a), Some(&s)) => self.delegates(p, a, s),
            _ => false,
        }
    }

    /// Whether agent `a` holds a delegation covering person `p` on server `s`.
    fn delegates(&self, p: u32, a: u32, s: u32) -> bool {
        let person_keys = self
            .principals
            .get(p as usize)
            .and_then(|c| self.principal_keys.get(range(c.keys)))
            .unwrap_or_default();
        self.delegations
            .get(&(a, s))
            .is_some_and(|keys| person_keys.iter().any(|k| keys.binary_search(k).is_ok()))
    }

    /// Steps 4–9 of the semantics for resolved indexes: the one per-tool
    /// check behind [`decide`](Self::decide), [`allowed_tools`](Self::allowed_tools)
    /// and [`who_can_call`](Self::who_can_call).
    #[inline]
    fn decide_idx(&self, p: u32, t: u32, now: i64) -> Decision {
        let (Some(principal), Some(tool)) =
            (self.principals.get(p as usize), self.tools.get(t as usize))
        else {
            // Indexes come from our own maps; unreachable in practice.
            return Decision::deny(Reason::UnknownTool);
        };
        if !principal.active {
            return Decision::deny(Reason::InactivePrincipal);
        }
        if !self
            .servers
            .get(tool.server as usize)
            .is_some_and(|s| s.enabled)
        {
            return Decision::deny(Reason::ServerDisabled);
        }
        if !tool.approved {
            return Decision::deny(Reason::Quarantined);
        }
        let query = self
            .principal_keys
            .get(range(principal.keys))
            .unwrap_or_default();
        if let Some(rule) = self.first_in(&tool.deny, query, now) {
            return Decision::deny(Reason::DeniedByRule {
                rule: RuleRef(rule),
            });
        }
        if let Some(rule) = self.first_in(&tool.allow, query, now) {
            return Decision::allow(RuleRef(rule));
        }
        Decision::deny(Reason::NoGrant)
    }

    #[inline]
    fn first_in(&self, span: &Span, query: &[u32], now: i64) -> Option<u32> {
        if span.start == span.end {
            return None;
        }
        let keys = self.grant_keys.get(span.range())?;
        let grants = self.grants.get(span.range())?;
        first_applicable(keys, grants, &span.filter, query, now)
    }

    /// The names of the tools of `server` that `principal` may call at `now`,
    /// in the server's order: exactly the tools for which
    /// [`decide`](Self::decide) allows (it runs the same check). Empty for an
    /// unknown principal or server.
    pub fn allowed_tools<'a>(
        &'a self,
        principal: &str,
        server: &str,
        now: i64,
    ) -> AllowedTools<'a> {
        let resolved = self
            .principal_by_id
            .get(principal)
            .zip(self.server_by_id.get(server))
            .and_then(|(&p, &s)| {
                let srv = self.servers.get(s as usize)?;
                let first = srv.first_tool;
                let count = self.bundle.servers.get(s as usize)?.tools.len() as u32;
                Some((p, first..first + count))
            });
        let (principal, tools) = resolved.unwrap_or((0, 0..0));
        AllowedTools {
            policy: self,
            principal,
            tools,
            now,
        }
    }

    /// The decision and every matching rule (applicable or expired), for the
    /// console's "why can Alice call this?" view. Allocates.
    pub fn explain(&self, principal: &str, server: &str, tool: &str, now: i64) -> Explanation<'_> {
        let decision = self.decide(principal, server, tool, now);
        let mut matches = Vec::new();
        let p = self.principal_by_id.get(principal);
        let t = self
            .server_by_id
            .get(server)
            .and_then(|&s| self.servers.get(s as usize))
            .and_then(|srv| srv.tool_by_name.get(tool));
        if let (Some(&p), Some(&t)) = (p, t) {
            let query = self
                .principals
                .get(p as usize)
                .and_then(|pr| self.principal_keys.get(range(pr.keys)))
                .unwrap_or_default();
            if let Some(ct) = self.tools.get(t as usize) {
                for span in [ct.deny, ct.allow] {
                    let keys = self.grant_keys.get(span.range()).unwrap_or_default();
                    let grants = self.grants.get(span.range()).unwrap_or_default();
                    for (&key, grant) in keys.iter().zip(grants) {
                        if query.binary_search(&key).is_ok() {
                            if let Some(m) = self.rule_match(key, grant, now) {
                                matches.push(m);
                            }
                        }
                    }
                }
            }
            matches.sort_by_key(|m| m.rule);
        }
        Explanation { decision, matches }
    }

    fn rule_match(&self, key: u32, grant: &Grant, now: i64) -> Option<RuleMatch<'_>> {
        let rule = rule_at(&self.bundle, grant.rule as usize)?;
        let matched_by = match self.subject_keys.decode(key) {
            DecodedSubject::Everyone => MatchedBy::Everyone,
            DecodedSubject::User => MatchedBy::Direct,
            DecodedSubject::Group(g) => {
                MatchedBy::ViaGroup(self.bundle.groups.get(g as usize)?.id.as_str())
            }
        };
        Some(RuleMatch {
            rule: RuleRef(grant.rule),
            rule_id: &rule.id,
            effect: rule.effect,
            matched_by,
            expires_at: rule.expires_at,
            expired: !grant.applies(now),
        })
    }

    /// The ids of the people (not agents) allowed to call `tool` of
    /// `server` at `now`, in bundle order. Empty for an unknown server or
    /// tool.
    pub fn who_can_call(&self, server: &str, tool: &str, now: i64) -> Vec<&str> {
        let Some(&t) = self
            .server_by_id
            .get(server)
            .and_then(|&s| self.servers.get(s as usize))
            .and_then(|srv| srv.tool_by_name.get(tool))
        else {
            return Vec::new();
        };
        self.bundle
            .principals
            .iter()
            .zip(0u32..)
            .filter(|&(_, p)| self.decide_idx(p, t, now).allowed)
            .map(|(principal, _)| principal.id.as_str())
            .collect()
    }

    /// The tools of rule `rule` covers (by its target, whoever its subject).
    pub fn covered_tools(&self, rule: RuleRef) -> impl Iterator<Item = &str> + '_ {
        let rule = rule_at(&self.bundle, rule.index());
        let tools = rule
            .and_then(|r| self.server(&r.server))
            .map(|s| s.tools.as_slice())
            .unwrap_or_default();
        tools
            .iter()
            .filter(move |t| rule.is_some_and(|r| rule_covers(r, t)))
            .map(|t| t.name.as_str())
    }

    /// Whether an admin blocked the OAuth client `client_id` (an access
    /// token's `client_id` claim): a gateway refuses such a token whatever
    /// the rules allow, even before it expires.
    pub fn client_blocked(&self, client_id: &str) -> bool {
        self.blocked_clients.contains(client_id)
    }

    /// The id of the server whose canonical `resource` URL this is: how a
    /// gateway maps the audience of a token to the server it fronts.
    pub fn server_id_by_resource(&self, resource: &str) -> Option<&str> {
        let &s = self.server_by_resource.get(resource)?;
        self.bundle.servers.get(s as usize).map(|s| s.id.as_str())
    }

    /// The id of a rule reported by a decision. Empty for a [`RuleRef`]
    /// that came from another policy and is out of range here.
    pub fn rule_id(&self, rule: RuleRef) -> &str {
        self.rule_by_ref(rule).map_or("", |r| r.id.as_str())
    }

    /// The rule reported by a decision.
    pub fn rule_by_ref(&self, rule: RuleRef) -> Option<&Rule> {
        rule_at(&self.bundle, rule.index())
    }

    /// The policy revision ([`Bundle::revision`]).
    pub fn revision(&self) -> u64 {
        self.bundle.revision
    }

    /// When the console issued this revision ([`Bundle::issued_at`]).
    pub fn issued_at(&self) -> &str {
        &self.bundle.issued_at
    }

    /// The bundle this policy was compiled from.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn servers(&self) -> &[Server] {
        &self.bundle.servers
    }

    pub fn server(&self, id: &str) -> Option<&Server> {
        let &s = self.server_by_id.get(id)?;
        self.bundle.servers.get(s as usize)
    }

    /// The tools of a server (with annotations and approval), or `None` for
    /// an unknown server.
    pub fn tools(&self, server: &str) -> Option<&[Tool]> {
        self.server(server).map(|s| s.tools.as_slice())
    }

    pub fn tool(&self, server: &str, tool: &str) -> Option<&Tool> {
        let &s = self.server_by_id.get(server)?;
        let srv = self.servers.get(s as usize)?;
        let &t = srv.tool_by_name.get(tool)?;
        self.bundle
            .servers
            .get(s as usize)?
            .tools
            .get((t - srv.first_tool) as usize)
    }

    pub fn principals(&self) -> &[Principal] {
        &self.bundle.principals
    }

    /// The person with this id (`None` for an agent's id).
    pub fn principal(&self, id: &str) -> Option<&Principal> {
        let &p = self.principal_by_id.get(id)?;
        self.bundle.principals.get(p as usize)
    }

    pub fn agents(&self) -> &[Agent] {
        &self.bundle.agents
    }

    /// The delegations, in bundle order.
    pub fn delegations(&self) -> &[crate::bundle::Delegation] {
        &self.bundle.delegations
    }

    /// The agent with this id (`None` for a person's id).
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        let &p = self.principal_by_id.get(id)?;
        let a = (p as usize).checked_sub(self.bundle.principals.len())?;
        self.bundle.agents.get(a)
    }

    pub fn groups(&self) -> &[Group] {
        &self.bundle.groups
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        let &g = self.group_by_id.get(id)?;
        self.bundle.groups.get(g as usize)
    }

    /// The rules of people (`rules`), then those of agents (`agent_rules`).
    pub fn rules(&self) -> impl Iterator<Item = &Rule> + '_ {
        all_rules(&self.bundle)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        let &r = self.rule_by_id.get(id)?;
        rule_at(&self.bundle, r as usize)
    }

    /// The [`RuleRef`] of the rule with this id.
    pub fn rule_ref(&self, id: &str) -> Option<RuleRef> {
        self.rule_by_id.get(id).map(|&r| RuleRef(r))
    }
}

/// Iterator returned by [`Policy::allowed_tools`].
#[derive(Debug, Clone)]
pub struct AllowedTools<'a> {
    policy: &'a Policy,
    principal: u32,
    tools: Range<u32>,
    now: i64,
}

impl<'a> Iterator for AllowedTools<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let policy = self.policy;
        for t in self.tools.by_ref() {
            if policy.decide_idx(self.principal, t, self.now).allowed {
                let tool = policy.tools.get(t as usize)?;
                let srv = policy.servers.get(tool.server as usize)?;
                let name = policy
                    .bundle
                    .servers
                    .get(tool.server as usize)?
                    .tools
                    .get((t - srv.first_tool) as usize)?;
                return Some(name.name.as_str());
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.tools.len()))
    }
}
