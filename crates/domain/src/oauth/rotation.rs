//! Refresh-token rotation in batches: a group commit for the token
//! endpoint's hot path.
//!
//! A refresh marks the presented token used and stores its successor. Done
//! one request at a time that is a write transaction of four or five
//! statements per token, and on SQLite each statement is a round trip to
//! the connection's own thread (sqlx runs every SQLite connection on a
//! thread of its own), so the endpoint's time went to thread hand-offs, not
//! to SQL (docs/benchmarks.md, "Where Portcullis's time goes"). Here the
//! refreshes that arrive together share one transaction of four statements
//! whatever their number: read every presented token with its grant, mark
//! the good ones used with one conditional `UPDATE … RETURNING`, insert all
//! successors with one `INSERT`, commit.
//!
//! Only the common case is batched: a token that is unused, unexpired, of
//! the asking client, on a live grant (active person, enabled server), for
//! the same resource and a scope within the grant's. Anything else — an
//! unknown, used or expired token, a refusal, a token presented twice in
//! one batch, a database error — is answered "not rotated" and the caller
//! takes the one-request path ([`super::OAuthService`]'s `refresh_one`),
//! which gives the exact error and does what a refusal requires (a reused
//! token revokes its grant). A token is single-use because the `UPDATE`
//! marks only tokens still unused and reports which it marked: on
//! PostgreSQL with several replicas, a token another replica rotated first
//! is not reported, and its request goes the one-request path, which sees
//! the reuse.
//!
//! One task per process runs the batches, one after another; it takes
//! whatever requests are queued when it is free (at most [`MAX_BATCH`]), so
//! an idle endpoint answers a lone refresh at once and a busy one batches
//! more. Signing the access token is left to the requests (in parallel on
//! the runtime's threads): the batch returns the grant the token was minted
//! for once the successor is committed.

use super::model::{ErrorCode, Scopes};
use super::store::{self, GrantRow};
use super::REFRESH_TTL_DAYS;
use crate::Core;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// At most this many refreshes share a transaction (the `INSERT` binds two
/// values per token).
pub const MAX_BATCH: usize = 64;

/// One refresh to rotate.
pub(super) struct Refresh {
    /// Hash of the presented refresh token.
    pub presented: String,
    /// Hash of its successor.
    pub successor: String,
    /// The authenticated client.
    pub client_id: String,
    /// `resource` of the request, if any (must be the grant's).
    pub resource: Option<String>,
    /// `scope` of the request, if any (must be within the grant's).
    pub scope: Option<Scopes>,
}

/// Why a refresh is refused (after the client and reuse checks).
pub(super) struct Refusal {
    pub code: ErrorCode,
    pub message: &'static str,
    /// The refusal depends on the request, not on the token: the token
    /// stays unused.
    pub keeps_token: bool,
}

/// The rules a refresh of `grant` must pass, for the batch and the
/// one-request path alike: the scope to issue, or why not.
pub(super) fn admit(
    grant: &GrantRow,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    resource: Option<&str>,
    asked: Option<&Scopes>,
) -> crate::Result<Result<Scopes, Refusal>> {
    let refuse = |code, message, keeps_token| {
        Ok(Err(Refusal {
            code,
            message,
            keeps_token,
        }))
    };
    if expires_at <= now || grant.revoked {
        return refuse(
            ErrorCode::InvalidGrant,
            "the refresh token expired or was revoked",
            false,
        );
    }
    if !grant.person_active {
        return refuse(
            ErrorCode::InvalidGrant,
            "the person's account is not active",
            false,
        );
    }
    if !grant.server_enabled {
        return refuse(ErrorCode::InvalidGrant, "the MCP server is disabled", false);
    }
    if resource.is_some_and(|r| r != grant.resource) {
        return refuse(
            ErrorCode::InvalidTarget,
            "a refresh token is bound to the resource it was issued for",
            true,
        );
    }
    let granted = Scopes::parse(&grant.scope).map_err(crate::Error::Internal)?;
    match asked {
        None => Ok(Ok(granted)),
        Some(asked) if asked.is_subset(&granted) => Ok(Ok(asked.clone())),
        Some(_) => refuse(
            ErrorCode::InvalidScope,
            "a refresh may only narrow the scope",
            true,
        ),
    }
}

/// A refresh waiting for its batch.
struct Job {
    refresh: Refresh,
    reply: oneshot::Sender<Option<(GrantRow, Scopes)>>,
}

/// Queues refreshes for the batch task (started on first use, on the
/// runtime of that first request).
#[derive(Clone, Default)]
pub(super) struct Rotator {
    queue: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
    stats: Arc<Stats>,
}

/// Counts since start (this process), for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    batches: AtomicU64,
    rotated: AtomicU64,
    one_by_one: AtomicU64,
}

/// What the batches did since this process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationStats {
    /// Transactions run by the batch task.
    pub batches: u64,
    /// Refresh tokens rotated in them.
    pub rotated: u64,
    /// Refreshes left to the one-request path.
    pub one_by_one: u64,
}

impl Rotator {
    /// Rotates `refresh.presented` into `refresh.successor` if it is the
    /// common case; the grant and the scope to issue on success, `None`
    /// when the caller must take the one-request path.
    pub async fn rotate(
        &self,
        core: &Arc<Core>,
        touch: &crate::ratelimit::TouchLog,
        refresh: Refresh,
    ) -> Option<(GrantRow, Scopes)> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(core.clone(), touch.clone(), self.stats.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let grant = match queue.send(Job { refresh, reply }) {
            Ok(()) => answer.await.ok().flatten(),
            Err(_) => None,
        };
        if grant.is_none() {
            self.stats.one_by_one.fetch_add(1, Ordering::Relaxed);
        }
        grant
    }

    pub fn stats(&self) -> RotationStats {
        RotationStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            rotated: self.stats.rotated.load(Ordering::Relaxed),
            one_by_one: self.stats.one_by_one.load(Ordering::Relaxed),
        }
    }
}

async fn run(
    core: Arc<Core>,
    touch: crate::ratelimit::TouchLog,
    stats: Arc<Stats>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::take(&mut jobs);
        let rotated = match rotate_batch(&core, &touch, &batch).await {
            Ok(r) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                let n = r.iter().flatten().count() as u64;
                stats.rotated.fetch_add(n, Ordering::Relaxed);
                r
            }
            Err(e) => {
                // Rolled back: every token is as it was; each request
                // retries on its own (and reports the error if it recurs).
                tracing::warn!(error = %e, batch = batch.len(), "batched refresh failed");
                vec![None; batch.len()]
            }
        };
        for (job, grant) in batch.into_iter().zip(rotated) {
            let _ = job.reply.send(grant);
        }
    }
}

/// One transaction for `jobs`; for each job the grant and scope if its
/// token was rotated.
async fn rotate_batch(
    core: &Core,
    touch: &crate::ratelimit::TouchLog,
    jobs: &[Job],
) -> crate::Result<Vec<Option<(GrantRow, Scopes)>>> {
    let now = core.clock.now();
    let mut tx = core.db.begin().await?;
    let jobs: Vec<&Refresh> = jobs.iter().map(|j| &j.refresh).collect();
    let hashes: Vec<&str> = jobs.iter().map(|j| j.presented.as_str()).collect();
    let found = store::refresh_candidates(&mut tx, &hashes).await?;
    let by_hash: std::collections::HashMap<&str, &store::RefreshCandidate> =
        found.iter().map(|c| (c.token_hash.as_str(), c)).collect();
    // The jobs whose token may be rotated here (a token presented twice
    // in one batch only the first time: the second is a reuse).
    let mut seen = std::collections::HashSet::new();
    let good: Vec<Option<(&store::RefreshCandidate, Scopes)>> = jobs
        .iter()
        .map(|j| {
            let c = *by_hash.get(j.presented.as_str())?;
            if c.used || c.grant.client_id != j.client_id {
                return None;
            }
            let scope = admit(
                &c.grant,
                c.expires_at,
                now,
                j.resource.as_deref(),
                j.scope.as_ref(),
            )
            .ok()?
            .ok()?;
            seen.insert(j.presented.as_str()).then_some((c, scope))
        })
        .collect();
    let wanted: Vec<&str> = good
        .iter()
        .flatten()
        .map(|(c, _)| c.token_hash.as_str())
        .collect();
    if wanted.is_empty() {
        return Ok(vec![None; jobs.len()]);
    }
    let used: std::collections::HashSet<String> = store::use_refresh_batch(&mut tx, &wanted, now)
        .await?
        .into_iter()
        .collect();
    let out: Vec<Option<(GrantRow, Scopes)>> = good
        .into_iter()
        .map(|g| g.filter(|(c, _)| used.contains(&c.token_hash)))
        .map(|g| g.map(|(c, scope)| (c.grant.clone(), scope)))
        .collect();
    let successors: Vec<(String, String)> = jobs
        .iter()
        .zip(&out)
        .filter_map(|(j, g)| Some((j.successor.clone(), g.as_ref()?.0.id.clone())))
        .collect();
    store::insert_refresh_batch(
        &mut tx,
        &successors,
        now,
        now + Duration::days(REFRESH_TTL_DAYS),
    )
    .await?;
    let due: Vec<&GrantRow> = out
        .iter()
        .flatten()
        .map(|(g, _)| g)
        .filter(|g| touch.due(&g.id, now))
        .collect();
    if !due.is_empty() {
        let grants: Vec<&str> = due.iter().map(|g| g.id.as_str()).collect();
        let mut clients: Vec<&str> = due.iter().map(|g| g.client_id.as_str()).collect();
        clients.sort_unstable();
        clients.dedup();
        store::touch_batch(&mut tx, &grants, &clients, now).await?;
    }
    tx.commit().await?;
    Ok(out)
}
