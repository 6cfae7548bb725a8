//! The audit trail: append-only, hash-chained events.
//!
//! Invariants:
//! - An event is appended inside the caller's write transaction
//!   ([`append`]), so the change and its record commit or fail together.
//! - Sequence numbers start at 1 and have no gaps.
//! - `hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the event)`, where
//!   the canonical JSON has a fixed field order and the time in RFC 3339 with
//!   microseconds; `prev_hash` of the first event is 64 zeros. The single-row
//!   `audit_head` table holds the last seq and hash; updating it first in the
//!   transaction serialises appenders on both backends.
//! - No secret (token, password, cookie, assertion) is ever put in `details`.
//!
//! [`AuditService::verify`] recomputes the chain and names the first
//! sequence number that does not verify (edited, deleted, reordered or
//! inserted rows).

use crate::actor::{Actor, Permission};
use crate::clock::new_id;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::Core;
use crate::{exec, fetch_all, fetch_one, scalar};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_types::{AuditEventSummary, AuditQuery, ChainReport, Outcome, Page};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The largest page a list call returns.
pub const MAX_PAGE: i64 = 200;

/// What an event is about.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kind: String,
    pub id: String,
    pub display: String,
}

impl Target {
    /// A target of `kind` with its id and display name.
    pub fn new(kind: &str, id: impl Into<String>, display: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.into(),
            display: display.into(),
        }
    }
}

/// An event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Dotted name, `area.object.verb` (`console.admin.invited`).
    pub action: &'static str,
    pub target: Option<Target>,
    pub outcome: Outcome,
    /// Structured details; never secrets.
    pub details: serde_json::Value,
}

impl NewEvent {
    /// A successful `action` with no target and no details.
    pub fn success(action: &'static str) -> Self {
        Self {
            action,
            target: None,
            outcome: Outcome::Success,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// The same event, about `target`.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The same event, with `outcome`.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The same event, with details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The fields the hash covers, in their fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    id: &'a str,
    occurred_at: String,
    actor_type: &'a str,
    actor_id: Option<&'a str>,
    actor_display: &'a str,
    action: &'a str,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    target_display: Option<&'a str>,
    outcome: &'a str,
    source_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    details: &'a str,
}

/// A stored row.
#[derive(Debug, Clone, sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: String,
    occurred_at: DateTime<Utc>,
    actor_type: String,
    actor_id: Option<String>,
    actor_display: String,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    target_display: Option<String>,
    outcome: String,
    source_ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl EventRow {
    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            seq: self.seq,
            id: &self.id,
            occurred_at: self
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            actor_type: &self.actor_type,
            actor_id: self.actor_id.as_deref(),
            actor_display: &self.actor_display,
            action: &self.action,
            target_type: self.target_type.as_deref(),
            target_id: self.target_id.as_deref(),
            target_display: self.target_display.as_deref(),
            outcome: &self.outcome,
            source_ip: self.source_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
        }
    }

    fn compute_hash(&self) -> Result<String> {
        chain_hash(&self.prev_hash, &self.canonical())
    }

    fn into_summary(self) -> Result<AuditEventSummary> {
        Ok(AuditEventSummary {
            seq: self.seq,
            id: self.id,
            occurred_at: self.occurred_at,
            actor_type: self.actor_type.parse().map_err(Error::Internal)?,
            actor_id: self.actor_id,
            actor_display: self.actor_display,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            target_display: self.target_display,
            outcome: self.outcome.parse().map_err(Error::Internal)?,
            source_ip: self.source_ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            details: serde_json::from_str(&self.details)
                .map_err(|e| Error::Internal(format!("audit details: {e}")))?,
            hash: self.hash,
        })
    }
}

fn chain_hash(prev_hash: &str, canonical: &Canonical<'_>) -> Result<String> {
    let json = serde_json::to_string(canonical)
        .map_err(|e| Error::Internal(format!("audit canonical form: {e}")))?;
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    Ok(hex::encode(h.finalize()))
}

/// Clips untrusted text kept in an audit field (user agents, emails typed
/// at sign-in) so a hostile client cannot bloat the log.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Appends `event` by `actor` at `at` inside `tx`. Returns the sequence number.
pub async fn append(tx: &mut Tx, at: DateTime<Utc>, actor: &Actor, event: NewEvent) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Head {
        seq: i64,
        hash: String,
    }
    // Taking the head row first serialises concurrent appenders.
    let head = fetch_one!(
        tx.exec(),
        Head,
        "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"
    )?;
    let target = event.target.unwrap_or_default();
    let has_target = !target.kind.is_empty();
    let row = EventRow {
        seq: head.seq,
        id: new_id("evt"),
        occurred_at: at,
        actor_type: actor.kind.as_str().to_owned(),
        actor_id: actor.id.clone(),
        actor_display: clip(&actor.display, 320),
        action: event.action.to_owned(),
        target_type: has_target.then(|| target.kind.clone()),
        target_id: has_target.then(|| target.id.clone()),
        target_display: has_target.then(|| clip(&target.display, 320)),
        outcome: event.outcome.as_str().to_owned(),
        source_ip: actor.meta.source_ip.clone(),
        user_agent: actor.meta.user_agent.as_deref().map(|ua| clip(ua, 512)),
        request_id: actor.meta.request_id.clone(),
        details: serde_json::to_string(&event.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?,
        prev_hash: head.hash,
        hash: String::new(),
    };
    let hash = row.compute_hash()?;
    exec!(
        tx.exec(),
        "INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, actor_display, \
         action, target_type, target_id, target_display, outcome, source_ip, user_agent, \
         request_id, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        row.seq,
        &row.id,
        row.occurred_at,
        &row.actor_type,
        &row.actor_id,
        &row.actor_display,
        &row.action,
        &row.target_type,
        &row.target_id,
        &row.target_display,
        &row.outcome,
        &row.source_ip,
        &row.user_agent,
        &row.request_id,
        &row.details,
        &row.prev_hash,
        &hash
    )?;
    exec!(
        tx.exec(),
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &hash
    )?;
    Ok(row.seq)
}

const SELECT_EVENT: &str =
    "SELECT seq, id, occurred_at, actor_type, actor_id, actor_display, action, \
     target_type, target_id, target_display, outcome, source_ip, user_agent, request_id, \
     details, prev_hash, hash FROM audit_events";

/// Filter clause shared by the list and its count. `$1` action (exact or
/// dotted prefix), `$2` actor substring (escaped for LIKE), `$3` since,
/// `$4` until.
const AUDIT_FILTER: &str = " WHERE ($1 = '' OR action = $1 OR action LIKE $5 ESCAPE '\\') \
     AND ($2 = '' OR LOWER(actor_display) LIKE $6 ESCAPE '\\' OR actor_id = $2) \
     AND ($3 IS NULL OR occurred_at >= $3) AND ($4 IS NULL OR occurred_at < $4)";

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The latest `limit` events about one target, newest first (the history
/// shown on a detail page). Uses `audit_events_target_idx`. The caller checks
/// the permission to see the target.
pub(crate) async fn events_about(
    exec: crate::db::Exec<'_>,
    target_type: &str,
    target_id: &str,
    limit: i64,
) -> Result<Vec<AuditEventSummary>> {
    fetch_all!(
        exec,
        EventRow,
        &format!(
            "{SELECT_EVENT} WHERE target_type = $1 AND target_id = $2 ORDER BY seq DESC LIMIT $3"
        ),
        target_type,
        target_id,
        limit
    )?
    .into_iter()
    .map(EventRow::into_summary)
    .collect()
}

/// Reads and verifies the audit log.
#[derive(Clone)]
pub struct AuditService {
    pub(crate) core: Arc<Core>,
}

impl AuditService {
    /// Lists events newest first. **Permission:** `AuditRead`.
    pub async fn list_events(
        &self,
        actor: &Actor,
        q: AuditQuery,
    ) -> Result<Page<AuditEventSummary>> {
        actor.require(Permission::AuditRead)?;
        let limit = if q.limit <= 0 {
            50
        } else {
            q.limit.min(MAX_PAGE)
        };
        let offset = q.offset.max(0);
        let action = q.action.trim().to_owned();
        let actor_q = q.actor.trim().to_lowercase();
        let action_prefix = format!("{}.%", like_escape(&action));
        let actor_like = format!("%{}%", like_escape(&actor_q));
        let db = &self.core.db;
        let total = scalar!(
            db.exec(),
            i64,
            &format!("SELECT COUNT(*) FROM audit_events{AUDIT_FILTER}"),
            &action,
            &actor_q,
            q.since,
            q.until,
            &action_prefix,
            &actor_like
        )?;
        let rows = fetch_all!(
            db.exec(),
            EventRow,
            &format!("{SELECT_EVENT}{AUDIT_FILTER} ORDER BY seq DESC LIMIT $7 OFFSET $8"),
            &action,
            &actor_q,
            q.since,
            q.until,
            &action_prefix,
            &actor_like,
            limit,
            offset
        )?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(EventRow::into_summary)
                .collect::<Result<_>>()?,
            total,
            offset,
            limit,
        })
    }

    /// Recomputes the whole chain. **Permission:** `AuditRead`.
    pub async fn verify(&self, actor: &Actor) -> Result<ChainReport> {
        actor.require(Permission::AuditRead)?;
        #[derive(sqlx::FromRow)]
        struct Head {
            seq: i64,
            hash: String,
        }
        let db = &self.core.db;
        let head = fetch_one!(
            db.exec(),
            Head,
            "SELECT seq, hash FROM audit_head WHERE id = 1"
        )?;
        let mut expected_seq = 1i64;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut checked = 0i64;
        const BATCH: i64 = 1000;
        let bad = |seq: i64, checked: i64, problem: String| ChainReport {
            checked,
            head_seq: head.seq,
            first_bad_seq: Some(seq),
            problem: Some(problem),
        };
        loop {
            let rows = fetch_all!(
                db.exec(),
                EventRow,
                &format!("{SELECT_EVENT} WHERE seq >= $1 ORDER BY seq LIMIT $2"),
                expected_seq,
                BATCH
            )?;
            let n = rows.len() as i64;
            for row in rows {
                if row.seq != expected_seq {
                    return Ok(bad(
                        expected_seq,
                        checked,
                        format!("event {expected_seq} is missing (next is {})", row.seq),
                    ));
                }
                if row.prev_hash != prev_hash {
                    return Ok(bad(
                        row.seq,
                        checked,
                        "prev_hash does not match the previous event".into(),
                    ));
                }
                if row.compute_hash()? != row.hash {
                    return Ok(bad(
                        row.seq,
                        checked,
                        "content does not match its hash".into(),
                    ));
                }
                prev_hash = row.hash;
                expected_seq += 1;
                checked += 1;
            }
            if n < BATCH {
                break;
            }
        }
        if checked != head.seq || prev_hash != head.hash {
            return Ok(bad(
                checked + 1,
                checked,
                format!(
                    "the chain head says {} events but {} verify",
                    head.seq, checked
                ),
            ));
        }
        Ok(ChainReport {
            checked,
            head_seq: head.seq,
            first_bad_seq: None,
            problem: None,
        })
    }
}
