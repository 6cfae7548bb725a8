//! Typed values of the OAuth area: ids, stored enums (strict decoding),
//! protocol errors, and the validation rules for redirect URIs, PKCE and
//! scopes (RFC 6749, RFC 7636, RFC 8252 §7.3, OAuth 2.1 §4.1).

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::fmt;

/// An OAuth `client_id`: `cli_…` for clients registered here, or the
/// https URL of a client ID metadata document (CIMD).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientId(pub String);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

stored_enum!(ClientKind, "client kind", Preregistered => "preregistered", Dcr => "dcr", Cimd => "cimd");
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

/// Where a redirect URI points, which decides how it may be registered and
/// matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https://…`
    Https,
    /// `http://127.0.0.1…`, `http://[::1]…` or `http://localhost…` (RFC 8252
    /// §7.3): the port may vary at authorization time.
    Loopback,
    /// A private-use scheme (`cursor://…`, RFC 8252 §7.1), only from the
    /// allowlist.
    Custom,
}

/// The loopback hosts whose redirect port may vary.
const LOOPBACK_PREFIXES: [&str; 3] = ["http://127.0.0.1", "http://[::1]", "http://localhost"];

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;

/// Checks a redirect URI a client registers. `custom_schemes` is the
/// allowlist of private-use schemes.
pub fn check_redirect_uri(uri: &str, custom_schemes: &[String]) -> Result<RedirectKind, String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err("longer than 2,000 characters".into());
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("contains spaces or control characters".into());
    }
    let parsed = url::Url::parse(uri).map_err(|e| format!("not a URL ({e})"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not have a fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(RedirectKind::Https),
        "http" if loopback_rest(uri).is_some() => Ok(RedirectKind::Loopback),
        "http" => Err("http is allowed only for loopback (127.0.0.1, [::1], localhost)".into()),
        s if custom_schemes.iter().any(|c| c.eq_ignore_ascii_case(s)) => Ok(RedirectKind::Custom),
        s => Err(format!(
            "the scheme {s:?} is not allowed (https, loopback http, or an allowed app scheme)"
        )),
    }
}

/// For a loopback redirect URI: (host prefix, the part after the port).
fn loopback_rest(uri: &str) -> Option<(&'static str, &str)> {
    for p in LOOPBACK_PREFIXES {
        let Some(rest) = uri.strip_prefix(p) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(r) => {
                let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &r[digits..]
            }
            None => rest,
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some((p, rest));
        }
    }
    None
}

/// The key that makes registrations of the same app one group on the
/// Clients page: the name (trimmed, lower case), the redirect URIs with
/// loopback ports left out (a native app picks a new port per run) and
/// sorted, and the software id. Hex SHA-256, 32 characters.
pub fn duplicate_key(name: &str, redirect_uris: &[String], software_id: Option<&str>) -> String {
    use sha2::Digest;
    let mut uris: Vec<String> = redirect_uris
        .iter()
        .map(|u| match loopback_rest(u) {
            Some((host, rest)) => format!("{host}{rest}"),
            None => u.clone(),
        })
        .collect();
    uris.sort();
    uris.dedup();
    let material = serde_json::json!([name.trim().to_lowercase(), uris, software_id]).to_string();
    let digest = sha2::Sha256::digest(material.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Whether `requested` is one of `registered` (RFC 9700 §4.1.3: exact
/// string comparison), except that a loopback redirect may name another
/// port (RFC 8252 §7.3). Case, trailing slash, query, fragment and userinfo
/// variants never match.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    if requested.contains('#') || requested.contains('@') {
        return false;
    }
    registered.iter().any(|r| {
        r == requested
            || match (loopback_rest(r), loopback_rest(requested)) {
                (Some((hr, rr)), Some((hq, rq))) => hr == hq && rr == rq,
                _ => false,
            }
    })
}

/// Checks a PKCE `code_challenge` (RFC 7636 §4.2: base64url of a SHA-256,
/// 43 characters; accepted up to 128 of the verifier alphabet).
pub fn check_code_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 §4.1) hashes to `challenge` with S256.
pub fn pkce_verifies(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    if !(43..=128).contains(&verifier.len())
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Cleans an untrusted display string (client name): no control
/// characters, trimmed, at most `max` characters.
pub fn clean_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn duplicate_key_ignores_loopback_ports_case_and_order() {
        let a = duplicate_key(
            "Claude Code",
            &[
                "http://localhost:53121/callback".into(),
                "https://app.example/cb".into(),
            ],
            None,
        );
        let b = duplicate_key(
            " claude code",
            &[
                "https://app.example/cb".into(),
                "http://localhost:61000/callback".into(),
            ],
            None,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert_ne!(
            a,
            duplicate_key(
                "Claude Code",
                &[
                    "http://localhost:1/other".into(),
                    "https://app.example/cb".into()
                ],
                None
            )
        );
        assert_ne!(
            a,
            duplicate_key(
                "Claude Code",
                &[
                    "http://localhost:1/callback".into(),
                    "https://app.example/cb".into()
                ],
                Some("x")
            )
        );
        assert_ne!(
            a,
            duplicate_key(
                "Cursor",
                &[
                    "http://localhost:1/callback".into(),
                    "https://app.example/cb".into()
                ],
                None
            )
        );
    }

    /// Exact match only; loopback may vary only its port.
    #[test]
    fn oauth_redirect_exact_match_loopback_port_varies() {
        let r = reg(&["https://app.example/cb", "http://127.0.0.1:3333/callback"]);
        assert!(redirect_matches(&r, "https://app.example/cb"));
        for bad in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/CB",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://user@app.example/cb",
            "https://app.example:444/cb",
            "https://app.example.evil/cb",
            "http://app.example/cb",
        ] {
            assert!(!redirect_matches(&r, bad), "{bad}");
        }
        assert!(redirect_matches(&r, "http://127.0.0.1:51234/callback"));
        assert!(redirect_matches(&r, "http://127.0.0.1/callback"));
        for bad in [
            "http://127.0.0.1:51234/callback/",
            "http://127.0.0.1:51234/other",
            "http://localhost:51234/callback",
            "http://127.0.0.1:51234/callback?x",
            "http://127.0.0.1.evil.test/callback",
            "http://127.0.0.1:1@evil.test/callback",
        ] {
            assert!(!redirect_matches(&r, bad), "{bad}");
        }
    }

    /// Registration accepts https, loopback http and allowed app schemes.
    #[test]
    fn oauth_redirect_registration_rules() {
        let schemes = reg(&["cursor"]);
        assert_eq!(
            check_redirect_uri("https://a.example/cb", &schemes),
            Ok(RedirectKind::Https)
        );
        assert_eq!(
            check_redirect_uri("http://localhost:8080/cb", &schemes),
            Ok(RedirectKind::Loopback)
        );
        assert_eq!(
            check_redirect_uri("cursor://anysphere.cursor-mcp/oauth/callback", &schemes),
            Ok(RedirectKind::Custom)
        );
        for bad in [
            "http://a.example/cb",
            "https://a.example/cb#x",
            "https://u:p@a.example/cb",
            "javascript:alert(1)",
            "evil://x",
            "https://a.example/c b",
            "not a url",
        ] {
            assert!(check_redirect_uri(bad, &schemes).is_err(), "{bad}");
        }
    }

    /// S256 only: the verifier must hash to the challenge.
    #[test]
    fn oauth_pkce_s256() {
        // The challenge computed independently (Python's hashlib + base64).
        let v = "dBjftJeZ4CVP-mJ92K9sDEtFQ4lGgmzCE5wQpBgsnYs";
        let c = "Et6PXEOJiu7L8HjxelTr7BSyuD_0uNlv4k1zmlvvYaI";
        assert!(check_code_challenge(c));
        assert!(pkce_verifies(v, c));
        assert!(!pkce_verifies(c, c), "plain (verifier = challenge) refused");
        assert!(!pkce_verifies("short", c));
        assert!(!check_code_challenge("short"));
    }

    /// Stored enums decode strictly.
    #[test]
    fn oauth_stored_enums_strict() {
        assert_eq!("dcr".parse::<ClientKind>(), Ok(ClientKind::Dcr));
        assert!("DCR".parse::<ClientKind>().is_err());
        assert!("".parse::<ClientStatus>().is_err());
        assert!("secret".parse::<AuthMethod>().is_err());
    }
}
