//! The views that explain access, all evaluated by the policy engine over
//! a compiled revision: the simulator, a person's access, a server's
//! callers and its access matrix, and the person look-up their forms use.

use super::model::{effect_name, explain_reason, via};
use super::{store, AccessService};
use crate::actor::{Actor, Permission};
use crate::error::{Error, Result};
use portcullis_policy::DelegationDenial;
use portcullis_types::{
    AccessMatrix, DelegatedSimulation, MatchedRule, MatchedVia, MatrixRow, Page, PersonId,
    ServerId, ServerRef, SimulationResult, ToolCaller, ToolName, UserToolAccess,
};
use std::collections::HashMap;

/// The bundle id of `server` (an id or a slug); itself when unknown.
fn server_id_of<'a>(p: &'a portcullis_policy::Policy, server: &'a str) -> &'a str {
    p.servers()
        .iter()
        .find(|s| s.id == server || s.slug == server)
        .map(|s| s.id.as_str())
        .unwrap_or(server)
}

impl AccessService {
    /// "Can this person call this tool on this server?", at the current
    /// revision or revision `rev`, at the current time, with every rule that
    /// matched and how. **Permission:** `ConsoleRead`.
    pub async fn simulate(
        &self,
        actor: &Actor,
        principal: &PersonId,
        server: &ServerRef,
        tool: &ToolName,
        rev: Option<i64>,
    ) -> Result<SimulationResult> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.at(rev).await?;
        let p = &snap.policy;
        let server_id = server_id_of(p, server.as_str());
        let ex = p.explain(
            principal.as_str(),
            server_id,
            tool.as_str(),
            self.now().timestamp(),
        );
        let deciding = ex.decision.reason.rule();
        Ok(SimulationResult {
            revision: snap.revision,
            allowed: ex.decision.allowed,
            reason: ex.decision.reason.code().to_owned(),
            explanation: explain_reason(ex.decision.reason).to_owned(),
            rules: ex
                .matches
                .iter()
                .map(|m| MatchedRule {
                    grant_id: m.rule_id.to_owned(),
                    effect: effect_name(m.effect).to_owned(),
                    via: via(p, m.matched_by),
                    expired: m.expired,
                    deciding: Some(m.rule) == deciding,
                })
                .collect(),
        })
    }

    /// "May `agent` call `tool` for `person`?" (a delegated call, as a
    /// gateway decides a token whose `act` names the agent): the person,
    /// the agent's own grants and a delegation must all allow it.
    /// **Permission:** `ConsoleRead`.
    pub async fn simulate_delegated(
        &self,
        actor: &Actor,
        person: &PersonId,
        agent: &str,
        server: &ServerRef,
        tool: &ToolName,
        rev: Option<i64>,
    ) -> Result<DelegatedSimulation> {
        let agent_result = self
            .simulate(actor, &PersonId::from(agent.to_owned()), server, tool, rev)
            .await?;
        let snap = self.at(rev).await?;
        let p = &snap.policy;
        let server_id = server_id_of(p, server.as_str());
        let d = p.decide_delegated(
            person.as_str(),
            &[agent],
            server_id,
            tool.as_str(),
            self.now().timestamp(),
        );
        let explanation = match d.denial {
            None => "Allowed: the person may call it, the agent may by its own grants, and a delegation lets the agent act for the person on this server.",
            Some(DelegationDenial::Person(_)) => "Denied: the person may not call it themselves, so no agent may call it for them.",
            Some(DelegationDenial::Agent { .. }) => "Denied: the agent's own grants do not allow it (an agent acting for someone needs a grant of its own too).",
            Some(DelegationDenial::NotDelegated { .. }) => "Denied: no delegation lets this agent act for this person on this server.",
            Some(DelegationDenial::ChainLength) => "Denied: the delegation chain is too long.",
        };
        Ok(DelegatedSimulation {
            allowed: d.allowed,
            reason: d.denial.map_or("allowed", |x| x.code()).to_owned(),
            explanation: explanation.to_owned(),
            delegated: p.delegated(person.as_str(), agent, server_id),
            agent: agent_result,
        })
    }

    /// Every tool of every server with whether this person may call it and
    /// why, at the current revision. **Permission:** `ConsoleRead`.
    pub async fn user_access(
        &self,
        actor: &Actor,
        principal: &PersonId,
    ) -> Result<Vec<UserToolAccess>> {
        actor.require(Permission::ConsoleRead)?;
        self.own_access(principal).await
    }

    /// [`AccessService::user_access`] for the person themselves (their My
    /// access page, after the caller checked their session): no console
    /// permission involved.
    pub async fn own_access(&self, principal: &PersonId) -> Result<Vec<UserToolAccess>> {
        let principal = principal.as_str();
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        let mut out = Vec::new();
        for s in p.servers() {
            for t in &s.tools {
                let ex = p.explain(principal, &s.id, &t.name, now);
                let deciding = ex.decision.reason.rule();
                let m = ex.matches.iter().find(|m| Some(m.rule) == deciding);
                out.push(UserToolAccess {
                    server_id: s.id.clone(),
                    server_name: s.slug.clone(),
                    tool: t.name.clone(),
                    effective: portcullis_types::EffectiveAnnotations {
                        read_only: t.annotations.read_only,
                        destructive: t.annotations.destructive,
                        idempotent: t.annotations.idempotent,
                        open_world: t.annotations.open_world,
                    },
                    allowed: ex.decision.allowed,
                    reason: ex.decision.reason.code().to_owned(),
                    via: m.map(|m| via(p, m.matched_by)),
                    grant_id: m.map(|m| m.rule_id.to_owned()),
                });
            }
        }
        Ok(out)
    }

    /// How many people may call each tool of a server now, by tool name.
    /// **Permission:** `ConsoleRead`.
    pub async fn callers_per_tool(
        &self,
        actor: &Actor,
        server: &ServerId,
    ) -> Result<HashMap<String, i64>> {
        actor.require(Permission::ConsoleRead)?;
        let server = server.as_str();
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        Ok(p.tools(server)
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    p.who_can_call(server, &t.name, now).len() as i64,
                )
            })
            .collect())
    }

    /// How many people may call one tool now (the count [`callers`] pages
    /// through, without sorting or explaining anyone).
    /// **Permission:** `ConsoleRead`.
    ///
    /// [`callers`]: AccessService::callers
    pub async fn caller_count(
        &self,
        actor: &Actor,
        server: &ServerId,
        tool: &ToolName,
    ) -> Result<i64> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.current().await?;
        let now = self.now().timestamp();
        Ok(snap
            .policy
            .who_can_call(server.as_str(), tool.as_str(), now)
            .len() as i64)
    }

    /// The people who may call one tool now, by email, those whose email
    /// or id contains `search` (case-insensitively), a page of them with
    /// the grant that decided each and how it reached them, and how many
    /// there are. **Permission:** `ConsoleRead`.
    pub async fn callers(
        &self,
        actor: &Actor,
        server: &ServerId,
        tool: &ToolName,
        search: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<ToolCaller>> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        let (server, tool) = (server.as_str(), tool.as_str());
        let needle = search.trim().to_lowercase();
        let mut people: Vec<_> = p
            .who_can_call(server, tool, now)
            .iter()
            .filter_map(|id| p.principal(id))
            .filter(|x| {
                needle.is_empty()
                    || x.email.to_lowercase().contains(&needle)
                    || x.id.to_lowercase().contains(&needle)
            })
            .collect();
        people.sort_by(|a, b| a.email.cmp(&b.email).then_with(|| a.id.cmp(&b.id)));
        let offset = offset.max(0);
        let limit = limit.clamp(1, crate::audit::MAX_PAGE);
        let items = people
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|x| {
                let ex = p.explain(&x.id, server, tool, now);
                let deciding = ex.decision.reason.rule();
                let m = ex.matches.iter().find(|m| Some(m.rule) == deciding);
                ToolCaller {
                    id: x.id.clone(),
                    email: x.email.clone(),
                    via: m.map_or(MatchedVia::Everyone, |m| via(p, m.matched_by)),
                    grant_id: m.map(|m| m.rule_id.to_owned()).unwrap_or_default(),
                }
            })
            .collect();
        Ok(Page {
            items,
            total: people.len() as i64,
            offset,
            limit,
        })
    }

    /// Groups × tools of a server: how many active members of each group may
    /// call each tool now, then each agent that may call one of them.
    /// Groups and agents with no access to any tool are left out.
    /// **Permission:** `ConsoleRead`.
    pub async fn matrix(&self, actor: &Actor, server: &ServerId) -> Result<AccessMatrix> {
        actor.require(Permission::ConsoleRead)?;
        let server = server.as_str();
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        let tools: Vec<String> = p
            .tools(server)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
        for pr in p.principals().iter().filter(|x| x.active) {
            for g in &pr.groups {
                members.entry(g.as_str()).or_default().push(pr.id.as_str());
            }
        }
        let mut rows = Vec::new();
        for g in p.groups() {
            let ids = members
                .get(g.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let allowed: Vec<i64> = tools
                .iter()
                .map(|t| {
                    ids.iter()
                        .filter(|id| p.decide(id, server, t, now).allowed)
                        .count() as i64
                })
                .collect();
            if allowed.iter().any(|&n| n > 0) {
                rows.push(MatrixRow {
                    group_id: g.id.clone(),
                    group_name: g.name.clone(),
                    members: ids.len() as i64,
                    allowed,
                });
            }
        }
        rows.sort_by(|a, b| {
            a.group_name
                .to_lowercase()
                .cmp(&b.group_name.to_lowercase())
        });
        let mut agents: Vec<MatrixRow> = p
            .agents()
            .iter()
            .map(|a| MatrixRow {
                group_id: a.id.clone(),
                group_name: a.name.clone(),
                members: 1,
                allowed: tools
                    .iter()
                    .map(|t| i64::from(p.decide(&a.id, server, t, now).allowed))
                    .collect(),
            })
            .filter(|row| row.allowed.iter().any(|&n| n > 0))
            .collect();
        agents.sort_by(|a, b| {
            a.group_name
                .to_lowercase()
                .cmp(&b.group_name.to_lowercase())
        });
        Ok(AccessMatrix {
            revision: snap.revision,
            tools,
            groups: rows,
            agents,
        })
    }

    // --- Look-ups for the console's Access pages ---

    /// The directory person an admin typed into a form (the simulator, a
    /// grant for one person): an email, a userName or a user id, matched
    /// case-insensitively; deleted people are not found. Returns
    /// `(id, email or userName)`. The same address in two directories is
    /// ambiguous: `Invalid` on field `person` asks for the user id.
    /// **Permission:** `ConsoleRead`.
    /// Who the simulator asks about: a person ([`Self::find_person`]), or
    /// else an agent by its id or name (case-insensitive). Returns `(id,
    /// label)`; an agent's label is its name followed by "(agent)".
    pub async fn find_principal(
        &self,
        actor: &Actor,
        who: &str,
    ) -> Result<Option<(PersonId, String)>> {
        if let Some(found) = self.find_person(actor, who).await? {
            return Ok(Some(found));
        }
        let who = who.trim();
        Ok(
            store::find_agent(self.core.db.exec(), who, &who.to_lowercase())
                .await?
                .map(|(id, name)| (PersonId::from(id), format!("{name} (agent)"))),
        )
    }

    pub async fn find_person(
        &self,
        actor: &Actor,
        who: &str,
    ) -> Result<Option<(PersonId, String)>> {
        actor.require(Permission::ConsoleRead)?;
        let who = who.trim();
        if who.is_empty() {
            return Ok(None);
        }
        let mut rows = store::find_people(self.core.db.exec(), who, &who.to_lowercase()).await?;
        if let Some(i) = rows.iter().position(|r| r.id == who) {
            let r = rows.swap_remove(i);
            return Ok(Some((r.id.into(), r.label)));
        }
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop().map(|r| (r.id.into(), r.label))),
            _ => Err(Error::invalid(
                "person",
                "several people in different directories have this address; use the user id",
            )),
        }
    }
}
