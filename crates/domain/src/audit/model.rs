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
pub(super) struct Canonical<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub occurred_at: String,
    pub actor_type: &'a str,
    pub actor_id: Option<&'a str>,
    pub actor_display: &'a str,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_display: Option<&'a str>,
    pub outcome: &'a str,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: &'a str,
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
    /// The erasure that replaced the row's personal data (see `erasure`);
    /// `erased_hash` is the hash of its content since.
    pub erasure_id: Option<String>,
    pub erased_hash: Option<String>,
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
            erasure_id: None,
            erased_hash: None,
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
        self.canonical().hash(&self.prev_hash)
    }

    /// The row as listed, its personal detail values masked
    /// ([`MASKED_DETAILS`]).
    pub(super) fn into_summary(mut self) -> Result<AuditEventSummary> {
        let mut details: serde_json::Value = serde_json::from_str(&self.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
        let masked = mask(&self.actor_type, &mut self.actor_display, &mut details);
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
            details,
            hash: self.hash,
            redacted_at: self.redacted_at,
            erasure_id: self.erasure_id,
            masked,
        })
    }
}

impl EventRow {
    /// The event as exported (`masked`: its personal detail values
    /// masked) and streamed (not masked) (event schema v1).
    pub(super) fn into_record(mut self, masked: bool) -> Result<AuditRecord> {
        let info = super::catalog::describe(&self.action);
        let outcome: Outcome = self.outcome.parse().map_err(Error::Internal)?;
        let mut details: serde_json::Value = serde_json::from_str(&self.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
        let masked = if masked {
            mask(&self.actor_type, &mut self.actor_display, &mut details)
        } else {
            Vec::new()
        };
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
            erasure_id: self.erasure_id,
            masked,
        })
    }
}

/// Top-level detail keys whose values are personal data kept from readers
/// until an owner reveals them (audited): the email typed at a failed or
/// throttled sign-in (people type their password there by mistake) and an
/// identity provider's stable subject identifier.
pub const MASKED_DETAILS: [&str; 2] = ["email", "subject"];

/// The masked-value key for an anonymous actor's name: what someone who
/// was not signed in typed (the sign-in email, maybe a password).
pub const MASKED_ACTOR: &str = "actor";

/// The keys of an event's personal values: the [`MASKED_DETAILS`] that
/// hold a value, and [`MASKED_ACTOR`] for an anonymous actor's typed name.
pub(super) fn masked_keys(
    actor_type: &str,
    actor_display: &str,
    details: &serde_json::Value,
) -> Vec<String> {
    let mut keys = Vec::new();
    if actor_type == "anonymous" && actor_display != "anonymous" && !actor_display.is_empty() {
        keys.push(MASKED_ACTOR.to_owned());
    }
    if let Some(obj) = details.as_object() {
        keys.extend(
            MASKED_DETAILS
                .iter()
                .filter(|k| obj.get(**k).is_some_and(|v| !v.is_null()))
                .map(|k| (*k).to_owned()),
        );
    }
    keys
}

/// Masks an event's personal values ([`masked_keys`]) in place. Answers
/// the keys masked.
pub(super) fn mask(
    actor_type: &str,
    actor_display: &mut String,
    details: &mut serde_json::Value,
) -> Vec<String> {
    let keys = masked_keys(actor_type, actor_display, details);
    let hidden = || serde_json::Value::String(portcullis_types::MASKED_VALUE.to_owned());
    for key in &keys {
        if key == MASKED_ACTOR {
            *actor_display = portcullis_types::MASKED_VALUE.to_owned();
        } else if let Some(v) = details.get_mut(key) {
            *v = hidden();
        }
    }
    keys
}

impl Canonical<'_> {
    /// The chain hash of this content following `prev_hash`.
    pub(super) fn hash(&self, prev_hash: &str) -> Result<String> {
        let mut h = Sha256::new();
        h.update(prev_hash.as_bytes());
        h.update(b"\n");
        // Straight into the hash through a buffer: no string of the JSON is
        // built, and the hasher is not fed a few bytes a call.
        let mut w = std::io::BufWriter::with_capacity(1024, &mut h);
        serde_json::to_writer(&mut w, self)
            .map_err(|e| Error::Internal(format!("audit canonical form: {e}")))?;
        w.into_inner()
            .map_err(|e| Error::Internal(format!("audit canonical form: {e}")))?;
        Ok(hex::encode(h.finalize()))
    }
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

/// `s` with every occurrence of any of `names` (lower case) replaced by
/// `pseudonym`, in any case; `None` when it names none of them. Where
/// lower-casing changes the text's length (some non-ASCII letters), the
/// whole value is replaced: erasing too much beats leaving a name.
fn replace_names(s: &str, names: &[String], pseudonym: &str) -> Option<String> {
    let lower = s.to_lowercase();
    if !names.iter().any(|n| lower.contains(n.as_str())) {
        return None;
    }
    if lower.len() != s.len() {
        return Some(pseudonym.to_owned());
    }
    let mut out = s.to_owned();
    let mut low = lower;
    for name in names {
        while let Some(at) = low.find(name.as_str()) {
            out.replace_range(at..at + name.len(), pseudonym);
            low.replace_range(at..at + name.len(), &pseudonym.to_lowercase());
        }
    }
    Some(out)
}

/// Replaces the names in every string of `v` (keys stay); whether any.
fn erase_json(v: &mut serde_json::Value, names: &[String], pseudonym: &str) -> bool {
    match v {
        serde_json::Value::String(s) => match replace_names(s, names, pseudonym) {
            Some(new) => {
                *s = new;
                true
            }
            None => false,
        },
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |hit, item| erase_json(item, names, pseudonym) | hit),
        serde_json::Value::Object(map) => map
            .values_mut()
            .fold(false, |hit, item| erase_json(item, names, pseudonym) | hit),
        _ => false,
    }
}

impl EventRow {
    /// Takes `person`'s personal data out of the row: as the actor (by id
    /// or by name) their name becomes `pseudonym` and the source address
    /// and user agent go; as the target their name becomes `pseudonym`;
    /// any of `names` (lower case) in the details or a display becomes
    /// `pseudonym`. Ids stay. Answers whether anything changed.
    pub(super) fn erase(
        &mut self,
        person: &str,
        names: &[String],
        pseudonym: &str,
    ) -> Result<bool> {
        let mut changed = false;
        // By id only where the id is a person's (the `audit.erased` event
        // names them by id as a `person` target, and stays as it is).
        let is_actor = matches!(self.actor_type.as_str(), "person" | "console_user")
            && self.actor_id.as_deref() == Some(person);
        let is_target = matches!(
            self.target_type.as_deref(),
            Some("directory_user" | "console_user")
        ) && self.target_id.as_deref() == Some(person);
        let actor_named = replace_names(&self.actor_display, names, pseudonym);
        if is_actor || actor_named.is_some() {
            if is_actor {
                self.actor_display = pseudonym.to_owned();
            } else if let Some(named) = actor_named {
                self.actor_display = named;
            }
            self.source_ip = None;
            self.user_agent = None;
            changed = true;
        }
        let target_named = self
            .target_display
            .as_deref()
            .and_then(|d| replace_names(d, names, pseudonym));
        if is_target && self.target_display.is_some() {
            self.target_display = Some(pseudonym.to_owned());
            changed = true;
        } else if let Some(named) = target_named {
            self.target_display = Some(named);
            changed = true;
        }
        let mut details: serde_json::Value = serde_json::from_str(&self.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
        if erase_json(&mut details, names, pseudonym) {
            self.details = serde_json::to_string(&details)
                .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
            changed = true;
        }
        Ok(changed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::actor::{Actor, RequestMeta};
    use portcullis_types::PersonId;

    fn row(actor: &Actor, event: NewEvent) -> EventRow {
        EventRow::new(1, Utc::now(), actor, event, GENESIS_HASH.to_owned()).unwrap()
    }

    #[test]
    fn names_are_replaced_in_any_case_and_ids_stay() {
        let names = vec!["alice@example.com".to_owned(), "alice liddell".to_owned()];
        assert_eq!(
            replace_names("Invited ALICE@example.com today", &names, "Erased person 1").as_deref(),
            Some("Invited Erased person 1 today")
        );
        assert_eq!(replace_names("bob@example.com", &names, "X"), None);
        // Lower-casing that changes the length: the whole value goes.
        assert_eq!(
            replace_names("İ alice liddell", &names, "X").as_deref(),
            Some("X")
        );
    }

    #[test]
    fn a_persons_own_event_loses_name_address_and_details() {
        let meta = RequestMeta {
            source_ip: Some("203.0.113.9".into()),
            user_agent: Some("Claude/1.0".into()),
            request_id: Some("req-1".into()),
        };
        let id = PersonId::from("u_alice".to_owned());
        let alice = Actor::person(&id, "alice@example.com", meta);
        let mut r = row(
            &alice,
            NewEvent::success("oauth.consent.granted").details(serde_json::json!({
                "email": "Alice@Example.com", "client": "cli_1", "list": ["x alice@example.com"]
            })),
        );
        let names = vec!["alice@example.com".to_owned()];
        assert!(r.erase("u_alice", &names, "Erased person 7").unwrap());
        assert_eq!(r.actor_display, "Erased person 7");
        assert_eq!(r.actor_id.as_deref(), Some("u_alice"), "the id stays");
        assert_eq!(r.source_ip, None);
        assert_eq!(r.user_agent, None);
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        let d: serde_json::Value = serde_json::from_str(&r.details).unwrap();
        assert_eq!(d["email"], "Erased person 7");
        assert_eq!(d["client"], "cli_1");
        assert_eq!(d["list"][0], "x Erased person 7");
        // Someone else's event about nothing of hers is left alone.
        let bob = Actor::system("portcullis");
        let mut other = row(&bob, NewEvent::success("audit.exported"));
        assert!(!other.erase("u_alice", &names, "Erased person 7").unwrap());
    }

    #[test]
    fn masking_hides_personal_values_only() {
        let mut d = serde_json::json!({"email": "a@b.c", "subject": null, "reason": "bad"});
        let mut typed = "a@b.c".to_owned();
        assert_eq!(
            mask("anonymous", &mut typed, &mut d),
            vec!["actor".to_owned(), "email".to_owned()]
        );
        assert_eq!(typed, portcullis_types::MASKED_VALUE);
        assert_eq!(d["email"], portcullis_types::MASKED_VALUE);
        assert_eq!(d["reason"], "bad");
        assert!(d["subject"].is_null());
        // A signed-in actor's name, and a plain anonymous one, stay.
        let mut admin = "root@acme.example".to_owned();
        let mut none = serde_json::json!({});
        assert!(mask("console_user", &mut admin, &mut none).is_empty());
        assert_eq!(admin, "root@acme.example");
        let mut anon = "anonymous".to_owned();
        assert!(mask("anonymous", &mut anon, &mut none).is_empty());
    }
}
