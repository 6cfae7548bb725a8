//! SAML 2.0 sign-in: SP-initiated (HTTP-Redirect AuthnRequest, HTTP-POST
//! response) on `samael` with its xmlsec signature checks.
//!
//! samael alone is not enough (TOOLCHAIN.md; and samael 0.0.22 lets xmlsec
//! follow any signature reference, accepts a DOCTYPE and skips the audience
//! check without an AudienceRestriction), so around it:
//! - IdP metadata must carry a signing certificate (samael would otherwise
//!   skip signature checks altogether) and no DTD.
//! - Every response is first parsed strictly with `roxmltree` ([`prescan`]):
//!   no DTD, a node limit, root `samlp:Response`, exactly one plain
//!   `saml:Assertion`, and each `ds:Signature` sits in the Response or the
//!   Assertion with exactly one same-document `#ID` reference and only the
//!   usual transforms. xmlsec would otherwise fetch a remote or `file:` URI
//!   named by a forged reference before checking any signature.
//! - Only SHA-2 signature and digest algorithms (`allowed_signature_algorithms`).
//! - `InResponseTo` must name a sign-in this console started and has not
//!   used; IdP-initiated responses only when the connection allows them.
//! - The Audience must be present and ours; a `Status` other than Success is
//!   refused; assertion ids are kept in `sso_replay` (shared by replicas)
//!   until they expire, so a response is accepted once.
//! - Sizes are bounded (response 256 KiB of base64, metadata 1 MiB).
//!
//! The ACS is a cross-site POST without the browser's `Lax` cookie, so a
//! checked response is parked on its sign-in row and the browser is sent to
//! `/sso/saml/{slug}/finish`, which only the browser that started the
//! sign-in (holding the binding cookie) can complete.

mod checks;

pub use checks::{
    fetch_metadata, prescan, verify, IdpMetadata, Prescan, Verified, CLOCK_SKEW_SECONDS,
    MAX_METADATA, MAX_RESPONSE_B64,
};

use super::model::{
    acs_url, safe_next, sp_metadata_url, Asserted, Finished, Flight, InFlight, Purpose,
};
use super::store::{self, ConnRow, Lookup};
use super::{Refusal, SsoService};
use crate::actor::RequestMeta;
use crate::clock::{hash_secret, new_secret};
use crate::error::{Error, Result};
use checks::{service_provider, STATUS_SUCCESS};
use portcullis_types::{SamlSettings, SsoKind, SsoSlug};

/// Who the verified assertion says the person is.
fn asserted_from(v: &Verified, settings: &SamlSettings) -> Asserted {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .take(320)
            .collect::<String>()
    };
    let first = |name: &str| {
        v.attributes
            .iter()
            .find(|(n, _)| !name.is_empty() && n == name)
            .and_then(|(_, vals)| vals.first())
            .map(|s| clean(s))
    };
    let email = first(&settings.email_attribute)
        .or_else(|| v.name_id.contains('@').then(|| clean(&v.name_id)));
    let groups = v
        .attributes
        .iter()
        .filter(|(n, _)| !settings.groups_attribute.is_empty() && *n == settings.groups_attribute)
        .flat_map(|(_, vals)| vals.iter().cloned())
        .collect();
    let mut claims = vec![("NameID".to_owned(), v.name_id.clone())];
    claims.extend(
        v.attributes
            .iter()
            .map(|(n, vals)| (n.clone(), vals.join(", ").chars().take(2000).collect())),
    );
    Asserted {
        subject: clean(&v.name_id),
        email,
        // The IdP signed the assertion: its email is as good as it says.
        email_verified: true,
        name: first(&settings.name_attribute),
        groups,
        claims,
    }
}

/// How the ACS step ends.
#[derive(Debug)]
pub enum AcsOutcome {
    /// Send the browser to `finish?r={handle}` (setting the binding cookie
    /// `browser` first, for an IdP-initiated sign-in).
    Continue {
        handle: String,
        browser: Option<String>,
    },
    /// Ended at the ACS: refused, or a test run's result to show.
    Done(Finished),
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl SsoService {
    fn idp_metadata(conn: &ConnRow) -> Result<IdpMetadata> {
        let xml = conn
            .idp_metadata
            .as_deref()
            .ok_or_else(|| Error::Internal("SAML connection without metadata".into()))?;
        IdpMetadata::parse(xml).map_err(Error::Internal)
    }

    /// The SP metadata to give the IdP (written here: samael's would
    /// advertise a logout endpoint the console does not have).
    pub async fn sp_metadata(&self, slug: &SsoSlug, public_url: &str) -> Result<String> {
        self.conn_of_kind(slug, SsoKind::Saml).await?;
        let slug = slug.as_str();
        let entity = sp_metadata_url(public_url, slug);
        let acs = acs_url(public_url, slug);
        Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
            entity = xml_escape(&entity),
            acs = xml_escape(&acs),
        ))
    }

    /// Builds the AuthnRequest (HTTP-Redirect) and stores the sign-in.
    pub(in crate::sso) async fn start_saml(
        &self,
        conn: &ConnRow,
        flight: &Flight<'_>,
        public_url: &str,
    ) -> Result<String> {
        let meta = Self::idp_metadata(conn)?;
        let entity = sp_metadata_url(public_url, &conn.slug);
        let acs = acs_url(public_url, &conn.slug);
        // samael's own ids have 32 random bits; ours have 256.
        let request_id = format!("_{}", hash_secret(&new_secret()));
        let url = {
            let sp = service_provider(&meta, &entity, &acs, false).map_err(Error::Internal)?;
            let mut req = sp
                .make_authentication_request(&meta.sso_url)
                .map_err(|e| Error::Internal(format!("AuthnRequest: {e}")))?;
            req.id = request_id.clone();
            req.redirect("")
                .map_err(|e| Error::Internal(format!("AuthnRequest: {e}")))?
                .ok_or_else(|| Error::Internal("AuthnRequest without destination".into()))?
                .to_string()
        };
        self.insert_request(conn, &request_id, flight, None, None)
            .await?;
        Ok(url)
    }

    /// The assertion consumer: checks the response and parks what it
    /// asserts on the sign-in it answers.
    pub async fn saml_acs(
        &self,
        slug: &SsoSlug,
        saml_response: &str,
        relay_state: Option<&str>,
        meta: RequestMeta,
        public_url: &str,
    ) -> Result<AcsOutcome> {
        self.check_throttle(&meta).await?;
        let conn = self.conn_of_kind(slug, SsoKind::Saml).await?;
        let refuse = |request: Option<InFlight>, refusal: Refusal, detail: String| {
            let conn = conn.clone();
            let meta = meta.clone();
            async move {
                self.refuse_early(&conn, request.as_ref(), &meta, refusal, &detail)
                    .await
                    .map(AcsOutcome::Done)
            }
        };
        if saml_response.len() > MAX_RESPONSE_B64 {
            return refuse(
                None,
                Refusal::Invalid,
                "the SAMLResponse is too large".into(),
            )
            .await;
        }
        let xml = {
            use base64::Engine;
            let compact: String = saml_response
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            match base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(x) => x,
                None => {
                    return refuse(
                        None,
                        Refusal::Invalid,
                        "the SAMLResponse is not base64 XML".into(),
                    )
                    .await
                }
            }
        };
        let pre = match prescan(&xml) {
            Ok(p) => p,
            Err(e) => return refuse(None, Refusal::Invalid, e).await,
        };
        // The sign-in it answers (looked up by the unverified InResponseTo;
        // samael then checks the signed InResponseTo against it).
        let request = match &pre.in_response_to {
            Some(id) => {
                let row = store::request(
                    self.core.db.exec(),
                    Lookup::AwaitingAnswer,
                    &hash_secret(id),
                    &conn.id,
                    self.now(),
                )
                .await?;
                match row {
                    Some(r) => Some(r),
                    None => {
                        return refuse(
                            None,
                            Refusal::Expired,
                            format!("InResponseTo {id:?} names no sign-in in flight (unknown, used or expired)"),
                        )
                        .await
                    }
                }
            }
            None if conn.allow_idp_initiated => None,
            None => {
                return refuse(
                    None,
                    Refusal::Invalid,
                    "an unsolicited (IdP-initiated) response, which this connection does not allow"
                        .into(),
                )
                .await
            }
        };
        if !conn.enabled && request.as_ref().is_none_or(|r| r.purpose != Purpose::Test) {
            return refuse(request, Refusal::NoConnection, "connection disabled".into()).await;
        }
        if let Some(status) = pre.status.as_deref().filter(|s| *s != STATUS_SUCCESS) {
            return refuse(
                request,
                Refusal::IdpError,
                format!("the IdP answered status {status}"),
            )
            .await;
        }
        let acs = acs_url(public_url, &conn.slug);
        if pre.destination.as_deref().is_some_and(|d| d != acs) {
            return refuse(
                request,
                Refusal::Invalid,
                "the response's Destination is not this console's ACS".into(),
            )
            .await;
        }
        let idp = Self::idp_metadata(&conn)?;
        let entity = sp_metadata_url(public_url, &conn.slug);
        let request_id = pre.in_response_to.clone();
        let verified = tokio::task::spawn_blocking(move || {
            verify(&idp, &entity, &acs, &xml, request_id.as_deref())
        })
        .await
        .map_err(|e| Error::Internal(format!("SAML verification task: {e}")))?;
        let verified = match verified {
            Ok(v) => v,
            Err(e) => return refuse(request, Refusal::Invalid, e).await,
        };
        // Replay cache: an assertion is accepted once, on every replica.
        let fresh = store::first_assertion(
            self.core.db.write(),
            &conn.id,
            &verified.assertion_id,
            verified.expires,
        )
        .await?;
        if !fresh {
            return refuse(
                request,
                Refusal::Invalid,
                format!(
                    "assertion {:?} was already used (replay)",
                    verified.assertion_id
                ),
            )
            .await;
        }
        let asserted = asserted_from(&verified, &conn.saml()?);
        let outcome =
            serde_json::to_string(&asserted).map_err(|e| Error::Internal(e.to_string()))?;
        match pre.in_response_to {
            Some(id) => {
                let parked = store::park_outcome(
                    self.core.db.write(),
                    &hash_secret(&id),
                    &conn.id,
                    &outcome,
                )
                .await?;
                if !parked {
                    return refuse(
                        None,
                        Refusal::Expired,
                        "the sign-in was answered twice".into(),
                    )
                    .await;
                }
                Ok(AcsOutcome::Continue {
                    handle: id,
                    browser: None,
                })
            }
            None => {
                // IdP-initiated: a new sign-in for this browser, going to
                // RelayState if it is a local path.
                let handle = new_secret();
                let browser = new_secret();
                let next = safe_next(relay_state.unwrap_or("/"));
                let flight = Flight {
                    purpose: Purpose::SignIn,
                    next: &next,
                    tester: None,
                    browser: &browser,
                };
                self.insert_request(&conn, &handle, &flight, None, None)
                    .await?;
                store::set_outcome(self.core.db.write(), &hash_secret(&handle), &outcome).await?;
                Ok(AcsOutcome::Continue {
                    handle,
                    browser: Some(browser),
                })
            }
        }
    }

    /// The second step: the browser that started the sign-in comes back
    /// with its cookie and gets its session (or its refusal).
    pub async fn saml_finish(
        &self,
        slug: &SsoSlug,
        handle: &str,
        browser: Option<&str>,
        meta: RequestMeta,
    ) -> Result<Finished> {
        self.check_throttle(&meta).await?;
        let conn = self.conn_of_kind(slug, SsoKind::Saml).await?;
        let request = match self
            .take_or_refuse(&conn, handle, browser, true, &meta)
            .await?
        {
            Ok(r) => r,
            Err(refused) => return Ok(refused),
        };
        let asserted: Asserted = serde_json::from_str(request.outcome.as_deref().unwrap_or(""))
            .map_err(|e| Error::Internal(format!("parked SAML outcome: {e}")))?;
        self.finish(&conn, &request, &asserted, meta).await
    }
}
