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
     details, prev_hash, hash, redacted_at FROM audit_events";

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

// Retention (see `retention`).

/// Locks the chain head for the transaction (no appender or other purge
/// runs meanwhile) and answers it.
pub(super) async fn lock_head(tx: &mut Tx) -> Result<Head> {
    Ok(fetch_one!(
        tx.exec(),
        Head,
        "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash"
    )?)
}

/// The last event that happened before `at`, if any.
pub(super) async fn last_seq_before(ex: Exec<'_>, at: DateTime<Utc>) -> Result<Option<i64>> {
    Ok(scalar!(
        ex,
        Option<i64>,
        "SELECT MAX(seq) FROM audit_events WHERE occurred_at < $1",
        at
    )?)
}

/// The hash of event `seq`, if it is stored.
pub(super) async fn hash_of(ex: Exec<'_>, seq: i64) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT hash FROM audit_events WHERE seq = $1",
        seq
    )?
    .map(|(h,)| h))
}

/// The oldest event's time.
pub(super) async fn oldest_event_at(ex: Exec<'_>) -> Result<Option<DateTime<Utc>>> {
    Ok(fetch_optional!(
        ex,
        (DateTime<Utc>,),
        "SELECT occurred_at FROM audit_events ORDER BY seq LIMIT 1"
    )?
    .map(|(t,)| t))
}

/// A signed purge record as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct PurgeRow {
    pub kind: String,
    pub after_seq: i64,
    pub through_seq: i64,
    pub count: i64,
    pub hash: String,
    pub purged_at: DateTime<Utc>,
    pub kid: String,
    pub jws: String,
}

/// Every purge record, by kind then range.
pub(super) async fn purges(ex: Exec<'_>) -> Result<Vec<PurgeRow>> {
    Ok(fetch_all!(
        ex,
        PurgeRow,
        "SELECT kind, after_seq, through_seq, count, hash, purged_at, kid, jws \
         FROM audit_purges ORDER BY kind, through_seq"
    )?)
}

/// Stores a purge record.
pub(super) async fn insert_purge(tx: &mut Tx, row: &PurgeRow) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO audit_purges (kind, after_seq, through_seq, count, hash, purged_at, kid, jws) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &row.kind,
        row.after_seq,
        row.through_seq,
        row.count,
        &row.hash,
        row.purged_at,
        &row.kid,
        &row.jws
    )?;
    Ok(())
}

/// Deletes the events up to `through`, the checkpoints before it and the
/// purge records it supersedes (older prefixes, decision ranges it
/// covers). Answers how many events went.
pub(super) async fn delete_prefix(tx: &mut Tx, through: i64) -> Result<i64> {
    let deleted = exec!(
        tx.exec(),
        "DELETE FROM audit_events WHERE seq <= $1",
        through
    )?;
    exec!(
        tx.exec(),
        "DELETE FROM audit_checkpoints WHERE seq < $1",
        through
    )?;
    exec!(
        tx.exec(),
        "DELETE FROM audit_purges WHERE through_seq <= $1",
        through
    )?;
    Ok(deleted as i64)
}

/// The gateway decisions in `after`+1 ..= `through` not yet blanked, as
/// (seq, hash), oldest first, at most `limit`.
pub(super) async fn decisions_to_blank(
    ex: Exec<'_>,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>> {
    Ok(fetch_all!(
        ex,
        (i64, String),
        "SELECT seq, hash FROM audit_events WHERE seq > $1 AND seq <= $2 \
         AND action = 'gateway.decision' AND redacted_at IS NULL ORDER BY seq LIMIT $3",
        after,
        through,
        limit
    )?)
}

/// Blanks the content of the gateway decisions in `after`+1 ..= `through`.
pub(super) async fn blank_decisions(
    tx: &mut Tx,
    after: i64,
    through: i64,
    at: DateTime<Utc>,
) -> Result<i64> {
    Ok(exec!(
        tx.exec(),
        "UPDATE audit_events SET actor_id = NULL, actor_display = '', target_type = NULL, \
         target_id = NULL, target_display = NULL, source_ip = NULL, user_agent = NULL, \
         request_id = NULL, details = '{}', redacted_at = $3 \
         WHERE seq > $1 AND seq <= $2 AND action = 'gateway.decision' AND redacted_at IS NULL",
        after,
        through,
        at
    )? as i64)
}

/// The legal hold, if one is in place.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct HoldRow {
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    pub placed_by: String,
}

pub(super) async fn legal_hold(ex: Exec<'_>) -> Result<Option<HoldRow>> {
    Ok(fetch_optional!(
        ex,
        HoldRow,
        "SELECT reason, placed_at, placed_by FROM audit_legal_hold WHERE id = 1"
    )?)
}

/// Places the hold; `false` when one was already in place.
pub(super) async fn place_hold(tx: &mut Tx, hold: &HoldRow) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "INSERT INTO audit_legal_hold (id, reason, placed_at, placed_by) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
        &hold.reason,
        hold.placed_at,
        &hold.placed_by
    )? == 1)
}

/// Lifts the hold; `false` when none was in place.
pub(super) async fn lift_hold(tx: &mut Tx) -> Result<bool> {
    Ok(exec!(tx.exec(), "DELETE FROM audit_legal_hold WHERE id = 1")? == 1)
}
