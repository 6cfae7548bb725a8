//! The Gateways page over real HTTP: registering a gateway through the
//! console's server function, its credential against the policy API
//! (`GET /api/v1/policy`, `POST /api/v1/gateway/status`), the page rendered
//! on the server with the state each report leads to, field errors, the
//! auditor's refusals, credential rotation and revocation, and the signing
//! key rotation; each with its status, body and side effects.

use crate::access::github;
use crate::access_console::auditor;
use crate::harness::{audit_count, audit_rows, text_of, TestResult, TestServer};
use portcullis_domain::Actor;
use serde_json::{json, Value};

const OWNER_PW: &str = "correct horse battery staple";

/// A console with an owner and the MCP server `github` in the catalog.
struct World {
    srv: TestServer,
    owner: reqwest::Client,
    github: String,
}

async fn world() -> World {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let github = github(&srv.running.services, &Actor::system("test")).await;
    // The bundle is rebuilt after a change without waiting: let it catch
    // up, so what gateways fetch is the head revision.
    let svc = &srv.running.services;
    crate::policy_api::published(svc, crate::policy_api::head(svc).await).await;
    World { srv, owner, github }
}

impl World {
    /// Registers `name` (fronting `github`) as `client`.
    async fn create(&self, client: &reqwest::Client, name: &str) -> (u16, Value) {
        self.srv
            .call(
                client,
                "gateways/create",
                &[
                    ("name", name),
                    ("description", "Envoy in front of the EU servers"),
                    ("server_ids[]", &self.github),
                ],
            )
            .await
    }

    /// Registers `name` as the owner and returns (id, credential).
    async fn gateway(&self, name: &str) -> (String, String) {
        let (status, body) = self.create(&self.owner, name).await;
        assert_eq!(status, 200, "{body}");
        let s = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        (s("id"), s("token"))
    }

    /// `GET /api/v1/policy` with `token`: status and the revision header.
    async fn policy(&self, token: &str) -> Result<(u16, Option<i64>), reqwest::Error> {
        let res = reqwest::Client::new()
            .get(self.srv.url("/api/v1/policy"))
            .bearer_auth(token)
            .send()
            .await?;
        let revision = res
            .headers()
            .get("portcullis-revision")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok((res.status().as_u16(), revision))
    }

    /// `POST /api/v1/gateway/status` with `token`.
    async fn report(&self, token: &str, body: Value) -> Result<(u16, Value), reqwest::Error> {
        let res = reqwest::Client::new()
            .post(self.srv.url("/api/v1/gateway/status"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// The page data as `client` sees it.
    async fn list(&self, client: &reqwest::Client) -> Value {
        let (status, body) = self.srv.call(client, "gateways/list", &[]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `/gateways` rendered on the server for `client`.
    async fn page(&self, client: &reqwest::Client) -> Result<String, reqwest::Error> {
        let res = client.get(self.srv.url("/gateways")).send().await?;
        assert_eq!(res.status().as_u16(), 200);
        res.text().await
    }
}

/// An owner registers a gateway: its credential fetches the signed policy,
/// its status report makes it "Up to date" on the page with its software,
/// and an error it reports shows as "Error" with the text escaped.
#[tokio::test]
async fn gateways_console_owner_creates_gateway_that_fetches_and_reports() -> TestResult {
    let w = world().await;
    let (status, created) = w.create(&w.owner, "edge-eu-1").await;
    assert_eq!(status, 200, "{created}");
    let token = created["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("pcg_"), "{created}");
    assert_eq!(created["name"], "edge-eu-1");
    let base = &w.srv.running.public_url;
    assert_eq!(created["policy_url"], format!("{base}/api/v1/policy"));
    assert_eq!(created["jwks_url"], format!("{base}/.well-known/jwks.json"));
    let events = audit_rows(&w.srv.db.url, "gateway.").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, "gateway.created");
    assert_eq!(events[0].3.as_deref(), Some("edge-eu-1"));

    // Listed, never connected, fronting GitHub; the credential is not.
    let list = w.list(&w.owner).await;
    let g = &list["view"]["gateways"][0];
    assert_eq!(g["state"], "never");
    assert_eq!(g["servers"][0]["name"], "GitHub");
    assert_eq!(g["token_hint"], token[token.len() - 4..]);
    assert!(!list.to_string().contains(&token));

    // The credential fetches the policy.
    let (status, revision) = w.policy(&token).await?;
    assert_eq!(status, 200);
    let head = revision.unwrap_or(-1);
    assert_eq!(
        head,
        list["view"]["current_revision"].as_i64().unwrap_or(-2)
    );

    let (status, body) = w
        .report(
            &token,
            json!({ "active_revision": head, "software": "edge/1.0" }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let html = w.page(&w.owner).await?;
    let text = text_of(&html);
    assert!(text.contains("edge-eu-1"), "{text}");
    assert!(text.contains("Up to date"), "{text}");
    assert!(text.contains("edge/1.0"), "{text}");
    assert!(
        text.contains("1 of 1 gateway enforces the current policy"),
        "{text}"
    );
    assert!(text.contains("Signing keys"), "{text}");
    assert_eq!(w.list(&w.owner).await["view"]["up_to_date"], 1);

    // An error it reports is shown, as text.
    let (status, body) = w
        .report(
            &token,
            json!({ "active_revision": head, "last_error": "<script>x</script>" }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let html = w.page(&w.owner).await?;
    assert!(text_of(&html).contains("Error"));
    assert!(!html.contains("<script>x</script>"), "{html}");
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
    let list = w.list(&w.owner).await;
    assert_eq!(list["view"]["gateways"][0]["state"], "error");
    assert_eq!(list["view"]["up_to_date"], 0);
    w.srv.stop().await;
    Ok(())
}

/// An empty name is refused with 422 naming `name`, a duplicate (in any
/// case) with 409 naming `name`; neither writes a gateway or an event.
#[tokio::test]
async fn gateways_console_create_invalid_or_duplicate_name_refused_nothing_written() -> TestResult {
    let w = world().await;
    w.gateway("edge-eu-1").await;
    let events = audit_count(&w.srv.db.url).await;

    let (status, body) = w.create(&w.owner, "").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid", "{body}");
    assert_eq!(body["fields"][0]["field"], "name", "{body}");

    let (status, body) = w.create(&w.owner, "EDGE-EU-1").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["fields"][0]["field"], "name", "{body}");
    assert_eq!(
        body["message"], "a gateway with this name already exists",
        "{body}"
    );

    assert_eq!(audit_count(&w.srv.db.url).await, events);
    let list = w.list(&w.owner).await;
    assert_eq!(list["view"]["gateways"].as_array().map(Vec::len), Some(1));
    w.srv.stop().await;
    Ok(())
}

/// An auditor sees the page without its buttons; creating, rotating,
/// revoking and rotating the signing key are refused with 403 and change
/// nothing: the credential still works.
#[tokio::test]
async fn gateways_console_auditor_mutations_forbidden_nothing_changes() -> TestResult {
    let w = world().await;
    let (id, token) = w.gateway("edge-eu-1").await;
    let audrey = auditor(&w.srv, &w.owner, "audrey@test.example").await;
    let events = audit_count(&w.srv.db.url).await;
    let keys = w.list(&w.owner).await["view"]["keys"].clone();

    let (status, body) = w.create(&audrey, "edge-us-1").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    for (endpoint, form) in [
        ("gateways/rotate", vec![("id", id.as_str())]),
        ("gateways/revoke", vec![("id", id.as_str())]),
        ("gateways/signing/rotate", vec![]),
    ] {
        let (status, body) = w.srv.call(&audrey, endpoint, &form).await;
        assert_eq!(status, 403, "{endpoint}: {body}");
        assert_eq!(body["code"], "forbidden", "{endpoint}");
    }
    assert_eq!(audit_count(&w.srv.db.url).await, events);
    assert_eq!(w.policy(&token).await?.0, 200);
    let list = w.list(&audrey).await;
    assert_eq!(list["view"]["gateways"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["view"]["gateways"][0]["revoked_at"], Value::Null);
    assert_eq!(list["view"]["keys"], keys);

    let html = w.page(&audrey).await?;
    assert!(text_of(&html).contains("edge-eu-1"));
    assert!(text_of(&html).contains("View only"));
    assert!(!html.contains("data-testid=\"open-new-gateway\""));
    assert!(!html.contains("data-testid=\"revoke-gateway\""));
    assert!(!html.contains("data-testid=\"rotate-signing-key\""));
    w.srv.stop().await;
    Ok(())
}

/// Rotating a credential stops the old one at once and the new one works;
/// revoking stops it for good and lists the gateway as revoked; both are
/// audited.
#[tokio::test]
async fn gateways_console_rotate_then_revoke_credential_stops_old_tokens() -> TestResult {
    let w = world().await;
    let (id, old) = w.gateway("edge-eu-1").await;
    assert_eq!(w.policy(&old).await?.0, 200);

    let (status, rotated) = w
        .srv
        .call(&w.owner, "gateways/rotate", &[("id", &id)])
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["token"].as_str().unwrap_or_default().to_owned();
    assert!(new.starts_with("pcg_") && new != old, "{rotated}");
    assert_eq!(w.policy(&old).await?.0, 401);
    assert_eq!(w.policy(&new).await?.0, 200);

    let (status, body) = w
        .srv
        .call(&w.owner, "gateways/revoke", &[("id", &id)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.policy(&new).await?.0, 401);
    let (status, _) = w.report(&new, json!({ "active_revision": 1 })).await?;
    assert_eq!(status, 401);
    let list = w.list(&w.owner).await;
    assert_eq!(list["view"]["gateways"][0]["state"], "revoked");
    assert_eq!(list["view"]["active"], 0);

    // Revoking twice finds nothing to revoke.
    let (status, body) = w
        .srv
        .call(&w.owner, "gateways/revoke", &[("id", &id)])
        .await;
    assert_eq!(status, 404, "{body}");

    let actions = crate::harness::audit_actions(&w.srv.db.url, "gateway.").await;
    assert_eq!(
        actions,
        [
            "gateway.created",
            "gateway.credential.rotated",
            "gateway.revoked"
        ]
    );
    let html = w.page(&w.owner).await?;
    assert!(text_of(&html).contains("Revoked"));
    w.srv.stop().await;
    Ok(())
}

/// Rotating the signing key retires the old key (still published), makes a
/// new active one that signs the policy, and is audited.
#[tokio::test]
async fn gateways_console_rotate_signing_key_new_key_signs_policy() -> TestResult {
    let w = world().await;
    let (_, token) = w.gateway("edge-eu-1").await;
    assert_eq!(w.policy(&token).await?.0, 200);
    let before = w.list(&w.owner).await["view"]["keys"].clone();
    assert_eq!(before.as_array().map(Vec::len), Some(1), "{before}");

    let (status, kid) = w.srv.call(&w.owner, "gateways/signing/rotate", &[]).await;
    assert_eq!(status, 200, "{kid}");
    let kid = kid.as_str().unwrap_or_default().to_owned();
    let keys = w.list(&w.owner).await["view"]["keys"].clone();
    assert_eq!(keys.as_array().map(Vec::len), Some(2), "{keys}");
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(keys[1]["kid"], before[0]["kid"]);
    assert_eq!(keys[1]["status"], "retired");
    assert_eq!(keys[1]["published"], true);

    // The publisher re-signs in the background: wait for it, with a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let signed_by = loop {
        let res = reqwest::Client::new()
            .get(w.srv.url("/api/v1/policy"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(res.status().as_u16(), 200);
        let signed_by = res
            .headers()
            .get("portcullis-key-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if signed_by == kid || tokio::time::Instant::now() > deadline {
            break signed_by;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(signed_by, kid);
    let jwks = reqwest::get(w.srv.url("/.well-known/jwks.json"))
        .await?
        .text()
        .await?;
    assert!(jwks.contains(&kid), "{jwks}");
    assert_eq!(
        audit_rows(&w.srv.db.url, "policy.signing_key.rotated")
            .await
            .len(),
        1
    );
    w.srv.stop().await;
    Ok(())
}

/// A gateway's credential and its last report are in the database, not only
/// in the server's memory: after a restart on the same database the
/// credential still fetches the policy and the page still shows the report.
#[tokio::test]
async fn gateways_console_credential_and_report_survive_restart() -> TestResult {
    let w = world().await;
    let (_, token) = w.gateway("edge-eu-1").await;
    let (status, revision) = w.policy(&token).await?;
    assert_eq!(status, 200);
    let (status, body) = w
        .report(
            &token,
            json!({ "active_revision": revision, "software": "edge/1.0" }),
        )
        .await?;
    assert_eq!(status, 200, "{body}");

    let db = w.srv.stop_keep_db().await;
    let srv = TestServer::start_on(db, &[]).await;
    let res = reqwest::Client::new()
        .get(srv.url("/api/v1/policy"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    let view = srv
        .running
        .services
        .gateways
        .view(&Actor::system("test"))
        .await?;
    assert_eq!(view.gateways.len(), 1);
    assert_eq!(view.gateways[0].software.as_deref(), Some("edge/1.0"));
    assert_eq!(view.gateways[0].active_revision, revision);
    assert_eq!(view.up_to_date, 1);
    srv.stop().await;
    Ok(())
}
