//! The signing keys area's values without storage: what a key signs, how
//! its seed is sealed, what its creation is audited as, and a stored key
//! as the console lists it.

use super::store::KeyRow;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::SigningKeySummary;

/// The JWS algorithm of every key.
pub(super) const ALG: &str = "EdDSA";

/// The purpose a key's seed is sealed for.
pub(super) fn seal_purpose(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// What a signing key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Policy bundles and deltas (`/api/v1/policy`).
    Bundle,
    /// OAuth access tokens (RFC 9068, `typ` `at+jwt`).
    Token,
    /// Checkpoints of the audit chain (`typ`
    /// `portcullis-audit-checkpoint+jws`, [`crate::audit`]).
    Audit,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Bundle => "bundle",
            KeyPurpose::Token => "token",
            KeyPurpose::Audit => "audit",
        }
    }

    /// Who makes the first key of this purpose (the system actor's name).
    pub(super) fn first_maker(self) -> &'static str {
        match self {
            KeyPurpose::Bundle => "policy API",
            KeyPurpose::Token => "authorization server",
            KeyPurpose::Audit => "audit checkpoints",
        }
    }

    /// The audit action of making a key of this purpose (`rotate`: by
    /// rotation, else the first one).
    pub(super) fn created_action(self, rotate: bool) -> &'static str {
        match (self, rotate) {
            (KeyPurpose::Bundle, true) => "policy.signing_key.rotated",
            (KeyPurpose::Bundle, false) => "policy.signing_key.created",
            (KeyPurpose::Token, true) => "oauth.signing_key.rotated",
            (KeyPurpose::Token, false) => "oauth.signing_key.created",
            (KeyPurpose::Audit, true) => "audit.signing_key.rotated",
            (KeyPurpose::Audit, false) => "audit.signing_key.created",
        }
    }
}

impl KeyRow {
    /// The console's line for this key; `since` is when a key retired
    /// after which it is still published.
    /// Fails on a stored status this code does not know.
    pub(super) fn into_summary(self, since: DateTime<Utc>) -> Result<SigningKeySummary> {
        let active = match self.status.as_str() {
            "active" => true,
            "retired" => false,
            other => {
                return Err(Error::Internal(format!(
                    "signing key {}: unknown status {other:?}",
                    self.kid
                )))
            }
        };
        Ok(SigningKeySummary {
            published: active || self.retired_at.is_some_and(|t| t > since),
            kid: self.kid,
            alg: self.alg,
            status: self.status,
            created_at: self.created_at,
            retired_at: self.retired_at,
        })
    }
}
