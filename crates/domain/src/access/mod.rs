//! Access policy: grants, revisions (list, diff, rollback), and the views
//! that explain access (simulator, a user's access, a server's callers, the
//! access matrix).
//!
//! Every answer comes from the `portcullis-policy` evaluator over the bundle
//! of a revision ([`crate::revisions::load_bundle`]), the same code gateways
//! run, so what the console shows is what gateways enforce.
//!
//! The area has the domain's target shape: this file is the service and
//! the compiled revisions it keeps (no SQL text); `grants` checks, creates,
//! changes, revokes and lists grants; `history` the revision log, diffs and
//! rollback; `views` the simulator, a person's access, a server's callers
//! and access matrix, and the person look-up; `model` the values (a stored
//! grant's strict decoding, its rule and console line); `store` every SQL
//! statement.

mod grants;
mod history;
mod model;
mod store;
mod views;

use crate::error::{Error, Result};
use crate::{revisions, Core};
use chrono::{DateTime, Utc};
use portcullis_policy::Policy;
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
}
