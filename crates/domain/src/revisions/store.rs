//! Every SQL statement of the revisions area: the revision counter and log
//! (`policy_head`, `policy_revisions`), the versioned facts
//! (`policy_facts`), and the catalog, directory and OAuth rows the facts
//! mirror (SQLite and PostgreSQL run the same text).

use super::model::kind;
use crate::actor::Actor;
use crate::db::{exec_dyn, fetch_all_dyn, placeholders, Arg, Db, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// Rows per multi-row INSERT (3 binds each, well under SQLite's limit);
/// also ids per `IN (…)` look-up.
const INSERT_CHUNK: usize = 200;

// --- Revisions ---

/// Moves the head one revision on (locking its row until the transaction
/// ends); the new revision number.
pub(super) async fn next_revision(tx: &mut Tx) -> Result<i64> {
    Ok(scalar!(
        tx.exec(),
        i64,
        "UPDATE policy_head SET revision = revision + 1 WHERE id = 1 RETURNING revision"
    )?)
}

/// Records who made revision `rev`, when, and why.
pub(super) async fn insert_revision(
    tx: &mut Tx,
    rev: i64,
    at: DateTime<Utc>,
    actor: &Actor,
    source: &str,
    summary: &str,
) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO policy_revisions (number, created_at, actor_type, actor_id, actor_display, source, summary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        rev,
        at,
        actor.kind.as_str(),
        actor.id.as_deref(),
        &actor.display,
        source,
        summary
    )?;
    Ok(())
}

/// The current revision number (0 before the first change).
pub(super) async fn head(exec: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        exec,
        i64,
        "SELECT revision FROM policy_head WHERE id = 1"
    )?)
}

/// When revision `rev` was made (`None` for revision 0 or an unknown one).
pub(super) async fn created_at(exec: Exec<'_>, rev: i64) -> Result<Option<DateTime<Utc>>> {
    Ok(scalar!(
        exec,
        Option<DateTime<Utc>>,
        "SELECT MIN(created_at) FROM policy_revisions WHERE number = $1",
        rev
    )?)
}

// --- Facts ---

/// The value of current fact (kind, k1, k2), if there is one.
pub(super) async fn current_value(
    tx: &mut Tx,
    kind: &str,
    k1: &str,
    k2: &str,
) -> Result<Option<String>> {
    Ok(scalar!(
        tx.exec(),
        Option<String>,
        "SELECT MIN(value) FROM policy_facts WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL",
        kind,
        k1,
        k2
    )?)
}

/// Opens fact (kind, k1, k2) with `value` from revision `rev`.
pub(super) async fn open_fact(
    tx: &mut Tx,
    kind: &str,
    k1: &str,
    k2: &str,
    value: &str,
    rev: i64,
) -> Result<()> {
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
pub(super) async fn close_fact(
    tx: &mut Tx,
    rev: i64,
    kind: &str,
    k1: &str,
    k2: &str,
) -> Result<()> {
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

/// Whether fact (kind, k1, k2) is current.
pub(super) async fn fact_exists(tx: &mut Tx, kind: &str, k1: &str, k2: &str) -> Result<bool> {
    let exists = scalar!(
        tx.exec(),
        i64,
        "SELECT COUNT(*) FROM policy_facts WHERE kind = $1 AND k1 = $2 AND k2 = $3 AND rev_to IS NULL",
        kind,
        k1,
        k2
    )?;
    Ok(exists > 0)
}

/// A current fact of a family.
#[derive(sqlx::FromRow)]
pub(super) struct FamilyRow {
    pub k1: String,
    pub k2: String,
    pub value: String,
}

/// The current membership facts of person `user_id`.
pub(super) async fn memberships_of(tx: &mut Tx, user_id: &str) -> Result<Vec<FamilyRow>> {
    // The literal kind lets PostgreSQL use the partial index
    // policy_facts_member_idx.
    Ok(fetch_all!(
        tx.exec(),
        FamilyRow,
        "SELECT k1, k2, value FROM policy_facts WHERE kind = 'member' AND k2 = $1 AND rev_to IS NULL",
        user_id
    )?)
}

/// The current facts of `kind` whose k1 is `k1`.
pub(super) async fn family(tx: &mut Tx, kind: &str, k1: &str) -> Result<Vec<FamilyRow>> {
    Ok(fetch_all!(
        tx.exec(),
        FamilyRow,
        "SELECT k1, k2, value FROM policy_facts WHERE kind = $1 AND k1 = $2 AND rev_to IS NULL",
        kind,
        k1
    )?)
}

/// Opens facts ((k1, k2), value) of `kind` from revision `rev`, with one
/// statement per chunk (the revision's lock is held as briefly as
/// possible).
pub(super) async fn open_facts(
    tx: &mut Tx,
    kind: &str,
    rev: i64,
    rows: &[((String, String), &String)],
) -> Result<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
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

#[derive(sqlx::FromRow)]
struct Id {
    id: String,
}

/// The people of group `group_id` that already have a membership fact.
pub(super) async fn members_with_fact(tx: &mut Tx, group_id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
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
    .collect())
}

/// A fact as stored, valid at some revision.
#[derive(sqlx::FromRow)]
pub(super) struct FactRow {
    pub kind: String,
    pub k1: String,
    pub k2: String,
    pub value: String,
}

/// The grant facts valid at revision `rev`.
pub(super) async fn grant_facts_at(exec: Exec<'_>, rev: i64) -> Result<Vec<FactRow>> {
    Ok(fetch_all!(
        exec,
        FactRow,
        "SELECT kind, k1, k2, value FROM policy_facts \
         WHERE kind = 'grant' AND rev_from <= $1 AND (rev_to IS NULL OR rev_to > $1)",
        rev
    )?)
}

/// Every fact valid at revision `rev`.
pub(super) async fn facts_at(exec: Exec<'_>, rev: i64) -> Result<Vec<FactRow>> {
    Ok(fetch_all!(
        exec,
        FactRow,
        "SELECT kind, k1, k2, value FROM policy_facts \
         WHERE rev_from <= $1 AND (rev_to IS NULL OR rev_to > $1)",
        rev
    )?)
}

/// The facts of `kind` whose k1 is one of `k1s`, valid at revision `rev`
/// (found by the primary key's prefix), `INSERT_CHUNK` k1s per statement.
pub(super) async fn facts_of_at(
    db: &Db,
    kind: &str,
    k1s: &[&str],
    rev: i64,
) -> Result<Vec<FactRow>> {
    let mut out = Vec::new();
    for chunk in k1s.chunks(INSERT_CHUNK) {
        let sql = format!(
            "SELECT kind, k1, k2, value FROM policy_facts \
             WHERE kind = $1 AND k1 IN ({}) AND rev_from <= $2 AND (rev_to IS NULL OR rev_to > $2)",
            placeholders(3, chunk.len())
        );
        let mut args = vec![Arg::Text(kind.to_owned()), Arg::Int(rev)];
        args.extend(chunk.iter().map(|k| Arg::Text((*k).to_owned())));
        out.extend(fetch_all_dyn::<FactRow>(db.exec(), &sql, &args).await?);
    }
    Ok(out)
}

/// The membership facts of the people `users` valid at revision `rev`:
/// the open ones, and those a revision after `rev` closed.
pub(super) async fn memberships_at(db: &Db, users: &[&str], rev: i64) -> Result<Vec<FactRow>> {
    let mut out = Vec::new();
    for chunk in users.chunks(INSERT_CHUNK) {
        // The ids as a row source joined first (SQLite takes CROSS JOIN's
        // order as given), so each is looked up in the partial index
        // `policy_facts_member_idx`; with `k2 IN (…)` SQLite's planner
        // walks every current fact of the kind instead.
        let ids = (0..chunk.len())
            .map(|i| format!("SELECT ${} AS id", i + 2))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!(
            "SELECT f.kind, f.k1, f.k2, f.value FROM ({ids}) AS u CROSS JOIN policy_facts AS f \
             WHERE f.kind = 'member' AND f.k2 = u.id AND f.rev_to IS NULL AND f.rev_from <= $1"
        );
        let mut args = vec![Arg::Int(rev)];
        args.extend(chunk.iter().map(|k| Arg::Text((*k).to_owned())));
        out.extend(fetch_all_dyn::<FactRow>(db.exec(), &sql, &args).await?);
    }
    if !users.is_empty() {
        let wanted: std::collections::BTreeSet<&str> = users.iter().copied().collect();
        out.extend(
            fetch_all!(db.exec(), FactRow, CLOSED_MEMBERSHIPS, rev)?
                .into_iter()
                .filter(|r| wanted.contains(r.k2.as_str())),
        );
    }
    Ok(out)
}

/// The membership facts valid at revision `$1` that a later revision
/// closed: found by `policy_facts_rev_to_idx`, a few rows when `$1` is the
/// head or near it. `kind || ''` keeps SQLite's planner off the primary
/// key, whose `kind = 'member'` prefix it otherwise prefers (no table
/// statistics) and which walks every membership of the company.
const CLOSED_MEMBERSHIPS: &str = "SELECT kind, k1, k2, value FROM policy_facts \
     WHERE rev_to > $1 AND kind || '' = 'member' AND rev_from <= $1";

/// The key of a fact opened or closed between two revisions.
#[derive(sqlx::FromRow)]
pub(super) struct ChangedKeyRow {
    pub kind: String,
    pub k1: String,
    pub k2: String,
}

/// The keys of the facts opened or closed in revisions (from, rev].
pub(super) async fn keys_changed(
    exec: Exec<'_>,
    from: i64,
    rev: i64,
) -> Result<Vec<ChangedKeyRow>> {
    Ok(fetch_all!(
        exec,
        ChangedKeyRow,
        "SELECT kind, k1, k2 FROM policy_facts \
         WHERE (rev_from > $1 AND rev_from <= $2) OR (rev_to > $1 AND rev_to <= $2)",
        from,
        rev
    )?)
}

// --- The rows the facts mirror ---

/// A live directory person as a fact needs them.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub email: Option<String>,
    pub user_name: String,
    pub active: bool,
}

/// Directory person `user_id`, unless deleted.
pub(super) async fn directory_user(tx: &mut Tx, user_id: &str) -> Result<Option<UserRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        UserRow,
        "SELECT email, user_name, active FROM directory_users WHERE id = $1 AND deleted_at IS NULL",
        user_id
    )?)
}

/// A directory group as a fact needs it.
#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    pub display_name: String,
    pub directory_id: String,
}

/// Directory group `group_id`.
pub(super) async fn directory_group(tx: &mut Tx, group_id: &str) -> Result<Option<GroupRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        GroupRow,
        "SELECT display_name, directory_id FROM directory_groups WHERE id = $1",
        group_id
    )?)
}

/// The member ids group `group_id` lists.
pub(super) async fn listed_members(tx: &mut Tx, group_id: &str) -> Result<Vec<String>> {
    Ok(fetch_all!(
        tx.exec(),
        Id,
        "SELECT member_id AS id FROM directory_group_members WHERE group_id = $1",
        group_id
    )?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// A directory person's directory and whether they are deleted.
#[derive(sqlx::FromRow)]
pub(super) struct UserDirectoryRow {
    pub id: String,
    pub directory_id: String,
    pub deleted: bool,
}

/// The directory people among `ids` (deleted ones included), looked up by
/// primary key only, one chunk of ids at a time (an index on the directory
/// would make the planner scan every user of it).
pub(super) async fn directory_users(tx: &mut Tx, ids: &[String]) -> Result<Vec<UserDirectoryRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, directory_id, deleted_at IS NOT NULL AS deleted FROM directory_users WHERE id IN ({})",
            marks.join(", ")
        );
        let args: Vec<Arg> = chunk.iter().map(|m| Arg::Text(m.clone())).collect();
        let users: Vec<UserDirectoryRow> = fetch_all_dyn(tx.exec(), &sql, &args).await?;
        out.extend(users);
    }
    Ok(out)
}

/// An MCP server as a fact needs it.
#[derive(sqlx::FromRow)]
pub(super) struct ServerRow {
    pub slug: String,
    pub resource_url: String,
    pub enabled: bool,
}

/// MCP server `server_id`.
pub(super) async fn server(tx: &mut Tx, server_id: &str) -> Result<Option<ServerRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        ServerRow,
        "SELECT slug, resource_url, enabled FROM mcp_servers WHERE id = $1",
        server_id
    )?)
}

/// A tool as a fact needs it.
#[derive(sqlx::FromRow)]
pub(super) struct ToolRow {
    pub name: String,
    pub hints: String,
    pub overrides: String,
    pub status: String,
    pub definition_hash: String,
}

/// The tools of server `server_id` that are not removed.
pub(super) async fn live_tools(tx: &mut Tx, server_id: &str) -> Result<Vec<ToolRow>> {
    Ok(fetch_all!(
        tx.exec(),
        ToolRow,
        "SELECT name, hints, overrides, status, definition_hash FROM mcp_tools \
         WHERE server_id = $1 AND status <> 'removed'",
        server_id
    )?)
}

/// The status of OAuth client `client_id` (`None` when it is gone).
pub(super) async fn client_status(tx: &mut Tx, client_id: &str) -> Result<Option<String>> {
    Ok(scalar!(
        tx.exec(),
        Option<String>,
        "SELECT MIN(status) FROM oauth_clients WHERE id = $1",
        client_id
    )?)
}

/// An agent as its policy fact needs it.
#[derive(sqlx::FromRow)]
pub(super) struct AgentRow {
    pub name: String,
    pub status: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A delegation as its policy fact needs it.
#[derive(sqlx::FromRow)]
pub(super) struct DelegationRow {
    pub agent_id: String,
    pub subject_kind: String,
    pub subject_id: Option<String>,
    pub server_id: String,
}

pub(super) async fn delegation(tx: &mut Tx, id: &str) -> Result<Option<DelegationRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        DelegationRow,
        "SELECT agent_id, subject_kind, subject_id, server_id FROM delegations WHERE id = $1",
        id
    )?)
}

pub(super) async fn agent(tx: &mut Tx, agent_id: &str) -> Result<Option<AgentRow>> {
    Ok(fetch_optional!(
        tx.exec(),
        AgentRow,
        "SELECT name, status, expires_at FROM agents WHERE id = $1",
        agent_id
    )?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SQLite's plan for [`CLOSED_MEMBERSHIPS`] (the first detail line).
    async fn sqlite_plan(sql: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        db.migrate().await.unwrap();
        let Db::Sqlite(pool, _) = &db else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind(5_i64)
                .fetch_all(pool)
                .await
                .unwrap();
        db.close().await;
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    /// Reading one person's closed memberships does not walk every
    /// membership (23 ms an announcement at 100,000 people when it did).
    #[tokio::test]
    async fn closed_memberships_are_found_by_the_closing_revision() {
        let plan = sqlite_plan(CLOSED_MEMBERSHIPS).await;
        assert_eq!(
            plan,
            "SEARCH policy_facts USING INDEX policy_facts_rev_to_idx (rev_to>?)"
        );
    }
}
