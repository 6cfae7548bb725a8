//! The SSO side of enterprise-managed authorization (ID-JAG): which
//! connection trusts an issuer's Identity Assertion JWT Authorization
//! Grants, the keys to check them with, and the person one names.
//!
//! Trust is per OIDC connection (`accept_id_jag`): the issuer is the
//! connection's issuer and the keys are those of its discovery document
//! (`jwks_uri`), fetched through the SSRF guard and cached with it, so an
//! IdP's key rotation reaches ID-JAGs and sign-in alike. The token
//! endpoint's checks are in [`crate::oauth`] (`id_jag`).

use super::model::Asserted;
use super::{store, SsoService};
use crate::error::{Error, Result};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use openidconnect::core::CoreJsonWebKeySet;
use std::sync::Arc;

/// A connection that trusts an issuer's ID-JAGs, with the issuer's keys.
#[derive(Clone, Debug)]
pub struct TrustedIssuer {
    pub connection_id: String,
    pub connection_name: String,
    /// The issuer's signing keys (the usable ones of its JWKS).
    pub keys: Arc<JwkSet>,
}

/// The usable signature keys of an IdP's key set. An IdP may publish keys
/// this side cannot use (encryption keys, kinds `jsonwebtoken` does not
/// know); those are left out instead of refusing the whole set.
fn signature_keys(jwks: &CoreJsonWebKeySet) -> Result<JwkSet> {
    let raw = serde_json::to_value(jwks).map_err(|e| Error::Internal(e.to_string()))?;
    let keys = raw
        .get("keys")
        .and_then(|k| k.as_array())
        .map(|keys| {
            keys.iter()
                .filter(|k| k.get("use").and_then(|u| u.as_str()) != Some("enc"))
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter(|k| jsonwebtoken::DecodingKey::from_jwk(k).is_ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(JwkSet { keys })
}

impl SsoService {
    /// The enabled OIDC connection that accepts ID-JAGs from `issuer`, with
    /// the issuer's keys; `None` when no connection trusts it. `refetch`:
    /// the caller met a `kid` the cached set lacks, so the key set is
    /// fetched again (at most once a minute per connection, as for sign-in).
    pub async fn id_jag_issuer(
        &self,
        issuer: &str,
        refetch: bool,
    ) -> Result<Option<TrustedIssuer>> {
        for conn in store::id_jag_conns(self.core.db.exec()).await? {
            let settings = conn.oidc()?;
            if settings.issuer != issuer {
                continue;
            }
            let mut meta = self.provider(&conn, &settings).await?;
            if refetch && self.oidc.may_refetch_jwks(&conn.id) {
                match CoreJsonWebKeySet::fetch_async(meta.jwks_uri(), &self.oidc_http).await {
                    Ok(jwks) => {
                        meta = meta.set_jwks(jwks);
                        self.oidc.put(&conn.id, &settings.issuer, meta.clone());
                    }
                    Err(e) => {
                        tracing::warn!(connection = %conn.id, error = %e, "re-fetching the IdP's JWKS for an ID-JAG failed");
                    }
                }
            }
            return Ok(Some(TrustedIssuer {
                keys: Arc::new(signature_keys(meta.jwks())?),
                connection_id: conn.id,
                connection_name: conn.name,
            }));
        }
        Ok(None)
    }

    /// The person of connection `connection_id`'s directory an ID-JAG
    /// names, found as at sign-in: by the IdP subject (`externalId`), or
    /// by a verified email in one of the connection's domains. `(id,
    /// email, active)`; never created just in time (an ID-JAG is no
    /// sign-in).
    pub async fn id_jag_person(
        &self,
        connection_id: &str,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
    ) -> Result<Option<(String, String, bool)>> {
        let conn = self.conn_by_id(connection_id).await?;
        let asserted = Asserted {
            subject: subject.to_owned(),
            email: email.map(str::to_owned),
            email_verified,
            ..Default::default()
        };
        self.find_person(&conn, &asserted).await
    }
}
