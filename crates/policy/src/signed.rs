//! Signed bundles: how a gateway verifies what `GET /api/v1/policy` returned
//! and decides whether to activate it.
//!
//! The console sends each bundle as a JWS in compact serialization
//! (RFC 7515, `Content-Type: application/jose`): the protected header names
//! the algorithm (`EdDSA`, Ed25519), the key (`kid`) and the explicit type
//! [`JWS_TYPE`]; the payload is the bundle's canonical JSON. The console's
//! public keys are at `/.well-known/jwks.json`.
//!
//! [`Loader`] is the gateway's side of the contract. It activates a bundle
//! only if
//! - the signature verifies with a key of the JWKS it was given (no `alg`
//!   other than `EdDSA`, no unknown `kid`, no other `typ`: a token signed by
//!   the same console for another purpose is not a bundle);
//! - the payload is a bundle of a known format that compiles;
//! - its revision is not lower than the one it holds (revisions only grow,
//!   so an older signed bundle replayed by an attacker or a stale cache is a
//!   rollback).
//!
//! On any refusal the loader keeps its last good policy, so a gateway never
//! enforces a forged or stale policy and never drops to "no policy".
//!
//! [`Loader::load_delta`] does the same for a signed delta ([`crate::delta`],
//! `typ` [`DELTA_JWS_TYPE`]): it applies only to exactly the bundle the
//! loader holds (revision and content hash) and must produce exactly the
//! bundle whose hash the console signed.
//!
//! Verification uses `jsonwebtoken` (the ecosystem's JOSE crate) rather than
//! hand-written code; this module adds only the policy-specific checks.
//!
//! ```
//! use portcullis_policy::signed::{Loader, Verifier};
//! # fn fetch_jwks() -> String { String::new() }
//! # fn fetch_bundle() -> Vec<u8> { Vec::new() }
//! let verifier = Verifier::from_jwks(&fetch_jwks());
//! # let Ok(verifier) = verifier else { return; };
//! let mut loader = Loader::new(verifier);
//! match loader.load(&fetch_bundle()) {
//!     Ok(loaded) => println!("enforcing revision {}", loaded.revision),
//!     Err(e) => eprintln!("kept revision {:?}: {e}", loader.revision()),
//! }
//! ```

use crate::delta::{content_sha256, Delta, DeltaError};
use crate::{Bundle, CompileError, Policy};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Arc;

/// The JWS `typ` of a signed policy bundle.
pub const JWS_TYPE: &str = "portcullis-policy+jws";

/// The JWS `typ` of a signed policy delta ([`crate::delta`]).
pub const DELTA_JWS_TYPE: &str = "portcullis-policy-delta+jws";

/// The media type of a signed bundle (compact JWS).
pub const MEDIA_TYPE: &str = "application/jose";

/// Why a signed bundle was not activated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("the JWKS cannot be read: {0}")]
    Jwks(String),
    #[error("the JWKS has no Ed25519 signing key")]
    NoKeys,
    #[error("not a compact JWS: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted (only EdDSA)")]
    Algorithm(String),
    #[error("type {0:?} is not the expected {1:?}")]
    WrongType(Option<String>, &'static str),
    #[error("the bundle names no key id")]
    MissingKeyId,
    #[error("the bundle is signed with unknown key {0:?}")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the payload is not a bundle: {0}")]
    Payload(String),
    #[error("the bundle does not compile: {0}")]
    Compile(#[from] CompileError),
    #[error("revision {offered} is older than the active revision {held} (rollback refused)")]
    Rollback { held: u64, offered: u64 },
    #[error("a delta needs an active bundle to apply to; fetch the whole bundle")]
    NoBase,
    #[error("the delta cannot be applied: {0}")]
    Delta(#[from] DeltaError),
    #[error("the delta produced a bundle whose hash is not the signed one")]
    DeltaResult,
}

/// The console's public keys, from `/.well-known/jwks.json`.
#[derive(Clone)]
pub struct Verifier {
    pub(crate) keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Verifier").field("kids", &kids).finish()
    }
}

impl Verifier {
    /// Reads a JWKS document. Keys that are not Ed25519 (or whose `alg`
    /// says something other than `EdDSA`) are ignored: the JWKS may also
    /// publish keys for other purposes.
    pub fn from_jwks(json: &str) -> Result<Self, LoadError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| LoadError::Jwks(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let AlgorithmParameters::OctetKeyPair(p) = &jwk.algorithm else {
                continue;
            };
            if p.curve != EllipticCurve::Ed25519 {
                continue;
            }
            if jwk
                .common
                .key_algorithm
                .is_some_and(|a| a != jsonwebtoken::jwk::KeyAlgorithm::EdDSA)
            {
                continue;
            }
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| LoadError::Jwks(e.to_string()))?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(LoadError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// Whether the JWKS has key `kid` (a gateway re-fetches the JWKS once
    /// when a bundle names a key it does not know, e.g. after a rotation).
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key id a signed bundle names, without verifying anything.
    pub fn key_id(jws: &[u8]) -> Result<String, LoadError> {
        let header =
            jsonwebtoken::decode_header(jws).map_err(|e| LoadError::Malformed(e.to_string()))?;
        header.kid.ok_or(LoadError::MissingKeyId)
    }

    /// Verifies a signed bundle and returns the bundle (not yet compiled).
    pub fn verify(&self, jws: &[u8]) -> Result<Bundle, LoadError> {
        self.verify_as(jws, JWS_TYPE)
    }

    /// Verifies a signed delta and returns it (not yet applied).
    pub fn verify_delta(&self, jws: &[u8]) -> Result<Delta, LoadError> {
        self.verify_as(jws, DELTA_JWS_TYPE)
    }

    /// Verifies a compact JWS of another type `typ` signed with a key of
    /// this JWKS (the console's audit checkpoints) and reads its payload.
    pub fn verify_claims<T: serde::de::DeserializeOwned>(
        &self,
        jws: &[u8],
        typ: &'static str,
    ) -> Result<T, LoadError> {
        self.verify_as(jws, typ)
    }

    /// Verifies a compact JWS of type `typ` and reads its payload as `T`.
    fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        jws: &[u8],
        typ: &'static str,
    ) -> Result<T, LoadError> {
        let header =
            jsonwebtoken::decode_header(jws).map_err(|e| LoadError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(LoadError::Algorithm(format!("{:?}", header.alg)));
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(LoadError::WrongType(header.typ, typ));
        }
        let kid = header.kid.ok_or(LoadError::MissingKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| LoadError::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // A bundle is not a JWT: no exp/nbf/aud claims. Freshness is the
        // revision check in `Loader::load`.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        match jsonwebtoken::decode::<T>(jws, key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => LoadError::BadSignature,
                jsonwebtoken::errors::ErrorKind::Json(_) => LoadError::Payload(e.to_string()),
                _ => LoadError::Malformed(e.to_string()),
            }),
        }
    }
}

/// A bundle the loader activated.
#[derive(Debug)]
pub struct Active {
    pub revision: u64,
    pub issued_at: String,
    pub policy: Policy,
    /// The bundle itself (the base the next delta applies to).
    pub bundle: Bundle,
    /// Hex SHA-256 of its canonical JSON (what a delta's `base_sha256` names).
    pub sha256: String,
}

/// What [`Loader::load`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub revision: u64,
    /// False when the bundle had the revision already active (e.g. the same
    /// revision re-signed after a key rotation): the policy is replaced by
    /// the identical one.
    pub newer: bool,
}

/// A gateway's policy state: the last good bundle and the keys to check the
/// next one with.
#[derive(Debug)]
pub struct Loader {
    verifier: Verifier,
    active: Option<Arc<Active>>,
    /// The highest revision ever activated (survives a restart when the
    /// gateway persists it and passes it to [`Loader::with_floor`]).
    floor: u64,
}

impl Loader {
    /// A loader with no active policy yet (every decision denies until the
    /// first bundle loads).
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            active: None,
            floor: 0,
        }
    }

    /// A loader that refuses revisions below `floor` (the revision the
    /// gateway enforced before it restarted).
    pub fn with_floor(verifier: Verifier, floor: u64) -> Self {
        Self {
            verifier,
            active: None,
            floor,
        }
    }

    /// Replaces the keys (after re-fetching the JWKS).
    pub fn set_verifier(&mut self, verifier: Verifier) {
        self.verifier = verifier;
    }

    /// The keys in use.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The active policy, if any bundle has loaded.
    pub fn active(&self) -> Option<Arc<Active>> {
        self.active.clone()
    }

    /// The active revision.
    pub fn revision(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.revision)
    }

    /// Verifies, checks and compiles `jws`; activates it only if all of that
    /// succeeds and its revision is not below the highest one seen. On
    /// error nothing changes.
    pub fn load(&mut self, jws: &[u8]) -> Result<Loaded, LoadError> {
        let bundle = self.verifier.verify(jws)?;
        self.check_forward(bundle.revision)?;
        let sha256 = content_sha256(&bundle)?;
        self.activate(bundle, sha256)
    }

    /// Verifies a signed delta (`226 IM Used`, see [`crate::delta`]) and
    /// applies it to the active bundle: its base must be exactly the active
    /// bundle (revision and content hash), the result must hash to the value
    /// the console signed, compile, and not be a rollback. On error nothing
    /// changes (the gateway then fetches the whole bundle).
    pub fn load_delta(&mut self, jws: &[u8]) -> Result<Loaded, LoadError> {
        let delta = self.verifier.verify_delta(jws)?;
        let active = self.active.clone().ok_or(LoadError::NoBase)?;
        if delta.base_revision != active.revision {
            return Err(DeltaError::Base {
                held: active.revision,
                base: delta.base_revision,
            }
            .into());
        }
        if delta.base_sha256 != active.sha256 {
            return Err(DeltaError::BaseHash.into());
        }
        self.check_forward(delta.revision)?;
        let bundle = delta.apply(&active.bundle)?;
        let sha256 = content_sha256(&bundle)?;
        if sha256 != delta.sha256 {
            return Err(LoadError::DeltaResult);
        }
        self.activate(bundle, sha256)
    }

    /// Refuses a revision below the highest one seen.
    fn check_forward(&self, offered: u64) -> Result<(), LoadError> {
        let held = self
            .active
            .as_ref()
            .map_or(self.floor, |a| a.revision.max(self.floor));
        if offered < held {
            return Err(LoadError::Rollback { held, offered });
        }
        Ok(())
    }

    /// Compiles and activates a checked bundle.
    fn activate(&mut self, bundle: Bundle, sha256: String) -> Result<Loaded, LoadError> {
        let policy = Policy::compile(&bundle)?;
        let newer = self
            .active
            .as_ref()
            .is_none_or(|a| bundle.revision > a.revision);
        self.floor = bundle.revision;
        self.active = Some(Arc::new(Active {
            revision: bundle.revision,
            issued_at: bundle.issued_at.clone(),
            policy,
            bundle,
            sha256,
        }));
        Ok(Loaded {
            revision: self.floor,
            newer,
        })
    }
}

/// An Ed25519 signing key (the console's side). Ed25519 signatures are
/// deterministic, so every replica signing the same revision with the same
/// key produces byte-identical bodies (and ETags).
pub struct SigningKey {
    kid: String,
    key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7): the DER
/// `jsonwebtoken` expects is this followed by the 32-byte seed (public for
/// tests and benchmarks that build the same key through `jsonwebtoken`).
pub const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl SigningKey {
    /// The key with id `kid` from its 32-byte seed.
    pub fn from_seed(kid: impl Into<String>, seed: &[u8; 32]) -> Self {
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(seed);
        Self {
            kid: kid.into(),
            key: jsonwebtoken::EncodingKey::from_ed_der(&der),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty` OKP, `crv` Ed25519, `alg` EdDSA,
    /// `use` sig, with its `kid`).
    pub fn public_jwk(&self) -> Result<jsonwebtoken::jwk::Jwk, LoadError> {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&self.key, Algorithm::EdDSA)
            .map_err(|e| LoadError::Jwks(e.to_string()))?;
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(jwk)
    }

    /// Signs a bundle's canonical JSON (sent as the payload unchanged).
    pub fn sign(&self, canonical_json: &str) -> Result<String, LoadError> {
        self.sign_as(canonical_json, JWS_TYPE)
    }

    /// Signs a delta's JSON ([`Delta::to_json`]).
    pub fn sign_delta(&self, delta_json: &str) -> Result<String, LoadError> {
        self.sign_as(delta_json, DELTA_JWS_TYPE)
    }

    /// Signs serialisable claims as a compact JWS of type `typ` (OAuth
    /// access tokens: [`crate::token::ACCESS_TOKEN_TYPE`]).
    pub fn sign_claims<T: serde::Serialize>(
        &self,
        claims: &T,
        typ: &str,
    ) -> Result<String, LoadError> {
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| LoadError::Malformed(e.to_string()))
    }

    /// A bundle's JWS in two steps, for a caller that compresses the
    /// signing input while it is being signed (the whole policy body):
    /// `signing_input` + "." + [`Self::signature`] of it is exactly
    /// [`Self::sign`]'s output. The string has room for the rest, so
    /// appending the signature does not move it.
    pub fn signing_input(&self, canonical_json: &str) -> Result<String, LoadError> {
        self.signing_input_as(canonical_json, JWS_TYPE)
    }

    /// The base64url signature of a signing input
    /// ([`Self::signing_input`]): the JWS's third part.
    pub fn signature(&self, signing_input: &[u8]) -> Result<String, LoadError> {
        jsonwebtoken::crypto::sign(signing_input, &self.key, Algorithm::EdDSA)
            .map_err(|e| LoadError::Malformed(e.to_string()))
    }

    /// The compact JWS of `json` as the payload, byte for byte what
    /// `jsonwebtoken::encode` makes of it as a raw JSON value. Assembled
    /// here (header and payload encoded straight into one buffer, then
    /// `jsonwebtoken::crypto::sign`) because `encode` would take the
    /// payload through `RawValue` (a parse and a copy) and join copies of
    /// the parts: for a whole bundle at 100,000 people that was three extra
    /// copies of 14–19 MB and a JSON parse per body (issue #21).
    /// `json` is the caller's own serialisation, never untrusted input.
    fn sign_as(&self, json: &str, typ: &str) -> Result<String, LoadError> {
        let mut jws = self.signing_input_as(json, typ)?;
        let signature = self.signature(jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&signature);
        Ok(jws)
    }

    /// `base64url(header) "." base64url(json)`, with capacity for the
    /// signature after it.
    fn signing_input_as(&self, json: &str, typ: &str) -> Result<String, LoadError> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        let header =
            serde_json::to_vec(&header).map_err(|e| LoadError::Malformed(e.to_string()))?;
        // An Ed25519 signature is 64 bytes: 86 characters of base64url.
        let capacity = (header.len() + json.len()).div_ceil(3) * 4 + 2 + 86;
        let mut input = String::with_capacity(capacity);
        b64.encode_string(&header, &mut input);
        input.push('.');
        b64.encode_string(json, &mut input);
        Ok(input)
    }
}
