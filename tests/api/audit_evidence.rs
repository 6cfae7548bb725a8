//! Audit evidence (issue #19): signed checkpoints of the chain, on both
//! backends. The database is tampered with directly (SQL), the way someone
//! with write access to it would: an inserted row, a cut-off tail with the
//! head re-pointed, the audit key's public half replaced, and the whole
//! chain rewritten from scratch with valid hashes. `verify` names the first
//! bad event from the stored checkpoints; given a checkpoint exported
//! earlier it also catches what deleting the stored ones hides. The CLI
//! (`portcullis audit checkpoint|verify --checkpoint`), the witness URL and
//! the admin API endpoints are checked too.

use crate::harness::{api_key, backend_tests, TestDb, TestResult, TestServer};
use crate::storage::{owner, raw_exec, services_on, services_with};
use axum::http::StatusCode as AxumStatus;
use portcullis_domain::audit::{append, NewEvent, CHECKPOINT_JWS_TYPE, GENESIS_HASH};
use portcullis_domain::{Actor, Clock, Db, Error, Services, Settings};
use portcullis_policy::signed::Verifier;
use portcullis_types::{
    AuditCheckpoint, AuditExportFormat, AuditQuery, AuditRecord, Role, AUDIT_CHECKPOINT_FORMAT,
};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

backend_tests!(
    evidence_checkpoints_catch_insertion_truncation_and_rewrite,
    evidence_checkpoints_fall_due_and_reach_the_witness,
    evidence_cli_exports_a_checkpoint_and_verifies_against_it,
    evidence_admin_api_serves_the_latest_checkpoint_and_verifies,
    evidence_export_pages_through_everything_as_jsonl_and_safe_csv,
    evidence_export_over_the_admin_api_and_the_cli,
    evidence_verify_while_events_are_appended,
);

/// `n` more audited changes (admin invitations), named `prefix{i}`.
pub(crate) async fn invite(svc: &Services, owner: &Actor, prefix: &str, n: usize) {
    for i in 0..n {
        svc.console
            .invite_admin(
                owner,
                &format!("{prefix}{i}@test.example"),
                "",
                Role::Auditor,
            )
            .await
            .unwrap_or_else(|e| panic!("invite: {e}"));
    }
}

/// One text value read with SQL.
pub(crate) async fn text(db: &Db, sql: &str) -> String {
    let row: Result<(String,), _> = match db {
        Db::Sqlite(p, _) => sqlx::query_as(sql).fetch_one(p).await,
        Db::Postgres(p, _) => sqlx::query_as(sql).fetch_one(p).await,
    };
    row.unwrap_or_else(|e| panic!("{sql}: {e}")).0
}

const COLUMNS: &str = "id, occurred_at, actor_type, actor_id, actor_display, action, target_type, \
     target_id, target_display, outcome, source_ip, user_agent, request_id, details, prev_hash, hash";

/// Every tampering is found, with the first bad event named; the exported
/// checkpoint finds what the database alone cannot.
async fn evidence_checkpoints_catch_insertion_truncation_and_rewrite(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    invite(&svc, &owner, "a", 4).await;
    let before = svc.audit.verify(&owner).await?;
    assert_eq!(
        (
            before.first_bad_seq,
            before.latest_checkpoint_seq,
            before.checkpoints_checked
        ),
        (None, None, 0),
        "{before:?}"
    );

    // The first checkpoint makes the audit key (an event of its own, which it covers).
    let cp = svc
        .audit
        .checkpoint_now(&owner)
        .await?
        .unwrap_or_else(|| panic!("a checkpoint"));
    // + the verification's own `audit.verified`, + the key.
    assert_eq!(cp.seq, before.head_seq + 2);
    assert_eq!(cp.format, AUDIT_CHECKPOINT_FORMAT);
    assert_eq!(
        text(
            svc.db(),
            &format!("SELECT action FROM audit_events WHERE seq = {}", cp.seq)
        )
        .await,
        "audit.signing_key.created"
    );
    assert_eq!(
        text(
            svc.db(),
            &format!("SELECT purpose FROM signing_keys WHERE kid = '{}'", cp.kid)
        )
        .await,
        "audit"
    );
    assert_eq!(cp.jwk["kid"], cp.kid.as_str());
    // Published in the JWKS, and only ever a checkpoint: a gateway's bundle
    // verifier refuses it for its type.
    let jwks = Verifier::from_jwks(&svc.signing.jwks().await?)?;
    assert!(jwks.knows(&cp.kid));
    let claims: serde_json::Value = jwks.verify_claims(cp.jws.as_bytes(), CHECKPOINT_JWS_TYPE)?;
    assert_eq!(
        (claims["seq"].as_i64(), claims["hash"].as_str()),
        (Some(cp.seq), Some(cp.hash.as_str()))
    );
    assert!(
        jwks.verify(cp.jws.as_bytes()).is_err(),
        "a checkpoint is not a bundle"
    );
    // Nothing new: the same checkpoint, no second row.
    assert_eq!(svc.audit.checkpoint_now(&owner).await?.as_ref(), Some(&cp));

    invite(&svc, &owner, "b", 3).await;
    let cp2 = svc
        .audit
        .checkpoint_now(&owner)
        .await?
        .unwrap_or_else(|| panic!("a second checkpoint"));
    assert_eq!(cp2.seq, cp.seq + 3);
    let r = svc.audit.verify_with(&owner, Some(&cp)).await?;
    assert_eq!(
        (
            r.first_bad_seq,
            r.checked,
            r.checkpoints_checked,
            r.latest_checkpoint_seq
        ),
        (None, cp2.seq, 3, Some(cp2.seq)),
        "{r:?}"
    );

    // Insertion: a forged copy of event 3 slipped in as event 4, the rest moved up.
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 4",
    )
    .await;
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000",
    )
    .await;
    raw_exec(
        svc.db(),
        &format!("INSERT INTO audit_events (seq, {COLUMNS}) SELECT 4, 'evt_forged', {} FROM audit_events WHERE seq = 3",
            COLUMNS.trim_start_matches("id, ")),
    )
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!((r.first_bad_seq, r.checked), (Some(4), 3), "{r:?}");
    raw_exec(svc.db(), "DELETE FROM audit_events WHERE seq = 4").await;
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 5",
    )
    .await;
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET seq = seq - 1000001 WHERE seq >= 1000000",
    )
    .await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, None);

    // The key store altered: the audit key's public half replaced by another key's.
    svc.signing.active().await?;
    let audit_jwk = text(
        svc.db(),
        &format!(
            "SELECT public_jwk FROM signing_keys WHERE kid = '{}'",
            cp.kid
        ),
    )
    .await;
    raw_exec(
        svc.db(),
        &format!("UPDATE signing_keys SET public_jwk = (SELECT public_jwk FROM signing_keys WHERE purpose = 'bundle') WHERE kid = '{}'", cp.kid),
    )
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(r.first_bad_seq, Some(cp.seq), "{r:?}");
    assert!(
        r.problem
            .as_deref()
            .is_some_and(|p| p.contains("stored checkpoint") && p.contains("altered")),
        "{r:?}"
    );
    let r = svc.audit.verify_with(&owner, Some(&cp)).await?;
    assert!(
        r.problem
            .as_deref()
            .is_some_and(|p| p.contains("key store")),
        "{r:?}"
    );
    raw_exec(
        svc.db(),
        &format!(
            "UPDATE signing_keys SET public_jwk = '{}' WHERE kid = '{}'",
            audit_jwk.replace('\'', "''"),
            cp.kid
        ),
    )
    .await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, None);

    // Truncation: the last three events cut off and the head re-pointed.
    let kept = cp.seq;
    raw_exec(
        svc.db(),
        &format!("DELETE FROM audit_events WHERE seq > {kept}"),
    )
    .await;
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_head SET seq = {kept}, hash = (SELECT hash FROM audit_events WHERE seq = {kept}) WHERE id = 1"),
    )
    .await;
    // The stored checkpoint of the cut events still names them…
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.checked),
        (Some(kept + 1), kept),
        "{r:?}"
    );
    assert!(
        r.problem
            .as_deref()
            .is_some_and(|p| p.contains("were removed")),
        "{r:?}"
    );
    // …until it is deleted too: the database alone then looks whole,
    raw_exec(
        svc.db(),
        &format!("DELETE FROM audit_checkpoints WHERE seq > {kept}"),
    )
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.latest_checkpoint_seq),
        (None, Some(kept)),
        "{r:?}"
    );
    // but the exported checkpoint says what is missing (the two
    // verifications since the cut were recorded as events kept+1, kept+2).
    let r = svc.audit.verify_with(&owner, Some(&cp2)).await?;
    assert_eq!(r.head_seq, kept + 2, "{r:?}");
    assert_eq!(r.first_bad_seq, Some(kept + 3), "{r:?}");
    let expected = format!("events {}…{} were removed", kept + 3, cp2.seq);
    assert!(
        r.problem.as_deref().is_some_and(|p| p.contains(&expected)),
        "{r:?}"
    );

    // A rewrite from scratch: every event replaced by a forged chain with valid hashes.
    raw_exec(svc.db(), "DELETE FROM audit_events").await;
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_head SET seq = 0, hash = '{GENESIS_HASH}' WHERE id = 1"),
    )
    .await;
    let forger = Actor::system("forger");
    let mut tx = svc.db().begin().await?;
    for _ in 0..kept + 2 {
        append(
            &mut tx,
            clock.now(),
            &forger,
            NewEvent::success("console.admin.invited"),
        )
        .await?;
    }
    tx.commit().await?;
    // The stored checkpoint does not match the new chain…
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(r.first_bad_seq, Some(1), "{r:?}");
    assert!(
        r.problem
            .as_deref()
            .is_some_and(|p| p.contains("rewritten")),
        "{r:?}"
    );
    // …and once the stored ones are gone, the exported one still catches it
    // (the database alone sees the forged chain and the failed
    // verification recorded after it).
    raw_exec(svc.db(), "DELETE FROM audit_checkpoints").await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.checked, r.latest_checkpoint_seq),
        (None, kept + 3, None),
        "{r:?}"
    );
    let r = svc.audit.verify_with(&owner, Some(&cp)).await?;
    assert_eq!(
        (r.first_bad_seq, r.checkpoints_checked),
        (Some(1), 1),
        "{r:?}"
    );
    assert!(
        r.problem.as_deref().is_some_and(|p| p.contains(&format!(
            "event {} is not the one the exported checkpoint",
            cp.seq
        ))),
        "{r:?}"
    );

    // A damaged exported checkpoint is refused as input, naming it.
    let mut damaged = cp.clone();
    damaged.jws = damaged.jws.replacen('.', ".e", 1);
    match svc.audit.verify_with(&owner, Some(&damaged)).await {
        Err(Error::Invalid(errors)) => assert_eq!(errors[0].field, "checkpoint", "{errors:?}"),
        other => panic!("expected the checkpoint refused, got {other:?}"),
    }
    Ok(())
}

/// A receiver standing in for the witness: the bodies it got, and whether
/// it answers 503 (down) or 204.
#[derive(Clone, Default)]
struct Witness {
    bodies: Arc<Mutex<Vec<AuditCheckpoint>>>,
    down: Arc<AtomicBool>,
}

async fn start_witness() -> (String, Witness) {
    let witness = Witness::default();
    let w = witness.clone();
    let app = axum::Router::new().route(
        "/checkpoints",
        axum::routing::post(move |body: axum::Json<AuditCheckpoint>| {
            let w = w.clone();
            async move {
                w.bodies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(body.0);
                if w.down.load(Ordering::SeqCst) {
                    AxumStatus::SERVICE_UNAVAILABLE
                } else {
                    AxumStatus::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{}", addr.port()), witness)
}

/// Checkpoints fall due after N events or M minutes with events, and reach
/// the witness: refused ones are kept, with the reason, and sent again in
/// order.
async fn evidence_checkpoints_fall_due_and_reach_the_witness(db: &TestDb) -> TestResult {
    let (host, witness) = start_witness().await;
    witness.down.store(true, Ordering::SeqCst);
    let (svc, clock) = services_with(
        db,
        Settings {
            audit_checkpoint_events: 3,
            audit_checkpoint_interval: chrono::Duration::minutes(10),
            audit_witness_url: Some(format!("http://{host}/checkpoints")),
            fetch_allowed_hosts: vec![host.clone()],
            ..Settings::default()
        },
    )
    .await;
    let owner = owner(&svc).await;
    let first = svc
        .audit
        .checkpoint_if_due()
        .await?
        .unwrap_or_else(|| panic!("the first checkpoint is due"));
    assert_eq!(
        svc.audit.checkpoint_if_due().await?,
        None,
        "the head is signed"
    );
    invite(&svc, &owner, "c", 2).await;
    assert_eq!(
        svc.audit.checkpoint_if_due().await?,
        None,
        "2 of 3 events, 0 of 10 minutes"
    );
    clock.advance(chrono::Duration::minutes(10));
    let second = svc
        .audit
        .checkpoint_if_due()
        .await?
        .unwrap_or_else(|| panic!("10 minutes with events"));
    assert_eq!(second, first + 2);
    invite(&svc, &owner, "d", 3).await;
    let third = svc
        .audit
        .checkpoint_if_due()
        .await?
        .unwrap_or_else(|| panic!("3 events"));
    assert_eq!(third, second + 3);

    // The witness is down: nothing accepted, the reason kept, and the pass stops at the first.
    assert_eq!(svc.audit.push_to_witness().await?, 0);
    assert_eq!(witness.bodies.lock().map(|b| b.len()).unwrap_or(0), 1);
    assert_eq!(
        text(
            svc.db(),
            &format!("SELECT witness_error FROM audit_checkpoints WHERE seq = {first}")
        )
        .await,
        "the witness answered 503 Service Unavailable"
    );
    // Back up: all three, oldest first, each verifying with the published keys.
    witness.down.store(false, Ordering::SeqCst);
    assert_eq!(svc.audit.push_to_witness().await?, 3);
    assert_eq!(
        svc.audit.push_to_witness().await?,
        0,
        "each is sent until taken, then never again"
    );
    let bodies = witness.bodies.lock().map(|b| b.clone()).unwrap_or_default();
    let seqs: Vec<i64> = bodies.iter().map(|b| b.seq).collect();
    assert_eq!(seqs, vec![first, first, second, third]);
    let jwks = Verifier::from_jwks(&svc.signing.jwks().await?)?;
    for b in &bodies {
        let claims: serde_json::Value =
            jwks.verify_claims(b.jws.as_bytes(), CHECKPOINT_JWS_TYPE)?;
        assert_eq!(claims["seq"].as_i64(), Some(b.seq));
    }
    assert_eq!(
        text(svc.db(), "SELECT CAST(COUNT(*) AS TEXT) FROM audit_checkpoints WHERE witnessed_at IS NOT NULL AND witness_error IS NULL").await,
        "3"
    );
    // No checkpoint was an audit event of its own (only the key's creation is).
    assert_eq!(
        text(
            svc.db(),
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action LIKE 'audit.%'"
        )
        .await,
        "1"
    );
    Ok(())
}

const SECRET_KEY: &str = "dGVzdC1zZWNyZXQta2V5LW9mLTMyLWJ5dGVzLWxvbmc=";

/// Runs the CLI on `db`: (exit code, stdout, stderr).
/// `portcullis args` on `db`, not started.
pub(crate) fn cli_command(db: &TestDb, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("PORTCULLIS_CONFIG", "")
        .env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .env("PORTCULLIS_LOG", "warn");
    command
}

pub(crate) fn cli(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let out = cli_command(db, args)
        .output()
        .unwrap_or_else(|e| panic!("portcullis {args:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `portcullis audit checkpoint --out` exports; `audit verify --checkpoint`
/// exits 0 on a whole log, 1 naming the first removed event on a truncated
/// one that looks whole to the database, 2 on a damaged file.
async fn evidence_cli_exports_a_checkpoint_and_verifies_against_it(db: &TestDb) -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("checkpoint.json");
    let file_arg = file.to_string_lossy().into_owned();
    let (code, _, err) = cli(db, &["audit", "checkpoint"]);
    // A migrated, empty log has nothing to sign.
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("empty"), "{err}");
    for email in ["o1@test.example", "o2@test.example"] {
        let (code, _, err) = cli(db, &["admin", "create-owner", "--email", email]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = cli(db, &["audit", "checkpoint", "--out", &file_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Checkpoint of event 3"), "{out}");
    let cp: AuditCheckpoint = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!((cp.seq, cp.format.as_str()), (3, AUDIT_CHECKPOINT_FORMAT));

    let (code, out, err) = cli(db, &["audit", "verify", "--checkpoint", &file_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 events verified (head 3), 2 signed checkpoints match"),
        "{out}"
    );

    // The verification is itself recorded, as event 4.
    let pool = Db::connect(&db.url, &Default::default()).await?;
    assert_eq!(
        text(&pool, "SELECT action FROM audit_events WHERE seq = 4").await,
        "audit.verified"
    );

    // Cut off the tail from event 3 and cover the tracks in the database.
    raw_exec(&pool, "DELETE FROM audit_events WHERE seq >= 3").await;
    raw_exec(&pool, "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE id = 1").await;
    raw_exec(&pool, "DELETE FROM audit_checkpoints").await;
    pool.close().await;
    let (code, out, err) = cli(db, &["audit", "verify", "--checkpoint", &file_arg]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Audit chain BROKEN at event 3") && out.contains("events 3…3 were removed"),
        "{out}"
    );
    // That failed verification is recorded (as the new event 3), and the
    // database alone still cannot tell.
    let (code, out, err) = cli(db, &["audit", "verify"]);
    assert_eq!(code, 0, "the database alone cannot tell: {out}{err}");
    assert!(out.contains("No checkpoint is stored yet"), "{out}");

    // A damaged file: exit 2, nothing claimed about the log.
    let mut damaged = cp.clone();
    damaged.jws = damaged.jws.replacen('.', ".e", 1);
    std::fs::write(&file, serde_json::to_string(&damaged)?)?;
    let (code, out, err) = cli(db, &["audit", "verify", "--checkpoint", &file_arg]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("checkpoint: its signature does not verify"),
        "{err}"
    );
    std::fs::write(&file, "{\"format\": \"something else\"}")?;
    let (code, _, err) = cli(db, &["audit", "verify", "--checkpoint", &file_arg]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an audit checkpoint"), "{err}");
    Ok(())
}

/// `GET /audit/checkpoints/latest` (404 before the first) and
/// `GET /audit/verify` for an auditor key; both reads are recorded.
async fn evidence_admin_api_serves_the_latest_checkpoint_and_verifies(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let key = api_key(&srv, "evidence", "auditor").await;
    let http = srv.client();
    let get = |path: &str| {
        http.get(srv.url(&format!("/api/v1/admin{path}")))
            .bearer_auth(&key.secret)
            .send()
    };
    let r = get("/audit/checkpoints/latest").await?;
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["code"], "not_found", "{body}");

    let cp = srv
        .running
        .services
        .audit
        .checkpoint_now(&Actor::system("test"))
        .await?
        .unwrap_or_else(|| panic!("a checkpoint"));
    let r = get("/audit/checkpoints/latest").await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let got: AuditCheckpoint = r.json().await?;
    assert_eq!(got, cp);

    let r = get("/audit/verify").await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let report: serde_json::Value = r.json().await?;
    assert_eq!(report["first_bad_seq"], serde_json::Value::Null, "{report}");
    assert_eq!(report["latest_checkpoint_seq"], cp.seq, "{report}");
    assert_eq!(report["checkpoints_checked"], 1, "{report}");
    let svc = &srv.running.services;
    let details = text(
        svc.db(),
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action = 'api.call' \
         AND (details LIKE '%/audit/checkpoints/latest%' OR details LIKE '%/audit/verify%')",
    )
    .await;
    assert_eq!(
        details, "3",
        "two reads of the checkpoint and one verification are recorded"
    );
    Ok(())
}

/// Export: every event once, oldest first, across keyset pages; event
/// schema v1 with the OCSF class; the filters; CSV that a spreadsheet shows
/// as text; the export audited.
async fn evidence_export_pages_through_everything_as_jsonl_and_safe_csv(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    svc.console
        .invite_admin(&owner, "eve@test.example", "Eve", Role::Auditor)
        .await?;
    // Text a spreadsheet would run as a formula (a name typed at sign-in).
    let hostile = Actor::system("=HYPERLINK(\"http://evil.example\",\"x\")");
    let mut tx = svc.db().begin().await?;
    append(
        &mut tx,
        clock.now(),
        &hostile,
        NewEvent::success("console.signin.failed"),
    )
    .await?;
    tx.commit().await?;
    // Enough gateway decisions for three export pages.
    let gateway = Actor::system("bench gateway");
    let mut tx = svc.db().begin().await?;
    let decisions = (0..2100)
        .map(|i| {
            NewEvent::success("gateway.decision")
                .target(portcullis_domain::audit::Target::new(
                    "mcp_tool",
                    "github/search",
                    "search on github",
                ))
                .details(serde_json::json!({ "revision": 7, "n": i }))
        })
        .collect();
    portcullis_domain::audit::append_batch(&mut tx, clock.now(), &gateway, decisions).await?;
    tx.commit().await?;
    // (+ the verification's own `audit.verified`)
    let total = svc.audit.verify(&owner).await?.head_seq + 1;

    let mut jsonl = Vec::new();
    let mut pages = Vec::new();
    let n = svc
        .audit
        .export(
            &owner,
            &AuditQuery::default(),
            AuditExportFormat::Jsonl,
            &mut jsonl,
            &mut |n| pages.push(n),
        )
        .await?;
    assert_eq!(n as i64, total);
    assert_eq!(pages.last().copied(), Some(n), "{pages:?}");
    assert!(pages.len() >= 3, "pages of 1000: {pages:?}");
    let records: Vec<AuditRecord> = String::from_utf8(jsonl)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "every event once, in order"
    );
    let invited = records
        .iter()
        .find(|r| r.action == "console.admin.invited")
        .unwrap_or_else(|| panic!("the invitation is exported"));
    assert_eq!(invited.schema, "portcullis.audit/1");
    assert_eq!(
        (
            invited.ocsf.class_uid,
            invited.ocsf.activity_id,
            invited.ocsf.type_uid,
            invited.ocsf.status_id
        ),
        (3001, 1, 300101, 1)
    );
    assert_eq!(invited.actor.kind, "console_user");
    assert_eq!(invited.source.ip.as_deref(), Some("127.0.0.1"));
    let decision = records
        .iter()
        .find(|r| r.action == "gateway.decision")
        .unwrap_or_else(|| panic!("a decision"));
    assert_eq!(
        (decision.policy_revision, decision.ocsf.class_uid),
        (Some(7), 6003)
    );
    // The chain links survive the export: each record names its predecessor.
    assert!(records.windows(2).all(|w| w[1].prev_hash == w[0].hash));

    // CSV of the console events only (action prefix), the formula made text.
    let mut csv = Vec::new();
    let q = AuditQuery {
        action: "console".into(),
        ..Default::default()
    };
    let n = svc
        .audit
        .export(&owner, &q, AuditExportFormat::Csv, &mut csv, &mut |_| {})
        .await?;
    let csv = String::from_utf8(csv)?;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    assert_eq!(
        header[..7],
        [
            "seq",
            "id",
            "time",
            "actor_kind",
            "actor_id",
            "actor_display",
            "action"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len() as u64, n);
    assert!(rows.iter().all(|r| r[6].starts_with("console.")), "{csv}");
    let failed = rows
        .iter()
        .find(|r| r[6] == *"console.signin.failed")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(&failed[5], "'=HYPERLINK(\"http://evil.example\",\"x\")");

    // Both exports are in the log, with their filters and counts.
    let exported = text(
        svc.db(),
        "SELECT details FROM audit_events WHERE action = 'audit.exported' ORDER BY seq DESC LIMIT 1",
    )
    .await;
    let exported: serde_json::Value = serde_json::from_str(&exported)?;
    assert_eq!(exported["format"], "csv");
    assert_eq!(exported["filters"]["action"], "console");
    assert_eq!(exported["events"], n);
    Ok(())
}

/// `GET /api/v1/admin/audit/export` streams CSV and JSONL with the filters
/// (an unknown format is a 400 naming it); `portcullis audit export --out`
/// writes the same.
async fn evidence_export_over_the_admin_api_and_the_cli(db: &TestDb) -> TestResult {
    let srv = TestServer::start_on(db.alias(), &[]).await;
    let key = api_key(&srv, "export", "auditor").await;
    let http = srv.client();
    let get = |query: &str| {
        http.get(srv.url(&format!("/api/v1/admin/audit/export?{query}")))
            .bearer_auth(&key.secret)
            .send()
    };
    let r = get("format=jsonl").await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert!(r.headers()["content-disposition"]
        .to_str()?
        .contains("portcullis-audit.jsonl"));
    let body = r.text().await?;
    let records: Vec<AuditRecord> = body
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(!records.is_empty());
    assert!(
        records.iter().any(|r| r.action == "api_key.created"),
        "{body}"
    );

    let r = get("format=csv&action=api_key").await?;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let body = r.text().await?;
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("seq,id,time,"), "{body}");
    assert_eq!(lines.len(), 2, "the header and api_key.created: {body}");
    assert!(lines[1].contains(",api_key.created,"), "{body}");

    let r = get("format=xml").await?;
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    let problem = r.text().await?;
    assert!(problem.contains("format"), "{problem}");
    // The two exports are audited (the refused one is an api.call only).
    let svc = &srv.running.services;
    assert_eq!(
        text(
            svc.db(),
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action = 'audit.exported'"
        )
        .await,
        "2"
    );
    srv.stop().await;

    // The CLI on the same database.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("audit.csv");
    let file_arg = file.to_string_lossy().into_owned();
    let (code, out, err) = cli(
        db,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--action",
            "audit.exported",
            "--out",
            &file_arg,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("2 events written to"), "{err}");
    let csv = std::fs::read_to_string(&file)?;
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let (code, _, err) = cli(db, &["audit", "export", "--format", "pdf"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format: `pdf` is not jsonl or csv"), "{err}");
    Ok(())
}

/// Events appended while `verify` walks the log (gateways and the console
/// keep writing) are not mistaken for tampering: the walk follows the head
/// as it moves. 12,000 events are three of verify's pages; an appender
/// writes until the verification is done.
async fn evidence_verify_while_events_are_appended(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let gateway = Actor::system("edge gateway");
    let mut tx = svc.db().begin().await?;
    let decisions: Vec<NewEvent> = (0..12_000)
        .map(|i| NewEvent::success("gateway.decision").details(serde_json::json!({ "i": i })))
        .collect();
    portcullis_domain::audit::append_batch(&mut tx, clock.now(), &gateway, decisions).await?;
    tx.commit().await?;
    let done = Arc::new(AtomicBool::new(false));
    let appender = {
        let (svc, done, clock) = (svc.clone(), done.clone(), clock.clone());
        tokio::spawn(async move {
            let gw = Actor::system("edge gateway");
            let mut appended = 0u32;
            while !done.load(Ordering::Relaxed) {
                let mut tx = svc.db().begin().await.unwrap_or_else(|e| panic!("{e}"));
                append(
                    &mut tx,
                    clock.now(),
                    &gw,
                    NewEvent::success("gateway.decision"),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
                appended += 1;
                tokio::task::yield_now().await;
            }
            appended
        })
    };
    let r = svc.audit.verify(&owner).await?;
    done.store(true, Ordering::Relaxed);
    let appended = appender.await?;
    // (The appender only runs while verify awaits: what it appended, it
    // appended during the walk.)
    assert!(appended > 0, "the appender ran during the walk");
    assert_eq!(
        r.first_bad_seq, None,
        "{r:?} ({appended} appended meanwhile)"
    );
    assert!(r.checked >= 12_001, "{r:?}");
    assert_eq!(r.checked, r.head_seq, "{r:?}");
    // And once quiet, the whole log still verifies.
    let again = svc.audit.verify(&owner).await?;
    assert_eq!(again.first_bad_seq, None, "{again:?}");
    Ok(())
}

/// SQLite only: verify reads a SQLite file in place (not through sqlx), so
/// it must read a stored time as sqlx does. The same instant written in
/// another form sqlx accepts still verifies; another instant, or text that
/// is no time at all, is reported at that event (not an error).
#[tokio::test]
async fn evidence_verify_reads_sqlite_times_as_sqlx_does() -> TestResult {
    let db = TestDb::sqlite();
    let (svc, _clock) = services_on(&db).await;
    let owner = owner(&svc).await;
    invite(&svc, &owner, "t", 3).await;
    let seq = svc.audit.verify(&owner).await?.head_seq - 1;
    let stored = text(
        svc.db(),
        &format!("SELECT occurred_at FROM audit_events WHERE seq = {seq}"),
    )
    .await;
    let at = chrono::DateTime::parse_from_rfc3339(&stored)?.with_timezone(&chrono::Utc);
    let db_ = svc.db().clone();
    let set = |value: String| {
        let sql = format!("UPDATE audit_events SET occurred_at = {value} WHERE seq = {seq}");
        let db = db_.clone();
        async move { raw_exec(&db, &sql).await }
    };

    // The same instant as SQLite's own `YYYY-MM-DD HH:MM:SS.fff` (UTC).
    set(format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.f"))).await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!((r.first_bad_seq, r.problem), (None, None));
    assert_eq!(r.checked, r.head_seq);

    // Another instant, one second later.
    let later = at + chrono::Duration::seconds(1);
    set(format!(
        "'{}'",
        later.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    ))
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.problem.as_deref()),
        (Some(seq), Some("content does not match its hash"))
    );

    // Not a time at all: the same finding, and it is recorded.
    set("'yesterday'".to_owned()).await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.problem.as_deref()),
        (Some(seq), Some("content does not match its hash"))
    );
    let recorded = text(
        svc.db(),
        "SELECT outcome || ' ' || details FROM audit_events WHERE action = 'audit.verified' \
         ORDER BY seq DESC LIMIT 1",
    )
    .await;
    assert!(
        recorded.starts_with("failure ") && recorded.contains(&format!("\"first_bad_seq\":{seq}")),
        "{recorded}"
    );

    // Back to the stored text: intact again.
    set(format!("'{stored}'")).await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!((r.first_bad_seq, r.checked), (None, r.head_seq));
    Ok(())
}
