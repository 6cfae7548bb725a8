//! Clients coming to be known: pre-registered by an admin, registered by
//! themselves (RFC 7591), or resolved from a client ID metadata document
//! (CIMD, see [`cimd`]).

use super::model::{
    check_redirect_uri, clean_text, duplicate_key, fail, AuthMethod, Client, ClientId, ClientKeys,
    ClientKind, ClientStatus, CreateClient, CreatedClient, ErrorCode, Failure, OAuthError,
    RegistrationRequest, MAX_REDIRECT_URIS,
};
use super::REGISTRATIONS_PER_IP_PER_HOUR;
use super::{assertion, cimd, internal, limits, now_unix, store, OAuthService};
use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::error::{Error, Result};
use chrono::Duration;
use serde_json::{json, Value};

/// The status a client that registers itself starts in.
fn initial_status(policy: &store::PolicyRow) -> ClientStatus {
    if policy.approval_required {
        ClientStatus::Pending
    } else {
        ClientStatus::Active
    }
}

impl OAuthService {
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
                let u =
                    crate::agents::check_jwks_uri(u).map_err(|m| Error::invalid("jwks_uri", m))?;
                (None, Some(u))
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
        let auth = if input.confidential {
            "client_secret"
        } else if input.keys.is_some() {
            "private_key_jwt"
        } else {
            "none"
        };
        let created = NewEvent::success("oauth.client.created")
            .target(Target::new("oauth_client", &id, &name))
            .details(json!({
                "kind": "preregistered",
                "confidential": input.confidential || input.keys.is_some(),
                "auth": auth,
                "jwks_uri": jwks_uri,
                "redirect_uris": input.redirect_uris,
            }));
        audit::append(&mut tx, now, actor, created).await?;
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
        let status = initial_status(&policy);
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

    /// The client `id`: one registered here, or — for an https URL — the
    /// client its metadata document describes (fetched when not cached or
    /// stale; see [`cimd`]). The error is for a page.
    pub async fn resolve_client(&self, id: &ClientId) -> Result<Result<Client, OAuthError>> {
        let id = id.as_str();
        if !cimd::is_cimd(id) {
            return self.known_client(id).await;
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
            return self.known_client(id).await;
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
                let status = initial_status(&policy);
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
        self.known_client(id).await
    }

    /// The stored client `id`, or the page error for a client not known.
    async fn known_client(&self, id: &str) -> Result<Result<Client, OAuthError>> {
        Ok(store::find_client(self.core.db.exec(), id)
            .await?
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidClient,
                    "this client is not known to Portcullis",
                )
            }))
    }
}
