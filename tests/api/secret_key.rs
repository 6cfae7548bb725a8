//! `portcullis secret-key rotate` on both backends: every stored secret
//! (signing keys, an OIDC client secret, an SSO sign-in in flight) opens
//! with the new key alone afterwards and with the old key no longer; a
//! console restarts on the new key; the rotation is audited; a key given in
//! the environment is refused with instructions, changing nothing.

use clap::Parser;
use portcullis::cli::{run, Cli};
use portcullis_domain::secrets::SecretBox;

use crate::harness::{audit_rows, backend_tests, test_config, TestDb, TestResult, TestServer};

/// Runs `sql` returning (id, sealed value) pairs, or executes it.
async fn rows(url: &str, sql: &str) -> Vec<(String, String)> {
    let db = portcullis_domain::Db::connect(url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let r = match &db {
        portcullis_domain::Db::Sqlite(p, _) => sqlx::query_as(sql).fetch_all(p).await,
        portcullis_domain::Db::Postgres(p, _) => sqlx::query_as(sql).fetch_all(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await;
    r
}

async fn execute(url: &str, sql: &str) {
    let db = portcullis_domain::Db::connect(url, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    portcullis_domain::db::exec_dyn(db.write(), sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await;
}

/// Every sealed value with the purpose it was sealed for.
async fn sealed(url: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kid, v) in rows(url, "SELECT kid, private_key FROM signing_keys").await {
        out.push((format!("signing_key:{kid}"), v));
    }
    for (id, v) in rows(
        url,
        "SELECT id, client_secret FROM sso_connections WHERE client_secret IS NOT NULL",
    )
    .await
    {
        out.push((format!("sso_client_secret:{id}"), v));
    }
    for (_, v) in rows(
        url,
        "SELECT id_hash, pkce_verifier FROM sso_requests WHERE pkce_verifier IS NOT NULL",
    )
    .await
    {
        out.push(("sso_pkce".to_owned(), v));
    }
    for (id, v) in rows(
        url,
        "SELECT id, secret_sealed FROM audit_sinks WHERE secret_sealed IS NOT NULL",
    )
    .await
    {
        out.push((format!("audit_sink:{id}"), v));
    }
    out
}

fn key_in(path: &std::path::Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    SecretBox::parse_key(&text).unwrap_or_else(|e| panic!("{e}"))
}

async fn secret_key_rotation_reseals_every_stored_secret(db: &TestDb) -> TestResult {
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("secret.key");
    let key_path = key_file.to_string_lossy().into_owned();
    let from_file = [
        ("PORTCULLIS_SECRET_KEY", ""),
        ("PORTCULLIS_SECRET_KEY_FILE", key_path.as_str()),
    ];
    // A console starts: the key file is made, the signing keys sealed.
    TestServer::start_on(db.alias(), &from_file)
        .await
        .stop()
        .await;
    let old = key_in(&key_file);
    let old_box = SecretBox::new(&old);
    // An OIDC client secret and an SSO sign-in in flight, sealed as the
    // console seals them.
    execute(
        &db.url,
        &format!(
            "INSERT INTO sso_connections (id, slug, name, kind, enabled, config, client_secret, \
             created_at, updated_at, created_by) VALUES ('sso_rot', 'rot', 'Rot', 'oidc', FALSE, '{{}}', \
             '{}', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 'test')",
            old_box.seal("sso_client_secret:sso_rot", b"client-s3cret")?
        ),
    )
    .await;
    execute(
        &db.url,
        &format!(
            "INSERT INTO sso_requests (id_hash, connection_id, purpose, browser_hash, pkce_verifier, \
             next_path, created_at, expires_at) VALUES ('req_rot', 'sso_rot', 'signin', 'b', '{}', '/', \
             '2026-12-01T00:00:00Z', '2026-12-01T00:10:00Z')",
            old_box.seal("sso_pkce", b"pkce-verifier")?
        ),
    )
    .await;
    // An audit streaming destination's webhook key.
    execute(
        &db.url,
        &format!(
            "INSERT INTO audit_sinks (id, name, kind, url, secret_sealed, enabled, created_by, \
             created_at, cursor_seq) VALUES ('sink_rot', 'SIEM', 'webhook', 'https://siem.example/in', \
             '{}', TRUE, 'test', '2026-12-01T00:00:00Z', 0)",
            old_box.seal("audit_sink:sink_rot", b"webhook-hmac-key-0123456789")?
        ),
    )
    .await;
    let before = sealed(&db.url).await;
    assert_eq!(
        before.len(),
        5,
        "two signing keys, a client secret, a verifier, a sink's key: {before:?}"
    );

    let code = run(
        Cli::parse_from(["portcullis", "secret-key", "rotate", "--grace-hours", "2"]),
        test_config(db, &from_file),
    )
    .await?;
    assert_eq!(code, 0);
    let new = key_in(&key_file);
    assert_ne!(new, old, "a new key is in the key file");
    let previous = std::fs::read_to_string(dir.path().join("secret.key.previous"))?;
    assert!(
        previous.contains(&base64_of(&old)),
        "the old key is kept for its grace period"
    );

    let after = sealed(&db.url).await;
    assert_eq!(after.len(), before.len());
    let (new_box, old_box) = (SecretBox::new(&new), SecretBox::new(&old));
    for (purpose, value) in &after {
        assert!(
            new_box.open(purpose, value).is_ok(),
            "{purpose} opens with the new key alone"
        );
        assert!(
            old_box.open(purpose, value).is_err(),
            "{purpose} no longer opens with the old key"
        );
    }
    assert_eq!(
        new_box.open("sso_client_secret:sso_rot", &after[2].1)?,
        b"client-s3cret"
    );
    let events = audit_rows(&db.url, "console.secret_key.resealed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2, "portcullis secret-key rotate");

    // A console starts on the new key file alone (the signing keys open:
    // the first bundle is signed before it serves).
    std::fs::remove_file(dir.path().join("secret.key.previous"))?;
    let srv = TestServer::start_on(db.alias(), &from_file).await;
    let jwks = srv
        .client()
        .get(srv.url("/.well-known/jwks.json"))
        .send()
        .await?;
    assert_eq!(jwks.status(), 200);
    srv.stop().await;

    // With the key in the environment the command cannot change it: it
    // says what to do instead, and nothing changes.
    let code = run(
        Cli::parse_from(["portcullis", "secret-key", "rotate"]),
        test_config(db, &[]),
    )
    .await?;
    assert_eq!(code, 2);
    assert_eq!(sealed(&db.url).await, after);
    assert_eq!(key_in(&key_file), new);
    Ok(())
}

fn base64_of(key: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

backend_tests!(secret_key_rotation_reseals_every_stored_secret,);
