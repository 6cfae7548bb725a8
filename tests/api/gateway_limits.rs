//! The reference gateway's listener limits (issue 20): it serves on the
//! console's listener (`portcullis-listener`), so a client that never
//! finishes its request head, a kept-alive connection left idle, a request
//! body that never arrives and more connections than the caps allow are
//! cut off there too — while a long SSE stream, which sends nothing for
//! longer than the idle timeout, is not.
//!
//! Raw TCP where the point is what a misbehaving client does byte by byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use portcullis_gateway::config::FileLimits;
use portcullis_types::GrantTarget;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::{
    deploy, gateway_config_with, settled_revision, token_for, Deployed, Mcp, RES_A,
};
use crate::harness::*;
use crate::http_limits::{healthz, until_closed, PATIENCE};

/// The gateway's `/metrics`, retried while a cap may still refuse the
/// connection (closed connections are counted out asynchronously).
async fn metrics(addr: std::net::SocketAddr) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = reqwest::get(format!("http://{addr}/metrics")).await {
            return r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/metrics never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_gateway_cuts_slow_and_surplus_clients_but_not_long_streams() -> TestResult {
    // Kept for the whole test: dropping it deletes the database's folder.
    let db = TestDb::sqlite();
    let Deployed {
        upstream,
        env,
        credential,
        ..
    } = deploy(&db, GrantTarget::Server).await?;
    let state = tempfile::tempdir()?;
    let gw = portcullis_gateway::start(gateway_config_with(
        &env.srv.base,
        &credential,
        state.path(),
        &upstream.url,
        FileLimits {
            header_timeout_secs: Some(1),
            idle_timeout_secs: Some(3),
            body_timeout_secs: Some(1),
            ..FileLimits::default()
        },
    ))
    .await?;
    assert!(
        gw.wait_for_revision(settled_revision(&env).await, Duration::from_secs(10))
            .await
    );
    let connect = || TcpStream::connect(gw.addr);

    // A connection that sends nothing, and one that stops mid-head
    // (slowloris), are closed without an answer.
    let mut silent = connect().await?;
    let mut slow = connect().await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await?;
    let started = Instant::now();
    assert_eq!(until_closed(&mut silent).await.as_deref(), Some(""));
    assert_eq!(until_closed(&mut slow).await.as_deref(), Some(""));
    assert!(started.elapsed() < PATIENCE);
    let text = metrics(gw.addr).await;
    assert!(
        text.contains("gateway_connection_timeouts_total{phase=\"header\"} 2\n"),
        "both are counted: {text}"
    );

    // Kept alive: idle for less than the idle timeout is served; idle past
    // it, the connection closes.
    let mut kept = connect().await?;
    assert!(healthz(&mut kept).await.contains("200"));
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert!(
        healthz(&mut kept).await.contains("200"),
        "idle for less than the idle timeout (and longer than the header timeout): still served"
    );
    let idle_from = Instant::now();
    assert_eq!(until_closed(&mut kept).await.as_deref(), Some(""));
    assert!(
        idle_from.elapsed() >= Duration::from_secs(2),
        "closed by the idle timeout (3 s), not the header timeout (1 s): {:?}",
        idle_from.elapsed()
    );

    // A server-sent event stream (the MCP GET stream of a session) is a
    // response in flight: it stays open past the idle timeout although
    // neither side sends anything.
    let token = token_for(&env, RES_A).await;
    let mut alice = Mcp::new(format!("http://{}/github", gw.addr), Some(token.clone()));
    alice.initialize().await;
    let session = alice.session.clone().unwrap();
    let mut stream = connect().await?;
    stream
        .write_all(
            format!(
                "GET /github HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Accept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\
                 Mcp-Protocol-Version: 2025-06-18\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&head).contains("\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await??;
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.starts_with("http/1.1 200") && head.contains("content-type: text/event-stream"),
        "{head}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
        Err(_) => {}
        Ok(r) => panic!("the event stream ended past the idle timeout: {r:?}"),
    }
    drop(stream);

    // A request body that never arrives in full is answered 408 with a
    // JSON-RPC error, and the connection ends.
    let mut partial = connect().await?;
    partial
        .write_all(
            format!(
                "POST /github HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
                 Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-06-18\r\n\
                 Content-Length: 100\r\n\r\n{{\"jsonrpc\":"
            )
            .as_bytes(),
        )
        .await?;
    let answer = until_closed(&mut partial)
        .await
        .unwrap_or_else(|| panic!("a body that never arrives held the connection open"));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"code\":-32600") && answer.contains("did not arrive within 1 s"),
        "{answer}"
    );
    // The session still works afterwards.
    assert!(alice.tool_names().await.contains(&"search".to_owned()));
    gw.shutdown().await;

    // The per-address cap: a second gateway allowing 2 connections from
    // one address closes the third unread, and counts it. It also has a
    // 1 s shutdown deadline and a body timeout far longer than the test.
    let state = tempfile::tempdir()?;
    let gw = portcullis_gateway::start(gateway_config_with(
        &env.srv.base,
        &credential,
        state.path(),
        &upstream.url,
        FileLimits {
            max_connections_per_ip: Some(2),
            shutdown_grace_secs: Some(1),
            body_timeout_secs: Some(600),
            ..FileLimits::default()
        },
    ))
    .await?;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(gw.addr).await?;
        assert!(healthz(&mut c).await.contains("200"));
        open.push(c);
    }
    let mut third = TcpStream::connect(gw.addr).await?;
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(
        until_closed(&mut third).await.as_deref(),
        Some(""),
        "over the per-address cap: closed, unanswered"
    );
    assert!(
        healthz(&mut open[0]).await.contains("200"),
        "the two still work"
    );
    drop(open);
    let text = metrics(gw.addr).await;
    assert!(
        text.contains("gateway_connections_refused_total{reason=\"per_ip\"} 1\n"),
        "{text}"
    );

    // At shutdown, a request still busy (its body never arrives) is cut at
    // the shutdown deadline instead of holding the process.
    let mut busy = TcpStream::connect(gw.addr).await?;
    busy.write_all(
        format!(
            "POST /github HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
             Mcp-Protocol-Version: 2025-06-18\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\":"
        )
        .as_bytes(),
    )
    .await?;
    // Its head is read and the gateway waits on the body.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    tokio::time::timeout(PATIENCE, gw.shutdown())
        .await
        .unwrap_or_else(|_| panic!("the shutdown waited on a request that never ends"));
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "cut at the 1 s deadline, not after the body timeout: {:?}",
        stopping.elapsed()
    );
    assert!(
        until_closed(&mut busy).await.is_some(),
        "the busy connection was cut"
    );
    Ok(())
}
