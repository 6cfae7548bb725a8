//! Policy revisions and the versioned store of policy inputs they are built
//! from (`policy_facts`).
//!
//! Every write that changes an input of the policy — a server, a tool, a
//! group, a person, a membership, a grant, a blocked OAuth client — calls one of the `sync_*`
//! functions inside its own transaction. They compare what the bundle would
//! hold now with the current facts and, only when something differs, close
//! the old fact and insert the new one under a revision allocated from
//! `policy_head` (once per transaction, see [`Change`]). So:
//! - a change that does not alter the policy makes no revision;
//! - the revision commits or rolls back with the change that caused it;
//! - revision numbers only grow, in commit order (the head row is locked
//!   until the transaction ends);
//! - the inputs of any past revision N are the facts with
//!   `rev_from <= N < coalesce(rev_to, ∞)`, which is how [`load_bundle`]
//!   rebuilds the bundle of any revision for the simulator, diffs and
//!   rollback.

use crate::actor::Actor;
use crate::db::{exec_dyn, fetch_all_dyn, Arg, Exec, Tx};
use crate::error::{Error, Result};
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_policy::bundle::{
    Annotations, BlockedClient, Bundle, Group, Principal, Rule, Server, Tool, FORMAT_V1,
};
use portcullis_policy::delta::{Changes, Delta, DELTA_FORMAT_V1};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One policy-changing transaction: who, why, and the revision it allocated
/// (at its first fact change).
pub struct Change<'a> {
    actor: &'a Actor,
    source: &'static str,
    summary: String,
    at: DateTime<Utc>,
    revision: Option<i64>,
}

impl<'a> Change<'a> {
    /// `source` says which area made the change (`grants`, `catalog`,
    /// `directory`, `rollback`); `summary` is shown on the Revisions page.
    pub fn new(
        actor: &'a Actor,
        source: &'static str,
        summary: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            actor,
            source,
            summary: summary.into(),
            at,
            revision: None,
        }
    }

    /// The revision this change produced, if it changed the policy.
    pub fn revision(&self) -> Option<i64> {
        self.revision
    }

    async fn allocate(&mut self, tx: &mut Tx) -> Result<i64> {
        if let Some(rev) = self.revision {
            return Ok(rev);
        }
        let rev = scalar!(
            tx.exec(),
            i64,
            "UPDATE policy_head SET revision = revision + 1 WHERE id = 1 RETURNING revision"
        )?;
        exec!(
            tx.exec(),
            "INSERT INTO policy_revisions (number, created_at, actor_type, actor_id, actor_display, source, summary) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rev,
            self.at,
            self.actor.kind.as_str(),
            self.actor.id.as_deref(),
            &self.actor.display,
            self.source,
            &self.summary
        )?;
        tx.signal(crate::db::Topic::Policy).await?;
        self.revision = Some(rev);
        Ok(rev)
    }
}

/// The kinds of fact (the `kind` column).
mod kind {
    pub const SERVER: &str = "server";
    pub const TOOL: &str = "tool";
    pub const GROUP: &str = "group";
    pub const USER: &str = "user";
    pub const MEMBER: &str = "member";
    pub const GRANT: &str = "grant";
    /// A blocked OAuth client (k1 = its client_id).
    pub const CLIENT: &str = "client";
}

/// A server as the bundle sees it (its tools are facts of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFact {
    pub slug: String,
    pub resource: String,
    pub enabled: bool,
}

/// A tool as the bundle sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFact {
    pub annotations: Annotations,
    pub approved: bool,
    pub definition_hash: String,
}

/// A person as the bundle sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFact {
    pub email: String,
    pub active: bool,
}

/// A grant: the rule the bundle carries plus what the console shows and
/// what a rollback needs to restore it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFact {
    pub rule: Rule,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("policy fact: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Internal(format!("policy fact: {e}")))
}

/// Decodes a stored fact strictly, naming it when it does not decode: the
/// bundle is then not built (the last good one stays served), rather than
/// built without, or with a default for, what could not be read.
fn fact_value<T: for<'de> Deserialize<'de>>(kind: &str, k1: &str, k2: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        Error::Internal(format!(
            "policy fact {kind} {k1:?}{} does not decode ({e}); the bundle is not built until it is fixed",
            if k2.is_empty() { String::new() } else { format!(" / {k2:?}") }
        ))
    })
}

/// Sets fact (kind, k1, k2) to `value`; a no-op when it already holds it.
async fn set_fact(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    k1: &str,
    k2: &str,
    value: &str,
) -> Result<()> {
    let current = scalar!(
        tx.exec(),
        Option<String>,
        "SELECT MIN(value) FROM policy_facts WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL",
        kind,
        k1,
        k2
    )?;
    if current.as_deref() == Some(value) {
        return Ok(());
    }
    let rev = change.allocate(tx).await?;
    if current.is_some() {
        close(tx, rev, kind, k1, k2).await?;
    }
    exec!(
        tx.exec(),
        "INSERT INTO policy_facts (kind, k1, k2, value, rev_from) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (kind, k1, k2, rev_from) DO UPDATE SET value = excluded.value, rev_to = NULL",
        kind,
        k1,
        k2,
        value,
        rev
    )?;
    Ok(())
}

/// Ends fact (kind, k1, k2) at revision `rev`. A fact opened by this same
/// revision is deleted instead (it never was part of a committed revision).
async fn close(tx: &mut Tx, rev: i64, kind: &str, k1: &str, k2: &str) -> Result<()> {
    exec!(
        tx.exec(),
        "DELETE FROM policy_facts WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL AND rev_from = $4",
        kind,
        k1,
        k2,
        rev
    )?;
    exec!(
        tx.exec(),
        "UPDATE policy_facts SET rev_to = $4 WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL",
        kind,
        k1,
        k2,
        rev
    )?;
    Ok(())
}

/// Removes fact (kind, k1, k2) if it exists.
async fn remove_fact(
    tx: &mut Tx,
    change: &mut Change<'_>,
    kind: &str,
    k1: &str,
    k2: &str,
) -> Result<()> {
    let exists = scalar!(
        tx.exec(),
        i64,
        "SELECT COUNT(*) FROM policy_facts WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL",
        kind,
        k1,
        k2
    )?;
    if exists > 0 {
        let rev = change.allocate(tx).await?;
        close(tx, rev, kind, k1, k2).await?;
    }
    Ok(())
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
    #[derive(sqlx::FromRow)]
    struct Row {
        k1: String,
        k2: String,
        value: String,
    }
    // Only memberships are looked up by k2 (the user); the literal kind lets
    // PostgreSQL use the partial index policy_facts_member_idx.
    let current = if by_k2 {
        debug_assert_eq!(kind, kind::MEMBER);
        fetch_all!(
            tx.exec(),
            Row,
            "SELECT k1, k2, value FROM policy_facts WHERE kind = 'member' AND k2 = $1 AND rev_to IS NULL",
            key
        )?
    } else {
        fetch_all!(
            tx.exec(),
            Row,
            "SELECT k1, k2, value FROM policy_facts WHERE kind = $1 AND k1 = $2 AND rev_to IS NULL",
            kind,
            key
        )?
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
        close(tx, rev, kind, &k1, &k2).await?;
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
    for chunk in new_rows.chunks(INSERT_CHUNK) {
        let rev = change.allocate(tx).await?;
        let mut sql =
            String::from("INSERT INTO policy_facts (kind, k1, k2, value, rev_from) VALUES ");
        let mut args = Vec::with_capacity(chunk.len() * 3 + 2);
        args.push(Arg::Text(kind.to_owned()));
        args.push(Arg::Int(rev));
        for (i, ((k1, k2), value)) in chunk.iter().enumerate() {
            let n = 3 + i * 3;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("($1, ${n}, ${}, ${}, $2)", n + 1, n + 2));
            args.push(Arg::Text(k1.clone()));
            args.push(Arg::Text(k2.clone()));
            args.push(Arg::Text((*value).clone()));
        }
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(())
}

/// Rows per multi-row INSERT (3 binds each, well under SQLite's limit).
const INSERT_CHUNK: usize = 200;

/// Brings the facts of one directory user (and, when the user is gone, their
/// memberships) in line with the directory tables.
pub async fn sync_directory_user(
    tx: &mut Tx,
    change: &mut Change<'_>,
    user_id: &str,
) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Row {
        email: Option<String>,
        user_name: String,
        active: bool,
    }
    let row = fetch_optional!(
        tx.exec(),
        Row,
        "SELECT email, user_name, active FROM directory_users WHERE id = $1 AND deleted_at IS NULL",
        user_id
    )?;
    match row {
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
pub async fn sync_directory_group(
    tx: &mut Tx,
    change: &mut Change<'_>,
    group_id: &str,
) -> Result<()> {
    // Everything is read before the first write: the first changed fact
    // takes the revision lock, held until commit. Each query is a plain
    // index lookup (a three-table join here got a poor cached generic plan
    // on PostgreSQL under load).
    #[derive(sqlx::FromRow)]
    struct GroupRow {
        display_name: String,
        directory_id: String,
    }
    let group = fetch_optional!(
        tx.exec(),
        GroupRow,
        "SELECT display_name, directory_id FROM directory_groups WHERE id = $1",
        group_id
    )?;
    let mut members = BTreeMap::new();
    if let Some(g) = &group {
        #[derive(sqlx::FromRow)]
        struct Id {
            id: String,
        }
        let listed: Vec<String> = fetch_all!(
            tx.exec(),
            Id,
            "SELECT member_id AS id FROM directory_group_members WHERE group_id = $1",
            group_id
        )?
        .into_iter()
        .map(|r| r.id)
        .collect();
        // Members that already have a fact are known users (a user's facts
        // go when the user does); the others are checked against the users
        // of the group's own directory.
        let known: BTreeSet<String> = fetch_all!(
            tx.exec(),
            Id,
            // `kind` bound, not literal: a literal 'member' lets the planner
            // walk the whole partial index policy_facts_member_idx.
            "SELECT k2 AS id FROM policy_facts WHERE kind = $1 AND k1 = $2 AND rev_to IS NULL",
            kind::MEMBER,
            group_id
        )?
        .into_iter()
        .map(|r| r.id)
        .collect();
        let (have, unknown): (Vec<String>, Vec<String>) =
            listed.into_iter().partition(|m| known.contains(m));
        members.extend(have.into_iter().map(|m| (m, String::new())));
        // By primary key only (an index on the directory would make the
        // planner scan every user of it); the directory is checked here.
        #[derive(sqlx::FromRow)]
        struct User {
            id: String,
            directory_id: String,
            deleted: bool,
        }
        for chunk in unknown.chunks(INSERT_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, directory_id, deleted_at IS NOT NULL AS deleted FROM directory_users WHERE id IN ({})",
                marks.join(", ")
            );
            let args: Vec<Arg> = chunk.iter().map(|m| Arg::Text(m.clone())).collect();
            let users: Vec<User> = fetch_all_dyn(tx.exec(), &sql, &args).await?;
            members.extend(
                users
                    .into_iter()
                    .filter(|u| u.directory_id == g.directory_id && !u.deleted)
                    .map(|u| (u.id, String::new())),
            );
        }
    }
    let name = group.map(|g| g.display_name);
    match name {
        Some(name) => {
            let fact = Group {
                id: group_id.to_owned(),
                name,
            };
            set_fact(tx, change, kind::GROUP, group_id, "", &to_json(&fact)?).await?;
        }
        None => remove_fact(tx, change, kind::GROUP, group_id, "").await?,
    }
    sync_family(tx, change, kind::MEMBER, group_id, false, members).await
}

/// Brings the facts of one MCP server and its tools in line with the catalog
/// tables (removed servers and tools drop out).
pub async fn sync_server(tx: &mut Tx, change: &mut Change<'_>, server_id: &str) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct S {
        slug: String,
        resource_url: String,
        enabled: bool,
    }
    #[derive(sqlx::FromRow)]
    struct T {
        name: String,
        hints: String,
        overrides: String,
        status: String,
        definition_hash: String,
    }
    let server = fetch_optional!(
        tx.exec(),
        S,
        "SELECT slug, resource_url, enabled FROM mcp_servers WHERE id = $1",
        server_id
    )?;
    let mut tools = BTreeMap::new();
    match server {
        Some(s) => {
            let fact = ServerFact {
                slug: s.slug,
                resource: s.resource_url,
                enabled: s.enabled,
            };
            set_fact(tx, change, kind::SERVER, server_id, "", &to_json(&fact)?).await?;
            let rows = fetch_all!(
                tx.exec(),
                T,
                "SELECT name, hints, overrides, status, definition_hash FROM mcp_tools \
                 WHERE server_id = $1 AND status <> 'removed'",
                server_id
            )?;
            for t in rows {
                let fact = ToolFact {
                    annotations: crate::catalog::effective_annotations(
                        &from_json(&t.hints)?,
                        &from_json(&t.overrides)?,
                    ),
                    approved: t.status == "active",
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
pub async fn sync_grant(
    tx: &mut Tx,
    change: &mut Change<'_>,
    grant_id: &str,
    grant: Option<&GrantFact>,
) -> Result<()> {
    match grant {
        Some(g) => set_fact(tx, change, kind::GRANT, grant_id, "", &to_json(g)?).await,
        None => remove_fact(tx, change, kind::GRANT, grant_id, "").await,
    }
}

/// Lists OAuth client `client_id` among the bundle's blocked clients while
/// its status is `blocked`, and drops it otherwise (unblocked, or gone).
pub async fn sync_client(tx: &mut Tx, change: &mut Change<'_>, client_id: &str) -> Result<()> {
    let status = scalar!(
        tx.exec(),
        Option<String>,
        "SELECT MIN(status) FROM oauth_clients WHERE id = $1",
        client_id
    )?;
    if status.as_deref() == Some("blocked") {
        let fact = BlockedClient {
            client_id: client_id.to_owned(),
        };
        set_fact(tx, change, kind::CLIENT, client_id, "", &to_json(&fact)?).await
    } else {
        remove_fact(tx, change, kind::CLIENT, client_id, "").await
    }
}

/// The current revision number (0 before the first change).
pub async fn head(exec: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        exec,
        i64,
        "SELECT revision FROM policy_head WHERE id = 1"
    )?)
}

/// When revision `rev` was made (`None` for revision 0 or an unknown one).
pub async fn created_at(exec: Exec<'_>, rev: i64) -> Result<Option<DateTime<Utc>>> {
    Ok(scalar!(
        exec,
        Option<DateTime<Utc>>,
        "SELECT MIN(created_at) FROM policy_revisions WHERE number = $1",
        rev
    )?)
}

#[derive(sqlx::FromRow)]
struct FactRow {
    kind: String,
    k1: String,
    k2: String,
    value: String,
}

/// The grants as of revision `rev`, by id.
pub async fn grants_at(exec: Exec<'_>, rev: i64) -> Result<BTreeMap<String, GrantFact>> {
    let rows = fetch_all!(
        exec,
        FactRow,
        "SELECT kind, k1, k2, value FROM policy_facts \
         WHERE kind = 'grant' AND rev_from <= $1 AND (rev_to IS NULL OR rev_to > $1)",
        rev
    )?;
    rows.into_iter()
        .map(|r| Ok((r.k1, from_json(&r.value)?)))
        .collect()
}

/// The policy facts valid at one revision, keyed by (kind, k1, k2), with
/// their JSON values: what a bundle is assembled from ([`assemble`]). The
/// publisher keeps the map of the revision it serves and moves it forward
/// with [`FactMap::advance`] (reading only the facts that changed) instead
/// of reloading every fact for each new revision.
#[derive(Debug, Clone, Default)]
pub struct FactMap {
    revision: i64,
    facts: BTreeMap<FactKey, String>,
    /// (person, group) of every membership fact: a person's groups.
    members_by_user: BTreeSet<(String, String)>,
}

/// A fact's key: (kind, k1, k2).
pub type FactKey = (String, String, String);

#[derive(sqlx::FromRow)]
struct ChangedFactRow {
    kind: String,
    k1: String,
    k2: String,
    value: String,
    rev_from: i64,
    rev_to: Option<i64>,
}

impl FactMap {
    /// Every fact valid at `rev`.
    pub async fn load(exec: Exec<'_>, rev: i64) -> Result<Self> {
        let rows = fetch_all!(
            exec,
            FactRow,
            "SELECT kind, k1, k2, value FROM policy_facts \
             WHERE rev_from <= $1 AND (rev_to IS NULL OR rev_to > $1)",
            rev
        )?;
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
    fn family<'a>(
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
    fn one(&self, kind: &str, k1: &str) -> Option<&String> {
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
        let rows = fetch_all!(
            exec,
            ChangedFactRow,
            "SELECT kind, k1, k2, value, rev_from, rev_to FROM policy_facts \
             WHERE (rev_from > $1 AND rev_from <= $2) OR (rev_to > $1 AND rev_to <= $2)",
            from,
            rev
        )?;
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
    fn server(&self, id: &str) -> Result<Option<Server>> {
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

    fn group(&self, id: &str) -> Result<Option<Group>> {
        self.one(kind::GROUP, id).map(|v| from_json(v)).transpose()
    }

    /// The person `id` with the groups (that exist) they belong to.
    fn principal(&self, id: &str) -> Result<Option<Principal>> {
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
    fn blocked_client(&self, id: &str) -> Result<Option<BlockedClient>> {
        self.one(kind::CLIENT, id).map(|v| from_json(v)).transpose()
    }

    /// The rule of grant `id`, if its server exists.
    fn rule(&self, id: &str) -> Result<Option<Rule>> {
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

/// Above this many changed facts [`reassemble`] is not worth it.
const REASSEMBLE_MAX_CHANGES: usize = 5_000;

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

/// The bundle of `facts`' revision built from `prev` (the bundle of the
/// revision the facts were at before [`FactMap::advance`] returned
/// `changed`) by recomputing only the entries the changed facts touch, and
/// the delta from `prev` to it (hashes left empty). `None` when a full
/// [`assemble`] is the simpler way: many changes, or a server that appeared
/// or disappeared (the grants about it come or go with it). The result
/// equals [`assemble`]'s (debug builds check it).
pub fn reassemble(
    prev: &Bundle,
    facts: &FactMap,
    changed: &BTreeSet<FactKey>,
    issued_at: DateTime<Utc>,
) -> Result<Option<(Bundle, Delta)>> {
    if changed.len() > REASSEMBLE_MAX_CHANGES {
        return Ok(None);
    }
    let (mut servers, mut groups, mut users, mut rules, mut clients) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for (kind, k1, k2) in changed {
        match kind.as_str() {
            kind::SERVER | kind::TOOL => {
                servers.insert(k1.clone());
            }
            kind::GROUP => {
                groups.insert(k1.clone());
                // Its members now, and those who had it before.
                users.extend(facts.family(kind::MEMBER, k1).map(|(u, _)| u.to_owned()));
                users.extend(
                    prev.principals
                        .iter()
                        .filter(|p| p.groups.iter().any(|g| g == k1))
                        .map(|p| p.id.clone()),
                );
            }
            kind::USER => {
                users.insert(k1.clone());
            }
            kind::MEMBER => {
                users.insert(k2.clone());
            }
            kind::GRANT => {
                rules.insert(k1.clone());
            }
            kind::CLIENT => {
                clients.insert(k1.clone());
            }
            other => return Err(Error::Internal(format!("unknown policy fact kind {other}"))),
        }
    }
    for id in &servers {
        let was = prev
            .servers
            .binary_search_by(|s| s.id.as_str().cmp(id))
            .is_ok();
        if was != facts.one(kind::SERVER, id).is_some() {
            return Ok(None);
        }
    }
    let delta = Delta {
        format: DELTA_FORMAT_V1.to_owned(),
        base_revision: prev.revision,
        base_sha256: String::new(),
        revision: u64::try_from(facts.revision).unwrap_or_default(),
        issued_at: issued_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        sha256: String::new(),
        servers: changes_for(&servers, &prev.servers, |s| &s.id, |id| facts.server(id))?,
        groups: changes_for(&groups, &prev.groups, |g| &g.id, |id| facts.group(id))?,
        principals: changes_for(
            &users,
            &prev.principals,
            |p| &p.id,
            |id| facts.principal(id),
        )?,
        rules: changes_for(&rules, &prev.rules, |r| &r.id, |id| facts.rule(id))?,
        blocked_clients: changes_for(
            &clients,
            &prev.blocked_clients,
            |c| &c.client_id,
            |id| facts.blocked_client(id),
        )?,
    };
    let next = delta
        .apply(prev)
        .map_err(|e| Error::Internal(format!("policy delta: {e}")))?;
    Ok(Some((next, delta)))
}

/// Builds the bundle of revision `rev` from the facts valid at it. Callers
/// read [`head`] first and pass it, so the bundle is consistent even while
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
    blocked_clients.sort_by(|a: &BlockedClient, b| a.client_id.cmp(&b.client_id));
    // Rules about a server that is gone at this revision match nothing.
    rules.retain(|r| {
        servers
            .binary_search_by(|s| s.id.as_str().cmp(&r.server))
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
    })
}
