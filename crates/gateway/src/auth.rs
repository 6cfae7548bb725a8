//! Access tokens at the edge (MCP authorization, RFC 6750, RFC 9728).
//!
//! Every MCP request must carry a Portcullis access token for the server it
//! is sent to: checked with [`portcullis_policy::token::verify_access_token`]
//! (`typ: at+jwt`, `EdDSA` with a key of the console's JWKS, `iss` the
//! console, `aud` exactly this server's resource URL, not expired), then
//! against the bundle (a blocked client is refused even with a live token)
//! and the scopes the upstream is configured to need. A refusal is `401`
//! (no or bad token) or `403` (`insufficient_scope`, naming every scope
//! needed at once, so a client asks for all of them in one step-up), with a
//! `WWW-Authenticate: Bearer` challenge whose `resource_metadata` points at
//! the server's protected-resource metadata, served here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_policy::signed::{Active, Verifier};
use portcullis_policy::token::{verify_access_token, AccessClaims, TokenError};
use serde_json::json;

use crate::config::Upstream;
use crate::sync::PolicyState;

/// Why a request was refused before policy.
#[derive(Debug)]
pub enum Refusal {
    /// No bearer token.
    Missing,
    /// A token that does not verify, or of a blocked client.
    Invalid(&'static str),
    /// The token lacks scopes the server needs.
    Scope,
}

/// The protected-resource metadata URL of `upstream` (RFC 9728 §3.1: the
/// well-known name inserted before the resource's path).
pub fn metadata_url(upstream: &Upstream) -> String {
    match url::Url::parse(&upstream.resource) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            format!(
                "{}/.well-known/oauth-protected-resource{path}",
                u.origin().ascii_serialization()
            )
        }
        Err(_) => String::new(),
    }
}

/// The metadata document (RFC 9728 §2).
pub fn metadata(upstream: &Upstream, issuer: &str, name: Option<&str>) -> serde_json::Value {
    let mut doc = json!({
        "resource": upstream.resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": upstream.scopes,
    });
    if let Some(name) = name {
        doc["resource_name"] = json!(name);
    }
    doc
}

/// The most verified tokens remembered; past it, expired ones are dropped
/// and, if that is not enough, all.
const MAX_CACHED_TOKENS: usize = 50_000;

/// Tokens that verified, so a client's next calls with the same token skip
/// the signature check (an Ed25519 verification and two JSON decodes: most
/// of a call's cost at the gateway). An entry holds while the token has not
/// expired, for the audience it was checked for, under the same key set
/// (new keys from the console empty it in effect). Only what the signature
/// proves is cached: the blocked-client and scope checks run on every call
/// against the bundle in force.
#[derive(Default)]
pub struct TokenCache {
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

struct Verified {
    claims: Arc<AccessClaims>,
    audience: usize,
    keys: Arc<Verifier>,
}

impl TokenCache {
    fn get(
        &self,
        token: &str,
        audience: usize,
        keys: &Arc<Verifier>,
        now: i64,
    ) -> Option<Arc<AccessClaims>> {
        let map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.get(token)?;
        (v.audience == audience && Arc::ptr_eq(&v.keys, keys) && v.claims.exp > now)
            .then(|| v.claims.clone())
    }

    fn put(
        &self,
        token: &str,
        audience: usize,
        keys: Arc<Verifier>,
        claims: Arc<AccessClaims>,
        now: i64,
    ) {
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CACHED_TOKENS {
            map.retain(|_, v| v.claims.exp > now && Arc::ptr_eq(&v.keys, &keys));
            if map.len() >= MAX_CACHED_TOKENS {
                map.clear();
            }
        }
        map.insert(
            token.into(),
            Verified {
                claims,
                audience,
                keys,
            },
        );
    }
}

/// The token of `headers`, checked for `upstream` (the `index`-th). A key
/// the gateway does not know makes it refresh the JWKS once.
pub async fn check(
    policy: &PolicyState,
    cache: &TokenCache,
    active: &Active,
    issuer: &str,
    (index, upstream): (usize, &Upstream),
    headers: &HeaderMap,
) -> Result<Arc<AccessClaims>, Refusal> {
    let token = bearer(headers).ok_or(Refusal::Missing)?;
    let now = crate::proxy::now_secs();
    let keys = policy.keys();
    let cached = keys
        .as_ref()
        .and_then(|keys| cache.get(token, index, keys, now));
    let claims = match cached {
        Some(claims) => claims,
        None => {
            let (keys, verified) = match verify(keys, token, issuer, &upstream.resource) {
                (_, Err(TokenError::UnknownKey)) if policy.refresh_keys().await => {
                    verify(policy.keys(), token, issuer, &upstream.resource)
                }
                other => other,
            };
            let claims = Arc::new(verified.map_err(|e| Refusal::Invalid(describe(&e)))?);
            if let Some(keys) = keys {
                cache.put(token, index, keys, claims.clone(), now);
            }
            claims
        }
    };
    if active.policy.client_blocked(&claims.client_id) {
        return Err(Refusal::Invalid(
            "the client was blocked by an administrator",
        ));
    }
    if upstream
        .scopes
        .iter()
        .any(|s| !claims.scope.split_ascii_whitespace().any(|g| g == s))
    {
        return Err(Refusal::Scope);
    }
    Ok(claims)
}

/// The token verified with `keys` (returned with the result, for the cache).
fn verify(
    keys: Option<Arc<Verifier>>,
    token: &str,
    issuer: &str,
    audience: &str,
) -> (Option<Arc<Verifier>>, Result<AccessClaims, TokenError>) {
    let Some(keys) = keys else {
        return (None, Err(TokenError::UnknownKey));
    };
    let verified = verify_access_token(&keys, token, issuer, audience);
    (Some(keys), verified)
}

fn describe(e: &TokenError) -> &'static str {
    match e {
        TokenError::Expired => "the access token expired",
        TokenError::WrongAudience => "the access token is for another resource",
        TokenError::WrongIssuer => "the access token is from another issuer",
        _ => "the access token is not valid",
    }
}

/// The bearer token of an `Authorization` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The `401`/`403` answer with its challenge.
pub fn refuse(refusal: &Refusal, upstream: &Upstream) -> Response {
    let meta = metadata_url(upstream);
    let scope = upstream.scopes.join(" ");
    let (status, challenge, error, description) = match refusal {
        Refusal::Missing => {
            let mut c = format!("Bearer resource_metadata=\"{meta}\"");
            if !scope.is_empty() {
                c.push_str(&format!(", scope=\"{scope}\""));
            }
            (StatusCode::UNAUTHORIZED, c, "invalid_request", "an access token is required")
        }
        Refusal::Invalid(why) => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer error=\"invalid_token\", error_description=\"{why}\", resource_metadata=\"{meta}\""),
            "invalid_token",
            *why,
        ),
        Refusal::Scope => (
            StatusCode::FORBIDDEN,
            format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{meta}\", error_description=\"this server needs the scopes {scope}\""),
            "insufficient_scope",
            "the access token lacks scopes this server needs",
        ),
    };
    let mut res = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_set(seed: u8) -> Arc<Verifier> {
        let key = portcullis_policy::signed::SigningKey::from_seed("k1", &[seed; 32]);
        let jwk = key.public_jwk().unwrap_or_else(|e| panic!("{e}"));
        let jwks = json!({ "keys": [jwk] }).to_string();
        Arc::new(Verifier::from_jwks(&jwks).unwrap_or_else(|e| panic!("{e}")))
    }

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            act: None,
            iss: "https://console".into(),
            sub: "usr_a".into(),
            aud: "https://mcp/a".into(),
            client_id: "cli_a".into(),
            scope: String::new(),
            jti: "j".into(),
            iat: 0,
            exp,
            sid: "s".into(),
        })
    }

    #[test]
    fn a_verified_token_is_remembered_only_for_its_audience_keys_and_lifetime() {
        let cache = TokenCache::default();
        let keys = key_set(1);
        cache.put("tok", 0, keys.clone(), claims(1_000), 100);
        assert_eq!(cache.get("tok", 0, &keys, 999).map(|c| c.exp), Some(1_000));
        assert!(
            cache.get("tok", 1, &keys, 100).is_none(),
            "another upstream"
        );
        assert!(cache.get("tok", 0, &keys, 1_000).is_none(), "expired");
        assert!(cache.get("other", 0, &keys, 100).is_none());
        // New keys from the console: verified again.
        assert!(cache.get("tok", 0, &key_set(2), 100).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::default();
        let keys = key_set(1);
        for i in 0..MAX_CACHED_TOKENS {
            cache.put(&format!("t{i}"), 0, keys.clone(), claims(50), 0);
        }
        // Full: the expired entries go first.
        cache.put("fresh", 0, keys.clone(), claims(1_000), 100);
        let map = cache.verified.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(map.len(), 1);
        assert!(map.contains_key("fresh"));
    }
}
