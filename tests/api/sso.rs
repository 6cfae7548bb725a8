//! SSO (issue #4) over HTTP, against identity providers the tests control.
//!
//! OIDC: a small provider on loopback (discovery, JWKS, token endpoint that
//! enforces PKCE S256 and client authentication) whose ID tokens the tests
//! shape, so every OIDC line of SECURITY.md is exercised: wrong `iss`,
//! missing / wrong / extra `aud`, wrong `nonce`, `alg: none`, HS256 keyed
//! with the client secret, the right `kid` with the wrong key, expired, `iat`
//! in the future, `state` mismatch, discovery issuer mismatch, key rotation
//! (one JWKS re-fetch, rate-limited), and the mix-up `iss` parameter. The
//! browser-level flow against the real `oidc-provider` is in
//! `end2end/tests/sso.spec.ts`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access_console::{auditor, invited};
use crate::harness::*;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "portcullis";
const CLIENT_SECRET: &str = "client-secret-for-tests";
const KEY_A: &str = include_str!("../fixtures/sso/idp-a.key.pem");
const KEY_B: &str = include_str!("../fixtures/sso/idp-b.key.pem");
const JWK_A: &str = include_str!("../fixtures/sso/idp-a.pub.jwk.json");
const JWK_B: &str = include_str!("../fixtures/sso/idp-b.pub.jwk.json");

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Who the fake IdP says signed in.
#[derive(Clone, Debug)]
pub struct Person {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
}

impl Person {
    pub fn new(sub: &str, email: &str, groups: &[&str]) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            email_verified: true,
            name: format!("{sub} (test)"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// How the next ID token is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    Honest,
    WrongIss,
    WrongAud,
    ExtraAud,
    NoAud,
    WrongNonce,
    AlgNone,
    Hs256WithClientSecret,
    RightKidWrongKey,
    Expired,
    FutureIat,
    UnknownKid,
}

/// How the next ID-JAG (token exchange, `requested_token_type` id-jag)
/// is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JagForge {
    Honest,
    /// `aud` is another authorization server.
    WrongAud,
    Expired,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 keyed with the IdP's published public key (the classic
    /// algorithm-confusion forgery).
    HmacWithPublicKey,
    /// A plain JWT, not `oauth-id-jag+jwt`.
    WrongTyp,
}

/// The RFC 8693 token type of an ID-JAG.
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

struct Pending {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct IdpState {
    issuer: String,
    discovery_issuer: Option<String>,
    /// Published JWKs (with kid).
    jwks: Vec<Value>,
    /// (kid in the header, PEM of the key that signs).
    signer: (String, &'static str),
    pending: HashMap<String, Pending>,
    person: Person,
    forge: Forge,
    jwks_fetches: u32,
    token_calls: u32,
    /// ID tokens this IdP issued to the MCP client (subject tokens it
    /// accepts for an ID-JAG).
    id_tokens: std::collections::HashSet<String>,
    /// The client id the MCP client has at the resource authorization
    /// server (the IdP's mapping, written into ID-JAGs).
    jag_client_id: String,
    jag_forge: JagForge,
}

/// A fake OpenID provider on loopback.
#[derive(Clone)]
pub struct FakeIdp {
    pub issuer: String,
    state: Arc<Mutex<IdpState>>,
}

fn jwk(json: &str, kid: &str) -> Value {
    let mut v: Value = serde_json::from_str(json).unwrap();
    v["kid"] = json!(kid);
    v
}

impl FakeIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(IdpState {
            issuer: issuer.clone(),
            discovery_issuer: None,
            jwks: vec![jwk(JWK_A, "a")],
            signer: ("a".into(), KEY_A),
            pending: HashMap::new(),
            person: Person::new("alice-sub", "alice@acme.test", &["portcullis-admins"]),
            forge: Forge::Honest,
            jwks_fetches: 0,
            token_calls: 0,
            id_tokens: Default::default(),
            jag_client_id: String::new(),
            jag_forge: JagForge::Honest,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { issuer, state }
    }

    fn with<R>(&self, f: impl FnOnce(&mut IdpState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn person(&self, p: Person) {
        self.with(|s| s.person = p);
    }
    pub fn forge(&self, f: Forge) {
        self.with(|s| s.forge = f);
    }
    /// The MCP client's id at the resource authorization server, as the
    /// IdP's administrator mapped it.
    pub fn map_client(&self, client_id: &str) {
        self.with(|s| s.jag_client_id = client_id.to_owned());
    }
    pub fn forge_jag(&self, f: JagForge) {
        self.with(|s| s.jag_forge = f);
    }
    /// An ID token for the current person, as the MCP client got it when
    /// the person signed in to it (its subject token for ID-JAGs).
    pub fn id_token_for_client(&self) -> String {
        self.with(|s| {
            let now = chrono::Utc::now().timestamp();
            let claims = json!({
                "iss": s.issuer, "sub": s.person.sub, "aud": CLIENT_ID,
                "exp": now + 300, "iat": now, "email": s.person.email,
            });
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some(s.signer.0.clone());
            let t = jsonwebtoken::encode(
                &h,
                &claims,
                &EncodingKey::from_rsa_pem(s.signer.1.as_bytes()).unwrap(),
            )
            .unwrap();
            s.id_tokens.insert(t.clone());
            t
        })
    }
    /// Asks this IdP for an ID-JAG over HTTP (RFC 8693 token exchange, the
    /// MCP client's side): `(status, body)`.
    pub async fn exchange_for_id_jag(
        &self,
        subject_token: &str,
        audience: &str,
        resource: &str,
        scope: &str,
    ) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("requested_token_type", ID_JAG_TOKEN_TYPE),
                ("audience", audience),
                ("resource", resource),
                ("scope", scope),
                ("subject_token", subject_token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ])
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }
    pub fn jwks_fetches(&self) -> u32 {
        self.with(|s| s.jwks_fetches)
    }
    pub fn token_calls(&self) -> u32 {
        self.with(|s| s.token_calls)
    }

    /// Checks an authorization request as a provider would and issues a
    /// code for it; returns the redirect back to the console.
    pub fn authorize(&self, location: &str) -> String {
        let url = url::Url::parse(location).unwrap();
        assert!(
            location.starts_with(&format!("{}/authorize", self.issuer)),
            "not this IdP: {location}"
        );
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["code_challenge_method"], "S256", "PKCE S256 always");
        assert!(q["code_challenge"].len() >= 43);
        assert!(q["scope"].split(' ').any(|s| s == "openid"));
        assert!(q["state"].len() >= 16 && q["nonce"].len() >= 16);
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        self.with(|s| {
            s.pending.insert(
                code.clone(),
                Pending {
                    nonce: q["nonce"].clone(),
                    challenge: q["code_challenge"].clone(),
                    redirect_uri: q["redirect_uri"].clone(),
                },
            )
        });
        format!(
            "{}?code={code}&state={}",
            q["redirect_uri"],
            urlencode(&q["state"])
        )
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The token exchange of the ID-JAG draft (§4.3): an ID token this IdP
/// issued, for an ID-JAG naming its person, the mapped client, the asked
/// audience, resource and scope. `None`: refused.
fn id_jag(s: &mut IdpState, form: &HashMap<String, String>) -> Option<axum::response::Response> {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("requested_token_type") != ID_JAG_TOKEN_TYPE
        || field("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token"
        || !s.id_tokens.contains(&field("subject_token"))
    {
        return None;
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": s.issuer,
        "sub": s.person.sub,
        "aud": field("audience"),
        "client_id": s.jag_client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "exp": now + 300,
        "iat": now,
        "resource": field("resource"),
        "scope": field("scope"),
        "email": s.person.email,
        "email_verified": s.person.email_verified,
    });
    let (kid, pem) = s.signer.clone();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.clone());
    h.typ = Some("oauth-id-jag+jwt".into());
    let rsa = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let jag = match s.jag_forge {
        JagForge::Honest => jsonwebtoken::encode(&h, &claims, &rsa).unwrap(),
        JagForge::WrongAud => {
            claims["aud"] = json!("https://another-as.example");
            jsonwebtoken::encode(&h, &claims, &rsa).unwrap()
        }
        JagForge::Expired => {
            claims["exp"] = json!(now - 120);
            claims["iat"] = json!(now - 420);
            jsonwebtoken::encode(&h, &claims, &rsa).unwrap()
        }
        JagForge::WrongTyp => {
            h.typ = Some("JWT".into());
            jsonwebtoken::encode(&h, &claims, &rsa).unwrap()
        }
        JagForge::AlgNone => format!(
            "{}.{}.",
            b64(
                json!({ "alg": "none", "typ": "oauth-id-jag+jwt", "kid": kid })
                    .to_string()
                    .as_bytes()
            ),
            b64(claims.to_string().as_bytes())
        ),
        JagForge::HmacWithPublicKey => {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid.clone());
            h.typ = Some("oauth-id-jag+jwt".into());
            let public = s
                .jwks
                .iter()
                .find(|k| k["kid"] == kid.as_str())
                .unwrap()
                .to_string();
            jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(public.as_bytes())).unwrap()
        }
    };
    Some(
        Json(json!({
            "issued_token_type": ID_JAG_TOKEN_TYPE,
            "access_token": jag,
            "token_type": "N_A",
            "scope": field("scope"),
            "expires_in": 300,
        }))
        .into_response(),
    )
}

async fn discovery(State(s): State<Arc<Mutex<IdpState>>>) -> Json<Value> {
    let s = s.lock().unwrap();
    let base = s.issuer.clone();
    Json(json!({
        "issuer": s.discovery_issuer.clone().unwrap_or(base.clone()),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(s): State<Arc<Mutex<IdpState>>>) -> Json<Value> {
    let mut s = s.lock().unwrap();
    s.jwks_fetches += 1;
    Json(json!({ "keys": s.jwks }))
}

async fn token(
    State(s): State<Arc<Mutex<IdpState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let mut s = s.lock().unwrap();
    s.token_calls += 1;
    let bad = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:grant-type:token-exchange")
    {
        return id_jag(&mut s, &form).unwrap_or_else(|| bad("invalid_grant"));
    }
    let Some(p) = form.get("code").and_then(|c| s.pending.remove(c)) else {
        return bad("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if b64(&sha2::Sha256::digest(verifier.as_bytes())) != p.challenge {
        return bad("invalid_grant");
    }
    if form.get("redirect_uri") != Some(&p.redirect_uri) {
        return bad("invalid_grant");
    }
    let now = chrono::Utc::now().timestamp();
    let person = s.person.clone();
    let mut claims = json!({
        "iss": s.issuer,
        "sub": person.sub,
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": p.nonce,
        "email": person.email,
        "email_verified": person.email_verified,
        "name": person.name,
        "groups": person.groups,
    });
    let (mut kid, mut pem) = s.signer.clone();
    let mut alg = Algorithm::RS256;
    match s.forge {
        Forge::Honest => {}
        Forge::WrongIss => claims["iss"] = json!("https://evil.test"),
        Forge::WrongAud => claims["aud"] = json!("someone-else"),
        Forge::ExtraAud => claims["aud"] = json!([CLIENT_ID, "someone-else"]),
        Forge::NoAud => {
            claims.as_object_mut().unwrap().remove("aud");
        }
        Forge::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        Forge::Expired => {
            claims["exp"] = json!(now - 60);
            claims["iat"] = json!(now - 600);
        }
        Forge::FutureIat => claims["iat"] = json!(now + 3600),
        Forge::RightKidWrongKey => pem = if pem == KEY_A { KEY_B } else { KEY_A },
        Forge::UnknownKid => kid = "nobody-knows".into(),
        Forge::AlgNone | Forge::Hs256WithClientSecret => alg = Algorithm::HS256,
    }
    let id_token = match s.forge {
        Forge::AlgNone => format!(
            "{}.{}.",
            b64(json!({ "alg": "none", "kid": kid }).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        ),
        Forge::Hs256WithClientSecret => {
            let mut h = Header::new(alg);
            h.kid = Some(kid);
            jsonwebtoken::encode(
                &h,
                &claims,
                &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .unwrap()
        }
        _ => {
            let mut h = Header::new(alg);
            h.kid = Some(kid);
            jsonwebtoken::encode(
                &h,
                &claims,
                &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            )
            .unwrap()
        }
    };
    Json(json!({
        "access_token": "at-not-used",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

/// The console with the IdP's host allowed for fetching.
pub async fn start_console(db: TestDb, idp: &FakeIdp) -> TestServer {
    let host = idp.issuer.trim_start_matches("http://").to_owned();
    TestServer::start_on(db, &[("PORTCULLIS_FETCH_ALLOWED_HOSTS", host.as_str())]).await
}

/// Creates the OIDC connection `acme` for acme.test with mappings.
pub async fn connect(
    srv: &TestServer,
    owner: &reqwest::Client,
    idp: &FakeIdp,
    mappings: &[(&str, &str)],
) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = vec![
        ("name", "Acme IdP"),
        ("slug", "acme"),
        ("kind", "oidc"),
        ("enabled", "on"),
        ("domains", "acme.test"),
        ("issuer", &idp.issuer),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scopes", "openid email profile groups"),
    ];
    for (g, r) in mappings {
        form.push(("mapping_groups[]", g));
        form.push(("mapping_roles[]", r));
    }
    srv.call(owner, "sso/create", &form).await
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Where a started sign-in sends the browser (`Refresh: 0; url=…`).
pub fn to_idp(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 200, "a started sign-in");
    res.headers()
        .get("refresh")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("0; url="))
        .unwrap_or_else(|| panic!("no Refresh header: {:?}", res.headers()))
        .to_owned()
}

pub(crate) fn sets_session(res: &reqwest::Response) -> bool {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("portcullis_session=") && !c.starts_with("portcullis_session=;"))
}

/// Starts a sign-in for `email` in `browser`; returns the IdP URL.
pub async fn start_signin(srv: &TestServer, browser: &reqwest::Client, email: &str) -> String {
    let res = browser
        .post(srv.url("/sso/start"))
        .form(&[("email", email), ("next", "/catalog/servers")])
        .send()
        .await
        .unwrap();
    to_idp(&res)
}

/// Follows the IdP's redirect back into the console; returns the response.
pub async fn callback(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.unwrap()
}

/// A whole sign-in in a fresh browser: (browser, final response).
pub async fn sign_in(
    srv: &TestServer,
    idp: &FakeIdp,
    email: &str,
) -> (reqwest::Client, reqwest::Response) {
    let browser = srv.client();
    let to_idp = start_signin(srv, &browser, email).await;
    let back = idp.authorize(&to_idp);
    let res = callback(&browser, &back).await;
    (browser, res)
}

async fn me(srv: &TestServer, c: &reqwest::Client) -> (u16, Value) {
    srv.call(c, "me", &[]).await
}

/// A COUNT(*) query on the test database.
pub(crate) async fn count(db: &TestDb, sql: &str) -> i64 {
    query_one(db, sql).await
}

async fn query_one<T>(db: &TestDb, sql: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let pool = portcullis_domain::Db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let v = match &pool {
        portcullis_domain::Db::Sqlite(p, _) => sqlx::query_scalar(sql).fetch_one(p).await,
        portcullis_domain::Db::Postgres(p, _) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
    .unwrap();
    pool.close().await;
    v
}

/// A console with the fake IdP: (idp, server, owner).
async fn console_with_idp(db: &TestDb) -> (FakeIdp, TestServer, reqwest::Client) {
    let idp = FakeIdp::start().await;
    let srv = start_console(db.alias(), &idp).await;
    let owner = srv.owner_client("a long owner password").await;
    (idp, srv, owner)
}

/// [`console_with_idp`] with the connection `acme` made, mapping
/// portcullis-admins to admin; returns the connection id too.
async fn connected(db: &TestDb) -> (FakeIdp, TestServer, reqwest::Client, String) {
    let (idp, srv, owner) = console_with_idp(db).await;
    let (status, id) = connect(&srv, &owner, &idp, &[("portcullis-admins", "admin")]).await;
    assert_eq!(status, 200, "create: {id}");
    let id = id.as_str().unwrap_or_default().to_owned();
    (idp, srv, owner, id)
}

/// An admin signs in through the IdP with the role their group maps to;
/// the console user is created once and linked by subject afterwards;
/// PKCE and client authentication reach the token endpoint.
async fn oidc_sign_in_with_mapped_role(db: &TestDb) -> TestResult {
    let (idp, srv, _owner, _) = connected(db).await;

    let (browser, res) = sign_in(&srv, &idp, "Alice@Acme.test").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/catalog/servers",
        "back to where she was going"
    );
    assert!(sets_session(&res));
    let (status, me_body) = me(&srv, &browser).await;
    assert_eq!(status, 200, "{me_body}");
    assert_eq!(me_body["email"], "alice@acme.test");
    assert_eq!(me_body["role"], "admin");
    assert_eq!(idp.token_calls(), 1);

    // The same person again: linked by subject, no second user.
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    let users: i64 = query_one(db, "SELECT COUNT(*) FROM console_users WHERE email = 'alice@acme.test' AND role_source = 'sso'").await;
    assert_eq!(users, 1);
    let links: i64 = query_one(
        db,
        "SELECT COUNT(*) FROM sso_identities WHERE subject = 'alice-sub'",
    )
    .await;
    assert_eq!(links, 1);
    let rows = audit_rows(&db.url, "console.").await;
    let signins: Vec<_> = rows
        .iter()
        .filter(|r| r.1 == "console.signin.succeeded" && r.2 == "alice@acme.test")
        .collect();
    assert_eq!(signins.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|r| r.1 == "console.user.created"));
    let text = audit_text(&db.url).await;
    assert!(
        text.contains("\"linked_by\":\"created\"") && text.contains("\"linked_by\":\"identity\""),
        "{text}"
    );
    assert!(
        !text.contains(CLIENT_SECRET),
        "the client secret is in the audit log"
    );
    srv.stop().await;
    Ok(())
}

backend_tests!(
    oidc_sign_in_with_mapped_role,
    oidc_refusals_are_clear_and_audited
);

/// No mapped role, an unverified email, an email outside the connection's
/// domains: refused with a reason the sign-in page explains, no session, no
/// user, audited.
async fn oidc_refusals_are_clear_and_audited(db: &TestDb) -> TestResult {
    let (idp, srv, _owner, _) = connected(db).await;
    let before: i64 = query_one(db, "SELECT COUNT(*) FROM console_users").await;
    let cases = [
        (
            Person::new("bob-sub", "bob@acme.test", &["engineering"]),
            "no_role",
        ),
        (
            Person {
                email_verified: false,
                ..Person::new("eve-sub", "eve@acme.test", &["portcullis-admins"])
            },
            "email_unverified",
        ),
        (
            Person::new("mal-sub", "mallory@evil.test", &["portcullis-admins"]),
            "wrong_domain",
        ),
    ];
    for (person, code) in cases {
        idp.person(person.clone());
        let (browser, res) = sign_in(&srv, &idp, "someone@acme.test").await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            location(&res),
            format!("/login?sso_error={code}"),
            "{person:?}"
        );
        assert!(!sets_session(&res));
        assert_eq!(me(&srv, &browser).await.0, 401);
        let page = browser
            .get(srv.url(&format!("/login?sso_error={code}")))
            .send()
            .await?
            .text()
            .await?;
        let message = portcullis_types::SsoRefusal::from_code(code)
            .unwrap()
            .message();
        assert!(text_of(&page).contains(message), "the page explains {code}");
    }
    let after: i64 = query_one(db, "SELECT COUNT(*) FROM console_users").await;
    assert_eq!(after, before, "nobody was created");
    let refused = audit_rows(&db.url, "console.signin.refused").await;
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|r| r.4 == "denied"));
    let text = audit_text(&db.url).await;
    for code in ["no_role", "email_unverified", "wrong_domain"] {
        assert!(text.contains(&format!("\"reason\":\"{code}\"")), "{code}");
    }
    srv.stop().await;
    Ok(())
}

/// Every forged ID token is refused, nothing signs in, and the honest
/// token still works afterwards.
#[tokio::test]
async fn oidc_forged_id_tokens_are_refused() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, _owner, _) = connected(&db).await;
    // Warm the JWKS cache, so the unknown-kid case below is a real rotation miss.
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    for forge in [
        Forge::WrongIss,
        Forge::WrongAud,
        Forge::ExtraAud,
        Forge::NoAud,
        Forge::WrongNonce,
        Forge::AlgNone,
        Forge::Hs256WithClientSecret,
        Forge::RightKidWrongKey,
        Forge::Expired,
        Forge::FutureIat,
        Forge::UnknownKid,
    ] {
        idp.forge(forge);
        let (browser, res) = sign_in(&srv, &idp, "alice@acme.test").await;
        assert_eq!(
            location(&res),
            "/login?sso_error=invalid_response",
            "{forge:?}"
        );
        assert!(!sets_session(&res), "{forge:?} signed in");
        assert_eq!(me(&srv, &browser).await.0, 401, "{forge:?}");
    }
    let refused = audit_rows(&db.url, "console.signin.refused").await;
    assert_eq!(refused.len(), 11);
    idp.forge(Forge::Honest);
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    srv.stop().await;
    Ok(())
}

/// `state` is bound to the browser that started the sign-in and used once;
/// an `iss` in the response must be this IdP's.
#[tokio::test]
async fn oidc_state_is_bound_and_single_use() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, _owner, _) = connected(&db).await;

    // Started in browser A, finished in browser B (an attacker's login CSRF).
    let a = srv.client();
    let back = idp.authorize(&start_signin(&srv, &a, "alice@acme.test").await);
    let b = srv.client();
    let res = callback(&b, &back).await;
    assert_eq!(location(&res), "/login?sso_error=expired");
    assert!(!sets_session(&res));
    // The attempt used the sign-in up: A cannot finish it either.
    let res = callback(&a, &back).await;
    assert_eq!(location(&res), "/login?sso_error=expired");
    assert_eq!(idp.token_calls(), 0, "no code was redeemed");

    // A made-up state, and no state.
    let to_idp = start_signin(&srv, &a, "alice@acme.test").await;
    let back = idp.authorize(&to_idp);
    let forged = back.replace("state=", "state=x");
    assert_eq!(
        location(&callback(&a, &forged).await),
        "/login?sso_error=expired"
    );
    let no_state = back.split("&state=").next().unwrap().to_owned();
    assert_eq!(
        location(&callback(&a, &no_state).await),
        "/login?sso_error=expired"
    );

    // Mix-up: the response claims another issuer.
    let back = idp.authorize(&start_signin(&srv, &a, "alice@acme.test").await);
    let res = callback(&a, &format!("{back}&iss=https%3A%2F%2Fevil.test")).await;
    assert_eq!(location(&res), "/login?sso_error=invalid_response");

    // An error from the IdP.
    let to_idp = start_signin(&srv, &a, "alice@acme.test").await;
    let state = url::Url::parse(&to_idp)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let res = callback(
        &a,
        &srv.url(&format!(
            "/sso/oidc/acme/callback?error=access_denied&state={}",
            urlencode(&state)
        )),
    )
    .await;
    assert_eq!(location(&res), "/login?sso_error=idp_error");

    // The honest flow, then the same callback again (replay).
    let back = idp.authorize(&start_signin(&srv, &a, "alice@acme.test").await);
    let res = callback(&a, &back).await;
    assert!(sets_session(&res));
    let res = callback(&a, &back).await;
    assert_eq!(location(&res), "/login?sso_error=expired");
    let text = audit_text(&db.url).await;
    assert!(
        text.contains("another browser") || text.contains("no sign-in cookie"),
        "{text}"
    );
    srv.stop().await;
    Ok(())
}

/// The IdP rotates its key: the console re-fetches the JWKS once and signs
/// in; a token with an unknown key makes at most one re-fetch a minute.
#[tokio::test]
async fn oidc_key_rotation_refetches_jwks_once() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, _owner, _) = connected(&db).await;
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    let fetches = idp.jwks_fetches();

    // Rotation: key B published next to A and now signing.
    idp.with(|s| {
        s.jwks.push(jwk(JWK_B, "b"));
        s.signer = ("b".into(), KEY_B);
    });
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(
        sets_session(&res),
        "rotation broke sign-in: {}",
        location(&res)
    );
    assert_eq!(idp.jwks_fetches(), fetches + 1, "one re-fetch");
    let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    assert_eq!(idp.jwks_fetches(), fetches + 1, "the new key is cached");

    // Unknown kids: refused, and within the minute no further re-fetch.
    idp.forge(Forge::UnknownKid);
    for _ in 0..3 {
        let (_, res) = sign_in(&srv, &idp, "alice@acme.test").await;
        assert_eq!(location(&res), "/login?sso_error=invalid_response");
    }
    assert_eq!(idp.jwks_fetches(), fetches + 1, "rate-limited");
    srv.stop().await;
    Ok(())
}

/// Connection changes: the discovered issuer must match; domains are
/// unique; only owners map to owner; auditors change nothing; the client
/// secret is sealed and never shown.
#[tokio::test]
async fn sso_connection_rules() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, owner) = console_with_idp(&db).await;

    idp.with(|s| s.discovery_issuer = Some("https://other-issuer.test".into()));
    let (status, body) = connect(&srv, &owner, &idp, &[]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("issuer"), "{body}");
    idp.with(|s| s.discovery_issuer = None);
    assert_eq!(
        query_one::<i64>(&db, "SELECT COUNT(*) FROM sso_connections").await,
        0
    );
    assert!(audit_actions(&db.url, "sso.").await.is_empty());

    let reader = auditor(&srv, &owner, "reader@acme.test").await;
    let (status, _) = connect(&srv, &reader, &idp, &[]).await;
    assert_eq!(status, 403);
    let admin = invited(&srv, &owner, "admin@acme.test", "admin").await;
    let (status, body) = connect(&srv, &admin, &idp, &[("portcullis-owners", "owner")]).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("role_mappings[0].role"), "{body}");
    assert_eq!(
        query_one::<i64>(&db, "SELECT COUNT(*) FROM sso_connections").await,
        0
    );

    let (status, id) = connect(&srv, &owner, &idp, &[("portcullis-owners", "owner")]).await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_str().unwrap().to_owned();
    // Auditors can neither change the connection nor run its test sign-in.
    let (status, body) = srv
        .call(
            &reader,
            "sso/update",
            &[
                ("id", id.as_str()),
                ("name", "Renamed by an auditor"),
                ("slug", "acme"),
                ("kind", "oidc"),
                ("enabled", "on"),
                ("domains", "acme.test"),
                ("issuer", &idp.issuer),
                ("client_id", CLIENT_ID),
                ("client_secret", ""),
            ],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let res = reader.post(srv.url("/sso/test/acme")).send().await?;
    assert_eq!(res.status(), 403, "an auditor cannot test the connection");
    assert_eq!(
        query_one::<i64>(
            &db,
            "SELECT COUNT(*) FROM sso_connections WHERE name = 'Acme IdP'"
        )
        .await,
        1
    );
    assert_eq!(
        query_one::<i64>(&db, "SELECT COUNT(*) FROM sso_requests").await,
        0,
        "no sign-in was started"
    );
    // Another connection for the same domain.
    let (status, body) = srv
        .call(
            &owner,
            "sso/create",
            &[
                ("name", "Second"),
                ("slug", "second"),
                ("kind", "oidc"),
                ("enabled", "on"),
                ("domains", "ACME.test, other.test"),
                ("issuer", &idp.issuer),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("domains"), "{body}");
    // Bad input names its fields.
    let (status, body) = srv
        .call(
            &owner,
            "sso/create",
            &[
                ("name", ""),
                ("slug", "Bad Slug"),
                ("kind", "oidc"),
                ("domains", "not a domain"),
                ("issuer", "ftp://x"),
                ("scopes", "email"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    for field in [
        "name",
        "slug",
        "domains",
        "issuer",
        "client_id",
        "client_secret",
        "scopes",
    ] {
        assert!(
            body.to_string().contains(&format!("\"{field}\"")),
            "{field}: {body}"
        );
    }

    let (status, detail) = srv.call(&owner, "sso/get", &[("id", &id)]).await;
    assert_eq!(status, 200);
    assert_eq!(detail["has_client_secret"], true);
    assert!(!detail.to_string().contains(CLIENT_SECRET));
    assert_eq!(
        detail["redirect_uri"],
        format!("{}/sso/oidc/acme/callback", srv.base)
    );
    let stored: String = query_one(&db, "SELECT client_secret FROM sso_connections").await;
    assert!(stored.starts_with("v1.") && !stored.contains(CLIENT_SECRET));
    // Auditors can read, not change or delete.
    assert_eq!(srv.call(&reader, "sso/get", &[("id", &id)]).await.0, 200);
    assert_eq!(srv.call(&reader, "sso/delete", &[("id", &id)]).await.0, 403);
    assert_eq!(
        audit_actions(&db.url, "sso.").await,
        vec!["sso.connection.created"]
    );
    srv.stop().await;
    Ok(())
}

/// "Test connection" shows what the IdP sent and signs nobody in.
#[tokio::test]
async fn oidc_test_connection_signs_nobody_in() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, owner, id) = connected(&db).await;
    idp.person(Person::new(
        "bob-sub",
        "bob@acme.test",
        &["engineering", "<script>x</script>"],
    ));
    let res = owner.post(srv.url("/sso/test/acme")).send().await?;
    let back = idp.authorize(&to_idp(&res));
    let res = callback(&owner, &back).await;
    let to = location(&res);
    assert!(to.starts_with(&format!("/settings/sso/{id}?test=")), "{to}");
    assert!(!sets_session(&res), "a test does not sign in");
    let test_id = to.split("test=").nth(1).unwrap();
    let (status, result) = srv
        .call(&owner, "sso/test_result", &[("id", test_id)])
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["email"], "bob@acme.test");
    assert!(result["summary"].as_str().unwrap().contains("no role"));
    assert!(result["claims"].to_string().contains("engineering"));
    // The owner is still the owner.
    assert_eq!(me(&srv, &owner).await.1["role"], "owner");
    // The page shows the hostile group as text.
    let html = owner
        .get(srv.url(&format!("/settings/sso/{id}?test={test_id}")))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x</script>")
    );
    assert_eq!(
        query_one::<i64>(
            &db,
            "SELECT COUNT(*) FROM console_users WHERE email = 'bob@acme.test'"
        )
        .await,
        0
    );
    assert_eq!(
        audit_actions(&db.url, "sso.connection.tested").await.len(),
        1
    );
    srv.stop().await;
    Ok(())
}

/// A role that changes with the IdP's groups ends the person's other
/// sessions; an explicit role given by an owner stays.
#[tokio::test]
async fn oidc_role_follows_groups_and_ends_old_sessions() -> TestResult {
    let db = TestDb::sqlite();
    let (idp, srv, owner) = console_with_idp(&db).await;
    connect(
        &srv,
        &owner,
        &idp,
        &[
            ("portcullis-admins", "admin"),
            ("portcullis-auditors", "auditor"),
        ],
    )
    .await;
    let (first, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    assert_eq!(me(&srv, &first).await.1["role"], "admin");
    idp.person(Person::new(
        "alice-sub",
        "alice@acme.test",
        &["portcullis-auditors"],
    ));
    let (second, res) = sign_in(&srv, &idp, "alice@acme.test").await;
    assert!(sets_session(&res));
    assert_eq!(me(&srv, &second).await.1["role"], "auditor");
    assert_eq!(me(&srv, &first).await.0, 401, "the admin session ended");
    assert!(
        audit_actions(&db.url, "console.user.role_changed")
            .await
            .len()
            == 1
    );

    // An admin invited by the owner (manual role) keeps it whatever the groups say.
    let _ = invited(&srv, &owner, "carol@acme.test", "admin").await;
    idp.person(Person::new("carol-sub", "carol@acme.test", &[]));
    let (carol, res) = sign_in(&srv, &idp, "carol@acme.test").await;
    assert!(sets_session(&res), "{}", location(&res));
    assert_eq!(me(&srv, &carol).await.1["role"], "admin");
    let text = audit_text(&db.url).await;
    assert!(text.contains("\"linked_by\":\"verified_email\""));
    srv.stop().await;
    Ok(())
}

/// A person provisioned by SCIM in the connection's directory is found by
/// externalId = subject (the IdP sends another email and no groups), gets
/// the role of their SCIM group and is created with the directory's email;
/// deactivated in SCIM, they are refused.
#[tokio::test]
async fn oidc_scim_provisioned_person_gets_role_from_scim_groups() -> TestResult {
    use crate::directory::{create_directory, provision_user, scim, set_active};
    let db = TestDb::sqlite();
    let (idp, srv, owner) = console_with_idp(&db).await;
    let (dir_id, token, base) = create_directory(&srv, &owner, "Okta").await;
    let dana = provision_user(
        &base,
        &token,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "dana@acme.test",
            "externalId": "dana-sub",
            "active": true,
            "emails": [{ "value": "dana@acme.test", "type": "work", "primary": true }],
        }),
    )
    .await;
    let (status, body) = scim(
        &base,
        &token,
        reqwest::Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "portcullis-admins",
            "members": [{ "value": dana }],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
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
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("directory_id", &dir_id),
                ("mapping_groups[]", "portcullis-admins"),
                ("mapping_roles[]", "admin"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    idp.person(Person {
        email_verified: false,
        ..Person::new("dana-sub", "d.alias@acme.test", &[])
    });
    let (browser, res) = sign_in(&srv, &idp, "dana@acme.test").await;
    assert!(sets_session(&res), "{}", location(&res));
    let (_, me_body) = me(&srv, &browser).await;
    assert_eq!(me_body["role"], "admin");
    assert_eq!(me_body["email"], "dana@acme.test", "the directory's email");

    set_active(&base, &token, &dana, false).await;
    let (browser, res) = sign_in(&srv, &idp, "dana@acme.test").await;
    assert_eq!(location(&res), "/login?sso_error=deprovisioned");
    assert_eq!(me(&srv, &browser).await.0, 401);
    srv.stop().await;
    Ok(())
}

/// Garbage answers from one address are refused and audited up to a limit,
/// then turned away unread (429), so they cannot flood the audit log.
#[tokio::test]
async fn sso_refusals_are_throttled_per_address() -> TestResult {
    let db = TestDb::sqlite();
    let (_idp, srv, _owner, _) = connected(&db).await;
    let c = srv.client();
    let limit = portcullis_domain::sso::MAX_REFUSALS_PER_IP;
    for _ in 0..limit {
        let res = c
            .get(srv.url("/sso/oidc/acme/callback?code=x&state=forged"))
            .send()
            .await?;
        assert_eq!(location(&res), "/login?sso_error=expired");
    }
    let res = c
        .get(srv.url("/sso/oidc/acme/callback?code=x&state=forged"))
        .send()
        .await?;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let res = c
        .post(srv.url("/sso/saml/acme/acs"))
        .form(&[("SAMLResponse", "garbage")])
        .send()
        .await?;
    assert_eq!(res.status(), 429);
    assert_eq!(
        audit_rows(&db.url, "console.signin.refused").await.len() as i64,
        limit
    );
    srv.stop().await;
    Ok(())
}
