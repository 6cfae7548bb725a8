//! A `tools/call` made directly to an upstream MCP server vs. the same call
//! through `portcullis-gateway` (access-token check, policy decision,
//! decision log, pinning at the edge), on this machine.
//!
//! Goal (the gateway's performance issue): on 2 cores, added p99 ≤ 0.3 ms
//! at 1,000 calls/s (agentgateway publishes about +0.3 ms p99 on 2 CPUs),
//! gateway saturation ≥ 50 % of the direct rate, and the gateway's memory
//! with a 10,000-person bundle.
//!
//! The world, all on 127.0.0.1, no console binary needed:
//! - a minimal upstream MCP server (axum, stateless, JSON answers):
//!   `initialize`, `tools/list` (`echo`, `add`, `get_time`), `tools/call`;
//! - a fake console serving what the gateway polls: `GET /api/v1/policy`
//!   (ETag, `?wait=` long-poll), `/.well-known/jwks.json`,
//!   `POST /api/v1/gateway/status`, `POST /api/v1/decisions` (counted),
//!   `POST /api/v1/tools/changed` (counted: should stay 0); bundles signed
//!   with `portcullis_policy::signed::SigningKey`, whose server entry has
//!   the upstream's tools with their real definition hashes;
//! - the gateway as a separate process: the release binary cargo builds for
//!   this bench (`CARGO_BIN_EXE_portcullis-gateway`), with its default
//!   settings (`pin_max_age_secs` 5: it lists the upstream's tools itself at
//!   most every 5 s before deciding a call; info logs, JSON, to a file).
//!
//! Measured in one run, direct and through the gateway interleaved (direct,
//! gateway, direct, gateway, …), `ROUNDS` times:
//! 1. fixed rate, open loop: `RATE` calls/s for `DURATION_SECS`, spread over
//!    `OPEN_CONNECTIONS` keep-alive HTTP/1.1 connections (wrk2-style: each
//!    connection has its own schedule, every call has an intended start
//!    time, latency is measured from it, so a stall is not hidden by the
//!    calls it delays). One OS thread per connection, paced with
//!    `std::thread::sleep` (timer slack set to 1 ns) plus a short spin;
//!    the pacing error (actual send − intended start) is printed, and so is
//!    the service time (from the actual send).
//! 2. saturation, closed loop: `CONNECTIONS` connections, each sending its
//!    next call when the previous answer is read, for `DURATION_SECS` after
//!    a warm-up; calls/s direct vs. through the gateway.
//! 3. memory: the gateway's VmRSS idle with a one-person bundle, idle after
//!    the console publishes a `PERSONS`-person bundle (revision 2, which the
//!    load then runs against), and after the load (with VmHWM).
//!
//! Every call is `POST` JSON-RPC `tools/call` `echo` with `Content-Type:
//! application/json`, `Accept: application/json, text/event-stream`,
//! `Mcp-Method: tools/call`, `Mcp-Name: echo`, `MCP-Protocol-Version:
//! 2025-06-18`, and through the gateway `Authorization: Bearer <token>`.
//! Every answer must be 200 with a JSON-RPC result; any other answer is
//! counted and makes the bench fail (after printing the figures).
//!
//! Pinning (`PIN`, default `split`, when `taskset` exists and there are at
//! least 2 CPUs): during the fixed-rate runs the bench process (load
//! generator, upstream, console) is on CPU 0 and the gateway on CPU 1;
//! during the saturation runs nothing is pinned (a closed loop with the
//! client and the upstream confined to one core would compare one core
//! direct with two through the gateway). `PIN=none`: never pinned. The
//! gateway runs with `PORTCULLIS_GATEWAY_WORKERS` = the machine's CPU count.
//!
//! Run: `source scripts/env.sh && cargo bench -p portcullis-gateway --bench
//! proxy`. Env knobs: `DURATION_SECS` (10), `ROUNDS` (3), `RATE` (1000),
//! `CONNECTIONS` (32, closed loop), `OPEN_CONNECTIONS` (16, fixed rate),
//! `PERSONS` (10000), `WARMUP_SECS` (2), `PIN` (`split` or `none`),
//! `SPIN_US` (50, the pacer's final busy-wait), `GATEWAY_WORKERS` (the
//! gateway's `PORTCULLIS_GATEWAY_WORKERS`, default the CPU count).
//!
//! `SAMPLES_DIR`: also write every fixed-rate call (intended start, latency,
//! service time) to `fixed-r<round>-<direct|gateway>.csv` there.
//!
//! Each run also prints the CPU other processes on the machine and the
//! hypervisor (steal) took meanwhile: figures from a run where they are not
//! near 0 are disturbed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use portcullis_policy::signed::SigningKey;
use portcullis_policy::token::{AccessClaims, ACCESS_TOKEN_TYPE};
use portcullis_policy::{
    AnnotationFlag, Annotations, Bundle, Effect, Group, Principal, Rule, Server, Subject, Target,
    Tool, FORMAT_V1,
};
use serde_json::{json, Value};
use tokio::sync::watch;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const CREDENTIAL: &str = "pcg_proxy_bench_credential";
const BENCH_USER: &str = "usr_bench";
const MCP_PATH: &str = "/mcp";

// ---------------------------------------------------------------- knobs

struct Knobs {
    duration: Duration,
    warmup: Duration,
    rounds: usize,
    rate: u64,
    open_connections: usize,
    connections: usize,
    persons: usize,
    pin: bool,
    spin: Duration,
    gateway_workers: usize,
    samples_dir: Option<PathBuf>,
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Knobs {
    fn from_env() -> Knobs {
        Knobs {
            duration: Duration::from_secs(env_u64("DURATION_SECS", 10).max(1)),
            warmup: Duration::from_secs(env_u64("WARMUP_SECS", 2)),
            rounds: env_u64("ROUNDS", 3).max(1) as usize,
            rate: env_u64("RATE", 1000).max(1),
            open_connections: env_u64("OPEN_CONNECTIONS", 16).max(1) as usize,
            connections: env_u64("CONNECTIONS", 32).max(1) as usize,
            persons: env_u64("PERSONS", 10_000) as usize,
            pin: std::env::var("PIN").map_or(true, |v| v != "none"),
            spin: Duration::from_micros(env_u64("SPIN_US", 50)),
            gateway_workers: env_u64("GATEWAY_WORKERS", 0) as usize,
            samples_dir: std::env::var_os("SAMPLES_DIR").map(PathBuf::from),
        }
    }
}

// ---------------------------------------------------------------- upstream

/// The upstream's tools, as `tools/list` returns them.
fn upstream_tools() -> Vec<Value> {
    vec![
        json!({
            "name": "echo",
            "title": "Echo",
            "description": "Returns the text it is given.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string", "description": "What to echo."}},
                "required": ["text"]
            },
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
        }),
        json!({
            "name": "add",
            "title": "Add",
            "description": "Adds two numbers.",
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"]
            },
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
        }),
        json!({
            "name": "get_time",
            "title": "Current time",
            "description": "The server's clock, Unix seconds.",
            "inputSchema": {"type": "object", "properties": {}},
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": false, "openWorldHint": false}
        }),
    ]
}

struct Upstream {
    tools: Value,
    lists: AtomicU64,
    calls: AtomicU64,
}

#[derive(serde::Deserialize)]
struct RpcIn {
    #[serde(default)]
    id: Option<Value>,
    method: String,
    #[serde(default)]
    params: Value,
}

fn json_reply(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

async fn upstream_mcp(State(up): State<Arc<Upstream>>, body: Bytes) -> Response {
    let Ok(msg) = serde_json::from_slice::<RpcIn>(&body) else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
        );
    };
    // A notification (no id): accepted, no body.
    let Some(id) = msg.id else {
        return StatusCode::ACCEPTED.into_response();
    };
    let error = |code: i64, message: &str| {
        json_reply(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        )
    };
    let result = match msg.method.as_str() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "proxy-bench-upstream", "version": "1.0.0"}
        }),
        "ping" => json!({}),
        "tools/list" => {
            up.lists.fetch_add(1, Relaxed);
            json!({"tools": up.tools})
        }
        "tools/call" => {
            up.calls.fetch_add(1, Relaxed);
            let args = &msg.params["arguments"];
            let text = match msg.params["name"].as_str() {
                Some("echo") => match args["text"].as_str() {
                    Some(t) => t.to_owned(),
                    None => return error(-32602, "echo needs arguments.text"),
                },
                Some("add") => (args["a"].as_f64().unwrap_or(0.0)
                    + args["b"].as_f64().unwrap_or(0.0))
                .to_string(),
                Some("get_time") => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .to_string(),
                _ => return error(-32602, "unknown tool"),
            };
            json!({"content": [{"type": "text", "text": text}]})
        }
        _ => return error(-32601, "method not found"),
    };
    json_reply(
        StatusCode::OK,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

// ---------------------------------------------------------------- console

struct Published {
    revision: u64,
    etag: String,
    jws: Bytes,
}

#[derive(Default)]
struct ConsoleCounts {
    policy_requests: AtomicU64,
    policy_bodies: AtomicU64,
    status_reports: AtomicU64,
    decision_batches: AtomicU64,
    allowed: AtomicU64,
    denied: AtomicU64,
    refused_batches: AtomicU64,
    changed_tools: AtomicU64,
    jwks: AtomicU64,
}

struct Console {
    jwks: String,
    current: watch::Sender<Arc<Published>>,
    counts: ConsoleCounts,
    last_error: Mutex<Option<String>>,
    changed: Mutex<Vec<String>>,
}

impl Console {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.strip_prefix("Bearer ") == Some(CREDENTIAL))
    }

    fn publish(&self, revision: u64, jws: String) {
        self.current.send_replace(Arc::new(Published {
            revision,
            etag: format!("\"rev-{revision}\""),
            jws: Bytes::from(jws),
        }));
    }
}

fn unauthorized() -> Response {
    json_reply(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}))
}

fn policy_body(c: &Console, p: &Published) -> Response {
    c.counts.policy_bodies.fetch_add(1, Relaxed);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/jose".to_owned()),
            (header::ETAG, p.etag.clone()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        p.jws.clone(),
    )
        .into_response()
}

fn not_modified(p: &Published) -> Response {
    (StatusCode::NOT_MODIFIED, [(header::ETAG, p.etag.clone())]).into_response()
}

async fn console_policy(
    State(c): State<Arc<Console>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !c.authorized(&headers) {
        return unauthorized();
    }
    c.counts.policy_requests.fetch_add(1, Relaxed);
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(60);
    let mut rx = c.current.subscribe();
    let current = rx.borrow_and_update().clone();
    let held = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if held != Some(current.etag.as_str()) {
        return policy_body(&c, &current);
    }
    if wait == 0 {
        return not_modified(&current);
    }
    match tokio::time::timeout(Duration::from_secs(wait), rx.changed()).await {
        Ok(Ok(())) => {
            let next = rx.borrow_and_update().clone();
            policy_body(&c, &next)
        }
        _ => not_modified(&current),
    }
}

async fn console_jwks(State(c): State<Arc<Console>>) -> Response {
    c.counts.jwks.fetch_add(1, Relaxed);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        c.jwks.clone(),
    )
        .into_response()
}

async fn console_status(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !c.authorized(&headers) {
        return unauthorized();
    }
    c.counts.status_reports.fetch_add(1, Relaxed);
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        *c.last_error.lock().unwrap() = v["last_error"].as_str().map(str::to_owned);
    }
    let current = c.current.borrow().revision;
    json_reply(StatusCode::OK, &json!({"current_revision": current}))
}

async fn console_decisions(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !c.authorized(&headers) {
        return unauthorized();
    }
    // Counted without parsing: the console shares the bench's CPU with the
    // load generator and the upstream, and only the gateway's runs send it
    // decisions (their format is checked by the console's own tests).
    let text = std::str::from_utf8(&body).unwrap_or("");
    if !text.starts_with("{\"decisions\":[") {
        c.counts.refused_batches.fetch_add(1, Relaxed);
        return json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"error": "invalid_request", "error_description": "not a decision batch"}),
        );
    }
    c.counts.decision_batches.fetch_add(1, Relaxed);
    let allowed = text.matches("\"allowed\":true").count() as u64;
    let denied = text.matches("\"allowed\":false").count() as u64;
    c.counts.allowed.fetch_add(allowed, Relaxed);
    c.counts.denied.fetch_add(denied, Relaxed);
    json_reply(
        StatusCode::ACCEPTED,
        &json!({"accepted": allowed + denied, "duplicates": 0}),
    )
}

async fn console_tool_changed(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !c.authorized(&headers) {
        return unauthorized();
    }
    c.counts.changed_tools.fetch_add(1, Relaxed);
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    c.changed.lock().unwrap().push(format!(
        "{}/{}",
        v["server"].as_str().unwrap_or("?"),
        v["definition"]["name"].as_str().unwrap_or("?")
    ));
    json_reply(
        StatusCode::OK,
        &json!({"quarantined": false, "revision": null}),
    )
}

// ---------------------------------------------------------------- bundles

/// SplitMix64: tiny, seeded, deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The upstream's entry in the catalog: its tools with the hash the gateway
/// computes for their live definitions.
fn bench_server(resource: &str) -> Server {
    let mut tools: Vec<Tool> = upstream_tools()
        .iter()
        .map(|raw| {
            let t = portcullis_discovery::mcp::parse_tool(raw).unwrap();
            let a = &t.annotations;
            Tool {
                name: t.name.clone(),
                annotations: Annotations {
                    read_only: a.read_only_hint.unwrap_or(false),
                    destructive: a.destructive_hint.unwrap_or(true),
                    idempotent: a.idempotent_hint.unwrap_or(false),
                    open_world: a.open_world_hint.unwrap_or(true),
                },
                approved: true,
                definition_hash: t.hash(),
            }
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    Server {
        id: "srv_bench".into(),
        slug: "bench".into(),
        resource: resource.into(),
        enabled: true,
        tools,
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The benchmark person may call `echo` (through group `grp_bench`), nothing
/// else on the upstream.
fn echo_rule() -> Rule {
    Rule {
        id: "grt_bench_echo".into(),
        effect: Effect::Allow,
        subject: Subject::Group {
            id: "grp_bench".into(),
        },
        server: "srv_bench".into(),
        target: Target::Tools {
            names: vec!["echo".into()],
        },
        include_destructive: false,
        expires_at: None,
    }
}

fn bench_principal() -> Principal {
    Principal {
        id: BENCH_USER.into(),
        email: "bench@acme.example".into(),
        active: true,
        groups: vec!["grp_bench".into()],
    }
}

fn small_bundle(resource: &str) -> Bundle {
    Bundle {
        format: FORMAT_V1.into(),
        revision: 1,
        issued_at: now_rfc3339(),
        servers: vec![bench_server(resource)],
        groups: vec![Group {
            id: "grp_bench".into(),
            name: "Benchmark".into(),
        }],
        principals: vec![bench_principal()],
        rules: vec![echo_rule()],
        blocked_clients: Vec::new(),
        agents: Vec::new(),
        agent_rules: Vec::new(),
        delegations: Vec::new(),
    }
}

const GROUPS: usize = 200;
const CATALOG_SERVERS: usize = 49;
const CATALOG_TOOLS: usize = 10;

/// `persons` people in 3–5 of 200 groups each (3 % inactive), the upstream
/// plus 49 other servers of 10 tools, ≈ 1,900 grants (group grants on whole
/// servers and read-only tools, person grants by tool, denies).
fn large_bundle(resource: &str, persons: usize, revision: u64) -> Bundle {
    let mut rng = Rng(0x0b5e_55ed_cafe);
    let mut servers = vec![bench_server(resource)];
    for s in 0..CATALOG_SERVERS {
        servers.push(Server {
            id: format!("srv_cat_{s:03}"),
            slug: format!("catalog-{s}"),
            resource: format!("https://mcp.acme.example/catalog-{s}"),
            enabled: true,
            tools: (0..CATALOG_TOOLS)
                .map(|t| Tool {
                    name: format!("tool_{t:02}"),
                    annotations: Annotations {
                        read_only: t % 3 == 0,
                        destructive: t % 5 == 4,
                        idempotent: t % 2 == 0,
                        open_world: false,
                    },
                    approved: true,
                    definition_hash: format!(
                        "sha256:{:016x}{:016x}{:016x}{:016x}",
                        rng.next(),
                        rng.next(),
                        rng.next(),
                        rng.next()
                    ),
                })
                .collect(),
        });
    }
    let group_id = |g: usize| format!("grp_{g:04}");
    let mut groups: Vec<Group> = (0..GROUPS)
        .map(|g| Group {
            id: group_id(g),
            name: format!("Team {g}"),
        })
        .collect();
    groups.push(Group {
        id: "grp_bench".into(),
        name: "Benchmark".into(),
    });
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let mut principals: Vec<Principal> = (0..persons)
        .map(|p| {
            let n = 3 + rng.below(3);
            let mut gs: Vec<String> = (0..n).map(|_| group_id(rng.below(GROUPS))).collect();
            if p % 200 == 0 {
                gs.push("grp_bench".into());
            }
            gs.sort();
            gs.dedup();
            Principal {
                id: format!("usr_{p:06}"),
                email: format!("person{p}@acme.example"),
                active: !rng.chance(3),
                groups: gs,
            }
        })
        .collect();
    principals.push(bench_principal());
    principals.sort_by(|a, b| a.id.cmp(&b.id));
    let catalog = |rng: &mut Rng| format!("srv_cat_{:03}", rng.below(CATALOG_SERVERS));
    let mut rules = vec![echo_rule()];
    for g in 0..GROUPS {
        rules.push(Rule {
            id: format!("grt_g{g:04}_server"),
            effect: Effect::Allow,
            subject: Subject::Group { id: group_id(g) },
            server: catalog(&mut rng),
            target: Target::Server,
            include_destructive: rng.chance(20),
            expires_at: None,
        });
        rules.push(Rule {
            id: format!("grt_g{g:04}_read"),
            effect: Effect::Allow,
            subject: Subject::Group { id: group_id(g) },
            server: catalog(&mut rng),
            target: Target::Annotation {
                annotation: AnnotationFlag::ReadOnly,
            },
            include_destructive: false,
            expires_at: None,
        });
    }
    // Other groups may call `add` on the upstream (not the bench person).
    for g in 0..10 {
        rules.push(Rule {
            id: format!("grt_g{g:04}_bench_add"),
            effect: Effect::Allow,
            subject: Subject::Group { id: group_id(g) },
            server: "srv_bench".into(),
            target: Target::Tools {
                names: vec!["add".into()],
            },
            include_destructive: false,
            expires_at: None,
        });
    }
    let person_rules = 1_500.min(persons);
    for r in 0..person_rules {
        let effect = if r % 10 == 9 {
            Effect::Deny
        } else {
            Effect::Allow
        };
        rules.push(Rule {
            id: format!("grt_u{r:05}"),
            effect,
            subject: Subject::User {
                id: format!("usr_{:06}", rng.below(persons.max(1))),
            },
            server: catalog(&mut rng),
            target: Target::Tools {
                names: vec![format!("tool_{:02}", rng.below(CATALOG_TOOLS))],
            },
            include_destructive: false,
            expires_at: None,
        });
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    Bundle {
        format: FORMAT_V1.into(),
        revision,
        issued_at: now_rfc3339(),
        servers,
        groups,
        principals,
        rules,
        blocked_clients: Vec::new(),
        agents: Vec::new(),
        agent_rules: Vec::new(),
        delegations: Vec::new(),
    }
}

/// Signs a bundle; returns the JWS and the size of its canonical JSON.
fn sign(key: &SigningKey, bundle: &Bundle) -> Res<(String, usize)> {
    let json = bundle.to_canonical_json()?;
    Ok((key.sign(&json)?, json.len()))
}

// ---------------------------------------------------------------- gateway process

struct GatewayProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

impl GatewayProcess {
    fn spawn(bin: &Path, config: &Path, log: &Path, workers: usize) -> Res<GatewayProcess> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("PORTCULLIS_GATEWAY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("--config")
            .arg(config)
            .env("PORTCULLIS_GATEWAY_WORKERS", workers.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        let pid = child.id();
        Ok(GatewayProcess {
            child,
            pid,
            addr: "127.0.0.1:0".parse()?,
            log: log.to_owned(),
        })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 15 s for the graceful shutdown, then SIGKILL.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `(VmRSS, VmHWM)` of a process, bytes.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32, ticks_per_sec: u64) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Duration::from_nanos((ticks(11) + ticks(12)) * 1_000_000_000 / ticks_per_sec.max(1))
}

/// Machine-wide CPU time from `/proc/stat`: (user + nice + system, steal),
/// in clock ticks.
fn machine_cpu() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2), at(7))
}

/// CPU use during one run: the gateway's, and what other processes on the
/// machine (not this bench, not the gateway) and the hypervisor (steal)
/// took, so a disturbed run can be told apart.
struct Meter {
    at: Instant,
    machine: (u64, u64),
    bench: Duration,
    gateway: Duration,
}

#[derive(Clone, Copy, Default)]
struct Usage {
    gateway: Duration,
    /// CPUs (1.0 = one whole CPU) used by other processes.
    other: f64,
    /// CPUs stolen by the hypervisor.
    steal: f64,
}

impl Meter {
    fn start(gw: u32, ticks: u64) -> Meter {
        Meter {
            at: Instant::now(),
            machine: machine_cpu(),
            bench: cpu_time(std::process::id(), ticks),
            gateway: cpu_time(gw, ticks),
        }
    }

    fn stop(&self, gw: u32, ticks: u64) -> Usage {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let (busy, steal) = machine_cpu();
        let gateway = cpu_time(gw, ticks).saturating_sub(self.gateway);
        let bench = cpu_time(std::process::id(), ticks).saturating_sub(self.bench);
        let busy = busy.saturating_sub(self.machine.0) as f64 / ticks.max(1) as f64;
        let other = (busy - gateway.as_secs_f64() - bench.as_secs_f64()).max(0.0);
        Usage {
            gateway,
            other: other / wall,
            steal: steal.saturating_sub(self.machine.1) as f64 / ticks.max(1) as f64 / wall,
        }
    }
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `taskset -a -p -c CPUS PID`: every thread of the process.
fn pin(pid: u32, cpus: &str) -> Res<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "taskset -a -p -c {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

// ---------------------------------------------------------------- load

/// Where calls go.
#[derive(Clone)]
struct Endpoint {
    name: &'static str,
    addr: SocketAddr,
    host: String,
    authorization: Option<String>,
}

const CALL_TEXT: &str = "hello from the proxy benchmark";

fn call_request(e: &Endpoint, id: u64) -> hyper::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{CALL_TEXT}"}}}}}}"#
    );
    let mut b = hyper::Request::post(MCP_PATH)
        .header(header::HOST, e.host.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(a) = &e.authorization {
        b = b.header(header::AUTHORIZATION, a.as_str());
    }
    b.body(Full::new(Bytes::from(body))).unwrap()
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[derive(serde::Deserialize)]
struct RpcReply {
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<Value>,
}

/// One call; `Err` unless HTTP 200 with a JSON-RPC result.
async fn call(sender: &mut Sender, req: hyper::Request<Full<Bytes>>) -> Result<(), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(format!("HTTP {status}: {text}"));
    }
    let reply: RpcReply =
        serde_json::from_slice(&body).map_err(|e| format!("not JSON-RPC ({e})"))?;
    match (reply.result, reply.error) {
        (Some(_), None) => Ok(()),
        (_, Some(e)) => Err(format!("JSON-RPC error {e}")),
        _ => Err("no JSON-RPC result".into()),
    }
}

/// Sleeps until `t`: `thread::sleep` to `spin` before it, then spins.
fn sleep_until(t: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > spin {
            std::thread::sleep(left - spin);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[derive(Default)]
struct OpenRun {
    /// Completion − intended start, ns.
    latency: Vec<u64>,
    /// Completion − actual send, ns.
    service: Vec<u64>,
    /// Actual send − intended start, ns.
    lateness: Vec<u64>,
    /// (intended start − start of the run, latency, service time), ns, in
    /// no particular order (for `SAMPLES_DIR`).
    samples: Vec<(u64, u64, u64)>,
    errors: u64,
    first_error: Option<String>,
    usage: Usage,
    upstream_lists: u64,
}

/// Open loop at `rate` calls/s for `duration` over `conns` connections,
/// each on its own thread with its own schedule.
fn open_loop(e: &Endpoint, rate: u64, duration: Duration, conns: usize, spin: Duration) -> OpenRun {
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let t0 = Instant::now() + Duration::from_millis(250);
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let e = e.clone();
            std::thread::Builder::new()
                .name(format!("open-loop-{c}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        let mut run = OpenRun::default();
                        let mut sender = match connect(e.addr).await {
                            Ok(s) => Some(s),
                            Err(err) => {
                                run.first_error = Some(err);
                                None
                            }
                        };
                        let mut i = c as u64;
                        while i < total {
                            let intended = t0 + Duration::from_nanos(i * 1_000_000_000 / rate);
                            sleep_until(intended, spin);
                            let sent = Instant::now();
                            let result = match sender.as_mut() {
                                Some(s) => call(s, call_request(&e, i)).await,
                                None => Err("no connection".into()),
                            };
                            let done = Instant::now();
                            run.latency.push((done - intended).as_nanos() as u64);
                            run.service.push((done - sent).as_nanos() as u64);
                            run.samples.push((
                                (intended - t0).as_nanos() as u64,
                                (done - intended).as_nanos() as u64,
                                (done - sent).as_nanos() as u64,
                            ));
                            run.lateness.push((sent - intended).as_nanos() as u64);
                            if let Err(err) = result {
                                run.errors += 1;
                                run.first_error.get_or_insert(err);
                                sender = connect(e.addr).await.ok();
                            }
                            i += conns as u64;
                        }
                        run
                    })
                })
                .unwrap()
        })
        .collect();
    let mut all = OpenRun::default();
    for t in threads {
        let run = t.join().unwrap_or_else(|_| OpenRun {
            errors: 1,
            first_error: Some("a load thread panicked".into()),
            ..OpenRun::default()
        });
        all.latency.extend(run.latency);
        all.service.extend(run.service);
        all.lateness.extend(run.lateness);
        all.samples.extend(run.samples);
        all.errors += run.errors;
        if all.first_error.is_none() {
            all.first_error = run.first_error;
        }
    }
    all.latency.sort_unstable();
    all.service.sort_unstable();
    all.lateness.sort_unstable();
    all.samples.sort_unstable();
    all
}

#[derive(Default)]
struct ClosedRun {
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Vec<u64>,
    usage: Usage,
}

/// Closed loop: `conns` connections, each calling again as soon as it has
/// its answer; counts the calls completed in `[warmup, warmup + duration)`.
fn closed_loop(
    rt: &tokio::runtime::Runtime,
    e: &Endpoint,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> ClosedRun {
    rt.block_on(async {
        let w0 = Instant::now() + warmup;
        let w1 = w0 + duration;
        let tasks: Vec<_> = (0..conns)
            .map(|c| {
                let e = e.clone();
                tokio::spawn(async move {
                    let mut run = ClosedRun::default();
                    let mut sender = match connect(e.addr).await {
                        Ok(s) => Some(s),
                        Err(err) => {
                            run.errors += 1;
                            run.first_error = Some(err);
                            None
                        }
                    };
                    let mut id = (c as u64) << 32;
                    loop {
                        let sent = Instant::now();
                        if sent >= w1 {
                            break;
                        }
                        id += 1;
                        let result = match sender.as_mut() {
                            Some(s) => call(s, call_request(&e, id)).await,
                            None => Err("no connection".into()),
                        };
                        let done = Instant::now();
                        let counted = sent >= w0 && done < w1;
                        match result {
                            Ok(()) if counted => {
                                run.calls += 1;
                                run.latency.push((done - sent).as_nanos() as u64);
                            }
                            Ok(()) => {}
                            Err(err) => {
                                run.errors += 1;
                                run.first_error.get_or_insert(err);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                sender = connect(e.addr).await.ok();
                            }
                        }
                    }
                    run
                })
            })
            .collect();
        let mut all = ClosedRun::default();
        for t in tasks {
            let run = t.await.unwrap_or_else(|_| ClosedRun {
                errors: 1,
                first_error: Some("a load task panicked".into()),
                ..ClosedRun::default()
            });
            all.calls += run.calls;
            all.errors += run.errors;
            all.latency.extend(run.latency);
            if all.first_error.is_none() {
                all.first_error = run.first_error;
            }
        }
        all.latency.sort_unstable();
        all
    })
}

// ---------------------------------------------------------------- figures

/// Nearest-rank percentile of sorted samples.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(ns: u64) -> String {
    format!("{:.0}", ns as f64 / 1000.0)
}

fn signed_us(ns: i64) -> String {
    format!("{:+.0}", ns as f64 / 1000.0)
}

fn row(label: &str, s: &[u64]) -> String {
    format!(
        "{label:<18}{:>8}{:>8}{:>8}{:>9}{:>9}",
        us(pct(s, 0.50)),
        us(pct(s, 0.90)),
        us(pct(s, 0.99)),
        us(pct(s, 0.999)),
        us(s.last().copied().unwrap_or(0)),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into())
}

// ---------------------------------------------------------------- HTTP helpers (setup)

async fn gateway_revision(http: &reqwest::Client, addr: SocketAddr) -> Option<u64> {
    let res = http
        .get(format!("http://{addr}/readyz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json::<Value>().await.ok()?["revision"].as_u64()
}

async fn wait_for_revision(
    http: &reqwest::Client,
    gw: &mut GatewayProcess,
    revision: u64,
    within: Duration,
) -> Res<()> {
    let until = Instant::now() + within;
    loop {
        if gateway_revision(http, gw.addr)
            .await
            .is_some_and(|r| r >= revision)
        {
            return Ok(());
        }
        if let Ok(Some(status)) = gw.child.try_wait() {
            return Err(
                format!("the gateway exited ({status}); its log:\n{}", gw.log_tail()).into(),
            );
        }
        if Instant::now() > until {
            return Err(format!(
                "the gateway did not enforce revision {revision} within {within:?}; its log:\n{}",
                gw.log_tail()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rpc(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    body: Value,
) -> Res<(u16, Value)> {
    let method = body["method"].as_str().unwrap_or("").to_owned();
    let mut req = http
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-method", method)
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string());
    if let Some(name) = body["params"]["name"].as_str() {
        req = req.header("mcp-name", name);
    }
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn tool_names(v: &Value) -> Vec<String> {
    v["result"]["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The gateway enforces: tools/list filtered, echo allowed, add refused by
/// policy, no token refused.
async fn sanity(http: &reqwest::Client, direct: &Endpoint, gateway: &Endpoint) -> Res<String> {
    let direct_url = format!("http://{}{MCP_PATH}", direct.addr);
    let gw_url = format!("http://{}{MCP_PATH}", gateway.addr);
    let token = gateway.authorization.as_deref();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let (_, d) = rpc(http, &direct_url, None, list.clone()).await?;
    let (s, g) = rpc(http, &gw_url, token, list).await?;
    let (direct_tools, gw_tools) = (tool_names(&d), tool_names(&g));
    if s != 200 || gw_tools != ["echo"] || direct_tools.len() != 3 {
        return Err(format!(
            "tools/list: direct {direct_tools:?}, through the gateway HTTP {s} {gw_tools:?} (expected [\"echo\"])"
        )
        .into());
    }
    let echo = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": CALL_TEXT}}});
    let (s, v) = rpc(http, &gw_url, token, echo.clone()).await?;
    if s != 200 || v["result"]["content"][0]["text"] != CALL_TEXT {
        return Err(format!("tools/call echo through the gateway: HTTP {s} {v}").into());
    }
    let (s, _) = rpc(http, &gw_url, None, echo).await?;
    if s != 401 {
        return Err(format!("tools/call without a token: HTTP {s}, expected 401").into());
    }
    let add = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}}});
    let (s, v) = rpc(http, &gw_url, token, add).await?;
    if s != 200 || v["error"]["code"] != -32003 {
        return Err(format!("tools/call add (not granted): HTTP {s} {v}, expected -32003").into());
    }
    Ok(format!(
        "tools/list direct {direct_tools:?}, through the gateway {gw_tools:?}; echo allowed; \
         no token → 401; add → {}",
        v["error"]["data"]["reason"].as_str().unwrap_or("?")
    ))
}

async fn gateway_allowed(http: &reqwest::Client, addr: SocketAddr) -> Option<u64> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("gateway_decisions_total{outcome=\"allowed\"} "))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------- main

fn main() -> Res<()> {
    let k = Knobs::from_env();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let has_taskset = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let pinning = k.pin && has_taskset && ncpu >= 2;
    let all_cpus = format!("0-{}", ncpu - 1);
    let me = std::process::id();
    // Timer slack 1 ns for this process and the threads it creates from now
    // on, so the pacer's sleeps end on time.
    let slack = std::fs::write("/proc/self/timerslack_ns", "1").is_ok();
    let ticks = clock_ticks();

    println!("== portcullis-gateway proxy benchmark ==");
    println!(
        "machine: {ncpu} CPUs ({}), load average at start {}",
        cpu_model(),
        loadavg()
    );
    let knobs = format!(
        "DURATION_SECS={} ROUNDS={} RATE={} OPEN_CONNECTIONS={} CONNECTIONS={} PERSONS={} \
         WARMUP_SECS={} PIN={} SPIN_US={} GATEWAY_WORKERS={}",
        k.duration.as_secs(),
        k.rounds,
        k.rate,
        k.open_connections,
        k.connections,
        k.persons,
        k.warmup.as_secs(),
        if k.pin { "split" } else { "none" },
        k.spin.as_micros(),
        if k.gateway_workers > 0 {
            k.gateway_workers
        } else {
            ncpu
        },
    );
    println!(
        "knobs: {knobs}; timer slack 1 ns: {}",
        if slack { "yes" } else { "no (not permitted)" }
    );
    let pin_fixed = if pinning {
        "bench process (load generator, upstream, console) on CPU 0, gateway on CPU 1".to_owned()
    } else if k.pin {
        format!("none (taskset found: {has_taskset}, CPUs: {ncpu})")
    } else {
        "none (PIN=none)".to_owned()
    };
    let pin_saturation = format!("none (every process on CPUs {all_cpus})");
    println!("pinning, fixed rate: {pin_fixed}; saturation: {pin_saturation}");

    let dir = tempfile::tempdir()?;
    let world = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ncpu)
        .thread_name("world")
        .enable_all()
        .build()?;

    // Upstream.
    let upstream = Arc::new(Upstream {
        tools: Value::Array(upstream_tools()),
        lists: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    });
    let upstream_listener = world.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let upstream_addr = upstream_listener.local_addr()?;
    let app = Router::new()
        .route(MCP_PATH, post(upstream_mcp))
        .with_state(upstream.clone());
    world.spawn(async move {
        let _ = axum::serve(upstream_listener, app).await;
    });

    // Console, with the one-person bundle as revision 1.
    let gateway_port = free_port()?;
    let resource = format!("http://127.0.0.1:{gateway_port}{MCP_PATH}");
    let key = SigningKey::from_seed("proxy-bench-1", &[42u8; 32]);
    let jwks = json!({"keys": [key.public_jwk()?]}).to_string();
    let (small_jws, small_json) = sign(&key, &small_bundle(&resource))?;
    let (current, _) = watch::channel(Arc::new(Published {
        revision: 0,
        etag: String::new(),
        jws: Bytes::new(),
    }));
    let console = Arc::new(Console {
        jwks,
        current,
        counts: ConsoleCounts::default(),
        last_error: Mutex::new(None),
        changed: Mutex::new(Vec::new()),
    });
    console.publish(1, small_jws);
    let console_listener = world.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let console_addr = console_listener.local_addr()?;
    let app = Router::new()
        .route("/api/v1/policy", get(console_policy))
        .route("/.well-known/jwks.json", get(console_jwks))
        .route("/api/v1/gateway/status", post(console_status))
        .route("/api/v1/decisions", post(console_decisions))
        .route("/api/v1/tools/changed", post(console_tool_changed))
        .with_state(console.clone());
    world.spawn(async move {
        let _ = axum::serve(console_listener, app).await;
    });
    let issuer = format!("http://{console_addr}");

    // The gateway.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_portcullis-gateway"));
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{gateway_port}\"\nstate_dir = {:?}\n\n[console]\nurl = \"{issuer}\"\ncredential = \"{CREDENTIAL}\"\n\n[[upstream]]\nresource = \"{resource}\"\nurl = \"http://{upstream_addr}{MCP_PATH}\"\n",
            dir.path().join("state").display().to_string()
        ),
    )?;
    let workers = if k.gateway_workers > 0 {
        k.gateway_workers
    } else {
        ncpu
    };
    let mut gw = GatewayProcess::spawn(&bin, &config, &dir.path().join("gateway.log"), workers)?;
    gw.addr = format!("127.0.0.1:{gateway_port}").parse()?;
    println!(
        "world: upstream http://{upstream_addr}{MCP_PATH}, console {issuer}, gateway {} (pid {}, {} worker threads, log {})",
        resource,
        gw.pid,
        workers,
        gw.log.display()
    );
    println!("gateway binary: {}", bin.display());

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    world.block_on(wait_for_revision(
        &http,
        &mut gw,
        1,
        Duration::from_secs(30),
    ))?;
    println!(
        "gateway ready (revision 1, one person) in {:.0?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    let (rss_small, _) = memory(gw.pid);

    // The large bundle as revision 2 (the long-poll returns it).
    let t = Instant::now();
    let large = large_bundle(&resource, k.persons, 2);
    let large_counts = (
        large.principals.len(),
        large.groups.len(),
        large.servers.len(),
        large.rules.len(),
    );
    let (large_jws, large_json) = sign(&key, &large)?;
    drop(large);
    let large_jws_len = large_jws.len();
    println!(
        "bundle revision 2: {} persons, {} groups, {} servers, {} rules; {} bytes of JSON, signed in {:.0?}",
        large_counts.0, large_counts.1, large_counts.2, large_counts.3, large_json, t.elapsed()
    );
    let t = Instant::now();
    console.publish(2, large_jws);
    world.block_on(wait_for_revision(
        &http,
        &mut gw,
        2,
        Duration::from_secs(60),
    ))?;
    println!(
        "gateway enforces revision 2 {:.0?} after it was published",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    let (rss_large, _) = memory(gw.pid);

    // Tokens and endpoints.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let claims = AccessClaims {
        act: None,
        iss: issuer.clone(),
        sub: BENCH_USER.into(),
        aud: resource.clone(),
        client_id: "cli_proxy_bench".into(),
        scope: String::new(),
        jti: uuid::Uuid::new_v4().to_string(),
        iat: now,
        exp: now + 3 * 3600,
        sid: "ogr_proxy_bench".into(),
    };
    let token = key.sign_claims(&claims, ACCESS_TOKEN_TYPE)?;
    let direct = Endpoint {
        name: "direct",
        addr: upstream_addr,
        host: upstream_addr.to_string(),
        authorization: None,
    };
    let gateway = Endpoint {
        name: "gateway",
        addr: gw.addr,
        host: gw.addr.to_string(),
        authorization: Some(format!("Bearer {token}")),
    };
    let checked = world.block_on(sanity(&http, &direct, &gateway))?;
    println!("sanity: {checked}");

    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ncpu)
        .thread_name("closed-loop")
        .enable_all()
        .build()?;
    let mut total_errors = 0u64;
    let mut error_samples: Vec<String> = Vec::new();
    let mut note_errors = |name: &str, errors: u64, first: &Option<String>| {
        if errors > 0 {
            total_errors += errors;
            if let Some(e) = first {
                error_samples.push(format!("{name}: {errors} errors, first: {e}"));
            }
        }
    };

    // ---- fixed rate, open loop
    if pinning {
        pin(me, "0")?;
        pin(gw.pid, "1")?;
    }
    println!(
        "\n-- fixed rate: {} calls/s open loop, {} connections, {:?} per run, {} rounds (warm-up {:?} each first) --",
        k.rate, k.open_connections, k.duration, k.rounds, k.warmup
    );
    for e in [&direct, &gateway] {
        if !k.warmup.is_zero() {
            let w = open_loop(e, k.rate, k.warmup, k.open_connections, k.spin);
            note_errors(&format!("warm-up {}", e.name), w.errors, &w.first_error);
        }
    }
    let mut fixed: Vec<(OpenRun, OpenRun)> = Vec::new();
    for round in 1..=k.rounds {
        let mut pair = Vec::new();
        for e in [&direct, &gateway] {
            let lists0 = upstream.lists.load(Relaxed);
            let meter = Meter::start(gw.pid, ticks);
            let mut run = open_loop(e, k.rate, k.duration, k.open_connections, k.spin);
            run.usage = meter.stop(gw.pid, ticks);
            run.upstream_lists = upstream.lists.load(Relaxed) - lists0;
            if let Some(dir) = &k.samples_dir {
                let mut csv = String::from("intended_us,latency_us,service_us\n");
                for (at, lat, svc) in &run.samples {
                    csv.push_str(&format!("{},{},{}\n", at / 1000, lat / 1000, svc / 1000));
                }
                std::fs::create_dir_all(dir)?;
                std::fs::write(dir.join(format!("fixed-r{round}-{}.csv", e.name)), csv)?;
            }
            note_errors(
                &format!("fixed rate {} round {round}", e.name),
                run.errors,
                &run.first_error,
            );
            println!(
                "round {round} {:<8} {} calls, p50 {} p99 {} p99.9 {} max {} µs (service p99 {} µs, pacing p99 {} µs), errors {}; other processes {:.2} CPU, steal {:.2} CPU",
                e.name,
                run.latency.len(),
                us(pct(&run.latency, 0.5)),
                us(pct(&run.latency, 0.99)),
                us(pct(&run.latency, 0.999)),
                us(run.latency.last().copied().unwrap_or(0)),
                us(pct(&run.service, 0.99)),
                us(pct(&run.lateness, 0.99)),
                run.errors,
                run.usage.other,
                run.usage.steal
            );
            pair.push(run);
        }
        let gw_run = pair.pop().unwrap_or_default();
        let direct_run = pair.pop().unwrap_or_default();
        fixed.push((direct_run, gw_run));
    }

    // ---- saturation, closed loop
    if pinning {
        pin(me, &all_cpus)?;
        pin(gw.pid, &all_cpus)?;
    }
    println!(
        "\n-- saturation: closed loop, {} connections, {:?} per run after a {:?} warm-up, {} rounds --",
        k.connections, k.duration, k.warmup.max(Duration::from_secs(1)), k.rounds
    );
    let mut saturation: Vec<(ClosedRun, ClosedRun)> = Vec::new();
    for round in 1..=k.rounds {
        let mut pair = Vec::new();
        for e in [&direct, &gateway] {
            let meter = Meter::start(gw.pid, ticks);
            let mut run = closed_loop(
                &load_rt,
                e,
                k.connections,
                k.warmup.max(Duration::from_secs(1)),
                k.duration,
            );
            run.usage = meter.stop(gw.pid, ticks);
            note_errors(
                &format!("saturation {} round {round}", e.name),
                run.errors,
                &run.first_error,
            );
            println!(
                "round {round} {:<8} {:.0} calls/s (p50 {} p99 {} µs), errors {}; other processes {:.2} CPU, steal {:.2} CPU",
                e.name,
                run.calls as f64 / k.duration.as_secs_f64(),
                us(pct(&run.latency, 0.5)),
                us(pct(&run.latency, 0.99)),
                run.errors,
                run.usage.other,
                run.usage.steal
            );
            pair.push(run);
        }
        let gw_run = pair.pop().unwrap_or_default();
        let direct_run = pair.pop().unwrap_or_default();
        saturation.push((direct_run, gw_run));
    }

    // ---- after the load
    std::thread::sleep(Duration::from_secs(3));
    let (rss_after, hwm) = memory(gw.pid);
    let gw_allowed = world.block_on(gateway_allowed(&http, gw.addr));
    let c = &console.counts;
    let console_allowed = c.allowed.load(Relaxed);
    let load_end = loadavg();

    // ---- report
    println!("\n================ results ================");
    println!(
        "machine: {ncpu} CPUs ({}); load average at the end {load_end} (this run included; see 'other processes' per run)",
        cpu_model()
    );
    println!("pinning: fixed rate: {pin_fixed}; saturation: {pin_saturation}");
    println!(
        "bundle: revision 2, {} persons, {} groups, {} servers, {} rules ({} bytes JSON, {} bytes signed); \
         the calls are the person usr_bench calling echo (granted through a group)",
        large_counts.0, large_counts.1, large_counts.2, large_counts.3, large_json, large_jws_len
    );
    println!(
        "\nfixed rate {} calls/s, open loop over {} keep-alive HTTP/1.1 connections, {:?} per run; \
         latency from the intended start, µs",
        k.rate, k.open_connections, k.duration
    );
    println!(
        "{:<18}{:>8}{:>8}{:>8}{:>9}{:>9}{:>9}{:>8}{:>13}",
        "", "p50", "p90", "p99", "p99.9", "max", "calls", "errors", "gw CPU/call"
    );
    let mut pooled_direct = Vec::new();
    let mut pooled_gw = Vec::new();
    let mut added_p99 = Vec::new();
    let mut added_p50 = Vec::new();
    let mut lists_in_gw_runs = 0;
    let mut gw_cpu_fixed = Duration::ZERO;
    let mut gw_calls_fixed = 0u64;
    for (i, (d, g)) in fixed.iter().enumerate() {
        for (name, r) in [("direct", d), ("gateway", g)] {
            let cpu = if name == "gateway" && !r.latency.is_empty() {
                format!(
                    "{:.1} µs",
                    r.usage.gateway.as_secs_f64() * 1e6 / r.latency.len() as f64
                )
            } else {
                String::new()
            };
            println!(
                "{}{:>9}{:>8}{:>13}",
                row(&format!("{name} r{}", i + 1), &r.latency),
                r.latency.len(),
                r.errors,
                cpu
            );
        }
        added_p99.push(pct(&g.latency, 0.99) as f64 - pct(&d.latency, 0.99) as f64);
        added_p50.push(pct(&g.latency, 0.5) as f64 - pct(&d.latency, 0.5) as f64);
        pooled_direct.extend_from_slice(&d.latency);
        pooled_gw.extend_from_slice(&g.latency);
        lists_in_gw_runs += g.upstream_lists;
        gw_cpu_fixed += g.usage.gateway;
        gw_calls_fixed += g.latency.len() as u64;
    }
    pooled_direct.sort_unstable();
    pooled_gw.sort_unstable();
    println!(
        "{}{:>9}",
        row("direct, all", &pooled_direct),
        pooled_direct.len()
    );
    println!("{}{:>9}", row("gateway, all", &pooled_gw), pooled_gw.len());
    let pooled_added_p99 = pct(&pooled_gw, 0.99) as i64 - pct(&pooled_direct, 0.99) as i64;
    let pooled_added_p50 = pct(&pooled_gw, 0.5) as i64 - pct(&pooled_direct, 0.5) as i64;
    let rounds_added: Vec<String> = added_p99.iter().map(|v| signed_us(*v as i64)).collect();
    let med_added = median(&mut added_p99);
    println!(
        "added p50 (gateway − direct): {} µs pooled; added p99: {} µs pooled, per round [{}] µs, median {} µs",
        signed_us(pooled_added_p50),
        signed_us(pooled_added_p99),
        rounds_added.join(", "),
        signed_us(med_added as i64)
    );
    let mut fixed_service_d = Vec::new();
    let mut fixed_service_g = Vec::new();
    let mut lateness = Vec::new();
    for (d, g) in &fixed {
        fixed_service_d.extend_from_slice(&d.service);
        fixed_service_g.extend_from_slice(&g.service);
        lateness.extend_from_slice(&d.lateness);
        lateness.extend_from_slice(&g.lateness);
    }
    fixed_service_d.sort_unstable();
    fixed_service_g.sort_unstable();
    lateness.sort_unstable();
    println!(
        "service time (from the actual send), pooled: direct p50 {} p99 {} µs, gateway p50 {} p99 {} µs (added p99 {} µs); \
         pacer lateness p50 {} p99 {} p99.9 {} µs",
        us(pct(&fixed_service_d, 0.5)),
        us(pct(&fixed_service_d, 0.99)),
        us(pct(&fixed_service_g, 0.5)),
        us(pct(&fixed_service_g, 0.99)),
        signed_us(pct(&fixed_service_g, 0.99) as i64 - pct(&fixed_service_d, 0.99) as i64),
        us(pct(&lateness, 0.5)),
        us(pct(&lateness, 0.99)),
        us(pct(&lateness, 0.999)),
    );
    println!(
        "gateway CPU time per call at {} calls/s: {:.1} µs (user+system, /proc/<pid>/stat); \
         upstream tools/list calls made by the gateway during its fixed-rate runs: {} (pin_max_age_secs 5)",
        k.rate,
        gw_cpu_fixed.as_secs_f64() * 1e6 / gw_calls_fixed.max(1) as f64,
        lists_in_gw_runs
    );
    let goal_latency = (pooled_added_p99 as f64) <= 300_000.0;
    println!(
        "goal added p99 ≤ 300 µs at {} calls/s: {} (pooled {} µs)",
        k.rate,
        if goal_latency { "MET" } else { "NOT MET" },
        signed_us(pooled_added_p99)
    );

    println!(
        "\nsaturation, closed loop over {} connections, {:?} per run, calls/s",
        k.connections, k.duration
    );
    println!(
        "{:<10}{:>12}{:>12}{:>8}{:>18}{:>16}",
        "", "direct", "gateway", "ratio", "gw p50/p99 µs", "gw CPU/call"
    );
    let mut ratios = Vec::new();
    for (i, (d, g)) in saturation.iter().enumerate() {
        let dr = d.calls as f64 / k.duration.as_secs_f64();
        let gr = g.calls as f64 / k.duration.as_secs_f64();
        let ratio = if dr > 0.0 { gr / dr } else { 0.0 };
        ratios.push(ratio);
        println!(
            "{:<10}{:>12.0}{:>12.0}{:>8.2}{:>18}{:>16}",
            format!("round {}", i + 1),
            dr,
            gr,
            ratio,
            format!("{}/{}", us(pct(&g.latency, 0.5)), us(pct(&g.latency, 0.99))),
            format!(
                "{:.1} µs",
                g.usage.gateway.as_secs_f64() * 1e6 / g.calls.max(1) as f64
            )
        );
    }
    let med_ratio = median(&mut ratios);
    let goal_sat = med_ratio >= 0.5;
    println!(
        "goal gateway ≥ 50 % of the direct rate: {} (median ratio {:.2})",
        if goal_sat { "MET" } else { "NOT MET" },
        med_ratio
    );

    println!("\nmemory of the gateway process (VmRSS)");
    let small_label = format!("idle, revision 1 (1 person, {small_json} bytes JSON)");
    let large_label = format!(
        "idle, revision 2 ({} persons, {large_json} bytes JSON)",
        large_counts.0
    );
    println!("  {small_label:<52}{:>10}", mib(rss_small));
    println!("  {large_label:<52}{:>10}", mib(rss_large));
    println!(
        "  {:<52}{:>10} (peak VmHWM {})",
        "after the load",
        mib(rss_after),
        mib(hwm)
    );

    let changed = console.changed.lock().unwrap().clone();
    println!(
        "\nconsole saw: {} policy requests ({} bodies), {} JWKS fetches, {} status reports (last error: {}), \
         {} decision batches with {} allowed / {} denied decisions ({} batches refused), {} changed-tool reports {:?}",
        c.policy_requests.load(Relaxed),
        c.policy_bodies.load(Relaxed),
        c.jwks.load(Relaxed),
        c.status_reports.load(Relaxed),
        console.last_error.lock().unwrap().clone().unwrap_or_else(|| "none".into()),
        c.decision_batches.load(Relaxed),
        console_allowed,
        c.denied.load(Relaxed),
        c.refused_batches.load(Relaxed),
        c.changed_tools.load(Relaxed),
        changed
    );
    match gw_allowed {
        Some(n) if n == console_allowed => {
            println!("decision log: every allowed decision the gateway counted ({n}) reached the console")
        }
        Some(n) => println!(
            "WARNING: the gateway counted {n} allowed decisions, the console received {console_allowed}"
        ),
        None => println!("WARNING: the gateway's /metrics could not be read"),
    }
    println!(
        "upstream served {} tools/call and {} tools/list in total",
        upstream.calls.load(Relaxed),
        upstream.lists.load(Relaxed)
    );
    println!(
        "\nreproduce: source scripts/env.sh && {knobs} cargo bench -p portcullis-gateway --bench proxy"
    );

    gw.stop();
    drop(gw);
    drop(load_rt);
    world.shutdown_timeout(Duration::from_secs(2));
    if total_errors > 0 || !changed.is_empty() {
        for s in &error_samples {
            eprintln!("ERROR {s}");
        }
        return Err(format!(
            "{total_errors} calls failed, {} changed-tool reports (see above)",
            changed.len()
        )
        .into());
    }
    Ok(())
}
