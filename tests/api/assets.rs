//! Static assets (#22): content-hashed names in every page, precompressed
//! variants chosen by `Accept-Encoding`, immutable caching for hashed files,
//! revalidation for the rest, and pages compressed on the fly.

use crate::harness::{TestDb, TestResult, TestServer};
use reqwest::header;
use std::io::Read;
use std::path::Path;

const JS: &str = "0123456789abcdef";
const WASM: &str = "fedcba9876543210";
const CSS: &str = "00112233aabbccdd";

/// A site as `scripts/build-site.sh` lays it out: hashed files, their `.br`
/// and `.gz` beside them (marked so a test can tell which was served), the
/// plain CSS copy, and `hash.txt`.
fn write_site(root: &Path) -> std::io::Result<()> {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg)?;
    for (ext, hash) in [("js", JS), ("wasm", WASM), ("css", CSS)] {
        let name = format!("portcullis.{hash}.{ext}");
        std::fs::write(pkg.join(&name), format!("identity {ext}"))?;
        std::fs::write(pkg.join(format!("{name}.br")), format!("brotli {ext}"))?;
        std::fs::write(pkg.join(format!("{name}.gz")), format!("gzip {ext}"))?;
    }
    std::fs::write(pkg.join("portcullis.css"), "plain css")?;
    std::fs::write(
        root.join("hash.txt"),
        format!("js: {JS}\nwasm: {WASM}\ncss: {CSS}\n"),
    )?;
    Ok(())
}

#[tokio::test]
async fn assets_are_hashed_precompressed_and_cached_for_good() -> TestResult {
    let site = tempfile::tempdir()?;
    write_site(site.path())?;
    let root = site.path().display().to_string();
    let srv = TestServer::start_on(TestDb::sqlite(), &[("PORTCULLIS_SITE_ROOT", &root)]).await;
    let c = srv.client();

    // A page names the hashed files and is never cached.
    let res = c.get(srv.url("/login")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let html = res.text().await?;
    for name in [
        format!("/pkg/portcullis.{CSS}.css"),
        format!("/pkg/portcullis.{JS}.js"),
        format!("/pkg/portcullis.{WASM}.wasm"),
    ] {
        assert!(html.contains(&name), "{name} not in the page");
    }
    assert!(
        !html.contains("/pkg/portcullis.css"),
        "the app links the hashed CSS"
    );

    // Each encoding the browser accepts, from the file built for it.
    let wasm = srv.url(&format!("/pkg/portcullis.{WASM}.wasm"));
    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), "brotli wasm"),
        ("gzip", Some("gzip"), "gzip wasm"),
        ("identity", None, "identity wasm"),
    ] {
        let res = c
            .get(&wasm)
            .header(header::ACCEPT_ENCODING, accept)
            .send()
            .await?;
        assert_eq!(res.status(), 200, "{accept}");
        let h = res.headers().clone();
        assert_eq!(
            h.get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap_or("?")),
            encoding,
            "{accept}"
        );
        assert_eq!(h[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(h[header::VARY], "accept-encoding");
        assert_eq!(res.text().await?, body, "{accept}");
    }

    // The plain CSS (linked by the server-rendered pages outside the app)
    // is revalidated: 304 while unchanged.
    let res = c.get(srv.url("/pkg/portcullis.css")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    let modified = res.headers()[header::LAST_MODIFIED].clone();
    assert_eq!(res.text().await?, "plain css");
    let res = c
        .get(srv.url("/pkg/portcullis.css"))
        .header(header::IF_MODIFIED_SINCE, modified)
        .send()
        .await?;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");

    // A missing asset is a plain 404, not cached.
    let res = c
        .get(srv.url("/pkg/portcullis.0000000000000000.wasm"))
        .send()
        .await?;
    assert_eq!(res.status(), 404);
    assert!(res.headers().get(header::CACHE_CONTROL).is_none());

    // Pages and JSON are compressed on the fly when the client asks.
    let res = c
        .get(srv.url("/login"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    let mut page = String::new();
    flate2::read::GzDecoder::new(&res.bytes().await?[..]).read_to_string(&mut page)?;
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..page.len().min(80)]
    );
    assert!(page.contains(&format!("/pkg/portcullis.{CSS}.css")));
    let res = c
        .get(srv.url("/login"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await?;
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
    // Without the header, as before.
    let res = c.get(srv.url("/login")).send().await?;
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    srv.stop().await;
    Ok(())
}

/// A site built without hashes (a developer's `cargo leptos watch`) still
/// works: plain names, revalidated.
#[tokio::test]
async fn assets_without_a_hash_file_use_plain_names() -> TestResult {
    let site = tempfile::tempdir()?;
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg)?;
    std::fs::write(pkg.join("portcullis.wasm"), "wasm")?;
    let root = site.path().display().to_string();
    let srv = TestServer::start_on(TestDb::sqlite(), &[("PORTCULLIS_SITE_ROOT", &root)]).await;
    let c = srv.client();
    let html = c.get(srv.url("/login")).send().await?.text().await?;
    assert!(html.contains("/pkg/portcullis.css"), "plain CSS name");
    assert!(html.contains("/pkg/portcullis.wasm"), "plain wasm name");
    let res = c.get(srv.url("/pkg/portcullis.wasm")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(res.text().await?, "wasm");
    srv.stop().await;
    Ok(())
}
