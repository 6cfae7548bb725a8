//! The OAuth 2.1 authorization server for MCP clients (issue #15) over HTTP:
//! an employee of a SCIM directory signs in through the test IdP, consents,
//! and the client exchanges the code for a resource-bound JWT. Each line of
//! the "OAuth authorization server" section of SECURITY.md has a test here
//! that fails if the protection goes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::directory::{create_directory, provision_user, set_active};
use crate::harness::*;
use crate::sso::{callback, location, sets_session, to_idp, FakeIdp, Person};
use base64::Engine;
use portcullis_domain::oauth::model::{ClientId, ClientStatus, CreateClient};
use portcullis_domain::Actor;
use portcullis_types::ServerInput;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;

const REDIRECT: &str = "http://127.0.0.1:5555/callback";
pub(crate) const RES_A: &str = "https://mcp.acme.test/github";
const RES_B: &str = "https://mcp.acme.test/jira";

pub(crate) struct Env {
    pub idp: FakeIdp,
    pub srv: TestServer,
    pub owner: reqwest::Client,
    pub dir_id: String,
    pub dir_base: String,
    pub dir_token: String,
    pub alice: String,
    pub client_id: String,
    /// The SSO connection `acme` (the IdP).
    pub sso_id: String,
}

fn system() -> Actor {
    Actor::system("test")
}

/// A console with the IdP connected to directory "Okta" (Alice in it, no
/// console role for anyone), servers `github` (A) and `jira` (B), and a
/// pre-registered public client.
pub(crate) async fn setup(db: &TestDb) -> Env {
    setup_with(db, &[], &[]).await
}

/// [`setup`] with more hosts the console may fetch from, and more
/// configuration.
pub(crate) async fn setup_with(db: &TestDb, hosts: &[&str], extra: &[(&str, &str)]) -> Env {
    let idp = FakeIdp::start().await;
    let mut allowed = vec![idp.issuer.trim_start_matches("http://").to_owned()];
    allowed.extend(hosts.iter().map(|h| (*h).to_owned()));
    let allowed = allowed.join(",");
    let mut config = vec![("PORTCULLIS_FETCH_ALLOWED_HOSTS", allowed.as_str())];
    config.extend_from_slice(extra);
    let srv = TestServer::start_on(db.alias(), &config).await;
    let owner = srv.owner_client("a long owner password").await;
    let (dir_id, dir_token, dir_base) = create_directory(&srv, &owner, "Okta").await;
    let alice = provision_user(
        &dir_base,
        &dir_token,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@acme.test",
            "externalId": "alice-sub",
            "active": true,
            "emails": [{ "value": "alice@acme.test", "primary": true }],
        }),
    )
    .await;
    let (status, body) = srv
        .call(
            &owner,
            "sso/create",
            &[
                ("name", "Acme IdP"),
                ("slug", "acme"),
                ("kind", "oidc"),
                ("enabled", "on"),
                ("domains", "acme.test"),
                ("issuer", &idp.issuer),
                ("client_id", "portcullis"),
                ("client_secret", "client-secret-for-tests"),
                ("directory_id", &dir_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "sso/create: {body}");
    let sso_id = body.as_str().unwrap().to_owned();
    let svc = &srv.running.services;
    for (name, slug, res) in [("GitHub", "github", RES_A), ("Jira", "jira", RES_B)] {
        svc.catalog
            .create_server(
                &system(),
                &ServerInput {
                    name: name.into(),
                    slug: slug.into(),
                    resource_url: res.into(),
                    description: String::new(),
                    owner: String::new(),
                    tags: String::new(),
                },
            )
            .await
            .unwrap();
    }
    let client = svc
        .oauth
        .create_client(
            &system(),
            &CreateClient {
                name: "Test MCP client".into(),
                redirect_uris: vec![REDIRECT.into()],
                confidential: false,
                keys: None,
            },
        )
        .await
        .unwrap();
    idp.person(Person::new("alice-sub", "alice@acme.test", &[]));
    Env {
        idp,
        srv,
        owner,
        dir_id,
        dir_base,
        dir_token,
        alice,
        client_id: client.client_id,
        sso_id,
    }
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = format!(
        "v-{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(
    env: &Env,
    client_id: &str,
    resource: &str,
    scope: &str,
    challenge: &str,
) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", resource)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .finish();
    env.srv.url(&format!("/oauth/authorize?{q}"))
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The hidden `request` field of a sign-in or consent page.
fn request_key(html: &str) -> String {
    let at = html
        .find(r#"name="request" value=""#)
        .expect("request field");
    let rest = &html[at + r#"name="request" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Signs Alice in through the authorize page (the browser keeps the
/// cookies); returns the response of the IdP callback.
async fn sign_in_for_client(env: &Env, browser: &reqwest::Client, url: &str) -> reqwest::Response {
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the sign-in step");
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in to continue"), "{html}");
    let key = request_key(&html);
    let res = browser
        .post(env.srv.url("/oauth/authorize/signin"))
        .form(&[("request", key.as_str()), ("email", "alice@acme.test")])
        .send()
        .await
        .unwrap();
    let back = env.idp.authorize(&to_idp(&res));
    callback(browser, &back).await
}

/// A whole authorization in `browser`: sign-in (if needed), consent;
/// returns the final redirect's query.
pub(crate) async fn authorize(
    env: &Env,
    browser: &reqwest::Client,
    client_id: &str,
    resource: &str,
    scope: &str,
    challenge: &str,
) -> HashMap<String, String> {
    let url = authorize_url(env, client_id, resource, scope, challenge);
    let res = browser.get(&url).send().await.unwrap();
    let consent_url = if res.status() == 303 {
        env.srv.url(&location(&res))
    } else {
        let res = sign_in_for_client(env, browser, &url).await;
        assert_eq!(res.status(), 303, "signed in");
        assert!(!sets_session(&res), "no console session, ever");
        env.srv.url(&location(&res))
    };
    let res = browser.get(&consent_url).send().await.unwrap();
    if res.status() == 303 {
        return query_of(&location(&res));
    }
    assert_eq!(res.status(), 200);
    // The consent page's own CSP admits the client's redirect origin as a
    // form target: browsers check the page's form-action against the whole
    // redirect chain of the form's submission.
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let form_src = csp
        .split("form-action 'self' ")
        .nth(1)
        .unwrap_or_else(|| panic!("no extra form-action source: {csp}"))
        .to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Allow"), "{html}");
    let res = browser
        .post(env.srv.url("/oauth/consent"))
        .form(&[
            ("request", request_key(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert!(
        to.starts_with(&format!("{form_src}/")),
        "{form_src} admits {to}"
    );
    query_of(&to)
}

pub(crate) async fn token(
    env: &Env,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap_or(Value::Null), headers)
}

pub(crate) async fn exchange(
    env: &Env,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    let (s, b, _) = token(
        env,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ],
    )
    .await;
    (s, b)
}

async fn refresh(env: &Env, client_id: &str, rt: &str) -> (u16, Value) {
    let (s, b, _) = token(
        env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", client_id),
        ],
    )
    .await;
    (s, b)
}

/// Runs one statement on the test database.
pub(crate) async fn exec_sql(db: &TestDb, sql: &str) {
    let pool = portcullis_domain::Db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    portcullis_domain::db::exec_dyn(pool.write(), sql, &[])
        .await
        .unwrap();
    pool.close().await;
}

async fn verifier_of(env: &Env) -> portcullis_policy::signed::Verifier {
    let jwks = reqwest::get(env.srv.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    portcullis_policy::signed::Verifier::from_jwks(&jwks).unwrap()
}

/// The metadata has what MCP clients check before they proceed; dynamic
/// registration is off by default, so no registration endpoint.
async fn oauth_metadata_advertises_what_clients_check(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let res = reqwest::get(env.srv.url(path)).await?;
        assert_eq!(res.status(), 200, "{path}");
        let m: Value = res.json().await?;
        assert_eq!(m["issuer"], env.srv.running.public_url.as_str());
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        let methods = m["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        for want in ["none", "private_key_jwt", "client_secret_basic"] {
            assert!(methods.contains(&json!(want)), "{want}");
        }
        assert!(m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access")));
        assert_eq!(
            m["grant_types_supported"],
            json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            m["authorization_grant_profiles_supported"],
            json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
        );
        assert!(
            m.get("registration_endpoint").is_none(),
            "registration is off"
        );
        assert_eq!(m["token_endpoint"], format!("{}/oauth/token", env.srv.base));
    }
    // No path in the public URL: the path-inserted forms do not exist.
    let res = reqwest::get(env.srv.url("/.well-known/oauth-authorization-server/x")).await?;
    assert_eq!(res.status(), 404);
    // Turned on, registration is advertised.
    env.srv
        .running
        .services
        .oauth
        .set_policy(&system(), true, false, None)
        .await?;
    let m: Value = reqwest::get(env.srv.url("/.well-known/oauth-authorization-server"))
        .await?
        .json()
        .await?;
    assert_eq!(
        m["registration_endpoint"],
        format!("{}/oauth/register", env.srv.base)
    );
    // RFC 9728 document of a catalog server.
    let prm: Value = reqwest::get(env.srv.url("/oauth/resources/github"))
        .await?
        .json()
        .await?;
    assert_eq!(prm["resource"], RES_A);
    assert_eq!(prm["authorization_servers"], json!([env.srv.base]));
    assert_eq!(
        reqwest::get(env.srv.url("/oauth/resources/nope"))
            .await?
            .status(),
        404
    );
    env.srv.stop().await;
    Ok(())
}

/// The whole code flow: Alice signs in through the IdP (no console
/// session), consents, and the client gets an RFC 9068 token bound to
/// server A (refused for B), with `iss` and `state` on the redirect; the
/// refresh token rotates, and a rotated one presented again revokes the
/// whole family.
async fn oauth_code_flow_and_refresh_rotation(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    let (verifier, challenge) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
    assert_eq!(q["iss"], env.srv.base, "RFC 9207 iss");
    assert_eq!(q["state"], "st-123");
    let (status, me) = env.srv.call(&browser, "me", &[]).await;
    assert_eq!(status, 401, "a token never gives console access: {me}");

    let (s, tok, headers) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", &env.client_id),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 600);
    let at = tok["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at)?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let bundle_kid = env
        .srv
        .running
        .services
        .signing
        .active()
        .await?
        .kid()
        .to_owned();
    assert_ne!(
        header.kid.as_deref(),
        Some(bundle_kid.as_str()),
        "own kid for tokens"
    );
    let v = verifier_of(&env).await;
    let claims = portcullis_policy::token::verify_access_token(&v, at, &env.srv.base, RES_A)?;
    assert_eq!(
        claims.sub, env.alice,
        "sub = the principal id of the bundle"
    );
    assert_eq!(claims.client_id, env.client_id);
    assert_eq!(claims.aud, RES_A);
    assert_eq!(
        portcullis_policy::token::verify_access_token(&v, at, &env.srv.base, RES_B),
        Err(portcullis_policy::token::TokenError::WrongAudience),
        "a token for server A is refused at B"
    );
    let actions = audit_actions(&env.srv.db.url, "oauth.").await;
    for a in [
        "oauth.client.created",
        "oauth.signin.succeeded",
        "oauth.consent.granted",
        "oauth.token.issued",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }

    // Refresh rotates.
    let rt1 = tok["refresh_token"].as_str().unwrap().to_owned();
    let (s, t2) = refresh(&env, &env.client_id, &rt1).await;
    assert_eq!(s, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    // The old one again: refused, and the family ends (rt2 too).
    let (s, e) = refresh(&env, &env.client_id, &rt1).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (s, e) = refresh(&env, &env.client_id, &rt2).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    assert!(
        audit_actions(&env.srv.db.url, "oauth.grant.revoked")
            .await
            .len()
            == 1
    );
    env.srv.stop().await;
    Ok(())
}

/// A code works once; presenting it again revokes what it issued. Codes are
/// bound to the client, the redirect URI and the PKCE verifier.
async fn oauth_code_single_use_and_bound(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    let (verifier, challenge) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
    let (s, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    let (s, e) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (s, _) = refresh(&env, &env.client_id, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 400, "the first exchange's tokens are revoked");

    // Wrong verifier, plain verifier (= challenge), no verifier.
    for bad in [
        "wrong-verifier-wrong-verifier-wrong-verifier-x",
        challenge.as_str(),
    ] {
        let (_, ch) = (verifier.clone(), challenge.clone());
        let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
        let (s, e) = exchange(&env, &env.client_id, &q["code"], bad).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{bad}: {e}"
        );
    }
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
    let (s, _, _) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", &env.client_id),
        ],
    )
    .await;
    assert_eq!(s, 400, "no verifier");
    // Another redirect URI at the token endpoint.
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
    let (s, e, _) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:5555/other"),
            ("code_verifier", &verifier),
            ("client_id", &env.client_id),
        ],
    )
    .await;
    assert_eq!(e["error"], "invalid_grant", "{s} {e}");
    // Another client.
    let other = public_client(&env, "Other").await;
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
    let (s, e) = exchange(&env, &other, &q["code"], &verifier).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // Password and implicit grants are refused.
    let (s, e, _) = token(
        &env,
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
            ("client_id", &env.client_id),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unsupported_grant_type")),
        "{e}"
    );
    env.srv.stop().await;
    Ok(())
}

/// Before the client and redirect URI are trusted, errors are a page (no
/// redirect); after, they go back with `iss` and `state`. PKCE S256 and a
/// catalog `resource` are required. No CORS on the authorize endpoint.
async fn oauth_authorize_refusals(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    let (_, challenge) = pkce();
    let base = authorize_url(&env, &env.client_id, RES_A, "", &challenge);
    let with = |k: &str, v: &str| {
        let mut u = url::Url::parse(&base).unwrap();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .into_owned()
            .filter(|(n, _)| n != k)
            .collect();
        {
            let mut qp = u.query_pairs_mut();
            qp.clear();
            for (n, val) in &pairs {
                qp.append_pair(n, val);
            }
            if !v.is_empty() {
                qp.append_pair(k, v);
            }
        }
        u.to_string()
    };
    // Shown as a page, never redirected.
    for (k, v) in [
        ("client_id", "cli_unknown"),
        ("client_id", ""),
        ("redirect_uri", "http://127.0.0.1:5555/callback/"),
        ("redirect_uri", "http://127.0.0.1:5555/Callback"),
        ("redirect_uri", "http://127.0.0.1:5555/callback?x=1"),
        ("redirect_uri", "http://127.0.0.1:5555/callback#f"),
        ("redirect_uri", "http://evil@127.0.0.1:5555/callback"),
        ("redirect_uri", "http://localhost:5555/callback"),
        ("redirect_uri", "https://evil.test/callback"),
        ("redirect_uri", ""),
    ] {
        let res = browser.get(with(k, v)).send().await?;
        assert_eq!(res.status(), 400, "{k}={v}");
        assert!(
            res.headers().get("location").is_none(),
            "{k}={v}: no open redirect"
        );
        assert!(res.text().await?.contains("data-testid=\"oauth-error\""));
    }
    // A loopback redirect may vary its port.
    let res = browser
        .get(with("redirect_uri", "http://127.0.0.1:6000/callback"))
        .send()
        .await?;
    assert_eq!(res.status(), 200, "loopback port varies");
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "no CORS"
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // Back to the client with the error, iss and state.
    for (k, v, code) in [
        ("code_challenge", "", "invalid_request"),
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge_method", "", "invalid_request"),
        ("resource", "", "invalid_target"),
        (
            "resource",
            "https://mcp.acme.test/unknown",
            "invalid_target",
        ),
        (
            "resource",
            "https://mcp.acme.test/github/",
            "invalid_target",
        ),
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "admin:everything", "invalid_scope"),
    ] {
        let res = browser.get(with(k, v)).send().await?;
        assert_eq!(res.status(), 303, "{k}={v}");
        let q = query_of(&location(&res));
        assert_eq!(q["error"], code, "{k}={v}");
        assert_eq!(q["iss"], env.srv.base, "{k}={v}: iss on errors too");
        assert_eq!(q["state"], "st-123");
    }
    // A disabled server is not a valid resource.
    let svc = &env.srv.running.services;
    let servers = svc.catalog.list_servers(&system(), "github", 0, 10).await?;
    let github = servers
        .items
        .iter()
        .find(|s| s.slug == "github")
        .unwrap()
        .id
        .clone();
    svc.catalog
        .set_server_enabled(&system(), &github.as_str().into(), false)
        .await?;
    let res = browser.get(&base).send().await?;
    assert_eq!(query_of(&location(&res))["error"], "invalid_target");
    env.srv.stop().await;
    Ok(())
}

/// Consent is per (person, client, server, redirect URI, scopes): asking
/// again for what was agreed skips the screen; asking for more shows only
/// what is new (step-up); the page cannot be framed; denying sends
/// `access_denied`.
async fn oauth_consent_step_up(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    // The server declares its scopes (catalog, server page's OAuth card).
    let servers = env
        .srv
        .running
        .services
        .catalog
        .list_servers(&system(), "github", 0, 10)
        .await?;
    let github = servers.items[0].id.clone();
    let (s, e) = env
        .srv
        .call(
            &env.owner,
            "catalog/servers/scopes",
            &[("id", &github), ("scopes", "repo:read offline_access")],
        )
        .await;
    assert_eq!(
        (s, e["fields"][0]["field"].as_str()),
        (422, Some("scopes")),
        "{e}"
    );
    let (s, v) = env
        .srv
        .call(
            &env.owner,
            "catalog/servers/scopes",
            &[("id", &github), ("scopes", "repo:write, repo:read")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!(["repo:read", "repo:write"]));
    let (_, o) = env
        .srv
        .call(&env.owner, "catalog/servers/oauth", &[("id", &github)])
        .await;
    assert_eq!(
        o["metadata_url"],
        format!("{}/oauth/resources/github", env.srv.base)
    );
    let prm: Value = reqwest::get(env.srv.url("/oauth/resources/github"))
        .await?
        .json()
        .await?;
    assert_eq!(prm["scopes_supported"], json!(["repo:read", "repo:write"]));
    let m: Value = reqwest::get(env.srv.url("/.well-known/oauth-authorization-server"))
        .await?
        .json()
        .await?;
    assert_eq!(
        m["scopes_supported"],
        json!(["offline_access", "repo:read", "repo:write"])
    );
    assert_eq!(
        audit_actions(&env.srv.db.url, "catalog.server.scopes_updated")
            .await
            .len(),
        1
    );
    let browser = env.srv.client();
    let (_, ch) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "repo:read", &ch).await;
    assert!(q.contains_key("code"), "{q:?}");
    // The same again: no screen.
    let res = browser
        .get(authorize_url(&env, &env.client_id, RES_A, "repo:read", &ch))
        .send()
        .await?;
    assert_eq!(res.status(), 303, "already signed in");
    let res = browser.get(env.srv.url(&location(&res))).send().await?;
    assert_eq!(res.status(), 303, "already consented");
    assert!(query_of(&location(&res)).contains_key("code"));
    // More: only the new scope is asked.
    let res = browser
        .get(authorize_url(
            &env,
            &env.client_id,
            RES_A,
            "repo:read repo:write",
            &ch,
        ))
        .send()
        .await?;
    let res = browser.get(env.srv.url(&location(&res))).send().await?;
    assert_eq!(res.status(), 200);
    let xfo = res.headers()["x-frame-options"].to_str()?.to_owned();
    assert_eq!(xfo, "DENY");
    let html = res.text().await?;
    assert!(html.contains("repo:write"), "{html}");
    assert!(
        !html.contains("<code class=\"text-xs\">repo:read</code>"),
        "only what is new"
    );
    assert!(
        html.contains("data-testid=\"consent-warnings\""),
        "localhost redirect warned"
    );
    let res = browser
        .post(env.srv.url("/oauth/consent"))
        .form(&[
            ("request", request_key(&html).as_str()),
            ("decision", "deny"),
        ])
        .send()
        .await?;
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["iss"], env.srv.base);
    // The answered request cannot be answered again.
    let res = browser
        .post(env.srv.url("/oauth/consent"))
        .form(&[
            ("request", request_key(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    // Another browser cannot answer Alice's request.
    let res = browser
        .get(authorize_url(
            &env,
            &env.client_id,
            RES_A,
            "repo:read repo:write",
            &ch,
        ))
        .send()
        .await?;
    let consent = env.srv.url(&location(&res));
    let other = env.srv.client();
    let res = other.get(&consent).send().await?;
    assert_eq!(res.status(), 400, "bound to the browser");
    env.srv.stop().await;
    Ok(())
}

/// A person deactivated in SCIM gets no new token and their refresh
/// tokens stop at once; someone not in the directory is refused at sign-in.
async fn oauth_deprovisioned_person(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
    let (_, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    set_active(&env.dir_base, &env.dir_token, &env.alice, false).await;
    let (s, e) = refresh(&env, &env.client_id, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // A new sign-in is refused.
    let fresh = env.srv.client();
    let res = sign_in_for_client(
        &env,
        &fresh,
        &authorize_url(&env, &env.client_id, RES_A, "", &ch),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(!sets_session(&res));
    assert!(res.text().await?.contains("deactivated"));
    // Not in the directory at all.
    env.idp.person(Person::new(
        "bob-sub",
        "bob@acme.test",
        &["portcullis-admins"],
    ));
    let fresh = env.srv.client();
    let res = sign_in_for_client(
        &env,
        &fresh,
        &authorize_url(&env, &env.client_id, RES_A, "", &ch),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await?.contains("not in its directory"));
    let refused = audit_actions(&env.srv.db.url, "oauth.signin.refused").await;
    assert_eq!(refused.len(), 2);
    env.srv.stop().await;
    Ok(())
}

async fn register(env: &Env, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/register"))
        .json(body)
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Dynamic registration is off by default; on, it validates redirect URIs
/// (https, loopback, allowed app schemes), caps the body, and limits
/// registrations per address. With approval required, a new client waits
/// and gets no token; blocked, its live token is inactive at introspection
/// and it gets no more.
async fn oauth_registration_approval_and_blocking(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let svc = &env.srv.running.services;
    let good = json!({ "client_name": "Cursor", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", REDIRECT] });
    let (s, e) = register(&env, &good).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (403, Some("access_denied")),
        "off by default: {e}"
    );
    svc.oauth.set_policy(&system(), true, true, None).await?;
    for bad in [
        json!({ "redirect_uris": ["http://evil.test/cb"] }),
        json!({ "redirect_uris": ["evil://cb"] }),
        json!({ "redirect_uris": ["https://a.test/cb#frag"] }),
        json!({ "redirect_uris": [] }),
    ] {
        let (s, e) = register(&env, &bad).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{bad}: {e}"
        );
    }
    let big = json!({ "client_name": "x".repeat(20_000), "redirect_uris": [REDIRECT] });
    let (s, e) = register(&env, &big).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{e}"
    );
    let mut with_scope = good.clone();
    with_scope["scope"] = json!("  offline_access   ");
    let (s, reg) = register(&env, &with_scope).await;
    assert_eq!(s, 201, "{reg}");
    assert_eq!(reg["scope"], "offline_access", "echoed trimmed");
    let client_id = reg["client_id"].as_str().unwrap().to_owned();
    assert!(reg.get("client_secret").is_none(), "a public client");

    // Waiting for approval: back to the client with access_denied.
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let res = browser
        .get(authorize_url(&env, &client_id, RES_A, "", &ch))
        .send()
        .await?;
    let q = query_of(&location(&res));
    assert_eq!(q["error"], "access_denied", "{q:?}");
    svc.oauth
        .set_client_status(
            &system(),
            &ClientId::from(&client_id),
            ClientStatus::Active,
            None,
        )
        .await?;
    let q = authorize(&env, &browser, &client_id, RES_A, "", &ch).await;
    let (s, tok) = exchange(&env, &client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    let at = tok["access_token"].as_str().unwrap().to_owned();

    // Introspection: gateways only.
    let introspect = |cred: Option<String>| {
        let mut req = reqwest::Client::new()
            .post(env.srv.url("/oauth/introspect"))
            .form(&[("token", at.as_str())]);
        if let Some(c) = cred {
            req = req.bearer_auth(c);
        }
        req.send()
    };
    assert_eq!(introspect(None).await?.status(), 401);
    assert_eq!(
        introspect(Some("not-a-credential".into())).await?.status(),
        401
    );
    let gw = svc
        .gateways
        .create(
            &system(),
            &portcullis_types::GatewayInput {
                name: "edge".into(),
                description: String::new(),
                server_ids: vec![],
            },
        )
        .await?;
    let i: Value = introspect(Some(gw.token.clone())).await?.json().await?;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["aud"], RES_A);
    assert_eq!(i["client_id"], client_id.as_str());
    // Blocked: the live token is inactive, and nothing more is issued.
    let before = crate::policy_api::head(svc).await;
    crate::policy_api::published(svc, before).await;
    let etag_before = svc.publisher.latest().map(|p| p.etag.clone()).unwrap();
    let revoked = svc
        .oauth
        .set_client_status(
            &system(),
            &ClientId::from(&client_id),
            ClientStatus::Blocked,
            Some("test"),
        )
        .await?;
    assert_eq!(revoked, 1);
    let i: Value = introspect(Some(gw.token.clone())).await?.json().await?;
    assert_eq!(i, json!({ "active": false }));
    // ... and listed in the next bundle (one new revision), which gateways
    // holding the previous one get as a delta naming just this client.
    let blocked_rev = crate::policy_api::head(svc).await;
    assert_eq!(blocked_rev, before + 1);
    crate::policy_api::published(svc, blocked_rev).await;
    let bundle = svc.publisher.latest().unwrap().bundle().unwrap();
    assert_eq!(
        bundle.blocked_clients,
        [portcullis_policy::BlockedClient {
            client_id: client_id.clone()
        }]
    );
    assert!(portcullis_policy::Policy::compile(&bundle)?.client_blocked(&client_id));
    let res = reqwest::Client::new()
        .get(env.srv.url("/api/v1/policy"))
        .bearer_auth(&gw.token)
        .header("a-im", "portcullis-delta")
        .header("if-none-match", &etag_before)
        .send()
        .await?;
    assert_eq!(res.status(), 226);
    let jws = res.text().await?;
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jws.split('.').nth(1).unwrap())?,
    )?;
    assert_eq!(
        payload["blocked_clients"],
        json!({ "upsert": [{ "client_id": client_id }] }),
        "{payload}"
    );
    assert!(payload.get("rules").is_none() && payload.get("principals").is_none());
    let (s, e) = refresh(&env, &client_id, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    // Reaped: a clear invalid_client (and no longer listed as blocked: it
    // has no live token, and the list would grow forever).
    svc.oauth
        .set_client_status(
            &system(),
            &ClientId::from(&client_id),
            ClientStatus::Reaped,
            None,
        )
        .await?;
    let reaped_rev = crate::policy_api::head(svc).await;
    assert_eq!(reaped_rev, blocked_rev + 1);
    crate::policy_api::published(svc, reaped_rev).await;
    assert!(svc
        .publisher
        .latest()
        .unwrap()
        .bundle()
        .unwrap()
        .blocked_clients
        .is_empty());
    let (s, e) = refresh(&env, &client_id, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("register again"),
        "{e}"
    );
    let actions = audit_actions(&env.srv.db.url, "oauth.client.").await;
    assert_eq!(
        actions,
        [
            "oauth.client.created",
            "oauth.client.registered",
            "oauth.client.approved",
            "oauth.client.blocked",
            "oauth.client.reaped"
        ]
    );
    // Registrations are limited per address.
    svc.oauth.set_policy(&system(), true, false, None).await?;
    let mut last = 0;
    for _ in 0..portcullis_domain::oauth::REGISTRATIONS_PER_IP_PER_HOUR {
        last = register(&env, &good).await.0;
    }
    assert_eq!(
        last, 429,
        "the 21st registration from one address within the hour"
    );
    env.srv.stop().await;
    Ok(())
}

/// RFC 7009: a client revokes its refresh token and the grant ends; a
/// confidential client must authenticate.
async fn oauth_revoke_and_confidential_clients(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let svc = &env.srv.running.services;
    let conf = svc
        .oauth
        .create_client(
            &system(),
            &CreateClient {
                name: "Server app".into(),
                redirect_uris: vec![REDIRECT.into()],
                confidential: true,
                keys: None,
            },
        )
        .await?;
    let secret = conf.client_secret.clone().unwrap();
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let q = authorize(&env, &browser, &conf.client_id, RES_B, "", &ch).await;
    // Without the secret: invalid_client, 401.
    let (s, e) = exchange(&env, &conf.client_id, &q["code"], &verifier).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    let q = authorize(&env, &browser, &conf.client_id, RES_B, "", &ch).await;
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .basic_auth(&conf.client_id, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .basic_auth(&conf.client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let tok: Value = res.json().await?;
    let rt = tok["refresh_token"].as_str().unwrap();
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/revoke"))
        .basic_auth(&conf.client_id, Some(&secret))
        .form(&[("token", rt)])
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .basic_auth(&conf.client_id, Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await?;
    assert_eq!(res.status(), 400, "revoked");
    // Duplicate parameters are refused (RFC 6749 §3.2).
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&grant_type=authorization_code")
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    env.srv.stop().await;
    Ok(())
}

/// A test CA and a TLS server on 127.0.0.1 serving client ID metadata
/// documents: `/{name}.json` answers `docs[name]` (with `Cache-Control:
/// max-age=600`), counting fetches.
struct DocServer {
    port: u16,
    ca_file: tempfile::NamedTempFile,
    docs: std::sync::Arc<std::sync::Mutex<HashMap<String, String>>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl DocServer {
    fn start() -> Self {
        use std::io::{Read, Write};
        let tls = crate::harness::test_tls();
        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        ca_file.write_all(&tls.ca_pem).unwrap();
        let acc = tls.acceptor;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let docs: std::sync::Arc<std::sync::Mutex<HashMap<String, String>>> = Default::default();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (d, h) = (docs.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let Ok(mut tls) = acc.accept(stream) else {
                    continue;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let path = line.split(' ').nth(1).unwrap_or("/");
                let name = path
                    .trim_start_matches('/')
                    .trim_end_matches(".json")
                    .to_owned();
                let body = d.lock().unwrap().get(&name).cloned();
                let res = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                };
                let _ = tls.write_all(res.as_bytes());
                let _ = tls.shutdown();
            }
        });
        Self {
            port,
            ca_file,
            docs,
            hits,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("https://localhost:{}/{name}.json", self.port)
    }

    fn serve(&self, name: &str, doc: Value) {
        self.docs
            .lock()
            .unwrap()
            .insert(name.to_owned(), doc.to_string());
    }

    fn hits(&self) -> u32 {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// CIMD: an https `client_id` is the URL of the client's metadata
/// document, fetched through the SSRF guard over TLS (the console trusts the
/// test CA), cached, checked (its `client_id` must equal the URL; its
/// redirect URIs decide where codes may go), shown as unverified, and
/// subject to the domain block list.
async fn oauth_cimd_client(db: &TestDb) -> TestResult {
    let docs = DocServer::start();
    let host = format!("localhost:{}", docs.port);
    let ca = docs.ca_file.path().display().to_string();
    let env = setup_with(
        db,
        &[host.as_str()],
        &[("PORTCULLIS_FETCH_CA_FILE", ca.as_str())],
    )
    .await;
    let id = docs.url("claude");
    docs.serve(
        "claude",
        json!({ "client_id": id, "client_name": "Claude <b>test</b>", "redirect_uris": [REDIRECT] }),
    );
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    // The sign-in page names the client from its document, as text.
    let res = browser
        .get(authorize_url(&env, &id, RES_A, "", &ch))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let html = res.text().await?;
    assert!(html.contains("Claude &lt;b&gt;test&lt;/b&gt;"), "{html}");
    let res = sign_in_for_client(&env, &browser, &authorize_url(&env, &id, RES_A, "", &ch)).await;
    let res = browser.get(env.srv.url(&location(&res))).send().await?;
    let html = res.text().await?;
    assert!(
        html.contains("data-testid=\"unverified\""),
        "not pre-registered"
    );
    let res = browser
        .post(env.srv.url("/oauth/consent"))
        .form(&[
            ("request", request_key(&html).as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await?;
    let q = query_of(&location(&res));
    let (s, tok) = exchange(&env, &id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(docs.hits(), 1, "fetched once, then cached");
    let kinds = audit_rows(&env.srv.db.url, "oauth.client.registered").await;
    assert_eq!(kinds.len(), 1);

    // A document that names another client_id is refused.
    let evil = docs.url("evil");
    docs.serve(
        "evil",
        json!({ "client_id": id, "redirect_uris": [REDIRECT] }),
    );
    let res = browser
        .get(authorize_url(&env, &evil, RES_A, "", &ch))
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    assert!(res.text().await?.contains("differs from its URL"));
    // A redirect URI the document does not list: a page, no redirect.
    let mut u = url::Url::parse(&authorize_url(&env, &id, RES_A, "", &ch))?;
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| {
            (
                k.as_str(),
                if k == "redirect_uri" {
                    "https://evil.test/cb"
                } else {
                    v.as_str()
                },
            )
        }));
    let res = browser.get(u.as_str()).send().await?;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Not https: not a document, unknown client.
    let res = browser
        .get(authorize_url(
            &env,
            &format!("http://localhost:{}/claude.json", docs.port),
            RES_A,
            "",
            &ch,
        ))
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    // The document changes its redirect URIs while approval is required:
    // the client waits for review again.
    env.srv
        .running
        .services
        .oauth
        .set_policy(&system(), false, true, None)
        .await?;
    docs.serve(
        "claude",
        json!({ "client_id": id, "client_name": "Claude", "redirect_uris": [REDIRECT, "https://new.example/cb"] }),
    );
    exec_sql(db, "UPDATE oauth_clients SET fetch_expires_at = '2000-01-01T00:00:00+00:00' WHERE kind = 'cimd'").await;
    let res = browser
        .get(authorize_url(&env, &id, RES_A, "", &ch))
        .send()
        .await?;
    assert_eq!(res.status(), 303);
    assert_eq!(
        query_of(&location(&res))["error"],
        "access_denied",
        "re-review"
    );
    assert_eq!(
        audit_actions(&env.srv.db.url, "oauth.client.metadata_changed")
            .await
            .len(),
        1
    );
    // The publisher's domain blocked by policy.
    exec_sql(
        db,
        r#"UPDATE oauth_policy SET cimd_blocked_domains = '["localhost"]'"#,
    )
    .await;
    let res = browser
        .get(authorize_url(&env, &docs.url("other"), RES_A, "", &ch))
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await?
        .contains("does not allow apps published by localhost"));
    env.srv.stop().await;
    Ok(())
}

/// The Clients page's server functions: the inventory (waiting clients
/// first, with the people who consented and the live grants), search,
/// approve and block by an admin; an auditor reads but changes nothing
/// (403); a client pre-registered from the console gets its secret once,
/// and a bad redirect URI is refused naming the field.
async fn oauth_clients_console(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
    let (s, _) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200);
    env.srv
        .running
        .services
        .oauth
        .set_policy(&system(), true, true, None)
        .await?;
    let (s, _) = register(
        &env,
        &json!({ "client_name": "Self-made", "redirect_uris": [REDIRECT] }),
    )
    .await;
    assert_eq!(s, 201);
    let list = |who: &reqwest::Client, q: &str, status: &str| {
        let who = who.clone();
        let (q, status) = (q.to_owned(), status.to_owned());
        let srv = &env.srv;
        async move {
            srv.call(
                &who,
                "clients/list",
                &[("q", &q), ("status", &status), ("offset", "0")],
            )
            .await
        }
    };
    let (s, v) = list(&env.owner, "", "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["pending"], 1);
    assert_eq!(v["total"], 2);
    assert_eq!(
        v["clients"][0]["status"], "pending",
        "waiting clients first"
    );
    assert_eq!(v["clients"][0]["kind"], "dcr");
    let ours = &v["clients"][1];
    assert_eq!(ours["id"], env.client_id.as_str());
    assert_eq!(
        (ours["consents"].as_i64(), ours["live_grants"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(ours["redirect_hosts"], json!(["127.0.0.1"]));
    let (_, v) = list(&env.owner, "test mcp", "").await;
    assert_eq!(v["total"], 1, "search by name");
    let (_, v) = list(&env.owner, "", "pending").await;
    assert_eq!(v["total"], 1, "filter by status");

    let auditor = crate::access_console::auditor(&env.srv, &env.owner, "audrey@acme.test").await;
    let (s, _) = list(&auditor, "", "").await;
    assert_eq!(s, 200, "auditors read");
    let (s, _) = env
        .srv
        .call(
            &auditor,
            "clients/set_status",
            &[("id", &env.client_id), ("status", "blocked")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = env
        .srv
        .call(
            &auditor,
            "clients/policy",
            &[("registration_enabled", ""), ("approval_required", "")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, n) = env
        .srv
        .call(
            &env.owner,
            "clients/set_status",
            &[("id", &env.client_id), ("status", "blocked")],
        )
        .await;
    assert_eq!((s, n.as_i64()), (200, Some(1)), "one live grant revoked");
    let (_, v) = list(&env.owner, "", "blocked").await;
    assert_eq!(v["clients"][0]["id"], env.client_id.as_str());

    let (s, c) = env
        .srv
        .call(
            &env.owner,
            "clients/create",
            &[
                ("name", "Console app"),
                (
                    "redirect_uris",
                    "https://app.example/cb\nhttp://127.0.0.1/cb",
                ),
                ("confidential", "on"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert!(
        c["client_secret"].as_str().is_some_and(|s| s.len() >= 40),
        "{c}"
    );
    assert_eq!(c["issuer"], env.srv.base);
    let (s, e) = env
        .srv
        .call(
            &env.owner,
            "clients/create",
            &[("name", "Bad"), ("redirect_uris", "http://evil.test/cb")],
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["fields"][0]["field"], "redirect_uris[0]", "{e}");
    env.srv.stop().await;
    Ok(())
}

/// Codes are short-lived: with a fixed clock, a code exchanged 61 s after
/// it was issued is refused (`invalid_grant`), one exchanged at 59 s works;
/// a refresh token past its 30 days is refused too.
async fn oauth_codes_and_refresh_tokens_expire(db: &TestDb) -> TestResult {
    use portcullis_domain::oauth::model::ClientAuth;
    use portcullis_domain::oauth::{AuthorizeParams, Person as OAuthPerson, TokenParams};
    let (svc, clock) = crate::storage::services_on(db).await;
    let okta = crate::access::directory(&svc).await;
    let alice = crate::access::scim_user(&svc, &okta, "alice@corp.example").await;
    crate::access::github(&svc, &system()).await;
    let client = svc
        .oauth
        .create_client(
            &system(),
            &CreateClient {
                name: "C".into(),
                redirect_uris: vec![REDIRECT.into()],
                confidential: false,
                keys: None,
            },
        )
        .await?;
    let person = OAuthPerson {
        id: alice,
        email: "alice@corp.example".into(),
        name: "Alice".into(),
    };
    let base = "https://pc.example";
    let auth = ClientAuth {
        client_id: Some(client.client_id.clone()),
        ..Default::default()
    };
    let code_after = |secs: i64| {
        let (svc, clock, client, person, auth) = (
            svc.clone(),
            clock.clone(),
            client.client_id.clone(),
            person.clone(),
            auth.clone(),
        );
        async move {
            let (verifier, challenge) = pkce();
            let params = AuthorizeParams {
                response_type: Some("code".into()),
                client_id: Some(client),
                redirect_uri: Some(REDIRECT.into()),
                code_challenge: Some(challenge),
                code_challenge_method: Some("S256".into()),
                resource: Some("https://mcp.example.com/github".into()),
                ..Default::default()
            };
            let (key, _) = svc
                .oauth
                .begin_authorization(&params, "browser-cookie-value-0123456789abcdefghijkl", base)
                .await
                .map_err(|e| format!("{e:?}"))
                .unwrap();
            let r = svc
                .oauth
                .decide(
                    &key,
                    Some("browser-cookie-value-0123456789abcdefghijkl"),
                    &person,
                    true,
                    Default::default(),
                    base,
                )
                .await
                .map_err(|e| format!("{e:?}"))
                .unwrap();
            let code = query_of(&r.url)["code"].clone();
            clock.advance(chrono::Duration::seconds(secs));
            let p = TokenParams {
                grant_type: Some("authorization_code".into()),
                code: Some(code),
                redirect_uri: Some(REDIRECT.into()),
                code_verifier: Some(verifier),
                ..Default::default()
            };
            svc.oauth.token(&p, &auth, base, None).await
        }
    };
    match code_after(61).await {
        Err(portcullis_domain::oauth::model::Failure::Protocol(e)) => {
            assert_eq!(e.code.as_str(), "invalid_grant");
            assert!(e.description.contains("expired"), "{e}");
        }
        other => panic!("a 61 s old code: {other:?}"),
    }
    let tok = match code_after(59).await {
        Ok(t) => t,
        Err(e) => panic!("a 59 s old code: {e:?}"),
    };
    clock.advance(
        chrono::Duration::days(portcullis_domain::oauth::REFRESH_TTL_DAYS)
            + chrono::Duration::seconds(1),
    );
    let p = TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: tok.refresh_token.clone(),
        ..Default::default()
    };
    match svc.oauth.token(&p, &auth, base, None).await {
        Err(portcullis_domain::oauth::model::Failure::Protocol(e)) => {
            assert_eq!(e.code.as_str(), "invalid_grant")
        }
        other => panic!("an expired refresh token: {other:?}"),
    }
    Ok(())
}

/// Registered clients unused for the policy's days are reaped by the
/// housekeeping job (never with 0; never pre-registered ones; not those used
/// lately), each audited; registrations of the same app (loopback ports
/// aside) form one group an admin revokes in one step; the setting is
/// checked and names its field.
async fn oauth_reaping_and_duplicate_registrations(db: &TestDb) -> TestResult {
    use portcullis_domain::clock::Clock;
    use portcullis_domain::oauth::model::RegistrationRequest;
    let (svc, clock) = crate::storage::services_on(db).await;
    svc.oauth
        .set_policy(&system(), true, false, Some(0))
        .await?;
    let reg = |name: &str, uri: &str| -> RegistrationRequest {
        serde_json::from_value(json!({ "client_name": name, "redirect_uris": [uri] })).unwrap()
    };
    let mut ids = Vec::new();
    for (name, uri, ip) in [
        ("Claude Code", "http://localhost:53121/callback", "10.0.0.1"),
        ("claude code", "http://localhost:61000/callback", "10.0.0.2"),
        (
            "Cursor",
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "10.0.0.3",
        ),
        ("Used lately", "https://used.example/cb", "10.0.0.4"),
    ] {
        let out = svc
            .oauth
            .register(&reg(name, uri), crate::storage::meta(ip))
            .await
            .map_err(|e| format!("{e:?}"))?;
        ids.push(out["client_id"].as_str().unwrap().to_owned());
    }
    let pre = svc
        .oauth
        .create_client(
            &system(),
            &CreateClient {
                name: "Pre".into(),
                redirect_uris: vec![REDIRECT.into()],
                confidential: false,
                keys: None,
            },
        )
        .await?;

    // One group: the two Claude Code registrations.
    let view = svc.oauth.list_clients(&system(), "", "", 0, 50).await?;
    assert_eq!(view.duplicates.len(), 1, "{:?}", view.duplicates);
    let group = &view.duplicates[0];
    assert_eq!((group.clients, group.live_grants), (2, 0));
    assert_eq!(group.redirect_hosts, ["localhost"]);
    assert_eq!(view.policy.reap_after_days, 0);
    // An auditor may not revoke; an unknown group is not found.
    let auditor = Actor::console_user(
        &"usr_aud".into(),
        "aud@acme.test",
        Some(portcullis_types::Role::Auditor),
        crate::storage::meta("10.1.1.1"),
    );
    assert!(matches!(
        svc.oauth.revoke_duplicates(&auditor, &group.key).await,
        Err(portcullis_domain::Error::Forbidden(_))
    ));
    assert!(matches!(
        svc.oauth
            .revoke_duplicates(&system(), "no-such-group")
            .await,
        Err(portcullis_domain::Error::NotFound(_))
    ));
    assert_eq!(svc.oauth.revoke_duplicates(&system(), &group.key).await?, 2);
    let view = svc
        .oauth
        .list_clients(&system(), "", "reaped", 0, 50)
        .await?;
    let mut reaped: Vec<&str> = view.clients.iter().map(|c| c.id.as_str()).collect();
    reaped.sort();
    let mut want = vec![ids[0].as_str(), ids[1].as_str()];
    want.sort();
    assert_eq!(reaped, want);
    assert!(view.duplicates.is_empty());
    let rows = audit_rows(&db.url, "oauth.client.duplicates_revoked").await;
    assert_eq!(rows.len(), 1);

    // Reaping: off (0) reaps nothing however old; 30 days reaps the unused
    // registration, not the pre-registered client nor the one used lately.
    clock.advance(chrono::Duration::days(31));
    assert_eq!(svc.oauth.reap_unused().await?, 0, "0 days: never");
    exec_sql(
        db,
        &format!(
            "UPDATE oauth_clients SET last_used_at = '{}' WHERE id = '{}'",
            (clock.now() - chrono::Duration::days(2))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ids[3]
        ),
    )
    .await;
    let bad = svc
        .oauth
        .set_policy(&system(), true, false, Some(5000))
        .await;
    assert!(
        matches!(&bad, Err(portcullis_domain::Error::Invalid(f)) if f.iter().any(|f| f.field == "reap_after_days")),
        "{bad:?}"
    );
    svc.oauth
        .set_policy(&system(), true, false, Some(30))
        .await?;
    assert_eq!(svc.oauth.reap_unused().await?, 1);
    assert_eq!(svc.oauth.reap_unused().await?, 0, "nothing left to reap");
    let status = |id: String| {
        let svc = svc.clone();
        async move {
            svc.oauth
                .list_clients(&system(), &id, "", 0, 5)
                .await
                .unwrap()
                .clients[0]
                .status
                .clone()
        }
    };
    assert_eq!(status(ids[2].clone()).await, "reaped");
    assert_eq!(status(ids[3].clone()).await, "active");
    assert_eq!(status(pre.client_id.clone()).await, "active");
    let rows = audit_rows(&db.url, "oauth.client.reaped").await;
    assert_eq!(rows.len(), 1, "one event per reaped client");
    // Its next request: a clear invalid_client.
    let auth = portcullis_domain::oauth::model::ClientAuth {
        client_id: Some(ids[2].clone()),
        ..Default::default()
    };
    let params = portcullis_domain::oauth::TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some("anything".into()),
        ..Default::default()
    };
    match svc
        .oauth
        .token(&params, &auth, "https://pc.example", None)
        .await
    {
        Err(portcullis_domain::oauth::model::Failure::Protocol(e)) => {
            assert_eq!(e.code.as_str(), "invalid_client");
            assert!(e.description.contains("register again"), "{e:?}");
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
    Ok(())
}

/// Abuse limits: a client past its per-minute issuance is refused with 429
/// `slow_down`, an address whose token requests failed too often is refused
/// for the rest of the window, and both show on /metrics and the Clients
/// page — without one audit event per refused request.
async fn oauth_abuse_limits(db: &TestDb) -> TestResult {
    let env = setup_with(
        db,
        &[],
        &[
            ("PORTCULLIS_OAUTH_FAILED_TOKENS_PER_IP", "3"),
            ("PORTCULLIS_OAUTH_CLIENT_TOKENS_PER_MINUTE", "1"),
        ],
    )
    .await;
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
    let (s, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    let audits = audit_rows(&env.srv.db.url, "").await.len();
    // The client's budget (1 a minute) is spent: the refresh is refused,
    // and the refresh token stays usable (nothing was rotated).
    let rt = tok["refresh_token"].as_str().unwrap();
    let (s, e) = refresh(&env, &env.client_id, rt).await;
    assert_eq!((s, e["error"].as_str()), (429, Some("slow_down")), "{e}");
    // Failed token requests (by another client, within its budget): three
    // are answered, the fourth is refused before anything is checked, even
    // a well-formed one.
    let other = public_client(&env, "Other").await;
    let audits = audits + 1; // the other client's creation
    for _ in 0..3 {
        let (s, e) = exchange(&env, &other, "not-a-code", &verifier).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{e}"
        );
    }
    let (s, e) = refresh(&env, &env.client_id, rt).await;
    assert_eq!((s, e["error"].as_str()), (429, Some("slow_down")), "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("failed token requests"),
        "{e}"
    );
    assert_eq!(
        audit_rows(&env.srv.db.url, "").await.len(),
        audits,
        "refusals are counted, not audited"
    );
    let metrics = reqwest::get(env.srv.url("/metrics")).await?.text().await?;
    for line in [
        r#"oauth_limit_hits_total{limit="client_issuance"} 1"#,
        r#"oauth_limit_hits_total{limit="failed_token_requests"} 1"#,
        r#"oauth_limit_hits_total{limit="registration"} 0"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    let (s, v) = env
        .srv
        .call(
            &env.owner,
            "clients/list",
            &[("q", ""), ("status", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["clients"][1]["id"],
        env.client_id.as_str(),
        "newest first"
    );
    assert_eq!(v["clients"][1]["limit_hits"], 1, "{v}");
    assert_eq!(v["clients"][0]["limit_hits"], 0, "{v}");
    assert_eq!(
        v["limit_hits"],
        json!([
            { "limit": "registration", "hits": 0 },
            { "limit": "failed_token_requests", "hits": 1 },
            { "limit": "client_issuance", "hits": 1 },
        ])
    );
    // The reaping setting through the console: checked, field named.
    let (s, e) = env
        .srv
        .call(
            &env.owner,
            "clients/policy",
            &[
                ("registration_enabled", ""),
                ("approval_required", ""),
                ("reap_after_days", "soon"),
            ],
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["fields"][0]["field"], "reap_after_days", "{e}");
    let (s, _) = env
        .srv
        .call(
            &env.owner,
            "clients/policy",
            &[
                ("registration_enabled", ""),
                ("approval_required", ""),
                ("reap_after_days", "45"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = env
        .srv
        .call(
            &env.owner,
            "clients/list",
            &[("q", ""), ("status", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(v["policy"]["reap_after_days"], 45);
    env.srv.stop().await;
    Ok(())
}

/// "My access": without a person session, a work-email form (nothing of
/// the console); signed in, the tools the person may call with the reason
/// (and how many are not granted), the apps they allowed; withdrawing an
/// app ends its grants at once, audited with the person as actor.
async fn oauth_my_access(db: &TestDb) -> TestResult {
    use portcullis_types::{GrantSubject, GrantTarget};
    let env = setup(db).await;
    let svc = &env.srv.running.services;
    let notion = svc
        .catalog
        .create_server(
            &system(),
            &ServerInput {
                name: "Notion".into(),
                slug: "notion".into(),
                resource_url: "https://mcp.acme.test/notion".into(),
                description: String::new(),
                owner: String::new(),
                tags: String::new(),
            },
        )
        .await?;
    for (name, destructive) in [("search_pages", false), ("delete_page", true)] {
        svc.catalog
            .add_tool(
                &system(),
                &notion,
                &portcullis_types::ManualToolInput {
                    name: name.into(),
                    hints: portcullis_types::ToolHints {
                        destructive: Some(destructive),
                        read_only: Some(!destructive),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await?;
    }
    svc.access
        .create_grant(
            &system(),
            &crate::access::grant(
                GrantSubject::User {
                    id: env.alice.clone(),
                },
                notion.as_str(),
                GrantTarget::Server,
                "allow",
            ),
        )
        .await?;

    // Not signed in: the email form.
    let res = env
        .srv
        .client()
        .get(env.srv.url("/oauth/access"))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let frame = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(frame.contains("frame-ancestors 'none'"), "{frame}");
    let html = res.text().await?;
    assert!(html.contains(r#"action="/oauth/access/signin""#), "{html}");
    assert!(!html.contains("Alice") && !html.contains("notion"));

    // Signed in through a client's authorization: the page.
    let browser = env.srv.client();
    let (verifier, ch) = pkce();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
    let (s, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    let res = browser.get(env.srv.url("/oauth/access")).send().await?;
    assert_eq!(res.status(), 200);
    let html = res.text().await?;
    assert!(html.contains("alice@acme.test"), "{html}");
    assert!(
        html.contains("<code class=\"text-xs\">search_pages</code>"),
        "{html}"
    );
    assert!(html.contains("granted to you"), "{html}");
    assert!(
        !html.contains(">delete_page<"),
        "destructive tools are not covered: {html}"
    );
    assert!(
        html.contains("1 other tool of this server not granted to you"),
        "{html}"
    );
    assert!(html.contains("Test MCP client"), "{html}");
    assert!(html.contains("Approved by your IT team"), "{html}");
    assert!(
        !html.contains("href=\"/overview") && !html.contains("href=\"/clients"),
        "no console links"
    );

    // Withdraw: the grant ends, the app is gone from the page, audited.
    let res = browser
        .post(env.srv.url("/oauth/access/withdraw"))
        .form(&[("client_id", env.client_id.as_str())])
        .send()
        .await?;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/oauth/access?withdrawn=Test+MCP+client");
    let (s, e) = refresh(&env, &env.client_id, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let html = browser
        .get(env.srv.url("/oauth/access?withdrawn=Test+MCP+client"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains(r#"data-testid="no-apps""#), "{html}");
    assert!(
        html.contains("Test MCP client can no longer act for you"),
        "{html}"
    );
    let rows = audit_rows(&env.srv.db.url, "oauth.consent.withdrawn").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Someone else's browser (no person session) withdraws nothing.
    let res = env
        .srv
        .client()
        .post(env.srv.url("/oauth/access/withdraw"))
        .form(&[("client_id", env.client_id.as_str())])
        .send()
        .await?;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/oauth/access".to_owned())
    );
    assert_eq!(
        audit_rows(&env.srv.db.url, "oauth.consent.withdrawn")
            .await
            .len(),
        1
    );
    env.srv.stop().await;
    Ok(())
}

/// POSTs `form` to the token endpoint: (status, body).
pub(crate) async fn post_form(env: &Env, form: Vec<(&str, String)>) -> (u16, Value) {
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, b, _) = token(env, &refs).await;
    (s, b)
}

/// The claims of a JWT, unverified.
pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

/// An Ed25519 key a `private_key_jwt` test client signs with (test only).
const CLIENT_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILurNYK1K5TJCdEnXHBxgASRfNvGTia8ATfItwwM1t05\n-----END PRIVATE KEY-----\n";

pub(crate) fn client_jwks() -> Value {
    let enc = jsonwebtoken::EncodingKey::from_ed_pem(CLIENT_KEY_PEM.as_bytes()).unwrap();
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, jsonwebtoken::Algorithm::EdDSA).unwrap(),
    )
    .unwrap();
    jwk["kid"] = json!("k1");
    json!({ "keys": [jwk] })
}

pub(crate) fn client_assertion(client_id: &str, aud: &str, jti: &str) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some("k1".into());
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": aud, "jti": jti,
        "exp": chrono::Utc::now().timestamp() + 60,
    });
    jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(CLIENT_KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `private_key_jwt` (RFC 7523): clients registered with a JWKS, or a JWKS
/// URL fetched over TLS through the SSRF guard (and cached), get tokens
/// only with a fresh assertion signed by their key for this token
/// endpoint; a replayed assertion, one for another audience or none at all
/// is `invalid_client`. Registration refuses a key client that also wants
/// a secret, an http JWKS URL and private key material.
async fn oauth_private_key_jwt_clients(db: &TestDb) -> TestResult {
    use portcullis_domain::oauth::model::ClientKeys;
    let docs = DocServer::start();
    let host = format!("localhost:{}", docs.port);
    let ca = docs.ca_file.path().display().to_string();
    let env = setup_with(
        db,
        &[host.as_str()],
        &[("PORTCULLIS_FETCH_CA_FILE", ca.as_str())],
    )
    .await;
    docs.serve("jwks", client_jwks());
    let svc = &env.srv.running.services;
    let create = |keys: Option<ClientKeys>, confidential: bool| {
        let svc = svc.clone();
        async move {
            svc.oauth
                .create_client(
                    &system(),
                    &CreateClient {
                        name: "Agent".into(),
                        redirect_uris: vec![REDIRECT.into()],
                        confidential,
                        keys,
                    },
                )
                .await
        }
    };
    let field_of =
        |r: portcullis_domain::Result<portcullis_domain::oauth::model::CreatedClient>| match r {
            Err(portcullis_domain::Error::Invalid(f)) => f[0].field.clone(),
            other => panic!("expected a field error, got {other:?}"),
        };
    let jwks = client_jwks().to_string();
    assert_eq!(
        field_of(create(Some(ClientKeys::Jwks(jwks.clone())), true).await),
        "keys"
    );
    assert_eq!(
        field_of(
            create(
                Some(ClientKeys::JwksUri("http://keys.example/jwks".into())),
                false
            )
            .await
        ),
        "jwks_uri"
    );
    let mut private = client_jwks();
    private["keys"][0]["d"] = json!("c2VjcmV0");
    assert_eq!(
        field_of(create(Some(ClientKeys::Jwks(private.to_string())), false).await),
        "jwks"
    );

    let inline = create(Some(ClientKeys::Jwks(jwks)), false).await?;
    let remote = create(Some(ClientKeys::JwksUri(docs.url("jwks"))), false).await?;
    assert!(inline.client_secret.is_none() && remote.client_secret.is_none());
    let token_url = env.srv.url("/oauth/token");
    let issuer = env.srv.url("");
    let issuer = issuer.trim_end_matches('/');
    for (n, client) in [inline.client_id, remote.client_id].into_iter().enumerate() {
        let browser = env.srv.client();
        let (verifier, ch) = pkce();
        let q = authorize(&env, &browser, &client, RES_A, "", &ch).await;
        let code_form = |extra: Vec<(&'static str, String)>| {
            let mut f: Vec<(&str, String)> = vec![
                ("grant_type", "authorization_code".into()),
                ("code", q["code"].clone()),
                ("redirect_uri", REDIRECT.into()),
                ("code_verifier", verifier.clone()),
            ];
            f.extend(extra);
            f
        };
        const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        // Its id alone (as a public client would) is not enough.
        let (s, e) = post_form(&env, code_form(vec![("client_id", client.clone())])).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{e}"
        );
        // An assertion for another audience.
        let (s, e) = post_form(
            &env,
            code_form(vec![
                ("client_assertion_type", TYPE.into()),
                (
                    "client_assertion",
                    client_assertion(&client, "https://elsewhere.example/token", &format!("a{n}")),
                ),
            ]),
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{e}"
        );
        // A good one: the tokens.
        let good = client_assertion(&client, &token_url, &format!("b{n}"));
        let (s, tok) = post_form(
            &env,
            code_form(vec![
                ("client_assertion_type", TYPE.into()),
                ("client_assertion", good.clone()),
            ]),
        )
        .await;
        assert_eq!(s, 200, "{tok}");
        assert_eq!(
            claims_of(tok["access_token"].as_str().unwrap())["client_id"],
            client.as_str()
        );
        let rt = tok["refresh_token"].as_str().unwrap().to_owned();
        let refresh_form = |assertion: String| {
            vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", rt.clone()),
                ("client_assertion_type", TYPE.to_owned()),
                ("client_assertion", assertion),
            ]
        };
        // The same assertion again: a replay.
        let (s, e) = post_form(&env, refresh_form(good)).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{e}"
        );
        // A fresh one, with the issuer as audience.
        let (s, t) = post_form(
            &env,
            refresh_form(client_assertion(&client, issuer, &format!("c{n}"))),
        )
        .await;
        assert_eq!(s, 200, "{t}");
    }
    assert_eq!(docs.hits(), 1, "the JWKS URL is fetched once, then cached");
    env.srv.stop().await;
    Ok(())
}

/// Just-in-time people: with the connection's option off, someone not in
/// the directory is refused; on (and the connection without a directory),
/// their first sign-in makes a directory for the connection and the person
/// in it with the IdP's groups, who then gets a token; the groups follow
/// the IdP at the next sign-in; an unverified email is never admitted.
async fn oauth_just_in_time_people(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let svc = &env.srv.running.services;
    env.idp.person(Person::new(
        "carol-sub",
        "carol@acme.test",
        &["Engineering", "Data"],
    ));
    let (verifier, ch) = pkce();
    let res = sign_in_for_client(
        &env,
        &env.srv.client(),
        &authorize_url(&env, &env.client_id, RES_A, "", &ch),
    )
    .await;
    assert_eq!(res.status(), 403, "off: not provisioned");
    assert!(res.text().await?.contains("not in its directory"));

    exec_sql(
        db,
        "UPDATE sso_connections SET jit_people = TRUE, directory_id = NULL",
    )
    .await;
    let browser = env.srv.client();
    let q = authorize(&env, &browser, &env.client_id, RES_A, "", &ch).await;
    let (s, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
    assert_eq!(s, 200, "{tok}");
    let (carol, email) = svc
        .access
        .find_person(&system(), "carol@acme.test")
        .await?
        .expect("carol was created");
    assert_eq!(email, "carol@acme.test");
    assert_eq!(
        claims_of(tok["access_token"].as_str().unwrap())["sub"],
        carol.as_str()
    );
    let groups_of = |id: String| {
        let svc = svc.clone();
        async move {
            let snap = svc.access.current().await.unwrap();
            let p = &snap.policy;
            let mut names: Vec<String> = p
                .principal(&id)
                .expect("a principal of the bundle")
                .groups
                .iter()
                .map(|g| p.group(g).unwrap().name.clone())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(groups_of(carol.0.clone()).await, ["Data", "Engineering"]);
    let created = audit_rows(&env.srv.db.url, "directory.").await;
    let actions: Vec<&str> = created.iter().map(|r| r.1.as_str()).collect();
    assert!(actions.contains(&"directory.created"), "{actions:?}");
    assert!(
        actions.contains(&"directory.user.created_just_in_time"),
        "{actions:?}"
    );

    // The next sign-in brings the IdP's groups now.
    env.idp.person(Person::new(
        "carol-sub",
        "carol@acme.test",
        &["engineering", "Security"],
    ));
    let (_, ch2) = pkce();
    let fresh = env.srv.client();
    let res = sign_in_for_client(
        &env,
        &fresh,
        &authorize_url(&env, &env.client_id, RES_A, "", &ch2),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        groups_of(carol.0.clone()).await,
        ["Engineering", "Security"]
    );
    assert_eq!(
        audit_actions(&env.srv.db.url, "directory.user.created_just_in_time")
            .await
            .len(),
        1,
        "created once"
    );

    // An unverified email is not enough.
    let mut eve = Person::new("eve-sub", "eve@acme.test", &[]);
    eve.email_verified = false;
    env.idp.person(eve);
    let res = sign_in_for_client(
        &env,
        &env.srv.client(),
        &authorize_url(&env, &env.client_id, RES_A, "", &ch2),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(svc
        .access
        .find_person(&system(), "eve@acme.test")
        .await?
        .is_none());
    env.srv.stop().await;
    Ok(())
}

/// One number from the test database.
pub(crate) async fn count_sql(db: &TestDb, sql: &str) -> i64 {
    let pool = portcullis_domain::Db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let n = portcullis_domain::db::count_dyn(pool.exec(), sql, &[])
        .await
        .unwrap();
    pool.close().await;
    n
}

/// A new pre-registered public client (redirect [`REDIRECT`]); its id.
async fn public_client(env: &Env, name: &str) -> String {
    env.srv
        .running
        .services
        .oauth
        .create_client(
            &system(),
            &CreateClient {
                name: name.into(),
                redirect_uris: vec![REDIRECT.into()],
                confidential: false,
                keys: None,
            },
        )
        .await
        .unwrap()
        .client_id
}

/// Refreshes that arrive together share a transaction (the batched
/// rotation); every refusal still gets its exact error, and a refusal that
/// depends on the request leaves the token usable. A token presented twice
/// at once is rotated once and its grant revoked, batch or not.
async fn oauth_refresh_batches_and_refusals(db: &TestDb) -> TestResult {
    let env = setup(db).await;
    let browser = env.srv.client();
    // Eight grants of Alice (consent is remembered after the first).
    let mut tokens = Vec::new();
    for _ in 0..8 {
        let (verifier, challenge) = pkce();
        let q = authorize(&env, &browser, &env.client_id, RES_A, "", &challenge).await;
        let (s, tok) = exchange(&env, &env.client_id, &q["code"], &verifier).await;
        assert_eq!(s, 200, "{tok}");
        tokens.push(tok["refresh_token"].as_str().unwrap().to_owned());
    }
    let other = public_client(&env, "Another client").await;

    // Refusals that depend on the request: exact errors, token unused.
    let rt = tokens[7].clone();
    for (form, error, description) in [
        (
            vec![("resource", RES_B), ("client_id", env.client_id.as_str())],
            "invalid_target",
            "a refresh token is bound to the resource it was issued for",
        ),
        (
            vec![
                ("scope", "admin:everything"),
                ("client_id", env.client_id.as_str()),
            ],
            "invalid_scope",
            "a refresh may only narrow the scope",
        ),
        (
            vec![("client_id", other.as_str())],
            "invalid_grant",
            "the refresh token was issued to another client",
        ),
    ] {
        let mut f = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        f.extend(form);
        let (s, e, _) = token(&env, &f).await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["error"], error, "{e}");
        assert_eq!(e["error_description"], description, "{e}");
    }
    assert_eq!(
        count_sql(
            db,
            "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE used_at IS NOT NULL"
        )
        .await,
        0,
        "no refusal used the token"
    );
    let (s, t, _) = token(
        &env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("resource", RES_A),
            ("client_id", env.client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(s, 200, "the token still works after the refusals: {t}");
    tokens[7] = t["refresh_token"].as_str().unwrap().to_owned();

    // All eight at once, the first twice.
    let mut presented = tokens.clone();
    presented.push(tokens[0].clone());
    let mut set = tokio::task::JoinSet::new();
    for rt in presented {
        let (url, client_id) = (env.srv.url("/oauth/token"), env.client_id.clone());
        set.spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", client_id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let answers: Vec<(u16, Value)> = set.join_all().await;
    let ok: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(ok.len(), 8, "{answers:?}");
    let refused: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0].0, 400);
    assert_eq!(refused[0].1["error"], "invalid_grant");
    let mut successors: Vec<&str> = ok
        .iter()
        .map(|b| b["refresh_token"].as_str().unwrap())
        .collect();
    successors.sort_unstable();
    successors.dedup();
    assert_eq!(successors.len(), 8, "every successor is new");
    let v = verifier_of(&env).await;
    for b in &ok {
        let c = portcullis_policy::token::verify_access_token(
            &v,
            b["access_token"].as_str().unwrap(),
            &env.srv.base,
            RES_A,
        )?;
        assert_eq!(c.sub, env.alice);
        assert_eq!(c.client_id, env.client_id);
    }
    // The twice-presented token's grant is revoked: its successor is dead,
    // the seven others work.
    assert_eq!(
        count_sql(
            db,
            "SELECT COUNT(*) FROM oauth_grants WHERE revoked_reason = 'refresh_reused'"
        )
        .await,
        1
    );
    let mut live = 0;
    for b in &ok {
        let (s, _) = refresh(&env, &env.client_id, b["refresh_token"].as_str().unwrap()).await;
        if s == 200 {
            live += 1;
        }
    }
    assert_eq!(live, 7);
    assert_eq!(
        count_sql(db, "SELECT COUNT(*) FROM oauth_refresh_tokens").await,
        8 + 1 + 8 + 7,
        "eight first tokens, one refresh, eight successors, seven more"
    );
    assert_eq!(
        count_sql(
            db,
            "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE used_at IS NULL"
        )
        .await,
        7,
        "the last successor of each live grant (the revoked grant's was used when refused)"
    );
    // The counts on /metrics: every 200 was rotated in a batch; each
    // refusal went the one-request path.
    let metrics = reqwest::get(env.srv.url("/metrics")).await?.text().await?;
    for line in [
        "oauth_refresh_batched_total 16",
        "oauth_refresh_one_by_one_total 5",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    env.srv.stop().await;
    Ok(())
}

backend_tests!(
    oauth_refresh_batches_and_refusals,
    oauth_just_in_time_people,
    oauth_private_key_jwt_clients,
    oauth_my_access,
    oauth_reaping_and_duplicate_registrations,
    oauth_abuse_limits,
    oauth_codes_and_refresh_tokens_expire,
    oauth_clients_console,
    oauth_cimd_client,
    oauth_metadata_advertises_what_clients_check,
    oauth_code_flow_and_refresh_rotation,
    oauth_code_single_use_and_bound,
    oauth_authorize_refusals,
    oauth_consent_step_up,
    oauth_deprovisioned_person,
    oauth_registration_approval_and_blocking,
    oauth_revoke_and_confidential_clients,
);
