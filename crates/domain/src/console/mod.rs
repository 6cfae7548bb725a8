//! Console auth: the people who run Portcullis (owners, admins, auditors),
//! their one-time set-up links, passwords, sessions and sign-in throttling.
//!
//! Invariants:
//! - Passwords are hashed with argon2id; session ids and one-time tokens are
//!   stored only as SHA-256 hashes. None of them reaches a log or audit event.
//! - A session is valid while its user is active, it was used within the idle
//!   timeout and it is younger than the absolute timeout. Signing in always
//!   creates a new session id; a role change or disable ends the user's
//!   sessions; sign-out deletes the session row.
//! - Failed sign-ins are throttled per account and per source IP within a
//!   sliding window; every attempt, refused or not, is audited.
//! - There is always at least one active owner once one exists: the last
//!   owner cannot be demoted or disabled.
//! - Every mutation appends its audit event in the same transaction.
//!
//! The area has the domain's target shape (no SQL text outside `store`):
//! this file is the service's frame (its limits, the user look-ups, the
//! clean-up job); `links` creates owners and uses one-time set-up links,
//! `signin` signs in with a password and throttles, `sessions` makes,
//! resolves and ends sessions, `admins` manages console users (the Admins
//! page); `passwords` checks and hashes passwords, `model` holds the values
//! and their checks (emails, names, stored roles and statuses), `store`
//! every SQL statement.

mod admins;
mod links;
mod model;
mod passwords;
mod sessions;
mod signin;
mod store;

pub use model::{normalize_email, NewSession};
pub use signin::SigninThrottle;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::Core;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use store::UserRow;

/// Failed attempts per account within [`THROTTLE_WINDOW_MINUTES`] before
/// sign-in is refused for that account.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed attempts per source IP within the window.
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// The sliding window for throttling.
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Console users, sign-in and sessions.
#[derive(Clone)]
pub struct ConsoleService {
    pub(crate) core: Arc<Core>,
    pub(crate) throttle: Arc<SigninThrottle>,
}

impl ConsoleService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        store::user_by_email(self.core.db.exec(), email).await
    }

    async fn get_user_in(tx: &mut Tx, id: &str) -> Result<UserRow> {
        store::user_by_id(tx.exec(), id)
            .await?
            .ok_or(Error::NotFound("console user"))
    }

    /// Deletes expired sessions, used links and old throttling records
    /// (a background job). Returns the number of rows removed.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.now();
        let db = &self.core.db;
        let idle_cutoff = now - self.core.settings.session_idle;
        let a = store::purge_sessions(db.write(), now, idle_cutoff).await?;
        let b = store::purge_failures(db.write(), now - Duration::minutes(THROTTLE_WINDOW_MINUTES))
            .await?;
        let c = store::purge_links(db.write(), now - Duration::days(30)).await?;
        Ok(a + b + c)
    }
}
