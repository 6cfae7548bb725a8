//! SAML sign-in (issue #4) with responses built and signed by the tests
//! (`xmlsec1`, an independent signer), so every SAML line of SECURITY.md is
//! exercised: unsigned, wrong signer, SHA-1, signature wrapping (XSW1–8),
//! NameID comment injection, more than one assertion, DTDs, replay, unknown
//! or reused `InResponseTo`, wrong Audience / Recipient / Destination,
//! expired, IdP-initiated only when allowed, RelayState only to local
//! paths, metadata without a signing certificate. The browser flow against
//! the real `samlify` IdP is in `end2end/tests/sso.spec.ts`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness::*;
use crate::sso::{location, sets_session};
use base64::Engine;
use chrono::{Duration, Utc};
use std::io::Read;

const KEY_A: &str = "tests/fixtures/sso/idp-a.key.pem";
const CERT_A: &str = "tests/fixtures/sso/idp-a.cert.pem";
const KEY_B: &str = "tests/fixtures/sso/idp-b.key.pem";
const CERT_B: &str = "tests/fixtures/sso/idp-b.cert.pem";
const IDP: &str = "https://idp.acme.test/saml";
const STATUS_OK: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

fn cert_b64(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// IdP metadata with (or without) the signing certificate.
pub(crate) fn metadata(with_cert: bool) -> String {
    let key = if with_cert {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            cert_b64(CERT_A)
        )
    } else {
        String::new()
    };
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key}<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

fn at(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A response to build; the defaults make an honest one.
#[derive(Clone)]
struct Resp {
    in_response_to: Option<String>,
    destination: String,
    audience: Option<String>,
    recipient: String,
    not_before: chrono::DateTime<Utc>,
    not_on_or_after: chrono::DateTime<Utc>,
    name_id: String,
    email: String,
    groups: Vec<String>,
    status: String,
    sign_assertion: bool,
    sign_response: bool,
    key: (&'static str, &'static str),
    sha1: bool,
}

impl Resp {
    fn honest(srv: &TestServer, request_id: Option<&str>) -> Self {
        Self {
            in_response_to: request_id.map(str::to_owned),
            destination: srv.url("/sso/saml/acme/acs"),
            audience: Some(srv.url("/sso/saml/acme/metadata")),
            recipient: srv.url("/sso/saml/acme/acs"),
            not_before: Utc::now() - Duration::minutes(1),
            not_on_or_after: Utc::now() + Duration::minutes(5),
            name_id: "alice@acme.test".into(),
            email: "alice@acme.test".into(),
            groups: vec!["portcullis-admins".into(), "engineering".into()],
            status: STATUS_OK.into(),
            sign_assertion: true,
            sign_response: true,
            key: (KEY_A, CERT_A),
            sha1: false,
        }
    }

    fn signature_template(&self, id: &str) -> String {
        let (sig, digest) = if self.sha1 {
            (
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
            )
        } else {
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            )
        };
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature>"##
        )
    }

    fn assertion(&self, id: &str) -> String {
        let now = Utc::now();
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let aud = self
            .audience
            .as_ref()
            .map(|a| {
                format!("<saml:AudienceRestriction><saml:Audience>{a}</saml:Audience></saml:AudienceRestriction>")
            })
            .unwrap_or_default();
        let groups: String = self
            .groups
            .iter()
            .map(|g| format!("<saml:AttributeValue>{g}</saml:AttributeValue>"))
            .collect();
        let sig = if self.sign_assertion {
            self.signature_template(id)
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{IDP}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{recipient}"{irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}">{aud}</saml:Conditions><saml:AuthnStatement AuthnInstant="{now}" SessionIndex="{id}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="name"><saml:AttributeValue>Alice Admin</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups">{groups}</saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
            now = at(now),
            nb = at(self.not_before),
            noa = at(self.not_on_or_after),
            name_id = self.name_id,
            recipient = self.recipient,
            email = self.email,
        )
    }

    /// The response XML, signed as asked.
    fn xml(&self) -> String {
        let rid = new_id();
        let aid = new_id();
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let sig = if self.sign_response {
            self.signature_template(&rid)
        } else {
            String::new()
        };
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" Destination="{dest}"{irt}><saml:Issuer>{IDP}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            now = at(Utc::now()),
            dest = self.destination,
            status = self.status,
            assertion = self.assertion(&aid),
        );
        let mut xml = xml;
        if self.sign_assertion {
            xml = xmlsec_sign(&xml, self.key, "Assertion");
        }
        if self.sign_response {
            xml = xmlsec_sign(&xml, self.key, "Response");
        }
        xml
    }
}

/// Signs the `Signature` template inside the first `node` with `xmlsec1`.
fn xmlsec_sign(xml: &str, (key, cert): (&str, &str), node: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    let output = dir.path().join("out.xml");
    std::fs::write(&input, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args([
            "--sign",
            "--privkey-pem",
            &format!("{key},{cert}"),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--node-xpath",
            &format!("(//*[local-name()='{node}']/*[local-name()='Signature'])[1]"),
            "--output",
        ])
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 (Debian package xmlsec1; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

async fn connect(
    srv: &TestServer,
    owner: &reqwest::Client,
    metadata: &str,
    idp_initiated: bool,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("name", "Acme SAML"),
        ("slug", "acme"),
        ("kind", "saml"),
        ("enabled", "on"),
        ("domains", "acme.test"),
        ("idp_metadata_xml", metadata),
        ("mapping_groups[]", "portcullis-admins"),
        ("mapping_roles[]", "admin"),
    ];
    if idp_initiated {
        form.push(("allow_idp_initiated", "on"));
    }
    srv.call(owner, "sso/create", &form).await
}

/// Starts a sign-in; returns the AuthnRequest's ID after checking it.
async fn start(srv: &TestServer, browser: &reqwest::Client) -> String {
    let res = browser
        .post(srv.url("/sso/start"))
        .form(&[("email", "alice@acme.test"), ("next", "/access/grants")])
        .send()
        .await
        .unwrap();
    request_id(srv, &res)
}

/// The AuthnRequest ID of a started sign-in, after checking the request.
fn request_id(srv: &TestServer, res: &reqwest::Response) -> String {
    let to = url::Url::parse(&crate::sso::to_idp(res)).unwrap();
    assert_eq!(to.host_str(), Some("idp.acme.test"));
    let request = to
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(request)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        xml.contains(&format!(
            r#"AssertionConsumerServiceURL="{}""#,
            srv.url("/sso/saml/acme/acs")
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&srv.url("/sso/saml/acme/metadata")),
        "issuer: {xml}"
    );
    let id = xml
        .split(" ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(id.len() >= 33, "a strong request id: {id}");
    id
}

/// Posts a response to the ACS as an IdP's page would (cross-site).
async fn post_acs(
    srv: &TestServer,
    browser: &reqwest::Client,
    xml: &str,
    relay: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("SAMLResponse", b64(xml))];
    if let Some(r) = relay {
        form.push(("RelayState", r.to_owned()));
    }
    browser
        .post(srv.url("/sso/saml/acme/acs"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://idp.acme.test")
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// ACS, then the finish step in the same browser: the final response.
async fn deliver(srv: &TestServer, browser: &reqwest::Client, xml: &str) -> reqwest::Response {
    let res = post_acs(srv, browser, xml, None).await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    if !to.starts_with("/sso/saml/acme/finish") {
        return res;
    }
    browser.get(srv.url(&to)).send().await.unwrap()
}

async fn me_role(srv: &TestServer, c: &reqwest::Client) -> Option<String> {
    let (status, body) = srv.call(c, "me", &[]).await;
    (status == 200).then(|| body["role"].as_str().unwrap_or_default().to_owned())
}

/// An honest sign-in, then every forged or broken response refused.
async fn saml_sign_in_and_refusals(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    let (status, body) = connect(&srv, &owner, &metadata(true), false).await;
    assert_eq!(status, 200, "{body}");

    // Honest: signed response and assertion, cross-site POST to the ACS.
    let browser = srv.client();
    let id = start(&srv, &browser).await;
    let res = deliver(&srv, &browser, &Resp::honest(&srv, Some(&id)).xml()).await;
    assert_eq!(location(&res), "/access/grants");
    assert!(sets_session(&res));
    assert_eq!(me_role(&srv, &browser).await.as_deref(), Some("admin"));
    // Only the assertion signed is fine too.
    let b = srv.client();
    let id = start(&srv, &b).await;
    let r = Resp {
        sign_response: false,
        ..Resp::honest(&srv, Some(&id))
    };
    assert!(sets_session(&deliver(&srv, &b, &r.xml()).await));

    type Break = fn(&mut Resp, &mut String);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "unsigned",
            |r, _| {
                r.sign_assertion = false;
                r.sign_response = false;
            },
            "invalid_response",
        ),
        (
            "wrong signer",
            |r, _| r.key = (KEY_B, CERT_B),
            "invalid_response",
        ),
        ("SHA-1", |r, _| r.sha1 = true, "invalid_response"),
        (
            "wrong audience",
            |r, _| r.audience = Some("https://other.test/sp".into()),
            "invalid_response",
        ),
        ("no audience", |r, _| r.audience = None, "invalid_response"),
        (
            "wrong recipient",
            |r, _| r.recipient = "https://other.test/acs".into(),
            "invalid_response",
        ),
        (
            "wrong destination",
            |r, _| r.destination = "https://other.test/acs".into(),
            "invalid_response",
        ),
        (
            "expired",
            |r, _| r.not_on_or_after = Utc::now() - Duration::minutes(10),
            "invalid_response",
        ),
        (
            "not yet valid",
            |r, _| r.not_before = Utc::now() + Duration::minutes(10),
            "invalid_response",
        ),
        (
            "unknown InResponseTo",
            |r, _| r.in_response_to = Some(new_id()),
            "expired",
        ),
        (
            "unsolicited",
            |r, _| r.in_response_to = None,
            "invalid_response",
        ),
        (
            "IdP error status",
            |r, _| r.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            "idp_error",
        ),
        (
            "tampered after signing",
            |_, x| *x = x.replace("alice@acme.test", "olga@acme.test"),
            "invalid_response",
        ),
        (
            "DTD",
            |_, x| *x = format!("<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>{x}"),
            "invalid_response",
        ),
        (
            "remote reference",
            |_, x| *x = x.replacen("URI=\"#", "URI=\"http://127.0.0.1:9/#", 1),
            "invalid_response",
        ),
    ];
    for (name, breaker, code) in cases {
        let b = srv.client();
        let id = start(&srv, &b).await;
        let mut r = Resp::honest(&srv, Some(&id));
        let mut dummy = String::new();
        breaker(&mut r, &mut dummy);
        let mut xml = r.xml();
        breaker(&mut r, &mut xml);
        let res = deliver(&srv, &b, &xml).await;
        assert_eq!(location(&res), format!("/login?sso_error={code}"), "{name}");
        assert!(!sets_session(&res), "{name} signed in");
        assert_eq!(me_role(&srv, &b).await, None, "{name}");
    }

    // NameID comment injection: the IdP signs a name with a comment in it;
    // it must never become alice@acme.test.
    let b = srv.client();
    let id = start(&srv, &b).await;
    let r = Resp {
        name_id: "alice@acme.test<!---->.evil.test".into(),
        email: "alice@acme.test<!---->.evil.test".into(),
        ..Resp::honest(&srv, Some(&id))
    };
    let res = deliver(&srv, &b, &r.xml()).await;
    assert!(
        !sets_session(&res),
        "comment injection signed in: {}",
        location(&res)
    );

    // A checked response finishes only in the browser that started it.
    let a = srv.client();
    let id = start(&srv, &a).await;
    let res = post_acs(&srv, &a, &Resp::honest(&srv, Some(&id)).xml(), None).await;
    let finish = location(&res);
    let other = srv.client();
    let res = other.get(srv.url(&finish)).send().await?;
    assert_eq!(location(&res), "/login?sso_error=expired");
    let res = a.get(srv.url(&finish)).send().await?;
    assert_eq!(
        location(&res),
        "/login?sso_error=expired",
        "used up by the attempt"
    );

    // A second response to a request already answered.
    let a = srv.client();
    let id = start(&srv, &a).await;
    assert!(sets_session(
        &deliver(&srv, &a, &Resp::honest(&srv, Some(&id)).xml()).await
    ));
    let res = deliver(&srv, &a, &Resp::honest(&srv, Some(&id)).xml()).await;
    assert_eq!(
        location(&res),
        "/login?sso_error=expired",
        "reused InResponseTo"
    );

    let refused = audit_rows(&db.url, "console.signin.refused").await;
    assert!(refused.len() >= 17, "{}", refused.len());
    let text = audit_text(&db.url).await;
    assert!(
        !text.contains("SAMLResponse") && !text.contains("SignatureValue"),
        "no assertion in the audit log"
    );
    srv.stop().await;
    Ok(())
}

backend_tests!(saml_sign_in_and_refusals);

/// The eight classic signature wrapping shapes, built from an honestly
/// signed response: none signs in.
#[tokio::test]
async fn saml_signature_wrapping_is_refused() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    connect(&srv, &owner, &metadata(true), false).await;
    let evil = |s: &str| {
        s.replace("alice@acme.test", "olga@acme.test")
            .replace("portcullis-admins", "portcullis-owners")
    };
    type Wrap = fn(&str, &dyn Fn(&str) -> String) -> String;
    let variants: Vec<(&str, Wrap)> = vec![
        // XSW1: forged Response whose Signature holds the original signed Response in an Object.
        ("XSW1", |x, evil| {
            let inner = x.to_owned();
            let forged = evil(x);
            forged.replacen(
                "</ds:SignatureValue>",
                &format!("</ds:SignatureValue><ds:Object>{inner}</ds:Object>"),
                1,
            )
        }),
        // XSW2: the original Response as a sibling before the forged content.
        ("XSW2", |x, evil| {
            let forged = evil(x);
            let at = forged.find("<samlp:Status>").unwrap();
            format!("{}{}{}", &forged[..at], x, &forged[at..])
        }),
        // XSW3: a forged assertion before the signed one.
        ("XSW3", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let forged = evil(&x[s..e]).replace("ID=\"_", "ID=\"_f");
            format!("{}{}{}", &x[..s], forged, &x[s..])
        }),
        // XSW4: a forged assertion wrapping the signed one.
        ("XSW4", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let forged = evil(&x[s..e]).replace("ID=\"_", "ID=\"_f");
            let wrapped = forged.replacen(
                "</saml:Assertion>",
                &format!("{}</saml:Assertion>", &x[s..e]),
                1,
            );
            format!("{}{}{}", &x[..s], wrapped, &x[e..])
        }),
        // XSW5: the signed assertion's values changed, a copy of the original appended.
        ("XSW5", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let forged = evil(&x[s..e]);
            format!("{}{}{}{}", &x[..s], forged, &x[s..e], &x[e..])
        }),
        // XSW6: the original assertion inside the forged assertion's Signature Object.
        ("XSW6", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let forged = evil(&x[s..e]).replacen(
                "</ds:SignatureValue>",
                &format!("</ds:SignatureValue><ds:Object>{}</ds:Object>", &x[s..e]),
                1,
            );
            format!("{}{}{}", &x[..s], forged, &x[e..])
        }),
        // XSW7: the original assertion hidden in an Extensions element, a forged one in its place.
        ("XSW7", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let forged = evil(&x[s..e]);
            format!(
                "{}<samlp:Extensions>{}</samlp:Extensions>{}{}",
                &x[..s],
                &x[s..e],
                forged,
                &x[e..]
            )
        }),
        // XSW8: the original inside an Object of the forged assertion's Signature, no Signature in the copy.
        ("XSW8", |x, evil| {
            let s = x.find("<saml:Assertion").unwrap();
            let e = x.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            let original = &x[s..e];
            let forged = evil(original).replacen(
                "</ds:Signature>",
                &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
                1,
            );
            format!("{}{}{}", &x[..s], forged, &x[e..])
        }),
    ];
    for (name, wrap) in variants {
        let b = srv.client();
        let id = start(&srv, &b).await;
        let honest = Resp::honest(&srv, Some(&id)).xml();
        let xml = wrap(&honest, &evil);
        assert_ne!(xml, honest);
        let res = deliver(&srv, &b, &xml).await;
        assert_eq!(
            location(&res),
            "/login?sso_error=invalid_response",
            "{name}"
        );
        assert!(!sets_session(&res), "{name} signed in");
    }
    assert_eq!(
        crate::sso::count(
            &db,
            "SELECT COUNT(*) FROM console_users WHERE email = 'olga@acme.test'"
        )
        .await,
        0
    );
    srv.stop().await;
    Ok(())
}

/// IdP-initiated sign-in when the connection allows it: RelayState only to
/// local paths, and a response is accepted once (replay cache).
#[tokio::test]
async fn saml_idp_initiated_and_replay() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    let (status, _) = connect(&srv, &owner, &metadata(true), true).await;
    assert_eq!(status, 200);
    let xml = Resp::honest(&srv, None).xml();
    let b = srv.client();
    let res = post_acs(&srv, &b, &xml, Some("https://evil.test/steal")).await;
    assert_eq!(res.status(), 303);
    assert!(res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap_or("").starts_with("portcullis_sso=")));
    let res = b.get(srv.url(&location(&res))).send().await?;
    assert_eq!(location(&res), "/", "a foreign RelayState goes nowhere");
    assert!(sets_session(&res));
    // The same response again: a replay.
    let c = srv.client();
    let res = deliver(&srv, &c, &xml).await;
    assert_eq!(location(&res), "/login?sso_error=invalid_response");
    assert!(audit_text(&db.url).await.contains("replay"));
    // A fresh one with a local RelayState.
    let res = post_acs(&srv, &c, &Resp::honest(&srv, None).xml(), Some("/gateways")).await;
    let res = c.get(srv.url(&location(&res))).send().await?;
    assert_eq!(location(&res), "/gateways");
    srv.stop().await;
    Ok(())
}

/// Metadata without a signing certificate, or with a DTD, is refused; a
/// metadata URL on loopback is refused by the SSRF guard; the SP metadata
/// names the entity id and ACS.
#[tokio::test]
async fn saml_metadata_rules() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    let (status, body) = connect(&srv, &owner, &metadata(false), false).await;
    assert_eq!(status, 422);
    assert!(
        body.to_string().contains("idp_metadata_xml")
            && body.to_string().contains("signing certificate"),
        "{body}"
    );
    let (status, body) = connect(
        &srv,
        &owner,
        &format!("<!DOCTYPE x>{}", metadata(true)),
        false,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = srv
        .call(
            &owner,
            "sso/create",
            &[
                ("name", "By URL"),
                ("slug", "by-url"),
                ("kind", "saml"),
                ("domains", "acme.test"),
                ("metadata_url", &srv.url("/healthz")),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.to_string().contains("metadata_url") && body.to_string().contains("loopback"),
        "{body}"
    );
    // OIDC discovery goes through the same guard.
    let (status, body) = srv
        .call(
            &owner,
            "sso/create",
            &[
                ("name", "Local OIDC"),
                ("slug", "local"),
                ("kind", "oidc"),
                ("domains", "acme.test"),
                ("issuer", &srv.base),
                ("client_id", "x"),
                ("client_secret", "y"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.to_string().contains("issuer") && body.to_string().contains("loopback"),
        "{body}"
    );
    assert_eq!(
        crate::sso::count(&db, "SELECT COUNT(*) FROM sso_connections").await,
        0
    );

    let (status, _) = connect(&srv, &owner, &metadata(true), false).await;
    assert_eq!(status, 200);
    let res = reqwest::get(srv.url("/sso/saml/acme/metadata")).await?;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = res.text().await?;
    assert!(xml.contains(&format!(
        r#"entityID="{}""#,
        srv.url("/sso/saml/acme/metadata")
    )));
    assert!(xml.contains(&format!(r#"Location="{}""#, srv.url("/sso/saml/acme/acs"))));
    assert_eq!(
        reqwest::get(srv.url("/sso/saml/nope/metadata"))
            .await?
            .status(),
        404
    );
    srv.stop().await;
    Ok(())
}

/// "Test connection" over SAML: a verified answer and a broken one both end
/// on the connection page with what happened; nobody is signed in.
#[tokio::test]
async fn saml_test_connection_signs_nobody_in() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    let (status, id) = connect(&srv, &owner, &metadata(true), false).await;
    assert_eq!(status, 200);
    let id = id.as_str().unwrap_or_default().to_owned();

    // A verified answer for someone without a mapped group.
    let res = owner.post(srv.url("/sso/test/acme")).send().await?;
    let req = request_id(&srv, &res);
    let r = Resp {
        groups: vec!["engineering".into()],
        ..Resp::honest(&srv, Some(&req))
    };
    let res = post_acs(&srv, &owner, &r.xml(), None).await;
    let res = owner.get(srv.url(&location(&res))).send().await?;
    let to = location(&res);
    assert!(to.starts_with(&format!("/settings/sso/{id}?test=")), "{to}");
    assert!(!sets_session(&res));
    let tid = to.split("test=").nth(1).unwrap_or_default().to_owned();
    let (status, result) = srv.call(&owner, "sso/test_result", &[("id", &tid)]).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["email"], "alice@acme.test");
    assert!(result["claims"].to_string().contains("engineering"));

    // A broken answer: the result says why, straight from the ACS.
    let res = owner.post(srv.url("/sso/test/acme")).send().await?;
    let req = request_id(&srv, &res);
    let r = Resp {
        key: (KEY_B, CERT_B),
        ..Resp::honest(&srv, Some(&req))
    };
    let res = post_acs(&srv, &owner, &r.xml(), None).await;
    let to = location(&res);
    assert!(to.starts_with(&format!("/settings/sso/{id}?test=")), "{to}");
    let tid = to.split("test=").nth(1).unwrap_or_default().to_owned();
    let (_, result) = srv.call(&owner, "sso/test_result", &[("id", &tid)]).await;
    assert_eq!(result["ok"], false);
    assert!(
        result["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("did not verify"),
        "{result}"
    );
    // The owner is still the owner.
    assert_eq!(me_role(&srv, &owner).await.as_deref(), Some("owner"));
    assert_eq!(
        audit_actions(&db.url, "sso.connection.tested").await.len(),
        2
    );
    srv.stop().await;
    Ok(())
}

/// SAML attribute values are shown as text: markup an IdP (or whoever
/// controls a group name there) sends cannot reach the page as markup.
#[tokio::test]
async fn saml_attribute_values_are_escaped_in_the_page() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let owner = srv.owner_client("a long owner password").await;
    let (status, id) = connect(&srv, &owner, &metadata(true), false).await;
    assert_eq!(status, 200);
    let id = id.as_str().unwrap_or_default().to_owned();

    let res = owner.post(srv.url("/sso/test/acme")).send().await?;
    let req = request_id(&srv, &res);
    // XML-escaped in the assertion, so the IdP's value is the raw markup.
    let r = Resp {
        groups: vec![
            "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;".into(),
            "&lt;b&gt;bold&lt;/b&gt;".into(),
        ],
        ..Resp::honest(&srv, Some(&req))
    };
    let res = post_acs(&srv, &owner, &r.xml(), None).await;
    let res = owner.get(srv.url(&location(&res))).send().await?;
    let to = location(&res);
    let tid = to.split("test=").nth(1).unwrap_or_default().to_owned();
    let (_, result) = srv.call(&owner, "sso/test_result", &[("id", &tid)]).await;
    assert!(
        result["claims"]
            .to_string()
            .contains("<img src=x onerror=alert(1)>"),
        "the value arrived as sent: {result}"
    );

    let res = owner
        .get(srv.url(&format!("/settings/sso/{id}?test={tid}")))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let html = res.text().await?;
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the group is on the page, as text"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
    assert!(!html.contains("<img src=x"), "no markup from the IdP");
    assert!(!html.contains("<b>bold</b>"), "no markup from the IdP");
    srv.stop().await;
    Ok(())
}
