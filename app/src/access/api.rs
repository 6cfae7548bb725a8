//! Server functions for the Access pages and the Access tab of a person.
//! Reads need `ConsoleRead` (every role); creating and revoking grants and
//! rolling back need `AccessManage` (owners and admins). The domain service
//! checks the role.
//!
//! Arguments are flat strings, as an HTML form posts them, so the forms
//! work before hydration and the endpoints are easy to call with curl.
//! Form values are turned into domain inputs here; the service validates
//! them and names the field of every problem.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{
    DirectoryGroupSummary, GrantSummary, Page, RevisionDiff, RevisionSummary, ServerSummary,
    SimulationResult, ToolSummary, UserToolAccess,
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
/// value read as UTC, or empty for no expiry; `include_destructive` is
/// present when ticked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    pub effect: String,
    pub subject_kind: String,
    pub group_id: String,
    pub person: String,
    pub server_id: String,
    pub target: String,
    pub tools: Vec<String>,
    pub annotation: String,
    pub include_destructive: Option<String>,
    pub expires_at: String,
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
        server_id,
        target,
        tools,
        annotation,
        include_destructive,
        expires_at,
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
        _ => return Err(invalid("subject", "choose everyone, a group or a person")),
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
    let expires_at = match parse_utc(&expires_at) {
        Ok(t) => t,
        Err(()) => {
            return Err(invalid(
                "expires_at",
                "use a date and time, e.g. 2026-12-31 18:00 (UTC)",
            ))
        }
    };
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

/// A `datetime-local` value (`2026-12-31T18:00`, seconds optional) read as
/// UTC; empty is no time.
#[cfg(feature = "ssr")]
fn parse_utc(s: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| Some(t.and_utc()))
        .ok_or(())
}

/// Changes a grant's expiry (a `datetime-local` value in UTC; empty: never)
/// and reason. Returns the policy revision it made, or none when only the
/// reason changed. **Permission:** `AccessManage`.
#[server(endpoint = "console/access/grants/update")]
pub async fn update_grant(
    id: String,
    #[server(default)] expires_at: String,
    #[server(default)] reason: String,
) -> Result<Option<i64>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let Ok(expires_at) = parse_utc(&expires_at) else {
        return Err(invalid(
            "expires_at",
            "use a date and time, e.g. 2026-12-31 18:00 (UTC)",
        ));
    };
    let update = portcullis_types::GrantUpdate {
        expires_at: Some(expires_at),
        reason: Some(reason),
    };
    Ok(svc
        .access
        .update_grant(&actor, &portcullis_types::GrantId::from(id), &update)
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
    let found = svc.access.find_person(&actor, &user).await?;
    if found.is_none() {
        err(
            "person",
            if user.trim().is_empty() {
                "enter the person's email"
            } else {
                "no one in the directory has this email or user name"
            },
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
    let result = svc
        .access
        .simulate(
            &actor,
            &person_id,
            &ServerRef::from(server.trim()),
            &ToolName::from(tool.trim()),
            rev,
        )
        .await?;
    Ok(Simulation {
        person_id: person_id.0,
        person,
        result,
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

/// Directory groups by name (at most 200), for the grant form's picker.
/// **Permission:** `DirectoryRead`.
#[server(endpoint = "console/access/groups")]
pub async fn list_access_groups() -> Result<Vec<DirectoryGroupSummary>, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let q = portcullis_types::DirectoryGroupQuery {
        limit: 200,
        ..Default::default()
    };
    Ok(svc.directory.list_groups(&actor, q).await?.items)
}
