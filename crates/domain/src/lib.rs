//! Portcullis domain: services per area, console authorization, the audit
//! trail, and storage for SQLite and PostgreSQL. No HTTP, no UI.
//!
//! Entry points are the services on [`Services`]; each method takes the
//! calling [`Actor`] and checks its console role before anything else, so
//! server functions, REST handlers and the CLI are guarded the same way.
//! Every mutation appends its audit event in the same transaction
//! (see [`audit`]).
//!
//! | module | owns |
//! |---|---|
//! | [`console`] | console users, one-time links, passwords, sessions, throttling |
//! | [`audit`] | the hash-chained audit log: append, list, verify |
//! | [`directory`] | SCIM directories, their bearer tokens, failed-request log |
//! | [`scim`] | SCIM 2.0 Users and Groups of a directory (on `portcullis-scim`) |
//! | [`catalog`] | MCP servers, tools, discovery, tool pinning and quarantine |
//! | [`access`] | grants, revisions (diff, rollback), simulator, access views |
//! | [`revisions`] | policy revisions and the versioned policy inputs (`policy_facts`) |
//! | [`overview`] | the figures on the Overview page |
//! | [`demo`] | sample data for `portcullis demo` |
//! | [`db`] | pools, transactions, migrations, query macros |

pub mod access;
pub mod actor;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod console;
pub mod db;
pub mod demo;
pub mod directory;
pub mod error;
pub mod overview;
pub mod revisions;
pub mod scim;

pub use actor::{Actor, Permission, RequestMeta};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Backend, Db, DbOptions};
pub use error::{Error, Result};

use std::sync::Arc;

/// Tunables the services need (set from configuration at start-up).
#[derive(Clone, Debug)]
pub struct Settings {
    /// A session unused for this long ends.
    pub session_idle: chrono::Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute: chrono::Duration,
    /// Hosts (`host` or `host:port`) the server may fetch from although they
    /// resolve to private or loopback addresses (MCP discovery, metadata).
    pub fetch_allowed_hosts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle: chrono::Duration::hours(1),
            session_absolute: chrono::Duration::hours(12),
            fetch_allowed_hosts: Vec::new(),
        }
    }
}

/// What every service shares.
pub struct Core {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

/// The domain services, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub core: Arc<Core>,
    pub console: console::ConsoleService,
    pub audit: audit::AuditService,
    pub overview: overview::OverviewService,
    pub directory: directory::DirectoryService,
    pub scim: scim::ScimService,
    pub catalog: catalog::CatalogService,
    pub access: access::AccessService,
}

impl Services {
    /// Builds the services over an open, migrated database.
    pub fn new(db: Db, clock: Arc<dyn Clock>, settings: Settings) -> Result<Self> {
        let guard = portcullis_discovery::Guard::new(portcullis_discovery::GuardConfig {
            allowed_hosts: settings.fetch_allowed_hosts.clone(),
            ..Default::default()
        })
        .map_err(|e| Error::invalid("PORTCULLIS_FETCH_ALLOWED_HOSTS", e.to_string()))?;
        let core = Arc::new(Core {
            db,
            clock,
            settings,
        });
        Ok(Self {
            catalog: catalog::CatalogService {
                core: core.clone(),
                guard: Arc::new(guard),
            },
            access: access::AccessService::new(core.clone()),
            console: console::ConsoleService { core: core.clone() },
            audit: audit::AuditService { core: core.clone() },
            overview: overview::OverviewService { core: core.clone() },
            directory: directory::DirectoryService { core: core.clone() },
            scim: scim::ScimService { core: core.clone() },
            core,
        })
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.core.db
    }
}
