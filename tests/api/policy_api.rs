//! The policy API for gateways over HTTP: credentials, the signed bundle
//! with its ETag / 304 / gzip, long-poll, restarts and replicas giving the
//! same bytes, the gateway-side loader refusing tampered and older bundles,
//! key rotation, status reports, and decision batches in the audit log.

use crate::harness::{audit_count, audit_rows, backend_tests, TestDb, TestResult, TestServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use portcullis_domain::{Actor, Services};
use portcullis_policy::signed::{LoadError, Loader, Verifier};
use portcullis_policy::Bundle;
use portcullis_types::{GatewayInput, GatewayState, ServerInput};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

fn system() -> Actor {
    Actor::system("test")
}

/// A gateway and its credential.
async fn gateway(svc: &Services, name: &str) -> (String, String) {
    let g = svc
        .gateways
        .create(
            &system(),
            &GatewayInput {
                name: name.into(),
                description: String::new(),
                server_ids: Vec::new(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create gateway: {e}"));
    (g.id, g.token)
}

/// Makes a new policy revision (registers a server) and returns the head.
async fn change(svc: &Services, slug: &str) -> i64 {
    svc.catalog
        .create_server(
            &system(),
            &ServerInput {
                name: slug.into(),
                slug: slug.into(),
                resource_url: format!("https://mcp.example.com/{slug}"),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create server: {e}"));
    head(svc).await
}

/// Starts `GET /api/v1/policy?wait=30` holding `etag`, in the background.
fn long_poll(
    srv: &TestServer,
    token: &str,
    etag: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let req = reqwest::Client::new()
        .get(srv.url("/api/v1/policy?wait=30"))
        .bearer_auth(token)
        .header("if-none-match", etag);
    tokio::spawn(req.send())
}

/// Waits until `n` long-polls are parked on `svc`'s published bundle, so a
/// change made next is one they must be woken by.
async fn parked(svc: &Services, n: usize) {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while svc.publisher.receiver_count() < n {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the long-poll never started waiting");
}

/// The ETag of the revision `svc` serves now (read from memory, so no
/// request has shown the gateway's credential yet).
fn current_etag(svc: &Services) -> String {
    svc.publisher
        .latest()
        .map(|p| p.etag.clone())
        .unwrap_or_default()
}

/// Waits until `svc` publishes revision `rev` (the publisher rebuilds
/// right after a change commits, asynchronously).
pub(crate) async fn published(svc: &Services, rev: i64) {
    let mut rx = svc.publisher.subscribe();
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|p| p.as_ref().is_some_and(|p| p.revision >= rev)),
    )
    .await;
    assert!(
        matches!(done, Ok(Ok(_))),
        "revision {rev} was never published"
    );
}

pub(crate) async fn head(svc: &Services) -> i64 {
    portcullis_domain::revisions::head(svc.db().exec())
        .await
        .unwrap_or_else(|e| panic!("head: {e}"))
}

/// `GET /api/v1/policy` with the given credential and headers.
async fn poll(
    srv: &TestServer,
    token: Option<&str>,
    query: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(srv.url(&format!("/api/v1/policy{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET policy: {e}"))
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn verifier(srv: &TestServer) -> Verifier {
    let res = reqwest::get(srv.url("/.well-known/jwks.json"))
        .await
        .unwrap_or_else(|e| panic!("jwks: {e}"));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "application/jwk-set+json");
    Verifier::from_jwks(&res.text().await.unwrap_or_default())
        .unwrap_or_else(|e| panic!("jwks: {e}"))
}

/// The bundle inside a compact JWS, without verifying it.
fn payload(jws: &[u8]) -> Bundle {
    let text = std::str::from_utf8(jws).unwrap_or_default();
    let p = text.split('.').nth(1).unwrap_or_default();
    let bytes = B64.decode(p).unwrap_or_else(|e| panic!("payload: {e}"));
    Bundle::from_json(std::str::from_utf8(&bytes).unwrap_or_default())
        .unwrap_or_else(|e| panic!("bundle: {e}"))
}

/// No, a wrong, a revoked or a rotated-out credential → 401 on every
/// gateway endpoint; nothing is written.
#[tokio::test]
async fn policy_api_requires_a_gateway_credential() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (id, token) = gateway(svc, "edge-1").await;

    let res = poll(&srv, None, "", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&res, "www-authenticate"),
        "Bearer realm=\"portcullis-policy\""
    );
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    let body: Value = res.json().await?;
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(
        (&body["type"], &body["title"], &body["status"]),
        (
            &json!("urn:portcullis:problem:unauthenticated"),
            &json!("Unauthorized"),
            &json!(401)
        ),
        "RFC 9457 problem details: {body}"
    );

    let res = poll(&srv, Some("pcg_not-a-real-credential"), "", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await?;
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("not valid"));

    let before = audit_count(&srv.db.url).await;
    let client = reqwest::Client::new();
    for path in ["/api/v1/gateway/status", "/api/v1/decisions"] {
        let res = client
            .post(srv.url(path))
            .bearer_auth("pcg_wrong")
            .json(&json!({ "active_revision": 1, "decisions": [] }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(audit_count(&srv.db.url).await, before, "nothing recorded");

    assert_eq!(
        poll(&srv, Some(&token), "", &[]).await.status(),
        StatusCode::OK
    );

    // Rotation: the old credential stops at once, the new one works.
    let rotated = svc
        .gateways
        .rotate_credential(&system(), &id.as_str().into())
        .await?;
    assert_eq!(
        poll(&srv, Some(&token), "", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        poll(&srv, Some(&rotated.token), "", &[]).await.status(),
        StatusCode::OK
    );
    // Revocation: refused from the next request on.
    svc.gateways.revoke(&system(), &id.as_str().into()).await?;
    assert_eq!(
        poll(&srv, Some(&rotated.token), "", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let actions = crate::harness::audit_actions(&srv.db.url, "gateway.").await;
    assert_eq!(
        actions,
        [
            "gateway.created",
            "gateway.credential.rotated",
            "gateway.revoked"
        ]
    );
    srv.stop().await;
    Ok(())
}

/// The bundle is the signed current revision; its ETag gives 304 with no
/// body (also for a list of tags and weak forms); gzip is offered; a bad
/// `wait` is refused naming the field; with the database gone the bundle
/// and the 304s keep coming from memory.
async fn policy_api_serves_the_signed_bundle(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;

    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "application/jose");
    assert_eq!(header(&res, "portcullis-revision"), rev.to_string());
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let etag = header(&res, "etag");
    assert!(
        etag.starts_with(&format!("\"{rev}-")) && etag.ends_with('"') && !etag.starts_with("W/"),
        "strong ETag from revision and hash: {etag}"
    );
    assert!(res.headers().get("content-encoding").is_none());
    let body = res.bytes().await?;

    // The gateway's loader accepts it and enforces revision `rev`.
    let mut loader = Loader::new(verifier(&srv).await);
    let loaded = loader.load(&body)?;
    assert_eq!(loaded.revision, rev as u64);
    let active = loader.active().unwrap_or_else(|| panic!("active"));
    assert!(active
        .policy
        .server_id_by_resource("https://mcp.example.com/github")
        .is_some());

    // If-None-Match → 304, no body, same ETag.
    for inm in [
        etag.clone(),
        format!("\"0-nothing\", {etag}"),
        format!("W/{etag}"),
        "*".to_owned(),
    ] {
        let res = poll(&srv, Some(&token), "", &[("if-none-match", &inm)]).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{inm}");
        assert_eq!(header(&res, "etag"), etag);
        assert!(res.bytes().await?.is_empty());
    }
    let res = poll(&srv, Some(&token), "", &[("if-none-match", "\"1-other\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // gzip when asked: the same bytes compressed, an ETag of its own.
    let res = poll(
        &srv,
        Some(&token),
        "",
        &[("accept-encoding", "br;q=1, gzip;q=0.8")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), "gzip");
    assert_eq!(header(&res, "vary"), "accept-encoding, a-im");
    let gz_etag = header(&res, "etag");
    assert_eq!(gz_etag, format!("{}.gz\"", etag.trim_end_matches('"')));
    let compressed = res.bytes().await?;
    assert!(compressed.len() < body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut unzipped)?;
    assert_eq!(unzipped, body);
    let res = poll(
        &srv,
        Some(&token),
        "",
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = poll(&srv, Some(&token), "", &[("accept-encoding", "gzip;q=0")]).await;
    assert!(res.headers().get("content-encoding").is_none());

    for bad in ["?wait=61", "?wait=-1", "?wait=soon"] {
        let res = poll(&srv, Some(&token), bad, &[("if-none-match", &etag)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        let problem: Value = res.json().await?;
        assert_eq!(problem["field"], "wait");
    }

    // The database goes away: the bundle keeps being served from memory.
    svc.db().close().await;
    let res = poll(&srv, Some(&token), "", &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await?, body);
    // Writes cannot be kept: 503 with Retry-After, not a 500.
    let res = reqwest::Client::new()
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .json(&json!({ "active_revision": rev }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&res, "retry-after"), "5");
    assert_eq!(res.json::<Value>().await?["code"], "unavailable");
    srv.stop().await;
    Ok(())
}

/// A long-poll returns as soon as a change makes a new revision; without
/// a change it answers 304 when the wait is over.
async fn policy_api_long_poll(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let first = change(svc, "github").await;
    published(svc, first).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    let etag = header(&res, "etag");

    let waiting = long_poll(&srv, &token, &etag);
    // Once the long-poll waits, change the policy. Without the wake-up it
    // would answer 304 only after 30 s (and the assertion on 200 fail).
    parked(svc, 1).await;
    let second = change(svc, "linear").await;
    assert!(second > first);
    let res = waiting.await??;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "portcullis-revision"), second.to_string());
    let new_body = res.bytes().await?;
    assert_eq!(payload(&new_body).revision, second as u64);

    // No change: 304 at the end of the wait.
    let res = poll(&srv, Some(&token), "", &[]).await;
    let current = header(&res, "etag");
    let res = poll(
        &srv,
        Some(&token),
        "?wait=1",
        &[("if-none-match", &current)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "etag"), current);
    srv.stop().await;
    Ok(())
}

/// Decisions become audit events with masked arguments; a status report
/// shows what the gateway enforces; a bad batch names the decision's field
/// and writes nothing.
async fn policy_api_status_and_decisions(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let (id, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;
    let client = reqwest::Client::new();

    let view = svc.gateways.view(&system()).await?;
    assert_eq!(view.gateways[0].state, GatewayState::Never);

    // A poll is remembered and written.
    assert_eq!(
        poll(&srv, Some(&token), "", &[]).await.status(),
        StatusCode::OK
    );
    let view = svc.gateways.view(&system()).await?;
    let g = &view.gateways[0];
    assert_eq!((g.id.as_str(), g.served_revision), (id.as_str(), Some(rev)));
    assert!(g.last_poll_at.is_some());

    let res = client
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .json(&json!({ "active_revision": rev, "last_fetch_at": "2026-11-26T10:00:00Z", "software": "edge/1.2" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await?;
    assert_eq!(body["current_revision"], rev);
    let view = svc.gateways.view(&system()).await?;
    let g = &view.gateways[0];
    assert_eq!(
        (g.state, g.active_revision, g.lag, g.software.as_deref()),
        (GatewayState::Current, Some(rev), Some(0), Some("edge/1.2"))
    );
    assert_eq!((view.up_to_date, view.active), (1, 1));
    let stats = svc.overview.get_stats(&system(), &svc.audit).await?;
    assert_eq!((stats.gateways, stats.gateways_current), (1, 1));

    // A newer revision: the gateway is behind until it reports again.
    let next = change(svc, "linear").await;
    let view = svc.gateways.view(&system()).await?;
    assert_eq!(
        (view.gateways[0].state, view.gateways[0].lag),
        (GatewayState::Behind, Some(next - rev))
    );
    let stats = svc.overview.get_stats(&system(), &svc.audit).await?;
    assert_eq!((stats.gateways, stats.gateways_current), (1, 0));
    let res = client
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .json(&json!({ "active_revision": rev, "last_error": "signature does not verify" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let view = svc.gateways.view(&system()).await?;
    assert_eq!(view.gateways[0].state, GatewayState::Error);
    assert_eq!(
        view.gateways[0].last_error.as_deref(),
        Some("signature does not verify")
    );
    // Bad reports: named field, unknown fields refused, wrong media type.
    let res = client
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .json(&json!({ "active_revision": -3 }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await?["field"], "active_revision");
    let res = client
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .json(&json!({ "active_revision": 1, "colour": "red" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = client
        .post(srv.url("/api/v1/gateway/status"))
        .bearer_auth(&token)
        .body("active_revision=1")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Decisions → audit events, arguments masked.
    let before = audit_count(&srv.db.url).await;
    let decisions = json!({ "decisions": [
        { "at": "2026-11-26T10:00:01Z", "user": "usr_alice", "client": "claude-desktop",
          "server": "srv_github", "tool": "search_code", "allowed": true,
          "reason": "allowed", "rule": "grt_1", "revision": rev,
          "arguments": { "query": "password=hunter2", "limit": 5, "filters": { "org": "acme" } } },
        { "at": "2026-11-26T10:00:02Z", "user": "usr_bob", "server": "srv_github",
          "tool": "delete_repo", "allowed": false, "reason": "no_grant", "revision": rev }
    ]});
    let res = client
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&token)
        .json(&decisions)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await?["accepted"], 2);
    assert_eq!(audit_count(&srv.db.url).await, before + 2);
    let rows = audit_rows(&srv.db.url, "gateway.decision").await;
    let summary: Vec<(&str, Option<&str>, &str)> = rows
        .iter()
        .map(|r| (r.2.as_str(), r.3.as_deref(), r.4.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "gateway edge-1",
                Some("search_code on srv_github"),
                "success"
            ),
            (
                "gateway edge-1",
                Some("delete_repo on srv_github"),
                "denied"
            ),
        ]
    );
    let page = svc
        .audit
        .list_events(
            &system(),
            portcullis_types::AuditQuery {
                action: "gateway.decision".into(),
                ..Default::default()
            },
        )
        .await?;
    let details: Vec<&Value> = page.items.iter().map(|e| &e.details).collect();
    let allowed = details
        .iter()
        .find(|d| d["tool"] == "search_code")
        .unwrap_or_else(|| panic!("decision event"));
    assert_eq!(
        allowed["arguments"],
        json!({ "query": "***", "limit": "***", "filters": { "org": "***" } })
    );
    assert_eq!(
        (&allowed["user"], &allowed["client"], &allowed["revision"]),
        (&json!("usr_alice"), &json!("claude-desktop"), &json!(rev))
    );
    let stored = crate::harness::audit_text(&srv.db.url).await;
    assert!(
        !stored.contains("hunter2"),
        "the raw argument is stored nowhere"
    );

    // One bad decision refuses the whole batch, naming it.
    let bad = json!({ "decisions": [
        { "at": "2026-11-26T10:00:03Z", "user": "usr_alice", "server": "srv_github",
          "tool": "search_code", "allowed": true, "revision": rev },
        { "at": "2026-11-26T10:00:04Z", "user": "usr_alice", "server": "srv_github",
          "tool": " ", "allowed": true, "revision": rev }
    ]});
    let res = client
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await?["field"], "decisions[1].tool");
    // A value of the wrong shape is named by its path too.
    let res = client
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&token)
        .json(
            &json!({ "decisions": [{ "at": "yesterday", "user": "u", "server": "s",
            "tool": "t", "allowed": true, "revision": rev }] }),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let problem: Value = res.json().await?;
    assert_eq!(problem["field"], "decisions[0].at");
    assert!(problem["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("decisions[0].at: "));
    assert_eq!(
        audit_count(&srv.db.url).await,
        before + 2,
        "nothing written"
    );

    // Decisions with ids: a batch sent again (its answer was lost) and an
    // id repeated inside one batch are recorded once; another gateway's
    // records with the same ids are its own.
    let with_ids = json!({ "decisions": [
        { "id": "d-1", "at": "2026-11-26T10:00:05Z", "user": "usr_alice", "server": "srv_github",
          "tool": "search_code", "allowed": true, "revision": rev },
        { "id": "d-2", "at": "2026-11-26T10:00:06Z", "user": "usr_alice", "server": "srv_github",
          "tool": "search_code", "allowed": true, "revision": rev },
        { "id": "d-2", "at": "2026-11-26T10:00:06Z", "user": "usr_alice", "server": "srv_github",
          "tool": "search_code", "allowed": true, "revision": rev }
    ]});
    for expected_duplicates in [1, 3] {
        let res = client
            .post(srv.url("/api/v1/decisions"))
            .bearer_auth(&token)
            .json(&with_ids)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(
            res.json::<Value>().await?,
            json!({ "accepted": 3, "duplicates": expected_duplicates })
        );
    }
    let decisions_now = || async { audit_rows(&srv.db.url, "gateway.decision").await.len() };
    assert_eq!(decisions_now().await, 4);
    let (_, other) = gateway(svc, "edge-2").await;
    let res = client
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&other)
        .json(&with_ids)
        .send()
        .await?;
    assert_eq!(res.json::<Value>().await?["duplicates"], 1);
    assert_eq!(decisions_now().await, 6);
    let res = client
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&token)
        .json(
            &json!({ "decisions": [{ "id": "", "at": "2026-11-26T10:00:05Z", "user": "u",
            "server": "s", "tool": "t", "allowed": true, "revision": rev }] }),
        )
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await?["field"], "decisions[0].id");
    srv.stop().await;
    Ok(())
}

/// A gateway that asks for deltas (`A-IM: portcullis-delta`) and holds
/// the previous revision gets `226 IM Used` with a signed delta — from a
/// long-poll and from a plain request — that its loader turns into exactly
/// the bundle a whole fetch gives; holding anything else it gets the whole
/// bundle. The publisher's facts, moved forward revision by revision, give
/// the same bundle as loading the head whole.
async fn policy_api_delta(db: &TestDb) -> TestResult {
    use portcullis_domain::revisions::{load_bundle, touched_facts};
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let first = change(svc, "github").await;
    published(svc, first).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag1 = header(&res, "etag");
    let mut loader = Loader::new(verifier(&srv).await);
    loader.load(&res.bytes().await?)?;
    let first_at = portcullis_domain::revisions::created_at(svc.db().exec(), first)
        .await?
        .unwrap_or_default();
    let bundle_at_first = load_bundle(svc.db().exec(), first, first_at).await?;

    let delta_headers = |etag: &str| {
        vec![
            ("a-im".to_owned(), "portcullis-delta".to_owned()),
            ("if-none-match".to_owned(), etag.to_owned()),
        ]
    };
    let waiting = {
        let mut req = reqwest::Client::new()
            .get(srv.url("/api/v1/policy?wait=30"))
            .bearer_auth(&token);
        for (k, v) in delta_headers(&etag1) {
            req = req.header(k, v);
        }
        tokio::spawn(req.send())
    };
    parked(svc, 1).await;
    let second = change(svc, "linear").await;
    let res = waiting.await??;
    assert_eq!(res.status(), StatusCode::IM_USED);
    assert_eq!(header(&res, "im"), "portcullis-delta");
    assert_eq!(header(&res, "delta-base"), etag1);
    assert_eq!(header(&res, "content-type"), "application/jose");
    assert_eq!(header(&res, "portcullis-revision"), second.to_string());
    let etag2 = header(&res, "etag");
    assert!(etag2.starts_with(&format!("\"{second}-")), "{etag2}");
    let delta = res.bytes().await?;
    let loaded = loader.load_delta(&delta)?;
    assert_eq!(loaded.revision, second as u64);

    // The whole bundle of the same revision: same ETag, same content.
    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "etag"), etag2);
    let whole = res.bytes().await?;
    // The delta carries only what changed: the new server.
    let text = std::str::from_utf8(&delta)?;
    let d: portcullis_policy::delta::Delta =
        serde_json::from_slice(&B64.decode(text.split('.').nth(1).unwrap_or_default())?)?;
    let upserted: Vec<&str> = d.servers.upsert.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(upserted, ["linear"]);
    assert!(d.servers.remove.is_empty() && d.principals.is_empty() && d.rules.is_empty());
    assert_eq!((d.base_revision, d.revision), (first as u64, second as u64));
    let active = loader.active().ok_or("no policy is active")?;
    assert_eq!(active.bundle, payload(&whole));
    assert!(active.bundle.servers.iter().any(|s| s.slug == "linear"));

    // Holding the new revision: 304, delta or not.
    let hdrs = delta_headers(&etag2);
    let hdrs: Vec<(&str, &str)> = hdrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = poll(&srv, Some(&token), "", &hdrs).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    // Holding the previous one, without waiting: the delta again.
    let hdrs = delta_headers(&etag1);
    let hdrs: Vec<(&str, &str)> = hdrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = poll(&srv, Some(&token), "", &hdrs).await;
    assert_eq!(res.status(), StatusCode::IM_USED);
    assert_eq!(res.bytes().await?, delta, "the same signed delta");
    // Holding something else, or not asking for deltas: the whole bundle.
    let res = poll(
        &srv,
        Some(&token),
        "",
        &[
            ("a-im", "portcullis-delta"),
            ("if-none-match", "\"1-unknown\""),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = poll(&srv, Some(&token), "", &[("if-none-match", &etag1)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = poll(
        &srv,
        Some(&token),
        "",
        &[("a-im", "portcullis-delta;q=0"), ("if-none-match", &etag1)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Two revisions on, the delta is from the second: the first gets the
    // whole bundle.
    let third = change(svc, "notion").await;
    published(svc, third).await;
    let res = poll(&srv, Some(&token), "", &hdrs).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "portcullis-revision"), third.to_string());

    // The first's bundle and the facts the change touches do not make the
    // third: servers appeared, and the grants about them come with them,
    // so the publisher assembles it whole (and serves exactly that).
    let at = portcullis_domain::revisions::created_at(svc.db().exec(), third)
        .await?
        .unwrap_or_default();
    assert!(
        touched_facts(svc.db(), &bundle_at_first, third)
            .await?
            .is_none(),
        "servers came: assembled whole"
    );
    assert_eq!(
        load_bundle(svc.db().exec(), third, at).await?,
        payload(&res.bytes().await?)
    );
    srv.stop().await;
    Ok(())
}

/// Waits for the head's bundle after a change and checks it against the
/// bundle assembled whole; `incremental`: whether the publisher must have
/// built it from the previous bundle and the changed facts.
async fn rebuilt(
    svc: &Services,
    prev: i64,
    what: &str,
    incremental: bool,
) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    use portcullis_domain::revisions::{created_at, load_bundle};
    let p = svc.publisher.refresh().await?;
    assert!(p.revision > prev, "{what}: a new revision");
    let at = created_at(svc.db().exec(), p.revision)
        .await?
        .unwrap_or_default();
    let whole = load_bundle(svc.db().exec(), p.revision, at).await?;
    assert_eq!(p.bundle()?, whole, "{what}: same bundle as assembled whole");
    assert!(
        p.full_if_built().is_none(),
        "{what}: no whole body until a reader asks for one"
    );
    let full = svc
        .publisher
        .full(&p, Duration::from_secs(30))
        .await
        .ok_or("no whole body")?;
    assert_eq!(payload(&full.body()?), whole, "{what}: the signed body too");
    assert!(
        p.full_if_built().is_some_and(|f| Arc::ptr_eq(f, &full)),
        "{what}: the body is kept with its revision"
    );
    assert!(p.delta.is_some(), "{what}: a delta is offered");
    assert_eq!(
        p.timings.reassembled, incremental,
        "{what}: built from the previous bundle"
    );
    Ok(p.revision)
}

/// Grants `group` the whole `server`; the grant's id.
async fn group_granted_server(
    svc: &Services,
    group: &str,
    server: &str,
) -> Result<portcullis_types::GrantId, Box<dyn std::error::Error + Send + Sync>> {
    use crate::access::grant;
    use portcullis_types::{GrantSubject, GrantTarget};
    let (id, _) = svc
        .access
        .create_grant(
            &system(),
            &grant(
                GrantSubject::Group {
                    id: group.to_owned(),
                },
                server,
                GrantTarget::Server,
                "allow",
            ),
        )
        .await?;
    Ok(id)
}

/// The publisher builds each revision from the previous bundle and the
/// facts that changed; for every kind of change it must equal the bundle
/// assembled whole, and the delta it offers must carry exactly the change.
async fn policy_api_incremental_bundle_equals_the_whole(db: &TestDb) -> TestResult {
    use crate::access::{add_member, directory, github, scim_group, scim_user};
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let admin = system();
    let okta = directory(svc).await;
    let server = github(svc, &admin).await;
    let ada = scim_user(svc, &okta, "ada@corp.example").await;
    let bob = scim_user(svc, &okta, "bob@corp.example").await;
    let eng = scim_group(svc, &okta, "Engineering", &[&ada]).await;
    let mut seen = svc.publisher.refresh().await?.revision;
    add_member(svc, &okta, &eng, &bob).await;
    seen = rebuilt(svc, seen, "a member added", true).await?;
    svc.scim
        .patch_user(
            &okta,
            "http://127.0.0.1/scim/v2",
            &bob.as_str().into(),
            &json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
            None,
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    seen = rebuilt(svc, seen, "a person deactivated", true).await?;
    let grant_id = group_granted_server(svc, &eng, &server).await?;
    seen = rebuilt(svc, seen, "a grant", true).await?;
    svc.catalog
        .set_server_enabled(&admin, &server.as_str().into(), false)
        .await?;
    seen = rebuilt(svc, seen, "a server disabled", true).await?;
    let carol = scim_user(svc, &okta, "carol@corp.example").await;
    add_member(svc, &okta, &eng, &carol).await;
    seen = rebuilt(svc, seen, "a person and a membership", true).await?;
    svc.scim
        .delete_group(&okta, &eng.as_str().into(), None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    seen = rebuilt(svc, seen, "a group deleted (members lose it)", true).await?;
    svc.access.revoke_grant(&admin, &grant_id).await?;
    seen = rebuilt(svc, seen, "a grant revoked", true).await?;
    svc.catalog
        .delete_server(&admin, &server.as_str().into())
        .await?;
    rebuilt(svc, seen, "a server deleted (whole assembly)", false).await?;
    srv.stop().await;
    Ok(())
}

/// The facts of a revision a later one changed: the next bundle made from
/// only the touched facts of revision B (`load_touched`) is B's bundle
/// even after revision C closed some of them. Ada's membership, open at B
/// and closed at C, is read from the rows C closed; a grant on a server C
/// deleted still counts at B.
async fn policy_api_touched_facts_of_an_earlier_revision(db: &TestDb) -> TestResult {
    use crate::access::{add_member, directory, github, scim_group, scim_user};
    use portcullis_domain::revisions::{
        created_at, load_bundle, reassemble, touched_facts, FactMap,
    };
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let svc = &srv.running.services;
    let admin = system();
    let okta = directory(svc).await;
    let server = github(svc, &admin).await;
    let ada = scim_user(svc, &okta, "ada@corp.example").await;
    let eng = scim_group(svc, &okta, "Engineering", &[&ada]).await;
    let head = || async { svc.publisher.refresh().await.map(|p| p.revision) };
    let a = head().await?;
    // B: Ada deactivated, Bob joins Engineering, Engineering granted the
    // server.
    let patch = |path: &str, value: Value| {
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": path, "value": value }] })
    };
    svc.scim
        .patch_user(
            &okta,
            "http://127.0.0.1/scim/v2",
            &ada.as_str().into(),
            &patch("active", json!(false)),
            None,
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    let bob = scim_user(svc, &okta, "bob@corp.example").await;
    add_member(svc, &okta, &eng, &bob).await;
    group_granted_server(svc, &eng, &server).await?;
    let b = head().await?;
    // C: Ada and Bob leave Engineering; the server goes.
    let leave = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "remove", "path": format!("members[value eq \"{ada}\"]") },
                       { "op": "remove", "path": format!("members[value eq \"{bob}\"]") }] });
    svc.scim
        .patch_group(
            &okta,
            "http://127.0.0.1/scim/v2",
            &eng.as_str().into(),
            &leave,
            None,
            false,
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    svc.catalog
        .delete_server(&admin, &server.as_str().into())
        .await?;
    let c = head().await?;
    assert!(a < b && b < c, "three revisions: {a} {b} {c}");

    let exec = || svc.db().exec();
    let at = |rev| async move { created_at(exec(), rev).await.map(Option::unwrap_or_default) };
    let bundle_a = load_bundle(exec(), a, at(a).await?).await?;
    let bundle_b = load_bundle(exec(), b, at(b).await?).await?;
    let (facts, touched) = touched_facts(svc.db(), &bundle_a, b)
        .await?
        .ok_or("a small change with no server coming or going")?;
    let (next, delta) = reassemble(bundle_a, &facts, &touched, at(b).await?)?;
    assert_eq!(next, bundle_b, "B made from A and B's touched facts");
    let principal = |id: &str| next.principals.iter().find(|p| p.id == id).cloned();
    assert_eq!(
        principal(&ada).map(|p| (p.active, p.groups)),
        Some((false, vec![eng.clone()])),
        "Ada at B: deactivated, still in Engineering"
    );
    assert_eq!(
        principal(&bob).map(|p| p.groups),
        Some(vec![eng.clone()]),
        "Bob at B: in Engineering"
    );
    assert_eq!(next.rules.len(), 1, "the grant counts at B");
    assert_eq!(
        delta.principals.upsert.len(),
        2,
        "the delta carries Ada and Bob"
    );
    // The facts read are those of the touched entries, not every fact.
    assert!(
        facts.len() < FactMap::load(exec(), b).await?.len(),
        "only the touched facts were read"
    );
    srv.stop().await;
    Ok(())
}

backend_tests!(
    policy_api_touched_facts_of_an_earlier_revision,
    policy_api_incremental_bundle_equals_the_whole,
    policy_api_serves_the_signed_bundle,
    policy_api_long_poll,
    policy_api_status_and_decisions,
    policy_api_delta,
);

/// The whole body is built only when a reader asks for it — once, however
/// many ask at once — and is dropped with its revision when the next one is
/// announced; the policy API serves those bytes.
#[tokio::test]
async fn policy_api_whole_body_on_demand() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;
    let p = svc.publisher.latest().ok_or("nothing published")?;
    assert_eq!(p.revision, rev);
    assert!(p.full_if_built().is_none(), "no body before anyone asks");

    let asks = (0..8).map(|_| svc.publisher.full(&p, Duration::from_secs(30)));
    let bodies = futures_util::future::join_all(asks).await;
    let first = bodies[0].clone().ok_or("no whole body")?;
    for b in &bodies {
        assert!(
            b.as_ref().is_some_and(|b| Arc::ptr_eq(b, &first)),
            "every reader gets the one body built"
        );
    }
    assert!(p.full_if_built().is_some_and(|f| Arc::ptr_eq(f, &first)));
    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(p.etag.as_str())
    );
    assert_eq!(
        res.bytes().await?,
        first.body()?,
        "the API sends the body built"
    );
    assert_eq!(first.body()?.len(), first.len);
    assert_eq!(payload(&first.body()?), p.bundle()?);

    // The next revision is announced without a body, and the previous
    // one's body goes once nobody holds its revision.
    let kept = Arc::downgrade(&first);
    drop((bodies, first, p));
    let next = change(svc, "jira").await;
    published(svc, next).await;
    let q = svc.publisher.latest().ok_or("nothing published")?;
    assert_eq!(q.revision, next);
    assert!(
        q.full_if_built().is_none(),
        "no body for the new revision yet"
    );
    assert!(q.delta.is_some(), "the new revision offers a delta");
    assert!(kept.upgrade().is_none(), "the previous body was dropped");
    srv.stop().await;
    Ok(())
}

/// The headers of a response that must match between two answers (all
/// but the request id and the date).
fn comparable_headers(res: &reqwest::Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(k, _)| *k != "x-request-id" && *k != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    h.sort();
    h
}

/// A plain poll naming the current revision, from a credential accepted
/// within the minute, is answered by the HTTP worker before the router —
/// the same 304, headers and all; everything else (a credential not seen
/// yet, an unknown or revoked one, another ETag, a bad `wait`, another
/// method) goes through the router.
#[tokio::test]
async fn policy_api_304_from_memory_before_the_router() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (id, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;
    let etag = current_etag(svc);
    let stats = srv.running.http.clone();
    let counts = move || (stats.from_memory(), stats.routed());
    let inm = [("if-none-match", etag.as_str())];

    // Not seen yet: the router checks the credential and answers 304.
    let (fast0, routed0) = counts();
    let routed = poll(&srv, Some(&token), "", &inm).await;
    assert_eq!(routed.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(counts(), (fast0, routed0 + 1));
    // Now remembered: the same answer from memory.
    let fast = poll(&srv, Some(&token), "", &inm).await;
    assert_eq!(fast.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(counts(), (fast0 + 1, routed0 + 1));
    assert_eq!(comparable_headers(&fast), comparable_headers(&routed));
    assert_eq!(header(&fast, "etag"), etag);
    assert_eq!(header(&fast, "portcullis-revision"), rev.to_string());
    assert_eq!(header(&fast, "vary"), "accept-encoding, a-im");
    assert!(!header(&fast, "x-request-id").is_empty());
    assert_ne!(
        header(&fast, "x-request-id"),
        header(&routed, "x-request-id")
    );
    assert!(fast.bytes().await?.is_empty());
    // A request id the gateway sends comes back; `wait=0` is a plain poll;
    // the gzip ETag answers from memory too.
    let res = poll(
        &srv,
        Some(&token),
        "?wait=0",
        &[("if-none-match", &etag), ("x-request-id", "gw-trace-42")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "x-request-id"), "gw-trace-42");
    let gz = format!("{}.gz\"", etag.trim_end_matches('"'));
    let res = poll(
        &srv,
        Some(&token),
        "",
        &[("if-none-match", &gz), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "etag"), gz);
    assert_eq!(counts(), (fast0 + 3, routed0 + 1));
    // The poll was noted for the Gateways page like any other.
    svc.gateways.flush_polls().await?;
    let view = svc.gateways.view(&system()).await?;
    let g = view.gateways.iter().find(|g| g.id == id);
    assert_eq!(g.and_then(|g| g.served_revision), Some(rev));

    // Everything else goes through the router.
    /// Credential, query, headers, the router's answer.
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        Vec<(&'a str, &'a str)>,
        StatusCode,
    );
    let cases: [Case; 5] = [
        (
            Some(&token),
            "",
            vec![("if-none-match", "\"1-other\"")],
            StatusCode::OK,
        ),
        (
            Some(&token),
            "?wait=soon",
            inm.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("pcg_unknown"),
            "",
            inm.to_vec(),
            StatusCode::UNAUTHORIZED,
        ),
        (None, "", inm.to_vec(), StatusCode::UNAUTHORIZED),
        (Some(&token), "", vec![], StatusCode::OK),
    ];
    for (i, (credential, query, headers, status)) in cases.iter().enumerate() {
        let res = poll(&srv, *credential, query, headers).await;
        assert_eq!(res.status(), *status, "case {i}");
        assert_eq!(counts(), (fast0 + 3, routed0 + 2 + i as u64), "case {i}");
    }
    let res = reqwest::Client::new()
        .post(srv.url("/api/v1/policy"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(counts(), (fast0 + 3, routed0 + 7));

    // Revoked: refused from the next request on, never answered from memory.
    svc.gateways.revoke(&system(), &id.as_str().into()).await?;
    let res = poll(&srv, Some(&token), "", &inm).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(counts(), (fast0 + 3, routed0 + 8));
    srv.stop().await;
    Ok(())
}

/// A long-poll of a gateway whose credential was accepted within the
/// minute is held by the HTTP worker that read it (not by a task on the
/// application runtime) and answered from there: the same 226 with the
/// signed delta a routed long-poll gives, and the same 304 at the timeout.
#[tokio::test]
async fn policy_api_long_poll_held_by_the_http_worker() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let first = change(svc, "github").await;
    published(svc, first).await;
    let stats = srv.running.http.clone();
    let counts = move || (stats.from_memory(), stats.routed());
    let current = || current_etag(svc);
    let delta_poll = |etag: String| {
        let req = reqwest::Client::new()
            .get(srv.url("/api/v1/policy?wait=30"))
            .bearer_auth(&token)
            .header("a-im", "portcullis-delta")
            .header("if-none-match", etag);
        tokio::spawn(req.send())
    };
    let mut loader = Loader::new(verifier(&srv).await);
    let latest = svc.publisher.latest().ok_or("nothing published")?;
    let whole = svc
        .publisher
        .full(&latest, Duration::from_secs(30))
        .await
        .ok_or("no whole body published")?
        .body()?;
    loader.load(&whole)?;

    // The credential's first request: checked by the router, which holds
    // the long-poll.
    let (fast0, routed0) = counts();
    let idle = svc.publisher.receiver_count();
    let waiting = delta_poll(current());
    parked(svc, idle + 1).await;
    assert_eq!(counts(), (fast0, routed0 + 1));
    let second = change(svc, "linear").await;
    let routed = waiting.await??;
    assert_eq!(routed.status(), StatusCode::IM_USED);
    assert_eq!(header(&routed, "portcullis-revision"), second.to_string());
    let routed_headers = header_names(&routed);
    assert_eq!(
        loader.load_delta(&routed.bytes().await?)?.revision,
        second as u64
    );

    // Now remembered: the worker holds the next one and answers it the same way.
    published(svc, second).await;
    let waiting = delta_poll(current());
    parked(svc, idle + 1).await;
    assert_eq!(counts(), (fast0 + 1, routed0 + 1));
    let third = change(svc, "notion").await;
    let held = waiting.await??;
    assert_eq!(held.status(), StatusCode::IM_USED);
    assert_eq!(header(&held, "portcullis-revision"), third.to_string());
    assert_eq!(header(&held, "im"), "portcullis-delta");
    assert!(!header(&held, "x-request-id").is_empty());
    assert_eq!(header_names(&held), routed_headers);
    assert_eq!(
        loader.load_delta(&held.bytes().await?)?.revision,
        third as u64,
        "the worker's delta moves the gateway on"
    );

    // No change: the worker's 304 at the timeout equals the router's plain one.
    published(svc, third).await;
    let etag = current();
    let plain = poll(&srv, Some(&token), "", &[("if-none-match", &etag)]).await;
    let before = counts();
    let timed_out = poll(&srv, Some(&token), "?wait=1", &[("if-none-match", &etag)]).await;
    assert_eq!(timed_out.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(counts(), (before.0 + 1, before.1));
    assert_eq!(comparable_headers(&timed_out), comparable_headers(&plain));
    assert_eq!(svc.publisher.receiver_count(), idle, "nothing left waiting");
    srv.stop().await;
    Ok(())
}

/// The names of a response's headers, sorted (their values differ between
/// two revisions).
fn header_names(res: &reqwest::Response) -> Vec<String> {
    let mut names: Vec<String> = res.headers().keys().map(|k| k.to_string()).collect();
    names.sort();
    names
}

/// A gateway that hangs up during a long-poll stops costing the server at
/// once, whether the router or an HTTP worker holds it (not left waiting
/// out its 30 s).
#[tokio::test]
async fn policy_api_long_poll_ends_when_the_gateway_hangs_up() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;
    let etag = current_etag(svc);
    let stats = srv.running.http.clone();
    let idle = svc.publisher.receiver_count();
    // First the router holds it (credential not seen yet), then a worker.
    for (i, held_by) in ["router", "worker"].into_iter().enumerate() {
        let before = (stats.from_memory(), stats.routed());
        let waiting = long_poll(&srv, &token, &etag);
        parked(svc, idle + 1).await;
        let after = (stats.from_memory(), stats.routed());
        assert_eq!(
            after,
            if i == 0 {
                (before.0, before.1 + 1)
            } else {
                (before.0 + 1, before.1)
            },
            "held by the {held_by}"
        );
        waiting.abort();
        let _ = waiting.await;
        let gone = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while svc.publisher.receiver_count() > idle {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(
            gone.is_ok(),
            "the long-poll held by the {held_by} kept waiting after the hang-up"
        );
    }
    srv.stop().await;
    Ok(())
}

/// The same revision gives the same bytes and ETag after a restart; a
/// gateway's loader refuses an older revision replayed to it and a
/// tampered body, keeping its last good policy.
#[tokio::test]
async fn policy_api_restart_rollback_and_tampering() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let old_rev = change(svc, "github").await;
    published(svc, old_rev).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    let (old_etag, old_body) = (header(&res, "etag"), res.bytes().await?);
    let db = srv.stop_keep_db().await;

    let srv = TestServer::start_on(db, &[]).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    assert_eq!(header(&res, "etag"), old_etag, "same ETag after a restart");
    assert_eq!(res.bytes().await?, old_body, "byte-identical body");

    let svc = &srv.running.services;
    let new_rev = change(svc, "linear").await;
    published(svc, new_rev).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    let new_body = res.bytes().await?;
    let mut loader = Loader::new(verifier(&srv).await);
    assert_eq!(loader.load(&new_body)?.revision, new_rev as u64);
    assert_eq!(
        loader.load(&old_body),
        Err(LoadError::Rollback {
            held: new_rev as u64,
            offered: old_rev as u64
        })
    );
    // Tampered: a payload that names an extra principal, original signature.
    let text = std::str::from_utf8(&new_body)?;
    let parts: Vec<&str> = text.split('.').collect();
    let mut forged = payload(&new_body);
    forged.principals.push(portcullis_policy::Principal {
        id: "usr_mallory".into(),
        email: "mallory@evil.example".into(),
        active: true,
        groups: Vec::new(),
    });
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(forged.to_canonical_json()?),
        parts[2]
    );
    assert_eq!(loader.load(forged.as_bytes()), Err(LoadError::BadSignature));
    assert_eq!(
        loader.revision(),
        Some(new_rev as u64),
        "last good policy kept"
    );
    srv.stop().await;
    Ok(())
}

/// Rotating the signing key re-signs the current revision under the new
/// key: a new ETag, the same revision, both keys in the JWKS; a loader
/// that re-fetches the JWKS accepts it.
#[tokio::test]
async fn policy_api_signing_key_rotation() -> TestResult {
    let srv = TestServer::start().await;
    let svc = &srv.running.services;
    let (_, token) = gateway(svc, "edge-1").await;
    let rev = change(svc, "github").await;
    published(svc, rev).await;
    let res = poll(&srv, Some(&token), "", &[]).await;
    let (etag, old_kid, body) = (
        header(&res, "etag"),
        header(&res, "portcullis-key-id"),
        res.bytes().await?,
    );
    let mut loader = Loader::new(verifier(&srv).await);
    loader.load(&body)?;
    // A publisher of our own (no run loop retrying behind it) builds the
    // revision under the old key, then again under the new one.
    let own =
        portcullis_domain::publish::PolicyPublisher::new(svc.core.clone(), svc.signing.clone());
    let before = own.refresh().await?;
    assert_eq!(
        (before.revision, before.kid.as_str()),
        (rev, old_kid.as_str())
    );

    // A long-poll holding the old ETag wakes with the re-signed bundle.
    let waiting = long_poll(&srv, &token, &etag);
    parked(svc, 1).await;
    let new_kid = svc.signing.rotate(&system()).await?;
    let res = waiting.await??;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "portcullis-revision"), rev.to_string());
    assert_eq!(header(&res, "portcullis-key-id"), new_kid);
    assert_ne!(new_kid, old_kid);
    let new_etag = header(&res, "etag");
    assert_ne!(new_etag, etag);
    let resigned = res.bytes().await?;
    assert_eq!(Verifier::key_id(&resigned)?, new_kid);
    let again = own.refresh().await?;
    assert_eq!(
        (again.revision, again.kid.as_str(), again.sha256.as_str()),
        (rev, new_kid.as_str(), before.sha256.as_str()),
        "the same revision and content under the new key"
    );
    assert_eq!(again.etag, new_etag, "the ETag served");
    assert_eq!(
        loader.load(&resigned),
        Err(LoadError::UnknownKey(new_kid.clone()))
    );
    let fresh = verifier(&srv).await;
    assert!(
        fresh.knows(&old_kid) && fresh.knows(&new_kid),
        "both published"
    );
    loader.set_verifier(fresh);
    let loaded = loader.load(&resigned)?;
    assert_eq!((loaded.revision, loaded.newer), (rev as u64, false));
    let rotated = audit_rows(&srv.db.url, "policy.signing_key.rotated").await;
    assert_eq!(rotated.len(), 1);
    // The private key is stored sealed, never in the clear.
    let keys = svc.signing.list(&system()).await?;
    assert_eq!(
        keys.iter().map(|k| k.status.as_str()).collect::<Vec<_>>(),
        ["active", "retired"]
    );
    srv.stop().await;
    Ok(())
}

/// `portcullis gateway create` prints a credential once; it authenticates.
#[tokio::test]
async fn policy_api_gateway_create_cli() -> TestResult {
    let db = TestDb::sqlite();
    let key = "dGVzdC1zZWNyZXQta2V5LW9mLTMyLWJ5dGVzLWxvbmc=";
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("PORTCULLIS_CONFIG", "")
            .env("PORTCULLIS_SECRET_KEY", key)
            .output()
            .unwrap_or_else(|e| panic!("run portcullis: {e}"))
    };
    assert!(run(&["migrate"]).status.success());
    let out = run(&[
        "gateway", "create", "--name", "edge-cli", "--server", "nope",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server_ids"));
    let out = run(&["gateway", "create", "--name", "edge-cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    assert!(stdout.contains("/api/v1/policy"));
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("pcg_"))
        .unwrap_or_else(|| panic!("no credential in {stdout}"))
        .to_owned();
    let srv = TestServer::start_on(db, &[]).await;
    assert_eq!(
        poll(&srv, Some(&token), "", &[]).await.status(),
        StatusCode::OK
    );
    let created = audit_rows(&srv.db.url, "gateway.created").await;
    assert_eq!(created[0].2, "portcullis gateway create");
    srv.stop().await;
    Ok(())
}

/// A replica whose `LISTEN` starts after another replica's change (a
/// replica starting while an admin works) still learns of it: the
/// notification went to no one, so the listener signals every topic once
/// it listens and the replica reads afresh.
#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432; `make test` runs it when it answers"]
async fn postgres_listener_reads_afresh_once_it_listens() -> TestResult {
    use portcullis_domain::db::Topic;
    use portcullis_domain::Db;
    let db = TestDb::postgres().await;
    let a = Db::connect(&db.url, &Default::default()).await?;
    let b = Db::connect(&db.url, &Default::default()).await?;
    let mut policy = b.signals().subscribe(Topic::Policy);
    let mut tx = a.begin().await?;
    tx.signal(Topic::Policy).await?;
    tx.commit().await?;
    assert!(
        !policy.has_changed()?,
        "b heard nothing yet: it is not listening"
    );
    let listening = tokio::spawn({
        let b = b.clone();
        async move { b.listen().await }
    });
    tokio::time::timeout(Duration::from_secs(10), policy.changed())
        .await
        .map_err(|_| "b's listener never signalled the policy topic")??;
    listening.abort();
    a.close().await;
    b.close().await;
    drop(db);
    Ok(())
}

/// Two replicas on one PostgreSQL database: the same revision gives the
/// same bytes and ETag on both, and a change made on one wakes a long-poll
/// on the other through LISTEN/NOTIFY. Both run with the periodic re-check
/// at 10 minutes, so only the notification can wake the poll within its
/// 30-second wait.
#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432; `make test` runs it when it answers"]
async fn postgres_policy_api_two_replicas() -> TestResult {
    let db = TestDb::postgres().await;
    let slow = [("PORTCULLIS_POLICY_RECHECK_SECONDS", "600")];
    let a = TestServer::start_on(db.alias(), &slow).await;
    let b = TestServer::start_on(db.alias(), &slow).await;
    let (_, token) = gateway(&a.running.services, "edge-1").await;
    let rev = change(&a.running.services, "github").await;
    published(&a.running.services, rev).await;
    // Both replicas publish the head (b learns of it by NOTIFY).
    let ra = poll(&a, Some(&token), "", &[]).await;
    let (ea, ba) = (header(&ra, "etag"), ra.bytes().await?);
    let mut eb = String::new();
    for _ in 0..5 {
        let rb = poll(&b, Some(&token), "?wait=10", &[("if-none-match", &eb)]).await;
        eb = header(&rb, "etag");
        if eb == ea {
            break;
        }
    }
    assert_eq!(eb, ea, "replica b reached the same revision");
    let rb = poll(&b, Some(&token), "", &[]).await;
    assert_eq!(header(&rb, "etag"), ea, "same ETag on both replicas");
    assert_eq!(rb.bytes().await?, ba, "byte-identical on both replicas");

    let waiting = long_poll(&b, &token, &ea);
    parked(&b.running.services, 1).await;
    let next = change(&a.running.services, "linear").await;
    assert!(next > rev);
    let res = waiting.await??;
    assert_eq!(res.status(), StatusCode::OK, "replica b woke on a's change");
    assert_eq!(header(&res, "portcullis-revision"), next.to_string());
    let body_b = res.bytes().await?;
    published(&a.running.services, next).await;
    let body_a = poll(&a, Some(&token), "", &[]).await.bytes().await?;
    assert_eq!(body_a, body_b);
    a.stop().await;
    b.stop().await;
    drop(db);
    Ok(())
}
