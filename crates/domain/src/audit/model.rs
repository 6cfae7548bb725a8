//! The audit area's values without storage: the event to append, the
//! stored record, its canonical form and the chain hash over it.

use crate::actor::Actor;
use crate::clock::new_id;
use crate::error::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_types::{
    AuditActor, AuditEventSummary, AuditOcsf, AuditRecord, AuditSource, AuditTarget, Outcome,
    AUDIT_RECORD_SCHEMA,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
        debug_assert!(
            super::catalog::describe(action).is_some(),
            "audit action {action:?} is not in the catalog (crates/domain/src/audit/catalog.rs)"
        );
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

/// An event as stored (and hashed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct EventRow {
    pub seq: i64,
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_display: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_display: Option<String>,
    pub outcome: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    /// When retention blanked the row's content (see `retention`); the
    /// hash then covers content that is gone, so only the link is checked.
    pub redacted_at: Option<DateTime<Utc>>,
}

impl EventRow {
    /// The stored record of `event` by `actor` at `at` as event `seq`
    /// following `prev_hash`, its hash computed.
    pub(super) fn new(
        seq: i64,
        at: DateTime<Utc>,
        actor: &Actor,
        event: NewEvent,
        prev_hash: String,
    ) -> Result<Self> {
        let target = event.target.unwrap_or_default();
        let has_target = !target.kind.is_empty();
        let mut row = EventRow {
            seq,
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
            prev_hash,
            hash: String::new(),
            redacted_at: None,
        };
        row.hash = row.compute_hash()?;
        Ok(row)
    }

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

    pub(super) fn compute_hash(&self) -> Result<String> {
        chain_hash(&self.prev_hash, &self.canonical())
    }

    pub(super) fn into_summary(self) -> Result<AuditEventSummary> {
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
            redacted_at: self.redacted_at,
        })
    }
}

impl EventRow {
    /// The event as exported and streamed (event schema v1).
    pub(super) fn into_record(self) -> Result<AuditRecord> {
        let info = super::catalog::describe(&self.action);
        let outcome: Outcome = self.outcome.parse().map_err(Error::Internal)?;
        let details: serde_json::Value = serde_json::from_str(&self.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
        let ocsf = match info {
            Some(a) => AuditOcsf {
                class_uid: a.class.uid(),
                class_name: a.class.name().to_owned(),
                category_uid: a.class.category_uid(),
                activity_id: a.activity_id,
                activity_name: a.activity_name.to_owned(),
                type_uid: a.type_uid(),
                status_id: 0,
            },
            // An action of an older release no longer in the catalog:
            // Application Activity, "Other".
            None => AuditOcsf {
                class_uid: 6003,
                class_name: "API Activity".into(),
                category_uid: 6,
                activity_id: 99,
                activity_name: "Other".into(),
                type_uid: 600399,
                status_id: 0,
            },
        };
        let status_id = match outcome {
            Outcome::Success => 1,
            Outcome::Failure | Outcome::Denied => 2,
        };
        Ok(AuditRecord {
            schema: AUDIT_RECORD_SCHEMA.to_owned(),
            seq: self.seq,
            id: self.id,
            time: self.occurred_at,
            actor: AuditActor {
                kind: self.actor_type,
                id: self.actor_id,
                display: self.actor_display,
            },
            action: self.action,
            target: match (self.target_type, self.target_id) {
                (Some(kind), Some(id)) => Some(AuditTarget {
                    kind,
                    id,
                    display: self.target_display.unwrap_or_default(),
                }),
                _ => None,
            },
            outcome,
            source: AuditSource {
                ip: self.source_ip,
                user_agent: self.user_agent,
            },
            request_id: self.request_id,
            policy_revision: details.get("revision").and_then(serde_json::Value::as_i64),
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
            ocsf: AuditOcsf { status_id, ..ocsf },
            redacted_at: self.redacted_at,
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
pub(super) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
