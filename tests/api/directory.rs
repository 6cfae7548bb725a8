//! The console's Directory pages over real HTTP: Settings → Directories
//! (create, rotate, revoke; tokens shown once), and the read API of the
//! people and groups that an IdP provisions through `/scim/v2` with the
//! directory's bearer token.

use crate::harness::{TestResult, TestServer};
use serde_json::{json, Value};

const OWNER_PW: &str = "correct horse battery staple";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Creates a directory through the server function; returns (id, token, base_url).
pub(crate) async fn create_directory(
    srv: &TestServer,
    client: &reqwest::Client,
    name: &str,
) -> (String, String, String) {
    let (status, body) = srv
        .call(client, "directory/directories/create", &[("name", name)])
        .await;
    assert_eq!(status, 200, "create directory: {body}");
    let s = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    (s("directory_id"), s("token"), s("base_url"))
}

/// One SCIM request with a bearer token; returns status and JSON body.
pub(crate) async fn scim(
    base_url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("{base_url}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Provisions a user; returns its id.
pub(crate) async fn provision_user(base_url: &str, token: &str, user: Value) -> String {
    let (status, body) = scim(base_url, token, reqwest::Method::POST, "/Users", Some(user)).await;
    assert_eq!(status, 201, "POST /Users: {body}");
    body["id"].as_str().unwrap_or_default().to_owned()
}

/// A SCIM user with a primary work email.
fn user(user_name: &str, display: Option<&str>) -> Value {
    let mut u = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": true,
        "emails": [{ "value": user_name, "type": "work", "primary": true }],
    });
    if let Some(d) = display {
        u["displayName"] = json!(d);
    }
    u
}

/// Sets `active` with a PATCH as Okta does.
pub(crate) async fn set_active(base_url: &str, token: &str, id: &str, active: bool) {
    let (status, body) = scim(
        base_url,
        token,
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "active": active } }],
        })),
    )
    .await;
    assert_eq!(status, 200, "PATCH active: {body}");
}

/// Calls `directory/users/list` with the given query fields (`q[...]`).
async fn list_users(
    srv: &TestServer,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    // An empty query still needs one field for `q` to be present.
    let fields = if fields.is_empty() {
        &[("search", "")][..]
    } else {
        fields
    };
    let form: Vec<(String, &str)> = fields
        .iter()
        .map(|(k, v)| (format!("q[{k}]"), *v))
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    srv.call(client, "directory/users/list", &form).await
}

/// The userNames of a page, in order.
fn user_names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["user_name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Invites `email` as an auditor and returns the auditor's signed-in client.
async fn auditor_client(srv: &TestServer, owner: &reqwest::Client) -> reqwest::Client {
    let (status, link) = srv
        .call(
            owner,
            "admins/invite",
            &[
                ("email", "audrey@test.example"),
                ("display_name", "Audrey"),
                ("role", "auditor"),
            ],
        )
        .await;
    assert_eq!(status, 200, "invite: {link}");
    let client = srv.client();
    let token = TestServer::token_of(link["path"].as_str().unwrap_or_default());
    let (status, body) = srv
        .call(
            &client,
            "accept_link",
            &[
                ("token", &token),
                ("display_name", "Audrey"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(status, 200, "accept: {body}");
    client
}

/// Creating a directory returns its SCIM base URL and a token once; the
/// detail view shows only the token's hint, and the name is unique.
#[tokio::test]
async fn directory_create_returns_token_once_with_base_url() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (id, token, base_url) = create_directory(&srv, &owner, "Okta").await;
    assert_eq!(base_url, srv.url("/scim/v2"));
    assert!(token.starts_with("pcs_") && token.len() > 40, "{token}");

    let (status, detail) = srv
        .call(&owner, "directory/directories/get", &[("id", &id)])
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["summary"]["name"], "Okta");
    assert_eq!(detail["base_url"], base_url);
    assert_eq!(detail["tokens"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["tokens"][0]["hint"], token[token.len() - 4..]);
    assert!(
        !detail.to_string().contains(&token),
        "the token value is never shown again"
    );
    let (status, list) = srv.call(&owner, "directory/directories/list", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "Okta");
    assert_eq!(list[0]["active_tokens"], 1);

    // Names are unique case-insensitively, and the field is named.
    let (status, body) = srv
        .call(&owner, "directory/directories/create", &[("name", "OKTA")])
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["fields"][0]["field"], "name");
    // Signed out, nothing is listed.
    let (status, _) = srv
        .call(&srv.client(), "directory/users/list", &[("q[search]", "")])
        .await;
    assert_eq!(status, 401);
    srv.stop().await;
    Ok(())
}

/// The user list searches (case-insensitive, LIKE wildcards escaped),
/// filters by directory and status, sorts by whitelisted columns, pages
/// with a total, and leaves out deleted users.
#[tokio::test]
async fn directory_users_list_searches_filters_sorts_and_pages() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (okta, okta_token, base) = create_directory(&srv, &owner, "Okta").await;
    let (_, entra_token, _) = create_directory(&srv, &owner, "Entra ID").await;
    let mut ids = std::collections::HashMap::new();
    for (name, display) in [
        ("ann.lee@corp.example", Some("Ann Lee")),
        ("bob.stone@corp.example", Some("Bob Stone")),
        ("carla.lee@corp.example", Some("Carla Lee")),
        ("d_evans@corp.example", None),
        ("eve.park@corp.example", Some("Eve Park")),
    ] {
        ids.insert(
            name,
            provision_user(&base, &okta_token, user(name, display)).await,
        );
    }
    for name in ["fay@other.example", "gus@other.example"] {
        ids.insert(
            name,
            provision_user(&base, &entra_token, user(name, None)).await,
        );
    }
    set_active(&base, &okta_token, &ids["bob.stone@corp.example"], false).await;
    let (status, _) = scim(
        &base,
        &entra_token,
        reqwest::Method::DELETE,
        &format!("/Users/{}", ids["gus@other.example"]),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Everyone not deleted, by userName.
    let (status, page) = list_users(&srv, &owner, &[]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 6);
    assert_eq!(
        user_names(&page),
        [
            "ann.lee@corp.example",
            "bob.stone@corp.example",
            "carla.lee@corp.example",
            "d_evans@corp.example",
            "eve.park@corp.example",
            "fay@other.example"
        ]
    );
    assert_eq!(page["items"][0]["directory_name"], "Okta");
    assert_eq!(page["items"][0]["display_name"], "Ann Lee");

    // A page of two from the third, with the total.
    let (_, page) = list_users(&srv, &owner, &[("offset", "2"), ("limit", "2")]).await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["offset"], 2);
    assert_eq!(
        user_names(&page),
        ["carla.lee@corp.example", "d_evans@corp.example"]
    );

    // Search is a case-insensitive substring of name or email.
    let (_, page) = list_users(&srv, &owner, &[("search", "LEE")]).await;
    assert_eq!(
        user_names(&page),
        ["ann.lee@corp.example", "carla.lee@corp.example"]
    );
    // `_` is a literal, not a LIKE wildcard; an exact id finds its user.
    let (_, page) = list_users(&srv, &owner, &[("search", "d_e")]).await;
    assert_eq!(user_names(&page), ["d_evans@corp.example"]);
    let (_, page) = list_users(&srv, &owner, &[("search", "%")]).await;
    assert_eq!(page["total"], 0);
    let (_, page) = list_users(&srv, &owner, &[("search", &ids["eve.park@corp.example"])]).await;
    assert_eq!(user_names(&page), ["eve.park@corp.example"]);

    // Directory and status filters.
    let (_, page) = list_users(&srv, &owner, &[("directory_id", &okta)]).await;
    assert_eq!(page["total"], 5);
    let (_, page) = list_users(&srv, &owner, &[("status", "inactive")]).await;
    assert_eq!(user_names(&page), ["bob.stone@corp.example"]);
    assert_eq!(page["items"][0]["active"], false);
    let (_, page) = list_users(
        &srv,
        &owner,
        &[
            ("status", "active"),
            ("directory_id", &okta),
            ("search", "lee"),
        ],
    )
    .await;
    assert_eq!(page["total"], 2);

    // Sorts: by display name (the userName when there is none), descending;
    // by last update, newest first.
    let (_, page) = list_users(
        &srv,
        &owner,
        &[("sort", "displayName"), ("dir", "desc"), ("limit", "3")],
    )
    .await;
    assert_eq!(
        user_names(&page),
        [
            "fay@other.example",
            "eve.park@corp.example",
            "d_evans@corp.example"
        ]
    );
    let (_, page) = list_users(&srv, &owner, &[("sort", "updated"), ("dir", "desc")]).await;
    assert_eq!(user_names(&page)[0], "bob.stone@corp.example");
    let (_, page) = list_users(&srv, &owner, &[("sort", "email"), ("dir", "asc")]).await;
    assert_eq!(user_names(&page)[0], "ann.lee@corp.example");
    // Only whitelisted sort columns are accepted.
    let (status, _) = list_users(&srv, &owner, &[("sort", "resource")]).await;
    assert!(status >= 400, "unknown sort column: {status}");
    // The page size is capped.
    let (_, page) = list_users(&srv, &owner, &[("limit", "100000")]).await;
    assert_eq!(page["limit"], 200);
    srv.stop().await;
    Ok(())
}

/// The user detail has the attributes (enterprise extension included), the
/// groups, and the status history from the audit log, newest first.
#[tokio::test]
async fn directory_user_detail_has_groups_and_status_history() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (okta, token, base) = create_directory(&srv, &owner, "Okta").await;
    let boss = provision_user(
        &base,
        &token,
        user("maria@corp.example", Some("Maria Boss")),
    )
    .await;
    let mut ann = user("ann@corp.example", Some("Ann Lee"));
    ann["externalId"] = json!("00u-ann");
    ann["name"] = json!({ "givenName": "Ann", "familyName": "Lee" });
    ann["title"] = json!("Security engineer");
    ann[ENTERPRISE] =
        json!({ "department": "Security", "employeeNumber": "1042", "manager": { "value": boss } });
    let ann = provision_user(&base, &token, ann).await;
    for name in ["Zeta", "Alpha"] {
        let (status, body) = scim(
            &base,
            &token,
            reqwest::Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": [{ "value": ann }],
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    set_active(&base, &token, &ann, false).await;

    let (status, u) = srv
        .call(&owner, "directory/users/get", &[("id", &ann)])
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["user_name"], "ann@corp.example");
    assert_eq!(u["directory_id"], okta);
    assert_eq!(u["directory_name"], "Okta");
    assert_eq!(u["external_id"], "00u-ann");
    assert_eq!(u["given_name"], "Ann");
    assert_eq!(u["family_name"], "Lee");
    assert_eq!(u["active"], false);
    assert_eq!(u["emails"][0]["value"], "ann@corp.example");
    assert_eq!(u["emails"][0]["primary"], true);
    assert_eq!(u["title"], "Security engineer");
    assert_eq!(u["department"], "Security");
    assert_eq!(u["employee_number"], "1042");
    assert_eq!(u["manager"]["user_id"], boss);
    assert_eq!(u["manager"]["display_name"], "Maria Boss");
    let groups: Vec<&str> = u["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g["display_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(groups, ["Alpha", "Zeta"]);
    let history: Vec<&str> = u["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(history, ["scim.user.deactivated", "scim.user.created"]);
    assert_eq!(u["history"][0]["actor_display"], "directory Okta");
    assert_eq!(u["history"][0]["details"]["via"], "PATCH");

    let (status, _) = srv
        .call(&owner, "directory/users/get", &[("id", "u_missing")])
        .await;
    assert_eq!(status, 404);
    srv.stop().await;
    Ok(())
}

/// A group's members come a page at a time, provisioned users first; ids
/// the IdP listed that are not users are marked not provisioned and not
/// counted as members in the list.
#[tokio::test]
async fn directory_group_detail_pages_members_and_marks_unprovisioned() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (_, token, base) = create_directory(&srv, &owner, "Okta").await;
    let mut members = Vec::new();
    for n in ["e", "d", "c", "b", "a"] {
        let id = provision_user(&base, &token, user(&format!("{n}@corp.example"), None)).await;
        members.push(json!({ "value": id }));
    }
    members.push(json!({ "value": "00u-not-yet", "display": "Pending Person" }));
    let (status, group) = scim(
        &base,
        &token,
        reqwest::Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": members,
        })),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = scim(
        &base,
        &token,
        reqwest::Method::POST,
        "/Groups",
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Finance" })),
    )
    .await;
    assert_eq!(status, 201);

    let (status, page) = srv
        .call(
            &owner,
            "directory/groups/list",
            &[("q[sort]", "members"), ("q[dir]", "desc")],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["display_name"], "Engineering");
    assert_eq!(page["items"][0]["members"], 5);
    assert_eq!(page["items"][1]["members"], 0);
    let (_, page) = srv
        .call(&owner, "directory/groups/list", &[("q[search]", "FIN")])
        .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["display_name"], "Finance");

    let (status, g) = srv
        .call(
            &owner,
            "directory/groups/get",
            &[("id", &gid), ("member_offset", "0"), ("member_limit", "2")],
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["display_name"], "Engineering");
    assert_eq!(g["provisioned_members"], 5);
    assert_eq!(g["members"]["total"], 6);
    let names = |g: &Value| -> Vec<String> {
        g["members"]["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        m["user_name"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("? {}", m["id"].as_str().unwrap_or("")))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&g), ["a@corp.example", "b@corp.example"]);
    let (_, g) = srv
        .call(
            &owner,
            "directory/groups/get",
            &[("id", &gid), ("member_offset", "4"), ("member_limit", "2")],
        )
        .await;
    assert_eq!(names(&g), ["e@corp.example", "? 00u-not-yet"]);
    assert_eq!(g["members"]["items"][1]["provisioned"], false);
    assert_eq!(g["members"]["items"][1]["display_name"], "Pending Person");
    assert_eq!(g["members"]["items"][0]["provisioned"], true);
    assert_eq!(g["history"][0]["action"], "scim.group.created");
    srv.stop().await;
    Ok(())
}

/// An auditor sees directories, people and groups, but creating a
/// directory and rotating or revoking tokens answer 403 and change nothing.
#[tokio::test]
async fn directory_auditor_reads_but_cannot_manage_tokens() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (id, token, base) = create_directory(&srv, &owner, "Okta").await;
    provision_user(&base, &token, user("ann@corp.example", None)).await;
    let auditor = auditor_client(&srv, &owner).await;

    let (status, list) = srv.call(&auditor, "directory/directories/list", &[]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["users"], 1);
    let (status, detail) = srv
        .call(&auditor, "directory/directories/get", &[("id", &id)])
        .await;
    assert_eq!(status, 200);
    let token_id = detail["tokens"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, page) = list_users(&srv, &auditor, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    let (status, body) = srv
        .call(&auditor, "directory/groups/list", &[("q[search]", "")])
        .await;
    assert_eq!(status, 200, "{body}");

    let before = crate::harness::audit_count(&srv.db.url).await;
    let (status, body) = srv
        .call(
            &auditor,
            "directory/directories/create",
            &[("name", "Entra")],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("auditor"),
        "{body}"
    );
    let (status, _) = srv
        .call(
            &auditor,
            "directory/tokens/rotate",
            &[("directory_id", &id), ("overlap_hours", "24")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = srv
        .call(
            &auditor,
            "directory/tokens/revoke",
            &[("directory_id", &id), ("token_id", &token_id)],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(crate::harness::audit_count(&srv.db.url).await, before);
    // The token still works.
    let (status, _) = scim(&base, &token, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 200);
    srv.stop().await;
    Ok(())
}

/// After a rotation both tokens work (the old one until its overlap ends);
/// a revoked token gets 401 at once while the new one keeps working. Failed
/// requests show up in the directory's detail.
#[tokio::test]
async fn directory_rotate_keeps_old_token_during_overlap_and_revoke_ends_it() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (id, old, base) = create_directory(&srv, &owner, "Okta").await;
    let (status, rotated) = srv
        .call(
            &owner,
            "directory/tokens/rotate",
            &[("directory_id", &id), ("overlap_hours", "24")],
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["token"].as_str().unwrap_or_default().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["base_url"], base);
    for t in [&old, &new] {
        let (status, body) = scim(&base, t, reqwest::Method::GET, "/Users", None).await;
        assert_eq!(status, 200, "{body}");
    }

    let (_, detail) = srv
        .call(&owner, "directory/directories/get", &[("id", &id)])
        .await;
    let tokens = detail["tokens"].as_array().cloned().unwrap_or_default();
    assert_eq!(tokens.len(), 2);
    let old_row = tokens
        .iter()
        .find(|t| t["hint"] == old[old.len() - 4..])
        .cloned()
        .unwrap_or_default();
    assert!(old_row["expires_at"].is_string(), "{old_row}");
    assert!(old_row["revoked_at"].is_null());
    assert_eq!(detail["summary"]["active_tokens"], 2);

    let old_id = old_row["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = srv
        .call(
            &owner,
            "directory/tokens/revoke",
            &[("directory_id", &id), ("token_id", &old_id)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = scim(&base, &old, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 401);
    let (status, _) = scim(&base, &new, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 200);
    // Revoking twice finds no active token.
    let (status, _) = srv
        .call(
            &owner,
            "directory/tokens/revoke",
            &[("directory_id", &id), ("token_id", &old_id)],
        )
        .await;
    assert_eq!(status, 404);

    // A refused request of the directory is kept for debugging.
    let (status, _) = scim(
        &base,
        &new,
        reqwest::Method::POST,
        "/Users",
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"] })),
    )
    .await;
    assert_eq!(status, 400);
    let (_, detail) = srv
        .call(&owner, "directory/directories/get", &[("id", &id)])
        .await;
    assert_eq!(detail["recent_errors"][0]["method"], "POST");
    assert_eq!(detail["recent_errors"][0]["status"], 400);
    assert_eq!(detail["recent_errors"][0]["scim_type"], "invalidValue");
    assert!(detail["summary"]["errors_24h"].as_i64().unwrap_or(0) >= 1);
    let actions: Vec<String> = crate::harness::audit_rows(&srv.db.url, "directory.")
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(
        actions,
        [
            "directory.created",
            "directory.token.rotated",
            "directory.token.revoked"
        ]
    );
    srv.stop().await;
    Ok(())
}
