//! The SSRF guard against tiny local axum servers. Only loopback is ever
//! connected to; every other address in here is refused before connecting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use portcullis_discovery::{
    AddressKind, BlockReason, FetchRequest, Guard, GuardConfig, GuardError,
};

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A server with the test routes; `target` is where `/redirect` points.
async fn serve(target: Option<String>) -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/redirect",
            get(move || {
                let target = target.clone().unwrap_or_default();
                async move { (StatusCode::FOUND, [(header::LOCATION, target)]) }
            }),
        )
        .route(
            "/loop",
            get(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/loop")],
                )
            }),
        )
        .route(
            "/auth",
            get(|headers: HeaderMap| async move {
                if headers.contains_key(header::AUTHORIZATION) {
                    "with credential"
                } else {
                    "without credential"
                }
            }),
        )
        .route(
            "/endless",
            get(|| async {
                // No Content-Length: a body that never ends.
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let stream =
                    futures_util::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone()));
                Body::from_stream(stream)
            }),
        )
        .route(
            "/announced",
            get(|| async {
                Response::builder()
                    .header(header::CONTENT_LENGTH, "10000000")
                    .body(Body::from_stream(futures_util::stream::pending::<
                        Result<Bytes, Infallible>,
                    >()))
                    .unwrap()
            }),
        )
        .route(
            "/hang",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                let first = futures_util::stream::once(async {
                    Ok::<_, Infallible>(Bytes::from_static(b"partial"))
                });
                Body::from_stream(futures_util::StreamExt::chain(
                    first,
                    futures_util::stream::pending(),
                ))
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            hits.clone(),
            |State(hits): State<Hits>, req, next: axum::middleware::Next| async move {
                hits.0.fetch_add(1, Ordering::SeqCst);
                next.run(req).await
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

fn guard_with(allowed: &[String], tweak: impl FnOnce(&mut GuardConfig)) -> Guard {
    let mut config = GuardConfig {
        allowed_hosts: allowed.to_vec(),
        ..GuardConfig::default()
    };
    tweak(&mut config);
    Guard::new(config).unwrap()
}

fn guard(allowed: &[String]) -> Guard {
    guard_with(allowed, |_| {})
}

fn blocked_kind(err: &GuardError) -> Option<AddressKind> {
    match err {
        GuardError::Blocked {
            reason: BlockReason::Literal(kind) | BlockReason::Resolved { kind, .. },
            ..
        } => Some(*kind),
        _ => None,
    }
}

#[tokio::test]
async fn refuses_internal_targets_when_not_allowed() {
    let (addr, hits) = serve(None).await;
    let g = guard(&[]);
    let port = addr.port();
    let cases = [
        (format!("http://127.0.0.1:{port}/ok"), AddressKind::Loopback),
        (format!("http://localhost:{port}/ok"), AddressKind::Loopback),
        (format!("http://[::1]:{port}/ok"), AddressKind::Loopback),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/ok"),
            AddressKind::Loopback,
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            AddressKind::CloudMetadata,
        ),
        ("http://10.0.0.1/".to_owned(), AddressKind::Private),
        ("https://192.168.1.1/".to_owned(), AddressKind::Private),
        ("http://100.64.0.1/".to_owned(), AddressKind::SharedCgnat),
        ("http://0.0.0.0/".to_owned(), AddressKind::Unspecified),
        ("http://[fe80::1]/".to_owned(), AddressKind::LinkLocal),
    ];
    for (url, kind) in cases {
        let err = g.get(&url).await.unwrap_err();
        assert_eq!(blocked_kind(&err), Some(kind), "{url}: {err}");
    }
    assert_eq!(hits.get(), 0, "nothing may reach the server");

    let err = g
        .get(&format!("http://localhost:{port}/ok"))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("localhost resolves to ")
            && message.ends_with(", a loopback address; allow the host in Settings to reach it"),
        "{message}"
    );
}

#[tokio::test]
async fn refuses_bad_schemes_and_userinfo() {
    let g = guard(&[]);
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ] {
        let err = g.get(url).await.unwrap_err();
        assert!(
            matches!(
                err,
                GuardError::Blocked {
                    reason: BlockReason::Scheme(_),
                    ..
                } | GuardError::InvalidUrl { .. }
            ),
            "{url}: {err:?}"
        );
    }
    let err = g.get("http://admin:secret@example.com/").await.unwrap_err();
    assert!(matches!(
        err,
        GuardError::Blocked {
            reason: BlockReason::Userinfo,
            ..
        }
    ));
    let err = g.get("not a url").await.unwrap_err();
    assert!(matches!(err, GuardError::InvalidUrl { .. }));
}

#[tokio::test]
async fn allows_allow_listed_host_and_port_only() {
    let (addr, hits) = serve(None).await;
    let port = addr.port();

    let g = guard(&[format!("127.0.0.1:{port}")]);
    let fetched = g.get(&format!("http://127.0.0.1:{port}/ok")).await.unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(&fetched.body[..], b"ok");
    assert_eq!(hits.get(), 1);

    // Another port on the same host is not covered.
    let g = guard(&[format!("127.0.0.1:{}", port.wrapping_add(1))]);
    let err = g
        .get(&format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap_err();
    assert!(err.is_blocked(), "{err}");

    // Names resolve through the guard's resolver; allowing the name lets it
    // resolve to loopback, on the listed port only.
    let g = guard(&[format!("LocalHost:{port}")]);
    let fetched = g.get(&format!("http://localhost:{port}/ok")).await;
    // localhost may resolve to ::1 first, where nothing listens; the
    // resolver returns all addresses and the connector falls back.
    assert_eq!(fetched.unwrap().status, 200);
    let g = guard(&["localhost:1".to_owned()]);
    let err = g
        .get(&format!("http://localhost:{port}/ok"))
        .await
        .unwrap_err();
    assert_eq!(blocked_kind(&err), Some(AddressKind::Loopback), "{err}");

    // A host without a port covers every port.
    let g = guard(&["127.0.0.1".to_owned()]);
    assert!(g.get(&format!("http://127.0.0.1:{port}/ok")).await.is_ok());
    assert_eq!(hits.get(), 3);
}

#[tokio::test]
async fn redirects_are_checked_per_hop() {
    for target in [
        "http://127.0.0.2:1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:10.0.0.1]/".to_owned(),
        "http://localhost:1/".to_owned(),
    ] {
        let (addr, hits) = serve(Some(target.clone())).await;
        let g = guard(&[addr.to_string()]);
        let err = g.get(&format!("http://{addr}/redirect")).await.unwrap_err();
        assert!(
            matches!(
                err,
                GuardError::Blocked {
                    redirected: true,
                    ..
                }
            ),
            "{target}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("the server redirected to a refused target: "),
            "{err}"
        );
        assert_eq!(hits.get(), 1);
    }

    let (addr, _) = serve(Some("ftp://example.com/x".to_owned())).await;
    let err = guard(&[addr.to_string()])
        .get(&format!("http://{addr}/redirect"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        GuardError::Blocked {
            reason: BlockReason::Scheme(_),
            redirected: true,
            ..
        }
    ));
}

#[tokio::test]
async fn redirects_within_the_allow_list_are_followed_and_limited() {
    let (other, other_hits) = serve(None).await;
    let (addr, hits) = serve(Some(format!("http://{other}/auth"))).await;
    let g = guard(&[addr.to_string(), other.to_string()]);

    // Cross-origin: followed, but the credential stays behind.
    let request = FetchRequest::get(format!("http://{addr}/redirect"))
        .header(header::AUTHORIZATION, "Bearer secret".parse().unwrap());
    let fetched = g.fetch(request).await.unwrap();
    assert_eq!(&fetched.body[..], b"without credential");
    assert_eq!(fetched.url.as_str(), format!("http://{other}/auth"));
    assert_eq!((hits.get(), other_hits.get()), (1, 1));

    // Same origin keeps it.
    let request = FetchRequest::get(format!("http://{other}/auth"))
        .header(header::AUTHORIZATION, "Bearer secret".parse().unwrap());
    assert_eq!(
        &g.fetch(request).await.unwrap().body[..],
        b"with credential"
    );

    let err = g.get(&format!("http://{addr}/loop")).await.unwrap_err();
    assert!(
        matches!(err, GuardError::TooManyRedirects { limit: 3 }),
        "{err:?}"
    );
    assert_eq!(hits.get(), 1 + 4, "first request and three redirects");
}

#[tokio::test]
async fn body_limit_is_enforced_while_streaming() {
    let (addr, _) = serve(None).await;
    let g = guard_with(&[addr.to_string()], |c| {
        c.max_body_bytes = 1024 * 1024;
        c.timeout = Duration::from_secs(5);
    });
    let started = Instant::now();
    // The body never ends: only stopping at the limit can finish this.
    let err = g.get(&format!("http://{addr}/endless")).await.unwrap_err();
    assert!(
        matches!(err, GuardError::TooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        "the response is larger than the 1048576-byte limit"
    );

    // An announced length over the limit fails before reading anything.
    let err = g
        .get(&format!("http://{addr}/announced"))
        .await
        .unwrap_err();
    assert!(matches!(err, GuardError::TooLarge { .. }), "{err:?}");

    let mut response = g
        .send(FetchRequest::get(format!("http://{addr}/endless")))
        .await
        .unwrap();
    let mut read = 0;
    let err = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => panic!("endless body ended"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, GuardError::TooLarge { .. }));
    assert!(read <= 1024 * 1024);
}

#[tokio::test]
async fn silent_servers_hit_the_deadline() {
    let (addr, _) = serve(None).await;
    let g = guard_with(&[addr.to_string()], |c| {
        c.timeout = Duration::from_millis(300);
    });
    for path in ["/hang", "/slow-body"] {
        let started = Instant::now();
        let err = g.get(&format!("http://{addr}{path}")).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, GuardError::Timeout { .. }), "{path}: {err:?}");
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_secs(3),
            "{path}: {took:?}"
        );
        assert_eq!(err.to_string(), "no complete answer within 300 ms");
    }

    // A listener that accepts and never speaks HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let g = guard_with(&[silent.to_string()], |c| {
        c.timeout = Duration::from_millis(300);
    });
    let err = g.get(&format!("http://{silent}/")).await.unwrap_err();
    assert!(matches!(err, GuardError::Timeout { .. }), "{err:?}");
    holder.abort();
}

#[tokio::test]
async fn connection_refused_is_reported() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = guard(&[addr.to_string()])
        .get(&format!("http://{addr}/"))
        .await
        .unwrap_err();
    assert!(matches!(err, GuardError::Connect(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("could not connect to {addr}")),
        "{err}"
    );
}

#[tokio::test]
async fn error_for_status() {
    let (addr, _) = serve(None).await;
    let fetched = guard(&[addr.to_string()])
        .get(&format!("http://{addr}/missing"))
        .await
        .unwrap();
    assert_eq!(fetched.status, 404);
    let err = fetched.error_for_status().unwrap_err();
    assert!(matches!(err, GuardError::Http(404)));
}
