//! Gateways: the enforcement points that poll the policy API. Each has a
//! bearer credential (shown once; only its SHA-256 hash and last four
//! characters are stored), a name, and optionally the servers it fronts.
//!
//! The policy API's hot path must not touch the database, so this service
//! keeps two things in memory:
//! - credentials it has seen (positive answers only, for a minute). When a
//!   gateway changes on any replica (see [`Topic::Gateways`]; a reconnected
//!   change listener counts as a change) every remembered answer turns
//!   stale at once: the next request checks the database again, and a
//!   stale answer is used only while the database is unreachable, so
//!   gateways keep their policy through an outage. A credential revoked or
//!   rotated on this replica is forgotten outright.
//! - when each gateway last polled and which revision it was sent, written
//!   to the database every few seconds by [`GatewayService::flush_polls`].
//!
//! Status reports (`POST /api/v1/gateway/status`) are written at once;
//! decision batches (`POST /api/v1/decisions`) become audit events with the
//! tool arguments masked.
//!
//! The area has the domain's target shape: this file is the service (roles,
//! rules, audit, the credential memory; no SQL text), `model` the values
//! and their checks, `store` every SQL statement.

mod model;
mod store;

pub use model::GatewayIdentity;

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::{Topic, Tx};
use crate::directory::hint_of;
use crate::error::{Error, Result};
use crate::{revisions, Core};
use chrono::{DateTime, Utc};
use portcullis_types::{
    GatewayCreated, GatewayId, GatewayInput, GatewayServer, GatewayState, GatewaySummary,
    GatewaysView, Outcome,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A gateway that has not polled for this long shows as "Not polling".
pub const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// The most decisions one batch may carry.
pub const MAX_DECISIONS: usize = 500;

/// How long a decision id is remembered: a gateway resending a batch later
/// than this records it again.
const DECISION_ID_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// How long a remembered credential is trusted without asking the database.
const CREDENTIAL_TTL: Duration = Duration::from_secs(60);
/// How long a credential the database did not know is refused from memory
/// (a gateway with a wrong or revoked credential retrying in a loop costs
/// one query per this, not one per request).
const REJECTED_TTL: Duration = Duration::from_secs(10);

/// How long a check of a credential remembered before (stale) may wait on
/// the database before the remembered answer is used instead.
const STALE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// After a stale check found the database away, how long stale answers are
/// used without asking it again.
const AWAY_FOR: Duration = Duration::from_secs(5);
/// Rejected credentials remembered at most.
const MAX_REJECTED: usize = 10_000;

pub use portcullis_types::gateway_api::{
    mask_arguments, DecisionBatch, DecisionReport, StatusReport,
};

/// gateway id → (last poll, revision sent), not yet written.
type PendingPolls = HashMap<String, (DateTime<Utc>, i64)>;

/// What memory says of a credential.
enum Recalled {
    /// Accepted less than [`CREDENTIAL_TTL`] ago; fresh until the instant.
    Fresh(Arc<GatewayIdentity>, Instant),
    /// Accepted before that: check again (kept for when the database is away).
    Stale(Arc<GatewayIdentity>),
    Unknown,
}

struct Remembered {
    identity: Arc<GatewayIdentity>,
    at: Instant,
    /// A gateway changed since `at`: check again before trusting it.
    changed_since: bool,
}

struct Credentials {
    /// By the SHA-256 of the credential (raw bytes: no hex string per poll).
    known: HashMap<[u8; 32], Remembered>,
    changes: tokio::sync::watch::Receiver<u64>,
    /// A check of a stale credential found the database away: until this
    /// instant stale answers are used without asking it again (a frozen
    /// database would otherwise cost every poll [`STALE_CHECK_TIMEOUT`]).
    away_until: Option<Instant>,
}

/// Gateways and what they report.
#[derive(Clone)]
pub struct GatewayService {
    pub core: Arc<Core>,
    credentials: Arc<Mutex<Credentials>>,
    polls: Arc<Mutex<PendingPolls>>,
    /// Credentials refused recently (by digest), and how many requests
    /// memory refused since start.
    rejected: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
    rejected_hits: Arc<std::sync::atomic::AtomicU64>,
}

impl GatewayService {
    pub fn new(core: Arc<Core>) -> Self {
        let changes = core.db.signals().subscribe(Topic::Gateways);
        Self {
            core,
            credentials: Arc::new(Mutex::new(Credentials {
                known: HashMap::new(),
                changes,
                away_until: None,
            })),
            polls: Arc::default(),
            rejected: Arc::default(),
            rejected_hits: Arc::default(),
        }
    }

    /// Requests with an unknown or revoked credential refused from memory
    /// since start (`rate_limit_hits_total{limit="gateway_credential"}`).
    pub fn rejected_credentials(&self) -> u64 {
        self.rejected_hits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    async fn check(&self, input: &GatewayInput) -> Result<(String, String, Vec<String>)> {
        let mut errors = Vec::new();
        let (name, description) = model::name_and_description(input, &mut errors);
        // Servers by id or slug.
        let mut servers = Vec::new();
        for s in input
            .server_ids
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            match store::server_id(self.core.db.exec(), s).await? {
                Some(id) => servers.push(id),
                None => model::unknown_server(&mut errors, s),
            }
        }
        servers.sort();
        servers.dedup();
        model::refuse_if_any(errors)?;
        Ok((name, description, servers))
    }

    /// Registers a gateway and issues its credential (shown once). Audited
    /// as `gateway.created`. **Permission:** `AccessManage` (the CLI acts
    /// as the system).
    pub async fn create(&self, actor: &Actor, input: &GatewayInput) -> Result<GatewayCreated> {
        actor.require(Permission::AccessManage)?;
        let (name, description, servers) = self.check(input).await?;
        let now = self.now();
        let id = new_id("gw");
        let token = format!("pcg_{}", new_secret());
        let mut tx = self.core.db.begin().await?;
        store::insert(
            &mut tx,
            &store::NewGateway {
                id: &id,
                name: &name,
                description: &description,
                token_hash: &hash_secret(&token),
                token_hint: &hint_of(&token),
                created_at: now,
                created_by: &actor.display,
                servers: &servers,
            },
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("gateway.created")
                .target(Target::new("gateway", &id, &name))
                .details(json!({ "servers": servers, "token_hint": hint_of(&token) })),
        )
        .await?;
        tx.signal(Topic::Gateways).await?;
        tx.commit().await?;
        Ok(GatewayCreated { id, name, token })
    }

    /// Issues a new credential; the old one stops working at once. Audited
    /// as `gateway.credential.rotated`. **Permission:** `AccessManage`.
    pub async fn rotate_credential(&self, actor: &Actor, id: &GatewayId) -> Result<GatewayCreated> {
        actor.require(Permission::AccessManage)?;
        let id = id.as_str();
        let now = self.now();
        let token = format!("pcg_{}", new_secret());
        let mut tx = self.core.db.begin().await?;
        let name = store::set_credential(tx.exec(), id, &hash_secret(&token), &hint_of(&token))
            .await?
            .ok_or(Error::NotFound("gateway"))?;
        let event = NewEvent::success("gateway.credential.rotated")
            .target(Target::new("gateway", id, &name))
            .details(json!({ "token_hint": hint_of(&token) }));
        self.finish_credential_change(tx, actor, now, id, event)
            .await?;
        Ok(GatewayCreated {
            id: id.to_owned(),
            name,
            token,
        })
    }

    /// Revokes a gateway's credential for good. Audited as
    /// `gateway.revoked`. **Permission:** `AccessManage`.
    pub async fn revoke(&self, actor: &Actor, id: &GatewayId) -> Result<()> {
        actor.require(Permission::AccessManage)?;
        let id = id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = store::revoke(tx.exec(), id, now)
            .await?
            .ok_or(Error::NotFound("gateway"))?;
        let event = NewEvent::success("gateway.revoked").target(Target::new("gateway", id, &name));
        self.finish_credential_change(tx, actor, now, id, event)
            .await
    }

    /// Ends a change of gateway `id`'s credential: audits `event`, tells
    /// every replica, commits, and forgets the credential remembered here
    /// (so the old one stops working at once on this replica too).
    async fn finish_credential_change(
        &self,
        mut tx: Tx,
        actor: &Actor,
        now: DateTime<Utc>,
        id: &str,
        event: NewEvent,
    ) -> Result<()> {
        audit::append(&mut tx, now, actor, event).await?;
        tx.signal(Topic::Gateways).await?;
        tx.commit().await?;
        self.forget(id);
        Ok(())
    }

    /// Whether a stale check found the database away less than
    /// [`AWAY_FOR`] ago.
    fn database_away(&self) -> bool {
        let c = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
        c.away_until.is_some_and(|t| Instant::now() < t)
    }

    fn note_away(&self) {
        let mut c = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
        c.away_until = Some(Instant::now() + AWAY_FOR);
    }

    /// Drops what this replica remembers of gateway `id`'s credentials
    /// (revoked or rotated here: not even a database outage brings them
    /// back). Other replicas see the change signal and check again.
    fn forget(&self, id: &str) {
        self.credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .known
            .retain(|_, r| r.identity.id != id);
    }

    /// Every gateway against the current revision, with the signing keys.
    /// **Permission:** `ConsoleRead`.
    pub async fn view(&self, actor: &Actor) -> Result<GatewaysView> {
        actor.require(Permission::ConsoleRead)?;
        self.flush_polls().await?;
        let now = self.now();
        let current = revisions::head(self.core.db.exec()).await?;
        let current_revision_at = revisions::created_at(self.core.db.exec(), current).await?;
        let rows = store::list(self.core.db.exec()).await?;
        let fronts = store::fronted_servers(self.core.db.exec()).await?;
        let mut by_gateway: HashMap<String, Vec<GatewayServer>> = HashMap::new();
        for (g, id, name) in fronts {
            by_gateway
                .entry(g)
                .or_default()
                .push(GatewayServer { id, name });
        }
        let gateways: Vec<GatewaySummary> = rows
            .into_iter()
            .map(|r| {
                let servers = by_gateway.remove(&r.id).unwrap_or_default();
                model::summary(r, servers, current, now)
            })
            .collect();
        let active = gateways.iter().filter(|g| g.revoked_at.is_none()).count() as i64;
        let up_to_date = gateways
            .iter()
            .filter(|g| g.state == GatewayState::Current)
            .count() as i64;
        let keys = crate::signing::SigningService {
            core: self.core.clone(),
        }
        .list(actor)
        .await?;
        Ok(GatewaysView {
            current_revision: current,
            current_revision_at,
            gateways,
            up_to_date,
            active,
            keys,
        })
    }

    /// The key credentials are remembered by (SHA-256 of the credential).
    pub fn digest(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// What memory says of the credential with this digest (forgetting
    /// everything first if a credential was revoked since).
    fn recall(&self, digest: &[u8; 32]) -> Recalled {
        let mut c = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
        if c.changes.has_changed().unwrap_or(false) {
            c.changes.mark_unchanged();
            for r in c.known.values_mut() {
                r.changed_since = true;
            }
        }
        match c.known.get(digest) {
            Some(r) if !r.changed_since && r.at.elapsed() < CREDENTIAL_TTL => {
                Recalled::Fresh(r.identity.clone(), r.at + CREDENTIAL_TTL)
            }
            Some(r) => Recalled::Stale(r.identity.clone()),
            None => Recalled::Unknown,
        }
    }

    /// The gateway of the credential with this [`Self::digest`] if
    /// [`Self::authenticate`] accepted it less than a minute ago and no
    /// gateway changed since, with the moment that answer goes stale;
    /// `None` otherwise (then ask `authenticate`). Memory only, no `await`:
    /// the poll fast path.
    pub fn remembered(&self, digest: &[u8; 32]) -> Option<(Arc<GatewayIdentity>, Instant)> {
        match self.recall(digest) {
            Recalled::Fresh(identity, until) => Some((identity, until)),
            Recalled::Stale(_) | Recalled::Unknown => None,
        }
    }

    /// Changes when a gateway changes on any replica (a credential revoked
    /// or rotated among them): whoever keeps copies of remembered
    /// credentials drops them when it does.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .changes
            .clone()
    }

    /// The gateway a bearer credential belongs to, or `None` (unknown or
    /// revoked). Answers from memory when it can.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Arc<GatewayIdentity>>> {
        let digest = Self::digest(token);
        let stale = match self.recall(&digest) {
            Recalled::Fresh(identity, _) => return Ok(Some(identity)),
            Recalled::Stale(identity) => Some(identity),
            Recalled::Unknown => None,
        };
        if stale.is_none()
            && self
                .rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&digest)
                .is_some_and(|at| at.elapsed() < REJECTED_TTL)
        {
            self.rejected_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(None);
        }
        if stale.is_some() && self.database_away() {
            return Ok(stale);
        }
        let hash = hex::encode(digest);
        let query = store::find_by_credential(self.core.db.exec(), &hash);
        let row = match stale {
            // Known working before: the database gets a short while to
            // confirm, else (away, hanging) the remembered answer stands.
            Some(_) => match tokio::time::timeout(STALE_CHECK_TIMEOUT, query).await {
                Ok(Ok(r)) => r,
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {STALE_CHECK_TIMEOUT:?}"),
                    };
                    tracing::warn!(%error, "gateway credential check: database away; using the remembered answer");
                    self.note_away();
                    return Ok(stale);
                }
            },
            None => query.await?,
        };
        let mut c = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
        c.away_until = None;
        match row {
            Some((id, name)) => {
                let identity = Arc::new(GatewayIdentity { id, name });
                c.known.insert(
                    digest,
                    Remembered {
                        identity: identity.clone(),
                        at: Instant::now(),
                        changed_since: false,
                    },
                );
                Ok(Some(identity))
            }
            None => {
                c.known.remove(&digest);
                drop(c);
                let mut rejected = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
                if rejected.len() >= MAX_REJECTED {
                    rejected.retain(|_, at| at.elapsed() < REJECTED_TTL);
                }
                if rejected.len() < MAX_REJECTED {
                    rejected.insert(digest, Instant::now());
                }
                Ok(None)
            }
        }
    }

    /// Notes (in memory) that the policy API answered `gateway` with
    /// `revision`.
    pub fn note_poll(&self, gateway: &GatewayIdentity, revision: i64) {
        let now = self.now();
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        match polls.get_mut(&gateway.id) {
            Some(p) => *p = (now, revision),
            None => {
                polls.insert(gateway.id.clone(), (now, revision));
            }
        }
    }

    /// Writes the polls noted since the last flush. Called every few
    /// seconds by the server, and before the Gateways page reads.
    pub async fn flush_polls(&self) -> Result<usize> {
        let polls: Vec<(String, (DateTime<Utc>, i64))> = {
            let mut p = self.polls.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().collect()
        };
        if polls.is_empty() {
            return Ok(0);
        }
        let n = polls.len();
        let written = async {
            let mut tx = self.core.db.begin().await?;
            for (id, (at, rev)) in &polls {
                store::note_poll(tx.exec(), id, *at, *rev).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            // Keep them for the next flush (newer polls win).
            let mut p = self.polls.lock().unwrap_or_else(|e| e.into_inner());
            for (id, v) in polls {
                p.entry(id).or_insert(v);
            }
            return Err(e);
        }
        Ok(n)
    }

    /// Records a gateway's status report.
    pub async fn report_status(
        &self,
        gateway: &GatewayIdentity,
        report: &StatusReport,
    ) -> Result<()> {
        model::check_status(report)?;
        let now = self.now();
        let error = report
            .last_error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let mut tx = self.core.db.begin().await?;
        store::report_status(
            tx.exec(),
            &gateway.id,
            &store::Status {
                at: now,
                active_revision: report.active_revision,
                last_fetch_at: report.last_fetch_at,
                error,
                software: report.software.as_deref(),
            },
        )
        .await?;
        tx.commit().await
    }

    /// Records a batch of decisions as audit events (`gateway.decision`,
    /// outcome success for allow and denied for deny), arguments masked.
    /// The whole batch is checked first: one bad decision refuses the batch
    /// and nothing is written. A decision whose `id` this gateway sent
    /// before (within a week) is skipped; returns how many were recorded.
    pub async fn record_decisions(
        &self,
        gateway: &GatewayIdentity,
        meta: RequestMeta,
        batch: &DecisionBatch,
    ) -> Result<usize> {
        model::check_decisions(batch)?;
        let now = self.now();
        let actor = gateway.actor(meta);
        let mut tx = self.core.db.begin().await?;
        store::forget_decision_ids(tx.exec(), now - DECISION_ID_RETENTION).await?;
        // Ids sent before (a retry after a lost answer) are recorded once.
        let ids: Vec<&str> = batch
            .decisions
            .iter()
            .filter_map(|d| d.id.as_deref())
            .collect();
        let mut fresh = store::first_decisions(&mut tx, &gateway.id, &ids, now).await?;
        let mut events = Vec::with_capacity(batch.decisions.len());
        for d in &batch.decisions {
            if let Some(id) = &d.id {
                // `remove`: an id twice in one batch is recorded once too.
                if !fresh.remove(id.as_str()) {
                    continue;
                }
            }
            let mut event = NewEvent::success("gateway.decision")
                .target(Target::new(
                    "mcp_tool",
                    format!("{}/{}", d.server, d.tool),
                    format!("{} on {}", d.tool, d.server),
                ))
                .details(json!({
                    "id": d.id,
                    "at": d.at,
                    "user": d.user,
                    "client": d.client,
                    "server": d.server,
                    "tool": d.tool,
                    "allowed": d.allowed,
                    "reason": d.reason,
                    "rule": d.rule,
                    "revision": d.revision,
                    "arguments": d.arguments.as_ref().map(mask_arguments),
                    "act": d.act,
                }));
            if !d.allowed {
                event.outcome = Outcome::Denied;
            }
            events.push(event);
        }
        let recorded = events.len();
        // One extension of the chain for the whole batch.
        audit::append_batch(&mut tx, now, &actor, events).await?;
        tx.commit().await?;
        Ok(recorded)
    }
}
