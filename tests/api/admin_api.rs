//! The admin REST API over real HTTP with API keys, on both backends: the
//! 401s (no key, unknown, revoked, expired), an auditor key refused every
//! change with nothing changed, `Idempotency-Key` creating once,
//! `If-Match` refusing a lost update, validation naming the field, the
//! onboarding flow (register, grant a group, simulate, roll back), the
//! audit trail naming the key, and the OpenAPI document.

use crate::access::{directory, scim_group, scim_user};
use crate::harness::{
    audit_count, audit_rows, audit_text, backend_tests, TestDb, TestResult, TestServer,
};
use portcullis_domain::Actor;
use portcullis_types::{ApiKeyInput, NewApiKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/v1/admin";

struct Api {
    srv: TestServer,
    http: reqwest::Client,
}

impl Api {
    async fn key(&self, name: &str, role: &str) -> NewApiKey {
        crate::harness::api_key(&self.srv, name, role).await
    }

    /// The status of `GET path` (outside the admin API) with `token` as bearer.
    async fn status_with(&self, path: &str, token: String) -> u16 {
        self.http
            .get(self.srv.url(path))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// `method path` with `key`, an optional JSON body and extra headers:
    /// (status, headers, body).
    async fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method.clone(), self.srv.url(&format!("{API}{path}")));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }
}

fn github() -> Value {
    json!({
        "name": "GitHub",
        "slug": "github",
        "resource_url": "https://mcp.example.com/github",
        "description": "Code hosting",
        "tags": ["dev", "scm"],
    })
}

async fn api_on(db: &TestDb) -> Api {
    Api {
        srv: TestServer::start_on(db.alias(), &[]).await,
        http: reqwest::Client::new(),
    }
}

/// Without a usable key nothing is served: 401 with a challenge, for a
/// missing, unknown, revoked and expired key alike.
async fn admin_api_refuses_missing_revoked_and_expired_keys(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let (status, headers, body) = api.send(None, Method::GET, "/servers", None, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"portcullis-admin\""
    );
    let unknown = format!("pck_{}", "A".repeat(43));
    let (status, _, body) = api
        .send(Some(&unknown), Method::GET, "/servers", None, &[])
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("unauthenticated"))
    );

    let key = api.key("ci", "admin").await;
    let (status, _, _) = api
        .send(Some(&key.secret), Method::GET, "/servers", None, &[])
        .await;
    assert_eq!(status, 200);
    let svc = &api.srv.running.services;
    svc.api_keys
        .revoke(&Actor::system("test"), &key.key.id)
        .await?;
    let (status, _, body) = api
        .send(Some(&key.secret), Method::GET, "/servers", None, &[])
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("revoked"));
    let listed = svc
        .api_keys
        .get(&Actor::system("test"), &key.key.id)
        .await?;
    assert_eq!(listed.status, portcullis_types::ApiKeyStatus::Revoked);

    let soon = api.key("short-lived", "admin").await;
    let (status, _, _) = api
        .send(Some(&soon.secret), Method::GET, "/people", None, &[])
        .await;
    assert_eq!(status, 200);
    // Make it expire a second ago, directly in the database.
    let pool = portcullis_domain::Db::connect(&db.url, &Default::default()).await?;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let q = "UPDATE api_keys SET expires_at = $1 WHERE id = $2";
    use portcullis_domain::db::{exec_dyn, Arg};
    let args = [Arg::Time(past), Arg::Text(soon.key.id.as_str().to_owned())];
    exec_dyn(pool.write(), q, &args).await?;
    pool.close().await;
    let (status, _, _) = api
        .send(Some(&soon.secret), Method::GET, "/people", None, &[])
        .await;
    assert_eq!(status, 401);
    // The owner role is never given to a key, and a key cannot make keys.
    let refused = svc
        .api_keys
        .create(
            &Actor::system("test"),
            &ApiKeyInput {
                name: "root".into(),
                role: "owner".into(),
                expires_days: None,
            },
        )
        .await;
    assert!(
        matches!(refused, Err(portcullis_domain::Error::Invalid(ref f)) if f[0].field == "role")
    );
    let as_key = Actor::api_key(
        &"key_x".into(),
        "ci",
        portcullis_types::Role::Admin,
        Default::default(),
    );
    let refused = svc
        .api_keys
        .create(
            &as_key,
            &ApiKeyInput {
                name: "second".into(),
                role: "admin".into(),
                expires_days: None,
            },
        )
        .await;
    assert!(matches!(
        refused,
        Err(portcullis_domain::Error::Forbidden(_))
    ));
    api.srv.stop().await;
    Ok(())
}

/// An auditor key reads everything and gets 403 on every change, with
/// nothing changed (no row, no revision, no audited change).
async fn admin_api_auditor_key_changes_nothing(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let admin = api.key("terraform", "admin").await;
    let auditor = api.key("siem", "auditor").await;
    let (status, _, server) = api
        .send(
            Some(&admin.secret),
            Method::POST,
            "/servers",
            Some(&github()),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{server}");
    let id = server["id"].as_str().unwrap_or_default().to_owned();
    let svc = &api.srv.running.services;
    let okta = directory(svc).await;
    let ada = scim_user(svc, &okta, "ada@corp.example").await;
    let eng = scim_group(svc, &okta, "Engineering", &[&ada]).await;
    let grant = json!({"subject": {"kind": "group", "id": eng}, "server_id": id,
        "target": {"kind": "server"}, "effect": "allow", "reason": "on-call"});
    let (status, _, made) = api
        .send(
            Some(&admin.secret),
            Method::POST,
            "/grants",
            Some(&grant),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let grant_id = made["grant"]["id"].as_str().unwrap_or_default().to_owned();
    let dir_id = okta.id.clone().unwrap_or_default();
    let token_id = svc
        .directory
        .get_directory(&Actor::system("test"), &dir_id.as_str().into())
        .await?
        .tokens[0]
        .id
        .clone();
    let client_id = svc
        .oauth
        .create_client(
            &Actor::system("test"),
            &portcullis_domain::oauth::model::CreateClient {
                name: "Claude Desktop".into(),
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                confidential: false,
                keys: None,
            },
        )
        .await?
        .client_id;
    let changes_before = audit_rows(&db.url, "")
        .await
        .into_iter()
        .filter(|r| r.1 != "api.call")
        .count();
    let head_before = svc.access.current().await?.revision;

    let mutations: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/servers".into(),
            Some(
                json!({"name": "Jira", "slug": "jira", "resource_url": "https://mcp.example.com/jira"}),
            ),
        ),
        (
            Method::PATCH,
            format!("/servers/{id}"),
            Some(json!({"enabled": false})),
        ),
        (
            Method::POST,
            format!("/servers/{id}/discovery"),
            Some(json!({})),
        ),
        (Method::POST, "/tools/tool_missing/approval".into(), None),
        (
            Method::PUT,
            "/tools/tool_missing/annotations".into(),
            Some(json!({"read_only": true})),
        ),
        (Method::POST, "/grants".into(), Some(grant.clone())),
        (Method::DELETE, format!("/grants/{grant_id}"), None),
        (Method::POST, "/revisions/1/rollback".into(), None),
        (
            Method::PATCH,
            format!("/grants/{grant_id}"),
            Some(json!({"reason": "changed"})),
        ),
        (
            Method::POST,
            "/directories".into(),
            Some(json!({"name": "Entra ID"})),
        ),
        (
            Method::POST,
            format!("/directories/{dir_id}/tokens"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/directories/{dir_id}/tokens/{token_id}"),
            None,
        ),
        (
            Method::POST,
            "/gateways".into(),
            Some(json!({"name": "edge-eu-1"})),
        ),
        (Method::POST, "/gateways/gw_missing/credential".into(), None),
        (Method::DELETE, "/gateways/gw_missing".into(), None),
        (
            Method::PATCH,
            format!("/clients/{client_id}"),
            Some(json!({"status": "blocked"})),
        ),
    ];
    for (method, path, body) in &mutations {
        let (status, _, answer) = api
            .send(
                Some(&auditor.secret),
                method.clone(),
                path,
                body.as_ref(),
                &[],
            )
            .await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "forbidden", "{method} {path}");
    }
    // Reads work.
    for path in [
        "/servers",
        &format!("/servers/{id}"),
        "/grants",
        "/revisions",
        "/people",
        "/groups",
        "/audit/events",
        "/gateways",
        "/api-keys",
    ] {
        let (status, _, body) = api
            .send(Some(&auditor.secret), Method::GET, path, None, &[])
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    // Any key may list the console admins (access reviews); only the
    // console's owners manage them.
    svc.console
        .create_owner(&Actor::system("test"), "root@corp.example", "Root")
        .await?;
    let (status, _, admins) = api
        .send(
            Some(&auditor.secret),
            Method::GET,
            "/admins?q=root",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{admins}");
    assert_eq!(admins["total"], 1, "{admins}");
    assert_eq!(admins["items"][0]["email"], "root@corp.example");
    assert_eq!(admins["items"][0]["role"], "owner");
    let changes_before = changes_before + 1; // the owner created above
    let rows = audit_rows(&db.url, "").await;
    let changes_after = rows.iter().filter(|r| r.1 != "api.call").count();
    assert_eq!(
        changes_after, changes_before,
        "an auditor's call changed something"
    );
    assert_eq!(svc.access.current().await?.revision, head_before);
    let server_now = svc
        .catalog
        .server(&Actor::system("test"), &id.as_str().into())
        .await?;
    assert!(server_now.enabled);
    // Every refused call is on record with the key as actor.
    let denied: Vec<_> = rows
        .iter()
        .filter(|r| r.1 == "api.call" && r.2 == "API key siem" && r.4 == "denied")
        .collect();
    assert_eq!(denied.len(), mutations.len());
    api.srv.stop().await;
    Ok(())
}

/// `Idempotency-Key` creates once and replays the answer; the same key
/// with another body is refused naming the header; `If-Match` with a stale
/// tag is 412 and changes nothing; bad input names its field.
async fn admin_api_idempotency_etags_and_validation(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let key = api.key("terraform", "admin").await;
    let k = Some(key.secret.as_str());
    let idem = [("Idempotency-Key", "5d1b0c55-onboard-github")];
    let (s1, h1, first) = api
        .send(k, Method::POST, "/servers", Some(&github()), &idem)
        .await;
    let (s2, h2, second) = api
        .send(k, Method::POST, "/servers", Some(&github()), &idem)
        .await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (201, 201), "{first} {second}");
    assert_eq!(first, second);
    assert_eq!(h1["location"], h2["location"]);
    assert!(h1.get("idempotent-replayed").is_none());
    assert_eq!(h2["idempotent-replayed"], "true");
    let svc = &api.srv.running.services;
    let servers = svc
        .catalog
        .list_servers(&Actor::system("test"), "", 0, 50)
        .await?;
    assert_eq!(servers.total, 1, "the retry created a second server");
    assert_eq!(audit_rows(&db.url, "catalog.server.created").await.len(), 1);
    let mut other = github();
    other["slug"] = json!("github-2");
    let (status, _, body) = api
        .send(k, Method::POST, "/servers", Some(&other), &idem)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "Idempotency-Key");

    // ETag and If-Match.
    let id = first["id"].as_str().unwrap_or_default().to_owned();
    let (status, headers, _) = api
        .send(k, Method::GET, &format!("/servers/{id}"), None, &[])
        .await;
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str()?.to_owned();
    let rename = json!({"name": "GitHub Enterprise"});
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &format!("/servers/{id}"),
            Some(&rename),
            &[("If-Match", "\"0000\"")],
        )
        .await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["code"], "precondition_failed");
    assert_eq!(
        svc.catalog
            .server(&Actor::system("test"), &id.as_str().into())
            .await?
            .name,
        "GitHub"
    );
    let (status, headers, body) = api
        .send(
            k,
            Method::PATCH,
            &format!("/servers/{id}"),
            Some(&rename),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "GitHub Enterprise");
    assert_ne!(headers["etag"].to_str()?, etag);
    // The old tag is stale now.
    let (status, _, _) = api
        .send(
            k,
            Method::PATCH,
            &format!("/servers/{id}"),
            Some(&json!({"enabled": false})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 412);
    assert!(
        svc.catalog
            .server(&Actor::system("test"), &id.as_str().into())
            .await?
            .enabled
    );

    // Validation names the field: a rule broken (422), a body of the wrong
    // shape (400), no JSON (415), a bad query (400).
    let (status, _, body) = api
        .send(
            k,
            Method::POST,
            "/servers",
            Some(&json!({"name": "", "slug": "Bad Slug", "resource_url": "ftp://x"})),
            &[],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&"name") && fields.contains(&"slug"),
        "{body}"
    );
    let (status, _, body) = api
        .send(
            k,
            Method::POST,
            "/servers",
            Some(&json!({"name": "x", "slug": 5, "resource_url": "https://x"})),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "slug");
    let res = api
        .http
        .post(api.srv.url(&format!("{API}/servers")))
        .bearer_auth(&key.secret)
        .body("name=x")
        .send()
        .await?;
    assert_eq!(res.status(), 415);
    let (status, _, body) = api
        .send(k, Method::GET, "/servers?limit=0", None, &[])
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, _, body) = api
        .send(k, Method::GET, "/servers?cursor=nope", None, &[])
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("cursor"))
    );
    let (status, _, body) = api.send(k, Method::GET, "/nothing-here", None, &[]).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(servers.items.len(), 1);
    api.srv.stop().await;
    Ok(())
}

/// The onboarding flow of the shell script, over the API: register a
/// server and add a tool, grant a group, simulate the three questions,
/// roll back, and see the person lose access; cursors page through.
async fn admin_api_onboard_grant_simulate_roll_back(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let key = api.key("runbook", "admin").await;
    let k = Some(key.secret.as_str());
    let svc = &api.srv.running.services;
    let okta = directory(svc).await;
    let ada = scim_user(svc, &okta, "ada@corp.example").await;
    let _bob = scim_user(svc, &okta, "bob@corp.example").await;
    let eng = scim_group(svc, &okta, "Engineering", &[&ada]).await;
    let (status, _, server) = api
        .send(k, Method::POST, "/servers", Some(&github()), &[])
        .await;
    assert_eq!(status, 201, "{server}");
    let id = server["id"].as_str().unwrap_or_default().to_owned();
    svc.catalog
        .add_tool(
            &Actor::system("test"),
            &id.as_str().into(),
            &portcullis_types::ManualToolInput {
                name: "search_code".into(),
                title: String::new(),
                description: "Search code".into(),
                input_schema: String::new(),
                hints: portcullis_types::ToolHints {
                    read_only: Some(true),
                    ..Default::default()
                },
            },
        )
        .await?;
    let (status, _, revisions) = api
        .send(k, Method::GET, "/revisions?limit=1", None, &[])
        .await;
    assert_eq!(status, 200);
    let before = revisions["items"][0]["number"].as_i64().unwrap_or_default();
    let grant = json!({"subject": {"kind": "group", "id": eng}, "server_id": id,
        "target": {"kind": "server"}, "effect": "allow", "reason": "onboarding"});
    let (status, headers, made) = api
        .send(k, Method::POST, "/grants", Some(&grant), &[])
        .await;
    assert_eq!(status, 201, "{made}");
    let grant_id = made["grant"]["id"].as_str().unwrap_or_default();
    assert_eq!(
        headers["location"].to_str()?,
        format!("{API}/grants/{grant_id}")
    );
    assert_eq!(made["grant"]["subject_display"], "Engineering");
    assert!(made["revision"].as_i64().unwrap_or_default() > before);

    let can = |who: &'static str| {
        format!("/simulate/can-call?person={who}&server=github&tool=search_code")
    };
    let (status, _, answer) = api
        .send(k, Method::GET, &can("ada@corp.example"), None, &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["allowed"], true);
    assert_eq!(answer["rules"][0]["via"]["name"], "Engineering");
    let (_, _, answer) = api
        .send(k, Method::GET, &can("bob@corp.example"), None, &[])
        .await;
    assert_eq!(
        (answer["allowed"].as_bool(), answer["reason"].as_str()),
        (Some(false), Some("no_grant"))
    );
    let (status, _, answer) = api
        .send(k, Method::GET, &can("nobody@corp.example"), None, &[])
        .await;
    assert_eq!(
        (status.as_u16(), answer["field"].as_str()),
        (422, Some("person"))
    );
    let (_, _, who) = api
        .send(
            k,
            Method::GET,
            "/simulate/who-can-call?server=github&tool=search_code",
            None,
            &[],
        )
        .await;
    assert_eq!(who["total"], 1, "{who}");
    assert_eq!(who["items"][0]["email"], "ada@corp.example");
    // With how the deciding grant reached them, and searchable.
    assert_eq!(who["items"][0]["via"]["kind"], "group", "{who}");
    assert_eq!(who["items"][0]["via"]["name"], "Engineering");
    assert_eq!(who["items"][0]["grant_id"], grant_id);
    let (_, _, none) = api
        .send(
            k,
            Method::GET,
            "/simulate/who-can-call?server=github&tool=search_code&q=bob",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (
            none["total"].as_i64(),
            none["items"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0)),
        "{none}"
    );
    let (_, _, what) = api
        .send(
            k,
            Method::GET,
            "/simulate/what-can-call?person=ada@corp.example",
            None,
            &[],
        )
        .await;
    assert_eq!(what[0]["tool"], "search_code", "{what}");
    assert_eq!(what[0]["allowed"], true);

    let (status, _, rolled) = api
        .send(
            k,
            Method::POST,
            &format!("/revisions/{before}/rollback"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 201, "{rolled}");
    let (_, _, answer) = api
        .send(k, Method::GET, &can("ada@corp.example"), None, &[])
        .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let (status, _, _) = api
        .send(k, Method::GET, &format!("/grants/{grant_id}"), None, &[])
        .await;
    assert_eq!(status, 404);
    let head = rolled["revision"].as_i64().unwrap_or_default();
    let (status, _, diff) = api
        .send(
            k,
            Method::GET,
            &format!("/revisions/{head}/diff"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["grants_removed"][0]["id"], grant_id);

    // Cursor pagination walks every revision once.
    let mut seen = Vec::new();
    let mut path = "/revisions?limit=2".to_owned();
    loop {
        let (status, _, page) = api.send(k, Method::GET, &path, None, &[]).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["number"].as_i64()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/revisions?limit=2&cursor={c}"),
            None => break,
        }
    }
    let total = svc
        .access
        .revisions(&Actor::system("test"), 0, 200)
        .await?
        .total;
    assert_eq!(seen.len() as i64, total);
    seen.dedup();
    assert_eq!(seen.len() as i64, total);

    // The changes are audited with the key as actor; reads as api.call.
    let rows = audit_rows(&db.url, "").await;
    let by_key = |action: &str| {
        rows.iter()
            .filter(|r| r.1 == action && r.2 == "API key runbook")
            .count()
    };
    assert_eq!(by_key("catalog.server.created"), 1);
    assert_eq!(by_key("access.grant.created"), 1);
    assert_eq!(by_key("access.policy.rolled_back"), 1);
    assert!(by_key("api.call") >= 8);
    assert!(audit_count(&db.url).await > 10);
    let listed = svc
        .api_keys
        .get(&Actor::system("test"), &key.key.id)
        .await?;
    assert!(listed.last_used_at.is_some());
    assert_eq!(listed.last_used_ip.as_deref(), Some("127.0.0.1"));
    api.srv.stop().await;
    Ok(())
}

/// Grants change expiry and reason under `If-Match`; directories are
/// created and their tokens rotated and revoked (the SCIM endpoint agrees);
/// SSO connections read; a gateway registered, its credential rotated and
/// revoked (the policy API agrees); an OAuth client is blocked.
async fn admin_api_grants_directories_gateways_and_clients(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let key = api.key("soar", "admin").await;
    let k = Some(key.secret.as_str());
    let svc = &api.srv.running.services;
    let okta = directory(svc).await;
    let ada = scim_user(svc, &okta, "ada@corp.example").await;
    let (_, _, server) = api
        .send(k, Method::POST, "/servers", Some(&github()), &[])
        .await;
    let grant = json!({"subject": {"kind": "user", "id": ada}, "server_id": server["id"],
        "target": {"kind": "server"}, "effect": "allow", "reason": "incident 42"});
    let (status, _, made) = api
        .send(k, Method::POST, "/grants", Some(&grant), &[])
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["grant"]["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/grants/{id}");
    let (_, headers, _) = api.send(k, Method::GET, &path, None, &[]).await;
    let etag = headers["etag"].to_str()?.to_owned();
    let until = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let change = json!({"expires_at": until, "reason": "incident 42, until the fix ships"});
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&change),
            &[("If-Match", "\"stale\"")],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (412, Some("If-Match"))
    );
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&change),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["grant"]["expires_at"], until);
    assert_eq!(body["grant"]["reason"], "incident 42, until the fix ships");
    assert!(
        body["revision"].as_i64().unwrap_or_default()
            > made["revision"].as_i64().unwrap_or_default()
    );
    assert_eq!(audit_rows(&db.url, "access.grant.updated").await.len(), 1);
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&json!({"expires_at": "2001-01-01T00:00:00Z"})),
            &[],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("expires_at"))
    );
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&json!({"expires_at": null})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["grant"]["expires_at"].is_null());
    assert_eq!(body["grant"]["reason"], "incident 42, until the fix ships");
    let (status, _, body) = api
        .send(k, Method::PATCH, &path, Some(&json!({"subject": "x"})), &[])
        .await;
    assert_eq!(status, 400, "{body}");

    // Directories and their tokens, checked against the SCIM endpoint.
    let scim = |token: String| api.status_with("/scim/v2/Users", token);
    let (status, headers, made) = api
        .send(
            k,
            Method::POST,
            "/directories",
            Some(&json!({"name": "Entra ID"})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let dir = made["directory_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        headers["location"].to_str()?,
        format!("{API}/directories/{dir}")
    );
    assert_eq!(made["base_url"], api.srv.url("/scim/v2"));
    let first = made["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(scim(first.clone()).await, 200);
    let (status, _, rotated) = api
        .send(
            k,
            Method::POST,
            &format!("/directories/{dir}/tokens"),
            Some(&json!({"overlap_hours": 0})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let second = rotated["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!((scim(first).await, scim(second.clone()).await), (401, 200));
    let (_, _, detail) = api
        .send(k, Method::GET, &format!("/directories/{dir}"), None, &[])
        .await;
    let tokens = detail["tokens"].as_array().cloned().unwrap_or_default();
    let newest = tokens
        .iter()
        .find(|t| second.ends_with(t["hint"].as_str().unwrap_or("-")))
        .cloned()
        .unwrap_or_default();
    let token_id = newest["id"].as_str().unwrap_or_default();
    let (status, _, _) = api
        .send(
            k,
            Method::DELETE,
            &format!("/directories/{dir}/tokens/{token_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(scim(second).await, 401);
    let (status, _, _) = api
        .send(
            k,
            Method::DELETE,
            &format!("/directories/{dir}/tokens/{token_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 404);
    assert!(!audit_text(&db.url)
        .await
        .contains(&made["token"].as_str().unwrap_or("none")[..20]));

    let (status, _, sso) = api
        .send(k, Method::GET, "/sso-connections", None, &[])
        .await;
    assert_eq!(status, 200, "{sso}");
    assert_eq!(sso["connections"], json!([]));

    // A gateway: its credential works at the policy API until replaced or revoked.
    let policy = |token: String| api.status_with("/api/v1/policy", token);
    let (status, _, gw) = api
        .send(
            k,
            Method::POST,
            "/gateways",
            Some(&json!({"name": "edge-eu-1", "server_ids": [server["id"]]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{gw}");
    let gw_id = gw["id"].as_str().unwrap_or_default().to_owned();
    let first = gw["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(policy(first.clone()).await, 200);
    let (status, _, rotated) = api
        .send(
            k,
            Method::POST,
            &format!("/gateways/{gw_id}/credential"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let second = rotated["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        (policy(first).await, policy(second.clone()).await),
        (401, 200)
    );
    let (status, _, _) = api
        .send(k, Method::DELETE, &format!("/gateways/{gw_id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    assert_eq!(policy(second).await, 401);
    let (status, _, body) = api
        .send(
            k,
            Method::POST,
            "/gateways",
            Some(&json!({"name": ""})),
            &[],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("name"))
    );

    // An OAuth client blocked.
    let made = svc
        .oauth
        .create_client(
            &Actor::system("test"),
            &portcullis_domain::oauth::model::CreateClient {
                name: "Claude Desktop".into(),
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                confidential: false,
                keys: None,
            },
        )
        .await?;
    let path = format!("/clients/{}", made.client_id);
    let (status, headers, body) = api.send(k, Method::GET, &path, None, &[]).await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    let etag = headers["etag"].to_str()?.to_owned();
    let block = json!({"status": "blocked", "reason": "unsanctioned"});
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&block),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client"]["status"], "blocked");
    let (status, _, _) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&json!({"status": "active"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 412);
    let (status, _, body) = api
        .send(
            k,
            Method::PATCH,
            &path,
            Some(&json!({"status": "gone"})),
            &[],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (422, Some("status"))
    );
    let (_, _, list) = api
        .send(k, Method::GET, "/clients?status=blocked", None, &[])
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(audit_rows(&db.url, "oauth.client.blocked").await.len(), 1);
    api.srv.stop().await;
    Ok(())
}

/// SSO connections over the API: a SAML connection created once under an
/// `Idempotency-Key`, a missing name refused naming the field, a stale
/// `If-Match` refused with nothing changed, a replace, an auditor refused,
/// a delete; each change audited once.
async fn admin_api_sso_connections(db: &TestDb) -> TestResult {
    let api = api_on(db).await;
    let key = api.key("idp-automation", "admin").await;
    let k = Some(key.secret.as_str());
    let conn = json!({
        "name": "Acme SAML",
        "slug": "acme",
        "kind": "saml",
        "enabled": true,
        "domains": "acme.test",
        "idp_metadata_xml": crate::sso_saml::metadata(true),
        "role_mappings": [{"group": "portcullis-admins", "role": "admin"}],
    });
    let idem = [("Idempotency-Key", "acme-saml-1")];
    let (s1, h1, first) = api
        .send(k, Method::POST, "/sso-connections", Some(&conn), &idem)
        .await;
    let (s2, h2, second) = api
        .send(k, Method::POST, "/sso-connections", Some(&conn), &idem)
        .await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (201, 201), "{first} {second}");
    assert_eq!(first, second);
    assert_eq!(h2["idempotent-replayed"], "true");
    let id = first["summary"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        h1["location"].to_str()?,
        format!("{API}/sso-connections/{id}")
    );
    assert_eq!(first["summary"]["kind"], "saml", "{first}");
    assert_eq!(first["summary"]["name"], "Acme SAML");
    assert_eq!(audit_rows(&db.url, "sso.connection.created").await.len(), 1);

    let mut nameless = conn.clone();
    nameless["name"] = json!("");
    nameless["slug"] = json!("acme-2");
    let (status, _, body) = api
        .send(k, Method::POST, "/sso-connections", Some(&nameless), &[])
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "name", "{body}");
    let (status, _, body) = api
        .send(k, Method::GET, "/sso-connections", None, &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["connections"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );

    let path = format!("/sso-connections/{id}");
    let (_, headers, _) = api.send(k, Method::GET, &path, None, &[]).await;
    let etag = headers["etag"].to_str()?.to_owned();
    let mut renamed = conn.clone();
    renamed["name"] = json!("Acme Okta");
    let (status, _, body) = api
        .send(
            k,
            Method::PUT,
            &path,
            Some(&renamed),
            &[("If-Match", "\"0\"")],
        )
        .await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(audit_rows(&db.url, "sso.connection.updated").await.len(), 0);
    let (status, headers, body) = api
        .send(
            k,
            Method::PUT,
            &path,
            Some(&renamed),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["name"], "Acme Okta");
    assert_ne!(headers["etag"].to_str()?, etag);
    assert_eq!(audit_rows(&db.url, "sso.connection.updated").await.len(), 1);

    let auditor = api.key("sso-review", "auditor").await;
    let (status, _, body) = api
        .send(Some(&auditor.secret), Method::DELETE, &path, None, &[])
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = api.send(k, Method::DELETE, &path, None, &[]).await;
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = api.send(k, Method::GET, &path, None, &[]).await;
    assert_eq!(status, 404, "{body}");
    let deleted = audit_rows(&db.url, "sso.connection.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].2, "API key idp-automation", "{deleted:?}");
    api.srv.stop().await;
    Ok(())
}

backend_tests!(
    admin_api_sso_connections,
    admin_api_refuses_missing_revoked_and_expired_keys,
    admin_api_auditor_key_changes_nothing,
    admin_api_idempotency_etags_and_validation,
    admin_api_onboard_grant_simulate_roll_back,
    admin_api_grants_directories_gateways_and_clients,
);

/// The OpenAPI 3.1 document lists every operation under the prefix, with
/// the bearer scheme and the problem schema, without a key.
#[tokio::test]
async fn admin_api_openapi_document() -> TestResult {
    let srv = TestServer::start().await;
    let res = reqwest::get(srv.url("/api/openapi.json")).await?;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await?;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for p in [
        "/api/v1/admin/servers",
        "/api/v1/admin/servers/{id}",
        "/api/v1/admin/grants",
        "/api/v1/admin/revisions/{number}/rollback",
        "/api/v1/admin/simulate/can-call",
        "/api/v1/admin/audit/events",
        "/api/v1/admin/admins",
        "/api/v1/admin/sso-connections/{id}",
    ] {
        assert!(paths.iter().any(|k| k == p), "{p} missing from {paths:?}");
    }
    assert!(
        paths.iter().all(|p| p.starts_with("/api/v1/admin/")),
        "{paths:?}"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["schemas"]["ServerSummary"].is_object());
    srv.stop().await;
    Ok(())
}
