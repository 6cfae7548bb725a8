//! Catalog and access policy through the domain services, on both backends:
//! SCIM membership and deactivation drive revisions, deny wins, expiry,
//! destructive tools need an explicit grant, rollback and diff, and the
//! simulator agrees with an independent reference model.

use crate::harness::{backend_tests, TestDb, TestResult};
use crate::storage::{owner, services_on};
use portcullis_domain::{Actor, Error, RequestMeta, Services};
use portcullis_types::{
    ActorType, GrantInput, GrantSubject, GrantTarget, ManualToolInput, MatchedVia, Role,
    ServerInput, ToolHints,
};
use serde_json::{json, Value};

const BASE: &str = "http://127.0.0.1/scim/v2";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

/// A directory "Okta" and its actor.
pub(crate) async fn directory(svc: &Services) -> Actor {
    let d = ok(
        svc.directory
            .create_directory(&Actor::system("test"), "Okta")
            .await,
        "directory",
    );
    Actor::directory(
        &d.directory_id.as_str().into(),
        "Okta",
        RequestMeta::default(),
    )
}

pub(crate) async fn scim_user(svc: &Services, okta: &Actor, email: &str) -> String {
    let v = ok(
        svc.scim
            .create_user(
                okta,
                BASE,
                json!({ "schemas": [USER], "userName": email, "active": true,
                        "emails": [{ "value": email, "primary": true }] }),
            )
            .await,
        "create user",
    );
    v["id"].as_str().unwrap_or_default().to_owned()
}

pub(crate) async fn scim_group(
    svc: &Services,
    okta: &Actor,
    name: &str,
    members: &[&str],
) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    let v = ok(
        svc.scim
            .create_group(
                okta,
                BASE,
                json!({ "schemas": [GROUP], "displayName": name, "members": members }),
            )
            .await,
        "create group",
    );
    v["id"].as_str().unwrap_or_default().to_owned()
}

pub(crate) async fn add_member(svc: &Services, okta: &Actor, group: &str, user: &str) {
    ok(
        svc.scim
            .patch_group(
                okta,
                BASE,
                &group.into(),
                &json!({ "schemas": [PATCH], "Operations": [
                    { "op": "add", "path": "members", "value": [{ "value": user }] }] }),
                None,
                false,
            )
            .await,
        "add member",
    );
}

fn hints(read_only: bool, destructive: bool) -> ToolHints {
    ToolHints {
        read_only: Some(read_only),
        destructive: Some(destructive),
        idempotent: None,
        open_world: None,
    }
}

/// A server `github` with `search_code` (read-only), `create_issue`
/// (writes, not destructive) and `delete_repo` (destructive).
pub(crate) async fn github(svc: &Services, admin: &Actor) -> String {
    let id = ok(
        svc.catalog
            .create_server(
                admin,
                &ServerInput {
                    name: "GitHub".into(),
                    slug: "github".into(),
                    resource_url: "https://mcp.example.com/github".into(),
                    description: "Code hosting".into(),
                    owner: "platform@corp.example".into(),
                    tags: "dev, scm".into(),
                },
            )
            .await,
        "create server",
    );
    for (name, h) in [
        ("search_code", hints(true, false)),
        ("create_issue", hints(false, false)),
        ("delete_repo", hints(false, true)),
    ] {
        ok(
            svc.catalog
                .add_tool(
                    admin,
                    &id,
                    &ManualToolInput {
                        name: name.into(),
                        hints: h,
                        ..Default::default()
                    },
                )
                .await,
            "add tool",
        );
    }
    id.to_string()
}

pub(crate) fn grant(
    subject: GrantSubject,
    server: &str,
    target: GrantTarget,
    effect: &str,
) -> GrantInput {
    GrantInput {
        subject,
        server_id: server.to_owned(),
        target,
        effect: effect.to_owned(),
        include_destructive: false,
        expires_at: None,
        reason: "test".to_owned(),
    }
}

/// The simulator's answer for `user` calling `tool` of `server` at
/// revision `rev` (the current one when `None`).
async fn simulate(
    svc: &Services,
    admin: &Actor,
    user: &str,
    server: &str,
    tool: &str,
    rev: Option<i64>,
) -> portcullis_domain::Result<portcullis_types::SimulationResult> {
    svc.access
        .simulate(admin, &user.into(), &server.into(), &tool.into(), rev)
        .await
}

async fn allowed(
    svc: &Services,
    admin: &Actor,
    user: &str,
    server: &str,
    tool: &str,
) -> (bool, String) {
    let r = ok(
        simulate(svc, admin, user, server, tool, None).await,
        "simulate",
    );
    (r.allowed, r.reason)
}

async fn access_scim_membership_and_deactivation_drive_revisions(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let admin = owner(&svc).await;
    let okta = directory(&svc).await;
    let alice = scim_user(&svc, &okta, "alice@corp.example").await;
    let eng = scim_group(&svc, &okta, "Engineering", &[]).await;
    let srv = github(&svc, &admin).await;
    let (_, granted_at) = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::Group { id: eng.clone() },
                &srv,
                GrantTarget::Server,
                "allow",
            ),
        )
        .await?;

    // Not in the group yet: default deny.
    let before = simulate(&svc, &admin, &alice, &srv, "search_code", None).await?;
    assert_eq!(
        (before.allowed, before.reason.as_str(), before.revision),
        (false, "no_grant", granted_at)
    );

    // The IdP adds Alice to Engineering: the next revision grants her the
    // group's tools, with no admin step.
    add_member(&svc, &okta, &eng, &alice).await;
    let after = simulate(&svc, &admin, &alice, &srv, "search_code", None).await?;
    assert!(after.allowed, "{after:?}");
    assert!(after.revision > granted_at);
    let deciding: Vec<_> = after.rules.iter().filter(|r| r.deciding).collect();
    assert_eq!(deciding.len(), 1);
    assert_eq!(
        deciding[0].via,
        MatchedVia::Group {
            id: eng.clone(),
            name: "Engineering".into()
        }
    );
    assert_eq!(
        allowed(&svc, &admin, &alice, "github", "create_issue").await,
        (true, "allowed".into())
    );
    // A whole-server allow does not cover destructive tools.
    assert_eq!(
        allowed(&svc, &admin, &alice, &srv, "delete_repo").await,
        (false, "no_grant".into())
    );
    // Unknown tool or server: deny.
    assert_eq!(
        allowed(&svc, &admin, &alice, &srv, "no_such_tool").await,
        (false, "unknown_tool".into())
    );
    assert_eq!(
        allowed(&svc, &admin, &alice, "srv_nope", "search_code").await,
        (false, "unknown_server".into())
    );
    // The past revision still answers as it was.
    let past = simulate(&svc, &admin, &alice, &srv, "search_code", Some(granted_at)).await?;
    assert_eq!((past.allowed, past.revision), (false, granted_at));

    let revs = svc.access.revisions(&admin, 0, 10).await?;
    assert_eq!(revs.items[0].number, after.revision);
    // The Overview's access figures.
    let stats = svc.overview.get_stats(&admin, &svc.audit).await?;
    assert_eq!(
        (
            stats.servers,
            stats.tools_awaiting_review,
            stats.grants,
            stats.policy_revision
        ),
        (1, 0, 1, after.revision)
    );
    // The set-up checklist's figures: one SCIM directory, no SSO
    // connection, no gateway.
    assert_eq!(
        (stats.directories, stats.sso_connections, stats.gateways),
        (1, 0, 0)
    );
    assert_eq!(revs.items[0].source, "directory");
    assert!(
        revs.items[0].summary.contains("Engineering"),
        "{:?}",
        revs.items[0]
    );

    // A change that does not alter the policy makes no revision.
    ok(
        svc.scim
            .patch_user(
                &okta,
                BASE,
                &alice.as_str().into(),
                &json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "displayName", "value": "Alice A." }] }),
                None,
            )
            .await,
        "rename",
    );
    let same = simulate(&svc, &admin, &alice, &srv, "search_code", None).await?;
    assert_eq!(same.revision, after.revision);

    // Deactivation: denied everything from the next revision.
    ok(
        svc.scim
            .patch_user(
                &okta,
                BASE,
                &alice.as_str().into(),
                &json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
                None,
            )
            .await,
        "deactivate",
    );
    let off = simulate(&svc, &admin, &alice, &srv, "search_code", None).await?;
    assert_eq!(
        (off.allowed, off.reason.as_str()),
        (false, "inactive_principal")
    );
    assert!(off.revision > after.revision);
    // Deleted by the IdP: no longer a principal at all.
    ok(
        svc.scim
            .delete_user(&okta, &alice.as_str().into(), None)
            .await,
        "delete",
    );
    assert_eq!(
        allowed(&svc, &admin, &alice, &srv, "search_code").await,
        (false, "unknown_principal".into())
    );
    Ok(())
}

async fn access_deny_wins_expiry_and_validation(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let admin = owner(&svc).await;
    let okta = directory(&svc).await;
    let bob = scim_user(&svc, &okta, "bob@corp.example").await;
    let eng = scim_group(&svc, &okta, "Engineering", &[&bob]).await;
    let srv = github(&svc, &admin).await;
    svc.access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::Group { id: eng.clone() },
                &srv,
                GrantTarget::Server,
                "allow",
            ),
        )
        .await?;
    let (deny_id, _) = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::User { id: bob.clone() },
                &srv,
                GrantTarget::Tools {
                    names: vec!["create_issue".into()],
                },
                "deny",
            ),
        )
        .await?;
    let r = simulate(&svc, &admin, &bob, &srv, "create_issue", None).await?;
    assert_eq!((r.allowed, r.reason.as_str()), (false, "denied_by_rule"));
    let deciding: Vec<_> = r
        .rules
        .iter()
        .filter(|m| m.deciding)
        .map(|m| m.grant_id.clone())
        .collect();
    assert_eq!(deciding, vec![deny_id.0]);
    assert_eq!(r.rules.len(), 2, "the allow also matched: {r:?}");
    assert_eq!(
        allowed(&svc, &admin, &bob, &srv, "search_code").await,
        (true, "allowed".into())
    );

    // Destructive: an explicit grant, with an expiry.
    let mut temp = grant(
        GrantSubject::User { id: bob.clone() },
        &srv,
        GrantTarget::Tools {
            names: vec!["delete_repo".into()],
        },
        "allow",
    );
    let expires = clock_now(&svc) + chrono::Duration::hours(1);
    temp.expires_at = Some(expires);
    svc.access.create_grant(&admin, &temp).await?;
    assert_eq!(
        allowed(&svc, &admin, &bob, &srv, "delete_repo").await,
        (true, "allowed".into())
    );
    clock.advance(chrono::Duration::minutes(59) + chrono::Duration::seconds(59));
    assert!(allowed(&svc, &admin, &bob, &srv, "delete_repo").await.0);
    clock.advance(chrono::Duration::seconds(1));
    let r = simulate(&svc, &admin, &bob, &srv, "delete_repo", None).await?;
    assert_eq!((r.allowed, r.reason.as_str()), (false, "no_grant"));
    assert!(
        r.rules.iter().any(|m| m.expired),
        "the expired grant is listed: {r:?}"
    );

    // Bad input names the field; nothing is written.
    let grants_before = svc
        .access
        .list_grants(&admin, &Default::default())
        .await?
        .total;
    let bad = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::Everyone,
                &srv,
                GrantTarget::Tools {
                    names: vec!["nope".into()],
                },
                "allow",
            ),
        )
        .await;
    match bad {
        Err(Error::Invalid(f)) => assert_eq!(f[0].field, "tools", "{f:?}"),
        other => panic!("expected invalid tools, got {other:?}"),
    }
    let mut past = grant(GrantSubject::Everyone, &srv, GrantTarget::Server, "allow");
    past.expires_at = Some(clock_now(&svc) - chrono::Duration::minutes(1));
    match svc.access.create_grant(&admin, &past).await {
        Err(Error::Invalid(f)) => assert_eq!(f[0].field, "expires_at"),
        other => panic!("expected invalid expires_at, got {other:?}"),
    }
    // An auditor cannot change grants.
    let auditor = Actor {
        role: Some(Role::Auditor),
        ..admin.clone()
    };
    assert_eq!(auditor.kind, ActorType::ConsoleUser);
    match svc
        .access
        .create_grant(
            &auditor,
            &grant(GrantSubject::Everyone, &srv, GrantTarget::Server, "allow"),
        )
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
    assert_eq!(
        svc.access
            .list_grants(&admin, &Default::default())
            .await?
            .total,
        grants_before
    );
    Ok(())
}

fn clock_now(svc: &Services) -> chrono::DateTime<chrono::Utc> {
    svc.core.clock.now()
}

async fn access_rollback_and_diff(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let admin = owner(&svc).await;
    let okta = directory(&svc).await;
    let bob = scim_user(&svc, &okta, "bob@corp.example").await;
    let eng = scim_group(&svc, &okta, "Engineering", &[&bob]).await;
    let srv = github(&svc, &admin).await;
    let (_, a) = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::Group { id: eng.clone() },
                &srv,
                GrantTarget::Annotation {
                    annotation: "read_only".into(),
                },
                "allow",
            ),
        )
        .await?;
    let (b_id, b) = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::User { id: bob.clone() },
                &srv,
                GrantTarget::Tools {
                    names: vec!["create_issue".into()],
                },
                "allow",
            ),
        )
        .await?;
    assert_eq!(b, a + 1);
    let d = svc.access.diff(&admin, a, b).await?;
    assert_eq!(
        d.grants_added
            .iter()
            .map(|g| g.id.clone())
            .collect::<Vec<_>>(),
        vec![b_id.0.clone()]
    );
    assert!(d.grants_removed.is_empty());
    assert_eq!(d.access_added.len(), 1);
    assert_eq!(
        (
            d.access_added[0].email.as_str(),
            d.access_added[0].server.as_str(),
            d.access_added[0].tool.as_str()
        ),
        ("bob@corp.example", "github", "create_issue")
    );
    assert!(d.access_removed.is_empty());

    let c = svc.access.rollback(&admin, a).await?;
    assert!(c > b);
    let grants = svc.access.list_grants(&admin, &Default::default()).await?;
    assert_eq!(grants.total, 1);
    assert_eq!(
        allowed(&svc, &admin, &bob, &srv, "create_issue").await,
        (false, "no_grant".into())
    );
    assert_eq!(
        allowed(&svc, &admin, &bob, &srv, "search_code").await,
        (true, "allowed".into())
    );
    let d = svc.access.diff(&admin, b, c).await?;
    assert_eq!(d.grants_removed.len(), 1);
    assert_eq!(d.access_removed.len(), 1);
    // Rolling back to where it already is changes nothing.
    match svc.access.rollback(&admin, a).await {
        Err(Error::PreconditionFailed(_)) => {}
        other => panic!("expected precondition failure, got {other:?}"),
    }
    // Rolling forward again restores the revoked grant, same id.
    svc.access.rollback(&admin, b).await?;
    assert_eq!(
        allowed(&svc, &admin, &bob, &srv, "create_issue").await,
        (true, "allowed".into())
    );
    let events = crate::harness::audit_rows(&db.url, "access.policy.rolled_back").await;
    assert_eq!(events.len(), 2);
    Ok(())
}

/// Every (person, tool) pair of a small company: the simulator's answer
/// equals an independent model of the rules written here.
async fn access_simulator_agrees_with_reference_model(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let admin = owner(&svc).await;
    let okta = directory(&svc).await;
    let mut users = Vec::new();
    for n in 0..6 {
        users.push(scim_user(&svc, &okta, &format!("u{n}@corp.example")).await);
    }
    let g_eng = scim_group(
        &svc,
        &okta,
        "Engineering",
        &[&users[0], &users[1], &users[2]],
    )
    .await;
    let g_ops = scim_group(&svc, &okta, "Ops", &[&users[2], &users[3]]).await;
    let srv = github(&svc, &admin).await;
    let tools = ["search_code", "create_issue", "delete_repo"];
    let destructive = |t: &str| t == "delete_repo";
    let read_only = |t: &str| t == "search_code";
    // (subject, target tools or None = server, annotation read_only, effect, include_destructive)
    struct G {
        subject: GrantSubject,
        target: GrantTarget,
        effect: &'static str,
        include_destructive: bool,
    }
    let gs = vec![
        G {
            subject: GrantSubject::Group { id: g_eng.clone() },
            target: GrantTarget::Server,
            effect: "allow",
            include_destructive: false,
        },
        G {
            subject: GrantSubject::Group { id: g_ops.clone() },
            target: GrantTarget::Server,
            effect: "allow",
            include_destructive: true,
        },
        G {
            subject: GrantSubject::User {
                id: users[1].clone(),
            },
            target: GrantTarget::Tools {
                names: vec!["create_issue".into()],
            },
            effect: "deny",
            include_destructive: false,
        },
        G {
            subject: GrantSubject::Everyone,
            target: GrantTarget::Annotation {
                annotation: "read_only".into(),
            },
            effect: "allow",
            include_destructive: false,
        },
        G {
            subject: GrantSubject::User {
                id: users[3].clone(),
            },
            target: GrantTarget::Server,
            effect: "deny",
            include_destructive: false,
        },
        G {
            subject: GrantSubject::User {
                id: users[4].clone(),
            },
            target: GrantTarget::Tools {
                names: vec!["delete_repo".into()],
            },
            effect: "allow",
            include_destructive: false,
        },
    ];
    for g in &gs {
        let mut input = grant(g.subject.clone(), &srv, g.target.clone(), g.effect);
        input.include_destructive = g.include_destructive;
        svc.access.create_grant(&admin, &input).await?;
    }
    let groups_of = |u: &str| -> Vec<&String> {
        let mut v = Vec::new();
        if [&users[0], &users[1], &users[2]].iter().any(|x| *x == u) {
            v.push(&g_eng);
        }
        if [&users[2], &users[3]].iter().any(|x| *x == u) {
            v.push(&g_ops);
        }
        v
    };
    let mut checked = 0;
    for u in &users {
        for t in tools {
            let covers = |g: &G| -> bool {
                let subject = match &g.subject {
                    GrantSubject::User { id } => id == u,
                    GrantSubject::Group { id } => groups_of(u).contains(&id),
                    GrantSubject::Everyone => true,
                    GrantSubject::Agent { .. } => false,
                };
                let target = match &g.target {
                    GrantTarget::Server => {
                        g.effect == "deny" || !destructive(t) || g.include_destructive
                    }
                    GrantTarget::Tools { names } => names.iter().any(|n| n == t),
                    GrantTarget::Annotation { .. } => read_only(t),
                };
                subject && target
            };
            let denied = gs.iter().any(|g| g.effect == "deny" && covers(g));
            let expected = !denied && gs.iter().any(|g| g.effect == "allow" && covers(g));
            let got = simulate(&svc, &admin, u, &srv, t, None).await?;
            assert_eq!(got.allowed, expected, "{u} {t}: {got:?}");
            // ... and equals the evaluator's own decision on the same bundle.
            let snap = svc.access.current().await?;
            let d = snap.policy.decide(u, &srv, t, clock_now(&svc).timestamp());
            assert_eq!(
                (got.allowed, got.reason.as_str()),
                (d.allowed, d.reason.code())
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
    Ok(())
}

/// Runs `sql` on its own connection to the test database; `Err` is the
/// database's message. With `unchecked`, CHECK constraints are bypassed
/// first (SQLite: `ignore_check_constraints`; PostgreSQL: `grants`' are
/// dropped), to store what only a hand edit or a bug could.
async fn raw_sql(url: &str, sql: &str, unchecked: bool) -> Result<u64, String> {
    let db = ok(
        portcullis_domain::Db::connect(url, &Default::default()).await,
        "connect",
    );
    let r = match &db {
        portcullis_domain::Db::Sqlite(..) => {
            let portcullis_domain::db::Exec::SqlitePool(p) = db.write() else {
                unreachable!("a SQLite database writes through its writer pool")
            };
            let mut c = ok(p.acquire().await, "acquire");
            if unchecked {
                ok(
                    sqlx::query("PRAGMA ignore_check_constraints = ON")
                        .execute(&mut *c)
                        .await,
                    "pragma",
                );
            }
            sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        }
        portcullis_domain::Db::Postgres(p, _) => {
            if unchecked {
                // The table the statement writes: after UPDATE or INTO.
                let words: Vec<&str> = sql.split_whitespace().collect();
                let table = words
                    .windows(2)
                    .find(|w| {
                        w[0].eq_ignore_ascii_case("update") || w[0].eq_ignore_ascii_case("into")
                    })
                    .map(|w| w[1])
                    .unwrap_or("grants");
                let names: Vec<(String,)> = ok(
                    sqlx::query_as(
                        "SELECT conname::text FROM pg_constraint \
                         WHERE conrelid = $1::regclass AND contype = 'c'",
                    )
                    .bind(table)
                    .fetch_all(p)
                    .await,
                    "constraints",
                );
                for (name,) in names {
                    ok(
                        sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
                            .execute(p)
                            .await,
                        "drop constraint",
                    );
                }
            }
            sqlx::query(sql).execute(p).await.map(|r| r.rows_affected())
        }
    };
    db.close().await;
    r.map_err(|e| e.to_string())
}

/// Stored values the code does not know are refused: by the database (CHECK
/// constraints) when written, and by the code when read anyway (a grant
/// that does not decode is an error, never "everyone" or "allow"; a policy
/// fact that does not decode stops the bundle from being built, and the
/// last good one stays served).
async fn access_stored_values_fail_closed(db: &TestDb) -> TestResult {
    let (svc, _clock) = services_on(db).await;
    let admin = owner(&svc).await;
    let okta = directory(&svc).await;
    let bob = scim_user(&svc, &okta, "bob@corp.example").await;
    let srv = github(&svc, &admin).await;
    let (grant_id, rev) = svc
        .access
        .create_grant(
            &admin,
            &grant(
                GrantSubject::User { id: bob.clone() },
                &srv,
                GrantTarget::Tools {
                    names: vec!["create_issue".into()],
                },
                "allow",
            ),
        )
        .await?;
    let served = svc.publisher.refresh().await?;
    assert_eq!(served.revision, rev);

    // 1. The database refuses unknown values in every enumerated column.
    let insert = |kind: &str, target: &str, effect: &str| {
        format!(
            "INSERT INTO grants (id, subject_kind, subject_id, server_id, target_kind, tool_names, annotation, \
             include_destructive, effect, expires_at, reason, created_by, created_at) \
             VALUES ('grt_bad', '{kind}', NULL, '{srv}', '{target}', '[]', NULL, FALSE, '{effect}', NULL, '', 'x', \
             '2026-01-01T00:00:00Z')"
        )
    };
    for (sql, what) in [
        (insert("admins", "server", "allow"), "subject_kind"),
        (insert("everyone", "everything", "allow"), "target_kind"),
        (insert("everyone", "server", "maybe"), "effect"),
        (
            format!("UPDATE grants SET subject_id = NULL WHERE id = '{grant_id}'"),
            "a person grant without its person",
        ),
        (
            "UPDATE mcp_tools SET status = 'approved'".to_owned(),
            "tool status",
        ),
        (
            "UPDATE policy_facts SET kind = 'rule' WHERE kind = 'grant'".to_owned(),
            "fact kind",
        ),
    ] {
        let err = raw_sql(&db.url, &sql, false)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: the database took {sql}"));
        assert!(
            err.to_lowercase().contains("check"),
            "{what}: refused, but not by a CHECK constraint: {err}"
        );
    }
    assert_eq!(
        svc.access
            .list_grants(&admin, &Default::default())
            .await?
            .total,
        1,
        "nothing was written"
    );

    // 2. A grant row stored past the constraints is an error when read,
    //    never a grant to everyone.
    raw_sql(&db.url, &insert("admins", "server", "allow"), true).await?;
    match svc.access.list_grants(&admin, &Default::default()).await {
        Err(Error::Internal(m)) => assert!(
            m.contains("grt_bad") && m.contains("subject_kind") && m.contains("admins"),
            "the error names the row, the column and the value: {m}"
        ),
        other => panic!("a grant with an unknown subject was read as {other:?}"),
    }
    raw_sql(&db.url, "DELETE FROM grants WHERE id = 'grt_bad'", false).await?;

    // 3. A policy fact that does not decode: a bundle built from the facts
    //    (as a console starting on this database builds its first one, and
    //    then refuses to start) is not built, and the error names the fact;
    //    the bundle served is still the last good one.
    let changed = raw_sql(
        &db.url,
        &format!(
            "UPDATE policy_facts SET value = REPLACE(value, '\"allow\"', '\"maybe\"') \
             WHERE kind = 'grant' AND k1 = '{grant_id}' AND rev_to IS NULL"
        ),
        false,
    )
    .await?;
    assert_eq!(changed, 1);
    match portcullis_domain::revisions::load_bundle(svc.db().exec(), rev, chrono::Utc::now()).await
    {
        Err(Error::Internal(m)) => assert!(
            m.contains(grant_id.as_str()) && m.contains("maybe"),
            "the error names the fact and the value: {m}"
        ),
        other => panic!("a bundle was built from an unreadable grant: {other:?}"),
    }
    assert_eq!(svc.publisher.latest().map(|p| p.revision), Some(rev));

    // 4. A tool status stored past the constraints stops the server's
    //    facts from being written (never "approved" or "not approved" by
    //    guess), and a console user status does the same for a session
    //    (never a quiet sign-out).
    raw_sql(&db.url, "UPDATE mcp_tools SET status = 'approved'", true).await?;
    match svc
        .catalog
        .set_server_enabled(&admin, &srv.as_str().into(), false)
        .await
    {
        Err(Error::Internal(m)) => assert!(m.contains("approved"), "names the value: {m}"),
        other => panic!("a tool of unknown status was published: {other:?}"),
    }
    let s = svc
        .console
        .sign_in(
            crate::storage::meta("127.0.0.1"),
            "owner@test.example",
            "owner password 123",
        )
        .await?;
    raw_sql(
        &db.url,
        "UPDATE console_users SET status = 'suspended'",
        true,
    )
    .await?;
    match svc
        .console
        .find_session(&s.secret, crate::storage::meta("127.0.0.1"))
        .await
    {
        Err(Error::Internal(m)) => assert!(m.contains("suspended"), "names the value: {m}"),
        other => panic!("a session of an unknown user status resolved to {other:?}"),
    }
    Ok(())
}

backend_tests!(
    access_scim_membership_and_deactivation_drive_revisions,
    access_deny_wins_expiry_and_validation,
    access_rollback_and_diff,
    access_simulator_agrees_with_reference_model,
    access_stored_values_fail_closed,
);
