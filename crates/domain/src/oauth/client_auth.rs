//! Client authentication at the token and revocation endpoints: a public
//! client by its id, a confidential one by its secret, a `private_key_jwt`
//! one by a signed assertion (see [`assertion`]) checked against its keys.

use super::model::{
    constant_time_eq, fail, AuthMethod, Client, ClientAuth, ClientStatus, ErrorCode, Failure,
};
use super::{assertion, store, OAuthService, JWKS_REFETCH, JWKS_TTL};
use crate::clock::hash_secret;
use crate::error::Error;
use chrono::{DateTime, Duration};
use std::sync::Arc;

/// The one answer to credentials that do not check out (which part failed
/// is not told).
fn bad<T>() -> Result<T, Failure> {
    fail(ErrorCode::InvalidClient, "client authentication failed")
}

impl OAuthService {
    /// Authenticates the client of a token or revocation request: a public
    /// client by its id alone, a confidential one by its secret (Basic or
    /// form) or, for `private_key_jwt`, by a client assertion whose `aud`
    /// may be `endpoint` (the URL called) or the issuer. The client's
    /// status (blocked, waiting, removed) is told only after its
    /// credentials were checked.
    pub(super) async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        public_url: &str,
        endpoint: &str,
    ) -> Result<Client, Failure> {
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
        let Some(client) = self.cached_client(&id).await? else {
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
        let Some(client) = self.cached_client(&id).await? else {
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
            return bad();
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
}
