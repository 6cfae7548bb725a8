//! Agents (issue #18): headless principals with credentials of their own.
//! An agent registered with `private_key_jwt` keys gets a token with the
//! `client_credentials` grant (real Ed25519 signatures) and calls a tool
//! through the reference gateway, which decides by the agent's own grants
//! (not Alice's, not `everyone`'s); the kill switch stops its tokens at the
//! console and at the gateway. The admin API registers a secret-based
//! agent, rotates its secret and flips the switch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::gateway::{
    allow, deploy, edge, next_revision, settled_revision, system, Deployed, Mcp, RES_A,
};
use crate::harness::*;
use crate::oauth::{claims_of, client_assertion, client_jwks, count_sql, post_form, token};
use portcullis_types::{AgentId, AgentInput, GrantSubject, GrantTarget};
use serde_json::{json, Value};
use std::time::Duration;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn key_agent(owner: &str) -> AgentInput {
    AgentInput {
        name: "Nightly triage".into(),
        description: "Labels new issues every night".into(),
        owner_kind: "user".into(),
        owner_id: owner.into(),
        credential: "jwks".into(),
        jwks: Some(client_jwks().to_string()),
        jwks_uri: None,
        expires_days: Some(90),
    }
}

/// A `client_credentials` request signed with the agent's key.
fn cc_form(
    agent: &str,
    aud: &str,
    jti: &str,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_assertion_type", ASSERTION_TYPE.to_owned()),
        ("client_assertion", client_assertion(agent, aud, jti)),
    ];
    f.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    f
}

/// Posts `form` to the token endpoint, asserts the refusal (`status`,
/// `error`) and returns its body.
async fn refused(
    env: &crate::oauth::Env,
    form: Vec<(&str, String)>,
    status: u16,
    error: &str,
) -> Value {
    let (s, e) = post_form(env, form).await;
    assert_eq!((s, e["error"].as_str()), (status, Some(error)), "{e}");
    e
}

async fn agent_gets_a_token_and_calls_through_the_gateway(db: &TestDb) -> TestResult {
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
    let made = svc.agents.create(&system(), &key_agent(&env.alice)).await?;
    assert!(made.client_secret.is_none(), "a key agent has no secret");
    let agent = made.agent.id.0.clone();
    assert!(agent.starts_with("agt_"), "{agent}");
    assert_eq!(made.agent.owner.display, "alice@acme.test");
    assert_eq!(
        made.agent.credential,
        portcullis_types::AgentCredentialKind::Jwks
    );
    // The agent's own grant, and an `everyone` grant that must not reach it.
    let mut own = allow(
        &agent,
        &server_id,
        GrantTarget::Tools {
            names: vec!["list_issues".into()],
        },
    );
    own.subject = GrantSubject::Agent { id: agent.clone() };
    svc.access.create_grant(&system(), &own).await?;
    let mut everyone = allow(
        &env.alice,
        &server_id,
        GrantTarget::Tools {
            names: vec!["search".into()],
        },
    );
    everyone.subject = GrantSubject::Everyone;
    svc.access.create_grant(&system(), &everyone).await?;
    // Its credential is not an OAuth client of the Clients page.
    let clients = svc.oauth.list_clients(&system(), "", "", 0, 50).await?;
    assert!(clients.clients.iter().all(|c| c.id.as_str() != agent));

    let (gw, _state) = edge(&env, &credential, &upstream.url).await?;
    let bundle = svc.publisher.latest().unwrap().bundle().unwrap();
    assert_eq!(
        serde_json::to_value(&bundle.agents)?,
        json!([{ "id": agent, "name": "Nightly triage", "active": true }])
    );
    // Its grant travels in agent_rules, apart from the people's rules.
    assert_eq!(bundle.agent_rules.len(), 1);
    assert_eq!(
        bundle.agent_rules[0].subject,
        portcullis_policy::Subject::Agent { id: agent.clone() }
    );
    assert!(bundle
        .rules
        .iter()
        .all(|r| !matches!(r.subject, portcullis_policy::Subject::Agent { .. })));

    let token_url = env.srv.url("/oauth/token");
    // Refusals first: no resource, a scope the server does not declare,
    // offline_access, another grant type, a replayed assertion.
    refused(
        &env,
        cc_form(&agent, &token_url, "j1", &[]),
        400,
        "invalid_target",
    )
    .await;
    refused(
        &env,
        cc_form(
            &agent,
            &token_url,
            "j2",
            &[("resource", RES_A), ("scope", "admin")],
        ),
        400,
        "invalid_scope",
    )
    .await;
    let e = refused(
        &env,
        cc_form(
            &agent,
            &token_url,
            "j3",
            &[("resource", RES_A), ("scope", "offline_access")],
        ),
        400,
        "invalid_scope",
    )
    .await;
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("no refresh token"));
    let mut code = cc_form(
        &agent,
        &token_url,
        "j4",
        &[("resource", RES_A), ("code", "x")],
    );
    code[0].1 = "authorization_code".into();
    refused(&env, code, 400, "unauthorized_client").await;
    // People's clients get no token without a person.
    let (s, e, _) = token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &env.client_id),
            ("resource", RES_A),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{e}"
    );

    // A good request: a token for the agent, without a refresh token.
    let form = cc_form(&agent, &token_url, "good", &[("resource", RES_A)]);
    let (s, tok) = post_form(&env, form.clone()).await;
    assert_eq!(s, 200, "{tok}");
    assert!(tok.get("refresh_token").is_none(), "{tok}");
    let at = tok["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&at);
    assert_eq!(claims["sub"], agent.as_str());
    assert_eq!(claims["client_id"], agent.as_str());
    assert_eq!(claims["aud"], RES_A);
    // The same assertion again: a replay.
    refused(&env, form, 401, "invalid_client").await;
    assert_eq!(
        count_sql(
            db,
            "SELECT COUNT(*) FROM agents WHERE last_token_at IS NOT NULL"
        )
        .await,
        1
    );

    // Through the gateway: exactly its own grant.
    let mcp_url = format!("http://{}/github", gw.addr);
    let mut bot = Mcp::new(mcp_url.clone(), Some(at.clone()));
    bot.initialize().await;
    assert_eq!(bot.tool_names().await, ["list_issues"]);
    assert_eq!(
        bot.call("list_issues").await.unwrap(),
        "called list_issues with {\"q\":\"secret-value\"}"
    );
    assert_eq!(
        bot.call("search").await.unwrap_err()["data"]["reason"],
        "no_grant"
    );

    // Introspection (gateways only) calls the token active.
    let gw_cred = svc
        .gateways
        .create(
            &system(),
            &portcullis_types::GatewayInput {
                name: "introspector".into(),
                description: String::new(),
                server_ids: vec![],
            },
        )
        .await?
        .token;
    let introspect = || {
        reqwest::Client::new()
            .post(env.srv.url("/oauth/introspect"))
            .bearer_auth(&gw_cred)
            .form(&[("token", at.as_str())])
            .send()
    };
    let i: Value = introspect().await?.json().await?;
    assert_eq!(
        (i["active"].as_bool(), i["sub"].as_str()),
        (Some(true), Some(agent.as_str())),
        "{i}"
    );

    // The kill switch: no token, introspection inactive, and the gateway
    // denies the token it already holds at the next revision.
    let before = settled_revision(&env).await;
    let off = svc
        .agents
        .set_enabled(
            &system(),
            &AgentId::from(agent.as_str()),
            false,
            Some("leaked key"),
        )
        .await?;
    assert_eq!(off.status, portcullis_types::AgentStatus::Disabled);
    assert_eq!(off.status_reason.as_deref(), Some("leaked key"));
    let e = refused(
        &env,
        cc_form(&agent, &token_url, "after", &[("resource", RES_A)]),
        401,
        "invalid_client",
    )
    .await;
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    let i: Value = introspect().await?.json().await?;
    assert_eq!(i, json!({ "active": false }));
    let killed_at = next_revision(&env, before).await;
    assert!(
        gw.wait_for_revision(killed_at, Duration::from_secs(2))
            .await
    );
    assert_eq!(
        bot.call("list_issues").await.unwrap_err()["data"]["reason"],
        "inactive_principal"
    );
    // Switched back on: its next token works again.
    svc.agents
        .set_enabled(&system(), &AgentId::from(agent.as_str()), true, None)
        .await?;
    let (s, tok) = post_form(
        &env,
        cc_form(&agent, &token_url, "again", &[("resource", RES_A)]),
    )
    .await;
    assert_eq!(s, 200, "{tok}");

    assert_eq!(
        audit_actions(&env.srv.db.url, "agent.").await,
        ["agent.created", "agent.disabled", "agent.enabled"]
    );
    let issued = audit_rows(&env.srv.db.url, "oauth.token.issued").await;
    let for_agent: Vec<_> = issued
        .iter()
        .filter(|r| r.3.as_deref() == Some("Nightly triage"))
        .collect();
    assert_eq!(
        for_agent.len(),
        2,
        "one audit row per token issued: {issued:?}"
    );
    gw.shutdown().await;
    env.srv.stop().await;
    Ok(())
}

/// The admin API: register a secret agent (secret shown once), use the
/// secret (HTTP Basic), rotate it (the old one stops), the kill switch
/// with `If-Match`, listing, and refusals with the field named.
async fn agents_over_the_admin_api(db: &TestDb) -> TestResult {
    let env = crate::oauth::setup_with(db, &[], &[]).await;
    let admin = api_key(&env.srv, "automation", "admin").await.secret;
    let auditor = api_key(&env.srv, "reviews", "auditor").await.secret;
    let http = reqwest::Client::new();
    let url = |p: &str| env.srv.url(&format!("/api/v1/admin{p}"));
    let body = json!({
        "name": "CI deployer",
        "owner_kind": "user",
        "owner_id": env.alice,
        "credential": "client_secret",
    });
    let res = http
        .post(url("/agents"))
        .bearer_auth(&auditor)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 403);
    let res = http
        .post(url("/agents"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str()?.to_owned();
    let made: Value = res.json().await?;
    let id = made["agent"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/agents/{id}"));
    assert_eq!(made["agent"]["status"], "active");
    assert_eq!(made["agent"]["credential"], "client_secret");
    let secret = made["client_secret"].as_str().unwrap().to_owned();

    // Refusals: the same name again (409), and every bad field named (422).
    let res = http
        .post(url("/agents"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 409);
    let bad =
        json!({ "name": "", "owner_kind": "robot", "owner_id": "", "credential": "password" });
    let res = http
        .post(url("/agents"))
        .bearer_auth(&admin)
        .json(&bad)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    let p: Value = res.json().await?;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["name", "owner_kind", "owner_id", "credential"],
        "{p}"
    );
    let ghost = json!({ "name": "Ghost", "owner_kind": "group", "owner_id": "grp_nope", "credential": "client_secret" });
    let res = http
        .post(url("/agents"))
        .bearer_auth(&admin)
        .json(&ghost)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await?["errors"][0]["field"], "owner_id");
    assert_eq!(
        count_sql(db, "SELECT COUNT(*) FROM agents").await,
        1,
        "nothing half-written"
    );

    // The secret works (Basic), for a catalog server.
    let basic = |s: &str| {
        http.post(env.srv.url("/oauth/token"))
            .basic_auth(&id, Some(s.to_owned()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", crate::oauth::RES_A),
            ])
            .send()
    };
    let res = basic(&secret).await?;
    assert_eq!(res.status(), 200);
    assert_eq!(
        claims_of(res.json::<Value>().await?["access_token"].as_str().unwrap())["sub"],
        id.as_str()
    );

    // Rotation: a new secret once; the old one is refused.
    let res = http
        .post(url(&format!("/agents/{id}/secret")))
        .bearer_auth(&admin)
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let rotated = res.json::<Value>().await?["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, secret);
    assert_eq!(basic(&secret).await?.status(), 401);
    assert_eq!(basic(&rotated).await?.status(), 200);

    // The kill switch over the API, guarded by If-Match.
    let res = http
        .get(url(&format!("/agents/{id}")))
        .bearer_auth(&admin)
        .send()
        .await?;
    let etag = res.headers()["etag"].to_str()?.to_owned();
    let res = http
        .patch(url(&format!("/agents/{id}")))
        .bearer_auth(&admin)
        .header("if-match", "\"stale\"")
        .json(&json!({ "status": "disabled" }))
        .send()
        .await?;
    assert_eq!(res.status(), 412);
    let res = http
        .patch(url(&format!("/agents/{id}")))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({ "status": "disabled", "reason": "incident 42" }))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await?;
    assert_eq!(
        (after["status"].as_str(), after["status_reason"].as_str()),
        (Some("disabled"), Some("incident 42"))
    );
    assert_eq!(basic(&rotated).await?.status(), 401);

    let res = http
        .get(url("/agents?q=deployer"))
        .bearer_auth(&auditor)
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await?;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["status"], "disabled");
    assert_eq!(
        audit_actions(&env.srv.db.url, "agent.").await,
        ["agent.created", "agent.secret_rotated", "agent.disabled"]
    );
    env.srv.stop().await;
    Ok(())
}

/// A second Ed25519 key (test only), for replacing the agent's keys.
const NEW_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEICV2H+lJn3og0CSVavz8cDX/7wici53of+C0S+Lu5Yjf\n-----END PRIVATE KEY-----\n";

/// A key agent's keys replaced over the admin API: assertions signed with
/// the old key are refused at once, the new key's work; a secret agent
/// has no keys to replace and bad keys are refused naming the field.
async fn agent_keys_are_replaced(db: &TestDb) -> TestResult {
    let env = crate::oauth::setup_with(db, &[], &[]).await;
    let svc = env.srv.running.services.clone();
    let admin = api_key(&env.srv, "automation", "admin").await.secret;
    let made = svc.agents.create(&system(), &key_agent(&env.alice)).await?;
    let id = made.agent.id.0.clone();
    let token_url = env.srv.url("/oauth/token");
    let (s, _) = post_form(&env, cc_form(&id, &token_url, "k1", &[("resource", RES_A)])).await;
    assert_eq!(s, 200);

    let enc = jsonwebtoken::EncodingKey::from_ed_pem(NEW_KEY_PEM.as_bytes()).unwrap();
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, jsonwebtoken::Algorithm::EdDSA).unwrap(),
    )?;
    jwk["kid"] = json!("k2");
    let http = reqwest::Client::new();
    let put = |body: Value| {
        http.put(env.srv.url(&format!("/api/v1/admin/agents/{id}/keys")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    // Private key material and an http URL are refused, naming the field.
    let mut private = json!({ "keys": [jwk.clone()] });
    private["keys"][0]["d"] = json!("c2VjcmV0");
    let res = put(json!({ "credential": "jwks", "jwks": private.to_string() })).await?;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await?["errors"][0]["field"], "jwks");
    let res =
        put(json!({ "credential": "jwks_uri", "jwks_uri": "http://keys.example/jwks" })).await?;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await?["errors"][0]["field"], "jwks_uri");
    let res =
        put(json!({ "credential": "jwks", "jwks": json!({ "keys": [jwk] }).to_string() })).await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await?["credential"], "jwks");

    // The old key no longer signs for the agent; the new one does.
    refused(
        &env,
        cc_form(&id, &token_url, "k2", &[("resource", RES_A)]),
        401,
        "invalid_client",
    )
    .await;
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some("k2".into());
    let assertion = jsonwebtoken::encode(
        &h,
        &json!({ "iss": id, "sub": id, "aud": token_url, "jti": "k3",
                 "exp": chrono::Utc::now().timestamp() + 60 }),
        &enc,
    )?;
    let (s, tok) = post_form(
        &env,
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion),
            ("resource", RES_A.to_owned()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tok}");

    // A secret agent has no keys to replace.
    let mut secret_agent = key_agent(&env.alice);
    secret_agent.name = "CI deployer".into();
    secret_agent.credential = "client_secret".into();
    let other = svc
        .agents
        .create(&system(), &secret_agent)
        .await?
        .agent
        .id
        .0;
    let res = http
        .put(env.srv.url(&format!("/api/v1/admin/agents/{other}/keys")))
        .bearer_auth(&admin)
        .json(&json!({ "credential": "jwks_uri", "jwks_uri": "https://keys.example/jwks" }))
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await?["errors"][0]["field"],
        "credential"
    );
    assert_eq!(
        audit_actions(&env.srv.db.url, "agent.").await,
        ["agent.created", "agent.keys_replaced", "agent.created"]
    );
    env.srv.stop().await;
    Ok(())
}

/// An agent past its expiry: no token, and the housekeeping pass lists it
/// inactive in a new policy revision (once), audited as `agent.expired`.
async fn expired_agents_are_retired_from_the_policy(db: &TestDb) -> TestResult {
    let env = crate::oauth::setup_with(db, &[], &[]).await;
    let svc = env.srv.running.services.clone();
    let mut input = key_agent(&env.alice);
    input.credential = "client_secret".into();
    input.jwks = None;
    let made = svc.agents.create(&system(), &input).await?;
    let id = made.agent.id.0.clone();
    let secret = made.client_secret.unwrap();
    assert_eq!(svc.agents.retire_expired().await?, 0, "nothing expired yet");
    crate::oauth::exec_sql(
        db,
        &format!("UPDATE agents SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = '{id}'"),
    )
    .await;
    // No token past the expiry.
    let res = reqwest::Client::new()
        .post(env.srv.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", crate::oauth::RES_A),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await?;
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        svc.agents
            .get(&system(), &AgentId::from(id.as_str()))
            .await?
            .status,
        portcullis_types::AgentStatus::Expired
    );
    // The housekeeping pass: a new revision lists it inactive; once.
    let before = crate::policy_api::head(&svc).await;
    assert_eq!(svc.agents.retire_expired().await?, 1);
    let after = crate::policy_api::head(&svc).await;
    assert_eq!(after, before + 1);
    crate::policy_api::published(&svc, after).await;
    let bundle = svc.publisher.latest().unwrap().bundle().unwrap();
    assert_eq!(
        serde_json::to_value(&bundle.agents)?,
        json!([{ "id": id, "name": "Nightly triage", "active": false }])
    );
    assert_eq!(svc.agents.retire_expired().await?, 0, "already retired");
    assert_eq!(crate::policy_api::head(&svc).await, after);
    assert_eq!(
        audit_actions(&env.srv.db.url, "agent.").await,
        ["agent.created", "agent.expired"]
    );
    env.srv.stop().await;
    Ok(())
}

backend_tests!(
    agent_gets_a_token_and_calls_through_the_gateway,
    agents_over_the_admin_api,
    expired_agents_are_retired_from_the_policy,
    agent_keys_are_replaced,
);
