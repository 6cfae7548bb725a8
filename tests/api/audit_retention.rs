//! Audit retention (issue #19, item 5), on both backends: the purge job
//! deletes events older than the retention period and blanks gateway
//! decisions older than their own, shorter one; a legal hold stops it; the
//! rest of the chain still verifies from the signed purge records, and
//! tampering with what retention left (a row blanked by hand, a blanked row
//! filled in, a purge record altered or deleted, one more old row deleted)
//! is found. The CLI and the admin API show and drive it.

use crate::audit_evidence::{cli, invite, text};
use crate::audit_explorer::assert_slot_counts_true;
use crate::harness::{api_key, backend_tests, TestDb, TestResult, TestServer};
use crate::storage::{meta, owner, raw_exec, services_with};
use axum::http::StatusCode as AxumStatus;
use portcullis_domain::audit::{append, NewEvent, Target};
use portcullis_domain::{Actor, Clock, Db, Error, ManualClock, Services, Settings};
use portcullis_types::{AuditPurgeOutcome, AuditRetention, AuditSinkInput, PersonId, Role};

backend_tests!(
    retention_purges_blanks_decisions_and_still_verifies,
    retention_blanks_erased_decisions_and_still_verifies,
    retention_cli_and_admin_api_show_and_drive_it,
);

/// `n` gateway decisions, appended as one batch the way the policy API does.
async fn decisions(svc: &Services, clock: &ManualClock, n: usize) -> TestResult {
    let gateway = Actor::system("gateway gw-test");
    let mut tx = svc.db().begin().await?;
    let events = (0..n)
        .map(|i| {
            NewEvent::success("gateway.decision")
                .target(Target::new("tool", format!("tool_{i}"), "search_code"))
                .details(serde_json::json!({"decision": "allow", "person": "alice@test.example"}))
        })
        .collect();
    portcullis_domain::audit::append_batch(&mut tx, clock.now(), &gateway, events).await?;
    tx.commit().await?;
    Ok(())
}

async fn count(db: &Db, filter: &str) -> i64 {
    text(
        db,
        &format!("SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE {filter}"),
    )
    .await
    .parse()
    .unwrap_or(-1)
}

/// The first of the explorer's names matching `filter`, and how many do.
async fn names(db: &Db, filter: &str) -> String {
    text(
        db,
        &format!(
            "SELECT COALESCE(MIN(display), '') || '/' || CAST(COUNT(*) AS TEXT) \
             FROM audit_names WHERE {filter}"
        ),
    )
    .await
}

async fn head(db: &Db) -> i64 {
    text(db, "SELECT CAST(seq AS TEXT) FROM audit_head WHERE id = 1")
        .await
        .parse()
        .unwrap_or(-1)
}

/// Asserts `verify` fails at `seq` with a problem containing `words`.
async fn broken_at(svc: &Services, actor: &Actor, seq: i64, words: &str) -> TestResult {
    let r = svc.audit.verify(actor).await?;
    assert_eq!(r.first_bad_seq, Some(seq), "{r:?}");
    let problem = r.problem.unwrap_or_default();
    assert!(problem.contains(words), "{problem}");
    Ok(())
}

/// Services keeping events 30 days and gateway decisions 7.
async fn retention_services(db: &TestDb) -> (Services, std::sync::Arc<ManualClock>) {
    services_with(
        db,
        Settings {
            audit_retention_days: 30,
            audit_decision_retention_days: 7,
            ..Settings::default()
        },
    )
    .await
}

async fn retention_purges_blanks_decisions_and_still_verifies(db: &TestDb) -> TestResult {
    let (svc, clock) = retention_services(db).await;
    let owner = owner(&svc).await;
    // A SIEM destination that never answers: it falls behind from day 0.
    svc.audit
        .create_sink(
            &owner,
            &AuditSinkInput {
                name: "Lake".into(),
                kind: "webhook".into(),
                url: "https://siem.portcullis.invalid/hook".into(),
                secret: "a-signing-key-of-32-characters!!".into(),
            },
        )
        .await?;
    // Day 0: changes, decisions and a checkpoint exported then.
    invite(&svc, &owner, "old", 3).await;
    decisions(&svc, &clock, 4).await?;
    let old_checkpoint = svc.audit.checkpoint_now(&owner).await?;
    let day0_last = head(svc.db()).await;
    // Day 10: more of both (the decisions will be blanked, the rest kept).
    clock.advance(chrono::Duration::days(10));
    decisions(&svc, &clock, 3).await?;
    invite(&svc, &owner, "mid", 2).await;
    let day10_last = head(svc.db()).await;
    // Day 35: recent ones, kept whole.
    clock.advance(chrono::Duration::days(25));
    invite(&svc, &owner, "new", 1).await;
    decisions(&svc, &clock, 2).await?;
    svc.audit.checkpoint_now(&owner).await?;

    // Only owners hold and lift; a reason is required; one hold at a time.
    let admin = Actor {
        role: Some(Role::Admin),
        ..owner.clone()
    };
    assert!(matches!(
        svc.audit.place_legal_hold(&admin, "matter 7").await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        svc.audit.purge(&admin).await,
        Err(Error::Forbidden(_))
    ));
    match svc.audit.place_legal_hold(&owner, "  ").await {
        Err(Error::Invalid(errors)) => assert_eq!(errors[0].field, "reason"),
        other => panic!("an empty reason: {other:?}"),
    }
    let held = svc
        .audit
        .place_legal_hold(&owner, "Matter 2026-114")
        .await?;
    let hold = held
        .legal_hold
        .clone()
        .unwrap_or_else(|| panic!("{held:?}"));
    assert_eq!(
        (hold.reason.as_str(), hold.placed_by.as_str()),
        ("Matter 2026-114", "owner@test.example")
    );
    assert!(matches!(
        svc.audit.place_legal_hold(&owner, "again").await,
        Err(Error::Conflict { .. })
    ));

    // Under the hold nothing is deleted or blanked.
    let before = count(svc.db(), "1 = 1").await;
    let outcome = svc.audit.purge(&Actor::system("audit retention")).await?;
    assert_eq!(
        outcome,
        AuditPurgeOutcome {
            held: true,
            ..Default::default()
        }
    );
    assert_eq!(count(svc.db(), "1 = 1").await, before);
    assert_eq!(count(svc.db(), "redacted_at IS NOT NULL").await, 0);

    // Lifted (audited with the hold's reason), the job runs.
    let lifted = svc.audit.lift_legal_hold(&owner).await?;
    assert_eq!(lifted.legal_hold, None);
    assert!(matches!(
        svc.audit.lift_legal_hold(&owner).await,
        Err(Error::NotFound(_))
    ));
    let lift_details = text(
        svc.db(),
        "SELECT details FROM audit_events WHERE action = 'audit.legal_hold.lifted'",
    )
    .await;
    assert!(lift_details.contains("Matter 2026-114"), "{lift_details}");

    // The explorer's names of day 0's invitees and of tools only day 0
    // and day 10's decisions name, before and after.
    let old_invitees = "display LIKE 'old%@test.example'";
    let gone_tools = "kind = 'target' AND id IN ('tool_2', 'tool_3')";
    let kept_tools = "kind = 'target' AND id IN ('tool_0', 'tool_1')";
    assert_eq!(names(svc.db(), old_invitees).await, "old0@test.example/3");
    assert_eq!(names(svc.db(), gone_tools).await, "search_code/2");

    assert_slot_counts_true(svc.db()).await?;
    let outcome = svc.audit.purge(&Actor::system("audit retention")).await?;
    // The timeline's quarter-hour counts lose what was deleted.
    assert_slot_counts_true(svc.db()).await?;
    assert_eq!(
        names(svc.db(), old_invitees).await,
        "/0",
        "purged with their events"
    );
    assert_eq!(
        names(svc.db(), gone_tools).await,
        "/0",
        "purged and blanked"
    );
    assert_eq!(
        names(svc.db(), kept_tools).await,
        "search_code/2",
        "day 35 names them"
    );
    assert_eq!(
        outcome,
        AuditPurgeOutcome {
            held: false,
            purged: day0_last,
            purged_through_seq: Some(day0_last),
            redacted: 3,
            redacted_through_seq: Some(day10_last),
        }
    );
    // The destination no longer waits for what was deleted unsent.
    let lake = &svc.audit.list_sinks(&owner).await?[0];
    assert_eq!(
        lake.lag_events,
        head(svc.db()).await - day0_last,
        "{lake:?}"
    );
    // Day 0 is gone (events and the checkpoints of it); day 10's decisions
    // lost their content but not their place; day 10's changes and day 35
    // are whole.
    assert_eq!(count(svc.db(), &format!("seq <= {day0_last}")).await, 0);
    assert_eq!(
        text(
            svc.db(),
            &format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM audit_checkpoints WHERE seq < {day0_last}"
            )
        )
        .await,
        "0"
    );
    assert_eq!(
        count(
            svc.db(),
            "redacted_at IS NOT NULL AND action = 'gateway.decision' AND details = '{}' \
             AND actor_display = '' AND target_id IS NULL"
        )
        .await,
        3
    );
    assert_eq!(count(svc.db(), "redacted_at IS NOT NULL").await, 3);
    assert_eq!(
        count(
            svc.db(),
            "action = 'gateway.decision' AND redacted_at IS NULL AND details LIKE '%alice%'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            svc.db(),
            "action = 'console.admin.invited' AND actor_display = 'owner@test.example'"
        )
        .await,
        3,
        "day 10's and day 35's invitations"
    );
    let purged = text(
        svc.db(),
        "SELECT details FROM audit_events WHERE action = 'audit.purged'",
    )
    .await;
    let purged: serde_json::Value = serde_json::from_str(&purged)?;
    assert_eq!(purged["purged"]["through_seq"], day0_last);
    assert_eq!(purged["purged"]["events"], day0_last);
    assert_eq!(purged["redacted"]["events"], 3);
    assert_eq!(purged["retention_days"], 30);
    let purged_actor = text(
        svc.db(),
        "SELECT actor_display FROM audit_events WHERE action = 'audit.purged'",
    )
    .await;
    assert_eq!(purged_actor, "audit retention");

    // The rest verifies from the signed purge records.
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (
            r.first_bad_seq,
            r.purged_through_seq,
            r.redacted,
            r.head_seq
        ),
        // The head has moved on by the verification's own record.
        (None, Some(day0_last), 3, head(svc.db()).await - 1),
        "{r:?}"
    );
    assert_eq!(r.checked, r.head_seq - day0_last);
    // A checkpoint exported on day 0 names purged events: the purge record
    // stands in for it.
    let r = svc
        .audit
        .verify_with(&owner, old_checkpoint.as_ref())
        .await?;
    assert_eq!(r.first_bad_seq, None, "{r:?}");
    let status = svc.audit.retention(&owner).await?;
    assert_eq!(
        (
            status.retention_days,
            status.decision_retention_days,
            status.purged_through_seq,
            status.redacted_through_seq,
            status.last_purge_at
        ),
        (30, 7, Some(day0_last), Some(day10_last), Some(clock.now()))
    );

    // Nothing more is due: no run, no event.
    let events = head(svc.db()).await;
    let again = svc.audit.purge(&Actor::system("audit retention")).await?;
    assert_eq!(again, AuditPurgeOutcome::default());
    assert_eq!(head(svc.db()).await, events);

    // Tampering with what retention left is found.
    let db = svc.db();
    let kept = text(
        db,
        "SELECT CAST(MAX(seq) AS TEXT) FROM audit_events WHERE action = 'console.admin.invited'",
    )
    .await;
    // A kept event blanked by hand, outside any signed range.
    raw_exec(
        db,
        &format!("UPDATE audit_events SET redacted_at = occurred_at WHERE seq = {kept}"),
    )
    .await;
    broken_at(
        &svc,
        &owner,
        kept.parse()?,
        "no signed purge record blanked it",
    )
    .await?;
    raw_exec(
        db,
        &format!("UPDATE audit_events SET redacted_at = NULL WHERE seq = {kept}"),
    )
    .await;
    // A blanked decision "filled in" again: its hash no longer matches.
    let blanked: i64 = text(
        db,
        "SELECT CAST(MIN(seq) AS TEXT) FROM audit_events WHERE redacted_at IS NOT NULL",
    )
    .await
    .parse()?;
    raw_exec(
        db,
        &format!("UPDATE audit_events SET redacted_at = NULL WHERE seq = {blanked}"),
    )
    .await;
    broken_at(&svc, &owner, blanked, "content does not match its hash").await?;
    raw_exec(
        db,
        &format!("UPDATE audit_events SET redacted_at = occurred_at WHERE seq = {blanked}"),
    )
    .await;
    // A purge record altered: its signature no longer covers it.
    raw_exec(
        db,
        "UPDATE audit_purges SET count = count + 1 WHERE kind = 'decisions'",
    )
    .await;
    broken_at(
        &svc,
        &owner,
        day0_last + 1,
        "does not verify with the audit key",
    )
    .await?;
    raw_exec(
        db,
        "UPDATE audit_purges SET count = count - 1 WHERE kind = 'decisions'",
    )
    .await;
    // The prefix record deleted: the chain must start at 1 again.
    raw_exec(
        db,
        "CREATE TABLE purges_saved AS SELECT * FROM audit_purges",
    )
    .await;
    raw_exec(db, "DELETE FROM audit_purges WHERE kind = 'prefix'").await;
    broken_at(&svc, &owner, 1, "event 1 is missing").await?;
    raw_exec(
        db,
        "INSERT INTO audit_purges SELECT * FROM purges_saved WHERE kind = 'prefix'",
    )
    .await;
    // The decisions record deleted: its blanked rows are unaccounted for.
    raw_exec(db, "DELETE FROM audit_purges WHERE kind = 'decisions'").await;
    broken_at(&svc, &owner, blanked, "no signed purge record blanked it").await?;
    raw_exec(
        db,
        "INSERT INTO audit_purges SELECT * FROM purges_saved WHERE kind = 'decisions'",
    )
    .await;
    assert_eq!(
        svc.audit.verify(&owner).await?.first_bad_seq,
        None,
        "restored"
    );
    // One more old event deleted, as if retention had gone further.
    raw_exec(
        db,
        &format!("DELETE FROM audit_events WHERE seq = {}", day0_last + 1),
    )
    .await;
    broken_at(
        &svc,
        &owner,
        day0_last + 1,
        &format!("event {} is missing", day0_last + 1),
    )
    .await?;
    Ok(())
}

/// `portcullis audit hold|purge|release|retention` and
/// `GET /api/v1/admin/audit/retention`.
async fn retention_cli_and_admin_api_show_and_drive_it(db: &TestDb) -> TestResult {
    let (code, _, err) = cli(db, &["admin", "create-owner", "--email", "o@test.example"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(db, &["audit", "hold", "--reason", " "]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("reason"), "{err}");
    let (code, out, err) = cli(db, &["audit", "hold", "--reason", "Matter 9"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Legal hold placed") && out.contains("Matter 9"),
        "{out}"
    );
    let (code, out, err) = cli(db, &["audit", "purge"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("A legal hold is in place"), "{out}");

    let srv = TestServer::start_on(db.alias(), &[]).await;
    let key = api_key(&srv, "retention", "auditor").await;
    let res = srv
        .client()
        .get(srv.url("/api/v1/admin/audit/retention"))
        .bearer_auth(&key.secret)
        .send()
        .await?;
    assert_eq!(res.status(), AxumStatus::OK);
    let r: AuditRetention = res.json().await?;
    assert_eq!((r.retention_days, r.decision_retention_days), (400, 400));
    let hold = r.legal_hold.unwrap_or_else(|| panic!("the hold"));
    assert_eq!(
        (hold.reason.as_str(), hold.placed_by.as_str()),
        ("Matter 9", "portcullis audit hold")
    );
    assert_eq!((r.purged_through_seq, r.last_purge_at), (None, None));
    assert!(r.oldest_event_at.is_some());
    drop(srv);

    let (code, out, err) = cli(db, &["audit", "release"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Legal hold released"), "{out}");
    let (code, _, err) = cli(db, &["audit", "release"]);
    assert_eq!(code, 2);
    assert!(err.contains("No legal hold is in place"), "{err}");
    // Nothing is 400 days old yet.
    let (code, out, err) = cli(db, &["audit", "purge"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing was purged"), "{out}");
    let (code, out, _) = cli(db, &["audit", "retention"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Events kept:            400 days")
            && out.contains("Legal hold:             none"),
        "{out}"
    );
    // Both changes of the hold are in the log, by the CLI.
    let pool = Db::connect(&db.url, &Default::default()).await?;
    let actions = text(
        &pool,
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action LIKE 'audit.legal_hold.%' AND actor_type = 'system'",
    )
    .await;
    assert_eq!(actions, "2");
    pool.close().await;
    Ok(())
}

/// Gateway decisions naming a person are erased, then blanked by retention
/// once past their period: the chain, the erasure record and the purge
/// record all still verify, and a blanked erased row's erasure mark is
/// still accounted for.
async fn retention_blanks_erased_decisions_and_still_verifies(db: &TestDb) -> TestResult {
    let (svc, clock) = retention_services(db).await;
    let owner = owner(&svc).await;
    let alice = Actor::person(
        &PersonId::from("u_alice".to_owned()),
        "alice@test.example",
        meta("203.0.113.9"),
    );
    let mut tx = svc.db().begin().await?;
    append(
        &mut tx,
        clock.now(),
        &alice,
        NewEvent::success("oauth.consent.granted"),
    )
    .await?;
    tx.commit().await?;
    // Three decisions whose details name her.
    decisions(&svc, &clock, 3).await?;
    let erasure = svc.audit.erase(&owner, "u_alice").await?;
    assert_eq!(erasure.events, 4, "{erasure:?}");

    // Day 10: the decisions are past their 7 days; her own event is kept.
    clock.advance(chrono::Duration::days(10));
    let outcome = svc.audit.purge(&Actor::system("audit retention")).await?;
    assert_eq!((outcome.purged, outcome.redacted), (0, 3), "{outcome:?}");
    assert_eq!(
        count(
            svc.db(),
            "erasure_id IS NOT NULL AND redacted_at IS NOT NULL AND details = '{}'"
        )
        .await,
        3
    );
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(
        (r.first_bad_seq, r.redacted, r.erased),
        (None, 3, 4),
        "{r:?}"
    );

    // A blanked erased row's erased hash altered: the erasure record no
    // longer matches the rows it signed.
    raw_exec(
        svc.db(),
        &format!(
            "UPDATE audit_events SET erased_hash = '{}' WHERE seq = \
             (SELECT MIN(seq) FROM audit_events WHERE redacted_at IS NOT NULL)",
            "0".repeat(64)
        ),
    )
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(r.first_bad_seq, Some(erasure.first_seq), "{r:?}");
    let problem = r.problem.unwrap_or_default();
    assert!(
        problem.contains("are not the 4 its signed record names"),
        "{problem}"
    );
    Ok(())
}
