//! Typed values of the OAuth area: ids, stored enums (strict decoding),
//! protocol errors, scopes, and the inputs and answers of the service
//! (authorization and token requests, the consent screen, the person's own
//! view). The validation rules for redirect URIs, PKCE and display text
//! (RFC 6749, RFC 7636, RFC 8252 §7.3, OAuth 2.1 §4.1) are in `checks`.

mod checks;

pub use checks::*;

use crate::error::Error;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An OAuth `client_id`: `cli_…` for clients registered here, or the
/// https URL of a client ID metadata document (CIMD).
pub use portcullis_types::ClientId;

/// A grant (one authorization and the tokens issued from it): `ogr_…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantId(pub String);

/// How a client came to be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Created by an admin (Clients page or `portcullis client create`).
    Preregistered,
    /// Registered itself (RFC 7591); its metadata is self-asserted.
    Dcr,
    /// Known by its client ID metadata document URL.
    Cimd,
    /// An agent's credential (see [`crate::agents`]): the client id is the
    /// agent's id; it gets tokens with `client_credentials` only. Never
    /// stored: the row is `preregistered` and read as this when an agent
    /// owns it.
    Agent,
}

/// A client's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Active,
    /// Waiting for an admin's approval: no tokens.
    Pending,
    /// Blocked by an admin: no tokens, live ones refused.
    Blocked,
    /// Removed for being unused: its next request is `invalid_client`.
    Reaped,
}

/// How a client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client (PKCE only).
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

macro_rules! stored_enum {
    ($t:ty, $what:literal, $($v:ident => $s:literal),+ $(,)?) => {
        impl $t {
            /// The stored (and wire) name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            /// Strict: an unknown stored value is an error, never a default.
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)+
                    other => Err(format!("unknown {} {other:?}", $what)),
                }
            }
        }
    };
}

stored_enum!(ClientKind, "client kind", Preregistered => "preregistered", Dcr => "dcr", Cimd => "cimd", Agent => "agent");
stored_enum!(ClientStatus, "client status", Active => "active", Pending => "pending", Blocked => "blocked", Reaped => "reaped");
stored_enum!(AuthMethod, "token endpoint auth method", None => "none", ClientSecretBasic => "client_secret_basic", ClientSecretPost => "client_secret_post", PrivateKeyJwt => "private_key_jwt");

/// The error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 8707 and RFC 7591 §3.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    InvalidTarget,
    InvalidRedirectUri,
    InvalidClientMetadata,
    TemporarilyUnavailable,
    /// Too many requests (answered 429; not an RFC 6749 code).
    SlowDown,
}

impl ErrorCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::SlowDown => "slow_down",
        }
    }
}

/// A protocol error as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    /// Human-readable, safe to show the client (never a secret or an
    /// internal message).
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// A failed OAuth operation: a protocol error for the client, or a domain
/// error (storage, bug) for the edge to map.
#[derive(Debug)]
pub enum Failure {
    Protocol(OAuthError),
    Domain(crate::Error),
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Failure::Domain(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Domain(e.into())
    }
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::Protocol(e)
    }
}

/// Shorthand for a protocol failure.
pub fn fail<T>(code: ErrorCode, description: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Protocol(OAuthError::new(code, description)))
}

/// The scope that asks for refresh tokens.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A set of scopes: sorted, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(pub std::collections::BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated `scope` (RFC 6749 §3.3); each token must be
    /// printable ASCII without `"` or `\`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut set = std::collections::BTreeSet::new();
        for t in s.split(' ').filter(|t| !t.is_empty()) {
            if t.len() > 200
                || !t
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
            {
                return Err(format!("{t:?} is not a valid scope"));
            }
            set.insert(t.to_owned());
        }
        if set.len() > 50 {
            return Err("more than 50 scopes".into());
        }
        Ok(Self(set))
    }

    /// The wire form: space-separated, sorted.
    pub fn to_wire(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    pub fn contains(&self, s: &str) -> bool {
        self.0.contains(s)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` not in `other`.
    pub fn minus(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.difference(&other.0).cloned().collect())
    }

    pub fn union(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.union(&other.0).cloned().collect())
    }
}

/// A client as the authorization server needs it.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: ClientId,
    pub kind: ClientKind,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    pub secret_hash: Option<String>,
    pub status: ClientStatus,
    /// `private_key_jwt`: the registered public keys (a JWKS document)…
    pub jwks: Option<String>,
    /// …or where to fetch them.
    pub jwks_uri: Option<String>,
}

/// An authorization request, checked (RFC 6749 §4.1.1 with PKCE, RFC 8707
/// `resource`), waiting for the person to sign in and consent.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    pub client: Client,
    pub redirect_uri: String,
    pub server_id: String,
    pub server_name: String,
    pub resource: String,
    pub scope: Scopes,
    pub state: Option<String>,
}

/// Where an authorization ends: the redirect back to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub url: String,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Introspection answer (RFC 7662 §2.2).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// A delegated token's actor chain (RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<portcullis_policy::token::Act>,
}

/// Client authentication presented at the token, revocation endpoints.
#[derive(Clone, Debug, Default)]
pub struct ClientAuth {
    /// From `Authorization: Basic` (already URL-decoded per RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    /// The `client_id` form field.
    pub client_id: Option<String>,
    /// The `client_secret` form field.
    pub client_secret: Option<String>,
    /// `client_assertion_type` (RFC 7523 §2.2).
    pub assertion_type: Option<String>,
    /// `client_assertion`: a JWT signed with the client's key.
    pub assertion: Option<String>,
}

/// A dynamic registration request (RFC 7591 §2); only the fields used.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    #[serde(default)]
    pub software_id: Option<String>,
    #[serde(default)]
    pub software_version: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// A pre-registered client to create (admin, CLI).
#[derive(Clone, Debug, Default)]
pub struct CreateClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// A confidential client gets a secret (shown once).
    pub confidential: bool,
    /// A confidential client that authenticates with `private_key_jwt`
    /// instead of a secret: its public keys.
    pub keys: Option<ClientKeys>,
}

/// The public keys of a `private_key_jwt` client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeys {
    /// A JWKS document (public keys only).
    Jwks(String),
    /// An https URL serving the JWKS (fetched through the SSRF guard).
    JwksUri(String),
}

/// A client just created: its id and, for a confidential client, the
/// secret (shown once, never stored in the clear).
#[derive(Clone, Debug, Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

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
    /// The jwt-bearer grant's assertion (an ID-JAG).
    #[serde(default)]
    pub assertion: Option<String>,
    /// RFC 8693 token exchange (an agent acting for a person).
    #[serde(default)]
    pub subject_token: Option<String>,
    #[serde(default)]
    pub subject_token_type: Option<String>,
    #[serde(default)]
    pub requested_token_type: Option<String>,
    #[serde(default)]
    pub actor_token: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored enums decode strictly.
    #[test]
    fn oauth_stored_enums_strict() {
        assert_eq!("dcr".parse::<ClientKind>(), Ok(ClientKind::Dcr));
        assert!("DCR".parse::<ClientKind>().is_err());
        assert!("".parse::<ClientStatus>().is_err());
        assert!("secret".parse::<AuthMethod>().is_err());
    }
}
