//! Every SQL statement of the audit area (SQLite and PostgreSQL run the
//! same text).

use super::model::EventRow;
use crate::db::{exec_dyn, Arg, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_one, fetch_optional, scalar};
use chrono::{DateTime, Utc};

/// The chain head: the last sequence number and its hash.
#[derive(sqlx::FromRow)]
pub(super) struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Takes the next `n` sequence numbers (the head row is updated first,
/// which serialises concurrent appenders on both backends). Answers the
/// new last seq with the hash still of the event before the first new one.
pub(super) async fn advance_head(tx: &mut Tx, n: i64) -> Result<Head> {
    Ok(fetch_one!(
        tx.exec(),
        Head,
        "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
        n
    )?)
}

/// Rows per INSERT statement: 17 binds each, far under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const INSERT_CHUNK: usize = 500;

/// Inserts `rows` (their hashes computed, in order) and makes the last the
/// chain head.
pub(super) async fn insert(tx: &mut Tx, rows: &[EventRow]) -> Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let backend = tx.backend();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, actor_display, \
             action, target_type, target_id, target_display, outcome, source_ip, user_agent, \
             request_id, details, prev_hash, hash) VALUES {}",
            backend.values_list(chunk.len(), 17)
        );
        let mut args = Vec::with_capacity(chunk.len() * 17);
        for row in chunk {
            let text = |v: &Option<String>| v.clone().map_or(Arg::Null, Arg::Text);
            args.extend([
                Arg::Int(row.seq),
                Arg::Text(row.id.clone()),
                Arg::Time(row.occurred_at),
                Arg::Text(row.actor_type.clone()),
                text(&row.actor_id),
                Arg::Text(row.actor_display.clone()),
                Arg::Text(row.action.clone()),
                text(&row.target_type),
                text(&row.target_id),
                text(&row.target_display),
                Arg::Text(row.outcome.clone()),
                text(&row.source_ip),
                text(&row.user_agent),
                text(&row.request_id),
                Arg::Text(row.details.clone()),
                Arg::Text(row.prev_hash.clone()),
                Arg::Text(row.hash.clone()),
            ]);
        }
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    exec!(
        tx.exec(),
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &last.hash
    )?;
    Ok(())
}

/// The chain head as stored.
pub(super) async fn head(ex: Exec<'_>) -> Result<Head> {
    Ok(fetch_one!(
        ex,
        Head,
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    )?)
}

const SELECT_EVENT: &str =
    "SELECT seq, id, occurred_at, actor_type, actor_id, actor_display, action, \
     target_type, target_id, target_display, outcome, source_ip, user_agent, request_id, \
     details, prev_hash, hash FROM audit_events";

/// The latest `limit` events about one target, newest first
/// (`audit_events_target_idx`).
pub(super) async fn about(
    ex: Exec<'_>,
    target_type: &str,
    target_id: &str,
    limit: i64,
) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!(
            "{SELECT_EVENT} WHERE target_type = $1 AND target_id = $2 ORDER BY seq DESC LIMIT $3"
        ),
        target_type,
        target_id,
        limit
    )?)
}

/// Events from sequence number `from` on, at most `limit`, in order.
pub(super) async fn from_seq(ex: Exec<'_>, from: i64, limit: i64) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT} WHERE seq >= $1 ORDER BY seq LIMIT $2"),
        from,
        limit
    )?)
}

/// The list's filter, its values already normalised.
pub(super) struct Filter<'a> {
    /// An action, exact or as a dotted prefix; empty for any.
    pub action: &'a str,
    /// `action` escaped for LIKE, with `.%` appended.
    pub action_prefix: &'a str,
    /// Lower-case actor text (a display-name substring or an exact id);
    /// empty for any.
    pub actor: &'a str,
    /// `actor` escaped for LIKE, inside `%…%`.
    pub actor_like: &'a str,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// `$1` action, `$2` actor, `$3` since, `$4` until, `$5` action prefix,
/// `$6` actor pattern.
const FILTER: &str = " WHERE ($1 = '' OR action = $1 OR action LIKE $5 ESCAPE '\\') \
     AND ($2 = '' OR LOWER(actor_display) LIKE $6 ESCAPE '\\' OR actor_id = $2) \
     AND ($3 IS NULL OR occurred_at >= $3) AND ($4 IS NULL OR occurred_at < $4)";

/// How many events match `f`.
pub(super) async fn count(ex: Exec<'_>, f: &Filter<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        &format!("SELECT COUNT(*) FROM audit_events{FILTER}"),
        f.action,
        f.actor,
        f.since,
        f.until,
        f.action_prefix,
        f.actor_like
    )?)
}

/// A page of the events matching `f`, newest first.
pub(super) async fn list(
    ex: Exec<'_>,
    f: &Filter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT}{FILTER} ORDER BY seq DESC LIMIT $7 OFFSET $8"),
        f.action,
        f.actor,
        f.since,
        f.until,
        f.action_prefix,
        f.actor_like,
        limit,
        offset
    )?)
}

/// The events matching `f` after `after` (a seq), oldest first, at most
/// `limit`: the export's keyset pages.
pub(super) async fn export_page(
    ex: Exec<'_>,
    f: &Filter<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT}{FILTER} AND seq > $7 ORDER BY seq LIMIT $8"),
        f.action,
        f.actor,
        f.since,
        f.until,
        f.action_prefix,
        f.actor_like,
        after,
        limit
    )?)
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    pub kid: String,
    pub jws: String,
}

const SELECT_CHECKPOINT: &str = "SELECT seq, hash, signed_at, kid, jws FROM audit_checkpoints";

/// The newest checkpoint.
pub(super) async fn last_checkpoint(ex: Exec<'_>) -> Result<Option<CheckpointRow>> {
    Ok(fetch_optional!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} ORDER BY seq DESC LIMIT 1")
    )?)
}

/// Every checkpoint, oldest first.
pub(super) async fn checkpoints(ex: Exec<'_>) -> Result<Vec<CheckpointRow>> {
    Ok(fetch_all!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} ORDER BY seq")
    )?)
}

/// Stores a checkpoint unless one of the same head exists (another replica
/// signed it meanwhile).
pub(super) async fn insert_checkpoint(ex: Exec<'_>, row: &CheckpointRow) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO audit_checkpoints (seq, hash, signed_at, kid, jws) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        row.seq,
        &row.hash,
        row.signed_at,
        &row.kid,
        &row.jws
    )?;
    Ok(())
}

/// Checkpoints the witness has not accepted, oldest first.
pub(super) async fn unwitnessed(ex: Exec<'_>, limit: i64) -> Result<Vec<CheckpointRow>> {
    Ok(fetch_all!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} WHERE witnessed_at IS NULL ORDER BY seq LIMIT $1"),
        limit
    )?)
}

/// The witness accepted checkpoint `seq` at `at`.
pub(super) async fn witnessed(ex: Exec<'_>, seq: i64, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_checkpoints SET witnessed_at = $2, witness_error = NULL WHERE seq = $1",
        seq,
        at
    )?;
    Ok(())
}

/// The witness did not take checkpoint `seq`: why.
pub(super) async fn witness_failed(ex: Exec<'_>, seq: i64, error: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_checkpoints SET witness_error = $2 WHERE seq = $1",
        seq,
        error
    )?;
    Ok(())
}
