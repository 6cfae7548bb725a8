//! Audit streaming to SIEMs (issue #19, item 6), on both backends: a
//! receiver started by the test for each kind — a webhook (checking every
//! request's HMAC signature), Splunk HEC (checking the token) and syslog
//! over TCP and over TLS (parsing RFC 5424 octet-counted frames) — is down
//! for a minute while events keep coming, and afterwards holds every event
//! exactly once by id, in order. Pausing, resuming, removing, the field
//! errors, the SSRF guard and the owner-only rule are checked too.

use crate::audit_evidence::invite;
use crate::harness::{backend_tests, test_tls, TestDb, TestResult};
use crate::storage::{owner, services_with};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use portcullis_domain::{Actor, Clock, Db, Error, ManualClock, Services, Settings};
use portcullis_types::{AuditSinkHealth, AuditSinkInput, AuditSinkSummary, Role};
use sha2::Sha256;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

backend_tests!(
    streaming_webhook_survives_an_outage_exactly_once,
    streaming_splunk_hec_survives_an_outage_exactly_once,
    streaming_syslog_tcp_survives_an_outage_exactly_once,
    streaming_syslog_tls_survives_an_outage_exactly_once,
    streaming_destinations_are_owner_managed_checked_and_guarded,
);

const WEBHOOK_KEY: &str = "webhook-key-0123456789abcdef";
const HEC_TOKEN: &str = "6a1f2c8e-hec-token";

/// What a receiver got: event ids in arrival order, and any request it
/// refused for a bad signature or token.
#[derive(Default)]
struct Received {
    ids: Mutex<Vec<String>>,
    bad: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl Received {
    fn ids(&self) -> Vec<String> {
        self.ids.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn bad(&self) -> Vec<String> {
        self.bad.lock().map(|v| v.clone()).unwrap_or_default()
    }
    /// The ids once at least `n` have arrived (or after 10 s). Plain syslog
    /// has no acknowledgement: the sender is done when its bytes are
    /// written, and the collector thread may still be reading them.
    async fn settled(&self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ids = self.ids();
            if ids.len() >= n || std::time::Instant::now() > deadline {
                return ids;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// An HTTP receiver for webhooks (`/hook`) and Splunk HEC
/// (`/services/collector/event`); 503 while `down`.
async fn http_receiver() -> (String, Arc<Received>) {
    async fn hook(
        State(r): State<Arc<Received>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        if r.down.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let sig = headers
            .get("x-portcullis-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (t, v1) = sig
            .split_once(",v1=")
            .map(|(t, v)| (t.trim_start_matches("t="), v))
            .unwrap_or_default();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(WEBHOOK_KEY.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        mac.update(format!("{t}.").as_bytes());
        mac.update(&body);
        if hex::decode(v1).map_or(true, |v| mac.verify_slice(&v).is_err()) {
            r.bad.lock().unwrap_or_else(|e| e.into_inner()).push(sig);
            return StatusCode::UNAUTHORIZED;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["schema"], "portcullis.audit/1");
        let mut ids = r.ids.lock().unwrap_or_else(|e| e.into_inner());
        for e in v["events"].as_array().cloned().unwrap_or_default() {
            ids.push(e["id"].as_str().unwrap_or_default().to_owned());
        }
        StatusCode::OK
    }
    async fn hec(
        State(r): State<Arc<Received>>,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, String) {
        if r.down.load(Ordering::SeqCst) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"text":"Server is busy","code":9}"#.into(),
            );
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != format!("Splunk {HEC_TOKEN}") {
            r.bad
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(auth.to_owned());
            return (
                StatusCode::FORBIDDEN,
                r#"{"text":"Invalid token","code":4}"#.into(),
            );
        }
        let mut ids = r.ids.lock().unwrap_or_else(|e| e.into_inner());
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            assert_eq!(v["sourcetype"], "portcullis:audit");
            assert!(v["time"].as_f64().is_some_and(|t| t > 1.7e9), "{line}");
            ids.push(v["event"]["id"].as_str().unwrap_or_default().to_owned());
        }
        (StatusCode::OK, r#"{"text":"Success","code":0}"#.into())
    }
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/services/collector/event", post(hec))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let host = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (host, received)
}

/// A syslog collector on `port` (TLS when `tls` is given): reads
/// octet-counted RFC 5424 frames until each connection closes. Stopping it
/// closes the port (connections are refused, as when a collector is down).
struct Collector {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(
        port: u16,
        tls: Option<Arc<openssl::ssl::SslAcceptor>>,
        received: Arc<Received>,
    ) -> Self {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("bind {port}: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let mut bytes = Vec::new();
                let read = match &tls {
                    Some(acc) => match acc.accept(stream) {
                        Ok(mut s) => s.read_to_end(&mut bytes).map(|_| ()),
                        Err(e) => Err(std::io::Error::other(e.to_string())),
                    },
                    None => {
                        let mut s = stream;
                        s.read_to_end(&mut bytes).map(|_| ())
                    }
                };
                if let Err(e) = read {
                    received
                        .bad
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(e.to_string());
                    continue;
                }
                parse_frames(&bytes, &received);
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Splits `LEN SP MSG` frames and records each message's event id (from
/// the JSON after the BOM, checked against the structured data's `id`).
fn parse_frames(mut bytes: &[u8], received: &Received) {
    while !bytes.is_empty() {
        let Some(space) = bytes.iter().position(|b| *b == b' ') else {
            panic!(
                "a frame without a length: {:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        let len: usize = std::str::from_utf8(&bytes[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad length {:?}", &bytes[..space]));
        let msg = std::str::from_utf8(&bytes[space + 1..space + 1 + len])
            .unwrap_or_else(|e| panic!("{e}"));
        bytes = &bytes[space + 1 + len..];
        assert!(
            msg.starts_with("<110>1 ") || msg.starts_with("<108>1 "),
            "{msg}"
        );
        let (header, json) = msg
            .split_once('\u{feff}')
            .unwrap_or_else(|| panic!("no BOM: {msg}"));
        let v: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            header.contains(&format!(
                "[portcullis@32473 id=\"{id}\" seq=\"{}\"",
                v["seq"]
            )),
            "{header}"
        );
        received
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
    }
}

/// Event ids after `seq`, in order, read with SQL.
async fn ids_after(db: &Db, seq: i64) -> Vec<String> {
    let sql = format!("SELECT id FROM audit_events WHERE seq > {seq} ORDER BY seq");
    let rows: Result<Vec<(String,)>, _> = match db {
        Db::Sqlite(p, _) => sqlx::query_as(&sql).fetch_all(p).await,
        Db::Postgres(p, _) => sqlx::query_as(&sql).fetch_all(p).await,
    };
    rows.unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.0)
        .collect()
}

async fn sink(svc: &Services, owner: &Actor, name: &str) -> AuditSinkSummary {
    let list = svc
        .audit
        .list_sinks(owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    list.into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no destination {name}"))
}

/// The outage drill every kind goes through. `down`/`up` take the receiver
/// away and bring it back; `received` is what it got.
async fn outage_drill(
    svc: &Services,
    clock: &ManualClock,
    owner: &Actor,
    input: AuditSinkInput,
    received: &Received,
    mut down: impl FnMut(),
    mut up: impl FnMut(),
) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let name = input.name.clone();
    let created = svc.audit.create_sink(owner, &input).await?;
    let start = created.delivered_through_seq;
    assert_eq!(created.health, AuditSinkHealth::Pending);
    assert_eq!(created.lag_events, 1, "its own creation waits: {created:?}");
    invite(svc, owner, "before", 3).await;
    assert_eq!(svc.audit.deliver_due().await?, 4);
    assert_eq!(received.settled(4).await, ids_after(svc.db(), start).await);
    let s = sink(svc, owner, &name).await;
    assert_eq!(
        (s.health, s.lag_events, s.delivered),
        (AuditSinkHealth::Healthy, 0, 4)
    );

    // Down for a minute while events keep coming; each due attempt fails.
    down();
    for i in 0..12 {
        invite(svc, owner, &format!("during{i}-"), 1).await;
        svc.audit.deliver_due().await?;
        clock.advance(chrono::Duration::seconds(5));
    }
    let s = sink(svc, owner, &name).await;
    assert_eq!(s.health, AuditSinkHealth::Failing, "{s:?}");
    assert_eq!(s.lag_events, 12);
    assert!(
        s.failures >= 4 && s.failures <= 12,
        "backoff spaces the attempts: {s:?}"
    );
    assert!(
        s.last_error.as_deref().is_some_and(|e| !e.is_empty()),
        "{s:?}"
    );
    assert!(s.oldest_pending_at.is_some());
    assert_eq!(received.ids().len(), 4, "nothing arrived while it was down");

    // Back: the next due attempt delivers everything, once, in order.
    up();
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(svc.audit.deliver_due().await?, 12);
    assert_eq!(svc.audit.deliver_due().await?, 0, "nothing is sent twice");
    let all = ids_after(svc.db(), start).await;
    assert_eq!(
        received.settled(all.len()).await,
        all,
        "every event exactly once, in order"
    );
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique.len(), all.len());
    let s = sink(svc, owner, &name).await;
    assert_eq!(
        (
            s.health,
            s.lag_events,
            s.failures,
            s.delivered,
            s.last_error
        ),
        (AuditSinkHealth::Healthy, 0, 0, 16, None)
    );
    assert_eq!(received.bad(), Vec::<String>::new());
    Ok(start)
}

fn settings(allowed: &str, ca: Option<Vec<u8>>) -> Settings {
    Settings {
        fetch_allowed_hosts: vec![allowed.to_owned()],
        fetch_extra_roots_pem: ca.into_iter().collect(),
        ..Settings::default()
    }
}

/// What an HTTP drill leaves: the services, the owner, where the stream
/// started, and what the receiver got.
type Drilled = (Services, Actor, i64, Arc<Received>);

/// The drill against the HTTP receiver (a webhook or HEC at `path`): down
/// answers 503.
async fn http_drill(
    db: &TestDb,
    name: &str,
    kind: &str,
    path: &str,
    secret: &str,
) -> Result<Drilled, Box<dyn std::error::Error + Send + Sync>> {
    let (host, received) = http_receiver().await;
    let (svc, clock) = services_with(db, settings(&host, None)).await;
    let owner = owner(&svc).await;
    let input = AuditSinkInput {
        name: name.into(),
        kind: kind.into(),
        url: format!("http://{host}{path}"),
        secret: secret.into(),
    };
    let (r, r2) = (received.clone(), received.clone());
    let start = outage_drill(
        &svc,
        &clock,
        &owner,
        input,
        &received,
        move || r.down.store(true, Ordering::SeqCst),
        move || r2.down.store(false, Ordering::SeqCst),
    )
    .await?;
    Ok((svc, owner, start, received))
}

async fn streaming_webhook_survives_an_outage_exactly_once(db: &TestDb) -> TestResult {
    let (svc, owner, start, received) =
        http_drill(db, "Webhook", "webhook", "/hook", WEBHOOK_KEY).await?;
    let s = sink(&svc, &owner, "Webhook").await;

    // Paused: events wait; resumed: they follow; both audited.
    svc.audit.set_sink_enabled(&owner, &s.id, false).await?;
    invite(&svc, &owner, "paused", 2).await;
    assert_eq!(svc.audit.deliver_due().await?, 0);
    let paused = sink(&svc, &owner, "Webhook").await;
    assert_eq!(
        (paused.health, paused.lag_events),
        (AuditSinkHealth::Paused, 3)
    );
    svc.audit.set_sink_enabled(&owner, &s.id, true).await?;
    assert_eq!(svc.audit.deliver_due().await?, 4);
    assert_eq!(received.ids(), ids_after(svc.db(), start).await);

    // Removed: audited, nothing more sent.
    svc.audit.delete_sink(&owner, &s.id).await?;
    invite(&svc, &owner, "gone", 1).await;
    assert_eq!(svc.audit.deliver_due().await?, 0);
    assert!(svc.audit.list_sinks(&owner).await?.is_empty());
    let actions: Vec<String> = {
        let sql = "SELECT action FROM audit_events WHERE action LIKE 'audit.sink.%' ORDER BY seq";
        let rows: Vec<(String,)> = match svc.db() {
            Db::Sqlite(p, _) => sqlx::query_as(sql).fetch_all(p).await?,
            Db::Postgres(p, _) => sqlx::query_as(sql).fetch_all(p).await?,
        };
        rows.into_iter().map(|r| r.0).collect()
    };
    assert_eq!(
        actions,
        [
            "audit.sink.created",
            "audit.sink.paused",
            "audit.sink.resumed",
            "audit.sink.deleted"
        ]
    );
    // The key never reaches the log.
    let sql = format!("SELECT COUNT(*) FROM audit_events WHERE details LIKE '%{WEBHOOK_KEY}%'");
    let n: (i64,) = match svc.db() {
        Db::Sqlite(p, _) => sqlx::query_as(&sql).fetch_one(p).await?,
        Db::Postgres(p, _) => sqlx::query_as(&sql).fetch_one(p).await?,
    };
    assert_eq!(n.0, 0);
    Ok(())
}

async fn streaming_splunk_hec_survives_an_outage_exactly_once(db: &TestDb) -> TestResult {
    http_drill(
        db,
        "Splunk",
        "splunk_hec",
        "/services/collector/event",
        HEC_TOKEN,
    )
    .await?;
    Ok(())
}

/// The syslog drill over TCP or TLS: the collector is stopped (the port
/// refuses connections) and started again on the same port.
async fn syslog_drill(db: &TestDb, tls: bool) -> TestResult {
    let test_tls = tls.then(test_tls);
    let acceptor = test_tls.as_ref().map(|t| t.acceptor.clone());
    let received = Arc::new(Received::default());
    let collector = Collector::start(0, acceptor.clone(), received.clone());
    let port = collector.port;
    let host = if tls { "localhost" } else { "127.0.0.1" };
    let (svc, clock) = services_with(
        db,
        settings(&format!("{host}:{port}"), test_tls.map(|t| t.ca_pem)),
    )
    .await;
    let owner = owner(&svc).await;
    let input = AuditSinkInput {
        name: "Syslog".into(),
        kind: "syslog".into(),
        url: format!("{}://{host}:{port}", if tls { "tls" } else { "tcp" }),
        secret: String::new(),
    };
    let slot = Arc::new(Mutex::new(Some(collector)));
    let (s1, s2) = (slot.clone(), slot.clone());
    let r = received.clone();
    outage_drill(
        &svc,
        &clock,
        &owner,
        input,
        &received,
        move || {
            if let Some(c) = s1.lock().unwrap_or_else(|e| e.into_inner()).take() {
                c.stop();
            }
        },
        move || {
            *s2.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Collector::start(port, acceptor.clone(), r.clone()));
        },
    )
    .await?;
    let s = sink(&svc, &owner, "Syslog").await;
    if let Some(last) = s.last_success_at {
        assert_eq!(last, clock.now());
    }
    if let Some(c) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
        c.stop();
    }
    Ok(())
}

async fn streaming_syslog_tcp_survives_an_outage_exactly_once(db: &TestDb) -> TestResult {
    syslog_drill(db, false).await
}

async fn streaming_syslog_tls_survives_an_outage_exactly_once(db: &TestDb) -> TestResult {
    syslog_drill(db, true).await
}

async fn streaming_destinations_are_owner_managed_checked_and_guarded(db: &TestDb) -> TestResult {
    let (svc, _) = services_with(db, Settings::default()).await;
    let owner = owner(&svc).await;
    let admin = Actor {
        role: Some(Role::Admin),
        ..owner.clone()
    };
    let input = |kind: &str, url: &str, secret: &str| AuditSinkInput {
        name: "SIEM".into(),
        kind: kind.into(),
        url: url.into(),
        secret: secret.into(),
    };
    assert!(matches!(
        svc.audit
            .create_sink(&admin, &input("syslog", "tcp://siem.example:514", ""))
            .await,
        Err(Error::Forbidden(_))
    ));
    let fields = |r: portcullis_domain::Result<AuditSinkSummary>| match r {
        Err(Error::Invalid(e)) => e
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let e = fields(
        svc.audit
            .create_sink(
                &owner,
                &input("webhook", "https://siem.example/in", "short"),
            )
            .await,
    );
    assert_eq!(e, ["secret: the signing key needs at least 16 characters"]);
    // Loopback is refused unless allowed (the SSRF guard), for syslog too.
    let e = fields(
        svc.audit
            .create_sink(&owner, &input("syslog", "tcp://127.0.0.1:514", ""))
            .await,
    );
    assert!(
        e.len() == 1 && e[0].starts_with("url: ") && e[0].contains("127.0.0.1"),
        "{e:?}"
    );
    let e = fields(
        svc.audit
            .create_sink(
                &owner,
                &input(
                    "splunk_hec",
                    "http://[::1]:8088/services/collector/event",
                    HEC_TOKEN,
                ),
            )
            .await,
    );
    assert!(e[0].starts_with("url: "), "{e:?}");
    // A name is taken once; nothing was stored by the refusals.
    svc.audit
        .create_sink(&owner, &input("syslog", "tls://siem.example:6514", ""))
        .await?;
    assert!(matches!(
        svc.audit
            .create_sink(&owner, &input("syslog", "tls://other.example:6514", ""))
            .await,
        Err(Error::Conflict { .. })
    ));
    let list = svc.audit.list_sinks(&admin).await?;
    assert_eq!(list.len(), 1, "admins read the list");
    assert_eq!(list[0].url, "tls://siem.example:6514");
    Ok(())
}
