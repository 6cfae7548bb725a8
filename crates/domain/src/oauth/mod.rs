//! The OAuth 2.1 authorization server for MCP clients (MCP authorization
//! 2026-07-28, usable by 2025-06-18 clients): employees' MCP clients get
//! tokens for the MCP servers of the catalog here, and every client that
//! asks lands in one inventory.
//!
//! Implements: authorization code grant with PKCE S256 only (OAuth 2.1
//! §4.1, RFC 7636), resource indicators (RFC 8707: `resource` required, an
//! enabled catalog server, the token's `aud`), `iss` on authorization
//! responses (RFC 9207), JWT access tokens (RFC 9068), refresh-token
//! rotation with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14),
//! revocation (RFC 7009), introspection for gateways (RFC 7662), dynamic
//! registration (RFC 7591; off by default), server metadata (RFC 8414,
//! RFC 9728 for the servers), `client_credentials` for agents, and the
//! jwt-bearer grant with an IdP's ID-JAG (enterprise-managed
//! authorization, [`id_jag`]).
//!
//! Invariants:
//! - Codes, refresh tokens, client secrets, the authorization request's
//!   browser binding and the person's session are stored only as SHA-256
//!   hashes.
//! - A code is used once; presenting it again revokes the grant it made
//!   (and every token of it). A refresh token is used once; presenting a
//!   rotated one revokes the grant.
//! - Tokens go only to active people of a SCIM directory, for enabled
//!   servers, through clients that are active; a person deactivated in SCIM
//!   gets no new token and their refresh tokens stop working at once.
//! - Signing in here never makes a console session.
//! - Errors before the client and redirect URI are trusted are shown as a
//!   page, never redirected (RFC 6749 §4.1.2.1).
//!
//! The HTTP side is `src/oauth/`.
//!
//! The area has the domain's target shape: this file is the service's
//! state, its construction and the helpers every part shares (the token
//! signing key, the client cache; no SQL text anywhere but [`store`]);
//! `metadata` the server metadata (RFC 8414, RFC 9728) and the servers'
//! scopes; `clients` creating, registering (RFC 7591) and resolving clients
//! (CIMD documents through [`cimd`]); `inventory` the Clients page (status,
//! list, policy, reaping, duplicate registrations); `authorize` the
//! authorization request, the person's session, consent and the person's
//! own view of it; `client_auth` client authentication at the token and
//! revocation endpoints (secrets, `private_key_jwt` through [`assertion`]);
//! `token` the token endpoint, revocation, introspection and purging;
//! [`id_jag`] the ID-JAG grant (its claim rules and the checks against
//! the trusting SSO connection, its directory and the current policy);
//! [`rotation`] refresh tokens that arrive together, rotated in one
//! transaction; [`limits`] the abuse limits; [`model`] the values, the
//! stored enums and the validation rules (`model/checks.rs`); [`store`]
//! (with `store/clients.rs`, `store/requests.rs` and `store/tokens.rs`)
//! every SQL statement.

pub mod assertion;
mod authorize;
pub mod cimd;
mod client_auth;
mod clients;
pub mod delegation;
pub mod id_jag;
mod inventory;
pub mod limits;
mod metadata;
pub mod model;
pub mod rotation;
pub mod store;
mod token;

pub use model::{AuthorizeError, AuthorizeParams, ConsentView, MyClient, Person, TokenParams};

use crate::error::{Error, Result};
use crate::signing::{KeyPurpose, SigningService};
use crate::Core;
use chrono::{DateTime, Utc};
use model::Client;
use portcullis_policy::signed::SigningKey;
use std::sync::Arc;

/// How long an authorization request may wait for sign-in and consent.
pub const REQUEST_TTL_MINUTES: i64 = 10;
/// How long an authorization code lives.
pub const CODE_TTL_SECONDS: i64 = 60;
/// How long a refresh token lives (each use rotates it).
pub const REFRESH_TTL_DAYS: i64 = 30;
/// How long a person stays signed in for MCP clients.
pub const PERSON_SESSION_HOURS: i64 = 8;
/// Dynamic registrations accepted per source address per hour.
pub const REGISTRATIONS_PER_IP_PER_HOUR: i64 = 20;
/// The longest "remove registrations unused for N days" setting.
pub const MAX_REAP_AFTER_DAYS: i64 = 3650;
/// Registrations reaped per housekeeping run at most (the rest next run).
pub const REAP_BATCH: i64 = 500;
/// Duplicate groups shown on the Clients page.
pub const DUPLICATE_GROUPS_SHOWN: i64 = 20;
/// How long the token signing key is kept in memory before re-reading.
const KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(60);

/// The token signing key and when it was read.
type KeyCache = Arc<tokio::sync::RwLock<Option<(std::time::Instant, Arc<SigningKey>)>>>;

/// The authorization server.
#[derive(Clone)]
pub struct OAuthService {
    core: Arc<Core>,
    signing: SigningService,
    key: KeyCache,
    /// Fetches client ID metadata documents (https only, small).
    guard: Arc<portcullis_discovery::Guard>,
    /// Abuse limits and their hit counters (this process).
    limits: Arc<limits::Limits>,
    /// Key sets fetched from `private_key_jwt` clients' JWKS URLs.
    jwks_cache: JwksCache,
    /// When this process last wrote a grant's `last_used_at` (and its
    /// client's).
    touched: crate::ratelimit::TouchLog,
    /// Batches refreshes into shared transactions.
    rotator: rotation::Rotator,
    /// Clients as the token endpoint last read them, kept
    /// [`CLIENT_CACHE_SECS`] (dropped at once when this process changes
    /// one). Safe to be that stale elsewhere: blocking or removing a client
    /// also revokes its grants, which every token request reads fresh.
    clients: ClientCache,
    /// What the ID-JAG grant reads beyond this area (the trusting SSO
    /// connection and its people, the current policy); set once when the
    /// services are built.
    enterprise: Arc<std::sync::OnceLock<Enterprise>>,
}

/// The services the ID-JAG grant asks (see [`id_jag`]).
pub(crate) struct Enterprise {
    pub sso: crate::sso::SsoService,
    pub access: crate::access::AccessService,
}

/// Clients by id with when they were read.
type ClientCache =
    Arc<std::sync::Mutex<std::collections::HashMap<String, (DateTime<Utc>, Client)>>>;

/// How long the token endpoint reuses a client it read.
const CLIENT_CACHE_SECS: i64 = 5;

/// How stale a `last_used_at` may get (the Clients page shows minutes).
const TOUCH_EVERY_SECS: i64 = 60;

/// Fetched client key sets by client id, with when they were fetched.
type JwksCache = Arc<
    std::sync::Mutex<
        std::collections::HashMap<String, (std::time::Instant, Arc<jsonwebtoken::jwk::JwkSet>)>,
    >,
>;
/// How long a fetched client key set is used before it is fetched again.
const JWKS_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// A key set is fetched again for an unknown `kid` at most this often.
const JWKS_REFETCH: std::time::Duration = std::time::Duration::from_secs(30);

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn now_unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// `uri` with `params` added to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{q}")
}

impl OAuthService {
    pub(crate) fn new(
        core: Arc<Core>,
        signing: SigningService,
        guard: Arc<portcullis_discovery::Guard>,
    ) -> Self {
        let limits = Arc::new(limits::Limits::new(
            core.settings.oauth_failed_tokens_per_ip,
            core.settings.oauth_client_tokens_per_minute,
        ));
        Self {
            core,
            signing,
            key: Arc::default(),
            guard,
            limits,
            jwks_cache: Arc::default(),
            touched: crate::ratelimit::TouchLog::every(chrono::Duration::seconds(TOUCH_EVERY_SECS)),
            rotator: rotation::Rotator::default(),
            enterprise: Arc::default(),
            clients: Arc::default(),
        }
    }

    /// Gives the ID-JAG grant the services it reads (once, when the
    /// services are built; a second call changes nothing).
    pub(crate) fn wire_enterprise(&self, enterprise: Enterprise) {
        let _ = self.enterprise.set(enterprise);
    }

    /// The abuse limits (hit counts for `/metrics` and the Clients page).
    pub fn limits(&self) -> &limits::Limits {
        &self.limits
    }

    /// What the batched refresh-token rotation did (for `/metrics`).
    pub fn rotation_stats(&self) -> rotation::RotationStats {
        self.rotator.stats()
    }

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// The console's issuer: its public URL exactly (no trailing slash).
    pub fn issuer(public_url: &str) -> String {
        public_url.trim_end_matches('/').to_owned()
    }

    /// The token signing key, made on first use, kept in memory a minute.
    pub async fn token_key(&self) -> Result<Arc<SigningKey>> {
        if let Some((at, k)) = self.key.read().await.as_ref() {
            if at.elapsed() < KEY_CACHE {
                return Ok(k.clone());
            }
        }
        let k = Arc::new(self.signing.active_for(KeyPurpose::Token).await?);
        *self.key.write().await = Some((std::time::Instant::now(), k.clone()));
        Ok(k)
    }

    /// Client `id` for the token endpoint (see [`OAuthService::clients`]).
    async fn cached_client(&self, id: &str) -> Result<Option<Client>> {
        let now = self.now();
        if let Some((at, c)) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            if (now - *at).num_seconds() < CLIENT_CACHE_SECS {
                return Ok(Some(c.clone()));
            }
        }
        let found = store::find_client(self.core.db.exec(), id).await?;
        let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= limits::MAX_KEYS {
            cache.clear();
        }
        match &found {
            Some(c) => {
                cache.insert(id.to_owned(), (now, c.clone()));
            }
            None => {
                cache.remove(id);
            }
        }
        Ok(found)
    }

    /// Drops clients this process changed from the token endpoint's cache.
    /// Drops the fetched key set of client `id` (its keys or their URL
    /// changed).
    pub(crate) fn forget_keys(&self, id: &str) {
        self.jwks_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub(crate) fn forget_clients<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            cache.remove(id);
        }
    }
}
