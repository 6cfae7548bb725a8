//! The Audit log page and its server function.

use crate::harness::{TestResult, TestServer};

/// The Audit log page lists events newest first and filters by action through the URL.
#[tokio::test]
async fn audit_page_lists_and_filters_events() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client("correct horse battery staple").await;
    let _ = srv
        .call(
            &srv.client(),
            "sign_in",
            &[("email", "owner@test.example"), ("password", "nope")],
        )
        .await;
    let html = owner.get(srv.url("/audit")).send().await?.text().await?;
    let failed = html.find("console.signin.failed").unwrap_or(usize::MAX);
    let created = html.find("console.owner.created").unwrap_or(usize::MAX);
    assert!(failed < created, "newest first");
    let html = owner
        .get(srv.url("/audit?action=console.owner"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("console.owner.created"));
    assert!(!html.contains("console.signin.failed"));
    assert!(
        crate::harness::text_of(&html).contains("Showing 1–2 of 2"),
        "pager text"
    );
    Ok(())
}

/// The list server function caps the page size and reports the total.
#[tokio::test]
async fn audit_list_caps_page_size() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client("correct horse battery staple").await;
    let (status, page) = srv
        .call(
            &owner,
            "audit/list",
            &[
                ("q[action]", ""),
                ("q[actor]", ""),
                ("q[offset]", "0"),
                ("q[limit]", "100000"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["limit"], 200);
    // The owner's link and set-up, the first bundle signing key and the
    // first access-token signing key.
    assert_eq!(page["total"], 4);
    assert_eq!(page["items"][0]["action"], "console.owner.setup_completed");
    assert_eq!(page["items"][0]["outcome"], "success");
    assert_eq!(page["items"][0]["hash"].as_str().map(str::len), Some(64));
    srv.stop().await;
    Ok(())
}
