//! Keeping the facts in line with the tables they mirror: every write that
//! changes an input of the policy calls one of the `sync_*` functions in
//! its own transaction. A fact is only written when it differs, so a
//! change that does not alter the policy makes no revision.

use super::model::{from_json, kind, to_json, GrantFact, ServerFact, ToolFact, UserFact};
use super::{store, Change};
use crate::db::Tx;
use crate::error::{Error, Result};
use portcullis_policy::bundle::{Agent, BlockedClient, Delegation, Group, Subject};
use portcullis_types::ToolStatus;
use std::collections::{BTreeMap, BTreeSet};

/// Sets fact (kind, k1, k2) to `value`; a no-op when it already holds it.
async fn set_fact(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    k1: &str,
    k2: &str,
    value: &str,
) -> Result<()> {
    let current = store::current_value(tx, kind, k1, k2).await?;
    if current.as_deref() == Some(value) {
        return Ok(());
    }
    let rev = change.allocate(tx).await?;
    if current.is_some() {
        store::close_fact(tx, rev, kind, k1, k2).await?;
    }
    store::open_fact(tx, kind, k1, k2, value, rev).await
}

/// Removes fact (kind, k1, k2) if it exists.
async fn remove_fact(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    k1: &str,
    k2: &str,
) -> Result<()> {
    if store::fact_exists(tx, kind, k1, k2).await? {
        let rev = change.allocate(tx).await?;
        store::close_fact(tx, rev, kind, k1, k2).await?;
    }
    Ok(())
}

/// Sets single-valued fact (kind, k1, "") to `value`, or removes it when
/// `value` is `None`.
async fn put_fact(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    k1: &str,
    value: Option<String>,
) -> Result<()> {
    match value {
        Some(v) => set_fact(tx, change, kind, k1, "", &v).await,
        None => remove_fact(tx, change, kind, k1, "").await,
    }
}

/// Makes the current facts of `kind` whose `k1` (or, with `by_k2`, `k2`)
/// equals `key` exactly `desired` (keyed by the other column).
async fn sync_family(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    key: &str,
    by_k2: bool,
    desired: BTreeMap<String, String>,
) -> Result<()> {
    // Only memberships are looked up by k2 (the user).
    let current = if by_k2 {
        debug_assert_eq!(kind, kind::MEMBER);
        store::memberships_of(tx, key).await?
    } else {
        store::family(tx, kind, key).await?
    };
    let mut have = BTreeMap::new();
    for r in current {
        let other = if by_k2 { r.k1 } else { r.k2 };
        have.insert(other, r.value);
    }
    let pair = |other: &str| -> (String, String) {
        if by_k2 {
            (other.to_owned(), key.to_owned())
        } else {
            (key.to_owned(), other.to_owned())
        }
    };
    for (other, _) in have.iter().filter(|(o, _)| !desired.contains_key(*o)) {
        let (k1, k2) = pair(other);
        let rev = change.allocate(tx).await?;
        store::close_fact(tx, rev, kind, &k1, &k2).await?;
    }
    // New facts (the common case: members added) go in with one statement
    // per chunk; the revision's lock is held as briefly as possible.
    let mut new_rows = Vec::new();
    for (other, value) in &desired {
        match have.get(other) {
            Some(v) if v == value => {}
            Some(_) => {
                let (k1, k2) = pair(other);
                set_fact(tx, change, kind, &k1, &k2, value).await?;
            }
            None => new_rows.push((pair(other), value)),
        }
    }
    if !new_rows.is_empty() {
        let rev = change.allocate(tx).await?;
        store::open_facts(tx, kind, rev, &new_rows).await?;
    }
    Ok(())
}

/// Brings the facts of one directory user (and, when the user is gone, their
/// memberships) in line with the directory tables.
pub(crate) async fn sync_directory_user(
    tx: &mut Tx,
    change: &mut Change<'_>,
    user_id: &str,
) -> Result<()> {
    match store::directory_user(tx, user_id).await? {
        Some(r) => {
            let fact = UserFact {
                email: r.email.unwrap_or(r.user_name),
                active: r.active,
            };
            set_fact(tx, change, kind::USER, user_id, "", &to_json(&fact)?).await
        }
        None => {
            remove_fact(tx, change, kind::USER, user_id, "").await?;
            sync_family(tx, change, kind::MEMBER, user_id, true, BTreeMap::new()).await
        }
    }
}

/// Brings the facts of one directory group and its memberships in line with
/// the directory tables. Only members that are users of the group's own
/// directory count.
pub(crate) async fn sync_directory_group(
    tx: &mut Tx,
    change: &mut Change<'_>,
    group_id: &str,
) -> Result<()> {
    // Everything is read before the first write: the first changed fact
    // takes the revision lock, held until commit. Each query is a plain
    // index lookup (a three-table join here got a poor cached generic plan
    // on PostgreSQL under load).
    let group = store::directory_group(tx, group_id).await?;
    let mut members = BTreeMap::new();
    if let Some(g) = &group {
        let listed = store::listed_members(tx, group_id).await?;
        // Members that already have a fact are known users (a user's facts
        // go when the user does); the others are checked against the users
        // of the group's own directory.
        let known: BTreeSet<String> = store::members_with_fact(tx, group_id)
            .await?
            .into_iter()
            .collect();
        let (have, unknown): (Vec<String>, Vec<String>) =
            listed.into_iter().partition(|m| known.contains(m));
        members.extend(have.into_iter().map(|m| (m, String::new())));
        // The directory is checked here, not in the query.
        members.extend(
            store::directory_users(tx, &unknown)
                .await?
                .into_iter()
                .filter(|u| u.directory_id == g.directory_id && !u.deleted)
                .map(|u| (u.id, String::new())),
        );
    }
    let fact = group
        .map(|g| {
            to_json(&Group {
                id: group_id.to_owned(),
                name: g.display_name,
            })
        })
        .transpose()?;
    put_fact(tx, change, kind::GROUP, group_id, fact).await?;
    sync_family(tx, change, kind::MEMBER, group_id, false, members).await
}

/// Brings the facts of one MCP server and its tools in line with the catalog
/// tables (removed servers and tools drop out).
pub(crate) async fn sync_server(
    tx: &mut Tx,
    change: &mut Change<'_>,
    server_id: &str,
) -> Result<()> {
    let mut tools = BTreeMap::new();
    match store::server(tx, server_id).await? {
        Some(s) => {
            let fact = ServerFact {
                slug: s.slug,
                resource: s.resource_url,
                enabled: s.enabled,
            };
            set_fact(tx, change, kind::SERVER, server_id, "", &to_json(&fact)?).await?;
            for t in store::live_tools(tx, server_id).await? {
                let fact = ToolFact {
                    annotations: crate::catalog::effective_annotations(
                        &from_json(&t.hints)?,
                        &from_json(&t.overrides)?,
                    ),
                    approved: ToolStatus::parse(&t.status).ok_or_else(|| {
                        Error::Internal(format!("tool {}: unknown status {:?}", t.name, t.status))
                    })? == ToolStatus::Active,
                    definition_hash: t.definition_hash,
                };
                tools.insert(t.name, to_json(&fact)?);
            }
        }
        None => remove_fact(tx, change, kind::SERVER, server_id, "").await?,
    }
    sync_family(tx, change, kind::TOOL, server_id, false, tools).await
}

/// Sets or removes the fact of one grant.
pub(crate) async fn sync_grant(
    tx: &mut Tx,
    change: &mut Change<'_>,
    grant_id: &str,
    grant: Option<&GrantFact>,
) -> Result<()> {
    let fact = grant.map(to_json).transpose()?;
    put_fact(tx, change, kind::GRANT, grant_id, fact).await
}

/// Lists OAuth client `client_id` among the bundle's blocked clients while
/// its status is `blocked`, and drops it otherwise (unblocked, or gone).
pub(crate) async fn sync_client(
    tx: &mut Tx,
    change: &mut Change<'_>,
    client_id: &str,
) -> Result<()> {
    let status = store::client_status(tx, client_id).await?;
    let fact = (status.as_deref() == Some("blocked"))
        .then(|| {
            to_json(&BlockedClient {
                client_id: client_id.to_owned(),
            })
        })
        .transpose()?;
    put_fact(tx, change, kind::CLIENT, client_id, fact).await
}

/// Brings the fact of delegation `id` in line with the delegations table
/// (gone with the delegation, its agent or its server).
pub(crate) async fn sync_delegation(tx: &mut Tx, change: &mut Change<'_>, id: &str) -> Result<()> {
    let fact = match store::delegation(tx, id).await? {
        None => None,
        Some(d) => {
            let subject = match (d.subject_kind.as_str(), d.subject_id) {
                ("everyone", None) => Subject::Everyone,
                ("user", Some(id)) => Subject::User { id },
                ("group", Some(id)) => Subject::Group { id },
                (kind, _) => {
                    return Err(Error::Internal(format!(
                        "delegation {id}: stored subject {kind:?} is not valid"
                    )))
                }
            };
            Some(to_json(&Delegation {
                id: id.to_owned(),
                agent: d.agent_id,
                subject,
                server: d.server_id,
            })?)
        }
    };
    put_fact(tx, change, kind::DELEGATION, id, fact).await
}

/// Brings the fact of agent `agent_id` in line with the agents table:
/// active while its status is `active` and it has not expired at `now`;
/// gone with the agent.
pub(crate) async fn sync_agent(
    tx: &mut Tx,
    change: &mut Change<'_>,
    agent_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let fact = store::agent(tx, agent_id)
        .await?
        .map(|a| {
            to_json(&Agent {
                id: agent_id.to_owned(),
                active: a.status == "active" && a.expires_at.is_none_or(|e| e > now),
                name: a.name,
            })
        })
        .transpose()?;
    put_fact(tx, change, kind::AGENT, agent_id, fact).await
}
