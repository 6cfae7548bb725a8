//! OIDC sign-in: authorization code flow with PKCE (S256) and a nonce, on
//! the `openidconnect` crate.
//!
//! Every request to the IdP (discovery, JWKS, token) goes through the SSRF
//! guard with redirects off: the token and JWKS URLs come from the IdP's own
//! discovery document. `openidconnect` checks the discovered issuer against
//! the configured one, and the ID token's `iss`, `aud` (exactly our client
//! id), `exp`, `nonce`, `alg` (never `none`; only the asymmetric algorithms
//! in [`ALLOWED_ALGS`]) and signature (key chosen by `kid`). On top of it:
//! the `iss` of the authorization response (RFC 9207) when the IdP sends
//! one, `iat` not in the future, and one JWKS re-fetch when the token's key
//! is unknown, at most once a minute per connection, so the IdP can rotate
//! keys without breaking sign-in and a flood of bad tokens cannot make us
//! hammer it.

use super::model::{Asserted, Finished, Flight, InFlight, Purpose};
use super::store::ConnRow;
use super::{Refusal, SsoService};
use crate::actor::RequestMeta;
use crate::error::{Error, Result};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, SignatureVerificationError, TokenResponse,
};
use portcullis_discovery::{FetchRequest, Guard};
use portcullis_types::{OidcSettings, SsoKind, SsoSlug};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// ID-token signature algorithms accepted (asymmetric only: an HMAC token
/// would be keyed with the client secret, which the IdP is not the only one
/// to know).
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 7] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Discovery documents are re-read after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// At most one JWKS re-fetch for an unknown `kid` per connection in this
/// interval.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Largest discovery, JWKS or token response read.
const MAX_BODY: usize = 1024 * 1024;

/// The query of the redirect back from the IdP.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

struct Cached {
    issuer: String,
    meta: CoreProviderMetadata,
    fetched: Instant,
    jwks_refetched: Option<Instant>,
}

/// Discovery documents (with their JWKS) per connection, in memory.
#[derive(Default)]
pub struct ProviderCache {
    inner: Mutex<HashMap<String, Cached>>,
}

impl ProviderCache {
    /// Drops what is cached for a connection (after it changed).
    pub fn forget(&self, connection_id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(connection_id);
        }
    }

    fn get(&self, connection_id: &str, issuer: &str) -> Option<CoreProviderMetadata> {
        let m = self.inner.lock().ok()?;
        m.get(connection_id)
            .filter(|c| c.issuer == issuer && c.fetched.elapsed() < METADATA_TTL)
            .map(|c| c.meta.clone())
    }

    pub(super) fn put(&self, connection_id: &str, issuer: &str, meta: CoreProviderMetadata) {
        if let Ok(mut m) = self.inner.lock() {
            let jwks_refetched = m.get(connection_id).and_then(|c| c.jwks_refetched);
            m.insert(
                connection_id.to_owned(),
                Cached {
                    issuer: issuer.to_owned(),
                    meta,
                    fetched: Instant::now(),
                    jwks_refetched,
                },
            );
        }
    }

    /// Takes the right to re-fetch the JWKS now (rate limit).
    pub(super) fn may_refetch_jwks(&self, connection_id: &str) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        match m.get_mut(connection_id) {
            Some(c)
                if c.jwks_refetched
                    .is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) =>
            {
                false
            }
            Some(c) => {
                c.jwks_refetched = Some(Instant::now());
                true
            }
            None => true,
        }
    }
}

/// `openidconnect`'s HTTP client: the SSRF guard, no redirects.
#[derive(Clone)]
pub struct GuardedHttp(pub Guard);

/// An HTTP failure talking to the IdP, in words for the admin.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for GuardedHttp {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut req = FetchRequest::new(parts.method, parts.uri.to_string());
            req.headers = parts.headers;
            if !body.is_empty() {
                req = req.body(body);
            }
            let res = self
                .0
                .send(req)
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let status = res.status();
            let headers = res.headers().clone();
            let bytes = res.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            let mut out = http::Response::new(bytes.to_vec());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// A guard for OIDC: the instance's allowed hosts, no redirects, 1 MiB.
pub(crate) fn http_client(
    allowed_hosts: &[String],
    extra_roots_pem: &[Vec<u8>],
) -> Result<GuardedHttp> {
    let guard = Guard::new(portcullis_discovery::GuardConfig {
        allowed_hosts: allowed_hosts.to_vec(),
        extra_roots_pem: extra_roots_pem.to_vec(),
        max_redirects: 0,
        max_body_bytes: MAX_BODY,
        ..Default::default()
    })
    .map_err(|e| Error::invalid("PORTCULLIS_FETCH_ALLOWED_HOSTS", e.to_string()))?;
    Ok(GuardedHttp(guard))
}

/// Reads the IdP's discovery document; the issuer it names must be
/// `issuer` exactly. The error is a sentence for the admin.
pub async fn discover(
    http: &GuardedHttp,
    issuer: &str,
) -> std::result::Result<CoreProviderMetadata, String> {
    let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("not a URL: {e}"))?;
    CoreProviderMetadata::discover_async(url, http)
        .await
        .map_err(|e| {
            let mut msg = format!("OpenID discovery at {issuer} failed: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })
}

fn client(
    meta: CoreProviderMetadata,
    settings: &OidcSettings,
    secret: String,
    redirect: String,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
> {
    let redirect = RedirectUrl::new(redirect).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        meta,
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect))
}

fn verifier_for(v: CoreIdTokenVerifier<'_>) -> CoreIdTokenVerifier<'_> {
    v.set_allowed_algs(ALLOWED_ALGS.to_vec())
        .set_issue_time_verifier_fn(|iat| {
            if iat > chrono::Utc::now() + chrono::Duration::minutes(5) {
                Err("the ID token was issued in the future".to_owned())
            } else {
                Ok(())
            }
        })
}

/// A claim as text for "Test connection".
fn claim_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Who the verified ID token says the person is, read through the
/// connection's claim names.
fn asserted_from(payload: &serde_json::Value, settings: &OidcSettings) -> Result<Asserted> {
    let obj = payload
        .as_object()
        .ok_or_else(|| Error::Internal("ID token payload is not an object".into()))?;
    let text = |name: &str| {
        obj.get(name).and_then(|v| v.as_str()).map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(320)
                .collect::<String>()
        })
    };
    let subject = text("sub").unwrap_or_default();
    let email_verified = match obj.get("email_verified") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    let groups = match obj.get(&settings.groups_claim) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut claims: Vec<(String, String)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), claim_text(v).chars().take(2000).collect()))
        .collect();
    claims.sort();
    Ok(Asserted {
        subject,
        email: text(&settings.email_claim),
        email_verified,
        name: text(&settings.name_claim),
        groups,
        claims,
    })
}

impl SsoService {
    /// The discovery document of a connection (cached).
    pub(super) async fn provider(
        &self,
        conn: &ConnRow,
        settings: &OidcSettings,
    ) -> Result<CoreProviderMetadata> {
        if let Some(m) = self.oidc.get(&conn.id, &settings.issuer) {
            return Ok(m);
        }
        let meta = discover(&self.oidc_http, &settings.issuer)
            .await
            .map_err(|e| Error::invalid("issuer", e))?;
        self.oidc.put(&conn.id, &settings.issuer, meta.clone());
        Ok(meta)
    }

    /// Builds the authorization URL and stores the sign-in in flight.
    pub(super) async fn start_oidc(
        &self,
        conn: &ConnRow,
        flight: &Flight<'_>,
        public_url: &str,
    ) -> Result<String> {
        let settings = conn.oidc()?;
        let meta = self.provider(conn, &settings).await?;
        let secret = self.client_secret(conn)?;
        let client = client(
            meta,
            &settings,
            secret,
            super::redirect_uri(public_url, &conn.slug),
        )?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in settings
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty() && *s != "openid")
        {
            req = req.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        self.insert_request(
            conn,
            state.secret(),
            flight,
            Some(nonce.secret()),
            Some(verifier.secret()),
        )
        .await?;
        Ok(url.to_string())
    }

    /// The redirect back from the IdP: state → the sign-in in flight of this
    /// browser, code → tokens, ID token → checked claims → admission.
    pub async fn oidc_callback(
        &self,
        slug: &SsoSlug,
        params: &Callback,
        browser: Option<&str>,
        meta: RequestMeta,
        public_url: &str,
    ) -> Result<Finished> {
        self.check_throttle(&meta).await?;
        let conn = self.conn_of_kind(slug, SsoKind::Oidc).await?;
        let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            return self
                .refuse_early(
                    &conn,
                    None,
                    &meta,
                    Refusal::Expired,
                    "callback without state",
                )
                .await;
        };
        let request = match self
            .take_or_refuse(&conn, state, browser, false, &meta)
            .await?
        {
            Ok(r) => r,
            Err(refused) => return Ok(refused),
        };
        if let Some(err) = &params.error {
            let detail = format!(
                "the IdP answered {err}{}",
                params
                    .error_description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            return self
                .refuse_early(&conn, Some(&request), &meta, Refusal::IdpError, &detail)
                .await;
        }
        if !conn.enabled && request.purpose != Purpose::Test {
            return self
                .refuse_early(
                    &conn,
                    Some(&request),
                    &meta,
                    Refusal::NoConnection,
                    "connection disabled",
                )
                .await;
        }
        match self.redeem(&conn, &request, params, public_url).await? {
            Ok(asserted) => self.finish(&conn, &request, &asserted, meta).await,
            Err(detail) => {
                self.refuse_early(&conn, Some(&request), &meta, Refusal::Invalid, &detail)
                    .await
            }
        }
    }

    /// Code → tokens → verified ID token. `Ok(Err(reason))` when the IdP's
    /// answer does not verify (the reason goes to the audit log).
    async fn redeem(
        &self,
        conn: &ConnRow,
        request: &InFlight,
        params: &Callback,
        public_url: &str,
    ) -> Result<std::result::Result<Asserted, String>> {
        let settings = conn.oidc()?;
        let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(Err("callback without code".into()));
        };
        // RFC 9207: an `iss` in the response must be this IdP's.
        if let Some(iss) = &params.iss {
            if *iss != settings.issuer {
                return Ok(Err(format!(
                    "authorization response from issuer {iss:?}, expected {:?}",
                    settings.issuer
                )));
            }
        }
        let meta = match self.provider(conn, &settings).await {
            Ok(m) => m,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let secret = self.client_secret(conn)?;
        let client = client(
            meta.clone(),
            &settings,
            secret.clone(),
            super::redirect_uri(public_url, &conn.slug),
        )?;
        let verifier = self
            .open_verifier(request)?
            .ok_or_else(|| Error::Internal("sign-in without PKCE verifier".into()))?;
        let nonce = Nonce::new(request.nonce.clone().unwrap_or_default());
        let exchange = match client.exchange_code(AuthorizationCode::new(code.to_owned())) {
            Ok(x) => x,
            Err(e) => return Ok(Err(format!("the IdP has no token endpoint: {e}"))),
        };
        let token = match exchange
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.oidc_http)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                let mut msg = format!("token request failed: {e}");
                if let openidconnect::RequestTokenError::ServerResponse(r) = &e {
                    msg.push_str(&format!(" ({})", r.error()));
                }
                return Ok(Err(msg));
            }
        };
        let Some(id_token) = token.id_token() else {
            return Ok(Err("the token response has no ID token".into()));
        };
        let first = verifier_for(client.id_token_verifier());
        let verified = match id_token.claims(&first, &nonce) {
            Ok(_) => Ok(()),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The IdP may have rotated its keys: fetch the JWKS again,
                // once, rate-limited per connection.
                if !self.oidc.may_refetch_jwks(&conn.id) {
                    Err("the ID token's signing key is unknown (the JWKS was re-fetched less than a minute ago)".to_owned())
                } else {
                    match CoreJsonWebKeySet::fetch_async(meta.jwks_uri(), &self.oidc_http).await {
                        Err(e) => Err(format!("re-fetching the JWKS failed: {e}")),
                        Ok(jwks) => {
                            let fresh = meta.clone().set_jwks(jwks.clone());
                            self.oidc.put(&conn.id, &settings.issuer, fresh);
                            let v = verifier_for(CoreIdTokenVerifier::new_confidential_client(
                                ClientId::new(settings.client_id.clone()),
                                ClientSecret::new(secret),
                                meta.issuer().clone(),
                                jwks,
                            ));
                            id_token
                                .claims(&v, &nonce)
                                .map(|_| ())
                                .map_err(|e| format!("ID token refused after a JWKS re-fetch: {e}"))
                        }
                    }
                }
            }
            Err(e) => Err(format!("ID token refused: {e}")),
        };
        if let Err(reason) = verified {
            return Ok(Err(reason));
        }
        // The signature covered exactly these bytes: read every claim from
        // them, through the connection's claim names.
        let compact = id_token.to_string();
        let payload = compact
            .split('.')
            .nth(1)
            .and_then(|p| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let Some(payload) = payload else {
            return Ok(Err("the ID token payload is not JSON".into()));
        };
        let asserted = asserted_from(&payload, &settings)?;
        if asserted.subject.is_empty() {
            return Ok(Err("the ID token has no sub".into()));
        }
        Ok(Ok(asserted))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Claims are read through the configured names; `email_verified` as a
    /// string counts; groups may be one string.
    #[test]
    fn sso_oidc_claims_through_configured_names() {
        let settings = OidcSettings {
            email_claim: "mail".into(),
            name_claim: "name".into(),
            groups_claim: "roles".into(),
            ..Default::default()
        };
        let payload = serde_json::json!({
            "sub": "u1", "mail": "a@acme.test", "email_verified": "true",
            "name": "A\u{7}lice", "roles": "admins", "email": "other@evil.test"
        });
        let a = asserted_from(&payload, &settings).unwrap();
        assert_eq!(a.subject, "u1");
        assert_eq!(a.email.as_deref(), Some("a@acme.test"));
        assert!(a.email_verified);
        assert_eq!(a.name.as_deref(), Some("Alice"));
        assert_eq!(a.groups, vec!["admins".to_owned()]);
        assert!(a
            .claims
            .iter()
            .any(|(k, v)| k == "email" && v == "other@evil.test"));
    }

    /// One JWKS re-fetch per interval per connection.
    #[test]
    fn sso_oidc_jwks_refetch_is_rate_limited() {
        let cache = ProviderCache::default();
        assert!(cache.may_refetch_jwks("c1"));
        // Unknown connections are not cached, so this needs an entry to limit.
        let meta: CoreProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.test",
            "authorization_endpoint": "https://idp.test/auth",
            "jwks_uri": "https://idp.test/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]
        }))
        .unwrap();
        cache.put("c1", "https://idp.test", meta);
        assert!(cache.may_refetch_jwks("c1"));
        assert!(!cache.may_refetch_jwks("c1"));
        assert!(cache.may_refetch_jwks("c2"));
    }
}
