//! Secrets at rest: values the console must read back (bundle signing keys;
//! later IdP client secrets) are sealed with the instance's secret key before
//! they reach the database, so a copy of the database alone reveals none.
//!
//! AES-256-GCM from RustCrypto's `aes-gcm` with a random 96-bit nonce per
//! value. The associated data names what the value is for (e.g.
//! `signing_key:{kid}`), so a sealed value copied into another row or column
//! does not open. Sealed form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
//!
//! The secret key comes from `PORTCULLIS_SECRET_KEY` or the file
//! `PORTCULLIS_SECRET_KEY_FILE` (created on first start); replicas sharing a
//! PostgreSQL database must share it. A value sealed with another key fails
//! to open with an error saying so.
//!
//! Rotation: a box may also hold *previous* keys, which open values but
//! never seal; `portcullis secret-key rotate` makes a new key, keeps the old
//! one as previous for a grace period, and re-seals every stored value
//! under the new one in one transaction ([`crate::rekey`]).

use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::RngCore;
use std::sync::Arc;

const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;

/// The instance's secret key. Cheap to clone; never printed.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<Aes256Gcm>,
    /// Keys that still open values sealed before a rotation.
    previous: Arc<[Aes256Gcm]>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self::with_previous(key, &[])
    }

    /// A box that seals with `key` and also opens what `previous` keys
    /// sealed (during a rotation's grace period).
    pub fn with_previous(key: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            cipher: Arc::new(Aes256Gcm::new(key.into())),
            previous: previous.iter().map(|k| Aes256Gcm::new(k.into())).collect(),
        }
    }

    /// How many previous keys it still accepts.
    pub fn previous_keys(&self) -> usize {
        self.previous.len()
    }

    /// A box over a fresh random key (tests, and a console that keeps no
    /// sealed values across restarts).
    pub fn random() -> Self {
        Self::new(&Self::generate_key())
    }

    /// 32 random bytes for a new secret key.
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    /// Parses a key written as base64 (standard or URL-safe, padded or not)
    /// of exactly 32 bytes.
    pub fn parse_key(text: &str) -> std::result::Result<[u8; 32], String> {
        let t = text.trim().trim_end_matches('=');
        let bytes = B64
            .decode(t.replace('+', "-").replace('/', "_"))
            .map_err(|e| format!("not base64: {e}"))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| format!("must be 32 bytes, found {}", bytes.len()))
    }

    /// Seals `plain` for `purpose`.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| Error::Internal(format!("{purpose}: not a sealed value")))?;
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let payload = || Payload {
            msg: ct,
            aad: purpose.as_bytes(),
        };
        std::iter::once(&*self.cipher)
            .chain(self.previous.iter())
            .find_map(|c| c.decrypt(Nonce::from_slice(nonce), payload()).ok())
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{purpose}: cannot be opened with this secret key \
                     (PORTCULLIS_SECRET_KEY differs from the one that sealed it)"
                ))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let b = SecretBox::random();
        let s = b.seal("signing_key:k1", b"seed").unwrap();
        assert!(s.starts_with("v1."));
        assert!(!s.contains("seed"));
        assert_eq!(b.open("signing_key:k1", &s).unwrap(), b"seed");
        // Another purpose, another key, a flipped byte: refused.
        assert!(b.open("signing_key:k2", &s).is_err());
        assert!(SecretBox::random().open("signing_key:k1", &s).is_err());
        let mut raw = B64.decode(&s[3..]).unwrap();
        raw[NONCE_LEN] ^= 1;
        assert!(b
            .open("signing_key:k1", &format!("v1.{}", B64.encode(raw)))
            .is_err());
        // Two seals of the same value differ (fresh nonce).
        assert_ne!(s, b.seal("signing_key:k1", b"seed").unwrap());
    }

    #[test]
    fn previous_keys_open_but_never_seal() {
        let old = SecretBox::generate_key();
        let new = SecretBox::generate_key();
        let sealed_old = SecretBox::new(&old).seal("p", b"v").unwrap();
        let rotated = SecretBox::with_previous(&new, &[old]);
        assert_eq!(rotated.previous_keys(), 1);
        assert_eq!(rotated.open("p", &sealed_old).unwrap(), b"v");
        // What it seals opens with the new key alone, not the old.
        let sealed_new = rotated.seal("p", b"v").unwrap();
        assert_eq!(SecretBox::new(&new).open("p", &sealed_new).unwrap(), b"v");
        assert!(SecretBox::new(&old).open("p", &sealed_new).is_err());
        // Without the old key, the old value no longer opens.
        assert!(SecretBox::new(&new).open("p", &sealed_old).is_err());
    }

    #[test]
    fn keys_parse_in_either_base64_alphabet() {
        let key = [0xfbu8; 32];
        let std = base64::engine::general_purpose::STANDARD.encode(key);
        assert_eq!(SecretBox::parse_key(&std).unwrap(), key);
        assert_eq!(SecretBox::parse_key(&B64.encode(key)).unwrap(), key);
        assert!(SecretBox::parse_key("c2hvcnQ")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(SecretBox::parse_key("***").unwrap_err().contains("base64"));
    }
}
