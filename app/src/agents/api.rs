//! Server functions of the Agents page. Listing needs any console role;
//! registering, the kill switch and rotating a secret need admin (the
//! domain checks).

use crate::components::PickPage;
use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{AgentId, AgentSummary, DelegationSummary, NewAgentCredential, Page};
use serde::{Deserialize, Serialize};

/// Agents per page.
pub const AGENTS_PAGE: i64 = 50;

/// Agents by name, filtered by `q` (name, id or description).
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/agents/list")]
pub async fn list_agents(
    #[server(default)] q: String,
    #[server(default)] offset: i64,
) -> Result<Page<AgentSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.agents.list(&actor, &q, offset, AGENTS_PAGE).await?)
}

/// The Register agent form, as posted. `owner_kind` is `user` (with
/// `owner_person`: an email, userName or user id) or `group` (with
/// `owner_group`: a group id); `credential` is `client_secret`, `jwks`
/// (with `jwks`) or `jwks_uri` (with `jwks_uri`); `expires_days` empty: no
/// expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentForm {
    pub name: String,
    pub description: String,
    pub owner_kind: String,
    pub owner_person: String,
    pub owner_group: String,
    pub credential: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub expires_days: String,
}

/// Registers an agent from the form (its fields at the top level, see
/// [`AgentForm`]). The secret, if any, is in the answer, once.
/// **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/create")]
pub async fn create_agent(
    #[server(flatten)] form: AgentForm,
) -> Result<NewAgentCredential, AppError> {
    let AgentForm {
        name,
        description,
        owner_kind,
        owner_person,
        owner_group,
        credential,
        jwks,
        jwks_uri,
        expires_days,
    } = form;
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let invalid = |f: &str, m: &str| AppError::from(portcullis_domain::Error::invalid(f, m));
    let owner_id = match owner_kind.as_str() {
        "user" => match svc.access.find_person(&actor, &owner_person).await? {
            Some((id, _)) => id.0,
            None if owner_person.trim().is_empty() => {
                return Err(invalid("owner_id", "enter the owner's email"))
            }
            None => {
                return Err(invalid(
                    "owner_id",
                    "no one in the directory has this email or user name",
                ))
            }
        },
        _ => owner_group,
    };
    let expires_days = match expires_days.trim() {
        "" => None,
        d => Some(d.parse::<i64>().map_err(|_| {
            invalid(
                "expires_days",
                "enter a whole number of days, or leave it empty for no expiry",
            )
        })?),
    };
    let some = |s: String| Some(s).filter(|s| !s.trim().is_empty());
    Ok(svc
        .agents
        .create(
            &actor,
            &portcullis_types::AgentInput {
                name,
                description,
                owner_kind,
                owner_id,
                credential,
                jwks: some(jwks),
                jwks_uri: some(jwks_uri),
                expires_days,
            },
        )
        .await?)
}

/// The kill switch (`enabled: false`) and its undoing.
/// **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/set_enabled")]
pub async fn set_agent_enabled(
    id: AgentId,
    enabled: bool,
    #[server(default)] reason: String,
) -> Result<AgentSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let reason = Some(reason).filter(|r| !r.trim().is_empty());
    Ok(svc
        .agents
        .set_enabled(&actor, &id, enabled, reason.as_deref())
        .await?)
}

/// A new secret for a secret-based agent, in the answer once.
/// **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/rotate_secret")]
pub async fn rotate_agent_secret(id: AgentId) -> Result<NewAgentCredential, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.agents.rotate_secret(&actor, &id).await?)
}

/// New public keys for a key-based agent: `credential` `jwks` (with
/// `jwks`) or `jwks_uri` (with `jwks_uri`). **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/set_keys")]
pub async fn set_agent_keys(
    id: AgentId,
    credential: String,
    #[server(default)] jwks: String,
    #[server(default)] jwks_uri: String,
) -> Result<AgentSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let some = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
    Ok(svc
        .agents
        .set_keys(
            &actor,
            &id,
            &credential,
            some(&jwks).as_deref(),
            some(&jwks_uri).as_deref(),
        )
        .await?)
}

/// Agents whose name, id or description contains `q`, the first 20: the
/// grant form's agent picker. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/agents/pick")]
pub async fn pick_agents(#[server(default)] q: String) -> Result<PickPage, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let page = svc.agents.list(&actor, &q, 0, 20).await?;
    Ok(PickPage {
        total: page.total,
        options: page
            .items
            .into_iter()
            .map(|a| crate::components::PickOption {
                detail: format!("Agent · owned by {}", a.owner.display),
                id: a.id.0,
                label: a.name,
            })
            .collect(),
    })
}

/// Whom agent `id` may act for, per server. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/agents/delegations")]
pub async fn list_delegations(id: AgentId) -> Result<Vec<DelegationSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.agents.delegations(&actor, &id).await?)
}

/// The Delegate form, as posted: `subject_kind` `user` (with `person`, an
/// email or user name), `group` (with `group`, its id) or `everyone`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationForm {
    pub id: String,
    pub subject_kind: String,
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub group: String,
    pub server_id: String,
    #[serde(default)]
    pub reason: String,
}

/// Lets the agent act for the people the form names on one server.
/// **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/delegate")]
pub async fn delegate_agent(
    #[server(flatten)] form: DelegationForm,
) -> Result<DelegationSummary, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let subject_id = match form.subject_kind.as_str() {
        "user" => match svc.access.find_person(&actor, &form.person).await? {
            Some((id, _)) => Some(id.0),
            None => {
                return Err(AppError::from(portcullis_domain::Error::invalid(
                    "subject_id",
                    if form.person.trim().is_empty() {
                        "enter the person's email"
                    } else {
                        "no one in the directory has this email or user name"
                    },
                )))
            }
        },
        "group" => Some(form.group).filter(|g| !g.trim().is_empty()),
        _ => None,
    };
    Ok(svc
        .agents
        .delegate(
            &actor,
            &AgentId::from(form.id),
            &portcullis_types::DelegationInput {
                subject_kind: form.subject_kind,
                subject_id,
                server_id: form.server_id,
                reason: form.reason,
            },
        )
        .await?)
}

/// Ends a delegation. **Permission:** `AgentsManage`.
#[server(endpoint = "console/agents/undelegate")]
pub async fn undelegate_agent(id: AgentId, delegation: String) -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.agents.undelegate(&actor, &id, &delegation).await?)
}
