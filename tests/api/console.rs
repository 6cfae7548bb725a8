//! Console sign-in, sessions, roles and CSRF over real HTTP.

use crate::harness::{audit_rows, TestResult, TestServer};
use serde_json::Value;

const OWNER_PW: &str = "correct horse battery staple";

/// Invites `email` with `role` as the owner and accepts the invitation;
/// returns the new user's id and a signed-in client.
pub(crate) async fn invite_and_accept(
    srv: &TestServer,
    owner: &reqwest::Client,
    email: &str,
    role: &str,
) -> (String, reqwest::Client) {
    let (status, link) = srv
        .call(
            owner,
            "admins/invite",
            &[("email", email), ("display_name", ""), ("role", role)],
        )
        .await;
    assert_eq!(status, 200, "invite: {link}");
    let url = link["path"].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with(&srv.base), "invite link is absolute: {url}");
    let client = srv.client();
    let (status, body) = srv
        .call(
            &client,
            "accept_link",
            &[
                ("token", &TestServer::token_of(&url)),
                ("display_name", "Invitee"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(status, 200, "accept: {body}");
    (
        link["user_id"].as_str().unwrap_or_default().to_owned(),
        client,
    )
}

/// The first-owner link sets a password and signs in; `me` answers with the owner role.
#[tokio::test]
async fn console_owner_setup_link_signs_in_as_owner() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (status, me) = srv.call(&owner, "me", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "owner@test.example");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["display_name"], "Olive Owner");
    let events = audit_rows(&srv.db.url, "console.owner.").await;
    let actions: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        actions,
        ["console.owner.created", "console.owner.setup_completed"]
    );
    // The link is single-use.
    let (status, body) = srv
        .call(
            &srv.client(),
            "accept_link",
            &[
                (
                    "token",
                    &TestServer::token_of(srv.setup_link.as_deref().unwrap_or("")),
                ),
                ("display_name", ""),
                ("password", OWNER_PW),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "token");
    srv.stop().await;
    Ok(())
}

/// A short password is refused with the field named, and nothing changes.
#[tokio::test]
async fn console_setup_short_password_names_field() -> TestResult {
    let srv = TestServer::start().await;
    let link = srv.setup_link.clone().unwrap_or_default();
    let before = crate::harness::audit_count(&srv.db.url).await;
    let (status, body) = srv
        .call(
            &srv.client(),
            "accept_link",
            &[
                ("token", &TestServer::token_of(&link)),
                ("display_name", ""),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "invalid");
    assert_eq!(body["fields"][0]["field"], "password");
    assert_eq!(crate::harness::audit_count(&srv.db.url).await, before);
    // The link still works afterwards.
    let (status, _) = srv
        .call(
            &srv.client(),
            "accept_link",
            &[
                ("token", &TestServer::token_of(&link)),
                ("display_name", ""),
                ("password", OWNER_PW),
            ],
        )
        .await;
    assert_eq!(status, 200);
    srv.stop().await;
    Ok(())
}

/// Sign-in sets an HttpOnly, SameSite=Lax session cookie and redirects to `next`.
#[tokio::test]
async fn console_signin_sets_cookie_and_new_session_id() -> TestResult {
    let srv = TestServer::start().await;
    let _ = srv.owner_client(OWNER_PW).await;
    let client = srv.client();
    let res = client
        .post(srv.url("/api/console/sign_in"))
        .form(&[
            ("email", "Owner@Test.example"),
            ("password", OWNER_PW),
            ("next", "/audit"),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["location"], "/audit");
    let cookie = res.headers()["set-cookie"].to_str()?.to_owned();
    assert!(cookie.starts_with("portcullis_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    // A second sign-in gets a different session id.
    let res2 = srv
        .client()
        .post(srv.url("/api/console/sign_in"))
        .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
        .send()
        .await?;
    assert_ne!(res2.headers()["set-cookie"].to_str()?, cookie);
    // An open redirect through `next` is neutralised.
    let res3 = srv
        .client()
        .post(srv.url("/api/console/sign_in"))
        .form(&[
            ("email", "owner@test.example"),
            ("password", OWNER_PW),
            ("next", "//evil.example/x"),
        ])
        .send()
        .await?;
    assert_eq!(res3.headers()["location"], "/");
    srv.stop().await;
    Ok(())
}

/// Over https the cookie is `__Host-` prefixed and Secure, and HSTS is sent.
#[tokio::test]
async fn console_https_public_url_secures_cookie_and_hsts() -> TestResult {
    let srv = TestServer::start_on(
        crate::harness::TestDb::sqlite(),
        &[("PORTCULLIS_PUBLIC_URL", "https://console.example.com")],
    )
    .await;
    let client = srv.client();
    let link = srv.setup_link.clone().unwrap_or_default();
    assert!(
        link.starts_with("https://console.example.com/setup?token="),
        "{link}"
    );
    let res = client
        .post(srv.url("/api/console/accept_link"))
        .form(&[
            ("token", TestServer::token_of(&link).as_str()),
            ("display_name", ""),
            ("password", OWNER_PW),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str()?;
    assert!(cookie.starts_with("__Host-portcullis_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    srv.stop().await;
    Ok(())
}

/// A server function called with an argument missing or of the wrong type
/// gets 400 naming the argument (not a 500), and nothing runs.
#[tokio::test]
async fn console_server_function_bad_arguments_name_the_field() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (status, body) = srv.call(&owner, "admins/list", &[("offset", "0")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_arguments");
    assert_eq!(body["fields"][0]["field"], "search", "{body}");
    let (status, body) = srv
        .call(&owner, "admins/list", &[("search", ""), ("offset", "many")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_arguments");
    let before = crate::harness::audit_count(&srv.db.url).await;
    let (status, body) = srv
        .call(&owner, "admins/invite", &[("email", "x@test.example")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(crate::harness::audit_count(&srv.db.url).await, before);
    srv.stop().await;
    Ok(())
}

/// An auditor calling a mutating server function directly gets 403, and nothing changes.
#[tokio::test]
async fn console_auditor_direct_post_to_mutation_is_forbidden() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (_, auditor) = invite_and_accept(&srv, &owner, "audrey@test.example", "auditor").await;
    let (status, page) = srv
        .call(&owner, "admins/list", &[("search", ""), ("offset", "0")])
        .await;
    assert_eq!(status, 200);
    let owner_id = page["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "owner@test.example"))
        .map(|u| u["id"].clone());
    let owner_id = owner_id
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let before = crate::harness::audit_count(&srv.db.url).await;

    for (endpoint, form) in [
        (
            "admins/invite",
            vec![
                ("email", "mallory@test.example"),
                ("display_name", ""),
                ("role", "owner"),
            ],
        ),
        (
            "admins/set_role",
            vec![("user_id", owner_id.as_str()), ("role", "auditor")],
        ),
        ("admins/disable", vec![("user_id", owner_id.as_str())]),
        (
            "admins/revoke_sessions",
            vec![("user_id", owner_id.as_str())],
        ),
    ] {
        let (status, body) = srv.call(&auditor, endpoint, &form).await;
        assert_eq!(status, 403, "{endpoint}: {body}");
        assert_eq!(body["code"], "forbidden", "{endpoint}");
    }
    // Reading the admin list is owner-only too.
    let (status, _) = srv
        .call(&auditor, "admins/list", &[("search", ""), ("offset", "0")])
        .await;
    assert_eq!(status, 403);
    // Nothing changed: no new audit event, no new user, owner still owner.
    assert_eq!(crate::harness::audit_count(&srv.db.url).await, before);
    let (_, page) = srv
        .call(&owner, "admins/list", &[("search", ""), ("offset", "0")])
        .await;
    assert_eq!(page["total"], 2);
    let (_, me) = srv.call(&owner, "me", &[]).await;
    assert_eq!(me["role"], "owner");
    // The auditor may read the audit log.
    let (status, events) = srv
        .call(
            &auditor,
            "audit/explore",
            &[("q[action]", ""), ("q[limit]", "10")],
        )
        .await;
    assert_eq!(status, 200, "{events}");
    assert!(
        events["items"].as_array().map_or(0, Vec::len) >= 4,
        "{events}"
    );
    srv.stop().await;
    Ok(())
}

/// Anonymous calls to console server functions get 401.
#[tokio::test]
async fn console_anonymous_server_function_is_unauthenticated() -> TestResult {
    let srv = TestServer::start().await;
    let (status, body) = srv
        .call(
            &srv.client(),
            "admins/list",
            &[("search", ""), ("offset", "0")],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthenticated");
    let (status, _) = srv.call(&srv.client(), "overview", &[]).await;
    assert_eq!(status, 401);
    srv.stop().await;
    Ok(())
}

/// A cross-site POST (by Sec-Fetch-Site or by Origin) is refused before it changes anything.
#[tokio::test]
async fn console_cross_site_post_is_refused() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let before = crate::harness::audit_count(&srv.db.url).await;
    let form = [
        ("email", "csrf@test.example"),
        ("display_name", ""),
        ("role", "owner"),
    ];
    let cross_fetch = owner
        .post(srv.url("/api/console/admins/invite"))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await?;
    assert_eq!(cross_fetch.status(), 403);
    let body: Value = cross_fetch.json().await?;
    assert_eq!(body["code"], "cross_site_refused");
    // Without Sec-Fetch-Site, a foreign Origin is refused.
    let plain = reqwest::Client::builder().cookie_store(true).build()?;
    let cross_origin = plain
        .post(srv.url("/api/console/sign_in"))
        .header("origin", "https://evil.example")
        .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
        .send()
        .await?;
    assert_eq!(cross_origin.status(), 403);
    assert!(cross_origin.headers().get("set-cookie").is_none());
    assert_eq!(crate::harness::audit_count(&srv.db.url).await, before);
    // The same request from our own origin works.
    let same = plain
        .post(srv.url("/api/console/sign_in"))
        .header("origin", srv.base.as_str())
        .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
        .send()
        .await?;
    assert_eq!(same.status(), 200);
    srv.stop().await;
    Ok(())
}

/// Wrong passwords are throttled per account with a clear message, and every attempt is audited.
#[tokio::test]
async fn console_signin_wrong_passwords_throttled_and_audited() -> TestResult {
    let srv = TestServer::start().await;
    let _ = srv.owner_client(OWNER_PW).await;
    let client = srv.client();
    for i in 0..5 {
        let (status, body) = srv
            .call(
                &client,
                "sign_in",
                &[
                    ("email", "owner@test.example"),
                    ("password", &format!("wrong-{i}")),
                ],
            )
            .await;
        assert_eq!(status, 401, "attempt {i}: {body}");
        assert_eq!(body["code"], "unauthenticated");
        assert!(
            !body.to_string().contains("wrong-"),
            "the password is never echoed"
        );
    }
    // The sixth attempt, even with the right password, is refused as throttled.
    let res = client
        .post(srv.url("/api/console/sign_in"))
        .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
        .send()
        .await?;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.headers().get("set-cookie").is_none());
    let body: Value = res.json().await?;
    assert_eq!(body["code"], "rate_limited");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("Too many failed attempts"));
    let failed = audit_rows(&srv.db.url, "console.signin.failed").await;
    assert_eq!(failed.len(), 5);
    assert!(failed
        .iter()
        .all(|e| e.4 == "failure" && e.3.as_deref() == Some("owner@test.example")));
    let throttled = audit_rows(&srv.db.url, "console.signin.throttled").await;
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].4, "denied");
    // No secret reached the audit log.
    let all = audit_rows(&srv.db.url, "").await;
    assert!(all.iter().all(|e| !format!("{e:?}").contains("wrong-")));
    srv.stop().await;
    Ok(())
}

/// Invite → accept → role change → disable: each step works and appends exactly one chained event.
#[tokio::test]
async fn console_admin_lifecycle_each_step_one_audit_event() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let url = srv.db.url.clone();
    let count = || async { crate::harness::audit_count(&url).await };

    let n0 = count().await;
    let (status, link) = srv
        .call(
            &owner,
            "admins/invite",
            &[
                ("email", "Priya@Test.example"),
                ("display_name", "Priya"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["email"], "priya@test.example");
    assert_eq!(count().await, n0 + 1);
    // Inviting the same email again is a conflict naming the field.
    let (status, body) = srv
        .call(
            &owner,
            "admins/invite",
            &[
                ("email", "priya@test.example"),
                ("display_name", ""),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["fields"][0]["field"], "email");
    assert_eq!(count().await, n0 + 1);

    let priya = srv.client();
    let (status, _) = srv
        .call(
            &priya,
            "accept_link",
            &[
                (
                    "token",
                    &TestServer::token_of(link["path"].as_str().unwrap_or("")),
                ),
                ("display_name", "Priya Raman"),
                ("password", "priya's long password"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(count().await, n0 + 2);
    let (_, me) = srv.call(&priya, "me", &[]).await;
    assert_eq!(
        (me["role"].as_str(), me["display_name"].as_str()),
        (Some("admin"), Some("Priya Raman"))
    );

    let id = link["user_id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = srv
        .call(
            &owner,
            "admins/set_role",
            &[("user_id", &id), ("role", "auditor")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(count().await, n0 + 3);
    // The role change ended Priya's session: she signs in again with the new role.
    let (status, _) = srv.call(&priya, "me", &[]).await;
    assert_eq!(status, 401);
    let priya = srv.client();
    let (status, _) = srv
        .call(
            &priya,
            "sign_in",
            &[
                ("email", "priya@test.example"),
                ("password", "priya's long password"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (_, me) = srv.call(&priya, "me", &[]).await;
    assert_eq!(me["role"], "auditor");
    let n_after_signin = count().await;

    let (status, _) = srv
        .call(&owner, "admins/disable", &[("user_id", &id)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(count().await, n_after_signin + 1);
    let (status, _) = srv.call(&priya, "me", &[]).await;
    assert_eq!(status, 401, "disable ends sessions");
    let (status, _) = srv
        .call(
            &srv.client(),
            "sign_in",
            &[
                ("email", "priya@test.example"),
                ("password", "priya's long password"),
            ],
        )
        .await;
    assert_eq!(status, 401, "a disabled account cannot sign in");

    let events = audit_rows(&url, "console.").await;
    let lifecycle: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter(|e| {
            e.3.as_deref() == Some("priya@test.example") && !e.1.starts_with("console.signin")
        })
        .map(|e| (e.1.as_str(), e.3.as_deref()))
        .collect();
    assert_eq!(
        lifecycle.iter().map(|e| e.0).collect::<Vec<_>>(),
        [
            "console.admin.invited",
            "console.invite.accepted",
            "console.admin.role_changed",
            "console.admin.disabled"
        ]
    );
    let report = srv
        .running
        .services
        .audit
        .verify(&portcullis_domain::Actor::system("test"))
        .await?;
    assert_eq!(report.first_bad_seq, None, "{report:?}");
    // Everything but the verification's own record, appended after it.
    assert_eq!(report.checked, count().await - 1);
    srv.stop().await;
    Ok(())
}

/// The last active owner cannot be demoted or disabled, and an owner cannot disable themselves.
#[tokio::test]
async fn console_last_owner_is_protected() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (_, me) = srv.call(&owner, "me", &[]).await;
    let id = me["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = srv
        .call(
            &owner,
            "admins/set_role",
            &[("user_id", &id), ("role", "admin")],
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("last active owner"));
    let (status, _) = srv
        .call(&owner, "admins/disable", &[("user_id", &id)])
        .await;
    assert_eq!(status, 409);
    let (_, me) = srv.call(&owner, "me", &[]).await;
    assert_eq!(me["role"], "owner");
    srv.stop().await;
    Ok(())
}

/// Sign-out deletes the session server-side: the old cookie no longer works.
#[tokio::test]
async fn console_logout_kills_session_server_side() -> TestResult {
    let srv = TestServer::start().await;
    let _ = srv.owner_client(OWNER_PW).await;
    let client = srv.client();
    let res = client
        .post(srv.url("/api/console/sign_in"))
        .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
        .send()
        .await?;
    let cookie = res.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    let page = |c: String| {
        let url = srv.url("/audit");
        async move {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?
                .get(url)
                .header("cookie", c)
                .send()
                .await
        }
    };
    assert_eq!(page(cookie.clone()).await?.status(), 200);
    let (status, _) = srv.call(&client, "sign_out", &[]).await;
    assert_eq!(status, 200);
    // Replaying the old cookie (as a thief would) gets the sign-in redirect.
    let res = page(cookie).await?;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login?next=%2Faudit");
    assert_eq!(audit_rows(&srv.db.url, "console.signout").await.len(), 1);
    srv.stop().await;
    Ok(())
}

/// Console pages redirect to sign-in when signed out; sign-in pages are public.
#[tokio::test]
async fn console_pages_require_session() -> TestResult {
    let srv = TestServer::start().await;
    let c = srv.client();
    let res = c.get(srv.url("/")).send().await?;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    let res = c.get(srv.url("/login")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csp = res.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    for part in [
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let html = res.text().await?;
    assert!(html.contains("Sign in"));
    // The hydration script carries the CSP nonce.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or("none");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "script nonce matches CSP"
    );
    srv.stop().await;
    Ok(())
}

/// Untrusted text (a display name with markup) is rendered as text, never as HTML.
#[tokio::test]
async fn console_display_name_markup_renders_as_text() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (status, _) = srv
        .call(
            &owner,
            "admins/invite",
            &[
                ("email", "x@test.example"),
                ("display_name", "<script>alert(1)</script>"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let html = owner
        .get(srv.url("/settings/admins"))
        .send()
        .await?
        .text()
        .await?;
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    srv.stop().await;
    Ok(())
}

/// Attempts made in parallel are counted before the password is checked:
/// 12 wrong passwords at once for one account get at most 5 password
/// checks (401), the rest 429; and a flood of refused attempts writes one
/// `console.signin.throttled` event per account and window, not one each.
#[tokio::test]
async fn console_signin_parallel_attempts_are_counted_first_and_refusals_audited_once() -> TestResult
{
    let srv = TestServer::start().await;
    let _ = srv.owner_client(OWNER_PW).await;
    let attempts = (0..12).map(|i| {
        let client = srv.client();
        let url = srv.url("/api/console/sign_in");
        async move {
            client
                .post(url)
                .form(&[
                    ("email", "owner@test.example"),
                    ("password", format!("wrong-{i}").as_str()),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 12, "{statuses:?}");
    assert!(checked <= 5, "at most 5 password checks: {statuses:?}");
    let failed = audit_rows(&srv.db.url, "console.signin.failed").await;
    assert_eq!(failed.len(), checked);
    // A refused attempt is not a failure, so a burst whose attempts mostly
    // saw each other (a loaded machine) may leave the account under its
    // limit: wrong passwords one at a time are checked until it is over.
    let mut more = 0;
    loop {
        let status = srv
            .client()
            .post(srv.url("/api/console/sign_in"))
            .form(&[("email", "owner@test.example"), ("password", "wrong")])
            .send()
            .await?
            .status()
            .as_u16();
        if status == 429 {
            break;
        }
        assert_eq!(status, 401);
        more += 1;
        assert!(checked + more <= 5, "at most 5 password checks in all");
    }
    // More refused attempts, the right password included: still one
    // throttled event for the account.
    for _ in 0..5 {
        let res = srv
            .client()
            .post(srv.url("/api/console/sign_in"))
            .form(&[("email", "owner@test.example"), ("password", OWNER_PW)])
            .send()
            .await?;
        assert_eq!(res.status(), 429);
    }
    let throttled = audit_rows(&srv.db.url, "console.signin.throttled").await;
    assert_eq!(throttled.len(), 1, "one event per account and window");
    let metrics = srv
        .client()
        .get(srv.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("console_signin_throttled_total"),
        "refusals are counted on /metrics"
    );
    srv.stop().await;
    Ok(())
}

/// A page's streamed body finishes while the console's routes are listed
/// (what building every router does) on another thread of the process.
/// Listing them renders the app with leptos_server's process-wide
/// "suppress resource loads" flag set; when each router listed them anew,
/// a page that created its resource in that moment (`/login`'s sign-in
/// options) sent its shell and never finished: a CI run hung on it, with
/// the tests' servers starting beside each other. Two runtime threads, so
/// renders and listings overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_finish_while_routes_are_listed() -> TestResult {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let srv = TestServer::start().await;
    let done = Arc::new(AtomicBool::new(false));
    let listing = tokio::task::spawn_blocking({
        let done = done.clone();
        move || {
            let mut listed = 0usize;
            while !done.load(Ordering::Relaxed) {
                let routes = portcullis::server::page_routes();
                assert!(routes.iter().any(|r| r.path() == "/login"));
                listed += 1;
            }
            listed
        }
    });
    let loads = Arc::new(AtomicUsize::new(0));
    let mut loaders = Vec::new();
    for _ in 0..2 {
        let (client, url, loads) = (srv.client(), srv.url("/login"), loads.clone());
        loaders.push(tokio::spawn(async move {
            for _ in 0..150 {
                let page = tokio::time::timeout(Duration::from_secs(10), async {
                    let res = client.get(&url).send().await?;
                    let status = res.status();
                    Ok::<_, reqwest::Error>((status, res.text().await?))
                })
                .await;
                let Ok(page) = page else {
                    panic!(
                        "GET /login did not finish in 10 s (after {} loads)",
                        loads.load(Ordering::Relaxed)
                    );
                };
                let (status, html) = page?;
                assert_eq!(status, 200);
                // The resolved sign-in form, not only the shell's placeholder.
                assert!(html.contains(r#"name="password""#), "{html}");
                loads.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, reqwest::Error>(())
        }));
    }
    let mut finished = Vec::new();
    for loader in loaders {
        finished.push(loader.await);
    }
    done.store(true, Ordering::Relaxed);
    let listed = listing.await?;
    for loader in finished {
        loader??;
    }
    assert_eq!(loads.load(Ordering::Relaxed), 300);
    assert!(listed > 0, "routes were listed meanwhile");
    srv.stop().await;
    Ok(())
}
