//! The audit explorer (issue #19, item 2), on both backends: every filter
//! (time range, actor, action prefix, target, outcome, source address,
//! free text), keyset pages walked both ways over the whole log, the
//! timeline's buckets, an event by id, who may read it, and that a search
//! (not a page turn, not the plain list) is itself audited. Over HTTP: the
//! console's export route streams what the filters match, says how many
//! events are coming, and is audited; without a session it sends the
//! browser to sign in.

use crate::audit_evidence::invite;
use crate::harness::{audit_actions, backend_tests, TestDb, TestResult, TestServer};
use crate::storage::{meta, owner, services_on};
use portcullis_domain::audit::{append, append_batch, NewEvent, Target};
use portcullis_domain::db::{exec_dyn, fetch_all_dyn};
use portcullis_domain::{Actor, Backend, Clock, Db, Error, ManualClock, Services};
use portcullis_types::{ApiKeyId, AuditQuery, GatewayId, Outcome, PersonId, Role};
use serde_json::json;

backend_tests!(
    explorer_filters_pages_by_keyset_and_audits_searches,
    explorer_timeline_counts_what_the_filters_match,
    explorer_time_range_finds_events_stamped_out_of_order,
    explorer_finds_names_and_addresses_through_their_indexes,
    explorer_timeline_adds_up_quarter_hours_kept_on_append,
    explorer_free_text_matches_each_field_and_pages,
);

/// Asserts `audit_counts` holds what counting the events per quarter hour
/// (by the time each occurred) gives.
pub(crate) async fn assert_slot_counts_true(db: &Db) -> TestResult {
    let slot = match db.backend() {
        Backend::Sqlite => "CAST(strftime('%s', occurred_at) AS INTEGER) / 900",
        Backend::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM occurred_at) / 900) AS BIGINT)",
    };
    let kept: Vec<(i64, i64)> = fetch_all_dyn(
        db.exec(),
        "SELECT slot, n FROM audit_counts ORDER BY slot",
        &[],
    )
    .await?;
    let counted: Vec<(i64, i64)> = fetch_all_dyn(
        db.exec(),
        &format!("SELECT {slot} AS slot, COUNT(*) AS n FROM audit_events GROUP BY 1 ORDER BY 1"),
        &[],
    )
    .await?;
    assert!(!kept.is_empty());
    assert_eq!(kept, counted, "audit_counts against the events");
    Ok(())
}

/// Two gateway decisions from 10.1.4.7 (one denied, about a tool whose id
/// has capitals, the reason naming a team) after `n` invitations by the
/// owner from 127.0.0.1.
async fn seed(svc: &Services, clock: &ManualClock, owner: &Actor, n: usize) {
    invite(svc, owner, "p", n).await;
    let gw = Actor::gateway(
        &GatewayId::from("gw-Edge-1".to_owned()),
        "Edge gateway",
        meta("10.1.4.7"),
    );
    let now = clock.now();
    let mut tx = svc.db().begin().await.unwrap_or_else(|e| panic!("{e}"));
    append(
        &mut tx,
        now,
        &gw,
        NewEvent::success("gateway.decision")
            .outcome(Outcome::Denied)
            .target(Target::new("mcp_tool", "Tool-ABC", "github.create_issue"))
            .details(json!({ "reason": "no grant for Zebra-Team" })),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    append(
        &mut tx,
        now,
        &gw,
        NewEvent::success("gateway.decision")
            .target(Target::new("mcp_tool", "Tool-XYZ", "github.search"))
            .details(json!({ "reason": "granted" })),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
}

/// The ids of the events a query's first page shows.
async fn seqs(svc: &Services, who: &Actor, q: AuditQuery) -> Vec<i64> {
    svc.audit
        .explore(who, q)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items
        .iter()
        .map(|e| e.seq)
        .collect()
}

async fn searched(svc: &Services, owner: &Actor) -> i64 {
    svc.audit
        .count_events(
            owner,
            &AuditQuery {
                action: "audit.searched".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn explorer_filters_pages_by_keyset_and_audits_searches(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    seed(&svc, &clock, &owner, 205).await;
    let all = svc
        .audit
        .count_events(&owner, &AuditQuery::default())
        .await?;
    assert!(all >= 207, "{all}");
    let capped = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                limit: 100_000,
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(capped.items.len(), 200, "a page holds at most 200");
    assert_eq!(capped.older, Some(all - 199));

    // Keyset pages, newest first, walk the whole log once; `after` leads back.
    let mut walked = Vec::new();
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = svc
            .audit
            .explore(
                &owner,
                AuditQuery {
                    before,
                    limit: 50,
                    ..Default::default()
                },
            )
            .await?;
        assert!(page.items.len() <= 50);
        assert_eq!(page.newer.is_some(), before.is_some(), "{:?}", page.newer);
        walked.extend(page.items.iter().map(|e| e.seq));
        pages.push(page.items.iter().map(|e| e.seq).collect::<Vec<_>>());
        match page.older {
            Some(seq) => before = Some(seq),
            None => break,
        }
    }
    let expected: Vec<i64> = (1..=all).rev().collect();
    assert_eq!(walked, expected, "every event once, newest first");
    assert_eq!(pages.len(), (all as usize).div_ceil(50));
    let back = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                after: Some(*pages[2].first().unwrap_or(&0)),
                limit: 50,
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        back.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        pages[1],
        "the newer page is the one before"
    );
    assert_eq!(
        searched(&svc, &owner).await,
        0,
        "paging the plain list is no search"
    );

    // Each filter, alone.
    let gateway_seqs = vec![all, all - 1];
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.outcome = Some(Outcome::Denied))).await,
        vec![all - 1]
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.source = "10.1.".into())).await,
        gateway_seqs
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.target = "Tool-ABC".into())).await,
        vec![all - 1]
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.target = "CREATE_ISSUE".into())).await,
        vec![all - 1],
        "a target's name matches in any case"
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.target = "tool-abc".into())).await,
        Vec::<i64>::new(),
        "an id matches exactly"
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.text = "zebra-team".into())).await,
        vec![all - 1]
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.action = "gateway".into())).await,
        gateway_seqs
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.action = "gate".into())).await,
        Vec::<i64>::new(),
        "a prefix ends at a dot"
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.actor = "edge GATEWAY".into())).await,
        gateway_seqs
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.actor = "gw-Edge-1".into())).await,
        gateway_seqs
    );
    assert_eq!(
        seqs(&svc, &owner, q(|q| q.text = "50%_".into())).await,
        Vec::<i64>::new(),
        "LIKE wildcards are literal"
    );
    let p7 = seqs(&svc, &owner, q(|q| q.text = "p7@test.example".into())).await;
    assert_eq!(p7.len(), 1, "{p7:?}");
    assert_eq!(
        searched(&svc, &owner).await,
        12,
        "each search's first page is audited"
    );

    // The time range: later events only.
    clock.advance(chrono::Duration::hours(3));
    let cut = clock.now();
    invite(&svc, &owner, "late", 2).await;
    let late = seqs(
        &svc,
        &owner,
        AuditQuery {
            since: Some(cut),
            action: "console.admin".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(late.len(), 2, "{late:?}");
    let early = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                until: Some(cut),
                source: "10.1.4.7".into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(early.items.len(), 2);
    assert_eq!((early.older, early.newer), (None, None));

    // The search is recorded with its filters, by who searched.
    let last = svc
        .audit
        .explore(
            &owner,
            AuditQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    let e = &last.items[0];
    assert_eq!(e.action, "audit.searched");
    assert_eq!(e.actor_display, "owner@test.example");
    assert_eq!(e.details["filters"]["source"], "10.1.4.7");
    assert!(e.details["filters"]["until"].is_string(), "{}", e.details);
    assert_eq!(e.details["shown"], 2);
    assert!(
        e.details["filters"].get("action").is_none(),
        "only the filters set"
    );

    // An event by id; an unknown id is not found.
    let one = svc.audit.event(&owner, &early.items[0].id).await?;
    assert_eq!(one, early.items[0]);
    assert!(matches!(
        svc.audit.event(&owner, "no-such-event").await,
        Err(Error::NotFound(_))
    ));

    // Auditors read and search; nobody else does, and nothing is recorded.
    let auditor = Actor::api_key(
        &ApiKeyId::from("key-1".to_owned()),
        "Auditor key",
        Role::Auditor,
        meta("127.0.0.1"),
    );
    assert_eq!(
        seqs(&svc, &auditor, q(|q| q.outcome = Some(Outcome::Denied))).await,
        vec![all - 1]
    );
    let before_refusal = svc
        .audit
        .count_events(&owner, &AuditQuery::default())
        .await?;
    let anon = Actor::anonymous(meta("127.0.0.1"));
    assert!(svc
        .audit
        .explore(&anon, q(|q| q.text = "x".into()))
        .await
        .is_err());
    assert!(svc
        .audit
        .timeline(&anon, &AuditQuery::default())
        .await
        .is_err());
    assert!(svc.audit.event(&anon, &one.id).await.is_err());
    assert_eq!(
        svc.audit
            .count_events(&owner, &AuditQuery::default())
            .await?,
        before_refusal,
        "a refused search records nothing"
    );
    Ok(())
}

async fn explorer_timeline_counts_what_the_filters_match(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let start = clock.now();
    // Three invitations an hour for five hours.
    for _ in 0..5 {
        invite(&svc, &owner, &format!("h{}-", clock.now().timestamp()), 3).await;
        clock.advance(chrono::Duration::hours(1));
    }
    let q = AuditQuery {
        action: "console.admin.invited".into(),
        since: Some(start),
        until: Some(clock.now()),
        ..Default::default()
    };
    let t = svc.audit.timeline(&owner, &q).await?;
    assert_eq!(
        t.bucket_seconds, 900,
        "5 h in at most 48 buckets: 15 min each"
    );
    assert_eq!(t.total, 15);
    assert_eq!(t.counts.iter().sum::<i64>(), 15);
    assert_eq!(
        t.counts.iter().filter(|c| **c == 3).count(),
        5,
        "{:?}",
        t.counts
    );
    assert!(t.since <= start && t.since.timestamp() % 900 == 0);
    assert_eq!(t.until, clock.now());
    assert_eq!(
        t.total,
        svc.audit.count_events(&owner, &q).await?,
        "the chart counts what the list shows"
    );
    // Unset range: the last 7 days, in buckets of 6 h.
    let week = svc.audit.timeline(&owner, &AuditQuery::default()).await?;
    assert_eq!(week.bucket_seconds, 6 * 3600);
    assert!(week.total >= 15);
    // A filter nothing matches: empty buckets, not an error.
    let none = svc
        .audit
        .timeline(
            &owner,
            &AuditQuery {
                outcome: Some(Outcome::Denied),
                ..q
            },
        )
        .await?;
    assert_eq!(none.total, 0);
    assert!(!none.counts.is_empty());
    Ok(())
}

/// The console's export: the filters apply, `X-Audit-Events` says how many
/// come, the body holds exactly those, and it is audited; without a session
/// the browser is sent to sign in and nothing is exported.
#[tokio::test]
async fn explorer_console_export_streams_counts_and_is_audited() -> TestResult {
    let srv = TestServer::start().await;
    let anon = srv.client();
    let res = anon
        .get(srv.url("/console/audit/export?format=jsonl"))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 303, "to sign in");
    assert!(res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.starts_with("/login?next=")));

    let client = srv.owner_client("owner password 123").await;
    let res = client
        .get(srv.url(
            "/console/audit/export?format=jsonl&action=console&outcome=success\
             &since=2020-01-01T00%3A00%3A00%2B00%3A00",
        ))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let announced: usize = res
        .headers()
        .get("x-audit-events")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let body = res.text().await?;
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), announced);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|v| v["action"]
        .as_str()
        .is_some_and(|a| a.starts_with("console."))));
    let exported = audit_actions(&srv.db.url, "audit.exported").await;
    assert_eq!(exported.len(), 1, "{exported:?}");

    let bad = client
        .get(srv.url("/console/audit/export?format=pdf"))
        .send()
        .await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(audit_actions(&srv.db.url, "audit.exported").await.len(), 1);
    srv.stop().await;
    Ok(())
}

/// The time filters also bound `seq` (so an old day is found without
/// walking every newer event), with room for an event stamped before
/// events appended ahead of it (a transaction that took its time before it
/// committed): the range finds it by its stamp, though its seq lies past
/// the first event stamped after the range.
async fn explorer_time_range_finds_events_stamped_out_of_order(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    invite(&svc, &owner, "early", 2).await;
    clock.advance(chrono::Duration::hours(3));
    let cut = clock.now();
    invite(&svc, &owner, "late", 2).await;
    // Stamped half an hour before the cut, appended after the late ones.
    let gw = Actor::gateway(
        &GatewayId::from("gw-Slow".to_owned()),
        "Slow gateway",
        meta("10.9.9.9"),
    );
    let mut tx = svc.db().begin().await?;
    let stale = append(
        &mut tx,
        cut - chrono::Duration::minutes(30),
        &gw,
        NewEvent::success("gateway.decision").target(Target::new(
            "mcp_tool",
            "Tool-Stale",
            "stale",
        )),
    )
    .await?;
    tx.commit().await?;
    let by_stamp = |since: Option<chrono::DateTime<chrono::Utc>>, until| AuditQuery {
        since,
        until,
        source: "10.9.9.9".into(),
        ..Default::default()
    };
    assert_eq!(
        seqs(&svc, &owner, by_stamp(None, Some(cut))).await,
        vec![stale]
    );
    assert_eq!(
        seqs(
            &svc,
            &owner,
            by_stamp(Some(cut - chrono::Duration::hours(1)), Some(cut))
        )
        .await,
        vec![stale]
    );
    assert!(seqs(&svc, &owner, by_stamp(Some(cut), None))
        .await
        .is_empty());
    // The invitations on either side of the cut.
    let admins = |since, until| AuditQuery {
        since,
        until,
        action: "console.admin.invited".into(),
        ..Default::default()
    };
    assert_eq!(seqs(&svc, &owner, admins(None, Some(cut))).await.len(), 2);
    assert_eq!(seqs(&svc, &owner, admins(Some(cut), None)).await.len(), 2);
    Ok(())
}

/// Appends `events` by `actor` in one transaction; their seqs, in order.
async fn put(
    svc: &Services,
    clock: &ManualClock,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> Vec<i64> {
    let n = events.len() as i64;
    let mut tx = svc.db().begin().await.unwrap_or_else(|e| panic!("{e}"));
    let last = append_batch(&mut tx, clock.now(), actor, events)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    (last - n + 1..=last).collect()
}

/// The actor and target filters find the ids a name matches in
/// `audit_names` and read their events through the id's index, the source
/// prefix reads a range of its index, and a value no index holds answers
/// nothing without reading the log. Dense matches (more than 5,000) take
/// the newest-first walk instead; both give the same answers.
async fn explorer_finds_names_and_addresses_through_their_indexes(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let edge = Actor::gateway(
        &GatewayId::from("gw-1".to_owned()),
        "Edge gateway",
        meta("fe80::1"),
    );
    let decision = || {
        NewEvent::success("gateway.decision").target(Target::new(
            "mcp_tool",
            "Tool-ABC",
            "github.create_issue",
        ))
    };
    let edges = put(&svc, &clock, &edge, (0..3).map(|_| decision()).collect()).await;
    let carol = Actor::person(
        &PersonId::from("u_carol".to_owned()),
        "Carol Jones",
        meta("10.2.0.1"),
    );
    let carols = put(
        &svc,
        &clock,
        &carol,
        vec![
            NewEvent::success("oauth.consent.granted").target(Target::new(
                "mcp_server",
                "srv_9",
                "Carol's server",
            )),
        ],
    )
    .await;
    let job = Actor::system("retention job");
    let jobs = put(&svc, &clock, &job, vec![NewEvent::success("audit.purged")]).await;
    // 5,001 decisions by one gateway, from one address, about one tool.
    let busy = Actor::gateway(
        &GatewayId::from("gw-2".to_owned()),
        "Busy gateway",
        meta("10.0.0.1"),
    );
    let many = (0..5_001)
        .map(|_| {
            NewEvent::success("gateway.decision").target(Target::new(
                "mcp_tool",
                "Tool-XYZ",
                "github.search",
            ))
        })
        .collect();
    let busies = put(&svc, &clock, &busy, many).await;
    // The timeline runs to now, exclusive.
    clock.advance(chrono::Duration::seconds(1));

    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let newest_first = |seqs: &[i64]| seqs.iter().rev().copied().collect::<Vec<_>>();
    let cases: Vec<(&str, AuditQuery, Vec<i64>)> = vec![
        (
            "actor name, any case",
            q(&|q| q.actor = "EDGE".into()),
            newest_first(&edges),
        ),
        (
            "a person's name",
            q(&|q| q.actor = "jones".into()),
            carols.clone(),
        ),
        (
            "an actor without an id",
            q(&|q| q.actor = "retention".into()),
            jobs.clone(),
        ),
        ("a name nobody has", q(&|q| q.actor = "zed".into()), vec![]),
        (
            "target name",
            q(&|q| q.target = "create_issue".into()),
            newest_first(&edges),
        ),
        (
            "target name with a quote",
            q(&|q| q.target = "carol's".into()),
            carols.clone(),
        ),
        (
            "a target nobody has",
            q(&|q| q.target = "gitlab".into()),
            vec![],
        ),
        (
            "IPv6 prefix typed in capitals",
            q(&|q| q.source = "FE80::".into()),
            newest_first(&edges),
        ),
        (
            "an IPv4 prefix",
            q(&|q| q.source = "10.2.".into()),
            carols.clone(),
        ),
        (
            "a prefix no address has",
            q(&|q| q.source = "10.3.".into()),
            vec![],
        ),
        (
            "two filters that each match, together nothing",
            q(&|q| {
                q.actor = "edge".into();
                q.source = "10.2.".into();
            }),
            vec![],
        ),
        (
            "a name and a prefix",
            q(&|q| {
                q.target = "github".into();
                q.source = "fe80".into();
            }),
            newest_first(&edges),
        ),
    ];
    for (what, query, want) in cases {
        let page = svc.audit.explore(&owner, query.clone()).await?;
        let got: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
        assert_eq!(got, want, "{what}");
        assert_eq!((page.older, page.newer), (None, None), "{what}");
        let n = svc.audit.count_events(&owner, &query).await?;
        assert_eq!(n, want.len() as i64, "{what}: the count");
        let timeline = svc.audit.timeline(&owner, &query).await?;
        assert_eq!(timeline.total, want.len() as i64, "{what}: the timeline");
    }

    // Dense matches: the first page is the newest 50, and the walk goes on.
    let newest: Vec<i64> = busies.iter().rev().take(50).copied().collect();
    for (what, query) in [
        ("actor", q(&|q| q.actor = "busy".into())),
        ("target", q(&|q| q.target = "search".into())),
        ("source", q(&|q| q.source = "10.0.".into())),
    ] {
        let page = svc.audit.explore(&owner, query.clone()).await?;
        let got: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
        assert_eq!(got, newest, "{what}");
        assert_eq!(page.older, newest.last().copied(), "{what}");
        assert_eq!(
            svc.audit.count_events(&owner, &query).await?,
            5_001,
            "{what}"
        );
    }

    // The names the log's actors and targets carry, each once.
    let mut names: Vec<(String, String, String)> = fetch_all_dyn(
        svc.db().exec(),
        "SELECT kind, id, display FROM audit_names WHERE display LIKE '%gateway%' \
         OR display LIKE '%Carol%' OR display LIKE 'github%' OR display LIKE 'retention%'",
        &[],
    )
    .await?;
    names.sort();
    let pair = |k: &str, i: &str, d: &str| (k.to_owned(), i.to_owned(), d.to_owned());
    assert_eq!(
        names,
        vec![
            pair("actor", "", "retention job"),
            pair("actor", "gw-1", "gateway Edge gateway"),
            pair("actor", "gw-2", "gateway Busy gateway"),
            pair("actor", "u_carol", "Carol Jones"),
            pair("target", "Tool-ABC", "github.create_issue"),
            pair("target", "Tool-XYZ", "github.search"),
            pair("target", "srv_9", "Carol's server"),
        ]
    );
    Ok(())
}

/// A timeline on time alone adds up the quarter hours `audit_counts` keeps
/// (kept on append, whatever order events are stamped in) and counts only
/// the range's ragged ends event by event; it matches the event-by-event
/// count of the same range.
async fn explorer_timeline_adds_up_quarter_hours_kept_on_append(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    // A quarter hour boundary after the owner's events, and events after
    // it (seconds), appended in this order: 10, 3,000 and 21,000 stamped
    // out of order (by less than the hour the explorer allows).
    let b = (clock.now() + chrono::Duration::hours(2))
        .timestamp()
        .div_euclid(900)
        * 900;
    let at = |s: i64| chrono::DateTime::from_timestamp(b + s, 0).unwrap_or_else(|| panic!("{s}"));
    let stamps = [
        1, 1, 899, 10, 900, 7_200, 3_000, 11_220, 11_220, 11_220, 21_540, 21_569, 21_571, 21_000,
    ];
    let job = Actor::system("timeline test");
    for s in stamps {
        let mut tx = svc.db().begin().await?;
        append(&mut tx, at(s), &job, NewEvent::success("gateway.decision")).await?;
        tx.commit().await?;
    }
    assert_slot_counts_true(svc.db()).await?;

    // From 5 s past the boundary to 30 s before the sixth hour's end: 24
    // buckets of 15 minutes, the first and last slots only partly inside.
    let range = AuditQuery {
        since: Some(at(5)),
        until: Some(at(21_570)),
        ..Default::default()
    };
    let t = svc.audit.timeline(&owner, &range).await?;
    assert_eq!(
        (t.bucket_seconds, t.since, t.counts.len()),
        (900, at(0), 24)
    );
    let mut want = vec![0; 24];
    for (bucket, n) in [(0, 2), (1, 1), (3, 1), (8, 1), (12, 3), (23, 3)] {
        want[bucket] = n;
    }
    assert_eq!(t.counts, want, "stamps 1 and 21,571 lie outside the range");
    assert_eq!(t.total, 11);
    // The same range counted event by event (a filter every event passes).
    let one_by_one = svc
        .audit
        .timeline(
            &owner,
            &AuditQuery {
                outcome: Some(Outcome::Success),
                ..range.clone()
            },
        )
        .await?;
    assert_eq!(one_by_one.counts, want);
    assert_eq!(
        svc.audit.count_events(&owner, &range).await?,
        11,
        "the list holds what the chart counts"
    );

    // The whole quarter hours come from `audit_counts`, the ragged first
    // one from the events: 100 more in slot 12's row show; 100 more in
    // slot 0's row (partly inside the range) do not.
    let bump = |slot: i64| {
        format!(
            "UPDATE audit_counts SET n = n + 100 WHERE slot = {}",
            b / 900 + slot
        )
    };
    exec_dyn(svc.db().write(), &bump(12), &[]).await?;
    exec_dyn(svc.db().write(), &bump(0), &[]).await?;
    let t = svc.audit.timeline(&owner, &range).await?;
    assert_eq!((t.counts[0], t.counts[12], t.total), (2, 103, 111));
    Ok(())
}

/// Free text is part of the action, the actor's name, the target's name or
/// id, or the details, in any case; text with a space may span two of them
/// (they are joined by spaces). A search with more matches than a page
/// walks them by keyset both ways, its cursors telling where more lie.
async fn explorer_free_text_matches_each_field_and_pages(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let owner = owner(&svc).await;
    let kestrel = Actor::gateway(
        &GatewayId::from("gw-k".to_owned()),
        "Kestrel Edge",
        meta("10.9.0.1"),
    );
    let other = Actor::gateway(
        &GatewayId::from("gw-o".to_owned()),
        "Second gateway",
        meta("10.9.0.2"),
    );
    let decision = |id: &str, name: &str| {
        NewEvent::success("gateway.decision").target(Target::new("mcp_tool", id, name))
    };
    let mut tx = svc.db().begin().await?;
    append(
        &mut tx,
        clock.now(),
        &kestrel,
        decision("Tool-Osprey", "github.Heron_search").details(json!({ "reason": "granted" })),
    )
    .await?;
    let batch = (0..120)
        .map(|i| {
            decision("tool-common", "github.search").details(json!({ "batch": "Wren-7", "i": i }))
        })
        .collect();
    append_batch(&mut tx, clock.now(), &other, batch).await?;
    append(
        &mut tx,
        clock.now(),
        &other,
        decision("tool-common", "github.search")
            .details(json!({ "reason": "no grant for Plover-Team" })),
    )
    .await?;
    // The same tool under another name; the system (no id) by a name.
    append(
        &mut tx,
        clock.now(),
        &other,
        decision("Tool-Osprey", "github.renamed").details(json!({ "m": "renamed" })),
    )
    .await?;
    append(
        &mut tx,
        clock.now(),
        &Actor::system("Falcon sweeper"),
        NewEvent::success("gateway.decision").details(json!({ "m": "swept" })),
    )
    .await?;
    tx.commit().await?;
    // The peer: the events whose details hold each marker, newest first.
    let mut holding = Vec::new();
    for marker in ["granted", "Plover-Team", "Wren-7", "renamed", "swept"] {
        let sql = format!(
            "SELECT seq FROM audit_events WHERE details LIKE '%{marker}%' ORDER BY seq DESC"
        );
        let rows: Vec<(i64,)> = fetch_all_dyn(svc.db().exec(), &sql, &[]).await?;
        holding.push(rows.into_iter().map(|r| r.0).collect::<Vec<i64>>());
    }
    let [granted, plover, wren, renamed, swept] =
        <[Vec<i64>; 5]>::try_from(holding).map_err(|_| "five")?;
    assert_eq!((granted.len(), plover.len(), wren.len()), (1, 1, 120));
    assert_eq!((renamed.len(), swept.len()), (1, 1));
    let osprey = [renamed.clone(), granted.clone()].concat();
    let text = |t: &str| AuditQuery {
        text: t.into(),
        ..Default::default()
    };
    for (needle, expected, what) in [
        ("kestrel", &granted, "the actor's name, any case"),
        (
            "HERON_SEARCH",
            &granted,
            "the target's name, not its events under another",
        ),
        ("tool-osprey", &osprey, "the target's id, any case"),
        ("FALCON", &swept, "the name of an actor without an id"),
        ("plover-TEAM", &plover, "the details"),
        (
            "DECISION gateway Kestrel",
            &granted,
            "the action and the actor's name",
        ),
        (
            "heron_search tool-osprey",
            &granted,
            "the target's name and id",
        ),
    ] {
        assert_eq!(&seqs(&svc, &owner, text(needle)).await, expected, "{what}");
    }
    assert_eq!(
        seqs(&svc, &owner, text("kestrel edge gateway.decision")).await,
        Vec::<i64>::new(),
        "words match as one phrase, in the fields' order"
    );
    assert_eq!(svc.audit.count_events(&owner, &text("WREN-7")).await?, 120);

    // 120 matches, 50 a page: newest first, then back.
    let page = |before: Option<i64>, after: Option<i64>| AuditQuery {
        text: "wren-7".into(),
        before,
        after,
        limit: 50,
        ..Default::default()
    };
    let first = svc.audit.explore(&owner, page(None, None)).await?;
    let ids = |p: &portcullis_types::AuditSlice| p.items.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(ids(&first), wren[..50]);
    assert_eq!((first.newer, first.older), (None, Some(wren[49])));
    let second = svc.audit.explore(&owner, page(first.older, None)).await?;
    assert_eq!(ids(&second), wren[50..100]);
    assert_eq!(
        (second.newer, second.older),
        (Some(wren[50]), Some(wren[99]))
    );
    let last = svc.audit.explore(&owner, page(second.older, None)).await?;
    assert_eq!(ids(&last), wren[100..]);
    assert_eq!((last.newer, last.older), (Some(wren[100]), None));
    let back = svc.audit.explore(&owner, page(None, last.newer)).await?;
    assert_eq!(
        ids(&back),
        wren[50..100],
        "the newer page is the one before"
    );
    assert_eq!((back.newer, back.older), (Some(wren[50]), Some(wren[99])));
    // The first page's search was audited with the text in its details:
    // that event matches too, newer than the rest.
    let top = svc.audit.explore(&owner, page(None, back.newer)).await?;
    assert_eq!(ids(&top), wren[..50]);
    assert_eq!((top.newer, top.older), (Some(wren[0]), Some(wren[49])));
    let searched = svc.audit.explore(&owner, page(None, top.newer)).await?;
    assert_eq!(searched.items.len(), 1);
    assert_eq!(searched.items[0].action, "audit.searched");
    assert_eq!(
        (searched.newer, searched.older),
        (None, Some(searched.items[0].seq))
    );
    Ok(())
}
