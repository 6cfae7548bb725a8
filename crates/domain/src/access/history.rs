//! The policy's history as the console shows it: the revision log, what
//! changed between two revisions (grants, and effective access), and
//! rolling the grants back to an earlier revision.

use super::model::{revision_summary, row_of, summary};
use super::{store, AccessService, Snapshot};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::error::{Error, Result};
use crate::revisions::{self, Change, GrantFact};
use portcullis_policy::bundle::Subject;
use portcullis_policy::Policy;
use portcullis_types::{AccessChange, Page, RevisionDiff, RevisionSummary};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The most access changes a revision diff lists per direction.
const DIFF_LIMIT: usize = 500;

impl AccessService {
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
        let total = store::count_revisions(self.core.db.exec()).await?;
        let rows = store::list_revisions(self.core.db.exec(), limit, offset).await?;
        Ok(Page {
            items: rows.into_iter().map(revision_summary).collect(),
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
                Subject::Agent { id } => p
                    .agent(id)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| id.clone()),
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
                        summary(row_of(g), subject, server, now)
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
                store::delete_grant(tx.exec(), id).await?;
                revisions::sync_grant(&mut tx, &mut change, id, None).await?;
                removed += 1;
            }
        }
        for (id, g) in &old {
            if current.get(id) != Some(g) {
                let server_exists = store::server_exists(tx.exec(), &g.rule.server).await?;
                if !server_exists {
                    continue; // the server is gone: its grants cannot come back
                }
                store::delete_grant(tx.exec(), id).await?;
                store::insert_grant(&mut tx, &row_of(g)).await?;
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
