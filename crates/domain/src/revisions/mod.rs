//! Policy revisions and the versioned store of policy inputs they are built
//! from (`policy_facts`).
//!
//! Every write that changes an input of the policy — a server, a tool, a
//! group, a person, a membership, a grant, a blocked OAuth client — calls one of the `sync_*`
//! functions inside its own transaction. They compare what the bundle would
//! hold now with the current facts and, only when something differs, close
//! the old fact and insert the new one under a revision allocated from
//! `policy_head` (once per transaction, see [`Change`]). So:
//! - a change that does not alter the policy makes no revision;
//! - the revision commits or rolls back with the change that caused it;
//! - revision numbers only grow, in commit order (the head row is locked
//!   until the transaction ends);
//! - the inputs of any past revision N are the facts with
//!   `rev_from <= N < coalesce(rev_to, ∞)`, which is how [`load_bundle`]
//!   rebuilds the bundle of any revision for the simulator, diffs and
//!   rollback.
//!
//! The area has the domain's target shape: this file holds the revision
//! records ([`Change`], [`head`], [`created_at`], [`grants_at`]; no SQL
//! text); `sync` the `sync_*` functions that keep the facts in line with
//! the catalog, directory, grant and OAuth tables; `facts` the facts of
//! one revision in memory ([`FactMap`]); `bundle` the bundle (and delta)
//! built from them; `model` the facts' values and kinds; `store` every SQL
//! statement.

mod bundle;
mod facts;
mod model;
mod store;
mod sync;

pub use bundle::{assemble, load_bundle, reassemble, touched_facts, Touched};
pub use facts::{changed_keys, FactKey, FactMap};
pub use model::{GrantFact, ServerFact, ToolFact, UserFact};
pub(crate) use sync::{
    sync_agent, sync_client, sync_delegation, sync_directory_group, sync_directory_user,
    sync_grant, sync_server,
};

use crate::actor::Actor;
use crate::db::{Exec, Tx};
use crate::error::Result;
use chrono::{DateTime, Utc};
use model::from_json;
use std::collections::BTreeMap;

/// One policy-changing transaction: who, why, and the revision it allocated
/// (at its first fact change).
pub struct Change<'a> {
    actor: &'a Actor,
    source: &'static str,
    summary: String,
    at: DateTime<Utc>,
    revision: Option<i64>,
}

impl<'a> Change<'a> {
    /// `source` says which area made the change (`grants`, `catalog`,
    /// `directory`, `rollback`); `summary` is shown on the Revisions page.
    pub fn new(
        actor: &'a Actor,
        source: &'static str,
        summary: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            actor,
            source,
            summary: summary.into(),
            at,
            revision: None,
        }
    }

    /// The revision this change produced, if it changed the policy.
    pub fn revision(&self) -> Option<i64> {
        self.revision
    }

    async fn allocate(&mut self, tx: &mut Tx) -> Result<i64> {
        if let Some(rev) = self.revision {
            return Ok(rev);
        }
        let rev = store::next_revision(tx).await?;
        store::insert_revision(tx, rev, self.at, self.actor, self.source, &self.summary).await?;
        tx.signal(crate::db::Topic::Policy).await?;
        self.revision = Some(rev);
        Ok(rev)
    }
}

/// A bundle's revision number as the database numbers it (a revision
/// never reaches `i64::MAX`; 0, no revision, if one ever did).
pub(crate) fn db_revision(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or_default()
}

/// The current revision number (0 before the first change).
pub async fn head(exec: Exec<'_>) -> Result<i64> {
    store::head(exec).await
}

/// When revision `rev` was made (`None` for revision 0 or an unknown one).
pub async fn created_at(exec: Exec<'_>, rev: i64) -> Result<Option<DateTime<Utc>>> {
    store::created_at(exec, rev).await
}

/// The grants as of revision `rev`, by id.
pub async fn grants_at(exec: Exec<'_>, rev: i64) -> Result<BTreeMap<String, GrantFact>> {
    store::grant_facts_at(exec, rev)
        .await?
        .into_iter()
        .map(|r| Ok((r.k1, from_json(&r.value)?)))
        .collect()
}
