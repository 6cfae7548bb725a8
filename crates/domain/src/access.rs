//! Access policy: grants, revisions (list, diff, rollback), and the views
//! that explain access (simulator, a user's access, a server's callers, the
//! access matrix).
//!
//! Every answer comes from the `portcullis-policy` evaluator over the bundle
//! of a revision ([`crate::revisions::load_bundle`]), the same code gateways
//! run, so what the console shows is what gateways enforce.

use crate::actor::{Actor, Permission};
use crate::audit::{self, like_escape, NewEvent, Target};
use crate::clock::new_id;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::revisions::{self, Change, GrantFact};
use crate::{exec, fetch_all, fetch_optional, scalar, Core};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_policy::bundle::{AnnotationFlag, Effect, Rule, Subject, Target as RuleTarget};
use portcullis_policy::{MatchedBy, Policy, Reason};
use portcullis_types::{
    AccessChange, AccessMatrix, FieldError, GrantInput, GrantQuery, GrantSubject, GrantSummary,
    GrantTarget, GrantUpdate, MatchedRule, MatchedVia, MatrixRow, Page, RevisionDiff,
    RevisionSummary, SimulationResult, UserToolAccess,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A compiled policy revision.
pub struct Snapshot {
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub policy: Policy,
}

/// Access service.
#[derive(Clone)]
pub struct AccessService {
    pub core: Arc<Core>,
    /// The compiled current revision, rebuilt when the head moves.
    current: Arc<Mutex<Option<Arc<Snapshot>>>>,
}

/// The most access changes a revision diff lists per direction.
const DIFF_LIMIT: usize = 500;

fn annotation_flag(s: &str) -> Option<AnnotationFlag> {
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

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// Says a decision's reason in words.
/// The tables a listed grant is read from (with its server's and
/// subject's names).
const LISTED_GRANT_FROM: &str = "FROM grants g JOIN mcp_servers s ON s.id = g.server_id \
     LEFT JOIN directory_users u ON g.subject_kind = 'user' AND u.id = g.subject_id \
     LEFT JOIN directory_groups dg ON g.subject_kind = 'group' AND dg.id = g.subject_id";

/// The columns a listed grant adds to [`GRANT_COLUMNS`].
const LISTED_GRANT_EXTRA: &str =
    "s.name AS server_name, COALESCE(u.email, u.user_name, dg.display_name) AS subject_display";

/// A grant with its server's and subject's names.
#[derive(sqlx::FromRow)]
struct ListedGrant {
    #[sqlx(flatten)]
    g: GrantRow,
    server_name: String,
    subject_display: Option<String>,
}

impl ListedGrant {
    fn into_summary(self, now: DateTime<Utc>) -> Result<GrantSummary> {
        let display = match self.g.subject_kind.as_str() {
            "everyone" => "Everyone".to_owned(),
            _ => self
                .subject_display
                .unwrap_or_else(|| self.g.subject_id.clone().unwrap_or_default()),
        };
        summary(self.g, display, self.server_name, now)
    }
}

fn explain_reason(reason: Reason) -> &'static str {
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

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    subject_kind: String,
    subject_id: Option<String>,
    server_id: String,
    target_kind: String,
    tool_names: String,
    annotation: Option<String>,
    include_destructive: bool,
    effect: String,
    expires_at: Option<DateTime<Utc>>,
    reason: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

/// A stored grant that does not decode: an unknown enumerated value is an
/// error that denies (the grant is refused), never a default that allows.
fn bad_grant(id: &str, column: &str, value: &str) -> Error {
    Error::Internal(format!(
        "stored grant {id} has an invalid {column} ({value:?}); it is refused until the row is fixed"
    ))
}

impl GrantRow {
    fn subject(&self) -> Result<GrantSubject> {
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
            other => Err(bad_grant(&self.id, "subject_kind", other)),
        }
    }

    fn target(&self) -> Result<GrantTarget> {
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
    fn fact(&self) -> Result<GrantFact> {
        let subject = match self.subject()? {
            GrantSubject::User { id } => Subject::User { id },
            GrantSubject::Group { id } => Subject::Group { id },
            GrantSubject::Everyone => Subject::Everyone,
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

impl GrantFact {
    fn to_row(&self) -> GrantRow {
        let r = &self.rule;
        let (subject_kind, subject_id) = match &r.subject {
            Subject::User { id } => ("user", Some(id.clone())),
            Subject::Group { id } => ("group", Some(id.clone())),
            Subject::Everyone => ("everyone", None),
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
            reason: self.reason.clone(),
            created_by: self.created_by.clone(),
            created_at: DateTime::parse_from_rfc3339(&self.created_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

const GRANT_COLUMNS: &str =
    "g.id, g.subject_kind, g.subject_id, g.server_id, g.target_kind, g.tool_names, g.annotation, \
     g.include_destructive, g.effect, g.expires_at, g.reason, g.created_by, g.created_at";

async fn insert_grant(tx: &mut Tx, g: &GrantRow) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO grants (id, subject_kind, subject_id, server_id, target_kind, tool_names, annotation, \
         include_destructive, effect, expires_at, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &g.id,
        &g.subject_kind,
        g.subject_id.as_deref(),
        &g.server_id,
        &g.target_kind,
        &g.tool_names,
        g.annotation.as_deref(),
        g.include_destructive,
        &g.effect,
        g.expires_at,
        &g.reason,
        &g.created_by,
        g.created_at
    )?;
    Ok(())
}

impl AccessService {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            current: Arc::default(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// The compiled current revision (internal: the policy API and the
    /// views below). Rebuilt only when the head revision moved.
    pub async fn current(&self) -> Result<Arc<Snapshot>> {
        let head = revisions::head(self.core.db.exec()).await?;
        if let Some(s) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|s| s.revision == head)
        {
            return Ok(s.clone());
        }
        let snap = Arc::new(self.build(head).await?);
        let mut slot = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(|s| s.revision < snap.revision) {
            *slot = Some(snap.clone());
        }
        Ok(snap)
    }

    /// The compiled revision `rev` (the current one when `None`).
    pub async fn at(&self, rev: Option<i64>) -> Result<Arc<Snapshot>> {
        let current = self.current().await?;
        match rev {
            None => Ok(current),
            Some(r) if r == current.revision => Ok(current),
            Some(r) if r < 0 || r > current.revision => Err(Error::invalid(
                "revision",
                format!("no revision {r}; the current one is {}", current.revision),
            )),
            Some(r) => Ok(Arc::new(self.build(r).await?)),
        }
    }

    async fn build(&self, rev: i64) -> Result<Snapshot> {
        let created_at = revisions::created_at(self.core.db.exec(), rev)
            .await?
            .unwrap_or_default();
        let bundle = revisions::load_bundle(self.core.db.exec(), rev, created_at).await?;
        let policy = Policy::compile(&bundle)
            .map_err(|e| Error::Internal(format!("policy revision {rev} does not compile: {e}")))?;
        Ok(Snapshot {
            revision: rev,
            created_at,
            policy,
        })
    }

    async fn check_grant(&self, input: &GrantInput) -> Result<GrantRow> {
        let mut errors = Vec::new();
        let mut err = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        let db = &self.core.db;
        match &input.subject {
            GrantSubject::User { id } => {
                let n = scalar!(
                    db.exec(),
                    i64,
                    "SELECT COUNT(*) FROM directory_users WHERE id = $1 AND deleted_at IS NULL",
                    id
                )?;
                if n == 0 {
                    err("subject", "choose a person from the directory".to_owned());
                }
            }
            GrantSubject::Group { id } => {
                let n = scalar!(
                    db.exec(),
                    i64,
                    "SELECT COUNT(*) FROM directory_groups WHERE id = $1",
                    id
                )?;
                if n == 0 {
                    err("subject", "choose a group from the directory".to_owned());
                }
            }
            GrantSubject::Everyone => {}
        }
        let server_known = scalar!(
            db.exec(),
            i64,
            "SELECT COUNT(*) FROM mcp_servers WHERE id = $1",
            &input.server_id
        )? > 0;
        if !server_known {
            err("server_id", "choose a server from the catalog".to_owned());
        }
        let (target_kind, tool_names, annotation) = match &input.target {
            GrantTarget::Server => ("server", Vec::new(), None),
            GrantTarget::Tools { names } => {
                let mut names: Vec<String> = names
                    .iter()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect();
                names.sort();
                names.dedup();
                if names.is_empty() {
                    err("tools", "choose at least one tool".to_owned());
                } else if server_known {
                    #[derive(sqlx::FromRow)]
                    struct N {
                        name: String,
                    }
                    let known: BTreeSet<String> = fetch_all!(
                        db.exec(),
                        N,
                        "SELECT name FROM mcp_tools WHERE server_id = $1 AND status <> 'removed'",
                        &input.server_id
                    )?
                    .into_iter()
                    .map(|n| n.name)
                    .collect();
                    let unknown: Vec<&str> = names
                        .iter()
                        .filter(|n| !known.contains(*n))
                        .map(String::as_str)
                        .collect();
                    if !unknown.is_empty() {
                        err(
                            "tools",
                            format!("the server has no tool named {}", unknown.join(", ")),
                        );
                    }
                }
                ("tools", names, None)
            }
            GrantTarget::Annotation { annotation } => {
                if annotation_flag(annotation).is_none() {
                    err(
                        "annotation",
                        "choose read_only, destructive, idempotent or open_world".to_owned(),
                    );
                }
                ("annotation", Vec::new(), Some(annotation.clone()))
            }
        };
        if !matches!(input.effect.as_str(), "allow" | "deny") {
            err("effect", "choose allow or deny".to_owned());
        }
        let now = self.now();
        if let Some(e) = input.expires_at {
            if e <= now {
                err("expires_at", "choose a time in the future".to_owned());
            }
        }
        let reason = input.reason.trim().to_owned();
        if reason.chars().count() > 500 {
            err("reason", "at most 500 characters".to_owned());
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let (subject_kind, subject_id) = match &input.subject {
            GrantSubject::User { id } => ("user", Some(id.clone())),
            GrantSubject::Group { id } => ("group", Some(id.clone())),
            GrantSubject::Everyone => ("everyone", None),
        };
        Ok(GrantRow {
            id: new_id("grt"),
            subject_kind: subject_kind.to_owned(),
            subject_id,
            server_id: input.server_id.clone(),
            target_kind: target_kind.to_owned(),
            tool_names: serde_json::to_string(&tool_names)
                .map_err(|e| Error::Internal(e.to_string()))?,
            annotation,
            include_destructive: input.include_destructive,
            effect: input.effect.clone(),
            expires_at: input
                .expires_at
                .map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)),
            reason,
            created_by: String::new(),
            created_at: now,
        })
    }

    /// Creates a grant; it applies from the revision it makes. Audited as
    /// `access.grant.created`. **Permission:** `AccessManage`.
    pub async fn create_grant(&self, actor: &Actor, input: &GrantInput) -> Result<(String, i64)> {
        actor.require(Permission::AccessManage)?;
        let mut row = self.check_grant(input).await?;
        row.created_by = actor.display.clone();
        let now = row.created_at;
        let fact = row.fact()?;
        let mut tx = self.core.db.begin().await?;
        insert_grant(&mut tx, &row).await?;
        let label = self.describe(&mut tx, &row).await?;
        let mut change = Change::new(actor, "grants", format!("Grant added: {label}"), now);
        revisions::sync_grant(&mut tx, &mut change, &row.id, Some(&fact)).await?;
        let revision = change.revision().unwrap_or_default();
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("access.grant.created")
                .target(Target::new("grant", &row.id, &label))
                .details(json!({ "rule": fact.rule, "reason": row.reason, "revision": revision })),
        )
        .await?;
        tx.commit().await?;
        Ok((row.id, revision))
    }

    /// Revokes a grant. Audited as `access.grant.revoked`.
    /// **Permission:** `AccessManage`.
    pub async fn revoke_grant(&self, actor: &Actor, id: &str) -> Result<i64> {
        actor.require(Permission::AccessManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = fetch_optional!(
            tx.exec(),
            GrantRow,
            &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"),
            id
        )?
        .ok_or(Error::NotFound("grant"))?;
        exec!(tx.exec(), "DELETE FROM grants WHERE id = $1", id)?;
        let label = self.describe(&mut tx, &row).await?;
        let mut change = Change::new(actor, "grants", format!("Grant revoked: {label}"), now);
        revisions::sync_grant(&mut tx, &mut change, id, None).await?;
        let revision = change.revision().unwrap_or_default();
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("access.grant.revoked")
                .target(Target::new("grant", id, &label))
                .details(json!({ "revision": revision })),
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// Changes a grant's expiry or reason; a new expiry is a new policy
    /// revision. Audited as `access.grant.updated`. Returns the revision
    /// the change made, if it changed the policy. **Permission:** `AccessManage`.
    pub async fn update_grant(
        &self,
        actor: &Actor,
        id: &str,
        update: &GrantUpdate,
    ) -> Result<Option<i64>> {
        actor.require(Permission::AccessManage)?;
        let now = self.now();
        let mut errors = Vec::new();
        if let Some(Some(e)) = update.expires_at {
            if e <= now {
                errors.push(FieldError::new("expires_at", "choose a time in the future"));
            }
        }
        let reason = update.reason.as_deref().map(str::trim);
        if reason.is_some_and(|r| r.chars().count() > 500) {
            errors.push(FieldError::new("reason", "at most 500 characters"));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let mut tx = self.core.db.begin().await?;
        let mut row = fetch_optional!(
            tx.exec(),
            GrantRow,
            &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"),
            id
        )?
        .ok_or(Error::NotFound("grant"))?;
        let before = (row.expires_at, row.reason.clone());
        if let Some(expires_at) = update.expires_at {
            // Whole seconds, as grants are created.
            row.expires_at =
                expires_at.map(|t| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t));
        }
        if let Some(reason) = reason {
            reason.clone_into(&mut row.reason);
        }
        exec!(
            tx.exec(),
            "UPDATE grants SET expires_at = $2, reason = $3 WHERE id = $1",
            id,
            row.expires_at,
            &row.reason
        )?;
        let label = self.describe(&mut tx, &row).await?;
        let mut change = Change::new(actor, "grants", format!("Grant changed: {label}"), now);
        revisions::sync_grant(&mut tx, &mut change, id, Some(&row.fact()?)).await?;
        let revision = change.revision();
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("access.grant.updated")
                .target(Target::new("grant", id, &label))
                .details(json!({
                    "expires_at": { "from": before.0, "to": row.expires_at },
                    "reason": { "from": before.1, "to": row.reason },
                    "revision": revision,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// "allow Engineering → github (read_only tools)".
    async fn describe(&self, tx: &mut Tx, g: &GrantRow) -> Result<String> {
        let subject = self.subject_name(tx, &g.subject()?).await?;
        let server = scalar!(
            tx.exec(),
            Option<String>,
            "SELECT MIN(slug) FROM mcp_servers WHERE id = $1",
            &g.server_id
        )?
        .unwrap_or_else(|| g.server_id.clone());
        let what = match g.target()? {
            GrantTarget::Server => "all tools".to_owned(),
            GrantTarget::Tools { names } => names.join(", "),
            GrantTarget::Annotation { annotation } => format!("{annotation} tools"),
        };
        Ok(format!("{} {subject} → {server} ({what})", g.effect))
    }

    async fn subject_name(&self, tx: &mut Tx, s: &GrantSubject) -> Result<String> {
        Ok(match s {
            GrantSubject::User { id } => scalar!(
                tx.exec(),
                Option<String>,
                "SELECT MIN(COALESCE(email, user_name)) FROM directory_users WHERE id = $1",
                id
            )?
            .unwrap_or_else(|| id.clone()),
            GrantSubject::Group { id } => scalar!(
                tx.exec(),
                Option<String>,
                "SELECT MIN(display_name) FROM directory_groups WHERE id = $1",
                id
            )?
            .unwrap_or_else(|| id.clone()),
            GrantSubject::Everyone => "Everyone".to_owned(),
        })
    }

    /// Grants, newest first, filtered by server, subject or text.
    /// **Permission:** `ConsoleRead`.
    pub async fn list_grants(&self, actor: &Actor, q: &GrantQuery) -> Result<Page<GrantSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let limit = if q.limit <= 0 { 50 } else { q.limit.min(200) };
        let offset = q.offset.max(0);
        let pattern = format!("%{}%", like_escape(&q.q.trim().to_lowercase()));
        let from = format!(
            " {LISTED_GRANT_FROM} \
             WHERE ($1 = '' OR g.server_id = $1) AND ($2 = '' OR g.subject_id = $2) \
             AND ($3 = '%%' OR LOWER(s.slug) LIKE $3 ESCAPE '\\' OR LOWER(s.name) LIKE $3 ESCAPE '\\' \
               OR LOWER(COALESCE(u.email, u.user_name, '')) LIKE $3 ESCAPE '\\' \
               OR LOWER(COALESCE(dg.display_name, '')) LIKE $3 ESCAPE '\\' OR LOWER(g.reason) LIKE $3 ESCAPE '\\' \
               OR LOWER(g.tool_names) LIKE $3 ESCAPE '\\')"
        );
        let server = q.server_id.clone().unwrap_or_default();
        let subject = q.subject_id.clone().unwrap_or_default();
        let total = scalar!(
            self.core.db.exec(),
            i64,
            &format!("SELECT COUNT(*){from}"),
            &server,
            &subject,
            &pattern
        )?;
        let rows = fetch_all!(
            self.core.db.exec(),
            ListedGrant,
            &format!(
                "SELECT {GRANT_COLUMNS}, {LISTED_GRANT_EXTRA}{from} \
                 ORDER BY g.created_at DESC, g.id DESC LIMIT $4 OFFSET $5"
            ),
            &server,
            &subject,
            &pattern,
            limit,
            offset
        )?;
        let now = self.now();
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| r.into_summary(now))
                .collect::<Result<_>>()?,
            total,
            offset,
            limit,
        })
    }

    /// One grant. **Permission:** `ConsoleRead`.
    pub async fn grant(&self, actor: &Actor, id: &str) -> Result<GrantSummary> {
        actor.require(Permission::ConsoleRead)?;
        fetch_optional!(
            self.core.db.exec(),
            ListedGrant,
            &format!(
                "SELECT {GRANT_COLUMNS}, {LISTED_GRANT_EXTRA} {LISTED_GRANT_FROM} WHERE g.id = $1"
            ),
            id
        )?
        .ok_or(Error::NotFound("grant"))?
        .into_summary(self.now())
    }

    /// Policy revisions, newest first. **Permission:** `ConsoleRead`.
    pub async fn revisions(
        &self,
        actor: &Actor,
        offset: i64,
        limit: i64,
    ) -> Result<Page<RevisionSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        #[derive(sqlx::FromRow)]
        struct Row {
            number: i64,
            created_at: DateTime<Utc>,
            actor_display: String,
            source: String,
            summary: String,
        }
        let total = scalar!(
            self.core.db.exec(),
            i64,
            "SELECT COUNT(*) FROM policy_revisions"
        )?;
        let rows = fetch_all!(
            self.core.db.exec(),
            Row,
            "SELECT number, created_at, actor_display, source, summary FROM policy_revisions \
             ORDER BY number DESC LIMIT $1 OFFSET $2",
            limit,
            offset
        )?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| RevisionSummary {
                    number: r.number,
                    created_at: r.created_at,
                    actor_display: r.actor_display,
                    source: r.source,
                    summary: r.summary,
                })
                .collect(),
            total,
            offset,
            limit,
        })
    }

    /// What changed from revision `from` to revision `to`: grants added and
    /// removed, and effective access (person, server, tool) gained and lost,
    /// evaluated at the current time. **Permission:** `ConsoleRead`.
    pub async fn diff(&self, actor: &Actor, from: i64, to: i64) -> Result<RevisionDiff> {
        actor.require(Permission::ConsoleRead)?;
        let a = self.at(Some(from)).await?;
        let b = self.at(Some(to)).await?;
        let ga = revisions::grants_at(self.core.db.exec(), from).await?;
        let gb = revisions::grants_at(self.core.db.exec(), to).await?;
        let now = self.now();
        let names = |snap: &Snapshot, g: &GrantFact| -> (String, String) {
            let p = &snap.policy;
            let subject = match &g.rule.subject {
                Subject::User { id } => p
                    .principal(id)
                    .map(|x| x.email.clone())
                    .unwrap_or_else(|| id.clone()),
                Subject::Group { id } => p
                    .group(id)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| id.clone()),
                Subject::Everyone => "Everyone".to_owned(),
            };
            let server = p
                .server(&g.rule.server)
                .map(|s| s.slug.clone())
                .unwrap_or_else(|| g.rule.server.clone());
            (subject, server)
        };
        let changed =
            |x: &BTreeMap<String, GrantFact>, y: &BTreeMap<String, GrantFact>, snap: &Snapshot| {
                x.iter()
                    .filter(|(id, g)| y.get(*id) != Some(*g))
                    .map(|(_, g)| {
                        let (subject, server) = names(snap, g);
                        summary(g.to_row(), subject, server, now)
                    })
                    .collect::<Result<Vec<_>>>()
            };
        let grants_added = changed(&gb, &ga, &b)?;
        let grants_removed = changed(&ga, &gb, &a)?;
        let (access_added, access_removed, truncated) =
            access_changes(&a.policy, &b.policy, now.timestamp());
        Ok(RevisionDiff {
            from,
            to,
            grants_added,
            grants_removed,
            access_added,
            access_removed,
            truncated,
        })
    }

    /// Makes the grants what they were at revision `to` (a new revision; the
    /// catalog and the directory stay as they are: they mirror the servers
    /// and the IdP). Audited as `access.policy.rolled_back`.
    /// **Permission:** `AccessManage`.
    pub async fn rollback(&self, actor: &Actor, to: i64) -> Result<i64> {
        actor.require(Permission::AccessManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let head = revisions::head(tx.exec()).await?;
        if to < 1 || to >= head {
            return Err(Error::invalid(
                "revision",
                format!("choose an earlier revision than the current one ({head})"),
            ));
        }
        let old = revisions::grants_at(tx.exec(), to).await?;
        let current = revisions::grants_at(tx.exec(), head).await?;
        let mut change = Change::new(
            actor,
            "rollback",
            format!("Rolled back grants to revision {to}"),
            now,
        );
        let mut restored = 0;
        let mut removed = 0;
        for id in current.keys() {
            if !old.contains_key(id) {
                exec!(tx.exec(), "DELETE FROM grants WHERE id = $1", id)?;
                revisions::sync_grant(&mut tx, &mut change, id, None).await?;
                removed += 1;
            }
        }
        for (id, g) in &old {
            if current.get(id) != Some(g) {
                let server_exists = scalar!(
                    tx.exec(),
                    i64,
                    "SELECT COUNT(*) FROM mcp_servers WHERE id = $1",
                    &g.rule.server
                )? > 0;
                if !server_exists {
                    continue; // the server is gone: its grants cannot come back
                }
                exec!(tx.exec(), "DELETE FROM grants WHERE id = $1", id)?;
                insert_grant(&mut tx, &g.to_row()).await?;
                revisions::sync_grant(&mut tx, &mut change, id, Some(g)).await?;
                restored += 1;
            }
        }
        let Some(revision) = change.revision() else {
            return Err(Error::PreconditionFailed(format!(
                "the grants are already as they were at revision {to}"
            )));
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("access.policy.rolled_back")
                .target(Target::new("policy_revision", revision.to_string(), format!("revision {revision}")))
                .details(json!({ "to": to, "from": head, "restored": restored, "removed": removed, "revision": revision })),
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// "Can this person call this tool on this server?", at the current
    /// revision or revision `rev`, at the current time, with every rule that
    /// matched and how. **Permission:** `ConsoleRead`.
    pub async fn simulate(
        &self,
        actor: &Actor,
        principal: &str,
        server: &str,
        tool: &str,
        rev: Option<i64>,
    ) -> Result<SimulationResult> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.at(rev).await?;
        let p = &snap.policy;
        let server_id = p
            .servers()
            .iter()
            .find(|s| s.id == server || s.slug == server)
            .map(|s| s.id.as_str())
            .unwrap_or(server);
        let ex = p.explain(principal, server_id, tool, self.now().timestamp());
        let deciding = ex.decision.reason.rule();
        Ok(SimulationResult {
            revision: snap.revision,
            allowed: ex.decision.allowed,
            reason: ex.decision.reason.code().to_owned(),
            explanation: explain_reason(ex.decision.reason).to_owned(),
            rules: ex
                .matches
                .iter()
                .map(|m| MatchedRule {
                    grant_id: m.rule_id.to_owned(),
                    effect: effect_name(m.effect).to_owned(),
                    via: via(p, m.matched_by),
                    expired: m.expired,
                    deciding: Some(m.rule) == deciding,
                })
                .collect(),
        })
    }

    /// Every tool of every server with whether this person may call it and
    /// why, at the current revision. **Permission:** `ConsoleRead`.
    pub async fn user_access(&self, actor: &Actor, principal: &str) -> Result<Vec<UserToolAccess>> {
        actor.require(Permission::ConsoleRead)?;
        self.own_access(principal).await
    }

    /// [`AccessService::user_access`] for the person themselves (their My
    /// access page, after the caller checked their session): no console
    /// permission involved.
    pub async fn own_access(&self, principal: &str) -> Result<Vec<UserToolAccess>> {
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        let mut out = Vec::new();
        for s in p.servers() {
            for t in &s.tools {
                let ex = p.explain(principal, &s.id, &t.name, now);
                let deciding = ex.decision.reason.rule();
                let m = ex.matches.iter().find(|m| Some(m.rule) == deciding);
                out.push(UserToolAccess {
                    server_id: s.id.clone(),
                    server_name: s.slug.clone(),
                    tool: t.name.clone(),
                    effective: portcullis_types::EffectiveAnnotations {
                        read_only: t.annotations.read_only,
                        destructive: t.annotations.destructive,
                        idempotent: t.annotations.idempotent,
                        open_world: t.annotations.open_world,
                    },
                    allowed: ex.decision.allowed,
                    reason: ex.decision.reason.code().to_owned(),
                    via: m.map(|m| via(p, m.matched_by)),
                    grant_id: m.map(|m| m.rule_id.to_owned()),
                });
            }
        }
        Ok(out)
    }

    /// How many people may call each tool of a server now, by tool name.
    /// **Permission:** `ConsoleRead`.
    pub async fn callers_per_tool(
        &self,
        actor: &Actor,
        server: &str,
    ) -> Result<HashMap<String, i64>> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        Ok(p.tools(server)
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    p.who_can_call(server, &t.name, now).len() as i64,
                )
            })
            .collect())
    }

    /// The people who may call one tool now (id, email), at most `limit`.
    /// **Permission:** `ConsoleRead`.
    pub async fn callers(
        &self,
        actor: &Actor,
        server: &str,
        tool: &str,
        limit: usize,
    ) -> Result<(i64, Vec<(String, String)>)> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.current().await?;
        let p = &snap.policy;
        let ids = p.who_can_call(server, tool, self.now().timestamp());
        let list = ids
            .iter()
            .take(limit)
            .filter_map(|id| p.principal(id).map(|x| (x.id.clone(), x.email.clone())))
            .collect();
        Ok((ids.len() as i64, list))
    }

    /// Groups × tools of a server: how many active members of each group may
    /// call each tool now. Groups with no access to any tool are left out.
    /// **Permission:** `ConsoleRead`.
    pub async fn matrix(&self, actor: &Actor, server: &str) -> Result<AccessMatrix> {
        actor.require(Permission::ConsoleRead)?;
        let snap = self.current().await?;
        let p = &snap.policy;
        let now = self.now().timestamp();
        let tools: Vec<String> = p
            .tools(server)
            .unwrap_or_default()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
        for pr in p.principals().iter().filter(|x| x.active) {
            for g in &pr.groups {
                members.entry(g.as_str()).or_default().push(pr.id.as_str());
            }
        }
        let mut rows = Vec::new();
        for g in p.groups() {
            let ids = members
                .get(g.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let allowed: Vec<i64> = tools
                .iter()
                .map(|t| {
                    ids.iter()
                        .filter(|id| p.decide(id, server, t, now).allowed)
                        .count() as i64
                })
                .collect();
            if allowed.iter().any(|&n| n > 0) {
                rows.push(MatrixRow {
                    group_id: g.id.clone(),
                    group_name: g.name.clone(),
                    members: ids.len() as i64,
                    allowed,
                });
            }
        }
        rows.sort_by(|a, b| {
            a.group_name
                .to_lowercase()
                .cmp(&b.group_name.to_lowercase())
        });
        Ok(AccessMatrix {
            revision: snap.revision,
            tools,
            groups: rows,
        })
    }

    // --- Look-ups for the console's Access pages ---

    /// The directory person an admin typed into a form (the simulator, a
    /// grant for one person): an email, a userName or a user id, matched
    /// case-insensitively; deleted people are not found. Returns
    /// `(id, email or userName)`. The same address in two directories is
    /// ambiguous: `Invalid` on field `person` asks for the user id.
    /// **Permission:** `ConsoleRead`.
    pub async fn find_person(&self, actor: &Actor, who: &str) -> Result<Option<(String, String)>> {
        actor.require(Permission::ConsoleRead)?;
        let who = who.trim();
        if who.is_empty() {
            return Ok(None);
        }
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            label: String,
        }
        let mut rows = fetch_all!(
            self.core.db.exec(),
            Row,
            "SELECT id, COALESCE(email, user_name) AS label FROM directory_users \
             WHERE deleted_at IS NULL AND (id = $1 OR LOWER(email) = $2 OR user_name_lower = $2) \
             ORDER BY id LIMIT 3",
            who,
            &who.to_lowercase()
        )?;
        if let Some(i) = rows.iter().position(|r| r.id == who) {
            let r = rows.swap_remove(i);
            return Ok(Some((r.id, r.label)));
        }
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop().map(|r| (r.id, r.label))),
            _ => Err(Error::invalid(
                "person",
                "several people in different directories have this address; use the user id",
            )),
        }
    }
}

fn via(p: &Policy, m: MatchedBy<'_>) -> MatchedVia {
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

fn summary(
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

/// Effective access gained and lost from `a` to `b` at `now`.
fn access_changes(
    a: &Policy,
    b: &Policy,
    now: i64,
) -> (Vec<AccessChange>, Vec<AccessChange>, bool) {
    let allowed = |p: &Policy| {
        let mut set = BTreeSet::new();
        for pr in p.principals() {
            for s in p.servers() {
                for t in p.allowed_tools(&pr.id, &s.id, now) {
                    set.insert((pr.id.clone(), s.id.clone(), t.to_owned()));
                }
            }
        }
        set
    };
    let (sa, sb) = (allowed(a), allowed(b));
    let mut truncated = false;
    let mut list = |x: &BTreeSet<(String, String, String)>,
                    y: &BTreeSet<(String, String, String)>,
                    p: &Policy| {
        let diff: Vec<_> = x.difference(y).collect();
        truncated |= diff.len() > DIFF_LIMIT;
        diff.into_iter()
            .take(DIFF_LIMIT)
            .map(|(pid, sid, tool)| AccessChange {
                principal_id: pid.clone(),
                email: p
                    .principal(pid)
                    .map(|x| x.email.clone())
                    .unwrap_or_default(),
                server: p.server(sid).map(|s| s.slug.clone()).unwrap_or_default(),
                tool: tool.clone(),
            })
            .collect::<Vec<_>>()
    };
    let added = list(&sb, &sa, b);
    let removed = list(&sa, &sb, a);
    (added, removed, truncated)
}
