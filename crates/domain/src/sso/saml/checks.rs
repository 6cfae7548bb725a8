//! The SAML protocol checks that need no database: IdP metadata (parsed
//! and fetched), the strict pre-parse of a response ([`prescan`]), and
//! samael's verification with the checks it lacks ([`verify`]). See the
//! `saml` module docs for why each is there.

use chrono::{DateTime, Duration, Utc};
use portcullis_discovery::Guard;
use samael::crypto::{decode_x509_cert, AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};

/// Largest `SAMLResponse` accepted (base64 characters).
pub const MAX_RESPONSE_B64: usize = 256 * 1024;
/// Largest IdP metadata document.
pub const MAX_METADATA: usize = 1024 * 1024;
/// Clock skew allowed on NotBefore / NotOnOrAfter.
pub const CLOCK_SKEW_SECONDS: i64 = 120;

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const OK_TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
];
const OK_C14N: &[&str] = &[
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
];
pub(super) const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// SHA-2 only: SHA-1 signatures and digests are refused.
const ALLOWED_ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

fn strict(xml: &str) -> std::result::Result<roxmltree::Document<'_>, String> {
    roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: 50_000,
        },
    )
    .map_err(|e| format!("the XML is refused: {e}"))
}

fn is(n: &roxmltree::Node, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

/// An IdP's metadata, checked.
#[derive(Clone, Debug)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_url: String,
    pub signing_certs: Vec<CertificateDer>,
    pub descriptor: EntityDescriptor,
}

impl IdpMetadata {
    /// Parses IdP metadata: no DTD, an entity id, an HTTP-Redirect
    /// SingleSignOnService, and at least one signing certificate.
    pub fn parse(xml: &str) -> std::result::Result<Self, String> {
        if xml.len() > MAX_METADATA {
            return Err(format!("the metadata is larger than {MAX_METADATA} bytes"));
        }
        strict(xml)?;
        let descriptor: EntityDescriptor = xml
            .parse()
            .map_err(|e| format!("this is not SAML IdP metadata: {e}"))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or("the metadata has no entityID")?;
        let idps = descriptor.idp_sso_descriptors.as_deref().unwrap_or(&[]);
        if idps.is_empty() {
            return Err("the metadata describes no identity provider (IDPSSODescriptor)".into());
        }
        let sso_url = idps
            .iter()
            .flat_map(|d| d.single_sign_on_services.iter())
            .find(|s| s.binding == HTTP_REDIRECT_BINDING)
            .map(|s| s.location.clone())
            .ok_or("the IdP offers no HTTP-Redirect SingleSignOnService")?;
        // The certificates samael will verify with: `use="signing"` ones, or
        // (only if there are none) ones without a use.
        let mut signing_certs = Vec::new();
        for without_use in [false, true] {
            for d in idps {
                for kd in &d.key_descriptors {
                    let wanted = if without_use {
                        kd.key_use.as_deref().is_none_or(str::is_empty)
                    } else {
                        kd.is_signing()
                    };
                    if !wanted {
                        continue;
                    }
                    for c in kd
                        .key_info
                        .x509_data
                        .iter()
                        .flat_map(|x| x.certificates.iter())
                    {
                        let der = decode_x509_cert(c).map_err(|e| {
                            format!("a certificate in the metadata is not base64: {e}")
                        })?;
                        openssl::x509::X509::from_der(der.der_data()).map_err(|e| {
                            format!("a certificate in the metadata does not parse: {e}")
                        })?;
                        signing_certs.push(der);
                    }
                }
            }
            if !signing_certs.is_empty() {
                break;
            }
        }
        if signing_certs.is_empty() {
            return Err(
                "the metadata has no signing certificate, so responses could not be verified"
                    .into(),
            );
        }
        Ok(Self {
            entity_id,
            sso_url,
            signing_certs,
            descriptor,
        })
    }

    /// "SHA-256 AB:CD:… · expires 2027-01-01" per signing certificate.
    pub fn certificate_labels(&self) -> Vec<String> {
        self.signing_certs
            .iter()
            .filter_map(|c| openssl::x509::X509::from_der(c.der_data()).ok())
            .map(|x| {
                let fp = x
                    .digest(openssl::hash::MessageDigest::sha256())
                    .map(|d| {
                        d.iter()
                            .map(|b| format!("{b:02X}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    })
                    .unwrap_or_default();
                format!("SHA-256 {fp} · expires {}", x.not_after())
            })
            .collect()
    }
}

/// Fetches IdP metadata through the SSRF guard.
pub async fn fetch_metadata(guard: &Guard, url: &str) -> std::result::Result<String, String> {
    let fetched = guard
        .get(url)
        .await
        .and_then(|f| f.error_for_status())
        .map_err(|e| format!("fetching the metadata failed: {e}"))?;
    String::from_utf8(fetched.body.to_vec()).map_err(|_| "the metadata is not UTF-8 text".into())
}

/// What the strict pre-parse learned about a response (unverified).
#[derive(Debug, PartialEq, Eq)]
pub struct Prescan {
    pub in_response_to: Option<String>,
    pub status: Option<String>,
    pub destination: Option<String>,
}

/// The strict pre-parse; see the module docs.
pub fn prescan(xml: &str) -> std::result::Result<Prescan, String> {
    let doc = strict(xml)?;
    let root = doc.root_element();
    if !is(&root, SAMLP, "Response") {
        return Err("the message is not a samlp:Response".into());
    }
    let (mut assertions, mut signatures) = (0usize, 0usize);
    for n in doc.descendants().filter(|n| n.is_element()) {
        if is(&n, SAML, "Assertion") {
            assertions += 1;
        } else if is(&n, SAML, "EncryptedAssertion") {
            return Err("encrypted assertions are not supported".into());
        } else if is(&n, DSIG, "Signature") {
            signatures += 1;
            let parent = n.parent_element().ok_or("a signature without a parent")?;
            if !(is(&parent, SAMLP, "Response") || is(&parent, SAML, "Assertion")) {
                return Err("a signature in an unexpected place".into());
            }
            let id = parent
                .attribute("ID")
                .ok_or("a signed element without an ID")?;
            let refs: Vec<_> = n
                .descendants()
                .filter(|c| is(c, DSIG, "Reference"))
                .collect();
            let want = format!("#{id}");
            if refs.len() != 1 || refs[0].attribute("URI") != Some(want.as_str()) {
                return Err("a signature must reference exactly its own element".into());
            }
        } else if is(&n, DSIG, "Transform") {
            if !OK_TRANSFORMS.contains(&n.attribute("Algorithm").unwrap_or("")) {
                return Err("a signature transform that is not allowed".into());
            }
        } else if is(&n, DSIG, "CanonicalizationMethod") {
            if !OK_C14N.contains(&n.attribute("Algorithm").unwrap_or("")) {
                return Err("a canonicalization method that is not allowed".into());
            }
        } else if is(&n, DSIG, "Object")
            || is(&n, DSIG, "Manifest")
            || is(&n, DSIG, "RetrievalMethod")
        {
            return Err("a signature element that is not allowed".into());
        }
    }
    if assertions != 1 {
        return Err(format!(
            "expected exactly one assertion, found {assertions}"
        ));
    }
    if signatures == 0 {
        return Err("the response is not signed".into());
    }
    if signatures > 2 {
        return Err("too many signatures".into());
    }
    let status = root
        .children()
        .find(|c| is(c, SAMLP, "Status"))
        .and_then(|s| s.children().find(|c| is(c, SAMLP, "StatusCode")))
        .and_then(|c| c.attribute("Value"))
        .map(str::to_owned);
    Ok(Prescan {
        in_response_to: root.attribute("InResponseTo").map(str::to_owned),
        status,
        destination: root.attribute("Destination").map(str::to_owned),
    })
}

/// A verified assertion, reduced to what sign-in needs.
#[derive(Debug)]
pub struct Verified {
    pub assertion_id: String,
    pub name_id: String,
    pub expires: DateTime<Utc>,
    pub attributes: Vec<(String, Vec<String>)>,
}

pub(super) fn service_provider(
    meta: &IdpMetadata,
    entity_id: &str,
    acs_url: &str,
    idp_initiated: bool,
) -> std::result::Result<ServiceProvider, String> {
    let mut b = ServiceProviderBuilder::default();
    b.entity_id(entity_id.to_owned())
        .metadata_url(entity_id.to_owned())
        .acs_url(acs_url.to_owned())
        .idp_metadata(meta.descriptor.clone())
        .max_clock_skew(Duration::seconds(CLOCK_SKEW_SECONDS))
        .max_issue_delay(Duration::seconds(300))
        .allow_idp_initiated(idp_initiated)
        .allowed_signature_algorithms(ALLOWED_ALGORITHMS.to_vec());
    let sp = b.build().map_err(|e| e.to_string())?;
    match sp.idp_signing_certs() {
        Ok(Some(c)) if !c.is_empty() => Ok(sp),
        _ => Err("the IdP metadata has no signing certificate".into()),
    }
}

/// Verifies a response (blocking; run it off the async threads). `request_id`
/// is the AuthnRequest it must answer; `None` for IdP-initiated.
pub fn verify(
    meta: &IdpMetadata,
    entity_id: &str,
    acs_url: &str,
    xml: &str,
    request_id: Option<&str>,
) -> std::result::Result<Verified, String> {
    let sp = service_provider(meta, entity_id, acs_url, request_id.is_none())?;
    let ids: Vec<&str> = request_id.into_iter().collect();
    let a = sp
        .parse_xml_response(xml, request_id.map(|_| ids.as_slice()))
        .map_err(|e| format!("the response does not verify: {e}"))?;
    // samael checks the audience only when a restriction is present.
    let audience_ok = a
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_ref())
        .is_some_and(|rs| {
            !rs.is_empty() && rs.iter().all(|r| r.audience.iter().any(|x| x == entity_id))
        });
    if !audience_ok {
        return Err("the assertion's audience is missing or not this console".into());
    }
    let subject = a.subject.as_ref().ok_or("the assertion has no subject")?;
    let name_id = subject
        .name_id
        .as_ref()
        .map(|n| n.value.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or("the assertion has no NameID")?;
    let expires = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .find_map(|d| d.not_on_or_after)
        .or_else(|| a.conditions.as_ref().and_then(|c| c.not_on_or_after))
        .unwrap_or_else(|| Utc::now() + Duration::hours(1))
        + Duration::seconds(CLOCK_SKEW_SECONDS);
    let attributes = a
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|st| st.attributes.iter())
        .map(|at| {
            (
                at.name
                    .clone()
                    .or_else(|| at.friendly_name.clone())
                    .unwrap_or_default(),
                at.values
                    .iter()
                    .filter_map(|v| v.value.clone())
                    .map(|v| v.trim().to_owned())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Verified {
        assertion_id: a.id.clone(),
        name_id,
        expires,
        attributes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RESPONSE: &str = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_r" InResponseTo="_req" Destination="https://c/acs"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a"><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:Reference URI="#_a"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature></saml:Assertion></samlp:Response>"##;

    /// A well-formed signed response passes the pre-parse and says what it answers.
    #[test]
    fn sso_saml_prescan_accepts_plain_response() {
        let p = prescan(RESPONSE).unwrap();
        assert_eq!(p.in_response_to.as_deref(), Some("_req"));
        assert_eq!(p.status.as_deref(), Some(STATUS_SUCCESS));
        assert_eq!(p.destination.as_deref(), Some("https://c/acs"));
    }

    /// DTDs, a second assertion, remote references, foreign transforms,
    /// signatures elsewhere and unsigned responses are refused before xmlsec.
    #[test]
    fn sso_saml_prescan_refusals() {
        let cases = [
            (
                format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{RESPONSE}"),
                "refused",
            ),
            (
                RESPONSE.replace(
                    "</samlp:Response>",
                    "<saml:Assertion ID=\"_b\"/></samlp:Response>",
                ),
                "exactly one assertion",
            ),
            (
                RESPONSE.replace("URI=\"#_a\"", "URI=\"http://127.0.0.1:9/x\""),
                "reference",
            ),
            (RESPONSE.replace("URI=\"#_a\"", "URI=\"#_r\""), "reference"),
            (
                RESPONSE.replace("xmldsig#enveloped-signature", "xpath-19991116"),
                "transform",
            ),
            (
                RESPONSE.replace("<ds:SignedInfo>", "<ds:SignedInfo><ds:Object/>"),
                "not allowed",
            ),
            (
                {
                    let start = RESPONSE.find("<ds:Signature>").unwrap();
                    let end = RESPONSE.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
                    format!("{}{}", &RESPONSE[..start], &RESPONSE[end..])
                },
                "not signed",
            ),
            (
                RESPONSE.replace("saml:Assertion", "saml:EncryptedAssertion"),
                "encrypted",
            ),
            ("<foo/>".to_owned(), "not a samlp:Response"),
        ];
        for (xml, want) in cases {
            let err = prescan(&xml).unwrap_err();
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }

    /// Metadata without a signing certificate is refused.
    #[test]
    fn sso_saml_metadata_needs_signing_certificate() {
        let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
        let err = IdpMetadata::parse(xml).unwrap_err();
        assert!(err.contains("no signing certificate"), "{err}");
        let dtd = format!("<!DOCTYPE x>{xml}");
        assert!(IdpMetadata::parse(&dtd).unwrap_err().contains("refused"));
    }
}
