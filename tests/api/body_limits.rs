//! Body and count limits of every machine-facing door — SCIM, the SAML ACS,
//! the policy API (status and decisions), OAuth and the console's server
//! functions — each answered 413/400/422 in the format its caller reads,
//! with nothing written.

use crate::harness::{audit_count, audit_rows, TestDb, TestResult, TestServer};
use portcullis_domain::Actor;
use portcullis_types::GatewayInput;
use serde_json::{json, Value};

/// The body limit these tests run with.
const LIMIT: usize = 131_072;
const LIMIT_ENV: &str = "131072";

fn big(n: usize) -> String {
    "x".repeat(n)
}

/// POSTs `payload` to `path` as a chunked body (no `Content-Length`) over
/// raw TCP; returns the status, the head and the body of the answer.
async fn chunked_post(
    srv: &TestServer,
    path: &str,
    token: &str,
    payload: &str,
) -> Result<(u16, String, String), Box<dyn std::error::Error + Send + Sync>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    for chunk in payload.as_bytes().chunks(16_384) {
        // The server may answer and close before the last chunk.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || s.write_all(chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_owned(), body.to_owned()))
}

fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// SCIM: an oversized body (declared or chunked) is a SCIM error 413; more
/// PATCH operations than allowed is a SCIM 400; nothing is written.
#[tokio::test]
async fn scim_body_and_operation_limits() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_MAX_BODY_BYTES", LIMIT_ENV)],
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
    let users = srv.url("/scim/v2/Users");
    let user = |name: &str, display: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "displayName": display,
            "active": true,
        })
    };
    let before = audit_count(&srv.db.url).await;

    // Declared too long: refused before the body is read.
    let res = http
        .post(&users)
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(user("big@acme.test", &big(LIMIT + 1)).to_string())
        .send()
        .await?;
    assert_eq!(res.status(), 413);
    assert_eq!(content_type(&res), "application/scim+json");
    let body: Value = res.json().await?;
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "413");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("131072 bytes"),
        "{body}"
    );

    // Chunked, with no length: refused when it runs over.
    let (status, head, body) =
        chunked_post(&srv, "/scim/v2/Users", &token, &big(LIMIT * 2)).await?;
    assert_eq!(status, 413, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/scim+json"),
        "{head}"
    );
    assert!(body.contains(r#""status":"413""#), "{body}");

    // Neither was written.
    let list: Value = http
        .get(&users)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list["totalResults"], 0, "{list}");
    assert_eq!(audit_count(&srv.db.url).await, before);

    // A PATCH of 1,001 operations (well under the byte limit) is refused
    // whole: the user keeps its name.
    let res = http
        .post(&users)
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(user("alice@acme.test", "Alice").to_string())
        .send()
        .await?;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({ "op": "replace", "path": "displayName", "value": format!("A{i}") }))
        .collect();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops,
    });
    let res = http
        .patch(srv.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await?;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await?;
    assert_eq!(body["scimType"], "invalidValue", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 1000 operations"),
        "{body}"
    );
    let got: Value = http
        .get(srv.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(got["displayName"], "Alice");
    srv.stop().await;
    Ok(())
}

/// The SAML ACS, OAuth endpoints and console server functions: 413 in the
/// caller's format, nobody signed in, no client registered, nothing audited.
#[tokio::test]
async fn browser_and_oauth_body_limits() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_MAX_BODY_BYTES", LIMIT_ENV)],
    )
    .await;
    let c = srv.client();
    let before = audit_count(&srv.db.url).await;

    // A browser POSTing an oversized SAMLResponse reads a sentence.
    let res = c
        .post(srv.url("/sso/saml/acme/acs"))
        .form(&[("SAMLResponse", big(LIMIT + 1)), ("RelayState", "r".into())])
        .send()
        .await?;
    assert_eq!(res.status(), 413);
    assert!(
        content_type(&res).starts_with("text/plain"),
        "{}",
        content_type(&res)
    );
    assert!(res.headers().get("set-cookie").is_none());
    let text = res.text().await?;
    assert!(text.contains("larger than the 131072 bytes"), "{text}");

    // OAuth clients read an OAuth error.
    for path in ["/oauth/token", "/oauth/register"] {
        let res = c
            .post(srv.url(path))
            .header("content-type", "application/json")
            .body(json!({ "client_name": big(LIMIT + 1) }).to_string())
            .send()
            .await?;
        assert_eq!(res.status(), 413, "{path}");
        assert_eq!(content_type(&res), "application/json", "{path}");
        let body: Value = res.json().await?;
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }

    // The console's own calls read a JSON problem.
    let res = c
        .post(srv.url("/api/console/sign_in"))
        .form(&[("email", big(LIMIT + 1)), ("password", "p".into())])
        .send()
        .await?;
    assert_eq!(res.status(), 413);
    assert_eq!(content_type(&res), "application/problem+json");
    let body: Value = res.json().await?;
    assert_eq!(body["code"], "payload_too_large");
    assert_eq!(body["detail"], body["message"]);

    assert_eq!(audit_count(&srv.db.url).await, before, "nothing audited");
    let pool = sqlx::SqlitePool::connect(&srv.db.url).await?;
    let (clients,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_clients")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    assert_eq!(clients, 0, "no client registered");
    srv.stop().await;
    Ok(())
}

/// The policy API: status and decisions over the byte limit are 413 JSON;
/// more than 500 decisions is 422 naming `decisions`; nothing is recorded.
#[tokio::test]
async fn policy_api_body_and_count_limits() -> TestResult {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_MAX_BODY_BYTES", LIMIT_ENV)],
    )
    .await;
    let gw = srv
        .running
        .services
        .gateways
        .create(
            &Actor::system("test"),
            &GatewayInput {
                name: "edge".into(),
                description: String::new(),
                server_ids: Vec::new(),
            },
        )
        .await?;
    let c = srv.client();
    for path in ["/api/v1/gateway/status", "/api/v1/decisions"] {
        let res = c
            .post(srv.url(path))
            .bearer_auth(&gw.token)
            .header("content-type", "application/json")
            .body(json!({ "version": big(LIMIT + 1) }).to_string())
            .send()
            .await?;
        assert_eq!(res.status(), 413, "{path}");
        assert_eq!(content_type(&res), "application/problem+json", "{path}");
        let body: Value = res.json().await?;
        assert_eq!(body["code"], "payload_too_large", "{path}: {body}");
        assert_eq!(
            (&body["type"], &body["status"]),
            (
                &json!("urn:portcullis:problem:payload_too_large"),
                &json!(413)
            ),
            "RFC 9457 members: {body}"
        );
    }

    let decision = |i: usize| {
        json!({ "at": "2026-11-26T10:00:03Z", "user": "usr_alice", "server": "srv_github",
                "tool": format!("tool_{i}"), "allowed": true, "revision": 1 })
    };
    let many: Vec<Value> = (0..501).map(decision).collect();
    let body = json!({ "decisions": many }).to_string();
    assert!(body.len() < LIMIT, "the count, not the size, is refused");
    let res = c
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&gw.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await?;
    assert_eq!(problem["field"], "decisions", "{problem}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 500"),
        "{problem}"
    );
    assert!(audit_rows(&srv.db.url, "gateway.decision").await.is_empty());

    // 500 are accepted.
    let ok: Vec<Value> = (0..500).map(decision).collect();
    let res = c
        .post(srv.url("/api/v1/decisions"))
        .bearer_auth(&gw.token)
        .json(&json!({ "decisions": ok }))
        .send()
        .await?;
    assert_eq!(res.status(), 202);
    assert_eq!(audit_rows(&srv.db.url, "gateway.decision").await.len(), 500);
    srv.stop().await;
    Ok(())
}
