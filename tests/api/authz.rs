//! Cases issue 20 listed as implemented but untested: an admin (not an
//! owner) cannot reach owner-only actions, and a mutating server function
//! cannot be called with GET (a link or an `<img>` must not change state).
//! Each assertion fails without its protection.

use crate::console::invite_and_accept;
use crate::harness::{audit_rows, TestResult, TestServer};

const OWNER_PW: &str = "owner password 1234";

/// An admin gets 403 on every owner-only action, and nothing changes.
#[tokio::test]
async fn an_admin_cannot_reach_owner_only_actions() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (auditor_id, _) = invite_and_accept(&srv, &owner, "aud@test.example", "auditor").await;
    let (admin_id, admin) = invite_and_accept(&srv, &owner, "adm@test.example", "admin").await;
    let before = audit_rows(&srv.db.url, "console.admin.").await.len();
    for (endpoint, form) in [
        (
            "admins/invite",
            vec![
                ("email", "new@test.example"),
                ("display_name", ""),
                ("role", "owner"),
            ],
        ),
        (
            "admins/set_role",
            vec![("user_id", admin_id.as_str()), ("role", "owner")],
        ),
        (
            "admins/set_role",
            vec![("user_id", auditor_id.as_str()), ("role", "admin")],
        ),
        ("admins/disable", vec![("user_id", auditor_id.as_str())]),
        ("admins/enable", vec![("user_id", auditor_id.as_str())]),
        (
            "admins/revoke_sessions",
            vec![("user_id", auditor_id.as_str())],
        ),
        ("admins/list", vec![("search", ""), ("offset", "0")]),
    ] {
        let (status, body) = srv.call(&admin, endpoint, &form).await;
        assert_eq!(status, 403, "{endpoint}: {body}");
    }
    assert_eq!(
        audit_rows(&srv.db.url, "console.admin.").await.len(),
        before,
        "nothing changed"
    );
    // The admin is still an admin, the auditor still an auditor.
    let (status, page) = srv
        .call(&owner, "admins/list", &[("search", ""), ("offset", "0")])
        .await;
    assert_eq!(status, 200, "{page}");
    let role_of = |email: &str| {
        page["items"]
            .as_array()
            .and_then(|a| a.iter().find(|u| u["email"] == email))
            .map(|u| u["role"].clone())
    };
    assert_eq!(role_of("adm@test.example"), Some("admin".into()));
    assert_eq!(role_of("aud@test.example"), Some("auditor".into()));
    srv.stop().await;
    Ok(())
}

/// `GET /api/console/…` of a mutating server function is refused, even
/// with a valid session and from the same site, and nothing changes.
#[tokio::test]
async fn a_mutating_server_function_cannot_be_called_with_get() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client(OWNER_PW).await;
    let (status, id) = srv
        .call(
            &owner,
            "catalog/servers/create",
            &[
                ("name", "GitHub"),
                ("slug", "github"),
                ("resource_url", "https://mcp.example.com/github"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_str().unwrap_or_default().to_owned();
    let invited = audit_rows(&srv.db.url, "console.admin.invited").await.len();
    for url in [
        format!("/api/console/catalog/servers/delete?id={id}"),
        format!("/api/console/catalog/servers/enable?id={id}&enabled=false"),
        "/api/console/admins/invite?email=x%40test.example&display_name=&role=owner".to_owned(),
        "/api/console/sign_out".to_owned(),
    ] {
        let res = owner.get(srv.url(&url)).send().await?;
        let status = res.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "GET {url} must be refused: {status}"
        );
    }
    let (status, server) = srv
        .call(&owner, "catalog/servers/get", &[("id", "github")])
        .await;
    assert_eq!(
        status, 200,
        "the session still works, the server is still there: {server}"
    );
    assert_eq!(server["server"]["enabled"], true);
    assert_eq!(
        audit_rows(&srv.db.url, "console.admin.invited").await.len(),
        invited,
        "nobody was invited"
    );
    assert!(audit_rows(&srv.db.url, "catalog.server.deleted")
        .await
        .is_empty());
    srv.stop().await;
    Ok(())
}
