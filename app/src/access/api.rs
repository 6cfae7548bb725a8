//! Server functions for the Access pages and the Access tab of a person.
//! Reads need `ConsoleRead` (every role); creating and revoking grants and
//! rolling back need `AccessManage` (owners and admins). The domain service
//! checks the role.
//!
//! Arguments are flat strings, as an HTML form posts them, so the forms
//! work before hydration and the endpoints are easy to call with curl.
//! Form values are turned into domain inputs here; the service validates
//! them and names the field of every problem.

#[cfg(feature = "ssr")]
use crate::components::PickOption;
use crate::components::PickPage;
use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{
    GrantSummary, Page, RevisionDiff, RevisionSummary, ServerSummary, SimulationResult,
    ToolSummary, UserToolAccess,
};
use serde::{Deserialize, Serialize};

/// Grants per page on Access → Grants.
pub const GRANTS_PAGE: i64 = 50;
/// Revisions per page on Access → Revisions.
pub const REVISIONS_PAGE: i64 = 50;

/// A grant just created and the policy revision it made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantCreated {
    pub id: String,
    pub revision: i64,
}

/// A page of revisions and the current (head) revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionList {
    pub page: Page<RevisionSummary>,
    /// The current revision (0 before the first change).
    pub head: i64,
}

/// A simulator answer with the person it was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    pub person_id: String,
    /// The person's email (or userName).
    pub person: String,
    pub result: SimulationResult,
    /// Asked with an agent acting for the person: (agent id, its name, the
    /// delegated verdict).
    #[serde(default)]
    pub via: Option<(String, String, portcullis_types::DelegatedSimulation)>,
}

/// Maps a domain error to an [`AppError`] (and the response status).
#[cfg(feature = "ssr")]
fn invalid(field: &str, message: &str) -> AppError {
    AppError::from(portcullis_domain::Error::invalid(field, message))
}

/// Grants, newest first, searched by `q` (person, group, server, tool or
/// reason) and filtered by server id. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/grants/list")]
pub async fn list_grants(
    #[server(default)] q: String,
    #[server(default)] server_id: String,
    #[server(default)] offset: i64,
) -> Result<Page<GrantSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let query = portcullis_types::GrantQuery {
        q,
        server_id: Some(server_id).filter(|s| !s.is_empty()),
        subject_id: None,
        offset,
        limit: GRANTS_PAGE,
    };
    Ok(svc.access.list_grants(&actor, &query).await?)
}

/// The New grant form, as posted. `subject_kind` is `everyone`, `group`
/// (with `group_id`) or `person` (with `person`: an email, userName or
/// user id); `target` is `server`, `tools` (with `tools[]`) or
/// `annotation` (with `annotation`); `expires_at` is a `datetime-local`
/// value read in the time zone `tz` (an IANA name; empty: UTC), or empty
/// for no expiry; `include_destructive` is present when ticked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    pub effect: String,
    pub subject_kind: String,
    pub group_id: String,
    pub person: String,
    pub agent_id: String,
    pub server_id: String,
    pub target: String,
    pub tools: Vec<String>,
    pub annotation: String,
    pub include_destructive: Option<String>,
    pub expires_at: String,
    pub tz: String,
    pub reason: String,
}

/// Creates a grant from the New grant form (its fields at the top level of
/// the form, see [`GrantForm`]); returns its id and the policy revision it
/// made. **Permission:** `AccessManage`.
#[server(endpoint = "console/access/grants/create")]
pub async fn create_grant(#[server(flatten)] form: GrantForm) -> Result<GrantCreated, AppError> {
    use portcullis_types::{GrantInput, GrantSubject, GrantTarget};
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let GrantForm {
        effect,
        subject_kind,
        group_id,
        person,
        agent_id,
        server_id,
        target,
        tools,
        annotation,
        include_destructive,
        expires_at,
        tz,
        reason,
    } = form;
    let subject = match subject_kind.as_str() {
        "everyone" => GrantSubject::Everyone,
        "group" => GrantSubject::Group { id: group_id },
        "person" => match svc.access.find_person(&actor, &person).await? {
            Some((id, _)) => GrantSubject::User { id: id.0 },
            None if person.trim().is_empty() => {
                return Err(invalid("person", "enter the person's email"))
            }
            None => {
                return Err(invalid(
                    "person",
                    "no one in the directory has this email or user name",
                ))
            }
        },
        "agent" if agent_id.trim().is_empty() => return Err(invalid("agent", "choose an agent")),
        "agent" => GrantSubject::Agent { id: agent_id },
        _ => {
            return Err(invalid(
                "subject",
                "choose everyone, a group, a person or an agent",
            ))
        }
    };
    let target = match target.as_str() {
        "server" => GrantTarget::Server,
        "tools" => GrantTarget::Tools { names: tools },
        "annotation" => GrantTarget::Annotation { annotation },
        _ => {
            return Err(invalid(
                "tools",
                "choose the whole server, some tools, or tools by annotation",
            ))
        }
    };
    let expires_at = parse_expiry(&expires_at, &tz)?;
    let input = GrantInput {
        subject,
        server_id,
        target,
        effect,
        include_destructive: include_destructive.is_some_and(|v| v != "false"),
        expires_at,
        reason,
    };
    let (id, revision) = svc.access.create_grant(&actor, &input).await?;
    Ok(GrantCreated { id: id.0, revision })
}

/// A `datetime-local` value (`2026-12-31T18:00`, seconds optional) read
/// in the time zone `tz` (an IANA name; empty: UTC); empty is no time.
#[cfg(feature = "ssr")]
fn parse_expiry(s: &str, tz: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    use crate::components::time;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let tz = tz.trim();
    if !time::is_zone(tz) {
        return Err(invalid(
            "tz",
            "unknown time zone; use an IANA name such as Europe/Paris",
        ));
    }
    let wall = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| {
            invalid(
                "expires_at",
                &format!(
                    "use a date and time, e.g. 2026-12-31 18:00 (in {})",
                    time::zone_phrase(tz)
                ),
            )
        })?;
    time::local_to_utc(wall, tz).map(Some).ok_or_else(|| {
        invalid(
            "expires_at",
            &format!("{s} does not exist in {tz}: the clocks skip that hour; choose another time"),
        )
    })
}

/// The Edit grant dialog, as posted: `expires_at` a `datetime-local` value
/// read in the time zone `tz` (empty: UTC; an empty expiry: never),
/// `reason`, and for a grant that names tools, `tools[]` with `edit_tools`
/// present (so that no tool ticked is refused, not ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantEdit {
    pub id: String,
    pub expires_at: String,
    pub tz: String,
    pub reason: String,
    pub tools: Vec<String>,
    pub edit_tools: Option<String>,
}

/// Changes a grant's expiry, reason and (for a grant that names tools) its
/// tools, from the Edit grant dialog (see [`GrantEdit`]). Returns the
/// policy revision it made, or none when only the reason changed.
/// **Permission:** `AccessManage`.
#[server(endpoint = "console/access/grants/update")]
pub async fn update_grant(#[server(flatten)] form: GrantEdit) -> Result<Option<i64>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let expires_at = parse_expiry(&form.expires_at, &form.tz)?;
    let update = portcullis_types::GrantUpdate {
        expires_at: Some(expires_at),
        reason: Some(form.reason),
        tools: form.edit_tools.is_some().then_some(form.tools),
    };
    Ok(svc
        .access
        .update_grant(&actor, &portcullis_types::GrantId::from(form.id), &update)
        .await?)
}

/// Revokes a grant; returns the policy revision it made.
/// **Permission:** `AccessManage`.
#[server(endpoint = "console/access/grants/revoke")]
pub async fn revoke_grant(id: String) -> Result<i64, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc
        .access
        .revoke_grant(&actor, &portcullis_types::GrantId::from(id))
        .await?)
}

/// Policy revisions, newest first, and the current one.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/revisions/list")]
pub async fn list_revisions(#[server(default)] offset: i64) -> Result<RevisionList, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let page = svc.access.revisions(&actor, offset, REVISIONS_PAGE).await?;
    let head = match (offset, page.items.first()) {
        (0, Some(r)) => r.number,
        (0, None) => 0,
        _ => svc
            .access
            .revisions(&actor, 0, 1)
            .await?
            .items
            .first()
            .map_or(0, |r| r.number),
    };
    Ok(RevisionList { page, head })
}

/// What changed from revision `from` to revision `to`.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/revisions/diff")]
pub async fn diff_revisions(from: i64, to: i64) -> Result<RevisionDiff, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.access.diff(&actor, from, to).await?)
}

/// Makes the grants what they were at revision `to`; returns the new
/// revision. **Permission:** `AccessManage`.
#[server(endpoint = "console/access/revisions/rollback")]
pub async fn rollback_revision(to: i64) -> Result<i64, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.access.rollback(&actor, to).await?)
}

/// "Can this person call this tool?" `user` is an email, userName or user
/// id; `server` a server id or slug; `rev` a revision number or empty for
/// the current one. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/simulate")]
pub async fn simulate(
    #[server(default)] user: String,
    #[server(default)] server: String,
    #[server(default)] tool: String,
    #[server(default)] rev: String,
    #[server(default)] via: String,
) -> Result<Simulation, AppError> {
    use portcullis_types::{FieldError, ServerRef, ToolName};
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    // Every problem with the question at once, each naming its field.
    let mut errors = Vec::new();
    let mut err = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    let rev = match rev.trim() {
        "" => None,
        r => r.parse::<i64>().map_or_else(
            |_| {
                err("revision", "enter a revision number, or leave it empty");
                None
            },
            Some,
        ),
    };
    let found = svc.access.find_principal(&actor, &user).await?;
    if found.is_none() {
        err(
            "person",
            if user.trim().is_empty() {
                "enter the person's email or the agent's name"
            } else {
                "no one in the directory has this email or user name, and no agent this name"
            },
        );
    }
    // An agent acting for the person (a delegated call), if asked.
    let agent = match via.trim() {
        "" => None,
        v => match svc.access.find_principal(&actor, v).await? {
            Some((id, name)) if id.0.starts_with("agt_") => Some((id.0, name)),
            _ => {
                err("via", "no agent has this name or id");
                None
            }
        },
    };
    if agent.is_some()
        && found
            .as_ref()
            .is_some_and(|(id, _)| id.0.starts_with("agt_"))
    {
        err(
            "person",
            "an agent acts for a person: enter the person here",
        );
    }
    if server.trim().is_empty() {
        err("server", "choose a server");
    }
    if tool.trim().is_empty() {
        err("tool", "choose a tool");
    }
    let Some((person_id, person)) = found.filter(|_| errors.is_empty()) else {
        return Err(portcullis_domain::Error::Invalid(errors).into());
    };
    let (server, tool) = (ServerRef::from(server.trim()), ToolName::from(tool.trim()));
    let result = svc
        .access
        .simulate(&actor, &person_id, &server, &tool, rev)
        .await?;
    let via = match agent {
        Some((id, name)) => {
            let d = svc
                .access
                .simulate_delegated(&actor, &person_id, &id, &server, &tool, rev)
                .await?;
            Some((id, name, d))
        }
        None => None,
    };
    Ok(Simulation {
        person_id: person_id.0,
        person,
        result,
        via,
    })
}

/// Every tool with whether this person may call it now, and why.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/user_access")]
pub async fn user_access(id: String) -> Result<Vec<UserToolAccess>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let id = portcullis_types::PersonId::from(id);
    Ok(svc.access.user_access(&actor, &id).await?)
}

/// The servers of the catalog (at most 200), for pickers and filters.
/// **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/servers")]
pub async fn list_access_servers() -> Result<Vec<ServerSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.catalog.list_servers(&actor, "", 0, 200).await?.items)
}

/// The tools of one server (by id or slug), for pickers; none for an
/// unknown server. **Permission:** `ConsoleRead`.
#[server(endpoint = "console/access/server_tools")]
pub async fn list_access_tools(server: String) -> Result<Vec<ToolSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let id = match svc
        .catalog
        .server(&actor, &portcullis_types::ServerRef::from(server))
        .await
    {
        Ok(s) => portcullis_types::ServerId::from(s.id),
        Err(portcullis_domain::Error::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(svc.catalog.server_tools(&actor, &id).await?)
}

/// How many matches a picker lists at once.
#[cfg(feature = "ssr")]
const PICK_LIMIT: i64 = 20;

/// Directory groups whose name contains `q` (or with that id or
/// externalId), by name, the first 20 and how many match in all: the
/// grant form's group picker. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/access/pick_groups")]
pub async fn pick_groups(#[server(default)] q: String) -> Result<PickPage, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let query = portcullis_types::DirectoryGroupQuery {
        search: q.trim().to_owned(),
        limit: PICK_LIMIT,
        ..Default::default()
    };
    let page = svc.directory.list_groups(&actor, query).await?;
    Ok(PickPage {
        total: page.total,
        options: page
            .items
            .into_iter()
            .map(|g| PickOption {
                detail: format!(
                    "{} member{} · {}",
                    crate::components::misc::format_count(g.members),
                    if g.members == 1 { "" } else { "s" },
                    g.directory_name
                ),
                id: g.id,
                label: g.display_name,
            })
            .collect(),
    })
}

/// Active people whose user name, display name or email contains `q`,
/// the first 20 and how many match in all: the person pickers (grant
/// form, simulator). Each is posted as their email (their user name when
/// they have none), which the forms look up. **Permission:** `DirectoryRead`.
#[server(endpoint = "console/access/pick_people")]
pub async fn pick_people(#[server(default)] q: String) -> Result<PickPage, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let query = portcullis_types::DirectoryUserQuery {
        search: q.trim().to_owned(),
        status: Some(portcullis_types::DirectoryUserStatus::Active),
        limit: PICK_LIMIT,
        ..Default::default()
    };
    let page = svc.directory.list_users(&actor, query).await?;
    Ok(PickPage {
        total: page.total,
        options: page
            .items
            .into_iter()
            .map(|u| {
                let handle = u.email.clone().unwrap_or_else(|| u.user_name.clone());
                PickOption {
                    detail: match u.display_name {
                        Some(n) if !n.is_empty() => format!("{n} · {}", u.directory_name),
                        _ => u.directory_name,
                    },
                    id: handle.clone(),
                    label: handle,
                }
            })
            .collect(),
    })
}

/// The simulator's picker: active people as [`pick_people`] finds them,
/// then agents whose name, id or description contains `q` (posted as the
/// agent's id). **Permission:** `DirectoryRead`.
#[server(endpoint = "console/access/pick_principals")]
pub async fn pick_principals(#[server(default)] q: String) -> Result<PickPage, AppError> {
    let mut page = pick_people(q.clone()).await?;
    let agents = crate::agents::api::pick_agents(q).await?;
    page.total += agents.total;
    page.options.extend(agents.options);
    Ok(page)
}
