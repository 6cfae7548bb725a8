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
//! inserted rows). It also checks the signed checkpoints (`checkpoint`):
//! each stored one must verify with the audit key and match the event it
//! names; [`AuditService::verify_with`] does the same with a checkpoint
//! exported earlier, which catches a truncated tail and a chain rewritten
//! from scratch (its stored checkpoints deleted with it).
//!
//! The area has the domain's target shape: this file is the service (no
//! SQL text), `model` the event, its stored record and the chain hash,
//! `checkpoint` the signed checkpoints (their claims and service methods),
//! `retention` purging and the legal hold, `erasure` erasing a person's
//! personal data and revealing masked details, `export` and `sinks` the
//! ways events leave, `links` reading the chain for verify (a SQLite file
//! in place, on every core), `store` every SQL statement.

pub mod catalog;
mod checkpoint;
pub mod erasure;
pub mod export;
mod links;
mod model;
pub mod retention;
pub mod sinks;
mod store;

pub use checkpoint::{CHECKPOINT_JWS_TYPE, CHECKPOINT_TICK};

use model::{clip, EventRow};
pub use model::{NewEvent, Target, GENESIS_HASH};

use crate::actor::{Actor, Permission};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::signing::SigningService;
use crate::Core;
use chrono::{DateTime, Utc};
use portcullis_types::{
    AuditCheckpoint, AuditEventSummary, AuditQuery, AuditSlice, AuditTimeline, ChainReport,
    Outcome, Page,
};
use std::sync::Arc;

/// The largest page a list call returns.
pub const MAX_PAGE: i64 = 200;

/// A page size from a requested `limit`: 50 when unset, at most
/// [`MAX_PAGE`].
fn page_size(limit: i64) -> i64 {
    if limit <= 0 {
        50
    } else {
        limit.min(MAX_PAGE)
    }
}

/// The filters of a search, as recorded by `audit.searched` (only those
/// set).
fn search_filters(q: &AuditQuery) -> serde_json::Value {
    serde_json::Value::Object(
        q.filters()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), clip(&v, 200).into()))
            .collect(),
    )
}

/// The timeline's bucket width for a range of `span` seconds: the
/// smallest round width that makes at most 48 buckets.
fn bucket_width(span: i64) -> i64 {
    const WIDTHS: [i64; 12] = [
        60,
        300,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        30 * 86_400,
    ];
    WIDTHS
        .iter()
        .copied()
        .find(|w| span <= w * 48)
        .unwrap_or(30 * 86_400)
}

/// Appends `event` by `actor` at `at` inside `tx`. Returns the sequence number.
pub async fn append(tx: &mut Tx, at: DateTime<Utc>, actor: &Actor, event: NewEvent) -> Result<i64> {
    append_batch(tx, at, actor, vec![event]).await
}

/// Appends `events` by `actor` at `at` inside `tx` as one extension of the
/// chain (a gateway's decision batch): the head row moves once, the hashes
/// are computed in memory and the rows go in multi-row INSERTs, so a batch
/// costs a few round trips, not one per event. Returns the last sequence
/// number (the head's, unchanged, when `events` is empty).
pub async fn append_batch(
    tx: &mut Tx,
    at: DateTime<Utc>,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> Result<i64> {
    let n = events.len() as i64;
    // Taking the head row first serialises concurrent appenders.
    let head = store::advance_head(tx, n).await?;
    if n == 0 {
        return Ok(head.seq);
    }
    let mut prev_hash = head.hash;
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let row = EventRow::new(head.seq - n + 1 + i as i64, at, actor, event, prev_hash)?;
        prev_hash = row.hash.clone();
        rows.push(row);
    }
    store::insert(tx, &rows).await?;
    Ok(head.seq)
}

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
    summaries(store::about(exec, target_type, target_id, limit).await?)
}

/// Stored rows as listed.
fn summaries(rows: Vec<EventRow>) -> Result<Vec<AuditEventSummary>> {
    rows.into_iter().map(EventRow::into_summary).collect()
}

/// Reads and verifies the audit log.
#[derive(Clone)]
pub struct AuditService {
    pub(crate) core: Arc<Core>,
    /// Signs checkpoints (key purpose `audit`) and opens their keys.
    pub(crate) signing: SigningService,
    /// The SSRF guard: checkpoints to the witness URL, events to the
    /// streaming destinations.
    pub(crate) guard: Arc<portcullis_discovery::Guard>,
}

impl AuditService {
    /// Appends `event` by `actor` now, in a transaction of its own: for
    /// what is recorded with no other change (a read of the log, a refusal).
    /// Returns its sequence number.
    pub(crate) async fn record(&self, actor: &Actor, event: NewEvent) -> Result<i64> {
        let mut tx = self.core.db.begin().await?;
        let seq = append(&mut tx, self.core.clock.now(), actor, event).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Records a call of the admin REST API that made no audited change
    /// itself (a read, or a refused request) as `api.call`, with the
    /// method, path and status: every call of an API key leaves a trace.
    pub async fn record_api_call(
        &self,
        actor: &Actor,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<()> {
        let outcome = match status {
            200..=399 => portcullis_types::Outcome::Success,
            401 | 403 => portcullis_types::Outcome::Denied,
            _ => portcullis_types::Outcome::Failure,
        };
        self.record(
            actor,
            NewEvent::success("api.call")
                .outcome(outcome)
                .details(serde_json::json!({
                    "method": method,
                    "path": clip(path, 512),
                    "status": status,
                })),
        )
        .await?;
        Ok(())
    }

    /// Lists events newest first, by offset (the REST API's list and the
    /// Overview). **Permission:** `AuditRead`.
    pub async fn list_events(
        &self,
        actor: &Actor,
        q: AuditQuery,
    ) -> Result<Page<AuditEventSummary>> {
        actor.require(Permission::AuditRead)?;
        let limit = page_size(q.limit);
        let offset = q.offset.max(0);
        let filter = store::Filter::resolve(&q, &self.core.db).await?;
        let db = &self.core.db;
        let total = store::count(db.exec(), &filter).await?;
        let rows = store::list(db.exec(), &filter, limit, offset).await?;
        Ok(Page {
            items: summaries(rows)?,
            total,
            offset,
            limit,
        })
    }

    /// How many events match `q`'s filters (an export's size, for its
    /// progress). **Permission:** `AuditRead`.
    pub async fn count_events(&self, actor: &Actor, q: &AuditQuery) -> Result<i64> {
        actor.require(Permission::AuditRead)?;
        let filter = store::Filter::resolve(q, &self.core.db).await?;
        store::count(self.core.db.exec(), &filter).await
    }

    /// The explorer's page: events matching the filters newest first,
    /// before `q.before` or (going back towards the newest) after
    /// `q.after`, by keyset, so a page deep in millions of rows costs what
    /// the first does; no total is counted. A search (any filter set) is
    /// audited as `audit.searched` with its filters when its first page is
    /// read. **Permission:** `AuditRead`.
    pub async fn explore(&self, actor: &Actor, q: AuditQuery) -> Result<AuditSlice> {
        actor.require(Permission::AuditRead)?;
        let limit = page_size(q.limit);
        let filter = store::Filter::resolve(&q, &self.core.db).await?;
        let db = &self.core.db;
        // The page is read with one event more: whether the walk found it
        // tells if anything lies beyond the page on the side it walked
        // toward, without a second query (a rare free-text match made that
        // a second scan of the range). The side it started from needs a
        // probe, except from the newest end.
        let beyond = |seq: i64, older: bool| store::any_beyond(db.exec(), &filter, seq, older);
        let (rows, older, newer) = match (q.before, q.after) {
            (_, Some(after)) => {
                let mut rows = store::page_after(db.exec(), &filter, after, limit + 1).await?;
                let more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                rows.reverse();
                let (newer, older) = match (rows.first(), rows.last()) {
                    (Some(first), Some(last)) => (
                        more.then_some(first.seq),
                        beyond(last.seq, true).await?.then_some(last.seq),
                    ),
                    // Past the newest end: the way back is the cursor.
                    _ => (q.before.map(|s| s - 1), Some(after + 1)),
                };
                (rows, older, newer)
            }
            (before, None) => {
                let mut rows = store::page_before(db.exec(), &filter, before, limit + 1).await?;
                let more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                let (older, newer) = match (rows.first(), rows.last(), before) {
                    (Some(first), Some(last), Some(_)) => (
                        more.then_some(last.seq),
                        beyond(first.seq, false).await?.then_some(first.seq),
                    ),
                    (Some(_), Some(last), None) => (more.then_some(last.seq), None),
                    // Past the oldest end: the way back is the cursor.
                    _ => (None, before.map(|s| s - 1)),
                };
                (rows, older, newer)
            }
        };
        if q.is_search() && q.before.is_none() && q.after.is_none() {
            self.record_search(actor, &q, rows.len()).await?;
        }
        Ok(AuditSlice {
            items: summaries(rows)?,
            older,
            newer,
        })
    }

    /// Appends `audit.searched`: who searched the log for what.
    async fn record_search(&self, actor: &Actor, q: &AuditQuery, shown: usize) -> Result<()> {
        self.record(
            actor,
            NewEvent::success("audit.searched").details(serde_json::json!({
                "filters": search_filters(q),
                "shown": shown,
            })),
        )
        .await?;
        Ok(())
    }

    /// Events matching the filters over `[since, until)` (the last 7 days
    /// when unset) in about 48 buckets of a round width (a minute up to a
    /// week). **Permission:** `AuditRead`.
    pub async fn timeline(&self, actor: &Actor, q: &AuditQuery) -> Result<AuditTimeline> {
        actor.require(Permission::AuditRead)?;
        let now = self.core.clock.now();
        let until = q.until.unwrap_or(now);
        let since = q
            .since
            .filter(|s| *s < until)
            .unwrap_or(until - chrono::Duration::days(7));
        let width = bucket_width((until - since).num_seconds());
        // Buckets start on a multiple of the width (whole hours, days…).
        let origin = DateTime::from_timestamp(since.timestamp().div_euclid(width) * width, 0)
            .unwrap_or(since);
        let n = ((until - origin).num_seconds() + width - 1) / width;
        let rows = self.bucket_counts(q, since, until, origin, width).await?;
        let mut counts = vec![0; n.max(1) as usize];
        for (bucket, count) in rows {
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot += count;
            }
        }
        Ok(AuditTimeline {
            since: origin,
            until,
            bucket_seconds: width,
            total: counts.iter().sum(),
            counts,
        })
    }

    /// Every event stamped at or after `since` (up to a day past now): the
    /// whole quarter hours added up from `audit_counts`, the ragged start
    /// counted event by event.
    pub(crate) async fn count_since(&self, since: DateTime<Utc>) -> Result<i64> {
        let slot = store::SLOT_SECONDS;
        let origin = DateTime::from_timestamp(store::slot_of(since) * slot, 0).unwrap_or(since);
        let until = self.core.clock.now().max(since) + chrono::Duration::days(1);
        // One bucket as wide as the range, rounded up to whole slots.
        let width = ((until - origin).num_seconds() / slot + 1) * slot;
        let until = origin + chrono::Duration::seconds(width);
        let rows = self
            .bucket_counts(&AuditQuery::default(), since, until, origin, width)
            .await?;
        Ok(rows.iter().map(|(_, n)| n).sum())
    }

    /// (bucket, events) of the events matching `q` in `[since, until)`,
    /// buckets of `width` seconds from `origin`, those with no event left
    /// out. A query on time alone adds up the whole quarter hours of the
    /// range from `audit_counts` and counts only its ragged ends event by
    /// event, when each slot falls in one bucket (`width` whole slots from
    /// an `origin` on a slot's start); otherwise every event is counted.
    pub(crate) async fn bucket_counts(
        &self,
        q: &AuditQuery,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        origin: DateTime<Utc>,
        width: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let slot = store::SLOT_SECONDS;
        let time_only = q
            .filters()
            .iter()
            .all(|(name, _)| matches!(*name, "since" | "until"));
        let aligned = width % slot == 0 && origin.timestamp() % slot == 0;
        let Some((first, start, last, end)) = (aligned && time_only)
            .then(|| store::whole_slots(since, until))
            .flatten()
        else {
            return self.timeline_rows(q, since, until, origin, width).await;
        };
        let mut rows = Vec::new();
        if since < start {
            rows = self.timeline_rows(q, since, start, origin, width).await?;
        }
        rows.extend(
            store::slot_counts(self.core.db.exec(), first, last)
                .await?
                .into_iter()
                .map(|(s, n)| ((s * slot - origin.timestamp()) / width, n)),
        );
        if end < until {
            rows.extend(self.timeline_rows(q, end, until, origin, width).await?);
        }
        Ok(rows)
    }

    /// (bucket, events) of the events matching `q` in `[since, until)`,
    /// counted one by one.
    async fn timeline_rows(
        &self,
        q: &AuditQuery,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        origin: DateTime<Utc>,
        width: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let bounded = AuditQuery {
            since: Some(since),
            until: Some(until),
            ..q.clone()
        };
        let filter = store::Filter::resolve(&bounded, &self.core.db).await?;
        store::timeline(self.core.db.exec(), &filter, origin, width).await
    }

    /// One event by its id (the explorer's drawer, linked).
    /// **Permission:** `AuditRead`.
    pub async fn event(&self, actor: &Actor, id: &str) -> Result<AuditEventSummary> {
        actor.require(Permission::AuditRead)?;
        store::by_id(self.core.db.exec(), id)
            .await?
            .ok_or(Error::NotFound("audit event"))?
            .into_summary()
    }

    /// Recomputes the whole chain and checks every stored checkpoint
    /// against it. **Permission:** `AuditRead`.
    pub async fn verify(&self, actor: &Actor) -> Result<ChainReport> {
        self.verify_with(actor, None).await
    }

    /// [`Self::verify`], and, given a checkpoint exported earlier, checks
    /// its signature against the key store and that the log still holds
    /// what it vouches for: a tail cut off, or a chain rewritten from
    /// scratch (stored checkpoints deleted too), is found. A checkpoint
    /// whose signature does not verify with its own key is refused as
    /// invalid input (field `checkpoint`). **Permission:** `AuditRead`.
    /// Each verification is recorded as `audit.verified` (what was checked
    /// and the first bad event, if any).
    pub async fn verify_with(
        &self,
        actor: &Actor,
        exported: Option<&AuditCheckpoint>,
    ) -> Result<ChainReport> {
        actor.require(Permission::AuditRead)?;
        let report = self.walk(exported).await?;
        let event = NewEvent::success("audit.verified")
            .outcome(if report.first_bad_seq.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            })
            .details(serde_json::json!({
                "checked": report.checked,
                "head_seq": report.head_seq,
                "first_bad_seq": report.first_bad_seq,
                "checkpoints_checked": report.checkpoints_checked,
                "exported_checkpoint": exported.is_some(),
            }));
        match self.record(actor, event).await {
            Ok(_) => Ok(report),
            // A damaged log may refuse the append (a row already where the
            // head says the next one goes): the report matters more.
            Err(e) if report.first_bad_seq.is_some() => {
                tracing::warn!(error = %e, "could not record audit.verified on a damaged log");
                Ok(report)
            }
            Err(e) => Err(e),
        }
    }

    /// The walk behind [`Self::verify_with`] (see there).
    async fn walk(&self, exported: Option<&AuditCheckpoint>) -> Result<ChainReport> {
        let db = &self.core.db;
        let head = store::head(db.exec()).await?;
        let stored = store::checkpoints(db.exec()).await?;
        let mut report = ChainReport {
            checked: 0,
            head_seq: head.seq,
            first_bad_seq: None,
            problem: None,
            checkpoints_checked: 0,
            latest_checkpoint_seq: stored.last().map(|c| c.seq),
            purged_through_seq: None,
            redacted: 0,
            erased: 0,
        };
        let broken = |mut report: ChainReport, seq: i64, problem: String| -> Result<ChainReport> {
            report.first_bad_seq = Some(seq);
            report.problem = Some(problem);
            Ok(report)
        };
        // Retention: where the chain resumes, and the blanked spans.
        let mut purges = match retention::Purges::load(self).await? {
            Ok(p) => p,
            Err((seq, problem)) => return broken(report, seq, problem),
        };
        let (floor, floor_hash) = purges
            .anchor
            .clone()
            .unwrap_or((0, GENESIS_HASH.to_owned()));
        report.purged_through_seq = purges.anchor.as_ref().map(|a| a.0);
        let mut erasures = match erasure::Erasures::load(self).await? {
            Ok(e) => e,
            Err((seq, problem)) => return broken(report, seq, problem),
        };

        // What the checkpoints vouch for: (seq, hash, where it comes from).
        let mut vouched: Vec<(i64, String, String)> = Vec::with_capacity(stored.len() + 1);
        if let Some(cp) = exported {
            let claims = checkpoint::open(&cp.jws, &cp.jwk.to_string()).map_err(|e| {
                Error::invalid(
                    "checkpoint",
                    format!("its signature does not verify with its own key ({e}): the file is damaged or was not made by Portcullis"),
                )
            })?;
            let kid = portcullis_policy::signed::Verifier::key_id(cp.jws.as_bytes())
                .map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
            let signed_by_store = match self.signing.public_jwk(&kid).await? {
                Some(jwk) => checkpoint::open(&cp.jws, &jwk).is_ok(),
                None => false,
            };
            if !signed_by_store {
                return broken(
                    report,
                    claims.seq,
                    format!("the key store does not hold key {kid}, which signed the exported checkpoint of event {}: the key store was altered", claims.seq),
                );
            }
            let source = format!("the exported checkpoint signed {}", fmt_time(claims.iat));
            if claims.seq == floor && claims.hash != floor_hash {
                return broken(
                    report,
                    floor,
                    format!("event {floor}, where retention's signed purge record resumes the chain, is not the one {source} vouches for"),
                );
            }
            // Older than the retention floor: its events are purged, and
            // the signed purge record stands in for it.
            if claims.seq > floor {
                vouched.push((claims.seq, claims.hash, source));
            }
        }
        let mut verifiers = checkpoint::KeyVerifiers::default();
        for row in stored.iter().filter(|c| c.seq > floor) {
            let genuine = verifiers
                .get(&self.signing, &row.kid)
                .await?
                .and_then(|v| checkpoint::open_with(v, &row.jws).ok())
                .is_some_and(|c| c.seq == row.seq && c.hash == row.hash);
            if !genuine {
                return broken(
                    report,
                    row.seq,
                    format!("the stored checkpoint of event {} does not verify with the audit key: it was altered", row.seq),
                );
            }
            vouched.push((
                row.seq,
                row.hash.clone(),
                format!(
                    "the checkpoint signed {}",
                    row.signed_at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            ));
        }
        vouched.sort_by_key(|v| v.0);

        let mut expected_seq = floor + 1;
        let mut prev_hash = floor_hash;
        let mut next_vouched = 0usize;
        // The last event a matching checkpoint vouched for.
        let mut vouched_up_to = 0i64;
        // Events appended while the walk runs (gateways, the console) move
        // the head on: once the pages run out, the walk goes on from where
        // it stopped as long as rows were stored past what it read and the
        // last pass found rows; it then ends where the head is.
        let mut head = head;
        loop {
            let pass_from = expected_seq;
            // Every row stored up to now, past the head too (a row there
            // is reported). Each row's hash covers its own `prev_hash`, so
            // rows are hashed where they are read, on every core, and only
            // the links are checked here, in order (`links`).
            let to = store::max_seq(db.exec()).await?.max(head.seq);
            let mut pages = links::Pages::read(db, expected_seq, to);
            while let Some(page) = pages.next().await {
                for row in page? {
                    if row.seq != expected_seq {
                        let msg = format!("event {expected_seq} is missing (next is {})", row.seq);
                        return broken(report, expected_seq, msg);
                    }
                    if row.prev_hash != prev_hash {
                        return broken(
                            report,
                            row.seq,
                            "prev_hash does not match the previous event".into(),
                        );
                    }
                    if row.erasure_id.is_some() || row.erased_hash.is_some() {
                        if let Err((seq, problem)) = erasures.erased(&row) {
                            return broken(report, seq, problem);
                        }
                        report.erased += 1;
                    }
                    if row.redacted {
                        if let Err((seq, problem)) = purges.redacted(row.seq, &row.hash) {
                            return broken(report, seq, problem);
                        }
                        report.redacted += 1;
                    } else if row.erasure_id.is_none()
                        && row.content.as_deref() != Some(row.hash.as_str())
                    {
                        return broken(report, row.seq, "content does not match its hash".into());
                    }
                    if let Err((seq, problem)) = purges.passed(row.seq) {
                        return broken(report, seq, problem);
                    }
                    while let Some((seq, hash, source)) = vouched.get(next_vouched) {
                        if *seq != row.seq {
                            break;
                        }
                        report.checkpoints_checked += 1;
                        if *hash != row.hash {
                            let from = vouched_up_to + 1;
                            return broken(
                            report,
                            from,
                            format!("event {seq} is not the one {source} vouches for: the log was rewritten, from some event in {from}…{seq}"),
                        );
                        }
                        vouched_up_to = *seq;
                        next_vouched += 1;
                    }
                    prev_hash = row.hash;
                    expected_seq += 1;
                    report.checked += 1;
                }
            }
            let now = store::head(db.exec()).await?;
            let moved_on = store::max_seq(db.exec()).await? > to;
            head = now;
            if !(moved_on && expected_seq > pass_from) {
                break;
            }
        }
        report.head_seq = head.seq;
        let last = expected_seq - 1;
        if last != head.seq || prev_hash != head.hash {
            let msg = format!(
                "the chain head says {} events but the chain verifies up to event {last}",
                head.seq
            );
            return broken(report, last + 1, msg);
        }
        if let Some((seq, _, source)) = vouched.get(next_vouched) {
            let msg = format!("the log ends at event {last}, but {source} vouches for {seq} events: events {}…{seq} were removed", last + 1);
            return broken(report, last + 1, msg);
        }
        if let Err((seq, problem)) = purges.finish(last) {
            return broken(report, seq, problem);
        }
        if let Err((seq, problem)) = erasures.finish(floor) {
            return broken(report, seq, problem);
        }
        Ok(report)
    }
}

/// A checkpoint's `iat` as text.
fn fmt_time(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}
