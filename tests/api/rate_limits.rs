//! The rate limits of issue 20 beyond sign-in (`console.rs` has those): a
//! SCIM token past its budget gets 429 with `Retry-After` in SCIM's error
//! format, an address starting too many SSO sign-ins gets 429, and a
//! gateway credential the database refused is refused from memory for a
//! while (a gateway retrying a bad credential in a loop costs no query per
//! request), an admin API key past its budget gets 429 (another key keeps
//! its own), and an address presenting unknown API keys is refused before
//! any lookup. Each refusal is counted on `/metrics`, not audited.

use portcullis_domain::Actor;
use serde_json::Value;

use crate::harness::{audit_rows, TestDb, TestResult, TestServer};

async fn metric(srv: &TestServer, line_start: &str) -> f64 {
    let text = srv
        .client()
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("metrics: {e}"))
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_scim_token_past_its_budget_gets_429_in_scim_format() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_SCIM_REQUESTS_PER_MINUTE", "3")],
    )
    .await;
    let token = srv
        .running
        .services
        .directory
        .create_directory(&Actor::system("test"), "Okta")
        .await?
        .token;
    let http = reqwest::Client::new();
    let get = || {
        http.get(srv.url("/scim/v2/Users"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    for i in 0..3 {
        assert_eq!(get().await?.status(), 200, "request {i}");
    }
    let res = get().await?;
    assert_eq!(res.status(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let body: Value = res.json().await?;
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "429");
    assert!(body["detail"]
        .as_str()
        .unwrap_or("")
        .contains("too many requests"));
    // Another directory's token has its own budget.
    let other = srv
        .running
        .services
        .directory
        .create_directory(&Actor::system("test"), "Entra")
        .await?
        .token;
    let res = http
        .get(srv.url("/scim/v2/Users"))
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    assert!(metric(&srv, "rate_limit_hits_total{limit=\"scim\"}").await >= 1.0);
    srv.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_address_starting_too_many_sso_sign_ins_gets_429() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_SSO_STARTS_PER_MINUTE", "2")],
    )
    .await;
    let start = || {
        srv.client()
            .post(srv.url("/sso/start"))
            .form(&[("email", "someone@nowhere.example"), ("next", "/")])
            .send()
    };
    for i in 0..2 {
        let res = start().await?;
        assert!(
            res.status().is_redirection(),
            "start {i}: on to the password step ({})",
            res.status()
        );
    }
    let res = start().await?;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await?.contains("Too many sign-ins"));
    assert!(metric(&srv, "rate_limit_hits_total{limit=\"sso_start\"}").await >= 1.0);
    srv.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_refused_gateway_credential_is_refused_from_memory() -> TestResult {
    let srv = TestServer::start().await;
    let gateways = &srv.running.services.gateways;
    let before = gateways.rejected_credentials();
    for _ in 0..5 {
        let res = srv
            .client()
            .get(srv.url("/api/v1/policy"))
            .header("authorization", "Bearer pcg_not-a-credential")
            .send()
            .await?;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        gateways.rejected_credentials() - before,
        4,
        "the database was asked once; memory refused the other four"
    );
    assert!(metric(&srv, "rate_limit_hits_total{limit=\"gateway_credential\"}").await >= 4.0);
    srv.stop().await;
    Ok(())
}

/// The secret of a new auditor API key named `name`.
async fn api_key(srv: &TestServer, name: &str) -> String {
    crate::harness::api_key(srv, name, "auditor").await.secret
}

/// Asserts a 429 problem from the admin API whose detail says `what`, with
/// `Retry-After` within the minute.
async fn assert_rate_limited(res: reqwest::Response, what: &str) -> TestResult {
    assert_eq!(res.status(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let body: Value = res.json().await?;
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["status"], 429, "{body}");
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(detail.contains(what), "detail: {detail}");
    Ok(())
}

#[tokio::test]
async fn an_api_key_past_its_budget_gets_429_and_another_key_keeps_its_own() -> TestResult {
    let db = TestDb::sqlite();
    let srv = TestServer::start_on(
        db.alias(),
        &[("PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE", "3")],
    )
    .await;
    let busy = api_key(&srv, "runaway script").await;
    let other = api_key(&srv, "siem").await;
    let http = reqwest::Client::new();
    let get = |key: &str| {
        http.get(srv.url("/api/v1/admin/people"))
            .bearer_auth(key)
            .send()
    };
    for i in 0..3 {
        let res = get(&busy).await?;
        assert_eq!(res.status(), 200, "request {i}");
    }
    assert_rate_limited(get(&busy).await?, "too many requests with this API key").await?;
    assert_eq!(get(&other).await?.status(), 200, "another key has its own");
    // The three answered reads are audited as api.call; the refusal is not.
    let calls = audit_rows(&db.url, "api.call").await;
    let by = |who: &str| calls.iter().filter(|r| r.2 == who).count();
    assert_eq!(by("API key runaway script"), 3, "{calls:?}");
    assert_eq!(by("API key siem"), 1, "{calls:?}");
    assert!(metric(&srv, "rate_limit_hits_total{limit=\"api_key\"}").await >= 1.0);
    srv.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_address_presenting_unknown_api_keys_is_refused_before_the_lookup() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_API_KEY_FAILURES_PER_MINUTE", "2")],
    )
    .await;
    let good = api_key(&srv, "siem").await;
    let http = reqwest::Client::new();
    let get = |key: &str| {
        http.get(srv.url("/api/v1/admin/people"))
            .bearer_auth(key)
            .send()
    };
    // A right key does not count against the address.
    assert_eq!(get(&good).await?.status(), 200);
    for i in 0..2 {
        let res = get(&format!("pck_guess{i}")).await?;
        assert_eq!(res.status(), 401, "guess {i}");
        assert!(res.headers().contains_key("www-authenticate"));
    }
    assert_rate_limited(
        get("pck_guess2").await?,
        "too many unknown, revoked or expired API keys from this address",
    )
    .await?;
    // The address is refused for the rest of the minute, whatever it sends:
    // even the right key, so the refusal comes before the key is looked up.
    assert_rate_limited(get(&good).await?, "from this address").await?;
    assert!(metric(&srv, "rate_limit_hits_total{limit=\"api_key_failure\"}").await >= 2.0);
    srv.stop().await;
    Ok(())
}
