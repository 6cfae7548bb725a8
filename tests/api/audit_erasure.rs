//! Erasure of a person's personal data and masked details (issue #19,
//! items 7 and 2), on both backends. An owner erases a person: every event
//! by them, about them or naming them reads a pseudonym, ids stay, other
//! people's events are untouched, and the chain, its checkpoints included,
//! still verifies. The erased rows are then tampered with directly (SQL):
//! an erased row edited, another row marked erased, an erased row's mark
//! removed, the signed record altered; `verify` names each. Masked details
//! read masked in lists and exports until an owner reveals them, and the
//! reveal is recorded. The CLI erases too, and killed with SIGKILL part
//! way through an erasure it leaves all of it or none.

use crate::audit_evidence::{cli, cli_command, text};
use crate::harness::{backend_tests, TestDb, TestResult};
use crate::storage::{meta, owner, raw_exec, services_on};
use portcullis_domain::audit::{append, NewEvent, Target};
use portcullis_domain::{Actor, Error, Services};
use portcullis_types::{
    AuditExportFormat, AuditQuery, AuditRecord, ConsoleUserId, Outcome, PersonId, Role,
    MASKED_VALUE,
};
use serde_json::json;

backend_tests!(
    erasure_pseudonymises_a_person_and_the_chain_still_verifies,
    erasure_tampering_with_erased_rows_is_found,
    erasure_masked_details_stay_masked_until_an_owner_reveals_them,
    erasure_from_the_cli,
    erasure_killed_midway_leaves_all_or_nothing,
);

const ALICE: &str = "u_7f3k9q";

fn console(role: Role) -> Actor {
    Actor::console_user(
        &ConsoleUserId::from(format!("usr_{}", role.as_str())),
        &format!("{}@corp.example", role.as_str()),
        Some(role),
        meta("127.0.0.1"),
    )
}

async fn put(svc: &Services, actor: &Actor, event: NewEvent) -> i64 {
    let mut tx = svc.db().begin().await.unwrap_or_else(|e| panic!("{e}"));
    let seq = append(&mut tx, chrono::Utc::now(), actor, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    seq
}

/// Alice's trail: her own consent (from her laptop), the directory
/// creating her, a failed console sign-in with her email typed, a gateway
/// decision for her; and Bob's consent, which must stay. Returns the seqs
/// of Alice's four events and Bob's.
async fn seed(svc: &Services) -> (Vec<i64>, i64) {
    let alice = Actor::person(
        &PersonId::from(ALICE.to_owned()),
        "alice.liddell@corp.example",
        meta("203.0.113.9"),
    );
    let bob = Actor::person(
        &PersonId::from("u_b0b".to_owned()),
        "bob@corp.example",
        meta("198.51.100.4"),
    );
    let directory = Actor::system("okta");
    let mut alices = vec![
        put(
            svc,
            &alice,
            NewEvent::success("oauth.consent.granted")
                .target(Target::new("oauth_client", "cli_1", "Claude"))
                .details(json!({ "client": "cli_1", "scope": "mcp" })),
        )
        .await,
        put(
            svc,
            &directory,
            NewEvent::success("scim.user.created")
                .target(Target::new(
                    "directory_user",
                    ALICE,
                    "Alice.Liddell@corp.example",
                ))
                .details(json!({ "emails": ["alice.liddell@corp.example"], "active": true })),
        )
        .await,
        put(
            svc,
            // What was typed is the anonymous actor's name, as at sign-in.
            &Actor {
                display: "alice.liddell@corp.example".into(),
                ..Actor::anonymous(meta("203.0.113.9"))
            },
            NewEvent::success("console.signin.failed")
                .outcome(Outcome::Failure)
                .details(json!({ "email": "ALICE.LIDDELL@corp.example", "reason": "unknown" })),
        )
        .await,
    ];
    let gw = Actor::system("edge gateway");
    alices.push(
        put(
            svc,
            &gw,
            NewEvent::success("gateway.decision")
                .target(Target::new("mcp_tool", "srv_1/search", "search on github"))
                .details(json!({ "user": "alice.liddell@corp.example", "allowed": true })),
        )
        .await,
    );
    let bobs = put(
        svc,
        &bob,
        NewEvent::success("oauth.consent.granted")
            .target(Target::new("oauth_client", "cli_1", "Claude"))
            .details(json!({ "client": "cli_1" })),
    )
    .await;
    (alices, bobs)
}

/// The error of a call that must be refused.
fn refused<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    match r {
        Err(e) => e,
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

async fn count(svc: &Services, owner: &Actor, q: AuditQuery) -> i64 {
    svc.audit
        .count_events(owner, &q)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn erasure_pseudonymises_a_person_and_the_chain_still_verifies(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let (alices, bob) = seed(&svc).await;
    let cp = svc
        .audit
        .checkpoint_now(&owner)
        .await?
        .unwrap_or_else(|| panic!("a checkpoint"));
    let text_q = |t: &str| AuditQuery {
        text: t.into(),
        ..Default::default()
    };
    assert_eq!(count(&svc, &owner, text_q("liddell")).await, 4);

    // Only owners erase; an id the log does not know as a person is refused.
    for role in [Role::Admin, Role::Auditor] {
        let err = refused(svc.audit.erase(&console(role), ALICE).await);
        assert!(matches!(err, Error::Forbidden(_)), "{role:?}: {err}");
    }
    match refused(svc.audit.erase(&owner, "cli_1").await) {
        Error::Invalid(f) => assert_eq!(f[0].field, "person", "{f:?}"),
        other => panic!("{other}"),
    }
    assert_eq!(
        count(&svc, &owner, text_q("liddell")).await,
        4,
        "refusals change nothing"
    );

    // The explorer's names hold hers: as herself, as typed at sign-in (no
    // id) and as the directory's target.
    let her_names = "SELECT CAST(COUNT(*) AS TEXT) FROM audit_names \
                     WHERE LOWER(display) LIKE '%liddell%'";
    assert_eq!(text(svc.db(), her_names).await, "3");

    let done = svc.audit.erase(&owner, ALICE).await?;
    assert_eq!(done.person_id, ALICE);
    assert_eq!(done.events, 4, "{done:?}");
    assert_eq!(
        (done.first_seq, done.last_seq),
        (alices[0], alices[3]),
        "{done:?}"
    );
    assert!(done.pseudonym.starts_with("Erased person "), "{done:?}");

    // No event names her any more, in any case, nor do the explorer's
    // names; her events still read as one person's by id and by her
    // pseudonym; Bob is untouched.
    assert_eq!(count(&svc, &owner, text_q("liddell")).await, 0);
    assert_eq!(text(svc.db(), her_names).await, "0");
    let named = |actor: &str, target: &str| AuditQuery {
        actor: actor.into(),
        target: target.into(),
        ..Default::default()
    };
    assert_eq!(count(&svc, &owner, named("liddell", "")).await, 0);
    assert_eq!(count(&svc, &owner, named("", "liddell")).await, 0);
    assert_eq!(
        count(&svc, &owner, named(&done.pseudonym.to_uppercase(), "")).await,
        2,
        "her own action and what she typed"
    );
    assert_eq!(
        count(&svc, &owner, named("", &done.pseudonym)).await,
        2,
        "the directory's event about her and the erasure's own"
    );
    let by_id = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                actor: ALICE.into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(by_id.items.len(), 1);
    let own = &by_id.items[0];
    assert_eq!(own.seq, alices[0]);
    assert_eq!(own.actor_display, done.pseudonym);
    assert_eq!(
        (own.source_ip.as_deref(), own.user_agent.as_deref()),
        (None, None)
    );
    assert_eq!(own.erasure_id.as_deref(), Some(done.id.as_str()));
    let about = svc
        .audit
        .event(&owner, &id_at(&svc, alices[1]).await)
        .await?;
    assert_eq!(
        about.target_display.as_deref(),
        Some(done.pseudonym.as_str())
    );
    assert_eq!(about.details["emails"][0], done.pseudonym.as_str());
    let decision = svc
        .audit
        .event(&owner, &id_at(&svc, alices[3]).await)
        .await?;
    assert_eq!(decision.details["user"], done.pseudonym.as_str());
    assert_eq!(
        decision.source_ip, None,
        "the gateway's own address is not hers, but it had none"
    );
    let typed = svc
        .audit
        .event(&owner, &id_at(&svc, alices[2]).await)
        .await?;
    assert_eq!(typed.details["reason"], "unknown");
    assert_eq!(typed.source_ip, None, "she typed it: her address goes too");
    let revealed = svc.audit.reveal(&owner, &typed.id).await?;
    assert_eq!(revealed.actor_display, done.pseudonym);
    assert_eq!(revealed.details["email"], done.pseudonym.as_str());
    let bobs = svc.audit.event(&owner, &id_at(&svc, bob).await).await?;
    assert_eq!(bobs.actor_display, "bob@corp.example");
    assert_eq!(bobs.source_ip.as_deref(), Some("198.51.100.4"));
    assert_eq!(bobs.erasure_id, None);

    // The erasure is itself an event, naming her by id and pseudonym only.
    let erased = svc.audit.event(&owner, &done.event_id).await?;
    assert_eq!(erased.action, "audit.erased");
    assert_eq!(erased.target_id.as_deref(), Some(ALICE));
    assert_eq!(erased.details["events"], 4);
    assert_eq!(erased.details["erasure"], done.id.as_str());

    // The chain and the checkpoint taken before still verify.
    let r = svc.audit.verify_with(&owner, Some(&cp)).await?;
    assert_eq!(r.first_bad_seq, None, "{r:?}");
    assert_eq!(r.erased, 4, "{r:?}");
    assert!(r.checkpoints_checked >= 1, "{r:?}");

    // Nothing of hers is left: a second erasure is refused, and the
    // refusal writes nothing.
    let head = r.head_seq + 1; // + audit.verified
    match refused(svc.audit.erase(&owner, ALICE).await) {
        Error::Conflict { field, message } => {
            assert_eq!(field, "person");
            assert!(message.contains("no personal data"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        text(svc.db(), "SELECT CAST(seq AS TEXT) FROM audit_head").await,
        head.to_string()
    );
    // Verifying is recorded too.
    assert_eq!(
        count(
            &svc,
            &owner,
            AuditQuery {
                action: "audit.verified".into(),
                ..Default::default()
            }
        )
        .await,
        1
    );
    Ok(())
}

async fn id_at(svc: &Services, seq: i64) -> String {
    text(
        svc.db(),
        &format!("SELECT id FROM audit_events WHERE seq = {seq}"),
    )
    .await
}

async fn erasure_tampering_with_erased_rows_is_found(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let (alices, bob) = seed(&svc).await;
    let done = svc.audit.erase(&owner, ALICE).await?;
    let ok = svc.audit.verify(&owner).await?;
    assert_eq!(ok.first_bad_seq, None, "{ok:?}");
    let first_bad =
        |r: portcullis_types::ChainReport| (r.first_bad_seq, r.problem.unwrap_or_default());

    // 1. Her name put back into an erased row.
    let seq = alices[1];
    let was = text(
        svc.db(),
        &format!("SELECT target_display FROM audit_events WHERE seq = {seq}"),
    )
    .await;
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_events SET target_display = 'Alice.Liddell@corp.example' WHERE seq = {seq}"),
    )
    .await;
    let (bad, problem) = first_bad(svc.audit.verify(&owner).await?);
    assert_eq!(bad, Some(seq), "{problem}");
    assert!(problem.contains("since erasure"), "{problem}");
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_events SET target_display = '{was}' WHERE seq = {seq}"),
    )
    .await;

    // 2. Bob's event marked erased (its content made consistent with the
    //    mark): no signed record covers it.
    raw_exec(
        svc.db(),
        &format!(
            "UPDATE audit_events SET erasure_id = '{}', erased_hash = hash WHERE seq = {bob}",
            done.id
        ),
    )
    .await;
    let (bad, problem) = first_bad(svc.audit.verify(&owner).await?);
    assert_eq!(bad, Some(bob), "{problem}");
    assert!(problem.contains("no signed erasure record"), "{problem}");
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_events SET erasure_id = NULL, erased_hash = NULL WHERE seq = {bob}"),
    )
    .await;

    // 3. An erased row's mark removed, as if never erased: its content no
    //    longer matches its hash.
    let seq = alices[0];
    let mark = text(
        svc.db(),
        &format!("SELECT erased_hash FROM audit_events WHERE seq = {seq}"),
    )
    .await;
    raw_exec(
        svc.db(),
        &format!("UPDATE audit_events SET erasure_id = NULL, erased_hash = NULL WHERE seq = {seq}"),
    )
    .await;
    let (bad, problem) = first_bad(svc.audit.verify(&owner).await?);
    assert_eq!(bad, Some(seq), "{problem}");
    assert!(problem.contains("content does not match"), "{problem}");
    raw_exec(
        svc.db(),
        &format!(
            "UPDATE audit_events SET erasure_id = '{}', erased_hash = '{mark}' WHERE seq = {seq}",
            done.id
        ),
    )
    .await;
    let (bad, problem) = first_bad(svc.audit.verify(&owner).await?);
    assert_eq!(bad, None, "restored: {problem}");

    // 4. The signed record altered to vouch for one event fewer.
    raw_exec(
        svc.db(),
        &format!(
            "UPDATE audit_erasures SET count = count - 1 WHERE id = '{}'",
            done.id
        ),
    )
    .await;
    let (bad, problem) = first_bad(svc.audit.verify(&owner).await?);
    assert_eq!(bad, Some(done.first_seq), "{problem}");
    assert!(
        problem.contains("does not verify with the audit key"),
        "{problem}"
    );
    Ok(())
}

async fn erasure_masked_details_stay_masked_until_an_owner_reveals_them(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let (alices, _) = seed(&svc).await;
    let typed = id_at(&svc, alices[2]).await;
    let auditor = console(Role::Auditor);

    // Listed masked, to every role.
    let listed = svc.audit.event(&auditor, &typed).await?;
    assert_eq!(listed.masked, vec!["actor".to_owned(), "email".to_owned()]);
    assert_eq!(listed.actor_display, MASKED_VALUE);
    assert_eq!(listed.details["email"], MASKED_VALUE);
    assert_eq!(listed.details["reason"], "unknown");
    let page = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                action: "console.signin".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(page.items[0].details["email"], MASKED_VALUE);
    // Exported masked.
    let mut out = Vec::new();
    svc.audit
        .export(
            &auditor,
            &AuditQuery {
                action: "console.signin.failed".into(),
                ..Default::default()
            },
            AuditExportFormat::Jsonl,
            &mut out,
            &mut |_| {},
        )
        .await?;
    let rec: AuditRecord =
        serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap_or(&[]))?;
    assert_eq!(rec.details["email"], MASKED_VALUE);
    assert_eq!(rec.actor.display, MASKED_VALUE);
    assert_eq!(rec.masked, vec!["actor".to_owned(), "email".to_owned()]);
    assert!(!String::from_utf8(out)?.to_lowercase().contains("liddell"));

    // Only an owner reveals; the reveal is recorded.
    for role in [Role::Admin, Role::Auditor] {
        let err = refused(svc.audit.reveal(&console(role), &typed).await);
        assert!(matches!(err, Error::Forbidden(_)), "{role:?}: {err}");
    }
    let revealed = svc.audit.reveal(&owner, &typed).await?;
    assert_eq!(revealed.details["email"], "ALICE.LIDDELL@corp.example");
    assert_eq!(revealed.actor_display, "alice.liddell@corp.example");
    assert_eq!(
        revealed.revealed,
        vec!["actor".to_owned(), "email".to_owned()]
    );
    let rows = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                action: "audit.revealed".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(rows.items.len(), 1);
    assert_eq!(rows.items[0].target_id.as_deref(), Some(typed.as_str()));
    assert_eq!(rows.items[0].details["keys"], json!(["actor", "email"]));
    // Nothing to reveal, or no such event: refused, nothing recorded.
    let plain = id_at(&svc, alices[0]).await;
    assert!(matches!(
        refused(svc.audit.reveal(&owner, &plain).await),
        Error::Conflict { .. }
    ));
    assert!(matches!(
        refused(svc.audit.reveal(&owner, "evt_nope").await),
        Error::NotFound(_)
    ));
    assert_eq!(
        count(
            &svc,
            &owner,
            AuditQuery {
                action: "audit.revealed".into(),
                ..Default::default()
            }
        )
        .await,
        1
    );
    Ok(())
}

/// `portcullis audit erase --person`: exit 0 with what it did, 2 when
/// nothing is left or the id is unknown; the CLI's verify counts the
/// erased events.
async fn erasure_from_the_cli(db: &TestDb) -> TestResult {
    {
        let (svc, _clock) = services_on(db).await;
        seed(&svc).await;
    }
    let (code, out, err) = cli(db, &["audit", "erase", "--person", ALICE]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Erased {ALICE}'s personal data from 4 events"))
            && out.contains("Erased person "),
        "{out}"
    );
    let (code, out, err) = cli(db, &["audit", "erase", "--person", ALICE]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no personal data"), "{err}");
    let (code, out, err) = cli(db, &["audit", "erase", "--person", "cli_1"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("person"), "{err}");
    let (code, out, err) = cli(db, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("4 events had a person's personal data erased"),
        "{out}"
    );
    let (svc, _clock) = services_on(db).await;
    let by = text(
        svc.db(),
        "SELECT actor_display FROM audit_events WHERE action = 'audit.erased'",
    )
    .await;
    assert_eq!(by, "portcullis audit erase");
    Ok(())
}

/// `portcullis audit erase` killed with SIGKILL at growing moments until
/// one run finishes: after each kill the erasure is all there or not at
/// all (one transaction), and the chain verifies.
async fn erasure_killed_midway_leaves_all_or_nothing(db: &TestDb) -> TestResult {
    {
        let (svc, _clock) = services_on(db).await;
        seed(&svc).await;
        // Enough decisions naming Alice that the erasure takes a while.
        let gw = Actor::system("edge gateway");
        for _ in 0..40 {
            let batch = (0..500)
                .map(|i| {
                    NewEvent::success("gateway.decision")
                        .target(Target::new("mcp_tool", format!("srv_1/t{i}"), "search"))
                        .details(json!({ "user": "alice.liddell@corp.example", "allowed": true }))
                })
                .collect();
            let mut tx = svc.db().begin().await?;
            portcullis_domain::audit::append_batch(&mut tx, chrono::Utc::now(), &gw, batch).await?;
            tx.commit().await?;
        }
    }
    let erased_rows =
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE erasure_id IS NOT NULL";
    let mut killed_running = 0;
    let mut delay = std::time::Duration::from_millis(400);
    loop {
        let mut child = cli_command(db, &["audit", "erase", "--person", ALICE])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let started = std::time::Instant::now();
        let done = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= delay {
                break None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        if done.is_none() {
            child.kill()?;
            killed_running += 1;
        }
        child.wait()?;
        let (svc, _clock) = services_on(db).await;
        let records = text(
            svc.db(),
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_erasures",
        )
        .await;
        let rows = text(svc.db(), erased_rows).await;
        match records.as_str() {
            "0" => assert_eq!(rows, "0", "no erasure record, yet rows marked erased"),
            "1" => {
                let signed = text(svc.db(), "SELECT CAST(count AS TEXT) FROM audit_erasures").await;
                assert_eq!(
                    rows, signed,
                    "the rows marked erased are the ones the record signed"
                );
            }
            other => panic!("{other} erasure records"),
        }
        let report = svc.audit.verify(&Actor::system("test")).await?;
        assert_eq!(
            (report.first_bad_seq, report.problem.as_deref()),
            (None, None),
            "after a run stopped at {delay:?}"
        );
        let what = if done.is_some() {
            "finished within"
        } else {
            "killed at"
        };
        eprintln!("erase {what} {delay:?}: {records} erasure records, {rows} rows marked");
        if records == "1" {
            break;
        }
        assert!(
            delay < std::time::Duration::from_secs(120),
            "the erasure never finished"
        );
        delay *= 2;
    }
    assert!(killed_running > 0, "no run was killed while it worked");
    Ok(())
}
