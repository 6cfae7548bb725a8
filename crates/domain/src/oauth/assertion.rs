//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, as
//! profiled by OpenID Connect Core §9): the client signs a short JWT with a
//! key whose public half an admin registered (a JWKS, or a JWKS URL
//! fetched through the SSRF guard).
//!
//! Checked here: the header's algorithm is an asymmetric one the key
//! allows (`none` and HMAC never: a public JWKS cannot verify an HMAC, and
//! accepting one would let anyone forge); the key is the one `kid` names
//! (or the only key); `iss` = `sub` = the client id; `aud` names the token
//! endpoint or the issuer; `exp` is in the future and at most
//! [`MAX_LIFETIME_SECS`] away (so the replay cache stays small); `jti` is
//! present. The caller stores `jti` until `exp` and refuses a second use.
//! The signature work is `jsonwebtoken`'s; the claim rules are written out
//! here because they are the security boundary.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The furthest `exp` accepted, from now.
pub const MAX_LIFETIME_SECS: i64 = 600;
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 30;
/// Largest assertion accepted (a few keys' worth of header and claims).
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;

const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The claims of a verified assertion that the caller still needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Verified {
    pub jti: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
}

/// The `iss` an assertion claims, unverified: which client's keys to check
/// it with. `None` when it is not a JWT with a string `iss`.
pub fn claimed_client(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_owned)
}

/// Parses and checks a JWKS an admin registers: at least one key, public
/// keys only, each usable for signatures.
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON key set: {e}"))?;
    let keys = raw
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("a key set needs a \"keys\" array")?;
    if keys.is_empty() {
        return Err("the key set has no keys".into());
    }
    for (i, k) in keys.iter().enumerate() {
        // A private key's parameters: "d" (RSA, EC, OKP), and RSA's primes.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|f| k.get(f).is_some())
        {
            return Err(format!(
                "keys[{i}] holds private or symmetric key material; register only public keys"
            ));
        }
    }
    let set: JwkSet =
        serde_json::from_value(raw).map_err(|e| format!("not a valid key set: {e}"))?;
    for (i, k) in set.keys.iter().enumerate() {
        DecodingKey::from_jwk(k).map_err(|e| format!("keys[{i}] is not usable: {e}"))?;
    }
    Ok(set)
}

fn key_for<'a>(set: &'a JwkSet, kid: Option<&str>) -> Result<&'a Jwk, String> {
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .ok_or_else(|| format!("no registered key has kid {kid:?}")),
        None if set.keys.len() == 1 => Ok(&set.keys[0]),
        None => Err("the assertion names no kid and the client has several keys".into()),
    }
}

/// The key of `keys` that verifies a JWT with `header`: its algorithm one
/// of the asymmetric [`ALGORITHMS`], the key the `kid` names (or the only
/// one), and the key's own `alg`, if it says one, the same. Shared by
/// client assertions and ID-JAGs.
pub(crate) fn verifying_key(
    header: &jsonwebtoken::Header,
    keys: &JwkSet,
) -> Result<DecodingKey, String> {
    if !ALGORITHMS.contains(&header.alg) {
        return Err(format!("algorithm {:?} is not accepted", header.alg));
    }
    let jwk = key_for(keys, header.kid.as_deref())?;
    if let Some(alg) = jwk.common.key_algorithm {
        if format!("{alg:?}") != format!("{:?}", header.alg) {
            return Err(format!(
                "the key is for {alg:?}, the assertion says {:?}",
                header.alg
            ));
        }
    }
    DecodingKey::from_jwk(jwk).map_err(|e| format!("key: {e}"))
}

/// Verifies `assertion` for `client_id` against its keys. `audiences`: the
/// token endpoint URL and the issuer. `Err` says why (for the log and a
/// generic `invalid_client`).
pub fn verify(
    assertion: &str,
    keys: &JwkSet,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<Verified, String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err("the assertion is too large".into());
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| format!("header: {e}"))?;
    let key = verifying_key(&header, keys)?;
    let mut v = Validation::new(header.alg);
    // Time is checked below against the service's clock, not the system's.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    v.set_issuer(&[client_id]);
    v.sub = Some(client_id.to_owned());
    v.set_audience(audiences);
    let data = jsonwebtoken::decode::<Verified>(assertion, &key, &v)
        .map_err(|e| format!("claims: {e}"))?;
    let claims = data.claims;
    if claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err("jti is missing or too long".into());
    }
    if claims.exp + LEEWAY_SECS < now {
        return Err("the assertion has expired".into());
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err("the assertion is not valid yet (nbf)".into());
    }
    if claims.exp > now + MAX_LIFETIME_SECS {
        return Err(format!(
            "exp is more than {MAX_LIFETIME_SECS} seconds away; sign short-lived assertions"
        ));
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    // An Ed25519 key pair (test only).
    const PRIV_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILurNYK1K5TJCdEnXHBxgASRfNvGTia8ATfItwwM1t05\n-----END PRIVATE KEY-----\n";

    fn public_jwks() -> String {
        // The public half of PRIV_PEM, as jsonwebtoken derives it.
        let enc = EncodingKey::from_ed_pem(PRIV_PEM.as_bytes()).unwrap();
        let jwk = Jwk::from_encoding_key(&enc, Algorithm::EdDSA).unwrap();
        let mut v = serde_json::to_value(&jwk).unwrap();
        v["kid"] = json!("k1");
        json!({ "keys": [v] }).to_string()
    }

    fn sign(claims: serde_json::Value, kid: Option<&str>, alg: Algorithm) -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_owned);
        encode(
            &h,
            &claims,
            &EncodingKey::from_ed_pem(PRIV_PEM.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    const NOW: i64 = 1_800_000_000;
    fn auds() -> Vec<String> {
        vec![
            "https://pc.example/oauth/token".into(),
            "https://pc.example".into(),
        ]
    }
    fn good() -> serde_json::Value {
        json!({ "iss": "cli_a", "sub": "cli_a", "aud": "https://pc.example/oauth/token", "exp": NOW + 60, "jti": "j1" })
    }

    #[test]
    fn a_good_assertion_verifies_and_each_rule_refuses() {
        let keys = parse_jwks(&public_jwks()).unwrap();
        let ok = verify(
            &sign(good(), Some("k1"), Algorithm::EdDSA),
            &keys,
            "cli_a",
            &auds(),
            NOW,
        );
        assert_eq!(ok.unwrap().jti, "j1");
        assert_eq!(
            claimed_client(&sign(good(), None, Algorithm::EdDSA)).as_deref(),
            Some("cli_a")
        );
        let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
        let mut c = good();
        c["iss"] = json!("cli_b");
        cases.push((c, "claims"));
        let mut c = good();
        c["sub"] = json!("cli_b");
        cases.push((c, "claims"));
        let mut c = good();
        c["aud"] = json!("https://elsewhere.example/token");
        cases.push((c, "claims"));
        let mut c = good();
        c["exp"] = json!(NOW - 120);
        cases.push((c, "expired"));
        let mut c = good();
        c["nbf"] = json!(NOW + 120);
        cases.push((c, "not valid yet"));
        let mut c = good();
        c["exp"] = json!(NOW + 3600);
        cases.push((c, "exp is more than"));
        let mut c = good();
        c.as_object_mut().unwrap().remove("jti");
        cases.push((c, "claims"));
        for (claims, want) in cases {
            let err = verify(
                &sign(claims.clone(), Some("k1"), Algorithm::EdDSA),
                &keys,
                "cli_a",
                &auds(),
                NOW,
            )
            .unwrap_err();
            assert!(err.contains(want), "{claims}: {err}");
        }
        // An unknown kid; HMAC with the public key as secret; alg none.
        let err = verify(
            &sign(good(), Some("k9"), Algorithm::EdDSA),
            &keys,
            "cli_a",
            &auds(),
            NOW,
        )
        .unwrap_err();
        assert!(err.contains("kid"), "{err}");
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &good(),
            &EncodingKey::from_secret(public_jwks().as_bytes()),
        )
        .unwrap();
        assert!(verify(&hs, &keys, "cli_a", &auds(), NOW)
            .unwrap_err()
            .contains("not accepted"));
        let none = format!(
            "eyJhbGciOiJub25lIn0.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                good().to_string()
            )
        );
        assert!(verify(&none, &keys, "cli_a", &auds(), NOW).is_err());
        // Tampered payload: the signature no longer matches.
        let t = sign(good(), Some("k1"), Algorithm::EdDSA);
        let mut parts: Vec<&str> = t.split('.').collect();
        let mut forged = good();
        forged["exp"] = json!(NOW + 500);
        let p = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            forged.to_string(),
        );
        parts[1] = &p;
        assert!(verify(&parts.join("."), &keys, "cli_a", &auds(), NOW)
            .unwrap_err()
            .contains("claims"));
    }

    #[test]
    fn jwks_registration_refuses_private_and_empty_sets() {
        assert!(parse_jwks(&public_jwks()).is_ok());
        assert!(parse_jwks(r#"{"keys":[]}"#)
            .unwrap_err()
            .contains("no keys"));
        assert!(parse_jwks("nope").unwrap_err().contains("JSON"));
        let mut v: serde_json::Value = serde_json::from_str(&public_jwks()).unwrap();
        v["keys"][0]["d"] = json!("c2VjcmV0");
        assert!(parse_jwks(&v.to_string()).unwrap_err().contains("private"));
        assert!(parse_jwks(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#)
            .unwrap_err()
            .contains("symmetric"));
    }
}
