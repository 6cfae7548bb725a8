//! Audit append throughput (issue 19, item 8): what the hash chain costs
//! against a bare batched INSERT of the same rows, and the gateway decision
//! ingest path, on SQLite and (when 127.0.0.1:5432 answers) PostgreSQL.
//!
//! Per backend, on a fresh migrated database, with `AUDIT_BENCH_EVENTS`
//! (default 100,000) events in batches of 500 (a gateway's largest
//! decision batch), one transaction per batch:
//!
//! 1. **bare**: multi-row INSERTs (500 rows a statement) of decision-shaped
//!    rows into `audit_bare`, a table with the columns and the eight indexes
//!    of `audit_events`; the rows (ids, JSON details, 64-hex hashes) are
//!    built before the clock starts. The peer.
//! 2. **chain**: `audit::append_batch` with the same events: the head row
//!    moved once a batch, ids made, details serialised, SHA-256 chained,
//!    the same multi-row INSERTs, and the batch's distinct actor and
//!    target names added to `audit_names` (the explorer's name index) and
//!    its quarter hour's count to `audit_counts` (the timeline's; the bare
//!    peer has neither table).
//! 3. **decisions**: `GatewayService::record_decisions`, the
//!    `POST /api/v1/decisions` path without HTTP: validation, decision-id
//!    dedupe (one multi-row INSERT … RETURNING), argument masking, then
//!    the chained append.
//!
//! 4. **export** (SQLite): `portcullis audit export --out` (the release
//!    binary, a subprocess) of the whole log, JSONL, with its peak RSS; then
//!    the log is filled to `AUDIT_BENCH_EXPORT_EVENTS` (default 1,000,000;
//!    0 skips this) and exported again as JSONL and CSV: bounded memory
//!    means about the same peak for five times the events.
//!
//! Prints events/s for each and chain ÷ bare. Goals (issue 19): chain ≥ 50 %
//! of bare on both backends; decisions ≥ 10,000 events/s on SQLite; export
//! of 1,000,000 events in bounded memory.
//! Run: `cargo bench --bench audit_append`.

use chrono::Utc;
use portcullis_domain::audit::{append_batch, NewEvent, Target};
use portcullis_domain::db::{exec_dyn, Arg};
use portcullis_domain::{Actor, Db, DbOptions, RequestMeta, Services, Settings, SystemClock};
use portcullis_types::gateway_api::{DecisionBatch, DecisionReport};
use portcullis_types::{GatewayInput, Outcome};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BATCH: usize = 500;

fn decision(i: usize, revision: i64) -> DecisionReport {
    // One call in three is refused.
    let denied = i.is_multiple_of(3);
    DecisionReport {
        id: Some(format!("d-{i}")),
        at: Utc::now(),
        user: format!("usr_{:08}", i % 5000),
        client: Some("client_claude".into()),
        server: "github".into(),
        tool: if denied { "delete_repo" } else { "search" }.into(),
        allowed: !denied,
        reason: Some(if denied { "no_grant" } else { "allowed" }.into()),
        rule: (!denied).then(|| "grant_0001".into()),
        revision,
        arguments: Some(json!({ "query": format!("issue {i}"), "limit": 20 })),
        act: None,
    }
}

fn event(d: &DecisionReport) -> NewEvent {
    let mut e = NewEvent::success("gateway.decision")
        .target(Target::new(
            "mcp_tool",
            format!("{}/{}", d.server, d.tool),
            format!("{} on {}", d.tool, d.server),
        ))
        .details(json!({
            "id": d.id, "at": d.at, "user": d.user, "client": d.client, "server": d.server,
            "tool": d.tool, "allowed": d.allowed, "reason": d.reason, "rule": d.rule,
            "revision": d.revision, "arguments": { "query": "***", "limit": 20 }, "act": d.act,
        }));
    if !d.allowed {
        e.outcome = Outcome::Denied;
    }
    e
}

fn hex64(i: usize) -> String {
    format!(
        "{:064x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
    )
}

/// The bare rows (17 binds each), built before the clock starts.
fn bare_rows(n: usize) -> Vec<Vec<Arg>> {
    (0..n)
        .map(|i| {
            let d = decision(i, 1);
            let e = event(&d);
            let t = e.target.clone().unwrap_or_default();
            vec![
                Arg::Int(i as i64 + 1),
                Arg::Text(portcullis_domain::clock::new_id("evt")),
                Arg::Time(Utc::now()),
                Arg::Text("gateway".into()),
                Arg::Text("gw_bench".into()),
                Arg::Text("bench gateway".into()),
                Arg::Text(e.action.into()),
                Arg::Text(t.kind),
                Arg::Text(t.id),
                Arg::Text(t.display),
                Arg::Text(e.outcome.as_str().into()),
                Arg::Text("127.0.0.1".into()),
                Arg::Null,
                Arg::Text("req-bench".into()),
                Arg::Text(e.details.to_string()),
                Arg::Text(hex64(i)),
                Arg::Text(hex64(i + 1)),
            ]
        })
        .collect()
}

const BARE_TABLE: &str = "CREATE TABLE audit_bare (seq BIGINT PRIMARY KEY, id TEXT NOT NULL, \
     occurred_at {TIME} NOT NULL, actor_type TEXT NOT NULL, actor_id TEXT, actor_display TEXT NOT NULL, \
     action TEXT NOT NULL, target_type TEXT, target_id TEXT, target_display TEXT, outcome TEXT NOT NULL, \
     source_ip TEXT, user_agent TEXT, request_id TEXT, details TEXT NOT NULL, prev_hash TEXT NOT NULL, \
     hash TEXT NOT NULL)";
/// The indexes of `audit_events` (the source index is in the "C" collation
/// on PostgreSQL; SQLite's default is the same byte order).
const BARE_INDEXES: [&str; 8] = [
    "CREATE UNIQUE INDEX audit_bare_id_key ON audit_bare (id)",
    "CREATE INDEX audit_bare_action_idx ON audit_bare (action, seq)",
    "CREATE INDEX audit_bare_occurred_idx ON audit_bare (occurred_at)",
    "CREATE INDEX audit_bare_actor_idx ON audit_bare (actor_id, seq)",
    "CREATE INDEX audit_bare_target_idx ON audit_bare (target_type, target_id, seq)",
    "CREATE INDEX audit_bare_target_id_idx ON audit_bare (target_id, seq)",
    "CREATE INDEX audit_bare_source_idx ON audit_bare (source_ip {COLLATE_C})",
    "CREATE INDEX audit_bare_unnamed_actor_idx ON audit_bare (actor_display) \
     WHERE actor_id IS NULL",
];

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

async fn bench(label: &str, url: &str, n: usize, export: Option<usize>) -> Res<()> {
    let db = Db::connect(url, &DbOptions::default()).await?;
    db.migrate().await?;
    let svc = Services::new(db.clone(), Arc::new(SystemClock), Settings::default())?;

    // 1. Bare.
    let time_type = match db {
        Db::Sqlite(..) => "TEXT",
        Db::Postgres(..) => "TIMESTAMPTZ",
    };
    exec_dyn(db.exec(), &BARE_TABLE.replace("{TIME}", time_type), &[]).await?;
    let collate_c = match db {
        Db::Sqlite(..) => "",
        Db::Postgres(..) => "COLLATE \"C\"",
    };
    for sql in BARE_INDEXES {
        exec_dyn(db.exec(), &sql.replace("{COLLATE_C}", collate_c), &[]).await?;
    }
    let rows = bare_rows(n);
    let statements: Vec<String> = rows
        .chunks(BATCH)
        .map(|chunk| {
            format!(
                "INSERT INTO audit_bare VALUES {}",
                db.backend().values_list(chunk.len(), 17)
            )
        })
        .collect();
    let started = Instant::now();
    for (sql, chunk) in statements.iter().zip(rows.chunks(BATCH)) {
        let args: Vec<Arg> = chunk.iter().flatten().cloned().collect();
        let mut tx = db.begin().await?;
        exec_dyn(tx.exec(), sql, &args).await?;
        tx.commit().await?;
    }
    let bare = rate(n, started.elapsed().as_secs_f64());

    // 2. The chain.
    let actor = Actor::system("bench gateway");
    let batches: Vec<Vec<NewEvent>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|c| c.iter().map(|&i| event(&decision(i, 1))).collect())
        .collect();
    let started = Instant::now();
    for batch in batches {
        let mut tx = db.begin().await?;
        append_batch(&mut tx, Utc::now(), &actor, batch).await?;
        tx.commit().await?;
    }
    let chain = rate(n, started.elapsed().as_secs_f64());

    // 3. Decisions through the gateway service.
    let owner = Actor::system("bench");
    let gw = svc
        .gateways
        .create(
            &owner,
            &GatewayInput {
                name: "bench".into(),
                description: String::new(),
                server_ids: Vec::new(),
            },
        )
        .await?;
    let identity = svc
        .gateways
        .authenticate(&gw.token)
        .await?
        .ok_or("the new gateway's credential was refused")?;
    let batches: Vec<DecisionBatch> = (n..2 * n)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|c| DecisionBatch {
            decisions: c.iter().map(|&i| decision(i, 1)).collect(),
        })
        .collect();
    let started = Instant::now();
    let mut recorded = 0;
    for batch in &batches {
        recorded += svc
            .gateways
            .record_decisions(&identity, RequestMeta::default(), batch)
            .await?;
    }
    let decisions = rate(recorded, started.elapsed().as_secs_f64());
    if recorded != n {
        return Err(format!("{recorded} decisions recorded of {n}").into());
    }
    let report = svc.audit.verify(&Actor::system("bench")).await?;
    if report.first_bad_seq.is_some() {
        return Err(format!("the chain does not verify: {report:?}").into());
    }

    if let Some(export_events) = export {
        export_rss(&svc, url, &actor, export_events).await?;
    }

    println!(
        "{label}: {n} events in batches of {BATCH}: bare INSERT {bare:.0} events/s · chain \
         (append_batch) {chain:.0} events/s = {:.0} % of bare (goal ≥ 50 %) · decisions \
         (record_decisions) {decisions:.0} events/s · chain of {} events verifies",
        100.0 * chain / bare,
        report.checked
    );
    db.close().await;
    Ok(())
}

/// Runs `portcullis audit export` on `url` into a file: (events, seconds,
/// bytes, peak RSS in MiB from /proc/<pid>/status VmHWM, sampled every
/// 10 ms until it exits).
fn export_once(url: &str, format: &str, out: &std::path::Path) -> Res<(u64, f64, u64, f64)> {
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["audit", "export", "--format", format, "--out"])
        .arg(out)
        .env("DATABASE_URL", url)
        .env("PORTCULLIS_CONFIG", "")
        .env("PORTCULLIS_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let secs = started.elapsed().as_secs_f64();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err)?;
    }
    if !status.success() {
        return Err(format!("audit export failed: {err}").into());
    }
    // "\r{n} events written to …"
    let events = err
        .rsplit('\r')
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no count in {err:?}"))?;
    Ok((
        events,
        secs,
        std::fs::metadata(out)?.len(),
        peak_kib as f64 / 1024.0,
    ))
}

/// Export in bounded memory: the CLI's peak RSS exporting the log as it is
/// (the peer), then after filling it to `target` events.
async fn export_rss(svc: &Services, url: &str, actor: &Actor, target: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("export");
    let mut runs = Vec::new();
    let (events, secs, bytes, rss) = export_once(url, "jsonl", &file)?;
    runs.push(("jsonl", events, secs, bytes, rss));
    let have = events as usize;
    let mut i = 0;
    while have + i < target {
        let take = BATCH.min(target - have - i);
        let batch: Vec<NewEvent> = (i..i + take).map(|k| event(&decision(k, 2))).collect();
        let mut tx = svc.db().begin().await?;
        append_batch(&mut tx, Utc::now(), actor, batch).await?;
        tx.commit().await?;
        i += take;
    }
    for format in ["jsonl", "csv"] {
        let (events, secs, bytes, rss) = export_once(url, format, &file)?;
        runs.push((format, events, secs, bytes, rss));
    }
    for (format, events, secs, bytes, rss) in runs {
        println!(
            "export ({format}, portcullis audit export --out): {events} events in {secs:.1} s \
             ({:.0} events/s, {:.0} MB), peak RSS {rss:.1} MiB",
            events as f64 / secs,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let n: usize = std::env::var("AUDIT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let export: usize = std::env::var("AUDIT_BENCH_EXPORT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    bench(
        "SQLite",
        &format!("sqlite:{}/audit-bench.db", dir.path().display()),
        n,
        (export > 0).then_some(export),
    )
    .await?;

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
            let r = bench("PostgreSQL", &format!("{base}/{name}"), n, None).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            r?;
        }
        Err(e) => println!("PostgreSQL: SKIPPED ({admin} does not answer: {e})"),
    }
    Ok(())
}
