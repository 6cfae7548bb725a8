//! The gateway-side loader: a signed bundle activates only when its
//! signature, type, key and revision are right; otherwise the last good
//! policy stays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use portcullis_policy::delta::{content_sha256, Delta, DeltaError};
use portcullis_policy::signed::{
    LoadError, Loader, SigningKey, Verifier, DELTA_JWS_TYPE, ED25519_PKCS8_PREFIX, JWS_TYPE,
};
use portcullis_policy::Bundle;

const GOLDEN: &str = include_str!("golden/bundle_v1.json");

fn key(kid: &str, byte: u8) -> SigningKey {
    SigningKey::from_seed(kid, &[byte; 32])
}

fn jwks(keys: &[&SigningKey]) -> String {
    let keys: Vec<_> = keys.iter().map(|k| k.public_jwk().unwrap()).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn bundle_at(revision: u64) -> String {
    let mut b = Bundle::from_json(GOLDEN).unwrap();
    b.revision = revision;
    b.to_canonical_json().unwrap()
}

fn loader_for(k: &SigningKey) -> Loader {
    Loader::new(Verifier::from_jwks(&jwks(&[k])).unwrap())
}

/// Splits a compact JWS into its three parts.
fn parts(jws: &str) -> (String, String, String) {
    let mut it = jws.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    (h.to_owned(), p.to_owned(), s.to_owned())
}

#[test]
fn a_signed_bundle_loads_and_compiles() {
    let k = key("k1", 7);
    let jws = k.sign(&bundle_at(5)).unwrap();
    let mut loader = loader_for(&k);
    let loaded = loader.load(jws.as_bytes()).unwrap();
    assert_eq!(loaded.revision, 5);
    assert!(loaded.newer);
    assert_eq!(loader.revision(), Some(5));
    let active = loader.active().unwrap();
    assert_eq!(active.policy.revision(), 5);
    // The payload is the canonical JSON, unchanged.
    let (h, p, _) = parts(&jws);
    assert_eq!(B64.decode(p).unwrap(), bundle_at(5).as_bytes());
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(h).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], JWS_TYPE);
    assert_eq!(header["kid"], "k1");
}

#[test]
fn signing_is_deterministic() {
    let a = key("k1", 7).sign(&bundle_at(5)).unwrap();
    let b = key("k1", 7).sign(&bundle_at(5)).unwrap();
    assert_eq!(a, b);
}

/// The JWS is assembled by hand (one buffer, no parse of the payload):
/// it must stay byte for byte what `jsonwebtoken::encode` makes of the same
/// header and raw payload, for a bundle, a delta and an empty object.
#[test]
fn signing_is_byte_for_byte_jsonwebtoken_encode() {
    let k = key("k1", 7);
    let pkcs8 = [&ED25519_PKCS8_PREFIX[..], &[7u8; 32][..]].concat();
    let reference = jsonwebtoken::EncodingKey::from_ed_der(&pkcs8);
    let encode = |json: &str, typ: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some("k1".to_owned());
        let raw = serde_json::value::RawValue::from_string(json.to_owned()).unwrap();
        jsonwebtoken::encode(&header, &raw, &reference).unwrap()
    };
    for json in [bundle_at(5), bundle_at(1_000_001), "{}".to_owned()] {
        assert_eq!(k.sign(&json).unwrap(), encode(&json, JWS_TYPE));
        assert_eq!(k.sign_delta(&json).unwrap(), encode(&json, DELTA_JWS_TYPE));
        // In two steps (the whole policy body compresses the input while
        // it is signed): the same JWS.
        let input = k.signing_input(&json).unwrap();
        let signature = k.signature(input.as_bytes()).unwrap();
        assert_eq!(format!("{input}.{signature}"), encode(&json, JWS_TYPE));
    }
    assert_ne!(k.sign("{}").unwrap(), k.sign_delta("{}").unwrap());
}

#[test]
fn a_tampered_payload_is_refused_and_the_last_good_policy_stays() {
    let k = key("k1", 7);
    let mut loader = loader_for(&k);
    loader
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();

    // Re-encode a payload that grants more (revision 6), keep the signature.
    let (h, _, s) = parts(&k.sign(&bundle_at(6)).unwrap());
    let mut forged = Bundle::from_json(&bundle_at(6)).unwrap();
    forged.principals[0].active = !forged.principals[0].active;
    let forged = format!(
        "{h}.{}.{s}",
        B64.encode(forged.to_canonical_json().unwrap())
    );
    assert_eq!(loader.load(forged.as_bytes()), Err(LoadError::BadSignature));

    // One flipped bit of the signature.
    let good6 = k.sign(&bundle_at(6)).unwrap();
    let (h, p, s) = parts(&good6);
    let mut sig = B64.decode(s).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{h}.{p}.{}", B64.encode(sig));
    assert_eq!(
        loader.load(flipped.as_bytes()),
        Err(LoadError::BadSignature)
    );
    assert_eq!(loader.revision(), Some(5), "the last good policy stays");

    // The genuine revision 6 still loads afterwards.
    assert_eq!(loader.load(good6.as_bytes()).unwrap().revision, 6);
}

#[test]
fn a_bundle_signed_by_another_key_with_a_known_kid_is_refused() {
    let k = key("k1", 7);
    let attacker = key("k1", 8);
    let mut loader = loader_for(&k);
    let jws = attacker.sign(&bundle_at(5)).unwrap();
    assert_eq!(loader.load(jws.as_bytes()), Err(LoadError::BadSignature));
    assert_eq!(loader.revision(), None);
}

#[test]
fn an_unknown_kid_is_refused_and_accepted_after_the_jwks_is_refreshed() {
    let old = key("k1", 7);
    let new = key("k2", 9);
    let mut loader = loader_for(&old);
    let jws = new.sign(&bundle_at(5)).unwrap();
    assert_eq!(Verifier::key_id(jws.as_bytes()).unwrap(), "k2");
    assert!(!loader.verifier().knows("k2"));
    assert_eq!(
        loader.load(jws.as_bytes()),
        Err(LoadError::UnknownKey("k2".into()))
    );
    loader.set_verifier(Verifier::from_jwks(&jwks(&[&old, &new])).unwrap());
    assert_eq!(loader.load(jws.as_bytes()).unwrap().revision, 5);
}

#[test]
fn an_older_revision_is_a_rollback_and_is_refused() {
    let k = key("k1", 7);
    let mut loader = loader_for(&k);
    let old = k.sign(&bundle_at(4)).unwrap();
    loader
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        loader.load(old.as_bytes()),
        Err(LoadError::Rollback {
            held: 5,
            offered: 4
        })
    );
    assert_eq!(loader.revision(), Some(5));
    // The same revision again (e.g. re-signed after a rotation) is fine.
    let again = loader
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();
    assert_eq!((again.revision, again.newer), (5, false));
}

#[test]
fn the_floor_survives_a_restart() {
    let k = key("k1", 7);
    let mut loader = Loader::with_floor(Verifier::from_jwks(&jwks(&[&k])).unwrap(), 9);
    assert_eq!(
        loader.load(k.sign(&bundle_at(8)).unwrap().as_bytes()),
        Err(LoadError::Rollback {
            held: 9,
            offered: 8
        })
    );
    assert_eq!(loader.revision(), None);
    assert_eq!(
        loader
            .load(k.sign(&bundle_at(9)).unwrap().as_bytes())
            .unwrap()
            .revision,
        9
    );
}

#[test]
fn alg_none_and_key_confusion_are_refused() {
    let k = key("k1", 7);
    let mut loader = loader_for(&k);
    let payload = B64.encode(bundle_at(5));
    let none = format!(
        "{}.{payload}.",
        B64.encode(format!(r#"{{"alg":"none","typ":"{JWS_TYPE}","kid":"k1"}}"#))
    );
    assert!(matches!(
        loader.load(none.as_bytes()),
        Err(LoadError::Malformed(_) | LoadError::Algorithm(_))
    ));
    // HS256 "signed" with the public key as the HMAC secret.
    let x = k.public_jwk().unwrap();
    let x = serde_json::to_value(&x).unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(JWS_TYPE.into());
    header.kid = Some("k1".into());
    let raw = serde_json::value::RawValue::from_string(bundle_at(5)).unwrap();
    let hs = jsonwebtoken::encode(
        &header,
        &raw,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        loader.load(hs.as_bytes()),
        Err(LoadError::Algorithm("HS256".into()))
    );
    assert_eq!(loader.revision(), None);
}

#[test]
fn a_token_of_another_type_signed_by_the_same_key_is_not_a_bundle() {
    let k = key("k1", 7);
    let mut loader = loader_for(&k);
    let (_, p, _) = parts(&k.sign(&bundle_at(5)).unwrap());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("JWT".into());
    header.kid = Some("k1".into());
    let der: Vec<u8> = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ]
    .into_iter()
    .chain([7u8; 32])
    .collect();
    let raw = serde_json::value::RawValue::from_string(
        String::from_utf8(B64.decode(p).unwrap()).unwrap(),
    )
    .unwrap();
    let jwt =
        jsonwebtoken::encode(&header, &raw, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap();
    assert_eq!(
        loader.load(jwt.as_bytes()),
        Err(LoadError::WrongType(Some("JWT".into()), JWS_TYPE))
    );
}

#[test]
fn garbage_and_non_bundles_are_refused() {
    let k = key("k1", 7);
    let mut loader = loader_for(&k);
    assert!(matches!(
        loader.load(b"not a jws"),
        Err(LoadError::Malformed(_))
    ));
    let not_bundle = k.sign(r#"{"hello":"world"}"#).unwrap();
    assert!(matches!(
        loader.load(not_bundle.as_bytes()),
        Err(LoadError::Payload(_))
    ));
    let mut b = Bundle::from_json(&bundle_at(5)).unwrap();
    b.format = "portcullis.policy/v9".into();
    let future = k.sign(&b.to_canonical_json().unwrap()).unwrap();
    assert!(matches!(
        loader.load(future.as_bytes()),
        Err(LoadError::Compile(_))
    ));
    assert_eq!(loader.revision(), None);
}

#[test]
fn the_jwks_ignores_keys_for_other_purposes() {
    let k = key("k1", 7);
    let mut doc: serde_json::Value = serde_json::from_str(&jwks(&[&k])).unwrap();
    doc["keys"].as_array_mut().unwrap().push(serde_json::json!({
        "kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
        "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
        "e": "AQAB"
    }));
    let v = Verifier::from_jwks(&doc.to_string()).unwrap();
    assert!(v.knows("k1"));
    assert!(!v.knows("rsa1"));
    assert_eq!(
        Verifier::from_jwks(r#"{"keys":[]}"#).unwrap_err(),
        LoadError::NoKeys
    );
}

/// The golden bundle at `revision` with one more person, one person fewer
/// and a rule changed: the kind of step a delta carries.
fn changed_at(revision: u64) -> Bundle {
    let mut b = Bundle::from_json(&bundle_at(revision)).unwrap();
    b.issued_at = "2026-01-02T03:04:05Z".into();
    let mut extra = b.principals[0].clone();
    extra.id = "usr_zz_new".into();
    extra.email = "new@example.com".into();
    b.principals.remove(0);
    b.principals.push(extra);
    b.rules[0].include_destructive = !b.rules[0].include_destructive;
    b
}

fn signed_delta(k: &SigningKey, delta: &Delta) -> String {
    k.sign_delta(&delta.to_json().unwrap()).unwrap()
}

#[test]
fn a_delta_moves_the_loader_to_exactly_the_bundle_it_would_have_fetched() {
    let k = key("k1", 7);
    let base = Bundle::from_json(&bundle_at(5)).unwrap();
    let next = changed_at(6);
    let delta = Delta::between(&base, &next).unwrap();
    assert_eq!(delta.principals.upsert.len(), 1);
    assert_eq!(delta.principals.remove.len(), 1);
    assert_eq!(delta.rules.upsert.len(), 1);
    assert!(delta.servers.is_empty() && delta.groups.is_empty());

    let mut by_delta = loader_for(&k);
    by_delta
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();
    let loaded = by_delta
        .load_delta(signed_delta(&k, &delta).as_bytes())
        .unwrap();
    assert_eq!(loaded.revision, 6);
    assert!(loaded.newer);

    let mut whole = loader_for(&k);
    whole
        .load(
            k.sign(&next.to_canonical_json().unwrap())
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
    let (a, b) = (by_delta.active().unwrap(), whole.active().unwrap());
    assert_eq!(a.bundle, b.bundle);
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.sha256, content_sha256(&next).unwrap());
    assert_eq!(a.issued_at, "2026-01-02T03:04:05Z");
    // The compiled policy knows the person the delta added and no longer
    // knows the one it removed.
    use portcullis_policy::Reason::UnknownPrincipal;
    assert_ne!(
        a.policy.decide("usr_zz_new", "x", "y", 0).reason,
        UnknownPrincipal
    );
    let removed = &base.principals[0].id;
    assert_eq!(
        a.policy.decide(removed, "x", "y", 0).reason,
        UnknownPrincipal
    );
}

#[test]
fn a_delta_for_another_base_is_refused_and_the_held_bundle_stays() {
    let k = key("k1", 7);
    let base = Bundle::from_json(&bundle_at(5)).unwrap();
    let delta = Delta::between(&base, &changed_at(6)).unwrap();
    let jws = signed_delta(&k, &delta);

    // Nothing held yet.
    let mut empty = loader_for(&k);
    assert_eq!(empty.load_delta(jws.as_bytes()), Err(LoadError::NoBase));
    assert_eq!(empty.revision(), None);

    // Holding revision 4: the delta is for 5.
    let mut older = loader_for(&k);
    older
        .load(k.sign(&bundle_at(4)).unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        older.load_delta(jws.as_bytes()),
        Err(LoadError::Delta(DeltaError::Base { held: 4, base: 5 }))
    );
    assert_eq!(older.revision(), Some(4));

    // Holding another revision 5 (same number, other content).
    let mut other = loader_for(&k);
    let mut other5 = base.clone();
    other5.groups.clear();
    other
        .load(
            k.sign(&other5.to_canonical_json().unwrap())
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(
        other.load_delta(jws.as_bytes()),
        Err(LoadError::Delta(DeltaError::BaseHash))
    );
    assert_eq!(other.active().unwrap().bundle, other5);
}

#[test]
fn a_delta_whose_result_is_not_the_signed_hash_is_refused() {
    let k = key("k1", 7);
    let base = Bundle::from_json(&bundle_at(5)).unwrap();
    let mut delta = Delta::between(&base, &changed_at(6)).unwrap();
    delta.sha256 = content_sha256(&base).unwrap();
    let mut loader = loader_for(&k);
    loader
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        loader.load_delta(signed_delta(&k, &delta).as_bytes()),
        Err(LoadError::DeltaResult)
    );
    assert_eq!(loader.revision(), Some(5));

    // A backwards "delta" is refused before anything is applied.
    let mut back = Delta::between(&base, &changed_at(6)).unwrap();
    back.revision = 5;
    assert_eq!(
        loader.load_delta(signed_delta(&k, &back).as_bytes()),
        Err(LoadError::Delta(DeltaError::NotForward {
            base: 5,
            revision: 5
        }))
    );
}

#[test]
fn a_forged_or_mistyped_delta_is_refused() {
    let k = key("k1", 7);
    let base = Bundle::from_json(&bundle_at(5)).unwrap();
    let delta = Delta::between(&base, &changed_at(6)).unwrap();
    let mut loader = loader_for(&k);
    loader
        .load(k.sign(&bundle_at(5)).unwrap().as_bytes())
        .unwrap();

    // Payload changed (a person made active), signature kept.
    let (h, _, s) = parts(&signed_delta(&k, &delta));
    let mut forged = delta.clone();
    forged.principals.upsert[0].active = !forged.principals.upsert[0].active;
    let forged = format!("{h}.{}.{s}", B64.encode(forged.to_json().unwrap()));
    assert_eq!(
        loader.load_delta(forged.as_bytes()),
        Err(LoadError::BadSignature)
    );

    // Signed by a key the gateway does not trust.
    let stranger = key("k1", 9);
    assert_eq!(
        loader.load_delta(signed_delta(&stranger, &delta).as_bytes()),
        Err(LoadError::BadSignature)
    );

    // A delta is not a bundle and a bundle is not a delta.
    assert_eq!(
        loader.load(signed_delta(&k, &delta).as_bytes()),
        Err(LoadError::WrongType(Some(DELTA_JWS_TYPE.into()), JWS_TYPE))
    );
    assert_eq!(
        loader.load_delta(k.sign(&bundle_at(6)).unwrap().as_bytes()),
        Err(LoadError::WrongType(Some(JWS_TYPE.into()), DELTA_JWS_TYPE))
    );
    assert_eq!(loader.revision(), Some(5));
}
