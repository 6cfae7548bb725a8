//! The console's Access server functions over real HTTP: grants (create,
//! list, revoke), revisions (list, diff, rollback), the simulator and a
//! person's access, with roles, field errors and side effects checked; and
//! the Access pages rendered on the server.

use crate::access::{directory, github, scim_group, scim_user};
use crate::harness::{audit_count, audit_rows, text_of, TestResult, TestServer};
use portcullis_domain::Actor;
use serde_json::Value;

const OWNER_PW: &str = "correct horse battery staple";

/// A console with an owner, a directory "Okta" with alice (in Engineering)
/// and bob (in no group), and the server `github` with `search_code`
/// (read-only), `create_issue` and `delete_repo` (destructive).
struct World {
    srv: TestServer,
    owner: reqwest::Client,
    alice: String,
    eng: String,
    github: String,
    okta: Actor,
}

async fn world() -> World {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let svc = &srv.running.services;
    let okta = directory(svc).await;
    let alice = scim_user(svc, &okta, "alice@corp.example").await;
    scim_user(svc, &okta, "bob@corp.example").await;
    let eng = scim_group(svc, &okta, "Engineering", &[&alice]).await;
    let github = github(svc, &Actor::system("test")).await;
    World {
        srv,
        owner,
        alice,
        eng,
        github,
        okta,
    }
}

/// Invites `email` as an auditor and returns their signed-in client.
pub(crate) async fn auditor(
    srv: &TestServer,
    owner: &reqwest::Client,
    email: &str,
) -> reqwest::Client {
    invited(srv, owner, email, "auditor").await
}

/// A console user invited by `owner` with `role`, signed in with a password.
pub(crate) async fn invited(
    srv: &TestServer,
    owner: &reqwest::Client,
    email: &str,
    role: &str,
) -> reqwest::Client {
    let (status, link) = srv
        .call(
            owner,
            "admins/invite",
            &[("email", email), ("display_name", ""), ("role", role)],
        )
        .await;
    assert_eq!(status, 200, "invite: {link}");
    let client = srv.client();
    let url = link["path"].as_str().unwrap_or_default();
    let (status, body) = srv
        .call(
            &client,
            "accept_link",
            &[
                ("token", &TestServer::token_of(url)),
                ("display_name", "Invited Person"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(status, 200, "accept: {body}");
    client
}

/// The form of a whole-server allow for Engineering on `github`.
fn group_grant(w: &World) -> Vec<(&str, &str)> {
    vec![
        ("effect", "allow"),
        ("subject_kind", "group"),
        ("group_id", &w.eng),
        ("person", ""),
        ("server_id", &w.github),
        ("target", "server"),
        ("annotation", "read_only"),
        ("expires_at", ""),
        ("reason", "Team access, ticket ENG-7"),
    ]
}

async fn simulate(w: &World, user: &str, tool: &str, rev: &str) -> (u16, Value) {
    w.srv
        .call(
            &w.owner,
            "access/simulate",
            &[
                ("user", user),
                ("server", "github"),
                ("tool", tool),
                ("rev", rev),
            ],
        )
        .await
}

async fn grants(w: &World, client: &reqwest::Client) -> Value {
    let (status, page) = w
        .srv
        .call(
            client,
            "access/grants/list",
            &[("q", ""), ("server_id", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn head(w: &World) -> i64 {
    let (status, list) = w
        .srv
        .call(&w.owner, "access/revisions/list", &[("offset", "0")])
        .await;
    assert_eq!(status, 200, "{list}");
    list["head"].as_i64().unwrap_or(-1)
}

/// An owner's grant is listed, makes a revision and an audit event, and the
/// simulator answers from it; a person's grant by email covers a named
/// destructive tool.
#[tokio::test]
async fn access_console_owner_creates_grant_listed_and_simulated() -> TestResult {
    let w = world().await;
    let before = head(&w).await;
    let (status, created) = w
        .srv
        .call(&w.owner, "access/grants/create", &group_grant(&w))
        .await;
    assert_eq!(status, 200, "{created}");
    let rev = created["revision"].as_i64().unwrap_or_default();
    assert!(rev > before, "{created}");
    assert!(created["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("grt"));

    let page = grants(&w, &w.owner).await;
    assert_eq!(page["total"], 1);
    let g = &page["items"][0];
    assert_eq!(g["subject_display"], "Engineering");
    assert_eq!(g["subject"]["kind"], "group");
    assert_eq!(g["server_name"], "GitHub");
    assert_eq!(g["target"]["kind"], "server");
    assert_eq!(g["effect"], "allow");
    assert_eq!(g["reason"], "Team access, ticket ENG-7");
    assert_eq!(g["created_by"], "owner@test.example");

    let (_, list) = w
        .srv
        .call(&w.owner, "access/revisions/list", &[("offset", "0")])
        .await;
    assert_eq!(list["head"], rev);
    assert_eq!(list["page"]["items"][0]["number"], rev);
    assert_eq!(list["page"]["items"][0]["source"], "grants");
    let events = audit_rows(&w.srv.db.url, "access.grant.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2, "owner@test.example");

    // The simulator takes the email and the server's slug.
    let (status, sim) = simulate(&w, "Alice@Corp.Example", "search_code", "").await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["person_id"], w.alice.as_str());
    assert_eq!(sim["person"], "alice@corp.example");
    assert_eq!(sim["result"]["allowed"], true);
    assert_eq!(sim["result"]["revision"], rev);
    let rules = sim["result"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["deciding"], true);
    assert_eq!(rules[0]["via"]["kind"], "group");
    assert_eq!(rules[0]["via"]["name"], "Engineering");
    // A whole-server allow does not cover the destructive tool.
    let (_, sim) = simulate(&w, "alice@corp.example", "delete_repo", "").await;
    assert_eq!(
        (&sim["result"]["allowed"], &sim["result"]["reason"]),
        (&Value::Bool(false), &Value::from("no_grant"))
    );
    // The revision before the grant answers as it was.
    let (_, sim) = simulate(&w, "alice@corp.example", "search_code", &before.to_string()).await;
    assert_eq!(sim["result"]["allowed"], false);
    assert_eq!(sim["result"]["revision"], before);

    // A grant to one person, by email, for a named (destructive) tool.
    let (status, created) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "allow"),
                ("subject_kind", "person"),
                ("person", "ALICE@corp.example"),
                ("server_id", &w.github),
                ("target", "tools"),
                ("tools[]", "delete_repo"),
                ("expires_at", "2099-12-31T18:00"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let page = grants(&w, &w.owner).await;
    assert_eq!(page["total"], 2);
    let g = &page["items"][0];
    assert_eq!(g["subject"]["kind"], "user");
    assert_eq!(g["subject"]["id"], w.alice.as_str());
    assert_eq!(g["target"]["names"][0], "delete_repo");
    assert_eq!(g["expires_at"], "2099-12-31T18:00:00Z");
    let (_, sim) = simulate(&w, "alice@corp.example", "delete_repo", "").await;
    assert_eq!(sim["result"]["allowed"], true, "{sim}");
    assert_eq!(sim["result"]["rules"][0]["via"]["kind"], "direct");

    // Alice's Access tab: every tool with the decision and why.
    let (status, access) = w
        .srv
        .call(&w.owner, "access/user_access", &[("id", &w.alice)])
        .await;
    assert_eq!(status, 200, "{access}");
    let row = |tool: &str| {
        access
            .as_array()
            .and_then(|a| a.iter().find(|r| r["tool"] == tool))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(row("search_code")["allowed"], true);
    assert_eq!(row("search_code")["via"]["name"], "Engineering");
    assert_eq!(row("search_code")["effective"]["read_only"], true);
    assert_eq!(row("delete_repo")["via"]["kind"], "direct");
    // Search and the server filter narrow the list on the server.
    let (_, page) = w
        .srv
        .call(
            &w.owner,
            "access/grants/list",
            &[("q", "eng-7"), ("server_id", &w.github), ("offset", "0")],
        )
        .await;
    assert_eq!(page["total"], 1);
    let (_, page) = w
        .srv
        .call(
            &w.owner,
            "access/grants/list",
            &[("q", ""), ("server_id", "srv_other"), ("offset", "0")],
        )
        .await;
    assert_eq!(page["total"], 0);
    w.srv.stop().await;
    Ok(())
}

/// The Edit grant dialog's server function: an expiry entered in the
/// admin's time zone is stored in UTC, the named tools change with a new
/// revision and an audit event saying from what to what; a grant of a
/// whole server refuses a tools change, as do no tool, an unknown zone and
/// an hour the zone skips, each naming its field and changing nothing.
#[tokio::test]
async fn access_console_grant_edit_reads_local_time_and_changes_tools() -> TestResult {
    let w = world().await;
    let (status, created) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "allow"),
                ("subject_kind", "person"),
                ("person", "alice@corp.example"),
                ("server_id", &w.github),
                ("target", "tools"),
                ("tools[]", "search_code"),
                ("expires_at", "2030-01-15T09:00"),
                ("tz", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let find = |page: &Value| {
        page["items"]
            .as_array()
            .and_then(|a| a.iter().find(|g| g["id"] == id.as_str()))
            .cloned()
            .unwrap_or_default()
    };
    // 09:00 in New York in January is 14:00 UTC.
    assert_eq!(
        find(&grants(&w, &w.owner).await)["expires_at"],
        "2030-01-15T14:00:00Z"
    );

    let before = head(&w).await;
    let edit = |extra: &[(&'static str, &'static str)]| {
        let mut form = vec![("id", id.clone())];
        form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        form
    };
    let call = |form: Vec<(&'static str, String)>| {
        let w = &w;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            w.srv.call(&w.owner, "access/grants/update", &form).await
        }
    };
    let (status, revision) = call(edit(&[
        ("expires_at", "2030-06-30T17:00"),
        ("tz", "Asia/Kolkata"),
        ("reason", "Until the migration ends"),
        ("tools[]", "search_code"),
        ("tools[]", "create_issue"),
        ("edit_tools", "on"),
    ]))
    .await;
    assert_eq!(status, 200, "{revision}");
    assert_eq!(revision.as_i64(), Some(before + 1));
    let g = find(&grants(&w, &w.owner).await);
    assert_eq!(g["expires_at"], "2030-06-30T11:30:00Z", "{g}");
    assert_eq!(
        g["target"],
        serde_json::json!({ "kind": "tools", "names": ["create_issue", "search_code"] })
    );
    assert_eq!(g["reason"], "Until the migration ends");
    let (_, sim) = simulate(&w, "alice@corp.example", "create_issue", "").await;
    assert_eq!(sim["result"]["allowed"], true, "{sim}");
    let updated = crate::harness::audit_actions(&w.srv.db.url, "access.grant.updated").await;
    assert_eq!(updated.len(), 1);
    let text = crate::harness::audit_text(&w.srv.db.url).await;
    assert!(
        text.contains(r#""tools":{"from":["search_code"],"to":["create_issue","search_code"]}"#),
        "{text}"
    );

    // Refusals name their field; nothing changes.
    let whole = group_grant(&w);
    let (status, other) = w.srv.call(&w.owner, "access/grants/create", &whole).await;
    assert_eq!(status, 200, "{other}");
    let other_id = other["id"].as_str().unwrap_or_default().to_owned();
    let head_now = head(&w).await;
    let form: Vec<(&str, &str)> = vec![
        ("id", &other_id),
        ("tools[]", "search_code"),
        ("edit_tools", "on"),
    ];
    let (status, body) = w.srv.call(&w.owner, "access/grants/update", &form).await;
    assert_eq!(
        (status, body["fields"][0]["field"].as_str()),
        (422, Some("tools")),
        "{body}"
    );
    for (extra, field) in [
        (vec![("edit_tools", "on")], "tools"),
        (
            vec![("expires_at", "2030-06-30T17:00"), ("tz", "Mars/Olympus")],
            "tz",
        ),
        // Paris skips 02:00 to 03:00 on 2030-03-31.
        (
            vec![("expires_at", "2030-03-31T02:30"), ("tz", "Europe/Paris")],
            "expires_at",
        ),
    ] {
        let (status, body) = call(edit(&extra)).await;
        assert_eq!(
            (status, body["fields"][0]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    assert_eq!(head(&w).await, head_now);
    let g = find(&grants(&w, &w.owner).await);
    assert_eq!(g["expires_at"], "2030-06-30T11:30:00Z");
    assert_eq!(g["target"]["names"].as_array().map(Vec::len), Some(2));
    w.srv.stop().await;
    Ok(())
}

/// The pickers search on the server: groups and active people whose name
/// or email contains the text, the first 20, with how many match.
#[tokio::test]
async fn access_console_pickers_search_groups_and_people() -> TestResult {
    let w = world().await;
    let svc = &w.srv.running.services;
    for i in 1..=30 {
        scim_group(svc, &w.okta, &format!("Project {i:02}"), &[]).await;
    }
    let (status, page) = w
        .srv
        .call(&w.owner, "access/pick_groups", &[("q", "project")])
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 30);
    assert_eq!(page["options"].as_array().map(Vec::len), Some(20));
    assert_eq!(page["options"][0]["label"], "Project 01");
    let (_, page) = w
        .srv
        .call(&w.owner, "access/pick_groups", &[("q", "ject 27")])
        .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["options"][0]["detail"], "0 members · Okta");
    let (_, page) = w
        .srv
        .call(&w.owner, "access/pick_groups", &[("q", "engineering")])
        .await;
    assert_eq!(page["options"][0]["id"], w.eng.as_str());
    assert_eq!(page["options"][0]["detail"], "1 member · Okta");
    let (status, people) = w
        .srv
        .call(&w.owner, "access/pick_people", &[("q", "ALICE")])
        .await;
    assert_eq!(status, 200, "{people}");
    assert_eq!(people["total"], 1);
    assert_eq!(people["options"][0]["id"], "alice@corp.example");
    let (_, none) = w
        .srv
        .call(&w.owner, "access/pick_people", &[("q", "zed")])
        .await;
    assert_eq!(
        (
            none["total"].as_i64(),
            none["options"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    // Signed out: refused.
    let (status, _) = w
        .srv
        .call(&w.srv.client(), "access/pick_groups", &[("q", "")])
        .await;
    assert_eq!(status, 401);
    w.srv.stop().await;
    Ok(())
}

/// An auditor may read grants and simulate, but creating, revoking and
/// rolling back are refused with 403 and change nothing.
#[tokio::test]
async fn access_console_auditor_mutations_forbidden_nothing_changes() -> TestResult {
    let w = world().await;
    let (status, created) = w
        .srv
        .call(&w.owner, "access/grants/create", &group_grant(&w))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let audrey = auditor(&w.srv, &w.owner, "audrey@test.example").await;
    let rev = head(&w).await;
    let events = audit_count(&w.srv.db.url).await;

    for (endpoint, form) in [
        ("access/grants/create", group_grant(&w)),
        ("access/grants/revoke", vec![("id", id.as_str())]),
        ("access/revisions/rollback", vec![("to", "1")]),
    ] {
        let (status, body) = w.srv.call(&audrey, endpoint, &form).await;
        assert_eq!(status, 403, "{endpoint}: {body}");
        assert_eq!(body["code"], "forbidden", "{endpoint}");
    }
    assert_eq!(head(&w).await, rev);
    assert_eq!(audit_count(&w.srv.db.url).await, events);
    assert_eq!(grants(&w, &w.owner).await["total"], 1);

    // Reading is every role's.
    assert_eq!(grants(&w, &audrey).await["total"], 1);
    let (status, sim) = w
        .srv
        .call(
            &audrey,
            "access/simulate",
            &[
                ("user", "alice@corp.example"),
                ("server", "github"),
                ("tool", "search_code"),
                ("rev", ""),
            ],
        )
        .await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["result"]["allowed"], true);
    // Signed out: 401.
    let (status, _) = w
        .srv
        .call(
            &w.srv.client(),
            "access/grants/list",
            &[("q", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(status, 401);
    w.srv.stop().await;
    Ok(())
}

/// Invalid grants are refused with 422 naming every bad field; nothing is
/// created.
#[tokio::test]
async fn access_console_invalid_grant_names_fields() -> TestResult {
    let w = world().await;
    let rev = head(&w).await;
    let fields = |body: &Value| -> Vec<String> {
        body["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, body) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "maybe"),
                ("subject_kind", "group"),
                ("group_id", ""),
                ("server_id", "srv_missing"),
                ("target", "tools"),
                ("reason", &"x".repeat(501)),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid");
    let named = fields(&body);
    for f in ["subject", "server_id", "tools", "effect", "reason"] {
        assert!(named.iter().any(|n| n == f), "{f} not named: {body}");
    }

    // A tool the server does not have.
    let mut form = group_grant(&w);
    form.retain(|(k, _)| *k != "target");
    form.extend([("target", "tools"), ("tools[]", "drop_database")]);
    let (status, body) = w.srv.call(&w.owner, "access/grants/create", &form).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["tools"]);
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("drop_database"));

    // Expiry: not a time, or in the past.
    for bad in ["next tuesday", "2001-01-01T00:00"] {
        let mut form = group_grant(&w);
        form.retain(|(k, _)| *k != "expires_at");
        form.push(("expires_at", bad));
        let (status, body) = w.srv.call(&w.owner, "access/grants/create", &form).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(fields(&body), ["expires_at"], "{bad}");
    }

    // A person who is not in the directory.
    let (status, body) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "allow"),
                ("subject_kind", "person"),
                ("person", "mallory@elsewhere.example"),
                ("server_id", &w.github),
                ("target", "server"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["person"]);

    // The simulator names its fields too.
    let (status, body) = simulate(&w, "nobody@corp.example", "search_code", "").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["person"]);
    let (status, body) = simulate(&w, "alice@corp.example", "search_code", "ten").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["revision"]);
    // Every problem with the question at once.
    let (status, body) = simulate(&w, "", "", "ten").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), ["revision", "person", "tool"]);

    assert_eq!(grants(&w, &w.owner).await["total"], 0);
    assert_eq!(head(&w).await, rev);
    assert!(audit_rows(&w.srv.db.url, "access.grant.").await.is_empty());
    w.srv.stop().await;
    Ok(())
}

/// Revoking makes a revision whose diff shows the grant and the access
/// lost; rolling back to the revision before brings the grant back as a
/// new revision.
#[tokio::test]
async fn access_console_revoke_diff_and_rollback() -> TestResult {
    let w = world().await;
    let (_, created) = w
        .srv
        .call(&w.owner, "access/grants/create", &group_grant(&w))
        .await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let granted = created["revision"].as_i64().unwrap_or_default();

    let (status, revoked) = w
        .srv
        .call(&w.owner, "access/grants/revoke", &[("id", &id)])
        .await;
    assert_eq!(status, 200, "{revoked}");
    let revoked = revoked.as_i64().unwrap_or_default();
    assert_eq!(revoked, granted + 1);
    assert_eq!(grants(&w, &w.owner).await["total"], 0);
    let (_, sim) = simulate(&w, "alice@corp.example", "search_code", "").await;
    assert_eq!(sim["result"]["allowed"], false);

    let (status, diff) = w
        .srv
        .call(
            &w.owner,
            "access/revisions/diff",
            &[("from", &granted.to_string()), ("to", &revoked.to_string())],
        )
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["grants_removed"][0]["id"], id.as_str());
    assert_eq!(diff["grants_added"].as_array().map(Vec::len), Some(0));
    let lost: Vec<&str> = diff["access_removed"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["tool"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(lost.len(), 2, "{diff}");
    assert!(lost.contains(&"search_code") && lost.contains(&"create_issue"));
    assert_eq!(diff["access_removed"][0]["email"], "alice@corp.example");
    assert_eq!(diff["truncated"], false);

    // The current revision cannot be rolled back to.
    let (status, body) = w
        .srv
        .call(
            &w.owner,
            "access/revisions/rollback",
            &[("to", &revoked.to_string())],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "revision");

    let (status, rolled) = w
        .srv
        .call(
            &w.owner,
            "access/revisions/rollback",
            &[("to", &granted.to_string())],
        )
        .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled.as_i64(), Some(revoked + 1));
    let page = grants(&w, &w.owner).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id.as_str());
    let (_, sim) = simulate(&w, "alice@corp.example", "search_code", "").await;
    assert_eq!(sim["result"]["allowed"], true);
    let (_, list) = w
        .srv
        .call(&w.owner, "access/revisions/list", &[("offset", "0")])
        .await;
    assert_eq!(list["head"], revoked + 1);
    assert_eq!(list["page"]["items"][0]["source"], "rollback");
    assert_eq!(
        audit_rows(&w.srv.db.url, "access.policy.rolled_back")
            .await
            .len(),
        1
    );
    // Rolling back again to the same grants changes nothing: refused.
    let (status, _) = w
        .srv
        .call(
            &w.owner,
            "access/revisions/rollback",
            &[("to", &granted.to_string())],
        )
        .await;
    assert_eq!(status, 409);
    w.srv.stop().await;
    Ok(())
}

/// The Access pages render on the server with the data, and untrusted
/// names come out as text.
#[tokio::test]
async fn access_console_pages_render_answers_and_escape_names() -> TestResult {
    let w = world().await;
    let svc = &w.srv.running.services;
    let ops = scim_group(svc, &w.okta, "<b>Ops</b>", &[&w.alice]).await;
    let (status, body) = w
        .srv
        .call(&w.owner, "access/grants/create", &group_grant(&w))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "deny"),
                ("subject_kind", "group"),
                ("group_id", &ops),
                ("server_id", &w.github),
                ("target", "annotation"),
                ("annotation", "destructive"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let page = |path: &'static str| {
        let owner = w.owner.clone();
        let url = w.srv.url(path);
        async move {
            let res = owner.get(url).send().await?;
            let status = res.status().as_u16();
            Ok::<_, reqwest::Error>((status, res.text().await?))
        }
    };

    let (status, html) = page("/access/grants").await?;
    assert_eq!(status, 200);
    let text = text_of(&html);
    assert!(
        text.contains("Engineering") && text.contains("GitHub"),
        "{text}"
    );
    assert!(text.contains("except destructive"), "{text}");
    assert!(text.contains("Destructive tools"), "{text}");
    // The group's name is text, not markup.
    assert!(!html.contains("<b>Ops</b>"));
    assert!(html.contains("&lt;b&gt;Ops&lt;/b&gt;"), "{html}");

    let (status, html) =
        page("/access/simulator?user=alice%40corp.example&server=github&tool=search_code").await?;
    assert_eq!(status, 200);
    let text = text_of(&html);
    assert!(text.contains("Allowed"), "{text}");
    assert!(text.contains("Decided the answer"), "{text}");
    // The tool picker lists the server's tools (the link used its slug).
    assert!(text.contains("create_issue"), "{text}");

    let (status, html) = page("/access/revisions").await?;
    assert_eq!(status, 200);
    assert!(text_of(&html).contains("Grant added"));

    let (status, html) = page("/access/grants?q=nothing-matches").await?;
    assert_eq!(status, 200);
    assert!(text_of(&html).contains("No grants match"));

    let url = format!("/directory/users/{}?tab=access", w.alice);
    let res = w.owner.get(w.srv.url(&url)).send().await?;
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await?;
    let text = text_of(&html);
    assert!(
        text.contains("search_code") && text.contains("Via group"),
        "{text}"
    );
    assert!(!html.contains("<b>Ops</b>"));
    w.srv.stop().await;
    Ok(())
}

/// A tool's page counts the people who may call it (`tools/get`'s
/// `callers`) as its Who can call list does (`tools/callers`'s total),
/// before and after grants, and the list names each caller with the grant
/// that decided it; a deny takes a person out of both.
#[tokio::test]
async fn access_console_tool_page_counts_its_callers_as_the_list() -> TestResult {
    let w = world().await;
    let (status, tools) = w
        .srv
        .call(
            &w.owner,
            "catalog/tools/list",
            &[("q", "search_code"), ("status", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(status, 200, "{tools}");
    let tool_id = tools["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(tools["items"][0]["name"], "search_code");
    let counts = || async {
        let (status, tool) = w
            .srv
            .call(&w.owner, "catalog/tools/get", &[("id", &tool_id)])
            .await;
        assert_eq!(status, 200, "{tool}");
        let (status, list) = w
            .srv
            .call(
                &w.owner,
                "catalog/tools/callers",
                &[("server_id", &w.github), ("tool", "search_code")],
            )
            .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(tool["callers"], list["total"], "{tool} {list}");
        (tool["callers"].as_i64().unwrap_or(-1), list)
    };
    let (count, list) = counts().await;
    assert_eq!(count, 0);
    assert_eq!(list["items"], Value::Array(vec![]));

    let (status, group) = w
        .srv
        .call(&w.owner, "access/grants/create", &group_grant(&w))
        .await;
    assert_eq!(status, 200, "{group}");
    let (status, bob) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "allow"),
                ("subject_kind", "person"),
                ("person", "bob@corp.example"),
                ("server_id", &w.github),
                ("target", "tools"),
                ("tools[]", "search_code"),
                ("expires_at", ""),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(status, 200, "{bob}");
    let (count, list) = counts().await;
    assert_eq!(count, 2);
    let caller = |email: &str| {
        list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["email"] == email))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(caller("alice@corp.example")["id"], w.alice.as_str());
    assert_eq!(caller("alice@corp.example")["via"]["name"], "Engineering");
    assert_eq!(caller("alice@corp.example")["grant_id"], group["id"]);
    assert_eq!(caller("bob@corp.example")["via"]["kind"], "direct");
    assert_eq!(caller("bob@corp.example")["grant_id"], bob["id"]);

    // A deny for Alice takes her out of the count and the list.
    let (status, deny) = w
        .srv
        .call(
            &w.owner,
            "access/grants/create",
            &[
                ("effect", "deny"),
                ("subject_kind", "person"),
                ("person", "alice@corp.example"),
                ("server_id", &w.github),
                ("target", "server"),
                ("expires_at", ""),
                ("reason", "On leave"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{deny}");
    let (count, list) = counts().await;
    assert_eq!(count, 1);
    assert_eq!(list["items"][0]["email"], "bob@corp.example");
    w.srv.stop().await;
    Ok(())
}
