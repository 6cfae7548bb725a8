//! Agents: headless workloads (a nightly triage bot, a CI job) that are
//! principals of their own, not people borrowing someone's token.
//!
//! An admin registers an agent with an owner (the person or group who
//! answers for it), a description and a credential: a client secret
//! (shown once, rotatable) or `private_key_jwt` keys (a JWKS, or a JWKS
//! URL fetched through the SSRF guard). The agent is an OAuth client
//! (read as kind `agent`) with the same id (`agt_…`), so the token endpoint
//! authenticates it like any client; it gets tokens with the
//! `client_credentials` grant only ([`crate::oauth`]), and its tokens'
//! `sub` is its id.
//!
//! Agents are grant subjects (`GrantSubject::Agent`): `everyone` and group
//! grants never reach them. Each agent is a policy fact, so the bundle
//! lists it (`agents`, active or not) and gateways decide its calls.
//! Disabling an agent is its kill switch: no more tokens, introspection
//! calls the ones out there inactive, and the next bundle lists it
//! inactive, so gateways deny it. An agent past its expiry gets no token,
//! and the housekeeping job ([`AgentService::retire_expired`], every ten
//! minutes) lists it inactive in a new revision for the tokens still live.
//!
//! An agent may also act for people an admin delegated to it
//! (`delegations`): it exchanges a person's token for one whose `act`
//! names it ([`crate::oauth`]'s token exchange), and gateways allow such a
//! call only when the person, the agent and the delegation all allow it.
//!
//! This file is the service; `delegations` the delegation policy; `model`
//! checks input, `store` holds the SQL.

mod delegations;
mod model;
pub(crate) mod store;

pub use model::{check_jwks_uri, status_at, Credential, NewAgent, OwnerKind, MAX_EXPIRES_DAYS};

use crate::actor::{Actor, Permission};
use crate::audit::{self, like_escape, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::error::{Error, Result};
use crate::oauth::model::{AuthMethod, ClientKind, ClientStatus};
use crate::oauth::{store as oauth_store, OAuthService};
use crate::revisions::{self, Change};
use crate::Core;
use chrono::{DateTime, Utc};
use portcullis_types::{AgentId, AgentInput, AgentSummary, NewAgentCredential, Page};
use serde_json::json;
use std::sync::Arc;

/// Agents and their credentials.
#[derive(Clone)]
pub struct AgentService {
    pub(crate) core: Arc<Core>,
    /// To drop a changed credential from the token endpoint's cache.
    pub(crate) oauth: OAuthService,
}

impl AgentService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    async fn summary(&self, id: &str) -> Result<AgentSummary> {
        store::get(self.core.db.exec(), id)
            .await?
            .ok_or(Error::NotFound("agent"))?
            .into_summary(self.now())
    }

    /// Registers an agent. A secret-based agent's secret is returned here
    /// only. Audited as `agent.created`; makes a policy revision (the agent
    /// joins the bundle). **Permission:** `AgentsManage`.
    pub async fn create(&self, actor: &Actor, input: &AgentInput) -> Result<NewAgentCredential> {
        actor.require(Permission::AgentsManage)?;
        let now = self.now();
        let agent = NewAgent::parse(input, now)?;
        if !store::owner_exists(
            self.core.db.exec(),
            agent.owner_kind.as_str(),
            &agent.owner_id,
        )
        .await?
        {
            return Err(Error::invalid(
                "owner_id",
                match agent.owner_kind {
                    OwnerKind::User => "choose a person from the directory",
                    OwnerKind::Group => "choose a group from the directory",
                },
            ));
        }
        let id = new_id("agt");
        let secret = (agent.credential == Credential::Secret).then(new_secret);
        let (auth_method, jwks, jwks_uri) = match &agent.credential {
            Credential::Secret => (AuthMethod::ClientSecretBasic, None, None),
            Credential::Jwks(j) => (AuthMethod::PrivateKeyJwt, Some(j.as_str()), None),
            Credential::JwksUri(u) => (AuthMethod::PrivateKeyJwt, None, Some(u.as_str())),
        };
        let mut tx = self.core.db.begin().await?;
        if store::name_taken(&mut tx, &agent.name).await? {
            return Err(Error::Conflict {
                field: "name".to_owned(),
                message: format!("an agent is already named {}", agent.name),
            });
        }
        oauth_store::insert_client(
            &mut tx,
            &oauth_store::NewClient {
                id: &id,
                // Stored as pre-registered, read as an agent (its agents
                // row tells it apart; see the 0013 migration).
                kind: ClientKind::Preregistered,
                name: &agent.name,
                client_uri: None,
                software_id: None,
                software_version: None,
                redirect_uris: &[],
                auth_method,
                secret_hash: secret.as_deref().map(hash_secret).as_deref(),
                status: ClientStatus::Active,
                registered_ip: None,
                created_by: &actor.display,
                jwks,
                jwks_uri,
            },
            now,
        )
        .await?;
        store::insert(
            &mut tx,
            &store::InsertAgent {
                id: &id,
                name: &agent.name,
                description: &agent.description,
                owner_kind: agent.owner_kind.as_str(),
                owner_id: &agent.owner_id,
                expires_at: agent.expires_at,
                created_by: &actor.display,
                at: now,
            },
        )
        .await?;
        let mut change = Change::new(
            actor,
            "agents",
            format!("Agent registered: {}", agent.name),
            now,
        );
        revisions::sync_agent(&mut tx, &mut change, &id, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("agent.created")
                .target(Target::new("agent", &id, &agent.name))
                .details(json!({
                    "owner": { "kind": agent.owner_kind.as_str(), "id": agent.owner_id },
                    "credential": input.credential.trim(),
                    "jwks_uri": jwks_uri,
                    "expires_at": agent.expires_at,
                    "revision": change.revision(),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(NewAgentCredential {
            agent: self.summary(&id).await?,
            client_secret: secret,
        })
    }

    /// Agents by name, filtered by a search on name, id or description.
    /// **Permission:** `ConsoleRead`.
    pub async fn list(
        &self,
        actor: &Actor,
        q: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<AgentSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let pattern = format!("%{}%", like_escape(&q.trim().to_lowercase()));
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        let now = self.now();
        let items = store::list(self.core.db.exec(), &pattern, offset, limit)
            .await?
            .into_iter()
            .map(|r| r.into_summary(now))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: store::count(self.core.db.exec(), &pattern).await?,
            offset,
            limit,
        })
    }

    /// One agent. **Permission:** `ConsoleRead`.
    pub async fn get(&self, actor: &Actor, id: &AgentId) -> Result<AgentSummary> {
        actor.require(Permission::ConsoleRead)?;
        self.summary(id.as_str()).await
    }

    /// The kill switch (`enabled: false`) and its undoing. Disabling stops
    /// token issuance at once, makes introspection call the agent's tokens
    /// inactive, and lists the agent inactive in a new policy revision so
    /// gateways deny it. Audited as `agent.disabled` / `agent.enabled`.
    /// **Permission:** `AgentsManage`.
    pub async fn set_enabled(
        &self,
        actor: &Actor,
        id: &AgentId,
        enabled: bool,
        reason: Option<&str>,
    ) -> Result<AgentSummary> {
        actor.require(Permission::AgentsManage)?;
        let before = self.summary(id.as_str()).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.chars().count() > 500) {
            return Err(Error::invalid("reason", "at most 500 characters"));
        }
        let now = self.now();
        let (status, action, verb) = if enabled {
            ("active", "agent.enabled", "enabled")
        } else {
            ("disabled", "agent.disabled", "disabled")
        };
        let mut tx = self.core.db.begin().await?;
        if store::set_status(&mut tx, id.as_str(), status, reason, now).await? {
            let mut change = Change::new(
                actor,
                "agents",
                format!("Agent {verb}: {}", before.name),
                now,
            );
            revisions::sync_agent(&mut tx, &mut change, id.as_str(), now).await?;
            audit::append(
                &mut tx,
                now,
                actor,
                NewEvent::success(action)
                    .target(Target::new("agent", id.as_str(), &before.name))
                    .details(json!({ "reason": reason, "revision": change.revision() })),
            )
            .await?;
        }
        tx.commit().await?;
        self.oauth.forget_clients([id.as_str()]);
        self.summary(id.as_str()).await
    }

    /// New public keys for a key-based agent (`credential` `jwks` with
    /// `jwks`, or `jwks_uri` with `jwks_uri`): assertions signed with the
    /// old keys stop at once (on other replicas within seconds). Audited
    /// as `agent.keys_replaced`. **Permission:** `AgentsManage`.
    pub async fn set_keys(
        &self,
        actor: &Actor,
        id: &AgentId,
        credential: &str,
        jwks: Option<&str>,
        jwks_uri: Option<&str>,
    ) -> Result<AgentSummary> {
        actor.require(Permission::AgentsManage)?;
        let before = self.summary(id.as_str()).await?;
        let mut errors = Vec::new();
        let (jwks, jwks_uri) = match Credential::parse(credential, jwks, jwks_uri, &mut errors) {
            Some(Credential::Jwks(j)) => (Some(j), None),
            Some(Credential::JwksUri(u)) => (None, Some(u)),
            Some(Credential::Secret) => {
                return Err(Error::invalid(
                    "credential",
                    "use jwks or jwks_uri: an agent keeps the kind of credential it was registered with",
                ))
            }
            None => return Err(Error::Invalid(errors)),
        };
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if !store::set_keys(
            &mut tx,
            id.as_str(),
            jwks.as_deref(),
            jwks_uri.as_deref(),
            now,
        )
        .await?
        {
            return Err(Error::invalid(
                "credential",
                "this agent signs in with a secret; rotate the secret instead",
            ));
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("agent.keys_replaced")
                .target(Target::new("agent", id.as_str(), &before.name))
                .details(json!({ "credential": credential.trim(), "jwks_uri": jwks_uri })),
        )
        .await?;
        tx.commit().await?;
        self.oauth.forget_clients([id.as_str()]);
        self.oauth.forget_keys(id.as_str());
        self.summary(id.as_str()).await
    }

    /// Lists the agents that expired as inactive in a new policy revision,
    /// so gateways deny the tokens they still hold (no new token is issued
    /// past the expiry anyway); the housekeeping job runs it every ten
    /// minutes. Audited as `agent.expired`. Returns how many.
    pub async fn retire_expired(&self) -> Result<u64> {
        let now = self.now();
        let due = store::expired_but_listed_active(self.core.db.exec(), now, 500).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let actor = Actor::system("agent expiry");
        let mut tx = self.core.db.begin().await?;
        let mut change = Change::new(
            &actor,
            "agents",
            format!("{} agent(s) expired", due.len()),
            now,
        );
        for (id, name) in &due {
            revisions::sync_agent(&mut tx, &mut change, id, now).await?;
            audit::append(
                &mut tx,
                now,
                &actor,
                NewEvent::success("agent.expired").target(Target::new("agent", id, name)),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(due.len() as u64)
    }

    /// A new secret for a secret-based agent; the old one stops working at
    /// once (on other replicas within seconds). Audited as
    /// `agent.secret_rotated`. **Permission:** `AgentsManage`.
    pub async fn rotate_secret(&self, actor: &Actor, id: &AgentId) -> Result<NewAgentCredential> {
        actor.require(Permission::AgentsManage)?;
        let before = self.summary(id.as_str()).await?;
        let now = self.now();
        let secret = new_secret();
        let mut tx = self.core.db.begin().await?;
        if !store::set_secret(&mut tx, id.as_str(), &hash_secret(&secret), now).await? {
            return Err(Error::invalid(
                "credential",
                "this agent signs in with its keys (private_key_jwt); it has no secret to rotate",
            ));
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("agent.secret_rotated").target(Target::new(
                "agent",
                id.as_str(),
                &before.name,
            )),
        )
        .await?;
        tx.commit().await?;
        self.oauth.forget_clients([id.as_str()]);
        Ok(NewAgentCredential {
            agent: self.summary(id.as_str()).await?,
            client_secret: Some(secret),
        })
    }
}
