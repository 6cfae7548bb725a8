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

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Topic;
use crate::directory::hint_of;
use crate::error::{Error, Result};
use crate::{exec, fetch_all, fetch_optional, revisions, Core};
use chrono::{DateTime, Utc};
use portcullis_types::{
    FieldError, GatewayCreated, GatewayInput, GatewayServer, GatewayState, GatewaySummary,
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

/// A gateway as the policy API knows it after authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayIdentity {
    pub id: String,
    pub name: String,
}

impl GatewayIdentity {
    /// The audit actor for this gateway.
    pub fn actor(&self, meta: RequestMeta) -> Actor {
        Actor::gateway(&self.id, &self.name, meta)
    }
}

pub use portcullis_types::gateway_api::{
    mask_arguments, DecisionBatch, DecisionReport, StatusReport,
};

#[derive(sqlx::FromRow)]
struct GatewayRow {
    id: String,
    name: String,
    description: String,
    token_hint: String,
    created_at: DateTime<Utc>,
    created_by: String,
    revoked_at: Option<DateTime<Utc>>,
    last_poll_at: Option<DateTime<Utc>>,
    served_revision: Option<i64>,
    reported_at: Option<DateTime<Utc>>,
    active_revision: Option<i64>,
    last_fetch_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    software: Option<String>,
}

const GATEWAY_COLUMNS: &str = "id, name, description, token_hint, created_at, created_by, \
    revoked_at, last_poll_at, served_revision, reported_at, active_revision, last_fetch_at, \
    last_error, last_error_at, software";

/// What the gateway enforces and how it stands, from its row.
fn state_of(r: &GatewayRow, current: i64, now: DateTime<Utc>) -> (GatewayState, Option<i64>) {
    let enforced = r.active_revision.or(r.served_revision);
    let lag = enforced.map(|e| (current - e).max(0));
    let last_seen = r.last_poll_at.max(r.reported_at);
    let state = if r.revoked_at.is_some() {
        GatewayState::Revoked
    } else if last_seen.is_none() {
        GatewayState::Never
    } else if r.last_error.is_some()
        && r.last_error_at.is_some()
        && r.last_error_at >= r.last_fetch_at
    {
        GatewayState::Error
    } else if last_seen.is_some_and(|t| now - t > STALE_AFTER) {
        GatewayState::Stale
    } else if lag == Some(0) {
        GatewayState::Current
    } else {
        GatewayState::Behind
    };
    (state, lag)
}

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

fn field(errors: &mut Vec<FieldError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
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
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            field(&mut errors, "name", "enter a name of 1 to 100 characters");
        }
        let description = input.description.trim().to_owned();
        if description.chars().count() > 500 {
            field(&mut errors, "description", "use at most 500 characters");
        }
        // Servers by id or slug.
        let mut servers = Vec::new();
        for s in input
            .server_ids
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            match fetch_optional!(
                self.core.db.exec(),
                (String,),
                "SELECT id FROM mcp_servers WHERE id = $1 OR slug = $1",
                s
            )? {
                Some((id,)) => servers.push(id),
                None => field(&mut errors, "server_ids", format!("no MCP server {s}")),
            }
        }
        servers.sort();
        servers.dedup();
        if errors.is_empty() {
            Ok((name, description, servers))
        } else {
            Err(Error::Invalid(errors))
        }
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
        exec!(
            tx.exec(),
            "INSERT INTO gateways (id, name, name_lower, description, token_hash, token_hint, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &id,
            &name,
            name.to_lowercase(),
            &description,
            hash_secret(&token),
            hint_of(&token),
            now,
            &actor.display
        )?;
        for s in &servers {
            exec!(
                tx.exec(),
                "INSERT INTO gateway_servers (gateway_id, server_id) VALUES ($1, $2)",
                &id,
                s
            )?;
        }
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
    pub async fn rotate_credential(&self, actor: &Actor, id: &str) -> Result<GatewayCreated> {
        actor.require(Permission::AccessManage)?;
        let now = self.now();
        let token = format!("pcg_{}", new_secret());
        let mut tx = self.core.db.begin().await?;
        let name = fetch_optional!(
            tx.exec(),
            (String,),
            "UPDATE gateways SET token_hash = $1, token_hint = $2 \
             WHERE id = $3 AND revoked_at IS NULL RETURNING name",
            hash_secret(&token),
            hint_of(&token),
            id
        )?
        .ok_or(Error::NotFound("gateway"))?
        .0;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("gateway.credential.rotated")
                .target(Target::new("gateway", id, &name))
                .details(json!({ "token_hint": hint_of(&token) })),
        )
        .await?;
        tx.signal(Topic::Gateways).await?;
        tx.commit().await?;
        self.forget(id);
        Ok(GatewayCreated {
            id: id.to_owned(),
            name,
            token,
        })
    }

    /// Revokes a gateway's credential for good. Audited as
    /// `gateway.revoked`. **Permission:** `AccessManage`.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<()> {
        actor.require(Permission::AccessManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let name = fetch_optional!(
            tx.exec(),
            (String,),
            "UPDATE gateways SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name",
            now,
            id
        )?
        .ok_or(Error::NotFound("gateway"))?
        .0;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("gateway.revoked").target(Target::new("gateway", id, &name)),
        )
        .await?;
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
        let rows = fetch_all!(
            self.core.db.exec(),
            GatewayRow,
            &format!(
                "SELECT {GATEWAY_COLUMNS} FROM gateways \
                 ORDER BY revoked_at IS NOT NULL, name_lower LIMIT 1000"
            )
        )?;
        let fronts = fetch_all!(
            self.core.db.exec(),
            (String, String, String),
            "SELECT gs.gateway_id, s.id, s.name FROM gateway_servers gs \
             JOIN mcp_servers s ON s.id = gs.server_id ORDER BY s.name"
        )?;
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
                let (state, lag) = state_of(&r, current, now);
                GatewaySummary {
                    servers: by_gateway.remove(&r.id).unwrap_or_default(),
                    id: r.id,
                    name: r.name,
                    description: r.description,
                    token_hint: r.token_hint,
                    created_at: r.created_at,
                    created_by: r.created_by,
                    revoked_at: r.revoked_at,
                    last_poll_at: r.last_poll_at,
                    served_revision: r.served_revision,
                    active_revision: r.active_revision,
                    reported_at: r.reported_at,
                    last_fetch_at: r.last_fetch_at,
                    last_error: r.last_error,
                    last_error_at: r.last_error_at,
                    software: r.software,
                    lag,
                    state,
                }
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
        let query = async {
            fetch_optional!(
                self.core.db.exec(),
                (String, String),
                "SELECT id, name FROM gateways WHERE token_hash = $1 AND revoked_at IS NULL",
                hex::encode(digest)
            )
        };
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
                exec!(
                    tx.exec(),
                    "UPDATE gateways SET last_poll_at = $1, served_revision = $2 \
                     WHERE id = $3 AND (last_poll_at IS NULL OR last_poll_at <= $1)",
                    *at,
                    *rev,
                    id
                )?;
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
        let mut errors = Vec::new();
        if report.active_revision.is_some_and(|r| r < 0) {
            field(&mut errors, "active_revision", "must be 0 or more");
        }
        if report
            .last_error
            .as_ref()
            .is_some_and(|e| e.chars().count() > 2000)
        {
            field(&mut errors, "last_error", "use at most 2000 characters");
        }
        if report
            .software
            .as_ref()
            .is_some_and(|e| e.chars().count() > 200)
        {
            field(&mut errors, "software", "use at most 200 characters");
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let now = self.now();
        let error = report
            .last_error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "UPDATE gateways SET reported_at = $1, active_revision = $2, last_fetch_at = $3, \
             last_error = $4, last_error_at = CASE WHEN $4 IS NULL THEN last_error_at ELSE $1 END, \
             software = COALESCE($5, software) WHERE id = $6",
            now,
            report.active_revision,
            report.last_fetch_at,
            error,
            report.software.as_deref(),
            &gateway.id
        )?;
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
        let mut errors = Vec::new();
        if batch.decisions.len() > MAX_DECISIONS {
            field(
                &mut errors,
                "decisions",
                format!("send at most {MAX_DECISIONS} decisions a batch"),
            );
        }
        for (i, d) in batch.decisions.iter().enumerate() {
            for (name, value, max) in [
                ("user", d.user.as_str(), 320),
                ("server", d.server.as_str(), 200),
                ("tool", d.tool.as_str(), 200),
            ] {
                if value.trim().is_empty() || value.chars().count() > max {
                    field(
                        &mut errors,
                        format!("decisions[{i}].{name}"),
                        format!("enter 1 to {max} characters"),
                    );
                }
            }
            if d.revision < 0 {
                field(
                    &mut errors,
                    format!("decisions[{i}].revision"),
                    "must be 0 or more",
                );
            }
            if d.id
                .as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 100)
            {
                field(
                    &mut errors,
                    format!("decisions[{i}].id"),
                    "enter 1 to 100 characters",
                );
            }
            for (name, value) in [
                ("client", &d.client),
                ("reason", &d.reason),
                ("rule", &d.rule),
            ] {
                if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
                    field(
                        &mut errors,
                        format!("decisions[{i}].{name}"),
                        "use at most 200 characters",
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let now = self.now();
        let actor = gateway.actor(meta);
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "DELETE FROM gateway_decision_ids WHERE recorded_at < $1",
            now - DECISION_ID_RETENTION
        )?;
        let mut recorded = 0;
        for d in &batch.decisions {
            if let Some(id) = &d.id {
                let first = exec!(
                    tx.exec(),
                    "INSERT INTO gateway_decision_ids (gateway_id, decision_id, recorded_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &gateway.id,
                    id,
                    now
                )?;
                if first == 0 {
                    // Sent before (a retry after a lost answer): recorded once.
                    continue;
                }
            }
            recorded += 1;
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
                }));
            if !d.allowed {
                event.outcome = Outcome::Denied;
            }
            audit::append(&mut tx, now, &actor, event).await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }
}
