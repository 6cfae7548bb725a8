//! The storage conformance suite: the same scenarios against SQLite and
//! PostgreSQL, through the domain services (no HTTP).
//!
//! Each scenario is an `async fn(&Services, &Db)`; `backend_tests!` makes a
//! SQLite test and an ignored PostgreSQL test of it (`make test` runs the
//! ignored ones when PostgreSQL answers).

use crate::harness::{backend_tests, TestDb, TestResult};
use chrono::TimeZone;
use portcullis_domain::{Actor, Db, Error, ManualClock, RequestMeta, Services, Settings};
use portcullis_types::{AuditQuery, ConsoleUserId, Role};
use std::sync::Arc;

pub(crate) async fn services_on(db: &TestDb) -> (Services, Arc<ManualClock>) {
    services_with(db, Settings::default()).await
}

/// [`services_on`] with `settings`.
pub(crate) async fn services_with(db: &TestDb, settings: Settings) -> (Services, Arc<ManualClock>) {
    let pool = Db::connect(&db.url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    pool.migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .unwrap_or_default();
    let clock = Arc::new(ManualClock::new(start));
    (
        Services::new(pool, clock.clone(), settings).unwrap_or_else(|e| panic!("services: {e}")),
        clock,
    )
}

pub(crate) fn meta(ip: &str) -> RequestMeta {
    RequestMeta {
        source_ip: Some(ip.into()),
        user_agent: Some("test".into()),
        request_id: Some("req-1".into()),
    }
}

/// An active owner and a session actor for them.
pub(crate) async fn owner(svc: &Services) -> Actor {
    let link = svc
        .console
        .create_owner(&Actor::system("test"), "owner@test.example", "Owner")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = link
        .path
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    let s = svc
        .console
        .accept_link(meta("127.0.0.1"), &token, "", "owner password 123")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    svc.console
        .find_session(&s.secret, meta("127.0.0.1"))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("owner session"))
}

backend_tests!(
    storage_migrations_are_current_after_migrate,
    storage_console_user_email_unique_maps_to_conflict,
    storage_session_idle_and_absolute_timeouts,
    storage_audit_chain_verifies_and_lists_with_filters,
    storage_audit_tampering_is_found_at_first_bad_seq,
    storage_concurrent_writers_keep_chain_and_lose_nothing,
    storage_throttle_window_slides,
    storage_failed_transaction_leaves_no_audit_event,
    storage_directory_user_list_filters_sorts_and_pages,
    storage_directory_group_members_join_own_directory_users,
    storage_overview_days_follow_the_admins_zone,
);

/// After migrate, readiness says migrations are current and the database answers.
async fn storage_migrations_are_current_after_migrate(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    svc.db().ping().await?;
    assert!(svc.db().migrations_current().await?);
    // Migrating again is a no-op.
    svc.db().migrate().await?;
    Ok(())
}

/// Email is unique case-insensitively; the violation maps to Conflict on `email` and nothing is half-written.
async fn storage_console_user_email_unique_maps_to_conflict(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    svc.console
        .invite_admin(&owner, "dup@test.example", "", Role::Admin)
        .await?;
    let before = svc.audit.verify(&owner).await?.checked;
    match svc
        .console
        .invite_admin(&owner, "DUP@test.example", "", Role::Auditor)
        .await
    {
        Err(Error::Conflict { field, .. }) => assert_eq!(field, "email"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        // Less the first verification's own record.
        svc.audit.verify(&owner).await?.checked - 1,
        before,
        "no audit event for the failed invite"
    );
    let page = svc.console.list_admins(&owner, "dup", 0, 10).await?;
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].role, Role::Admin);
    Ok(())
}

/// A session ends after the idle timeout, and after the absolute timeout even when used.
async fn storage_session_idle_and_absolute_timeouts(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let _ = owner(&svc).await;
    let s = svc
        .console
        .sign_in(meta("10.0.0.1"), "owner@test.example", "owner password 123")
        .await?;
    clock.advance(chrono::Duration::minutes(59));
    assert!(
        svc.console
            .find_session(&s.secret, meta("10.0.0.1"))
            .await?
            .is_some(),
        "used within the idle timeout"
    );
    clock.advance(chrono::Duration::minutes(61));
    assert!(
        svc.console
            .find_session(&s.secret, meta("10.0.0.1"))
            .await?
            .is_none(),
        "idle for over an hour"
    );

    let s = svc
        .console
        .sign_in(meta("10.0.0.1"), "owner@test.example", "owner password 123")
        .await?;
    for _ in 0..13 {
        clock.advance(chrono::Duration::minutes(55));
        let _ = svc
            .console
            .find_session(&s.secret, meta("10.0.0.1"))
            .await?;
    }
    // 11 h 55 min in: still valid; one more step passes 12 h.
    clock.advance(chrono::Duration::minutes(10));
    assert!(
        svc.console
            .find_session(&s.secret, meta("10.0.0.1"))
            .await?
            .is_none(),
        "absolute timeout"
    );
    Ok(())
}

/// The chain verifies; listing filters by action prefix, actor and time range, newest first.
async fn storage_audit_chain_verifies_and_lists_with_filters(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    clock.advance(chrono::Duration::days(1));
    let t_mid = clock_now(&clock);
    for i in 0..3 {
        svc.console
            .invite_admin(&owner, &format!("u{i}@test.example"), "", Role::Admin)
            .await?;
    }
    let _ = svc
        .console
        .sign_in(meta("10.9.9.9"), "nobody@test.example", "x")
        .await;
    let report = svc.audit.verify(&owner).await?;
    assert_eq!(
        (report.checked, report.first_bad_seq),
        (6, None),
        "{report:?}"
    );

    // The verification is recorded, as event 7.
    let all = svc.audit.list_events(&owner, AuditQuery::default()).await?;
    assert_eq!(all.total, 7);
    assert_eq!(all.items[0].action, "audit.verified");
    assert_eq!(all.items[0].details["checked"], 6);
    let seqs: Vec<i64> = all.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [7, 6, 5, 4, 3, 2, 1]);
    let invited = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                action: "console.admin".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(invited.total, 3);
    assert!(invited
        .items
        .iter()
        .all(|e| e.action == "console.admin.invited"));
    // A prefix must end at a dot boundary: "console.adm" matches nothing.
    let partial = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                action: "console.adm".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(partial.total, 0);
    let by_actor = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                actor: "NOBODY@".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(by_actor.total, 1);
    assert_eq!(by_actor.items[0].source_ip.as_deref(), Some("10.9.9.9"));
    let since = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                since: Some(t_mid),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(since.total, 5, "with the verification's record");
    let until = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                until: Some(t_mid),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(until.total, 2);
    // LIKE wildcards in the filter are literal.
    let wild = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                actor: "%".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(wild.total, 0);
    let paged = svc
        .audit
        .list_events(
            &owner,
            AuditQuery {
                offset: 4,
                limit: 4,
                ..Default::default()
            },
        )
        .await?;
    assert_eq!((paged.items.len(), paged.total), (3, 7));
    Ok(())
}

fn clock_now(c: &ManualClock) -> chrono::DateTime<chrono::Utc> {
    use portcullis_domain::Clock;
    c.now()
}

pub(crate) async fn raw_exec(db: &Db, sql: &str) {
    portcullis_domain::db::exec_dyn(db.write(), sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Editing, deleting, reordering or inserting a row is found, naming the first bad seq.
async fn storage_audit_tampering_is_found_at_first_bad_seq(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    for i in 0..4 {
        svc.console
            .invite_admin(&owner, &format!("t{i}@test.example"), "", Role::Admin)
            .await?;
    }
    // 6 events. Edit event 3.
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET actor_display = 'someone else' WHERE seq = 3",
    )
    .await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!((r.first_bad_seq, r.checked), (Some(3), 2), "{r:?}");
    raw_exec(
        svc.db(),
        "UPDATE audit_events SET actor_display = 'owner@test.example' WHERE seq = 3",
    )
    .await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, None);

    // Delete event 4.
    raw_exec(
        svc.db(),
        "CREATE TABLE saved AS SELECT * FROM audit_events WHERE seq = 4",
    )
    .await;
    raw_exec(svc.db(), "DELETE FROM audit_events WHERE seq = 4").await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, Some(4));
    raw_exec(svc.db(), "INSERT INTO audit_events SELECT * FROM saved").await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, None);

    // Reorder: swap the contents of 4 and 5 (keeping seq numbers).
    raw_exec(svc.db(), "UPDATE audit_events SET seq = -5 WHERE seq = 5").await;
    raw_exec(svc.db(), "UPDATE audit_events SET seq = 5 WHERE seq = 4").await;
    raw_exec(svc.db(), "UPDATE audit_events SET seq = 4 WHERE seq = -5").await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, Some(4));
    raw_exec(svc.db(), "UPDATE audit_events SET seq = -4 WHERE seq = 4").await;
    raw_exec(svc.db(), "UPDATE audit_events SET seq = 4 WHERE seq = 5").await;
    raw_exec(svc.db(), "UPDATE audit_events SET seq = 5 WHERE seq = -4").await;
    assert_eq!(svc.audit.verify(&owner).await?.first_bad_seq, None);

    // Delete the newest event: the head no longer matches.
    raw_exec(svc.db(), "DELETE FROM audit_events WHERE seq = 6").await;
    let r = svc.audit.verify(&owner).await?;
    assert_eq!(r.first_bad_seq, Some(6), "{r:?}");
    Ok(())
}

/// Many writers at once: no "database is locked" reaches a caller, nothing is lost, the chain verifies.
async fn storage_concurrent_writers_keep_chain_and_lose_nothing(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let svc = svc.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            svc.console
                .invite_admin(&owner, &format!("c{i}@test.example"), "", Role::Auditor)
                .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let page = svc.console.list_admins(&owner, "", 0, 200).await?;
    assert_eq!(page.total, 41);
    let r = svc.audit.verify(&owner).await?;
    assert_eq!((r.checked, r.first_bad_seq), (42, None), "{r:?}");
    Ok(())
}

/// Throttling counts failures within 15 minutes; older ones stop counting.
async fn storage_throttle_window_slides(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let _ = owner(&svc).await;
    for _ in 0..5 {
        let _ = svc
            .console
            .sign_in(meta("10.1.1.1"), "owner@test.example", "bad")
            .await;
    }
    match svc
        .console
        .sign_in(meta("10.1.1.1"), "owner@test.example", "owner password 123")
        .await
    {
        Err(Error::RateLimited { .. }) => {}
        other => panic!("expected throttling, got {other:?}"),
    }
    clock.advance(chrono::Duration::minutes(16));
    svc.console
        .sign_in(meta("10.1.1.1"), "owner@test.example", "owner password 123")
        .await?;
    Ok(())
}

/// A mutation that fails after its audit write leaves neither change nor event.
async fn storage_failed_transaction_leaves_no_audit_event(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    let before = svc.audit.verify(&owner).await?.checked;
    // Disabling an unknown user fails inside the transaction.
    let missing = ConsoleUserId("usr_missing".into());
    assert!(matches!(
        svc.console.disable_admin(&owner, &missing).await,
        Err(Error::NotFound(_))
    ));
    // Less the first verification's own record.
    assert_eq!(svc.audit.verify(&owner).await?.checked - 1, before);
    Ok(())
}

/// A directory created by the owner, and the actor its SCIM token stands for.
pub(crate) async fn scim_directory(svc: &Services, owner: &Actor, name: &str) -> Actor {
    let t = svc
        .directory
        .create_directory(owner, name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Actor::directory(&t.directory_id.as_str().into(), name, meta("192.0.2.1"))
}

/// Provisions `user_name` (with an optional displayName) through the SCIM
/// service; returns its id.
pub(crate) async fn scim_user(
    svc: &Services,
    dir: &Actor,
    user_name: &str,
    display: Option<&str>,
) -> String {
    let mut body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{ "value": user_name, "primary": true }],
    });
    if let Some(d) = display {
        body["displayName"] = serde_json::json!(d);
    }
    let u = svc
        .scim
        .create_user(dir, "http://x/scim/v2", body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    u["id"].as_str().unwrap_or_default().to_owned()
}

fn names(page: &portcullis_types::Page<portcullis_types::DirectoryUserSummary>) -> Vec<&str> {
    page.items.iter().map(|u| u.user_name.as_str()).collect()
}

/// The directory user list's SQL (filters, LIKE escaping, every sort column
/// both ways, NULL displayNames, pages, deleted users left out) gives the
/// same answers on both backends.
async fn storage_directory_user_list_filters_sorts_and_pages(db: &TestDb) -> TestResult {
    use portcullis_types::{DirectoryUserQuery, DirectoryUserSort, DirectoryUserStatus, SortDir};
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let okta = scim_directory(&svc, &owner, "Okta").await;
    let entra = scim_directory(&svc, &owner, "Entra ID").await;
    let mut ids = Vec::new();
    for (dir, name, display) in [
        (&okta, "b@x.example", Some("Zed")),
        (&okta, "a@x.example", None),
        (&okta, "c@x.example", Some("carl")),
        (&okta, "d_1@x.example", Some("Dee")),
        (&entra, "e@y.example", None),
    ] {
        clock.advance(chrono::Duration::minutes(1));
        ids.push(scim_user(&svc, dir, name, display).await);
    }
    clock.advance(chrono::Duration::minutes(1));
    svc.scim
        .patch_user(
            &okta,
            "http://x/scim/v2",
            &ids[2].as_str().into(),
            &serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": false }],
            }),
            None,
        )
        .await?;
    svc.scim
        .delete_user(&okta, &ids[3].as_str().into(), None)
        .await?;
    let list = |q: DirectoryUserQuery| {
        let svc = svc.clone();
        let owner = owner.clone();
        async move { svc.directory.list_users(&owner, q).await }
    };
    let q = |sort: DirectoryUserSort, dir: SortDir| DirectoryUserQuery {
        sort,
        dir,
        ..Default::default()
    };

    let all = list(DirectoryUserQuery::default()).await?;
    assert_eq!(all.total, 4);
    assert_eq!(
        names(&all),
        ["a@x.example", "b@x.example", "c@x.example", "e@y.example"]
    );
    let by_display = list(q(DirectoryUserSort::DisplayName, SortDir::Asc)).await?;
    assert_eq!(
        names(&by_display),
        ["a@x.example", "c@x.example", "e@y.example", "b@x.example"]
    );
    let created_desc = list(q(DirectoryUserSort::Created, SortDir::Desc)).await?;
    assert_eq!(
        names(&created_desc),
        ["e@y.example", "c@x.example", "a@x.example", "b@x.example"]
    );
    let updated_desc = list(q(DirectoryUserSort::Updated, SortDir::Desc)).await?;
    assert_eq!(names(&updated_desc)[0], "c@x.example");
    let email_desc = list(q(DirectoryUserSort::Email, SortDir::Desc)).await?;
    assert_eq!(
        names(&email_desc),
        ["e@y.example", "c@x.example", "b@x.example", "a@x.example"]
    );
    let inactive = list(DirectoryUserQuery {
        status: Some(DirectoryUserStatus::Inactive),
        ..Default::default()
    })
    .await?;
    assert_eq!(names(&inactive), ["c@x.example"]);
    let okta_active = list(DirectoryUserQuery {
        status: Some(DirectoryUserStatus::Active),
        directory_id: okta.id.clone().unwrap_or_default(),
        ..Default::default()
    })
    .await?;
    assert_eq!(names(&okta_active), ["a@x.example", "b@x.example"]);
    assert!(okta_active.items.iter().all(|u| u.directory_name == "Okta"));
    for (search, expect) in [
        ("ZED", vec!["b@x.example"]),
        ("Y.EXAMPLE", vec!["e@y.example"]),
        ("_", vec![]),
        ("%", vec![]),
        (ids[0].as_str(), vec!["b@x.example"]),
    ] {
        let page = list(DirectoryUserQuery {
            search: search.into(),
            ..Default::default()
        })
        .await?;
        assert_eq!(names(&page), expect, "search {search}");
    }
    let paged = list(DirectoryUserQuery {
        offset: 1,
        limit: 2,
        ..Default::default()
    })
    .await?;
    assert_eq!(
        (names(&paged), paged.total),
        (vec!["b@x.example", "c@x.example"], 4)
    );

    // The deleted user keeps its detail page and history.
    let deleted = svc
        .directory
        .get_user(&owner, &ids[3].as_str().into())
        .await?;
    assert!(deleted.deleted_at.is_some());
    let actions: Vec<&str> = deleted.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["scim.user.deleted", "scim.user.created"]);
    Ok(())
}

/// Group member counts and member pages join members to (not deleted) users
/// of the group's own directory on both backends; other ids are listed as
/// not provisioned after the provisioned ones.
async fn storage_directory_group_members_join_own_directory_users(db: &TestDb) -> TestResult {
    use portcullis_types::{DirectoryGroupQuery, DirectoryGroupSort, SortDir};
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    let okta = scim_directory(&svc, &owner, "Okta").await;
    let entra = scim_directory(&svc, &owner, "Entra ID").await;
    let b = scim_user(&svc, &okta, "b@x.example", Some("Bea")).await;
    let a = scim_user(&svc, &okta, "a@x.example", None).await;
    let gone = scim_user(&svc, &okta, "gone@x.example", None).await;
    svc.scim
        .delete_user(&okta, &gone.as_str().into(), None)
        .await?;
    let other = scim_user(&svc, &entra, "o@y.example", None).await;
    let members: Vec<serde_json::Value> = [&b, &a, &gone, &other, &"zz-unknown".to_owned()]
        .iter()
        .map(|id| serde_json::json!({ "value": id }))
        .collect();
    let g = svc
        .scim
        .create_group(
            &okta,
            "http://x/scim/v2",
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Eng",
                "members": members,
            }),
        )
        .await?;
    let gid = g["id"].as_str().unwrap_or_default().to_owned();
    svc.scim
        .create_group(
            &entra,
            "http://x/scim/v2",
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "eng-entra",
                "members": [{ "value": other }],
            }),
        )
        .await?;

    let groups = svc
        .directory
        .list_groups(
            &owner,
            DirectoryGroupQuery {
                sort: DirectoryGroupSort::Members,
                dir: SortDir::Desc,
                ..Default::default()
            },
        )
        .await?;
    let counts: Vec<(&str, i64)> = groups
        .items
        .iter()
        .map(|g| (g.display_name.as_str(), g.members))
        .collect();
    assert_eq!(counts, [("Eng", 2), ("eng-entra", 1)]);
    let searched = svc
        .directory
        .list_groups(
            &owner,
            DirectoryGroupQuery {
                search: "ENG".into(),
                directory_id: okta.id.clone().unwrap_or_default(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(searched.total, 1);

    let detail = svc
        .directory
        .get_group(&owner, &gid.as_str().into(), 0, 0)
        .await?;
    assert_eq!(detail.provisioned_members, 2);
    assert_eq!(detail.members.total, 5);
    let order: Vec<(&str, bool)> = detail
        .members
        .items
        .iter()
        .map(|m| (m.id.as_str(), m.provisioned))
        .collect();
    let mut unknown = [gone.as_str(), other.as_str(), "zz-unknown"];
    unknown.sort();
    assert_eq!(
        order,
        [
            (a.as_str(), true),
            (b.as_str(), true),
            (unknown[0], false),
            (unknown[1], false),
            (unknown[2], false),
        ]
    );
    assert_eq!(detail.members.items[1].display_name.as_deref(), Some("Bea"));
    let page2 = svc
        .directory
        .get_group(&owner, &gid.as_str().into(), 4, 2)
        .await?;
    assert_eq!(page2.members.items.len(), 1);
    let user = svc.directory.get_user(&owner, &b.as_str().into()).await?;
    let groups: Vec<&str> = user
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(groups, ["Eng"]);
    Ok(())
}

/// The Overview's activity chart counts each event on the admin's own
/// day: an event at 23:30 UTC is the next day in India (+05:30), one at
/// 09:00 UTC the day before in Hawaii (−10:00).
async fn storage_overview_days_follow_the_admins_zone(db: &TestDb) -> TestResult {
    use chrono::Duration;
    let (svc, clock) = services_on(db).await;
    let system = Actor::system("test");
    let day = |stats: &portcullis_types::OverviewStats, d: &str| {
        stats
            .events_per_day
            .iter()
            .find(|x| x.day == d)
            .map_or(0, |x| x.count)
    };
    // 09:00 UTC on Nov 26.
    svc.directory.create_directory(&system, "Morning").await?;
    let morning = day(
        &svc.overview.get_stats(&system, &svc.audit).await?,
        "2026-11-26",
    );
    assert!(morning > 0);
    // 23:30 UTC on Nov 26.
    clock.advance(Duration::minutes(14 * 60 + 30));
    svc.directory.create_directory(&system, "Late").await?;
    let utc = svc.overview.get_stats(&system, &svc.audit).await?;
    let both = day(&utc, "2026-11-26");
    assert!(both > morning);
    assert_eq!(utc.events_per_day.len(), 14);
    assert_eq!(
        utc.events_per_day.last().map(|d| d.day.as_str()),
        Some("2026-11-26")
    );
    let india = svc
        .overview
        .get_stats_in(&system, &svc.audit, Duration::minutes(330))
        .await?;
    assert_eq!(
        india.events_per_day.last().map(|d| d.day.as_str()),
        Some("2026-11-27")
    );
    assert_eq!(
        (day(&india, "2026-11-26"), day(&india, "2026-11-27")),
        (morning, both - morning)
    );
    let hawaii = svc
        .overview
        .get_stats_in(&system, &svc.audit, Duration::hours(-10))
        .await?;
    assert_eq!(
        hawaii.events_per_day.last().map(|d| d.day.as_str()),
        Some("2026-11-26")
    );
    assert_eq!(
        (day(&hawaii, "2026-11-25"), day(&hawaii, "2026-11-26")),
        (morning, both - morning)
    );
    Ok(())
}
