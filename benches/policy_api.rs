//! Policy API (issue 6) under load, on a company-sized policy.
//!
//! 1. Populates, through the domain services of an in-process server
//!    (SQLite): 10,000 people over SCIM, 500 groups carrying 50,000
//!    memberships, 200 MCP servers with 25 tools each, 3,000 grants; and one
//!    gateway.
//! 2. **200 throughput** of `GET /api/v1/policy` for that bundle, identity
//!    and gzip, measured with `wrk` (a subprocess, loopback): requests/s,
//!    MB/s, p50/p99 and the bundle sizes. Skipped when `wrk` is missing
//!    (`apt-get install -y wrk`).
//! 3. **Propagation**: 1,000 gateways long-poll (`?wait=60` with the current
//!    ETag, gzip accepted); one grant is created; for each client the time
//!    from the moment `create_grant` returns (committed) to the client
//!    holding the new revision (first byte of the response, and whole body).
//!    Twice: gateways that take signed deltas (`A-IM: portcullis-delta`,
//!    answered `226 IM Used`; one client's delta is verified and applied
//!    with the gateway loader), then gateways that fetch the whole bundle.
//!    Once on one replica (SQLite), then — when 127.0.0.1:5432 answers — on
//!    two replicas sharing a fresh PostgreSQL database (same data), the
//!    change made through replica A and the clients split evenly over A and
//!    B, B's figures being the cross-replica ones. Also prints when each
//!    replica published the new bundle (so build time and fan-out can be
//!    told apart).
//!
//! Run: `cargo bench --bench policy_api`. Scale with `POLICY_BENCH_USERS`,
//! `POLICY_BENCH_GROUPS`, `POLICY_BENCH_SERVERS`, `POLICY_BENCH_GRANTS`,
//! `POLICY_BENCH_CLIENTS`, `POLICY_BENCH_WRK` (`-t2 -c32 -d10s` style
//! arguments), `POLICY_BENCH_PARTS` (comma list of `throughput`,
//! `sqlite`, `postgres`; default all). Loopback only; every load stops by
//! itself. Targets (issue 6): propagation p99 < 100 ms on one replica,
//! < 1 s across two replicas.

use portcullis::config::Config;
use portcullis::server::Running;
use portcullis_discovery::{DiscoveredTool, ToolAnnotations};
use portcullis_domain::{Actor, RequestMeta, Services};
use portcullis_types::{GatewayInput, GrantInput, GrantSubject, GrantTarget, ServerInput};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Size {
    users: usize,
    groups: usize,
    members_per_group: usize,
    servers: usize,
    tools_per_server: usize,
    grants: usize,
}

async fn start(database_url: &str, secret_key: &str) -> Res<Running> {
    let mut env = BTreeMap::new();
    env.insert("DATABASE_URL".to_owned(), database_url.to_owned());
    env.insert("PORTCULLIS_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    env.insert("PORTCULLIS_CONFIG".to_owned(), String::new());
    env.insert("PORTCULLIS_LOG".to_owned(), "warn".to_owned());
    env.insert("PORTCULLIS_SECRET_KEY".to_owned(), secret_key.to_owned());
    // Every simulated gateway connects from 127.0.0.1: the per-address
    // connection cap (1,000 by default) is for real clients, not for a
    // thousand gateways on one loopback address.
    env.insert(
        "PORTCULLIS_HTTP_MAX_CONNECTIONS_PER_IP".to_owned(),
        "100000".to_owned(),
    );
    let config = Config::load(&env)?;
    // Servers stop when the process ends (each run is a fresh database).
    Ok(portcullis::server::start(config, std::future::pending::<()>()).await?)
}

/// Runs `f(i)` for `i in 0..n` on `workers` tasks; results in order.
async fn run_many<T, F, Fut>(n: usize, workers: usize, f: F) -> Res<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Res<T>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let f = f.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out);
                }
                out.push((i, f(i).await?));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, v)| v).collect())
}

struct Populated {
    users: Vec<String>,
    servers: Vec<String>,
    tool_names: Vec<String>,
}

/// Writes the data set through the services (SCIM for the directory).
async fn populate(s: &Services, size: &Size) -> Res<Populated> {
    let system = Actor::system("policy bench");
    let token = s
        .directory
        .create_directory(&system, "Bench IdP")
        .await?
        .token;
    let idp = s
        .directory
        .authenticate(&token, RequestMeta::default())
        .await?
        .ok_or("directory token not accepted")?;
    let idp = Arc::new(idp);
    let base = "http://localhost/scim/v2";
    let workers = 8;

    let t = Instant::now();
    let (svc, a) = (s.clone(), idp.clone());
    let users: Vec<String> = run_many(size.users, workers, move |i| {
        let (svc, a) = (svc.clone(), a.clone());
        async move {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("user{i:05}@bench.example"),
                "name": { "givenName": format!("Given{i}"), "familyName": format!("Family{i}") },
                "displayName": format!("User {i}"),
                "emails": [{ "value": format!("user{i:05}@bench.example"), "type": "work", "primary": true }],
                "externalId": format!("ext-{i}"),
                "active": i % 50 != 7
            });
            let v = svc
                .scim
                .create_user(&a, base, body)
                .await
                .map_err(|e| format!("SCIM user: {}", e.detail))?;
            Ok(v["id"].as_str().unwrap_or_default().to_owned())
        }
    })
    .await?;
    println!(
        "  populate: {} users in {:.1} s",
        users.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (svc, a, u) = (s.clone(), idp.clone(), Arc::new(users.clone()));
    let per = size.members_per_group;
    let groups: Vec<String> = run_many(size.groups, workers, move |g| {
        let (svc, a, u) = (svc.clone(), a.clone(), u.clone());
        async move {
            let members: Vec<_> = (0..per)
                .map(|k| json!({ "value": u[(g * per + k) % u.len()] }))
                .collect();
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": format!("Group {g:04}"),
                "externalId": format!("grp-{g}"),
                "members": members
            });
            let v = svc
                .scim
                .create_group(&a, base, body)
                .await
                .map_err(|e| format!("SCIM group: {}", e.detail))?;
            Ok(v["id"].as_str().unwrap_or_default().to_owned())
        }
    })
    .await?;
    println!(
        "  populate: {} groups with {} memberships in {:.1} s",
        groups.len(),
        groups.len() * per,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let tool_names: Vec<String> = (0..size.tools_per_server)
        .map(|k| format!("tool_{k:02}"))
        .collect();
    let (svc, names) = (s.clone(), Arc::new(tool_names.clone()));
    let servers: Vec<String> = run_many(size.servers, 4, move |i| {
        let (svc, names) = (svc.clone(), names.clone());
        async move {
            let system = Actor::system("policy bench");
            let id = svc
                .catalog
                .create_server(
                    &system,
                    &ServerInput {
                        name: format!("Server {i:03}"),
                        slug: format!("server-{i:03}"),
                        resource_url: format!("https://mcp.bench.example/s{i:03}"),
                        description: format!("Bench server {i}"),
                        owner: "platform@bench.example".to_owned(),
                        tags: "bench".to_owned(),
                    },
                )
                .await?;
            let summary = svc.catalog.server(&system, &id.as_str().into()).await?;
            let tools: Vec<DiscoveredTool> = names
                .iter()
                .enumerate()
                .map(|(k, name)| DiscoveredTool {
                    name: name.clone(),
                    title: None,
                    description: Some(format!("Bench tool {k} of server {i}.")),
                    input_schema: json!({ "type": "object" }),
                    output_schema: None,
                    annotations: ToolAnnotations {
                        title: None,
                        read_only_hint: Some(k % 5 < 2),
                        destructive_hint: Some(k % 5 == 4),
                        idempotent_hint: None,
                        open_world_hint: Some(k % 3 == 0),
                    },
                })
                .collect();
            svc.catalog
                .apply_discovery(&system, &summary, &tools, None)
                .await?;
            Ok(id.to_string())
        }
    })
    .await?;
    println!(
        "  populate: {} servers with {} tools in {:.1} s",
        servers.len(),
        servers.len() * size.tools_per_server,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (svc, g, u, srv, names) = (
        s.clone(),
        Arc::new(groups.clone()),
        Arc::new(users.clone()),
        Arc::new(servers.clone()),
        Arc::new(tool_names.clone()),
    );
    let grants = run_many(size.grants, workers, move |i| {
        let (svc, g, u, srv, names) = (
            svc.clone(),
            g.clone(),
            u.clone(),
            srv.clone(),
            names.clone(),
        );
        async move {
            let subject = match i % 10 {
                0..=6 => GrantSubject::Group {
                    id: g[(i * 7) % g.len()].clone(),
                },
                7 | 8 => GrantSubject::User {
                    id: u[(i * 13) % u.len()].clone(),
                },
                _ if i % 100 == 9 => GrantSubject::Everyone,
                _ => GrantSubject::Group {
                    id: g[(i * 3) % g.len()].clone(),
                },
            };
            let target = match i % 4 {
                0 => GrantTarget::Server,
                1 | 2 => GrantTarget::Tools {
                    names: vec![
                        names[i % names.len()].clone(),
                        names[(i + 3) % names.len()].clone(),
                    ],
                },
                _ => GrantTarget::Annotation {
                    annotation: "read_only".to_owned(),
                },
            };
            let input = GrantInput {
                subject,
                server_id: srv[i % srv.len()].clone(),
                target,
                effect: if i % 17 == 5 { "deny" } else { "allow" }.to_owned(),
                include_destructive: false,
                expires_at: None,
                reason: format!("bench grant {i}"),
            };
            let (id, _) = svc
                .access
                .create_grant(&Actor::system("policy bench"), &input)
                .await?;
            Ok(id)
        }
    })
    .await?;
    println!(
        "  populate: {} grants in {:.1} s",
        grants.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(Populated {
        users,
        servers,
        tool_names,
    })
}

/// Waits until `running` serves the head revision; returns (revision, etag
/// gzip, identity bytes, gzip bytes) and how long the wait took.
async fn settled(running: &Running) -> Res<(i64, String, usize, usize)> {
    let publisher = &running.services.publisher;
    let p = publisher.refresh().await?;
    let (identity, gzip) = publisher
        .full(&p, Duration::from_secs(120))
        .await
        .map_or((0, 0), |f| (f.len, f.gzip.len()));
    Ok((p.revision, p.etag_gzip.clone(), identity, gzip))
}

struct WrkFigures {
    rps: f64,
    transfer: String,
    p50: String,
    p99: String,
    errors: Option<String>,
}

fn parse_wrk(out: &str) -> Option<WrkFigures> {
    let mut rps = None;
    let mut transfer = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut errors = None;
    for line in out.lines() {
        let l = line.trim();
        let mut parts = l.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("Requests/sec:"), Some(v)) => rps = v.parse::<f64>().ok(),
            (Some("Transfer/sec:"), Some(v)) => transfer = Some(v.to_owned()),
            (Some("50%"), Some(v)) => p50 = Some(v.to_owned()),
            (Some("99%"), Some(v)) => p99 = Some(v.to_owned()),
            _ => {}
        }
        if l.starts_with("Non-2xx") || l.starts_with("Socket errors") {
            errors = Some(l.to_owned());
        }
    }
    Some(WrkFigures {
        rps: rps?,
        transfer: transfer?,
        p50: p50?,
        p99: p99?,
        errors,
    })
}

/// `GET /api/v1/policy` 200s with wrk, identity then gzip.
async fn throughput(running: &Running, token: &str, sizes: (usize, usize)) -> Res<()> {
    let args = std::env::var("POLICY_BENCH_WRK").unwrap_or_else(|_| "-t2 -c32 -d10s".to_owned());
    let url = format!("http://{}/api/v1/policy", running.addr);
    println!("  200 throughput, wrk {args} --latency (loopback, same 2 cores as the server):");
    for (label, extra, bytes) in [
        ("identity", None, sizes.0),
        ("gzip", Some("Accept-Encoding: gzip"), sizes.1),
    ] {
        let mut cmd = tokio::process::Command::new("wrk");
        cmd.args(args.split_whitespace())
            .arg("--latency")
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"));
        if let Some(h) = extra {
            cmd.arg("-H").arg(h);
        }
        cmd.arg(&url);
        let out = match cmd.output().await {
            Ok(o) => o,
            Err(e) => {
                println!("    SKIPPED: cannot run wrk ({e}); apt-get install -y wrk");
                return Ok(());
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(f) = parse_wrk(&text) else {
            println!("    {label}: could not read wrk's output:\n{text}");
            continue;
        };
        println!(
            "    {label:<8} body {bytes:>9} B  {:>8.1} req/s  {:>7.1} MB/s (body)  wrk transfer {:>9}  p50 {:>8}  p99 {:>8}{}",
            f.rps,
            f.rps * bytes as f64 / 1e6,
            f.transfer,
            f.p50,
            f.p99,
            f.errors.map(|e| format!("  [{e}]")).unwrap_or_default()
        );
    }
    Ok(())
}

struct PollResult {
    status: u16,
    revision: Option<i64>,
    first_byte: Instant,
    done: Instant,
    bytes: usize,
    /// The body, when asked to keep it.
    body: Option<Vec<u8>>,
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// One gateway's long-poll over a plain HTTP/1.1 connection (no client
/// library in the way): returns when the whole response is read.
async fn long_poll(
    addr: SocketAddr,
    token: Arc<String>,
    etag: Arc<String>,
    sent: Arc<AtomicUsize>,
    delta: bool,
    keep_body: bool,
) -> Res<PollResult> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let a_im = if delta {
        "A-IM: portcullis-delta\r\n"
    } else {
        ""
    };
    let req = format!(
        "GET /api/v1/policy?wait=60 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         If-None-Match: {etag}\r\nAccept-Encoding: gzip\r\n{a_im}User-Agent: policy-bench\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    sent.fetch_add(1, Ordering::SeqCst);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut first_byte = None;
    let mut head: Option<(usize, u16, usize, Option<i64>)> = None;
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed before the response ended".into());
        }
        first_byte.get_or_insert_with(Instant::now);
        buf.extend_from_slice(&chunk[..n]);
        if head.is_none() {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                let status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let header = |name: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                let len = header("content-length:")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let revision = header("portcullis-revision:").and_then(|v| v.parse().ok());
                head = Some((p + 4, status, len, revision));
            }
        }
        if let Some((start, status, len, revision)) = head {
            if buf.len() >= start + len {
                return Ok(PollResult {
                    status,
                    revision,
                    first_byte: first_byte.unwrap_or_else(Instant::now),
                    done: Instant::now(),
                    bytes: len,
                    body: keep_body.then(|| buf[start..start + len].to_vec()),
                });
            }
        }
    }
}

/// Holds `clients` long-polls spread over `replicas`, creates one grant
/// through `writer`, and prints per replica how long each client took to
/// hold the new revision. With `delta`, the clients ask for signed deltas
/// and must get `226 IM Used`; otherwise the whole bundle (200).
async fn propagation(
    label: &str,
    writer: &Running,
    replicas: &[(&str, &Running)],
    token: &str,
    data: &Populated,
    clients: usize,
    delta: bool,
) -> Res<()> {
    let want_status = if delta { 226 } else { 200 };
    let mode = if delta {
        "deltas (A-IM: portcullis-delta)"
    } else {
        "whole bundles"
    };
    let mut etag = None;
    for (_, r) in replicas {
        let (rev, e, _, _) = settled(r).await?;
        match &etag {
            None => etag = Some((rev, e)),
            Some((r0, e0)) if *r0 == rev && *e0 == e => {}
            Some(_) => return Err("replicas serve different bundles".into()),
        }
    }
    let (before, etag) = etag.ok_or("no replica")?;
    // The whole body the clients hold, to check a delta against.
    let base = writer
        .services
        .publisher
        .latest()
        .ok_or("nothing published")?;
    let base_jws = writer
        .services
        .publisher
        .full(&base, Duration::from_secs(120))
        .await
        .ok_or("no whole body published")?
        .body()?;
    let (token, etag) = (Arc::new(token.to_owned()), Arc::new(etag));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let (name, r) = replicas[i % replicas.len()];
        let (addr, token, etag, sent) = (r.addr, token.clone(), etag.clone(), sent.clone());
        let keep = i == 0;
        tasks.push((
            name,
            tokio::spawn(async move { long_poll(addr, token, etag, sent, delta, keep).await }),
        ));
    }
    let t = Instant::now();
    while sent.load(Ordering::SeqCst) < clients {
        if t.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "only {} of {clients} long-polls were sent",
                sent.load(Ordering::SeqCst)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let every request reach its handler and park.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let early = tasks.iter().filter(|(_, t)| t.is_finished()).count();

    // When each replica announces the new revision (ETag and delta) and
    // when its whole body is ready (signed and gzipped).
    let mut published = Vec::new();
    for (name, r) in replicas {
        let mut rx = r.services.publisher.subscribe();
        rx.borrow_and_update();
        let publisher = r.services.publisher.clone();
        published.push((
            *name,
            tokio::spawn(async move {
                loop {
                    if rx.changed().await.is_err() {
                        return (None, None);
                    }
                    let p = rx.borrow_and_update().clone();
                    if let Some(p) = p.filter(|p| p.revision > before) {
                        let announced = Instant::now();
                        // What a gateway that takes whole bodies waits
                        // for (built on the first request for it).
                        let full = publisher
                            .full(&p, Duration::from_secs(120))
                            .await
                            .map(|_| Instant::now());
                        return (Some(announced), full);
                    }
                }
            }),
        ));
    }

    let s = &writer.services;
    let input = GrantInput {
        subject: GrantSubject::User {
            id: data.users[data.users.len() / 2].clone(),
        },
        server_id: data.servers[data.servers.len() / 2].clone(),
        target: GrantTarget::Tools {
            names: vec![data.tool_names[0].clone()],
        },
        effect: "allow".to_owned(),
        include_destructive: false,
        expires_at: None,
        reason: format!("propagation probe {label}"),
    };
    let write_start = Instant::now();
    let (_, revision) = s
        .access
        .create_grant(&Actor::system("policy bench"), &input)
        .await?;
    let committed = Instant::now();

    /// Per replica: time to first byte, time to whole body, body bytes, failures.
    #[derive(Default)]
    struct Got {
        first: Vec<Duration>,
        done: Vec<Duration>,
        bytes: usize,
        failed: usize,
    }
    let mut per: BTreeMap<&str, Got> = BTreeMap::new();
    let mut kept = None;
    for (name, t) in tasks {
        let e = per.entry(name).or_default();
        match tokio::time::timeout(Duration::from_secs(70), t).await {
            Ok(Ok(Ok(mut r))) if r.status == want_status && r.revision == Some(revision) => {
                if let Some(b) = r.body.take() {
                    kept = Some(b);
                }
                e.first
                    .push(r.first_byte.saturating_duration_since(committed));
                e.done.push(r.done.saturating_duration_since(committed));
                e.bytes = r.bytes;
            }
            Ok(Ok(Ok(r))) => {
                e.failed += 1;
                if e.failed == 1 {
                    println!(
                        "    {name}: a client got status {} revision {:?} (expected {want_status}, revision {revision})",
                        r.status, r.revision
                    );
                }
            }
            Ok(Ok(Err(err))) => {
                e.failed += 1;
                if e.failed == 1 {
                    println!("    {name}: a client failed: {err}");
                }
            }
            _ => e.failed += 1,
        }
    }
    println!(
        "  propagation, {label}, {mode}: {clients} long-polls (?wait=60, gzip) on revision {before}; grant written through {} in {:.1} ms → revision {revision}{}",
        replicas
            .iter()
            .find(|(_, r)| std::ptr::eq(*r, writer))
            .map(|(n, _)| *n)
            .unwrap_or("?"),
        ms(committed - write_start),
        if early > 0 {
            format!(" ({early} answered before the change!)")
        } else {
            String::new()
        }
    );
    for (name, w) in published {
        match tokio::time::timeout(Duration::from_secs(70), w).await {
            Ok(Ok((Some(announced), Some(full)))) => println!(
                "    {name:<10} announced the new revision (ETag, delta) {:>7.1} ms after the commit; whole body ready after {:>7.1} ms",
                ms(announced.saturating_duration_since(committed)),
                ms(full.saturating_duration_since(committed))
            ),
            _ => println!("    {name:<10} did not publish the new bundle"),
        }
    }
    for (name, r) in replicas {
        if let Some(p) = r.services.publisher.latest() {
            let t = &p.timings;
            let b = p.full_if_built().map(|f| f.timings).unwrap_or_default();
            println!(
                "    {name:<10} build of revision {}: read facts {:.1} ms, assemble {:.1} ms, JSON + SHA-256 {:.1} ms, delta {:.1} ms → announced at {:.1} ms; whole body on request: JSON {:.1} ms, sign {:.1} ms, gzip {:.1} ms → ready {:.1} ms after the request",
                p.revision,
                ms(t.read),
                ms(t.assemble),
                ms(t.json),
                ms(t.delta),
                ms(t.announced),
                ms(b.json),
                ms(b.sign),
                ms(b.gzip),
                ms(b.total)
            );
        }
    }
    // One client's answer, checked the way a gateway does.
    let jwks = writer.services.publisher.jwks().await?;
    let mut loader = portcullis_policy::signed::Loader::new(
        portcullis_policy::signed::Verifier::from_jwks(&jwks)?,
    );
    loader.load(&base_jws)?;
    let kept = kept.ok_or("no client kept its answer")?;
    let checked = if delta {
        loader.load_delta(&kept)?
    } else {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&kept[..]), &mut plain)?;
        loader.load(&plain)?
    };
    if checked.revision != u64::try_from(revision).unwrap_or_default() {
        return Err(format!("a client's answer loaded revision {}", checked.revision).into());
    }
    println!(
        "    checked: one client's {} verified and loaded by the gateway loader → revision {}",
        if delta { "delta" } else { "bundle" },
        checked.revision
    );
    for (name, got) in per {
        let Got {
            mut first,
            mut done,
            bytes,
            failed,
        } = got;
        first.sort();
        done.sort();
        println!(
            "    clients on {name:<10} {:>5} got it ({failed} failed; {bytes} B body) — first byte p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms | whole body p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            done.len(),
            ms(pct(&first, 0.5)),
            ms(pct(&first, 0.99)),
            ms(first.last().copied().unwrap_or_default()),
            ms(pct(&done, 0.5)),
            ms(pct(&done, 0.99)),
            ms(done.last().copied().unwrap_or_default()),
        );
    }
    Ok(())
}

async fn gateway(s: &Services) -> Res<String> {
    Ok(s.gateways
        .create(
            &Actor::system("bench"),
            &GatewayInput {
                name: "bench-gateway".to_owned(),
                description: String::new(),
                server_ids: Vec::new(),
            },
        )
        .await?
        .token)
}

fn size() -> Size {
    let users = env_usize("POLICY_BENCH_USERS", 10_000);
    let groups = env_usize("POLICY_BENCH_GROUPS", 500);
    Size {
        users,
        groups,
        members_per_group: (users * 5 / groups.max(1)).max(1),
        servers: env_usize("POLICY_BENCH_SERVERS", 200),
        tools_per_server: 25,
        grants: env_usize("POLICY_BENCH_GRANTS", 3_000),
    }
}

fn secret_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::main]
async fn main() -> Res<()> {
    let parts = std::env::var("POLICY_BENCH_PARTS")
        .unwrap_or_else(|_| "throughput,sqlite,postgres".to_owned());
    let want = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let clients = env_usize("POLICY_BENCH_CLIENTS", 1_000);
    let size = size();
    println!(
        "policy_api bench: {} users, {} groups ({} memberships), {} servers × {} tools, {} grants; {clients} long-poll clients",
        size.users,
        size.groups,
        size.groups * size.members_per_group,
        size.servers,
        size.tools_per_server,
        size.grants
    );

    if want("throughput") || want("sqlite") {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:{}/bench.db", dir.path().display());
        let running = start(&url, &secret_key()).await?;
        println!("SQLite, one replica ({})", running.addr);
        let data = populate(&running.services, &size).await?;
        let token = gateway(&running.services).await?;
        let t = Instant::now();
        let (rev, _, identity, gzip) = settled(&running).await?;
        println!(
            "  bundle: revision {rev}, {identity} bytes identity, {gzip} bytes gzip (ready {:.0} ms after the last write)",
            ms(t.elapsed())
        );
        if want("throughput") {
            throughput(&running, &token, (identity, gzip)).await?;
        }
        if want("sqlite") {
            for delta in [true, false] {
                propagation(
                    "one replica (SQLite)",
                    &running,
                    &[("A (SQLite)", &running)],
                    &token,
                    &data,
                    clients,
                    delta,
                )
                .await?;
            }
        }
    }

    if want("postgres") {
        let admin = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        use sqlx::Connection;
        match sqlx::PgConnection::connect(&admin).await {
            Ok(mut conn) => {
                let name = format!("portcullis_bench_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(admin.clone());
                let url = format!("{base}/{name}");
                let r = async {
                    let key = secret_key();
                    let a = start(&url, &key).await?;
                    let b = start(&url, &key).await?;
                    println!(
                        "PostgreSQL, two replicas (A {}, B {}) on database {name}",
                        a.addr, b.addr
                    );
                    let data = populate(&a.services, &size).await?;
                    let token = gateway(&a.services).await?;
                    let (rev, _, identity, gzip) = settled(&a).await?;
                    println!(
                        "  bundle: revision {rev}, {identity} bytes identity, {gzip} bytes gzip"
                    );
                    for delta in [true, false] {
                        propagation(
                            "two replicas (PostgreSQL), change through A",
                            &a,
                            &[("A (writer)", &a), ("B (other)", &b)],
                            &token,
                            &data,
                            clients,
                            delta,
                        )
                        .await?;
                    }
                    Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
                }
                .await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                r?;
            }
            Err(e) => println!("PostgreSQL: SKIPPED ({admin} does not answer: {e})"),
        }
    }
    Ok(())
}
