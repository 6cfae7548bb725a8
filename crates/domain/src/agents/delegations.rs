//! Delegations: which agent may act for whom (a person, a group's people,
//! everyone) on which server. An agent that holds a person's token may
//! exchange it for one naming itself as actor (RFC 8693, `act`) only when a
//! delegation covers that person there ([`crate::oauth`]'s token
//! exchange), and gateways check the same at every call from the bundle's
//! `delegations` (`Policy::decide_delegated`): the person, the agent and
//! the delegation must all allow it. Each delegation is a policy fact, so
//! adding or removing one makes a revision.

use super::{store, AgentService};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::revisions::{self, Change};
use portcullis_types::FieldError;
use portcullis_types::{AgentId, DelegationInput, DelegationSummary};
use serde_json::json;

impl AgentService {
    /// Lets agent `id` act for the people `input` names on its server.
    /// Audited as `agent.delegation.created`; makes a revision.
    /// **Permission:** `AgentsManage`.
    pub async fn delegate(
        &self,
        actor: &Actor,
        id: &AgentId,
        input: &DelegationInput,
    ) -> Result<DelegationSummary> {
        actor.require(Permission::AgentsManage)?;
        let agent = self.summary(id.as_str()).await?;
        let mut errors = Vec::new();
        let kind = input.subject_kind.trim();
        let subject_id = input
            .subject_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let reason = input.reason.trim();
        if reason.chars().count() > 500 {
            errors.push(FieldError::new("reason", "at most 500 characters"));
        }
        match (kind, subject_id) {
            ("everyone", None) => {}
            ("everyone", Some(_)) => {
                errors.push(FieldError::new("subject_id", "leave it empty for everyone"))
            }
            ("user" | "group", None) => errors.push(FieldError::new(
                "subject_id",
                if kind == "user" {
                    "choose the person"
                } else {
                    "choose the group"
                },
            )),
            ("user" | "group", Some(s)) => {
                if !store::owner_exists(self.core.db.exec(), kind, s).await? {
                    errors.push(FieldError::new(
                        "subject_id",
                        if kind == "user" {
                            "no such person in a directory"
                        } else {
                            "no such group"
                        },
                    ));
                }
            }
            _ => errors.push(FieldError::new(
                "subject_kind",
                "use user, group or everyone",
            )),
        }
        let server = store::server_name(self.core.db.exec(), input.server_id.trim()).await?;
        if server.is_none() {
            errors.push(FieldError::new(
                "server_id",
                "no such server in the catalog",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let server_id = input.server_id.trim();
        let now = self.now();
        let delegation = new_id("dlg");
        let mut tx = self.core.db.begin().await?;
        if store::delegation_exists(tx.exec(), id.as_str(), kind, subject_id, server_id).await? {
            return Err(Error::Conflict {
                field: "subject_id".into(),
                message: "this agent may already act for them on this server".into(),
            });
        }
        store::insert_delegation(
            &mut tx,
            &store::NewDelegation {
                id: &delegation,
                agent_id: id.as_str(),
                subject_kind: kind,
                subject_id,
                server_id,
                reason,
                created_by: &actor.display,
            },
            now,
        )
        .await?;
        let mut change = Change::new(
            actor,
            "agents",
            format!("Delegation to {}", agent.name),
            now,
        );
        revisions::sync_delegation(&mut tx, &mut change, &delegation).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("agent.delegation.created")
                .target(Target::new("agent", id.as_str(), &agent.name))
                .details(json!({
                    "delegation": delegation,
                    "subject_kind": kind,
                    "subject_id": subject_id,
                    "server": server_id,
                    "reason": reason,
                    "revision": change.revision(),
                })),
        )
        .await?;
        tx.commit().await?;
        store::delegation(self.core.db.exec(), &delegation)
            .await?
            .ok_or_else(|| Error::Internal("the delegation just written is missing".into()))
    }

    /// The delegations of agent `id`. **Permission:** `ConsoleRead`.
    pub async fn delegations(&self, actor: &Actor, id: &AgentId) -> Result<Vec<DelegationSummary>> {
        actor.require(Permission::ConsoleRead)?;
        self.summary(id.as_str()).await?;
        store::delegations_of(self.core.db.exec(), id.as_str()).await
    }

    /// Ends delegation `delegation` of agent `id`: its delegated tokens are
    /// refused at the next revision. Audited as `agent.delegation.removed`.
    /// **Permission:** `AgentsManage`.
    pub async fn undelegate(&self, actor: &Actor, id: &AgentId, delegation: &str) -> Result<()> {
        actor.require(Permission::AgentsManage)?;
        let agent = self.summary(id.as_str()).await?;
        let Some(before) = store::delegation(self.core.db.exec(), delegation)
            .await?
            .filter(|d| d.agent_id == *id)
        else {
            return Err(Error::NotFound("delegation"));
        };
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if store::delete_delegation(&mut tx, delegation).await? {
            let mut change = Change::new(
                actor,
                "agents",
                format!("Delegation to {} removed", agent.name),
                now,
            );
            revisions::sync_delegation(&mut tx, &mut change, delegation).await?;
            audit::append(
                &mut tx,
                now,
                actor,
                NewEvent::success("agent.delegation.removed")
                    .target(Target::new("agent", id.as_str(), &agent.name))
                    .details(json!({
                        "delegation": delegation,
                        "subject": before.subject_display,
                        "server": before.server_id,
                        "revision": change.revision(),
                    })),
            )
            .await?;
        }
        tx.commit().await
    }
}
