//! The listener's limits (issue 20): a client that never finishes its
//! request head, a kept-alive connection left idle, a request body that
//! never arrives, and more connections than the caps allow. Each case hangs
//! (or is served) without its protection.
//!
//! Raw TCP rather than an HTTP client: the point is what a misbehaving
//! client does byte by byte.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{TestDb, TestServer};

/// A request whose body stops after 11 of its 100 bytes (a handler that
/// reads its body first: the token endpoint).
const PARTIAL_BODY: &[u8] = b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
    grant_type=";

/// Longer than every timeout configured below, so a connection still open
/// after it was not cut.
pub(crate) const PATIENCE: Duration = Duration::from_secs(8);

async fn connect(srv: &TestServer) -> TcpStream {
    let addr = srv.base.trim_start_matches("http://");
    TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// What the server sends until it closes the connection (or `PATIENCE`
/// runs out: `None`).
pub(crate) async fn until_closed(tcp: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether `got` holds a whole response (head and `Content-Length` body).
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    body.len() >= length
}

/// One complete `GET /healthz` on `tcp` (the console's or the gateway's);
/// the response's status line.
pub(crate) async fn healthz(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !complete(&got) {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no answer to /healthz"))
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        assert!(got.len() <= 64 << 10, "an endless answer to /healthz");
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn slow_heads_idle_connections_and_slow_bodies_are_cut_off() {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[
            ("PORTCULLIS_HTTP_HEADER_TIMEOUT_SECS", "1"),
            ("PORTCULLIS_HTTP_IDLE_TIMEOUT_SECS", "3"),
            ("PORTCULLIS_HTTP_BODY_TIMEOUT_SECS", "1"),
        ],
    )
    .await;

    // A connection that sends nothing, and one that stops mid-head
    // (slowloris), are closed without an answer.
    let mut silent = connect(&srv).await;
    let mut slow = connect(&srv).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let started = Instant::now();
    assert_eq!(
        until_closed(&mut silent).await.as_deref(),
        Some(""),
        "a silent connection is closed, unanswered"
    );
    assert_eq!(
        until_closed(&mut slow).await.as_deref(),
        Some(""),
        "a connection that never finishes its head is closed, unanswered"
    );
    assert!(started.elapsed() < PATIENCE);

    // Kept alive: idle longer than the header timeout is fine (the idle
    // timeout is its own, longer one); idle past it, the connection closes.
    let mut kept = connect(&srv).await;
    assert!(healthz(&mut kept).await.contains("200"));
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert!(
        healthz(&mut kept).await.contains("200"),
        "a kept-alive connection idle for less than the idle timeout is still served"
    );
    let idle_from = Instant::now();
    assert_eq!(until_closed(&mut kept).await.as_deref(), Some(""));
    assert!(
        idle_from.elapsed() >= Duration::from_secs(2),
        "closed by the idle timeout (3 s), not the header timeout (1 s): {:?}",
        idle_from.elapsed()
    );

    // A request body that never arrives in full is answered with an error
    // and the connection ends, instead of holding it forever.
    let mut body = connect(&srv).await;
    body.write_all(PARTIAL_BODY)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let answer = until_closed(&mut body)
        .await
        .unwrap_or_else(|| panic!("a body that never arrives held the connection open"));
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.is_empty() || status.contains(" 4"),
        "an error answer, or none: {answer:?}"
    );
}

#[tokio::test]
async fn connections_over_the_caps_are_closed_at_once() {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[
            ("PORTCULLIS_HTTP_MAX_CONNECTIONS_PER_IP", "4"),
            ("PORTCULLIS_HTTP_HEADER_TIMEOUT_SECS", "30"),
        ],
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut c = connect(&srv).await;
        assert!(healthz(&mut c).await.contains("200"));
        open.push(c);
    }
    // The fifth from the same address: accepted by the kernel, closed by
    // the server before it reads anything.
    let mut fifth = connect(&srv).await;
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(
        until_closed(&mut fifth).await.as_deref(),
        Some(""),
        "over the per-address cap: closed, unanswered"
    );
    // The four still work, and one closed makes room for another.
    assert!(healthz(&mut open[0]).await.contains("200"));
    drop(open.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut c = connect(&srv).await;
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await;
        let mut buf = [0u8; 64];
        if matches!(
            tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        ) {
            assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Refusals are counted (after the test's connections are gone, so this
    // request has room).
    drop(open);
    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        if let Ok(r) = srv.client().get(srv.url("/metrics")).send().await {
            break r.text().await.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "/metrics never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        text.contains("http_connections_refused_total{reason=\"per_ip\"}"),
        "refusals are counted: {text}"
    );
}

/// The source address of the newest audit event with `action`.
async fn audit_source(db_url: &str, action: &str) -> Option<String> {
    let db = portcullis_domain::Db::connect(db_url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let q = "SELECT source_ip FROM audit_events WHERE action = $1 ORDER BY seq DESC LIMIT 1";
    let row: Option<(Option<String>,)> = match &db {
        portcullis_domain::Db::Sqlite(p, _) => {
            sqlx::query_as(q).bind(action).fetch_optional(p).await
        }
        portcullis_domain::Db::Postgres(p, _) => {
            sqlx::query_as(q).bind(action).fetch_optional(p).await
        }
    }
    .unwrap_or_else(|e| panic!("audit: {e}"));
    db.close().await;
    row.and_then(|(ip,)| ip)
}

async fn failed_sign_in(srv: &TestServer, email: &str, forwarded_for: &str) -> u16 {
    srv.client()
        .post(srv.url("/api/console/sign_in"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", "not-the-password")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("sign-in: {e}"))
        .status()
        .as_u16()
}

/// Behind a trusted proxy the client is the right-most untrusted
/// `X-Forwarded-For` hop, for the audit log and the per-address sign-in
/// limit alike; from any other peer the header changes nothing.
#[tokio::test]
async fn the_client_behind_a_trusted_proxy_is_audited_and_limited_by_its_own_address() {
    let untrusted = TestServer::start().await;
    assert_eq!(
        failed_sign_in(&untrusted, "nobody@test.example", "198.51.100.7").await,
        401
    );
    assert_eq!(
        audit_source(&untrusted.db.url, "console.signin.failed")
            .await
            .as_deref(),
        Some("127.0.0.1"),
        "a spoofed header from an untrusted peer is ignored"
    );

    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.0/8, ::1")],
    )
    .await;
    // A client that forged its own hop is still seen at the address the
    // proxy appended.
    assert_eq!(
        failed_sign_in(&srv, "nobody@test.example", "6.6.6.6, 198.51.100.7").await,
        401
    );
    assert_eq!(
        audit_source(&srv.db.url, "console.signin.failed")
            .await
            .as_deref(),
        Some("198.51.100.7")
    );
    // The per-address limit counts 198.51.100.7, not the proxy: after its
    // failures (each on a different account) it is refused, while another
    // client behind the same proxy is not.
    let per_ip = portcullis_domain::console::MAX_FAILURES_PER_IP;
    for i in 1..per_ip {
        assert_eq!(
            failed_sign_in(&srv, &format!("p{i}@test.example"), "198.51.100.7").await,
            401,
            "failure {i}"
        );
    }
    assert_eq!(
        failed_sign_in(&srv, "last@test.example", "198.51.100.7").await,
        429,
        "198.51.100.7 is over its limit"
    );
    assert_eq!(
        failed_sign_in(&srv, "last@test.example", "198.51.100.8").await,
        401,
        "another client behind the same proxy is not"
    );
}

/// At shutdown, a request still busy (here: its body never arrives, with a
/// body timeout far longer than the test) is cut at the shutdown deadline
/// instead of holding the process.
#[tokio::test]
async fn shutdown_cuts_what_is_still_busy_at_its_deadline() {
    let srv = TestServer::start_on(
        TestDb::sqlite(),
        &[
            ("PORTCULLIS_HTTP_SHUTDOWN_SECS", "1"),
            ("PORTCULLIS_HTTP_BODY_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    let mut busy = connect(&srv).await;
    busy.write_all(PARTIAL_BODY)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    // Its head is read and the handler waits on the body.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(PATIENCE, srv.stop())
        .await
        .unwrap_or_else(|_| panic!("the shutdown waited on a request that never ends"));
    assert!(
        until_closed(&mut busy).await.is_some(),
        "the busy connection was cut"
    );
}
