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

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_policy::signed::Active;
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

/// The token of `headers`, checked for `upstream`. A key the gateway does
/// not know makes it refresh the JWKS once.
pub async fn check(
    policy: &PolicyState,
    active: &Active,
    issuer: &str,
    upstream: &Upstream,
    headers: &HeaderMap,
) -> Result<AccessClaims, Refusal> {
    let token = bearer(headers).ok_or(Refusal::Missing)?;
    let claims = match verify(policy, token, issuer, &upstream.resource) {
        Err(TokenError::UnknownKey) if policy.refresh_keys().await => {
            verify(policy, token, issuer, &upstream.resource)
        }
        other => other,
    }
    .map_err(|e| Refusal::Invalid(describe(&e)))?;
    if active.policy.client_blocked(&claims.client_id) {
        return Err(Refusal::Invalid(
            "the client was blocked by an administrator",
        ));
    }
    let granted: Vec<&str> = claims.scope.split_ascii_whitespace().collect();
    if upstream
        .scopes
        .iter()
        .any(|s| !granted.contains(&s.as_str()))
    {
        return Err(Refusal::Scope);
    }
    Ok(claims)
}

fn verify(
    policy: &PolicyState,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenError> {
    let keys = policy.keys().ok_or(TokenError::UnknownKey)?;
    verify_access_token(&keys, token, issuer, audience)
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
