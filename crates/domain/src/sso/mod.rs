//! SSO: console sign-in through the company's identity provider, over OIDC
//! ([`oidc`]) or SAML ([`saml`]).
//!
//! A connection serves a list of email domains; the sign-in page asks for
//! the email and sends the admin to the connection of its domain. What the
//! IdP asserts (subject, email, name, groups) goes through one admission
//! step for both protocols ([`SsoService::evaluate`]):
//! - **Who it is.** The subject is looked up in `sso_identities`; else, when
//!   the connection names a SCIM directory, the directory user whose
//!   `externalId` is the subject; else a console user with the same
//!   **verified** email. Never by display name. An email outside the
//!   connection's domains links nothing, so one tenant's IdP cannot speak for
//!   another's people.
//! - **Which role.** A role given by an owner (`role_source = 'manual'`)
//!   stays. Otherwise the role is the highest one the connection's group
//!   mappings give for the IdP's groups and, when the person is provisioned
//!   in the connection's directory, their SCIM groups. No role → refused.
//!   People deactivated in that directory are refused.
//! - First sign-in creates the console user (`role_source = 'sso'`) when a
//!   mapping gives a role. A role that changed ends the user's other
//!   sessions.
//!
//! Invariants:
//! - Every sign-in in flight is a single-use row in `sso_requests`, bound to
//!   the browser that started it by a cookie (only its hash is stored), and
//!   expires after [`REQUEST_TTL_MINUTES`]. OIDC `state` and the SAML
//!   AuthnRequest ID are stored hashed; the PKCE verifier is sealed.
//! - Every sign-in, refusal and connection change is audited; no token,
//!   assertion or secret reaches the audit log.
//! - The OIDC client secret is sealed with the instance secret key.
//!
//! The area has the domain's target shape. This file is the service's
//! state and the connection lookups every part shares; no file but those
//! of `store` holds SQL text.
//! - `connections`: the settings page (list, show, create, change, delete)
//!   and the form's checks that need the database or the IdP.
//! - `signin`: starting a sign-in, the sign-ins in flight, refusals, test
//!   runs and purging what expired.
//! - `admission`: who an assertion names and which role they get, and the
//!   console sign-in it ends in.
//! - `people`: employees signing in for MCP clients (directory people,
//!   just-in-time people and their groups).
//! - `id_jag`: the connections that accept their IdP's ID-JAGs
//!   (enterprise-managed authorization), the issuer's keys and the person
//!   an ID-JAG names; the token endpoint's checks are in
//!   `crate::oauth::id_jag`.
//! - [`oidc`] and [`saml`] (with `saml/checks.rs`, the protocol checks that
//!   need no database): the protocols.
//! - `model`: the values, the stored enums (decoded strictly) and the
//!   form's rules.
//! - `store` (with `store/signin.rs` and `store/people.rs`): every SQL
//!   statement.

mod admission;
mod connections;
mod id_jag;
mod model;
pub mod oidc;
mod people;
pub mod saml;
mod signin;
mod store;

pub use id_jag::TrustedIssuer;
pub use model::{acs_url, redirect_uri, safe_next, sp_metadata_url, Asserted, Finished, Started};
pub use portcullis_types::SsoRefusal as Refusal;
pub use saml::AcsOutcome;

use crate::console::ConsoleService;
use crate::error::{Error, Result};
use crate::Core;
use chrono::{DateTime, Utc};
use portcullis_types::{SsoKind, SsoSlug};
use std::sync::Arc;
use store::ConnRow;

/// How long a sign-in may take from the sign-in page back to the console.
pub const REQUEST_TTL_MINUTES: i64 = 10;
/// Most email domains one connection may serve.
pub const MAX_DOMAINS: usize = 50;
/// Most group → role mappings on one connection.
pub const MAX_MAPPINGS: usize = 100;
/// Most groups taken from one assertion (more are ignored and audited).
pub const MAX_GROUPS: usize = 500;
/// Refused SSO answers per source IP within the console's throttling
/// window before further ones are turned away unread (429) — so nobody can
/// fill the audit log with garbage callbacks.
pub const MAX_REFUSALS_PER_IP: i64 = 30;

/// SSO connections and sign-in.
#[derive(Clone)]
pub struct SsoService {
    pub(crate) core: Arc<Core>,
    pub(crate) console: ConsoleService,
    pub(crate) guard: Arc<portcullis_discovery::Guard>,
    pub(crate) oidc_http: oidc::GuardedHttp,
    pub(crate) oidc: Arc<oidc::ProviderCache>,
}

impl SsoService {
    pub(crate) fn new(
        core: Arc<Core>,
        console: ConsoleService,
        guard: Arc<portcullis_discovery::Guard>,
    ) -> Result<Self> {
        let oidc_http = oidc::http_client(
            &core.settings.fetch_allowed_hosts,
            &core.settings.fetch_extra_roots_pem,
        )?;
        Ok(Self {
            core,
            console,
            guard,
            oidc_http,
            oidc: Arc::new(oidc::ProviderCache::default()),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    async fn conn_by_slug(&self, slug: &SsoSlug) -> Result<ConnRow> {
        store::conn_by_slug(self.core.db.exec(), slug.as_str())
            .await?
            .ok_or(Error::NotFound("SSO connection"))
    }

    /// The connection `slug` of protocol `kind` (else not found).
    async fn conn_of_kind(&self, slug: &SsoSlug, kind: SsoKind) -> Result<ConnRow> {
        let conn = self.conn_by_slug(slug).await?;
        if conn.kind != kind.as_str() {
            return Err(Error::NotFound("SSO connection"));
        }
        Ok(conn)
    }

    async fn conn_by_id(&self, id: &str) -> Result<ConnRow> {
        store::conn_by_id(self.core.db.exec(), id)
            .await?
            .ok_or(Error::NotFound("SSO connection"))
    }

    fn client_secret(&self, conn: &ConnRow) -> Result<String> {
        let sealed = conn
            .client_secret
            .as_deref()
            .ok_or_else(|| Error::Internal("connection has no client secret".into()))?;
        let plain = self
            .core
            .settings
            .secrets
            .open(&model::secret_purpose(&conn.id), sealed)?;
        String::from_utf8(plain).map_err(|_| Error::Internal("client secret is not UTF-8".into()))
    }
}
