//! Bundles from facts: the whole bundle of a revision ([`assemble`],
//! [`load_bundle`]) and the next bundle with its delta, recomputing only
//! what the changed facts touch ([`reassemble`]).

use super::facts::{changed_keys, FactKey, FactMap};
use super::model::{fact_value, kind, GrantFact, ServerFact, ToolFact, UserFact};
use crate::db::{Db, Exec};
use crate::error::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_policy::bundle::{
    Agent, BlockedClient, Bundle, Delegation, Group, Principal, Rule, Server, Subject, Tool,
    FORMAT_V1,
};
use portcullis_policy::delta::{Changes, Delta, DELTA_FORMAT_V1};
use std::collections::{BTreeMap, BTreeSet};

/// Whether `rule` names an agent (and so goes in `agent_rules`).
fn names_agent(rule: &Rule) -> bool {
    matches!(rule.subject, Subject::Agent { .. })
}

/// Up to this many changed facts [`reassemble`] is always the way, however
/// small the company.
const REASSEMBLE_MIN_LIMIT: usize = 5_000;

/// Above a change of this share of the bundle's entries (1 in N) a whole
/// [`assemble`] is the simpler way: reading the touched facts key by key
/// costs more per fact than reading every fact in one scan. At 100,000
/// people that is ~16,000 changed facts: a burst of membership PATCHes
/// coalesces into announcements of 5,000-odd, which a fixed limit of
/// 5,000 sent to the whole assembly (1.1 s each; docs/benchmarks.md,
/// scale run 7).
const REASSEMBLE_MAX_SHARE: usize = 8;

/// How many changed facts [`Touched::of`] takes on against `prev`.
fn reassemble_limit(prev: &Bundle) -> usize {
    let entries = prev.servers.len()
        + prev.groups.len()
        + prev.principals.len()
        + prev.rules.len()
        + prev.agent_rules.len()
        + prev.blocked_clients.len()
        + prev.agents.len()
        + prev.delegations.len();
    (entries / REASSEMBLE_MAX_SHARE).max(REASSEMBLE_MIN_LIMIT)
}

/// Entries recomputed for `ids`, as changes against the sorted `prev` list
/// (unchanged entries left out).
fn changes_for<T: PartialEq>(
    ids: &BTreeSet<String>,
    prev: &[T],
    id_of: impl Fn(&T) -> &str,
    entry: impl Fn(&str) -> Result<Option<T>>,
) -> Result<Changes<T>> {
    let mut out = Changes::default();
    for id in ids {
        let before = prev
            .binary_search_by(|p| id_of(p).cmp(id.as_str()))
            .ok()
            .map(|i| &prev[i]);
        match (before, entry(id)?) {
            (Some(b), Some(e)) if *b == e => {}
            (_, Some(e)) => out.upsert.push(e),
            (Some(_), None) => out.remove.push(id.clone()),
            (None, None) => {}
        }
    }
    Ok(out)
}

/// The bundle entries a set of changed facts touches, list by list: what
/// [`reassemble`] recomputes and [`FactMap::load_touched`] reads the facts
/// of.
#[derive(Debug, Default)]
pub struct Touched {
    pub(super) servers: BTreeSet<String>,
    pub(super) groups: BTreeSet<String>,
    /// People whose entry may change (the current members of `groups` are
    /// added when their facts are read).
    pub(super) users: BTreeSet<String>,
    /// Grants: the rules in `rules` or `agent_rules`.
    pub(super) rules: BTreeSet<String>,
    pub(super) clients: BTreeSet<String>,
    pub(super) agents: BTreeSet<String>,
    pub(super) delegations: BTreeSet<String>,
}

impl Touched {
    /// The entries the facts `changed` (between `prev`'s revision and the
    /// next) touch, `None` when a whole [`assemble`] is the simpler way
    /// (changes to more than an eighth of the bundle's entries). Of a
    /// changed group, the people `prev` has in it are touched here; those
    /// in it now, when the facts are read.
    pub fn of(changed: &BTreeSet<FactKey>, prev: &Bundle) -> Result<Option<Self>> {
        if changed.len() > reassemble_limit(prev) {
            return Ok(None);
        }
        let mut t = Self::default();
        for (kind, k1, k2) in changed {
            match kind.as_str() {
                kind::SERVER | kind::TOOL => {
                    t.servers.insert(k1.clone());
                }
                kind::GROUP => {
                    t.groups.insert(k1.clone());
                    t.users.extend(
                        prev.principals
                            .iter()
                            .filter(|p| p.groups.iter().any(|g| g == k1))
                            .map(|p| p.id.clone()),
                    );
                }
                kind::USER => {
                    t.users.insert(k1.clone());
                }
                kind::MEMBER => {
                    t.users.insert(k2.clone());
                }
                kind::GRANT => {
                    t.rules.insert(k1.clone());
                }
                kind::CLIENT => {
                    t.clients.insert(k1.clone());
                }
                kind::AGENT => {
                    t.agents.insert(k1.clone());
                }
                kind::DELEGATION => {
                    t.delegations.insert(k1.clone());
                }
                other => return Err(Error::Internal(format!("unknown policy fact kind {other}"))),
            }
        }
        Ok(Some(t))
    }

    /// Whether a touched server is in `prev` but not in `facts` or the
    /// other way round. The grants about a server come and go with it
    /// without a fact of theirs changing, which [`reassemble`] cannot
    /// follow: a whole [`assemble`] is the way then.
    fn servers_come_or_go(&self, prev: &Bundle, facts: &FactMap) -> bool {
        self.servers.iter().any(|id| {
            let was = prev
                .servers
                .binary_search_by(|s| s.id.as_str().cmp(id))
                .is_ok();
            was != facts.one(kind::SERVER, id).is_some()
        })
    }
}

/// The facts of revision `rev` that the change from `prev` (the bundle of
/// an earlier revision) touches, and what it touches: what [`reassemble`]
/// takes. `None` when a whole [`assemble`] is the way: a large change
/// ([`Touched::of`]), or a server came or went.
pub async fn touched_facts(db: &Db, prev: &Bundle, rev: i64) -> Result<Option<(FactMap, Touched)>> {
    let from = super::db_revision(prev.revision);
    let changed = changed_keys(db.exec(), from, rev).await?;
    let Some(mut touched) = Touched::of(&changed, prev)? else {
        return Ok(None);
    };
    let facts = FactMap::load_touched(db, rev, &mut touched).await?;
    if touched.servers_come_or_go(prev, &facts) {
        return Ok(None);
    }
    Ok(Some((facts, touched)))
}

/// The bundle of `facts`' revision built from `prev` (the bundle of an
/// earlier revision) by recomputing only the entries in `touched`, and the
/// delta from `prev` to it (hashes left empty; boxed, as it is three times
/// a bundle's header). `facts` and `touched` are what [`touched_facts`]
/// found. `prev` is used up: its unchanged entries move into the result
/// ([`Delta::apply_owned`]), no copy of the company is made. The result
/// equals [`assemble`]'s over every fact (the publisher checks it in debug
/// builds).
pub fn reassemble(
    prev: Bundle,
    facts: &FactMap,
    touched: &Touched,
    issued_at: DateTime<Utc>,
) -> Result<(Bundle, Box<Delta>)> {
    if touched.servers_come_or_go(&prev, facts) {
        return Err(Error::Internal(
            "a server came or went: the bundle is assembled whole, not reassembled".to_owned(),
        ));
    }
    let Touched {
        servers,
        groups,
        users,
        rules,
        clients,
        agents,
        delegations,
    } = touched;
    let delta = Delta {
        format: DELTA_FORMAT_V1.to_owned(),
        base_revision: prev.revision,
        base_sha256: String::new(),
        revision: u64::try_from(facts.revision).unwrap_or_default(),
        issued_at: issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        sha256: String::new(),
        servers: changes_for(servers, &prev.servers, |s| &s.id, |id| facts.server(id))?,
        groups: changes_for(groups, &prev.groups, |g| &g.id, |id| facts.group(id))?,
        principals: changes_for(users, &prev.principals, |p| &p.id, |id| facts.principal(id))?,
        // A grant's rule goes in `agent_rules` when it names an agent.
        rules: changes_for(
            rules,
            &prev.rules,
            |r| &r.id,
            |id| Ok(facts.rule(id)?.filter(|r| !names_agent(r))),
        )?,
        agent_rules: changes_for(
            rules,
            &prev.agent_rules,
            |r| &r.id,
            |id| Ok(facts.rule(id)?.filter(names_agent)),
        )?,
        blocked_clients: changes_for(
            clients,
            &prev.blocked_clients,
            |c| &c.client_id,
            |id| facts.blocked_client(id),
        )?,
        agents: changes_for(agents, &prev.agents, |a| &a.id, |id| facts.agent(id))?,
        delegations: changes_for(
            delegations,
            &prev.delegations,
            |d| &d.id,
            |id| facts.delegation(id),
        )?,
    };
    let next = delta
        .apply_owned(prev)
        .map_err(|e| Error::Internal(format!("policy delta: {e}")))?;
    Ok((next, Box::new(delta)))
}

/// Builds the bundle of revision `rev` from the facts valid at it. Callers
/// read [`super::head`] first and pass it, so the bundle is consistent even while
/// newer revisions commit.
pub async fn load_bundle(exec: Exec<'_>, rev: i64, issued_at: DateTime<Utc>) -> Result<Bundle> {
    assemble(&FactMap::load(exec, rev).await?, issued_at)
}

/// The bundle of the facts in `facts` (its revision), `issued_at` being
/// that revision's creation time. Lists are sorted as the format requires,
/// so the result does not depend on the order facts were read in.
pub fn assemble(facts: &FactMap, issued_at: DateTime<Utc>) -> Result<Bundle> {
    let rev = facts.revision;
    let mut servers: BTreeMap<String, Server> = BTreeMap::new();
    let mut tools: Vec<(String, Tool)> = Vec::new();
    let mut groups = Vec::new();
    let mut principals: BTreeMap<String, Principal> = BTreeMap::new();
    let mut members: Vec<(&String, &String)> = Vec::new();
    let mut rules = Vec::new();
    let mut blocked_clients = Vec::new();
    let mut agents = Vec::new();
    let mut delegations = Vec::new();
    for ((kind, k1, k2), value) in &facts.facts {
        macro_rules! fact {
            () => {
                fact_value(kind, k1, k2, value)?
            };
        }
        match kind.as_str() {
            kind::SERVER => {
                let f: ServerFact = fact!();
                servers.insert(
                    k1.clone(),
                    Server {
                        id: k1.clone(),
                        slug: f.slug,
                        resource: f.resource,
                        enabled: f.enabled,
                        tools: Vec::new(),
                    },
                );
            }
            kind::TOOL => {
                let f: ToolFact = fact!();
                tools.push((
                    k1.clone(),
                    Tool {
                        name: k2.clone(),
                        annotations: f.annotations,
                        approved: f.approved,
                        definition_hash: f.definition_hash,
                    },
                ));
            }
            kind::GROUP => groups.push(fact_value::<Group>(kind, k1, k2, value)?),
            kind::USER => {
                let f: UserFact = fact!();
                principals.insert(
                    k1.clone(),
                    Principal {
                        id: k1.clone(),
                        email: f.email,
                        active: f.active,
                        groups: Vec::new(),
                    },
                );
            }
            kind::MEMBER => members.push((k1, k2)),
            kind::GRANT => rules.push(fact_value::<GrantFact>(kind, k1, k2, value)?.rule),
            kind::CLIENT => blocked_clients.push(fact!()),
            kind::AGENT => agents.push(fact!()),
            kind::DELEGATION => delegations.push(fact!()),
            other => return Err(Error::Internal(format!("unknown policy fact kind {other}"))),
        }
    }
    for (server_id, tool) in tools {
        if let Some(s) = servers.get_mut(&server_id) {
            s.tools.push(tool);
        }
    }
    let group_ids: BTreeSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    for (group_id, user_id) in members {
        if let (Some(p), true) = (
            principals.get_mut(user_id),
            group_ids.contains(group_id.as_str()),
        ) {
            p.groups.push(group_id.clone());
        }
    }
    let mut servers: Vec<Server> = servers.into_values().collect();
    for s in &mut servers {
        s.tools.sort_by(|a, b| a.name.cmp(&b.name));
    }
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let mut principals: Vec<Principal> = principals.into_values().collect();
    for p in &mut principals {
        p.groups.sort();
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    let (mut agent_rules, mut rules): (Vec<Rule>, Vec<Rule>) =
        rules.into_iter().partition(names_agent);
    blocked_clients.sort_by(|a: &BlockedClient, b| a.client_id.cmp(&b.client_id));
    agents.sort_by(|a: &Agent, b| a.id.cmp(&b.id));
    // Rules about a server that is gone at this revision match nothing.
    let server_known = |r: &Rule| {
        servers
            .binary_search_by(|s| s.id.as_str().cmp(&r.server))
            .is_ok()
    };
    rules.retain(server_known);
    agent_rules.retain(server_known);
    delegations.sort_by(|a: &Delegation, b| a.id.cmp(&b.id));
    delegations.retain(|d| {
        servers
            .binary_search_by(|s| s.id.as_str().cmp(&d.server))
            .is_ok()
    });
    Ok(Bundle {
        format: FORMAT_V1.to_owned(),
        revision: u64::try_from(rev).unwrap_or_default(),
        issued_at: issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        servers,
        groups,
        principals,
        rules,
        blocked_clients,
        agents,
        agent_rules,
        delegations,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A bundle of `n` people and nothing else.
    fn people(n: usize) -> Bundle {
        let mut bundle = assemble(&FactMap::default(), DateTime::<Utc>::UNIX_EPOCH).unwrap();
        bundle.principals = (0..n)
            .map(|i| Principal {
                id: format!("usr_{i:06}"),
                email: format!("p{i}@corp.example"),
                active: true,
                groups: Vec::new(),
            })
            .collect();
        bundle
    }

    /// `n` changed memberships of one group.
    fn memberships(n: usize) -> BTreeSet<FactKey> {
        (0..n)
            .map(|i| {
                (
                    kind::MEMBER.to_owned(),
                    "grp_1".to_owned(),
                    format!("usr_{i:06}"),
                )
            })
            .collect()
    }

    /// A small company's changes are reassembled up to 5,000 facts; a
    /// large one's up to an eighth of its bundle's entries (a burst of
    /// membership PATCHes at 100,000 people is not assembled whole).
    #[test]
    fn touched_takes_on_changes_up_to_an_eighth_of_the_bundle() {
        let small = people(300);
        assert!(Touched::of(&memberships(5_000), &small).unwrap().is_some());
        assert!(Touched::of(&memberships(5_001), &small).unwrap().is_none());
        let large = people(100_000);
        let touched = Touched::of(&memberships(12_500), &large).unwrap().unwrap();
        assert_eq!(touched.users.len(), 12_500);
        assert!(Touched::of(&memberships(12_501), &large).unwrap().is_none());
    }
}
