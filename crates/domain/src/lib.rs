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
//! | [`agents`] | agents: headless principals with credentials, owners, the kill switch |
//! | [`apikeys`] | API keys of the admin REST API, `Idempotency-Key` answers |
//! | [`audit`] | the hash-chained audit log: append (one event or a batch), list, verify, signed checkpoints and the witness, the action catalog (OCSF), export, retention (purge from signed records, legal hold), streaming to SIEMs (webhook, syslog, HEC) |
//! | [`directory`] | SCIM directories, their bearer tokens, failed-request log |
//! | [`scim`] | SCIM 2.0 Users and Groups of a directory (on `portcullis-scim`) |
//! | [`catalog`] | MCP servers, tools, discovery, tool pinning and quarantine |
//! | [`access`] | grants, revisions (diff, rollback), simulator, access views |
//! | [`revisions`] | policy revisions and the versioned policy inputs (`policy_facts`) |
//! | [`publish`] | the signed bundle of the current revision, in memory, for the policy API |
//! | [`signing`] | bundle signing keys (sealed at rest) and the JWKS |
//! | [`gateways`] | gateways, their credentials, status reports and decision logs |
//! | [`sso`] | SSO connections (OIDC, SAML), sign-in through them, group → role mappings |
//! | [`oauth`] | the OAuth 2.1 authorization server for MCP clients: clients, authorize, tokens |
//! | [`secrets`] | sealing secrets stored in the database (AES-256-GCM) |
//! | [`overview`] | the figures on the Overview page |
//! | [`checks`] | input checks areas share (a name, an expiry in days) |
//! | [`ratelimit`] | per-key rate limits (SCIM tokens, SSO starts, API keys; OAuth's use it too) |
//! | [`rekey`] | re-sealing every stored secret under a new secret key |
//! | [`db`] | pools, transactions, migrations, query macros |
//!
//! Every area is a folder of one shape: `mod.rs` is the service (role
//! check, rules, audit events, revision sync; no SQL text), `model.rs` the
//! typed values, commands and stored enums (an unknown stored value is an
//! error, never a silent default), `store.rs` (or `store/`) every SQL
//! string of the area. Larger areas split their service along its seams
//! into further files of the folder. Services take and return the typed ids
//! of `portcullis_types` (`ServerId`, `GrantId`, `PersonId`, `ToolName`,
//! `SsoSlug`, …), never bare strings for ids; what stays `&str` is free
//! text (searches, names), secrets (bearer tokens, keys) and the
//! crate-internal plumbing between areas (`revisions::sync_*` take ids as
//! the rows store them). Run-time SQL (list filters, SCIM filters) goes
//! through `db::{count_dyn, fetch_page_dyn}`. Sample data lives in the
//! binary (`src/demo.rs`), not here.

pub mod access;
pub mod actor;
pub mod agents;
pub mod apikeys;
pub mod audit;
pub mod catalog;
pub mod checks;
pub mod clock;
pub mod console;
pub mod db;
pub mod directory;
pub mod error;
pub mod gateways;
pub mod oauth;
pub mod overview;
pub mod publish;
pub mod ratelimit;
pub mod rekey;
pub mod revisions;
pub mod scim;
pub mod secrets;
pub mod signing;
pub mod sso;

pub use actor::{Actor, Permission, RequestMeta};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Backend, Db, DbOptions, SqliteSync};
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
    /// PEM root certificates trusted for server-side fetches besides the
    /// system's (`PORTCULLIS_FETCH_CA_FILE`).
    pub fetch_extra_roots_pem: Vec<Vec<u8>>,
    /// Seals secrets kept in the database (signing keys).
    pub secrets: secrets::SecretBox,
    /// How often the policy API checks the head revision without a change
    /// signal (a safety net; signals normally arrive at once).
    pub policy_recheck: std::time::Duration,
    /// Lifetime of the OAuth access tokens issued to MCP clients.
    pub access_token_ttl: chrono::Duration,
    /// Failed token requests per source address per 10 minutes before the
    /// address is refused for the rest of the window.
    pub oauth_failed_tokens_per_ip: u64,
    /// Tokens issued per OAuth client per minute (0: no limit).
    pub oauth_client_tokens_per_minute: u64,
    /// SCIM requests per directory token per minute (0: no limit).
    pub scim_requests_per_minute: u64,
    /// SSO sign-ins started per source address per minute (0: no limit).
    pub sso_starts_per_minute: u64,
    /// Admin API requests per API key per minute (0: no limit).
    pub api_key_requests_per_minute: u64,
    /// Unknown API keys per source address per minute before the address
    /// is refused for the rest of the minute (0: no limit).
    pub api_key_failures_per_ip: u64,
    /// The audit chain's head is signed after this many new events…
    pub audit_checkpoint_events: i64,
    /// …or when the newest checkpoint is this old and events followed it.
    pub audit_checkpoint_interval: chrono::Duration,
    /// Where each new audit checkpoint is POSTed (JSON), through the SSRF
    /// guard; `None`: no witness.
    pub audit_witness_url: Option<String>,
    /// Audit events older than this many days are purged (retention).
    pub audit_retention_days: i64,
    /// Gateway decisions older than this many days lose their content
    /// (at most `audit_retention_days`).
    pub audit_decision_retention_days: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle: chrono::Duration::hours(1),
            session_absolute: chrono::Duration::hours(12),
            fetch_allowed_hosts: Vec::new(),
            fetch_extra_roots_pem: Vec::new(),
            secrets: secrets::SecretBox::random(),
            policy_recheck: std::time::Duration::from_secs(5),
            access_token_ttl: chrono::Duration::minutes(10),
            oauth_failed_tokens_per_ip: 30,
            oauth_client_tokens_per_minute: 6_000,
            scim_requests_per_minute: 120_000,
            sso_starts_per_minute: 60,
            api_key_requests_per_minute: 6_000,
            api_key_failures_per_ip: 30,
            audit_checkpoint_events: 1_000,
            audit_checkpoint_interval: chrono::Duration::minutes(10),
            audit_witness_url: None,
            audit_retention_days: 400,
            audit_decision_retention_days: 400,
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
    pub gateways: gateways::GatewayService,
    pub signing: signing::SigningService,
    pub publisher: publish::PolicyPublisher,
    pub sso: sso::SsoService,
    pub oauth: oauth::OAuthService,
    pub api_keys: apikeys::ApiKeyService,
    pub agents: agents::AgentService,
    /// Per-key rate limits (SCIM tokens, SSO starts, API keys).
    pub limits: Arc<ratelimit::RateLimits>,
}

impl Services {
    /// Builds the services over an open, migrated database.
    pub fn new(db: Db, clock: Arc<dyn Clock>, settings: Settings) -> Result<Self> {
        let guard = portcullis_discovery::Guard::new(portcullis_discovery::GuardConfig {
            allowed_hosts: settings.fetch_allowed_hosts.clone(),
            extra_roots_pem: settings.fetch_extra_roots_pem.clone(),
            ..Default::default()
        })
        .map_err(|e| Error::invalid("PORTCULLIS_FETCH_ALLOWED_HOSTS", e.to_string()))?;
        // Client ID metadata documents: https only, small, quick.
        let cimd_guard = Arc::new(
            portcullis_discovery::Guard::new(portcullis_discovery::GuardConfig {
                allowed_hosts: settings.fetch_allowed_hosts.clone(),
                extra_roots_pem: settings.fetch_extra_roots_pem.clone(),
                https_only: true,
                max_body_bytes: oauth::cimd::MAX_DOCUMENT_BYTES,
                timeout: std::time::Duration::from_secs(5),
                ..Default::default()
            })
            .map_err(|e| Error::invalid("PORTCULLIS_FETCH_CA_FILE", e.to_string()))?,
        );
        let limits = Arc::new(ratelimit::RateLimits::new(&settings));
        let core = Arc::new(Core {
            db,
            clock,
            settings,
        });
        let signing = signing::SigningService { core: core.clone() };
        let guard = Arc::new(guard);
        let console = console::ConsoleService {
            core: core.clone(),
            throttle: Default::default(),
        };
        let oauth = oauth::OAuthService::new(core.clone(), signing.clone(), cimd_guard);
        let sso = sso::SsoService::new(core.clone(), console.clone(), guard.clone())?;
        let access = access::AccessService::new(core.clone());
        oauth.wire_enterprise(oauth::Enterprise {
            sso: sso.clone(),
            access: access.clone(),
        });
        Ok(Self {
            agents: agents::AgentService {
                core: core.clone(),
                oauth: oauth.clone(),
            },
            sso,
            gateways: gateways::GatewayService::new(core.clone()),
            publisher: publish::PolicyPublisher::new(core.clone(), signing.clone()),
            oauth,
            signing: signing.clone(),
            catalog: catalog::CatalogService {
                core: core.clone(),
                guard: guard.clone(),
            },
            access,
            console,
            audit: audit::AuditService {
                core: core.clone(),
                signing,
                guard: guard.clone(),
            },
            api_keys: apikeys::ApiKeyService { core: core.clone() },
            overview: overview::OverviewService { core: core.clone() },
            directory: directory::DirectoryService {
                core: core.clone(),
                touched: ratelimit::TouchLog::every(chrono::Duration::seconds(
                    directory::TOKEN_USE_NOTE_SECS,
                )),
            },
            scim: scim::ScimService { core: core.clone() },
            limits,
            core,
        })
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.core.db
    }
}
