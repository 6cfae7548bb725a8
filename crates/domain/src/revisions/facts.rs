//! The policy facts valid at one revision, in memory ([`FactMap`]), and
//! the bundle entries read from them one at a time (what
//! [`super::reassemble`] recomputes).

use super::bundle::Touched;
use super::model::{from_json, kind, GrantFact, ServerFact, ToolFact, UserFact};
use super::store;
use crate::db::{Db, Exec};
use crate::error::Result;
use portcullis_policy::bundle::{
    Agent, BlockedClient, Delegation, Group, Principal, Rule, Server, Tool,
};
use std::collections::{BTreeMap, BTreeSet};

/// The policy facts valid at one revision, keyed by (kind, k1, k2), with
/// their JSON values: what a bundle is assembled from ([`super::assemble`]).
/// Either every fact ([`FactMap::load`], for a whole bundle, then dropped)
/// or only those a change touches ([`FactMap::load_touched`]): the
/// publisher keeps no map between revisions.
#[derive(Debug, Clone, Default)]
pub struct FactMap {
    pub(super) revision: i64,
    pub(super) facts: BTreeMap<FactKey, String>,
    /// (person, group) of every membership fact: a person's groups.
    members_by_user: BTreeSet<(String, String)>,
}

/// A fact's key: (kind, k1, k2).
pub type FactKey = (String, String, String);

/// The ids of `set`, borrowed.
fn ids(set: &BTreeSet<String>) -> Vec<&str> {
    set.iter().map(String::as_str).collect()
}

/// The keys of the facts opened or closed in revisions (`from`, `rev`]:
/// what changed from the bundle of `from` to the bundle of `rev` (facts of
/// revisions above `rev`, committed meanwhile, are not read).
pub async fn changed_keys(exec: Exec<'_>, from: i64, rev: i64) -> Result<BTreeSet<FactKey>> {
    Ok(store::keys_changed(exec, from, rev)
        .await?
        .into_iter()
        .map(|r| (r.kind, r.k1, r.k2))
        .collect())
}

impl FactMap {
    /// Every fact valid at `rev`.
    pub async fn load(exec: Exec<'_>, rev: i64) -> Result<Self> {
        let rows = store::facts_at(exec, rev).await?;
        let facts: BTreeMap<FactKey, String> = rows
            .into_iter()
            .map(|r| ((r.kind, r.k1, r.k2), r.value))
            .collect();
        let members_by_user = facts
            .keys()
            .filter(|(kind, _, _)| kind == kind::MEMBER)
            .map(|(_, group, user)| (user.clone(), group.clone()))
            .collect();
        Ok(Self {
            revision: rev,
            facts,
            members_by_user,
        })
    }

    fn insert(&mut self, key: FactKey, value: String) {
        if key.0 == kind::MEMBER {
            self.members_by_user.insert((key.2.clone(), key.1.clone()));
        }
        self.facts.insert(key, value);
    }

    /// The facts of `kind` whose `k1` is `k1`, in `k2` order.
    pub(super) fn family<'a>(
        &'a self,
        kind: &'a str,
        k1: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a String)> + 'a {
        self.facts
            .range((kind.to_owned(), k1.to_owned(), String::new())..)
            .take_while(move |((k, a, _), _)| k == kind && a == k1)
            .map(|((_, _, b), v)| (b.as_str(), v))
    }

    /// The value of the single-valued fact (`kind`, `k1`, "").
    pub(super) fn one(&self, kind: &str, k1: &str) -> Option<&String> {
        self.facts
            .get(&(kind.to_owned(), k1.to_owned(), String::new()))
    }

    /// How many facts the map holds.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// Whether the map holds no fact.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// The revision the map holds the facts of.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The facts valid at `rev` that the entries in `touched` are made of:
    /// enough for [`super::reassemble`] to recompute those entries, read
    /// by key (a few rows per touched entry, however large the company).
    /// The current members of every touched group join `touched.users`.
    pub async fn load_touched(db: &Db, rev: i64, touched: &mut Touched) -> Result<Self> {
        let mut map = Self {
            revision: rev,
            ..Self::default()
        };
        let mut rows = Vec::new();
        // A server with its tools.
        let servers = ids(&touched.servers);
        rows.extend(store::facts_of_at(db, kind::SERVER, &servers, rev).await?);
        rows.extend(store::facts_of_at(db, kind::TOOL, &servers, rev).await?);
        // A group, and its members now (whose entries name it).
        let groups = ids(&touched.groups);
        rows.extend(store::facts_of_at(db, kind::GROUP, &groups, rev).await?);
        for r in store::facts_of_at(db, kind::MEMBER, &groups, rev).await? {
            touched.users.insert(r.k2.clone());
            rows.push(r);
        }
        // A rule, and whether its server exists.
        let grants = store::facts_of_at(db, kind::GRANT, &ids(&touched.rules), rev).await?;
        let mut rule_servers = BTreeSet::new();
        for r in &grants {
            rule_servers.insert(from_json::<GrantFact>(&r.value)?.rule.server);
        }
        rows.extend(grants);
        let rule_servers: Vec<&str> = rule_servers
            .iter()
            .map(String::as_str)
            .filter(|s| !touched.servers.contains(*s))
            .collect();
        rows.extend(store::facts_of_at(db, kind::SERVER, &rule_servers, rev).await?);
        // A person, their memberships, and which of those groups exist.
        let users = ids(&touched.users);
        rows.extend(store::facts_of_at(db, kind::USER, &users, rev).await?);
        let memberships = store::memberships_at(db, &users, rev).await?;
        let their_groups: BTreeSet<&str> = memberships
            .iter()
            .map(|r| r.k1.as_str())
            .filter(|g| !touched.groups.contains(*g))
            .collect();
        let their_groups: Vec<&str> = their_groups.into_iter().collect();
        rows.extend(store::facts_of_at(db, kind::GROUP, &their_groups, rev).await?);
        rows.extend(memberships);
        // Entries made of one fact each.
        rows.extend(store::facts_of_at(db, kind::CLIENT, &ids(&touched.clients), rev).await?);
        rows.extend(store::facts_of_at(db, kind::AGENT, &ids(&touched.agents), rev).await?);
        rows.extend(
            store::facts_of_at(db, kind::DELEGATION, &ids(&touched.delegations), rev).await?,
        );
        for r in rows {
            map.insert((r.kind, r.k1, r.k2), r.value);
        }
        Ok(map)
    }

    /// The server `id` as the bundle carries it (with its tools, by name).
    pub(super) fn server(&self, id: &str) -> Result<Option<Server>> {
        let Some(value) = self.one(kind::SERVER, id) else {
            return Ok(None);
        };
        let f: ServerFact = from_json(value)?;
        let tools = self
            .family(kind::TOOL, id)
            .map(|(name, value)| {
                let t: ToolFact = from_json(value)?;
                Ok(Tool {
                    name: name.to_owned(),
                    annotations: t.annotations,
                    approved: t.approved,
                    definition_hash: t.definition_hash,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Server {
            id: id.to_owned(),
            slug: f.slug,
            resource: f.resource,
            enabled: f.enabled,
            tools,
        }))
    }

    pub(super) fn group(&self, id: &str) -> Result<Option<Group>> {
        self.one(kind::GROUP, id).map(|v| from_json(v)).transpose()
    }

    /// The person `id` with the groups (that exist) they belong to.
    pub(super) fn principal(&self, id: &str) -> Result<Option<Principal>> {
        let Some(value) = self.one(kind::USER, id) else {
            return Ok(None);
        };
        let f: UserFact = from_json(value)?;
        let groups = self
            .members_by_user
            .range((id.to_owned(), String::new())..)
            .take_while(|(user, _)| user == id)
            .filter(|(_, group)| self.one(kind::GROUP, group).is_some())
            .map(|(_, group)| group.clone())
            .collect();
        Ok(Some(Principal {
            id: id.to_owned(),
            email: f.email,
            active: f.active,
            groups,
        }))
    }

    /// The blocked client `id`, if it is blocked at this revision.
    pub(super) fn blocked_client(&self, id: &str) -> Result<Option<BlockedClient>> {
        self.one(kind::CLIENT, id).map(|v| from_json(v)).transpose()
    }

    /// The delegation `id` as the bundle carries it.
    pub(super) fn delegation(&self, id: &str) -> Result<Option<Delegation>> {
        self.one(kind::DELEGATION, id)
            .map(|v| from_json(v))
            .transpose()
    }

    /// The agent `id` as the bundle carries it.
    pub(super) fn agent(&self, id: &str) -> Result<Option<Agent>> {
        self.one(kind::AGENT, id).map(|v| from_json(v)).transpose()
    }

    /// The rule of grant `id`, if its server exists.
    pub(super) fn rule(&self, id: &str) -> Result<Option<Rule>> {
        let Some(value) = self.one(kind::GRANT, id) else {
            return Ok(None);
        };
        let rule = from_json::<GrantFact>(value)?.rule;
        Ok(self
            .one(kind::SERVER, &rule.server)
            .is_some()
            .then_some(rule))
    }
}
