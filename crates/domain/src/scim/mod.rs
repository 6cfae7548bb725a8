//! SCIM 2.0 Users and Groups of a directory (RFC 7643 §4, RFC 7644 §3),
//! on top of the pure protocol crate `portcullis-scim`.
//!
//! Invariants:
//! - A directory sees only its own users and groups; every query is scoped
//!   by `directory_id`.
//! - The user resource JSON is stored as sent (less `id`, `meta`, `groups`
//!   and the write-only `password`, which is never stored); the columns used
//!   for filtering, sorting and uniqueness are derived from it on every write.
//! - `userName` is unique per directory case-insensitively (a unique index);
//!   `meta.version` is `W/"<n>"` and grows with every write; `If-Match`
//!   mismatches are 412.
//! - DELETE of a user is a soft delete (hidden from SCIM, kept for history);
//!   deactivation (`active=false`, by PUT, PATCH or DELETE) removes nothing
//!   else but disables the console account with the same email, ending its
//!   sessions (the last active owner is kept as break-glass).
//! - Group membership changes are row inserts and deletes, never a rewrite
//!   of the member list, so concurrent PATCHes lose no member. A member id
//!   that is not a user of the directory is kept as sent (IdPs may list
//!   members before provisioning them) and grants nothing: every use joins
//!   members to users of the same directory.
//! - Every mutation appends its audit event, with the directory as actor, in
//!   the same transaction. No secret reaches the audit log.
//!
//! The area has the domain's target shape: this file is the service's
//! common part (the calling directory, SCIM errors, policy sync, disabling
//! the console account of a deactivated person, paged lists; no SQL text),
//! `users` the `/Users` endpoints, `groups` the `/Groups` endpoints,
//! `model` the checked resources and their JSON form, `store` every SQL
//! statement (`store/lists.rs` the filter column mappings and the paged
//! lists).

mod groups;
mod model;
mod store;
mod users;

use crate::actor::Actor;
use crate::audit::{self, NewEvent, Target};
use crate::db::{Backend, Exec, Tx};
use crate::error::Error;
use crate::revisions;
use crate::Core;
use chrono::{DateTime, Utc};
use portcullis_scim::{list::ListParams, sql::Dialect, ScimError};
use portcullis_types::ActorType;
use serde_json::json;
use std::sync::Arc;

/// Result of SCIM operations: errors are SCIM errors (RFC 7644 §3.12).
pub type ScimResult<T> = Result<T, ScimError>;

/// Largest stored user resource, in bytes of JSON.
pub const MAX_RESOURCE_BYTES: usize = 64 * 1024;

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => ScimError::not_found(format!("{what} not found")),
            Error::Conflict { message, .. } => ScimError::uniqueness(message),
            Error::Invalid(fields) => ScimError::invalid_value(
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::Forbidden(m) => ScimError {
                status: 403,
                scim_type: None,
                detail: m,
            },
            Error::Unauthenticated(m) => ScimError::unauthorized(m),
            Error::RateLimited { .. } => ScimError {
                status: 429,
                scim_type: None,
                detail: "too many requests".into(),
            },
            Error::PreconditionFailed(m) => ScimError::precondition_failed(m),
            Error::Unavailable(source) => {
                tracing::error!(error = %source, "SCIM: database unavailable");
                ScimError {
                    status: 503,
                    scim_type: None,
                    detail: "the database is not answering; retry later".into(),
                }
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "SCIM: internal error");
                ScimError {
                    status: 500,
                    scim_type: None,
                    detail: "internal error".into(),
                }
            }
        }
    }
}

/// SCIM Users and Groups of the calling directory.
#[derive(Clone)]
pub struct ScimService {
    pub(crate) core: Arc<Core>,
}

/// A stored SCIM resource of a directory, with its version
/// (`meta.version`).
trait Resource: Sized {
    /// Resource `id` of directory `dir`, or 404.
    async fn load(ex: Exec<'_>, dir: &str, id: &str) -> ScimResult<Self>;
    fn version(&self) -> i64;
    fn id(&self) -> &str;
}

/// The ids of `rows`, for the look-ups that complete a page of them.
fn ids<R: Resource>(rows: &[R]) -> Vec<String> {
    rows.iter().map(|r| r.id().to_owned()).collect()
}

/// Implements [`Resource`] for a stored row: loaded by the store function
/// `$load`, a 404 naming `$kind` when it finds nothing.
macro_rules! resource {
    ($row:ty, $load:path, $kind:literal) => {
        impl Resource for $row {
            async fn load(ex: Exec<'_>, dir: &str, id: &str) -> ScimResult<Self> {
                $load(ex, dir, id).await?.ok_or_else(|| {
                    ScimError::not_found(format!(concat!($kind, " {} not found"), id))
                })
            }

            fn version(&self) -> i64 {
                self.version
            }

            fn id(&self) -> &str {
                &self.id
            }
        }
    };
}

// Users: not deleted ones; groups: of the directory.
resource!(store::UserRow, store::user, "User");
resource!(store::GroupRow, store::group, "Group");

/// The directory a SCIM caller acts for.
fn directory_of(actor: &Actor) -> ScimResult<&str> {
    match (actor.kind, actor.id.as_deref()) {
        (ActorType::Directory, Some(id)) => Ok(id),
        _ => Err(ScimError::unauthorized(
            "a directory bearer token is required",
        )),
    }
}

impl ScimService {
    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    fn dialect(&self) -> Dialect {
        match self.core.db.backend() {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
        }
    }

    /// Opens the transaction of a change to resource `id` of the caller's
    /// directory: the resource as it is, once `If-Match` holds.
    async fn begin_change<'a, R: Resource>(
        &self,
        actor: &'a Actor,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<Write<'a, R>> {
        let dir = directory_of(actor)?;
        let mut tx = self.core.db.begin().await?;
        let old = R::load(tx.exec(), dir, id).await?;
        model::check_if_match(if_match, old.version())?;
        Ok((dir, self.now(), tx, old))
    }

    /// One page of a list of `spec` in directory `dir` (`filter`, `sortBy`,
    /// `startIndex` and `count` of `params`) and the total that pass the
    /// filter.
    async fn list_page<T: crate::db::AnyRow>(
        &self,
        actor: &Actor,
        spec: &'static store::ListSpec,
        params: &ListParams,
    ) -> ScimResult<(Vec<T>, i64)> {
        let dir = directory_of(actor)?;
        let listing = store::listing(spec, dir, params.filter.as_ref(), self.dialect())?;
        let total = store::count(self.core.db.exec(), &listing).await?;
        let order = store::order(&listing, params)?;
        let rows = store::page(
            self.core.db.exec(),
            listing,
            &order,
            params.count,
            params.offset(),
        )
        .await?;
        Ok((rows, total))
    }

    /// Disables the console account with `email` (if any, and unless it is
    /// the last active owner) and ends its sessions, because the directory
    /// deactivated the person. Audited as `console.admin.disabled`.
    async fn disable_console_account(
        tx: &mut Tx,
        actor: &Actor,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> ScimResult<()> {
        let Some(email) = email else { return Ok(()) };
        let Some(row) = store::active_console_account(tx, email).await? else {
            return Ok(());
        };
        let role: portcullis_types::Role = row.role.parse().map_err(Error::Internal)?;
        if role == portcullis_types::Role::Owner {
            let owners = store::active_owners(tx).await?;
            if owners <= 1 {
                tracing::warn!(email, "directory deactivated the last active owner; the console account is kept as break-glass");
                return Ok(());
            }
        }
        let ended = store::disable_console_account(tx, &row.id, now).await?;
        audit::append(
            tx,
            now,
            actor,
            NewEvent::success("console.admin.disabled")
                .target(Target::new("console_user", &row.id, email))
                .details(
                    json!({ "reason": "deactivated in the directory", "sessions_ended": ended }),
                ),
        )
        .await?;
        Ok(())
    }

    /// Brings the policy facts of `changed` in line with what this
    /// transaction wrote (a new policy revision when the policy changed,
    /// summed up as "SCIM: `changed` `verb`") and audits the write as
    /// `event`, aimed at `changed`.
    async fn record_change(
        tx: &mut Tx,
        actor: &Actor,
        now: DateTime<Utc>,
        changed: Changed<'_>,
        verb: &str,
        event: NewEvent,
    ) -> ScimResult<()> {
        let (summary, target) = match changed {
            Changed::User { id, name } => (
                format!("SCIM: {name} {verb}"),
                Target::new("directory_user", id, name),
            ),
            Changed::Group { id, name } => (
                format!("SCIM: group {name} {verb}"),
                Target::new("directory_group", id, name),
            ),
        };
        let mut change = revisions::Change::new(actor, "directory", summary, now);
        match changed {
            Changed::User { id, .. } => revisions::sync_directory_user(tx, &mut change, id).await?,
            Changed::Group { id, .. } => {
                revisions::sync_directory_group(tx, &mut change, id).await?
            }
        }
        audit::append(tx, now, actor, event.target(target)).await?;
        Ok(())
    }
}

/// A change under way to one stored resource: the caller's directory, the
/// time of the change, its open transaction and the resource as it was.
type Write<'a, R> = (&'a str, DateTime<Utc>, Tx, R);

/// The user or group a SCIM write changed, by id and name.
#[derive(Clone, Copy)]
enum Changed<'a> {
    User { id: &'a str, name: &'a str },
    Group { id: &'a str, name: &'a str },
}
