//! The audit explorer's queries and `audit verify` at scale (issue 19):
//! goals explorer p95 ≤ 100 ms over 5 million events and verify of 10
//! million events ≤ 60 s.
//!
//! SQLite (the default deployment; a file in a temporary folder) is filled
//! with `AUDIT_EXPLORE_EVENTS` (default 5,000,000) chained events spread
//! over 30 days: gateway decisions mostly (a third denied), grant changes,
//! sign-ins; 300 targets. The actor and source address are those of each
//! batch's first event (a gateway reports its own batch), so only actors
//! `gw_000` and `gw_020` and network `10.0.` occur: the queries for the
//! other actors and for `10.3.` match nothing, the worst case (the whole
//! log is read to find that out), as do targets `tool_k` with k mod 20 in
//! {0, 1}. Each explorer query then runs 40 times with varying values, and
//! its p50 and p95 are printed. The peer, in the same run: the same newest-first page read by
//! offset at the same depth, as the REST list does (`list_events`, which
//! also counts the matches).
//!
//! Then the log is filled to `AUDIT_VERIFY_EVENTS` (default 10,000,000; 0
//! skips it) and `verify` recomputes the whole chain. The peer: reading
//! every row's columns in the same pages without hashing.
//! Run: `cargo bench --bench audit_explore`. `AUDIT_EXPLORE_EVENTS=0` runs
//! verify only; `AUDIT_BENCH_DB=path` keeps the filled log between runs.

use chrono::{DateTime, Duration, Utc};
use portcullis_domain::audit::{append_batch, NewEvent, Target};
use portcullis_domain::db::fetch_all_dyn;
use portcullis_domain::{Actor, Db, DbOptions, RequestMeta, Services, Settings, SystemClock};
use portcullis_types::{AuditQuery, Outcome};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BATCH: usize = 500;
const RUNS: usize = 40;
const SPAN_DAYS: i64 = 30;

/// Event `i`: who, what, about what, from where.
fn event(i: usize) -> (Actor, NewEvent) {
    let meta = RequestMeta {
        source_ip: Some(format!("10.{}.{}.{}", i % 4, (i / 4) % 250, i % 200)),
        user_agent: None,
        request_id: Some(format!("req-{i}")),
    };
    let who = i % 40;
    let actor = portcullis_domain::Actor::gateway(
        &portcullis_types::GatewayId::from(format!("gw_{who:03}")),
        &format!("gateway {who}"),
        meta,
    );
    let tool = i % 300;
    let e = match i % 20 {
        0 => NewEvent::success("access.grant.updated")
            .target(Target::new(
                "grant",
                format!("grant_{tool:04}"),
                format!("grant {tool}"),
            ))
            .details(json!({ "change": "expiry" })),
        1 => NewEvent::success("console.signin").details(json!({ "method": "password" })),
        _ => {
            let denied = i.is_multiple_of(3);
            let mut e = NewEvent::success("gateway.decision")
                .target(Target::new(
                    "mcp_tool",
                    format!("tool_{tool:04}"),
                    format!("tool {tool} on github"),
                ))
                .details(json!({
                    "user": format!("usr_{:06}", i % 20_000), "server": "github",
                    "tool": format!("tool {tool}"), "allowed": !denied,
                    "reason": if denied { "no_grant" } else { "allowed" },
                    "arguments": { "query": "***" },
                }));
            if denied {
                e.outcome = Outcome::Denied;
            }
            e
        }
    };
    (actor, e)
}

/// Appends events `from..to`, `total` of them spread evenly over the 30
/// days before `end` (those past `total` go on at the same spacing, after
/// `end`), in batches of one actor each.
async fn fill(db: &Db, from: usize, to: usize, total: usize, end: DateTime<Utc>) -> Res<()> {
    let start = end - Duration::days(SPAN_DAYS);
    let per = Duration::days(SPAN_DAYS).num_milliseconds() as f64 / total as f64;
    let mut i = from;
    let shown = Instant::now();
    while i < to {
        let n = BATCH.min(to - i);
        let (actor, _) = event(i);
        let batch: Vec<NewEvent> = (i..i + n).map(|j| event(j).1).collect();
        let at = start + Duration::milliseconds((i as f64 * per) as i64);
        let mut tx = db.begin().await?;
        append_batch(&mut tx, at, &actor, batch).await?;
        tx.commit().await?;
        i += n;
        if i % 500_000 < BATCH {
            eprintln!("  … {i} events ({:.0} s)", shown.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// p50 and p95 of `samples` in milliseconds.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    (at(0.50), at(0.95))
}

#[tokio::main]
async fn main() -> Res<()> {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("AUDIT_EXPLORE_EVENTS", 5_000_000);
    let verify_n = env("AUDIT_VERIFY_EVENTS", 10_000_000);
    let dir = tempfile::tempdir()?;
    // `AUDIT_BENCH_DB=path`: keep the filled log in that file and fill
    // only what it lacks on the next run (filling 10 million events takes
    // about 10 minutes).
    let file = std::env::var("AUDIT_BENCH_DB")
        .unwrap_or_else(|_| format!("{}/explore-bench.db", dir.path().display()));
    let db = Db::connect(&format!("sqlite:{file}"), &DbOptions::default()).await?;
    db.migrate().await?;
    let svc = Services::new(db.clone(), Arc::new(SystemClock), Settings::default())?;
    let have: Vec<(i64,)> = fetch_all_dyn(
        db.exec(),
        "SELECT COALESCE(MAX(seq), 0) FROM audit_events",
        &[],
    )
    .await?;
    let have = have.first().map_or(0, |r| r.0) as usize;
    let end = Utc::now();
    let started = Instant::now();
    // The explorer's events span the 30 days on their own; those filled
    // for verify afterwards are spaced the same way, past `end`.
    fill(&db, have, n, n, end).await?;
    println!(
        "SQLite: {n} events ({} appended in {:.0} s)",
        n.saturating_sub(have),
        started.elapsed().as_secs_f64()
    );
    let who = Actor::system("bench");
    let all = n as i64;

    type Make = Box<dyn Fn(usize) -> AuditQuery>;
    let q = |f: Make| f;
    let cases: Vec<(&str, Make)> = vec![
        (
            "newest page, no filter",
            q(Box::new(|_| AuditQuery::default())),
        ),
        (
            "keyset page deep in the log (before = random seq)",
            q(Box::new(move |r| AuditQuery {
                before: Some(1 + (r as i64 * 104_729) % all),
                ..Default::default()
            })),
        ),
        (
            "action prefix access.grant (5 %)",
            q(Box::new(|_| AuditQuery {
                action: "access.grant".into(),
                ..Default::default()
            })),
        ),
        (
            "actor by id (1 in 40)",
            q(Box::new(|r| AuditQuery {
                actor: format!("gw_{:03}", r % 40),
                ..Default::default()
            })),
        ),
        (
            "target by id (1 in 300)",
            q(Box::new(|r| AuditQuery {
                target: format!("tool_{:04}", 2 + r % 298),
                ..Default::default()
            })),
        ),
        (
            "outcome denied",
            q(Box::new(|_| AuditQuery {
                outcome: Some(Outcome::Denied),
                ..Default::default()
            })),
        ),
        (
            "source prefix 10.3.",
            q(Box::new(|_| AuditQuery {
                source: "10.3.".into(),
                ..Default::default()
            })),
        ),
        (
            "one day, days back (time range)",
            q(Box::new(move |r| {
                let day = end - Duration::days(1 + (r as i64 % 28));
                AuditQuery {
                    since: Some(day - Duration::days(1)),
                    until: Some(day),
                    ..Default::default()
                }
            })),
        ),
        (
            "one day and action prefix",
            q(Box::new(move |r| {
                let day = end - Duration::days(1 + (r as i64 % 28));
                AuditQuery {
                    since: Some(day - Duration::days(1)),
                    until: Some(day),
                    action: "access.grant".into(),
                    ..Default::default()
                }
            })),
        ),
        (
            "free text, last day (scans the day)",
            q(Box::new(move |r| AuditQuery {
                since: Some(end - Duration::days(1)),
                text: format!("usr_{:06}", r * 37),
                ..Default::default()
            })),
        ),
    ];
    // `AUDIT_EXPLORE_EVENTS=0` skips the explorer (verify only).
    if n > 0 {
        println!("\nExplorer (`explore`, keyset, 50 a page), {RUNS} runs each:");
        println!("| query | p50 | p95 |\n|---|---|---|");
        for (label, make) in &cases {
            let mut samples = Vec::with_capacity(RUNS);
            for r in 0..RUNS {
                let query = make(r);
                let t = Instant::now();
                let page = svc.audit.explore(&who, query).await?;
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(page);
            }
            let (p50, p95) = percentiles(samples);
            println!("| {label} | {p50:.1} ms | {p95:.1} ms |");
        }
        // The timeline of the last 7 days and the peer (offset paging).
        let mut samples = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            std::hint::black_box(svc.audit.timeline(&who, &AuditQuery::default()).await?);
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95) = percentiles(samples);
        println!("| timeline, last 7 days (10 runs) | {p50:.1} ms | {p95:.1} ms |");
        let mut samples = Vec::new();
        for r in 0..10 {
            let t = Instant::now();
            std::hint::black_box(
                svc.audit
                    .list_events(
                        &who,
                        AuditQuery {
                            offset: (r as i64 * 104_729) % all,
                            limit: 50,
                            ..Default::default()
                        },
                    )
                    .await?,
            );
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95) = percentiles(samples);
        println!("| peer: offset page at a random depth with its total (`list_events`, 10 runs) | {p50:.1} ms | {p95:.1} ms |");
    }

    if verify_n > n {
        let started = Instant::now();
        fill(&db, have.max(n), verify_n, n, end).await?;
        println!(
            "\nSQLite: filled to {verify_n} events in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    if verify_n > 0 {
        let total = verify_n.max(n);
        // The peer: every row read in pages, no hashing.
        let started = Instant::now();
        let mut from = 1i64;
        let mut rows = 0usize;
        loop {
            let page: Vec<(i64, String, String, String)> = fetch_all_dyn(
                db.exec(),
                "SELECT seq, id, details, hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 10000",
                &[portcullis_domain::db::Arg::Int(from)],
            )
            .await?;
            let Some(last) = page.last() else { break };
            from = last.0 + 1;
            rows += page.len();
        }
        let read = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let report = svc.audit.verify(&who).await?;
        let verify = started.elapsed().as_secs_f64();
        println!("\n`verify` over {total} events (goal ≤ 60 s):");
        println!("| what | time | rate |\n|---|---|---|");
        println!(
            "| peer: read every row ({rows}) in pages, no hashing | {read:.1} s | {:.0} events/s |",
            rows as f64 / read
        );
        println!(
            "| `verify` (first bad: {:?}, checked {}) | {verify:.1} s | {:.0} events/s |",
            report.first_bad_seq,
            report.checked,
            total as f64 / verify
        );
    }
    Ok(())
}
