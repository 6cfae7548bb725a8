//! SCIM provisioning load: 10,000 users, 1,000 groups and 50,000
//! memberships pushed through the real HTTP API of an in-process server,
//! on SQLite (with `synchronous=full`, the default, and `normal` as its
//! peer in the same run: what durability costs) and (when 127.0.0.1:5432
//! answers) on PostgreSQL.
//!
//! Prints writes per second and p50/p99 latency per phase and overall, then
//! the server-side render time of the directory pages over that data
//! (signed in as the owner, 20 renders each).
//! Run: `cargo bench --bench scim_provisioning` (env `SCIM_BENCH_USERS`,
//! `SCIM_BENCH_CONCURRENCY` scale it). The load targets loopback only and
//! stops by itself. Target (issue 3): ≥ 500 writes/s with p99 < 50 ms on SQLite.

mod support;

use portcullis::config::Config;
use portcullis_domain::Actor;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{run, Phase, Res};

async fn bench(
    label: &str,
    database_url: &str,
    extra: &[(&str, &str)],
    users: usize,
    concurrency: usize,
) -> Res<()> {
    let mut env = BTreeMap::new();
    env.insert("DATABASE_URL".to_owned(), database_url.to_owned());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env.insert("PORTCULLIS_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    env.insert("PORTCULLIS_CONFIG".to_owned(), String::new());
    env.insert("PORTCULLIS_LOG".to_owned(), "warn".to_owned());
    let config = Config::load(&env)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = portcullis::server::start(config, async move {
        let _ = stop_rx.await;
    })
    .await?;
    let token = running
        .services
        .directory
        .create_directory(&Actor::system("bench"), "Bench")
        .await?
        .token;
    let base = format!("http://{}/scim/v2", running.addr);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let groups = users / 10;
    let memberships = users * 5;
    let per_patch = 10;

    let user_reqs = (0..users)
        .map(|i| {
            (
                reqwest::Method::POST,
                format!("{base}/Users"),
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i:05}@bench.example"),
                    "name": { "givenName": format!("Given{i}"), "familyName": format!("Family{i}") },
                    "displayName": format!("User {i}"),
                    "emails": [{ "value": format!("user{i:05}@bench.example"), "type": "work", "primary": true }],
                    "externalId": format!("ext-{i}"),
                    "active": true
                }),
            )
        })
        .collect();
    let (p_users, created) = run("users", &http, &token, concurrency, user_reqs, 201).await?;
    let user_ids: Vec<String> = created
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();

    let group_reqs = (0..groups)
        .map(|i| {
            (
                reqwest::Method::POST,
                format!("{base}/Groups"),
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Group {i:04}") }),
            )
        })
        .collect();
    let (p_groups, created) = run("groups", &http, &token, concurrency, group_reqs, 201).await?;
    let group_ids: Vec<String> = created
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();

    // Each user joins 5 groups; PATCHes carry 10 members each (as Entra batches).
    let mut member_reqs = Vec::new();
    let per_group = memberships / groups.max(1);
    for (g, gid) in group_ids.iter().enumerate() {
        let members: Vec<&String> = (0..per_group)
            .map(|k| &user_ids[(g * per_group + k) % user_ids.len()])
            .collect();
        for chunk in members.chunks(per_patch) {
            let value: Vec<_> = chunk.iter().map(|id| json!({ "value": id })).collect();
            member_reqs.push((
                reqwest::Method::PATCH,
                format!("{base}/Groups/{gid}?excludedAttributes=members"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{ "op": "Add", "path": "members", "value": value }]
                }),
            ));
        }
    }
    let (p_members, _) = run("memberships", &http, &token, concurrency, member_reqs, 200).await?;

    let all = Phase {
        name: "overall".into(),
        latencies: [&p_users, &p_groups, &p_members]
            .iter()
            .flat_map(|p| p.latencies.clone())
            .collect(),
        elapsed: p_users.elapsed + p_groups.elapsed + p_members.elapsed,
    };
    println!(
        "{label}: {users} users, {groups} groups, {memberships} memberships ({per_patch} per PATCH), concurrency {concurrency}"
    );
    for p in [&p_users, &p_groups, &p_members, &all] {
        p.print_writes();
    }
    pages(&running, &user_ids, &group_ids).await?;
    let _ = stop_tx.send(());
    let _ = running.done.await;
    Ok(())
}

/// Times full server-side renders of the directory pages, signed in.
async fn pages(
    running: &portcullis::server::Running,
    users: &[String],
    groups: &[String],
) -> Res<()> {
    let base = format!("http://{}", running.addr);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let link = running.setup_link.clone().ok_or("no set-up link")?;
    let token = link
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    let res = browser
        .post(format!("{base}/api/console/accept_link"))
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
    let deep = users.len().saturating_sub(50);
    let cases = [
        (
            "users, first page",
            "/directory/users".to_owned(),
            "Showing",
        ),
        (
            "users, last page",
            format!("/directory/users?offset={deep}"),
            "Showing",
        ),
        (
            "users, search",
            "/directory/users?q=user0999".to_owned(),
            "user09999@bench.example",
        ),
        (
            "users, inactive",
            "/directory/users?status=inactive".to_owned(),
            "No",
        ),
        (
            "user detail",
            format!("/directory/users/{}", users[users.len() / 2]),
            "Attributes",
        ),
        ("groups", "/directory/groups".to_owned(), "Showing"),
        (
            "group detail",
            format!("/directory/groups/{}", groups[groups.len() / 2]),
            "Members",
        ),
    ];
    println!("  page renders (server, signed in, 20 each):");
    for (name, path, expect) in cases {
        let mut lat = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let res = browser.get(format!("{base}{path}")).send().await?;
            let status = res.status();
            let body = res.text().await?;
            lat.push(t.elapsed());
            if !status.is_success() || !body.contains(expect) {
                return Err(format!("{path}: {status}, expected text {expect:?} missing").into());
            }
        }
        let p = Phase {
            name: String::new(),
            latencies: lat,
            elapsed: Duration::ZERO,
        };
        println!(
            "    {:<20} p50 {:>6.1} ms  p99 {:>6.1} ms",
            name,
            p.pct(0.50),
            p.pct(0.99)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let users: usize = std::env::var("SCIM_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let concurrency: usize = std::env::var("SCIM_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    // SQLite with every commit synced (the default) and, as its peer in
    // the same run, with `synchronous=normal`: the cost of durability.
    for (label, sync) in [
        ("SQLite (synchronous=full)", "full"),
        ("SQLite (synchronous=normal)", "normal"),
    ] {
        let dir = tempfile::tempdir()?;
        bench(
            label,
            &format!("sqlite:{}/bench.db", dir.path().display()),
            &[("PORTCULLIS_SQLITE_SYNCHRONOUS", sync)],
            users,
            concurrency,
        )
        .await?;
    }

    support::with_postgres(
        |url| async move { bench("PostgreSQL", &url, &[], users, concurrency).await },
    )
    .await
}
