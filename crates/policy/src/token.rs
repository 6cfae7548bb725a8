//! OAuth access tokens the console issues to MCP clients (RFC 9068 JWT
//! profile), and their verification — the same code for the console's
//! introspection endpoint and for gateways.
//!
//! A token is a compact JWS: `alg` `EdDSA`, `typ` [`ACCESS_TOKEN_TYPE`],
//! `kid` naming a key of the console's JWKS. [`verify_access_token`]
//! accepts it only if
//! - the header says `EdDSA` and `at+jwt` (so a signed policy bundle or
//!   delta, whose `typ` differs, is never a token, and no `none` or HMAC
//!   token is accepted whatever key it names);
//! - the key is in the JWKS and the signature verifies;
//! - `iss` is the console's issuer exactly, `aud` is exactly the resource
//!   the caller serves (a token for server A is refused at server B), and
//!   it has not expired (a small, fixed leeway for clock skew).

use crate::signed::Verifier;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

/// The JWS `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Seconds of clock skew tolerated on `exp`.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The console's issuer URL.
    pub iss: String,
    /// The person's principal id as in the policy bundle (`usr_…`).
    pub sub: String,
    /// The MCP server's resource URL (RFC 8707).
    pub aud: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes (may be empty).
    pub scope: String,
    /// Unique token id.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The grant (refresh-token family) the token belongs to; revoking the
    /// grant makes introspection call the token inactive.
    pub sid: String,
    /// RFC 8693 §4.1: the agent acting for `sub` (a delegated token), with
    /// the agents it acts for nested inside. Absent on a token a person's
    /// client or an agent got for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
}

/// An actor (RFC 8693 §4.1): `sub` acts, for whoever the nested `act`
/// names (or the token's `sub` when none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

impl AccessClaims {
    /// The agents of the `act` chain, outermost (the one calling) first;
    /// empty for a token that is not delegated. Stops after `limit + 1`
    /// entries, so a deep chain costs no more than is needed to refuse it.
    pub fn actor_chain(&self, limit: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut next = self.act.as_ref();
        while let Some(a) = next {
            out.push(a.sub.as_str());
            if out.len() > limit {
                break;
            }
            next = a.act.as_deref();
        }
        out
    }
}

/// Why a token was refused. Deliberately coarse: a resource server answers
/// `invalid_token` whatever the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("algorithm not accepted (only EdDSA)")]
    Algorithm,
    #[error("not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("signed with an unknown key")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("issued by another issuer")]
    WrongIssuer,
    #[error("issued for another resource")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("claims missing or malformed")]
    Claims,
}

/// Verifies an access token for the resource `audience`, issued by `issuer`.
pub fn verify_access_token(
    verifier: &Verifier,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Algorithm);
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err(TokenError::WrongType);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = verifier.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.leeway = LEEWAY_SECONDS;
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    match jsonwebtoken::decode::<AccessClaims>(token, key, &v) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            jsonwebtoken::errors::ErrorKind::InvalidAudience => TokenError::WrongAudience,
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Claims,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::signed::SigningKey;

    fn setup() -> (SigningKey, Verifier) {
        let key = SigningKey::from_seed("k1", &[7u8; 32]);
        let jwks = serde_json::json!({ "keys": [key.public_jwk().unwrap()] }).to_string();
        (key, Verifier::from_jwks(&jwks).unwrap())
    }

    fn claims(aud: &str, exp: i64) -> AccessClaims {
        AccessClaims {
            act: None,
            iss: "https://pc.example".into(),
            sub: "usr_1".into(),
            aud: aud.into(),
            client_id: "cli_1".into(),
            scope: "".into(),
            jti: "at_1".into(),
            iat: exp - 600,
            exp,
            sid: "ogr_1".into(),
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// A token verifies for its own audience and issuer, and for nothing else.
    #[test]
    fn token_audience_issuer_expiry_checked() {
        let (key, verifier) = setup();
        let a = "https://mcp.example/a";
        let t = key
            .sign_claims(&claims(a, now() + 600), ACCESS_TOKEN_TYPE)
            .unwrap();
        let got = verify_access_token(&verifier, &t, "https://pc.example", a).unwrap();
        assert_eq!(got.sub, "usr_1");
        assert_eq!(
            verify_access_token(&verifier, &t, "https://pc.example", "https://mcp.example/b"),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            verify_access_token(&verifier, &t, "https://evil.example", a),
            Err(TokenError::WrongIssuer)
        );
        let old = key
            .sign_claims(&claims(a, now() - 120), ACCESS_TOKEN_TYPE)
            .unwrap();
        assert_eq!(
            verify_access_token(&verifier, &old, "https://pc.example", a),
            Err(TokenError::Expired)
        );
    }

    /// And the other way round: a token is never accepted as a bundle.
    #[test]
    fn token_is_never_a_bundle() {
        let (key, verifier) = setup();
        let t = key
            .sign_claims(
                &claims("https://mcp.example/a", now() + 600),
                ACCESS_TOKEN_TYPE,
            )
            .unwrap();
        assert!(matches!(
            verifier.verify(t.as_bytes()),
            Err(crate::signed::LoadError::WrongType(..))
        ));
    }

    /// A bundle signed by the same console is not a token, and a token with
    /// `alg: none` or HMAC is refused.
    #[test]
    fn token_other_types_and_algorithms_refused() {
        let (key, verifier) = setup();
        let a = "https://mcp.example/a";
        let bundle_typed = key
            .sign_claims(&claims(a, now() + 600), crate::signed::JWS_TYPE)
            .unwrap();
        assert_eq!(
            verify_access_token(&verifier, &bundle_typed, "https://pc.example", a),
            Err(TokenError::WrongType)
        );
        use base64::Engine;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let body = serde_json::to_value(claims(a, now() + 600)).unwrap();
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"at+jwt","kid":"k1"})),
            b64(&body)
        );
        assert!(verify_access_token(&verifier, &none, "https://pc.example", a).is_err());
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.typ = Some(ACCESS_TOKEN_TYPE.into());
        h.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(&h, &body, &jsonwebtoken::EncodingKey::from_secret(b"k1"))
            .unwrap();
        assert_eq!(
            verify_access_token(&verifier, &hs, "https://pc.example", a),
            Err(TokenError::Algorithm)
        );
        // Right kid, another key.
        let other = SigningKey::from_seed("k1", &[9u8; 32]);
        let forged = other
            .sign_claims(&claims(a, now() + 600), ACCESS_TOKEN_TYPE)
            .unwrap();
        assert_eq!(
            verify_access_token(&verifier, &forged, "https://pc.example", a),
            Err(TokenError::BadSignature)
        );
    }
}
