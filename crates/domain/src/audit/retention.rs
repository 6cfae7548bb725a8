//! Audit retention (issue #19, item 5): events older than
//! `Settings::audit_retention_days` are deleted, gateway decisions older
//! than `Settings::audit_decision_retention_days` (a shorter period) lose
//! their content, and what remains still verifies.
//!
//! How the chain stays verifiable:
//! - **Deleting a prefix.** Before events 1…S go, the job signs a `prefix`
//!   purge record {through: S, hash of event S} with the audit key (the
//!   checkpoints' key). `verify` resumes the chain from the newest such
//!   record: event S+1 must link to that hash. Deleting more rows, or
//!   rows in the middle, still breaks the chain; only the key holder can
//!   move the starting point.
//! - **Blanking decisions.** A blanked row keeps its seq, id, time, action,
//!   prev_hash and hash (the chain links through it) but its actor, target,
//!   source and details are gone, so its hash can no longer be recomputed.
//!   Which rows were blanked is vouched for by signed `decisions` records,
//!   one per span of at most [`DECISION_SPAN`] sequence numbers: {after,
//!   through, count, SHA-256 over "<seq>:<hash>\n" of each blanked row}.
//!   `verify` recomputes each span's digest; a row blanked outside a
//!   record, or a record whose rows differ, names the span.
//! - A prefix is never cut inside a decisions span (the cut moves back to
//!   the span's start), so every kept span verifies whole.
//! - The run appends `audit.purged` (hash-chained) with the same ranges.
//! - A **legal hold** (owners place and lift it, both audited) stops the
//!   job; nothing is deleted or blanked while it holds.
//!
//! The job runs on every replica every [`RETENTION_TICK`]; the head row is
//! locked first, so runs and appenders are serialised, and a second
//! replica's run finds nothing left to do.

use super::checkpoint::KeyVerifiers;
use super::store::{self, HoldRow, PurgeRow};
use super::{append, AuditService, NewEvent};
use crate::actor::{Actor, Permission};
use crate::error::{Error, Result};
use crate::signing::KeyPurpose;
use portcullis_types::{AuditLegalHold, AuditPurgeOutcome, AuditRetention};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The JWS `typ` of a purge record.
pub const PURGE_JWS_TYPE: &str = "portcullis-audit-purge+jws";

/// How often the server runs the retention job.
pub const RETENTION_TICK: Duration = Duration::from_secs(60 * 60);

/// The most sequence numbers one `decisions` record spans: a prefix cut
/// moves back at most this far to keep spans whole.
pub const DECISION_SPAN: i64 = 50_000;

/// Rows read per query while digesting a span.
const DIGEST_BATCH: i64 = 10_000;

const PREFIX: &str = "prefix";
const DECISIONS: &str = "decisions";

/// What a purge record signs.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Claims {
    kind: String,
    after: i64,
    through: i64,
    count: i64,
    /// `prefix`: the hash of event `through`; `decisions`: the digest.
    hash: String,
    iat: i64,
}

/// Feeds one blanked row into a span's digest.
fn digest_row(h: &mut Sha256, seq: i64, hash: &str) {
    h.update(format!("{seq}:{hash}\n").as_bytes());
}

/// The cut for a prefix purge through `wanted`, moved back so it does not
/// fall inside a decisions span (`after` < cut < `through`).
fn align_cut(wanted: i64, spans: &[(i64, i64)]) -> i64 {
    spans
        .iter()
        .find(|(after, through)| *after < wanted && wanted < *through)
        .map_or(wanted, |(after, _)| *after)
}

/// The decisions spans to blank: (`lower`, `upper`] cut into pieces of at
/// most [`DECISION_SPAN`].
fn spans(lower: i64, upper: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut after = lower;
    while after < upper {
        let through = (after + DECISION_SPAN).min(upper);
        out.push((after, through));
        after = through;
    }
    out
}

impl AuditService {
    /// Retention as configured and as it stands. **Permission:** `AuditRead`.
    pub async fn retention(&self, actor: &Actor) -> Result<AuditRetention> {
        actor.require(Permission::AuditRead)?;
        let db = &self.core.db;
        let settings = &self.core.settings;
        let purges = store::purges(db.exec()).await?;
        let last = |kind: &str| {
            purges
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.through_seq)
                .max()
        };
        Ok(AuditRetention {
            retention_days: settings.audit_retention_days,
            decision_retention_days: settings.audit_decision_retention_days,
            legal_hold: store::legal_hold(db.exec()).await?.map(|h| AuditLegalHold {
                reason: h.reason,
                placed_at: h.placed_at,
                placed_by: h.placed_by,
            }),
            purged_through_seq: last(PREFIX),
            redacted_through_seq: last(DECISIONS),
            last_purge_at: purges.iter().map(|p| p.purged_at).max(),
            oldest_event_at: store::oldest_event_at(db.exec()).await?,
        })
    }

    /// Places a legal hold: retention deletes and blanks nothing until it
    /// is lifted. Audited `audit.legal_hold.placed`. **Permission:**
    /// `AuditManage` (owners).
    pub async fn place_legal_hold(&self, actor: &Actor, reason: &str) -> Result<AuditRetention> {
        actor.require(Permission::AuditManage)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say why the log is held (a matter or ticket reference)",
            ));
        }
        if reason.chars().count() > 500 {
            return Err(Error::invalid("reason", "at most 500 characters"));
        }
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin().await?;
        let hold = HoldRow {
            reason: reason.to_owned(),
            placed_at: now,
            placed_by: actor.display.clone(),
        };
        if !store::place_hold(&mut tx, &hold).await? {
            return Err(Error::Conflict {
                field: "reason".into(),
                message: "a legal hold is already in place; lift it first to change its reason"
                    .into(),
            });
        }
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.legal_hold.placed")
                .details(serde_json::json!({ "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        self.retention(actor).await
    }

    /// Lifts the legal hold; the next run purges what is due. Audited
    /// `audit.legal_hold.lifted` with the hold's reason. **Permission:**
    /// `AuditManage` (owners).
    pub async fn lift_legal_hold(&self, actor: &Actor) -> Result<AuditRetention> {
        actor.require(Permission::AuditManage)?;
        let now = self.core.clock.now();
        let mut tx = self.core.db.begin().await?;
        let Some(hold) = store::legal_hold(tx.exec()).await? else {
            return Err(Error::NotFound("legal hold"));
        };
        store::lift_hold(&mut tx).await?;
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.legal_hold.lifted").details(serde_json::json!({
                "reason": hold.reason,
                "placed_at": hold.placed_at,
                "placed_by": hold.placed_by,
            })),
        )
        .await?;
        tx.commit().await?;
        self.retention(actor).await
    }

    /// Runs the retention job once (see the module docs) and appends
    /// `audit.purged` when it changed anything. Nothing happens under a
    /// legal hold. **Permission:** `AuditManage` (the server's job
    /// and the CLI run it as the system).
    pub async fn purge(&self, actor: &Actor) -> Result<AuditPurgeOutcome> {
        actor.require(Permission::AuditManage)?;
        let settings = &self.core.settings;
        let now = self.core.clock.now();
        // The key first: making the first audit key is itself an event,
        // in its own transaction.
        let key = self.signing.active_for(KeyPurpose::Audit).await?;
        let mut tx = self.core.db.begin().await?;
        let head = store::lock_head(&mut tx).await?;
        if store::legal_hold(tx.exec()).await?.is_some() {
            return Ok(AuditPurgeOutcome {
                held: true,
                ..Default::default()
            });
        }
        let purges = store::purges(tx.exec()).await?;
        let anchor = purges
            .iter()
            .filter(|p| p.kind == PREFIX)
            .map(|p| p.through_seq)
            .max()
            .unwrap_or(0);
        let decision_spans: Vec<(i64, i64)> = purges
            .iter()
            .filter(|p| p.kind == DECISIONS)
            .map(|p| (p.after_seq, p.through_seq))
            .collect();
        let sign = |kind: &str, after: i64, through: i64, count: i64, hash: String| {
            let claims = Claims {
                kind: kind.to_owned(),
                after,
                through,
                count,
                hash,
                iat: now.timestamp(),
            };
            let jws = key
                .sign_claims(&claims, PURGE_JWS_TYPE)
                .map_err(|e| Error::Internal(format!("signing an audit purge record: {e}")))?;
            Ok::<_, Error>(PurgeRow {
                kind: claims.kind,
                after_seq: after,
                through_seq: through,
                count,
                hash: claims.hash,
                purged_at: now,
                kid: key.kid().to_owned(),
                jws,
            })
        };

        let mut outcome = AuditPurgeOutcome::default();
        let mut details = serde_json::json!({
            "retention_days": settings.audit_retention_days,
            "decision_retention_days": settings.audit_decision_retention_days,
        });

        // 1. The prefix older than the retention period.
        let cutoff = now - chrono::Duration::days(settings.audit_retention_days);
        let mut floor = anchor;
        if let Some(wanted) = store::last_seq_before(tx.exec(), cutoff).await? {
            // The head may go too: `audit.purged` links to its hash.
            let cut = align_cut(wanted.min(head.seq), &decision_spans);
            if cut > anchor {
                let hash = store::hash_of(tx.exec(), cut).await?.ok_or_else(|| {
                    Error::Internal(format!(
                        "audit retention: event {cut} is missing; run `portcullis audit verify`"
                    ))
                })?;
                let deleted = store::delete_prefix(&mut tx, cut).await?;
                let row = sign(PREFIX, anchor, cut, deleted, hash)?;
                store::insert_purge(&mut tx, &row).await?;
                outcome.purged = deleted;
                outcome.purged_through_seq = Some(cut);
                details["purged"] = serde_json::json!({
                    "after_seq": anchor, "through_seq": cut, "events": deleted,
                });
                floor = cut;
            }
        }

        // 2. Gateway decisions older than their own period, in spans.
        let decision_cutoff = now - chrono::Duration::days(settings.audit_decision_retention_days);
        let blanked_through = decision_spans.iter().map(|s| s.1).max().unwrap_or(0);
        let lower = floor.max(blanked_through);
        if let Some(upper) = store::last_seq_before(tx.exec(), decision_cutoff).await? {
            let mut first = None;
            for (after, through) in spans(lower, upper.min(head.seq)) {
                let mut digest = Sha256::new();
                let mut count = 0i64;
                let mut from = after;
                loop {
                    let rows =
                        store::decisions_to_blank(tx.exec(), from, through, DIGEST_BATCH).await?;
                    let n = rows.len() as i64;
                    for (seq, hash) in rows {
                        digest_row(&mut digest, seq, &hash);
                        count += 1;
                        from = seq;
                    }
                    if n < DIGEST_BATCH {
                        break;
                    }
                }
                let blanked = store::blank_decisions(&mut tx, after, through, now).await?;
                if blanked != count {
                    return Err(Error::Internal(format!(
                        "audit retention: {blanked} decisions blanked in {after}…{through}, {count} digested"
                    )));
                }
                let row = sign(
                    DECISIONS,
                    after,
                    through,
                    count,
                    hex::encode(digest.finalize()),
                )?;
                store::insert_purge(&mut tx, &row).await?;
                first.get_or_insert(after);
                outcome.redacted += count;
                outcome.redacted_through_seq = Some(through);
            }
            if let (Some(after), Some(through)) = (first, outcome.redacted_through_seq) {
                details["redacted"] = serde_json::json!({
                    "after_seq": after, "through_seq": through, "events": outcome.redacted,
                });
            }
        }

        if outcome.purged_through_seq.is_none() && outcome.redacted_through_seq.is_none() {
            return Ok(outcome);
        }
        // The explorer's names no event carries any more go too.
        store::prune_names(&mut tx, None).await?;
        append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.purged").details(details),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            purged = outcome.purged,
            redacted = outcome.redacted,
            "audit retention ran"
        );
        Ok(outcome)
    }
}

/// The purge records as `verify` walks them: where the chain resumes after
/// a prefix purge, and the decisions spans whose blanked rows it digests.
pub(super) struct Purges {
    /// The last purged event and its hash (the chain resumes after it).
    pub anchor: Option<(i64, String)>,
    /// Decisions spans after the anchor, in order: (after, through,
    /// count, digest).
    spans: Vec<(i64, i64, i64, String)>,
    /// The span being digested, its digest and count so far.
    current: usize,
    digest: Sha256,
    count: i64,
}

/// Where `verify` found a problem: the first bad seq and what.
pub(super) type Broken = (i64, String);

impl Purges {
    /// Loads and checks the signed purge records; a record whose signature
    /// does not verify with the audit key it names is reported broken.
    pub(super) async fn load(service: &AuditService) -> Result<std::result::Result<Self, Broken>> {
        let rows = store::purges(service.core.db.exec()).await?;
        let mut verifiers = KeyVerifiers::default();
        let mut anchor: Option<(i64, String)> = None;
        let mut spans = Vec::new();
        for row in rows {
            let claims: Option<Claims> = verifiers
                .claims(&service.signing, &row.kid, &row.jws, PURGE_JWS_TYPE)
                .await?;
            let genuine = claims.is_some_and(|c| {
                c.kind == row.kind
                    && c.after == row.after_seq
                    && c.through == row.through_seq
                    && c.count == row.count
                    && c.hash == row.hash
            });
            if !genuine {
                return Ok(Err((
                    row.after_seq + 1,
                    format!(
                        "the {} purge record of events {}…{} does not verify with the audit key: it was altered",
                        row.kind,
                        row.after_seq + 1,
                        row.through_seq
                    ),
                )));
            }
            if row.kind == PREFIX {
                if anchor.as_ref().is_none_or(|a| a.0 < row.through_seq) {
                    anchor = Some((row.through_seq, row.hash));
                }
            } else {
                spans.push((row.after_seq, row.through_seq, row.count, row.hash));
            }
        }
        let floor = anchor.as_ref().map_or(0, |a| a.0);
        spans.retain(|s| s.1 > floor);
        spans.sort_by_key(|s| s.0);
        Ok(Ok(Self {
            anchor,
            spans,
            current: 0,
            digest: Sha256::new(),
            count: 0,
        }))
    }

    /// A blanked row: it must lie in a signed span.
    pub(super) fn redacted(&mut self, seq: i64, hash: &str) -> std::result::Result<(), Broken> {
        match self.spans.get(self.current) {
            Some(&(after, through, ..)) if after < seq && seq <= through => {
                digest_row(&mut self.digest, seq, hash);
                self.count += 1;
                Ok(())
            }
            _ => Err((
                seq,
                format!("event {seq}'s content was removed, but no signed purge record blanked it"),
            )),
        }
    }

    /// After row `seq`: closes every span that ends at or before it,
    /// comparing its digest.
    pub(super) fn passed(&mut self, seq: i64) -> std::result::Result<(), Broken> {
        while let Some((after, through, count, digest)) = self.spans.get(self.current) {
            if seq < *through {
                break;
            }
            let got = hex::encode(std::mem::take(&mut self.digest).finalize());
            if self.count != *count || got != *digest {
                return Err((
                    after + 1,
                    format!(
                        "the events blanked in {}…{through} are not the {count} the signed purge record blanked ({} now)",
                        after + 1,
                        self.count
                    ),
                ));
            }
            self.count = 0;
            self.current += 1;
        }
        Ok(())
    }

    /// At the end of the log (`last` its last seq): a span left open means
    /// events it vouched for are gone.
    pub(super) fn finish(&self, last: i64) -> std::result::Result<(), Broken> {
        match self.spans.get(self.current) {
            Some((_, through, ..)) => Err((
                last + 1,
                format!("the log ends at event {last}, but a signed purge record covers events up to {through}: events {}…{through} were removed", last + 1),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{align_cut, spans, DECISION_SPAN};

    #[test]
    fn a_prefix_cut_never_splits_a_decisions_span() {
        let spans = [(0, 100), (100, 250)];
        assert_eq!(align_cut(50, &spans), 0);
        assert_eq!(align_cut(100, &spans), 100);
        assert_eq!(align_cut(101, &spans), 100);
        assert_eq!(align_cut(250, &spans), 250);
        assert_eq!(align_cut(400, &spans), 400);
    }

    #[test]
    fn decisions_are_blanked_in_bounded_spans() {
        assert!(spans(10, 10).is_empty());
        assert_eq!(spans(10, 20), vec![(10, 20)]);
        let many = spans(0, 2 * DECISION_SPAN + 1);
        assert_eq!(
            many,
            vec![
                (0, DECISION_SPAN),
                (DECISION_SPAN, 2 * DECISION_SPAN),
                (2 * DECISION_SPAN, 2 * DECISION_SPAN + 1)
            ]
        );
    }
}
