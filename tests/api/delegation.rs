//! Delegation (issue #18, item 3): an agent holding a person's token
//! exchanges it (RFC 8693) for a token whose `act` names the agent, and the
//! reference gateway allows a call only when the person, the agent and the
//! delegation policy all allow it; chains of agents nest `act` up to the
//! depth limit. The console refuses the exchange without a delegation, for
//! an inactive agent, past the depth limit, and for an agent's own token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::gateway::{
    allow, deploy, edge, eventually, settled_revision, system, token_for, Deployed, Mcp, RES_A,
};
use crate::harness::*;
use crate::oauth::{claims_of, post_form, Env};
use portcullis_policy::MAX_DELEGATION_DEPTH;
use portcullis_types::{AgentId, AgentInput, DelegationInput, GrantSubject, GrantTarget};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Registers a secret-based agent granted `tools` of `server` (none when
/// empty); its id and secret.
async fn agent(env: &Env, name: &str, server: &str, tools: &[&str]) -> (String, String) {
    let svc = &env.srv.running.services;
    let made = svc
        .agents
        .create(
            &system(),
            &AgentInput {
                name: name.into(),
                description: String::new(),
                owner_kind: "user".into(),
                owner_id: env.alice.clone(),
                credential: "client_secret".into(),
                jwks: None,
                jwks_uri: None,
                expires_days: None,
            },
        )
        .await
        .unwrap();
    let id = made.agent.id.0.clone();
    if tools.is_empty() {
        return (id, made.client_secret.unwrap());
    }
    let mut grant = allow(
        &id,
        server,
        GrantTarget::Tools {
            names: tools.iter().map(|t| (*t).to_owned()).collect(),
        },
    );
    grant.subject = GrantSubject::Agent { id: id.clone() };
    svc.access.create_grant(&system(), &grant).await.unwrap();
    (id, made.client_secret.unwrap())
}

/// Agent `(id, secret)` exchanges `subject` for a delegated token.
async fn exchange(env: &Env, agent: &(String, String), subject: &str) -> (u16, Value) {
    post_form(
        env,
        vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("client_id", agent.0.clone()),
            ("client_secret", agent.1.clone()),
            ("subject_token", subject.to_owned()),
            ("subject_token_type", ACCESS_TOKEN.to_owned()),
        ],
    )
    .await
}

/// Makes the grant `input` exist (`want`) or not, `held` being its id
/// while it exists; its id afterwards.
async fn set_grant(
    svc: &portcullis_domain::Services,
    input: &portcullis_types::GrantInput,
    held: Option<portcullis_types::GrantId>,
    want: bool,
) -> Option<portcullis_types::GrantId> {
    match (want, held) {
        (true, None) => Some(svc.access.create_grant(&system(), input).await.unwrap().0),
        (false, Some(id)) => {
            svc.access.revoke_grant(&system(), &id).await.unwrap();
            None
        }
        (_, kept) => kept,
    }
}

#[track_caller]
fn refused(out: (u16, Value), error: &str, why: &str) {
    assert_eq!(
        (out.0, out.1["error"].as_str()),
        (400, Some(error)),
        "{why}: {}",
        out.1
    );
    let said = out.1["error_description"].as_str().unwrap_or_default();
    assert!(said.contains(why), "{why:?} not in {said:?}");
}

fn delegation_for(person: &str, server: &str) -> DelegationInput {
    DelegationInput {
        subject_kind: "user".into(),
        subject_id: Some(person.to_owned()),
        server_id: server.to_owned(),
        reason: "Alice's inbox assistant".into(),
    }
}

async fn delegated_tokens_need_the_person_the_agent_and_the_delegation(db: &TestDb) -> TestResult {
    // Alice may call search and list_issues.
    let Deployed {
        upstream,
        env,
        server_id,
        credential,
        ..
    } = deploy(
        db,
        GrantTarget::Tools {
            names: vec!["search".into(), "list_issues".into()],
        },
    )
    .await?;
    let svc = env.srv.running.services.clone();
    // The assistant may call search and delete_repo on its own.
    let bot = agent(
        &env,
        "Inbox assistant",
        &server_id,
        &["search", "delete_repo"],
    )
    .await;
    let bot_id = AgentId::from(bot.0.clone());
    let alice_token = token_for(&env, RES_A).await;

    // People's clients cannot exchange; an agent needs a delegation.
    let (s, e) = post_form(
        &env,
        vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("client_id", env.client_id.clone()),
            ("subject_token", alice_token.clone()),
            ("subject_token_type", ACCESS_TOKEN.to_owned()),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{e}"
    );
    refused(
        exchange(&env, &bot, &alice_token).await,
        "invalid_grant",
        "may not act for this person on GitHub: no delegation covers them",
    );
    // Bad input is named.
    let bad = svc
        .agents
        .delegate(
            &system(),
            &bot_id,
            &DelegationInput {
                subject_kind: "user".into(),
                subject_id: None,
                server_id: "srv_nope".into(),
                reason: String::new(),
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("subject_id") && bad.contains("server_id"),
        "{bad}"
    );

    let d = svc
        .agents
        .delegate(&system(), &bot_id, &delegation_for(&env.alice, &server_id))
        .await?;
    assert_eq!(d.subject_display, "alice@acme.test");
    assert_eq!(svc.agents.delegations(&system(), &bot_id).await?.len(), 1);
    settled_revision(&env).await;
    let bundle = svc.publisher.latest().unwrap().bundle().unwrap();
    assert_eq!(
        serde_json::to_value(&bundle.delegations)?,
        json!([{ "id": d.id, "agent": bot.0, "subject": { "kind": "user", "id": env.alice }, "server": server_id }])
    );

    let (s, tok) = exchange(&env, &bot, &alice_token).await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["issued_token_type"], ACCESS_TOKEN);
    assert!(tok.get("refresh_token").is_none(), "{tok}");
    let delegated = tok["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&delegated);
    assert_eq!(claims["sub"], env.alice.as_str());
    assert_eq!(claims["client_id"], bot.0.as_str());
    assert_eq!(claims["aud"], RES_A);
    assert_eq!(claims["act"], json!({ "sub": bot.0 }));
    assert!(claims["exp"].as_i64() <= claims_of(&alice_token)["exp"].as_i64());
    // An agent's own token is no subject; a scope beyond the subject's is refused.
    let (s, own) = post_form(
        &env,
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", bot.0.clone()),
            ("client_secret", bot.1.clone()),
            ("resource", RES_A.to_owned()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{own}");
    refused(
        exchange(&env, &bot, own["access_token"].as_str().unwrap()).await,
        "invalid_grant",
        "an agent's own token",
    );

    // Through the gateway: the person AND the agent AND the delegation.
    let (gw, _state) = edge(&env, &credential, &upstream.url).await?;
    let within = Duration::from_secs(10);
    let mut assistant = Mcp::new(
        format!("http://{}/github", gw.addr),
        Some(delegated.clone()),
    );
    assistant.initialize().await;
    assert_eq!(
        assistant.tool_names().await,
        ["search"],
        "both may call search only"
    );
    assert!(assistant.call("search").await.is_ok());
    // Alice may, the agent may not; the agent may, Alice may not.
    assert_eq!(
        assistant.call("list_issues").await.unwrap_err()["data"]["reason"],
        "agent_denied"
    );
    assert_eq!(
        assistant.call("delete_repo").await.unwrap_err()["data"]["reason"],
        "person_denied"
    );

    // A chain: a summariser acting for the assistant acting for Alice;
    // every agent needs its own delegation, and the chain has a limit.
    let mut chain = vec![bot.clone()];
    let mut token = delegated.clone();
    for i in 1..=MAX_DELEGATION_DEPTH {
        let next = agent(&env, &format!("Helper {i}"), &server_id, &["search"]).await;
        let next_id = AgentId::from(next.0.clone());
        if i < MAX_DELEGATION_DEPTH {
            refused(
                exchange(&env, &next, &token).await,
                "invalid_grant",
                "no delegation covers them",
            );
        }
        svc.agents
            .delegate(&system(), &next_id, &delegation_for(&env.alice, &server_id))
            .await?;
        let out = exchange(&env, &next, &token).await;
        if i == MAX_DELEGATION_DEPTH {
            refused(out, "invalid_grant", "limited to 3 agents");
            break;
        }
        assert_eq!(out.0, 200, "{}", out.1);
        token = out.1["access_token"].as_str().unwrap().to_owned();
        chain.insert(0, next);
    }
    let c = claims_of(&token);
    assert_eq!(c["act"]["sub"], chain[0].0.as_str());
    assert_eq!(c["act"]["act"]["sub"], chain[1].0.as_str());
    assert_eq!(c["act"]["act"]["act"]["sub"], chain[2].0.as_str());
    assert!(
        gw.wait_for_revision(settled_revision(&env).await, within)
            .await
    );
    let mut helper = Mcp::new(format!("http://{}/github", gw.addr), Some(token.clone()));
    helper.initialize().await;
    assert_eq!(helper.tool_names().await, ["search"]);
    assert!(helper.call("search").await.is_ok());

    // Removing the assistant's delegation: the next revision refuses its
    // delegated calls and every chain through it; no new exchange.
    svc.agents.undelegate(&system(), &bot_id, &d.id).await?;
    assert!(
        gw.wait_for_revision(settled_revision(&env).await, within)
            .await
    );
    assert_eq!(
        assistant.call("search").await.unwrap_err()["data"]["reason"],
        "not_delegated"
    );
    assert_eq!(
        helper.call("search").await.unwrap_err()["data"]["reason"],
        "not_delegated"
    );
    refused(
        exchange(&env, &bot, &alice_token).await,
        "invalid_grant",
        "no delegation covers them",
    );
    // Introspection says whether the token is live (the delegation is the
    // gateway's decision, above) and names the whole chain (RFC 8693 §4.1)…
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
    let introspect = || async {
        reqwest::Client::new()
            .post(env.srv.url("/oauth/introspect"))
            .bearer_auth(&gw_cred)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let live = introspect().await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["act"], c["act"], "{live}");
    // …and the kill switch of an agent in a chain ends its delegated tokens
    // at introspection too.
    svc.agents
        .set_enabled(
            &system(),
            &AgentId::from(chain[0].0.clone()),
            false,
            Some("test"),
        )
        .await?;
    let i = introspect().await;
    assert_eq!(i["active"], false, "{i}");
    assert!(
        i.get("act").is_none(),
        "an inactive answer says nothing more: {i}"
    );

    // The audit log: each issuance with its chain, each gateway decision
    // with the agents that made it.
    let issued = audit_text(&env.srv.db.url).await;
    assert!(
        issued.contains(&format!("\"act\":[\"{}\"]", bot.0)),
        "{issued}"
    );
    let decided = 6; // tools/call requests above that reached a decision
    eventually("decisions in the audit log", || async {
        audit_rows(&env.srv.db.url, "gateway.decision").await.len() >= decided
    })
    .await;
    let text = audit_text(&env.srv.db.url).await;
    assert!(
        text.contains(&format!(
            "\"act\":[\"{}\",\"{}\",\"{}\"]",
            chain[0].0, chain[1].0, chain[2].0
        )),
        "the whole chain is recorded: {text}"
    );
    assert_eq!(
        audit_rows(&env.srv.db.url, "agent.delegation.").await.len(),
        MAX_DELEGATION_DEPTH + 2,
        "created for each agent, removed once"
    );
    gw.shutdown().await;
    env.srv.stop().await;
    Ok(())
}

/// Every combination of the three, through the gateway with real tokens:
/// the person's grant on `list_issues`, the agent's, and the delegation are
/// each present or not; the delegated call is allowed only with all three,
/// and a refusal names the first that is missing.
async fn every_combination_of_person_agent_and_delegation(db: &TestDb) -> TestResult {
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
    let bot = agent(&env, "Inbox assistant", &server_id, &["search"]).await;
    let bot_id = AgentId::from(bot.0.clone());
    let tool = || GrantTarget::Tools {
        names: vec!["list_issues".into()],
    };
    let person_grant = allow(&env.alice, &server_id, tool());
    let mut agent_grant = allow(&bot.0, &server_id, tool());
    agent_grant.subject = GrantSubject::Agent { id: bot.0.clone() };
    let (mut person, mut agent_g) = (None, None);
    let mut delegation = Some(
        svc.agents
            .delegate(&system(), &bot_id, &delegation_for(&env.alice, &server_id))
            .await?
            .id,
    );
    let alice_token = token_for(&env, RES_A).await;
    let (s, tok) = exchange(&env, &bot, &alice_token).await;
    assert_eq!(s, 200, "{tok}");
    let (gw, _state) = edge(&env, &credential, &upstream.url).await?;
    let mut assistant = Mcp::new(
        format!("http://{}/github", gw.addr),
        Some(tok["access_token"].as_str().unwrap().to_owned()),
    );
    assistant.initialize().await;
    let mut decided = 0;
    for p in [false, true] {
        for a in [false, true] {
            for d in [false, true] {
                person = set_grant(&svc, &person_grant, person, p).await;
                agent_g = set_grant(&svc, &agent_grant, agent_g, a).await;
                match (d, delegation.take()) {
                    (true, None) => {
                        delegation = Some(
                            svc.agents
                                .delegate(
                                    &system(),
                                    &bot_id,
                                    &delegation_for(&env.alice, &server_id),
                                )
                                .await?
                                .id,
                        )
                    }
                    (false, Some(id)) => svc.agents.undelegate(&system(), &bot_id, &id).await?,
                    (_, kept) => delegation = kept,
                }
                assert!(
                    gw.wait_for_revision(settled_revision(&env).await, Duration::from_secs(10))
                        .await
                );
                let case = format!("person {p}, agent {a}, delegation {d}");
                let out = assistant.call("list_issues").await;
                decided += 1;
                match (p, a, d) {
                    (true, true, true) => assert!(out.is_ok(), "{case}: {out:?}"),
                    _ => {
                        let want = if !p {
                            "person_denied"
                        } else if !a {
                            "agent_denied"
                        } else {
                            "not_delegated"
                        };
                        assert_eq!(out.unwrap_err()["data"]["reason"], want, "{case}");
                    }
                }
                let listed = assistant.tool_names().await;
                assert_eq!(
                    listed.iter().any(|t| t == "list_issues"),
                    p && a && d,
                    "{case}: tools/list {listed:?}"
                );
            }
        }
    }
    eventually("decisions in the audit log", || async {
        audit_rows(&env.srv.db.url, "gateway.decision").await.len() >= decided
    })
    .await;
    gw.shutdown().await;
    env.srv.stop().await;
    Ok(())
}

/// The delegations of the admin API: create (201 with Location), list,
/// a duplicate (409), bad input naming its fields (422), an auditor
/// refused (403), delete (204, then 404).
async fn delegations_over_the_admin_api(db: &TestDb) -> TestResult {
    let env = crate::oauth::setup_with(db, &[], &[]).await;
    let svc = env.srv.running.services.clone();
    let admin = api_key(&env.srv, "automation", "admin").await.secret;
    let auditor = api_key(&env.srv, "reviews", "auditor").await.secret;
    let server = svc
        .catalog
        .list_servers(&system(), "github", 0, 50)
        .await?
        .items
        .into_iter()
        .find(|s| s.slug == "github")
        .unwrap()
        .id;
    let (bot, _) = agent(&env, "Inbox assistant", &server, &[]).await;
    let http = reqwest::Client::new();
    let url = |p: &str| {
        env.srv
            .url(&format!("/api/v1/admin/agents/{bot}/delegations{p}"))
    };
    let body = json!({ "subject_kind": "group", "subject_id": null, "server_id": server, "reason": "pilot" });
    let res = http
        .post(url(""))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await?;
    assert!(problem.to_string().contains("subject_id"), "{problem}");
    let body = json!({ "subject_kind": "everyone", "server_id": server, "reason": "pilot" });
    let res = http
        .post(url(""))
        .bearer_auth(&auditor)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 403);
    let res = http
        .post(url(""))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str()?.to_owned();
    let made: Value = res.json().await?;
    assert_eq!(
        (
            made["subject_display"].as_str(),
            made["server_name"].as_str()
        ),
        (Some("Everyone"), Some("GitHub"))
    );
    assert!(
        location.ends_with(made["id"].as_str().unwrap()),
        "{location}"
    );
    let res = http
        .post(url(""))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await?;
    assert_eq!(res.status(), 409);
    let list: Value = http
        .get(url(""))
        .bearer_auth(&auditor)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let one = format!("/{}", made["id"].as_str().unwrap());
    assert_eq!(
        http.delete(url(&one))
            .bearer_auth(&auditor)
            .send()
            .await?
            .status(),
        403
    );
    assert_eq!(
        http.delete(url(&one))
            .bearer_auth(&admin)
            .send()
            .await?
            .status(),
        204
    );
    assert_eq!(
        http.delete(url(&one))
            .bearer_auth(&admin)
            .send()
            .await?
            .status(),
        404
    );
    let list: Value = http
        .get(url(""))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list, json!([]));
    assert_eq!(
        audit_actions(&env.srv.db.url, "agent.delegation.").await,
        ["agent.delegation.created", "agent.delegation.removed"]
    );
    env.srv.stop().await;
    Ok(())
}

backend_tests!(
    delegations_over_the_admin_api,
    delegated_tokens_need_the_person_the_agent_and_the_delegation,
    every_combination_of_person_agent_and_delegation,
);
