//! The access area's values and rules without storage: how a stored grant
//! decodes (strictly: an unknown value refuses the grant), how it becomes
//! a policy rule and a console line, and the words and names the views
//! show.

use super::store::{GrantRow, ListedGrant, RevisionRow};
use crate::error::{Error, Result};
use crate::revisions::GrantFact;
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_policy::bundle::{AnnotationFlag, Effect, Rule, Subject, Target as RuleTarget};
use portcullis_policy::{MatchedBy, Policy, Reason};
use portcullis_types::{GrantSubject, GrantSummary, GrantTarget, MatchedVia, RevisionSummary};

pub(super) fn annotation_flag(s: &str) -> Option<AnnotationFlag> {
    match s {
        "read_only" => Some(AnnotationFlag::ReadOnly),
        "destructive" => Some(AnnotationFlag::Destructive),
        "idempotent" => Some(AnnotationFlag::Idempotent),
        "open_world" => Some(AnnotationFlag::OpenWorld),
        _ => None,
    }
}

fn flag_name(f: AnnotationFlag) -> &'static str {
    match f {
        AnnotationFlag::ReadOnly => "read_only",
        AnnotationFlag::Destructive => "destructive",
        AnnotationFlag::Idempotent => "idempotent",
        AnnotationFlag::OpenWorld => "open_world",
    }
}

pub(super) fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// Says a decision's reason in words.
pub(super) fn explain_reason(reason: Reason) -> &'static str {
    match reason {
        Reason::Allowed { .. } => "Allowed by a grant, and no deny grant applies.",
        Reason::DeniedByRule { .. } => "Denied by a deny grant (deny wins over allow).",
        Reason::NoGrant => "No grant covers this tool for this person (default deny).",
        Reason::UnknownPrincipal => "This person is not in the policy (not provisioned, or deleted).",
        Reason::InactivePrincipal => "This person is deactivated in the directory: denied everything.",
        Reason::UnknownServer => "This server is not in the policy at this revision.",
        Reason::ServerDisabled => "This server is disabled: every call is denied.",
        Reason::UnknownTool => "This server has no such tool at this revision.",
        Reason::Quarantined => "This tool is quarantined (new or changed definition awaiting review): denied to everyone.",
    }
}

/// How a rule matched a person, with the group's name when through one.
pub(super) fn via(p: &Policy, m: MatchedBy<'_>) -> MatchedVia {
    match m {
        MatchedBy::Direct => MatchedVia::Direct,
        MatchedBy::Everyone => MatchedVia::Everyone,
        MatchedBy::ViaGroup(id) => MatchedVia::Group {
            id: id.to_owned(),
            name: p
                .group(id)
                .map(|g| g.name.clone())
                .unwrap_or_else(|| id.to_owned()),
        },
    }
}

/// `t` in whole seconds, as grants store their expiry.
pub(super) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The tool names of a grant for tools: trimmed, blanks dropped, sorted,
/// each once.
pub(super) fn tool_names(names: &[String]) -> Vec<String> {
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The stored (subject_kind, subject_id) of a grant's subject.
pub(super) fn subject_columns(s: &GrantSubject) -> (&'static str, Option<String>) {
    match s {
        GrantSubject::User { id } => ("user", Some(id.clone())),
        GrantSubject::Group { id } => ("group", Some(id.clone())),
        GrantSubject::Everyone => ("everyone", None),
        GrantSubject::Agent { id } => ("agent", Some(id.clone())),
    }
}

/// A stored grant that does not decode: an unknown enumerated value is an
/// error that denies (the grant is refused), never a default that allows.
fn bad_grant(id: &str, column: &str, value: &str) -> Error {
    Error::Internal(format!(
        "stored grant {id} has an invalid {column} ({value:?}); it is refused until the row is fixed"
    ))
}

impl GrantRow {
    pub(super) fn subject(&self) -> Result<GrantSubject> {
        let id = || {
            self.subject_id
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad_grant(&self.id, "subject_id", ""))
        };
        match self.subject_kind.as_str() {
            "user" => Ok(GrantSubject::User { id: id()? }),
            "group" => Ok(GrantSubject::Group { id: id()? }),
            "everyone" => Ok(GrantSubject::Everyone),
            "agent" => Ok(GrantSubject::Agent { id: id()? }),
            other => Err(bad_grant(&self.id, "subject_kind", other)),
        }
    }

    pub(super) fn target(&self) -> Result<GrantTarget> {
        match self.target_kind.as_str() {
            "server" => Ok(GrantTarget::Server),
            "tools" => match serde_json::from_str::<Vec<String>>(&self.tool_names) {
                Ok(names) if !names.is_empty() => Ok(GrantTarget::Tools { names }),
                _ => Err(bad_grant(&self.id, "tool_names", &self.tool_names)),
            },
            "annotation" => match self.annotation.as_deref() {
                Some(a) if annotation_flag(a).is_some() => Ok(GrantTarget::Annotation {
                    annotation: a.to_owned(),
                }),
                other => Err(bad_grant(&self.id, "annotation", other.unwrap_or(""))),
            },
            other => Err(bad_grant(&self.id, "target_kind", other)),
        }
    }

    fn effect(&self) -> Result<Effect> {
        match self.effect.as_str() {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            other => Err(bad_grant(&self.id, "effect", other)),
        }
    }

    /// The fact the policy bundle is built from.
    pub(super) fn fact(&self) -> Result<GrantFact> {
        let subject = match self.subject()? {
            GrantSubject::User { id } => Subject::User { id },
            GrantSubject::Group { id } => Subject::Group { id },
            GrantSubject::Everyone => Subject::Everyone,
            GrantSubject::Agent { id } => Subject::Agent { id },
        };
        let target = match self.target()? {
            GrantTarget::Server => RuleTarget::Server,
            GrantTarget::Tools { names } => RuleTarget::Tools { names },
            GrantTarget::Annotation { annotation } => RuleTarget::Annotation {
                annotation: annotation_flag(&annotation)
                    .ok_or_else(|| bad_grant(&self.id, "annotation", &annotation))?,
            },
        };
        Ok(GrantFact {
            rule: Rule {
                id: self.id.clone(),
                effect: self.effect()?,
                subject,
                server: self.server_id.clone(),
                target,
                include_destructive: self.include_destructive,
                expires_at: self.expires_at.map(|t| t.timestamp()),
            },
            reason: self.reason.clone(),
            created_by: self.created_by.clone(),
            created_at: self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        })
    }
}

/// The grant row a fact was made from (what a rollback restores).
pub(super) fn row_of(fact: &GrantFact) -> GrantRow {
    let r = &fact.rule;
    let (subject_kind, subject_id) = match &r.subject {
        Subject::User { id } => ("user", Some(id.clone())),
        Subject::Group { id } => ("group", Some(id.clone())),
        Subject::Everyone => ("everyone", None),
        Subject::Agent { id } => ("agent", Some(id.clone())),
    };
    let (target_kind, tool_names, annotation) = match &r.target {
        RuleTarget::Server => ("server", "[]".to_owned(), None),
        RuleTarget::Tools { names } => (
            "tools",
            serde_json::to_string(names).unwrap_or_else(|_| "[]".to_owned()),
            None,
        ),
        RuleTarget::Annotation { annotation } => (
            "annotation",
            "[]".to_owned(),
            Some(flag_name(*annotation).to_owned()),
        ),
    };
    GrantRow {
        id: r.id.clone(),
        subject_kind: subject_kind.to_owned(),
        subject_id,
        server_id: r.server.clone(),
        target_kind: target_kind.to_owned(),
        tool_names,
        annotation,
        include_destructive: r.include_destructive,
        effect: effect_name(r.effect).to_owned(),
        expires_at: r.expires_at.and_then(|t| DateTime::from_timestamp(t, 0)),
        reason: fact.reason.clone(),
        created_by: fact.created_by.clone(),
        created_at: DateTime::parse_from_rfc3339(&fact.created_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default(),
    }
}

/// The console's line for grant `g`.
pub(super) fn summary(
    g: GrantRow,
    subject_display: String,
    server_name: String,
    now: DateTime<Utc>,
) -> Result<GrantSummary> {
    let effect = effect_name(g.effect()?).to_owned();
    Ok(GrantSummary {
        subject: g.subject()?,
        target: g.target()?,
        expired: g.expires_at.is_some_and(|e| e <= now),
        id: g.id,
        subject_display,
        server_id: g.server_id,
        server_name,
        effect,
        include_destructive: g.include_destructive,
        expires_at: g.expires_at,
        reason: g.reason,
        created_by: g.created_by,
        created_at: g.created_at,
    })
}

impl ListedGrant {
    pub(super) fn into_summary(self, now: DateTime<Utc>) -> Result<GrantSummary> {
        let display = match self.g.subject_kind.as_str() {
            "everyone" => "Everyone".to_owned(),
            _ => self
                .subject_display
                .unwrap_or_else(|| self.g.subject_id.clone().unwrap_or_default()),
        };
        summary(self.g, display, self.server_name, now)
    }
}

/// The Revisions page's line for a revision.
pub(super) fn revision_summary(r: RevisionRow) -> RevisionSummary {
    RevisionSummary {
        number: r.number,
        created_at: r.created_at,
        actor_display: r.actor_display,
        source: r.source,
        summary: r.summary,
    }
}
