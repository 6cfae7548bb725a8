//! Enterprise-managed authorization: the Identity Assertion JWT
//! Authorization Grant (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant,
//! the grant of MCP's enterprise-managed authorization extension). An MCP
//! client that holds an ID-JAG from the company's IdP presents it at the
//! token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//! RFC 7523 §2.1) and gets an access token for the person it names, with
//! no consent screen: the IdP decides which app may ask, Portcullis's
//! policy decides which tools.
//!
//! Checked in [`verify`] (pure, so each rule has a unit test): the header's
//! `typ` is `oauth-id-jag+jwt`; the algorithm is an asymmetric one of the
//! allowlist (never `none`, never HMAC: a public key set cannot verify an
//! HMAC, and accepting one would let anyone who knows the public key
//! forge); the key is the one `kid` names; `iss` is the trusted issuer;
//! `aud` is this authorization server's issuer, alone; `sub`, `client_id`,
//! `jti`, `resource`, `exp` and `iat` are present; it has not expired, was
//! not issued in the future and lives at most [`MAX_LIFETIME_SECS`]. The
//! grant then checks, against the request and the database: `client_id` is
//! the authenticated client; `resource` (if the request names one) is the
//! assertion's, and an enabled server of the catalog; the `jti` was never
//! used (kept until expiry); the person is in the trusting connection's
//! directory, active, and granted at least one tool of that server by the
//! current policy. Scopes: every asserted one must be the server's; the
//! token gets the asserted ones that were asked for (all of them when none
//! are asked). Every mismatch is `invalid_grant`, with the reason in the
//! description (the MCP profile's §7.6.2). The `jti` is kept per issuer
//! until `exp`.
//! The signature work is `jsonwebtoken`'s; the claim rules are written out
//! here because they are the security boundary.

use super::assertion::{self, MAX_ASSERTION_BYTES};
use super::model::{
    fail, Client, ErrorCode, Failure, OAuthError, Scopes, TokenParams, TokenResponse,
    OFFLINE_ACCESS,
};
use super::{internal, store, OAuthService};
use crate::actor::Actor;
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use chrono::{DateTime, Duration};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::json;

/// The grant type an ID-JAG is presented with (RFC 7523 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The profile advertised in the server metadata
/// (`authorization_grant_profiles_supported`, the draft's §7.2).
pub const GRANT_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
/// The JOSE `typ` of an ID-JAG.
pub const TYP: &str = "oauth-id-jag+jwt";
/// The furthest `exp` accepted, from now (IdPs issue them for minutes; the
/// replay store keeps each `jti` until its `exp`).
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew allowed on `exp` and `iat`.
const LEEWAY_SECS: i64 = 30;

/// The claims of a verified ID-JAG.
#[derive(Clone, Debug, Deserialize)]
pub struct IdJag {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub jti: String,
    pub exp: i64,
    pub iat: i64,
    pub resource: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    aud: serde_json::Value,
}

/// The `iss` an ID-JAG claims, unverified: which trusted issuer's keys to
/// check it with. `None` when it is not a JWT with a string `iss`.
pub fn claimed_issuer(jwt: &str) -> Option<String> {
    assertion::claimed_client(jwt)
}

/// Verifies `jwt` as an ID-JAG of `issuer` (checked with `keys`) for this
/// authorization server (`audience`, its issuer identifier) at `now`. `Err`
/// says which rule failed, for the `invalid_grant` description.
pub fn verify(
    jwt: &str,
    keys: &JwkSet,
    issuer: &str,
    audience: &str,
    now: i64,
) -> std::result::Result<IdJag, String> {
    if jwt.len() > MAX_ASSERTION_BYTES {
        return Err("the assertion is too large".into());
    }
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("header: {e}"))?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(TYP))
    {
        return Err(format!("the header's typ must be {TYP}"));
    }
    let key = assertion::verifying_key(&header, keys)?;
    let mut v = Validation::new(header.alg);
    // Time is checked below against the service's clock; `aud` too (it
    // must name this server alone, not be one of several).
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<IdJag>(jwt, &key, &v)
        .map_err(|e| format!("claims: {e}"))?
        .claims;
    let aud_ok = match &claims.aud {
        serde_json::Value::String(a) => a == audience,
        serde_json::Value::Array(a) => a.len() == 1 && a[0].as_str() == Some(audience),
        _ => false,
    };
    if !aud_ok {
        return Err(format!(
            "aud must be this authorization server's issuer ({audience})"
        ));
    }
    if claims.sub.is_empty() || claims.client_id.is_empty() || claims.resource.is_empty() {
        return Err("sub, client_id and resource must not be empty".into());
    }
    if claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err("jti is missing or too long".into());
    }
    if claims.exp + LEEWAY_SECS < now {
        return Err("the ID-JAG has expired".into());
    }
    if claims.iat > now + LEEWAY_SECS {
        return Err("iat is in the future".into());
    }
    if claims.exp > now + MAX_LIFETIME_SECS {
        return Err(format!("exp is more than {MAX_LIFETIME_SECS} seconds away"));
    }
    Ok(claims)
}

/// An `invalid_grant` refusal.
fn refuse<T>(why: impl Into<String>) -> std::result::Result<T, Failure> {
    fail(ErrorCode::InvalidGrant, why)
}

impl OAuthService {
    /// The jwt-bearer grant with an ID-JAG (see the module documentation),
    /// for an authenticated client of a person (not an agent). No refresh
    /// token: the client asks its IdP for a fresh ID-JAG instead, so the
    /// IdP's decision is asked again.
    pub(super) async fn id_jag(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> std::result::Result<TokenResponse, Failure> {
        let Some(jwt) = p.assertion.as_deref().filter(|a| !a.is_empty()) else {
            return fail(
                ErrorCode::InvalidRequest,
                "assertion is missing (the ID-JAG)",
            );
        };
        let Some(enterprise) = self.enterprise.get() else {
            return Err(Failure::Domain(internal("ID-JAG support is not wired")));
        };
        let issuer = Self::issuer(public_url);
        let Some(claimed) = claimed_issuer(jwt) else {
            return refuse("the assertion is not a JWT with an issuer");
        };
        let Some(mut trusted) = enterprise.sso.id_jag_issuer(&claimed, false).await? else {
            return refuse(format!(
                "no SSO connection accepts ID-JAGs from the issuer {claimed:?}"
            ));
        };
        let now = self.now();
        let mut checked = verify(jwt, &trusted.keys, &claimed, &issuer, now.timestamp());
        if matches!(&checked, Err(why) if why.contains("kid")) {
            // The IdP may have rotated its keys.
            if let Some(t) = enterprise.sso.id_jag_issuer(&claimed, true).await? {
                trusted = t;
                checked = verify(jwt, &trusted.keys, &claimed, &issuer, now.timestamp());
            }
        }
        let jag = match checked {
            Ok(j) => j,
            Err(why) => {
                tracing::info!(client = %client.id, issuer = %claimed, reason = %why, "ID-JAG refused");
                return refuse(format!("the ID-JAG was refused: {why}"));
            }
        };
        if jag.client_id != client.id.0 {
            return refuse("the ID-JAG was issued for another client (client_id)");
        }
        if p.resource.as_deref().is_some_and(|r| r != jag.resource) {
            return refuse("resource differs from the ID-JAG's resource");
        }
        let Some((server_id, server_name, scopes_json)) =
            store::find_enabled_server(self.core.db.exec(), &jag.resource).await?
        else {
            return refuse("the ID-JAG's resource is not an enabled MCP server of this catalog");
        };
        let scope = granted_scopes(p.scope.as_deref(), jag.scope.as_deref(), &scopes_json)?;
        // The jti is spent now, before the checks that read the directory
        // and the policy: a valid assertion is used once, whatever follows.
        let expires = DateTime::from_timestamp(jag.exp, 0).unwrap_or(now) + Duration::seconds(60);
        let mut tx = self.core.db.begin().await?;
        let replay_key = format!("id-jag {} {}", jag.iss, jag.jti);
        if !store::use_assertion_jti(&mut tx, &client.id.0, &replay_key, expires).await? {
            return refuse("this ID-JAG was already used (jti)");
        }
        tx.commit().await?;
        let person = enterprise
            .sso
            .id_jag_person(
                &trusted.connection_id,
                &jag.sub,
                jag.email.as_deref(),
                jag.email_verified.unwrap_or(false),
            )
            .await?;
        let (person_id, person_email) = match person {
            None => {
                return refuse(format!(
                    "the ID-JAG names nobody in the directory of the connection “{}”",
                    trusted.connection_name
                ))
            }
            Some((_, email, false)) => {
                return refuse(format!("{email} is deactivated"));
            }
            Some((id, email, true)) => (id, email),
        };
        let snapshot = enterprise.access.current().await?;
        if snapshot
            .policy
            .allowed_tools(&person_id, &server_id, now.timestamp())
            .next()
            .is_none()
        {
            return refuse(format!(
                "the access policy gives {person_email} no tool of {server_name}: the IdP allowed the app, Portcullis decides the tools"
            ));
        }
        let key = self.token_key().await?;
        let mut tx = self.core.db.begin().await?;
        let wire = scope.to_wire();
        let grant = match store::live_grant(tx.exec(), &client.id.0, &person_id, &server_id, &wire)
            .await?
        {
            Some(g) => g,
            None => {
                let id = new_id("ogr");
                store::insert_grant(
                    &mut tx,
                    &store::NewGrant {
                        id: &id,
                        client_id: &client.id.0,
                        person_id: &person_id,
                        server_id: &server_id,
                        resource: &jag.resource,
                        scope: &wire,
                    },
                    now,
                )
                .await?;
                store::find_grant(tx.exec(), &id)
                    .await?
                    .ok_or_else(|| internal("the grant just written is missing"))?
            }
        };
        if self.touched.due(&grant.id, now) {
            store::touch(&mut tx, &grant.client_id, &grant.id, now).await?;
        }
        let out = self.mint(&key, &grant, &scope, public_url, now, None)?;
        audit::append(
            &mut tx,
            now,
            &Actor::system("authorization server"),
            NewEvent::success("oauth.token.issued")
                .target(Target::new("oauth_client", &client.id.0, &client.name))
                .details(json!({
                    "grant_type": GRANT_TYPE,
                    "grant": grant.id,
                    "person": person_id,
                    "server": server_id,
                    "scope": wire,
                    "id_jag": {
                        "issuer": jag.iss,
                        "connection": trusted.connection_id,
                        "subject": jag.sub,
                        "jti": jag.jti,
                    },
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// The scopes of an ID-JAG's token: the asserted ones that were asked for
/// (every asserted one when none are), never `offline_access` (no refresh
/// token). An asserted scope the server does not declare refuses the
/// assertion (the MCP profile, §7.6.2): it was made for another server.
fn granted_scopes(
    asked: Option<&str>,
    asserted: Option<&str>,
    declared_json: &str,
) -> std::result::Result<Scopes, Failure> {
    let asserted = Scopes::parse(asserted.unwrap_or("")).map_err(|m| {
        Failure::Protocol(OAuthError::new(
            ErrorCode::InvalidGrant,
            format!("the ID-JAG's scope: {m}"),
        ))
    })?;
    let asked = asked
        .map(Scopes::parse)
        .transpose()
        .map_err(|m| Failure::Protocol(OAuthError::new(ErrorCode::InvalidScope, m)))?;
    let declared: Vec<String> = serde_json::from_str(declared_json).map_err(internal)?;
    if let Some(bad) = asserted
        .0
        .iter()
        .find(|s| *s != OFFLINE_ACCESS && !declared.contains(s))
    {
        return refuse(format!(
            "the ID-JAG's scope {bad:?} is not one this server declares"
        ));
    }
    Ok(Scopes(
        asserted
            .0
            .into_iter()
            .filter(|s| asked.as_ref().is_none_or(|a| a.contains(s)) && s != OFFLINE_ACCESS)
            .collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};

    // An Ed25519 key pair (test only).
    const PRIV_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILurNYK1K5TJCdEnXHBxgASRfNvGTia8ATfItwwM1t05\n-----END PRIVATE KEY-----\n";
    const NOW: i64 = 1_800_000_000;
    const IDP: &str = "https://idp.example";
    const AS: &str = "https://pc.example";

    fn keys() -> JwkSet {
        let enc = EncodingKey::from_ed_pem(PRIV_PEM.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::EdDSA).unwrap();
        jwk.common.key_id = Some("k1".into());
        JwkSet { keys: vec![jwk] }
    }

    fn sign(claims: &Value, typ: Option<&str>) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some("k1".into());
        h.typ = typ.map(str::to_owned);
        encode(
            &h,
            claims,
            &EncodingKey::from_ed_pem(PRIV_PEM.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn good() -> Value {
        json!({
            "iss": IDP, "sub": "u-1", "aud": AS, "client_id": "cli_a", "jti": "j1",
            "exp": NOW + 300, "iat": NOW, "resource": "https://mcp.example/a", "scope": "read",
        })
    }

    #[test]
    fn a_good_id_jag_verifies_and_each_rule_refuses() {
        let ok = verify(&sign(&good(), Some(TYP)), &keys(), IDP, AS, NOW).unwrap();
        assert_eq!((ok.sub.as_str(), ok.client_id.as_str()), ("u-1", "cli_a"));
        let mut one = good();
        one["aud"] = json!([AS]);
        assert!(verify(&sign(&one, Some(TYP)), &keys(), IDP, AS, NOW).is_ok());

        let err = |claims: &Value, typ: Option<&str>| {
            verify(&sign(claims, typ), &keys(), IDP, AS, NOW).unwrap_err()
        };
        assert!(err(&good(), None).contains("typ"));
        assert!(err(&good(), Some("JWT")).contains("typ"));
        let mut cases: Vec<(Value, &str)> = Vec::new();
        let mut c = good();
        c["aud"] = json!([AS, "https://other.example"]);
        cases.push((c, "aud must be"));
        let mut c = good();
        c["aud"] = json!("https://other.example");
        cases.push((c, "aud must be"));
        let mut c = good();
        c["iss"] = json!("https://evil.example");
        cases.push((c, "claims"));
        let mut c = good();
        c["iat"] = json!(NOW + 600);
        cases.push((c, "iat is in the future"));
        let mut c = good();
        c["exp"] = json!(NOW + 7200);
        cases.push((c, "exp is more than"));
        let mut c = good();
        c["exp"] = json!(NOW - 60);
        cases.push((c, "expired"));
        for field in ["client_id", "resource", "jti", "iat"] {
            let mut c = good();
            c.as_object_mut().unwrap().remove(field);
            cases.push((c, "claims"));
        }
        let mut c = good();
        c["sub"] = json!("");
        cases.push((c, "must not be empty"));
        for (claims, want) in cases {
            let e = err(&claims, Some(TYP));
            assert!(e.contains(want), "{claims}: {e}");
        }
    }

    #[test]
    fn scopes_are_the_asked_part_of_the_asserted_ones() {
        let declared = r#"["read","write"]"#;
        let got = |asked, asserted| granted_scopes(asked, asserted, declared);
        assert_eq!(
            got(Some("read admin"), Some("read write"))
                .unwrap()
                .to_wire(),
            "read"
        );
        assert_eq!(
            got(None, Some("read write")).unwrap().to_wire(),
            "read write"
        );
        assert_eq!(
            got(None, Some("read offline_access")).unwrap().to_wire(),
            "read"
        );
        assert_eq!(got(Some("write"), Some("read")).unwrap().to_wire(), "");
        match got(None, Some("read admin")) {
            Err(Failure::Protocol(e)) => {
                assert_eq!(e.code, ErrorCode::InvalidGrant);
                assert!(e.description.contains("\"admin\""), "{}", e.description);
            }
            other => panic!("{other:?}"),
        }
    }
}
