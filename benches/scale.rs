//! Scale (issue #21): a 100,000-person company provisioned over SCIM into
//! the release `portcullis` server run as its own process, so every figure
//! is taken from outside it, as an IdP and an admin's browser see it; on
//! SQLite and (when 127.0.0.1:5432 answers) PostgreSQL in the same run.
//!
//! 1. Provisions `SCALE_BENCH_USERS` people (default 100,000) with
//!    `SCALE_BENCH_CONCURRENCY` clients (default 16), a group per 100
//!    people, then every person into one group in PATCHes of 100 members
//!    (as Okta and Entra ID batch them): writes/s, p50 and p99 per phase.
//! 2. The server's resident memory (now and its peak, from `/proc`).
//! 3. The p95 of the console's pages as served to a signed-in admin (the
//!    server renders them with their data), 20 renders each: the users list
//!    (first page, sorted by last change, a selective search, a search
//!    matching everyone), the groups list (by name, by member count), the
//!    Overview, the audit log.
//!
//! Run: `cargo bench --bench scale` (`SCALE_BENCH_BACKENDS=sqlite` to
//! leave PostgreSQL out). The load targets loopback only and stops by
//! itself; the server is stopped at the end (and killed if the bench
//! fails). Publication timings and propagation to gateways are not
//! measured here yet (issue 21, item 1).

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{run, Phase, Res};

/// The server under test, killed when dropped.
struct Server {
    child: Child,
    base: String,
    setup_link: String,
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
    fn start(database_url: &str, dir: &std::path::Path) -> Res<Self> {
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
            .env("PORTCULLIS_PUBLIC_URL", &base)
            .env("PORTCULLIS_CONFIG", "")
            .env("PORTCULLIS_LOG", "warn")
            .env("PORTCULLIS_SECRET_KEY_FILE", dir.join("secret.key"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut setup_link = None;
        for line in lines.by_ref() {
            let line = line?;
            if line.trim_start().starts_with("http") && line.contains("token=") {
                setup_link = Some(line.trim().to_owned());
                break;
            }
        }
        // Keep reading what it prints so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let setup_link = setup_link.ok_or("the server printed no set-up link")?;
        Ok(Self {
            child,
            base,
            setup_link,
        })
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

/// Creates a SCIM directory through the console; its bearer token.
async fn directory_token(server: &Server, browser: &reqwest::Client) -> Res<String> {
    let res = browser
        .post(format!(
            "{}/api/console/directory/directories/create",
            server.base
        ))
        .header("sec-fetch-site", "same-origin")
        .form(&[("name", "Scale")])
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("directory: {status} {body}").into())
}

async fn bench(label: &str, database_url: &str, users: usize, concurrency: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let database_url = database_url.replace("{dir}", &dir.path().display().to_string());
    let server = Server::start(&database_url, dir.path())?;
    let browser = sign_in(&server).await?;
    let token = directory_token(&server, &browser).await?;
    let scim = format!("{}/scim/v2", server.base);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let groups = users.div_ceil(100);
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
        user_ids.extend(
            created
                .iter()
                .filter_map(|v| v["id"].as_str().map(str::to_owned)),
        );
        all_users.latencies.extend(phase.latencies);
        all_users.elapsed += phase.elapsed;
    }
    all_users.print_writes();

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
    let group_ids: Vec<String> = created
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();

    let member_reqs = group_ids
        .iter()
        .zip(user_ids.chunks(100))
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
