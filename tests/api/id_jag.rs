//! Enterprise-managed authorization (issue #18, item 4): the test IdP
//! (`crate::sso::FakeIdp`, on loopback, with RSA keys made for the tests)
//! issues ID-JAGs by RFC 8693 token exchange, as Okta's Cross App Access
//! does; an OIDC connection that accepts them lets the MCP client trade one
//! for a token (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`)
//! for the person it names, with no consent screen, and the reference
//! gateway enforces that person's grants. Every forgery and mismatch of the
//! MCP profile is `invalid_grant`, with the reason told.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::directory::set_active;
use crate::gateway::{deploy, edge, Deployed, Mcp, RES_A};
use crate::harness::*;
use crate::oauth::{claims_of, count_sql, token, Env};
use crate::sso::{FakeIdp, JagForge, Person, ID_JAG_TOKEN_TYPE};
use portcullis_domain::oauth::model::CreateClient;
use portcullis_domain::Actor;
use portcullis_types::GrantTarget;
use serde_json::Value;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const RES_B: &str = "https://mcp.acme.test/jira";

/// Saves the connection `acme` with `accept_id_jag` on or off (and the
/// directory linked when `directory`).
async fn accept_id_jags(env: &Env, on: bool, directory: bool) -> (u16, Value) {
    let mut form = vec![
        ("id", env.sso_id.as_str()),
        ("name", "Acme IdP"),
        ("slug", "acme"),
        ("kind", "oidc"),
        ("enabled", "on"),
        ("domains", "acme.test"),
        ("issuer", env.idp.issuer.as_str()),
        ("client_id", "portcullis"),
        ("client_secret", ""),
    ];
    if directory {
        form.push(("directory_id", env.dir_id.as_str()));
    }
    if on {
        form.push(("accept_id_jag", "on"));
    }
    env.srv.call(&env.owner, "sso/update", &form).await
}

/// An ID-JAG from `idp` for the Portcullis of `env`, `resource` and `scope`.
async fn id_jag_from(idp: &FakeIdp, env: &Env, resource: &str, scope: &str) -> String {
    let subject = idp.id_token_for_client();
    let (s, body) = idp
        .exchange_for_id_jag(&subject, &env.srv.base, resource, scope)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["issued_token_type"], ID_JAG_TOKEN_TYPE);
    body["access_token"].as_str().unwrap().to_owned()
}

/// Presents `jag` at the token endpoint as `client_id`.
async fn present(env: &Env, client_id: &str, jag: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", JWT_BEARER),
        ("assertion", jag),
        ("client_id", client_id),
    ];
    form.extend_from_slice(extra);
    let (s, b, _) = token(env, &form).await;
    (s, b)
}

/// Asserts an `invalid_grant` refusal whose description says `why`.
#[track_caller]
fn refused(out: (u16, Value), why: &str) {
    let (status, body) = out;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{why}: {body}"
    );
    let said = body["error_description"].as_str().unwrap_or_default();
    assert!(said.contains(why), "{why:?} not in {said:?}");
    assert!(body.get("access_token").is_none(), "{body}");
}

async fn id_jag_gets_a_token_the_gateway_enforces(db: &TestDb) -> TestResult {
    let Deployed {
        upstream,
        env,
        server_id,
        credential,
        ..
    } = deploy(
        db,
        GrantTarget::Tools {
            names: vec!["search".into()],
        },
    )
    .await?;
    let svc = env.srv.running.services.clone();
    let system = Actor::system("test");
    svc.oauth
        .set_server_scopes(&system, &server_id.as_str().into(), "repo:read repo:write")
        .await?;
    env.idp.map_client(&env.client_id);
    let issued = || async {
        count_sql(
            db,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.token.issued' \
             AND details LIKE '%jwt-bearer%'",
        )
        .await
    };

    // Until a connection accepts them, the IdP's ID-JAGs are nobody's.
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "no SSO connection accepts ID-JAGs",
    );
    // Accepting needs the connection's directory (the people it names).
    let (s, body) = accept_id_jags(&env, true, false).await;
    assert_eq!(
        (s, body["fields"][0]["field"].as_str()),
        (422, Some("accept_id_jag")),
        "{body}"
    );
    let (s, body) = accept_id_jags(&env, true, true).await;
    assert_eq!(s, 200, "{body}");
    let (_, detail) = env
        .srv
        .call(&env.owner, "sso/get", &[("id", &env.sso_id)])
        .await;
    assert_eq!(detail["accept_id_jag"], true, "{detail}");
    // The metadata says so (RFC 8414; the draft's §7.2).
    let meta: Value = reqwest::get(env.srv.url("/.well-known/oauth-authorization-server"))
        .await?
        .json()
        .await?;
    assert!(meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&JWT_BEARER.into()));
    assert_eq!(
        meta["authorization_grant_profiles_supported"],
        serde_json::json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );

    // A good ID-JAG: a token for Alice, the intersection of the scopes
    // asked (repo:read, admin) and asserted (repo:read, repo:write), no
    // refresh token (the client asks its IdP again).
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read repo:write").await;
    let (s, tok) = present(
        &env,
        &env.client_id,
        &jag,
        &[("scope", "repo:read admin"), ("resource", RES_A)],
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["scope"], "repo:read", "{tok}");
    assert!(tok.get("refresh_token").is_none(), "{tok}");
    let at = tok["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&at);
    assert_eq!(claims["sub"], env.alice.as_str());
    assert_eq!(claims["aud"], RES_A);
    assert_eq!(claims["client_id"], env.client_id.as_str());
    assert_eq!(claims["iss"], env.srv.base.trim_end_matches('/'));
    assert_eq!(issued().await, 1);
    // Without a scope asked, the token gets every asserted one.
    let all = id_jag_from(&env.idp, &env, RES_A, "repo:read repo:write").await;
    let (s, tok2) = present(&env, &env.client_id, &all, &[]).await;
    assert_eq!(
        (s, tok2["scope"].as_str()),
        (200, Some("repo:read repo:write")),
        "{tok2}"
    );
    assert_eq!(issued().await, 2);
    // The same ID-JAG again: a replay.
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "already used",
    );

    // Through the gateway, Alice's grants decide: search only.
    let (gw, _state) = edge(&env, &credential, &upstream.url).await?;
    let mut app = Mcp::new(format!("http://{}/github", gw.addr), Some(at));
    app.initialize().await;
    assert_eq!(app.tool_names().await, ["search"]);
    assert!(app.call("search").await.is_ok());
    assert_eq!(
        app.call("list_issues").await.unwrap_err()["data"]["reason"],
        "no_grant"
    );

    // Forgeries, each refused.
    for (forge, why) in [
        (
            JagForge::WrongAud,
            "aud must be this authorization server's issuer",
        ),
        (JagForge::Expired, "has expired"),
        (JagForge::AlgNone, "the ID-JAG was refused"),
        (JagForge::HmacWithPublicKey, "HS256 is not accepted"),
        (JagForge::WrongTyp, "typ must be oauth-id-jag+jwt"),
    ] {
        env.idp.forge_jag(forge);
        let bad = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
        refused(present(&env, &env.client_id, &bad, &[]).await, why);
    }
    env.idp.forge_jag(JagForge::Honest);
    // An IdP no connection trusts, though its ID-JAG is well made.
    let stranger = FakeIdp::start().await;
    stranger.map_client(&env.client_id);
    let theirs = id_jag_from(&stranger, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &theirs, &[]).await,
        "no SSO connection accepts ID-JAGs from the issuer",
    );
    // The resource: asked for another than asserted; not of this catalog.
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &jag, &[("resource", RES_B)]).await,
        "resource differs from the ID-JAG's resource",
    );
    let jag = id_jag_from(&env.idp, &env, "https://mcp.elsewhere.test/x", "").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "not an enabled MCP server of this catalog",
    );
    // A scope the server does not declare: made for another server.
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read admin:org").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "\"admin:org\" is not one this server declares",
    );
    // Another client presenting it.
    let other = svc
        .oauth
        .create_client(
            &system,
            &CreateClient {
                name: "Another MCP client".into(),
                redirect_uris: vec!["http://127.0.0.1:5556/callback".into()],
                confidential: false,
                keys: None,
            },
        )
        .await?;
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &other.client_id, &jag, &[]).await,
        "issued for another client",
    );
    // Portcullis decides the tools: Alice has no grant on Jira.
    let jag = id_jag_from(&env.idp, &env, RES_B, "").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "gives alice@acme.test no tool of Jira",
    );
    // Someone not in the directory; then Alice deactivated over SCIM.
    env.idp
        .person(Person::new("nobody-sub", "nobody@elsewhere.test", &[]));
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "names nobody in the directory of the connection “Acme IdP”",
    );
    env.idp
        .person(Person::new("alice-sub", "alice@acme.test", &[]));
    set_active(&env.dir_base, &env.dir_token, &env.alice, false).await;
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "alice@acme.test is deactivated",
    );
    set_active(&env.dir_base, &env.dir_token, &env.alice, true).await;
    // The connection stops accepting them.
    let (s, body) = accept_id_jags(&env, false, true).await;
    assert_eq!(s, 200, "{body}");
    let jag = id_jag_from(&env.idp, &env, RES_A, "repo:read").await;
    refused(
        present(&env, &env.client_id, &jag, &[]).await,
        "no SSO connection accepts ID-JAGs",
    );
    assert_eq!(issued().await, 2, "no refusal issued a token");
    gw.shutdown().await;
    env.srv.stop().await;
    Ok(())
}

backend_tests!(id_jag_gets_a_token_the_gateway_enforces);
