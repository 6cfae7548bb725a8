//! Directory pages at scale (issue #21), on both backends:
//! - group member counts, kept on the group by the database, equal a count
//!   of the memberships after every kind of change;
//! - the users search (on SQLite from its trigram index when the text is
//!   selective) finds exactly the people a substring match over every
//!   person finds, after renames, deletions and a `VACUUM`;
//! - the Overview's event figures (added up from `audit_counts`) equal
//!   counts of the events themselves.

use crate::harness::{backend_tests, TestDb, TestResult};
use crate::storage::{owner, raw_exec, scim_directory, scim_user, services_on};
use chrono::{DateTime, Duration, Utc};
use portcullis_domain::{Actor, Db, Services};
use portcullis_types::{
    DirectoryGroupQuery, DirectoryGroupSort, DirectoryUserQuery, DirectoryUserSort, SortDir,
};
use serde_json::{json, Value};

backend_tests!(
    directory_scale_group_member_counts_follow_every_change,
    directory_scale_users_search_finds_what_a_scan_finds,
    directory_scale_overview_event_figures_match_the_log,
);

/// The rows of a one-column text query.
async fn raw_strings(db: &Db, sql: &str) -> Vec<String> {
    match db {
        Db::Sqlite(p, _) => sqlx::query_scalar(sql).fetch_all(p).await,
        Db::Postgres(p, _) => sqlx::query_scalar(sql).fetch_all(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// (group name, provisioned members) as the groups list shows them, by name.
async fn listed_counts(svc: &Services, owner: &Actor) -> Vec<(String, i64)> {
    let page = svc
        .directory
        .list_groups(owner, DirectoryGroupQuery::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    page.items
        .into_iter()
        .map(|g| (g.display_name, g.members))
        .collect()
}

/// The same figures counted from the memberships (the peer): members that
/// are not deleted users of the group's own directory.
async fn counted(db: &Db) -> Vec<(String, i64)> {
    raw_strings(
        db,
        "SELECT g.display_name || '=' || CAST(COUNT(u.id) AS TEXT) FROM directory_groups g \
         LEFT JOIN directory_group_members m ON m.group_id = g.id \
         LEFT JOIN directory_users u ON u.id = m.member_id AND u.directory_id = g.directory_id \
             AND u.deleted_at IS NULL \
         GROUP BY g.id, g.display_name, g.display_name_lower ORDER BY g.display_name_lower",
    )
    .await
    .into_iter()
    .map(|row| {
        let (name, n) = row.rsplit_once('=').unwrap_or_default();
        (name.to_owned(), n.parse().unwrap_or(-1))
    })
    .collect()
}

/// Both: the list's kept counts are `expect` and equal the peer's.
async fn assert_counts(svc: &Services, owner: &Actor, expect: &[(&str, i64)], step: &str) {
    let listed = listed_counts(svc, owner).await;
    let want: Vec<(String, i64)> = expect.iter().map(|(n, c)| ((*n).into(), *c)).collect();
    assert_eq!(listed, want, "kept counts after {step}");
    assert_eq!(counted(svc.db()).await, want, "counted after {step}");
}

fn group(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members,
    })
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

/// Every way a membership or a person changes moves the kept count as a
/// recount would: members added (a repeat and an unknown id count
/// nothing, another directory's person neither), removed, replaced by PUT,
/// a person deleted over SCIM, soft-deleted and restored behind the
/// service's back, hard-deleted, a group deleted; the list sorts by it.
async fn directory_scale_group_member_counts_follow_every_change(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    let okta = scim_directory(&svc, &owner, "Okta").await;
    let entra = scim_directory(&svc, &owner, "Entra ID").await;
    let a = scim_user(&svc, &okta, "a@x.example", None).await;
    let b = scim_user(&svc, &okta, "b@x.example", None).await;
    let c = scim_user(&svc, &okta, "c@x.example", None).await;
    let d = scim_user(&svc, &okta, "d@x.example", None).await;
    let other = scim_user(&svc, &entra, "o@y.example", None).await;
    let base = "http://x/scim/v2";
    let eng = svc
        .scim
        .create_group(&okta, base, group("Eng", &[&a, &b, &other, "zz-unknown"]))
        .await?;
    let eng: portcullis_types::GroupId = eng["id"].as_str().unwrap_or_default().into();
    let ops = svc
        .scim
        .create_group(&okta, base, group("Ops", &[&a]))
        .await?;
    let ops: portcullis_types::GroupId = ops["id"].as_str().unwrap_or_default().into();
    svc.scim
        .create_group(&entra, base, group("Partners", &[&other, &a]))
        .await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 2), ("Ops", 1), ("Partners", 1)],
        "create",
    )
    .await;

    let add: Vec<Value> = [&c, &d, &a].iter().map(|m| json!({ "value": m })).collect();
    svc.scim
        .patch_group(
            &okta,
            base,
            &eng,
            &patch(json!([{ "op": "Add", "path": "members", "value": add }])),
            None,
            false,
        )
        .await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 4), ("Ops", 1), ("Partners", 1)],
        "add",
    )
    .await;
    let remove = format!("members[value eq \"{b}\"]");
    svc.scim
        .patch_group(
            &okta,
            base,
            &eng,
            &patch(json!([{ "op": "Remove", "path": remove }])),
            None,
            false,
        )
        .await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 3), ("Ops", 1), ("Partners", 1)],
        "remove",
    )
    .await;
    svc.scim
        .delete_user(&okta, &c.as_str().into(), None)
        .await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 2), ("Ops", 1), ("Partners", 1)],
        "delete user",
    )
    .await;
    svc.scim
        .replace_group(&okta, base, &eng, group("Eng", &[&b, &d, &c]), None)
        .await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 2), ("Ops", 1), ("Partners", 1)],
        "PUT",
    )
    .await;
    let detail = svc.directory.get_group(&owner, &eng, 0, 10).await?;
    assert_eq!((detail.provisioned_members, detail.members.total), (2, 3));

    // Changes made outside the SCIM service (an operator's SQL, an import)
    // are counted too: a soft delete keeping the memberships, a restore, a
    // hard delete.
    let outside = [
        (
            format!("UPDATE directory_users SET deleted_at = updated_at WHERE id = '{b}'"),
            [("Eng", 1), ("Ops", 1), ("Partners", 1)],
            "soft delete",
        ),
        (
            format!("UPDATE directory_users SET deleted_at = NULL WHERE id = '{b}'"),
            [("Eng", 2), ("Ops", 1), ("Partners", 1)],
            "restore",
        ),
        (
            format!("DELETE FROM directory_users WHERE id = '{a}'"),
            [("Eng", 2), ("Ops", 0), ("Partners", 1)],
            "hard delete",
        ),
    ];
    for (sql, expect, step) in outside {
        raw_exec(svc.db(), &sql).await;
        assert_counts(&svc, &owner, &expect, step).await;
    }
    svc.scim.delete_group(&okta, &ops, None).await?;
    assert_counts(
        &svc,
        &owner,
        &[("Eng", 2), ("Partners", 1)],
        "group deleted",
    )
    .await;

    let by_members = svc
        .directory
        .list_groups(
            &owner,
            DirectoryGroupQuery {
                sort: DirectoryGroupSort::Members,
                dir: SortDir::Asc,
                ..Default::default()
            },
        )
        .await?;
    let order: Vec<&str> = by_members
        .items
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(order, ["Partners", "Eng"]);
    Ok(())
}

/// A person as the search test knows it.
struct Person {
    id: String,
    user_name: String,
    display: Option<String>,
    external_id: Option<String>,
}

impl Person {
    /// The search's own rule (the peer): a case-insensitive substring of
    /// userName, displayName or email (the userName here), or an exact id
    /// or externalId.
    fn matches(&self, text: &str) -> bool {
        let t = text.trim().to_lowercase();
        self.user_name.to_lowercase().contains(&t)
            || self
                .display
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(&t))
            || self.id == text.trim()
            || self.external_id.as_deref() == Some(text.trim())
    }
}

/// The ids and total the users list finds for `text`, 50 a page, and what
/// the peer says: the first page by userName and the count.
async fn search(svc: &Services, owner: &Actor, people: &[Person], text: &str) -> TestResult {
    let page = svc
        .directory
        .list_users(
            owner,
            DirectoryUserQuery {
                search: text.into(),
                sort: DirectoryUserSort::UserName,
                limit: 50,
                ..Default::default()
            },
        )
        .await?;
    let mut want: Vec<&Person> = people.iter().filter(|p| p.matches(text)).collect();
    want.sort_by(|x, y| {
        (x.user_name.to_lowercase(), &x.id).cmp(&(y.user_name.to_lowercase(), &y.id))
    });
    let want_ids: Vec<&str> = want.iter().take(50).map(|p| p.id.as_str()).collect();
    let got: Vec<&str> = page.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        (got, page.total),
        (want_ids, want.len() as i64),
        "search {text:?}"
    );
    Ok(())
}

/// The users search finds what matching every person finds: selective text
/// (the SQLite index), text shorter than a trigram and text matching more
/// than 1,000 people (a scan), quotes and LIKE wildcards taken literally,
/// exact ids and externalIds; a rename, a deletion and (on SQLite) a
/// `VACUUM`, which may renumber the people's rowids, change nothing of
/// that. On SQLite, emptying the index makes selective searches find
/// nobody while common text still finds everyone: the index is what
/// answers them.
async fn directory_scale_users_search_finds_what_a_scan_finds(db: &TestDb) -> TestResult {
    let (svc, _) = services_on(db).await;
    let owner = owner(&svc).await;
    let okta = scim_directory(&svc, &owner, "Okta").await;
    let base = "http://x/scim/v2";
    let mut people = Vec::new();
    for (user_name, display, external_id) in [
        ("alice.smith@x.example", Some("Alice Smith"), None),
        (
            "bob@x.example",
            Some("Robert \"Bob\" O'Neil"),
            Some("EXT-42"),
        ),
        ("carol_50%@x.example", None, None),
        ("dave@y.example", Some("Dave Bulkley"), None),
    ] {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{ "value": user_name, "primary": true }],
        });
        if let Some(d) = display {
            body["displayName"] = json!(d);
        }
        if let Some(e) = external_id {
            body["externalId"] = json!(e);
        }
        let u = svc.scim.create_user(&okta, base, body).await?;
        people.push(Person {
            id: u["id"].as_str().unwrap_or_default().to_owned(),
            user_name: user_name.into(),
            display: display.map(Into::into),
            external_id: external_id.map(Into::into),
        });
    }
    // 1,000 more people written straight into the table (the triggers
    // index them as they would a SCIM write).
    let dir = okta.id.clone().unwrap_or_default();
    raw_exec(
        svc.db(),
        &format!(
            "INSERT INTO directory_users (id, directory_id, user_name, user_name_lower, display_name, \
             email, active, resource, version, created_at, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
             SELECT 'bulk-' || CAST(i AS TEXT), '{dir}', 'bulk' || CAST(i + 10000 AS TEXT) || '@z.example', \
             'bulk' || CAST(i + 10000 AS TEXT) || '@z.example', 'Bulk Person ' || CAST(i AS TEXT), \
             'bulk' || CAST(i + 10000 AS TEXT) || '@z.example', TRUE, '{{}}', 1, \
             '2026-11-26T09:00:00+00:00', '2026-11-26T09:00:00+00:00' FROM n"
        ),
    )
    .await;
    for i in 1..=1000 {
        people.push(Person {
            id: format!("bulk-{i}"),
            user_name: format!("bulk{}@z.example", i + 10000),
            display: Some(format!("Bulk Person {i}")),
            external_id: None,
        });
    }
    let bob = people[1].id.clone();
    let texts = [
        "alice",
        "SMITH",
        "x.example",
        "  smith@x  ",
        "bulk",
        "bulk10999",
        "person 99",
        "z.example",
        "ul",
        "a",
        "\"bob\"",
        "o'neil",
        "50%",
        "l_5",
        "EXT-42",
        "ext-42",
        bob.as_str(),
        "bulk-7",
        "nobody-here",
    ];
    for text in texts {
        search(&svc, &owner, &people, text).await?;
    }

    // A rename, a deletion.
    let alice = people[0].id.clone();
    svc.scim
        .patch_user(
            &okta,
            base,
            &alice.as_str().into(),
            &patch(json!([{ "op": "Replace", "path": "displayName", "value": "Alicia Jones" }])),
            None,
        )
        .await?;
    people[0].display = Some("Alicia Jones".into());
    svc.scim
        .delete_user(&okta, &bob.as_str().into(), None)
        .await?;
    people.remove(1);
    for text in [
        "alice",
        "alicia",
        "JONES",
        "o'neil",
        "bob@",
        "EXT-42",
        bob.as_str(),
    ] {
        search(&svc, &owner, &people, text).await?;
    }

    if let Db::Sqlite(..) = svc.db() {
        raw_exec(svc.db(), "VACUUM").await;
        for text in ["alicia", "dave", "bulk10500", "carol_"] {
            search(&svc, &owner, &people, text).await?;
        }
        raw_exec(svc.db(), "DELETE FROM directory_users_search_keys").await;
        let alicia = svc
            .directory
            .list_users(
                &owner,
                DirectoryUserQuery {
                    search: "alicia".into(),
                    ..Default::default()
                },
            )
            .await?;
        assert_eq!(alicia.total, 0, "selective text is answered by the index");
        search(&svc, &owner, &people, "bulk").await?;
        search(&svc, &owner, &people, "ul").await?;
    }
    Ok(())
}

/// Every event's time, read straight from the log.
async fn event_times(db: &Db) -> Vec<DateTime<Utc>> {
    let sql = "SELECT occurred_at FROM audit_events";
    match db {
        Db::Sqlite(p, _) => sqlx::query_scalar(sql).fetch_all(p).await,
        Db::Postgres(p, _) => sqlx::query_scalar(sql).fetch_all(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The Overview's events of the last 24 hours and per day of the last 14
/// equal counts of the events, with events spread over three weeks at
/// minutes off the quarter hours: in UTC and in zones whose midnights fall
/// on a quarter hour of UTC (India +05:30, Nepal +05:45, Hawaii −10:00;
/// whole quarter hours added up from `audit_counts`) and in one 7 minutes
/// off (every event counted).
async fn directory_scale_overview_event_figures_match_the_log(db: &TestDb) -> TestResult {
    let (svc, clock) = services_on(db).await;
    let system = Actor::system("test");
    for i in 0..40 {
        svc.directory
            .create_directory(&system, &format!("Directory {i}"))
            .await?;
        clock.advance(Duration::minutes(11 * 60 + 7));
    }
    let now = {
        use portcullis_domain::Clock;
        clock.now()
    };
    for offset in [0, 330, 345, 7, -600] {
        let utc_offset = Duration::minutes(offset);
        let stats = svc
            .overview
            .get_stats_in(&system, &svc.audit, utc_offset)
            .await?;
        let times = event_times(svc.db()).await;
        let day_ago = now - Duration::hours(24);
        let last_day = times.iter().filter(|t| **t >= day_ago).count() as i64;
        assert_eq!(stats.audit_events_24h, last_day, "offset {offset}");
        assert!(last_day > 0);
        let per_day: Vec<(String, i64)> = stats
            .events_per_day
            .iter()
            .map(|d| (d.day.clone(), d.count))
            .collect();
        let today = (now + utc_offset).date_naive();
        let want: Vec<(String, i64)> = (0..14)
            .rev()
            .map(|back| {
                let day = today - chrono::Days::new(back);
                let n = times
                    .iter()
                    .filter(|t| (**t + utc_offset).date_naive() == day)
                    .count() as i64;
                (day.format("%Y-%m-%d").to_string(), n)
            })
            .collect();
        assert_eq!(per_day, want, "offset {offset}");
        assert!(want.iter().filter(|(_, n)| *n > 0).count() >= 10);
    }
    // The figures come from `audit_counts` where the days fall on quarter
    // hours: a count added behind the log's back shows in UTC, not in the
    // zone 7 minutes off, which counts the events themselves.
    let before = (
        svc.overview.get_stats(&system, &svc.audit).await?,
        svc.overview
            .get_stats_in(&system, &svc.audit, Duration::minutes(7))
            .await?,
    );
    raw_exec(svc.db(), "UPDATE audit_counts SET n = n + 1000").await;
    let utc = svc.overview.get_stats(&system, &svc.audit).await?;
    let off = svc
        .overview
        .get_stats_in(&system, &svc.audit, Duration::minutes(7))
        .await?;
    assert!(utc.audit_events_24h >= before.0.audit_events_24h + 1000);
    let total = |s: &portcullis_types::OverviewStats| -> i64 {
        s.events_per_day.iter().map(|d| d.count).sum()
    };
    assert!(total(&utc) >= total(&before.0) + 1000);
    assert_eq!(total(&off), total(&before.1));
    Ok(())
}
