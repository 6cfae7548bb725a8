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
//! registration (RFC 7591; off by default) and server metadata (RFC 8414,
//! RFC 9728 for the servers).
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
//! The HTTP side is `src/oauth/`; SQL is in [`store`]; typed values and
//! validation in [`model`]; refresh tokens that arrive together rotate in
//! one transaction ([`rotation`]).

pub mod assertion;
pub mod cimd;
pub mod limits;
pub mod model;
pub mod rotation;
pub mod store;

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::error::{Error, Result};
use crate::signing::{KeyPurpose, SigningService};
use crate::Core;
use chrono::{DateTime, Duration, Utc};
use model::*;
use portcullis_policy::signed::{SigningKey, Verifier};
use portcullis_policy::token::{self, AccessClaims, ACCESS_TOKEN_TYPE};
use serde_json::{json, Value};
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

/// The outcome of a refused authorization request.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or the redirect URI cannot be trusted: show this on a
    /// page, never redirect.
    Page(OAuthError),
    /// Send the browser back to the client with the error.
    Redirect(Redirect),
    Domain(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        AuthorizeError::Domain(e)
    }
}

/// The parameters of `/oauth/authorize` (RFC 6749 §4.1.1, RFC 7636 §4.3,
/// RFC 8707 §2).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub response_type: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
}

/// The form of `/oauth/token` (RFC 6749 §4.1.3, §6).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct TokenParams {
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub code_verifier: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    #[serde(default)]
    pub client_assertion: Option<String>,
}

/// A person signed in for MCP clients.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// What the consent screen shows.
#[derive(Clone, Debug)]
pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub client_kind: ClientKind,
    pub redirect_uri: String,
    pub redirect_host: String,
    pub localhost_only: bool,
    pub server_name: String,
    pub resource: String,
    /// Every scope asked for.
    pub scopes: Vec<String>,
    /// The scopes not consented to before (what the screen asks for).
    pub new_scopes: Vec<String>,
    /// True when the person already agreed to everything asked: no screen.
    pub already_consented: bool,
}

/// A client a person allowed, for one server (the My access page).
#[derive(Clone, Debug)]
pub struct MyClient {
    pub client_id: String,
    pub client_name: String,
    pub client_kind: ClientKind,
    pub server_name: String,
    pub scopes: Vec<String>,
    pub consented_at: DateTime<Utc>,
    /// Grants (refresh-token families) still live.
    pub live_grants: i64,
}

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
    touched: TouchLog,
    /// Batches refreshes into shared transactions.
    rotator: rotation::Rotator,
    /// Clients as the token endpoint last read them, kept
    /// [`CLIENT_CACHE_SECS`] (dropped at once when this process changes
    /// one). Safe to be that stale elsewhere: blocking or removing a client
    /// also revokes its grants, which every token request reads fresh.
    clients: ClientCache,
}

/// When this process last wrote each grant's `last_used_at` (and its
/// client's): written at most once every [`TOUCH_EVERY_SECS`] per grant, so
/// a busy refresh path saves two UPDATEs per token.
#[derive(Clone, Default)]
pub(crate) struct TouchLog(Arc<std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>>);

impl TouchLog {
    /// Whether `grant`'s `last_used_at` should be written now (not written
    /// by this process within [`TOUCH_EVERY_SECS`]); notes it if so.
    fn due(&self, grant: &str, now: DateTime<Utc>) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(grant)
            .is_some_and(|t| (now - *t).num_seconds() < TOUCH_EVERY_SECS)
        {
            return false;
        }
        if map.len() >= limits::MAX_KEYS {
            map.retain(|_, t| (now - *t).num_seconds() < TOUCH_EVERY_SECS);
        }
        map.insert(grant.to_owned(), now);
        true
    }
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
            touched: TouchLog::default(),
            rotator: rotation::Rotator::default(),
            clients: Arc::default(),
        }
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

    // ---- metadata --------------------------------------------------------

    /// RFC 8414 authorization server metadata (also served as OpenID
    /// discovery). `registration_endpoint` only while registration is on.
    pub async fn metadata(&self, public_url: &str) -> Result<Value> {
        let iss = Self::issuer(public_url);
        let policy = store::policy(self.core.db.exec()).await?;
        let mut scopes = std::collections::BTreeSet::new();
        for s in store::all_server_scopes(self.core.db.exec()).await? {
            let list: Vec<String> = serde_json::from_str(&s).map_err(internal)?;
            scopes.extend(list);
        }
        scopes.insert(OFFLINE_ACCESS.to_owned());
        let mut doc = json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/oauth/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "revocation_endpoint": format!("{iss}/oauth/revoke"),
            "introspection_endpoint": format!("{iss}/oauth/introspect"),
            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            "introspection_endpoint_auth_methods_supported": ["bearer"],
            "scopes_supported": scopes.into_iter().collect::<Vec<_>>(),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
            "resource_indicators_supported": true,
            "service_documentation": format!("{iss}/docs/oauth"),
        });
        if policy.registration_enabled {
            doc["registration_endpoint"] = json!(format!("{iss}/oauth/register"));
        }
        Ok(doc)
    }

    /// RFC 9728 protected-resource metadata of the catalog server `slug`.
    pub async fn resource_metadata(&self, slug: &str, public_url: &str) -> Result<Value> {
        let (_, name, resource, scopes, enabled) =
            store::find_server_by_slug(self.core.db.exec(), slug)
                .await?
                .ok_or(Error::NotFound("MCP server"))?;
        if !enabled {
            return Err(Error::NotFound("MCP server"));
        }
        let scopes: Vec<String> = serde_json::from_str(&scopes).map_err(internal)?;
        Ok(json!({
            "resource": resource,
            "authorization_servers": [Self::issuer(public_url)],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": name,
            "resource_signing_alg_values_supported": ["EdDSA"],
        }))
    }

    /// A catalog server's scopes and where its protected-resource metadata
    /// is served. **Permission:** `ConsoleRead`.
    pub async fn server_oauth(
        &self,
        actor: &Actor,
        server_id: &str,
        public_url: &str,
    ) -> Result<portcullis_types::ServerOAuth> {
        actor.require(Permission::ConsoleRead)?;
        let (slug, _, scopes) = store::find_server_scopes(self.core.db.exec(), server_id)
            .await?
            .ok_or(Error::NotFound("server"))?;
        let iss = Self::issuer(public_url);
        Ok(portcullis_types::ServerOAuth {
            scopes: serde_json::from_str(&scopes).map_err(internal)?,
            metadata_url: format!("{iss}/oauth/resources/{slug}"),
            issuer: iss,
        })
    }

    /// Sets the scopes a server declares (space- or comma-separated; clients
    /// may ask for these and `offline_access`). Audited as
    /// `catalog.server.scopes_updated`. **Permission:** `CatalogManage`.
    pub async fn set_server_scopes(
        &self,
        actor: &Actor,
        server_id: &str,
        scopes: &str,
    ) -> Result<Vec<String>> {
        actor.require(Permission::CatalogManage)?;
        let parsed =
            Scopes::parse(&scopes.replace(',', " ")).map_err(|m| Error::invalid("scopes", m))?;
        if parsed.contains(OFFLINE_ACCESS) {
            return Err(Error::invalid(
                "scopes",
                "offline_access is always available; do not list it",
            ));
        }
        let (_, name, old) = store::find_server_scopes(self.core.db.exec(), server_id)
            .await?
            .ok_or(Error::NotFound("server"))?;
        let list: Vec<String> = parsed.0.into_iter().collect();
        let json = serde_json::to_string(&list).map_err(internal)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::set_server_scopes(&mut tx, server_id, &json, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("catalog.server.scopes_updated")
                .target(Target::new("mcp_server", server_id, &name))
                .details(json!({ "from": serde_json::from_str::<Value>(&old).unwrap_or(Value::Null), "to": list })),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }

    // ---- clients -------------------------------------------------------

    fn custom_schemes(policy: &store::PolicyRow) -> Result<Vec<String>> {
        serde_json::from_str(&policy.custom_schemes).map_err(internal)
    }

    fn check_redirects(uris: &[String], schemes: &[String]) -> Result<()> {
        if uris.is_empty() {
            return Err(Error::invalid(
                "redirect_uris",
                "at least one redirect URI is needed",
            ));
        }
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(Error::invalid("redirect_uris", "at most 10 redirect URIs"));
        }
        let mut errors = Vec::new();
        for (i, u) in uris.iter().enumerate() {
            if let Err(m) = check_redirect_uri(u, schemes) {
                errors.push(portcullis_types::FieldError {
                    field: format!("redirect_uris[{i}]"),
                    message: m,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// Creates a pre-registered client (public, or confidential with a
    /// secret shown once). Audited as `oauth.client.created`.
    /// **Permission:** `ClientsManage`.
    pub async fn create_client(
        &self,
        actor: &Actor,
        input: &CreateClient,
    ) -> Result<CreatedClient> {
        actor.require(Permission::ClientsManage)?;
        let name = clean_text(&input.name, 100);
        if name.is_empty() {
            return Err(Error::invalid("name", "a name is needed"));
        }
        let policy = store::policy(self.core.db.exec()).await?;
        // Admins may use any app scheme they type; the allowlist is for
        // self-registered clients.
        let schemes: Vec<String> = input
            .redirect_uris
            .iter()
            .filter_map(|u| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase()))
            .filter(|s| {
                s != "http"
                    && s != "https"
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            })
            .chain(Self::custom_schemes(&policy)?)
            .collect();
        Self::check_redirects(&input.redirect_uris, &schemes)?;
        let (jwks, jwks_uri) = match &input.keys {
            None => (None, None),
            Some(_) if input.confidential => {
                return Err(Error::invalid(
                    "keys",
                    "a client authenticates with a secret or with its keys, not both",
                ))
            }
            Some(ClientKeys::Jwks(text)) => {
                assertion::parse_jwks(text).map_err(|m| Error::invalid("jwks", m))?;
                (Some(text.trim().to_owned()), None)
            }
            Some(ClientKeys::JwksUri(u)) => {
                let u = u.trim();
                match url::Url::parse(u) {
                    Ok(p) if p.scheme() == "https" && p.host_str().is_some() && u.len() <= 500 => {}
                    _ => return Err(Error::invalid(
                        "jwks_uri",
                        "an https URL (at most 500 characters) serving the client's public keys",
                    )),
                }
                (None, Some(u.to_owned()))
            }
        };
        let id = new_id("cli");
        let secret = input.confidential.then(new_secret);
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::insert_client(
            &mut tx,
            &store::NewClient {
                id: &id,
                kind: ClientKind::Preregistered,
                name: &name,
                client_uri: None,
                software_id: None,
                software_version: None,
                redirect_uris: &input.redirect_uris,
                auth_method: if secret.is_some() {
                    AuthMethod::ClientSecretBasic
                } else if input.keys.is_some() {
                    AuthMethod::PrivateKeyJwt
                } else {
                    AuthMethod::None
                },
                secret_hash: secret.as_deref().map(hash_secret).as_deref(),
                status: ClientStatus::Active,
                registered_ip: None,
                created_by: &actor.display,
                jwks: jwks.as_deref(),
                jwks_uri: jwks_uri.as_deref(),
            },
            now,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("oauth.client.created")
                .target(Target::new("oauth_client", &id, &name))
                .details(json!({
                    "kind": "preregistered",
                    "confidential": input.confidential || input.keys.is_some(),
                    "auth": if input.confidential { "client_secret" } else if input.keys.is_some() { "private_key_jwt" } else { "none" },
                    "jwks_uri": jwks_uri,
                    "redirect_uris": input.redirect_uris,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedClient {
            client_id: id,
            client_secret: secret,
        })
    }

    /// Dynamic client registration (RFC 7591), when the policy allows it.
    /// The metadata is self-asserted: the name is shown as unverified.
    pub async fn register(
        &self,
        req: &RegistrationRequest,
        meta: RequestMeta,
    ) -> Result<Value, Failure> {
        let policy = store::policy(self.core.db.exec()).await?;
        if !policy.registration_enabled {
            return fail(
                ErrorCode::AccessDenied,
                "dynamic client registration is turned off; use a client ID metadata document",
            );
        }
        let now = self.now();
        if let Some(ip) = &meta.source_ip {
            let n =
                store::count_registrations_from(self.core.db.exec(), ip, now - Duration::hours(1))
                    .await?;
            if n >= REGISTRATIONS_PER_IP_PER_HOUR {
                self.limits.refused(limits::Limit::Registration);
                return fail(
                    ErrorCode::SlowDown,
                    "too many registrations from this address; try again later",
                );
            }
        }
        let schemes = Self::custom_schemes(&policy)?;
        if req.redirect_uris.is_empty() || req.redirect_uris.len() > MAX_REDIRECT_URIS {
            return fail(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris: one to ten redirect URIs are needed",
            );
        }
        for (i, u) in req.redirect_uris.iter().enumerate() {
            if let Err(m) = check_redirect_uri(u, &schemes) {
                return fail(
                    ErrorCode::InvalidRedirectUri,
                    format!("redirect_uris[{i}]: {m}"),
                );
            }
        }
        let method = match req.token_endpoint_auth_method.as_deref() {
            None | Some("none") => AuthMethod::None,
            Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some(other) => {
                return fail(
                    ErrorCode::InvalidClientMetadata,
                    format!("token_endpoint_auth_method: {other:?} is not supported here"),
                )
            }
        };
        if let Some(g) = &req.grant_types {
            if let Some(bad) = g
                .iter()
                .find(|g| *g != "authorization_code" && *g != "refresh_token")
            {
                return fail(
                    ErrorCode::InvalidClientMetadata,
                    format!("grant_types: {bad:?} is not supported"),
                );
            }
        }
        if let Some(r) = &req.response_types {
            if r.iter().any(|r| r != "code") {
                return fail(
                    ErrorCode::InvalidClientMetadata,
                    "response_types: only \"code\" is supported",
                );
            }
        }
        let name = clean_text(req.client_name.as_deref().unwrap_or(""), 100);
        let name = if name.is_empty() {
            "Unnamed client".to_owned()
        } else {
            name
        };
        let client_uri = req
            .client_uri
            .as_deref()
            .filter(|u| u.starts_with("https://") && u.len() <= 500)
            .map(str::to_owned);
        let software_id = req.software_id.as_deref().map(|s| clean_text(s, 200));
        let software_version = req.software_version.as_deref().map(|s| clean_text(s, 100));
        let id = new_id("cli");
        let secret = (method != AuthMethod::None).then(new_secret);
        let status = if policy.approval_required {
            ClientStatus::Pending
        } else {
            ClientStatus::Active
        };
        let mut tx = self.core.db.begin().await?;
        store::insert_client(
            &mut tx,
            &store::NewClient {
                id: &id,
                kind: ClientKind::Dcr,
                name: &name,
                client_uri: client_uri.as_deref(),
                software_id: software_id.as_deref(),
                software_version: software_version.as_deref(),
                redirect_uris: &req.redirect_uris,
                auth_method: method,
                secret_hash: secret.as_deref().map(hash_secret).as_deref(),
                status,
                registered_ip: meta.source_ip.as_deref(),
                created_by: "dynamic registration",
                jwks: None,
                jwks_uri: None,
            },
            now,
        )
        .await?;
        store::set_dup_key(
            &mut tx,
            &id,
            &duplicate_key(&name, &req.redirect_uris, software_id.as_deref()),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            &Actor::anonymous(meta),
            NewEvent::success("oauth.client.registered")
                .target(Target::new("oauth_client", &id, &name))
                .details(json!({
                    "kind": "dcr",
                    "status": status.as_str(),
                    "redirect_uris": req.redirect_uris,
                    "software_id": software_id,
                })),
        )
        .await?;
        tx.commit().await?;
        let mut out = json!({
            "client_id": id,
            "client_id_issued_at": now_unix(now),
            "client_name": name,
            "redirect_uris": req.redirect_uris,
            "token_endpoint_auth_method": method.as_str(),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        if let Some(s) = secret {
            out["client_secret"] = json!(s);
            out["client_secret_expires_at"] = json!(0);
        }
        if let Some(s) = software_id {
            out["software_id"] = json!(s);
        }
        // Echoed as a clean space-separated list (some SDKs send " offline_access").
        let scope = req
            .scope
            .as_deref()
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty());
        if let Some(s) = scope {
            out["scope"] = json!(s);
        }
        Ok(out)
    }

    /// Sets a client's status (approve, block, unblock). Blocking revokes every
    /// grant of the client and lists it in the policy bundle's
    /// `blocked_clients` (unblocking takes it off).
    /// Audited. **Permission:** `ClientsManage`.
    pub async fn set_client_status(
        &self,
        actor: &Actor,
        client_id: &str,
        status: ClientStatus,
        reason: Option<&str>,
    ) -> Result<u64> {
        actor.require(Permission::ClientsManage)?;
        let client = store::find_client(self.core.db.exec(), client_id)
            .await?
            .ok_or(Error::NotFound("OAuth client"))?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::set_client_status(&mut tx, client_id, status, reason, now).await?;
        let revoked = if matches!(status, ClientStatus::Blocked | ClientStatus::Reaped) {
            store::revoke_client_grants(&mut tx, client_id, status.as_str(), now).await?
        } else {
            0
        };
        // Blocked clients travel in the policy bundle, so gateways refuse
        // the access tokens already out there (they live a few minutes).
        let mut change = crate::revisions::Change::new(
            actor,
            "clients",
            format!("Client {}: {}", status.as_str(), client.name),
            now,
        );
        crate::revisions::sync_client(&mut tx, &mut change, client_id).await?;
        let action = match status {
            ClientStatus::Active if client.status == ClientStatus::Pending => {
                "oauth.client.approved"
            }
            ClientStatus::Active => "oauth.client.unblocked",
            ClientStatus::Pending => "oauth.client.pending",
            ClientStatus::Blocked => "oauth.client.blocked",
            ClientStatus::Reaped => "oauth.client.reaped",
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("oauth_client", client_id, &client.name))
                .details(json!({ "from": client.status.as_str(), "to": status.as_str(), "reason": reason, "grants_revoked": revoked })),
        )
        .await?;
        tx.commit().await?;
        self.forget_clients([client_id]);
        Ok(revoked)
    }

    /// The Clients page: clients (waiting ones first), filtered by status
    /// and a search on name or id, with the client policy.
    /// **Permission:** `ConsoleRead`.
    pub async fn list_clients(
        &self,
        actor: &Actor,
        q: &str,
        status: &str,
        offset: i64,
        limit: i64,
    ) -> Result<portcullis_types::ClientsView> {
        actor.require(Permission::ConsoleRead)?;
        let status = match status {
            "" => "",
            s => s
                .parse::<ClientStatus>()
                .map_err(|_| Error::invalid("status", "one of active, pending, blocked, reaped"))?
                .as_str(),
        };
        let pattern = format!("%{}%", crate::audit::like_escape(&q.trim().to_lowercase()));
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        let rows =
            store::list_clients(self.core.db.exec(), status, &pattern, offset, limit).await?;
        let (total, pending) = store::count_clients(self.core.db.exec(), status, &pattern).await?;
        let policy = store::policy(self.core.db.exec()).await?;
        let mut clients = Vec::with_capacity(rows.len());
        let redirect_hosts = |uris: &[String]| -> Vec<String> {
            let mut hosts: Vec<String> = uris
                .iter()
                .filter_map(|u| url::Url::parse(u).ok())
                .map(|u| match u.host_str() {
                    Some(h) if u.scheme() == "http" || u.scheme() == "https" => h.to_owned(),
                    _ => format!("{}://", u.scheme()),
                })
                .collect();
            hosts.dedup();
            hosts
        };
        for r in rows {
            let kind: ClientKind = r.kind.parse().map_err(Error::Internal)?;
            let status: ClientStatus = r.status.parse().map_err(Error::Internal)?;
            let method: AuthMethod = r.auth_method.parse().map_err(Error::Internal)?;
            let uris: Vec<String> = serde_json::from_str(&r.redirect_uris).map_err(internal)?;
            let hosts = redirect_hosts(&uris);
            let limit_hits = self.limits.client_hits(&r.id);
            clients.push(portcullis_types::ClientSummary {
                publisher_domain: (kind == ClientKind::Cimd)
                    .then(|| cimd::check_url(&r.id).ok())
                    .flatten(),
                kind: kind.as_str().to_owned(),
                status: status.as_str().to_owned(),
                confidential: method != AuthMethod::None,
                id: r.id,
                name: r.name,
                status_reason: r.status_reason,
                redirect_hosts: hosts,
                software_id: r.software_id,
                created_at: r.created_at,
                created_by: r.created_by,
                last_used_at: r.last_used_at,
                consents: r.consents,
                live_grants: r.live_grants,
                limit_hits,
            });
        }
        let duplicates = store::duplicate_groups(self.core.db.exec(), DUPLICATE_GROUPS_SHOWN)
            .await?
            .into_iter()
            .map(|g| {
                let uris: Vec<String> = serde_json::from_str(&g.redirect_uris).map_err(internal)?;
                Ok(portcullis_types::DuplicateGroup {
                    key: g.dup_key,
                    name: g.name,
                    software_id: g.software_id,
                    redirect_hosts: redirect_hosts(&uris),
                    clients: g.clients,
                    live_grants: g.live_grants,
                    last_used_at: g.last_used_at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(portcullis_types::ClientsView {
            clients,
            total,
            pending,
            policy: portcullis_types::ClientPolicy {
                registration_enabled: policy.registration_enabled,
                approval_required: policy.approval_required,
                reap_after_days: policy.reap_after_days,
            },
            duplicates,
            limit_hits: self
                .limits
                .hits()
                .into_iter()
                .map(|(l, hits)| portcullis_types::LimitHits {
                    limit: l.as_str().to_owned(),
                    hits,
                })
                .collect(),
        })
    }

    /// Turns dynamic registration and "new clients wait for approval" on or
    /// off and sets after how many unused days registrations are reaped
    /// (`None`: unchanged; 0: never). Audited. **Permission:** `ClientsManage`.
    pub async fn set_policy(
        &self,
        actor: &Actor,
        registration_enabled: bool,
        approval_required: bool,
        reap_after_days: Option<i64>,
    ) -> Result<()> {
        actor.require(Permission::ClientsManage)?;
        let old = store::policy(self.core.db.exec()).await?;
        let reap_after_days = reap_after_days.unwrap_or(old.reap_after_days);
        if !(0..=MAX_REAP_AFTER_DAYS).contains(&reap_after_days) {
            return Err(Error::invalid(
                "reap_after_days",
                format!("a number of days from 1 to {MAX_REAP_AFTER_DAYS}, or 0 to never remove unused registrations"),
            ));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::set_policy(
            &mut tx,
            registration_enabled,
            approval_required,
            reap_after_days,
            now,
            &actor.display,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("oauth.policy.updated").details(json!({
                "registration_enabled": registration_enabled,
                "approval_required": approval_required,
                "reap_after_days": reap_after_days,
                "before": {
                    "registration_enabled": old.registration_enabled,
                    "approval_required": old.approval_required,
                    "reap_after_days": old.reap_after_days,
                },
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reaps registered (RFC 7591) clients unused for the policy's
    /// `reap_after_days` (never used: registered that long ago): their
    /// grants end, one audit event each, and their next request gets
    /// `invalid_client` saying to register again. Pre-registered and CIMD
    /// clients are never reaped (an admin made the one; the other comes
    /// back by its URL). At most [`REAP_BATCH`] per call. The housekeeping
    /// job runs it every ten minutes.
    pub async fn reap_unused(&self) -> Result<u64> {
        let policy = store::policy(self.core.db.exec()).await?;
        if policy.reap_after_days <= 0 {
            return Ok(0);
        }
        let now = self.now();
        let cutoff = now - Duration::days(policy.reap_after_days);
        let due = store::reapable_clients(self.core.db.exec(), cutoff, REAP_BATCH).await?;
        let actor = Actor::system("client reaping");
        let mut tx = self.core.db.begin().await?;
        for c in &due {
            store::set_client_status(
                &mut tx,
                &c.id,
                ClientStatus::Reaped,
                Some("unused registration removed automatically"),
                now,
            )
            .await?;
            let revoked =
                store::revoke_client_grants(&mut tx, &c.id, ClientStatus::Reaped.as_str(), now)
                    .await?;
            audit::append(
                &mut tx,
                now,
                &actor,
                NewEvent::success("oauth.client.reaped")
                    .target(Target::new("oauth_client", &c.id, &c.name))
                    .details(json!({
                        "unused_days": policy.reap_after_days,
                        "last_used_at": c.last_used_at,
                        "grants_revoked": revoked,
                    })),
            )
            .await?;
        }
        tx.commit().await?;
        self.forget_clients(due.iter().map(|c| c.id.as_str()));
        Ok(due.len() as u64)
    }

    /// Revokes every live registration of one duplicate group (the Clients
    /// page's "Revoke all"): each is removed like a reaped client (its
    /// grants end; its next request is told to register again). One audit
    /// event naming them all. **Permission:** `ClientsManage`.
    pub async fn revoke_duplicates(&self, actor: &Actor, group: &str) -> Result<u64> {
        actor.require(Permission::ClientsManage)?;
        let members = store::group_members(self.core.db.exec(), group).await?;
        if members.len() < 2 {
            return Err(Error::NotFound("group of duplicate registrations"));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let mut revoked = 0;
        for id in &members {
            store::set_client_status(
                &mut tx,
                id,
                ClientStatus::Reaped,
                Some("duplicate registration revoked by an admin"),
                now,
            )
            .await?;
            revoked += store::revoke_client_grants(&mut tx, id, ClientStatus::Reaped.as_str(), now)
                .await?;
        }
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("oauth.client.duplicates_revoked").details(json!({
                "group": group,
                "clients": members,
                "grants_revoked": revoked,
            })),
        )
        .await?;
        tx.commit().await?;
        self.forget_clients(members.iter().map(String::as_str));
        Ok(members.len() as u64)
    }

    // ---- the person's own view -------------------------------------------

    /// The clients `person_id` allowed, per server, with their live grants
    /// (the person's My access page; the caller has checked the person's
    /// session).
    pub async fn my_clients(&self, person_id: &str) -> Result<Vec<MyClient>> {
        store::person_consents(self.core.db.exec(), person_id)
            .await?
            .into_iter()
            .map(|r| {
                Ok(MyClient {
                    client_kind: r.kind.parse().map_err(Error::Internal)?,
                    client_id: r.client_id,
                    client_name: r.client_name,
                    server_name: r.server_name,
                    scopes: r.scope.split_whitespace().map(str::to_owned).collect(),
                    consented_at: r.updated_at,
                    live_grants: r.live_grants,
                })
            })
            .collect()
    }

    /// The person withdraws everything they allowed `client_id`: the
    /// consents go (the next authorization asks again) and its grants end
    /// at once. Audited with the person as actor. Returns the grants ended
    /// and the client's name.
    pub async fn withdraw_consent(
        &self,
        person: &Person,
        client_id: &str,
        meta: RequestMeta,
    ) -> Result<(u64, String)> {
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let (consents, grants) =
            store::withdraw_consents(&mut tx, &person.id, client_id, now).await?;
        if consents == 0 && grants == 0 {
            return Err(Error::NotFound("consent to this client"));
        }
        let name = store::find_client(tx.exec(), client_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        audit::append(
            &mut tx,
            now,
            &Actor::person(&person.id, &person.email, meta),
            NewEvent::success("oauth.consent.withdrawn")
                .target(Target::new("oauth_client", client_id, &name))
                .details(json!({ "consents": consents, "grants_revoked": grants })),
        )
        .await?;
        tx.commit().await?;
        Ok((grants, name))
    }

    // ---- authorization ---------------------------------------------------

    /// The client `id`: one registered here, or — for an https URL — the
    /// client its metadata document describes (fetched when not cached or
    /// stale; see [`cimd`]). The error is for a page.
    pub async fn resolve_client(&self, id: &str) -> Result<Result<Client, OAuthError>> {
        let unknown = || {
            OAuthError::new(
                ErrorCode::InvalidClient,
                "this client is not known to Portcullis",
            )
        };
        if !cimd::is_cimd(id) {
            return Ok(store::find_client(self.core.db.exec(), id)
                .await?
                .ok_or_else(unknown));
        }
        let domain = match cimd::check_url(id) {
            Ok(d) => d,
            Err(m) => return Ok(Err(OAuthError::new(ErrorCode::InvalidClient, m))),
        };
        let policy = store::policy(self.core.db.exec()).await?;
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).map_err(internal);
        if !cimd::domain_allowed(
            &domain,
            &list(&policy.cimd_allowed_domains)?,
            &list(&policy.cimd_blocked_domains)?,
        ) {
            return Ok(Err(OAuthError::new(
                ErrorCode::AccessDenied,
                format!("your company does not allow apps published by {domain}"),
            )));
        }
        let now = self.now();
        let stored = store::find_cimd(self.core.db.exec(), id).await?;
        if stored
            .as_ref()
            .and_then(|s| s.fetch_expires_at)
            .is_some_and(|t| t > now)
        {
            return Ok(store::find_client(self.core.db.exec(), id)
                .await?
                .ok_or_else(unknown));
        }
        let fetched = match self.guard.get(id).await.and_then(|f| f.error_for_status()) {
            Ok(f) => f,
            Err(e) => {
                return Ok(Err(OAuthError::new(
                    ErrorCode::InvalidClient,
                    format!("the client's metadata document could not be fetched: {e}"),
                )))
            }
        };
        let doc = match cimd::parse_document(id, &fetched.body, &Self::custom_schemes(&policy)?) {
            Ok(d) => d,
            Err(m) => return Ok(Err(OAuthError::new(ErrorCode::InvalidClient, m))),
        };
        let ttl = cimd::cache_seconds(
            fetched
                .headers
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        );
        let expires = now + Duration::seconds(ttl);
        let mut tx = self.core.db.begin().await?;
        let system = Actor::system("authorization server");
        match stored {
            None => {
                let status = if policy.approval_required {
                    ClientStatus::Pending
                } else {
                    ClientStatus::Active
                };
                store::insert_client(
                    &mut tx,
                    &store::NewClient {
                        id,
                        kind: ClientKind::Cimd,
                        name: &doc.name,
                        client_uri: doc.client_uri.as_deref(),
                        software_id: None,
                        software_version: None,
                        redirect_uris: &doc.redirect_uris,
                        auth_method: AuthMethod::None,
                        secret_hash: None,
                        status,
                        registered_ip: None,
                        created_by: "client ID metadata document",
                        jwks: None,
                        jwks_uri: None,
                    },
                    now,
                )
                .await?;
                store::set_fetched(&mut tx, id, now, expires).await?;
                audit::append(
                    &mut tx,
                    now,
                    &system,
                    NewEvent::success("oauth.client.registered")
                        .target(Target::new("oauth_client", id, &doc.name))
                        .details(json!({
                            "kind": "cimd",
                            "status": status.as_str(),
                            "publisher_domain": domain,
                            "redirect_uris": doc.redirect_uris,
                        })),
                )
                .await?;
            }
            Some(old) => {
                let old_uris: Vec<String> =
                    serde_json::from_str(&old.redirect_uris).map_err(internal)?;
                let changed = old_uris != doc.redirect_uris;
                let current = store::find_client(tx.exec(), id).await?.map(|c| c.status);
                // New redirect URIs are a new client as far as review goes.
                let review =
                    (changed && policy.approval_required && current == Some(ClientStatus::Active))
                        .then_some(ClientStatus::Pending);
                store::update_cimd(&mut tx, id, &doc, review, now, expires).await?;
                if changed {
                    audit::append(
                        &mut tx,
                        now,
                        &system,
                        NewEvent::success("oauth.client.metadata_changed")
                            .target(Target::new("oauth_client", id, &doc.name))
                            .details(json!({
                                "from": old_uris,
                                "to": doc.redirect_uris,
                                "re_review": review.is_some(),
                            })),
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        self.forget_clients([id]);
        Ok(store::find_client(self.core.db.exec(), id)
            .await?
            .ok_or_else(unknown))
    }

    /// Checks an authorization request and stores it, bound to `browser`.
    /// Returns the request key (for the sign-in and consent steps).
    pub async fn begin_authorization(
        &self,
        p: &AuthorizeParams,
        browser: &str,
        public_url: &str,
    ) -> Result<(String, PendingAuthorization), AuthorizeError> {
        let page = |code, d: &str| Err(AuthorizeError::Page(OAuthError::new(code, d)));
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return page(
                ErrorCode::InvalidRequest,
                "the request names no client (client_id is missing)",
            );
        };
        let client = match self.resolve_client(client_id).await? {
            Ok(c) => c,
            Err(e) => return Err(AuthorizeError::Page(e)),
        };
        if client.status == ClientStatus::Reaped {
            return page(
                ErrorCode::InvalidClient,
                "this client's registration was removed (unused for a long time, or revoked as a duplicate); it must register again",
            );
        }
        let Some(redirect_uri) = p.redirect_uri.as_deref().filter(|r| !r.is_empty()) else {
            return page(
                ErrorCode::InvalidRequest,
                "the request names no redirect_uri",
            );
        };
        if !redirect_matches(&client.redirect_uris, redirect_uri) {
            return page(
                ErrorCode::InvalidRequest,
                "the redirect_uri is not one this client registered; Portcullis will not send you there",
            );
        }
        // From here on errors go back to the client.
        let iss = Self::issuer(public_url);
        let state = p.state.as_deref();
        let back = |code: ErrorCode, d: &str| {
            let mut params = vec![("error", code.as_str()), ("error_description", d)];
            if let Some(s) = state {
                params.push(("state", s));
            }
            params.push(("iss", &iss));
            Err(AuthorizeError::Redirect(Redirect {
                url: with_query(redirect_uri, &params),
            }))
        };
        match p.response_type.as_deref() {
            Some("code") => {}
            None => return back(ErrorCode::InvalidRequest, "response_type is missing"),
            Some(_) => {
                return back(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported (no implicit flow)",
                )
            }
        }
        match client.status {
            ClientStatus::Active => {}
            ClientStatus::Pending => {
                return back(
                    ErrorCode::AccessDenied,
                    "this client is waiting for an administrator's approval",
                )
            }
            ClientStatus::Blocked => {
                return back(
                    ErrorCode::AccessDenied,
                    "this client was blocked by an administrator",
                )
            }
            ClientStatus::Reaped => {
                return back(ErrorCode::InvalidClient, "this client was removed")
            }
        }
        let Some(challenge) = p.code_challenge.as_deref() else {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE is required: code_challenge is missing",
            );
        };
        if p.code_challenge_method.as_deref() != Some("S256") {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE: code_challenge_method must be S256",
            );
        }
        if !check_code_challenge(challenge) {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE: code_challenge is malformed",
            );
        }
        let Some(resource) = p.resource.as_deref().filter(|r| !r.is_empty()) else {
            return back(
                ErrorCode::InvalidTarget,
                "resource is required: name the MCP server the token is for (RFC 8707)",
            );
        };
        let Some((server_id, server_name, scopes_json)) =
            store::find_enabled_server(self.core.db.exec(), resource).await?
        else {
            return back(
                ErrorCode::InvalidTarget,
                "resource is not an enabled MCP server of this catalog",
            );
        };
        let scope = match Scopes::parse(p.scope.as_deref().unwrap_or("")) {
            Ok(s) => s,
            Err(m) => return back(ErrorCode::InvalidScope, &m),
        };
        let declared: Vec<String> = serde_json::from_str(&scopes_json).map_err(internal)?;
        if let Some(bad) = scope
            .0
            .iter()
            .find(|s| *s != OFFLINE_ACCESS && !declared.contains(s))
        {
            return back(
                ErrorCode::InvalidScope,
                &format!("the scope {bad:?} is not one this server declares"),
            );
        }
        if state.is_some_and(|s| s.len() > 2000) {
            return back(
                ErrorCode::InvalidRequest,
                "state is longer than 2,000 characters",
            );
        }
        let key = new_secret();
        let now = self.now();
        store::insert_request(
            self.core.db.exec(),
            &store::NewRequest {
                id_hash: &hash_secret(&key),
                client_id: &client.id.0,
                redirect_uri,
                server_id: &server_id,
                resource,
                scope: &scope.to_wire(),
                state,
                code_challenge: challenge,
                browser_hash: &hash_secret(browser),
            },
            now,
            now + Duration::minutes(REQUEST_TTL_MINUTES),
        )
        .await?;
        Ok((
            key,
            PendingAuthorization {
                client,
                redirect_uri: redirect_uri.to_owned(),
                server_id,
                server_name,
                resource: resource.to_owned(),
                scope,
                state: state.map(str::to_owned),
            },
        ))
    }

    /// The pending request `key`, if it is live and was made in `browser`.
    pub async fn pending(
        &self,
        key: &str,
        browser: Option<&str>,
    ) -> Result<Option<(store::RequestRow, Client)>> {
        let Some(row) =
            store::find_request(self.core.db.exec(), &hash_secret(key), self.now()).await?
        else {
            return Ok(None);
        };
        match browser {
            Some(b) if constant_time_eq(hash_secret(b).as_bytes(), row.browser_hash.as_bytes()) => {
            }
            _ => return Ok(None),
        }
        let Some(client) = store::find_client(self.core.db.exec(), &row.client_id).await? else {
            return Ok(None);
        };
        Ok(Some((row, client)))
    }

    /// The person of a session cookie, if signed in and still active.
    pub async fn person(&self, session: &str) -> Result<Option<Person>> {
        let Some(p) =
            store::find_session_person(self.core.db.exec(), &hash_secret(session), self.now())
                .await?
        else {
            return Ok(None);
        };
        if !p.active || p.deleted {
            return Ok(None);
        }
        Ok(Some(Person {
            email: p.email.clone().unwrap_or_else(|| p.user_name.clone()),
            name: p
                .display_name
                .clone()
                .unwrap_or_else(|| p.user_name.clone()),
            id: p.id,
        }))
    }

    /// Starts a person's session (SSO finished, the person admitted).
    /// Returns the cookie value.
    pub(crate) async fn start_person_session(
        tx: &mut crate::db::Tx,
        person_id: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let secret = new_secret();
        store::insert_person_session(
            tx,
            &hash_secret(&secret),
            person_id,
            connection_id,
            now,
            now + Duration::hours(PERSON_SESSION_HOURS),
        )
        .await?;
        Ok(secret)
    }

    /// What the consent screen of request `key` shows to `person`.
    pub async fn consent_view(
        &self,
        person: &Person,
        row: &store::RequestRow,
        client: &Client,
    ) -> Result<ConsentView> {
        let asked = Scopes::parse(&row.scope).map_err(Error::Internal)?;
        let had = store::find_consent(
            self.core.db.exec(),
            &person.id,
            &client.id.0,
            &row.server_id,
            &row.redirect_uri,
        )
        .await?;
        let new = match &had {
            Some(h) => asked.minus(h),
            None => asked.clone(),
        };
        let host = url::Url::parse(&row.redirect_uri)
            .ok()
            .map(|u| match u.host_str() {
                Some(h) => h.to_owned(),
                None => format!("{}:", u.scheme()),
            })
            .unwrap_or_default();
        let localhost_only = client.redirect_uris.iter().all(|u| {
            u.starts_with("http://127.0.0.1")
                || u.starts_with("http://[::1]")
                || u.starts_with("http://localhost")
        });
        Ok(ConsentView {
            client_id: client.id.0.clone(),
            client_name: client.name.clone(),
            client_kind: client.kind,
            redirect_uri: row.redirect_uri.clone(),
            redirect_host: host,
            localhost_only,
            server_name: row.server_name.clone(),
            resource: row.resource.clone(),
            scopes: asked.0.iter().cloned().collect(),
            new_scopes: new.0.iter().cloned().collect(),
            already_consented: had.is_some() && new.0.is_empty(),
        })
    }

    /// The person's decision on request `key`: approve issues a code (and
    /// records consent), deny sends `access_denied`. Either way the request
    /// is used up and the browser goes back to the client.
    pub async fn decide(
        &self,
        key: &str,
        browser: Option<&str>,
        person: &Person,
        approve: bool,
        meta: RequestMeta,
        public_url: &str,
    ) -> Result<Redirect, AuthorizeError> {
        let Some((row, client)) = self.pending(key, browser).await? else {
            return Err(AuthorizeError::Page(OAuthError::new(
                ErrorCode::InvalidRequest,
                "this authorization request expired or was already answered; start again from your app",
            )));
        };
        let iss = Self::issuer(public_url);
        let mut params: Vec<(&str, String)> = Vec::new();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if !store::use_request(&mut tx, &hash_secret(key), now).await? {
            return Err(AuthorizeError::Page(OAuthError::new(
                ErrorCode::InvalidRequest,
                "this authorization request was already answered",
            )));
        }
        let actor = Actor {
            kind: portcullis_types::ActorType::Anonymous,
            id: Some(person.id.clone()),
            display: person.email.clone(),
            role: None,
            session: None,
            meta,
        };
        let target = Target::new("oauth_client", &client.id.0, &client.name);
        if client.status != ClientStatus::Active {
            params.push(("error", ErrorCode::AccessDenied.as_str().into()));
            params.push((
                "error_description",
                "this client may not get tokens now".into(),
            ));
        } else if !approve {
            audit::append(
                &mut tx,
                now,
                &actor,
                NewEvent::success("oauth.consent.denied")
                    .outcome(portcullis_types::Outcome::Denied)
                    .target(target)
                    .details(json!({ "server": row.server_id, "scope": row.scope })),
            )
            .await?;
            params.push(("error", ErrorCode::AccessDenied.as_str().into()));
            params.push(("error_description", "the person declined".into()));
        } else {
            let had = store::find_consent(
                tx.exec(),
                &person.id,
                &client.id.0,
                &row.server_id,
                &row.redirect_uri,
            )
            .await?;
            let asked = Scopes::parse(&row.scope).map_err(Error::Internal)?;
            let all = match &had {
                Some(h) => h.union(&asked),
                None => asked.clone(),
            };
            if had.as_ref() != Some(&all) {
                store::upsert_consent(
                    &mut tx,
                    &person.id,
                    &client.id.0,
                    &row.server_id,
                    &row.redirect_uri,
                    &all.to_wire(),
                    now,
                )
                .await?;
                audit::append(
                    &mut tx,
                    now,
                    &actor,
                    NewEvent::success("oauth.consent.granted")
                        .target(target.clone())
                        .details(json!({
                            "server": row.server_id,
                            "resource": row.resource,
                            "scope": all.to_wire(),
                            "redirect_uri": row.redirect_uri,
                        })),
                )
                .await?;
            }
            let grant = new_id("ogr");
            store::insert_grant(
                &mut tx,
                &store::NewGrant {
                    id: &grant,
                    client_id: &client.id.0,
                    person_id: &person.id,
                    server_id: &row.server_id,
                    resource: &row.resource,
                    scope: &row.scope,
                },
                now,
            )
            .await?;
            let code = new_secret();
            store::insert_code(
                &mut tx,
                &hash_secret(&code),
                &grant,
                &row.redirect_uri,
                &row.code_challenge,
                now,
                now + Duration::seconds(CODE_TTL_SECONDS),
            )
            .await?;
            params.push(("code", code));
        }
        tx.commit().await?;
        if let Some(s) = &row.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", iss));
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(Redirect {
            url: with_query(&row.redirect_uri, &refs),
        })
    }

    // ---- token endpoint ----------------------------------------------------

    /// Authenticates the client of a token or revocation request: a public
    /// client by its id alone, a confidential one by its secret (Basic or
    /// form) or, for `private_key_jwt`, by a client assertion whose `aud`
    /// may be `endpoint` (the URL called) or the issuer. The client's
    /// status (blocked, waiting, removed) is told only after its
    /// credentials were checked.
    async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        public_url: &str,
        endpoint: &str,
    ) -> Result<Client, Failure> {
        let bad = || fail(ErrorCode::InvalidClient, "client authentication failed");
        if auth.assertion.is_some() || auth.assertion_type.is_some() {
            return self
                .authenticate_by_assertion(auth, public_url, endpoint)
                .await;
        }
        let (id, secret) = match (&auth.basic, &auth.client_id) {
            (Some((id, s)), None) => (id.clone(), Some(s.clone())),
            (Some((id, s)), Some(form_id)) if form_id == id => (id.clone(), Some(s.clone())),
            (Some(_), Some(_)) => return bad(),
            (None, Some(id)) => (id.clone(), auth.client_secret.clone()),
            (None, None) => return fail(ErrorCode::InvalidClient, "the request names no client"),
        };
        let Some(client) = self.client(&id).await? else {
            return bad();
        };
        let ok = match (client.auth_method, &secret, &client.secret_hash) {
            (AuthMethod::None, None, _) => true,
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, Some(s), Some(h)) => {
                // A client may use either secret method (RFC 6749 §2.3.1).
                constant_time_eq(hash_secret(s).as_bytes(), h.as_bytes())
            }
            // A public client with a secret, a secret client without one,
            // a key client without its assertion.
            _ => false,
        };
        if !ok {
            return bad();
        }
        Self::usable(client)
    }

    /// The authenticated client, if its status lets it get tokens.
    fn usable(client: Client) -> Result<Client, Failure> {
        match client.status {
            ClientStatus::Reaped => fail(
                ErrorCode::InvalidClient,
                "this client's registration was removed (unused for a long time, or revoked as a duplicate); register again",
            ),
            ClientStatus::Blocked => fail(
                ErrorCode::InvalidClient,
                "this client was blocked by an administrator",
            ),
            ClientStatus::Pending => fail(
                ErrorCode::UnauthorizedClient,
                "this client is waiting for an administrator's approval",
            ),
            ClientStatus::Active => Ok(client),
        }
    }

    /// `private_key_jwt` (RFC 7523 §2.2): see [`assertion`]. Each
    /// assertion is accepted once (its `jti` is kept until it expires).
    async fn authenticate_by_assertion(
        &self,
        auth: &ClientAuth,
        public_url: &str,
        endpoint: &str,
    ) -> Result<Client, Failure> {
        let bad = || fail(ErrorCode::InvalidClient, "client authentication failed");
        if auth.assertion_type.as_deref() != Some(assertion::ASSERTION_TYPE) {
            return fail(
                ErrorCode::InvalidClient,
                format!(
                    "client_assertion_type must be {}",
                    assertion::ASSERTION_TYPE
                ),
            );
        }
        let Some(jwt) = auth.assertion.as_deref() else {
            return fail(ErrorCode::InvalidClient, "client_assertion is missing");
        };
        if auth.basic.is_some() || auth.client_secret.is_some() {
            return fail(
                ErrorCode::InvalidClient,
                "use one client authentication method, not a secret and an assertion",
            );
        }
        let Some(id) = assertion::claimed_client(jwt) else {
            return bad();
        };
        if auth.client_id.as_ref().is_some_and(|c| *c != id) {
            return bad();
        }
        let Some(client) = self.client(&id).await? else {
            return bad();
        };
        if client.auth_method != AuthMethod::PrivateKeyJwt {
            return bad();
        }
        let issuer = Self::issuer(public_url);
        let audiences = vec![endpoint.to_owned(), issuer];
        let now = self.now();
        let mut keys = self.client_keys(&client, false).await?;
        let mut checked = assertion::verify(jwt, &keys, &id, &audiences, now.timestamp());
        if matches!(&checked, Err(why) if why.contains("kid")) && client.jwks_uri.is_some() {
            // A rotated key: fetch the set again (not more than every 30 s).
            keys = self.client_keys(&client, true).await?;
            checked = assertion::verify(jwt, &keys, &id, &audiences, now.timestamp());
        }
        let verified = match checked {
            Ok(v) => v,
            Err(why) => {
                tracing::info!(client = %id, reason = %why, "client assertion refused");
                return bad();
            }
        };
        let expires =
            DateTime::from_timestamp(verified.exp, 0).unwrap_or(now) + Duration::seconds(60);
        let mut tx = self.core.db.begin().await?;
        if !store::use_assertion_jti(&mut tx, &id, &verified.jti, expires).await? {
            tracing::info!(client = %id, "client assertion replayed");
            return bad();
        }
        tx.commit().await?;
        Self::usable(client)
    }

    /// The public keys of a `private_key_jwt` client: registered inline, or
    /// fetched from its JWKS URL through the SSRF guard and kept
    /// [`JWKS_TTL`] (`refetch`: fetch again if the copy is older than
    /// [`JWKS_REFETCH`]).
    async fn client_keys(
        &self,
        client: &Client,
        refetch: bool,
    ) -> Result<Arc<jsonwebtoken::jwk::JwkSet>, Failure> {
        if let Some(text) = &client.jwks {
            return assertion::parse_jwks(text)
                .map(Arc::new)
                .map_err(|e| Failure::Domain(Error::Internal(format!("stored jwks: {e}"))));
        }
        let Some(uri) = &client.jwks_uri else {
            return fail(ErrorCode::InvalidClient, "client authentication failed");
        };
        let cached = self
            .jwks_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client.id.0)
            .cloned();
        if let Some((at, set)) = cached {
            let age = at.elapsed();
            if age < JWKS_TTL && !(refetch && age >= JWKS_REFETCH) {
                return Ok(set);
            }
        }
        let fetched = match self.guard.get(uri).await.and_then(|f| f.error_for_status()) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(client = %client.id, error = %e, "fetching the client's jwks_uri failed");
                return fail(
                    ErrorCode::InvalidClient,
                    "the client's keys could not be fetched from its jwks_uri",
                );
            }
        };
        let text = String::from_utf8_lossy(&fetched.body);
        let set = match assertion::parse_jwks(&text) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::warn!(client = %client.id, error = %e, "the client's jwks_uri serves no usable key set");
                return fail(
                    ErrorCode::InvalidClient,
                    "the client's jwks_uri does not serve a usable key set",
                );
            }
        };
        self.jwks_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                client.id.0.clone(),
                (std::time::Instant::now(), set.clone()),
            );
        Ok(set)
    }

    /// The token endpoint: `authorization_code` and `refresh_token` grants.
    /// An address whose requests failed too often in the window is refused
    /// (`slow_down`, 429) before anything is looked at, so codes, refresh
    /// tokens and secrets cannot be guessed at speed; a client past its
    /// issuance budget is refused the same way.
    pub async fn token(
        &self,
        p: &TokenParams,
        auth: &ClientAuth,
        public_url: &str,
        source_ip: Option<&str>,
    ) -> Result<TokenResponse, Failure> {
        let now = self.now();
        if let Some(ip) = source_ip {
            if !self.limits.token_request_allowed(ip, now) {
                return fail(
                    ErrorCode::SlowDown,
                    "too many failed token requests from this address; try again in a few minutes",
                );
            }
        }
        let out = self.token_unlimited(p, auth, public_url).await;
        if let (Err(Failure::Protocol(e)), Some(ip)) = (&out, source_ip) {
            if e.code != ErrorCode::SlowDown {
                self.limits.token_request_failed(ip, now);
            }
        }
        out
    }

    async fn token_unlimited(
        &self,
        p: &TokenParams,
        auth: &ClientAuth,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let grant_type = p.grant_type.as_deref().unwrap_or("");
        match grant_type {
            "authorization_code" | "refresh_token" => {}
            "" => return fail(ErrorCode::InvalidRequest, "grant_type is missing"),
            "password" | "implicit" => {
                return fail(
                    ErrorCode::UnsupportedGrantType,
                    format!("the {grant_type} grant is not allowed (OAuth 2.1)"),
                )
            }
            other => {
                return fail(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type {other:?} is not supported"),
                )
            }
        }
        let endpoint = format!("{}/oauth/token", Self::issuer(public_url));
        let client = self
            .authenticate_client(auth, public_url, &endpoint)
            .await?;
        if !self.limits.may_issue(&client.id.0, self.now()) {
            return fail(
                ErrorCode::SlowDown,
                "this client asked for too many tokens in the last minute; try again shortly",
            );
        }
        let out = if grant_type == "authorization_code" {
            self.exchange_code(p, &client, public_url).await
        } else {
            self.refresh(p, &client, public_url).await
        };
        if out.is_ok() {
            self.limits.issued(&client.id.0, self.now());
        }
        out
    }

    async fn exchange_code(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(code) = p.code.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "code is missing");
        };
        let Some(verifier) = p.code_verifier.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "PKCE: code_verifier is missing");
        };
        // The key first: making it on first use takes the write lock,
        // which the transaction below holds (SQLite).
        let key = self.token_key().await?;
        let now = self.now();
        let hash = hash_secret(code);
        let mut tx = self.core.db.begin().await?;
        let Some(row) = store::find_code(&mut tx, &hash).await? else {
            return fail(ErrorCode::InvalidGrant, "the code is not valid");
        };
        let Some(grant) = store::find_grant(tx.exec(), &row.grant_id).await? else {
            return fail(ErrorCode::InvalidGrant, "the code is not valid");
        };
        if row.used_at.is_some() || !store::use_code(&mut tx, &hash, now).await? {
            // Reuse: whoever has the tokens of the first exchange loses them
            // (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
            store::revoke_grant(&mut tx, &grant.id, "code_reused", now).await?;
            audit::append(
                &mut tx,
                now,
                &Actor::system("authorization server"),
                NewEvent::success("oauth.grant.revoked")
                    .outcome(portcullis_types::Outcome::Denied)
                    .target(Target::new("oauth_client", &grant.client_id, &grant.client_id))
                    .details(json!({ "grant": grant.id, "reason": "authorization code presented twice" })),
            )
            .await?;
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the code was already used; the tokens issued from it are revoked",
            );
        }
        if row.expires_at <= now {
            tx.commit().await?;
            return fail(ErrorCode::InvalidGrant, "the code expired");
        }
        if grant.client_id != client.id.0 {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the code was issued to another client",
            );
        }
        if p.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "redirect_uri differs from the authorization request",
            );
        }
        if !pkce_verifies(verifier, &row.code_challenge) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "PKCE: the code_verifier does not match",
            );
        }
        if p.resource.as_deref().is_some_and(|r| r != grant.resource) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidTarget,
                "resource differs from the authorization request",
            );
        }
        if grant.revoked || !grant.person_active || !grant.server_enabled {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "this authorization is no longer valid",
            );
        }
        let scope = Scopes::parse(&grant.scope).map_err(Error::Internal)?;
        let out = self
            .issue(&mut tx, &key, &grant, &scope, public_url, now)
            .await?;
        audit::append(
            &mut tx,
            now,
            &Actor::system("authorization server"),
            NewEvent::success("oauth.token.issued")
                .target(Target::new("oauth_client", &client.id.0, &client.name))
                .details(json!({
                    "grant": grant.id,
                    "person": grant.person_id,
                    "server": grant.server_id,
                    "scope": grant.scope,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn refresh(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(token) = p.refresh_token.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "refresh_token is missing");
        };
        let asked = p
            .scope
            .as_deref()
            .map(|s| {
                Scopes::parse(s)
                    .map_err(|m| Failure::Protocol(OAuthError::new(ErrorCode::InvalidScope, m)))
            })
            .transpose()?;
        let key = self.token_key().await?;
        let successor = new_secret();
        let rotated = self
            .rotator
            .rotate(
                &self.core,
                &self.touched,
                rotation::Refresh {
                    presented: hash_secret(token),
                    successor: hash_secret(&successor),
                    client_id: client.id.0.clone(),
                    resource: p.resource.clone(),
                    scope: asked.clone(),
                },
            )
            .await;
        if let Some((grant, scope)) = rotated {
            return Ok(self.mint(&key, &grant, &scope, public_url, self.now(), successor)?);
        }
        self.refresh_one(token, p, client, public_url, &key, asked)
            .await
    }

    /// A refresh on its own: every case the batch ([`rotation`]) leaves
    /// to it, with the exact error for each refusal. A refusal that depends
    /// on the request (another client's token, another resource, a wider
    /// scope) leaves the token unused; a reused token revokes its grant.
    async fn refresh_one(
        &self,
        token: &str,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
        key: &SigningKey,
        asked: Option<Scopes>,
    ) -> Result<TokenResponse, Failure> {
        let now = self.now();
        let hash = hash_secret(token);
        let mut tx = self.core.db.begin().await?;
        // The common case in one statement: an unused token is marked used
        // (the transaction rolls back on any refusal below that does not
        // commit, leaving it unused).
        let rotated = store::rotate_refresh(&mut tx, &hash, now).await?;
        let (grant_id, expires_at) = match &rotated {
            Some(r) => r.clone(),
            None => match store::find_refresh(tx.exec(), &hash).await? {
                Some(row) => (row.grant_id, row.expires_at),
                None => return fail(ErrorCode::InvalidGrant, "the refresh token is not valid"),
            },
        };
        let Some(grant) = store::find_grant(tx.exec(), &grant_id).await? else {
            return fail(ErrorCode::InvalidGrant, "the refresh token is not valid");
        };
        if grant.client_id != client.id.0 {
            return fail(
                ErrorCode::InvalidGrant,
                "the refresh token was issued to another client",
            );
        }
        if rotated.is_none() {
            // A rotated token came back: someone holds a copy. End the
            // family (RFC 9700 §4.14.2).
            if store::revoke_grant(&mut tx, &grant.id, "refresh_reused", now).await? {
                audit::append(
                    &mut tx,
                    now,
                    &Actor::system("authorization server"),
                    NewEvent::success("oauth.grant.revoked")
                        .outcome(portcullis_types::Outcome::Denied)
                        .target(Target::new("oauth_client", &client.id.0, &client.name))
                        .details(json!({ "grant": grant.id, "reason": "a rotated refresh token was presented again" })),
                )
                .await?;
            }
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the refresh token was already used; this authorization is revoked",
            );
        }
        let scope = match rotation::admit(
            &grant,
            expires_at,
            now,
            p.resource.as_deref(),
            asked.as_ref(),
        )? {
            Ok(scope) => scope,
            Err(refusal) => {
                if !refusal.keeps_token {
                    tx.commit().await?;
                }
                return fail(refusal.code, refusal.message);
            }
        };
        let out = self
            .issue(&mut tx, key, &grant, &scope, public_url, now)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Client `id` for the token endpoint (see [`OAuthService::clients`]).
    async fn client(&self, id: &str) -> Result<Option<Client>> {
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
    fn forget_clients<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            cache.remove(id);
        }
    }

    /// Mints an access token and a new refresh token for `grant` in `tx`.
    async fn issue(
        &self,
        tx: &mut crate::db::Tx,
        key: &SigningKey,
        grant: &store::GrantRow,
        scope: &Scopes,
        public_url: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse> {
        let refresh = new_secret();
        store::insert_refresh(
            tx,
            &hash_secret(&refresh),
            &grant.id,
            now,
            now + Duration::days(REFRESH_TTL_DAYS),
        )
        .await?;
        if self.touched.due(&grant.id, now) {
            store::touch(tx, &grant.client_id, &grant.id, now).await?;
        }
        self.mint(key, grant, scope, public_url, now, refresh)
    }

    /// The token response for `grant`: a signed access token (RFC 9068)
    /// and `refresh`, the successor refresh token already stored.
    fn mint(
        &self,
        key: &SigningKey,
        grant: &store::GrantRow,
        scope: &Scopes,
        public_url: &str,
        now: DateTime<Utc>,
        refresh: String,
    ) -> Result<TokenResponse> {
        let ttl = self.core.settings.access_token_ttl;
        let claims = AccessClaims {
            iss: Self::issuer(public_url),
            sub: grant.person_id.clone(),
            aud: grant.resource.clone(),
            client_id: grant.client_id.clone(),
            scope: scope.to_wire(),
            jti: new_id("at"),
            iat: now_unix(now),
            exp: now_unix(now + ttl),
            sid: grant.id.clone(),
        };
        let access_token = key
            .sign_claims(&claims, ACCESS_TOKEN_TYPE)
            .map_err(internal)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.num_seconds(),
            refresh_token: Some(refresh),
            scope: claims.scope,
        })
    }

    /// Verifies one of our access tokens (any audience) and returns its
    /// claims; `None` if it is not a valid token of this issuer.
    async fn verify_any(&self, token_str: &str, public_url: &str) -> Result<Option<AccessClaims>> {
        let jwks = self.signing.jwks().await?;
        let Ok(verifier) = Verifier::from_jwks(&jwks) else {
            return Ok(None);
        };
        // The audience is read from the token, then checked like a gateway
        // would (signature first: nothing unverified is trusted).
        let Some(aud) = unverified_audience(token_str) else {
            return Ok(None);
        };
        Ok(token::verify_access_token(&verifier, token_str, &Self::issuer(public_url), &aud).ok())
    }

    /// RFC 7009: revokes a refresh token's grant, or an access token's grant,
    /// if it belongs to the authenticated client. Unknown tokens are no error.
    pub async fn revoke(
        &self,
        token_str: &str,
        auth: &ClientAuth,
        public_url: &str,
    ) -> Result<(), Failure> {
        let endpoint = format!("{}/oauth/revoke", Self::issuer(public_url));
        let client = self
            .authenticate_client(auth, public_url, &endpoint)
            .await?;
        let grant_id =
            match store::find_refresh(self.core.db.exec(), &hash_secret(token_str)).await? {
                Some(r) => Some(r.grant_id),
                None => self.verify_any(token_str, public_url).await?.map(|c| c.sid),
            };
        let Some(grant_id) = grant_id else {
            return Ok(());
        };
        let Some(grant) = store::find_grant(self.core.db.exec(), &grant_id).await? else {
            return Ok(());
        };
        if grant.client_id != client.id.0 {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if store::revoke_grant(&mut tx, &grant.id, "revoked_by_client", now).await? {
            audit::append(
                &mut tx,
                now,
                &Actor::system("authorization server"),
                NewEvent::success("oauth.grant.revoked")
                    .target(Target::new("oauth_client", &client.id.0, &client.name))
                    .details(
                        json!({ "grant": grant.id, "reason": "revoked by the client (RFC 7009)" }),
                    ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// RFC 7662 introspection for gateways: active only if the signature,
    /// issuer and expiry hold, the grant is live, the client is active and
    /// the person is active.
    pub async fn introspect(&self, token_str: &str, public_url: &str) -> Result<Introspection> {
        let Some(c) = self.verify_any(token_str, public_url).await? else {
            return Ok(Introspection::default());
        };
        let Some(grant) = store::find_grant(self.core.db.exec(), &c.sid).await? else {
            return Ok(Introspection::default());
        };
        let client = store::find_client(self.core.db.exec(), &c.client_id).await?;
        let live = !grant.revoked
            && grant.person_active
            && grant.server_enabled
            && client.is_some_and(|cl| cl.status == ClientStatus::Active);
        if !live {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(c.scope),
            client_id: Some(c.client_id),
            token_type: Some("Bearer"),
            exp: Some(c.exp),
            iat: Some(c.iat),
            sub: Some(c.sub),
            aud: Some(c.aud),
            iss: Some(c.iss),
            jti: Some(c.jti),
        })
    }

    /// Deletes expired requests, codes, sessions and refresh tokens.
    pub async fn purge_expired(&self) -> Result<u64> {
        store::purge_expired(&self.core.db, self.now()).await
    }
}

/// The `aud` of a JWT without verifying it (to pick the audience to verify
/// against; the verification that follows checks it).
fn unverified_audience(jwt: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("aud")?.as_str().map(str::to_owned)
}
