//! The policy facts valid at one revision, in memory ([`FactMap`]), and
//! the bundle entries read from them one at a time (what
//! [`super::reassemble`] recomputes).

use super::model::{from_json, kind, GrantFact, ServerFact, ToolFact, UserFact};
use super::store;
use crate::db::Exec;
use crate::error::{Error, Result};
use portcullis_policy::bundle::{
    Agent, BlockedClient, Delegation, Group, Principal, Rule, Server, Tool,
};
use std::collections::{BTreeMap, BTreeSet};

/// The policy facts valid at one revision, keyed by (kind, k1, k2), with
/// their JSON values: what a bundle is assembled from ([`super::assemble`]).
/// The publisher keeps the map of the revision it serves and moves it
/// forward with [`FactMap::advance`] (reading only the facts that changed)
/// instead of reloading every fact for each new revision.
#[derive(Debug, Clone, Default)]
pub struct FactMap {
    pub(super) revision: i64,
    pub(super) facts: BTreeMap<FactKey, String>,
    /// (person, group) of every membership fact: a person's groups.
    members_by_user: BTreeSet<(String, String)>,
}

/// A fact's key: (kind, k1, k2).
pub type FactKey = (String, String, String);

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

    fn remove(&mut self, key: &FactKey) {
        if self.facts.remove(key).is_some() && key.0 == kind::MEMBER {
            self.members_by_user.remove(&(key.2.clone(), key.1.clone()));
        }
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

    /// The revision the map holds the facts of.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Moves the map from its revision to `rev` (≥ it) by reading the facts
    /// opened or closed in between: a fact closed in (from, rev] leaves, a
    /// fact opened in (from, rev] and still valid at `rev` enters. Facts of
    /// revisions above `rev` (committed meanwhile) are not read. Returns the
    /// keys of the facts that changed. On error the map is unchanged.
    pub async fn advance(&mut self, exec: Exec<'_>, rev: i64) -> Result<BTreeSet<FactKey>> {
        let from = self.revision;
        if rev < from {
            return Err(Error::Internal(format!(
                "policy facts cannot move back from revision {from} to {rev}"
            )));
        }
        if rev == from {
            return Ok(BTreeSet::new());
        }
        let rows = store::facts_changed(exec, from, rev).await?;
        let (valid, gone): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r.rev_from <= rev && r.rev_to.is_none_or(|to| to > rev));
        let mut changed = BTreeSet::new();
        for r in gone {
            let key = (r.kind, r.k1, r.k2);
            self.remove(&key);
            changed.insert(key);
        }
        for r in valid {
            let key = (r.kind, r.k1, r.k2);
            changed.insert(key.clone());
            self.insert(key, r.value);
        }
        self.revision = rev;
        Ok(changed)
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
