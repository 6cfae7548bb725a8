//! SCIM 2.0 over real HTTP: authentication, filters, paging, sorting, ETags,
//! uniqueness, and the request bodies Okta and Entra ID send.

use crate::harness::{audit_rows, TestDb, TestResult, TestServer};
use portcullis_domain::Actor;
use portcullis_types::{DirectoryId, ScimTokenId};
use serde_json::{json, Value};

/// A console with one directory; returns the server and the directory's token.
async fn with_directory(db: TestDb) -> (TestServer, String) {
    let srv = TestServer::start_on(db, &[]).await;
    let token = srv
        .running
        .services
        .directory
        .create_directory(&Actor::system("test"), "Okta")
        .await
        .unwrap_or_else(|e| panic!("create directory: {e}"))
        .token;
    (srv, token)
}

struct Scim<'a> {
    srv: &'a TestServer,
    token: String,
    http: reqwest::Client,
}

impl<'a> Scim<'a> {
    fn new(srv: &'a TestServer, token: &str) -> Self {
        Self {
            srv,
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method, self.srv.url(&format!("/scim/v2{path}")))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/scim+json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b, _) = self.send(reqwest::Method::GET, path, None, &[]).await;
        (s, b)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = self
            .send(reqwest::Method::POST, path, Some(body), &[])
            .await;
        (s, b)
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, b, _) = self
            .send(reqwest::Method::PATCH, path, Some(body), &[])
            .await;
        (s, b)
    }

    async fn user(&self, user_name: &str, extra: Value) -> String {
        let mut body = json!({ "schemas": [portcullis_scim::USER_SCHEMA], "userName": user_name });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, v) = self.post("/Users", body).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap_or_default().to_owned()
    }

    /// userNames of `GET /Users?filter=…`.
    async fn names(&self, query: &str) -> Vec<String> {
        let (status, v) = self.get(&format!("/Users?{query}")).await;
        assert_eq!(status, 200, "{query}: {v}");
        v["Resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["userName"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Missing, wrong and revoked tokens get 401 with a SCIM error body; tokens are stored hashed.
#[tokio::test]
async fn scim_auth_missing_wrong_or_revoked_token_returns_401() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let http = reqwest::Client::new();
    let url = srv.url("/scim/v2/Users");
    for auth in [
        None,
        Some("Bearer nope".to_owned()),
        Some(format!("Basic {token}")),
    ] {
        let mut req = http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await?;
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
        assert!(res.headers()["content-type"]
            .to_str()?
            .starts_with("application/scim+json"));
        let body: Value = res.json().await?;
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(body["status"], "401");
    }
    let ok = http.get(&url).bearer_auth(&token).send().await?;
    assert_eq!(ok.status(), 200);
    // The token is not stored in clear.
    let stored: Vec<(String,)> = match srv.running.services.db() {
        portcullis_domain::Db::Sqlite(p, _) => {
            sqlx::query_as("SELECT token_hash FROM scim_tokens")
                .fetch_all(p)
                .await?
        }
        portcullis_domain::Db::Postgres(p, _) => {
            sqlx::query_as("SELECT token_hash FROM scim_tokens")
                .fetch_all(p)
                .await?
        }
    };
    assert!(stored.iter().all(|(h,)| h != &token && h.len() == 64));
    // Revoke → 401.
    let detail = srv
        .running
        .services
        .directory
        .list_directories(&Actor::system("t"))
        .await?;
    let dir = srv
        .running
        .services
        .directory
        .get_directory(&Actor::system("t"), &DirectoryId::from(&detail[0].id))
        .await?;
    srv.running
        .services
        .directory
        .revoke_token(
            &Actor::system("t"),
            &DirectoryId::from(&detail[0].id),
            &ScimTokenId::from(&dir.tokens[0].id),
        )
        .await?;
    assert_eq!(
        http.get(&url).bearer_auth(&token).send().await?.status(),
        401
    );
    srv.stop().await;
    Ok(())
}

/// Rotation keeps the old token working during the overlap; a zero overlap ends it at once.
#[tokio::test]
async fn scim_token_rotation_overlap() -> TestResult {
    let (srv, old) = with_directory(TestDb::sqlite()).await;
    let sys = Actor::system("t");
    let dir = srv
        .running
        .services
        .directory
        .list_directories(&sys)
        .await?[0]
        .id
        .clone();
    let new = srv
        .running
        .services
        .directory
        .rotate_token(&sys, &DirectoryId::from(&dir), 24)
        .await?
        .token;
    let http = reqwest::Client::new();
    let url = srv.url("/scim/v2/Users");
    assert_eq!(http.get(&url).bearer_auth(&old).send().await?.status(), 200);
    assert_eq!(http.get(&url).bearer_auth(&new).send().await?.status(), 200);
    let newest = srv
        .running
        .services
        .directory
        .rotate_token(&sys, &DirectoryId::from(&dir), 0)
        .await?
        .token;
    assert_eq!(http.get(&url).bearer_auth(&old).send().await?.status(), 401);
    assert_eq!(http.get(&url).bearer_auth(&new).send().await?.status(), 401);
    assert_eq!(
        http.get(&url).bearer_auth(&newest).send().await?.status(),
        200
    );
    let rotated = audit_rows(&srv.db.url, "directory.token.rotated").await;
    assert_eq!(rotated.len(), 2);
    assert!(
        rotated.iter().all(|e| !format!("{e:?}").contains(&newest)),
        "no token in the audit log"
    );
    srv.stop().await;
    Ok(())
}

/// Revoking a token checks the role first (an auditor is refused even for
/// an unknown token), then that the token is an active one of the named
/// directory: another directory's token is not found and keeps working.
#[tokio::test]
async fn scim_token_revoke_checks_role_then_directory() -> TestResult {
    use portcullis_domain::Error;
    let (srv, okta_token) = with_directory(TestDb::sqlite()).await;
    let sys = Actor::system("t");
    let svc = &srv.running.services;
    let entra = svc.directory.create_directory(&sys, "Entra").await?;
    let entra_id = DirectoryId::from(&entra.directory_id);
    let dirs = svc.directory.list_directories(&sys).await?;
    let okta_id = DirectoryId::from(&dirs.iter().find(|d| d.name == "Okta").ok_or("no Okta")?.id);
    let okta_token_id =
        ScimTokenId::from(&svc.directory.get_directory(&sys, &okta_id).await?.tokens[0].id);
    let auditor = Actor::console_user(
        &"usr_aud".into(),
        "aud@acme.test",
        Some(portcullis_types::Role::Auditor),
        crate::storage::meta("10.1.1.1"),
    );
    let unknown = ScimTokenId::from("tok_unknown");
    assert!(matches!(
        svc.directory
            .revoke_token(&auditor, &okta_id, &unknown)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        svc.directory.revoke_token(&sys, &okta_id, &unknown).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        svc.directory
            .revoke_token(&sys, &entra_id, &okta_token_id)
            .await,
        Err(Error::NotFound(_))
    ));
    let url = srv.url("/scim/v2/Users");
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&okta_token)
            .send()
            .await?
            .status(),
        200
    );
    svc.directory
        .revoke_token(&sys, &okta_id, &okta_token_id)
        .await?;
    assert_eq!(
        http.get(&url)
            .bearer_auth(&okta_token)
            .send()
            .await?
            .status(),
        401
    );
    assert_eq!(
        audit_rows(&srv.db.url, "directory.token.revoked")
            .await
            .len(),
        1
    );
    srv.stop().await;
    Ok(())
}

/// Directories stay apart: a group of one directory naming another
/// directory's user id is not that user's group, and deleting the user
/// leaves the other directory's group alone.
#[tokio::test]
async fn scim_directories_do_not_see_each_others_groups() -> TestResult {
    let (srv, okta_token) = with_directory(TestDb::sqlite()).await;
    let entra = srv
        .running
        .services
        .directory
        .create_directory(&Actor::system("t"), "Entra")
        .await?;
    let okta = Scim::new(&srv, &okta_token);
    let other = Scim::new(&srv, &entra.token);
    let ada = okta.user("ada@corp.example", json!({})).await;
    let (status, own) = okta
        .post(
            "/Groups",
            json!({"schemas": [portcullis_scim::GROUP_SCHEMA], "displayName": "Engineering",
                   "members": [{"value": ada}]}),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    let (status, foreign) = other
        .post(
            "/Groups",
            json!({"schemas": [portcullis_scim::GROUP_SCHEMA], "displayName": "Intruders",
                   "members": [{"value": ada}]}),
        )
        .await;
    assert_eq!(status, 201, "{foreign}");
    let (status, user) = okta.get(&format!("/Users/{ada}")).await;
    assert_eq!(status, 200, "{user}");
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["display"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(groups, ["Engineering"], "{user}");

    let (status, _, _) = okta
        .send(reqwest::Method::DELETE, &format!("/Users/{ada}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let foreign_id = foreign["id"].as_str().unwrap_or_default();
    let (status, group) = other.get(&format!("/Groups/{foreign_id}")).await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["members"][0]["value"], ada, "{group}");
    let own_id = own["id"].as_str().unwrap_or_default();
    let (_, group) = okta.get(&format!("/Groups/{own_id}")).await;
    assert!(
        group["members"].as_array().is_none_or(Vec::is_empty),
        "{group}"
    );
    srv.stop().await;
    Ok(())
}

/// A case-variant duplicate userName is 409 uniqueness; nothing is written.
#[tokio::test]
async fn scim_create_user_duplicate_username_case_variant_returns_409() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    scim.user("Alice@Example.com", json!({})).await;
    let (status, body) = scim
        .post("/Users", json!({ "userName": "alice@EXAMPLE.com" }))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    let (_, list) = scim.get("/Users").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(audit_rows(&srv.db.url, "scim.user.created").await.len(), 1);
    srv.stop().await;
    Ok(())
}

/// Every filter operator, precedence, value paths, and malformed filters → 400 invalidFilter.
#[tokio::test]
async fn scim_filters_each_operator_and_precedence() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    scim.user("ann@corp.example", json!({ "displayName": "Ann Archer", "emails": [{ "value": "ann@corp.example", "type": "work", "primary": true }], "externalId": "e1" })).await;
    scim.user("bob@corp.example", json!({ "displayName": "Bob Brown", "active": false, "emails": [{ "value": "bob@home.example", "type": "home" }], "externalId": "e2" })).await;
    scim.user(
        "cat@other.example",
        json!({ "displayName": "Cat Cole", "name": { "givenName": "Cat", "familyName": "Cole" } }),
    )
    .await;

    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "ANN@corp.example""#, &["ann@corp.example"]),
        (
            r#"userName ne "ann@corp.example""#,
            &["bob@corp.example", "cat@other.example"],
        ),
        (
            r#"userName co "corp""#,
            &["ann@corp.example", "bob@corp.example"],
        ),
        (r#"userName sw "b""#, &["bob@corp.example"]),
        (r#"userName ew "other.example""#, &["cat@other.example"]),
        ("name.givenName pr", &["cat@other.example"]),
        (r#"displayName gt "Bob Brown""#, &["cat@other.example"]),
        (
            r#"displayName ge "Bob Brown""#,
            &["bob@corp.example", "cat@other.example"],
        ),
        (r#"displayName lt "Bob Brown""#, &["ann@corp.example"]),
        (
            r#"displayName le "Bob Brown""#,
            &["ann@corp.example", "bob@corp.example"],
        ),
        ("active eq false", &["bob@corp.example"]),
        (r#"externalId eq "e2""#, &["bob@corp.example"]),
        (r#"externalId eq "E2""#, &[]),
        (
            r#"emails[type eq "work" and value co "corp"]"#,
            &["ann@corp.example"],
        ),
        (r#"emails[type eq "home" and value co "corp"]"#, &[]),
        (r#"emails.value ew "home.example""#, &["bob@corp.example"]),
        (
            r#"userName sw "a" or userName sw "b" and active eq true"#,
            &["ann@corp.example"],
        ),
        (
            r#"(userName sw "a" or userName sw "b") and active eq false"#,
            &["bob@corp.example"],
        ),
        (r#"not (userName co "corp")"#, &["cat@other.example"]),
        (r#"userName eq "x' OR 1=1 --""#, &[]),
        (
            r#"meta.lastModified gt "2000-01-01T00:00:00Z""#,
            &["ann@corp.example", "bob@corp.example", "cat@other.example"],
        ),
        (r#"meta.created lt "2000-01-01T00:00:00+02:00""#, &[]),
    ];
    for (filter, expected) in cases {
        let mut got = scim.names(&format!("filter={}", enc(filter))).await;
        got.sort();
        assert_eq!(&got, expected, "filter {filter}");
    }
    for bad in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "active gt true",
        "nosuch eq \"a\"",
        &"(".repeat(40),
    ] {
        let (status, body) = scim.get(&format!("/Users?filter={}", enc(bad))).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["scimType"], "invalidFilter", "{bad}");
    }
    srv.stop().await;
    Ok(())
}

/// startIndex/count paginate with a cap; sortBy/sortOrder sort; .search works like GET.
#[tokio::test]
async fn scim_pagination_sorting_and_search() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    for i in 0..7 {
        scim.user(
            &format!("u{i}@x.example"),
            json!({ "displayName": format!("User {}", 6 - i) }),
        )
        .await;
    }
    let (_, page) = scim
        .get("/Users?startIndex=3&count=2&sortBy=userName")
        .await;
    assert_eq!(
        (
            page["totalResults"].as_i64(),
            page["startIndex"].as_i64(),
            page["itemsPerPage"].as_i64()
        ),
        (Some(7), Some(3), Some(2))
    );
    assert_eq!(page["Resources"][0]["userName"], "u2@x.example");
    assert_eq!(page["Resources"][1]["userName"], "u3@x.example");
    let names = scim
        .names("sortBy=displayName&sortOrder=descending&count=3")
        .await;
    assert_eq!(names, ["u0@x.example", "u1@x.example", "u2@x.example"]);
    let (_, capped) = scim.get("/Users?count=100000").await;
    assert_eq!(capped["Resources"].as_array().map(Vec::len), Some(7));
    let (_, zero) = scim.get("/Users?count=0").await;
    assert_eq!(
        (
            zero["totalResults"].as_i64(),
            zero["Resources"].as_array().map(Vec::len).unwrap_or(0)
        ),
        (Some(7), 0)
    );
    let (status, found) = scim
        .post("/Users/.search", json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"u4@x.example\"", "attributes": ["userName"] }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "u4@x.example");
    assert!(
        found["Resources"][0].get("displayName").is_none(),
        "attributes projection"
    );
    let (status, body) = scim.get("/Users?sortBy=password").await;
    assert_eq!(status, 400, "{body}");
    srv.stop().await;
    Ok(())
}

/// meta.version is the ETag; If-Match with a stale version is 412 and changes nothing.
#[tokio::test]
async fn scim_etag_if_match_mismatch_returns_412() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    let id = scim
        .user("etag@x.example", json!({ "displayName": "Before" }))
        .await;
    let (status, v, headers) = scim
        .send(reqwest::Method::GET, &format!("/Users/{id}"), None, &[])
        .await;
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str()?.to_owned();
    assert_eq!(v["meta"]["version"], etag.as_str());
    let body = json!({ "userName": "etag@x.example", "displayName": "After" });
    let (status, v, h2) = scim
        .send(
            reqwest::Method::PUT,
            &format!("/Users/{id}"),
            Some(body.clone()),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(h2["etag"].to_str()?, etag);
    let (status, v, _) = scim
        .send(
            reqwest::Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({ "userName": "etag@x.example", "displayName": "Stale" })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 412, "{v}");
    let (_, now) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(now["displayName"], "After");
    srv.stop().await;
    Ok(())
}

/// Okta: lookup by userName eq, full PUT updates, deactivation by PATCH active=false.
#[tokio::test]
async fn scim_okta_dialect_put_and_deactivate() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    let (_, none) = scim
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc(r#"userName eq "dana@okta.example""#)
        ))
        .await;
    assert_eq!(none["totalResults"], 0);
    let okta_user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "dana@okta.example",
        "name": { "givenName": "Dana", "familyName": "Scully" },
        "emails": [{ "primary": true, "value": "dana@okta.example", "type": "work" }],
        "displayName": "Dana Scully", "locale": "en-US", "externalId": "00u1abcd", "groups": [], "password": "never-stored-1!", "active": true
    });
    let (status, created) = scim.post("/Users", okta_user.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("password").is_none(), "password is write-only");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let mut put = okta_user.clone();
    put["id"] = json!(id);
    put["name"]["familyName"] = json!("Mulder");
    let (status, _, _) = scim
        .send(
            reqwest::Method::PUT,
            &format!("/Users/{id}"),
            Some(put),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, v) = scim
        .patch(&format!("/Users/{id}"), json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "replace", "value": { "active": false } }] }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["active"], false);
    assert_eq!(v["name"]["familyName"], "Mulder");
    let events = audit_rows(&srv.db.url, "scim.user.").await;
    let actions: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "scim.user.created",
            "scim.user.updated",
            "scim.user.deactivated"
        ]
    );
    assert!(
        events.iter().all(|e| e.2 == "directory Okta"),
        "the directory is the actor"
    );
    let all = audit_rows(&srv.db.url, "").await;
    assert!(
        all.iter()
            .all(|e| !format!("{e:?}").contains("never-stored")),
        "no password in the audit log"
    );
    srv.stop().await;
    Ok(())
}

/// Entra ID: capitalised ops, "False" as a string, member removal with a value list removes only those.
#[tokio::test]
async fn scim_entra_dialect_patch_and_member_removal() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    let a = scim
        .user(
            "a@entra.example",
            json!({ "emails": [{ "value": "a@entra.example", "type": "work" }] }),
        )
        .await;
    let b = scim.user("b@entra.example", json!({})).await;
    let c = scim.user("c@entra.example", json!({})).await;
    let (status, g) = scim
        .post("/Groups", json!({ "schemas": [portcullis_scim::GROUP_SCHEMA], "displayName": "Engineering", "externalId": "grp-1", "members": [] }))
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap_or_default().to_owned();
    let add = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        { "op": "Add", "path": "members", "value": [{ "value": a }, { "value": b }, { "value": c }] }
    ]});
    let (status, v) = scim.patch(&format!("/Groups/{gid}"), add).await;
    assert_eq!(status, 200, "{v}");
    let remove = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        { "op": "Remove", "path": "members", "value": [{ "value": b }] }
    ]});
    let (status, v) = scim.patch(&format!("/Groups/{gid}"), remove).await;
    assert_eq!(status, 200, "{v}");
    let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
    let mut members: Vec<&str> = g["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["value"].as_str()).collect())
        .unwrap_or_default();
    members.sort();
    let mut expected = vec![a.as_str(), c.as_str()];
    expected.sort();
    assert_eq!(members, expected, "only the listed member was removed");
    let (status, v) = scim
        .patch(&format!("/Users/{a}"), json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "a.new@entra.example" },
            { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D" }
        ]}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["active"], false);
    assert_eq!(v["emails"][0]["value"], "a.new@entra.example");
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "R&D"
    );
    let (_, found) = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"emails.value eq "a.new@entra.example""#)
        ))
        .await;
    assert_eq!(found["totalResults"], 1);
    srv.stop().await;
    Ok(())
}

/// Concurrent group PATCHes lose no member.
#[tokio::test]
async fn scim_concurrent_group_patches_lose_no_member() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(scim.user(&format!("m{i}@x.example"), json!({})).await);
    }
    let (_, g) = scim.post("/Groups", json!({ "displayName": "All" })).await;
    let gid = g["id"].as_str().unwrap_or_default().to_owned();
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let url = srv.url(&format!("/scim/v2/Groups/{gid}"));
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .patch(url)
                .bearer_auth(token)
                .json(&json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id }] }] }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await??, 200);
    }
    let (_, g) = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(20));
    srv.stop().await;
    Ok(())
}

/// Deactivating a person in the directory ends their console access; the audit log names the directory.
#[tokio::test]
async fn scim_deactivation_ends_console_access() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let owner = srv.owner_client("correct horse battery staple").await;
    let (status, link) = srv
        .call(
            &owner,
            "admins/invite",
            &[
                ("email", "eve@corp.example"),
                ("display_name", "Eve"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let eve = srv.client();
    let (status, _) = srv
        .call(
            &eve,
            "accept_link",
            &[
                (
                    "token",
                    &TestServer::token_of(link["path"].as_str().unwrap_or("")),
                ),
                ("display_name", "Eve"),
                ("password", "eve's long password"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let scim = Scim::new(&srv, &token);
    let id = scim
        .user(
            "eve@corp.example",
            json!({ "emails": [{ "value": "eve@corp.example", "primary": true }] }),
        )
        .await;
    let (status, _) = scim
        .patch(
            &format!("/Users/{id}"),
            json!({ "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = srv.call(&eve, "me", &[]).await;
    assert_eq!(status, 401, "sessions ended");
    let (status, _) = srv
        .call(
            &srv.client(),
            "sign_in",
            &[
                ("email", "eve@corp.example"),
                ("password", "eve's long password"),
            ],
        )
        .await;
    assert_eq!(status, 401, "cannot sign in again");
    let (_, page) = srv
        .call(&owner, "admins/list", &[("search", "eve"), ("offset", "0")])
        .await;
    assert_eq!(page["items"][0]["status"], "disabled");
    let disabled = audit_rows(&srv.db.url, "console.admin.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].2, "directory Okta");
    // DELETE hides the user from SCIM.
    let (status, _, _) = scim
        .send(reqwest::Method::DELETE, &format!("/Users/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.0, 404);
    srv.stop().await;
    Ok(())
}

/// Failed requests are kept for the directory's debugging view.
#[tokio::test]
async fn scim_failed_requests_are_recorded_for_the_directory() -> TestResult {
    let (srv, token) = with_directory(TestDb::sqlite()).await;
    let scim = Scim::new(&srv, &token);
    let (status, _) = scim
        .get(&format!("/Users?filter={}", enc("userName zz 1")))
        .await;
    assert_eq!(status, 400);
    let sys = Actor::system("t");
    let dir = srv
        .running
        .services
        .directory
        .list_directories(&sys)
        .await?;
    assert_eq!(dir[0].errors_24h, 1);
    let detail = srv
        .running
        .services
        .directory
        .get_directory(&sys, &DirectoryId::from(&dir[0].id))
        .await?;
    assert_eq!(detail.recent_errors[0].status, 400);
    assert_eq!(
        detail.recent_errors[0].scim_type.as_deref(),
        Some("invalidFilter")
    );
    srv.stop().await;
    Ok(())
}

/// The same SCIM flows on PostgreSQL: filters (incl. dates), groups, deactivation.
#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432; `make test` runs it when it answers"]
async fn scim_postgres_filters_groups_and_paging() -> TestResult {
    let (srv, token) = with_directory(TestDb::postgres().await).await;
    let scim = Scim::new(&srv, &token);
    let a = scim
        .user(
            "Ann@pg.example",
            json!({ "emails": [{ "value": "ann@pg.example", "type": "work" }] }),
        )
        .await;
    scim.user("bob@pg.example", json!({ "active": false }))
        .await;
    assert_eq!(
        scim.names(&format!(
            "filter={}",
            enc(r#"userName eq "ann@PG.example""#)
        ))
        .await,
        ["Ann@pg.example"]
    );
    assert_eq!(
        scim.names(&format!(
            "filter={}",
            enc(r#"emails[type eq "work" and value co "ann"]"#)
        ))
        .await,
        ["Ann@pg.example"]
    );
    assert_eq!(
        scim.names(&format!("filter={}", enc("active eq false")))
            .await,
        ["bob@pg.example"]
    );
    assert_eq!(
        scim.names(&format!(
            "filter={}",
            enc(r#"meta.lastModified gt "2000-01-01T00:00:00Z""#)
        ))
        .await
        .len(),
        2
    );
    let (status, body) = scim
        .post("/Users", json!({ "userName": "ann@pg.example" }))
        .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    let (status, g) = scim
        .post(
            "/Groups",
            json!({ "displayName": "PG", "members": [{ "value": a }] }),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let (_, groups) = scim
        .get(&format!(
            "/Groups?filter={}",
            enc(&format!("members.value eq \"{a}\""))
        ))
        .await;
    assert_eq!(groups["totalResults"], 1);
    srv.stop().await;
    Ok(())
}
