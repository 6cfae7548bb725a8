//! Grants: checking, creating, changing, revoking and listing them. Every
//! change syncs the grant's policy fact in the same transaction, so it
//! applies from the revision it makes.

use super::model::{annotation_flag, subject_columns, tool_names, whole_seconds};
use super::store::{self, GrantFilter, GrantRow};
use super::AccessService;
use crate::actor::{Actor, Permission};
use crate::audit::{self, like_escape, NewEvent, Target};
use crate::clock::new_id;
use crate::db::{Exec, Tx};
use crate::error::{Error, Result};
use crate::revisions::{self, Change};
use portcullis_types::{
    FieldError, GrantId, GrantInput, GrantQuery, GrantSubject, GrantSummary, GrantTarget,
    GrantUpdate, Page,
};
use serde_json::json;
use std::collections::BTreeSet;

impl AccessService {
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
                if !store::person_exists(db.exec(), id).await? {
                    err("subject", "choose a person from the directory".to_owned());
                }
            }
            GrantSubject::Group { id } => {
                if !store::group_exists(db.exec(), id).await? {
                    err("subject", "choose a group from the directory".to_owned());
                }
            }
            GrantSubject::Everyone => {}
            GrantSubject::Agent { id } => {
                if !store::agent_exists(db.exec(), id).await? {
                    err("subject", "choose a registered agent".to_owned());
                }
            }
        }
        let server_known = store::server_exists(db.exec(), &input.server_id).await?;
        if !server_known {
            err("server_id", "choose a server from the catalog".to_owned());
        }
        let (target_kind, tool_names, annotation) = match &input.target {
            GrantTarget::Server => ("server", Vec::new(), None),
            GrantTarget::Tools { names } => {
                let names = tool_names(names);
                if names.is_empty() {
                    err("tools", "choose at least one tool".to_owned());
                } else if server_known {
                    if let Some(message) =
                        unknown_tools(db.exec(), &input.server_id, &names).await?
                    {
                        err("tools", message);
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
        let (subject_kind, subject_id) = subject_columns(&input.subject);
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
            expires_at: input.expires_at.map(whole_seconds),
            reason,
            created_by: String::new(),
            created_at: now,
        })
    }

    /// Creates a grant; it applies from the revision it makes. Audited as
    /// `access.grant.created`. **Permission:** `AccessManage`.
    pub async fn create_grant(&self, actor: &Actor, input: &GrantInput) -> Result<(GrantId, i64)> {
        actor.require(Permission::AccessManage)?;
        let mut row = self.check_grant(input).await?;
        row.created_by = actor.display.clone();
        let now = row.created_at;
        let fact = row.fact()?;
        let mut tx = self.core.db.begin().await?;
        store::insert_grant(&mut tx, &row).await?;
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
        Ok((GrantId(row.id), revision))
    }

    /// Revokes a grant. Audited as `access.grant.revoked`.
    /// **Permission:** `AccessManage`.
    pub async fn revoke_grant(&self, actor: &Actor, id: &GrantId) -> Result<i64> {
        actor.require(Permission::AccessManage)?;
        let id = id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let row = store::grant(tx.exec(), id)
            .await?
            .ok_or(Error::NotFound("grant"))?;
        store::delete_grant(tx.exec(), id).await?;
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

    /// Changes a grant's expiry, reason or named tools; a new expiry or
    /// new tools is a new policy revision. Audited as `access.grant.updated`. Returns the revision
    /// the change made, if it changed the policy. **Permission:** `AccessManage`.
    pub async fn update_grant(
        &self,
        actor: &Actor,
        id: &GrantId,
        update: &GrantUpdate,
    ) -> Result<Option<i64>> {
        actor.require(Permission::AccessManage)?;
        let id = id.as_str();
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
        let mut row = store::grant(tx.exec(), id)
            .await?
            .ok_or(Error::NotFound("grant"))?;
        let before = (row.expires_at, row.reason.clone(), named_tools(&row)?);
        if let Some(expires_at) = update.expires_at {
            // Whole seconds, as grants are created.
            row.expires_at = expires_at.map(whole_seconds);
        }
        if let Some(reason) = reason {
            reason.clone_into(&mut row.reason);
        }
        if let Some(names) = &update.tools {
            let names = self.check_tools_change(&mut tx, &row, names).await?;
            row.tool_names =
                serde_json::to_string(&names).map_err(|e| Error::Internal(e.to_string()))?;
        }
        let tools = named_tools(&row)?;
        store::update_grant(tx.exec(), id, row.expires_at, &row.reason, &row.tool_names).await?;
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
                    "tools": { "from": before.2, "to": tools },
                    "revision": revision,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// The new tools of a grant that names tools: at least one, each a
    /// live tool of its server; the names trimmed, deduplicated and sorted.
    async fn check_tools_change(
        &self,
        tx: &mut Tx,
        row: &GrantRow,
        names: &[String],
    ) -> Result<Vec<String>> {
        if row.target_kind != "tools" {
            return Err(Error::invalid(
                "tools",
                "this grant covers its server's tools as a whole or by annotation; revoke it and add a grant that names tools",
            ));
        }
        let names = tool_names(names);
        if names.is_empty() {
            return Err(Error::invalid("tools", "choose at least one tool"));
        }
        if let Some(message) = unknown_tools(tx.exec(), &row.server_id, &names).await? {
            return Err(Error::invalid("tools", message));
        }
        Ok(names)
    }

    /// "allow Engineering → github (read_only tools)".
    async fn describe(&self, tx: &mut Tx, g: &GrantRow) -> Result<String> {
        let subject = self.subject_name(tx, &g.subject()?).await?;
        let server = store::server_slug(tx.exec(), &g.server_id)
            .await?
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
            GrantSubject::User { id } => store::person_label(tx.exec(), id)
                .await?
                .unwrap_or_else(|| id.clone()),
            GrantSubject::Group { id } => store::group_name(tx.exec(), id)
                .await?
                .unwrap_or_else(|| id.clone()),
            GrantSubject::Everyone => "Everyone".to_owned(),
            GrantSubject::Agent { id } => store::agent_name(tx.exec(), id)
                .await?
                .unwrap_or_else(|| id.clone()),
        })
    }

    /// Grants, newest first, filtered by server, subject or text.
    /// **Permission:** `ConsoleRead`.
    pub async fn list_grants(&self, actor: &Actor, q: &GrantQuery) -> Result<Page<GrantSummary>> {
        actor.require(Permission::ConsoleRead)?;
        let limit = if q.limit <= 0 { 50 } else { q.limit.min(200) };
        let offset = q.offset.max(0);
        let pattern = format!("%{}%", like_escape(&q.q.trim().to_lowercase()));
        let server = q.server_id.clone().unwrap_or_default();
        let subject = q.subject_id.clone().unwrap_or_default();
        let filter = GrantFilter {
            server: &server,
            subject: &subject,
            pattern: &pattern,
        };
        let total = store::count_grants(self.core.db.exec(), &filter).await?;
        let rows = store::list_grants(self.core.db.exec(), &filter, limit, offset).await?;
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
    pub async fn grant(&self, actor: &Actor, id: &GrantId) -> Result<GrantSummary> {
        actor.require(Permission::ConsoleRead)?;
        store::listed_grant(self.core.db.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("grant"))?
            .into_summary(self.now())
    }
}

/// The tools a grant names (none for a grant of a whole server or by
/// annotation).
fn named_tools(row: &GrantRow) -> Result<Vec<String>> {
    Ok(match row.target()? {
        GrantTarget::Tools { names } => names,
        _ => Vec::new(),
    })
}

/// Of `names`, those that are no live tool of server `server_id`, as the
/// `tools` field's message ("the server has no tool named a, b"); none
/// when every name is known.
async fn unknown_tools(ex: Exec<'_>, server_id: &str, names: &[String]) -> Result<Option<String>> {
    let known: BTreeSet<String> = store::live_tool_names(ex, server_id)
        .await?
        .into_iter()
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !known.contains(*n))
        .map(String::as_str)
        .collect();
    Ok((!unknown.is_empty())
        .then(|| format!("the server has no tool named {}", unknown.join(", "))))
}
