//! Scale (issue #21): a 100,000-person company provisioned over SCIM into
//! the release `portcullis` server run as its own process, so every figure
//! is taken from outside it, as an IdP and an admin's browser see it; on
//! SQLite and (when 127.0.0.1:5432 answers) PostgreSQL in the same run.
//!
//! 1. Provisions `SCALE_BENCH_USERS` people (default 100,000) with
//!    `SCALE_BENCH_CONCURRENCY` clients (default 16), a group per 100
//!    people, then every person into one group in PATCHes of 100 members
//!    (as Okta and Entra ID batch them): writes/s, p50 and p99 per phase.
//!    Then the catalog and the grants through the admin API: 50 MCP
//!    servers of 100 tools each (5,000 tools, discovered from a loopback
//!    MCP server) and a grant per five people (20,000 at
//!    100,000: ten per group, two named tools for every tenth person).
//! 2. The server's resident memory (now and its peak, from `/proc`).
//! 3. Publication: how many revisions the server announced during each
//!    phase and how long each announcement took (from the server's own log
//!    lines, `policy revision announced`), and the whole bodies built.
//! 4. Propagation to a gateway long-polling `/api/v1/policy`, one taking
//!    deltas and one taking whole bundles (gzip), idle and while SCIM
//!    creates `SCALE_BENCH_LOAD_RATE` people a second (default 200): from
//!    the SCIM answer of a probe write to the gateway holding a revision at
//!    least the head read right after it.
//! 5. The p95 of the console's pages as served to a signed-in admin (the
//!    server renders them with their data), 20 renders each: the users list
//!    (first page, sorted by last change, a selective search, a search
//!    matching everyone), the groups list (by name, by member count), the
//!    Overview, the audit log.
//!
//! Run: `cargo bench --bench scale` (`SCALE_BENCH_BACKENDS=sqlite` to
//! leave PostgreSQL out). The server's environment is its own, but for
//! `PORTCULLIS_*`, `MALLOC_*` and `MIMALLOC_*` variables set for the
//! bench, which override the bench's (to try a setting, e.g.
//! `PORTCULLIS_DB_MAX_CONNECTIONS=4` or glibc's `MALLOC_ARENA_MAX=2`). The load targets loopback only and stops by
//! itself; the server is stopped at the end (and killed if the bench
//! fails). On PostgreSQL the propagation gateway polls a second replica
//! (the writes go to the first).

#[path = "support/layout.rs"]
mod layout;
mod support;

use layout::{tool_name, Grantee, GROUP_SIZE, SERVERS, TOOLS_PER_SERVER};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{run, Phase, Res};

/// One line of the server's publication log.
#[derive(Clone, Copy)]
enum Published {
    /// `policy revision announced`: total time and its parts (reading
    /// the facts, assembling, canonical JSON and its hash, the signed
    /// delta), in ms.
    Announced {
        total: f64,
        parts: [f64; 4],
        reassembled: bool,
    },
    /// `policy bundle body built`: total time and its JSON, signing and
    /// gzip parts, in ms; bytes, gzip bytes.
    Body {
        total: f64,
        parts: [f64; 3],
        bytes: f64,
        gzip: f64,
    },
}

/// The server under test, killed when dropped.
struct Server {
    child: Child,
    base: String,
    setup_link: String,
    /// What it logged about publications, in order.
    published: Arc<Mutex<Vec<Published>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the release binary on `database_url`, in `dir` (its secret
    /// key file), and waits for its set-up link.
    /// `fetch_allowed` is `PORTCULLIS_FETCH_ALLOWED_HOSTS` (the loopback
    /// MCP server the catalog is discovered from).
    fn start(database_url: &str, dir: &std::path::Path, fetch_allowed: &str) -> Res<Self> {
        Self::spawn(database_url, dir, fetch_allowed, None)
    }

    /// A second replica of `self` on the same (PostgreSQL) database, with
    /// the same secret key and public URL, as behind a load balancer;
    /// returns once it accepts connections.
    fn replica(&self, database_url: &str, dir: &std::path::Path) -> Res<Self> {
        Self::spawn(database_url, dir, "", Some(&self.base))
    }

    /// [`Self::start`], or with `public_url` a replica: it prints no set-up
    /// link, so it is waited for on its port.
    fn spawn(
        database_url: &str,
        dir: &std::path::Path,
        fetch_allowed: &str,
        public_url: Option<&str>,
    ) -> Res<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("PORTCULLIS_ADDR", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_PUBLIC_URL", public_url.unwrap_or(&base))
            .env("PORTCULLIS_CONFIG", "")
            .env("PORTCULLIS_FETCH_ALLOWED_HOSTS", fetch_allowed)
            // The catalog phase makes 25,000 admin API calls in about two
            // minutes, far past the per-key brake meant for runaway scripts.
            .env("PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE", "0")
            .env("PORTCULLIS_LOG", "warn,portcullis_domain::publish=info")
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("PORTCULLIS_SECRET_KEY_FILE", dir.join("secret.key"))
            .envs(std::env::vars().filter(|(k, _)| {
                ["PORTCULLIS_", "MALLOC_", "MIMALLOC_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            }))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut setup_link = None;
        if public_url.is_none() {
            for line in lines.by_ref() {
                let line = line?;
                if line.trim_start().starts_with("http") && line.contains("token=") {
                    setup_link = Some(line.trim().to_owned());
                    break;
                }
            }
        }
        // Keep reading what it prints so it never blocks on a full pipe:
        // publication lines are kept, warnings passed on.
        let published = Arc::new(Mutex::new(Vec::new()));
        let log = published.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                // tracing writes u128 fields (`as_millis`) as strings.
                let num = |k: &str| {
                    v[k].as_f64()
                        .or_else(|| v[k].as_str().and_then(|t| t.parse().ok()))
                        .unwrap_or(0.0)
                };
                let entry = match v["message"].as_str() {
                    Some("policy revision announced") => Published::Announced {
                        total: num("announced_ms"),
                        parts: [
                            num("read_ms"),
                            num("assemble_ms"),
                            num("json_ms"),
                            num("delta_ms"),
                        ],
                        reassembled: v["reassembled"].as_bool().unwrap_or(false),
                    },
                    Some("policy bundle body built") => Published::Body {
                        total: num("total_ms"),
                        parts: [num("json_ms"), num("sign_ms"), num("gzip_ms")],
                        bytes: num("bytes"),
                        gzip: num("gzip_bytes"),
                    },
                    _ => {
                        eprintln!("server: {line}");
                        continue;
                    }
                };
                if let Ok(mut l) = log.lock() {
                    l.push(entry);
                }
            }
        });
        let setup_link = match public_url {
            None => setup_link.ok_or("the server printed no set-up link")?,
            Some(_) => {
                let started = Instant::now();
                while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                    if started.elapsed() > Duration::from_secs(60) {
                        return Err("the replica did not start listening".into());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                String::new()
            }
        };
        Ok(Self {
            child,
            base,
            setup_link,
            published,
        })
    }

    /// How many publication lines it logged so far.
    fn published_mark(&self) -> usize {
        self.published.lock().map_or(0, |l| l.len())
    }

    /// Prints the announcements and whole bodies logged since `mark`.
    fn print_published(&self, name: &str, mark: usize, writes: usize) {
        let Ok(log) = self.published.lock() else {
            return;
        };
        let mut announced = Vec::new();
        let mut steps = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let mut bodies = Vec::new();
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        let mut reassembled = 0;
        let mut size = (0.0, 0.0);
        for p in log.iter().skip(mark) {
            match *p {
                Published::Announced {
                    total,
                    parts: p,
                    reassembled: r,
                } => {
                    announced.push(total);
                    for (all, one) in steps.iter_mut().zip(p) {
                        all.push(one);
                    }
                    reassembled += usize::from(r);
                }
                Published::Body {
                    total,
                    parts: p,
                    bytes,
                    gzip,
                } => {
                    bodies.push(total);
                    for (all, one) in parts.iter_mut().zip(p) {
                        all.push(one);
                    }
                    size = (bytes, gzip);
                }
            }
        }
        let q = |v: &mut Vec<f64>, p: f64| {
            v.sort_by(f64::total_cmp);
            v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!(
            "  {name:<26} {writes} writes → {} revisions announced ({} from the changed facts): announce p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (p50s: read {:.0}, assemble {:.0}, hash {:.0}, delta {:.0} ms); {} whole bodies built{}",
            announced.len(),
            reassembled,
            q(&mut announced, 0.5),
            q(&mut announced, 0.99),
            q(&mut announced, 1.0),
            q(&mut steps[0], 0.5),
            q(&mut steps[1], 0.5),
            q(&mut steps[2], 0.5),
            q(&mut steps[3], 0.5),
            bodies.len(),
            if bodies.is_empty() {
                String::new()
            } else {
                format!(
                    " (p50 {:.0} ms: JSON {:.0}, then sign {:.0} beside gzip {:.0}; {:.1} MB, {:.1} MB gzip)",
                    q(&mut bodies, 0.5),
                    q(&mut parts[0], 0.5),
                    q(&mut parts[1], 0.5),
                    q(&mut parts[2], 0.5),
                    size.0 / 1e6,
                    size.1 / 1e6
                )
            }
        );
    }

    /// (resident, peak resident, resident anonymous) memory in MB: the
    /// first two count the pages of the SQLite file it maps too (shared
    /// with the OS cache), the last only the process's own.
    fn rss_mb(&self) -> (f64, f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
    }
}

/// Signs in as the first owner through the set-up link; a client holding
/// the session.
async fn sign_in(server: &Server) -> Res<reqwest::Client> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token = server
        .setup_link
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    let res = browser
        .post(format!("{}/api/console/accept_link", server.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("token", token.as_str()),
            ("display_name", "Bench"),
            ("password", "a long bench password"),
        ])
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("sign-in failed: {}", res.status()).into());
    }
    Ok(browser)
}

/// Posts a console form that creates something with a credential (a SCIM
/// directory, a gateway, an API key); the credential, shown once, from the
/// answer's `field`.
async fn console_token(
    server: &Server,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
    field: &str,
) -> Res<String> {
    let res = browser
        .post(format!("{}/api/console/{path}", server.base))
        .header("sec-fetch-site", "same-origin")
        .form(form)
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await?;
    body[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{path}: {status} {body}").into())
}

/// How a gateway takes new revisions.
#[derive(Clone, Copy, PartialEq)]
enum Takes {
    Deltas,
    WholeBundles,
}

/// A gateway long-polling the policy API in the background: the revision
/// of every answer and when it arrived.
struct Follower {
    seen: Arc<Mutex<Vec<(Instant, i64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The response's `portcullis-revision` and `etag`.
fn revision_and_etag(res: &reqwest::Response) -> (i64, String) {
    let h = |k: &str| {
        res.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (h("portcullis-revision").parse().unwrap_or(-1), h("etag"))
}

/// Starts a gateway that fetches the whole bundle once, then long-polls
/// with its ETag (and `A-IM: portcullis-delta` when it takes deltas;
/// gzip either way, as the reference gateway asks).
async fn follow(base: &str, token: &str, takes: Takes) -> Res<Follower> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = format!("{base}/api/v1/policy");
    let res = http
        .get(&url)
        .bearer_auth(token)
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    if res.status() != 200 {
        return Err(format!("first policy fetch: {}", res.status()).into());
    }
    let (revision, mut etag) = revision_and_etag(&res);
    res.bytes().await?;
    let seen = Arc::new(Mutex::new(vec![(Instant::now(), revision)]));
    let log = seen.clone();
    let token = token.to_owned();
    let task = tokio::spawn(async move {
        loop {
            let mut req = http
                .get(format!("{url}?wait=30"))
                .bearer_auth(&token)
                .header("if-none-match", &etag)
                .header("accept-encoding", "gzip");
            if takes == Takes::Deltas {
                req = req.header("a-im", "portcullis-delta");
            }
            let res = match req.send().await {
                Ok(res) if res.status() == 200 || res.status() == 226 => res,
                Ok(res) if res.status() == 304 => continue,
                other => {
                    eprintln!("gateway poll: {other:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (revision, next) = revision_and_etag(&res);
            if res.bytes().await.is_err() {
                continue;
            }
            if let Ok(mut s) = log.lock() {
                s.push((Instant::now(), revision));
            }
            etag = next;
        }
    });
    Ok(Follower { seen, task })
}

/// Reads the policy head from the server's database.
enum HeadReader {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl HeadReader {
    async fn connect(database_url: &str) -> Res<Self> {
        Ok(if database_url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqlitePool::connect(&format!("{database_url}?mode=ro")).await?)
        } else {
            Self::Postgres(sqlx::PgPool::connect(database_url).await?)
        })
    }

    async fn head(&self) -> Res<i64> {
        const SQL: &str = "SELECT revision FROM policy_head WHERE id = 1";
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await?,
        })
    }
}

/// The `id` of each created resource (or listed item) in `values`.
fn ids<'a>(values: impl IntoIterator<Item = &'a Value> + 'a) -> impl Iterator<Item = String> + 'a {
    values
        .into_iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
}

/// A SCIM user creation for person `name`.
fn new_user(scim: &str, name: &str) -> (reqwest::Method, String, Value) {
    (
        reqwest::Method::POST,
        format!("{scim}/Users"),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("{name}@scale.example"),
            "displayName": name,
            "emails": [{ "value": format!("{name}@scale.example"), "type": "work", "primary": true }],
            "active": true
        }),
    )
}

/// Creates people at `rate` a second (16 at most in flight) until `stop`;
/// returns how many were created, in how long, and their p99.
fn background_load(
    scim: String,
    token: String,
    rate: f64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Duration, Phase)> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let start = Instant::now();
        let mut tasks = Vec::new();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let (method, url, body) = new_user(&scim, &format!("load{n:07}"));
            n += 1;
            let (http, token) = (http.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let ok = http
                    .request(method, url)
                    .bearer_auth(token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 201);
                drop(permit);
                ok.then(|| t.elapsed())
            }));
        }
        let elapsed = start.elapsed();
        let mut latencies = Vec::new();
        for t in tasks {
            if let Ok(Some(took)) = t.await {
                latencies.push(took);
            }
        }
        let phase = Phase {
            name: "background load".into(),
            latencies,
            elapsed,
        };
        (n, elapsed, phase)
    })
}

/// Makes `probes` changes one after another (a person created over SCIM)
/// and measures, for each, from the SCIM answer to `follower` holding a
/// revision at least the head read right after it.
async fn propagation(
    follower: &Follower,
    heads: &HeadReader,
    http: &reqwest::Client,
    scim: &str,
    token: &str,
    probes: usize,
    tag: &str,
) -> Res<Phase> {
    let mut latencies = Vec::with_capacity(probes);
    for i in 0..probes {
        let (method, url, body) = new_user(scim, &format!("probe-{tag}-{i}"));
        let res = http
            .request(method, url)
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        let answered = Instant::now();
        if res.status() != 201 {
            return Err(format!("probe write: {}", res.status()).into());
        }
        let head = heads.head().await?;
        loop {
            let got = follower
                .seen
                .lock()
                .ok()
                .and_then(|s| s.iter().find(|(_, r)| *r >= head).map(|(at, _)| *at));
            if let Some(at) = got {
                latencies.push(at.saturating_duration_since(answered));
                break;
            }
            if answered.elapsed() > Duration::from_secs(60) {
                return Err(format!("{tag}: revision {head} never reached the gateway").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok(Phase {
        name: tag.into(),
        latencies,
        elapsed: Duration::ZERO,
    })
}

/// The catalog and the grants of a company this size, through the admin
/// API (an API key made in the console): `SERVERS` servers discovered from
/// `mcp_url` (`TOOLS_PER_SERVER` tools each, every tool active), then the
/// grants of [`layout::grants`] (one for every five people, 20,000 at
/// 100,000). Returns how many writes it made.
async fn catalog(
    server: &Server,
    browser: &reqwest::Client,
    http: &reqwest::Client,
    mcp_url: &str,
    concurrency: usize,
    user_ids: &[String],
    group_ids: &[String],
) -> Res<usize> {
    let key = console_token(
        server,
        browser,
        "api_keys/create",
        &[("name", "scale"), ("role", "admin"), ("expires_days", "")],
        "secret",
    )
    .await?;
    let api = format!("{}/api/v1/admin", server.base);
    let servers = (0..SERVERS)
        .map(|i| {
            (
                reqwest::Method::POST,
                format!("{api}/servers"),
                json!({ "name": format!("Server {i:02}"), "slug": format!("s{i:02}"),
                        "resource_url": format!("https://mcp.scale.example/s{i:02}/mcp") }),
            )
        })
        .collect();
    let (p_servers, made) = run("servers", http, &key, concurrency, servers, 201).await?;
    let server_ids: Vec<String> = ids(&made).collect();
    let discover = server_ids
        .iter()
        .map(|id| {
            (
                reqwest::Method::POST,
                format!("{api}/servers/{id}/discovery"),
                json!({ "url": mcp_url }),
            )
        })
        .collect();
    let (p_discover, _) = run("discoveries", http, &key, 4, discover, 200).await?;
    let mut tool_ids = Vec::with_capacity(SERVERS * TOOLS_PER_SERVER);
    for id in &server_ids {
        let page: Value = http
            .get(format!("{api}/servers/{id}/tools?limit=200"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() != TOOLS_PER_SERVER {
            return Err(format!("server {id}: {} tools discovered: {page}", items.len()).into());
        }
        // A server's first discovery admits its tools; later ones
        // quarantine what is new or changed.
        tool_ids.extend(ids(items.iter().filter(|t| t["status"] == "quarantined")));
    }
    println!(
        "  tools                      {} discovered on {SERVERS} servers, {} of them quarantined (approved through the API)",
        SERVERS * TOOLS_PER_SERVER,
        tool_ids.len()
    );
    let approvals = tool_ids
        .iter()
        .map(|id| {
            (
                reqwest::Method::POST,
                format!("{api}/tools/{id}/approval"),
                json!({}),
            )
        })
        .collect();
    let (p_approve, _) = run("tool approvals", http, &key, concurrency, approvals, 200).await?;
    let grant = |subject: Value, server: usize, target: Value| {
        (
            reqwest::Method::POST,
            format!("{api}/grants"),
            json!({ "subject": subject, "server_id": server_ids[server],
                    "target": target, "effect": "allow", "reason": "scale bench" }),
        )
    };
    let grants = layout::grants(user_ids.len(), group_ids.len())
        .map(|g| {
            let subject = match g.grantee {
                Grantee::Group(i) => json!({ "kind": "group", "id": group_ids[i] }),
                Grantee::User(i) => json!({ "kind": "user", "id": user_ids[i] }),
            };
            let target = match g.tools {
                None => json!({ "kind": "server" }),
                Some(names) => json!({ "kind": "tools", "names": names }),
            };
            grant(subject, g.server, target)
        })
        .collect();
    let (p_grants, _) = run("grants", http, &key, concurrency, grants, 201).await?;
    let mut writes = 0;
    for p in [&p_servers, &p_discover, &p_approve, &p_grants] {
        if p.latencies.is_empty() {
            continue;
        }
        p.print_writes();
        writes += p.latencies.len();
    }
    Ok(writes)
}

async fn bench(label: &str, database_url: &str, users: usize, concurrency: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let database_url = database_url.replace("{dir}", &dir.path().display().to_string());
    // The MCP server the catalog's tools are discovered from.
    let tools = (0..TOOLS_PER_SERVER)
        .map(|t| {
            let mut tool = portcullis_discovery::test_server::TestTool::new(tool_name(t));
            tool.annotations.read_only_hint = Some(t % 3 == 0);
            tool.annotations.destructive_hint = Some(t % 7 == 0);
            tool
        })
        .collect();
    let mcp = portcullis_discovery::test_server::spawn(tools, 0).await;
    let server = Server::start(&database_url, dir.path(), &mcp.host_port())?;
    let browser = sign_in(&server).await?;
    let token = console_token(
        &server,
        &browser,
        "directory/directories/create",
        &[("name", "Scale")],
        "token",
    )
    .await?;
    let scim = format!("{}/scim/v2", server.base);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let groups = users.div_ceil(GROUP_SIZE);
    println!(
        "{label}: {users} people, {groups} groups, {users} memberships (100 per PATCH), {concurrency} clients, server pid {}",
        server.child.id()
    );

    // Users in ten slices, to show the rate as the company grows.
    let mut user_ids = Vec::with_capacity(users);
    let mut all_users = Phase {
        name: "users, all".into(),
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let slice = users.div_ceil(10);
    let mark = server.published_mark();
    for start in (0..users).step_by(slice) {
        let end = (start + slice).min(users);
        let reqs = (start..end)
            .map(|i| {
                (
                    reqwest::Method::POST,
                    format!("{scim}/Users"),
                    json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("user{i:06}@scale.example"),
                        "name": { "givenName": format!("Given{i}"), "familyName": format!("Family{i}") },
                        "displayName": format!("Person {i}"),
                        "emails": [{ "value": format!("user{i:06}@scale.example"), "type": "work", "primary": true }],
                        "externalId": format!("ext-{i}"),
                        "active": true
                    }),
                )
            })
            .collect();
        let name = format!("users {start}..{end}");
        let (phase, created) = run(&name, &http, &token, concurrency, reqs, 201).await?;
        phase.print_writes();
        user_ids.extend(ids(&created));
        all_users.latencies.extend(phase.latencies);
        all_users.elapsed += phase.elapsed;
    }
    all_users.print_writes();
    server.print_published("  published", mark, users);
    let mark = server.published_mark();

    let group_reqs = (0..groups)
        .map(|i| {
            (
                reqwest::Method::POST,
                format!("{scim}/Groups"),
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Team {i:04}") }),
            )
        })
        .collect();
    let (p_groups, created) = run("groups", &http, &token, concurrency, group_reqs, 201).await?;
    p_groups.print_writes();
    let group_ids: Vec<String> = ids(&created).collect();

    let member_reqs = group_ids
        .iter()
        .zip(user_ids.chunks(GROUP_SIZE))
        .map(|(gid, members)| {
            let value: Vec<Value> = members.iter().map(|id| json!({ "value": id })).collect();
            (
                reqwest::Method::PATCH,
                format!("{scim}/Groups/{gid}?excludedAttributes=members"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{ "op": "Add", "path": "members", "value": value }]
                }),
            )
        })
        .collect();
    let (p_members, _) = run(
        "PATCH 100 members",
        &http,
        &token,
        concurrency,
        member_reqs,
        200,
    )
    .await?;
    p_members.print_writes();
    server.print_published("  published", mark, groups * 2);
    let mark = server.published_mark();
    let writes = catalog(
        &server,
        &browser,
        &http,
        &mcp.url,
        concurrency,
        &user_ids,
        &group_ids,
    )
    .await?;
    server.print_published("  published", mark, writes);
    let (rss, peak, anon) = server.rss_mb();
    println!(
        "  resident memory            {rss:.0} MB now ({anon:.0} MB anonymous), {peak:.0} MB peak"
    );

    let pick = users / 2 + 17;
    let cases = [
        (
            "users, first page",
            "/directory/users".to_owned(),
            "Showing",
        ),
        (
            "users, by last change",
            "/directory/users?sort=updated&dir=desc".to_owned(),
            "Showing",
        ),
        (
            "users, search (1 match)",
            format!("/directory/users?q=user{pick:06}"),
            "Showing",
        ),
        (
            "users, search (a name)",
            format!("/directory/users?q=Person%20{}", pick / 10),
            "Showing",
        ),
        (
            "users, search (everyone)",
            "/directory/users?q=scale.example".to_owned(),
            "Showing",
        ),
        ("groups, by name", "/directory/groups".to_owned(), "Showing"),
        (
            "groups, by members",
            "/directory/groups?sort=members&dir=desc".to_owned(),
            "Showing",
        ),
        ("overview", "/".to_owned(), "Console admins"),
        ("audit log", "/audit".to_owned(), "Audit log"),
    ];
    println!("  pages (server render, signed in, 20 each):");
    for (name, path, expect) in cases {
        let mut lat = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let res = browser.get(format!("{}{path}", server.base)).send().await?;
            let status = res.status();
            let body = res.text().await?;
            lat.push(t.elapsed());
            if !status.is_success() || !body.contains(expect) {
                return Err(format!("{path}: {status}, expected text {expect:?} missing").into());
            }
        }
        let p = Phase {
            name: name.into(),
            latencies: lat,
            elapsed: Duration::ZERO,
        };
        println!(
            "    {:<26} p50 {:>7.1} ms  p95 {:>7.1} ms",
            name,
            p.pct(0.50),
            p.pct(0.95)
        );
    }
    let (rss, peak, anon) = server.rss_mb();
    println!(
        "  resident memory            {rss:.0} MB now ({anon:.0} MB anonymous), {peak:.0} MB peak"
    );

    // Propagation to a gateway: idle, then under a steady SCIM load.
    let probes = std::env::var("SCALE_BENCH_PROBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let rate: f64 = std::env::var("SCALE_BENCH_LOAD_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200.0);
    let heads = HeadReader::connect(&database_url).await?;
    let gw = console_token(
        &server,
        &browser,
        "gateways/create",
        &[("name", "scale-edge"), ("description", "")],
        "token",
    )
    .await?;
    // On PostgreSQL the gateway polls a second replica: the writes land on
    // the first, the second learns of them from the database.
    let replica = if database_url.starts_with("postgres") {
        Some(server.replica(&database_url, dir.path())?)
    } else {
        None
    };
    let polled = replica.as_ref().unwrap_or(&server);
    println!(
        "  propagation (SCIM answer → the gateway holds that revision; {probes} probes each{}):",
        if replica.is_some() {
            "; writes to replica A, the gateway polls replica B, whose publications are shown"
        } else {
            ""
        }
    );
    for (takes, what) in [
        (Takes::Deltas, "deltas"),
        (Takes::WholeBundles, "whole bundles"),
    ] {
        let follower = follow(&polled.base, &gw, takes).await?;
        let mark = polled.published_mark();
        let idle = propagation(
            &follower,
            &heads,
            &http,
            &scim,
            &token,
            probes,
            &format!("{what}-idle"),
        )
        .await?;
        println!(
            "    {what:<14} idle            p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            idle.pct(0.5),
            idle.pct(0.99),
            idle.pct(1.0)
        );
        polled.print_published("    published", mark, probes);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = background_load(scim.clone(), token.clone(), rate, stop.clone());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mark = polled.published_mark();
        let busy = propagation(
            &follower,
            &heads,
            &http,
            &scim,
            &token,
            probes,
            &format!("{what}-load"),
        )
        .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (sent, took, load) = load.await?;
        let busy = busy?;
        println!(
            "    {what:<14} under load      p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  (load: {} people created, {:.0}/s, p99 {:.1} ms)",
            busy.pct(0.5),
            busy.pct(0.99),
            busy.pct(1.0),
            load.latencies.len(),
            sent as f64 / took.as_secs_f64(),
            load.pct(0.99)
        );
        polled.print_published("    published", mark, sent + probes);
        drop(follower);
    }
    let (rss, peak, anon) = server.rss_mb();
    println!(
        "  resident memory            {rss:.0} MB now ({anon:.0} MB anonymous), {peak:.0} MB peak"
    );
    if let Some(b) = &replica {
        let (rss, peak, anon) = b.rss_mb();
        println!(
            "  resident memory, replica B {rss:.0} MB now ({anon:.0} MB anonymous), {peak:.0} MB peak"
        );
    }
    drop(replica);
    drop(server);
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let var = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let users = var("SCALE_BENCH_USERS", 100_000);
    let concurrency = var("SCALE_BENCH_CONCURRENCY", 16);
    let backends =
        std::env::var("SCALE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    if backends.contains("sqlite") {
        bench("SQLite", "sqlite:{dir}/scale.db", users, concurrency).await?;
    }
    if !backends.contains("postgres") {
        return Ok(());
    }
    support::with_postgres(|url| async move { bench("PostgreSQL", &url, users, concurrency).await })
        .await
}
