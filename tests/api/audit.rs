//! The Audit log page and its server function.

use crate::harness::{audit_actions, TestResult, TestServer};

/// The Audit log page lists events newest first and filters by action
/// through the URL; the filtered view is a search, and audited.
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
    assert_eq!(html.matches("data-testid=\"audit-row\"").count(), 2);
    let text = crate::harness::text_of(&html);
    assert!(text.contains("Newest first"), "keyset pager: {text}");
    assert!(text.contains("Events over time"), "timeline: {text}");
    let searched = audit_actions(&srv.db.url, "audit.searched").await;
    assert_eq!(searched.len(), 1, "the filtered view is audited once");
    Ok(())
}

/// The explorer's server function caps the page size and pages by keyset.
#[tokio::test]
async fn audit_list_caps_page_size() -> TestResult {
    let srv = TestServer::start().await;
    let owner = srv.owner_client("correct horse battery staple").await;
    let (status, page) = srv
        .call(
            &owner,
            "audit/explore",
            &[("q[action]", ""), ("q[limit]", "100000")],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    // The owner's link and set-up, the first bundle signing key and the
    // first access-token signing key: one page, nothing either side.
    assert_eq!(page["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        (&page["older"], &page["newer"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert_eq!(page["items"][0]["action"], "console.owner.setup_completed");
    assert_eq!(page["items"][0]["outcome"], "success");
    assert_eq!(page["items"][0]["hash"].as_str().map(str::len), Some(64));
    srv.stop().await;
    Ok(())
}
